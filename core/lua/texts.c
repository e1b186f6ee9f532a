/* The platform's translations, shared by every tenant's state. */
#include "texts.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsandbox.h"

#define TEXTS_MEMORY (16 * 1024 * 1024)
#define TEXTS_INSTRUCTIONS 10000000
#define TEXTS_MS 5000

static const char *const langs[] = {"nl", "en"};
#define NLANGS (sizeof(langs) / sizeof(langs[0]))

struct text {
	char *key;
	char *value;
	size_t order;           /* files read later win */
};

struct texts {
	struct text *items[NLANGS];
	size_t n[NLANGS], cap[NLANGS];
};

static int lang_index(const char *lang)
{
	for (size_t i = 0; i < NLANGS; i++)
		if (strcmp(langs[i], lang) == 0)
			return (int)i;
	return -1;
}

static int add(struct texts *t, int li, const char *key, const char *value, size_t order)
{
	if (t->n[li] == t->cap[li]) {
		size_t cap = t->cap[li] ? t->cap[li] * 2 : 256;
		struct text *items = realloc(t->items[li], cap * sizeof(*items));
		if (!items)
			return -1;
		t->items[li] = items;
		t->cap[li] = cap;
	}
	struct text *x = &t->items[li][t->n[li]];
	x->key = strdup(key);
	x->value = strdup(value);
	x->order = order;
	if (!x->key || !x->value) {
		free(x->key);
		free(x->value);
		return -1;
	}
	t->n[li]++;
	return 0;
}

static int by_key_then_order(const void *a, const void *b)
{
	const struct text *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Sorts and keeps the last of equal keys. */
static void finish(struct texts *t, int li)
{
	if (!t->n[li])
		return;
	qsort(t->items[li], t->n[li], sizeof(struct text), by_key_then_order);
	size_t w = 0;
	for (size_t r = 0; r < t->n[li]; r++) {
		if (r + 1 < t->n[li] && strcmp(t->items[li][r].key, t->items[li][r + 1].key) == 0) {
			free(t->items[li][r].key);
			free(t->items[li][r].value);
			continue;
		}
		t->items[li][w++] = t->items[li][r];
	}
	t->n[li] = w;
}

/* "translations/LANG.lua" or "NAME/translations/LANG.lua": the language's
 * index, else -1. */
static int translation_file(const char *path, bool *root)
{
	const char *p = strstr(path, "translations/");
	if (!p || (p != path && (p[-1] != '/' || strchr(path, '/') != p - 1)))
		return -1;
	*root = p == path;
	char lang[8];
	const char *name = p + strlen("translations/");
	size_t n = strlen(name);
	if (n < 5 || n > 7 || strcmp(name + n - 4, ".lua") != 0)
		return -1;
	snprintf(lang, sizeof(lang), "%.*s", (int)(n - 4), name);
	return lang_index(lang);
}

static int read_file(struct texts *t, struct lsandbox *sb, const struct bundle_file *f, int li, size_t order,
		     char *err, size_t errlen)
{
	lua_State *L = sb->L;
	char why[400];
	struct lbudget budget;
	lsb_budget_init(&budget, TEXTS_INSTRUCTIONS, TEXTS_MS);
	char name[300];
	snprintf(name, sizeof(name), "plugins/%s", f->path);
	lsb_push_env(sb);
	if (lsb_load(sb, f->data, f->len, name, -1, why, sizeof(why)) != 0) {
		lua_pop(L, 1);
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	lua_remove(L, -2);
	if (lsb_call(sb, 0, 1, &budget, why, sizeof(why)) != 0) {
		/* Lua's own message names the file and line; a stopped run not. */
		if (strstr(why, name))
			snprintf(err, errlen, "%s", why);
		else
			snprintf(err, errlen, "%s: %s", name, why);
		return -1;
	}
	if (!lua_istable(L, -1)) {
		lua_pop(L, 1);
		snprintf(err, errlen, "%s: must return a table of key = text", name);
		return -1;
	}
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
			lua_pop(L, 3);
			snprintf(err, errlen, "%s: translations are key = text strings", name);
			return -1;
		}
		if (add(t, li, lua_tostring(L, -2), lua_tostring(L, -1), order) != 0) {
			lua_pop(L, 3);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return 0;
}

struct texts *texts_from_bundle(const struct bundle *platform, char *err, size_t errlen)
{
	struct texts *t = calloc(1, sizeof(*t));
	struct lsandbox *sb = t ? lsb_new(TEXTS_MEMORY, "texts", err, errlen) : NULL;
	if (!sb) {
		if (!t)
			snprintf(err, errlen, "out of memory");
		free(t);
		return NULL;
	}
	/* The platform's own files first, then the plugins': as a tenant's
	 * state used to read them, later files win. */
	size_t order = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < platform->nfiles; i++) {
			bool root;
			int li = translation_file(platform->files[i].path, &root);
			if (li < 0 || root != (pass == 0))
				continue;
			if (read_file(t, sb, &platform->files[i], li, order++, err, errlen) != 0) {
				lsb_free(sb);
				texts_free(t);
				return NULL;
			}
		}
	}
	lsb_free(sb);
	for (size_t li = 0; li < NLANGS; li++)
		finish(t, (int)li);
	return t;
}

static int cmp_key(const void *key, const void *item)
{
	return strcmp(key, ((const struct text *)item)->key);
}

const char *texts_get(const struct texts *t, const char *lang, const char *key)
{
	int li = t && lang && key ? lang_index(lang) : -1;
	if (li < 0 || !t->n[li])
		return NULL;
	const struct text *x = bsearch(key, t->items[li], t->n[li], sizeof(struct text), cmp_key);
	return x ? x->value : NULL;
}

size_t texts_count(const struct texts *t, const char *lang)
{
	int li = t ? lang_index(lang) : -1;
	return li < 0 ? 0 : t->n[li];
}

void texts_free(struct texts *t)
{
	if (!t)
		return;
	for (size_t li = 0; li < NLANGS; li++) {
		for (size_t i = 0; i < t->n[li]; i++) {
			free(t->items[li][i].key);
			free(t->items[li][i].value);
		}
		free(t->items[li]);
	}
	free(t);
}
