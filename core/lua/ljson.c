/* Lua values and JSON, both ways. */
#include "ljson.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "encode.h"
#include "lsandbox.h"
#include "template.h"

/* One conversion from Lua: its size so far (about the JSON text's bytes)
 * and values visited. A table may hold the same subtable many times, so
 * the tree can be far larger than the Lua memory behind it: the size is
 * capped as it grows, and the work is charged to the request's budget
 * once the tree is freed or handed over (raising in between would leak
 * it). */
struct conv {
	lua_State *L;
	char *err;
	size_t errlen;
	size_t bytes;
	size_t values;
};

static json_t *from_lua(struct conv *c, int idx, int depth);
static size_t push_tree(lua_State *L, json_t *j, int depth, bool html, bool safe);

json_t *ljson_from_lua(lua_State *L, int idx, int depth, char *err, size_t errlen)
{
	struct conv c = {L, err, errlen, 0, 0};
	json_t *j = from_lua(&c, idx, depth);
	if (!lsb_try_charge(L, (int64_t)c.values + (int64_t)(c.bytes / LSB_BYTES_PER_UNIT)) && j) {
		/* Never raises: the caller holds what Lua would not free. It
		 * fails, and the kill stays marked for the next charge. */
		json_decref(j);
		snprintf(err, errlen, "the request's limit was exceeded");
		return NULL;
	}
	return j;
}

static json_t *from_lua(struct conv *c, int idx, int depth)
{
	lua_State *L = c->L;
	char *err = c->err;
	size_t errlen = c->errlen;
	idx = lua_absindex(L, idx);
	c->values++;
	c->bytes += 8;
	if (c->bytes > LJSON_TEXT_MAX) {
		snprintf(err, errlen, "the document is larger than %d bytes", LJSON_TEXT_MAX);
		return NULL;
	}
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
		c->bytes += len;
		if (c->bytes > LJSON_TEXT_MAX) {
			snprintf(err, errlen, "the document is larger than %d bytes", LJSON_TEXT_MAX);
			return NULL;
		}
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
		json_t *v = from_lua(c, -1, depth + 1);
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

/* A field the core filled with safe HTML: its name ends in "_html". */
static bool html_key(const char *k, size_t n)
{
	return n > 5 && memcmp(k + n - 5, "_html", 5) == 0;
}

int ljson_push(lua_State *L, json_t *j, int depth, bool html)
{
	size_t values = push_tree(L, j, depth, html, false);
	lsb_charge(L, (int64_t)values);
	return 1;
}

/* Pushes J; returns the values pushed. SAFE: J is under a key ending in
 * "_html", so its strings (an object's too: a record's fields_html, by
 * field name) are the core's safe HTML. */
static size_t push_tree(lua_State *L, json_t *j, int depth, bool html, bool safe)
{
	size_t values = 1;
	if (depth > JSON_DEPTH_MAX + 1)
		return luaL_error(L, "stored document nested too deep");
	luaL_checkstack(L, 3, "json");
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		lua_createtable(L, 0, (int)json_object_size(j));
		const char *k;
		json_t *v;
		json_object_foreach(j, k, v) {
			bool s = safe || (html && html_key(k, strlen(k)));
			if (s && json_is_string(v))
				tmpl_push_safehtml(L, json_string_value(v), json_string_length(v));
			else
				values += push_tree(L, v, depth + 1, html, s && json_is_object(v));
			lua_setfield(L, -2, k);
		}
		break;
	}
	case JSON_ARRAY: {
		lua_createtable(L, (int)json_array_size(j), 0);
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v) {
			values += push_tree(L, v, depth + 1, html, false);
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
	return values;
}

/* ---------------------------------------------------------------- one-pass decoding */

struct jp {
	lua_State *L;
	const char *s, *end;
	bool html;
};

static void jp_fail(struct jp *p, const char *what)
{
	luaL_error(p->L, "JSON: %s (%d bytes before the end)", what, (int)(p->end - p->s));
}

static void jp_ws(struct jp *p)
{
	while (p->s < p->end && (*p->s == ' ' || *p->s == '\n' || *p->s == '\r' || *p->s == '\t'))
		p->s++;
}

static unsigned jp_hex4(struct jp *p)
{
	if (p->end - p->s < 4)
		jp_fail(p, "short \\u escape");
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int d = enc_hex_value((unsigned char)*p->s++);
		if (d < 0)
			jp_fail(p, "bad \\u escape");
		v = v << 4 | (unsigned)d;
	}
	return v;
}

