/* Wiring of `aantafel serve`: what each worker holds besides its
 * connections, and what the main thread runs besides signals. */
#include "app.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_http.h"
#include "api_stream.h"
#include "apicache.h"
#include "app_worker.h"
#include "auth.h"
#include "bundle.h"
#include "bundle_check.h"
#include "datagen.h"
#include "pdfjob.h"
#include "db.h"
#include "dispatch.h"
#include "log.h"
#include "registry.h"
#include "mail.h"
#include "server.h"
#include "runtime.h"
#include "scheduler.h"
#include "worker.h"

static struct registry_listener *listener;
static struct mail_deliverer *deliverer;
static struct scheduler *scheduler;

/* Jobs' events on their way from the scheduler's thread to the first
 * worker, which fires them to the tenants' hooks (job_events_fire). */
struct job_events {
	struct job_events *next;
	int64_t tenant_id;
	json_t *events;
	struct app_worker *app;         /* set on the worker */
	struct db_txn *txn;
};
static pthread_mutex_t job_events_lock = PTHREAD_MUTEX_INITIALIZER;
static struct job_events *job_events_head, **job_events_tail = &job_events_head;
#define JOB_EVENTS_MAX 10000            /* waiting at once; more are dropped (logged) */
static int job_events_waiting;

static int worker_init_app(struct worker *w);
static void worker_message(struct worker *w, unsigned msg);
static void worker_fini_app(struct worker *w);
static int main_start(struct event_base *base, const struct config *cfg);
static void main_stop(void);
static void registry_changed(void *arg);
static void job_events_queue(int64_t tenant_id, const char *events_json, void *arg);
static void job_events_take(struct app_worker *a);
static void job_events_begun(struct db_txn *txn, enum db_status st, void *arg);
static void job_events_done(void *arg, int status, json_t *body);
static void job_events_committed(struct db_txn *txn, enum db_status st, void *arg);
static void job_events_free(struct job_events *je);

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
	if (bundle_check_init(cfg, err, sizeof(err)) != 0) {
		log_error("%s", err);
		pdfjob_fini();
		auth_fini();
		runtime_global_fini();
		return 1;
	}
	runtime_register_statements();
	api_register_statements();
	api_http_register_statements();
	api_stream_register_statements();
	api_http_configure(cfg->session_idle_timeout / 1000, cfg->session_absolute_timeout / 1000);
	bundle_register_statements();
	dispatch_register_statements();
	mail_register_statements();
	worker_set_app_hooks(&whooks);
	int rc = server_run(cfg, dispatch_request, &shooks);
	/* Jobs' events that came as the workers stopped: their hooks do not
	 * run (docs/plugins.md: at most once). */
	while (job_events_head) {
		struct job_events *je = job_events_head;
		job_events_head = je->next;
		job_events_free(je);
	}
	job_events_tail = &job_events_head;
	registry_clear();
	bundle_cache_clear();
	auth_fini();            /* after the workers: their loops are gone */
	pdfjob_fini();
	bundle_check_fini();
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
		if (a->rt)
			runtime_registry_changed(a->rt);
	}
	if ((msg & WORKER_MSG_JOB_EVENTS) && a->pool)
		job_events_take(a);
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
		return 0;
	}
	listener = registry_listener_start(base, cfg->database_url, registry_changed, NULL);
	if (!listener)
		return -1;
	if (mail_deliverer_start(cfg, &deliverer) != 0)
		return -1;
	return scheduler_start(cfg, job_events_queue, NULL, &scheduler);
}

static void main_stop(void)
{
	/* Before the workers stop: events it hands over still find them. */
	scheduler_stop(scheduler);
	scheduler = NULL;
	mail_deliverer_stop(deliverer);
	deliverer = NULL;
	registry_listener_stop(listener);
	listener = NULL;
}

/* The workers take the new registry; the bundle cache lets go of the
 * versions no longer current that nobody holds (a deleted draft's among
 * them: it is never asked for again, its number never given again). */
static void registry_changed(void *arg)
{
	server_broadcast(WORKER_MSG_REGISTRY);
	bundle_cache_trim();
}

/* ---------------------------------------------------------------- jobs' events */

