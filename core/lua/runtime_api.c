/* The JSON API's operations called from Lua (plugin.api.get/post/…):
 * the same route table and SQL functions as /api/v1, on behalf of the
 * request's signed-in person, in the request's transaction, with the same
 * steps around the SQL (apicall.h: passwords, secrets, cookies). The
 * prelude fires the operation's events around the call (core.api_route
 * names the route's, the answer those the operation names). */
#include <lauxlib.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "apicache.h"
#include "apicall.h"
#include "bundle_check.h"
#include "datagen.h"
#include "http.h"
#include "ljson.h"
#include "log.h"
#include "multipart.h"
#include "runtime_internal.h"

/* An "api" call's own state (rq->op_state), from its ready to its free. */
struct api_op {
	char secret[API_SECRET_CHARS + 1];      /* drawn for the operation */
	struct api_call *call;          /* an operation with steps (apicall.h), or NULL */
	bool own;                       /* this call is the API request's operation (not a hook's) */
	bool text;                      /* its body wanted as the API's JSON text */
	char *cached;                   /* a guest's read answered from the worker's cache */
	char *cache_key;                /* where to keep this guest's read, NULL: not kept */
	uint64_t cache_gen;             /* the tenant's data generation before it was read */
	struct bundle_check *check;     /* an upload being checked (bundle_check.h), or NULL */
	const struct api_route *check_route;    /* ... and what its SQL needs afterwards */
	struct api_principal check_who;
	json_t *check_args;
};

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
	if (r->flags & API_STREAM) {
		json_decref(params);
		plugin_error(L, "api: %s %s is a download, served over HTTP only (link to /api/v1%s)", method, path, path);
	}
	return r;
}

/* The pushes of core.api_route, under pcall: each may raise (the state's
 * memory cap, or a spent budget whose kill comes at the next charge, as
 * ljson_push's is), and PARAMS is C's until its caller releases it. */
static int push_route(lua_State *L)
{
	const struct api_route *r = lua_touserdata(L, 1);
	json_t *params = lua_touserdata(L, 2);
	if (r->before)
		lua_pushstring(L, r->before);
	else
		lua_pushnil(L);
	if (r->after)
		lua_pushstring(L, r->after);
	else
		lua_pushnil(L);
	ljson_push(L, params, 0, false);
	return 3;
}

/* core.api_route(method, path, platform) -> before, after, params: the
 * events of the operation and the parameters in its path. The platform's
 * operations are refused here to the others, before a guard runs. */
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
	lua_pushcfunction(L, push_route);
	lua_pushlightuserdata(L, (void *)r);
	lua_pushlightuserdata(L, params);
	int st = lua_pcall(L, 2, 3, 0);
	json_decref(params);
	if (st != LUA_OK)
		return lua_error(L);
	return 3;
}

/* core.api(method, path, args, platform, own, text) -> status, body,
 * events. Checks the route (a platform plugin's operations are refused to
 * the others) and encodes the arguments, then yields with the core tag:
 * (tag, "api", nil, route index, path, json, platform and "1", "own" or
 * "text"). OWN: the operation an API request asked for (handle_api), whose
 * answer is the request's; not the reads and writes of its hooks. TEXT
 * (platform plugins): the body comes as the API's JSON text, nulls and
 * empty lists kept (a download). EVENTS: those the operation names
 * (API_EVENTS), for the prelude to fire. */
