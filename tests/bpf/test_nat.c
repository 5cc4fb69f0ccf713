// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * DNAT and reverse NAT, packet by packet: ClusterIP and NodePort, TCP and
 * UDP, IPv4 options, payloads, Ethernet padding, VLAN tags, UDP without
 * checksum and TCP with a partial (CHECKSUM_PARTIAL) checksum; then the
 * per-service and global counters after whole conversations.
 *
 * There is no route to any backend in the test's network namespace, so a
 * client packet is rewritten and passed to the stack (XDP_PASS,
 * pass_no_route); a reply goes back out of the device the client's packet
 * came in on (XDP_TX) with the Ethernet addresses of that packet swapped.
 *
 * Services (one backend each, so the choice is known):
 *   10.96.0.10:80/tcp  -> 10.20.1.2:8080
 *   10.96.0.10:53/udp  -> 10.20.1.3:5353
 *   10.96.0.11:80/tcp  NodePort 30080 -> 10.20.2.2:8080
 *   10.96.0.11:53/udp  NodePort 30053 -> 10.20.2.3:5353
 *   node address 10.10.2.1
 */
#include "flow.h"

static struct xlb_dp *dp;

#define CLIENT		"10.10.1.2"
#define CLIENT2		"10.10.1.3"
#define VIP		"10.96.0.10"
#define BE_TCP		"10.20.1.2"
#define BE_UDP		"10.20.1.3"
#define NP_VIP		"10.96.0.11"
#define NODE		"10.10.2.1"
#define NP_BE_TCP	"10.20.2.2"
#define NP_BE_UDP	"10.20.2.3"

#define MAC_CLIENT2	{ 0x02, 0x00, 0x00, 0x00, 0x01, 0x03 }

#define C2N		.eth_dst = MAC_NODE, .eth_src = MAC_CLIENT
#define C2N_2		.eth_dst = MAC_NODE, .eth_src = MAC_CLIENT2
#define B2N		.eth_dst = MAC_NODE, .eth_src = MAC_BACKEND
#define TO_CLIENT	.eth = true, .eth_src = MAC_NODE, .eth_dst = MAC_CLIENT
#define TO_CLIENT2	.eth = true, .eth_src = MAC_NODE, .eth_dst = MAC_CLIENT2

/* Client and backend sides of a packet: addresses, IP id and TTL. */
#define FROM_C(da, id)	C2N, .saddr = CLIENT, .daddr = da, .ip_id = id, .ttl = 61, .frag = PKT_IP_DF
#define FROM_B(sa, id)	B2N, .saddr = sa, .daddr = CLIENT, .ip_id = id, .ttl = 64, .frag = PKT_IP_DF

#define ISN_C		0x11223344u
#define ISN_B		0x55667788u
#define TCPH(sp, dp, fl, sq, ak) \
	.proto = IPPROTO_TCP, .sport = sp, .dport = dp, .tcp_flags = fl, .seq = sq, .ack = ak, \
	.window = 502
#define C_SYN(dp)	TCPH(40000, dp, PKT_SYN, ISN_C, 0)
#define B_SYNACK(sp)	TCPH(sp, 40000, PKT_SYN | PKT_ACK, ISN_B, ISN_C + 1)
#define C_ACK(dp, fl)	TCPH(40000, dp, PKT_ACK | (fl), ISN_C + 1, ISN_B + 1)
#define B_ACK(sp, fl)	TCPH(sp, 40000, PKT_ACK | (fl), ISN_B + 1, ISN_C + 1)
#define UDPH(sp, dp)	.proto = IPPROTO_UDP, .sport = sp, .dport = dp

/* Stats of the usual outcomes. */
#define NEW_PASS	{ XLB_STAT_CT_NEW, XLB_STAT_PASS_NO_ROUTE }
#define HIT_PASS	{ XLB_STAT_CT_HIT, XLB_STAT_PASS_NO_ROUTE }
#define HIT_TX		{ XLB_STAT_CT_HIT, XLB_STAT_FWD_BACK }
/* A reply before the flow is established (from ct_syn), the client packet
 * that establishes it (acknowledging the SYN-ACK, or UDP after a reply),
 * and one of a flow still pending. */
#define SYN_TX		{ XLB_STAT_FWD_BACK }
#define EST_PASS	{ XLB_STAT_CT_ESTABLISHED, XLB_STAT_PASS_NO_ROUTE }
#define PEND_PASS	{ XLB_STAT_PASS_NO_ROUTE }
#define NOT_SVC		{ XLB_STAT_PASS_NOT_SERVICE }

/* Rewrites. */
#define DNAT_TCP	{ .daddr = BE_TCP, .dport = 8080 }
#define RNAT_TCP	{ .saddr = VIP, .sport = 80, TO_CLIENT }
#define DNAT_UDP	{ .daddr = BE_UDP, .dport = 5353 }
#define RNAT_UDP	{ .saddr = VIP, .sport = 53, TO_CLIENT }

/* Payloads tuned at setup so that the rewritten datagram's UDP checksum
 * computes to zero, which RFC 768 sends as 0xffff (0 means "none"). */
static uint8_t zc_req[32], zc_rep[32];

