/* Bundles: reading a folder (regular files only, hidden ones left out,
 * limits), sorted lookup, the checksum's exact format, and the cache's
 * trimming against the registry. Includes bundle.c to reach the cache. */
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.c"
#include "check.h"

static char root[64];
static char err[512];

/* Writes ROOT/REL with LEN bytes of DATA, making the folders. */
static void put(const char *rel, const char *data, size_t len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK_MSG(fd >= 0, "create %s", path);
	if (fd < 0)
		return;
	CHECK(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

static void put_str(const char *rel, const char *text)
{
	put(rel, text, strlen(text));
}

/* A file of SIZE bytes (zeros, sparse). */
static void put_size(const char *rel, off_t size)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0 && ftruncate(fd, size) == 0);
	if (fd >= 0)
		close(fd);
}

static void rm_rf(const char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

static void fresh_root(void)
{
	if (root[0])
		rm_rf(root);
	snprintf(root, sizeof(root), "/tmp/aantafel-bundle-XXXXXX");
	CHECK(mkdtemp(root) != NULL);
}

static struct bundle *read_root(void)
{
	err[0] = '\0';
	return bundle_read_dir(root, err, sizeof(err));
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n;
	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	enc_hex(md, 32, out);
}

/* ---------------------------------------------------------------- reading */

static void test_read_sorted_and_hidden_skipped(void)
{
	static const char img[] = {'\x89', 'P', 'N', 'G', '\0', '\r', '\n', '\0', '\xff'};
	fresh_root();
	put_str("tenant.lua", "return { name = \"Zutphen\" }\n");
	put_str("plugins/agenda/init.lua", "return {}\n");
	put_str("plugins/agenda/view.html", "<p>{{ x }}</p>\n");
	put_str("templates/page.html", "<main></main>\n");
	put("static/logo.png", img, sizeof(img));
	put_str("static/empty.txt", "");
	put_str(".hidden", "secret");
	put_str(".git/config", "[core]");
	put_str("static/.DS_Store", "junk");

	struct bundle *b = read_root();
	CHECK_MSG(b != NULL, "%s", err);
	if (!b)
		return;
	CHECK_INT_EQ(b->nfiles, 6);
	CHECK_INT_EQ(b->tenant_id, 0);
	CHECK_INT_EQ(b->version, 0);
	for (size_t i = 1; i < b->nfiles; i++)
		CHECK_MSG(strcmp(b->files[i - 1].path, b->files[i].path) < 0, "%s before %s", b->files[i - 1].path,
			  b->files[i].path);
	CHECK_STR_EQ(b->files[0].path, "plugins/agenda/init.lua");
	CHECK(bundle_find(b, ".hidden") == NULL);
	CHECK(bundle_find(b, ".git/config") == NULL);
	CHECK(bundle_find(b, "static/.DS_Store") == NULL);

	const struct bundle_file *f = bundle_find(b, "static/logo.png");
	CHECK(f != NULL);
	if (f) {
		CHECK_INT_EQ(f->len, sizeof(img));
		CHECK(memcmp(f->data, img, sizeof(img)) == 0);
		CHECK(f->data[f->len] == '\0');
		CHECK_INT_EQ(strlen(f->etag), 18);
		CHECK(f->etag[0] == '"' && f->etag[17] == '"');
	}
	f = bundle_find(b, "static/empty.txt");
	CHECK(f != NULL && f->len == 0 && f->data[0] == '\0');
	f = bundle_find(b, "tenant.lua");
	CHECK(f != NULL && strcmp(f->data, "return { name = \"Zutphen\" }\n") == 0);
	CHECK_INT_EQ(b->total_bytes, 28 + 10 + 15 + 14 + sizeof(img) + 0);
	CHECK(bundle_find(b, "tenant") == NULL);
	CHECK(bundle_find(b, "zzz") == NULL);
	CHECK(bundle_find(b, "") == NULL);
	bundle_unref(b);
}

static void test_refused_entries(void)
{
	fresh_root();
	put_str("tenant.lua", "return {}\n");
	put_str("static/a.css", "body{}");
	char target[1024], link[1024];
	snprintf(target, sizeof(target), "%s/static/a.css", root);
	snprintf(link, sizeof(link), "%s/static/b.css", root);
	CHECK(symlink(target, link) == 0);
	struct bundle *b = read_root();
	CHECK(b == NULL);
	CHECK_CONTAINS(err, "static/b.css");
	CHECK_CONTAINS(err, "symbolic link");
	unlink(link);

	/* A link to a folder is refused as well, not followed. */
	snprintf(target, sizeof(target), "%s/static", root);
	snprintf(link, sizeof(link), "%s/assets", root);
	CHECK(symlink(target, link) == 0);
	b = read_root();
	CHECK(b == NULL);
	CHECK_CONTAINS(err, "assets");
	CHECK_CONTAINS(err, "symbolic link");
	unlink(link);

	snprintf(link, sizeof(link), "%s/static/pipe", root);
	CHECK(mkfifo(link, 0644) == 0);
	b = read_root();
	CHECK(b == NULL);
	CHECK_CONTAINS(err, "static/pipe");
	CHECK_CONTAINS(err, "not a regular file");
	unlink(link);

	put_str("static/logo met spatie.png", "x");
	b = read_root();
	CHECK(b == NULL);
	CHECK_CONTAINS(err, "logo met spatie.png");
	CHECK_CONTAINS(err, "only letters");
	snprintf(link, sizeof(link), "%s/static/logo met spatie.png", root);
	unlink(link);

	b = read_root();
	CHECK_MSG(b != NULL, "%s", err);
	bundle_unref(b);

	b = bundle_read_dir("/nonexistent/aantafel-bundle", err, sizeof(err));
	CHECK(b == NULL);
	CHECK_CONTAINS(err, "/nonexistent/aantafel-bundle");
	CHECK_CONTAINS(err, "No such file");
}

static void test_limits(void)
{
	fresh_root();
	put_size("big.bin", BUNDLE_MAX_FILE + 1);
	struct bundle *b = read_root();
	CHECK(b == NULL);
	CHECK_CONTAINS(err, "big.bin");
	CHECK_CONTAINS(err, "4 MiB");

	/* Exactly the largest file is fine. */
	put_size("big.bin", BUNDLE_MAX_FILE);
	b = read_root();
	CHECK_MSG(b != NULL && b->nfiles == 1 && b->files[0].len == BUNDLE_MAX_FILE, "%s", err);
	bundle_unref(b);

	/* Eight largest files make 32 MiB; one byte more is too much. */
	for (int i = 0; i < 8; i++) {
		char name[32];
		snprintf(name, sizeof(name), "big%d.bin", i);
		put_size(name, BUNDLE_MAX_FILE);
	}
	char path[1024];
	snprintf(path, sizeof(path), "%s/big.bin", root);
	unlink(path);
	b = read_root();
	CHECK_MSG(b != NULL && b->total_bytes == BUNDLE_MAX_TOTAL, "%s", err);
	bundle_unref(b);
	put_str("one-more.txt", "x");
	b = read_root();
	CHECK(b == NULL);
	CHECK_CONTAINS(err, "32 MiB");

	fresh_root();
	for (int i = 0; i <= BUNDLE_MAX_FILES; i++) {
		char name[32];
		snprintf(name, sizeof(name), "d%d/f%d.txt", i % 10, i);
		put_str(name, "");
	}
	b = read_root();
	CHECK(b == NULL);
	CHECK_CONTAINS(err, "2000 files");
	snprintf(path, sizeof(path), "%s/d0/f0.txt", root);
	unlink(path);
	b = read_root();
	CHECK_MSG(b != NULL && b->nfiles == BUNDLE_MAX_FILES, "%s", err);
	bundle_unref(b);

	/* A path of 201 bytes, through folders. */
	fresh_root();
	char rel[256];
	for (size_t k = 0; k < 19; k++)
		memcpy(rel + 10 * k, "abcdefghi/", 10);
	memset(rel + 190, 'x', 11);
	rel[201] = '\0';
	put_str(rel, "deep");
	b = read_root();
	CHECK(b == NULL);
	CHECK_CONTAINS(err, "longer than 200");
	rel[200] = '\0';
	fresh_root();
	put_str(rel, "deep");
	b = read_root();
	CHECK_MSG(b != NULL && b->nfiles == 1 && strlen(b->files[0].path) == 200, "%s", err);
	bundle_unref(b);
}

/* ---------------------------------------------------------------- from files */

static struct bundle *from(size_t n, const char *const *paths, const char *const *datas)
{
	size_t lens[16];
	for (size_t i = 0; i < n; i++)
		lens[i] = strlen(datas[i]);
	err[0] = '\0';
	return bundle_from_files(7, 3, n, paths, datas, lens, err, sizeof(err));
}

static void test_from_files_paths(void)
{
	static const char *bad[] = {"", "/abs.lua", "a//b", "a/", "../up.lua", "a/../b", "./a", "a/./b",
				    ".hidden", "a/.git/config", "sp ace", "é.lua", "a\\b", "a:b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *paths[] = {"ok.lua", bad[i]}, *datas[] = {"x", "y"};
		struct bundle *b = from(2, paths, datas);
		CHECK_MSG(b == NULL, "path '%s' accepted", bad[i]);
		bundle_unref(b);
	}
	const char *paths[] = {"b.lua", "a.lua", "b.lua"}, *datas[] = {"1", "2", "3"};
	struct bundle *b = from(3, paths, datas);
	CHECK(b == NULL);
	CHECK_CONTAINS(err, "b.lua");
	CHECK_CONTAINS(err, "twice");

	size_t big = BUNDLE_MAX_FILE + 1;
	const char *bp[] = {"big.bin"};
	char *bd = calloc(1, big);
	const char *bdp[] = {bd};
	b = bundle_from_files(1, 1, 1, bp, bdp, &big, err, sizeof(err));
	CHECK(b == NULL);
	CHECK_CONTAINS(err, "big.bin");
	free(bd);

	b = bundle_from_files(1, 1, BUNDLE_MAX_FILES + 1, bp, bdp, &big, err, sizeof(err));
	CHECK(b == NULL);
	CHECK_CONTAINS(err, "2000");
}

static void test_find_and_prefix(void)
{
	const char *paths[] = {"static/b.png", "plugins/x/init.lua", "static/a.css", "plugins/xy.lua", "tenant.lua",
			       "plugins/x/view.html", "static-old/c.css"};
	const char *datas[] = {"b", "x", "a", "xy", "t", "v", "c"};
	struct bundle *b = from(7, paths, datas);
	CHECK_MSG(b != NULL, "%s", err);
	if (!b)
		return;
	CHECK_INT_EQ(b->tenant_id, 7);
	CHECK_INT_EQ(b->version, 3);
	for (size_t i = 0; i < 7; i++) {
		const struct bundle_file *f = bundle_find(b, paths[i]);
		CHECK_MSG(f && strcmp(f->data, datas[i]) == 0, "%s", paths[i]);
	}
	const struct bundle_file *first;
	CHECK_INT_EQ(bundle_prefix(b, "static/", &first), 2);
	CHECK(first && strcmp(first->path, "static/a.css") == 0 && strcmp(first[1].path, "static/b.png") == 0);
	CHECK_INT_EQ(bundle_prefix(b, "plugins/x/", &first), 2);
	CHECK(first && strcmp(first->path, "plugins/x/init.lua") == 0);
	CHECK_INT_EQ(bundle_prefix(b, "plugins/x", &first), 3);
	CHECK_INT_EQ(bundle_prefix(b, "static", &first), 3);
	CHECK_INT_EQ(bundle_prefix(b, "tenant.lua", &first), 1);
	CHECK_INT_EQ(bundle_prefix(b, "", &first), 7);
	CHECK(first == &b->files[0]);
	CHECK_INT_EQ(bundle_prefix(b, "templates/", &first), 0);
	CHECK(first == NULL);
	CHECK_INT_EQ(bundle_prefix(b, "zzz", &first), 0);
	CHECK_INT_EQ(bundle_prefix(b, "a", &first), 0);
	bundle_unref(b);

	struct bundle *e = bundle_empty(9);
	CHECK(e && e->nfiles == 0 && e->tenant_id == 9 && e->version == 0);
	if (e) {
		CHECK(bundle_find(e, "tenant.lua") == NULL);
		CHECK_INT_EQ(bundle_prefix(e, "", &first), 0);
	}
	bundle_unref(e);
}

/* ---------------------------------------------------------------- checksum */

static void test_checksum(void)
{
	/* The format, pinned: SHA-256 over path, NUL, length as 8 bytes
	 * big-endian, content, for each file in path order. */
	struct bundle *e = bundle_empty(1);
	CHECK_STR_EQ(e->checksum, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	bundle_unref(e);

	const char *p1[] = {"a", "b/c"}, *d1[] = {"x", "hello"};
	struct bundle *b = from(2, p1, d1);
	static const char raw[] = "a\0\0\0\0\0\0\0\0\1x"
				  "b/c\0\0\0\0\0\0\0\0\5hello";
	char want[65];
	sha256_hex(raw, sizeof(raw) - 1, want);
	CHECK_STR_EQ(b->checksum, want);
	/* Etag: the first 16 hex digits of the content's SHA-256, quoted. */
	sha256_hex("x", 1, want);
	char etag[20];
	snprintf(etag, sizeof(etag), "\"%.16s\"", want);
	CHECK_STR_EQ(bundle_find(b, "a")->etag, etag);

	/* Stable: the order files are given in does not matter. */
	const char *p2[] = {"b/c", "a"}, *d2[] = {"hello", "x"};
	struct bundle *b2 = from(2, p2, d2);
	CHECK_STR_EQ(b2->checksum, b->checksum);
	bundle_unref(b2);

	/* Sensitive to one byte of content, to a name, and to where one
	 * file ends and the next begins. */
	const char *d3[] = {"x", "hellp"};
	b2 = from(2, p1, d3);
	CHECK(strcmp(b2->checksum, b->checksum) != 0);
	CHECK(strcmp(bundle_find(b2, "a")->etag, bundle_find(b, "a")->etag) == 0);
	CHECK(strcmp(bundle_find(b2, "b/c")->etag, bundle_find(b, "b/c")->etag) != 0);
	bundle_unref(b2);
	const char *p4[] = {"a", "b/d"};
	b2 = from(2, p4, d1);
	CHECK(strcmp(b2->checksum, b->checksum) != 0);
	bundle_unref(b2);
	const char *p5[] = {"ab"}, *d5[] = {"c"}, *p6[] = {"a"}, *d6[] = {"bc"};
	b2 = from(1, p5, d5);
	struct bundle *b3 = from(1, p6, d6);
	CHECK(strcmp(b2->checksum, b3->checksum) != 0);
	bundle_unref(b2);
	bundle_unref(b3);
	/* A file more, even empty, is a change. */
	const char *p7[] = {"a", "b/c", "z"}, *d7[] = {"x", "hello", ""};
	b2 = from(3, p7, d7);
	CHECK(strcmp(b2->checksum, b->checksum) != 0);
	bundle_unref(b2);
	bundle_unref(b);

	/* The same folder read twice gives the same checksum; a changed
	 * byte changes it. */
	fresh_root();
	put_str("tenant.lua", "return {}\n");
	put_str("static/x.css", "a{}");
	b = read_root();
	b2 = read_root();
	CHECK(b && b2 && strcmp(b->checksum, b2->checksum) == 0);
	bundle_unref(b2);
	put_str("static/x.css", "b{}");
	b2 = read_root();
	CHECK(b && b2 && strcmp(b->checksum, b2->checksum) != 0);
	bundle_unref(b2);
	bundle_unref(b);
}

/* ---------------------------------------------------------------- cache */

static struct bundle *got;
static const char *got_why;
static int calls;

static void on_got(struct bundle *b, const char *why, void *arg)
{
	calls++;
	got = b;
	got_why = why;
}

static struct bundle *version_of(int64_t tenant, int version)
{
	const char *p[] = {"tenant.lua"}, *d[] = {"return {}"};
	size_t len = 9;
	return bundle_from_files(tenant, version, 1, p, d, &len, err, sizeof(err));
}

static int refs_of(struct bundle *b)
{
	return atomic_load(&((struct bundle_box *)b)->refs);
}

static void test_cache(void)
{
	struct bundle *a1 = version_of(1, 1), *a2 = version_of(1, 2), *c1 = version_of(2, 1);
	struct bundle *p;
	p = cache_put(a1);
	CHECK(p == a1);
	bundle_unref(p);
	p = cache_put(c1);
	bundle_unref(p);
	p = cache_put(a2);
	bundle_unref(p);
	CHECK_INT_EQ(refs_of(a1), 2);   /* ours and the cache's */

	/* Another worker built the same version meanwhile: the cached one
	 * wins. */
	struct bundle *dup = version_of(1, 2);
	p = cache_put(dup);
	CHECK(p == a2);
	bundle_unref(p);
	bundle_unref(dup);
	CHECK_INT_EQ(cache_n, 3);

	bundle_get(NULL, 1, 2, on_got, NULL);
	CHECK(calls == 1 && got == a2 && got_why == NULL);
	bundle_unref(got);
	bundle_get(NULL, 1, 0, on_got, NULL);
	CHECK(calls == 2 && got && got->nfiles == 0 && got->version == 0);
	bundle_unref(got);
	bundle_get(NULL, 1, 5, on_got, NULL);
	CHECK(calls == 3 && got == NULL && got_why != NULL);

	bundle_unref(a1);
	bundle_unref(a2);
	/* Tenant 1 runs version 2, tenant 2 version 3; a request still holds
	 * tenant 2's version 1. */
	struct registry_row rows[] = {
		{.id = 1, .slug = "een", .name = "Een", .status = "active", .hosts = "een.test", .bundle_version = 2},
		{.id = 2, .slug = "twee", .name = "Twee", .status = "active", .hosts = "", .bundle_version = 3},
	};
	CHECK(registry_publish(rows, 2) == 0);
	bundle_cache_trim();
	CHECK_INT_EQ(cache_n, 2);
	CHECK(cache_get(1, 1) == NULL);
	p = cache_get(1, 2);
	CHECK(p == a2);
	bundle_unref(p);
	p = cache_get(2, 1);
	CHECK(p == c1);
	bundle_unref(p);

	bundle_unref(c1);
	bundle_cache_trim();
	CHECK_INT_EQ(cache_n, 1);
	CHECK(cache_get(2, 1) == NULL);

	/* A rollback makes another version current: the one dropped. */
	rows[0].bundle_version = 1;
	CHECK(registry_publish(rows, 2) == 0);
	bundle_cache_trim();
	CHECK_INT_EQ(cache_n, 0);

	registry_clear();
	bundle_cache_clear();
}

int main(void)
{
	RUN(test_read_sorted_and_hidden_skipped());
	RUN(test_refused_entries());
	RUN(test_limits());
	RUN(test_from_files_paths());
	RUN(test_find_and_prefix());
	RUN(test_checksum());
	RUN(test_cache());
	if (root[0])
		rm_rf(root);
	return check_exit("test_bundle");
}
