/* Schema migrations and the database's code. The numbered files
 * (sql_dir/NNN_name.sql) change the schema: each runs once, in its own
 * transaction together with its bookkeeping row, so a failing file leaves
 * nothing half-applied. The code (the .sql files of sql_dir/code: the functions of the
 * schemas api and platform, and who may call them) is applied after them,
 * every time, in one transaction of its own; see apply_code. */
#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "admin.h"
#include "encode.h"

#define MIGRATION_MAX (4 * 1024 * 1024)
#define MIGRATIONS_MAX 10000
#define MIGRATE_LOCK "7301170617"   /* pg_advisory_lock key, any constant */
#define CODE_DIR "code"
#define CODE_GRANTS "grants.sql"    /* applied last, after the privileges are reset */
#define CODE_SCHEMAS "{api,platform}"
#define DISTRIBUTE_FILE "citus/distribute.sql"
#define DELEGATE_FILE "citus/delegate.sql"

static const char *WHO = "aantafel migrate";

static int list_files(const char *dir, char ***out, size_t *n);
static int list_code_files(const char *dir, char ***out, size_t *n);
static void free_list(char **files, size_t n);
static char *read_file(const char *path, size_t *len);
static void sha256_hex(const char *data, size_t len, char out[65]);
static int apply_one(PGconn *pg, const char *dir, const char *name, const char *sql, const char *sum);
static int apply_code(PGconn *pg, const char *dir, char **files, size_t n);
static int run_code_file(PGconn *pg, const char *dir, const char *name);
static int distribute(PGconn *pg, const char *dir);
static int delegate(PGconn *pg, const char *dir);
static PGresult *sweep_code(PGconn *pg, const char *dir);
static int validate_code(PGconn *pg, const char *dir, int *nfunctions);
static PGresult *code_exec(PGconn *pg, const char *dir, const char *sql, int nparams, const char *const *values);
static void report_error(const char *where, int line, const PGresult *r, PGconn *pg, const char *hint);
static int error_line(const char *sql, const PGresult *r);
static void rollback(PGconn *pg);
static int cmp_names(const void *a, const void *b);

