/* A worker's cache of guests' API reads: see apicache.h. */
#include "apicache.h"

#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024
#define ENTRY_OVERHEAD 96       /* what an entry costs besides its texts, roughly */

struct entry {
	char *key;
	char *text;
	size_t len, bytes;
	uint64_t gen;
	struct entry *chain;            /* same bucket */
	struct entry *prev, *next;      /* LRU: head is the most recent */
};

struct apicache {
	struct entry *buckets[BUCKETS];
	struct entry *head, *tail;
	size_t bytes, max_bytes;
	uint64_t hits, misses, entries;
};

static unsigned bucket_of(const char *key)
{
	uint64_t h = 1469598103934665603ull;   /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return (unsigned)(h % BUCKETS);
}

struct apicache *apicache_new(size_t max_bytes)
{
	struct apicache *c = calloc(1, sizeof(*c));
	if (c)
		c->max_bytes = max_bytes;
	return c;
}

static void lru_unlink(struct apicache *c, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct apicache *c, struct entry *e)
{
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static void drop(struct apicache *c, struct entry *e)
{
	struct entry **pp = &c->buckets[bucket_of(e->key)];
	while (*pp && *pp != e)
		pp = &(*pp)->chain;
	if (*pp)
		*pp = e->chain;
	lru_unlink(c, e);
	c->bytes -= e->bytes;
	c->entries--;
	free(e->key);
	free(e->text);
	free(e);
}

static void shrink(struct apicache *c)
{
	while (c->tail && c->bytes > c->max_bytes)
		drop(c, c->tail);
}

void apicache_configure(struct apicache *c, size_t max_bytes)
{
	c->max_bytes = max_bytes;
	shrink(c);
}

void apicache_free(struct apicache *c)
{
	if (!c)
		return;
	while (c->head)
		drop(c, c->head);
	free(c);
}

static struct entry *find(struct apicache *c, const char *key)
{
	for (struct entry *e = c->buckets[bucket_of(key)]; e; e = e->chain)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

const char *apicache_get(struct apicache *c, const char *key, uint64_t gen, size_t *len)
{
	struct entry *e = c ? find(c, key) : NULL;
	if (e && e->gen != gen) {
		drop(c, e);
		e = NULL;
	}
	if (!e) {
		if (c)
			c->misses++;
		return NULL;
	}
	c->hits++;
	lru_unlink(c, e);
	lru_push(c, e);
	*len = e->len;
	return e->text;
}

void apicache_put(struct apicache *c, const char *key, uint64_t gen, const char *text, size_t len)
{
	if (!c || !c->max_bytes)
		return;
	size_t klen = strlen(key), bytes = klen + len + ENTRY_OVERHEAD;
	if (bytes > c->max_bytes / 4)
		return;                 /* one answer may not push out everything else */
	struct entry *old = find(c, key);
	if (old)
		drop(c, old);
	struct entry *e = calloc(1, sizeof(*e));
	char *k = malloc(klen + 1), *t = malloc(len + 1);
	if (!e || !k || !t) {
		free(e);
		free(k);
		free(t);
		return;
	}
	memcpy(k, key, klen + 1);
	memcpy(t, text, len);
	t[len] = '\0';
	e->key = k;
	e->text = t;
	e->len = len;
	e->bytes = bytes;
	e->gen = gen;
	unsigned b = bucket_of(key);
	e->chain = c->buckets[b];
	c->buckets[b] = e;
	lru_push(c, e);
	c->bytes += bytes;
	c->entries++;
	shrink(c);
}

void apicache_stats(const struct apicache *c, struct apicache_stats *out)
{
	out->hits = c ? c->hits : 0;
	out->misses = c ? c->misses : 0;
	out->entries = c ? c->entries : 0;
	out->bytes = c ? c->bytes : 0;
}
