// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * External clients on the NIC (issue 13): node ports, LoadBalancer ingress
 * IPs and external IPs; source NAT to backends on other nodes with the
 * replies translated back in XDP; externalTrafficPolicy Local;
 * loadBalancerSourceRanges. Byte-exact, in test_redirect's topology (the
 * test's own namespace, so bpf_fib_lookup finds the next hops):
 *
 *   client side:  cli0 02:00:00:00:00:c0  10.10.1.1/24 (the node address)
 *   backend side: be0  02:00:00:00:00:b0  10.20.0.1/16
 *   neighbours:   10.20.1.2 (a pod on another node), 10.20.2.2 (a pod on
 *                 this node, as far as the datapath cares), 10.20.3.2 (a
 *                 pod whose node is unknown) -> 02:00:00:00:20:02 on be0
 *
 * The client's ports lie in the SNAT range (61000-65535), so its first
 * packet keeps its port and the output is known to the byte.
 */
#include "flow.h"
#include "twolinks.h"

#include <net/if.h>

static struct xlb_dp *dp;
static uint32_t if_cli, if_be;

#define CLIENT		"10.10.1.2"
#define CLIENT_OUT	"10.10.1.100"	/* outside the source range */
#define NODE		"10.10.1.1"
#define BE_REMOTE	"10.20.1.2"
#define BE_LOCAL	"10.20.2.2"
#define BE_UNKNOWN	"10.20.3.2"
#define LB_IP		"192.0.2.10"
#define LB_IP_RANGES	"192.0.2.11"
#define LB_IP_LOCAL	"192.0.2.12"
#define EXT_IP		"198.51.100.7"

#define MAC_CLI0	{ 0x02, 0x00, 0x00, 0x00, 0x00, 0xc0 }
#define MAC_BE0		{ 0x02, 0x00, 0x00, 0x00, 0x00, 0xb0 }
#define MAC_NEIGH	{ 0x02, 0x00, 0x00, 0x00, 0x20, 0x02 }

#define ON_CLI		XT_ON_CLI
#define ON_BE		XT_ON_BE

#define FROM_C(sa, da, id) .eth_dst = MAC_CLI0, .eth_src = MAC_CLIENT, .saddr = sa, .daddr = da, \
			.ip_id = id, .ttl = 61, .frag = PKT_IP_DF
#define FROM_B(sa, da, id) .eth_dst = MAC_BE0, .eth_src = MAC_NEIGH, .saddr = sa, .daddr = da, \
			.ip_id = id, .ttl = 64, .frag = PKT_IP_DF
#define TCPH(sp, dp, fl, sq, ak) \
	.proto = IPPROTO_TCP, .sport = sp, .dport = dp, .tcp_flags = fl, .seq = sq, .ack = ak, \
	.window = 502
#define ISN_C		0x11223344u
#define ISN_B		0x55667788u
#define SYN		PKT_SYN
#define SYNACK		(PKT_SYN | PKT_ACK)
#define ACK		PKT_ACK
#define ACKPSH		(PKT_ACK | PKT_PSH)

/* To the backend from the node (SNAT), or with the client's address kept. */
#define SNAT_TO(a, p, sa, sp) { .saddr = sa, .sport = sp, .daddr = a, .dport = p, \
			  .eth = true, .eth_src = MAC_BE0, .eth_dst = MAC_NEIGH }
#define DNAT_TO(a, p)	{ .daddr = a, .dport = p, \
			  .eth = true, .eth_src = MAC_BE0, .eth_dst = MAC_NEIGH }
/* Back to the client from the address and port it used. */
#define BACK(a, p, cp)	{ .saddr = a, .sport = p, .daddr = CLIENT, .dport = cp, \
			  .eth = true, .eth_src = MAC_CLI0, .eth_dst = MAC_CLIENT }

