/* Metered library functions for the sandbox (see lmetered.h).
 *
 * Two kinds. Where the work is known from the arguments (string.rep's
 * result, string.byte's range, the arguments of string.char), the
 * function charges it and then calls Lua's own, so a call over the
 * budget does none of it. Where the work depends on what a metamethod
 * answers (the table functions read the length through __len, which may
 * answer one thing to a check and another to the call), the function is
 * written here and charges as it goes. */
#include "lmetered.h"

#include <lauxlib.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "lpattern.h"
#include "lsandbox.h"

#define STEP_BATCH 1024

#define TAB_R 1                 /* read */
#define TAB_W 2                 /* write */
#define TAB_L 4                 /* length */
#define TAB_RW (TAB_R | TAB_W)

struct meter {
	lua_State *L;
	unsigned steps;
};

static inline void meter_step(struct meter *m)
{
	if (++m->steps >= STEP_BATCH) {
		m->steps = 0;
		lsb_charge(m->L, STEP_BATCH);
	}
}

static void meter_done(struct meter *m)
{
	if (m->steps)
		lsb_charge(m->L, m->steps);
	m->steps = 0;
}

/* Charges a cost computed in floating point (it may be beyond int64). */
static void charge_large(lua_State *L, double units)
{
	lsb_charge(L, units >= (double)(INT64_MAX / 2) ? INT64_MAX / 2 : (int64_t)units);
}

