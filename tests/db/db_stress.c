/* Drives one db_pool (the daemon's) with many interleaved transactions of
 * two tenants, some forced to abort, and checks inside every transaction
 * that no row of the other tenant is visible. Prints one "ack TENANT KEY"
 * line per acknowledged commit so the caller can prove, with a superuser
 * connection, that every acknowledged write exists and nothing else does.
 *
 *   db_stress CONNINFO TENANT_A TENANT_B COUNT [PREFIX]
 *
 * Exit 0 when all transactions ran, at least one looked for other
 * tenants' rows and none saw any, 1 otherwise.
 * DB_UNAVAILABLE (the database restarted under us) is counted, not an
 * error: those transactions were not acknowledged. */
#include <event2/event.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "log.h"

#define INFLIGHT 12

enum kind { K_COMMIT, K_FAIL_RLS, K_FAIL_LATER, K_ROLLBACK, K_READONLY };

struct job {
	int n;
	int64_t tenant, other;
	enum kind kind;
	bool unavailable;       /* ended with DB_UNAVAILABLE */
	char key[64];
	char tid[24], oid[24];
};

static struct event_base *base;
static struct db_pool *pool;
static int stmt_insert, stmt_leak, stmt_div0, stmt_mine;
static int started, finished, total;
static int64_t tenants[2];
static const char *prefix = "stress";
static long committed, forced_aborts, unavailable, leaks, unexpected, leak_checks;

static void start_next(void);
static void on_next(evutil_socket_t fd, short what, void *arg);
static void begun(struct db_txn *t, enum db_status st, void *arg);
static void first_done(struct db_txn *t, enum db_status st, void *arg);
static void second_done(struct db_txn *t, enum db_status st, void *arg);
static void committed_cb(struct db_txn *t, enum db_status st, void *arg);
static void finish(struct job *j);

int main(int argc, char **argv)
{
	char err[256];
	if (argc < 5) {
		fprintf(stderr, "usage: %s CONNINFO TENANT_A TENANT_B COUNT [PREFIX]\n", argv[0]);
		return 2;
	}
	tenants[0] = strtoll(argv[2], NULL, 10);
	tenants[1] = strtoll(argv[3], NULL, 10);
	total = (int)strtol(argv[4], NULL, 10);
	if (argc > 5)
		prefix = argv[5];

	setenv("AANTAFEL_DATABASE_URL", argv[1], 1);
	setenv("AANTAFEL_DB_POOL_SIZE", "4", 1);
	setenv("AANTAFEL_DB_QUEUE_SIZE", "64", 1);
	setenv("AANTAFEL_DB_WAIT_TIMEOUT", "5s", 1);
	setenv("AANTAFEL_LOG_LEVEL", "error", 1);
	struct config *cfg = config_load(NULL, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "config: %s\n", err);
		return 2;
	}
	log_configure(cfg, err, sizeof(err));
	setvbuf(stdout, NULL, _IOLBF, 0);       /* the caller watches the lines as they come */

	stmt_insert = db_stmt("INSERT INTO plugin_store (tenant_id, plugin, key, value)"
			      " VALUES ($1, 'stress', $2, '{}')");
	/* Rows of any other tenant that this transaction can see: must be
	 * none, whatever the previous user of the connection set. */
	stmt_leak = db_stmt("SELECT count(*) FROM plugin_store WHERE tenant_id <> $1");
	stmt_div0 = db_stmt("SELECT 1 / (count(*) - count(*)) FROM plugin_store WHERE tenant_id = $1");
	stmt_mine = db_stmt("SELECT count(*) FROM plugin_store WHERE tenant_id = $1 AND plugin = 'stress'");

	base = event_base_new();
	pool = db_pool_new(base, cfg, 0);
	for (int i = 0; i < INFLIGHT; i++)
		start_next();
	event_base_dispatch(base);

	fprintf(stderr,
		"transactions %d: committed %ld, forced aborts %ld, unavailable %ld, leaks %ld, unexpected %ld,"
		" leak checks %ld\n",
		finished, committed, forced_aborts, unavailable, leaks, unexpected, leak_checks);
	db_pool_free(pool);
	event_base_free(base);
	config_unref(cfg);
	/* No leak seen counts only if some transaction looked. */
	return (leaks == 0 && unexpected == 0 && finished == total && leak_checks > 0) ? 0 : 1;
}

static void start_next(void)
{
	if (started >= total)
		return;
	struct job *j = calloc(1, sizeof(*j));
	j->n = started++;
	int which = rand() & 1;
	j->tenant = tenants[which];
	j->other = tenants[!which];
	snprintf(j->tid, sizeof(j->tid), "%" PRId64, j->tenant);
	snprintf(j->oid, sizeof(j->oid), "%" PRId64, j->other);
	snprintf(j->key, sizeof(j->key), "%s-%d", prefix, j->n);
	switch (j->n % 10) {
	case 3: j->kind = K_FAIL_RLS; break;
	case 5: j->kind = K_FAIL_LATER; break;
	case 7: j->kind = K_ROLLBACK; break;
	case 9: j->kind = K_READONLY; break;
	default: j->kind = K_COMMIT; break;
	}
	/* Every other read-only transaction sets no tenant at all: it must
	 * see no rows, on a connection another tenant just used. */
	if (j->kind == K_READONLY && (j->n / 10) % 2 == 0)
		j->tenant = 0;
	db_begin(pool, j->tenant, begun, j);
}

