/* Sign-in and sign-out inside a request's transaction: rate limits before
 * any hashing, scrypt on the hashing queue (never on a loop thread), the
 * same work, counts and limits for an unknown address as for a wrong
 * password, a new session token at every sign-in.
 *
 * Every attempt that hashes a password (sign-in, sign-up, the current
 * password of a change or deletion) is counted before the hashing, with
 * its counters locked until the transaction ends (platform.attempt,
 * sql/017): attempts on one counter wait for each other, so no more are
 * hashed than the limit allows, however many arrive at once. A refused
 * attempt writes nothing after that, and its count is kept only when the
 * caller commits: the caller commits every answer to a counted attempt,
 * refusals (AUTH_INVALID, AUTH_LIMITED) included; only AUTH_BUSY and
 * AUTH_DB roll back (nothing was hashed, or the count was not written). */
#ifndef AANTAFEL_AUTH_H
#define AANTAFEL_AUTH_H

#include <stdint.h>

#include "config.h"
#include "cookie.h"
#include "db.h"

struct event_base;
struct job_queue;

#define AUTH_FAILURES_PER_ACCOUNT 100   /* an hour, per address asked for, whether it has an account or not */
#define AUTH_FAILURES_PER_ADDRESS 300   /* an hour, per client address */
#define AUTH_SIGNUPS_PER_ADDRESS 100    /* an hour: a meeting on one wifi may sign up together */

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
 * AUTH_OK, AUTH_INVALID or AUTH_LIMITED (the count is a write). */
void auth_signin_start(struct auth_signin *s, struct db_txn *txn, struct event_base *base,
		       void (*done)(struct auth_signin *s, void *arg), void *arg);

/* A sign-up: the fields are checked on the loop (cheap), the password is
 * hashed on the hashing queue, and then the account (unverified, role
 * member) and a verification token (24 hours, stored hashed) are inserted
 * in the request's transaction (the client address's attempt is counted
 * first, before the hashing). An address that already has an account
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
	char address[64];               /* the client: AUTH_SIGNUPS_PER_ADDRESS an hour */
	/* out */
	enum auth_result result;        /* AUTH_OK, AUTH_REFUSED, AUTH_LIMITED, AUTH_BUSY or AUTH_DB */
	int retry_after;                /* AUTH_LIMITED: seconds */
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

/* Password reset by e-mail link and password change by the signed-in
 * user. One structure serves the four steps; each fills in what it needs.
 *
 * - forgot: EMAIL (lower-cased here) of an existing, not deleted account
 *   gets a 'reset' token (AUTH_RESET_HOURS, single use, stored hashed):
 *   AUTH_OK with TOKEN and NAME, or AUTH_INVALID for an unknown address
 *   (nothing written). The caller answers alike either way.
 * - reset_check: whether TOKEN is an unused, unexpired 'reset' token of a
 *   not deleted account (AUTH_OK or AUTH_INVALID); nothing is spent.
 * - reset: TOKEN valid (else AUTH_INVALID), then the new PASSWORD against
 *   the policy (else AUTH_REFUSED "password", nothing spent), hashed on the
 *   hashing queue; then one statement spends the token (and the account's
 *   other reset tokens), stores the hash, marks the address verified (the
 *   mail reached it) and deletes all the account's sessions and sign-in
 *   failure counts.
 * - change: ACCOUNT_ID's CURRENT password is checked on the hashing queue
 *   (counted before, as a sign-in with the account's address:
 *   AUTH_LIMITED or AUTH_INVALID), the new PASSWORD against the policy
 *   first (AUTH_REFUSED "password"); then the hash is stored, every
 *   session of the account but SESSION_HASH is deleted and the address's
 *   count ends.
 * DONE runs on BASE's loop (possibly before the start call returns). The
 * caller commits when result is AUTH_OK, and for a change, a change of
 * address or a deletion also when it is AUTH_INVALID or AUTH_LIMITED (the
 * count is a write). */
#define AUTH_RESET_HOURS 1

struct auth_reset {
	/* in */
	int64_t tenant_id;
	int64_t account_id;             /* change */
	char session_hash[65];          /* change: the session to keep (hex) */
	char email[256];                /* forgot */
	char current[1025];             /* change */
	char password[1025];            /* reset, change: the new password */
	char lang[16];
	/* in (reset_check, reset) or out (forgot) */
	char token[TOKEN_CHARS + 1];
	/* out */
	enum auth_result result;
	const char *reason;             /* AUTH_REFUSED: "password" */
	const char *message;            /* AUTH_REFUSED: the policy's words */
	int retry_after;                /* AUTH_LIMITED */
	char name[404];                 /* forgot: the account's display name */
	/* inside */
	struct db_txn *txn;
	struct event_base *base;
	int step;
	char stored[160];
	char key[72];                   /* the account's address's key in signin_limits */
	char hash[160];
	int verified;
	void (*done)(struct auth_reset *r, void *arg);
	void *arg;
};

void auth_forgot_start(struct auth_reset *r, const char *email, struct db_txn *txn,
		       void (*done)(struct auth_reset *r, void *arg), void *arg);
void auth_reset_check_start(struct auth_reset *r, const char *token, struct db_txn *txn,
			    void (*done)(struct auth_reset *r, void *arg), void *arg);
void auth_reset_start(struct auth_reset *r, const char *token, const char *password, const char *lang,
		      struct db_txn *txn, struct event_base *base, void (*done)(struct auth_reset *r, void *arg),
		      void *arg);
/* Asks to change the signed-in account's address to EMAIL once CURRENT
 * is its password: R->token is the confirmation link's token, "" when
 * another account has the address or 5 links are out (answer alike). */
void auth_email_start(struct auth_reset *r, const char *current, const char *email, struct db_txn *txn,
		      struct event_base *base, void (*done)(struct auth_reset *r, void *arg), void *arg);
/* Deletes the signed-in account (R->account_id) once CURRENT is its
 * password: personal data removed for every address it had (mails,
 * invitations, counts), the row kept as "voormalig deelnemer". */
void auth_delete_start(struct auth_reset *r, const char *current, struct db_txn *txn, struct event_base *base,
		       void (*done)(struct auth_reset *r, void *arg), void *arg);
void auth_change_start(struct auth_reset *r, const char *current, const char *password, const char *lang,
		       struct db_txn *txn, struct event_base *base, void (*done)(struct auth_reset *r, void *arg),
		       void *arg);

/* Counts sign-ins that ran the dummy hash (for an unknown address). */
unsigned long long auth_dummy_count(void);

#endif
