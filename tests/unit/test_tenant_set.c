/* The tenants named by notifications: a background worker's next look is
 * confined to them until too many, or a payload naming none, mean all. */
#include "check.h"
#include "tenant_set.h"

#include <stdio.h>

int main(void)
{
	struct tenant_set s;
	char text[TENANT_SET_TEXT];
	tenant_set_clear(&s);
	CHECK(tenant_set_array(&s, text, sizeof(text)) == NULL);     /* none noted: every tenant */
	tenant_set_note(&s, "12");
	tenant_set_note(&s, "7");
	tenant_set_note(&s, "12");                                     /* once */
	CHECK_STR_EQ(tenant_set_array(&s, text, sizeof(text)), "{12,7}");
	const char *bad[] = {"", "x", "12x", " 12", "-3", "0", "99999999999999999999", NULL};
	for (int i = 0; i < 8; i++) {
		tenant_set_clear(&s);
		tenant_set_note(&s, "5");
		tenant_set_note(&s, bad[i]);
		CHECK_MSG(tenant_set_array(&s, text, sizeof(text)) == NULL, "payload %d names no tenant: all", i);
		tenant_set_note(&s, "6");                              /* all stays all */
		CHECK(tenant_set_array(&s, text, sizeof(text)) == NULL);
	}
	/* As many as it keeps, then one more: all. */
	tenant_set_clear(&s);
	char id[24];
	for (int i = 1; i <= TENANT_SET_MAX; i++) {
		snprintf(id, sizeof(id), "%d", 9000000 + i);
		tenant_set_note(&s, id);
	}
	const char *full = tenant_set_array(&s, text, sizeof(text));
	CHECK(full != NULL && full[0] == '{');
	tenant_set_note(&s, "1");
	CHECK(tenant_set_array(&s, text, sizeof(text)) == NULL);
	/* A buffer too small says all rather than a cut list. */
	tenant_set_clear(&s);
	tenant_set_note(&s, "123456");
	char tiny[6];
	CHECK(tenant_set_array(&s, tiny, sizeof(tiny)) == NULL);
	tenant_set_all(&s);
	CHECK(tenant_set_array(&s, text, sizeof(text)) == NULL);
	return check_exit("test_tenant_set");
}
