/* The configuration table: defaults, every value type, bounds, the error
 * text that must name file, line and option, environment overrides, the
 * reload rule for options that need a restart, reference counting (ASan
 * reports a leak or a double free), and that docs/configuration.md
 * documents every option. Runs with the source root as working directory. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

static char tmp_path[64];

/* Writes TEXT to a fresh temporary file; its path is in tmp_path. */
static const char *write_file(const char *text)
{
	snprintf(tmp_path, sizeof(tmp_path), "/tmp/aantafel-config-XXXXXX");
	int fd = mkstemp(tmp_path);
	if (fd < 0) {
		perror("mkstemp");
		exit(2);
	}
	size_t len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len) {
		perror("write");
		exit(2);
	}
	close(fd);
	return tmp_path;
}

/* Loads TEXT as a file; NULL on error with the message in err. */
static struct config *load_text(const char *text, char *err, size_t errlen)
{
	const char *path = write_file(text);
	err[0] = '\0';
	struct config *c = config_load(path, err, errlen);
	unlink(path);
	return c;
}

/* Expects TEXT to be refused with an error naming the file, LINE and
 * every string in NEEDLE (NULL terminated). */
static void expect_error(const char *text, int line, const char *const *needles, int src_line)
{
	char err[512], where[96];
	struct config *c = load_text(text, err, sizeof(err));
	CHECK_MSG(c == NULL, "line %d: [%s] was accepted", src_line, text);
	config_unref(c);
	snprintf(where, sizeof(where), "%s:%d:", tmp_path, line);
	CHECK_MSG(strstr(err, where) != NULL, "line %d: error '%s' does not name '%s'", src_line, err, where);
	for (; *needles; needles++)
		CHECK_MSG(strstr(err, *needles) != NULL, "line %d: error '%s' does not name '%s'", src_line, err,
			  *needles);
}
#define EXPECT_ERROR(text, line, ...) expect_error(text, line, (const char *const[]){__VA_ARGS__, NULL}, __LINE__)

/* Any AANTAFEL_* variable of the caller's environment would change the
 * defaults under test. */
static void clear_env(void)
{
	for (size_t i = 0; i < config_option_count(); i++) {
		char var[96] = "AANTAFEL_";
		size_t n = strlen(var);
		for (const char *s = config_option_name(i); *s && n < sizeof(var) - 1; s++)
			var[n++] = (char)toupper((unsigned char)*s);
		var[n] = '\0';
		unsetenv(var);
	}
}

/* ---------------------------------------------------------------- tests */

static void test_defaults(void)
{
	char err[256] = "";
	struct config *c = config_load(NULL, err, sizeof(err));
	CHECK_MSG(c != NULL, "defaults refused: %s", err);
	if (!c)
		return;
	CHECK(c->path == NULL);
	CHECK_STR_EQ(c->listen, "127.0.0.1:8080");
	CHECK_INT_EQ(c->workers, 0);
	CHECK_INT_EQ(c->max_connections, 10000);
	CHECK_INT_EQ(c->shutdown_timeout, 30000);
	/* The HTTP limits of issue 2 (nginx and h2o defaults). */
	CHECK_INT_EQ(c->max_head_size, 32 * 1024);
	CHECK_INT_EQ(c->max_headers, 100);
	CHECK_INT_EQ(c->max_body_size, 1024 * 1024);
	CHECK_INT_EQ(c->head_timeout, 10000);
	CHECK_INT_EQ(c->body_timeout, 10000);
	CHECK_INT_EQ(c->write_timeout, 30000);
	CHECK_INT_EQ(c->keepalive_timeout, 75000);
	CHECK_INT_EQ(c->max_requests_per_connection, 1000);
	CHECK(c->max_pipelined_output > 0);
	CHECK_STR_EQ(c->static_dir, "static");
	CHECK_STR_EQ(c->errors_dir, "errors");
	CHECK_STR_EQ(c->log_file, "");
	CHECK_INT_EQ(c->log_level, LOG_LEVEL_INFO);
	CHECK(c->access_log);
	CHECK_STR_EQ(c->database_url, "");
	config_unref(c);

	/* An empty file and a file of comments are the defaults too. */
	c = load_text("", err, sizeof(err));
	CHECK_MSG(c != NULL, "empty file: %s", err);
	if (c)
		CHECK_STR_EQ(c->path, tmp_path);
	config_unref(c);
	c = load_text("# only a comment\n\n   \n\t# indented\n", err, sizeof(err));
	CHECK_MSG(c != NULL, "comments: %s", err);
	if (c)
		CHECK_INT_EQ(c->max_headers, 100);
	config_unref(c);

	/* A file that is not there. */
	c = config_load("/nonexistent/aantafel.conf", err, sizeof(err));
	CHECK(c == NULL);
	CHECK_CONTAINS(err, "/nonexistent/aantafel.conf");
}

