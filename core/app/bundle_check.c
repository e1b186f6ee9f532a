/* The bundle queue (bundle_check.h). */
#include "bundle_check.h"

#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "bundle.h"
#include "config.h"
#include "jobs.h"

struct bundle_check {
	/* in: the archive (the caller's) and the tenant's slug */
	const void *data;
	size_t len;
	char slug[64];
	/* out, on a bundle thread: the bundle, or NULL with the 422
	 * answer's body in refusal (NULL too when memory ran out) */
	struct bundle *b;
	json_t *refusal;
	void (*done)(void *arg);
	void *arg;
};

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

int bundle_check_submit(struct bundle_check **cp, const void *data, size_t len, const char *slug,
			struct event_base *base, void (*done)(void *arg), void *arg)
{
	*cp = NULL;
	struct bundle_check *c = calloc(1, sizeof(*c));
	if (!c)
		return BUNDLE_CHECK_NOMEM;
	c->data = data;
	c->len = len;
	snprintf(c->slug, sizeof(c->slug), "%s", slug);
	c->done = done;
	c->arg = arg;
	if (!checkq || job_submit(checkq, base, check_work, check_done, c) != 0) {
		free(c);
		return BUNDLE_CHECK_FULL;
	}
	*cp = c;
	return 0;
}

int bundle_check_send(struct bundle_check *c, struct db_txn *txn, const struct api_route *route, int64_t tenant_id,
		      const struct api_principal *who, json_t *args, char *secret, json_t **refusal)
{
	*refusal = NULL;
	struct bundle *b = NULL;
	if (c) {
		b = c->b;
		c->b = NULL;
		if (!b) {
			*refusal = c->refusal;
			c->refusal = NULL;
			bundle_check_free(c);
			return BUNDLE_CHECK_REFUSED;
		}
		bundle_check_free(c);
	}
	/* api_prepare drops what a client sent under "_": the bundle's own
	 * keys go in after it. */
	if (api_prepare(route, route->method, who, args, secret) != 0 ||
	    (b && (json_object_set_new(args, "_checksum", json_string(b->checksum)) != 0 ||
		   json_object_set_new(args, "_total_bytes", json_integer((json_int_t)b->total_bytes)) != 0))) {
		bundle_unref(b);
		return BUNDLE_CHECK_NOMEM;
	}
	int rc = api_query_bundle(txn, route, tenant_id, who, args, b);
	bundle_unref(b);
	if (rc == API_TOO_LARGE)
		return API_TOO_LARGE;
	return rc == 0 ? 0 : BUNDLE_CHECK_UNSENT;
}

void bundle_check_free(struct bundle_check *c)
{
	if (!c)
		return;
	bundle_unref(c->b);
	json_decref(c->refusal);
	free(c);
}
