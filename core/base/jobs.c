/* Bounded job queues on their own threads. A queue owns CAPACITY job slots,
 * allocated once: a job holds its slot from submission until its completion
 * starts, so neither the waiting jobs nor the completions that a busy loop
 * has not taken yet can grow without bound. Completions travel back through
 * one mailbox per (queue, loop): a list guarded by the queue's lock and one
 * event that the queue's threads activate when the list becomes non-empty,
 * so a loop wakes once for a batch and nothing polls. */
#include "jobs.h"

#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

enum job_state {
	JOB_FREE,               /* on the free list */
	JOB_QUEUED,             /* on the run queue, waiting for a thread */
	JOB_RUNNING,            /* work() in progress on a queue thread */
	JOB_COMPLETED,          /* in its mailbox, waiting for the loop */
};

struct job_mailbox;

struct job {
	enum job_state state;
	struct job *next;               /* free list, run queue or mailbox */
	struct job_mailbox *mailbox;
	void (*work)(void *arg);
	void (*done)(void *arg);
	void *arg;
};

/* Completions waiting for one loop. Lives until job_queue_free. */
struct job_mailbox {
	struct job_queue *q;
	struct event_base *base;
	struct event *wake;             /* activated when head goes from NULL to a job */
	struct job *head, *tail;
	struct job_mailbox *next;
};

struct job_queue {
	char name[32];
	pthread_mutex_t lock;           /* guards everything below */
	pthread_cond_t has_work;
	bool stopping;

	int capacity;
	struct job *slots;              /* CAPACITY of them */
	struct job *free;
	struct job *head, *tail;        /* run queue, oldest first */
	struct job_mailbox *mailboxes;

	int nthreads;
	pthread_t *threads;

	unsigned queued, running, completed, rejected;
	unsigned long long done;
};

static void job_set_state(struct job_queue *q, struct job *j, enum job_state to);
static struct job_mailbox *mailbox_get(struct job_queue *q, struct event_base *base);
static void mailbox_deliver(evutil_socket_t fd, short what, void *arg);
static void *job_thread(void *arg);
static void job_queue_stop(struct job_queue *q);

/* ---------------------------------------------------------------- public */

struct job_queue *job_queue_new(const char *name, int threads, int capacity)
{
	if (!name || threads < 1 || threads > JOB_THREADS_MAX || capacity < 1 || capacity > JOB_CAPACITY_MAX)
		return NULL;
	struct job_queue *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->capacity = capacity;
	q->nthreads = threads;
	q->slots = calloc((size_t)capacity, sizeof(*q->slots));
	q->threads = calloc((size_t)threads, sizeof(*q->threads));
	if (!q->slots || !q->threads || pthread_mutex_init(&q->lock, NULL) != 0) {
		free(q->slots);
		free(q->threads);
		free(q);
		return NULL;
	}
	if (pthread_cond_init(&q->has_work, NULL) != 0) {
		pthread_mutex_destroy(&q->lock);
		free(q->slots);
		free(q->threads);
		free(q);
		return NULL;
	}
	for (int i = capacity - 1; i >= 0; i--) {
		q->slots[i].state = JOB_FREE;
		q->slots[i].next = q->free;
		q->free = &q->slots[i];
	}

	/* The threads inherit a mask with every signal blocked: signals are
	 * the main loop's business, and a handler interrupting work() would
	 * gain nothing. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int started = 0;
	for (; started < threads; started++) {
		if (pthread_create(&q->threads[started], NULL, job_thread, q) != 0)
			break;
		/* Linux keeps 15 bytes of a thread's name. */
		char tname[48];
		snprintf(tname, sizeof(tname), "%.10s-%d", q->name, started);
		tname[15] = '\0';
		pthread_setname_np(q->threads[started], tname);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (started < threads) {
		log_error("job queue %s: could not start thread %d of %d", q->name, started + 1, threads);
		q->nthreads = started;
		job_queue_free(q);
		return NULL;
	}
	return q;
}

