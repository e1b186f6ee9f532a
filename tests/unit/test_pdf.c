/* The report's PDF renderer with hostile documents: a 10,000-character
 * contribution, a 300-character word, right-to-left names, emoji, an
 * empty document, Markdown that tries to be pango markup. Each PDF is
 * checked with poppler's pdfinfo (A4, pages) and pdftotext (the words
 * are there, nothing runs off the page: every page's text stays inside
 * the page's box). Plus the typography: quotes, dashes, non-breaking
 * spaces before units. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "pdf.c"

static char dir[] = "/tmp/aantafel-pdf-XXXXXX";

static json_t *style(void)
{
	return json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}}", "name", "Gemeente Zutphen", "lang",
			 "nl", "primary", "#8a1538", "labels", "contents", "Inhoud", "players", "Spelers", "minority",
			 "Wijsheid van de minderheid", "summary", "Samenvatting", "question", "De centrale vraag",
			 "advice", "Advies", "outcomes", "Opbrengst", "seldom_heard_one", "zelden gehoord");
}

/* Renders DOC into DIR/NAME.pdf; the PDF's text (pdftotext), malloc'd,
 * and its pages; NULL when rendering failed. */
static char *render(const char *name, json_t *doc, int *pages, char *info, size_t infolen)
{
	*pages = 0;
	info[0] = '\0';
	json_t *st = style();
	unsigned char *pdf;
	size_t len;
	char err[200];
	int rc = pdf_render_report(doc, st, NULL, 0, &pdf, &len, err, sizeof(err));
	json_decref(st);
	json_decref(doc);
	CHECK_MSG(rc == 0, "%s: %s", name, err);
	if (rc != 0)
		return NULL;
	char path[256], cmd[600];
	snprintf(path, sizeof(path), "%s/%s.pdf", dir, name);
	FILE *f = fopen(path, "wb");
	CHECK_MSG(f != NULL, "%s: cannot write %s", name, path);
	if (!f) {
		free(pdf);
		return NULL;
	}
	CHECK_MSG(fwrite(pdf, 1, len, f) == len && fclose(f) == 0, "%s: cannot write %s", name, path);
	free(pdf);
	snprintf(cmd, sizeof(cmd), "pdfinfo %s", path);
	FILE *p = popen(cmd, "r");
	CHECK_MSG(p != NULL, "%s: cannot run pdfinfo", name);
	if (!p)
		return NULL;
	size_t n = fread(info, 1, infolen - 1, p);
	info[n] = '\0';
	CHECK_MSG(pclose(p) == 0, "%s: pdfinfo refused it", name);
	const char *pg = strstr(info, "Pages:");
	char *end = NULL;
	long npages = pg ? strtol(pg + 6, &end, 10) : 0;
	*pages = (pg && end != pg + 6 && npages > 0 && npages < 100000) ? (int)npages : 0;
	CHECK_MSG(*pages > 0, "%s: pdfinfo gives no page count: %s", name, info);
	CHECK_MSG(strstr(info, "595.276 x 841.89 pts (A4)") != NULL, "%s: not A4: %s", name, info);
	/* -bbox: every word with its box; the boxes must lie within the page. */
	snprintf(cmd, sizeof(cmd), "pdftotext -bbox %s -", path);
	p = popen(cmd, "r");
	CHECK_MSG(p != NULL, "%s: cannot run pdftotext", name);
	if (!p)
		return NULL;
	char line[4096];
	int outside = 0, words = 0;
	while (fgets(line, sizeof(line), p)) {
		double x0, y0, x1, y1;
		const char *w = strstr(line, "<word xMin=");
		if (w && sscanf(w, "<word xMin=\"%lf\" yMin=\"%lf\" xMax=\"%lf\" yMax=\"%lf\"", &x0, &y0, &x1, &y1) == 4) {
			words++;
			if (x0 < 30 || x1 > 595.276 - 30 || y0 < 20 || y1 > 841.89 - 20)
				outside++;
		}
	}
	CHECK_MSG(pclose(p) == 0, "%s: pdftotext -bbox refused it", name);
	/* Even an empty report has its cover: no words means no check. */
	CHECK_MSG(words > 0, "%s: pdftotext -bbox found no words", name);
	CHECK_MSG(outside == 0, "%s: %d words outside the page's margins", name, outside);
	snprintf(cmd, sizeof(cmd), "pdftotext -layout %s -", path);
	p = popen(cmd, "r");
	CHECK_MSG(p != NULL, "%s: cannot run pdftotext", name);
	if (!p)
		return NULL;
	size_t cap = 1 << 20, got = 0;
	char *text = malloc(cap);
	while (text && (n = fread(text + got, 1, cap - got - 1, p)) > 0) {
		got += n;
		if (got + 1 == cap) {
			char *more = realloc(text, cap * 2);
			if (!more) {
				free(text);
				text = NULL;
				break;
			}
			text = more;
			cap *= 2;
		}
	}
	CHECK_MSG(pclose(p) == 0 && text != NULL, "%s: pdftotext -layout failed", name);
	if (text)
		text[got] = '\0';
	return text;
}

