/* Tenant lifecycle from the command line. Names and hosts are checked here
 * first so the provider gets a plain reason; each action is then one call
 * of its function in sql/code/provider.sql (one statement, so one
 * transaction), whose refusals carry a message for the provider. */
#include "tenant_cmd.h"
#include "utf8.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>

#include "admin.h"
#include "db.h"
#include "bundle.h"
#include "contrast.h"
#include "lsandbox.h"
#include "runtime.h"

#define HOSTS_MAX 64
#define PROBLEMS_MAX (64 * 1024)        /* validation messages of one bundle */
#define THEME_MEM (8u * 1024 * 1024)    /* reading tenant.lua's theme */
#define THEME_INSTRUCTIONS (10 * 1000 * 1000)
#define THEME_MS 1000
#define PG_BYTEAOID 17u               /* pg_type.oid of bytea and text */
#define PG_TEXTOID 25u

const char tenant_cmd_usage[] =
	"usage: aantafel tenant COMMAND [-c FILE] ...\n\n"
	"  create SLUG --name NAME --host HOST [--host HOST ...]\n"
	"                          register a municipality and its host names\n"
	"  list                    tenants with status and hosts\n"
	"  hosts SLUG [--add HOST ...] [--remove HOST ...]\n"
	"                          change a tenant's host names (no options: list them)\n"
	"  suspend SLUG            answer 503 on its hosts; data is kept\n"
	"  resume SLUG             serve it again\n"
	"  deploy SLUG [DIR]       check the bundle in DIR (default tenants/SLUG) and\n"
	"                          publish it as the tenant's next version (the newest\n"
	"                          version is made current again when nothing changed)\n"
	"  versions SLUG           the deployed versions; * marks the current one\n"
	"  rollback SLUG N         make version N current again\n"
	"  delete SLUG             delete a suspended tenant with all its data, its\n"
	"                          bundles and hosts, in one transaction (no undo)\n"
	"  quota SLUG [--bundles SIZE] [--store SIZE]\n"
	"                          set the bytes its stored bundle versions and its\n"
	"                          plugins' store may take (e.g. 512MiB); no options:\n"
	"                          show them with what is used\n\n"
	"Changes reach every running daemon within a second, without a restart.\n"
	"SLUG: a lowercase letter, then lowercase letters, digits and hyphens (max 63).\n"
	"HOST: a DNS name such as gemeente.example.nl (no port).\n\n"
	"A bundle holds tenant.lua, plugins, templates, translations and static\n"
	"files: regular files only (no symbolic links), hidden files left out, at\n"
	"most 2000 files, 4 MiB a file, 32 MiB in all. It is checked against the\n"
	"platform plugins (plugins_dir); any problem is listed and nothing is deployed.\n";

static const char *WHO = "aantafel tenant";

struct opts {
	const char *slug;
	const char *arg;        /* deploy: DIR; rollback: N */
	const char *name;
	const char *add[HOSTS_MAX];
	int nadd;
	const char *remove[HOSTS_MAX];
	int nremove;
	const char *bundles;    /* quota: --bundles SIZE */
	const char *store;      /* quota: --store SIZE */
};

static int parse(int argc, char **argv, struct opts *o, bool allow_name, bool allow_hosts, bool allow_arg);
static int parse_version(const char *s);
static int check_one(const struct bundle *platform, const char *tenants_dir, const char *name);
static struct bundle *deploy_prepare(const struct config *cfg, const struct opts *o);
static int run(PGconn *pg, const char *sub, const struct opts *o, const struct bundle *b);
static int do_create(PGconn *pg, const struct opts *o);
static int do_list(PGconn *pg);
static int do_hosts(PGconn *pg, const struct opts *o);
static int do_status(PGconn *pg, const char *slug, const char *status);
static int do_deploy(PGconn *pg, const char *slug, const struct bundle *b);
static int do_versions(PGconn *pg, const char *slug);
static int do_rollback(PGconn *pg, const char *slug, int version);
static int do_delete(PGconn *pg, const char *slug);
static int do_quota(PGconn *pg, const struct opts *o);
static struct bundle *read_platform(const char *plugins_dir, const char *who);
static struct bundle *read_checked(const struct bundle *platform, const char *dir, const char *slug,
				   const char *label);
