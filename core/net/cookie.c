#include "cookie.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "encode.h"

long cookie_get(const char *header, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	const char *p = header;
	while (p && *p) {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > nlen && p[nlen] == '=' && memcmp(p, name, nlen) == 0) {
			const char *v = p + nlen + 1;
			size_t vlen = len - nlen - 1;
			while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
				vlen--;
			if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
				v++;
				vlen -= 2;
			}
			if (vlen >= outlen)
				return -1;
			memcpy(out, v, vlen);
			out[vlen] = '\0';
			return (long)vlen;
		}
		p = end;
	}
	return -1;
}

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int token_new(char *out)
{
	unsigned char raw[33];
	if (RAND_bytes(raw, 32) != 1)
		return -1;
	raw[32] = 0;
	size_t k = 0;
	for (size_t i = 0; i < 33; i += 3) {
		unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];
		out[k++] = B64URL[v >> 18 & 63];
		out[k++] = B64URL[v >> 12 & 63];
		out[k++] = B64URL[v >> 6 & 63];
		out[k++] = B64URL[v & 63];
	}
	/* 33 bytes give 44 characters; the last carries only the padding
	 * byte's zero bits. */
	out[TOKEN_CHARS] = '\0';
	return 0;
}

bool token_valid(const char *s)
{
	size_t i = 0;
	for (; s[i]; i++)
		if (i >= TOKEN_CHARS || !strchr(B64URL, s[i]))
			return false;
	return i == TOKEN_CHARS;
}

void token_hash_hex(const char *token, char *out)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_Digest(token, strlen(token), md, &mdlen, EVP_sha256(), NULL);
	enc_hex(md, 32, out);
}

bool token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la != lb)
		return false;
	return CRYPTO_memcmp(a, b, la) == 0;
}

void cookie_session_value(char *out, bool secure, const char *token)
{
	snprintf(out, COOKIE_SET_MAX, "%s=%s; Path=/; HttpOnly; SameSite=Lax%s%s", COOKIE_SESSION(secure),
		 token ? token : "", secure ? "; Secure" : "", token ? "" : "; Max-Age=0");
}

void cookie_csrf_value(char *out, bool secure, const char *token)
{
	snprintf(out, COOKIE_SET_MAX, "%s=%s; Path=/; HttpOnly; SameSite=Lax%s", COOKIE_CSRF(secure), token,
		 secure ? "; Secure" : "");
}
