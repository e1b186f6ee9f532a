/* Accept-Language negotiation: Dutch or English, the higher q wins, ties
 * and nonsense go to Dutch. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lang.h"

#define LANG(al, want)                                                                             \
	do {                                                                                       \
		const char *got_ = lang_negotiate(al);                                             \
		CHECK_MSG(got_ && strcmp(got_, want) == 0, "Accept-Language [%s]: got %s, want %s", \
			  (al) ? (const char *)(al) : "(null)", got_ ? got_ : "(null)", want);      \
	} while (0)

static void test_plain(void)
{
	LANG(NULL, "nl");
	LANG("", "nl");
	LANG("nl", "nl");
	LANG("en", "en");
	LANG("EN", "en");
	LANG("en-GB", "en");
	LANG("en-gb", "en");
	LANG("en-US,en;q=0.9", "en");
	LANG("nl-NL", "nl");
	LANG("nl-BE, nl;q=0.9", "nl");
	LANG("fr", "nl");               /* neither: the default */
	LANG("de-DE, fr;q=0.5", "nl");
	LANG("fr, en;q=0.1", "en");     /* English acceptable, Dutch not named */
}

static void test_q_values(void)
{
	LANG("nl;q=0.4, en;q=0.5", "en");
	LANG("en;q=0.4, nl;q=0.5", "nl");
	LANG("en;q=0.999, nl;q=0.998", "en");
	LANG("en;q=1.0, nl;q=0.9", "en");
	LANG("en;q=1, nl", "nl");               /* both 1: tie */
	LANG("en;Q=0.5, nl;q=0.4", "en");
	LANG("en ; q=0.5, nl;q=0.4", "en");
	LANG("en;q=0.1234, nl;q=0.123", "nl");  /* only three decimals count */
	LANG("nl;q=0.5;foo=bar, en;q=0.4", "nl");
	LANG("en;foo=bar;q=0.3, nl;q=0.4", "nl");
	LANG("nl;q=0.5 , en", "en");
	LANG("en;q=0", "nl");                   /* not acceptable */
	LANG("en;q=0.000", "nl");
	LANG("nl;q=0, en;q=0", "nl");
	LANG("nl;q=0, en;q=0.001", "en");
	/* The best of several entries for one language counts. */
	LANG("en;q=0.1, en-GB;q=0.9, nl;q=0.5", "en");
	LANG("nl;q=0.1, nl-BE;q=0.9, en;q=0.5", "nl");
}

static void test_ties(void)
{
	LANG("en, nl", "nl");
	LANG("nl, en", "nl");
	LANG("en;q=0.8, nl;q=0.8", "nl");
	LANG("en-GB;q=0.5, nl-NL;q=0.5", "nl");
}

static void test_star(void)
{
	LANG("*", "nl");
	LANG("*;q=0.5, en", "en");
	LANG("*;q=0.5, nl", "nl");
	LANG("en;q=0, *", "nl");                /* English refused, * covers Dutch */
	LANG("nl;q=0, *", "en");                /* Dutch refused, * covers English */
	LANG("nl;q=0, *;q=0.1", "en");
	LANG("fr, *;q=0.1", "nl");
	LANG("en;q=0.2, *;q=0.5", "nl");        /* * gives Dutch 0.5 */
}

static void test_garbage(void)
{
	LANG("en;q=abc", "nl");
	LANG("en;q=", "nl");
	LANG("en;q=.5", "nl");
	LANG(";;;,,,", "nl");
	LANG(",,, en", "en");
	LANG("e", "nl");
	LANG("english", "nl");
	LANG("enx", "nl");
	LANG("nlx, en;q=0.1", "en");
	LANG("q=1", "nl");
	LANG("en;q=0.5;q=0.9", "en");
	LANG("  \t ", "nl");
	LANG("en;q=-1", "nl");
	LANG("\xc3\xa9\xff, en", "en");
	LANG("*-*", "nl");

	/* Long values are walked once, without harm. */
	size_t n = 100000;
	char *big = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		big[i] = "en;q=0.5,"[i % 9];
	big[n] = '\0';
	LANG(big, "en");
	memset(big, ';', n);
	LANG(big, "nl");
	memset(big, 'x', n);
	LANG(big, "nl");
	free(big);
}

int main(void)
{
	RUN(test_plain());
	RUN(test_q_values());
	RUN(test_ties());
	RUN(test_star());
	RUN(test_garbage());
	return check_exit("test_lang");
}
