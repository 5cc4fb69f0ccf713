// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * IP fragments and path MTU in XDP (bpf/lib/frag.h, frag_xdp.h),
 * byte-exact. A UDP datagram of 3,008 bytes (3,000 of payload) is cut
 * into three fragments as a router with a 1,500-byte MTU cuts it
 * (pkt_fragment); each expected fragment is cut from the datagram built
 * from scratch with the translated addresses and ports, so the first
 * fragment's UDP checksum (which covers the whole datagram) and every
 * header checksum must come out right. In test_redirect's topology (next
 * hops known):
 *
 *   client side:  cli0 10.10.1.1/24 (the node address)
 *   backend side: be0 10.20.0.1/16; backends 10.20.1.2 (on another node:
 *                 SNAT) and 10.20.3.2 (node unknown: DNAT only);
 *                 10.20.5.0/24 by a route of MTU 1400 (locked), backend
 *                 10.20.5.2
 *   a tunnel:     tun0 10.30.0.1/24, MTU 1380; 10.30.1.0/24 via 10.30.0.2,
 *                 backend 10.30.1.2
 *
 * Services: node port 30053/udp -> 10.20.1.2:5353, 10.96.0.31:53/udp ->
 * 10.20.3.2:5353, 10.96.0.32:53/udp without endpoints, node port
 * 30080/tcp -> 10.20.1.2:8080, node port 30055/udp -> 10.20.1.2:5353 in
 * DSR mode, LoadBalancer 203.0.113.10:53/udp and external IP
 * 198.51.100.7:53/udp -> 10.20.1.2:5353.
 */
#include "flow.h"
#include "twolinks.h"

static struct xlb_dp *dp;
static uint32_t if_cli, if_be;

#define CLIENT		"10.10.1.2"
#define NODE		"10.10.1.1"
#define BE_REMOTE	"10.20.1.2"
#define BE_UNKNOWN	"10.20.3.2"
#define VIP		"10.96.0.31"
#define VIP_EMPTY	"10.96.0.32"
#define BE_SMALL	"10.20.5.2"	/* by a route of MTU 1400 */
#define BE_TUN		"10.30.1.2"	/* through tun0, MTU 1380 */
#define VIP_SMALL	"10.96.0.37"	/* :53/udp -> 10.20.5.2:5353, DNAT only */

#define MAC_CLI0	{ 0x02, 0x00, 0x00, 0x00, 0x00, 0xc0 }
#define MAC_BE0		{ 0x02, 0x00, 0x00, 0x00, 0x00, 0xb0 }
#define MAC_NEIGH	{ 0x02, 0x00, 0x00, 0x00, 0x20, 0x02 }
#define MAC_TUN0	{ 0x02, 0x00, 0x00, 0x00, 0x00, 0xd0 }
#define MAC_TUN_GW	{ 0x02, 0x00, 0x00, 0x00, 0x30, 0x02 }

#define PAYLOAD		3000	/* a 3,028-byte datagram: three fragments at MTU 1500 */
#define FRAG_DATA	1480	/* payload bytes of a full fragment */

/* A datagram of the client (through its router) and of a backend. */
#define FROM_C(da, id, sp, dp_) .eth_dst = MAC_CLI0, .eth_src = MAC_CLIENT, .saddr = CLIENT, \
			.daddr = da, .ip_id = id, .ttl = 61, .proto = IPPROTO_UDP, .sport = sp, \
			.dport = dp_, .payload_len = PAYLOAD
#define FROM_B(sa, id, sp, da, dp_) .eth_dst = MAC_BE0, .eth_src = MAC_NEIGH, .saddr = sa, \
			.daddr = da, .ip_id = id, .ttl = 64, .proto = IPPROTO_UDP, .sport = sp, \
			.dport = dp_, .payload_len = PAYLOAD
/* Where it must go: to the backend's neighbour from be0, or back to the
 * client as its packets came. */
#define TO_BE(sa, da, dp_) { .saddr = sa, .daddr = da, .dport = dp_, .eth = true, \
			     .eth_src = MAC_BE0, .eth_dst = MAC_NEIGH }
#define TO_CLIENT(sa, sp) { .saddr = sa, .sport = sp, .eth = true, .eth_src = MAC_CLI0, \
			    .eth_dst = MAC_CLIENT }

#define ON_CLI 1
#define ON_BE 2

/* Fragment i (0, 1, 2) of datagram d as it arrives; with out, of d as it
 * must leave. */
static size_t frag(const struct pkt_desc *d, const struct xt_rewrite *out, int i, uint8_t *buf)
{
	return xt_fragment(d, out, i, FRAG_DATA, buf);
}

/* One frame in, its verdict, its output (exp NULL: not compared), and the
 * counters that must move by one (the harness checks that exactly one
 * outcome moves). */
static bool run(const char *what, int on, const uint8_t *in, size_t len, uint32_t verdict,
		const uint8_t *exp, size_t elen, enum xlb_stat s1, enum xlb_stat s2,
		enum xlb_stat s3)
{
	const enum xlb_stat want[] = { s1, s2, s3 };
	struct xt_stats before = xt_stats(dp), after;
	struct xt_run r;
	bool ok = true;

