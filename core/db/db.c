/* The per-worker PostgreSQL pool. Each connection is an explicit state
 * machine (enum dbc_state) driven by its socket events, in libpq's order
 * for non-blocking use: PQconnectStartParams/PQconnectPoll to connect,
 * PQsetnonblocking and pipeline mode once up, PQsend* to queue, PQflush on
 * write readiness, PQconsumeInput/PQisBusy/PQgetResult on read readiness.
 * Nothing here may block the worker's loop.
 *
 * A connection serves one transaction at a time; the transaction lives
 * inside its connection. Requests that find no idle connection wait in a
 * bounded FIFO with a deadline. When every connection is down the pool
 * answers at once (DB_UNAVAILABLE) instead of letting requests wait, and
 * keeps reconnecting with backoff until the database is back. */
#include "db.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "datagen.h"
#include "log.h"

#define PARAM_MAX (1024 * 1024)
#define PARAMS_TOTAL_MAX (16 * 1024 * 1024)
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000

enum dbc_state {
	DBC_DOWN,               /* no connection; maybe a backoff timer runs */
	DBC_CONNECTING,         /* PQconnectPoll in progress */
	DBC_IDLE,               /* in the pool */
	DBC_HELD,               /* a request owns it; no batch in flight */
	DBC_BUSY,               /* a batch is in flight */
	DBC_RESETTING,          /* ROLLBACK in flight after the request let go */
};

enum item_kind { IT_PREPARE, IT_BEGIN, IT_TENANT, IT_USER, IT_CHANGED, IT_COMMIT, IT_ROLLBACK, IT_SYNC };

struct item {
	uint8_t kind;
	uint8_t index;          /* IT_USER: position in the results */
	uint16_t stmt;          /* IT_PREPARE: which statement */
};

struct pending {
	int stmt;
	int nparams;
	long offsets[DB_PARAMS_MAX];    /* into pbuf; -1 for NULL */
	int lens[DB_PARAMS_MAX];        /* binary parameters: their length; text: -1 */
};

struct db_txn {
	struct db_conn *conn;
	int64_t tenant_id;
	char tenant_str[24];
	uint64_t writer;        /* this transaction's number (datagen.h) */
	char writer_tag[DATAGEN_TAG_MAX];
	bool begun;             /* BEGIN sent */
	bool changed;           /* the data triggers fired: guests' data changed */
	bool failed;            /* a statement failed */
	bool unavailable;       /* the connection broke */
	bool committing;
	bool again;             /* the commit begins the next transaction on the same connection */
	bool done;              /* committed or rolled back: hands off */

	struct pending q[DB_BATCH_MAX];
	int nq;
	char *pbuf;
	size_t plen, pcap;

	/* At most: ROLLBACK, BEGIN, the tenant, the user's statements, the
	 * check for changed data and COMMIT, each with its PREPARE; and the
	 * sync. */
	struct item items[2 * (DB_BATCH_MAX + 5) + 1];
	int nitems, pos;
	PGresult *res[DB_BATCH_MAX];
	int nres;

	char err[512];
	bool busy;              /* it failed because the database could not do it now */
	db_done_cb cb;
	void *arg;
};

struct db_conn {
	struct db_pool *pool;
	int index;
	enum dbc_state state;
	PGconn *pg;
	int fd;
	struct event *rev, *wev, *timer;
	bool rev_on, wev_on;
	bool broken;            /* went bad while a request held it */
	bool pending_rollback;  /* a read-only transaction is still open: end it first */
	int backoff_ms;
	uint8_t prepared[DB_STMTS_MAX / 8];
	struct db_txn txn;
};

struct waiter {
	db_begin_cb cb;
	void *arg;
	int64_t tenant_id;
	int64_t deadline_ms;
};

struct db_pool {
	struct event_base *base;
	char *conninfo;
	int worker_index;
	int size;
	struct db_conn *conns;

	struct waiter *q;       /* ring buffer of waiting requests */
	int qcap, qhead, qlen;
	int queue_size;
	struct event *wait_timer;

	int64_t wait_timeout, connect_timeout, stmt_timeout;
	char time_zone[65];
	bool healthy;
	int up;
};

/* Statements 0..4 are the pool's own; the rest are registered by the
 * application before the workers start, then only read.
 *
 * A transaction with a tenant carries this process's writer tag
 * (aantafel.writer), which the data triggers send in their notification,
 * and they mark the transaction (aantafel.data_changed); before COMMIT
 * the pool reads the mark, and a commit that changed what guests see is
 * applied to this process's data generation before it is answered
 * (datagen.h, sql/code/notify.sql). The tenant is entered and the marks
 * are read by functions (sql/code/tenancy.sql, notify.sql) that do it the
 * way a Citus cluster needs: SET LOCAL, and the notifications sent from
 * this session. */
enum { STMT_BEGIN, STMT_TENANT, STMT_CHANGED, STMT_COMMIT, STMT_ROLLBACK, STMT_FIRST_USER };
static const char *stmt_sql[DB_STMTS_MAX] = {
	[STMT_BEGIN] = "BEGIN",
	[STMT_TENANT] = "SELECT platform.enter_tenant($1, $2)",
	[STMT_CHANGED] = "SELECT platform.commit_marks($1::bigint)",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
};
static bool stmt_binary[DB_STMTS_MAX];
static int nstmts = STMT_FIRST_USER;

