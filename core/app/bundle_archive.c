/* Reading an uploaded .tar.gz or .zip into a bundle: for a .tar.gz, zlib
 * inflates on demand and a small tar reader asks it for exactly the bytes
 * it needs; a .zip is read with libzip. Both readers check every entry
 * with the same rules (check_entries, check_path, check_kind,
 * check_file) on its header, before its content is inflated. */
#include "bundle_archive.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>
#include <zlib.h>

#include "bundle.h"
#include "errbuf.h"

#define BLOCK 512
#define PAX_MAX (64 * 1024)             /* one pax extended header */
#define LONGNAME_MAX 4096               /* one GNU long name */
#define ENTRIES_MAX (4 * BUNDLE_MAX_FILES) /* directories and metadata entries too */
#define ZIP_RATIO_MAX 200               /* bytes inflated per compressed byte, at most */
#define ZIP_RATIO_FROM (64 * 1024)      /* ... for files larger than this */

/* The files an archive holds, as read so far. */
struct files {
	size_t n, cap;
	char **paths;
	char **datas;
	size_t *lens;
	size_t total;
};

struct tar {
	z_stream z;
	bool z_end;             /* the gzip stream ended */
	char *err;
	size_t errlen;
	struct files f;
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

/* Takes PATH and DATA (malloc'd) as the next file; -1 when out of memory
 * (the caller still owns them). */
static int files_add(struct files *f, char *path, char *data, size_t len)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		char **p = realloc(f->paths, cap * sizeof(*p));
		if (p)
			f->paths = p;
		char **d = realloc(f->datas, cap * sizeof(*d));
		if (d)
			f->datas = d;
		size_t *l = realloc(f->lens, cap * sizeof(*l));
		if (l)
			f->lens = l;
		if (!p || !d || !l)
			return -1;
		f->cap = cap;
	}
	f->paths[f->n] = path;
	f->datas[f->n] = data;
	f->lens[f->n] = len;
	f->n++;
	return 0;
}

static void files_free(struct files *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->paths[i]);
		free(f->datas[i]);
	}
	free(f->paths);
	free(f->datas);
	free(f->lens);
}

/* ---------------------------------------------------------------- the rules of both readers */

/* Entries (files, folders and the tar's metadata headers) an archive may
 * hold: N is its count, or the count so far. */
static int check_entries(uint64_t n, char *err, size_t errlen)
{
	if (n <= ENTRIES_MAX)
		return 0;
	errf(err, errlen, "%llu entries in the archive, more than the %d files a bundle may have", (unsigned long long)n,
	     BUNDLE_MAX_FILES);
	return -1;
}

/* An entry's path: NAME cleaned in place (clean_path), or refused when it
 * is absolute or has a ".." part, shown as the archive gives it. */
static int check_path(char *name, char *err, size_t errlen)
{
	char shown[201];
	snprintf(shown, sizeof(shown), "%s", name);
	const char *why = clean_path(name);
	if (why) {
		errf(err, errlen, "%s: %s is not allowed", shown, why);
		return -1;
	}
	return 0;
}

/* No links and no special files: SPECIAL says what entry NAME is (NULL:
 * a file or a folder). */
static int check_kind(const char *name, const char *special, char *err, size_t errlen)
{
	if (!special)
		return 0;
	errf(err, errlen, "%.200s: %s is not allowed", name, special);
	return -1;
}

/* The limits of bundle.h on file NAME of SIZE bytes, before it is
 * inflated into F: a name, its length, the number of files, the file's
 * size and the bundle's. */