static void test_full_report(void)
{
	json_t *doc = json_pack(
		"{s:s, s:{s:s, s:s}, s:s, s:{s:s}, s:{s:s, s:[s]}, s:[{s:s, s:s, s:b, s:b, s:b}, {s:s, s:b, s:b, s:b}],"
		" s:[{s:s, s:i}], s:[{s:s, s:{s:s}}], s:[{s:{s:s}, s:{s:s}}], s:[{s:s, s:{s:s}}]}",
		"format", "aantafel.report/1", "table", "title", "Het Houtwal-plein", "question",
		"Wat is ervoor nodig zodat het plein van iedereen is?", "published_on", "2026-06-01", "summary",
		"markdown",
		"We spraken met **twaalf** mensen.\n\n- een bankje\n- meer groen\n\nDe verantwoordelijkheidsverdeling tussen "
		"gemeenteraadsleden, buurtbewoners en maatschappelijke organisaties vraagt om samenwerkingsafspraken, "
		"gebiedsgerichte ontwikkelingsplannen en uitvoeringsprogramma's die iedereen begrijpt. De "
		"verantwoordelijkheidsverdeling tussen gemeenteraadsleden, buurtbewoners en maatschappelijke organisaties "
		"vraagt om samenwerkingsafspraken.",
		"question", "text",
		"Wat is ervoor nodig zodat het plein van iedereen is?", "rewordings",
		"Wat is ervoor nodig zodat jong en oud er samen zijn?", "players", "name", "Fatima", "organisation",
		"Buurtkamer", "central", 1, "seldom_heard", 0, "heard", 1, "name", "Jongerenraad", "central", 0,
		"seldom_heard", 1, "heard", 0, "themes", "name", "groen", "count", 3, "conversation", "held_on",
		"2026-05-12", "body", "markdown", "Het gesprek ging over \"ruimte\" - en over 15 km fietspad.",
		"outcomes", "decision", "markdown", "Het plein krijgt een speelplek.", "minority", "markdown",
		"Houd rekening met de rust van de ouderen.", "advice", "title", "Volgende stap", "body", "markdown",
		"Begin klein, met 2 bankjes.");
	int pages = 0;
	char info[4096];
	char *text = render("full", doc, &pages, info, sizeof(info));
	if (!text)
		return;
	CHECK_MSG(pages >= 8, "pages %d", pages);
	CHECK(strstr(text, "Gemeente Zutphen") != NULL);
	CHECK(strstr(text, "Het Houtwal-plein") != NULL);
	CHECK(strstr(text, "Inhoud") != NULL);
	CHECK(strstr(text, "Samenvatting") != NULL);
	CHECK(strstr(text, "twaalf") != NULL);
	CHECK(strstr(text, "Jongerenraad") != NULL);
	CHECK(strstr(text, "zelden gehoord") != NULL);
	CHECK(strstr(text, "groen  (3\xc2\xa0\xc3\x97)") != NULL || strstr(text, "groen (3") != NULL);
	CHECK(strstr(text, "Wijsheid van de minderheid") != NULL);
	CHECK(strstr(text, "rust van de ouderen") != NULL);
	CHECK(strstr(text, "Begin klein") != NULL);
	CHECK(strstr(text, "12 mei 2026") != NULL);
	/* Typography: curly quotes, an en dash, a non-breaking space before km. */
	CHECK(strstr(text, "\xe2\x80\x9cruimte\xe2\x80\x9d") != NULL);
	CHECK(strstr(text, "\xe2\x80\x93 en over") != NULL);
	CHECK(strstr(text, "Het Houtwal-plein") != NULL);
	/* Dutch hyphenation: lines of the long paragraph end in a word broken
	 * at a place the patterns allow, with the hyphen pango draws for the
	 * soft hyphen there (pdftotext gives it back as U+00AD). */
	CHECK(strstr(text, "buurtbe\xc2\xad\nwoners") != NULL || strstr(text, "samenwerkingsaf\xc2\xad\nspraken") != NULL);
	int broken = 0;
	for (const char *h = strstr(text, "\xc2\xad\n"); h; h = strstr(h + 1, "\xc2\xad\n"))
		broken++;
	CHECK_MSG(broken >= 2, "%d words hyphenated", broken);
	free(text);
}

