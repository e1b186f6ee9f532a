/* The JSON API over HTTP, under /api/v1: who asks (an API token, or a
 * session cookie with its CSRF header), the arguments from the query
 * string and the body, the operation (api.c) in the request's
 * transaction, with its steps (apicall.c) or its events in the tenant's
 * Lua (runtime_api), a guest's reads from the worker's cache, ETags on
 * reads, and the one error shape {"error": {"code", "message", "fields"}}
 * for everything that goes wrong, here or in SQL. */
#include "api_http.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "apicache.h"
#include "api_stream.h"
#include "apicall.h"
#include "bundle_check.h"
#include "app_worker.h"
#include "cookie.h"
#include "datagen.h"
#include "encode.h"
#include "ljson.h"
#include "log.h"
#include "runtime.h"
#include "urlenc.h"
#include "worker.h"

#define API_PREFIX "/api/v1"
#define QUERY_VALUE_MAX 1024

#define TOO_LARGE_MESSAGE "The arguments are over 512 KiB as JSON."

static int stmt_session, stmt_token;
static int64_t session_idle_s = 1800, session_absolute_s = 43200;

enum api_auth { AUTH_GUEST, AUTH_SESSION, AUTH_TOKEN };

struct api_req {
	struct app_worker *app;          /* the worker's pool, cache and Lua states */
	struct http_request *req;
	const struct api_route *route;
	int64_t tenant_id;
	int bundle_version;
	char slug[64];
	char name[801];
	char path[256];                 /* relative to /api/v1 */
	json_t *args;
	enum api_auth auth;
	char hash[65];                  /* of the session cookie or the API token */
	char secret[API_SECRET_CHARS + 1];
	struct api_principal who;
	struct db_txn *txn;
	int status;
	int retry_after;                /* a 429's seconds (error.retry_after), sent as Retry-After; 0 none */
	char *body;                     /* the answer's JSON text */
	char *cache_key;                /* a guest's read to keep in the worker's cache */
	uint64_t cache_gen;
	struct api_call *call;          /* an operation with steps (apicall.h), or NULL */
	struct bundle_check *check;     /* an upload being checked (bundle_check.h), or NULL */
};

void api_http_register_statements(void)
{
	stmt_session = db_stmt("SELECT account_id, display_name, roles, csrf_token"
			       " FROM api.session_principal($1, $2, $3, $4)");
	stmt_token = db_stmt("SELECT account_id, display_name, roles FROM api.token_principal($1, $2)");
}

void api_http_configure(int64_t idle_s, int64_t absolute_s)
{
	__atomic_store_n(&session_idle_s, idle_s, __ATOMIC_RELAXED);
	__atomic_store_n(&session_absolute_s, absolute_s, __ATOMIC_RELAXED);
}

/* The cookies of a sign-in (the session and its CSRF token) or of a
 * sign-out or deletion, once the change is committed. */
static void add_cookies(struct http_request *req, const struct api_call *c)
{
	char value[COOKIE_SET_MAX];
	bool secure = http_req_secure(req);
	if (c->session[0]) {
		cookie_csrf_value(value, secure, c->csrf);
		http_resp_header(req, "Set-Cookie", value);
		cookie_session_value(value, secure, c->session);
		http_resp_header(req, "Set-Cookie", value);
	} else if (c->signed_out) {
		cookie_session_value(value, secure, NULL);
		http_resp_header(req, "Set-Cookie", value);
	}
}

static void api_free(struct api_req *ar)
{
	if (ar->call) {
		api_call_clear(ar->call);
		free(ar->call);
	}
	bundle_check_free(ar->check);
	json_decref(ar->args);
	free(ar->body);
	free(ar->cache_key);
	OPENSSL_cleanse(ar->secret, sizeof(ar->secret));
	free(ar);
}

