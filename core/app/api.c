/* The operations of the JSON API: the route table (one SQL function in
 * the api schema per operation), matching a path, the arguments as one
 * JSON object, the query and its answer. The HTTP side under /api/v1 is
 * api_http.c's; the pages reach the same operations through plugin.api
 * (runtime_api.c). */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "bundle_archive.h"
#include "runtime.h"
#include "cookie.h"
#include "markdown.h"

extern const char openapi_json[];
extern const unsigned long openapi_json_len;

static const struct api_route routes[] = {
	{"GET", "/me", "me", 0, NULL, NULL},
	{"GET", "/tokens", "tokens_list", API_PLATFORM | API_SESSION, NULL, NULL},
	{"POST", "/tokens", "token_create", API_WRITE | API_PRIVATE | API_SECRET | API_PLATFORM | API_SESSION, NULL, NULL},
	{"DELETE", "/tokens/{id}", "token_revoke", API_WRITE | API_PRIVATE | API_PLATFORM, NULL, NULL},
	{"GET", "/members", "members_list", API_PLATFORM, NULL, NULL},
	{"PUT", "/members/{id}/roles/{role}", "member_role", API_WRITE | API_PRIVATE | API_PLATFORM, NULL, NULL},
	{"DELETE", "/members/{id}/roles/{role}", "member_role", API_WRITE | API_PRIVATE | API_PLATFORM, NULL, NULL},
	{"POST", "/session", "session_create",
	 API_WRITE | API_PRIVATE | API_ATTEMPTS | API_PLATFORM | API_VERIFY | API_SIGNIN, NULL, NULL},
	{"DELETE", "/session", "session_delete", API_WRITE | API_PRIVATE | API_PLATFORM | API_SIGNOUT, NULL, NULL},
	{"POST", "/accounts", "account_create",
	 API_WRITE | API_PRIVATE | API_ATTEMPTS | API_PLATFORM | API_HASH | API_EVENTS | API_EVENT_SECRET, NULL, NULL},
	{"POST", "/accounts/verify", "account_verify", API_WRITE | API_PRIVATE | API_PLATFORM, NULL, NULL},
	{"POST", "/accounts/verify/resend", "account_resend",
	 API_WRITE | API_PRIVATE | API_PLATFORM | API_EVENTS | API_EVENT_SECRET, NULL, NULL},
	{"POST", "/password/forgot", "password_forgot",
	 API_WRITE | API_PRIVATE | API_PLATFORM | API_EVENTS | API_EVENT_SECRET, NULL, NULL},
	{"GET", "/password/reset", "password_reset_check", API_PLATFORM, NULL, NULL},
	{"POST", "/password/reset", "password_reset", API_WRITE | API_PRIVATE | API_PLATFORM | API_HASH, NULL, NULL},
	{"PUT", "/me/password", "password_change",
	 API_WRITE | API_PRIVATE | API_ATTEMPTS | API_PLATFORM | API_VERIFY | API_HASH, NULL, NULL},
	{"POST", "/me/email", "email_change",
	 API_WRITE | API_PRIVATE | API_ATTEMPTS | API_PLATFORM | API_VERIFY | API_EVENTS | API_EVENT_SECRET, NULL, NULL},
	{"POST", "/me/email/confirm", "email_confirm", API_WRITE | API_PRIVATE | API_PLATFORM, NULL, NULL},
	{"GET", "/me/export", "account_export", API_PLATFORM, NULL, NULL},
	{"DELETE", "/me", "account_delete", API_WRITE | API_ATTEMPTS | API_PLATFORM | API_VERIFY | API_SIGNOUT, NULL, NULL},
	{"GET", "/tables", "tables_list", 0, NULL, NULL},
	{"POST", "/tables", "table_create", API_WRITE | API_MARKDOWN | API_EVENTS | API_DEFS, NULL, "table.created"},
	{"GET", "/tables/{id}", "table_get", 0, NULL, NULL},
	{"PATCH", "/tables/{id}", "table_update", API_WRITE | API_MARKDOWN, NULL, "table.updated"},
	{"POST", "/tables/{id}/visit", "table_visit", API_WRITE | API_PRIVATE, NULL, NULL},
	{"POST", "/tables/{id}/join", "table_join", API_WRITE, NULL, "member.joined"},
	{"POST", "/tables/{id}/leave", "table_leave", API_WRITE, NULL, NULL},
	{"GET", "/tables/{id}/people", "table_people", 0, NULL, NULL},
	{"PUT", "/tables/{id}/people/{account_id}", "table_person", API_WRITE, NULL, NULL},
	{"DELETE", "/tables/{id}/people/{account_id}", "table_person", API_WRITE, NULL, NULL},
	{"GET", "/tables/{id}/invitations", "invitations_list", 0, NULL, NULL},
	{"POST", "/tables/{id}/invitations", "invitation_create", API_WRITE | API_SECRET, NULL, "invitation.created"},
	{"DELETE", "/tables/{id}/invitations/{invitation_id}", "invitation_revoke", API_WRITE, NULL, NULL},
	{"POST", "/invitations/accept", "invitation_accept", API_WRITE, NULL, "member.joined"},
	{"GET", "/tables/{id}/groups", "groups_list", 0, NULL, NULL},
	{"POST", "/tables/{id}/groups", "group_create", API_WRITE, NULL, NULL},
	{"GET", "/groups/{id}", "group_get", 0, NULL, NULL},
	{"PATCH", "/groups/{id}", "group_update", API_WRITE, NULL, NULL},
	{"POST", "/groups/{id}/join", "group_join", API_WRITE, NULL, "group.joined"},
	{"POST", "/groups/{id}/leave", "group_leave", API_WRITE, NULL, NULL},
	{"GET", "/groups/{id}/requests", "group_requests_list", 0, NULL, NULL},
	{"POST", "/groups/{id}/requests/{request_id}", "group_request_decide", API_WRITE, NULL, "group.request_decided"},
	{"GET", "/tables/{table_id}/contributions", "contributions_list", 0, NULL, NULL},
	{"POST", "/tables/{table_id}/contributions", "contribution_create", API_WRITE | API_MARKDOWN,
	 "contribution.before_create", "contribution.created"},
	{"GET", "/groups/{group_id}/contributions", "contributions_list", 0, NULL, NULL},
	{"POST", "/groups/{group_id}/contributions", "contribution_create", API_WRITE | API_MARKDOWN,
	 "contribution.before_create", "contribution.created"},
	{"GET", "/contributions/{id}", "contribution_get", 0, NULL, NULL},
	{"PATCH", "/contributions/{id}", "contribution_edit", API_WRITE | API_MARKDOWN, NULL, NULL},
	{"POST", "/contributions/{id}/hide", "contribution_hide", API_WRITE, NULL, NULL},
	{"POST", "/contributions/{id}/reports", "report_create", API_WRITE, NULL, NULL},
	{"GET", "/tables/{id}/reports", "reports_list", 0, NULL, NULL},
	{"POST", "/reports/{id}", "report_handle", API_WRITE, NULL, NULL},
	{"GET", "/search", "search", 0, NULL, NULL},
	/* Workflows (sql/code/workflows.sql, records.sql). */
	{"GET", "/workflows", "workflows_list", API_DEFS, NULL, NULL},
	{"GET", "/tables/{id}/steps", "table_steps", 0, NULL, NULL},
	{"POST", "/tables/{id}/steps/{step}/complete", "step_complete", API_WRITE | API_EVENTS, "step.before_complete", NULL},
	{"POST", "/tables/{id}/steps/{step}/skip", "step_skip", API_WRITE | API_EVENTS, NULL, NULL},
	{"POST", "/tables/{id}/steps/{step}/reopen", "step_reopen", API_WRITE | API_EVENTS, NULL, NULL},
	{"GET", "/tables/{id}/history", "step_history", 0, NULL, NULL},
	{"POST", "/tables/{id}/workflow", "workflow_move", API_WRITE | API_EVENTS | API_DEFS, NULL, NULL},
	{"GET", "/tables/{id}/records", "records_list", 0, NULL, NULL},
	{"POST", "/tables/{id}/records", "record_create", API_WRITE | API_FIELDS, "record.before_save", NULL},
	{"GET", "/records/{id}", "record_get", 0, NULL, NULL},
	{"PATCH", "/records/{id}", "record_update", API_WRITE | API_FIELDS, "record.before_save", NULL},
	{"GET", "/records/{id}/versions", "record_versions", 0, NULL, NULL},
	/* Decisions (sql/code/decisions.sql). */
	{"GET", "/tables/{id}/decisions", "decisions_list", 0, NULL, NULL},
	{"POST", "/tables/{id}/decisions", "decision_create", API_WRITE | API_MARKDOWN | API_EVENTS | API_DEFS, NULL, NULL},
	{"GET", "/decisions/{id}", "decision_get", 0, NULL, NULL},
	{"PATCH", "/decisions/{id}", "decision_update", API_WRITE, NULL, NULL},
	{"PUT", "/decisions/{id}/vote", "vote_cast", API_WRITE, "vote.before_cast", NULL},
	{"PUT", "/decisions/{id}/room", "room_counts_set", API_WRITE, NULL, NULL},
	{"POST", "/decisions/{id}/close", "decision_close", API_WRITE | API_EVENTS, NULL, NULL},
	{"POST", "/decisions/{id}/collective", "decision_collective", API_WRITE | API_MARKDOWN | API_EVENTS, NULL, NULL},
	{"POST", "/decisions/{id}/points", "point_create", API_WRITE, NULL, NULL},
	{"POST", "/decisions/{id}/points/{point_id}", "point_mark", API_WRITE, NULL, NULL},
	{"PUT", "/decisions/{id}/final", "decision_final", API_WRITE | API_MARKDOWN, NULL, NULL},
	/* Meetings (sql/code/meetings.sql). */
	{"GET", "/tables/{id}/meetings", "meetings_list", 0, NULL, NULL},
	{"POST", "/tables/{id}/meetings", "meeting_create", API_WRITE | API_MARKDOWN | API_EVENTS, NULL, NULL},
	{"GET", "/tables/{id}/meetings.ical", "table_meetings_ical", API_ICAL, NULL, NULL},
	{"GET", "/meetings/{id}", "meeting_get", 0, NULL, NULL},
	{"PATCH", "/meetings/{id}", "meeting_update", API_WRITE | API_MARKDOWN | API_EVENTS, NULL, NULL},
	{"POST", "/meetings/{id}/cancel", "meeting_cancel", API_WRITE | API_EVENTS, NULL, NULL},
	{"GET", "/meetings/{id}/ical", "meeting_ical", API_ICAL, NULL, NULL},
	{"PUT", "/meetings/{id}/registration", "registration_create", API_WRITE, NULL, NULL},
	{"DELETE", "/meetings/{id}/registration", "registration_cancel", API_WRITE, NULL, NULL},
	{"GET", "/meetings/{id}/registrations", "registrations_list", 0, NULL, NULL},
	{"POST", "/meetings/{id}/registrations", "registration_add", API_WRITE, NULL, NULL},
	{"DELETE", "/meetings/{id}/registrations/{registration_id}", "registration_remove", API_WRITE, NULL, NULL},
	{"PUT", "/meetings/{id}/attendance", "attendance_set", API_WRITE, NULL, NULL},
	/* The site's settings and content pages (sql/code/site.sql). */
	{"GET", "/settings", "settings_get", 0, NULL, NULL},
	{"PUT", "/settings", "settings_put", API_WRITE | API_MARKDOWN, NULL, NULL},
	/* The options plugins declare editable (sql/code/options.sql). */
	{"GET", "/settings/options", "plugin_options_get", 0, NULL, NULL},
	{"PUT", "/settings/options", "plugin_options_put", API_WRITE | API_DEFS, NULL, NULL},
	{"GET", "/pages", "pages_list", 0, NULL, NULL},
	{"GET", "/pages/{slug}", "page_get", 0, NULL, NULL},
	{"PUT", "/pages/{slug}", "page_put", API_WRITE | API_MARKDOWN, NULL, NULL},
	{"DELETE", "/pages/{slug}", "page_delete", API_WRITE, NULL, NULL},
	/* A tenant's bundle versions for its admins (sql/code/bundles.sql). */
	{"GET", "/bundle/versions", "bundle_versions", 0, NULL, NULL},
	{"POST", "/bundle/rollback", "bundle_rollback", API_WRITE, NULL, NULL},
	{"POST", "/bundle/versions/{id}/publish", "bundle_publish", API_WRITE, NULL, NULL},
	{"DELETE", "/bundle/versions/{id}", "bundle_delete", API_WRITE, NULL, NULL},
	{"POST", "/bundle/versions/{id}/preview", "bundle_preview", API_WRITE | API_PRIVATE | API_SECRET, NULL, NULL},
	{"POST", "/bundle", "bundle_upload", API_WRITE | API_BUNDLE, NULL, NULL},
	/* Exports, streamed (sql/code/table_export.sql, api_stream.c). */
	/* Notifications (sql/code/notifications.sql). */
	{"GET", "/me/follows", "follows_list", 0, NULL, NULL},
	{"GET", "/tables/{id}/follow", "table_follow_get", 0, NULL, NULL},
	{"PUT", "/tables/{id}/follow", "table_follow_put", API_WRITE | API_PRIVATE, NULL, NULL},
	{"DELETE", "/tables/{id}/follow", "table_follow_delete", API_WRITE | API_PRIVATE, NULL, NULL},
	{"GET", "/groups/{id}/follow", "group_follow_get", 0, NULL, NULL},
	{"PUT", "/groups/{id}/follow", "group_follow_put", API_WRITE | API_PRIVATE, NULL, NULL},
	{"DELETE", "/groups/{id}/follow", "group_follow_delete", API_WRITE | API_PRIVATE, NULL, NULL},
	{"GET", "/me/notifications", "notifications_list", 0, NULL, NULL},
	{"POST", "/me/notifications/seen", "notifications_seen", API_WRITE | API_PRIVATE, NULL, NULL},
	{"GET", "/me/notification-settings", "notification_settings_get", 0, NULL, NULL},
	{"PATCH", "/me/notification-settings", "notification_settings_patch", API_WRITE | API_PRIVATE, NULL, NULL},
	{"POST", "/unsubscribe", "unsubscribe", API_WRITE | API_PRIVATE | API_ANONYMOUS, NULL, NULL},

	{"GET", "/tables/{id}/export", "table_export", API_STREAM, NULL, NULL},
	{"GET", "/tables/{id}/export/{kind}.csv", "table_export_csv", API_STREAM, NULL, NULL},
	{"GET", "/tables/{id}/open-data", "table_open_data", API_STREAM, NULL, NULL},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static int route_stmt[NROUTES];


const struct api_route *api_routes(size_t *n)
{
	*n = NROUTES;
	return routes;
}

const char *api_openapi(size_t *len)
{
	*len = openapi_json_len;
	return openapi_json;
}

void api_register_statements(void)
{
	/* The pool keeps the pointers: the texts live as long as the process.
	 * The call is the statement's one expression (no cast: jsonb's text
	 * is its output), so that Citus sends it whole to the tenant's worker
	 * (sql/citus/delegate.sql). */
	static char sql[NROUTES][128];
	for (size_t i = 0; i < NROUTES; i++) {
		if (routes[i].flags & API_BUNDLE)
			snprintf(sql[i], sizeof(sql[i]),
				 "SELECT api.%s($1::bigint, $2::bigint, $3, $4::jsonb, $5::text[], $6::bytea[])",
				 routes[i].fn);
		else
			snprintf(sql[i], sizeof(sql[i]), "SELECT api.%s($1::bigint, $2::bigint, $3, $4::jsonb)",
				 routes[i].fn);
		route_stmt[i] = db_stmt(sql[i]);
	}
}

/* ---------------------------------------------------------------- routes */

static bool all_digits(const char *s, size_t n)
{
	if (n == 0 || n > 18 || s[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool word(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

/* Matches PATH against PATTERN, segment by segment; PARAMS (may be NULL)
 * receives {id} as an integer and any other {x} as a string. A parameter
 * may be followed by a fixed ending in its segment ("{kind}.csv"). */
static bool route_match(const char *pattern, const char *path, size_t len, json_t *params)
{
	const char *p = pattern, *s = path, *end = path + len;
	while (*p && s < end) {
		if (*p != '/' || *s != '/')
			return false;
		p++;
		s++;
		const char *pe = strchr(p, '/');
		size_t plen = pe ? (size_t)(pe - p) : strlen(p);
		const char *se = memchr(s, '/', (size_t)(end - s));
		size_t slen = se ? (size_t)(se - s) : (size_t)(end - s);
		const char *close = plen > 2 && p[0] == '{' ? memchr(p, '}', plen) : NULL;
		if (close) {
			size_t tail = plen - (size_t)(close + 1 - p);    /* the fixed ending */
			if (slen <= tail || memcmp(s + slen - tail, close + 1, tail) != 0)
				return false;
			plen -= tail;
			slen -= tail;
			char name[32];
			snprintf(name, sizeof(name), "%.*s", (int)(plen - 2), p + 1);
			bool id = strcmp(name, "id") == 0 || (plen > 5 && memcmp(p + plen - 4, "_id}", 4) == 0);
			if (id ? !all_digits(s, slen) : !word(s, slen))
				return false;
			if (params) {
				char v[80];
				snprintf(v, sizeof(v), "%.*s", (int)slen, s);
				json_object_set_new(params, name, id ? json_integer(strtoll(v, NULL, 10)) : json_string(v));
			}
			plen += tail;
			slen += tail;
		} else if (plen != slen || memcmp(p, s, slen) != 0) {
			return false;
		}
		p += plen;
		s += slen;
	}
	return *p == '\0' && s == end;
}

const struct api_route *api_route_find(const char *method, const char *path, size_t len, json_t *params,
				       int *status, char *allow, size_t allowlen)
{
	*status = 404;
	if (allowlen)
		allow[0] = '\0';
	for (size_t i = 0; i < NROUTES; i++) {
		if (!route_match(routes[i].pattern, path, len, NULL))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			if (params)
				route_match(routes[i].pattern, path, len, params);
			return &routes[i];
		}
		*status = 405;
		size_t used = strlen(allow);
		snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "", routes[i].method);
	}
	return NULL;
}

const struct api_route *api_route_at(long i)
{
	return i >= 0 && (size_t)i < NROUTES ? &routes[i] : NULL;
}

long api_route_index(const struct api_route *r)
{
	return (long)(r - routes);
}

int api_route_params(const struct api_route *r, const char *path, size_t len, json_t *params)
{
	return route_match(r->pattern, path, len, params) ? 0 : -1;
}

char *api_guest_key(const struct api_route *r, int64_t tenant_id, const char *path, const char *args)
{
	if (!r || strcmp(r->method, "GET") != 0 || r->before || r->after ||
	    (r->flags & (API_PLATFORM | API_SESSION | API_STEPS | API_WRITE | API_DEFS)))
		return NULL;
	size_t klen = 24 + strlen(path) + strlen(args) + 3;
	char *key = malloc(klen);
	if (key)
		snprintf(key, klen, "%lld %s %s", (long long)tenant_id, path, args);
	return key;
}

/* ---------------------------------------------------------------- arguments */

static bool daemon_key(const char *k)
{
	size_t n = strlen(k);
	return k[0] == '_' || (n >= 5 && strcmp(k + n - 5, "_html") == 0);
}

/* V's Markdown as HTML (markdown.h): a new string, or NULL when out of
 * memory. */
static json_t *markdown_html(const json_t *v)
{
	char *html = markdown_to_html(json_string_value(v), json_string_length(v));
	if (!html)
		return NULL;
	json_t *out = json_string(html);
	free(html);
	return out;
}

static int render_markdown(json_t *args, const char *field)
{
	json_t *v = json_object_get(args, field);
	if (!json_is_string(v))
		return 0;
	char key[64];
	snprintf(key, sizeof(key), "_%s_html", field);
	return json_object_set_new(args, key, markdown_html(v));
}

/* A workflow record's "fields": every string rendered, as _fields_html.
 * Which of them are Markdown only the table's snapshot says, in the SQL,
 * which keeps those; the others cost one render of at most the kind's
 * bound of characters each. */
static int render_fields(json_t *args)
{
	json_t *fields = json_object_get(args, "fields");
	if (!json_is_object(fields))
		return 0;
	json_t *out = json_object();
	if (!out)
		return -1;
	const char *k;
	json_t *v;
	json_object_foreach(fields, k, v) {
		if (json_is_string(v) && json_object_set_new(out, k, markdown_html(v)) != 0) {
			json_decref(out);
			return -1;
		}
	}
	return json_object_set_new(args, "_fields_html", out);
}

int api_prepare(const struct api_route *route, const char *method, const struct api_principal *who, json_t *args,
		char *secret)
{
	const char *k;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(args, tmp, k, v) {
		if (daemon_key(k))
			json_object_del(args, k);
	}
	if (json_object_set_new(args, "_method", json_string(method)) != 0)
		return -1;
	if (who->csrf[0] && json_object_set_new(args, "_csrf", json_string(who->csrf)) != 0)
		return -1;
	if (who->session[0] && json_object_set_new(args, "_session", json_string(who->session)) != 0)
		return -1;
	if ((route->flags & API_MARKDOWN) &&
	    (render_markdown(args, "body") != 0 || render_markdown(args, "description") != 0 ||
	     render_markdown(args, "proposal") != 0 || render_markdown(args, "outcome") != 0 ||
	     render_markdown(args, "final_text") != 0 || render_markdown(args, "welcome") != 0))
		return -1;
	if ((route->flags & API_FIELDS) && render_fields(args) != 0)
		return -1;
	if (route->flags & API_SECRET) {
		char token[TOKEN_CHARS + 1], hash[65];
		if (token_new(token) != 0)
			return -1;
		snprintf(secret, API_SECRET_CHARS + 1, API_TOKEN_PREFIX "%s", token);
		token_hash_hex(token, hash);
		if (json_object_set_new(args, "_secret_hash", json_string(hash)) != 0)
			return -1;
	}
	return 0;
}

int api_add_definitions(json_t *args, const char *defs)
{
	json_t *d = defs ? json_loads(defs, 0, NULL) : json_object();
	if (!json_is_object(d)) {
		json_decref(d);
		return -1;
	}
	return json_object_set_new(args, "_definitions", d);
}

int api_query_bundle(struct db_txn *txn, const struct api_route *route, int64_t tenant_id,
		     const struct api_principal *who, const json_t *args, const struct bundle *b)
{
	char tid[24], uid[24];
	snprintf(tid, sizeof(tid), "%lld", (long long)tenant_id);
	snprintf(uid, sizeof(uid), "%lld", (long long)who->viewer);
	size_t n = b ? b->nfiles : 0;
	const char **paths = calloc(n + 1, sizeof(*paths)), **datas = calloc(n + 1, sizeof(*datas));
	size_t *plens = calloc(n + 1, sizeof(*plens)), *dlens = calloc(n + 1, sizeof(*dlens));
	char *text = json_dumps(args, JSON_COMPACT), *patharr = NULL, *dataarr = NULL;
	size_t pathlen = 0, datalen = 0;
	int rc = -1;
	if (!paths || !datas || !plens || !dlens || !text)
		goto out;
	for (size_t i = 0; i < n; i++) {
		paths[i] = b->files[i].path;
		plens[i] = strlen(b->files[i].path);
		datas[i] = b->files[i].data;
		dlens[i] = b->files[i].len;
	}
	if (b) {
		patharr = db_binary_array(25 /* text */, n, paths, plens, &pathlen);
		dataarr = db_binary_array(17 /* bytea */, n, datas, dlens, &datalen);
		if (!patharr || !dataarr)
			goto out;
	}
	if (strlen(text) > API_ARGS_MAX) {
		rc = API_TOO_LARGE;
		goto out;
	}
	const char *p[6] = {tid, who->viewer ? uid : NULL, who->roles, text, patharr, dataarr};
	const int lens[6] = {-1, -1, -1, -1, b ? (int)pathlen : -1, b ? (int)datalen : -1};
	rc = db_query_bin(txn, route_stmt[route - routes], 6, p, lens);
out:
	free(paths);
	free(datas);
	free(plens);
	free(dlens);
	free(text);
	free(patharr);
	free(dataarr);
	return rc;
}

int api_query(struct db_txn *txn, const struct api_route *route, int64_t tenant_id, const struct api_principal *who,
	      const json_t *args)
{
	char tid[24], uid[24];
	snprintf(tid, sizeof(tid), "%lld", (long long)tenant_id);
	snprintf(uid, sizeof(uid), "%lld", (long long)who->viewer);
	char *text = json_dumps(args, JSON_COMPACT);
	if (!text)
		return -1;
	const char *p[4] = {tid, who->viewer ? uid : NULL, who->roles, text};
	int rc = strlen(text) > API_ARGS_MAX ? API_TOO_LARGE : db_query(txn, route_stmt[route - routes], 4, p);
	free(text);
	return rc;
}

int api_answer(const PGresult *r, const char *secret, int *status, json_t **body)
{
	*body = NULL;
	if (!r || PQntuples(r) != 1 || PQgetisnull(r, 0, 0))
		return -1;
	return api_answer_text(PQgetvalue(r, 0, 0), secret, status, body);
}

int api_answer_text(const char *text, const char *secret, int *status, json_t **body)
{
	*body = NULL;
	json_t *a = json_loads(text, 0, NULL);
	json_t *s = json_object_get(a, "status");
	json_t *b = json_object_get(a, "body");
	if (!json_is_integer(s) || !b || json_integer_value(s) < 200 || json_integer_value(s) > 599) {
		json_decref(a);
		return -1;
	}
	*status = (int)json_integer_value(s);
	*body = json_incref(b);
	json_decref(a);
	if (secret && secret[0] && *status < 300 && json_is_object(*body))
		json_object_set_new(*body, "token", json_string(secret));
	return 0;
}

/* ---------------------------------------------------------------- bundles */

#define BUNDLE_PROBLEMS_MAX (64 * 1024)

bool api_is_admin(const char *roles)
{
	for (const char *p = roles; (p = strstr(p, "admin")) != NULL; p += 5)
		if ((p == roles || p[-1] == ' ') && (p[5] == '\0' || p[5] == ' '))
			return true;
	return false;
}

/* Each line of PROBLEMS as {file, line, message}: "path:line: message"
 * or "path: message" name the file (and the line), other lines are a
 * message alone. */
static json_t *problem_list(const char *problems)
{
	json_t *list = json_array();
	for (const char *line = problems; list && line && *line;) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		char *text = strndup(line, n);
		json_t *p = text && *text ? json_object() : NULL;
		if (p) {
			char *colon = strstr(text, ": ");
			if (colon && !memchr(text, ' ', (size_t)(colon - text))) {
				*colon = '\0';
				char *lc = strchr(text, ':');
				long ln = 0;
				if (lc && lc[1] >= '0' && lc[1] <= '9') {
					*lc = '\0';
					ln = strtol(lc + 1, NULL, 10);
				}
				json_object_set_new(p, "file", json_string(text));
				if (ln > 0)
					json_object_set_new(p, "line", json_integer(ln));
				json_object_set_new(p, "message", json_string(colon + 2));
			} else {
				json_object_set_new(p, "message", json_string(text));
			}
			json_array_append_new(list, p);
		}
		free(text);
		line = end ? end + 1 : NULL;
	}
	return list;
}

static json_t *refused(const char *message, const char *problems)
{
	json_t *list = problem_list(problems);
	return list ? json_pack("{s:{s:s, s:s, s:o, s:o}}", "error", "code", "invalid_bundle", "message", message,
				"fields", json_object(), "problems", list)
		    : NULL;
}

struct bundle *api_bundle_read(const void *data, size_t len, const char *slug, json_t **refusal)
{
	char err[512];
	struct bundle *b = bundle_from_archive(data, len, err, sizeof(err));
	if (!b) {
		*refusal = refused(err, NULL);
		return NULL;
	}
	char *problems = calloc(1, BUNDLE_PROBLEMS_MAX);
	if (!problems) {
		bundle_unref(b);
		*refusal = NULL;
		return NULL;
	}
	if (runtime_check_bundle(runtime_platform(), b, slug, problems, BUNDLE_PROBLEMS_MAX) != 0) {
		bundle_unref(b);
		*refusal = refused("The bundle is not valid: nothing was changed.",
				   problems[0] ? problems : "the bundle is not valid");
		free(problems);
		return NULL;
	}
	free(problems);
	return b;
}
