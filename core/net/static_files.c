/* Static files. The path is decoded once, checked segment by segment, then
 * opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) so the kernel
 * itself refuses to leave the directory; a per-segment O_NOFOLLOW walk is
 * the fallback where openat2 is missing. */
#include "static_files.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "encode.h"

#define STATIC_PATH_MAX 1024
#define CACHE_BUCKETS 256
#define CACHE_FILE_MAX (256 * 1024)         /* larger files go from disk */
#define CACHE_BYTES_MAX (16 * 1024 * 1024)  /* per worker */
#define CACHE_VALID_MS 1000                 /* revalidate at most this often */

/* A cached file. Shared by the cache and by responses still queued on
 * connections, hence the reference count (one thread: no atomics). */
struct cached_file {
	struct cached_file *next;
	unsigned refs;
	bool in_cache;
	char *path;
	char *body;
	size_t len;
	const char *ctype;
	char etag[64];
	struct timespec mtime;
	int64_t checked_ms;
};

struct static_cache {
	struct cached_file *buckets[CACHE_BUCKETS];
	size_t bytes;
};

static int open_beneath(int dirfd, const char *path);
static struct cached_file *cache_lookup(struct static_cache *sc, int dirfd, const char *path);
static void cached_release(const void *data, size_t len, void *arg);
static void make_etag(char *buf, size_t len, const struct stat *st);
static int64_t now_ms(void);

struct static_cache *static_cache_new(void)
{
	return calloc(1, sizeof(struct static_cache));
}

void static_cache_free(struct static_cache *sc)
{
	if (!sc)
		return;
	for (size_t i = 0; i < CACHE_BUCKETS; i++) {
		struct cached_file *f = sc->buckets[i], *next;
		for (; f; f = next) {
			next = f->next;
			f->in_cache = false;
			cached_release(NULL, 0, f);
		}
	}
	free(sc);
}

void static_serve(struct http_request *req, struct static_cache *sc, int dirfd, const char *rel, size_t len)
{
	char path[STATIC_PATH_MAX];
	enum http_verb m = http_req_method(req);

	if (m != HTTP_M_GET && m != HTTP_M_HEAD) {
		http_resp_header(req, "Allow", "GET, HEAD");
		http_resp_error(req, 405);
		return;
	}
	long n = static_percent_decode(rel, len, path, sizeof(path));
	if (n <= 0 || dirfd < 0) {
		http_resp_error(req, 404);
		return;
	}
	/* Every segment must be a plain name: no "", ".", ".." and no
	 * hidden files (".git", ".env"). */
	for (char *seg = path; seg;) {
		char *slash = strchr(seg, '/');
		size_t slen = slash ? (size_t)(slash - seg) : strlen(seg);
		if (slen == 0 || seg[0] == '.' || memchr(seg, '\\', slen)) {
			http_resp_error(req, 404);
			return;
		}
		seg = slash ? slash + 1 : NULL;
	}

	struct cached_file *cf = sc ? cache_lookup(sc, dirfd, path) : NULL;
	if (cf) {
		http_resp_header(req, "ETag", cf->etag);
		http_resp_header(req, "Cache-Control", "public, max-age=31536000");
		http_resp_header(req, "X-Content-Type-Options", "nosniff");
		const char *inm = http_req_header(req, "If-None-Match");
		if (inm && static_etag_matches(inm, cf->etag)) {
			http_resp_status(req, 304);
			http_resp_send(req);
			return;
		}
		http_resp_header(req, "Content-Type", cf->ctype);
		cf->refs++;
		http_resp_body_ref(req, cf->body, cf->len, cached_release, cf);
		http_resp_send(req);
		return;
	}

	int fd = open_beneath(dirfd, path);
	struct stat st;
	if (fd < 0) {
		http_resp_error(req, 404);
		return;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		http_resp_error(req, 404);
		return;
	}

	char etag[64];
	make_etag(etag, sizeof(etag), &st);
	http_resp_header(req, "ETag", etag);
	http_resp_header(req, "Cache-Control", "public, max-age=31536000");
	http_resp_header(req, "X-Content-Type-Options", "nosniff");

	const char *inm = http_req_header(req, "If-None-Match");
	if (inm && static_etag_matches(inm, etag)) {
		close(fd);
		http_resp_status(req, 304);
		http_resp_send(req);
		return;
	}
	http_resp_header(req, "Content-Type", static_content_type(path));
	/* For HEAD the response layer sends the length and drops the body. */
	http_resp_send_file(req, fd, (uint64_t)st.st_size);
}

