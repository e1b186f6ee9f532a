/* scrypt password hashes in the PHC string format, and the password policy.
 * OpenSSL refuses scrypt beyond maxmem (32 MiB when none is given, too
 * little for N=2^17), so every call passes one: the configured one when
 * hashing, exactly what the stored parameters need when verifying. Stored
 * strings are parsed strictly and bounded, so a damaged row costs a -1,
 * never a crash or an hour of work. */
#include "password.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "encode.h"
#include "errbuf.h"
#include "utf8.h"

#define PREFIX "$scrypt$"
#define PREFIX_LEN (sizeof(PREFIX) - 1)
#define STORED_MAX 256          /* longer than any string we parse */
/* Never less than we make: a key cut short would still match its prefix. */
#define SALT_MIN PW_SALT_LEN
#define SALT_MAX 64
#define KEY_MIN PW_KEY_LEN
#define KEY_MAX 64
#define LIST_MAX_BYTES (256u << 20)
#define COMMENT "#!comment:"
#define COMMENT_LEN (sizeof(COMMENT) - 1)

/* A stored hash, taken apart. */
struct pw_stored {
	unsigned ln;            /* N = 2^ln */
	uint32_t r, p;
	unsigned char salt[SALT_MAX];
	size_t salt_len;
	unsigned char key[KEY_MAX];
	size_t key_len;
};

/* The common-password list: lower-cased entries in one block, and a sorted
 * array of pointers into it. */
struct common_list {
	char *blob;
	const char **v;
	size_t n;
};

/* A password looked up in the list: it may hold a NUL, so it keeps its
 * length. */
struct common_key {
	const char *s;
	size_t len;
};

enum policy_reason { POLICY_TOO_LONG, POLICY_INVALID, POLICY_TOO_SHORT, POLICY_COMMON };

static const char *const policy_nl[] = {
	[POLICY_TOO_LONG] = "Dit wachtwoord is te lang. Kies een korter wachtwoord.",
	[POLICY_INVALID] = "Dit wachtwoord bevat tekens die niet goed zijn doorgekomen. Typ het opnieuw.",
	[POLICY_TOO_SHORT] = "Kies een wachtwoord van minstens 12 tekens.",
	[POLICY_COMMON] = "Dit wachtwoord wordt veel gebruikt en is daardoor makkelijk te raden. Kies een ander wachtwoord.",
};
static const char *const policy_en[] = {
	[POLICY_TOO_LONG] = "This password is too long. Choose a shorter one.",
	[POLICY_INVALID] = "This password contains characters that did not come through. Please type it again.",
	[POLICY_TOO_SHORT] = "Choose a password of at least 12 characters.",
	[POLICY_COMMON] = "Many people use this password, so it is easy to guess. Choose another one.",
};

static struct common_list *common;

static bool params_valid(const struct pw_params *p);
static unsigned log2_exact(uint64_t n);
static int parse_stored(const char *s, struct pw_stored *out);
static int parse_dec(const char **s, uint32_t min, uint32_t max, uint32_t *out);
static int scrypt_derive(const char *pw, size_t len, const unsigned char *salt, size_t salt_len, uint64_t n,
			 uint32_t r, uint32_t p, uint64_t maxmem, unsigned char *key, size_t key_len);
static bool common_contains(const char *pw, size_t len);
static int cmp_entries(const void *a, const void *b);
static int cmp_key_entry(const void *key, const void *entry);
static void common_list_free(struct common_list *l);

/* ---------------------------------------------------------------- hashing */

uint64_t password_memory_needed(const struct pw_params *p)
{
	/* OpenSSL's scrypt allocates B (128 * r * p bytes) and X plus V
	 * (128 * r * (N + 2) bytes) and refuses when their sum exceeds
	 * maxmem. */
	uint64_t r128 = 128 * (uint64_t)p->r;
	if (p->n > UINT64_MAX - 2 - p->p || (r128 && p->n + 2 + p->p > UINT64_MAX / r128))
		return UINT64_MAX;
	return r128 * (p->n + 2) + r128 * p->p;
}

