/* Fuzzes the template compiler and renderer: any source either fails to
 * compile with a message or renders within its caps, without touching
 * metatables, unbalancing the Lua stack or letting view data become markup.
 *
 * Input: 8 bytes that seed the view, then the template source; a "\0\0"
 * in the source starts a second template, known as "base" (so extends and
 * blocks meet a real parent). Every other name looks up the first
 * template itself: self-includes stop at the depth cap. */
#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The code under test is compiled into this target, not taken from the
 * core library: only so does it get libFuzzer's coverage instrumentation
 * and the sanitizers (the library is built without them). */
#include "../../core/lua/template.c"
#include "../../core/lua/template_parse.c"
#include "../../core/lua/template_render.c"
#include "../../core/lua/template_scan.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct tmpl *fz_lookup(void *ctx, const char *name);
static const char *fz_translate(void *ctx, const char *key);
static int fz_forbidden(lua_State *L);
static uint64_t fz_next(uint64_t *s);
static void fz_push_value(lua_State *L, uint64_t *rng, int depth);
static void fz_push_view(lua_State *L, uint64_t seed);
static void fz_render(const struct tmpl *t, lua_State *L, int marker_free);

/* Strings from residents: every one must stay inert. "zq" marks view
 * data, so markup with it in the output came from the view. */
static const char *const nasty[] = {
	"<script>alert(1)</script>", "\" onmouseover=\"x", "' onfocus='x", "javascript:alert(1)",
	" JaVaScRiPt:alert(1)", "\tjavascript:alert(1)", "java\nscript:alert(1)", "data:text/html,<b>",
	"vbscript:msgbox(1)", "https://example.org/?a=1&b=2", "/tafels/1", "#top", "mailto:a@b.nl",
	"\xff\xfe\xc0\xaf\xed\xa0\x80", "caf\xc3\xa9 \xf0\x9f\x98\x80", "", "0", "<zq>\"zq'zq&zq",
	"</title><zq", "</script><zq", "--><zq", "\x01\x1b[2J\x7f", "{{ x }}{% if %}",
};
#define NNASTY (sizeof(nasty) / sizeof(nasty[0]))

static const char *const safe[] = {"<b>vet</b>", "", "<p>alinea &amp; meer</p>", "<a href=\"/x\">x</a>"};

static const char *const keys[] = {"a", "b", "c", "x", "y", "items", "list", "user", "html", "url", "n",
				   "s", "name", "title", "t", "loop"};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct fz_ctx {
	const struct tmpl *self, *base;
};

static struct fz_ctx fz_c;
static struct tmpl_env fz_env = {fz_lookup, fz_translate, &fz_c, 8, 300};

static const struct tmpl *fz_lookup(void *ctx, const char *name)
{
	struct fz_ctx *c = ctx;
	if (strcmp(name, "base") == 0 && c->base)
		return c->base;
	return c->self;
}

static const char *fz_translate(void *ctx, const char *key)
{
	(void)ctx;
	switch (key[0] % 4) {
	case 0: return NULL;
	case 1: return "<zq>\"zq'zq";
	case 2: return "javascript:alert(1)";
	default: return "Hallo & welkom";
	}
}

/* Any metamethod call is a bug: rendering must read raw. */
static int fz_forbidden(lua_State *L)
{
	(void)L;
	fprintf(stderr, "a metamethod was called while rendering\n");
	abort();
}