int job_submit(struct job_queue *q, struct event_base *base, void (*work)(void *arg), void (*done)(void *arg),
	       void *arg)
{
	if (!q || !base || !work || !done)
		return -1;
	pthread_mutex_lock(&q->lock);
	if (q->stopping || !q->free) {
		q->rejected++;
		pthread_mutex_unlock(&q->lock);
		return -1;
	}
	struct job_mailbox *mb = mailbox_get(q, base);
	if (!mb) {
		q->rejected++;
		pthread_mutex_unlock(&q->lock);
		return -1;
	}
	struct job *j = q->free;
	q->free = j->next;
	j->mailbox = mb;
	j->work = work;
	j->done = done;
	j->arg = arg;
	job_set_state(q, j, JOB_QUEUED);
	pthread_cond_signal(&q->has_work);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

void job_queue_free(struct job_queue *q)
{
	if (!q)
		return;
	job_queue_stop(q);

	/* The threads are gone and so (by the documented order) are the
	 * loops, so the lock is no longer needed. */
	unsigned long long late = 0;
	struct job_mailbox *mb = q->mailboxes;
	while (mb) {
		struct job_mailbox *next = mb->next;
		event_free(mb->wake);
		while (mb->head) {
			struct job *j = mb->head;
			mb->head = j->next;
			void (*done)(void *) = j->done;
			void *arg = j->arg;
			job_set_state(q, j, JOB_FREE);
			late++;
			done(arg);
		}
		free(mb);
		mb = next;
	}
	if (late)
		log_warn("job queue %s: %llu completion%s ran at shutdown, not on their loop", q->name, late,
			 late == 1 ? "" : "s");
	pthread_cond_destroy(&q->has_work);
	pthread_mutex_destroy(&q->lock);
	free(q->threads);
	free(q->slots);
	free(q);
}

void job_queue_stats(struct job_queue *q, struct job_stats *out)
{
	pthread_mutex_lock(&q->lock);
	out->queued = q->queued;
	out->running = q->running;
	out->rejected = q->rejected;
	out->done = q->done;
	pthread_mutex_unlock(&q->lock);
}

/* ---------------------------------------------------------------- jobs */

/* The one place a job changes state: it links the job into the free list,
 * the run queue or its mailbox as TO says (a running job is on no list; its
 * thread took it off the run queue) and keeps the counters true. The
 * caller has unlinked it from where it was. Called with q->lock held (or,
 * in job_queue_free, with no thread left). */
static void job_set_state(struct job_queue *q, struct job *j, enum job_state to)
{
	switch (j->state) {
	case JOB_FREE: break;
	case JOB_QUEUED: q->queued--; break;
	case JOB_RUNNING: q->running--; break;
	case JOB_COMPLETED: q->completed--; break;
	}
	j->state = to;
	j->next = NULL;
	switch (to) {
	case JOB_FREE:
		q->done++;
		j->mailbox = NULL;
		j->work = NULL;
		j->done = NULL;
		j->arg = NULL;
		j->next = q->free;
		q->free = j;
		break;
	case JOB_QUEUED:
		q->queued++;
		if (q->tail)
			q->tail->next = j;
		else
			q->head = j;
		q->tail = j;
		break;
	case JOB_RUNNING:
		q->running++;
		break;
	case JOB_COMPLETED: {
		struct job_mailbox *mb = j->mailbox;
		q->completed++;
		if (mb->tail)
			mb->tail->next = j;
		else
			mb->head = j;
		mb->tail = j;
		break;
	}
	}
}

/* The mailbox of BASE, created on its first job. Called with q->lock
 * held. A queue serves a handful of worker loops, so a list will do. */
static struct job_mailbox *mailbox_get(struct job_queue *q, struct event_base *base)
{
	for (struct job_mailbox *mb = q->mailboxes; mb; mb = mb->next)
		if (mb->base == base)
			return mb;
	struct job_mailbox *mb = calloc(1, sizeof(*mb));
	if (!mb)
		return NULL;
	mb->q = q;
	mb->base = base;
	mb->wake = event_new(base, -1, 0, mailbox_deliver, mb);
	if (!mb->wake) {
		free(mb);
		return NULL;
	}
	mb->next = q->mailboxes;
	q->mailboxes = mb;
	return mb;
}

/* Runs on the mailbox's loop: takes the batch that is there now (jobs that
 * complete meanwhile wake the loop again, so a stream of completions cannot
 * starve its other events) and runs each done with the job's slot already
 * free. */
static void mailbox_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct job_mailbox *mb = arg;
	struct job_queue *q = mb->q;
	pthread_mutex_lock(&q->lock);
	struct job *batch = mb->head;
	mb->head = mb->tail = NULL;
	pthread_mutex_unlock(&q->lock);
	while (batch) {
		struct job *j = batch;
		batch = j->next;
		void (*done)(void *) = j->done;
		void *job_arg = j->arg;
		pthread_mutex_lock(&q->lock);
		job_set_state(q, j, JOB_FREE);
		pthread_mutex_unlock(&q->lock);
		done(job_arg);
	}
}

/* ---------------------------------------------------------------- threads */

static void *job_thread(void *arg)
{
	struct job_queue *q = arg;
	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->head && !q->stopping)
			pthread_cond_wait(&q->has_work, &q->lock);
		struct job *j = q->head;
		if (!j)
			break;          /* stopping, and nothing left to run */
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
		job_set_state(q, j, JOB_RUNNING);
		pthread_mutex_unlock(&q->lock);

		j->work(j->arg);

		pthread_mutex_lock(&q->lock);
		struct job_mailbox *mb = j->mailbox;
		bool wake = mb->head == NULL;
		job_set_state(q, j, JOB_COMPLETED);
		pthread_mutex_unlock(&q->lock);
		/* Outside the lock: event_active takes the base's lock, and the
		 * loop takes q->lock in mailbox_deliver. The mailbox outlives
		 * this thread (job_queue_free joins first). */
		if (wake)
			event_active(mb->wake, EV_READ, 0);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* Refuses new jobs, wakes the threads, and joins them once they have run
 * every queued job. */
static void job_queue_stop(struct job_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_broadcast(&q->has_work);
	pthread_mutex_unlock(&q->lock);
	for (int i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	q->nthreads = 0;
}