static const struct xt_scenario scenarios[] = {
	{ "ClusterIP TCP 10.10.1.2:40000 -> 10.96.0.10:80 via 10.20.1.2:8080: handshake, data both ways, FIN",
	  { { "SYN with MSS/SACK/TS/WS options: DNAT, XDP_PASS (no route)",
	      { FROM_C(VIP, 0x1001), C_SYN(80), .tcp_opt_len = 20 }, 0, XDP_PASS, DNAT_TCP, NEW_PASS },
	    { "SYN-ACK from the backend: source back to 10.96.0.10:80, MACs swapped, XDP_TX",
	      { FROM_B(BE_TCP, 0x2001), B_SYNACK(8080), .tcp_opt_len = 20 },
	      0, XT_VERDICT_BACK, RNAT_TCP, SYN_TX },
	    { "ACK+PSH with TS option and 100 bytes from the client: DNAT",
	      { FROM_C(VIP, 0x1002), C_ACK(80, PKT_PSH), .tcp_opt_len = 12, .payload_len = 100 },
	      0, XDP_PASS, DNAT_TCP, EST_PASS },
	    { "ACK+PSH with 1400 bytes from the backend: reverse NAT, XDP_TX",
	      { FROM_B(BE_TCP, 0x2002), B_ACK(8080, PKT_PSH), .tcp_opt_len = 12, .payload_len = 1400 },
	      0, XT_VERDICT_BACK, RNAT_TCP, HIT_TX },
	    { "FIN+ACK from the client: DNAT",
	      { FROM_C(VIP, 0x1003), C_ACK(80, PKT_FIN) }, 0, XDP_PASS, DNAT_TCP, HIT_PASS },
	  } },
	{ "ClusterIP TCP with IPv4 options, ihl=6 (router alert): SYN and SYN-ACK",
	  { { "SYN, ihl=6: DNAT, options untouched",
	      { FROM_C(VIP, 0x1101), C_SYN(80), .ip_opt_len = 4 }, 0, XDP_PASS, DNAT_TCP, NEW_PASS },
	    { "SYN-ACK, ihl=6: reverse NAT",
	      { FROM_B(BE_TCP, 0x2101), B_SYNACK(8080), .ip_opt_len = 4 },
	      0, XT_VERDICT_BACK, RNAT_TCP, SYN_TX },
	  } },
	{ "ClusterIP TCP with IPv4 options, ihl=7, and a payload on the SYN (TFO style)",
	  { { "SYN, ihl=7, 33 bytes of data: DNAT",
	      { FROM_C(VIP, 0x1201), C_SYN(80), .ip_opt_len = 8, .tcp_opt_len = 20, .payload_len = 33 },
	      0, XDP_PASS, DNAT_TCP, NEW_PASS },
	    { "ACK, ihl=7, 77 bytes from the backend: reverse NAT",
	      { FROM_B(BE_TCP, 0x2201), B_ACK(8080, PKT_PSH), .ip_opt_len = 8, .payload_len = 77 },
	      0, XT_VERDICT_BACK, RNAT_TCP, SYN_TX },
	  } },
	{ "ClusterIP TCP with the largest IPv4 header, ihl=15 (40 bytes of options)",
	  { { "SYN, ihl=15: DNAT",
	      { FROM_C(VIP, 0x1301), C_SYN(80), .ip_opt_len = 40 }, 0, XDP_PASS, DNAT_TCP, NEW_PASS },
	    { "ACK, ihl=15, 10 bytes: DNAT",
	      { FROM_C(VIP, 0x1302), C_ACK(80, 0), .ip_opt_len = 40, .payload_len = 10 },
	      0, XDP_PASS, DNAT_TCP, PEND_PASS },
	  } },
	{ "ClusterIP TCP in minimum-size frames with 6 bytes of Ethernet padding (legal, kept)",
	  { { "SYN, 54 bytes + 6 padding: DNAT, padding unchanged",
	      { FROM_C(VIP, 0x1401), C_SYN(80), .pad = 6 }, 0, XDP_PASS, DNAT_TCP, NEW_PASS },
	    { "SYN-ACK, 54 bytes + 6 padding: reverse NAT, padding unchanged",
	      { FROM_B(BE_TCP, 0x2401), B_SYNACK(8080), .pad = 6 }, 0, XT_VERDICT_BACK, RNAT_TCP, SYN_TX },
	    { "ACK with 2 bytes, 56 bytes + 4 padding: DNAT",
	      { FROM_C(VIP, 0x1402), C_ACK(80, 0), .payload_len = 2, .pad = 4 },
	      0, XDP_PASS, DNAT_TCP, EST_PASS },
	  } },
	{ "ClusterIP TCP on 802.1Q VLAN 100: rewritten, tag kept, left to the stack",
	  { { "SYN tagged VLAN 100: DNAT, tag preserved, XDP_PASS",
	      { FROM_C(VIP, 0x1501), .n_vlan = 1, .vlan_tci = { 100 }, C_SYN(80), .tcp_opt_len = 20 },
	      0, XDP_PASS, DNAT_TCP, { XLB_STAT_CT_NEW } },
	    { "SYN-ACK tagged VLAN 100: source back to 10.96.0.10:80, tag and MACs kept, XDP_PASS",
	      { FROM_B(BE_TCP, 0x2501), .n_vlan = 1, .vlan_tci = { 100 }, B_SYNACK(8080) },
	      0, XDP_PASS, { .saddr = VIP, .sport = 80 }, { XLB_STAT_PASS_NO_ROUTE } },
	  } },
	{ "ClusterIP TCP double-tagged (802.1ad 300, 802.1Q 100): rewritten, tags kept",
	  { { "SYN tagged 300/100: DNAT, both tags preserved, XDP_PASS",
	      { FROM_C(VIP, 0x1601), .n_vlan = 2, .vlan_tpid = { PKT_ETH_8021AD, PKT_ETH_8021Q },
		.vlan_tci = { 300, 100 }, C_SYN(80) },
	      0, XDP_PASS, DNAT_TCP, { XLB_STAT_CT_NEW } },
	  } },
	{ "ClusterIP TCP SYN with a partial checksum (CHECKSUM_PARTIAL from a local sender)",
	  { { "SYN, check = folded pseudo-header sum: DNAT, check = pseudo-header sum of the new addresses, XDP_PASS",
	      { FROM_C(VIP, 0x1701), C_SYN(80), .tcp_opt_len = 20, .csum_partial = true },
	      0, XDP_PASS, DNAT_TCP, { XLB_STAT_CT_NEW, XLB_STAT_PASS_CSUM_PARTIAL } },
	    { "ACK with 500 bytes, partial checksum: same, XDP_PASS",
	      { FROM_C(VIP, 0x1702), C_ACK(80, PKT_PSH), .payload_len = 500, .csum_partial = true },
	      0, XDP_PASS, DNAT_TCP, { XLB_STAT_PASS_CSUM_PARTIAL } },
	  } },
	{ "ClusterIP UDP 10.10.1.2:50000 -> 10.96.0.10:53 via 10.20.1.3:5353 with checksums",
	  { { "request, 33 bytes (odd length): DNAT, checksum verifies",
	      { FROM_C(VIP, 0x1801), UDPH(50000, 53), .payload_len = 33 }, 0, XDP_PASS,
	      { .daddr = BE_UDP, .dport = 5353 }, NEW_PASS },
	    { "reply, 120 bytes: source back to 10.96.0.10:53, XDP_TX",
	      { FROM_B(BE_UDP, 0x2801), UDPH(5353, 50000), .payload_len = 120 }, 0, XT_VERDICT_BACK,
	      { .saddr = VIP, .sport = 53, TO_CLIENT }, SYN_TX },
	    { "second request, 0 bytes: DNAT",
	      { FROM_C(VIP, 0x1802), UDPH(50000, 53) }, 0, XDP_PASS,
	      { .daddr = BE_UDP, .dport = 5353 }, EST_PASS },
	  } },
	{ "ClusterIP UDP without checksum (0) both ways: stays 0",
	  { { "request, checksum 0: DNAT, checksum still 0",
	      { FROM_C(VIP, 0x1901), UDPH(50001, 53), .payload_len = 40, .udp_csum_zero = true },
	      0, XDP_PASS, { .daddr = BE_UDP, .dport = 5353 }, NEW_PASS },
	    { "reply, checksum 0: reverse NAT, checksum still 0",
	      { FROM_B(BE_UDP, 0x2901), UDPH(5353, 50001), .payload_len = 40, .udp_csum_zero = true },
	      0, XT_VERDICT_BACK, { .saddr = VIP, .sport = 53, TO_CLIENT }, SYN_TX },
	  } },
	{ "ClusterIP UDP whose rewritten checksum computes to zero: sent as 0xffff, both ways",
	  { { "request: DNAT, checksum field 0xffff",
	      { FROM_C(VIP, 0x1e01), UDPH(50002, 53), .payload = zc_req, .payload_len = sizeof(zc_req) },
	      0, XDP_PASS, { .daddr = BE_UDP, .dport = 5353 }, NEW_PASS },
	    { "reply: reverse NAT, checksum field 0xffff",
	      { FROM_B(BE_UDP, 0x2e01), UDPH(5353, 50002), .payload = zc_rep,
		.payload_len = sizeof(zc_rep) },
	      0, XT_VERDICT_BACK, { .saddr = VIP, .sport = 53, TO_CLIENT }, SYN_TX },
	  } },
	{ "two clients on one service: each reply goes back to its own client and MAC",
	  { { "SYN from 10.10.1.2:40000 (MAC ..:01:02): DNAT",
	      { FROM_C(VIP, 0x1a01), C_SYN(80) }, 0, XDP_PASS, DNAT_TCP, NEW_PASS },
	    { "SYN from 10.10.1.3:40000 (MAC ..:01:03): DNAT",
	      { C2N_2, .saddr = CLIENT2, .daddr = VIP, .ip_id = 0x1b01, .ttl = 61, C_SYN(80) },
	      0, XDP_PASS, DNAT_TCP, NEW_PASS },
	    { "SYN-ACK to 10.10.1.3:40000: source 10.96.0.10:80, Ethernet to ..:01:03",
	      { B2N, .saddr = BE_TCP, .daddr = CLIENT2, .ip_id = 0x2b01, .ttl = 64, B_SYNACK(8080) },
	      0, XT_VERDICT_BACK, { .saddr = VIP, .sport = 80, TO_CLIENT2 }, SYN_TX },
	    { "SYN-ACK to 10.10.1.2:40000: source 10.96.0.10:80, Ethernet to ..:01:02",
	      { FROM_B(BE_TCP, 0x2a01), B_SYNACK(8080) }, 0, XT_VERDICT_BACK, RNAT_TCP, SYN_TX },
	  } },
	{ "one client port to two services: replies get their own service address",
	  { { "SYN 10.10.1.2:40000 -> 10.96.0.10:80: to 10.20.1.2:8080",
	      { FROM_C(VIP, 0x1c01), C_SYN(80) }, 0, XDP_PASS, DNAT_TCP, NEW_PASS },
	    { "SYN 10.10.1.2:40000 -> 10.96.0.11:80: to 10.20.2.2:8080",
	      { FROM_C(NP_VIP, 0x1c02), C_SYN(80) }, 0, XDP_PASS,
	      { .daddr = NP_BE_TCP, .dport = 8080 }, NEW_PASS },
	    { "SYN-ACK from 10.20.2.2:8080: source 10.96.0.11:80",
	      { FROM_B(NP_BE_TCP, 0x2c02), B_SYNACK(8080) }, 0, XT_VERDICT_BACK,
	      { .saddr = NP_VIP, .sport = 80, TO_CLIENT }, SYN_TX },
	    { "SYN-ACK from 10.20.1.2:8080: source 10.96.0.10:80",
	      { FROM_B(BE_TCP, 0x2c01), B_SYNACK(8080) }, 0, XT_VERDICT_BACK, RNAT_TCP, SYN_TX },
	  } },
	{ "a backend-looking packet from the wrong port is not a reply",
	  { { "SYN to 10.96.0.10:80: DNAT",
	      { FROM_C(VIP, 0x1d01), C_SYN(80) }, 0, XDP_PASS, DNAT_TCP, NEW_PASS },
	    { "SYN-ACK from 10.20.1.2:8081 (not the backend's port): XDP_PASS unchanged",
	      { FROM_B(BE_TCP, 0x2d01), B_SYNACK(8081) }, 0, XDP_PASS, { 0 }, NOT_SVC },
	  } },

	{ "a new flow from a port whose earlier flow (to another service, same backend) is still "
	  "established: the new SYN-ACK gets the new service's address",
	  { { "SYN 10.10.1.2:40000 -> 10.96.0.11:80 (NodePort service's ClusterIP), to 10.20.2.2:8080",
	      { FROM_C(NP_VIP, 0x1e81), C_SYN(80) }, 0, XDP_PASS,
	      { .daddr = NP_BE_TCP, .dport = 8080 }, NEW_PASS },
	    { "SYN-ACK: source 10.96.0.11:80",
	      { FROM_B(NP_BE_TCP, 0x2e81), B_SYNACK(8080) }, 0, XT_VERDICT_BACK,
	      { .saddr = NP_VIP, .sport = 80, TO_CLIENT }, SYN_TX },
	    { "ACK: established",
	      { FROM_C(NP_VIP, 0x1e82), C_ACK(80, 0) }, 0, XDP_PASS,
	      { .daddr = NP_BE_TCP, .dport = 8080 }, EST_PASS },
	    { "SYN from the same port to the node port 10.10.2.1:30080 (same backend): a new flow",
	      { FROM_C(NODE, 0x1e83), C_SYN(30080) }, 0, XDP_PASS,
	      { .daddr = NP_BE_TCP, .dport = 8080 }, NEW_PASS },
	    { "its SYN-ACK: source 10.10.2.1:30080, not the earlier flow's 10.96.0.11:80",
	      { FROM_B(NP_BE_TCP, 0x2e83), B_SYNACK(8080) }, 0, XT_VERDICT_BACK,
	      { .saddr = NODE, .sport = 30080, TO_CLIENT }, { XLB_STAT_CT_HIT, XLB_STAT_FWD_BACK } },
	  } },

	/* NodePort */
	{ "NodePort TCP 10.10.1.2:40000 -> node 10.10.2.1:30080 via 10.20.2.2:8080",
	  { { "SYN to the node address and node port: DNAT",
	      { FROM_C(NODE, 0x1e01), C_SYN(30080), .tcp_opt_len = 20 }, 0, XDP_PASS,
	      { .daddr = NP_BE_TCP, .dport = 8080 }, NEW_PASS },
	    { "SYN-ACK: source back to 10.10.2.1:30080 (what the client used), XDP_TX",
	      { FROM_B(NP_BE_TCP, 0x2e01), B_SYNACK(8080), .tcp_opt_len = 20 }, 0, XT_VERDICT_BACK,
	      { .saddr = NODE, .sport = 30080, TO_CLIENT }, SYN_TX },
	    { "ACK with 10 bytes: DNAT",
	      { FROM_C(NODE, 0x1e02), C_ACK(30080, PKT_PSH), .payload_len = 10 }, 0, XDP_PASS,
	      { .daddr = NP_BE_TCP, .dport = 8080 }, EST_PASS },
	  } },
	{ "NodePort service on its ClusterIP 10.96.0.11:80",
	  { { "SYN to 10.96.0.11:80: DNAT to 10.20.2.2:8080",
	      { FROM_C(NP_VIP, 0x1f01), C_SYN(80) }, 0, XDP_PASS,
	      { .daddr = NP_BE_TCP, .dport = 8080 }, NEW_PASS },
	    { "SYN-ACK: source 10.96.0.11:80",
	      { FROM_B(NP_BE_TCP, 0x2f01), B_SYNACK(8080) }, 0, XT_VERDICT_BACK,
	      { .saddr = NP_VIP, .sport = 80, TO_CLIENT }, SYN_TX },
	  } },
	{ "NodePort UDP 10.10.1.2:50000 -> node 10.10.2.1:30053 via 10.20.2.3:5353",
	  { { "request to the node port: DNAT",
	      { FROM_C(NODE, 0x3001), UDPH(50000, 30053), .payload_len = 30 }, 0, XDP_PASS,
	      { .daddr = NP_BE_UDP, .dport = 5353 }, NEW_PASS },
	    { "reply: source 10.10.2.1:30053",
	      { FROM_B(NP_BE_UDP, 0x4001), UDPH(5353, 50000), .payload_len = 60 }, 0, XT_VERDICT_BACK,
	      { .saddr = NODE, .sport = 30053, TO_CLIENT }, SYN_TX },
	  } },
	{ "NodePort port on an address that is not the node's (10.10.2.99:30080)",
	  { { "SYN to 10.10.2.99:30080: XDP_PASS unchanged",
	      { FROM_C("10.10.2.99", 0x3101), C_SYN(30080) }, 0, XDP_PASS, { 0 }, NOT_SVC },
	  } },
	{ "NodePort port on the ClusterIP (10.96.0.11:30080) is not a service",
	  { { "SYN to 10.96.0.11:30080: XDP_PASS unchanged",
	      { FROM_C(NP_VIP, 0x3201), C_SYN(30080) }, 0, XDP_PASS, { 0 }, NOT_SVC },
	  } },
	{ "service port on the node address (10.10.2.1:80) is not a service",
	  { { "SYN to 10.10.2.1:80: XDP_PASS unchanged",
	      { FROM_C(NODE, 0x3301), C_SYN(80) }, 0, XDP_PASS, { 0 }, NOT_SVC },
	  } },
};

