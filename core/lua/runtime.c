/* The Lua runtime: each worker's live tenant states. A state is built from
 * the platform plugins and one version of the tenant's bundle by the
 * embedded prelude (core/lua/prelude.lua), which loads tenant.lua and the
 * plugins and keeps the hooks and routes; the states are kept in an LRU
 * list bounded by their total bytes, and a state retired by a newer
 * version goes when its last request ends. Check mode builds a state to
 * report a bundle's problems. The request's way through a state is in
 * runtime_request.c; the core functions the prelude calls are in
 * runtime_core.c, runtime_store.c and runtime_api.c. */
#include "runtime.h"

#include <event2/event.h>
#include <jansson.h>
#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bundle.h"
#include "db.h"
#include "log.h"
#include "lsandbox.h"
#include "runtime_internal.h"
#include "template.h"
#include "texts.h"
#include "worker.h"

extern const char prelude_lua[];
extern const unsigned long prelude_lua_len;

#define LOAD_INSTRUCTIONS 50000000
#define LOAD_MS 5000
#define RW_TRIM_EVERY 32              /* requests between looks at the states' total bytes */

static struct bundle *platform;
static struct texts *platform_texts;     /* the platform's translations, shared by all states */

static void ts_unlink(struct rt_worker *rw, struct tstate *ts);
static void on_preview_tick(evutil_socket_t fd, short what, void *arg);
static void ts_free(struct tstate *ts);
void rw_trim(struct rt_worker *rw, const struct tstate *keep);

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

const struct texts *rt_platform_texts(void)
{
	return platform_texts;
}

void runtime_register_statements(void)
{
	rt_store_register_statements();
	rq_register_statements();
	preview_register_statements();
}

/* ---------------------------------------------------------------- worker */

