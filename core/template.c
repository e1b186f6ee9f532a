/* Municipalities edit templates, residents fill them: the escaping of every
 * value is fixed at compile time from the HTML context around it, so no
 * view data can become markup, script or a dangerous URL. */
#include "template.h"
#include "lsandbox.h"
#include "utf8.h"

#include <lauxlib.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX
#define MAX_SEGS 32             /* parts in one path */
#define MAX_TOKENS 8            /* words in one {% %} */
#define MAX_STRING 200          /* template names and translation keys */
#define MAX_RENDER_NEST 600     /* render recursion (nesting x includes) */
#define WORK_PER_BYTE 16        /* context analysis budget: a safety net, loops settle in one extra pass */

/* bytes a value may keep as they are, in HTML and in a percent-encoded URL part */
#define HTML_PLAIN(c) ((c) >= 0x20 ? (c) < 0x80 && (c) != '&' && (c) != '<' && (c) != '>' && (c) != '"' && (c) != '\'' \
			       : (c) == '\t' || (c) == '\n' || (c) == '\r')
#define PCT_PLAIN(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || ((c) >= '0' && (c) <= '9') || \
		      (c) == '-' || (c) == '.' || (c) == '_' || (c) == '~')
/* the HTML tokenizer's whitespace, letters */
#define IS_WS(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\f' || (c) == '\r')
#define IS_ALPHA(c) (((c) | 0x20) >= 'a' && ((c) | 0x20) <= 'z')
#define LOWER(c) ((c) >= 'A' && (c) <= 'Z' ? (char)((c) | 0x20) : (char)(c))

/* ---------------------------------------------------------------- types */

enum nkind { N_TEXT, N_VAR, N_TRANS, N_IF, N_BRANCH, N_FOR, N_INCLUDE, N_BLOCK };

/* How an interpolation is escaped, decided by the analysis. */
enum ectx { E_TEXT, E_RCDATA, E_ATTR, E_URL_START, E_URL_PART };

struct node {
	uint8_t kind;
	uint8_t ctx;            /* VAR/TRANS: enum ectx; INCLUDE/BLOCK: 1 when inside <title>/<textarea> */
	uint8_t neg;            /* IF/BRANCH: {% if not %} */
	uint8_t has_cond;       /* IF and elif: 1; else: 0 */
	uint32_t line;
	uint32_t str, len;      /* TEXT: literal; TRANS: key; INCLUDE/BLOCK: name; FOR: variable */
	uint32_t path;          /* VAR, IF, elif, FOR */
	uint32_t child;         /* first node of the body */
	uint32_t alt;           /* IF/BRANCH: the next branch; FOR: first node of {% else %} */
	uint32_t next;
};

struct seg {
	uint32_t str, len;
	int32_t index;          /* >= 0 for an integer part, -1 for a name */
};

struct path {
	uint32_t seg, nseg;
	uint8_t is_loop;        /* starts with "loop" */
};

struct blockdef {
	uint32_t str, len, node;
};

struct tmpl {
	char *name;
	char *parent;
	uint32_t parent_line;
	uint32_t root;
	struct node *nodes;
	uint32_t nnodes, cnodes;
	struct seg *segs;
	uint32_t nsegs, csegs;
	struct path *paths;
	uint32_t npaths, cpaths;
	struct blockdef *blocks;
	uint32_t nblocks, cblocks;
	char *pool;
	size_t plen, pcap;
};

/* The HTML tokenizer state at a point of the template (a simplified HTML5
 * tokenizer). Only literal text moves it; interpolations cannot, because
 * their output is escaped for the state they are in. */
enum hst {
	H_TEXT, H_RCDATA, H_RAWTEXT, H_TAG_OPEN, H_END_TAG_OPEN, H_MARKUP, H_MARKUP_DASH, H_BOGUS,
	H_COMMENT, H_TAG_NAME, H_BEFORE_ATTR, H_ATTR_NAME, H_AFTER_ATTR_NAME, H_ATTR_JOIN,
	H_BEFORE_VALUE, H_VALUE_DQ, H_VALUE_SQ, H_VALUE_UQ
};
/* A_URL_FIXED: a URL that loads code into the page (<script src>, <base
 * href>, <embed src>, <object data>): an https: URL from the view would
 * pass the scheme check and still run someone else's script. */
enum akind { A_PLAIN, A_URL, A_URL_FIXED, A_JS, A_CSS, A_SRCSET, A_SRCDOC, A_LONG };
#define IS_URL(k) ((k) == A_URL || (k) == A_URL_FIXED)
enum ustate { U_START, U_SCHEME, U_REST };
enum { CM_NONE, CM_DASH, CM_DASH2, CM_BANG, CM_START, CM_START_DASH };

struct hctx {
	uint8_t st;
	uint8_t endtag;         /* in an end tag */
	uint8_t rawk;           /* index in raw_elems: of the raw-text element, or of the tag being read */
	uint8_t rm;             /* RCDATA/RAWTEXT: bytes of "</name" matched; COMMENT: CM_* */
	uint8_t attr;           /* enum akind of the current attribute */
	uint8_t url, dyn, amb, bad; /* URL attribute values: see url_char() */
	uint8_t pend;           /* ATTR_JOIN: some branch may still be inside an attribute name */
	uint8_t tlen, alen, slen; /* 0xff: too long */
	char tag[12];
	char an[64];
	char scheme[8];
};

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

