/* The report as a PDF (pdf.h). The document becomes a list of blocks
 * (headings, paragraphs, list items), each with pango markup built from
 * escaped text; the blocks flow onto A4 pages twice: once into a PDF that
 * is thrown away, to learn where each section starts and how many pages
 * there are, then for real, with the contents and "page N / M" filled in.
 * The contents take one page (a report has a dozen sections at most), so
 * the second flow puts everything where the first did. */
#include "pdf.h"

#include <cairo-pdf.h>
#include <cairo.h>
#include <fontconfig/fontconfig.h>
#include <hyphen.h>
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <pango/pangocairo.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A4 in points, and the print margins. */
#define PAGE_W 595.276
#define PAGE_H 841.89
#define MARGIN_L 72.0
#define MARGIN_R 72.0
#define MARGIN_T 84.0
#define MARGIN_B 78.0
#define CONTENT_W (PAGE_W - MARGIN_L - MARGIN_R)

#define FONT_SANS "Lato, DejaVu Sans"
#define BODY_SIZE 10.5

enum block_kind {
	B_H1,           /* a section: starts a page, listed in the contents */
	B_H2,
	B_H3,
	B_PARA,
	B_LEAD,         /* a larger paragraph (the central question) */
	B_ITEM,         /* a list item: its bullet or number in `mark` */
	B_NOTE,         /* small, muted */
	B_ROW,          /* a table's row: its cells in `cells` */
};

/* A table's columns at most (a report.layout's table; prelude.lua checks
 * the same bound). */
#define ROW_CELLS_MAX 8

struct block {
	enum block_kind kind;
	char *markup;           /* pango markup of escaped text */
	char mark[16];          /* a list item's bullet or number */
	double indent;
	bool bar;               /* a rule in the primary colour at its left (the minority's wisdom) */
	int toc;                /* a section's place in the contents, or -1 */
	char *cells[ROW_CELLS_MAX];     /* B_ROW: each cell's markup */
	int ncells;
	bool header;            /* B_ROW: the table's header (bold) */
	bool first;             /* B_ROW: the table's first row (space before it) */
};

struct blocks {
	struct block *v;
	size_t n, cap;
	bool oom;
};

struct rgb {
	double r, g, b;
};

struct flow {
	cairo_surface_t *surface;
	cairo_t *cr;
	PangoContext *pc;
	PangoLanguage *lang;
	bool real;              /* the second flow: draws, and knows the page count */
	int page;               /* 1-based; 1 is the cover */
	int total;              /* pages, from the first flow */
	double y;
	const char *name;       /* the municipality */
	const char *title;      /* the table */
	struct rgb primary, text, muted;
	int *toc_page;          /* each section's first page */
	char **toc_title;
	int ntoc;
};

static struct rgb parse_colour(const char *s, struct rgb dflt);

/* ---------------------------------------------------------------- text */

static const char *jstr(const json_t *o, const char *key)
{
	const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
	return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

static const char *label(const json_t *style, const char *key)
{
	const char *v = jstr(json_object_get(style, "labels"), key);
	return v ? v : key;
}

/* A growing string. */
struct buf {
	char *s;
	size_t n, cap;
	bool oom;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *s2 = realloc(b->s, cap);
		if (!s2) {
			b->oom = true;
			return;
		}
		b->s = s2;
		b->cap = cap;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* The string built, or NULL (memory ran out); "" for an empty one. */
static char *buf_take(struct buf *b)
{
	if (b->oom) {
		free(b->s);
		return NULL;
	}
	if (!b->s)
		return strdup("");
	return b->s;
}

static bool is_space_or_open(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '(' || c == '[' || c == '{' || c == '-' || c == '/';
}

/* A unit after a number, as a word: its length, or 0. */
static size_t unit_at(const char *s)
{
	static const char *const units[] = {"%", "€", "km", "m²", "m", "cm", "mm", "kg", "g", "ha", "l",
					    "uur", "min", "minuten", "euro", "jaar", "dagen", "weken", "hours",
					    "minutes", "years", "days", "weeks", "pt", NULL};
	size_t best = 0;
	for (int i = 0; units[i]; i++) {
		size_t n = strlen(units[i]);
		if (strncmp(s, units[i], n) == 0 && n > best) {
			unsigned char after = (unsigned char)s[n];
			if (!(isalnum(after) || after >= 0x80) || strcmp(units[i], "m²") == 0 || units[i][0] == '%')
				best = n;
		}
	}
	return best;
}

char *pdf_typography(const char *text, const char *lang)
{
	(void)lang; /* Dutch and English share “double” and ‘single’ quotes */
	struct buf b = {0};
	size_t len = strlen(text);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		unsigned char prev = i ? (unsigned char)text[i - 1] : ' ';
		unsigned char next = (unsigned char)text[i + 1];
		if (c == '"') {
			buf_str(&b, is_space_or_open(prev) ? "\xe2\x80\x9c" : "\xe2\x80\x9d");
		} else if (c == '\'') {
			if (isalnum(prev) || prev >= 0x80)
				buf_str(&b, "\xe2\x80\x99");        /* an apostrophe, or a closing quote */
			else if (is_space_or_open(prev) &&
				 (isdigit(next) || ((next == 't' || next == 's' || next == 'n') &&
						    !isalnum((unsigned char)text[i + 2]))))
				buf_str(&b, "\xe2\x80\x99");        /* ’26, ’t, ’s, ’n */
			else if (is_space_or_open(prev))
				buf_str(&b, "\xe2\x80\x98");
			else
				buf_str(&b, "\xe2\x80\x99");
		} else if (c == '-' && next == '-' && text[i + 2] != '-') {
			buf_str(&b, "\xe2\x80\x93");
			i++;
		} else if (c == '-' && i > 0 && prev == ' ' && next == ' ') {  /* not a list's "- " */
			buf_str(&b, "\xe2\x80\x93");
		} else if (c == '-' && isdigit(prev) && isdigit(next)) {
			buf_str(&b, "\xe2\x80\x93");
		} else if (c == ' ' && isdigit(prev) && unit_at(text + i + 1)) {
			buf_str(&b, "\xc2\xa0");
		} else if (c == ' ' && i >= 3 && memcmp(text + i - 3, "€", 3) == 0 && isdigit(next)) {
			buf_str(&b, "\xc2\xa0");
		} else {
			buf_add(&b, (const char *)&c, 1);
		}
	}
	return buf_take(&b);
}

/* ---------------------------------------------------------------- hyphenation */

/* Pango breaks a word only at a soft hyphen (U+00AD, shown as a hyphen
 * when the line breaks there) or where the word does not fit a line at
 * all: it has no dictionary. Debian's hyphenation patterns (hyphen-nl,
 * hyphen-en-us, read by libhyphen as LibreOffice reads them) give the
 * places; words of six letters or more get soft hyphens there. The
 * dictionaries are read once and only read afterwards, by every thread. */
#define HYPH_DIR "/usr/share/hyphen/"
#define HYPH_MIN_WORD 6
#define HYPH_MAX_WORD 100

static pthread_once_t hyph_once = PTHREAD_ONCE_INIT;
static HyphenDict *hyph_nl, *hyph_en;

static void hyph_load(void)
{
	hyph_nl = hnj_hyphen_load(HYPH_DIR "hyph_nl_NL.dic");
	hyph_en = hnj_hyphen_load(HYPH_DIR "hyph_en_US.dic");
}

/* A letter's byte length at S (ASCII, or a two-byte Latin letter such as
 * é, ë, ï), or 0. */
static int letter_len(const unsigned char *s)
{
	if (isalpha(s[0]))
		return 1;
	if (s[0] == 0xc3 && s[1] >= 0x80 && s[1] <= 0xbf && s[1] != 0x97 && s[1] != 0xb7)
		return 2;
	return 0;
}

static void hyphenate_word(struct buf *b, HyphenDict *dict, const char *w, size_t n)
{
	char lower[HYPH_MAX_WORD * 2 + 1], hyphens[HYPH_MAX_WORD * 2 + 6];
	size_t letters = 0;
	for (size_t i = 0; i < n; i += (size_t)letter_len((const unsigned char *)w + i))
		letters++;
	if (!dict || letters < HYPH_MIN_WORD || n > HYPH_MAX_WORD * 2) {
		buf_add(b, w, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		lower[i] = (char)tolower((unsigned char)w[i]);
	lower[n] = '\0';
	char **rep = NULL;
	int *pos = NULL, *cut = NULL;
	memset(hyphens, 0, sizeof(hyphens));
	int rc = hnj_hyphen_hyphenate3(dict, lower, (int)n, hyphens, NULL, &rep, &pos, &cut, 2, 3, 2, 2);
	for (size_t i = 0; i < n; i++) {
		buf_add(b, w + i, 1);
		/* After a whole letter, a standard hyphenation point (a
		 * replacing one, as in Dutch "autootje", is left out). */
		bool end_of_letter = i + 1 < n && ((unsigned char)w[i + 1] & 0xc0) != 0x80;
		if (rc == 0 && end_of_letter && (hyphens[i] & 1) && !(rep && rep[i]))
			buf_str(b, "\xc2\xad");
	}
	if (rep) {
		for (size_t i = 0; i < n; i++)
			free(rep[i]);
		free(rep);
	}
	free(pos);
	free(cut);
}

/* TEXT with soft hyphens where the language's patterns allow a break. */
static char *hyphenate(const char *text, const char *lang)
{
	pthread_once(&hyph_once, hyph_load);
	HyphenDict *dict = strcmp(lang, "en") == 0 ? hyph_en : hyph_nl;
	struct buf b = {0};
	const char *p = text;
	while (*p) {
		const char *start = p;
		int l;
		while ((l = letter_len((const unsigned char *)p)) > 0)
			p += l;
		if (p > start) {
			hyphenate_word(&b, dict, start, (size_t)(p - start));
			continue;
		}
		/* Anything else as it is, one character at a time. */
		size_t n = 1;
		while (p[n] && (((unsigned char)p[n] & 0xc0) == 0x80))
			n++;
		buf_add(&b, p, n);
		p += n;
	}
	return buf_take(&b);
}

/* Typography, then soft hyphens: the text of a paragraph. */
static char *prose(const char *text, const char *lang)
{
	char *t = pdf_typography(text, lang);
	if (!t)
		return NULL;
	char *h = hyphenate(t, lang);
	free(t);
	return h;
}

/* TEXT (typography applied) as escaped pango markup. */
static void add_escaped(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '<': buf_str(b, "&lt;"); break;
		case '>': buf_str(b, "&gt;"); break;
		case '&': buf_str(b, "&amp;"); break;
		case '"': buf_str(b, "&quot;"); break;
		case '\'': buf_str(b, "&#39;"); break;
		default:
			/* Control characters other than tab are dropped: pango refuses them in markup. */
			if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
				buf_str(b, " ");
			else
				buf_add(b, s + i, 1);
		}
	}
}

static char *escape(const char *s)
{
	struct buf b = {0};
	add_escaped(&b, s, strlen(s));
	return buf_take(&b);
}

/* The length of an address that starts at S (http://, https://, www.,
 * mailto:) up to a space, without the punctuation that ends a sentence
 * after it; 0 when none starts there. */
static size_t url_at(const char *s)
{
	if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0 && strncmp(s, "www.", 4) != 0 &&
	    strncmp(s, "mailto:", 7) != 0)
		return 0;
	size_t n = 0;
	while (s[n] && !isspace((unsigned char)s[n]) && s[n] != '<' && s[n] != '>')
		n++;
	while (n > 0 && strchr(".,;:!?)'\"", s[n - 1]))
		n--;
	return n;
}

