/* The Lua runtime: one sandboxed state per tenant per worker, built from
 * the platform plugins and the tenant's bundle, driving each request in a
 * coroutine whose core calls yield to the database. */
#ifndef AANTAFEL_RUNTIME_H
#define AANTAFEL_RUNTIME_H

#include <stddef.h>

#include <jansson.h>

#include "bundle.h"
#include "db.h"
#include "config.h"
#include "http.h"
#include "registry.h"

struct worker;
struct rt_worker;

/* The platform plugins and default templates (plugins_dir), read once at
 * start by runtime_global_init; NULL before. */
int runtime_global_init(const struct config *cfg, char *err, size_t errlen);
void runtime_global_fini(void);
struct bundle *runtime_platform(void);

/* Validates BUNDLE as a tenant's bundle against PLATFORM's plugins:
 * tenant.lua's shape, every Lua file's syntax (file and line), every named
 * plugin known, every option of the right type and within bounds, every
 * template compiles. Returns 0, or -1 with one message per problem in err
 * (lines separated by '\n'). Runs no request; safe outside a daemon. */
int runtime_check_bundle(const struct bundle *platform, const struct bundle *bundle, const char *slug, char *err,
			 size_t errlen);

/* Prepared statements of the store; before the workers start. */
void runtime_register_statements(void);

/* Validates the platform plugins themselves: every Lua file's syntax,
 * every template, and each plugin loaded with its defaults. */
int runtime_check_platform(const struct bundle *platform, char *err, size_t errlen);

/* The worker's Lua states; POOL (NULL when no database is configured) and
 * CACHE (the guests' API reads) are the worker's and outlive them. */
struct apicache;
struct rt_worker *runtime_worker_new(struct worker *w, struct db_pool *pool, struct apicache *cache);
void runtime_worker_free(struct rt_worker *rw);
void runtime_worker_configure(struct rt_worker *rw, const struct config *cfg);
/* The registry changed (a deploy, a rollback, a draft published or
 * deleted): the drafts' Lua states go, now or when their last request
 * ends; a preview still valid builds its state again. */
void runtime_registry_changed(struct rt_worker *rw);

/* Serves REQ for tenant T through its Lua state. */
void runtime_handle(struct rt_worker *rw, struct http_request *req, const struct tenant *t);

/* Runs the JSON API's operation METHOD PATH with ARGS through tenant T's
 * Lua state, so that its events fire (guards may refuse it; hooks see its
 * answer), in the API's transaction *TXNP on behalf of WHO. DONE gets the
 * status and the answer (a borrowed reference), or NULL when it failed;
 * either way the transaction then in *TXNP (NULL when an operation with a
 * password step failed as its lookup committed) is the caller's to end. */
struct api_principal;
void runtime_api(struct rt_worker *rw, struct http_request *req, const struct tenant *t, struct db_txn **txnp,
		 const struct api_principal *who, const char *method, const char *path, json_t *args,
		 void (*done)(void *arg, int status, json_t *body), void *arg);

/* Fires EVENTS (a JSON array of {name, data}: what a job produced,
 * core/app/scheduler.h) to tenant T's plugin hooks, with no viewer (their
 * plugin.api calls are answered as a guest's) and no HTTP request, in
 * the transaction *TXNP (the caller's: it commits when DONE gets a
 * status below 400 and a body, else rolls back). */
void runtime_events(struct rt_worker *rw, const struct tenant *t, struct db_txn **txnp, json_t *events,
		    void (*done)(void *arg, int status, json_t *body), void *arg);

#endif
