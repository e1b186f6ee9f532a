/* The Lua runtime. Each worker keeps the live tenant states in an LRU list
 * bounded by their total bytes; a state is built from the platform
 * plugins and one version of the tenant's bundle by the embedded prelude
 * (core/prelude.lua), which loads tenant.lua and the plugins and keeps the
 * hooks and routes. A request runs in a coroutine of its tenant's state;
 * when the Lua calls the store, the coroutine yields with the core tag and
 * the request waits on the database pool, inside the request's one
 * transaction, which commits before the answer is sent. */
#include "runtime.h"

#include <event2/event.h>
#include <jansson.h>
#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apicache.h"
#include "app.h"
#include "datagen.h"
#include "db.h"
#include "log.h"
#include "cookie.h"
#include "ljson.h"
#include "lsandbox.h"
#include "mail.h"
#include "static_files.h"
#include "template.h"
#include "urlenc.h"
#include "texts.h"
#include "utf8.h"
#include "runtime_internal.h"
#include "worker.h"

extern const char prelude_lua[];
extern const unsigned long prelude_lua_len;

#define STORE_DOC_MAX (256 * 1024)     /* one JSON document */
#define STORE_KEY_MAX 200
#define STORE_LIST_MAX 100
#define RENDER_MAX (8 * 1024 * 1024)   /* one rendered page */
#define LOAD_INSTRUCTIONS 50000000
#define LOAD_MS 5000
#define ASSETS_PREFIX "/assets/"
#define RW_TRIM_EVERY 32              /* requests between looks at the states' total bytes */

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
	bool guarded;                   /* a request.before hook sees every request: no kept pages */
	struct rt_req *running;         /* the request whose coroutine runs now */
	struct lsched_tenant sched;     /* its turns in the worker's scheduler */
	int active;                     /* requests running in it */
	bool stale;                     /* a newer version replaced it */
	struct tstate *prev, *next;     /* LRU list (head = most recent) or stale list */
	struct tmpl_entry *templates;
	char *problems;                 /* check mode: collected messages */
	size_t problems_len;
};

struct rt_worker {
	struct worker *w;
	struct tstate *head, *tail;
	struct tstate *stale;
	size_t max_bytes, state_limit;
	int64_t instructions, time_ms;
	int64_t session_idle_s, session_absolute_s;
	unsigned live;
	unsigned releases;              /* requests ended, for RW_TRIM_EVERY */
	struct apicache *cache;         /* guests' API reads */
	struct lsched *sched;           /* whose Lua runs next */
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

static struct bundle *platform;
static struct texts *platform_texts;     /* the platform's translations, shared by all states */
static int stmt_get, stmt_put, stmt_list_key, stmt_list_recent, stmt_delete, stmt_session;

static struct tstate *ts_build(struct rt_worker *rw, int64_t tenant_id, const char *slug, const char *name,
			       struct bundle *b, size_t mem_limit, char *err, size_t errlen);
static void ts_free(struct tstate *ts);
static void ts_touch(struct rt_worker *rw, struct tstate *ts);
static void ts_unlink(struct rt_worker *rw, struct tstate *ts);
static void ts_release(struct tstate *ts);
static void rw_trim(struct rt_worker *rw, const struct tstate *keep);
static void on_bundle(struct bundle *b, const char *why, void *arg);
static void start_with_bundle(struct rt_req *rq, struct bundle *b);
static void rq_start(struct rt_req *rq);
static void rq_step(struct rt_req *rq, int nargs);
static void rq_slice(struct rt_req *rq, int nargs);
static void rq_sched_run(struct lsched_item *it, void *arg);
static void rq_sched_refuse(struct lsched_item *it, int retry_after, void *arg);
static void rq_core_call(struct rt_req *rq, int nres);
static void rq_begun(struct db_txn *txn, enum db_status st, void *arg);
static void rq_send(struct rt_req *rq);
static void rq_committed(struct db_txn *txn, enum db_status st, void *arg);
static void rq_free(struct rt_req *rq);
static void rq_respond(struct rt_req *rq, int idx);
static void rq_api_respond(struct rt_req *rq, int nres);
static void add_cookies(struct rt_req *rq);
static void send_answer(struct rt_req *rq);
static void commit_ignored(struct db_txn *txn, enum db_status st, void *arg);
static void serve_asset(struct rt_req *rq, struct bundle *b);
static void error_page(struct http_request *req, int status);
static bool page_from_cache(struct rt_req *rq);
static void put_token(char *s, size_t len, const char *from, const char *to);
static void body_with_token(struct http_request *req, const char *body, size_t len, const char *from,
			    const char *to);
static void page_keep(struct rt_req *rq, const struct answer *a);
static void add_common_headers(struct http_request *req);
static void add_problem(struct tstate *ts, const char *msg);

/* ---------------------------------------------------------------- global */

int runtime_global_init(const struct config *cfg, char *err, size_t errlen)
{
	char why[512];
	platform = bundle_read_dir(cfg->plugins_dir, why, sizeof(why));
	if (!platform) {
		snprintf(err, errlen, "plugins directory %s: %s", cfg->plugins_dir, why);
		return -1;
	}
	platform_texts = texts_from_bundle(platform, why, sizeof(why));
	if (!platform_texts) {
		snprintf(err, errlen, "plugins directory %s: %s", cfg->plugins_dir, why);
		bundle_unref(platform);
		platform = NULL;
		return -1;
	}
	return 0;
}

void runtime_global_fini(void)
{
	if (platform)
		bundle_unref(platform);
	platform = NULL;
	texts_free(platform_texts);
	platform_texts = NULL;
}

struct bundle *runtime_platform(void)
{
	return platform;
}

void runtime_register_statements(void)
{
	stmt_get = db_stmt("SELECT value::text, version FROM plugin_store"
			   " WHERE tenant_id = $1 AND plugin = $2 AND key = $3");
	stmt_put = db_stmt("SELECT status, version FROM platform.plugin_store_put($1, $2, $3, $4::jsonb, $5)");
	stmt_list_key = db_stmt("SELECT key, value::text, version, extract(epoch FROM updated_at)::bigint"
				" FROM plugin_store WHERE tenant_id = $1 AND plugin = $2"
				" AND left(key, length($3)) = $3 ORDER BY key LIMIT $4");
	stmt_list_recent = db_stmt("SELECT key, value::text, version, extract(epoch FROM updated_at)::bigint"
				   " FROM plugin_store WHERE tenant_id = $1 AND plugin = $2"
				   " AND left(key, length($3)) = $3 ORDER BY updated_at DESC, key LIMIT $4");
	/* The one look-up of a session, the API's too (sql/code/sessions.sql):
	 * it moves the session's last use, kept when the request commits. */
	stmt_session = db_stmt("SELECT account_id, display_name, roles FROM api.session_principal($1, $2, $3, $4)");
	stmt_delete = db_stmt("DELETE FROM plugin_store WHERE tenant_id = $1 AND plugin = $2 AND key = $3"
			      " AND ($4::bigint IS NULL OR version = $4) RETURNING 1");
}

/* ---------------------------------------------------------------- worker */

struct rt_worker *runtime_worker_new(struct worker *w)
{
	struct rt_worker *rw = calloc(1, sizeof(*rw));
	if (!rw)
		return NULL;
	rw->w = w;
	rw->cache = apicache_new((size_t)w->cfg->api_cache_size);
	rw->sched = lsched_new(w->base, rq_sched_run, rq_sched_refuse, rw);
	if (!rw->cache || !rw->sched) {
		apicache_free(rw->cache);
		lsched_free(rw->sched);
		free(rw);
		return NULL;
	}
	runtime_worker_configure(rw, w->cfg);
	return rw;
}

void runtime_worker_configure(struct rt_worker *rw, const struct config *cfg)
{
	rw->max_bytes = (size_t)cfg->lua_states_max_bytes;
	rw->state_limit = (size_t)cfg->lua_memory_limit;
	rw->instructions = cfg->lua_instruction_limit;
	rw->time_ms = cfg->lua_time_limit;
	rw->session_idle_s = cfg->session_idle_timeout / 1000;
	rw->session_absolute_s = cfg->session_absolute_timeout / 1000;
	if (rw->cache)
		apicache_configure(rw->cache, (size_t)cfg->api_cache_size);
	if (rw->sched) {
		struct lsched_limits lim = {
			.concurrency = (unsigned)cfg->lua_tenant_concurrency,
			.queue = (unsigned)cfg->lua_tenant_queue,
			.wait_ns = cfg->lua_time_limit * 1000000,
			.slice_ns = cfg->lua_slice * 1000000,
		};
		lsched_configure(rw->sched, &lim);
	}
}

struct apicache *rq_cache(const struct rt_req *rq)
{
	return rq->rw->cache;
}

struct apicache *runtime_cache(struct rt_worker *rw)
{
	return rw->cache;
}

void runtime_worker_free(struct rt_worker *rw)
{
	if (!rw)
		return;
	/* What still waits for its turn is answered 503 first. */
	lsched_free(rw->sched);
	rw->sched = NULL;
	while (rw->head) {
		struct tstate *ts = rw->head;
		ts_unlink(rw, ts);
		ts_free(ts);
	}
	while (rw->stale) {
		struct tstate *ts = rw->stale;
		rw->stale = ts->next;
		ts_free(ts);
	}
	apicache_free(rw->cache);
	free(rw);
}

unsigned runtime_live_states(const struct rt_worker *rw)
{
	return rw->live;
}

/* ---------------------------------------------------------------- LRU */

static void ts_unlink(struct rt_worker *rw, struct tstate *ts)
{
	if (ts->prev)
		ts->prev->next = ts->next;
	else
		rw->head = ts->next;
	if (ts->next)
		ts->next->prev = ts->prev;
	else
		rw->tail = ts->prev;
	ts->prev = ts->next = NULL;
	rw->live--;
}

static void ts_touch(struct rt_worker *rw, struct tstate *ts)
{
	if (rw->head == ts)
		return;
	if (ts->prev || ts->next || rw->tail == ts) {
		ts_unlink(rw, ts);
	}
	ts->next = rw->head;
	if (rw->head)
		rw->head->prev = ts;
	rw->head = ts;
	if (!rw->tail)
		rw->tail = ts;
	rw->live++;
}

static struct tstate *ts_find(struct rt_worker *rw, int64_t tenant_id)
{
	for (struct tstate *ts = rw->head; ts; ts = ts->next)
		if (ts->tenant_id == tenant_id)
			return ts;
	return NULL;
}

/* A newer version is deployed: the old state goes now, or when its last
 * request ends. */
static void ts_retire(struct rt_worker *rw, struct tstate *ts)
{
	ts_unlink(rw, ts);
	if (ts->active == 0) {
		ts_free(ts);
		return;
	}
	ts->stale = true;
	ts->next = rw->stale;
	if (rw->stale)
		rw->stale->prev = ts;
	rw->stale = ts;
}

static void ts_release(struct tstate *ts)
{
	struct rt_worker *rw = ts->rw;
	ts->active--;
	if (ts->stale && ts->active == 0) {
		if (ts->prev)
			ts->prev->next = ts->next;
		else
			rw->stale = ts->next;
		if (ts->next)
			ts->next->prev = ts->prev;
		ts_free(ts);
		return;
	}
	/* States grow mostly when built (trimmed then); between builds a
	 * look every RW_TRIM_EVERY requests keeps the walk off the hot path. */
	if (++rw->releases % RW_TRIM_EVERY == 0)
		rw_trim(rw, NULL);
}

/* Drops idle states from the cold end until the live ones fit. A state
 * holding a suspended request is never dropped. */
static void rw_trim(struct rt_worker *rw, const struct tstate *keep)
{
	size_t total = 0;
	for (struct tstate *ts = rw->head; ts; ts = ts->next)
		total += ts->sb->mem_used;
	struct tstate *ts = rw->tail;
	while (ts && total > rw->max_bytes) {
		struct tstate *prev = ts->prev;
		if (ts->active == 0 && ts != keep) {
			total -= ts->sb->mem_used;
			ts_unlink(rw, ts);
			ts_free(ts);
		}
		ts = prev;
	}
}

/* ---------------------------------------------------------------- core functions for the prelude */

static struct tstate *ts_of(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

static int core_file(lua_State *L)
{
	struct tstate *ts = ts_of(L);
	const char *which = luaL_checkstring(L, 1);
	const char *path = luaL_checkstring(L, 2);
	const struct bundle *b = strcmp(which, "platform") == 0 ? platform : ts->bundle;
	const struct bundle_file *f = b ? bundle_find(b, path) : NULL;
	if (!f)
		return 0;
	lua_pushlstring(L, f->data, f->len);
	return 1;
}

static int core_new_env(lua_State *L)
{
	lsb_push_env(lsb_of(L));
	return 1;
}

static int core_load(lua_State *L)
{
	size_t len;
	const char *src = luaL_checklstring(L, 1, &len);
	const char *name = luaL_checkstring(L, 2);
	luaL_checktype(L, 3, LUA_TTABLE);
	lsb_charge(L, (int64_t)(len / LSB_SCAN_BYTES_PER_UNIT) + 1);    /* compiling reads every byte */
	char err[512];
	if (lsb_load_in(L, src, len, name, 3, err, sizeof(err)) != 0) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	return 1;
}

static int core_describe(lua_State *L)
{
	if (lua_type(L, 1) == LUA_TSTRING) {
		size_t len;
		const char *s = lua_tolstring(L, 1, &len);
		lua_pushfstring(L, "'%s'", len > 60 ? "(a long string)" : s);
	} else if (lua_type(L, 1) == LUA_TNUMBER) {
		lua_pushstring(L, lua_tostring(L, 1));
	} else {
		lua_pushstring(L, luaL_typename(L, 1));
	}
	return 1;
}

static int core_log(lua_State *L)
{
	struct tstate *ts = ts_of(L);
	const char *level = luaL_checkstring(L, 1);
	const char *msg = luaL_checkstring(L, 2);
	if (!ts->rw) {
		if (strcmp(level, "warn") == 0)
			add_problem(ts, msg);
		return 0;
	}
	if (strcmp(level, "warn") == 0)
		log_warn("tenant=%s version=%d: %s", ts->slug, ts->version, msg);
	else
		log_info("tenant=%s: %s", ts->slug, msg);
	return 0;
}

static int core_protect(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	lsb_protect(L);
	return 1;
}

static int core_is_safe(lua_State *L)
{
	size_t len;
	lua_pushboolean(L, tmpl_to_safehtml(L, 1, &len) != NULL);
	return 1;
}

/* core.guarded(): the tenant has request.before hooks, which must see
 * every request: its guests' pages are not given from the cache. */
static int core_guarded(lua_State *L)
{
	ts_of(L)->guarded = true;
	return 0;
}

/* core.url(path): PATH on this request's host as an absolute URL (links
 * in mails), or PATH itself when the Host is not a plain host[:port]. */
static int core_url(lua_State *L)
{
	struct tstate *ts = ts_of(L);
	const char *path = luaL_checkstring(L, 1);
	const struct rt_req *rq = ts->running;
	/* The Host header as sent, with its port (http_req_host drops it). */
	const char *host = rq ? http_req_header(rq->req, "Host") : NULL;
	bool ok = host && *host && strlen(host) <= 260 && path[0] == '/' && path[1] != '/';
	for (const char *h = host; ok && *h; h++)
		ok = (*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9') || *h == '.' ||
		     *h == '-' || *h == ':';
	if (!ok) {
		lua_settop(L, 1);
		return 1;
	}
	lua_pushfstring(L, "%s://%s%s", http_req_secure(rq->req) ? "https" : "http", host, path);
	return 1;
}

/* core.text(lang, key): the platform's text of KEY, or nil. */
static int core_text(lua_State *L)
{
	const char *s = texts_get(platform_texts, luaL_checkstring(L, 1), luaL_checkstring(L, 2));
	if (s)
		lua_pushstring(L, s);
	else
		lua_pushnil(L);
	return 1;
}

/* ---------------------------------------------------------------- templates */

struct render_ctx {
	struct tstate *ts;
	const char *plugin;
	const char *lang;               /* for the platform's texts */
	lua_State *L;
	int strings;            /* registry reference of the translations, or LUA_NOREF */
	char err[512];
};

static bool template_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 100 || name[0] == '/' || strstr(name, ".."))
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '_' || *p == '-' || *p == '/'))
			return false;
	return true;
}