static uint64_t fz_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void fz_push_value(lua_State *L, uint64_t *rng, int depth)
{
	uint64_t r = fz_next(rng);
	switch (r % 10) {
	case 0:
		lua_pushnil(L);
		break;
	case 1:
		lua_pushstring(L, nasty[(r >> 8) % NNASTY]);
		break;
	case 2:
		lua_pushinteger(L, (lua_Integer)(int16_t)(r >> 8));
		break;
	case 3:
		lua_pushnumber(L, (double)(int16_t)(r >> 8) / 7.0);
		break;
	case 4:
		lua_pushboolean(L, (r >> 8) & 1);
		break;
	case 5:
	case 6:
		if (depth >= 3) {
			lua_pushstring(L, nasty[(r >> 8) % NNASTY]);
			break;
		}
		lua_newtable(L);
		if (r % 10 == 5) {      /* a record */
			for (size_t k = 0; k < NKEYS; k++) {
				if (fz_next(rng) % 3)
					continue;
				fz_push_value(L, rng, depth + 1);
				lua_setfield(L, -2, keys[k]);
			}
		} else {                /* a list */
			int n = (int)((r >> 8) % 5);
			for (int k = 1; k <= n; k++) {
				fz_push_value(L, rng, depth + 1);
				lua_rawseti(L, -2, k);
			}
		}
		break;
	case 7:
		tmpl_push_safehtml(L, safe[(r >> 8) % 4], strlen(safe[(r >> 8) % 4]));
		break;
	case 8:                         /* metamethods that must never run */
		lua_newtable(L);
		if ((r >> 8) & 1) {
			lua_pushstring(L, nasty[(r >> 9) % NNASTY]);
			lua_rawseti(L, -2, 1);
		}
		lua_newtable(L);
		static const char *const mm[] = {"__index", "__len", "__pairs", "__tostring", "__eq", "__call"};
		for (size_t k = 0; k < sizeof(mm) / sizeof(mm[0]); k++) {
			lua_pushcfunction(L, fz_forbidden);
			lua_setfield(L, -2, mm[k]);
		}
		lua_setmetatable(L, -2);
		break;
	default:
		lua_newtable(L);
		break;
	}
}

static void fz_push_view(lua_State *L, uint64_t seed)
{
	lua_newtable(L);
	for (size_t k = 0; k < NKEYS; k++) {
		fz_push_value(L, &seed, 0);
		lua_setfield(L, -2, keys[k]);
	}
	if (seed & 1) {                 /* the view itself with a metatable */
		lua_newtable(L);
		lua_pushcfunction(L, fz_forbidden);
		lua_setfield(L, -2, "__index");
		lua_setmetatable(L, -2);
	}
}

static void fz_render(const struct tmpl *t, lua_State *L, int marker_free)
{
	struct tbuf b;
	char err[256];
	tbuf_init(&b, 16 * 1024);
	lua_pushinteger(L, 7);
	int top = lua_gettop(L);
	int rc = tmpl_render(t, &fz_env, L, -2, &b, err, sizeof(err));
	if (lua_gettop(L) != top || lua_tointeger(L, -1) != 7 || lua_gc(L, LUA_GCISRUNNING) != 1) {
		fprintf(stderr, "render left the Lua stack or collector changed\n");
		abort();
	}
	if (rc != 0 && (!err[0] || !strchr(err, ':'))) {
		fprintf(stderr, "render failed without a message\n");
		abort();
	}
	if (b.len > b.max || (b.data && strlen(b.data) > b.len)) {
		fprintf(stderr, "output buffer inconsistent\n");
		abort();
	}
	if (rc == 0 && marker_free && b.data &&
	    (memmem(b.data, b.len, "<zq", 3) || memmem(b.data, b.len, "\"zq", 3) || memmem(b.data, b.len, "'zq", 3))) {
		fprintf(stderr, "view data became markup:\n%.*s\n", (int)b.len, b.data);
		abort();
	}
	lua_pop(L, 1);
	tbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t seed = 0;
	for (size_t i = 0; i < 8 && i < size; i++)
		seed = seed << 8 | data[i];
	const char *src = size > 8 ? (const char *)data + 8 : "";
	size_t len = size > 8 ? size - 8 : 0;
	const char *bsrc = NULL;
	size_t blen = 0;
	const char *sep = memmem(src, len, "\0\0", 2);
	if (sep) {
		bsrc = sep + 2;
		blen = len - (size_t)(bsrc - src);
		len = (size_t)(sep - src);
	}
	char err[256];
	struct tmpl *t = tmpl_compile("main", src, len, err, sizeof(err));
	if (!t) {
		if (strncmp(err, "main:", 5) != 0)
			abort();
		return 0;
	}
	struct tmpl *base = bsrc ? tmpl_compile("base", bsrc, blen, err, sizeof(err)) : NULL;
	fz_c.self = t;
	fz_c.base = base;
	/* "zq" in a template's own text may legitimately print markup */
	int marker_free = !memmem(data, size, "zq", 2);

	lua_State *L = luaL_newstate();
	if (L) {
		fz_push_view(L, seed);
		fz_render(t, L, marker_free);
		if (base)
			fz_render(base, L, marker_free);
		lua_pop(L, 1);
		lua_close(L);
	}
	tmpl_free(base);
	tmpl_free(t);
	return 0;
}
