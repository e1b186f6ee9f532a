/* Markdown to safe HTML (markdown.h). */
#include "markdown.h"

#include <cmark.h>
#include <stdlib.h>
#include <string.h>

/* Links people write are theirs, not the municipality's: search engines
 * give them no weight (nofollow, ugc) and the page opened gets no handle
 * on ours (noopener). cmark writes every link as `<a href="`, and text
 * never holds that (its `<` is escaped, raw HTML is left out). */
static char *mark_links(const char *html)
{
	static const char from[] = "<a href=\"", to[] = "<a rel=\"nofollow ugc noopener\" href=\"";
	size_t n = 0;
	for (const char *p = strstr(html, from); p; p = strstr(p + 1, from))
		n++;
	size_t len = strlen(html), grow = sizeof(to) - sizeof(from);
	char *out = malloc(len + n * grow + 1);
	if (!out)
		return NULL;
	char *o = out;
	const char *p = html, *q, *end = html + len;
	while ((q = strstr(p, from))) {
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		memcpy(o, to, sizeof(to) - 1);
		o += sizeof(to) - 1;
		p = q + sizeof(from) - 1;
	}
	memcpy(o, p, (size_t)(end - p) + 1);    /* the rest and its NUL */
	return out;
}

char *markdown_to_html(const char *text, size_t len)
{
	/* CMARK_OPT_DEFAULT leaves raw HTML and unsafe links out (without
	 * CMARK_OPT_UNSAFE). */
	char *html = cmark_markdown_to_html(text, len, CMARK_OPT_DEFAULT | CMARK_OPT_VALIDATE_UTF8);
	if (!html)
		return NULL;
	char *marked = mark_links(html);
	free(html);
	return marked;
}
