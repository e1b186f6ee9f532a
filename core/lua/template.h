/* The template engine: municipalities write HTML templates, Lua builds the
 * view model, C renders it with escaping chosen by the HTML context of each
 * interpolation, decided once at compile time. Rendering reads the view
 * with raw access only, so it never runs, yields to or loops in Lua code. */
#ifndef AANTAFEL_TEMPLATE_H
#define AANTAFEL_TEMPLATE_H

#include <lua.h>
#include <stddef.h>

#define TMPL_SAFEHTML "aantafel.safehtml"   /* metatable name of the core's safe-HTML userdata */

#define TMPL_MAX_SOURCE (4u * 1024 * 1024)  /* largest template source accepted */
#define TMPL_MAX_NEST 32                    /* if/for/block nesting inside one template */
#define TMPL_MAX_DEPTH 32                   /* hard cap on tmpl_env.max_depth */
#define TMPL_DEFAULT_DEPTH 16               /* when tmpl_env.max_depth is 0 */
#define TMPL_DEFAULT_ITERATIONS 100000      /* when tmpl_env.max_iterations is 0 */

/* A growable output buffer with a hard maximum. data is NUL-terminated
 * once anything was added (the NUL is not counted in len). */
struct tbuf {
	char *data;
	size_t len, cap, max;
};

void tbuf_init(struct tbuf *b, size_t max);
void tbuf_free(struct tbuf *b);
/* Appends N bytes; -1 (and nothing appended) when max would be exceeded
 * or memory runs out. */
int tbuf_add(struct tbuf *b, const char *s, size_t n);

/* The safe-HTML type: a full userdata {size_t len; char data[]} with
 * metatable TMPL_SAFEHTML whose __metatable field is false (so Lua can
 * neither read nor replace it) and whose __tostring gives the HTML as a
 * plain string. Only C creates these (cmark output, our own renderers). */
void tmpl_push_safehtml(lua_State *L, const char *html, size_t len);
/* The HTML of the safe-HTML value at IDX, or NULL if it is anything else.
 * Never calls Lua and never allocates. */
const char *tmpl_to_safehtml(lua_State *L, int idx, size_t *len);

struct tmpl;

/* Compiles SRC (LEN bytes). NAME is used for include/extends lookups by the
 * caller and in messages. Returns NULL with "name:LINE: message" in err on
 * any syntax or escaping-context error. */
struct tmpl *tmpl_compile(const char *name, const char *src, size_t len, char *err, size_t errlen);
void tmpl_free(struct tmpl *t);
const char *tmpl_name(const struct tmpl *t);
/* The name in {% extends "..." %}, or NULL. */
const char *tmpl_parent(const struct tmpl *t);

struct tmpl_env {
	/* For include/extends; NULL = unknown (a render error). */
	const struct tmpl *(*lookup)(void *ctx, const char *name);
	/* For {% t "key" %}; a NULL function or result shows the key. */
	const char *(*translate)(void *ctx, const char *key);
	void *ctx;
	size_t max_depth;        /* include/extends nesting, e.g. 16 (0: default; capped at TMPL_MAX_DEPTH) */
	size_t max_iterations;   /* total loop iterations per render, e.g. 100000 (0: default) */
};

/* Renders T with the view table at stack index VIEW (absolute or relative)
 * into OUT (appending). Leaves the Lua stack as it found it, also on error.
 * Returns 0, or -1 with "name:LINE: message" in err; on error OUT holds a
 * partial page the caller must not send. */
int tmpl_render(const struct tmpl *t, const struct tmpl_env *env, lua_State *L, int view, struct tbuf *out,
		char *err, size_t errlen);

#endif
