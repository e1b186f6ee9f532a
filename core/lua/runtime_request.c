/* A request's way through its tenant's Lua: finding the tenant's state
 * (the bundle fetched when it is new), a place in the worker's scheduler,
 * the CSRF token and the session, the coroutine run in slices, the core
 * calls it yields with (each an operation of the table below, sent in the
 * request's one transaction and answered back into the coroutine), and
 * the end: COMMIT when it wrote, then the answer (runtime_answer.c), or
 * the error page and ROLLBACK. rq->state says where it is. */
#include "runtime_internal.h"

#include <event2/event.h>
#include <jansson.h>
#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apicache.h"
#include "bundle.h"
#include "cookie.h"
#include "datagen.h"
#include "db.h"
#include "http.h"
#include "ljson.h"
#include "log.h"
#include "multipart.h"
#include "runtime.h"
#include "lsandbox.h"
#include "urlenc.h"
#include "worker.h"

static int stmt_session;

static void on_bundle(struct bundle *b, const char *why, void *arg);
static void start_with_bundle(struct rt_req *rq, struct bundle *b);
static void rq_start(struct rt_req *rq);
static void rq_step(struct rt_req *rq, int nargs);
static void rq_slice(struct rt_req *rq, int nargs);
static void rq_sched_run(struct lsched_item *it, void *arg);
static void rq_sched_refuse(struct lsched_item *it, int retry_after, void *arg);
static void rq_core_call(struct rt_req *rq, int nres);
static void rq_begun(struct db_txn *txn, enum db_status st, void *arg);
static void rq_session_loaded(struct db_txn *txn, enum db_status st, void *arg);
static void rq_session_begun(struct db_txn *txn, enum db_status st, void *arg);
static void rq_run_lua(struct rt_req *rq);
static void rq_begin_lua(struct rt_req *rq);

/* The core calls by the name they yield with. */
static const struct core_op *const core_ops[] = {
	&rt_op_get, &rt_op_put, &rt_op_delete, &rt_op_list, &rt_op_mail, &rt_op_api, &rt_op_apib, &rt_op_pdf,
};

void rq_register_statements(void)
{
	/* The one look-up of a session, the API's too (sql/code/sessions.sql):
	 * it moves the session's last use, kept when the request commits. */
	stmt_session = db_stmt("SELECT account_id, display_name, roles FROM api.session_principal($1, $2, $3, $4)");
}

void rq_scheduler_callbacks(void (**run)(struct lsched_item *, void *), void (**refuse)(struct lsched_item *, int, void *))
{
	*run = rq_sched_run;
	*refuse = rq_sched_refuse;
}

/* ---------------------------------------------------------------- finding the state */

/* A request of tenant T, not yet started. */
static struct rt_req *rq_new(struct rt_worker *rw, struct http_request *req, const struct tenant *t)
{
	struct rt_req *rq = calloc(1, sizeof(*rq));
	if (!rq)
		return NULL;
	rq->rw = rw;
	rq->req = req;
	rq->tenant_id = t->id;
	rq->version = t->bundle_version;
	rq->co_ref = LUA_NOREF;
	rq->state = RQ_LOCATING;
	snprintf(rq->slug, sizeof(rq->slug), "%s", t->slug);
	snprintf(rq->name, sizeof(rq->name), "%s", t->name);
	return rq;
}

/* Starts RQ in its tenant's live state of the right version (or, for a
 * preview, its draft's state), or fetches the bundle first (on_bundle
 * builds the state). */
void rq_locate(struct rt_req *rq)
{
	struct rt_worker *rw = rq->rw;
	struct tstate *ts = ts_find(rw, rq->tenant_id, rq->preview);
	if (ts && ts->version != rq->version) {
		ts_retire(rw, ts);
		ts = NULL;
	}
	if (ts) {
		if (rq->asset) {
			serve_asset(rq, ts->bundle);
			return;
		}
		rq->ts = ts;
		rq_start(rq);
		return;
	}
	if (rq->version == 0) {
		struct bundle *b = bundle_empty(rq->tenant_id);
		on_bundle(b, b ? NULL : "out of memory", rq);
		return;
	}
	bundle_get(rw->pool, rq->tenant_id, rq->version, on_bundle, rq);
}

void runtime_handle(struct rt_worker *rw, struct http_request *req, const struct tenant *t)
{
	struct rt_req *rq = rq_new(rw, req, t);
	if (!rq) {
		error_page(req, 503);
		return;
	}
	size_t plen;
	const char *path = http_req_path(req, &plen);
	rq->asset = plen > sizeof(ASSETS_PREFIX) - 1 && memcmp(path, ASSETS_PREFIX, sizeof(ASSETS_PREFIX) - 1) == 0;
	if (!preview_route(rq))
		rq_locate(rq);
}

