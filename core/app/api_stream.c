/* Streamed exports (api_stream.h): the head, the cursor's rows fetched in
 * batches as the client takes them, the tail. */
#include "api_stream.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"

#define STR(x) #x
#define XSTR(x) STR(x)

static int stmt_fetch;

/* Where a stream is; stream_drive() moves it. */
enum stream_state {
	STREAM_FETCH,                   /* the next batch is to be asked for */
	STREAM_FETCHING,                /* a FETCH is on its way (stream_fetched) */
	STREAM_DRAINING,                /* the client has more than API_STREAM_HIGH to take: waits for it */
	STREAM_TAIL,                    /* the rows are all sent: the tail, and the transaction ends */
	STREAM_ENDING,                  /* its COMMIT is on its way (stream_ended) */
	STREAM_DONE,                    /* answered whole */
	STREAM_FAILED,                  /* cut short: the client left, the database failed, or memory ran out */
};

struct api_stream {
	enum stream_state state;
	const char *why;                /* STREAM_FAILED: what to log (NULL: the client left) */
	struct http_request *req;
	struct db_txn *txn;
	bool commit;
	bool first;                     /* no row sent yet: no separator before the next */
	char *sep, *tail;
	struct event *wait;             /* STREAM_DRAINING: made active when the client took it all or left */
	void (*done)(void *arg);
	void *arg;
};

void api_stream_register_statements(void)
{
	/* The cursor's name is api.export_cursor()'s. */
	stmt_fetch = db_stmt("FETCH FORWARD " XSTR(API_STREAM_BATCH) " FROM api_export_rows");
}

static void stream_drive(struct api_stream *s);
static void stream_fetched(struct db_txn *txn, enum db_status st, void *arg);
static void stream_waited(evutil_socket_t fd, short what, void *arg);
static void stream_wake(void *arg);
static void stream_ended(struct db_txn *txn, enum db_status st, void *arg);
static void stream_free(struct api_stream *s);
static enum stream_state failed(struct api_stream *s, const char *why);

static const char *text_of(const json_t *body, const char *key)
{
	return json_string_value(json_object_get(body, key));
}

int api_stream_start(struct http_request *req, struct db_txn *txn, bool commit, const json_t *body,
		     void (*done)(void *arg), void *arg)
{
	const char *type = text_of(body, "content_type"), *head = text_of(body, "head"), *sep = text_of(body, "sep"),
		   *tail = text_of(body, "tail"), *filename = text_of(body, "filename");
	bool rows = json_is_true(json_object_get(body, "rows"));
	if (!type || !head || !sep || !tail)
		return -1;
	struct api_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return -1;
	struct worker *w = http_req_worker(req);
	*s = (struct api_stream){.state = rows ? STREAM_FETCH : STREAM_TAIL, .req = req, .txn = txn,
				 .commit = commit, .first = true, .sep = strdup(sep), .tail = strdup(tail),
				 .done = done, .arg = arg};
	if (w && w->base)
		s->wait = event_new(w->base, -1, 0, stream_waited, s);
	if (!s->sep || !s->tail || !s->wait) {
		free(s->sep);
		free(s->tail);
		if (s->wait)
			event_free(s->wait);
		free(s);
		return -1;
	}
	http_resp_header(req, "Content-Type", type);
	if (filename) {
		char disposition[300];
		/* The SQL names files with [a-z0-9_.-] only. */
		snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s\"", filename);
		http_resp_header(req, "Content-Disposition", disposition);
	}
	http_resp_stream_begin(req);
	http_resp_stream_write(req, head, strlen(head));
	stream_drive(s);
	return 0;
}

/* Moves S on from its state until it waits for the database or the
 * client, or is over (then S is freed). */