/* Text S (N bytes) of a paragraph as escaped markup: typography (PREV is
 * the character before it, for the quotes), soft hyphens when HYPH;
 * addresses in it are left exactly as written, so that the printed one
 * is the one to type (no curly quote, dash or soft hyphen inside). */
static void add_run(struct buf *b, const char *s, size_t n, const char *lang, bool hyph, char *prev)
{
	size_t i = 0;
	while (i < n) {
		size_t start = i, u = 0;
		while (i < n && !((i == 0 || !isalnum((unsigned char)s[i - 1])) && (u = url_at(s + i)) > 0))
			i++;
		if (i > start) {
			/* The character before the run gives the quotes their
			 * side: as a letter, a space or a stop, which typography
			 * leaves as it is, and which is dropped after it. */
			unsigned char c = (unsigned char)*prev;
			char before = isalnum(c) || c >= 0x80 ? 'a' : is_space_or_open(c) ? ' ' : '.';
			struct buf src = {0};
			buf_add(&src, &before, 1);
			buf_add(&src, s + start, i - start);
			char *whole = buf_take(&src);
			char *t = whole ? pdf_typography(whole, lang) : NULL;
			char *h = t && hyph ? hyphenate(t + 1, lang) : NULL;
			if (t && (h || !hyph))
				add_escaped(b, h ? h : t + 1, strlen(h ? h : t + 1));
			else
				b->oom = true;
			free(h);
			free(t);
			free(whole);
			*prev = s[i - 1];
		}
		if (i < n) {
			if (u > n - i)
				u = n - i;
			add_escaped(b, s + i, u);
			i += u;
			*prev = s[i - 1];
		}
	}
}

/* A link's address as printed after its text, or NULL when it is not
 * one to print (a page of the site, javascript:, an anchor): a reader of
 * paper needs the address itself. */
static const char *printed_url(const char *url, size_t n, size_t *outlen)
{
	if (n > 7 && strncmp(url, "mailto:", 7) == 0) {
		*outlen = n - 7;
		return url + 7;
	}
	if ((n > 7 && strncmp(url, "http://", 7) == 0) || (n > 8 && strncmp(url, "https://", 8) == 0) ||
	    (n > 4 && strncmp(url, "www.", 4) == 0)) {
		*outlen = n;
		return url;
	}
	return NULL;
}

/* One line of Markdown's inline syntax S as markup: **strong**, *em*,
 * _em_, `code` (as written), [text](url) and <url> as the text with the
 * address after it; raw HTML tags left out; everything else text
 * (typography, soft hyphens when HYPH). PLAIN reads no emphasis: the
 * fallback when the emphasis is unbalanced. */
static char *inline_line(const char *s, const char *lang, bool hyph, bool plain)
{
	struct buf b = {0};
	char stack[16];
	int depth = 0;
	bool ok = true;
	char prev = ' ';
	size_t n = strlen(s), run = 0;      /* text from RUN up to I is not written yet */
#define FLUSH_RUN(i) do { add_run(&b, s + run, (i) - run, lang, hyph, &prev); } while (0)
	for (size_t i = 0; i < n && ok;) {
		char tag = 0;
		size_t adv = 1;
		if (!plain && s[i] == '*' && s[i + 1] == '*') {
			tag = 'b';
			adv = 2;
		} else if (!plain && (s[i] == '*' || (s[i] == '_' && (i == 0 || !isalnum((unsigned char)s[i - 1]) ||
								      !isalnum((unsigned char)s[i + 1]))))) {
			tag = 'i';
		} else if (s[i] == '`' && strchr(s + i + 1, '`')) {
			const char *close = strchr(s + i + 1, '`');
			FLUSH_RUN(i);
			buf_str(&b, "<tt>");
			add_escaped(&b, s + i + 1, (size_t)(close - s - i - 1));
			buf_str(&b, "</tt>");
			i = run = (size_t)(close - s) + 1;
			prev = '`';
			continue;
		} else if (s[i] == '<' && url_at(s + i + 1) && s[i + 1 + url_at(s + i + 1)] == '>') {
			/* An autolink: its address. */
			size_t u = url_at(s + i + 1), ul;
			FLUSH_RUN(i);
			const char *p = printed_url(s + i + 1, u, &ul);
			add_escaped(&b, p ? p : s + i + 1, p ? ul : u);
			i = run = i + u + 2;
			prev = '>';
			continue;
		} else if (s[i] == '<' && (isalpha((unsigned char)s[i + 1]) || s[i + 1] == '/' || s[i + 1] == '!') &&
			   strchr(s + i, '>')) {
			/* Raw HTML is left out, as the page's Markdown leaves it out. */
			FLUSH_RUN(i);
			i = run = (size_t)(strchr(s + i, '>') - s) + 1;
			continue;
		} else if (s[i] == '[') {
			const char *close = strstr(s + i, "](");
			/* The address ends at its own ")" (parentheses inside it
			 * balanced, as Markdown reads them). */
			const char *end = NULL;
			int parens = 0;
			for (const char *q = close ? close + 2 : NULL; q && *q && !end; q++) {
				if (*q == '(')
					parens++;
				else if (*q == ')' && parens-- == 0)
					end = q;
			}
			if (close && end && !memchr(s + i + 1, '[', (size_t)(close - s - i - 1))) {
				FLUSH_RUN(i);
				size_t tl = (size_t)(close - s - i - 1), ul = 0;
				add_run(&b, s + i + 1, tl, lang, hyph, &prev);
				const char *url = close + 2;
				const char *p = printed_url(url, (size_t)(end - url), &ul);
				/* The address after the text, unless the text is it. */
				if (p && !(tl == ul && memcmp(s + i + 1, p, ul) == 0)) {
					buf_str(&b, " (");
					add_escaped(&b, p, ul);
					buf_str(&b, ")");
					prev = ')';
				}
				i = run = (size_t)(end - s) + 1;
				continue;
			}
		}
		if (!tag) {
			i++;
			continue;
		}
		FLUSH_RUN(i);
		const char *open = tag == 'b' ? "<b>" : "<i>";
		const char *shut = tag == 'b' ? "</b>" : "</i>";
		if (depth > 0 && stack[depth - 1] == tag) {
			buf_str(&b, shut);
			depth--;
		} else if (depth < (int)sizeof(stack)) {
			/* A closing marker of an outer tag first: not nested, give up. */
			for (int d = 0; d < depth; d++)
				if (stack[d] == tag)
					ok = false;
			buf_str(&b, open);
			stack[depth++] = tag;
		} else {
			ok = false;
		}
		i += adv;
		run = i;
	}
	if (ok)
		FLUSH_RUN(n);
#undef FLUSH_RUN
	if (!ok || depth > 0) {
		free(buf_take(&b));
		return plain ? NULL : inline_line(s, lang, hyph, true);
	}
	return buf_take(&b);
}

