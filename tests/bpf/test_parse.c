// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What the datapath must leave alone or drop: frames that are not IPv4,
 * IPv4 that is not for a service, malformed or truncated headers, and
 * fragments. Every row is one packet; the output must be the input, byte
 * for byte, with the verdict and the counter the row names.
 *
 * Services: 10.96.0.10:80/tcp -> 10.20.1.2:8080, 10.96.0.10:53/udp ->
 * 10.20.1.3:5353.
 */
#include "xlbtest.h"

static struct xlb_dp *dp;

struct parse_case {
	const char *desc;
	struct pkt_desc pkt;
	uint32_t verdict;
	int stat;		/* counter that moves by exactly one; -1: not checked */
};

#define ETH_C2N		.eth_dst = MAC_NODE, .eth_src = MAC_CLIENT
#define V4(sa, da)	ETH_C2N, .saddr = sa, .daddr = da, .ip_id = 0x1234
#define TCP(sp, dp, fl)	.proto = IPPROTO_TCP, .sport = sp, .dport = dp, .tcp_flags = fl, \
			.seq = 0x11223344, .window = 64240
#define UDP(sp, dp)	.proto = IPPROTO_UDP, .sport = sp, .dport = dp
#define CLIENT		"10.10.1.2"
#define VIP		"10.96.0.10"

