/* What the fuzz targets share: an invariant that aborts with its text, so
 * that libFuzzer keeps the input that broke it. */
#ifndef AANTAFEL_FZ_H
#define AANTAFEL_FZ_H

#include <stdio.h>
#include <stdlib.h>

#define FZ_ASSERT(cond)                                                                   \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                          \
		}                                                                         \
	} while (0)

#endif