static char *inline_markup(const char *s, const char *lang, bool hyph)
{
	return inline_line(s, lang, hyph, false);
}

/* ---------------------------------------------------------------- blocks */

static struct block *add_block(struct blocks *bs, enum block_kind kind, char *markup)
{
	if (!markup) {
		bs->oom = true;
		return NULL;
	}
	if (bs->n == bs->cap) {
		size_t cap = bs->cap ? bs->cap * 2 : 64;
		struct block *v = realloc(bs->v, cap * sizeof(*v));
		if (!v) {
			free(markup);
			bs->oom = true;
			return NULL;
		}
		bs->v = v;
		bs->cap = cap;
	}
	struct block *b = &bs->v[bs->n++];
	*b = (struct block){.kind = kind, .markup = markup, .toc = -1};
	return b;
}

/* A block of plain TEXT (typography, escaped). */
static struct block *add_text(struct blocks *bs, enum block_kind kind, const char *text, const char *lang)
{
	bool heading = kind == B_H1 || kind == B_H2 || kind == B_H3;
	char *t = heading ? pdf_typography(text, lang) : prose(text, lang);
	char *m = t ? escape(t) : NULL;
	free(t);
	return add_block(bs, kind, m);
}

/* The paragraph gathered in PARA (if any) as one block of KIND, with its
 * INDENT, BAR and list MARK; PARA is empty again afterwards. */
static void flush_para(struct blocks *bs, struct buf *para, enum block_kind kind, double indent, bool bar,
		       const char *mark, const char *lang)
{
	if (!para->n) {
		free(para->s);
		*para = (struct buf){0};
		return;
	}
	char *src = buf_take(para);
	struct block *b = src ? add_block(bs, kind, inline_markup(src, lang, true)) : NULL;
	if (b) {
		b->indent = indent;
		b->bar = bar;
		snprintf(b->mark, sizeof(b->mark), "%s", mark);
	}
	free(src);
	*para = (struct buf){0};
}

/* Markdown TEXT as blocks, indented by INDENT, with BAR. The lines are
 * read as written; typography and soft hyphens go into the text only
 * (inline_markup), never into an address or code. */
static void add_markdown(struct blocks *bs, const char *text, const char *lang, double indent, bool bar)
{
	char *t = strdup(text);
	if (!t) {
		bs->oom = true;
		return;
	}
	struct buf para = {0};
	enum block_kind kind = B_PARA;
	char mark[16] = "";
	int number = 0;
	char *save = NULL;
	/* Line by line; a blank line, a heading or a list item ends a paragraph. */
	for (char *line = t;; line = NULL) {
		char *l = line ? line : save;
		if (!l)
			break;
		char *nl = strchr(l, '\n');
		if (nl)
			*nl = '\0';
		save = nl ? nl + 1 : NULL;
		size_t ll = strlen(l);
		if (ll && l[ll - 1] == '\r')
			l[--ll] = '\0';
		char *p = l;
		while (*p == ' ' || *p == '\t')
			p++;
		int h = 0;
		while (p[h] == '#' && h < 6)
			h++;
		bool heading = h > 0 && p[h] == ' ';
		bool bullet = (p[0] == '-' || p[0] == '*' || p[0] == '+') && p[1] == ' ';
		int digits = 0;
		while (isdigit((unsigned char)p[digits]) && digits < 9)
			digits++;
		bool numbered = digits > 0 && (p[digits] == '.' || p[digits] == ')') && p[digits + 1] == ' ';
		if (!*p || heading || bullet || numbered) {
			flush_para(bs, &para, kind, indent, bar, mark, lang);
			kind = B_PARA;
			mark[0] = '\0';
		}
		if (!*p) {
			number = 0;
		} else if (heading) {
			/* Every Markdown heading is a sub-heading of its section. */
			struct block *b = add_block(bs, B_H3, inline_markup(p + h + 1, lang, false));
			if (b) {
				b->indent = indent;
				b->bar = bar;
			}
		} else if (bullet || numbered) {
			kind = B_ITEM;
			if (bullet) {
				snprintf(mark, sizeof(mark), "\xe2\x80\xa2");
				p += 2;
			} else {
				snprintf(mark, sizeof(mark), "%d.", ++number);
				p += digits + 2;
			}
			buf_str(&para, p);
		} else {
			if (para.n)
				buf_str(&para, " ");
			buf_str(&para, p);
		}
		if (!save)
			break;
	}
	flush_para(bs, &para, kind, indent, bar, mark, lang);
	free(t);
}

/* A Markdown field of the document: {markdown = "..."} or a string. */
static const char *md_text(const json_t *v)
{
	if (json_is_string(v))
		return json_string_length(v) ? json_string_value(v) : NULL;
	return jstr(v, "markdown");
}

static const char *const MONTHS_NL[] = {"januari", "februari", "maart",     "april",   "mei",      "juni",
					 "juli",    "augustus", "september", "oktober", "november", "december"};
static const char *const MONTHS_EN[] = {"January", "February", "March",     "April",   "May",      "June",
					 "July",    "August",   "September", "October", "November", "December"};

/* "2026-06-01" as "1 juni 2026" (or "June 1, 2026"); anything else as itself. */
static void date_text(const char *s, const char *lang, char *out, size_t outlen)
{
	int y, m, d;
	char rest;
	if (s && sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &rest) >= 3 && m >= 1 && m <= 12 && d >= 1 && d <= 31) {
		if (strcmp(lang, "en") == 0)
			snprintf(out, outlen, "%s %d, %d", MONTHS_EN[m - 1], d, y);
		else
			snprintf(out, outlen, "%d %s %d", d, MONTHS_NL[m - 1], y);
		return;
	}
	snprintf(out, outlen, "%s", s ? s : "");
}

static void add_heading(struct blocks *bs, enum block_kind kind, const char *text, const char *lang, int *ntoc)
{
	struct block *b = add_text(bs, kind, text, lang);
	if (b && kind == B_H1)
		b->toc = (*ntoc)++;
}


/* A choice's label in LANG (the document gives {nl, en}), else its id. */
static const char *choice_label(const json_t *c, const char *lang)
{
	const json_t *l = json_object_get(c, "label");
	const char *v = jstr(l, lang);
	if (!v)
		v = jstr(l, "nl");
	return v ? v : jstr(c, "id");
}

/* One list item of plain TEXT (not Markdown: a resident's point), with a
 * bullet, indented by INDENT, with BAR. */
static void add_item(struct blocks *bs, const char *text, const char *lang, double indent, bool bar)
{
	struct block *b = add_text(bs, B_ITEM, text, lang);
	if (!b)
		return;
	snprintf(b->mark, sizeof(b->mark), "\xe2\x80\xa2");
	b->indent = indent;
	b->bar = bar;
}

/* The table's closed decisions (aantafel.report/1, docs/plugins.md): the
 * proposal, the counts (individual votes and the room's apart), the
 * majority's outcome or the shared one, the minority's points (those not
 * added with the reason, then those added) and the final text. */