static void common_headers(struct http_request *req)
{
	if (http_req_secure(req))
		http_resp_header(req, "Strict-Transport-Security", "max-age=31536000");
	http_resp_header(req, "X-Content-Type-Options", "nosniff");
	http_resp_header(req, "Referrer-Policy", "no-referrer");
	http_resp_header(req, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
	http_resp_header(req, "Vary", "Cookie, Authorization");
}

static void send_json(struct http_request *req, int status, const char *text, size_t len)
{
	http_resp_status(req, status);
	common_headers(req);
	if (status == 401)
		http_resp_header(req, "WWW-Authenticate", "Bearer realm=\"api\"");
	http_resp_header(req, "Cache-Control", "no-store");
	http_resp_header(req, "Content-Type", "application/json");
	http_resp_body(req, text, len);
	http_resp_send(req);
}

/* An error found by the daemon itself, in the API's shape. */
static void send_error(struct http_request *req, int status, const char *code, const char *message,
		       const char *field)
{
	json_t *fields = json_object();
	if (field)
		json_object_set_new(fields, field, json_pack("{s:s, s:s}", "code", code, "message", message));
	json_t *e = json_pack("{s:{s:s, s:s, s:o}}", "error", "code", code, "message", message, "fields", fields);
	char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;
	if (status == 503)
		http_resp_header(req, "Retry-After", "1");
	if (text)
		send_json(req, status, text, strlen(text));
	else
		http_resp_error(req, 503);
	free(text);
	json_decref(e);
}

static void fail(struct api_req *ar, int status, const char *code, const char *message, const char *why)
{
	if (why)
		log_error("request=%s tenant=%s: api %s %s: %s", http_req_id(ar->req), ar->slug,
			  ar->route ? ar->route->method : "", ar->route ? ar->route->pattern : "", why);
	if (ar->txn) {
		db_rollback(ar->txn);
		ar->txn = NULL;
	}
	send_error(ar->req, status, code, message, NULL);
	api_free(ar);
}

/* A bundle refused (POST /bundle): ERROR is its answer's body. */
static void fail_bundle(struct api_req *ar, json_t *error)
{
	char *text = error ? json_dumps(error, JSON_COMPACT) : NULL;
	if (ar->txn) {
		db_rollback(ar->txn);
		ar->txn = NULL;
	}
	if (text)
		send_json(ar->req, 422, text, strlen(text));
	else
		http_resp_error(ar->req, 503);
	free(text);
	json_decref(error);
	api_free(ar);
}

static void fail_db(struct api_req *ar, enum db_status st)
{
	if (st == DB_UNAVAILABLE)
		fail(ar, 503, "unavailable", "The database is not available; try again.", NULL);
	else
		fail(ar, 500, "internal", "Something went wrong on our side.", ar->txn ? db_error(ar->txn) : "db");
}

/* The query string's parameters as strings (the first of each name). */
static int add_query(json_t *args, const char *q)
{
	while (q && *q) {
		const char *amp = strchr(q, '&');
		size_t n = amp ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', n);
		char name[64], value[QUERY_VALUE_MAX];
		if (n > 0) {
			size_t nl = eq ? (size_t)(eq - q) : n;
			if (urlenc_decode(q, nl, name, sizeof(name)) < 0 ||
			    urlenc_decode(eq ? eq + 1 : q + n, eq ? n - nl - 1 : 0, value, sizeof(value)) < 0)
				return -1;
			json_t *s = json_string(value);
			if (!s)
				return -1;      /* not UTF-8 */
			if (!json_object_get(args, name))
				json_object_set_new(args, name, s);
			else
				json_decref(s);
		}
		q = amp ? amp + 1 : NULL;
	}
	return 0;
}

/* How deep J nests: 0 for a scalar, 1 for a flat object or array. */
static int json_depth(const json_t *j)
{
	int deepest = 0;
	if (json_is_object(j)) {
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)j, k, v) {
			int d = json_depth(v);
			if (d > deepest)
				deepest = d;
		}
		return 1 + deepest;
	}
	if (json_is_array(j)) {
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v) {
			int d = json_depth(v);
			if (d > deepest)
				deepest = d;
		}
		return 1 + deepest;
	}
	return 0;
}

