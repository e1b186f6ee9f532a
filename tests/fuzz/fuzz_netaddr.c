/* Fuzzes what the core reads from client headers before any Lua: the
 * Cookie header (cookie_get), X-Forwarded-For behind trusted proxies
 * (netlist_client) and the trusted_proxies setting itself (netlist_parse).
 * Beyond "no crash": a cookie value found is inside the header and
 * shorter than the buffer; the client address chosen is either the peer
 * or one of the hops, and never one written before the last untrusted
 * hop.
 *
 * Input: three parts separated by NUL bytes: the list, the header, the
 * peer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/net/cookie.c"
#include "../../core/net/netaddr.c"
#include "fz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 3);
	memcpy(s, data, size);
	s[size] = s[size + 1] = s[size + 2] = '\0';
	const char *list = s;
	const char *header = list + strlen(list) + 1;
	if (header > s + size)
		header = s + size;
	const char *peer = header + strlen(header) + 1;
	if (peer > s + size)
		peer = s + size;

	char value[48];
	long n = cookie_get(header, "at_session", value, sizeof(value));
	FZ_ASSERT(n < (long)sizeof(value));
	if (n >= 0) {
		FZ_ASSERT(strlen(value) == (size_t)n);
		FZ_ASSERT(n == 0 || strstr(header, value) != NULL);
	}

	char err[128], out[64];
	struct netlist *l = netlist_parse(list, err, sizeof(err));
	if (l) {
		FZ_ASSERT(netlist_count(l) <= NETLIST_MAX);
		netlist_client(l, peer, header, out, sizeof(out));
		FZ_ASSERT(strlen(out) < sizeof(out));
		/* The answer is the peer or a hop of the header. */
		FZ_ASSERT(strncmp(out, peer, sizeof(out) - 1) == 0 || strstr(header, out) != NULL);
		if (!netlist_contains(l, peer))
			FZ_ASSERT(strncmp(out, peer, sizeof(out) - 1) == 0);
		netlist_free(l);
	}
	free(s);
	return 0;
}