static void stream_drive(struct api_stream *s)
{
	for (;;) {
		switch (s->state) {
		case STREAM_FETCH:
			if (http_req_aborted(s->req)) {
				s->state = failed(s, NULL);
				break;
			}
			if (db_query(s->txn, stmt_fetch, 0, NULL) != 0) {
				s->state = failed(s, "the fetch was refused by the pool");
				break;
			}
			s->state = STREAM_FETCHING;
			db_send(s->txn, stream_fetched, s);
			return;
		case STREAM_DRAINING:
			if (!http_req_aborted(s->req) && http_resp_pending(s->req) > 0) {
				/* Woken through the event, never from inside the
				 * connection's own write or close. */
				http_resp_on_drained(s->req, stream_wake, s);
				http_req_on_abort(s->req, stream_wake, s);
				return;
			}
			s->state = STREAM_FETCH;
			break;
		case STREAM_TAIL:
			http_resp_stream_write(s->req, s->tail, strlen(s->tail));
			if (s->commit) {
				s->state = STREAM_ENDING;
				db_commit(s->txn, stream_ended, s);
				return;
			}
			db_release(s->txn);
			s->txn = NULL;
			s->state = STREAM_DONE;
			break;
		case STREAM_DONE:
			http_resp_stream_end(s->req);
			stream_free(s);
			return;
		case STREAM_FAILED:
			if (s->why)
				log_warn("request=%s tenant=%s: export ended early: %s", http_req_id(s->req),
					 http_req_tenant(s->req), s->why);
			if (s->txn) {
				db_rollback(s->txn);
				s->txn = NULL;
			}
			http_resp_stream_abort(s->req);
			stream_free(s);
			return;
		case STREAM_FETCHING:
		case STREAM_ENDING:
			return;         /* their callbacks move them */
		}
	}
}

/* STREAM_FAILED, remembering WHY. */
static enum stream_state failed(struct api_stream *s, const char *why)
{
	s->why = why;
	return STREAM_FAILED;
}

static void stream_fetched(struct db_txn *txn, enum db_status st, void *arg)
{
	struct api_stream *s = arg;
	if (st != DB_OK) {
		/* db_error's text lives as long as the transaction: logged now. */
		log_warn("request=%s tenant=%s: export ended early: %s", http_req_id(s->req), http_req_tenant(s->req),
			 st == DB_UNAVAILABLE ? "database unavailable" : db_error(txn));
		s->state = failed(s, NULL);
		stream_drive(s);
		return;
	}
	if (http_req_aborted(s->req)) {
		s->state = failed(s, NULL);
		stream_drive(s);
		return;
	}
	const PGresult *r = db_result(txn, 0);
	int n = PQntuples(r);
	size_t seplen = strlen(s->sep), len = 0;
	for (int i = 0; i < n; i++)
		len += seplen + (size_t)PQgetlength(r, i, 0);
	/* The batch as one chunk: at most API_STREAM_BATCH rows. */
	char *buf = len ? malloc(len) : NULL;
	if (len && !buf) {
		s->state = failed(s, "out of memory");
		stream_drive(s);
		return;
	}
	size_t off = 0;
	for (int i = 0; i < n; i++) {
		if (!s->first) {
			memcpy(buf + off, s->sep, seplen);
			off += seplen;
		}
		s->first = false;
		size_t l = (size_t)PQgetlength(r, i, 0);
		memcpy(buf + off, PQgetvalue(r, i, 0), l);
		off += l;
	}
	http_resp_stream_write(s->req, buf, off);
	free(buf);
	if (n < API_STREAM_BATCH)
		s->state = STREAM_TAIL;
	else if (http_resp_pending(s->req) > API_STREAM_HIGH)
		s->state = STREAM_DRAINING;
	else
		s->state = STREAM_FETCH;
	stream_drive(s);
}

static void stream_wake(void *arg)
{
	struct api_stream *s = arg;
	event_active(s->wait, EV_TIMEOUT, 0);
}

static void stream_waited(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct api_stream *s = arg;
	http_resp_on_drained(s->req, NULL, NULL);
	http_req_on_abort(s->req, NULL, NULL);
	stream_drive(s);
}

static void stream_ended(struct db_txn *txn, enum db_status st, void *arg)
{
	struct api_stream *s = arg;
	s->txn = NULL;          /* over, committed or not */
	if (st != DB_OK) {
		log_warn("request=%s tenant=%s: export ended early: %s", http_req_id(s->req), http_req_tenant(s->req),
			 st == DB_UNAVAILABLE ? "database unavailable at commit" : db_error(txn));
		s->state = failed(s, NULL);
	} else {
		s->state = STREAM_DONE;
	}
	stream_drive(s);
}

static void stream_free(struct api_stream *s)
{
	void (*done)(void *) = s->done;
	void *arg = s->arg;
	if (s->wait)
		event_free(s->wait);
	free(s->sep);
	free(s->tail);
	free(s);
	done(arg);
}
