/* `aantafel jobs list [--tenant SLUG] [--failed]`: the durable timed jobs
 * (sql/023_jobs.sql) that are due, taken, waiting or failed, with their
 * attempts and last error. As the owner role, through platform.jobs_list
 * (sql/code/jobs.sql), which enters each tenant in turn. */
#include "jobs_cmd.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"

static const char *WHO = "aantafel jobs";

const char jobs_cmd_usage[] =
	"usage: aantafel jobs list [--tenant SLUG] [--failed] [-c FILE]\n\n"
	"Lists the scheduler's pending jobs (due, taken by a daemon until its\n"
	"lease ends, waiting, or retrying after a failed attempt) and the failed\n"
	"ones, with their attempts and last error; of every tenant or of SLUG's.\n"
	"--failed lists only the failed jobs and those whose last attempt failed.\n\n"
	"  -c, --config FILE  configuration file (owner_database_url)\n";

int jobs_cmd(int argc, char **argv, const char *config_path)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(jobs_cmd_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "list") != 0) {
		fprintf(stderr, "%s: unknown subcommand '%s'\n%s", WHO, argv[1], jobs_cmd_usage);
		return 2;
	}
	const char *slug = NULL;
	bool failed = false;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc && !slug) {
			slug = argv[++i];
		} else if (strcmp(argv[i], "--failed") == 0) {
			failed = true;
		} else {
			fprintf(stderr, "%s: unknown or incomplete option '%s'\n%s", WHO, argv[i], jobs_cmd_usage);
			return 2;
		}
	}
	struct config *cfg = admin_config(config_path, WHO);
	if (!cfg)
		return 1;
	PGconn *pg = admin_connect(cfg, WHO);
	config_unref(cfg);
	if (!pg)
		return 1;
	const char *v[] = {slug, failed ? "true" : "false"};
	/* In a transaction block: platform.jobs_list enters each tenant with
	 * SET LOCAL, which reaches a Citus cluster's workers only in one. */
	PGresult *r = admin_exec(pg, WHO, "BEGIN", 0, NULL);
	if (!r) {
		PQfinish(pg);
		return 1;
	}
	PQclear(r);
	r = admin_exec(pg, WHO,
				 "SELECT slug, id, kind, subject, status,"
				 " to_char(run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS\"Z\"'), attempts,"
				 " coalesce(taken_by, '-'),"
				 " coalesce(to_char(lease_until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS\"Z\"'), '-'),"
				 " coalesce(last_error, '')"
				 " FROM platform.jobs_list($1, $2::boolean)",
				 2, v);
	PQfinish(pg);           /* read only: the transaction ends with it */
	if (!r)
		return 1;
	printf("%-16s %-8s %-16s %-10s %-9s %-20s %-8s %-20s %s\n", "TENANT", "ID", "KIND", "SUBJECT", "STATUS",
	       "RUN_AT", "ATTEMPTS", "LEASE_UNTIL", "TAKEN_BY / LAST_ERROR");
	for (int i = 0; i < PQntuples(r); i++) {
		const char *err = PQgetvalue(r, i, 9);
		printf("%-16s %-8s %-16s %-10s %-9s %-20s %-8s %-20s %s%s%.*s\n", PQgetvalue(r, i, 0),
		       PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4),
		       PQgetvalue(r, i, 5), PQgetvalue(r, i, 6), PQgetvalue(r, i, 8), PQgetvalue(r, i, 7),
		       err[0] ? " / " : "", (int)strcspn(err, "\n"), err);
	}
	PQclear(r);
	return 0;
}
