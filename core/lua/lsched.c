/* Fair scheduling of one worker's Lua work across tenants (lsched.h).
 *
 * The fair pick is start-time fair queueing by tenant: each tenant's
 * vtime grows by the Lua time it used, the tenant with the least goes
 * next, and a tenant that had nothing queued comes back at the vtime of
 * the last tenant that ran, so that idleness is not saved up, and neither
 * is the time used alone. A turn is a zero timer:
 * libevent runs timers after it has polled the sockets, so every
 * connection is served between two slices. */
#include "lsched.h"

#include <event2/event.h>
#include <stdlib.h>
#include <time.h>

#define SECOND_NS 1000000000LL

struct lsched {
	struct event_base *base;
	struct event *turn;
	void (*run)(struct lsched_item *it, void *arg);
	void (*refuse)(struct lsched_item *it, int retry_after, void *arg);
	void *arg;
	struct lsched_limits lim;
	struct lsched_tenant *tenants;  /* those with queued items */
	int64_t vclock;                 /* the vtime of the tenant picked last */
	unsigned depth;                 /* running an item now: nothing else starts inline */
};

static void on_turn(evutil_socket_t fd, short what, void *arg);
static void arm(struct lsched *s);
static void run_item(struct lsched *s, struct lsched_item *it);
static bool may_run_inline(const struct lsched_tenant *t);
static void run_inline(struct lsched *s, struct lsched_item *it);
static void list_tenant(struct lsched_tenant *t);
static void unlist_if_empty(struct lsched_tenant *t);
static void push(struct lsched_item **head, struct lsched_item **tail, struct lsched_item *it);
static struct lsched_item *pop(struct lsched_item **head, struct lsched_item **tail);
static bool unlink_item(struct lsched_item **head, struct lsched_item **tail, struct lsched_item *it);
static void expire_waiters(struct lsched *s, int64_t now);

/* ---------------------------------------------------------------- life */

struct lsched *lsched_new(struct event_base *base, void (*run)(struct lsched_item *it, void *arg),
			  void (*refuse)(struct lsched_item *it, int retry_after, void *arg), void *arg)
{
	struct lsched *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->base = base;
	s->run = run;
	s->refuse = refuse;
	s->arg = arg;
	s->lim = (struct lsched_limits){8, 64, 2 * SECOND_NS, 2000000};
	if (base) {
		s->turn = evtimer_new(base, on_turn, s);
		if (!s->turn) {
			free(s);
			return NULL;
		}
	}
	return s;
}

void lsched_configure(struct lsched *s, const struct lsched_limits *lim)
{
	s->lim = *lim;
	if (s->tenants)
		arm(s);         /* a larger limit may let something start */
}

void lsched_free(struct lsched *s)
{
	if (!s)
		return;
	/* What is queued is refused; running items belong to their callers. */
	while (s->tenants) {
		struct lsched_tenant *t = s->tenants;
		struct lsched_item *it = pop(&t->wait_head, &t->wait_tail);
		if (it) {
			t->nwait--;
		} else {
			it = pop(&t->ready_head, &t->ready_tail);
			t->running--;
		}
		it->state = LSCHED_IDLE;
		unlist_if_empty(t);
		s->refuse(it, 1, s->arg);
	}
	if (s->turn)
		event_free(s->turn);
	free(s);
}

int64_t lsched_slice_ns(const struct lsched *s)
{
	return s->lim.slice_ns;
}

void lsched_tenant_init(struct lsched *s, struct lsched_tenant *t)
{
	*t = (struct lsched_tenant){.s = s, .vtime_ns = s ? s->vclock : 0};
}

void lsched_tenant_fini(struct lsched_tenant *t)
{
	if (t->s)
		unlist_if_empty(t);
}

/* ---------------------------------------------------------------- items */

void lsched_start(struct lsched_tenant *t, struct lsched_item *it)
{
	struct lsched *s = t->s;
	it->tenant = t;
	if (may_run_inline(t) && t->running < s->lim.concurrency) {
		t->running++;
		run_inline(s, it);
		return;
	}
	if (t->nwait >= s->lim.queue) {
		it->state = LSCHED_IDLE;
		s->refuse(it, 1, s->arg);
		return;
	}
	it->state = LSCHED_WAITING;
	it->queued_ns = lsched_now_ns();
	push(&t->wait_head, &t->wait_tail, it);
	t->nwait++;
	list_tenant(t);
	arm(s);
}

void lsched_continue(struct lsched_item *it)
{
	struct lsched_tenant *t = it->tenant;
	struct lsched *s = t->s;
	if (may_run_inline(t)) {
		run_inline(s, it);
		return;
	}
	it->state = LSCHED_READY;
	it->queued_ns = lsched_now_ns();
	push(&t->ready_head, &t->ready_tail, it);
	list_tenant(t);
	arm(s);
}

void lsched_charge(struct lsched_item *it, int64_t ns)
{
	struct lsched_tenant *t = it->tenant;
	if (!t || ns <= 0)
		return;
	t->vtime_ns += ns;
}