int core_api(lua_State *L)
{
	const char *method = luaL_checkstring(L, 1);
	size_t len;
	const char *path = luaL_checklstring(L, 2, &len);
	bool platform = lua_toboolean(L, 4);
	bool own = platform && lua_toboolean(L, 5);
	bool as_text = platform && lua_toboolean(L, 6);
	if (!lua_isyieldable(L))
		return plugin_error(L, "api: operations can be called while serving a request, not while loading"
				     " (or inside a sort comparator, gsub callback or metamethod)");
	const struct api_route *r = route_of(L, method, path, len, NULL);
	if ((r->flags & API_PLATFORM) && !platform)
		return plugin_error(L, "api: %s %s is for the platform's own plugins", method, path);
	if ((r->flags & API_BUNDLE) && !platform)
		return plugin_error(L, "api: %s %s (a bundle upload) is for the platform's own plugins", method, path);
	char err[200] = "";
	json_t *args = lua_isnoneornil(L, 3) ? json_object() : ljson_from_lua(L, 3, 0, err, sizeof(err));
	if (!json_is_object(args)) {
		json_decref(args);
		return plugin_error(L, "api: the arguments must be a table of named fields%s%s", err[0] ? ": " : "", err);
	}
	/* Keys sorted: the same arguments are the same text (the cache's key). */
	size_t need;
	char *text = ljson_dump_box(L, args, JSON_COMPACT | JSON_SORT_KEYS, &need);
	if (!text)
		return plugin_error(L, "api: the arguments cannot be encoded");
	lua_pushliteral(L, "api");
	lua_pushnil(L);                         /* the plugin slot of a core call */
	lua_pushinteger(L, api_route_index(r)); /* found once, here */
	lua_pushvalue(L, 2);
	lua_pushlstring(L, text, need);
	if (own)
		lua_pushliteral(L, "own");
	else if (as_text)
		lua_pushliteral(L, "text");
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
/* The route a core call carries (its index in the table, as text). */
static const struct api_route *route_param(const char *s)
{
	char *end;
	long i = s ? strtol(s, &end, 10) : -1;
	return s && *s && !*end ? api_route_at(i) : NULL;
}

/* Where a guest's read is kept: only a guest's (rq_cache's rules in
 * api_guest_key). */
static char *guest_key(const struct rt_req *rq, const struct api_route *r, const char *path, const char *args)
{
	return rq->has_user || !rq_cache(rq) ? NULL : api_guest_key(r, rq->tenant_id, path, args);
}

/* A copy of the cached answer under KEY for generation GEN, or NULL. */
static char *cached_copy(const struct rt_req *rq, const char *key, uint64_t gen)
{
	size_t len;
	const char *hit = apicache_get(rq_cache(rq), key, gen, &len);
	char *copy = hit ? malloc(len + 1) : NULL;
	if (copy)
		memcpy(copy, hit, len + 1);
	return copy;
}

static bool rq_api_cached(struct rt_req *rq)
{
	struct api_op *st = calloc(1, sizeof(*st));
	rq->op_state = st;      /* NULL: rq_api_send fails the request */
	const struct api_route *r = route_param(rq_param(rq, 2));
	const char *path = rq_param(rq, 3);
	const char *text = rq_param(rq, 4);
	if (!st || !r || !path || !text)
		return false;
	char *key = guest_key(rq, r, path, text);
	if (!key) {
		rq->page_unshared = true;       /* a read the data generation does not follow */
		return false;
	}
	uint64_t gen = datagen_get(rq->tenant_id);
	char *hit = cached_copy(rq, key, gen);
	if (!hit) {
		/* Kept under the generation from before the read: a write that
		 * commits meanwhile makes it stale at once. */
		st->cache_key = key;
		st->cache_gen = gen;
		return false;
	}
	free(key);
	st->cached = hit;
	rq_answer_soon(rq);
	return true;
}

/* An operation with steps answered: its cookies are the request's. */
static void rq_api_called(struct api_call *c)
{
	struct rt_req *rq = c->arg;
	if (!c->status) {
		rq_fail(rq, c->fail_status, c->why);
		return;
	}
	if (c->session[0]) {
		/* A new session, and a new CSRF token with it. */
		snprintf(rq->set_session, sizeof(rq->set_session), "%s", c->session);
		snprintf(rq->csrf, sizeof(rq->csrf), "%s", c->csrf);
		rq->new_csrf = true;
		rq->clear_session = false;
	} else if (c->signed_out) {
		rq->set_session[0] = '\0';
		rq->clear_session = true;
	}
	rq_answered(rq->txn, DB_OK, rq);
}

static void rq_api_bundle(struct rt_req *rq, const struct api_route *r, const struct api_principal *who, json_t *args);

static void rq_api_send(struct rt_req *rq)
{
	const struct api_route *r = route_param(rq_param(rq, 2));
	const char *path = rq_param(rq, 3);
	const char *text = rq_param(rq, 4);
	struct api_op *st = rq->op_state;
	if (!st) {
		rq_fail(rq, 503, "api: out of memory");
		return;
	}
	st->own = rq_param(rq, 5) && strcmp(rq->params[5], "own") == 0;
	st->text = rq_param(rq, 5) && strcmp(rq->params[5], "text") == 0;
	json_t *args = r && path && text ? json_loads(text, 0, NULL) : NULL;
	json_t *params = json_object();
	/* The path's parameters over the arguments. */
	bool ok = args && params && api_route_params(r, path, strlen(path), params) == 0 &&
		  json_object_update(args, params) == 0;
	json_decref(params);
	rq_clear_params(rq);
	if (!ok) {
		json_decref(args);
		rq_fail(rq, 500, "api: the call's arguments were lost");
		return;
	}
	struct api_principal who = {.viewer = rq->has_user ? rq->user_id : 0};
	snprintf(who.roles, sizeof(who.roles), "%s", rq->user_roles);
	snprintf(who.session, sizeof(who.session), "%s", rq->session_hash);
	if (r->flags & API_WRITE)
		rq->wrote = true;
	if ((r->flags & (API_WRITE | API_PRIVATE)) == API_WRITE)
		rq->changed = true;
	if (api_call_needed(r)) {
		struct api_call *c = calloc(1, sizeof(*c));
		if (!c) {
			json_decref(args);
			rq_fail(rq, 503, "api: out of memory");
			return;
		}
		*c = (struct api_call){.route = r, .req = rq->req, .txnp = &rq->txn, .tenant_id = rq->tenant_id,
				       .who = who, .args = args, .definitions = rq->ts ? rq->ts->defs : NULL,
				       .done = rq_api_called, .arg = rq};
		st->call = c;
		api_call_start(c);
		return;
	}
	if (r->flags & API_BUNDLE) {
		rq_api_bundle(rq, r, &who, args);
		return;
	}
	int rc = api_prepare(r, r->method, &who, args, st->secret);
	if (rc == 0 && (r->flags & API_DEFS))
		rc = api_add_definitions(args, rq->ts ? rq->ts->defs : NULL);
	if (rc != 0) {
		json_decref(args);
		rq_fail(rq, 503, "api: the arguments could not be prepared (out of memory or randomness)");
		return;
	}
	rc = api_query(rq->txn, r, rq->tenant_id, &who, args);
	json_decref(args);
	if (rc != 0) {
		rq_fail(rq, rc == API_TOO_LARGE ? 413 : 503,
			rc == API_TOO_LARGE ? "api: the arguments are over 512 KiB as JSON"
					    : "api: the operation could not be sent");
		return;
	}
	db_send(rq->txn, rq_answered, rq);
}

/* A refused upload answered at once as the operation's 422 (REFUSAL NULL:
 * out of memory); takes REFUSAL. */
static void rq_bundle_refuse(struct rt_req *rq, json_t *refusal)
{
	struct api_op *st = rq->op_state;
	json_t *answer = refusal ? json_pack("{s:i, s:o}", "status", 422, "body", refusal) : NULL;
	char *text = answer ? json_dumps(answer, JSON_COMPACT) : NULL;
	json_decref(answer);
	if (!text) {
		rq_fail(rq, 503, "api: out of memory");
		return;
	}
	st->cached = text;
	rq_answer_soon(rq);
}

/* The check's outcome (none: a caller who may not upload, to be refused
 * by the SQL) to the SQL, or its refusal answered; takes ARGS. */
static void rq_bundle_send(struct rt_req *rq, const struct api_route *r, const struct api_principal *who, json_t *args)
{
	struct api_op *st = rq->op_state;
	struct bundle_check *c = st->check;
	json_t *refusal;
	st->check = NULL;
	int rc = bundle_check_send(c, rq->txn, r, rq->tenant_id, who, args, st->secret, &refusal);
	json_decref(args);
	if (rc == BUNDLE_CHECK_REFUSED) {
		rq_bundle_refuse(rq, refusal);
		return;
	}
	if (rc != 0) {
		rq_fail(rq, rc == API_TOO_LARGE ? 413 : 503, "api: the bundle could not be sent");
		return;
	}
	db_send(rq->txn, rq_answered, rq);
}

/* Back on the worker's loop from the bundle queue. The check's time is
 * the queue's, not the Lua's: the request's deadline moves on by it, as
 * for a PDF. */
static void rq_bundle_checked(void *arg)
{
	struct rt_req *rq = arg;
	struct api_op *st = rq->op_state;
	json_t *args = st->check_args;
	st->check_args = NULL;
	rq_bundle_send(rq, st->check_route, &st->check_who, args);
}

/* A bundle upload from a page (POST /bundle, platform plugins only): the
 * archive is the file of the request's multipart/form-data field
 * "bundle", never an argument (Lua strings of a Lua table are not the
 * place for 1 MiB of binary). An admin's is read and checked on the
 * bundle queue (bundle_check.h), never on the worker's loop; a refusal is
 * answered as the operation's 422, without the database. Anyone else's
 * call goes to the SQL, which refuses it. */
static void rq_api_bundle(struct rt_req *rq, const struct api_route *r, const struct api_principal *who, json_t *args)
{
	struct api_op *st = rq->op_state;
	if (!(who->viewer && api_is_admin(who->roles))) {
		rq_bundle_send(rq, r, who, args);
		return;
	}
	size_t blen = 0;
	const char *body = http_req_body(rq->req, &blen);
	const char *ct = http_req_header(rq->req, "Content-Type");
	struct multipart_part parts[MULTIPART_MAX_PARTS];
	char err[200];
	int n = body && multipart_is_form(ct) ? multipart_parse(ct, body, blen, parts, MULTIPART_MAX_PARTS, err, sizeof(err))
					      : -1;
	const struct multipart_part *f = n > 0 ? multipart_find(parts, n, "bundle") : NULL;
	if (!f || !f->is_file || f->len == 0) {
		json_decref(args);
		rq_bundle_refuse(rq, json_pack("{s:{s:s, s:s, s:{}, s:[]}}", "error", "code", "invalid_bundle", "message",
					       "Choose the bundle's .tar.gz or .zip file.", "fields", "problems"));
		return;
	}
	/* The file is the request's body: it lives until the request is
	 * answered. */
	st->check_route = r;
	st->check_who = *who;
	st->check_args = args;
	int rc = bundle_check_submit(&st->check, f->data, f->len, rq->slug, rq_event_base(rq), rq_bundle_checked, rq);
	if (rc != 0) {
		st->check_args = NULL;
		json_decref(args);
		rq_fail(rq, 503, rc == BUNDLE_CHECK_NOMEM ? "api: out of memory" : "the bundle queue is full");
	}
}

/* Decodes an operation's answer ({body, status}) onto L in one pass, and
 * keeps it in the guests' cache under KEY when it is a success. */
static void decode_answer(lua_State *L, struct rt_req *rq, const char *text, size_t len, const char *key, uint64_t gen)
{
	ljson_decode(L, text, len, true);
	if (!key)
		return;
	lua_getfield(L, -1, "status");
	if (lua_tointeger(L, -1) == 200)
		apicache_put(rq_cache(rq), key, gen, text, len);
	lua_pop(L, 1);
}

/* The answer straight from its text to Lua (status, body): the reads of
 * the site's pages (not the API's own requests, which answer JSON, nor a
 * drawn secret, which is added to the answer). */
static int push_api_text(lua_State *L, struct rt_req *rq, const char *text, size_t len, const char *key, uint64_t gen)
{
	decode_answer(L, rq, text, len, key, gen);
	lua_getfield(L, -1, "status");
	lua_getfield(L, -2, "body");
	lua_remove(L, -3);
	if (!lua_isinteger(L, -2))
		return luaL_error(L, "api: the operation gave no answer");
	return 2;
}

/* BODY as the API's JSON text (a download): nulls and empty lists stay. */
static void push_body_text(lua_State *L, const json_t *body)
{
	size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
	size_t need = json_dumpb(body, NULL, 0, flags);
	char *buf = need ? lua_newuserdatauv(L, need, 0) : NULL;   /* collected, even if a push raises */
	if (!buf || json_dumpb(body, buf, need, flags) != need)
		luaL_error(L, "api: the answer cannot be encoded");
	lua_pushlstring(L, buf, need);
	lua_remove(L, -2);
}

/* The answer of an operation with steps: status, body, events. */
static int push_call_answer(lua_State *L, struct rt_req *rq, const struct api_op *st)
{
	const struct api_call *c = st->call;
	bool text = st->text;
	if (rq->api_done && st->own) {
		json_decref(rq->api_answer);
		rq->api_answer = json_incref(c->body);
	}
	lua_pushinteger(L, c->status);
	if (text)
		push_body_text(L, c->body);
	else
		ljson_push(L, c->body, 0, true);
	if (c->events)
		ljson_push(L, c->events, 0, false);
	else
		lua_pushnil(L);
	return 3;
}

static int push_api_answer(lua_State *L, struct rt_req *rq, json_t **slot)
{
	int status;
	json_t *body;
	int rc;
	const struct api_op *st = rq->op_state;
	bool own = st->own, text = st->text;
	if (st->call)
		return push_call_answer(L, rq, st);
	if (!rq->api_done && !st->secret[0] && !text) {
		if (st->cached)
			return push_api_text(L, rq, st->cached, strlen(st->cached), NULL, 0);
		const PGresult *r = db_result(rq->txn, 0);
		if (!r || PQntuples(r) != 1 || PQgetisnull(r, 0, 0))
			return luaL_error(L, "api: the operation gave no answer");
		return push_api_text(L, rq, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0), st->cache_key,
				     st->cache_gen);
	}
	if (st->cached) {
		rc = api_answer_text(st->cached, NULL, &status, &body);
	} else {
		const PGresult *r = db_result(rq->txn, 0);
		rc = api_answer(r, st->secret, &status, &body);
		if (rc == 0 && status == 200 && st->cache_key && PQntuples(r) == 1)
			apicache_put(rq_cache(rq), st->cache_key, st->cache_gen, PQgetvalue(r, 0, 0),
				     (size_t)PQgetlength(r, 0, 0));
	}
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
	if (text)
		push_body_text(L, body);
	else
		ljson_push(L, body, 0, true);
	return 2;
}

