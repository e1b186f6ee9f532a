/* JSON to Lua in one pass (ljson_decode) gives what jansson's parse and
 * ljson_push give: escapes, \u with surrogate pairs, numbers, nesting,
 * null as nil, *_html strings as safe HTML; malformed text raises. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ljson.h"
#include "template.h"

static json_t *strip_nulls(json_t *j)
{
	if (json_is_object(j)) {
		const char *k;
		json_t *v;
		void *tmp;
		json_object_foreach_safe(j, tmp, k, v) {
			if (json_is_null(v))
				json_object_del(j, k);
			else
				strip_nulls(v);
		}
	} else if (json_is_array(j)) {
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v) strip_nulls(v);
	}
	return j;
}

static int decode(lua_State *L)
{
	size_t n;
	const char *s = lua_tolstring(L, 1, &n);
	ljson_decode(L, s, n, true);
	return 1;
}

/* Decodes TEXT and encodes it back: equal to jansson's reading of it. */
static void same(lua_State *L, const char *text)
{
	lua_pushcfunction(L, decode);
	lua_pushstring(L, text);
	int st = lua_pcall(L, 1, 1, 0);
	CHECK_MSG(st == LUA_OK, "%s: %s", text, st == LUA_OK ? "" : lua_tostring(L, -1));
	if (st != LUA_OK) {
		lua_pop(L, 1);
		return;
	}
	char err[200];
	json_t *back = ljson_from_lua(L, -1, 0, err, sizeof(err));
	json_t *want = strip_nulls(json_loads(text, JSON_DECODE_ANY, NULL));
	CHECK_MSG(back && want && json_equal(back, want), "%s: differs", text);
	json_decref(back);
	json_decref(want);
	lua_pop(L, 1);
}

static void bad(lua_State *L, const char *text)
{
	lua_pushcfunction(L, decode);
	lua_pushstring(L, text);
	CHECK_MSG(lua_pcall(L, 1, 1, 0) != LUA_OK, "%s: accepted", text);
	lua_pop(L, 1);
}

/* An allocator that refuses any one block over 64 KiB, as a state at its
 * memory cap does. */
static void *small_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	(void)ud;
	(void)osize;
	if (nsize == 0) {
		free(ptr);
		return NULL;
	}
	return nsize > 64 * 1024 ? NULL : realloc(ptr, nsize);
}

/* box(n): a JSON document of N bytes of text boxed by ljson_dump_box; its
 * text's length. */
static int box(lua_State *L)
{
	size_t n = (size_t)luaL_checkinteger(L, 1);
	char *s = malloc(n + 1);
	memset(s, 'x', n);
	s[n] = '\0';
	json_t *j = json_pack("{s:s}", "text", s);
	free(s);
	size_t len;
	char *text = ljson_dump_box(L, j, JSON_COMPACT, &len);
	lua_pushinteger(L, text ? (lua_Integer)len : -1);
	return 1;
}

/* The box holds the text; when the state cannot allocate it, the error is
 * raised and the document is released all the same (LeakSanitizer would
 * tell). */
static void test_dump_box(void)
{
	lua_State *L = lua_newstate(small_alloc, NULL);
	lua_pushcfunction(L, box);
	lua_pushinteger(L, 100);
	CHECK(lua_pcall(L, 1, 1, 0) == LUA_OK);
	CHECK_INT_EQ(lua_tointeger(L, -1), 111);   /* {"text":"x…"}: 9 + 100 + 2 */
	lua_settop(L, 0);
	lua_pushcfunction(L, box);
	lua_pushinteger(L, 100000);
	CHECK_INT_EQ(lua_pcall(L, 1, 1, 0), LUA_ERRMEM);
	lua_close(L);
}

int main(void)
{
	lua_State *L = luaL_newstate();
	same(L, "{\"body\": {\"items\": [1, 2.5, -3, 1e3, true, false], \"next_cursor\": null}, \"status\": 200}");
	same(L, "{\"a\": \"tab\\there \\\"quoted\\\" back\\\\slash \\/ \\n\\r\\b\\f\"}");
	same(L, "{\"u\": \"\\u00e9\\u20ac \\ud83d\\ude00 caf\u00e9\"}");
	same(L, "[[[[{\"deep\": [\"x\"]}]]]]");
	same(L, "{}");
	same(L, "\"alone\"");
	same(L, "9223372036854775807");
	same(L, "{\"big\": 1.5e300, \"small\": -2.5E-3}");
	/* An empty array is an empty table (Lua does not tell them apart). */
	lua_pushcfunction(L, decode);
	lua_pushstring(L, "{\"items\": []}");
	CHECK(lua_pcall(L, 1, 1, 0) == LUA_OK);
	lua_getfield(L, -1, "items");
	CHECK(lua_istable(L, -1) && lua_rawlen(L, -1) == 0);
	lua_settop(L, 0);
	/* *_html strings become safe HTML; other strings stay strings. */
	lua_pushcfunction(L, decode);
	lua_pushstring(L, "{\"body_html\": \"<p>x</p>\", \"body\": \"<p>x</p>\", \"n\": {\"x_html\": \"<b>\"}}");
	CHECK(lua_pcall(L, 1, 1, 0) == LUA_OK);
	size_t len;
	lua_getfield(L, -1, "body_html");
	CHECK(tmpl_to_safehtml(L, -1, &len) != NULL && len == 8);
	lua_getfield(L, -2, "body");
	CHECK(tmpl_to_safehtml(L, -1, &len) == NULL && lua_type(L, -1) == LUA_TSTRING);
	lua_getfield(L, -3, "n");
	lua_getfield(L, -1, "x_html");
	CHECK(tmpl_to_safehtml(L, -1, &len) != NULL);
	lua_settop(L, 0);
	/* The strings of an object under a *_html key (a record's
	 * fields_html) are safe HTML by whatever name; the same object under
	 * another key (its fields) holds strings, and so does an array. */
	lua_pushcfunction(L, decode);
	lua_pushstring(L, "{\"fields_html\": {\"note\": \"<p>a</p>\"}, \"fields\": {\"note\": \"<p>a</p>\"},"
			  " \"list_html\": [\"<b>\"]}");
	CHECK(lua_pcall(L, 1, 1, 0) == LUA_OK);
	lua_getfield(L, -1, "fields_html");
	lua_getfield(L, -1, "note");
	CHECK(tmpl_to_safehtml(L, -1, &len) != NULL && len == 8);
	lua_getfield(L, -3, "fields");
	lua_getfield(L, -1, "note");
	CHECK(tmpl_to_safehtml(L, -1, &len) == NULL && lua_type(L, -1) == LUA_TSTRING);
	lua_getfield(L, -5, "list_html");
	lua_rawgeti(L, -1, 1);
	CHECK(tmpl_to_safehtml(L, -1, &len) == NULL && lua_type(L, -1) == LUA_TSTRING);
	lua_settop(L, 0);
	const char *bads[] = {"{", "[1,", "{\"a\" 1}", "{\"a\": }", "\"open", "tru", "[1] x", "{\"a\": \"\\u12\"}",
			      "@", ""};
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++)
		bad(L, bads[i]);
	/* Nesting beyond the limit raises instead of exhausting the C stack. */
	char deep[200];
	memset(deep, '[', 100);
	memset(deep + 100, ']', 99);
	deep[199] = '\0';
	bad(L, deep);
	lua_close(L);
	RUN(test_dump_box());
	return check_exit("test_ljson");
}
