/* Fuzzes what reads stored password hashes and new passwords: the strict
 * "$scrypt$" parser, its base64, and the policy. Beyond "no crash": an
 * accepted hash is within the bounds and is the one canonical spelling of
 * its parts (formatting them again gives the input back), base64 that
 * decodes encodes back to itself, and an accepted password is valid UTF-8
 * of 12 to 1024 bytes' worth of characters. Hashes cheap enough are also
 * verified, which must answer 0 (the input is not derived from "x").
 *
 * Input: the bytes are the stored string, the base64 and the password. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Compiled in, for coverage and the sanitizers (see fuzz_http_head.c). */
#include "../../core/base/encode.c"
#include "../../core/app/password.c"
#include "fz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	struct pw_stored st;
	if (parse_stored(s, &st) == 0) {
		FZ_ASSERT(st.ln >= 1 && st.ln <= 20);
		FZ_ASSERT(st.r >= 1 && st.r <= PW_R_MAX && st.p >= 1 && st.p <= PW_P_MAX);
		FZ_ASSERT(st.salt_len >= SALT_MIN && st.salt_len <= SALT_MAX);
		FZ_ASSERT(st.key_len >= KEY_MIN && st.key_len <= KEY_MAX);
		char again[STORED_MAX + 8];
		int n = snprintf(again, sizeof(again), PREFIX "ln=%u,r=%" PRIu32 ",p=%" PRIu32 "$", st.ln, st.r, st.p);
		FZ_ASSERT(n > 0 && (size_t)n < sizeof(again));
		size_t k = enc_base64(st.salt, st.salt_len, false, again + n, sizeof(again) - (size_t)n);
		FZ_ASSERT(k > 0);
		n += (int)k;
		again[n++] = '$';
		k = enc_base64(st.key, st.key_len, false, again + n, sizeof(again) - (size_t)n);
		FZ_ASSERT(k > 0);
		FZ_ASSERT(strcmp(again, s) == 0);
		uint64_t cost = (1ULL << st.ln) * st.r * st.p;
		if (cost <= 512) {
			int v = password_verify("x", 1, s);
			FZ_ASSERT(v == 0 || v == -1);
		}
	}

	unsigned char bin[96];
	char text[160];
	long got = enc_base64_decode(s, size < 128 ? size : 128, bin, sizeof(bin));
	if (got >= 0) {
		size_t e = enc_base64(bin, (size_t)got, false, text, sizeof(text));
		FZ_ASSERT(e == (size < 128 ? size : 128));
		FZ_ASSERT(memcmp(text, s, e) == 0);
	}

	const char *why = password_policy(s, size, (size & 1) ? "en" : "nl");
	if (!why) {
		long chars = utf8_count(s, size);
		FZ_ASSERT(size <= PW_MAX_BYTES && chars >= PW_MIN_CHARS);
	}
	free(s);
	return 0;
}
