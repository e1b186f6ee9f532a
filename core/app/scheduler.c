/* The scheduler: one thread per daemon with its own blocking connection,
 * like the mail deliverer (mail_deliver.c). A thread rather than a worker
 * loop because a job's SQL may take long (a runner waits for the row
 * locks of the decision it closes) and must not hold up the requests a
 * worker serves, and because the claim visits every tenant, which the
 * workers' pooled per-tenant transactions do not. What needs a worker
 * (a tenant's Lua state, to fire its plugin hooks) is handed over with
 * the job's events (scheduler_events_fn) once its work committed.
 *
 * It sleeps until the next job is due (platform.job_next_at), at most
 * job_poll_interval, and wakes early on NOTIFY aantafel_jobs (a job was
 * scheduled, perhaps sooner: the payload names its tenant) and on stop.
 * Woken by notifications it looks at the tenants they named only
 * (tenant_set.h), keeping the next due time it knew of the others; its
 * timer (the next due job, and every job_poll_interval at the latest) has
 * it look at every tenant. Awake, it claims due jobs
 * (platform.job_claim: SKIP LOCKED and a lease of job_lease, committed),
 * then runs each in a transaction of its own (platform.job_run: the row
 * locked again, the lease checked, the runner's work and the done mark
 * committed together). However many daemons share the database, one of
 * them runs a job; one that dies with a job taken leaves its lease, and
 * the job is taken again once the lease has passed. A runner that raises
 * rolls back; platform.job_failed records its error and the next try.
 * Stopping cancels the statement of a job being run (it may wait for a
 * lock) and gives that job, and those claimed and not yet run, back at
 * once (platform.job_release), rather than after their lease. */
#include "scheduler.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "registry.h"
#include "tenant_set.h"

#define JOB_BATCH 16                    /* jobs claimed at once */
#define CONNECT_TIMEOUT_MS 10000
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 10000
#define ERROR_MAX 1024

enum wait_result { WAIT_READY, WAIT_TIMEOUT, WAIT_STOP, WAIT_ERROR };

enum sc_state {
	SC_STARTING,            /* waiting for the first registry: a job's events go to its tenants' hooks */
	SC_DOWN,                /* no connection: connect after the backoff */
	SC_WORKING,             /* claiming and running due jobs */
	SC_IDLE,                /* listening until the next job is due, a notification or stop */
	SC_STOPPED,
};

struct scheduler {
	pthread_t thread;
	enum sc_state state;
	atomic_bool stop;
	int wake[2];                    /* a pipe: stop writes one byte */
	char *conninfo;
	char taker[128];                /* this daemon: host, process and a random number */
	PGconn *pg;
	pthread_mutex_t cancel_lock;
	PGcancel *cancel;               /* of pg, for stop (under cancel_lock) */
	int backoff_ms;
	bool down_logged;
	struct tenant_set notified;     /* whom the next claim looks at */
	int64_t due_at_ms;              /* the next job known to fall due, 0: none */
	int64_t sweep_at_ms;            /* when every tenant is looked at again */
	scheduler_events_fn events;
	void *events_arg;
};

static void *sc_main(void *arg);
static void sc_step(struct scheduler *s);
static void sc_idle(struct scheduler *s);
static bool sc_connect(struct scheduler *s);
static void sc_down(struct scheduler *s, const char *why);
static void sc_work(struct scheduler *s, const struct config *c);
static void sc_run(struct scheduler *s, const struct config *c, const PGresult *claim, int i);
static void sc_release(struct scheduler *s, const PGresult *claim, int i);
static void sc_set_cancel(struct scheduler *s);
static int64_t sc_until(struct scheduler *s, int64_t poll_ms);
static void sc_sleep(struct scheduler *s, int64_t ms);
static bool sc_notifications(struct scheduler *s);
static enum wait_result sc_wait(struct scheduler *s, int fd, short events, int64_t timeout_ms);
static PGresult *sc_exec(struct scheduler *s, const char *sql, int nparams, const char *const *values, char *err,
			 size_t errlen);
static PGresult *sc_exec_txn(struct scheduler *s, const char *sql, int nparams, const char *const *values, char *err,
			     size_t errlen);
static int64_t now_ms(void);