static void begun(struct db_txn *t, enum db_status st, void *arg)
{
	struct job *j = arg;
	if (st != DB_OK) {
		unavailable++;
		j->unavailable = true;
		finish(j);
		return;
	}
	const char *leak[] = {j->tenant ? j->tid : "0"};
	db_query(t, stmt_leak, 1, leak);
	if (j->kind == K_READONLY) {
		db_commit(t, committed_cb, j);
		return;
	}
	const char *ins[] = {j->kind == K_FAIL_RLS ? j->oid : j->tid, j->key};
	db_query(t, stmt_insert, 2, ins);
	db_send(t, first_done, j);
}

/* The count of other tenants' rows must be there and be "0": a missing
 * answer is an error, not a pass. */
static void check_leak(struct db_txn *t, struct job *j)
{
	const PGresult *r = db_result(t, 0);
	if (!r || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) != 1) {
		fprintf(stderr, "unexpected: transaction %d has no count of other tenants' rows\n", j->n);
		unexpected++;
		return;
	}
	leak_checks++;
	const char *n = PQgetvalue(r, 0, 0);
	if (strcmp(n, "0") != 0) {
		fprintf(stderr, "LEAK: transaction %d of tenant %" PRId64 " sees %s rows of other tenants\n", j->n,
			j->tenant, n);
		leaks++;
	}
}

static void first_done(struct db_txn *t, enum db_status st, void *arg)
{
	struct job *j = arg;
	if (st == DB_UNAVAILABLE) {
		unavailable++;
		j->unavailable = true;
		db_rollback(t);
		finish(j);
		return;
	}
	if (j->kind == K_FAIL_RLS) {
		/* Writing another tenant's row must fail (RLS WITH CHECK). */
		if (st == DB_OK) {
			fprintf(stderr, "LEAK: transaction %d wrote a row for another tenant\n", j->n);
			leaks++;
		} else {
			forced_aborts++;
		}
		db_rollback(t);
		finish(j);
		return;
	}
	if (st != DB_OK) {
		fprintf(stderr, "unexpected error in transaction %d: %s\n", j->n, db_error(t));
		unexpected++;
		db_rollback(t);
		finish(j);
		return;
	}
	check_leak(t, j);
	const char *mine[] = {j->tid};
	if (j->kind == K_FAIL_LATER) {
		db_query(t, stmt_div0, 1, mine);
		db_send(t, second_done, j);
		return;
	}
	if (j->kind == K_ROLLBACK) {
		forced_aborts++;
		db_rollback(t);
		finish(j);
		return;
	}
	db_query(t, stmt_mine, 1, mine);
	db_commit(t, committed_cb, j);
}

static void second_done(struct db_txn *t, enum db_status st, void *arg)
{
	struct job *j = arg;
	if (st == DB_ERROR) {
		forced_aborts++;
	} else if (st == DB_UNAVAILABLE) {
		unavailable++;
		j->unavailable = true;
	} else {
		fprintf(stderr, "transaction %d: division by zero did not fail\n", j->n);
		unexpected++;
	}
	db_rollback(t);
	finish(j);
}

static void committed_cb(struct db_txn *t, enum db_status st, void *arg)
{
	struct job *j = arg;
	if (st == DB_OK) {
		if (j->kind == K_READONLY) {
			check_leak(t, j);
		} else {
			committed++;
			printf("ack %" PRId64 " %s\n", j->tenant, j->key);
		}
	} else if (st == DB_UNAVAILABLE) {
		unavailable++;
		j->unavailable = true;
	} else {
		fprintf(stderr, "unexpected commit error in transaction %d: %s\n", j->n, db_error(t));
		unexpected++;
	}
	finish(j);
}

static void on_next(evutil_socket_t fd, short what, void *arg)
{
	start_next();
}

/* The next transaction starts from the loop, not from inside the pool's
 * callback: while the database is away every db_begin answers at once,
 * and starting the next one there would nest thousands of them deep on
 * the stack. A transaction that found no database waits a moment, so
 * that an outage does not use up the whole count. */
static void finish(struct job *j)
{
	bool away = j->unavailable;
	if (away)
		printf("unavailable %d\n", j->n);
	free(j);
	finished++;
	if (finished == total) {
		event_base_loopbreak(base);
		return;
	}
	struct timeval tv = {0, away ? 5000 : 0};
	if (event_base_once(base, -1, EV_TIMEOUT, on_next, NULL, &tv) != 0)
		start_next();
}
