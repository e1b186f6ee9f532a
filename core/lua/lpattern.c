/* Lua 5.4's pattern language, matched with a meter (see lpattern.h).
 *
 * The matcher is the classic backtracking one: a pattern item is tried at
 * a position, quantifiers expand and give back, captures are positions
 * in the subject. What it adds is the meter: METER() counts a step where
 * the matcher does work (a call of do_match, a character scanned by a
 * quantifier or %b, a start position tried, a byte compared), and every
 * STEP_BATCH steps the count goes to lsb_charge, which raises the
 * request's sticky kill when its instructions or its time are spent. An
 * error may therefore leave from any step; the matcher holds nothing that
 * needs freeing (its buffers live on the Lua stack). */
#include "lpattern.h"

#include <ctype.h>
#include <lauxlib.h>
#include <stddef.h>
#include <string.h>

#include "lsandbox.h"

#define ESC '%'
#define SPECIALS "^$*+?.([%-"
#define MAX_CAPTURES 32         /* LUA_MAXCAPTURES */
#define MAX_DEPTH 200           /* MAXCCALLS: nested do_match calls */
#define CAP_UNFINISHED (-1)
#define CAP_POSITION (-2)
#define STEP_BATCH 1024         /* steps counted before they are charged */
#define MEMCMP_BYTES_PER_STEP 64

struct mstate {
	const char *src_init;
	const char *src_end;
	const char *p_end;
	lua_State *L;
	int depth_left;
	int level;              /* captures open or closed so far */
	unsigned steps;         /* not yet charged */
	struct {
		const char *init;
		ptrdiff_t len;  /* or CAP_UNFINISHED, CAP_POSITION */
	} capture[MAX_CAPTURES];
};

struct gmatch_state {
	const char *src;
	const char *p;
	const char *lastmatch;
	struct mstate ms;
};

static const char *do_match(struct mstate *ms, const char *s, const char *p);

/* ---------------------------------------------------------------- meter */

static void meter_flush(struct mstate *ms)
{
	unsigned n = ms->steps;
	ms->steps = 0;
	if (n)
		lsb_charge(ms->L, n);
}

static inline void meter(struct mstate *ms, unsigned n)
{
	ms->steps += n;
	if (ms->steps >= STEP_BATCH)
		meter_flush(ms);
}

#define METER(ms) meter((ms), 1)

/* ---------------------------------------------------------------- state */

static void state_init(struct mstate *ms, lua_State *L, const char *s, size_t ls, const char *p, size_t lp)
{
	ms->L = L;
	ms->src_init = s;
	ms->src_end = s + ls;
	ms->p_end = p + lp;
	ms->depth_left = MAX_DEPTH;
	ms->level = 0;
	ms->steps = 0;
}

/* Before each attempt; the depth too, since an error (a kill) may have
 * left do_match without giving its level back. */
static void state_reset(struct mstate *ms)
{
	ms->level = 0;
	ms->depth_left = MAX_DEPTH;
}

size_t lpat_position(lua_Integer pos, size_t len)
{
	if (pos > 0)
		return (size_t)pos;
	if (pos == 0)
		return 1;
	if (pos < -(lua_Integer)len)
		return 1;
	return len + (size_t)pos + 1;
}

/* ---------------------------------------------------------------- classes */

static int class_matches(int c, int cl)
{
	int res;
	switch (tolower(cl)) {
	case 'a': res = isalpha(c); break;
	case 'c': res = iscntrl(c); break;
	case 'd': res = isdigit(c); break;
	case 'g': res = isgraph(c); break;
	case 'l': res = islower(c); break;
	case 'p': res = ispunct(c); break;
	case 's': res = isspace(c); break;
	case 'u': res = isupper(c); break;
	case 'w': res = isalnum(c); break;
	case 'x': res = isxdigit(c); break;
	case 'z': res = c == 0; break;  /* kept by Lua 5.4 for old patterns */
	default: return cl == c;
	}
	if (isupper(cl))
		res = !res;
	return res;
}

