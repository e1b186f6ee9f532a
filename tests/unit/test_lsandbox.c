/* Escape and limit tests for the Lua sandbox (after Redis's "Prohibit
 * dangerous lua methods" and "Try trick global protection"): every way out
 * must fail cleanly, every runaway must be stopped, and the state must
 * stay usable afterwards. */
#include <lauxlib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lsandbox.h"

static struct lsandbox *sb;

/* Runs CODE in a fresh environment on the main thread within INSTRUCTIONS
 * and MS; returns 0 and puts the first result (as string) in out, or -1
 * with the error in out. */
static int run_within(const char *code, int64_t instructions, int64_t ms, char *out, size_t outlen)
{
	char err[512];
	struct lbudget b;
	lsb_budget_init(&b, instructions, ms);
	lsb_push_env(sb);
	if (lsb_load(sb, code, strlen(code), "test.lua", -1, err, sizeof(err)) != 0) {
		lua_pop(sb->L, 1);
		snprintf(out, outlen, "%s", err);
		return -1;
	}
	lua_remove(sb->L, -2);
	if (lsb_call(sb, 0, 1, &b, err, sizeof(err)) != 0) {
		snprintf(out, outlen, "%s", err);
		lua_gc(sb->L, LUA_GCCOLLECT);
		return -1;
	}
	const char *s = luaL_tolstring(sb->L, -1, NULL);
	snprintf(out, outlen, "%s", s ? s : "");
	lua_pop(sb->L, 2);
	return 0;
}

static int run(const char *code, char *out, size_t outlen)
{
	return run_within(code, 20 * 1000 * 1000, 5000, out, outlen);
}

/* Work done in C by library functions, and by single instructions over
 * long values. Each must be stopped by the deadline alone (an instruction
 * budget that never runs out, 100 ms) and, where the work is the library
 * function's, by the instruction budget alone (a deadline that never
 * comes in this test's lifetime): a function that did its work unseen
 * would run for minutes and fail by ctest's timeout. */
struct c_work {
	const char *code;
	bool charged;           /* the library charges it: the instruction budget stops it too */
};

