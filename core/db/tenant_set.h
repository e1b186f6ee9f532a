/* The tenants a background worker (the mail deliverer, the scheduler) was
 * told about by LISTEN/NOTIFY, each payload a tenant's id: its next look
 * at the database is confined to them, and only its poll timer (or too
 * many, or a payload that names none) makes it look at every tenant. The
 * cost of a look then follows the tenants that have work, not the number
 * of tenants on the installation. */
#ifndef AANTAFEL_TENANT_SET_H
#define AANTAFEL_TENANT_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TENANT_SET_MAX 64               /* remembered; more means all */
/* An array literal of TENANT_SET_MAX ids: "{" ids "," ... "}" and NUL. */
#define TENANT_SET_TEXT (TENANT_SET_MAX * 21 + 3)

struct tenant_set {
	bool all;
	int n;
	int64_t ids[TENANT_SET_MAX];
};

/* Nobody (the look is done), or everybody (connected, the poll timer). */
void tenant_set_clear(struct tenant_set *s);
void tenant_set_all(struct tenant_set *s);

/* A notification's payload: a tenant's id, anything else means all. */
void tenant_set_note(struct tenant_set *s, const char *payload);

/* The set as a PostgreSQL array literal in OUT (TENANT_SET_TEXT bytes),
 * for a parameter of type bigint[]; NULL when the look is at every
 * tenant (all, or none noted). */
const char *tenant_set_array(const struct tenant_set *s, char *out, size_t outlen);

#endif
