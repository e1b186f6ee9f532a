/* Mail: the outbox statement that requests queue in their transaction,
 * and the rules an address and a header's text must keep. The message is
 * built by mail_mime.c and delivered by mail_deliver.c's thread. */
#include "mail.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "mail_internal.h"
#include "utf8.h"

static int stmt_enqueue = -1;

static bool local_char(unsigned char c);
static bool domain_valid(const char *d, size_t n);

/* ---------------------------------------------------------------- the outbox */

void mail_register_statements(void)
{
	stmt_enqueue = db_stmt("SELECT platform.enqueue_mail($1, $2, $3, $4, $5, $6)");     /* sql/code/mail.sql */
}

int mail_enqueue(struct db_txn *t, int64_t tenant_id, const char *to, const char *from_name, const char *subject,
		 const char *text, const char *html)
{
	if (stmt_enqueue < 0 || !t || tenant_id <= 0 || !mail_address_valid(to) || !subject || !text)
		return -1;
	if (!mail_header_text_valid(subject, MAIL_SUBJECT_MAX))
		return -1;
	if (from_name && from_name[0] && !mail_header_text_valid(from_name, MAIL_NAME_MAX))
		return -1;
	size_t tn = strnlen(text, MAIL_BODY_MAX + 1);
	if (tn > MAIL_BODY_MAX || utf8_count(text, tn) < 0)
		return -1;
	if (html) {
		size_t hn = strnlen(html, MAIL_BODY_MAX + 1);
		if (hn > MAIL_BODY_MAX || utf8_count(html, hn) < 0)
			return -1;
	}
	char tid[24];
	snprintf(tid, sizeof(tid), "%" PRId64, tenant_id);
	const char *values[6] = {tid, to, from_name && from_name[0] ? from_name : NULL, subject, text, html};
	return db_query(t, stmt_enqueue, 6, values);
}

bool mail_address_valid(const char *addr)
{
	if (!addr)
		return false;
	size_t n = strnlen(addr, MAIL_ADDR_MAX + 1);
	if (n < 3 || n > MAIL_ADDR_MAX)
		return false;
	const char *at = memchr(addr, '@', n);
	if (!at || memchr(at + 1, '@', n - (size_t)(at - addr) - 1))
		return false;
	size_t local = (size_t)(at - addr);
	if (local == 0 || local > 64 || addr[0] == '.' || at[-1] == '.')
		return false;
	for (size_t i = 0; i < local; i++) {
		unsigned char c = (unsigned char)addr[i];
		if (c == '.') {
			if (addr[i + 1] == '.')
				return false;
		} else if (!local_char(c)) {
			return false;
		}
	}
	return domain_valid(at + 1, n - local - 1);
}

bool mail_header_text_valid(const char *s, size_t max)
{
	if (!s)
		return false;
	size_t n = strnlen(s, max + 1);
	if (n > max)
		return false;
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq_len(p + i, n - i);
		if (l == 0 || p[i] < 0x20 || p[i] == 0x7f)
			return false;
		/* C1 controls, U+0080 to U+009F. */
		if (l == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0)
			return false;
		i += l;
	}
	return true;
}

static bool local_char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	static const char atext[] = "!#$%&'*+/=?^_`{|}~-";
	return c != '\0' && memchr(atext, c, sizeof(atext) - 1) != NULL;
}

/* Labels of letters, digits and inner hyphens, 1 to 63 bytes each. */
static bool domain_valid(const char *d, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	size_t label = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || d[i] == '.') {
			if (label == 0 || label > 63 || d[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		unsigned char c = (unsigned char)d[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && !(c == '-' && label > 0))
			return false;
		label++;
	}
	return true;
}

void mail_errf(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
