/* Lua values and JSON, both ways. */
#include "ljson.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "template.h"

json_t *ljson_from_lua(lua_State *L, int idx, int depth, char *err, size_t errlen)
{
	idx = lua_absindex(L, idx);
	if (depth > JSON_DEPTH_MAX) {
		snprintf(err, errlen, "the document is nested deeper than %d", JSON_DEPTH_MAX);
		return NULL;
	}
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		return json_null();
	case LUA_TBOOLEAN:
		return json_boolean(lua_toboolean(L, idx));
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			return json_integer(lua_tointeger(L, idx));
		return json_real(lua_tonumber(L, idx));
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, idx, &len);
		json_t *j = json_stringn(s, len);
		if (!j)
			snprintf(err, errlen, "a string is not valid UTF-8");
		return j;
	}
	case LUA_TTABLE:
		break;
	case LUA_TUSERDATA: {
		/* Safe HTML becomes its text (read back, it is text again). */
		size_t len;
		const char *html = tmpl_to_safehtml(L, idx, &len);
		if (html)
			return json_stringn(html, len);
	}
		/* fall through */
	default:
		snprintf(err, errlen, "a %s cannot be stored", luaL_typename(L, idx));
		return NULL;
	}
	if (!lua_checkstack(L, 4)) {
		snprintf(err, errlen, "out of stack");
		return NULL;
	}
	lua_Unsigned n = lua_rawlen(L, idx);
	json_t *out = n > 0 ? json_array() : json_object();
	size_t count = 0;
	lua_pushnil(L);
	while (out && lua_next(L, idx)) {
		count++;
		json_t *v = ljson_from_lua(L, -1, depth + 1, err, errlen);
		if (!v) {
			lua_pop(L, 2);
			json_decref(out);
			return NULL;
		}
		int rc;
		if (n > 0) {
			lua_Integer k = lua_isinteger(L, -2) ? lua_tointeger(L, -2) : 0;
			if (k < 1 || (lua_Unsigned)k > n) {
				snprintf(err, errlen, "a table mixes list items and named fields");
				rc = -1;
				json_decref(v);
			} else {
				while (json_array_size(out) < (size_t)k)
					json_array_append_new(out, json_null());
				rc = json_array_set_new(out, (size_t)k - 1, v);
			}
		} else if (lua_type(L, -2) == LUA_TSTRING) {
			size_t klen;
			const char *k = lua_tolstring(L, -2, &klen);
			rc = json_object_setn_new(out, k, klen, v);
			if (rc != 0)
				snprintf(err, errlen, "a field name is not valid UTF-8");
		} else {
			snprintf(err, errlen, "field names must be strings");
			json_decref(v);
			rc = -1;
		}
		lua_pop(L, 1);
		if (rc != 0) {
			lua_pop(L, 1);
			json_decref(out);
			return NULL;
		}
	}
	if (!out)
		snprintf(err, errlen, "out of memory");
	return out;
}

int ljson_push(lua_State *L, json_t *j, int depth, bool html)
{
	if (depth > JSON_DEPTH_MAX + 1)
		return luaL_error(L, "stored document nested too deep");
	luaL_checkstack(L, 3, "json");
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		lua_createtable(L, 0, (int)json_object_size(j));
		const char *k;
		json_t *v;
		json_object_foreach(j, k, v) {
			size_t n = strlen(k);
			if (html && json_is_string(v) && n > 5 && strcmp(k + n - 5, "_html") == 0)
				tmpl_push_safehtml(L, json_string_value(v), json_string_length(v));
			else
				ljson_push(L, v, depth + 1, html);
			lua_setfield(L, -2, k);
		}
		break;
	}
	case JSON_ARRAY: {
		lua_createtable(L, (int)json_array_size(j), 0);
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v) {
			ljson_push(L, v, depth + 1, html);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		break;
	}
	case JSON_STRING:
		lua_pushlstring(L, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		lua_pushinteger(L, json_integer_value(j));
		break;
	case JSON_REAL:
		lua_pushnumber(L, json_real_value(j));
		break;
	case JSON_TRUE:
		lua_pushboolean(L, 1);
		break;
	case JSON_FALSE:
		lua_pushboolean(L, 0);
		break;
	default:
		lua_pushnil(L);
		break;
	}
	return 1;
}