static void test_every_type(void)
{
	char err[256];
	struct config *c = load_text("# every type of value\n"
				     "listen = 0.0.0.0:9000\n"
				     "workers = 4\n"
				     "max_head_size = 16KiB\n"
				     "max_headers=50\n"
				     "max_body_size = 2M\n"
				     "max_pipelined_output = 64 KiB\n"
				     "head_timeout = 500ms\n"
				     "body_timeout = 2m\n"
				     "write_timeout = 1h\n"
				     "keepalive_timeout = 0\n"
				     "shutdown_timeout = 15\n"
				     "access_log = off\n"
				     "log_level = debug\n"
				     "static_dir = \"/srv/aantafel static\"\n"
				     "   errors_dir   =   /srv/errors   \n"
				     "log_file = \"\"\n",
				     err, sizeof(err));
	CHECK_MSG(c != NULL, "refused: %s", err);
	if (!c)
		return;
	CHECK_STR_EQ(c->listen, "0.0.0.0:9000");
	CHECK_INT_EQ(c->workers, 4);
	CHECK_INT_EQ(c->max_head_size, 16 * 1024);
	CHECK_INT_EQ(c->max_headers, 50);
	CHECK_INT_EQ(c->max_body_size, 2 * 1024 * 1024);
	CHECK_INT_EQ(c->max_pipelined_output, 64 * 1024);
	CHECK_INT_EQ(c->head_timeout, 500);
	CHECK_INT_EQ(c->body_timeout, 120000);
	CHECK_INT_EQ(c->write_timeout, 3600000);
	CHECK_INT_EQ(c->keepalive_timeout, 0);
	CHECK_INT_EQ(c->shutdown_timeout, 15000);
	CHECK(!c->access_log);
	CHECK_INT_EQ(c->log_level, LOG_LEVEL_DEBUG);
	CHECK_STR_EQ(c->static_dir, "/srv/aantafel static");
	CHECK_STR_EQ(c->errors_dir, "/srv/errors");
	CHECK_STR_EQ(c->log_file, "");
	config_unref(c);

	/* CRLF line endings, and a later line overrides an earlier one. */
	c = load_text("max_headers = 10\r\nlog_level = error\r\nmax_headers = 20\r\n", err, sizeof(err));
	CHECK_MSG(c != NULL, "CRLF: %s", err);
	if (c) {
		CHECK_INT_EQ(c->max_headers, 20);
		CHECK_INT_EQ(c->log_level, LOG_LEVEL_ERROR);
	}
	config_unref(c);

	/* A value holding '=' and '#' is taken whole; only a quote pair
	 * around it is removed. */
	c = load_text("database_url = host=/run/pg dbname=a#b\nowner_database_url = \"x\"y\"\n", err,
		      sizeof(err));
	CHECK_MSG(c != NULL, "values: %s", err);
	if (c) {
		CHECK_STR_EQ(c->database_url, "host=/run/pg dbname=a#b");
		CHECK_STR_EQ(c->owner_database_url, "x\"y");
	}
	config_unref(c);
	c = load_text("listen = \"127.0.0.1:1\n", err, sizeof(err));
	CHECK_MSG(c != NULL, "one quote: %s", err);
	if (c)
		CHECK_STR_EQ(c->listen, "\"127.0.0.1:1");
	config_unref(c);

	/* Every spelling of a boolean. */
	static const char *yes[] = {"on", "true", "yes", "1", "ON", "True", "YES"};
	static const char *no[] = {"off", "false", "no", "0", "OFF", "False", "No"};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		bool b = false;
		CHECK_MSG(config_parse_bool(yes[i], &b) == 0 && b, "%s", yes[i]);
		b = true;
		CHECK_MSG(config_parse_bool(no[i], &b) == 0 && !b, "%s", no[i]);
	}
	bool b;
	CHECK(config_parse_bool("enabled", &b) != 0);
	CHECK(config_parse_bool("", &b) != 0);
	CHECK(config_parse_bool("2", &b) != 0);
	CHECK(config_parse_bool("on ", &b) != 0);

	/* Every enum value. */
	static const char *levels[] = {"debug", "info", "warn", "error"};
	for (int i = 0; i < 4; i++) {
		char text[64];
		snprintf(text, sizeof(text), "log_level = %s\n", levels[i]);
		c = load_text(text, err, sizeof(err));
		CHECK_MSG(c && c->log_level == i, "%s: %s", levels[i], err);
		config_unref(c);
	}
}

