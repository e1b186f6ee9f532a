/* The template engine's context analysis: every path through the source
 * is followed as an HTML tokenizer would read it, and each interpolation
 * gets the escaping of the place it lands in (text, RCDATA, attribute, URL
 * start or part), or the template is refused where no escaping is safe. */
#include "template_internal.h"

#include <lauxlib.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Elements whose content the browser does not parse as markup. */
struct rawel {
	const char *name;
	uint8_t len, rcdata, noend;
};

static const struct rawel raw_elems[] = {
	{"", 0, 0, 0},
	{"script", 6, 0, 0}, {"style", 5, 0, 0}, {"textarea", 8, 1, 0}, {"title", 5, 1, 0},
	{"xmp", 3, 0, 0}, {"iframe", 6, 0, 0}, {"noembed", 7, 0, 0}, {"noframes", 8, 0, 0},
	{"plaintext", 9, 0, 1},
};
#define RAW_SCRIPT 1
#define RAW_STYLE 2

/* Attributes whose value is a URL (after Go's html/template attrTypeMap,
 * plus SVG animation targets). */
static const char *const url_attrs[] = {
	"href", "src", "action", "formaction", "cite", "poster", "background", "data", "manifest",
	"ping", "archive", "classid", "codebase", "icon", "longdesc", "profile", "usemap", "xmlns",
	"lowsrc", "dynsrc", "values", "from", "to", "by", NULL,
};

static int walk(struct cstate *cs, uint32_t first, struct hctx *h);
static int walk_if(struct cstate *cs, uint32_t i, struct hctx *h);
static int walk_for(struct cstate *cs, uint32_t i, struct hctx *h);
static int feed(struct cstate *cs, const struct node *n, struct hctx *h);
static int interp(struct cstate *cs, struct node *n, struct hctx *h);
static int placement(struct cstate *cs, struct node *n, const struct hctx *h, const char *what);
static int hstep(struct hctx *h, unsigned char c, const char **why);
static int rawtext_step(struct hctx *h, unsigned char c, const char **why);
static void comment_step(struct hctx *h, unsigned char c);
static void start_tag(struct hctx *h, int endtag, unsigned char c);
static void start_attr(struct hctx *h, unsigned char c);
static void end_of_tag(struct hctx *h);
static void classify(struct hctx *h);
static int code_url(const struct hctx *h);
static uint8_t tag_rawk(const struct hctx *h);
static int url_char(struct hctx *h, unsigned char c, const char **why);
static int heq(const struct hctx *a, const struct hctx *b);
static int hjoin(struct hctx *a, const struct hctx *b);
static const char *describe(const struct hctx *h, char *buf, size_t n);
static int work(struct cstate *cs, size_t units, uint32_t line);

/* ===================================================== context analysis */

/* Every body that can be rendered somewhere else (a block, an included
 * template) is analysed from HTML text and must end in HTML text, and may
 * only be placed in text or in <title>/<textarea>: so the pieces compose
 * without the analysis of one knowing the others. */
int tmpl_analyse(struct cstate *cs)
{
	struct hctx h;
	memset(&h, 0, sizeof(h));
	if (walk(cs, cs->t->root, &h) != 0)
		return -1;
	if (h.st != H_TEXT) {
		char d[48];
		return tmpl_fail(cs, tmpl_count_nl(cs->src, cs->len) + 1, "template ends inside %s", describe(&h, d, sizeof(d)));
	}
	return 0;
}

static int walk(struct cstate *cs, uint32_t first, struct hctx *h)
{
	struct tmpl *t = cs->t;
	for (uint32_t i = first; i != NONE; i = t->nodes[i].next) {
		struct node *n = &t->nodes[i];
		if (work(cs, 1, n->line) != 0)
			return -1;
		switch (n->kind) {
		case N_TEXT:
			if (feed(cs, n, h) != 0)
				return -1;
			break;
		case N_VAR:
		case N_TRANS:
			if (interp(cs, n, h) != 0)
				return -1;
			break;
		case N_IF:
			if (walk_if(cs, i, h) != 0)
				return -1;
			break;
		case N_FOR:
			if (walk_for(cs, i, h) != 0)
				return -1;
			break;
		case N_INCLUDE:
			if (placement(cs, n, h, "{% include %}") != 0)
				return -1;
			break;
		case N_BLOCK: {
			if (placement(cs, n, h, "{% block %}") != 0)
				return -1;
			struct hctx b;
			memset(&b, 0, sizeof(b));
			if (walk(cs, n->child, &b) != 0)
				return -1;
			if (b.st != H_TEXT) {
				char d[48];
				return tmpl_fail(cs, n->line, "block '%s' ends inside %s", t->pool + n->str,
					    describe(&b, d, sizeof(d)));
			}
			break;
		}
		default:
			break;
		}
	}
	return 0;
}