void runtime_api(struct rt_worker *rw, struct http_request *req, const struct tenant *t, struct db_txn **txnp,
		 const struct api_principal *who, const char *method, const char *path, json_t *args,
		 void (*done)(void *arg, int status, json_t *body), void *arg)
{
	struct rt_req *rq = rq_new(rw, req, t);
	if (!rq) {
		done(arg, 503, NULL);
		return;
	}
	rq->txn = *txnp;
	rq->api_txnp = txnp;
	rq->has_user = who->viewer != 0;
	rq->user_id = who->viewer;
	snprintf(rq->user_roles, sizeof(rq->user_roles), "%s", who->roles);
	snprintf(rq->session_hash, sizeof(rq->session_hash), "%s", who->session);
	snprintf(rq->csrf, sizeof(rq->csrf), "%s", who->csrf);
	rq->secure = http_req_secure(req);
	rq->api_done = done;
	rq->api_arg = arg;
	rq->api_args = json_incref(args);
	snprintf(rq->api_method, sizeof(rq->api_method), "%s", method);
	snprintf(rq->api_path, sizeof(rq->api_path), "%s", path);
	rq_locate(rq);
}

void runtime_events(struct rt_worker *rw, const struct tenant *t, struct db_txn **txnp, json_t *events,
		    void (*done)(void *arg, int status, json_t *body), void *arg)
{
	struct rt_req *rq = rq_new(rw, NULL, t);
	if (!rq) {
		done(arg, 503, NULL);
		return;
	}
	rq->txn = *txnp;
	rq->api_txnp = txnp;
	rq->events = true;
	rq->api_done = done;
	rq->api_arg = arg;
	rq->api_args = json_incref(events);
	snprintf(rq->api_method, sizeof(rq->api_method), "EVENTS");
	rq_locate(rq);
}

/* Takes over the reference to B. */
static void on_bundle(struct bundle *b, const char *why, void *arg)
{
	struct rt_req *rq = arg;
	if (!b) {
		log_warn("request=%s tenant=%s: bundle version %d unavailable: %s", http_req_id(rq->req), rq->slug,
			 rq->version, why ? why : "?");
		rq_fail(rq, 503, NULL);
		return;
	}
	if (rq->asset) {
		serve_asset(rq, b);
		bundle_unref(b);
		return;
	}
	start_with_bundle(rq, b);
	bundle_unref(b);
}

static void start_with_bundle(struct rt_req *rq, struct bundle *b)
{
	struct rt_worker *rw = rq->rw;
	/* Another request may have built it while this one waited. */
	struct tstate *ts = ts_find(rw, rq->tenant_id, rq->preview);
	if (ts && ts->version != rq->version) {
		ts_retire(rw, ts);
		ts = NULL;
	}
	if (!ts) {
		char err[512];
		ts = ts_build(rw, rq->tenant_id, rq->slug, rq->name, b, rw->state_limit, err, sizeof(err));
		if (!ts) {
			log_error("request=%s tenant=%s: cannot start the tenant's Lua: %s", http_req_id(rq->req),
				  rq->slug, err);
			rq_fail(rq, 500, NULL);
			return;
		}
		ts->preview = rq->preview != 0;
		if (ts->preview)
			rw_watch_previews(rw);
		ts_touch(rw, ts);
		rw_trim(rw, ts);
		log_info("tenant=%s: Lua state for %s %d ready (%zu KiB)", rq->slug,
			 ts->preview ? "the preview of draft" : "version", ts->version, ts_bytes(ts) / 1024);
	}
	rq->ts = ts;
	rq_start(rq);
}

/* ---------------------------------------------------------------- before any Lua */

/* Adds the fields of an urlencoded S (name -> first value, decoded, at
 * most 100 fields of bounded size) to the table on top. */
static void push_multipart(lua_State *L, const char *ctype, const char *body, size_t len);

