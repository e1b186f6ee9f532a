/* Request dispatch: routes that belong to the platform, then the tenant
 * named by Host. An unknown host gets the static 404 page, which names no
 * tenant; a suspended tenant gets the static 503 page. */
#include "dispatch.h"

#include <string.h>

#include "api_http.h"
#include "app_worker.h"
#include "db.h"
#include "runtime.h"
#include "static_files.h"
#include "worker.h"

#define STATIC_PREFIX "/static/"

static int stmt_ready;

static void readyz(struct http_request *req);
static void ready_begun(struct db_txn *txn, enum db_status st, void *arg);
static void ready_done(struct db_txn *txn, enum db_status st, void *arg);
static void plain(struct http_request *req, int status, const char *text);

void dispatch_register_statements(void)
{
	stmt_ready = db_stmt("SELECT 1");
}

void dispatch_request(struct http_request *req)
{
	size_t len;
	const char *path = http_req_path(req, &len);
	struct worker *w = http_req_worker(req);

	if (len == 8 && memcmp(path, "/healthz", 8) == 0) {
		plain(req, 200, "ok\n");
		return;
	}
	if (len == 7 && memcmp(path, "/readyz", 7) == 0) {
		readyz(req);
		return;
	}
	if (len > sizeof(STATIC_PREFIX) - 1 && memcmp(path, STATIC_PREFIX, sizeof(STATIC_PREFIX) - 1) == 0) {
		static_serve(req, w->static_cache, w->static_dirfd, path + sizeof(STATIC_PREFIX) - 1,
			     len - (sizeof(STATIC_PREFIX) - 1));
		return;
	}

	struct app_worker *a = w->app;
	if (a && !a->registry)
		a->registry = registry_acquire();   /* loaded before this worker heard of it */
	if (!a || !a->registry) {
		/* Started, but the registry has not loaded yet. */
		http_resp_header(req, "Retry-After", "1");
		http_resp_error(req, 503);
		return;
	}
	const struct tenant *t = registry_by_host(a->registry, http_req_host(req));
	if (!t) {
		http_resp_error(req, 404);
		return;
	}
	http_req_set_tenant(req, t->slug);
	http_req_set_lang_default(req, t->default_lang);
	if (t->status != TENANT_ACTIVE) {
		http_resp_error(req, 503);
		return;
	}
	if (len >= 7 && memcmp(path, "/api/v1", 7) == 0 && (len == 7 || path[7] == '/')) {
		api_handle(a, req, t);
		return;
	}
	runtime_handle(a->rt, req, t);
}

/* ---------------------------------------------------------------- readiness */

static void readyz(struct http_request *req)
{
	struct app_worker *a = http_req_worker(req)->app;
	if (!a || !a->pool) {
		plain(req, 503, "not ready: no database configured\n");
		return;
	}
	if (!a->registry) {
		plain(req, 503, "not ready: tenant registry not loaded\n");
		return;
	}
	db_begin(a->pool, 0, ready_begun, req);
}

static void ready_begun(struct db_txn *txn, enum db_status st, void *arg)
{
	struct http_request *req = arg;
	if (st != DB_OK) {
		plain(req, 503, "not ready: database unavailable\n");
		return;
	}
	db_query(txn, stmt_ready, 0, NULL);
	db_commit(txn, ready_done, req);
}

static void ready_done(struct db_txn *txn, enum db_status st, void *arg)
{
	struct http_request *req = arg;
	if (st == DB_OK)
		plain(req, 200, "ready\n");
	else
		plain(req, 503, "not ready: database unavailable\n");
}

static void plain(struct http_request *req, int status, const char *text)
{
	http_resp_status(req, status);
	http_resp_header(req, "Content-Type", "text/plain; charset=utf-8");
	http_resp_header(req, "Cache-Control", "no-store");
	http_resp_body(req, text, strlen(text));
	http_resp_send(req);
}