static int walk_if(struct cstate *cs, uint32_t i, struct hctx *h)
{
	struct tmpl *t = cs->t;
	struct hctx s0 = *h, acc = *h, s = *h;
	int have = 0, has_else = 0;
	for (uint32_t b = i; b != NONE; b = t->nodes[b].alt) {
		if (!t->nodes[b].has_cond)
			has_else = 1;
		s = s0;
		if (walk(cs, t->nodes[b].child, &s) != 0)
			return -1;
		if (!have) {
			acc = s;
			have = 1;
		} else if (hjoin(&acc, &s) != 0) {
			goto differ;
		}
	}
	if (!has_else && hjoin(&acc, &s0) != 0) {
		s = s0;
		goto differ;
	}
	*h = acc;
	return 0;
differ:;
	char d1[48], d2[48];
	return tmpl_fail(cs, t->nodes[i].line, "the branches of this {%% if %%} end in different HTML contexts (%s and %s)",
		    describe(&acc, d1, sizeof(d1)), describe(&s, d2, sizeof(d2)));
}

/* A loop body runs after itself: it must end in a context it can start
 * in. One extra pass from the joined context settles it. */
static int walk_for(struct cstate *cs, uint32_t i, struct hctx *h)
{
	struct tmpl *t = cs->t;
	const struct node *n = &t->nodes[i];
	struct hctx s0 = *h, s = *h, j = *h, e;
	char d1[48], d2[48];
	if (walk(cs, n->child, &s) != 0)
		return -1;
	if (!heq(&s, &s0)) {
		if (hjoin(&j, &s) != 0)
			goto differ;
		s = j;
		if (walk(cs, n->child, &s) != 0)
			return -1;
		struct hctx k = j;
		if (hjoin(&k, &s) != 0 || !heq(&k, &j))
			goto differ;
	}
	if (n->alt != NONE) {
		e = s0;
		if (walk(cs, n->alt, &e) != 0)
			return -1;
		if (hjoin(&j, &e) != 0)
			return tmpl_fail(cs, n->line, "the {%% else %%} of this {%% for %%} ends in %s, the loop in %s",
				    describe(&e, d1, sizeof(d1)), describe(&j, d2, sizeof(d2)));
	}
	*h = j;
	return 0;
differ:
	return tmpl_fail(cs, n->line, "the body of this {%% for %%} starts in %s but ends in %s",
		    describe(&s0, d1, sizeof(d1)), describe(&s, d2, sizeof(d2)));
}

static int feed(struct cstate *cs, const struct node *n, struct hctx *h)
{
	const unsigned char *s = (const unsigned char *)cs->t->pool + n->str;
	uint32_t line = n->line;
	if (work(cs, n->len, n->line) != 0)
		return -1;
	for (uint32_t i = 0; i < n->len; i++) {
		const char *why = NULL;
		if (hstep(h, s[i], &why) != 0)
			return tmpl_fail(cs, line, "%s", why);
		if (s[i] == '\n')
			line++;
	}
	return 0;
}