int migrate_run(const struct config *cfg, bool distribute_tables)
{
	char **files = NULL, **code = NULL;
	size_t nfiles = 0, ncode = 0;
	int rc = 1, applied = 0;
	PGresult *r;
	PGconn *pg = NULL;
	char code_dir[4096];

	snprintf(code_dir, sizeof(code_dir), "%s/%s", cfg->sql_dir, CODE_DIR);
	if (list_files(cfg->sql_dir, &files, &nfiles) != 0 || list_code_files(code_dir, &code, &ncode) != 0)
		goto out;
	pg = admin_connect(cfg, WHO);
	if (!pg)
		goto out;

	/* Waits while another migrate runs; released when we disconnect. */
	const char *lock[] = {MIGRATE_LOCK};
	if (!(r = admin_exec(pg, WHO, "SELECT pg_advisory_lock($1::bigint)", 1, lock)))
		goto out;
	PQclear(r);
	if (!(r = admin_exec(pg, WHO, "CREATE SCHEMA IF NOT EXISTS platform", 0, NULL)))
		goto out;
	PQclear(r);
	if (!(r = admin_exec(pg, WHO,
			     "CREATE TABLE IF NOT EXISTS platform.schema_migrations ("
			     " name text PRIMARY KEY, checksum text NOT NULL,"
			     " applied_at timestamptz NOT NULL DEFAULT now())",
			     0, NULL)))
		goto out;
	PQclear(r);
	if (!(r = admin_exec(pg, WHO, "SELECT name, checksum FROM platform.schema_migrations ORDER BY name", 0, NULL)))
		goto out;
	PGresult *done = r;

	/* An applied migration whose file is gone means this code is older
	 * than the database. */
	for (int i = 0; i < PQntuples(done); i++) {
		const char *name = PQgetvalue(done, i, 0);
		bool found = false;
		for (size_t k = 0; k < nfiles && !found; k++)
			found = strcmp(files[k], name) == 0;
		if (!found)
			fprintf(stderr, "%s: warning: %s was applied but is not in %s (is this binary older than the database?)\n",
				WHO, name, cfg->sql_dir);
	}

	for (size_t k = 0; k < nfiles; k++) {
		char path[4096];
		size_t len;
		snprintf(path, sizeof(path), "%s/%s", cfg->sql_dir, files[k]);
		char *sql = read_file(path, &len);
		if (!sql) {
			PQclear(done);
			goto out;
		}
		char sum[65];
		sha256_hex(sql, len, sum);
		int row = -1;
		for (int i = 0; i < PQntuples(done); i++)
			if (strcmp(PQgetvalue(done, i, 0), files[k]) == 0)
				row = i;
		if (row >= 0) {
			if (strcmp(PQgetvalue(done, row, 1), sum) != 0) {
				fprintf(stderr,
					"%s: %s was changed after it was applied (applied sha256 %s, file now %s);\n"
					"  applied migrations are immutable: put the change in a new numbered file\n",
					WHO, path, PQgetvalue(done, row, 1), sum);
				free(sql);
				PQclear(done);
				goto out;
			}
			free(sql);
			continue;
		}
		int ok = apply_one(pg, cfg->sql_dir, files[k], sql, sum);
		free(sql);
		if (ok != 0) {
			PQclear(done);
			goto out;
		}
		printf("applied %s\n", files[k]);
		applied++;
	}
	PQclear(done);
	if (applied == 0)
		printf("database schema is up to date (%zu migrations)\n", nfiles);
	/* Distributed before the code is applied: Citus creates a function on
	 * the workers only once the tables it uses are distributed. */
	if (distribute_tables && distribute(pg, cfg->sql_dir) != 0)
		goto out;
	if (apply_code(pg, code_dir, code, ncode) != 0)
		goto out;
	if (delegate(pg, cfg->sql_dir) != 0)
		goto out;
	rc = 0;
out:
	PQfinish(pg);
	free_list(files, nfiles);
	free_list(code, ncode);
	return rc;
}

static int apply_one(PGconn *pg, const char *dir, const char *name, const char *sql, const char *sum)
{
	PGresult *r = PQexec(pg, "BEGIN");
	PQclear(r);
	r = PQexec(pg, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		char where[4200];
		snprintf(where, sizeof(where), "%s/%s", dir, name);
		report_error(where, error_line(sql, r), r, pg, NULL);
		PQclear(r);
		rollback(pg);
		return -1;
	}
	PQclear(r);
	const char *v[] = {name, sum};
	if (!(r = admin_exec(pg, WHO, "INSERT INTO platform.schema_migrations (name, checksum) VALUES ($1, $2)", 2, v))) {
		rollback(pg);
		return -1;
	}
	PQclear(r);
	if (!(r = admin_exec(pg, WHO, "COMMIT", 0, NULL)))
		return -1;
	PQclear(r);
	return 0;
}

/* ------------------------------------------------------------ the code */

/* The code is applied in one transaction, every time, so that the
 * database runs exactly what sql/code says, on a fresh database and on
 * one upgraded from any earlier schema alike:
 *
 *  1. every file but grants.sql, in name order. They hold CREATE OR
 *     REPLACE FUNCTION (and VIEW) only, which keeps each object's identity:
 *     triggers, policies and defaults that use a function go on working,
 *     and so do running daemons (their cached plans are replanned, never
 *     pointed at a dropped function). Function bodies are checked in step
 *     3, once every function exists, so the files may come in any order.
 *  2. the sweep: every function and view of the schemas api and platform
 *     that step 1 did not define is dropped (RESTRICT: one that a trigger
 *     or a policy still uses stops the migration). What step 1 defined is
 *     told by the catalogue row's xmin: CREATE OR REPLACE writes a new row
 *     version, and only this transaction's rows carry its id.
 *  3. every remaining function's body is checked by its language's
 *     validator against the schema as it is now.
 *  4. every privilege on those functions and views is taken from everyone
 *     but their owner, and grants.sql grants what the daemon may call.
 *
 * A change CREATE OR REPLACE cannot make (another return type, renamed
 * parameters) needs the old function dropped first, in a numbered file. */
