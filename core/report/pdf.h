/* The report as a PDF: renders a report document (aantafel.report/1, see
 * docs/plugins.md) as an A4 PDF with cairo's PDF surface and pango's text
 * layout. It knows nothing of Lua, requests or the database: it takes the
 * document and the look as JSON, and gives bytes, so that the job queue
 * can run it on its threads and the unit tests can feed it anything.
 *
 * The look (STYLE) is an object:
 *   name      the municipality's name (cover, running header)
 *   lang      "nl" (default) or "en": hyphenation and quotes follow it
 *   primary   "#rrggbb" or "#rgb": headings, the cover's band, rules
 *   text      "#rrggbb": the body text (default near black)
 *   labels    the section titles and words the PDF prints, by key
 *             (contents, summary, question, players, ...); a missing
 *             label prints its key
 * and LOGO, when not NULL, is a PNG (LOGO_LEN bytes) shown on the cover.
 *
 * The document's `sections` name its parts in order: a built-in's name
 * ("summary", "decisions", ...), a plugin's own {title, body}, or a
 * built-in laid out by a report.layout hook, {id, title, blocks}: blocks
 * of plain text (heading, paragraph, quote, list, table of at most
 * ROW_CELLS_MAX columns), each drawn as the default layout's are.
 *
 * Markdown fields ({markdown = "..."}) are rendered in a safe subset:
 * paragraphs, headings (#, ##, ###) as subheadings, bulleted and numbered
 * lists, **strong**, *emphasis*, _emphasis_ and `code`, and [links](url)
 * as their text with the address after it, "text (https://…)"; raw HTML
 * tags are left out (as the page leaves them out). Addresses and code are
 * printed as written. Everything else is text, escaped: no markup of the
 * document reaches pango as markup. */
#ifndef AANTAFEL_PDF_H
#define AANTAFEL_PDF_H

#include <stddef.h>

#include <jansson.h>

/* Bounds of what one render takes: a larger document is refused. */
#define PDF_MODEL_MAX (4 * 1024 * 1024)
#define PDF_PAGES_MAX 2000

/* Renders DOC with STYLE into a malloc'd PDF (*OUT, *OUTLEN; the caller
 * frees it). Returns 0, or -1 with the reason in ERR. Thread-safe: each
 * call has its own cairo surface and pango context. */
int pdf_render_report(const json_t *doc, const json_t *style, const unsigned char *logo, size_t logo_len,
		      unsigned char **out, size_t *outlen, char *err, size_t errlen);

/* Frees the fonts' caches, at exit, once no render runs any more and the
 * threads that rendered were joined (each thread's font map goes with it):
 * so that a leak checker sees only real leaks. */
void pdf_fini(void);

/* Dutch typography for a plain text: straight quotes become curly ones,
 * a hyphen between spaces or digits an en dash, "--" an en dash, and the
 * space between a number and a unit (%, €, km, uur, ...) a non-breaking
 * one. Returns a malloc'd string, NULL when memory runs out. */
char *pdf_typography(const char *text, const char *lang);

#endif
