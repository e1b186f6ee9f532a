/* Worker threads. Each owns an event loop and a listener bound to the same
 * port with SO_REUSEPORT, so the kernel spreads connections and no lock is
 * taken on the accept path. The main thread talks to workers only through
 * worker_send (a bit set plus a wake-up). */
#include "worker.h"

#include "netaddr.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http_conn.h"
#include "http_error.h"
#include "log.h"
#include "static_files.h"

atomic_long worker_open_connections;

static struct worker_app_hooks app_hooks;

static void *worker_main(void *arg);
static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg);
static void on_accept_error(struct evconnlistener *l, void *arg);
static void on_accept_retry(evutil_socket_t fd, short what, void *arg);
static void on_control(evutil_socket_t fd, short what, void *arg);
static void on_shutdown_timer(evutil_socket_t fd, short what, void *arg);
static void worker_apply_config(struct worker *w);
static void worker_maybe_done(struct worker *w);

void worker_set_app_hooks(const struct worker_app_hooks *hooks)
{
	app_hooks = *hooks;
}

int worker_init(struct worker *w, int index, int listen_fd, http_handler_fn handler, char *err, size_t errlen)
{
	memset(w, 0, sizeof(*w));
	w->index = index;
	w->handler = handler;
	w->static_dirfd = -1;
	w->state = WORKER_RUNNING;
	w->static_cache = static_cache_new();
	w->base = event_base_new();
	if (!w->base) {
		snprintf(err, errlen, "event_base_new failed");
		return -1;
	}
	w->control = event_new(w->base, -1, EV_PERSIST, on_control, w);
	w->shutdown_timer = evtimer_new(w->base, on_shutdown_timer, w);
	w->accept_retry = evtimer_new(w->base, on_accept_retry, w);
	if (!w->control || !w->shutdown_timer || !w->accept_retry) {
		snprintf(err, errlen, "event_new failed");
		return -1;
	}
	event_add(w->control, NULL);
	if (listen_fd >= 0) {
		w->listener = evconnlistener_new(w->base, on_accept, w, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
						 -1, listen_fd);
		if (!w->listener) {
			snprintf(err, errlen, "evconnlistener_new failed");
			close(listen_fd);
			return -1;
		}
		evconnlistener_set_error_cb(w->listener, on_accept_error);
	}
	w->cfg = config_acquire();
	worker_apply_config(w);
	return 0;
}

int worker_start(struct worker *w)
{
	return pthread_create(&w->thread, NULL, worker_main, w);
}

void worker_send(struct worker *w, unsigned msg)
{
	atomic_fetch_or(&w->messages, msg);
	event_active(w->control, EV_READ, 0);
}

void worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
}

void worker_free(struct worker *w)
{
	http_conn_close_all(w);
	if (w->listener)
		evconnlistener_free(w->listener);
	if (w->control)
		event_free(w->control);
	if (w->shutdown_timer)
		event_free(w->shutdown_timer);
	if (w->accept_retry)
		event_free(w->accept_retry);
	if (w->base)
		event_base_free(w->base);
	if (w->static_dirfd >= 0)
		close(w->static_dirfd);
	error_pages_free(w->pages);
	static_cache_free(w->static_cache);
	netlist_free(w->trusted);
	config_unref(w->cfg);
	memset(w, 0, sizeof(*w));
	w->static_dirfd = -1;
}

void worker_conn_closed(struct worker *w)
{
	atomic_fetch_sub_explicit(&worker_open_connections, 1, memory_order_relaxed);
	if (w->state == WORKER_DRAINING)
		worker_maybe_done(w);
}

