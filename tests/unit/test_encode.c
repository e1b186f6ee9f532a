/* Hexadecimal and base64 (encode.c), the one copy every part uses. */
#include <string.h>

#include "check.h"
#include "encode.h"

static void test_hex(void)
{
	const unsigned char in[] = {0x00, 0x0f, 0xa5, 0xff};
	char out[9];
	enc_hex(in, sizeof(in), out);
	CHECK_STR_EQ(out, "000fa5ff");
	enc_hex(in, 0, out);
	CHECK_STR_EQ(out, "");
	CHECK_INT_EQ(enc_hex_value('0'), 0);
	CHECK_INT_EQ(enc_hex_value('9'), 9);
	CHECK_INT_EQ(enc_hex_value('a'), 10);
	CHECK_INT_EQ(enc_hex_value('F'), 15);
	CHECK_INT_EQ(enc_hex_value('g'), -1);
	CHECK_INT_EQ(enc_hex_value(' '), -1);
	CHECK_INT_EQ(enc_hex_value(0xc3), -1);
}

/* Round trips at every length up to 3 groups, padded and not. */
static void test_base64(void)
{
	unsigned char in[10], out[10];
	char enc[20];
	for (size_t n = 0; n <= sizeof(in); n++) {
		for (size_t i = 0; i < n; i++)
			in[i] = (unsigned char)(0xf7 * (i + 1) + n);
		size_t e = enc_base64(in, n, false, enc, sizeof(enc));
		CHECK_INT_EQ(e, (n * 4 + 2) / 3);
		CHECK_INT_EQ(enc_base64_decode(enc, e, out, sizeof(out)), (long)n);
		CHECK(memcmp(in, out, n) == 0);
		size_t p = enc_base64(in, n, true, enc, sizeof(enc));
		CHECK_INT_EQ(p, (n + 2) / 3 * 4);
		CHECK(strncmp(enc + e, "==", p - e) == 0 && p - e <= 2);
	}
	/* RFC 4648's examples */
	CHECK_INT_EQ(enc_base64((const unsigned char *)"foob", 4, true, enc, sizeof(enc)), 8);
	CHECK_STR_EQ(enc, "Zm9vYg==");
	CHECK_INT_EQ(enc_base64((const unsigned char *)"fooba", 5, false, enc, sizeof(enc)), 7);
	CHECK_STR_EQ(enc, "Zm9vYmE");
	CHECK_INT_EQ(enc_base64(in, 3, false, enc, 4), 0);     /* no room for the NUL */
	CHECK_INT_EQ(enc_base64(in, 1, true, enc, 4), 0);
	CHECK_INT_EQ(enc_base64_decode("QQ", 2, out, sizeof(out)), 1);
	CHECK_INT_EQ(enc_base64_decode("QR", 2, out, sizeof(out)), -1);    /* unused bits set */
	CHECK_INT_EQ(enc_base64_decode("QQ==", 4, out, sizeof(out)), -1);  /* padding */
	CHECK_INT_EQ(enc_base64_decode("QUJDR", 5, out, sizeof(out)), -1); /* a lone character */
	CHECK_INT_EQ(enc_base64_decode("QU-D", 4, out, sizeof(out)), -1);
	CHECK_INT_EQ(enc_base64_decode("QUJD", 4, out, 2), -1);            /* no room */
}

int main(void)
{
	RUN(test_hex());
	RUN(test_base64());
	return check_exit("test_encode");
}