struct open {                   /* an {% if %}, {% for %} or {% block %} being parsed */
	uint32_t node;
	uint32_t owner;         /* the node whose body receives new nodes */
	uint32_t last;          /* last node of that body, NONE if empty */
	uint32_t line;
	uint8_t field;          /* F_* of owner */
	uint8_t has_else;
};
enum { F_ROOT, F_CHILD, F_ALT };

struct cstate {
	struct tmpl *t;
	const char *src;
	size_t len, pos;
	uint32_t line;
	char *err;
	size_t errlen;
	struct open open[TMPL_MAX_NEST + 1];
	size_t depth;
	int seen_tag;
	size_t work, work_max;
};

struct tok {
	const char *s;
	size_t n;
	int str;
};

struct safehtml {
	size_t len;
	char data[];
};

struct rstate {
	const struct tmpl_env *env;
	lua_State *L;
	int view;
	struct tbuf *out;
	size_t iterations, max_iter, max_depth, nest;
	unsigned steps;         /* nodes rendered, not yet charged to the Lua budget */
	int rcdata;             /* inside <title>/<textarea>: safe HTML is escaped too */
	int failed;
	char *err;
	size_t errlen;
	const struct tmpl *cur; /* where a Lua memory error is reported */
	uint32_t line;
};

struct frame {                  /* one running {% for %} */
	const struct frame *up;
	const char *var;
	uint32_t varlen;
	int item;
	lua_Integer index, length;
};

struct chain {                  /* most derived first */
	const struct tmpl *t[TMPL_MAX_DEPTH + 2];
	size_t n;
};

static char safehtml_key;       /* its address keys the metatable in the registry */