static int check_file(const struct files *f, const char *name, uint64_t size, char *err, size_t errlen)
{
	if (!name[0]) {
		errf(err, errlen, "a file without a name");
		return -1;
	}
	if (strlen(name) > BUNDLE_MAX_PATH) {
		errf(err, errlen, "%.200s…: a path longer than %d bytes", name, BUNDLE_MAX_PATH);
		return -1;
	}
	if (f->n >= BUNDLE_MAX_FILES) {
		errf(err, errlen, "more than the %d files a bundle may have", BUNDLE_MAX_FILES);
		return -1;
	}
	if (size > BUNDLE_MAX_FILE) {
		errf(err, errlen, "%s: %llu bytes, larger than the %u MiB one file may have", name, (unsigned long long)size,
		     BUNDLE_MAX_FILE / (1024 * 1024));
		return -1;
	}
	if (f->total + size > BUNDLE_MAX_TOTAL) {
		errf(err, errlen, "more than the %u MiB a bundle may have in all (at %s)", BUNDLE_MAX_TOTAL / (1024 * 1024),
		     name);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- .tar.gz */

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

/* What a tar header's TYPE is when it is a link or a special file; NULL
 * otherwise. */
static const char *tar_special(char type)
{
	switch (type) {
	case '1':
		return "a hard link";
	case '2':
		return "a symbolic link";
	case '3':
	case '4':
		return "a device";
	case '6':
		return "a FIFO";
	default:
		return NULL;
	}
}

static int read_entries(struct tar *t)
{
	unsigned char h[BLOCK];
	char next_path[LONGNAME_MAX + 1] = "";   /* from a pax header or a GNU long name */
	int64_t next_size = -1;                 /* from a pax header */
	for (size_t entries = 0;; entries++) {
		if (check_entries(entries, t->err, t->errlen) != 0)
			return -1;
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
		if (check_path(name, t->err, t->errlen) != 0)
			return -1;
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
		default:
			if (check_kind(name, tar_special(type), t->err, t->errlen) != 0)
				return -1;
			errf(t->err, t->errlen, "%.200s: an entry of type '%c' is not allowed (only files and folders)",
			     name, type >= ' ' && type < 127 ? type : '?');
			return -1;
		}
		if (check_file(&t->f, name, (uint64_t)size, t->err, t->errlen) != 0)
			return -1;
		char *path = strdup(name);
		char *data = malloc((size_t)size + 1);
		if (!path || !data || files_add(&t->f, path, data, (size_t)size) != 0) {
			free(path);
			free(data);
			errf(t->err, t->errlen, "out of memory");
			return -1;
		}
		t->f.total += (size_t)size;
		if (pull(t, data, (size_t)size) != 0 || pull(t, NULL, (size_t)((BLOCK - size % BLOCK) % BLOCK)) != 0)
			return -1;
		data[size] = '\0';
	}
}

/* When every path starts with the same folder and no tenant.lua is at the
 * top, drops that folder from them all. */
static void strip_top(struct files *f)
{
	if (f->n == 0)
		return;
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->paths[i], "tenant.lua") == 0)
			return;
	const char *slash = strchr(f->paths[0], '/');
	if (!slash)
		return;
	size_t plen = (size_t)(slash - f->paths[0]) + 1;
	for (size_t i = 1; i < f->n; i++)
		if (strncmp(f->paths[i], f->paths[0], plen) != 0)
			return;
	for (size_t i = 0; i < f->n; i++)
		memmove(f->paths[i], f->paths[i] + plen, strlen(f->paths[i] + plen) + 1);
}

/* The bundle of the files read: the top folder dropped (strip_top), every
 * path and size checked again, a name given twice refused. */
static struct bundle *files_bundle(struct files *f, char *err, size_t errlen)
{
	strip_top(f);
	return bundle_from_files(0, 0, f->n, (const char *const *)f->paths, (const char *const *)f->datas, f->lens,
				 err, errlen);
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
		b = files_bundle(&t.f, err, errlen);
	}
	inflateEnd(&t.z);
	files_free(&t.f);
	return b;
}

/* ---------------------------------------------------------------- .zip */

/* What kind of entry ST is by its external attributes, or NULL for a
 * file or a folder: a Unix mode (the zip tools of Linux and macOS store
 * it) says links and special files; MS-DOS attributes say folders only. */
