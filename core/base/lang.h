/* Language negotiation: Dutch first, English available. */
#ifndef AANTAFEL_LANG_H
#define AANTAFEL_LANG_H

#include <stddef.h>

/* Picks "nl" or "en" from an Accept-Language value (NULL: "nl"): the
 * supported language with the highest q wins, ties go to Dutch. */
const char *lang_negotiate(const char *accept_language);

#endif