static int interp(struct cstate *cs, struct node *n, struct hctx *h)
{
	const char *why = NULL;
	switch (h->st) {
	case H_TEXT:
		n->ctx = E_TEXT;
		return 0;
	case H_RCDATA:
		if (h->rm != 0)
			return tmpl_fail(cs, n->line, "interpolation right after '<' is not allowed");
		n->ctx = E_RCDATA;
		return 0;
	case H_RAWTEXT:
		return tmpl_fail(cs, n->line, "interpolation in <%s> is not allowed", raw_elems[h->rawk].name);
	case H_VALUE_DQ:
	case H_VALUE_SQ:
		break;
	case H_BEFORE_VALUE:
	case H_VALUE_UQ:
		return tmpl_fail(cs, n->line, "interpolation in an unquoted attribute value is not allowed; put the value in quotes");
	case H_TAG_OPEN:
	case H_END_TAG_OPEN:
	case H_TAG_NAME:
		return tmpl_fail(cs, n->line, "interpolation in a tag name is not allowed");
	case H_MARKUP:
	case H_MARKUP_DASH:
	case H_BOGUS:
	case H_COMMENT:
		return tmpl_fail(cs, n->line, "interpolation in an HTML comment is not allowed");
	default:
		return tmpl_fail(cs, n->line, "interpolation inside an HTML tag is only allowed in a quoted attribute value");
	}
	switch (h->attr) {
	case A_PLAIN:
		n->ctx = E_ATTR;
		return 0;
	case A_JS:
		return tmpl_fail(cs, n->line, "interpolation in event handler attribute '%s' is not allowed", h->an);
	case A_CSS:
		return tmpl_fail(cs, n->line, "interpolation in a style attribute is not allowed");
	case A_SRCSET:
		return tmpl_fail(cs, n->line, "interpolation in a srcset attribute is not allowed");
	case A_SRCDOC:
		return tmpl_fail(cs, n->line, "interpolation in a srcdoc attribute is not allowed");
	case A_LONG:
		return tmpl_fail(cs, n->line, "interpolation in an attribute with a name of over %zu characters is not allowed",
			    sizeof(h->an) - 1);
	default:
		break;
	}
	/* a URL */
	switch (h->url) {
	case U_START:
		if (h->attr == A_URL_FIXED)
			return tmpl_fail(cs, n->line, "the start of the %s URL of <%.*s> must be written in the template, "
				    "it loads code into the page", h->an, h->tlen == 0xff ? 1 : (int)h->tlen,
				    h->tlen == 0xff ? "?" : h->tag);
		n->ctx = E_URL_START;
		h->url = U_SCHEME;
		h->dyn = 1;
		return 0;
	case U_SCHEME:
		if (h->amb)
			why = "interpolation after '&' in the scheme part of a URL is not allowed";
		break;
	default:
		if (h->bad)
			why = "interpolation in a URL whose scheme is not http, https, mailto or tel is not allowed";
		break;
	}
	if (why)
		return tmpl_fail(cs, n->line, "%s", why);
	n->ctx = E_URL_PART;
	if (h->url == U_SCHEME)
		h->dyn = 1;
	return 0;
}

static int placement(struct cstate *cs, struct node *n, const struct hctx *h, const char *what)
{
	if (h->st == H_TEXT || (h->st == H_RCDATA && h->rm == 0)) {
		n->ctx = h->st == H_RCDATA;
		return 0;
	}
	char d[48];
	return tmpl_fail(cs, n->line, "%s is only allowed in HTML text, not in %s", what, describe(h, d, sizeof(d)));
}

/* One byte of literal template text. Returns -1 with WHY for text that
 * would make the context unknowable. */
