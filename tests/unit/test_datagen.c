/* datagen: the echo of this process's own applied write leaves the
 * generation alone; every other notification bumps it. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "datagen.h"

int main(void)
{
	char tag[DATAGEN_TAG_MAX], other[DATAGEN_TAG_MAX];
	uint64_t seq = datagen_writer_next(), next = datagen_writer_next();
	CHECK(seq != 0 && next == seq + 1);
	datagen_writer_tag(seq, tag);
	CHECK(strlen(tag) > 17 && tag[16] == '.');

	/* Applied at commit: the generation moves once, and its echo is
	 * recognised. */
	uint64_t g0 = datagen_get(7);
	datagen_applied(7, seq);
	uint64_t g1 = datagen_get(7);
	CHECK(g1 != g0);
	CHECK(datagen_notified(7, tag) == 0);
	CHECK(datagen_get(7) == g1);

	/* A transaction of this process not applied (its commit never
	 * answered): bumps. */
	datagen_writer_tag(next, other);
	CHECK(datagen_notified(7, other) == 1);
	uint64_t g2 = datagen_get(7);
	CHECK(g2 != g1);

	/* Another daemon (another instance), SQL outside any daemon, a
	 * malformed tag: all bump. */
	char foreign[DATAGEN_TAG_MAX];
	memcpy(foreign, tag, sizeof(foreign));
	foreign[0] = foreign[0] == '0' ? '1' : '0';
	CHECK(datagen_notified(7, foreign) == 1);
	CHECK(datagen_notified(7, NULL) == 1);
	CHECK(datagen_notified(7, "") == 1);
	const char *bad[] = {"x", "0123456789abcdef", "0123456789abcdef.", "0123456789abcdef.1x", "0123456789abcde.1",
			     "0123456789abcdef.99999999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(datagen_notified(7, bad[i]) == 1);
	char plus[DATAGEN_TAG_MAX + 2];
	snprintf(plus, sizeof(plus), "%.17s+%s", tag, tag + 17);     /* a sign is not a digit */
	CHECK(datagen_notified(7, plus) == 1);

	/* Remembered for a while, not for ever: once many more transactions
	 * were applied, an old echo bumps again (only a wasted entry). */
	for (int i = 0; i < 5000; i++)
		datagen_applied(8, datagen_writer_next());
	uint64_t g3 = datagen_get(7);
	CHECK(datagen_notified(7, tag) == 1);
	CHECK(datagen_get(7) != g3);
	return check_exit("test_datagen");
}
