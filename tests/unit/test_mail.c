/* The MIME builder and the checks in front of it: addresses, header
 * texts, encoded words, quoted-printable bodies, boundaries, and that no
 * subject, name or address can add a header line. Messages are decoded
 * here again and compared with what went in. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mail.h"

/* ---------------------------------------------------------------- helpers */

struct built {
	char *msg;
	size_t len;
	char *head;     /* the header block, unfolded copy */
	const char *body;
};

static int build(const struct mail_message *m, struct built *b)
{
	char err[256];
	memset(b, 0, sizeof(*b));
	if (mail_build(m, &b->msg, &b->len, err, sizeof(err)) != 0)
		return -1;
	const char *end = strstr(b->msg, "\r\n\r\n");
	if (!end)
		return -2;
	size_t hl = (size_t)(end - b->msg) + 2;
	b->head = malloc(hl + 1);
	/* Unfold: CRLF followed by a space continues the field. */
	size_t o = 0;
	for (size_t i = 0; i < hl; i++) {
		if (b->msg[i] == '\r' && b->msg[i + 1] == '\n' && i + 2 < hl && b->msg[i + 2] == ' ') {
			i++;
			continue;
		}
		b->head[o++] = b->msg[i];
	}
	b->head[o] = '\0';
	b->body = end + 4;
	return 0;
}

static void built_free(struct built *b)
{
	free(b->msg);
	free(b->head);
}

/* Every line ends in CRLF (no bare CR or LF), is at most MAX bytes, and
 * the message is 7-bit ASCII without NUL. */
static void check_lines(const struct built *b, size_t max, const char *what)
{
	size_t col = 0, longest = 0;
	bool bare = false, eight = false;
	for (size_t i = 0; i < b->len; i++) {
		unsigned char c = (unsigned char)b->msg[i];
		if (c == '\r') {
			if (i + 1 >= b->len || b->msg[i + 1] != '\n')
				bare = true;
			continue;
		}
		if (c == '\n') {
			if (i == 0 || b->msg[i - 1] != '\r')
				bare = true;
			if (col > longest)
				longest = col;
			col = 0;
			continue;
		}
		if (c == 0 || c > 0x7e)
			eight = true;
		col++;
	}
	if (col > longest)
		longest = col;
	CHECK_MSG(!bare, "%s: bare CR or LF", what);
	CHECK_MSG(!eight, "%s: 8-bit or NUL byte", what);
	CHECK_MSG(longest <= max, "%s: a line of %zu bytes", what, longest);
	CHECK_MSG(b->len >= 2 && b->msg[b->len - 2] == '\r' && b->msg[b->len - 1] == '\n', "%s: no final CRLF", what);
}

/* The header field NAME's (unfolded) value, or NULL; *COUNT how many. */
static char *header(const struct built *b, const char *name, int *count)
{
	char *found = NULL;
	int n = 0;
	size_t nl = strlen(name);
	for (const char *p = b->head; *p;) {
		const char *eol = strstr(p, "\r\n");
		if (!eol)
			break;
		if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			n++;
			if (!found) {
				const char *v = p + nl + 1;
				while (*v == ' ')
					v++;
				found = strndup(v, (size_t)(eol - v));
			}
		}
		p = eol + 2;
	}
	if (count)
		*count = n;
	return found;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes a header value of encoded words ("=?UTF-8?B?...?=" separated by
 * spaces) and plain text; returns a malloc'd string. Encoded words must be
 * at most 75 bytes each. */
