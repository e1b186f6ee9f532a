/* The metered pattern functions give what Lua's own give: every pattern
 * item, capture kind, anchor, initial position, replacement kind and
 * error, over subjects with and without NULs, compared with a plain Lua
 * state's string library, result by result and message by message. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lsandbox.h"

/* Both states run the same chunk: it serializes what the call gave, or
 * the error it raised. */
static const char prelude[] =
	"local function ser(ok, ...)\n"
	"  local t = {tostring(ok)}\n"
	"  for i = 1, select('#', ...) do local v = select(i, ...); t[#t + 1] = type(v) .. ':' .. tostring(v) end\n"
	"  return table.concat(t, '|')\n"
	"end\n"
	"local function all(it, s, c)\n"
	"  local r = {}\n"
	"  for a, b, d in it, s, c do r[#r + 1] = tostring(a) .. ',' .. tostring(b) .. ',' .. tostring(d)\n"
	"    if #r > 200 then break end end\n"
	"  return table.concat(r, ';')\n"
	"end\n"
	"return ser(pcall(function() return ";
static const char postlude[] = " end))\n";

static struct lsandbox *sb;
static lua_State *stock;

static void run_stock(const char *code, char *out, size_t outlen)
{
	if (luaL_loadbufferx(stock, code, strlen(code), "=t", "t") != LUA_OK || lua_pcall(stock, 0, 1, 0) != LUA_OK) {
		snprintf(out, outlen, "chunk error: %s", lua_tostring(stock, -1));
		lua_pop(stock, 1);
		return;
	}
	snprintf(out, outlen, "%s", lua_tostring(stock, -1));
	lua_pop(stock, 1);
}

static void run_sandbox(const char *code, char *out, size_t outlen)
{
	char err[512];
	struct lbudget b;
	lsb_budget_init(&b, 100 * 1000 * 1000, 60000);
	lsb_push_env(sb);
	if (lsb_load(sb, code, strlen(code), "t", -1, err, sizeof(err)) != 0) {
		lua_pop(sb->L, 1);
		snprintf(out, outlen, "chunk error: %s", err);
		return;
	}
	lua_remove(sb->L, -2);
	if (lsb_call(sb, 0, 1, &b, err, sizeof(err)) != 0) {
		snprintf(out, outlen, "chunk error: %s", err);
		return;
	}
	snprintf(out, outlen, "%s", lua_tostring(sb->L, -1));
	lua_pop(sb->L, 1);
}

static void compare(const char *expr)
{
	static char code[4096], want[8192], got[8192];
	snprintf(code, sizeof(code), "%s%s%s", prelude, expr, postlude);
	run_stock(code, want, sizeof(want));
	run_sandbox(code, got, sizeof(got));
	CHECK_MSG(strcmp(want, got) == 0 && strncmp(want, "chunk error", 11) != 0, "differs: %s\n  lua:     %s\n  sandbox: %s",
		  expr, want, got);
}

static const char *const subjects[] = {
	"''", "'hello world'", "'  trim me  '", "'a,b,,c'", "'(foo(bar))baz'", "'THE (quick) fox 42.5'",
	"'\\0a\\0b\\0'", "'aaa'", "'x = 1, y = 22; z=-3'", "'\\xc3\\xa9t\\xc3\\xa9'", NULL,
};

static const char *const patterns[] = {
	"''", "'o'", "'l+'", "'l*'", "'l-'", "'l?'", "'^h'", "'d$'", "'$'", "'^'", "'^$'", "'(h)(e)'",
	"'()ll()'", "'()'", "'%a+'", "'%A+'", "'[%a_][%w_]*'", "'[^,]*'", "'%b()'", "'%b)('", "'%f[%w]%w+'",
	"'%f[%W]'", "'%f[%z]'", "'(%w+) (%w+)'", "'(l)%1'", "'(a)%1'", "'.-'", "'.-b'", "'[a-c]+'", "'[]]'",
	"'[^]]+'", "'[%]]'", "'[a-]'", "'[-a]'", "'[%a-z]'", "'(a*(.)%w(%s*))'", "'%d+%.?%d*'", "'[+-]?%d+'",
	"'%x'", "'%c'", "'%p+'", "'%u'", "'%l+'", "'%g+'", "'%s+'", "'%S+'", "'[%S]+'", "'%$'", "'%.'",
	"'\\0'", "'%z'", "'[\\0-a]+'", "'(%w+)=(%w+)'", "'%s*(%S+)%s*'", "'^%s*(.-)%s*$'", "'..'", "'.'",
	"'(.)(.)'", "'%w-x'", "'[%d%.]+'", "'%-'", "'a?a?a?aaa'",
	/* errors */
	"'%'", "'[a'", "'[^'", "'(()'", "'%1'", "'(a)%2'", "'%b'", "'%ba'", "'%f'", "'%fx'", "'a)'",
	"'((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))'", "'(()'", "'[%'",
	NULL,
};