/* Tenant bundle, then the plugin's own templates (the tenant's plugin or
 * the platform's), then the platform's defaults: the first that exists. */
static const struct tmpl *template_lookup(void *arg, const char *name)
{
	struct render_ctx *rc = arg;
	struct tstate *ts = rc->ts;
	if (!template_name_ok(name)) {
		snprintf(rc->err, sizeof(rc->err), "bad template name '%.100s'", name);
		return NULL;
	}
	const struct bundle *from[4] = {ts->bundle, ts->bundle, platform, platform};
	for (int i = 0; i < 4; i++) {
		if (!from[i])
			continue;
		char path[320];
		if (i == 1)
			snprintf(path, sizeof(path), "plugins/%s/templates/%s", rc->plugin, name);
		else if (i == 2)
			snprintf(path, sizeof(path), "%s/templates/%s", rc->plugin, name);
		else
			snprintf(path, sizeof(path), "templates/%s", name);
		const struct bundle_file *f = bundle_find(from[i], path);
		if (!f)
			continue;
		char key[340];
		snprintf(key, sizeof(key), "%c:%s", from[i] == platform ? 'P' : 'T', path);
		for (struct tmpl_entry *e = ts->templates; e; e = e->next)
			if (strcmp(e->key, key) == 0)
				return e->t;
		char shown[340];
		snprintf(shown, sizeof(shown), "%s%s", from[i] == platform ? "plugins/" : "", path);
		struct tmpl *t = tmpl_compile(shown, f->data, f->len, rc->err, sizeof(rc->err));
		if (!t)
			return NULL;
		struct tmpl_entry *e = calloc(1, sizeof(*e));
		char *k = strdup(key);
		if (!e || !k) {
			free(e);
			free(k);
			tmpl_free(t);
			snprintf(rc->err, sizeof(rc->err), "out of memory");
			return NULL;
		}
		e->key = k;
		e->t = t;
		e->next = ts->templates;
		ts->templates = e;
		return t;
	}
	snprintf(rc->err, sizeof(rc->err), "no template '%.100s'", name);
	return NULL;
}

static const char *template_translate(void *arg, const char *key)
{
	struct render_ctx *rc = arg;
	if (rc->strings == LUA_NOREF)
		return texts_get(platform_texts, rc->lang, key);
	/* The engine renders inside a protected call of its own: no stack
	 * index of core_render's frame is valid here, the registry is. */
	if (!lua_checkstack(rc->L, 2))
		return NULL;
	lua_rawgeti(rc->L, LUA_REGISTRYINDEX, rc->strings);
	lua_pushstring(rc->L, key);
	const char *s = lua_rawget(rc->L, -2) == LUA_TSTRING ? lua_tostring(rc->L, -1) : NULL;
	lua_pop(rc->L, 2);      /* the table keeps the string alive */
	if (s)
		return s;
	/* The tenant's own strings win; then the platform's, in the page's
	 * language, then in Dutch. */
	s = texts_get(platform_texts, rc->lang, key);
	return s ? s : texts_get(platform_texts, "nl", key);
}

/* core.render(plugin, name, view, strings) -> safe HTML */
static int push_rendered(lua_State *L);

static int core_render(lua_State *L)
{
	struct render_ctx rc = {.ts = ts_of(L), .L = L, .strings = LUA_NOREF};
	rc.plugin = luaL_checkstring(L, 1);
	const char *name = luaL_checkstring(L, 2);
	rc.lang = luaL_optstring(L, 5, "nl");
	luaL_checktype(L, 3, LUA_TTABLE);
	const struct tmpl *t = template_lookup(&rc, name);
	if (!t)
		return plugin_error(L, "render: %s", rc.err);
	if (lua_type(L, 4) == LUA_TTABLE) {
		lua_pushvalue(L, 4);
		rc.strings = luaL_ref(L, LUA_REGISTRYINDEX);
	}
	struct tmpl_env env = {.lookup = template_lookup, .translate = template_translate, .ctx = &rc};
	struct tbuf out;
	tbuf_init(&out, RENDER_MAX);
	char err[512];
	int rrc = tmpl_render(t, &env, L, 3, &out, err, sizeof(err));
	luaL_unref(L, LUA_REGISTRYINDEX, rc.strings);
	if (rrc != 0) {
		tbuf_free(&out);
		return plugin_error(L, "render: %s", err);
	}
	/* Pushing may fail (memory, a spent budget): the buffer is freed
	 * either way before the error goes on. */
	lua_pushcfunction(L, push_rendered);
	lua_pushlightuserdata(L, &out);
	int st = lua_pcall(L, 1, 1, 0);
	tbuf_free(&out);
	if (st != LUA_OK)
		return lua_error(L);
	return 1;
}

static int push_rendered(lua_State *L)
{
	const struct tbuf *out = lua_touserdata(L, 1);
	tmpl_push_safehtml(L, out->data ? out->data : "", out->len);
	return 1;
}

/* ---------------------------------------------------------------- store calls */

/* Raises MSG located at the plugin's line: level 1 is the prelude's
 * wrapper (store.get, render), level 2 the plugin that called it. */
int plugin_error(lua_State *L, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	luaL_where(L, 2);
	lua_pushstring(L, msg);
	lua_concat(L, 2);
	return lua_error(L);
}

static bool key_ok(lua_State *L, int idx, size_t *len)
{
	if (lua_type(L, idx) != LUA_TSTRING)
		return false;
	lua_tolstring(L, idx, len);
	return *len >= 1 && *len <= STORE_KEY_MAX;
}

/* core.db(op, plugin, ...): checks and encodes the arguments, then yields
 * to the request's scheduler with the core tag: (tag, op, plugin, a, b, c)
 * with every value a string or nil. */