static int check_hosts(const char *const *in, int n, char out[][254]);
static void theme_warnings(const struct bundle *b, const char *dir);
static char *text_array(const char *const *items, size_t n);
static void format_size(size_t bytes, char *out, size_t outlen);
static void os_user(char *out, size_t outlen);

static bool tenant_slug_valid(const char *slug)
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

static const char *tenant_host_normalize(const char *host, char *out, size_t outlen)
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
	bool with_arg = strcmp(sub, "deploy") == 0 || strcmp(sub, "rollback") == 0;
	int rc;
	if (strcmp(sub, "create") == 0)
		rc = parse(argc - 2, argv + 2, &o, true, true, false);
	else if (strcmp(sub, "hosts") == 0)
		rc = parse(argc - 2, argv + 2, &o, false, true, false);
	else if (strcmp(sub, "suspend") == 0 || strcmp(sub, "resume") == 0 || strcmp(sub, "versions") == 0 ||
		 strcmp(sub, "delete") == 0 || with_arg)
		rc = parse(argc - 2, argv + 2, &o, false, false, with_arg);
	else if (strcmp(sub, "list") == 0)
		rc = parse(argc - 2, argv + 2, &o, false, false, false) == 0 && !o.slug ? 0 : 2;
	else if (strcmp(sub, "quota") == 0)
		rc = parse(argc - 2, argv + 2, &o, false, false, false);
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
	if (strcmp(sub, "rollback") == 0 && parse_version(o.arg) <= 0) {
		if (o.arg)
			fprintf(stderr, "%s rollback: '%s' is not a version number\n", WHO, o.arg);
		else
			fprintf(stderr, "%s rollback: which version? (N missing)\n", WHO);
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
	/* A bundle is read and checked before any connection: a refused one
	 * leaves no trace in the database. */
	struct bundle *b = NULL;
	if (strcmp(sub, "deploy") == 0 && !(b = deploy_prepare(cfg, &o))) {
		config_unref(cfg);
		return 1;
	}
	PGconn *pg = admin_connect(cfg, WHO);
	config_unref(cfg);
	rc = pg ? run(pg, sub, &o, b) : 1;
	PQfinish(pg);
	bundle_unref(b);
	return rc;
}

int tenant_check_bundles(const char *plugins_dir, const char *tenants_dir, bool required)
{
	struct bundle *platform = read_platform(plugins_dir, "aantafel check");
	if (!platform)
		return 1;
	char problems[8192];
	if (runtime_check_platform(platform, problems, sizeof(problems)) != 0) {
		fprintf(stderr, "%s: %s\n", plugins_dir, problems);
		bundle_unref(platform);
		return 1;
	}
	printf("ok: %s\n", plugins_dir);
	/* In name order, so that the report reads the same each time. */
	struct dirent **names;
	int n = scandir(tenants_dir, &names, NULL, alphasort);
	if (n < 0) {
		int e = errno;
		bundle_unref(platform);
		if (e == ENOENT && !required)
			return 0;
		fprintf(stderr, "aantafel check: %s: %s\n", tenants_dir, strerror(e));
		return 1;
	}
	int failed = 0;
	for (int i = 0; i < n; i++) {
		failed += check_one(platform, tenants_dir, names[i]->d_name) != 0;
		free(names[i]);
	}
	free(names);
	bundle_unref(platform);
	return failed ? 1 : 0;
}

/* Checks the folder NAME of TENANTS_DIR; other entries (files, hidden
 * ones) are not bundles and pass. */
static int check_one(const struct bundle *platform, const char *tenants_dir, const char *name)
{
	char dir[PATH_MAX];
	struct stat st;
	snprintf(dir, sizeof(dir), "%s/%s", tenants_dir, name);
	if (name[0] == '.' || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return 0;
	if (!tenant_slug_valid(name)) {
		fprintf(stderr, "%s: '%s' is not a valid slug\n", dir, name);
		return -1;
	}
	struct bundle *b = read_checked(platform, dir, name, NULL);
	if (!b)
		return -1;
	theme_warnings(b, dir);
	printf("ok: %s\n", dir);
	bundle_unref(b);
	return 0;
}

/* The bundle deploy will store: DIR (default tenants/SLUG) read and
 * checked against the platform plugins; NULL after printing why not. */
static struct bundle *deploy_prepare(const struct config *cfg, const struct opts *o)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "tenants/%s", o->slug);
	struct bundle *platform = read_platform(cfg->plugins_dir, WHO);
	struct bundle *b = platform ? read_checked(platform, o->arg ? o->arg : dir, o->slug, WHO) : NULL;
	bundle_unref(platform);
	if (!b)
		fprintf(stderr, "%s: %s: nothing was deployed\n", WHO, o->slug);
	else
		theme_warnings(b, o->arg ? o->arg : dir);
	return b;
}

