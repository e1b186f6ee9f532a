/* HTML escaping for the pages rendered in C (error pages are static; the
 * template engine has its own context-aware escaping). */
#ifndef AANTAFEL_HTML_H
#define AANTAFEL_HTML_H

#include "http.h"

/* Appends TEXT to the response body with & < > " ' escaped, so it is safe
 * in element content and in quoted attribute values. */
void html_append_escaped(struct http_request *req, const char *text);

#endif