static void add_decisions(struct blocks *bs, const json_t *doc, const json_t *style, const char *lang, int *ntoc)
{
	const json_t *ds = json_object_get(doc, "decisions");
	if (!json_array_size(ds))
		return;
	add_heading(bs, B_H1, label(style, "decisions"), lang, ntoc);
	char tmp[512];
	size_t i;
	const json_t *d;
	json_array_foreach(ds, i, d) {
		const char *title = jstr(d, "title");
		if (title) {
			add_text(bs, B_H2, title, lang);
		} else {
			snprintf(tmp, sizeof(tmp), "%s %zu", label(style, "decision"), i + 1);
			add_text(bs, B_H2, tmp, lang);
		}
		const char *proposal = md_text(json_object_get(d, "proposal"));
		if (proposal) {
			add_text(bs, B_H3, label(style, "proposal"), lang);
			add_markdown(bs, proposal, lang, 0, false);
		}
		const char *path = jstr(d, "path");
		const char *shared = md_text(json_object_get(d, "shared_outcome"));
		if (path && strcmp(path, "collective") == 0) {
			add_text(bs, B_H3, label(style, "shared_outcome"), lang);
			add_markdown(bs, shared ? shared : label(style, "empty"), lang, 0, false);
		} else {
			const char *outcome = jstr(d, "outcome");
			const char *won = NULL;
			size_t k;
			const json_t *c;
			bool counted = false;
			json_array_foreach(json_object_get(d, "choices"), k, c) {
				if (outcome && jstr(c, "id") && strcmp(jstr(c, "id"), outcome) == 0)
					won = choice_label(c, lang);
				const json_t *votes = json_object_get(c, "votes");
				if (!json_is_integer(votes))
					continue;
				if (!counted) {
					add_text(bs, B_H3, label(style, "counts"), lang);
					counted = true;
				}
				json_int_t room = json_integer_value(json_object_get(c, "room"));
				const json_t *total = json_object_get(c, "total");
				snprintf(tmp, sizeof(tmp), "%s: %lld (%s %lld, %s %lld)", choice_label(c, lang) ? choice_label(c, lang) : "",
					 (long long)(json_is_integer(total) ? json_integer_value(total) : json_integer_value(votes) + room),
					 label(style, "individual"), (long long)json_integer_value(votes), label(style, "room"),
					 (long long)room);
				add_item(bs, tmp, lang, 0, false);
			}
			add_text(bs, B_H3, label(style, "majority"), lang);
			if (won) {
				add_text(bs, B_PARA, won, lang);
			} else {
				add_text(bs, B_PARA, label(style, "no_majority"), lang);
			}
		}
		const json_t *points = json_object_get(d, "points");
		size_t k;
		const json_t *pt;
		bool head = false;
		json_array_foreach(points, k, pt) {
			const char *body = jstr(pt, "body");
			if (!body || json_is_true(json_object_get(pt, "added")))
				continue;
			if (!head) {
				add_text(bs, B_H3, label(style, "minority"), lang);
				head = true;
			}
			const char *reason = jstr(pt, "reason");
			if (json_is_false(json_object_get(pt, "added")) && reason) {
				struct buf b = {0};
				buf_str(&b, body);
				buf_str(&b, " \xe2\x80\x93 ");
				buf_str(&b, label(style, "not_added"));
				buf_str(&b, ": ");
				buf_str(&b, reason);
				char *t = buf_take(&b);
				add_item(bs, t ? t : body, lang, 14, true);
				free(t);
			} else {
				add_item(bs, body, lang, 14, true);
			}
		}
		head = false;
		json_array_foreach(points, k, pt) {
			const char *body = jstr(pt, "body");
			if (!body || !json_is_true(json_object_get(pt, "added")))
				continue;
			if (!head) {
				add_text(bs, B_H3, label(style, "added"), lang);
				head = true;
			}
			add_item(bs, body, lang, 14, true);
		}
		const char *final = md_text(json_object_get(d, "final"));
		if (final) {
			add_text(bs, B_H3, label(style, "final"), lang);
			add_markdown(bs, final, lang, 0, false);
		}
	}
}

/* A block of plain TEXT as markup in italics (a quote). */
static struct block *add_italic(struct blocks *bs, enum block_kind kind, const char *text, const char *lang)
{
	char *t = prose(text, lang);
	char *e = t ? escape(t) : NULL;
	free(t);
	if (!e) {
		bs->oom = true;
		return NULL;
	}
	struct buf m = {0};
	buf_str(&m, "<i>");
	buf_str(&m, e);
	buf_str(&m, "</i>");
	free(e);
	return add_block(bs, kind, buf_take(&m));
}

/* One row of a table: CELLS (a JSON array of strings) as its cells. */
static void add_row(struct blocks *bs, const json_t *cells, const char *lang, bool header, bool first)
{
	struct block *b = add_block(bs, B_ROW, strdup(""));
	if (!b)
		return;
	b->header = header;
	b->first = first;
	size_t i;
	const json_t *c;
	json_array_foreach(cells, i, c) {
		if (b->ncells == ROW_CELLS_MAX)
			break;
		const char *text = json_is_string(c) ? json_string_value(c) : "";
		char *t = prose(text, lang);
		char *e = t ? escape(t) : NULL;
		free(t);
		if (!e) {
			bs->oom = true;
			return;
		}
		b->cells[b->ncells++] = e;
	}
}

/* A section's own layout (report.layout, docs/plugins.md): BLOCKS in the
 * report's vocabulary, each {type, ...}: heading, paragraph, quote, list
 * (items, ordered) and table (header, rows). The texts are plain text,
 * escaped like every other. */
static void add_layout(struct blocks *bs, const json_t *blocks, const char *lang)
{
	size_t i;
	const json_t *b;
	json_array_foreach(blocks, i, b) {
		const char *type = jstr(b, "type");
		const char *text = jstr(b, "text");
		if (!type)
			continue;
		if (strcmp(type, "heading") == 0 && text) {
			add_text(bs, B_H2, text, lang);
		} else if (strcmp(type, "paragraph") == 0 && text) {
			add_text(bs, B_PARA, text, lang);
		} else if (strcmp(type, "quote") == 0 && text) {
			struct block *q = add_italic(bs, B_PARA, text, lang);
			if (q) {
				q->indent = 14;
				q->bar = true;
			}
		} else if (strcmp(type, "list") == 0) {
			bool ordered = json_is_true(json_object_get(b, "ordered"));
			size_t k;
			const json_t *item;
			json_array_foreach(json_object_get(b, "items"), k, item) {
				if (!json_is_string(item))
					continue;
				struct block *it = add_text(bs, B_ITEM, json_string_value(item), lang);
				if (!it)
					continue;
				if (ordered)
					snprintf(it->mark, sizeof(it->mark), "%u.", (unsigned)(k + 1));
				else
					snprintf(it->mark, sizeof(it->mark), "\xe2\x80\xa2");
			}
		} else if (strcmp(type, "table") == 0) {
			const json_t *header = json_object_get(b, "header");
			bool first = true;
			if (json_array_size(header)) {
				add_row(bs, header, lang, true, true);
				first = false;
			}
			size_t k;
			const json_t *row;
			json_array_foreach(json_object_get(b, "rows"), k, row) {
				if (!json_array_size(row))
					continue;
				add_row(bs, row, lang, false, first);
				first = false;
			}
		}
	}
}

