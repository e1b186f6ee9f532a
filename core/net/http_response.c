/* The request accessors and response writers of http.h. Responses are
 * written straight into the connection's output buffer in request order;
 * a buffered body is measured so the head can carry Content-Length. */
#include <ctype.h>
#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cookie.h"
#include "encode.h"
#include "http_error.h"
#include "http_internal.h"
#include "netaddr.h"
#include "lang.h"
#include "log.h"
#include "worker.h"

#define RESP_HEADERS_MAX (16 * 1024)
#define BODY_KEEP_MAX (64 * 1024)

static void write_head(struct http_request *req, uint64_t length, bool has_length);
static void finish(struct http_request *req);
static void log_request(struct http_request *req);
static enum http_verb method_of(const char *m, size_t len);
static int set_host(struct http_request *req, const char *v, size_t len);

/* ---------------------------------------------------------------- lifecycle */

struct http_request *http_request_new(struct worker *w)
{
	struct http_request *req = calloc(1, sizeof(*req));
	if (!req)
		return NULL;
	req->worker = w;
	req->rbody = evbuffer_new();
	if (!req->rbody) {
		free(req);
		return NULL;
	}
	http_request_reset(req);
	return req;
}

void http_request_free(struct http_request *req)
{
	if (!req)
		return;
	evbuffer_free(req->rbody);
	free(req->head);
	free(req->headers);
	free(req->body);
	free(req->rh);
	free(req);
}

void http_request_reset(struct http_request *req)
{
	req->state = REQ_IDLE;
	req->status = 200;
	req->rh_len = 0;
	req->bytes_out = 0;
	req->chunked = false;
	req->tenant[0] = '\0';
	req->client[0] = '\0';
	req->lang = NULL;
	req->abort_cb = NULL;
	req->abort_arg = NULL;
	req->drained_cb = NULL;
	req->drained_arg = NULL;
	req->body_len = 0;
	req->query = "";
	req->path = "/";
	req->path_len = 1;
	req->host[0] = '\0';
	req->head_only = false;
	req->method = HTTP_M_OTHER;
	req->begun = false;
	req->id[0] = '\0';
	memset(&req->h, 0, sizeof(req->h));
	evbuffer_drain(req->rbody, evbuffer_get_length(req->rbody));
	if (req->body_cap > BODY_KEEP_MAX) {
		free(req->body);
		req->body = NULL;
		req->body_cap = 0;
	}
}

void http_request_begin(struct http_request *req)
{
	struct worker *w = req->worker;
	const char *hex = enc_hex_digits;
	clock_gettime(CLOCK_MONOTONIC, &req->start);
	/* Request id: worker and counter: unique within a run and short
	 * enough to read out over the phone. */
	uint32_t n = w->next_request++;
	unsigned idx = (unsigned)w->index & 0xff;
	req->id[0] = hex[(idx >> 4) & 15];
	req->id[1] = hex[idx & 15];
	for (int i = 0; i < 8; i++)
		req->id[2 + i] = hex[(n >> (28 - 4 * i)) & 15];
	req->id[10] = '\0';
	req->begun = true;
}

int http_request_prepare(struct http_request *req)
{
	struct http_head *h = &req->h;
	char *target = (char *)h->target;

	req->method = method_of(h->method, h->method_len);
	req->head_only = req->method == HTTP_M_HEAD;

	if (h->host >= 0) {
		const struct http_header *hd = &h->headers[h->host];
		if (set_host(req, hd->value, hd->value_len) != 0)
			return 400;
	}
	/* absolute-form: the authority in the target replaces Host. */
	if (target[0] != '/' && target[0] != '*') {
		char *auth = strstr(target, "://") + 3;
		char *slash = auth;
		while (slash < target + h->target_len && *slash != '/' && *slash != '?')
			slash++;
		if (set_host(req, auth, (size_t)(slash - auth)) != 0 || slash == auth)
			return 400;
		target = slash;
	}

	/* Split the head copy into NUL-terminated strings. */
	((char *)h->method)[h->method_len] = '\0';
	((char *)h->target)[h->target_len] = '\0';
	for (size_t i = 0; i < h->nheaders; i++) {
		((char *)h->headers[i].name)[h->headers[i].name_len] = '\0';
		((char *)h->headers[i].value)[h->headers[i].value_len] = '\0';
	}

	char *frag = strchr(target, '#');
	if (frag)
		*frag = '\0';
	if (target[0] == '\0') {
		req->path = "/";
		req->path_len = 1;
		req->query = "";
		return 0;
	}
	char *q = strchr(target, '?');
	if (q) {
		*q = '\0';
		req->query = q + 1;
	} else {
		req->query = "";
	}
	req->path = target[0] ? target : "/";
	req->path_len = strlen(req->path);
	return 0;
}

