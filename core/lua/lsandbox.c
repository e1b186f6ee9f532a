/* The sandbox. An allow-list, not a deny-list (Redis script_lua.c): the
 * state opens the standard libraries, copies the permitted functions into
 * one read-only base table, then empties the global table, so the only
 * way to reach a function is through the base. Every library function
 * whose work grows with its input is replaced by a metered one
 * (lmetered.c, lpattern.c) that charges the work to the request's budget,
 * and so is every allocation: nothing runs long unseen by the budget. */
#include "lsandbox.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lmetered.h"
#include "log.h"
#include "lpattern.h"

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
static int traceback(lua_State *L);
static bool alloc_allowed(struct lsandbox *sb, size_t growth);
static bool spend(struct lbudget *b, int64_t units);
static int64_t now_ns(void);
static int64_t lsb_now_ms(void);

/* A library function replaced by ours; WRAPS: ours gets the original as
 * upvalue 1. */
struct lib_fn {
	const char *name;
	lua_CFunction fn;
	bool wraps;
};
static void add_lib(lua_State *L, int base, const char *lib, const char *const *names, const struct lib_fn *over);

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
		"assert", "error", "ipairs", "next", "pairs", "select", "tostring",
		"type", "rawequal", "rawlen", "rawget", "getmetatable", "_VERSION", NULL,
	};
	lua_getglobal(L, "_G");
	for (const char *const *n = base_names; *n; n++) {
		lua_getfield(L, -1, *n);
		lua_setfield(L, base, *n);
	}
	lua_getfield(L, -1, "tonumber");
	lua_pushcclosure(L, lmt_tonumber, 1);
	lua_setfield(L, base, "tonumber");
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

	static const char *const string_names[] = {"len", NULL};
	static const struct lib_fn string_over[] = {
		{"rep", lmt_str_rep, true},           {"format", lmt_str_format, true},
		{"byte", lmt_str_byte, true},         {"char", lmt_str_char, true},
		{"lower", lmt_str_by_length, true},   {"upper", lmt_str_by_length, true},
		{"reverse", lmt_str_by_length, true}, {"sub", lmt_str_sub, true},
		{"pack", lmt_str_pack, true},         {"packsize", lmt_str_pack, true},
		{"unpack", lmt_str_pack, true},       {"find", lpat_find, false},
		{"match", lpat_match, false},         {"gmatch", lpat_gmatch, false},
		{"gsub", lpat_gsub, false},           {NULL, NULL, false},
	};
	add_lib(L, base, "string", string_names, string_over);

	static const char *const table_names[] = {NULL};
	static const struct lib_fn table_over[] = {
		{"concat", lmt_tbl_concat, false}, {"insert", lmt_tbl_insert, false}, {"move", lmt_tbl_move, false},
		{"pack", lmt_tbl_pack, true},      {"remove", lmt_tbl_remove, false}, {"sort", lmt_tbl_sort, false},
		{"unpack", lmt_tbl_unpack, false}, {NULL, NULL, false},
	};
	add_lib(L, base, "table", table_names, table_over);
	static const char *const math_names[] = {
		"abs", "ceil", "floor", "fmod", "huge", "max", "maxinteger", "min", "mininteger", "modf",
		"pi", "sqrt", "tointeger", "type", "ult", "exp", "log", "sin", "cos", "tan", "asin", "acos",
		"atan", "random", "randomseed", NULL,
	};
	add_lib(L, base, "math", math_names, NULL);
	static const char *const utf8_names[] = {"charpattern", "codes", NULL};
	static const struct lib_fn utf8_over[] = {
		{"char", lmt_utf8_char, true},     {"codepoint", lmt_utf8_codepoint, true},
		{"len", lmt_utf8_len, true},       {"offset", lmt_utf8_offset, true},
		{NULL, NULL, false},
	};
	add_lib(L, base, "utf8", utf8_names, utf8_over);
	static const char *const co_names[] = {"create", "isyieldable", "running", "status", "yield", NULL};
	static const struct lib_fn co_over[] = {
		{"resume", sb_co_resume, false}, {"wrap", sb_co_wrap, false}, {NULL, NULL, false},
	};
	add_lib(L, base, "coroutine", co_names, co_over);
	static const char *const os_names[] = {"time", "clock", "difftime", NULL};
	static const struct lib_fn os_over[] = {{"date", lmt_os_date, true}, {NULL, NULL, false}};
	add_lib(L, base, "os", os_names, os_over);

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
	/* The hook may have come closer for costly instructions: the next
	 * code on this thread starts with the usual step. */
	lua_sethook(L, sb_hook, LUA_MASKCOUNT, LSB_HOOK_STEP);
	lua_remove(L, fn);
	if (st != LUA_OK) {
		/* A kill: the handler's message, which says where (traceback),
		 * unless it could not be made (memory): then the reason alone. */
		const char *msg = lua_tostring(L, -1);
		if (b && b->killed && (!msg || !strstr(msg, b->why)))
			msg = b->why;
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

static int64_t lsb_now_ms(void)
{
	return now_ns() / 1000000;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
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
	if (nsize > osize && !alloc_allowed(sb, nsize - osize))
		return NULL;
	void *p = realloc(ptr, nsize);
	if (p)
		sb->mem_used = sb->mem_used - osize + nsize;
	return p;
}

/* Whether GROWTH more bytes may be allocated: not beyond the memory cap.
 * Building big values is work too (concatenating long strings, filling
 * tables take few instructions each), so with a budget the bytes are
 * charged here. The allocator may not raise, and C code that holds memory
 * of its own while it calls Lua must not see an allocation fail for a
 * spent budget: a spent budget only marks the kill, which the next hook
 * or charge raises (the hook comes within a few instructions once they
 * are costly). */
static bool alloc_allowed(struct lsandbox *sb, size_t growth)
{
	struct lbudget *b = sb->budget;
	if (sb->mem_used + growth > sb->mem_limit) {
		/* Sticky for the running request, so that catching "not enough
		 * memory" in pcall and retrying goes nowhere. */
		if (b && !b->killed) {
			b->killed = true;
			b->why = "memory limit exceeded";
		}
		return false;
	}
	if (!b)
		return true;
	b->alloc_bytes += growth;
	if (b->alloc_bytes >= LSB_ALLOC_CHECK) {
		int64_t units = (int64_t)(b->alloc_bytes / LSB_BYTES_PER_UNIT);
		b->alloc_bytes = 0;
		spend(b, units);
	}
	return true;
}

/* Takes UNITS from B and looks at the clock every LSB_CLOCK_UNITS; false
 * (and B killed) when either is spent. Never raises. */
static bool spend(struct lbudget *b, int64_t units)
{
	if (b->killed)
		return false;
	b->instructions -= units;
	b->unclocked += units;
	if (b->instructions <= 0) {
		b->killed = true;
		b->why = "instruction limit exceeded";
	} else if (b->unclocked >= LSB_CLOCK_UNITS) {
		b->unclocked = 0;
		if (lsb_now_ms() > b->deadline_ms) {
			b->killed = true;
			b->why = "time limit exceeded";
		}
	}
	return !b->killed;
}

/* Every LSB_HOOK_STEP instructions (fewer once they turned out costly):
 * charges them and looks at the clock. One instruction may do much work
 * in C (comparing or copying long strings, passing a million values), so
 * when an interval took long the hook comes more often for the rest of
 * the coroutine's life: the deadline then holds within a few such
 * instructions. */
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
	int step = lua_gethookcount(L);
	b->instructions -= step;
	if (b->instructions <= 0)
		kill_now(L, b, "instruction limit exceeded");
	int64_t now = now_ns();
	if (now / 1000000 > b->deadline_ms)
		kill_now(L, b, "time limit exceeded");
	if (b->hook_ns && step > LSB_HOOK_STEP_SLOW && now - b->hook_ns > LSB_SLOW_INTERVAL_NS)
		lua_sethook(L, sb_hook, LUA_MASKCOUNT, LSB_HOOK_STEP_SLOW);
	b->hook_ns = now;
	b->unclocked = 0;
	/* The request's slice is spent: it gives the worker back to the
	 * scheduler, where it can (not inside a sort comparator, a gsub
	 * callback or a metamethod called from C: then it goes on). */
	if (b->slice_end_ns && now >= b->slice_end_ns && lua_isyieldable(L)) {
		b->sliced = true;
		lua_yield(L, 0);
	}
}