static int stmt_register(const char *sql, bool binary);
static void conn_connect(struct db_conn *c);
static void conn_poll_connect(struct db_conn *c);
static void conn_connected(struct db_conn *c);
static void conn_connect_failed(struct db_conn *c, const char *why);
static void conn_fail(struct db_conn *c, const char *why);
static void conn_close_pg(struct db_conn *c);
static void conn_retry_later(struct db_conn *c);
static void conn_release(struct db_conn *c);
static void conn_send_rollback(struct db_conn *c);
static void conn_send(struct db_conn *c);
static void conn_read_results(struct db_conn *c);
static void conn_batch_done(struct db_conn *c);
static void conn_flush(struct db_conn *c);
static void conn_want(struct db_conn *c, bool read, bool write);
static void conn_unwatch(struct db_conn *c);
static void conn_arm(struct db_conn *c, int64_t ms);
static void txn_reset(struct db_txn *t, int64_t tenant_id);
static int send_stmt(struct db_conn *c, int stmt, int nparams, const char *const *values, enum item_kind kind,
		     int index);
static void txn_clear_results(struct db_txn *t);
static void txn_set_error(struct db_txn *t, const PGresult *r, const char *fallback);
static void pool_serve_waiters(struct db_pool *p);
static void pool_fail_waiters(struct db_pool *p);
static void pool_arm_wait_timer(struct db_pool *p);
static void pool_grow(struct db_pool *p);
static void on_conn_read(evutil_socket_t fd, short what, void *arg);
static void on_conn_write(evutil_socket_t fd, short what, void *arg);
static void on_conn_timer(evutil_socket_t fd, short what, void *arg);
static void on_wait_timer(evutil_socket_t fd, short what, void *arg);
static int64_t now_ms(void);

/* ---------------------------------------------------------------- public */

int db_stmt(const char *sql)
{
	return stmt_register(sql, false);
}

int db_stmt_binary(const char *sql)
{
	return stmt_register(sql, true);
}

struct db_pool *db_pool_new(struct event_base *base, const struct config *cfg, int worker_index)
{
	struct db_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->base = base;
	p->worker_index = worker_index;
	p->size = (int)cfg->db_pool_size;
	p->conninfo = strdup(cfg->database_url);
	p->conns = calloc((size_t)p->size, sizeof(*p->conns));
	p->wait_timer = evtimer_new(base, on_wait_timer, p);
	p->healthy = true;
	if (!p->conninfo || !p->conns || !p->wait_timer) {
		db_pool_free(p);
		return NULL;
	}
	db_pool_configure(p, cfg);
	for (int i = 0; i < p->size; i++) {
		struct db_conn *c = &p->conns[i];
		c->pool = p;
		c->index = i;
		c->fd = -1;
		c->state = DBC_DOWN;
		c->txn.conn = c;
		c->timer = evtimer_new(base, on_conn_timer, c);
		if (!c->timer) {
			db_pool_free(p);
			return NULL;
		}
	}
	/* One connection at once, to learn early whether the database is
	 * there; the others open as demand asks for them. */
	conn_connect(&p->conns[0]);
	return p;
}

void db_pool_free(struct db_pool *p)
{
	if (!p)
		return;
	for (int i = 0; p->conns && i < p->size; i++) {
		struct db_conn *c = &p->conns[i];
		conn_close_pg(c);
		txn_clear_results(&c->txn);
		free(c->txn.pbuf);
		if (c->timer)
			event_free(c->timer);
	}
	if (p->wait_timer)
		event_free(p->wait_timer);
	free(p->conns);
	free(p->q);
	free(p->conninfo);
	free(p);
}

void db_pool_configure(struct db_pool *p, const struct config *cfg)
{
	p->wait_timeout = cfg->db_wait_timeout;
	p->connect_timeout = cfg->db_connect_timeout;
	p->stmt_timeout = cfg->db_statement_timeout;
	snprintf(p->time_zone, sizeof(p->time_zone), "%s", cfg->time_zone);
	int cap = (int)cfg->db_queue_size;
	if (cap > p->qcap && p->qlen == 0) {
		struct waiter *q = realloc(p->q, (size_t)(cap ? cap : 1) * sizeof(*q));
		if (q) {
			p->q = q;
			p->qcap = cap;
			p->qhead = 0;
		}
	}
	p->queue_size = cap < p->qcap ? cap : p->qcap;
}

void db_begin(struct db_pool *p, int64_t tenant_id, db_begin_cb cb, void *arg)
{
	for (int i = 0; i < p->size; i++) {
		struct db_conn *c = &p->conns[i];
		if (c->state == DBC_IDLE && p->qlen == 0) {
			c->state = DBC_HELD;
			txn_reset(&c->txn, tenant_id);
			cb(&c->txn, DB_OK, arg);
			return;
		}
	}
	if (!p->healthy) {
		/* Every connection is down: answer now rather than after
		 * the wait deadline. */
		pool_grow(p);
		cb(NULL, DB_UNAVAILABLE, arg);
		return;
	}
	if (p->qlen >= p->queue_size) {
		cb(NULL, DB_UNAVAILABLE, arg);
		return;
	}
	struct waiter *w = &p->q[(p->qhead + p->qlen) % p->qcap];
	w->cb = cb;
	w->arg = arg;
	w->tenant_id = tenant_id;
	w->deadline_ms = now_ms() + p->wait_timeout;
	p->qlen++;
	if (p->qlen == 1)
		pool_arm_wait_timer(p);
	pool_grow(p);
}