#define S_NEW		{ XLB_STAT_CT_NEW, XLB_STAT_SNAT_NEW, XLB_STAT_FWD_REDIRECT }
#define S_REPLY		{ XLB_STAT_SNAT_REPLY, XLB_STAT_FWD_REDIRECT }
#define S_EST		{ XLB_STAT_CT_ESTABLISHED, XLB_STAT_FWD_REDIRECT }
#define S_HIT_REPLY	{ XLB_STAT_CT_HIT, XLB_STAT_SNAT_REPLY, XLB_STAT_FWD_REDIRECT }
#define S_HIT		{ XLB_STAT_CT_HIT, XLB_STAT_FWD_REDIRECT }

static const struct xt_scenario scenarios[] = {
	{ "NodePort 10.10.1.1:30080 to a backend on another node: DNAT + SNAT out be0, replies translated back to cli0",
	  { { "SYN 10.10.1.2:61234 -> 10.10.1.1:30080 on cli0: to 10.20.1.2:8080 from 10.10.1.1:61234, XDP_REDIRECT",
	      { FROM_C(CLIENT, NODE, 0x101), TCPH(61234, 30080, SYN, ISN_C, 0), .tcp_opt_len = 20 },
	      ON_CLI, XDP_REDIRECT, SNAT_TO(BE_REMOTE, 8080, NODE, 61234), S_NEW },
	    { "SYN-ACK 10.20.1.2:8080 -> 10.10.1.1:61234 on be0: from 10.10.1.1:30080 to 10.10.1.2:61234 via cli0",
	      { FROM_B(BE_REMOTE, NODE, 0x201), TCPH(8080, 61234, SYNACK, ISN_B, ISN_C + 1),
		.tcp_opt_len = 20 },
	      ON_BE, XDP_REDIRECT, BACK(NODE, 30080, 61234), S_REPLY },
	    { "ACK with 100 bytes: the flow is established, same translation",
	      { FROM_C(CLIENT, NODE, 0x102), TCPH(61234, 30080, ACKPSH, ISN_C + 1, ISN_B + 1),
		.payload_len = 100 },
	      ON_CLI, XDP_REDIRECT, SNAT_TO(BE_REMOTE, 8080, NODE, 61234), S_EST },
	    { "1400 bytes from the backend: conntrack hit after the reverse SNAT",
	      { FROM_B(BE_REMOTE, NODE, 0x202), TCPH(8080, 61234, ACKPSH, ISN_B + 1, ISN_C + 101),
		.payload_len = 1400 },
	      ON_BE, XDP_REDIRECT, BACK(NODE, 30080, 61234), S_HIT_REPLY },
	    { "FIN from the client: established entry, SNAT kept",
	      { FROM_C(CLIENT, NODE, 0x103), TCPH(61234, 30080, ACK | PKT_FIN, ISN_C + 101,
						 ISN_B + 1401) },
	      ON_CLI, XDP_REDIRECT, SNAT_TO(BE_REMOTE, 8080, NODE, 61234), S_HIT },
	  } },
	{ "NodePort UDP 10.10.1.1:30053 to a backend on another node: both ways",
	  { { "request 10.10.1.2:61300 -> 10.10.1.1:30053: to 10.20.1.2:5353 from 10.10.1.1:61300",
	      { FROM_C(CLIENT, NODE, 0x111), .proto = IPPROTO_UDP, .sport = 61300, .dport = 30053,
		.payload_len = 40 },
	      ON_CLI, XDP_REDIRECT, SNAT_TO(BE_REMOTE, 5353, NODE, 61300), S_NEW },
	    { "reply: from 10.10.1.1:30053 to 10.10.1.2:61300",
	      { FROM_B(BE_REMOTE, NODE, 0x211), .proto = IPPROTO_UDP, .sport = 5353,
		.dport = 61300, .payload_len = 80 },
	      ON_BE, XDP_REDIRECT, BACK(NODE, 30053, 61300), S_REPLY },
	  } },
	{ "LoadBalancer IP 192.0.2.10:80 to a backend on another node: SNAT from the node's address",
	  { { "SYN 10.10.1.2:61400 -> 192.0.2.10:80: to 10.20.1.2:8080 from 10.10.1.1:61400",
	      { FROM_C(CLIENT, LB_IP, 0x121), TCPH(61400, 80, SYN, ISN_C, 0) },
	      ON_CLI, XDP_REDIRECT, SNAT_TO(BE_REMOTE, 8080, NODE, 61400), S_NEW },
	    { "SYN-ACK to 10.10.1.1:61400: from 192.0.2.10:80 to the client",
	      { FROM_B(BE_REMOTE, NODE, 0x221), TCPH(8080, 61400, SYNACK, ISN_B, ISN_C + 1) },
	      ON_BE, XDP_REDIRECT, BACK(LB_IP, 80, 61400), S_REPLY },
	  } },
	{ "external IP 198.51.100.7:80 to a backend on another node: SNAT as a LoadBalancer IP",
	  { { "SYN 10.10.1.2:61500 -> 198.51.100.7:80: to 10.20.1.2:8080 from 10.10.1.1:61500",
	      { FROM_C(CLIENT, EXT_IP, 0x131), TCPH(61500, 80, SYN, ISN_C, 0) },
	      ON_CLI, XDP_REDIRECT, SNAT_TO(BE_REMOTE, 8080, NODE, 61500), S_NEW },
	    { "SYN-ACK: from 198.51.100.7:80",
	      { FROM_B(BE_REMOTE, NODE, 0x231), TCPH(8080, 61500, SYNACK, ISN_B, ISN_C + 1) },
	      ON_BE, XDP_REDIRECT, BACK(EXT_IP, 80, 61500), S_REPLY },
	  } },
	{ "the ClusterIP of the same service from outside: DNAT only, no SNAT (not an external address)",
	  { { "SYN 10.10.1.2:61600 -> 10.96.0.20:80: to 10.20.1.2:8080, client address kept",
	      { FROM_C(CLIENT, "10.96.0.20", 0x141), TCPH(61600, 80, SYN, ISN_C, 0) },
	      ON_CLI, XDP_REDIRECT, DNAT_TO(BE_REMOTE, 8080),
	      { XLB_STAT_CT_NEW, XLB_STAT_FWD_REDIRECT } },
	  } },
	{ "a backend whose node is unknown (no nodeName): node port DNAT only, as before",
	  { { "SYN 10.10.1.2:61700 -> 10.10.1.1:30090: to 10.20.3.2:8080, client address kept",
	      { FROM_C(CLIENT, NODE, 0x151), TCPH(61700, 30090, SYN, ISN_C, 0) },
	      ON_CLI, XDP_REDIRECT, DNAT_TO(BE_UNKNOWN, 8080),
	      { XLB_STAT_CT_NEW, XLB_STAT_FWD_REDIRECT } },
	  } },
	{ "externalTrafficPolicy Local: only the local endpoint, client address kept, no SNAT, to the stack",
	  { { "SYN 10.10.1.2:61800 -> 10.10.1.1:30081: to 10.20.2.2:8080 (local), source kept, XDP_PASS",
	      { FROM_C(CLIENT, NODE, 0x161), TCPH(61800, 30081, SYN, ISN_C, 0) },
	      ON_CLI, XDP_PASS, { .daddr = BE_LOCAL, .dport = 8080 },
	      { XLB_STAT_CT_NEW, XLB_STAT_PASS_LOCAL } },
	    { "SYN 10.10.1.2:61801 -> 192.0.2.12:80 (its LoadBalancer IP): the local endpoint again",
	      { FROM_C(CLIENT, LB_IP_LOCAL, 0x162), TCPH(61801, 80, SYN, ISN_C, 0) },
	      ON_CLI, XDP_PASS, { .daddr = BE_LOCAL, .dport = 8080 },
	      { XLB_STAT_CT_NEW, XLB_STAT_PASS_LOCAL } },
	    { "SYN-ACK from 10.20.2.2:8080 to 10.10.1.2:61800: from 10.10.1.1:30081",
	      { FROM_B(BE_LOCAL, CLIENT, 0x261), TCPH(8080, 61800, SYNACK, ISN_B, ISN_C + 1) },
	      ON_BE, XDP_REDIRECT, BACK(NODE, 30081, 61800), { XLB_STAT_FWD_REDIRECT } },
	  } },
	{ "externalTrafficPolicy Local without a local endpoint: external traffic dropped",
	  { { "SYN -> 10.10.1.1:30082 (its only endpoint on another node): XDP_DROP",
	      { FROM_C(CLIENT, NODE, 0x171), TCPH(61900, 30082, SYN, ISN_C, 0) },
	      ON_CLI, XDP_DROP, {}, { XLB_STAT_DROP_NO_LOCAL } },
	    { "ACK -> 10.10.1.1:30082 without state: XDP_DROP, no reset",
	      { FROM_C(CLIENT, NODE, 0x172), TCPH(61901, 30082, ACK, ISN_C + 1, ISN_B + 1) },
	      ON_CLI, XDP_DROP, {}, { XLB_STAT_DROP_NO_LOCAL } },
	  } },
	{ "loadBalancerSourceRanges 10.10.1.0/28 on 192.0.2.11:80",
	  { { "SYN from 10.10.1.2 (inside): DNAT to 10.20.3.2:8080",
	      { FROM_C(CLIENT, LB_IP_RANGES, 0x181), TCPH(62000, 80, SYN, ISN_C, 0) },
	      ON_CLI, XDP_REDIRECT, DNAT_TO(BE_UNKNOWN, 8080),
	      { XLB_STAT_CT_NEW, XLB_STAT_FWD_REDIRECT } },
	    { "SYN from 10.10.1.100 (outside): XDP_DROP",
	      { FROM_C(CLIENT_OUT, LB_IP_RANGES, 0x182), TCPH(62001, 80, SYN, ISN_C, 0) },
	      ON_CLI, XDP_DROP, {}, { XLB_STAT_DROP_SOURCE_RANGE } },
	  } },
	{ "a packet to an SNAT port that no flow holds: untouched, to the stack",
	  { { "TCP 10.20.1.2:8080 -> 10.10.1.1:63999: XDP_PASS",
	      { FROM_B(BE_REMOTE, NODE, 0x291), TCPH(8080, 63999, ACK, ISN_B, ISN_C) },
	      ON_BE, XDP_PASS, {}, { XLB_STAT_PASS_NOT_SERVICE } },
	  } },
};