/* Calls upvalue 1, Lua's own function, with the arguments as they are. */
static int call_wrapped(lua_State *L)
{
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* The bytes of the string results from index FIRST up. */
static size_t string_bytes(lua_State *L, int first)
{
	size_t n = 0;
	for (int i = first; i <= lua_gettop(L); i++)
		if (lua_type(L, i) == LUA_TSTRING)
			n += lua_rawlen(L, i);
	return n;
}

/* ... and its end, clipped to the string. */
static size_t end_position(lua_State *L, int arg, lua_Integer def, size_t len)
{
	lua_Integer pos = luaL_optinteger(L, arg, def);
	if (pos > (lua_Integer)len)
		return len;
	if (pos >= 0)
		return (size_t)pos;
	if (pos < -(lua_Integer)len)
		return 0;
	return len + (size_t)pos + 1;
}

/* utf8's positions: negative from the end, not clipped at 1. */
static lua_Integer utf8_position(lua_Integer pos, size_t len)
{
	if (pos >= 0)
		return pos;
	if (0u - (size_t)pos > len)
		return 0;
	return (lua_Integer)len + pos + 1;
}

/* ---------------------------------------------------------------- string */

int lmt_str_rep(lua_State *L)
{
	size_t l, lsep;
	luaL_checklstring(L, 1, &l);
	lua_Integer n = luaL_checkinteger(L, 2);
	luaL_optlstring(L, 3, "", &lsep);
	if (n > 0 && l + lsep == 0) {
		/* Lua's own would copy nothing n times. */
		lua_pushliteral(L, "");
		return 1;
	}
	if (n > 0) {
		double total = (double)l * (double)n + (double)lsep * (double)(n - 1);
		if (total > LSB_STRING_MAX)
			return luaL_error(L, "string.rep: result of %I bytes is over the limit of %d",
					  (lua_Integer)(total > 9e18 ? 9e18 : total), LSB_STRING_MAX);
		/* A copy per repetition, even of nothing. */
		charge_large(L, (double)n + total / LSB_BYTES_PER_UNIT);
	}
	return call_wrapped(L);
}

int lmt_str_format(lua_State *L)
{
	int n = lua_gettop(L);
	/* %q looks at every byte; %s copies them. */
	lsb_charge(L, (int64_t)n + (int64_t)(string_bytes(L, 1) / LSB_SCAN_BYTES_PER_UNIT));
	int nres = call_wrapped(L);
	/* A __tostring may have made more than the arguments held. */
	lsb_charge_bytes(L, string_bytes(L, lua_gettop(L) - nres + 1));
	return nres;
}

int lmt_str_byte(lua_State *L)
{
	size_t l;
	luaL_checklstring(L, 1, &l);
	lua_Integer pi = luaL_optinteger(L, 2, 1);
	size_t posi = lpat_position(pi, l);
	size_t pose = end_position(L, 3, pi, l);
	if (posi <= pose)
		lsb_charge(L, (int64_t)(pose - posi + 1));
	return call_wrapped(L);
}

int lmt_str_char(lua_State *L)
{
	lsb_charge(L, lua_gettop(L));
	return call_wrapped(L);
}

int lmt_str_by_length(lua_State *L)
{
	size_t l;
	luaL_checklstring(L, 1, &l);
	lsb_charge(L, (int64_t)(l / LSB_SCAN_BYTES_PER_UNIT) + 1);
	return call_wrapped(L);
}

int lmt_str_sub(lua_State *L)
{
	int nres = call_wrapped(L);
	lsb_charge_bytes(L, string_bytes(L, lua_gettop(L) - nres + 1));
	return nres;
}

/* pack, unpack and packsize: the format is read item by item; what they
 * make is charged as it comes out. */
int lmt_str_pack(lua_State *L)
{
	size_t fl;
	luaL_checklstring(L, 1, &fl);
	lsb_charge(L, (int64_t)lua_gettop(L) + (int64_t)fl);
	int nres = call_wrapped(L);
	lsb_charge_bytes(L, string_bytes(L, lua_gettop(L) - nres + 1));
	return nres;
}

/* ---------------------------------------------------------------- table */

static int has_field(lua_State *L, const char *key, int n)
{
	lua_pushstring(L, key);
	return lua_rawget(L, -n) != LUA_TNIL;
}

/* A table, or a value whose metatable has what WHAT needs. */
static void check_table(lua_State *L, int arg, int what)
{
	if (lua_type(L, arg) == LUA_TTABLE)
		return;
	int n = 1;
	if (lua_getmetatable(L, arg) && (!(what & TAB_R) || has_field(L, "__index", ++n)) &&
	    (!(what & TAB_W) || has_field(L, "__newindex", ++n)) && (!(what & TAB_L) || has_field(L, "__len", ++n))) {
		lua_pop(L, n);
		return;
	}
	luaL_checktype(L, arg, LUA_TTABLE);
}

static lua_Integer length_of(lua_State *L, int arg, int what)
{
	check_table(L, arg, what | TAB_L);
	return luaL_len(L, arg);
}

int lmt_tbl_insert(lua_State *L)
{
	struct meter m = {L, 0};
	lua_Integer e = length_of(L, 1, TAB_RW) + 1;   /* the first empty place */
	lua_Integer pos;
	switch (lua_gettop(L)) {
	case 2:
		pos = e;
		break;
	case 3:
		pos = luaL_checkinteger(L, 2);
		/* (unsigned) pos - 1 < e: 1 <= pos <= e */
		luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2, "position out of bounds");
		for (lua_Integer i = e; i > pos; i--) {
			meter_step(&m);
			lua_geti(L, 1, i - 1);
			lua_seti(L, 1, i);
		}
		break;
	default:
		return luaL_error(L, "wrong number of arguments to 'insert'");
	}
	meter_done(&m);
	lua_seti(L, 1, pos);
	return 0;
}

int lmt_tbl_remove(lua_State *L)
{
	struct meter m = {L, 0};
	lua_Integer size = length_of(L, 1, TAB_RW);
	lua_Integer pos = luaL_optinteger(L, 2, size);
	if (pos != size)
		luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 2, "position out of bounds");
	lua_geti(L, 1, pos);
	for (; pos < size; pos++) {
		meter_step(&m);
		lua_geti(L, 1, pos + 1);
		lua_seti(L, 1, pos);
	}
	meter_done(&m);
	lua_pushnil(L);
	lua_seti(L, 1, pos);
	return 1;
}