static void push_urlencoded(lua_State *L, const char *s, size_t len)
{
	static _Thread_local char v[65536];
	const char *end = s + len;
	int count = 0;
	while (s < end && count < 100) {
		const char *amp = memchr(s, '&', (size_t)(end - s));
		size_t n = amp ? (size_t)(amp - s) : (size_t)(end - s);
		const char *eq = memchr(s, '=', n);
		size_t klen = eq ? (size_t)(eq - s) : n;
		char k[256];
		long kl = urlenc_decode(s, klen, k, sizeof(k));
		long vl = eq ? urlenc_decode(eq + 1, n - klen - 1, v, sizeof(v)) : 0;
		if (!eq)
			v[0] = '\0';
		if (kl > 0 && vl >= 0) {
			lua_pushlstring(L, k, (size_t)kl);
			if (lua_rawget(L, -2) == LUA_TNIL) {
				lua_pushlstring(L, k, (size_t)kl);
				lua_pushlstring(L, v, (size_t)vl);
				lua_rawset(L, -4);
			}
			lua_pop(L, 1);
		}
		count++;
		s += n + 1;
	}
}

/* Pushes the request table: method, path, query, lang, id, headers, body. */
static int push_request(lua_State *L)
{
	struct rt_req *rq = lua_touserdata(L, 1);
	struct http_request *req = rq->req;
	lua_createtable(L, 0, 8);
	lua_pushstring(L, http_req_method_name(req));
	lua_setfield(L, -2, "method");
	size_t plen;
	const char *path = http_req_path(req, &plen);
	lua_pushlstring(L, path, plen);
	lua_setfield(L, -2, "path");
	lua_pushstring(L, http_req_lang(req));
	lua_setfield(L, -2, "lang");
	lua_pushstring(L, http_req_id(req));
	lua_setfield(L, -2, "id");
	/* The query: name -> first value, percent-decoded, at most 100. */
	lua_createtable(L, 0, 4);
	const char *q = http_req_query(req);
	if (q)
		push_urlencoded(L, q, strlen(q));
	lua_setfield(L, -2, "query");
	static const char *const headers[] = {"user-agent", "referer", "accept", "content-type", "host", "if-none-match", NULL};
	lua_createtable(L, 0, 4);
	for (int i = 0; headers[i]; i++) {
		const char *v = http_req_header(req, headers[i]);
		if (v) {
			lua_pushstring(L, v);
			lua_setfield(L, -2, headers[i]);
		}
	}
	lua_setfield(L, -2, "headers");
	size_t blen;
	const void *body = http_req_body(req, &blen);
	lua_pushlstring(L, body ? body : "", body ? blen : 0);
	lua_setfield(L, -2, "body");
	/* A page that may be kept is made with a stand-in token the daemon
	 * drew, never the guest's own, which the guest chooses (page_keep). */
	lua_pushstring(L, rq->page_key ? rq->page_csrf : rq->csrf);
	lua_setfield(L, -2, "csrf");
	lua_pushstring(L, rq->secure ? "https" : "http");
	lua_setfield(L, -2, "scheme");
	const char *ctype = http_req_header(req, "Content-Type");
	lua_createtable(L, 0, 4);
	if (body && ctype && strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0)
		push_urlencoded(L, body, blen);
	else if (body && multipart_is_form(ctype))
		push_multipart(L, ctype, body, blen);
	lua_setfield(L, -2, "form");
	if (rq->has_user) {
		lua_createtable(L, 0, 3);
		lua_pushinteger(L, rq->user_id);
		lua_setfield(L, -2, "id");
		lua_pushstring(L, rq->user_name);
		lua_setfield(L, -2, "name");
		lua_createtable(L, 0, 3);
		char roles[sizeof(rq->user_roles)];
		snprintf(roles, sizeof(roles), "%s", rq->user_roles);
		for (char *save = NULL, *role = strtok_r(roles, " ", &save); role; role = strtok_r(NULL, " ", &save)) {
			lua_pushboolean(L, 1);
			lua_setfield(L, -2, role);
		}
		lua_setfield(L, -2, "roles");
		lua_setfield(L, -2, "user");
	}
	return 1;
}

/* The value of the plain field NAME of a multipart/form-data BODY into
 * OUT ("" when absent, too long or the body malformed). */
static void multipart_value(const char *ctype, const char *body, size_t len, const char *name, char *out,
			    size_t outlen)
{
	struct multipart_part parts[MULTIPART_MAX_PARTS];
	char err[128];
	int n = multipart_parse(ctype, body, len, parts, MULTIPART_MAX_PARTS, err, sizeof(err));
	const struct multipart_part *p = n > 0 ? multipart_find(parts, n, name) : NULL;
	out[0] = '\0';
	if (p && !p->is_file && p->len < outlen) {
		memcpy(out, p->data, p->len);
		out[p->len] = '\0';
	}
}