int db_query(struct db_txn *t, int stmt, int nparams, const char *const *values)
{
	if (t->done || t->nq >= DB_BATCH_MAX || nparams > DB_PARAMS_MAX || stmt < STMT_FIRST_USER || stmt >= nstmts)
		return -1;
	struct pending *q = &t->q[t->nq];
	size_t need = t->plen;
	for (int i = 0; i < nparams; i++) {
		if (!values[i])
			continue;
		size_t len = strlen(values[i]);
		if (len > PARAM_MAX)
			return -1;
		need += len + 1;
	}
	if (need > PARAMS_TOTAL_MAX)
		return -1;
	if (need > t->pcap) {
		size_t cap = t->pcap ? t->pcap : 1024;
		while (cap < need)
			cap *= 2;
		char *b = realloc(t->pbuf, cap);
		if (!b)
			return -1;
		t->pbuf = b;
		t->pcap = cap;
	}
	q->stmt = stmt;
	q->nparams = nparams;
	for (int i = 0; i < nparams; i++) {
		if (!values[i]) {
			q->offsets[i] = -1;
			continue;
		}
		size_t len = strlen(values[i]);
		memcpy(t->pbuf + t->plen, values[i], len + 1);
		q->offsets[i] = (long)t->plen;
		q->lens[i] = -1;
		t->plen += len + 1;
	}
	t->nq++;
	return 0;
}

int db_query_bin(struct db_txn *t, int stmt, int nparams, const char *const *values, const int *lens)
{
	if (t->done || t->nq >= DB_BATCH_MAX || nparams > DB_PARAMS_MAX || stmt < STMT_FIRST_USER || stmt >= nstmts)
		return -1;
	struct pending *q = &t->q[t->nq];
	size_t need = t->plen;
	for (int i = 0; i < nparams; i++) {
		if (!values[i])
			continue;
		size_t len = lens[i] >= 0 ? (size_t)lens[i] : strlen(values[i]);
		if (len > (lens[i] >= 0 ? (size_t)DB_BINARY_PARAM_MAX : (size_t)PARAM_MAX))
			return -1;
		need += len + 1;
	}
	if (need > (size_t)DB_BINARY_PARAM_MAX + PARAMS_TOTAL_MAX)
		return -1;
	if (need > t->pcap) {
		size_t cap = t->pcap ? t->pcap : 1024;
		while (cap < need)
			cap *= 2;
		char *b = realloc(t->pbuf, cap);
		if (!b)
			return -1;
		t->pbuf = b;
		t->pcap = cap;
	}
	q->stmt = stmt;
	q->nparams = nparams;
	for (int i = 0; i < nparams; i++) {
		if (!values[i]) {
			q->offsets[i] = -1;
			q->lens[i] = -1;
			continue;
		}
		size_t len = lens[i] >= 0 ? (size_t)lens[i] : strlen(values[i]);
		memcpy(t->pbuf + t->plen, values[i], len);
		t->pbuf[t->plen + len] = '\0';
		q->offsets[i] = (long)t->plen;
		q->lens[i] = lens[i];
		t->plen += len + 1;
	}
	t->nq++;
	return 0;
}

void db_send(struct db_txn *t, db_done_cb cb, void *arg)
{
	struct db_conn *c = t->conn;
	if (t->done || c->state != DBC_HELD) {
		log_error("db_send on a finished or busy transaction");
		return;
	}
	txn_clear_results(t);
	if (c->broken || t->unavailable) {
		cb(t, DB_UNAVAILABLE, arg);
		return;
	}
	if (t->failed) {
		cb(t, t->busy ? DB_UNAVAILABLE : DB_ERROR, arg);
		return;
	}
	t->cb = cb;
	t->arg = arg;
	t->committing = false;
	conn_send(c);
}

static void txn_commit(struct db_txn *t, bool again, db_done_cb cb, void *arg);

void db_commit(struct db_txn *t, db_done_cb cb, void *arg)
{
	txn_commit(t, false, cb, arg);
}

void db_commit_again(struct db_txn *t, db_done_cb cb, void *arg)
{
	txn_commit(t, true, cb, arg);
}

static void txn_commit(struct db_txn *t, bool again, db_done_cb cb, void *arg)
{
	struct db_conn *c = t->conn;
	if (t->done || c->state != DBC_HELD) {
		log_error("db_commit on a finished or busy transaction");
		return;
	}
	txn_clear_results(t);
	t->cb = cb;
	t->arg = arg;
	t->again = again;
	if (again && !c->broken && !t->unavailable && !t->failed && !t->begun && t->nq == 0) {
		cb(t, DB_OK, arg);      /* nothing to commit: it goes on as it is */
		return;
	}
	if (c->broken || t->unavailable || t->failed || (!t->begun && t->nq == 0)) {
		enum db_status st = (c->broken || t->unavailable || t->busy) ? DB_UNAVAILABLE
				    : t->failed ? DB_ERROR : DB_OK;
		t->done = true;
		cb(t, st, arg);
		conn_release(c);
		return;
	}
	t->committing = true;
	conn_send(c);
}

