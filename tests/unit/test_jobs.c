/* Job queues with real event loops: two loops on two threads share one
 * queue and every completion runs on its submitter's thread; the capacity
 * refuses at once; work runs on N threads at the same time, never more;
 * job_queue_free finishes what is queued and runs the completions no loop
 * took, so ASan sees no leak after load. Loop threads only count; the
 * checks run on the main thread. */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "jobs.h"

/* Waits on COND until PRED holds or 10 s pass (a hung test fails instead
 * of hanging ctest). */
#define WAIT_UNTIL(lock, cond, pred)                                           \
	do {                                                                   \
		struct timespec until_;                                        \
		clock_gettime(CLOCK_REALTIME, &until_);                        \
		until_.tv_sec += 10;                                           \
		while (!(pred))                                                \
			if (pthread_cond_timedwait(cond, lock, &until_) == ETIMEDOUT) \
				break;                                         \
	} while (0)

/* ------------------------------------------------- two loops, one queue */

#define LOOP_JOBS 400

struct loop {
	struct event_base *base;
	pthread_t thread;       /* written by the loop itself */
	struct loop *peer;
	pthread_barrier_t *ready;
	struct job_queue *q;
	int submitted;          /* taken by the queue */
	int completed;
	int retries;            /* refusals, each retried 1 ms later */
	int wrong_thread;       /* dones not on this loop's thread */
	int work_on_loop;       /* works that ran on a loop thread */
};

struct loop_job {
	struct loop *loop;
	pthread_t work_thread;
	int value, result;
};

static void loop_submit_more(struct loop *l);

static void loop_work(void *arg)
{
	struct loop_job *j = arg;
	j->work_thread = pthread_self();
	j->result = j->value * 2;
	if (j->value % 7 == 0)
		usleep(200);
}

static void loop_done(void *arg)
{
	struct loop_job *j = arg;
	struct loop *l = j->loop;
	if (!pthread_equal(pthread_self(), l->thread))
		l->wrong_thread++;
	if (pthread_equal(j->work_thread, l->thread) || pthread_equal(j->work_thread, l->peer->thread))
		l->work_on_loop++;
	if (j->result != j->value * 2)
		l->wrong_thread += 1000;
	free(j);
	l->completed++;
	if (l->completed == LOOP_JOBS)
		event_base_loopbreak(l->base);
	else
		loop_submit_more(l);
}

static void loop_retry(evutil_socket_t fd, short what, void *arg)
{
	loop_submit_more(arg);
}

/* Keeps the queue as full as it takes: submits until refused or all sent;
 * when refused with nothing of ours in flight, tries again in 1 ms. */
static void loop_submit_more(struct loop *l)
{
	while (l->submitted < LOOP_JOBS) {
		struct loop_job *j = calloc(1, sizeof(*j));
		if (!j)
			abort();
		j->loop = l;
		j->value = l->submitted;
		if (job_submit(l->q, l->base, loop_work, loop_done, j) != 0) {
			free(j);
			l->retries++;
			if (l->submitted == l->completed) {
				struct timeval ms = {0, 1000};
				event_base_once(l->base, -1, EV_TIMEOUT, loop_retry, l, &ms);
			}
			return;
		}
		l->submitted++;
	}
}

static void loop_start(evutil_socket_t fd, short what, void *arg)
{
	loop_submit_more(arg);
}

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	struct timeval now = {0, 0};
	/* Both loops know both thread ids before the first job. */
	l->thread = pthread_self();
	pthread_barrier_wait(l->ready);
	event_base_once(l->base, -1, EV_TIMEOUT, loop_start, l, &now);
	event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static void test_two_loops(void)
{
	/* Capacity below what two eager loops want, so refusals happen and
	 * are retried while completions flow back. */
	struct job_queue *q = job_queue_new("test", 3, 16);
	CHECK(q != NULL);
	if (!q)
		return;
	struct loop loops[2];
	pthread_barrier_t ready;
	pthread_t threads[2];
	memset(loops, 0, sizeof(loops));
	pthread_barrier_init(&ready, NULL, 2);
	for (int i = 0; i < 2; i++) {
		loops[i].base = event_base_new();
		loops[i].q = q;
		loops[i].peer = &loops[1 - i];
		loops[i].ready = &ready;
		CHECK(loops[i].base != NULL);
	}
	for (int i = 0; i < 2; i++)
		CHECK_INT_EQ(pthread_create(&threads[i], NULL, loop_main, &loops[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);
	pthread_barrier_destroy(&ready);

	for (int i = 0; i < 2; i++) {
		CHECK_INT_EQ(loops[i].submitted, LOOP_JOBS);
		CHECK_INT_EQ(loops[i].completed, LOOP_JOBS);
		CHECK_INT_EQ(loops[i].wrong_thread, 0);
		CHECK_INT_EQ(loops[i].work_on_loop, 0);
	}
	struct job_stats st;
	job_queue_stats(q, &st);
	CHECK_INT_EQ(st.queued, 0);
	CHECK_INT_EQ(st.running, 0);
	CHECK_INT_EQ(st.done, 2 * LOOP_JOBS);
	CHECK_INT_EQ(st.rejected, loops[0].retries + loops[1].retries);
	CHECK_MSG(st.rejected > 0, "the capacity of 16 never refused two loops of %d jobs", LOOP_JOBS);

	/* The documented order: loops stopped, then the queue, then the
	 * bases. */
	job_queue_free(q);
	for (int i = 0; i < 2; i++)
		event_base_free(loops[i].base);
}

/* ------------------------------------------------------- gated jobs */

/* Work that reports its start and then waits for the gate to open. */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
	int inside, max_inside, started, finished, completed, complete_at;
	pthread_t threads[16];
	int nthreads;
	struct event_base *base;
	pthread_t loop_thread;
	int wrong_thread;
};

static void gate_init(struct gate *g, struct event_base *base)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	g->base = base;
	g->loop_thread = pthread_self();
}

