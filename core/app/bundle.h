/* Tenant bundles: a municipality's tenant.lua, plugins, templates,
 * translations and static files as one immutable set of files. Authored
 * in tenants/SLUG/, published by `aantafel tenant deploy` as a numbered
 * version in PostgreSQL, fetched by the daemons and shared read-only by
 * all workers of the process. The platform's own plugins (plugins_dir)
 * are read into a bundle of the same shape at start.
 *
 * A bundle is immutable once built; its reference count is atomic, so
 * workers may hold and drop references on their own threads. */
#ifndef AANTAFEL_BUNDLE_H
#define AANTAFEL_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BUNDLE_MAX_FILES 2000
#define BUNDLE_MAX_FILE (4u * 1024 * 1024)      /* one file */
#define BUNDLE_MAX_TOTAL (32u * 1024 * 1024)    /* all files of a bundle */
#define BUNDLE_MAX_PATH 200                     /* bytes of a relative path */

struct bundle_file {
	const char *path;       /* relative, '/'-separated, no "." or ".." parts */
	const char *data;       /* NUL-terminated (NUL not counted in len) */
	size_t len;
	char etag[20];          /* "\"" + 16 hex digits of a content hash + "\"" */
};

struct bundle {
	int64_t tenant_id;      /* 0 for a directory read from disk */
	int version;            /* 0 for a directory read from disk */
	size_t nfiles;
	const struct bundle_file *files;  /* sorted by path (strcmp) */
	char checksum[65];      /* SHA-256 hex over paths and contents */
	size_t total_bytes;
};

/* Reads DIR recursively: regular files only (a symlink, device or FIFO is
 * an error naming it), paths of [A-Za-z0-9._-] parts, hidden files
 * (".name") skipped, the limits above enforced. Returns NULL with the
 * reason in err. */
struct bundle *bundle_read_dir(const char *dir, char *err, size_t errlen);

/* Builds a bundle from NFILES (path, data, len) triples, copying them; the
 * same checks as bundle_read_dir on paths and sizes. */
struct bundle *bundle_from_files(int64_t tenant_id, int version, size_t nfiles, const char *const *paths,
				 const char *const *datas, const size_t *lens, char *err, size_t errlen);

const struct bundle_file *bundle_find(const struct bundle *b, const char *path);

/* Files whose path starts with PREFIX, in path order: *first is set to the
 * first, the return value is their number. */
size_t bundle_prefix(const struct bundle *b, const char *prefix, const struct bundle_file **first);

void bundle_ref(struct bundle *b);
void bundle_unref(struct bundle *b);

/* An empty bundle for tenants that never deployed one (version 0). */
struct bundle *bundle_empty(int64_t tenant_id);

/* ---- the process-wide cache of deployed versions, filled from the database */

struct db_pool;

/* Registers the statements the cache fetches with; call before the
 * workers start (next to the other *_register_statements). */
void bundle_register_statements(void);

/* Calls CB with a new reference to version VERSION of TENANT_ID's bundle,
 * from the cache or fetched through POOL (asynchronously, on POOL's loop;
 * concurrent requests for the same version share one fetch per worker at
 * most). On failure CB gets NULL and a reason. CB may run before
 * bundle_get returns. */
typedef void (*bundle_cb)(struct bundle *b, const char *why, void *arg);
void bundle_get(struct db_pool *pool, int64_t tenant_id, int version, bundle_cb cb, void *arg);

/* Drops cached versions nobody holds that are not VERSION of their
 * tenant in the current registry; called after registry changes. */
void bundle_cache_trim(void);
void bundle_cache_clear(void);

#endif
