/* What the provider's commands (migrate, tenant ...) share: a blocking
 * connection as the owner role and plain error reporting. These run in
 * short-lived command processes, never inside the daemon's loops. */
#ifndef AANTAFEL_ADMIN_H
#define AANTAFEL_ADMIN_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "config.h"

/* Connects with owner_database_url; prints the reason and returns NULL on
 * failure. */
PGconn *admin_connect(const struct config *cfg, const char *who);

/* Runs SQL with text parameters. Returns the result when its status is
 * OK (command or tuples), else prints "who: message" and returns NULL.
 * The provider's commands call one function of sql/code/provider.sql per
 * action; what they refuse (no such tenant, a host taken …) has SQLSTATE
 * class AT and a message meant for the provider, and the command exits 1. */
PGresult *admin_exec(PGconn *pg, const char *who, const char *sql, int nparams, const char *const *values);
/* The same with each parameter's length and format (1: binary, e.g. the
 * raw bytes of a bytea; NULL arrays: all text). */
PGresult *admin_exec_params(PGconn *pg, const char *who, const char *sql, int nparams, const char *const *values,
			    const int *lengths, const int *formats);

/* Loads the configuration for a command from the -c/--config option or
 * AANTAFEL_CONFIG. Prints the reason and returns NULL on failure. */
struct config *admin_config(const char *path, const char *who);

#endif
