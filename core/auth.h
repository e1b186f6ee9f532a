/* Sign-in and sign-out inside a request's transaction: rate limits before
 * any hashing, scrypt on the hashing queue (never on a loop thread), the
 * same work for an unknown address as for a wrong password, a new session
 * token at every sign-in. */
#ifndef AANTAFEL_AUTH_H
#define AANTAFEL_AUTH_H

#include <stdint.h>

#include "config.h"
#include "cookie.h"
#include "db.h"

struct event_base;
struct job_queue;

#define AUTH_FAILURES_PER_ACCOUNT 100   /* an hour */
#define AUTH_FAILURES_PER_ADDRESS 300   /* an hour */

enum auth_result {
	AUTH_OK,                /* signed in: token and csrf set */
	AUTH_INVALID,           /* unknown address or wrong password: one answer */
	AUTH_LIMITED,           /* too many failures: retry_after seconds */
	AUTH_BUSY,              /* hashing queue full: 503 */
	AUTH_DB,                /* the transaction failed: db_error tells */
	AUTH_REFUSED,           /* sign-up: a field is not acceptable (reason, message) */
};

struct auth_signin {
	/* in */
	int64_t tenant_id;
	char email[256];
	char password[1025];
	char address[64];
	/* out */
	enum auth_result result;
	int retry_after;
	int64_t account_id;
	char token[TOKEN_CHARS + 1];
	char csrf[TOKEN_CHARS + 1];
	/* inside */
	struct db_txn *txn;
	struct event_base *base;
	char stored[160];
	int verified;                   /* 1 match, 0 not */
	char rehash[160];               /* a stronger hash to store, or "" */
	void (*done)(struct auth_signin *s, void *arg);
	void *arg;
};

/* Global, set up by the application before the workers start. */
int auth_init(const struct config *cfg, char *err, size_t errlen);
void auth_configure(const struct config *cfg);
void auth_fini(void);
void auth_register_statements(void);

/* Runs a sign-in in TXN (whose tenant is S->tenant_id); DONE runs on
 * BASE's loop with S filled in. The caller commits when result is
 * AUTH_OK or AUTH_INVALID (the failure counts are writes too). */
void auth_signin_start(struct auth_signin *s, struct db_txn *txn, struct event_base *base,
		       void (*done)(struct auth_signin *s, void *arg), void *arg);

/* A sign-up: the fields are checked on the loop (cheap), the password is
 * hashed on the hashing queue, and then the account (unverified, role
 * member) and a verification token (24 hours, stored hashed) are inserted
 * in the request's transaction. An address that already has an account
 * gets the same result as a new one with EXISTED set and no token: the
 * caller answers alike and may tell the owner by mail. */
#define AUTH_NAME_MAX_CHARS 100
#define AUTH_VERIFY_HOURS 24

struct auth_signup {
	/* in */
	int64_t tenant_id;
	char email[256];                /* lower-cased */
	char name[404];                 /* at most 100 characters, trimmed */
	char password[1025];
	char lang[16];
	/* out */
	enum auth_result result;        /* AUTH_OK, AUTH_REFUSED, AUTH_BUSY or AUTH_DB */
	const char *reason;             /* AUTH_REFUSED: "password", "email" or "name" */
	const char *message;            /* AUTH_REFUSED "password": the policy's words, else NULL */
	int existed;                    /* AUTH_OK: the address had an account already */
	char token[TOKEN_CHARS + 1];    /* AUTH_OK and !existed: the raw verification token */
	/* inside */
	struct db_txn *txn;
	struct event_base *base;
	char hash[160];
	void (*done)(struct auth_signup *s, void *arg);
	void *arg;
};

/* Checks EMAIL, NAME and PASSWORD (LANG picks the language of the
 * password policy's message), copies them into S and runs the sign-up in
 * TXN; DONE runs on BASE's loop (possibly before this returns) with S
 * filled in. The caller commits when result is AUTH_OK. */
void auth_signup_start(struct auth_signup *s, const char *email, const char *name, const char *password,
		       const char *lang, struct db_txn *txn, struct event_base *base,
		       void (*done)(struct auth_signup *s, void *arg), void *arg);

/* Whether EMAIL (already lower-cased) is acceptable for an account: one
 * '@', a dot in the domain, at most 254 bytes, no spaces or control
 * characters, and a plain address mail can be sent to. */
int auth_email_valid(const char *email);

/* E-mail verification: TOKEN (raw, from the link) marks its account
 * verified when it is a 'verify' token that is unused and unexpired; it is
 * used up either way. DONE gets AUTH_OK, AUTH_INVALID or AUTH_DB. */
struct auth_verify {
	enum auth_result result;
	struct db_txn *txn;
	void (*done)(struct auth_verify *v, void *arg);
	void *arg;
};

void auth_verify_start(struct auth_verify *v, int64_t tenant_id, const char *token, struct db_txn *txn,
		       void (*done)(struct auth_verify *v, void *arg), void *arg);

/* Counts sign-ins that ran the dummy hash (for an unknown address). */
unsigned long long auth_dummy_count(void);

#endif
