/* The C steps around an API operation's SQL (apicall.h), one driver over
 * enum api_call_state:
 *
 *   NEW:       the arguments prepared (api_prepare); the passwords the
 *              route names taken out, each replaced by its length
 *              (_password_bytes, _current_bytes); a new one checked
 *              against the policy (_password_refused: why not); secrets
 *              drawn (_secret_hash, _session_hash, _new_csrf); the client's
 *              address (_client), per which attempts are counted.
 *   LOOKUP:    routes that check or hash a password first call their
 *              operation with _lookup: it counts the attempt under the
 *              limits and refuses (any answer but 100 is final) or answers
 *              100 with the stored hash (api.proceed, sql/code/api.sql).
 *   COUNTED:   the lookup's transaction commits (the attempt counted, the
 *              counters' locks given back) and the next one begins on the
 *              same connection;
 *   HASHING:   the job on the hashing queue: the password checked against
 *              the stored hash (the dummy work when there is none), the new
 *              one hashed (or a sign-in's, when the stored hash is weaker).
 *   OPERATION: in that next transaction, the operation with the verdict
 *              (_verified) and the hash (_password_hash): the answer, its
 *              events, its cookies.
 *
 * The SQL never sees a password, nor a secret that is mailed. */
#include "apicall.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "password.h"
#include "worker.h"

static void call_send(struct api_call *c, enum api_call_state next);
static void call_answered(struct db_txn *txn, enum db_status st, void *arg);
static void call_counted(struct db_txn *txn, enum db_status st, void *arg);
static void call_hashed(void *arg);
static void call_fail(struct api_call *c, int status, const char *why);
static void call_finish(struct api_call *c, int status, json_t *body, json_t *events);
static int take_password(struct api_call *c, const char *field, char *out, size_t outlen, const char **why);

bool api_call_needed(const struct api_route *route)
{
	return (route->flags & API_STEPS) != 0;
}

void api_call_clear(struct api_call *c)
{
	json_decref(c->args);
	json_decref(c->body);
	json_decref(c->events);
	c->args = c->body = c->events = NULL;
	OPENSSL_cleanse(c->secret, sizeof(c->secret));
	OPENSSL_cleanse(c->session, sizeof(c->session));
	OPENSSL_cleanse(c->csrf, sizeof(c->csrf));
	OPENSSL_cleanse(&c->job, sizeof(c->job));
}

void api_call_start(struct api_call *c)
{
	const struct api_route *r = c->route;
	unsigned f = r->flags;
	char scratch[API_SECRET_CHARS + 1] = "";
	c->state = CALL_NEW;
	c->status = 0;
	int rc = api_prepare(r, r->method, &c->who, c->args, scratch);
	OPENSSL_cleanse(scratch, sizeof(scratch));
	if (rc == 0 && (f & API_DEFS))
		rc = api_add_definitions(c->args, c->definitions);
	if (rc != 0) {
		call_fail(c, 503, "the arguments could not be prepared (out of memory)");
		return;
	}
	/* The passwords: out of the arguments before anything else sees
	 * them. A sign-in checks the one it is given, the other operations
	 * the account's current one. */
	const char *refused = NULL;
	if ((f & API_VERIFY) &&
	    take_password(c, (f & API_SIGNIN) ? "password" : "current", c->job.password, sizeof(c->job.password),
			  NULL) != 0) {
		call_fail(c, 503, "out of memory");
		return;
	}
	if ((f & API_HASH) &&
	    take_password(c, "password", c->job.new_password, sizeof(c->job.new_password), &refused) != 0) {
		call_fail(c, 503, "out of memory");
		return;
	}
	rc = refused ? json_object_set_new(c->args, "_password_refused", json_string(refused)) : 0;
	char hash[65];
	if (rc == 0 && (f & API_EVENT_SECRET)) {
		rc = token_new(c->secret);
		token_hash_hex(c->secret, hash);
		rc |= json_object_set_new(c->args, "_secret_hash", json_string(hash));
	}
	if (rc == 0 && (f & API_SIGNIN)) {
		rc = token_new(c->session) | token_new(c->csrf);
		token_hash_hex(c->session, hash);
		rc |= json_object_set_new(c->args, "_session_hash", json_string(hash));
		rc |= json_object_set_new(c->args, "_new_csrf", json_string(c->csrf));
	}
	if (rc == 0)
		rc = json_object_set_new(c->args, "_client", json_string(http_req_peer(c->req)));
	if (rc != 0) {
		call_fail(c, 503, "no memory or randomness for the call's secrets");
		return;
	}
	if (f & (API_HASH | API_VERIFY)) {
		if (json_object_set_new(c->args, "_lookup", json_true()) != 0) {
			call_fail(c, 503, "out of memory");
			return;
		}
		call_send(c, CALL_LOOKUP);
	} else {
		call_send(c, CALL_OPERATION);
	}
}