/* parsing */
static int parse(struct cstate *cs);
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
static int fail(struct cstate *cs, uint32_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int is_word(unsigned char c);
static int is_ident(const char *s, size_t n);
static int tok_is(const struct tok *tk, const char *w);
static uint32_t count_nl(const char *s, size_t n);

/* context analysis */
static int analyse(struct cstate *cs);
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

/* rendering */
static int render_protected(lua_State *L);
static int render_template(struct rstate *rs, const struct tmpl *t, size_t depth, const struct frame *sc);
static int render_list(struct rstate *rs, const struct chain *ch, const struct tmpl *t, uint32_t first,
		       const struct frame *sc, size_t depth);
static int render_node(struct rstate *rs, const struct chain *ch, const struct tmpl *t, const struct node *n,
		       const struct frame *sc, size_t depth);
static int render_for(struct rstate *rs, const struct chain *ch, const struct tmpl *t, const struct node *n,
		      const struct frame *sc, size_t depth);
static void resolve(struct rstate *rs, const struct tmpl *t, const struct path *p, const struct frame *sc);
static int truthy(lua_State *L, int idx);
static int emit_value(struct rstate *rs, uint8_t ctx, int idx);
static int emit_bytes(struct rstate *rs, uint8_t ctx, const char *s, size_t n);
static int escape(struct rstate *rs, const char *s, size_t n, int pct);
static int url_safe(const char *s, size_t n);
static int out(struct rstate *rs, const char *s, size_t n);
static int need(struct rstate *rs, int n);
static int rfail(struct rstate *rs, const struct tmpl *t, uint32_t line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int safehtml_tostring(lua_State *L);

/* ================================================================ public */

void tbuf_init(struct tbuf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max > SIZE_MAX / 2 ? SIZE_MAX / 2 : max;
}

void tbuf_free(struct tbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int tbuf_add(struct tbuf *b, const char *s, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return -1;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		char *d = realloc(b->data, cap);
		if (!d)
			return -1;
		b->data = d;
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

void tmpl_push_safehtml(lua_State *L, const char *html, size_t len)
{
	luaL_checkstack(L, 4, "safe html");
	struct safehtml *h = lua_newuserdatauv(L, sizeof(*h) + len + 1, 0);
	h->len = len;
	if (len)
		memcpy(h->data, html, len);
	h->data[len] = '\0';
	if (luaL_newmetatable(L, TMPL_SAFEHTML)) {
		lua_pushboolean(L, 0);
		lua_setfield(L, -2, "__metatable");
		lua_pushcfunction(L, safehtml_tostring);
		lua_setfield(L, -2, "__tostring");
		/* a second key that needs no string, so the renderer never allocates */
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &safehtml_key);
	}
	lua_setmetatable(L, -2);
}

const char *tmpl_to_safehtml(lua_State *L, int idx, size_t *len)
{
	if (lua_type(L, idx) != LUA_TUSERDATA)
		return NULL;
	idx = lua_absindex(L, idx);
	if (!lua_checkstack(L, 2) || !lua_getmetatable(L, idx))
		return NULL;
	lua_rawgetp(L, LUA_REGISTRYINDEX, &safehtml_key);
	int same = lua_rawequal(L, -1, -2);
	lua_pop(L, 2);
	if (!same)
		return NULL;
	struct safehtml *h = lua_touserdata(L, idx);
	if (lua_rawlen(L, idx) < sizeof(*h) || h->len > lua_rawlen(L, idx) - sizeof(*h))
		return NULL;
	if (len)
		*len = h->len;
	return h->data;
}

struct tmpl *tmpl_compile(const char *name, const char *src, size_t len, char *err, size_t errlen)
{
	struct cstate cs;
	memset(&cs, 0, sizeof(cs));
	if (err && errlen)
		err[0] = '\0';
	struct tmpl *t = calloc(1, sizeof(*t));
	if (!t || !(t->name = strdup(name ? name : "?"))) {
		free(t);
		if (err && errlen)
			snprintf(err, errlen, "%s:0: out of memory", name ? name : "?");
		return NULL;
	}
	t->root = NONE;
	cs.t = t;
	cs.src = src ? src : "";
	cs.len = src ? len : 0;
	cs.line = 1;
	cs.err = err;
	cs.errlen = errlen;
	cs.open[0].owner = NONE;
	cs.open[0].last = NONE;
	cs.open[0].field = F_ROOT;
	if (cs.len > TMPL_MAX_SOURCE) {
		fail(&cs, 1, "template larger than %u bytes", TMPL_MAX_SOURCE);
		tmpl_free(t);
		return NULL;
	}
	cs.work_max = (cs.len + 1) * WORK_PER_BYTE + 4096;
	if (parse(&cs) != 0 || analyse(&cs) != 0) {
		tmpl_free(t);
		return NULL;
	}
	return t;
}

void tmpl_free(struct tmpl *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->parent);
	free(t->nodes);
	free(t->segs);
	free(t->paths);
	free(t->blocks);
	free(t->pool);
	free(t);
}

const char *tmpl_name(const struct tmpl *t)
{
	return t->name;
}

const char *tmpl_parent(const struct tmpl *t)
{
	return t->parent;
}

int tmpl_render(const struct tmpl *t, const struct tmpl_env *env, lua_State *L, int view, struct tbuf *out,
		char *err, size_t errlen)
{
	struct rstate rs;
	memset(&rs, 0, sizeof(rs));
	int top = lua_gettop(L);
	rs.env = env;
	rs.L = L;
	rs.out = out;
	rs.err = err;
	rs.errlen = errlen;
	rs.max_iter = env && env->max_iterations ? env->max_iterations : TMPL_DEFAULT_ITERATIONS;
	rs.max_depth = env && env->max_depth ? env->max_depth : TMPL_DEFAULT_DEPTH;
	if (rs.max_depth > TMPL_MAX_DEPTH)
		rs.max_depth = TMPL_MAX_DEPTH;
	rs.cur = t;
	rs.line = 1;
	if (err && errlen)
		err[0] = '\0';
	if (!t)
		return rfail(&rs, NULL, 0, "no template");
	view = lua_absindex(L, view);
	/* A GC step may run __gc finalizers, which are plugin code: keep the
	 * collector still while we push key strings. An emergency collection
	 * on allocation failure runs no finalizers. */
	int gc_was_running = lua_gc(L, LUA_GCISRUNNING);
	if (gc_was_running)
		lua_gc(L, LUA_GCSTOP);
	if (!lua_checkstack(L, 3)) {
		rfail(&rs, t, 0, "Lua stack exhausted");
	} else {
		/* protected, so that a memory error cannot unwind through us */
		lua_pushcfunction(L, render_protected);
		lua_pushlightuserdata(L, &rs);
		lua_pushvalue(L, view);
		if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
			const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "error";
			rfail(&rs, rs.cur, rs.line, "%s", msg);
		}
	}
	if (gc_was_running)
		lua_gc(L, LUA_GCRESTART);
	lua_settop(L, top);
	return rs.failed ? -1 : 0;
}

/* =============================================================== parsing */

static int parse(struct cstate *cs)
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
		return fail(cs, o->line, "{%% %s %%} is not closed with {%% end %%}",
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
		return fail(cs, cs->line, "unclosed comment: missing #}");
	size_t end = (size_t)(e - s) + 2;
	cs->line += count_nl(s, end);
	cs->pos += end;
	return 0;
}

static int parse_var(struct cstate *cs)
{
	uint32_t line = cs->line;
	if (cs->t->parent && cs->depth == 0)
		return fail(cs, line, "a template that extends another may only have {%% block %%} at the top level");
	cs->seen_tag = 1;
	size_t p = cs->pos + 2;
	skip_ws(cs, &p);
	size_t s = p;
	while (p < cs->len && is_word((unsigned char)cs->src[p]))
		p++;
	if (p == s)
		return fail(cs, line, p >= cs->len ? "unclosed {{: missing }}" : "expected a name after {{");
	uint32_t path;
	size_t e = p;
	if (parse_path(cs, cs->src + s, e - s, line, &path) != 0)
		return -1;
	skip_ws(cs, &p);
	if (p + 1 >= cs->len)
		return fail(cs, line, "unclosed {{: missing }}");
	if (cs->src[p] != '}' || cs->src[p + 1] != '}')
		return fail(cs, line, "expected }} after '%.*s'", (int)(e - s), cs->src + s);
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
			return fail(cs, line, "unclosed {%%: missing %%}");
		unsigned char c = (unsigned char)cs->src[p];
		if (c == '%' && p + 1 < cs->len && cs->src[p + 1] == '}') {
			p += 2;
			break;
		}
		if (nt == MAX_TOKENS)
			return fail(cs, line, "too many words in {%% %%}");
		if (c == '"' || c == '\'') {
			size_t s = ++p;
			while (p < cs->len && (unsigned char)cs->src[p] != c && cs->src[p] != '\n')
				p++;
			if (p >= cs->len || (unsigned char)cs->src[p] != c)
				return fail(cs, line, "unterminated string in {%% %%}");
			tk[nt++] = (struct tok){cs->src + s, p - s, 1};
			p++;
		} else if (is_word(c)) {
			size_t s = p;
			while (p < cs->len && is_word((unsigned char)cs->src[p]))
				p++;
			tk[nt++] = (struct tok){cs->src + s, p - s, 0};
		} else if (c >= 0x21 && c < 0x7f) {
			return fail(cs, line, "unexpected character '%c' in {%% %%}", c);
		} else {
			return fail(cs, line, "unexpected byte 0x%02x in {%% %%}", c);
		}
	}
	cs->pos = p;
	if (nt == 0 || tk[0].str)
		return fail(cs, line, "expected a keyword after {%%");
	return tag_dispatch(cs, tk, nt, line);
}

