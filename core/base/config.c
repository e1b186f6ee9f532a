/* Configuration as a table: every option is one row giving its type,
 * default, bounds and whether a reload may change it (after PgBouncer's
 * CF_ABS rows). The file format is "name = value" per line, '#' comments. */
#include "config.h"
#include "errbuf.h"
#include "netaddr.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "password.h"

enum opt_type { OPT_INT, OPT_SIZE, OPT_DURATION, OPT_STRING, OPT_BOOL, OPT_ENUM };

struct option {
	const char *name;
	enum opt_type type;
	size_t offset;
	const char *def;
	int64_t min, max;       /* bounds for numbers; for strings, max length */
	bool reloadable;
	const char *choices;    /* OPT_ENUM: '|' separated */
	const char *help;
};

#define OFF(f) offsetof(struct config, f)
#define KIB 1024LL
#define MIB (1024LL * 1024)
#define GIB (1024LL * 1024 * 1024)
#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)

static const struct option options[] = {
	{"listen", OPT_STRING, OFF(listen), "127.0.0.1:8080", 1, 255, false, NULL,
	 "Address and port to listen on, `HOST:PORT` or `[V6]:PORT`."},
	{"workers", OPT_INT, OFF(workers), "0", 0, 256, false, NULL,
	 "Worker threads, each with its own event loop and listener; 0 means one per core."},
	{"max_connections", OPT_INT, OFF(max_connections), "10000", 1, 1000000, true, NULL,
	 "Open connections beyond this are closed at once; served ones carry on."},
	{"shutdown_timeout", OPT_DURATION, OFF(shutdown_timeout), "30s", 0, HOUR, true, NULL,
	 "On SIGTERM, how long in-flight requests may take before connections are cut."},
	{"max_head_size", OPT_SIZE, OFF(max_head_size), "32KiB", 1 * KIB, 64 * KIB, true, NULL,
	 "Largest request line plus headers; larger gets 431."},
	{"max_headers", OPT_INT, OFF(max_headers), "100", 1, 1000, true, NULL,
	 "Most header fields in one request; more gets 431."},
	{"max_body_size", OPT_SIZE, OFF(max_body_size), "1MiB", 0, 1 * GIB, true, NULL,
	 "Largest request body; larger gets 413 before the body is read."},
	{"head_timeout", OPT_DURATION, OFF(head_timeout), "10s", 100, 10 * MIN, true, NULL,
	 "Deadline for a complete request head, counted from its first byte (or from accept)."},
	{"body_timeout", OPT_DURATION, OFF(body_timeout), "10s", 100, 10 * MIN, true, NULL,
	 "A request body that sends no byte for this long is closed."},
	{"write_timeout", OPT_DURATION, OFF(write_timeout), "30s", 100, HOUR, true, NULL,
	 "Deadline for the client to take a queued response."},
	{"keepalive_timeout", OPT_DURATION, OFF(keepalive_timeout), "75s", 0, HOUR, true, NULL,
	 "Idle time allowed between requests on a kept-alive connection; 0 turns keep-alive off."},
	{"max_requests_per_connection", OPT_INT, OFF(max_requests_per_connection), "1000", 1, 1000000, true, NULL,
	 "After this many requests a connection is closed."},
	{"max_pipelined_output", OPT_SIZE, OFF(max_pipelined_output), "1MiB", 4 * KIB, 1 * GIB, true, NULL,
	 "Pipelined requests wait while this much response data is queued unread."},
	{"static_dir", OPT_STRING, OFF(static_dir), "static", 1, 4096, false, NULL,
	 "Directory served under `/static/`."},
	{"errors_dir", OPT_STRING, OFF(errors_dir), "errors", 1, 4096, true, NULL,
	 "Directory of static error pages, `LANG/STATUS.html`."},
	{"sql_dir", OPT_STRING, OFF(sql_dir), "sql", 1, 4096, false, NULL,
	 "Directory of the numbered migrations `NNN_name.sql` and of the database's code `code/*.sql` that `aantafel migrate` applies."},
	{"plugins_dir", OPT_STRING, OFF(plugins_dir), "plugins", 1, 4096, false, NULL,
	 "Directory of the platform's own Lua plugins and default templates, read once at start."},
	{"log_file", OPT_STRING, OFF(log_file), "", 0, 4096, true, NULL,
	 "Log file (appended; reopened on SIGHUP); empty means standard error."},
	{"log_level", OPT_ENUM, OFF(log_level), "info", 0, 0, true, "debug|info|warn|error",
	 "Least severe message logged."},
	{"access_log", OPT_BOOL, OFF(access_log), "on", 0, 0, true, NULL,
	 "One line per request: time, id, tenant, method, path, status, bytes, duration."},
	{"database_url", OPT_STRING, OFF(database_url), "", 0, 4096, false, NULL,
	 "libpq connection string of the daemon's role (no owner rights, no BYPASSRLS)."},
	{"owner_database_url", OPT_STRING, OFF(owner_database_url), "", 0, 4096, false, NULL,
	 "libpq connection string of the owner role, used by `migrate` and `tenant` only."},
	{"db_pool_size", OPT_INT, OFF(db_pool_size), "8", 1, 1000, false, NULL,
	 "Database connections per worker."},
	{"db_queue_size", OPT_INT, OFF(db_queue_size), "256", 0, 100000, true, NULL,
	 "Requests per worker that may wait for a free connection; more get 503."},
	{"db_wait_timeout", OPT_DURATION, OFF(db_wait_timeout), "2s", 10, MIN, true, NULL,
	 "How long a request waits for a connection or for the database before it gets 503."},
	{"db_connect_timeout", OPT_DURATION, OFF(db_connect_timeout), "2s", 100, MIN, true, NULL,
	 "Deadline for opening one database connection."},
	{"db_statement_timeout", OPT_DURATION, OFF(db_statement_timeout), "5s", 0, HOUR, true, NULL,
	 "PostgreSQL statement_timeout of the daemon's connections (a statement past it is answered 503); 0 means none."},
	{"lua_memory_limit", OPT_SIZE, OFF(lua_memory_limit), "32MiB", 1 * MIB, 1 * GIB, true, NULL,
	 "Memory one tenant's Lua state may use; an allocation beyond it fails the request."},
	{"lua_states_max_bytes", OPT_SIZE, OFF(lua_states_max_bytes), "256MiB", 1 * MIB, 64 * GIB, true, NULL,
	 "Total memory of the live Lua states of one worker (their heaps and the declared workflows kept beside them); beyond it the least recently used idle state is dropped."},
	{"lua_instruction_limit", OPT_INT, OFF(lua_instruction_limit), "10000000", 10000, 10000000000, true, NULL,
	 "Units of Lua work one request (all its coroutines together) may do: an instruction, or as much work in a library function (docs/plugins.md)."},
	{"lua_time_limit", OPT_DURATION, OFF(lua_time_limit), "2s", 10, MIN, true, NULL,
	 "Time a request's Lua may take, counted from its start; its waits for the database and for other platform work (a PDF, a bundle's check) are not counted (request_wait_limit bounds those)."},
	{"request_wait_limit", OPT_DURATION, OFF(request_wait_limit), "30s", 100, 10 * MIN, true, NULL,
	 "Time one request may wait in all for the database and other platform work (each call within its own deadlines); past it the request is answered 503."},
	{"lua_slice", OPT_DURATION, OFF(lua_slice), "2ms", 1, 1000, true, NULL,
	 "Lua time a request runs before it yields its worker to the next request of the fairest tenant."},
	{"lua_tenant_concurrency", OPT_INT, OFF(lua_tenant_concurrency), "4", 1, 10000, true, NULL,
	 "Requests of one tenant whose Lua runs at once in a worker; more wait for a place. Keep it below db_pool_size: a request running Lua may hold a database connection."},
	{"lua_tenant_queue", OPT_INT, OFF(lua_tenant_queue), "64", 0, 100000, true, NULL,
	 "Requests of one tenant that may wait for a place in a worker; more get 503 with Retry-After, as do those that wait longer than lua_time_limit."},
	{"trusted_proxies", OPT_STRING, OFF(trusted_proxies), "", 0, 4096, true, NULL,
	 "Addresses and networks of the proxies in front (`127.0.0.1, 10.0.0.0/8`); only from them are "
	 "`X-Forwarded-For` and `X-Forwarded-Proto` believed."},
	{"api_cache_size", OPT_SIZE, OFF(api_cache_size), "16MiB", 0, 4 * GIB, true, NULL,
	 "Memory per worker for what guests get from the API's reads (through pages and /api/v1) and for the pages "
	 "answered with `shared = true`, valid until the tenant's data changes; 0 turns the cache off."},
	{"time_zone", OPT_STRING, OFF(time_zone), "Europe/Amsterdam", 1, 64, false, NULL,
	 "Time zone (IANA name) of the database sessions: the offset of every timestamp the API gives and the "
	 "local time the pages show."},
	{"session_idle_timeout", OPT_DURATION, OFF(session_idle_timeout), "30m", 1000, 30 * 24 * HOUR, true, NULL,
	 "A session unused for this long is over."},
	{"session_absolute_timeout", OPT_DURATION, OFF(session_absolute_timeout), "12h", 1000, 365 * 24 * HOUR, true,
	 NULL, "A session is over this long after sign-in, used or not."},
	{"common_passwords_file", OPT_STRING, OFF(common_passwords_file), "/usr/share/john/password.lst", 1, 4096,
	 false, NULL,
	 "List of common passwords, one per line (`#!comment:` lines skipped), refused at sign-up and password "
	 "change whatever their case. The default comes with Debian's `john-data` package; the daemon refuses to "
	 "start when the file cannot be read."},
	{"scrypt_n", OPT_INT, OFF(scrypt_n), "131072", 1024, 1048576, true, NULL,
	 "scrypt cost N for new password hashes, a power of two (131072 = 2^17). Each hash keeps its own "
	 "parameters; a weaker one is rehashed at its next sign-in."},
	{"scrypt_r", OPT_INT, OFF(scrypt_r), "8", 1, 32, true, NULL,
	 "scrypt block size r for new password hashes."},
	{"scrypt_p", OPT_INT, OFF(scrypt_p), "1", 1, 16, true, NULL,
	 "scrypt parallelism p for new password hashes."},
	{"scrypt_maxmem", OPT_SIZE, OFF(scrypt_maxmem), "256MiB", 1 * MIB, 4 * GIB, true, NULL,
	 "Memory one password hash may use; must cover 128 × r × (N + p + 2) bytes (128 MiB at the defaults)."},
	{"hash_threads", OPT_INT, OFF(hash_threads), "2", 1, 64, false, NULL,
	 "Threads that hash passwords; each hash takes scrypt's memory while it runs."},
	{"hash_queue", OPT_INT, OFF(hash_queue), "64", 1, 100000, false, NULL,
	 "Password hashes that may wait or run at once; a sign-in beyond it gets 503."},
	{"pdf_threads", OPT_INT, OFF(pdf_threads), "1", 1, 64, false, NULL,
	 "Threads that render reports as PDF (each render takes one core while it runs)."},
	{"pdf_queue", OPT_INT, OFF(pdf_queue), "16", 1, 10000, false, NULL,
	 "PDF renders that may wait or run at once; a download beyond it gets 503."},
	{"bundle_threads", OPT_INT, OFF(bundle_threads), "1", 1, 64, false, NULL,
	 "Threads that read and check uploaded bundles, off the workers' event loops (each check takes one core "
	 "and up to twice the bundle's 32 MiB while it runs)."},
	{"bundle_queue", OPT_INT, OFF(bundle_queue), "4", 1, 1000, false, NULL,
	 "Bundle uploads that may wait or be checked at once; an upload beyond it gets 503."},
	{"mail_transport", OPT_STRING, OFF(mail_transport), "off", 1, 4096, false, NULL,
	 "Where queued mail goes: `off` (it stays queued), `file:DIR` (each mail written as "
	 "`DIR/<tenant>/<id>.eml`, for development), `smtp://HOST[:PORT]` (STARTTLS required unless "
	 "`smtp_insecure`) or `smtps://HOST[:PORT]` (TLS from the start)."},
	{"mail_from", OPT_STRING, OFF(mail_from), "", 0, 254, false, NULL,
	 "Sender address of every mail (envelope and `From`, with the tenant's name as display name); required "
	 "for SMTP; `file:` uses `noreply@localhost` when empty."},
	{"smtp_user", OPT_STRING, OFF(smtp_user), "", 0, 255, true, NULL,
	 "User name for SMTP authentication; empty means none."},
	{"smtp_password", OPT_STRING, OFF(smtp_password), "", 0, 255, true, NULL,
	 "Password for SMTP authentication (better given as `AANTAFEL_SMTP_PASSWORD`)."},
	{"smtp_insecure", OPT_BOOL, OFF(smtp_insecure), "off", 0, 0, true, NULL,
	 "On: TLS becomes optional and certificates go unchecked. Only for tests and a relay on the same "
	 "machine; production requires TLS."},
	{"smtp_timeout", OPT_DURATION, OFF(smtp_timeout), "60s", 1000, 10 * MIN, true, NULL,
	 "Deadline for handing one mail to the SMTP server, connection included."},
	{"mail_max_attempts", OPT_INT, OFF(mail_max_attempts), "12", 1, 100, true, NULL,
	 "Delivery attempts of one mail before it is marked failed; between them 1 min, doubling, at most 6 h "
	 "(12 attempts span about 20 hours)."},
	{"mail_poll_interval", OPT_DURATION, OFF(mail_poll_interval), "30s", 100, HOUR, true, NULL,
	 "How often the deliverer looks for mail due for a retry; new mail wakes it at once."},
	{"mail_claim_timeout", OPT_DURATION, OFF(mail_claim_timeout), "10m", 1000, 24 * HOUR, true, NULL,
	 "A mail still being sent after this long belongs to a daemon that died and is queued again; keep it "
	 "at least twice `smtp_timeout`."},
	{"job_poll_interval", OPT_DURATION, OFF(job_poll_interval), "60s", 100, HOUR, true, NULL,
	 "How often the scheduler looks for due jobs at the latest; it also wakes when the next job is due and "
	 "when one is scheduled."},
	{"job_lease", OPT_DURATION, OFF(job_lease), "5m", 1000, 24 * HOUR, true, NULL,
	 "How long a daemon holds a job it took: a job whose daemon died is taken again once this has passed."},
	{"job_max_attempts", OPT_INT, OFF(job_max_attempts), "8", 1, 100, true, NULL,
	 "Attempts of one job before it is marked failed; between them 30 s, doubling, at most 1 h."},
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

/* Checks beyond type and bounds, per option: each returns 0 or writes why
 * the value is refused. Looked up by name, so rows need no extra field. */
typedef int (*option_check_fn)(int64_t v, char *why, size_t whylen);

static int check_power_of_two(int64_t v, char *why, size_t whylen);

static const struct {
	const char *name;
	option_check_fn check;
} option_checks[] = {
	{"scrypt_n", check_power_of_two},
};

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct config *current;

static int apply(struct config *c, const struct option *o, const char *value, char *why, size_t whylen);
static int check_whole(const struct config *c, char *why, size_t whylen);

/* ---------------------------------------------------------------- public */

struct config *config_load(const char *path, char *err, size_t errlen)
{
	struct config *c = calloc(1, sizeof(*c));
	char why[256];
	if (!c) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&c->refs, 1);
	for (size_t i = 0; i < NOPTIONS; i++) {
		if (apply(c, &options[i], options[i].def, why, sizeof(why)) != 0) {
			errf(err, errlen, "built-in default of %s: %s", options[i].name, why);
			config_unref(c);
			return NULL;
		}
	}

	if (path) {
		FILE *f = fopen(path, "r");
		char line[8192];
		int lineno = 0;
		if (!f) {
			errf(err, errlen, "%s: %s", path, strerror(errno));
			config_unref(c);
			return NULL;
		}
		c->path = strdup(path);
		while (fgets(line, sizeof(line), f)) {
			lineno++;
			size_t len = strlen(line);
			if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
				errf(err, errlen, "%s:%d: line longer than %zu bytes", path, lineno, sizeof(line) - 2);
				goto fail_file;
			}
			while (len > 0 && isspace((unsigned char)line[len - 1]))
				line[--len] = '\0';
			char *p = line;
			while (isspace((unsigned char)*p))
				p++;
			if (*p == '\0' || *p == '#')
				continue;
			char *eq = strchr(p, '=');
			if (!eq) {
				errf(err, errlen, "%s:%d: expected 'name = value'", path, lineno);
				goto fail_file;
			}
			char *name_end = eq;
			while (name_end > p && isspace((unsigned char)name_end[-1]))
				name_end--;
			*name_end = '\0';
			char *value = eq + 1;
			while (isspace((unsigned char)*value))
				value++;
			size_t vlen = strlen(value);
			if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
				value[vlen - 1] = '\0';
				value++;
			}
			const struct option *o = NULL;
			for (size_t i = 0; i < NOPTIONS; i++)
				if (strcmp(options[i].name, p) == 0)
					o = &options[i];
			if (!o) {
				errf(err, errlen, "%s:%d: unknown option '%s'", path, lineno, p);
				goto fail_file;
			}
			if (apply(c, o, value, why, sizeof(why)) != 0) {
				errf(err, errlen, "%s:%d: %s: %s", path, lineno, o->name, why);
				goto fail_file;
			}
		}
		fclose(f);
		goto env;
	fail_file:
		fclose(f);
		config_unref(c);
		return NULL;
	}

