/* What the parts of the template engine share and nothing else includes:
 * the compiled form (nodes, paths, the string pool), the compile state,
 * the render state, and the functions one part gives another. template.c
 * is the face (template.h); template_parse.c reads a source into nodes,
 * template_scan.c follows the HTML around every interpolation to fix its
 * escaping, template_render.c renders with a view from Lua. */
#ifndef AANTAFEL_TEMPLATE_INTERNAL_H
#define AANTAFEL_TEMPLATE_INTERNAL_H

#include <lua.h>
#include <stdint.h>

#include "template.h"

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

extern char tmpl_safehtml_key;          /* its address keys the metatable in the registry */

int tmpl_parse(struct cstate *cs);
int tmpl_fail(struct cstate *cs, uint32_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
uint32_t tmpl_count_nl(const char *s, size_t n);
int tmpl_analyse(struct cstate *cs);
int tmpl_render_protected(lua_State *L);
int tmpl_rfail(struct rstate *rs, const struct tmpl *t, uint32_t line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int tmpl_safehtml_tostring(lua_State *L);

#endif