static int apply_code(PGconn *pg, const char *dir, char **files, size_t n)
{
	PGresult *r, *dropped = NULL;
	int nfunctions = 0;
	bool grants = false;

	if (!(r = admin_exec(pg, WHO, "BEGIN", 0, NULL)))
		return -1;
	PQclear(r);
	if (!(r = code_exec(pg, dir, "SET LOCAL check_function_bodies = off", 0, NULL)))
		goto fail;
	PQclear(r);
	for (size_t k = 0; k < n; k++) {
		if (strcmp(files[k], CODE_GRANTS) == 0) {
			grants = true;
			continue;
		}
		if (run_code_file(pg, dir, files[k]) != 0)
			goto fail;
	}
	if (!(dropped = sweep_code(pg, dir)) || validate_code(pg, dir, &nfunctions) != 0)
		goto fail;

	const char *schemas[] = {CODE_SCHEMAS};
	if (!(r = code_exec(pg, dir,
			    "SELECT format('REVOKE ALL ON %s %s FROM %s', o.kind, o.name,"
			    "              CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END)"
			    "  FROM (SELECT 'ROUTINE' AS kind, p.oid::regprocedure::text AS name, p.proowner AS owner,"
			    "               coalesce(p.proacl, acldefault('f', p.proowner)) AS acl"
			    "          FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace"
			    "         WHERE s.nspname = ANY ($1::text[])"
			    "        UNION ALL"
			    "        SELECT 'TABLE', c.oid::regclass::text, c.relowner,"
			    "               coalesce(c.relacl, acldefault('r', c.relowner))"
			    "          FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace"
			    "         WHERE s.nspname = ANY ($1::text[]) AND c.relkind = 'v') o"
			    "  CROSS JOIN LATERAL aclexplode(o.acl) a"
			    " WHERE a.grantee <> o.owner"
			    " GROUP BY o.kind, o.name, a.grantee ORDER BY 1",
			    1, schemas)))
		goto fail;
	for (int i = 0; i < PQntuples(r); i++) {
		PGresult *q = code_exec(pg, dir, PQgetvalue(r, i, 0), 0, NULL);
		if (!q) {
			PQclear(r);
			goto fail;
		}
		PQclear(q);
	}
	PQclear(r);
	if (grants && run_code_file(pg, dir, CODE_GRANTS) != 0)
		goto fail;
	if (!(r = admin_exec(pg, WHO, "COMMIT", 0, NULL))) {
		PQclear(dropped);
		return -1;
	}
	PQclear(r);
	for (int i = 0; i < PQntuples(dropped); i++)
		printf("dropped %s %s (not in %s)\n", PQgetvalue(dropped, i, 2), PQgetvalue(dropped, i, 1), dir);
	PQclear(dropped);
	printf("code from %s: %zu files, %d functions\n", dir, n, nfunctions);
	return 0;
fail:
	PQclear(dropped);
	rollback(pg);
	return -1;
}

/* Runs the file NAME of DIR in a transaction of its own. */
static int run_file_alone(PGconn *pg, const char *dir, const char *name)
{
	PGresult *r;
	if (!(r = admin_exec(pg, WHO, "BEGIN", 0, NULL)))
		return -1;
	PQclear(r);
	if (run_code_file(pg, dir, name) != 0) {
		rollback(pg);
		return -1;
	}
	if (!(r = admin_exec(pg, WHO, "COMMIT", 0, NULL)))
		return -1;
	PQclear(r);
	return 0;
}

