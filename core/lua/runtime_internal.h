/* What the parts of the runtime share, and nothing outside core/runtime*.c
 * includes: the tenant state, the worker's runtime, the request and its
 * states, and the table of core operations. runtime.c keeps the states,
 * runtime_request.c drives a request, runtime_answer.c reads and sends its
 * answer, runtime_page.c keeps guests' shared pages, and runtime_core.c,
 * runtime_store.c and runtime_api.c hold the core functions Lua calls and
 * their operations. */
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

#define ASSETS_PREFIX "/assets/"         /* a bundle's static files */

struct api_call;
struct apicache;
struct bundle;
struct event;
struct event_base;
struct http_request;
struct lsched;
struct texts;
struct tmpl;
struct worker;

struct tmpl_entry {
	char *key;                      /* "T:path" or "P:path" */
	struct tmpl *t;
	struct tmpl_entry *next;
};

struct tstate {
	struct rt_worker *rw;           /* NULL when built by runtime_check_bundle */
	int64_t tenant_id;
	int version;
	char slug[64];
	char name[801];
	struct bundle *bundle;
	struct lsandbox *sb;
	int handle_ref;
	int api_ref;                    /* the prelude's handle_api */
	int events_ref;                 /* the prelude's handle_events */
	bool guarded;                   /* a request.before hook sees every request: no kept pages */
	struct rt_req *running;         /* the request whose coroutine runs now */
	struct lsched_tenant sched;     /* its turns in the worker's scheduler */
	int active;                     /* requests running in it */
	bool stale;                     /* a newer version replaced it */
	bool preview;                   /* a draft's, for its previews only (runtime_preview.c) */
	int64_t used_at;                /* a preview state: when a request last started in it (monotonic s) */
	struct tstate *prev, *next;     /* LRU list (head = most recent) or stale list */
	struct tmpl_entry *templates;
	char *defs;                     /* the declared workflows as JSON (core.definitions), or NULL */
	size_t defs_len;                /* its length: counted with the state's memory (ts_bytes) */
	char *problems;                 /* check mode: collected messages */
	size_t problems_len;
};

struct rt_worker {
	struct worker *w;
	struct tstate *head, *tail;
	struct tstate *stale;
	size_t max_bytes, state_limit;
	int64_t instructions, time_ms;
	int64_t wait_ms;                /* request_wait_limit */
	int64_t session_idle_s, session_absolute_s;
	unsigned releases;              /* requests ended, for RW_TRIM_EVERY */
	struct db_pool *pool;           /* the worker's; NULL when no database is configured */
	struct apicache *cache;         /* the worker's cache of guests' API reads */
	struct lsched *sched;           /* whose Lua runs next */
	struct event *preview_tick;     /* while drafts' states live: drops those left idle (rw_trim) */
};

struct answer {
	int status;
	const char *type;
	const char *body;
	size_t len;
	char location[512];
	int nheaders;
	char headers[16][2][256];
	const char *set_lang;           /* "nl" or "en": remember the person's choice (cookie at_lang) */
	bool shared;                    /* the same for every guest asking this (see page_keep) */
};

/* Where a request is. */
enum rq_state {
	RQ_LOCATING,            /* finding its tenant's state (the bundle may be fetched) */
	RQ_QUEUED,              /* waiting for a place in the worker's scheduler */
	RQ_SESSION,             /* has its place; its session is read */
	RQ_RUNNING,             /* its Lua runs, or waits for its next turn */
	RQ_CALLING,             /* a core call of its Lua waits for its answer */
	RQ_COMMITTING,          /* answered; its transaction commits before the answer goes */
	RQ_ANSWERED,            /* sent or failed: it is freed now */
};

struct rt_req;

/* The tenant's declared workflows and step types as JSON (core.definitions),
 * at most: half of what an operation's arguments may be. */
#define RT_DEFINITIONS_MAX (256 * 1024)

/* A core call: what the prelude's core functions yield with, by name.
 * The function that yields checked and encoded the arguments into the
 * request's params (0: the tenant, 1: the plugin, then its own); the
 * lifecycle begins the transaction when needed, then SEND sends the
 * statements (ending in rq_answered or rq_fail), PUSH turns the answer
 * into Lua values (under pcall: it may raise), and FREE drops what the
 * call kept (rq->op_state, which READY or SEND made) once it is answered,
 * or the request ends. */
struct core_op {
	const char *name;
	bool writes;                    /* the answer waits for COMMIT (the API's: per route, it says) */
	bool guest_data;                /* what guests see and the data generation follows: a guest's page made with it may be kept */
	bool (*ready)(struct rt_req *rq);   /* answered without the database: true, and rq_answered follows */
	void (*send)(struct rt_req *rq);
	int (*push)(lua_State *L, struct rt_req *rq, json_t **slot);
	void (*free)(struct rt_req *rq);
};