/* Section SEC (a built-in's name, or a plugin's own {title, body}) of DOC. */
static void add_section(struct blocks *bs, const json_t *doc, const json_t *sec, const json_t *style,
			const char *lang, int *ntoc)
{
	char tmp[256];
	if (json_is_object(sec) && json_is_array(json_object_get(sec, "blocks"))) {
		/* A built-in section laid out by a report.layout hook. */
		const char *title = jstr(sec, "title");
		const char *id = jstr(sec, "id");
		add_heading(bs, B_H1, title ? title : id ? label(style, id) : "", lang, ntoc);
		add_layout(bs, json_object_get(sec, "blocks"), lang);
		return;
	}
	if (json_is_object(sec)) {
		const char *title = jstr(sec, "title");
		const char *body = md_text(json_object_get(sec, "body"));
		if (!title && !body)
			return;
		add_heading(bs, B_H1, title ? title : "", lang, ntoc);
		if (body)
			add_markdown(bs, body, lang, 0, false);
		return;
	}
	const char *id = json_string_value(sec);
	if (!id)
		return;
	if (strcmp(id, "summary") == 0) {
		const char *s = md_text(json_object_get(doc, "summary"));
		if (!s)
			return;
		add_heading(bs, B_H1, label(style, "summary"), lang, ntoc);
		add_markdown(bs, s, lang, 0, false);
	} else if (strcmp(id, "question") == 0) {
		const json_t *q = json_object_get(doc, "question");
		const char *text = jstr(q, "text");
		if (!text)
			text = jstr(json_object_get(doc, "table"), "question");
		if (!text)
			return;
		add_heading(bs, B_H1, label(style, "question"), lang, ntoc);
		add_text(bs, B_LEAD, text, lang);
		const json_t *rw = json_object_get(q, "rewordings");
		if (json_array_size(rw)) {
			add_text(bs, B_H3, label(style, "rewordings"), lang);
			size_t i;
			const json_t *v;
			json_array_foreach(rw, i, v) {
				if (!json_is_string(v))
					continue;
				struct block *b = add_text(bs, B_ITEM, json_string_value(v), lang);
				if (b)
					snprintf(b->mark, sizeof(b->mark), "\xe2\x80\x9c");
			}
		}
	} else if (strcmp(id, "players") == 0) {
		const json_t *ps = json_object_get(doc, "players");
		if (!json_array_size(ps))
			return;
		add_heading(bs, B_H1, label(style, "players"), lang, ntoc);
		size_t heard = 0, seldom = 0, i;
		const json_t *p;
		json_array_foreach(ps, i, p) {
			bool h = json_is_true(json_object_get(p, "heard"));
			bool s = json_is_true(json_object_get(p, "seldom_heard"));
			heard += h;
			seldom += s;
		}
		snprintf(tmp, sizeof(tmp), "%zu %s · %zu %s · %zu %s", json_array_size(ps), label(style, "players_count"),
			 heard, label(style, "heard"), seldom, label(style, "seldom_heard"));
		add_text(bs, B_NOTE, tmp, lang);
		json_array_foreach(ps, i, p) {
			struct buf m = {0};
			char *name = pdf_typography(jstr(p, "name") ? jstr(p, "name") : "?", lang);
			char *e = name ? escape(name) : NULL;
			buf_str(&m, "<b>");
			buf_str(&m, e ? e : "");
			buf_str(&m, "</b>");
			free(name);
			free(e);
			const char *org = jstr(p, "organisation");
			if (org) {
				char *o = pdf_typography(org, lang);
				char *oe = o ? escape(o) : NULL;
				buf_str(&m, " \xe2\x80\x94 ");
				buf_str(&m, oe ? oe : "");
				free(o);
				free(oe);
			}
			buf_str(&m, "\n<span size=\"smaller\">");
			char *he = escape(label(style, json_is_true(json_object_get(p, "heard")) ? "heard" : "not_heard"));
			buf_str(&m, he ? he : "");
			free(he);
			if (json_is_true(json_object_get(p, "central"))) {
				char *ce = escape(label(style, "central"));
				buf_str(&m, " · ");
				buf_str(&m, ce ? ce : "");
				free(ce);
			}
			if (json_is_true(json_object_get(p, "seldom_heard"))) {
				char *se = escape(label(style, "seldom_heard_one"));
				struct rgb c = parse_colour(jstr(style, "primary"), (struct rgb){0.1, 0.3, 0.5});
				char span[80];
				snprintf(span, sizeof(span), " · <span foreground=\"#%02x%02x%02x\" weight=\"bold\">\xe2\x97\x86 ",
					 (unsigned)lround(c.r * 255), (unsigned)lround(c.g * 255), (unsigned)lround(c.b * 255));
				buf_str(&m, span);
				buf_str(&m, se ? se : "");
				buf_str(&m, "</span>");
				free(se);
			}
			buf_str(&m, "</span>");
			struct block *b = add_block(bs, B_ITEM, buf_take(&m));
			if (b)
				snprintf(b->mark, sizeof(b->mark), "%s",
					 json_is_true(json_object_get(p, "heard")) ? "\xe2\x9c\x93" : "\xe2\x80\x93");
		}
	} else if (strcmp(id, "themes") == 0) {
		const json_t *ts = json_object_get(doc, "themes");
		if (!json_array_size(ts))
			return;
		add_heading(bs, B_H1, label(style, "themes"), lang, ntoc);
		size_t i;
		const json_t *t;
		json_array_foreach(ts, i, t) {
			const char *name = jstr(t, "name");
			if (!name)
				continue;
			json_int_t count = json_integer_value(json_object_get(t, "count"));
			char *s = pdf_typography(name, lang);
			char *e = s ? escape(s) : NULL;
			struct buf m = {0};
			buf_str(&m, e ? e : "");
			snprintf(tmp, sizeof(tmp), "  <span size=\"smaller\">(%lld\xc2\xa0\xc3\x97)</span>", (long long)count);
			buf_str(&m, tmp);
			free(s);
			free(e);
			struct block *b = add_block(bs, B_ITEM, buf_take(&m));
			if (b)
				snprintf(b->mark, sizeof(b->mark), "\xe2\x80\xa2");
		}
	} else if (strcmp(id, "conversation") == 0 || strcmp(id, "meetings") == 0) {
		const json_t *cs = json_object_get(doc, id);
		if (!json_array_size(cs))
			return;
		add_heading(bs, B_H1, label(style, id), lang, ntoc);
		size_t i;
		const json_t *c;
		json_array_foreach(cs, i, c) {
			const char *title = jstr(c, "title");
			const char *on = jstr(c, "held_on");
			if (!on)
				on = jstr(c, "starts_at");
			char date[128] = "";
			if (on)
				date_text(on, lang, date, sizeof(date));
			if (title || date[0]) {
				snprintf(tmp, sizeof(tmp), "%s%s%s", title ? title : "", title && date[0] ? " \xe2\x80\x93 " : "",
					 date);
				add_text(bs, B_H3, tmp, lang);
			}
			const json_t *att = json_object_get(c, "attendance");
			if (json_is_object(att)) {
				snprintf(tmp, sizeof(tmp), "%s: %lld", label(style, "present"),
					 (long long)json_integer_value(json_object_get(att, "present")));
				add_text(bs, B_NOTE, tmp, lang);
			}
			const json_t *who = json_object_get(c, "attendees");
			if (json_array_size(who)) {
				struct buf names = {0};
				buf_str(&names, label(style, "present"));
				buf_str(&names, ": ");
				size_t k;
				const json_t *a;
				json_array_foreach(who, k, a) {
					const char *n = json_is_string(a) ? json_string_value(a) : jstr(a, "name");
					if (!n)
						continue;
					if (k)
						buf_str(&names, ", ");
					buf_str(&names, n);
				}
				char *s = buf_take(&names);
				if (s)
					add_text(bs, B_NOTE, s, lang);
				free(s);
			}
			const char *body = md_text(json_object_get(c, "body"));
			if (body)
				add_markdown(bs, body, lang, 0, false);
			else if (!title && !date[0])
				add_text(bs, B_NOTE, label(style, "empty"), lang);
		}
	} else if (strcmp(id, "decisions") == 0) {
		add_decisions(bs, doc, style, lang, ntoc);
	} else if (strcmp(id, "outcomes") == 0) {
		const json_t *os = json_object_get(doc, id);
		if (!json_array_size(os))
			return;
		add_heading(bs, B_H1, label(style, id), lang, ntoc);
		size_t i;
		const json_t *o;
		json_array_foreach(os, i, o) {
			const char *title = jstr(o, "title");
			if (title)
				add_text(bs, B_H2, title, lang);
			else {
				snprintf(tmp, sizeof(tmp), "%s %zu", label(style, "decision"), i + 1);
				add_text(bs, B_H2, tmp, lang);
			}
			const char *maj = md_text(json_object_get(o, "decision"));
			if (!maj)
				maj = md_text(json_object_get(o, "majority"));
			if (!maj)
				maj = md_text(json_object_get(o, "outcome"));
			if (maj) {
				add_text(bs, B_H3, label(style, "majority"), lang);
				add_markdown(bs, maj, lang, 0, false);
			}
			const char *min = md_text(json_object_get(o, "minority"));
			if (min) {
				add_text(bs, B_H3, label(style, "minority"), lang);
				add_markdown(bs, min, lang, 14, true);
			}
			const char *added = md_text(json_object_get(o, "added"));
			if (added) {
				add_text(bs, B_H3, label(style, "added"), lang);
				add_markdown(bs, added, lang, 0, false);
			}
		}
	} else if (strcmp(id, "advice") == 0) {
		const json_t *as = json_object_get(doc, "advice");
		if (!json_array_size(as))
			return;
		add_heading(bs, B_H1, label(style, "advice"), lang, ntoc);
		size_t i;
		const json_t *a;
		json_array_foreach(as, i, a) {
			const char *title = jstr(a, "title");
			if (title)
				add_text(bs, B_H2, title, lang);
			const char *body = md_text(json_object_get(a, "body"));
			if (body)
				add_markdown(bs, body, lang, 0, false);
		}
	} else if (strcmp(id, "evaluation") == 0) {
		const json_t *ev = json_object_get(doc, "evaluation");
		const char *body = md_text(ev);
		if (!body)
			body = md_text(json_object_get(ev, "body"));
		if (!body && !json_array_size(ev))
			return;
		add_heading(bs, B_H1, label(style, "evaluation"), lang, ntoc);
		if (body)
			add_markdown(bs, body, lang, 0, false);
		size_t i;
		const json_t *e;
		json_array_foreach(ev, i, e) {
			const char *t = jstr(e, "title");
			const char *on = jstr(e, "held_on");
			if (t) {
				add_text(bs, B_H2, t, lang);
			} else if (on && json_array_size(ev) > 1) {
				char date[128];
				date_text(on, lang, date, sizeof(date));
				add_text(bs, B_H2, date, lang);
			}
			const char *b = md_text(json_object_get(e, "body"));
			if (b)
				add_markdown(bs, b, lang, 0, false);
			/* The evaluatie step's record: what went well, what was
			 * learned, what follows. */
			static const char *const parts[] = {"went_well", "learned", "follows", NULL};
			for (int k = 0; parts[k]; k++) {
				const char *m = md_text(json_object_get(e, parts[k]));
				if (!m)
					continue;
				add_text(bs, B_H3, label(style, parts[k]), lang);
				add_markdown(bs, m, lang, 0, false);
			}
		}
	}
}