static int hstep(struct hctx *h, unsigned char c, const char **why)
{
again:
	switch (h->st) {
	case H_TEXT:
		if (c == '<')
			h->st = H_TAG_OPEN;
		return 0;
	case H_RCDATA:
	case H_RAWTEXT:
		return rawtext_step(h, c, why);
	case H_TAG_OPEN:
		if (IS_ALPHA(c)) {
			start_tag(h, 0, c);
		} else if (c == '/') {
			h->st = H_END_TAG_OPEN;
		} else if (c == '!') {
			h->st = H_MARKUP;
		} else if (c == '?') {
			h->st = H_BOGUS;
		} else {
			h->st = H_TEXT;
			goto again;
		}
		return 0;
	case H_END_TAG_OPEN:
		if (IS_ALPHA(c))
			start_tag(h, 1, c);
		else
			h->st = c == '>' ? H_TEXT : H_BOGUS;
		return 0;
	case H_MARKUP:
		if (c == '-') {
			h->st = H_MARKUP_DASH;
			return 0;
		}
		h->st = H_BOGUS;
		goto again;
	case H_MARKUP_DASH:
		if (c == '-') {
			h->st = H_COMMENT;
			h->rm = CM_START;
			return 0;
		}
		h->st = H_BOGUS;
		goto again;
	case H_BOGUS:
		if (c == '>')
			h->st = H_TEXT;
		return 0;
	case H_COMMENT:
		comment_step(h, c);
		return 0;
	case H_TAG_NAME:
		if (IS_WS(c) || c == '/' || c == '>') {
			h->rawk = tag_rawk(h);
			if (c == '>')
				end_of_tag(h);
			else
				h->st = H_BEFORE_ATTR;
		} else if (h->tlen != 0xff) {
			if (h->tlen < sizeof(h->tag))
				h->tag[h->tlen++] = LOWER(c);
			else
				h->tlen = 0xff;
		}
		return 0;
	case H_BEFORE_ATTR:
		if (c == '>')
			end_of_tag(h);
		else if (!IS_WS(c) && c != '/')
			start_attr(h, c);
		return 0;
	case H_ATTR_NAME:
		if (IS_WS(c)) {
			classify(h);
			h->st = H_AFTER_ATTR_NAME;
		} else if (c == '/') {
			h->st = H_BEFORE_ATTR;
		} else if (c == '>') {
			end_of_tag(h);
		} else if (c == '=') {
			classify(h);
			h->st = H_BEFORE_VALUE;
		} else if (h->alen != 0xff) {
			if (h->alen < sizeof(h->an) - 1)
				h->an[h->alen++] = LOWER(c);
			else
				h->alen = 0xff;
		}
		return 0;
	case H_AFTER_ATTR_NAME:
		if (c == '/')
			h->st = H_BEFORE_ATTR;
		else if (c == '=')
			h->st = H_BEFORE_VALUE;
		else if (c == '>')
			end_of_tag(h);
		else if (!IS_WS(c))
			start_attr(h, c);
		return 0;
	case H_ATTR_JOIN:
		if (IS_WS(c)) {
			h->pend = 0;
		} else if (c == '/') {
			h->st = H_BEFORE_ATTR;
		} else if (c == '>') {
			end_of_tag(h);
		} else if (c == '=' || h->pend) {
			*why = "after this {% if %} or {% for %} it is unclear which attribute this is; end the "
			       "attribute inside the branch or put a space after it";
			return -1;
		} else {
			start_attr(h, c);
		}
		return 0;
	case H_BEFORE_VALUE:
		if (IS_WS(c))
			return 0;
		h->url = U_START;
		h->dyn = h->amb = h->bad = 0;
		h->slen = 0;
		if (c == '"') {
			h->st = H_VALUE_DQ;
		} else if (c == '\'') {
			h->st = H_VALUE_SQ;
		} else if (c == '>') {
			end_of_tag(h);
		} else {
			h->st = H_VALUE_UQ;
			goto again;
		}
		return 0;
	case H_VALUE_DQ:
		if (c == '"') {
			h->st = H_BEFORE_ATTR;
			return 0;
		}
		return url_char(h, c, why);
	case H_VALUE_SQ:
		if (c == '\'') {
			h->st = H_BEFORE_ATTR;
			return 0;
		}
		return url_char(h, c, why);
	case H_VALUE_UQ:
		if (IS_WS(c)) {
			h->st = H_BEFORE_ATTR;
			return 0;
		}
		if (c == '>') {
			end_of_tag(h);
			return 0;
		}
		return url_char(h, c, why);
	default:
		return 0;
	}
}

/* Inside <script>/<style> (RAWTEXT) or <title>/<textarea> (RCDATA): wait
 * for "</name" followed by a tag-ending character. */
