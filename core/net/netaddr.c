#include "netaddr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct net {
	int family;
	unsigned char addr[16];
	int prefix;
};

struct netlist {
	size_t n;
	struct net nets[NETLIST_MAX];
};

static int parse_addr(const char *s, int *family, unsigned char *out)
{
	if (inet_pton(AF_INET, s, out) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return -1;
}

static int parse_net(const char *s, struct net *n)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", s);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (parse_addr(buf, &n->family, n->addr) != 0)
		return -1;
	int max = n->family == AF_INET ? 32 : 128;
	n->prefix = max;
	if (slash) {
		char *end;
		long p = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || p < 0 || p > max)
			return -1;
		n->prefix = (int)p;
	}
	return 0;
}

struct netlist *netlist_parse(const char *text, char *err, size_t errlen)
{
	struct netlist *l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	const char *p = text ? text : "";
	while (*p) {
		p += strspn(p, ", \t");
		size_t len = strcspn(p, ", \t");
		if (!len)
			break;
		char entry[64];
		if (len >= sizeof(entry) || l->n == NETLIST_MAX ||
		    (snprintf(entry, sizeof(entry), "%.*s", (int)len, p), parse_net(entry, &l->nets[l->n]) != 0)) {
			snprintf(err, errlen, l->n == NETLIST_MAX ? "more than %d entries" : "'%.*s' is not an address or network",
				 l->n == NETLIST_MAX ? NETLIST_MAX : (int)(len > 60 ? 60 : len), p);
			free(l);
			return NULL;
		}
		l->n++;
		p += len;
	}
	return l;
}

void netlist_free(struct netlist *l)
{
	free(l);
}

size_t netlist_count(const struct netlist *l)
{
	return l ? l->n : 0;
}

static bool net_match(const struct net *n, int family, const unsigned char *a)
{
	if (n->family != family)
		return false;
	int full = n->prefix / 8, rest = n->prefix % 8;
	if (memcmp(n->addr, a, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (n->addr[full] & mask) == (a[full] & mask);
}

bool netlist_contains(const struct netlist *l, const char *addr)
{
	if (!l || !l->n)
		return false;
	int family;
	unsigned char a[16];
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", addr);
	if (parse_addr(buf, &family, a) != 0)
		return false;
	/* An IPv4-mapped IPv6 peer is its IPv4 address. */
	if (family == AF_INET6 && memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
		memmove(a, a + 12, 4);
		family = AF_INET;
	}
	for (size_t i = 0; i < l->n; i++)
		if (net_match(&l->nets[i], family, a))
			return true;
	return false;
}

void netlist_client(const struct netlist *l, const char *peer, const char *xff, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", peer);
	if (!xff || !netlist_contains(l, peer))
		return;
	/* Walk X-Forwarded-For from the right: each hop a trusted proxy
	 * added; the first untrusted one is the client. */
	const char *end = xff + strlen(xff);
	while (end > xff) {
		const char *start = end;
		while (start > xff && start[-1] != ',')
			start--;
		const char *s = start, *e = end;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		char hop[64];
		int family;
		unsigned char a[16];
		if (e - s <= 0 || (size_t)(e - s) >= sizeof(hop))
			return;         /* malformed: keep what we have */
		snprintf(hop, sizeof(hop), "%.*s", (int)(e - s), s);
		if (parse_addr(hop, &family, a) != 0)
			return;
		snprintf(out, outlen, "%s", hop);
		if (!netlist_contains(l, hop))
			return;
		end = start > xff ? start - 1 : xff;
	}
}
