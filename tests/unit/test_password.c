/* Password hashes and policy: hash then verify, the stored format (and
 * vectors made by Python's hashlib.scrypt), tampered and malformed hashes
 * that must never match or crash, rehash decisions, parameters taken from
 * the stored string, the policy with the common-password list, and one hash
 * at the real default cost to prove its maxmem suffices. Small N elsewhere
 * keeps the test fast. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "password.c"

static const struct pw_params small = {.n = 1024, .r = 8, .p = 1, .maxmem = 16 << 20};

static char tmp_path[64];

static const char *write_file(const char *text, size_t len)
{
	snprintf(tmp_path, sizeof(tmp_path), "/tmp/aantafel-pw-XXXXXX");
	int fd = mkstemp(tmp_path);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
		perror("temporary file");
		exit(2);
	}
	close(fd);
	return tmp_path;
}

/* ---------------------------------------------------------------- hashing */

static void test_hash_verify(void)
{
	char h1[PW_HASH_MAX], h2[PW_HASH_MAX];
	const char *pw = "correct horse battery staple";
	CHECK_INT_EQ(password_hash(pw, strlen(pw), &small, h1, sizeof(h1)), 0);
	CHECK_INT_EQ(password_verify(pw, strlen(pw), h1), 1);
	CHECK_INT_EQ(password_verify("correct horse battery stapler", 29, h1), 0);
	CHECK_INT_EQ(password_verify("Correct horse battery staple", strlen(pw), h1), 0);
	CHECK_INT_EQ(password_verify(pw, strlen(pw) - 1, h1), 0);
	CHECK_INT_EQ(password_verify("", 0, h1), 0);

	/* A fresh salt each time. */
	CHECK_INT_EQ(password_hash(pw, strlen(pw), &small, h2, sizeof(h2)), 0);
	CHECK(strcmp(h1, h2) != 0);
	CHECK_INT_EQ(password_verify(pw, strlen(pw), h2), 1);

	/* Lengths travel with the bytes: a NUL is part of the password. */
	CHECK_INT_EQ(password_hash("abc\0def", 7, &small, h1, sizeof(h1)), 0);
	CHECK_INT_EQ(password_verify("abc\0def", 7, h1), 1);
	CHECK_INT_EQ(password_verify("abc", 3, h1), 0);
	CHECK_INT_EQ(password_verify("abc\0xyz", 7, h1), 0);

	/* The empty password hashes and verifies like any other. */
	CHECK_INT_EQ(password_hash(NULL, 0, &small, h1, sizeof(h1)), 0);
	CHECK_INT_EQ(password_verify("", 0, h1), 1);
	CHECK_INT_EQ(password_verify("x", 1, h1), 0);

	/* Refusals: no room, bad parameters, too little maxmem. */
	char tiny[40] = "untouched";
	CHECK_INT_EQ(password_hash(pw, strlen(pw), &small, tiny, sizeof(tiny)), -1);
	CHECK_STR_EQ(tiny, "");
	CHECK_INT_EQ(password_hash(pw, strlen(pw), &small, h1, 88), -1);   /* one short of the NUL */
	CHECK_INT_EQ(password_hash(pw, strlen(pw), &small, h1, 89), 0);
	CHECK_INT_EQ(strlen(h1), 88);
	struct pw_params bad = small;
	bad.n = 1000;
	CHECK_INT_EQ(password_hash(pw, strlen(pw), &bad, h1, sizeof(h1)), -1);
	bad = small;
	bad.n = 2 * PW_N_MAX;
	CHECK_INT_EQ(password_hash(pw, strlen(pw), &bad, h1, sizeof(h1)), -1);
	bad = small;
	bad.r = 0;
	CHECK_INT_EQ(password_hash(pw, strlen(pw), &bad, h1, sizeof(h1)), -1);
	bad = small;
	bad.p = PW_P_MAX + 1;
	CHECK_INT_EQ(password_hash(pw, strlen(pw), &bad, h1, sizeof(h1)), -1);
	bad = small;
	bad.maxmem = password_memory_needed(&small) - 1;
	CHECK_INT_EQ(password_hash(pw, strlen(pw), &bad, h1, sizeof(h1)), -1);
	bad.maxmem = password_memory_needed(&small);
	CHECK_INT_EQ(password_hash(pw, strlen(pw), &bad, h1, sizeof(h1)), 0);
	CHECK_INT_EQ(password_hash(NULL, 3, &small, h1, sizeof(h1)), -1);
	CHECK_INT_EQ(password_verify(NULL, 3, h1), -1);
	CHECK_INT_EQ(password_verify(pw, strlen(pw), NULL), -1);
}

