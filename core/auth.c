#include "auth.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"
#include "log.h"
#include "mail.h"
#include "password.h"
#include "utf8.h"

static struct job_queue *hashq;
static pthread_mutex_t params_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pw_params params;
static atomic_ullong dummies;
static int stmt_lookup, stmt_good, stmt_session_new, stmt_clear, stmt_rehash, stmt_signup, stmt_verify;
static int stmt_email_token, stmt_delete_account, stmt_signup_count, stmt_forgot, stmt_reset_check, stmt_reset, stmt_change_lookup, stmt_change;

static void on_lookup(struct db_txn *txn, enum db_status st, void *arg);
static void signup_counted(struct db_txn *txn, enum db_status st, void *arg);
static void hash_work(void *arg);
static void hash_done(void *arg);
static void on_written(struct db_txn *txn, enum db_status st, void *arg);
static void finish(struct auth_signin *s, enum auth_result r);
static int limited(const PGresult *r, int col, int *retry_after);

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
	/* Every attempt is counted before its password is hashed, under a
	 * lock on its counters (platform.attempt, sql/017): the address asked
	 * for (known or not, alike) and the client's address. A wrong
	 * password then writes nothing more: the count is the failure, kept
	 * by the commit that every answer to a counted attempt makes. */
	stmt_lookup = db_stmt(
		"SELECT (SELECT id FROM accounts WHERE tenant_id = $1 AND email = $2 AND deleted_at IS NULL),"
		" (SELECT password_hash FROM accounts WHERE tenant_id = $1 AND email = $2 AND deleted_at IS NULL),"
		" r.allowed, r.retry_after"
		" FROM platform.attempt($1, ARRAY[platform.address_key($2), 'ip:' || $3], ARRAY[$4::int, $5::int]) r");
	/* A good password: the address's count ends, the client's loses
	 * this attempt. */
	stmt_good = db_stmt("SELECT platform.attempt_good($1, ARRAY[platform.address_key($2)], ARRAY['ip:' || $3])");
	stmt_session_new = db_stmt("INSERT INTO sessions (tenant_id, token_hash, account_id, csrf_token)"
				   " VALUES ($1, decode($2, 'hex'), $3, $4)");
	/* The current password was right: the account's count ends. */
	stmt_clear = db_stmt("SELECT platform.attempt_good($1, ARRAY[$2::text], '{}')");
	stmt_rehash = db_stmt("UPDATE accounts SET password_hash = $3 WHERE tenant_id = $1 AND id = $2");
	/* Counts a sign-up attempt of a client address in the hour. */
	stmt_signup_count = db_stmt("SELECT allowed, retry_after FROM platform.attempt($1, ARRAY['signup-ip:' || $2],"
				    " ARRAY[$3::int])");
	/* A new account with its member role and verification token; no row
	 * when the address has an account already. */
	stmt_signup = db_stmt(
		"WITH a AS (INSERT INTO accounts (tenant_id, email, display_name, password_hash)"
		"   VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, email) DO NOTHING RETURNING tenant_id, id),"
		" r AS (INSERT INTO account_roles (tenant_id, account_id, role) SELECT tenant_id, id, 'member' FROM a)"
		" INSERT INTO account_tokens (tenant_id, token_hash, account_id, purpose, expires_at)"
		" SELECT tenant_id, decode($5, 'hex'), id, 'verify', now() + make_interval(hours => $6::int) FROM a"
		" RETURNING account_id");
	/* The token is spent by the statement that verifies. Following the
	 * link again while it is valid confirms again instead of failing:
	 * mail scanners open links before the person does. */
	stmt_verify = db_stmt(
		"WITH t AS (UPDATE account_tokens SET used_at = now()"
		"   WHERE tenant_id = $1 AND token_hash = decode($2, 'hex') AND purpose = 'verify'"
		"   AND used_at IS NULL AND expires_at > now() RETURNING account_id),"
		" v AS (UPDATE accounts a SET email_verified_at = coalesce(a.email_verified_at, now())"
		"   FROM t WHERE a.tenant_id = $1 AND a.id = t.account_id AND a.deleted_at IS NULL RETURNING a.id)"
		" SELECT id FROM v UNION ALL"
		" SELECT o.account_id FROM account_tokens o JOIN accounts a"
		"   ON a.tenant_id = o.tenant_id AND a.id = o.account_id"
		" WHERE o.tenant_id = $1 AND o.token_hash = decode($2, 'hex') AND o.purpose = 'verify'"
		"   AND o.used_at IS NOT NULL AND o.expires_at > now() AND a.email_verified_at IS NOT NULL"
		"   AND a.deleted_at IS NULL");
	/* A reset token for an existing, not deleted account; no row for an
	 * unknown address, nor when 5 unused ones are still valid (sql/017). */
	stmt_forgot = db_stmt("SELECT display_name FROM platform.reset_link($1, $2, $3, $4::int)");
	/* Looks only: a GET must not spend the token. */
	stmt_reset_check = db_stmt(
		"SELECT t.account_id FROM account_tokens t JOIN accounts a"
		"   ON a.tenant_id = t.tenant_id AND a.id = t.account_id"
		" WHERE t.tenant_id = $1 AND t.token_hash = decode($2, 'hex') AND t.purpose = 'reset'"
		"   AND t.used_at IS NULL AND t.expires_at > now() AND a.deleted_at IS NULL");
	/* Spends the token (and the account's other reset tokens), stores the
	 * new hash and ends every session and failure count of the account,
	 * in one statement: a token spent twice at once changes nothing the
	 * second time. */
	stmt_reset = db_stmt(
		"WITH t AS (UPDATE account_tokens SET used_at = now()"
		"   WHERE tenant_id = $1 AND token_hash = decode($2, 'hex') AND purpose = 'reset'"
		"   AND used_at IS NULL AND expires_at > now() RETURNING account_id),"
		" a AS (UPDATE accounts a SET password_hash = $3, email_verified_at = coalesce(a.email_verified_at, now())"
		"   FROM t WHERE a.tenant_id = $1 AND a.id = t.account_id AND a.deleted_at IS NULL RETURNING a.id, a.email),"
		" o AS (UPDATE account_tokens SET used_at = now() WHERE tenant_id = $1"
		"   AND account_id IN (SELECT id FROM a) AND purpose = 'reset' AND used_at IS NULL"
		"   AND token_hash <> decode($2, 'hex')),"
		" s AS (DELETE FROM sessions WHERE tenant_id = $1 AND account_id IN (SELECT id FROM a)),"
		" l AS (DELETE FROM signin_limits WHERE tenant_id = $1 AND key IN (SELECT platform.address_key(email) FROM a))"
		" SELECT id FROM a");
	/* The stored hash, and the attempt counted on the account's address
	 * (whose key comes back for the clearing after a right password). */
	stmt_change_lookup = db_stmt(
		"SELECT a.password_hash, platform.address_key(a.email), r.allowed, r.retry_after FROM accounts a"
		" CROSS JOIN LATERAL platform.attempt($1, ARRAY[platform.address_key(a.email)], ARRAY[$3::int]) r"
		" WHERE a.tenant_id = $1 AND a.id = $2 AND a.deleted_at IS NULL");
	/* Deleting an account: its personal data goes, for every address it
	 * had or asked for (platform.account_erase, sql/017); the row stays
	 * as "voormalig deelnemer" so that contributions keep an author. */
	stmt_delete_account = db_stmt("SELECT id FROM platform.account_erase($1, $2) AS e(id)");
	/* A new address waits for its confirmation link (24 hours); no row
	 * when another account of the tenant has it, nor when 5 links are
	 * out already. */
	stmt_email_token = db_stmt("SELECT * FROM platform.email_link($1, $2, $3, $4)");
	/* The new hash; every other session of the account ends. */
	stmt_change = db_stmt(
		"WITH a AS (UPDATE accounts SET password_hash = $3"
		"   WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING id),"
		" s AS (DELETE FROM sessions WHERE tenant_id = $1 AND account_id IN (SELECT id FROM a)"
		"   AND token_hash <> decode($4, 'hex'))"
		" SELECT id FROM a");
}