/* Whether C is in the set [ ... ] from P (at '[') to EC (at ']'). */
static int set_matches(int c, const char *p, const char *ec)
{
	int sig = 1;
	if (p[1] == '^') {
		sig = 0;
		p++;
	}
	while (++p < ec) {
		if (*p == ESC) {
			p++;
			if (class_matches(c, (unsigned char)*p))
				return sig;
		} else if (p[1] == '-' && p + 2 < ec) {
			p += 2;
			if ((unsigned char)p[-2] <= c && c <= (unsigned char)*p)
				return sig;
		} else if ((unsigned char)*p == c) {
			return sig;
		}
	}
	return !sig;
}

/* The end of the single-character class at P. */
static const char *class_end(struct mstate *ms, const char *p)
{
	switch (*p++) {
	case ESC:
		if (p == ms->p_end)
			luaL_error(ms->L, "malformed pattern (ends with '%%')");
		return p + 1;
	case '[':
		if (*p == '^')
			p++;
		do {
			if (p == ms->p_end)
				luaL_error(ms->L, "malformed pattern (missing ']')");
			if (*(p++) == ESC && p < ms->p_end)
				p++;    /* an escaped character, such as %] */
		} while (*p != ']');
		return p + 1;
	default:
		return p;
	}
}

static int single_matches(struct mstate *ms, const char *s, const char *p, const char *ep)
{
	if (s >= ms->src_end)
		return 0;
	int c = (unsigned char)*s;
	switch (*p) {
	case '.':
		return 1;
	case ESC:
		return class_matches(c, (unsigned char)p[1]);
	case '[':
		return set_matches(c, p, ep - 1);
	default:
		return (unsigned char)*p == c;
	}
}

/* ---------------------------------------------------------------- items */

/* %bxy: from an x to its balancing y. */
static const char *match_balance(struct mstate *ms, const char *s, const char *p)
{
	if (p >= ms->p_end - 1)
		luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
	if (*s != *p)
		return NULL;
	int open = *p, close = p[1], depth = 1;
	while (++s < ms->src_end) {
		METER(ms);
		if (*s == close) {
			if (--depth == 0)
				return s + 1;
		} else if (*s == open) {
			depth++;
		}
	}
	return NULL;
}

/* '*' and '+': as many as match, then give back one at a time. */
static const char *max_expand(struct mstate *ms, const char *s, const char *p, const char *ep)
{
	ptrdiff_t i = 0;
	while (single_matches(ms, s + i, p, ep)) {
		METER(ms);
		i++;
	}
	for (; i >= 0; i--) {
		METER(ms);
		const char *res = do_match(ms, s + i, ep + 1);
		if (res)
			return res;
	}
	return NULL;
}

/* '-': as few as let the rest match. */
static const char *min_expand(struct mstate *ms, const char *s, const char *p, const char *ep)
{
	for (;;) {
		METER(ms);
		const char *res = do_match(ms, s, ep + 1);
		if (res)
			return res;
		if (!single_matches(ms, s, p, ep))
			return NULL;
		s++;
	}
}

static const char *start_capture(struct mstate *ms, const char *s, const char *p, ptrdiff_t what)
{
	int level = ms->level;
	if (level >= MAX_CAPTURES)
		luaL_error(ms->L, "too many captures");
	ms->capture[level].init = s;
	ms->capture[level].len = what;
	ms->level = level + 1;
	const char *res = do_match(ms, s, p);
	if (!res)
		ms->level--;
	return res;
}

static int capture_to_close(struct mstate *ms)
{
	for (int level = ms->level - 1; level >= 0; level--)
		if (ms->capture[level].len == CAP_UNFINISHED)
			return level;
	return luaL_error(ms->L, "invalid pattern capture");
}

static const char *end_capture(struct mstate *ms, const char *s, const char *p)
{
	int l = capture_to_close(ms);
	ms->capture[l].len = s - ms->capture[l].init;
	const char *res = do_match(ms, s, p);
	if (!res)
		ms->capture[l].len = CAP_UNFINISHED;
	return res;
}

static int capture_index(struct mstate *ms, int l)
{
	l -= '1';
	if (l < 0 || l >= ms->level || ms->capture[l].len == CAP_UNFINISHED)
		return luaL_error(ms->L, "invalid capture index %%%d", l + 1);
	return l;
}