/* Fill payload (referenced by step s) so that s's expected output has a
 * UDP checksum that computes to 0: the sum of everything else is 0xffff. */
static int tune_zero_csum(const struct xt_step *s, uint8_t *payload)
{
	uint8_t f[PKT_MAX];
	struct pkt_info pi;
	char why[160];
	size_t len, l4len;
	uint16_t sum;

	memset(payload, 0x5a, s->pkt.payload_len);
	payload[0] = payload[1] = 0;
	len = xt_build_expected(s, f);
	if (pkt_parse(f, len, &pi, why, sizeof(why)))
		return -1;
	l4len = pi.tot_len - (pi.l4 - pi.l3);
	pkt_put16(f + pi.l4 + 6, 0);
	sum = csum_fold(csum_add(csum_pseudo4(f + pi.l3 + 12, f + pi.l3 + 16, IPPROTO_UDP, l4len),
				 f + pi.l4, l4len));
	pkt_put16(payload, 0xffff - sum);
	/* Check: the builder now writes 0xffff. */
	len = xt_build_expected(s, f);
	return pkt_get16(f + pi.l4 + 6) == 0xffff ? 0 : -1;
}

static int tune_payloads(void)
{
	size_t i, j;

	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		for (j = 0; j < XT_MAX_STEPS && scenarios[i].steps[j].what; j++) {
			const struct xt_step *s = &scenarios[i].steps[j];

			if ((s->pkt.payload == zc_req || s->pkt.payload == zc_rep) &&
			    tune_zero_csum(s, (uint8_t *)s->pkt.payload)) {
				print_error("could not tune a payload to a zero checksum\n");
				return -1;
			}
		}
	return 0;
}

