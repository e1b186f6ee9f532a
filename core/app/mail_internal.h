/* What the parts of mail (mail.c, mail_mime.c, mail_deliver.c) share and
 * nothing else includes. */
#ifndef AANTAFEL_MAIL_INTERNAL_H
#define AANTAFEL_MAIL_INTERNAL_H

#include <stddef.h>

/* Writes the formatted message into ERR (ERRLEN bytes), when there is one. */
void mail_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
