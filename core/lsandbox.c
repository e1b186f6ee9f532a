/* The sandbox. An allow-list, not a deny-list (Redis script_lua.c): the
 * state opens the standard libraries, copies the permitted functions into
 * one read-only base table, then empties the global table, so the only
 * way to reach a function is through the base. Everything that can run
 * long without executing Lua instructions (string.rep, pattern matching)
 * is checked against the size of its input before it runs. */
#include "lsandbox.h"

#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static char core_tag;           /* its address tags core yields */

static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
static void sb_hook(lua_State *L, lua_Debug *ar);
static void kill_now(lua_State *L, struct lbudget *b, const char *why);
static void check_killed(lua_State *L);
static int env_index(lua_State *L);
static int env_newindex_global(lua_State *L);
static int readonly_newindex(lua_State *L);
static int sb_pcall(lua_State *L);
static int sb_msgh(lua_State *L);
static int sb_setmetatable(lua_State *L);
static int sb_panic(lua_State *L);
static int sb_xpcall(lua_State *L);
static int finish_pcall(lua_State *L, int status, lua_KContext extra);
static int sb_load(lua_State *L);
static int sb_print(lua_State *L);
static int sb_co_resume(lua_State *L);
static int sb_co_wrap(lua_State *L);
static int sb_co_wrapped(lua_State *L);
static int resume_cont(lua_State *L, int status, lua_KContext ctx);
static int resume_inner(lua_State *L, lua_State *co, int nargs, int wrap);
static int sb_str_rep(lua_State *L);
static int sb_str_pattern(lua_State *L);
static int sb_str_find(lua_State *L);
static int check_pattern(lua_State *L, bool plain);
static int traceback(lua_State *L);
static void add_lib(lua_State *L, int base, const char *lib, const char *const *names, lua_CFunction *over,
		    const char *const *over_names);

/* ---------------------------------------------------------------- creation */

struct lsandbox *lsb_new(size_t mem_limit, const char *log_tag, char *err, size_t errlen)
{
	struct lsandbox *sb = calloc(1, sizeof(*sb));
	if (!sb) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sb->mem_limit = mem_limit;
	sb->log_tag = log_tag ? log_tag : "-";
	lua_State *L = lua_newstate(sb_alloc, sb);
	if (L)
		lua_atpanic(L, sb_panic);
	if (!L) {
		snprintf(err, errlen, "cannot create a Lua state within %zu bytes", mem_limit);
		free(sb);
		return NULL;
	}
	sb->L = L;
	/* Lua finds the sandbox through the allocator's user data. */
	luaL_requiref(L, "_G", luaopen_base, 1);
	luaL_requiref(L, "string", luaopen_string, 1);
	luaL_requiref(L, "table", luaopen_table, 1);
	luaL_requiref(L, "math", luaopen_math, 1);
	luaL_requiref(L, "utf8", luaopen_utf8, 1);
	luaL_requiref(L, "coroutine", luaopen_coroutine, 1);
	luaL_requiref(L, "os", luaopen_os, 1);
	lua_settop(L, 0);

	lua_newtable(L); /* base, index 1 */
	int base = 1;
	static const char *const base_names[] = {
		"assert", "error", "ipairs", "next", "pairs", "select", "tonumber", "tostring",
		"type", "rawequal", "rawlen", "rawget", "getmetatable", "_VERSION", NULL,
	};
	lua_getglobal(L, "_G");
	for (const char *const *n = base_names; *n; n++) {
		lua_getfield(L, -1, *n);
		lua_setfield(L, base, *n);
	}
	lua_pop(L, 1);
	lua_getglobal(L, "setmetatable");
	lua_pushcclosure(L, sb_setmetatable, 1);
	lua_setfield(L, base, "setmetatable");
	lua_pushcfunction(L, sb_pcall);
	lua_setfield(L, base, "pcall");
	lua_pushcfunction(L, sb_xpcall);
	lua_setfield(L, base, "xpcall");
	lua_pushcfunction(L, sb_load);
	lua_setfield(L, base, "load");
	lua_pushcfunction(L, sb_print);
	lua_setfield(L, base, "print");

