/* application/x-www-form-urlencoded, as forms and query strings send it. */
#ifndef AANTAFEL_URLENC_H
#define AANTAFEL_URLENC_H

#include <stddef.h>

/* Decodes one name or value of N bytes: '+' is a space, %XX a byte. -1
 * for a malformed escape, an encoded NUL or no room in DST (which gets a
 * terminating NUL); else the decoded length. */
long urlenc_decode(const char *src, size_t n, char *dst, size_t dstlen);

#endif
