/* Blocking database helpers for the provider's commands. */
#include "admin.h"

#include <stdio.h>
#include <string.h>

PGconn *admin_connect(const struct config *cfg, const char *who)
{
	if (!cfg->owner_database_url[0]) {
		fprintf(stderr, "%s: owner_database_url is not set (configuration file or AANTAFEL_OWNER_DATABASE_URL)\n",
			who);
		return NULL;
	}
	const char *keys[] = {"dbname", "application_name", NULL};
	const char *vals[] = {cfg->owner_database_url, "aantafel-admin", NULL};
	PGconn *pg = PQconnectdbParams(keys, vals, 1);
	if (!pg || PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "%s: cannot connect to the database: %s", who, pg ? PQerrorMessage(pg) : "out of memory\n");
		PQfinish(pg);
		return NULL;
	}
	PGresult *r = PQexec(pg, "SET client_min_messages = warning");
	PQclear(r);
	return pg;
}

PGresult *admin_exec(PGconn *pg, const char *who, const char *sql, int nparams, const char *const *values)
{
	return admin_exec_params(pg, who, sql, nparams, values, NULL, NULL);
}

PGresult *admin_exec_params(PGconn *pg, const char *who, const char *sql, int nparams, const char *const *values,
			    const int *lengths, const int *formats)
{
	PGresult *r = PQexecParams(pg, sql, nparams, NULL, values, lengths, formats, 0);
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	/* A refusal of the commands' functions (SQLSTATE class AT,
	 * sql/code/provider.sql) is a sentence for the provider; any other
	 * error is the database's own, said as it is, without the SQL. */
	const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	fprintf(stderr, "%s: %s\n", who, msg ? msg : PQerrorMessage(pg));
	PQclear(r);
	return NULL;
}

struct config *admin_config(const char *path, const char *who)
{
	char err[512];
	struct config *cfg = config_load(path, err, sizeof(err));
	if (!cfg)
		fprintf(stderr, "%s: configuration: %s\n", who, err);
	return cfg;
}
