/* The JSON API over HTTP, under /api/v1 (api_http.c): the operations are
 * api.c's, the same that the pages reach through plugin.api. */
#ifndef AANTAFEL_API_HTTP_H
#define AANTAFEL_API_HTTP_H

#include <stdint.h>

#include "http.h"
#include "registry.h"

struct app_worker;

/* Prepared statements of the session and token lookups; before the
 * workers start. */
void api_http_register_statements(void);

/* Session timeouts (seconds), from the configuration. */
void api_http_configure(int64_t idle_s, int64_t absolute_s);

/* Serves REQ (a path under /api/v1) for tenant T with the worker's APP. */
void api_handle(struct app_worker *app, struct http_request *req, const struct tenant *t);

#endif
