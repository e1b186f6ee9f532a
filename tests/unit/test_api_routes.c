/* The API's route table and its OpenAPI document agree: every route is
 * documented with its method, every documented operation has a route, and
 * the router finds each, with its path parameters (a fixed ending after
 * one, "{kind}.csv", kept out of it), and answers 404 or 405
 * (with Allow) for what is not there. Also api_prepare: what only the
 * daemon may set cannot come from a client, and Markdown is rendered
 * without raw HTML or script links. */
#include <ctype.h>
#include <jansson.h>
#include <string.h>

#include "api.h"
#include "check.h"

static void lower(const char *in, char *out, size_t n)
{
	size_t i = 0;
	for (; in[i] && i + 1 < n; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[i] = '\0';
}

/* A concrete path for PATTERN: {id}-like segments become 7, others "member". */
static void example(const char *pattern, char *out, size_t n)
{
	out[0] = '\0';
	const char *p = pattern;
	while (*p) {
		if (*p == '{') {
			const char *end = strchr(p, '}');
			bool id = (end - p == 3 && memcmp(p, "{id", 3) == 0) || (end - p > 4 && memcmp(end - 3, "_id", 3) == 0);
			strncat(out, id ? "7" : "member", n - strlen(out) - 1);
			p = end + 1;
		} else {
			size_t len = strlen(out);
			if (len + 1 < n) {
				out[len] = *p;
				out[len + 1] = '\0';
			}
			p++;
		}
	}
}

int main(void)
{
	size_t len, n;
	const char *text = api_openapi(&len);
	json_error_t err;
	json_t *doc = json_loadb(text, len, 0, &err);
	CHECK(doc != NULL);
	json_t *paths = json_object_get(doc, "paths");
	CHECK(json_is_object(paths));
	const struct api_route *routes = api_routes(&n);
	CHECK(n > 0);
	for (size_t i = 0; i < n; i++) {
		char m[16], path[256];
		lower(routes[i].method, m, sizeof(m));
		json_t *op = json_object_get(json_object_get(paths, routes[i].pattern), m);
		if (!op)
			fprintf(stderr, "undocumented: %s %s\n", routes[i].method, routes[i].pattern);
		CHECK(json_is_object(op));
		CHECK(json_is_object(json_object_get(op, "responses")));
		example(routes[i].pattern, path, sizeof(path));
		int status;
		char allow[64];
		json_t *params = json_object();
		const struct api_route *r = api_route_find(routes[i].method, path, strlen(path), params, &status, allow,
							   sizeof(allow));
		CHECK(r != NULL && strcmp(r->pattern, routes[i].pattern) == 0 && strcmp(r->method, routes[i].method) == 0);
		if (strstr(routes[i].pattern, "{id}"))
			CHECK(json_integer_value(json_object_get(params, "id")) == 7);
		json_decref(params);
	}
	/* Every documented operation has a route. */
	const char *pattern;
	json_t *item;
	json_object_foreach(paths, pattern, item) {
		const char *m;
		json_t *op;
		json_object_foreach(item, m, op) {
			if (strcmp(m, "parameters") == 0)
				continue;
			bool found = false;
			for (size_t i = 0; i < n; i++) {
				char lm[16];
				lower(routes[i].method, lm, sizeof(lm));
				found |= strcmp(lm, m) == 0 && strcmp(routes[i].pattern, pattern) == 0;
			}
			if (!found)
				fprintf(stderr, "documented without a route: %s %s\n", m, pattern);
			CHECK(found);
		}
	}
	/* Misses. */
	int status;
	char allow[64];
	CHECK(api_route_find("GET", "/nope", 5, NULL, &status, allow, sizeof(allow)) == NULL && status == 404);
	CHECK(api_route_find("PATCH", "/tokens", 7, NULL, &status, allow, sizeof(allow)) == NULL && status == 405);
	CHECK(strstr(allow, "GET") && strstr(allow, "POST"));
	CHECK(api_route_find("DELETE", "/tokens/0", 9, NULL, &status, allow, sizeof(allow)) == NULL);
	CHECK(api_route_find("DELETE", "/tokens/01", 10, NULL, &status, allow, sizeof(allow)) == NULL);
	CHECK(api_route_find("DELETE", "/tokens/1234567890123456789", 27, NULL, &status, allow, sizeof(allow)) == NULL);
	CHECK(api_route_find("DELETE", "/tokens/7/", 10, NULL, &status, allow, sizeof(allow)) == NULL);
	CHECK(api_route_find("GET", "/me/", 4, NULL, &status, allow, sizeof(allow)) == NULL);
	CHECK(api_route_find("GET", "", 0, NULL, &status, allow, sizeof(allow)) == NULL);
	CHECK(api_route_find("PUT", "/members/7/roles/AD%6Din", 24, NULL, &status, allow, sizeof(allow)) == NULL);
	/* A parameter with a fixed ending in its segment ({kind}.csv): the
	 * ending is not part of the value, and must be there. */
	json_t *kp = json_object();
	const char *csv = "/tables/7/export/interview.csv";
	const struct api_route *kr = api_route_find("GET", csv, strlen(csv), kp, &status, allow, sizeof(allow));
	CHECK(kr != NULL && strcmp(kr->fn, "table_export_csv") == 0);
	CHECK(strcmp(json_string_value(json_object_get(kp, "kind")), "interview") == 0);
	json_decref(kp);
	static const char *const not_csv[] = {"/tables/7/export/.csv", "/tables/7/export/interview",
					       "/tables/7/export/interview.json", "/tables/7/export/inter.view.csv",
					       "/tables/7/export/interview.csv/", "/tables/7/export/csv"};
	for (size_t i = 0; i < sizeof(not_csv) / sizeof(not_csv[0]); i++)
		CHECK(api_route_find("GET", not_csv[i], strlen(not_csv[i]), NULL, &status, allow, sizeof(allow)) == NULL);

	/* api_prepare drops what only the daemon sets, and draws secrets. */
	const struct api_route *create = api_route_find("POST", "/tokens", 7, NULL, &status, allow, sizeof(allow));
	CHECK(create != NULL);
	json_t *args = json_pack("{s:s, s:s, s:s, s:s}", "name", "x", "_secret_hash", "00", "body_html", "<script>",
				 "_csrf", "forged");
	struct api_principal who = {.viewer = 3};
	char secret[API_SECRET_CHARS + 1] = "";
	CHECK(api_prepare(create, "POST", &who, args, secret) == 0);
	CHECK(strncmp(secret, API_TOKEN_PREFIX, 3) == 0 && strlen(secret) == API_SECRET_CHARS);
	CHECK(json_object_get(args, "body_html") == NULL && json_object_get(args, "_csrf") == NULL);
	const char *hash = json_string_value(json_object_get(args, "_secret_hash"));
	CHECK(hash && strlen(hash) == 64 && strcmp(hash, "00") != 0);
	CHECK(strcmp(json_string_value(json_object_get(args, "_method")), "POST") == 0);
	json_decref(args);
	json_decref(doc);
	return check_exit("test_api_routes");
}
