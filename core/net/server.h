/* The serving process: binds the listeners, runs the workers, and turns
 * signals into actions (SIGTERM/SIGINT: drain and exit 0; SIGHUP: reload
 * the configuration, or refuse an invalid one and keep serving). */
#ifndef AANTAFEL_SERVER_H
#define AANTAFEL_SERVER_H

#include "config.h"
#include "http.h"

struct event_base;

/* Work of the main thread besides signals (the registry listener): START
 * runs once the workers serve, STOP when shutdown begins, RELOAD after a
 * configuration reload. */
struct server_hooks {
	int (*start)(struct event_base *main_base, const struct config *cfg);
	void (*stop)(void);
	void (*reload)(const struct config *cfg);
};

/* Runs until a stop signal; returns the process exit code. CFG is the
 * configuration already loaded (and set current) by the caller. */
int server_run(struct config *cfg, http_handler_fn handler, const struct server_hooks *hooks);

/* Sends MSG (WORKER_MSG_*) to every worker of the running server. Main
 * thread only. */
void server_broadcast(unsigned msg);
/* Sends MSG to the first worker only (work that one worker does); from
 * the main thread, or a thread the server's start hook starts and its
 * stop hook joins (the scheduler). */
void server_send_first(unsigned msg);


#endif