static const char *const inits[] = {"", ", 1", ", 3", ", -2", ", 100", ", -100", ", 0", ", 1.0", ", '2'", NULL};

static const char *const replacements[] = {
	"'<%0>'", "'%1-%1'", "'%%'", "'%2'", "'%'", "'%x'", "'x'", "{h = 'H', l = false, o = 1}",
	"function(a) return a:upper() end", "function() return false end", "function() return {} end", "1",
	"'%1'", "{}", "'%0%0'", NULL,
};

static const char *const limits[] = {"", ", 1", ", 0", ", -1", ", 2.0", NULL};

int main(void)
{
	char err[256], expr[1024];
	sb = lsb_new(64 * 1024 * 1024, "test", err, sizeof(err));
	stock = luaL_newstate();
	if (!sb || !stock) {
		fprintf(stderr, "cannot make the states: %s\n", err);
		return 1;
	}
	luaL_openlibs(stock);

	for (const char *const *s = subjects; *s; s++) {
		for (const char *const *p = patterns; *p; p++) {
			for (const char *const *i = inits; *i; i++) {
				snprintf(expr, sizeof(expr), "string.find(%s, %s%s)", *s, *p, *i);
				compare(expr);
				snprintf(expr, sizeof(expr), "string.match(%s, %s%s)", *s, *p, *i);
				compare(expr);
				snprintf(expr, sizeof(expr), "all(string.gmatch(%s, %s%s))", *s, *p, *i);
				compare(expr);
			}
			snprintf(expr, sizeof(expr), "string.find(%s, %s, 1, true)", *s, *p);
			compare(expr);
			snprintf(expr, sizeof(expr), "string.find(%s, %s, 2, 1)", *s, *p);
			compare(expr);
			for (const char *const *r = replacements; *r; r++) {
				for (const char *const *l = limits; *l; l++) {
					snprintf(expr, sizeof(expr), "string.gsub(%s, %s, %s%s)", *s, *p, *r, *l);
					compare(expr);
				}
			}
		}
	}
	/* Arguments of the wrong kind, and methods on strings. */
	const char *const odd[] = {
		"string.find()", "string.find('a')", "string.find(nil, 'a')", "string.find({}, 'a')",
		"string.find(123, 2)", "string.match('abc', 'b', 'x')", "string.gsub('abc', 'b')",
		"string.gsub('abc', 'b', true)", "string.gsub('abc', 'b', 'x', 'y')", "string.gmatch('abc')",
		"('abc'):find('b')", "('a.b'):gsub('%.', '%%')", "('abc'):gsub('', '-')", "('abc'):gsub('x*', '-')",
		"('hello'):gsub('l', {l = 1.5})", "('abc'):gsub('%w', '%1')", "('abc'):gsub('(%w)', '%2')",
		"('abc'):match('()b()')", "('abc'):gsub('()', '%1')", "('abc'):gsub('()', function(p) return p end)",
		"all(('key=val, k2=v2'):gmatch('(%w+)=(%w+)'))", "all(('abc'):gmatch('', 2))", "all(('abc'):gmatch('.', -1))",
		"all(('abc'):gmatch('.', 10))", "all(('abc'):gmatch('()'))", "all(('aaa'):gmatch('a*'))",
		"string.find('abc', 'b', math.maxinteger)", "string.find('abc', 'b', math.mininteger)",
		"string.gsub('abc', '.', 'x', math.maxinteger)", "string.gsub('abc', '.', 'x', math.mininteger)",
		"string.find(('a'):rep(300), ('a?'):rep(10) .. ('a'):rep(10))", "string.match(('x'):rep(50), ('(x)'):rep(32))",
		"string.match('x', ('(x)'):rep(33))", "string.rep('ab', 3, ',')",
		NULL,
	};
	for (const char *const *o = odd; *o; o++)
		compare(*o);

	lsb_free(sb);
	lua_close(stock);
	return check_exit("test_lpattern");
}