static void test_scenario(void **state)
{
	xt_scenario_run_on(dp, *state, if_cli, if_be);
}

/* xlbctl explain against the datapath: what it says of a client's SYN
 * (from the live maps), then what the program does with that SYN. */
struct explain_case {
	const char *desc;
	const char *src, *dst;
	uint16_t sport, dport;
	enum xlb_explain_kind kind;
	const char *backend;	/* "address:port", or NULL for none */
	const char *why;	/* a phrase of the explanation */
	const char *note;	/* a phrase of the note, or NULL for "" */
	uint32_t verdict;
	enum xlb_stat stat;	/* the outcome counted besides rx */
};

static const struct explain_case explain_cases[] = {
	{ "10.10.1.100 -> 192.0.2.11:80, outside its loadBalancerSourceRanges: source range, dropped",
	  CLIENT_OUT, LB_IP_RANGES, 63100, 80, XLB_EXPLAIN_SOURCE_RANGE, NULL,
	  "loadBalancerSourceRanges (10.10.1.0/28): dropped, counted "
	  "drop_source_range", NULL, XDP_DROP, XLB_STAT_DROP_SOURCE_RANGE },
	{ "10.10.1.2 -> 192.0.2.11:80, inside the ranges: its backend, sent on",
	  CLIENT, LB_IP_RANGES, 63101, 80, XLB_EXPLAIN_SEQUENCE, "10.20.3.2:8080", "rr: hash(5-tuple)",
	  NULL, XDP_REDIRECT, XLB_STAT_FWD_REDIRECT },
	{ "10.10.1.100 -> 10.96.0.24:80, the same service's ClusterIP: no ranges there",
	  CLIENT_OUT, "10.96.0.24", 63102, 80, XLB_EXPLAIN_SEQUENCE, "10.20.3.2:8080",
	  "rr: hash(5-tuple)", NULL, XDP_REDIRECT, XLB_STAT_FWD_REDIRECT },
	{ "-> 10.10.1.1:30082, eTP Local, its endpoint on another node: no local endpoint, dropped",
	  CLIENT, NODE, 63103, 30082, XLB_EXPLAIN_NO_LOCAL, NULL,
	  "externalTrafficPolicy Local and no ready endpoint on this node: traffic from outside "
	  "is dropped, counted drop_no_local_endpoint", NULL, XDP_DROP, XLB_STAT_DROP_NO_LOCAL },
	{ "-> 10.96.0.23:80, that service's ClusterIP: the remote endpoint, not source-NATed",
	  CLIENT, "10.96.0.23", 63104, 80, XLB_EXPLAIN_SEQUENCE, "10.20.1.2:8080",
	  "rr: hash(5-tuple)", NULL, XDP_REDIRECT, XLB_STAT_FWD_REDIRECT },
	{ "-> 192.0.2.10:80 (LoadBalancer IP), remote backend: source-NATed, said in the note",
	  CLIENT, LB_IP, 63105, 80, XLB_EXPLAIN_SEQUENCE, "10.20.1.2:8080", "rr: hash(5-tuple)",
	  "source-NATed to this node's address", XDP_REDIRECT, XLB_STAT_SNAT_NEW },
};