static int run(PGconn *pg, const char *sub, const struct opts *o, const struct bundle *b)
{
	if (strcmp(sub, "create") == 0)
		return do_create(pg, o);
	if (strcmp(sub, "list") == 0)
		return do_list(pg);
	if (strcmp(sub, "hosts") == 0)
		return do_hosts(pg, o);
	if (strcmp(sub, "deploy") == 0)
		return do_deploy(pg, o->slug, b);
	if (strcmp(sub, "versions") == 0)
		return do_versions(pg, o->slug);
	if (strcmp(sub, "rollback") == 0)
		return do_rollback(pg, o->slug, parse_version(o->arg));
	if (strcmp(sub, "delete") == 0)
		return do_delete(pg, o->slug);
	if (strcmp(sub, "quota") == 0)
		return do_quota(pg, o);
	return do_status(pg, o->slug, strcmp(sub, "suspend") == 0 ? "suspended" : "active");
}

/* Arguments after the subcommand: SLUG and options; -c FILE was taken
 * out by the caller. */
static int parse(int argc, char **argv, struct opts *o, bool allow_name, bool allow_hosts, bool allow_arg)
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
		} else if ((strcmp(a, "--bundles") == 0 || strcmp(a, "--store") == 0) && has_value &&
			   !allow_name && !allow_hosts && !allow_arg) {
			if (a[2] == 'b')
				o->bundles = argv[++i];
			else
				o->store = argv[++i];
		} else if (a[0] != '-' && !o->slug) {
			o->slug = a;
		} else if (allow_arg && !o->arg && (a[0] != '-' || isdigit((unsigned char)a[1]))) {
			o->arg = a;
		} else {
			fprintf(stderr, "%s: unexpected argument '%s'\n\n%s", WHO, a, tenant_cmd_usage);
			return 2;
		}
	}
	return 0;
}

/* A version number 1..INT_MAX, or -1. */
static int parse_version(const char *s)
{
	if (!s || !*s || strlen(s) > 9)
		return -1;
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char)*p))
			return -1;
	return (int)strtol(s, NULL, 10);
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
	const char *hv[HOSTS_MAX];
	for (int i = 0; i < o->nadd; i++)
		hv[i] = hosts[i];
	char *list = text_array(hv, (size_t)o->nadd);
	if (!list) {
		fprintf(stderr, "%s: out of memory\n", WHO);
		return 1;
	}
	const char *v[] = {o->slug, o->name, list};
	PGresult *r = admin_exec(pg, WHO, "SELECT platform.tenant_create($1, $2, $3::text[])", 3, v);
	free(list);
	if (!r)
		return 1;
	PQclear(r);
	printf("created tenant %s (%s) on", o->slug, o->name);
	for (int i = 0; i < o->nadd; i++)
		printf(" %s", hosts[i]);
	printf("\n");
	return 0;
}

static int do_list(PGconn *pg)
{
	PGresult *r = admin_exec(pg, WHO, "SELECT slug, status, name, hosts FROM platform.tenant_list()", 0, NULL);
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
	const char *av[HOSTS_MAX], *rv[HOSTS_MAX];
	for (int i = 0; i < o->nadd; i++)
		av[i] = add[i];
	for (int i = 0; i < o->nremove; i++)
		rv[i] = rem[i];
	char *adds = text_array(av, (size_t)o->nadd), *removes = text_array(rv, (size_t)o->nremove);
	if (!adds || !removes) {
		free(adds);
		free(removes);
		fprintf(stderr, "%s: out of memory\n", WHO);
		return 1;
	}
	const char *v[] = {o->slug, adds, removes};
	PGresult *r = admin_exec(pg, WHO, "SELECT platform.tenant_hosts_change($1, $2::text[], $3::text[])", 3, v);
	free(adds);
	free(removes);
	if (!r)
		return 1;
	const char *list = PQgetvalue(r, 0, 0);
	printf("%s: %s\n", o->slug, list[0] ? list : "(no hosts: the tenant is unreachable)");
	PQclear(r);
	return 0;
}