static int core_db(lua_State *L)
{
	const char *op = luaL_checkstring(L, 1);
	luaL_checkstring(L, 2);
	if (!lua_isyieldable(L))
		return plugin_error(L, "the store can be used while serving a request, not while loading"
				     " (or inside a sort comparator, gsub callback or metamethod)");
	size_t klen;
	lua_settop(L, 5);
	if (strcmp(op, "get") == 0 || strcmp(op, "delete") == 0 || strcmp(op, "put") == 0) {
		if (!key_ok(L, 3, &klen))
			return plugin_error(L, "store.%s: the key must be a string of 1 to %d bytes", op, STORE_KEY_MAX);
	}
	if (strcmp(op, "put") == 0) {
		char err[200];
		json_t *j = ljson_from_lua(L, 4, 0, err, sizeof(err));
		if (!j)
			return plugin_error(L, "store.put: %s", err);
		size_t tlen = json_dumpb(j, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
		if (tlen > STORE_DOC_MAX) {
			json_decref(j);
			return plugin_error(L, "store.put: the document is %d bytes, over the limit of %d", (int)tlen,
					  STORE_DOC_MAX);
		}
		/* Written into Lua's memory: collected, even if a later push raises. */
		char *text = tlen ? lua_newuserdatauv(L, tlen, 0) : NULL;
		if (!text || json_dumpb(j, text, tlen, JSON_COMPACT | JSON_ENCODE_ANY) != tlen) {
			json_decref(j);
			return plugin_error(L, "store.put: the document cannot be encoded");
		}
		json_decref(j);
		lua_pushlstring(L, text, tlen);
		lua_replace(L, 4);
		lua_settop(L, 5);       /* the userdata goes */
		if (!lua_isnil(L, 5) && !lua_isinteger(L, 5))
			return plugin_error(L, "store.put: the expected version must be an integer or nil");
	} else if (strcmp(op, "delete") == 0) {
		if (!lua_isnil(L, 4) && !lua_isinteger(L, 4))
			return plugin_error(L, "store.delete: the expected version must be an integer or nil");
		lua_settop(L, 4);
	} else if (strcmp(op, "list") == 0) {
		size_t plen;
		if (lua_type(L, 3) != LUA_TSTRING || (lua_tolstring(L, 3, &plen), plen > STORE_KEY_MAX))
			return plugin_error(L, "store.list: the prefix must be a string of at most %d bytes", STORE_KEY_MAX);
		lua_Integer limit = 20;
		const char *order = "key";
		if (lua_type(L, 4) == LUA_TTABLE) {
			if (lua_getfield(L, 4, "limit") != LUA_TNIL) {
				if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > STORE_LIST_MAX)
					return plugin_error(L, "store.list: limit must be an integer from 1 to %d", STORE_LIST_MAX);
				limit = lua_tointeger(L, -1);
			}
			if (lua_getfield(L, 4, "order") != LUA_TNIL) {
				order = lua_tostring(L, -1);
				if (!order || (strcmp(order, "key") != 0 && strcmp(order, "recent") != 0))
					return plugin_error(L, "store.list: order must be \"key\" or \"recent\"");
			}
			lua_pop(L, 2);
		} else if (!lua_isnil(L, 4)) {
			return plugin_error(L, "store.list: options must be a table");
		}
		lua_pushinteger(L, limit);
		lua_replace(L, 4);
		lua_pushstring(L, order);
		lua_replace(L, 5);
	} else if (strcmp(op, "get") == 0) {
		lua_settop(L, 3);
	} else {
		return plugin_error(L, "unknown store operation");
	}
	int n = lua_gettop(L);
	lsb_push_core_tag(L);
	lua_insert(L, 1);
	return lua_yield(L, n + 1);
}

/* core.mail(to, subject, text, html): a message into the outbox, only
 * for platform plugins. What the outbox would refuse is refused here,
 * before the yield: nil, "invalid". Yields like core.db. */
static int core_mail(lua_State *L)
{
	if (!lua_isyieldable(L))
		return plugin_error(L, "mail.send works while serving a request only");
	for (int i = 1; i <= 3; i++)
		if (lua_type(L, i) != LUA_TSTRING)
			return plugin_error(L, "mail.send needs an address, a subject and a text");
	size_t hlen = 0;
	const char *html = NULL;
	if (!lua_isnoneornil(L, 4) && !(html = tmpl_to_safehtml(L, 4, &hlen)))
		return plugin_error(L, "mail.send: html must be safe HTML from plugin.render");
	size_t tlen;
	const char *text = lua_tolstring(L, 3, &tlen);
	if (!mail_address_valid(lua_tostring(L, 1)) || !mail_header_text_valid(lua_tostring(L, 2), MAIL_SUBJECT_MAX) ||
	    tlen > MAIL_BODY_MAX || utf8_count(text, tlen) < 0 || strlen(text) != tlen ||
	    (html && (hlen > MAIL_BODY_MAX || utf8_count(html, hlen) < 0 || strlen(html) != hlen))) {
		lua_pushnil(L);
		lua_pushliteral(L, "invalid");
		return 2;
	}
	lua_pushliteral(L, "mail");
	lua_pushnil(L);         /* the plugin slot of a core call */
	lua_pushvalue(L, 1);
	lua_pushvalue(L, 2);
	lua_pushvalue(L, 3);
	if (html)
		lua_pushlstring(L, html, hlen);
	else
		lua_pushnil(L);
	int n = 6;
	lua_rotate(L, 1, n);
	lua_settop(L, n);
	lsb_push_core_tag(L);
	lua_insert(L, 1);
	return lua_yield(L, n + 1);
}

/* ---------------------------------------------------------------- JSON */

/* Pushes the JSON text as a Lua value (nil when it does not parse). The
 * parsed tree sits in *SLOT while it is converted, so that the caller can
 * free it when the conversion raises (out of memory). */
static void push_json_text(lua_State *L, const char *text, json_t **slot)
{
	*slot = json_loads(text, JSON_DECODE_ANY, NULL);
	if (!*slot) {
		lua_pushnil(L);
		return;
	}
	ljson_push(L, *slot, 0, false);
	json_decref(*slot);
	*slot = NULL;
}

/* ---------------------------------------------------------------- building a state */

static void add_problem(struct tstate *ts, const char *msg)
{
	size_t n = strlen(msg);
	char *p = realloc(ts->problems, ts->problems_len + n + 2);
	if (!p)
		return;
	memcpy(p + ts->problems_len, msg, n);
	ts->problems_len += n;
	p[ts->problems_len++] = '\n';
	p[ts->problems_len] = '\0';
	ts->problems = p;
}

static const luaL_Reg core_funcs[] = {
	{"file", core_file},     {"new_env", core_new_env}, {"load", core_load},     {"describe", core_describe},
	{"log", core_log},       {"protect", core_protect}, {"is_safe", core_is_safe}, {"render", core_render},
	{"db", core_db},         {"mail", core_mail},       {"api", core_api},       {"api_route", core_api_route},
	{"api_batch", core_api_batch},
	{"url", core_url},       {"text", core_text},       {"guarded", core_guarded}, {NULL, NULL},
};

/* Builds the state: sandbox, prelude, tenant.lua and plugins. Problems
 * in the bundle do not fail the build (the plugin concerned is disabled
 * and the reason logged, or collected in check mode); only a state that
 * cannot exist at all (memory, the prelude) does. */
static struct tstate *ts_build(struct rt_worker *rw, int64_t tenant_id, const char *slug, const char *name,
			       struct bundle *b, size_t mem_limit, char *err, size_t errlen)
{
	struct tstate *ts = calloc(1, sizeof(*ts));
	if (!ts) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ts->rw = rw;
	if (rw)
		lsched_tenant_init(rw->sched, &ts->sched);
	ts->tenant_id = tenant_id;
	ts->version = b->version;
	ts->handle_ref = LUA_NOREF;
	ts->api_ref = LUA_NOREF;
	snprintf(ts->slug, sizeof(ts->slug), "%s", slug);
	snprintf(ts->name, sizeof(ts->name), "%s", name);
	bundle_ref(b);
	ts->bundle = b;
	ts->sb = lsb_new(mem_limit, ts->slug, err, errlen);
	if (!ts->sb) {
		ts_free(ts);
		return NULL;
	}
	lua_State *L = ts->sb->L;
	struct lbudget budget;
	lsb_budget_init(&budget, LOAD_INSTRUCTIONS, LOAD_MS);

	/* The prelude runs in an environment of its own with `core` as its
	 * argument; it returns load_tenant, handle and handle_api. */
	lsb_push_env(ts->sb);
	if (lsb_load(ts->sb, prelude_lua, prelude_lua_len, "prelude", -1, err, errlen) != 0) {
		lua_pop(L, 1);
		ts_free(ts);
		return NULL;
	}
	lua_remove(L, -2);
	lua_newtable(L);
	lua_pushlightuserdata(L, ts);
	luaL_setfuncs(L, core_funcs, 1);
	if (lsb_call(ts->sb, 1, 3, &budget, err, errlen) != 0) {
		ts_free(ts);
		return NULL;
	}
	ts->api_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	ts->handle_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	/* load_tenant({slug, name}) -> problems (already logged) */
	lua_createtable(L, 0, 2);
	lua_pushstring(L, ts->slug);
	lua_setfield(L, -2, "slug");
	lua_pushstring(L, ts->name);
	lua_setfield(L, -2, "name");
	char why[512];
	if (lsb_call(ts->sb, 1, 1, &budget, why, sizeof(why)) != 0) {
		/* Killed by a limit while loading, or the prelude failed. */
		char msg[450];
		snprintf(msg, sizeof(msg), "loading stopped: %.400s", why);
		if (rw)
			log_warn("tenant=%s version=%d: %s", ts->slug, ts->version, msg);
		else
			add_problem(ts, msg);
		if (budget.killed) {
			snprintf(err, errlen, "%s", msg);
			ts_free(ts);
			return NULL;
		}
	} else {
		lua_pop(L, 1);
	}
	lua_gc(L, LUA_GCCOLLECT);
	return ts;
}

static void ts_free(struct tstate *ts)
{
	if (!ts)
		return;
	lsched_tenant_fini(&ts->sched);
	while (ts->templates) {
		struct tmpl_entry *e = ts->templates;
		ts->templates = e->next;
		tmpl_free(e->t);
		free(e->key);
		free(e);
	}
	if (ts->sb)
		lsb_free(ts->sb);
	if (ts->bundle)
		bundle_unref(ts->bundle);
	free(ts->problems);
	free(ts);
}

/* ---------------------------------------------------------------- checking a bundle */

static void check_lua_syntax(struct tstate *ts, const struct bundle *b, const char *prefix)
{
	const struct bundle_file *f;
	size_t n = bundle_prefix(b, "", &f);
	lua_State *L = ts->sb->L;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(f[i].path);
		if (len < 4 || strcmp(f[i].path + len - 4, ".lua") != 0)
			continue;
		char err[600], name[BUNDLE_MAX_PATH + 16];
		snprintf(name, sizeof(name), "%s%s", prefix, f[i].path);
		lsb_push_env(ts->sb);
		if (lsb_load(ts->sb, f[i].data, f[i].len, name, -1, err, sizeof(err)) != 0) {
			/* Reported once: tenant.lua and loaded plugins report
			 * their own syntax errors while loading. */
			if (!ts->problems || !strstr(ts->problems, err))
				add_problem(ts, err);
			lua_pop(L, 1);
		} else {
			lua_pop(L, 2);
		}
	}
}