	print_message("  %s\n", what);
	xt_run(dp, in, len, on == ON_CLI ? if_cli : if_be, &r);
	after = xt_stats(dp);
	if (exp)
		ok = xt_check(what, &r, verdict, exp, elen);
	else if (r.verdict != verdict) {
		print_error("%s: verdict %s\n", what, xt_verdict_name(r.verdict));
		ok = false;
	}
	for (int i = 0; i < 3; i++)
		if (xt_delta(&after, &before, want[i]) != 1) {
			print_error("%s: %s moved by %llu, expected 1\n", what, xlb_stat_name(want[i]),
				    (unsigned long long)xt_delta(&after, &before, want[i]));
			xt_stats_print(&after, &before);
			ok = false;
		}
	return ok;
}

/* Fragment i of d in, fragment i of d rewritten by out expected. */
static bool run_frag(const char *what, int on, const struct pkt_desc *d, int i,
		     uint32_t verdict, const struct xt_rewrite *out, enum xlb_stat s1,
		     enum xlb_stat s2, enum xlb_stat s3)
{
	uint8_t in[PKT_MAX], exp[PKT_MAX];
	size_t len = frag(d, NULL, i, in), elen = frag(d, out, i, exp);

	return run(what, on, in, len, verdict, exp, elen, s1, s2, s3);
}

/* A node port with its backend on another node: source and destination
 * NAT of every fragment both ways, the first with its ports and the UDP
 * checksum of the whole datagram, the later ones by their first
 * fragment's flow: the first-packet table for the first datagram, the
 * established flow after the backend answered. */
static void test_snat_node_port(void **state)
{
	const struct pkt_desc c1 = { FROM_C(NODE, 0x101, 61234, 30053) };
	const struct pkt_desc c2 = { FROM_C(NODE, 0x102, 61234, 30053) };
	const struct pkt_desc b1 = { FROM_B(BE_REMOTE, 0x201, 5353, NODE, 61234) };
	const struct pkt_desc b2 = { FROM_B(BE_REMOTE, 0x202, 5353, NODE, 61234) };
	const struct xt_rewrite to_be = TO_BE(NODE, BE_REMOTE, 5353);
	const struct xt_rewrite to_cl = TO_CLIENT(NODE, 30053);
	const struct xt_rewrite to_cl_d = { .daddr = CLIENT, .dport = 61234 };
	struct xt_rewrite rep = to_cl;
	int bad = 0;

	(void)state;
	rep.daddr = to_cl_d.daddr;
	rep.dport = to_cl_d.dport;
	bad += !run_frag("first fragment to node port 10.10.1.1:30053: DNAT to 10.20.1.2:5353, "
			 "SNAT to 10.10.1.1:61234, the UDP checksum of the whole datagram updated",
			 ON_CLI, &c1, 0, XDP_REDIRECT, &to_be, XLB_STAT_CT_NEW, XLB_STAT_SNAT_NEW,
			 XLB_STAT_FWD_REDIRECT);
	bad += !run_frag("second fragment (offset 1480, no ports): the same addresses, out of be0",
			 ON_CLI, &c1, 1, XDP_REDIRECT, &to_be, XLB_STAT_FRAG_FOLLOW,
			 XLB_STAT_FWD_REDIRECT, XLB_STAT_RX);
	bad += !run_frag("last fragment (offset 2960): the same", ON_CLI, &c1, 2, XDP_REDIRECT,
			 &to_be, XLB_STAT_FRAG_FOLLOW, XLB_STAT_FWD_REDIRECT, XLB_STAT_RX);
	bad += !run_frag("the backend's answer, first fragment to 10.10.1.1:61234: back to the "
			 "client from the node port", ON_BE, &b1, 0, XDP_REDIRECT, &rep,
			 XLB_STAT_SNAT_REPLY, XLB_STAT_FWD_REDIRECT, XLB_STAT_RX);
	bad += !run_frag("its second fragment: the same", ON_BE, &b1, 1, XDP_REDIRECT, &rep,
			 XLB_STAT_FRAG_FOLLOW, XLB_STAT_FWD_REDIRECT, XLB_STAT_RX);
	bad += !run_frag("its last fragment: the same", ON_BE, &b1, 2, XDP_REDIRECT, &rep,
			 XLB_STAT_FRAG_FOLLOW, XLB_STAT_FWD_REDIRECT, XLB_STAT_RX);
	bad += !run_frag("the client's second datagram, first fragment: the flow is established",
			 ON_CLI, &c2, 0, XDP_REDIRECT, &to_be, XLB_STAT_CT_ESTABLISHED,
			 XLB_STAT_FWD_REDIRECT, XLB_STAT_RX);
	bad += !run_frag("its last fragment: by the established flow and its SNAT mapping",
			 ON_CLI, &c2, 2, XDP_REDIRECT, &to_be, XLB_STAT_FRAG_FOLLOW,
			 XLB_STAT_FWD_REDIRECT, XLB_STAT_RX);
	bad += !run_frag("its middle fragment, after the last: the same", ON_CLI, &c2, 1,
			 XDP_REDIRECT, &to_be, XLB_STAT_FRAG_FOLLOW, XLB_STAT_FWD_REDIRECT,
			 XLB_STAT_RX);
	bad += !run_frag("the answer to it, first fragment: the established reply", ON_BE, &b2, 0,
			 XDP_REDIRECT, &rep, XLB_STAT_CT_HIT, XLB_STAT_SNAT_REPLY,
			 XLB_STAT_FWD_REDIRECT);
	bad += !run_frag("its later fragment: the same", ON_BE, &b2, 1, XDP_REDIRECT, &rep,
			 XLB_STAT_FRAG_FOLLOW, XLB_STAT_FWD_REDIRECT, XLB_STAT_RX);
	if (bad)
		fail_msg("%d steps failed", bad);
}