static void test_format(void)
{
	char h[PW_HASH_MAX];
	struct pw_stored s;
	CHECK_INT_EQ(password_hash("a password long enough", 22, &small, h, sizeof(h)), 0);
	CHECK_INT_EQ(strncmp(h, "$scrypt$ln=10,r=8,p=1$", 22), 0);
	/* 16-byte salt and 32-byte key in unpadded base64: 22 and 43. */
	const char *salt = h + 22, *dollar = strchr(salt, '$');
	CHECK(dollar != NULL);
	if (dollar) {
		CHECK_INT_EQ(dollar - salt, 22);
		CHECK_INT_EQ(strlen(dollar + 1), 43);
	}
	CHECK_INT_EQ(parse_stored(h, &s), 0);
	CHECK_INT_EQ(s.ln, 10);
	CHECK_INT_EQ(s.r, 8);
	CHECK_INT_EQ(s.p, 1);
	CHECK_INT_EQ(s.salt_len, PW_SALT_LEN);
	CHECK_INT_EQ(s.key_len, PW_KEY_LEN);

	/* Other parameters are written as they are. */
	struct pw_params other = {.n = 4096, .r = 2, .p = 3, .maxmem = 16 << 20};
	CHECK_INT_EQ(password_hash("x", 1, &other, h, sizeof(h)), 0);
	CHECK_INT_EQ(strncmp(h, "$scrypt$ln=12,r=2,p=3$", 22), 0);

	/* Hashes made by another implementation (Python's hashlib.scrypt,
	 * salt "0123456789abcdef") verify, so the format and the KDF are
	 * the standard ones. */
	const char *py1 = "$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM";
	CHECK_INT_EQ(password_verify("correct horse battery staple", 28, py1), 1);
	CHECK_INT_EQ(password_verify("correct horse battery stapl", 27, py1), 0);
	const char *py2 = "$scrypt$ln=11,r=4,p=2$MDEyMzQ1Njc4OWFiY2RlZg$hJmCgSp2my5GPN+g60SO3sFkwPpVrH1sMw2sK7Esx9k";
	const char *pw2 = "wachtwoord met \xc3\xab en \xf0\x9f\x98\x80";
	CHECK_INT_EQ(password_verify(pw2, strlen(pw2), py2), 1);
	CHECK_INT_EQ(password_verify(pw2, strlen(pw2) - 1, py2), 0);
	/* Longer keys verify; a key cut below 32 bytes is refused even though
	 * it is a prefix of the right one. */
	const char *py64 = "$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qOvn80"
			   "6O+g3nwb6ox9md6weWDGgFOBOuA2wXJOtvDNRgA";
	CHECK_INT_EQ(password_verify("correct horse battery staple", 28, py64), 1);
	const char *py31 = "$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1g";
	CHECK_INT_EQ(password_verify("correct horse battery staple", 28, py31), -1);
	const char *py16 = "$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydnQ";
	CHECK_INT_EQ(password_verify("correct horse battery staple", 28, py16), -1);
}

/* Every single-character change of a good hash verifies as 0 or -1, never
 * 1; none crashes (ASan would say). */
