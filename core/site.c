/* The tenant home page in C: the tenant's name from the registry and its
 * welcome text from the plugin store, read in the request's transaction. */
#include "site.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "html.h"
#include "log.h"
#include "worker.h"

struct home {
	struct http_request *req;
	int64_t tenant_id;
	char slug[64];
	char name[801];   /* 200 characters of UTF-8 */
};

static int stmt_welcome;

static void home_begun(struct db_txn *txn, enum db_status st, void *arg);
static void home_done(struct db_txn *txn, enum db_status st, void *arg);
static void home_fail(struct home *h, enum db_status st, const char *why);

void site_register_statements(void)
{
	stmt_welcome = db_stmt("SELECT value->>'text' FROM plugin_store"
			       " WHERE tenant_id = $1 AND plugin = 'site' AND key = 'welcome'");
}

void site_handle(struct http_request *req, const struct tenant *t)
{
	size_t len;
	const char *path = http_req_path(req, &len);
	enum http_verb m = http_req_method(req);
	struct app_worker *a = app_of(http_req_worker(req));

	if (len != 1 || path[0] != '/') {
		http_resp_error(req, 404);
		return;
	}
	if (m != HTTP_M_GET && m != HTTP_M_HEAD) {
		http_resp_header(req, "Allow", "GET, HEAD");
		http_resp_error(req, 405);
		return;
	}
	struct home *h = calloc(1, sizeof(*h));
	if (!h) {
		http_resp_error(req, 503);
		return;
	}
	h->req = req;
	h->tenant_id = t->id;
	snprintf(h->slug, sizeof(h->slug), "%s", t->slug);
	snprintf(h->name, sizeof(h->name), "%s", t->name);
	/* The registry snapshot may change while we wait: the request keeps
	 * its own copies. */
	http_req_set_tenant(req, h->slug);
	db_begin(a->pool, t->id, home_begun, h);
}

static void home_begun(struct db_txn *txn, enum db_status st, void *arg)
{
	struct home *h = arg;
	if (st != DB_OK) {
		home_fail(h, st, "no database connection");
		return;
	}
	char id[24];
	snprintf(id, sizeof(id), "%" PRId64, h->tenant_id);
	const char *params[] = {id};
	db_query(txn, stmt_welcome, 1, params);
	db_commit(txn, home_done, h);
}

static void home_done(struct db_txn *txn, enum db_status st, void *arg)
{
	struct home *h = arg;
	struct http_request *req = h->req;
	if (st != DB_OK) {
		home_fail(h, st, db_error(txn));
		return;
	}
	const PGresult *r = db_result(txn, 0);
	const char *welcome = r && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : NULL;

	http_resp_header(req, "Content-Type", "text/html; charset=utf-8");
	http_resp_header(req, "Cache-Control", "no-cache");
	http_resp_printf(req, "<!doctype html>\n<html lang=\"nl\">\n<head>\n<meta charset=\"utf-8\">\n"
			      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
	html_append_escaped(req, h->name);
	http_resp_printf(req, "</title>\n</head>\n<body>\n<main>\n<h1>");
	html_append_escaped(req, h->name);
	http_resp_printf(req, "</h1>\n<p>");
	html_append_escaped(req, welcome ? welcome : "Welkom bij de lokale tafels.");
	http_resp_printf(req, "</p>\n</main>\n</body>\n</html>\n");
	http_resp_send(req);
	free(h);
}

static void home_fail(struct home *h, enum db_status st, const char *why)
{
	struct http_request *req = h->req;
	if (st == DB_ERROR)
		log_msg(LOG_LEVEL_ERROR, http_req_id(req), "home page query failed: %s", why);
	http_resp_error(req, st == DB_ERROR ? 500 : 503);
	free(h);
}
