// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ICMP errors about translated flows, translated like the flow they quote
 * (bpf/lib/icmp.h), byte-exact: the expected error quotes a packet built
 * from scratch with the translated addresses and ports, so the quoted IP
 * and TCP checksums and the error's own must all come out right. In
 * test_redirect's topology (next hops known):
 *
 *   client side:  cli0 10.10.1.1/24 (the node address), a router 10.10.1.254
 *   backend side: be0 10.20.0.1/16, a router 10.20.0.254; backend 10.20.1.2
 *                 on another node (SNAT) and 10.20.3.2 (node unknown: DNAT)
 *
 * Flows: 10.10.1.2:61234 -> node port 10.10.1.1:30080 -> 10.20.1.2:8080
 * from 10.10.1.1:61234; 10.10.1.2:40000 -> 10.96.0.21:80 -> 10.20.3.2:8080.
 */
#include "flow.h"
#include "twolinks.h"

static struct xlb_dp *dp;
static uint32_t if_cli, if_be;

#define CLIENT		"10.10.1.2"
#define NODE		"10.10.1.1"
#define BE_REMOTE	"10.20.1.2"
#define BE_UNKNOWN	"10.20.3.2"
#define VIP		"10.96.0.21"
#define RTR_CLI		"10.10.1.254"
#define RTR_BE		"10.20.0.254"

#define MAC_CLI0	{ 0x02, 0x00, 0x00, 0x00, 0x00, 0xc0 }
#define MAC_BE0		{ 0x02, 0x00, 0x00, 0x00, 0x00, 0xb0 }
#define MAC_NEIGH	{ 0x02, 0x00, 0x00, 0x00, 0x20, 0x02 }

static const uint8_t mac_cli0[6] = MAC_CLI0, mac_be0[6] = MAC_BE0, mac_neigh[6] = MAC_NEIGH;

#define TCPH(sp, dp, fl, sq, ak) \
	.proto = IPPROTO_TCP, .sport = sp, .dport = dp, .tcp_flags = fl, .seq = sq, .ack = ak, \
	.window = 502
#define ISN_C		0x11223344u
#define ISN_B		0x55667788u

/* A packet of a flow, as it went on the wire (the quoted one). */
static struct pkt_desc tcp(const char *sa, uint16_t sp, const char *da, uint16_t dport,
			   uint8_t flags, uint32_t seq, uint32_t ack, uint16_t payload)
{
	struct pkt_desc d = { .saddr = sa, .daddr = da, .ip_id = 0x4242, .ttl = 63,
			      .frag = PKT_IP_DF, TCPH(sp, dport, flags, seq, ack),
			      .payload_len = payload };
	return d;
}

/* An ICMP error as a router sends it (tos 0, id 0x777), quoting the first
 * qlen bytes of q's IPv4 datagram (0: all of it). */
static size_t icmp_err(const uint8_t *dmac, const uint8_t *smac, const char *src,
		       const char *dst, uint8_t type, uint8_t code, uint16_t mtu,
		       const struct pkt_desc *q, size_t qlen, uint8_t *buf)
{
	return xt_icmp_error(dmac, smac, src, dst, 0, 0x777, type, code, mtu, q, qlen, buf);
}

static void step(const char *what, struct pkt_desc d, uint32_t ifindex, uint32_t verdict)
{
	struct xt_step s = { .what = what, .pkt = d, .ifindex = ifindex, .verdict = verdict };
	uint8_t in[PKT_MAX];
	struct xt_run r;
	size_t len = xt_build(&s.pkt, in);

	assert_int_equal(xt_run(dp, in, len, ifindex, &r), 0);
	if (r.verdict != verdict)
		fail_msg("%s: verdict %s", what, xt_verdict_name(r.verdict));
}

