/* The connection state machine. One driver, conn_process(), moves a
 * connection through enum conn_state; event callbacks only do I/O and then
 * call it. Every wait has a deadline and every buffer a cap (README, HTTP):
 * head deadline, body idle time, write deadline, idle keep-alive,
 * head size, body size and the output queued behind pipelined requests. */
#include "http_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_internal.h"
#include "log.h"
#include "worker.h"

#define IN_INITIAL 4096
#define IN_SLACK 8192           /* room for pipelined bytes beyond one head */
#define LINGER_MS 2000
#define READ_CHUNK_MAX 65536

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);
static void on_read_timer(evutil_socket_t fd, short what, void *arg);
static void on_write_timer(evutil_socket_t fd, short what, void *arg);
static void on_kick(evutil_socket_t fd, short what, void *arg);
static void conn_process(struct http_conn *c);
static bool conn_read_head(struct http_conn *c);
static bool conn_read_body(struct http_conn *c);
static void conn_dispatch(struct http_conn *c);
static void conn_reject(struct http_conn *c, int status, const char *reason);
static void conn_close(struct http_conn *c);
static void conn_close_when_sent(struct http_conn *c);
static void conn_free(struct http_conn *c);
static void conn_update_io(struct http_conn *c);
static size_t conn_input_room(struct http_conn *c);
static void conn_arm_read_timer(struct http_conn *c, enum read_timer_kind kind, int64_t ms);
static void conn_begin_linger(struct http_conn *c);
static struct http_conn *conn_new(struct worker *w, int fd);
static int conn_body_append(struct http_conn *c, const char *at, size_t len);
static int on_body(http_parser *p, const char *at, size_t len);
static int on_message_complete(http_parser *p);
static int on_chunk_data(void *arg, const char *data, size_t len);

/* http-parser never sees a chunked body (http_chunked.c reads those), so
 * it needs no chunk callbacks. */
static const http_parser_settings parser_settings = {
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* ---------------------------------------------------------------- public */

struct http_conn *http_conn_accept(struct worker *w, int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct http_conn *c = conn_new(w, fd);
	if (!c) {
		close(fd);
		return NULL;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, c->peer, sizeof(c->peer));
	} else if (sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6)) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, c->peer, sizeof(c->peer));
	}
	c->rev = event_new(w->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->wev = event_new(w->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	if (!c->rev || !c->wev) {
		/* on_accept uncounts the connection when NULL comes back;
		 * conn_free must not do it as well. */
		c->fd = -1;
		conn_free(c);
		close(fd);
		return NULL;
	}
	/* A fresh connection's head deadline runs from accept: a client that
	 * connects and says nothing is closed after head_timeout. */
	conn_arm_read_timer(c, RT_HEAD, c->cfg->head_timeout);
	conn_update_io(c);
	return c;
}

struct http_conn *http_conn_detached(struct worker *w)
{
	return conn_new(w, -1);
}

void http_conn_feed(struct http_conn *c, const char *data, size_t len)
{
	http_conn_enter(c);
	while (len > 0 && c->state != CONN_DEAD) {
		size_t room = conn_input_room(c);
		if (room == 0) {
			/* Same cap as the socket path: a full buffer while a
			 * request is in flight means the rest is not read. */
			break;
		}
		size_t n = len < room ? len : room;
		memcpy(c->in + c->in_len, data, n);
		c->in_len += n;
		data += n;
		len -= n;
		conn_process(c);
		evbuffer_drain(c->out, evbuffer_get_length(c->out));
		if (c->state == CONN_WAIT_DRAIN)
			conn_process(c);
	}
	http_conn_leave(c);
}

void http_conn_free_detached(struct http_conn *c)
{
	conn_free(c);
}

void http_conn_drain_all(struct worker *w)
{
	struct http_conn *c = w->conns, *next;
	for (; c; c = next) {
		next = c->next;
		if (c->state == CONN_HEAD && c->in_off == c->in_len)
			conn_close_when_sent(c);
	}
}

void http_conn_close_all(struct worker *w)
{
	while (w->conns)
		conn_close(w->conns);
}

/* A response is complete in the output buffer (called from
 * http_response.c). Decides what the connection does next. */
void http_conn_arm_write(struct http_conn *c, bool restart)
{
	if (!restart && event_pending(c->write_timer, EV_TIMEOUT, NULL))
		return;
	event_add(c->write_timer, &(struct timeval){.tv_sec = c->cfg->write_timeout / 1000,
						   .tv_usec = (c->cfg->write_timeout % 1000) * 1000});
}

void http_conn_response_done(struct http_conn *c)
{
	struct http_request *req = c->req;
	if (!req->keep_alive)
		c->state = CONN_CLOSING;
	else if (evbuffer_get_length(c->out) > (size_t)c->cfg->max_pipelined_output)
		c->state = CONN_WAIT_DRAIN;
	else
		c->state = CONN_HEAD;
	http_request_reset(req);
	http_conn_flush(c);
	if (c->state == CONN_DEAD)
		return;
	if (evbuffer_get_length(c->out) > 0)
		http_conn_arm_write(c, true);
	if (c->busy > 1) {
		/* Inside conn_process (a synchronous handler): it goes on. */
		return;
	}
	/* An asynchronous answer: pipelined input may be waiting. */
	if (c->kick)
		event_active(c->kick, 0, 0);
	else
		conn_process(c);
}

/* Writes as much queued output as the socket takes now, so a response
 * usually leaves in the same loop iteration that produced it. */
void http_conn_flush(struct http_conn *c)
{
	if (c->state == CONN_DEAD)
		return;
	if (c->fd < 0) {
		evbuffer_drain(c->out, evbuffer_get_length(c->out));
	} else {
		while (evbuffer_get_length(c->out) > 0) {
			int n = evbuffer_write(c->out, c->fd);
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
					break;
				log_debug("connection %s: write: %s", c->peer, strerror(errno));
				conn_close(c);
				return;
			}
			if (n == 0)
				break;
		}
	}
	if (evbuffer_get_length(c->out) > 0) {
		if (!c->wev_on && c->wev) {
			event_add(c->wev, NULL);
			c->wev_on = true;
		}
		return;
	}
	if (c->wev_on) {
		event_del(c->wev);
		c->wev_on = false;
	}
	if (c->write_timer)
		event_del(c->write_timer);
	if (c->state == CONN_CLOSING)
		conn_begin_linger(c);
	else if (c->state == CONN_HEAD)
		conn_update_io(c);      /* the idle time starts now */
}

