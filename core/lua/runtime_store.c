/* The plugin store from Lua: core.db's checks and encoding, and its four
 * operations (get, put, delete, list) as core calls: the statements sent
 * in the request's transaction and the answers as Lua values. JSON
 * documents per plugin and key, compare-and-set by version, a quota per
 * tenant (sql/code/store.sql). */
#include "runtime_internal.h"

#include <event2/event.h>
#include <jansson.h>
#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "ljson.h"
#include "lsandbox.h"

#define STORE_DOC_MAX (256 * 1024)     /* one JSON document */
#define STORE_KEY_MAX 200
#define STORE_LIST_MAX 100

static int stmt_get, stmt_put, stmt_list_key, stmt_list_recent, stmt_delete;

void rt_store_register_statements(void)
{
	/* The functions are sql/code/store.sql's. */
	stmt_get = db_stmt("SELECT value, version FROM platform.plugin_store_get($1, $2, $3)");
	stmt_put = db_stmt("SELECT status, version FROM platform.plugin_store_put($1, $2, $3, $4::jsonb, $5)");
	stmt_list_key = db_stmt("SELECT key, value, version, updated FROM platform.plugin_store_list($1, $2, $3, $4, false)");
	stmt_list_recent = db_stmt("SELECT key, value, version, updated"
				   " FROM platform.plugin_store_list($1, $2, $3, $4, true)");
	stmt_delete = db_stmt("SELECT * FROM platform.plugin_store_delete($1, $2, $3, $4)");
}

static bool key_ok(lua_State *L, int idx, size_t *len)
{
	if (lua_type(L, idx) != LUA_TSTRING)
		return false;
	lua_tolstring(L, idx, len);
	return *len >= 1 && *len <= STORE_KEY_MAX;
}

/* core.db(op, plugin, ...): checks and encodes the arguments, then yields
 * to the request's scheduler with the core tag: (tag, op, plugin, a, b, c)
 * with every value a string or nil. */
int core_db(lua_State *L)
{
	const char *op = luaL_checkstring(L, 1);
	luaL_checkstring(L, 2);
	if (!lua_isyieldable(L))
		return plugin_error(L, "the store can be used while serving a request, not while loading"
				     " (or inside a sort comparator, gsub callback or metamethod)");
	size_t klen;
	lua_settop(L, 5);
	if (strcmp(op, "get") == 0 || strcmp(op, "delete") == 0 || strcmp(op, "put") == 0) {
		if (!key_ok(L, 3, &klen))
			return plugin_error(L, "store.%s: the key must be a string of 1 to %d bytes", op, STORE_KEY_MAX);
	}
	if (strcmp(op, "put") == 0) {
		char err[200];
		json_t *j = ljson_from_lua(L, 4, 0, err, sizeof(err));
		if (!j)
			return plugin_error(L, "store.put: %s", err);
		size_t tlen = json_dumpb(j, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
		if (tlen > STORE_DOC_MAX) {
			json_decref(j);
			return plugin_error(L, "store.put: the document is %d bytes, over the limit of %d", (int)tlen,
					  STORE_DOC_MAX);
		}
		/* Written into Lua's memory: collected, even if a later push raises. */
		char *text = ljson_dump_box(L, j, JSON_COMPACT | JSON_ENCODE_ANY, &tlen);
		if (!text)
			return plugin_error(L, "store.put: the document cannot be encoded");
		lua_pushlstring(L, text, tlen);
		lua_replace(L, 4);
		lua_settop(L, 5);       /* the userdata goes */
		if (!lua_isnil(L, 5) && !lua_isinteger(L, 5))
			return plugin_error(L, "store.put: the expected version must be an integer or nil");
	} else if (strcmp(op, "delete") == 0) {
		if (!lua_isnil(L, 4) && !lua_isinteger(L, 4))
			return plugin_error(L, "store.delete: the expected version must be an integer or nil");
		lua_settop(L, 4);
	} else if (strcmp(op, "list") == 0) {
		size_t plen;
		if (lua_type(L, 3) != LUA_TSTRING || (lua_tolstring(L, 3, &plen), plen > STORE_KEY_MAX))
			return plugin_error(L, "store.list: the prefix must be a string of at most %d bytes", STORE_KEY_MAX);
		lua_Integer limit = 20;
		const char *order = "key";
		if (lua_type(L, 4) == LUA_TTABLE) {
			if (lua_getfield(L, 4, "limit") != LUA_TNIL) {
				if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > STORE_LIST_MAX)
					return plugin_error(L, "store.list: limit must be an integer from 1 to %d", STORE_LIST_MAX);
				limit = lua_tointeger(L, -1);
			}
			if (lua_getfield(L, 4, "order") != LUA_TNIL) {
				order = lua_tostring(L, -1);
				if (!order || (strcmp(order, "key") != 0 && strcmp(order, "recent") != 0))
					return plugin_error(L, "store.list: order must be \"key\" or \"recent\"");
			}
			lua_pop(L, 2);
		} else if (!lua_isnil(L, 4)) {
			return plugin_error(L, "store.list: options must be a table");
		}
		lua_pushinteger(L, limit);
		lua_replace(L, 4);
		lua_pushstring(L, order);
		lua_replace(L, 5);
	} else if (strcmp(op, "get") == 0) {
		lua_settop(L, 3);
	} else {
		return plugin_error(L, "unknown store operation");
	}
	int n = lua_gettop(L);
	lsb_push_core_tag(L);
	lua_insert(L, 1);
	return lua_yield(L, n + 1);
}