	static const char *const string_names[] = {
		"byte", "char", "format", "len", "lower", "upper", "reverse", "sub",
		"pack", "packsize", "unpack", NULL,
	};
	static const char *const string_over[] = {"rep", "find", "match", "gmatch", "gsub", NULL};
	lua_CFunction string_fns[] = {sb_str_rep, sb_str_find, sb_str_pattern, sb_str_pattern, sb_str_pattern};
	add_lib(L, base, "string", string_names, string_fns, string_over);

	static const char *const table_names[] = {"concat", "insert", "move", "pack", "remove", "sort", "unpack", NULL};
	add_lib(L, base, "table", table_names, NULL, NULL);
	static const char *const math_names[] = {
		"abs", "ceil", "floor", "fmod", "huge", "max", "maxinteger", "min", "mininteger", "modf",
		"pi", "sqrt", "tointeger", "type", "ult", "exp", "log", "sin", "cos", "tan", "asin", "acos",
		"atan", "random", "randomseed", NULL,
	};
	add_lib(L, base, "math", math_names, NULL, NULL);
	static const char *const utf8_names[] = {"char", "charpattern", "codepoint", "codes", "len", "offset", NULL};
	add_lib(L, base, "utf8", utf8_names, NULL, NULL);
	static const char *const co_names[] = {"create", "isyieldable", "running", "status", "yield", NULL};
	static const char *const co_over[] = {"resume", "wrap", NULL};
	lua_CFunction co_fns[] = {sb_co_resume, sb_co_wrap};
	add_lib(L, base, "coroutine", co_names, co_fns, co_over);
	static const char *const os_names[] = {"time", "date", "clock", "difftime", NULL};
	add_lib(L, base, "os", os_names, NULL, NULL);

	/* The string metatable stays (methods on strings), but hidden: its
	 * __index is the real string library, which must not be changed. */
	lua_pushliteral(L, "");
	if (lua_getmetatable(L, -1)) {
		lua_getfield(L, base, "string");        /* the protected proxy */
		lua_setfield(L, -2, "__index");
		lua_pushboolean(L, 0);
		lua_setfield(L, -2, "__metatable");
		lua_pop(L, 1);
	}
	lua_pop(L, 1);

	/* Nothing stays reachable through the global table: load() without
	 * an environment gets a fresh one, and no chunk runs with _G. */
	lua_pushglobaltable(L);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		lua_pop(L, 1);
		lua_pushvalue(L, -1);
		lua_pushnil(L);
		lua_rawset(L, -4);
	}
	lua_newtable(L);
	lua_pushcfunction(L, env_newindex_global);
	lua_setfield(L, -2, "__newindex");
	lua_pushcfunction(L, env_newindex_global);
	lua_setfield(L, -2, "__index");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	lua_pop(L, 1);

	sb->base_ref = luaL_ref(L, LUA_REGISTRYINDEX);  /* pops base */
	lua_sethook(L, sb_hook, LUA_MASKCOUNT, LSB_HOOK_STEP);
	return sb;
}

void lsb_free(struct lsandbox *sb)
{
	if (!sb)
		return;
	if (sb->L)
		lua_close(sb->L);
	free(sb);
}

struct lsandbox *lsb_of(lua_State *L)
{
	void *ud = NULL;
	lua_getallocf(L, &ud);
	return ud;
}

void lsb_expose(struct lsandbox *sb, const char *name)
{
	lua_State *L = sb->L;
	lua_rawgeti(L, LUA_REGISTRYINDEX, sb->base_ref);
	lua_insert(L, -2);
	lua_setfield(L, -2, name);
	lua_pop(L, 1);
}

void lsb_push_env(struct lsandbox *sb)
{
	lua_State *L = sb->L;
	lua_newtable(L);
	lua_newtable(L);
	lua_rawgeti(L, LUA_REGISTRYINDEX, sb->base_ref);
	lua_pushcclosure(L, env_index, 1);
	lua_setfield(L, -2, "__index");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
}

