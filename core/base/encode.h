/* Encodings written once: hexadecimal and base64 (the standard alphabet),
 * both ways. Lengths travel with the pointers; outputs are NUL-terminated
 * where they are text. */
#ifndef AANTAFEL_ENCODE_H
#define AANTAFEL_ENCODE_H

#include <stdbool.h>
#include <stddef.h>

/* "0123456789abcdef" */
extern const char enc_hex_digits[17];

/* The value of hexadecimal digit C (either case), or -1. */
int enc_hex_value(int c);

/* N bytes as 2N lowercase digits and a NUL into OUT (2N + 1 bytes). */
void enc_hex(const unsigned char *in, size_t n, char *out);

/* Base64 of N bytes into OUT (NUL-terminated), padded with '=' or not;
 * returns the length, or 0 when OUTLEN is too small. */
size_t enc_base64(const unsigned char *in, size_t n, bool pad, char *out, size_t outlen);

/* Strict unpadded base64: only the 64 characters, no length that leaves a
 * lone character, unused low bits zero (one encoding per value). Returns
 * the decoded length, or -1. */
long enc_base64_decode(const char *in, size_t n, unsigned char *out, size_t outlen);

#endif