/* Pushes the JSON text as a Lua value (nil when it does not parse). The
 * parsed tree sits in *SLOT while it is converted, so that the caller can
 * free it when the conversion raises (out of memory). */
static void push_json_text(lua_State *L, const char *text, json_t **slot)
{
	*slot = json_loads(text, JSON_DECODE_ANY, NULL);
	if (!*slot) {
		lua_pushnil(L);
		return;
	}
	ljson_push(L, *slot, 0, false);
	json_decref(*slot);
	*slot = NULL;
}

/* ---------------------------------------------------------------- the operations */

static void store_send(struct rt_req *rq, int stmt, int n)
{
	if (db_query(rq->txn, stmt, n, (const char *const *)rq->params) != 0) {
		rq_fail(rq, 500, "store call refused by the pool (parameter too large)");
		return;
	}
	db_send(rq->txn, rq_answered, rq);
}

static void send_get(struct rt_req *rq)
{
	store_send(rq, stmt_get, rq->nparams);
}

static void send_put(struct rt_req *rq)
{
	store_send(rq, stmt_put, rq->nparams);
}

static void send_delete(struct rt_req *rq)
{
	store_send(rq, stmt_delete, rq->nparams);
}

/* params: tenant, plugin, prefix, limit, order: the order picks the
 * statement and is not one of its parameters. */
static void send_list(struct rt_req *rq)
{
	bool recent = rq->nparams == 5 && rq->params[4] && strcmp(rq->params[4], "recent") == 0;
	store_send(rq, recent ? stmt_list_recent : stmt_list_key, 4);
}

static int push_get(lua_State *L, struct rt_req *rq, json_t **slot)
{
	const PGresult *r = db_result(rq->txn, 0);
	if (PQntuples(r) == 0)
		return 0;
	push_json_text(L, PQgetvalue(r, 0, 0), slot);
	lua_pushinteger(L, db_int(r, 0, 1));
	return 2;
}

static int push_put(lua_State *L, struct rt_req *rq, json_t **slot)
{
	(void)slot;
	const PGresult *r = db_result(rq->txn, 0);
	const char *status = PQgetvalue(r, 0, 0);
	if (strcmp(status, "ok") == 0) {
		lua_pushinteger(L, db_int(r, 0, 1));
		return 1;
	}
	lua_pushnil(L);
	lua_pushstring(L, status);
	return 2;
}

static int push_delete(lua_State *L, struct rt_req *rq, json_t **slot)
{
	(void)slot;
	lua_pushboolean(L, PQntuples(db_result(rq->txn, 0)) > 0);
	return 1;
}

static int push_list(lua_State *L, struct rt_req *rq, json_t **slot)
{
	const PGresult *r = db_result(rq->txn, 0);
	int rows = PQntuples(r);
	lua_createtable(L, rows, 0);
	for (int i = 0; i < rows; i++) {
		lua_createtable(L, 0, 4);
		lua_pushstring(L, PQgetvalue(r, i, 0));
		lua_setfield(L, -2, "key");
		push_json_text(L, PQgetvalue(r, i, 1), slot);
		lua_setfield(L, -2, "value");
		lua_pushinteger(L, db_int(r, i, 2));
		lua_setfield(L, -2, "version");
		lua_pushinteger(L, db_int(r, i, 3));
		lua_setfield(L, -2, "updated");
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

const struct core_op rt_op_get = {.name = "get", .send = send_get, .push = push_get};
const struct core_op rt_op_put = {.name = "put", .writes = true, .send = send_put, .push = push_put};
const struct core_op rt_op_delete = {.name = "delete", .writes = true, .send = send_delete, .push = push_delete};
const struct core_op rt_op_list = {.name = "list", .send = send_list, .push = push_list};
