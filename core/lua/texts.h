/* The platform's translations (plugins_dir: translations/LANG.lua and
 * NAME/translations/LANG.lua), read once into one immutable table that
 * every tenant's Lua state consults. Only a municipality's own strings
 * live in its state: hundreds of tenants do not each keep a copy of the
 * platform's texts. */
#ifndef AANTAFEL_TEXTS_H
#define AANTAFEL_TEXTS_H

#include <stddef.h>

#include "bundle.h"

struct texts;

/* Reads the translation files of PLATFORM, each run in a scratch sandbox
 * as a chunk that returns {key = text}. NULL with the file and the reason
 * in err when one does not. */
struct texts *texts_from_bundle(const struct bundle *platform, char *err, size_t errlen);

/* The text of KEY in LANG ("nl" or "en"), or NULL. */
const char *texts_get(const struct texts *t, const char *lang, const char *key);

size_t texts_count(const struct texts *t, const char *lang);

void texts_free(struct texts *t);

#endif