int scheduler_start(const struct config *cfg, scheduler_events_fn events, void *arg, struct scheduler **out)
{
	*out = NULL;
	if (!cfg->database_url[0])
		return 0;
	struct scheduler *s = calloc(1, sizeof(*s));
	if (!s) {
		log_error("scheduler: out of memory");
		return -1;
	}
	s->wake[0] = s->wake[1] = -1;
	s->state = SC_STARTING;
	atomic_init(&s->stop, false);
	pthread_mutex_init(&s->cancel_lock, NULL);
	s->events = events;
	s->events_arg = arg;
	s->conninfo = strdup(cfg->database_url);
	char host[64] = "";
	gethostname(host, sizeof(host) - 1);
	unsigned r = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
			r = (unsigned)time(NULL);
		close(fd);
	}
	snprintf(s->taker, sizeof(s->taker), "%s/%ld/%08x", host[0] ? host : "?", (long)getpid(), r);
	if (!s->conninfo || pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		log_error("scheduler: cannot start: %s", s->conninfo ? strerror(errno) : "out of memory");
		goto fail;
	}
	int rc = pthread_create(&s->thread, NULL, sc_main, s);
	if (rc != 0) {
		log_error("scheduler: cannot start its thread: %s", strerror(rc));
		goto fail;
	}
	log_info("scheduler: running as %s", s->taker);
	*out = s;
	return 0;
fail:
	pthread_mutex_destroy(&s->cancel_lock);
	if (s->wake[0] >= 0)
		close(s->wake[0]);
	if (s->wake[1] >= 0)
		close(s->wake[1]);
	free(s->conninfo);
	free(s);
	return -1;
}

void scheduler_stop(struct scheduler *s)
{
	if (!s)
		return;
	atomic_store(&s->stop, true);
	ssize_t w;
	do
		w = write(s->wake[1], "x", 1);
	while (w < 0 && errno == EINTR);
	/* A job's statement may wait (for a lock): cancelled, it is given
	 * back (sc_run). */
	pthread_mutex_lock(&s->cancel_lock);
	if (s->cancel) {
		char buf[256];
		PQcancel(s->cancel, buf, sizeof(buf));
	}
	pthread_mutex_unlock(&s->cancel_lock);
	pthread_join(s->thread, NULL);
	if (s->pg)
		PQfinish(s->pg);
	s->pg = NULL;
	sc_set_cancel(s);
	pthread_mutex_destroy(&s->cancel_lock);
	close(s->wake[0]);
	close(s->wake[1]);
	free(s->conninfo);
	free(s);
	log_info("scheduler: stopped");
}

static void *sc_main(void *arg)
{
	struct scheduler *s = arg;
	while (s->state != SC_STOPPED)
		sc_step(s);
	return NULL;
}

/* The one driver: every state change happens here or in the function of
 * the state it calls (sc_down: SC_DOWN). */
static void sc_step(struct scheduler *s)
{
	if (atomic_load(&s->stop)) {
		s->state = SC_STOPPED;
		return;
	}
	switch (s->state) {
	case SC_STARTING: {
		struct registry *r = registry_acquire();
		if (r) {
			registry_unref(r);
			s->state = SC_DOWN;
		} else {
			sc_sleep(s, 100);
		}
		break;
	}
	case SC_DOWN:
		if (s->backoff_ms > 0)
			sc_sleep(s, s->backoff_ms);
		if (!atomic_load(&s->stop) && sc_connect(s))
			s->state = SC_WORKING;
		break;
	case SC_WORKING: {
		struct config *c = config_acquire();
		if (c) {
			sc_work(s, c);
			config_unref(c);
		}
		if (s->pg)
			s->state = SC_IDLE;
		break;
	}
	case SC_IDLE:
		sc_idle(s);
		break;
	case SC_STOPPED:
		break;
	}
}

/* SC_IDLE: asleep until the next job is due (at most job_poll_interval),
 * a notification or stop; then SC_WORKING. */
static void sc_idle(struct scheduler *s)
{
	struct config *c = config_acquire();
	int64_t poll_ms = c ? c->job_poll_interval : 60000;
	if (c)
		config_unref(c);
	int64_t until = sc_until(s, poll_ms);
	tenant_set_clear(&s->notified);
	while (s->pg && !atomic_load(&s->stop)) {
		if (!PQconsumeInput(s->pg)) {
			sc_down(s, PQerrorMessage(s->pg));
			return;
		}
		if (sc_notifications(s))
			break;
		enum wait_result w = sc_wait(s, PQsocket(s->pg), POLLIN, until - now_ms());
		if (w == WAIT_TIMEOUT) {
			tenant_set_all(&s->notified);
			break;
		}
		if (w == WAIT_STOP)
			break;
		if (w == WAIT_ERROR) {
			sc_down(s, "poll failed");
			return;
		}
	}
	if (s->pg)
		s->state = SC_WORKING;
}