/* %1 to %9: the same text as that capture again. */
static const char *match_capture(struct mstate *ms, const char *s, int l)
{
	l = capture_index(ms, l);
	size_t len = (size_t)ms->capture[l].len;
	meter(ms, (unsigned)(len / MEMCMP_BYTES_PER_STEP) + 1);
	if ((size_t)(ms->src_end - s) >= len && memcmp(ms->capture[l].init, s, len) == 0)
		return s + len;
	return NULL;
}

/* ---------------------------------------------------------------- the matcher */

/* Matches pattern P at S; the end of the match, or NULL. */
static const char *do_match(struct mstate *ms, const char *s, const char *p)
{
	if (ms->depth_left-- == 0)
		luaL_error(ms->L, "pattern too complex");
again:
	METER(ms);
	if (p != ms->p_end) {
		switch (*p) {
		case '(':
			if (p[1] == ')')
				s = start_capture(ms, s, p + 2, CAP_POSITION);
			else
				s = start_capture(ms, s, p + 1, CAP_UNFINISHED);
			break;
		case ')':
			s = end_capture(ms, s, p + 1);
			break;
		case '$':
			if (p + 1 != ms->p_end)
				goto single;
			s = s == ms->src_end ? s : NULL;
			break;
		case ESC:
			switch (p[1]) {
			case 'b':
				s = match_balance(ms, s, p + 2);
				if (s) {
					p += 4;
					goto again;
				}
				break;
			case 'f': {
				p += 2;
				if (*p != '[')
					luaL_error(ms->L, "missing '[' after '%%f' in pattern");
				const char *ep = class_end(ms, p);
				int previous = s == ms->src_init ? '\0' : (unsigned char)s[-1];
				/* At the subject's end *s is its terminating NUL. */
				if (!set_matches(previous, p, ep - 1) && set_matches((unsigned char)*s, p, ep - 1)) {
					p = ep;
					goto again;
				}
				s = NULL;
				break;
			}
			case '0': case '1': case '2': case '3': case '4':
			case '5': case '6': case '7': case '8': case '9':
				s = match_capture(ms, s, (unsigned char)p[1]);
				if (s) {
					p += 2;
					goto again;
				}
				break;
			default:
				goto single;
			}
			break;
		default:
		single: {
			const char *ep = class_end(ms, p);
			if (!single_matches(ms, s, p, ep)) {
				if (*ep == '*' || *ep == '?' || *ep == '-') {
					p = ep + 1;     /* zero of them is a match */
					goto again;
				}
				s = NULL;
				break;
			}
			switch (*ep) {
			case '?': {
				const char *res = do_match(ms, s + 1, ep + 1);
				if (res) {
					s = res;
				} else {
					p = ep + 1;
					goto again;
				}
				break;
			}
			case '+':
				s = max_expand(ms, s + 1, p, ep);
				break;
			case '*':
				s = max_expand(ms, s, p, ep);
				break;
			case '-':
				s = min_expand(ms, s, p, ep);
				break;
			default:
				s++;
				p = ep;
				goto again;
			}
			break;
		}
		}
	}
	ms->depth_left++;
	return s;
}

/* ---------------------------------------------------------------- captures */

/* Capture I of the match S..E: its start in *cap and its length, or
 * CAP_POSITION with the position pushed. Capture 0 without any capture is
 * the whole match. */
static ptrdiff_t capture_get(struct mstate *ms, int i, const char *s, const char *e, const char **cap)
{
	if (i >= ms->level) {
		if (i != 0)
			luaL_error(ms->L, "invalid capture index %%%d", i + 1);
		*cap = s;
		return e - s;
	}
	ptrdiff_t len = ms->capture[i].len;
	*cap = ms->capture[i].init;
	if (len == CAP_UNFINISHED)
		luaL_error(ms->L, "unfinished capture");
	else if (len == CAP_POSITION)
		lua_pushinteger(ms->L, (ms->capture[i].init - ms->src_init) + 1);
	return len;
}

static void capture_push(struct mstate *ms, int i, const char *s, const char *e)
{
	const char *cap;
	ptrdiff_t len = capture_get(ms, i, s, e, &cap);
	if (len != CAP_POSITION)
		lua_pushlstring(ms->L, cap, (size_t)len);
}

/* Pushes every capture (or the whole match when S is given and there is
 * none); returns how many. */