static const struct parse_case cases[] = {
	/* 1. Not ours: passed untouched. */
	{ "ARP request who-has 10.96.0.10 tell 10.10.1.2: XDP_PASS unchanged",
	  { ETH_C2N, .ethertype = PKT_ETH_ARP, .saddr = CLIENT, .daddr = VIP },
	  XDP_PASS, XLB_STAT_PASS_NOT_IP },
	{ "IPv6 TCP SYN [fd00::2]:40000 -> [fd00::10]:80: XDP_PASS unchanged",
	  { ETH_C2N, .ethertype = PKT_ETH_IPV6, .saddr = "fd00::2", .daddr = "fd00::10",
	    .sport = 40000, .dport = 80, .tcp_flags = PKT_SYN, .seq = 1, .window = 64240 },
	  XDP_PASS, XLB_STAT_PASS_NOT_IP },
	{ "802.1Q VLAN 100 carrying ARP: XDP_PASS unchanged",
	  { ETH_C2N, .n_vlan = 1, .vlan_tci = { 100 }, .ethertype = PKT_ETH_ARP,
	    .saddr = CLIENT, .daddr = VIP },
	  XDP_PASS, XLB_STAT_PASS_NOT_IP },
	{ "LLDP frame (type 0x88cc): XDP_PASS unchanged",
	  { ETH_C2N, .ethertype = 0x88cc },
	  XDP_PASS, XLB_STAT_PASS_NOT_IP },
	{ "ICMP echo request 10.10.1.2 -> 10.96.0.10: XDP_PASS unchanged",
	  { V4(CLIENT, VIP), .proto = IPPROTO_ICMP, .sport = 7, .dport = 1, .payload_len = 56 },
	  XDP_PASS, -1 },
	{ "GRE (protocol 47) 10.10.1.2 -> 10.96.0.10: XDP_PASS unchanged",
	  { V4(CLIENT, VIP), .proto = 47, .payload_len = 24 },
	  XDP_PASS, -1 },
	{ "TCP SYN 10.10.1.2:40000 -> 10.96.0.99:80, not a service address: XDP_PASS unchanged",
	  { V4(CLIENT, "10.96.0.99"), TCP(40000, 80, PKT_SYN), .tcp_opt_len = 20 },
	  XDP_PASS, XLB_STAT_PASS_NOT_SERVICE },
	{ "TCP SYN 10.10.1.2:40000 -> 10.96.0.10:81, service address but not its port: XDP_PASS unchanged",
	  { V4(CLIENT, VIP), TCP(40000, 81, PKT_SYN), .tcp_opt_len = 20 },
	  XDP_PASS, XLB_STAT_PASS_NOT_SERVICE },
	{ "TCP SYN 10.10.1.2:40000 -> 10.96.0.10:53, the UDP service's port: XDP_PASS unchanged",
	  { V4(CLIENT, VIP), TCP(40000, 53, PKT_SYN) },
	  XDP_PASS, XLB_STAT_PASS_NOT_SERVICE },
	{ "UDP 10.10.1.2:50000 -> 10.96.0.10:80, the TCP service's port: XDP_PASS unchanged",
	  { V4(CLIENT, VIP), UDP(50000, 80), .payload_len = 32 },
	  XDP_PASS, XLB_STAT_PASS_NOT_SERVICE },
	{ "UDP 10.10.1.2:50000 -> 10.96.0.99:53, not a service address: XDP_PASS unchanged",
	  { V4(CLIENT, "10.96.0.99"), UDP(50000, 53), .payload_len = 32 },
	  XDP_PASS, XLB_STAT_PASS_NOT_SERVICE },
	{ "TCP ACK+PSH with 100 bytes 10.10.1.2:40000 -> 10.10.9.9:443, no service, no flow: XDP_PASS unchanged",
	  { V4(CLIENT, "10.10.9.9"), TCP(40000, 443, PKT_ACK | PKT_PSH), .ack = 5, .payload_len = 100,
	    .frag = PKT_IP_DF },
	  XDP_PASS, XLB_STAT_PASS_NOT_SERVICE },
	{ "TCP SYN-ACK 10.20.1.2:8080 -> 10.10.1.2:40000 from a backend with no flow: XDP_PASS unchanged",
	  { V4("10.20.1.2", CLIENT), TCP(8080, 40000, PKT_SYN | PKT_ACK), .ack = 0x11223345 },
	  XDP_PASS, XLB_STAT_PASS_NOT_SERVICE },

	/* 2. Malformed, to a service (its address, port and protocol can be
	 * read): dropped as they are. When not even that can be read, the
	 * packet is the stack's to judge. */
	{ "Ethernet header only (14 bytes, type IPv4): whose ports cannot be read, XDP_PASS unchanged",
	  { V4(CLIENT, VIP), TCP(40000, 80, PKT_SYN), .cut = 14 },
	  XDP_PASS, XLB_STAT_PASS_MALFORMED },
	{ "802.1Q tag then end of frame (18 bytes, inner type IPv4): whose ports cannot be read, XDP_PASS unchanged",
	  { V4(CLIENT, VIP), .n_vlan = 1, .vlan_tci = { 100 }, TCP(40000, 80, PKT_SYN), .cut = 18 },
	  XDP_PASS, XLB_STAT_PASS_MALFORMED },
	{ "IPv4 header cut short: 10 of its 20 bytes (TCP SYN to 10.96.0.10:80): whose ports cannot be read, XDP_PASS unchanged",
	  { V4(CLIENT, VIP), TCP(40000, 80, PKT_SYN), .cut = 14 + 10 },
	  XDP_PASS, XLB_STAT_PASS_MALFORMED },
	{ "IPv4 header cut short: ihl=6 announces options, frame ends after 20 bytes: whose ports cannot be read, XDP_PASS unchanged",
	  { V4(CLIENT, VIP), TCP(40000, 80, PKT_SYN), .ip_opt_len = 4, .cut = 14 + 20 },
	  XDP_PASS, XLB_STAT_PASS_MALFORMED },
	{ "IPv4 ihl=4 (below the minimum 5), TCP SYN to 10.96.0.10:80: whose ports cannot be read, XDP_PASS unchanged",
	  { V4(CLIENT, VIP), TCP(40000, 80, PKT_SYN), .ihl = 4 },
	  XDP_PASS, XLB_STAT_PASS_MALFORMED },
	/* Read with a 16-byte IPv4 header, this one still has a TCP header
	 * with doff 5 (the ack's first byte), so only the ihl check drops it. */
	{ "IPv4 ihl=4, TCP ACK (ack 0x50000000) to 10.96.0.10:80: whose ports cannot be read, XDP_PASS unchanged",
	  { V4(CLIENT, VIP), TCP(40000, 80, PKT_ACK), .ack = 0x50000000, .ihl = 4 },
	  XDP_PASS, XLB_STAT_PASS_MALFORMED },
	{ "IPv4 ihl=1, TCP SYN to 10.96.0.10:80: whose ports cannot be read, XDP_PASS unchanged",
	  { V4(CLIENT, VIP), TCP(40000, 80, PKT_SYN), .ihl = 1 },
	  XDP_PASS, XLB_STAT_PASS_MALFORMED },
	{ "IPv4 total length 100 bytes more than the frame, TCP SYN to 10.96.0.10:80: XDP_DROP",
	  { V4(CLIENT, VIP), TCP(40000, 80, PKT_SYN), .tot_len_delta = 100 },
	  XDP_DROP, XLB_STAT_DROP_MALFORMED },
	{ "IPv4 total length 41 in a 40-byte datagram (one byte short), TCP to 10.96.0.10:80: XDP_DROP",
	  { V4(CLIENT, VIP), TCP(40000, 80, PKT_SYN), .tot_len_delta = 1 },
	  XDP_DROP, XLB_STAT_DROP_MALFORMED },
	{ "IPv4 total length 16, less than its own header, TCP to 10.96.0.10:80: XDP_DROP",
	  { V4(CLIENT, VIP), TCP(40000, 80, PKT_SYN), .tot_len_delta = 16 - 40 },
	  XDP_DROP, XLB_STAT_DROP_MALFORMED },
	{ "TCP header cut short: 10 bytes of TCP, IPv4 total length 30 agrees: XDP_DROP",
	  { V4(CLIENT, VIP), TCP(40000, 80, PKT_SYN), .tot_len_delta = -10, .cut = 14 + 30 },
	  XDP_DROP, XLB_STAT_DROP_MALFORMED },
	{ "TCP header cut short: frame ends 10 bytes into TCP, IPv4 total length says 40: XDP_DROP",
	  { V4(CLIENT, VIP), TCP(40000, 80, PKT_SYN), .cut = 14 + 30 },
	  XDP_DROP, XLB_STAT_DROP_MALFORMED },
	{ "TCP doff=4 (16-byte header, below the minimum 20), SYN to 10.96.0.10:80: XDP_DROP",
	  { V4(CLIENT, VIP), TCP(40000, 80, PKT_SYN), .doff = 4 },
	  XDP_DROP, XLB_STAT_DROP_MALFORMED },
	{ "TCP doff=0, SYN to 10.96.0.10:80: XDP_DROP",
	  { V4(CLIENT, VIP), TCP(40000, 80, PKT_SYN), .doff = PKT_DOFF_ZERO },
	  XDP_DROP, XLB_STAT_DROP_MALFORMED },
	{ "TCP doff=15 (60-byte header) in a 20-byte segment, SYN to 10.96.0.10:80: XDP_DROP",
	  { V4(CLIENT, VIP), TCP(40000, 80, PKT_SYN), .doff = 15 },
	  XDP_DROP, XLB_STAT_DROP_MALFORMED },
	{ "UDP header cut short: 4 bytes of UDP to 10.96.0.10:53, IPv4 total length 24 agrees: XDP_DROP",
	  { V4(CLIENT, VIP), UDP(50000, 53), .tot_len_delta = -4, .cut = 14 + 24 },
	  XDP_DROP, XLB_STAT_DROP_MALFORMED },
	{ "UDP header cut short: frame ends 4 bytes into UDP, IPv4 total length says 28: XDP_DROP",
	  { V4(CLIENT, VIP), UDP(50000, 53), .cut = 14 + 24 },
	  XDP_DROP, XLB_STAT_DROP_MALFORMED },

	/* 3. Malformed, to anybody else (transit): the stack's business. */
	{ "IPv4 total length 100 bytes more than the frame, TCP SYN to 10.10.9.9:80: XDP_PASS unchanged",
	  { V4(CLIENT, "10.10.9.9"), TCP(40000, 80, PKT_SYN), .tot_len_delta = 100 },
	  XDP_PASS, XLB_STAT_PASS_MALFORMED },
	{ "TCP doff=15 in a 20-byte segment to 10.96.0.10:81 (service address, other port): XDP_PASS unchanged",
	  { V4(CLIENT, VIP), TCP(40000, 81, PKT_SYN), .doff = 15 },
	  XDP_PASS, XLB_STAT_PASS_MALFORMED },
	{ "TCP doff=4 to 10.10.9.9:443: XDP_PASS unchanged",
	  { V4(CLIENT, "10.10.9.9"), TCP(40000, 443, PKT_ACK), .doff = 4 },
	  XDP_PASS, XLB_STAT_PASS_MALFORMED },
	{ "TCP header cut short: 10 bytes of TCP to 10.10.9.9:80: XDP_PASS unchanged",
	  { V4(CLIENT, "10.10.9.9"), TCP(40000, 80, PKT_SYN), .tot_len_delta = -10, .cut = 14 + 30 },
	  XDP_PASS, XLB_STAT_PASS_MALFORMED },
	{ "UDP header cut short: 4 bytes of UDP to 10.10.9.9:53: XDP_PASS unchanged",
	  { V4(CLIENT, "10.10.9.9"), UDP(50000, 53), .tot_len_delta = -4, .cut = 14 + 24 },
	  XDP_PASS, XLB_STAT_PASS_MALFORMED },
	{ "IPv4 total length 16 (less than its header), UDP to the TCP service's port 10.96.0.10:80: XDP_PASS unchanged",
	  { V4(CLIENT, VIP), UDP(50000, 80), .tot_len_delta = 16 - 28 },
	  XDP_PASS, XLB_STAT_PASS_MALFORMED },

	/* 4. Fragments: a UDP datagram's or TCP segment's first fragment goes
	 * the usual way and its later ones follow it (test_frag.c), so here
	 * only what is no service's is passed untouched. */
	{ "TCP SYN to 10.10.9.9:80 (no service) as a first fragment (MF set, offset 0): XDP_PASS unchanged",
	  { V4(CLIENT, "10.10.9.9"), TCP(40000, 80, PKT_SYN), .frag = PKT_IP_MF,
	    .payload_len = 64 },
	  XDP_PASS, XLB_STAT_PASS_NOT_SERVICE },
	{ "last fragment of a TCP segment to 10.96.0.10 whose first fragment was not seen "
	  "(offset 1480 bytes, MF clear): XDP_PASS unchanged",
	  { V4(CLIENT, VIP), TCP(40000, 80, PKT_ACK), .frag = 185,
	    .payload_len = 64 },
	  XDP_PASS, XLB_STAT_PASS_FRAGMENT },
	{ "ICMP echo to 10.96.0.10 as a first fragment: XDP_PASS unchanged",
	  { V4(CLIENT, VIP), .proto = IPPROTO_ICMP, .sport = 7, .frag = PKT_IP_MF,
	    .payload_len = 64 },
	  XDP_PASS, XLB_STAT_PASS_FRAGMENT },
	{ "UDP to 10.10.9.9:53 (no service) as a first fragment (MF set, offset 0): XDP_PASS unchanged",
	  { V4(CLIENT, "10.10.9.9"), UDP(50000, 53), .frag = PKT_IP_MF, .payload_len = 200 },
	  XDP_PASS, XLB_STAT_PASS_NOT_SERVICE },
	{ "middle fragment of a UDP datagram to 10.96.0.10 whose first fragment was not seen "
	  "(MF set, offset 8 bytes): XDP_PASS unchanged",
	  { V4(CLIENT, VIP), UDP(50000, 53), .frag = PKT_IP_MF | 1, .payload_len = 200 },
	  XDP_PASS, XLB_STAT_PASS_FRAGMENT },
};

