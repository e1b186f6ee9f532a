#include "auth.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"
#include "log.h"
#include "password.h"

static struct job_queue *hashq;
static pthread_mutex_t params_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pw_params params;
static atomic_ullong dummies;
static int stmt_lookup, stmt_fail, stmt_session_new, stmt_clear, stmt_rehash;

static void on_lookup(struct db_txn *txn, enum db_status st, void *arg);
static void hash_work(void *arg);
static void hash_done(void *arg);
static void on_written(struct db_txn *txn, enum db_status st, void *arg);
static void finish(struct auth_signin *s, enum auth_result r);

int auth_init(const struct config *cfg, char *err, size_t errlen)
{
	auth_configure(cfg);
	hashq = job_queue_new("hash", (int)cfg->hash_threads, (int)cfg->hash_queue);
	if (!hashq) {
		snprintf(err, errlen, "cannot start the hashing threads");
		return -1;
	}
	return 0;
}

void auth_configure(const struct config *cfg)
{
	pthread_mutex_lock(&params_lock);
	params = (struct pw_params){(uint64_t)cfg->scrypt_n, (uint32_t)cfg->scrypt_r, (uint32_t)cfg->scrypt_p,
				    (uint64_t)cfg->scrypt_maxmem};
	pthread_mutex_unlock(&params_lock);
}

void auth_fini(void)
{
	if (hashq)
		job_queue_free(hashq);
	hashq = NULL;
}

unsigned long long auth_dummy_count(void)
{
	return atomic_load(&dummies);
}

void auth_register_statements(void)
{
	/* Limits first: nothing is hashed for an address or account over
	 * its limit. Windows are an hour from the first failure. */
	stmt_lookup = db_stmt(
		"WITH acct AS (SELECT id, password_hash FROM accounts"
		"   WHERE tenant_id = $1 AND email = $2 AND deleted_at IS NULL),"
		" lim AS (SELECT key, failures, 3600 - extract(epoch FROM now() - window_start)::int AS left_s"
		"   FROM signin_limits WHERE tenant_id = $1 AND window_start > now() - interval '1 hour'"
		"   AND (key = 'ip:' || $3 OR key = 'a:' || (SELECT id FROM acct)))"
		" SELECT (SELECT id FROM acct), (SELECT password_hash FROM acct),"
		"  coalesce((SELECT failures FROM lim WHERE key LIKE 'ip:%'), 0),"
		"  coalesce((SELECT left_s FROM lim WHERE key LIKE 'ip:%'), 0),"
		"  coalesce((SELECT failures FROM lim WHERE key LIKE 'a:%'), 0),"
		"  coalesce((SELECT left_s FROM lim WHERE key LIKE 'a:%'), 0)");
	stmt_fail = db_stmt("INSERT INTO signin_limits AS l (tenant_id, key, window_start, failures)"
			    " VALUES ($1, $2, now(), 1) ON CONFLICT (tenant_id, key) DO UPDATE SET"
			    " failures = CASE WHEN l.window_start > now() - interval '1 hour' THEN l.failures + 1 ELSE 1 END,"
			    " window_start = CASE WHEN l.window_start > now() - interval '1 hour'"
			    "   THEN l.window_start ELSE now() END");
	stmt_session_new = db_stmt("INSERT INTO sessions (tenant_id, token_hash, account_id, csrf_token)"
				   " VALUES ($1, decode($2, 'hex'), $3, $4)");
	stmt_clear = db_stmt("DELETE FROM signin_limits WHERE tenant_id = $1 AND key = 'a:' || $2");
	stmt_rehash = db_stmt("UPDATE accounts SET password_hash = $3 WHERE tenant_id = $1 AND id = $2");
}

void auth_signin_start(struct auth_signin *s, struct db_txn *txn, struct event_base *base,
		       void (*done)(struct auth_signin *s, void *arg), void *arg)
{
	s->txn = txn;
	s->done = done;
	s->arg = arg;
	s->base = base;
	char tid[24];
	snprintf(tid, sizeof(tid), "%lld", (long long)s->tenant_id);
	const char *p[3] = {tid, s->email, s->address};
	if (db_query(txn, stmt_lookup, 3, p) != 0) {
		finish(s, AUTH_DB);
		return;
	}
	db_send(txn, on_lookup, s);
}

