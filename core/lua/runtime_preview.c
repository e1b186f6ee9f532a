/* A draft's preview (POST /api/v1/bundle/versions/{id}/preview, or the
 * button at /beheer/bundel): the admin opens /voorbeeld/TOKEN, which sets
 * the preview cookie, and from then on that session's pages are made by
 * the draft's own Lua state beside the tenant's current one (runtime.c
 * keeps it per version and drops it when idle or published), with a
 * banner, kept by no cache; /voorbeeld/stoppen ends it. Each page of a
 * preview asks the database whether the link still holds
 * (platform.bundle_preview_find, sql/code/bundles.sql): for this tenant,
 * this admin and this session, within its hour, and the version still a
 * draft. Otherwise the page is the current site's and the cookie goes.
 * The same look-up reads the session: its principal is the page's, which
 * reads it no second time (rq_start). The API, guests and every other
 * session never see a draft. */
#include "runtime_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "cookie.h"
#include "db.h"
#include "http.h"
#include "log.h"

#define PREVIEW_PREFIX "/voorbeeld/"
#define PREVIEW_STOP "/voorbeeld/stoppen"
#define PREVIEW_COOKIE(secure) ((secure) ? "__Host-at_preview" : "at_preview")
#define PREVIEW_BANNER_MAX 1024

static int stmt_find;

static void preview_begun(struct db_txn *txn, enum db_status st, void *arg);
static void preview_found(struct db_txn *txn, enum db_status st, void *arg);
static void preview_committed(struct db_txn *txn, enum db_status st, void *arg);
static void preview_refused(struct rt_req *rq);
static void preview_stop(struct rt_req *rq);

void preview_register_statements(void)
{
	stmt_find = db_stmt("SELECT account_id, display_name, roles, version, seconds_left"
			    " FROM platform.bundle_preview_find($1, $2, $3, $4, $5, $6)");
}

/* The hash of a link's secret ("at_" and a token, as API_SECRET draws
 * it) of LEN bytes at S into HASH; false when it has not that shape. */
static bool secret_hash(const char *s, size_t len, char hash[65])
{
	const size_t prefix = sizeof(API_TOKEN_PREFIX) - 1;
	char token[TOKEN_CHARS + 1];
	if (len != prefix + TOKEN_CHARS || memcmp(s, API_TOKEN_PREFIX, prefix) != 0)
		return false;
	memcpy(token, s + prefix, TOKEN_CHARS);
	token[TOKEN_CHARS] = '\0';
	if (!token_valid(token))
		return false;
	token_hash_hex(token, hash);
	return true;
}

/* Takes RQ (a page or an asset, before its state is found) when it is a
 * preview's: /voorbeeld/stoppen, a link being opened, or a request with
 * the preview cookie, which is checked before the draft's state is
 * chosen. False: not a preview's, RQ goes on as any other request. */
bool preview_route(struct rt_req *rq)
{
	struct http_request *req = rq->req;
	size_t plen;
	const char *path = http_req_path(req, &plen);
	const char *cookies = http_req_header(req, "Cookie");
	bool secure = http_req_secure(req);
	rq->secure = secure;
	char secret[API_SECRET_CHARS + 2];
	long slen = cookie_get(cookies, PREVIEW_COOKIE(secure), secret, sizeof(secret));
	const size_t np = sizeof(PREVIEW_PREFIX) - 1;

	if (plen == sizeof(PREVIEW_STOP) - 1 && memcmp(path, PREVIEW_STOP, plen) == 0) {
		preview_stop(rq);
		return true;
	}
	if (plen > np && memcmp(path, PREVIEW_PREFIX, np) == 0) {
		rq->preview_open = true;
		if (!secret_hash(path + np, plen - np, rq->preview_token)) {
			preview_refused(rq);
			return true;
		}
	} else if (slen >= 0) {
		if (!secret_hash(secret, (size_t)slen, rq->preview_token)) {
			rq->preview_clear = true;
			return false;
		}
	} else {
		return false;
	}
	/* Bound to a session: without one (or without a database) there is
	 * no preview. */
	char token[TOKEN_CHARS + 2];
	if (cookie_get(cookies, COOKIE_SESSION(secure), token, sizeof(token)) < 0 || !token_valid(token) ||
	    !rq->rw->pool) {
		if (rq->preview_open) {
			preview_refused(rq);
			return true;
		}
		rq->preview_clear = true;
		return false;
	}
	token_hash_hex(token, rq->preview_session);
	db_begin(rq->rw->pool, rq->tenant_id, preview_begun, rq);
	return true;
}

