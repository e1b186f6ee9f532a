/* An uploaded bundle read and checked off the event loop: the archive is
 * inflated (bundle_archive.h) and checked as `aantafel check` does
 * (api_bundle_read) on the bundle queue's own threads ("bundle", config
 * bundle_threads and bundle_queue), and the request resumes on the loop
 * of the worker that took it. A worker never stalls on an upload: its
 * other requests are served while the check runs. */
#ifndef AANTAFEL_BUNDLE_CHECK_H
#define AANTAFEL_BUNDLE_CHECK_H

#include <jansson.h>
#include <stddef.h>

struct bundle;
struct config;
struct event_base;

int bundle_check_init(const struct config *cfg, char *err, size_t errlen);
/* After the loops that submitted are gone (see job_queue_free). */
void bundle_check_fini(void);

struct bundle_check {
	/* in: the archive (the request's body, which stays the caller's and
	 * must live until done runs) and the tenant's slug */
	const void *data;
	size_t len;
	char slug[64];
	/* out: the bundle, or NULL with the 422 answer's body in refusal
	 * (NULL too when memory ran out) */
	struct bundle *b;
	json_t *refusal;
	/* private */
	void (*done)(void *arg);
	void *arg;
};

/* Reads and checks C's archive on the queue, then calls done(arg) on
 * BASE's loop: 0. -1 when the queue is full or stopping (the caller
 * answers 503; done is not called). */
int bundle_check_start(struct bundle_check *c, struct event_base *base, void (*done)(void *arg), void *arg);

#endif