static void test_scenario(void **state)
{
	xt_scenario_run(dp, *state);
}

static int flush(void **state)
{
	int ret = xlb_dp_ct_flush(dp, NULL);

	if (ret)
		print_error("xlb_dp_ct_flush: %d\n", ret);
	return ret;
}

static struct xlb_service_spec svc_tcp, svc_udp, svc_np_tcp, svc_np_udp;

static int group_setup(void **state)
{
	struct xlb_backend_spec be_tcp = xt_be(BE_TCP, 8080, 1);
	struct xlb_backend_spec be_udp = xt_be(BE_UDP, 5353, 1);
	struct xlb_backend_spec be_np_tcp = xt_be(NP_BE_TCP, 8080, 1);
	struct xlb_backend_spec be_np_udp = xt_be(NP_BE_UDP, 5353, 1);
	struct xlb_ip node = xt_ip(NODE);
	char err[256] = "";
	int ret;

	svc_tcp = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	svc_udp = xt_svc(VIP, 53, IPPROTO_UDP, XLB_ALGO_RR);
	svc_np_tcp = xt_svc(NP_VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	svc_np_tcp.type = XLB_SVC_NODE_PORT;
	svc_np_tcp.node_port = 30080;
	svc_np_udp = xt_svc(NP_VIP, 53, IPPROTO_UDP, XLB_ALGO_RR);
	svc_np_udp.type = XLB_SVC_NODE_PORT;
	svc_np_udp.node_port = 30053;

	if (tune_payloads())
		return -1;
	dp = xt_dp_open();
	if (!dp)
		return -1;
	if ((ret = xlb_dp_service_set(dp, &svc_tcp, &be_tcp, 1, err, sizeof(err))) ||
	    (ret = xlb_dp_service_set(dp, &svc_udp, &be_udp, 1, err, sizeof(err))) ||
	    (ret = xlb_dp_service_set(dp, &svc_np_tcp, &be_np_tcp, 1, err, sizeof(err))) ||
	    (ret = xlb_dp_service_set(dp, &svc_np_udp, &be_np_udp, 1, err, sizeof(err)))) {
		print_error("service_set: %s (%d)\n", err, ret);
		return -1;
	}
	ret = xlb_dp_node_addr_add(dp, &node);
	if (ret) {
		print_error("node_addr_add %s: %d\n", NODE, ret);
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

/*
 * Counters after whole conversations on a service of its own: two TCP
 * flows of five packets each (SYN, SYN-ACK, ACK+data, data back, FIN) and
 * one UDP exchange of three packets.
 */
static void test_stats(void **state)
{
	struct xlb_service_spec svc = xt_svc("10.96.0.12", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_service_spec usvc = xt_svc("10.96.0.12", 53, IPPROTO_UDP, XLB_ALGO_RR);
	struct xlb_backend_spec be = xt_be("10.20.3.2", 8080, 1);
	struct xlb_backend_spec ube = xt_be("10.20.3.3", 5353, 1);
	struct xlb_counters c0, c1, u0, u1;
	struct xt_stats before, after;
	uint64_t bytes = 0;
	int flow, i, bad = 0;

	XT_SVC_SET(dp, &svc, &be, 1);
	XT_SVC_SET(dp, &usvc, &ube, 1);
	c0 = xt_svc_stats(dp, &svc);
	u0 = xt_svc_stats(dp, &usvc);
	before = xt_stats(dp);
	for (flow = 0; flow < 2; flow++) {
		uint16_t cp = 41000 + flow;
		const struct xt_step steps[] = {
			{ "SYN", { FROM_C("10.96.0.12", 1), TCPH(cp, 80, PKT_SYN, ISN_C, 0) },
			  0, XDP_PASS, { .daddr = "10.20.3.2", .dport = 8080 }, NEW_PASS },
			{ "SYN-ACK", { FROM_B("10.20.3.2", 2), TCPH(8080, cp, PKT_SYN | PKT_ACK, ISN_B, ISN_C + 1) },
			  0, XT_VERDICT_BACK, { .saddr = "10.96.0.12", .sport = 80, TO_CLIENT }, SYN_TX },
			{ "ACK+data", { FROM_C("10.96.0.12", 3), TCPH(cp, 80, PKT_ACK, ISN_C + 1, ISN_B + 1),
					.payload_len = 100 },
			  0, XDP_PASS, { .daddr = "10.20.3.2", .dport = 8080 }, EST_PASS },
			{ "data back", { FROM_B("10.20.3.2", 4), TCPH(8080, cp, PKT_ACK, ISN_B + 1, ISN_C + 101),
					 .payload_len = 300 },
			  0, XT_VERDICT_BACK, { .saddr = "10.96.0.12", .sport = 80, TO_CLIENT }, HIT_TX },
			{ "FIN", { FROM_C("10.96.0.12", 5), TCPH(cp, 80, PKT_ACK | PKT_FIN, ISN_C + 101, ISN_B + 301) },
			  0, XDP_PASS, { .daddr = "10.20.3.2", .dport = 8080 }, HIT_PASS },
		};
		uint8_t buf[PKT_MAX];

		for (i = 0; i < 5; i++) {
			bad += !xt_step_check(dp, &steps[i], i + 1);
			bytes += pkt_build(&steps[i].pkt, buf, sizeof(buf));
		}
	}
	{
		const struct xt_step steps[] = {
			{ "UDP request", { FROM_C("10.96.0.12", 6), UDPH(52000, 53), .payload_len = 20 },
			  0, XDP_PASS, { .daddr = "10.20.3.3", .dport = 5353 }, NEW_PASS },
			{ "UDP reply", { FROM_B("10.20.3.3", 7), UDPH(5353, 52000), .payload_len = 80 },
			  0, XT_VERDICT_BACK, { .saddr = "10.96.0.12", .sport = 53, TO_CLIENT }, SYN_TX },
			{ "UDP request", { FROM_C("10.96.0.12", 8), UDPH(52000, 53), .payload_len = 20 },
			  0, XDP_PASS, { .daddr = "10.20.3.3", .dport = 5353 }, EST_PASS },
		};
		for (i = 0; i < 3; i++)
			bad += !xt_step_check(dp, &steps[i], i + 1);
	}
	after = xt_stats(dp);
	c1 = xt_svc_stats(dp, &svc);
	u1 = xt_svc_stats(dp, &usvc);
	print_message("tcp service: %llu packets, %llu bytes (frames sum to %llu), %llu new flows\n",
		      (unsigned long long)(c1.packets - c0.packets),
		      (unsigned long long)(c1.bytes - c0.bytes), (unsigned long long)bytes,
		      (unsigned long long)(c1.new_flows - c0.new_flows));
	assert_int_equal(c1.packets - c0.packets, 10);
	assert_int_equal(c1.new_flows - c0.new_flows, 2);
	assert_true(c1.bytes > c0.bytes);
	assert_int_equal(u1.packets - u0.packets, 3);
	assert_int_equal(u1.new_flows - u0.new_flows, 1);
	assert_true(u1.bytes > u0.bytes);
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_RX), 13);
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_CT_NEW), 3);
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_CT_ESTABLISHED), 3);
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_CT_HIT), 4);
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_PASS_NO_ROUTE), 8);
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_FWD_BACK), 5);
	if (bad)
		fail_msg("%d packet(s) not as expected (see above); the counters are right", bad);
}

