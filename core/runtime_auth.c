/* The account operations of the runtime: core.auth's calls (sign-in,
 * sign-up, verification, password reset and change, e-mail change,
 * account deletion and export, members and roles, mail) once the request's
 * transaction is open, and their results as Lua values. The request's
 * lifecycle, the store and the answer stay in runtime.c. */
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "cookie.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "mail.h"
#include "runtime_internal.h"

static int stmt_email_confirm, stmt_members, stmt_grant, stmt_revoke, stmt_export, stmt_signout, stmt_resend;

void runtime_auth_register_statements(void)
{
	/* Single use: the token is spent by the statement that moves the
	 * address, unless another account took the address meanwhile. */
	stmt_email_confirm = db_stmt(
		"WITH t AS (UPDATE account_tokens SET used_at = now()"
		"   WHERE tenant_id = $1 AND token_hash = decode($2, 'hex') AND purpose = 'email'"
		"   AND used_at IS NULL AND expires_at > now() RETURNING account_id, new_email)"
		" UPDATE accounts a SET email = t.new_email, email_verified_at = now() FROM t"
		" WHERE a.tenant_id = $1 AND a.id = t.account_id AND a.deleted_at IS NULL"
		" AND NOT EXISTS (SELECT 1 FROM accounts b WHERE b.tenant_id = $1 AND b.email = t.new_email)"
		" RETURNING a.id");
	stmt_members = db_stmt("SELECT a.id, a.display_name, a.email, a.email_verified_at IS NOT NULL,"
			       " coalesce((SELECT string_agg(r.role, ' ' ORDER BY r.role) FROM account_roles r"
			       "   WHERE r.tenant_id = a.tenant_id AND r.account_id = a.id), '')"
			       " FROM accounts a WHERE a.tenant_id = $1 AND a.deleted_at IS NULL"
			       " ORDER BY lower(a.display_name), a.id LIMIT 1000");
	stmt_grant = db_stmt("INSERT INTO account_roles (tenant_id, account_id, role)"
			     " SELECT $1, id, $3 FROM accounts WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
			     " ON CONFLICT DO NOTHING");
	stmt_revoke = db_stmt("DELETE FROM account_roles WHERE tenant_id = $1 AND account_id = $2 AND role = $3");
	/* Everything the platform keeps about the signed-in person, as JSON. */
	/* Everything kept about the person: the API's export (SQL), so the
	 * download and GET /api/v1/me/export cannot differ. */
	stmt_export = db_stmt("SELECT (e -> 'body')::text FROM (SELECT api.account_export($1, $2, NULL, '{}') AS e) x"
			      " WHERE e ->> 'status' = '200'");
	stmt_signout = db_stmt("DELETE FROM sessions WHERE tenant_id = $1 AND token_hash = decode($2, 'hex')");
	/* A new verification link for an account that has not confirmed its
	 * address: at most five valid ones at a time (sql/017), so that the
	 * page cannot be used to flood someone's mailbox. No row for any
	 * other address. */
	stmt_resend = db_stmt("SELECT display_name FROM platform.verify_link($1, $2, $3)");
}

/* A call that hashed a password ended: a full hashing queue or a failed
 * database fails the request with 503 (WHAT names the call in the log).
 * Returns true when it did; every other result is the plugin's to read. */
static bool rq_hash_failed(struct rt_req *rq, enum auth_result result, const char *what)
{
	char why[80];
	if (result != AUTH_BUSY && result != AUTH_DB)
		return false;
	snprintf(why, sizeof(why), "%s: %s", what,
		 result == AUTH_BUSY ? "the hashing queue is full" : "the database failed");
	rq_fail(rq, 503, why);
	return true;
}

static void rq_signed_in(struct auth_signin *s, void *arg);

