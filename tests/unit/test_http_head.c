/* The request-head checks of issue 2, rule by rule, each with the status
 * nginx would answer, and every limit at its edge. Each case runs twice:
 * with the whole head at once and with it arriving byte by byte (the way
 * the connection calls http_head_find_end with its saved scan state); both
 * must agree. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http_head.h"

#define DEF_HEAD 32768
#define DEF_HEADERS 100

static struct http_header hdrs[2000];

/* Outcome of finding and parsing one head. */
struct outcome {
	enum http_head_end found;
	int status;             /* 0 accepted, else 400/431/501 */
	size_t skip, end;
	struct http_head h;
};

/* The whole buffer at once. */
static void run_at_once(const char *buf, size_t len, size_t max_head, size_t max_headers, struct outcome *o)
{
	size_t scan = 0;
	memset(o, 0, sizeof(*o));
	o->found = http_head_find_end(buf, len, max_head, &scan, &o->skip, &o->end, &o->status);
	if (o->found != HTTP_HEAD_FOUND)
		return;
	if (http_head_parse(buf + o->skip, o->end - o->skip, hdrs, max_headers, &o->h) != 0)
		o->status = o->h.status;
}

/* The buffer growing one byte per call, the scan state kept between
 * calls, stopping at the first answer that is not "incomplete". */
static void run_bytewise(const char *buf, size_t len, size_t max_head, size_t max_headers, struct outcome *o)
{
	size_t scan = 0;
	memset(o, 0, sizeof(*o));
	o->found = HTTP_HEAD_INCOMPLETE;
	for (size_t n = 1; n <= len && o->found == HTTP_HEAD_INCOMPLETE; n++)
		o->found = http_head_find_end(buf, n, max_head, &scan, &o->skip, &o->end, &o->status);
	if (o->found != HTTP_HEAD_FOUND)
		return;
	if (http_head_parse(buf + o->skip, o->end - o->skip, hdrs, max_headers, &o->h) != 0)
		o->status = o->h.status;
}

/* Status of a complete head: 0 when accepted, -1 when still incomplete.
 * Checks that byte-by-byte arrival gives the same answer. */
static int status_limits(const char *buf, size_t len, size_t max_head, size_t max_headers, int line)
{
	struct outcome a, b;
	run_at_once(buf, len, max_head, max_headers, &a);
	run_bytewise(buf, len, max_head, max_headers, &b);
	CHECK_MSG(a.found == b.found && a.status == b.status &&
			  (a.found != HTTP_HEAD_FOUND || (a.end == b.end && a.skip == b.skip)),
		  "line %d: at once found=%d status=%d skip=%zu end=%zu, byte by byte found=%d status=%d "
		  "skip=%zu end=%zu",
		  line, a.found, a.status, a.skip, a.end, b.found, b.status, b.skip, b.end);
	if (a.found == HTTP_HEAD_INCOMPLETE)
		return -1;
	return a.status;
}

#define STATUS(lit) status_limits(lit, sizeof(lit) - 1, DEF_HEAD, DEF_HEADERS, __LINE__)