static void test_hostile(void)
{
	/* 10,000 characters of contribution, a 300-character word, RTL names,
	 * emoji, pango markup that must stay text. */
	char *longtext = malloc(10001 + 400);
	size_t n = 0;
	while (n < 10000) {
		const char *w = n % 700 < 5 ? "\n\n" : "woord ";
		size_t wl = strlen(w);
		memcpy(longtext + n, w, wl);
		n += wl;
	}
	longtext[n] = '\0';
	char word[301];
	memset(word, 'x', 300);
	word[300] = '\0';
	json_t *doc = json_pack(
		"{s:{s:s}, s:{s:s}, s:[{s:s, s:b}, {s:s, s:b}, {s:s, s:b}, {s:s}], s:[{s:{s:s}, s:{s:s}}],"
		" s:[{s:s, s:{s:s}}, {}], s:[{s:s}]}",
		"table", "title", word, "summary", "markdown", longtext, "players", "name", "محمد الأحمد", "heard", 1,
		"name", "שרה כהן", "seldom_heard", 1, "name", "Emoji 🎉🌍👩‍👩‍👧 tafel", "heard", 0, "name",
		"<span foreground=\"red\">rood</span> & <b>vet", "outcomes", "decision", "markdown", word, "minority",
		"markdown", "**open *nesting** wrong*\n\n[link](http://x) `code`", "advice", "title", "", "body",
		"markdown", "", "conversation", "held_on", "not a date");
	free(longtext);
	int pages = 0;
	char info[4096];
	char *text = render("hostile", doc, &pages, info, sizeof(info));
	if (!text)
		return;
	CHECK_MSG(pages >= 5, "pages %d", pages);
	CHECK(strstr(text, "woord woord") != NULL);
	CHECK(strstr(text, "<span foreground") != NULL);        /* markup shown as text */
	CHECK(strstr(text, "xxxxxxxxxxxxxxxxxxxx") != NULL);
	CHECK(strstr(text, "שרה") != NULL || strstr(text, "הרש") != NULL);
	CHECK(strstr(text, "link (http://x)") != NULL);        /* on paper, a link's address after its text */
	free(text);
}

static void test_empty(void)
{
	int pages = 0;
	char info[4096];
	char *text = render("empty", json_object(), &pages, info, sizeof(info));
	CHECK_INT_EQ(pages, 2);         /* the cover and the contents */
	free(text);
	unsigned char *out;
	size_t len;
	char err[200];
	json_t *arr = json_array();
	CHECK(pdf_render_report(arr, arr, NULL, 0, &out, &len, err, sizeof(err)) == -1);
	json_decref(arr);
}

