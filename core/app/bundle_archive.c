/* Reading an uploaded .tar.gz into a bundle: zlib inflates on demand, a
 * small tar reader asks it for exactly the bytes it needs, and every limit
 * is checked on a header before its content is inflated. */
#include "bundle_archive.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "bundle.h"
#include "errbuf.h"

#define BLOCK 512
#define PAX_MAX (64 * 1024)             /* one pax extended header */
#define LONGNAME_MAX 4096               /* one GNU long name */
#define ENTRIES_MAX (4 * BUNDLE_MAX_FILES) /* directories and metadata entries too */

struct tar {
	z_stream z;
	bool z_end;             /* the gzip stream ended */
	char *err;
	size_t errlen;
	size_t n, cap;
	char **paths;
	char **datas;
	size_t *lens;
	size_t total;
};

/* Inflates exactly LEN bytes into OUT (NULL: thrown away). -1 with the
 * reason when the stream is damaged or ends first. */
static int pull(struct tar *t, void *out, size_t len)
{
	unsigned char scratch[4096];
	while (len > 0) {
		if (t->z_end) {
			errf(t->err, t->errlen, "the archive ends in the middle of a file");
			return -1;
		}
		size_t want = len;
		if (!out && want > sizeof(scratch))
			want = sizeof(scratch);
		if (want > UINT32_MAX)
			want = UINT32_MAX;
		t->z.next_out = out ? (unsigned char *)out : scratch;
		t->z.avail_out = (uInt)want;
		while (t->z.avail_out > 0) {
			int rc = inflate(&t->z, Z_NO_FLUSH);
			if (rc == Z_STREAM_END) {
				t->z_end = true;
				break;
			}
			if (rc != Z_OK) {
				errf(t->err, t->errlen, "not a valid .tar.gz archive (%s)",
				     rc == Z_BUF_ERROR ? "it ends too soon" : (t->z.msg ? t->z.msg : "damaged"));
				return -1;
			}
		}
		size_t got = want - t->z.avail_out;
		if (out)
			out = (char *)out + got;
		len -= got;
		if (got == 0 && !t->z_end) {
			errf(t->err, t->errlen, "not a valid .tar.gz archive");
			return -1;
		}
	}
	return 0;
}

/* An octal number field of a header (NUL- or space-terminated); -1 when
 * it is not one or does not fit. Base-256 sizes are over any limit. */
static int64_t octal(const char *f, size_t len)
{
	size_t i = 0;
	while (i < len && f[i] == ' ')
		i++;
	if (i == len || f[i] < '0' || f[i] > '7')
		return -1;
	int64_t v = 0;
	for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v > (INT64_MAX >> 3))
			return -1;
		v = v * 8 + (f[i] - '0');
	}
	if (i < len && f[i] != '\0' && f[i] != ' ')
		return -1;
	return v;
}

static bool zero_block(const unsigned char *b)
{
	for (int i = 0; i < BLOCK; i++)
		if (b[i])
			return false;
	return true;
}

static bool checksum_ok(const unsigned char *h)
{
	int64_t want = octal((const char *)h + 148, 8);
	int64_t sum = 0;
	for (int i = 0; i < BLOCK; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	return want >= 0 && want == sum;
}

/* Takes the value of KEY out of a pax extended header's records into OUT;
 * 0 when absent, 1 found, -1 when the records are malformed. */
static int pax_get(const char *rec, size_t len, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	size_t pos = 0;
	int found = 0;
	while (pos < len) {
		size_t n = 0, i = pos;
		while (i < len && rec[i] >= '0' && rec[i] <= '9' && n < PAX_MAX)
			n = n * 10 + (size_t)(rec[i++] - '0');
		if (i == pos || i >= len || rec[i] != ' ' || n == 0 || n > len - pos || rec[pos + n - 1] != '\n')
			return -1;
		const char *kv = rec + i + 1, *end = rec + pos + n - 1;
		const char *eq = memchr(kv, '=', (size_t)(end - kv));
		if (!eq)
			return -1;
		if ((size_t)(eq - kv) == klen && memcmp(kv, key, klen) == 0) {
			size_t vlen = (size_t)(end - eq - 1);
			if (vlen >= outlen)
				return -1;
			memcpy(out, eq + 1, vlen);
			out[vlen] = '\0';
			found = 1;
		}
		pos += n;
	}
	return found;
}

/* The path as the bundle takes it: "./" parts dropped; absolute paths and
 * ".." parts refused. A trailing "/" (a directory) is dropped. */
static const char *clean_path(char *p)
{
	if (p[0] == '/')
		return "an absolute path";
	char *w = p;
	const char *r = p;
	while (*r) {
		const char *slash = strchr(r, '/');
		size_t n = slash ? (size_t)(slash - r) : strlen(r);
		if (n == 2 && r[0] == '.' && r[1] == '.')
			return "a path with a '..' part";
		if (n > 0 && !(n == 1 && r[0] == '.')) {
			if (w != p)
				*w++ = '/';
			memmove(w, r, n);
			w += n;
		}
		r += n;
		if (*r == '/')
			r++;
	}
	*w = '\0';
	return NULL;
}

/* Whether a part of the (cleaned) path starts with '.'. */
static bool hidden(const char *p)
{
	for (const char *q = p; *q; q++)
		if (*q == '.' && (q == p || q[-1] == '/'))
			return true;
	return false;
}

static int add_file(struct tar *t, char *path, char *data, size_t len)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **p = realloc(t->paths, cap * sizeof(*p));
		if (p)
			t->paths = p;
		char **d = realloc(t->datas, cap * sizeof(*d));
		if (d)
			t->datas = d;
		size_t *l = realloc(t->lens, cap * sizeof(*l));
		if (l)
			t->lens = l;
		if (!p || !d || !l) {
			errf(t->err, t->errlen, "out of memory");
			return -1;
		}
		t->cap = cap;
	}
	t->paths[t->n] = path;
	t->datas[t->n] = data;
	t->lens[t->n] = len;
	t->n++;
	return 0;
}

