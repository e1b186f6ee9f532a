/* Request cookies (RFC 6265 §5.4 as browsers send them), the random
 * tokens behind sessions and CSRF, and the Set-Cookie values of the
 * session and CSRF cookies (the pages and the API set them alike). */
#ifndef AANTAFEL_COOKIE_H
#define AANTAFEL_COOKIE_H

#include <stdbool.h>
#include <stddef.h>

#define TOKEN_CHARS 43          /* 256 bits as unpadded base64url */

/* Copies the value of the first cookie NAME in the Cookie header value
 * HEADER (may be NULL) into OUT. Returns its length, or -1 when absent
 * or longer than outlen - 1. */
long cookie_get(const char *header, const char *name, char *out, size_t outlen);

/* A new 256-bit random token, base64url without padding, NUL-terminated
 * (out must hold TOKEN_CHARS + 1). Returns -1 if the system has no
 * randomness to give. */
int token_new(char *out);

/* Whether S is exactly a token's shape (43 base64url characters). */
bool token_valid(const char *s);

/* SHA-256 of the token as 64 lowercase hex digits (out: 65 bytes). */
void token_hash_hex(const char *token, char *out);

/* Constant-time comparison of two NUL-terminated strings. */
bool token_equal(const char *a, const char *b);

/* The cookies' names: over TLS (SECURE) with the __Host- prefix. */
#define COOKIE_SESSION(secure) ((secure) ? "__Host-at_session" : "at_session")
#define COOKIE_CSRF(secure) ((secure) ? "__Host-at_csrf" : "at_csrf")

/* Set-Cookie values: the session cookie with TOKEN (or, TOKEN NULL,
 * cleared), and the CSRF cookie with TOKEN. HttpOnly, SameSite=Lax,
 * Path=/, and Secure over TLS. OUT holds COOKIE_SET_MAX bytes. */
#define COOKIE_SET_MAX 128
void cookie_session_value(char *out, bool secure, const char *token);
void cookie_csrf_value(char *out, bool secure, const char *token);

#endif