int password_params_check(const struct pw_params *p, char *err, size_t errlen)
{
	if (p->n < 2 || p->n > PW_N_MAX || (p->n & (p->n - 1)) != 0) {
		errf(err, errlen, "N=%" PRIu64 " is not a power of two from 2 to %u", p->n, PW_N_MAX);
		return -1;
	}
	if (p->r < 1 || p->r > PW_R_MAX || p->p < 1 || p->p > PW_P_MAX) {
		errf(err, errlen, "r=%" PRIu32 ", p=%" PRIu32 " outside r 1..%d, p 1..%d", p->r, p->p, PW_R_MAX,
		     PW_P_MAX);
		return -1;
	}
	/* scrypt's own rule (RFC 7914): N < 2^(128 * r / 8). */
	if (16 * p->r < 64 && p->n >= (1ULL << (16 * p->r))) {
		errf(err, errlen, "N=%" PRIu64 " is too large for r=%" PRIu32 " (N must be below 2^%" PRIu32 ")", p->n,
		     p->r, 16 * p->r);
		return -1;
	}
	uint64_t need = password_memory_needed(p);
	if (need > p->maxmem || need > PW_MEMORY_MAX) {
		errf(err, errlen,
		     "N=%" PRIu64 ", r=%" PRIu32 ", p=%" PRIu32 " need %" PRIu64 " bytes, more than %s of %" PRIu64
		     " bytes",
		     p->n, p->r, p->p, need, need > PW_MEMORY_MAX ? "the limit" : "maxmem",
		     need > PW_MEMORY_MAX ? (uint64_t)PW_MEMORY_MAX : p->maxmem);
		return -1;
	}
	return 0;
}

int password_hash(const char *pw, size_t len, const struct pw_params *p, char *out, size_t outlen)
{
	unsigned char salt[PW_SALT_LEN], key[PW_KEY_LEN];
	if ((!pw && len) || !p || !out || !params_valid(p))
		return -1;
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return -1;
	if (scrypt_derive(pw, len, salt, sizeof(salt), p->n, p->r, p->p, p->maxmem, key, sizeof(key)) != 0)
		return -1;
	int rc = -1;
	int head = snprintf(out, outlen, PREFIX "ln=%u,r=%" PRIu32 ",p=%" PRIu32 "$", log2_exact(p->n), p->r, p->p);
	if (head > 0 && (size_t)head < outlen) {
		size_t used = (size_t)head;
		size_t n = enc_base64(salt, sizeof(salt), false, out + used, outlen - used);
		if (n && used + n + 1 < outlen) {
			used += n;
			out[used++] = '$';
			n = enc_base64(key, sizeof(key), false, out + used, outlen - used);
			if (n)
				rc = 0;
		}
	}
	OPENSSL_cleanse(key, sizeof(key));
	if (rc != 0 && outlen)
		out[0] = '\0';
	return rc;
}

int password_verify(const char *pw, size_t len, const char *stored)
{
	struct pw_stored s;
	unsigned char key[KEY_MAX];
	if ((!pw && len) || !stored || parse_stored(stored, &s) != 0)
		return -1;
	struct pw_params p = {.n = 1ULL << s.ln, .r = s.r, .p = s.p};
	p.maxmem = password_memory_needed(&p);
	if (!params_valid(&p))
		return -1;
	if (scrypt_derive(pw, len, s.salt, s.salt_len, p.n, p.r, p.p, p.maxmem, key, s.key_len) != 0)
		return -1;
	int match = CRYPTO_memcmp(key, s.key, s.key_len) == 0;
	OPENSSL_cleanse(key, sizeof(key));
	return match;
}

bool password_needs_rehash(const char *stored, const struct pw_params *want)
{
	struct pw_stored s;
	if (!stored || parse_stored(stored, &s) != 0)
		return true;
	return (1ULL << s.ln) < want->n || s.r < want->r || s.p < want->p;
}