static void tar_free(struct tar *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->paths[i]);
		free(t->datas[i]);
	}
	free(t->paths);
	free(t->datas);
	free(t->lens);
}

/* Skips SIZE bytes of content and the padding to the next block. */
static int skip(struct tar *t, int64_t size)
{
	int64_t padded = (size + BLOCK - 1) / BLOCK * BLOCK;
	return pull(t, NULL, (size_t)padded);
}

/* Reads the content of a metadata entry (pax header, long name) of SIZE
 * bytes, at most MAX, NUL-terminated. */
static char *read_meta(struct tar *t, int64_t size, int64_t max, const char *what)
{
	if (size > max) {
		errf(t->err, t->errlen, "a %s of %lld bytes, more than the %lld allowed", what, (long long)size,
		     (long long)max);
		return NULL;
	}
	char *buf = malloc((size_t)size + 1);
	if (!buf) {
		errf(t->err, t->errlen, "out of memory");
		return NULL;
	}
	if (pull(t, buf, (size_t)size) != 0 || pull(t, NULL, (size_t)((BLOCK - size % BLOCK) % BLOCK)) != 0) {
		free(buf);
		return NULL;
	}
	buf[size] = '\0';
	return buf;
}

static int read_entries(struct tar *t)
{
	unsigned char h[BLOCK];
	char next_path[LONGNAME_MAX + 1] = "";   /* from a pax header or a GNU long name */
	int64_t next_size = -1;                 /* from a pax header */
	for (size_t entries = 0;; entries++) {
		if (entries > ENTRIES_MAX) {
			errf(t->err, t->errlen, "more than %d entries in the archive", ENTRIES_MAX);
			return -1;
		}
		if (pull(t, h, BLOCK) != 0) {
			if (t->z_end && entries > 0)
				errf(t->err, t->errlen, "the archive ends without its end marker");
			return -1;
		}
		if (zero_block(h))
			return 0;       /* the end (a second zero block may follow) */
		if (!checksum_ok(h)) {
			errf(t->err, t->errlen, "not a tar archive (a header's checksum does not match)");
			return -1;
		}
		char type = (char)h[156];
		int64_t size = octal((const char *)h + 124, 12);
		if (next_size >= 0 && (type == '0' || type == '\0' || type == '7'))
			size = next_size;
		if (size < 0) {
			errf(t->err, t->errlen, "a header with an invalid size");
			return -1;
		}
		char name[LONGNAME_MAX + 1];
		if (next_path[0]) {
			snprintf(name, sizeof(name), "%s", next_path);
		} else {
			/* ustar: prefix "/" name, each NUL-terminated or full. */
			char pre[156] = "", nm[101];
			memcpy(nm, h, 100);
			nm[100] = '\0';
			if (memcmp(h + 257, "ustar", 5) == 0) {
				memcpy(pre, h + 345, 155);
				pre[155] = '\0';
			}
			snprintf(name, sizeof(name), "%s%s%s", pre, pre[0] ? "/" : "", nm);
		}
		if (type == 'x' || type == 'g' || type == 'L') {
			char *meta = read_meta(t, size, type == 'L' ? LONGNAME_MAX : PAX_MAX,
					       type == 'L' ? "long name" : "pax header");
			if (!meta)
				return -1;
			int rc = 0;
			if (type == 'L') {
				snprintf(next_path, sizeof(next_path), "%s", meta);
			} else if (type == 'x') {
				char sz[32];
				rc = pax_get(meta, (size_t)size, "path", next_path, sizeof(next_path));
				int rs = rc < 0 ? -1 : pax_get(meta, (size_t)size, "size", sz, sizeof(sz));
				if (rs == 1) {
					char *end;
					long long v = strtoll(sz, &end, 10);
					if (*end || v < 0 || sz[0] < '0' || sz[0] > '9')
						rs = -1;
					else
						next_size = v;
				}
				if (rs < 0)
					rc = -1;
			}
			free(meta);
			if (rc < 0) {
				errf(t->err, t->errlen, "a malformed pax header");
				return -1;
			}
			continue;
		}
		next_path[0] = '\0';
		next_size = -1;
		const char *why = clean_path(name);
		if (why) {
			errf(t->err, t->errlen, "%.200s: %s is not allowed", name, why);
			return -1;
		}
		if (hidden(name)) {
			/* As `tenant deploy` leaves out hidden files (.git,
			 * .DS_Store, the ._ files of macOS's tar): skipped,
			 * whatever they are. */
			if (skip(t, type == '0' || type == '\0' || type == '7' || type == '5' ? size : 0) != 0)
				return -1;
			continue;
		}
		switch (type) {
		case '5':               /* a directory: its files carry their paths */
			if (skip(t, size) != 0)
				return -1;
			continue;
		case '0':
		case '\0':
		case '7':
			break;
		case '1':
			errf(t->err, t->errlen, "%.200s: a hard link is not allowed", name);
			return -1;
		case '2':
			errf(t->err, t->errlen, "%.200s: a symbolic link is not allowed", name);
			return -1;
		case '3':
		case '4':
			errf(t->err, t->errlen, "%.200s: a device is not allowed", name);
			return -1;
		case '6':
			errf(t->err, t->errlen, "%.200s: a FIFO is not allowed", name);
			return -1;
		default:
			errf(t->err, t->errlen, "%.200s: an entry of type '%c' is not allowed (only files and folders)",
			     name, type >= ' ' && type < 127 ? type : '?');
			return -1;
		}
		if (!name[0]) {
			errf(t->err, t->errlen, "a file without a name");
			return -1;
		}
		if (strlen(name) > BUNDLE_MAX_PATH) {
			errf(t->err, t->errlen, "%.200s…: a path longer than %d bytes", name, BUNDLE_MAX_PATH);
			return -1;
		}
		if (t->n >= BUNDLE_MAX_FILES) {
			errf(t->err, t->errlen, "more than the %d files a bundle may have", BUNDLE_MAX_FILES);
			return -1;
		}
		if ((uint64_t)size > BUNDLE_MAX_FILE) {
			errf(t->err, t->errlen, "%s: %lld bytes, larger than the %u MiB one file may have", name,
			     (long long)size, BUNDLE_MAX_FILE / (1024 * 1024));
			return -1;
		}
		if (t->total + (size_t)size > BUNDLE_MAX_TOTAL) {
			errf(t->err, t->errlen, "more than the %u MiB a bundle may have in all (at %s)",
			     BUNDLE_MAX_TOTAL / (1024 * 1024), name);
			return -1;
		}
		char *path = strdup(name);
		char *data = malloc((size_t)size + 1);
		if (!path || !data || add_file(t, path, data, (size_t)size) != 0) {
			free(path);
			free(data);
			errf(t->err, t->errlen, "out of memory");
			return -1;
		}
		t->total += (size_t)size;
		if (pull(t, data, (size_t)size) != 0 || pull(t, NULL, (size_t)((BLOCK - size % BLOCK) % BLOCK)) != 0)
			return -1;
		data[size] = '\0';
	}
}