static const char *explain_case_desc(const void *row)
{
	return ((const struct explain_case *)row)->desc;
}

static void test_explain(void **state)
{
	const struct explain_case *c = *state;
	struct xlb_explain_req q = { .hook = XLB_EXPLAIN_XDP, .src = xt_ip(c->src),
				     .sport = c->sport, .dst = xt_ip(c->dst), .dport = c->dport,
				     .proto = IPPROTO_TCP };
	struct pkt_desc d = { FROM_C(c->src, c->dst, 0x3a0), TCPH(c->sport, c->dport, SYN, ISN_C, 0) };
	uint8_t in[PKT_MAX];
	struct xt_stats before, after;
	struct xlb_explain x;
	struct xt_run r;
	char err[256] = "", be[64] = "";
	size_t len;

	assert_int_equal(xlb_dp_explain(dp, &q, &x, err, sizeof(err)), 0);
	print_message("    explain: %s%s%s\n", x.why, x.note[0] ? "; note: " : "", x.note);
	assert_int_equal(x.kind, c->kind);
	assert_true(x.service);
	if (x.backend_id)
		snprintf(be, sizeof(be), "%s:%u", xlb_ip_str(&x.backend, err, sizeof(err)),
			 x.backend_port);
	assert_string_equal(be, c->backend ? c->backend : "");
	assert_non_null(strstr(x.why, c->why));
	if (c->note)
		assert_non_null(strstr(x.note, c->note));
	else
		assert_string_equal(x.note, "");

	len = xt_build(&d, in);
	before = xt_stats(dp);
	xt_run(dp, in, len, if_cli, &r);
	after = xt_stats(dp);
	assert_int_equal(r.verdict, c->verdict);
	assert_int_equal(xt_delta(&after, &before, c->stat), 1);
	if (c->backend) {
		struct xlb_backend_spec want = { .addr = x.backend };


		want.port = x.backend_port;
		assert_int_equal(xt_backend_of(&r, &want, 1), 0);	/* the one explain named */
	}
}

