/* Tenant lifecycle from the command line. Names and hosts are checked here
 * first so the provider gets a plain reason; the database's constraints
 * stay the final word. */
#include "tenant_cmd.h"
#include "utf8.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

#define HOSTS_MAX 64

const char tenant_cmd_usage[] =
	"usage: aantafel tenant COMMAND [-c FILE] ...\n\n"
	"  create SLUG --name NAME --host HOST [--host HOST ...]\n"
	"                          register a municipality and its host names\n"
	"  list                    tenants with status and hosts\n"
	"  hosts SLUG [--add HOST ...] [--remove HOST ...]\n"
	"                          change a tenant's host names (no options: list them)\n"
	"  suspend SLUG            answer 503 on its hosts; data is kept\n"
	"  resume SLUG             serve it again\n\n"
	"Changes reach every running daemon within a second, without a restart.\n"
	"SLUG: a lowercase letter, then lowercase letters, digits and hyphens (max 63).\n"
	"HOST: a DNS name such as gemeente.example.nl (no port).\n";

static const char *WHO = "aantafel tenant";

struct opts {
	const char *slug;
	const char *name;
	const char *add[HOSTS_MAX];
	int nadd;
	const char *remove[HOSTS_MAX];
	int nremove;
};

static int parse(int argc, char **argv, struct opts *o, bool allow_name, bool allow_hosts);
static int do_create(PGconn *pg, const struct opts *o);
static int do_list(PGconn *pg);
static int do_hosts(PGconn *pg, const struct opts *o);
static int do_status(PGconn *pg, const char *slug, const char *status);
static int check_hosts(const char *const *in, int n, char out[][254]);
static int64_t tenant_id(PGconn *pg, const char *slug);