static void test_sizes_durations(void)
{
	static const struct { const char *s; int64_t v; } sizes[] = {
		{"0", 0}, {"512", 512}, {"512B", 512}, {"32K", 32768}, {"32KiB", 32768}, {"32KB", 32768},
		{"32 KiB", 32768}, {"1M", 1048576}, {"1MiB", 1048576}, {"1MB", 1048576},
		{"1G", 1073741824}, {"1GiB", 1073741824}, {"1GB", 1073741824},
		{"9223372036854775807", INT64_MAX},
	};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int64_t v = -1;
		CHECK_MSG(config_parse_size(sizes[i].s, &v) == 0 && v == sizes[i].v, "size '%s' gave %lld", sizes[i].s,
			  (long long)v);
	}
	static const char *bad_sizes[] = {"", "K", "-1", "+1", "1.5M", "32kib", "32TiB", "1 2", "0x10", " 1",
					  "9223372036854775808", "9223372036854775807K", "99999999999999999999G"};
	for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
		int64_t v;
		CHECK_MSG(config_parse_size(bad_sizes[i], &v) != 0, "size '%s' accepted", bad_sizes[i]);
	}

	static const struct { const char *s; int64_t v; } durs[] = {
		{"0", 0}, {"10", 10000}, {"500ms", 500}, {"10s", 10000}, {"2m", 120000}, {"2min", 120000},
		{"1h", 3600000}, {"10 s", 10000},
	};
	for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
		int64_t v = -1;
		CHECK_MSG(config_parse_duration(durs[i].s, &v) == 0 && v == durs[i].v, "duration '%s' gave %lld",
			  durs[i].s, (long long)v);
	}
	static const char *bad_durs[] = {"", "s", "-1s", "1.5s", "10S", "1d", "10 sec", "5ms5", "9223372036854775807h"};
	for (size_t i = 0; i < sizeof(bad_durs) / sizeof(bad_durs[0]); i++) {
		int64_t v;
		CHECK_MSG(config_parse_duration(bad_durs[i], &v) != 0, "duration '%s' accepted", bad_durs[i]);
	}
}

