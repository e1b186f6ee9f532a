/* What the runtime's request lifecycle (runtime.c) shares with the JSON
 * API's operations called from Lua (runtime_api.c). Nothing outside
 * core/runtime*.c includes this header. */
#ifndef AANTAFEL_RUNTIME_INTERNAL_H
#define AANTAFEL_RUNTIME_INTERNAL_H

#include <lua.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "api.h"
#include "cookie.h"
#include "db.h"
#include "lsandbox.h"
#include "lsched.h"

struct answer;
struct api_call;
struct event_base;
struct http_request;
struct rt_worker;
struct tstate;

/* The core calls a request can wait on, resolved once from the name the
 * Lua yielded with (core.db's store calls, core.mail, core.api's
 * operations). */
enum core_op {
	OP_GET,
	OP_PUT,
	OP_DELETE,
	OP_LIST,
	OP_MAIL,                        /* core.mail: a message into the outbox */
	OP_API,                         /* core.api: one of the JSON API's operations */
	OP_APIB,                        /* core.api_batch: several, in one round trip */
};

struct rt_req {
	struct rt_worker *rw;
	struct http_request *req;
	struct tstate *ts;
	int64_t tenant_id;
	int version;
	char slug[64];
	char name[801];
	lua_State *co;
	int co_ref;
	struct lbudget budget;
	struct lsched_item item;        /* its turns at Lua in the worker */
	int resume_nargs;               /* values waiting on the coroutine's stack for its turn */
	bool session_pending;           /* its session is read when it gets its place */
	struct db_txn *txn;
	enum core_op op;                /* the call waiting on the database */
	int nparams;
	char *params[6];
	bool asset;                     /* serving /assets/ only */
	bool wrote;                     /* a call that writes was sent */
	bool changed;                   /* ... to what guests may see: their cached reads are stale */
	struct answer *answer;          /* built, waiting for COMMIT */
	char *json;
	char csrf[TOKEN_CHARS + 1];     /* the request's CSRF token (cookie at_csrf) */
	bool new_csrf;                  /* set the cookie with the answer */
	bool secure;                    /* over TLS (a trusted proxy says so): __Host- cookies, HSTS */
	bool touched;                   /* a session was read, its last use moved: commit */
	bool has_user;
	char session_hash[65];          /* of the session cookie that was valid */
	char set_session[TOKEN_CHARS + 1];      /* a new session to set ("" none) */
	bool clear_session;
	int64_t user_id;
	char user_name[401];
	char user_roles[64];            /* "admin facilitator member", as granted */
	char api_secret[API_SECRET_CHARS + 1];  /* op "api": a secret drawn for the operation */
	struct api_call *api_call;      /* op "api": an operation with steps (apicall.h) */
	bool api_text;                  /* op "api": its body wanted as the API's JSON text */
	/* A JSON API request whose operation has events runs through the
	 * tenant's Lua (runtime_api): the transaction is the API's, and the
	 * answer goes to api_done (body NULL: failed, rolled back by the
	 * API). */
	void (*api_done)(void *arg, int status, json_t *body);
	void *api_arg;
	json_t *api_args;
	json_t *api_answer;             /* the request's own operation's answer as the core gave it */
	bool api_own;                   /* op "api": this call is that operation (not a hook's) */
	char *api_cached;               /* op "api": a guest's read answered from the worker's cache */
	char *api_cache_key;            /* op "api": where to keep this guest's read, NULL: not kept */
	uint64_t api_cache_gen;         /* the tenant's data generation before it was read */
	char *page_key;                 /* a guest's GET: where a shared page is kept, NULL: not kept */
	uint64_t page_gen;              /* the tenant's data generation before the page was made */
	bool page_unshared;             /* it read or did what the generation does not follow: not kept */
	char page_csrf[TOKEN_CHARS + 1];        /* what the Lua sees as req.csrf while page_key is set */
	struct apib_item *batch;        /* op "apib": its calls */
	int nbatch;
	char api_method[8];
	char api_path[256];
};

/* The core call's parameter I (0: the tenant, 1: the plugin, then the
 * call's own), NULL when the call had none there or sent nil. */
static inline const char *rq_param(const struct rt_req *rq, int i)
{
	return i < rq->nparams ? rq->params[i] : NULL;
}

/* A parameter that may be absent, or DEFAULT. */
static inline const char *rq_param_or(const struct rt_req *rq, int i, const char *dflt)
{
	const char *v = rq_param(rq, i);
	return v ? v : dflt;
}

/* runtime.c: the request's lifecycle. */
void rq_answered(struct db_txn *txn, enum db_status st, void *arg);
void rq_answer_soon(struct rt_req *rq);
void rq_fail(struct rt_req *rq, int status, const char *why);
void rq_clear_params(struct rt_req *rq);
struct event_base *rq_event_base(const struct rt_req *rq);

/* runtime.c: raises MSG at the plugin's line. */
int plugin_error(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* runtime.c: the worker's cache of guests' API reads. */
struct apicache *rq_cache(const struct rt_req *rq);

/* runtime_api.c: the JSON API's operations from Lua. */
/* A guest's read answered from the cache: true when the answer is ready
 * (rq_answered was called); else the key to keep it under is set. */
bool rq_api_cached(struct rt_req *rq);
/* core.api_batch's calls read and checked; true when every one was in the
 * guests' cache (answered, no transaction needed). */
bool rq_apib_prepare(struct rt_req *rq);
void rq_apib_send(struct rt_req *rq);
int push_apib_answer(lua_State *L, struct rt_req *rq);
int core_api_batch(lua_State *L);
void rq_apib_free(struct rt_req *rq);
int core_api(lua_State *L);
int core_api_route(lua_State *L);
void rq_api_send(struct rt_req *rq);
int push_api_answer(lua_State *L, struct rt_req *rq, json_t **slot);

/* Frees the state of an operation with steps. */
void rq_api_free(struct rt_req *rq);

#endif