/* --distribute: the tables spread over a Citus cluster, in a transaction
 * of its own (the file says what and why), then what is distributed. */
static int distribute(PGconn *pg, const char *dir)
{
	PGresult *r;
	if (run_file_alone(pg, dir, DISTRIBUTE_FILE) != 0)
		return -1;
	if (!(r = admin_exec(pg, WHO,
			     "SELECT count(*) FILTER (WHERE partmethod = 'h'), count(DISTINCT colocationid)"
			     " FILTER (WHERE partmethod = 'h'), count(*) FILTER (WHERE partmethod = 'n')"
			     " FROM pg_dist_partition",
			     0, NULL)))
		return -1;
	if (PQntuples(r) == 1 && PQnfields(r) == 3)
		printf("distributed on Citus: %s tenant tables by tenant_id (%s colocation group), %s reference tables\n",
		       PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
	PQclear(r);
	return 0;
}

/* After the code, on a database with Citus (the file does nothing when
 * its tables are not distributed): the API's reading operations run whole
 * on their tenant's worker. */
static int delegate(PGconn *pg, const char *dir)
{
	PGresult *r;
	if (!(r = admin_exec(pg, WHO, "SELECT 1 FROM pg_extension WHERE extname = 'citus'", 0, NULL)))
		return -1;
	bool citus = PQntuples(r) == 1;
	PQclear(r);
	if (!citus)
		return 0;
	if (run_file_alone(pg, dir, DELEGATE_FILE) != 0)
		return -1;
	if (!(r = admin_exec(pg, WHO,
			     "SELECT count(*) FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace"
			     " WHERE s.nspname = 'api' AND p.oid IN (SELECT o.objid FROM pg_dist_object o"
			     " WHERE o.classid = 'pg_proc'::regclass AND o.force_delegation AND o.distribution_argument_index = 0)",
			     0, NULL)))
		return -1;
	if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "0") != 0)
		printf("delegated on Citus: %s reading operations run on their tenant's worker\n", PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

static int run_code_file(PGconn *pg, const char *dir, const char *name)
{
	char path[4200];
	size_t len;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	char *sql = read_file(path, &len);
	if (!sql)
		return -1;
	PGresult *r = PQexec(pg, sql);
	int rc = 0;
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		report_error(path, error_line(sql, r), r, pg, NULL);
		rc = -1;
	} else if (PQtransactionStatus(pg) != PQTRANS_INTRANS) {
		fprintf(stderr, "%s: %s: ends the transaction; code files hold definitions only\n", WHO, path);
		rc = -1;
	}
	PQclear(r);
	free(sql);
	return rc;
}

/* Step 2 of apply_code: drops what the code no longer defines, views
 * first (they may use the functions). Answers what it dropped (kind,
 * name, kind in lower case), or NULL after an error. */
static PGresult *sweep_code(PGconn *pg, const char *dir)
{
	const char *schemas[] = {CODE_SCHEMAS};
	PGresult *r = code_exec(pg, dir,
				"SELECT o.kind, o.name, lower(o.kind) FROM ("
				"  SELECT 1 AS ord, 'VIEW' AS kind, c.oid::regclass::text AS name"
				"    FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace"
				"    JOIN pg_rewrite w ON w.ev_class = c.oid AND w.rulename = '_RETURN'"
				"   WHERE s.nspname = ANY ($1::text[]) AND c.relkind = 'v'"
				"     AND w.xmin <> pg_current_xact_id()::xid"
				"  UNION ALL"
				"  SELECT 2, CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,"
				"         p.oid::regprocedure::text"
				"    FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace"
				"   WHERE s.nspname = ANY ($1::text[]) AND p.xmin <> pg_current_xact_id()::xid) o"
				" ORDER BY o.ord, o.name",
				1, schemas);
	if (!r)
		return NULL;
	for (int i = 0; i < PQntuples(r); i++) {
		char sql[4096];
		const char *kind = PQgetvalue(r, i, 0), *name = PQgetvalue(r, i, 1);
		snprintf(sql, sizeof(sql), "DROP %s %s", kind, name);
		PGresult *q = PQexec(pg, sql);
		if (PQresultStatus(q) != PGRES_COMMAND_OK) {
			char where[4200];
			snprintf(where, sizeof(where), "%s: %s %s is not in the code any more, and cannot go", dir,
				 PQgetvalue(r, i, 2), name);
			report_error(where, 0, q, pg,
				     "define it in the code again, or drop what uses it in a numbered migration");
			PQclear(q);
			PQclear(r);
			return NULL;
		}
		PQclear(q);
	}
	return r;
}

