/* The JSON API's operations called from Lua (plugin.api.get/post/…):
 * the same route table and SQL functions as /api/v1, on behalf of the
 * request's signed-in person, in the request's transaction. The prelude
 * fires the operation's events around the call (core.api_route names
 * them). */
#include <lauxlib.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "apicache.h"
#include "datagen.h"
#include "http.h"
#include "ljson.h"
#include "log.h"
#include "runtime_internal.h"

/* The route of METHOD PATH, or a raised error naming the plugin's line. */
static const struct api_route *route_of(lua_State *L, const char *method, const char *path, size_t len,
					json_t *params)
{
	int status;
	char allow[64];
	const struct api_route *r = api_route_find(method, path, len, params, &status, allow, sizeof(allow));
	if (!r) {
		json_decref(params);
		plugin_error(L, "api: there is no operation %s %s%s%s", method, path, status == 405 ? "; it takes " : "",
			     status == 405 ? allow : "");
	}
	return r;
}

/* core.api_route(method, path, platform) -> before, after, params,
 * handler: the events of the operation, the parameters in its path, and
 * for an operation a platform plugin does, the name of its handler. The
 * platform's operations are refused here to the others, before the
 * prelude calls a handler (sign-in, sign-out, password mails), which
 * core.api would never see. */
int core_api_route(lua_State *L)
{
	const char *method = luaL_checkstring(L, 1);
	size_t len;
	const char *path = luaL_checklstring(L, 2, &len);
	bool platform = lua_toboolean(L, 3);
	json_t *params = json_object();
	if (!params)
		return luaL_error(L, "out of memory");
	const struct api_route *r = route_of(L, method, path, len, params);
	if ((r->flags & API_PLATFORM) && !platform) {
		json_decref(params);
		return plugin_error(L, "api: %s %s is for the platform's own plugins", method, path);
	}
	if (r->before)
		lua_pushstring(L, r->before);
	else
		lua_pushnil(L);
	if (r->after)
		lua_pushstring(L, r->after);
	else
		lua_pushnil(L);
	/* Only integers and words: pushing cannot leave PARAMS behind
	 * except on a memory error, which ends the request anyway. */
	ljson_push(L, params, 0, false);
	json_decref(params);
	if (r->flags & API_LUA)
		lua_pushstring(L, r->fn);
	else
		lua_pushnil(L);
	return 4;
}

/* core.api(method, path, args, platform, own) -> status, body. Checks
 * the route (a platform plugin's operations are refused to the others)
 * and encodes the arguments, then yields with the core tag:
 * (tag, "api", nil, method, path, json, platform and "1" or "own"). OWN:
 * the operation an API request asked for (handle_api), whose answer is
 * the request's; not the reads and writes of its hooks. */
int core_api(lua_State *L)
{
	const char *method = luaL_checkstring(L, 1);
	size_t len;
	const char *path = luaL_checklstring(L, 2, &len);
	bool platform = lua_toboolean(L, 4);
	bool own = platform && lua_toboolean(L, 5);
	if (!lua_isyieldable(L))
		return plugin_error(L, "api: operations can be called while serving a request, not while loading"
				     " (or inside a sort comparator, gsub callback or metamethod)");
	const struct api_route *r = route_of(L, method, path, len, NULL);
	if ((r->flags & API_PLATFORM) && !platform)
		return plugin_error(L, "api: %s %s is for the platform's own plugins", method, path);
	if (r->flags & API_LUA)
		return plugin_error(L, "api: %s %s has no handler (the site plugin is not loaded)", method, path);
	char err[200] = "";
	json_t *args = lua_isnoneornil(L, 3) ? json_object() : ljson_from_lua(L, 3, 0, err, sizeof(err));
	if (!json_is_object(args)) {
		json_decref(args);
		return plugin_error(L, "api: the arguments must be a table of named fields%s%s", err[0] ? ": " : "", err);
	}
	/* Keys sorted: the same arguments are the same text (the cache's key). */
	size_t need = json_dumpb(args, NULL, 0, JSON_COMPACT | JSON_SORT_KEYS);
	char *text = need ? lua_newuserdatauv(L, need, 0) : NULL;   /* collected, even if a push raises */
	if (!text || json_dumpb(args, text, need, JSON_COMPACT | JSON_SORT_KEYS) != need) {
		json_decref(args);
		return plugin_error(L, "api: the arguments cannot be encoded");
	}
	json_decref(args);
	lua_pushliteral(L, "api");
	lua_pushnil(L);                         /* the plugin slot of a core call */
	lua_pushvalue(L, 1);
	lua_pushvalue(L, 2);
	lua_pushlstring(L, text, need);
	if (own)
		lua_pushliteral(L, "own");
	else if (platform)
		lua_pushliteral(L, "1");
	else
		lua_pushnil(L);
	int n = 6;
	lua_rotate(L, 1, n);                    /* the call's values first */
	lua_settop(L, n);
	lsb_push_core_tag(L);
	lua_insert(L, 1);
	return lua_yield(L, n + 1);
}

/* params: tenant, plugin (NULL), method, path, arguments (JSON), platform.
 * Only a guest's reads are cached: what they see depends on the tenant's
 * data alone, which bumps its generation whenever it changes. */
