/* The application around the HTTP layer: per-worker services (database
 * pool, registry snapshot) and the main thread's registry listener. */
#ifndef AANTAFEL_APP_H
#define AANTAFEL_APP_H

#include "config.h"

/* Runs `aantafel serve` with CFG; returns the exit code. */
int app_serve(struct config *cfg);

#endif
