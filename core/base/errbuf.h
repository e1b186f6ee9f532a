/* The error buffer that functions fill for their caller (char *err,
 * size_t errlen): one formatted message, truncated to fit, and nothing
 * written when there is no buffer. */
#ifndef AANTAFEL_ERRBUF_H
#define AANTAFEL_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

__attribute__((format(printf, 3, 4))) static inline void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

#endif
