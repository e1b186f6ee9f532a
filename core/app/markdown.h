/* Markdown as the platform shows it: cmark's HTML of a text, with raw HTML
 * and unsafe links (javascript:, vbscript:, file:, data: other than
 * images) left out, and every link marked as the writer's, not the
 * municipality's (rel="nofollow ugc noopener"). One renderer for the
 * fields the API stores (their *_html) and for plugin.markdown. */
#ifndef AANTAFEL_MARKDOWN_H
#define AANTAFEL_MARKDOWN_H

#include <stddef.h>

/* TEXT (LEN bytes, UTF-8; invalid bytes become U+FFFD) as HTML: a
 * malloc'd string, or NULL when memory runs out. */
char *markdown_to_html(const char *text, size_t len);

#endif
