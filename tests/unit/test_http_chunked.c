/* The strict chunked-body decoder, case by case: each input of the table
 * is fed whole, byte by byte and in random pieces, and every way must give
 * the same answer, body and count of bytes taken. A complete body is also
 * fed with a pipelined request behind it, which must stay untaken. The
 * first rows are the ones an outside test found read laxly ("2 1"). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http_chunked.h"

#define BODY_MAX 65536
#define NO_LIMIT UINT64_MAX

struct outcome {
	enum http_chunked_result result;
	size_t consumed;
	char body[BODY_MAX];
	size_t body_len;
	const char *reason;
};

struct row {
	const char *name;
	const char *in;
	size_t len;
	uint64_t max_body;
	enum http_chunked_result want;
	const char *body;               /* what the body holds at the end */
	size_t body_len;
	size_t at;                      /* bytes taken; with DONE: all */
	const char *reason;             /* part of the reason, for BAD */
};

/* Literals may hold NUL: their lengths come from sizeof. */
#define ROW(n, i, m, w, b, a, r) {n, i, sizeof(i) - 1, m, w, b, sizeof(b) - 1, a, r}
#define OK(n, i, b) ROW(n, i, NO_LIMIT, HTTP_CHUNKED_DONE, b, sizeof(i) - 1, NULL)
#define BAD(n, i, b, a, r) ROW(n, i, NO_LIMIT, HTTP_CHUNKED_BAD, b, a, r)
#define BIG(n, i, m, b, a) ROW(n, i, m, HTTP_CHUNKED_TOO_LARGE, b, a, NULL)