static void rq_signin(struct rt_req *rq)
{
	struct auth_signin *s = calloc(1, sizeof(*s));
	if (!s) {
		rq_fail(rq, 503, "out of memory");
		return;
	}
	free(rq->signin);    /* a second sign-in in one request: the first is done */
	rq->signin = s;
	s->tenant_id = rq->tenant_id;
	/* params: tenant, plugin (NULL), email, password */
	const char *email = rq_param_or(rq, 2, "");
	size_t i = 0;
	for (; email[i] && i < sizeof(s->email) - 1; i++)
		s->email[i] = (char)((email[i] >= 'A' && email[i] <= 'Z') ? email[i] + 32 : email[i]);
	s->email[i] = '\0';
	snprintf(s->password, sizeof(s->password), "%s", rq_param_or(rq, 3, ""));
	if (rq_param(rq, 3))
		memset(rq->params[3], 0, strlen(rq->params[3]));
	rq_clear_params(rq);
	snprintf(s->address, sizeof(s->address), "%s", http_req_peer(rq->req));
	auth_signin_start(s, rq->txn, rq_event_base(rq), rq_signed_in, rq);
}

static void rq_signed_in(struct auth_signin *s, void *arg)
{
	struct rt_req *rq = arg;
	if (rq_hash_failed(rq, s->result, "sign-in"))
		return;
	if (s->result == AUTH_OK) {
		/* A new session, and a new CSRF token with it. */
		snprintf(rq->set_session, sizeof(rq->set_session), "%s", s->token);
		snprintf(rq->csrf, sizeof(rq->csrf), "%s", s->csrf);
		rq->new_csrf = true;
		rq->clear_session = false;
	} else if (s->result == AUTH_INVALID && !s->stored[0]) {
		log_info("request=%s tenant=%s: sign-in for an unknown address (dummy hash)", http_req_id(rq->req),
			 rq->slug);
	}
	rq_answer_soon(rq);
}

/* The request's state for one kind of account call: allocated by the
 * first call, zeroed for a second one in the same request (the first is
 * done). NULL, with the request failed, when memory is out. */
static void *rq_call_state(struct rt_req *rq, void *state, size_t size)
{
	if (!state)
		state = calloc(1, size);
	if (!state) {
		rq_fail(rq, 503, "out of memory");
		return NULL;
	}
	memset(state, 0, size);
	return state;
}

static void rq_signed_up(struct auth_signup *s, void *arg);
static void rq_verified(struct auth_verify *v, void *arg);

/* params: tenant, plugin (NULL), email, name, password, lang */
static void rq_signup(struct rt_req *rq)
{
	struct auth_signup *s = rq_call_state(rq, rq->signup, sizeof(*s));
	if (!s)
		return;
	rq->signup = s;
	s->tenant_id = rq->tenant_id;
	snprintf(s->address, sizeof(s->address), "%s", http_req_peer(rq->req));
	const char *lang = rq_param_or(rq, 5, http_req_lang(rq->req));
	auth_signup_start(s, rq_param(rq, 2), rq_param(rq, 3), rq_param(rq, 4), lang, rq->txn, rq_event_base(rq),
			  rq_signed_up, rq);
}

static void rq_signed_up(struct auth_signup *s, void *arg)
{
	struct rt_req *rq = arg;
	if (rq_param(rq, 4))
		memset(rq->params[4], 0, strlen(rq->params[4]));
	if (rq_hash_failed(rq, s->result, "sign-up"))
		return;
	rq_answer_soon(rq);
}

/* params: tenant, plugin (NULL), token */
static void rq_verify(struct rt_req *rq)
{
	struct auth_verify *v = rq->verify ? rq->verify : calloc(1, sizeof(*v));
	if (!v) {
		rq_fail(rq, 503, "out of memory");
		return;
	}
	rq->verify = v;
	auth_verify_start(v, rq->tenant_id, rq_param(rq, 2), rq->txn, rq_verified, rq);
}

static void rq_verified(struct auth_verify *v, void *arg)
{
	struct rt_req *rq = arg;
	if (v->result == AUTH_DB) {
		rq_fail(rq, 503, "verification: the database failed");
		return;
	}
	rq_answer_soon(rq);
}

static void rq_reset_done(struct auth_reset *r, void *arg);

static bool is_admin(const struct rt_req *rq)
{
	char roles[sizeof(rq->user_roles) + 2];
	snprintf(roles, sizeof(roles), " %s ", rq->user_roles);
	return rq->has_user && strstr(roles, " admin ") != NULL;
}

