/* The HTTP/1.1 connection: reads with deadlines, checks heads, frames
 * bodies (http-parser for Content-Length, http_chunked.c for chunked),
 * hands requests to the worker's handler in order, and writes responses
 * with backpressure. */
#ifndef AANTAFEL_HTTP_CONN_H
#define AANTAFEL_HTTP_CONN_H

#include <stddef.h>
#include <sys/socket.h>

struct worker;
struct http_conn;

/* Takes over an accepted, non-blocking socket. */
struct http_conn *http_conn_accept(struct worker *w, int fd, const struct sockaddr *sa, socklen_t salen);

/* A connection without a socket, for the fuzzer: input comes from
 * http_conn_feed and output is discarded. */
struct http_conn *http_conn_detached(struct worker *w);
void http_conn_feed(struct http_conn *c, const char *data, size_t len);
void http_conn_free_detached(struct http_conn *c);

/* Shutdown: closes idle connections; the others close after their current
 * response. */
void http_conn_drain_all(struct worker *w);
void http_conn_close_all(struct worker *w);

#endif
