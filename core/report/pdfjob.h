/* Reports as PDF on their own job queue ("pdf", config pdf_threads and
 * pdf_queue), never on an event loop, with a cache of the PDFs made: the
 * same document with the same look is the same PDF, so it is rendered
 * once and kept (by a SHA-256 of its inputs, which is also its ETag)
 * until newer ones push it out. A table that changes changes its
 * document, and so its key. */
#ifndef AANTAFEL_PDFJOB_H
#define AANTAFEL_PDFJOB_H

#include <stddef.h>

struct config;
struct event_base;

/* The PDFs kept: at most this many, of at most this many bytes in all. */
#define PDFJOB_CACHE_ENTRIES 64
#define PDFJOB_CACHE_BYTES (64u * 1024 * 1024)

int pdfjob_init(const struct config *cfg, char *err, size_t errlen);
/* After the loops that submitted are gone (see job_queue_free). */
void pdfjob_fini(void);

struct pdfjob {
	/* in: the document and the look as JSON text, the logo (PNG) or NULL */
	char *doc;
	char *style;
	unsigned char *logo;
	size_t logo_len;
	/* out */
	unsigned char *pdf;     /* malloc'd; NULL when it failed (err says why) */
	size_t len;
	char etag[36];          /* "\"" + 32 hex digits + "\"" */
	char err[200];
	/* private */
	char key[65];
	void (*done)(void *arg);
	void *arg;
};

/* Fills J's etag; when the cache has the PDF, J's pdf and len too, and
 * returns 1. Otherwise renders it on the queue and calls done(arg) on
 * BASE's loop afterwards (returns 0), or returns -1 when the queue is
 * full (503). J's inputs stay the caller's; free the pdf with
 * pdfjob_clear. */
int pdfjob_start(struct pdfjob *j, struct event_base *base, void (*done)(void *arg), void *arg);
void pdfjob_clear(struct pdfjob *j);

#endif
