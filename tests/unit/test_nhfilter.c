// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Which rtnetlink notifications make XDP's cached next hops stale
 * (netlink/nhfilter.c). Messages are laid out as the kernel sends them
 * (rtmsg/ndmsg/ifinfomsg/fib_rule_hdr and their attributes): routes in
 * main and default against cloned ones, the local table, a table no rule
 * names, IPv6; rules, and routes in the tables they name;
 * neighbours whose MAC changes (also across a delete) against state
 * changes with the same MAC, as a managed entry kept reachable (xlbd's
 * own) makes; links whose MTU changes against other link changes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>
#include <cmocka.h>

#include "netlink/nhfilter.h"

static char buf[8192] __attribute__((aligned(8)));

static struct nlmsghdr *route(uint16_t type, uint8_t family, uint32_t table, uint32_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rt = mnl_nlmsg_put_extra_header(nlh, sizeof(*rt));
	uint32_t dst = htonl(0x0a000200);

	nlh->nlmsg_type = type;
	rt->rtm_family = family;
	rt->rtm_dst_len = 24;
	rt->rtm_table = table < 256 ? table : RT_TABLE_COMPAT;
	rt->rtm_protocol = RTPROT_BOOT;
	rt->rtm_scope = RT_SCOPE_UNIVERSE;
	rt->rtm_type = RTN_UNICAST;
	rt->rtm_flags = flags;
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	mnl_attr_put(nlh, RTA_DST, 4, &dst);
	mnl_attr_put_u32(nlh, RTA_OIF, 2);
	return nlh;
}

static struct nlmsghdr *rule(uint16_t type, uint8_t family, uint32_t table, uint8_t action)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct fib_rule_hdr *fr = mnl_nlmsg_put_extra_header(nlh, sizeof(*fr));

	nlh->nlmsg_type = type;
	fr->family = family;
	fr->src_len = 16;
	fr->table = table < 256 ? table : RT_TABLE_COMPAT;
	fr->action = action;
	mnl_attr_put_u32(nlh, FRA_TABLE, table);
	mnl_attr_put_u32(nlh, FRA_PRIORITY, 100);
	return nlh;
}

static void test_rules(void **state)
{
	struct xlb_nhfilter f;

	(void)state;
	xlb_nhfilter_init(&f);
	assert_false(xlb_nhfilter_msg(&f, route(RTM_NEWROUTE, AF_INET, 2004, 0)));
	/* a rule (added or removed) changes what the lookup finds */
	assert_true(xlb_nhfilter_msg(&f, rule(RTM_NEWRULE, AF_INET, 2004, FR_ACT_TO_TBL)));
	assert_true(xlb_nhfilter_msg(&f, rule(RTM_NEWRULE, AF_INET, 2004, FR_ACT_TO_TBL)));
	assert_true(xlb_nhfilter_msg(&f, route(RTM_NEWROUTE, AF_INET, 2004, 0)));
	assert_false(xlb_nhfilter_msg(&f, route(RTM_NEWROUTE, AF_INET, 2005, 0)));
	assert_false(xlb_nhfilter_msg(&f, route(RTM_NEWROUTE, AF_INET, 2004, RTM_F_CLONED)));
	/* the table stays named while one of its two rules does */
	assert_true(xlb_nhfilter_msg(&f, rule(RTM_DELRULE, AF_INET, 2004, FR_ACT_TO_TBL)));
	assert_true(xlb_nhfilter_msg(&f, route(RTM_DELROUTE, AF_INET, 2004, 0)));
	assert_true(xlb_nhfilter_msg(&f, rule(RTM_DELRULE, AF_INET, 2004, FR_ACT_TO_TBL)));
	assert_false(xlb_nhfilter_msg(&f, route(RTM_NEWROUTE, AF_INET, 2004, 0)));
	/* the default rules name local too: its address routes stay out */
	assert_true(xlb_nhfilter_msg(&f, rule(RTM_NEWRULE, AF_INET, RT_TABLE_LOCAL, FR_ACT_TO_TBL)));
	assert_false(xlb_nhfilter_msg(&f, route(RTM_NEWROUTE, AF_INET, RT_TABLE_LOCAL, 0)));
	/* an IPv6 rule is not IPv4's */
	assert_false(xlb_nhfilter_msg(&f, rule(RTM_NEWRULE, AF_INET6, 100, FR_ACT_TO_TBL)));
	assert_false(xlb_nhfilter_msg(&f, route(RTM_NEWROUTE, AF_INET, 100, 0)));
	/* forgotten before a dump of the rules counts them again */
	assert_true(xlb_nhfilter_msg(&f, rule(RTM_NEWRULE, AF_INET, 100, FR_ACT_TO_TBL)));
	xlb_nhfilter_rules_reset(&f);
	assert_false(xlb_nhfilter_msg(&f, route(RTM_NEWROUTE, AF_INET, 100, 0)));
	xlb_nhfilter_fini(&f);
}