static const char *const DEFAULT_SECTIONS[] = {"summary",  "question", "players", "themes",  "conversation", "meetings",
					       "outcomes", "decisions", "advice", "evaluation", NULL};

static void build_blocks(struct blocks *bs, const json_t *doc, const json_t *style, const char *lang, int *ntoc)
{
	const json_t *secs = json_object_get(doc, "sections");
	if (json_is_array(secs)) {
		size_t i;
		const json_t *s;
		json_array_foreach(secs, i, s) add_section(bs, doc, s, style, lang, ntoc);
		return;
	}
	for (int i = 0; DEFAULT_SECTIONS[i]; i++) {
		json_t *s = json_string(DEFAULT_SECTIONS[i]);
		if (!s) {
			bs->oom = true;
			return;
		}
		add_section(bs, doc, s, style, lang, ntoc);
		json_decref(s);
	}
}

/* ---------------------------------------------------------------- pages */

static struct rgb parse_colour(const char *s, struct rgb dflt)
{
	unsigned v[6];
	if (!s || s[0] != '#')
		return dflt;
	size_t n = strlen(s + 1);
	if (n != 3 && n != 6)
		return dflt;
	for (size_t i = 0; i < n; i++) {
		char c = (char)tolower((unsigned char)s[1 + i]);
		if (c >= '0' && c <= '9')
			v[i] = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v[i] = (unsigned)(c - 'a' + 10);
		else
			return dflt;
	}
	if (n == 3)
		return (struct rgb){v[0] * 17 / 255.0, v[1] * 17 / 255.0, v[2] * 17 / 255.0};
	return (struct rgb){(v[0] * 16 + v[1]) / 255.0, (v[2] * 16 + v[3]) / 255.0, (v[4] * 16 + v[5]) / 255.0};
}

static void set_colour(cairo_t *cr, struct rgb c)
{
	cairo_set_source_rgb(cr, c.r, c.g, c.b);
}

static PangoLayout *new_layout(struct flow *f, const char *font, double width)
{
	PangoLayout *l = pango_layout_new(f->pc);
	PangoFontDescription *fd = pango_font_description_from_string(font);
	pango_layout_set_font_description(l, fd);
	pango_font_description_free(fd);
	pango_layout_set_width(l, (int)(width * PANGO_SCALE));
	pango_layout_set_wrap(l, PANGO_WRAP_WORD_CHAR);
	return l;
}

/* Sets MARKUP, or its text when pango refuses it as markup. */
static void set_markup(PangoLayout *l, const char *markup)
{
	if (pango_parse_markup(markup, -1, 0, NULL, NULL, NULL, NULL))
		pango_layout_set_markup(l, markup, -1);
	else
		pango_layout_set_text(l, markup, -1);
}

/* A one-line text at X, Y (its top), right-aligned at X when RIGHT. */
static void draw_line(struct flow *f, const char *font, const char *text, double x, double y, double width, bool right,
		      struct rgb c)
{
	PangoLayout *l = new_layout(f, font, width);
	pango_layout_set_ellipsize(l, PANGO_ELLIPSIZE_END);
	pango_layout_set_alignment(l, right ? PANGO_ALIGN_RIGHT : PANGO_ALIGN_LEFT);
	pango_layout_set_text(l, text, -1);
	set_colour(f->cr, c);
	cairo_move_to(f->cr, x, y);
	pango_cairo_show_layout(f->cr, l);
	g_object_unref(l);
}

/* Ends the current page: running header and page number (not on the
 * cover), then a new page. */
static void end_page(struct flow *f)
{
	if (f->real && f->page > 1) {
		draw_line(f, FONT_SANS " Bold 8", f->name, MARGIN_L, 40, CONTENT_W * 0.45, false, f->primary);
		draw_line(f, FONT_SANS " 8", f->title, MARGIN_L + CONTENT_W * 0.45, 40, CONTENT_W * 0.55, true, f->muted);
		set_colour(f->cr, f->primary);
		cairo_set_line_width(f->cr, 0.6);
		cairo_move_to(f->cr, MARGIN_L, 56);
		cairo_line_to(f->cr, PAGE_W - MARGIN_R, 56);
		cairo_stroke(f->cr);
		char num[64];
		snprintf(num, sizeof(num), "%d / %d", f->page, f->total);
		draw_line(f, FONT_SANS " 8", num, MARGIN_L, PAGE_H - 48, CONTENT_W, true, f->muted);
	}
	cairo_show_page(f->cr);
	f->page++;
	f->y = MARGIN_T;
}

static const char *font_of(enum block_kind k)
{
	switch (k) {
	case B_H1: return FONT_SANS " Bold 20";
	case B_H2: return FONT_SANS " Bold 13.5";
	case B_H3: return FONT_SANS " Bold 10.5";
	case B_LEAD: return FONT_SANS " Italic 15";
	case B_NOTE: return FONT_SANS " 9";
	default: return FONT_SANS " 10.5";
	}
}

static double space_before(enum block_kind k)
{
	switch (k) {
	case B_H2: return 16;
	case B_H3: return 10;
	case B_ITEM: return 3;
	default: return 9;
	}
}

/* Lines of a laid out paragraph: their tops, bottoms and baselines in
 * points from the layout's top. */
struct lines {
	int n;
	double *top, *bottom, *base, *x;
	PangoLayoutLine **line;
};

static int measure(PangoLayout *l, struct lines *ls)
{
	int n = pango_layout_get_line_count(l);
	ls->n = 0;
	ls->top = malloc(sizeof(double) * (size_t)n);
	ls->bottom = malloc(sizeof(double) * (size_t)n);
	ls->base = malloc(sizeof(double) * (size_t)n);
	ls->x = malloc(sizeof(double) * (size_t)n);
	ls->line = malloc(sizeof(*ls->line) * (size_t)n);
	if (!ls->top || !ls->bottom || !ls->base || !ls->x || !ls->line)
		return -1;
	PangoLayoutIter *it = pango_layout_get_iter(l);
	do {
		if (ls->n >= n)
			break;
		PangoRectangle logical;
		pango_layout_iter_get_line_extents(it, NULL, &logical);
		ls->top[ls->n] = logical.y / (double)PANGO_SCALE;
		ls->bottom[ls->n] = (logical.y + logical.height) / (double)PANGO_SCALE;
		ls->x[ls->n] = logical.x / (double)PANGO_SCALE;
		ls->base[ls->n] = pango_layout_iter_get_baseline(it) / (double)PANGO_SCALE;
		ls->line[ls->n] = pango_layout_iter_get_line_readonly(it);
		ls->n++;
	} while (pango_layout_iter_next_line(it));
	pango_layout_iter_free(it);
	return 0;
}

static void lines_free(struct lines *ls)
{
	free(ls->top);
	free(ls->bottom);
	free(ls->base);
	free(ls->x);
	free(ls->line);
}

/* The height the first lines of block B would need (for keep-with-next). */
static double lead_height(struct flow *f, const struct block *b, int lines)
{
	PangoLayout *l = new_layout(f, font_of(b->kind), CONTENT_W - b->indent - (b->kind == B_ITEM ? 16 : 0));
	set_markup(l, b->markup);
	int n = pango_layout_get_line_count(l);
	int want = n < lines ? n : lines;
	double h = 0;
	PangoLayoutIter *it = pango_layout_get_iter(l);
	for (int i = 0; i < want; i++) {
		PangoRectangle logical;
		pango_layout_iter_get_line_extents(it, NULL, &logical);
		h = (logical.y + logical.height) / (double)PANGO_SCALE;
		if (!pango_layout_iter_next_line(it))
			break;
	}
	pango_layout_iter_free(it);
	g_object_unref(l);
	return h + space_before(b->kind);
}

/* A table's row: its cells side by side in columns of equal width, the
 * row kept whole on a page (a cell taller than a page is cut short with
 * an ellipsis), a hairline under it. */