static void api_begun(struct db_txn *txn, enum db_status st, void *arg);
static void api_who(struct db_txn *txn, enum db_status st, void *arg);
static void api_run(struct api_req *ar);
static void api_done(struct db_txn *txn, enum db_status st, void *arg);
static void api_stream_head(struct db_txn *txn, enum db_status st, void *arg);
static void api_sent(struct db_txn *txn, enum db_status st, void *arg);
static void api_finish(struct api_req *ar);
static void api_bundle_send(struct api_req *ar);
static void api_bundle_checked(void *arg);
static bool from_cache(struct api_req *ar);

/* A strong validator: the first 128 bits of the body's SHA-256, quoted. */
#define ETAG_SIZE 35
static void etag_of(const void *data, size_t len, char out[ETAG_SIZE])
{
	unsigned char md[32];
	unsigned mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	out[0] = '"';
	enc_hex(md, 16, out + 1);
	out[33] = '"';
	out[34] = '\0';
}

/* If-None-Match names ETAG (or is "*"). */
static bool etag_matches(struct http_request *req, const char *etag)
{
	const char *inm = http_req_header(req, "If-None-Match");
	return inm && (strstr(inm, etag) || strcmp(inm, "*") == 0);
}

static void serve_openapi(struct http_request *req)
{
	size_t doclen;
	const char *doc = api_openapi(&doclen);
	char etag[ETAG_SIZE];
	etag_of(doc, doclen, etag);
	http_resp_header(req, "ETag", etag);
	if (etag_matches(req, etag)) {
		http_resp_status(req, 304);
		common_headers(req);
		http_resp_send(req);
		return;
	}
	http_resp_status(req, 200);
	common_headers(req);
	http_resp_header(req, "Cache-Control", "no-cache");
	http_resp_header(req, "Content-Type", "application/json");
	http_resp_body_ref(req, doc, doclen, NULL, NULL);
	http_resp_send(req);
}