/* ---------------------------------------------------------------- request */

enum http_verb http_req_method(const struct http_request *req)
{
	return req->method;
}

const char *http_req_method_name(const struct http_request *req)
{
	/* Only after http_request_prepare split the head into strings. */
	return req->h.method && req->h.method[req->h.method_len] == '\0' ? req->h.method : "-";
}

const char *http_req_path(const struct http_request *req, size_t *len)
{
	if (len)
		*len = req->path_len;
	return req->path;
}

const char *http_req_query(const struct http_request *req)
{
	return req->query;
}

const char *http_req_header(const struct http_request *req, const char *name)
{
	if (!req)
		return NULL;
	const struct http_header *hd = http_head_get(&req->h, name);
	return hd ? hd->value : NULL;
}

const char *http_req_host(const struct http_request *req)
{
	return req->host;
}

const void *http_req_body(const struct http_request *req, size_t *len)
{
	*len = req->body_len;
	return req->body_len ? req->body : "";
}

const char *http_req_id(const struct http_request *req)
{
	if (!req)
		return "-";
	return req->id;
}

const char *http_req_peer(const struct http_request *req)
{
	struct http_request *r = (struct http_request *)req;
	if (!r || !r->conn)
		return "-";
	if (!r->client[0]) {
		struct worker *w = http_req_worker(req);
		netlist_client(w ? w->trusted : NULL, r->conn->peer, http_req_header(req, "X-Forwarded-For"), r->client,
			       sizeof(r->client));
	}
	return r->client;
}

bool http_req_secure(const struct http_request *req)
{
	if (!req || !req->conn)
		return false;
	struct worker *w = http_req_worker(req);
	const char *proto = http_req_header(req, "X-Forwarded-Proto");
	return proto && strcasecmp(proto, "https") == 0 && w && netlist_contains(w->trusted, req->conn->peer);
}

const char *http_req_lang(const struct http_request *req)
{
	struct http_request *r = (struct http_request *)req;
	if (!r)
		return "nl";
	if (!r->lang) {
		/* The language a person chose on the site (cookie at_lang) wins
		 * over the tenant's default, which wins over the browser's
		 * Accept-Language. */
		char chosen[4];
		if (cookie_get(http_req_header(req, "Cookie"), "at_lang", chosen, sizeof(chosen)) > 0 &&
		    (strcmp(chosen, "nl") == 0 || strcmp(chosen, "en") == 0))
			r->lang = strcmp(chosen, "nl") == 0 ? "nl" : "en";
		else if (r->lang_default)
			r->lang = r->lang_default;
		else
			r->lang = lang_negotiate(http_req_header(req, "Accept-Language"));
	}
	return r->lang;
}

void http_req_set_lang_default(struct http_request *req, const char *lang)
{
	req->lang_default = lang && strcmp(lang, "en") == 0 ? "en" : lang && strcmp(lang, "nl") == 0 ? "nl" : NULL;
	req->lang = NULL;       /* decided again with it */
}

struct worker *http_req_worker(const struct http_request *req)
{
	return req ? req->worker : NULL;
}

bool http_req_aborted(const struct http_request *req)
{
	return req->conn == NULL;
}

void http_req_on_abort(struct http_request *req, void (*cb)(void *arg), void *arg)
{
	req->abort_cb = cb;
	req->abort_arg = arg;
}

void http_req_set_tenant(struct http_request *req, const char *slug)
{
	snprintf(req->tenant, sizeof(req->tenant), "%s", slug ? slug : "");
}

const char *http_req_tenant(const struct http_request *req)
{
	return !req ? NULL : req->tenant[0] ? req->tenant : NULL;
}

/* ---------------------------------------------------------------- response */

void http_resp_status(struct http_request *req, int status)
{
	if (status >= 100 && status <= 999)
		req->status = status;
}

int http_resp_header(struct http_request *req, const char *name, const char *value)
{
	size_t nlen = strlen(name), vlen = strlen(value);
	if (nlen == 0)
		return -1;
	for (size_t i = 0; i < nlen; i++)
		if (!http_is_token_char((unsigned char)name[i]))
			return -1;
	for (size_t i = 0; i < vlen; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c == '\r' || c == '\n' || (c < 0x20 && c != '\t') || c == 0x7f)
			return -1;
	}
	size_t need = req->rh_len + nlen + vlen + 4;
	if (need > RESP_HEADERS_MAX) {
		log_msg(LOG_LEVEL_ERROR, req->id, "response headers over %d bytes; %s dropped", RESP_HEADERS_MAX,
			name);
		return -1;
	}
	if (need > req->rh_cap) {
		size_t cap = req->rh_cap ? req->rh_cap * 2 : 512;
		while (cap < need)
			cap *= 2;
		char *rh = realloc(req->rh, cap);
		if (!rh)
			return -1;
		req->rh = rh;
		req->rh_cap = cap;
	}
	memcpy(req->rh + req->rh_len, name, nlen);
	req->rh_len += nlen;
	req->rh[req->rh_len++] = ':';
	req->rh[req->rh_len++] = ' ';
	memcpy(req->rh + req->rh_len, value, vlen);
	req->rh_len += vlen;
	req->rh[req->rh_len++] = '\r';
	req->rh[req->rh_len++] = '\n';
	return 0;
}

