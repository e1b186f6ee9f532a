/* The Lua scheduler with made-up work: items whose slices are charged a
 * fixed time, on a real event loop. The fair pick, the concurrency cap,
 * the queue bound and the wait limit, each shown by what ran and what was
 * refused, not by how long anything took. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "lsched.h"

#define MS 1000000LL

struct job {
	struct lsched_item item;        /* first: the callbacks cast back */
	char tenant;
	int slices_left;                /* -1: forever; 0 when done */
	int64_t slice_ns;               /* charged per slice */
	bool hold;                      /* after its first slice it waits (on "the database") */
	int ran;
	bool refused, done;
};

static char order[4096];
static size_t norder;
static struct event_base *base;
static int turns_left;

static void run(struct lsched_item *it, void *arg)
{
	(void)arg;
	struct job *j = (struct job *)it;
	if (norder < sizeof(order) - 1)
		order[norder++] = j->tenant;
	j->ran++;
	lsched_charge(it, j->slice_ns);
	if (--turns_left <= 0)
		event_base_loopbreak(base);
	if (j->hold)
		return;
	if (j->slices_left > 0)
		j->slices_left--;
	if (j->slices_left == 0) {
		j->done = true;
		lsched_done(it);
		return;
	}
	lsched_continue(it);
}

static void refuse(struct lsched_item *it, int retry_after, void *arg)
{
	(void)arg;
	struct job *j = (struct job *)it;
	CHECK_MSG(retry_after >= 1, "retry after %d", retry_after);
	j->refused = true;
}

static struct lsched *fresh(unsigned concurrency, unsigned queue, int64_t wait_ns)
{
	struct lsched *s = lsched_new(base, run, refuse, NULL);
	struct lsched_limits lim = {concurrency, queue, wait_ns, 2 * MS};
	lsched_configure(s, &lim);
	norder = 0;
	memset(order, 0, sizeof(order));
	return s;
}

static void loop(int turns)
{
	turns_left = turns;
	event_base_dispatch(base);
}



/* A tenant that burns (slices of 2 ms without end) and one whose requests
 * take 0.2 ms: they share the time, not the turns. */
static void test_fair_pick(void)
{
	struct lsched *s = fresh(100, 1000, 60000 * MS);
	struct lsched_tenant burner, light;
	lsched_tenant_init(s, &burner);
	lsched_tenant_init(s, &light);
	static struct job burn[4], req[200];
	for (int i = 0; i < 4; i++) {
		burn[i] = (struct job){.tenant = 'B', .slices_left = -1, .slice_ns = 2 * MS};
		lsched_start(&burner, &burn[i].item);
	}
	for (int i = 0; i < 200; i++) {
		req[i] = (struct job){.tenant = 'l', .slices_left = 1, .slice_ns = MS / 5};
		lsched_start(&light, &req[i].item);
	}
	loop(220);
	/* Equal time: after every turn, the two have used the same time to
	 * within one slice of the burner's (2 ms) and one of the light's
	 * (0.2 ms), counted in units of 0.2 ms. The first burner's slice ran
	 * inline when it started (nothing else was queued), then 220 turns. */
	long lag_most = 0;
	for (size_t i = 0, b = 0, l = 0; i < norder; i++) {
		b += order[i] == 'B';
		l += order[i] == 'l';
		long lag = labs((long)(10 * b) - (long)l);
		if (lag > lag_most)
			lag_most = lag;
	}
	CHECK_MSG(norder == 221 && lag_most <= 11, "%zu turns, lag up to %ld: %s", norder, lag_most, order);
	/* And never more than one burning slice between two light requests. */
	CHECK_MSG(strstr(order, "BB") == NULL, "two burning slices in a row while light work waited: %s", order);
	for (int i = 0; i < 4; i++)
		lsched_done(&burn[i].item);
	for (int i = 0; i < 200; i++)
		lsched_done(&req[i].item);
	lsched_tenant_fini(&burner);
	lsched_tenant_fini(&light);
	lsched_free(s);
}

/* A tenant that ran alone for a long time (a thousand requests inline,
 * one second of Lua) is not behind the one that comes next: when a burner
 * arrives, the light tenant's next requests go first, one burning slice
 * between two of them at most. */
static void test_time_alone_not_held(void)
{
	struct lsched *s = fresh(100, 1000, 60000 * MS);
	struct lsched_tenant burner, light;
	lsched_tenant_init(s, &burner);
	lsched_tenant_init(s, &light);
	static struct job alone[1000], burn[4], req[10];
	turns_left = 100000;
	for (int i = 0; i < 1000; i++) {
		alone[i] = (struct job){.tenant = 'l', .slices_left = 1, .slice_ns = MS};
		lsched_start(&light, &alone[i].item);
		CHECK_MSG(alone[i].done, "request %d did not run inline", i);
	}
	norder = 0;
	memset(order, 0, sizeof(order));
	for (int i = 0; i < 4; i++) {
		burn[i] = (struct job){.tenant = 'B', .slices_left = -1, .slice_ns = 2 * MS};
		lsched_start(&burner, &burn[i].item);
	}
	for (int i = 0; i < 10; i++) {
		req[i] = (struct job){.tenant = 'l', .slices_left = 1, .slice_ns = MS / 5};
		lsched_start(&light, &req[i].item);
	}
	loop(30);
	int done = 0;
	for (int i = 0; i < 10; i++)
		done += req[i].done;
	CHECK_MSG(done == 10, "%d of 10 light requests done in 30 turns: %s", done, order);
	/* The first burning slice ran inline, before the light requests came. */
	const char *bb = strstr(order + 1, "BB");
	CHECK_MSG(!bb || bb > strrchr(order, 'l'), "two burning slices in a row while light work waited: %s", order);
	for (int i = 0; i < 4; i++)
		lsched_done(&burn[i].item);
	for (int i = 0; i < 10; i++)
		lsched_done(&req[i].item);
	lsched_tenant_fini(&burner);
	lsched_tenant_fini(&light);
	lsched_free(s);
}