static int captures_push(struct mstate *ms, const char *s, const char *e)
{
	int n = (ms->level == 0 && s) ? 1 : ms->level;
	luaL_checkstack(ms->L, n, "too many captures");
	for (int i = 0; i < n; i++)
		capture_push(ms, i, s, e);
	return n;
}

/* ---------------------------------------------------------------- find, match */

static int has_specials(const char *p, size_t len)
{
	size_t upto = 0;
	do {
		if (strpbrk(p + upto, SPECIALS))
			return 1;
		upto += strlen(p + upto) + 1;   /* the pattern may hold NULs */
	} while (upto <= len);
	return 0;
}

/* Plain search: each place where the needle's first byte occurs costs a
 * comparison of up to its length. */
static const char *plain_find(struct mstate *ms, const char *s1, size_t l1, const char *s2, size_t l2)
{
	if (l2 == 0)
		return s1;
	if (l2 > l1)
		return NULL;
	unsigned per_try = (unsigned)(l2 / MEMCMP_BYTES_PER_STEP) + 1;
	l2--;
	l1 -= l2;       /* the needle's first byte cannot be found after this */
	const char *init;
	while (l1 > 0 && (init = memchr(s1, *s2, l1)) != NULL) {
		meter(ms, per_try + (unsigned)((size_t)(init - s1) / MEMCMP_BYTES_PER_STEP));
		init++;
		if (memcmp(init, s2 + 1, l2) == 0)
			return init - 1;
		l1 -= (size_t)(init - s1);
		s1 = init;
	}
	return NULL;
}

static int find_or_match(lua_State *L, int find)
{
	size_t ls, lp;
	const char *s = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	size_t init = lpat_position(luaL_optinteger(L, 3, 1), ls) - 1;
	if (init > ls) {
		luaL_pushfail(L);
		return 1;
	}
	struct mstate ms;
	state_init(&ms, L, s, ls, p, lp);
	if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) {
		const char *at = plain_find(&ms, s + init, ls - init, p, lp);
		meter_flush(&ms);
		if (at) {
			lua_pushinteger(L, (at - s) + 1);
			lua_pushinteger(L, (lua_Integer)((size_t)(at - s) + lp));
			return 2;
		}
	} else {
		const char *s1 = s + init;
		int anchor = *p == '^';
		if (anchor) {
			p++;
			lp--;
			ms.p_end = p + lp;
		}
		do {
			state_reset(&ms);
			const char *e = do_match(&ms, s1, p);
			if (e) {
				meter_flush(&ms);
				if (find) {
					lua_pushinteger(L, (s1 - s) + 1);
					lua_pushinteger(L, e - s);
					return captures_push(&ms, NULL, NULL) + 2;
				}
				return captures_push(&ms, s1, e);
			}
		} while (s1++ < ms.src_end && !anchor);
		meter_flush(&ms);
	}
	luaL_pushfail(L);
	return 1;
}

int lpat_find(lua_State *L)
{
	return find_or_match(L, 1);
}

int lpat_match(lua_State *L)
{
	return find_or_match(L, 0);
}

/* ---------------------------------------------------------------- gmatch */

static int gmatch_next(lua_State *L)
{
	struct gmatch_state *gm = lua_touserdata(L, lua_upvalueindex(3));
	gm->ms.L = L;
	for (const char *src = gm->src; src <= gm->ms.src_end; src++) {
		state_reset(&gm->ms);
		const char *e = do_match(&gm->ms, src, gm->p);
		if (e && e != gm->lastmatch) {
			gm->src = gm->lastmatch = e;
			meter_flush(&gm->ms);
			return captures_push(&gm->ms, src, e);
		}
	}
	meter_flush(&gm->ms);
	return 0;
}

int lpat_gmatch(lua_State *L)
{
	size_t ls, lp;
	const char *s = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	size_t init = lpat_position(luaL_optinteger(L, 3, 1), ls) - 1;
	lua_settop(L, 2);       /* the closure keeps both strings alive */
	struct gmatch_state *gm = lua_newuserdatauv(L, sizeof(*gm), 0);
	if (init > ls)
		init = ls + 1;  /* no match is found after the end */
	state_init(&gm->ms, L, s, ls, p, lp);
	gm->src = s + init;
	gm->p = p;
	gm->lastmatch = NULL;
	lua_pushcclosure(L, gmatch_next, 3);
	return 1;
}

