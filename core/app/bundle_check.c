/* The bundle queue (bundle_check.h). */
#include "bundle_check.h"

#include <stdio.h>

#include "api.h"
#include "config.h"
#include "jobs.h"

static struct job_queue *checkq;

int bundle_check_init(const struct config *cfg, char *err, size_t errlen)
{
	checkq = job_queue_new("bundle", (int)cfg->bundle_threads, (int)cfg->bundle_queue);
	if (!checkq) {
		snprintf(err, errlen, "cannot start the bundle check threads");
		return -1;
	}
	return 0;
}

void bundle_check_fini(void)
{
	if (checkq)
		job_queue_free(checkq);
	checkq = NULL;
}

/* On a bundle thread: only the job's own fields, the shared platform
 * bundle (immutable) and a Lua state of the check's own. */
static void check_work(void *arg)
{
	struct bundle_check *c = arg;
	c->b = api_bundle_read(c->data, c->len, c->slug, &c->refusal);
}

static void check_done(void *arg)
{
	struct bundle_check *c = arg;
	c->done(c->arg);
}

int bundle_check_start(struct bundle_check *c, struct event_base *base, void (*done)(void *arg), void *arg)
{
	c->b = NULL;
	c->refusal = NULL;
	c->done = done;
	c->arg = arg;
	if (!checkq || job_submit(checkq, base, check_work, check_done, c) != 0)
		return -1;
	return 0;
}