/* A LoadBalancer ingress IP and an external IP: source NAT from the
 * node's SNAT address (10.10.1.1), every fragment. */
static void test_lb_ext_ip(void **state)
{
	const struct pkt_desc lb = { FROM_C("203.0.113.10", 0x151, 61500, 53) };
	const struct pkt_desc ext = { FROM_C("198.51.100.7", 0x152, 61501, 53) };
	const struct xt_rewrite to_be = TO_BE(NODE, BE_REMOTE, 5353);
	int bad = 0;

	(void)state;
	bad += !run_frag("first fragment to LoadBalancer IP 203.0.113.10:53: DNAT + SNAT", ON_CLI,
			 &lb, 0, XDP_REDIRECT, &to_be, XLB_STAT_CT_NEW, XLB_STAT_SNAT_NEW,
			 XLB_STAT_FWD_REDIRECT);
	for (int i = 1; i < 3; i++)
		bad += !run_frag("a later fragment: the same", ON_CLI, &lb, i, XDP_REDIRECT, &to_be,
				 XLB_STAT_FRAG_FOLLOW, XLB_STAT_FWD_REDIRECT, XLB_STAT_RX);
	bad += !run_frag("first fragment to external IP 198.51.100.7:53: DNAT + SNAT", ON_CLI,
			 &ext, 0, XDP_REDIRECT, &to_be, XLB_STAT_CT_NEW, XLB_STAT_SNAT_NEW,
			 XLB_STAT_FWD_REDIRECT);
	for (int i = 1; i < 3; i++)
		bad += !run_frag("a later fragment: the same", ON_CLI, &ext, i, XDP_REDIRECT,
				 &to_be, XLB_STAT_FRAG_FOLLOW, XLB_STAT_FWD_REDIRECT, XLB_STAT_RX);
	if (bad)
		fail_msg("%d steps failed", bad);
}

/* A later fragment before its first: to the stack untouched (its datagram
 * is lost), counted when the first fragment arrives; the fragments after
 * the first are translated. */
static void test_before_first(void **state)
{
	const struct pkt_desc c3 = { FROM_C(NODE, 0x103, 61234, 30053) };
	const struct xt_rewrite to_be = TO_BE(NODE, BE_REMOTE, 5353);
	const struct xt_rewrite same = { 0 };
	int bad = 0;

	(void)state;
	bad += !run_frag("last fragment before the first: XDP_PASS untouched", ON_CLI, &c3, 2,
			 XDP_PASS, &same, XLB_STAT_PASS_FRAGMENT, XLB_STAT_RX, XLB_STAT_RX);
	bad += !run_frag("then the first fragment: translated, one fragment counted as come "
			 "before it", ON_CLI, &c3, 0, XDP_REDIRECT, &to_be, XLB_STAT_CT_HIT,
			 XLB_STAT_FWD_REDIRECT, XLB_STAT_FRAG_BEFORE_FIRST);
	bad += !run_frag("then the middle one: translated", ON_CLI, &c3, 1, XDP_REDIRECT, &to_be,
			 XLB_STAT_FRAG_FOLLOW, XLB_STAT_FWD_REDIRECT, XLB_STAT_RX);
	if (bad)
		fail_msg("%d steps failed", bad);
}

/* A ClusterIP reached from outside: DNAT only; the later fragments find
 * the flow in the first-packet table under the backend the service's
 * table gives. */
static void test_dnat(void **state)
{
	const struct pkt_desc c = { FROM_C(VIP, 0x111, 50000, 53) };
	const struct xt_rewrite to_be = TO_BE(NULL, BE_UNKNOWN, 5353);
	int bad = 0;

	(void)state;
	bad += !run_frag("first fragment to 10.96.0.31:53: DNAT to 10.20.3.2:5353", ON_CLI, &c, 0,
			 XDP_REDIRECT, &to_be, XLB_STAT_CT_NEW, XLB_STAT_FWD_REDIRECT, XLB_STAT_RX);
	bad += !run_frag("second fragment: the same", ON_CLI, &c, 1, XDP_REDIRECT, &to_be,
			 XLB_STAT_FRAG_FOLLOW, XLB_STAT_FWD_REDIRECT, XLB_STAT_RX);
	bad += !run_frag("last fragment: the same", ON_CLI, &c, 2, XDP_REDIRECT, &to_be,
			 XLB_STAT_FRAG_FOLLOW, XLB_STAT_FWD_REDIRECT, XLB_STAT_RX);
	if (bad)
		fail_msg("%d steps failed", bad);
}

/* A service without endpoints answers the first fragment (ICMP port
 * unreachable); the later ones are dropped, not left to the stack. */
static void test_answered(void **state)
{
	const struct pkt_desc c = { FROM_C(VIP_EMPTY, 0x121, 50001, 53) };
	uint8_t in[PKT_MAX];
	size_t len;
	int bad = 0;

	(void)state;
	len = frag(&c, NULL, 0, in);
	bad += !run("first fragment to 10.96.0.32:53 (no endpoints): ICMP port unreachable", ON_CLI,
		    in, len, XDP_REDIRECT, NULL, 0, XLB_STAT_NO_BACKEND, XLB_STAT_ICMP_SENT,
		    XLB_STAT_RX);
	len = frag(&c, NULL, 1, in);
	bad += !run("its second fragment: dropped", ON_CLI, in, len, XDP_DROP, in, len,
		    XLB_STAT_DROP_FRAGMENT, XLB_STAT_RX, XLB_STAT_RX);
	if (bad)
		fail_msg("%d steps failed", bad);
}

