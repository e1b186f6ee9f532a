/* The request/response API that handlers use. Nothing above this header
 * sees libevent or http-parser: a handler reads the request through these
 * accessors and answers with the http_resp_* calls, at once or later (after
 * a database round trip), exactly once. */
#ifndef AANTAFEL_HTTP_H
#define AANTAFEL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_request;
struct worker;

enum http_verb {
	HTTP_M_GET,
	HTTP_M_HEAD,
	HTTP_M_POST,
	HTTP_M_PUT,
	HTTP_M_PATCH,
	HTTP_M_DELETE,
	HTTP_M_OPTIONS,
	HTTP_M_OTHER,
};

typedef void (*http_handler_fn)(struct http_request *req);

/* ---- the request */

enum http_verb http_req_method(const struct http_request *req);
const char *http_req_method_name(const struct http_request *req);
/* The target's path, raw (not percent-decoded), NUL terminated. */
const char *http_req_path(const struct http_request *req, size_t *len);
/* The query string without '?', "" when none. */
const char *http_req_query(const struct http_request *req);
/* A header's value (NUL terminated) or NULL; names are case-insensitive.
 * Repeated headers: the first. */
const char *http_req_header(const struct http_request *req, const char *name);
/* Host without port, lower-cased; "" when the request had none. */
const char *http_req_host(const struct http_request *req);
const void *http_req_body(const struct http_request *req, size_t *len);
const char *http_req_id(const struct http_request *req);
/* The client's address: the connection's peer or, when the peer is one
 * of trusted_proxies, the address X-Forwarded-For names behind them. */
const char *http_req_peer(const struct http_request *req);
/* Whether the request came over TLS: from a trusted proxy that says
 * X-Forwarded-Proto: https (the daemon itself speaks plain HTTP). */
bool http_req_secure(const struct http_request *req);
/* "nl" or "en": the visitor's choice on the site (cookie at_lang), else
 * the tenant's default language (http_req_set_lang_default), else the
 * browser's Accept-Language, else Dutch. */
const char *http_req_lang(const struct http_request *req);
/* The tenant's default language ("nl" or "en"; NULL or "" for none),
 * once the tenant is known: it decides before Accept-Language. */
void http_req_set_lang_default(struct http_request *req, const char *lang);
struct worker *http_req_worker(const struct http_request *req);
/* Whether the client is gone; an asynchronous handler still answers (the
 * answer is dropped) so that its resources are released in one place. */
bool http_req_aborted(const struct http_request *req);

/* Called once if the connection closes while the handler still owns the
 * request. The handler must still finish the response. */
void http_req_on_abort(struct http_request *req, void (*cb)(void *arg), void *arg);

/* The tenant's slug for the access log line (copied; at most 63 bytes). */
void http_req_set_tenant(struct http_request *req, const char *slug);
const char *http_req_tenant(const struct http_request *req);

/* ---- the response */

void http_resp_status(struct http_request *req, int status);
/* Adds a header. Refused (returns -1, nothing added) when the name is not
 * a token or the value holds CR, LF or NUL: no header injection. */
int http_resp_header(struct http_request *req, const char *name, const char *value);
void http_resp_body(struct http_request *req, const void *data, size_t len);
/* Adds LEN bytes at DATA without copying; RELEASE(data, len, arg) runs
 * once the bytes are sent or dropped. */
void http_resp_body_ref(struct http_request *req, const void *data, size_t len,
			void (*release)(const void *data, size_t len, void *arg), void *arg);
void http_resp_printf(struct http_request *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Finishes the response with Content-Length. */
void http_resp_send(struct http_request *req);
/* Finishes with the body read from FD (taken over and closed). */
void http_resp_send_file(struct http_request *req, int fd, uint64_t size);
/* Finishes with the static error page for STATUS in the request's
 * language. Headers added before are kept. */
void http_resp_error(struct http_request *req, int status);

/* Streaming: a chunked response on HTTP/1.1, a close-delimited one on 1.0. */
void http_resp_stream_begin(struct http_request *req);
void http_resp_stream_write(struct http_request *req, const void *data, size_t len);
void http_resp_stream_end(struct http_request *req);
/* Ends a streamed response that cannot be completed: the connection
 * closes after what is queued, without the last chunk, so that the client
 * sees the answer cut short rather than a shorter whole one. */
void http_resp_stream_abort(struct http_request *req);
/* Bytes queued for the client and not yet taken. */
size_t http_resp_pending(const struct http_request *req);
/* Calls CB(ARG) once, on the worker's loop, when the client has taken
 * every byte queued (from the connection's write event: call it only
 * while http_resp_pending is above 0). Not called when the connection
 * closes first: http_req_on_abort tells that. CB NULL cancels it. */
void http_resp_on_drained(struct http_request *req, void (*cb)(void *arg), void *arg);

const char *http_status_reason(int status);

#endif
