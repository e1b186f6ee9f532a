/* Generations of the tenants' data, for caches of what guests read. Every
 * write to a table a guest's page shows notifies "aantafel_data" with the
 * tenant's id (sql/010); the registry listener bumps that tenant's
 * generation, and an entry cached under an older generation is stale.
 * Lock-free: counters in slots by a hash of the id (two tenants sharing a
 * slot only invalidate each other more often), plus one epoch for all. */
#ifndef AANTAFEL_DATAGEN_H
#define AANTAFEL_DATAGEN_H

#include <stdint.h>

uint64_t datagen_get(int64_t tenant_id);
void datagen_bump(int64_t tenant_id);
/* Notifications may have been lost (the listener reconnected): all stale. */
void datagen_bump_all(void);

#endif