const char *static_content_type(const char *name)
{
	static const struct { const char *ext; const char *type; } types[] = {
		{"html", "text/html; charset=utf-8"}, {"css", "text/css; charset=utf-8"},
		{"js", "text/javascript; charset=utf-8"}, {"mjs", "text/javascript; charset=utf-8"},
		{"json", "application/json"}, {"map", "application/json"},
		{"txt", "text/plain; charset=utf-8"}, {"xml", "application/xml"},
		{"svg", "image/svg+xml"}, {"png", "image/png"}, {"jpg", "image/jpeg"},
		{"jpeg", "image/jpeg"}, {"gif", "image/gif"}, {"webp", "image/webp"},
		{"avif", "image/avif"}, {"ico", "image/vnd.microsoft.icon"}, {"woff", "font/woff"},
		{"woff2", "font/woff2"}, {"ttf", "font/ttf"}, {"otf", "font/otf"},
		{"pdf", "application/pdf"}, {"wasm", "application/wasm"},
		{"webmanifest", "application/manifest+json"},
	};
	const char *dot = strrchr(name, '.');
	const char *slash = strrchr(name, '/');
	if (!dot || (slash && dot < slash))
		return "application/octet-stream";
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(dot + 1, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

long static_percent_decode(const char *src, size_t len, char *dst, size_t dstlen)
{
	size_t o = 0;
	if (dstlen == 0)
		return -1;      /* not even room for the NUL */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -1;
			int v = 0;
			for (int k = 1; k <= 2; k++) {
				int d = enc_hex_value((unsigned char)src[i + (size_t)k]);
				if (d < 0)
					return -1;
				v = v << 4 | d;
			}
			if (v == 0)
				return -1;
			c = (unsigned char)v;
			i += 2;
		} else if (c == 0) {
			return -1;
		}
		if (o + 1 >= dstlen)
			return -1;
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return (long)o;
}

/* ---------------------------------------------------------------- cache */

static unsigned hash_path(const char *s)
{
	unsigned h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Returns the cached copy of PATH, loading or revalidating it when its
 * last check is older than CACHE_VALID_MS; NULL when the file is not a
 * small regular file (the caller then serves it from disk or 404). */
static struct cached_file *cache_lookup(struct static_cache *sc, int dirfd, const char *path)
{
	unsigned b = hash_path(path) % CACHE_BUCKETS;
	struct cached_file **pp = &sc->buckets[b], *f;
	int64_t now = now_ms();
	for (f = *pp; f; pp = &f->next, f = f->next)
		if (strcmp(f->path, path) == 0)
			break;
	if (f && now - f->checked_ms < CACHE_VALID_MS)
		return f;

	struct stat st;
	int fd = open_beneath(dirfd, path);
	if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		fd = -1;
	}
	if (f && fd >= 0 && st.st_size == (off_t)f->len && st.st_mtim.tv_sec == f->mtime.tv_sec &&
	    st.st_mtim.tv_nsec == f->mtime.tv_nsec) {
		close(fd);
		f->checked_ms = now;
		return f;
	}
	if (f) {
		/* Gone or changed: drop it; queued responses keep their copy. */
		*pp = f->next;
		sc->bytes -= f->len;
		f->in_cache = false;
		cached_release(NULL, 0, f);
	}
	if (fd < 0)
		return NULL;
	if (st.st_size > CACHE_FILE_MAX || sc->bytes + (size_t)st.st_size > CACHE_BYTES_MAX) {
		close(fd);
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	size_t len = (size_t)st.st_size, got = 0;
	char *body = malloc(len ? len : 1);
	char *copy = strdup(path);
	while (f && body && got < len) {
		ssize_t n = read(fd, body + got, len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!f || !body || !copy || got != len) {
		free(f);
		free(body);
		free(copy);
		return NULL;
	}
	f->refs = 1;
	f->in_cache = true;
	f->path = copy;
	f->body = body;
	f->len = len;
	f->ctype = static_content_type(path);
	f->mtime = st.st_mtim;
	f->checked_ms = now;
	make_etag(f->etag, sizeof(f->etag), &st);
	f->next = sc->buckets[b];
	sc->buckets[b] = f;
	sc->bytes += len;
	return f;
}

static void cached_release(const void *data, size_t len, void *arg)
{
	struct cached_file *f = arg;
	if (--f->refs > 0)
		return;
	free(f->path);
	free(f->body);
	free(f);
}

static void make_etag(char *buf, size_t len, const struct stat *st)
{
	snprintf(buf, len, "\"%llx-%llx-%llx\"", (unsigned long long)st->st_mtim.tv_sec,
		 (unsigned long long)st->st_mtim.tv_nsec, (unsigned long long)st->st_size);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- helpers */

static int open_beneath(int dirfd, const char *path)
{
	static bool no_openat2;
	if (!no_openat2) {
		struct open_how how = {
			.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
		};
		long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		if (fd >= 0 || errno != ENOSYS)
			return (int)fd;
		no_openat2 = true;
	}
	/* Fallback: walk the segments, refusing symlinks at each step. */
	char buf[STATIC_PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	int cur = dirfd;
	char *seg = buf;
	for (;;) {
		char *slash = strchr(seg, '/');
		if (slash)
			*slash = '\0';
		int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | (slash ? O_DIRECTORY : 0);
		int next = openat(cur, seg, flags);
		if (cur != dirfd)
			close(cur);
		if (next < 0 || !slash)
			return next;
		cur = next;
		seg = slash + 1;
	}
}

/* If-None-Match: "*" or a list of entity tags; weak comparison. */
bool static_etag_matches(const char *inm, const char *etag)
{
	size_t elen = strlen(etag);
	const char *p = inm;
	while (*p) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (*p == '*')
			return true;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		if (strncmp(p, etag, elen) == 0 && (p[elen] == '\0' || p[elen] == ',' || p[elen] == ' '))
			return true;
		while (*p && *p != ',')
			p++;
	}
	return false;
}
