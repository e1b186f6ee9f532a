/* The scheduler: runs the durable timed jobs of sql/023_jobs.sql (closing
 * a decision at its time, and later kinds) on one thread per daemon. */
#ifndef AANTAFEL_SCHEDULER_H
#define AANTAFEL_SCHEDULER_H

#include <stdint.h>

#include "config.h"

struct scheduler;

/* Called on the scheduler's thread after a job's work committed, with the
 * events it produced (a JSON array of {name, data}, never empty) for
 * tenant TENANT_ID: the daemon fires them to the tenant's plugin hooks. */
typedef void (*scheduler_events_fn)(int64_t tenant_id, const char *events_json, void *arg);

/* Starts the scheduler thread (none without a database: *OUT stays NULL).
 * Returns 0, or -1 when it cannot start. */
int scheduler_start(const struct config *cfg, scheduler_events_fn events, void *arg, struct scheduler **out);
/* Stops it: a job being run finishes (or rolls back) first. NULL is fine. */
void scheduler_stop(struct scheduler *s);

#endif