env:
	/* Every option can be overridden by AANTAFEL_<NAME>, e.g.
	 * AANTAFEL_LISTEN or AANTAFEL_DATABASE_URL. */
	for (size_t i = 0; i < NOPTIONS; i++) {
		char var[96] = "AANTAFEL_";
		size_t n = strlen(var);
		for (const char *s = options[i].name; *s && n < sizeof(var) - 1; s++)
			var[n++] = (char)toupper((unsigned char)*s);
		var[n] = '\0';
		const char *v = getenv(var);
		if (v && apply(c, &options[i], v, why, sizeof(why)) != 0) {
			errf(err, errlen, "environment %s: %s: %s", var, options[i].name, why);
			config_unref(c);
			return NULL;
		}
	}
	if (check_whole(c, why, sizeof(why)) != 0) {
		errf(err, errlen, "%s%s%s", c->path ? c->path : "", c->path ? ": " : "", why);
		config_unref(c);
		return NULL;
	}
	return c;
}

void config_keep_fixed(struct config *fresh, const struct config *old, char *note, size_t notelen)
{
	size_t used = 0;
	if (notelen)
		note[0] = '\0';
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct option *o = &options[i];
		if (o->reloadable)
			continue;
		char *fp = (char *)fresh + o->offset;
		const char *op = (const char *)old + o->offset;
		bool changed;
		switch (o->type) {
		case OPT_STRING: {
			char *fs = *(char **)fp;
			const char *os = *(char *const *)op;
			changed = strcmp(fs, os) != 0;
			if (changed) {
				free(fs);
				*(char **)fp = strdup(os);
			}
			break;
		}
		case OPT_BOOL:
			changed = *(bool *)fp != *(const bool *)op;
			*(bool *)fp = *(const bool *)op;
			break;
		default:
			changed = *(int64_t *)fp != *(const int64_t *)op;
			*(int64_t *)fp = *(const int64_t *)op;
			break;
		}
		if (changed && used + strlen(o->name) + 2 < notelen) {
			used += (size_t)snprintf(note + used, notelen - used, "%s%s", used ? ", " : "", o->name);
		}
	}
}

