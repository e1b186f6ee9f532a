/* Percent-decoding of static paths (the first line of the traversal
 * defence) and Content-Type by extension. */
#include <string.h>

#include "check.h"
#include "static_files.h"

static char dst[64];

static long decode(const char *s, size_t len, size_t dstlen)
{
	return static_percent_decode(s, len, dst, dstlen);
}
#define DECODE(lit) decode(lit, sizeof(lit) - 1, sizeof(dst))

static void test_decode(void)
{
	CHECK_INT_EQ(DECODE("abc"), 3);
	CHECK_STR_EQ(dst, "abc");
	CHECK_INT_EQ(DECODE(""), 0);
	CHECK_STR_EQ(dst, "");
	CHECK_INT_EQ(DECODE("%41"), 1);
	CHECK_STR_EQ(dst, "A");
	CHECK_INT_EQ(DECODE("a%20b"), 3);
	CHECK_STR_EQ(dst, "a b");
	CHECK_INT_EQ(DECODE("%2e%2E/%2f"), 4);
	CHECK_STR_EQ(dst, "../\x2f");
	CHECK_INT_EQ(DECODE("%c3%A9"), 2);
	CHECK_STR_EQ(dst, "\xc3\xa9");
	CHECK_INT_EQ(DECODE("%ff%01"), 2);
	CHECK((unsigned char)dst[0] == 0xff && dst[1] == 1);
	CHECK_INT_EQ(DECODE("%2541"), 3);       /* decoded once, not twice */
	CHECK_STR_EQ(dst, "%41");
	CHECK_INT_EQ(DECODE("a+b"), 3);         /* '+' is not a space in a path */
	CHECK_STR_EQ(dst, "a+b");
}

static void test_refused(void)
{
	/* An encoded NUL, and a raw one. */
	CHECK_INT_EQ(DECODE("%00"), -1);
	CHECK_INT_EQ(DECODE("a%00.css"), -1);
	CHECK_INT_EQ(DECODE("a\0b"), -1);
	/* Bad escapes. */
	CHECK_INT_EQ(DECODE("%zz"), -1);
	CHECK_INT_EQ(DECODE("%4g"), -1);
	CHECK_INT_EQ(DECODE("%g4"), -1);
	CHECK_INT_EQ(DECODE("%%41"), -1);
	CHECK_INT_EQ(DECODE("% 41"), -1);
	CHECK_INT_EQ(DECODE("%-1"), -1);
	CHECK_INT_EQ(DECODE("%+1"), -1);
	/* Truncated escapes. */
	CHECK_INT_EQ(DECODE("%"), -1);
	CHECK_INT_EQ(DECODE("%4"), -1);
	CHECK_INT_EQ(DECODE("abc%"), -1);
	CHECK_INT_EQ(DECODE("abc%6"), -1);
	/* The length given ends the input, even mid-escape. */
	CHECK_INT_EQ(decode("%41", 2, sizeof(dst)), -1);
	CHECK_INT_EQ(decode("%41", 3, sizeof(dst)), 1);
}

static void test_overflow(void)
{
	char small[8];
	memset(small, 'Z', sizeof(small));
	/* Result plus NUL must fit: 3 chars need 4 bytes. */
	CHECK_INT_EQ(static_percent_decode("abc", 3, small, 4), 3);
	CHECK_STR_EQ(small, "abc");
	memset(small, 'Z', sizeof(small));
	CHECK_INT_EQ(static_percent_decode("abcd", 4, small, 4), -1);
	CHECK(small[4] == 'Z');
	memset(small, 'Z', sizeof(small));
	CHECK_INT_EQ(static_percent_decode("%41%42%43", 9, small, 4), 3);
	CHECK_STR_EQ(small, "ABC");
	memset(small, 'Z', sizeof(small));
	CHECK_INT_EQ(static_percent_decode("%41%42%43", 9, small, 3), -1);
	CHECK(small[3] == 'Z');
	memset(small, 'Z', sizeof(small));
	CHECK_INT_EQ(static_percent_decode("", 0, small, 1), 0);
	CHECK(small[0] == '\0' && small[1] == 'Z');
	/* No room even for the NUL: refused, nothing written. */
	memset(small, 'Z', sizeof(small));
	CHECK_INT_EQ(static_percent_decode("", 0, small, 0), -1);
	CHECK_INT_EQ(static_percent_decode("a", 1, small, 0), -1);
	CHECK(small[0] == 'Z');
	/* A long path into the serving buffer. */
	char big[3000], out[1024];
	memset(big, 'a', sizeof(big));
	CHECK_INT_EQ(static_percent_decode(big, 1023, out, sizeof(out)), 1023);
	CHECK_INT_EQ(static_percent_decode(big, 1024, out, sizeof(out)), -1);
	CHECK_INT_EQ(static_percent_decode(big, sizeof(big), out, sizeof(out)), -1);
}

static void test_content_type(void)
{
	CHECK_STR_EQ(static_content_type("index.html"), "text/html; charset=utf-8");
	CHECK_STR_EQ(static_content_type("a/b/INDEX.HTML"), "text/html; charset=utf-8");
	CHECK_STR_EQ(static_content_type("site.css"), "text/css; charset=utf-8");
	CHECK_STR_EQ(static_content_type("app.js"), "text/javascript; charset=utf-8");
	CHECK_STR_EQ(static_content_type("app.mjs"), "text/javascript; charset=utf-8");
	CHECK_STR_EQ(static_content_type("data.json"), "application/json");
	CHECK_STR_EQ(static_content_type("logo.svg"), "image/svg+xml");
	CHECK_STR_EQ(static_content_type("photo.JPG"), "image/jpeg");
	CHECK_STR_EQ(static_content_type("photo.jpeg"), "image/jpeg");
	CHECK_STR_EQ(static_content_type("p.png"), "image/png");
	CHECK_STR_EQ(static_content_type("f.woff2"), "font/woff2");
	CHECK_STR_EQ(static_content_type("report.pdf"), "application/pdf");
	CHECK_STR_EQ(static_content_type("notes.txt"), "text/plain; charset=utf-8");
	CHECK_STR_EQ(static_content_type("site.webmanifest"), "application/manifest+json");
	CHECK_STR_EQ(static_content_type("favicon.ico"), "image/vnd.microsoft.icon");
	/* Unknown, missing or misleading extensions. */
	CHECK_STR_EQ(static_content_type("README"), "application/octet-stream");
	CHECK_STR_EQ(static_content_type("file."), "application/octet-stream");
	CHECK_STR_EQ(static_content_type(""), "application/octet-stream");
	CHECK_STR_EQ(static_content_type("archive.tar.gz"), "application/octet-stream");
	CHECK_STR_EQ(static_content_type("page.html.exe"), "application/octet-stream");
	CHECK_STR_EQ(static_content_type("dir.css/file"), "application/octet-stream");
	CHECK_STR_EQ(static_content_type("a.htm"), "application/octet-stream");
	CHECK_STR_EQ(static_content_type("a.htmlx"), "application/octet-stream");
	CHECK_STR_EQ(static_content_type("a.svgz"), "application/octet-stream");
}

int main(void)
{
	RUN(test_decode());
	RUN(test_refused());
	RUN(test_overflow());
	RUN(test_content_type());
	return check_exit("test_static_files");
}