static const struct row rows[] = {
	/* The finding: a space and more digits after the size. */
	BAD("size, space, digit", "2 1\r\n{}\r\n0\r\n\r\n", "", 2, "space in chunk line"),
	BAD("size, tab, digit", "2\t1\r\n{}\r\n0\r\n\r\n", "", 2, "space in chunk line"),
	BAD("plus sign", "+2\r\n{}\r\n0\r\n\r\n", "", 0, "not hexadecimal"),
	BAD("minus sign", "-1\r\n{}\r\n0\r\n\r\n", "", 0, "not hexadecimal"),
	BAD("0x prefix", "0x2\r\n{}\r\n0\r\n\r\n", "", 1, "after chunk size"),
	BAD("leading space", " 2\r\n{}\r\n0\r\n\r\n", "", 0, "not hexadecimal"),
	BAD("leading tab", "\t2\r\n{}\r\n0\r\n\r\n", "", 0, "not hexadecimal"),
	BAD("trailing space", "2 \r\n{}\r\n0\r\n\r\n", "", 2, "space in chunk line"),
	BAD("no size", "\r\n{}\r\n0\r\n\r\n", "", 0, "not hexadecimal"),
	BAD("extension without size", ";a\r\n{}\r\n0\r\n\r\n", "", 0, "not hexadecimal"),
	BAD("non-hex digit", "2g\r\n{}\r\n0\r\n\r\n", "", 1, "after chunk size"),
	BAD("size line bare LF", "2\n{}\r\n0\r\n\r\n", "", 1, "bare LF"),
	BAD("size line bare CR", "2\r{}\r\n0\r\n\r\n", "", 2, "bare CR"),
	BAD("17 hex digits", "00000000000000002\r\n{}\r\n0\r\n\r\n", "", 16, "16 hex digits"),
	BAD("17 F", "FFFFFFFFFFFFFFFFF\r\n", "", 16, "16 hex digits"),
	BAD("NUL in size", "2\0\r\n{}\r\n0\r\n\r\n", "", 1, "after chunk size"),

	/* Extensions: BWS only around ";" and "=". */
	BAD("empty extension name", "2;\r\n{}\r\n0\r\n\r\n", "", 2, "name not a token"),
	BAD("empty extension value", "2;a=\r\n{}\r\n0\r\n\r\n", "", 4, "value not a token"),
	BAD("space inside extension name", "2;a b\r\n{}\r\n0\r\n\r\n", "", 4, "not before '=' or ';'"),
	BAD("space inside extension value", "2;a=b c\r\n{}\r\n0\r\n\r\n", "", 6, "space in chunk line"),
	BAD("space after name at the end", "2;a \r\n{}\r\n0\r\n\r\n", "", 4, "not before '=' or ';'"),
	BAD("space after value at the end", "2;a=b \r\n{}\r\n0\r\n\r\n", "", 6, "space in chunk line"),
	BAD("name not a token", "2;a@b\r\n{}\r\n0\r\n\r\n", "", 3, "extension name"),
	BAD("value not a token", "2;a=@\r\n{}\r\n0\r\n\r\n", "", 4, "value not a token"),
	BAD("value with a slash", "2;a=b/c\r\n{}\r\n0\r\n\r\n", "", 5, "extension value"),
	BAD("unterminated quoted value", "2;a=\"x\r\n{}\r\n0\r\n\r\n", "", 6, "control byte"),
	BAD("bytes after quoted value", "2;a=\"x\"y\r\n{}\r\n0\r\n\r\n", "", 7, "after quoted"),
	BAD("control byte quoted", "2;a=\"\x01\"\r\n{}\r\n0\r\n\r\n", "", 5, "control byte"),
	BAD("control byte escaped", "2;a=\"\\\x01\"\r\n{}\r\n0\r\n\r\n", "", 6, "control byte"),
	BAD("bare LF in extension", "2;a=b\n{}\r\n0\r\n\r\n", "", 5, "bare LF"),
	BAD("two equals", "2;a==b\r\n{}\r\n0\r\n\r\n", "", 4, "value not a token"),

	/* Chunk data is followed by exactly CRLF. */
	BAD("data not followed by CRLF", "2\r\n{}X\r\n0\r\n\r\n", "{}", 5, "not followed by CRLF"),
	BAD("data longer than its size", "2\r\n{}}\r\n0\r\n\r\n", "{}", 5, "not followed by CRLF"),
	BAD("data followed by bare LF", "2\r\n{}\n0\r\n\r\n", "{}", 5, "bare LF"),
	BAD("data followed by CR only", "2\r\n{}\r0\r\n\r\n", "{}", 6, "not followed by CRLF"),
	BAD("second chunk's size bad", "2\r\n{}\r\n1 1\r\nx\r\n0\r\n\r\n", "{}", 9, "space in chunk line"),

	/* The last chunk and the trailer section. */
	BAD("last chunk bare LF", "0\n\r\n", "", 1, "bare LF"),
	BAD("final line bare LF", "0\r\n\n", "", 3, "bare LF"),
	BAD("final line bare CR", "0\r\n\rX", "", 4, "bare CR"),
	BAD("trailer name with space", "0\r\nX A: 1\r\n\r\n", "", 4, "not a token"),
	BAD("trailer space before colon", "0\r\nX-A : 1\r\n\r\n", "", 6, "not a token"),
	BAD("trailer without name", "0\r\n: v\r\n\r\n", "", 3, "not a token"),
	BAD("trailer folded", "0\r\nX: a\r\n b\r\n\r\n", "", 9, "not a token"),
	BAD("trailer first line folded", "0\r\n X: a\r\n\r\n", "", 3, "not a token"),
	BAD("trailer without colon", "0\r\nX-A\r\n\r\n", "", 6, "not a token"),
	BAD("trailer control byte", "0\r\nX: a\x01\r\n\r\n", "", 7, "control byte"),
	BAD("trailer DEL", "0\r\nX: a\x7f\r\n\r\n", "", 7, "control byte"),
	BAD("trailer bare LF", "0\r\nX: a\n\r\n", "", 7, "bare LF"),
	BAD("trailer bare CR", "0\r\nX: a\rb\r\n\r\n", "", 8, "bare CR"),

	/* Valid forms. */
	OK("empty body", "0\r\n\r\n", ""),
	OK("one chunk", "2\r\n{}\r\n0\r\n\r\n", "{}"),
	OK("extension", "2;a=b\r\n{}\r\n0\r\n\r\n", "{}"),
	OK("extension with BWS and quotes", "2 ; a = \"q\"\r\n{}\r\n0\r\n\r\n", "{}"),
	OK("extension with tabs", "2\t;\ta\t=\tb\r\n{}\r\n0\r\n\r\n", "{}"),
	OK("extension without value", "2;a\r\n{}\r\n0\r\n\r\n", "{}"),
	OK("several extensions", "2;a;b=c ;d=\"x\\\"y\" ; e\r\n{}\r\n0\r\n\r\n", "{}"),
	OK("empty quoted value", "2;a=\"\"\r\n{}\r\n0\r\n\r\n", "{}"),
	OK("quoted value with ; = and space", "2;a=\"; b=c \"\r\n{}\r\n0\r\n\r\n", "{}"),
	OK("quoted value with obs-text", "2;a=\"caf\xc3\xa9\"\r\n{}\r\n0\r\n\r\n", "{}"),
	OK("leading zeros", "002\r\n{}\r\n0\r\n\r\n", "{}"),
	OK("16 hex digits", "0000000000000002\r\n{}\r\n0000000000000000\r\n\r\n", "{}"),
	OK("several zeros as last chunk", "000\r\n\r\n", ""),
	OK("hex of both cases", "a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij"),
	OK("mixed-case size", "1B\r\nabcdefghijklmnopqrstuvwxyz!\r\n0\r\n\r\n", "abcdefghijklmnopqrstuvwxyz!"),
	OK("data that looks like framing", "9\r\n0\r\n\r\nGET \r\n0\r\n\r\n", "0\r\n\r\nGET "),
	OK("data with bare LF and NUL", "3\r\n\n\0\r\r\n0\r\n\r\n", "\n\0\r"),
	OK("last chunk with extension", "2\r\n{}\r\n0;end=\"yes\"\r\n\r\n", "{}"),
	OK("trailers", "2\r\n{}\r\n0\r\nX-A: 1\r\nX-B:\r\nx-c:  a\tb \r\n\r\n", "{}"),
	OK("trailer with obs-text", "0\r\nX: caf\xc3\xa9\r\n\r\n", ""),

	/* max_body_size, checked on each size line. */
	BIG("one chunk over", "b\r\n0123456789a\r\n0\r\n\r\n", 10, "", 2),
	BIG("second chunk over", "5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n", 10, "hello", 12),
	BIG("over, with extension", "b;a=b\r\n", 10, "", 6),
	BIG("huge size", "FFFFFFFFFFFFFFFF\r\n", 10, "", 17),
	BIG("any byte over zero", "1\r\nx\r\n0\r\n\r\n", 0, "", 2),
	ROW("exactly the limit", "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 10, HTTP_CHUNKED_DONE, "helloworld", 25, NULL),
	ROW("empty within zero", "0\r\n\r\n", 0, HTTP_CHUNKED_DONE, "", 5, NULL),
};

/* ---------------------------------------------------------------- feeding */

static int take(void *arg, const char *data, size_t len)
{
	struct outcome *o = arg;
	CHECK(len > 0);
	if (o->body_len + len > sizeof(o->body))
		return 1;
	memcpy(o->body + o->body_len, data, len);
	o->body_len += len;
	return 0;
}

static uint64_t rng = 88172645463325252ull;

static size_t next_random(size_t bound)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (size_t)(rng % bound);
}