void db_release(struct db_txn *t)
{
	struct db_conn *c = t->conn;
	if (t->done)
		return;
	if (c->state != DBC_HELD) {
		log_error("db_release while a batch is in flight");
		return;
	}
	if (!t->begun || t->failed || t->unavailable || c->broken || !c->pg) {
		db_rollback(t);
		return;
	}
	t->done = true;
	txn_clear_results(t);
	c->pending_rollback = true;
	c->state = DBC_IDLE;
	conn_arm(c, DB_IDLE_ROLLBACK_MS);
	pool_serve_waiters(c->pool);
}

void db_rollback(struct db_txn *t)
{
	struct db_conn *c = t->conn;
	if (t->done)
		return;
	if (c->state != DBC_HELD) {
		log_error("db_rollback while a batch is in flight");
		return;
	}
	t->done = true;
	txn_clear_results(t);
	conn_release(c);
}

const PGresult *db_result(const struct db_txn *t, int i)
{
	return i >= 0 && i < t->nres ? t->res[i] : NULL;
}

int64_t db_int(const PGresult *r, int row, int col)
{
	if (!r || row < 0 || col < 0 || row >= PQntuples(r) || col >= PQnfields(r) || PQgetisnull(r, row, col))
		return 0;
	const char *v = PQgetvalue(r, row, col);
	/* Digits with an optional '-', as PostgreSQL writes an integer:
	 * strtoll would also take white space and a '+'. */
	if (!(*v >= '0' && *v <= '9') && !(*v == '-' && v[1] >= '0' && v[1] <= '9'))
		return 0;
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (end == v || *end || errno == ERANGE)
		return 0;
	return n;
}

const char *db_error(const struct db_txn *t)
{
	return t->err;
}

static int stmt_register(const char *sql, bool binary)
{
	for (int i = STMT_FIRST_USER; i < nstmts; i++)
		if (strcmp(stmt_sql[i], sql) == 0 && stmt_binary[i] == binary)
			return i;
	if (nstmts >= DB_STMTS_MAX) {
		log_error("more than %d prepared statements", DB_STMTS_MAX);
		abort();
	}
	stmt_sql[nstmts] = sql;
	stmt_binary[nstmts] = binary;
	return nstmts++;
}

/* ---------------------------------------------------------------- connecting */

static void conn_connect(struct db_conn *c)
{
	struct db_pool *p = c->pool;
	char appname[48], options[160];
	snprintf(appname, sizeof(appname), "aantafel-w%d", p->worker_index);
	snprintf(options, sizeof(options), "-c statement_timeout=%" PRId64 " -c TimeZone=%s", p->stmt_timeout,
		 p->time_zone);
	const char *keys[] = {"dbname", "application_name", "options", NULL};
	const char *vals[] = {p->conninfo, appname, options, NULL};

	c->pg = PQconnectStartParams(keys, vals, 1);
	if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
		conn_connect_failed(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
		return;
	}
	c->state = DBC_CONNECTING;
	c->broken = false;
	conn_arm(c, p->connect_timeout);
	/* libpq's rule: just after PQconnectStart, wait as if PQconnectPoll
	 * had answered PGRES_POLLING_WRITING. Polling at once finds a TCP
	 * connect still in flight and takes it for made: a refusal then
	 * surfaces as a failed send of the start-up packet, and libpq gives
	 * up instead of trying the next address or host. */
	conn_want(c, false, true);
}

static void conn_poll_connect(struct db_conn *c)
{
	PostgresPollingStatusType st = PQconnectPoll(c->pg);
	if (st == PGRES_POLLING_FAILED) {
		conn_connect_failed(c, PQerrorMessage(c->pg));
		return;
	}
	if (st == PGRES_POLLING_OK) {
		conn_connected(c);
		return;
	}
	/* Inside PQconnectPoll libpq may have closed its socket and opened
	 * another (next address or host, SSL or GSS fallback,
	 * target_session_attrs), usually under the same number. The kernel
	 * dropped the old socket from epoll when it closed, while libevent
	 * still counts it as registered: left as they are, the events would
	 * never fire again and the attempt would wait for its deadline, every
	 * time. So they are made anew after every poll. */
	conn_unwatch(c);
	conn_want(c, st == PGRES_POLLING_READING, st == PGRES_POLLING_WRITING);
}

static void conn_connected(struct db_conn *c)
{
	struct db_pool *p = c->pool;
	event_del(c->timer);
	if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) != 1) {
		conn_connect_failed(c, PQerrorMessage(c->pg));
		return;
	}
	memset(c->prepared, 0, sizeof(c->prepared));
	c->backoff_ms = 0;
	p->up++;
	if (!p->healthy)
		log_info("worker %d: database reachable again", p->worker_index);
	p->healthy = true;
	conn_want(c, true, false);
	c->state = DBC_IDLE;
	pool_serve_waiters(p);
}

