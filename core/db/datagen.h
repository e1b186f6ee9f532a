/* Generations of the tenants' data, for caches of what guests read. Every
 * write to a table a guest's page shows notifies "aantafel_data" with the
 * tenant's id (sql/code/notify.sql); the registry listener bumps that
 * tenant's generation, and an entry cached under an older generation is
 * stale. Lock-free: counters in slots by a hash of the id (two tenants
 * sharing a slot only invalidate each other more often), plus one epoch
 * for all.
 *
 * A daemon's own writes are applied when they commit (the pool bumps the
 * generation before the commit is answered), so their notification, which
 * may come back a moment later, is only an echo: bumping again would throw
 * away what guests read in between, and a page kept then would need the
 * database once more. To recognise the echo, every transaction of this
 * process carries a writer tag (INSTANCE.SEQ: a random number drawn once
 * per process and the transaction's number) that the trigger sends after
 * the tenant's id; the listener skips a notification whose tag names a
 * transaction of this process that was applied. Everything else bumps: a
 * write of another daemon (another instance), of SQL outside any daemon
 * (no tag), of a transaction whose commit this process never saw answered
 * (not applied), or one applied too long ago to be remembered. */
#ifndef AANTAFEL_DATAGEN_H
#define AANTAFEL_DATAGEN_H

#include <stddef.h>
#include <stdint.h>

uint64_t datagen_get(int64_t tenant_id);
void datagen_bump(int64_t tenant_id);
/* Notifications may have been lost (the listener reconnected): all stale. */
void datagen_bump_all(void);

#define DATAGEN_TAG_MAX 40      /* a writer tag with its NUL */

/* A new transaction's number (never 0) and its tag, "INSTANCE.SEQ" in
 * hexadecimal and decimal. */
uint64_t datagen_writer_next(void);
void datagen_writer_tag(uint64_t seq, char out[DATAGEN_TAG_MAX]);

/* Transaction SEQ of this process committed a change to TENANT_ID's data
 * that guests see: bumps its generation and remembers SEQ as applied. */
void datagen_applied(int64_t tenant_id, uint64_t seq);

/* A notification that TENANT_ID's data changed, by the transaction WRITER
 * names (NULL or "": not a daemon's). Bumps the tenant's generation
 * unless WRITER is a transaction of this process already applied. Returns
 * whether it bumped. */
int datagen_notified(int64_t tenant_id, const char *writer);

#endif
