/* A worker thread: one libevent loop, one SO_REUSEPORT listener, the
 * connections it accepted, and the per-worker services later layers attach
 * (database pool, Lua states). Workers share only read-mostly registries. */
#ifndef AANTAFEL_WORKER_H
#define AANTAFEL_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "http.h"

struct event_base;
struct event;
struct evconnlistener;
struct http_conn;
struct error_pages;

enum worker_state {
	WORKER_RUNNING,
	WORKER_DRAINING,        /* listener closed, finishing in-flight requests */
	WORKER_STOPPED,
};

/* Messages from the main thread, set as bits and delivered by waking the
 * worker's control event. */
#define WORKER_MSG_RELOAD 1u            /* configuration reloaded */
#define WORKER_MSG_STOP 2u              /* drain and stop */
#define WORKER_MSG_REGISTRY 4u          /* tenant registry changed */
#define WORKER_MSG_BUNDLES 8u           /* a tenant bundle was deployed */
#define WORKER_MSG_JOB_EVENTS 16u       /* a job's events wait for the tenant's hooks (the first worker) */

struct worker {
	int index;
	enum worker_state state;
	pthread_t thread;
	struct event_base *base;
	struct evconnlistener *listener;
	struct event *control;
	struct event *shutdown_timer;
	struct event *accept_retry;
	atomic_uint messages;

	struct config *cfg;             /* this worker's reference */
	struct error_pages *pages;
	int static_dirfd;               /* -1 when static_dir cannot be opened */
	struct static_cache *static_cache;
	struct netlist *trusted;        /* trusted_proxies, parsed */
	http_handler_fn handler;
	void *app;                      /* the application's per-worker state */

	struct http_conn *conns;        /* intrusive list of open connections */
	uint64_t nconns;

	uint32_t next_request;
	time_t date_sec;
	char date[40];                  /* "Date: ...\r\n" cached per second */
};

/* Global count of open connections across workers, for max_connections. */
extern atomic_long worker_open_connections;

/* Creates the worker's loop and listener on FD (already bound). */
int worker_init(struct worker *w, int index, int listen_fd, http_handler_fn handler, char *err, size_t errlen);
int worker_start(struct worker *w);
void worker_send(struct worker *w, unsigned msg);
void worker_join(struct worker *w);
void worker_free(struct worker *w);

/* Called by the connection layer when a connection closes. */
void worker_conn_closed(struct worker *w);

/* The cached "Date: ...\r\n" line for this second. */
const char *worker_date_line(struct worker *w);

/* Hooks the application uses to attach its per-worker state; set before
 * workers start. */
struct worker_app_hooks {
	int (*init)(struct worker *w);              /* on the worker thread, before the loop */
	void (*message)(struct worker *w, unsigned msg); /* after RELOAD is applied, and app messages */
	void (*drain)(struct worker *w);            /* when shutdown begins */
	void (*fini)(struct worker *w);             /* on the worker thread, after the loop */
};
void worker_set_app_hooks(const struct worker_app_hooks *hooks);

#endif