/* The tenant's members and their roles, and granting or revoking one:
 * for admins only (the core checks, not the plugin); an admin cannot
 * take the admin role from themselves. params: tenant, plugin (NULL),
 * account id, role. */
static void rq_roles(struct rt_req *rq)
{
	char tid[24], uid[24];
	snprintf(tid, sizeof(tid), "%lld", (long long)rq->tenant_id);
	snprintf(uid, sizeof(uid), "%lld", (long long)rq->user_id);
	rq->roles_ok = false;
	if (!is_admin(rq)) {
		rq_clear_params(rq);
		rq_answer_soon(rq);
		return;
	}
	rq->roles_ok = true;
	int rc;
	if (rq->op == OP_MEMBERS) {
		const char *p[1] = {tid};
		rc = db_query(rq->txn, stmt_members, 1, p);
	} else {
		const char *aid = rq_param_or(rq, 2, "0");
		const char *role = rq_param_or(rq, 3, "");
		if (rq->op == OP_REVOKE && strcmp(aid, uid) == 0 && strcmp(role, "admin") == 0) {
			rq->roles_ok = false;
			rq_clear_params(rq);
			rq_answer_soon(rq);
			return;
		}
		const char *p[3] = {tid, aid, role};
		rc = db_query(rq->txn, rq->op == OP_GRANT ? stmt_grant : stmt_revoke, 3, p);
	}
	rq_clear_params(rq);
	if (rc != 0) {
		rq_fail(rq, 500, "roles: refused by the pool");
		return;
	}
	db_send(rq->txn, rq_answered, rq);
}

/* The account is gone: so is this request's session cookie. */
static void rq_delete_done(struct auth_reset *r, void *arg)
{
	struct rt_req *rq = arg;
	if (rq_param(rq, 2))
		memset(rq->params[2], 0, strlen(rq->params[2]));
	if (r->result == AUTH_OK) {
		rq->clear_session = true;
		rq->changed = true;     /* the author's name: "voormalig deelnemer" */
	}
	rq_reset_done(r, arg);
}

/* forgot: params tenant, plugin (NULL), email; rcheck: ..., token;
 * reset: ..., token, password, lang; passwd: ..., current, password, lang
 * (the signed-in account's, keeping this request's session). */
static void rq_reset(struct rt_req *rq)
{
	struct auth_reset *r = rq_call_state(rq, rq->reset, sizeof(*r));
	if (!r)
		return;
	rq->reset = r;
	r->tenant_id = rq->tenant_id;
	const char *a = rq_param(rq, 2);
	const char *b = rq_param(rq, 3);
	const char *lang = rq_param_or(rq, 4, http_req_lang(rq->req));
	struct event_base *base = rq_event_base(rq);
	if (rq->op == OP_FORGOT) {
		auth_forgot_start(r, a, rq->txn, rq_reset_done, rq);
	} else if (rq->op == OP_RCHECK) {
		auth_reset_check_start(r, a, rq->txn, rq_reset_done, rq);
	} else if (rq->op == OP_RESET) {
		auth_reset_start(r, a, b, lang, rq->txn, base, rq_reset_done, rq);
	} else if (!rq->has_user) {
		/* Nobody signed in: no password to change, no account to delete. */
		r->result = AUTH_REFUSED;
		r->reason = "signin";
		rq_reset_done(r, rq);
	} else {
		r->account_id = rq->user_id;
		snprintf(r->session_hash, sizeof(r->session_hash), "%s", rq->session_hash);
		if (rq->op == OP_DELACCT)
			auth_delete_start(r, a, rq->txn, base, rq_delete_done, rq);
		else if (rq->op == OP_EMAIL)
			auth_email_start(r, a, b, rq->txn, base, rq_reset_done, rq);
		else
			auth_change_start(r, a, b, lang, rq->txn, base, rq_reset_done, rq);
	}
}