static int rawtext_step(struct hctx *h, unsigned char c, const char **why)
{
	const struct rawel *e = &raw_elems[h->rawk];
	int rc = h->st == H_RCDATA;
	if (e->noend)
		return 0;
	if (h->rm == 0) {
		if (c == '<')
			h->rm = 1;
		return 0;
	}
	if (h->rm == 1) {
		if (c == '/') {
			h->rm = 2;
			return 0;
		}
		/* Inside <svg> these elements are parsed as markup: refuse
		 * what would make the two readings differ. */
		if (rc && (IS_ALPHA(c) || c == '!' || c == '?')) {
			*why = "markup inside <title> or <textarea> is not supported (the browser shows it as text)";
			return -1;
		}
		if ((h->rawk == RAW_SCRIPT || h->rawk == RAW_STYLE) && c == '!') {
			*why = "'<!' inside <script> or <style> is not supported";
			return -1;
		}
		h->rm = c == '<';
		return 0;
	}
	if (h->rm < 2 + e->len) {
		if (LOWER(c) == e->name[h->rm - 2]) {
			h->rm++;
			return 0;
		}
		if (rc && (h->rm > 2 || IS_ALPHA(c))) {
			*why = "markup inside <title> or <textarea> is not supported (the browser shows it as text)";
			return -1;
		}
		h->rm = c == '<';
		return 0;
	}
	if (IS_WS(c) || c == '/') {
		h->st = H_BEFORE_ATTR;
		h->endtag = 1;
		h->rawk = 0;
		h->rm = 0;
		return 0;
	}
	if (c == '>') {
		h->st = H_TEXT;
		h->rawk = 0;
		h->rm = 0;
		return 0;
	}
	if (rc) {
		*why = "markup inside <title> or <textarea> is not supported (the browser shows it as text)";
		return -1;
	}
	h->rm = c == '<';
	return 0;
}

/* HTML5 comment states, only as far as they decide where it ends. */
static void comment_step(struct hctx *h, unsigned char c)
{
	switch (h->rm) {
	case CM_START:
	case CM_START_DASH:
		if (c == '>') {
			h->st = H_TEXT;
			h->rm = 0;
		} else if (c == '-') {
			h->rm = h->rm == CM_START ? CM_START_DASH : CM_DASH2;
		} else {
			h->rm = CM_NONE;
		}
		return;
	case CM_DASH2:
		if (c == '>') {
			h->st = H_TEXT;
			h->rm = 0;
		} else if (c == '!') {
			h->rm = CM_BANG;
		} else if (c != '-') {
			h->rm = CM_NONE;
		}
		return;
	case CM_BANG:
		if (c == '>') {
			h->st = H_TEXT;
			h->rm = 0;
		} else {
			h->rm = c == '-' ? CM_DASH : CM_NONE;
		}
		return;
	case CM_DASH:
		h->rm = c == '-' ? CM_DASH2 : CM_NONE;
		return;
	default:
		h->rm = c == '-' ? CM_DASH : CM_NONE;
		return;
	}
}

static void start_tag(struct hctx *h, int endtag, unsigned char c)
{
	h->st = H_TAG_NAME;
	h->endtag = (uint8_t)endtag;
	h->rawk = 0;
	h->tlen = 1;
	h->tag[0] = LOWER(c);
}

static void start_attr(struct hctx *h, unsigned char c)
{
	h->st = H_ATTR_NAME;
	h->attr = A_PLAIN;
	h->alen = 1;
	h->an[0] = LOWER(c);
	h->an[1] = '\0';
}

static void end_of_tag(struct hctx *h)
{
	if (!h->endtag && h->rawk) {
		h->st = raw_elems[h->rawk].rcdata ? H_RCDATA : H_RAWTEXT;
		h->rm = 0;
	} else {
		h->st = H_TEXT;
		h->rawk = 0;
	}
	h->endtag = 0;
}

/* The raw-text element a start tag being named opens, or 0. */
static uint8_t tag_rawk(const struct hctx *h)
{
	if (h->st != H_TAG_NAME)
		return h->rawk;
	if (h->endtag || h->tlen == 0xff)
		return 0;
	for (uint8_t k = 1; k < sizeof(raw_elems) / sizeof(raw_elems[0]); k++)
		if (raw_elems[k].len == h->tlen && memcmp(raw_elems[k].name, h->tag, h->tlen) == 0)
			return k;
	return 0;
}

/* Does this attribute load code? An unknown tag (too long, or different
 * in the branches of an {% if %}) might be any of them. */
static int code_url(const struct hctx *h)
{
	static const char *const code[][2] = {
		{"script", "src"}, {"base", "href"}, {"embed", "src"}, {"object", "data"}, {"object", "codebase"},
		{"applet", "code"}, {"applet", "codebase"}, {"applet", "archive"},
	};
	for (size_t i = 0; i < sizeof(code) / sizeof(code[0]); i++)
		if (strcmp(h->an, code[i][1]) == 0 &&
		    (h->tlen == 0xff || (strlen(code[i][0]) == h->tlen && memcmp(h->tag, code[i][0], h->tlen) == 0)))
			return 1;
	return 0;
}

