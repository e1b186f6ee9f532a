/* Guests' shared pages (the answers a handler marks shared = true). */
#include "runtime_internal.h"

#include <event2/event.h>
#include <jansson.h>
#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apicache.h"
#include "datagen.h"
#include "http.h"
#include "log.h"

/* A page whose answer says shared = true is the same for every guest
 * (nobody signed in) who asks for it: it is made from the tenant's
 * bundle, the API's reads, and the request's path, query, language,
 * scheme and host only. Each worker keeps such pages in its cache of
 * guests' reads (apicache.h), under all of those and the tenant's bundle
 * version and name, valid while the tenant's data generation is the one
 * the page was made under. The one thing in a guest's page that is
 * theirs, the CSRF token of a form, is marked by a stand-in token the
 * daemon draws for the request and gives the Lua as req.csrf: the
 * guest's own token is theirs to choose (any 43 such characters pass),
 * and text on the page holding the same characters would otherwise be
 * taken for a form's token and replaced by every later guest's. What is
 * sent now, and each time the page is given from the cache, gets the
 * guest's token in the stand-in's places. An entry is "TYPE\nSTAND-IN\nBODY"
 * (the stand-in is never sent). */

/* Writes TO over each FROM in S (both TOKEN_CHARS long). */
void put_token(char *s, size_t len, const char *from, const char *to)
{
	char *end = s + len;
	for (char *f = memmem(s, len, from, TOKEN_CHARS); f;
	     f = memmem(f + TOKEN_CHARS, (size_t)(end - f) - TOKEN_CHARS, from, TOKEN_CHARS))
		memcpy(f, to, TOKEN_CHARS);
}

/* Sends BODY with TO for each FROM, in pieces, without a copy. */
void body_with_token(struct http_request *req, const char *body, size_t len, const char *from,
			    const char *to)
{
	const char *p = body, *end = body + len, *f;
	while ((f = memmem(p, (size_t)(end - p), from, TOKEN_CHARS))) {
		http_resp_body(req, p, (size_t)(f - p));
		http_resp_body(req, to, TOKEN_CHARS);
		p = f + TOKEN_CHARS;
	}
	http_resp_body(req, p, (size_t)(end - p));
}

static char *page_key(const struct rt_req *rq)
{
	struct http_request *req = rq->req;
	size_t plen;
	const char *path = http_req_path(req, &plen);
	const char *query = http_req_query(req);
	const char *host = http_req_header(req, "Host");    /* with its port, as plugin.url uses it */
	if (!query)
		query = "";
	if (!host)
		host = "";
	/* Lengths before the strings a request chooses, so that no two
	 * requests share a key by moving a separator. */
#define PAGE_KEY_FMT "page %lld %d %s %s %zu:%s %zu:%s %zu:%.*s %zu:%s"
	int n = snprintf(NULL, 0, PAGE_KEY_FMT, (long long)rq->tenant_id, rq->version, rq->secure ? "https" : "http",
			 http_req_lang(req), strlen(rq->name), rq->name, strlen(host), host, plen, (int)plen, path,
			 strlen(query), query);
	char *key = n > 0 ? malloc((size_t)n + 1) : NULL;
	if (key)
		snprintf(key, (size_t)n + 1, PAGE_KEY_FMT, (long long)rq->tenant_id, rq->version, rq->secure ? "https" : "http",
			 http_req_lang(req), strlen(rq->name), rq->name, strlen(host), host, plen, (int)plen, path,
			 strlen(query), query);
	return key;
}

/* A guest's GET: answered from the cache (true), or marked to be kept
 * when its answer is shared. */
bool page_from_cache(struct rt_req *rq)
{
	struct http_request *req = rq->req;
	if (rq->api_done || rq->preview || rq->ts->guarded || !rq_cache(rq) || strcmp(http_req_method_name(req), "GET") != 0)
		return false;
	char *key = page_key(rq);
	if (!key)
		return false;
	uint64_t gen = datagen_get(rq->tenant_id);
	size_t len;
	const char *hit = apicache_get(rq_cache(rq), key, gen, &len);
	if (!hit) {
		if (token_new(rq->page_csrf) != 0) {
			free(key);
			return false;
		}
		rq->page_key = key;
		rq->page_gen = gen;
		return false;
	}
	free(key);
	/* TYPE \n STAND-IN \n BODY */
	const char *nl = memchr(hit, '\n', len);
	char type[128];
	if (!nl || (size_t)(nl - hit) >= sizeof(type) || len - (size_t)(nl + 1 - hit) < TOKEN_CHARS + 1 ||
	    nl[1 + TOKEN_CHARS] != '\n')
		return false;
	memcpy(type, hit, (size_t)(nl - hit));
	type[nl - hit] = '\0';
	const char *standin = nl + 1, *body = standin + TOKEN_CHARS + 1;
	http_resp_status(req, 200);
	add_common_headers(req);
	add_cookies(rq);
	http_resp_header(req, "Cache-Control", "no-cache");
	http_resp_header(req, "Content-Type", type);
	body_with_token(req, body, (size_t)(hit + len - body), standin, rq->csrf);
	http_resp_send(req);
	rq_free(rq);
	return true;
}

/* Keeps the answer A when it is a shared page that a guest may be given
 * as it is: 200 with a body, no cookie or header of its own, nothing
 * written. */
void page_keep(struct rt_req *rq, const struct answer *a)
{
	if (!a->shared || a->status != 200 || !a->body || a->location[0] || a->nheaders || a->set_lang ||
	    rq->page_unshared || rq->wrote || rq->has_user || rq->preview || rq->set_session[0] || rq->clear_session)
		return;
	size_t cap = strlen(a->type) + TOKEN_CHARS + 3 + a->len;     /* and snprintf's NUL */
	char *text = malloc(cap);
	if (!text)
		return;
	size_t len = (size_t)snprintf(text, cap, "%s\n%s\n", a->type, rq->page_csrf);
	memcpy(text + len, a->body, a->len);
	len += a->len;
	apicache_put(rq_cache(rq), rq->page_key, rq->page_gen, text, len);
	free(text);
}