/* Step 3 of apply_code: each function's body checked as CREATE would
 * with check_function_bodies on; counts the functions. */
static int validate_code(PGconn *pg, const char *dir, int *nfunctions)
{
	const char *schemas[] = {CODE_SCHEMAS};
	PGresult *r;
	if (!(r = code_exec(pg, dir, "SET LOCAL check_function_bodies = on", 0, NULL)))
		return -1;
	PQclear(r);
	r = code_exec(pg, dir,
		      "SELECT p.oid::text, p.oid::regprocedure::text, l.lanvalidator::regproc::text"
		      "  FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace"
		      "  JOIN pg_language l ON l.oid = p.prolang"
		      " WHERE s.nspname = ANY ($1::text[]) ORDER BY 2",
		      1, schemas);
	if (!r)
		return -1;
	*nfunctions = PQntuples(r);
	for (int i = 0; i < PQntuples(r); i++) {
		const char *validator = PQgetvalue(r, i, 2);
		if (strcmp(validator, "-") == 0)
			continue;
		char sql[512];
		snprintf(sql, sizeof(sql), "SELECT %s($1::oid)", validator);
		const char *v[] = {PQgetvalue(r, i, 0)};
		PGresult *q = PQexecParams(pg, sql, 1, NULL, v, NULL, NULL, 0);
		if (PQresultStatus(q) != PGRES_TUPLES_OK) {
			char where[4200];
			snprintf(where, sizeof(where), "%s: %s", dir, PQgetvalue(r, i, 1));
			report_error(where, 0, q, pg, NULL);
			PQclear(q);
			PQclear(r);
			return -1;
		}
		PQclear(q);
	}
	PQclear(r);
	return 0;
}

/* A statement of the code's transaction; errors name the directory. */
static PGresult *code_exec(PGconn *pg, const char *dir, const char *sql, int nparams, const char *const *values)
{
	PGresult *r = PQexecParams(pg, sql, nparams, NULL, values, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
		return r;
	report_error(dir, 0, r, pg, NULL);
	PQclear(r);
	return NULL;
}

/* "aantafel migrate: WHERE[:LINE]: message", then the server's detail,
 * hint (or HINT instead) and context, each on a line of its own. */
static void report_error(const char *where, int line, const PGresult *r, PGconn *pg, const char *hint)
{
	const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	const char *extra[] = {PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL),
			       hint ? hint : PQresultErrorField(r, PG_DIAG_MESSAGE_HINT),
			       PQresultErrorField(r, PG_DIAG_CONTEXT)};
	const char *label[] = {"detail", "hint", "context"};
	if (line)
		fprintf(stderr, "%s: %s:%d: %s\n", WHO, where, line, msg ? msg : PQerrorMessage(pg));
	else
		fprintf(stderr, "%s: %s: %s\n", WHO, where, msg ? msg : PQerrorMessage(pg));
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		if (extra[i])
			fprintf(stderr, "  %s: %s\n", label[i], extra[i]);
}

/* The line of SQL an error's position points at, or 0. The position counts
 * characters from 1; lines are counted up to it, stepping over UTF-8
 * continuation bytes. */
