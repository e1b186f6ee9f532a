/* Process-level serving: sockets, threads, signals, reload. */
#include "server.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"

#define LISTEN_BACKLOG 511

struct server {
	struct event_base *base;
	struct worker *workers;
	int nworkers;
	bool stopping;
	const struct server_hooks *hooks;
};

static struct server *running;

/* Parses "HOST:PORT" / "[V6]:PORT" / ":PORT" into a socket address. */
static int server_parse_listen(const char *listen, struct sockaddr_storage *ss, unsigned *sslen, char *err, size_t errlen);
static int bind_listener(const struct sockaddr_storage *ss, socklen_t len, bool reuseport, char *err, size_t errlen);

void server_broadcast(unsigned msg)
{
	for (int i = 0; running && i < running->nworkers; i++)
		worker_send(&running->workers[i], msg);
}

void server_send_first(unsigned msg)
{
	if (running && running->nworkers > 0)
		worker_send(&running->workers[0], msg);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg);
static void on_reload_signal(evutil_socket_t sig, short what, void *arg);

int server_run(struct config *cfg, http_handler_fn handler, const struct server_hooks *hooks)
{
	struct server srv = {0};
	struct sockaddr_storage ss;
	unsigned sslen;
	char err[512];
	int rc = 1;

	if (server_parse_listen(cfg->listen, &ss, &sslen, err, sizeof(err)) != 0) {
		log_error("listen: %s", err);
		return 1;
	}
	/* SO_REUSEPORT would let a second daemon share a port with a stale
	 * one and split its traffic; a plain bind first proves the port is
	 * free. */
	int probe = bind_listener(&ss, sslen, false, err, sizeof(err));
	if (probe < 0) {
		log_error("listen %s: %s", cfg->listen, err);
		return 1;
	}
	close(probe);

	evthread_use_pthreads();
	signal(SIGPIPE, SIG_IGN);

	srv.nworkers = cfg->workers > 0 ? (int)cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (srv.nworkers < 1)
		srv.nworkers = 1;
	srv.workers = calloc((size_t)srv.nworkers, sizeof(*srv.workers));
	srv.base = event_base_new();
	if (!srv.workers || !srv.base) {
		log_error("out of memory");
		goto out;
	}

	/* Workers inherit a mask with the signals blocked, so only the main
	 * thread's loop sees them. The main thread keeps them blocked until
	 * its handlers are in place: workers answer requests as soon as they
	 * start, and a SIGTERM in between would otherwise kill the process
	 * (default action) instead of stopping it. A blocked signal stays
	 * pending and reaches the handler when unblocked. */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, &old);

	int started = 0;
	for (int i = 0; i < srv.nworkers; i++) {
		int fd = bind_listener(&ss, sslen, true, err, sizeof(err));
		if (fd < 0 || worker_init(&srv.workers[i], i, fd, handler, err, sizeof(err)) != 0 ||
		    worker_start(&srv.workers[i]) != 0) {
			log_error("worker %d: %s", i, err);
			if (fd >= 0 && !srv.workers[i].listener)
				close(fd);
			break;
		}
		started++;
	}

	running = &srv;
	srv.hooks = hooks;
	bool serving = started == srv.nworkers;
	if (serving && hooks && hooks->start && hooks->start(srv.base, cfg) != 0) {
		log_error("start-up failed");
		serving = false;
	}
	if (serving) {
		struct event *sterm = evsignal_new(srv.base, SIGTERM, on_stop_signal, &srv);
		struct event *sint = evsignal_new(srv.base, SIGINT, on_stop_signal, &srv);
		struct event *shup = evsignal_new(srv.base, SIGHUP, on_reload_signal, &srv);
		evsignal_add(sterm, NULL);
		evsignal_add(sint, NULL);
		evsignal_add(shup, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		log_info("listening on http://%s with %d worker%s (pid %d)", cfg->listen, srv.nworkers,
			 srv.nworkers == 1 ? "" : "s", (int)getpid());
		event_base_dispatch(srv.base);
		/* Freeing the signal events restores the default actions, and a
		 * second SIGTERM while in-flight requests finish would then kill
		 * the process; blocked, it waits unseen (as on_stop_signal
		 * ignores it). */
		pthread_sigmask(SIG_BLOCK, &set, NULL);
		event_free(sterm);
		event_free(sint);
		event_free(shup);
		rc = 0;
	}
	if (hooks && hooks->stop)
		hooks->stop();

	for (int i = 0; i < started; i++)
		worker_send(&srv.workers[i], WORKER_MSG_STOP);
	for (int i = 0; i < started; i++)
		worker_join(&srv.workers[i]);
	for (int i = 0; i < started; i++)
		worker_free(&srv.workers[i]);
	if (rc == 0)
		log_info("stopped");
	running = NULL;
out:
	free(srv.workers);
	if (srv.base)
		event_base_free(srv.base);
	return rc;
}

