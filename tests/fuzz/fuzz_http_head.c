/* Fuzzes the request-head checks: http_head_find_end, then
 * http_head_parse on what it found, with the default limits and with
 * small ones. Beyond "no crash", it checks what the connection relies on:
 * a head found in pieces is the head found at once, an accepted head obeys
 * every rule of issue 2, and the bytes held before a head is complete stay
 * under max_head.
 *
 * Input: byte 0 picks the split point for the piecewise search (as a
 * fraction of the rest), the rest is the stream. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The code under test is compiled into this target, not taken from the
 * core library: only so does it get libFuzzer's coverage instrumentation
 * and the sanitizers. */
#include "../../core/net/http_head.c"
#include "fz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct http_header fz_headers[1000];

static bool fz_has_ctl(const char *s, size_t n, bool tab_ok)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && !(tab_ok && c == '\t')) || c == 0x7f)
			return true;
	}
	return false;
}

/* Everything an accepted head promises to the connection layer. */
static void fz_check_accepted(const char *buf, size_t len, const struct http_head *h, bool whole_head)
{
	FZ_ASSERT(h->method == buf && h->method_len > 0);
	for (size_t i = 0; i < h->method_len; i++)
		FZ_ASSERT(http_is_token_char((unsigned char)h->method[i]));
	FZ_ASSERT(h->target > buf && h->target + h->target_len < buf + len && h->target_len > 0);
	FZ_ASSERT(!fz_has_ctl(h->target, h->target_len, false) && !memchr(h->target, ' ', h->target_len));
	FZ_ASSERT(h->minor == 0 || h->minor == 1);
	if (whole_head)
		FZ_ASSERT(len >= 4 && memcmp(buf + len - 4, "\r\n\r\n", 4) == 0);
	FZ_ASSERT(!memchr(buf, '\0', len));

	int hosts = 0, cls = 0, tes = 0;
	for (size_t i = 0; i < h->nheaders; i++) {
		const struct http_header *hd = &h->headers[i];
		FZ_ASSERT(hd->name > buf && hd->name + hd->name_len <= buf + len && hd->name_len > 0);
		FZ_ASSERT(hd->value >= hd->name + hd->name_len + 1 && hd->value + hd->value_len <= buf + len);
		for (size_t k = 0; k < hd->name_len; k++)
			FZ_ASSERT(http_is_token_char((unsigned char)hd->name[k]));
		FZ_ASSERT(hd->name[hd->name_len] == ':');
		FZ_ASSERT(!fz_has_ctl(hd->value, hd->value_len, true));
		if (hd->value_len > 0) {
			FZ_ASSERT(hd->value[0] != ' ' && hd->value[0] != '\t');
			FZ_ASSERT(hd->value[hd->value_len - 1] != ' ' && hd->value[hd->value_len - 1] != '\t');
		}
		/* No folded line can hide inside: a name starts a line. */
		FZ_ASSERT(hd->name[-1] == '\n' && hd->name[-2] == '\r');
		hosts += name_is(hd, "host", 4);
		cls += name_is(hd, "content-length", 14);
		tes += name_is(hd, "transfer-encoding", 17);
	}
	FZ_ASSERT(hosts <= 1 && cls <= 1 && tes <= 1);
	FZ_ASSERT(hosts == (h->host >= 0));
	FZ_ASSERT(cls == (h->content_length >= 0));
	FZ_ASSERT(tes == (h->transfer_encoding >= 0));
	FZ_ASSERT(!(cls && tes));
	FZ_ASSERT(h->minor == 0 || h->host >= 0);
	FZ_ASSERT(!tes || (h->minor == 1 && h->chunked));
	FZ_ASSERT(h->chunked == (tes == 1));
	if (h->content_length >= 0)
		FZ_ASSERT(h->content_length_value < 1000000000000000000ULL);
	if (h->host >= 0)
		FZ_ASSERT(http_head_get(h, "HOST") == &h->headers[h->host]);
	http_head_get(h, "connection");
	http_head_get(h, "x-missing");
}

/* Parses a copy of exactly LEN bytes, so ASan sees any read past it. */
static int fz_parse(const char *src, size_t len, size_t max_headers, struct http_head *h, bool whole_head)
{
	char *copy = malloc(len ? len : 1);
	if (!copy)
		return -1;
	memcpy(copy, src, len);
	int rc = http_head_parse(copy, len, fz_headers, max_headers, h);
	if (rc == 0)
		fz_check_accepted(copy, len, h, whole_head);
	else
		FZ_ASSERT(h->status == 400 || h->status == 431 || h->status == 501);
	free(copy);
	return rc;
}

static void fz_run(const char *buf, size_t len, size_t max_head, size_t max_headers, size_t split)
{
	size_t scan = 0, skip = 0, end = 0;
	int status = 0;
	enum http_head_end r = http_head_find_end(buf, len, max_head, &scan, &skip, &end, &status);

	switch (r) {
	case HTTP_HEAD_INCOMPLETE:
		FZ_ASSERT(len < max_head);
		break;
	case HTTP_HEAD_BAD:
		FZ_ASSERT(status == 400 || status == 431);
		break;
	case HTTP_HEAD_FOUND:
		FZ_ASSERT(skip < end && end <= len && end <= max_head);
		FZ_ASSERT(end - skip >= 4 && memcmp(buf + end - 4, "\r\n\r\n", 4) == 0);
		FZ_ASSERT(skip % 2 == 0);
		for (size_t i = 0; i < skip; i += 2)
			FZ_ASSERT(buf[i] == '\r' && buf[i + 1] == '\n');
		{
			struct http_head h;
			fz_parse(buf + skip, end - skip, max_headers, &h, true);
		}
		break;
	}

	/* In two pieces, the scan state kept: the same answer. */
	size_t scan2 = 0, skip2 = 0, end2 = 0;
	int status2 = 0;
	enum http_head_end r2 = http_head_find_end(buf, split, max_head, &scan2, &skip2, &end2, &status2);
	if (r2 == HTTP_HEAD_INCOMPLETE)
		r2 = http_head_find_end(buf, len, max_head, &scan2, &skip2, &end2, &status2);
	FZ_ASSERT(r2 == r);
	if (r == HTTP_HEAD_FOUND)
		FZ_ASSERT(end2 == end && skip2 == skip);
	if (r == HTTP_HEAD_BAD)
		FZ_ASSERT(status2 == status);

	/* Byte by byte, for short inputs. */
	if (len <= 256) {
		size_t scan3 = 0, skip3 = 0, end3 = 0;
		int status3 = 0;
		enum http_head_end r3 = HTTP_HEAD_INCOMPLETE;
		for (size_t n = 1; n <= len && r3 == HTTP_HEAD_INCOMPLETE; n++)
			r3 = http_head_find_end(buf, n, max_head, &scan3, &skip3, &end3, &status3);
		if (len > 0)
			FZ_ASSERT(r3 == r);
		if (r == HTTP_HEAD_FOUND)
			FZ_ASSERT(end3 == end && skip3 == skip);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t len = size - 1;
	/* An exact-size copy: a read past the input is a finding. */
	char *buf = malloc(len ? len : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, len);
	size_t split = len ? (size_t)data[0] * len / 256 : 0;

	fz_run(buf, len, 32 * 1024, 100, split);
	fz_run(buf, len, 1024, 4, split);
	fz_run(buf, len, 64, 1, split);

	/* http_head_parse must be safe on any bytes, not only on what
	 * http_head_find_end hands it. */
	struct http_head h;
	fz_parse(buf, len, 100, &h, false);
	free(buf);
	return 0;
}