void password_dummy_verify(const char *pw, size_t len, const struct pw_params *p)
{
	/* A well-formed hash of P's cost that no password matches (the salt
	 * and key are zeros), run through the same code as a real one. */
	char stored[PW_HASH_MAX];
	if (!p || !params_valid(p))
		return;
	snprintf(stored, sizeof(stored),
		 PREFIX "ln=%u,r=%" PRIu32 ",p=%" PRIu32 "$AAAAAAAAAAAAAAAAAAAAAA$"
			"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		 log2_exact(p->n), p->r, p->p);
	(void)password_verify(pw, len, stored);
}

/* ---------------------------------------------------------------- policy */

const char *password_policy(const char *pw, size_t len, const char *lang)
{
	const char *const *msg =
		lang && lang[0] == 'e' && lang[1] == 'n' && (lang[2] == '\0' || lang[2] == '-') ? policy_en : policy_nl;
	if (!pw && len)
		return msg[POLICY_INVALID];
	/* Length first: it bounds the work of the checks after it. */
	if (len > PW_MAX_BYTES)
		return msg[POLICY_TOO_LONG];
	long chars = utf8_count(pw, len);
	if (chars < 0)
		return msg[POLICY_INVALID];
	if (chars < PW_MIN_CHARS)
		return msg[POLICY_TOO_SHORT];
	if (common_contains(pw, len))
		return msg[POLICY_COMMON];
	return NULL;
}

int password_load_common(const char *path, char *err, size_t errlen)
{
	struct common_list *l = calloc(1, sizeof(*l));
	struct stat st;
	int fd = -1;
	if (!l) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		errf(err, errlen, "cannot read the common-password list %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		errf(err, errlen, "common-password list %s is not a regular file", path);
		goto fail;
	}
	if ((uint64_t)st.st_size > LIST_MAX_BYTES) {
		errf(err, errlen, "common-password list %s is larger than %u MiB", path, LIST_MAX_BYTES >> 20);
		goto fail;
	}
	size_t size = (size_t)st.st_size;
	l->blob = malloc(size + 1);
	if (!l->blob) {
		errf(err, errlen, "out of memory for the common-password list %s", path);
		goto fail;
	}
	size_t got = 0;
	while (got < size) {
		ssize_t k = read(fd, l->blob + got, size - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			errf(err, errlen, "cannot read the common-password list %s: %s", path,
			     k < 0 ? strerror(errno) : "file shrank while reading");
			goto fail;
		}
		got += (size_t)k;
	}
	close(fd);
	fd = -1;
	l->blob[size] = '\n';

	size_t lines = 1;
	for (const char *c = l->blob; (c = memchr(c, '\n', size - (size_t)(c - l->blob))) != NULL; c++)
		lines++;
	l->v = malloc(lines * sizeof(*l->v));
	if (!l->v) {
		errf(err, errlen, "out of memory for the common-password list %s", path);
		goto fail;
	}
	/* Each entry is lower-cased and NUL-terminated where its newline was
	 * (blob[size] stands in for a missing last one). Lines that can never
	 * equal an acceptable password are skipped. */
	char *s = l->blob, *end = l->blob + size;
	while (s <= end) {
		char *nl = memchr(s, '\n', (size_t)(end - s) + 1);
		size_t n = (size_t)(nl - s);
		if (n && s[n - 1] == '\r')
			n--;
		bool keep = n > 0 && n <= PW_MAX_BYTES && !(n >= COMMENT_LEN && memcmp(s, COMMENT, COMMENT_LEN) == 0) &&
			    !memchr(s, '\0', n);
		if (keep) {
			for (size_t i = 0; i < n; i++)
				if (s[i] >= 'A' && s[i] <= 'Z')
					s[i] = (char)(s[i] - 'A' + 'a');
			s[n] = '\0';
			l->v[l->n++] = s;
		}
		s = nl + 1;
	}
	qsort(l->v, l->n, sizeof(*l->v), cmp_entries);
	size_t kept = 0;
	for (size_t i = 0; i < l->n; i++)
		if (kept == 0 || strcmp(l->v[kept - 1], l->v[i]) != 0)
			l->v[kept++] = l->v[i];
	l->n = kept;

	common_list_free(common);
	common = l;
	return 0;

fail:
	if (fd >= 0)
		close(fd);
	common_list_free(l);
	return -1;
}

size_t password_common_count(void)
{
	return common ? common->n : 0;
}

void password_free_common(void)
{
	common_list_free(common);
	common = NULL;
}

/* ---------------------------------------------------------------- helpers */

static bool params_valid(const struct pw_params *p)
{
	return password_params_check(p, NULL, 0) == 0;
}

static unsigned log2_exact(uint64_t n)
{
	unsigned ln = 0;
	while (n > 1) {
		n >>= 1;
		ln++;
	}
	return ln;
}

static int scrypt_derive(const char *pw, size_t len, const unsigned char *salt, size_t salt_len, uint64_t n,
			 uint32_t r, uint32_t p, uint64_t maxmem, unsigned char *key, size_t key_len)
{
	static const char empty[1] = "";
	return EVP_PBE_scrypt(pw ? pw : empty, len, salt, salt_len, n, r, p, maxmem, key, key_len) == 1 ? 0 : -1;
}

/* "$scrypt$ln=L,r=R,p=P$SALT$KEY", nothing more, every number without
 * leading zeros and within the bounds password_hash accepts. */
static int parse_stored(const char *s, struct pw_stored *out)
{
	uint32_t ln;
	size_t total = strnlen(s, STORED_MAX);
	if (total == STORED_MAX || strncmp(s, PREFIX "ln=", PREFIX_LEN + 3) != 0)
		return -1;
	s += PREFIX_LEN + 3;
	if (parse_dec(&s, 1, 20, &ln) != 0 || strncmp(s, ",r=", 3) != 0)
		return -1;
	s += 3;
	if (parse_dec(&s, 1, PW_R_MAX, &out->r) != 0 || strncmp(s, ",p=", 3) != 0)
		return -1;
	s += 3;
	if (parse_dec(&s, 1, PW_P_MAX, &out->p) != 0 || *s != '$')
		return -1;
	s++;
	out->ln = ln;
	const char *dollar = strchr(s, '$');
	if (!dollar)
		return -1;
	long n = enc_base64_decode(s, (size_t)(dollar - s), out->salt, sizeof(out->salt));
	if (n < SALT_MIN)
		return -1;
	out->salt_len = (size_t)n;
	s = dollar + 1;
	n = enc_base64_decode(s, strlen(s), out->key, sizeof(out->key));
	if (n < KEY_MIN)
		return -1;
	out->key_len = (size_t)n;
	return 0;
}

static int parse_dec(const char **s, uint32_t min, uint32_t max, uint32_t *out)
{
	const char *p = *s;
	uint64_t v = 0;
	if (*p < '1' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > max)
			return -1;
		p++;
	}
	if (v < min)
		return -1;
	*out = (uint32_t)v;
	*s = p;
	return 0;
}

