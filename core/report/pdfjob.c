/* The PDF queue and its cache (pdfjob.h). */
#include "pdfjob.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "jobs.h"
#include "pdf.h"

static struct job_queue *pdfq;

struct entry {
	char key[65];
	unsigned char *pdf;
	size_t len;
	struct entry *prev, *next;      /* most recently used first */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *head, *tail;
static size_t nentries, nbytes;

int pdfjob_init(const struct config *cfg, char *err, size_t errlen)
{
	pdfq = job_queue_new("pdf", (int)cfg->pdf_threads, (int)cfg->pdf_queue);
	if (!pdfq) {
		snprintf(err, errlen, "cannot start the PDF threads");
		return -1;
	}
	return 0;
}

static void unlink_entry(struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		tail = e->prev;
	e->prev = e->next = NULL;
}

void pdfjob_fini(void)
{
	if (pdfq)
		job_queue_free(pdfq);
	pdfq = NULL;
	pthread_mutex_lock(&cache_lock);
	while (head) {
		struct entry *e = head;
		unlink_entry(e);
		free(e->pdf);
		free(e);
	}
	nentries = nbytes = 0;
	pthread_mutex_unlock(&cache_lock);
	pdf_fini();
}

/* The inputs' SHA-256, each part with its length first so that no two
 * different inputs run together the same. */
static int make_key(struct pdfjob *j)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[32];
	unsigned mdlen = 0;
	const void *parts[3] = {j->doc, j->style, j->logo};
	size_t lens[3] = {strlen(j->doc), strlen(j->style), j->logo ? j->logo_len : 0};
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
	for (int i = 0; ok && i < 3; i++) {
		unsigned long long n = lens[i];
		ok = EVP_DigestUpdate(ctx, &n, sizeof(n)) == 1 && (n == 0 || EVP_DigestUpdate(ctx, parts[i], lens[i]) == 1);
	}
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	for (int i = 0; i < 32; i++)
		snprintf(j->key + 2 * i, 3, "%02x", md[i]);
	snprintf(j->etag, sizeof(j->etag), "\"%.32s\"", j->key);
	return 0;
}

static bool cache_get(struct pdfjob *j)
{
	bool hit = false;
	pthread_mutex_lock(&cache_lock);
	for (struct entry *e = head; e; e = e->next) {
		if (strcmp(e->key, j->key) != 0)
			continue;
		j->pdf = malloc(e->len);
		if (j->pdf) {
			memcpy(j->pdf, e->pdf, e->len);
			j->len = e->len;
			hit = true;
			unlink_entry(e);
			e->next = head;
			if (head)
				head->prev = e;
			head = e;
			if (!tail)
				tail = e;
		}
		break;
	}
	pthread_mutex_unlock(&cache_lock);
	return hit;
}

static void cache_put(const struct pdfjob *j)
{
	if (j->len > PDFJOB_CACHE_BYTES / 4)
		return;
	struct entry *e = calloc(1, sizeof(*e));
	unsigned char *copy = malloc(j->len);
	if (!e || !copy) {
		free(e);
		free(copy);
		return;
	}
	memcpy(copy, j->pdf, j->len);
	snprintf(e->key, sizeof(e->key), "%s", j->key);
	e->pdf = copy;
	e->len = j->len;
	pthread_mutex_lock(&cache_lock);
	for (struct entry *o = head; o; o = o->next)
		if (strcmp(o->key, e->key) == 0) {
			/* Rendered twice at once: keep the first. */
			pthread_mutex_unlock(&cache_lock);
			free(e->pdf);
			free(e);
			return;
		}
	e->next = head;
	if (head)
		head->prev = e;
	head = e;
	if (!tail)
		tail = e;
	nentries++;
	nbytes += e->len;
	while (tail && tail != head && (nentries > PDFJOB_CACHE_ENTRIES || nbytes > PDFJOB_CACHE_BYTES)) {
		struct entry *old = tail;
		unlink_entry(old);
		nentries--;
		nbytes -= old->len;
		free(old->pdf);
		free(old);
	}
	pthread_mutex_unlock(&cache_lock);
}

/* On a PDF thread: only the job's own fields. */
static void job_work(void *arg)
{
	struct pdfjob *j = arg;
	json_error_t jerr;
	json_t *doc = json_loads(j->doc, 0, &jerr);
	json_t *style = json_loads(j->style, 0, &jerr);
	if (!doc || !style)
		snprintf(j->err, sizeof(j->err), "the document is not JSON");
	else if (pdf_render_report(doc, style, j->logo, j->logo_len, &j->pdf, &j->len, j->err, sizeof(j->err)) == 0)
		cache_put(j);
	json_decref(doc);
	json_decref(style);
}

static void job_done(void *arg)
{
	struct pdfjob *j = arg;
	j->done(j->arg);
}

int pdfjob_start(struct pdfjob *j, struct event_base *base, void (*done)(void *arg), void *arg)
{
	j->pdf = NULL;
	j->len = 0;
	j->err[0] = '\0';
	j->done = done;
	j->arg = arg;
	if (strlen(j->doc) > PDF_MODEL_MAX) {
		snprintf(j->err, sizeof(j->err), "the document is larger than %d bytes", PDF_MODEL_MAX);
		return 1;
	}
	if (make_key(j) != 0) {
		snprintf(j->err, sizeof(j->err), "the document could not be hashed");
		return 1;
	}
	if (cache_get(j))
		return 1;
	if (!pdfq || job_submit(pdfq, base, job_work, job_done, j) != 0)
		return -1;
	return 0;
}

void pdfjob_clear(struct pdfjob *j)
{
	free(j->pdf);
	j->pdf = NULL;
	j->len = 0;
}