static int do_status(PGconn *pg, const char *slug, const char *status)
{
	const char *v[] = {slug, status};
	PGresult *r = admin_exec(pg, WHO, "SELECT platform.tenant_set_status($1, $2)", 2, v);
	if (!r)
		return 1;
	PQclear(r);
	printf("%s: %s\n", slug, status);
	return 0;
}

/* The quotas: SIZE options parsed (as the configuration's sizes are),
 * set, then shown with their use. */
static int do_quota(PGconn *pg, const struct opts *o)
{
	int64_t sizes[2] = {-1, -1};
	const char *given[2] = {o->bundles, o->store}, *flag[2] = {"--bundles", "--store"};
	char text[2][24];
	const char *v[3] = {o->slug, NULL, NULL};
	for (int i = 0; i < 2; i++) {
		if (!given[i])
			continue;
		if (config_parse_size(given[i], &sizes[i]) != 0 || sizes[i] < 0) {
			fprintf(stderr, "%s quota: %s '%s' is not a size (bytes, or a number with KiB, MiB or GiB)\n", WHO,
				flag[i], given[i]);
			return 2;
		}
		snprintf(text[i], sizeof(text[i]), "%lld", (long long)sizes[i]);
		v[i + 1] = text[i];
	}
	PGresult *r = admin_exec(pg, WHO,
				 "SELECT bundle_quota, bundle_used, store_quota, store_used"
				 " FROM platform.tenant_quota($1, $2::bigint, $3::bigint)",
				 3, v);
	if (!r)
		return 1;
	if (PQntuples(r) != 1 || PQnfields(r) != 4) {
		PQclear(r);
		fprintf(stderr, "%s quota: no answer\n", WHO);
		return 1;
	}
	char q[32], u[32];
	format_size((size_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10), q, sizeof(q));
	format_size((size_t)strtoll(PQgetvalue(r, 0, 1), NULL, 10), u, sizeof(u));
	printf("%s: bundles %s of %s (%s of %s bytes)\n", o->slug, u, q, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 0));
	format_size((size_t)strtoll(PQgetvalue(r, 0, 2), NULL, 10), q, sizeof(q));
	format_size((size_t)strtoll(PQgetvalue(r, 0, 3), NULL, 10), u, sizeof(u));
	printf("%s: store %s of %s (%s of %s bytes)\n", o->slug, u, q, PQgetvalue(r, 0, 3), PQgetvalue(r, 0, 2));
	PQclear(r);
	return 0;
}

/* ---------------------------------------------------------------- bundles */

static int do_deploy(PGconn *pg, const char *slug, const struct bundle *b)
{
	int rc = 1;
	const char **paths = calloc(b->nfiles + 1, sizeof(*paths));
	const char **data = calloc(b->nfiles + 1, sizeof(*data));
	size_t *plens = calloc(b->nfiles + 1, sizeof(*plens));
	size_t *dlens = calloc(b->nfiles + 1, sizeof(*dlens));
	char *patharr = NULL, *dataarr = NULL;
	size_t pathlen = 0, datalen = 0;
	if (!paths || !data || !plens || !dlens)
		goto nomem;
	for (size_t i = 0; i < b->nfiles; i++) {
		paths[i] = b->files[i].path;
		plens[i] = strlen(b->files[i].path);
		data[i] = b->files[i].data;
		dlens[i] = b->files[i].len;
	}
	/* The files travel as two arrays in binary (static files are not
	 * text): their paths and their contents, in the same order. */
	patharr = db_binary_array(PG_TEXTOID, b->nfiles, paths, plens, &pathlen);
	dataarr = db_binary_array(PG_BYTEAOID, b->nfiles, data, dlens, &datalen);
	if (!patharr || !dataarr)
		goto nomem;
	char total[24], user[256];
	snprintf(total, sizeof(total), "%zu", b->total_bytes);
	os_user(user, sizeof(user));
	const char *v[] = {slug, b->checksum, total, user, patharr, dataarr};
	const int lens[] = {0, 0, 0, 0, (int)pathlen, (int)datalen};
	const int formats[] = {0, 0, 0, 0, 1, 1};
	/* The statement names the lock it may wait for, as pg_stat_activity
	 * shows it: deploys and rollbacks of one tenant take turns on the
	 * tenant's row (platform.tenant_find). */
	PGresult *r = admin_exec_params(pg, WHO,
					"SELECT version, unchanged FROM platform.tenant_deploy($1, $2, $3, $4, $5::text[],"
					" $6::bytea[]) /* the tenant's row FOR UPDATE */",
					6, v, lens, formats);
	if (!r)
		goto out;
	int version = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
	bool unchanged = PQgetvalue(r, 0, 1)[0] == 't';
	PQclear(r);
	char size[32];
	format_size(b->total_bytes, size, sizeof(size));
	if (unchanged)
		printf("%s: unchanged, version %d is current\n", slug, version);
	else
		printf("%s: version %d deployed (%zu file%s, %s)\n", slug, version, b->nfiles, b->nfiles == 1 ? "" : "s",
		       size);
	rc = 0;
	goto out;
nomem:
	fprintf(stderr, "%s: out of memory\n", WHO);
out:
	free(patharr);
	free(dataarr);
	free(paths);
	free(data);
	free(plens);
	free(dlens);
	return rc;
}

