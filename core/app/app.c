/* Wiring of `aantafel serve`: what each worker holds besides its
 * connections, and what the main thread runs besides signals. */
#include "app.h"

#include <stdlib.h>

#include "api.h"
#include "api_http.h"
#include "apicache.h"
#include "app_worker.h"
#include "auth.h"
#include "pdfjob.h"
#include "db.h"
#include "dispatch.h"
#include "log.h"
#include "registry.h"
#include "mail.h"
#include "server.h"
#include "runtime.h"
#include "worker.h"

static struct registry_listener *listener;
static struct mail_deliverer *deliverer;

static int worker_init_app(struct worker *w);
static void worker_message(struct worker *w, unsigned msg);
static void worker_fini_app(struct worker *w);
static int main_start(struct event_base *base, const struct config *cfg);
static void main_stop(void);
static void registry_changed(void *arg);

int app_serve(struct config *cfg)
{
	static const struct worker_app_hooks whooks = {
		.init = worker_init_app,
		.message = worker_message,
		.fini = worker_fini_app,
	};
	static const struct server_hooks shooks = {
		.start = main_start,
		.stop = main_stop,
	};
	char err[512];
	if (runtime_global_init(cfg, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return 1;
	}
	if (auth_init(cfg, err, sizeof(err)) != 0) {
		log_error("%s", err);
		runtime_global_fini();
		return 1;
	}
	if (pdfjob_init(cfg, err, sizeof(err)) != 0) {
		log_error("%s", err);
		auth_fini();
		runtime_global_fini();
		return 1;
	}
	runtime_register_statements();
	api_register_statements();
	api_http_register_statements();
	api_http_configure(cfg->session_idle_timeout / 1000, cfg->session_absolute_timeout / 1000);
	bundle_register_statements();
	dispatch_register_statements();
	mail_register_statements();
	worker_set_app_hooks(&whooks);
	int rc = server_run(cfg, dispatch_request, &shooks);
	registry_clear();
	bundle_cache_clear();
	auth_fini();            /* after the workers: their loops are gone */
	pdfjob_fini();
	runtime_global_fini();
	return rc;
}

static int worker_init_app(struct worker *w)
{
	struct app_worker *a = calloc(1, sizeof(*a));
	if (!a)
		return -1;
	w->app = a;
	if (w->cfg->database_url[0]) {
		a->pool = db_pool_new(w->base, w->cfg, w->index);
		if (!a->pool)
			return -1;
	}
	a->registry = registry_acquire();
	a->cache = apicache_new((size_t)w->cfg->api_cache_size);
	if (!a->cache)
		return -1;
	a->rt = runtime_worker_new(w, a->pool, a->cache);
	if (!a->rt)
		return -1;
	return 0;
}

static void worker_message(struct worker *w, unsigned msg)
{
	struct app_worker *a = w->app;
	if (!a)
		return;
	if ((msg & WORKER_MSG_RELOAD) && a->pool)
		db_pool_configure(a->pool, w->cfg);
	if ((msg & WORKER_MSG_RELOAD) && a->rt)
		runtime_worker_configure(a->rt, w->cfg);
	if ((msg & WORKER_MSG_RELOAD) && a->cache)
		apicache_configure(a->cache, (size_t)w->cfg->api_cache_size);
	if ((msg & WORKER_MSG_RELOAD) && w->index == 0) {
		auth_configure(w->cfg);
		api_http_configure(w->cfg->session_idle_timeout / 1000, w->cfg->session_absolute_timeout / 1000);
	}
	if (msg & WORKER_MSG_REGISTRY) {
		struct registry *r = registry_acquire();
		registry_unref(a->registry);
		a->registry = r;
	}
}

static void worker_fini_app(struct worker *w)
{
	struct app_worker *a = w->app;
	if (!a)
		return;
	runtime_worker_free(a->rt);
	apicache_free(a->cache);
	db_pool_free(a->pool);
	registry_unref(a->registry);
	free(a);
	w->app = NULL;
}

static int main_start(struct event_base *base, const struct config *cfg)
{
	if (!cfg->database_url[0]) {
		log_warn("database_url is not set: no tenants are served");
		/* An empty registry: every host is unknown. */
		if (registry_publish(NULL, 0) != 0)
			return -1;
		server_broadcast(WORKER_MSG_REGISTRY);
	bundle_cache_trim();
		return 0;
	}
	listener = registry_listener_start(base, cfg->database_url, registry_changed, NULL);
	if (!listener)
		return -1;
	return mail_deliverer_start(cfg, &deliverer);
}

static void main_stop(void)
{
	mail_deliverer_stop(deliverer);
	deliverer = NULL;
	registry_listener_stop(listener);
	listener = NULL;
}

static void registry_changed(void *arg)
{
	server_broadcast(WORKER_MSG_REGISTRY);
}
