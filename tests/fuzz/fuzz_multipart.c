/* Fuzzes the multipart/form-data reader (core/base/multipart.c) of the
 * site's file upload: beyond "no crash", every part found lies inside the
 * body, and no more parts than allowed are found.
 *
 * Input: the Content-Type, a NUL byte, the body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/base/multipart.c"
#include "fz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	if (!nul)
		return 0;
	char *ct = strndup((const char *)data, (size_t)(nul - data));
	size_t blen = size - (size_t)(nul - data) - 1;
	char *body = malloc(blen ? blen : 1);   /* exactly the body: ASan sees a read past it */
	memcpy(body, nul + 1, blen);
	struct multipart_part parts[4];
	char err[128];
	int n = multipart_parse(ct, body, blen, parts, 4, err, sizeof(err));
	FZ_ASSERT(n <= 4);
	for (int i = 0; i < n; i++) {
		FZ_ASSERT(parts[i].data >= body && parts[i].data + parts[i].len <= body + blen);
		FZ_ASSERT(parts[i].name[0] != '\0');
	}
	free(ct);
	free(body);
	return 0;
}
