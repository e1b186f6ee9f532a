/* Fuzzes the one-pass JSON decoder the API's answers go through
 * (ljson_decode) and the API's own request parsing (api_route_find on
 * method and path, urlenc_decode on query values). Beyond "no crash": a
 * text jansson accepts decodes without error to the same value (nulls
 * aside), and a route found matches a pattern of the table.
 *
 * Input: the first byte picks the part (even: JSON, odd: the API's path
 * and query, split at the first NUL). */
#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "ljson.h"
#include "urlenc.h"
#include "fz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int decode(lua_State *L)
{
	size_t n;
	const char *s = lua_tolstring(L, 1, &n);
	ljson_decode(L, s, n, true);
	return 1;
}

static bool has_null(json_t *j)
{
	if (json_is_null(j))
		return true;
	const char *k;
	json_t *v;
	size_t i;
	if (json_is_object(j))
		json_object_foreach(j, k, v) if (has_null(v)) return true;
	if (json_is_array(j))
		json_array_foreach(j, i, v) if (has_null(v) || (json_is_array(v) && json_array_size(v) == 0) ||
					       (json_is_object(v) && json_object_size(v) == 0)) return true;
	return false;
}

static int depth_of(json_t *j)
{
	int d = 0;
	const char *k;
	json_t *v;
	size_t i;
	int e;
	if (json_is_object(j))
		json_object_foreach(j, k, v) if ((e = depth_of(v)) > d) d = e;
	if (json_is_array(j))
		json_array_foreach(j, i, v) if ((e = depth_of(v)) > d) d = e;
	return json_is_object(j) || json_is_array(j) ? d + 1 : 0;
}

/* Whether B, back from Lua, is the value A went in as: numbers by value
 * (1.0 may come back as 1), an empty object or array as either (Lua has
 * one empty table), everything else exactly. */
static bool same(const json_t *b, const json_t *a)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b) &&
		       (!json_is_integer(a) || !json_is_integer(b) || json_integer_value(a) == json_integer_value(b));
	bool ea = (json_is_object(a) && json_object_size(a) == 0) || (json_is_array(a) && json_array_size(a) == 0);
	bool eb = (json_is_object(b) && json_object_size(b) == 0) || (json_is_array(b) && json_array_size(b) == 0);
	if (ea || eb)
		return ea && eb;
	if (json_is_array(a)) {
		if (!json_is_array(b) || json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!same(json_array_get(b, i), json_array_get(a, i)))
				return false;
		return true;
	}
	if (json_is_object(a)) {
		if (!json_is_object(b) || json_object_size(a) != json_object_size(b))
			return false;
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)a, k, v) if (!same(json_object_get(b, k), v)) return false;
		return true;
	}
	return json_equal(a, b);
}

static void fuzz_json(const char *s, size_t n)
{
	lua_State *L = luaL_newstate();
	if (!L)
		return;
	lua_pushcfunction(L, decode);
	lua_pushlstring(L, s, n);
	int st = lua_pcall(L, 1, 1, 0);
	json_error_t err;
	json_t *want = json_loadb(s, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	/* Deeper than the limit is refused by design; nulls and empty
	 * arrays do not come back from Lua as they went in. */
	if (want && depth_of(want) <= JSON_DEPTH_MAX && !has_null(want) &&
	    !(json_is_array(want) && json_array_size(want) == 0) && !memchr(s, 0, n)) {
		FZ_ASSERT(st == LUA_OK);
		char e[200];
		json_t *back = ljson_from_lua(L, -1, 0, e, sizeof(e));
		FZ_ASSERT(back != NULL);
		FZ_ASSERT(same(back, want));
		json_decref(back);
	}
	json_decref(want);
	lua_close(L);
}

static void fuzz_api(const char *s, size_t n)
{
	const char *path = s;
	size_t plen = strnlen(s, n);
	const char *query = plen < n ? s + plen + 1 : "";
	size_t qlen = plen < n ? n - plen - 1 : 0;
	static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
	for (size_t m = 0; m < 5; m++) {
		int status;
		char allow[64];
		json_t *params = json_object();
		const struct api_route *r = api_route_find(methods[m], path, plen, params, &status, allow, sizeof(allow));
		FZ_ASSERT(r ? strcmp(r->method, methods[m]) == 0 : (status == 404 || status == 405));
		FZ_ASSERT(strlen(allow) < sizeof(allow));
		json_decref(params);
	}
	char out[256];
	long k = urlenc_decode(query, qlen, out, sizeof(out));
	FZ_ASSERT(k < (long)sizeof(out) && (k < 0 || strlen(out) <= (size_t)k));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	if (data[0] % 2 == 0)
		fuzz_json(s, size - 1);
	else
		fuzz_api(s, size - 1);
	free(s);
	return 0;
}