static int flow_row(struct flow *f, const struct block *b)
{
	double bottom = PAGE_H - MARGIN_B, pad = 4;
	int n = b->ncells > 0 ? b->ncells : 1;
	double colw = CONTENT_W / n, h = 0;
	PangoLayout *cell[ROW_CELLS_MAX] = {0};
	if (b->first && f->y > MARGIN_T)
		f->y += 9;
	for (int i = 0; i < b->ncells; i++) {
		cell[i] = new_layout(f, b->header ? FONT_SANS " Bold 9.5" : FONT_SANS " 9.5", colw - 2 * pad);
		set_markup(cell[i], b->cells[i]);
		pango_layout_set_height(cell[i], (int)((bottom - MARGIN_T - 2 * pad) * PANGO_SCALE));
		pango_layout_set_ellipsize(cell[i], PANGO_ELLIPSIZE_END);
		int ch;
		pango_layout_get_size(cell[i], NULL, &ch);
		if (ch / (double)PANGO_SCALE > h)
			h = ch / (double)PANGO_SCALE;
	}
	double rowh = h + 2 * pad;
	if (f->y + rowh > bottom && f->y > MARGIN_T)
		end_page(f);
	if (f->real) {
		if (b->header) {
			cairo_set_source_rgba(f->cr, f->primary.r, f->primary.g, f->primary.b, 0.12);
			cairo_rectangle(f->cr, MARGIN_L, f->y, CONTENT_W, rowh);
			cairo_fill(f->cr);
		}
		for (int i = 0; i < b->ncells; i++) {
			set_colour(f->cr, b->header ? f->primary : f->text);
			cairo_move_to(f->cr, MARGIN_L + i * colw + pad, f->y + pad);
			pango_cairo_show_layout(f->cr, cell[i]);
		}
		set_colour(f->cr, b->header ? f->primary : f->muted);
		cairo_set_line_width(f->cr, b->header ? 0.8 : 0.3);
		cairo_move_to(f->cr, MARGIN_L, f->y + rowh);
		cairo_line_to(f->cr, PAGE_W - MARGIN_R, f->y + rowh);
		cairo_stroke(f->cr);
	}
	f->y += rowh;
	for (int i = 0; i < b->ncells; i++)
		g_object_unref(cell[i]);
	return f->page > PDF_PAGES_MAX ? -1 : 0;
}

static int flow_block(struct flow *f, const struct block *b, const struct block *next)
{
	double bottom = PAGE_H - MARGIN_B;
	if (b->kind == B_ROW)
		return flow_row(f, b);
	if (b->kind == B_H1) {
		if (f->y > MARGIN_T || f->page <= 2)
			end_page(f);
		if (b->toc >= 0 && b->toc < f->ntoc) {
			if (!f->real)
				f->toc_page[b->toc] = f->page;
			else {
				char dest[32];
				snprintf(dest, sizeof(dest), "page=%d", f->page);
				cairo_pdf_surface_add_outline(f->surface, CAIRO_PDF_OUTLINE_ROOT, f->toc_title[b->toc], dest, 0);
			}
		}
	} else if (f->y > MARGIN_T) {
		f->y += space_before(b->kind);
	}
	double mark_w = b->kind == B_ITEM ? 16 : 0;
	double x = MARGIN_L + b->indent + mark_w;
	PangoLayout *l = new_layout(f, font_of(b->kind), CONTENT_W - b->indent - mark_w);
	if (b->kind == B_PARA || b->kind == B_ITEM || b->kind == B_LEAD)
		pango_layout_set_line_spacing(l, 1.25f);
	set_markup(l, b->markup);
	struct lines ls;
	if (measure(l, &ls) != 0) {
		lines_free(&ls);
		g_object_unref(l);
		return -1;
	}
	/* A heading stays with the first lines of what follows it. */
	bool heading = b->kind == B_H1 || b->kind == B_H2 || b->kind == B_H3;
	if (heading && ls.n > 0 && f->y > MARGIN_T) {
		double need = ls.bottom[ls.n - 1] + (next ? lead_height(f, next, 2) : 0);
		if (f->y + need > bottom && need < bottom - MARGIN_T)
			end_page(f);
	}
	struct rgb colour = heading ? f->primary : b->kind == B_NOTE ? f->muted : f->text;
	int i = 0;
	while (i < ls.n) {
		/* The lines that fit from line I on. */
		int k = 0;
		while (i + k < ls.n && f->y + (ls.bottom[i + k] - ls.top[i]) <= bottom)
			k++;
		int rest = ls.n - i;
		if (k < rest) {
			/* No widow: one line alone at a page's top takes another with it. */
			if (rest - k == 1 && k >= 2)
				k--;
			/* No orphan: one line alone at a page's bottom goes with the rest. */
			if (k == 1 && rest >= 2)
				k = 0;
			if (heading)
				k = 0;
			if (k == 0 && f->y <= MARGIN_T)
				k = 1;  /* taller than a page: at least one line a page */
		}
		if (k == 0) {
			end_page(f);
			continue;
		}
		if (f->real) {
			set_colour(f->cr, colour);
			for (int j = i; j < i + k; j++) {
				cairo_move_to(f->cr, x + ls.x[j], f->y + (ls.base[j] - ls.top[i]));
				pango_cairo_show_layout_line(f->cr, ls.line[j]);
			}
			if (i == 0 && b->mark[0]) {
				PangoLayout *m = new_layout(f, font_of(b->kind), mark_w);
				pango_layout_set_text(m, b->mark, -1);
				set_colour(f->cr, f->primary);
				cairo_move_to(f->cr, MARGIN_L + b->indent, f->y + (ls.base[0] - ls.top[0]) -
										 pango_layout_get_baseline(m) / (double)PANGO_SCALE);
				pango_cairo_show_layout(f->cr, m);
				g_object_unref(m);
			}
			if (b->bar) {
				set_colour(f->cr, f->primary);
				cairo_rectangle(f->cr, MARGIN_L + b->indent - 10, f->y, 2.5, ls.bottom[i + k - 1] - ls.top[i]);
				cairo_fill(f->cr);
			}
			if (b->kind == B_H1) {
				cairo_rectangle(f->cr, MARGIN_L, f->y + ls.bottom[i + k - 1] - ls.top[i] + 6, 36, 3);
				cairo_fill(f->cr);
			}
		}
		f->y += ls.bottom[i + k - 1] - ls.top[i];
		i += k;
		if (f->page > PDF_PAGES_MAX) {
			lines_free(&ls);
			g_object_unref(l);
			return -1;
		}
	}
	if (b->kind == B_H1)
		f->y += 22;
	else if (b->kind == B_LEAD)
		f->y += 8;
	lines_free(&ls);
	g_object_unref(l);
	return 0;
}

/* Reading a PNG from memory for cairo. */
struct png_src {
	const unsigned char *p;
	size_t left;
};

static cairo_status_t png_read(void *closure, unsigned char *data, unsigned int length)
{
	struct png_src *s = closure;
	if (length > s->left)
		return CAIRO_STATUS_READ_ERROR;
	memcpy(data, s->p, length);
	s->p += length;
	s->left -= length;
	return CAIRO_STATUS_SUCCESS;
}