static void check_template_files(struct tstate *ts, const struct bundle *b, const char *prefix, bool all)
{
	const struct bundle_file *f;
	size_t n = bundle_prefix(b, "", &f);
	for (size_t i = 0; i < n; i++) {
		const char *p = f[i].path;
		size_t len = strlen(p);
		bool tpl = all || strncmp(p, "templates/", 10) == 0 ||
			   (strncmp(p, "plugins/", 8) == 0 && strstr(p, "/templates/") != NULL);
		if (!tpl || len < 5 || strcmp(p + len - 5, ".html") != 0)
			continue;
		char name[BUNDLE_MAX_PATH + 16], err[600];
		snprintf(name, sizeof(name), "%s%s", prefix, p);
		struct tmpl *t = tmpl_compile(name, f[i].data, f[i].len, err, sizeof(err));
		if (!t)
			add_problem(ts, err);
		tmpl_free(t);
	}
}

/* Builds a state of BUNDLE (check mode) against PLAT, then checks the
 * syntax of FILES' Lua and its templates (ALL: every .html, else only
 * those under templates/); the problems, one a line, go to err. */
static int check_with(const struct bundle *plat, const struct bundle *bundle, const char *slug, const char *prefix,
		      const struct bundle *files, bool all, char *err, size_t errlen)
{
	struct bundle *saved = platform;
	platform = (struct bundle *)plat;
	int rc = 0;
	struct tstate *ts = ts_build(NULL, bundle->tenant_id, slug, slug, (struct bundle *)bundle, 32 * 1024 * 1024,
				     err, errlen);
	if (!ts) {
		rc = -1;
	} else {
		check_lua_syntax(ts, files, prefix);
		check_template_files(ts, files, prefix, all);
		if (ts->problems_len) {
			if (ts->problems[ts->problems_len - 1] == '\n')
				ts->problems[--ts->problems_len] = '\0';
			snprintf(err, errlen, "%s", ts->problems);
			rc = -1;
		}
		ts_free(ts);
	}
	platform = saved;
	return rc;
}

int runtime_check_platform(const struct bundle *plat, char *err, size_t errlen)
{
	struct texts *t = texts_from_bundle(plat, err, errlen);
	if (!t)
		return -1;
	texts_free(t);
	/* A tenant that names every platform plugin, with default options. */
	char conf[4096] = "return { plugins = { ";
	size_t len = strlen(conf);
	const struct bundle_file *f;
	size_t n = bundle_prefix(plat, "", &f);
	for (size_t i = 0; i < n; i++) {
		const char *p = f[i].path, *slash = strchr(p, '/');
		if (!slash || strcmp(slash, "/init.lua") != 0 || len + (size_t)(slash - p) + 10 >= sizeof(conf))
			continue;
		len += (size_t)snprintf(conf + len, sizeof(conf) - len, "%.*s = {}, ", (int)(slash - p), p);
	}
	snprintf(conf + len, sizeof(conf) - len, "} }");
	const char *paths[1] = {"tenant.lua"}, *datas[1] = {conf};
	size_t lens[1] = {strlen(conf)};
	struct bundle *b = bundle_from_files(0, 0, 1, paths, datas, lens, err, errlen);
	if (!b)
		return -1;
	int rc = check_with(plat, b, "platform", "plugins/", plat, true, err, errlen);
	bundle_unref(b);
	return rc;
}

int runtime_check_bundle(const struct bundle *plat, const struct bundle *bundle, const char *slug, char *err,
			 size_t errlen)
{
	return check_with(plat, bundle, slug, "", bundle, false, err, errlen);
}

/* ---------------------------------------------------------------- requests */

/* A request of tenant T, not yet started. */
static struct rt_req *rq_new(struct rt_worker *rw, struct http_request *req, const struct tenant *t)
{
	struct rt_req *rq = calloc(1, sizeof(*rq));
	if (!rq)
		return NULL;
	rq->rw = rw;
	rq->req = req;
	rq->tenant_id = t->id;
	rq->version = t->bundle_version;
	rq->co_ref = LUA_NOREF;
	snprintf(rq->slug, sizeof(rq->slug), "%s", t->slug);
	snprintf(rq->name, sizeof(rq->name), "%s", t->name);
	return rq;
}

/* Starts RQ in its tenant's live state of the right version, or fetches
 * the bundle first (on_bundle builds the state). */
static void rq_locate(struct rt_req *rq)
{
	struct rt_worker *rw = rq->rw;
	struct tstate *ts = ts_find(rw, rq->tenant_id);
	if (ts && ts->version != rq->version) {
		ts_retire(rw, ts);
		ts = NULL;
	}
	if (ts) {
		if (rq->asset) {
			serve_asset(rq, ts->bundle);
			return;
		}
		rq->ts = ts;
		rq_start(rq);
		return;
	}
	if (rq->version == 0) {
		struct bundle *b = bundle_empty(rq->tenant_id);
		on_bundle(b, b ? NULL : "out of memory", rq);
		return;
	}
	struct app_worker *a = app_of(rw->w);
	bundle_get(a ? a->pool : NULL, rq->tenant_id, rq->version, on_bundle, rq);
}

void runtime_handle(struct rt_worker *rw, struct http_request *req, const struct tenant *t)
{
	struct rt_req *rq = rq_new(rw, req, t);
	if (!rq) {
		error_page(req, 503);
		return;
	}
	size_t plen;
	const char *path = http_req_path(req, &plen);
	rq->asset = plen > sizeof(ASSETS_PREFIX) - 1 && memcmp(path, ASSETS_PREFIX, sizeof(ASSETS_PREFIX) - 1) == 0;
	rq_locate(rq);
}

void runtime_api(struct rt_worker *rw, struct http_request *req, const struct tenant *t, struct db_txn *txn,
		 const struct api_principal *who, const char *method, const char *path, json_t *args,
		 void (*done)(void *arg, int status, json_t *body), void *arg)
{
	struct rt_req *rq = rq_new(rw, req, t);
	if (!rq) {
		done(arg, 503, NULL);
		return;
	}
	rq->txn = txn;
	rq->has_user = who->viewer != 0;
	rq->user_id = who->viewer;
	snprintf(rq->user_roles, sizeof(rq->user_roles), "%s", who->roles);
	snprintf(rq->session_hash, sizeof(rq->session_hash), "%s", who->session);
	snprintf(rq->csrf, sizeof(rq->csrf), "%s", who->csrf);
	rq->secure = http_req_secure(req);
	rq->api_done = done;
	rq->api_arg = arg;
	rq->api_args = json_incref(args);
	snprintf(rq->api_method, sizeof(rq->api_method), "%s", method);
	snprintf(rq->api_path, sizeof(rq->api_path), "%s", path);
	rq_locate(rq);
}

/* Takes over the reference to B. */
static void on_bundle(struct bundle *b, const char *why, void *arg)
{
	struct rt_req *rq = arg;
	if (!b) {
		log_warn("request=%s tenant=%s: bundle version %d unavailable: %s", http_req_id(rq->req), rq->slug,
			 rq->version, why ? why : "?");
		rq_fail(rq, 503, NULL);
		return;
	}
	if (rq->asset) {
		serve_asset(rq, b);
		bundle_unref(b);
		return;
	}
	start_with_bundle(rq, b);
	bundle_unref(b);
}

static void start_with_bundle(struct rt_req *rq, struct bundle *b)
{
	struct rt_worker *rw = rq->rw;
	/* Another request may have built it while this one waited. */
	struct tstate *ts = ts_find(rw, rq->tenant_id);
	if (ts && ts->version != rq->version) {
		ts_retire(rw, ts);
		ts = NULL;
	}
	if (!ts) {
		char err[512];
		ts = ts_build(rw, rq->tenant_id, rq->slug, rq->name, b, rw->state_limit, err, sizeof(err));
		if (!ts) {
			log_error("request=%s tenant=%s: cannot start the tenant's Lua: %s", http_req_id(rq->req),
				  rq->slug, err);
			rq_fail(rq, 500, NULL);
			return;
		}
		ts_touch(rw, ts);
		rw_trim(rw, ts);
		log_info("tenant=%s: Lua state for version %d ready (%zu KiB)", rq->slug, ts->version,
			 ts->sb->mem_used / 1024);
	}
	rq->ts = ts;
	rq_start(rq);
}

/* Adds the fields of an urlencoded S (name -> first value, decoded, at
 * most 100 fields of bounded size) to the table on top. */
static void push_urlencoded(lua_State *L, const char *s, size_t len)
{
	static _Thread_local char v[65536];
	const char *end = s + len;
	int count = 0;
	while (s < end && count < 100) {
		const char *amp = memchr(s, '&', (size_t)(end - s));
		size_t n = amp ? (size_t)(amp - s) : (size_t)(end - s);
		const char *eq = memchr(s, '=', n);
		size_t klen = eq ? (size_t)(eq - s) : n;
		char k[256];
		long kl = urlenc_decode(s, klen, k, sizeof(k));
		long vl = eq ? urlenc_decode(eq + 1, n - klen - 1, v, sizeof(v)) : 0;
		if (!eq)
			v[0] = '\0';
		if (kl > 0 && vl >= 0) {
			lua_pushlstring(L, k, (size_t)kl);
			if (lua_rawget(L, -2) == LUA_TNIL) {
				lua_pushlstring(L, k, (size_t)kl);
				lua_pushlstring(L, v, (size_t)vl);
				lua_rawset(L, -4);
			}
			lua_pop(L, 1);
		}
		count++;
		s += n + 1;
	}
}

/* Pushes the request table: method, path, query, lang, id, headers, body. */
static int push_request(lua_State *L)
{
	struct rt_req *rq = lua_touserdata(L, 1);
	struct http_request *req = rq->req;
	lua_createtable(L, 0, 8);
	lua_pushstring(L, http_req_method_name(req));
	lua_setfield(L, -2, "method");
	size_t plen;
	const char *path = http_req_path(req, &plen);
	lua_pushlstring(L, path, plen);
	lua_setfield(L, -2, "path");
	lua_pushstring(L, http_req_lang(req));
	lua_setfield(L, -2, "lang");
	lua_pushstring(L, http_req_id(req));
	lua_setfield(L, -2, "id");
	/* The query: name -> first value, percent-decoded, at most 100. */
	lua_createtable(L, 0, 4);
	const char *q = http_req_query(req);
	if (q)
		push_urlencoded(L, q, strlen(q));
	lua_setfield(L, -2, "query");
	static const char *const headers[] = {"user-agent", "referer", "accept", "content-type", "host", NULL};
	lua_createtable(L, 0, 4);
	for (int i = 0; headers[i]; i++) {
		const char *v = http_req_header(req, headers[i]);
		if (v) {
			lua_pushstring(L, v);
			lua_setfield(L, -2, headers[i]);
		}
	}
	lua_setfield(L, -2, "headers");
	size_t blen;
	const void *body = http_req_body(req, &blen);
	lua_pushlstring(L, body ? body : "", body ? blen : 0);
	lua_setfield(L, -2, "body");
	/* A page that may be kept is made with a stand-in token the daemon
	 * drew, never the guest's own, which the guest chooses (page_keep). */
	lua_pushstring(L, rq->page_key ? rq->page_csrf : rq->csrf);
	lua_setfield(L, -2, "csrf");
	lua_pushstring(L, rq->secure ? "https" : "http");
	lua_setfield(L, -2, "scheme");
	const char *ctype = http_req_header(req, "Content-Type");
	lua_createtable(L, 0, 4);
	if (body && ctype && strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0)
		push_urlencoded(L, body, blen);
	lua_setfield(L, -2, "form");
	if (rq->has_user) {
		lua_createtable(L, 0, 3);
		lua_pushinteger(L, rq->user_id);
		lua_setfield(L, -2, "id");
		lua_pushstring(L, rq->user_name);
		lua_setfield(L, -2, "name");
		lua_createtable(L, 0, 3);
		char roles[sizeof(rq->user_roles)];
		snprintf(roles, sizeof(roles), "%s", rq->user_roles);
		for (char *save = NULL, *role = strtok_r(roles, " ", &save); role; role = strtok_r(NULL, " ", &save)) {
			lua_pushboolean(L, 1);
			lua_setfield(L, -2, role);
		}
		lua_setfield(L, -2, "roles");
		lua_setfield(L, -2, "user");
	}
	return 1;
}

