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

/* Counts sign-ins that ran the dummy hash (for an unknown address). */
unsigned long long auth_dummy_count(void);

#endif
