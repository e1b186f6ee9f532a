/* Escaping user and tenant text for HTML. */
#include "html.h"

#include <string.h>

void html_append_escaped(struct http_request *req, const char *text)
{
	const char *run = text;
	for (const char *p = text; *p; p++) {
		const char *rep;
		switch (*p) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: continue;
		}
		if (p > run)
			http_resp_body(req, run, (size_t)(p - run));
		http_resp_body(req, rep, strlen(rep));
		run = p + 1;
	}
	if (*run)
		http_resp_body(req, run, strlen(run));
}