static char *decode_words(const char *v, bool *ok)
{
	char *out = malloc(strlen(v) + 1);
	size_t o = 0;
	*ok = true;
	const char *p = v;
	bool last_word = false;
	while (*p) {
		if (strncmp(p, "=?UTF-8?B?", 10) == 0) {
			const char *e = strstr(p + 10, "?=");
			if (!e) {
				*ok = false;
				break;
			}
			if (e + 2 - p > 75)
				*ok = false;
			unsigned acc = 0;
			int bits = 0;
			for (const char *q = p + 10; q < e; q++) {
				if (*q == '=')
					break;
				int x = b64val(*q);
				if (x < 0) {
					*ok = false;
					break;
				}
				acc = (acc << 6) | (unsigned)x;
				bits += 6;
				if (bits >= 8) {
					bits -= 8;
					out[o++] = (char)((acc >> bits) & 0xff);
				}
			}
			p = e + 2;
			last_word = true;
			continue;
		}
		if (*p == ' ' && last_word) {
			/* Whitespace between two encoded words is dropped. */
			const char *q = p;
			while (*q == ' ')
				q++;
			if (strncmp(q, "=?", 2) == 0) {
				p = q;
				continue;
			}
		}
		last_word = false;
		out[o++] = *p++;
	}
	out[o] = '\0';
	return out;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes quoted-printable S[0..N) to LF line ends (the input's CRLF
 * hard breaks); *OK false on a malformed escape or a line over 76. */
static char *decode_qp(const char *s, size_t n, bool *ok)
{
	char *out = malloc(n + 1);
	size_t o = 0, col = 0;
	*ok = true;
	for (size_t i = 0; i < n;) {
		if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') {
			out[o++] = '\n';
			i += 2;
			col = 0;
			continue;
		}
		if (s[i] == '=') {
			if (i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n') {
				if (col + 1 > 76)
					*ok = false;
				i += 3;
				col = 0;
				continue;
			}
			int h = i + 2 < n ? hexval(s[i + 1]) : -1, l = i + 2 < n ? hexval(s[i + 2]) : -1;
			if (h < 0 || l < 0) {
				*ok = false;
				i++;
				continue;
			}
			out[o++] = (char)(h * 16 + l);
			i += 3;
			col += 3;
		} else {
			if ((s[i] == ' ' || s[i] == '\t') && i + 1 < n && s[i + 1] == '\r')
				*ok = false;    /* trailing whitespace before a hard break */
			out[o++] = s[i++];
			col++;
		}
		if (col > 76)
			*ok = false;
	}
	out[o] = '\0';
	return out;
}

/* The content of the part of TYPE in a multipart body with BOUNDARY. */
static char *part(const struct built *b, const char *boundary, const char *type, bool *ok)
{
	char delim[128], ct[128];
	snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
	snprintf(ct, sizeof(ct), "Content-Type: %s; charset=UTF-8\r\n", type);
	const char *p = strstr(b->msg, ct);
	*ok = false;
	if (!p)
		return NULL;
	const char *start = strstr(p, "\r\n\r\n");
	if (!start)
		return NULL;
	start += 4;
	const char *end = strstr(start - 2, delim);
	if (!end)
		return NULL;
	if (end < start)
		end = start;
	return decode_qp(start, (size_t)(end - start), ok);
}

