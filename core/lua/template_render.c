/* The template engine's renderer: walks the nodes with the view table,
 * escapes each value as the analysis decided, and charges its work to the
 * Lua budget of the request that renders. */
#include "template_internal.h"

#include "lsandbox.h"
#include "utf8.h"

#include <lauxlib.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ============================================================= rendering */

int tmpl_render_protected(lua_State *L)
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
			return tmpl_rfail(rs, c, c->parent_line, "templates nested deeper than %zu (include/extends)",
				     rs->max_depth);
		const struct tmpl *p = rs->env && rs->env->lookup ? rs->env->lookup(rs->env->ctx, c->parent) : NULL;
		if (!p)
			return tmpl_rfail(rs, c, c->parent_line, "template '%s' not found", c->parent);
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
		return tmpl_rfail(rs, t, t->nodes[first].line, "templates nested too deeply");
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
			return tmpl_rfail(rs, t, n->line, "templates nested deeper than %zu (include/extends)", rs->max_depth);
		const struct tmpl *inc = rs->env && rs->env->lookup ? rs->env->lookup(rs->env->ctx, name) : NULL;
		if (!inc)
			return tmpl_rfail(rs, t, n->line, "template '%s' not found", name);
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
				rc = tmpl_rfail(rs, t, n->line, "more than %zu loop iterations", rs->max_iter);
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
		return tmpl_rfail(rs, rs->cur, rs->line, "output larger than %zu bytes", rs->out->max);
	return tmpl_rfail(rs, rs->cur, rs->line, "out of memory");
}

static int need(struct rstate *rs, int n)
{
	if (lua_checkstack(rs->L, n))
		return 0;
	return tmpl_rfail(rs, rs->cur, rs->line, "Lua stack exhausted");
}

int tmpl_rfail(struct rstate *rs, const struct tmpl *t, uint32_t line, const char *fmt, ...)
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

int tmpl_safehtml_tostring(lua_State *L)
{
	size_t n;
	const char *s = tmpl_to_safehtml(L, 1, &n);
	lua_pushlstring(L, s ? s : "", s ? n : 0);
	return 1;
}