int lsb_load(struct lsandbox *sb, const char *chunk, size_t len, const char *name, int env_idx, char *err,
	     size_t errlen)
{
	return lsb_load_in(sb->L, chunk, len, name, env_idx, err, errlen);
}

int lsb_load_in(lua_State *L, const char *chunk, size_t len, const char *name, int env_idx, char *err, size_t errlen)
{
	env_idx = lua_absindex(L, env_idx);
	char chunkname[256];
	snprintf(chunkname, sizeof(chunkname), "=%s", name);
	int st = luaL_loadbufferx(L, chunk, len, chunkname, "t");
	if (st != LUA_OK) {
		snprintf(err, errlen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "load failed");
		lua_pop(L, 1);
		return -1;
	}
	lua_pushvalue(L, env_idx);
	if (!lua_setupvalue(L, -2, 1))
		lua_pop(L, 1);
	return 0;
}

int lsb_call(struct lsandbox *sb, int nargs, int nresults, struct lbudget *b, char *err, size_t errlen)
{
	lua_State *L = sb->L;
	struct lbudget *saved = sb->budget;
	int fn = lua_gettop(L) - nargs;
	lua_pushcfunction(L, traceback);
	lua_insert(L, fn);
	sb->budget = b;
	int st = lua_pcall(L, nargs, nresults, fn);
	sb->budget = saved;
	lua_remove(L, fn);
	if (st != LUA_OK) {
		const char *msg = b && b->killed ? b->why : lua_tostring(L, -1);
		snprintf(err, errlen, "%s", msg ? msg : "error object is not a string");
		lua_pop(L, 1);
		return -1;
	}
	return 0;
}

int lsb_resume(struct lsandbox *sb, lua_State *co, int nargs, int *nres, struct lbudget *b)
{
	struct lbudget *saved = sb->budget;
	sb->budget = b;
	int st = lua_resume(co, NULL, nargs, nres);
	sb->budget = saved;
	return st;
}

void lsb_push_core_tag(lua_State *L)
{
	lua_pushlightuserdata(L, &core_tag);
}

bool lsb_core_yield(lua_State *co, int nres)
{
	return nres >= 1 && lua_touserdata(co, -nres) == &core_tag && lua_type(co, -nres) == LUA_TLIGHTUSERDATA;
}

void lsb_budget_init(struct lbudget *b, int64_t instructions, int64_t ms)
{
	memset(b, 0, sizeof(*b));
	b->instructions = instructions;
	b->deadline_ms = lsb_now_ms() + ms;
}

void lsb_protect(lua_State *L)
{
	/* proxy = setmetatable({}, {__index = t, __newindex = error, __metatable = false}) */
	lua_newtable(L);
	lua_newtable(L);
	lua_pushvalue(L, -3);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, readonly_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	lua_remove(L, -2);
}

int64_t lsb_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- limits */

static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct lsandbox *sb = ud;
	if (!ptr)
		osize = 0;      /* then osize is a type tag */
	if (nsize == 0) {
		free(ptr);
		sb->mem_used -= osize;
		return NULL;
	}
	if (nsize > osize && sb->mem_used + (nsize - osize) > sb->mem_limit) {
		/* Refused; sticky for the running request so that catching
		 * "not enough memory" in pcall and retrying goes nowhere. */
		if (sb->budget && !sb->budget->killed) {
			sb->budget->killed = true;
			sb->budget->why = "memory limit exceeded";
		}
		return NULL;
	}
	void *p = realloc(ptr, nsize);
	if (p)
		sb->mem_used = sb->mem_used - osize + nsize;
	return p;
}

static void sb_hook(lua_State *L, lua_Debug *ar)
{
	struct lsandbox *sb = lsb_of(L);
	struct lbudget *b = sb->budget;
	if (!b)
		return;
	if (b->killed) {
		lua_pushstring(L, b->why);
		lua_error(L);
	}
	b->instructions -= LSB_HOOK_STEP;
	if (b->instructions <= 0)
		kill_now(L, b, "instruction limit exceeded");
	if (lsb_now_ms() > b->deadline_ms)
		kill_now(L, b, "time limit exceeded");
}