struct config *config_ref(struct config *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void config_unref(struct config *c)
{
	if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; i < NOPTIONS; i++)
		if (options[i].type == OPT_STRING)
			free(*(char **)((char *)c + options[i].offset));
	free(c->path);
	free(c);
}

void config_set_current(struct config *c)
{
	pthread_mutex_lock(&current_lock);
	struct config *old = current;
	current = c ? config_ref(c) : NULL;
	pthread_mutex_unlock(&current_lock);
	config_unref(old);
}

struct config *config_acquire(void)
{
	pthread_mutex_lock(&current_lock);
	struct config *c = current ? config_ref(current) : NULL;
	pthread_mutex_unlock(&current_lock);
	return c;
}

void config_describe(FILE *out)
{
	static const char *type_names[] = {"integer", "size", "duration", "string", "boolean", "choice"};
	fprintf(out, "| name | type | default | bounds | reload | meaning |\n");
	fprintf(out, "|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct option *o = &options[i];
		char bounds[64] = "";
		switch (o->type) {
		case OPT_INT:
			snprintf(bounds, sizeof(bounds), "%" PRId64 " – %" PRId64, o->min, o->max);
			break;
		case OPT_SIZE:
			snprintf(bounds, sizeof(bounds), "%" PRId64 " B – %" PRId64 " B", o->min, o->max);
			break;
		case OPT_DURATION:
			snprintf(bounds, sizeof(bounds), "%" PRId64 " ms – %" PRId64 " ms", o->min, o->max);
			break;
		case OPT_ENUM: {
			/* One of a|b|c: the bars would split the Markdown cell. */
			size_t k = 0;
			for (const char *c = o->choices; *c && k + 4 < sizeof(bounds); c++) {
				if (*c == '|') {
					memcpy(bounds + k, ", ", 2);
					k += 2;
				} else {
					bounds[k++] = *c;
				}
			}
			bounds[k] = '\0';
			break;
		}
		default:
			break;
		}
		fprintf(out, "| `%s` | %s | %s%s%s | %s | %s | %s |\n", o->name, type_names[o->type],
			o->def[0] ? "`" : "", o->def[0] ? o->def : "(empty)", o->def[0] ? "`" : "", bounds,
			o->reloadable ? "yes" : "restart", o->help);
	}
}