/* ---------------------------------------------------------------- batches */

#define APIB_MAX 8

struct apib_item {
	const struct api_route *route;
	json_t *args;
	char *key;                      /* a guest's read to keep, or NULL */
	uint64_t gen;
	char *cached;                   /* answered from the cache */
	int qindex;                     /* its result in the batch, -1 when cached */
};

/* An "apib" call's own state (rq->op_state): its calls. */
struct apib_op {
	int n;
	struct apib_item items[];
};

static void rq_apib_free(struct rt_req *rq)
{
	struct apib_op *b = rq->op_state;
	for (int i = 0; b && i < b->n; i++) {
		json_decref(b->items[i].args);
		free(b->items[i].key);
		free(b->items[i].cached);
	}
	free(b);
	rq->op_state = NULL;
}

/* core.api_batch(calls, platform) -> {{status=, body=}, ...}: several of
 * the API's operations in one round trip to the database, in order, in
 * the request's transaction. Only operations without events and without
 * secrets (the prelude checks the events); yields (tag, "apib", nil,
 * json, platform and "1"). */
int core_api_batch(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	bool platform = lua_toboolean(L, 2);
	if (!lua_isyieldable(L))
		return plugin_error(L, "api.batch: works while serving a request only");
	lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
	if (n < 1 || n > APIB_MAX)
		return plugin_error(L, "api.batch: 1 to %d calls", APIB_MAX);
	json_t *list = json_array();
	for (lua_Integer i = 1; list && i <= n; i++) {
		lua_rawgeti(L, 1, i);
		lua_rawgeti(L, -1, 1);
		lua_rawgeti(L, -2, 2);
		lua_rawgeti(L, -3, 3);
		const char *method = lua_type(L, -3) == LUA_TSTRING ? lua_tostring(L, -3) : NULL;
		const char *path = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		char err[200] = "";
		json_t *args = lua_isnil(L, -1) ? json_object() : ljson_from_lua(L, -1, 0, err, sizeof(err));
		int status;
		char allow[64];
		const struct api_route *r = method && path ? api_route_find(method, path, strlen(path), NULL, &status,
									   allow, sizeof(allow))
							   : NULL;
		const char *bad = !method || !path ? "each call is {method, path, args}"
				  : !r ? "no such operation"
				  : !json_is_object(args) ? "the arguments must be a table of named fields"
				  : (r->flags & API_PLATFORM) && !platform ? "an operation of the platform's own plugins"
				  : (r->flags & API_STREAM) ? "a download, served over HTTP only"
				  : (r->flags & API_BUNDLE) ? "a bundle upload, over HTTP only"
				  : (r->flags & (API_STEPS | API_SECRET | API_DEFS)) || r->before || r->after
					  ? "an operation with events or secrets: call it alone"
					  : NULL;
		if (bad) {
			json_decref(args);
			json_decref(list);
			return plugin_error(L, "api.batch: call %d: %s", (int)i, bad);
		}
		json_array_append_new(list, json_pack("[I, s, o]", (json_int_t)api_route_index(r), path, args));
		lua_pop(L, 4);
	}
	size_t need;
	char *text = ljson_dump_box(L, list, JSON_COMPACT | JSON_SORT_KEYS, &need);
	if (!text)
		return plugin_error(L, "api.batch: the calls cannot be encoded");
	lua_pushliteral(L, "apib");
	lua_pushnil(L);
	lua_pushlstring(L, text, need);
	if (platform)
		lua_pushliteral(L, "1");
	else
		lua_pushnil(L);
	lua_rotate(L, 1, 4);
	lua_settop(L, 4);
	lsb_push_core_tag(L);
	lua_insert(L, 1);
	return lua_yield(L, 5);
}