static void kill_now(lua_State *L, struct lbudget *b, const char *why)
{
	b->killed = true;
	b->why = why;
	lua_pushstring(L, why);
	lua_error(L);
}

/* After anything that may have caught an error: a killed budget stays
 * killed. */
static void check_killed(lua_State *L)
{
	struct lbudget *b = lsb_of(L)->budget;
	if (b && b->killed) {
		lua_pushstring(L, b->why);
		lua_error(L);
	}
}

/* ---------------------------------------------------------------- env */

static int env_index(lua_State *L)
{
	/* (env, key): the allow-list, or an error naming the global. */
	lua_pushvalue(L, 2);
	if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
		return 1;
	if (lua_type(L, 2) == LUA_TSTRING)
		return luaL_error(L, "undeclared global '%s'", lua_tostring(L, 2));
	return luaL_error(L, "undeclared global");
}

static int env_newindex_global(lua_State *L)
{
	return luaL_error(L, "the global table is not available");
}

static int readonly_newindex(lua_State *L)
{
	if (lua_type(L, 2) == LUA_TSTRING)
		return luaL_error(L, "'%s' cannot be changed: the table is read-only", lua_tostring(L, 2));
	return luaL_error(L, "the table is read-only");
}

/* Copies the permitted fields of library LIB into a new table, replaces
 * some with our versions (each gets the original as upvalue 1), and puts
 * a read-only proxy of it in the base under LIB. */
static void add_lib(lua_State *L, int base, const char *lib, const char *const *names, lua_CFunction *over,
		    const char *const *over_names)
{
	lua_getglobal(L, lib);
	int src = lua_gettop(L);
	lua_newtable(L);
	for (const char *const *n = names; *n; n++) {
		lua_getfield(L, src, *n);
		lua_setfield(L, -2, *n);
	}
	for (int i = 0; over_names && over_names[i]; i++) {
		lua_getfield(L, src, over_names[i]);
		lua_pushcclosure(L, over[i], 1);
		lua_setfield(L, -2, over_names[i]);
	}
	lsb_protect(L);
	lua_setfield(L, base, lib);
	lua_pop(L, 1);
}

/* An error outside any protected call is a bug of the core: say what it
 * was before Lua aborts. */
static int sb_panic(lua_State *L)
{
	const char *msg = lua_tostring(L, -1);
	log_error("lua panic (tenant=%s): %s", lsb_of(L)->log_tag, msg ? msg : "error object is not a string");
	return 0;
}

/* ---------------------------------------------------------------- setmetatable */

/* Finalizers run with hooks off and outside any request's budget, so a
 * metatable with __gc (present when set, which is when Lua marks the
 * object) is refused. */
static int sb_setmetatable(lua_State *L)
{
	if (lua_type(L, 2) == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L, "setmetatable: finalizers (__gc) are not available");
		lua_pop(L, 1);
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 1);
	return 1;
}

/* ---------------------------------------------------------------- pcall */

static int sb_pcall(lua_State *L)
{
	luaL_checkany(L, 1);
	lua_pushboolean(L, 1);
	lua_insert(L, 1);
	int st = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, finish_pcall);
	return finish_pcall(L, st, 0);
}

/* xpcall's message handler, wrapped: a kill is raised from inside the
 * count hook, where Lua runs the handler with hooks off, so a plugin's
 * handler must not run then (it could loop unbudgeted). */
static int sb_msgh(lua_State *L)
{
	struct lbudget *b = lsb_of(L)->budget;
	if (b && b->killed) {
		lua_pushstring(L, b->why);
		return 1;
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 1);
	return 1;
}

static int sb_xpcall(lua_State *L)
{
	int n = lua_gettop(L);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_pushvalue(L, 2);
	lua_pushcclosure(L, sb_msgh, 1);
	lua_replace(L, 2);
	lua_pushboolean(L, 1);
	lua_pushvalue(L, 1);
	lua_rotate(L, 3, 2);
	int st = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_pcall);
	return finish_pcall(L, st, 2);
}