int lmt_tbl_move(lua_State *L)
{
	struct meter m = {L, 0};
	lua_Integer f = luaL_checkinteger(L, 2);
	lua_Integer e = luaL_checkinteger(L, 3);
	lua_Integer t = luaL_checkinteger(L, 4);
	int tt = !lua_isnoneornil(L, 5) ? 5 : 1;
	check_table(L, 1, TAB_R);
	check_table(L, tt, TAB_W);
	if (e >= f) {
		luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3, "too many elements to move");
		lua_Integer n = e - f + 1;
		luaL_argcheck(L, t <= LUA_MAXINTEGER - n + 1, 4, "destination wrap around");
		if (t > e || t <= f || (tt != 1 && !lua_compare(L, 1, tt, LUA_OPEQ))) {
			for (lua_Integer i = 0; i < n; i++) {
				meter_step(&m);
				lua_geti(L, 1, f + i);
				lua_seti(L, tt, t + i);
			}
		} else {
			for (lua_Integer i = n - 1; i >= 0; i--) {
				meter_step(&m);
				lua_geti(L, 1, f + i);
				lua_seti(L, tt, t + i);
			}
		}
	}
	meter_done(&m);
	lua_pushvalue(L, tt);
	return 1;
}

static void concat_field(lua_State *L, luaL_Buffer *b, lua_Integer i)
{
	lua_geti(L, 1, i);
	if (!lua_isstring(L, -1))
		luaL_error(L, "invalid value (at index %I) in table for 'concat'", (lua_Integer)i);
	lsb_charge_bytes(L, lua_rawlen(L, -1));
	luaL_addvalue(b);
}

int lmt_tbl_concat(lua_State *L)
{
	struct meter m = {L, 0};
	lua_Integer last = length_of(L, 1, TAB_R);
	size_t lsep;
	const char *sep = luaL_optlstring(L, 2, "", &lsep);
	lua_Integer i = luaL_optinteger(L, 3, 1);
	last = luaL_optinteger(L, 4, last);
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (; i < last; i++) {
		meter_step(&m);
		concat_field(L, &b, i);
		if (lsep)
			lsb_charge_bytes(L, lsep);
		luaL_addlstring(&b, sep, lsep);
	}
	if (i == last)
		concat_field(L, &b, i);
	meter_done(&m);
	luaL_pushresult(&b);
	return 1;
}

int lmt_tbl_unpack(lua_State *L)
{
	lua_Integer i = luaL_optinteger(L, 2, 1);
	lua_Integer e = luaL_opt(L, luaL_checkinteger, 3, luaL_len(L, 1));
	if (i > e)
		return 0;
	lua_Unsigned n = (lua_Unsigned)e - (lua_Unsigned)i;
	if (n >= (unsigned int)INT_MAX)
		return luaL_error(L, "too many results to unpack");
	n++;
	lsb_charge(L, (int64_t)n);
	if (!lua_checkstack(L, (int)n))
		return luaL_error(L, "too many results to unpack");
	for (; i < e; i++)
		lua_geti(L, 1, i);
	lua_geti(L, 1, e);
	return (int)n;
}

int lmt_tbl_pack(lua_State *L)
{
	lsb_charge(L, lua_gettop(L));
	return call_wrapped(L);
}

/* Sorting: a heap sort, in place through lua_geti/lua_seti, n log n
 * comparisons whatever the order function answers (an inconsistent one
 * gives some order, never a loop). Each comparison is charged. */
struct sorter {
	struct meter m;
	bool by_function;
};