static void preview_begun(struct db_txn *txn, enum db_status st, void *arg)
{
	struct rt_req *rq = arg;
	if (st != DB_OK) {
		rq_fail(rq, 503, NULL);
		return;
	}
	rq->txn = txn;
	struct rq_session_args a;
	rq_session_args(rq, &a);
	const char *p[6] = {a.tenant, rq->preview_token, rq->preview_session, a.idle, a.absolute,
			    rq->preview_open ? "true" : "false"};
	if (db_query(txn, stmt_find, 6, p) != 0) {
		rq_fail(rq, 500, "preview lookup refused by the pool");
		return;
	}
	db_send(txn, preview_found, rq);
}

static void preview_found(struct db_txn *txn, enum db_status st, void *arg)
{
	struct rt_req *rq = arg;
	if (st != DB_OK) {
		rq_fail(rq, st == DB_UNAVAILABLE ? 503 : 500, st == DB_UNAVAILABLE ? NULL : db_error(txn));
		return;
	}
	/* The session's principal (none: no row) is the page's: it is not
	 * read a second time (rq_start). */
	const PGresult *r = db_result(txn, 0);
	rq->session_read = true;
	if (PQntuples(r) == 1) {
		rq_set_user(rq, r, 0, rq->preview_session);
		if (!PQgetisnull(r, 0, 3)) {
			int64_t v = db_int(r, 0, 3), left = db_int(r, 0, 4);
			if (v > 0 && v <= 999999999 && left > 0 && left <= 3600) {
				rq->preview = (int)v;
				rq->preview_left = (int)left;
			}
		}
	}
	/* The link bound to its session, the session's last use: committed
	 * before the page goes on, so that the next request sees them. */
	rq->txn = NULL;
	db_commit(txn, preview_committed, rq);
}

static void preview_committed(struct db_txn *txn, enum db_status st, void *arg)
{
	(void)txn;
	struct rt_req *rq = arg;
	if (st != DB_OK) {
		rq_fail(rq, st == DB_UNAVAILABLE ? 503 : 500, NULL);
		return;
	}
	struct http_request *req = rq->req;
	if (rq->preview_open) {
		if (!rq->preview) {
			preview_refused(rq);
			return;
		}
		/* The link's secret goes into the cookie, for the time it has
		 * left; the address bar keeps no secret. */
		size_t plen;
		const char *path = http_req_path(req, &plen);
		const size_t np = sizeof(PREVIEW_PREFIX) - 1;
		char cookie[256];
		snprintf(cookie, sizeof(cookie), "%s=%.*s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%d%s",
			 PREVIEW_COOKIE(rq->secure), (int)(plen - np), path + np, rq->preview_left,
			 rq->secure ? "; Secure" : "");
		http_resp_status(req, 303);
		add_common_headers(req);
		http_resp_header(req, "Cache-Control", "no-store");
		http_resp_header(req, "Set-Cookie", cookie);
		http_resp_header(req, "Location", "/");
		http_resp_send(req);
		rq_free(rq);
		return;
	}
	if (!rq->preview) {
		log_info("request=%s tenant=%s: the preview cookie no longer holds: the current site", http_req_id(req),
			 rq->slug);
		rq->preview_clear = true;
	} else {
		rq->version = rq->preview;
	}
	rq_locate(rq);
}

