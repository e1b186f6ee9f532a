/* The template engine's parser: a source becomes a tree of nodes (text,
 * values, translations, if, for, include, block) whose strings live in one
 * pool; errors name the line. */
#include "template_internal.h"

#include <lauxlib.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_comment(struct cstate *cs);
static int parse_var(struct cstate *cs);
static int parse_tag(struct cstate *cs);
static int tag_dispatch(struct cstate *cs, struct tok *tk, size_t nt, uint32_t line);
static int parse_cond(struct cstate *cs, struct tok *tk, size_t nt, uint32_t line, const char *kw, uint8_t *neg,
		      uint32_t *path);
static int parse_path(struct cstate *cs, const char *s, size_t n, uint32_t line, uint32_t *out);
static int check_string(struct cstate *cs, const struct tok *tk, uint32_t line, const char *what);
static int add_text(struct cstate *cs, const char *s, size_t n, uint32_t line);
static uint32_t new_node(struct cstate *cs, uint8_t kind, uint32_t line);
static void append(struct cstate *cs, uint32_t idx);
static int push_open(struct cstate *cs, uint32_t node, uint32_t line);
static int pool_add(struct cstate *cs, const char *s, size_t n, uint32_t *off);
static int grow(void **p, uint32_t *cap, uint32_t need, size_t elem);
static void skip_ws(struct cstate *cs, size_t *p);
static int is_word(unsigned char c);
static int is_ident(const char *s, size_t n);
static int tok_is(const struct tok *tk, const char *w);

/* =============================================================== parsing */

int tmpl_parse(struct cstate *cs)
{
	while (cs->pos < cs->len) {
		size_t start = cs->pos, i = start;
		while (i + 1 < cs->len) {
			const char *q = memchr(cs->src + i, '{', cs->len - i - 1);
			if (!q) {
				i = cs->len;
				break;
			}
			i = (size_t)(q - cs->src);
			char k = cs->src[i + 1];
			if (k == '{' || k == '%' || k == '#')
				break;
			i++;
		}
		if (i + 1 >= cs->len)
			i = cs->len;
		if (i > start && add_text(cs, cs->src + start, i - start, cs->line) != 0)
			return -1;
		cs->pos = i;
		if (i >= cs->len)
			break;
		int rc;
		switch (cs->src[i + 1]) {
		case '#': rc = parse_comment(cs); break;
		case '{': rc = parse_var(cs); break;
		default: rc = parse_tag(cs); break;
		}
		if (rc != 0)
			return -1;
	}
	if (cs->depth > 0) {
		const struct open *o = &cs->open[cs->depth];
		uint8_t k = cs->t->nodes[o->node].kind;
		return tmpl_fail(cs, o->line, "{%% %s %%} is not closed with {%% end %%}",
			    k == N_IF ? "if" : k == N_FOR ? "for" : "block");
	}
	return 0;
}

static int parse_comment(struct cstate *cs)
{
	const char *s = cs->src + cs->pos;
	size_t n = cs->len - cs->pos;
	const char *e = memmem(s + 2, n - 2, "#}", 2);
	if (!e)
		return tmpl_fail(cs, cs->line, "unclosed comment: missing #}");
	size_t end = (size_t)(e - s) + 2;
	cs->line += tmpl_count_nl(s, end);
	cs->pos += end;
	return 0;
}

static int parse_var(struct cstate *cs)
{
	uint32_t line = cs->line;
	if (cs->t->parent && cs->depth == 0)
		return tmpl_fail(cs, line, "a template that extends another may only have {%% block %%} at the top level");
	cs->seen_tag = 1;
	size_t p = cs->pos + 2;
	skip_ws(cs, &p);
	size_t s = p;
	while (p < cs->len && is_word((unsigned char)cs->src[p]))
		p++;
	if (p == s)
		return tmpl_fail(cs, line, p >= cs->len ? "unclosed {{: missing }}" : "expected a name after {{");
	uint32_t path;
	size_t e = p;
	if (parse_path(cs, cs->src + s, e - s, line, &path) != 0)
		return -1;
	skip_ws(cs, &p);
	if (p + 1 >= cs->len)
		return tmpl_fail(cs, line, "unclosed {{: missing }}");
	if (cs->src[p] != '}' || cs->src[p + 1] != '}')
		return tmpl_fail(cs, line, "expected }} after '%.*s'", (int)(e - s), cs->src + s);
	uint32_t idx = new_node(cs, N_VAR, line);
	if (idx == NONE)
		return -1;
	cs->t->nodes[idx].path = path;
	append(cs, idx);
	cs->pos = p + 2;
	return 0;
}

