/* Municipalities edit templates, residents fill them: the escaping of every
 * value is fixed at compile time from the HTML context around it, so no
 * view data can become markup, script or a dangerous URL. This is the
 * engine's face: the output buffer, compiling (template_parse.c, then
 * template_scan.c) and rendering (template_render.c), and the safe-HTML
 * value. */
#include "template_internal.h"

#include <lauxlib.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char tmpl_safehtml_key;

/* ================================================================ public */

void tbuf_init(struct tbuf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max > SIZE_MAX / 2 ? SIZE_MAX / 2 : max;
}

void tbuf_free(struct tbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int tbuf_add(struct tbuf *b, const char *s, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return -1;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		char *d = realloc(b->data, cap);
		if (!d)
			return -1;
		b->data = d;
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

void tmpl_push_safehtml(lua_State *L, const char *html, size_t len)
{
	luaL_checkstack(L, 4, "safe html");
	struct safehtml *h = lua_newuserdatauv(L, sizeof(*h) + len + 1, 0);
	h->len = len;
	if (len)
		memcpy(h->data, html, len);
	h->data[len] = '\0';
	if (luaL_newmetatable(L, TMPL_SAFEHTML)) {
		lua_pushboolean(L, 0);
		lua_setfield(L, -2, "__metatable");
		lua_pushcfunction(L, tmpl_safehtml_tostring);
		lua_setfield(L, -2, "__tostring");
		/* a second key that needs no string, so the renderer never allocates */
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &tmpl_safehtml_key);
	}
	lua_setmetatable(L, -2);
}

const char *tmpl_to_safehtml(lua_State *L, int idx, size_t *len)
{
	if (lua_type(L, idx) != LUA_TUSERDATA)
		return NULL;
	idx = lua_absindex(L, idx);
	if (!lua_checkstack(L, 2) || !lua_getmetatable(L, idx))
		return NULL;
	lua_rawgetp(L, LUA_REGISTRYINDEX, &tmpl_safehtml_key);
	int same = lua_rawequal(L, -1, -2);
	lua_pop(L, 2);
	if (!same)
		return NULL;
	struct safehtml *h = lua_touserdata(L, idx);
	if (lua_rawlen(L, idx) < sizeof(*h) || h->len > lua_rawlen(L, idx) - sizeof(*h))
		return NULL;
	if (len)
		*len = h->len;
	return h->data;
}

struct tmpl *tmpl_compile(const char *name, const char *src, size_t len, char *err, size_t errlen)
{
	struct cstate cs;
	memset(&cs, 0, sizeof(cs));
	if (err && errlen)
		err[0] = '\0';
	struct tmpl *t = calloc(1, sizeof(*t));
	if (!t || !(t->name = strdup(name ? name : "?"))) {
		free(t);
		if (err && errlen)
			snprintf(err, errlen, "%s:0: out of memory", name ? name : "?");
		return NULL;
	}
	t->root = NONE;
	cs.t = t;
	cs.src = src ? src : "";
	cs.len = src ? len : 0;
	cs.line = 1;
	cs.err = err;
	cs.errlen = errlen;
	cs.open[0].owner = NONE;
	cs.open[0].last = NONE;
	cs.open[0].field = F_ROOT;
	if (cs.len > TMPL_MAX_SOURCE) {
		tmpl_fail(&cs, 1, "template larger than %u bytes", TMPL_MAX_SOURCE);
		tmpl_free(t);
		return NULL;
	}
	cs.work_max = (cs.len + 1) * WORK_PER_BYTE + 4096;
	if (tmpl_parse(&cs) != 0 || tmpl_analyse(&cs) != 0) {
		tmpl_free(t);
		return NULL;
	}
	return t;
}

void tmpl_free(struct tmpl *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->parent);
	free(t->nodes);
	free(t->segs);
	free(t->paths);
	free(t->blocks);
	free(t->pool);
	free(t);
}

const char *tmpl_name(const struct tmpl *t)
{
	return t->name;
}

const char *tmpl_parent(const struct tmpl *t)
{
	return t->parent;
}

int tmpl_render(const struct tmpl *t, const struct tmpl_env *env, lua_State *L, int view, struct tbuf *out,
		char *err, size_t errlen)
{
	struct rstate rs;
	memset(&rs, 0, sizeof(rs));
	int top = lua_gettop(L);
	rs.env = env;
	rs.L = L;
	rs.out = out;
	rs.err = err;
	rs.errlen = errlen;
	rs.max_iter = env && env->max_iterations ? env->max_iterations : TMPL_DEFAULT_ITERATIONS;
	rs.max_depth = env && env->max_depth ? env->max_depth : TMPL_DEFAULT_DEPTH;
	if (rs.max_depth > TMPL_MAX_DEPTH)
		rs.max_depth = TMPL_MAX_DEPTH;
	rs.cur = t;
	rs.line = 1;
	if (err && errlen)
		err[0] = '\0';
	if (!t)
		return tmpl_rfail(&rs, NULL, 0, "no template");
	view = lua_absindex(L, view);
	/* A GC step may run __gc finalizers, which are plugin code: keep the
	 * collector still while we push key strings. An emergency collection
	 * on allocation failure runs no finalizers. */
	int gc_was_running = lua_gc(L, LUA_GCISRUNNING);
	if (gc_was_running)
		lua_gc(L, LUA_GCSTOP);
	if (!lua_checkstack(L, 3)) {
		tmpl_rfail(&rs, t, 0, "Lua stack exhausted");
	} else {
		/* protected, so that a memory error cannot unwind through us */
		lua_pushcfunction(L, tmpl_render_protected);
		lua_pushlightuserdata(L, &rs);
		lua_pushvalue(L, view);
		if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
			const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "error";
			tmpl_rfail(&rs, rs.cur, rs.line, "%s", msg);
		}
	}
	if (gc_was_running)
		lua_gc(L, LUA_GCRESTART);
	lua_settop(L, top);
	return rs.failed ? -1 : 0;
}