/* A multipart/form-data form's plain fields (name -> value, the first of
 * each, up to 4 KiB) into the table on top of L; a file field is there
 * as its file's name only: its content reaches the operation that takes
 * it (POST /bundle) from the request itself. A malformed body gives an
 * empty form. */
static void push_multipart(lua_State *L, const char *ctype, const char *body, size_t len)
{
	struct multipart_part parts[MULTIPART_MAX_PARTS];
	char err[128];
	int n = multipart_parse(ctype, body, len, parts, MULTIPART_MAX_PARTS, err, sizeof(err));
	for (int i = 0; i < n; i++) {
		lua_getfield(L, -1, parts[i].name);
		bool seen = !lua_isnil(L, -1);
		lua_pop(L, 1);
		if (seen || (!parts[i].is_file && parts[i].len > 4096))
			continue;
		if (parts[i].is_file)
			lua_pushstring(L, parts[i].filename);
		else
			lua_pushlstring(L, parts[i].data, parts[i].len);
		lua_setfield(L, -2, parts[i].name);
	}
}

/* Finds the value of NAME in an application/x-www-form-urlencoded S. */
static long form_value(const char *s, size_t len, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	const char *end = s + len;
	while (s < end) {
		const char *amp = memchr(s, '&', (size_t)(end - s));
		size_t plen = amp ? (size_t)(amp - s) : (size_t)(end - s);
		if (plen > nlen && s[nlen] == '=' && memcmp(s, name, nlen) == 0)
			return urlenc_decode(s + nlen + 1, plen - nlen - 1, out, outlen);
		s += plen + 1;
	}
	return -1;
}

static bool unsafe_method(const struct http_request *req)
{
	enum http_verb m = http_req_method(req);
	return m == HTTP_M_POST || m == HTTP_M_PUT || m == HTTP_M_PATCH || m == HTTP_M_DELETE;
}

/* The one request a form of another site may send: POST /afmelden/TOKEN,
 * a mail's one-click unsubscribe (RFC 8058). A mail client posts it with
 * no cookie and no CSRF token; the token in the path is the authority. It
 * is therefore served as a guest's, the session cookie left unread, so a
 * forged post acts for nobody. Only this exact shape: one segment of
 * token characters, nothing after it. */
#define UNSUBSCRIBE_PREFIX "/afmelden/"
#define UNSUBSCRIBE_TOKEN_MAX 128