/* params: tenant, plugin (NULL), the calls as JSON, platform. */
static bool rq_apib_prepare(struct rt_req *rq)
{
	const char *text = rq_param(rq, 2);
	json_t *list = text ? json_loads(text, 0, NULL) : NULL;
	size_t n = json_array_size(list);
	struct apib_op *b = n ? calloc(1, sizeof(*b) + n * sizeof(b->items[0])) : NULL;
	rq->op_state = b;
	if (!b) {
		json_decref(list);
		return false;           /* rq_apib_send fails the request */
	}
	b->n = (int)n;
	int pending = 0;
	for (size_t i = 0; i < n; i++) {
		struct apib_item *it = &b->items[i];
		json_t *call = json_array_get(list, i);
		const char *path = json_string_value(json_array_get(call, 1));
		json_t *args = json_array_get(call, 2);
		it->qindex = -1;
		it->route = path ? api_route_at((long)json_integer_value(json_array_get(call, 0))) : NULL;
		if (!it->route || !json_is_object(args)) {
			it->route = NULL;
			pending++;
			continue;
		}
		char *argtext = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
		it->key = argtext ? guest_key(rq, it->route, path, argtext) : NULL;
		free(argtext);
		if (!it->key)
			rq->page_unshared = true;       /* a read the data generation does not follow */
		it->gen = datagen_get(rq->tenant_id);
		it->cached = it->key ? cached_copy(rq, it->key, it->gen) : NULL;
		if (!it->cached) {
			/* The path's parameters over the arguments, as for one call. */
			json_t *params = json_object();
			it->args = json_deep_copy(args);
			if (it->args && (!params || api_route_params(it->route, path, strlen(path), params) != 0 ||
					 json_object_update(it->args, params) != 0)) {
				json_decref(it->args);
				it->args = NULL;        /* rq_apib_send fails the request */
			}
			json_decref(params);
			pending++;
		}
	}
	json_decref(list);
	if (pending)
		return false;
	rq_clear_params(rq);
	rq_answer_soon(rq);
	return true;
}