/* Fragment i of d cut at 1,200 bytes of data (1,240 with the outer header
 * on the way out: under be0's MTU), as it arrives; with ipip_src, as the
 * front node sends it: whole inside IPIP from ipip_src to the backend,
 * out of be0 to its neighbour. */
static size_t dsr_frag(const struct pkt_desc *d, int i, const char *ipip_src, uint8_t *buf)
{
	static const uint8_t mac_be0[6] = MAC_BE0, mac_neigh[6] = MAC_NEIGH;

	return xt_ipip_fragment(d, NULL, i, 1200, mac_be0, mac_neigh, ipip_src, BE_REMOTE, buf);
}

/* The conntrack entries of ct4 (both directions) in all. */
static unsigned ct4_entries(void)
{
	int fd = xlb_dp_bpf_map_fd(dp, "ct4");
	struct xlb_ct4_key k, *prev = NULL;
	unsigned n = 0;

	while (fd >= 0 && !bpf_map_get_next_key(fd, prev, &k)) {
		prev = &k;
		n++;
	}
	return n;
}

/* A node port in DSR mode (lib/dsr.h): every fragment of the client's
 * datagrams goes whole inside IPIP to the backend, the later ones by their
 * first fragment's flow: the first-packet table for the first datagram
 * (from the node port's address, as its first fragment), the established
 * flow for the next (from the node's SNAT address, as any of its packets).
 * The flow's replies never come this way: established, it holds one ct4
 * entry, no reply entry. */
static void test_dsr(void **state)
{
	const struct pkt_desc c1 = { FROM_C(NODE, 0x141, 50002, 30055) };
	const struct pkt_desc c2 = { FROM_C(NODE, 0x142, 50002, 30055) };
	const struct { const struct pkt_desc *d; int i; const char *what;
		       enum xlb_stat s1, s2; } steps[] = {
		{ &c1, 0, "first fragment to DSR node port 30055: IPIP from 10.10.1.1 to 10.20.1.2",
		  XLB_STAT_CT_NEW, XLB_STAT_FWD_DSR },
		{ &c1, 1, "its second fragment (no ports): the same, by the first-packet table",
		  XLB_STAT_FRAG_FOLLOW, XLB_STAT_FWD_DSR },
		{ &c1, 2, "its last fragment: the same", XLB_STAT_FRAG_FOLLOW, XLB_STAT_FWD_DSR },
		{ &c2, 0, "the next datagram's first fragment: established (DSR: any packet "
		  "proves it), IPIP", XLB_STAT_CT_ESTABLISHED, XLB_STAT_FWD_DSR },
		{ &c2, 2, "its last fragment: by the established flow, IPIP",
		  XLB_STAT_FRAG_FOLLOW, XLB_STAT_FWD_DSR },
		{ &c2, 1, "its middle fragment, after the last: the same",
		  XLB_STAT_FRAG_FOLLOW, XLB_STAT_FWD_DSR },
	};
	unsigned n0 = ct4_entries();
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		uint8_t in[PKT_MAX], exp[PKT_MAX];
		size_t len = dsr_frag(steps[i].d, steps[i].i, NULL, in);
		size_t elen = dsr_frag(steps[i].d, steps[i].i, NODE, exp);

		bad += !run(steps[i].what, ON_CLI, in, len, XDP_REDIRECT, exp, elen, steps[i].s1,
			    steps[i].s2, XLB_STAT_RX);
	}
	if (ct4_entries() != n0 + 1)
		fail_msg("ct4: %u entries, was %u: a DSR flow holds its forward entry only",
			 ct4_entries(), n0);
	if (bad)
		fail_msg("%d steps failed", bad);
}

/* A TCP segment of 3,000 bytes cut in three (DF clear: a sender without
 * path MTU discovery), both ways through a node port with SNAT, as a UDP
 * datagram goes: the first fragment holds the TCP header (its checksum,
 * the whole segment's, updated; the flow's state follows its flags), the
 * later ones follow by its ports. A first fragment too short for its TCP
 * header (RFC 1858) is dropped, never sent on half translated. */
