// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Forwarding with a known next hop. The test's own network namespace gets
 * two veth pairs, a route to the backends and permanent neighbour entries,
 * so bpf_fib_lookup succeeds and the datapath redirects instead of passing:
 *
 *   client side: cli0 02:00:00:00:00:c0  10.10.1.1/24  (peer cli1)
 *   backend side: be0 02:00:00:00:00:b0  10.20.0.1/16  (peer be1)
 *   neighbours:  10.20.1.2 -> 02:00:00:00:20:02 on be0 (permanent)
 *                10.20.2.2 -> 02:00:00:00:20:02 on be0 (permanent)
 *   ipv4 forwarding on
 *
 * A packet "arrives" on a device through the ingress_ifindex of the
 * struct xdp_md given to BPF_PROG_TEST_RUN. XDP_REDIRECT is the verdict
 * only; test_run does not send the frame anywhere.
 */
#include "flow.h"
#include "twolinks.h"

#include <net/if.h>

static struct xlb_dp *dp;
static uint32_t if_cli, if_be;

#define CLIENT		"10.10.1.2"
#define VIP		"10.96.0.10"
#define BE		"10.20.1.2"
#define NODE		"10.10.2.1"
#define NP_VIP		"10.96.0.11"
#define NP_BE		"10.20.2.2"

#define MAC_CLI0	{ 0x02, 0x00, 0x00, 0x00, 0x00, 0xc0 }
#define MAC_BE0		{ 0x02, 0x00, 0x00, 0x00, 0x00, 0xb0 }
#define MAC_NEIGH	{ 0x02, 0x00, 0x00, 0x00, 0x20, 0x02 }

/* Symbolic devices in the table, resolved once the devices exist. */
#define ON_CLI		XT_ON_CLI
#define ON_BE		XT_ON_BE

/* _NODF: DF clear, a datagram the stack may fragment */
#define FROM_C_NODF(da, id) .eth_dst = MAC_CLI0, .eth_src = MAC_CLIENT, .saddr = CLIENT, \
			.daddr = da, .ip_id = id, .ttl = 61
#define FROM_C(da, id)	FROM_C_NODF(da, id), .frag = PKT_IP_DF
#define FROM_B_NODF(sa, id) .eth_dst = MAC_BE0, .eth_src = MAC_NEIGH, .saddr = sa, \
			.daddr = CLIENT, .ip_id = id, .ttl = 64
#define FROM_B(sa, id)	FROM_B_NODF(sa, id), .frag = PKT_IP_DF
#define TCPH(sp, dp, fl, sq, ak) \
	.proto = IPPROTO_TCP, .sport = sp, .dport = dp, .tcp_flags = fl, .seq = sq, .ack = ak, \
	.window = 502
#define ISN_C		0x11223344u
#define ISN_B		0x55667788u

/* To the backend: its neighbour's MAC, from be0. Back to the client: the
 * client packet's Ethernet addresses swapped. */
#define TO_BE(a, p)	{ .daddr = a, .dport = p, \
			  .eth = true, .eth_src = MAC_BE0, .eth_dst = MAC_NEIGH }
#define TO_CLIENT(a, p)	{ .saddr = a, .sport = p, \
			  .eth = true, .eth_src = MAC_CLI0, .eth_dst = MAC_CLIENT }