/* On the scheduler's thread: queues a job's events for the first worker. */
static void job_events_queue(int64_t tenant_id, const char *events_json, void *arg)
{
	(void)arg;
	json_error_t jerr;
	json_t *events = json_loads(events_json, 0, &jerr);
	struct job_events *je = events && json_is_array(events) ? calloc(1, sizeof(*je)) : NULL;
	if (!je) {
		log_error("scheduler: tenant_id=%lld: a job's events are lost (%s)", (long long)tenant_id,
			  events ? "out of memory" : "not a JSON array");
		json_decref(events);
		return;
	}
	je->tenant_id = tenant_id;
	je->events = events;
	pthread_mutex_lock(&job_events_lock);
	bool full = job_events_waiting >= JOB_EVENTS_MAX;
	if (!full) {
		*job_events_tail = je;
		job_events_tail = &je->next;
		job_events_waiting++;
	}
	pthread_mutex_unlock(&job_events_lock);
	if (full) {
		log_error("scheduler: tenant_id=%lld: too many jobs' events wait for the hooks; these are dropped",
			  (long long)tenant_id);
		job_events_free(je);
		return;
	}
	server_send_first(WORKER_MSG_JOB_EVENTS);
}

/* On the first worker: starts every queued job's events, each in a
 * transaction of its tenant. */
static void job_events_take(struct app_worker *a)
{
	pthread_mutex_lock(&job_events_lock);
	struct job_events *list = job_events_head;
	job_events_head = NULL;
	job_events_tail = &job_events_head;
	job_events_waiting = 0;
	pthread_mutex_unlock(&job_events_lock);
	while (list) {
		struct job_events *je = list;
		list = je->next;
		je->next = NULL;
		je->app = a;
		db_begin(a->pool, je->tenant_id, job_events_begun, je);
	}
}

static void job_events_begun(struct db_txn *txn, enum db_status st, void *arg)
{
	struct job_events *je = arg;
	if (st != DB_OK || !txn) {
		log_warn("scheduler: tenant_id=%lld: a job's events were not given to the hooks: database unavailable",
			 (long long)je->tenant_id);
		job_events_free(je);
		return;
	}
	je->txn = txn;
	/* The current snapshot (the worker's may not have had the message
	 * of the first load yet); the runtime copies what it needs. */
	struct registry *reg = registry_acquire();
	const struct tenant *t = NULL;
	size_t n = registry_count(reg);
	for (size_t i = 0; i < n && !t; i++) {
		const struct tenant *x = registry_at(reg, i);
		if (x->id == je->tenant_id)
			t = x;
	}
	if (!t || t->status != TENANT_ACTIVE) {
		/* A tenant suspended or deleted since: nobody's hooks run. */
		log_info("scheduler: tenant_id=%lld is not active: a job's events go to no hooks", (long long)je->tenant_id);
		registry_unref(reg);
		db_rollback(txn);
		job_events_free(je);
		return;
	}
	runtime_events(je->app->rt, t, &je->txn, je->events, job_events_done, je);
	registry_unref(reg);
}

/* The hooks ran (BODY set) or failed (logged by the runtime): commit what
 * they wrote, or roll it back. */
static void job_events_done(void *arg, int status, json_t *body)
{
	struct job_events *je = arg;
	struct db_txn *txn = je->txn;
	je->txn = NULL;
	if (!body || status >= 400) {
		log_warn("scheduler: tenant_id=%lld: the hooks of a job's events failed (%d); what they wrote is rolled"
			 " back, the job stays done", (long long)je->tenant_id, status);
		if (txn)
			db_rollback(txn);
		job_events_free(je);
		return;
	}
	if (!txn) {
		job_events_free(je);
		return;
	}
	db_commit(txn, job_events_committed, je);
}

static void job_events_committed(struct db_txn *txn, enum db_status st, void *arg)
{
	struct job_events *je = arg;
	if (st != DB_OK)
		log_warn("scheduler: tenant_id=%lld: what the hooks of a job's events wrote was not saved: %s",
			 (long long)je->tenant_id, st == DB_UNAVAILABLE ? "database unavailable" : db_error(txn));
	else
		datagen_bump(je->tenant_id);
	job_events_free(je);
}

static void job_events_free(struct job_events *je)
{
	json_decref(je->events);
	free(je);
}