/* After Go's html/template attrType(). */
static void classify(struct hctx *h)
{
	if (h->alen == 0xff) {
		h->attr = A_LONG;
		return;
	}
	h->an[h->alen] = '\0';
	const char *n = h->an;
	const char *colon = strchr(n, ':');
	if (strncmp(n, "data-", 5) == 0) {
		n += 5;
	} else if (colon) {
		if (colon - n == 5 && strncmp(n, "xmlns", 5) == 0) {
			h->attr = A_URL;
			return;
		}
		n = colon + 1;
	}
	for (size_t i = 0; url_attrs[i]; i++)
		if (strcmp(n, url_attrs[i]) == 0) {
			h->attr = code_url(h) ? A_URL_FIXED : A_URL;
			return;
		}
	if (strcmp(n, "style") == 0)
		h->attr = A_CSS;
	else if (strstr(n, "srcset"))
		h->attr = A_SRCSET;
	else if (strcmp(n, "srcdoc") == 0)
		h->attr = A_SRCDOC;
	else if (strncmp(n, "on", 2) == 0)
		h->attr = A_JS;
	else if (strstr(n, "src") || strstr(n, "uri") || strstr(n, "url"))
		h->attr = code_url(h) ? A_URL_FIXED : A_URL;
	else
		h->attr = A_PLAIN;
}

/* Literal bytes of a URL attribute value decide what an interpolation may
 * still change: at the start the whole URL (checked at render time); in
 * the scheme part only percent-encoded bytes (no ':'), and no literal ':'
 * may follow an interpolation there; after a scheme that is not http,
 * https, mailto or tel (javascript:...) nothing at all. A character
 * reference ('&') in the scheme part could hide a ':', so it counts as
 * unknown. */
static int url_char(struct hctx *h, unsigned char c, const char **why)
{
	if (!IS_URL(h->attr))
		return 0;
	switch (h->url) {
	case U_START:
		if (c <= 0x20)
			return 0;
		if (c == '/' || c == '?' || c == '#' || c == ':') {
			h->url = U_REST;
			return 0;
		}
		h->url = U_SCHEME;
		h->slen = 0;
		break;
	case U_SCHEME:
		if (c == '\t' || c == '\n' || c == '\r')
			return 0;       /* the URL parser removes these */
		if (c == '/' || c == '?' || c == '#') {
			h->url = U_REST;
			h->bad = h->amb;
			return 0;
		}
		if (c == ':') {
			if (h->dyn) {
				*why = "':' after an interpolation in the scheme part of a URL is not allowed";
				return -1;
			}
			h->url = U_REST;
			h->bad = h->amb || h->slen == 0xff ||
				 !((h->slen == 4 && memcmp(h->scheme, "http", 4) == 0) ||
				   (h->slen == 5 && memcmp(h->scheme, "https", 5) == 0) ||
				   (h->slen == 6 && memcmp(h->scheme, "mailto", 6) == 0) ||
				   (h->slen == 3 && memcmp(h->scheme, "tel", 3) == 0));
			return 0;
		}
		break;
	default:
		return 0;
	}
	if (c == '&') {
		if (h->dyn) {
			*why = "'&' after an interpolation in the scheme part of a URL is not allowed";
			return -1;
		}
		h->amb = 1;
	}
	if (h->slen != 0xff) {
		if (h->slen < sizeof(h->scheme))
			h->scheme[h->slen++] = LOWER(c);
		else
			h->slen = 0xff;
	}
	return 0;
}

/* Inside a tag but not in a value: <option{% if x %} selected{% end %}>. */
static int is_attrish(uint8_t st)
{
	return st == H_TAG_NAME || st == H_BEFORE_ATTR || st == H_ATTR_NAME || st == H_AFTER_ATTR_NAME ||
	       st == H_ATTR_JOIN;
}