static const struct c_work c_work[] = {
	/* patterns of every kind */
	{"return string.rep('(', 1000000):match('%b()')", true},
	{"for _ in string.rep('(', 1000000):gmatch('%b()') do end", true},
	{"return string.rep('(', 1000000):find('%b()')", true},
	{"return (string.rep('(', 1000000):gsub('%b()', ''))", true},
	{"return ('a'):rep(100000):match('.-.-.-b')", true},
	{"return ('a'):rep(2^22):find('.-%f[b]')", true},
	{"return ('a'):rep(2^20):find('(a*)%1b')", true},
	{"local s = ('a'):rep(2^22) while true do s = s:gsub('a', 'c') s = s:gsub('c', 'a') end", true},
	{"local s = ('a'):rep(2^20) while true do s = s:gsub('a', '%0') end", true},
	{"local s = ('a'):rep(2^20) while true do s = s:gsub('a', {}) end", true},
	{"return ('a'):rep(2^22):find(('a'):rep(2^20) .. 'b', 1, true)", true},
	{"for _ in ('a'):rep(2^22):gmatch('') do end", true},
	/* string */
	{"local s = ('x'):rep(2^22) while true do local _ = s:upper() end", true},
	{"local s = ('x'):rep(2^22) while true do local _ = s:reverse() end", true},
	{"local s = ('x'):rep(2^22) while true do local _ = string.format('%s', s) end", true},
	{"local s = ('x'):rep(2^20) while true do local _ = string.format('%q', s) end", true},
	{"local s = ('x'):rep(2^20) while true do local _ = s:sub(2) end", true},
	{"local s = ('x'):rep(2^19) while true do local _ = s:byte(1, -1) end", true},
	{"local t = {} for i = 1, 2^16 do t[i] = 65 end while true do local _ = string.char(table.unpack(t)) end", true},
	{"local s = ('x'):rep(2^20) while true do local _ = string.pack('s4', s) end", true},
	{"local s = ('9'):rep(2^20) while true do local _ = tonumber(s) end", true},
	{"local f = ('%c'):rep(1000) while true do local _ = os.date(f) end", true},
	{"local src = 'return ' .. ('1 + '):rep(2^16) .. '1' while true do load(src) end", true},
	/* table */
	{"local t = {} for i = 1, 1e5 do t[i] = 'abcdefgh' end while true do local _ = table.concat(t, ',') end", true},
	{"local t = {} for i = 1, 1e5 do t[i] = 1e5 - i end while true do table.sort(t) end", true},
	{"local t = {} for i = 1, 1e5 do t[i] = i end while true do table.sort(t, function(a, b) return a > b end) end",
	 true},
	{"local t = {} for i = 1, 2e5 do t[i] = i end while true do local _ = select('#', table.unpack(t)) end", true},
	{"local t = {} for i = 1, 2e5 do t[i] = i end while true do local _ = table.pack(table.unpack(t)) end", true},
	{"return table.move({1}, 1, 2^53, 2)", true},
	{"table.insert(setmetatable({}, {__len = function() return 2^53 end}), 1, 'x')", true},
	{"table.remove(setmetatable({}, {__len = function() return 2^53 end}), 1)", true},
	{"return table.concat(setmetatable({}, {__len = function() return 2^53 end, __index = function() return 'x' end}))",
	 true},
	{"local t = {} for i = 1, 1e5 do t[i] = i end while true do table.insert(t, 1, 0) table.remove(t, 1) end", true},
	/* utf8 */
	{"local s = ('\xc3\xa9'):rep(2^20) while true do local _ = utf8.len(s) end", true},
	{"local s = ('x'):rep(2^19) while true do local _ = utf8.codepoint(s, 1, -1) end", true},
	{"local s = ('x'):rep(2^22) while true do local _ = utf8.offset(s, -1) end", true},
	{"local t = {} for i = 1, 2^16 do t[i] = 233 end while true do local _ = utf8.char(table.unpack(t)) end", true},
	/* print of many values: converted up to a log line only */
	{"local t = {} for i = 1, 2e5 do t[i] = i end while true do print(table.unpack(t)) end", true},
	/* coroutines carrying many values */
	{"local co = coroutine.wrap(function() while true do coroutine.yield() end end)"
	 " local t = {} for i = 1, 1e5 do t[i] = i end while true do co(table.unpack(t)) end", true},
	/* single instructions over long values: the deadline only */
	{"local s, t = ('x'):rep(2^22), ('x'):rep(2^22) while true do local _ = (s == t) end", false},
	{"local s, t = ('x'):rep(2^22), ('x'):rep(2^22) while true do local _ = (s < t) end", false},
	{"local s = ('x'):rep(2^22) while true do local _ = s .. 'y' end", true},
	{"local t = {} for i = 1, 2e5 do t[i] = i end local function f(...) return ... end"
	 " while true do f(table.unpack(t)) end", true},
	{NULL, false},
};

static void expect_bounded(void)
{
	char out[512];
	for (const struct c_work *w = c_work; w->code; w++) {
		int rc = run_within(w->code, INT64_MAX / 4, 100, out, sizeof(out));
		CHECK_MSG(rc == -1 && strstr(out, "time limit exceeded"), "[%s] within 100 ms: %s", w->code, out);
		if (!w->charged)
			continue;
		rc = run_within(w->code, 10 * 1000 * 1000, 600 * 1000, out, sizeof(out));
		CHECK_MSG(rc == -1 && strstr(out, "instruction limit exceeded"),
		      "[%s] within 10 million units: %s", w->code, out);
	}
}

static void expect_error(const char *code, const char *needle)
{
	char out[512];
	int rc = run(code, out, sizeof(out));
	CHECK_MSG(rc == -1, "expected an error from [%s], got result '%s'", code, out);
	if (rc == -1 && needle)
		CHECK_MSG(strstr(out, needle) != NULL, "error of [%s] is '%s', expected '%s'", code, out, needle);
}

static void expect_result(const char *code, const char *want)
{
	char out[512];
	int rc = run(code, out, sizeof(out));
	CHECK_MSG(rc == 0 && strcmp(out, want) == 0, "[%s] gave %s '%s', expected '%s'", code,
	      rc == 0 ? "result" : "error", out, want);
}

/* A core function: yields with the tag and returns what the scheduler
 * resumes it with. */
static int core_wait(lua_State *L)
{
	lua_Integer v = luaL_checkinteger(L, 1);
	lsb_push_core_tag(L);
	lua_pushinteger(L, v);
	return lua_yield(L, 2);
}

