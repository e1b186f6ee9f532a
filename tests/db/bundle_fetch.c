/* Fetches one deployed bundle version through the daemon's own code (a
 * db_pool in an event loop, bundle_get and its cache), the way a worker
 * does, and prints what arrived so the caller can compare it with the
 * files it deployed.
 *
 *   bundle_fetch CONNINFO TENANT_ID VERSION
 *
 * Asks for the version from REQUESTS requests at once (they must share one
 * fetch and get the same bundle), then once more (answered from the cache
 * before bundle_get returns). Prints "checksum HEX", "files N", then
 * "file PATH LENGTH SHA256-OF-CONTENT ETAG" per file; or "error WHY".
 * Exit 0 when the bundle came and every check held, 1 otherwise. */
#include <event2/event.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "config.h"
#include "db.h"
#include "log.h"

#define REQUESTS 5

static struct event_base *base;
static struct db_pool *pool;
static struct bundle *got[REQUESTS + 1];
static int answered;
static int failures;

static void on_bundle(struct bundle *b, const char *why, void *arg);
static void print_bundle(const struct bundle *b);

int main(int argc, char **argv)
{
	char err[256];
	if (argc != 4) {
		fprintf(stderr, "usage: %s CONNINFO TENANT_ID VERSION\n", argv[0]);
		return 2;
	}
	int64_t tenant = strtoll(argv[2], NULL, 10);
	int version = (int)strtol(argv[3], NULL, 10);
	setenv("AANTAFEL_DATABASE_URL", argv[1], 1);
	setenv("AANTAFEL_DB_POOL_SIZE", "2", 1);
	setenv("AANTAFEL_DB_WAIT_TIMEOUT", "10s", 1);
	setenv("AANTAFEL_LOG_LEVEL", "error", 1);
	struct config *cfg = config_load(NULL, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "config: %s\n", err);
		return 2;
	}
	log_configure(cfg, err, sizeof(err));
	bundle_register_statements();
	base = event_base_new();
	pool = db_pool_new(base, cfg, 0);

	for (intptr_t i = 0; i < REQUESTS; i++)
		bundle_get(pool, tenant, version, on_bundle, (void *)i);
	if (answered != 0) {
		printf("error answered before the database could\n");
		failures++;
	}
	/* A fetch that never answers fails the run instead of hanging it. */
	event_base_loopexit(base, &(struct timeval){.tv_sec = 30});
	event_base_dispatch(base);
	if (answered < REQUESTS) {
		printf("error %d of %d requests unanswered after 30 s\n", REQUESTS - answered, REQUESTS);
		failures++;
	}

	if (answered == REQUESTS && got[0]) {
		for (int i = 1; i < REQUESTS; i++) {
			if (got[i] != got[0]) {
				printf("error request %d got another copy: the fetch was not shared\n", i);
				failures++;
			}
		}
		/* Now from the cache, before bundle_get returns. */
		bundle_get(pool, tenant, version, on_bundle, (void *)(intptr_t)REQUESTS);
		if (answered != REQUESTS + 1 || got[REQUESTS] != got[0]) {
			printf("error the second look was not answered from the cache\n");
			failures++;
		}
		print_bundle(got[0]);
	}
	for (int i = 0; i <= REQUESTS; i++)
		bundle_unref(got[i]);
	bundle_cache_clear();
	db_pool_free(pool);
	event_base_free(base);
	config_unref(cfg);
	return failures || !got[0] ? 1 : 0;
}

static void on_bundle(struct bundle *b, const char *why, void *arg)
{
	intptr_t i = (intptr_t)arg;
	got[i] = b;
	if (!b) {
		printf("error %s\n", why ? why : "(no reason)");
		failures++;
	}
	if (++answered == REQUESTS)
		event_base_loopbreak(base);
}

static void print_bundle(const struct bundle *b)
{
	printf("checksum %s\nfiles %zu\n", b->checksum, b->nfiles);
	for (size_t i = 0; i < b->nfiles; i++) {
		const struct bundle_file *f = &b->files[i];
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int n;
		char hex[65];
		EVP_Digest(f->data, f->len, md, &n, EVP_sha256(), NULL);
		for (unsigned k = 0; k < 32; k++)
			snprintf(hex + 2 * k, 3, "%02x", md[k]);
		printf("file %s %zu %s %s\n", f->path, f->len, hex, f->etag);
	}
}
