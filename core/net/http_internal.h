/* Structures shared by the connection state machine (http_conn.c) and the
 * request/response API (http_response.c). Nothing outside core/http_*.c
 * includes this header. */
#ifndef AANTAFEL_HTTP_INTERNAL_H
#define AANTAFEL_HTTP_INTERNAL_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "http.h"
#include "http_chunked.h"
#include "http_head.h"

struct evbuffer;
struct event;

enum conn_state {
	CONN_HEAD,              /* waiting for or reading a request head */
	CONN_BODY,              /* reading a request body */
	CONN_HANDLER,           /* a handler owns the request */
	CONN_WAIT_DRAIN,        /* next request waits until queued output shrinks */
	CONN_CLOSING,           /* last response queued; close once written */
	CONN_LINGER,            /* write side shut; discarding input before close */
	CONN_DEAD,              /* closed; freed when the current callback returns */
};

enum read_timer_kind { RT_NONE, RT_HEAD, RT_BODY, RT_IDLE, RT_LINGER };

enum req_state {
	REQ_IDLE,               /* no request in progress */
	REQ_HANDLING,           /* dispatched; no response yet */
	REQ_STREAMING,          /* response head sent, body streaming */
};

struct http_request {
	struct http_conn *conn;         /* NULL once the client went away */
	struct worker *worker;
	enum req_state state;

	char *head;                     /* copy of the head bytes, NUL-split */
	size_t head_cap;
	struct http_header *headers;
	size_t headers_cap;
	struct http_head h;

	enum http_verb method;
	const char *path;
	size_t path_len;
	const char *query;
	char host[256];
	const char *lang;
	const char *lang_default;       /* the tenant's default language, or NULL (http_req_set_lang_default) */

	char *body;
	size_t body_len;
	size_t body_cap;

	char id[20];
	bool begun;                     /* id and start time set */
	char tenant[64];                /* slug for the access log, "" if none */
	char client[64];                /* the client's address ("" until asked) */
	struct timespec start;
	bool keep_alive;
	bool head_only;                 /* HEAD: send the head, drop the body */

	int status;
	char *rh;                       /* extra response header lines */
	size_t rh_len;
	size_t rh_cap;
	struct evbuffer *rbody;
	uint64_t bytes_out;
	bool chunked;

	void (*abort_cb)(void *arg);
	void *abort_arg;
	void (*drained_cb)(void *arg);  /* http_resp_on_drained */
	void *drained_arg;
};

struct http_conn {
	struct worker *w;
	struct config *cfg;
	struct http_conn *prev, *next;  /* worker's list */
	int fd;
	enum conn_state state;
	unsigned busy;                  /* callbacks on the stack; free when 0 */

	struct event *rev, *wev, *read_timer, *write_timer, *kick;
	enum read_timer_kind rt_kind;
	bool rev_on, wev_on;
	bool peer_eof;

	char *in;
	size_t in_off, in_len, in_cap;
	size_t scan, skip;

	struct evbuffer *out;
	http_parser parser;             /* the head; a Content-Length body */
	struct http_chunked chunked;    /* a chunked body */
	bool message_done;
	int body_refused;               /* 413 or 503 when body bytes were not taken */

	struct http_request *req;
	uint32_t requests;
	char peer[64];
};

/* http_conn.c */
void http_conn_response_done(struct http_conn *c);
/* Arms the deadline for the client to take the queued output (RESTART:
 * from now even when armed already). */
void http_conn_arm_write(struct http_conn *c, bool restart);
void http_conn_flush(struct http_conn *c);
void http_conn_enter(struct http_conn *c);
void http_conn_leave(struct http_conn *c);

/* http_response.c */
struct http_request *http_request_new(struct worker *w);
void http_request_free(struct http_request *req);
void http_request_reset(struct http_request *req);
/* Stamps the start time and a new request id. */
void http_request_begin(struct http_request *req);
/* Fills the request's derived fields after the head was parsed; returns
 * 0, or an HTTP status to reject with. */
int http_request_prepare(struct http_request *req);
/* Writes a complete error response for a request that never reached a
 * handler (head rejected, body too large). */
void http_response_reject(struct http_request *req, int status);

#endif
