/* The database pool of one worker: libpq fully non-blocking inside the
 * worker's event loop, pipeline mode, prepared statements, and one
 * transaction per request that carries the tenant setting.
 *
 * A request asks for a transaction (db_begin), queues statements
 * (db_query), sends them (db_send) as many times as it needs, and ends with
 * db_commit or db_rollback. BEGIN and the tenant setting travel in the
 * first round trip with the first statements; a request that only reads
 * can send everything including COMMIT in one round trip (db_commit
 * straight after db_query). Callbacks may run before the call that caused
 * them returns. */
#ifndef AANTAFEL_DB_H
#define AANTAFEL_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct event_base;
struct db_pool;
struct db_txn;

enum db_status {
	DB_OK,
	DB_UNAVAILABLE,         /* no connection in time, the database went away, or it could
				 * not do it now (a statement timed out, a deadlock, a
				 * serialization failure, out of resources): try again */
	DB_ERROR,               /* a statement failed; the transaction is rolled back */
};

#define DB_BATCH_MAX 32         /* statements per round trip */
#define DB_PARAMS_MAX 16        /* parameters per statement */
#define DB_STMTS_MAX 256        /* prepared statements in the process */

/* Registers a statement to be prepared on each connection when first used.
 * Call before the workers start; returns the statement's id. */
int db_stmt(const char *sql);
/* The same for a statement whose results come in binary format: bytea
 * values arrive as their raw bytes (PQgetlength gives the length; libpq
 * still appends a NUL), integers in network byte order. */
int db_stmt_binary(const char *sql);

struct db_pool *db_pool_new(struct event_base *base, const struct config *cfg, int worker_index);
void db_pool_free(struct db_pool *p);
/* Takes the reloadable limits (queue size, timeouts) from CFG. */
void db_pool_configure(struct db_pool *p, const struct config *cfg);

typedef void (*db_begin_cb)(struct db_txn *txn, enum db_status st, void *arg);
typedef void (*db_done_cb)(struct db_txn *txn, enum db_status st, void *arg);

/* Gets a connection (waiting in the bounded queue up to db_wait_timeout)
 * and starts a transaction for TENANT_ID (0: no tenant: every tenant
 * table then shows no rows). On failure cb gets txn NULL. */
void db_begin(struct db_pool *p, int64_t tenant_id, db_begin_cb cb, void *arg);

/* Queues a statement with text parameters (NULL values are SQL NULL).
 * Returns -1 when the batch is full or a parameter is over 1 MiB. */
int db_query(struct db_txn *t, int stmt, int nparams, const char *const *values);

/* The same with binary parameters: LENS[i] >= 0 sends VALUES[i] as that
 * many bytes in binary format (a bytea, an array in array_send's form),
 * up to DB_BINARY_PARAM_MAX; -1 as text. For the one large statement
 * that stores an uploaded bundle. */
#define DB_BINARY_PARAM_MAX (40 * 1024 * 1024)
int db_query_bin(struct db_txn *t, int stmt, int nparams, const char *const *values, const int *lens);

/* A one-dimensional array of N elements of type ELEM_OID (25 text, 17
 * bytea) in PostgreSQL's binary format (array_recv), for db_query_bin:
 * malloc'd, its length in *OUTLEN; NULL when it would not fit. */
char *db_binary_array(unsigned elem_oid, size_t n, const char *const *data, const size_t *lens, size_t *outlen);

/* Sends the queued statements; cb runs when all their results are in.
 * After DB_ERROR or DB_UNAVAILABLE only db_rollback is allowed. */
void db_send(struct db_txn *t, db_done_cb cb, void *arg);

/* Sends the queued statements and COMMIT. DB_OK means committed: only
 * then may a write be acknowledged. A commit that changed what guests see
 * (the data triggers of sql/010_data_notify.sql fired) has bumped the tenant's data
 * generation (datagen.h) before cb runs. The transaction is over after
 * cb. */
void db_commit(struct db_txn *t, db_done_cb cb, void *arg);

/* Commits as db_commit, and with DB_OK the same T goes on as the next
 * transaction of the same tenant on the same connection, still held: what
 * was written is kept and its locks are given back, without waiting for a
 * connection again. Otherwise T is over, as after db_commit. */
void db_commit_again(struct db_txn *t, db_done_cb cb, void *arg);

/* Ends a transaction that wrote nothing: the connection is free at once
 * and its ROLLBACK goes with the next batch sent on it (or on its own
 * after DB_IDLE_ROLLBACK_MS idle). Saves the read-only request a round
 * trip. A transaction that failed is rolled back as by db_rollback. */
#define DB_IDLE_ROLLBACK_MS 100
void db_release(struct db_txn *t);

/* Ends the transaction without committing; the connection is cleaned up
 * and returned to the pool in the background. */
void db_rollback(struct db_txn *t);

/* Results of the last batch, in db_query order; valid until the next
 * db_send, db_commit or db_rollback. */
const PGresult *db_result(const struct db_txn *t, int i);
/* The integer in column COL of row ROW, checked (an SQL integer in
 * text form): 0 when the row or column is missing, the value NULL, or the
 * text not a whole number within int64_t. */
int64_t db_int(const PGresult *r, int row, int col);

/* The failing statement's message ("" when none). */
const char *db_error(const struct db_txn *t);

#endif