/* Finds the value of NAME in an application/x-www-form-urlencoded S. */
static long form_value(const char *s, size_t len, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	const char *end = s + len;
	while (s < end) {
		const char *amp = memchr(s, '&', (size_t)(end - s));
		size_t plen = amp ? (size_t)(amp - s) : (size_t)(end - s);
		if (plen > nlen && s[nlen] == '=' && memcmp(s, name, nlen) == 0)
			return urlenc_decode(s + nlen + 1, plen - nlen - 1, out, outlen);
		s += plen + 1;
	}
	return -1;
}

static bool unsafe_method(const struct http_request *req)
{
	enum http_verb m = http_req_method(req);
	return m == HTTP_M_POST || m == HTTP_M_PUT || m == HTTP_M_PATCH || m == HTTP_M_DELETE;
}

static void rq_session_loaded(struct db_txn *txn, enum db_status st, void *arg);
static void rq_session_begun(struct db_txn *txn, enum db_status st, void *arg);
static void rq_run_lua(struct rt_req *rq);
static void rq_begin_lua(struct rt_req *rq);

/* Before any Lua: the CSRF token (a cookie, given to every page; a
 * state-changing request must send it back as the form field `csrf` or
 * the header X-CSRF-Token) and the session, read in the request's
 * transaction. */
static void rq_start(struct rt_req *rq)
{
	struct http_request *req = rq->req;
	rq->ts->active++;
	ts_touch(rq->rw, rq->ts);
	if (rq->api_done) {
		/* The API checked who asks, and its CSRF header. It comes with
		 * its transaction, and waits for a place as it would wait for a
		 * connection of the pool. */
		lsched_start(&rq->ts->sched, &rq->item);
		return;
	}
	const char *cookies = http_req_header(req, "Cookie");
	rq->secure = http_req_secure(req);
	if (cookie_get(cookies, rq->secure ? "__Host-at_csrf" : "at_csrf", rq->csrf, sizeof(rq->csrf)) < 0 ||
	    !token_valid(rq->csrf)) {
		if (token_new(rq->csrf) != 0) {
			rq_fail(rq, 503, "no randomness for a CSRF token");
			return;
		}
		rq->new_csrf = true;
	}
	if (unsafe_method(req)) {
		char sent[TOKEN_CHARS + 2] = "";
		const char *hdr = http_req_header(req, "X-CSRF-Token");
		size_t blen;
		const char *body = http_req_body(req, &blen);
		if (hdr)
			snprintf(sent, sizeof(sent), "%s", hdr);
		else if (body)
			form_value(body, blen, "csrf", sent, sizeof(sent));
		if (rq->new_csrf || !token_equal(sent, rq->csrf)) {
			rq_fail(rq, 403, NULL);
			return;
		}
	}
	char token[TOKEN_CHARS + 2];
	struct app_worker *a = app_of(rq->rw->w);
	if (cookie_get(cookies, rq->secure ? "__Host-at_session" : "at_session", token, sizeof(token)) < 0 ||
	    !token_valid(token) || !a || !a->pool) {
		if (!page_from_cache(rq))
			lsched_start(&rq->ts->sched, &rq->item);
		return;
	}
	/* The session is read once the request has its place: a request that
	 * waits for one holds no connection of the pool. */
	char hash[65];
	token_hash_hex(token, hash);
	rq->params[0] = strdup(hash);
	rq->nparams = 1;
	rq->session_pending = true;
	lsched_start(&rq->ts->sched, &rq->item);
}

static void rq_session_begun(struct db_txn *txn, enum db_status st, void *arg)
{
	struct rt_req *rq = arg;
	if (st != DB_OK) {
		rq_fail(rq, 503, NULL);
		return;
	}
	rq->txn = txn;
	char tid[24], idle[24], absolute[24];
	snprintf(tid, sizeof(tid), "%lld", (long long)rq->tenant_id);
	snprintf(idle, sizeof(idle), "%lld", (long long)rq->rw->session_idle_s);
	snprintf(absolute, sizeof(absolute), "%lld", (long long)rq->rw->session_absolute_s);
	const char *p[4] = {tid, rq->params[0], idle, absolute};
	if (db_query(txn, stmt_session, 4, p) != 0) {
		rq_fail(rq, 500, "session lookup refused by the pool");
		return;
	}
	db_send(txn, rq_session_loaded, rq);
}

static void rq_session_loaded(struct db_txn *txn, enum db_status st, void *arg)
{
	struct rt_req *rq = arg;
	char hash[65];
	snprintf(hash, sizeof(hash), "%s", rq->params[0] ? rq->params[0] : "");
	rq_clear_params(rq);
	if (st != DB_OK) {
		rq_fail(rq, st == DB_UNAVAILABLE ? 503 : 500, st == DB_UNAVAILABLE ? NULL : db_error(txn));
		return;
	}
	const PGresult *r = db_result(txn, 0);
	if (PQntuples(r) == 1) {
		rq->has_user = true;
		snprintf(rq->session_hash, sizeof(rq->session_hash), "%s", hash);
		rq->user_id = db_int(r, 0, 0);
		snprintf(rq->user_name, sizeof(rq->user_name), "%s", PQgetvalue(r, 0, 1));
		snprintf(rq->user_roles, sizeof(rq->user_roles), "%s", PQgetvalue(r, 0, 2));
		rq->touched = true;     /* its last use may have moved: committed */
	}
	rq_run_lua(rq);
}

/* handle_api(method, path, args): the API request's arguments. */
static int push_api_request(lua_State *L)
{
	struct rt_req *rq = lua_touserdata(L, 1);
	lua_pushstring(L, rq->api_method);
	lua_pushstring(L, rq->api_path);
	ljson_push(L, rq->api_args, 0, false);
	return 3;
}

/* The request (which has its place) starts its Lua at its next turn. */
static void rq_run_lua(struct rt_req *rq)
{
	lsched_continue(&rq->item);
}

static void rq_sched_run(struct lsched_item *it, void *arg)
{
	(void)arg;
	struct rt_req *rq = (struct rt_req *)((char *)it - offsetof(struct rt_req, item));
	if (rq->session_pending) {
		rq->session_pending = false;
		struct app_worker *a = app_of(rq->rw->w);
		db_begin(a->pool, rq->tenant_id, rq_session_begun, rq);
	} else if (!rq->co) {
		rq_begin_lua(rq);
	} else {
		rq_slice(rq, rq->resume_nargs);
	}
}

/* Its tenant has too many requests waiting for Lua, or this one waited
 * too long: 503 with Retry-After, rather than taking the others' time. */
static void rq_sched_refuse(struct lsched_item *it, int retry_after, void *arg)
{
	(void)arg;
	(void)retry_after;
	struct rt_req *rq = (struct rt_req *)((char *)it - offsetof(struct rt_req, item));
	log_warn("request=%s tenant=%s: refused: the tenant's requests wait for their turn at Lua",
		 http_req_id(rq->req), rq->slug);
	rq_fail(rq, 503, NULL);
}

static void rq_begin_lua(struct rt_req *rq)
{
	struct tstate *ts = rq->ts;
	lua_State *L = ts->sb->L;
	lsb_budget_init(&rq->budget, rq->rw->instructions, rq->rw->time_ms);
	rq->co = lua_newthread(L);
	rq->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	/* handle(request), or handle_api(method, path, args), the arguments
	 * built under protection. */
	bool api = rq->api_done != NULL;
	int nargs = api ? 3 : 1;
	lua_rawgeti(L, LUA_REGISTRYINDEX, api ? ts->api_ref : ts->handle_ref);
	lua_pushcfunction(L, api ? push_api_request : push_request);
	lua_pushlightuserdata(L, rq);
	ts->sb->budget = &rq->budget;
	int st = lua_pcall(L, 1, nargs, 0);
	ts->sb->budget = NULL;
	if (st != LUA_OK || !lua_checkstack(rq->co, nargs + 3)) {
		lua_pop(L, st != LUA_OK ? 2 : nargs + 1);
		rq_fail(rq, 500, "the request could not be prepared (out of memory)");
		return;
	}
	lua_xmove(L, rq->co, nargs + 1);
	rq_slice(rq, nargs);
}

/* The request's coroutine goes on with NARGS values on its stack, when
 * the scheduler gives it its turn. */
static void rq_step(struct rt_req *rq, int nargs)
{
	rq->resume_nargs = nargs;
	lsched_continue(&rq->item);
}

/* Runs the request's coroutine for one slice of Lua time. */
static void rq_slice(struct rt_req *rq, int nargs)
{
	struct tstate *ts = rq->ts;
	int nres = 0;
	ts->running = rq;
	rq->budget.slice_end_ns = lsched_now_ns() + lsched_slice_ns(rq->rw->sched);
	int64_t cpu = lsched_cpu_ns();
	int st = lsb_resume(ts->sb, rq->co, nargs, &nres, &rq->budget);
	lsched_charge(&rq->item, lsched_cpu_ns() - cpu);
	ts->running = NULL;
	if (st == LUA_YIELD && lsb_core_yield(rq->co, nres)) {
		rq_core_call(rq, nres);
		return;
	}
	if (st == LUA_YIELD && rq->budget.sliced) {
		/* Its slice is spent: the others' turn, then its next. */
		rq->budget.sliced = false;
		lua_pop(rq->co, nres);
		rq_step(rq, 0);
		return;
	}
	if (st == LUA_YIELD) {
		lua_pop(rq->co, nres);
		rq_fail(rq, 500, "coroutine.yield outside a coroutine");
		return;
	}
	if (st != LUA_OK) {
		const char *msg = rq->budget.killed ? rq->budget.why : lua_tostring(rq->co, -1);
		char where[600] = "";
		if (rq->budget.killed) {
			/* Say where it was stopped: in the plugin's code, not in
			 * the runtime's wrapper (plugin.render) that it called. */
			lua_Debug ar;
			for (int level = 0; lua_getstack(rq->co, level, &ar); level++) {
				lua_getinfo(rq->co, "Sl", &ar);
				if (ar.currentline > 0) {
					snprintf(where, sizeof(where), "%s:%d: ", ar.short_src, ar.currentline);
					if (strcmp(ar.short_src, "prelude") != 0)
						break;
				}
			}
		}
		char why[800];
		snprintf(why, sizeof(why), "%s%s", where, msg ? msg : "error object is not a string");
		rq_fail(rq, 500, why);
		return;
	}
	if (rq->api_done) {
		rq_api_respond(rq, nres);
		return;
	}
	/* The answer: the first result. */
	if (nres == 0)
		lua_pushnil(rq->co);
	else if (nres > 1)
		lua_pop(rq->co, nres - 1);
	rq_respond(rq, lua_gettop(rq->co));
}

