/* Mail: the MIME builder. A message is plain text and, when given, HTML
 * as multipart/alternative, quoted-printable, with RFC 2047 encoded words
 * in the headers; it grows in a buffer with a maximum and fails whole. */
#include "encode.h"
#include "mail.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "mail_internal.h"
#include "utf8.h"

#define HEADER_LINE 78                  /* RFC 5322's recommended line length */
#define QP_LINE 76                      /* RFC 2045's limit for quoted-printable lines */

/* A message under construction: grows up to max, then fails for good. */
struct mbuf {
	char *p;
	size_t len, cap, max;
	bool failed;
	bool too_big;
};

static void mb_put(struct mbuf *b, const char *s, size_t n);
static void mb_puts(struct mbuf *b, const char *s);
static void mb_printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *header_clean(const char *s, size_t max);
/* A printable ASCII value is written as it is when it fits on the line;
 * anything else becomes encoded words. */
static bool plain_ascii(const char *s);
static size_t word_take(const unsigned char *s, size_t n, size_t room);
static size_t word_room(size_t col);
static size_t put_encoded_words(struct mbuf *b, size_t col, const char *s);
static void put_subject(struct mbuf *b, const char *subject);
static void put_from(struct mbuf *b, const char *name, const char *addr);
static void put_date(struct mbuf *b, time_t t);
static void put_qp(struct mbuf *b, const char *s, size_t n);
static void put_part_head(struct mbuf *b, const char *type);
static bool unsubscribe_valid(const char *url);

/* ---------------------------------------------------------------- MIME */

int mail_build(const struct mail_message *m, char **out, size_t *outlen, char *err, size_t errlen)
{
	*out = NULL;
	*outlen = 0;
	if (!mail_address_valid(m->from_addr)) {
		mail_errf(err, errlen, "invalid sender address");
		return -1;
	}
	if (!mail_address_valid(m->to)) {
		mail_errf(err, errlen, "invalid recipient address");
		return -1;
	}
	if (m->unsubscribe && !unsubscribe_valid(m->unsubscribe)) {
		mail_errf(err, errlen, "the unsubscribe link is not an https URL of printable ASCII");
		return -1;
	}
	if (!m->text) {
		mail_errf(err, errlen, "no text body");
		return -1;
	}
	size_t tn = strnlen(m->text, MAIL_BODY_MAX + 1), hn = m->html ? strnlen(m->html, MAIL_BODY_MAX + 1) : 0;
	if (tn > MAIL_BODY_MAX || hn > MAIL_BODY_MAX) {
		mail_errf(err, errlen, "body larger than %d bytes", MAIL_BODY_MAX);
		return -1;
	}

	/* "=_" never occurs in quoted-printable text ('=' is always followed
	 * by two hex digits or a line break), so the boundary cannot occur
	 * in an encoded body whatever it holds; the random part makes it
	 * unique. */
	char boundary[48];
	unsigned char rnd[16];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		mail_errf(err, errlen, "no random bytes for the boundary");
		return -1;
	}
	memcpy(boundary, "=_aantafel_", 11);
	for (size_t i = 0; i < sizeof(rnd); i++) {
		boundary[11 + 2 * i] = enc_hex_digits[rnd[i] >> 4];
		boundary[12 + 2 * i] = enc_hex_digits[rnd[i] & 15];
	}
	boundary[11 + 2 * sizeof(rnd)] = '\0';

	struct mbuf b = {.max = MAIL_MESSAGE_MAX};
	put_date(&b, m->date);
	put_from(&b, m->from_name, m->from_addr);
	mb_printf(&b, "To: %s\r\n", m->to);
	put_subject(&b, m->subject ? m->subject : "");
	mb_printf(&b, "Message-ID: <%" PRId64 ".%" PRId64 ".%" PRId64 "@%s>\r\n", m->id, m->tenant_id, m->created_us,
		  strchr(m->from_addr, '@') + 1);
	mb_puts(&b, "MIME-Version: 1.0\r\n");
	mb_puts(&b, "Auto-Submitted: auto-generated\r\n");
	/* A notification's one-click unsubscribe (RFC 8058): the link as
	 * List-Unsubscribe, and the POST a mail client sends to it. Only an
	 * https URL of safe characters is written, so no value can end the
	 * header; any other failed the message above (its outbox row says
	 * why) rather than send it without the way out its text promises. */
	if (m->unsubscribe) {
		mb_printf(&b, "List-Unsubscribe: <%s>\r\n", m->unsubscribe);
		mb_puts(&b, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
	}
	if (!m->html) {
		put_part_head(&b, "text/plain");
		put_qp(&b, m->text, tn);
		/* The message ends with a line break, which is the text's own
		 * when it has one. */
		if (tn == 0 || (m->text[tn - 1] != '\n' && m->text[tn - 1] != '\r'))
			mb_puts(&b, "\r\n");
	} else {
		mb_printf(&b, "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n", boundary);
		mb_printf(&b, "--%s\r\n", boundary);
		put_part_head(&b, "text/plain");
		put_qp(&b, m->text, tn);
		mb_printf(&b, "\r\n--%s\r\n", boundary);
		put_part_head(&b, "text/html");
		put_qp(&b, m->html, hn);
		mb_printf(&b, "\r\n--%s--\r\n", boundary);
	}
	if (b.failed) {
		free(b.p);
		if (b.too_big)
			mail_errf(err, errlen, "message larger than %d bytes", MAIL_MESSAGE_MAX);
		else
			mail_errf(err, errlen, "out of memory");
		return -1;
	}
	*out = b.p;
	*outlen = b.len;
	return 0;
}