static void rq_reset_done(struct auth_reset *r, void *arg)
{
	struct rt_req *rq = arg;
	/* The passwords (reset: the new one; passwd: both) leave memory. */
	bool passwd = rq->op == OP_PASSWD;
	if ((passwd || rq->op == OP_RESET) && rq_param(rq, 3))
		memset(rq->params[3], 0, strlen(rq->params[3]));
	if (passwd && rq_param(rq, 2))
		memset(rq->params[2], 0, strlen(rq->params[2]));
	if (rq_hash_failed(rq, r->result, "password"))
		return;
	rq_answer_soon(rq);
}

/* params: tenant, plugin (NULL), to, subject, text, html; the tenant's
 * name is the sender's. */
static void rq_mail(struct rt_req *rq)
{
	const char *from = mail_header_text_valid(rq->name, MAIL_NAME_MAX) ? rq->name : NULL;
	rq->mail_ok = rq->nparams > 4 &&
		      mail_enqueue(rq->txn, rq->tenant_id, rq->params[2], from, rq->params[3], rq->params[4],
				   rq_param(rq, 5)) == 0;
	if (!rq->mail_ok) {
		rq_answer_soon(rq);
		return;
	}
	db_send(rq->txn, rq_answered, rq);
}

/* Sends STMT with the tenant and ARG as its parameters, to be answered
 * by rq_answered; WHAT names the call if the pool refuses it. */
static void rq_send_with_tenant(struct rt_req *rq, int stmt, const char *arg, const char *what)
{
	char tid[24], why[80];
	snprintf(tid, sizeof(tid), "%lld", (long long)rq->tenant_id);
	const char *p[2] = {tid, arg};
	if (db_query(rq->txn, stmt, 2, p) != 0) {
		snprintf(why, sizeof(why), "%s refused by the pool", what);
		rq_fail(rq, 500, why);
		return;
	}
	db_send(rq->txn, rq_answered, rq);
}

/* params: tenant, plugin (NULL), token. roles_ok says whether the
 * statement was sent: a malformed token is answered without one. */
static void rq_email_confirm(struct rt_req *rq)
{
	char hash[65];
	const char *token = rq_param_or(rq, 2, "");
	if (!token_valid(token)) {
		rq_clear_params(rq);
		rq->roles_ok = false;
		rq_answer_soon(rq);
		return;
	}
	token_hash_hex(token, hash);
	rq_clear_params(rq);
	rq->roles_ok = true;
	rq_send_with_tenant(rq, stmt_email_confirm, hash, "e-mail confirmation");
}

/* Everything kept about the signed-in person; nobody signed in, nothing. */
static void rq_export(struct rt_req *rq)
{
	rq_clear_params(rq);
	if (!rq->has_user) {
		rq_answer_soon(rq);
		return;
	}
	char aid[24];
	snprintf(aid, sizeof(aid), "%lld", (long long)rq->user_id);
	rq_send_with_tenant(rq, stmt_export, aid, "export");
}

/* Ends this request's session: the row and the cookie. */
static void rq_signout(struct rt_req *rq)
{
	rq_clear_params(rq);
	rq->clear_session = true;
	if (!rq->session_hash[0]) {
		/* Nobody signed in: nothing to end but the cookie. */
		rq_answer_soon(rq);
		return;
	}
	rq_send_with_tenant(rq, stmt_signout, rq->session_hash, "sign-out");
}

/* params: tenant, plugin (NULL), email (lower case). */
static void rq_resend(struct rt_req *rq)
{
	char tid[24], hash[65];
	const char *email = rq_param_or(rq, 2, "");
	if (token_new(rq->token) != 0) {
		rq_fail(rq, 503, "no randomness for a verification token");
		return;
	}
	token_hash_hex(rq->token, hash);
	snprintf(tid, sizeof(tid), "%lld", (long long)rq->tenant_id);
	const char *p[3] = {tid, email, hash};
	if (db_query(rq->txn, stmt_resend, 3, p) != 0) {
		rq_fail(rq, 500, "resend refused by the pool");
		return;
	}
	db_send(rq->txn, rq_answered, rq);
}