static const char *zip_special(zip_t *z, zip_uint64_t i, bool *is_dir)
{
	zip_uint8_t opsys = 0;
	zip_uint32_t attr = 0;
	if (zip_file_get_external_attributes(z, i, 0, &opsys, &attr) != 0)
		return "unreadable attributes";
	if (opsys == ZIP_OPSYS_UNIX && (attr >> 16) != 0) {
		mode_t mode = (mode_t)(attr >> 16);
		if (S_ISLNK(mode))
			return "a symbolic link";
		if (S_ISCHR(mode) || S_ISBLK(mode))
			return "a device";
		if (S_ISFIFO(mode))
			return "a FIFO";
		if (S_ISSOCK(mode))
			return "a socket";
		/* Python's zipfile writes permissions without a type: a file. */
		if (S_ISDIR(mode))
			*is_dir = true;
		else if ((mode & S_IFMT) != 0 && !S_ISREG(mode))
			return "an entry that is neither a file nor a folder";
	}
	if (opsys == ZIP_OPSYS_DOS && (attr & 0x10))
		*is_dir = true;
	return NULL;
}

/* Inflates entry I (of SIZE bytes as its headers say) into a new buffer,
 * NUL-terminated; one byte more is asked for, so that an entry holding
 * more than it declares is noticed without inflating it further. libzip
 * checks the CRC-32 at the entry's end. */
static char *zip_take(zip_t *z, zip_uint64_t i, const char *name, size_t size, char *err, size_t errlen)
{
	zip_file_t *zf = zip_fopen_index(z, i, 0);
	if (!zf) {
		errf(err, errlen, "%.200s: cannot be read (%s)", name, zip_strerror(z));
		return NULL;
	}
	char *data = malloc(size + 2);
	size_t got = 0;
	bool bad = !data;
	while (!bad && got <= size) {
		zip_int64_t k = zip_fread(zf, data + got, size + 1 - got);
		if (k < 0) {
			errf(err, errlen, "%.200s: damaged (%s)", name, zip_file_strerror(zf));
			bad = true;
		} else if (k == 0) {
			break;
		} else {
			got += (size_t)k;
		}
	}
	if (!data)
		errf(err, errlen, "out of memory");
	else if (!bad && got != size) {
		errf(err, errlen, "%.200s: holds %s bytes than its header says (%zu); a damaged archive or a zip bomb",
		     name, got > size ? "more" : "fewer", size);
		bad = true;
	}
	zip_fclose(zf);
	if (bad) {
		free(data);
		return NULL;
	}
	data[size] = '\0';
	return data;
}

/* Reads every entry of Z into F, with the limits of bundle.h checked on
 * the central directory's sizes before an entry is inflated and on the
 * bytes it actually holds while it is. */
