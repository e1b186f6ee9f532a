/* Lists of addresses and networks ("127.0.0.1, 10.0.0.0/8, ::1"), for
 * the trusted proxies whose X-Forwarded-For and X-Forwarded-Proto count. */
#ifndef AANTAFEL_NETADDR_H
#define AANTAFEL_NETADDR_H

#include <stdbool.h>
#include <stddef.h>

#define NETLIST_MAX 64

struct netlist;

/* Parses TEXT (entries separated by commas or spaces; empty: an empty
 * list). Returns NULL with the bad entry named in err. */
struct netlist *netlist_parse(const char *text, char *err, size_t errlen);
void netlist_free(struct netlist *l);
size_t netlist_count(const struct netlist *l);

/* Whether the textual address ADDR is in the list. */
bool netlist_contains(const struct netlist *l, const char *addr);

/* The client behind trusted proxies: with PEER trusted, the rightmost
 * address of X-Forwarded-For (XFF, may be NULL) that is not trusted
 * itself (or the leftmost when all are); else PEER. Written to OUT. */
void netlist_client(const struct netlist *l, const char *peer, const char *xff, char *out, size_t outlen);

#endif