static void test_typography(void)
{
	struct {
		const char *in, *out;
	} cases[] = {
		{"\"ja\"", "\xe2\x80\x9cja\xe2\x80\x9d"},
		{"'t is zo'n dag", "\xe2\x80\x99t is zo\xe2\x80\x99n dag"},
		{"10-12 uur", "10\xe2\x80\x93" "12\xc2\xa0uur"},
		{"a - b", "a \xe2\x80\x93 b"},
		{"- een punt\n- nog een", "- een punt\n- nog een"},
		{"50 %", "50\xc2\xa0%"},
		{"€ 25", "€\xc2\xa0" "25"},
		{"3 kilo", "3 kilo"},
		{"e-mail", "e-mail"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = pdf_typography(cases[i].in, "nl");
		CHECK_MSG(got && strcmp(got, cases[i].out) == 0, "%s -> %s", cases[i].in, got ? got : "(null)");
		free(got);
	}
	/* Soft hyphens where the Dutch patterns allow; short words whole. */
	char *h = hyphenate("een verantwoordelijkheid, één plein", "nl");
	CHECK_MSG(h && strcmp(h, "een ver\xc2\xad" "ant\xc2\xad" "woor\xc2\xad" "de\xc2\xad" "lijk\xc2\xad" "heid, één plein") == 0,
		  "%s", h ? h : "(null)");
	free(h);
	char *m = inline_markup("**a** *b* 1 < 2 & [d](e)", "nl", true);
	CHECK(m && strcmp(m, "<b>a</b> <i>b</i> 1 &lt; 2 &amp; d") == 0);
	free(m);
	m = inline_markup("een <script>x</script> bankje", "nl", true);     /* raw HTML left out, as on the page */
	CHECK(m && strcmp(m, "een x bankje") == 0);
	free(m);
	/* A link prints its text and its address; an address is left as
	 * written (no soft hyphen, dash or curly quote in it), the text
	 * around it gets its typography; code as written. */
	struct {
		const char *in, *out;
	} links[] = {
		{"Zie [de website](https://www.voorbeeld.nl/verslag-2026-06) en verder.",
		 "Zie de web\xc2\xadsite (https://www.voorbeeld.nl/verslag-2026-06) en ver\xc2\xad" "der."},
		{"[https://x.nl](https://x.nl)", "https://x.nl"},
		{"Mail [ons](mailto:info@voorbeeld.nl) of <https://voorbeeld.nl/a--b>.",
		 "Mail ons (info@voorbeeld.nl) of https://voorbeeld.nl/a--b."},
		{"Kijk op https://voorbeeld.nl/\"verslag\"-12-13, \"nu\".",
		 "Kijk op https://voorbeeld.nl/&quot;verslag&quot;-12-13, \xe2\x80\x9cnu\xe2\x80\x9d."},
		{"[klik](javascript:alert(1)) `a--b \"c\"`", "klik <tt>a--b &quot;c&quot;</tt>"},
		{"\"**vet**\" 10-12", "\xe2\x80\x9c<b>vet</b>\xe2\x80\x9d 10\xe2\x80\x93" "12"},
		{"**open *nesting** wrong*", "**open *nes\xc2\xad" "ting** wrong*"},
	};
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		m = inline_markup(links[i].in, "nl", true);
		CHECK_MSG(m && strcmp(m, links[i].out) == 0, "%s -> %s", links[i].in, m ? m : "(null)");
		free(m);
	}
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_typography());
	RUN(test_full_report());
	RUN(test_hostile());
	RUN(test_empty());
	pdf_fini();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (getenv("AANTAFEL_PDF_KEEP"))
		fprintf(stderr, "the PDFs are in %s\n", dir);
	else if (check_failures == 0 && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return check_exit("test_pdf");
}