static void test_errors(void)
{
	char err[256];
	struct config *c;

	/* Bounds, at the edge and one step over. */
	c = load_text("max_head_size = 1KiB\nworkers = 256\nhead_timeout = 100ms\nmax_body_size = 0\n", err,
		      sizeof(err));
	CHECK_MSG(c != NULL, "edges: %s", err);
	config_unref(c);
	c = load_text("max_head_size = 64KiB\nmax_headers = 1000\nhead_timeout = 10m\n", err, sizeof(err));
	CHECK_MSG(c != NULL, "edges: %s", err);
	config_unref(c);
	EXPECT_ERROR("# limits\nmax_head_size = 1023\n", 2, "max_head_size", "1023");
	EXPECT_ERROR("max_head_size = 65537\n", 1, "max_head_size");
	EXPECT_ERROR("max_head_size = 1MiB\n", 1, "max_head_size");
	EXPECT_ERROR("\n\n\nworkers = 257\n", 4, "workers", "257");
	EXPECT_ERROR("max_headers = 0\n", 1, "max_headers");
	EXPECT_ERROR("head_timeout = 99ms\n", 1, "head_timeout");
	EXPECT_ERROR("head_timeout = 11m\n", 1, "head_timeout");
	EXPECT_ERROR("max_body_size = 2GiB\n", 1, "max_body_size");

	/* Values of the wrong type. */
	EXPECT_ERROR("workers = four\n", 1, "workers", "four");
	EXPECT_ERROR("workers = 4K\n", 1, "workers");
	EXPECT_ERROR("workers = -1\n", 1, "workers");
	EXPECT_ERROR("workers =\n", 1, "workers");
	EXPECT_ERROR("max_body_size = lots\n", 1, "max_body_size", "lots");
	EXPECT_ERROR("body_timeout = 10 days\n", 1, "body_timeout");
	EXPECT_ERROR("access_log = maybe\n", 1, "access_log", "maybe");
	EXPECT_ERROR("log_level = verbose\n", 1, "log_level", "verbose");
	EXPECT_ERROR("log_level = INFO\n", 1, "log_level");
	EXPECT_ERROR("listen = \"\"\n", 1, "listen");
	EXPECT_ERROR("listen = a\tb\n", 1, "listen");

	/* Unknown options and malformed lines. */
	EXPECT_ERROR("listen = 127.0.0.1:1\nlisen = 127.0.0.1:2\n", 2, "lisen");
	EXPECT_ERROR("Listen = x\n", 1, "Listen");
	EXPECT_ERROR("max-headers = 5\n", 1, "max-headers");
	EXPECT_ERROR("max_headers 5\n", 1, "name = value");
	EXPECT_ERROR("# ok\njust some words\n", 2, "name = value");
	EXPECT_ERROR("= 5\n", 1, "unknown option");

	/* A string longer than its bound. */
	char text[400] = "listen = ";
	size_t n = strlen(text);
	while (n < 300)
		text[n++] = 'a';
	text[n++] = '\n';
	text[n] = '\0';
	EXPECT_ERROR(text, 1, "listen");

	/* A line longer than the reader takes. */
	char *big = malloc(10000);
	memcpy(big, "# ok\ndatabase_url = ", 20);
	memset(big + 20, 'x', 9000);
	memcpy(big + 9020, "\n", 2);
	EXPECT_ERROR(big, 2, "longer");
	free(big);
}