static int tag_dispatch(struct cstate *cs, struct tok *tk, size_t nt, uint32_t line)
{
	struct tmpl *t = cs->t;
	struct open *o = &cs->open[cs->depth];
	uint32_t idx;

	if (tok_is(&tk[0], "extends")) {
		if (nt != 2 || !tk[1].str)
			return fail(cs, line, "expected {%% extends \"name\" %%}");
		if (cs->seen_tag)
			return fail(cs, line, "{%% extends %%} must be the first tag of the template");
		if (check_string(cs, &tk[1], line, "template name") != 0)
			return -1;
		cs->seen_tag = 1;
		t->parent = strndup(tk[1].s, tk[1].n);
		if (!t->parent)
			return fail(cs, line, "out of memory");
		t->parent_line = line;
		/* text before the extends is outside every block: drop it */
		t->root = NONE;
		cs->open[0].last = NONE;
		return 0;
	}
	cs->seen_tag = 1;
	if (t->parent && cs->depth == 0 && !tok_is(&tk[0], "block") && !tok_is(&tk[0], "end"))
		return fail(cs, line, "a template that extends another may only have {%% block %%} at the top level");

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
			return fail(cs, line, "{%% elif %%} without {%% if %%}");
		if (o->has_else)
			return fail(cs, line, "{%% elif %%} after {%% else %%}");
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
			return fail(cs, line, "expected {%% else %%}");
		if (cs->depth == 0 || t->nodes[o->node].kind == N_BLOCK)
			return fail(cs, line, "{%% else %%} without {%% if %%} or {%% for %%}");
		if (o->has_else)
			return fail(cs, line, "a second {%% else %%}");
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
			return fail(cs, line, "expected {%% end %%}");
		if (cs->depth == 0)
			return fail(cs, line, "{%% end %%} without {%% if %%}, {%% for %%} or {%% block %%}");
		cs->depth--;
		return 0;
	}
	if (tok_is(&tk[0], "for")) {
		uint32_t path, var;
		if (nt != 4 || tk[1].str || !tok_is(&tk[2], "in") || tk[3].str)
			return fail(cs, line, "expected {%% for NAME in PATH %%}");
		if (!is_ident(tk[1].s, tk[1].n))
			return fail(cs, line, "bad loop variable '%.*s'", (int)tk[1].n, tk[1].s);
		if (tok_is(&tk[1], "loop"))
			return fail(cs, line, "'loop' is reserved; choose another loop variable");
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
			return fail(cs, line, "expected {%% block NAME %%}");
		for (uint32_t b = 0; b < t->nblocks; b++)
			if (t->blocks[b].len == tk[1].n && memcmp(t->pool + t->blocks[b].str, tk[1].s, tk[1].n) == 0)
				return fail(cs, line, "block '%.*s' is defined twice", (int)tk[1].n, tk[1].s);
		if (pool_add(cs, tk[1].s, tk[1].n, &name) != 0 || (idx = new_node(cs, N_BLOCK, line)) == NONE)
			return -1;
		if (grow((void **)&t->blocks, &t->cblocks, t->nblocks + 1, sizeof(*t->blocks)) != 0)
			return fail(cs, line, "out of memory");
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
			return fail(cs, line, inc ? "expected {%% include \"name\" %%}" : "expected {%% t \"key\" %%}");
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
			return fail(cs, line, "expected {%% raw %%}");
		const char *s = cs->src + cs->pos;
		const char *e = memmem(s, cs->len - cs->pos, endraw, sizeof(endraw) - 1);
		if (!e)
			return fail(cs, line, "{%% raw %%} without {%% endraw %%}");
		size_t n = (size_t)(e - s);
		if (n > 0 && add_text(cs, s, n, cs->line) != 0)
			return -1;
		cs->pos += n + sizeof(endraw) - 1;
		return 0;
	}
	if (tok_is(&tk[0], "endraw"))
		return fail(cs, line, "{%% endraw %%} without {%% raw %%}");
	return fail(cs, line, "unknown tag {%% %.*s %%}", (int)tk[0].n, tk[0].s);
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
		return fail(cs, line, "expected {%% %s PATH %%} or {%% %s not PATH %%}", kw, kw);
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
			return fail(cs, line, "bad path '%.*s'", (int)n, s);
		if (p.nseg == MAX_SEGS)
			return fail(cs, line, "path '%.*s' has more than %d parts", (int)n, s, MAX_SEGS);
		if (grow((void **)&t->segs, &t->csegs, t->nsegs + 1, sizeof(*t->segs)) != 0)
			return fail(cs, line, "out of memory");
		struct seg sg = {0, (uint32_t)sl, -1};
		if (s[st] >= '0' && s[st] <= '9') {
			int64_t v = 0;
			for (size_t k = st; k < i; k++) {
				if (s[k] < '0' || s[k] > '9')
					return fail(cs, line, "bad path '%.*s'", (int)n, s);
				v = v * 10 + (s[k] - '0');
				if (v > INT32_MAX)
					return fail(cs, line, "index too large in '%.*s'", (int)n, s);
			}
			if (p.nseg == 0)
				return fail(cs, line, "path '%.*s' must start with a name", (int)n, s);
			sg.index = (int32_t)v;
		} else {
			if (!is_ident(s + st, sl))
				return fail(cs, line, "bad name in path '%.*s'", (int)n, s);
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
		return fail(cs, line, "out of memory");
	*out = t->npaths;
	t->paths[t->npaths++] = p;
	return 0;
}

