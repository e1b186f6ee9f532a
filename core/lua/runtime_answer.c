/* What a handler answers, read and sent: safe HTML from templates, or a
 * table whose raw bodies and headers are allow-lists; the API's (status,
 * body) for a JSON API request that ran through Lua; the cookies the
 * request sets; the error pages; a bundle's /assets/. */
#include "runtime_internal.h"

#include <event2/event.h>
#include <jansson.h>
#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <strings.h>

#include "bundle.h"
#include "cookie.h"
#include "db.h"
#include "http.h"
#include "ljson.h"
#include "log.h"
#include "lsandbox.h"
#include "static_files.h"
#include "template.h"

/* The session's last use, committed; nothing waits for it. */
static void commit_ignored(struct db_txn *txn, enum db_status st, void *arg)
{
}

/* What a handler may answer as a raw body: an allow-list, since markup
 * (HTML, XML, SVG, XSL, multipart/x-mixed-replace and whatever a browser
 * learns to render next) may come from templates only. docs/plugins.md
 * lists them. */
static const char *const body_types[] = {
	"text/plain", "text/css", "text/csv", "text/calendar", "text/markdown",
	"application/json", "application/geo+json", "application/ld+json", "application/pdf", "application/zip",
	"application/octet-stream",
	"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/x-icon",
	"font/woff", "font/woff2",
	NULL,
};

/* ... and the headers it may set beside them. */
static const char *const answer_headers[] = {
	"Cache-Control", "Content-Disposition", "Content-Language", "ETag", "Expires", "Last-Modified",
	"Retry-After", "Vary", "X-Robots-Tag", NULL,
};

/* A type of the list, in any case, with at most a charset parameter:
 * "text/csv; charset=utf-8". */
static bool body_type_ok(const char *t)
{
	size_t n = strcspn(t, ";");
	bool listed = false;
	for (const char *const *b = body_types; *b && !listed; b++)
		listed = strlen(*b) == n && strncasecmp(*b, t, n) == 0;
	if (!listed)
		return false;
	if (t[n] == '\0')
		return true;
	const char *p = t + n + 1;
	while (*p == ' ')
		p++;
	if (strncasecmp(p, "charset=", 8) != 0)
		return false;
	p += 8;
	if (!*p)
		return false;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_'))
			return false;
	return true;
}

static bool answer_header_ok(const char *name, const char *value)
{
	for (const char *const *h = answer_headers; *h; h++) {
		if (strcasecmp(*h, name) != 0)
			continue;
		/* A download or shown in place; the name is the plugin's. */
		if (strcasecmp(name, "Content-Disposition") == 0)
			return strncasecmp(value, "attachment", 10) == 0 || strncasecmp(value, "inline", 6) == 0;
		return true;
	}
	return false;
}

static bool header_value_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int rawfield(lua_State *L, int idx, const char *name)
{
	lua_pushstring(L, name);
	return lua_rawget(L, idx);
}

/* Reads the handler's answer at IDX of the coroutine into A: safe HTML
 * (200, text/html), or a table {status, html | feed | text | json | body + type, lang,
 * redirect, headers}. Returns NULL or what is wrong with it. Strings stay
 * valid while the answer table is on the stack; JSON is encoded into
 * *json (freed by the caller). */