static void gate_destroy(struct gate *g)
{
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->open = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static void gate_work(void *arg)
{
	struct gate *g = arg;
	pthread_mutex_lock(&g->lock);
	g->started++;
	g->inside++;
	if (g->inside > g->max_inside)
		g->max_inside = g->inside;
	bool seen = false;
	for (int i = 0; i < g->nthreads; i++)
		if (pthread_equal(g->threads[i], pthread_self()))
			seen = true;
	if (!seen && g->nthreads < 16)
		g->threads[g->nthreads++] = pthread_self();
	pthread_cond_broadcast(&g->cond);
	WAIT_UNTIL(&g->lock, &g->cond, g->open);
	g->inside--;
	g->finished++;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static void gate_done(void *arg)
{
	struct gate *g = arg;
	if (!pthread_equal(pthread_self(), g->loop_thread))
		g->wrong_thread++;
	g->completed++;
	if (g->completed == g->complete_at)
		event_base_loopbreak(g->base);
}

static void test_capacity(void)
{
	struct event_base *base = event_base_new();
	struct job_queue *q = job_queue_new("cap", 2, 4);
	CHECK(q != NULL && base != NULL);
	if (!q || !base)
		return;
	struct gate g;
	gate_init(&g, base);

	for (int i = 0; i < 4; i++)
		CHECK_INT_EQ(job_submit(q, base, gate_work, gate_done, &g), 0);
	/* Two running, two waiting: the fifth is refused at once. */
	pthread_mutex_lock(&g.lock);
	WAIT_UNTIL(&g.lock, &g.cond, g.started == 2);
	pthread_mutex_unlock(&g.lock);
	CHECK_INT_EQ(job_submit(q, base, gate_work, gate_done, &g), -1);
	CHECK_INT_EQ(job_submit(q, base, gate_work, gate_done, &g), -1);
	struct job_stats st;
	job_queue_stats(q, &st);
	CHECK_INT_EQ(st.running, 2);
	CHECK_INT_EQ(st.queued, 2);
	CHECK_INT_EQ(st.rejected, 2);
	CHECK_INT_EQ(st.done, 0);

	/* Arguments that can never work are refused too. */
	CHECK_INT_EQ(job_submit(q, NULL, gate_work, gate_done, &g), -1);
	CHECK_INT_EQ(job_submit(q, base, NULL, gate_done, &g), -1);
	CHECK_INT_EQ(job_submit(NULL, base, gate_work, gate_done, &g), -1);

	/* Finished work keeps its slot until the loop runs its done: with
	 * the loop not running, the queue is still full. */
	gate_open(&g);
	pthread_mutex_lock(&g.lock);
	WAIT_UNTIL(&g.lock, &g.cond, g.finished == 4);
	pthread_mutex_unlock(&g.lock);
	CHECK_INT_EQ(g.finished, 4);
	CHECK_INT_EQ(job_submit(q, base, gate_work, gate_done, &g), -1);
	CHECK_INT_EQ(g.completed, 0);

	/* The loop runs the four completions on this thread. */
	g.complete_at = 4;
	event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
	CHECK_INT_EQ(g.completed, 4);
	CHECK_INT_EQ(g.wrong_thread, 0);
	job_queue_stats(q, &st);
	CHECK_INT_EQ(st.running, 0);
	CHECK_INT_EQ(st.queued, 0);
	CHECK_INT_EQ(st.done, 4);
	CHECK_INT_EQ(st.rejected, 3);   /* misuse is refused, not counted */

	/* Slots are free again. */
	g.complete_at = 8;
	for (int i = 0; i < 4; i++)
		CHECK_INT_EQ(job_submit(q, base, gate_work, gate_done, &g), 0);
	event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
	CHECK_INT_EQ(g.completed, 8);

	job_queue_free(q);
	event_base_free(base);
	gate_destroy(&g);
}

static void test_concurrency(void)
{
	enum { THREADS = 4, JOBS = 12 };
	struct event_base *base = event_base_new();
	struct job_queue *q = job_queue_new("conc", THREADS, JOBS);
	CHECK(q != NULL && base != NULL);
	if (!q || !base)
		return;
	struct gate g;
	gate_init(&g, base);
	for (int i = 0; i < JOBS; i++)
		CHECK_INT_EQ(job_submit(q, base, gate_work, gate_done, &g), 0);
	/* All THREADS threads are inside work() at once, and no more. */
	pthread_mutex_lock(&g.lock);
	WAIT_UNTIL(&g.lock, &g.cond, g.inside == THREADS);
	CHECK_INT_EQ(g.inside, THREADS);
	pthread_mutex_unlock(&g.lock);
	usleep(20000);
	struct job_stats st;
	job_queue_stats(q, &st);
	CHECK_INT_EQ(st.running, THREADS);
	CHECK_INT_EQ(st.queued, JOBS - THREADS);
	gate_open(&g);
	g.complete_at = JOBS;
	event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
	CHECK_INT_EQ(g.completed, JOBS);
	CHECK_INT_EQ(g.max_inside, THREADS);
	CHECK_INT_EQ(g.nthreads, THREADS);
	for (int i = 0; i < g.nthreads; i++)
		CHECK(!pthread_equal(g.threads[i], pthread_self()));
	CHECK_INT_EQ(g.wrong_thread, 0);
	job_queue_free(q);
	event_base_free(base);
	gate_destroy(&g);
}

/* ------------------------------------------------------- shutdown */

static atomic_int works_ran;

struct owned {
	char *buffer;           /* freed by done: a leak if done never ran */
	pthread_t done_thread;
	int *dones;
};

static void owned_work(void *arg)
{
	struct owned *o = arg;
	memset(o->buffer, 'x', 64);
	usleep(500);
	atomic_fetch_add(&works_ran, 1);
}

static void owned_done(void *arg)
{
	struct owned *o = arg;
	(*o->dones)++;
	free(o->buffer);
	free(o);
}

/* The loop never runs (it stopped, as the order of shutdown requires):
 * job_queue_free still runs every queued work, then the completions on
 * this thread, so nothing leaks. */
static void test_free_after_load(void)
{
	enum { JOBS = 64 };
	struct event_base *base = event_base_new();
	struct job_queue *q = job_queue_new("free", 2, JOBS);
	CHECK(q != NULL && base != NULL);
	if (!q || !base)
		return;
	int dones = 0;
	atomic_store(&works_ran, 0);
	for (int i = 0; i < JOBS; i++) {
		struct owned *o = calloc(1, sizeof(*o));
		o->buffer = malloc(64);
		o->dones = &dones;
		CHECK_INT_EQ(job_submit(q, base, owned_work, owned_done, o), 0);
	}
	struct job_stats st;
	job_queue_stats(q, &st);
	CHECK(st.queued + st.running > 0);
	job_queue_free(q);
	CHECK_INT_EQ(atomic_load(&works_ran), JOBS);
	CHECK_INT_EQ(dones, JOBS);
	event_base_free(base);

	/* A queue that never had a job, and NULL. */
	q = job_queue_new("idle", 1, 1);
	CHECK(q != NULL);
	job_queue_free(q);
	job_queue_free(NULL);
}

static void test_bounds(void)
{
	CHECK(job_queue_new(NULL, 1, 1) == NULL);
	CHECK(job_queue_new("x", 0, 1) == NULL);
	CHECK(job_queue_new("x", JOB_THREADS_MAX + 1, 1) == NULL);
	CHECK(job_queue_new("x", 1, 0) == NULL);
	CHECK(job_queue_new("x", 1, JOB_CAPACITY_MAX + 1) == NULL);
}

int main(void)
{
	evthread_use_pthreads();
	RUN(test_bounds());
	RUN(test_capacity());
	RUN(test_concurrency());
	RUN(test_two_loops());
	RUN(test_free_after_load());
	return check_exit("test_jobs");
}
