/* The JSON API under /api/v1. Every operation is one SQL function of
 * schema "api" (sql/006_api.sql and later), called in the request's one
 * transaction with the tenant, the account asking and its roles, and the
 * arguments as one JSON object. The HTTP front (api_handle) and the Lua
 * runtime (the site's pages) reach the same operations through the same
 * route table, so the pages and the API cannot disagree on who may see
 * or change what. */
#ifndef AANTAFEL_API_H
#define AANTAFEL_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cookie.h"
#include "db.h"
#include "http.h"
#include "registry.h"

enum {
	API_WRITE = 1,          /* changes something: committed only when it succeeds */
	API_SECRET = 2,         /* the daemon draws a secret; its hash goes in, the secret out once */
	API_PLATFORM = 4,       /* from Lua: platform plugins only */
	API_SESSION = 8,        /* over HTTP: a signed-in session, not an API token */
	API_MARKDOWN = 16,      /* "body" and "description" become safe HTML through cmark */
	API_LUA = 32,           /* done by a platform plugin's handler named fn (accounts: passwords, mails) */
	API_PRIVATE = 64,       /* writes only what guests never see: their cached reads stay valid */
	API_ATTEMPTS = 128,     /* counts password attempts: every answer below 500 commits, refusals too */
};

struct api_route {
	const char *method;
	const char *pattern;            /* "/tokens/{id}": {id} is a positive integer, {x} a word */
	const char *fn;                 /* api.FN */
	unsigned flags;
	const char *before;             /* event whose guards may refuse the call, or NULL */
	const char *after;              /* event fired with the answer when it succeeded, or NULL */
};

struct api_principal {
	int64_t viewer;                 /* 0: a guest */
	char roles[64];                 /* the tenant roles, "admin facilitator member" as granted */
	char csrf[TOKEN_CHARS + 1];     /* a session's CSRF token, "" otherwise */
	char session[65];               /* the hash of that session's token, "" otherwise */
};

#define API_TOKEN_PREFIX "at_"

/* Prepared statements; before the workers start. */
void api_register_statements(void);

/* Session timeouts (seconds), from the configuration. */
void api_configure(int64_t idle_s, int64_t absolute_s);

/* Serves REQ (a path under /api/v1) for tenant T. */
void api_handle(struct http_request *req, const struct tenant *t);

/* Finds the route of METHOD and PATH (relative to /api/v1, e.g.
 * "/tokens/3") and adds its path parameters to PARAMS. NULL when none
 * matches: *status is 404, or 405 with the methods that would in ALLOW. */
const struct api_route *api_route_find(const char *method, const char *path, size_t len, json_t *params,
				       int *status, char *allow, size_t allowlen);

/* Completes ARGS for ROUTE: drops keys the daemon sets ("_…", "…_html"),
 * renders Markdown, draws the secret (API_SECRET: SECRET receives it, it
 * must hold API_SECRET_CHARS + 1). -1 when out of memory or randomness. */
#define API_SECRET_CHARS (sizeof(API_TOKEN_PREFIX) - 1 + TOKEN_CHARS)
int api_prepare(const struct api_route *route, const char *method, const struct api_principal *who,
		json_t *args, char *secret);

/* Queues ROUTE's statement on TXN: 0, API_TOO_LARGE when the arguments
 * as JSON are over API_ARGS_MAX bytes, or -1 (out of memory, the pool
 * refused, or a route that Lua answers). */
#define API_ARGS_MAX (512 * 1024)
#define API_TOO_LARGE (-2)
int api_query(struct db_txn *txn, const struct api_route *route, int64_t tenant_id, const struct api_principal *who,
	      const json_t *args);

/* Reads the answer of api_query: the status, and the body (a new
 * reference; the secret, if any, added to a successful body). -1 when the
 * result is not an answer. */
int api_answer(const PGresult *r, const char *secret, int *status, json_t **body);
/* The same from the operation's answer as text (a cached one). */
int api_answer_text(const char *text, const char *secret, int *status, json_t **body);

/* A route by its place in the table (what a Lua call carries to the
 * database step, so the path is matched once), or NULL. */
const struct api_route *api_route_at(long i);
long api_route_index(const struct api_route *r);

/* Adds R's path parameters in PATH to PARAMS; -1 when PATH is not R's. */
int api_route_params(const struct api_route *r, const char *path, size_t len, json_t *params);

/* The key under which a guest's read of PATH with ARGS (JSON, keys
 * sorted) through R is cached, or NULL when R is not such a read (only
 * GETs without events, secrets or platform-only use; what a guest sees
 * depends on the tenant's data alone). Malloc'd. */
char *api_guest_key(const struct api_route *r, int64_t tenant_id, const char *path, const char *args);

/* Every route, for the tests that compare them with openapi.json. */
const struct api_route *api_routes(size_t *n);

/* The OpenAPI document, embedded at build time. */
const char *api_openapi(size_t *len);

#endif
