/* The daemon's configuration: one table of options (name, type, default,
 * bounds, reloadable), read from one file and overridden by environment
 * variables. A loaded configuration is immutable and reference counted, so a
 * SIGHUP reload can swap it while workers still hold the old one. */
#ifndef AANTAFEL_CONFIG_H
#define AANTAFEL_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum config_log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

struct config {
	atomic_int refs;
	char *path;             /* file it was read from, NULL for defaults only */

	/* server */
	char *listen;
	int64_t workers;
	int64_t max_connections;
	int64_t shutdown_timeout;      /* ms */

	/* http limits */
	int64_t max_head_size;
	int64_t max_headers;
	int64_t max_body_size;
	int64_t head_timeout;          /* ms */
	int64_t body_timeout;          /* ms */
	int64_t write_timeout;         /* ms */
	int64_t keepalive_timeout;     /* ms */
	int64_t max_requests_per_connection;
	int64_t max_pipelined_output;

	/* files */
	char *static_dir;
	char *errors_dir;
	char *sql_dir;
	char *plugins_dir;

	/* logging */
	char *log_file;
	int64_t log_level;
	bool access_log;

	/* storage */
	char *database_url;
	char *owner_database_url;
	int64_t db_pool_size;
	int64_t db_queue_size;
	int64_t db_wait_timeout;       /* ms */
	int64_t db_connect_timeout;    /* ms */
	int64_t db_statement_timeout;  /* ms */
	int64_t lua_memory_limit;      /* bytes per state */
	int64_t lua_states_max_bytes;  /* bytes of live states per worker */
	int64_t lua_instruction_limit;
	int64_t lua_time_limit;        /* ms */
	int64_t request_wait_limit;    /* ms */
	int64_t lua_slice;             /* ms */
	int64_t lua_tenant_concurrency;
	int64_t lua_tenant_queue;
	char *trusted_proxies;
	char *time_zone;                /* of the database sessions: timestamps in the API and on pages */
	int64_t api_cache_size;         /* bytes per worker for guests' reads and shared pages; 0: none */
	int64_t session_idle_timeout;  /* ms */
	int64_t session_absolute_timeout; /* ms */

	/* passwords */
	char *common_passwords_file;
	int64_t scrypt_n;
	int64_t scrypt_r;
	int64_t scrypt_p;
	int64_t scrypt_maxmem;         /* bytes */
	int64_t hash_threads;
	int64_t hash_queue;
	int64_t pdf_threads;
	int64_t pdf_queue;
	int64_t bundle_threads;
	int64_t bundle_queue;

	/* mail */
	char *mail_transport;
	char *mail_from;
	char *smtp_user;
	char *smtp_password;
	bool smtp_insecure;
	int64_t smtp_timeout;          /* ms */
	int64_t mail_max_attempts;
	int64_t mail_poll_interval;    /* ms */
	int64_t mail_claim_timeout;    /* ms */
	int64_t job_poll_interval;     /* ms */
	int64_t job_lease;             /* ms */
	int64_t job_max_attempts;
};

/* Loads defaults, then PATH (may be NULL), then the environment overrides.
 * On error returns NULL and writes a message naming the file, line and
 * option into err. */
struct config *config_load(const char *path, char *err, size_t errlen);

/* Keeps OLD's value of every option that cannot change on reload, and
 * writes into note the names of those that the new file tried to change. */
void config_keep_fixed(struct config *fresh, const struct config *old, char *note, size_t notelen);

struct config *config_ref(struct config *c);
void config_unref(struct config *c);

/* The process-wide current configuration. config_acquire returns a new
 * reference that the caller must config_unref. */
void config_set_current(struct config *c);
struct config *config_acquire(void);

/* Prints the option table (Markdown) for the documentation and --help. */
void config_describe(FILE *out);

/* Number of options in the table, and the name of option i (tests). */
size_t config_option_count(void);
const char *config_option_name(size_t i);

/* Parsers shared with the tests. Each returns 0 on success. */
int config_parse_size(const char *s, int64_t *out);
int config_parse_duration(const char *s, int64_t *out_ms);
int config_parse_bool(const char *s, bool *out);

#endif