void rq_auth_send(struct rt_req *rq)
{
	switch (rq->op) {
	case OP_SIGNIN:
		rq_signin(rq);
		break;
	case OP_SIGNOUT:
		rq_signout(rq);
		break;
	case OP_SIGNUP:
		rq_signup(rq);
		break;
	case OP_VERIFY:
		rq_verify(rq);
		break;
	case OP_MAIL:
		rq_mail(rq);
		break;
	case OP_FORGOT:
	case OP_RCHECK:
	case OP_RESET:
	case OP_PASSWD:
	case OP_DELACCT:
	case OP_EMAIL:
		rq_reset(rq);
		break;
	case OP_EMAILOK:
		rq_email_confirm(rq);
		break;
	case OP_EXPORT:
		rq_export(rq);
		break;
	case OP_RESEND:
		rq_resend(rq);
		break;
	case OP_MEMBERS:
	case OP_GRANT:
	case OP_REVOKE:
		rq_roles(rq);
		break;
	default:
		rq_fail(rq, 500, "core call with an unknown operation");
		break;
	}
}

/* (nil, "limited", seconds) for a rate-limited attempt, shared by the
 * calls that count failures. */
static int push_limited(lua_State *L, int retry_after)
{
	lua_pushliteral(L, "limited");
	lua_pushinteger(L, retry_after);
	return 3;
}

/* true, token: a new account; true, nil, "exists": the address was
 * taken (the plugin answers both alike); nil, reason, message. */
static int push_signup_answer(lua_State *L, const struct auth_signup *s)
{
	if (s->result == AUTH_OK) {
		lua_pushboolean(L, 1);
		if (s->existed) {
			lua_pushnil(L);
			lua_pushliteral(L, "exists");
			return 3;
		}
		lua_pushstring(L, s->token);
		return 2;
	}
	lua_pushnil(L);
	if (s->result == AUTH_LIMITED)
		return push_limited(L, s->retry_after);
	lua_pushstring(L, s->reason ? s->reason : "invalid");
	if (s->message)
		lua_pushstring(L, s->message);
	else
		lua_pushnil(L);
	return 3;
}

static int push_signin_answer(lua_State *L, const struct auth_signin *s)
{
	if (s->result == AUTH_OK) {
		/* true, and the new session's CSRF token (the API answers it). */
		lua_pushboolean(L, 1);
		lua_pushstring(L, s->csrf);
		return 2;
	}
	lua_pushnil(L);
	if (s->result == AUTH_LIMITED)
		return push_limited(L, s->retry_after);
	lua_pushliteral(L, "invalid");
	return 2;
}

/* members: a list of {id, name, email, verified, roles = {role = true}};
 * grant and revoke: whether a row changed. */
