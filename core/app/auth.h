/* Passwords on the hashing queue: checking one against a stored hash and
 * hashing a new one, never on a worker's loop (scrypt costs about 0.6 s
 * and 128 MiB a hash), with the scrypt parameters from the configuration.
 * The steps of the account operations around these jobs (counting the
 * attempt before anything is hashed, the policy, what the SQL gets) are
 * the route flags of api.h, run by apicall.c. */
#ifndef AANTAFEL_AUTH_H
#define AANTAFEL_AUTH_H

#include <stdbool.h>

#include "config.h"
#include "password.h"

struct event_base;

/* One job: CHECK against STORED ("" when there is none: the same work
 * against a dummy hash, so that an unknown address costs what a wrong
 * password does), then, when NEW_PASSWORD is set (and CHECK was right, if
 * there was one), a hash of NEW_PASSWORD; with REHASH, a stronger hash of
 * a right CHECK when STORED is weaker than the configured parameters. The
 * passwords are wiped before DONE runs. */
struct auth_job {
	/* in */
	bool check;                             /* CHECK is to be checked */
	char password[PW_MAX_BYTES + 1];        /* CHECK: the password given */
	char stored[PW_HASH_MAX + 32];
	bool hash;                              /* NEW_PASSWORD is to be hashed */
	char new_password[PW_MAX_BYTES + 1];
	bool rehash;
	/* out */
	bool verified;                          /* CHECK matched STORED */
	bool dummy;                             /* there was no STORED: the dummy work was done */
	char result[PW_HASH_MAX];               /* the new (or stronger) hash, "" none or failed */
	/* inside */
	void (*done)(void *arg);
	void *arg;
};

/* Global, set up by the application before the workers start. */
int auth_init(const struct config *cfg, char *err, size_t errlen);
void auth_configure(const struct config *cfg);
void auth_fini(void);

/* Runs JOB on the hashing queue; DONE(ARG) then runs on BASE's loop.
 * -1 at once, nothing run, when the queue is full (the caller answers
 * 503). */
int auth_submit(struct auth_job *job, struct event_base *base, void (*done)(void *arg), void *arg);

#endif