/* The two flows, established. */
static void flows(void)
{
	struct pkt_desc d;

	d = tcp(CLIENT, 61234, NODE, 30080, PKT_SYN, ISN_C, 0, 0);
	memcpy(d.eth_dst, mac_cli0, 6), memcpy(d.eth_src, mac_client, 6);
	step("SYN to the node port", d, if_cli, XDP_REDIRECT);
	d = tcp(BE_REMOTE, 8080, NODE, 61234, PKT_SYN | PKT_ACK, ISN_B, ISN_C + 1, 0);
	memcpy(d.eth_dst, mac_be0, 6), memcpy(d.eth_src, mac_neigh, 6);
	step("SYN-ACK to the SNAT port", d, if_be, XDP_REDIRECT);
	d = tcp(CLIENT, 61234, NODE, 30080, PKT_ACK, ISN_C + 1, ISN_B + 1, 0);
	memcpy(d.eth_dst, mac_cli0, 6), memcpy(d.eth_src, mac_client, 6);
	step("ACK to the node port", d, if_cli, XDP_REDIRECT);

	d = tcp(CLIENT, 40000, VIP, 80, PKT_SYN, ISN_C, 0, 0);
	memcpy(d.eth_dst, mac_cli0, 6), memcpy(d.eth_src, mac_client, 6);
	step("SYN to the ClusterIP", d, if_cli, XDP_REDIRECT);
	d = tcp(BE_UNKNOWN, 8080, CLIENT, 40000, PKT_SYN | PKT_ACK, ISN_B, ISN_C + 1, 0);
	memcpy(d.eth_dst, mac_be0, 6), memcpy(d.eth_src, mac_neigh, 6);
	step("SYN-ACK", d, if_be, XDP_REDIRECT);
	d = tcp(CLIENT, 40000, VIP, 80, PKT_ACK, ISN_C + 1, ISN_B + 1, 0);
	memcpy(d.eth_dst, mac_cli0, 6), memcpy(d.eth_src, mac_client, 6);
	step("ACK", d, if_cli, XDP_REDIRECT);
}

struct icmp_case {
	const char *desc;
	uint32_t ifindex;		/* if_cli or if_be, by ON_* */
	const uint8_t *dmac, *smac;	/* of the error as it arrives */
	const char *src, *dst;		/* of the error */
	uint8_t type, code;
	struct pkt_desc quoted;
	size_t qlen;			/* 0: all */
	uint32_t verdict;
	/* the error as it must leave */
	const uint8_t *out_dmac, *out_smac;
	const char *out_dst;
	struct pkt_desc out_quoted;
	enum xlb_stat stats[3];
};

#define ON_CLI 1
#define ON_BE 2

static const uint8_t mac_rtr[6] = { 0x02, 0x00, 0x00, 0x00, 0x09, 0x09 };

static void run_case(const struct icmp_case *c)
{
	uint8_t in[PKT_MAX], exp[PKT_MAX];
	struct xt_stats before, after;
	uint32_t ifx = c->ifindex == ON_CLI ? if_cli : if_be;
	struct xt_run r;
	size_t len, elen;
	bool ok;

	len = icmp_err(c->dmac, c->smac, c->src, c->dst, c->type, c->code, 1400, &c->quoted,
		       c->qlen, in);
	elen = icmp_err(c->out_dmac, c->out_smac, c->src, c->out_dst, c->type, c->code, 1400,
			&c->out_quoted, c->qlen, exp);
	before = xt_stats(dp);
	xt_run(dp, in, len, ifx, &r);
	after = xt_stats(dp);
	ok = xt_check(c->desc, &r, c->verdict, exp, elen);
	for (int i = 0; i < 3; i++)
		if (xt_delta(&after, &before, c->stats[i]) != 1) {
			print_error("%s moved by %llu\n", xlb_stat_name(c->stats[i]),
				    (unsigned long long)xt_delta(&after, &before, c->stats[i]));
			ok = false;
		}
	if (!ok)
		fail_msg("%s", c->desc);
}

