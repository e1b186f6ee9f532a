/* Schema migrations. Each file runs in its own transaction together with
 * its bookkeeping row, so a failing file leaves nothing half-applied. */
#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "admin.h"

#define MIGRATION_MAX (4 * 1024 * 1024)
#define MIGRATIONS_MAX 10000
#define MIGRATE_LOCK "7301170617"   /* pg_advisory_lock key, any constant */

static const char *WHO = "aantafel migrate";

static int list_files(const char *dir, char ***out, size_t *n);
static char *read_file(const char *path, size_t *len);
static void sha256_hex(const char *data, size_t len, char out[65]);
static int apply_one(PGconn *pg, const char *dir, const char *name, const char *sql, const char *sum);
static int cmp_names(const void *a, const void *b);

int migrate_run(const struct config *cfg)
{
	char **files = NULL;
	size_t nfiles = 0;
	int rc = 1, applied = 0;
	PGresult *r;

	if (list_files(cfg->sql_dir, &files, &nfiles) != 0)
		return 1;
	PGconn *pg = admin_connect(cfg, WHO);
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
	rc = 0;
out:
	PQfinish(pg);
	for (size_t k = 0; k < nfiles; k++)
		free(files[k]);
	free(files);
	return rc;
}

static int apply_one(PGconn *pg, const char *dir, const char *name, const char *sql, const char *sum)
{
	PGresult *r = PQexec(pg, "BEGIN");
	PQclear(r);
	r = PQexec(pg, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
		const char *pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
		int line = 0;
		if (pos) {
			/* The position counts characters from 1; count lines up
			 * to it, stepping over UTF-8 continuation bytes. */
			long want = strtol(pos, NULL, 10), chars = 0;
			line = 1;
			for (const char *p = sql; *p && chars < want - 1; p++) {
				if (((unsigned char)*p & 0xC0) != 0x80)
					chars++;
				if (*p == '\n')
					line++;
			}
		}
		if (line)
			fprintf(stderr, "%s: %s/%s:%d: %s\n", WHO, dir, name, line, msg ? msg : PQerrorMessage(pg));
		else
			fprintf(stderr, "%s: %s/%s: %s\n", WHO, dir, name, msg ? msg : PQerrorMessage(pg));
		PQclear(r);
		r = PQexec(pg, "ROLLBACK");
		PQclear(r);
		return -1;
	}
	PQclear(r);
	const char *v[] = {name, sum};
	if (!(r = admin_exec(pg, WHO, "INSERT INTO platform.schema_migrations (name, checksum) VALUES ($1, $2)", 2, v))) {
		r = PQexec(pg, "ROLLBACK");
		PQclear(r);
		return -1;
	}
	PQclear(r);
	if (!(r = admin_exec(pg, WHO, "COMMIT", 0, NULL)))
		return -1;
	PQclear(r);
	return 0;
}

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
			for (size_t k = 0; k < count; k++)
				free(files[k]);
			free(files);
			return -1;
		}
	}
	*out = files;
	*n = count;
	return 0;
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
	static const char hex[] = "0123456789abcdef";
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}