static void test_environment(void)
{
	char err[256];
	struct config *c;

	setenv("AANTAFEL_LISTEN", "0.0.0.0:7777", 1);
	setenv("AANTAFEL_MAX_BODY_SIZE", "2MiB", 1);
	setenv("AANTAFEL_ACCESS_LOG", "no", 1);
	c = config_load(NULL, err, sizeof(err));
	CHECK_MSG(c != NULL, "env: %s", err);
	if (c) {
		CHECK_STR_EQ(c->listen, "0.0.0.0:7777");
		CHECK_INT_EQ(c->max_body_size, 2 * 1024 * 1024);
		CHECK(!c->access_log);
	}
	config_unref(c);

	/* The environment wins over the file. */
	c = load_text("listen = 127.0.0.1:1\nmax_body_size = 4KiB\nmax_headers = 7\n", err, sizeof(err));
	CHECK_MSG(c != NULL, "env over file: %s", err);
	if (c) {
		CHECK_STR_EQ(c->listen, "0.0.0.0:7777");
		CHECK_INT_EQ(c->max_body_size, 2 * 1024 * 1024);
		CHECK_INT_EQ(c->max_headers, 7);
	}
	config_unref(c);
	unsetenv("AANTAFEL_LISTEN");
	unsetenv("AANTAFEL_MAX_BODY_SIZE");
	unsetenv("AANTAFEL_ACCESS_LOG");

	/* An invalid value in the environment names the variable. */
	setenv("AANTAFEL_MAX_HEADERS", "lots", 1);
	c = config_load(NULL, err, sizeof(err));
	CHECK(c == NULL);
	config_unref(c);
	CHECK_CONTAINS(err, "AANTAFEL_MAX_HEADERS");
	CHECK_CONTAINS(err, "lots");
	setenv("AANTAFEL_MAX_HEADERS", "1001", 1);
	c = load_text("max_headers = 5\n", err, sizeof(err));
	CHECK(c == NULL);
	config_unref(c);
	CHECK_CONTAINS(err, "AANTAFEL_MAX_HEADERS");
	unsetenv("AANTAFEL_MAX_HEADERS");

	setenv("AANTAFEL_HEAD_TIMEOUT", "5 days", 1);
	c = config_load(NULL, err, sizeof(err));
	CHECK(c == NULL);
	config_unref(c);
	CHECK_CONTAINS(err, "AANTAFEL_HEAD_TIMEOUT");
	unsetenv("AANTAFEL_HEAD_TIMEOUT");

	/* Each option has its variable: AANTAFEL_ and the name in capitals. */
	setenv("AANTAFEL_DATABASE_URL", "host=/tmp dbname=x", 1);
	setenv("AANTAFEL_DB_STATEMENT_TIMEOUT", "0", 1);
	c = config_load(NULL, err, sizeof(err));
	CHECK_MSG(c != NULL, "env: %s", err);
	if (c) {
		CHECK_STR_EQ(c->database_url, "host=/tmp dbname=x");
		CHECK_INT_EQ(c->db_statement_timeout, 0);
	}
	config_unref(c);
	unsetenv("AANTAFEL_DATABASE_URL");
	unsetenv("AANTAFEL_DB_STATEMENT_TIMEOUT");
}

static void test_keep_fixed(void)
{
	char err[256], note[256];
	struct config *old = load_text("listen = 127.0.0.1:1\nworkers = 2\nmax_headers = 50\nstatic_dir = a\n"
				       "access_log = on\n",
				       err, sizeof(err));
	struct config *fresh = load_text("listen = 127.0.0.1:2\nworkers = 3\nmax_headers = 60\nstatic_dir = b\n"
					 "db_pool_size = 9\naccess_log = off\n",
					 err, sizeof(err));
	CHECK(old && fresh);
	if (!old || !fresh) {
		config_unref(old);
		config_unref(fresh);
		return;
	}
	config_keep_fixed(fresh, old, note, sizeof(note));
	/* Options marked "restart" keep the running value ... */
	CHECK_STR_EQ(fresh->listen, "127.0.0.1:1");
	CHECK_INT_EQ(fresh->workers, 2);
	CHECK_STR_EQ(fresh->static_dir, "a");
	CHECK_INT_EQ(fresh->db_pool_size, 8);
	/* ... reloadable ones take the new one ... */
	CHECK_INT_EQ(fresh->max_headers, 60);
	CHECK(!fresh->access_log);
	/* ... and the note names those that wanted to change. */
	CHECK_CONTAINS(note, "listen");
	CHECK_CONTAINS(note, "workers");
	CHECK_CONTAINS(note, "static_dir");
	CHECK_CONTAINS(note, "db_pool_size");
	CHECK(strstr(note, "max_headers") == NULL);
	CHECK(strstr(note, "access_log") == NULL);

	/* Nothing changed: an empty note. */
	config_keep_fixed(fresh, old, note, sizeof(note));
	CHECK_STR_EQ(note, "");

	/* A short note buffer is never overrun and stays terminated. */
	struct config *again = load_text("listen = 127.0.0.1:3\nworkers = 5\n", err, sizeof(err));
	if (again) {
		char small[12];
		memset(small, 'z', sizeof(small));
		config_keep_fixed(again, old, small, 10);
		CHECK(memchr(small, '\0', 10) != NULL);
		CHECK(small[10] == 'z' && small[11] == 'z');
		CHECK_STR_EQ(again->listen, "127.0.0.1:1");
		CHECK_INT_EQ(again->workers, 2);
		config_keep_fixed(again, old, small, 0);
		CHECK(small[10] == 'z');
	}
	config_unref(again);
	config_unref(fresh);
	config_unref(old);
}