/* When every path starts with the same folder and no tenant.lua is at the
 * top, drops that folder from them all. */
static void strip_top(struct tar *t)
{
	if (t->n == 0)
		return;
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->paths[i], "tenant.lua") == 0)
			return;
	const char *slash = strchr(t->paths[0], '/');
	if (!slash)
		return;
	size_t plen = (size_t)(slash - t->paths[0]) + 1;
	for (size_t i = 1; i < t->n; i++)
		if (strncmp(t->paths[i], t->paths[0], plen) != 0)
			return;
	for (size_t i = 0; i < t->n; i++)
		memmove(t->paths[i], t->paths[i] + plen, strlen(t->paths[i] + plen) + 1);
}

struct bundle *bundle_from_targz(const void *data, size_t len, char *err, size_t errlen)
{
	struct tar t = {.err = err, .errlen = errlen};
	if (len < 18 || ((const unsigned char *)data)[0] != 0x1f || ((const unsigned char *)data)[1] != 0x8b) {
		errf(err, errlen, "not a .tar.gz archive (send the bundle folder as a gzip-compressed tar file)");
		return NULL;
	}
	if (len > UINT32_MAX) {
		errf(err, errlen, "the archive is too large");
		return NULL;
	}
	if (inflateInit2(&t.z, 16 + MAX_WBITS) != Z_OK) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	t.z.next_in = (unsigned char *)(uintptr_t)data;
	t.z.avail_in = (uInt)len;
	struct bundle *b = NULL;
	if (read_entries(&t) == 0) {
		strip_top(&t);
		b = bundle_from_files(0, 0, t.n, (const char *const *)t.paths, (const char *const *)t.datas, t.lens, err,
				      errlen);
	}
	inflateEnd(&t.z);
	tar_free(&t);
	return b;
}