static void put_part_head(struct mbuf *b, const char *type)
{
	mb_printf(b, "Content-Type: %s; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", type);
}

/* An https URL (RFC 8058 asks it of a one-click link) of printable ASCII
 * without spaces or angle brackets, short enough for one header line. */
static bool unsubscribe_valid(const char *url)
{
	size_t n = strlen(url);
	if (n > 500 || strncmp(url, "https://", 8) != 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (url[i] <= ' ' || url[i] >= 127 || url[i] == '<' || url[i] == '>')
			return false;
	return true;
}

static bool plain_ascii(const char *s)
{
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return false;
	return !strstr(s, "=?");
}

static void put_subject(struct mbuf *b, const char *subject)
{
	char *s = header_clean(subject, MAIL_SUBJECT_MAX);
	if (!s) {
		b->failed = true;
		return;
	}
	mb_puts(b, "Subject: ");
	if (plain_ascii(s) && strlen(s) + 9 <= HEADER_LINE)
		mb_puts(b, s);
	else
		put_encoded_words(b, 9, s);
	mb_puts(b, "\r\n");
	free(s);
}

static void put_from(struct mbuf *b, const char *name, const char *addr)
{
	char *s = header_clean(name ? name : "", MAIL_NAME_MAX);
	if (!s) {
		b->failed = true;
		return;
	}
	if (!s[0]) {
		mb_printf(b, "From: <%s>\r\n", addr);
		free(s);
		return;
	}
	size_t quoted = 2;
	for (const char *p = s; *p; p++)
		quoted += (*p == '"' || *p == '\\') ? 2 : 1;
	size_t col;
	if (plain_ascii(s) && 6 + quoted + 3 + strlen(addr) <= HEADER_LINE) {
		mb_puts(b, "From: \"");
		for (const char *p = s; *p; p++) {
			if (*p == '"' || *p == '\\')
				mb_put(b, "\\", 1);
			mb_put(b, p, 1);
		}
		mb_puts(b, "\"");
		col = 6 + quoted;
	} else {
		mb_puts(b, "From: ");
		col = put_encoded_words(b, 6, s);
	}
	if (col + 3 + strlen(addr) > HEADER_LINE)
		mb_printf(b, "\r\n <%s>\r\n", addr);
	else
		mb_printf(b, " <%s>\r\n", addr);
	free(s);
}

/* A copy of S for a header: at most MAX bytes of whole characters, control
 * characters (C0, DEL, C1) turned into spaces, malformed UTF-8 into '?'. */
static char *header_clean(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq_len(p + i, n - i);
		if (l == 0) {
			/* Malformed, or a character cut by the limit. */
			if (n == max && n - i < 4 && p[i] >= 0xc2)
				break;
			out[o++] = '?';
			i++;
		} else if (l == 1) {
			out[o++] = (p[i] < 0x20 || p[i] == 0x7f) ? ' ' : (char)p[i];
			i++;
		} else if (l == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0) {
			out[o++] = ' ';
			i += 2;
		} else {
			memcpy(out + o, p + i, l);
			o += l;
			i += l;
		}
	}
	out[o] = '\0';
	return out;
}

