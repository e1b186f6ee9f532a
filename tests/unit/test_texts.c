/* The platform's translations read once: root files first, plugins' after
 * (later files win), both languages, lookups by key; a broken file is
 * refused with its name. */
#include <string.h>

#include "bundle.h"
#include "check.h"
#include "texts.h"

static struct bundle *make(size_t n, const char **paths, const char **datas)
{
	size_t lens[8];
	for (size_t i = 0; i < n; i++)
		lens[i] = strlen(datas[i]);
	char err[256];
	struct bundle *b = bundle_from_files(0, 0, n, paths, datas, lens, err, sizeof(err));
	CHECK_MSG(b != NULL, "%s", err);
	return b;
}

int main(void)
{
	const char *paths[] = {"translations/nl.lua", "translations/en.lua", "site/translations/nl.lua",
			       "site/init.lua", "site/templates/translations/nl.lua"};
	const char *datas[] = {
		"return { ['a.hello'] = 'Hallo', ['a.both'] = 'van de basis' }",
		"return { ['a.hello'] = 'Hello' }",
		"return { ['a.both'] = 'van de plugin', ['site.x'] = 'X' }",
		"plugin.route('GET', '/', function() end)",
		"error('not a translation file')",
	};
	struct bundle *b = make(5, paths, datas);
	char err[256];
	struct texts *t = texts_from_bundle(b, err, sizeof(err));
	CHECK_MSG(t != NULL, "%s", err);
	CHECK_STR_EQ(texts_get(t, "nl", "a.hello"), "Hallo");
	CHECK_STR_EQ(texts_get(t, "en", "a.hello"), "Hello");
	CHECK_STR_EQ(texts_get(t, "nl", "a.both"), "van de plugin");   /* the plugin's file came later */
	CHECK_STR_EQ(texts_get(t, "nl", "site.x"), "X");
	CHECK(texts_get(t, "en", "site.x") == NULL);
	CHECK(texts_get(t, "de", "a.hello") == NULL);
	CHECK(texts_get(t, "nl", "nope") == NULL);
	CHECK(texts_count(t, "nl") == 3 && texts_count(t, "en") == 1);
	texts_free(t);
	bundle_unref(b);

	const char *bad_paths[] = {"site/translations/en.lua"};
	const char *bads[][1] = {{"return { ['k'] = 3 }"}, {"return 'text'"}, {"return {"}, {"while true do end"}};
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		b = make(1, bad_paths, bads[i]);
		t = texts_from_bundle(b, err, sizeof(err));
		CHECK(t == NULL);
		CHECK_CONTAINS(err, "site/translations/en.lua");
		texts_free(t);
		bundle_unref(b);
	}
	/* The shipped platform's files read cleanly, in both languages alike. */
	b = bundle_read_dir("plugins", err, sizeof(err));
	CHECK_MSG(b != NULL, "%s", err);
	t = b ? texts_from_bundle(b, err, sizeof(err)) : NULL;
	CHECK_MSG(t != NULL, "%s", err);
	CHECK(texts_count(t, "nl") > 100 && texts_count(t, "nl") == texts_count(t, "en"));
	texts_free(t);
	bundle_unref(b);
	return check_exit("test_texts");
}
