/* aantafel: one binary, subcommands. Each subcommand answers --help. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "app.h"
#include "config.h"
#include "log.h"
#include "migrate.h"
#include "password.h"
#include "jobs_cmd.h"
#include "tenant_cmd.h"
#include "user_cmd.h"

#define AANTAFEL_VERSION "0.1.0"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
	const char *usage;
};

static int cmd_serve(int argc, char **argv);
static int cmd_check(int argc, char **argv);
static int cmd_migrate(int argc, char **argv);
static int cmd_tenant(int argc, char **argv);
static int cmd_user(int argc, char **argv);
static int cmd_jobs(int argc, char **argv);
static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const struct command commands[] = {
	{"serve", cmd_serve, "run the daemon",
	 "usage: aantafel serve [-c FILE]\n\n"
	 "Serves HTTP on the configured address until SIGTERM or SIGINT (finish\n"
	 "in-flight requests, exit 0). SIGHUP reloads the configuration file; an\n"
	 "invalid file is refused and logged and the running one keeps serving.\n\n"
	 "  -c, --config FILE  configuration file (default: $AANTAFEL_CONFIG, else\n"
	 "                     built-in defaults); AANTAFEL_<OPTION> variables\n"
	 "                     override it, e.g. AANTAFEL_LISTEN=0.0.0.0:8080\n"},
	{"check", cmd_check, "validate the configuration and the tenant bundles",
	 "usage: aantafel check [-c FILE] [--tenants DIR] [--options]\n\n"
	 "Reads the configuration as serve would and reports the first bad\n"
	 "option by file, line and name. Then reads the platform plugins\n"
	 "(plugins_dir) and checks the bundle in each folder of DIR as\n"
	 "`aantafel tenant deploy` would, printing \"ok: DIR/SLUG\" or every\n"
	 "problem. Exit 0 when all is valid, 1 otherwise.\n\n"
	 "  -c, --config FILE  configuration file (as for serve)\n"
	 "      --tenants DIR  the folders of the tenant bundles (default: tenants;\n"
	 "                     when that is missing there is nothing to check)\n"
	 "      --options      print the table of options (Markdown) and exit\n"},
	{"migrate", cmd_migrate, "apply the schema migrations and the database's code",
	 "usage: aantafel migrate [-c FILE] [--distribute]\n\n"
	 "Applies sql_dir/NNN_*.sql in order, each once, as the owner role\n"
	 "(owner_database_url). Each file runs in one transaction with its record\n"
	 "(name, SHA-256). Refuses to continue when an applied file has changed.\n"
	 "Then applies the database's code, sql_dir/code/*.sql (functions, views,\n"
	 "grants), every time, in one transaction, dropping what the files no\n"
	 "longer define. Safe to run twice, and from two processes at once\n"
	 "(advisory lock).\n\n"
	 "      --distribute  then spread the tables over a Citus cluster\n"
	 "                    (sql_dir/citus/distribute.sql): the tenant tables\n"
	 "                    by tenant_id, colocated, the registry and bundles as\n"
	 "                    reference tables. Needs the citus extension in the\n"
	 "                    database; safe to repeat (docs/operations.md,\n"
	 "                    \"Scaling out\").\n"},
	{"tenant", cmd_tenant, "create, list, change, suspend and resume tenants", tenant_cmd_usage},
	{"user", cmd_user, "create accounts (a municipality's first administrator)", user_cmd_usage},
	{"jobs", cmd_jobs, "list the scheduler's jobs: due, taken, waiting and failed", jobs_cmd_usage},
	{"help", cmd_help, "show help for a command", "usage: aantafel help [COMMAND]\n"},
	{"version", cmd_version, "print the version", "usage: aantafel version\n"},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out, "usage: aantafel COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nRun 'aantafel COMMAND --help' for a command's options.\n");
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(0, NULL);
	const struct command *cmd = find_command(argv[1]);
	if (!cmd) {
		fprintf(stderr, "aantafel: unknown command '%s'\n\n", argv[1]);
		usage(stderr);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(cmd->usage, stdout);
			return 0;
		}
	}
	return cmd->run(argc - 1, argv + 1);
}

/* Parses the -c/--config option shared by the commands, and --options and
 * --tenants DIR where the caller takes them (non-NULL); other arguments
 * are refused by name. Returns 0, or 2 on a usage error. */