/* The next byte could continue a name (tag or attribute). */
static int name_pending(const struct hctx *h)
{
	return h->st == H_TAG_NAME || h->st == H_ATTR_NAME || (h->st == H_ATTR_JOIN && h->pend);
}

static int heq(const struct hctx *a, const struct hctx *b)
{
	if (a->st != b->st)
		return 0;
	switch (a->st) {
	case H_COMMENT:
		return a->rm == b->rm;
	case H_RCDATA:
	case H_RAWTEXT:
		return a->rawk == b->rawk && a->rm == b->rm;
	case H_TAG_NAME:
		return a->endtag == b->endtag && a->tlen == b->tlen &&
		       (a->tlen == 0xff || memcmp(a->tag, b->tag, a->tlen) == 0);
	case H_BEFORE_ATTR:
		return a->endtag == b->endtag && a->rawk == b->rawk;
	case H_ATTR_NAME:
		return a->endtag == b->endtag && a->rawk == b->rawk && a->alen == b->alen &&
		       (a->alen == 0xff || memcmp(a->an, b->an, a->alen) == 0);
	case H_AFTER_ATTR_NAME:
	case H_BEFORE_VALUE:
		return a->endtag == b->endtag && a->rawk == b->rawk && a->attr == b->attr;
	case H_ATTR_JOIN:
		return a->endtag == b->endtag && a->rawk == b->rawk && a->pend == b->pend;
	case H_VALUE_DQ:
	case H_VALUE_SQ:
	case H_VALUE_UQ:
		if (a->endtag != b->endtag || a->rawk != b->rawk || a->attr != b->attr)
			return 0;
		if (!IS_URL(a->attr))
			return 1;
		if (a->url != b->url || a->dyn != b->dyn || a->amb != b->amb || a->bad != b->bad)
			return 0;
		if (a->url == U_SCHEME && !a->dyn)
			return a->slen == b->slen && (a->slen == 0xff || memcmp(a->scheme, b->scheme, a->slen) == 0);
		return 1;
	default:
		return 1;
	}
}

/* The context that covers both A and B, in A; -1 when there is none. */
static int hjoin(struct hctx *a, const struct hctx *b)
{
	if (heq(a, b))
		return 0;
	if (is_attrish(a->st) && is_attrish(b->st) && a->endtag == b->endtag && tag_rawk(a) == tag_rawk(b)) {
		/* <input {% if x %}checked{% end %}>: the next byte decides */
		a->pend = (uint8_t)(name_pending(a) || name_pending(b));
		a->rawk = tag_rawk(a);
		if (a->tlen != b->tlen || (a->tlen != 0xff && memcmp(a->tag, b->tag, a->tlen) != 0))
			a->tlen = 0xff;
		a->st = H_ATTR_JOIN;
		return 0;
	}
	if ((a->st == H_VALUE_DQ || a->st == H_VALUE_SQ) && a->st == b->st && IS_URL(a->attr) &&
	    a->attr == b->attr && a->endtag == b->endtag && a->rawk == b->rawk) {
		/* Percent-encoding is safe wherever we are; a literal ':'
		 * would not be. */
		if (a->bad || b->bad || a->amb || b->amb)
			return -1;
		a->url = U_SCHEME;
		a->dyn = 1;
		return 0;
	}
	return -1;
}

static const char *describe(const struct hctx *h, char *buf, size_t n)
{
	switch (h->st) {
	case H_TEXT:
		return "HTML text";
	case H_RCDATA:
	case H_RAWTEXT:
		snprintf(buf, n, "<%s>", raw_elems[h->rawk].name);
		return buf;
	case H_MARKUP:
	case H_MARKUP_DASH:
	case H_BOGUS:
	case H_COMMENT:
		return "an HTML comment";
	case H_TAG_OPEN:
	case H_END_TAG_OPEN:
	case H_TAG_NAME:
		return "a tag name";
	case H_VALUE_DQ:
	case H_VALUE_SQ:
	case H_VALUE_UQ:
		return IS_URL(h->attr) ? "a URL attribute value" : "an attribute value";
	default:
		return "an HTML tag";
	}
}

static int work(struct cstate *cs, size_t units, uint32_t line)
{
	cs->work += units;
	if (cs->work > cs->work_max)
		return tmpl_fail(cs, line, "template too complex to analyse");
	return 0;
}