static const struct xt_scenario scenarios[] = {
	{ "routed ClusterIP TCP: SYN on cli0 redirected to be0, SYN-ACK on be0 redirected to cli0",
	  { { "SYN on cli0: DNAT, Ethernet to the neighbour from be0, XDP_REDIRECT",
	      { FROM_C(VIP, 0x101), TCPH(40000, 80, PKT_SYN, ISN_C, 0), .tcp_opt_len = 20 },
	      ON_CLI, XDP_REDIRECT, TO_BE(BE, 8080), { XLB_STAT_CT_NEW, XLB_STAT_FWD_REDIRECT } },
	    { "SYN-ACK on be0: reverse NAT, Ethernet back to the client's router from cli0, XDP_REDIRECT",
	      { FROM_B(BE, 0x201), TCPH(8080, 40000, PKT_SYN | PKT_ACK, ISN_B, ISN_C + 1),
		.tcp_opt_len = 20 },
	      ON_BE, XDP_REDIRECT, TO_CLIENT(VIP, 80), { XLB_STAT_FWD_REDIRECT } },
	    { "ACK with 200 bytes on cli0: DNAT from the cached next hop, XDP_REDIRECT",
	      { FROM_C(VIP, 0x102), TCPH(40000, 80, PKT_ACK | PKT_PSH, ISN_C + 1, ISN_B + 1),
		.payload_len = 200 },
	      ON_CLI, XDP_REDIRECT, TO_BE(BE, 8080), { XLB_STAT_CT_ESTABLISHED, XLB_STAT_FWD_REDIRECT } },
	    { "data from the backend arriving on cli0 itself: back out of cli0 (XDP_TX)",
	      { FROM_B(BE, 0x202), TCPH(8080, 40000, PKT_ACK, ISN_B + 1, ISN_C + 201), .payload_len = 10 },
	      ON_CLI, XT_VERDICT_BACK, TO_CLIENT(VIP, 80), { XLB_STAT_CT_HIT, XLB_STAT_FWD_BACK } },
	  } },
	{ "routed ClusterIP UDP: request redirected to be0, reply redirected to cli0",
	  { { "request on cli0: DNAT, XDP_REDIRECT",
	      { FROM_C(VIP, 0x111), .proto = IPPROTO_UDP, .sport = 50000, .dport = 53, .payload_len = 40 },
	      ON_CLI, XDP_REDIRECT, TO_BE(BE, 5353), { XLB_STAT_CT_NEW, XLB_STAT_FWD_REDIRECT } },
	    { "reply on be0: reverse NAT, XDP_REDIRECT",
	      { FROM_B(BE, 0x211), .proto = IPPROTO_UDP, .sport = 5353, .dport = 50000,
		.payload_len = 80 },
	      ON_BE, XDP_REDIRECT, TO_CLIENT(VIP, 53), { XLB_STAT_FWD_REDIRECT } },
	  } },
	{ "routed NodePort TCP 10.10.2.1:30080: both ways redirected, reply from the node address",
	  { { "SYN on cli0 to the node port: DNAT to 10.20.2.2:8080, XDP_REDIRECT",
	      { FROM_C(NODE, 0x121), TCPH(40001, 30080, PKT_SYN, ISN_C, 0) },
	      ON_CLI, XDP_REDIRECT, TO_BE(NP_BE, 8080), { XLB_STAT_CT_NEW, XLB_STAT_FWD_REDIRECT } },
	    { "SYN-ACK on be0: source 10.10.2.1:30080, XDP_REDIRECT",
	      { FROM_B(NP_BE, 0x221), TCPH(8080, 40001, PKT_SYN | PKT_ACK, ISN_B, ISN_C + 1) },
	      ON_BE, XDP_REDIRECT, TO_CLIENT(NODE, 30080), { XLB_STAT_FWD_REDIRECT } },
	  } },
	{ "routed, but a partial checksum: rewritten and left to the stack",
	  { { "SYN on cli0 with a partial checksum: DNAT, MACs kept, XDP_PASS",
	      { FROM_C(VIP, 0x131), TCPH(40002, 80, PKT_SYN, ISN_C, 0), .csum_partial = true },
	      ON_CLI, XDP_PASS, { .daddr = BE, .dport = 8080 },
	      { XLB_STAT_CT_NEW, XLB_STAT_PASS_CSUM_PARTIAL } },
	  } },
	{ "routed, but a frame a redirect may not send (longer than the MTU, multi-buffer; DF "
	  "clear, else the client is told the MTU: test_frag.c): rewritten and left to the "
	  "stack, counted as such",
	  { { "UDP request on cli0: DNAT, XDP_REDIRECT (the backend's next hop is cached)",
	      { FROM_C(VIP, 0x151), .proto = IPPROTO_UDP, .sport = 50001, .dport = 53, .payload_len = 40 },
	      ON_CLI, XDP_REDIRECT, TO_BE(BE, 5353), { XLB_STAT_CT_NEW, XLB_STAT_FWD_REDIRECT } },
	    { "a 2,958-byte frame of the flow, one buffer, longer than be0's MTU (1500): DNAT, "
	      "MACs kept, XDP_PASS",
	      { FROM_C_NODF(VIP, 0x152), .proto = IPPROTO_UDP, .sport = 50001, .dport = 53,
		.payload_len = 2916 },
	      ON_CLI, XDP_PASS, { .daddr = BE, .dport = 5353 }, { XLB_STAT_PASS_TOO_BIG } },
	    { "a 9,000-byte datagram of the flow (a multi-buffer frame): DNAT, MACs kept, XDP_PASS",
	      { FROM_C_NODF(VIP, 0x153), .proto = IPPROTO_UDP, .sport = 50001, .dport = 53,
		.payload_len = 9000 - 28 },
	      ON_CLI, XDP_PASS, { .daddr = BE, .dport = 5353 }, { XLB_STAT_PASS_MULTIBUF } },
	    { "a 9,000-byte reply on be0 (multi-buffer): reverse NAT, MACs kept, XDP_PASS",
	      { FROM_B_NODF(BE, 0x251), .proto = IPPROTO_UDP, .sport = 5353, .dport = 50001,
		.payload_len = 9000 - 28 },
	      ON_BE, XDP_PASS, { .saddr = VIP, .sport = 53 }, { XLB_STAT_PASS_MULTIBUF } },
	    { "a 1,500-byte datagram (a standard full frame; the reply established the flow): DNAT, "
	      "XDP_REDIRECT",
	      { FROM_C(VIP, 0x154), .proto = IPPROTO_UDP, .sport = 50001, .dport = 53,
		.payload_len = 1500 - 28 },
	      ON_CLI, XDP_REDIRECT, TO_BE(BE, 5353), { XLB_STAT_CT_ESTABLISHED, XLB_STAT_FWD_REDIRECT } },
	  } },
	{ "routed, but on VLAN 100: rewritten, tag kept, left to the stack",
	  { { "SYN on cli0 tagged VLAN 100: DNAT, MACs kept, XDP_PASS",
	      { FROM_C(VIP, 0x141), .n_vlan = 1, .vlan_tci = { 100 }, TCPH(40003, 80, PKT_SYN, ISN_C, 0) },
	      ON_CLI, XDP_PASS, { .daddr = BE, .dport = 8080 }, { XLB_STAT_CT_NEW } },
	  } },
};