static void test_tcp(void **state)
{
	const struct pkt_desc syn = { .eth_dst = MAC_CLI0, .eth_src = MAC_CLIENT, .saddr = CLIENT,
				      .daddr = NODE, .ip_id = 0x161, .ttl = 61, .frag = PKT_IP_DF,
				      .proto = IPPROTO_TCP, .sport = 61600, .dport = 30080,
				      .tcp_flags = PKT_SYN, .seq = 1000, .window = 502 };
	struct pkt_desc synack = { .eth_dst = MAC_BE0, .eth_src = MAC_NEIGH, .saddr = BE_REMOTE,
				   .daddr = NODE, .ip_id = 0x261, .ttl = 64, .frag = PKT_IP_DF,
				   .proto = IPPROTO_TCP, .sport = 8080, .dport = 61600,
				   .tcp_flags = PKT_SYN | PKT_ACK, .seq = 5000, .ack = 1001,
				   .window = 502 };
	struct pkt_desc ack = syn, seg = syn, rseg = synack, tiny = syn;
	const struct xt_rewrite to_be = TO_BE(NODE, BE_REMOTE, 8080);
	struct xt_rewrite rep = TO_CLIENT(NODE, 30080);
	struct xt_step s = { .pkt = syn, .out = to_be };
	uint8_t in[PKT_MAX], exp[PKT_MAX];
	size_t len, elen;
	int bad = 0;

	(void)state;
	rep.daddr = CLIENT;
	rep.dport = 61600;
	len = xt_build(&syn, in);
	elen = xt_build_expected(&s, exp);
	bad += !run("SYN to node port 30080: DNAT + SNAT", ON_CLI, in, len, XDP_REDIRECT, exp, elen,
		    XLB_STAT_CT_NEW, XLB_STAT_SNAT_NEW, XLB_STAT_FWD_REDIRECT);
	s.pkt = synack;
	s.out = rep;
	len = xt_build(&synack, in);
	elen = xt_build_expected(&s, exp);
	bad += !run("the backend's SYN-ACK: back to the client", ON_BE, in, len, XDP_REDIRECT, exp,
		    elen, XLB_STAT_SNAT_REPLY, XLB_STAT_FWD_REDIRECT, XLB_STAT_RX);
	ack.ip_id = 0x162;
	ack.tcp_flags = PKT_ACK;
	ack.seq = 1001;
	ack.ack = 5001;
	s.pkt = ack;
	s.out = to_be;
	len = xt_build(&ack, in);
	elen = xt_build_expected(&s, exp);
	bad += !run("the client's ACK: established", ON_CLI, in, len, XDP_REDIRECT, exp, elen,
		    XLB_STAT_CT_ESTABLISHED, XLB_STAT_FWD_REDIRECT, XLB_STAT_RX);
	seg = ack;
	seg.ip_id = 0x163;
	seg.frag = 0;
	seg.tcp_flags = PKT_ACK | PKT_PSH;
	seg.payload_len = PAYLOAD - 20;
	bad += !run_frag("a 3,000-byte segment's first fragment (the TCP header): DNAT + SNAT, the "
			 "segment's checksum updated", ON_CLI, &seg, 0, XDP_REDIRECT, &to_be,
			 XLB_STAT_CT_HIT, XLB_STAT_FWD_REDIRECT, XLB_STAT_RX);
	for (int i = 1; i < 3; i++)
		bad += !run_frag("a later fragment of it: the same addresses", ON_CLI, &seg, i,
				 XDP_REDIRECT, &to_be, XLB_STAT_FRAG_FOLLOW, XLB_STAT_FWD_REDIRECT,
				 XLB_STAT_RX);
	rseg.ip_id = 0x262;
	rseg.frag = 0;
	rseg.tcp_flags = PKT_ACK | PKT_PSH;
	rseg.seq = 5001;
	rseg.ack = 1001 + PAYLOAD - 20;
	rseg.payload_len = PAYLOAD - 20;
	bad += !run_frag("the backend's 3,000-byte answer, first fragment: back to the client",
			 ON_BE, &rseg, 0, XDP_REDIRECT, &rep, XLB_STAT_CT_HIT, XLB_STAT_SNAT_REPLY,
			 XLB_STAT_FWD_REDIRECT);
	for (int i = 2; i > 0; i--)
		bad += !run_frag("a later fragment of it (last, then middle): the same", ON_BE, &rseg,
				 i, XDP_REDIRECT, &rep, XLB_STAT_FRAG_FOLLOW, XLB_STAT_FWD_REDIRECT,
				 XLB_STAT_RX);
	/* 8 bytes of TCP header in the first fragment: ports, no flags */
	tiny.ip_id = 0x164;
	tiny.frag = PKT_IP_MF;
	tiny.tcp_flags = PKT_ACK;
	tiny.cut = ETH_HDR_LEN + IP4_HDR_LEN + 8;
	tiny.tot_len_delta = -12;
	len = xt_build(&tiny, in);
	bad += !run("a first fragment with 8 bytes of its TCP header: dropped as malformed", ON_CLI,
		    in, len, XDP_DROP, in, len, XLB_STAT_DROP_MALFORMED, XLB_STAT_RX, XLB_STAT_RX);
	if (bad)
		fail_msg("%d steps failed", bad);
}

/* ICMP fragmentation needed as xlb writes it (tos 0xc0, id 0) from the
 * address q was sent to, back to its sender, quoting its IPv4 header and 8
 * bytes (RFC 1191, 792). */
static size_t frag_needed(const struct pkt_desc *q, uint16_t mtu, uint8_t *buf)
{
	static const uint8_t mac_cli0[6] = MAC_CLI0;

	return xt_icmp_error(mac_client, mac_cli0, q->daddr, q->saddr, 0xc0, 0, 3, 4, mtu, q,
			     IP4_HDR_LEN + 8, buf);
}

/* Path MTU: a translated frame too big for be0 (MTU 1500). With DF, the
 * client is told the MTU about the packet it sent; without, a source-NATed
 * frame is dropped (the stack may not send the node's own address on). */