static const char *read_answer(lua_State *co, int idx, struct answer *a, char **json, char *why, size_t whylen)
{
	size_t len;
	a->status = 200;
	a->type = "text/html; charset=utf-8";
	if ((a->body = tmpl_to_safehtml(co, idx, &len))) {
		a->len = len;
		return NULL;
	}
	if (lua_type(co, idx) == LUA_TSTRING)
		return "a handler returned a string: return plugin.render(...) for HTML or {text = ...} for plain text";
	if (lua_type(co, idx) != LUA_TTABLE)
		return "a handler returned neither a page nor an answer table";
	if (lua_getmetatable(co, idx))
		return "an answer table may not have a metatable";
	int top = lua_gettop(co);
	if (rawfield(co, idx, "status") != LUA_TNIL) {
		if (!lua_isinteger(co, -1) || lua_tointeger(co, -1) < 200 || lua_tointeger(co, -1) > 599)
			return "status must be an integer from 200 to 599";
		a->status = (int)lua_tointeger(co, -1);
	}
	lua_settop(co, top);
	if (rawfield(co, idx, "html") != LUA_TNIL && !(a->body = tmpl_to_safehtml(co, -1, &a->len)))
		return "html must be safe HTML from plugin.render";
	lua_settop(co, top);
	/* An Atom feed: a template rendered with the same escaping. */
	if (!a->body && rawfield(co, idx, "feed") != LUA_TNIL) {
		if (!(a->body = tmpl_to_safehtml(co, -1, &a->len)))
			return "feed must be an Atom template rendered by plugin.render";
		a->type = "application/atom+xml; charset=utf-8";
	}
	lua_settop(co, top);
	if (!a->body && rawfield(co, idx, "text") != LUA_TNIL) {
		if (lua_type(co, -1) != LUA_TSTRING)
			return "text must be a string";
		a->body = lua_tolstring(co, -1, &a->len);
		a->type = "text/plain; charset=utf-8";
	}
	lua_settop(co, top);
	if (!a->body && rawfield(co, idx, "json") != LUA_TNIL) {
		json_t *j = ljson_from_lua(co, -1, 0, why, whylen);
		if (!j)
			return why;
		*json = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(j);
		if (!*json)
			return "json cannot be encoded";
		a->body = *json;
		a->len = strlen(*json);
		a->type = "application/json";
	}
	lua_settop(co, top);
	if (!a->body && rawfield(co, idx, "body") != LUA_TNIL) {
		if (lua_type(co, -1) != LUA_TSTRING)
			return "body must be a string";
		a->body = lua_tolstring(co, -1, &a->len);
		if (rawfield(co, idx, "type") != LUA_TSTRING)
			return "a body needs its type, e.g. type = \"text/css\"";
		a->type = lua_tostring(co, -1);
		if (!body_type_ok(a->type))
			return "a body's type must be one of text/plain, text/css, text/csv, text/calendar, text/markdown,"
			       " application/json, geo+json, ld+json, pdf, zip, octet-stream, image/png, jpeg, gif, webp,"
			       " avif, x-icon, font/woff, woff2 (with at most a charset): markup comes from"
			       " html = plugin.render(...)";
	}
	lua_settop(co, top);
	if (rawfield(co, idx, "redirect") != LUA_TNIL) {
		const char *to = lua_type(co, -1) == LUA_TSTRING ? lua_tostring(co, -1) : NULL;
		if (!to || to[0] != '/' || to[1] == '/' || to[1] == '\\' || !header_value_ok(to) ||
		    strlen(to) >= sizeof(a->location))
			return "redirect must be a path on this site (starting with one /)";
		snprintf(a->location, sizeof(a->location), "%s", to);
		if (a->status == 200)
			a->status = 303;
	}
	lua_settop(co, top);
	if (rawfield(co, idx, "shared") != LUA_TNIL) {
		if (lua_type(co, -1) != LUA_TBOOLEAN)
			return "shared must be true or false";
		a->shared = lua_toboolean(co, -1);
	}
	lua_settop(co, top);
	if (rawfield(co, idx, "lang") != LUA_TNIL) {
		const char *l = lua_type(co, -1) == LUA_TSTRING ? lua_tostring(co, -1) : "";
		if (strcmp(l, "nl") != 0 && strcmp(l, "en") != 0)
			return "lang must be \"nl\" or \"en\"";
		a->set_lang = strcmp(l, "nl") == 0 ? "nl" : "en";
	}
	lua_settop(co, top);
	if (rawfield(co, idx, "headers") == LUA_TTABLE) {
		lua_pushnil(co);
		while (lua_next(co, -2)) {
			const char *k = lua_type(co, -2) == LUA_TSTRING ? lua_tostring(co, -2) : NULL;
			const char *v = lua_type(co, -1) == LUA_TSTRING ? lua_tostring(co, -1) : NULL;
			if (!k || !v || !header_value_ok(v) || strlen(v) > 255 || a->nheaders == 16 || !answer_header_ok(k, v))
				return "headers must be at most 16 name = value strings of Cache-Control, Content-Disposition"
				       " (attachment or inline), Content-Language, ETag, Expires, Last-Modified, Retry-After,"
				       " Vary and X-Robots-Tag";
			snprintf(a->headers[a->nheaders][0], 256, "%s", k);
			snprintf(a->headers[a->nheaders][1], 256, "%s", v);
			a->nheaders++;
			lua_pop(co, 1);
		}
	}
	lua_settop(co, top);
	return NULL;
}

struct read_ctx {
	struct answer *a;
	char **json;
	const char *bad;
	char why[240];
};

static int read_answer_protected(lua_State *co)
{
	struct read_ctx *c = lua_touserdata(co, 2);
	c->bad = read_answer(co, 1, c->a, c->json, c->why, sizeof(c->why));
	return 0;
}

