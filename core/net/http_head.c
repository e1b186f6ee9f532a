/* The request-head checks the README's HTTP section lists: what nginx
 * rejects is rejected here. Pure functions over a byte range, so that the
 * unit tests and the fuzzer can drive them without a socket. */
#include "http_head.h"

#include <string.h>
#include <strings.h>

static const unsigned char token_table[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
	['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
	['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
	['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
	['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
	['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
	['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
	['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
	['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
	['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static int reject(struct http_head *h, int status, const char *reason);
static bool name_is(const struct http_header *hd, const char *name, size_t len);
static bool value_is(const char *v, size_t len, const char *word);
static int check_host(const char *v, size_t len);
static int check_target(struct http_head *h);
static void scan_connection(struct http_head *h, const char *v, size_t len);

bool http_is_token_char(unsigned char c)
{
	return token_table[c] != 0;
}

enum http_head_end http_head_find_end(const char *buf, size_t len, size_t max_head, size_t *scan,
				      size_t *skip, size_t *end, int *status)
{
	size_t i = *scan;
	/* Only the first max_head bytes are looked at, leading empty lines
	 * included. So every byte held before a head is complete stays
	 * within max_head (the connection's input buffer, max_head plus
	 * slack, never fills with a head still incomplete), and the answer
	 * does not depend on how the bytes were split into reads: a bare LF
	 * past the limit is never seen, the limit answers first. */
	size_t lim = len < max_head ? len : max_head;

	/* RFC 9112 2.2: a server SHOULD ignore empty lines before the
	 * request line (clients send an extra CRLF after a POST body).
	 * *scan == *skip means nothing past them has been seen yet. */
	if (i == *skip) {
		while (i + 1 < lim && buf[i] == '\r' && buf[i + 1] == '\n')
			i += 2;
		if (i < lim && buf[i] == '\n') {
			*status = 400;
			return HTTP_HEAD_BAD;
		}
		*skip = i;
		*scan = i;
		/* A CR alone may start one more empty line: stay in this phase
		 * until its next byte arrives, or a head that comes byte by
		 * byte would keep that line (and be refused). */
		if (i + 1 == len && buf[i] == '\r')
			goto incomplete;
	}

	while (i < lim) {
		const char *lf = memchr(buf + i, '\n', lim - i);
		if (!lf) {
			i = lim;
			break;
		}
		size_t at = (size_t)(lf - buf);
		if (at == 0 || buf[at - 1] != '\r') {
			*status = 400;  /* bare LF */
			return HTTP_HEAD_BAD;
		}
		/* "\r\n\r\n": the line that ended here was empty. Its end is
		 * within max_head, since at < lim. */
		if (at >= *skip + 3 && buf[at - 2] == '\n') {
			*end = at + 1;
			return HTTP_HEAD_FOUND;
		}
		i = at + 1;
	}
	/* Resuming at lim is safe for "\r" + "\n" split across reads: the
	 * LF check above looks one byte back. */
	*scan = i;
incomplete:
	if (len >= max_head) {
		*status = 431;
		return HTTP_HEAD_BAD;
	}
	return HTTP_HEAD_INCOMPLETE;
}

int http_head_parse(const char *buf, size_t len, struct http_header *headers, size_t max_headers,
		    struct http_head *h)
{
	const char *p = buf, *e = buf + len;

	memset(h, 0, sizeof(*h));
	h->headers = headers;
	h->host = h->content_length = h->transfer_encoding = -1;

	/* Control bytes anywhere in the head, except CR before LF and HTAB
	 * inside header values, are refused (NUL, bare CR, DEL, ...). A bare
	 * LF is refused here too, not only by http_head_find_end: the line
	 * splitting below looks for CR and would keep it inside a value. */
	for (const char *q = buf; q < e; q++) {
		unsigned char c = (unsigned char)*q;
		if (c == '\r') {
			if (q + 1 >= e || q[1] != '\n')
				return reject(h, 400, "bare CR in head");
		} else if (c == '\n') {
			if (q == buf || q[-1] != '\r')
				return reject(h, 400, "bare LF in head");
		} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
			return reject(h, 400, "control character in head");
		}
	}

	/* request-line = method SP request-target SP HTTP-version CRLF */
	h->method = p;
	while (p < e && token_table[(unsigned char)*p])
		p++;
	h->method_len = (size_t)(p - h->method);
	if (h->method_len == 0 || p >= e || *p != ' ')
		return reject(h, 400, "malformed method");
	p++;
	h->target = p;
	while (p < e && (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
		p++;
	h->target_len = (size_t)(p - h->target);
	if (h->target_len == 0 || p >= e || *p != ' ')
		return reject(h, 400, "malformed request target");
	p++;
	if (e - p < 10 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
	    p[8] != '\r' || p[9] != '\n')
		return reject(h, 400, "unsupported HTTP version");
	h->minor = p[7] - '0';
	p += 10;
	if (check_target(h) != 0)
		return -1;

	/* header-field = field-name ":" OWS field-value OWS CRLF */
	while (p < e) {
		if (p[0] == '\r')               /* the blank line */
			break;
		if (p[0] == ' ' || p[0] == '\t')
			return reject(h, 400, "folded header line");
		const char *name = p;
		while (p < e && token_table[(unsigned char)*p])
			p++;
		if (p == name || p >= e || *p != ':')
			return reject(h, 400, "invalid header name");
		size_t name_len = (size_t)(p - name);
		p++;
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		const char *value = p;
		const char *cr = memchr(p, '\r', (size_t)(e - p));
		if (!cr)
			return reject(h, 400, "unterminated header line");
		const char *vend = cr;
		while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
			vend--;
		p = cr + 2;

		if (h->nheaders >= max_headers)
			return reject(h, 431, "too many headers");
		struct http_header *hd = &headers[h->nheaders];
		hd->name = name;
		hd->name_len = (uint32_t)name_len;
		hd->value = value;
		hd->value_len = (uint32_t)(vend - value);
		int idx = (int)h->nheaders++;

		if (name_is(hd, "host", 4)) {
			if (h->host >= 0)
				return reject(h, 400, "duplicate Host");
			if (check_host(hd->value, hd->value_len) != 0)
				return reject(h, 400, "invalid Host");
			h->host = idx;
		} else if (name_is(hd, "content-length", 14)) {
			if (h->content_length >= 0)
				return reject(h, 400, "duplicate Content-Length");
			if (hd->value_len == 0 || hd->value_len > 18)
				return reject(h, 400, "invalid Content-Length");
			uint64_t v = 0;
			for (uint32_t i = 0; i < hd->value_len; i++) {
				unsigned char c = (unsigned char)hd->value[i];
				if (c < '0' || c > '9')
					return reject(h, 400, "invalid Content-Length");
				v = v * 10 + (uint64_t)(c - '0');
			}
			h->content_length = idx;
			h->content_length_value = v;
		} else if (name_is(hd, "transfer-encoding", 17)) {
			if (h->transfer_encoding >= 0)
				return reject(h, 400, "duplicate Transfer-Encoding");
			h->transfer_encoding = idx;
		} else if (name_is(hd, "connection", 10)) {
			scan_connection(h, hd->value, hd->value_len);
		} else if (name_is(hd, "expect", 6)) {
			if (value_is(hd->value, hd->value_len, "100-continue"))
				h->expect_continue = true;
		}
	}

	if (h->transfer_encoding >= 0) {
		if (h->content_length >= 0)
			return reject(h, 400, "Content-Length with Transfer-Encoding");
		if (h->minor == 0)
			return reject(h, 400, "Transfer-Encoding in HTTP/1.0");
		const struct http_header *te = &headers[h->transfer_encoding];
		if (!value_is(te->value, te->value_len, "chunked"))
			return reject(h, 501, "unsupported Transfer-Encoding");
		h->chunked = true;
	}
	if (h->minor == 1 && h->host < 0)
		return reject(h, 400, "HTTP/1.1 without Host");
	return 0;
}

const struct http_header *http_head_get(const struct http_head *h, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < h->nheaders; i++)
		if (name_is(&h->headers[i], name, len))
			return &h->headers[i];
	return NULL;
}

/* ---------------------------------------------------------------- helpers */

static int reject(struct http_head *h, int status, const char *reason)
{
	h->status = status;
	h->reason = reason;
	return -1;
}

static bool name_is(const struct http_header *hd, const char *name, size_t len)
{
	return hd->name_len == len && strncasecmp(hd->name, name, len) == 0;
}

static bool value_is(const char *v, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(v, word, len) == 0;
}

/* Host = uri-host [ ":" port ]: reg-name, IPv4 or an IP literal. */
static int check_host(const char *v, size_t len)
{
	static const char allowed[] = "-._~!$&'()*+,;=:[]%";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c != 0 && strchr(allowed, c))))
			return -1;
	}
	return 0;
}

static int check_target(struct http_head *h)
{
	const char *t = h->target;
	size_t n = h->target_len;
	if (t[0] == '/')
		return 0;
	if (n == 1 && t[0] == '*') {
		if (h->method_len == 7 && memcmp(h->method, "OPTIONS", 7) == 0)
			return 0;
		return reject(h, 400, "asterisk target outside OPTIONS");
	}
	size_t scheme = 0;
	if (n > 7 && strncasecmp(t, "http://", 7) == 0)
		scheme = 7;
	else if (n > 8 && strncasecmp(t, "https://", 8) == 0)
		scheme = 8;
	if (scheme == 0)
		return reject(h, 400, "malformed request target");
	/* absolute-form: its authority replaces Host, so it passes the same
	 * check Host does (no userinfo, no stray characters). */
	size_t a = scheme;
	while (a < n && t[a] != '/' && t[a] != '?')
		a++;
	if (a == scheme || check_host(t + scheme, a - scheme) != 0)
		return reject(h, 400, "invalid authority in request target");
	return 0;
}

static void scan_connection(struct http_head *h, const char *v, size_t len)
{
	size_t i = 0;
	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t start = i;
		while (i < len && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
			i++;
		if (value_is(v + start, i - start, "close"))
			h->conn_close = true;
		else if (value_is(v + start, i - start, "keep-alive"))
			h->conn_keep_alive = true;
	}
}