size_t config_option_count(void)
{
	return NOPTIONS;
}

const char *config_option_name(size_t i)
{
	return i < NOPTIONS ? options[i].name : NULL;
}

/* ---------------------------------------------------------------- parsing */

/* Parses an unsigned decimal number followed by a unit suffix; the suffix
 * (possibly empty) is returned in *unit. */
static int parse_number(const char *s, int64_t *out, const char **unit)
{
	int64_t v = 0;
	const char *p = s;
	if (!isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p)) {
		int d = *p - '0';
		if (v > (INT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		p++;
	}
	while (*p == ' ')
		p++;
	*out = v;
	*unit = p;
	return 0;
}

static int scale(int64_t v, int64_t mult, int64_t *out)
{
	if (v > INT64_MAX / mult)
		return -1;
	*out = v * mult;
	return 0;
}

int config_parse_size(const char *s, int64_t *out)
{
	static const struct { const char *suffix; int64_t mult; } units[] = {
		{"", 1}, {"B", 1}, {"K", KIB}, {"KiB", KIB}, {"KB", KIB}, {"M", MIB},
		{"MiB", MIB}, {"MB", MIB}, {"G", GIB}, {"GiB", GIB}, {"GB", GIB},
	};
	int64_t v;
	const char *unit;
	if (parse_number(s, &v, &unit) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(unit, units[i].suffix) == 0)
			return scale(v, units[i].mult, out);
	return -1;
}

int config_parse_duration(const char *s, int64_t *out_ms)
{
	static const struct { const char *suffix; int64_t mult; } units[] = {
		{"", SEC}, {"ms", 1}, {"s", SEC}, {"m", MIN}, {"min", MIN}, {"h", HOUR},
	};
	int64_t v;
	const char *unit;
	if (parse_number(s, &v, &unit) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(unit, units[i].suffix) == 0)
			return scale(v, units[i].mult, out_ms);
	return -1;
}

int config_parse_bool(const char *s, bool *out)
{
	static const char *yes[] = {"on", "true", "yes", "1"};
	static const char *no[] = {"off", "false", "no", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static int apply(struct config *c, const struct option *o, const char *value, char *why, size_t whylen)
{
	void *field = (char *)c + o->offset;
	int64_t v = 0;
	switch (o->type) {
	case OPT_STRING: {
		size_t len = strlen(value);
		if ((int64_t)len < o->min || (int64_t)len > o->max) {
			snprintf(why, whylen, "length %zu outside %" PRId64 "..%" PRId64, len, o->min, o->max);
			return -1;
		}
		for (size_t i = 0; i < len; i++) {
			if ((unsigned char)value[i] < 0x20) {
				snprintf(why, whylen, "control character in value");
				return -1;
			}
		}
		char *copy = strdup(value);
		if (!copy) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	}
	case OPT_BOOL:
		if (config_parse_bool(value, (bool *)field) != 0) {
			snprintf(why, whylen, "'%s' is not on or off", value);
			return -1;
		}
		return 0;
	case OPT_ENUM: {
		const char *p = o->choices;
		size_t vlen = strlen(value);
		for (int64_t idx = 0; p; idx++) {
			const char *bar = strchr(p, '|');
			size_t n = bar ? (size_t)(bar - p) : strlen(p);
			if (n == vlen && strncmp(p, value, n) == 0) {
				*(int64_t *)field = idx;
				return 0;
			}
			p = bar ? bar + 1 : NULL;
		}
		snprintf(why, whylen, "'%s' is not one of %s", value, o->choices);
		return -1;
	}
	case OPT_INT: {
		const char *unit;
		if (parse_number(value, &v, &unit) != 0 || *unit) {
			snprintf(why, whylen, "'%s' is not a whole number", value);
			return -1;
		}
		break;
	}
	case OPT_SIZE:
		if (config_parse_size(value, &v) != 0) {
			snprintf(why, whylen, "'%s' is not a size (e.g. 512, 32KiB, 1MiB)", value);
			return -1;
		}
		break;
	case OPT_DURATION:
		if (config_parse_duration(value, &v) != 0) {
			snprintf(why, whylen, "'%s' is not a duration (e.g. 500ms, 10s, 2m)", value);
			return -1;
		}
		break;
	}
	if (v < o->min || v > o->max) {
		snprintf(why, whylen, "'%s' outside the bounds %" PRId64 "..%" PRId64 "%s", value, o->min,
			 o->max, o->type == OPT_DURATION ? " ms" : o->type == OPT_SIZE ? " bytes" : "");
		return -1;
	}
	for (size_t i = 0; i < sizeof(option_checks) / sizeof(option_checks[0]); i++)
		if (strcmp(option_checks[i].name, o->name) == 0 && option_checks[i].check(v, why, whylen) != 0)
			return -1;
	*(int64_t *)field = v;
	return 0;
}

static int check_power_of_two(int64_t v, char *why, size_t whylen)
{
	if (v > 0 && (v & (v - 1)) == 0)
		return 0;
	int64_t below = 1;
	while (below <= v / 2)
		below *= 2;
	snprintf(why, whylen, "%" PRId64 " is not a power of two (%" PRId64 " and %" PRId64 " are)", v, below,
		 below * 2);
	return -1;
}

/* Rules that tie options together, checked once all are read. */
static int check_whole(const struct config *c, char *why, size_t whylen)
{
	char nerr[128];
	struct netlist *nl = netlist_parse(c->trusted_proxies, nerr, sizeof(nerr));
	if (!nl) {
		snprintf(why, whylen, "trusted_proxies: %s", nerr);
		return -1;
	}
	netlist_free(nl);
	for (const char *z = c->time_zone; *z; z++) {
		if (!((*z >= 'A' && *z <= 'Z') || (*z >= 'a' && *z <= 'z') || (*z >= '0' && *z <= '9') || *z == '/' ||
		      *z == '_' || *z == '-' || *z == '+')) {
			snprintf(why, whylen, "time_zone: '%s' is not a time zone name such as Europe/Amsterdam", c->time_zone);
			return -1;
		}
	}
	struct pw_params p = {.n = (uint64_t)c->scrypt_n, .r = (uint32_t)c->scrypt_r, .p = (uint32_t)c->scrypt_p,
			      .maxmem = (uint64_t)c->scrypt_maxmem};
	if (password_params_check(&p, NULL, 0) == 0)
		return 0;
	int n = snprintf(why, whylen, "scrypt_n, scrypt_r, scrypt_p and scrypt_maxmem do not fit: ");
	if (n > 0 && (size_t)n < whylen)
		password_params_check(&p, why + n, whylen - (size_t)n);
	return -1;
}

