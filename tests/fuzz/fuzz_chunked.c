/* Fuzzes the chunked-body decoder against a second reading of the same
 * grammar (RFC 9112 7.1, as http_chunked.h states it), written here
 * plainly over the whole buffer: line by line, no state kept between
 * calls. The decoder, fed the input in pieces whose sizes come from the
 * input, must give the same verdict, the same body and take the same
 * number of bytes; once it has answered, it must keep that answer.
 *
 * Input: byte 0 = flags (bits 0-2: how many piece sizes follow, 0 for one
 * piece; bits 3-4: the body limit: none, byte 1, byte 1 * 257, zero),
 * byte 1 = the limit's byte, then the piece sizes (0: all the rest), then
 * the stream. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The code under test is compiled into this target, not taken from the
 * core library: only so does it get libFuzzer's coverage instrumentation
 * and the sanitizers. */
#include "../../core/net/http_chunked.c"
#include "../../core/net/http_head.c"
#include "fz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NONE SIZE_MAX

struct verdict {
	enum http_chunked_result result;
	size_t at;                      /* bytes taken */
	uint8_t *body;
	size_t body_len;
};

/* ---------------------------------------------------------------- the reference */

static bool ref_hex(uint8_t c, unsigned *v)
{
	if (c >= '0' && c <= '9')
		*v = c - '0';
	else if (c >= 'a' && c <= 'f')
		*v = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		*v = c - 'A' + 10;
	else
		return false;
	return true;
}