/* ---------------------------------------------------------------- gsub */

/* The replacement string with %0 to %9 and %% filled in. */
static void add_replacement_string(struct mstate *ms, luaL_Buffer *b, const char *s, const char *e)
{
	lua_State *L = ms->L;
	size_t l;
	const char *news = lua_tolstring(L, 3, &l);
	meter(ms, (unsigned)(l / MEMCMP_BYTES_PER_STEP) + 1);
	const char *p;
	while ((p = memchr(news, ESC, l)) != NULL) {
		luaL_addlstring(b, news, (size_t)(p - news));
		p++;
		if (*p == ESC) {
			luaL_addchar(b, *p);
		} else if (*p == '0') {
			meter(ms, (unsigned)((size_t)(e - s) / MEMCMP_BYTES_PER_STEP));
			luaL_addlstring(b, s, (size_t)(e - s));
		} else if (isdigit((unsigned char)*p)) {
			const char *cap;
			ptrdiff_t len = capture_get(ms, *p - '1', s, e, &cap);
			if (len == CAP_POSITION) {
				luaL_addvalue(b);
			} else {
				meter(ms, (unsigned)((size_t)len / MEMCMP_BYTES_PER_STEP));
				luaL_addlstring(b, cap, (size_t)len);
			}
		} else {
			luaL_error(L, "invalid use of '%c' in replacement string", ESC);
		}
		l -= (size_t)(p + 1 - news);
		news = p + 1;
	}
	luaL_addlstring(b, news, l);
}

/* Adds what replaces the match S..E; whether it changed anything. */
static int add_replacement(struct mstate *ms, luaL_Buffer *b, const char *s, const char *e, int tr)
{
	lua_State *L = ms->L;
	switch (tr) {
	case LUA_TFUNCTION: {
		lua_pushvalue(L, 3);
		int n = captures_push(ms, s, e);
		meter_flush(ms);        /* the call runs under the count hook */
		lua_call(L, n, 1);
		break;
	}
	case LUA_TTABLE:
		capture_push(ms, 0, s, e);
		lua_gettable(L, 3);
		break;
	default:
		add_replacement_string(ms, b, s, e);
		return 1;
	}
	if (!lua_toboolean(L, -1)) {
		lua_pop(L, 1);
		luaL_addlstring(b, s, (size_t)(e - s));  /* the match itself stays */
		return 0;
	}
	if (!lua_isstring(L, -1))
		return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
	meter(ms, (unsigned)(lua_rawlen(L, -1) / MEMCMP_BYTES_PER_STEP));
	luaL_addvalue(b);
	return 1;
}

int lpat_gsub(lua_State *L)
{
	size_t srcl, lp;
	const char *src = luaL_checklstring(L, 1, &srcl);
	const char *p = luaL_checklstring(L, 2, &lp);
	const char *lastmatch = NULL;
	int tr = lua_type(L, 3);
	lua_Integer max_s = luaL_optinteger(L, 4, (lua_Integer)srcl + 1);
	int anchor = *p == '^';
	lua_Integer n = 0;
	int changed = 0;
	luaL_argexpected(L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
			 "string/function/table");
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	if (anchor) {
		p++;
		lp--;
	}
	struct mstate ms;
	state_init(&ms, L, src, srcl, p, lp);
	while (n < max_s) {
		state_reset(&ms);
		const char *e = do_match(&ms, src, p);
		if (e && e != lastmatch) {
			n++;
			changed = add_replacement(&ms, &b, src, e, tr) | changed;
			src = lastmatch = e;
		} else if (src < ms.src_end) {
			luaL_addchar(&b, *src++);
		} else {
			break;
		}
		if (anchor)
			break;
	}
	if (!changed) {
		lua_pushvalue(L, 1);
	} else {
		meter(&ms, (unsigned)((size_t)(ms.src_end - src) / MEMCMP_BYTES_PER_STEP));
		luaL_addlstring(&b, src, (size_t)(ms.src_end - src));
		luaL_pushresult(&b);
	}
	meter_flush(&ms);
	lua_pushinteger(L, n);
	return 2;
}
