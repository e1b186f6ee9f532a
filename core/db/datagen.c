/* Tenants' data generations and the writer tags that tell a daemon's own
 * writes from everyone else's: see datagen.h. */
#include "datagen.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "encode.h"

#define SLOTS 4096
/* Applied transactions remembered, by number modulo the size. An echo
 * comes within milliseconds; one that comes after APPLIED_MAX later
 * applied transactions bumps again, which only costs a cache entry. */
#define APPLIED_MAX 4096
#define INSTANCE_DIGITS 16

static uint64_t slots[SLOTS];
static uint64_t epoch;
static uint64_t applied[APPLIED_MAX];
static uint64_t last_seq;
static uint64_t instance;
static pthread_once_t instance_once = PTHREAD_ONCE_INIT;

static unsigned slot_of(int64_t tenant_id);
static void instance_init(void);
static bool own_and_applied(const char *writer);

uint64_t datagen_get(int64_t tenant_id)
{
	return __atomic_load_n(&slots[slot_of(tenant_id)], __ATOMIC_ACQUIRE) +
	       (__atomic_load_n(&epoch, __ATOMIC_ACQUIRE) << 40);
}

void datagen_bump(int64_t tenant_id)
{
	__atomic_add_fetch(&slots[slot_of(tenant_id)], 1, __ATOMIC_ACQ_REL);
}

void datagen_bump_all(void)
{
	__atomic_add_fetch(&epoch, 1, __ATOMIC_ACQ_REL);
}

uint64_t datagen_writer_next(void)
{
	return __atomic_add_fetch(&last_seq, 1, __ATOMIC_RELAXED);
}

void datagen_writer_tag(uint64_t seq, char out[DATAGEN_TAG_MAX])
{
	pthread_once(&instance_once, instance_init);
	snprintf(out, DATAGEN_TAG_MAX, "%0*" PRIx64 ".%" PRIu64, INSTANCE_DIGITS, instance, seq);
}

void datagen_applied(int64_t tenant_id, uint64_t seq)
{
	/* Bumped before it is marked: a listener that finds the mark finds
	 * the bump done. */
	datagen_bump(tenant_id);
	__atomic_store_n(&applied[seq % APPLIED_MAX], seq, __ATOMIC_RELEASE);
}

int datagen_notified(int64_t tenant_id, const char *writer)
{
	if (writer && own_and_applied(writer))
		return 0;
	datagen_bump(tenant_id);
	return 1;
}

static unsigned slot_of(int64_t tenant_id)
{
	uint64_t x = (uint64_t)tenant_id * 0x9E3779B97F4A7C15ull;
	return (unsigned)(x >> 52) % SLOTS;
}

/* Two daemons drawing the same instance is a chance of 2^-64; then one
 * would skip the other's echo only for a number it applied itself. */
static void instance_init(void)
{
	uint64_t v = 0;
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		v = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 40);
	}
	instance = v;
}

/* WRITER is "INSTANCE.SEQ" of this process, and SEQ was applied. The text
 * comes from the database: checked strictly, anything else is another's. */
static bool own_and_applied(const char *writer)
{
	pthread_once(&instance_once, instance_init);
	uint64_t inst = 0, seq = 0;
	const char *p = writer;
	for (int i = 0; i < INSTANCE_DIGITS; i++, p++) {
		int v = enc_hex_value((unsigned char)*p);
		if (v < 0)
			return false;
		inst = inst << 4 | (uint64_t)v;
	}
	if (*p++ != '.' || !*p)
		return false;
	for (; *p; p++) {
		if (!isdigit((unsigned char)*p) || seq > (UINT64_MAX - 9) / 10)
			return false;
		seq = seq * 10 + (uint64_t)(*p - '0');
	}
	return inst == instance && seq != 0 && __atomic_load_n(&applied[seq % APPLIED_MAX], __ATOMIC_ACQUIRE) == seq;
}
