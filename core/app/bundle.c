/* Tenant bundles: reading a directory into an immutable set of files,
 * looking files up, and the process-wide cache of deployed versions that
 * the workers fill from the database and share. A bundle's files live in
 * one block of memory; only the reference count ever changes. */
#include "bundle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "encode.h"
#include "errbuf.h"
#include "log.h"
#include "registry.h"

#define MIB (1024u * 1024)
#define FETCH_WAITERS_MAX 4096  /* requests sharing one fetch */

struct bundle_box {
	struct bundle pub;      /* first: a struct bundle * is a box */
	atomic_int refs;
	struct bundle_file *files;
	char *mem;              /* every path and content, NUL-terminated */
};

/* A directory being read: what was collected so far. */
struct reader {
	const char *root;
	char *err;
	size_t errlen;
	size_t n, cap;
	char **paths;
	char **datas;
	size_t *lens;
	size_t total;
};

/* ---- the cache: sorted by (tenant_id, version); each entry holds one
 * reference. */
struct cache_entry {
	int64_t tenant_id;
	int version;
	struct bundle *b;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_entry *cache;
static size_t cache_n, cache_cap;

/* ---- fetches in flight, per worker thread (a pool lives on one thread). */
enum fetch_state { FETCH_WAITING_DB, FETCH_QUERYING };

struct waiter {
	bundle_cb cb;
	void *arg;
	struct waiter *next;
};

struct fetch {
	enum fetch_state state;
	struct db_pool *pool;
	int64_t tenant_id;
	int version;
	struct waiter *waiters, **tail;
	size_t nwaiters;
	struct fetch *next;
};

static _Thread_local struct fetch *fetches;
static int stmt_head = -1, stmt_files = -1;

static const char *path_problem(const char *path);
static int cmp_file(const void *a, const void *b);
static struct bundle *build(int64_t tenant_id, int version, struct bundle_file *files, size_t n, size_t total,
			    char *err, size_t errlen);
static int hash_files(struct bundle *b);
static int read_tree(struct reader *r, int dirfd, char *rel, size_t rellen);
static int read_entry(struct reader *r, int dirfd, const char *name, char *rel, size_t rellen);
static int read_file(struct reader *r, int fd, const char *rel);
static int reader_grow(struct reader *r);
static void reader_free(struct reader *r);
static struct bundle *cache_get(int64_t tenant_id, int version);
static struct bundle *cache_put(struct bundle *b);
static int cache_grow(void);
static size_t cache_pos(int64_t tenant_id, int version, bool *found);
static struct cache_entry *current_versions(size_t *n);
static int cmp_entry(const void *a, const void *b);
static struct fetch *fetch_find(struct db_pool *pool, int64_t tenant_id, int version);
static int fetch_wait(struct fetch *f, bundle_cb cb, void *arg);
static void fetch_begun(struct db_txn *txn, enum db_status st, void *arg);
static void fetch_done(struct db_txn *txn, enum db_status st, void *arg);
static struct bundle *fetch_build(struct fetch *f, struct db_txn *txn, char *why, size_t whylen);
static void fetch_finish(struct fetch *f, struct bundle *b, const char *why);

/* ---------------------------------------------------------------- bundles */

struct bundle *bundle_read_dir(const char *dir, char *err, size_t errlen)
{
	struct reader r = {.root = dir, .err = err, .errlen = errlen};
	char rel[BUNDLE_MAX_PATH + 1];
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		errf(err, errlen, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	rel[0] = '\0';
	struct bundle *b = NULL;
	if (read_tree(&r, fd, rel, 0) == 0)
		b = bundle_from_files(0, 0, r.n, (const char *const *)r.paths, (const char *const *)r.datas, r.lens,
				      err, errlen);
	reader_free(&r);
	return b;
}

struct bundle *bundle_from_files(int64_t tenant_id, int version, size_t nfiles, const char *const *paths,
				 const char *const *datas, const size_t *lens, char *err, size_t errlen)
{
	if (nfiles > BUNDLE_MAX_FILES) {
		errf(err, errlen, "%zu files, more than the %d a bundle may have", nfiles, BUNDLE_MAX_FILES);
		return NULL;
	}
	struct bundle_file *files = calloc(nfiles ? nfiles : 1, sizeof(*files));
	if (!files) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	size_t total = 0;
	for (size_t i = 0; i < nfiles; i++) {
		const char *why = path_problem(paths[i]);
		if (!why && lens[i] > BUNDLE_MAX_FILE)
			why = "larger than the 4 MiB one file may have";
		if (why) {
			errf(err, errlen, "%s: %s", paths[i], why);
			free(files);
			return NULL;
		}
		total += lens[i];
		if (total > BUNDLE_MAX_TOTAL) {
			errf(err, errlen, "more than the %u MiB a bundle may have in all (at %s)", BUNDLE_MAX_TOTAL / MIB,
			     paths[i]);
			free(files);
			return NULL;
		}
		files[i] = (struct bundle_file){.path = paths[i], .data = datas[i], .len = lens[i]};
	}
	struct bundle *b = build(tenant_id, version, files, nfiles, total, err, errlen);
	if (!b)
		free(files);
	return b;
}

const struct bundle_file *bundle_find(const struct bundle *b, const char *path)
{
	size_t lo = 0, hi = b->nfiles;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(b->files[mid].path, path);
		if (c == 0)
			return &b->files[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

size_t bundle_prefix(const struct bundle *b, const char *prefix, const struct bundle_file **first)
{
	/* Paths sharing a prefix are contiguous in strcmp order, starting at
	 * the first path not below the prefix itself. */
	size_t lo = 0, hi = b->nfiles, plen = strlen(prefix);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(b->files[mid].path, prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = lo;
	while (end < b->nfiles && strncmp(b->files[end].path, prefix, plen) == 0)
		end++;
	*first = end > lo ? &b->files[lo] : NULL;
	return end - lo;
}

void bundle_ref(struct bundle *b)
{
	struct bundle_box *x = (struct bundle_box *)b;
	atomic_fetch_add_explicit(&x->refs, 1, memory_order_relaxed);
}

void bundle_unref(struct bundle *b)
{
	struct bundle_box *x = (struct bundle_box *)b;
	if (!b || atomic_fetch_sub_explicit(&x->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(x->files);
	free(x->mem);
	free(x);
}

struct bundle *bundle_empty(int64_t tenant_id)
{
	char err[64];
	return bundle_from_files(tenant_id, 0, 0, NULL, NULL, NULL, err, sizeof(err));
}

/* The problem with a relative path, or NULL: '/'-separated parts of
 * [A-Za-z0-9._-], none empty, none starting with '.' (which also rules
 * out "." and ".."). */
static const char *path_problem(const char *path)
{
	size_t len = strlen(path);
	if (len == 0)
		return "empty path";
	if (len > BUNDLE_MAX_PATH)
		return "path longer than 200 bytes";
	bool part_start = true;
	for (const char *p = path; *p; p++) {
		char c = *p;
		if (c == '/') {
			if (part_start)
				return "empty path part";
			part_start = true;
			continue;
		}
		if (part_start && c == '.')
			return "a path part starts with '.'";
		part_start = false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-'))
			return "only letters, digits, '.', '_' and '-' are allowed in names";
	}
	return part_start ? "empty path part" : NULL;
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct bundle_file *)a)->path, ((const struct bundle_file *)b)->path);
}

/* Sorts FILES (pointing at the caller's data), copies them into one
 * block, hashes them. Takes FILES on success. */
static struct bundle *build(int64_t tenant_id, int version, struct bundle_file *files, size_t n, size_t total,
			    char *err, size_t errlen)
{
	qsort(files, n, sizeof(*files), cmp_file);
	size_t bytes = 1;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(files[i - 1].path, files[i].path) == 0) {
			errf(err, errlen, "%s: given twice", files[i].path);
			return NULL;
		}
		bytes += strlen(files[i].path) + 1 + files[i].len + 1;
	}
	struct bundle_box *x = calloc(1, sizeof(*x));
	char *mem = malloc(bytes);
	if (!x || !mem) {
		free(x);
		free(mem);
		errf(err, errlen, "out of memory");
		return NULL;
	}
	char *p = mem;
	for (size_t i = 0; i < n; i++) {
		size_t plen = strlen(files[i].path) + 1;
		memcpy(p, files[i].path, plen);
		files[i].path = p;
		p += plen;
		if (files[i].len)
			memcpy(p, files[i].data, files[i].len);
		p[files[i].len] = '\0';
		files[i].data = p;
		p += files[i].len + 1;
	}
	atomic_init(&x->refs, 1);
	x->files = files;
	x->mem = mem;
	x->pub = (struct bundle){.tenant_id = tenant_id, .version = version, .nfiles = n, .files = files,
				 .total_bytes = total};
	if (hash_files(&x->pub) != 0) {
		x->files = NULL;        /* the caller frees them */
		bundle_unref(&x->pub);
		errf(err, errlen, "SHA-256 is not available");
		return NULL;
	}
	return &x->pub;
}

/* The checksum: SHA-256 over every file in path order as path, NUL, the
 * length as 8 bytes big-endian, content. Each etag: the first 16 hex
 * digits of the SHA-256 of the content. */
static int hash_files(struct bundle *b)
{
	struct bundle_file *files = (struct bundle_file *)b->files;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto fail;
	for (size_t i = 0; i < b->nfiles; i++) {
		struct bundle_file *f = &files[i];
		unsigned char len[8];
		for (int k = 0; k < 8; k++)
			len[k] = (unsigned char)((uint64_t)f->len >> (56 - 8 * k));
		if (EVP_DigestUpdate(ctx, f->path, strlen(f->path) + 1) != 1 ||
		    EVP_DigestUpdate(ctx, len, sizeof(len)) != 1 || EVP_DigestUpdate(ctx, f->data, f->len) != 1)
			goto fail;
		if (EVP_Digest(f->data, f->len, md, &mdlen, EVP_sha256(), NULL) != 1)
			goto fail;
		f->etag[0] = '"';
		enc_hex(md, 8, f->etag + 1);
		f->etag[17] = '"';
		f->etag[18] = '\0';
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		goto fail;
	enc_hex(md, mdlen < 32 ? mdlen : 32, b->checksum);
	EVP_MD_CTX_free(ctx);
	return 0;
fail:
	EVP_MD_CTX_free(ctx);
	return -1;
}

/* ---------------------------------------------------------------- reading a directory */

/* Reads the directory DIRFD (whose path below the root is REL) and takes
 * DIRFD. */
static int read_tree(struct reader *r, int dirfd, char *rel, size_t rellen)
{
	DIR *d = fdopendir(dirfd);
	if (!d) {
		errf(r->err, r->errlen, "%s/%s: %s", r->root, rel, strerror(errno));
		close(dirfd);
		return -1;
	}
	int rc = 0;
	struct dirent *e;
	errno = 0;
	while (rc == 0 && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;       /* ".", ".." and hidden files */
		rc = read_entry(r, dirfd, e->d_name, rel, rellen);
		errno = 0;
	}
	if (rc == 0 && errno) {
		errf(r->err, r->errlen, "%s/%s: %s", r->root, rel, strerror(errno));
		rc = -1;
	}
	rel[rellen] = '\0';
	closedir(d);
	return rc;
}

static int read_entry(struct reader *r, int dirfd, const char *name, char *rel, size_t rellen)
{
	size_t nlen = strlen(name), len = rellen + (rellen ? 1 : 0) + nlen;
	if (len > BUNDLE_MAX_PATH) {
		errf(r->err, r->errlen, "%s/%s%s%.40s...: path longer than %d bytes", r->root, rel, rellen ? "/" : "",
		     name, BUNDLE_MAX_PATH);
		return -1;
	}
	snprintf(rel + rellen, BUNDLE_MAX_PATH + 1 - rellen, "%s%s", rellen ? "/" : "", name);
	const char *why = path_problem(rel);
	if (why) {
		errf(r->err, r->errlen, "%s/%s: %s", r->root, rel, why);
		return -1;
	}
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		errf(r->err, r->errlen, "%s/%s: %s", r->root, rel, strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		errf(r->err, r->errlen, "%s/%s: a symbolic link; a bundle holds regular files only", r->root, rel);
		return -1;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		errf(r->err, r->errlen, "%s/%s: not a regular file (device, FIFO or socket)", r->root, rel);
		return -1;
	}
	int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : O_NONBLOCK);
	int fd = openat(dirfd, name, flags);
	if (fd < 0) {
		errf(r->err, r->errlen, "%s/%s: %s", r->root, rel, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		return read_tree(r, fd, rel, len);
	int rc = read_file(r, fd, rel);
	close(fd);
	return rc;
}

static int read_file(struct reader *r, int fd, const char *rel)
{
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		errf(r->err, r->errlen, "%s/%s: not a regular file", r->root, rel);
		return -1;
	}
	if (r->n >= BUNDLE_MAX_FILES) {
		errf(r->err, r->errlen, "%s: more than the %d files a bundle may have", r->root, BUNDLE_MAX_FILES);
		return -1;
	}
	size_t size = (size_t)st.st_size;
	if (st.st_size > (off_t)BUNDLE_MAX_FILE) {
		errf(r->err, r->errlen, "%s/%s: %.1f MiB, more than the %u MiB one file may have", r->root, rel,
		     (double)st.st_size / MIB, BUNDLE_MAX_FILE / MIB);
		return -1;
	}
	if (r->total + size > BUNDLE_MAX_TOTAL) {
		errf(r->err, r->errlen, "%s: more than the %u MiB a bundle may have in all (at %s)", r->root,
		     BUNDLE_MAX_TOTAL / MIB, rel);
		return -1;
	}
	if (reader_grow(r) != 0) {
		errf(r->err, r->errlen, "out of memory");
		return -1;
	}
	char *path = strdup(rel), *data = malloc(size + 1);
	if (!path || !data) {
		free(path);
		free(data);
		errf(r->err, r->errlen, "out of memory");
		return -1;
	}
	/* One byte more than fstat said: a file that grows is noticed. */
	size_t got = 0;
	int read_errno = 0;
	while (got <= size) {
		ssize_t k = read(fd, data + got, size + 1 - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			read_errno = errno;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	if (read_errno || got != size) {
		errf(r->err, r->errlen, "%s/%s: %s", r->root, rel,
		     read_errno ? strerror(read_errno) : "changed while being read");
		free(path);
		free(data);
		return -1;
	}
	r->paths[r->n] = path;
	r->datas[r->n] = data;
	r->lens[r->n] = size;
	r->n++;
	r->total += size;
	return 0;
}

static int reader_grow(struct reader *r)
{
	if (r->n < r->cap)
		return 0;
	size_t cap = r->cap ? 2 * r->cap : 64;
	char **paths = reallocarray(r->paths, cap, sizeof(*paths));
	if (paths)
		r->paths = paths;
	char **datas = reallocarray(r->datas, cap, sizeof(*datas));
	if (datas)
		r->datas = datas;
	size_t *lens = reallocarray(r->lens, cap, sizeof(*lens));
	if (lens)
		r->lens = lens;
	if (!paths || !datas || !lens)
		return -1;
	r->cap = cap;
	return 0;
}

static void reader_free(struct reader *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->paths[i]);
		free(r->datas[i]);
	}
	free(r->paths);
	free(r->datas);
	free(r->lens);
}

/* ---------------------------------------------------------------- the cache */

void bundle_register_statements(void)
{
	/* sql/code/bundles.sql */
	stmt_head = db_stmt("SELECT checksum, nfiles FROM platform.bundle_head($1, $2)");
	stmt_files = db_stmt_binary("SELECT path, content FROM platform.bundle_files_of($1, $2)");
}

void bundle_get(struct db_pool *pool, int64_t tenant_id, int version, bundle_cb cb, void *arg)
{
	if (version <= 0) {
		struct bundle *b = bundle_empty(tenant_id);
		cb(b, b ? NULL : "out of memory", arg);
		return;
	}
	struct bundle *b = cache_get(tenant_id, version);
	if (b) {
		cb(b, NULL, arg);
		return;
	}
	if (!pool || stmt_head < 0) {
		cb(NULL, pool ? "bundle_register_statements() was not called" : "no database", arg);
		return;
	}
	struct fetch *f = fetch_find(pool, tenant_id, version);
	if (f) {
		if (fetch_wait(f, cb, arg) != 0)
			cb(NULL, "too many requests wait for this bundle", arg);
		return;
	}
	f = calloc(1, sizeof(*f));
	if (!f || fetch_wait(f, cb, arg) != 0) {
		free(f);
		cb(NULL, "out of memory", arg);
		return;
	}
	f->state = FETCH_WAITING_DB;
	f->pool = pool;
	f->tenant_id = tenant_id;
	f->version = version;
	f->next = fetches;
	fetches = f;
	db_begin(pool, tenant_id, fetch_begun, f);
}

void bundle_cache_trim(void)
{
	size_t ncur, kept = 0, dropped = 0;
	struct cache_entry *cur = current_versions(&ncur);
	if (!cur)
		return;         /* out of memory: keep everything for now */
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < cache_n; i++) {
		struct cache_entry *e = &cache[i];
		struct bundle_box *x = (struct bundle_box *)e->b;
		bool current = bsearch(e, cur, ncur, sizeof(*cur), cmp_entry) != NULL;
		/* Only the cache holds it: nobody can take a new reference
		 * without this lock. */
		if (!current && atomic_load(&x->refs) == 1) {
			bundle_unref(e->b);
			dropped++;
		} else {
			cache[kept++] = *e;
		}
	}
	cache_n = kept;
	pthread_mutex_unlock(&cache_lock);
	free(cur);
	if (dropped)
		log_debug("bundles: %zu cached version%s dropped, %zu kept", dropped, dropped == 1 ? "" : "s", kept);
}

void bundle_cache_clear(void)
{
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < cache_n; i++)
		bundle_unref(cache[i].b);
	free(cache);
	cache = NULL;
	cache_n = cache_cap = 0;
	pthread_mutex_unlock(&cache_lock);
}

static struct bundle *cache_get(int64_t tenant_id, int version)
{
	bool found;
	struct bundle *b = NULL;
	pthread_mutex_lock(&cache_lock);
	size_t i = cache_pos(tenant_id, version, &found);
	if (found) {
		b = cache[i].b;
		bundle_ref(b);
	}
	pthread_mutex_unlock(&cache_lock);
	return b;
}

/* Inserts B (whose reference the caller keeps) unless another worker put
 * the same version in first; returns the cached one with a new
 * reference, or NULL when out of memory. */
static struct bundle *cache_put(struct bundle *b)
{
	bool found;
	struct bundle *out = NULL;
	pthread_mutex_lock(&cache_lock);
	size_t i = cache_pos(b->tenant_id, b->version, &found);
	if (found) {
		out = cache[i].b;
	} else if (cache_grow() == 0) {
		memmove(&cache[i + 1], &cache[i], (cache_n - i) * sizeof(*cache));
		cache[i] = (struct cache_entry){.tenant_id = b->tenant_id, .version = b->version, .b = b};
		cache_n++;
		bundle_ref(b);          /* the cache's own */
		out = b;
	}
	if (out)
		bundle_ref(out);
	pthread_mutex_unlock(&cache_lock);
	return out;
}

/* Room for one more entry; called with the lock. */
static int cache_grow(void)
{
	if (cache_n < cache_cap)
		return 0;
	size_t cap = cache_cap ? 2 * cache_cap : 64;
	struct cache_entry *c = reallocarray(cache, cap, sizeof(*c));
	if (!c)
		return -1;
	cache = c;
	cache_cap = cap;
	return 0;
}

/* Where (TENANT_ID, VERSION) is or would go; called with the lock. */
static size_t cache_pos(int64_t tenant_id, int version, bool *found)
{
	size_t lo = 0, hi = cache_n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct cache_entry *e = &cache[mid];
		if (e->tenant_id < tenant_id || (e->tenant_id == tenant_id && e->version < version))
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < cache_n && cache[lo].tenant_id == tenant_id && cache[lo].version == version;
	return lo;
}

/* The registry's (tenant, deployed version) pairs, sorted; no registry
 * yet means no version is current. */
static struct cache_entry *current_versions(size_t *n)
{
	struct registry *r = registry_acquire();
	size_t count = registry_count(r);
	struct cache_entry *cur = calloc(count ? count : 1, sizeof(*cur));
	*n = 0;
	for (size_t i = 0; cur && i < count; i++) {
		const struct tenant *t = registry_at(r, i);
		if (t->bundle_version > 0)
			cur[(*n)++] = (struct cache_entry){.tenant_id = t->id, .version = t->bundle_version};
	}
	registry_unref(r);
	if (cur)
		qsort(cur, *n, sizeof(*cur), cmp_entry);
	return cur;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct cache_entry *x = a, *y = b;
	if (x->tenant_id != y->tenant_id)
		return x->tenant_id < y->tenant_id ? -1 : 1;
	return (x->version > y->version) - (x->version < y->version);
}

/* ---------------------------------------------------------------- fetching */

static struct fetch *fetch_find(struct db_pool *pool, int64_t tenant_id, int version)
{
	for (struct fetch *f = fetches; f; f = f->next)
		if (f->pool == pool && f->tenant_id == tenant_id && f->version == version)
			return f;
	return NULL;
}

static int fetch_wait(struct fetch *f, bundle_cb cb, void *arg)
{
	if (f->nwaiters >= FETCH_WAITERS_MAX)
		return -1;
	struct waiter *w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	w->cb = cb;
	w->arg = arg;
	if (!f->tail)
		f->tail = &f->waiters;
	*f->tail = w;
	f->tail = &w->next;
	f->nwaiters++;
	return 0;
}

static void fetch_begun(struct db_txn *txn, enum db_status st, void *arg)
{
	struct fetch *f = arg;
	if (st != DB_OK) {
		fetch_finish(f, NULL, "no database connection");
		return;
	}
	char id[24], version[16];
	snprintf(id, sizeof(id), "%" PRId64, f->tenant_id);
	snprintf(version, sizeof(version), "%d", f->version);
	const char *params[] = {id, version};
	if (db_query(txn, stmt_head, 2, params) != 0 || db_query(txn, stmt_files, 2, params) != 0) {
		db_rollback(txn);
		fetch_finish(f, NULL, "cannot queue the bundle query");
		return;
	}
	f->state = FETCH_QUERYING;
	db_commit(txn, fetch_done, f);
}

static void fetch_done(struct db_txn *txn, enum db_status st, void *arg)
{
	struct fetch *f = arg;
	char why[256];
	if (st != DB_OK) {
		snprintf(why, sizeof(why), "%s", st == DB_ERROR ? db_error(txn) : "database unavailable");
		fetch_finish(f, NULL, why);
		return;
	}
	struct bundle *b = fetch_build(f, txn, why, sizeof(why));
	if (!b) {
		fetch_finish(f, NULL, why);
		return;
	}
	/* Out of memory for the cache, the waiters still get this copy. */
	struct bundle *cached = cache_put(b);
	fetch_finish(f, cached ? cached : b, NULL);
	bundle_unref(cached);
	bundle_unref(b);
}

/* Checks the rows (the database is outside: sizes and counts are
 * checked before use) and builds the bundle. */
static struct bundle *fetch_build(struct fetch *f, struct db_txn *txn, char *why, size_t whylen)
{
	const PGresult *head = db_result(txn, 0), *rows = db_result(txn, 1);
	if (!head || !rows || PQntuples(head) != 1 || PQnfields(rows) != 2) {
		errf(why, whylen, "version %d of tenant %" PRId64 " is not in the database", f->version, f->tenant_id);
		return NULL;
	}
	const char *checksum = PQgetvalue(head, 0, 0);
	long nfiles = strtol(PQgetvalue(head, 0, 1), NULL, 10);
	int n = PQntuples(rows);
	if (n > BUNDLE_MAX_FILES || n != nfiles) {
		errf(why, whylen, "version %d of tenant %" PRId64 ": %d files, the record says %ld", f->version,
		     f->tenant_id, n, nfiles);
		return NULL;
	}
	const char **paths = calloc((size_t)n + 1, sizeof(*paths));
	const char **datas = calloc((size_t)n + 1, sizeof(*datas));
	size_t *lens = calloc((size_t)n + 1, sizeof(*lens));
	struct bundle *b = NULL;
	if (!paths || !datas || !lens) {
		errf(why, whylen, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		paths[i] = PQgetvalue(rows, i, 0);
		if (strlen(paths[i]) != (size_t)PQgetlength(rows, i, 0)) {
			errf(why, whylen, "version %d of tenant %" PRId64 ": a path holds a NUL", f->version,
			     f->tenant_id);
			goto out;
		}
		datas[i] = PQgetvalue(rows, i, 1);
		lens[i] = (size_t)PQgetlength(rows, i, 1);
	}
	char err[256];
	b = bundle_from_files(f->tenant_id, f->version, (size_t)n, paths, datas, lens, err, sizeof(err));
	if (!b)
		errf(why, whylen, "version %d of tenant %" PRId64 ": %s", f->version, f->tenant_id, err);
	else if (strcmp(b->checksum, checksum) != 0) {
		errf(why, whylen, "version %d of tenant %" PRId64 ": checksum %.12s, the record says %.12s",
		     f->version, f->tenant_id, b->checksum, checksum);
		bundle_unref(b);
		b = NULL;
	}
out:
	free(paths);
	free(datas);
	free(lens);
	return b;
}

/* Answers every waiter (B may be NULL with WHY) and forgets the fetch. */
static void fetch_finish(struct fetch *f, struct bundle *b, const char *why)
{
	for (struct fetch **p = &fetches; *p; p = &(*p)->next) {
		if (*p == f) {
			*p = f->next;
			break;
		}
	}
	if (!b)
		log_warn("bundles: %s", why);
	struct waiter *w = f->waiters;
	free(f);
	while (w) {
		struct waiter *next = w->next;
		if (b)
			bundle_ref(b);
		w->cb(b, b ? NULL : why, w->arg);
		free(w);
		w = next;
	}
}

