/* log_strip_query: query values never reach the access log, keys do, and
 * the output is always one parseable, NUL-terminated word. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "log.h"

static char out[4096];

static const char *strip(const char *target)
{
	size_t n = log_strip_query(target, strlen(target), out, sizeof(out));
	CHECK_INT_EQ(n, strlen(out));
	return out;
}

static void test_values(void)
{
	CHECK_STR_EQ(strip("/a?x=1&y"), "/a?x=&y=");
	CHECK_STR_EQ(strip("/login?user=ann&password=hunter2"), "/login?user=&password=");
	CHECK_STR_EQ(strip("/a?x=secret&y=2&z"), "/a?x=&y=&z=");
	CHECK_STR_EQ(strip("/a?token"), "/a?token=");
	CHECK_STR_EQ(strip("/a?x=1=2"), "/a?x=");
	CHECK_STR_EQ(strip("/a?x=1?y=2"), "/a?x=");
	CHECK_STR_EQ(strip("/a?=secret"), "/a?=");
	CHECK_STR_EQ(strip("/a?&&x=1&"), "/a?&&x=&");
	CHECK_STR_EQ(strip("/a?x=%41%42&y=a+b"), "/a?x=&y=");
	CHECK_STR_EQ(strip("/a?k%20ey=v"), "/a?k%20ey=");
}

static void test_no_query(void)
{
	CHECK_STR_EQ(strip("/"), "/");
	CHECK_STR_EQ(strip("/a/b.css"), "/a/b.css");
	CHECK_STR_EQ(strip(""), "");
	CHECK_STR_EQ(strip("/a?"), "/a?");
	CHECK_STR_EQ(strip("?"), "?");
	CHECK_STR_EQ(strip("/a?x="), "/a?x=");
	CHECK_STR_EQ(strip("/a?x=&y="), "/a?x=&y=");
}

static void test_fragment(void)
{
	CHECK_STR_EQ(strip("/a#frag"), "/a");
	CHECK_STR_EQ(strip("/a?x=1#frag"), "/a?x=");
	CHECK_STR_EQ(strip("/a?x#frag=1"), "/a?x=");
	CHECK_STR_EQ(strip("/a#f?x=secret"), "/a");
	CHECK_STR_EQ(strip("#"), "");
}

static void test_controls(void)
{
	CHECK_STR_EQ(strip("/a b"), "/a?b");
	CHECK_STR_EQ(strip("/a\tb\x01\x7f"), "/a?b??");
	CHECK_STR_EQ(strip("/caf\xc3\xa9"), "/caf??");
	CHECK_STR_EQ(strip("/a?k\x01y=v\x02"), "/a?k?y=");
	CHECK_STR_EQ(strip("/a\r\nX: y"), "/a??X:?y");
	/* The length given is what counts, not a NUL. */
	static const char with_nul[] = "/a\0b?x=1";
	size_t n = log_strip_query(with_nul, sizeof(with_nul) - 1, out, sizeof(out));
	CHECK_INT_EQ(n, 7);
	CHECK_STR_EQ(out, "/a?b?x=");
}

/* Every output length from 0 up: never past outlen, always terminated,
 * never a byte of a value. */
static void test_truncation(void)
{
	static const char *targets[] = {
		"/a?x=1&y",
		"/login?user=ann&password=SECRET&next=/home",
		"/path/to/somewhere?SECRET-KEY-LIKE=SECRET&&=SECRET",
		"/a?k",
		"/plain/path/without/query",
		"/a b\x01?x=SECRET#SECRET",
	};
	for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
		const char *tg = targets[t];
		size_t len = strlen(tg);
		for (size_t outlen = 0; outlen <= len + 4; outlen++) {
			char buf[128];
			memset(buf, 'Z', sizeof(buf));
			size_t n = log_strip_query(tg, len, buf, outlen);
			if (outlen == 0) {
				CHECK_INT_EQ(n, 0);
				CHECK(buf[0] == 'Z');
				continue;
			}
			CHECK_MSG(n < outlen, "[%s] outlen %zu returned %zu", tg, outlen, n);
			CHECK_MSG(buf[n] == '\0', "[%s] outlen %zu not terminated", tg, outlen);
			CHECK_MSG(strlen(buf) == n, "[%s] outlen %zu", tg, outlen);
			CHECK_MSG(buf[outlen] == 'Z', "[%s] outlen %zu written past the end", tg, outlen);
			CHECK_MSG(strstr(buf, "=S") == NULL && strstr(buf, "ann") == NULL, "[%s] outlen %zu: %s", tg,
				  outlen, buf);
			for (size_t i = 0; i < n; i++)
				CHECK_MSG((unsigned char)buf[i] > 0x20 && (unsigned char)buf[i] < 0x7f,
					  "[%s] outlen %zu byte %zu", tg, outlen, i);
		}
	}
	/* A long target into the access log's buffer. */
	size_t big_len = 5000;
	char *big = malloc(big_len);
	memset(big, 'a', big_len);
	big[0] = '/';
	big[100] = '?';
	big[200] = '=';
	char path[1024];
	size_t n = log_strip_query(big, big_len, path, sizeof(path));
	CHECK_INT_EQ(n, strlen(path));
	CHECK(n < sizeof(path));
	CHECK_INT_EQ(n, 201);
	CHECK(path[200] == '=');
	free(big);
}

int main(void)
{
	RUN(test_values());
	RUN(test_no_query());
	RUN(test_fragment());
	RUN(test_controls());
	RUN(test_truncation());
	return check_exit("test_log");
}