static int zip_entries(zip_t *z, size_t archive_len, struct files *f, char *err, size_t errlen)
{
	zip_int64_t n = zip_get_num_entries(z, 0);
	if (n < 0) {
		errf(err, errlen, "not a valid .zip archive (%s)", zip_strerror(z));
		return -1;
	}
	if (check_entries((uint64_t)n, err, errlen) != 0)
		return -1;
	uint64_t compressed = 0;
	for (zip_uint64_t i = 0; i < (zip_uint64_t)n; i++) {
		zip_stat_t st;
		zip_stat_init(&st);
		if (zip_stat_index(z, i, ZIP_FL_ENC_RAW, &st) != 0 || !(st.valid & ZIP_STAT_NAME) ||
		    !(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE)) {
			errf(err, errlen, "not a valid .zip archive (entry %llu: %s)", (unsigned long long)i + 1,
			     zip_strerror(z));
			return -1;
		}
		char name[LONGNAME_MAX + 1];
		if (strlen(st.name) > LONGNAME_MAX) {
			errf(err, errlen, "%.200s…: a path longer than %d bytes", st.name, BUNDLE_MAX_PATH);
			return -1;
		}
		snprintf(name, sizeof(name), "%s", st.name);
		size_t nlen = strlen(name);
		bool is_dir = nlen > 0 && name[nlen - 1] == '/';
		bool says_dir = false;
		const char *special = zip_special(z, i, &says_dir);
		if (check_path(name, err, errlen) != 0)
			return -1;
		if (hidden(name))
			continue;       /* .git, .DS_Store, macOS's __MACOSX/._ files, as `tenant deploy` does */
		if (check_kind(name, special, err, errlen) != 0)
			return -1;
		if (is_dir || says_dir) {
			if (!is_dir || st.size != 0) {
				errf(err, errlen, "%.200s: a folder that holds data", name);
				return -1;
			}
			continue;
		}
		if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE) {
			errf(err, errlen, "%.200s: an encrypted file is not allowed", name);
			return -1;
		}
		if (!(st.valid & ZIP_STAT_COMP_METHOD) ||
		    (st.comp_method != ZIP_CM_STORE && st.comp_method != ZIP_CM_DEFLATE)) {
			errf(err, errlen, "%.200s: compressed with a method other than deflate or none", name);
			return -1;
		}
		if (check_file(f, name, st.size, err, errlen) != 0)
			return -1;
		/* A bomb: far more out than in, or entries that share their
		 * compressed bytes (more compressed bytes than the archive). */
		compressed += st.comp_size;
		if (st.size > ZIP_RATIO_FROM && st.size / (st.comp_size ? st.comp_size : 1) > ZIP_RATIO_MAX) {
			errf(err, errlen, "%s: compressed %llu to 1, more than the %d to 1 a bundle's file may be (a zip bomb?)",
			     name, (unsigned long long)(st.size / (st.comp_size ? st.comp_size : 1)), ZIP_RATIO_MAX);
			return -1;
		}
		if (compressed > archive_len) {
			errf(err, errlen, "%s: entries that overlap in the archive (a zip bomb?)", name);
			return -1;
		}
		char *path = strdup(name);
		char *data = path ? zip_take(z, i, name, (size_t)st.size, err, errlen) : NULL;
		if (!path || !data || files_add(f, path, data, (size_t)st.size) != 0) {
			if (!path || data)
				errf(err, errlen, "out of memory");
			free(path);
			free(data);
			return -1;
		}
		f->total += (size_t)st.size;
	}
	return 0;
}

struct bundle *bundle_from_zip(const void *data, size_t len, char *err, size_t errlen)
{
	const unsigned char *d = data;
	if (len < 22 || d[0] != 'P' || d[1] != 'K' || !((d[2] == 3 && d[3] == 4) || (d[2] == 5 && d[3] == 6))) {
		errf(err, errlen, "not a .zip archive");
		return NULL;
	}
	zip_error_t ze;
	zip_error_init(&ze);
	zip_source_t *src = zip_source_buffer_create(data, len, 0, &ze);
	zip_t *z = src ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze) : NULL;
	if (!z) {
		if (zip_error_code_zip(&ze) == ZIP_ER_EXISTS)
			errf(err, errlen, "a name given twice in the .zip archive");
		else
			errf(err, errlen, "not a valid .zip archive (%s)", zip_error_strerror(&ze));
		zip_source_free(src);
		zip_error_fini(&ze);
		return NULL;
	}
	zip_error_fini(&ze);
	struct files f = {0};
	struct bundle *b = NULL;
	if (zip_entries(z, len, &f, err, errlen) == 0)
		b = files_bundle(&f, err, errlen);
	zip_discard(z);         /* frees the source, not DATA */
	files_free(&f);
	return b;
}

struct bundle *bundle_from_archive(const void *data, size_t len, char *err, size_t errlen)
{
	const unsigned char *d = data;
	if (len >= 4 && d[0] == 'P' && d[1] == 'K')
		return bundle_from_zip(data, len, err, errlen);
	if (len >= 2 && d[0] == 0x1f && d[1] == 0x8b)
		return bundle_from_targz(data, len, err, errlen);
	errf(err, errlen, "not a .tar.gz or .zip archive (send the bundle folder as a gzip-compressed tar file or "
			  "as a zip file)");
	return NULL;
}