static const char *case_desc(const void *row)
{
	return ((const struct parse_case *)row)->desc;
}

static void test_case(void **state)
{
	const struct parse_case *c = *state;
	uint8_t in[PKT_MAX];
	struct xt_stats before, after;
	struct xt_run r;
	size_t len;

	len = xt_build(&c->pkt, in);
	before = xt_stats(dp);
	xt_run(dp, in, len, 0, &r);
	after = xt_stats(dp);
	xt_expect(c->desc, &r, c->verdict, in, len);
	if (xt_delta(&after, &before, XLB_STAT_RX) != 1) {
		xt_stats_print(&after, &before);
		fail_msg("rx moved by %llu, expected 1",
			 (unsigned long long)xt_delta(&after, &before, XLB_STAT_RX));
	}
	if (c->stat >= 0 && xt_delta(&after, &before, c->stat) != 1) {
		xt_stats_print(&after, &before);
		fail_msg("%s moved by %llu, expected 1", xlb_stat_name(c->stat),
			 (unsigned long long)xt_delta(&after, &before, c->stat));
	}
	if (xt_delta(&after, &before, XLB_STAT_CT_NEW)) {
		xt_stats_print(&after, &before);
		fail_msg("a flow was created for a packet the datapath must not touch");
	}
}

/* The builder against a published example: the IPv4 header
 * 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7 (Wikipedia, "Internet
 * checksum"), and the checker against a corrupted copy. */