static int config_args(int argc, char **argv, const char **path, int *options, const char **tenants)
{
	*path = getenv("AANTAFEL_CONFIG");
	if (*path && !**path)
		*path = NULL;
	for (int i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
			*path = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			*path = argv[i] + 9;
		} else if (options && strcmp(argv[i], "--options") == 0) {
			*options = 1;
		} else if (tenants && strcmp(argv[i], "--tenants") == 0 && i + 1 < argc) {
			*tenants = argv[++i];
		} else if (tenants && strncmp(argv[i], "--tenants=", 10) == 0) {
			*tenants = argv[i] + 10;
		} else {
			fprintf(stderr, "aantafel %s: unexpected argument '%s' (see --help)\n", argv[0], argv[i]);
			return 2;
		}
	}
	return 0;
}

static int cmd_serve(int argc, char **argv)
{
	const char *path;
	char err[512];
	if (config_args(argc, argv, &path, NULL, NULL) != 0)
		return 2;
	struct config *cfg = config_load(path, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "aantafel: configuration: %s\n", err);
		return 1;
	}
	if (log_configure(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "aantafel: %s\n", err);
		config_unref(cfg);
		return 1;
	}
	/* Sign-up must never run without the list of common passwords. */
	if (password_load_common(cfg->common_passwords_file, err, sizeof(err)) != 0) {
		fprintf(stderr, "aantafel: common_passwords_file: %s\n", err);
		config_unref(cfg);
		return 1;
	}
	config_set_current(cfg);
	int rc = app_serve(cfg);
	config_set_current(NULL);
	config_unref(cfg);
	password_free_common();
	return rc;
}

static int cmd_check(int argc, char **argv)
{
	const char *path, *tenants = NULL;
	int options = 0;
	char err[512];
	if (config_args(argc, argv, &path, &options, &tenants) != 0)
		return 2;
	if (options) {
		config_describe(stdout);
		return 0;
	}
	struct config *cfg = config_load(path, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "aantafel check: %s\n", err);
		return 1;
	}
	if (password_load_common(cfg->common_passwords_file, err, sizeof(err)) != 0) {
		fprintf(stderr, "aantafel check: common_passwords_file: %s\n", err);
		config_unref(cfg);
		return 1;
	}
	password_free_common();
	printf("configuration %s: ok\n", path ? path : "(defaults and environment)");
	int rc = tenant_check_bundles(cfg->plugins_dir, tenants ? tenants : "tenants", tenants != NULL);
	config_unref(cfg);
	return rc;
}

/* Takes -c FILE / --config FILE / --config=FILE out of argv (anywhere
 * after the command); returns the path or $AANTAFEL_CONFIG or NULL. */
static const char *take_config(int *argc, char **argv)
{
	const char *path = getenv("AANTAFEL_CONFIG");
	if (path && !*path)
		path = NULL;
	int o = 1;
	for (int i = 1; i < *argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < *argc)
			path = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9;
		else
			argv[o++] = argv[i];
	}
	*argc = o;
	argv[o] = NULL;
	return path;
}

static int cmd_migrate(int argc, char **argv)
{
	const char *path;
	bool distribute = false;
	int o = 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--distribute") == 0)
			distribute = true;
		else
			argv[o++] = argv[i];
	}
	argc = o;
	if (config_args(argc, argv, &path, NULL, NULL) != 0)
		return 2;
	struct config *cfg = admin_config(path, "aantafel migrate");
	if (!cfg)
		return 1;
	int rc = migrate_run(cfg, distribute);
	config_unref(cfg);
	return rc;
}

static int cmd_tenant(int argc, char **argv)
{
	const char *path = take_config(&argc, argv);
	return tenant_cmd(argc, argv, path);
}

static int cmd_user(int argc, char **argv)
{
	const char *path = take_config(&argc, argv);
	return user_cmd(argc, argv, path);
}

static int cmd_jobs(int argc, char **argv)
{
	const char *path = take_config(&argc, argv);
	return jobs_cmd(argc, argv, path);
}

static int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	const struct command *cmd = find_command(argv[1]);
	if (!cmd) {
		fprintf(stderr, "aantafel help: unknown command '%s'\n", argv[1]);
		return 2;
	}
	fputs(cmd->usage, stdout);
	return 0;
}

static int cmd_version(int argc, char **argv)
{
	printf("aantafel %s\n", AANTAFEL_VERSION);
	return 0;
}