/* Connects and LISTENs; false when it could not (then down, with a
 * backoff). */
static bool sc_connect(struct scheduler *s)
{
	const char *keys[] = {"dbname", "application_name", NULL};
	const char *vals[] = {s->conninfo, "aantafel-scheduler", NULL};
	PGconn *pg = PQconnectStartParams(keys, vals, 1);
	if (!pg) {
		sc_down(s, "out of memory");
		return false;
	}
	s->pg = pg;
	if (PQstatus(pg) == CONNECTION_BAD) {
		sc_down(s, PQerrorMessage(pg));
		return false;
	}
	int64_t deadline = now_ms() + CONNECT_TIMEOUT_MS;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED) {
			sc_down(s, PQerrorMessage(pg));
			return false;
		}
		enum wait_result w = sc_wait(s, PQsocket(pg), st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
					     deadline - now_ms());
		if (w == WAIT_STOP)
			return false;
		if (w != WAIT_READY) {
			sc_down(s, "timed out connecting");
			return false;
		}
		st = PQconnectPoll(pg);
	}
	/* The server looks for a vanished daemon while a job's statement
	 * runs, so that the job's transaction of a killed daemon ends soon
	 * (it would never commit: COMMIT is a statement of its own). */
	char err[ERROR_MAX];
	PGresult *r = sc_exec(s, "LISTEN aantafel_jobs", 0, NULL, err, sizeof(err));
	if (!r)
		return false;
	PQclear(r);
	r = sc_exec(s, "SET client_connection_check_interval = '2s'", 0, NULL, err, sizeof(err));
	if (!r)
		return false;
	PQclear(r);
	sc_set_cancel(s);
	if (s->down_logged)
		log_info("scheduler: database connection is back");
	s->down_logged = false;
	s->backoff_ms = 0;
	/* What was missed while away: every tenant. */
	tenant_set_all(&s->notified);
	return true;
}

static void sc_down(struct scheduler *s, const char *why)
{
	if (!s->down_logged)
		log_warn("scheduler: database: %.*s; reconnecting", (int)strcspn(why, "\n"), why);
	s->down_logged = true;
	if (s->pg)
		PQfinish(s->pg);
	s->pg = NULL;
	sc_set_cancel(s);
	s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (s->backoff_ms > BACKOFF_MAX_MS)
		s->backoff_ms = BACKOFF_MAX_MS;
	s->state = SC_DOWN;
}

/* Claims due jobs and runs them, batch after batch while batches are
 * full. */
static void sc_work(struct scheduler *s, const struct config *c)
{
	for (;;) {
		char lease[32], batch[16], max[16], err[ERROR_MAX], tenants[TENANT_SET_TEXT];
		snprintf(lease, sizeof(lease), "%.3f", (double)c->job_lease / 1000.0);
		snprintf(batch, sizeof(batch), "%d", JOB_BATCH);
		snprintf(max, sizeof(max), "%" PRId64, c->job_max_attempts);
		const char *v[] = {s->taker, lease, batch, max, tenant_set_array(&s->notified, tenants, sizeof(tenants))};
		PGresult *res = sc_exec_txn(s,
					"SELECT tenant_id, id, slug, kind, subject, attempts, taken_at FROM"
					" platform.job_claim($1, make_interval(secs => $2::float8), $3::int, $4::int,"
					" $5::bigint[])",
					5, v, err, sizeof(err));
		if (!res)
			return;
		int n = PQntuples(res);
		for (int i = 0; i < n && s->pg; i++) {
			/* What is left when stopping is given back. */
			if (atomic_load(&s->stop))
				sc_release(s, res, i);
			else
				sc_run(s, c, res, i);
		}
		PQclear(res);
		if (n < JOB_BATCH || !s->pg || atomic_load(&s->stop))
			return;
	}
}

/* Runs row I of CLAIM: its work and its done mark in one transaction; on
 * an error, a rollback and platform.job_failed. */