void rq_clear_params(struct rt_req *rq)
{
	for (int i = 0; i < rq->nparams; i++) {
		free(rq->params[i]);
		rq->params[i] = NULL;
	}
	rq->nparams = 0;
}

/* The core calls by the name they yield with; writes: the call may change
 * the database, so the answer waits for COMMIT. Indexed by enum core_op. */
static const struct {
	const char *name;
	bool writes;
} core_ops[] = {
	[OP_GET] = {"get", false},
	[OP_PUT] = {"put", true},
	[OP_DELETE] = {"delete", true},
	[OP_LIST] = {"list", false},
	[OP_MAIL] = {"mail", true},
	[OP_API] = {"api", false},      /* writes or not: the route says (rq_api_send) */
	[OP_APIB] = {"apib", false},    /* likewise, per call */
};

/* The operation named NAME; false for a name no core call has. */
static bool core_op_lookup(const char *name, enum core_op *op)
{
	for (size_t i = 0; i < sizeof(core_ops) / sizeof(core_ops[0]); i++) {
		if (core_ops[i].name && strcmp(core_ops[i].name, name) == 0) {
			*op = (enum core_op)i;
			return true;
		}
	}
	return false;
}

struct event_base *rq_event_base(const struct rt_req *rq)
{
	return rq->rw->w->base;
}

static void answered_soon(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct rt_req *rq = arg;
	rq_answered(rq->txn, DB_OK, rq);
}

/* A call answered without the database (a guest's read the worker has, a
 * refusal, a mail the outbox refused) goes on from the event loop, as a
 * database answer does: answered from inside the call, a plugin calling
 * in a loop would nest rq_step in rq_step on the C stack, one level a
 * call, until the worker's stack ran out. */
void rq_answer_soon(struct rt_req *rq)
{
	if (event_base_once(rq_event_base(rq), -1, EV_TIMEOUT, answered_soon, rq, NULL) != 0)
		rq_fail(rq, 503, "the call's answer could not be scheduled");
}

/* A core call: (tag, op, plugin, args...) on the coroutine's stack. The
 * operation is resolved once, the statement's parameters are copied out
 * (tenant first), the stack cleared, and the call sent within the
 * request's transaction. */
static void rq_core_call(struct rt_req *rq, int nres)
{
	lua_State *co = rq->co;
	int base = lua_gettop(co) - nres + 1;
	const char *name = lua_tostring(co, base + 1);
	if (!name || !core_op_lookup(name, &rq->op)) {
		lua_pop(co, nres);
		rq_fail(rq, 500, "core call with an unknown operation");
		return;
	}
	char tid[24];
	snprintf(tid, sizeof(tid), "%lld", (long long)rq->tenant_id);
	rq->params[0] = strdup(tid);
	rq->nparams = 1;
	for (int i = base + 2; i < base + nres && rq->nparams < 6; i++) {
		const char *v = lua_isnil(co, i) ? NULL : lua_tostring(co, i);
		rq->params[rq->nparams++] = v ? strdup(v) : NULL;
	}
	lua_pop(co, nres);
	if (core_ops[rq->op].writes)
		rq->wrote = true;
	/* A guest's page is kept only when it is made of the API's reads a
	 * guest may have from the cache (the store, mail and accounts are not
	 * in the tenant's data generation). */
	if (rq->op != OP_API && rq->op != OP_APIB)
		rq->page_unshared = true;
	/* A guest's read the worker has: no transaction at all. */
	if (rq->op == OP_API && rq_api_cached(rq))
		return;
	if (rq->op == OP_APIB && rq_apib_prepare(rq))
		return;
	struct app_worker *a = app_of(rq->rw->w);
	if (!a || !a->pool) {
		rq_fail(rq, 503, "no database configured");
		return;
	}
	if (!rq->txn) {
		db_begin(a->pool, rq->tenant_id, rq_begun, rq);
		return;
	}
	rq_send(rq);
}

static void rq_begun(struct db_txn *txn, enum db_status st, void *arg)
{
	struct rt_req *rq = arg;
	if (st != DB_OK) {
		rq_fail(rq, 503, NULL);
		return;
	}
	rq->txn = txn;
	rq_send(rq);
}

/* params: tenant, plugin (NULL), to, subject, text, html (core_mail
 * checked them); the tenant's name is the sender's. */
static void rq_mail(struct rt_req *rq)
{
	const char *from = mail_header_text_valid(rq->name, MAIL_NAME_MAX) ? rq->name : NULL;
	if (rq->nparams < 5 ||
	    mail_enqueue(rq->txn, rq->tenant_id, rq->params[2], from, rq->params[3], rq->params[4], rq_param(rq, 5)) != 0) {
		rq_fail(rq, 500, "mail.send: the outbox refused a checked message");
		return;
	}
	db_send(rq->txn, rq_answered, rq);
}

/* The store's statements and the outbox's here; the API's operations in
 * runtime_api.c. */
static void rq_send(struct rt_req *rq)
{
	int stmt, n = rq->nparams;
	switch (rq->op) {
	case OP_GET:
		stmt = stmt_get;
		break;
	case OP_PUT:
		stmt = stmt_put;
		break;
	case OP_DELETE:
		stmt = stmt_delete;
		break;
	case OP_LIST:
		/* params: tenant, plugin, prefix, limit, order: the order
		 * picks the statement and is not one of its parameters. */
		if (rq->nparams == 5 && rq->params[4] && strcmp(rq->params[4], "recent") == 0)
			stmt = stmt_list_recent;
		else
			stmt = stmt_list_key;
		n = 4;
		break;
	case OP_API:
		rq_api_send(rq);
		return;
	case OP_APIB:
		rq_apib_send(rq);
		return;
	case OP_MAIL:
		rq_mail(rq);
		return;
	default:
		rq_fail(rq, 500, "core call with an unknown operation");
		return;
	}
	if (db_query(rq->txn, stmt, n, (const char *const *)rq->params) != 0) {
		rq_fail(rq, 500, "store call refused by the pool (parameter too large)");
		return;
	}
	db_send(rq->txn, rq_answered, rq);
}

/* Converts the core call's result into Lua values on L (run under
 * pcall: conversions allocate in the sandbox and may hit its cap). */