static int parse_tag(struct cstate *cs)
{
	uint32_t line = cs->line;
	struct tok tk[MAX_TOKENS];
	size_t nt = 0, p = cs->pos + 2;
	for (;;) {
		skip_ws(cs, &p);
		if (p >= cs->len)
			return tmpl_fail(cs, line, "unclosed {%%: missing %%}");
		unsigned char c = (unsigned char)cs->src[p];
		if (c == '%' && p + 1 < cs->len && cs->src[p + 1] == '}') {
			p += 2;
			break;
		}
		if (nt == MAX_TOKENS)
			return tmpl_fail(cs, line, "too many words in {%% %%}");
		if (c == '"' || c == '\'') {
			size_t s = ++p;
			while (p < cs->len && (unsigned char)cs->src[p] != c && cs->src[p] != '\n')
				p++;
			if (p >= cs->len || (unsigned char)cs->src[p] != c)
				return tmpl_fail(cs, line, "unterminated string in {%% %%}");
			tk[nt++] = (struct tok){cs->src + s, p - s, 1};
			p++;
		} else if (is_word(c)) {
			size_t s = p;
			while (p < cs->len && is_word((unsigned char)cs->src[p]))
				p++;
			tk[nt++] = (struct tok){cs->src + s, p - s, 0};
		} else if (c >= 0x21 && c < 0x7f) {
			return tmpl_fail(cs, line, "unexpected character '%c' in {%% %%}", c);
		} else {
			return tmpl_fail(cs, line, "unexpected byte 0x%02x in {%% %%}", c);
		}
	}
	cs->pos = p;
	if (nt == 0 || tk[0].str)
		return tmpl_fail(cs, line, "expected a keyword after {%%");
	return tag_dispatch(cs, tk, nt, line);
}