static bool ref_token(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

static bool ref_bws(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static bool ref_ctl(uint8_t c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* One chunk line from *i: chunk-size [ chunk-ext ] CRLF. On HTTP_CHUNKED_DONE
 * *i is past its LF and *size its value; on HTTP_CHUNKED_BAD *i is the bad
 * byte. *cr is where its CR is, NONE until there is one. */
static enum http_chunked_result ref_line(const uint8_t *s, size_t n, size_t *i, uint64_t *size, size_t *cr)
{
	size_t p = *i, digits = 0;
	unsigned v;
	uint64_t value = 0;

#define NEED()                                          \
	do {                                            \
		if (p >= n) {                           \
			*i = n;                         \
			return HTTP_CHUNKED_MORE;       \
		}                                       \
	} while (0)
#define BAD_AT(q)                                       \
	do {                                            \
		*i = (q);                               \
		return HTTP_CHUNKED_BAD;                \
	} while (0)

	NEED();
	while (p < n && ref_hex(s[p], &v)) {
		if (++digits > 16)
			BAD_AT(p);
		value = value * 16 + v;
		p++;
	}
	if (digits == 0)
		BAD_AT(p);
	for (;;) {
		NEED();
		if (s[p] == '\r')
			break;
		/* BWS ";" BWS name */
		while (p < n && ref_bws(s[p]))
			p++;
		NEED();
		if (s[p] != ';')
			BAD_AT(p);
		p++;
		while (p < n && ref_bws(s[p]))
			p++;
		NEED();
		if (!ref_token(s[p]))
			BAD_AT(p);
		while (p < n && ref_token(s[p]))
			p++;
		NEED();
		if (s[p] == '\r')
			break;
		/* [ BWS "=" BWS value ], or the next extension */
		size_t q = p;
		while (q < n && ref_bws(s[q]))
			q++;
		if (q >= n) {
			*i = n;
			return HTTP_CHUNKED_MORE;
		}
		if (s[q] == ';')
			continue;
		if (s[q] != '=')
			BAD_AT(q);
		p = q + 1;
		while (p < n && ref_bws(s[p]))
			p++;
		NEED();
		if (s[p] == '"') {
			p++;
			for (;;) {
				NEED();
				if (s[p] == '"') {
					p++;
					break;
				}
				if (s[p] == '\\') {
					p++;
					NEED();
				}
				if (ref_ctl(s[p]))
					BAD_AT(p);
				p++;
			}
		} else if (ref_token(s[p])) {
			while (p < n && ref_token(s[p]))
				p++;
		} else {
			BAD_AT(p);
		}
	}
	*cr = p++;
	NEED();
	if (s[p] != '\n')
		BAD_AT(p);
	*i = p + 1;
	*size = value;
	return HTTP_CHUNKED_DONE;
#undef NEED
#undef BAD_AT
}

/* The trailer section from *i, to its final CRLF. */
static enum http_chunked_result ref_trailers(const uint8_t *s, size_t n, size_t *i)
{
	size_t p = *i;
	for (;;) {
		if (p >= n)
			break;
		if (s[p] == '\r') {
			if (p + 1 >= n)
				break;
			*i = s[p + 1] == '\n' ? p + 2 : p + 1;
			return s[p + 1] == '\n' ? HTTP_CHUNKED_DONE : HTTP_CHUNKED_BAD;
		}
		if (!ref_token(s[p])) {
			*i = p;
			return HTTP_CHUNKED_BAD;
		}
		while (p < n && ref_token(s[p]))
			p++;
		if (p >= n)
			break;
		if (s[p] != ':') {
			*i = p;
			return HTTP_CHUNKED_BAD;
		}
		p++;
		while (p < n && s[p] != '\r' && !ref_ctl(s[p]))
			p++;
		if (p >= n)
			break;
		if (s[p] != '\r') {
			*i = p;
			return HTTP_CHUNKED_BAD;
		}
		if (p + 1 >= n)
			break;
		if (s[p + 1] != '\n') {
			*i = p + 1;
			return HTTP_CHUNKED_BAD;
		}
		p += 2;
	}
	*i = n;
	return HTTP_CHUNKED_MORE;
}

static void ref_decode(const uint8_t *s, size_t n, uint64_t max_body, struct verdict *o)
{
	size_t i = 0;
	uint64_t total = 0;

	o->body_len = 0;
	for (;;) {
		size_t start = i, cr = NONE;
		uint64_t size = 0;
		enum http_chunked_result r = ref_line(s, n, &i, &size, &cr);
		/* The line's bytes before its CR are at most LINE_MAX: the
		 * byte past that is refused, whatever came after. */
		size_t line_end = cr != NONE ? cr : i;
		if (line_end > start + HTTP_CHUNKED_LINE_MAX) {
			o->result = HTTP_CHUNKED_BAD;
			o->at = start + HTTP_CHUNKED_LINE_MAX;
			return;
		}
		if (r != HTTP_CHUNKED_DONE) {
			o->result = r;
			o->at = i;
			return;
		}
		if (size > max_body - total) {
			o->result = HTTP_CHUNKED_TOO_LARGE;
			o->at = i - 1;  /* the size line's LF */
			return;
		}
		total += size;
		if (size == 0)
			break;
		size_t have = n - i < size ? n - i : (size_t)size;
		memcpy(o->body + o->body_len, s + i, have);
		o->body_len += have;
		i += have;
		if (have < size || i >= n) {
			o->result = HTTP_CHUNKED_MORE;
			o->at = n;
			return;
		}
		if (s[i] != '\r') {
			o->result = HTTP_CHUNKED_BAD;
			o->at = i;
			return;
		}
		if (i + 1 >= n) {
			o->result = HTTP_CHUNKED_MORE;
			o->at = n;
			return;
		}
		if (s[i + 1] != '\n') {
			o->result = HTTP_CHUNKED_BAD;
			o->at = i + 1;
			return;
		}
		i += 2;
	}

	/* The trailer section holds at most TRAILER_MAX bytes, its final
	 * CRLF counted: the byte past that is refused. */
	size_t start = i;
	o->result = ref_trailers(s, n, &i);
	o->at = i;
	size_t last = o->result == HTTP_CHUNKED_BAD ? i : i - 1;   /* the last byte looked at */
	if (o->result == HTTP_CHUNKED_MORE && n == start)
		return;
	if (last >= start + HTTP_CHUNKED_TRAILER_MAX) {
		o->result = HTTP_CHUNKED_BAD;
		o->at = start + HTTP_CHUNKED_TRAILER_MAX;
	}
}

/* ---------------------------------------------------------------- the decoder */

struct sink {
	uint8_t *body;
	size_t len, cap;
};

static int fz_take(void *arg, const char *data, size_t len)
{
	struct sink *k = arg;
	FZ_ASSERT(len > 0 && k->len + len <= k->cap);
	memcpy(k->body + k->len, data, len);
	k->len += len;
	return 0;
}

static void fz_decode(const uint8_t *s, size_t n, uint64_t max_body, const uint8_t *pieces, size_t npieces,
		      struct verdict *o)
{
	struct http_chunked d;
	struct sink k = {.body = o->body, .cap = n};
	size_t off = 0, used = 0;

	http_chunked_init(&d, max_body);
	o->result = HTTP_CHUNKED_MORE;
	for (size_t p = 0; off < n && o->result == HTTP_CHUNKED_MORE; p++) {
		size_t len = npieces ? pieces[p % npieces] : 0;
		if (len == 0 || len > n - off)
			len = n - off;
		/* An exact-size copy, so that a read past the piece shows. */
		char *copy = malloc(len);
		FZ_ASSERT(copy);
		memcpy(copy, s + off, len);
		o->result = http_chunked_feed(&d, copy, len, &used, fz_take, &k);
		free(copy);
		FZ_ASSERT(used <= len);
		FZ_ASSERT(o->result != HTTP_CHUNKED_MORE || used == len);
		off += used;
	}
	o->at = off;
	o->body_len = k.len;
	if (o->result == HTTP_CHUNKED_BAD || o->result == HTTP_CHUNKED_TOO_LARGE)
		FZ_ASSERT(d.reason && d.reason[0]);
	if (o->result != HTTP_CHUNKED_MORE) {
		FZ_ASSERT(http_chunked_feed(&d, "0\r\n\r\n", 5, &used, fz_take, &k) == o->result);
		FZ_ASSERT(used == 0 && k.len == o->body_len);
	}
	FZ_ASSERT(o->result != HTTP_CHUNKED_STOPPED);
	FZ_ASSERT(d.body <= max_body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t npieces = data[0] & 7;
	uint64_t max_body;
	switch ((data[0] >> 3) & 3) {
	case 0:
		max_body = UINT64_MAX;
		break;
	case 1:
		max_body = data[1];
		break;
	case 2:
		max_body = (uint64_t)data[1] * 257;
		break;
	default:
		max_body = 0;
		break;
	}
	if (size < 2 + npieces)
		return 0;
	const uint8_t *pieces = data + 2;
	const uint8_t *s = data + 2 + npieces;
	size_t n = size - 2 - npieces;

	struct verdict ref = {.body = malloc(n ? n : 1)}, got = {.body = malloc(n ? n : 1)};
	FZ_ASSERT(ref.body && got.body);
	ref_decode(s, n, max_body, &ref);
	fz_decode(s, n, max_body, pieces, npieces, &got);
	if (got.result != ref.result || got.at != ref.at)
		fprintf(stderr, "decoder %d at %zu, reference %d at %zu\n", got.result, got.at, ref.result, ref.at);
	FZ_ASSERT(got.result == ref.result);
	FZ_ASSERT(got.at == ref.at);
	FZ_ASSERT(got.body_len == ref.body_len && memcmp(got.body, ref.body, ref.body_len) == 0);
	if (ref.result == HTTP_CHUNKED_DONE)
		FZ_ASSERT(ref.at >= 5 && memcmp(s + ref.at - 2, "\r\n", 2) == 0);

	/* Whole and in one piece agree as well (the pieces above may have
	 * been one already). */
	fz_decode(s, n, max_body, NULL, 0, &got);
	FZ_ASSERT(got.result == ref.result && got.at == ref.at && got.body_len == ref.body_len);
	free(ref.body);
	free(got.body);
	return 0;
}
