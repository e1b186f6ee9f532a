/* Fair scheduling of one worker's Lua work across tenants. A request's
 * Lua runs in slices (the sandbox's count hook yields when a slice is
 * spent); every slice, and every start of a request's Lua, goes through
 * this scheduler when there is competition. It runs the next slice of the
 * tenant that has used the least Lua time, one slice per turn of the
 * event loop so that other connections are served in between; and it
 * holds each tenant to a number of requests running at once. What waits beyond a bounded
 * queue, or longer than it may, is refused (the caller answers 503 with
 * Retry-After), so that a tenant burning its budget costs the others one
 * slice of latency, not its burn.
 *
 * The scheduler knows nothing of requests: callers embed a struct
 * lsched_item in theirs and a struct lsched_tenant in their tenant state,
 * and get called back with the item to run or to refuse. */
#ifndef AANTAFEL_LSCHED_H
#define AANTAFEL_LSCHED_H

#include <stdbool.h>
#include <stdint.h>

struct event;
struct event_base;
struct lsched;

struct lsched_limits {
	unsigned concurrency;           /* a tenant's requests running Lua at once */
	unsigned queue;                 /* ... waiting to start; more are refused */
	int64_t wait_ns;                /* longest wait to start; longer is refused */
	int64_t slice_ns;               /* Lua time before a request yields its turn */
};

enum lsched_state {
	LSCHED_IDLE,                    /* not known to the scheduler */
	LSCHED_WAITING,                 /* queued to start */
	LSCHED_RUNNING,                 /* started; running, or waiting on something else */
	LSCHED_READY,                   /* started, queued to go on */
};

struct lsched_item {
	struct lsched_item *next;
	struct lsched_tenant *tenant;
	enum lsched_state state;
	int64_t queued_ns;
};

struct lsched_tenant {
	struct lsched *s;
	struct lsched_item *ready_head, *ready_tail;    /* started, to go on */
	struct lsched_item *wait_head, *wait_tail;      /* to start */
	unsigned nwait;
	unsigned running;               /* started and not done */
	int64_t vtime_ns;               /* Lua time used, as the fair pick counts it */
	struct lsched_tenant *next;     /* in the scheduler's list of tenants with work */
	bool listed;
};

/* RUN starts or continues the item's Lua (one slice); REFUSE answers an
 * item that may not start (RETRY_AFTER seconds). Both may free the item
 * (after lsched_done) but not the tenant while other items are in it. */
struct lsched *lsched_new(struct event_base *base, void (*run)(struct lsched_item *it, void *arg),
			  void (*refuse)(struct lsched_item *it, int retry_after, void *arg), void *arg);
void lsched_configure(struct lsched *s, const struct lsched_limits *lim);
/* Refuses whatever still waits, then frees S. */
void lsched_free(struct lsched *s);
int64_t lsched_slice_ns(const struct lsched *s);

void lsched_tenant_init(struct lsched *s, struct lsched_tenant *t);
/* The tenant must hold no item. */
void lsched_tenant_fini(struct lsched_tenant *t);

/* IT of tenant T wants a place: started at once when nothing competes,
 * else queued; refused when the tenant's queue is full. */
void lsched_start(struct lsched_tenant *t, struct lsched_item *it);
/* A started IT wants to go on (its slice ended, or what it waited for
 * came): at once when nothing competes, else queued. */
void lsched_continue(struct lsched_item *it);
/* IT used NS of Lua time in the slice that just ran. */
void lsched_charge(struct lsched_item *it, int64_t ns);
/* IT is over: it leaves its queue and its tenant's count. */
void lsched_done(struct lsched_item *it);

/* Monotonic and thread CPU clocks, in ns. */
int64_t lsched_now_ns(void);
int64_t lsched_cpu_ns(void);

#endif
