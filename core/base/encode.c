/* Hexadecimal and base64, once for the whole daemon (encode.h). */
#include "encode.h"

#include <stdint.h>

const char enc_hex_digits[17] = "0123456789abcdef";

static const char base64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int base64_value(char c);

int enc_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void enc_hex(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = enc_hex_digits[in[i] >> 4];
		out[2 * i + 1] = enc_hex_digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

size_t enc_base64(const unsigned char *in, size_t n, bool pad, char *out, size_t outlen)
{
	size_t rest = n % 3;
	size_t need = n / 3 * 4 + (rest ? (pad ? 4 : rest + 1) : 0);
	if (need + 1 > outlen)
		return 0;
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = base64_chars[v >> 18 & 63];
		out[o++] = base64_chars[v >> 12 & 63];
		out[o++] = base64_chars[v >> 6 & 63];
		out[o++] = base64_chars[v & 63];
	}
	if (rest) {
		uint32_t v = (uint32_t)in[i] << 16 | (rest == 2 ? (uint32_t)in[i + 1] << 8 : 0);
		out[o++] = base64_chars[v >> 18 & 63];
		out[o++] = base64_chars[v >> 12 & 63];
		if (rest == 2)
			out[o++] = base64_chars[v >> 6 & 63];
		else if (pad)
			out[o++] = '=';
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

long enc_base64_decode(const char *in, size_t n, unsigned char *out, size_t outlen)
{
	if (n % 4 == 1)
		return -1;
	size_t len = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	if (len > outlen)
		return -1;
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int v = base64_value(in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (acc & ((1u << bits) - 1))
		return -1;
	return (long)o;
}

static int base64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}