static struct nlmsghdr *neigh(uint16_t type, int ifindex, uint32_t addr, const uint8_t *mac,
			      uint16_t state, uint8_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
	uint32_t a = htonl(addr);

	nlh->nlmsg_type = type;
	nd->ndm_family = AF_INET;
	nd->ndm_ifindex = ifindex;
	nd->ndm_state = state;
	nd->ndm_flags = flags;
	mnl_attr_put(nlh, NDA_DST, 4, &a);
	if (mac)
		mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	return nlh;
}

static struct nlmsghdr *link_msg(uint16_t type, int ifindex, uint32_t mtu, unsigned int flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

	nlh->nlmsg_type = type;
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = ifindex;
	ifm->ifi_flags = flags;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, "eth0");
	mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return nlh;
}

static void test_routes(void **state)
{
	struct xlb_nhfilter f;

	(void)state;
	xlb_nhfilter_init(&f);
	assert_true(xlb_nhfilter_msg(&f, route(RTM_NEWROUTE, AF_INET, RT_TABLE_MAIN, 0)));
	assert_true(xlb_nhfilter_msg(&f, route(RTM_DELROUTE, AF_INET, RT_TABLE_MAIN, 0)));
	assert_true(xlb_nhfilter_msg(&f, route(RTM_NEWROUTE, AF_INET, RT_TABLE_DEFAULT, 0)));
	/* the kernel's cache (exceptions, learnt path MTUs) */
	assert_false(xlb_nhfilter_msg(&f, route(RTM_NEWROUTE, AF_INET, RT_TABLE_MAIN,
						RTM_F_CLONED)));
	/* an address's local and broadcast routes */
	assert_false(xlb_nhfilter_msg(&f, route(RTM_NEWROUTE, AF_INET, RT_TABLE_LOCAL, 0)));
	/* tables no rule names, beyond 255 too */
	assert_false(xlb_nhfilter_msg(&f, route(RTM_NEWROUTE, AF_INET, 100, 0)));
	assert_false(xlb_nhfilter_msg(&f, route(RTM_NEWROUTE, AF_INET, 2004, 0)));
	assert_false(xlb_nhfilter_msg(&f, route(RTM_NEWROUTE, AF_INET6, RT_TABLE_MAIN, 0)));
	xlb_nhfilter_fini(&f);
}

static void test_route_table_attr_truncated(void **state)
{
	struct xlb_nhfilter f;
	struct nlmsghdr *nlh;

	(void)state;
	xlb_nhfilter_init(&f);
	/* rtm_table says main, RTA_TABLE (the kernel's word for tables
	 * beyond 255, and sent for every table) says otherwise */
	nlh = route(RTM_NEWROUTE, AF_INET, 300, 0);
	((struct rtmsg *)mnl_nlmsg_get_payload(nlh))->rtm_table = RT_TABLE_MAIN;
	assert_false(xlb_nhfilter_msg(&f, nlh));
	/* no whole rtmsg */
	nlh = route(RTM_NEWROUTE, AF_INET, RT_TABLE_MAIN, 0);
	nlh->nlmsg_len = sizeof(*nlh) + 4;
	assert_false(xlb_nhfilter_msg(&f, nlh));
	xlb_nhfilter_fini(&f);
}

static const uint8_t mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a };
static const uint8_t mac_b[6] = { 0x02, 0, 0, 0, 0, 0x0b };