static uint32_t rnd_state = 0x2545f491u;

static uint32_t rnd(void)
{
	return xt_xorshift(&rnd_state);
}

/* Run step s; a TCP checksum may legally come out as 0x0000 or 0xffff
 * (both are one's complement zero), so only that is not held against it. */
static bool step_check_pm0(const struct xt_step *s, const char *what)
{
	uint8_t in[PKT_MAX], exp[PKT_MAX];
	struct pkt_info pe, pg;
	struct xt_run r;
	size_t len, elen;
	char why[160];

	len = xt_build(&s->pkt, in);
	elen = xt_build_expected(s, exp);
	xt_run(dp, in, len, s->ifindex, &r);
	if (s->pkt.proto == IPPROTO_TCP && !pkt_parse(exp, elen, &pe, why, sizeof(why)) &&
	    !pkt_parse(r.out, r.len, &pg, why, sizeof(why)) && pe.l4 == pg.l4 &&
	    ((pe.l4_csum == 0 && pg.l4_csum == 0xffff) || (pe.l4_csum == 0xffff && pg.l4_csum == 0)))
		pkt_put16(exp + pe.l4 + 16, pg.l4_csum);
	return xt_check(what, &r, s->verdict, exp, elen);
}

/*
 * Random flows through the TCP and UDP services: random client address,
 * port, IP id, TTL, IPv4 options, sequence numbers and payload (length and
 * bytes), one client packet and one reply each. Catches carries that the
 * hand-written packets happen not to produce.
 */