static int server_parse_listen(const char *listen, struct sockaddr_storage *ss, unsigned *sslen, char *err, size_t errlen)
{
	char host[256];
	const char *port;
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (!close || close[1] != ':' || (size_t)(close - listen - 1) >= sizeof(host)) {
			snprintf(err, errlen, "'%s' is not [ADDRESS]:PORT", listen);
			return -1;
		}
		memcpy(host, listen + 1, (size_t)(close - listen - 1));
		host[close - listen - 1] = '\0';
		port = close + 2;
	} else {
		const char *colon = strrchr(listen, ':');
		if (!colon || (size_t)(colon - listen) >= sizeof(host)) {
			snprintf(err, errlen, "'%s' is not HOST:PORT", listen);
			return -1;
		}
		memcpy(host, listen, (size_t)(colon - listen));
		host[colon - listen] = '\0';
		port = colon + 1;
	}
	char *end;
	long p = strtol(port, &end, 10);
	if (!*port || *end || p < 1 || p > 65535) {
		snprintf(err, errlen, "'%s': port must be 1..65535", listen);
		return -1;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(host[0] && strcmp(host, "*") != 0 ? host : NULL, port, &hints, &res);
	if (gai != 0 || !res) {
		snprintf(err, errlen, "'%s': %s", listen, gai_strerror(gai));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = (unsigned)res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int bind_listener(const struct sockaddr_storage *ss, socklen_t len, bool reuseport, char *err, size_t errlen)
{
	int one = 1;
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
		snprintf(err, errlen, "SO_REUSEPORT: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (bind(fd, (const struct sockaddr *)ss, len) != 0) {
		snprintf(err, errlen, "bind: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (reuseport && listen(fd, LISTEN_BACKLOG) != 0) {
		snprintf(err, errlen, "listen: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	if (srv->stopping)
		return;
	srv->stopping = true;
	log_info("signal %d: finishing in-flight requests, then stopping", (int)sig);
	event_base_loopbreak(srv->base);
}

static void on_reload_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	struct config *old = config_acquire();
	char err[512], note[512];
	struct config *fresh = config_load(old->path, err, sizeof(err));
	if (!fresh) {
		log_error("reload refused, configuration unchanged: %s", err);
		config_unref(old);
		return;
	}
	config_keep_fixed(fresh, old, note, sizeof(note));
	if (note[0])
		log_warn("reload: %s cannot change without a restart; kept the running value", note);
	if (log_configure(fresh, err, sizeof(err)) != 0) {
		log_error("reload refused, configuration unchanged: %s", err);
		config_unref(fresh);
		config_unref(old);
		return;
	}
	config_set_current(fresh);
	if (srv->hooks && srv->hooks->reload)
		srv->hooks->reload(fresh);
	for (int i = 0; i < srv->nworkers; i++)
		worker_send(&srv->workers[i], WORKER_MSG_RELOAD);
	log_info("configuration reloaded from %s", fresh->path ? fresh->path : "defaults and environment");
	config_unref(fresh);
	config_unref(old);
}