void add_common_headers(struct http_request *req)
{
	if (http_req_secure(req))
		http_resp_header(req, "Strict-Transport-Security", "max-age=31536000");
	http_resp_header(req, "X-Content-Type-Options", "nosniff");
	http_resp_header(req, "Referrer-Policy", "strict-origin-when-cross-origin");
	http_resp_header(req, "Content-Security-Policy",
			 "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
}

/* handle_api returned (status, body): the answer goes to the API with
 * the transaction, which it commits or rolls back. */
struct api_result {
	json_t *body;
	char err[200];
};

static int read_api_result(lua_State *co)
{
	struct api_result *r = lua_touserdata(co, 3);
	r->body = ljson_from_lua(co, 2, 0, r->err, sizeof(r->err));
	return 0;
}

void rq_api_respond(struct rt_req *rq, int nres)
{
	lua_State *co = rq->co;
	int base = lua_gettop(co) - nres + 1;
	int status = nres >= 2 && lua_isinteger(co, base) ? (int)lua_tointeger(co, base) : 0;
	bool own = nres >= 3 && lua_toboolean(co, base + 2);
	struct api_result r = {0};
	if (own && rq->api_answer) {
		/* The core's answer as it gave it (nulls included). */
		r.body = json_incref(rq->api_answer);
	} else if (status >= 200 && status <= 599 && lua_checkstack(co, 4)) {
		lua_pushcfunction(co, read_api_result);
		lua_pushvalue(co, base);
		lua_pushvalue(co, base + 1);
		lua_pushlightuserdata(co, &r);
		rq->ts->sb->budget = &rq->budget;
		if (lua_pcall(co, 3, 0, 0) != LUA_OK)
			lua_pop(co, 1);
		rq->ts->sb->budget = NULL;
	}
	lua_settop(co, base - 1);
	if (!r.body || status < 200 || status > 599) {
		json_decref(r.body);
		rq_fail(rq, 500, status ? "the operation's answer cannot be encoded" : "handle_api gave no status");
		return;
	}
	*rq->api_txnp = rq->txn;        /* handed back with the answer */
	rq->txn = NULL;
	if (status < 400 && rq->req)
		add_cookies(rq);        /* a sign-in or sign-out through the API */
	rq->api_done(rq->api_arg, status, r.body);
	json_decref(r.body);
	rq_free(rq);
}

void rq_respond(struct rt_req *rq, int idx)
{
	rq->answer = calloc(1, sizeof(*rq->answer));
	if (!rq->answer) {
		rq_fail(rq, 503, "out of memory");
		return;
	}
	/* Read under protection: interning a field name may hit the memory
	 * cap, and nothing may raise outside a protected call. */
	struct read_ctx ctx = {.a = rq->answer, .json = &rq->json};
	lua_State *co = rq->co;
	const char *bad;
	if (!lua_checkstack(co, 3)) {
		bad = "no stack to read the answer";
	} else {
		lua_pushcfunction(co, read_answer_protected);
		lua_pushvalue(co, idx);
		lua_pushlightuserdata(co, &ctx);
		rq->ts->sb->budget = &rq->budget;
		int st = lua_pcall(co, 2, 0, 0);
		rq->ts->sb->budget = NULL;
		if (st != LUA_OK) {
			lua_pop(co, 1);
			bad = "the answer could not be read (memory limit)";
		} else {
			bad = ctx.bad;
		}
	}
	if (bad) {
		rq_fail(rq, 500, bad);
		return;
	}
	/* The answer's strings live on the coroutine's stack until rq_free.
	 * A request that wrote answers only after COMMIT succeeded; one that
	 * only read has nothing to keep, and ends its transaction in the
	 * background. */
	if (rq->txn && !rq->wrote) {
		if (rq->touched)
			db_commit(rq->txn, commit_ignored, NULL);   /* the session's last use; nothing waits */
		else
			db_release(rq->txn);
		rq->txn = NULL;
	}
	if (rq->txn) {
		rq->state = RQ_COMMITTING;
		db_commit(rq->txn, rq_committed, rq);
		return;
	}
	send_answer(rq);
}


/* The CSRF and session cookies this request sets or clears. */
void add_cookies(struct rt_req *rq)
{
	struct http_request *req = rq->req;
	char cookie[COOKIE_SET_MAX];
	if (rq->new_csrf) {
		cookie_csrf_value(cookie, rq->secure, rq->csrf);
		http_resp_header(req, "Set-Cookie", cookie);
	}
	if (rq->set_session[0] || rq->clear_session) {
		cookie_session_value(cookie, rq->secure, rq->set_session[0] ? rq->set_session : NULL);
		http_resp_header(req, "Set-Cookie", cookie);
	}
	if (rq->preview_clear) {
		snprintf(cookie, sizeof(cookie), "%s=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0%s",
			 rq->secure ? "__Host-at_preview" : "at_preview", rq->secure ? "; Secure" : "");
		http_resp_header(req, "Set-Cookie", cookie);
	}
}

void send_answer(struct rt_req *rq)
{
	rq->state = RQ_ANSWERED;
	struct answer *a = rq->answer;
	struct http_request *req = rq->req;
	if (!a->body && !a->location[0] && a->status >= 400) {
		/* {status = 404}: the static page in the request's language. */
		error_page(req, a->status);
	} else {
		http_resp_status(req, a->status);
		add_common_headers(req);
		add_cookies(rq);
		if (a->set_lang) {
			char cookie[96];
			snprintf(cookie, sizeof(cookie), "at_lang=%s; Path=/; SameSite=Lax; Max-Age=31536000%s", a->set_lang,
				 rq->secure ? "; Secure" : "");
			http_resp_header(req, "Set-Cookie", cookie);
		}
		/* A draft's page is for its admin's eyes only: kept nowhere. */
		http_resp_header(req, "Cache-Control", rq->preview ? "no-store" : "no-cache");
		if (rq->page_key) {
			/* The guest's own token where the Lua put the stand-in. */
			for (int i = 0; i < a->nheaders; i++)
				put_token(a->headers[i][1], strlen(a->headers[i][1]), rq->page_csrf, rq->csrf);
			put_token(a->location, strlen(a->location), rq->page_csrf, rq->csrf);
		}
		for (int i = 0; i < a->nheaders; i++)
			http_resp_header(req, a->headers[i][0], a->headers[i][1]);
		if (a->location[0])
			http_resp_header(req, "Location", a->location);
		if (a->body) {
			http_resp_header(req, "Content-Type", a->type);
			if (rq->page_key)
				body_with_token(req, a->body, a->len, rq->page_csrf, rq->csrf);
			else if (rq->preview && strncmp(a->type, "text/html", 9) == 0)
				preview_banner(rq, a->body, a->len);
			else
				http_resp_body(req, a->body, a->len);
		}
	}
	if (rq->page_key)
		page_keep(rq, a);
	if (a->body || a->location[0] || a->status < 400)
		http_resp_send(req);
	rq_free(rq);
}

/* 500 from Lua names the request id so that a resident can quote it; the
 * others are the static pages. */
void error_page(struct http_request *req, int status)
{
	if (status != 500) {
		if (status == 503)
			http_resp_header(req, "Retry-After", "5");
		http_resp_error(req, status);
		return;
	}
	bool en = strcmp(http_req_lang(req), "en") == 0;
	http_resp_status(req, 500);
	add_common_headers(req);
	http_resp_header(req, "Content-Type", "text/html; charset=utf-8");
	http_resp_header(req, "Cache-Control", "no-store");
	http_resp_printf(req,
			 "<!doctype html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\"><title>500</title></head>\n"
			 "<body><main><h1>%s</h1><p>%s <code>%s</code></p></main></body></html>\n",
			 en ? "en" : "nl", en ? "Something went wrong" : "Er ging iets mis",
			 en ? "Please try again later. If you contact us, mention request id"
			    : "Probeer het later opnieuw. Noem bij contact het verzoeknummer",
			 http_req_id(req));
	http_resp_send(req);
}

/* /assets/PATH: the bundle's static/PATH, with its ETag. */
void serve_asset(struct rt_req *rq, struct bundle *b)
{
	struct http_request *req = rq->req;
	size_t plen;
	const char *path = http_req_path(req, &plen);
	char rel[BUNDLE_MAX_PATH + 8];
	memcpy(rel, "static/", 7);
	long n = static_percent_decode(path + sizeof(ASSETS_PREFIX) - 1, plen - (sizeof(ASSETS_PREFIX) - 1), rel + 7,
				       sizeof(rel) - 7);
	const struct bundle_file *f = n > 0 && !strstr(rel, "..") ? bundle_find(b, rel) : NULL;
	if (!f) {
		http_resp_error(req, 404);
		rq_free(rq);
		return;
	}
	const char *inm = http_req_header(req, "If-None-Match");
	http_resp_header(req, "ETag", f->etag);
	/* A draft's file has the path of the current one: kept nowhere, and
	 * the current one is not taken from a cache for it (the preview's
	 * cookie differs). */
	http_resp_header(req, "Cache-Control", rq->preview ? "no-store" : "public, max-age=300");
	http_resp_header(req, "Vary", "Cookie");
	http_resp_header(req, "X-Content-Type-Options", "nosniff");
	if (inm && static_etag_matches(inm, f->etag)) {
		http_resp_status(req, 304);
		http_resp_send(req);
		rq_free(rq);
		return;
	}
	http_resp_header(req, "Content-Type", static_content_type(f->path));
	http_resp_body(req, f->data, f->len);
	http_resp_send(req);
	rq_free(rq);
}