static int push_answer(lua_State *L)
{
	struct rt_req *rq = lua_touserdata(L, 1);
	json_t **slot = lua_touserdata(L, 2);
	if (rq->op == OP_API)
		return push_api_answer(L, rq, slot);
	if (rq->op == OP_APIB)
		return push_apib_answer(L, rq);
	if (rq->op == OP_MAIL) {
		lua_pushboolean(L, 1);
		return 1;
	}
	const PGresult *r = db_result(rq->txn, 0);
	int rows = PQntuples(r);
	switch (rq->op) {
	case OP_GET:
		if (rows == 0)
			return 0;
		push_json_text(L, PQgetvalue(r, 0, 0), slot);
		lua_pushinteger(L, db_int(r, 0, 1));
		return 2;
	case OP_PUT: {
		const char *status = PQgetvalue(r, 0, 0);
		if (strcmp(status, "ok") == 0) {
			lua_pushinteger(L, db_int(r, 0, 1));
			return 1;
		}
		lua_pushnil(L);
		lua_pushstring(L, status);
		return 2;
	}
	case OP_DELETE:
		lua_pushboolean(L, rows > 0);
		return 1;
	default:
		break;
	}
	lua_createtable(L, rows, 0);
	for (int i = 0; i < rows; i++) {
		lua_createtable(L, 0, 4);
		lua_pushstring(L, PQgetvalue(r, i, 0));
		lua_setfield(L, -2, "key");
		push_json_text(L, PQgetvalue(r, i, 1), slot);
		lua_setfield(L, -2, "value");
		lua_pushinteger(L, db_int(r, i, 2));
		lua_setfield(L, -2, "version");
		lua_pushinteger(L, db_int(r, i, 3));
		lua_setfield(L, -2, "updated");
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

void rq_answered(struct db_txn *txn, enum db_status st, void *arg)
{
	struct rt_req *rq = arg;
	rq_clear_params(rq);
	if (st != DB_OK) {
		char why[300];
		snprintf(why, sizeof(why), "store.%s: %s", core_ops[rq->op].name,
			 st == DB_UNAVAILABLE ? "database unavailable" : db_error(txn));
		rq_fail(rq, st == DB_UNAVAILABLE ? 503 : 500, why);
		return;
	}
	lua_State *L = rq->ts->sb->L;
	json_t *pending = NULL;
	int top = lua_gettop(L);
	lua_pushcfunction(L, push_answer);
	lua_pushlightuserdata(L, rq);
	lua_pushlightuserdata(L, &pending);
	rq->ts->sb->budget = &rq->budget;
	int pst = lua_pcall(L, 2, LUA_MULTRET, 0);
	rq->ts->sb->budget = NULL;
	if (pending)
		json_decref(pending);
	int n = lua_gettop(L) - top;
	if (pst != LUA_OK || !lua_checkstack(rq->co, n + 2)) {
		lua_settop(L, top);
		rq_fail(rq, 500, rq->budget.killed ? rq->budget.why : "store result could not be converted");
		return;
	}
	lua_xmove(L, rq->co, n);
	rq_step(rq, n);
}

/* ---------------------------------------------------------------- answering */


/* What a handler may answer as a raw body: an allow-list, since markup
 * (HTML, XML, SVG, XSL, multipart/x-mixed-replace and whatever a browser
 * learns to render next) may come from templates only. docs/plugins.md
 * lists them. */
static const char *const body_types[] = {
	"text/plain", "text/css", "text/csv", "text/calendar", "text/markdown",
	"application/json", "application/geo+json", "application/ld+json", "application/pdf", "application/zip",
	"application/octet-stream",
	"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/x-icon",
	"font/woff", "font/woff2",
	NULL,
};

/* ... and the headers it may set beside them. */
static const char *const answer_headers[] = {
	"Cache-Control", "Content-Disposition", "Content-Language", "ETag", "Expires", "Last-Modified",
	"Retry-After", "Vary", "X-Robots-Tag", NULL,
};

/* A type of the list, in any case, with at most a charset parameter:
 * "text/csv; charset=utf-8". */
static bool body_type_ok(const char *t)
{
	size_t n = strcspn(t, ";");
	bool listed = false;
	for (const char *const *b = body_types; *b && !listed; b++)
		listed = strlen(*b) == n && strncasecmp(*b, t, n) == 0;
	if (!listed)
		return false;
	if (t[n] == '\0')
		return true;
	const char *p = t + n + 1;
	while (*p == ' ')
		p++;
	if (strncasecmp(p, "charset=", 8) != 0)
		return false;
	p += 8;
	if (!*p)
		return false;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_'))
			return false;
	return true;
}

static bool answer_header_ok(const char *name, const char *value)
{
	for (const char *const *h = answer_headers; *h; h++) {
		if (strcasecmp(*h, name) != 0)
			continue;
		/* A download or shown in place; the name is the plugin's. */
		if (strcasecmp(name, "Content-Disposition") == 0)
			return strncasecmp(value, "attachment", 10) == 0 || strncasecmp(value, "inline", 6) == 0;
		return true;
	}
	return false;
}

static bool header_value_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int rawfield(lua_State *L, int idx, const char *name)
{
	lua_pushstring(L, name);
	return lua_rawget(L, idx);
}

/* Reads the handler's answer at IDX of the coroutine into A: safe HTML
 * (200, text/html), or a table {status, html | feed | text | json | body + type, lang,
 * redirect, headers}. Returns NULL or what is wrong with it. Strings stay
 * valid while the answer table is on the stack; JSON is encoded into
 * *json (freed by the caller). */
static const char *read_answer(lua_State *co, int idx, struct answer *a, char **json, char *why, size_t whylen)
{
	size_t len;
	a->status = 200;
	a->type = "text/html; charset=utf-8";
	if ((a->body = tmpl_to_safehtml(co, idx, &len))) {
		a->len = len;
		return NULL;
	}
	if (lua_type(co, idx) == LUA_TSTRING)
		return "a handler returned a string: return plugin.render(...) for HTML or {text = ...} for plain text";
	if (lua_type(co, idx) != LUA_TTABLE)
		return "a handler returned neither a page nor an answer table";
	if (lua_getmetatable(co, idx))
		return "an answer table may not have a metatable";
	int top = lua_gettop(co);
	if (rawfield(co, idx, "status") != LUA_TNIL) {
		if (!lua_isinteger(co, -1) || lua_tointeger(co, -1) < 200 || lua_tointeger(co, -1) > 599)
			return "status must be an integer from 200 to 599";
		a->status = (int)lua_tointeger(co, -1);
	}
	lua_settop(co, top);
	if (rawfield(co, idx, "html") != LUA_TNIL && !(a->body = tmpl_to_safehtml(co, -1, &a->len)))
		return "html must be safe HTML from plugin.render";
	lua_settop(co, top);
	/* An Atom feed: a template rendered with the same escaping. */
	if (!a->body && rawfield(co, idx, "feed") != LUA_TNIL) {
		if (!(a->body = tmpl_to_safehtml(co, -1, &a->len)))
			return "feed must be an Atom template rendered by plugin.render";
		a->type = "application/atom+xml; charset=utf-8";
	}
	lua_settop(co, top);
	if (!a->body && rawfield(co, idx, "text") != LUA_TNIL) {
		if (lua_type(co, -1) != LUA_TSTRING)
			return "text must be a string";
		a->body = lua_tolstring(co, -1, &a->len);
		a->type = "text/plain; charset=utf-8";
	}
	lua_settop(co, top);
	if (!a->body && rawfield(co, idx, "json") != LUA_TNIL) {
		json_t *j = ljson_from_lua(co, -1, 0, why, whylen);
		if (!j)
			return why;
		*json = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(j);
		if (!*json)
			return "json cannot be encoded";
		a->body = *json;
		a->len = strlen(*json);
		a->type = "application/json";
	}
	lua_settop(co, top);
	if (!a->body && rawfield(co, idx, "body") != LUA_TNIL) {
		if (lua_type(co, -1) != LUA_TSTRING)
			return "body must be a string";
		a->body = lua_tolstring(co, -1, &a->len);
		if (rawfield(co, idx, "type") != LUA_TSTRING)
			return "a body needs its type, e.g. type = \"text/css\"";
		a->type = lua_tostring(co, -1);
		if (!body_type_ok(a->type))
			return "a body's type must be one of text/plain, text/css, text/csv, text/calendar, text/markdown,"
			       " application/json, geo+json, ld+json, pdf, zip, octet-stream, image/png, jpeg, gif, webp,"
			       " avif, x-icon, font/woff, woff2 (with at most a charset): markup comes from"
			       " html = plugin.render(...)";
	}
	lua_settop(co, top);
	if (rawfield(co, idx, "redirect") != LUA_TNIL) {
		const char *to = lua_type(co, -1) == LUA_TSTRING ? lua_tostring(co, -1) : NULL;
		if (!to || to[0] != '/' || to[1] == '/' || to[1] == '\\' || !header_value_ok(to) ||
		    strlen(to) >= sizeof(a->location))
			return "redirect must be a path on this site (starting with one /)";
		snprintf(a->location, sizeof(a->location), "%s", to);
		if (a->status == 200)
			a->status = 303;
	}
	lua_settop(co, top);
	if (rawfield(co, idx, "shared") != LUA_TNIL) {
		if (lua_type(co, -1) != LUA_TBOOLEAN)
			return "shared must be true or false";
		a->shared = lua_toboolean(co, -1);
	}
	lua_settop(co, top);
	if (rawfield(co, idx, "lang") != LUA_TNIL) {
		const char *l = lua_type(co, -1) == LUA_TSTRING ? lua_tostring(co, -1) : "";
		if (strcmp(l, "nl") != 0 && strcmp(l, "en") != 0)
			return "lang must be \"nl\" or \"en\"";
		a->set_lang = strcmp(l, "nl") == 0 ? "nl" : "en";
	}
	lua_settop(co, top);
	if (rawfield(co, idx, "headers") == LUA_TTABLE) {
		lua_pushnil(co);
		while (lua_next(co, -2)) {
			const char *k = lua_type(co, -2) == LUA_TSTRING ? lua_tostring(co, -2) : NULL;
			const char *v = lua_type(co, -1) == LUA_TSTRING ? lua_tostring(co, -1) : NULL;
			if (!k || !v || !header_value_ok(v) || strlen(v) > 255 || a->nheaders == 16 || !answer_header_ok(k, v))
				return "headers must be at most 16 name = value strings of Cache-Control, Content-Disposition"
				       " (attachment or inline), Content-Language, ETag, Expires, Last-Modified, Retry-After,"
				       " Vary and X-Robots-Tag";
			snprintf(a->headers[a->nheaders][0], 256, "%s", k);
			snprintf(a->headers[a->nheaders][1], 256, "%s", v);
			a->nheaders++;
			lua_pop(co, 1);
		}
	}
	lua_settop(co, top);
	return NULL;
}

struct read_ctx {
	struct answer *a;
	char **json;
	const char *bad;
	char why[240];
};

static int read_answer_protected(lua_State *co)
{
	struct read_ctx *c = lua_touserdata(co, 2);
	c->bad = read_answer(co, 1, c->a, c->json, c->why, sizeof(c->why));
	return 0;
}

static void add_common_headers(struct http_request *req)
{
	if (http_req_secure(req))
		http_resp_header(req, "Strict-Transport-Security", "max-age=31536000");
	http_resp_header(req, "X-Content-Type-Options", "nosniff");
	http_resp_header(req, "Referrer-Policy", "strict-origin-when-cross-origin");
	http_resp_header(req, "Content-Security-Policy",
			 "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
}

/* handle_api returned (status, body): the answer goes to the API with
 * the transaction, which it commits or rolls back. */
struct api_result {
	json_t *body;
	char err[200];
};

static int read_api_result(lua_State *co)
{
	struct api_result *r = lua_touserdata(co, 3);
	r->body = ljson_from_lua(co, 2, 0, r->err, sizeof(r->err));
	return 0;
}

static void rq_api_respond(struct rt_req *rq, int nres)
{
	lua_State *co = rq->co;
	int base = lua_gettop(co) - nres + 1;
	int status = nres >= 2 && lua_isinteger(co, base) ? (int)lua_tointeger(co, base) : 0;
	bool own = nres >= 3 && lua_toboolean(co, base + 2);
	struct api_result r = {0};
	if (own && rq->api_answer) {
		/* The core's answer as it gave it (nulls included). */
		r.body = json_incref(rq->api_answer);
	} else if (status >= 200 && status <= 599 && lua_checkstack(co, 4)) {
		lua_pushcfunction(co, read_api_result);
		lua_pushvalue(co, base);
		lua_pushvalue(co, base + 1);
		lua_pushlightuserdata(co, &r);
		rq->ts->sb->budget = &rq->budget;
		if (lua_pcall(co, 3, 0, 0) != LUA_OK)
			lua_pop(co, 1);
		rq->ts->sb->budget = NULL;
	}
	lua_settop(co, base - 1);
	if (!r.body || status < 200 || status > 599) {
		json_decref(r.body);
		rq_fail(rq, 500, status ? "the operation's answer cannot be encoded" : "handle_api gave no status");
		return;
	}
	rq->txn = NULL;         /* handed back with the answer */
	if (status < 400)
		add_cookies(rq);        /* a sign-in or sign-out through the API */
	rq->api_done(rq->api_arg, status, r.body);
	json_decref(r.body);
	rq_free(rq);
}

static void rq_respond(struct rt_req *rq, int idx)
{
	rq->answer = calloc(1, sizeof(*rq->answer));
	if (!rq->answer) {
		rq_fail(rq, 503, "out of memory");
		return;
	}
	/* Read under protection: interning a field name may hit the memory
	 * cap, and nothing may raise outside a protected call. */
	struct read_ctx ctx = {.a = rq->answer, .json = &rq->json};
	lua_State *co = rq->co;
	const char *bad;
	if (!lua_checkstack(co, 3)) {
		bad = "no stack to read the answer";
	} else {
		lua_pushcfunction(co, read_answer_protected);
		lua_pushvalue(co, idx);
		lua_pushlightuserdata(co, &ctx);
		rq->ts->sb->budget = &rq->budget;
		int st = lua_pcall(co, 2, 0, 0);
		rq->ts->sb->budget = NULL;
		if (st != LUA_OK) {
			lua_pop(co, 1);
			bad = "the answer could not be read (memory limit)";
		} else {
			bad = ctx.bad;
		}
	}
	if (bad) {
		rq_fail(rq, 500, bad);
		return;
	}
	/* The answer's strings live on the coroutine's stack until rq_free.
	 * A request that wrote answers only after COMMIT succeeded; one that
	 * only read has nothing to keep, and ends its transaction in the
	 * background. */
	if (rq->txn && !rq->wrote) {
		if (rq->touched)
			db_commit(rq->txn, commit_ignored, NULL);   /* the session's last use; nothing waits */
		else
			db_release(rq->txn);
		rq->txn = NULL;
	}
	if (rq->txn) {
		db_commit(rq->txn, rq_committed, rq);
		return;
	}
	send_answer(rq);
}

static void commit_ignored(struct db_txn *txn, enum db_status st, void *arg)
{
}

/* The CSRF and session cookies this request sets or clears. */
static void add_cookies(struct rt_req *rq)
{
	struct http_request *req = rq->req;
	char cookie[COOKIE_SET_MAX];
	if (rq->new_csrf) {
		cookie_csrf_value(cookie, rq->secure, rq->csrf);
		http_resp_header(req, "Set-Cookie", cookie);
	}
	if (rq->set_session[0] || rq->clear_session) {
		cookie_session_value(cookie, rq->secure, rq->set_session[0] ? rq->set_session : NULL);
		http_resp_header(req, "Set-Cookie", cookie);
	}
}

static void send_answer(struct rt_req *rq)
{
	struct answer *a = rq->answer;
	struct http_request *req = rq->req;
	if (!a->body && !a->location[0] && a->status >= 400) {
		/* {status = 404}: the static page in the request's language. */
		error_page(req, a->status);
	} else {
		http_resp_status(req, a->status);
		add_common_headers(req);
		add_cookies(rq);
		if (a->set_lang) {
			char cookie[96];
			snprintf(cookie, sizeof(cookie), "at_lang=%s; Path=/; SameSite=Lax; Max-Age=31536000%s", a->set_lang,
				 rq->secure ? "; Secure" : "");
			http_resp_header(req, "Set-Cookie", cookie);
		}
		http_resp_header(req, "Cache-Control", "no-cache");
		if (rq->page_key) {
			/* The guest's own token where the Lua put the stand-in. */
			for (int i = 0; i < a->nheaders; i++)
				put_token(a->headers[i][1], strlen(a->headers[i][1]), rq->page_csrf, rq->csrf);
			put_token(a->location, strlen(a->location), rq->page_csrf, rq->csrf);
		}
		for (int i = 0; i < a->nheaders; i++)
			http_resp_header(req, a->headers[i][0], a->headers[i][1]);
		if (a->location[0])
			http_resp_header(req, "Location", a->location);
		if (a->body) {
			http_resp_header(req, "Content-Type", a->type);
			if (rq->page_key)
				body_with_token(req, a->body, a->len, rq->page_csrf, rq->csrf);
			else
				http_resp_body(req, a->body, a->len);
		}
	}
	if (rq->page_key)
		page_keep(rq, a);
	if (a->body || a->location[0] || a->status < 400)
		http_resp_send(req);
	rq_free(rq);
}

/* ---------------------------------------------------------------- guests' pages */

/* A page whose answer says shared = true is the same for every guest
 * (nobody signed in) who asks for it: it is made from the tenant's
 * bundle, the API's reads, and the request's path, query, language,
 * scheme and host only. Each worker keeps such pages in its cache of
 * guests' reads (apicache.h), under all of those and the tenant's bundle
 * version and name, valid while the tenant's data generation is the one
 * the page was made under. The one thing in a guest's page that is
 * theirs, the CSRF token of a form, is marked by a stand-in token the
 * daemon draws for the request and gives the Lua as req.csrf: the
 * guest's own token is theirs to choose (any 43 such characters pass),
 * and text on the page holding the same characters would otherwise be
 * taken for a form's token and replaced by every later guest's. What is
 * sent now, and each time the page is given from the cache, gets the
 * guest's token in the stand-in's places. An entry is "TYPE\nSTAND-IN\nBODY"
 * (the stand-in is never sent). */

/* Writes TO over each FROM in S (both TOKEN_CHARS long). */
static void put_token(char *s, size_t len, const char *from, const char *to)
{
	char *end = s + len;
	for (char *f = memmem(s, len, from, TOKEN_CHARS); f;
	     f = memmem(f + TOKEN_CHARS, (size_t)(end - f) - TOKEN_CHARS, from, TOKEN_CHARS))
		memcpy(f, to, TOKEN_CHARS);
}

/* Sends BODY with TO for each FROM, in pieces, without a copy. */
static void body_with_token(struct http_request *req, const char *body, size_t len, const char *from,
			    const char *to)
{
	const char *p = body, *end = body + len, *f;
	while ((f = memmem(p, (size_t)(end - p), from, TOKEN_CHARS))) {
		http_resp_body(req, p, (size_t)(f - p));
		http_resp_body(req, to, TOKEN_CHARS);
		p = f + TOKEN_CHARS;
	}
	http_resp_body(req, p, (size_t)(end - p));
}

static char *page_key(const struct rt_req *rq)
{
	struct http_request *req = rq->req;
	size_t plen;
	const char *path = http_req_path(req, &plen);
	const char *query = http_req_query(req);
	const char *host = http_req_header(req, "Host");    /* with its port, as plugin.url uses it */
	if (!query)
		query = "";
	if (!host)
		host = "";
	/* Lengths before the strings a request chooses, so that no two
	 * requests share a key by moving a separator. */
#define PAGE_KEY_FMT "page %lld %d %s %s %zu:%s %zu:%s %zu:%.*s %zu:%s"
	int n = snprintf(NULL, 0, PAGE_KEY_FMT, (long long)rq->tenant_id, rq->version, rq->secure ? "https" : "http",
			 http_req_lang(req), strlen(rq->name), rq->name, strlen(host), host, plen, (int)plen, path,
			 strlen(query), query);
	char *key = n > 0 ? malloc((size_t)n + 1) : NULL;
	if (key)
		snprintf(key, (size_t)n + 1, PAGE_KEY_FMT, (long long)rq->tenant_id, rq->version, rq->secure ? "https" : "http",
			 http_req_lang(req), strlen(rq->name), rq->name, strlen(host), host, plen, (int)plen, path,
			 strlen(query), query);
	return key;
}

/* A guest's GET: answered from the cache (true), or marked to be kept
 * when its answer is shared. */
static bool page_from_cache(struct rt_req *rq)
{
	struct http_request *req = rq->req;
	if (rq->api_done || rq->ts->guarded || !rq_cache(rq) || strcmp(http_req_method_name(req), "GET") != 0)
		return false;
	char *key = page_key(rq);
	if (!key)
		return false;
	uint64_t gen = datagen_get(rq->tenant_id);
	size_t len;
	const char *hit = apicache_get(rq_cache(rq), key, gen, &len);
	if (!hit) {
		if (token_new(rq->page_csrf) != 0) {
			free(key);
			return false;
		}
		rq->page_key = key;
		rq->page_gen = gen;
		return false;
	}
	free(key);
	/* TYPE \n STAND-IN \n BODY */
	const char *nl = memchr(hit, '\n', len);
	char type[128];
	if (!nl || (size_t)(nl - hit) >= sizeof(type) || len - (size_t)(nl + 1 - hit) < TOKEN_CHARS + 1 ||
	    nl[1 + TOKEN_CHARS] != '\n')
		return false;
	memcpy(type, hit, (size_t)(nl - hit));
	type[nl - hit] = '\0';
	const char *standin = nl + 1, *body = standin + TOKEN_CHARS + 1;
	http_resp_status(req, 200);
	add_common_headers(req);
	add_cookies(rq);
	http_resp_header(req, "Cache-Control", "no-cache");
	http_resp_header(req, "Content-Type", type);
	body_with_token(req, body, (size_t)(hit + len - body), standin, rq->csrf);
	http_resp_send(req);
	rq_free(rq);
	return true;
}

/* Keeps the answer A when it is a shared page that a guest may be given
 * as it is: 200 with a body, no cookie or header of its own, nothing
 * written. */
static void page_keep(struct rt_req *rq, const struct answer *a)
{
	if (!a->shared || a->status != 200 || !a->body || a->location[0] || a->nheaders || a->set_lang ||
	    rq->page_unshared || rq->wrote || rq->has_user || rq->set_session[0] || rq->clear_session)
		return;
	size_t cap = strlen(a->type) + TOKEN_CHARS + 3 + a->len;     /* and snprintf's NUL */
	char *text = malloc(cap);
	if (!text)
		return;
	size_t len = (size_t)snprintf(text, cap, "%s\n%s\n", a->type, rq->page_csrf);
	memcpy(text + len, a->body, a->len);
	len += a->len;
	apicache_put(rq_cache(rq), rq->page_key, rq->page_gen, text, len);
	free(text);
}

static void rq_committed(struct db_txn *txn, enum db_status st, void *arg)
{
	struct rt_req *rq = arg;
	rq->txn = NULL;
	/* What this daemon's guests read is stale from now on; the other
	 * daemons hear it by NOTIFY. */
	if (rq->changed)
		datagen_bump(rq->tenant_id);
	if (st != DB_OK) {
		log_warn("request=%s tenant=%s: commit failed: %s", http_req_id(rq->req), rq->slug,
			 st == DB_UNAVAILABLE ? "database unavailable" : db_error(txn));
		/* The response is not sent; its headers and body go with a
		 * fresh status. */
		rq_fail(rq, 503, NULL);
		return;
	}
	send_answer(rq);
}

/* Answers with an error page, rolls back, logs WHY (a Lua error with file
 * and line) with the request id. */
void rq_fail(struct rt_req *rq, int status, const char *why)
{
	if (why)
		log_error("request=%s tenant=%s: %s", http_req_id(rq->req), rq->slug, why);
	if (rq->api_done) {
		/* The transaction is the API's: it rolls back and answers. */
		rq->txn = NULL;
		rq->api_done(rq->api_arg, status, NULL);
		rq_free(rq);
		return;
	}
	if (rq->txn) {
		db_rollback(rq->txn);
		rq->txn = NULL;
	}
	error_page(rq->req, status);
	rq_free(rq);
}

static void rq_free(struct rt_req *rq)
{
	lsched_done(&rq->item);
	rq_clear_params(rq);
	rq_api_free(rq);
	free(rq->answer);
	free(rq->json);
	json_decref(rq->api_args);
	json_decref(rq->api_answer);
	free(rq->api_cached);
	free(rq->api_cache_key);
	free(rq->page_key);
	rq_apib_free(rq);
	if (rq->ts) {
		lua_State *L = rq->ts->sb->L;
		luaL_unref(L, LUA_REGISTRYINDEX, rq->co_ref);
		/* A request stopped at the memory cap leaves its garbage; the
		 * next one must not find the state still full. */
		if (rq->budget.killed)
			lua_gc(L, LUA_GCCOLLECT);
		ts_release(rq->ts);
	}
	free(rq);
}

/* 500 from Lua names the request id so that a resident can quote it; the
 * others are the static pages. */
static void error_page(struct http_request *req, int status)
{
	if (status != 500) {
		if (status == 503)
			http_resp_header(req, "Retry-After", "5");
		http_resp_error(req, status);
		return;
	}
	bool en = strcmp(http_req_lang(req), "en") == 0;
	http_resp_status(req, 500);
	add_common_headers(req);
	http_resp_header(req, "Content-Type", "text/html; charset=utf-8");
	http_resp_header(req, "Cache-Control", "no-store");
	http_resp_printf(req,
			 "<!doctype html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\"><title>500</title></head>\n"
			 "<body><main><h1>%s</h1><p>%s <code>%s</code></p></main></body></html>\n",
			 en ? "en" : "nl", en ? "Something went wrong" : "Er ging iets mis",
			 en ? "Please try again later. If you contact us, mention request id"
			    : "Probeer het later opnieuw. Noem bij contact het verzoeknummer",
			 http_req_id(req));
	http_resp_send(req);
}

/* /assets/PATH: the bundle's static/PATH, with its ETag. */
static void serve_asset(struct rt_req *rq, struct bundle *b)
{
	struct http_request *req = rq->req;
	size_t plen;
	const char *path = http_req_path(req, &plen);
	char rel[BUNDLE_MAX_PATH + 8];
	memcpy(rel, "static/", 7);
	long n = static_percent_decode(path + sizeof(ASSETS_PREFIX) - 1, plen - (sizeof(ASSETS_PREFIX) - 1), rel + 7,
				       sizeof(rel) - 7);
	const struct bundle_file *f = n > 0 && !strstr(rel, "..") ? bundle_find(b, rel) : NULL;
	if (!f) {
		http_resp_error(req, 404);
		rq_free(rq);
		return;
	}
	const char *inm = http_req_header(req, "If-None-Match");
	http_resp_header(req, "ETag", f->etag);
	http_resp_header(req, "Cache-Control", "public, max-age=300");
	http_resp_header(req, "X-Content-Type-Options", "nosniff");
	if (inm && static_etag_matches(inm, f->etag)) {
		http_resp_status(req, 304);
		http_resp_send(req);
		rq_free(rq);
		return;
	}
	http_resp_header(req, "Content-Type", static_content_type(f->path));
	http_resp_body(req, f->data, f->len);
	http_resp_send(req);
	rq_free(rq);
}