static int finish_pcall(lua_State *L, int status, lua_KContext extra)
{
	/* The kill is sticky: pcall never returns false for it. */
	check_killed(L);
	if (status != LUA_OK && status != LUA_YIELD) {
		lua_pushboolean(L, 0);
		lua_pushvalue(L, -2);
		return 2;
	}
	return lua_gettop(L) - (int)extra;
}

/* ---------------------------------------------------------------- load, print */

static int sb_load(lua_State *L)
{
	size_t len;
	const char *chunk = luaL_checklstring(L, 1, &len);
	const char *name = luaL_optstring(L, 2, "=(load)");
	const char *mode = luaL_optstring(L, 3, "t");
	if (strcmp(mode, "t") != 0) {
		lua_pushnil(L);
		lua_pushliteral(L, "only text chunks can be loaded");
		return 2;
	}
	int env = 4;
	if (lua_isnoneornil(L, 4)) {
		lsb_push_env(lsb_of(L));
		env = lua_gettop(L);
	}
	if (luaL_loadbufferx(L, chunk, len, name, "t") != LUA_OK) {
		lua_pushnil(L);
		lua_insert(L, -2);
		return 2;
	}
	lua_pushvalue(L, env);
	if (!lua_setupvalue(L, -2, 1))
		lua_pop(L, 1);
	return 1;
}

static int sb_print(lua_State *L)
{
	struct lsandbox *sb = lsb_of(L);
	if (sb->budget && sb->budget->prints++ >= LSB_PRINT_MAX)
		return 0;
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	int n = lua_gettop(L);
	for (int i = 1; i <= n; i++) {
		size_t len;
		const char *s = luaL_tolstring(L, i, &len);
		if (i > 1)
			luaL_addchar(&b, '\t');
		luaL_addlstring(&b, s, len > 1000 ? 1000 : len);
		lua_pop(L, 1);
	}
	luaL_pushresult(&b);
	log_info("lua tenant=%s: %s", sb->log_tag, lua_tostring(L, -1));
	return 0;
}

static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	if (!msg)
		msg = luaL_typename(L, 1);
	struct lbudget *b = lsb_of(L)->budget;
	if (b && b->killed) {
		/* Say where it was stopped. */
		lua_Debug ar;
		for (int level = 1; lua_getstack(L, level, &ar); level++) {
			lua_getinfo(L, "Sl", &ar);
			if (ar.currentline > 0) {
				lua_pushfstring(L, "%s:%d: %s", ar.short_src, ar.currentline, b->why);
				return 1;
			}
		}
	}
	lua_pushstring(L, msg);
	return 1;
}

/* ---------------------------------------------------------------- coroutines */

static int sb_co_resume(lua_State *L)
{
	lua_State *co = lua_tothread(L, 1);
	luaL_argexpected(L, co != NULL, 1, "coroutine");
	return resume_inner(L, co, lua_gettop(L) - 1, 0);
}

static int sb_co_wrap(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_State *co = lua_newthread(L);
	lua_pushvalue(L, 1);
	lua_xmove(L, co, 1);
	lua_pushcclosure(L, sb_co_wrapped, 1);
	return 1;
}

static int sb_co_wrapped(lua_State *L)
{
	lua_State *co = lua_tothread(L, lua_upvalueindex(1));
	return resume_inner(L, co, lua_gettop(L), 1);
}

/* Resumes CO with the NARGS values on top of L. A core yield inside CO
 * (tagged) makes L yield the same values, so it travels up to the
 * request's scheduler; when the scheduler resumes L, resume_cont hands
 * the answer down to CO and goes on. Plain yields return to the caller,
 * as coroutine.resume/wrap always do. */