void auth_signin_start(struct auth_signin *s, struct db_txn *txn, struct event_base *base,
		       void (*done)(struct auth_signin *s, void *arg), void *arg)
{
	s->txn = txn;
	s->done = done;
	s->arg = arg;
	s->base = base;
	char tid[24], per_account[12], per_address[12];
	snprintf(tid, sizeof(tid), "%lld", (long long)s->tenant_id);
	snprintf(per_account, sizeof(per_account), "%d", AUTH_FAILURES_PER_ACCOUNT);
	snprintf(per_address, sizeof(per_address), "%d", AUTH_FAILURES_PER_ADDRESS);
	const char *p[5] = {tid, s->email, s->address, per_account, per_address};
	if (db_query(txn, stmt_lookup, 5, p) != 0) {
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
	if (PQntuples(r) != 1) {
		finish(s, AUTH_DB);
		return;
	}
	s->account_id = PQgetisnull(r, 0, 0) ? 0 : db_int(r, 0, 0);
	snprintf(s->stored, sizeof(s->stored), "%s", PQgetisnull(r, 0, 1) ? "" : PQgetvalue(r, 0, 1));
	if (limited(r, 2, &s->retry_after)) {
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

/* The lookup's columns COL (allowed) and COL + 1 (seconds left): true,
 * with *RETRY_AFTER set, when the attempt was refused. */
static int limited(const PGresult *r, int col, int *retry_after)
{
	if (PQgetvalue(r, 0, col)[0] == 't')
		return 0;
	int left = (int)db_int(r, 0, col + 1);
	*retry_after = left > 0 ? left : 1;
	return 1;
}

static void hash_done(void *arg)
{
	struct auth_signin *s = arg;
	char tid[24], aid[24], hash[65];
	snprintf(tid, sizeof(tid), "%lld", (long long)s->tenant_id);
	snprintf(aid, sizeof(aid), "%lld", (long long)s->account_id);
	if (!s->verified) {
		/* The attempt was counted before the hashing: nothing to write. */
		finish(s, AUTH_INVALID);
		return;
	}
	if (token_new(s->token) != 0 || token_new(s->csrf) != 0) {
		finish(s, AUTH_BUSY);
		return;
	}
	token_hash_hex(s->token, hash);
	const char *ps[4] = {tid, hash, aid, s->csrf};
	const char *pg[3] = {tid, s->email, s->address};
	int rc = db_query(s->txn, stmt_session_new, 4, ps);
	rc |= db_query(s->txn, stmt_good, 3, pg);
	if (s->rehash[0]) {
		const char *pr[3] = {tid, aid, s->rehash};
		rc |= db_query(s->txn, stmt_rehash, 3, pr);
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
	finish(s, st == DB_OK ? AUTH_OK : AUTH_DB);
}

static void finish(struct auth_signin *s, enum auth_result r)
{
	s->result = r;
	memset(s->password, 0, sizeof(s->password));
	s->done(s, s->arg);
}

/* ---------------------------------------------------------------- sign-up */

static void signup_hash_work(void *arg);
static void signup_hash_done(void *arg);
static void signup_written(struct db_txn *txn, enum db_status st, void *arg);

static void signup_finish(struct auth_signup *s, enum auth_result r)
{
	s->result = r;
	memset(s->password, 0, sizeof(s->password));
	s->done(s, s->arg);
}

static void signup_refuse(struct auth_signup *s, const char *reason, const char *message)
{
	s->reason = reason;
	s->message = message;
	signup_finish(s, AUTH_REFUSED);
}

int auth_email_valid(const char *email)
{
	size_t n = strnlen(email, 255);
	if (n < 3 || n > 254)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)email[i];
		if (c <= ' ' || c == 0x7f || (c >= 'A' && c <= 'Z'))
			return 0;
	}
	const char *at = strchr(email, '@');
	if (!at || strchr(at + 1, '@'))
		return 0;
	const char *dot = strchr(at + 1, '.');
	if (!dot || dot == at + 1 || dot[1] == '\0')
		return 0;
	return mail_address_valid(email);
}

/* Trims spaces around NAME into OUT; 0 when it is 1 to 100 characters of
 * well-formed UTF-8 without control characters. */
static int name_take(const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);
	while (n && (name[0] == ' ' || name[0] == '\t')) {
		name++;
		n--;
	}
	while (n && (name[n - 1] == ' ' || name[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= outlen)
		return -1;
	long chars = utf8_count(name, n);
	if (chars < 1 || chars > AUTH_NAME_MAX_CHARS)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < ' ' || c == 0x7f)
			return -1;
		/* C1 controls, U+0080 to U+009F: 0xC2 0x80..0x9F */
		if (c == 0xc2 && i + 1 < n && (unsigned char)name[i + 1] < 0xa0)
			return -1;
	}
	memcpy(out, name, n);
	out[n] = '\0';
	return 0;
}

void auth_signup_start(struct auth_signup *s, const char *email, const char *name, const char *password,
		       const char *lang, struct db_txn *txn, struct event_base *base,
		       void (*done)(struct auth_signup *s, void *arg), void *arg)
{
	s->txn = txn;
	s->base = base;
	s->done = done;
	s->arg = arg;
	s->existed = 0;
	s->token[0] = '\0';
	snprintf(s->lang, sizeof(s->lang), "%s", lang ? lang : "nl");
	/* In the form's order: name, e-mail address, password. */
	if (!name || name_take(name, s->name, sizeof(s->name)) != 0) {
		signup_refuse(s, "name", NULL);
		return;
	}
	size_t elen = email ? strlen(email) : 0;
	if (elen == 0 || elen >= sizeof(s->email)) {
		signup_refuse(s, "email", NULL);
		return;
	}
	for (size_t i = 0; i <= elen; i++)
		s->email[i] = (char)((email[i] >= 'A' && email[i] <= 'Z') ? email[i] + 32 : email[i]);
	if (!auth_email_valid(s->email)) {
		signup_refuse(s, "email", NULL);
		return;
	}
	size_t plen = password ? strlen(password) : 0;
	const char *why = password_policy(password ? password : "", plen, s->lang);
	if (why) {
		signup_refuse(s, "password", why);
		return;
	}
	if (plen >= sizeof(s->password)) {
		signup_refuse(s, "password", password_policy("", 0, s->lang));
		return;
	}
	memcpy(s->password, password, plen + 1);
	/* The address's count first: no hashing beyond the limit. */
	char tid[24], per_address[12];
	snprintf(tid, sizeof(tid), "%lld", (long long)s->tenant_id);
	snprintf(per_address, sizeof(per_address), "%d", AUTH_SIGNUPS_PER_ADDRESS);
	const char *p[3] = {tid, s->address, per_address};
	if (db_query(txn, stmt_signup_count, 3, p) != 0) {
		signup_finish(s, AUTH_DB);
		return;
	}
	db_send(txn, signup_counted, s);
}

static void signup_counted(struct db_txn *txn, enum db_status st, void *arg)
{
	struct auth_signup *s = arg;
	if (st != DB_OK) {
		signup_finish(s, AUTH_DB);
		return;
	}
	const PGresult *r = db_result(txn, 0);
	if (PQntuples(r) != 1) {
		signup_finish(s, AUTH_DB);
		return;
	}
	if (limited(r, 0, &s->retry_after)) {
		signup_finish(s, AUTH_LIMITED);
		return;
	}
	if (job_submit(hashq, s->base, signup_hash_work, signup_hash_done, s) != 0)
		signup_finish(s, AUTH_BUSY);
}

/* On a hashing thread: only S's own fields. */
static void signup_hash_work(void *arg)
{
	struct auth_signup *s = arg;
	pthread_mutex_lock(&params_lock);
	struct pw_params want = params;
	pthread_mutex_unlock(&params_lock);
	if (password_hash(s->password, strlen(s->password), &want, s->hash, sizeof(s->hash)) != 0)
		s->hash[0] = '\0';
	memset(s->password, 0, sizeof(s->password));
}

static void signup_hash_done(void *arg)
{
	struct auth_signup *s = arg;
	char tid[24], hours[8], hash[65];
	if (!s->hash[0] || token_new(s->token) != 0) {
		s->token[0] = '\0';
		signup_finish(s, AUTH_BUSY);
		return;
	}
	snprintf(tid, sizeof(tid), "%lld", (long long)s->tenant_id);
	snprintf(hours, sizeof(hours), "%d", AUTH_VERIFY_HOURS);
	token_hash_hex(s->token, hash);
	const char *p[6] = {tid, s->email, s->name, s->hash, hash, hours};
	if (db_query(s->txn, stmt_signup, 6, p) != 0) {
		signup_finish(s, AUTH_DB);
		return;
	}
	db_send(s->txn, signup_written, s);
}

static void signup_written(struct db_txn *txn, enum db_status st, void *arg)
{
	struct auth_signup *s = arg;
	memset(s->hash, 0, sizeof(s->hash));
	if (st != DB_OK) {
		s->token[0] = '\0';
		signup_finish(s, AUTH_DB);
		return;
	}
	if (PQntuples(db_result(txn, 0)) == 0) {
		/* The address has an account: no token to hand out. */
		s->existed = 1;
		memset(s->token, 0, sizeof(s->token));
	}
	signup_finish(s, AUTH_OK);
}

/* ---------------------------------------------------------------- verification */

static void verify_done(struct db_txn *txn, enum db_status st, void *arg)
{
	struct auth_verify *v = arg;
	if (st != DB_OK)
		v->result = AUTH_DB;
	else
		v->result = PQntuples(db_result(txn, 0)) > 0 ? AUTH_OK : AUTH_INVALID;
	v->done(v, v->arg);
}

void auth_verify_start(struct auth_verify *v, int64_t tenant_id, const char *token, struct db_txn *txn,
		       void (*done)(struct auth_verify *v, void *arg), void *arg)
{
	v->txn = txn;
	v->done = done;
	v->arg = arg;
	if (!token || !token_valid(token)) {
		v->result = AUTH_INVALID;
		done(v, arg);
		return;
	}
	char tid[24], hash[65];
	snprintf(tid, sizeof(tid), "%lld", (long long)tenant_id);
	token_hash_hex(token, hash);
	const char *p[2] = {tid, hash};
	if (db_query(txn, stmt_verify, 2, p) != 0) {
		v->result = AUTH_DB;
		done(v, arg);
		return;
	}
	db_send(txn, verify_done, v);
}

/* ---------------------------------------------------------------- password reset and change */

enum { STEP_RESET = 1, STEP_CHANGE = 2, STEP_DELETE = 3, STEP_EMAIL = 4 };
#define VERIFIES(r) ((r)->step == STEP_CHANGE || (r)->step == STEP_DELETE || (r)->step == STEP_EMAIL)

static void reset_hash_work(void *arg);
static void reset_hash_done(void *arg);

static void reset_finish(struct auth_reset *r, enum auth_result res)
{
	r->result = res;
	memset(r->password, 0, sizeof(r->password));
	memset(r->current, 0, sizeof(r->current));
	memset(r->hash, 0, sizeof(r->hash));
	r->done(r, r->arg);
}

static void reset_init(struct auth_reset *r, struct db_txn *txn, struct event_base *base,
		       void (*done)(struct auth_reset *r, void *arg), void *arg)
{
	r->txn = txn;
	r->base = base;
	r->done = done;
	r->arg = arg;
	r->reason = NULL;
	r->message = NULL;
	r->retry_after = 0;
	r->verified = 0;
	r->hash[0] = '\0';
	r->stored[0] = '\0';
	r->key[0] = '\0';
}

/* Copies PASSWORD into R's new password; one too long for R is kept as ""
 * so that the policy refuses it. */
static void reset_take_password(struct auth_reset *r, const char *password, const char *lang)
{
	snprintf(r->lang, sizeof(r->lang), "%s", lang ? lang : "nl");
	size_t plen = password ? strlen(password) : 0;
	if (plen >= sizeof(r->password))
		plen = 0;
	memcpy(r->password, plen ? password : "", plen + 1);
}

static void forgot_written(struct db_txn *txn, enum db_status st, void *arg)
{
	struct auth_reset *r = arg;
	if (st != DB_OK) {
		memset(r->token, 0, sizeof(r->token));
		reset_finish(r, AUTH_DB);
		return;
	}
	const PGresult *res = db_result(txn, 0);
	if (PQntuples(res) == 0) {
		memset(r->token, 0, sizeof(r->token));
		reset_finish(r, AUTH_INVALID);
		return;
	}
	snprintf(r->name, sizeof(r->name), "%s", PQgetvalue(res, 0, 0));
	reset_finish(r, AUTH_OK);
}

void auth_forgot_start(struct auth_reset *r, const char *email, struct db_txn *txn,
		       void (*done)(struct auth_reset *r, void *arg), void *arg)
{
	reset_init(r, txn, NULL, done, arg);
	r->token[0] = '\0';
	r->name[0] = '\0';
	size_t elen = email ? strlen(email) : 0;
	if (elen == 0 || elen >= sizeof(r->email)) {
		reset_finish(r, AUTH_INVALID);
		return;
	}
	for (size_t i = 0; i <= elen; i++)
		r->email[i] = (char)((email[i] >= 'A' && email[i] <= 'Z') ? email[i] + 32 : email[i]);
	if (!auth_email_valid(r->email)) {
		reset_finish(r, AUTH_INVALID);
		return;
	}
	char tid[24], hours[8], hash[65];
	if (token_new(r->token) != 0) {
		r->token[0] = '\0';
		reset_finish(r, AUTH_BUSY);
		return;
	}
	snprintf(tid, sizeof(tid), "%lld", (long long)r->tenant_id);
	snprintf(hours, sizeof(hours), "%d", AUTH_RESET_HOURS);
	token_hash_hex(r->token, hash);
	const char *p[4] = {tid, r->email, hash, hours};
	if (db_query(txn, stmt_forgot, 4, p) != 0) {
		reset_finish(r, AUTH_DB);
		return;
	}
	db_send(txn, forgot_written, r);
}

static void check_done(struct db_txn *txn, enum db_status st, void *arg)
{
	struct auth_reset *r = arg;
	if (st != DB_OK) {
		reset_finish(r, AUTH_DB);
		return;
	}
	if (PQntuples(db_result(txn, 0)) == 0) {
		reset_finish(r, AUTH_INVALID);
		return;
	}
	if (r->step != STEP_RESET) {
		reset_finish(r, AUTH_OK);
		return;
	}
	/* A reset: the token is good; the new password must be too. */
	const char *why = password_policy(r->password, strlen(r->password), r->lang);
	if (why) {
		r->reason = "password";
		r->message = why;
		reset_finish(r, AUTH_REFUSED);
		return;
	}
	if (job_submit(hashq, r->base, reset_hash_work, reset_hash_done, r) != 0)
		reset_finish(r, AUTH_BUSY);
}

static int check_send(struct auth_reset *r, const char *token)
{
	if (!token || !token_valid(token)) {
		reset_finish(r, AUTH_INVALID);
		return -1;
	}
	snprintf(r->token, sizeof(r->token), "%s", token);
	char tid[24], hash[65];
	snprintf(tid, sizeof(tid), "%lld", (long long)r->tenant_id);
	token_hash_hex(r->token, hash);
	const char *p[2] = {tid, hash};
	if (db_query(r->txn, stmt_reset_check, 2, p) != 0) {
		reset_finish(r, AUTH_DB);
		return -1;
	}
	db_send(r->txn, check_done, r);
	return 0;
}

void auth_reset_check_start(struct auth_reset *r, const char *token, struct db_txn *txn,
			    void (*done)(struct auth_reset *r, void *arg), void *arg)
{
	reset_init(r, txn, NULL, done, arg);
	r->step = 0;
	check_send(r, token);
}

void auth_reset_start(struct auth_reset *r, const char *token, const char *password, const char *lang,
		      struct db_txn *txn, struct event_base *base, void (*done)(struct auth_reset *r, void *arg),
		      void *arg)
{
	reset_init(r, txn, base, done, arg);
	r->step = STEP_RESET;
	reset_take_password(r, password, lang);
	check_send(r, token);
}

/* On a hashing thread: only R's own fields. A change checks the current
 * password first (the dummy work when the account has no hash). */
static void reset_hash_work(void *arg)
{
	struct auth_reset *r = arg;
	pthread_mutex_lock(&params_lock);
	struct pw_params want = params;
	pthread_mutex_unlock(&params_lock);
	r->hash[0] = '\0';
	if (VERIFIES(r)) {
		size_t clen = strlen(r->current);
		if (!r->stored[0]) {
			password_dummy_verify(r->current, clen, &want);
			r->verified = 0;
		} else {
			r->verified = password_verify(r->current, clen, r->stored) == 1;
		}
		memset(r->current, 0, sizeof(r->current));
		if (!r->verified || r->step == STEP_DELETE || r->step == STEP_EMAIL) {
			memset(r->password, 0, sizeof(r->password));
			return;
		}
	}
	if (password_hash(r->password, strlen(r->password), &want, r->hash, sizeof(r->hash)) != 0)
		r->hash[0] = '\0';
	memset(r->password, 0, sizeof(r->password));
}

static void reset_written(struct db_txn *txn, enum db_status st, void *arg)
{
	struct auth_reset *r = arg;
	if (st != DB_OK) {
		reset_finish(r, AUTH_DB);
		return;
	}
	if (r->step == STEP_EMAIL) {
		/* No row: the address is taken, or 5 links are out; the
		 * caller answers alike. */
		if (PQntuples(db_result(txn, 0)) == 0)
			memset(r->token, 0, sizeof(r->token));
		reset_finish(r, AUTH_OK);
		return;
	}
	/* No row: the token was spent meanwhile, or the account deleted. */
	reset_finish(r, PQntuples(db_result(txn, 0)) > 0 ? AUTH_OK : AUTH_INVALID);
}

static void reset_hash_done(void *arg)
{
	struct auth_reset *r = arg;
	char tid[24], aid[24], thash[65];
	snprintf(tid, sizeof(tid), "%lld", (long long)r->tenant_id);
	snprintf(aid, sizeof(aid), "%lld", (long long)r->account_id);
	const char *pk[2] = {tid, r->key};
	int rc = 0;
	if (VERIFIES(r) && !r->verified) {
		/* The attempt was counted before the hashing: nothing to write. */
		memset(r->hash, 0, sizeof(r->hash));
		reset_finish(r, AUTH_INVALID);
		return;
	} else if (r->step == STEP_EMAIL) {
		if (token_new(r->token) != 0) {
			reset_finish(r, AUTH_BUSY);
			return;
		}
		token_hash_hex(r->token, thash);
		const char *pe[4] = {tid, aid, thash, r->email};
		rc = db_query(r->txn, stmt_email_token, 4, pe);
		rc |= db_query(r->txn, stmt_clear, 2, pk);
	} else if (r->step == STEP_DELETE) {
		const char *pd[2] = {tid, aid};
		rc = db_query(r->txn, stmt_delete_account, 2, pd);
	} else if (!r->hash[0]) {
		reset_finish(r, AUTH_BUSY);
		return;
	} else if (r->step == STEP_CHANGE) {
		const char *pc[4] = {tid, aid, r->hash, r->session_hash};
		rc = db_query(r->txn, stmt_change, 4, pc);
		rc |= db_query(r->txn, stmt_clear, 2, pk);
	} else {
		token_hash_hex(r->token, thash);
		const char *pr[3] = {tid, thash, r->hash};
		rc = db_query(r->txn, stmt_reset, 3, pr);
	}
	memset(r->hash, 0, sizeof(r->hash));
	if (rc != 0) {
		reset_finish(r, AUTH_DB);
		return;
	}
	db_send(r->txn, reset_written, r);
}

static void change_looked_up(struct db_txn *txn, enum db_status st, void *arg)
{
	struct auth_reset *r = arg;
	if (st != DB_OK) {
		reset_finish(r, AUTH_DB);
		return;
	}
	const PGresult *res = db_result(txn, 0);
	if (PQntuples(res) == 0) {
		/* The account is gone: nothing to change. */
		reset_finish(r, AUTH_INVALID);
		return;
	}
	snprintf(r->stored, sizeof(r->stored), "%s", PQgetisnull(res, 0, 0) ? "" : PQgetvalue(res, 0, 0));
	snprintf(r->key, sizeof(r->key), "%s", PQgetvalue(res, 0, 1));
	if (limited(res, 2, &r->retry_after)) {
		reset_finish(r, AUTH_LIMITED);
		return;
	}
	if (job_submit(hashq, r->base, reset_hash_work, reset_hash_done, r) != 0)
		reset_finish(r, AUTH_BUSY);
}

/* The password look-up and check that a deletion and a change of address
 * share; STEP says what follows a correct password. */
static void start_verified(struct auth_reset *r, const char *current, int step)
{
	r->step = step;
	size_t clen = current ? strlen(current) : 0;
	if (clen >= sizeof(r->current))
		clen = 0;
	memcpy(r->current, clen ? current : "", clen + 1);
	char tid[24], aid[24], per_account[12];
	snprintf(tid, sizeof(tid), "%lld", (long long)r->tenant_id);
	snprintf(aid, sizeof(aid), "%lld", (long long)r->account_id);
	snprintf(per_account, sizeof(per_account), "%d", AUTH_FAILURES_PER_ACCOUNT);
	const char *p[3] = {tid, aid, per_account};
	if (db_query(r->txn, stmt_change_lookup, 3, p) != 0) {
		reset_finish(r, AUTH_DB);
		return;
	}
	db_send(r->txn, change_looked_up, r);
}

void auth_email_start(struct auth_reset *r, const char *current, const char *email, struct db_txn *txn,
		      struct event_base *base, void (*done)(struct auth_reset *r, void *arg), void *arg)
{
	reset_init(r, txn, base, done, arg);
	size_t elen = email ? strlen(email) : 0;
	if (elen == 0 || elen >= sizeof(r->email)) {
		r->reason = "email";
		reset_finish(r, AUTH_REFUSED);
		return;
	}
	for (size_t i = 0; i <= elen; i++)
		r->email[i] = (char)((email[i] >= 'A' && email[i] <= 'Z') ? email[i] + 32 : email[i]);
	if (!auth_email_valid(r->email)) {
		r->reason = "email";
		reset_finish(r, AUTH_REFUSED);
		return;
	}
	start_verified(r, current, STEP_EMAIL);
}

void auth_delete_start(struct auth_reset *r, const char *current, struct db_txn *txn, struct event_base *base,
		       void (*done)(struct auth_reset *r, void *arg), void *arg)
{
	reset_init(r, txn, base, done, arg);
	start_verified(r, current, STEP_DELETE);
}

void auth_change_start(struct auth_reset *r, const char *current, const char *password, const char *lang,
		       struct db_txn *txn, struct event_base *base, void (*done)(struct auth_reset *r, void *arg),
		       void *arg)
{
	reset_init(r, txn, base, done, arg);
	r->step = STEP_CHANGE;
	size_t clen = current ? strlen(current) : 0;
	if (clen >= sizeof(r->current))
		clen = 0;
	memcpy(r->current, clen ? current : "", clen + 1);
	reset_take_password(r, password, lang);
	const char *why = password_policy(r->password, strlen(r->password), r->lang);
	if (why) {
		r->reason = "password";
		r->message = why;
		reset_finish(r, AUTH_REFUSED);
		return;
	}
	char tid[24], aid[24], per_account[12];
	snprintf(tid, sizeof(tid), "%lld", (long long)r->tenant_id);
	snprintf(aid, sizeof(aid), "%lld", (long long)r->account_id);
	snprintf(per_account, sizeof(per_account), "%d", AUTH_FAILURES_PER_ACCOUNT);
	const char *p[3] = {tid, aid, per_account};
	if (db_query(txn, stmt_change_lookup, 3, p) != 0) {
		reset_finish(r, AUTH_DB);
		return;
	}
	db_send(txn, change_looked_up, r);
}
