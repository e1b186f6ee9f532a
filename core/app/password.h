/* Passwords: scrypt hashes that carry their own parameters, so the cost can
 * be raised later and old hashes still verify, and the policy a new
 * password must meet. Hashing costs about 0.6 s and 128 MiB at the default
 * parameters: call password_hash, password_verify and password_dummy_verify
 * on the hashing job queue, never on an event loop. */
#ifndef AANTAFEL_PASSWORD_H
#define AANTAFEL_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* scrypt's cost: N (a power of two), block size r, parallelism p, and the
 * most memory OpenSSL may take for one hash (it refuses beyond). */
struct pw_params {
	uint64_t n;
	uint32_t r, p;
	uint64_t maxmem;
};

/* Bounds of the parameters a hash may be made or verified with. */
#define PW_N_MAX (1u << 20)
#define PW_R_MAX 32
#define PW_P_MAX 16
#define PW_MEMORY_MAX (4ULL << 30)

#define PW_SALT_LEN 16
#define PW_KEY_LEN 32
/* Room for any string password_hash writes, with its NUL. */
#define PW_HASH_MAX 128

/* Policy bounds. */
#define PW_MIN_CHARS 12
#define PW_MAX_BYTES 1024

/* Bytes OpenSSL's scrypt allocates for P, or UINT64_MAX when that does not
 * fit in 64 bits. maxmem must be at least this. */
uint64_t password_memory_needed(const struct pw_params *p);

/* 0 when password_hash can work with P: N a power of two from 2 to
 * PW_N_MAX, r and p within bounds, N below 2^(16r) as scrypt requires, and
 * the memory needed within maxmem and PW_MEMORY_MAX. Otherwise -1 and why
 * in err (which may be NULL). */
int password_params_check(const struct pw_params *p, char *err, size_t errlen);

/* Writes "$scrypt$ln=17,r=8,p=1$<salt>$<hash>" into OUT, with a 16-byte
 * random salt, a 32-byte key and unpadded standard base64 (the PHC string
 * format). 0 on success; -1 when P is out of bounds, maxmem is below
 * password_memory_needed, OUTLEN is short, or OpenSSL fails. */
int password_hash(const char *pw, size_t len, const struct pw_params *p, char *out, size_t outlen);

/* 1 when PW matches STORED, 0 when it does not, -1 when STORED is
 * malformed, out of bounds or cannot be computed. The parameters come from
 * STORED (salt of 16 to 64 bytes, key of 32 to 64); the key comparison
 * takes constant time. */
int password_verify(const char *pw, size_t len, const char *stored);

/* Whether STORED is weaker than WANT (smaller N, r or p) or malformed:
 * rehash at the next successful sign-in. */
bool password_needs_rehash(const char *stored, const struct pw_params *want);

/* The work of password_verify against a hash made with P, for an unknown
 * e-mail address: the answer and its cost do not tell that the account
 * does not exist. */
void password_dummy_verify(const char *pw, size_t len, const struct pw_params *p);

/* NULL when PW may be used; otherwise why not, for the resident: in Dutch,
 * or in English when LANG is "en" (or "en-..."). At least PW_MIN_CHARS
 * characters (code points), at most PW_MAX_BYTES bytes, valid UTF-8, and
 * not on the common-password list, compared ignoring ASCII case (skipped
 * when no list is loaded). Cheap: may run on an event loop. */
const char *password_policy(const char *pw, size_t len, const char *lang);

/* Reads the common-password list PATH: one password per line, lines that
 * start with "#!comment:" and empty lines skipped, kept lower-cased and
 * sorted. Replaces the list loaded before. Call before the threads that
 * check passwords start. 0, or -1 with a message in err. */
int password_load_common(const char *path, char *err, size_t errlen);

/* Number of entries in the loaded list (0 when none is loaded). */
size_t password_common_count(void);

/* Drops the loaded list (at exit, and in tests). */
void password_free_common(void);

#endif