static void conn_connect_failed(struct db_conn *c, const char *why)
{
	struct db_pool *p = c->pool;
	if (p->healthy || c->backoff_ms == 0)
		log_warn("worker %d: database connection failed: %.*s", p->worker_index,
			 (int)strcspn(why, "\n"), why);
	conn_close_pg(c);
	c->state = DBC_DOWN;
	if (p->up == 0 && p->healthy) {
		p->healthy = false;
		pool_fail_waiters(p);
	}
	conn_retry_later(c);
}

/* Keeps retrying while requests wait or no connection is up. */
static void conn_retry_later(struct db_conn *c)
{
	struct db_pool *p = c->pool;
	if (p->qlen == 0 && p->up > 0)
		return;
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (c->backoff_ms > BACKOFF_MAX_MS)
		c->backoff_ms = BACKOFF_MAX_MS;
	conn_arm(c, c->backoff_ms);
}

/* Opens another connection when requests wait and none is on its way. */
static void pool_grow(struct db_pool *p)
{
	int opening = 0;
	struct db_conn *down = NULL;
	for (int i = 0; i < p->size; i++) {
		struct db_conn *c = &p->conns[i];
		if (c->state == DBC_CONNECTING)
			opening++;
		else if (c->state == DBC_DOWN && !evtimer_pending(c->timer, NULL) && !down)
			down = c;
	}
	if (down && opening < (p->qlen > 0 ? p->qlen : 1))
		conn_connect(down);
}

/* ---------------------------------------------------------------- failure */

/* The connection is unusable (socket error, server gone, deadline). */
static void conn_fail(struct db_conn *c, const char *why)
{
	struct db_pool *p = c->pool;
	struct db_txn *t = &c->txn;
	enum dbc_state was = c->state;

	log_warn("worker %d: database connection lost: %.*s", p->worker_index, (int)strcspn(why, "\n"), why);
	if (was == DBC_IDLE || was == DBC_HELD || was == DBC_BUSY || was == DBC_RESETTING)
		p->up--;
	conn_close_pg(c);
	if (p->up == 0) {
		/* Probably the database itself went: the next connection
		 * attempt tells; until then requests keep their place. */
		c->backoff_ms = 0;
	}
	switch (was) {
	case DBC_HELD:
		/* The request finds out at its next call. */
		c->broken = true;
		t->unavailable = true;
		return;
	case DBC_BUSY: {
		c->broken = true;
		t->unavailable = true;
		c->state = DBC_HELD;
		snprintf(t->err, sizeof(t->err), "database connection lost");
		db_done_cb cb = t->cb;
		if (t->committing) {
			/* Not acknowledged: the commit's outcome is unknown. */
			t->done = true;
			cb(t, DB_UNAVAILABLE, t->arg);
			conn_release(c);
		} else {
			cb(t, DB_UNAVAILABLE, t->arg);
		}
		return;
	}
	default:
		c->state = DBC_DOWN;
		conn_connect(c);
		return;
	}
}

static void conn_close_pg(struct db_conn *c)
{
	conn_unwatch(c);
	if (c->timer)
		event_del(c->timer);
	if (c->pg) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	c->pending_rollback = false;
}

/* Sends a ROLLBACK on its own; the connection is idle again when it is
 * answered. */
static void conn_send_rollback(struct db_conn *c)
{
	struct db_txn *t = &c->txn;
	t->nitems = t->pos = 0;
	c->state = DBC_RESETTING;
	c->pending_rollback = false;
	if (send_stmt(c, STMT_ROLLBACK, 0, NULL, IT_ROLLBACK, 0) != 0) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	if (PQpipelineSync(c->pg) != 1) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	t->items[t->nitems++] = (struct item){.kind = IT_SYNC};
	conn_arm(c, c->pool->wait_timeout + (c->pool->stmt_timeout > 0 ? c->pool->stmt_timeout : 0));
	conn_flush(c);
}

/* The request is done with the connection: back to the pool, through a
 * ROLLBACK when a transaction is open, or reconnected when it broke. */
static void conn_release(struct db_conn *c)
{
	struct db_txn *t = &c->txn;
	txn_clear_results(t);
	if (c->broken || !c->pg) {
		c->broken = false;
		c->state = DBC_DOWN;
		conn_connect(c);
		return;
	}
	if (t->begun && !(t->committing && !t->failed && !t->unavailable)) {
		/* ROLLBACK travels alone; a pipeline keeps the connection
		 * non-blocking throughout. */
		conn_send_rollback(c);
		return;
	}
	c->state = DBC_IDLE;
	if (c->pending_rollback)
		conn_arm(c, DB_IDLE_ROLLBACK_MS);
	pool_serve_waiters(c->pool);
}

/* ---------------------------------------------------------------- batches */

static bool is_prepared(const struct db_conn *c, int stmt)
{
	return c->prepared[stmt / 8] & (1u << (stmt % 8));
}

static int send_stmt_bin(struct db_conn *c, int stmt, int nparams, const char *const *values, const int *lens,
			 enum item_kind kind, int index);

static int send_stmt(struct db_conn *c, int stmt, int nparams, const char *const *values, enum item_kind kind,
		     int index)
{
	return send_stmt_bin(c, stmt, nparams, values, NULL, kind, index);
}

