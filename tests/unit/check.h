/* A tiny assertion helper for the C unit tests: each failed check prints
 * file:line and what it compared, counts as a failure, and the test goes
 * on; check_exit() turns the count into the exit status for ctest.
 *
 * A test that checked nothing has shown nothing, so it fails: check_exit()
 * when no check ran at all, RUN() when the test function it calls ran
 * none (a table it loops over came out empty, or it returned early). A
 * test function that main() forgets to call is a static function never
 * used, which -Wall -Werror refuses to build. */
#ifndef AANTAFEL_TEST_CHECK_H
#define AANTAFEL_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                       \
	do {                                                                              \
		check_count++;                                                            \
		if (!(cond)) {                                                            \
			check_failures++;                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                         \
	} while (0)

/* Like CHECK, with a printf-style note (the case being tested). */
#define CHECK_MSG(cond, ...)                                                              \
	do {                                                                              \
		check_count++;                                                            \
		if (!(cond)) {                                                            \
			check_failures++;                                                 \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                     \
			fputc('\n', stderr);                                              \
		}                                                                         \
	} while (0)

#define CHECK_INT_EQ(a, b)                                                                \
	do {                                                                              \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);           \
		check_count++;                                                            \
		if (check_a_ != check_b_) {                                               \
			check_failures++;                                                 \
			fprintf(stderr, "%s:%d: check failed: %s == %s: %lld != %lld\n", __FILE__, \
				__LINE__, #a, #b, check_a_, check_b_);                    \
		}                                                                         \
	} while (0)

#define CHECK_STR_EQ(a, b)                                                                \
	do {                                                                              \
		const char *check_a_ = (a), *check_b_ = (b);                              \
		check_count++;                                                            \
		if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {          \
			check_failures++;                                                 \
			fprintf(stderr, "%s:%d: check failed: %s == %s: \"%s\" != \"%s\"\n", \
				__FILE__, __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",  \
				check_b_ ? check_b_ : "(null)");                           \
		}                                                                         \
	} while (0)

/* Whether NEEDLE occurs in HAYSTACK (error messages name things). */
#define CHECK_CONTAINS(haystack, needle)                                                  \
	do {                                                                              \
		const char *check_h_ = (haystack), *check_n_ = (needle);                  \
		check_count++;                                                            \
		if (!check_h_ || !strstr(check_h_, check_n_)) {                           \
			check_failures++;                                                 \
			fprintf(stderr, "%s:%d: check failed: \"%s\" does not contain \"%s\"\n", \
				__FILE__, __LINE__, check_h_ ? check_h_ : "(null)", check_n_); \
		}                                                                         \
	} while (0)

/* A check of the right behaviour that a known bug in the code under test
 * still fails (WHY names the bug): counted as an expected failure while it
 * fails, and a failure once it passes, so that the bug's fix turns it
 * back into a CHECK (like pytest's xfail with strict=True). */
#define CHECK_XFAIL(cond, why)                                                            \
	do {                                                                              \
		check_count++;                                                            \
		if (cond) {                                                               \
			check_failures++;                                                 \
			fprintf(stderr, "%s:%d: expected to fail but passed (make it a CHECK): %s: %s\n", \
				__FILE__, __LINE__, #cond, why);                          \
		} else {                                                                  \
			fprintf(stderr, "%s:%d: expected failure: %s: %s\n", __FILE__, __LINE__, #cond, \
				why);                                                     \
		}                                                                         \
	} while (0)

/* Calls one test function (or any statement) and fails if it ran no check. */
#define RUN(call)                                                                         \
	do {                                                                              \
		int check_before_ = check_count;                                          \
		call;                                                                     \
		if (check_count == check_before_) {                                       \
			check_count++;                                                    \
			check_failures++;                                                 \
			fprintf(stderr, "%s:%d: %s ran no check\n", __FILE__, __LINE__, #call); \
		}                                                                         \
	} while (0)

/* Prints a summary and returns the exit status: non-zero on any failure,
 * and when no check ran. */
static inline int check_exit(const char *name)
{
	if (check_count == 0) {
		fprintf(stderr, "%s: no check ran\n", name);
		return 1;
	}
	if (check_failures) {
		fprintf(stderr, "%s: %d of %d checks failed\n", name, check_failures, check_count);
		return 1;
	}
	printf("%s: all %d checks passed\n", name, check_count);
	return 0;
}

#endif
