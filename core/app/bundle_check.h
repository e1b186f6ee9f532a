/* An uploaded bundle read and checked off the event loop: the archive is
 * inflated (bundle_archive.h) and checked as `aantafel check` does
 * (api_bundle_read) on the bundle queue's own threads ("bundle", config
 * bundle_threads and bundle_queue), and the request resumes on the loop
 * of the worker that took it. A worker never stalls on an upload: its
 * other requests are served while the check runs. Both ways in, POST
 * /api/v1/bundle (api_http.c) and a page's plugin.api.post("/bundle")
 * (runtime_api.c), go through the same pair: bundle_check_submit, then
 * bundle_check_send with its outcome. */
#ifndef AANTAFEL_BUNDLE_CHECK_H
#define AANTAFEL_BUNDLE_CHECK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct api_principal;
struct api_route;
struct bundle;
struct config;
struct db_txn;
struct event_base;

int bundle_check_init(const struct config *cfg, char *err, size_t errlen);
/* After the loops that submitted are gone (see job_queue_free). */
void bundle_check_fini(void);

/* What bundle_check_submit and bundle_check_send answer besides 0 (and
 * API_TOO_LARGE, api.h). */
#define BUNDLE_CHECK_NOMEM (-10)        /* out of memory: 503 */
#define BUNDLE_CHECK_FULL (-11)         /* the queue is full or stopping: 503 */
#define BUNDLE_CHECK_REFUSED (-12)      /* the archive is refused: 422 */
#define BUNDLE_CHECK_UNSENT (-13)       /* the pool refused the statement: 503 */

struct bundle_check;

/* Reads and checks the archive DATA of LEN bytes (the request's body,
 * which stays the caller's and must live until DONE runs) for tenant
 * SLUG on the queue, then calls DONE(ARG) on BASE's loop: 0 with *CP the
 * check, to give to bundle_check_send. BUNDLE_CHECK_NOMEM or
 * BUNDLE_CHECK_FULL: nothing started (DONE is not called, *CP NULL). */
int bundle_check_submit(struct bundle_check **cp, const void *data, size_t len, const char *slug,
			struct event_base *base, void (*done)(void *arg), void *arg);

/* The upload's statement (ROUTE, an API_BUNDLE route) on TXN with C's
 * bundle: api_prepare of ARGS (which stays the caller's; SECRET as
 * api_prepare takes it), the bundle's _checksum and _total_bytes, its
 * files (api_query_bundle). C NULL: a caller who may not upload, whose
 * call goes without files to the SQL, which refuses it. 0: queued, the
 * caller sends TXN. Else nothing queued: BUNDLE_CHECK_REFUSED with
 * *REFUSAL the 422 answer's body, {"error": {…, problems}} (the
 * caller's; NULL when out of memory), BUNDLE_CHECK_NOMEM (preparing the
 * arguments), API_TOO_LARGE or BUNDLE_CHECK_UNSENT. C is freed either
 * way (bundle_check_free). */
int bundle_check_send(struct bundle_check *c, struct db_txn *txn, const struct api_route *route, int64_t tenant_id,
		      const struct api_principal *who, json_t *args, char *secret, json_t **refusal);

/* A check not sent (the request ended first); NULL: nothing. Never while
 * it runs: a request waits for DONE. */
void bundle_check_free(struct bundle_check *c);

#endif
