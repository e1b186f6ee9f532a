/* Files served from one directory (static_dir) under /static/, with ETag
 * revalidation, long cache lifetimes and no way out of the directory. */
#ifndef AANTAFEL_STATIC_FILES_H
#define AANTAFEL_STATIC_FILES_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

/* A worker's cache of small files, each revalidated against the disk at
 * most once a second, bounded in total bytes. */
struct static_cache;
struct static_cache *static_cache_new(void);
void static_cache_free(struct static_cache *sc);

/* Serves REL (the raw, still percent-encoded path below the mount point)
 * from the directory DIRFD. Answers 404 for anything that is not a regular
 * file inside it, including every form of "..", and for symlinks. */
void static_serve(struct http_request *req, struct static_cache *sc, int dirfd, const char *rel, size_t len);

/* The Content-Type for a file name ("application/octet-stream" when the
 * extension is unknown). */
const char *static_content_type(const char *name);

/* Decodes %XX escapes of SRC into DST (NUL terminated). Returns the
 * decoded length, or -1 for a malformed escape, an encoded NUL or a
 * result longer than dstlen - 1. */
long static_percent_decode(const char *src, size_t len, char *dst, size_t dstlen);

/* Whether an If-None-Match value (a list, or "*") names ETAG. */
bool static_etag_matches(const char *inm, const char *etag);

#endif
