/* Trusted proxies: parsing the list, matching networks, and finding the
 * client in X-Forwarded-For without trusting what a client wrote. */
#include "check.h"
#include "netaddr.h"

int main(void)
{
	char err[128], out[64];
	struct netlist *l = netlist_parse("127.0.0.1, 10.0.0.0/8 ::1  2001:db8::/32,192.168.1.0/24", err, sizeof(err));
	CHECK(l != NULL);
	CHECK_INT_EQ(netlist_count(l), 5);
	CHECK(netlist_contains(l, "127.0.0.1"));
	CHECK(!netlist_contains(l, "127.0.0.2"));
	CHECK(netlist_contains(l, "10.200.3.4"));
	CHECK(!netlist_contains(l, "11.0.0.1"));
	CHECK(netlist_contains(l, "::1"));
	CHECK(netlist_contains(l, "2001:db8:ffff::1"));
	CHECK(!netlist_contains(l, "2001:db9::1"));
	CHECK(netlist_contains(l, "192.168.1.77"));
	CHECK(!netlist_contains(l, "192.168.2.1"));
	CHECK(netlist_contains(l, "::ffff:10.1.2.3"));
	CHECK(!netlist_contains(l, "garbage"));

	/* The peer is a trusted proxy: the rightmost untrusted hop. */
	netlist_client(l, "10.0.0.5", "203.0.113.9", out, sizeof(out));
	CHECK_STR_EQ(out, "203.0.113.9");
	/* A client that sends its own X-Forwarded-For cannot choose: the
	 * proxy appended the real address last. */
	netlist_client(l, "10.0.0.5", "1.2.3.4, 203.0.113.9", out, sizeof(out));
	CHECK_STR_EQ(out, "203.0.113.9");
	/* Two trusted proxies in a row. */
	netlist_client(l, "10.0.0.5", "198.51.100.7, 192.168.1.3", out, sizeof(out));
	CHECK_STR_EQ(out, "198.51.100.7");
	/* An untrusted peer's header means nothing. */
	netlist_client(l, "203.0.113.50", "1.2.3.4", out, sizeof(out));
	CHECK_STR_EQ(out, "203.0.113.50");
	/* Garbage stops the walk at the last good hop. */
	netlist_client(l, "10.0.0.5", "evil, 203.0.113.9", out, sizeof(out));
	CHECK_STR_EQ(out, "203.0.113.9");
	netlist_client(l, "10.0.0.5", "203.0.113.9, evil", out, sizeof(out));
	CHECK_STR_EQ(out, "10.0.0.5");
	netlist_client(l, "10.0.0.5", NULL, out, sizeof(out));
	CHECK_STR_EQ(out, "10.0.0.5");
	netlist_free(l);

	CHECK(netlist_parse("10.0.0.0/33", err, sizeof(err)) == NULL);
	CHECK_CONTAINS(err, "10.0.0.0/33");
	CHECK(netlist_parse("localhost", err, sizeof(err)) == NULL);
	CHECK(netlist_parse("1.2.3.4/", err, sizeof(err)) == NULL);
	l = netlist_parse("", err, sizeof(err));
	CHECK(l != NULL && netlist_count(l) == 0 && !netlist_contains(l, "127.0.0.1"));
	netlist_free(l);
	return check_exit("test_netaddr");
}