void lsb_charge(lua_State *L, int64_t units)
{
	if (!lsb_try_charge(L, units)) {
		lua_pushstring(L, lsb_of(L)->budget->why);
		lua_error(L);
	}
}

bool lsb_try_charge(lua_State *L, int64_t units)
{
	struct lsandbox *sb = lsb_of(L);
	struct lbudget *b = sb ? sb->budget : NULL;
	return !b || spend(b, units);
}

void lsb_charge_bytes(lua_State *L, size_t n)
{
	lsb_charge(L, (int64_t)(n / LSB_BYTES_PER_UNIT));
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

/* Copies the permitted fields of library LIB into a new table, adds our
 * replacements (those that wrap get the original as upvalue 1), and puts
 * a read-only proxy of it in the base under LIB. */
static void add_lib(lua_State *L, int base, const char *lib, const char *const *names, const struct lib_fn *over)
{
	lua_getglobal(L, lib);
	int src = lua_gettop(L);
	lua_newtable(L);
	for (const char *const *n = names; *n; n++) {
		lua_getfield(L, src, *n);
		lua_setfield(L, -2, *n);
	}
	for (const struct lib_fn *f = over; f && f->name; f++) {
		if (f->wraps) {
			lua_getfield(L, src, f->name);
			lua_pushcclosure(L, f->fn, 1);
		} else {
			lua_pushcfunction(L, f->fn);
		}
		lua_setfield(L, -2, f->name);
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
	lsb_charge(L, (int64_t)(len / LSB_SCAN_BYTES_PER_UNIT) + 1);      /* compiling reads every byte */
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
	lsb_charge(L, n);
	/* A log line holds 4 KiB: the values beyond are not even converted. */
	for (int i = 1; i <= n && luaL_bufflen(&b) < 4096; i++) {
		if (i > 1)
			luaL_addchar(&b, '\t');
		/* The value goes in with luaL_addvalue: the buffer must be on
		 * top of the stack whenever it may grow. */
		size_t len;
		const char *s = luaL_tolstring(L, i, &len);
		if (len > 1000) {
			lua_pushlstring(L, s, 1000);
			lua_remove(L, -2);
		}
		luaL_addvalue(&b);
	}
	luaL_pushresult(&b);
	log_info("lua tenant=%s: %s", sb->log_tag, lua_tostring(L, -1));
	return 0;
}

void lsb_kill_where(lua_State *L, int level, char *buf, size_t len, char *where_else, size_t else_len)
{
	buf[0] = where_else[0] = '\0';
	/* The innermost frame with a line (where it stopped), and the source
	 * of the outermost one outside the prelude (whose code it is). */
	char stopped[LUA_IDSIZE] = "", owner[LUA_IDSIZE] = "";
	int stopped_line = 0;
	lua_Debug ar;
	for (int lv = level; lua_getstack(L, lv, &ar); lv++) {
		lua_getinfo(L, "Sl", &ar);
		if (ar.currentline <= 0 || strcmp(ar.short_src, "prelude") == 0)
			continue;
		if (!stopped_line) {
			snprintf(stopped, sizeof(stopped), "%s", ar.short_src);
			stopped_line = ar.currentline;
		}
		snprintf(owner, sizeof(owner), "%s", ar.short_src);
	}
	if (!stopped_line)
		return;
	if (strcmp(owner, stopped) == 0) {
		snprintf(buf, len, "%s:%d: ", stopped, stopped_line);
		return;
	}
	for (int lv = level; lua_getstack(L, lv, &ar); lv++) {
		lua_getinfo(L, "Sl", &ar);
		if (ar.currentline > 0 && strcmp(ar.short_src, owner) == 0) {
			snprintf(buf, len, "%s:%d: ", owner, ar.currentline);
			break;
		}
	}
	snprintf(where_else, else_len, " (stopped in %s:%d)", stopped, stopped_line);
}

static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	if (!msg)
		msg = luaL_typename(L, 1);
	struct lbudget *b = lsb_of(L)->budget;
	if (b && b->killed) {
		/* Say where it was stopped. */
		char where[LUA_IDSIZE + 32], where_else[LUA_IDSIZE + 48];
		lsb_kill_where(L, 1, where, sizeof(where), where_else, sizeof(where_else));
		lua_pushfstring(L, "%s%s%s", where, b->why, where_else);
		return 1;
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
	lsb_charge(L, nargs);
	if (!lua_checkstack(co, nargs))
		return luaL_error(L, "too many arguments to resume");
	lua_xmove(L, co, nargs);
	int st = lua_resume(co, L, nargs, &nres);
	check_killed(L);
	struct lbudget *b = lsb_of(L)->budget;
	while (st == LUA_YIELD && nres == 0 && b && b->sliced) {
		/* The hook ended the request's slice inside CO: the yield goes
		 * on outward to the scheduler, or, where L cannot yield, CO
		 * goes on at once. */
		if (lua_isyieldable(L))
			return lua_yieldk(L, 0, (lua_KContext)wrap, resume_cont);
		b->sliced = false;
		st = lua_resume(co, L, 0, &nres);
		check_killed(L);
	}
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