static int check_string(struct cstate *cs, const struct tok *tk, uint32_t line, const char *what)
{
	if (tk->n == 0 || tk->n > MAX_STRING)
		return fail(cs, line, "%s must have 1 to %d characters", what, MAX_STRING);
	for (size_t i = 0; i < tk->n; i++)
		if ((unsigned char)tk->s[i] < 0x20 || tk->s[i] == 0x7f)
			return fail(cs, line, "control character in %s", what);
	return 0;
}

static int add_text(struct cstate *cs, const char *s, size_t n, uint32_t line)
{
	cs->line += count_nl(s, n);
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
		fail(cs, line, "out of memory");
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
		return fail(cs, line, "if/for/block nested deeper than %d levels", TMPL_MAX_NEST);
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
			return fail(cs, cs->line, "out of memory");
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

static int fail(struct cstate *cs, uint32_t line, const char *fmt, ...)
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

static uint32_t count_nl(const char *s, size_t n)
{
	uint32_t k = 0;
	for (const char *e = s + n; (s = memchr(s, '\n', (size_t)(e - s))) != NULL; s++)
		k++;
	return k;
}

/* ===================================================== context analysis */

/* Every body that can be rendered somewhere else (a block, an included
 * template) is analysed from HTML text and must end in HTML text, and may
 * only be placed in text or in <title>/<textarea>: so the pieces compose
 * without the analysis of one knowing the others. */
static int analyse(struct cstate *cs)
{
	struct hctx h;
	memset(&h, 0, sizeof(h));
	if (walk(cs, cs->t->root, &h) != 0)
		return -1;
	if (h.st != H_TEXT) {
		char d[48];
		return fail(cs, count_nl(cs->src, cs->len) + 1, "template ends inside %s", describe(&h, d, sizeof(d)));
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
				return fail(cs, n->line, "block '%s' ends inside %s", t->pool + n->str,
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
	return fail(cs, t->nodes[i].line, "the branches of this {%% if %%} end in different HTML contexts (%s and %s)",
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
			return fail(cs, n->line, "the {%% else %%} of this {%% for %%} ends in %s, the loop in %s",
				    describe(&e, d1, sizeof(d1)), describe(&j, d2, sizeof(d2)));
	}
	*h = j;
	return 0;
differ:
	return fail(cs, n->line, "the body of this {%% for %%} starts in %s but ends in %s",
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
			return fail(cs, line, "%s", why);
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
			return fail(cs, n->line, "interpolation right after '<' is not allowed");
		n->ctx = E_RCDATA;
		return 0;
	case H_RAWTEXT:
		return fail(cs, n->line, "interpolation in <%s> is not allowed", raw_elems[h->rawk].name);
	case H_VALUE_DQ:
	case H_VALUE_SQ:
		break;
	case H_BEFORE_VALUE:
	case H_VALUE_UQ:
		return fail(cs, n->line, "interpolation in an unquoted attribute value is not allowed; put the value in quotes");
	case H_TAG_OPEN:
	case H_END_TAG_OPEN:
	case H_TAG_NAME:
		return fail(cs, n->line, "interpolation in a tag name is not allowed");
	case H_MARKUP:
	case H_MARKUP_DASH:
	case H_BOGUS:
	case H_COMMENT:
		return fail(cs, n->line, "interpolation in an HTML comment is not allowed");
	default:
		return fail(cs, n->line, "interpolation inside an HTML tag is only allowed in a quoted attribute value");
	}
	switch (h->attr) {
	case A_PLAIN:
		n->ctx = E_ATTR;
		return 0;
	case A_JS:
		return fail(cs, n->line, "interpolation in event handler attribute '%s' is not allowed", h->an);
	case A_CSS:
		return fail(cs, n->line, "interpolation in a style attribute is not allowed");
	case A_SRCSET:
		return fail(cs, n->line, "interpolation in a srcset attribute is not allowed");
	case A_SRCDOC:
		return fail(cs, n->line, "interpolation in a srcdoc attribute is not allowed");
	case A_LONG:
		return fail(cs, n->line, "interpolation in an attribute with a name of over %zu characters is not allowed",
			    sizeof(h->an) - 1);
	default:
		break;
	}
	/* a URL */
	switch (h->url) {
	case U_START:
		if (h->attr == A_URL_FIXED)
			return fail(cs, n->line, "the start of the %s URL of <%.*s> must be written in the template, "
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
		return fail(cs, n->line, "%s", why);
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
	return fail(cs, n->line, "%s is only allowed in HTML text, not in %s", what, describe(h, d, sizeof(d)));
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
		return fail(cs, line, "template too complex to analyse");
	return 0;
}

/* ============================================================= rendering */

static int render_protected(lua_State *L)
{
	struct rstate *rs = lua_touserdata(L, 1);
	rs->view = 2;
	render_template(rs, rs->cur, 0, NULL);
	/* The nodes and the bytes made, as work of the request's Lua. */
	lsb_charge(L, (int64_t)rs->steps + (int64_t)(rs->out->len / LSB_BYTES_PER_UNIT));
	return 0;
}

static int render_template(struct rstate *rs, const struct tmpl *t, size_t depth, const struct frame *sc)
{
	struct chain ch;
	ch.n = 0;
	ch.t[ch.n++] = t;
	while (ch.t[ch.n - 1]->parent) {
		const struct tmpl *c = ch.t[ch.n - 1];
		if (depth + 1 > rs->max_depth)
			return rfail(rs, c, c->parent_line, "templates nested deeper than %zu (include/extends)",
				     rs->max_depth);
		const struct tmpl *p = rs->env && rs->env->lookup ? rs->env->lookup(rs->env->ctx, c->parent) : NULL;
		if (!p)
			return rfail(rs, c, c->parent_line, "template '%s' not found", c->parent);
		depth++;
		ch.t[ch.n++] = p;
	}
	const struct tmpl *root = ch.t[ch.n - 1];
	return render_list(rs, &ch, root, root->root, sc, depth);
}

static int render_list(struct rstate *rs, const struct chain *ch, const struct tmpl *t, uint32_t first,
		       const struct frame *sc, size_t depth)
{
	if (first == NONE)
		return 0;
	if (++rs->nest > MAX_RENDER_NEST)
		return rfail(rs, t, t->nodes[first].line, "templates nested too deeply");
	int rc = 0;
	for (uint32_t i = first; i != NONE && rc == 0; i = t->nodes[i].next)
		rc = render_node(rs, ch, t, &t->nodes[i], sc, depth);
	rs->nest--;
	return rc;
}

static int render_node(struct rstate *rs, const struct chain *ch, const struct tmpl *t, const struct node *n,
		       const struct frame *sc, size_t depth)
{
	lua_State *L = rs->L;
	rs->cur = t;
	rs->line = n->line;
	if (++rs->steps >= 1024) {
		lsb_charge(L, rs->steps);
		rs->steps = 0;
	}
	switch (n->kind) {
	case N_TEXT:
		return out(rs, t->pool + n->str, n->len);
	case N_VAR: {
		if (need(rs, 4) != 0)
			return -1;
		resolve(rs, t, &t->paths[n->path], sc);
		int rc = emit_value(rs, n->ctx, lua_gettop(L));
		lua_pop(L, 1);
		return rc;
	}
	case N_TRANS: {
		const char *key = t->pool + n->str;
		const char *s = rs->env && rs->env->translate ? rs->env->translate(rs->env->ctx, key) : NULL;
		if (!s)
			s = key;
		return emit_bytes(rs, n->ctx, s, strlen(s));
	}
	case N_IF:
		if (need(rs, 4) != 0)
			return -1;
		for (uint32_t b = (uint32_t)(n - t->nodes); b != NONE; b = t->nodes[b].alt) {
			const struct node *br = &t->nodes[b];
			if (br->has_cond) {
				resolve(rs, t, &t->paths[br->path], sc);
				int yes = truthy(L, lua_gettop(L));
				lua_pop(L, 1);
				if (yes == br->neg)
					continue;
			}
			return render_list(rs, ch, t, br->child, sc, depth);
		}
		return 0;
	case N_FOR:
		return render_for(rs, ch, t, n, sc, depth);
	case N_INCLUDE: {
		const char *name = t->pool + n->str;
		if (depth + 1 > rs->max_depth)
			return rfail(rs, t, n->line, "templates nested deeper than %zu (include/extends)", rs->max_depth);
		const struct tmpl *inc = rs->env && rs->env->lookup ? rs->env->lookup(rs->env->ctx, name) : NULL;
		if (!inc)
			return rfail(rs, t, n->line, "template '%s' not found", name);
		int saved = rs->rcdata;
		rs->rcdata |= n->ctx;
		int rc = render_template(rs, inc, depth + 1, sc);
		rs->rcdata = saved;
		return rc;
	}
	case N_BLOCK: {
		const struct tmpl *owner = t;
		uint32_t body = n->child;
		for (size_t k = 0; k < ch->n; k++) {
			const struct tmpl *c = ch->t[k];
			const struct blockdef *b = NULL;
			for (uint32_t j = 0; j < c->nblocks; j++)
				if (c->blocks[j].len == n->len && memcmp(c->pool + c->blocks[j].str, t->pool + n->str, n->len) == 0)
					b = &c->blocks[j];
			if (b) {
				owner = c;
				body = c->nodes[b->node].child;
				break;
			}
		}
		int saved = rs->rcdata;
		rs->rcdata |= n->ctx;
		int rc = render_list(rs, ch, owner, body, sc, depth);
		rs->rcdata = saved;
		return rc;
	}
	default:
		return 0;
	}
}

static int render_for(struct rstate *rs, const struct chain *ch, const struct tmpl *t, const struct node *n,
		      const struct frame *sc, size_t depth)
{
	lua_State *L = rs->L;
	if (need(rs, 6) != 0)
		return -1;
	resolve(rs, t, &t->paths[n->path], sc);
	int list = lua_gettop(L);
	lua_Unsigned len = lua_type(L, list) == LUA_TTABLE ? lua_rawlen(L, list) : 0;
	int rc = 0;
	if (len == 0) {
		rc = render_list(rs, ch, t, n->alt, sc, depth);
	} else {
		struct frame f = {sc, t->pool + n->str, n->len, list + 1, 0, (lua_Integer)len};
		for (lua_Unsigned k = 1; k <= len && rc == 0; k++) {
			if (++rs->iterations > rs->max_iter) {
				rc = rfail(rs, t, n->line, "more than %zu loop iterations", rs->max_iter);
				break;
			}
			lua_rawgeti(L, list, (lua_Integer)k);
			f.index = (lua_Integer)k;
			rc = render_list(rs, ch, t, n->child, &f, depth);
			lua_settop(L, list);
		}
	}
	lua_settop(L, list - 1);
	return rc;
}

/* Pushes the value of P: the innermost loop first, then the view. */
static void resolve(struct rstate *rs, const struct tmpl *t, const struct path *p, const struct frame *sc)
{
	lua_State *L = rs->L;
	const struct seg *s = &t->segs[p->seg];
	const struct frame *f;
	if (p->is_loop && sc) {
		const struct seg *field = p->nseg == 2 && s[1].index < 0 ? &s[1] : NULL;
		const char *fs = field ? t->pool + field->str : NULL;
		if (!field)
			lua_pushnil(L);
		else if (field->len == 5 && memcmp(fs, "index", 5) == 0)
			lua_pushinteger(L, sc->index);
		else if (field->len == 6 && memcmp(fs, "length", 6) == 0)
			lua_pushinteger(L, sc->length);
		else if (field->len == 5 && memcmp(fs, "first", 5) == 0)
			lua_pushboolean(L, sc->index == 1);
		else if (field->len == 4 && memcmp(fs, "last", 4) == 0)
			lua_pushboolean(L, sc->index == sc->length);
		else
			lua_pushnil(L);
		return;
	}
	for (f = sc; f; f = f->up)
		if (f->varlen == s[0].len && memcmp(f->var, t->pool + s[0].str, s[0].len) == 0)
			break;
	if (f) {
		lua_pushvalue(L, f->item);
	} else if (lua_type(L, rs->view) == LUA_TTABLE) {
		lua_pushlstring(L, t->pool + s[0].str, s[0].len);
		lua_rawget(L, rs->view);
	} else {
		lua_pushnil(L);
	}
	for (uint32_t k = 1; k < p->nseg; k++) {
		if (lua_type(L, -1) != LUA_TTABLE) {
			lua_pop(L, 1);
			lua_pushnil(L);
			return;
		}
		if (s[k].index >= 0) {
			lua_rawgeti(L, -1, s[k].index);
		} else {
			lua_pushlstring(L, t->pool + s[k].str, s[k].len);
			lua_rawget(L, -2);
		}
		lua_remove(L, -2);
	}
}

static int truthy(lua_State *L, int idx)
{
	size_t n = 0;
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		return 0;
	case LUA_TBOOLEAN:
		return lua_toboolean(L, idx);
	case LUA_TSTRING:
		return lua_rawlen(L, idx) > 0;
	case LUA_TTABLE:
		if (lua_rawlen(L, idx) > 0)
			return 1;
		lua_pushnil(L);
		if (lua_next(L, idx)) {   /* raw: __pairs is not consulted */
			lua_pop(L, 2);
			return 1;
		}
		return 0;
	case LUA_TUSERDATA:
		return !tmpl_to_safehtml(L, idx, &n) || n > 0;
	default:
		return 1;
	}
}

static int emit_value(struct rstate *rs, uint8_t ctx, int idx)
{
	lua_State *L = rs->L;
	char num[64];
	const char *s;
	size_t n;
	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &n);   /* a string already: no conversion */
		break;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			/* by hand: snprintf was an eighth of a page's render time */
			lua_Integer v = lua_tointeger(L, idx);
			lua_Unsigned m = v < 0 ? 0 - (lua_Unsigned)v : (lua_Unsigned)v;
			char *p = num + sizeof(num);
			do {
				*--p = (char)('0' + m % 10);
				m /= 10;
			} while (m);
			if (v < 0)
				*--p = '-';
			s = p;
			n = (size_t)(num + sizeof(num) - p);
		} else {
			snprintf(num, sizeof(num), "%.14g", (double)lua_tonumber(L, idx));
			s = num;
			n = strlen(num);
		}
		break;
	case LUA_TBOOLEAN:
		s = lua_toboolean(L, idx) ? "true" : "false";
		n = strlen(s);
		break;
	case LUA_TUSERDATA:
		s = tmpl_to_safehtml(L, idx, &n);
		if (!s)
			return 0;
		if (ctx == E_TEXT && !rs->rcdata)
			return out(rs, s, n);
		break;
	default:
		return 0;       /* nil, tables, functions: nothing */
	}
	return emit_bytes(rs, ctx, s, n);
}

static int emit_bytes(struct rstate *rs, uint8_t ctx, const char *s, size_t n)
{
	switch (ctx) {
	case E_URL_START:
		if (!url_safe(s, n))
			return out(rs, "about:invalid#blocked", 21);
		return escape(rs, s, n, 0);
	case E_URL_PART:
		return escape(rs, s, n, 1);
	default:
		return escape(rs, s, n, 0);
	}
}

/* HTML-escapes (or percent-encodes) S, dropping control bytes other than
 * tab, newline and carriage return and replacing invalid UTF-8 with
 * U+FFFD: so a value never leaves its context. Runs of bytes that need
 * nothing are copied in one piece. */
static int escape(struct rstate *rs, const char *s, size_t n, int pct)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		if (pct)
			while (i < n && PCT_PLAIN(u[i]))
				i++;
		else
			for (;;) {      /* well-formed UTF-8 belongs to the run */
				while (i < n && HTML_PLAIN(u[i]))
					i++;
				size_t l = i < n && u[i] >= 0x80 ? utf8_seq_len(u + i, n - i) : 0;
				if (l == 0)
					break;
				i += l;
			}
		if (i > run && out(rs, s + run, i - run) != 0)
			return -1;
		if (i == n)
			break;
		unsigned char c = u[i];
		const char *rep = "";
		size_t rl = 0, adv = 1;
		char pbuf[12];
		if (c >= 0x80) {
			size_t l = utf8_seq_len(u + i, n - i);
			if (l == 0) {
				rep = pct ? "%EF%BF%BD" : "\xEF\xBF\xBD";
				rl = pct ? 9 : 3;
			} else if (pct) {
				for (size_t k = 0; k < l; k++) {
					pbuf[3 * k] = '%';
					pbuf[3 * k + 1] = hex[u[i + k] >> 4];
					pbuf[3 * k + 2] = hex[u[i + k] & 15];
				}
				rep = pbuf;
				rl = 3 * l;
				adv = l;
			} else {
				rep = s + i;
				rl = adv = l;
			}
		} else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
			/* dropped */
		} else if (pct) {
			pbuf[0] = '%';
			pbuf[1] = hex[c >> 4];
			pbuf[2] = hex[c & 15];
			rep = pbuf;
			rl = 3;
		} else {
			switch (c) {
			case '&': rep = "&amp;"; rl = 5; break;
			case '<': rep = "&lt;"; rl = 4; break;
			case '>': rep = "&gt;"; rl = 4; break;
			case '"': rep = "&quot;"; rl = 6; break;
			default: rep = "&#39;"; rl = 5; break;
			}
		}
		if (rl && out(rs, rep, rl) != 0)
			return -1;
		i += adv;
	}
	return 0;
}

