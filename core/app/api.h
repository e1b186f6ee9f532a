/* The operations of the JSON API. Every operation is one SQL function of
 * schema "api" (sql/code/), called in the request's one transaction with
 * the tenant, the account asking and its roles, and the arguments as one
 * JSON object. The HTTP front (api_http.c) and the Lua runtime (the
 * site's pages) reach the same operations through the same route table,
 * so the pages and the API cannot disagree on who may see or change what.
 *
 * What an operation needs of C is a flag on its route, a step the core
 * runs around the SQL (apicall.c), so that the SQL decides everything else
 * and never sees a password or a mailed secret (docs/architecture.md,
 * "Accounts, and the core's steps around an operation"):
 *
 *   API_HASH      the new password `password` is taken out of the
 *                 arguments and checked against the policy (length, the
 *                 common passwords): the SQL gets _password_refused (why
 *                 not, in the caller's language) or, once its lookup let it
 *                 go on, the hash made on the hashing queue (_password_hash).
 *   API_VERIFY    a password is checked against the stored hash: `current`,
 *                 or a sign-in's `password`. The operation is called twice:
 *                 first with _lookup, to count the attempt under the limits
 *                 (platform.attempt) and refuse, or answer 100 with the
 *                 stored hash (api.proceed: NULL for an unknown address,
 *                 which gets the same work against a dummy hash); then,
 *                 after the check on the hashing queue, with the verdict
 *                 (_verified). API_HASH routes have the same lookup.
 *                 Each password taken is replaced by its length in bytes
 *                 (_password_bytes, _current_bytes).
 *   API_SECRET    a secret is drawn: its hash goes in (_secret_hash), the
 *                 secret comes back once, in the answer (`token`).
 *   API_EVENT_SECRET  a secret is drawn for the events only: its hash goes
 *                 in (_secret_hash), the secret to each event the answer
 *                 names (`token`), never to the answer: a link to be mailed.
 *   API_EVENTS    the answer may name events ("events": [{name, data}],
 *                 api.event), fired for the tenant's plugins after a
 *                 success with the data, the event secret and the caller's
 *                 language (`lang`); the operation runs through the Lua.
 *   API_SIGNIN    a session token and its CSRF token are drawn (the SQL
 *                 gets _session_hash and _new_csrf); a success sets the
 *                 session and CSRF cookies, on a page as over the API.
 *   API_SIGNOUT   a success clears the session cookie.
 *   API_ATTEMPTS  counts password attempts: every answer below 500 commits,
 *                 refusals too (the count is what a refusal wrote).
 *   API_FIELDS    a workflow record's fields: each string in "fields" is
 *                 rendered as Markdown (_fields_html, {name: html}); the
 *                 SQL keeps the HTML of the fields its kind declares
 *                 `markdown` (sql/code/records.sql, api.record_html).
 *   API_ICAL      a read whose answer's body is one JSON string, an
 *                 iCalendar document made by the SQL (sql/code/meetings.sql):
 *                 over HTTP a success is that text as text/calendar; a
 *                 refusal stays JSON. The pages get the string.
 *   API_DEFS      the tenant's workflows and step types as its Lua declared
 *                 them (core.definitions in core/lua/prelude.lua) go in as
 *                 _definitions: opening a table on a workflow keeps a
 *                 snapshot of its definition (sql/code/workflows.sql). The
 *                 operation runs through the tenant's Lua, which has them.
 *   API_BUNDLE    the body is a bundle as a .tar.gz (bundle_archive.h),
 *                 read and checked as `aantafel check` does before the SQL
 *                 runs (an admin's only: the others are refused by it
 *                 without the archive being read); its files go in as two
 *                 binary arrays ($5 paths, $6 contents), the bundle's
 *                 checksum and size as _checksum and _total_bytes. Over
 *                 HTTP only.
 *   API_STREAM    an export too large for one JSON value: the operation
 *                 answers what goes around its rows and opens a cursor on
 *                 them, which the daemon sends in batches as they are
 *                 taken (api_stream.h). Over HTTP only, never from Lua.
 *
 * Every call also gets _method, and from a session _csrf and _session
 * (the hash of its cookie); the stepped ones _client, the client's
 * address. Keys starting with "_" (and "…_html") never come from a
 * client. */
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
	API_MARKDOWN = 16,      /* "body", "description", "proposal", "outcome" and "final_text" become safe HTML (cmark) */
	API_EVENTS = 32,        /* its answer may name events to fire (runs through the tenant's Lua) */
	API_PRIVATE = 64,       /* writes only what guests never see: their cached reads stay valid */
	API_ATTEMPTS = 128,     /* counts password attempts: every answer below 500 commits, refusals too */
	API_EVENT_SECRET = 256, /* the daemon draws a secret that only the events see (a link to mail) */
	API_HASH = 512,         /* the new password: the policy, then hashed on the hashing queue */
	API_VERIFY = 1024,      /* a password checked against the stored hash (a lookup first) */
	API_SIGNIN = 2048,      /* draws a session and its CSRF token; a success sets their cookies */
	API_SIGNOUT = 4096,     /* a success clears the session cookie */
	API_DEFS = 8192,        /* gets the tenant's declared workflows (_definitions; runs through the tenant's Lua) */
	API_FIELDS = 16384,     /* each string of "fields" becomes safe HTML through cmark (_fields_html) */
	API_ICAL = 32768,       /* a read whose answer is iCalendar text (a JSON string): served as text/calendar */
	API_STREAM = 65536,     /* a download streamed from a cursor (api_stream.h); over HTTP only */
	API_BUNDLE = 131072,    /* the body is a bundle archive, read and checked by the daemon; over HTTP only */
	API_ANONYMOUS = 262144, /* authorised by a token in its arguments: run as a guest, no session or CSRF token */
};