/* LENS (or NULL: all text): a parameter's length sends it in binary
 * format, -1 as text. */
static int send_stmt_bin(struct db_conn *c, int stmt, int nparams, const char *const *values, const int *lens,
			 enum item_kind kind, int index)
{
	struct db_txn *t = &c->txn;
	char name[8];
	snprintf(name, sizeof(name), "s%d", stmt);
	if (!is_prepared(c, stmt)) {
		if (!PQsendPrepare(c->pg, name, stmt_sql[stmt], 0, NULL))
			return -1;
		c->prepared[stmt / 8] |= (uint8_t)(1u << (stmt % 8));
		t->items[t->nitems++] = (struct item){.kind = IT_PREPARE, .stmt = (uint16_t)stmt};
	}
	int formats[DB_PARAMS_MAX], plens[DB_PARAMS_MAX];
	bool binary = false;
	for (int i = 0; lens && i < nparams; i++) {
		formats[i] = lens[i] >= 0;
		plens[i] = lens[i] >= 0 ? lens[i] : 0;
		binary = binary || lens[i] >= 0;
	}
	if (!PQsendQueryPrepared(c->pg, name, nparams, values, binary ? plens : NULL, binary ? formats : NULL,
				 stmt_binary[stmt] ? 1 : 0))
		return -1;
	t->items[t->nitems++] = (struct item){.kind = (uint8_t)kind, .index = (uint8_t)index};
	return 0;
}

static void conn_send(struct db_conn *c)
{
	struct db_txn *t = &c->txn;
	t->nitems = t->pos = 0;
	if (c->pending_rollback) {
		/* The last request's read-only transaction ends here, ahead of
		 * this one's BEGIN, in the same round trip. */
		if (send_stmt(c, STMT_ROLLBACK, 0, NULL, IT_ROLLBACK, 0) != 0)
			goto fail;
		c->pending_rollback = false;
	}
	if (!t->begun) {
		if (send_stmt(c, STMT_BEGIN, 0, NULL, IT_BEGIN, 0) != 0)
			goto fail;
		if (t->tenant_id > 0) {
			const char *v[2] = {t->tenant_str, t->writer_tag};
			if (send_stmt(c, STMT_TENANT, 2, v, IT_TENANT, 0) != 0)
				goto fail;
		}
		t->begun = true;
	}
	for (int i = 0; i < t->nq; i++) {
		const char *values[DB_PARAMS_MAX];
		struct pending *q = &t->q[i];
		for (int k = 0; k < q->nparams; k++)
			values[k] = q->offsets[k] < 0 ? NULL : t->pbuf + q->offsets[k];
		if (send_stmt_bin(c, q->stmt, q->nparams, values, q->lens, IT_USER, i) != 0)
			goto fail;
	}
	t->nres = t->nq;
	t->nq = 0;
	t->plen = 0;
	if (t->pcap > PARAMS_TOTAL_MAX) {
		/* An uploaded bundle's block (libpq has copied it): not kept. */
		free(t->pbuf);
		t->pbuf = NULL;
		t->pcap = 0;
	}
	if (t->committing && t->tenant_id > 0) {
		const char *v[1] = {t->tenant_str};
		if (send_stmt(c, STMT_CHANGED, 1, v, IT_CHANGED, 0) != 0)
			goto fail;
	}
	if (t->committing && send_stmt(c, STMT_COMMIT, 0, NULL, IT_COMMIT, 0) != 0)
		goto fail;
	if (PQpipelineSync(c->pg) != 1)
		goto fail;
	t->items[t->nitems++] = (struct item){.kind = IT_SYNC};
	c->state = DBC_BUSY;
	/* A database that stops answering must not hold the request past
	 * its statement timeout plus the usual wait. */
	conn_arm(c, c->pool->wait_timeout + (c->pool->stmt_timeout > 0 ? c->pool->stmt_timeout : 0));
	conn_flush(c);
	return;
fail:
	c->state = DBC_BUSY;
	conn_fail(c, PQerrorMessage(c->pg));
}