void http_resp_body(struct http_request *req, const void *data, size_t len)
{
	evbuffer_add(req->rbody, data, len);
}

void http_resp_body_ref(struct http_request *req, const void *data, size_t len,
			void (*release)(const void *data, size_t len, void *arg), void *arg)
{
	if (evbuffer_add_reference(req->rbody, data, len, release, arg) != 0 && release)
		release(data, len, arg);
}

void http_resp_printf(struct http_request *req, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	evbuffer_add_vprintf(req->rbody, fmt, ap);
	va_end(ap);
}

void http_resp_send(struct http_request *req)
{
	struct http_conn *c = req->conn;
	if (req->state != REQ_HANDLING) {
		log_msg(LOG_LEVEL_ERROR, req->id, "response sent twice");
		return;
	}
	if (!c) {
		finish(req);
		return;
	}
	http_conn_enter(c);
	size_t len = evbuffer_get_length(req->rbody);
	bool no_body = req->status == 204 || req->status == 304 || req->status < 200;
	write_head(req, len, !no_body);
	if (req->head_only || no_body) {
		evbuffer_drain(req->rbody, len);
	} else {
		req->bytes_out += len;
		evbuffer_add_buffer(c->out, req->rbody);
	}
	finish(req);
	http_conn_leave(c);
}

void http_resp_send_file(struct http_request *req, int fd, uint64_t size)
{
	if (size > 0)
		evbuffer_add_file(req->rbody, fd, 0, (ev_off_t)size);
	else
		close(fd);
	http_resp_send(req);
}

void http_resp_error(struct http_request *req, int status)
{
	size_t len = 0;
	const char *page = error_pages_get(req->worker->pages, http_req_lang(req), status, &len);
	http_resp_status(req, status);
	evbuffer_drain(req->rbody, evbuffer_get_length(req->rbody));
	http_resp_header(req, "Content-Type", "text/html; charset=utf-8");
	http_resp_header(req, "Cache-Control", "no-store");
	http_resp_header(req, "Content-Language", http_req_lang(req));
	/* A copy, not a reference: a reload frees the worker's pages while
	 * responses may still sit unread in output buffers. */
	evbuffer_add(req->rbody, page, len);
	http_resp_send(req);
}

void http_response_reject(struct http_request *req, int status)
{
	/* The head may not have parsed: no method, no path. */
	if (!req->begun)
		http_request_begin(req);
	req->state = REQ_HANDLING;
	req->keep_alive = false;
	req->rh_len = 0;
	req->head_only = false;
	http_resp_error(req, status);
}

void http_resp_stream_begin(struct http_request *req)
{
	struct http_conn *c = req->conn;
	if (req->state != REQ_HANDLING)
		return;
	req->state = REQ_STREAMING;
	if (!c)
		return;
	http_conn_enter(c);
	if (req->h.minor == 0)
		req->keep_alive = false;        /* close-delimited */
	else
		req->chunked = true;
	if (req->chunked)
		http_resp_header(req, "Transfer-Encoding", "chunked");
	write_head(req, 0, false);
	http_conn_flush(c);
	http_conn_leave(c);
}

void http_resp_stream_write(struct http_request *req, const void *data, size_t len)
{
	struct http_conn *c = req->conn;
	if (req->state != REQ_STREAMING || !c || len == 0 || req->head_only)
		return;
	http_conn_enter(c);
	if (req->chunked)
		evbuffer_add_printf(c->out, "%zx\r\n", len);
	evbuffer_add(c->out, data, len);
	if (req->chunked)
		evbuffer_add(c->out, "\r\n", 2);
	req->bytes_out += len;
	http_conn_flush(c);
	/* A streamed response has the same deadline for the client to take
	 * what is queued as a whole one. */
	if (c->state != CONN_DEAD && evbuffer_get_length(c->out) > 0)
		http_conn_arm_write(c, false);
	http_conn_leave(c);
}

void http_resp_stream_end(struct http_request *req)
{
	struct http_conn *c = req->conn;
	if (req->state != REQ_STREAMING)
		return;
	if (!c) {
		finish(req);
		return;
	}
	http_conn_enter(c);
	if (req->chunked && !req->head_only)
		evbuffer_add(c->out, "0\r\n\r\n", 5);
	finish(req);
	http_conn_leave(c);
}

