/* UTF-8 checks shared by the template engine, the tenant commands and the
 * Lua bindings. */
#ifndef AANTAFEL_UTF8_H
#define AANTAFEL_UTF8_H

#include <stddef.h>

/* Length of the well-formed UTF-8 sequence at P (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF), 1 for ASCII, or 0 when P does
 * not start a well-formed sequence within N bytes. */
size_t utf8_seq_len(const unsigned char *p, size_t n);

/* Number of characters in S[0..N), or -1 when it is not well-formed
 * UTF-8. */
long utf8_count(const char *s, size_t n);

#endif