/* EXPECT(400, "GET ..."): the literal may hold NUL bytes. */
#define EXPECT(want, lit)                                                                          \
	do {                                                                                       \
		int got_ = STATUS(lit);                                                            \
		CHECK_MSG(got_ == (want), "line %d: expected %d, got %d for %s", __LINE__, (want), \
			  got_, #lit);                                                             \
	} while (0)

/* Parses LIT (a complete head) and leaves the result in *h; 0 or status. */
static int parse_lit(const char *buf, size_t len, struct http_head *h)
{
	struct outcome o;
	run_at_once(buf, len, DEF_HEAD, DEF_HEADERS, &o);
	*h = o.h;
	return o.found == HTTP_HEAD_FOUND ? o.status : -1;
}
#define PARSE(lit, h) parse_lit(lit, sizeof(lit) - 1, h)

/* ---------------------------------------------------------------- cases */

static void test_valid(void)
{
	struct http_head h;
	CHECK_INT_EQ(PARSE("GET /a?b=c HTTP/1.1\r\nHost: example.org\r\nAccept: */*\r\n\r\n", &h), 0);
	CHECK_INT_EQ(h.method_len, 3);
	CHECK(memcmp(h.method, "GET", 3) == 0);
	CHECK_INT_EQ(h.target_len, 6);
	CHECK(memcmp(h.target, "/a?b=c", 6) == 0);
	CHECK_INT_EQ(h.minor, 1);
	CHECK_INT_EQ(h.nheaders, 2);
	CHECK_INT_EQ(h.host, 0);
	CHECK_INT_EQ(h.content_length, -1);
	CHECK_INT_EQ(h.transfer_encoding, -1);
	CHECK(!h.chunked && !h.conn_close && !h.conn_keep_alive && !h.expect_continue);
	const struct http_header *hd = http_head_get(&h, "ACCEPT");
	CHECK(hd != NULL);
	if (hd) {
		CHECK_INT_EQ(hd->value_len, 3);
		CHECK(memcmp(hd->value, "*/*", 3) == 0);
	}
	CHECK(http_head_get(&h, "Accept-Language") == NULL);

	/* OWS around values is not part of them. */
	CHECK_INT_EQ(PARSE("GET / HTTP/1.1\r\nHost: a\r\nX-A: \t v w \t\r\nX-B:\r\n\r\n", &h), 0);
	hd = http_head_get(&h, "x-a");
	CHECK(hd && hd->value_len == 3 && memcmp(hd->value, "v w", 3) == 0);
	hd = http_head_get(&h, "x-b");
	CHECK(hd && hd->value_len == 0);

	/* HTTP/1.0 needs no Host. */
	CHECK_INT_EQ(PARSE("GET / HTTP/1.0\r\n\r\n", &h), 0);
	CHECK_INT_EQ(h.minor, 0);
	CHECK_INT_EQ(h.host, -1);
	EXPECT(0, "GET / HTTP/1.0\r\nUser-Agent: x\r\n\r\n");

	/* Every token character is allowed in a method and a header name. */
	EXPECT(0, "M-1.~!#$%&'*+^_`| / HTTP/1.1\r\nHost: a\r\nX-!#$%&'*+.^_`|~09az: 1\r\n\r\n");
	/* obs-text in a value passes (UTF-8 names in a header). */
	EXPECT(0, "GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9\r\n\r\n");
	/* A request line alone, then the blank line, with Host. */
	EXPECT(0, "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
}

static void test_bare_lf(void)
{
	EXPECT(400, "GET / HTTP/1.1\nHost: a\r\n\r\n");         /* request line */
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"); /* a header */
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\n\n");         /* the blank line */
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\n\r\n");
	EXPECT(400, "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");     /* the very start */
	EXPECT(400, "\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"); /* after an empty line */
	EXPECT(400, "\n");
	EXPECT(400, "GET / HTTP/1.1\n\n");

	/* http_head_parse refuses a bare LF by itself as well. */
	struct http_head h;
	static const char lf_in_value[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\nY: b\r\n\r\n";
	CHECK_INT_EQ(http_head_parse(lf_in_value, sizeof(lf_in_value) - 1, hdrs, DEF_HEADERS, &h), -1);
	CHECK_INT_EQ(h.status, 400);
	static const char lf_first[] = "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	CHECK_INT_EQ(http_head_parse(lf_first, sizeof(lf_first) - 1, hdrs, DEF_HEADERS, &h), -1);
	CHECK_INT_EQ(h.status, 400);
}

static void test_bare_cr(void)
{
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\r\n\r\n");
	EXPECT(400, "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX\r: b\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n");
}

static void test_folding(void)
{
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\n Host: a\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\n\tHost: a\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\n \r\n\r\n");
}

static void test_header_names(void)
{
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX(Y): b\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX@Y: b\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\n\"X\": b\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX/Y: b\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX Y: b\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n");          /* empty name */
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: b\r\n\r\n");  /* non-ASCII */
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX{}: b\r\n\r\n");
	/* Space or tab before the colon. */
	EXPECT(400, "GET / HTTP/1.1\r\nHost : a\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX-A\t: b\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n");
}

static void test_request_line(void)
{
	EXPECT(400, "GET / HTTP/2.0\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.2\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET / HTTP/0.9\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET / http/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET / Http/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET /\r\nHost: a\r\n\r\n");                /* no version */
	EXPECT(400, "GET / \r\nHost: a\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.10\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1 \r\nHost: a\r\n\r\n");
	EXPECT(400, "GET / HTTP/11\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET / HTTP/1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET / HTTP/\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET  / HTTP/1.1\r\nHost: a\r\n\r\n");      /* two spaces */
	EXPECT(400, "GET /  HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, " GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "G(T / HTTP/1.1\r\nHost: a\r\n\r\n");       /* method not a token */
	EXPECT(400, "/ HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"); /* raw non-ASCII target */
}

static void test_host(void)
{
	EXPECT(400, "GET / HTTP/1.1\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nX-Host: a\r\n\r\n");
	EXPECT(0, "GET / HTTP/1.0\r\n\r\n");
	EXPECT(0, "GET / HTTP/1.1\r\nHOST: a\r\n\r\n");
	EXPECT(0, "GET / HTTP/1.1\r\nHost: example.org:8080\r\n\r\n");
	EXPECT(0, "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
	EXPECT(0, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	EXPECT(0, "GET / HTTP/1.1\r\nHost: xn--bcher-kva.example\r\n\r\n");
	/* Duplicates, also in another case. */
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nhOsT: a\r\nHOST: b\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n");
	/* Characters a host name cannot hold. */
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: <a>\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a?b\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a#b\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\tb\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: caf\xc3\xa9.nl\r\n\r\n");
}

static void test_framing(void)
{
	struct http_head h;

	/* Content-Length. */
	CHECK_INT_EQ(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n", &h), 0);
	CHECK_INT_EQ(h.content_length, 1);
	CHECK_INT_EQ(h.content_length_value, 42);
	CHECK_INT_EQ(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n", &h), 0);
	CHECK_INT_EQ(h.content_length_value, 7);
	CHECK_INT_EQ(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999999999\r\n\r\n", &h), 0);
	CHECK(h.content_length_value == 999999999999999999ULL);
	EXPECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000000\r\n\r\n"); /* 19 digits */
	EXPECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n");
	EXPECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n");
	EXPECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n");
	EXPECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n");
	EXPECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,5\r\n\r\n");
	EXPECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n");
	EXPECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n");
	EXPECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1e3\r\n\r\n");
	EXPECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1.0\r\n\r\n");
	EXPECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: a\r\n\r\n");
	EXPECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n");
	EXPECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \t \r\n\r\n");

	/* Duplicates, also in another case, also with equal values. */
	EXPECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
	EXPECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n");
	EXPECT(400, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n");
	EXPECT(400, "POST / HTTP/1.1\r\nHost: a\r\nTRANSFER-ENCODING: chunked\r\n"
		    "transfer-encoding: chunked\r\n\r\n");

	/* Content-Length with Transfer-Encoding, either order. */
	EXPECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
	EXPECT(400, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n");

	/* Transfer-Encoding on HTTP/1.0. */
	EXPECT(400, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
	EXPECT(400, "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n");

	/* Anything but exactly "chunked": 501. */
	EXPECT(501, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
	EXPECT(501, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n");
	EXPECT(501, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n");
	EXPECT(501, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n");
	EXPECT(501, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n");
	EXPECT(501, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n");
	EXPECT(501, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n");
	EXPECT(501, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n");

	/* "chunked" in any case, with OWS around it. */
	CHECK_INT_EQ(PARSE("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &h), 0);
	CHECK(h.chunked);
	CHECK_INT_EQ(h.transfer_encoding, 1);
	CHECK_INT_EQ(PARSE("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", &h), 0);
	CHECK(h.chunked);
	CHECK_INT_EQ(PARSE("POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding:  CHUNKED \t\r\n\r\n", &h), 0);
	CHECK(h.chunked);
}

static void test_control_bytes(void)
{
	/* NUL in the request line: method, target, version. */
	EXPECT(400, "GE\0T / HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\0\r\nHost: a\r\n\r\n");
	EXPECT(400, "\0GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	/* NUL in a header name and value. */
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX\0: b\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX: b\0c\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\0\r\n\r\n");
	/* Other controls and DEL. */
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX: a\x1b[31m\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX: a\x0b\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX: a\x0c\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX: a\x1f\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX\x7f: a\r\n\r\n");
	EXPECT(400, "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET\x01 / HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX: \x08\r\n\r\n");
	/* HTAB inside a value is fine. */
	EXPECT(0, "GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n");
	struct http_head h;
	CHECK_INT_EQ(PARSE("GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n", &h), 0);
	const struct http_header *hd = http_head_get(&h, "x");
	CHECK(hd && hd->value_len == 3 && memcmp(hd->value, "a\tb", 3) == 0);
}

static void test_targets(void)
{
	struct http_head h;
	EXPECT(0, "GET http://example.org/x?y HTTP/1.1\r\nHost: example.org\r\n\r\n");
	EXPECT(0, "GET https://example.org HTTP/1.1\r\nHost: example.org\r\n\r\n");
	EXPECT(0, "GET HTTP://Example.org:8080/ HTTP/1.1\r\nHost: x\r\n\r\n");
	EXPECT(0, "GET http://[::1]:8080/ HTTP/1.1\r\nHost: x\r\n\r\n");
	EXPECT(0, "GET http://example.org?q HTTP/1.0\r\n\r\n");
	CHECK_INT_EQ(PARSE("GET http://example.org/x HTTP/1.1\r\nHost: e\r\n\r\n", &h), 0);
	CHECK_INT_EQ(h.target_len, 20);
	EXPECT(400, "GET http:// HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET https:// HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n");     /* empty authority */
	EXPECT(400, "GET http://?x HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET http://user@example.org/ HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET http://a<b>/ HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET http://a\"b/ HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET http://a#b HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET ftp://example.org/ HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET example.org/ HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET http:/x HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n");
	/* asterisk-form only with OPTIONS. */
	EXPECT(0, "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "GET * HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(400, "options * HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(0, "OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n");
}

static void test_connection_expect(void)
{
	struct http_head h;
	CHECK_INT_EQ(PARSE("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &h), 0);
	CHECK(h.conn_close && !h.conn_keep_alive);
	CHECK_INT_EQ(PARSE("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &h), 0);
	CHECK(!h.conn_close && h.conn_keep_alive);
	CHECK_INT_EQ(PARSE("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &h), 0);
	CHECK(h.conn_keep_alive);
	CHECK_INT_EQ(PARSE("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n", &h), 0);
	CHECK(h.conn_close && !h.conn_keep_alive);
	CHECK_INT_EQ(PARSE("GET / HTTP/1.1\r\nHost: a\r\nConnection: te,close ,keep-alive\r\n\r\n", &h), 0);
	CHECK(h.conn_close && h.conn_keep_alive);
	CHECK_INT_EQ(PARSE("GET / HTTP/1.1\r\nHost: a\r\nConnection:\tclose\t\r\n\r\n", &h), 0);
	CHECK(h.conn_close);
	/* Lists split over two fields count together. */
	CHECK_INT_EQ(PARSE("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", &h), 0);
	CHECK(h.conn_close && h.conn_keep_alive);
	/* Tokens that only look alike. */
	CHECK_INT_EQ(PARSE("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed, keep-alive-x, xclose\r\n\r\n", &h),
		     0);
	CHECK(!h.conn_close && !h.conn_keep_alive);
	CHECK_INT_EQ(PARSE("GET / HTTP/1.1\r\nHost: a\r\nX-Connection: close\r\n\r\n", &h), 0);
	CHECK(!h.conn_close);
	CHECK_INT_EQ(PARSE("GET / HTTP/1.1\r\nHost: a\r\nConnection: ,,\r\n\r\n", &h), 0);
	CHECK(!h.conn_close && !h.conn_keep_alive);

	CHECK_INT_EQ(PARSE("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", &h),
		     0);
	CHECK(h.expect_continue);
	CHECK_INT_EQ(PARSE("POST / HTTP/1.1\r\nHost: a\r\nexpect: 100-Continue\r\n\r\n", &h), 0);
	CHECK(h.expect_continue);
	CHECK_INT_EQ(PARSE("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", &h), 0);
	CHECK(!h.expect_continue);
	CHECK_INT_EQ(PARSE("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continuex\r\n\r\n", &h), 0);
	CHECK(!h.expect_continue);
}

/* ---------------------------------------------------------------- limits */

/* Writes a complete head of exactly SIZE bytes into buf (one long header
 * pads it); returns SIZE. */
static size_t make_head(char *buf, size_t size)
{
	static const char start[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
	size_t n = sizeof(start) - 1;
	memcpy(buf, start, n);
	while (n < size - 4)
		buf[n++] = 'p';
	memcpy(buf + n, "\r\n\r\n", 4);
	return size;
}

static void test_head_size(size_t max)
{
	char *buf = malloc(max + 64);
	struct outcome o;
	size_t scan, skip, end;
	int status;

	/* Exactly max: accepted, all at once and byte by byte. */
	size_t n = make_head(buf, max);
	CHECK_INT_EQ(status_limits(buf, n, max, DEF_HEADERS, __LINE__), 0);
	run_at_once(buf, n, max, DEF_HEADERS, &o);
	CHECK_INT_EQ(o.end, max);

	/* One byte over, complete in the buffer: 431. */
	n = make_head(buf, max + 1);
	CHECK_INT_EQ(status_limits(buf, n, max, DEF_HEADERS, __LINE__), 431);
	scan = skip = end = 0;
	status = 0;
	CHECK_INT_EQ(http_head_find_end(buf, n, max, &scan, &skip, &end, &status), HTTP_HEAD_BAD);
	CHECK_INT_EQ(status, 431);

	/* One byte over, not complete yet: the first max bytes already show
	 * the head cannot fit (its end is still to come). */
	scan = skip = end = 0;
	CHECK_INT_EQ(http_head_find_end(buf, max - 1, max, &scan, &skip, &end, &status), HTTP_HEAD_INCOMPLETE);
	CHECK_INT_EQ(http_head_find_end(buf, max, max, &scan, &skip, &end, &status), HTTP_HEAD_BAD);
	CHECK_INT_EQ(status, 431);
	scan = skip = end = 0;
	CHECK_INT_EQ(http_head_find_end(buf, max, max, &scan, &skip, &end, &status), HTTP_HEAD_BAD);
	CHECK_INT_EQ(status, 431);

	/* A head of exactly max, followed by a pipelined request: the end is
	 * found even though the buffer holds more than max. */
	n = make_head(buf, max);
	memcpy(buf + n, "GET / HTTP/1.1\r\n", 16);
	scan = skip = end = 0;
	CHECK_INT_EQ(http_head_find_end(buf, n + 16, max, &scan, &skip, &end, &status), HTTP_HEAD_FOUND);
	CHECK_INT_EQ(end, max);

	/* Empty lines before the head count toward the limit: whatever a
	 * client sends, the bytes held before a head is complete stay under
	 * max (the connection's buffer is max plus a little). */
	for (size_t i = 0; i < max / 2; i += 2)
		memcpy(buf + i, "\r\n", 2);
	n = max / 2;
	memcpy(buf + n, "GET / HTTP/1.1\r\nX: ", 19);
	n += 19;
	while (n < max + 32)
		buf[n++] = 'p';
	run_at_once(buf, max - 1, max, DEF_HEADERS, &o);
	CHECK_INT_EQ(o.found, HTTP_HEAD_INCOMPLETE);
	run_at_once(buf, max, max, DEF_HEADERS, &o);
	CHECK_INT_EQ(o.found, HTTP_HEAD_BAD);
	CHECK_INT_EQ(o.status, 431);
	run_bytewise(buf, max + 32, max, DEF_HEADERS, &o);
	CHECK_INT_EQ(o.found, HTTP_HEAD_BAD);
	CHECK_INT_EQ(o.status, 431);
	/* Bytes past the limit are never looked at: a bare LF (or the end
	 * of the head) after max bytes gets 431 whether the bytes came at
	 * once or in pieces, never 400 in one case and 431 in the other. */
	n = make_head(buf, max + 8);
	buf[max + 2] = '\n';
	CHECK_INT_EQ(status_limits(buf, n, max, DEF_HEADERS, __LINE__), 431);
	for (size_t i = 0; i < max + 8; i += 2)
		memcpy(buf + i, "\r\n", 2);
	buf[max + 1] = 'x';
	CHECK_INT_EQ(status_limits(buf, max + 4, max, DEF_HEADERS, __LINE__), 431);
	/* Nothing but empty lines: also bounded. */
	for (size_t i = 0; i < max + 32; i += 2)
		memcpy(buf + i, "\r\n", 2);
	run_bytewise(buf, max + 32, max, DEF_HEADERS, &o);
	CHECK(o.found == HTTP_HEAD_BAD);
	run_at_once(buf, max + 32, max, DEF_HEADERS, &o);
	CHECK(o.found == HTTP_HEAD_BAD);
	free(buf);
}

/* A head with Host and NHEADERS - 1 more header fields. */
static size_t make_headers(char *buf, size_t cap, size_t nheaders)
{
	size_t n = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (size_t i = 1; i < nheaders; i++)
		n += (size_t)snprintf(buf + n, cap - n, "X-%zu: %zu\r\n", i, i);
	n += (size_t)snprintf(buf + n, cap - n, "\r\n");
	return n;
}

static void test_header_count(void)
{
	static char buf[65536];
	struct outcome o;
	size_t n = make_headers(buf, sizeof(buf), DEF_HEADERS);
	CHECK_INT_EQ(status_limits(buf, n, DEF_HEAD, DEF_HEADERS, __LINE__), 0);
	run_at_once(buf, n, DEF_HEAD, DEF_HEADERS, &o);
	CHECK_INT_EQ(o.h.nheaders, DEF_HEADERS);
	n = make_headers(buf, sizeof(buf), DEF_HEADERS + 1);
	CHECK_INT_EQ(status_limits(buf, n, DEF_HEAD, DEF_HEADERS, __LINE__), 431);

	/* The smallest limits. */
	n = make_headers(buf, sizeof(buf), 1);
	CHECK_INT_EQ(status_limits(buf, n, DEF_HEAD, 1, __LINE__), 0);
	n = make_headers(buf, sizeof(buf), 2);
	CHECK_INT_EQ(status_limits(buf, n, DEF_HEAD, 1, __LINE__), 431);
	/* The largest configurable one. */
	n = make_headers(buf, sizeof(buf), 1000);
	CHECK_INT_EQ(status_limits(buf, n, sizeof(buf), 1000, __LINE__), 0);
	n = make_headers(buf, sizeof(buf), 1001);
	CHECK_INT_EQ(status_limits(buf, n, sizeof(buf), 1000, __LINE__), 431);
}

/* ---------------------------------------------------------------- arrival */

static void test_leading_empty_lines(void)
{
	struct outcome o;
	static const char two[] = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	EXPECT(0, "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT(0, "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
	run_at_once(two, sizeof(two) - 1, DEF_HEAD, DEF_HEADERS, &o);
	CHECK_INT_EQ(o.found, HTTP_HEAD_FOUND);
	CHECK_INT_EQ(o.skip, 4);
	CHECK_INT_EQ(o.end, sizeof(two) - 1);
	run_bytewise(two, sizeof(two) - 1, DEF_HEAD, DEF_HEADERS, &o);
	CHECK_INT_EQ(o.found, HTTP_HEAD_FOUND);
	CHECK_INT_EQ(o.skip, 4);
	CHECK_INT_EQ(o.status, 0);

	/* Only empty lines so far: no head yet, in any arrival order. */
	EXPECT(-1, "\r\n");
	EXPECT(-1, "\r\n\r\n");
	EXPECT(-1, "\r\n\r\n\r");
	EXPECT(-1, "\r");
	/* After a request line an empty line ends the head: no headers, so
	 * no Host either. */
	EXPECT(400, "GET / HTTP/1.1\r\n\r\n");
	EXPECT(0, "\r\nGET / HTTP/1.0\r\n\r\n");
}

/* Every two-piece split of HEAD: the first call sees a prefix, the second
 * the whole; the end must match the one found at once. */
static void check_splits(const char *head, size_t len, int line)
{
	struct outcome whole;
	run_at_once(head, len, DEF_HEAD, DEF_HEADERS, &whole);
	for (size_t k = 1; k < len; k++) {
		size_t scan = 0, skip = 0, end = 0;
		int status = 0;
		enum http_head_end r = http_head_find_end(head, k, DEF_HEAD, &scan, &skip, &end, &status);
		if (r == HTTP_HEAD_INCOMPLETE)
			r = http_head_find_end(head, len, DEF_HEAD, &scan, &skip, &end, &status);
		CHECK_MSG(r == whole.found && (r != HTTP_HEAD_FOUND || (end == whole.end && skip == whole.skip)) &&
				  (r != HTTP_HEAD_BAD || status == whole.status),
			  "line %d: split at %zu: found=%d end=%zu skip=%zu, at once found=%d end=%zu skip=%zu", line,
			  k, r, end, skip, whole.found, whole.end, whole.skip);
	}
}
#define SPLITS(lit) check_splits(lit, sizeof(lit) - 1, __LINE__)

static void test_arrival(void)
{
	size_t scan = 0, skip = 0, end = 0;
	int status = 0;
	static const char head[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

	/* CRLF split across reads, at each CRLF of the head. */
	CHECK_INT_EQ(http_head_find_end(head, 15, DEF_HEAD, &scan, &skip, &end, &status), HTTP_HEAD_INCOMPLETE);
	CHECK_INT_EQ(http_head_find_end(head, 16, DEF_HEAD, &scan, &skip, &end, &status), HTTP_HEAD_INCOMPLETE);
	CHECK_INT_EQ(http_head_find_end(head, 24, DEF_HEAD, &scan, &skip, &end, &status), HTTP_HEAD_INCOMPLETE);
	CHECK_INT_EQ(http_head_find_end(head, 26, DEF_HEAD, &scan, &skip, &end, &status), HTTP_HEAD_INCOMPLETE);
	CHECK_INT_EQ(http_head_find_end(head, 27, DEF_HEAD, &scan, &skip, &end, &status), HTTP_HEAD_FOUND);
	CHECK_INT_EQ(end, 27);
	CHECK_INT_EQ(skip, 0);
	/* A bare LF right after a read that ended in something else. */
	static const char bad[] = "GET / HTTP/1.1\r\nHost: a\r\nX: b\n\r\n";
	scan = skip = end = 0;
	CHECK_INT_EQ(http_head_find_end(bad, 29, DEF_HEAD, &scan, &skip, &end, &status), HTTP_HEAD_INCOMPLETE);
	CHECK_INT_EQ(http_head_find_end(bad, 30, DEF_HEAD, &scan, &skip, &end, &status), HTTP_HEAD_BAD);
	CHECK_INT_EQ(status, 400);

	/* The scan state means a long head is scanned once: the next call
	 * resumes after every byte already seen (a CR at the end of a read is
	 * met again by the look one byte back from the LF after it). */
	scan = skip = end = 0;
	CHECK_INT_EQ(http_head_find_end(head, 20, DEF_HEAD, &scan, &skip, &end, &status), HTTP_HEAD_INCOMPLETE);
	CHECK_INT_EQ(scan, 20);
	scan = skip = end = 0;
	CHECK_INT_EQ(http_head_find_end(head, 15, DEF_HEAD, &scan, &skip, &end, &status), HTTP_HEAD_INCOMPLETE);
	CHECK_INT_EQ(scan, 15);

	SPLITS("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	SPLITS("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
	SPLITS("\r\n\r\n\r\nPOST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc");
	SPLITS("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n");
	SPLITS("GET / HTTP/1.1\r\nHost: a\n\r\n");
	SPLITS("\r\n\nGET / HTTP/1.1\r\n\r\n");

	/* Byte by byte over a few larger heads (EXPECT runs both ways). */
	EXPECT(0, "\r\n\r\nPUT /a/b/c?d=e HTTP/1.1\r\nHost: example.org\r\nContent-Length: 10\r\n"
		  "Content-Type: text/plain\r\nConnection: keep-alive\r\n\r\n");
	EXPECT(0, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n");
}

static void test_token_chars(void)
{
	CHECK(http_is_token_char('a') && http_is_token_char('Z') && http_is_token_char('0'));
	CHECK(http_is_token_char('!') && http_is_token_char('~') && http_is_token_char('|'));
	CHECK(!http_is_token_char(' ') && !http_is_token_char(':') && !http_is_token_char('(') &&
	      !http_is_token_char('"') && !http_is_token_char('/') && !http_is_token_char('@') &&
	      !http_is_token_char(0) && !http_is_token_char(0x7f) && !http_is_token_char(0x80) &&
	      !http_is_token_char(0xff) && !http_is_token_char('{') && !http_is_token_char('\t'));
}

int main(void)
{
	RUN(test_valid());
	RUN(test_bare_lf());
	RUN(test_bare_cr());
	RUN(test_folding());
	RUN(test_header_names());
	RUN(test_request_line());
	RUN(test_host());
	RUN(test_framing());
	RUN(test_control_bytes());
	RUN(test_targets());
	RUN(test_connection_expect());
	RUN(test_head_size(DEF_HEAD));
	RUN(test_head_size(1024));
	RUN(test_head_size(65536));
	RUN(test_header_count());
	RUN(test_leading_empty_lines());
	RUN(test_arrival());
	RUN(test_token_chars());
	return check_exit("test_http_head");
}