void api_handle(struct app_worker *app, struct http_request *req, const struct tenant *t)
{
	size_t len;
	const char *path = http_req_path(req, &len);
	path += sizeof(API_PREFIX) - 1;
	len -= sizeof(API_PREFIX) - 1;
	const char *method = http_req_method_name(req);
	if (len == 13 && memcmp(path, "/openapi.json", 13) == 0) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
			http_resp_header(req, "Allow", "GET, HEAD");
			send_error(req, 405, "method_not_allowed", "This method is not allowed here.", NULL);
			return;
		}
		serve_openapi(req);
		return;
	}
	struct api_req *ar = calloc(1, sizeof(*ar));
	json_t *args = json_object();
	if (!ar || !args) {
		free(ar);
		json_decref(args);
		http_resp_error(req, 503);
		return;
	}
	ar->app = app;
	ar->req = req;
	ar->args = args;
	/* The registry may change while this request waits: a copy. */
	ar->tenant_id = t->id;
	ar->bundle_version = t->bundle_version;
	snprintf(ar->slug, sizeof(ar->slug), "%s", t->slug);
	snprintf(ar->name, sizeof(ar->name), "%s", t->name);
	if (len >= sizeof(ar->path)) {
		fail(ar, 404, "not_found", "There is nothing here.", NULL);
		return;
	}
	memcpy(ar->path, path, len);
	ar->path[len] = '\0';
	int status;
	char allow[64];
	json_t *params = json_object();
	ar->route = api_route_find(strcmp(method, "HEAD") == 0 ? "GET" : method, path, len, params, &status, allow,
				   sizeof(allow));
	if (!ar->route) {
		json_decref(params);
		if (status == 405) {
			http_resp_header(req, "Allow", allow);
			fail(ar, 405, "method_not_allowed", "This method is not allowed here.", NULL);
		} else {
			fail(ar, 404, "not_found", "There is nothing here.", NULL);
		}
		return;
	}
	/* A change takes its arguments from the path and a JSON body only:
	 * a form of another site can put anything in the query string of
	 * its action (with an empty body and its own content type), which
	 * would sign a guest's browser in to the attacker's account, or sign
	 * up and send mails in their name. Reads keep their query string. */
	const char *query = http_req_query(req);
	enum http_verb verb = http_req_method(req);
	if (query && *query && verb != HTTP_M_GET && verb != HTTP_M_HEAD && !(ar->route->flags & API_BUNDLE)) {
		json_decref(params);
		fail(ar, 400, "invalid_query", "Send the arguments of a change as a JSON body, not in the query string.",
		     NULL);
		return;
	}
	/* The body: a JSON object, for the methods that carry one. */
	size_t blen = 0;
	const char *body = http_req_body(req, &blen);
	if (ar->route->flags & API_BUNDLE) {
		/* The body is the archive, read once the caller is known to
		 * be an admin (api_bundle). */
		const char *ct = http_req_header(req, "Content-Type");
		if (blen > 0 && !(ct && (strncasecmp(ct, "application/gzip", 16) == 0 ||
					 strncasecmp(ct, "application/x-gzip", 18) == 0 ||
					 strncasecmp(ct, "application/zip", 15) == 0 ||
					 strncasecmp(ct, "application/x-zip-compressed", 28) == 0 ||
					 strncasecmp(ct, "application/octet-stream", 24) == 0))) {
			json_decref(params);
			fail(ar, 415, "unsupported_media_type",
			     "Send the bundle as a .tar.gz file (application/gzip) or a .zip file (application/zip).", NULL);
			return;
		}
	} else if (blen > 0) {
		const char *ct = http_req_header(req, "Content-Type");
		if (!ct || strncasecmp(ct, "application/json", 16) != 0 || (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
			json_decref(params);
			fail(ar, 415, "unsupported_media_type", "Send the body as application/json.", NULL);
			return;
		}
		json_error_t jerr;
		json_t *b = json_loadb(body, blen, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(b)) {
			json_decref(b);
			json_decref(params);
			fail(ar, 400, "invalid_json", "The body must be one JSON object.", NULL);
			return;
		}
		/* No deeper than Lua takes it (an operation with events runs
		 * there): deeper is the client's mistake, not a 500 later. */
		if (json_depth(b) > JSON_DEPTH_MAX) {
			json_decref(b);
			json_decref(params);
			fail(ar, 400, "invalid_json", "The body is nested too deep.", NULL);
			return;
		}
		json_object_update(ar->args, b);
		json_decref(b);
	}
	if (add_query(ar->args, query) != 0) {
		json_decref(params);
		fail(ar, 400, "invalid_query", "The query string is not valid.", NULL);
		return;
	}
	json_object_update(ar->args, params);
	json_decref(params);

	/* Who asks: an API token, or a session cookie; nobody for an
	 * operation whose authority is a token in its arguments. */
	const char *authz = http_req_header(req, "Authorization");
	if (ar->route->flags & API_ANONYMOUS) {
		ar->auth = AUTH_GUEST;
	} else if (authz) {
		const char *tok = strncasecmp(authz, "Bearer ", 7) == 0 ? authz + 7 : "";
		if (strncmp(tok, API_TOKEN_PREFIX, sizeof(API_TOKEN_PREFIX) - 1) != 0 ||
		    !token_valid(tok + sizeof(API_TOKEN_PREFIX) - 1)) {
			fail(ar, 401, "invalid_token", "The API token is not valid.", NULL);
			return;
		}
		if (ar->route->flags & API_SESSION) {
			fail(ar, 403, "session_required", "This needs a signed-in session, not an API token.", NULL);
			return;
		}
		ar->auth = AUTH_TOKEN;
		token_hash_hex(tok + sizeof(API_TOKEN_PREFIX) - 1, ar->hash);
	} else {
		char token[TOKEN_CHARS + 2];
		bool secure = http_req_secure(req);
		if (cookie_get(http_req_header(req, "Cookie"), secure ? "__Host-at_session" : "at_session", token,
			       sizeof(token)) >= 0 &&
		    token_valid(token)) {
			ar->auth = AUTH_SESSION;
			token_hash_hex(token, ar->hash);
		}
	}
	if (ar->auth == AUTH_GUEST && !(ar->route->flags & API_STREAM) && from_cache(ar))
		return;
	if (!app->pool) {
		fail(ar, 503, "unavailable", "No database is configured.", NULL);
		return;
	}
	db_begin(app->pool, ar->tenant_id, api_begun, ar);
}