/* Moves FIELD's string out of the arguments into OUT (left "" when it is
 * not a string or too long for OUT), puts its length in bytes in its place
 * as _FIELD_bytes, and with WHY set checks it against the policy (NULL:
 * it may be used). -1 when out of memory. */
static int take_password(struct api_call *c, const char *field, char *out, size_t outlen, const char **why)
{
	json_t *v = json_object_get(c->args, field);
	size_t len = json_is_string(v) ? json_string_length(v) : 0;
	/* One with a NUL in it is no password: "" (which no policy takes). */
	const char *pw = json_is_string(v) && strlen(json_string_value(v)) == len ? json_string_value(v) : "";
	size_t plen = strlen(pw);
	out[0] = '\0';
	if (plen < outlen)
		memcpy(out, pw, plen + 1);
	if (why)
		*why = password_policy(pw, plen, http_req_lang(c->req));
	int rc = 0;
	if (json_is_string(v)) {
		char key[40];
		snprintf(key, sizeof(key), "_%s_bytes", field);
		OPENSSL_cleanse((char *)json_string_value(v), len);
		rc = json_object_set_new(c->args, key, json_integer((json_int_t)len));
	}
	json_object_del(c->args, field);
	return rc;
}

static void call_send(struct api_call *c, enum api_call_state next)
{
	c->state = next;
	int rc = api_query(*c->txnp, c->route, c->tenant_id, &c->who, c->args);
	if (rc == API_TOO_LARGE) {
		call_fail(c, 413, "the arguments are over 512 KiB as JSON");
		return;
	}
	if (rc != 0) {
		call_fail(c, 503, "the operation could not be sent");
		return;
	}
	db_send(*c->txnp, call_answered, c);
}

/* {status, body, events} of the operation's answer; -1 when it is not
 * one (a lookup may answer 100). */
static int read_answer(const PGresult *r, int *status, json_t **body, json_t **events)
{
	*body = *events = NULL;
	if (!r || PQntuples(r) != 1 || PQgetisnull(r, 0, 0))
		return -1;
	json_t *a = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
	json_t *s = json_object_get(a, "status");
	json_t *b = json_object_get(a, "body");
	json_t *e = json_object_get(a, "events");
	if (!json_is_integer(s) || !b || json_integer_value(s) < 100 || json_integer_value(s) > 599 ||
	    (e && !json_is_array(e))) {
		json_decref(a);
		return -1;
	}
	*status = (int)json_integer_value(s);
	*body = json_incref(b);
	*events = json_incref(e);
	json_decref(a);
	return 0;
}

static void call_answered(struct db_txn *txn, enum db_status st, void *arg)
{
	struct api_call *c = arg;
	if (st != DB_OK) {
		call_fail(c, st == DB_UNAVAILABLE ? 503 : 500, st == DB_UNAVAILABLE ? "database unavailable" : db_error(txn));
		return;
	}
	int status;
	json_t *body, *events;
	if (read_answer(db_result(txn, 0), &status, &body, &events) != 0) {
		call_fail(c, 500, "the operation gave no answer");
		return;
	}
	if (status == 100 && c->state != CALL_LOOKUP) {
		json_decref(body);
		json_decref(events);
		call_fail(c, 500, "the operation answered as a lookup");
		return;
	}
	if (c->state != CALL_LOOKUP || status != 100) {
		call_finish(c, status, body, events);
		return;
	}
	/* The lookup let it go on: the work on the hashing queue. */
	json_decref(events);
	unsigned f = c->route->flags;
	if ((f & API_HASH) && json_object_get(c->args, "_password_refused")) {
		json_decref(body);
		call_fail(c, 500, "the lookup let a refused password through");
		return;
	}
	json_t *stored = json_object_get(body, "password_hash");
	snprintf(c->job.stored, sizeof(c->job.stored), "%s", json_is_string(stored) ? json_string_value(stored) : "");
	json_decref(body);
	json_object_del(c->args, "_lookup");
	c->job.check = (f & API_VERIFY) != 0;
	c->job.hash = (f & API_HASH) != 0;
	c->job.rehash = (f & API_SIGNIN) != 0;
	c->state = CALL_COUNTED;
	db_commit_again(*c->txnp, call_counted, c);
}

