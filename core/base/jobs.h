/* Bounded job queues: work that must not run on an event loop (password
 * hashing, PDF rendering, mail delivery) runs on a queue's own threads, and
 * its completion comes back to the loop of the thread that submitted it.
 * Each kind of work has its own queue, so slow PDFs never delay a sign-in. */
#ifndef AANTAFEL_JOBS_H
#define AANTAFEL_JOBS_H

struct event_base;
struct job_queue;

/* Bounds of job_queue_new's arguments. */
#define JOB_THREADS_MAX 256
#define JOB_CAPACITY_MAX 1000000

/* Starts THREADS threads (named "NAME-i") serving a queue that holds at most
 * CAPACITY jobs. libevent must already use pthreads (evthread_use_pthreads)
 * before the bases that submit are created. NULL when an argument is out of
 * bounds or memory or threads run out. */
struct job_queue *job_queue_new(const char *name, int threads, int capacity);

/* Runs work(arg) on one of the queue's threads, then done(arg) on the event
 * loop BASE of the caller (a worker thread's loop), never on the queue's
 * thread. Jobs start in the order they were submitted.
 *
 * Returns -1 at once, without running anything, when CAPACITY jobs are
 * already waiting, running or waiting for their completion to run (the
 * caller answers 503), when the queue is stopping, or when memory runs out;
 * 0 when the job was taken. A taken job's done runs exactly once. A job's
 * slot is free again when its done starts, so done may submit again. */
int job_submit(struct job_queue *q, struct event_base *base, void (*work)(void *arg), void (*done)(void *arg),
	       void *arg);

/* Stops taking jobs, lets the threads finish those queued, joins them and
 * frees the queue. Completions whose loop did not run them run here, on the
 * calling thread, so no job's arg is lost. The order of shutdown this needs:
 *   1. stop every loop that submitted to Q and join its thread (a worker
 *      drains first, so normally no completion is left);
 *   2. job_queue_free(Q): nothing may submit to Q any more;
 *   3. only then event_base_free those loops' bases: Q keeps one event on
 *      each base it delivered to, freed here.
 * Calling it while a submitting loop still runs is a data race. NULL is a
 * no-op. */
void job_queue_free(struct job_queue *q);

struct job_stats {
	unsigned queued;                /* waiting for a thread */
	unsigned running;               /* work() in progress */
	unsigned rejected;              /* job_submit calls refused */
	unsigned long long done;        /* completions that have started */
};

/* A consistent snapshot of Q's counters. */
void job_queue_stats(struct job_queue *q, struct job_stats *out);

#endif