const char *worker_date_line(struct worker *w)
{
	struct timeval tv;
	if (w->base)
		event_base_gettimeofday_cached(w->base, &tv);
	else
		gettimeofday(&tv, NULL);
	if (tv.tv_sec != w->date_sec) {
		struct tm tm;
		w->date_sec = tv.tv_sec;
		gmtime_r(&w->date_sec, &tm);
		strftime(w->date, sizeof(w->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
	}
	return w->date;
}

/* ---------------------------------------------------------------- thread */

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	if (app_hooks.init && app_hooks.init(w) != 0) {
		log_error("worker %d: application init failed", w->index);
	}
	event_base_dispatch(w->base);
	if (app_hooks.fini)
		app_hooks.fini(w);
	http_conn_close_all(w);
	w->state = WORKER_STOPPED;
	return NULL;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct worker *w = arg;
	long open = atomic_fetch_add_explicit(&worker_open_connections, 1, memory_order_relaxed);
	if (open >= w->cfg->max_connections || w->state != WORKER_RUNNING) {
		/* Over the cap: close at once; connections being served carry
		 * on. A log line per refusal would let a flood fill the disk,
		 * so only every 1000th is logged. */
		static _Thread_local unsigned long refused;
		if (refused++ % 1000 == 0)
			log_warn("max_connections (%lld) reached; refusing connections",
				 (long long)w->cfg->max_connections);
		atomic_fetch_sub_explicit(&worker_open_connections, 1, memory_order_relaxed);
		close(fd);
		return;
	}
	if (!http_conn_accept(w, fd, sa, (socklen_t)salen))
		atomic_fetch_sub_explicit(&worker_open_connections, 1, memory_order_relaxed);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct worker *w = arg;
	int e = EVUTIL_SOCKET_ERROR();
	log_error("worker %d: accept: %s; pausing accepts for 100 ms", w->index, strerror(e));
	/* Out of descriptors: spinning on accept would burn the loop. */
	evconnlistener_disable(l);
	event_add(w->accept_retry, &(struct timeval){.tv_usec = 100000});
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	if (w->listener && w->state == WORKER_RUNNING)
		evconnlistener_enable(w->listener);
}

static void on_control(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	unsigned msg = atomic_exchange(&w->messages, 0);
	if (msg & WORKER_MSG_RELOAD) {
		struct config *c = config_acquire();
		config_unref(w->cfg);
		w->cfg = c;
		worker_apply_config(w);
	}
	if ((msg & ~WORKER_MSG_STOP) && app_hooks.message)
		app_hooks.message(w, msg & ~WORKER_MSG_STOP);
	if ((msg & WORKER_MSG_STOP) && w->state == WORKER_RUNNING) {
		w->state = WORKER_DRAINING;
		if (w->listener) {
			evconnlistener_free(w->listener);
			w->listener = NULL;
		}
		if (app_hooks.drain)
			app_hooks.drain(w);
		http_conn_drain_all(w);
		int64_t ms = w->cfg->shutdown_timeout;
		event_add(w->shutdown_timer, &(struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000});
		worker_maybe_done(w);
	}
}

static void on_shutdown_timer(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	log_warn("worker %d: shutdown_timeout passed with %llu connections open; closing them", w->index,
		 (unsigned long long)w->nconns);
	http_conn_close_all(w);
	event_base_loopbreak(w->base);
}

static void worker_maybe_done(struct worker *w)
{
	if (w->nconns == 0)
		event_base_loopbreak(w->base);
}

/* Per-worker copies of what the configuration names: error pages and
 * the static directory. Loaded here so serving never reads them. */
static void worker_apply_config(struct worker *w)
{
	char nerr[128];
	struct netlist *nl = netlist_parse(w->cfg->trusted_proxies, nerr, sizeof(nerr));
	if (nl) {              /* the configuration was checked: only memory can fail */
		netlist_free(w->trusted);
		w->trusted = nl;
	}
	struct error_pages *pages = error_pages_load(w->cfg->errors_dir);
	if (pages) {
		error_pages_free(w->pages);
		w->pages = pages;
	}
	if (w->static_dirfd < 0) {
		w->static_dirfd = open(w->cfg->static_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (w->static_dirfd < 0 && w->index == 0)
			log_warn("static_dir %s: %s; /static/ answers 404", w->cfg->static_dir, strerror(errno));
	}
}