static char *boundary_of(const struct built *b)
{
	char *ct = header(b, "Content-Type", NULL);
	if (!ct)
		return NULL;
	char *q = strstr(ct, "boundary=\"");
	char *out = NULL;
	if (q) {
		q += 10;
		char *e = strchr(q, '"');
		if (e)
			out = strndup(q, (size_t)(e - q));
	}
	free(ct);
	return out;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* ---------------------------------------------------------------- tests */

static struct mail_message base(void)
{
	struct mail_message m = {
		.from_addr = "noreply@zutphen.example",
		.from_name = "Gemeente Zutphen",
		.to = "ria@example.org",
		.subject = "Uw aanmelding",
		.text = "Hallo Ria,\n\nWelkom aan tafel.\n",
		.html = "<p>Hallo Ria,</p><p>Welkom aan tafel.</p>",
		.date = 1772539200,             /* Tue, 03 Mar 2026 12:00:00 UTC */
		.tenant_id = 7,
		.id = 42,
		.created_us = 1772539200123456,
	};
	return m;
}

static void test_addresses(void)
{
	static const char *good[] = {
		"ria@example.org", "a.b-c+tag@sub.example.nl", "x@y", "o'brien@example.ie",
		"user_name@example-domain.com", "1@2.3",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK_MSG(mail_address_valid(good[i]), "%s should be valid", good[i]);
	static const char *bad[] = {
		"", "@", "a@", "@b", "ab", "a@@b.c", "a@b@c", "a b@c.d", "a@b .c", "a@b.c ", " a@b.c",
		"a@b.c\r\nBcc: x@y.z", "a@b.c\n", "a\r@b.c", "a\t@b.c", "<a@b.c>", "a@b.c>, <c@d.e", "a,b@c.d",
		"\"a\"@b.c", "a@[127.0.0.1]", "a(x)@b.c", ".a@b.c", "a.@b.c", "a..b@c.d", "a@.b", "a@b.", "a@b..c",
		"a@-b.c", "a@b-.c", "a@b_c.d", "ri\xc3\xa4@example.org", "a@\xc3\xa9.nl", "a;b@c.d", "a@b:25",
		"a\\b@c.d", "a@b/c",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(!mail_address_valid(bad[i]), "%s should be invalid", bad[i]);
	CHECK(!mail_address_valid(NULL));

	/* Lengths: local part 64, the whole 254. */
	char a[300];
	memset(a, 'a', 64);
	strcpy(a + 64, "@example.org");
	CHECK(mail_address_valid(a));
	memset(a, 'a', 65);
	strcpy(a + 65, "@example.org");
	CHECK(!mail_address_valid(a));
	/* 254 bytes: "a@" + labels of 63 and dots. */
	char d[300] = "a@";
	size_t n = 2;
	while (n + 64 <= 254) {
		memset(d + n, 'b', 63);
		n += 63;
		d[n++] = '.';
	}
	memset(d + n, 'c', 254 - n);
	d[254] = '\0';
	CHECK_INT_EQ(strlen(d), 254);
	CHECK(mail_address_valid(d));
	d[254] = 'c';
	d[255] = '\0';
	CHECK(!mail_address_valid(d));
	/* A label of 64. */
	memset(a, 'x', sizeof(a));
	a[0] = 'a';
	a[1] = '@';
	a[66] = '\0';
	CHECK(!mail_address_valid(a));
	a[65] = '\0';
	CHECK(mail_address_valid(a));
}

static void test_header_texts(void)
{
	CHECK(mail_header_text_valid("Uw aanmelding", 500));
	CHECK(mail_header_text_valid("\xc3\x89\xc3\xa9n tafel", 500));
	CHECK(mail_header_text_valid("", 500));
	CHECK(!mail_header_text_valid("a\r\nBcc: x@y.z", 500));
	CHECK(!mail_header_text_valid("a\nb", 500));
	CHECK(!mail_header_text_valid("a\rb", 500));
	CHECK(!mail_header_text_valid("a\tb", 500));
	CHECK(!mail_header_text_valid("a\x7f", 500));
	CHECK(!mail_header_text_valid("a\xc2\x85" "b", 500)); /* NEL, a C1 control */
	CHECK(!mail_header_text_valid("\xff", 500));
	CHECK(!mail_header_text_valid("\xc3", 500));
	CHECK(!mail_header_text_valid("abcdef", 5));
	CHECK(mail_header_text_valid("abcde", 5));
	CHECK(!mail_header_text_valid(NULL, 5));
}

static void test_transports(void)
{
	enum mail_transport_kind k;
	char err[256];
	CHECK(mail_transport_parse("off", &k, err, sizeof(err)) == 0 && k == MAIL_TRANSPORT_OFF);
	CHECK(mail_transport_parse("file:var/mail", &k, err, sizeof(err)) == 0 && k == MAIL_TRANSPORT_FILE);
	CHECK(mail_transport_parse("smtp://127.0.0.1:2525", &k, err, sizeof(err)) == 0 && k == MAIL_TRANSPORT_SMTP);
	CHECK(mail_transport_parse("smtp://mail.example.org", &k, err, sizeof(err)) == 0 && k == MAIL_TRANSPORT_SMTP);
	CHECK(mail_transport_parse("smtps://mail.example.org:465", &k, err, sizeof(err)) == 0);
	CHECK(mail_transport_parse("smtp://[::1]:25", &k, err, sizeof(err)) == 0);
	static const char *bad[] = {
		"file:", "smtp://", "smtp://:25", "smtp://host:", "smtp://host:0", "smtp://host:65536",
		"smtp://host:25/path", "smtp://user:pw@host", "smtp://host name", "http://host", "smtp:/host",
		"smtp://[::1", "SMTP://host", "on", "smtp://host:25\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(mail_transport_parse(bad[i], &k, err, sizeof(err)) != 0, "%s should be refused", bad[i]);
	CHECK(mail_transport_parse("smtp://user:pw@host", &k, err, sizeof(err)) != 0);
	CHECK_CONTAINS(err, "smtp_user");
}

static void test_plain_message(void)
{
	struct mail_message m = base();
	struct built b;
	CHECK_INT_EQ(build(&m, &b), 0);
	check_lines(&b, 78, "plain");
	char *v;
	int n;
	CHECK_STR_EQ(v = header(&b, "Date", &n), "Tue, 03 Mar 2026 12:00:00 +0000");
	free(v);
	CHECK_STR_EQ(v = header(&b, "From", &n), "\"Gemeente Zutphen\" <noreply@zutphen.example>");
	free(v);
	CHECK_STR_EQ(v = header(&b, "To", &n), "ria@example.org");
	free(v);
	CHECK_STR_EQ(v = header(&b, "Subject", &n), "Uw aanmelding");
	free(v);
	CHECK_STR_EQ(v = header(&b, "Message-ID", &n), "<42.7.1772539200123456@zutphen.example>");
	free(v);
	CHECK_STR_EQ(v = header(&b, "MIME-Version", &n), "1.0");
	free(v);
	/* Each header once. */
	static const char *once[] = {"Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Content-Type"};
	for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++) {
		v = header(&b, once[i], &n);
		CHECK_MSG(n == 1, "%s appears %d times", once[i], n);
		free(v);
	}
	CHECK(header(&b, "Bcc", &n) == NULL && n == 0);
	CHECK(header(&b, "Cc", &n) == NULL);

	char *bd = boundary_of(&b);
	CHECK(bd != NULL);
	if (bd) {
		CHECK(strncmp(bd, "=_", 2) == 0);
		CHECK(strlen(bd) <= 70);
		char line[128];
		snprintf(line, sizeof(line), "\r\n--%s\r\n", bd);
		CHECK_INT_EQ(count(b.msg, line), 2);
		snprintf(line, sizeof(line), "\r\n--%s--\r\n", bd);
		CHECK_INT_EQ(count(b.msg, line), 1);
		CHECK_INT_EQ(count(b.msg, bd), 4); /* the header and three delimiters */
		bool ok;
		char *text = part(&b, bd, "text/plain", &ok);
		CHECK(ok);
		CHECK_STR_EQ(text, "Hallo Ria,\n\nWelkom aan tafel.\n");
		free(text);
		char *html = part(&b, bd, "text/html", &ok);
		CHECK(ok);
		CHECK_STR_EQ(html, "<p>Hallo Ria,</p><p>Welkom aan tafel.</p>");
		free(html);
	}

	/* Another build: another boundary. */
	struct built b2;
	CHECK_INT_EQ(build(&m, &b2), 0);
	char *bd2 = boundary_of(&b2);
	CHECK(bd && bd2 && strcmp(bd, bd2) != 0);
	free(bd);
	free(bd2);
	built_free(&b2);
	built_free(&b);

	/* Text only: one part, no multipart. */
	m.html = NULL;
	CHECK_INT_EQ(build(&m, &b), 0);
	check_lines(&b, 78, "text only");
	CHECK_STR_EQ(v = header(&b, "Content-Type", &n), "text/plain; charset=UTF-8");
	free(v);
	CHECK_STR_EQ(v = header(&b, "Content-Transfer-Encoding", &n), "quoted-printable");
	free(v);
	CHECK(!strstr(b.msg, "multipart"));
	/* The text's last line break ends the message; none is added. */
	CHECK_STR_EQ(b.body, "Hallo Ria,\r\n\r\nWelkom aan tafel.\r\n");
	built_free(&b);
	m.text = "Zonder regeleinde";
	CHECK_INT_EQ(build(&m, &b), 0);
	CHECK_STR_EQ(b.body, "Zonder regeleinde\r\n");
	built_free(&b);
	m.text = "";
	CHECK_INT_EQ(build(&m, &b), 0);
	CHECK_STR_EQ(b.body, "\r\n");
	check_lines(&b, 78, "empty text");
	built_free(&b);
}

static void test_utf8_headers(void)
{
	struct mail_message m = base();
	m.subject = "\xc3\x89\xc3\xa9n tafel voor iedereen";           /* Één tafel voor iedereen */
	m.from_name = "Gemeente S\xc3\xba" "dwest-Frysl\xc3\xa2n";        /* Súdwest-Fryslân */
	struct built b;
	CHECK_INT_EQ(build(&m, &b), 0);
	check_lines(&b, 78, "utf8");
	bool ok;
	char *v = header(&b, "Subject", NULL);
	CHECK(v && strncmp(v, "=?UTF-8?B?", 10) == 0);
	char *d = decode_words(v ? v : "", &ok);
	CHECK(ok);
	CHECK_STR_EQ(d, "\xc3\x89\xc3\xa9n tafel voor iedereen");
	free(d);
	free(v);
	v = header(&b, "From", NULL);
	CHECK(v && strstr(v, " <noreply@zutphen.example>"));
	if (v && strstr(v, " <"))
		*strstr(v, " <") = '\0';
	d = decode_words(v ? v : "", &ok);
	CHECK(ok);
	CHECK_STR_EQ(d, "Gemeente S\xc3\xba" "dwest-Frysl\xc3\xa2n");
	free(d);
	free(v);
	built_free(&b);

	/* A long subject of multibyte characters: several words, folded,
	 * none splitting a character, each line within 78. */
	char subj[501];
	size_t n = 0;
	while (n + 3 <= 498) {
		memcpy(subj + n, "\xe2\x82\xac", 3); /* € */
		n += 3;
	}
	subj[n++] = 'x';
	subj[n] = '\0';
	m.subject = subj;
	CHECK_INT_EQ(build(&m, &b), 0);
	check_lines(&b, 78, "long subject");
	v = header(&b, "Subject", NULL);
	d = decode_words(v ? v : "", &ok);
	CHECK(ok);
	CHECK_STR_EQ(d, subj);
	free(d);
	free(v);
	built_free(&b);

	/* Plain ASCII that looks like an encoded word is encoded itself. */
	m.subject = "=?UTF-8?B?QmNjOiBldmls?=";
	CHECK_INT_EQ(build(&m, &b), 0);
	v = header(&b, "Subject", NULL);
	d = decode_words(v ? v : "", &ok);
	CHECK_STR_EQ(d, "=?UTF-8?B?QmNjOiBldmls?=");
	free(d);
	free(v);
	built_free(&b);

	/* Quotes and backslashes in an ASCII name are escaped. */
	m.subject = "x";
	m.from_name = "Gemeente \"A\\B\"";
	CHECK_INT_EQ(build(&m, &b), 0);
	v = header(&b, "From", NULL);
	CHECK_STR_EQ(v, "\"Gemeente \\\"A\\\\B\\\"\" <noreply@zutphen.example>");
	free(v);
	built_free(&b);

	/* No name: just the address. */
	m.from_name = NULL;
	CHECK_INT_EQ(build(&m, &b), 0);
	v = header(&b, "From", NULL);
	CHECK_STR_EQ(v, "<noreply@zutphen.example>");
	free(v);
	built_free(&b);
}

static void test_no_header_injection(void)
{
	static const char *evil[] = {
		"Hallo\r\nBcc: evil@example.com",
		"Hallo\nBcc: evil@example.com",
		"Hallo\rBcc: evil@example.com",
		"Hallo\r\n\r\nbody",
		"Hallo\302\205Bcc: evil@example.com", /* NEL */
		"\r\n.\r\nMAIL FROM:<x@y.z>",
	};
	for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		struct mail_message m = base();
		m.subject = evil[i];
		m.from_name = evil[i];
		struct built b;
		CHECK_INT_EQ(build(&m, &b), 0);
		check_lines(&b, 78, evil[i]);
		int n;
		char *v = header(&b, "Bcc", &n);
		CHECK_MSG(v == NULL && n == 0, "Bcc from %s", evil[i]);
		free(v);
		v = header(&b, "MAIL FROM", &n);
		CHECK(v == NULL);
		free(v);
		/* Exactly one blank line before the body: the headers end
		 * where we say. */
		CHECK(strncmp(b.body, "--=_aantafel_", 13) == 0);
		/* The subject stays one field, its line breaks now spaces. */
		bool ok;
		v = header(&b, "Subject", &n);
		CHECK_INT_EQ(n, 1);
		char *d = decode_words(v ? v : "", &ok);
		CHECK_MSG(d && !strchr(d, '\r') && !strchr(d, '\n'), "decoded subject %s", d);
		free(d);
		free(v);
		built_free(&b);
	}
	/* Addresses are refused, not encoded. */
	static const char *bad_to[] = {"a@b.c\r\nBcc: evil@example.com", "a@b.c>, <evil@example.com", "a@b.c\n"};
	for (size_t i = 0; i < sizeof(bad_to) / sizeof(bad_to[0]); i++) {
		struct mail_message m = base();
		m.to = bad_to[i];
		char *out = (char *)1;
		size_t len = 1;
		char err[128];
		CHECK_INT_EQ(mail_build(&m, &out, &len, err, sizeof(err)), -1);
		CHECK(out == NULL && len == 0);
		CHECK_CONTAINS(err, "recipient");
		m = base();
		m.from_addr = bad_to[i];
		CHECK_INT_EQ(mail_build(&m, &out, &len, err, sizeof(err)), -1);
		CHECK_CONTAINS(err, "sender");
	}
}

/* A notification's unsubscribe link becomes the two RFC 8058 headers; a
 * value that could end a header line or is not an https URL fails the
 * message (nothing is sent without the way out its text promises). */
static void test_list_unsubscribe(void)
{
	struct mail_message m = base();
	struct built b;
	char *v;
	int n;
	CHECK_INT_EQ(build(&m, &b), 0);
	CHECK(header(&b, "List-Unsubscribe", &n) == NULL && n == 0);
	CHECK(header(&b, "List-Unsubscribe-Post", &n) == NULL && n == 0);
	built_free(&b);
	m.unsubscribe = "https://zutphen.example/afmelden/0123abcd";
	CHECK_INT_EQ(build(&m, &b), 0);
	check_lines(&b, 78, "unsubscribe");
	CHECK_STR_EQ(v = header(&b, "List-Unsubscribe", &n), "<https://zutphen.example/afmelden/0123abcd>");
	CHECK_INT_EQ(n, 1);
	free(v);
	CHECK_STR_EQ(v = header(&b, "List-Unsubscribe-Post", &n), "List-Unsubscribe=One-Click");
	CHECK_INT_EQ(n, 1);
	free(v);
	built_free(&b);
	static const char *bad[] = {
		"https://zutphen.example/afmelden/x\r\nBcc: eve@example.org",
		"https://zutphen.example/afmelden/x>, <mailto:eve@example.org",
		"javascript:alert(1)",
		"mailto:eve@example.org",
		"https://zutphen.example/af melden",
		"http://zutphen.example/afmelden/0123abcd",
		"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m.unsubscribe = bad[i];
		CHECK_MSG(build(&m, &b) == -1, "%s was written", bad[i]);
		built_free(&b);
	}
}

static void test_bodies(void)
{
	/* What quoted-printable must get right: '=', UTF-8, long lines,
	 * trailing whitespace, CR/LF/CRLF, a lone '.', "From " and our own
	 * boundary's look-alikes in the text. */
	char big[6000];
	size_t n = 0;
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "w%d=x ", i);
	big[n++] = '\n';
	const char *text_parts[] = {
		"\xc3\x89\xc3\xa9n tafel, \xe2\x82\xac 5 = vijf euro\n",
		"trailing space \n", "trailing tab\t\n", ".\n", "From here\n", "--=_aantafel_00000000000000000000000000000000\n",
		"--=_aantafel_00000000000000000000000000000000--\n", "cr only\rcrlf\r\nend",
	};
	char text[16000];
	size_t t = 0;
	memcpy(text, big, n);
	t = n;
	for (size_t i = 0; i < sizeof(text_parts) / sizeof(text_parts[0]); i++) {
		size_t l = strlen(text_parts[i]);
		memcpy(text + t, text_parts[i], l);
		t += l;
	}
	text[t] = '\0';
	/* The same with LF line ends, which the decoder gives back. */
	char want[16000];
	size_t w = 0;
	for (size_t i = 0; i < t; i++) {
		if (text[i] == '\r') {
			want[w++] = '\n';
			if (text[i + 1] == '\n')
				i++;
		} else {
			want[w++] = text[i];
		}
	}
	want[w] = '\0';

	struct mail_message m = base();
	m.text = text;
	m.html = "<p>=_ &amp; \xc3\xa9\xc3\xa9n</p>\n<p>.</p>";
	struct built b;
	CHECK_INT_EQ(build(&m, &b), 0);
	check_lines(&b, 78, "bodies");
	char *bd = boundary_of(&b);
	CHECK(bd != NULL);
	if (bd) {
		/* The real boundary occurs only as its delimiters. */
		CHECK_INT_EQ(count(b.msg, bd), 4);
		bool ok;
		char *dt = part(&b, bd, "text/plain", &ok);
		CHECK(ok);
		CHECK_STR_EQ(dt, want);
		free(dt);
		char *dh = part(&b, bd, "text/html", &ok);
		CHECK(ok);
		CHECK_STR_EQ(dh, "<p>=_ &amp; \xc3\xa9\xc3\xa9n</p>\n<p>.</p>");
		free(dh);
	}
	/* No body line starts with '.' or "From " (SMTP and mbox). */
	for (const char *p = b.body; (p = strstr(p, "\r\n")); p += 2) {
		CHECK_MSG(p[2] != '.', "a line starts with '.'");
		CHECK_MSG(strncmp(p + 2, "From ", 5) != 0, "a line starts with From");
	}
	/* "=_" never occurs in the encoded bodies. */
	const char *after_head = b.body;
	size_t eq_under = 0;
	for (const char *p = after_head; p && (p = strstr(p, "=_")); p += 2)
		eq_under++;
	CHECK_INT_EQ(eq_under, 3); /* the three delimiters only */
	free(bd);
	built_free(&b);

	/* An empty text and a body made of one long word. */
	char word[3000];
	memset(word, 'a', sizeof(word) - 1);
	word[sizeof(word) - 1] = '\0';
	m.text = "";
	m.html = word;
	CHECK_INT_EQ(build(&m, &b), 0);
	check_lines(&b, 78, "long word");
	bd = boundary_of(&b);
	if (bd) {
		bool ok;
		char *dt = part(&b, bd, "text/plain", &ok);
		CHECK(ok);
		CHECK_STR_EQ(dt, "");
		free(dt);
		char *dh = part(&b, bd, "text/html", &ok);
		CHECK(ok);
		CHECK_STR_EQ(dh, word);
		free(dh);
	}
	free(bd);
	built_free(&b);

	/* Limits: a body over MAIL_BODY_MAX is refused. */
	char *huge = malloc(MAIL_BODY_MAX + 2);
	memset(huge, 'x', MAIL_BODY_MAX + 1);
	huge[MAIL_BODY_MAX + 1] = '\0';
	m = base();
	m.text = huge;
	char *out;
	size_t len;
	char err[128];
	CHECK_INT_EQ(mail_build(&m, &out, &len, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "body larger");
	/* At the limit, both bodies of bytes that all need encoding still
	 * fit the message limit. */
	memset(huge, '=', MAIL_BODY_MAX);
	huge[MAIL_BODY_MAX] = '\0';
	m.text = huge;
	m.html = huge;
	CHECK_INT_EQ(mail_build(&m, &out, &len, err, sizeof(err)), 0);
	CHECK(len <= MAIL_MESSAGE_MAX);
	free(out);
	free(huge);
}

int main(void)
{
	RUN(test_addresses());
	RUN(test_header_texts());
	RUN(test_transports());
	RUN(test_plain_message());
	RUN(test_utf8_headers());
	RUN(test_no_header_injection());
	RUN(test_list_unsubscribe());
	RUN(test_bodies());
	return check_exit("test_mail");
}
