/* Mail: requests queue messages in the outbox table inside their own
 * transaction (the table: sql/004_mail.sql; the functions:
 * sql/code/mail.sql), and one deliverer thread per daemon
 * sends what was committed: it builds the MIME message and hands it to a
 * transport (files for development, SMTP through libcurl). */
#ifndef AANTAFEL_MAIL_H
#define AANTAFEL_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"

struct db_txn;
struct mail_deliverer;

#define MAIL_ADDR_MAX 254               /* RFC 5321's path limit, less the brackets */
#define MAIL_NAME_MAX 200               /* bytes of a sender's display name */
#define MAIL_SUBJECT_MAX 500            /* bytes of a subject */
#define MAIL_BODY_MAX (1024 * 1024)     /* bytes of each of the text and HTML bodies */
#define MAIL_MESSAGE_MAX (8 * 1024 * 1024) /* bytes of a built message */

/* Registers the outbox statement; call before the workers start. */
void mail_register_statements(void);

/* Queues a mail into the request's transaction T (db_query: the caller
 * sends and commits as usual), so it is sent only if T commits. FROM_NAME
 * NULL means the tenant's name; HTML may be NULL (text only). Returns -1,
 * queuing nothing, when TO is not a plain address (mail_address_valid), a
 * header field holds a line break or control character or is too long,
 * text is missing, a body is too large or not UTF-8, or the batch is full. */
int mail_enqueue(struct db_txn *t, int64_t tenant_id, const char *to, const char *from_name, const char *subject,
		 const char *text, const char *html);

/* A conservative check of an address as it may appear in a header and an
 * SMTP command: local@domain with exactly one '@', a dot-atom local part of
 * at most 64 bytes, a domain of letters, digits, '-' and dots, nothing
 * else (no spaces, quotes, brackets, commas, control or non-ASCII
 * characters), at most MAIL_ADDR_MAX bytes. */
bool mail_address_valid(const char *addr);

/* Whether S is a usable header text (subject, display name): well-formed
 * UTF-8 of at most MAX bytes without control characters (so no CR/LF). */
bool mail_header_text_valid(const char *s, size_t max);

/* One message to build. */
struct mail_message {
	const char *from_addr;          /* the From address (mail_from) */
	const char *from_name;          /* its display name; NULL or "" for none */
	const char *to;
	const char *subject;
	const char *text;               /* text/plain body, UTF-8 */
	const char *html;               /* text/html body, or NULL */
	const char *unsubscribe;        /* an https URL: the List-Unsubscribe headers (RFC 8058), or NULL */
	time_t date;                    /* the Date header */
	int64_t tenant_id, id;          /* with created_us: the Message-ID */
	int64_t created_us;
};

/* Builds the message: CRLF lines of at most 78 bytes (a line holding a
 * long address, at most 998), all ASCII, with RFC 2047 encoded words for a
 * subject or name that need them, quoted-printable UTF-8 bodies, and
 * multipart/alternative when there is HTML. Control characters in the
 * subject and name become spaces, so no input can add a header line.
 * Returns 0 and a malloc'd *OUT of *OUTLEN bytes (NUL terminated), or -1
 * with the reason in ERR (an invalid address, a message over
 * MAIL_MESSAGE_MAX, no memory). */
int mail_build(const struct mail_message *m, char **out, size_t *outlen, char *err, size_t errlen);

enum mail_transport_kind {
	MAIL_TRANSPORT_OFF,
	MAIL_TRANSPORT_FILE,            /* file:DIR */
	MAIL_TRANSPORT_SMTP,            /* smtp://HOST[:PORT] (STARTTLS) or smtps://HOST[:PORT] */
};

/* Parses the mail_transport option. Returns 0 and the kind, or -1 with the
 * reason in ERR. */
int mail_transport_parse(const char *spec, enum mail_transport_kind *kind, char *err, size_t errlen);

/* Starts the deliverer thread when mail_transport is not "off" (*OUT stays
 * NULL when it is, or when there is no database). Call on the main thread;
 * the caller's blocked signals stay blocked in the thread. Returns -1 with
 * the reason logged when the mail options are invalid. */
int mail_deliverer_start(const struct config *cfg, struct mail_deliverer **out);

/* Wakes the deliverer, lets it finish or abort the message in hand (an
 * aborted one goes back to the queue uncounted), joins it and frees it.
 * NULL is a no-op. */
void mail_deliverer_stop(struct mail_deliverer *d);

#endif