static void draw_cover(struct flow *f, const json_t *doc, const json_t *style, const char *lang,
		       const unsigned char *logo, size_t logo_len)
{
	cairo_t *cr = f->cr;
	double top = 70;
	if (logo && logo_len > 8) {
		struct png_src src = {logo, logo_len};
		cairo_surface_t *img = cairo_image_surface_create_from_png_stream(png_read, &src);
		if (cairo_surface_status(img) == CAIRO_STATUS_SUCCESS) {
			double w = cairo_image_surface_get_width(img), h = cairo_image_surface_get_height(img);
			if (w > 0 && h > 0) {
				double scale = fmin(180.0 / w, 64.0 / h);
				cairo_save(cr);
				cairo_translate(cr, MARGIN_L, top);
				cairo_scale(cr, scale, scale);
				cairo_set_source_surface(cr, img, 0, 0);
				cairo_paint(cr);
				cairo_restore(cr);
				top += h * scale + 18;
			}
		}
		cairo_surface_destroy(img);
	}
	draw_line(f, FONT_SANS " Bold 15", f->name, MARGIN_L, top, CONTENT_W, false, f->primary);
	/* The band in the municipality's colour. */
	double band_top = 250, band_h = 360;
	set_colour(cr, f->primary);
	cairo_rectangle(cr, 0, band_top, PAGE_W, band_h);
	cairo_fill(cr);
	struct rgb white = {1, 1, 1};
	draw_line(f, FONT_SANS " Bold 9", label(style, "report_kind"), MARGIN_L, band_top + 36, CONTENT_W, false, white);
	PangoLayout *l = new_layout(f, FONT_SANS " Bold 28", CONTENT_W);
	char *t = pdf_typography(f->title, lang);
	pango_layout_set_text(l, t ? t : f->title, -1);
	free(t);
	pango_layout_set_height(l, -4);
	pango_layout_set_ellipsize(l, PANGO_ELLIPSIZE_END);
	set_colour(cr, white);
	cairo_move_to(cr, MARGIN_L, band_top + 58);
	pango_cairo_show_layout(cr, l);
	int th;
	pango_layout_get_size(l, NULL, &th);
	g_object_unref(l);
	const json_t *q = json_object_get(doc, "question");
	const char *question = jstr(q, "text");
	if (!question)
		question = jstr(json_object_get(doc, "table"), "question");
	if (question) {
		double qy = band_top + 58 + th / (double)PANGO_SCALE + 20;
		l = new_layout(f, FONT_SANS " Italic 14", CONTENT_W);
		pango_layout_set_line_spacing(l, 1.2f);
		char *qt = pdf_typography(question, lang);
		pango_layout_set_text(l, qt ? qt : question, -1);
		free(qt);
		pango_layout_set_height(l, (int)((band_top + band_h - 24 - qy) * PANGO_SCALE));
		pango_layout_set_ellipsize(l, PANGO_ELLIPSIZE_END);
		cairo_move_to(cr, MARGIN_L, qy);
		pango_cairo_show_layout(cr, l);
		g_object_unref(l);
	}
	const char *pub = jstr(doc, "published_on");
	if (pub) {
		char date[128], line[300];
		date_text(pub, lang, date, sizeof(date));
		snprintf(line, sizeof(line), "%s %s", label(style, "published"), date);
		draw_line(f, FONT_SANS " 10", line, MARGIN_L, band_top + band_h + 30, CONTENT_W, false, f->text);
	}
}

static void draw_contents(struct flow *f, const json_t *style)
{
	f->y = MARGIN_T;
	draw_line(f, FONT_SANS " Bold 20", label(style, "contents"), MARGIN_L, f->y, CONTENT_W, false, f->primary);
	set_colour(f->cr, f->primary);
	cairo_rectangle(f->cr, MARGIN_L, f->y + 34, 36, 3);
	cairo_fill(f->cr);
	double y = f->y + 60;
	for (int i = 0; i < f->ntoc && y < PAGE_H - MARGIN_B; i++) {
		char num[16];
		snprintf(num, sizeof(num), "%d", f->toc_page[i]);
		draw_line(f, FONT_SANS " 11.5", f->toc_title[i], MARGIN_L, y, CONTENT_W - 50, false, f->text);
		draw_line(f, FONT_SANS " Bold 11.5", num, MARGIN_L, y, CONTENT_W, true, f->primary);
		set_colour(f->cr, f->muted);
		cairo_set_line_width(f->cr, 0.3);
		cairo_move_to(f->cr, MARGIN_L, y + 20);
		cairo_line_to(f->cr, PAGE_W - MARGIN_R, y + 20);
		cairo_stroke(f->cr);
		y += 28;
	}
}

static cairo_status_t discard(void *closure, const unsigned char *data, unsigned int length)
{
	(void)closure;
	(void)data;
	(void)length;
	return CAIRO_STATUS_SUCCESS;
}

static cairo_status_t collect(void *closure, const unsigned char *data, unsigned int length)
{
	struct buf *b = closure;
	buf_add(b, (const char *)data, length);
	return b->oom ? CAIRO_STATUS_NO_MEMORY : CAIRO_STATUS_SUCCESS;
}

/* One flow of the blocks onto pages; REAL draws into OUT. */
static int run_flow(struct flow *f, const struct blocks *bs, const json_t *doc, const json_t *style, const char *lang,
		    const unsigned char *logo, size_t logo_len, struct buf *out)
{
	f->surface = cairo_pdf_surface_create_for_stream(f->real ? collect : discard, out, PAGE_W, PAGE_H);
	if (f->real) {
		cairo_pdf_surface_set_metadata(f->surface, CAIRO_PDF_METADATA_TITLE, f->title);
		cairo_pdf_surface_set_metadata(f->surface, CAIRO_PDF_METADATA_AUTHOR, f->name);
		cairo_pdf_surface_set_metadata(f->surface, CAIRO_PDF_METADATA_CREATOR, "Aantafel");
	}
	f->cr = cairo_create(f->surface);
	f->pc = pango_cairo_create_context(f->cr);
	cairo_font_options_t *fo = cairo_font_options_create();
	cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
	cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
	pango_cairo_context_set_font_options(f->pc, fo);
	cairo_font_options_destroy(fo);
	pango_context_set_language(f->pc, f->lang);
	f->page = 1;
	f->y = MARGIN_T;
	int rc = 0;
	if (f->real)
		draw_cover(f, doc, style, lang, logo, logo_len);
	end_page(f);
	if (f->real)
		draw_contents(f, style);
	for (size_t i = 0; i < bs->n && rc == 0; i++)
		rc = flow_block(f, &bs->v[i], i + 1 < bs->n ? &bs->v[i + 1] : NULL);
	end_page(f);
	int pages = f->page - 1;
	g_object_unref(f->pc);
	cairo_destroy(f->cr);
	cairo_surface_finish(f->surface);
	if (cairo_surface_status(f->surface) != CAIRO_STATUS_SUCCESS)
		rc = -1;
	cairo_surface_destroy(f->surface);
	f->total = pages;
	return rc;
}

void pdf_fini(void)
{
	if (hyph_nl)
		hnj_hyphen_free(hyph_nl);
	if (hyph_en)
		hnj_hyphen_free(hyph_en);
	hyph_nl = hyph_en = NULL;
	pango_cairo_font_map_set_default(NULL);
	cairo_debug_reset_static_data();
	FcFini();
}

int pdf_render_report(const json_t *doc, const json_t *style, const unsigned char *logo, size_t logo_len,
		      unsigned char **out, size_t *outlen, char *err, size_t errlen)
{
	*out = NULL;
	*outlen = 0;
	if (!json_is_object(doc) || !json_is_object(style)) {
		snprintf(err, errlen, "the document and its style must be objects");
		return -1;
	}
	const char *lang = jstr(style, "lang");
	if (!lang || (strcmp(lang, "nl") != 0 && strcmp(lang, "en") != 0))
		lang = "nl";
	struct blocks bs = {0};
	int ntoc = 0;
	build_blocks(&bs, doc, style, lang, &ntoc);
	struct flow f = {
		.lang = pango_language_from_string(lang),
		.name = jstr(style, "name") ? jstr(style, "name") : "",
		.title = jstr(json_object_get(doc, "table"), "title") ? jstr(json_object_get(doc, "table"), "title") : "",
		.primary = parse_colour(jstr(style, "primary"), (struct rgb){0.1, 0.3, 0.5}),
		.text = parse_colour(jstr(style, "text"), (struct rgb){0.11, 0.11, 0.11}),
		.muted = {0.42, 0.42, 0.42},
		.ntoc = ntoc,
	};
	f.toc_page = calloc((size_t)ntoc + 1, sizeof(int));
	f.toc_title = calloc((size_t)ntoc + 1, sizeof(char *));
	int rc = bs.oom || !f.toc_page || !f.toc_title ? -1 : 0;
	for (size_t i = 0; rc == 0 && i < bs.n; i++) {
		if (bs.v[i].toc < 0)
			continue;
		/* The contents' line: the heading's text without markup. */
		char *text = NULL;
		if (!pango_parse_markup(bs.v[i].markup, -1, 0, NULL, &text, NULL, NULL))
			text = g_strdup(bs.v[i].markup);
		f.toc_title[bs.v[i].toc] = text;
	}
	struct buf pdf = {0};
	if (rc == 0) {
		f.real = false;
		rc = run_flow(&f, &bs, doc, style, lang, logo, logo_len, NULL);
	}
	if (rc == 0) {
		f.real = true;
		rc = run_flow(&f, &bs, doc, style, lang, logo, logo_len, &pdf);
	}
	for (int i = 0; f.toc_title && i < ntoc; i++)
		g_free(f.toc_title[i]);
	free(f.toc_title);
	free(f.toc_page);
	for (size_t i = 0; i < bs.n; i++) {
		free(bs.v[i].markup);
		for (int k = 0; k < bs.v[i].ncells; k++)
			free(bs.v[i].cells[k]);
	}
	free(bs.v);
	if (rc != 0 || pdf.oom || !pdf.s) {
		free(pdf.s);
		snprintf(err, errlen, f.page > PDF_PAGES_MAX ? "the report would have more than %d pages"
							       : "the PDF could not be made (out of memory)",
			 PDF_PAGES_MAX);
		return -1;
	}
	*out = (unsigned char *)pdf.s;
	*outlen = pdf.n;
	return 0;
}