struct rt_worker *runtime_worker_new(struct worker *w, struct db_pool *pool, struct apicache *cache)
{
	struct rt_worker *rw = calloc(1, sizeof(*rw));
	if (!rw)
		return NULL;
	rw->w = w;
	rw->pool = pool;
	rw->cache = cache;
	void (*run)(struct lsched_item *, void *), (*refuse)(struct lsched_item *, int, void *);
	rq_scheduler_callbacks(&run, &refuse);
	rw->sched = lsched_new(w->base, run, refuse, rw);
	rw->preview_tick = evtimer_new(w->base, on_preview_tick, rw);
	if (!rw->sched || !rw->preview_tick) {
		lsched_free(rw->sched);
		if (rw->preview_tick)
			event_free(rw->preview_tick);
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
	rw->wait_ms = cfg->request_wait_limit;
	rw->session_idle_s = cfg->session_idle_timeout / 1000;
	rw->session_absolute_s = cfg->session_absolute_timeout / 1000;
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

void runtime_worker_free(struct rt_worker *rw)
{
	if (!rw)
		return;
	/* What still waits for its turn is answered 503 first. */
	lsched_free(rw->sched);
	rw->sched = NULL;
	event_free(rw->preview_tick);
	rw->preview_tick = NULL;
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
	free(rw);
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
}

void ts_touch(struct rt_worker *rw, struct tstate *ts)
{
	if (ts->preview)
		ts->used_at = lsched_now_ns() / 1000000000;
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
}

/* The tenant's live state (PREVIEW 0), or the state of its draft
 * PREVIEW: a tenant has one live state per worker, and one beside it for
 * each draft being previewed. */
struct tstate *ts_find(struct rt_worker *rw, int64_t tenant_id, int preview)
{
	for (struct tstate *ts = rw->head; ts; ts = ts->next)
		if (ts->tenant_id == tenant_id && ts->preview == (preview != 0) && (!preview || ts->version == preview))
			return ts;
	return NULL;
}

/* A draft published or deleted must not keep its state, and a daemon is
 * told no more than that the registry changed (a draft's number is never
 * given again, so a state kept would serve no other version, but it holds
 * memory): every draft's state goes. Registry changes are rare; a preview
 * still valid builds its state again on its next page. */
void runtime_registry_changed(struct rt_worker *rw)
{
	struct tstate *ts = rw->head;
	while (ts) {
		struct tstate *next = ts->next;
		if (ts->preview) {
			log_info("tenant=%s: the preview's Lua state of version %d goes: the registry changed",
				 ts->slug, ts->version);
			ts_retire(rw, ts);
		}
		ts = next;
	}
}

/* A newer version is deployed: the old state goes now, or when its last
 * request ends. */
void ts_retire(struct rt_worker *rw, struct tstate *ts)
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

void ts_release(struct tstate *ts)
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

/* What a state holds: its Lua heap and the declared workflows' JSON
 * kept beside it (up to RT_DEFINITIONS_MAX), which lua_states_max_bytes
 * counts too. */
size_t ts_bytes(const struct tstate *ts)
{
	return ts->sb->mem_used + ts->defs_len;
}

/* While a draft's state lives, a look a minute drops it once it has been
 * idle for RT_PREVIEW_IDLE_S, even when no request comes to trim. */
void rw_watch_previews(struct rt_worker *rw)
{
	if (rw->preview_tick && !evtimer_pending(rw->preview_tick, NULL)) {
		struct timeval minute = {60, 0};
		evtimer_add(rw->preview_tick, &minute);
	}
}

static void on_preview_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct rt_worker *rw = arg;
	rw_trim(rw, NULL);
	for (struct tstate *ts = rw->head; ts; ts = ts->next) {
		if (ts->preview) {
			rw_watch_previews(rw);
			return;
		}
	}
}

/* Drops the drafts' states unused for RT_PREVIEW_IDLE_S, then idle
 * states from the cold end until the live ones fit. A state holding a
 * suspended request is never dropped. */
void rw_trim(struct rt_worker *rw, const struct tstate *keep)
{
	size_t total = 0;
	int64_t now = lsched_now_ns() / 1000000000;
	for (struct tstate *ts = rw->head; ts;) {
		struct tstate *next = ts->next;
		if (ts->preview && ts->active == 0 && ts != keep && now - ts->used_at > RT_PREVIEW_IDLE_S) {
			log_info("tenant=%s: the preview's Lua state of version %d goes: unused for %d s", ts->slug,
				 ts->version, RT_PREVIEW_IDLE_S);
			ts_unlink(rw, ts);
			ts_free(ts);
		} else {
			total += ts_bytes(ts);
		}
		ts = next;
	}
	struct tstate *ts = rw->tail;
	while (ts && total > rw->max_bytes) {
		struct tstate *prev = ts->prev;
		if (ts->active == 0 && ts != keep) {
			total -= ts_bytes(ts);
			ts_unlink(rw, ts);
			ts_free(ts);
		}
		ts = prev;
	}
}

/* ---------------------------------------------------------------- building a state */

void add_problem(struct tstate *ts, const char *msg)
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
	{"markdown", core_markdown},
	{"db", core_db},         {"mail", core_mail},       {"api", core_api},       {"api_route", core_api_route},
	{"api_batch", core_api_batch},
	{"url", core_url},       {"text", core_text},       {"guarded", core_guarded}, {"where", core_where},
	{"definitions", core_definitions}, {"pdf", core_pdf}, {NULL, NULL},
};

/* Builds the state: sandbox, prelude, tenant.lua and plugins. Problems
 * in the bundle do not fail the build (the plugin concerned is disabled
 * and the reason logged, or collected in check mode); only a state that
 * cannot exist at all (memory, the prelude) does. */
struct tstate *ts_build(struct rt_worker *rw, int64_t tenant_id, const char *slug, const char *name,
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
	ts->events_ref = LUA_NOREF;
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
	 * argument; it returns load_tenant, handle, handle_api and
	 * handle_events. */
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
	if (lsb_call(ts->sb, 1, 4, &budget, err, errlen) != 0) {
		ts_free(ts);
		return NULL;
	}
	ts->events_ref = luaL_ref(L, LUA_REGISTRYINDEX);
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
	free(ts->defs);
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
	struct texts *saved_texts = platform_texts;
	/* The platform's translations of PLAT: the names of declared
	 * workflows and step types are looked up in them. The daemon checks
	 * uploads against its own platform while its workers read these
	 * globals: then they are already right and stay untouched (only
	 * `aantafel check`, on one thread, swaps them). */
	bool swap = plat != platform || !platform_texts;
	char why[256];
	struct texts *texts = swap ? texts_from_bundle(plat, why, sizeof(why)) : NULL;
	if (swap)
		platform = (struct bundle *)plat;
	if (texts)
		platform_texts = texts;
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
	if (swap) {
		platform = saved;
		platform_texts = saved_texts;
	}
	texts_free(texts);
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
