/* Logging: one line per event, written with a single write(2) so lines from
 * different worker threads never interleave. Every line about a request
 * carries that request's id, so an error can be tied to its access line. */
#ifndef AANTAFEL_LOG_H
#define AANTAFEL_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Opens the configured log file (or standard error) and sets the level.
 * Called at start and on every reload; reopening lets logrotate work. */
int log_configure(const struct config *cfg, char *err, size_t errlen);

void log_msg(int level, const char *req_id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, NULL, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, NULL, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, NULL, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, NULL, __VA_ARGS__)

struct log_access {
	const char *req_id;
	const char *tenant;     /* NULL when no tenant was resolved */
	const char *method;
	const char *path;       /* raw target; query values are stripped here */
	size_t path_len;
	int status;
	uint64_t bytes;
	double duration_ms;
};

void log_access(const struct log_access *a);

/* Copies TARGET into OUT with every query value removed ("/a?x=1&y" ->
 * "/a?x=&y="), so secrets in query strings never reach the log. Returns the
 * length written (always NUL terminated, truncated to outlen - 1). */
size_t log_strip_query(const char *target, size_t len, char *out, size_t outlen);

#endif