static void call_counted(struct db_txn *txn, enum db_status st, void *arg)
{
	struct api_call *c = arg;
	if (st != DB_OK) {
		*c->txnp = NULL;        /* over, its connection given back */
		call_fail(c, st == DB_UNAVAILABLE ? 503 : 500, st == DB_UNAVAILABLE ? "database unavailable" : db_error(txn));
		return;
	}
	c->state = CALL_HASHING;
	/* A password is checked for a person's request, never for the
	 * daemon's own (a job's events have no request). */
	if (!c->req) {
		call_fail(c, 403, "no password is checked outside a request");
		return;
	}
	if (auth_submit(&c->job, http_req_worker(c->req)->base, call_hashed, c) != 0)
		call_fail(c, 503, "the hashing queue is full");
}

static void call_hashed(void *arg)
{
	struct api_call *c = arg;
	unsigned f = c->route->flags;
	OPENSSL_cleanse(c->job.stored, sizeof(c->job.stored));
	if (c->job.dummy && (f & API_SIGNIN))
		log_info("request=%s tenant=%s: sign-in for an unknown address (dummy hash)", http_req_id(c->req),
			 http_req_tenant(c->req));
	int rc = 0;
	if (f & API_VERIFY)
		rc = json_object_set_new(c->args, "_verified", json_boolean(c->job.verified));
	if ((f & API_HASH) && (!(f & API_VERIFY) || c->job.verified) && !c->job.result[0]) {
		call_fail(c, 503, "the new password could not be hashed");
		return;
	}
	if (c->job.result[0])
		rc |= json_object_set_new(c->args, "_password_hash", json_string(c->job.result));
	OPENSSL_cleanse(c->job.result, sizeof(c->job.result));
	if (rc != 0) {
		call_fail(c, 503, "out of memory");
		return;
	}
	call_send(c, CALL_OPERATION);
}

/* The answer: events get the secret drawn for them and the caller's
 * language; a sign-in's tokens stay only when it succeeded. */
static void call_finish(struct api_call *c, int status, json_t *body, json_t *events)
{
	unsigned f = c->route->flags;
	bool ok = status < 300;
	c->status = status;
	c->body = body;
	if (ok && (f & API_EVENTS) && events) {
		size_t i;
		json_t *e;
		json_array_foreach(events, i, e) {
			json_t *data = json_object_get(e, "data");
			if (!json_is_object(data))
				continue;
			if (f & API_EVENT_SECRET)
				json_object_set_new(data, "token", json_string(c->secret));
			json_object_set_new(data, "lang", json_string(http_req_lang(c->req)));
		}
		c->events = events;
	} else {
		json_decref(events);
	}
	if (!ok || !(f & API_SIGNIN)) {
		OPENSSL_cleanse(c->session, sizeof(c->session));
		OPENSSL_cleanse(c->csrf, sizeof(c->csrf));
	}
	c->signed_out = ok && (f & API_SIGNOUT);
	OPENSSL_cleanse(c->secret, sizeof(c->secret));
	c->state = CALL_DONE;
	c->done(c);
}

static void call_fail(struct api_call *c, int status, const char *why)
{
	c->status = 0;
	c->fail_status = status;
	snprintf(c->why, sizeof(c->why), "%s %s: %s", c->route->method, c->route->pattern, why);
	OPENSSL_cleanse(c->session, sizeof(c->session));
	OPENSSL_cleanse(c->csrf, sizeof(c->csrf));
	OPENSSL_cleanse(c->secret, sizeof(c->secret));
	OPENSSL_cleanse(&c->job, sizeof(c->job));
	c->state = CALL_DONE;
	c->done(c);
}