static void test_tampered(void)
{
	char good[PW_HASH_MAX], h[PW_HASH_MAX];
	const char *pw = "tamper with me please";
	size_t pwlen = strlen(pw);
	CHECK_INT_EQ(password_hash(pw, pwlen, &small, good, sizeof(good)), 0);
	size_t len = strlen(good);
	static const char repl[] = "A0z+/$=,x\x80";
	int matched = 0, malformed = 0, mismatched = 0;
	for (size_t i = 0; i < len; i++) {
		for (const char *c = repl; *c; c++) {
			if (good[i] == *c)
				continue;
			memcpy(h, good, len + 1);
			h[i] = *c;
			int v = password_verify(pw, pwlen, h);
			matched += v == 1;
			malformed += v == -1;
			mismatched += v == 0;
		}
		/* Cut short at every length. */
		memcpy(h, good, i);
		h[i] = '\0';
		int v = password_verify(pw, pwlen, h);
		matched += v == 1;
		malformed += v == -1;
		mismatched += v == 0;
	}
	CHECK_INT_EQ(matched, 0);
	CHECK(malformed > 0 && mismatched > 0);

	static const char *const broken[] = {
		"",
		"$scrypt$",
		"$scrypt$ln=10,r=8,p=1$",
		"$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg",
		"$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$",
		"$scrypt$ln=10,r=8,p=1$$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM",
		"$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg==$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM",
		"$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM=",
		"$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM$",
		"$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM ",
		"$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qN",
		" $scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM",
		"$SCRYPT$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM",
		"$scrypt$ln=010,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM",
		"$scrypt$ln=0,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM",
		"$scrypt$ln=21,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM",
		"$scrypt$ln=99999999999999999999,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM",
		"$scrypt$ln=-1,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM",
		"$scrypt$ln=10,r=0,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM",
		"$scrypt$ln=10,r=33,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM",
		"$scrypt$ln=10,r=8,p=17$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM",
		"$scrypt$ln=10,r=8$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM",
		"$scrypt$r=8,ln=10,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM",
		/* scrypt's rule N < 2^(16r): 2^16 with r=1 */
		"$scrypt$ln=16,r=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM",
		/* 2^20 with r=32 needs more than PW_MEMORY_MAX */
		"$scrypt$ln=20,r=32,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM",
		/* salt of 15 bytes; keys of 12 and 31 bytes (a prefix of the
		 * key would match the right password) */
		"$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2Rl$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM",
		"$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+",
		"$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1g",
		"$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
	};
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++)
		CHECK_MSG(password_verify(pw, pwlen, broken[i]) == -1, "broken[%zu] %s", i, broken[i]);

	/* Far too long, and a key longer than KEY_MAX. */
	char longer[600];
	memset(longer, 'A', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	memcpy(longer, "$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$", 45);
	CHECK_INT_EQ(password_verify(pw, pwlen, longer), -1);
	longer[45 + 88] = '\0';         /* 66 bytes of key */
	CHECK_INT_EQ(password_verify(pw, pwlen, longer), -1);
	longer[45 + 86] = '\0';         /* 64 bytes: well formed, no match */
	CHECK_INT_EQ(password_verify(pw, pwlen, longer), 0);
}

static void test_needs_rehash(void)
{
	char h[PW_HASH_MAX];
	CHECK_INT_EQ(password_hash("rehash me when needed", 21, &small, h, sizeof(h)), 0);
	struct pw_params want = small;
	CHECK(!password_needs_rehash(h, &want));
	want.n = 2048;
	CHECK(password_needs_rehash(h, &want));
	want = small;
	want.r = 9;
	CHECK(password_needs_rehash(h, &want));
	want = small;
	want.p = 2;
	CHECK(password_needs_rehash(h, &want));
	/* Lowering the configuration does not rewrite stronger hashes. */
	want = small;
	want.n = 512;
	want.r = 4;
	CHECK(!password_needs_rehash(h, &want));
	want.maxmem = 1;
	CHECK(!password_needs_rehash(h, &want));
	/* Garbage is rehashed (it cannot verify anyway). */
	const char *short_salt = "$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4$7AnzIswxwEinpwz+ntydndYfVHPvOACmX9Vvo8hO1qM";
	CHECK_INT_EQ(password_verify("x", 1, short_salt), -1);
	CHECK(password_needs_rehash(short_salt, &small));
	CHECK(password_needs_rehash("", &small));
	CHECK(password_needs_rehash(NULL, &small));
	CHECK(password_needs_rehash("$scrypt$ln=10,r=8,p=1$MDEy$", &small));
}