static void test_refcount(void)
{
	char err[256];
	struct config *c = config_load(NULL, err, sizeof(err));
	CHECK(c != NULL);
	if (!c)
		return;
	CHECK(config_ref(c) == c);
	CHECK_INT_EQ(atomic_load(&c->refs), 2);
	config_unref(c);
	CHECK_INT_EQ(atomic_load(&c->refs), 1);

	/* The current configuration holds its own reference. */
	config_set_current(c);
	CHECK_INT_EQ(atomic_load(&c->refs), 2);
	struct config *cur = config_acquire();
	CHECK(cur == c);
	CHECK_INT_EQ(atomic_load(&c->refs), 3);
	config_unref(cur);
	/* A reload swaps it; the old one lives while someone holds it. */
	struct config *next = config_load(NULL, err, sizeof(err));
	config_set_current(next);
	config_unref(next);
	CHECK_INT_EQ(atomic_load(&c->refs), 1);
	cur = config_acquire();
	CHECK(cur == next);
	config_unref(cur);
	config_set_current(NULL);
	CHECK(config_acquire() == NULL);
	config_unref(c);        /* the last reference: freed, ASan checks */
	config_unref(NULL);
}

static void test_table_and_docs(void)
{
	size_t n = config_option_count();
	CHECK(n >= 20);
	CHECK(config_option_name(n) == NULL);

	/* config_describe prints one row per option. */
	char *described = NULL;
	size_t dlen = 0;
	FILE *mem = open_memstream(&described, &dlen);
	config_describe(mem);
	fclose(mem);

	FILE *f = fopen("docs/configuration.md", "r");
	CHECK_MSG(f != NULL, "docs/configuration.md not found (working directory must be the source root)");
	char *doc = NULL;
	if (f) {
		fseek(f, 0, SEEK_END);
		long len = ftell(f);
		fseek(f, 0, SEEK_SET);
		doc = calloc(1, (size_t)len + 1);
		if (fread(doc, 1, (size_t)len, f) != (size_t)len)
			doc[0] = '\0';
		fclose(f);
	}
	for (size_t i = 0; i < n; i++) {
		const char *name = config_option_name(i);
		char quoted[96];
		CHECK(name != NULL);
		if (!name)
			continue;
		snprintf(quoted, sizeof(quoted), "`%s`", name);
		CHECK_MSG(strstr(described, quoted) != NULL, "config_describe lacks %s", name);
		if (doc)
			CHECK_MSG(strstr(doc, quoted) != NULL, "docs/configuration.md does not document %s", name);
		/* Names are what the file and the variables use. */
		for (const char *s = name; *s; s++)
			CHECK_MSG((*s >= 'a' && *s <= 'z') || *s == '_', "option name %s", name);
	}
	if (doc) {
		CHECK_CONTAINS(doc, "AANTAFEL_");
		CHECK_CONTAINS(doc, "SIGHUP");
		CHECK_CONTAINS(doc, "aantafel check");
	}
	free(doc);
	free(described);
}

