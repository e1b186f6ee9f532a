/* Registry snapshots and the listener that keeps them fresh. The listener
 * runs on the main thread's loop with its own non-blocking connection; it
 * is a small state machine (enum ls_state) like the pool's connections. */
#include "registry.h"

#include <ctype.h>
#include <event2/event.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "datagen.h"
#include "db.h"
#include "log.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define CONNECT_TIMEOUT_MS 5000
#define LOAD_TIMEOUT_MS 15000   /* LISTEN and the registry's SELECT */

struct host_slot {
	const char *host;       /* NULL: empty slot */
	uint32_t tenant;
};

struct registry {
	atomic_int refs;
	size_t ntenants;
	struct tenant *tenants;
	size_t nslots;          /* power of two */
	struct host_slot *slots;
	char *strings;          /* all slugs, names and hosts */
};

enum ls_state {
	LS_DOWN,                /* waiting for the backoff timer */
	LS_CONNECTING,
	LS_LOADING,             /* LISTEN + SELECT in flight, under a deadline */
	LS_IDLE,                /* waiting for notifications */
};

struct registry_listener {
	struct event_base *base;
	char *conninfo;
	enum ls_state state;
	PGconn *pg;
	int fd;
	struct event *rev, *wev, *timer;
	int backoff_ms;
	bool reload_again;      /* a notification came while loading */
	bool listening;         /* LISTEN done on this connection */
	void (*changed)(void *arg);
	void *arg;
};

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct registry *current;

static const char LOAD_SQL[] =
	"SELECT t.id, t.slug, t.name, t.status,"
	" coalesce(string_agg(h.host, ' ' ORDER BY h.host), ''), t.bundle_version, coalesce(t.default_lang, '')"
	" FROM platform.tenants t LEFT JOIN platform.tenant_hosts h ON h.tenant_id = t.id"
	" GROUP BY t.id ORDER BY t.id";

static void registry_free(struct registry *r);
static void log_deploys(const struct registry *old, const struct registry *r);
static uint32_t hash_host(const char *s);
static void ls_connect(struct registry_listener *l);
static void ls_poll_connect(struct registry_listener *l);
static void ls_send_load(struct registry_listener *l);
static void ls_read(struct registry_listener *l);
static void ls_fail(struct registry_listener *l, const char *why);
static void ls_close(struct registry_listener *l);
static void ls_want(struct registry_listener *l, bool read, bool write);
static void ls_unwatch(struct registry_listener *l);
static void ls_arm(struct registry_listener *l, int ms);
static void on_ls_read(evutil_socket_t fd, short what, void *arg);
static void on_ls_write(evutil_socket_t fd, short what, void *arg);
static void on_ls_timer(evutil_socket_t fd, short what, void *arg);

/* ---------------------------------------------------------------- snapshots */

struct registry *registry_acquire(void)
{
	pthread_mutex_lock(&current_lock);
	struct registry *r = current;
	if (r)
		atomic_fetch_add(&r->refs, 1);
	pthread_mutex_unlock(&current_lock);
	return r;
}

void registry_unref(struct registry *r)
{
	if (r && atomic_fetch_sub(&r->refs, 1) == 1)
		registry_free(r);
}

const struct tenant *registry_by_host(const struct registry *r, const char *host)
{
	if (!r || r->nslots == 0)
		return NULL;
	size_t mask = r->nslots - 1;
	for (size_t i = hash_host(host) & mask;; i = (i + 1) & mask) {
		const struct host_slot *s = &r->slots[i];
		if (!s->host)
			return NULL;
		if (strcmp(s->host, host) == 0)
			return &r->tenants[s->tenant];
	}
}

size_t registry_count(const struct registry *r)
{
	return r ? r->ntenants : 0;
}

const struct tenant *registry_at(const struct registry *r, size_t i)
{
	return r && i < r->ntenants ? &r->tenants[i] : NULL;
}