static void test_random(void **state)
{
	static uint8_t buf[2][400];
	char addrs[200][INET_ADDRSTRLEN], what[96];
	int i, bad = 0;

	for (i = 0; i < 200; i++) {
		bool udp = i & 1;
		uint16_t sport = 1024 + rnd() % 60000, plen = rnd() % 400, j;
		struct xt_step fwd = {
			.what = "client packet", .verdict = XDP_PASS,
			.out = { .daddr = udp ? BE_UDP : BE_TCP, .dport = udp ? 5353 : 8080 },
		};
		struct xt_step back = {
			.what = "reply", .verdict = XT_VERDICT_BACK,
			.out = { .saddr = VIP, .sport = udp ? 53 : 80, TO_CLIENT },
		};

		snprintf(addrs[i], sizeof(addrs[i]), "172.%u.%u.%u", 16 + rnd() % 16, rnd() % 256,
			 1 + rnd() % 254);
		for (j = 0; j < plen; j++) {
			buf[0][j] = rnd();
			buf[1][j] = rnd();
		}
		fwd.pkt = (struct pkt_desc){ C2N, .saddr = addrs[i], .daddr = VIP,
					     .ip_id = rnd(), .ttl = 1 + rnd() % 255,
					     .ip_opt_len = 4 * (rnd() % 3), .tos = rnd(),
					     .proto = udp ? IPPROTO_UDP : IPPROTO_TCP,
					     .sport = sport, .dport = udp ? 53 : 80,
					     .tcp_flags = PKT_SYN, .seq = rnd(), .window = rnd(),
					     .payload = buf[0], .payload_len = plen };
		back.pkt = (struct pkt_desc){ B2N, .saddr = udp ? BE_UDP : BE_TCP, .daddr = addrs[i],
					      .ip_id = rnd(), .ttl = 1 + rnd() % 255,
					      .proto = fwd.pkt.proto,
					      .sport = udp ? 5353 : 8080, .dport = sport,
					      .tcp_flags = PKT_SYN | PKT_ACK, .seq = rnd(),
					      .ack = fwd.pkt.seq + 1, .window = rnd(),
					      .payload = buf[1], .payload_len = rnd() % 400 };
		snprintf(what, sizeof(what), "flow %d, %s %s:%u, client packet", i, udp ? "UDP" : "TCP",
			 addrs[i], sport);
		bad += !step_check_pm0(&fwd, what);
		snprintf(what, sizeof(what), "flow %d, %s %s:%u, reply", i, udp ? "UDP" : "TCP",
			 addrs[i], sport);
		bad += !step_check_pm0(&back, what);
	}
	if (bad)
		fail_msg("%d of 400 packets not as expected", bad);
}