extern const struct core_op rt_op_get, rt_op_put, rt_op_delete, rt_op_list;    /* runtime_store.c */
extern const struct core_op rt_op_mail;                                          /* runtime_core.c */
extern const struct core_op rt_op_api, rt_op_apib;                               /* runtime_api.c */
extern const struct core_op rt_op_pdf;                                           /* runtime_pdf.c */

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
	bool session_read;              /* ... or was already, by its preview's look-up (runtime_preview.c) */
	struct db_txn *txn;
	enum rq_state state;
	int64_t wait_from_ms;           /* a core call is waiting since (0: none) */
	int64_t waited_ms;              /* ... and the request's earlier waits together */
	const struct core_op *op;       /* the core call it waits on, or NULL */
	void *op_state;                 /* that call's own state: made by its ready or send, dropped by its free */
	int nparams;
	char *params[6];
	bool asset;                     /* serving /assets/ only */
	int preview;                    /* the draft this page is a preview of (its version), 0: none */
	bool preview_clear;             /* its preview cookie no longer holds: cleared with the answer */
	bool preview_open;              /* /voorbeeld/TOKEN: the link is being opened */
	int preview_left;               /* the seconds the link has left */
	char preview_token[65];         /* the hash of the preview cookie's or link's token */
	char preview_session[65];       /* the hash of the session cookie it is checked with */
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
	/* A JSON API request whose operation has events runs through the
	 * tenant's Lua (runtime_api): the transaction is the API's, and the
	 * answer goes to api_done (body NULL: failed, rolled back by the
	 * API). */
	void (*api_done)(void *arg, int status, json_t *body);
	void *api_arg;
	struct db_txn **api_txnp;       /* the API's transaction: where the one now in txn goes back */
	json_t *api_args;
	json_t *api_answer;             /* the request's own operation's answer as the core gave it */
	char *page_key;                 /* a guest's GET: where a shared page is kept, NULL: not kept */
	uint64_t page_gen;              /* the tenant's data generation before the page was made */
	bool page_unshared;             /* it read or did what the generation does not follow: not kept */
	char page_csrf[TOKEN_CHARS + 1];        /* what the Lua sees as req.csrf while page_key is set */
	char api_method[8];
	char api_path[256];
	/* Events that came from a job (runtime_events): the tenant's
	 * handle_events runs with api_args as the list, answered as the API
	 * is; there is no HTTP request (req is NULL). */
	bool events;
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
/* The tenant and the worker's session lifetimes as the text parameters
 * of a session's look-up (api.session_principal and the preview's). */
struct rq_session_args {
	char tenant[24], idle[24], absolute[24];
};
void rq_session_args(const struct rt_req *rq, struct rq_session_args *a);
/* The signed-in person of session SESSION_HASH from row 0 of R
 * (account_id, display_name, roles from column COL on), read from
 * api.session_principal. */
void rq_set_user(struct rt_req *rq, const PGresult *r, int col, const char *session_hash);
struct event_base *rq_event_base(const struct rt_req *rq);

/* runtime.c: raises MSG at the plugin's line. */
int plugin_error(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* runtime.c: the worker's cache of guests' API reads. */
struct apicache *rq_cache(const struct rt_req *rq);

/* runtime_api.c: the JSON API's operations from Lua. */
int core_api_batch(lua_State *L);
int core_api(lua_State *L);
int core_api_route(lua_State *L);

/* runtime.c: the states. */
const struct texts *rt_platform_texts(void);
void add_problem(struct tstate *ts, const char *msg);
void ts_touch(struct rt_worker *rw, struct tstate *ts);
struct tstate *ts_find(struct rt_worker *rw, int64_t tenant_id, int preview);
void rw_watch_previews(struct rt_worker *rw);
void ts_retire(struct rt_worker *rw, struct tstate *ts);
void ts_release(struct tstate *ts);
size_t ts_bytes(const struct tstate *ts);
void rw_trim(struct rt_worker *rw, const struct tstate *keep);
struct tstate *ts_build(struct rt_worker *rw, int64_t tenant_id, const char *slug, const char *name,
			struct bundle *b, size_t mem_limit, char *err, size_t errlen);

/* runtime_core.c, runtime_store.c, runtime_api.c: the core functions. */
int core_file(lua_State *L);
int core_new_env(lua_State *L);
int core_load(lua_State *L);
int core_describe(lua_State *L);
int core_log(lua_State *L);
int core_protect(lua_State *L);
int core_is_safe(lua_State *L);
int core_markdown(lua_State *L);
int core_guarded(lua_State *L);
int core_where(lua_State *L);
int core_definitions(lua_State *L);
int core_url(lua_State *L);
int core_text(lua_State *L);
int core_render(lua_State *L);
int core_mail(lua_State *L);
int core_pdf(lua_State *L);
int core_db(lua_State *L);
void rt_store_register_statements(void);

/* runtime_request.c: the lifecycle. */
void rq_register_statements(void);
void rq_scheduler_callbacks(void (**run)(struct lsched_item *, void *),
			    void (**refuse)(struct lsched_item *, int, void *));
void rq_respond_done(struct rt_req *rq);
void rq_free(struct rt_req *rq);
void rq_committed(struct db_txn *txn, enum db_status st, void *arg);
void rq_locate(struct rt_req *rq);

/* runtime_preview.c: a draft's preview. */
#define RT_PREVIEW_IDLE_S 900           /* a draft's state unused this long goes at the next trim */
void preview_register_statements(void);
bool preview_route(struct rt_req *rq);
void preview_banner(struct rt_req *rq, const char *body, size_t len);

/* runtime_answer.c: the answer. */
void rq_respond(struct rt_req *rq, int idx);
void rq_api_respond(struct rt_req *rq, int nres);
void send_answer(struct rt_req *rq);
void error_page(struct http_request *req, int status);
void serve_asset(struct rt_req *rq, struct bundle *b);
void add_cookies(struct rt_req *rq);
void add_common_headers(struct http_request *req);

/* runtime_page.c: guests' shared pages. */
bool page_from_cache(struct rt_req *rq);
void page_keep(struct rt_req *rq, const struct answer *a);
void body_with_token(struct http_request *req, const char *body, size_t len, const char *from, const char *to);
void put_token(char *s, size_t len, const char *from, const char *to);

#endif