static int set(struct xlb_service_spec *s, const struct xlb_backend_spec *be, size_t n);
static struct xlb_backend_spec be_on(const char *addr, uint32_t port, bool local, bool remote);

/*
 * A node port handshake that spans an update of its service. With
 * internalTrafficPolicy Local the cluster IP's table holds the node's own
 * endpoints only (none here) and the node port has a table of its own
 * (all of them): the ACK must be judged by the node port's previous
 * table, where its SYN chose, not the cluster IP's. The update drains
 * the SYN's backend (terminating: flows that have it go on) and adds
 * another, the only one new flows get.
 */
static const struct xt_step span_before[] = {
	{ "SYN 10.10.1.2:62100 -> 10.10.1.1:30085 on cli0: to 10.20.1.2:8080 (its node port's only "
	  "backend) from 10.10.1.1:62100",
	  { FROM_C(CLIENT, NODE, 0x191), TCPH(62100, 30085, SYN, ISN_C, 0), .tcp_opt_len = 20 },
	  ON_CLI, XDP_REDIRECT, SNAT_TO(BE_REMOTE, 8080, NODE, 62100), S_NEW },
};
static const struct xt_step span_after[] = {
	{ "SYN-ACK 10.20.1.2:8080 -> 10.10.1.1:62100 on be0, after the update: from 10.10.1.1:30085",
	  { FROM_B(BE_REMOTE, NODE, 0x291), TCPH(8080, 62100, SYNACK, ISN_B, ISN_C + 1),
	    .tcp_opt_len = 20 },
	  ON_BE, XDP_REDIRECT, BACK(NODE, 30085, 62100), S_REPLY },
	{ "the handshake's ACK: still 10.20.1.2:8080 from 10.10.1.1:62100 (the node port's previous "
	  "table), established",
	  { FROM_C(CLIENT, NODE, 0x192), TCPH(62100, 30085, ACK, ISN_C + 1, ISN_B + 1) },
	  ON_CLI, XDP_REDIRECT, SNAT_TO(BE_REMOTE, 8080, NODE, 62100), S_EST },
	{ "a new SYN 10.10.1.2:62101: to 10.20.3.2:8080, the new table's, client address kept",
	  { FROM_C(CLIENT, NODE, 0x193), TCPH(62101, 30085, SYN, ISN_C, 0) },
	  ON_CLI, XDP_REDIRECT, DNAT_TO(BE_UNKNOWN, 8080), { XLB_STAT_CT_NEW, XLB_STAT_FWD_REDIRECT } },
};