static void test_pktgen_selfcheck(void **state)
{
	static const uint8_t want[20] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00,
					  0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01,
					  0xc0, 0xa8, 0x00, 0xc7 };
	struct pkt_desc d = { ETH_C2N, .saddr = "192.168.0.1", .daddr = "192.168.0.199",
			      UDP(1234, 53), .frag = PKT_IP_DF, .payload_len = 0x73 - 28 };
	uint8_t p[PKT_MAX];
	char why[160];
	size_t len = xt_build(&d, p);

	assert_int_equal(len, 14 + 0x73);
	assert_memory_equal(p + 14, want, sizeof(want));
	assert_int_equal(pkt_csum_check(p, len, why, sizeof(why)), 0);
	p[len - 1] ^= 1;
	assert_int_not_equal(pkt_csum_check(p, len, why, sizeof(why)), 0);
	p[len - 1] ^= 1;
	p[14 + 8] -= 1;	/* TTL */
	assert_int_not_equal(pkt_csum_check(p, len, why, sizeof(why)), 0);
}

static int group_setup(void **state)
{
	struct xlb_service_spec tcp = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_service_spec udp = xt_svc(VIP, 53, IPPROTO_UDP, XLB_ALGO_RR);
	struct xlb_backend_spec b1 = xt_be("10.20.1.2", 8080, 1);
	struct xlb_backend_spec b2 = xt_be("10.20.1.3", 5353, 1);
	char err[256];

	dp = xt_dp_open();
	if (!dp)
		return -1;
	if (xlb_dp_service_set(dp, &tcp, &b1, 1, err, sizeof(err)) ||
	    xlb_dp_service_set(dp, &udp, &b2, 1, err, sizeof(err))) {
		print_error("service_set: %s\n", err);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	xlb_dp_close(dp);
	dp = NULL;
	return 0;
}

int main(void)
{
	const struct CMUnitTest self[] = {
		cmocka_unit_test(test_pktgen_selfcheck),
	};
	int fails;

	xt_init();
	fails = cmocka_run_group_tests_name("pktgen", self, NULL, NULL);
	fails += xt_run_table("parse: pass, drop, fragments", test_case, cases, sizeof(cases[0]),
			      sizeof(cases) / sizeof(cases[0]), case_desc, NULL, NULL,
			      group_setup, group_teardown);
	return fails ? 1 : 0;
}