static void sc_run(struct scheduler *s, const struct config *c, const PGresult *claim, int i)
{
	const char *tenant = PQgetvalue(claim, i, 0), *id = PQgetvalue(claim, i, 1), *slug = PQgetvalue(claim, i, 2);
	const char *kind = PQgetvalue(claim, i, 3), *subject = PQgetvalue(claim, i, 4);
	const char *taken_at = PQgetvalue(claim, i, 6);
	char err[ERROR_MAX];
	PGresult *r = sc_exec(s, "BEGIN", 0, NULL, err, sizeof(err));
	if (!r)
		return;
	PQclear(r);
	const char *v[] = {tenant, id, s->taker, taken_at};
	r = PQexecParams(s->pg, "SELECT platform.job_run($1::bigint, $2::bigint, $3, $4)", 4, NULL, v, NULL, NULL, 0);
	if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		char *events = PQgetisnull(r, 0, 0) ? NULL : strdup(PQgetvalue(r, 0, 0));
		bool lost = PQgetisnull(r, 0, 0);
		PQclear(r);
		r = sc_exec(s, "COMMIT", 0, NULL, err, sizeof(err));
		if (!r) {
			/* Committed or not, the job's row says which: not done,
			 * it is taken again after its lease. */
			log_warn("scheduler: tenant=%s job %s (%s %s): commit unknown: %.*s", slug, id, kind, subject,
				 (int)strcspn(err, "\n"), err);
			free(events);
			return;
		}
		PQclear(r);
		if (lost)
			log_info("scheduler: tenant=%s job %s (%s %s) is no longer ours (moved, cancelled, taken"
				 " again after its lease, or its tenant not active): left alone", slug, id, kind, subject);
		else
			log_info("scheduler: tenant=%s job %s (%s %s) done", slug, id, kind, subject);
		if (events && strcmp(events, "[]") != 0 && s->events)
			s->events(strtoll(tenant, NULL, 10), events, s->events_arg);
		free(events);
		return;
	}
	snprintf(err, sizeof(err), "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(s->pg));
	PQclear(r);
	if (PQstatus(s->pg) != CONNECTION_OK) {
		sc_down(s, err);
		return;
	}
	char e2[ERROR_MAX];
	r = sc_exec(s, "ROLLBACK", 0, NULL, e2, sizeof(e2));
	if (!r)
		return;
	PQclear(r);
	if (atomic_load(&s->stop)) {
		/* Cancelled by stop, most likely: not the job's failure. */
		sc_release(s, claim, i);
		return;
	}
	err[strcspn(err, "\n")] = '\0';
	char max[16];
	snprintf(max, sizeof(max), "%" PRId64, c->job_max_attempts);
	const char *f[] = {tenant, id, s->taker, taken_at, err, max};
	r = sc_exec_txn(s, "SELECT platform.job_failed($1::bigint, $2::bigint, $3, $4, $5, $6::int)", 6, f, e2,
		    sizeof(e2));
	if (!r)
		return;
	const char *state = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "(not ours)";
	log_warn("scheduler: tenant=%s job %s (%s %s) failed (attempt %s): %s; now %s", slug, id, kind, subject,
		 PQgetvalue(claim, i, 5), err, state);
	PQclear(r);
}

/* Gives row I of CLAIM back unrun (platform.job_release). */
static void sc_release(struct scheduler *s, const PGresult *claim, int i)
{
	char err[ERROR_MAX];
	const char *v[] = {PQgetvalue(claim, i, 0), PQgetvalue(claim, i, 1), s->taker, PQgetvalue(claim, i, 6)};
	PGresult *r = sc_exec_txn(s, "SELECT platform.job_release($1::bigint, $2::bigint, $3, $4)", 4, v, err, sizeof(err));
	if (r)
		log_info("scheduler: tenant=%s job %s (%s %s) given back unrun: stopping", PQgetvalue(claim, i, 2),
			 PQgetvalue(claim, i, 1), PQgetvalue(claim, i, 3), PQgetvalue(claim, i, 4));
	PQclear(r);
}

/* The cancel handle of the connection now in s->pg (none without one). */
static void sc_set_cancel(struct scheduler *s)
{
	PGcancel *fresh = s->pg ? PQgetCancel(s->pg) : NULL;
	pthread_mutex_lock(&s->cancel_lock);
	PGcancel *old = s->cancel;
	s->cancel = fresh;
	pthread_mutex_unlock(&s->cancel_lock);
	if (old)
		PQfreeCancel(old);
}

/* When to wake (now_ms's clock): the next job due among the tenants just
 * looked at (all of them, or those notified), or another tenant's known
 * before, and at the latest when every tenant is to be looked at again
 * (POLL_MS after the last time they were). */