static void test_nodeport_update_span(void **state)
{
	struct xlb_service_spec s = xt_svc("10.96.0.25", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec be[2] = { be_on(BE_REMOTE, 8080, false, true),
					  be_on(BE_UNKNOWN, 8080, false, false) };
	struct xlb_ip node = xt_ip(NODE);
	size_t i;
	int bad = 0;

	s.type = XLB_SVC_NODE_PORT;
	s.node_port = 30085;
	s.int_policy = XLB_POLICY_LOCAL;
	assert_int_equal(xlb_dp_node_addr_add(dp, &node), 0);
	assert_int_equal(set(&s, be, 1), 0);
	for (i = 0; i < sizeof(span_before) / sizeof(span_before[0]); i++) {
		struct xt_step st = span_before[i];

		st.ifindex = if_cli;
		bad += !xt_step_check(dp, &st, (int)i + 1);
	}
	be[0].terminating = true;
	assert_int_equal(set(&s, be, 2), 0);
	for (i = 0; i < sizeof(span_after) / sizeof(span_after[0]); i++) {
		struct xt_step st = span_after[i];

		st.ifindex = st.ifindex == XT_ON_CLI ? if_cli : if_be;
		bad += !xt_step_check(dp, &st, (int)(i + 1 + sizeof(span_before) / sizeof(span_before[0])));
	}
	if (bad)
		fail_msg("%d steps failed", bad);
}

static int topology(void)
{
	static const char *const be_cmds[] = {
		"ip addr add 10.20.0.1/16 dev be0",
		"ip neigh replace 10.20.1.2 lladdr 02:00:00:00:20:02 dev be0 nud permanent",
		"ip neigh replace 10.20.2.2 lladdr 02:00:00:00:20:02 dev be0 nud permanent",
		"ip neigh replace 10.20.3.2 lladdr 02:00:00:00:20:02 dev be0 nud permanent",
	};

	return xt_two_links(be_cmds, sizeof(be_cmds) / sizeof(be_cmds[0]), &if_cli, &if_be);
}

static struct xlb_backend_spec be_on(const char *addr, uint32_t port, bool local, bool remote)
{
	struct xlb_backend_spec b = xt_be(addr, port, 1);

	b.local = local;
	b.remote = remote;
	return b;
}

static int set(struct xlb_service_spec *s, const struct xlb_backend_spec *be, size_t n)
{
	char err[256] = "";
	int ret = xlb_dp_service_set(dp, s, be, n, err, sizeof(err));

	if (ret)
		print_error("setup %s: %s (%d)\n", s->name, err, ret);
	return ret;
}

static int group_setup(void **state)
{
	struct xlb_service_spec web = xt_svc("10.96.0.20", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_service_spec dns = xt_svc("10.96.0.20", 53, IPPROTO_UDP, XLB_ALGO_RR);
	struct xlb_service_spec unk = xt_svc("10.96.0.21", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_service_spec loc = xt_svc("10.96.0.22", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_service_spec noloc = xt_svc("10.96.0.23", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_service_spec rng = xt_svc("10.96.0.24", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec remote = be_on(BE_REMOTE, 8080, false, true);
	struct xlb_backend_spec remote_dns = be_on(BE_REMOTE, 5353, false, true);
	struct xlb_backend_spec unknown = be_on(BE_UNKNOWN, 8080, false, false);
	struct xlb_backend_spec both[2] = { be_on(BE_REMOTE, 8080, false, true),
					    be_on(BE_LOCAL, 8080, true, false) };
	struct xlb_ip node = xt_ip(NODE);
	struct xlb_svc_addrs web_a = {}, loc_a = {}, rng_a = {};	/* set() copies them */

	web.type = XLB_SVC_LOAD_BALANCER;
	web.node_port = 30080;
	web.addrs = &web_a;
	web_a.lb_ips[web.n_lb_ips++] = xt_ip(LB_IP);
	web_a.external_ips[web.n_external_ips++] = xt_ip(EXT_IP);
	dns.type = XLB_SVC_NODE_PORT;
	dns.node_port = 30053;
	unk.type = XLB_SVC_NODE_PORT;
	unk.node_port = 30090;
	loc.type = XLB_SVC_LOAD_BALANCER;
	loc.node_port = 30081;
	loc.addrs = &loc_a;
	loc_a.lb_ips[loc.n_lb_ips++] = xt_ip(LB_IP_LOCAL);
	loc.ext_policy = XLB_POLICY_LOCAL;
	noloc.type = XLB_SVC_NODE_PORT;
	noloc.node_port = 30082;
	noloc.ext_policy = XLB_POLICY_LOCAL;
	rng.type = XLB_SVC_LOAD_BALANCER;
	rng.addrs = &rng_a;
	rng_a.lb_ips[rng.n_lb_ips++] = xt_ip(LB_IP_RANGES);
	rng_a.source_ranges[rng.n_source_ranges].ip = xt_ip("10.10.1.0");
	rng_a.source_ranges[rng.n_source_ranges++].prefix = 28;
	dp = xt_dp_open();
	if (!dp)
		return -1;
	if (set(&web, &remote, 1) || set(&dns, &remote_dns, 1) || set(&unk, &unknown, 1) ||
	    set(&loc, both, 2) || set(&noloc, &remote, 1) || set(&rng, &unknown, 1) ||
	    xlb_dp_node_addr_add(dp, &node))
		return -1;
	return 0;
}

static int span_setup(void **state)
{
	dp = xt_dp_open();
	if (!dp)
		return -1;
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
	const struct CMUnitTest span[] = {
		cmocka_unit_test(test_nodeport_update_span),
	};
	int fails;

	xt_init();
	if (topology())
		return 1;
	fails = xt_run_table("external: node ports, LoadBalancer and external IPs", test_scenario,
			     scenarios, sizeof(scenarios[0]), sizeof(scenarios) / sizeof(scenarios[0]),
			     xt_scenario_desc, NULL, NULL, group_setup, NULL);
	if (dp)
		fails += xt_run_table("external: explain says what XDP does", test_explain,
				      explain_cases, sizeof(explain_cases[0]),
				      sizeof(explain_cases) / sizeof(explain_cases[0]),
				      explain_case_desc, NULL, NULL, NULL, group_teardown);
	fails += cmocka_run_group_tests_name("external: a node port handshake across an update",
					     span, span_setup, group_teardown);
	return fails ? 1 : 0;
}
