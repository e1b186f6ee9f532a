/* Fuzzes the reader of uploaded bundles (core/app/bundle_archive.c): the
 * input is the tar stream, gzip-compressed here so that the fuzzer works
 * on tar headers rather than on deflate's bits; the first byte 'Z' sends
 * the rest as it is (a damaged gzip stream). Beyond "no crash": a bundle
 * read holds every limit of bundle.h and only paths without '.' parts or
 * a leading '/'; a refusal says why.
 *
 * Input: the tar archive (or 'Z' and a raw body). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../../core/app/bundle.h"
#include "../../core/app/bundle_archive.h"
#include "fz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *gz = NULL;
	size_t gzlen;
	if (size > 0 && data[0] == 'Z') {
		gz = malloc(size);
		memcpy(gz, data + 1, size - 1);
		gzlen = size - 1;
	} else {
		z_stream z = {0};
		if (deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			return 0;
		uLong cap = deflateBound(&z, (uLong)size) + 64;
		gz = malloc(cap);
		z.next_in = (unsigned char *)(uintptr_t)data;
		z.avail_in = (uInt)size;
		z.next_out = gz;
		z.avail_out = (uInt)cap;
		FZ_ASSERT(deflate(&z, Z_FINISH) == Z_STREAM_END);
		gzlen = cap - z.avail_out;
		deflateEnd(&z);
	}
	char err[512] = "";
	struct bundle *b = bundle_from_targz(gz, gzlen, err, sizeof(err));
	if (b) {
		FZ_ASSERT(b->nfiles <= BUNDLE_MAX_FILES && b->total_bytes <= BUNDLE_MAX_TOTAL);
		for (size_t i = 0; i < b->nfiles; i++) {
			const char *p = b->files[i].path;
			FZ_ASSERT(p[0] && p[0] != '/' && p[0] != '.' && !strstr(p, "/.") && strlen(p) <= BUNDLE_MAX_PATH);
			FZ_ASSERT(b->files[i].len <= BUNDLE_MAX_FILE && b->files[i].data[b->files[i].len] == '\0');
		}
		bundle_unref(b);
	} else {
		FZ_ASSERT(err[0] != '\0');
	}
	free(gz);
	return 0;
}