static void jp_utf8(luaL_Buffer *b, unsigned cp)
{
	char u[4];
	int n;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	luaL_addlstring(b, u, (size_t)n);
}

/* The string at p->s (after its opening quote), pushed; as safe HTML when
 * HTML. */
static void jp_string(struct jp *p, bool html)
{
	const char *start = p->s;
	while (p->s < p->end && *p->s != '"' && *p->s != '\\')
		p->s++;
	if (p->s >= p->end)
		jp_fail(p, "unterminated string");
	if (*p->s == '"') {             /* no escapes: the common case */
		if (html)
			tmpl_push_safehtml(p->L, start, (size_t)(p->s - start));
		else
			lua_pushlstring(p->L, start, (size_t)(p->s - start));
		p->s++;
		return;
	}
	luaL_Buffer b;
	luaL_buffinit(p->L, &b);
	luaL_addlstring(&b, start, (size_t)(p->s - start));
	while (p->s < p->end && *p->s != '"') {
		char c = *p->s++;
		if (c != '\\') {
			luaL_addchar(&b, c);
			continue;
		}
		if (p->s >= p->end)
			jp_fail(p, "unterminated escape");
		c = *p->s++;
		switch (c) {
		case 'n': luaL_addchar(&b, '\n'); break;
		case 't': luaL_addchar(&b, '\t'); break;
		case 'r': luaL_addchar(&b, '\r'); break;
		case 'b': luaL_addchar(&b, '\b'); break;
		case 'f': luaL_addchar(&b, '\f'); break;
		case 'u': {
			unsigned cp = jp_hex4(p);
			if (cp >= 0xD800 && cp < 0xDC00 && p->end - p->s >= 6 && p->s[0] == '\\' && p->s[1] == 'u') {
				p->s += 2;
				unsigned lo = jp_hex4(p);
				cp = lo >= 0xDC00 && lo < 0xE000 ? 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00) : 0xFFFD;
			} else if (cp >= 0xD800 && cp < 0xE000) {
				cp = 0xFFFD;
			}
			jp_utf8(&b, cp);
			break;
		}
		default: luaL_addchar(&b, c); break;   /* " \\ / */
		}
	}
	if (p->s >= p->end)
		jp_fail(p, "unterminated string");
	p->s++;
	luaL_pushresult(&b);
	if (html) {
		size_t n;
		const char *t = lua_tolstring(p->L, -1, &n);
		tmpl_push_safehtml(p->L, t, n);
		lua_remove(p->L, -2);
	}
}

static void jp_value(struct jp *p, int depth, bool html);

/* SAFE: the object is under a key ending in "_html" (a record's
 * fields_html): its strings are safe HTML too, by whatever name. */
static void jp_object(struct jp *p, int depth, bool safe)
{
	lua_State *L = p->L;
	lua_createtable(L, 0, 8);
	jp_ws(p);
	if (p->s < p->end && *p->s == '}') {
		p->s++;
		return;
	}
	for (;;) {
		jp_ws(p);
		if (p->s >= p->end || *p->s != '"')
			jp_fail(p, "expected a key");
		p->s++;
		const char *k = p->s;
		jp_string(p, false);
		size_t klen = (size_t)(p->s - 1 - k);
		bool html = p->html && (safe || html_key(k, klen));
		jp_ws(p);
		if (p->s >= p->end || *p->s != ':')
			jp_fail(p, "expected ':'");
		p->s++;
		jp_value(p, depth + 1, html);
		lua_rawset(L, -3);      /* a null (nil) value sets nothing */
		jp_ws(p);
		if (p->s < p->end && *p->s == ',') {
			p->s++;
			continue;
		}
		if (p->s < p->end && *p->s == '}') {
			p->s++;
			return;
		}
		jp_fail(p, "expected ',' or '}'");
	}
}