static void test_neighbours(void **state)
{
	struct xlb_nhfilter f;

	(void)state;
	xlb_nhfilter_init(&f);
	/* first sight (a dump, or a newly resolved next hop): nothing cached
	 * can have used it */
	assert_false(xlb_nhfilter_msg(&f, neigh(RTM_NEWNEIGH, 2, 0x0a000102, mac_a,
						NUD_REACHABLE, 0)));
	/* state changes with the same MAC: the kernel's probes, and a managed
	 * entry xlbd made (netlink/neigh.c) kept reachable */
	assert_false(xlb_nhfilter_msg(&f, neigh(RTM_NEWNEIGH, 2, 0x0a000102, mac_a, NUD_STALE, 0)));
	assert_false(xlb_nhfilter_msg(&f, neigh(RTM_NEWNEIGH, 2, 0x0a000102, mac_a, NUD_PROBE,
						NTF_EXT_MANAGED)));
	assert_false(xlb_nhfilter_msg(&f, neigh(RTM_NEWNEIGH, 2, 0x0a000102, NULL, NUD_INCOMPLETE,
						0)));
	/* the same address on another link is another neighbour */
	assert_false(xlb_nhfilter_msg(&f, neigh(RTM_NEWNEIGH, 3, 0x0a000102, mac_b,
						NUD_REACHABLE, 0)));
	/* the MAC changed */
	assert_true(xlb_nhfilter_msg(&f, neigh(RTM_NEWNEIGH, 2, 0x0a000102, mac_b, NUD_REACHABLE,
					       0)));
	assert_false(xlb_nhfilter_msg(&f, neigh(RTM_NEWNEIGH, 2, 0x0a000102, mac_b, NUD_STALE, 0)));
	/* deleted, then learnt again with another MAC */
	assert_false(xlb_nhfilter_msg(&f, neigh(RTM_DELNEIGH, 2, 0x0a000102, mac_b, NUD_STALE, 0)));
	assert_true(xlb_nhfilter_msg(&f, neigh(RTM_NEWNEIGH, 2, 0x0a000102, mac_a, NUD_REACHABLE,
					       0)));
	/* deleted, then learnt again with the same MAC */
	assert_false(xlb_nhfilter_msg(&f, neigh(RTM_DELNEIGH, 2, 0x0a000102, mac_a, NUD_STALE, 0)));
	assert_false(xlb_nhfilter_msg(&f, neigh(RTM_NEWNEIGH, 2, 0x0a000102, mac_a, NUD_REACHABLE,
						0)));
	xlb_nhfilter_fini(&f);
}

static void test_neighbour_ipv6_ignored(void **state)
{
	struct xlb_nhfilter f;
	struct nlmsghdr *nlh;

	(void)state;
	xlb_nhfilter_init(&f);
	assert_false(xlb_nhfilter_msg(&f, neigh(RTM_NEWNEIGH, 2, 0x0a000102, mac_a, NUD_STALE, 0)));
	nlh = neigh(RTM_NEWNEIGH, 2, 0x0a000102, mac_b, NUD_STALE, 0);
	((struct ndmsg *)mnl_nlmsg_get_payload(nlh))->ndm_family = AF_INET6;
	assert_false(xlb_nhfilter_msg(&f, nlh));
	xlb_nhfilter_fini(&f);
}

static void test_links(void **state)
{
	struct xlb_nhfilter f;

	(void)state;
	xlb_nhfilter_init(&f);
	assert_false(xlb_nhfilter_msg(&f, link_msg(RTM_NEWLINK, 2, 1500, 0)));
	/* up, down, renamed: the same MTU */
	assert_false(xlb_nhfilter_msg(&f, link_msg(RTM_NEWLINK, 2, 1500, 1)));
	assert_true(xlb_nhfilter_msg(&f, link_msg(RTM_NEWLINK, 2, 1400, 1)));
	assert_false(xlb_nhfilter_msg(&f, link_msg(RTM_NEWLINK, 2, 1400, 1)));
	/* gone (its routes go and say so), then a new link with its index */
	assert_false(xlb_nhfilter_msg(&f, link_msg(RTM_DELLINK, 2, 1400, 0)));
	assert_false(xlb_nhfilter_msg(&f, link_msg(RTM_NEWLINK, 2, 9000, 0)));
	/* what is no route, rule, neighbour or link */
	assert_false(xlb_nhfilter_msg(&f, route(RTM_NEWADDR, AF_INET, RT_TABLE_MAIN, 0)));
	xlb_nhfilter_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_route_table_attr_truncated),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_neighbours),
		cmocka_unit_test(test_neighbour_ipv6_ignored),
		cmocka_unit_test(test_links),
	};

	return cmocka_run_group_tests_name("nhfilter", tests, NULL, NULL);
}