/* Runs CODE as a request would, within INSTRUCTIONS and MS: in a
 * coroutine, answering each core yield with its argument * 10 (like a
 * database answering). Returns 0 with the result or -1 with the error. */
static int run_request_within(const char *code, int64_t instructions, int64_t ms, char *out, size_t outlen,
			      int *core_calls)
{
	char err[512];
	struct lbudget b;
	lua_State *L = sb->L;
	lsb_budget_init(&b, instructions, ms);
	lua_State *co = lua_newthread(L);
	int ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lsb_push_env(sb);
	if (lsb_load(sb, code, strlen(code), "request.lua", -1, err, sizeof(err)) != 0) {
		lua_pop(L, 1);
		luaL_unref(L, LUA_REGISTRYINDEX, ref);
		snprintf(out, outlen, "%s", err);
		return -1;
	}
	lua_remove(L, -2);
	lua_xmove(L, co, 1);
	int nres = 0, nargs = 0, rc;
	*core_calls = 0;
	for (;;) {
		int st = lsb_resume(sb, co, nargs, &nres, &b);
		if (st == LUA_YIELD && lsb_core_yield(co, nres)) {
			lua_Integer v = lua_tointeger(co, -nres + 1);
			lua_pop(co, nres);
			lua_pushinteger(co, v * 10);
			nargs = 1;
			(*core_calls)++;
			continue;
		}
		if (st == LUA_OK) {
			const char *s = nres > 0 ? luaL_tolstring(co, -nres, NULL) : "";
			snprintf(out, outlen, "%s", s ? s : "");
			rc = 0;
		} else if (st == LUA_YIELD) {
			snprintf(out, outlen, "stray yield");
			rc = -1;
		} else {
			const char *m = b.killed ? b.why : lua_tostring(co, -1);
			snprintf(out, outlen, "%s", m ? m : "?");
			rc = -1;
		}
		break;
	}
	luaL_unref(L, LUA_REGISTRYINDEX, ref);
	lua_gc(L, LUA_GCCOLLECT);
	return rc;
}

static int run_request(const char *code, char *out, size_t outlen, int *core_calls)
{
	return run_request_within(code, 20 * 1000 * 1000, 5000, out, outlen, core_calls);
}