/* Verification reads the parameters from the stored string, whatever the
 * caller configures now. */
static void test_other_parameters(void)
{
	static const struct pw_params sets[] = {
		{.n = 2048, .r = 4, .p = 2, .maxmem = 16 << 20},
		{.n = 16, .r = 1, .p = 1, .maxmem = 1 << 20},
		{.n = 1024, .r = 16, .p = 3, .maxmem = 32 << 20},
	};
	const char *pw = "parameters travel with the hash";
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		char h[PW_HASH_MAX];
		CHECK_INT_EQ(password_hash(pw, strlen(pw), &sets[i], h, sizeof(h)), 0);
		CHECK_INT_EQ(password_verify(pw, strlen(pw), h), 1);
		CHECK_INT_EQ(password_verify(pw, 5, h), 0);
		CHECK_MSG(password_needs_rehash(h, &small) == (sets[i].n < small.n || sets[i].r < small.r),
			  "set %zu", i);
	}
	/* The dummy runs at the given cost and tells nothing. */
	password_dummy_verify(pw, strlen(pw), &small);
	password_dummy_verify(NULL, 0, &sets[1]);
	struct pw_params bad = small;
	bad.n = 1000;
	password_dummy_verify(pw, strlen(pw), &bad);
	password_dummy_verify(pw, strlen(pw), NULL);
}