void lsched_done(struct lsched_item *it)
{
	struct lsched_tenant *t = it->tenant;
	if (!t)
		return;
	struct lsched *s = t->s;
	switch (it->state) {
	case LSCHED_IDLE:
		return;
	case LSCHED_WAITING:
		if (unlink_item(&t->wait_head, &t->wait_tail, it))
			t->nwait--;
		break;
	case LSCHED_READY:
		unlink_item(&t->ready_head, &t->ready_tail, it);
		t->running--;
		break;
	case LSCHED_RUNNING:
		t->running--;
		break;
	}
	it->state = LSCHED_IDLE;
	unlist_if_empty(t);
	/* A place came free for one that waits. */
	if (t->wait_head)
		arm(s);
}

/* ---------------------------------------------------------------- turns */

/* Nothing else competes: no tenant has anything queued, and no item is
 * running (an item that continues from inside another's slice would nest
 * one slice in the other). */
static bool may_run_inline(const struct lsched_tenant *t)
{
	const struct lsched *s = t->s;
	return !s->tenants && s->depth == 0;
}

/* IT runs now, its tenant alone: its idle time is not saved up either. */
static void run_inline(struct lsched *s, struct lsched_item *it)
{
	if (it->tenant->vtime_ns < s->vclock)
		it->tenant->vtime_ns = s->vclock;
	it->state = LSCHED_RUNNING;
	run_item(s, it);
}

static void on_turn(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lsched *s = arg;
	int64_t now = lsched_now_ns();
	expire_waiters(s, now);
	struct lsched_tenant *best = NULL;
	for (struct lsched_tenant *t = s->tenants; t; t = t->next) {
		bool can = t->ready_head || (t->wait_head && t->running < s->lim.concurrency);
		if (can && (!best || t->vtime_ns < best->vtime_ns))
			best = t;
	}
	if (!best)
		return;
	/* Within the tenant, first come first served across both queues: a
	 * started request that burns its slices must not keep the tenant's
	 * free places from the ones that wait to start. */
	bool start = best->wait_head && best->running < s->lim.concurrency &&
		     (!best->ready_head || best->wait_head->queued_ns <= best->ready_head->queued_ns);
	struct lsched_item *it;
	if (start) {
		it = pop(&best->wait_head, &best->wait_tail);
		best->nwait--;
		best->running++;
	} else {
		it = pop(&best->ready_head, &best->ready_tail);
	}
	it->state = LSCHED_RUNNING;
	unlist_if_empty(best);
	run_item(s, it);        /* may free the item and its tenant */
	if (s->tenants)
		arm(s);
}

/* The clock follows the tenant that runs, also when it runs alone: time
 * a tenant used while nobody else wanted any is not held against it when
 * another comes. */
static void run_item(struct lsched *s, struct lsched_item *it)
{
	if (it->tenant->vtime_ns > s->vclock)
		s->vclock = it->tenant->vtime_ns;
	s->depth++;
	s->run(it, s->arg);
	s->depth--;
}

static void arm(struct lsched *s)
{
	static const struct timeval now = {0, 0};
	if (s->turn && !evtimer_pending(s->turn, NULL))
		evtimer_add(s->turn, &now);
}

/* Waiting items older than the limit are refused, oldest first. */
static void expire_waiters(struct lsched *s, int64_t now)
{
	struct lsched_tenant *t = s->tenants;
	while (t) {
		struct lsched_tenant *next = t->next;
		while (t->wait_head && now - t->wait_head->queued_ns > s->lim.wait_ns) {
			struct lsched_item *it = pop(&t->wait_head, &t->wait_tail);
			t->nwait--;
			it->state = LSCHED_IDLE;
			bool last = !t->wait_head && !t->ready_head;
			if (last)
				unlist_if_empty(t);
			/* Refusing may free the tenant once it holds nothing. */
			s->refuse(it, 1, s->arg);
			if (last)
				break;
		}
		t = next;
	}
}

/* ---------------------------------------------------------------- lists */

static void list_tenant(struct lsched_tenant *t)
{
	if (t->listed)
		return;
	struct lsched *s = t->s;
	/* Idle time is not saved up. */
	if (t->vtime_ns < s->vclock)
		t->vtime_ns = s->vclock;
	t->listed = true;
	t->next = s->tenants;
	s->tenants = t;
}

static void unlist_if_empty(struct lsched_tenant *t)
{
	if (!t->listed || t->ready_head || t->wait_head)
		return;
	struct lsched *s = t->s;
	for (struct lsched_tenant **p = &s->tenants; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	t->listed = false;
	t->next = NULL;
}

static void push(struct lsched_item **head, struct lsched_item **tail, struct lsched_item *it)
{
	it->next = NULL;
	if (*tail)
		(*tail)->next = it;
	else
		*head = it;
	*tail = it;
}

static struct lsched_item *pop(struct lsched_item **head, struct lsched_item **tail)
{
	struct lsched_item *it = *head;
	if (!it)
		return NULL;
	*head = it->next;
	if (!*head)
		*tail = NULL;
	it->next = NULL;
	return it;
}

static bool unlink_item(struct lsched_item **head, struct lsched_item **tail, struct lsched_item *it)
{
	struct lsched_item *prev = NULL;
	for (struct lsched_item *p = *head; p; prev = p, p = p->next) {
		if (p != it)
			continue;
		if (prev)
			prev->next = p->next;
		else
			*head = p->next;
		if (*tail == p)
			*tail = prev;
		p->next = NULL;
		return true;
	}
	return false;
}

/* ---------------------------------------------------------------- clocks */

int64_t lsched_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SECOND_NS + ts.tv_nsec;
}

int64_t lsched_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * SECOND_NS + ts.tv_nsec;
}