static void test_path_mtu(void **state)
{
	const struct pkt_desc syn = { .eth_dst = MAC_CLI0, .eth_src = MAC_CLIENT, .saddr = CLIENT,
				      .daddr = NODE, .ip_id = 0x131, .ttl = 61, .frag = PKT_IP_DF,
				      .proto = IPPROTO_TCP, .sport = 61300, .dport = 30080,
				      .tcp_flags = PKT_SYN, .seq = 1000, .window = 502 };
	struct pkt_desc big = syn, udp = { FROM_C(NODE, 0x132, 61400, 30053) };
	const struct xt_rewrite to_be = TO_BE(NODE, BE_REMOTE, 8080);
	struct xt_step s = { .pkt = syn, .out = to_be };
	uint8_t in[PKT_MAX], exp[PKT_MAX];
	size_t len, elen;
	int bad = 0;

	(void)state;
	len = xt_build(&syn, in);
	elen = xt_build_expected(&s, exp);
	bad += !run("SYN to node port 30080: DNAT + SNAT, out of be0", ON_CLI, in, len,
		    XDP_REDIRECT, exp, elen, XLB_STAT_CT_NEW, XLB_STAT_SNAT_NEW,
		    XLB_STAT_FWD_REDIRECT);
	big.ip_id = 0x133;
	big.tcp_flags = PKT_ACK | PKT_PSH;
	big.seq = 1001;
	big.payload_len = 2000 - 40;
	len = xt_build(&big, in);
	elen = frag_needed(&big, 1500, exp);
	bad += !run("a 2,000-byte segment with DF: ICMP fragmentation needed, MTU 1500, from "
		    "10.10.1.1 about the segment as the client sent it", ON_CLI, in, len,
		    XDP_REDIRECT, exp, elen, XLB_STAT_ICMP_FRAG_SENT, XLB_STAT_RX, XLB_STAT_RX);
	udp.payload_len = 2000 - 28;
	udp.frag = PKT_IP_DF;
	len = xt_build(&udp, in);
	elen = frag_needed(&udp, 1500, exp);
	bad += !run("a 2,000-byte UDP datagram with DF to node port 30053 (a new flow: SNAT): "
		    "ICMP fragmentation needed quoting it as sent, its UDP checksum too", ON_CLI, in,
		    len, XDP_REDIRECT, exp, elen, XLB_STAT_CT_NEW, XLB_STAT_SNAT_NEW,
		    XLB_STAT_ICMP_FRAG_SENT);
	udp.frag = 0;
	udp.sport = 61401;
	len = xt_build(&udp, in);
	bad += !run("a 2,000-byte UDP datagram without DF to node port 30053: dropped, "
		    "drop_snat_too_big", ON_CLI, in, len, XDP_DROP, NULL, 0, XLB_STAT_CT_NEW,
		    XLB_STAT_SNAT_NEW, XLB_STAT_DROP_SNAT_TOO_BIG);
	if (bad)
		fail_msg("%d steps failed", bad);
}

/* A TCP segment of the client to node port dport with len bytes of IPv4
 * (DF unless df is false). */
static struct pkt_desc seg(uint16_t sport, uint16_t dport, uint16_t id, uint8_t flags,
			   size_t len, bool df)
{
	const struct pkt_desc d = { .eth_dst = MAC_CLI0, .eth_src = MAC_CLIENT, .saddr = CLIENT,
				    .daddr = NODE, .ip_id = id, .ttl = 61,
				    .frag = df ? PKT_IP_DF : 0, .proto = IPPROTO_TCP,
				    .sport = sport, .dport = dport, .tcp_flags = flags,
				    .seq = 1000 + (flags & PKT_SYN ? 0 : 1), .window = 502,
				    .payload_len = len - 40 };

	return d;
}

/* d in on cli0, d rewritten by out expected. */
static bool run_out(const char *what, const struct pkt_desc *d, const struct xt_rewrite *out,
		    uint32_t verdict, enum xlb_stat s1, enum xlb_stat s2, enum xlb_stat s3)
{
	struct xt_step s = { .pkt = *d, .out = *out };
	uint8_t in[PKT_MAX], exp[PKT_MAX];
	size_t len = xt_build(d, in), elen = xt_build_expected(&s, exp);

	return run(what, ON_CLI, in, len, verdict, exp, elen, s1, s2, s3);
}

/* d in on cli0, answered with fragmentation needed and mtu. */
static bool run_icmp(const char *what, const struct pkt_desc *d, uint16_t mtu,
		     enum xlb_stat s1, enum xlb_stat s2)
{
	uint8_t in[PKT_MAX], exp[PKT_MAX];
	size_t len = xt_build(d, in), elen = frag_needed(d, mtu, exp);

	return run(what, ON_CLI, in, len, XDP_REDIRECT, exp, elen, s1, s2,
		   XLB_STAT_ICMP_FRAG_SENT);
}

/* The way out's MTU is the route's or the interface's, learnt with the
 * next hop (bpf_fib_lookup's mtu_result), not standard Ethernet's: a DF
 * frame of up to 1,514 bytes that does not fit it is answered with that
 * MTU; one that fits leaves; without DF a source-NATed frame is dropped
 * and a DNATed one left to the stack, which fragments it. */
