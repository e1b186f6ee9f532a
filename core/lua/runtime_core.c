/* The core functions the runtime's prelude calls (core.file, load, log,
 * url, text, render, mail, …): what Lua may ask of the daemon beside the
 * store (runtime_store.c) and the API (runtime_api.c). The ones that
 * wait on the database yield with the core tag and are answered by the
 * request's lifecycle (runtime_request.c) through their operation. */
#include "runtime_internal.h"

#include <event2/event.h>
#include <jansson.h>
#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "db.h"
#include "http.h"
#include "ljson.h"
#include "log.h"
#include "runtime.h"
#include "lsandbox.h"
#include "mail.h"
#include "markdown.h"
#include "template.h"
#include "texts.h"
#include "utf8.h"

#define RENDER_MAX (8 * 1024 * 1024)   /* one rendered page */

static int push_rendered(lua_State *L);

static struct tstate *ts_of(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

int core_file(lua_State *L)
{
	struct tstate *ts = ts_of(L);
	const char *which = luaL_checkstring(L, 1);
	const char *path = luaL_checkstring(L, 2);
	const struct bundle *b = strcmp(which, "platform") == 0 ? runtime_platform() : ts->bundle;
	const struct bundle_file *f = b ? bundle_find(b, path) : NULL;
	if (!f)
		return 0;
	lua_pushlstring(L, f->data, f->len);
	return 1;
}

int core_new_env(lua_State *L)
{
	lsb_push_env(lsb_of(L));
	return 1;
}

int core_load(lua_State *L)
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

int core_describe(lua_State *L)
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

int core_log(lua_State *L)
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

int core_protect(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	lsb_protect(L);
	return 1;
}

int core_is_safe(lua_State *L)
{
	size_t len;
	lua_pushboolean(L, tmpl_to_safehtml(L, 1, &len) != NULL);
	return 1;
}

/* A Markdown text's length at most for core.markdown: a page's part,
 * not a book (a record's Markdown field holds at most 100,000). */
#define MARKDOWN_MAX (1024 * 1024)

/* core.markdown(text) -> safe HTML: TEXT rendered as the platform renders
 * the Markdown it stores (markdown.h). Charged as a scan of its bytes;
 * the result's allocation is charged as any. */
static int push_markdown(lua_State *L)
{
	const char *html = lua_touserdata(L, 1);
	tmpl_push_safehtml(L, html, strlen(html));
	return 1;
}

int core_markdown(lua_State *L)
{
	size_t len;
	const char *text = luaL_checklstring(L, 1, &len);
	if (len > MARKDOWN_MAX)
		return plugin_error(L, "markdown: the text is longer than %d bytes", MARKDOWN_MAX);
	lsb_charge(L, (int64_t)(len / LSB_SCAN_BYTES_PER_UNIT) + 1);
	char *html = markdown_to_html(text, len);
	if (!html)
		return plugin_error(L, "markdown: out of memory");
	/* Pushing may fail (memory, a spent budget): HTML is freed either
	 * way before the error goes on. */
	lua_pushcfunction(L, push_markdown);
	lua_pushlightuserdata(L, html);
	int st = lua_pcall(L, 1, 1, 0);
	free(html);
	if (st != LUA_OK)
		return lua_error(L);
	return 1;
}

/* core.guarded(): the tenant has request.before hooks, which must see
 * every request: its guests' pages are not given from the cache. */
int core_guarded(lua_State *L)
{
	ts_of(L)->guarded = true;
	return 0;
}

/* core.where(level) -> "file:line:" of the function LEVEL up (a
 * declaration's place, for the problems found with it). */
int core_where(lua_State *L)
{
	luaL_where(L, (int)luaL_checkinteger(L, 1));
	size_t n;
	const char *w = lua_tolstring(L, -1, &n);
	if (n > 0 && w[n - 1] == ' ')
		lua_pushlstring(L, w, n - 1);
	return 1;
}

/* core.definitions(table): the tenant's workflows and step types as data
 * (prelude.lua's definitions()), kept as JSON text for the operations
 * that start or move a table's workflow (API_DEFS: "_definitions"). */
int core_definitions(lua_State *L)
{
	struct tstate *ts = ts_of(L);
	luaL_checktype(L, 1, LUA_TTABLE);
	char err[200] = "";
	json_t *j = ljson_from_lua(L, 1, 0, err, sizeof(err));
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	if (!text)
		return luaL_error(L, "definitions: %s", err[0] ? err : "out of memory");
	/* They travel with every operation that starts or moves a table's
	 * workflow, whose arguments are bounded (API_ARGS_MAX). */
	size_t len = strlen(text);
	if (len > RT_DEFINITIONS_MAX) {
		free(text);
		return luaL_error(L, "the workflows and step types come to %d KiB as JSON, over the limit of %d KiB",
				  (int)(len / 1024), RT_DEFINITIONS_MAX / 1024);
	}
	free(ts->defs);
	ts->defs = text;
	ts->defs_len = len;
	return 0;
}

/* core.url(path): PATH on this request's host as an absolute URL (links
 * in mails), or PATH itself when the Host is not a plain host[:port]. */
int core_url(lua_State *L)
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
int core_text(lua_State *L)
{
	const char *s = texts_get(rt_platform_texts(), luaL_checkstring(L, 1), luaL_checkstring(L, 2));
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
	const struct bundle *from[4] = {ts->bundle, ts->bundle, runtime_platform(), runtime_platform()};
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
		snprintf(key, sizeof(key), "%c:%s", from[i] == runtime_platform() ? 'P' : 'T', path);
		for (struct tmpl_entry *e = ts->templates; e; e = e->next)
			if (strcmp(e->key, key) == 0)
				return e->t;
		char shown[340];
		snprintf(shown, sizeof(shown), "%s%s", from[i] == runtime_platform() ? "plugins/" : "", path);
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
		return texts_get(rt_platform_texts(), rc->lang, key);
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
	s = texts_get(rt_platform_texts(), rc->lang, key);
	return s ? s : texts_get(rt_platform_texts(), "nl", key);
}

int core_render(lua_State *L)
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

/* ---------------------------------------------------------------- mail */

/* core.mail(to, subject, text, html): a message into the outbox, only
 * for runtime_platform() plugins. What the outbox would refuse is refused here,
 * before the yield: nil, "invalid". Yields like core.db. */
int core_mail(lua_State *L)
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

static int push_mail_answer(lua_State *L, struct rt_req *rq, json_t **slot)
{
	(void)rq;
	(void)slot;
	lua_pushboolean(L, 1);
	return 1;
}

const struct core_op rt_op_mail = {.name = "mail", .writes = true, .send = rq_mail, .push = push_mail_answer};