/* With nothing else queued, an item runs at once, inside the call. */
static void test_alone_runs_inline(void)
{
	struct lsched *s = fresh(8, 8, 60000 * MS);
	struct lsched_tenant t;
	lsched_tenant_init(s, &t);
	struct job j = {.tenant = 'a', .slices_left = 1, .slice_ns = MS};
	turns_left = 100;
	lsched_start(&t, &j.item);
	CHECK_MSG(j.ran == 1 && j.done, "ran %d", j.ran);
	lsched_tenant_fini(&t);
	lsched_free(s);
}

/* Two may run at once: the third waits until one is done. */
static void test_concurrency(void)
{
	struct lsched *s = fresh(2, 10, 60000 * MS);
	struct lsched_tenant t;
	lsched_tenant_init(s, &t);
	struct job j[3];
	for (int i = 0; i < 3; i++) {
		j[i] = (struct job){.tenant = 'a', .slices_left = 1, .slice_ns = MS, .hold = true};
		turns_left = 100;
		lsched_start(&t, &j[i].item);
	}
	loop(5);
	CHECK_MSG(j[0].ran == 1 && j[1].ran == 1 && j[2].ran == 0, "ran %d %d %d", j[0].ran, j[1].ran, j[2].ran);
	lsched_done(&j[0].item);
	loop(1);
	CHECK_MSG(j[2].ran == 1, "the third after a place came free: %d", j[2].ran);
	lsched_done(&j[1].item);
	lsched_done(&j[2].item);
	lsched_tenant_fini(&t);
	lsched_free(s);
}

/* A started request that burns its slices does not keep the tenant's
 * free places from one that waits to start: they take turns. */
static void test_burning_keeps_no_place(void)
{
	struct lsched *s = fresh(2, 10, 60000 * MS);
	struct lsched_tenant t;
	lsched_tenant_init(s, &t);
	struct job burn = {.tenant = 'B', .slices_left = -1, .slice_ns = 2 * MS};
	struct job next = {.tenant = 'n', .slices_left = 1, .slice_ns = MS};
	turns_left = 100;
	lsched_start(&t, &burn.item);   /* alone: inline, then queued to go on */
	lsched_start(&t, &next.item);   /* a second place is free */
	loop(2);
	CHECK_MSG(next.ran == 1 && next.done, "the waiting one ran %d times: %s", next.ran, order);
	lsched_done(&burn.item);
	lsched_tenant_fini(&t);
	lsched_free(s);
}

/* Beyond the queue: refused at once, with a Retry-After. */
static void test_queue_bound(void)
{
	struct lsched *s = fresh(1, 2, 60000 * MS);
	struct lsched_tenant t;
	lsched_tenant_init(s, &t);
	struct job j[5];
	for (int i = 0; i < 5; i++) {
		j[i] = (struct job){.tenant = 'a', .slices_left = 1, .slice_ns = MS, .hold = true};
		turns_left = 100;
		lsched_start(&t, &j[i].item);
	}
	/* One runs, two wait, two are refused. */
	CHECK_MSG(j[0].ran == 1 && !j[1].refused && !j[2].refused && j[3].refused && j[4].refused,
	      "%d %d %d %d %d", j[0].ran, j[1].refused, j[2].refused, j[3].refused, j[4].refused);
	for (int i = 0; i < 3; i++)
		lsched_done(&j[i].item);
	lsched_tenant_fini(&t);
	lsched_free(s);
}

/* Waiting longer than the limit: refused when a turn comes. */
static void test_wait_limit(void)
{
	struct lsched *s = fresh(1, 10, 1 * MS);
	struct lsched_tenant t;
	lsched_tenant_init(s, &t);
	struct job a = {.tenant = 'a', .slices_left = 1, .slice_ns = MS, .hold = true};
	struct job b = {.tenant = 'a', .slices_left = 1, .slice_ns = MS};
	turns_left = 100;
	lsched_start(&t, &a.item);
	lsched_start(&t, &b.item);
	struct timespec pause = {0, 5 * MS};
	nanosleep(&pause, NULL);
	lsched_done(&a.item);   /* a place: the turn finds b waited too long */
	loop(1);
	CHECK_MSG(b.refused && b.ran == 0, "refused %d ran %d", b.refused, b.ran);
	lsched_tenant_fini(&t);
	lsched_free(s);
}

/* Freeing the scheduler refuses what waits. */
static void test_free_refuses(void)
{
	struct lsched *s = fresh(1, 10, 60000 * MS);
	struct lsched_tenant t;
	lsched_tenant_init(s, &t);
	struct job a = {.tenant = 'a', .slices_left = 1, .slice_ns = MS, .hold = true};
	struct job b = {.tenant = 'a', .slices_left = 1, .slice_ns = MS};
	turns_left = 100;
	lsched_start(&t, &a.item);
	lsched_start(&t, &b.item);
	lsched_free(s);
	CHECK_MSG(b.refused && !a.refused, "waiting refused %d, running %d", b.refused, a.refused);
}

int main(void)
{
	base = event_base_new();
	RUN(test_alone_runs_inline());
	RUN(test_fair_pick());
	RUN(test_time_alone_not_held());
	RUN(test_concurrency());
	RUN(test_queue_bound());
	RUN(test_burning_keeps_no_place());
	RUN(test_wait_limit());
	RUN(test_free_refuses());
	event_base_free(base);
	return check_exit("test_lsched");
}