int registry_publish(const struct registry_row *rows, size_t n)
{
	struct registry *r = calloc(1, sizeof(*r));
	size_t bytes = 0, nhosts = 0;
	for (size_t i = 0; i < n; i++) {
		bytes += strlen(rows[i].slug) + strlen(rows[i].name) + strlen(rows[i].hosts) + 3;
		if (rows[i].hosts[0]) {
			nhosts++;
			for (const char *p = rows[i].hosts; *p; p++)
				nhosts += *p == ' ';
		}
	}
	size_t nslots = 16;
	while (nslots < nhosts * 2)
		nslots *= 2;
	if (!r)
		return -1;
	atomic_init(&r->refs, 1);
	r->ntenants = n;
	r->tenants = calloc(n ? n : 1, sizeof(*r->tenants));
	r->nslots = nslots;
	r->slots = calloc(nslots, sizeof(*r->slots));
	r->strings = malloc(bytes ? bytes : 1);
	if (!r->tenants || !r->slots || !r->strings) {
		registry_free(r);
		return -1;
	}
	char *p = r->strings;
	for (size_t i = 0; i < n; i++) {
		struct tenant *t = &r->tenants[i];
		t->id = rows[i].id;
		t->status = strcmp(rows[i].status, "active") == 0 ? TENANT_ACTIVE : TENANT_SUSPENDED;
		t->bundle_version = rows[i].bundle_version > 0 ? rows[i].bundle_version : 0;
		const char *dl = rows[i].default_lang;
		snprintf(t->default_lang, sizeof(t->default_lang), "%s",
			 dl && (strcmp(dl, "nl") == 0 || strcmp(dl, "en") == 0) ? dl : "");
		size_t len = strlen(rows[i].slug) + 1;
		memcpy(p, rows[i].slug, len);
		t->slug = p;
		p += len;
		len = strlen(rows[i].name) + 1;
		memcpy(p, rows[i].name, len);
		t->name = p;
		p += len;
		len = strlen(rows[i].hosts) + 1;
		memcpy(p, rows[i].hosts, len);
		char *h = p;
		p += len;
		while (*h) {
			char *end = strchr(h, ' ');
			if (end)
				*end = '\0';
			for (char *c = h; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			size_t mask = nslots - 1, k = hash_host(h) & mask;
			while (r->slots[k].host && strcmp(r->slots[k].host, h) != 0)
				k = (k + 1) & mask;
			r->slots[k].host = h;
			r->slots[k].tenant = (uint32_t)i;
			if (!end)
				break;
			h = end + 1;
		}
	}
	pthread_mutex_lock(&current_lock);
	struct registry *old = current;
	current = r;
	pthread_mutex_unlock(&current_lock);
	if (old)
		log_deploys(old, r);
	registry_unref(old);
	return 0;
}

void registry_clear(void)
{
	pthread_mutex_lock(&current_lock);
	struct registry *old = current;
	current = NULL;
	pthread_mutex_unlock(&current_lock);
	registry_unref(old);
}

/* Names each tenant whose deployed bundle changed. Both snapshots come
 * ordered by id from LOAD_SQL; a merge walk finds the pairs. */
static void log_deploys(const struct registry *old, const struct registry *r)
{
	size_t i = 0, k = 0;
	while (i < old->ntenants && k < r->ntenants) {
		const struct tenant *a = &old->tenants[i], *b = &r->tenants[k];
		if (a->id < b->id) {
			i++;
		} else if (a->id > b->id) {
			k++;
		} else {
			if (a->bundle_version != b->bundle_version)
				log_info("registry: tenant %s now runs bundle version %d (was %d)", b->slug,
					 b->bundle_version, a->bundle_version);
			i++;
			k++;
		}
	}
}

static void registry_free(struct registry *r)
{
	free(r->tenants);
	free(r->slots);
	free(r->strings);
	free(r);
}

static uint32_t hash_host(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* ---------------------------------------------------------------- listener */

struct registry_listener *registry_listener_start(struct event_base *base, const char *conninfo,
						  void (*changed)(void *arg), void *arg)
{
	struct registry_listener *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->base = base;
	l->conninfo = strdup(conninfo);
	l->changed = changed;
	l->arg = arg;
	l->fd = -1;
	l->timer = evtimer_new(base, on_ls_timer, l);
	if (!l->conninfo || !l->timer) {
		registry_listener_stop(l);
		return NULL;
	}
	ls_connect(l);
	return l;
}

void registry_listener_stop(struct registry_listener *l)
{
	if (!l)
		return;
	ls_close(l);
	if (l->timer)
		event_free(l->timer);
	free(l->conninfo);
	free(l);
}

static void ls_connect(struct registry_listener *l)
{
	const char *keys[] = {"dbname", "application_name", NULL};
	const char *vals[] = {l->conninfo, "aantafel-registry", NULL};
	l->pg = PQconnectStartParams(keys, vals, 1);
	if (!l->pg || PQstatus(l->pg) == CONNECTION_BAD) {
		ls_fail(l, l->pg ? PQerrorMessage(l->pg) : "out of memory");
		return;
	}
	l->state = LS_CONNECTING;
	l->listening = false;
	ls_arm(l, CONNECT_TIMEOUT_MS);
	/* As the pool does (db.c): the first poll waits for write
	 * readiness, and the events are made anew after every poll. */
	ls_want(l, false, true);
}

static void ls_poll_connect(struct registry_listener *l)
{
	PostgresPollingStatusType st = PQconnectPoll(l->pg);
	if (st == PGRES_POLLING_FAILED) {
		ls_fail(l, PQerrorMessage(l->pg));
		return;
	}
	if (st == PGRES_POLLING_OK) {
		event_del(l->timer);
		PQsetnonblocking(l->pg, 1);
		if (l->backoff_ms)
			log_info("registry: connected again; reloading");
		l->backoff_ms = 0;
		ls_send_load(l);
		return;
	}
	ls_unwatch(l);
	ls_want(l, st == PGRES_POLLING_READING, st == PGRES_POLLING_WRITING);
}

static void ls_send_load(struct registry_listener *l)
{
	/* LISTEN before SELECT on one connection: a change committed after
	 * the SELECT's snapshot is notified and reloads again. */
	const char *sql = l->listening ? LOAD_SQL : "LISTEN aantafel_registry; LISTEN aantafel_data";
	if (!PQsendQuery(l->pg, sql)) {
		ls_fail(l, PQerrorMessage(l->pg));
		return;
	}
	l->state = LS_LOADING;
	l->reload_again = false;
	/* A server that takes the connection and then says nothing must not
	 * hold the listener (and every cache's invalidation) for ever. */
	ls_arm(l, LOAD_TIMEOUT_MS);
	int r = PQflush(l->pg);
	if (r < 0) {
		ls_fail(l, PQerrorMessage(l->pg));
		return;
	}
	ls_want(l, true, r == 1);
}

/* A registry change reloads the registry; a tenant's data changed bumps
 * its generation, unless it is the echo of this daemon's own write (the
 * payload is the tenant's id, then the writer's tag when a daemon wrote:
 * datagen.h). */
static void take_notifications(struct registry_listener *l)
{
	PGnotify *n;
	while ((n = PQnotifies(l->pg))) {
		if (strcmp(n->relname, "aantafel_data") == 0) {
			char *end;
			long long id = strtoll(n->extra, &end, 10);
			if (end != n->extra && !*end)
				datagen_notified(id, NULL);
			else if (end != n->extra && *end == ' ')
				datagen_notified(id, end + 1);
			else
				datagen_bump_all();
		} else {
			l->reload_again = true;
		}
		PQfreemem(n);
	}
}

static void ls_read(struct registry_listener *l)
{
	if (!PQconsumeInput(l->pg)) {
		ls_fail(l, PQerrorMessage(l->pg));
		return;
	}
	take_notifications(l);
	while (l->state == LS_LOADING && !PQisBusy(l->pg)) {
		PGresult *r = PQgetResult(l->pg);
		if (!r) {
			/* Query finished. */
			if (!l->listening) {
				/* Changes to the tenants' data while nobody
				 * listened went unheard: every cache is stale. */
				l->listening = true;
				datagen_bump_all();
				ls_send_load(l);
				return;
			}
			l->state = LS_IDLE;
			event_del(l->timer);
			break;
		}
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_TUPLES_OK) {
			int n_rows = PQntuples(r);
			struct registry_row *rows = calloc((size_t)(n_rows ? n_rows : 1), sizeof(*rows));
			if (rows) {
				for (int i = 0; i < n_rows; i++) {
					rows[i].id = db_int(r, i, 0);
					rows[i].slug = PQgetvalue(r, i, 1);
					rows[i].name = PQgetvalue(r, i, 2);
					rows[i].status = PQgetvalue(r, i, 3);
					rows[i].hosts = PQgetvalue(r, i, 4);
					rows[i].bundle_version = (int)strtol(PQgetvalue(r, i, 5), NULL, 10);
					rows[i].default_lang = PQgetvalue(r, i, 6);
				}
				if (registry_publish(rows, (size_t)n_rows) == 0) {
					log_info("registry: %d tenant%s loaded", n_rows, n_rows == 1 ? "" : "s");
					if (l->changed)
						l->changed(l->arg);
				}
				free(rows);
			}
		} else if (st != PGRES_COMMAND_OK) {
			log_error("registry: %s", PQresultErrorMessage(r));
		}
		PQclear(r);
	}
	/* Notifications read together with the results surface only now. */
	take_notifications(l);
	if (l->state == LS_IDLE && l->reload_again)
		ls_send_load(l);
	else if (PQstatus(l->pg) == CONNECTION_BAD)
		ls_fail(l, PQerrorMessage(l->pg));
}

static void ls_fail(struct registry_listener *l, const char *why)
{
	if (l->backoff_ms == 0)
		log_warn("registry: database connection lost: %.*s; retrying", (int)strcspn(why, "\n"), why);
	ls_close(l);
	l->state = LS_DOWN;
	l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (l->backoff_ms > BACKOFF_MAX_MS)
		l->backoff_ms = BACKOFF_MAX_MS;
	ls_arm(l, l->backoff_ms);
}

static void ls_close(struct registry_listener *l)
{
	ls_unwatch(l);
	if (l->timer)
		event_del(l->timer);
	if (l->pg)
		PQfinish(l->pg);
	l->pg = NULL;
}

static void ls_unwatch(struct registry_listener *l)
{
	if (l->rev)
		event_free(l->rev);
	if (l->wev)
		event_free(l->wev);
	l->rev = l->wev = NULL;
	l->fd = -1;
}

static void ls_want(struct registry_listener *l, bool read, bool write)
{
	int fd = PQsocket(l->pg);
	if (fd != l->fd) {
		ls_unwatch(l);
		l->rev = event_new(l->base, fd, EV_READ | EV_PERSIST, on_ls_read, l);
		l->wev = event_new(l->base, fd, EV_WRITE | EV_PERSIST, on_ls_write, l);
		l->fd = fd;
	}
	if (!l->rev || !l->wev)
		return;
	if (read)
		event_add(l->rev, NULL);
	else
		event_del(l->rev);
	if (write)
		event_add(l->wev, NULL);
	else
		event_del(l->wev);
}

static void ls_arm(struct registry_listener *l, int ms)
{
	event_add(l->timer, &(struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000});
}

static void on_ls_read(evutil_socket_t fd, short what, void *arg)
{
	struct registry_listener *l = arg;
	if (l->state == LS_CONNECTING)
		ls_poll_connect(l);
	else
		ls_read(l);
}

static void on_ls_write(evutil_socket_t fd, short what, void *arg)
{
	struct registry_listener *l = arg;
	if (l->state == LS_CONNECTING) {
		ls_poll_connect(l);
		return;
	}
	int r = PQflush(l->pg);
	if (r < 0)
		ls_fail(l, PQerrorMessage(l->pg));
	else
		ls_want(l, true, r == 1);
}

static void on_ls_timer(evutil_socket_t fd, short what, void *arg)
{
	struct registry_listener *l = arg;
	if (l->state == LS_CONNECTING)
		ls_fail(l, "connect timeout");
	else if (l->state == LS_LOADING)
		ls_fail(l, "the registry did not load in time");
	else if (l->state == LS_DOWN)
		ls_connect(l);
}