static int do_versions(PGconn *pg, const char *slug)
{
	const char *v[] = {slug};
	PGresult *r = admin_exec(pg, WHO,
				 "SELECT version, to_char(created_at, 'YYYY-MM-DD HH24:MI:SS'), nfiles, total_bytes,"
				 " left(checksum, 12), created_by, is_current FROM platform.tenant_versions($1)",
				 1, v);
	if (!r)
		return 1;
	if (PQntuples(r) == 0) {
		printf("%s: no version deployed yet (aantafel tenant deploy %s)\n", slug, slug);
		PQclear(r);
		return 0;
	}
	printf("  %-8s %-19s %6s %10s  %-12s  %s\n", "VERSION", "CREATED", "FILES", "BYTES", "CHECKSUM", "BY");
	for (int i = 0; i < PQntuples(r); i++)
		printf("%c %-8s %-19s %6s %10s  %-12s  %s\n", strcmp(PQgetvalue(r, i, 6), "t") == 0 ? '*' : ' ',
		       PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
		       PQgetvalue(r, i, 4), PQgetvalue(r, i, 5));
	PQclear(r);
	return 0;
}

static int do_rollback(PGconn *pg, const char *slug, int version)
{
	char vs[16];
	snprintf(vs, sizeof(vs), "%d", version);
	const char *v[] = {slug, vs};
	PGresult *r = admin_exec(pg, WHO, "SELECT platform.tenant_rollback($1, $2)", 2, v);
	if (!r)
		return 1;
	int was = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	if (was == version)
		printf("%s: version %d is already current\n", slug, version);
	else
		printf("%s: version %d is current (was %d)\n", slug, version, was);
	return 0;
}

/* Deletes a suspended tenant and everything it has; prints the rows
 * deleted, table by table. */
