/* core.pdf(doc, style): a report document rendered as a PDF on the PDF
 * queue (core/report/pdfjob.h), for the platform's own plugins. The Lua
 * yields like a database call; the job's completion answers it on the
 * worker's loop. The logo is the bundle's static/logo.png, when it has
 * one. Answers (pdf, etag), or (nil, reason) when the document cannot be
 * rendered; a full queue fails the request with 503. */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bundle.h"
#include "ljson.h"
#include "pdf.h"
#include "pdfjob.h"
#include "runtime_internal.h"

#define LOGO_PATH "static/logo.png"

int core_pdf(lua_State *L)
{
	if (!lua_isyieldable(L))
		return plugin_error(L, "pdf.report works while serving a request only");
	if (lua_type(L, 1) != LUA_TTABLE || lua_type(L, 2) != LUA_TTABLE)
		return plugin_error(L, "pdf.report needs the document and its style, both tables");
	char why[200];
	char *text[2] = {NULL, NULL};
	for (int i = 0; i < 2; i++) {
		json_t *j = ljson_from_lua(L, i + 1, 0, why, sizeof(why));
		text[i] = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL; /* one text for one document: its key */
		json_decref(j);
		if (!text[i]) {
			free(text[0]);
			free(text[1]);
			return plugin_error(L, "pdf.report: %s", j ? "cannot encode" : why);
		}
	}
	if (strlen(text[0]) > PDF_MODEL_MAX) {
		free(text[0]);
		free(text[1]);
		lua_pushnil(L);
		lua_pushliteral(L, "too_large");
		return 2;
	}
	lua_settop(L, 0);
	lsb_push_core_tag(L);
	lua_pushliteral(L, "pdf");
	lua_pushnil(L);         /* the plugin slot of a core call */
	lua_pushstring(L, text[0]);
	lua_pushstring(L, text[1]);
	free(text[0]);
	free(text[1]);
	return lua_yield(L, 5);
}

/* The render's time is the PDF queue's, not the Lua's: it is a wait, like
 * the database's (rq_answered). What bounds a render is the document's
 * size (PDF_MODEL_MAX, PDF_PAGES_MAX) and the queue's. */
static void pdf_done(void *arg)
{
	struct rt_req *rq = arg;
	rq_answered(rq->txn, DB_OK, rq);
}

/* params: tenant, plugin (NULL), doc, style. */
static bool pdf_ready(struct rt_req *rq)
{
	struct pdfjob *j = calloc(1, sizeof(*j));
	if (!j || rq->nparams < 4 || !rq->params[2] || !rq->params[3]) {
		free(j);
		rq_fail(rq, 500, "pdf.report: a call without its document");
		return true;
	}
	/* The job owns its inputs: the params are cleared when it is answered. */
	j->doc = rq->params[2];
	j->style = rq->params[3];
	rq->params[2] = rq->params[3] = NULL;
	const struct bundle_file *logo = rq->ts && rq->ts->bundle ? bundle_find(rq->ts->bundle, LOGO_PATH) : NULL;
	if (logo && logo->len > 0) {
		j->logo = malloc(logo->len);
		if (j->logo) {
			memcpy(j->logo, logo->data, logo->len);
			j->logo_len = logo->len;
		}
	}
	rq->op_state = j;
	int rc = pdfjob_start(j, rq_event_base(rq), pdf_done, rq);
	if (rc < 0) {
		rq_fail(rq, 503, "the PDF queue is full");
		return true;
	}
	if (rc > 0)
		rq_answer_soon(rq);
	return true;
}

static int pdf_push(lua_State *L, struct rt_req *rq, json_t **slot)
{
	(void)slot;
	struct pdfjob *j = rq->op_state;
	if (!j || !j->pdf) {
		lua_pushnil(L);
		lua_pushstring(L, j && j->err[0] ? j->err : "the PDF could not be made");
		return 2;
	}
	lua_pushlstring(L, (const char *)j->pdf, j->len);
	lua_pushstring(L, j->etag);
	return 2;
}

static void pdf_free(struct rt_req *rq)
{
	struct pdfjob *j = rq->op_state;
	if (!j)
		return;
	pdfjob_clear(j);
	free(j->doc);
	free(j->style);
	free(j->logo);
	free(j);
	rq->op_state = NULL;
}

/* The PDF is made of the document alone, which the plugin built of what
 * the data generation follows: a guest's page with it may be kept. */
const struct core_op rt_op_pdf = {.name = "pdf", .guest_data = true, .ready = pdf_ready, .push = pdf_push,
				  .free = pdf_free};