static int tag_dispatch(struct cstate *cs, struct tok *tk, size_t nt, uint32_t line)
{
	struct tmpl *t = cs->t;
	struct open *o = &cs->open[cs->depth];
	uint32_t idx;

	if (tok_is(&tk[0], "extends")) {
		if (nt != 2 || !tk[1].str)
			return tmpl_fail(cs, line, "expected {%% extends \"name\" %%}");
		if (cs->seen_tag)
			return tmpl_fail(cs, line, "{%% extends %%} must be the first tag of the template");
		if (check_string(cs, &tk[1], line, "template name") != 0)
			return -1;
		cs->seen_tag = 1;
		t->parent = strndup(tk[1].s, tk[1].n);
		if (!t->parent)
			return tmpl_fail(cs, line, "out of memory");
		t->parent_line = line;
		/* text before the extends is outside every block: drop it */
		t->root = NONE;
		cs->open[0].last = NONE;
		return 0;
	}
	cs->seen_tag = 1;
	if (t->parent && cs->depth == 0 && !tok_is(&tk[0], "block") && !tok_is(&tk[0], "end"))
		return tmpl_fail(cs, line, "a template that extends another may only have {%% block %%} at the top level");

	if (tok_is(&tk[0], "if")) {
		uint8_t neg;
		uint32_t path;
		if (parse_cond(cs, tk, nt, line, "if", &neg, &path) != 0 || (idx = new_node(cs, N_IF, line)) == NONE)
			return -1;
		t->nodes[idx].has_cond = 1;
		t->nodes[idx].neg = neg;
		t->nodes[idx].path = path;
		append(cs, idx);
		return push_open(cs, idx, line);
	}
	if (tok_is(&tk[0], "elif")) {
		uint8_t neg;
		uint32_t path;
		if (cs->depth == 0 || t->nodes[o->node].kind != N_IF)
			return tmpl_fail(cs, line, "{%% elif %%} without {%% if %%}");
		if (o->has_else)
			return tmpl_fail(cs, line, "{%% elif %%} after {%% else %%}");
		if (parse_cond(cs, tk, nt, line, "elif", &neg, &path) != 0 ||
		    (idx = new_node(cs, N_BRANCH, line)) == NONE)
			return -1;
		t->nodes[idx].has_cond = 1;
		t->nodes[idx].neg = neg;
		t->nodes[idx].path = path;
		t->nodes[o->owner].alt = idx;
		o->owner = idx;
		o->field = F_CHILD;
		o->last = NONE;
		return 0;
	}
	if (tok_is(&tk[0], "else")) {
		if (nt != 1)
			return tmpl_fail(cs, line, "expected {%% else %%}");
		if (cs->depth == 0 || t->nodes[o->node].kind == N_BLOCK)
			return tmpl_fail(cs, line, "{%% else %%} without {%% if %%} or {%% for %%}");
		if (o->has_else)
			return tmpl_fail(cs, line, "a second {%% else %%}");
		o->has_else = 1;
		o->last = NONE;
		if (t->nodes[o->node].kind == N_FOR) {
			o->owner = o->node;
			o->field = F_ALT;
			return 0;
		}
		if ((idx = new_node(cs, N_BRANCH, line)) == NONE)
			return -1;
		t->nodes[o->owner].alt = idx;
		o->owner = idx;
		o->field = F_CHILD;
		return 0;
	}
	if (tok_is(&tk[0], "end")) {
		if (nt != 1)
			return tmpl_fail(cs, line, "expected {%% end %%}");
		if (cs->depth == 0)
			return tmpl_fail(cs, line, "{%% end %%} without {%% if %%}, {%% for %%} or {%% block %%}");
		cs->depth--;
		return 0;
	}
	if (tok_is(&tk[0], "for")) {
		uint32_t path, var;
		if (nt != 4 || tk[1].str || !tok_is(&tk[2], "in") || tk[3].str)
			return tmpl_fail(cs, line, "expected {%% for NAME in PATH %%}");
		if (!is_ident(tk[1].s, tk[1].n))
			return tmpl_fail(cs, line, "bad loop variable '%.*s'", (int)tk[1].n, tk[1].s);
		if (tok_is(&tk[1], "loop"))
			return tmpl_fail(cs, line, "'loop' is reserved; choose another loop variable");
		if (parse_path(cs, tk[3].s, tk[3].n, line, &path) != 0 || pool_add(cs, tk[1].s, tk[1].n, &var) != 0 ||
		    (idx = new_node(cs, N_FOR, line)) == NONE)
			return -1;
		t->nodes[idx].path = path;
		t->nodes[idx].str = var;
		t->nodes[idx].len = (uint32_t)tk[1].n;
		append(cs, idx);
		return push_open(cs, idx, line);
	}
	if (tok_is(&tk[0], "block")) {
		uint32_t name;
		if (nt != 2 || tk[1].str || !is_ident(tk[1].s, tk[1].n))
			return tmpl_fail(cs, line, "expected {%% block NAME %%}");
		for (uint32_t b = 0; b < t->nblocks; b++)
			if (t->blocks[b].len == tk[1].n && memcmp(t->pool + t->blocks[b].str, tk[1].s, tk[1].n) == 0)
				return tmpl_fail(cs, line, "block '%.*s' is defined twice", (int)tk[1].n, tk[1].s);
		if (pool_add(cs, tk[1].s, tk[1].n, &name) != 0 || (idx = new_node(cs, N_BLOCK, line)) == NONE)
			return -1;
		if (grow((void **)&t->blocks, &t->cblocks, t->nblocks + 1, sizeof(*t->blocks)) != 0)
			return tmpl_fail(cs, line, "out of memory");
		t->blocks[t->nblocks++] = (struct blockdef){name, (uint32_t)tk[1].n, idx};
		t->nodes[idx].str = name;
		t->nodes[idx].len = (uint32_t)tk[1].n;
		append(cs, idx);
		return push_open(cs, idx, line);
	}
	if (tok_is(&tk[0], "include") || tok_is(&tk[0], "t")) {
		int inc = tok_is(&tk[0], "include");
		uint32_t str;
		if (nt != 2 || !tk[1].str)
			return tmpl_fail(cs, line, inc ? "expected {%% include \"name\" %%}" : "expected {%% t \"key\" %%}");
		if (check_string(cs, &tk[1], line, inc ? "template name" : "translation key") != 0 ||
		    pool_add(cs, tk[1].s, tk[1].n, &str) != 0 || (idx = new_node(cs, inc ? N_INCLUDE : N_TRANS, line)) == NONE)
			return -1;
		t->nodes[idx].str = str;
		t->nodes[idx].len = (uint32_t)tk[1].n;
		append(cs, idx);
		return 0;
	}
	if (tok_is(&tk[0], "raw")) {
		static const char endraw[] = "{% endraw %}";
		if (nt != 1)
			return tmpl_fail(cs, line, "expected {%% raw %%}");
		const char *s = cs->src + cs->pos;
		const char *e = memmem(s, cs->len - cs->pos, endraw, sizeof(endraw) - 1);
		if (!e)
			return tmpl_fail(cs, line, "{%% raw %%} without {%% endraw %%}");
		size_t n = (size_t)(e - s);
		if (n > 0 && add_text(cs, s, n, cs->line) != 0)
			return -1;
		cs->pos += n + sizeof(endraw) - 1;
		return 0;
	}
	if (tok_is(&tk[0], "endraw"))
		return tmpl_fail(cs, line, "{%% endraw %%} without {%% raw %%}");
	return tmpl_fail(cs, line, "unknown tag {%% %.*s %%}", (int)tk[0].n, tk[0].s);
}