/*
 * A full checksum that happens to equal the folded pseudo-header sum (one
 * packet in 65,536) looks like CHECKSUM_PARTIAL. The datapath must then
 * check the whole segment and treat it as the full checksum it is: DNAT
 * with a valid checksum, not the partial update.
 */
static void test_csum_lookalike(void **state)
{
	struct xlb_service_spec svc = xt_svc("10.96.0.13", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec be = xt_be("10.20.3.2", 8080, 1);
	static uint8_t payload[2];
	struct pkt_desc d = { FROM_C("10.96.0.13", 0x3101),
			      TCPH(42000, 80, PKT_SYN, ISN_C, 0), .payload = payload,
			      .payload_len = sizeof(payload) };
	uint8_t in[PKT_MAX], *ip, *th;
	struct xt_stats before, after;
	uint32_t pseudo, seg;
	uint16_t p16, x;
	struct xt_run r;
	char why[256];
	size_t len;

	XT_SVC_SET(dp, &svc, &be, 1);
	memset(payload, 0, sizeof(payload));
	len = xt_build(&d, in);
	ip = in + 14;
	th = ip + 20;
	/* check := P (pseudo-header sum); payload word X so the segment sums
	 * to a valid full checksum with that check. */
	pseudo = csum_pseudo4(ip + 12, ip + 16, IPPROTO_TCP, (uint16_t)(len - 34));
	p16 = csum_fold(pseudo);
	pkt_put16(th + 16, p16);
	seg = csum_add(pseudo, th, len - 34);	/* includes check = P, X = 0 */
	x = (uint16_t)~csum_fold(seg);
	pkt_put16(th + 20, x);
	assert_int_equal(csum_fold(csum_add(pseudo, th, len - 34)), 0xffff);
	assert_int_equal(pkt_get16(th + 16), p16);

	before = xt_stats(dp);
	xt_run(dp, in, len, 0, &r);
	after = xt_stats(dp);
	assert_int_equal(r.verdict, XDP_PASS);
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_PASS_CSUM_PARTIAL), 0);
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_PASS_NO_ROUTE), 1);
	if (pkt_csum_check(r.out, r.len, why, sizeof(why)))
		fail_msg("checksum after DNAT: %s", why);
}