static void conn_read_results(struct db_conn *c)
{
	struct db_txn *t = &c->txn;
	int idle_at_sync = 0;
	while (c->state == DBC_BUSY || c->state == DBC_RESETTING) {
		if (PQisBusy(c->pg))
			return;
		PGresult *r = PQgetResult(c->pg);
		if (t->pos >= t->nitems) {
			/* Nothing expected: protocol confusion. */
			if (r)
				PQclear(r);
			conn_fail(c, "unexpected result from the database");
			return;
		}
		struct item *it = &t->items[t->pos];
		if (!r) {
			/* End of one statement's results. Once the connection has
			 * broken (libpq dropped it on a garbled message, say),
			 * libpq is idle rather than busy and answers NULL for
			 * ever: without these checks the loop would spin at the
			 * sync and the worker with it. A NULL at the sync is
			 * expected once, after an error that came in its place;
			 * two in a row mean libpq waits for nothing. */
			if (PQstatus(c->pg) == CONNECTION_BAD) {
				conn_fail(c, PQerrorMessage(c->pg));
				return;
			}
			if (it->kind != IT_SYNC) {
				t->pos++;
			} else if (++idle_at_sync > 1) {
				conn_fail(c, "the database connection lost its place in the pipeline");
				return;
			}
			continue;
		}
		idle_at_sync = 0;
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			t->pos = t->nitems;
			conn_batch_done(c);
			return;
		}
		if (st == PGRES_FATAL_ERROR || st == PGRES_PIPELINE_ABORTED || st == PGRES_NONFATAL_ERROR) {
			if (st != PGRES_PIPELINE_ABORTED && !t->failed)
				txn_set_error(t, r, "statement failed");
			if (it->kind == IT_PREPARE)
				c->prepared[it->stmt / 8] &= (uint8_t)~(1u << (it->stmt % 8));
			t->failed = true;
			PQclear(r);
			continue;
		}
		if (it->kind == IT_USER && it->index < DB_BATCH_MAX && !t->res[it->index]) {
			t->res[it->index] = r;
			continue;
		}
		if (it->kind == IT_CHANGED && PQntuples(r) == 1 && PQnfields(r) == 1)
			t->changed = strcmp(PQgetvalue(r, 0, 0), "1") == 0;
		if (it->kind == IT_COMMIT && strcmp(PQcmdStatus(r), "COMMIT") != 0) {
			/* COMMIT of an aborted transaction answers ROLLBACK. */
			t->failed = true;
			if (!t->err[0])
				snprintf(t->err, sizeof(t->err), "transaction rolled back");
		}
		PQclear(r);
	}
}

static void conn_batch_done(struct db_conn *c)
{
	struct db_txn *t = &c->txn;
	event_del(c->timer);
	if (c->state == DBC_RESETTING) {
		c->state = DBC_IDLE;
		pool_serve_waiters(c->pool);
		return;
	}
	c->state = DBC_HELD;
	enum db_status st = t->busy ? DB_UNAVAILABLE : t->failed ? DB_ERROR : DB_OK;
	if (t->committing) {
		/* Before anyone hears of the commit: a guest's read that starts
		 * after the answer must not be kept under the old generation. */
		if (st == DB_OK && t->changed)
			datagen_applied(t->tenant_id, t->writer);
		if (st == DB_OK && t->again) {
			/* The next transaction, on this connection, held. */
			db_done_cb cb = t->cb;
			void *arg = t->arg;
			txn_reset(t, t->tenant_id);
			cb(t, DB_OK, arg);
			return;
		}
		t->done = true;
		t->cb(t, st, t->arg);
		/* A failed COMMIT batch leaves an aborted transaction open. */
		conn_release(c);
		return;
	}
	t->cb(t, st, t->arg);
}

static void conn_flush(struct db_conn *c)
{
	int r = PQflush(c->pg);
	if (r < 0) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	conn_want(c, true, r == 1);
}

/* ---------------------------------------------------------------- events */

static void on_conn_read(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;
	if (c->state == DBC_CONNECTING) {
		conn_poll_connect(c);
		return;
	}
	if (!PQconsumeInput(c->pg)) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	if (c->state == DBC_BUSY || c->state == DBC_RESETTING) {
		conn_read_results(c);
		return;
	}
	/* Idle or held: the server only speaks up to say goodbye. */
	if (PQstatus(c->pg) == CONNECTION_BAD)
		conn_fail(c, PQerrorMessage(c->pg));
}

static void on_conn_write(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;
	if (c->state == DBC_CONNECTING) {
		conn_poll_connect(c);
		return;
	}
	conn_flush(c);
}

static void on_conn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;
	switch (c->state) {
	case DBC_DOWN:
		conn_connect(c);
		break;
	case DBC_CONNECTING:
		conn_connect_failed(c, "connect timeout");
		break;
	case DBC_BUSY:
	case DBC_RESETTING:
		conn_fail(c, "the database did not answer in time");
		break;
	case DBC_IDLE:
		/* Nobody took it: end the read-only transaction left open, so
		 * that its locks do not linger. */
		if (c->pending_rollback)
			conn_send_rollback(c);
		break;
	default:
		break;
	}
}

static void on_wait_timer(evutil_socket_t fd, short what, void *arg)
{
	struct db_pool *p = arg;
	int64_t now = now_ms();
	while (p->qlen > 0 && p->q[p->qhead].deadline_ms <= now) {
		struct waiter w = p->q[p->qhead];
		p->qhead = (p->qhead + 1) % p->qcap;
		p->qlen--;
		w.cb(NULL, DB_UNAVAILABLE, w.arg);
	}
	pool_arm_wait_timer(p);
}

/* ---------------------------------------------------------------- helpers */

static void pool_serve_waiters(struct db_pool *p)
{
	for (int i = 0; i < p->size && p->qlen > 0; i++) {
		struct db_conn *c = &p->conns[i];
		if (c->state != DBC_IDLE)
			continue;
		struct waiter w = p->q[p->qhead];
		p->qhead = (p->qhead + 1) % p->qcap;
		p->qlen--;
		c->state = DBC_HELD;
		txn_reset(&c->txn, w.tenant_id);
		w.cb(&c->txn, DB_OK, w.arg);
	}
	pool_arm_wait_timer(p);
}