int main(void)
{
	char err[256], out[512];
	sb = lsb_new(32 * 1024 * 1024, "test", err, sizeof(err));
	if (!sb) {
		fprintf(stderr, "lsb_new: %s\n", err);
		return 1;
	}
	lua_pushcfunction(sb->L, core_wait);
	lsb_expose(sb, "core_wait");

	/* What works. */
	expect_result("return 1 + 1", "2");
	expect_result("return ('abc'):upper()", "ABC");
	expect_result("return string.format('%d-%s', 4, 'x')", "4-x");
	expect_result("local t = {3, 1, 2}; table.sort(t); return table.concat(t, ',')", "1,2,3");
	expect_result("x = 5; return x", "5");
	expect_result("local ok, e = pcall(error, 'boom'); return tostring(ok) .. ' ' .. e", "false boom");
	expect_result("return select('#', pcall(function() return 1, 2 end))", "3");
	expect_result("return type(os.time())", "number");
	expect_result("local f = load('return 40 + 2'); return f()", "42");
	expect_result("local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1); return b * 2 end);"
		      " return co(1) + co(10)", "22");
	expect_result("return ('a,b,c'):gsub(',', ';')", "a;b;c");
	expect_result("return ('  trim me  '):match('^%s*(.-)%s*$')", "trim me");

	/* Escapes: each fails cleanly. */
	expect_error("return io.open('/etc/passwd')", "undeclared global 'io'");
	expect_error("return os.execute('true')", "execute");
	expect_error("return os.getenv('HOME')", "getenv");
	expect_error("return debug.getinfo(1)", "undeclared global 'debug'");
	expect_error("return require('os')", "undeclared global 'require'");
	expect_error("return dofile('/etc/passwd')", "undeclared global 'dofile'");
	expect_error("return loadfile('/etc/passwd')", "undeclared global 'loadfile'");
	expect_result("local f, e = load('\\27Lua\\x54\\0'); return tostring(f) .. ' ' .. tostring(e)",
		      "nil attempt to load a binary chunk (mode is 't')");
	expect_result("local f, e = load('return 1', 'x', 'b'); return tostring(f) .. ' ' .. e",
		      "nil only text chunks can be loaded");
	expect_error("return string.dump(function() end)", "dump");
	expect_error("setmetatable(_ENV, {})", "protected metatable");
	expect_error("rawset(_ENV, 'x', 1)", "undeclared global 'rawset'");
	expect_error("string.upper = function() return 'pwned' end", "read-only");
	expect_error("setmetatable(string, {})", "protected metatable");
	expect_error("local mt = getmetatable(''); mt.__index = {}", "index");
	expect_result("return tostring(getmetatable(''))", "false");
	expect_result("return ('x'):upper()", "X");
	expect_error("collectgarbage()", "undeclared global 'collectgarbage'");
	expect_error("coroutine.close(coroutine.create(print))", "close");
	expect_error("return _G", "undeclared global '_G'");
	expect_error("return undefined_name", "undeclared global 'undefined_name'");
	expect_result("local f = load('secret = 1'); f(); return tostring(rawget(_ENV, 'secret'))", "nil");

	/* Another environment (another plugin) never sees this one's globals. */
	expect_result("shared_name = 'mine'; return shared_name", "mine");
	expect_error("return shared_name", "undeclared global 'shared_name'");

	/* Limits: each is stopped, and the state keeps working after it. */
	expect_error("while true do end", "instruction limit exceeded");
	/* ... and where: hooks and jobs run this way, their log names the line. */
	expect_error("local n = 0\nwhile true do n = n + 1 end", "test.lua:2: instruction limit exceeded");
	expect_error("while true do pcall(function() while true do end end) end", "instruction limit exceeded");
	expect_error("for i = 1, 10 do pcall(pcall, pcall, function() while true do end end) end",
		     "instruction limit exceeded");
	expect_error("local co = coroutine.wrap(function() while true do end end); co()",
		     "instruction limit exceeded");
	expect_error("local co = coroutine.create(function() while true do end end);"
		     " local ok, e = coroutine.resume(co); return 'swallowed: ' .. tostring(e)",
		     "instruction limit exceeded");
	expect_error("xpcall(function() while true do end end, function() while true do end end)",
		     "instruction limit exceeded");
	expect_error("local t = {} while true do t[#t + 1] = {1, 2, 3, 4} end", "memory limit exceeded");
	expect_error("local s = 'x' while true do s = s .. s end", "memory limit exceeded");
	expect_error("local ok = pcall(function() local s = 'x' while true do s = s .. s end end);"
		     " local t = {} for i = 1, 1e6 do t[i] = i end return 'survived'",
		     "memory limit exceeded");
	expect_error("return ('a'):rep(1e9)", "over the limit");
	expect_error("return ('a'):rep(2000):find('.-.-.-b')", "instruction limit exceeded");
	expect_error("return string.rep('ab', 1e8, ',')", "over the limit");
	expect_error("return (('a'):rep(24)):find(('a?'):rep(24) .. ('a'):rep(24))", "instruction limit exceeded");
	expect_error("setmetatable({}, {__gc = function() while true do end end})", "finalizers (__gc) are not available");
	expect_error("setmetatable({}, {__gc = false})", "finalizers");
	expect_result("return getmetatable(setmetatable({}, {__index = {x = 1}})).__index.x", "1");
	expect_result("return 'still alive'", "still alive");
	CHECK_MSG(sb->mem_used < 8 * 1024 * 1024, "memory after the bombs: %zu bytes", sb->mem_used);

	RUN(expect_bounded());
	/* print built its line with a value pushed above the buffer, so a line
	 * that outgrew the buffer's first block was written through freed
	 * memory (ASan: heap-use-after-free). */
	expect_result("local t = {} for i = 1, 40 do t[i] = ('x'):rep(900) end print(table.unpack(t)) return 'printed'",
		      "printed");
	/* Repeating nothing is nothing, at once (Lua's own copies nothing 2^50 times). */
	expect_result("return #string.rep('', 2^50) + #string.rep('', 2^50, '')", "0");
	/* The length is asked once: a __len that answers 1 to a check and 2^53
	 * afterwards gets the work of 1. */
	expect_result("local n = 0 local t = setmetatable({}, {__len = function() n = n + 1 return n == 1 and 1 or 2^53 end})"
		      " table.insert(t, 1, 'x') return n .. rawget(t, 1)", "1x");
	expect_result("return 'still alive'", "still alive");

	/* Core yields travel through the plugin's own coroutines. */
	int calls;
	int rc = run_request("return core_wait(4) + 2", out, sizeof(out), &calls);
	CHECK_MSG(rc == 0 && strcmp(out, "42") == 0 && calls == 1, "direct core call: %d %s", rc, out);
	rc = run_request("local co = coroutine.wrap(function() return core_wait(1) + core_wait(2) end);"
			 " return co()", out, sizeof(out), &calls);
	CHECK_MSG(rc == 0 && strcmp(out, "30") == 0 && calls == 2, "core call in wrap: %d %s", rc, out);
	rc = run_request("local co = coroutine.create(function(a) local x = core_wait(a); local y = coroutine.yield(x);"
			 " return y + core_wait(3) end);"
			 " local ok1, v1 = coroutine.resume(co, 5); local ok2, v2 = coroutine.resume(co, v1 + 1);"
			 " return tostring(ok1) .. v1 .. tostring(ok2) .. v2", out, sizeof(out), &calls);
	CHECK_MSG(rc == 0 && strcmp(out, "true50true81") == 0 && calls == 2, "core call in resume: %d %s", rc, out);
	rc = run_request("local ok, v = pcall(core_wait, 7); return v", out, sizeof(out), &calls);
	CHECK_MSG(rc == 0 && strcmp(out, "70") == 0, "core call inside pcall: %d %s", rc, out);
	rc = run_request("local co = coroutine.wrap(function() return coroutine.wrap(function() return core_wait(9) end)() end);"
			 " return co()", out, sizeof(out), &calls);
	CHECK_MSG(rc == 0 && strcmp(out, "90") == 0, "nested coroutines: %d %s", rc, out);

	/* A yield across a C boundary fails with a clear error. */
	rc = run_request("local t = {3, 2, 1}; table.sort(t, function(a, b) core_wait(1) return a < b end)",
			 out, sizeof(out), &calls);
	CHECK_MSG(rc == -1 && strstr(out, "yield across a C-call boundary"), "yield in sort: %d %s", rc, out);
	rc = run_request("return (('abc'):gsub('.', function(c) return core_wait(1) end))", out, sizeof(out), &calls);
	CHECK_MSG(rc == -1 && strstr(out, "yield across a C-call boundary"), "yield in gsub: %d %s", rc, out);
	rc = run_request("local t = setmetatable({}, {__tostring = function() core_wait(1) return 'x' end});"
			 " return tostring(t)", out, sizeof(out), &calls);
	CHECK_MSG(rc == -1 && strstr(out, "yield across a C-call boundary"), "yield in __tostring: %d %s", rc, out);
	rc = run_request("coroutine.yield(1)", out, sizeof(out), &calls);
	CHECK_MSG(rc == -1 && strstr(out, "stray yield"), "stray yield: %d %s", rc, out);
	/* Each limit holds across yields, shown one at a time: which of the
	 * two a loop meets first with both set depends on the machine's speed. */
	rc = run_request_within("local n = 0; while true do n = n + core_wait(1) end", 100 * 1000, 600 * 1000, out,
				sizeof(out), &calls);
	CHECK_MSG(rc == -1 && strstr(out, "instruction limit exceeded") && calls > 1, "instructions across yields: %d %s",
		  rc, out);
	rc = run_request_within("local n = 0; while true do n = n + core_wait(1) end", INT64_MAX / 4, 100, out,
				sizeof(out), &calls);
	CHECK_MSG(rc == -1 && strstr(out, "time limit exceeded") && calls > 1, "deadline across yields: %d %s", rc, out);
	rc = run_request("local co = coroutine.wrap(function() while true do end end);"
			 " local ok = pcall(co); return 'swallowed'", out, sizeof(out), &calls);
	CHECK_MSG(rc == -1 && strstr(out, "instruction limit exceeded"), "kill in coroutine under pcall: %d %s", rc, out);

	expect_result("return 'still alive'", "still alive");
	lsb_free(sb);
	return check_exit("test_lsandbox");
}