static void rq_apib_send(struct rt_req *rq)
{
	rq_clear_params(rq);
	struct apib_op *b = rq->op_state;
	struct api_principal who = {.viewer = rq->has_user ? rq->user_id : 0};
	snprintf(who.roles, sizeof(who.roles), "%s", rq->user_roles);
	int q = 0;
	for (int i = 0; b && i < b->n; i++) {
		struct apib_item *it = &b->items[i];
		if (it->cached)
			continue;
		char secret[API_SECRET_CHARS + 1] = "";
		if (!it->route || !it->args) {
			rq_fail(rq, 500, "api.batch: a call's arguments were lost");
			return;
		}
		int rc = api_prepare(it->route, it->route->method, &who, it->args, secret);
		if (rc == 0)
			rc = api_query(rq->txn, it->route, rq->tenant_id, &who, it->args);
		if (rc != 0) {
			char why[128];
			snprintf(why, sizeof(why), "api.batch: call %d: %s", i + 1,
				 rc == API_TOO_LARGE ? "the arguments are over 512 KiB as JSON"
						     : "could not be prepared or sent");
			rq_fail(rq, rc == API_TOO_LARGE ? 413 : 503, why);
			return;
		}
		if (it->route->flags & API_WRITE)
			rq->wrote = true;
		if ((it->route->flags & (API_WRITE | API_PRIVATE)) == API_WRITE)
			rq->changed = true;
		it->qindex = q++;
	}
	if (!q) {
		rq_fail(rq, 500, "api.batch: nothing to send");
		return;
	}
	db_send(rq->txn, rq_answered, rq);
}