static int parse_cond(struct cstate *cs, struct tok *tk, size_t nt, uint32_t line, const char *kw, uint8_t *neg,
		      uint32_t *path)
{
	size_t k = 1;
	*neg = 0;
	if (nt == 3 && tok_is(&tk[1], "not")) {
		*neg = 1;
		k = 2;
	}
	if (nt != k + 1 || tk[k].str || tok_is(&tk[k], "not"))
		return tmpl_fail(cs, line, "expected {%% %s PATH %%} or {%% %s not PATH %%}", kw, kw);
	return parse_path(cs, tk[k].s, tk[k].n, line, path);
}

/* PATH = name ( "." name | "." integer )* */
static int parse_path(struct cstate *cs, const char *s, size_t n, uint32_t line, uint32_t *out)
{
	struct tmpl *t = cs->t;
	struct path p = {t->nsegs, 0, 0};
	size_t i = 0;
	for (;;) {
		size_t st = i;
		while (i < n && s[i] != '.')
			i++;
		size_t sl = i - st;
		if (sl == 0)
			return tmpl_fail(cs, line, "bad path '%.*s'", (int)n, s);
		if (p.nseg == MAX_SEGS)
			return tmpl_fail(cs, line, "path '%.*s' has more than %d parts", (int)n, s, MAX_SEGS);
		if (grow((void **)&t->segs, &t->csegs, t->nsegs + 1, sizeof(*t->segs)) != 0)
			return tmpl_fail(cs, line, "out of memory");
		struct seg sg = {0, (uint32_t)sl, -1};
		if (s[st] >= '0' && s[st] <= '9') {
			int64_t v = 0;
			for (size_t k = st; k < i; k++) {
				if (s[k] < '0' || s[k] > '9')
					return tmpl_fail(cs, line, "bad path '%.*s'", (int)n, s);
				v = v * 10 + (s[k] - '0');
				if (v > INT32_MAX)
					return tmpl_fail(cs, line, "index too large in '%.*s'", (int)n, s);
			}
			if (p.nseg == 0)
				return tmpl_fail(cs, line, "path '%.*s' must start with a name", (int)n, s);
			sg.index = (int32_t)v;
		} else {
			if (!is_ident(s + st, sl))
				return tmpl_fail(cs, line, "bad name in path '%.*s'", (int)n, s);
			if (pool_add(cs, s + st, sl, &sg.str) != 0)
				return -1;
		}
		t->segs[t->nsegs++] = sg;
		p.nseg++;
		if (i == n)
			break;
		i++;
	}
	p.is_loop = t->segs[p.seg].len == 4 && memcmp(t->pool + t->segs[p.seg].str, "loop", 4) == 0;
	if (grow((void **)&t->paths, &t->cpaths, t->npaths + 1, sizeof(*t->paths)) != 0)
		return tmpl_fail(cs, line, "out of memory");
	*out = t->npaths;
	t->paths[t->npaths++] = p;
	return 0;
}

