/* A worker's cache of the answers guests get from the API's reads
 * (GET operations, no one signed in): keyed by tenant, operation and
 * arguments, valid while the tenant's data generation (datagen.h) is the
 * one it was read under, bounded by bytes with the least recently used
 * entries dropped first. One per worker: no locks. */
#ifndef AANTAFEL_APICACHE_H
#define AANTAFEL_APICACHE_H

#include <stddef.h>
#include <stdint.h>

struct apicache;

struct apicache *apicache_new(size_t max_bytes);
void apicache_free(struct apicache *c);
void apicache_configure(struct apicache *c, size_t max_bytes);

/* The text stored under KEY for generation GEN, or NULL (a stale entry
 * is dropped). Valid until the next put or configure. */
const char *apicache_get(struct apicache *c, const char *key, uint64_t gen, size_t *len);
void apicache_put(struct apicache *c, const char *key, uint64_t gen, const char *text, size_t len);

struct apicache_stats {
	uint64_t hits, misses, entries, bytes;
};
void apicache_stats(const struct apicache *c, struct apicache_stats *out);

#endif