void http_conn_enter(struct http_conn *c)
{
	c->busy++;
}

void http_conn_leave(struct http_conn *c)
{
	if (--c->busy == 0 && c->state == CONN_DEAD)
		conn_free(c);
}

/* ---------------------------------------------------------------- events */

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	http_conn_enter(c);

	size_t room = conn_input_room(c);
	if (c->state == CONN_LINGER) {
		char sink[4096];
		ssize_t n = read(fd, sink, sizeof(sink));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_close(c);
		http_conn_leave(c);
		return;
	}

	if (room > READ_CHUNK_MAX)
		room = READ_CHUNK_MAX;
	if (room == 0) {
		/* Buffer full while a request is in flight: stop reading until
		 * the handler is done (conn_update_io turns reading off). */
		conn_update_io(c);
		http_conn_leave(c);
		return;
	}
	ssize_t n = read(fd, c->in + c->in_len, room);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			log_debug("connection %s: read: %s", c->peer, strerror(errno));
			conn_close(c);
		}
		http_conn_leave(c);
		return;
	}
	if (n == 0) {
		c->peer_eof = true;
		if (c->state == CONN_HEAD || c->state == CONN_BODY) {
			/* Between requests, or mid-request: nothing more to
			 * answer, but a client that only shut its write side
			 * still reads the responses already queued. */
			conn_close_when_sent(c);
		} else {
			/* The handler's answer still goes out, then we close
			 * (after the requests already buffered, if any). */
			if (c->req && c->req->state != REQ_IDLE && c->in_off == c->in_len)
				c->req->keep_alive = false;
			conn_update_io(c);
		}
		http_conn_leave(c);
		return;
	}
	c->in_len += (size_t)n;
	if (c->state == CONN_BODY)
		conn_arm_read_timer(c, RT_BODY, c->cfg->body_timeout);
	conn_process(c);
	http_conn_leave(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	http_conn_enter(c);
	http_conn_flush(c);
	/* A streamed answer waiting for its client (http_resp_on_drained). */
	if (c->req && c->req->drained_cb && evbuffer_get_length(c->out) == 0) {
		void (*cb)(void *) = c->req->drained_cb;
		c->req->drained_cb = NULL;
		cb(c->req->drained_arg);
	}
	if (c->state == CONN_WAIT_DRAIN)
		conn_process(c);
	http_conn_leave(c);
}

