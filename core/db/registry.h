/* The tenant registry as the daemon sees it: an immutable snapshot of
 * tenants and their hosts, looked up by Host in O(1), replaced as a whole
 * when the database says it changed (LISTEN aantafel_registry). Workers
 * hold a reference to the snapshot they use; the old one goes when the last
 * reference does. */
#ifndef AANTAFEL_REGISTRY_H
#define AANTAFEL_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

enum tenant_status { TENANT_ACTIVE, TENANT_SUSPENDED };

struct tenant {
	int64_t id;
	const char *slug;
	const char *name;
	enum tenant_status status;
	int bundle_version;     /* deployed bundle version; 0 = none deployed */
	char default_lang[3];   /* "nl", "en", or "" when the site follows the browser */
};

struct registry;

/* The current snapshot with a new reference, or NULL before the first
 * load. */
struct registry *registry_acquire(void);
void registry_unref(struct registry *r);

const struct tenant *registry_by_host(const struct registry *r, const char *host);
size_t registry_count(const struct registry *r);
const struct tenant *registry_at(const struct registry *r, size_t i);

/* Builds a snapshot from rows (id, slug, name, status, hosts separated by
 * spaces, deployed bundle version) and makes it current. Exposed for the
 * tests. */
struct registry_row {
	int64_t id;
	const char *slug, *name, *status, *hosts;
	int bundle_version;     /* 0: none deployed */
	const char *default_lang;       /* "nl", "en", or NULL or "" for none */
};
int registry_publish(const struct registry_row *rows, size_t n);
/* Drops the current snapshot (at exit). */
void registry_clear(void);

/* The listener keeps a connection that LISTENs and reloads the registry
 * on every notification and after every reconnect (notifications sent
 * while disconnected are lost, so a reconnect always reloads). CHANGED
 * runs on the listener's loop after each publish. */
struct registry_listener;
struct registry_listener *registry_listener_start(struct event_base *base, const char *conninfo,
						  void (*changed)(void *arg), void *arg);
void registry_listener_stop(struct registry_listener *l);

#endif
