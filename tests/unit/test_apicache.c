/* The guests' read cache: a hit only under the same generation (a stale
 * entry goes), least recently used entries leave first when the bytes
 * run out, one answer cannot take more than a quarter, size 0 keeps
 * nothing; and the data generations: a bump moves one tenant's, the epoch
 * every tenant's. */
#include <stdio.h>
#include <string.h>

#include "apicache.h"
#include "check.h"
#include "datagen.h"

int main(void)
{
	struct apicache *c = apicache_new(4096);
	size_t len;
	apicache_put(c, "1 /tables {}", 7, "{\"a\":1}", 7);
	const char *v = apicache_get(c, "1 /tables {}", 7, &len);
	CHECK(v && len == 7 && strcmp(v, "{\"a\":1}") == 0);
	CHECK(apicache_get(c, "2 /tables {}", 7, &len) == NULL);          /* another tenant's key */
	CHECK(apicache_get(c, "1 /tables {}", 8, &len) == NULL);          /* a newer generation: stale */
	CHECK(apicache_get(c, "1 /tables {}", 7, &len) == NULL);          /* and gone */

	/* LRU by bytes: 40 entries of ~200 bytes in 4 KiB. */
	char key[32], text[120];
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		apicache_put(c, key, 1, text, strlen(text));
		CHECK(apicache_get(c, "k0", 1, &len) != NULL);            /* read every time: never the one dropped */
	}
	struct apicache_stats st;
	apicache_stats(c, &st);
	CHECK(st.bytes <= 4096 && st.entries > 5);
	CHECK(apicache_get(c, "k0", 1, &len) != NULL);                    /* used all along: kept */
	CHECK(apicache_get(c, "k1", 1, &len) == NULL);                    /* the oldest unused: dropped */
	CHECK(apicache_get(c, "k39", 1, &len) != NULL);
	char big[2000];
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	apicache_put(c, "big", 1, big, strlen(big));                       /* over a quarter: not kept */
	CHECK(apicache_get(c, "big", 1, &len) == NULL);
	apicache_configure(c, 0);
	apicache_stats(c, &st);
	CHECK(st.entries == 0 && st.bytes == 0);
	apicache_put(c, "k", 1, "v", 1);
	CHECK(apicache_get(c, "k", 1, &len) == NULL);
	apicache_free(c);

	uint64_t a = datagen_get(1), b = datagen_get(2);
	datagen_bump(1);
	CHECK(datagen_get(1) != a);
	datagen_bump_all();
	CHECK(datagen_get(2) != b);
	return check_exit("test_apicache");
}