static void on_lookup(struct db_txn *txn, enum db_status st, void *arg)
{
	struct auth_signin *s = arg;
	if (st != DB_OK) {
		finish(s, AUTH_DB);
		return;
	}
	const PGresult *r = db_result(txn, 0);
	s->account_id = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	snprintf(s->stored, sizeof(s->stored), "%s", PQgetisnull(r, 0, 1) ? "" : PQgetvalue(r, 0, 1));
	int ip_fail = atoi(PQgetvalue(r, 0, 2)), ip_left = atoi(PQgetvalue(r, 0, 3));
	int ac_fail = atoi(PQgetvalue(r, 0, 4)), ac_left = atoi(PQgetvalue(r, 0, 5));
	if (ip_fail >= AUTH_FAILURES_PER_ADDRESS || ac_fail >= AUTH_FAILURES_PER_ACCOUNT) {
		int left = 0;
		if (ip_fail >= AUTH_FAILURES_PER_ADDRESS)
			left = ip_left;
		if (ac_fail >= AUTH_FAILURES_PER_ACCOUNT && ac_left > left)
			left = ac_left;
		s->retry_after = left > 0 ? left : 1;
		finish(s, AUTH_LIMITED);
		return;
	}
	if (job_submit(hashq, s->base, hash_work, hash_done, s) != 0) {
		finish(s, AUTH_BUSY);
		return;
	}
}

/* On a hashing thread: only S's own fields. */
static void hash_work(void *arg)
{
	struct auth_signin *s = arg;
	pthread_mutex_lock(&params_lock);
	struct pw_params want = params;
	pthread_mutex_unlock(&params_lock);
	size_t len = strlen(s->password);
	s->rehash[0] = '\0';
	if (!s->stored[0]) {
		/* Unknown address, or an account without a password: the same
		 * work as a wrong password. */
		password_dummy_verify(s->password, len, &want);
		atomic_fetch_add(&dummies, 1);
		s->verified = 0;
	} else {
		s->verified = password_verify(s->password, len, s->stored) == 1;
		if (s->verified && password_needs_rehash(s->stored, &want) &&
		    password_hash(s->password, len, &want, s->rehash, sizeof(s->rehash)) != 0)
			s->rehash[0] = '\0';
	}
	memset(s->password, 0, sizeof(s->password));
}

static void hash_done(void *arg)
{
	struct auth_signin *s = arg;
	char tid[24], aid[24], hash[65];
	snprintf(tid, sizeof(tid), "%lld", (long long)s->tenant_id);
	snprintf(aid, sizeof(aid), "%lld", (long long)s->account_id);
	int rc = 0;
	if (s->verified) {
		if (token_new(s->token) != 0 || token_new(s->csrf) != 0) {
			finish(s, AUTH_BUSY);
			return;
		}
		token_hash_hex(s->token, hash);
		const char *ps[4] = {tid, hash, aid, s->csrf};
		const char *pc[2] = {tid, aid};
		rc |= db_query(s->txn, stmt_session_new, 4, ps);
		rc |= db_query(s->txn, stmt_clear, 2, pc);
		if (s->rehash[0]) {
			const char *pr[3] = {tid, aid, s->rehash};
			rc |= db_query(s->txn, stmt_rehash, 3, pr);
		}
	} else {
		char key[80];
		snprintf(key, sizeof(key), "ip:%s", s->address);
		const char *pi[2] = {tid, key};
		rc |= db_query(s->txn, stmt_fail, 2, pi);
		if (s->account_id) {
			snprintf(key, sizeof(key), "a:%s", aid);
			const char *pa[2] = {tid, key};
			rc |= db_query(s->txn, stmt_fail, 2, pa);
		}
	}
	if (rc != 0) {
		finish(s, AUTH_DB);
		return;
	}
	db_send(s->txn, on_written, s);
}

static void on_written(struct db_txn *txn, enum db_status st, void *arg)
{
	struct auth_signin *s = arg;
	if (st != DB_OK)
		finish(s, AUTH_DB);
	else
		finish(s, s->verified ? AUTH_OK : AUTH_INVALID);
}

static void finish(struct auth_signin *s, enum auth_result r)
{
	s->result = r;
	memset(s->password, 0, sizeof(s->password));
	s->done(s, s->arg);
}