static void on_read_timer(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	static const char *kinds[] = {"none", "head", "body", "idle", "linger"};
	http_conn_enter(c);
	log_debug("connection %s: %s timeout", c->peer, kinds[c->rt_kind]);
	c->rt_kind = RT_NONE;
	conn_close(c);
	http_conn_leave(c);
}

static void on_write_timer(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	http_conn_enter(c);
	log_debug("connection %s: write timeout with %zu bytes unread", c->peer, evbuffer_get_length(c->out));
	conn_close(c);
	http_conn_leave(c);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	http_conn_enter(c);
	conn_process(c);
	http_conn_leave(c);
}

/* ---------------------------------------------------------------- driver */

static void conn_process(struct http_conn *c)
{
	http_conn_enter(c);
	for (bool progress = true; progress;) {
		switch (c->state) {
		case CONN_HEAD:
			progress = conn_read_head(c);
			break;
		case CONN_BODY:
			progress = conn_read_body(c);
			break;
		case CONN_WAIT_DRAIN:
			progress = evbuffer_get_length(c->out) <= (size_t)c->cfg->max_pipelined_output;
			if (progress)
				c->state = CONN_HEAD;
			break;
		case CONN_HANDLER:
		case CONN_CLOSING:
		case CONN_LINGER:
		case CONN_DEAD:
			progress = false;
			break;
		}
	}
	/* Draining: a connection that became idle only now (its queued
	 * output was read after SIGTERM) gets no more requests either;
	 * http_conn_drain_all closed the ones idle at the time. */
	if (c->state == CONN_HEAD && c->in_off == c->in_len && c->w->state != WORKER_RUNNING)
		conn_close_when_sent(c);
	if (c->state != CONN_DEAD)
		conn_update_io(c);
	http_conn_leave(c);
}

static bool conn_read_head(struct http_conn *c)
{
	struct http_request *req = c->req;
	const struct config *cfg = c->cfg;
	size_t avail = c->in_len - c->in_off;
	size_t end = 0;
	int status = 0;

	if (avail == 0)
		return false;
	if (c->rt_kind != RT_HEAD)
		conn_arm_read_timer(c, RT_HEAD, cfg->head_timeout);

	switch (http_head_find_end(c->in + c->in_off, avail, (size_t)cfg->max_head_size, &c->scan, &c->skip,
				   &end, &status)) {
	case HTTP_HEAD_INCOMPLETE:
		return false;
	case HTTP_HEAD_BAD:
		conn_reject(c, status, status == 431 ? "head too large" : "bare LF in head");
		return false;
	case HTTP_HEAD_FOUND:
		break;
	}
	http_request_begin(req);

	/* Copy the head out of the input buffer: the request's strings point
	 * into this copy, which stays put while more input arrives. */
	size_t skip = c->skip, len = end - skip;
	if (len + 1 > req->head_cap) {
		char *head = realloc(req->head, len + 1);
		if (!head) {
			conn_reject(c, 503, "out of memory");
			return false;
		}
		req->head = head;
		req->head_cap = len + 1;
	}
	memcpy(req->head, c->in + c->in_off + skip, len);
	req->head[len] = '\0';
	c->in_off += end;
	c->scan = c->skip = 0;

	if ((size_t)cfg->max_headers > req->headers_cap) {
		struct http_header *hs = realloc(req->headers, (size_t)cfg->max_headers * sizeof(*hs));
		if (!hs) {
			conn_reject(c, 503, "out of memory");
			return false;
		}
		req->headers = hs;
		req->headers_cap = (size_t)cfg->max_headers;
	}
	if (http_head_parse(req->head, len, req->headers, (size_t)cfg->max_headers, &req->h) != 0) {
		conn_reject(c, req->h.status, req->h.reason);
		return false;
	}

	/* http-parser frames the message: it sees the checked head now and a
	 * Content-Length body's bytes as they come. A chunked body goes to
	 * the strict decoder instead; http-parser is given nothing after the
	 * head, so its lax reading of chunk lines never counts. */
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->message_done = false;
	c->body_refused = 0;
	size_t parsed = http_parser_execute(&c->parser, &parser_settings, req->head, len);
	enum http_errno perr = HTTP_PARSER_ERRNO(&c->parser);
	if (perr == HPE_INVALID_METHOD) {
		conn_reject(c, 501, "unknown method");
		return false;
	}
	if ((perr != HPE_OK && perr != HPE_PAUSED) || (parsed != len && perr != HPE_PAUSED)) {
		conn_reject(c, 400, http_errno_description(perr));
		return false;
	}
	if (c->parser.method == HTTP_CONNECT) {
		conn_reject(c, 501, "CONNECT not supported");
		return false;
	}

	int st = http_request_prepare(req);
	if (st != 0) {
		conn_reject(c, st, "malformed target or host");
		return false;
	}

	if (c->message_done && !req->h.chunked) {
		conn_dispatch(c);
		return true;
	}
	if (req->h.content_length >= 0 && req->h.content_length_value > (uint64_t)cfg->max_body_size) {
		conn_reject(c, 413, "body over max_body_size");
		return false;
	}
	/* Body follows. */
	size_t want = req->h.chunked ? 16384 : (size_t)req->h.content_length_value;
	if (want > (size_t)cfg->max_body_size)
		want = (size_t)cfg->max_body_size;
	if (want > req->body_cap) {
		char *b = realloc(req->body, want ? want : 1);
		if (!b) {
			conn_reject(c, 503, "out of memory");
			return false;
		}
		req->body = b;
		req->body_cap = want;
	}
	req->body_len = 0;
	if (req->h.chunked)
		http_chunked_init(&c->chunked, (uint64_t)cfg->max_body_size);
	c->state = CONN_BODY;
	conn_arm_read_timer(c, RT_BODY, cfg->body_timeout);
	if (req->h.expect_continue && req->h.minor == 1 && c->in_off == c->in_len) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		evbuffer_add(c->out, cont, sizeof(cont) - 1);
		http_conn_flush(c);
	}
	return true;
}