static void test_icmp(void **state)
{
	struct pkt_desc fwd_snat = tcp(NODE, 61234, BE_REMOTE, 8080, PKT_ACK | PKT_PSH, ISN_C + 1,
				       ISN_B + 1, 1400);
	struct pkt_desc fwd_orig = tcp(CLIENT, 61234, NODE, 30080, PKT_ACK | PKT_PSH, ISN_C + 1,
				       ISN_B + 1, 1400);
	struct pkt_desc rep_out = tcp(NODE, 30080, CLIENT, 61234, PKT_ACK | PKT_PSH, ISN_B + 1,
				      ISN_C + 1, 1400);
	struct pkt_desc rep_be = tcp(BE_REMOTE, 8080, NODE, 61234, PKT_ACK | PKT_PSH, ISN_B + 1,
				     ISN_C + 1, 1400);
	struct pkt_desc cip_fwd = tcp(CLIENT, 40000, BE_UNKNOWN, 8080, PKT_ACK, ISN_C + 1,
				      ISN_B + 1, 1000);
	struct pkt_desc cip_orig = tcp(CLIENT, 40000, VIP, 80, PKT_ACK, ISN_C + 1, ISN_B + 1, 1000);
	struct pkt_desc cip_rep = tcp(VIP, 80, CLIENT, 40000, PKT_ACK, ISN_B + 1, ISN_C + 1, 1000);
	struct pkt_desc cip_rep_be = tcp(BE_UNKNOWN, 8080, CLIENT, 40000, PKT_ACK, ISN_B + 1,
					 ISN_C + 1, 1000);
	const struct icmp_case cases[] = {
		{ "fragmentation needed from the backend side about node 10.10.1.1:61234 -> "
		  "10.20.1.2:8080 (SNAT): to the client about its 10.10.1.2:61234 -> 10.10.1.1:30080",
		  ON_BE, mac_be0, mac_rtr, RTR_BE, NODE, 3, 4, fwd_snat, 0, XDP_REDIRECT,
		  mac_client, mac_cli0, CLIENT, fwd_orig,
		  { XLB_STAT_ICMP_XLATE, XLB_STAT_FWD_REDIRECT } },
		{ "the same quoting only 28 bytes (no TCP checksum): addresses and ports translated",
		  ON_BE, mac_be0, mac_rtr, RTR_BE, NODE, 3, 4, fwd_snat, 28, XDP_REDIRECT,
		  mac_client, mac_cli0, CLIENT, fwd_orig,
		  { XLB_STAT_ICMP_XLATE, XLB_STAT_FWD_REDIRECT } },
		{ "fragmentation needed from the client side about a reply 10.10.1.1:30080 -> "
		  "10.10.1.2:61234: to the backend about its 10.20.1.2:8080 -> 10.10.1.1:61234",
		  ON_CLI, mac_cli0, mac_rtr, RTR_CLI, NODE, 3, 4, rep_out, 0, XDP_REDIRECT,
		  mac_neigh, mac_be0, BE_REMOTE, rep_be,
		  { XLB_STAT_ICMP_XLATE, XLB_STAT_FWD_REDIRECT } },
		{ "time exceeded from the backend side about 10.10.1.2:40000 -> 10.20.3.2:8080 "
		  "(ClusterIP, DNAT): to the client about its packet to 10.96.0.21:80",
		  ON_BE, mac_be0, mac_rtr, RTR_BE, CLIENT, 11, 0, cip_fwd, 0, XDP_REDIRECT,
		  mac_client, mac_cli0, CLIENT, cip_orig,
		  { XLB_STAT_ICMP_XLATE, XLB_STAT_FWD_REDIRECT } },
		{ "host unreachable from the client side about a reply 10.96.0.21:80 -> "
		  "10.10.1.2:40000: to the backend, about its 10.20.3.2:8080 -> 10.10.1.2:40000",
		  ON_CLI, mac_cli0, mac_rtr, RTR_CLI, VIP, 3, 1, cip_rep, 0, XDP_REDIRECT,
		  mac_neigh, mac_be0, BE_UNKNOWN, cip_rep_be,
		  { XLB_STAT_ICMP_XLATE, XLB_STAT_FWD_REDIRECT } },
		{ "an error about a flow nobody translates: untouched, to the stack",
		  ON_CLI, mac_cli0, mac_rtr, RTR_CLI, NODE, 3, 3,
		  tcp(NODE, 45000, "10.10.1.77", 22, PKT_ACK, 1, 1, 0), 0, XDP_PASS,
		  mac_cli0, mac_rtr, NODE, tcp(NODE, 45000, "10.10.1.77", 22, PKT_ACK, 1, 1, 0),
		  { XLB_STAT_PASS_NOT_SERVICE } },
	};

	flows();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("  %s\n", cases[i].desc);
		run_case(&cases[i]);
	}
}

static int group_setup(void **state)
{
	struct xlb_service_spec np = xt_svc("10.96.0.20", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_service_spec cip = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec remote = xt_be(BE_REMOTE, 8080, 1), unknown = xt_be(BE_UNKNOWN, 8080, 1);
	struct xlb_ip node = xt_ip(NODE);
	char err[256] = "";

	if (xt_two_links_icmp(&if_cli, &if_be))
		return -1;
	remote.remote = true;
	np.type = XLB_SVC_NODE_PORT;
	np.node_port = 30080;
	dp = xt_dp_open();
	if (!dp || xlb_dp_service_set(dp, &np, &remote, 1, err, sizeof(err)) ||
	    xlb_dp_service_set(dp, &cip, &unknown, 1, err, sizeof(err)) ||
	    xlb_dp_node_addr_add(dp, &node)) {
		print_error("setup: %s\n", err);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	xlb_dp_close(dp);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_icmp),
	};

	xt_init();
	return cmocka_run_group_tests_name("icmp: errors about translated flows", tests,
					   group_setup, group_teardown);
}
