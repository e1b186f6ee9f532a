/* The daemon's own decoder of chunked request bodies (RFC 9112 7.1).
 * Debian's http-parser is built non-strict and reads "2 1" as a chunk of
 * two bytes; a front proxy that reads the same line another way sees a
 * different next request. So the connection frames chunked bodies with
 * this strict decoder instead, and anything outside the grammar ends the
 * connection.
 *
 * It is a pure state machine: no I/O, no allocation, fed any pieces of
 * input in order, each byte once. Whatever the split, the answer is the
 * same. The grammar it accepts:
 *
 *   chunked-body   = *chunk last-chunk trailer-section CRLF
 *   chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-size     = 1*16HEXDIG               (leading zeros count)
 *   last-chunk     = 1*16"0" [ chunk-ext ] CRLF
 *   chunk-ext      = *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )
 *   trailer-section = *( token ":" *( field-byte ) CRLF )
 *
 * BWS is spaces and tabs, only where shown; field-byte is any byte but a
 * control (HTAB allowed). A chunk line holds at most HTTP_CHUNKED_LINE_MAX
 * bytes before its CRLF, the trailer section at most
 * HTTP_CHUNKED_TRAILER_MAX bytes with its final CRLF. Trailers are checked
 * and dropped. */
#ifndef AANTAFEL_HTTP_CHUNKED_H
#define AANTAFEL_HTTP_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_CHUNKED_LINE_MAX 4096
#define HTTP_CHUNKED_TRAILER_MAX 8192
#define HTTP_CHUNKED_DIGITS_MAX 16

enum http_chunked_state {
	CHUNKED_SIZE_START,     /* first byte of a chunk line: a hex digit */
	CHUNKED_SIZE,           /* more hex digits */
	CHUNKED_BWS_SEMI,       /* spaces after the size or a value: ";" must follow */
	CHUNKED_EXT_NAME_START, /* after ";": spaces, then a token */
	CHUNKED_EXT_NAME,       /* in the name */
	CHUNKED_EXT_NAME_BWS,   /* spaces after the name: "=" or ";" must follow */
	CHUNKED_EXT_VALUE_START, /* after "=": spaces, then a token or a quote */
	CHUNKED_EXT_TOKEN,      /* in a token value */
	CHUNKED_EXT_QUOTED,     /* in a quoted-string */
	CHUNKED_EXT_QUOTED_PAIR, /* after a backslash in it */
	CHUNKED_EXT_QUOTED_END, /* after its closing quote */
	CHUNKED_LINE_LF,        /* the chunk line's CR seen: LF must follow */
	CHUNKED_DATA,           /* chunk-data, d->left bytes to go */
	CHUNKED_DATA_CR,        /* after the data: CR */
	CHUNKED_DATA_LF,        /* after the data: LF */
	CHUNKED_TRAILER_START,  /* a field line or the empty line that ends */
	CHUNKED_TRAILER_NAME,   /* in a field name */
	CHUNKED_TRAILER_VALUE,  /* after ":", up to CR */
	CHUNKED_TRAILER_LF,     /* a field line's CR seen */
	CHUNKED_END_LF,         /* the final empty line's CR seen */
	CHUNKED_DONE,           /* the body is complete */
	CHUNKED_BAD,            /* framing error; reason set */
	CHUNKED_TOO_LARGE,      /* the sizes add up to more than max_body */
	CHUNKED_STOPPED,        /* the data callback said stop */
};

enum http_chunked_result {
	HTTP_CHUNKED_MORE,      /* all input taken; the body goes on */
	HTTP_CHUNKED_DONE,      /* complete; *consumed ends at its last byte */
	HTTP_CHUNKED_BAD,       /* not chunked framing (400); d->reason says why */
	HTTP_CHUNKED_TOO_LARGE, /* a chunk size line passed max_body (413) */
	HTTP_CHUNKED_STOPPED,   /* the data callback returned non-zero */
};

struct http_chunked {
	enum http_chunked_state state;
	uint64_t max_body;      /* the chunk sizes may add up to this */
	uint64_t body;          /* sum of the sizes announced so far */
	uint64_t size;          /* while a size line is read: its value */
	uint64_t left;          /* while data is read: bytes of it to go */
	unsigned digits;        /* hex digits of the size so far */
	size_t line;            /* bytes of the current chunk line */
	size_t trailer;         /* bytes of the trailer section */
	const char *reason;     /* with CHUNKED_BAD and CHUNKED_TOO_LARGE */
};

/* Receives body bytes as they are decoded (a pointer into the input);
 * returns 0 to go on, non-zero to stop decoding. */
typedef int (*http_chunked_data_fn)(void *arg, const char *data, size_t len);

void http_chunked_init(struct http_chunked *d, uint64_t max_body);

/* Decodes IN[0..len) and passes the body bytes in it to DATA. *consumed is
 * how many input bytes were taken: all of them on HTTP_CHUNKED_MORE, up to
 * the end of the body on HTTP_CHUNKED_DONE (the rest belongs to the next
 * request), the bytes before the one that showed the error on
 * HTTP_CHUNKED_BAD and HTTP_CHUNKED_TOO_LARGE (the size line's LF for the
 * latter), up to the end of the data refused on HTTP_CHUNKED_STOPPED. Once
 * an answer other than HTTP_CHUNKED_MORE is given, later calls give it
 * again and take nothing. */
enum http_chunked_result http_chunked_feed(struct http_chunked *d, const char *in, size_t len, size_t *consumed,
					   http_chunked_data_fn data, void *arg);

#endif