/* Whether PW (already checked to be at most PW_MAX_BYTES) is on the list,
 * ignoring ASCII case. Without a list nothing is. */
static bool common_contains(const char *pw, size_t len)
{
	char lower[PW_MAX_BYTES];
	if (!common || common->n == 0 || len > sizeof(lower))
		return false;
	for (size_t i = 0; i < len; i++)
		lower[i] = pw[i] >= 'A' && pw[i] <= 'Z' ? (char)(pw[i] - 'A' + 'a') : pw[i];
	struct common_key key = {lower, len};
	return bsearch(&key, common->v, common->n, sizeof(*common->v), cmp_key_entry) != NULL;
}

static int cmp_entries(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Orders a (pointer, length) key as strcmp orders strings, without
 * needing a NUL (a key may hold one; an entry never does). */
static int cmp_key_entry(const void *key, const void *entry)
{
	const struct common_key *k = key;
	const unsigned char *e = *(const unsigned char *const *)entry;
	const unsigned char *s = (const unsigned char *)k->s;
	for (size_t i = 0; i < k->len; i++) {
		if (e[i] == '\0')
			return 1;
		if (s[i] != e[i])
			return s[i] < e[i] ? -1 : 1;
	}
	return e[k->len] == '\0' ? 0 : -1;
}

static void common_list_free(struct common_list *l)
{
	if (!l)
		return;
	free(l->v);
	free(l->blob);
	free(l);
}

