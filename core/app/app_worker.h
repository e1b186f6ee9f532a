/* What each worker holds besides its connections, made by app.c when the
 * worker starts and handed down with each request: the handlers below
 * (dispatch, the API, the runtime) are given it and never reach up for
 * it. */
#ifndef AANTAFEL_APP_WORKER_H
#define AANTAFEL_APP_WORKER_H

struct db_pool;
struct registry;
struct rt_worker;
struct apicache;

struct app_worker {
	struct db_pool *pool;           /* NULL when no database is configured */
	struct registry *registry;      /* NULL until the first load */
	struct rt_worker *rt;           /* the tenants' Lua states */
	struct apicache *cache;         /* guests' API reads, shared by the API and the pages */
};

#endif
