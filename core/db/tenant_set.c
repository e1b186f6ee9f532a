/* The tenants a background worker was told about (tenant_set.h). */
#include "tenant_set.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

void tenant_set_clear(struct tenant_set *s)
{
	s->all = false;
	s->n = 0;
}

void tenant_set_all(struct tenant_set *s)
{
	s->all = true;
	s->n = 0;
}

void tenant_set_note(struct tenant_set *s, const char *payload)
{
	if (s->all)
		return;
	char *end;
	errno = 0;
	long long id = payload ? strtoll(payload, &end, 10) : 0;
	/* Digits only: the payload is platform.job_schedule's or the mail
	 * trigger's, a tenant's id and nothing else. */
	if (!payload || payload[0] < '0' || payload[0] > '9' || errno || *end || id <= 0) {
		tenant_set_all(s);
		return;
	}
	for (int i = 0; i < s->n; i++)
		if (s->ids[i] == id)
			return;
	if (s->n == TENANT_SET_MAX)
		tenant_set_all(s);
	else
		s->ids[s->n++] = id;
}

const char *tenant_set_array(const struct tenant_set *s, char *out, size_t outlen)
{
	if (s->all || s->n == 0 || outlen < 3)
		return NULL;
	size_t o = 0;
	out[o++] = '{';
	for (int i = 0; i < s->n; i++) {
		int n = snprintf(out + o, outlen - o, "%s%" PRId64, i ? "," : "", s->ids[i]);
		if (n < 0 || (size_t)n >= outlen - o - 1)
			return NULL;
		o += (size_t)n;
	}
	out[o++] = '}';
	out[o] = '\0';
	return out;
}
