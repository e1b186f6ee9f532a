/* `aantafel migrate`: applies sql/NNN_name.sql in order, each once, as the
 * owner role; records each with its SHA-256 and refuses to go on when an
 * applied file has changed. Then applies the database's code (the .sql
 * files of sql/code: every function of the schemas api and platform, and
 * their grants) every time, in one transaction, dropping the functions it
 * no longer defines. An advisory lock makes concurrent runs wait for each
 * other, so running it twice, or from two hosts, is safe. */
#ifndef AANTAFEL_MIGRATE_H
#define AANTAFEL_MIGRATE_H

#include <stdbool.h>

#include "config.h"

/* With DISTRIBUTE, then runs sql_dir/citus/distribute.sql, which spreads
 * the tables over a Citus cluster (and fails without the extension).
 * Returns the exit code: 0 done (or nothing to do), 1 on any error. */
int migrate_run(const struct config *cfg, bool distribute);

#endif