static void jp_array(struct jp *p, int depth)
{
	lua_State *L = p->L;
	lua_createtable(L, 8, 0);
	jp_ws(p);
	if (p->s < p->end && *p->s == ']') {
		p->s++;
		return;
	}
	for (lua_Integer i = 1;; i++) {
		jp_value(p, depth + 1, false);
		lua_rawseti(L, -2, i);
		jp_ws(p);
		if (p->s < p->end && *p->s == ',') {
			p->s++;
			continue;
		}
		if (p->s < p->end && *p->s == ']') {
			p->s++;
			return;
		}
		jp_fail(p, "expected ',' or ']'");
	}
}

static void jp_value(struct jp *p, int depth, bool html)
{
	lua_State *L = p->L;
	if (depth > JSON_DEPTH_MAX + 1)
		jp_fail(p, "nested too deep");
	luaL_checkstack(L, 4, "json");
	jp_ws(p);
	if (p->s >= p->end)
		jp_fail(p, "unexpected end");
	char c = *p->s;
	if (c == '{') {
		p->s++;
		jp_object(p, depth, html);
	} else if (c == '[') {
		p->s++;
		jp_array(p, depth);
	} else if (c == '"') {
		p->s++;
		jp_string(p, html);
	} else if (c == 't' && p->end - p->s >= 4 && memcmp(p->s, "true", 4) == 0) {
		p->s += 4;
		lua_pushboolean(L, 1);
	} else if (c == 'f' && p->end - p->s >= 5 && memcmp(p->s, "false", 5) == 0) {
		p->s += 5;
		lua_pushboolean(L, 0);
	} else if (c == 'n' && p->end - p->s >= 4 && memcmp(p->s, "null", 4) == 0) {
		p->s += 4;
		lua_pushnil(L);
	} else if (c == '-' || (c >= '0' && c <= '9')) {
		/* Lua reads the number (integer, or float when it has a point, an
		 * exponent or no room as an integer), however long it is. */
		const char *start = p->s;
		while (p->s < p->end && strchr("0123456789+-.eE", *p->s) && *p->s)
			p->s++;
		lua_pushlstring(L, start, (size_t)(p->s - start));
		if (lua_stringtonumber(L, lua_tostring(L, -1)) == 0)
			jp_fail(p, "bad number");
		lua_remove(L, -2);
	} else {
		jp_fail(p, "unexpected character");
	}
}

void ljson_decode(lua_State *L, const char *text, size_t len, bool html)
{
	struct jp p = {.L = L, .s = text, .end = text + len, .html = html};
	lsb_charge(L, (int64_t)(len / LSB_SCAN_BYTES_PER_UNIT));
	jp_value(&p, 0, false);
	jp_ws(&p);
	if (p.s != p.end)
		jp_fail(&p, "trailing text");
}

static int new_box(lua_State *L)
{
	lua_newuserdatauv(L, (size_t)lua_tointeger(L, 1), 0);
	return 1;
}

char *ljson_dump_box(lua_State *L, json_t *j, size_t flags, size_t *len)
{
	size_t need = j ? json_dumpb(j, NULL, 0, flags) : 0;
	if (!need) {
		json_decref(j);
		return NULL;
	}
	/* The allocation may raise (the state's memory cap): J is ours to
	 * release first. */
	lua_pushcfunction(L, new_box);
	lua_pushinteger(L, (lua_Integer)need);
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		json_decref(j);
		lua_error(L);
	}
	char *box = lua_touserdata(L, -1);
	size_t n = json_dumpb(j, box, need, flags);
	json_decref(j);
	if (n != need) {
		lua_pop(L, 1);
		return NULL;
	}
	*len = need;
	return box;
}