static bool conn_read_body(struct http_conn *c)
{
	size_t avail = c->in_len - c->in_off;
	if (avail == 0)
		return false;
	if (c->req->h.chunked) {
		size_t n = 0;
		enum http_chunked_result r =
			http_chunked_feed(&c->chunked, c->in + c->in_off, avail, &n, on_chunk_data, c);
		c->in_off += n;
		switch (r) {
		case HTTP_CHUNKED_MORE:
			return false;
		case HTTP_CHUNKED_DONE:
			/* What follows the body stays for the next request. */
			conn_dispatch(c);
			return true;
		case HTTP_CHUNKED_TOO_LARGE:
			conn_reject(c, 413, "chunked body over max_body_size");
			return false;
		case HTTP_CHUNKED_BAD:
			conn_reject(c, 400, c->chunked.reason);
			return false;
		case HTTP_CHUNKED_STOPPED:
			conn_reject(c, c->body_refused, "chunked body not stored");
			return false;
		}
		return false;
	}
	size_t n = http_parser_execute(&c->parser, &parser_settings, c->in + c->in_off, avail);
	c->in_off += n;
	if (c->body_refused) {
		conn_reject(c, c->body_refused,
			    c->body_refused == 413 ? "body over max_body_size" : "out of memory for the body");
		return false;
	}
	enum http_errno perr = HTTP_PARSER_ERRNO(&c->parser);
	if (perr != HPE_OK && perr != HPE_PAUSED) {
		conn_reject(c, 400, http_errno_description(perr));
		return false;
	}
	if (!c->message_done)
		return false;
	conn_dispatch(c);
	return true;
}

static void conn_dispatch(struct http_conn *c)
{
	struct http_request *req = c->req;
	struct worker *w = c->w;
	c->state = CONN_HANDLER;
	c->requests++;
	if (c->rt_kind != RT_NONE) {
		event_del(c->read_timer);
		c->rt_kind = RT_NONE;
	}
	if (req->h.minor == 1)
		req->keep_alive = !req->h.conn_close;
	else
		req->keep_alive = req->h.conn_keep_alive && !req->h.conn_close;
	/* After the client's end of input, the requests it sent before it
	 * are still answered (a half-close); the last one closes. */
	if (c->requests >= (uint32_t)c->cfg->max_requests_per_connection || c->cfg->keepalive_timeout == 0 ||
	    w->state != WORKER_RUNNING || (c->peer_eof && c->in_off == c->in_len))
		req->keep_alive = false;
	req->state = REQ_HANDLING;
	w->handler(req);
}