/* The flags whose steps an api_call runs (apicall.h). */
#define API_STEPS (API_EVENTS | API_EVENT_SECRET | API_HASH | API_VERIFY | API_SIGNIN | API_SIGNOUT)

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

/* Finds the route of METHOD and PATH (relative to /api/v1, e.g.
 * "/tokens/3") and adds its path parameters to PARAMS. NULL when none
 * matches: *status is 404, or 405 with the methods that would in ALLOW. */
const struct api_route *api_route_find(const char *method, const char *path, size_t len, json_t *params,
				       int *status, char *allow, size_t allowlen);

/* Completes ARGS for ROUTE: drops keys the daemon sets ("_…", "…_html"),
 * adds _method, and a session's _csrf and _session, renders Markdown
 * (API_MARKDOWN, API_FIELDS),
 * draws the secret (API_SECRET: SECRET receives it, it must hold
 * API_SECRET_CHARS + 1). -1 when out of memory or randomness. The other
 * steps are apicall.c's. */
#define API_SECRET_CHARS (sizeof(API_TOKEN_PREFIX) - 1 + TOKEN_CHARS)
int api_prepare(const struct api_route *route, const char *method, const struct api_principal *who,
		json_t *args, char *secret);

/* Adds the tenant's declared definitions DEFS (JSON text; NULL: none
 * declared) to ARGS as _definitions, after api_prepare (which drops every
 * "_" key a client sent). -1 when out of memory or DEFS is not JSON. */
int api_add_definitions(json_t *args, const char *defs);

/* Queues ROUTE's statement on TXN: 0, API_TOO_LARGE when the arguments
 * as JSON are over API_ARGS_MAX bytes, or -1 (out of memory, the pool
 * refused). */
#define API_ARGS_MAX (512 * 1024)
#define API_TOO_LARGE (-2)
int api_query(struct db_txn *txn, const struct api_route *route, int64_t tenant_id, const struct api_principal *who,
	      const json_t *args);

/* Queues an API_BUNDLE route's statement with the bundle's files as
 * binary arrays (db_binary_array): the same answers as api_query. */
struct bundle;
int api_query_bundle(struct db_txn *txn, const struct api_route *route, int64_t tenant_id,
		     const struct api_principal *who, const json_t *args, const struct bundle *b);

/* An uploaded archive (API_BUNDLE) read (bundle_archive.h) and checked
 * as `aantafel check` does for tenant SLUG: the bundle, or NULL with
 * *REFUSAL set to the 422 answer's body, {"error": {code, message,
 * problems: [{file, line, message}]}} (NULL when out of memory). */
struct bundle *api_bundle_read(const void *data, size_t len, const char *slug, json_t **refusal);

/* Whether ROLES ("admin facilitator member" as granted) has admin. */
bool api_is_admin(const char *roles);

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
 * GETs without events, steps or platform-only use; what a guest sees
 * depends on the tenant's data alone). Malloc'd. */
char *api_guest_key(const struct api_route *r, int64_t tenant_id, const char *path, const char *args);

/* Every route, for the tests that compare them with openapi.json. */
const struct api_route *api_routes(size_t *n);

/* The OpenAPI document, embedded at build time. */
const char *api_openapi(size_t *len);

#endif