static void test_scenario(void **state)
{
	xt_scenario_run_on(dp, *state, if_cli, if_be);
}

/* The topology above, in the namespace xt_init() gave us. */
static int topology(void)
{
	static const char *const be_cmds[] = {
		"ip addr add 10.20.0.1/16 dev be0",
		"ip neigh replace 10.20.1.2 lladdr 02:00:00:00:20:02 dev be0 nud permanent",
		"ip neigh replace 10.20.2.2 lladdr 02:00:00:00:20:02 dev be0 nud permanent",
	};

	return xt_two_links(be_cmds, sizeof(be_cmds) / sizeof(be_cmds[0]), &if_cli, &if_be);
}

static int group_setup(void **state)
{
	struct xlb_service_spec tcp = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_service_spec udp = xt_svc(VIP, 53, IPPROTO_UDP, XLB_ALGO_RR);
	struct xlb_service_spec np = xt_svc(NP_VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec b_tcp = xt_be(BE, 8080, 1), b_udp = xt_be(BE, 5353, 1);
	struct xlb_backend_spec b_np = xt_be(NP_BE, 8080, 1);
	struct xlb_ip node = xt_ip(NODE);
	char err[256] = "";
	int ret;

	if (topology())
		return -1;
	np.type = XLB_SVC_NODE_PORT;
	np.node_port = 30080;
	dp = xt_dp_open();
	if (!dp)
		return -1;
	if ((ret = xlb_dp_service_set(dp, &tcp, &b_tcp, 1, err, sizeof(err))) ||
	    (ret = xlb_dp_service_set(dp, &udp, &b_udp, 1, err, sizeof(err))) ||
	    (ret = xlb_dp_service_set(dp, &np, &b_np, 1, err, sizeof(err))) ||
	    (ret = xlb_dp_node_addr_add(dp, &node))) {
		print_error("setup: %s (%d)\n", err, ret);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	xlb_dp_close(dp);
	dp = NULL;
	return 0;	/* the devices go with the namespace */
}

int main(void)
{
	xt_init();
	return xt_run_table("redirect: routed next hop", test_scenario, scenarios,
			    sizeof(scenarios[0]), sizeof(scenarios) / sizeof(scenarios[0]),
			    xt_scenario_desc, NULL, NULL, group_setup, group_teardown) ? 1 : 0;
}