/* The password options: their defaults are issue 5's (N=2^17, r=8, p=1),
 * scrypt_n must be a power of two, and scrypt_maxmem must cover what the
 * other three need (a rule over the whole file, so no line number). */
static void test_password_options(void)
{
	char err[512] = "";
	struct config *c = config_load(NULL, err, sizeof(err));
	CHECK_MSG(c != NULL, "defaults refused: %s", err);
	if (c) {
		CHECK_STR_EQ(c->common_passwords_file, "/usr/share/john/password.lst");
		CHECK_INT_EQ(c->scrypt_n, 131072);
		CHECK_INT_EQ(c->scrypt_r, 8);
		CHECK_INT_EQ(c->scrypt_p, 1);
		CHECK_INT_EQ(c->scrypt_maxmem, 256 * 1024 * 1024);
		CHECK_INT_EQ(c->hash_threads, 2);
		CHECK_INT_EQ(c->hash_queue, 64);
	}
	config_unref(c);

	c = load_text("scrypt_n = 1024\nscrypt_maxmem = 2MiB\n", err, sizeof(err));
	CHECK_MSG(c != NULL, "small scrypt refused: %s", err);
	if (c)
		CHECK_INT_EQ(c->scrypt_n, 1024);
	config_unref(c);

	EXPECT_ERROR("# cost\nscrypt_n = 100000\n", 2, "scrypt_n", "100000", "not a power of two", "65536",
		     "131072");
	EXPECT_ERROR("scrypt_n = 512\n", 1, "scrypt_n", "512");
	EXPECT_ERROR("scrypt_n = 2097152\n", 1, "scrypt_n");
	EXPECT_ERROR("scrypt_r = 0\n", 1, "scrypt_r");
	EXPECT_ERROR("scrypt_p = 17\n", 1, "scrypt_p");
	EXPECT_ERROR("hash_threads = 0\n", 1, "hash_threads");
	EXPECT_ERROR("hash_queue = 0\n", 1, "hash_queue");
	EXPECT_ERROR("common_passwords_file = \"\"\n", 1, "common_passwords_file");

	/* 2^17 with r=8 needs 128 MiB and some. */
	c = load_text("scrypt_maxmem = 128MiB\n", err, sizeof(err));
	CHECK(c == NULL);
	CHECK_CONTAINS(err, tmp_path);
	CHECK_CONTAINS(err, "scrypt_maxmem");
	CHECK_CONTAINS(err, "134220800");
	config_unref(c);
	c = load_text("scrypt_maxmem = 129MiB\n", err, sizeof(err));
	CHECK_MSG(c != NULL, "129MiB refused: %s", err);
	config_unref(c);
	/* scrypt's own rule: N below 2^(16r). */
	c = load_text("scrypt_r = 1\n", err, sizeof(err));
	CHECK(c == NULL);
	CHECK_CONTAINS(err, "scrypt_r");
	config_unref(c);
	/* The environment takes part in the rule too. */
	setenv("AANTAFEL_SCRYPT_N", "1048576", 1);
	c = config_load(NULL, err, sizeof(err));
	CHECK(c == NULL);
	CHECK_CONTAINS(err, "scrypt_maxmem");
	config_unref(c);
	setenv("AANTAFEL_SCRYPT_MAXMEM", "2GiB", 1);
	c = config_load(NULL, err, sizeof(err));
	CHECK_MSG(c != NULL, "2^20 with 2GiB refused: %s", err);
	config_unref(c);
	unsetenv("AANTAFEL_SCRYPT_N");
	unsetenv("AANTAFEL_SCRYPT_MAXMEM");
}

int main(void)
{
	clear_env();
	unsetenv("AANTAFEL_CONFIG");
	RUN(test_defaults());
	RUN(test_every_type());
	RUN(test_sizes_durations());
	RUN(test_errors());
	RUN(test_environment());
	RUN(test_keep_fixed());
	RUN(test_refcount());
	RUN(test_table_and_docs());
	RUN(test_password_options());
	return check_exit("test_config");
}