/* A link that does not hold (expired, forged, another admin's or
 * session's, signed out, published): said plainly, and the cookie
 * cleared. */
static void preview_refused(struct rt_req *rq)
{
	struct http_request *req = rq->req;
	bool en = strcmp(http_req_lang(req), "en") == 0;
	rq->preview_clear = true;
	http_resp_status(req, 403);
	add_common_headers(req);
	add_cookies(rq);
	http_resp_header(req, "Content-Type", "text/html; charset=utf-8");
	http_resp_header(req, "Cache-Control", "no-store");
	http_resp_printf(req,
			 "<!doctype html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\">"
			 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
			 "<title>%s</title></head>\n<body><main><h1>%s</h1><p>%s</p><p><a href=\"/\">%s</a></p></main>"
			 "</body></html>\n",
			 en ? "en" : "nl", en ? "Preview not available" : "Voorbeeld niet beschikbaar",
			 en ? "This preview link does not work" : "Deze voorbeeldlink werkt niet",
			 en ? "It has expired, it belongs to another administrator or session, you are not signed in, "
			      "or the version has been published. Ask for a new preview at /beheer/bundel."
			    : "De link is verlopen, hoort bij een andere beheerder of sessie, u bent niet ingelogd, "
			      "of de versie is al gepubliceerd. Vraag een nieuw voorbeeld aan via /beheer/bundel.",
			 en ? "To the site" : "Naar de site");
	http_resp_send(req);
	rq_free(rq);
}

/* /voorbeeld/stoppen: the cookie cleared, back to the versions. It
 * changes nothing but this browser's cookie, so a GET does. */
static void preview_stop(struct rt_req *rq)
{
	struct http_request *req = rq->req;
	rq->preview_clear = true;
	http_resp_status(req, 303);
	add_common_headers(req);
	add_cookies(rq);
	http_resp_header(req, "Cache-Control", "no-store");
	http_resp_header(req, "Location", "/beheer/bundel");
	http_resp_send(req);
	rq_free(rq);
}

/* The page BODY of a preview, with the banner right after its <body>
 * tag (at the top when it has none): whatever the draft's templates, the
 * admin sees that this is not the published site, and the way out. */
void preview_banner(struct rt_req *rq, const char *body, size_t len)
{
	struct http_request *req = rq->req;
	bool en = strcmp(http_req_lang(req), "en") == 0;
	char banner[PREVIEW_BANNER_MAX];
	int n = snprintf(banner, sizeof(banner),
			 "<link rel=\"stylesheet\" href=\"/static/preview.css\">"
			 "<div class=\"at-preview\" role=\"region\" aria-label=\"%s\"><p><strong>%s %d — %s</strong> "
			 "<a href=\"/voorbeeld/stoppen\">%s</a></p></div>",
			 en ? "Preview" : "Voorbeeld", en ? "Preview of version" : "Voorbeeld van versie", rq->preview,
			 en ? "not published yet" : "nog niet gepubliceerd", en ? "Stop the preview" : "Voorbeeld stoppen");
	size_t at = 0;
	for (size_t i = 0; i + 5 <= len; i++) {
		if (body[i] == '<' && strncasecmp(body + i + 1, "body", 4) == 0 &&
		    (i + 5 == len || body[i + 5] == '>' || body[i + 5] == ' ' || body[i + 5] == '\t' ||
		     body[i + 5] == '\n' || body[i + 5] == '\r')) {
			const char *gt = memchr(body + i, '>', len - i);
			if (gt)
				at = (size_t)(gt + 1 - body);
			break;
		}
	}
	http_resp_body(req, body, at);
	if (n > 0 && (size_t)n < sizeof(banner))
		http_resp_body(req, banner, (size_t)n);
	http_resp_body(req, body + at, len - at);
}