bool tenant_slug_valid(const char *slug)
{
	size_t n = strlen(slug);
	if (n < 1 || n > 63 || !(slug[0] >= 'a' && slug[0] <= 'z'))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = slug[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

const char *tenant_host_normalize(const char *host, char *out, size_t outlen)
{
	size_t n = strlen(host);
	if (n == 0)
		return "empty host";
	if (n > 253 || n + 1 > outlen)
		return "longer than 253 characters";
	if (strchr(host, ':'))
		return "a host name has no port or scheme";
	if (strchr(host, '/'))
		return "a host name has no path or scheme";
	size_t label = 0;
	for (size_t i = 0; i <= n; i++) {
		char c = (char)tolower((unsigned char)host[i]);
		if (c == '.' || c == '\0') {
			if (label == 0)
				return "empty label (two dots, or a dot at the start or end)";
			if (out[i - 1] == '-')
				return "a label ends with a hyphen";
			label = 0;
			out[i] = c;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return "only letters, digits, hyphens and dots are allowed";
		if (label == 0 && c == '-')
			return "a label starts with a hyphen";
		if (++label > 63)
			return "a label is longer than 63 characters";
		out[i] = c;
	}
	return NULL;
}

int tenant_cmd(int argc, char **argv, const char *config_path)
{
	struct opts o = {0};
	if (argc < 2) {
		fputs(tenant_cmd_usage, stderr);
		return 2;
	}
	const char *sub = argv[1];
	int rc;
	if (strcmp(sub, "create") == 0)
		rc = parse(argc - 2, argv + 2, &o, true, true);
	else if (strcmp(sub, "hosts") == 0)
		rc = parse(argc - 2, argv + 2, &o, false, true);
	else if (strcmp(sub, "suspend") == 0 || strcmp(sub, "resume") == 0)
		rc = parse(argc - 2, argv + 2, &o, false, false);
	else if (strcmp(sub, "list") == 0)
		rc = parse(argc - 2, argv + 2, &o, false, false) == 0 && !o.slug ? 0 : 2;
	else {
		fprintf(stderr, "%s: unknown command '%s'\n\n%s", WHO, sub, tenant_cmd_usage);
		return 2;
	}
	if (rc != 0)
		return rc;
	if (strcmp(sub, "list") != 0 && !o.slug) {
		fprintf(stderr, "%s %s: which tenant? (SLUG missing)\n", WHO, sub);
		return 2;
	}
	if (o.slug && !tenant_slug_valid(o.slug)) {
		fprintf(stderr, "%s: '%s' is not a valid slug (a lowercase letter, then lowercase letters, digits or hyphens; at most 63)\n",
			WHO, o.slug);
		return 1;
	}

	struct config *cfg = admin_config(config_path, WHO);
	if (!cfg)
		return 1;
	PGconn *pg = admin_connect(cfg, WHO);
	config_unref(cfg);
	if (!pg)
		return 1;
	if (strcmp(sub, "create") == 0)
		rc = do_create(pg, &o);
	else if (strcmp(sub, "list") == 0)
		rc = do_list(pg);
	else if (strcmp(sub, "hosts") == 0)
		rc = do_hosts(pg, &o);
	else
		rc = do_status(pg, o.slug, strcmp(sub, "suspend") == 0 ? "suspended" : "active");
	PQfinish(pg);
	return rc;
}

/* Arguments after the subcommand: SLUG and options; -c FILE was taken
 * out by the caller. */
static int parse(int argc, char **argv, struct opts *o, bool allow_name, bool allow_hosts)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		bool has_value = i + 1 < argc;
		if (allow_name && strcmp(a, "--name") == 0 && has_value) {
			o->name = argv[++i];
		} else if (allow_hosts && (strcmp(a, "--host") == 0 || strcmp(a, "--add") == 0) && has_value) {
			if (o->nadd >= HOSTS_MAX) {
				fprintf(stderr, "%s: at most %d hosts at once\n", WHO, HOSTS_MAX);
				return 2;
			}
			o->add[o->nadd++] = argv[++i];
		} else if (allow_hosts && !allow_name && strcmp(a, "--remove") == 0 && has_value) {
			if (o->nremove >= HOSTS_MAX) {
				fprintf(stderr, "%s: at most %d hosts at once\n", WHO, HOSTS_MAX);
				return 2;
			}
			o->remove[o->nremove++] = argv[++i];
		} else if (a[0] != '-' && !o->slug) {
			o->slug = a;
		} else {
			fprintf(stderr, "%s: unexpected argument '%s'\n\n%s", WHO, a, tenant_cmd_usage);
			return 2;
		}
	}
	return 0;
}

static int do_create(PGconn *pg, const struct opts *o)
{
	char hosts[HOSTS_MAX][254];
	if (!o->name || !o->name[0]) {
		fprintf(stderr, "%s create: --name NAME is required\n", WHO);
		return 2;
	}
	long chars = utf8_count(o->name, strlen(o->name));
	if (chars < 0) {
		fprintf(stderr, "%s create: the name is not valid UTF-8\n", WHO);
		return 1;
	}
	if (chars > 200) {
		fprintf(stderr, "%s create: the name is longer than 200 characters\n", WHO);
		return 1;
	}
	if (o->nadd == 0) {
		fprintf(stderr, "%s create: at least one --host HOST is required\n", WHO);
		return 2;
	}
	if (check_hosts(o->add, o->nadd, hosts) != 0)
		return 1;

	PGresult *r = admin_exec(pg, WHO, "BEGIN", 0, NULL);
	if (!r)
		return 1;
	PQclear(r);
	const char *sv[] = {o->slug};
	r = admin_exec(pg, WHO, "SELECT 1 FROM platform.tenants WHERE slug = $1", 1, sv);
	if (!r)
		goto fail;
	if (PQntuples(r) > 0) {
		fprintf(stderr, "%s: tenant '%s' already exists\n", WHO, o->slug);
		PQclear(r);
		goto fail;
	}
	PQclear(r);
	for (int i = 0; i < o->nadd; i++) {
		const char *hv[] = {hosts[i]};
		r = admin_exec(pg, WHO,
			       "SELECT t.slug FROM platform.tenant_hosts h JOIN platform.tenants t ON t.id = h.tenant_id"
			       " WHERE h.host = $1",
			       1, hv);
		if (!r)
			goto fail;
		if (PQntuples(r) > 0) {
			fprintf(stderr, "%s: host '%s' already belongs to tenant '%s'\n", WHO, hosts[i],
				PQgetvalue(r, 0, 0));
			PQclear(r);
			goto fail;
		}
		PQclear(r);
	}
	const char *tv[] = {o->slug, o->name};
	admin_quiet_next();
	r = admin_exec(pg, WHO, "INSERT INTO platform.tenants (slug, name) VALUES ($1, $2) RETURNING id", 2, tv);
	if (!r) {
		/* Lost a race with another create. */
		fprintf(stderr, "%s: tenant '%s' could not be created (%s)\n", WHO, o->slug,
			strcmp(admin_last_sqlstate(), "23505") == 0 ? "it already exists" : "database error");
		goto fail;
	}
	char id[24];
	snprintf(id, sizeof(id), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	for (int i = 0; i < o->nadd; i++) {
		const char *hv[] = {hosts[i], id};
		admin_quiet_next();
		r = admin_exec(pg, WHO, "INSERT INTO platform.tenant_hosts (host, tenant_id) VALUES ($1, $2)", 2, hv);
		if (!r) {
			fprintf(stderr, "%s: host '%s' is already taken\n", WHO, hosts[i]);
			goto fail;
		}
		PQclear(r);
	}
	r = admin_exec(pg, WHO, "COMMIT", 0, NULL);
	if (!r)
		return 1;
	PQclear(r);
	printf("created tenant %s (%s) on", o->slug, o->name);
	for (int i = 0; i < o->nadd; i++)
		printf(" %s", hosts[i]);
	printf("\n");
	return 0;
fail:
	r = PQexec(pg, "ROLLBACK");
	PQclear(r);
	return 1;
}

static int do_list(PGconn *pg)
{
	PGresult *r = admin_exec(pg, WHO,
				 "SELECT t.slug, t.status, t.name, coalesce(string_agg(h.host, ' ' ORDER BY h.host), '')"
				 " FROM platform.tenants t LEFT JOIN platform.tenant_hosts h ON h.tenant_id = t.id"
				 " GROUP BY t.id ORDER BY t.slug",
				 0, NULL);
	if (!r)
		return 1;
	printf("%-20s %-10s %-30s %s\n", "SLUG", "STATUS", "NAME", "HOSTS");
	for (int i = 0; i < PQntuples(r); i++)
		printf("%-20s %-10s %-30s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
		       PQgetvalue(r, i, 3));
	PQclear(r);
	return 0;
}

static int do_hosts(PGconn *pg, const struct opts *o)
{
	char add[HOSTS_MAX][254], rem[HOSTS_MAX][254];
	if (check_hosts(o->add, o->nadd, add) != 0 || check_hosts(o->remove, o->nremove, rem) != 0)
		return 1;
	PGresult *r = admin_exec(pg, WHO, "BEGIN", 0, NULL);
	if (!r)
		return 1;
	PQclear(r);
	int64_t id = tenant_id(pg, o->slug);
	if (id <= 0)
		goto fail;
	char ids[24];
	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	for (int i = 0; i < o->nremove; i++) {
		const char *v[] = {rem[i], ids};
		r = admin_exec(pg, WHO, "DELETE FROM platform.tenant_hosts WHERE host = $1 AND tenant_id = $2", 2, v);
		if (!r)
			goto fail;
		if (strcmp(PQcmdTuples(r), "1") != 0) {
			fprintf(stderr, "%s: host '%s' does not belong to tenant '%s'\n", WHO, rem[i], o->slug);
			PQclear(r);
			goto fail;
		}
		PQclear(r);
	}
	for (int i = 0; i < o->nadd; i++) {
		const char *v[] = {add[i]};
		r = admin_exec(pg, WHO,
			       "SELECT t.slug FROM platform.tenant_hosts h JOIN platform.tenants t ON t.id = h.tenant_id"
			       " WHERE h.host = $1",
			       1, v);
		if (!r)
			goto fail;
		if (PQntuples(r) > 0) {
			fprintf(stderr, "%s: host '%s' already belongs to tenant '%s'\n", WHO, add[i], PQgetvalue(r, 0, 0));
			PQclear(r);
			goto fail;
		}
		PQclear(r);
		const char *iv[] = {add[i], ids};
		admin_quiet_next();
		r = admin_exec(pg, WHO, "INSERT INTO platform.tenant_hosts (host, tenant_id) VALUES ($1, $2)", 2, iv);
		if (!r) {
			fprintf(stderr, "%s: host '%s' is already taken\n", WHO, add[i]);
			goto fail;
		}
		PQclear(r);
	}
	const char *v[] = {ids};
	r = admin_exec(pg, WHO, "SELECT coalesce(string_agg(host, ' ' ORDER BY host), '') FROM platform.tenant_hosts WHERE tenant_id = $1", 1, v);
	if (!r)
		goto fail;
	char list[4096];
	snprintf(list, sizeof(list), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	r = admin_exec(pg, WHO, "COMMIT", 0, NULL);
	if (!r)
		return 1;
	PQclear(r);
	printf("%s: %s\n", o->slug, list[0] ? list : "(no hosts: the tenant is unreachable)");
	return 0;
fail:
	r = PQexec(pg, "ROLLBACK");
	PQclear(r);
	return 1;
}

static int do_status(PGconn *pg, const char *slug, const char *status)
{
	const char *v[] = {status, slug};
	PGresult *r = admin_exec(pg, WHO,
				 "UPDATE platform.tenants SET status = $1, updated_at = now() WHERE slug = $2"
				 " RETURNING (xmax = 0)",
				 2, v);
	if (!r)
		return 1;
	int n = PQntuples(r);
	PQclear(r);
	if (n == 0) {
		fprintf(stderr, "%s: no tenant '%s'\n", WHO, slug);
		return 1;
	}
	printf("%s: %s\n", slug, status);
	return 0;
}

static int check_hosts(const char *const *in, int n, char out[][254])
{
	for (int i = 0; i < n; i++) {
		const char *why = tenant_host_normalize(in[i], out[i], 254);
		if (why) {
			fprintf(stderr, "%s: '%s' is not a valid host: %s\n", WHO, in[i], why);
			return -1;
		}
		for (int k = 0; k < i; k++) {
			if (strcmp(out[k], out[i]) == 0) {
				fprintf(stderr, "%s: host '%s' is given twice\n", WHO, out[i]);
				return -1;
			}
		}
	}
	return 0;
}

static int64_t tenant_id(PGconn *pg, const char *slug)
{
	const char *v[] = {slug};
	PGresult *r = admin_exec(pg, WHO, "SELECT id FROM platform.tenants WHERE slug = $1", 1, v);
	if (!r)
		return -1;
	int64_t id = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
	PQclear(r);
	if (id == 0)
		fprintf(stderr, "%s: no tenant '%s'\n", WHO, slug);
	return id;
}