static void test_route_mtu(void **state)
{
	const struct xt_rewrite to_small = TO_BE(NODE, BE_SMALL, 8080);
	const struct xt_rewrite to_tun = { .saddr = NODE, .daddr = BE_TUN, .dport = 8080,
					   .eth = true, .eth_src = MAC_TUN0,
					   .eth_dst = MAC_TUN_GW };
	const struct xt_rewrite nat = { .saddr = NODE, .daddr = BE_SMALL, .dport = 8080 };
	const struct xt_rewrite dnat = { .daddr = BE_SMALL, .dport = 5353 };
	const struct xt_rewrite to_small_u = TO_BE(NULL, BE_SMALL, 5353);
	const struct xt_rewrite snat_u = { .saddr = NODE, .daddr = BE_SMALL, .dport = 5353 };
	const struct pkt_desc vf = { FROM_C(VIP_SMALL, 0x172, 61331, 53) };
	const struct pkt_desc nf = { FROM_C(NODE, 0x173, 61332, 30059) };
	struct pkt_desc d, u = { FROM_C(VIP_SMALL, 0x171, 61330, 53) };
	int bad = 0;

	(void)state;
	d = seg(61320, 30057, 0x161, PKT_SYN, 40, true);
	bad += !run_out("SYN to node port 30057, backend 10.20.5.2 by a route of MTU 1400: DNAT + "
			"SNAT, out of be0", &d, &to_small, XDP_REDIRECT, XLB_STAT_CT_NEW,
			XLB_STAT_SNAT_NEW, XLB_STAT_FWD_REDIRECT);
	d = seg(61320, 30057, 0x162, PKT_ACK | PKT_PSH, 1400, true);
	bad += !run_out("a 1,400-byte segment with DF: fits the route, out of be0", &d, &to_small,
			XDP_REDIRECT, XLB_STAT_FWD_REDIRECT, XLB_STAT_RX, XLB_STAT_RX);
	d = seg(61320, 30057, 0x163, PKT_ACK | PKT_PSH, 1401, true);
	bad += !run_icmp("a 1,401-byte one with DF: ICMP fragmentation needed, MTU 1400, from "
			 "10.10.1.1 about the segment as the client sent it", &d, 1400,
			 XLB_STAT_RX, XLB_STAT_RX);
	d = seg(61320, 30057, 0x164, PKT_ACK | PKT_PSH, 1500, true);
	bad += !run_icmp("a 1,500-byte one with DF (a standard Ethernet frame): the same", &d,
			 1400, XLB_STAT_RX, XLB_STAT_RX);
	d = seg(61320, 30057, 0x165, PKT_ACK | PKT_PSH, 1500, false);
	bad += !run_out("the same without DF: dropped translated, drop_snat_too_big (the stack "
			"may not send the node's address on)", &d, &nat, XDP_DROP,
			XLB_STAT_DROP_SNAT_TOO_BIG, XLB_STAT_RX, XLB_STAT_RX);
	u.payload_len = 1500 - 28;
	bad += !run_out("a 1,500-byte UDP datagram without DF to 10.96.0.37:53 (DNAT only, to "
			"10.20.5.2): to the stack DNATed (pass_too_big), which fragments it", &u,
			&dnat, XDP_PASS, XLB_STAT_CT_NEW, XLB_STAT_PASS_TOO_BIG, XLB_STAT_RX);
	u.frag = PKT_IP_DF;
	bad += !run_icmp("the same with DF: fragmentation needed, MTU 1400, from 10.96.0.37",
			 &u, 1400, XLB_STAT_RX, XLB_STAT_RX);
	bad += !run_frag("a datagram of 3,000 bytes to 10.96.0.37:53 in fragments of 1,500 bytes: the "
			 "first to the stack DNATed, which fragments it for the route",
			 ON_CLI, &vf, 0, XDP_PASS, &dnat, XLB_STAT_CT_NEW, XLB_STAT_PASS_TOO_BIG,
			 XLB_STAT_RX);
	bad += !run_frag("its second (1,500 bytes, no ports): the same way, translated",
			 ON_CLI, &vf, 1, XDP_PASS, &dnat, XLB_STAT_FRAG_FOLLOW,
			 XLB_STAT_PASS_FRAGMENT, XLB_STAT_RX);
	bad += !run_frag("its last (68 bytes): fits, out of be0", ON_CLI, &vf, 2, XDP_REDIRECT,
			 &to_small_u, XLB_STAT_FRAG_FOLLOW, XLB_STAT_FWD_REDIRECT, XLB_STAT_RX);
	bad += !run_frag("the same to node port 30059 (SNAT to 10.20.5.2): the first fragment "
			 "dropped, drop_snat_too_big", ON_CLI, &nf, 0, XDP_DROP, &snat_u,
			 XLB_STAT_CT_NEW, XLB_STAT_SNAT_NEW, XLB_STAT_DROP_SNAT_TOO_BIG);
	bad += !run_frag("its second: dropped too (drop_fragment), never sent whole over the route",
			 ON_CLI, &nf, 1, XDP_DROP, &snat_u, XLB_STAT_FRAG_FOLLOW,
			 XLB_STAT_DROP_FRAGMENT, XLB_STAT_RX);
	d = seg(61321, 30058, 0x181, PKT_SYN, 40, true);
	bad += !run_out("SYN to node port 30058, backend 10.30.1.2 through tun0 (MTU 1380): out "
			"of tun0 to its gateway", &d, &to_tun, XDP_REDIRECT, XLB_STAT_CT_NEW,
			XLB_STAT_SNAT_NEW, XLB_STAT_FWD_REDIRECT);
	d = seg(61321, 30058, 0x182, PKT_ACK | PKT_PSH, 1380, true);
	bad += !run_out("a 1,380-byte segment with DF: out of tun0", &d, &to_tun, XDP_REDIRECT,
			XLB_STAT_FWD_REDIRECT, XLB_STAT_RX, XLB_STAT_RX);
	d = seg(61321, 30058, 0x183, PKT_ACK | PKT_PSH, 1500, true);
	bad += !run_icmp("a 1,500-byte one with DF: fragmentation needed, MTU 1380", &d, 1380,
			 XLB_STAT_RX, XLB_STAT_RX);
	if (bad)
		fail_msg("%d steps failed", bad);
}