bool rq_api_cached(struct rt_req *rq)
{
	const char *method = rq->nparams > 2 ? rq->params[2] : NULL;
	const char *path = rq->nparams > 3 ? rq->params[3] : NULL;
	const char *text = rq->nparams > 4 ? rq->params[4] : NULL;
	struct apicache *cache = rq_cache(rq);
	if (rq->has_user || !cache || !method || !path || !text || strcmp(method, "GET") != 0)
		return false;
	int status;
	char allow[64];
	const struct api_route *r = api_route_find(method, path, strlen(path), NULL, &status, allow, sizeof(allow));
	if (!r || (r->flags & (API_PLATFORM | API_SESSION | API_LUA | API_WRITE)))
		return false;
	size_t klen = 24 + strlen(path) + strlen(text) + 3;
	char *key = malloc(klen);
	if (!key)
		return false;
	snprintf(key, klen, "%lld %s %s", (long long)rq->tenant_id, path, text);
	uint64_t gen = datagen_get(rq->tenant_id);
	size_t len;
	const char *hit = apicache_get(cache, key, gen, &len);
	if (!hit) {
		/* Kept under the generation from before the read: a write that
		 * commits meanwhile makes it stale at once. */
		free(rq->api_cache_key);
		rq->api_cache_key = key;
		rq->api_cache_gen = gen;
		return false;
	}
	free(key);
	free(rq->api_cached);
	rq->api_cached = malloc(len + 1);
	if (!rq->api_cached)
		return false;
	memcpy(rq->api_cached, hit, len + 1);
	rq_answered(rq->txn, DB_OK, rq);
	return true;
}

void rq_api_send(struct rt_req *rq)
{
	const char *method = rq->nparams > 2 ? rq->params[2] : NULL;
	const char *path = rq->nparams > 3 ? rq->params[3] : NULL;
	const char *text = rq->nparams > 4 ? rq->params[4] : NULL;
	rq->api_own = rq->nparams > 5 && rq->params[5] && strcmp(rq->params[5], "own") == 0;
	json_t *args = text ? json_loads(text, 0, NULL) : NULL;
	json_t *params = json_object();
	int status;
	char allow[64];
	const struct api_route *r = method && path && args && params
					    ? api_route_find(method, path, strlen(path), params, &status, allow, sizeof(allow))
					    : NULL;
	if (r)
		json_object_update(args, params);
	json_decref(params);
	rq_clear_params(rq);
	if (!r) {
		json_decref(args);
		rq_fail(rq, 500, "api: the call's arguments were lost");
		return;
	}
	struct api_principal who = {.viewer = rq->has_user ? rq->user_id : 0};
	snprintf(who.roles, sizeof(who.roles), "%s", rq->user_roles);
	if (r->flags & API_WRITE)
		rq->wrote = true;
	if ((r->flags & (API_WRITE | API_PRIVATE)) == API_WRITE)
		rq->changed = true;
	int rc = api_prepare(r, r->method, &who, args, rq->api_secret);
	if (rc == 0)
		rc = api_query(rq->txn, r, rq->tenant_id, &who, args);
	json_decref(args);
	if (rc != 0) {
		rq_fail(rq, 413, "api: the arguments are too large");
		return;
	}
	db_send(rq->txn, rq_answered, rq);
}

/* The answer straight from its text to Lua, in one pass: the reads of
 * the site's pages (not the API's own requests, which answer JSON, nor a
 * drawn secret, which is added to the answer). */
static int push_api_text(lua_State *L, struct rt_req *rq, const char *text, size_t len)
{
	ljson_decode(L, text, len, true);
	lua_getfield(L, -1, "status");
	lua_getfield(L, -2, "body");
	lua_remove(L, -3);
	if (!lua_isinteger(L, -2))
		return luaL_error(L, "api: the operation gave no answer");
	free(rq->api_cached);
	rq->api_cached = NULL;
	return 2;
}

int push_api_answer(lua_State *L, struct rt_req *rq, json_t **slot)
{
	int status;
	json_t *body;
	int rc;
	bool own = rq->api_own;
	rq->api_own = false;
	if (!rq->api_done && !rq->api_secret[0]) {
		if (rq->api_cached)
			return push_api_text(L, rq, rq->api_cached, strlen(rq->api_cached));
		const PGresult *r = db_result(rq->txn, 0);
		if (!r || PQntuples(r) != 1 || PQgetisnull(r, 0, 0))
			return luaL_error(L, "api: the operation gave no answer");
		const char *text = PQgetvalue(r, 0, 0);
		size_t len = (size_t)PQgetlength(r, 0, 0);
		if (rq->api_cache_key && len > 14 && memcmp(text + len - 14, "\"status\": 200}", 14) == 0)
			apicache_put(rq_cache(rq), rq->api_cache_key, rq->api_cache_gen, text, len);
		free(rq->api_cache_key);
		rq->api_cache_key = NULL;
		return push_api_text(L, rq, text, len);
	}
	if (rq->api_cached) {
		rc = api_answer_text(rq->api_cached, NULL, &status, &body);
		free(rq->api_cached);
		rq->api_cached = NULL;
	} else {
		const PGresult *r = db_result(rq->txn, 0);
		rc = api_answer(r, rq->api_secret, &status, &body);
		if (rc == 0 && status == 200 && rq->api_cache_key && PQntuples(r) == 1)
			apicache_put(rq_cache(rq), rq->api_cache_key, rq->api_cache_gen, PQgetvalue(r, 0, 0),
				     (size_t)PQgetlength(r, 0, 0));
	}
	free(rq->api_cache_key);
	rq->api_cache_key = NULL;
	OPENSSL_cleanse(rq->api_secret, sizeof(rq->api_secret));
	if (rc != 0)
		return luaL_error(L, "api: the operation gave no answer");
	*slot = body;
	if (rq->api_done && own) {
		/* Answered to the API as given: Lua has no null. Only the
		 * request's own operation: a hook's read after it (or a guard's
		 * before it) is not the answer. */
		json_decref(rq->api_answer);
		rq->api_answer = json_incref(body);
	}
	lua_pushinteger(L, status);
	ljson_push(L, body, 0, true);
	return 2;
}