/* Whether t[a] < t[b]. */
static bool sort_less(struct sorter *s, lua_Integer a, lua_Integer b)
{
	lua_State *L = s->m.L;
	meter_step(&s->m);
	bool less;
	if (s->by_function) {
		lua_pushvalue(L, 2);
		lua_geti(L, 1, a);
		lua_geti(L, 1, b);
		lua_call(L, 2, 1);
		less = lua_toboolean(L, -1);
		lua_pop(L, 1);
	} else {
		lua_geti(L, 1, a);
		lua_geti(L, 1, b);
		less = lua_compare(L, -2, -1, LUA_OPLT);
		lua_pop(L, 2);
	}
	return less;
}

static void sort_swap(lua_State *L, lua_Integer a, lua_Integer b)
{
	lua_geti(L, 1, a);
	lua_geti(L, 1, b);
	lua_seti(L, 1, a);
	lua_seti(L, 1, b);
}

static void sift_down(struct sorter *s, lua_Integer root, lua_Integer end)
{
	for (;;) {
		lua_Integer child = root * 2;
		if (child > end)
			return;
		lua_Integer top = root;
		if (sort_less(s, top, child))
			top = child;
		if (child + 1 <= end && sort_less(s, top, child + 1))
			top = child + 1;
		if (top == root)
			return;
		sort_swap(s->m.L, root, top);
		root = top;
	}
}

int lmt_tbl_sort(lua_State *L)
{
	lua_Integer n = length_of(L, 1, TAB_RW);
	if (n > 1) {
		luaL_argcheck(L, n < INT_MAX, 1, "array too big");
		if (!lua_isnoneornil(L, 2))
			luaL_checktype(L, 2, LUA_TFUNCTION);
		lua_settop(L, 2);
		struct sorter s = {{L, 0}, !lua_isnil(L, 2)};
		for (lua_Integer start = n / 2; start >= 1; start--)
			sift_down(&s, start, n);
		for (lua_Integer end = n; end > 1; end--) {
			sort_swap(L, 1, end);
			sift_down(&s, 1, end - 1);
		}
		meter_done(&s.m);
	}
	return 0;
}

/* ---------------------------------------------------------------- utf8 */

int lmt_utf8_char(lua_State *L)
{
	lsb_charge(L, lua_gettop(L));
	return call_wrapped(L);
}

int lmt_utf8_len(lua_State *L)
{
	size_t len;
	luaL_checklstring(L, 1, &len);
	lua_Integer i = utf8_position(luaL_optinteger(L, 2, 1), len);
	lua_Integer j = utf8_position(luaL_optinteger(L, 3, -1), len);
	if (j >= i)
		lsb_charge(L, (j - i + 1) / LSB_SCAN_BYTES_PER_UNIT + 1);
	return call_wrapped(L);
}

int lmt_utf8_codepoint(lua_State *L)
{
	size_t len;
	luaL_checklstring(L, 1, &len);
	lua_Integer i = utf8_position(luaL_optinteger(L, 2, 1), len);
	lua_Integer j = utf8_position(luaL_optinteger(L, 3, i), len);
	if (j >= i)
		lsb_charge(L, (j - i + 1 > (lua_Integer)len ? (lua_Integer)len : j - i + 1) + 1);
	return call_wrapped(L);
}

int lmt_utf8_offset(lua_State *L)
{
	size_t len;
	luaL_checklstring(L, 1, &len);
	lsb_charge(L, (int64_t)(len / LSB_SCAN_BYTES_PER_UNIT) + 1);
	return call_wrapped(L);
}

/* ---------------------------------------------------------------- base, os */

int lmt_tonumber(lua_State *L)
{
	if (lua_type(L, 1) == LUA_TSTRING)
		lsb_charge(L, (int64_t)(lua_rawlen(L, 1) / LSB_SCAN_BYTES_PER_UNIT) + 1);
	return call_wrapped(L);
}

int lmt_os_date(lua_State *L)
{
	if (lua_type(L, 1) == LUA_TSTRING)
		lsb_charge(L, (int64_t)lua_rawlen(L, 1) + 1);
	return call_wrapped(L);
}