static int resume_inner(lua_State *L, lua_State *co, int nargs, int wrap)
{
	int nres;
	if (co == L) {
		lua_pushboolean(L, 0);
		lua_pushliteral(L, "cannot resume non-suspended coroutine");
		return wrap ? lua_error(L) : 2;
	}
	int cst = lua_status(co);
	if (cst == LUA_OK && lua_gettop(co) == 0) {
		if (wrap)
			return luaL_error(L, "cannot resume dead coroutine");
		lua_pushboolean(L, 0);
		lua_pushliteral(L, "cannot resume dead coroutine");
		return 2;
	}
	if (!lua_checkstack(co, nargs))
		return luaL_error(L, "too many arguments to resume");
	lua_xmove(L, co, nargs);
	int st = lua_resume(co, L, nargs, &nres);
	check_killed(L);
	if (st == LUA_YIELD && lsb_core_yield(co, nres)) {
		if (!lua_checkstack(L, nres))
			return luaL_error(L, "too many results to resume");
		lua_xmove(co, L, nres);
		return lua_yieldk(L, nres, (lua_KContext)wrap, resume_cont);
	}
	if (st == LUA_OK || st == LUA_YIELD) {
		if (!lua_checkstack(L, nres + 1))
			return luaL_error(L, "too many results to resume");
		int first = lua_gettop(L);
		if (!wrap)
			lua_pushboolean(L, 1);
		lua_xmove(co, L, nres);
		return lua_gettop(L) - first;
	}
	lua_xmove(co, L, 1);    /* the error object */
	if (wrap) {
		if (lua_type(L, -1) == LUA_TSTRING) {
			luaL_where(L, 1);
			lua_insert(L, -2);
			lua_concat(L, 2);
		}
		return lua_error(L);
	}
	lua_pushboolean(L, 0);
	lua_insert(L, -2);
	return 2;
}

static int resume_cont(lua_State *L, int status, lua_KContext ctx)
{
	int wrap = (int)ctx;
	lua_State *co;
	int nargs;
	if (wrap) {
		co = lua_tothread(L, lua_upvalueindex(1));
		nargs = lua_gettop(L);
	} else {
		co = lua_tothread(L, 1);
		nargs = lua_gettop(L) - 1;
	}
	return resume_inner(L, co, nargs, wrap);
}

/* ---------------------------------------------------------------- strings */

static int sb_str_rep(lua_State *L)
{
	size_t l, lsep;
	luaL_checklstring(L, 1, &l);
	lua_Integer n = luaL_checkinteger(L, 2);
	luaL_optlstring(L, 3, "", &lsep);
	if (n > 0) {
		double total = (double)l * (double)n + (double)lsep * (double)(n - 1);
		if (total > LSB_STRING_MAX)
			return luaL_error(L, "string.rep: result of %I bytes is over the limit of %d",
					  (lua_Integer)(total > 9e18 ? 9e18 : total),
					  LSB_STRING_MAX);
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* Lua's matcher backtracks: with k quantifiers a subject of n bytes may
 * cost about n^k steps (n^(k+1) unanchored), inside one C call the count
 * hook never sees. Refuse the combinations whose worst case is too
 * large; plain searches and patterns without quantifiers always run. */
static int sb_str_find(lua_State *L)
{
	return check_pattern(L, lua_gettop(L) >= 4 && lua_toboolean(L, 4));
}

static int sb_str_pattern(lua_State *L)
{
	return check_pattern(L, false);
}

static int check_pattern(lua_State *L, bool plain)
{
	size_t n, plen;
	luaL_checklstring(L, 1, &n);
	const char *p = luaL_checklstring(L, 2, &plen);
	if (!plain) {
		int quantifiers = 0;
		bool anchored = plen > 0 && p[0] == '^';
		for (size_t i = 0; i < plen; i++) {
			if (p[i] == '%') {
				i++;
				continue;
			}
			if (p[i] == '[') {
				/* skip the set: ']' right after '[' or '[^' is literal */
				i++;
				if (i < plen && p[i] == '^')
					i++;
				if (i < plen && p[i] == ']')
					i++;
				while (i < plen && p[i] != ']') {
					if (p[i] == '%')
						i++;
					i++;
				}
				continue;
			}
			if (p[i] == '*' || p[i] == '+' || p[i] == '-' || p[i] == '?')
				quantifiers++;
		}
		double exponent = quantifiers + (anchored ? 0 : 1);
		if (quantifiers > 0 && pow((double)n + 1, exponent) > LSB_PATTERN_COST_MAX)
			return luaL_error(L, "pattern too costly for a subject of %d bytes (%d quantifiers); "
					     "use a shorter subject or a simpler pattern", (int)n, quantifiers);
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}