static bool token_path(const struct http_request *req)
{
	if (http_req_method(req) != HTTP_M_POST)
		return false;
	size_t len;
	const char *path = http_req_path(req, &len);
	size_t plen = sizeof(UNSUBSCRIBE_PREFIX) - 1;
	if (!path || len <= plen || len - plen > UNSUBSCRIBE_TOKEN_MAX || memcmp(path, UNSUBSCRIBE_PREFIX, plen) != 0)
		return false;
	for (size_t i = plen; i < len; i++) {
		char c = path[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* Before any Lua: the CSRF token (a cookie, given to every page; a
 * state-changing request must send it back as the form field `csrf` or
 * the header X-CSRF-Token) and the session, read in the request's
 * transaction. POST /afmelden/TOKEN alone needs neither (token_path). */
static void rq_start(struct rt_req *rq)
{
	struct http_request *req = rq->req;
	rq->ts->active++;
	ts_touch(rq->rw, rq->ts);
	if (rq->api_done) {
		/* The API checked who asks, and its CSRF header. It comes with
		 * its transaction, and waits for a place as it would wait for a
		 * connection of the pool. */
		rq->state = RQ_QUEUED;
		lsched_start(&rq->ts->sched, &rq->item);
		return;
	}
	const char *cookies = http_req_header(req, "Cookie");
	rq->secure = http_req_secure(req);
	if (cookie_get(cookies, rq->secure ? "__Host-at_csrf" : "at_csrf", rq->csrf, sizeof(rq->csrf)) < 0 ||
	    !token_valid(rq->csrf)) {
		if (token_new(rq->csrf) != 0) {
			rq_fail(rq, 503, "no randomness for a CSRF token");
			return;
		}
		rq->new_csrf = true;
	}
	bool by_token = token_path(req);
	if (unsafe_method(req) && !by_token) {
		char sent[TOKEN_CHARS + 2] = "";
		const char *hdr = http_req_header(req, "X-CSRF-Token");
		size_t blen;
		const char *body = http_req_body(req, &blen);
		if (hdr)
			snprintf(sent, sizeof(sent), "%s", hdr);
		else if (body && multipart_is_form(http_req_header(req, "Content-Type")))
			multipart_value(http_req_header(req, "Content-Type"), body, blen, "csrf", sent, sizeof(sent));
		else if (body)
			form_value(body, blen, "csrf", sent, sizeof(sent));
		if (rq->new_csrf || !token_equal(sent, rq->csrf)) {
			rq_fail(rq, 403, NULL);
			return;
		}
	}
	if (rq->session_read) {
		/* A preview's look-up read the session (its principal, or
		 * none) and committed its last use: it is not read again. The
		 * path's token alone acts, for nobody. */
		if (by_token) {
			rq->has_user = false;
			rq->user_id = 0;
			rq->user_name[0] = rq->user_roles[0] = rq->session_hash[0] = '\0';
		}
		rq->state = RQ_QUEUED;
		lsched_start(&rq->ts->sched, &rq->item);
		return;
	}
	char token[TOKEN_CHARS + 2];
	if (by_token || cookie_get(cookies, rq->secure ? "__Host-at_session" : "at_session", token, sizeof(token)) < 0 ||
	    !token_valid(token) || !rq->rw->pool) {
		if (!page_from_cache(rq)) {
			rq->state = RQ_QUEUED;
			lsched_start(&rq->ts->sched, &rq->item);
		}
		return;
	}
	/* The session is read once the request has its place: a request that
	 * waits for one holds no connection of the pool. */
	char hash[65];
	token_hash_hex(token, hash);
	rq->params[0] = strdup(hash);
	rq->nparams = 1;
	rq->session_pending = true;
	rq->state = RQ_QUEUED;
	lsched_start(&rq->ts->sched, &rq->item);
}

static void rq_session_begun(struct db_txn *txn, enum db_status st, void *arg)
{
	struct rt_req *rq = arg;
	if (st != DB_OK) {
		rq_fail(rq, 503, NULL);
		return;
	}
	rq->txn = txn;
	struct rq_session_args a;
	rq_session_args(rq, &a);
	const char *p[4] = {a.tenant, rq->params[0], a.idle, a.absolute};
	if (db_query(txn, stmt_session, 4, p) != 0) {
		rq_fail(rq, 500, "session lookup refused by the pool");
		return;
	}
	db_send(txn, rq_session_loaded, rq);
}

static void rq_session_loaded(struct db_txn *txn, enum db_status st, void *arg)
{
	struct rt_req *rq = arg;
	char hash[65];
	snprintf(hash, sizeof(hash), "%s", rq->params[0] ? rq->params[0] : "");
	rq_clear_params(rq);
	if (st != DB_OK) {
		rq_fail(rq, st == DB_UNAVAILABLE ? 503 : 500, st == DB_UNAVAILABLE ? NULL : db_error(txn));
		return;
	}
	const PGresult *r = db_result(txn, 0);
	if (PQntuples(r) == 1) {
		rq_set_user(rq, r, 0, hash);
		rq->touched = true;     /* its last use may have moved: committed */
	}
	rq_run_lua(rq);
}

void rq_session_args(const struct rt_req *rq, struct rq_session_args *a)
{
	snprintf(a->tenant, sizeof(a->tenant), "%lld", (long long)rq->tenant_id);
	snprintf(a->idle, sizeof(a->idle), "%lld", (long long)rq->rw->session_idle_s);
	snprintf(a->absolute, sizeof(a->absolute), "%lld", (long long)rq->rw->session_absolute_s);
}

void rq_set_user(struct rt_req *rq, const PGresult *r, int col, const char *session_hash)
{
	rq->has_user = true;
	snprintf(rq->session_hash, sizeof(rq->session_hash), "%s", session_hash);
	rq->user_id = db_int(r, 0, col);
	snprintf(rq->user_name, sizeof(rq->user_name), "%s", PQgetvalue(r, 0, col + 1));
	snprintf(rq->user_roles, sizeof(rq->user_roles), "%s", PQgetvalue(r, 0, col + 2));
}

/* handle_api(method, path, args): the API request's arguments. */
static int push_api_request(lua_State *L)
{
	struct rt_req *rq = lua_touserdata(L, 1);
	lua_pushstring(L, rq->api_method);
	lua_pushstring(L, rq->api_path);
	ljson_push(L, rq->api_args, 0, false);
	return 3;
}

/* handle_events(events): a job's events. */
static int push_events_request(lua_State *L)
{
	struct rt_req *rq = lua_touserdata(L, 1);
	ljson_push(L, rq->api_args, 0, false);
	return 1;
}

/* ---------------------------------------------------------------- running */

/* The request (which has its place) starts its Lua at its next turn. */
static void rq_run_lua(struct rt_req *rq)
{
	lsched_continue(&rq->item);
}

static void rq_sched_run(struct lsched_item *it, void *arg)
{
	(void)arg;
	struct rt_req *rq = (struct rt_req *)((char *)it - offsetof(struct rt_req, item));
	if (rq->session_pending) {
		rq->session_pending = false;
		rq->state = RQ_SESSION;
		db_begin(rq->rw->pool, rq->tenant_id, rq_session_begun, rq);
	} else if (!rq->co) {
		rq->state = RQ_RUNNING;
		rq_begin_lua(rq);
	} else {
		rq_slice(rq, rq->resume_nargs);
	}
}

/* Its tenant has too many requests waiting for Lua, or this one waited
 * too long: 503 with Retry-After, rather than taking the others' time. */
static void rq_sched_refuse(struct lsched_item *it, int retry_after, void *arg)
{
	(void)arg;
	(void)retry_after;
	struct rt_req *rq = (struct rt_req *)((char *)it - offsetof(struct rt_req, item));
	log_warn("request=%s tenant=%s: refused: the tenant's requests wait for their turn at Lua",
		 http_req_id(rq->req), rq->slug);
	rq_fail(rq, 503, NULL);
}

static void rq_begin_lua(struct rt_req *rq)
{
	struct tstate *ts = rq->ts;
	lua_State *L = ts->sb->L;
	lsb_budget_init(&rq->budget, rq->rw->instructions, rq->rw->time_ms);
	rq->co = lua_newthread(L);
	rq->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	/* handle(request), or handle_api(method, path, args), the arguments
	 * built under protection. */
	bool api = rq->api_done != NULL && !rq->events;
	int nargs = api ? 3 : 1;
	lua_rawgeti(L, LUA_REGISTRYINDEX, rq->events ? ts->events_ref : api ? ts->api_ref : ts->handle_ref);
	lua_pushcfunction(L, rq->events ? push_events_request : api ? push_api_request : push_request);
	lua_pushlightuserdata(L, rq);
	ts->sb->budget = &rq->budget;
	int st = lua_pcall(L, 1, nargs, 0);
	ts->sb->budget = NULL;
	if (st != LUA_OK || !lua_checkstack(rq->co, nargs + 3)) {
		lua_pop(L, st != LUA_OK ? 2 : nargs + 1);
		rq_fail(rq, 500, "the request could not be prepared (out of memory)");
		return;
	}
	lua_xmove(L, rq->co, nargs + 1);
	rq_slice(rq, nargs);
}

/* The request's coroutine goes on with NARGS values on its stack, when
 * the scheduler gives it its turn. */
static void rq_step(struct rt_req *rq, int nargs)
{
	rq->resume_nargs = nargs;
	lsched_continue(&rq->item);
}

/* Runs the request's coroutine for one slice of Lua time. */
static void rq_slice(struct rt_req *rq, int nargs)
{
	struct tstate *ts = rq->ts;
	int nres = 0;
	ts->running = rq;
	rq->budget.slice_end_ns = lsched_now_ns() + lsched_slice_ns(rq->rw->sched);
	int64_t cpu = lsched_cpu_ns();
	int st = lsb_resume(ts->sb, rq->co, nargs, &nres, &rq->budget);
	lsched_charge(&rq->item, lsched_cpu_ns() - cpu);
	ts->running = NULL;
	if (st == LUA_YIELD && lsb_core_yield(rq->co, nres)) {
		rq_core_call(rq, nres);
		return;
	}
	if (st == LUA_YIELD && rq->budget.sliced) {
		/* Its slice is spent: the others' turn, then its next. */
		rq->budget.sliced = false;
		lua_pop(rq->co, nres);
		rq_step(rq, 0);
		return;
	}
	if (st == LUA_YIELD) {
		lua_pop(rq->co, nres);
		rq_fail(rq, 500, "coroutine.yield outside a coroutine");
		return;
	}
	if (st != LUA_OK) {
		const char *msg = rq->budget.killed ? rq->budget.why : lua_tostring(rq->co, -1);
		char where[LUA_IDSIZE + 32] = "", where_else[LUA_IDSIZE + 48] = "";
		/* Say where it was stopped: in the plugin's code, not in the
		 * runtime's wrapper (plugin.render) or the site's layout that
		 * it called; that place follows. */
		if (rq->budget.killed)
			lsb_kill_where(rq->co, 0, where, sizeof(where), where_else, sizeof(where_else));
		char why[900];
		snprintf(why, sizeof(why), "%s%s%s", where, msg ? msg : "error object is not a string", where_else);
		rq_fail(rq, 500, why);
		return;
	}
	if (rq->api_done) {
		rq_api_respond(rq, nres);
		return;
	}
	/* The answer: the first result. */
	if (nres == 0)
		lua_pushnil(rq->co);
	else if (nres > 1)
		lua_pop(rq->co, nres - 1);
	rq_respond(rq, lua_gettop(rq->co));
}

void rq_clear_params(struct rt_req *rq)
{
	for (int i = 0; i < rq->nparams; i++) {
		free(rq->params[i]);
		rq->params[i] = NULL;
	}
	rq->nparams = 0;
}

/* ---------------------------------------------------------------- core calls */

/* The operation named NAME, or NULL. */
static const struct core_op *core_op_lookup(const char *name)
{
	for (size_t i = 0; i < sizeof(core_ops) / sizeof(core_ops[0]); i++)
		if (strcmp(core_ops[i]->name, name) == 0)
			return core_ops[i];
	return NULL;
}

struct event_base *rq_event_base(const struct rt_req *rq)
{
	return rq->rw->w->base;
}

static void answered_soon(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct rt_req *rq = arg;
	rq_answered(rq->txn, DB_OK, rq);
}

/* A call answered without the database (a guest's read the worker has, a
 * refusal, a mail the outbox refused) goes on from the event loop, as a
 * database answer does: answered from inside the call, a plugin calling
 * in a loop would nest rq_step in rq_step on the C stack, one level a
 * call, until the worker's stack ran out. */
void rq_answer_soon(struct rt_req *rq)
{
	if (event_base_once(rq_event_base(rq), -1, EV_TIMEOUT, answered_soon, rq, NULL) != 0)
		rq_fail(rq, 503, "the call's answer could not be scheduled");
}

/* A core call: (tag, op, plugin, args...) on the coroutine's stack. The
 * operation is resolved once, the statement's parameters are copied out
 * (tenant first), the stack cleared, and the call sent within the
 * request's transaction. */
static void rq_core_call(struct rt_req *rq, int nres)
{
	lua_State *co = rq->co;
	int base = lua_gettop(co) - nres + 1;
	const char *name = lua_tostring(co, base + 1);
	rq->op = name ? core_op_lookup(name) : NULL;
	if (!rq->op) {
		lua_pop(co, nres);
		rq_fail(rq, 500, "core call with an unknown operation");
		return;
	}
	rq->state = RQ_CALLING;
	char tid[24];
	snprintf(tid, sizeof(tid), "%lld", (long long)rq->tenant_id);
	rq->params[0] = strdup(tid);
	rq->nparams = 1;
	for (int i = base + 2; i < base + nres && rq->nparams < 6; i++) {
		const char *v = lua_isnil(co, i) ? NULL : lua_tostring(co, i);
		rq->params[rq->nparams++] = v ? strdup(v) : NULL;
	}
	lua_pop(co, nres);
	rq->wait_from_ms = lsched_now_ns() / 1000000;
	if (rq->op->writes)
		rq->wrote = true;
	/* A guest's page is kept only when it is made of what a guest may
	 * have from the cache (the store and mail are not in the tenant's data
	 * generation). */
	if (!rq->op->guest_data)
		rq->page_unshared = true;
	/* A guest's read the worker has: no transaction at all. */
	if (rq->op->ready && rq->op->ready(rq))
		return;
	if (!rq->rw->pool) {
		rq_fail(rq, 503, "no database configured");
		return;
	}
	if (!rq->txn) {
		db_begin(rq->rw->pool, rq->tenant_id, rq_begun, rq);
		return;
	}
	rq->op->send(rq);
}

static void rq_begun(struct db_txn *txn, enum db_status st, void *arg)
{
	struct rt_req *rq = arg;
	if (st != DB_OK) {
		rq_fail(rq, 503, NULL);
		return;
	}
	rq->txn = txn;
	rq->op->send(rq);
}

/* Converts the core call's result into Lua values on L (run under
 * pcall: conversions allocate in the sandbox and may hit its cap). */
static int push_answer(lua_State *L)
{
	struct rt_req *rq = lua_touserdata(L, 1);
	json_t **slot = lua_touserdata(L, 2);
	return rq->op->push(L, rq, slot);
}

/* A core call's wait (the database, a PDF, a bundle's check) is not the
 * Lua's time: the deadline moves on by it. The waits together are bounded
 * by request_wait_limit; each call by its own deadlines. When the database
 * is slow the answer is thus 503, never a time limit blamed on the
 * plugin. False when the request has waited too long (then failed). */
static bool rq_waited(struct rt_req *rq)
{
	if (!rq->wait_from_ms)
		return true;
	int64_t waited = lsched_now_ns() / 1000000 - rq->wait_from_ms;
	rq->wait_from_ms = 0;
	if (waited > 0) {
		rq->budget.deadline_ms += waited;
		rq->waited_ms += waited;
	}
	if (rq->waited_ms > rq->rw->wait_ms) {
		char why[200];
		snprintf(why, sizeof(why), "store.%s: the request waited %lld ms for the database and the platform's work (request_wait_limit)",
			 rq->op->name, (long long)rq->waited_ms);
		rq_fail(rq, 503, why);
		return false;
	}
	return true;
}

void rq_answered(struct db_txn *txn, enum db_status st, void *arg)
{
	struct rt_req *rq = arg;
	rq_clear_params(rq);
	if (!rq_waited(rq))
		return;
	if (st != DB_OK) {
		char why[300];
		snprintf(why, sizeof(why), "store.%s: %s", rq->op->name,
			 st == DB_UNAVAILABLE ? "database unavailable" : db_error(txn));
		rq_fail(rq, st == DB_UNAVAILABLE ? 503 : 500, why);
		return;
	}
	lua_State *L = rq->ts->sb->L;
	json_t *pending = NULL;
	int top = lua_gettop(L);
	lua_pushcfunction(L, push_answer);
	lua_pushlightuserdata(L, rq);
	lua_pushlightuserdata(L, &pending);
	rq->ts->sb->budget = &rq->budget;
	int pst = lua_pcall(L, 2, LUA_MULTRET, 0);
	rq->ts->sb->budget = NULL;
	if (pending)
		json_decref(pending);
	int n = lua_gettop(L) - top;
	if (pst != LUA_OK || !lua_checkstack(rq->co, n + 2)) {
		lua_settop(L, top);
		rq_fail(rq, 500, rq->budget.killed ? rq->budget.why : "store result could not be converted");
		return;
	}
	lua_xmove(L, rq->co, n);
	if (rq->op->free)
		rq->op->free(rq);
	rq->op = NULL;
	rq->state = RQ_RUNNING;
	rq_step(rq, n);
}

/* ---------------------------------------------------------------- the end */

void rq_committed(struct db_txn *txn, enum db_status st, void *arg)
{
	struct rt_req *rq = arg;
	rq->txn = NULL;
	/* What this daemon's guests read is stale from now on; the other
	 * daemons hear it by NOTIFY. */
	if (rq->changed)
		datagen_bump(rq->tenant_id);
	if (st != DB_OK) {
		log_warn("request=%s tenant=%s: commit failed: %s", http_req_id(rq->req), rq->slug,
			 st == DB_UNAVAILABLE ? "database unavailable" : db_error(txn));
		/* The response is not sent; its headers and body go with a
		 * fresh status. */
		rq_fail(rq, 503, NULL);
		return;
	}
	send_answer(rq);
}

/* Answers with an error page, rolls back, logs WHY (a Lua error with file
 * and line) with the request id. */
void rq_fail(struct rt_req *rq, int status, const char *why)
{
	rq->state = RQ_ANSWERED;
	if (why)
		log_error("request=%s tenant=%s: %s", http_req_id(rq->req), rq->slug, why);
	if (rq->api_done) {
		/* The transaction is the API's: it rolls back and answers. */
		*rq->api_txnp = rq->txn;
		rq->txn = NULL;
		rq->api_done(rq->api_arg, status, NULL);
		rq_free(rq);
		return;
	}
	if (rq->txn) {
		db_rollback(rq->txn);
		rq->txn = NULL;
	}
	error_page(rq->req, status);
	rq_free(rq);
}

void rq_free(struct rt_req *rq)
{
	lsched_done(&rq->item);
	rq_clear_params(rq);
	if (rq->op && rq->op->free)
		rq->op->free(rq);       /* a call that was not answered */
	free(rq->answer);
	free(rq->json);
	json_decref(rq->api_args);
	json_decref(rq->api_answer);
	free(rq->page_key);
	if (rq->ts) {
		lua_State *L = rq->ts->sb->L;
		luaL_unref(L, LUA_REGISTRYINDEX, rq->co_ref);
		/* A request stopped at the memory cap leaves its garbage; the
		 * next one must not find the state still full. */
		if (rq->budget.killed)
			lua_gc(L, LUA_GCCOLLECT);
		ts_release(rq->ts);
	}
	free(rq);
}