static int64_t sc_until(struct scheduler *s, int64_t poll_ms)
{
	char err[ERROR_MAX], tenants[TENANT_SET_TEXT];
	const char *v[] = {tenant_set_array(&s->notified, tenants, sizeof(tenants))};
	int64_t now = now_ms();
	if (!v[0]) {
		/* Every tenant was looked at: what was known is replaced. */
		s->due_at_ms = 0;
		s->sweep_at_ms = now + poll_ms;
	}
	PGresult *r = sc_exec_txn(s,
			      "SELECT ceil(extract(epoch FROM (platform.job_next_at($1::bigint[]) - clock_timestamp()))"
			      " * 1000)::bigint",
			      1, v, err, sizeof(err));
	if (!r)
		return now;
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
		long long due = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		int64_t at = now + (due < 0 ? 0 : due);
		if (!s->due_at_ms || at < s->due_at_ms)
			s->due_at_ms = at;
	}
	PQclear(r);
	int64_t until = s->sweep_at_ms;
	if (s->due_at_ms && s->due_at_ms < until)
		until = s->due_at_ms;
	return until;
}

static void sc_sleep(struct scheduler *s, int64_t ms)
{
	int64_t until = now_ms() + ms;
	while (!atomic_load(&s->stop) && now_ms() < until)
		if (sc_wait(s, -1, 0, until - now_ms()) == WAIT_STOP)
			return;
}

/* Takes the notifications libpq has read; whether there were any. */
static bool sc_notifications(struct scheduler *s)
{
	bool any = false;
	PGnotify *nt;
	while ((nt = PQnotifies(s->pg))) {
		any = true;
		tenant_set_note(&s->notified, nt->extra);
		PQfreemem(nt);
	}
	return any;
}

/* Waits until FD (when >= 0) is ready for EVENTS, stop is asked or
 * TIMEOUT_MS pass. */
static enum wait_result sc_wait(struct scheduler *s, int fd, short events, int64_t timeout_ms)
{
	for (;;) {
		if (atomic_load(&s->stop))
			return WAIT_STOP;
		if (timeout_ms < 0)
			timeout_ms = 0;
		struct pollfd p[2] = {{.fd = s->wake[0], .events = POLLIN}, {.fd = fd, .events = events}};
		int64_t start = now_ms();
		int rc = poll(p, fd >= 0 ? 2 : 1, timeout_ms > 3600000 ? 3600000 : (int)timeout_ms);
		if (rc < 0 && errno == EINTR) {
			timeout_ms -= now_ms() - start;
			continue;
		}
		if (rc < 0)
			return WAIT_ERROR;
		if (p[0].revents) {
			char buf[16];
			while (read(s->wake[0], buf, sizeof(buf)) > 0)
				;
			if (atomic_load(&s->stop))
				return WAIT_STOP;
		}
		if (fd >= 0 && p[1].revents)
			return WAIT_READY;
		if (rc == 0)
			return WAIT_TIMEOUT;
		timeout_ms -= now_ms() - start;
	}
}

/* Runs one statement; on failure logs it, puts its message in ERR, drops
 * the connection (the backoff keeps a failing function from spinning) and
 * returns NULL. */
static PGresult *sc_exec(struct scheduler *s, const char *sql, int nparams, const char *const *values, char *err,
			 size_t errlen)
{
	if (!s->pg)
		return NULL;
	PGresult *r = PQexecParams(s->pg, sql, nparams, NULL, values, NULL, NULL, 0);
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return r;
	const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(s->pg);
	if (PQstatus(s->pg) == CONNECTION_OK)
		log_error("scheduler: %.*s", (int)strcspn(msg, "\n"), msg);
	if (errlen > 0)
		snprintf(err, errlen, "%s", msg);
	PQclear(r);
	sc_down(s, err && errlen > 1 ? err : "statement failed");
	return NULL;
}

/* SQL in a transaction block of its own: the functions that enter
 * tenants (platform.enter_tenant, SET LOCAL) need one on a Citus cluster,
 * where SET LOCAL reaches the workers only inside a transaction block. */
static PGresult *sc_exec_txn(struct scheduler *s, const char *sql, int nparams, const char *const *values, char *err,
			     size_t errlen)
{
	PGresult *r = sc_exec(s, "BEGIN", 0, NULL, err, errlen);
	if (!r)
		return NULL;
	PQclear(r);
	PGresult *res = sc_exec(s, sql, nparams, values, err, errlen);
	if (!res)
		return NULL;            /* the connection was dropped: rolled back */
	r = sc_exec(s, "COMMIT", 0, NULL, err, errlen);
	if (!r) {
		PQclear(res);
		return NULL;
	}
	PQclear(r);
	return res;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