/* Relative, or scheme http, https, mailto or tel. Bytes the URL parser
 * ignores (leading spaces and controls, tabs and newlines anywhere) and
 * the control bytes escape() drops are skipped, as the browser would. */
static int url_safe(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	char sch[8];
	size_t i = 0, sl = 0;
	int too_long = 0;
	while (i < n && u[i] <= 0x20)
		i++;
	if (i == n || u[i] == '/' || u[i] == '#' || u[i] == '?' || u[i] == '.')
		return 1;
	for (; i < n; i++) {
		unsigned char c = u[i];
		if (c < 0x20)
			continue;
		if (c == ':')
			break;
		if (c == '/' || c == '?' || c == '#')
			return 1;
		if (sl == sizeof(sch))
			too_long = 1;   /* longer than any scheme we allow */
		else
			sch[sl++] = LOWER(c);
	}
	if (i == n)
		return 1;
	if (too_long)
		return 0;
	return (sl == 4 && memcmp(sch, "http", 4) == 0) || (sl == 5 && memcmp(sch, "https", 5) == 0) ||
	       (sl == 6 && memcmp(sch, "mailto", 6) == 0) || (sl == 3 && memcmp(sch, "tel", 3) == 0);
}

static int out(struct rstate *rs, const char *s, size_t n)
{
	struct tbuf *b = rs->out;
	if (n < b->cap - b->len && b->len + n <= b->max) {      /* room, NUL included */
		memcpy(b->data + b->len, s, n);
		b->len += n;
		b->data[b->len] = '\0';
		return 0;
	}
	if (tbuf_add(b, s, n) == 0)
		return 0;
	if (n > rs->out->max || rs->out->len > rs->out->max - n)
		return rfail(rs, rs->cur, rs->line, "output larger than %zu bytes", rs->out->max);
	return rfail(rs, rs->cur, rs->line, "out of memory");
}

static int need(struct rstate *rs, int n)
{
	if (lua_checkstack(rs->L, n))
		return 0;
	return rfail(rs, rs->cur, rs->line, "Lua stack exhausted");
}

static int rfail(struct rstate *rs, const struct tmpl *t, uint32_t line, const char *fmt, ...)
{
	if (!rs->failed && rs->err && rs->errlen) {
		char msg[256];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		snprintf(rs->err, rs->errlen, "%s:%u: %s", t ? t->name : "?", (unsigned)line, msg);
	}
	rs->failed = 1;
	return -1;
}

static int safehtml_tostring(lua_State *L)
{
	size_t n;
	const char *s = tmpl_to_safehtml(L, 1, &n);
	lua_pushlstring(L, s ? s : "", s ? n : 0);
	return 1;
}