static int check_string(struct cstate *cs, const struct tok *tk, uint32_t line, const char *what)
{
	if (tk->n == 0 || tk->n > MAX_STRING)
		return tmpl_fail(cs, line, "%s must have 1 to %d characters", what, MAX_STRING);
	for (size_t i = 0; i < tk->n; i++)
		if ((unsigned char)tk->s[i] < 0x20 || tk->s[i] == 0x7f)
			return tmpl_fail(cs, line, "control character in %s", what);
	return 0;
}

static int add_text(struct cstate *cs, const char *s, size_t n, uint32_t line)
{
	cs->line += tmpl_count_nl(s, n);
	if (cs->t->parent && cs->depth == 0)
		return 0;       /* outside every block of a child: never shown */
	uint32_t str, idx;
	if (pool_add(cs, s, n, &str) != 0 || (idx = new_node(cs, N_TEXT, line)) == NONE)
		return -1;
	cs->t->nodes[idx].str = str;
	cs->t->nodes[idx].len = (uint32_t)n;
	append(cs, idx);
	return 0;
}

static uint32_t new_node(struct cstate *cs, uint8_t kind, uint32_t line)
{
	struct tmpl *t = cs->t;
	if (grow((void **)&t->nodes, &t->cnodes, t->nnodes + 1, sizeof(*t->nodes)) != 0) {
		tmpl_fail(cs, line, "out of memory");
		return NONE;
	}
	struct node *n = &t->nodes[t->nnodes];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->line = line;
	n->path = n->child = n->alt = n->next = NONE;
	return t->nnodes++;
}

static void append(struct cstate *cs, uint32_t idx)
{
	struct tmpl *t = cs->t;
	struct open *o = &cs->open[cs->depth];
	if (o->last != NONE)
		t->nodes[o->last].next = idx;
	else if (o->field == F_ROOT)
		t->root = idx;
	else if (o->field == F_CHILD)
		t->nodes[o->owner].child = idx;
	else
		t->nodes[o->owner].alt = idx;
	o->last = idx;
}

static int push_open(struct cstate *cs, uint32_t node, uint32_t line)
{
	if (cs->depth == TMPL_MAX_NEST)
		return tmpl_fail(cs, line, "if/for/block nested deeper than %d levels", TMPL_MAX_NEST);
	struct open *o = &cs->open[++cs->depth];
	o->node = o->owner = node;
	o->last = NONE;
	o->line = line;
	o->field = F_CHILD;
	o->has_else = 0;
	return 0;
}

static int pool_add(struct cstate *cs, const char *s, size_t n, uint32_t *off)
{
	struct tmpl *t = cs->t;
	if (t->plen + n + 1 > t->pcap) {
		size_t cap = t->pcap ? t->pcap : 1024;
		while (cap < t->plen + n + 1)
			cap *= 2;
		char *p = realloc(t->pool, cap);
		if (!p)
			return tmpl_fail(cs, cs->line, "out of memory");
		t->pool = p;
		t->pcap = cap;
	}
	*off = (uint32_t)t->plen;
	memcpy(t->pool + t->plen, s, n);
	t->pool[t->plen + n] = '\0';
	t->plen += n + 1;
	return 0;
}

static int grow(void **p, uint32_t *cap, uint32_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	uint32_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, (size_t)c * elem);
	if (!q)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

static void skip_ws(struct cstate *cs, size_t *p)
{
	while (*p < cs->len) {
		char c = cs->src[*p];
		if (c == '\n')
			cs->line++;
		else if (c != ' ' && c != '\t' && c != '\r')
			break;
		(*p)++;
	}
}

int tmpl_fail(struct cstate *cs, uint32_t line, const char *fmt, ...)
{
	if (cs->err && cs->errlen && !cs->err[0]) {
		char msg[256];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		snprintf(cs->err, cs->errlen, "%s:%u: %s", cs->t->name, (unsigned)line, msg);
	}
	return -1;
}

static int is_word(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

static int is_ident(const char *s, size_t n)
{
	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_word((unsigned char)s[i]) || s[i] == '.')
			return 0;
	return 1;
}

static int tok_is(const struct tok *tk, const char *w)
{
	return !tk->str && tk->n == strlen(w) && memcmp(tk->s, w, tk->n) == 0;
}

uint32_t tmpl_count_nl(const char *s, size_t n)
{
	uint32_t k = 0;
	for (const char *e = s + n; (s = memchr(s, '\n', (size_t)(e - s))) != NULL; s++)
		k++;
	return k;
}
