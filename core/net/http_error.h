/* Static error pages, one file per language and status
 * (errors_dir/LANG/STATUS.html), loaded into memory so an error answer
 * needs no I/O and no Lua: they are sent before any tenant code runs. */
#ifndef AANTAFEL_HTTP_ERROR_H
#define AANTAFEL_HTTP_ERROR_H

#include <stddef.h>

struct error_pages;

/* Loads DIR; a missing file falls back to a built-in page. Never NULL
 * unless out of memory. */
struct error_pages *error_pages_load(const char *dir);
void error_pages_free(struct error_pages *p);
const char *error_pages_get(const struct error_pages *p, const char *lang, int status, size_t *len);

#endif
