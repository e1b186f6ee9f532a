/* The first handler every request reaches: platform routes that work on
 * any host (health, static files), then the tenant's site. */
#ifndef AANTAFEL_DISPATCH_H
#define AANTAFEL_DISPATCH_H

#include "http.h"

void dispatch_request(struct http_request *req);

#endif