static void test_params_check(void)
{
	char err[256];
	struct pw_params p = {.n = 131072, .r = 8, .p = 1, .maxmem = 256 << 20};
	CHECK_INT_EQ(password_params_check(&p, err, sizeof(err)), 0);
	/* 128 * r * (N + 2) + 128 * r * p */
	CHECK_INT_EQ(password_memory_needed(&p), 134220800);
	p.maxmem = 128 << 20;
	CHECK_INT_EQ(password_params_check(&p, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "134220800");
	CHECK_CONTAINS(err, "maxmem");
	p.maxmem = 256 << 20;
	p.n = 100000;
	CHECK_INT_EQ(password_params_check(&p, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "power of two");
	p.n = 1;
	CHECK_INT_EQ(password_params_check(&p, err, sizeof(err)), -1);
	p.n = 65536;
	p.r = 1;
	CHECK_INT_EQ(password_params_check(&p, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "too large for r=1");
	p.n = 32768;
	CHECK_INT_EQ(password_params_check(&p, err, sizeof(err)), 0);
	p = (struct pw_params){.n = PW_N_MAX, .r = PW_R_MAX, .p = PW_P_MAX, .maxmem = UINT64_MAX};
	CHECK_INT_EQ(password_params_check(&p, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "limit");
	CHECK_INT_EQ(password_params_check(&p, NULL, 0), -1);
	p = (struct pw_params){.n = UINT64_MAX, .r = UINT32_MAX, .p = UINT32_MAX};
	CHECK(password_memory_needed(&p) == UINT64_MAX);
}

/* The configured default: N=2^17, r=8, p=1 within 256 MiB. Also proves
 * that maxmem is what makes it work: OpenSSL's own default of 32 MiB, or
 * 128 MiB exactly, is refused. */
static void test_default_cost(void)
{
	const struct pw_params def = {.n = 1 << 17, .r = 8, .p = 1, .maxmem = 256ULL << 20};
	const char *pw = "de standaardkosten van scrypt";
	char h[PW_HASH_MAX];
	CHECK_INT_EQ(password_hash(pw, strlen(pw), &def, h, sizeof(h)), 0);
	CHECK_INT_EQ(strncmp(h, "$scrypt$ln=17,r=8,p=1$", 22), 0);
	CHECK_INT_EQ(password_verify(pw, strlen(pw), h), 1);
	CHECK(!password_needs_rehash(h, &def));
	unsigned char key[32];
	CHECK_INT_EQ(EVP_PBE_scrypt(pw, strlen(pw), (const unsigned char *)"0123456789abcdef", 16, def.n, def.r, def.p,
				    0, key, sizeof(key)),
		     0);
	struct pw_params tight = def;
	tight.maxmem = 128ULL << 20;
	CHECK_INT_EQ(password_hash(pw, strlen(pw), &tight, h, sizeof(h)), -1);
}

/* ---------------------------------------------------------------- policy */

static void test_policy(void)
{
	/* Without a list, only length and encoding count. */
	password_free_common();
	CHECK_INT_EQ(password_common_count(), 0);
	CHECK(password_policy("winniethepooh", 13, "nl") == NULL);

	const char *m = password_policy("abcdefghijk", 11, "nl");
	CHECK_CONTAINS(m, "minstens 12 tekens");
	m = password_policy("abcdefghijk", 11, "en");
	CHECK_CONTAINS(m, "at least 12 characters");
	CHECK_CONTAINS(password_policy("abcdefghijk", 11, NULL), "minstens 12");
	CHECK_CONTAINS(password_policy("abcdefghijk", 11, "en-GB"), "at least 12");
	CHECK_CONTAINS(password_policy("abcdefghijk", 11, "de"), "minstens 12");
	CHECK(password_policy("abcdefghijkl", 12, "nl") == NULL);
	CHECK_CONTAINS(password_policy("", 0, "nl"), "minstens 12");

	/* Characters, not bytes: 4-byte characters count as one. */
	char buf[PW_MAX_BYTES + 2];
	const char *smile = "\xf0\x9f\x98\x80";
	for (int i = 0; i < 11; i++)
		memcpy(buf + 4 * i, smile, 4);
	CHECK_CONTAINS(password_policy(buf, 44, "en"), "at least 12");
	memcpy(buf + 44, smile, 4);
	CHECK(password_policy(buf, 48, "en") == NULL);
	CHECK(password_policy("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xe2\x82\xac\xe2\x82\xac"
			      "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac",
			      30, "nl") == NULL);
	CHECK(password_policy("abcdefghijk\xf0\x9f\x98\x80", 15, "nl") == NULL);

	/* Not UTF-8: a stray byte, an overlong, a surrogate, a cut sequence. */
	CHECK_CONTAINS(password_policy("abcdefghijkl\xff", 13, "en"), "did not come through");
	CHECK_CONTAINS(password_policy("abcdefghijkl\xc0\xaf", 14, "nl"), "niet goed");
	CHECK_CONTAINS(password_policy("abcdefghijkl\xed\xa0\x80", 15, "en"), "did not come through");
	CHECK_CONTAINS(password_policy("abcdefghijkl\xf0\x9f\x98", 15, "en"), "did not come through");
	CHECK_CONTAINS(password_policy(NULL, 3, "en"), "did not come through");

	/* At most 1024 bytes, checked before anything else. */
	memset(buf, 'a', PW_MAX_BYTES + 1);
	CHECK(password_policy(buf, PW_MAX_BYTES, "nl") == NULL);
	CHECK_CONTAINS(password_policy(buf, PW_MAX_BYTES + 1, "nl"), "te lang");
	CHECK_CONTAINS(password_policy(buf, PW_MAX_BYTES + 1, "en"), "too long");
	buf[PW_MAX_BYTES] = '\xff';
	CHECK_CONTAINS(password_policy(buf, PW_MAX_BYTES + 1, "en"), "too long");

	/* A list of our own: comments, an empty line, CRLF, case, a
	 * duplicate, no newline at the end. */
	const char list[] = "#!comment: a test list\n"
			    "qwertyuiopas\n"
			    "\n"
			    "Password1234\r\n"
			    "#!comment: the next line repeats one\n"
			    "QWERTYUIOPAS\n"
			    "short\n"
			    "#not a comment line\n"
			    "zzzzzzzzzzzzzzzz";
	char err[256] = "";
	CHECK_INT_EQ(password_load_common(write_file(list, sizeof(list) - 1), err, sizeof(err)), 0);
	unlink(tmp_path);
	CHECK_INT_EQ(password_common_count(), 5);
	CHECK_CONTAINS(password_policy("qwertyuiopas", 12, "nl"), "veel gebruikt");
	CHECK_CONTAINS(password_policy("QwertyUiopas", 12, "en"), "easy to guess");
	CHECK_CONTAINS(password_policy("password1234", 12, "nl"), "veel gebruikt");
	CHECK_CONTAINS(password_policy("PASSWORD1234", 12, "nl"), "veel gebruikt");
	CHECK_CONTAINS(password_policy("#not a comment line", 19, "nl"), "veel gebruikt");
	CHECK_CONTAINS(password_policy("zzzzzzzzzzzzzzzz", 16, "nl"), "veel gebruikt");
	CHECK(password_policy("#!comment: a test list", 22, "nl") == NULL);
	CHECK(password_policy("qwertyuiopa", 11, "nl") != NULL);    /* short, not common */
	CHECK(password_policy("qwertyuiopasd", 13, "nl") == NULL);
	CHECK(password_policy("pqwertyuiopas", 13, "nl") == NULL);
	CHECK(password_policy("password1234\r", 13, "nl") == NULL);
	/* A NUL inside does not cut the comparison short. */
	CHECK(password_policy("qwertyuiopas\0x", 14, "nl") == NULL);
	CHECK(password_policy("qwertyuiop\0as", 13, "nl") == NULL);

	/* A missing file fails with its name and keeps the loaded list. */
	CHECK_INT_EQ(password_load_common("/nonexistent/password.lst", err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "/nonexistent/password.lst");
	CHECK_CONTAINS(err, "No such file");
	CHECK_INT_EQ(password_common_count(), 5);
	CHECK_INT_EQ(password_load_common("/tmp", err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "not a regular file");
	/* An empty file is an empty list. */
	CHECK_INT_EQ(password_load_common(write_file("", 0), err, sizeof(err)), 0);
	unlink(tmp_path);
	CHECK_INT_EQ(password_common_count(), 0);
	CHECK(password_policy("qwertyuiopas", 12, "nl") == NULL);

	/* The real default from Debian's john-data (a build dependency). */
	const char *john = "/usr/share/john/password.lst";
	CHECK_MSG(password_load_common(john, err, sizeof(err)) == 0, "%s (install john-data)", err);
	CHECK(password_common_count() > 3000);
	CHECK_CONTAINS(password_policy("winniethepooh", 13, "nl"), "veel gebruikt");
	CHECK_CONTAINS(password_policy("WinnieThePooh", 13, "nl"), "veel gebruikt");
	CHECK(password_policy("winniethepooh!", 14, "nl") == NULL);
	/* Its short entries are refused by length already. */
	CHECK_CONTAINS(password_policy("password", 8, "nl"), "minstens 12");
	password_free_common();
	CHECK_INT_EQ(password_common_count(), 0);
}

int main(void)
{
	RUN(test_hash_verify());
	RUN(test_format());
	RUN(test_tampered());
	RUN(test_needs_rehash());
	RUN(test_other_parameters());
	RUN(test_params_check());
	RUN(test_policy());
	RUN(test_default_cost());
	return check_exit("test_password");
}
