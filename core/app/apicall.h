/* One call of an API operation whose route asks the core for steps
 * around its SQL function (API_STEPS, api.h): the passwords taken out of
 * the arguments, a new one checked against the policy, the operation's
 * lookup, the work on the hashing queue, the operation itself with the
 * verdict and the hash, the secrets drawn, and the events and cookies its
 * answer brings. The HTTP front (api_http.c) and the pages' plugin.api
 * (runtime_api.c) run a call alike, in their request's transaction.
 *
 * A lookup that lets the call go on is committed before the hashing (its
 * count of the attempt is kept then) and the operation runs in the next
 * transaction on the same connection (db_commit_again): no lock on the
 * counters is held while the job waits and works (scrypt takes about
 * 0.6 s; sign-ins from one client address queued on that address's
 * counter, each holding a connection of the pool that every municipality
 * shares, for as long as all the hashes before it took). */
#ifndef AANTAFEL_APICALL_H
#define AANTAFEL_APICALL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "auth.h"
#include "cookie.h"
#include "db.h"
#include "http.h"

enum api_call_state {
	CALL_NEW,
	CALL_LOOKUP,                    /* the operation's lookup is in the database */
	CALL_COUNTED,                   /* the lookup's transaction commits; the next one begins */
	CALL_HASHING,                   /* its job is on the hashing queue */
	CALL_OPERATION,                 /* the operation itself is in the database */
	CALL_DONE,                      /* answered (or failed): DONE has run */
};

struct api_call {
	/* in: set before api_call_start */
	const struct api_route *route;
	struct http_request *req;       /* the client's address and language, the request id */
	struct db_txn **txnp;           /* the request's transaction, its tenant set; NULL when the
					 * call failed where it had committed */
	int64_t tenant_id;
	struct api_principal who;
	json_t *args;                   /* the arguments as the client gave them; the call's from then on */
	const char *definitions;        /* API_DEFS: the tenant's declared definitions (JSON), or NULL */
	void (*done)(struct api_call *c);
	void *arg;
	/* out, when DONE runs */
	int status;                     /* the answer's status; 0 when the call failed */
	int fail_status;                /* then: 503 (busy, unavailable, too large: 413) or 500 */
	char why[160];                  /* ... and what failed, for the log */
	json_t *body;                   /* the answer's body (the call's reference) */
	json_t *events;                 /* API_EVENTS, a success: [{name, data}] to fire, or NULL */
	char session[TOKEN_CHARS + 1];  /* API_SIGNIN, a success: the new session's token ... */
	char csrf[TOKEN_CHARS + 1];     /* ... and its CSRF token: both cookies are set */
	bool signed_out;                /* API_SIGNOUT, a success: the session cookie is cleared */
	/* inside */
	enum api_call_state state;
	char secret[TOKEN_CHARS + 1];   /* API_EVENT_SECRET: for the events only */
	struct auth_job job;            /* the passwords, taken out of the arguments */
};

/* Whether ROUTE's operation is run by an api_call. */
bool api_call_needed(const struct api_route *route);

/* Starts C (filled in as above). DONE runs exactly once, possibly before
 * this returns; the transaction in *txnp (NULL when the call failed as
 * its lookup committed) is the caller's to commit or roll back, as the
 * answer and the route's flags say. */
void api_call_start(struct api_call *c);

/* Frees what C holds (not C), its secrets and passwords wiped. */
void api_call_clear(struct api_call *c);

#endif