static int push_roles_answer(lua_State *L, struct rt_req *rq)
{
	if (!rq->roles_ok) {
		lua_pushnil(L);
		lua_pushstring(L, is_admin(rq) ? "self" : "forbidden");
		return 2;
	}
	const PGresult *res = db_result(rq->txn, 0);
	if (rq->op != OP_MEMBERS) {
		lua_pushboolean(L, strcmp(PQcmdTuples((PGresult *)res), "1") == 0);
		return 1;
	}
	int rows = PQntuples(res);
	lua_createtable(L, rows, 0);
	for (int i = 0; i < rows; i++) {
		lua_createtable(L, 0, 5);
		lua_pushinteger(L, db_int(res, i, 0));
		lua_setfield(L, -2, "id");
		lua_pushstring(L, PQgetvalue(res, i, 1));
		lua_setfield(L, -2, "name");
		lua_pushstring(L, PQgetvalue(res, i, 2));
		lua_setfield(L, -2, "email");
		lua_pushboolean(L, PQgetvalue(res, i, 3)[0] == 't');
		lua_setfield(L, -2, "verified");
		lua_createtable(L, 0, 3);
		char roles[64];
		snprintf(roles, sizeof(roles), "%s", PQgetvalue(res, i, 4));
		for (char *save = NULL, *r = strtok_r(roles, " ", &save); r; r = strtok_r(NULL, " ", &save)) {
			lua_pushboolean(L, 1);
			lua_setfield(L, -2, r);
		}
		lua_setfield(L, -2, "roles");
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* forgot, rcheck, reset, passwd, delacct and email. */
static int push_reset_answer(lua_State *L, enum core_op op, const struct auth_reset *r)
{
	if (r->result == AUTH_OK && op == OP_EMAIL) {
		lua_pushboolean(L, 1);
		if (!r->token[0]) {
			lua_pushnil(L);
			lua_pushliteral(L, "exists");
			return 3;
		}
		lua_pushstring(L, r->token);
		return 2;
	}
	if (r->result == AUTH_OK) {
		if (op == OP_FORGOT) {
			lua_pushstring(L, r->token);
			lua_pushstring(L, r->name);
			return 2;
		}
		lua_pushboolean(L, 1);
		return 1;
	}
	lua_pushnil(L);
	if (r->result == AUTH_LIMITED)
		return push_limited(L, r->retry_after);
	if (r->result == AUTH_REFUSED) {
		lua_pushstring(L, r->reason ? r->reason : "invalid");
		if (r->message)
			lua_pushstring(L, r->message);
		else
			lua_pushnil(L);
		return 3;
	}
	/* passwd, delacct, email: the current password was wrong. */
	if (op == OP_PASSWD || op == OP_DELACCT || op == OP_EMAIL)
		lua_pushliteral(L, "current");
	else
		lua_pushstring(L, op == OP_FORGOT ? "unknown" : "invalid");
	return 2;
}

/* true when OK, else nil, "invalid": verify, emailok and mail tell no
 * more than that. */
static int push_ok_or_invalid(lua_State *L, bool ok)
{
	if (ok) {
		lua_pushboolean(L, 1);
		return 1;
	}
	lua_pushnil(L);
	lua_pushliteral(L, "invalid");
	return 2;
}

int push_auth_answer(lua_State *L, struct rt_req *rq)
{
	const PGresult *res;

	switch (rq->op) {
	case OP_SIGNIN:
		return push_signin_answer(L, rq->signin);
	case OP_SIGNOUT:
		lua_pushboolean(L, 1);
		return 1;
	case OP_SIGNUP:
		return push_signup_answer(L, rq->signup);
	case OP_VERIFY:
		return push_ok_or_invalid(L, rq->verify->result == AUTH_OK);
	case OP_MAIL:
		return push_ok_or_invalid(L, rq->mail_ok);
	case OP_FORGOT:
	case OP_RCHECK:
	case OP_RESET:
	case OP_PASSWD:
	case OP_DELACCT:
	case OP_EMAIL:
		return push_reset_answer(L, rq->op, rq->reset);
	case OP_EMAILOK:
		res = rq->roles_ok ? db_result(rq->txn, 0) : NULL;
		return push_ok_or_invalid(L, res && PQntuples(res) > 0);
	case OP_EXPORT:
		res = rq->has_user ? db_result(rq->txn, 0) : NULL;
		if (!res || PQntuples(res) != 1) {
			lua_pushnil(L);
			lua_pushliteral(L, "signin");
			return 2;
		}
		lua_pushstring(L, PQgetvalue(res, 0, 0));
		return 1;
	case OP_MEMBERS:
	case OP_GRANT:
	case OP_REVOKE:
		return push_roles_answer(L, rq);
	case OP_RESEND:
		/* token, name; or nil, "unknown" (answer alike!) */
		res = db_result(rq->txn, 0);
		if (!res || PQntuples(res) != 1) {
			lua_pushnil(L);
			lua_pushliteral(L, "unknown");
			return 2;
		}
		lua_pushstring(L, rq->token);
		lua_pushstring(L, PQgetvalue(res, 0, 0));
		return 2;
	default:
		return 0;
	}
}

/* The account calls' state, with the tokens wiped. */
void rq_auth_free(struct rt_req *rq)
{
	memset(rq->token, 0, sizeof(rq->token));
	free(rq->signin);
	if (rq->signup)
		memset(rq->signup->token, 0, sizeof(rq->signup->token));
	free(rq->signup);
	free(rq->verify);
	if (rq->reset)
		memset(rq->reset->token, 0, sizeof(rq->reset->token));
	free(rq->reset);
}