static int do_delete(PGconn *pg, const char *slug)
{
	const char *v[] = {slug};
	PGresult *r = admin_exec(pg, WHO, "SELECT table_name, deleted FROM platform.tenant_delete($1)", 1, v);
	if (!r)
		return 1;
	long long total = 0;
	for (int i = 0; i < PQntuples(r); i++)
		total += db_int(r, i, 1);
	printf("%s: deleted, %lld rows in all\n", slug, total);
	for (int i = 0; i < PQntuples(r); i++)
		if (strcmp(PQgetvalue(r, i, 1), "0") != 0)
			printf("  %-28s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
	PQclear(r);
	return 0;
}

static struct bundle *read_platform(const char *plugins_dir, const char *who)
{
	char err[512];
	struct bundle *b = bundle_read_dir(plugins_dir, err, sizeof(err));
	if (!b)
		fprintf(stderr, "%s: the platform plugins (plugins_dir): %s\n", who, err);
	return b;
}

/* Reads DIR and validates it as SLUG's bundle; prints every problem, each
 * line naming DIR (and led by LABEL unless NULL), and returns NULL when
 * there is one. */
/* A theme token of the table on top of the stack, if it is a string (raw
 * reads: no metamethod runs outside the sandbox's budget). */
static const char *theme_token(lua_State *L, const char *name)
{
	lua_pushstring(L, name);
	lua_rawget(L, -2);
	const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
	lua_pop(L, 1); /* the string stays reachable from the theme table */
	return v;
}

/* Prints "warning: DIR: ..." for each theme colour of B's tenant.lua whose
 * contrast with the background is below WCAG AA: text, and primary (the
 * links). tenant.lua runs in a fresh sandbox of its own; a bundle whose
 * tenant.lua does not load this way was judged by the check already, and
 * a theme without colours that parse has nothing to warn about. */
static void theme_warnings(const struct bundle *b, const char *dir)
{
	const struct bundle_file *f = bundle_find(b, "tenant.lua");
	if (!f)
		return;
	char err[512];
	struct lsandbox *sb = lsb_new(THEME_MEM, "check", err, sizeof(err));
	if (!sb)
		return;
	lua_State *L = sb->L;
	struct lbudget budget;
	lsb_budget_init(&budget, THEME_INSTRUCTIONS, THEME_MS);
	lsb_push_env(sb);
	if (lsb_load(sb, f->data, f->len, "tenant.lua", -1, err, sizeof(err)) != 0)
		goto done;
	lua_remove(L, -2);
	if (lsb_call(sb, 0, 1, &budget, err, sizeof(err)) != 0 || lua_type(L, -1) != LUA_TTABLE)
		goto done;
	lua_pushstring(L, "theme");
	lua_rawget(L, -2);
	if (lua_type(L, -1) != LUA_TTABLE)
		goto done;
	const char *background = theme_token(L, "background");
	const char *tokens[] = {"text", "primary"};
	for (size_t i = 0; background && i < sizeof(tokens) / sizeof(tokens[0]); i++) {
		char msg[512];
		const char *fg = theme_token(L, tokens[i]);
		if (fg && contrast_warning(tokens[i], fg, background, msg, sizeof(msg)))
			fprintf(stderr, "warning: %s: %s\n", dir, msg);
	}
done:
	lsb_free(sb);
}

static struct bundle *read_checked(const struct bundle *platform, const char *dir, const char *slug,
				   const char *label)
{
	char err[512];
	struct bundle *b = bundle_read_dir(dir, err, sizeof(err));
	if (!b) {
		if (label)
			fprintf(stderr, "%s: %s\n", label, err);
		else
			fprintf(stderr, "%s\n", err);
		return NULL;
	}
	char *problems = calloc(1, PROBLEMS_MAX);
	if (!problems) {
		fprintf(stderr, "%s: out of memory\n", label ? label : dir);
		bundle_unref(b);
		return NULL;
	}
	if (runtime_check_bundle(platform, b, slug, problems, PROBLEMS_MAX) != 0) {
		if (!problems[0])
			snprintf(problems, PROBLEMS_MAX, "the bundle is not valid");
		for (char *line = problems, *end; line && *line; line = end ? end + 1 : NULL) {
			end = strchr(line, '\n');
			if (end)
				*end = '\0';
			if (*line && label)
				fprintf(stderr, "%s: %s: %s\n", label, dir, line);
			else if (*line)
				fprintf(stderr, "%s: %s\n", dir, line);
		}
		bundle_unref(b);
		b = NULL;
	}
	free(problems);
	return b;
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

/* A text[] literal of N items ("{}" for none), each quoted; malloc'd. */
static char *text_array(const char *const *items, size_t n)
{
	size_t len = 3;
	for (size_t i = 0; i < n; i++)
		len += 2 * strlen(items[i]) + 3;
	char *out = malloc(len), *p = out;
	if (!out)
		return NULL;
	*p++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		*p++ = '"';
		for (const char *c = items[i]; *c; c++) {
			if (*c == '"' || *c == '\\')
				*p++ = '\\';
			*p++ = *c;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return out;
}

static void format_size(size_t bytes, char *out, size_t outlen)
{
	if (bytes < 1024)
		snprintf(out, outlen, "%zu byte%s", bytes, bytes == 1 ? "" : "s");
	else if (bytes < 1024 * 1024)
		snprintf(out, outlen, "%zu KiB", (bytes + 512) / 1024);
	else
		snprintf(out, outlen, "%.1f MiB", (double)bytes / (1024 * 1024));
}

/* Who runs the deploy, for the record. */
static void os_user(char *out, size_t outlen)
{
	struct passwd *pw = getpwuid(geteuid());
	if (pw && pw->pw_name && pw->pw_name[0])
		snprintf(out, outlen, "%s", pw->pw_name);
	else
		snprintf(out, outlen, "uid %u", (unsigned)geteuid());
}