/*
 * A balanced flow leaves a reply entry (backend:8080 -> client:port). A
 * later direct connection from the same client port to that backend must
 * not have its replies rewritten to the service address: its SYN clears
 * the stale entry.
 */
static void test_stale_reply(void **state)
{
	struct xlb_service_spec svc = xt_svc("10.96.0.14", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec be = xt_be("10.20.3.2", 8080, 1);
	struct pkt_desc via = { FROM_C("10.96.0.14", 0x3201), TCPH(43000, 80, PKT_SYN, ISN_C, 0) };
	struct pkt_desc direct = { FROM_C("10.20.3.2", 0x3202), TCPH(43000, 8080, PKT_SYN, ISN_C, 0) };
	struct pkt_desc reply = { FROM_B("10.20.3.2", 0x3203),
				  TCPH(8080, 43000, PKT_SYN | PKT_ACK, ISN_B, ISN_C + 1) };
	uint8_t in[PKT_MAX];
	struct xt_run r;
	size_t len;

	XT_SVC_SET(dp, &svc, &be, 1);
	len = xt_build(&via, in);
	xt_run(dp, in, len, 0, &r);		/* balanced: leaves a reply entry */
	assert_int_equal(r.verdict, XDP_PASS);

	len = xt_build(&direct, in);
	xt_run(dp, in, len, 0, &r);		/* the direct SYN passes untouched */
	assert_int_equal(r.verdict, XDP_PASS);
	assert_int_equal(r.len, len);
	assert_memory_equal(r.out, in, len);

	len = xt_build(&reply, in);
	xt_run(dp, in, len, 0, &r);		/* its SYN-ACK is not reverse-NATed */
	assert_int_equal(r.verdict, XDP_PASS);
	assert_int_equal(r.len, len);
	assert_memory_equal(r.out, in, len);
}

int main(void)
{
	const struct CMUnitTest stats[] = {
		{ "a direct connection reusing a balanced flow's ports: its replies are not rewritten",
		  test_stale_reply, NULL, NULL, NULL },
		{ "a full checksum equal to the pseudo-header sum is not taken for CHECKSUM_PARTIAL",
		  test_csum_lookalike, NULL, NULL, NULL },
		{ "two TCP flows of 5 packets and a UDP flow of 3: service packets, new flows, ct_new, ct_hit",
		  test_stats, NULL, NULL, NULL },
		{ "200 random flows (addresses, ports, IPv4 options, payloads), TCP and UDP, both ways",
		  test_random, NULL, NULL, NULL },
	};
	int fails;

	xt_init();
	fails = xt_run_table("nat: DNAT and reverse NAT", test_scenario, scenarios,
			     sizeof(scenarios[0]), sizeof(scenarios) / sizeof(scenarios[0]),
			     xt_scenario_desc, flush, NULL, group_setup, group_teardown);
	fails += cmocka_run_group_tests_name("nat: counters", stats, group_setup, group_teardown);
	return fails ? 1 : 0;
}