/* A guest's read: from the worker's cache when it has it under the
 * tenant's current data generation (true: answered); otherwise the key to
 * keep the answer under. What a guest sees depends on the data alone. */
static bool from_cache(struct api_req *ar)
{
	struct apicache *cache = ar->app->cache;
	char *args = cache ? json_dumps(ar->args, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	char *key = args ? api_guest_key(ar->route, ar->tenant_id, ar->path, args) : NULL;
	free(args);
	if (!key)
		return false;
	uint64_t gen = datagen_get(ar->tenant_id);
	size_t len;
	const char *hit = apicache_get(cache, key, gen, &len);
	json_t *body = NULL;
	if (!hit || api_answer_text(hit, NULL, &ar->status, &body) != 0) {
		ar->cache_key = key;
		ar->cache_gen = gen;
		return false;
	}
	free(key);
	ar->body = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(body);
	if (!ar->body)
		return false;
	api_sent(NULL, DB_OK, ar);
	return true;
}

static void api_begun(struct db_txn *txn, enum db_status st, void *arg)
{
	struct api_req *ar = arg;
	if (st != DB_OK) {
		fail_db(ar, st);
		return;
	}
	ar->txn = txn;
	if (ar->auth == AUTH_GUEST) {
		api_run(ar);
		return;
	}
	char tid[24], idle[24], absolute[24];
	snprintf(tid, sizeof(tid), "%lld", (long long)ar->tenant_id);
	snprintf(idle, sizeof(idle), "%lld", (long long)__atomic_load_n(&session_idle_s, __ATOMIC_RELAXED));
	snprintf(absolute, sizeof(absolute), "%lld", (long long)__atomic_load_n(&session_absolute_s, __ATOMIC_RELAXED));
	const char *p[4] = {tid, ar->hash, idle, absolute};
	int rc = ar->auth == AUTH_TOKEN ? db_query(txn, stmt_token, 2, p) : db_query(txn, stmt_session, 4, p);
	if (rc != 0) {
		fail(ar, 500, "internal", "Something went wrong on our side.", "principal refused by the pool");
		return;
	}
	db_send(txn, api_who, ar);
}

static void api_who(struct db_txn *txn, enum db_status st, void *arg)
{
	struct api_req *ar = arg;
	if (st != DB_OK) {
		fail_db(ar, st);
		return;
	}
	const PGresult *r = db_result(txn, 0);
	if (PQntuples(r) == 1) {
		ar->who.viewer = db_int(r, 0, 0);
		snprintf(ar->who.roles, sizeof(ar->who.roles), "%s", PQgetvalue(r, 0, 2));
		if (ar->auth == AUTH_SESSION) {
			snprintf(ar->who.csrf, sizeof(ar->who.csrf), "%s", PQgetvalue(r, 0, 3));
			snprintf(ar->who.session, sizeof(ar->who.session), "%s", ar->hash);
		}
	} else if (ar->auth == AUTH_TOKEN) {
		fail(ar, 401, "invalid_token", "The API token is not valid.", NULL);
		return;
	} else {
		ar->auth = AUTH_GUEST;  /* an expired session: a guest, as on the site */
	}
	/* A session may change something only with its CSRF token in a
	 * header that a form of another site cannot send. */
	enum http_verb m = http_req_method(ar->req);
	if (ar->auth == AUTH_SESSION && m != HTTP_M_GET && m != HTTP_M_HEAD) {
		const char *sent = http_req_header(ar->req, "X-CSRF-Token");
		if (!sent || !token_equal(sent, ar->who.csrf)) {
			fail(ar, 403, "csrf", "Send the session's CSRF token in the X-CSRF-Token header.", NULL);
			return;
		}
	}
	api_run(ar);
}

/* A 429's error.retry_after (whole seconds, at least 1), else 0. */
static int retry_after_of(int status, const json_t *body)
{
	const json_t *n = status == 429 ? json_object_get(json_object_get(body, "error"), "retry_after") : NULL;
	if (!json_is_integer(n) || json_integer_value(n) < 1 || json_integer_value(n) > 86400 * 366)
		return 0;
	return (int)json_integer_value(n);
}

/* The failure of an operation run elsewhere (its Lua, its steps): STATUS
 * 503, 413 or 500. */
static void fail_call(struct api_req *ar, int status, const char *why)
{
	if (status == 503)
		fail(ar, 503, "unavailable", "Busy or unavailable; try again.", why);
	else if (status == 413)
		fail(ar, 413, "too_large", TOO_LARGE_MESSAGE, NULL);
	else
		fail(ar, 500, "internal", "Something went wrong on our side.", why);
}

/* An operation with events ran through the tenant's Lua. */
static void api_lua_done(void *arg, int status, json_t *body)
{
	struct api_req *ar = arg;
	if (!body) {
		fail_call(ar, status, NULL);
		return;
	}
	ar->status = status;
	ar->retry_after = retry_after_of(status, body);
	/* Keys sorted: the Lua table's order changes with the state's hash
	 * seed, and two answers alike must be alike to the byte. */
	ar->body = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
	if (!ar->body) {
		fail(ar, 503, "unavailable", "Out of memory; try again.", NULL);
		return;
	}
	api_finish(ar);
}

/* An operation with steps (passwords, secrets, cookies) answered. */
static void api_called(struct api_call *c)
{
	struct api_req *ar = c->arg;
	if (!c->status) {
		fail_call(ar, c->fail_status, c->why);
		return;
	}
	ar->status = c->status;
	ar->retry_after = retry_after_of(c->status, c->body);
	ar->body = json_dumps(c->body, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!ar->body) {
		fail(ar, 503, "unavailable", "Out of memory; try again.", NULL);
		return;
	}
	api_finish(ar);
}

/* POST /bundle (API_BUNDLE): an admin's archive is read and checked as
 * `aantafel check` does, on the bundle queue's threads (bundle_check.h),
 * never on the worker's loop; a refused one is answered 422 here, a good
 * one goes to the SQL with its files. Anyone else's call goes to the SQL
 * without reading the body, to be refused there. */
static void api_bundle(struct api_req *ar)
{
	if (!(ar->who.viewer && api_is_admin(ar->who.roles))) {
		api_bundle_send(ar);
		return;
	}
	size_t blen = 0;
	const char *body = http_req_body(ar->req, &blen);
	if (blen == 0) {
		fail(ar, 400, "invalid_bundle", "Send the bundle as a .tar.gz or a .zip file.", NULL);
		return;
	}
	int rc = bundle_check_submit(&ar->check, body, blen, ar->slug, http_req_worker(ar->req)->base, api_bundle_checked,
				     ar);
	if (rc == BUNDLE_CHECK_NOMEM)
		fail(ar, 503, "unavailable", "Out of memory; try again.", NULL);
	else if (rc != 0)
		fail(ar, 503, "unavailable", "Too many bundles are being checked; try again.", "the bundle queue is full");
}

/* Back on the worker's loop with the check's outcome. */
static void api_bundle_checked(void *arg)
{
	api_bundle_send(arg);
}

/* The check's outcome (none: a caller who may not upload) to the SQL, or
 * its refusal answered. */
static void api_bundle_send(struct api_req *ar)
{
	json_t *refusal;
	struct bundle_check *c = ar->check;
	ar->check = NULL;
	int rc = bundle_check_send(c, ar->txn, ar->route, ar->tenant_id, &ar->who, ar->args, ar->secret, &refusal);
	switch (rc) {
	case 0:
		db_send(ar->txn, api_done, ar);
		return;
	case BUNDLE_CHECK_REFUSED:
		fail_bundle(ar, refusal);
		return;
	case BUNDLE_CHECK_NOMEM:
		fail(ar, 503, "unavailable", "Out of memory; try again.", "preparing the arguments");
		return;
	case API_TOO_LARGE:
		fail(ar, 413, "too_large", TOO_LARGE_MESSAGE, NULL);
		return;
	default:
		fail(ar, 503, "unavailable", "The bundle could not be sent; try again.", "sending the bundle");
		return;
	}
}

static void api_run(struct api_req *ar)
{
	if (ar->route->flags & API_BUNDLE) {
		api_bundle(ar);
		return;
	}
	if (ar->route->before || ar->route->after || (ar->route->flags & (API_EVENTS | API_DEFS))) {
		/* Its events fire in the tenant's Lua, as when a page calls it;
		 * the definitions its Lua declared are there too. */
		struct tenant t = {.id = ar->tenant_id, .slug = ar->slug, .name = ar->name,
				   .bundle_version = ar->bundle_version};
		runtime_api(ar->app->rt, ar->req, &t, &ar->txn, &ar->who, ar->route->method, ar->path, ar->args, api_lua_done, ar);
		return;
	}
	if (api_call_needed(ar->route)) {
		ar->call = calloc(1, sizeof(*ar->call));
		if (!ar->call) {
			fail(ar, 503, "unavailable", "Out of memory; try again.", NULL);
			return;
		}
		*ar->call = (struct api_call){.route = ar->route, .req = ar->req, .txnp = &ar->txn, .tenant_id = ar->tenant_id, .who = ar->who,
					      .args = ar->args, .done = api_called, .arg = ar};
		ar->args = NULL;        /* the call's now */
		api_call_start(ar->call);
		return;
	}
	/* A HEAD of an export asks for its headers only: the operation checks
	 * who asks and names the file, but opens no cursor and builds no
	 * document (sql/code/table_export.sql, "_head"). */
	bool head = (ar->route->flags & API_STREAM) && http_req_method(ar->req) == HTTP_M_HEAD;
	if (api_prepare(ar->route, ar->route->method, &ar->who, ar->args, ar->secret) != 0 ||
	    (head && json_object_set_new(ar->args, "_head", json_true()) != 0)) {
		fail(ar, 503, "unavailable", "Out of memory; try again.", "preparing the arguments");
		return;
	}
	int rc = api_query(ar->txn, ar->route, ar->tenant_id, &ar->who, ar->args);
	if (rc == API_TOO_LARGE) {
		fail(ar, 413, "too_large", TOO_LARGE_MESSAGE, NULL);
		return;
	}
	if (rc != 0) {
		fail(ar, 503, "unavailable", "The operation could not be sent; try again.", "sending the operation");
		return;
	}
	db_send(ar->txn, (ar->route->flags & API_STREAM) ? api_stream_head : api_done, ar);
}

static void api_streamed(void *arg)
{
	api_free(arg);
}

/* An export (API_STREAM): a refusal is answered as any other; a success
 * streams its rows (api_stream.h), which takes the transaction over. */
static void api_stream_head(struct db_txn *txn, enum db_status st, void *arg)
{
	struct api_req *ar = arg;
	if (st != DB_OK) {
		fail_db(ar, st);
		return;
	}
	json_t *body;
	if (api_answer(db_result(txn, 0), NULL, &ar->status, &body) != 0) {
		fail(ar, 500, "internal", "Something went wrong on our side.", "not an answer");
		return;
	}
	if (ar->status != 200) {
		ar->body = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(body);
		if (!ar->body) {
			fail(ar, 503, "unavailable", "Out of memory; try again.", NULL);
			return;
		}
		api_finish(ar);
		return;
	}
	struct http_request *req = ar->req;
	http_resp_status(req, 200);
	common_headers(req);
	http_resp_header(req, "Cache-Control", ar->auth == AUTH_GUEST ? "no-cache" : "private, no-store");
	/* The stream's now; it may be over (and AR freed) when this returns. */
	ar->txn = NULL;
	if (api_stream_start(req, txn, ar->auth != AUTH_GUEST, body, api_streamed, ar) != 0) {
		json_decref(body);
		ar->txn = txn;
		fail(ar, 500, "internal", "Something went wrong on our side.", "not an export's answer");
		return;
	}
	json_decref(body);
}

static void api_done(struct db_txn *txn, enum db_status st, void *arg)
{
	struct api_req *ar = arg;
	if (st != DB_OK) {
		fail_db(ar, st);
		return;
	}
	json_t *body;
	const PGresult *r = db_result(txn, 0);
	if (api_answer(r, ar->secret, &ar->status, &body) != 0) {
		fail(ar, 500, "internal", "Something went wrong on our side.", "not an answer");
		return;
	}
	if (ar->cache_key && ar->status == 200) {
		apicache_put(ar->app->cache, ar->cache_key, ar->cache_gen, PQgetvalue(r, 0, 0),
			     (size_t)PQgetlength(r, 0, 0));
	}
	ar->retry_after = retry_after_of(ar->status, body);
	ar->body = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(body);
	if (!ar->body) {
		fail(ar, 503, "unavailable", "Out of memory; try again.", NULL);
		return;
	}
	api_finish(ar);
}

/* Ends the transaction as the answer says: a failure rolls back, a
 * success commits before it is sent. An operation that counts password
 * attempts commits its refusals too: the count, written before the
 * password was hashed, is all such a refusal wrote, and rolled back it
 * would let anyone try passwords without limit (api.h, API_ATTEMPTS). */
static void api_finish(struct api_req *ar)
{
	struct db_txn *txn = ar->txn;
	bool counted = (ar->route->flags & API_ATTEMPTS) && ar->status < 500;
	if (ar->status >= 400 && !counted) {
		db_rollback(txn);
		ar->txn = NULL;
		api_sent(NULL, DB_OK, ar);
	} else if ((ar->route->flags & API_WRITE) || ar->auth != AUTH_GUEST) {
		/* A write, or a session's or token's last use moved. */
		db_commit(txn, api_sent, ar);
	} else {
		db_release(txn);
		ar->txn = NULL;
		api_sent(NULL, DB_OK, ar);
	}
}

static void api_sent(struct db_txn *txn, enum db_status st, void *arg)
{
	struct api_req *ar = arg;
	ar->txn = NULL;
	if (st != DB_OK) {
		log_warn("request=%s tenant=%s: api commit failed: %s", http_req_id(ar->req), ar->slug,
			 st == DB_UNAVAILABLE ? "database unavailable" : db_error(txn));
		fail(ar, 503, "unavailable", "The change was not saved; try again.", NULL);
		return;
	}
	if ((ar->route->flags & (API_WRITE | API_PRIVATE)) == API_WRITE && ar->status < 400)
		datagen_bump(ar->tenant_id);    /* the guests' cached reads of this daemon */
	struct http_request *req = ar->req;
	size_t len = strlen(ar->body);
	if (ar->call)
		add_cookies(req, ar->call);
	if (ar->route->flags & API_WRITE || ar->status != 200) {
		if (ar->retry_after) {
			char secs[16];
			snprintf(secs, sizeof(secs), "%d", ar->retry_after);
			http_resp_header(req, "Retry-After", secs);
		}
		send_json(req, ar->status, ar->body, len);
		api_free(ar);
		return;
	}
	/* An iCalendar read: the answer's string is the document. */
	const char *type = "application/json";
	if (ar->route->flags & API_ICAL) {
		json_t *doc = json_loads(ar->body, JSON_DECODE_ANY, NULL);
		char *text = json_is_string(doc) ? strdup(json_string_value(doc)) : NULL;
		json_decref(doc);
		if (!text) {
			fail(ar, 500, "internal", "Something went wrong on our side.", "not a calendar");
			return;
		}
		free(ar->body);
		ar->body = text;
		len = strlen(text);
		type = "text/calendar; charset=utf-8";
	}
	/* A read: its ETag, and 304 when the client has it already. */
	char etag[ETAG_SIZE];
	etag_of(ar->body, len, etag);
	bool same = etag_matches(req, etag);
	http_resp_header(req, "ETag", etag);
	http_resp_status(req, same ? 304 : 200);
	common_headers(req);
	http_resp_header(req, "Cache-Control", ar->auth == AUTH_GUEST ? "no-cache" : "private, no-cache");
	if (!same) {
		http_resp_header(req, "Content-Type", type);
		http_resp_body(req, ar->body, len);
	}
	http_resp_send(req);
	api_free(ar);
}
