/* Fuzzes the PDF's Markdown reader (core/report/pdf.c): for any text, the
 * blocks it makes carry pango markup that pango accepts as it is (the
 * renderer's fallback to plain text is never needed), and a line's
 * inline markup too, with and without soft hyphens.
 *
 * Input: the text, cut at its first NUL. */
#include <pango/pango.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fz.h"
#include "pdf.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_markup(const char *m)
{
	FZ_ASSERT(m != NULL);
	FZ_ASSERT(pango_parse_markup(m, -1, 0, NULL, NULL, NULL, NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	/* Pango reads UTF-8 only: the document's texts are (JSON). */
	if (!g_utf8_validate(text, -1, NULL)) {
		free(text);
		return 0;
	}
	for (int hyph = 0; hyph < 2; hyph++) {
		char *m = inline_markup(text, hyph ? "nl" : "en", hyph);
		check_markup(m);
		free(m);
	}
	struct blocks bs = {0};
	add_markdown(&bs, text, "nl", 0, false);
	FZ_ASSERT(!bs.oom);
	for (size_t i = 0; i < bs.n; i++) {
		check_markup(bs.v[i].markup);
		free(bs.v[i].markup);
	}
	free(bs.v);
	free(text);
	return 0;
}