static int error_line(const char *sql, const PGresult *r)
{
	const char *pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
	if (!pos)
		return 0;
	long want = strtol(pos, NULL, 10), chars = 0;
	int line = 1;
	for (const char *p = sql; *p && chars < want - 1; p++) {
		if (((unsigned char)*p & 0xC0) != 0x80)
			chars++;
		if (*p == '\n')
			line++;
	}
	return line;
}

static void rollback(PGconn *pg)
{
	PGresult *r = PQexec(pg, "ROLLBACK");
	PQclear(r);
}

/* ------------------------------------------------------------ files */

/* NNN_name.sql, sorted; two files with one number are refused. */
static int list_files(const char *dir, char ***out, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "%s: sql_dir %s: %s\n", WHO, dir, strerror(errno));
		return -1;
	}
	char **files = NULL;
	size_t count = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *nm = e->d_name;
		size_t len = strlen(nm);
		if (len < 9 || strcmp(nm + len - 4, ".sql") != 0)
			continue;
		if (!(nm[0] >= '0' && nm[0] <= '9' && nm[1] >= '0' && nm[1] <= '9' && nm[2] >= '0' && nm[2] <= '9' &&
		      nm[3] == '_'))
			continue;
		if (count >= MIGRATIONS_MAX)
			break;
		char **grown = realloc(files, (count + 1) * sizeof(*files));
		if (!grown)
			break;
		files = grown;
		files[count++] = strdup(nm);
	}
	closedir(d);
	qsort(files, count, sizeof(*files), cmp_names);
	for (size_t i = 1; i < count; i++) {
		if (strncmp(files[i - 1], files[i], 3) == 0) {
			fprintf(stderr, "%s: %s and %s share the number %.3s\n", WHO, files[i - 1], files[i], files[i]);
			free_list(files, count);
			return -1;
		}
	}
	*out = files;
	*n = count;
	return 0;
}

/* NAME.sql in the code's directory, sorted. The directory must be there
 * and hold some: without it the sweep would drop every function. */
static int list_code_files(const char *dir, char ***out, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "%s: the code's directory %s: %s\n", WHO, dir, strerror(errno));
		return -1;
	}
	char **files = NULL;
	size_t count = 0;
	struct dirent *e;
	bool failed = false;
	while ((e = readdir(d))) {
		const char *nm = e->d_name;
		size_t len = strlen(nm);
		if (len < 5 || nm[0] == '.' || strcmp(nm + len - 4, ".sql") != 0)
			continue;
		char **grown = count < MIGRATIONS_MAX ? realloc(files, (count + 1) * sizeof(*files)) : NULL;
		char *copy = grown ? strdup(nm) : NULL;
		if (grown)
			files = grown;
		if (!copy) {
			failed = true;
			break;
		}
		files[count++] = copy;
	}
	closedir(d);
	if (failed || count == 0) {
		fprintf(stderr, "%s: %s: %s\n", WHO, dir, failed ? "too many files" : "holds no .sql files");
		free_list(files, count);
		return -1;
	}
	qsort(files, count, sizeof(*files), cmp_names);
	*out = files;
	*n = count;
	return 0;
}

static void free_list(char **files, size_t n)
{
	for (size_t k = 0; k < n; k++)
		free(files[k]);
	free(files);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	if (!f || fstat(fileno(f), &st) != 0 || st.st_size > MIGRATION_MAX) {
		fprintf(stderr, "%s: %s: %s\n", WHO, path, f ? "larger than 4 MiB" : strerror(errno));
		if (f)
			fclose(f);
		return NULL;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t got = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
	fclose(f);
	if (!buf || got != (size_t)st.st_size) {
		fprintf(stderr, "%s: %s: read failed\n", WHO, path);
		free(buf);
		return NULL;
	}
	buf[got] = '\0';
	if (strlen(buf) != got) {
		fprintf(stderr, "%s: %s: contains a NUL byte\n", WHO, path);
		free(buf);
		return NULL;
	}
	*len = got;
	return buf;
}

static void sha256_hex(const char *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	enc_hex(md, 32, out);
}
