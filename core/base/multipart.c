/* multipart/form-data: the boundary from the Content-Type, then each part
 * between two delimiters ("\r\n--" boundary), its Content-Disposition's
 * name and filename. */
#include "multipart.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "errbuf.h"

#define BOUNDARY_MAX 70                 /* RFC 2046 */
#define PART_HEADERS_MAX 8192

bool multipart_is_form(const char *ct)
{
	return ct && strncasecmp(ct, "multipart/form-data", 19) == 0 && (ct[19] == ';' || ct[19] == ' ' || !ct[19]);
}

/* The first occurrence of NEEDLE (NLEN bytes) in HAY (HLEN bytes). */
static const char *find(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	if (nlen == 0 || hlen < nlen)
		return NULL;
	for (const char *p = hay, *end = hay + hlen - nlen; p <= end; p++) {
		p = memchr(p, needle[0], (size_t)(end - p) + 1);
		if (!p)
			return NULL;
		if (memcmp(p, needle, nlen) == 0)
			return p;
	}
	return NULL;
}

/* The value of parameter NAME (e.g. "boundary") in a header value S of
 * LEN bytes, quoted or not, into OUT; -1 when absent or too long. A
 * parameter is found only after a ';'. */
static int param(const char *s, size_t len, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	const char *end = s + len;
	bool quoted = false;
	for (const char *p = s; p < end; p++) {
		if (*p == '"')
			quoted = !quoted;
		if (quoted || *p != ';')
			continue;
		const char *q = p + 1;
		while (q < end && (*q == ' ' || *q == '\t'))
			q++;
		if ((size_t)(end - q) <= nlen || strncasecmp(q, name, nlen) != 0 || q[nlen] != '=')
			continue;
		q += nlen + 1;
		size_t n = 0;
		if (q < end && *q == '"') {
			q++;
			while (q < end && *q != '"') {
				if (*q == '\\' && q + 1 < end)
					q++;
				if (n + 1 >= outlen)
					return -1;
				out[n++] = *q++;
			}
			if (q >= end)
				return -1;
		} else {
			while (q < end && *q != ';' && *q != ' ' && *q != '\t' && *q != '\r' && *q != '\n') {
				if (n + 1 >= outlen)
					return -1;
				out[n++] = *q++;
			}
		}
		out[n] = '\0';
		return 0;
	}
	return -1;
}

/* Reads the headers of a part (HDR, LEN bytes, without the blank line). */
static int part_headers(const char *hdr, size_t len, struct multipart_part *p, char *err, size_t errlen)
{
	bool disposition = false;
	const char *end = hdr + len;
	for (const char *line = hdr; line < end;) {
		const char *eol = find(line, (size_t)(end - line), "\r\n", 2);
		size_t n = eol ? (size_t)(eol - line) : (size_t)(end - line);
		if (n > 20 && strncasecmp(line, "Content-Disposition:", 20) == 0) {
			const char *v = line + 20;
			size_t vlen = n - 20;
			while (vlen && (*v == ' ' || *v == '\t'))
				v++, vlen--;
			if (vlen < 9 || strncasecmp(v, "form-data", 9) != 0) {
				errf(err, errlen, "a part is not form-data");
				return -1;
			}
			char buf[256];
			if (param(v, vlen, "name", buf, sizeof(buf)) != 0 || !buf[0] || strlen(buf) >= sizeof(p->name)) {
				errf(err, errlen, "a part without a valid name");
				return -1;
			}
			memcpy(p->name, buf, strlen(buf) + 1);
			if (param(v, vlen, "filename", buf, sizeof(buf)) == 0) {
				p->is_file = true;
				size_t fl = strlen(buf) < sizeof(p->filename) - 1 ? strlen(buf) : sizeof(p->filename) - 1;
				memcpy(p->filename, buf, fl);   /* a long file name is cut: it is only shown */
				p->filename[fl] = '\0';
			}
			disposition = true;
		}
		line += n + 2;
	}
	if (!disposition) {
		errf(err, errlen, "a part without Content-Disposition");
		return -1;
	}
	return 0;
}

int multipart_parse(const char *ct, const char *body, size_t len, struct multipart_part *parts, int max, char *err,
		    size_t errlen)
{
	char boundary[BOUNDARY_MAX + 1];
	if (!multipart_is_form(ct) || param(ct, strlen(ct), "boundary", boundary, sizeof(boundary)) != 0 ||
	    !boundary[0]) {
		errf(err, errlen, "not multipart/form-data with a boundary of 1 to 70 characters");
		return -1;
	}
	/* The delimiter: CRLF "--" boundary; the first may open the body. */
	char delim[BOUNDARY_MAX + 5];
	int dlen = snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
	const char *p;
	if (len >= (size_t)dlen - 2 && memcmp(body, delim + 2, (size_t)dlen - 2) == 0)
		p = body + dlen - 2;
	else if ((p = find(body, len, delim, (size_t)dlen)) != NULL)
		p += dlen;
	else {
		errf(err, errlen, "the body has no part");
		return -1;
	}
	const char *end = body + len;
	int n = 0;
	for (;;) {
		/* After a delimiter: "--" ends the body, CRLF starts a part. */
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			return n;
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
			errf(err, errlen, "a malformed delimiter");
			return -1;
		}
		p += 2;
		if (n >= max) {
			errf(err, errlen, "more than %d parts", max);
			return -1;
		}
		size_t avail = (size_t)(end - p);
		const char *hend = find(p, avail < PART_HEADERS_MAX ? avail : PART_HEADERS_MAX, "\r\n\r\n", 4);
		if (!hend && avail >= 2 && p[0] == '\r' && p[1] == '\n')
			hend = p - 2;   /* no headers at all */
		if (!hend) {
			errf(err, errlen, "a part's headers do not end (or are over 8 KiB)");
			return -1;
		}
		struct multipart_part *part = &parts[n];
		memset(part, 0, sizeof(*part));
		if (part_headers(p, hend > p ? (size_t)(hend - p) : 0, part, err, errlen) != 0)
			return -1;
		const char *data = hend + 4;
		const char *next = find(data, (size_t)(end - data), delim, (size_t)dlen);
		if (!next) {
			errf(err, errlen, "the body ends inside a part");
			return -1;
		}
		part->data = data;
		part->len = (size_t)(next - data);
		n++;
		p = next + dlen;
	}
}

const struct multipart_part *multipart_find(const struct multipart_part *parts, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(parts[i].name, name) == 0)
			return &parts[i];
	return NULL;
}