static int group_setup(void **state)
{
	static const char *const be_cmds[] = {
		"ip addr add 10.20.0.1/16 dev be0",
		"ip neigh replace 10.20.1.2 lladdr 02:00:00:00:20:02 dev be0 nud permanent",
		"ip neigh replace 10.20.3.2 lladdr 02:00:00:00:20:02 dev be0 nud permanent",
		"ip route add 10.20.5.0/24 dev be0 mtu lock 1400",
		"ip neigh replace 10.20.5.2 lladdr 02:00:00:00:20:02 dev be0 nud permanent",
		"ip link add tun0 mtu 1380 address 02:00:00:00:00:d0 type veth peer name tun1",
		"ip link set tun0 up",
		"ip link set tun1 up",
		"ip addr add 10.30.0.1/24 dev tun0",
		"ip neigh replace 10.30.0.2 lladdr 02:00:00:00:30:02 dev tun0 nud permanent",
		"ip route add 10.30.1.0/24 via 10.30.0.2 dev tun0",
	};
	struct xlb_service_spec small = xt_svc("10.96.0.38", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_service_spec tun = xt_svc("10.96.0.39", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_service_spec vsmall = xt_svc(VIP_SMALL, 53, IPPROTO_UDP, XLB_ALGO_RR);
	struct xlb_backend_spec bsmall = xt_be(BE_SMALL, 8080, 1);
	struct xlb_backend_spec btun = xt_be(BE_TUN, 8080, 1);
	struct xlb_service_spec unp = xt_svc("10.96.0.40", 53, IPPROTO_UDP, XLB_ALGO_RR);
	struct xlb_backend_spec usmall = xt_be(BE_SMALL, 5353, 1);
	struct xlb_backend_spec ursmall = xt_be(BE_SMALL, 5353, 1);
	struct xlb_service_spec np = xt_svc("10.96.0.30", 53, IPPROTO_UDP, XLB_ALGO_RR);
	struct xlb_service_spec tnp = xt_svc("10.96.0.33", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_service_spec cip = xt_svc(VIP, 53, IPPROTO_UDP, XLB_ALGO_RR);
	struct xlb_service_spec empty = xt_svc(VIP_EMPTY, 53, IPPROTO_UDP, XLB_ALGO_RR);
	struct xlb_service_spec dsr = xt_svc("10.96.0.34", 53, IPPROTO_UDP, XLB_ALGO_RR);
	struct xlb_service_spec lb = xt_svc("10.96.0.35", 53, IPPROTO_UDP, XLB_ALGO_RR);
	struct xlb_svc_addrs lb_a = {};
	struct xlb_backend_spec remote = xt_be(BE_REMOTE, 5353, 1);
	struct xlb_backend_spec tremote = xt_be(BE_REMOTE, 8080, 1);
	struct xlb_backend_spec unknown = xt_be(BE_UNKNOWN, 5353, 1);
	struct xlb_ip node = xt_ip(NODE);
	char err[256] = "";
	int ret;

	(void)state;
	if (xt_two_links(be_cmds, sizeof(be_cmds) / sizeof(be_cmds[0]), &if_cli, &if_be))
		return -1;
	remote.remote = true;
	tremote.remote = true;
	bsmall.remote = btun.remote = ursmall.remote = true;
	unp.type = XLB_SVC_NODE_PORT;
	unp.node_port = 30059;
	np.type = tnp.type = dsr.type = small.type = tun.type = XLB_SVC_NODE_PORT;
	small.node_port = 30057;
	tun.node_port = 30058;
	dsr.node_port = 30055;
	dsr.lb_mode = XLB_LB_MODE_DSR;
	lb.type = XLB_SVC_LOAD_BALANCER;
	lb.node_port = 30056;
	lb.addrs = &lb_a;
	lb_a.lb_ips[lb.n_lb_ips++] = xt_ip("203.0.113.10");
	lb_a.external_ips[lb.n_external_ips++] = xt_ip("198.51.100.7");
	np.node_port = 30053;
	tnp.node_port = 30080;
	dp = xt_dp_open();
	if (!dp)
		return -1;
	if ((ret = xlb_dp_service_set(dp, &np, &remote, 1, err, sizeof(err))) ||
	    (ret = xlb_dp_service_set(dp, &tnp, &tremote, 1, err, sizeof(err))) ||
	    (ret = xlb_dp_service_set(dp, &cip, &unknown, 1, err, sizeof(err))) ||
	    (ret = xlb_dp_service_set(dp, &empty, NULL, 0, err, sizeof(err))) ||
	    (ret = xlb_dp_service_set(dp, &dsr, &remote, 1, err, sizeof(err))) ||
	    (ret = xlb_dp_service_set(dp, &lb, &remote, 1, err, sizeof(err))) ||
	    (ret = xlb_dp_service_set(dp, &small, &bsmall, 1, err, sizeof(err))) ||
	    (ret = xlb_dp_service_set(dp, &tun, &btun, 1, err, sizeof(err))) ||
	    (ret = xlb_dp_service_set(dp, &vsmall, &usmall, 1, err, sizeof(err))) ||
	    (ret = xlb_dp_service_set(dp, &unp, &ursmall, 1, err, sizeof(err))) ||
	    (ret = xlb_dp_node_addr_add(dp, &node))) {
		print_error("setup: %s (%d)\n", err, ret);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	xlb_dp_close(dp);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snat_node_port),
		cmocka_unit_test(test_lb_ext_ip),
		cmocka_unit_test(test_before_first),
		cmocka_unit_test(test_dnat),
		cmocka_unit_test(test_answered),
		cmocka_unit_test(test_dsr),
		cmocka_unit_test(test_tcp),
		cmocka_unit_test(test_path_mtu),
		cmocka_unit_test(test_route_mtu),
	};

	xt_init();
	return cmocka_run_group_tests_name("frag: IP fragments and path MTU in XDP", tests,
					   group_setup, group_teardown);
}