/* Bytes of S[0..N) that make whole characters and fit in ROOM bytes (a
 * malformed byte counts as one character). */
static size_t word_take(const unsigned char *s, size_t n, size_t room)
{
	size_t take = 0;
	while (take < n) {
		size_t l = utf8_seq_len(s + take, n - take);
		if (l == 0)
			l = 1;
		if (take + l > room)
			break;
		take += l;
	}
	return take;
}

/* Raw bytes an encoded word starting at column COL may carry on the line:
 * "=?UTF-8?B?" and "?=" take 12, each 3 bytes 4 more; a word is at most
 * 75 bytes (45 raw bytes). */
static size_t word_room(size_t col)
{
	if (col + 12 + 4 > HEADER_LINE)
		return 0;
	size_t room = (HEADER_LINE - col - 12) / 4 * 3;
	return room > 45 ? 45 : room;
}

/* Writes S as RFC 2047 "B" encoded words of UTF-8, starting at column COL
 * of the current line, each word of whole characters, folding before a
 * word that would pass HEADER_LINE. Returns the column after the last
 * word. */
static size_t put_encoded_words(struct mbuf *b, size_t col, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0;
	bool first = true;
	do {
		size_t sep = first ? 0 : 1; /* the space between two words */
		size_t take = word_take(p + i, n - i, word_room(col + sep));
		if (take == 0 && i < n) {
			/* Not one character fits: fold; the folding space
			 * separates the words. */
			mb_puts(b, "\r\n");
			col = 0;
			sep = 1;
			take = word_take(p + i, n - i, word_room(col + sep));
		}
		if (sep)
			mb_put(b, " ", 1);
		col += sep;
		mb_puts(b, "=?UTF-8?B?");
		char word[HEADER_LINE + 1];     /* word_room keeps a word within a line */
		size_t wlen = enc_base64(p + i, take, true, word, sizeof(word));
		mb_put(b, word, wlen);
		col += wlen;
		mb_puts(b, "?=");
		col += 12;
		i += take;
		first = false;
	} while (i < n);
	return col;
}

/* RFC 5322 date in UTC, without the locale. */
static void put_date(struct mbuf *b, time_t t)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	if (!gmtime_r(&t, &tm)) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	mb_printf(b, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday % 7], tm.tm_mday,
		  months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Quoted-printable (RFC 2045): every line break of the input (CRLF, LF or
 * CR) becomes CRLF; '=', bytes outside printable ASCII, whitespace before
 * a line break, a '.' or "From " at the start of a line are encoded; lines
 * are broken softly before QP_LINE. */
static void put_qp(struct mbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r' || c == '\n') {
			mb_put(b, "\r\n", 2);
			col = 0;
			i += (c == '\r' && i + 1 < n && s[i + 1] == '\n') ? 2 : 1;
			continue;
		}
		bool eol = i + 1 == n || s[i + 1] == '\r' || s[i + 1] == '\n';
		bool enc = c == '=' || c > 0x7e || (c < 0x20 && c != '\t') || ((c == ' ' || c == '\t') && eol) ||
			   (col == 0 && (c == '.' || (c == 'F' && n - i >= 5 && memcmp(s + i, "From ", 5) == 0)));
		size_t w = enc ? 3 : 1;
		if (col + w > QP_LINE - 1) {
			mb_put(b, "=\r\n", 3);
			col = 0;
			continue;
		}
		if (enc) {
			char e[3] = {'=', hex[c >> 4], hex[c & 15]};
			mb_put(b, e, 3);
		} else {
			mb_put(b, s + i, 1);
		}
		col += w;
		i++;
	}
}

static void mb_put(struct mbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (n > b->max - b->len) {
		b->failed = b->too_big = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void mb_puts(struct mbuf *b, const char *s)
{
	mb_put(b, s, strlen(s));
}

static void mb_printf(struct mbuf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->failed = true;
		return;
	}
	mb_put(b, tmp, (size_t)n);
}
