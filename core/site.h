/* A tenant's site. Until the Lua runtime serves it, the home page is
 * rendered here in C from the registry and one indexed query. */
#ifndef AANTAFEL_SITE_H
#define AANTAFEL_SITE_H

#include "http.h"
#include "registry.h"

void site_register_statements(void);
void site_handle(struct http_request *req, const struct tenant *t);

#endif