void http_resp_stream_abort(struct http_request *req)
{
	struct http_conn *c = req->conn;
	if (req->state != REQ_STREAMING)
		return;
	req->keep_alive = false;
	if (!c) {
		finish(req);
		return;
	}
	http_conn_enter(c);
	finish(req);
	http_conn_leave(c);
}

size_t http_resp_pending(const struct http_request *req)
{
	return req->conn ? evbuffer_get_length(req->conn->out) : 0;
}

void http_resp_on_drained(struct http_request *req, void (*cb)(void *arg), void *arg)
{
	req->drained_cb = cb;
	req->drained_arg = cb ? arg : NULL;
}

const char *http_status_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
	}
}

/* ---------------------------------------------------------------- helpers */

static void write_head(struct http_request *req, uint64_t length, bool has_length)
{
	struct http_conn *c = req->conn;
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "HTTP/1.1 %d %s\r\n%s", req->status, http_status_reason(req->status),
			 worker_date_line(req->worker));
	size_t len = (size_t)n;
	/* A request dispatched before SIGTERM and answered after it (a
	 * handler that waited on the database) is the connection's last:
	 * say so, or the client keeps it open until shutdown_timeout. */
	if (req->worker->state != WORKER_RUNNING)
		req->keep_alive = false;
	if (has_length)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "Content-Length: %llu\r\n",
					(unsigned long long)length);
	if (!req->keep_alive)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "Connection: close\r\n");
	else if (req->h.minor == 0)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "Connection: keep-alive\r\n");
	len += (size_t)snprintf(buf + len, sizeof(buf) - len, "X-Request-Id: %s\r\n", req->id);
	evbuffer_add(c->out, buf, len);
	if (req->rh_len)
		evbuffer_add(c->out, req->rh, req->rh_len);
	evbuffer_add(c->out, "\r\n", 2);
	req->bytes_out += len + req->rh_len + 2;
}

static void finish(struct http_request *req)
{
	struct http_conn *c = req->conn;
	log_request(req);
	if (!c) {
		/* The client left while the handler worked. */
		http_request_free(req);
		return;
	}
	http_conn_response_done(c);
}

static void log_request(struct http_request *req)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double ms = (double)(now.tv_sec - req->start.tv_sec) * 1e3 + (double)(now.tv_nsec - req->start.tv_nsec) / 1e6;
	struct log_access a = {
		.req_id = req->id,
		.tenant = req->tenant[0] ? req->tenant : NULL,
		.method = http_req_method_name(req),
		.path = req->path,
		.path_len = req->path_len,
		.status = req->conn ? req->status : 499,
		.bytes = req->bytes_out,
		.duration_ms = ms,
	};
	if (req->query[0]) {
		/* The query string sits right after the path in the head
		 * copy, separated by the NUL that replaced '?'. */
		char joined[1024];
		int n = snprintf(joined, sizeof(joined), "%s?%s", req->path, req->query);
		a.path = joined;
		a.path_len = n < 0 ? 0 : (size_t)n >= sizeof(joined) ? sizeof(joined) - 1 : (size_t)n;
		log_access(&a);
		return;
	}
	log_access(&a);
}

static enum http_verb method_of(const char *m, size_t len)
{
	static const struct { const char *name; enum http_verb id; } methods[] = {
		{"GET", HTTP_M_GET}, {"HEAD", HTTP_M_HEAD}, {"POST", HTTP_M_POST}, {"PUT", HTTP_M_PUT},
		{"PATCH", HTTP_M_PATCH}, {"DELETE", HTTP_M_DELETE}, {"OPTIONS", HTTP_M_OPTIONS},
	};
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strlen(methods[i].name) == len && memcmp(methods[i].name, m, len) == 0)
			return methods[i].id;
	return HTTP_M_OTHER;
}

/* Lower-cased host without port; IPv6 literals keep their brackets. */
static int set_host(struct http_request *req, const char *v, size_t len)
{
	size_t end = len;
	if (len > 0 && v[0] == '[') {
		const char *close = memchr(v, ']', len);
		if (!close)
			return -1;
		end = (size_t)(close - v) + 1;
		if (end < len && v[end] != ':')
			return -1;
	} else {
		const char *colon = memchr(v, ':', len);
		if (colon)
			end = (size_t)(colon - v);
	}
	if (end >= sizeof(req->host))
		return -1;
	for (size_t i = 0; i < end; i++)
		req->host[i] = (char)tolower((unsigned char)v[i]);
	req->host[end] = '\0';
	/* Port, when present, must be digits. */
	for (size_t i = end + 1; i < len; i++)
		if (v[i] < '0' || v[i] > '9')
			return -1;
	/* A trailing dot names the same host (FQDN form). */
	if (end > 1 && req->host[end - 1] == '.')
		req->host[end - 1] = '\0';
	return 0;
}
