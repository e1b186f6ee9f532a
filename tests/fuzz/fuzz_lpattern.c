/* Fuzzes the metered pattern functions against Lua's own: for any
 * subject, pattern, replacement and initial position, string.find, match,
 * gmatch and gsub give the same results, or the same error message, in
 * the sandbox as in a plain Lua state.
 *
 * Input: byte 0 picks the function and the replacement kind, byte 1 the
 * initial position or the gsub limit; the rest is subject, pattern and
 * replacement split at the first two 0xff bytes. Patterns with more than
 * three quantifiers are skipped: Lua's own matcher has no meter, and
 * backtracking would make the reference take minutes. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <string.h>

#include "fz.h"
#include "lsandbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct lsandbox *sb;
static lua_State *stock;

static const char chunk[] =
	"local op, s, p, r, n = ...\n"
	"local function ser(ok, ...)\n"
	"  local t = {tostring(ok)}\n"
	"  for i = 1, select('#', ...) do local v = select(i, ...); t[#t + 1] = type(v) .. ':' .. tostring(v) end\n"
	"  return table.concat(t, '|')\n"
	"end\n"
	"local repls = {r, {a = 'A', b = false, c = 1}, function(a, b) return b or a end, function() return false end}\n"
	"return ser(pcall(function()\n"
	"  if op == 0 then return string.find(s, p, n) end\n"
	"  if op == 1 then return string.find(s, p, n, true) end\n"
	"  if op == 2 then return string.match(s, p, n) end\n"
	"  if op == 3 then\n"
	"    local out, k = {}, 0\n"
	"    for a, b in string.gmatch(s, p, n) do k = k + 1; out[k] = tostring(a) .. ',' .. tostring(b)\n"
	"      if k > 100 then break end end\n"
	"    return table.concat(out, ';')\n"
	"  end\n"
	"  return string.gsub(s, p, repls[op - 3], n >= 0 and n or nil)\n"
	"end))\n";

static int quantifiers(const char *p, size_t n)
{
	int q = 0;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '*' || p[i] == '+' || p[i] == '-' || p[i] == '?' || (p[i] == '%' && i + 1 < n && p[i + 1] == 'b'))
			q++;
	return q;
}

static void push_args(lua_State *L, int op, const char *s, size_t sl, const char *p, size_t pl, const char *r,
		      size_t rl, int n)
{
	lua_pushinteger(L, op);
	lua_pushlstring(L, s, sl);
	lua_pushlstring(L, p, pl);
	lua_pushlstring(L, r, rl);
	lua_pushinteger(L, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size > 600)
		return 0;
	if (!sb) {
		char err[200];
		sb = lsb_new(64 * 1024 * 1024, "fuzz", err, sizeof(err));
		stock = luaL_newstate();
		FZ_ASSERT(sb && stock);
		luaL_openlibs(stock);
	}
	int op = data[0] % 8;
	int n = (int)(int8_t)data[1];
	const char *s = (const char *)data + 2, *end = (const char *)data + size;
	const char *cut = memchr(s, 0xff, (size_t)(end - s));
	size_t sl = cut ? (size_t)(cut - s) : (size_t)(end - s);
	const char *p = cut ? cut + 1 : end;
	cut = memchr(p, 0xff, (size_t)(end - p));
	size_t pl = cut ? (size_t)(cut - p) : (size_t)(end - p);
	const char *r = cut ? cut + 1 : end;
	size_t rl = (size_t)(end - r);
	if (quantifiers(p, pl) > 3)
		return 0;

	if (luaL_loadbufferx(stock, chunk, sizeof(chunk) - 1, "=t", "t") != LUA_OK)
		abort();
	push_args(stock, op, s, sl, p, pl, r, rl, n);
	FZ_ASSERT(lua_pcall(stock, 5, 1, 0) == LUA_OK);
	size_t wl;
	const char *want = lua_tolstring(stock, -1, &wl);

	char err[300];
	struct lbudget b;
	lsb_budget_init(&b, (int64_t)1 << 40, 600000);
	lsb_push_env(sb);
	FZ_ASSERT(lsb_load(sb, chunk, sizeof(chunk) - 1, "t", -1, err, sizeof(err)) == 0);
	lua_remove(sb->L, -2);
	push_args(sb->L, op, s, sl, p, pl, r, rl, n);
	FZ_ASSERT(lsb_call(sb, 5, 1, &b, err, sizeof(err)) == 0);
	size_t gl;
	const char *got = lua_tolstring(sb->L, -1, &gl);
	if (wl != gl || memcmp(want, got, wl) != 0) {
		fprintf(stderr, "lua:     %.*s\nsandbox: %.*s\n", (int)wl, want, (int)gl, got);
		FZ_ASSERT(!"the sandbox's pattern functions answer as Lua's");
	}
	lua_pop(stock, 1);
	lua_pop(sb->L, 1);
	lua_gc(sb->L, LUA_GCSTEP, 0);
	return 0;
}
