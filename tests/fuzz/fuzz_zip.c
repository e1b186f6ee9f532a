/* Fuzzes the reader of bundles uploaded as a .zip (core/app/bundle_archive.c,
 * through libzip): the input is the archive as it is. Beyond "no crash":
 * a bundle read holds every limit of bundle.h and only paths without '.'
 * parts or a leading '/'; a refusal says why. The seeds are zips made by
 * Python's zipfile: a bundle in a top folder, a symbolic
 * link, a '..' path, an absolute path, a name given twice, a bomb (1 MiB
 * of zeros), a stored entry whose header says fewer bytes than it holds.
 *
 * Input: the .zip archive. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/app/bundle.h"
#include "../../core/app/bundle_archive.h"
#include "fz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512] = "";
	struct bundle *b = bundle_from_archive(data, size, err, sizeof(err));
	if (b) {
		FZ_ASSERT(b->nfiles <= BUNDLE_MAX_FILES && b->total_bytes <= BUNDLE_MAX_TOTAL);
		for (size_t i = 0; i < b->nfiles; i++) {
			const char *p = b->files[i].path;
			FZ_ASSERT(p[0] && p[0] != '/' && p[0] != '.' && !strstr(p, "/.") && strlen(p) <= BUNDLE_MAX_PATH);
			FZ_ASSERT(b->files[i].len <= BUNDLE_MAX_FILE && b->files[i].data[b->files[i].len] == '\0');
			if (i > 0)
				FZ_ASSERT(strcmp(b->files[i - 1].path, p) < 0);
		}
		bundle_unref(b);
	} else {
		FZ_ASSERT(err[0] != '\0');
	}
	return 0;
}