/* Answers a request that never reached a handler and closes after it. */
static void conn_reject(struct http_conn *c, int status, const char *reason)
{
	/* The id first, also for a head refused before it was complete, so
	 * this line names the request the client sees in X-Request-Id. */
	if (!c->req->begun)
		http_request_begin(c->req);
	log_msg(LOG_LEVEL_INFO, c->req->id, "connection %s: rejected %d: %s", c->peer, status, reason);
	c->requests++;
	http_response_reject(c->req, status);
	/* http_response_reject ends in http_conn_response_done, which moves
	 * the connection to CONN_CLOSING (keep_alive is off). */
}

/* ---------------------------------------------------------------- helpers */

static struct http_conn *conn_new(struct worker *w, int fd)
{
	struct http_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->w = w;
	c->fd = fd;
	c->cfg = config_ref(w->cfg);
	c->state = CONN_HEAD;
	c->in = malloc(IN_INITIAL);
	c->in_cap = IN_INITIAL;
	c->out = evbuffer_new();
	c->req = http_request_new(w);
	snprintf(c->peer, sizeof(c->peer), "-");
	if (w->base) {
		c->read_timer = evtimer_new(w->base, on_read_timer, c);
		c->write_timer = evtimer_new(w->base, on_write_timer, c);
		c->kick = event_new(w->base, -1, 0, on_kick, c);
	}
	/* Linked first so conn_free can undo everything on failure. */
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
	if (!c->in || !c->out || !c->req || (w->base && (!c->read_timer || !c->write_timer || !c->kick))) {
		/* The caller still owns FD and its count: free the rest only,
		 * or the descriptor is closed twice. */
		c->fd = -1;
		conn_free(c);
		return NULL;
	}
	c->req->conn = c;
	return c;
}

static void conn_close(struct http_conn *c)
{
	if (c->state == CONN_DEAD)
		return;
	c->state = CONN_DEAD;
	if (c->busy == 0)
		conn_free(c);
}

/* Closes a connection that takes no more requests, after the responses
 * already queued: at once when nothing is queued, else through
 * CONN_CLOSING (written, then the lingering close), bounded by the write
 * deadline instead of a read timer. */
static void conn_close_when_sent(struct http_conn *c)
{
	if (evbuffer_get_length(c->out) == 0) {
		conn_close(c);
		return;
	}
	c->state = CONN_CLOSING;
	if (c->rt_kind != RT_NONE) {
		event_del(c->read_timer);
		c->rt_kind = RT_NONE;
	}
	if (c->write_timer)
		http_conn_arm_write(c, false);
	conn_update_io(c);
}

static void conn_free(struct http_conn *c)
{
	struct worker *w = c->w;
	if (c->prev)
		c->prev->next = c->next;
	else if (w->conns == c)
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nconns--;

	if (c->rev)
		event_free(c->rev);
	if (c->wev)
		event_free(c->wev);
	if (c->read_timer)
		event_free(c->read_timer);
	if (c->write_timer)
		event_free(c->write_timer);
	if (c->kick)
		event_free(c->kick);
	if (c->fd >= 0)
		close(c->fd);
	if (c->req) {
		struct http_request *req = c->req;
		if (req->state != REQ_IDLE) {
			/* The handler still owns it; it frees it when it answers. */
			req->conn = NULL;
			req->drained_cb = NULL;
			if (req->abort_cb) {
				void (*cb)(void *) = req->abort_cb;
				req->abort_cb = NULL;
				cb(req->abort_arg);
			}
		} else {
			http_request_free(req);
		}
	}
	if (c->out)
		evbuffer_free(c->out);
	free(c->in);
	config_unref(c->cfg);
	bool real = c->fd >= 0;
	free(c);
	if (real)
		worker_conn_closed(w);
}

/* Makes room in the input buffer before bytes are added, the same for a
 * socket and for http_conn_feed: unread bytes move to the front when
 * little room is left, and while a head is read the buffer grows up to
 * max_head_size plus slack. Returns the room left. */