/* Feeds IN in pieces: whole (piece 0), byte by byte (piece 1) or random
 * sizes up to MAXPIECE (piece > 1), stopping at the first answer that is
 * not "more". */
static void feed(const char *in, size_t len, uint64_t max_body, size_t piece, struct outcome *o)
{
	struct http_chunked d;
	http_chunked_init(&d, max_body);
	memset(o, 0, sizeof(*o));
	o->result = HTTP_CHUNKED_MORE;
	size_t off = 0;
	/* An empty call first: it takes nothing and changes nothing. */
	size_t n = 1;
	CHECK(http_chunked_feed(&d, in, 0, &n, take, o) == HTTP_CHUNKED_MORE && n == 0);
	while (off < len && o->result == HTTP_CHUNKED_MORE) {
		size_t k = piece == 0 ? len - off : piece == 1 ? 1 : 1 + next_random(piece);
		if (k > len - off)
			k = len - off;
		/* An exact-size copy, so that a read past the piece shows
		 * under the sanitizers. */
		char *copy = malloc(k);
		CHECK(copy != NULL);
		memcpy(copy, in + off, k);
		o->result = http_chunked_feed(&d, copy, k, &n, take, o);
		free(copy);
		CHECK(n <= k);
		if (o->result == HTTP_CHUNKED_MORE)
			CHECK(n == k);
		off += n;
	}
	o->consumed = off;
	o->reason = d.reason;
	/* The answer sticks and nothing more is taken. */
	if (o->result != HTTP_CHUNKED_MORE) {
		CHECK(http_chunked_feed(&d, "0\r\n\r\n", 5, &n, take, o) == o->result);
		CHECK(n == 0);
	}
}

