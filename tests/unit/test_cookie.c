/* Cookie parsing as browsers send the header, and the tokens. */
#include "check.h"
#include "cookie.h"

int main(void)
{
	char v[64];
	CHECK_INT_EQ(cookie_get("a=1; at_session=abc; b=2", "at_session", v, sizeof(v)), 3);
	CHECK_STR_EQ(v, "abc");
	CHECK_INT_EQ(cookie_get("at_session=x", "at_session", v, sizeof(v)), 1);
	CHECK_INT_EQ(cookie_get("xat_session=x", "at_session", v, sizeof(v)), -1);
	CHECK_INT_EQ(cookie_get("at_sessionx=x", "at_session", v, sizeof(v)), -1);
	CHECK_INT_EQ(cookie_get("a=1;at_session=\"q\" ", "at_session", v, sizeof(v)), 1);
	CHECK_STR_EQ(v, "q");
	CHECK_INT_EQ(cookie_get(NULL, "at_session", v, sizeof(v)), -1);
	CHECK_INT_EQ(cookie_get("", "at_session", v, sizeof(v)), -1);
	CHECK_INT_EQ(cookie_get("at_session=", "at_session", v, sizeof(v)), 0);
	CHECK_INT_EQ(cookie_get("at_session=first; at_session=second", "at_session", v, sizeof(v)), 5);
	CHECK_STR_EQ(v, "first");
	char big[200];
	memset(big, 'x', sizeof(big));
	memcpy(big, "at_session=", 11);
	big[199] = '\0';
	CHECK_INT_EQ(cookie_get(big, "at_session", v, sizeof(v)), -1);

	char t1[TOKEN_CHARS + 1], t2[TOKEN_CHARS + 1];
	CHECK(token_new(t1) == 0 && token_new(t2) == 0);
	CHECK_INT_EQ(strlen(t1), TOKEN_CHARS);
	CHECK(token_valid(t1) && token_valid(t2));
	CHECK(!token_equal(t1, t2));
	CHECK(token_equal(t1, t1));
	CHECK(!token_valid("short"));
	CHECK(!token_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa+"));
	CHECK(!token_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	char h[65];
	token_hash_hex("abc", h);
	CHECK_STR_EQ(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	return check_exit("test_cookie");
}