/* {{status=, body=}, ...} in the calls' order. */
static int push_apib_answer(lua_State *L, struct rt_req *rq, json_t **slot)
{
	(void)slot;
	const struct apib_op *b = rq->op_state;
	lua_createtable(L, b->n, 0);
	for (int i = 0; i < b->n; i++) {
		const struct apib_item *it = &b->items[i];
		if (it->cached) {
			decode_answer(L, rq, it->cached, strlen(it->cached), NULL, 0);
		} else {
			const PGresult *r = it->qindex >= 0 ? db_result(rq->txn, it->qindex) : NULL;
			if (!r || PQntuples(r) != 1 || PQgetisnull(r, 0, 0))
				return luaL_error(L, "api.batch: call %d gave no answer", i + 1);
			decode_answer(L, rq, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0), it->key, it->gen);
		}
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* ---------------------------------------------------------------- the operations */

/* What an API call kept, once answered or when the request ends. */
static void api_op_free(struct rt_req *rq)
{
	struct api_op *st = rq->op_state;
	if (!st)
		return;
	if (st->call) {
		api_call_clear(st->call);
		free(st->call);
	}
	bundle_check_free(st->check);
	json_decref(st->check_args);
	free(st->cached);
	free(st->cache_key);
	OPENSSL_cleanse(st->secret, sizeof(st->secret));
	free(st);
	rq->op_state = NULL;
}

/* Whether a call writes is its route's to say (rq_api_send, rq_apib_send);
 * what guests read through them follows the tenant's data generation. */
const struct core_op rt_op_api = {.name = "api", .guest_data = true, .ready = rq_api_cached,
				  .send = rq_api_send, .push = push_api_answer, .free = api_op_free};
const struct core_op rt_op_apib = {.name = "apib", .guest_data = true, .ready = rq_apib_prepare,
				   .send = rq_apib_send, .push = push_apib_answer, .free = rq_apib_free};
