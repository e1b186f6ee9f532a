/* The application around the HTTP layer: per-worker services (database
 * pool, registry snapshot) and the main thread's registry listener. */
#ifndef AANTAFEL_APP_H
#define AANTAFEL_APP_H

#include "config.h"
#include "db.h"
#include "registry.h"

struct worker;

struct app_worker {
	struct db_pool *pool;           /* NULL when no database is configured */
	struct registry *registry;      /* NULL until the first load */
	struct rt_worker *rt;           /* the tenants' Lua states */
};

/* Runs `aantafel serve` with CFG; returns the exit code. */
int app_serve(struct config *cfg);

struct app_worker *app_of(const struct worker *w);

#endif
