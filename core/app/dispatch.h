/* The first handler every request reaches: platform routes that work on
 * any host (health, readiness, static files), then the tenant by Host. */
#ifndef AANTAFEL_DISPATCH_H
#define AANTAFEL_DISPATCH_H

#include "http.h"

void dispatch_register_statements(void);
void dispatch_request(struct http_request *req);

#endif