static void check_same(const struct outcome *a, const struct outcome *b, const char *name, const char *way)
{
	CHECK_MSG(a->result == b->result, "%s: %s: result %d, whole %d", name, way, b->result, a->result);
	CHECK_MSG(a->consumed == b->consumed, "%s: %s: took %zu, whole %zu", name, way, b->consumed,
		  a->consumed);
	CHECK_MSG(a->body_len == b->body_len && memcmp(a->body, b->body, a->body_len) == 0, "%s: %s: body differs",
		  name, way);
}

static void run_row(const struct row *r)
{
	static struct outcome whole, other;
	size_t len = r->len, blen = r->body_len;
	uint64_t max_body = r->max_body;

	feed(r->in, len, max_body, 0, &whole);
	CHECK_MSG(whole.result == r->want, "%s: result %d, want %d (%s)", r->name, whole.result, r->want,
		  whole.reason ? whole.reason : "");
	CHECK_MSG(whole.consumed == r->at, "%s: took %zu, want %zu", r->name, whole.consumed, r->at);
	CHECK_MSG(whole.body_len == blen && memcmp(whole.body, r->body, blen) == 0,
		  "%s: body \"%.*s\", want \"%s\"", r->name, (int)whole.body_len, whole.body, r->body);
	if (r->reason)
		CHECK_MSG(whole.reason && strstr(whole.reason, r->reason), "%s: reason \"%s\", want \"%s\"", r->name,
			  whole.reason ? whole.reason : "(none)", r->reason);
	if (r->want != HTTP_CHUNKED_DONE)
		CHECK_MSG(whole.reason != NULL, "%s: no reason", r->name);

	feed(r->in, len, max_body, 1, &other);
	check_same(&whole, &other, r->name, "byte by byte");
	for (size_t piece = 2; piece <= 17; piece += 3) {
		feed(r->in, len, max_body, piece, &other);
		check_same(&whole, &other, r->name, "random pieces");
	}

	/* A complete body with the next request behind it: that request
	 * is not taken, however the bytes arrive. */
	if (r->want == HTTP_CHUNKED_DONE) {
		static const char next[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
		char *both = malloc(len + sizeof(next) - 1);
		CHECK(both != NULL);
		memcpy(both, r->in, len);
		memcpy(both + len, next, sizeof(next) - 1);
		for (size_t piece = 0; piece <= 11; piece++) {
			feed(both, len + sizeof(next) - 1, max_body, piece, &other);
			check_same(&whole, &other, r->name, "with a pipelined request behind");
		}
		free(both);
	}
}

/* ---------------------------------------------------------------- the caps */

/* A chunk line of exactly LINE bytes before its CRLF, made long by one
 * extension. */
static size_t long_line(char *buf, size_t line)
{
	size_t n = 4;
	memcpy(buf, "2;x=", 4);
	while (n < line)
		buf[n++] = 'a';
	memcpy(buf + n, "\r\n{}\r\n0\r\n\r\n", 11);
	return n + 11;
}

static void test_line_cap(void)
{
	static char buf[HTTP_CHUNKED_LINE_MAX + 64];
	struct row r = {.name = "line of exactly the cap", .in = buf, .max_body = NO_LIMIT,
			.want = HTTP_CHUNKED_DONE, .body = "{}", .body_len = 2};
	r.len = r.at = long_line(buf, HTTP_CHUNKED_LINE_MAX);
	run_row(&r);

	struct row over = {.name = "line one over the cap", .in = buf, .max_body = NO_LIMIT, .want = HTTP_CHUNKED_BAD,
			   .body = "", .at = HTTP_CHUNKED_LINE_MAX, .reason = "chunk line too long"};
	over.len = long_line(buf, HTTP_CHUNKED_LINE_MAX + 1);
	run_row(&over);

	/* The cap is per line: many long lines are fine. */
	static char many[4 * (HTTP_CHUNKED_LINE_MAX + 16)];
	size_t n = 0;
	for (int i = 0; i < 3; i++)
		n += long_line(many + n, HTTP_CHUNKED_LINE_MAX) - 5;  /* without "0\r\n\r\n" */
	memcpy(many + n, "0\r\n\r\n", 5);
	struct row three = {.name = "three lines at the cap", .in = many, .len = n + 5, .max_body = NO_LIMIT,
			    .want = HTTP_CHUNKED_DONE, .body = "{}{}{}", .body_len = 6, .at = n + 5};
	run_row(&three);
}

/* "0\r\n", then trailer lines "X: aaa...\r\n" adding up to SECTION bytes
 * with the final CRLF. */
static size_t trailers_of(char *buf, size_t section)
{
	size_t n = 3, left = section - 2;
	memcpy(buf, "0\r\n", 3);
	while (left > 0) {
		size_t line = left > 1000 ? 1000 : left;
		if (left - line > 0 && left - line < 5)
			line -= 5;      /* leave room for one more whole line */
		memcpy(buf + n, "X:", 2);
		memset(buf + n + 2, 'a', line - 4);
		memcpy(buf + n + line - 2, "\r\n", 2);
		n += line;
		left -= line;
	}
	memcpy(buf + n, "\r\n", 2);
	return n + 2;
}

static void test_trailer_cap(void)
{
	static char buf[HTTP_CHUNKED_TRAILER_MAX + 64];
	struct row r = {.name = "trailers of exactly the cap", .in = buf, .max_body = NO_LIMIT,
			.want = HTTP_CHUNKED_DONE, .body = ""};
	r.len = r.at = trailers_of(buf, HTTP_CHUNKED_TRAILER_MAX);
	run_row(&r);

	struct row over = {.name = "trailers one over the cap", .in = buf, .max_body = NO_LIMIT,
			   .want = HTTP_CHUNKED_BAD, .body = "", .at = 3 + HTTP_CHUNKED_TRAILER_MAX,
			   .reason = "trailer section too large"};
	over.len = trailers_of(buf, HTTP_CHUNKED_TRAILER_MAX + 1);
	run_row(&over);
}

/* ---------------------------------------------------------------- the rest */

static int refuse(void *arg, const char *data, size_t len)
{
	(*(size_t *)arg) += len;
	return 1;
}

static void test_stop(void)
{
	struct http_chunked d;
	size_t got = 0, n = 0;
	http_chunked_init(&d, NO_LIMIT);
	CHECK_INT_EQ(http_chunked_feed(&d, "4\r\nab", 5, &n, refuse, &got), HTTP_CHUNKED_STOPPED);
	CHECK_INT_EQ(n, 5);
	CHECK_INT_EQ(got, 2);
	CHECK_INT_EQ(http_chunked_feed(&d, "cd\r\n", 4, &n, refuse, &got), HTTP_CHUNKED_STOPPED);
	CHECK_INT_EQ(n, 0);
	CHECK_INT_EQ(got, 2);
}

/* A large body: every size of piece gives the data in spans, not bytes. */
static void test_large_body(void)
{
	static char in[40000], want[40000];
	size_t n = 0, w = 0;
	for (int i = 0; i < 5; i++) {
		n += (size_t)snprintf(in + n, sizeof(in) - n, "%x\r\n", 7000 + i);
		for (int k = 0; k < 7000 + i; k++)
			in[n++] = want[w++] = (char)('a' + (k + i) % 26);
		memcpy(in + n, "\r\n", 2);
		n += 2;
	}
	memcpy(in + n, "0\r\n\r\n", 5);
	n += 5;
	want[w] = '\0';
	struct row r = {.name = "five chunks of 7000 bytes", .in = in, .len = n, .max_body = NO_LIMIT,
			.want = HTTP_CHUNKED_DONE, .body = want, .body_len = w, .at = n};
	run_row(&r);
	struct row limit = {.name = "five chunks, limit one under", .in = in, .len = n, .max_body = w - 1,
			    .want = HTTP_CHUNKED_TOO_LARGE, .body_len = w - 7004};
	/* Refused on the last size line: the first four chunks were read. */
	size_t at = 0;
	for (int i = 0; i < 4; i++)
		at += (size_t)snprintf(NULL, 0, "%x\r\n", 7000 + i) + (size_t)(7000 + i) + 2;
	limit.at = at + (size_t)snprintf(NULL, 0, "%x\r", 7004);
	static char first_four[40000];
	memcpy(first_four, want, w - 7004);
	first_four[w - 7004] = '\0';
	limit.body = first_four;
	run_row(&limit);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		RUN(run_row(&rows[i]));
	RUN(test_line_cap());
	RUN(test_trailer_cap());
	RUN(test_stop());
	RUN(test_large_body());
	return check_exit("test_http_chunked");
}
