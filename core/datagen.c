/* Tenants' data generations: see datagen.h. */
#include "datagen.h"

#define SLOTS 4096

static uint64_t slots[SLOTS];
static uint64_t epoch;

static unsigned slot_of(int64_t tenant_id)
{
	uint64_t x = (uint64_t)tenant_id * 0x9E3779B97F4A7C15ull;
	return (unsigned)(x >> 52) % SLOTS;
}

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
