/* Strict checks of an HTTP/1.x request head. Debian's http-parser is built
 * non-strict (it accepts bare LF, folded lines, odd versions, "TE: gzip,
 * chunked" and a duplicate Host), so every head passes through here first
 * and is rejected the way nginx rejects it, before http-parser frames it. */
#ifndef AANTAFEL_HTTP_HEAD_H
#define AANTAFEL_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_header {
	const char *name;
	const char *value;
	uint32_t name_len;
	uint32_t value_len;
};

enum http_head_end {
	HTTP_HEAD_INCOMPLETE,   /* need more bytes */
	HTTP_HEAD_FOUND,        /* *end is the length of the head */
	HTTP_HEAD_BAD,          /* *status says why: 400 bare LF, 431 too big */
};

/* Looks for the blank line that ends a head in BUF[0..len). *scan keeps the
 * position between calls so a slowly arriving head is scanned once. Leading
 * empty lines (allowed before a request line) are counted in *skip. */
enum http_head_end http_head_find_end(const char *buf, size_t len, size_t max_head, size_t *scan,
				      size_t *skip, size_t *end, int *status);

struct http_head {
	const char *method;
	const char *target;
	size_t method_len;
	size_t target_len;
	int minor;                      /* HTTP/1.MINOR, 0 or 1 */

	struct http_header *headers;    /* caller's array of max_headers */
	size_t nheaders;

	int host;                       /* index into headers, or -1 */
	int content_length;
	int transfer_encoding;
	uint64_t content_length_value;
	bool chunked;
	bool conn_close;
	bool conn_keep_alive;
	bool expect_continue;

	int status;                     /* on rejection: 400, 431 or 501 */
	const char *reason;             /* on rejection: short English reason */
};

/* Parses and checks the complete head BUF[0..len) (as found by
 * http_head_find_end, leading empty lines removed). Returns 0 when it is
 * acceptable, -1 with h->status and h->reason set otherwise. */
int http_head_parse(const char *buf, size_t len, struct http_header *headers, size_t max_headers,
		    struct http_head *h);

/* Case-insensitive lookup of a header in a parsed head; NULL when absent. */
const struct http_header *http_head_get(const struct http_head *h, const char *name);

bool http_is_token_char(unsigned char c);

#endif