static void pool_fail_waiters(struct db_pool *p)
{
	while (p->qlen > 0) {
		struct waiter w = p->q[p->qhead];
		p->qhead = (p->qhead + 1) % p->qcap;
		p->qlen--;
		w.cb(NULL, DB_UNAVAILABLE, w.arg);
	}
	event_del(p->wait_timer);
}

static void pool_arm_wait_timer(struct db_pool *p)
{
	if (p->qlen == 0) {
		event_del(p->wait_timer);
		return;
	}
	int64_t ms = p->q[p->qhead].deadline_ms - now_ms();
	if (ms < 0)
		ms = 0;
	event_add(p->wait_timer, &(struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000});
}

/* Drops the socket's events (before libpq closes the socket, or after it
 * may have replaced it). */
static void conn_unwatch(struct db_conn *c)
{
	if (c->rev) {
		event_free(c->rev);
		c->rev = NULL;
	}
	if (c->wev) {
		event_free(c->wev);
		c->wev = NULL;
	}
	c->rev_on = c->wev_on = false;
	c->fd = -1;
}

static void conn_want(struct db_conn *c, bool read, bool write)
{
	int fd = PQsocket(c->pg);
	if (fd != c->fd) {
		conn_unwatch(c);
		c->rev = event_new(c->pool->base, fd, EV_READ | EV_PERSIST, on_conn_read, c);
		c->wev = event_new(c->pool->base, fd, EV_WRITE | EV_PERSIST, on_conn_write, c);
		c->rev_on = c->wev_on = false;
		c->fd = fd;
	}
	if (!c->rev || !c->wev)
		return;
	if (read != c->rev_on) {
		if (read)
			event_add(c->rev, NULL);
		else
			event_del(c->rev);
		c->rev_on = read;
	}
	if (write != c->wev_on) {
		if (write)
			event_add(c->wev, NULL);
		else
			event_del(c->wev);
		c->wev_on = write;
	}
}

static void conn_arm(struct db_conn *c, int64_t ms)
{
	event_add(c->timer, &(struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000});
}

static void txn_reset(struct db_txn *t, int64_t tenant_id)
{
	t->tenant_id = tenant_id;
	snprintf(t->tenant_str, sizeof(t->tenant_str), "%" PRId64, tenant_id);
	t->writer = datagen_writer_next();
	datagen_writer_tag(t->writer, t->writer_tag);
	t->begun = t->failed = t->unavailable = t->busy = t->committing = t->again = t->done = t->changed = false;
	t->nq = 0;
	t->plen = 0;
	t->nitems = t->pos = 0;
	t->err[0] = '\0';
	txn_clear_results(t);
}

static void txn_clear_results(struct db_txn *t)
{
	for (int i = 0; i < DB_BATCH_MAX; i++) {
		if (t->res[i]) {
			PQclear(t->res[i]);
			t->res[i] = NULL;
		}
	}
	t->nres = 0;
}

/* SQLSTATEs that say the database could not do it now, not that the
 * request was wrong: a statement past statement_timeout (or cancelled),
 * a deadlock or serialization failure, a lock not had, the server out of
 * resources (class 53). Such a failure is reported as DB_UNAVAILABLE, so
 * the client hears 503 and may try again, as when the connection went. */
static bool sqlstate_busy(const char *state)
{
	if (!state || strlen(state) != 5)
		return false;
	return strcmp(state, "57014") == 0 || strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0
	       || strcmp(state, "55P03") == 0 || strncmp(state, "53", 2) == 0;
}

static void txn_set_error(struct db_txn *t, const PGresult *r, const char *fallback)
{
	const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	snprintf(t->err, sizeof(t->err), "%s%s%s", state ? state : "", state ? ": " : "", msg ? msg : fallback);
	t->busy = sqlstate_busy(state);
	/* Answered 503 without the error's text: the log keeps why. */
	if (t->busy)
		log_warn("db: tenant=%lld: the database could not do it now: %s", (long long)t->tenant_id, t->err);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- arrays */

static char *put32(char *p, uint32_t v)
{
	p[0] = (char)(v >> 24);
	p[1] = (char)(v >> 16);
	p[2] = (char)(v >> 8);
	p[3] = (char)v;
	return p + 4;
}

char *db_binary_array(unsigned elem_oid, size_t n, const char *const *data, const size_t *lens, size_t *outlen)
{
	size_t len = 20;
	for (size_t i = 0; i < n; i++) {
		if (lens[i] > INT32_MAX || len > (size_t)INT32_MAX - 4 - lens[i])
			return NULL;
		len += 4 + lens[i];
	}
	char *out = malloc(len), *p = out;
	if (!out)
		return NULL;
	p = put32(p, n ? 1 : 0);        /* dimensions */
	p = put32(p, 0);                /* no NULLs */
	p = put32(p, elem_oid);
	if (n) {
		p = put32(p, (uint32_t)n);
		p = put32(p, 1);        /* lower bound */
	}
	for (size_t i = 0; i < n; i++) {
		p = put32(p, (uint32_t)lens[i]);
		memcpy(p, data[i], lens[i]);
		p += lens[i];
	}
	*outlen = (size_t)(p - out);
	return out;
}