static size_t conn_input_room(struct http_conn *c)
{
	if (c->in_off == c->in_len) {
		c->in_off = c->in_len = 0;
	} else if (c->in_off > 0 && c->in_cap - c->in_len < 1024) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	if (c->state == CONN_HEAD && c->in_len == c->in_cap) {
		size_t limit = (size_t)c->cfg->max_head_size + IN_SLACK;
		if (c->in_cap < limit) {
			size_t cap = c->in_cap * 2 > limit ? limit : c->in_cap * 2;
			char *grown = realloc(c->in, cap);
			if (grown) {
				c->in = grown;
				c->in_cap = cap;
			}
		}
	}
	return c->in_cap - c->in_len;
}

/* Sets read interest and the read timer for the state the driver left the
 * connection in. */
static void conn_update_io(struct http_conn *c)
{
	bool want_read;
	if (!c->rev)
		return;
	switch (c->state) {
	case CONN_HEAD:
		want_read = true;
		/* Idle only once the last response is written: until then
		 * write_timeout governs (http_conn_flush calls back here). */
		if (c->in_off == c->in_len && c->requests > 0 && c->rt_kind != RT_IDLE &&
		    evbuffer_get_length(c->out) == 0)
			conn_arm_read_timer(c, RT_IDLE, c->cfg->keepalive_timeout);
		break;
	case CONN_BODY:
	case CONN_LINGER:
		want_read = true;
		break;
	case CONN_HANDLER:
	case CONN_WAIT_DRAIN:
		/* Read ahead pipelined requests while there is room, and
		 * notice a client that goes away. */
		want_read = !c->peer_eof && c->in_len - c->in_off + 1024 < c->in_cap;
		break;
	default:
		want_read = false;
		break;
	}
	if (want_read && !c->rev_on) {
		event_add(c->rev, NULL);
		c->rev_on = true;
	} else if (!want_read && c->rev_on) {
		event_del(c->rev);
		c->rev_on = false;
	}
}

static void conn_arm_read_timer(struct http_conn *c, enum read_timer_kind kind, int64_t ms)
{
	if (!c->read_timer)
		return;
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	event_add(c->read_timer, &tv);
	c->rt_kind = kind;
}

/* Closing right after the last response would reset the connection when
 * unread input remains, and a reset can destroy the response before the
 * client reads it. So shut the write side, read and drop for a moment,
 * then close (nginx's lingering close). */
static void conn_begin_linger(struct http_conn *c)
{
	if (c->fd < 0) {
		conn_close(c);
		return;
	}
	c->state = CONN_LINGER;
	if (c->peer_eof) {
		conn_close(c);
		return;
	}
	shutdown(c->fd, SHUT_WR);
	conn_arm_read_timer(c, RT_LINGER, LINGER_MS);
	conn_update_io(c);
}

/* ---------------------------------------------------------------- framing */

/* Adds body bytes to the request, growing its buffer up to
 * max_body_size. Returns 0, or sets c->body_refused and returns -1. */
static int conn_body_append(struct http_conn *c, const char *at, size_t len)
{
	struct http_request *req = c->req;
	if (req->body_len + len > (size_t)c->cfg->max_body_size) {
		c->body_refused = 413;
		return -1;
	}
	if (req->body_len + len > req->body_cap) {
		size_t cap = req->body_cap * 2;
		if (cap < req->body_len + len)
			cap = req->body_len + len;
		if (cap > (size_t)c->cfg->max_body_size)
			cap = (size_t)c->cfg->max_body_size;
		char *b = realloc(req->body, cap);
		if (!b) {
			c->body_refused = 503;
			return -1;
		}
		req->body = b;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, at, len);
	req->body_len += len;
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	return conn_body_append(p->data, at, len) != 0;
}

/* The decoder refuses a chunk whose size would pass max_body_size when
 * its size line arrives, before its bytes are read; what reaches here
 * fits. */
static int on_chunk_data(void *arg, const char *data, size_t len)
{
	return conn_body_append(arg, data, len);
}

static int on_message_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	c->message_done = true;
	/* Stop right after this message: the next request's head goes
	 * through http_head_find_end first. */
	http_parser_pause(p, 1);
	return 0;
}
