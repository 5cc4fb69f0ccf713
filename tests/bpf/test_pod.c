// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The pod veth programs (tc) seen from the packets. The test's own network
 * namespace is a node with two pods and a fabric link, wired as a CNI
 * wires them (host ends without address, a /32 route per pod):
 *
 *   lxc1 02:00:00:00:01:01 (peer pod1 02:00:00:00:01:02)  10.244.1.11/32 dev lxc1
 *   lxc2 02:00:00:00:02:01 (peer pod2 02:00:00:00:02:02)  10.244.1.12/32 dev lxc2
 *   fab0 02:00:00:00:00:f0 192.168.50.11/24               10.244.2.0/24 via 192.168.50.12
 *   neighbours (permanent): 10.244.1.12 -> pod2's MAC on lxc2,
 *                           192.168.50.12 -> 02:00:00:00:00:f2 on fab0
 *
 * xlb is attached to lxc1 and lxc2 (tc ingress and egress), so both are
 * pod veths. A packet "leaves a pod" through BPF_PROG_TEST_RUN of
 * xlb_from_pod with the ifindex of its host end, and "enters a pod"
 * through xlb_to_pod. The expected frames are rebuilt from scratch with
 * fresh checksums, so every incremental update is checked to the bit
 * (test_run hands the program a full checksum, CHECKSUM_NONE; partial
 * checksums are the e2e's, with real pods).
 */
#include "flow.h"

#include <net/if.h>
#include <linux/pkt_cls.h>

static struct xlb_dp *dp;
static uint32_t if_lxc1, if_lxc2, if_fab0;

#define POD1		"10.244.1.11"
#define POD2		"10.244.1.12"
#define REMOTE		"10.244.2.11"
#define HAIRPIN		"169.254.42.1"
#define VIP_LOCAL	"10.96.1.1"	/* -> pod2:8080 */
#define VIP_REMOTE	"10.96.1.2"	/* -> 10.244.2.11:8080 (TCP), :5353 (UDP) */
#define VIP_SELF	"10.96.1.3"	/* -> pod1:8080, pod1's own service */
#define VIP_EMPTY	"10.96.1.4"	/* no endpoints */
#define VIP_GONE	"10.96.1.5"	/* its backend is replaced mid-flow */
#define VIP_LOCALPOL	"10.96.1.6"	/* internalTrafficPolicy Local, node port 30081 */
#define VIP_AFF		"10.96.1.7"	/* ClientIP affinity -> 10.244.2.11:8080 */
#define NODE_IP		"192.168.50.11"	/* fab0's */

#define MAC_LXC1	{ 0x02, 0x00, 0x00, 0x00, 0x01, 0x01 }
#define MAC_POD1	{ 0x02, 0x00, 0x00, 0x00, 0x01, 0x02 }
#define MAC_LXC2	{ 0x02, 0x00, 0x00, 0x00, 0x02, 0x01 }
#define MAC_POD2	{ 0x02, 0x00, 0x00, 0x00, 0x02, 0x02 }

#define ISN_C		0x11223344u
#define ISN_B		0x55667788u

/* Symbolic devices, resolved once they exist. */
#define LXC1		1000001u
#define LXC2		1000002u
#define FAB0		1000003u

enum pod_hook { FROM_POD = 0, TO_POD = 1, FROM_NIC = 2 };

struct pod_step {
	const char *what;		/* NULL ends the scenario */
	enum pod_hook hook;
	uint32_t ifindex;		/* LXC1 / LXC2 */
	struct pkt_desc pkt;
	int verdict;			/* TC_ACT_* */
	struct xt_rewrite out;
	enum xlb_pod_stat stat;		/* the one outcome counter that moves */
	const struct pkt_desc *answer;	/* a packet sent back instead (a reset) */
};

struct pod_scenario {
	const char *desc;
	struct pod_step steps[XT_MAX_STEPS];
};

/* A frame pod1 sends (to its gateway: lxc1's MAC) / pod2 sends. */
#define FROM_P1(da, id)	.eth_dst = MAC_LXC1, .eth_src = MAC_POD1, .saddr = POD1, .daddr = da, \
			.ip_id = id, .ttl = 64, .frag = PKT_IP_DF
#define FROM_P2(da, id)	.eth_dst = MAC_LXC2, .eth_src = MAC_POD2, .saddr = POD2, .daddr = da, \
			.ip_id = id, .ttl = 64, .frag = PKT_IP_DF
/* A reply from elsewhere, routed by the node into pod1. */
#define TO_P1(sa, id)	.eth_dst = MAC_POD1, .eth_src = MAC_LXC1, .saddr = sa, .daddr = POD1, \
			.ip_id = id, .ttl = 62, .frag = PKT_IP_DF
#define TCPH(sp, dp, fl, sq, ak) \
	.proto = IPPROTO_TCP, .sport = sp, .dport = dp, .tcp_flags = fl, .seq = sq, .ack = ak, \
	.window = 502
#define ETH(s, d)	.eth = true, .eth_src = s, .eth_dst = d

/* The resets pod1 gets back (from the address and port it called, TTL 64,
 * DF, no options, window 0). */
static const struct pkt_desc rst_empty = {	/* to its SYN: RST|ACK, ack = ISN + 1 */
	.eth_dst = MAC_POD1, .eth_src = MAC_LXC1, .saddr = VIP_EMPTY, .daddr = POD1,
	.ttl = 64, .frag = PKT_IP_DF, .proto = IPPROTO_TCP, .sport = 80, .dport = 40004,
	.tcp_flags = PKT_RST | PKT_ACK, .seq = 0, .ack = ISN_C + 1,
};
static const struct pkt_desc rst_gone = {	/* to an ACK: RST, seq = its ack */
	.eth_dst = MAC_POD1, .eth_src = MAC_LXC1, .saddr = VIP_GONE, .daddr = POD1,
	.ttl = 64, .frag = PKT_IP_DF, .proto = IPPROTO_TCP, .sport = 80, .dport = 40005,
	.tcp_flags = PKT_RST, .seq = ISN_B + 1,
};

static const struct pod_scenario scenarios[] = {
	{ "local backend: both directions redirected between the pods, never the stack",
	  { { "pod1 SYN to the service: DNAT to pod2, Ethernet for pod2, redirect_peer(lxc2)",
	      FROM_POD, LXC1, { FROM_P1(VIP_LOCAL, 0x101), TCPH(40000, 80, PKT_SYN, ISN_C, 0),
				.tcp_opt_len = 20 },
	      TC_ACT_REDIRECT, { .daddr = POD2, .dport = 8080, ETH(MAC_LXC2, MAC_POD2) },
	      XLB_POD_FWD_LOCAL, NULL },
	    { "pod2 SYN-ACK: source back to the service, Ethernet for pod1, redirect_peer(lxc1)",
	      FROM_POD, LXC2, { FROM_P2(POD1, 0x201), TCPH(8080, 40000, PKT_SYN | PKT_ACK, ISN_B,
							   ISN_C + 1), .tcp_opt_len = 20 },
	      TC_ACT_REDIRECT, { .saddr = VIP_LOCAL, .sport = 80, ETH(MAC_LXC1, MAC_POD1) },
	      XLB_POD_REV_LOCAL, NULL },
	    { "pod1 ACK with 1000 bytes: the flow's DNAT again",
	      FROM_POD, LXC1, { FROM_P1(VIP_LOCAL, 0x102), TCPH(40000, 80, PKT_ACK | PKT_PSH,
								ISN_C + 1, ISN_B + 1),
				.payload_len = 1000 },
	      TC_ACT_REDIRECT, { .daddr = POD2, .dport = 8080, ETH(MAC_LXC2, MAC_POD2) },
	      XLB_POD_FWD_LOCAL, NULL },
	  } },
	{ "remote backend: both directions through the stack, NAT on pod1's veth both ways",
	  { { "pod1 SYN: DNAT to 10.244.2.11, Ethernet untouched, TC_ACT_OK",
	      FROM_POD, LXC1, { FROM_P1(VIP_REMOTE, 0x111), TCPH(40001, 80, PKT_SYN, ISN_C, 0) },
	      TC_ACT_OK, { .daddr = REMOTE, .dport = 8080 }, XLB_POD_FWD_STACK, NULL },
	    { "SYN-ACK routed into pod1: source back to the service on lxc1's egress",
	      TO_POD, LXC1, { TO_P1(REMOTE, 0x211), TCPH(8080, 40001, PKT_SYN | PKT_ACK, ISN_B,
							    ISN_C + 1) },
	      TC_ACT_OK, { .saddr = VIP_REMOTE, .sport = 80 }, XLB_POD_REV_STACK, NULL },
	    { "the same SYN-ACK leaving pod2 (not this flow's path): passed untouched",
	      FROM_POD, LXC2, { FROM_P2(POD1, 0x212), TCPH(8080, 40001, PKT_SYN | PKT_ACK, ISN_B,
							   ISN_C + 1) },
	      TC_ACT_UNSPEC, { 0 }, XLB_POD_PASS, NULL },
	  } },
	{ "remote backend, UDP: request and reply, a zero checksum stays zero",
	  { { "pod1 datagram: DNAT to 10.244.2.11:5353",
	      FROM_POD, LXC1, { FROM_P1(VIP_REMOTE, 0x121), .proto = IPPROTO_UDP, .sport = 50000,
				.dport = 53, .payload_len = 40 },
	      TC_ACT_OK, { .daddr = REMOTE, .dport = 5353 }, XLB_POD_FWD_STACK, NULL },
	    { "reply into pod1: source back to the service",
	      TO_POD, LXC1, { TO_P1(REMOTE, 0x221), .proto = IPPROTO_UDP, .sport = 5353,
			      .dport = 50000, .payload_len = 100 },
	      TC_ACT_OK, { .saddr = VIP_REMOTE, .sport = 53 }, XLB_POD_REV_STACK, NULL },
	    { "pod1 datagram without checksum: DNAT, the field stays 0",
	      FROM_POD, LXC1, { FROM_P1(VIP_REMOTE, 0x122), .proto = IPPROTO_UDP, .sport = 50001,
				.dport = 53, .payload_len = 40, .udp_csum_zero = true },
	      TC_ACT_OK, { .daddr = REMOTE, .dport = 5353 }, XLB_POD_FWD_STACK, NULL },
	  } },
	{ "hairpin: pod1 calls its own service and answers itself, seen from 169.254.42.1",
	  { { "pod1 SYN: DNAT to itself, source 169.254.42.1, back into pod1",
	      FROM_POD, LXC1, { FROM_P1(VIP_SELF, 0x131), TCPH(40002, 80, PKT_SYN, ISN_C, 0) },
	      TC_ACT_REDIRECT, { .saddr = HAIRPIN, .daddr = POD1, .dport = 8080,
				 ETH(MAC_LXC1, MAC_POD1) }, XLB_POD_FWD_HAIRPIN, NULL },
	    { "pod1 SYN-ACK to 169.254.42.1: from the service to pod1, back into pod1",
	      FROM_POD, LXC1, { FROM_P1(HAIRPIN, 0x231), .sport = 8080, .dport = 40002,
				.proto = IPPROTO_TCP, .tcp_flags = PKT_SYN | PKT_ACK, .seq = ISN_B,
				.ack = ISN_C + 1, .window = 502 },
	      TC_ACT_REDIRECT, { .saddr = VIP_SELF, .sport = 80, .daddr = POD1,
				 ETH(MAC_LXC1, MAC_POD1) }, XLB_POD_REV_LOCAL, NULL },
	  } },
	{ "not a service, and a service without endpoints",
	  { { "pod1 to pod2 directly: untouched, next program",
	      FROM_POD, LXC1, { FROM_P1(POD2, 0x141), TCPH(40003, 8080, PKT_SYN, ISN_C, 0) },
	      TC_ACT_UNSPEC, { 0 }, XLB_POD_PASS, NULL },
	    { "pod1 SYN (with options) to a service without endpoints: a reset back into pod1",
	      FROM_POD, LXC1, { FROM_P1(VIP_EMPTY, 0x142), TCPH(40004, 80, PKT_SYN, ISN_C, 0),
				.tcp_opt_len = 20 },
	      TC_ACT_REDIRECT, { 0 }, XLB_POD_RST_SENT, &rst_empty },
	    { "a UDP datagram's first fragment to the service: DNAT as any datagram (its later "
	      "fragments follow: test_frag_remote)",
	      FROM_POD, LXC1, { .eth_dst = MAC_LXC1, .eth_src = MAC_POD1, .saddr = POD1,
				.daddr = VIP_REMOTE, .ip_id = 0x143, .frag = PKT_IP_MF,
				.proto = IPPROTO_UDP, .sport = 50002, .dport = 53, .payload_len = 40 },
	      TC_ACT_OK, { .daddr = REMOTE, .dport = 5353 }, XLB_POD_FWD_STACK, NULL },
	    { "a TCP segment's first fragment to the service: DNAT as any segment (its later "
	      "fragments follow: test_frag_tcp)",
	      FROM_POD, LXC1, { .eth_dst = MAC_LXC1, .eth_src = MAC_POD1, .saddr = POD1,
				.daddr = VIP_REMOTE, .ip_id = 0x144, .frag = PKT_IP_MF,
				TCPH(40009, 80, PKT_ACK, ISN_C, 0), .payload_len = 40 },
	      TC_ACT_OK, { .daddr = REMOTE, .dport = 8080 }, XLB_POD_FWD_STACK, NULL },
	    { "a first fragment whose TCP header is cut (RFC 1858's tiny fragment): untouched",
	      FROM_POD, LXC1, { .eth_dst = MAC_LXC1, .eth_src = MAC_POD1, .saddr = POD1,
				.daddr = VIP_REMOTE, .ip_id = 0x145, .frag = PKT_IP_MF,
				.proto = IPPROTO_TCP, .sport = 40010, .dport = 80, .cut = 42,
				.tot_len_delta = -12 },
	      TC_ACT_UNSPEC, { 0 }, XLB_POD_PASS, NULL },
	  } },
};

static size_t build_expected(const struct pod_step *s, uint8_t *buf)
{
	struct xt_step x = { .pkt = s->pkt, .out = s->out };

	return xt_build_expected(&x, buf);
}

/* One tc program (hook) run on the frame in[len] entering ifindex (LXC1 /
 * LXC2 / FAB0 or a real one): its verdict, the output exp[elen] to the
 * byte, the one outcome counter stat that moves by one and the event
 * counter ev that moves by n (XLB_POD_STAT_MAX: none); no other counter
 * moves. */
static bool run_raw_ev(const char *what, enum pod_hook hook, uint32_t ifindex, const uint8_t *in,
		       size_t len, int verdict, const uint8_t *exp, size_t elen,
		       enum xlb_pod_stat stat, enum xlb_pod_stat ev, uint64_t n)
{
	static const char *const progs[] = { "xlb_from_pod", "xlb_to_pod", "xlb_from_nic" };
	struct __sk_buff ctx = { 0 };
	struct xt_run r = { 0 };
	uint64_t before[XLB_POD_STAT_MAX], after[XLB_POD_STAT_MAX];
	bool ok;
	int fd;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_out = r.out, .data_size_out = sizeof(r.out),
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);

	fd = xlb_dp_bpf_hook_prog_fd(dp, progs[hook]);
	if (fd < 0)
		fail_msg("%s: program %s: %d", what, progs[hook], fd);
	ctx.ifindex = ifindex == LXC1 ? if_lxc1 : ifindex == LXC2 ? if_lxc2 :
		      ifindex == FAB0 ? if_fab0 : ifindex;
	opts.data_in = in;
	opts.data_size_in = (uint32_t)len;
	xlb_dp_pod_stats(dp, before);
	r.ret = bpf_prog_test_run_opts(fd, &opts);
	r.verdict = opts.retval;
	r.len = opts.data_size_out;
	xlb_dp_pod_stats(dp, after);
	ok = xt_check(what, &r, (uint32_t)verdict, exp, elen);
	for (int i = 0; i < XLB_POD_STAT_MAX; i++) {
		uint64_t want = i == (int)stat ? 1 : i == (int)ev ? n : 0;

		if (after[i] - before[i] != want) {
			print_error("%s: counter %s moved by %llu, expected %llu\n", what,
				    xlb_pod_stat_info(i)->name,
				    (unsigned long long)(after[i] - before[i]),
				    (unsigned long long)want);
			ok = false;
		}
	}
	return ok;
}

static bool run_raw(const char *what, enum pod_hook hook, uint32_t ifindex, const uint8_t *in,
		    size_t len, int verdict, const uint8_t *exp, size_t elen, enum xlb_pod_stat stat)
{
	return run_raw_ev(what, hook, ifindex, in, len, verdict, exp, elen, stat,
			  XLB_POD_STAT_MAX, 0);
}

static bool run_step(const struct pod_step *s, int n)
{
	uint8_t in[PKT_MAX], exp[PKT_MAX];
	size_t len, elen;
	char what[256];

	snprintf(what, sizeof(what), "step %d (%s)", n, s->what);
	len = xt_build(&s->pkt, in);
	if (s->answer)
		elen = xt_build(s->answer, exp);
	else
		elen = s->verdict == TC_ACT_SHOT ? xt_build(&s->pkt, exp) : build_expected(s, exp);
	return run_raw(what, s->hook, s->ifindex, in, len, s->verdict, exp, elen, s->stat);
}

static void test_scenario(void **state)
{
	const struct pod_scenario *sc = *state;
	int i, bad = 0;

	for (i = 0; i < XT_MAX_STEPS && sc->steps[i].what; i++)
		bad += !run_step(&sc->steps[i], i + 1);
	if (bad)
		fail_msg("%d of %d steps failed", bad, i);
}

static const char *scenario_desc(const void *row)
{
	return ((const struct pod_scenario *)row)->desc;
}

/* A flow keeps its backend while it exists; once it is replaced, a packet
 * in the middle of the flow gets a reset and a new SYN on the same tuple is
 * balanced again. */
/* internalTrafficPolicy Local, with a node port: the service address takes
 * the backend on this node only (pod2), the node port both (pod2 and the
 * remote one), round robin by the flow's hash. */
static void test_local_policy(void **state)
{
	struct xlb_service_spec s = xt_svc(VIP_LOCALPOL, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec b[2] = { xt_be(POD2, 8080, 1), xt_be(REMOTE, 8080, 1) };
	struct xlb_ip node = xt_ip(NODE_IP);
	struct xlb_explain_req q = { .hook = XLB_EXPLAIN_POD, .src = xt_ip(POD1), .sport = 41000,
				     .dst = xt_ip(VIP_LOCALPOL), .dport = 80, .proto = IPPROTO_TCP };
	struct xlb_explain x;
	char err[256] = "";
	int n_local = 0, n_remote = 0, bad = 0;
	uint32_t pod2_id;

	(void)state;
	s.type = XLB_SVC_NODE_PORT;
	s.node_port = 30081;
	s.int_policy = XLB_POLICY_LOCAL;
	b[0].local = true;
	XT_SVC_SET(dp, &s, b, 2);
	assert_int_equal(xlb_dp_node_addr_add(dp, &node), 0);
	/* pod2's id: the only one in the service address's table */
	assert_int_equal(xlb_dp_explain(dp, &q, &x, err, sizeof(err)), 0);
	pod2_id = x.backend_id;
	assert_int_not_equal(pod2_id, 0);
	for (int i = 0; i < 4; i++) {
		const struct pod_step st = {
			"SYN to the service address: pod2 only", FROM_POD, LXC1,
			{ FROM_P1(VIP_LOCALPOL, 0x160 + i), TCPH(41000 + i, 80, PKT_SYN, ISN_C, 0) },
			TC_ACT_REDIRECT, { .daddr = POD2, .dport = 8080, ETH(MAC_LXC2, MAC_POD2) },
			XLB_POD_FWD_LOCAL, NULL };

		bad += !run_step(&st, i + 1);
	}
	for (int i = 0; i < 16; i++) {	/* both backends, but for 2^-15 */
		const struct pod_step to_pod2 = {
			"SYN to the node port: pod2", FROM_POD, LXC1,
			{ FROM_P1(NODE_IP, 0x170 + i), TCPH(42000 + i, 30081, PKT_SYN, ISN_C, 0) },
			TC_ACT_REDIRECT, { .daddr = POD2, .dport = 8080, ETH(MAC_LXC2, MAC_POD2) },
			XLB_POD_FWD_LOCAL, NULL };
		const struct pod_step to_remote = {
			"SYN to the node port: the remote backend", FROM_POD, LXC1,
			{ FROM_P1(NODE_IP, 0x170 + i), TCPH(42000 + i, 30081, PKT_SYN, ISN_C, 0) },
			TC_ACT_OK, { .daddr = REMOTE, .dport = 8080 }, XLB_POD_FWD_STACK, NULL };
		/* which one the flow's hash gives, then that it does */
		q.sport = (uint16_t)(42000 + i);
		q.dst = node;
		q.dport = 30081;
		assert_int_equal(xlb_dp_explain(dp, &q, &x, err, sizeof(err)), 0);
		if (x.backend_id == pod2_id) {
			n_local++;
			bad += !run_step(&to_pod2, 5 + i);
		} else {
			n_remote++;
			bad += !run_step(&to_remote, 5 + i);
		}
	}
	if (bad || !n_local || !n_remote)
		fail_msg("%d steps failed; the node port went %d times to pod2, %d to the remote "
			 "backend", bad, n_local, n_remote);
}

static void test_backend_gone(void **state)
{
	struct xlb_service_spec s = xt_svc(VIP_GONE, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec b1 = xt_be(REMOTE, 8080, 1), b2 = xt_be(REMOTE, 9090, 1);
	const struct pod_step steps[] = {
		{ "SYN: DNAT to :8080", FROM_POD, LXC1,
		  { FROM_P1(VIP_GONE, 0x151), TCPH(40005, 80, PKT_SYN, ISN_C, 0) },
		  TC_ACT_OK, { .daddr = REMOTE, .dport = 8080 }, XLB_POD_FWD_STACK, NULL },
		{ "ACK with 100 bytes after the backend was replaced: a reset back into pod1",
		  FROM_POD, LXC1, { FROM_P1(VIP_GONE, 0x152), TCPH(40005, 80, PKT_ACK, ISN_C + 1, ISN_B + 1),
				    .payload_len = 100 },
		  TC_ACT_REDIRECT, { 0 }, XLB_POD_RST_SENT, &rst_gone },
		{ "a new SYN on the same ports: the new backend :9090", FROM_POD, LXC1,
		  { FROM_P1(VIP_GONE, 0x153), TCPH(40005, 80, PKT_SYN, ISN_C + 7, 0) },
		  TC_ACT_OK, { .daddr = REMOTE, .dport = 9090 }, XLB_POD_FWD_STACK, NULL },
	};
	int bad = 0;

	(void)state;
	XT_SVC_SET(dp, &s, &b1, 1);
	bad += !run_step(&steps[0], 1);
	XT_SVC_SET(dp, &s, &b2, 1);
	bad += !run_step(&steps[1], 2);
	bad += !run_step(&steps[2], 3);
	if (bad)
		fail_msg("%d steps failed", bad);
}

static unsigned aff_entries(void)
{
	int fd = xlb_dp_bpf_map_fd(dp, "aff_map");
	struct xlb_aff_key k, *prev = NULL;
	unsigned n = 0;

	assert_true(fd >= 0);
	while (!bpf_map_get_next_key(fd, prev, &k)) {
		prev = &k;
		n++;
	}
	return n;
}

/* ClientIP affinity is written when the flow is established (the client's
 * ACK of the SYN-ACK), as in XDP: a first packet alone writes nothing. */
static void test_affinity_established(void **state)
{
	struct xlb_service_spec s = xt_svc(VIP_AFF, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec b = xt_be(REMOTE, 8080, 1);
	const struct pod_step steps[] = {
		{ "SYN: DNAT to the backend", FROM_POD, LXC1,
		  { FROM_P1(VIP_AFF, 0x181), TCPH(40020, 80, PKT_SYN, ISN_C, 0) },
		  TC_ACT_OK, { .daddr = REMOTE, .dport = 8080 }, XLB_POD_FWD_STACK, NULL },
		{ "SYN-ACK into pod1", TO_POD, LXC1,
		  { TO_P1(REMOTE, 0x281), TCPH(8080, 40020, PKT_SYN | PKT_ACK, ISN_B, ISN_C + 1) },
		  TC_ACT_OK, { .saddr = VIP_AFF, .sport = 80 }, XLB_POD_REV_STACK, NULL },
		{ "pod1's ACK: established", FROM_POD, LXC1,
		  { FROM_P1(VIP_AFF, 0x182), TCPH(40020, 80, PKT_ACK, ISN_C + 1, ISN_B + 1) },
		  TC_ACT_OK, { .daddr = REMOTE, .dport = 8080 }, XLB_POD_FWD_STACK, NULL },
	};
	unsigned n0;
	int bad = 0;

	(void)state;
	s.affinity_timeout = 60;
	XT_SVC_SET(dp, &s, &b, 1);
	n0 = aff_entries();
	bad += !run_step(&steps[0], 1);
	bad += !run_step(&steps[1], 2);
	if (aff_entries() != n0)
		fail_msg("an affinity entry before the flow was established (%u, was %u)",
			 aff_entries(), n0);
	bad += !run_step(&steps[2], 3);
	if (aff_entries() != n0 + 1)
		fail_msg("no affinity entry once established (%u, was %u)", aff_entries(), n0);
	if (bad)
		fail_msg("%d steps failed", bad);
}

#define EXT_CLIENT	"172.16.0.2"
#define MAC_FAB0	{ 0x02, 0x00, 0x00, 0x00, 0x00, 0xf0 }
#define MAC_GW		{ 0x02, 0x00, 0x00, 0x00, 0x00, 0xf2 }
/* A frame of the external client, through the router to fab0. */
#define FROM_EXT(da, id) .eth_dst = MAC_FAB0, .eth_src = MAC_GW, .saddr = EXT_CLIENT, .daddr = da, \
			 .ip_id = id, .ttl = 63, .frag = PKT_IP_DF

/* An XDP step on fab0 (the NIC), through the XDP program's own checks. */
static bool xdp_step(const char *what, struct pkt_desc pkt, const char *daddr, uint16_t dport,
		     enum xlb_stat st, int n)
{
	struct xt_step x = { .what = what, .pkt = pkt, .ifindex = if_fab0, .verdict = XDP_PASS,
			     .out = { .daddr = daddr, .dport = dport },
			     .stats = { XLB_STAT_RX, XLB_STAT_PASS_LOCAL, st } };

	return xt_step_check(dp, &x, n);
}

/* An external client's flow to a node port whose backend is a pod here
 * (issue 13): XDP on the NIC DNATs and passes, tc on the NIC redirects
 * into the pod (bpf_redirect_peer), the pod's replies are NATed back on
 * its veth from XDP's conntrack and sent out the NIC (bpf_redirect_neigh):
 * neither way through the stack's netfilter. Both while the flow is in
 * XDP's first-packet table and once it is established. */
static void test_nic_local(void **state)
{
	struct xlb_service_spec s = xt_svc("10.96.1.8", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec b = xt_be(POD2, 8080, 1);
	struct xlb_ip node = xt_ip(NODE_IP);
	const struct pod_step tc[] = {
		{ "tc on the NIC: the DNATed SYN into pod2, Ethernet for it, redirect_peer(lxc2)",
		  FROM_NIC, FAB0, { FROM_EXT(POD2, 0x301), TCPH(45000, 8080, PKT_SYN, ISN_C, 0),
				    .tcp_opt_len = 20 },
		  TC_ACT_REDIRECT, { ETH(MAC_LXC2, MAC_POD2) }, XLB_POD_NIC_FWD_LOCAL, NULL },
		{ "pod2's SYN-ACK: from the node port again, redirect_neigh out of the NIC",
		  FROM_POD, LXC2, { FROM_P2(EXT_CLIENT, 0x401), TCPH(8080, 45000, PKT_SYN | PKT_ACK,
								     ISN_B, ISN_C + 1),
				    .tcp_opt_len = 20 },
		  TC_ACT_REDIRECT, { .saddr = NODE_IP, .sport = 30083 }, XLB_POD_REV_NIC, NULL },
		{ "tc on the NIC: the DNATed ACK into pod2",
		  FROM_NIC, FAB0, { FROM_EXT(POD2, 0x302), TCPH(45000, 8080, PKT_ACK, ISN_C + 1,
								ISN_B + 1), .payload_len = 100 },
		  TC_ACT_REDIRECT, { ETH(MAC_LXC2, MAC_POD2) }, XLB_POD_NIC_FWD_LOCAL, NULL },
		{ "pod2's answer on the established flow: NATed back, out of the NIC",
		  FROM_POD, LXC2, { FROM_P2(EXT_CLIENT, 0x402), TCPH(8080, 45000, PKT_ACK | PKT_PSH,
								     ISN_B + 1, ISN_C + 101),
				    .payload_len = 1000 },
		  TC_ACT_REDIRECT, { .saddr = NODE_IP, .sport = 30083 }, XLB_POD_REV_NIC, NULL },
		{ "tc on the NIC: a frame to pod2 of no XDP flow: untouched, to the stack",
		  FROM_NIC, FAB0, { FROM_EXT(POD2, 0x303), TCPH(45001, 8080, PKT_SYN, ISN_C, 0) },
		  TC_ACT_UNSPEC, { 0 }, XLB_POD_NIC_PASS, NULL },
		{ "pod2 to the client on ports of no flow: untouched",
		  FROM_POD, LXC2, { FROM_P2(EXT_CLIENT, 0x403), TCPH(8080, 45001, PKT_SYN | PKT_ACK,
								     ISN_B, ISN_C + 1) },
		  TC_ACT_UNSPEC, { 0 }, XLB_POD_PASS, NULL },
	};
	int bad = 0;

	(void)state;
	s.type = XLB_SVC_NODE_PORT;
	s.node_port = 30083;
	b.local = true;
	XT_SVC_SET(dp, &s, &b, 1);
	assert_int_equal(xlb_dp_node_addr_add(dp, &node), 0);
	bad += !xdp_step("XDP: the client's SYN to the node port, DNAT to pod2, passed",
			 (struct pkt_desc){ FROM_EXT(NODE_IP, 0x301),
					    TCPH(45000, 30083, PKT_SYN, ISN_C, 0), .tcp_opt_len = 20 },
			 POD2, 8080, XLB_STAT_CT_NEW, 1);
	bad += !run_step(&tc[0], 2);
	bad += !run_step(&tc[1], 3);
	bad += !xdp_step("XDP: the client's ACK of the SYN-ACK pod2 sent through tc: established",
			 (struct pkt_desc){ FROM_EXT(NODE_IP, 0x302),
					    TCPH(45000, 30083, PKT_ACK, ISN_C + 1, ISN_B + 1),
					    .payload_len = 100 },
			 POD2, 8080, XLB_STAT_CT_ESTABLISHED, 4);
	bad += !run_step(&tc[2], 5);
	bad += !run_step(&tc[3], 6);
	bad += !run_step(&tc[4], 7);
	bad += !run_step(&tc[5], 8);
	if (bad)
		fail_msg("%d steps failed", bad);
}

/* The client reuses its port towards another node port of the same pod
 * (the earlier flow closed, its entries still in XDP's conntrack): the
 * new flow's SYN-ACK is answered from the new node port, not from the
 * stale entry's, and the flow is established. Both flows share their
 * reply tuple (pod2:8080 -> client:45100). */
static void test_nic_reused_port(void **state)
{
	struct xlb_service_spec s1 = xt_svc("10.96.1.9", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_service_spec s2 = xt_svc("10.96.1.10", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec b = xt_be(POD2, 8080, 1);
	struct xlb_ip node = xt_ip(NODE_IP);
	const struct pod_step tc[] = {
		{ "the first flow's SYN into pod2", FROM_NIC, FAB0,
		  { FROM_EXT(POD2, 0x311), TCPH(45100, 8080, PKT_SYN, ISN_C, 0) },
		  TC_ACT_REDIRECT, { ETH(MAC_LXC2, MAC_POD2) }, XLB_POD_NIC_FWD_LOCAL, NULL },
		{ "pod2's SYN-ACK of the first flow: from node port 30086", FROM_POD, LXC2,
		  { FROM_P2(EXT_CLIENT, 0x411), TCPH(8080, 45100, PKT_SYN | PKT_ACK, ISN_B,
						     ISN_C + 1) },
		  TC_ACT_REDIRECT, { .saddr = NODE_IP, .sport = 30086 }, XLB_POD_REV_NIC, NULL },
		{ "pod2's FIN of the first flow: from node port 30086", FROM_POD, LXC2,
		  { FROM_P2(EXT_CLIENT, 0x412), TCPH(8080, 45100, PKT_FIN | PKT_ACK, ISN_B + 1,
						     ISN_C + 2) },
		  TC_ACT_REDIRECT, { .saddr = NODE_IP, .sport = 30086 }, XLB_POD_REV_NIC, NULL },
		{ "the second flow's SYN (same client port) into pod2", FROM_NIC, FAB0,
		  { FROM_EXT(POD2, 0x313), TCPH(45100, 8080, PKT_SYN, ISN_C + 1000, 0) },
		  TC_ACT_REDIRECT, { ETH(MAC_LXC2, MAC_POD2) }, XLB_POD_NIC_FWD_LOCAL, NULL },
		{ "pod2's SYN-ACK of the second flow: from node port 30087, not the stale 30086",
		  FROM_POD, LXC2, { FROM_P2(EXT_CLIENT, 0x413), TCPH(8080, 45100, PKT_SYN | PKT_ACK,
								     ISN_B + 5000, ISN_C + 1001) },
		  TC_ACT_REDIRECT, { .saddr = NODE_IP, .sport = 30087 }, XLB_POD_REV_NIC, NULL },
		{ "pod2's answer on the second flow, established: from node port 30087",
		  FROM_POD, LXC2, { FROM_P2(EXT_CLIENT, 0x414), TCPH(8080, 45100, PKT_ACK | PKT_PSH,
								     ISN_B + 5001, ISN_C + 1001),
				    .payload_len = 20 },
		  TC_ACT_REDIRECT, { .saddr = NODE_IP, .sport = 30087 }, XLB_POD_REV_NIC, NULL },
	};
	int bad = 0;

	(void)state;
	s1.type = s2.type = XLB_SVC_NODE_PORT;
	s1.node_port = 30086;
	s2.node_port = 30087;
	b.local = true;
	XT_SVC_SET(dp, &s1, &b, 1);
	XT_SVC_SET(dp, &s2, &b, 1);
	assert_int_equal(xlb_dp_node_addr_add(dp, &node), 0);
	bad += !xdp_step("XDP: the first flow's SYN to node port 30086",
			 (struct pkt_desc){ FROM_EXT(NODE_IP, 0x311),
					    TCPH(45100, 30086, PKT_SYN, ISN_C, 0) },
			 POD2, 8080, XLB_STAT_CT_NEW, 1);
	bad += !run_step(&tc[0], 2);
	bad += !run_step(&tc[1], 3);
	bad += !xdp_step("XDP: the first flow's ACK: established",
			 (struct pkt_desc){ FROM_EXT(NODE_IP, 0x312),
					    TCPH(45100, 30086, PKT_ACK, ISN_C + 1, ISN_B + 1) },
			 POD2, 8080, XLB_STAT_CT_ESTABLISHED, 4);
	bad += !run_step(&tc[2], 5);
	bad += !xdp_step("XDP: the second flow's SYN, same client port, to node port 30087",
			 (struct pkt_desc){ FROM_EXT(NODE_IP, 0x313),
					    TCPH(45100, 30087, PKT_SYN, ISN_C + 1000, 0) },
			 POD2, 8080, XLB_STAT_CT_NEW, 6);
	bad += !run_step(&tc[3], 7);
	bad += !run_step(&tc[4], 8);
	bad += !xdp_step("XDP: the second flow's ACK of that SYN-ACK: established",
			 (struct pkt_desc){ FROM_EXT(NODE_IP, 0x314),
					    TCPH(45100, 30087, PKT_ACK, ISN_C + 1001, ISN_B + 5001) },
			 POD2, 8080, XLB_STAT_CT_ESTABLISHED, 9);
	bad += !run_step(&tc[5], 10);
	if (bad)
		fail_msg("%d steps failed", bad);
}

/* XDP on fab0 runs on in[len]: verdict, output exp[elen] to the byte, and
 * the counters a and b (0: none) move by one. */
static bool xdp_raw(const char *what, const uint8_t *in, size_t len, uint32_t verdict,
		    const uint8_t *exp, size_t elen, enum xlb_stat a, enum xlb_stat b)
{
	struct xt_stats before = xt_stats(dp), after;
	struct xt_run r;
	bool ok;

	xt_run(dp, in, len, if_fab0, &r);
	after = xt_stats(dp);
	ok = xt_check(what, &r, verdict, exp, elen);
	if (xt_delta(&after, &before, a) != 1 || (b && xt_delta(&after, &before, b) != 1)) {
		print_error("%s: %s or %s did not move by one\n", what, xlb_stat_name(a),
			    xlb_stat_name(b));
		xt_stats_print(&after, &before);
		ok = false;
	}
	return ok;
}

/* A step of the front node's DSR tests: the client's frame on fab0, its
 * verdict, the counters that move, and whether it is answered with ICMP
 * fragmentation needed (else a redirect is it inside IPIP). */
struct dsr_step {
	const char *what;
	struct pkt_desc pkt;
	uint32_t verdict;
	enum xlb_stat a, b;
	bool icmp;
};

/* Run steps[n] on fab0: a redirect must be the frame inside IPIP from the
 * node to backend be via the next hop's MAC nh; an answer, fragmentation
 * needed with mtu from the node port; a drop leaves the frame as it came.
 * The number of steps that failed. */
static int dsr_front_steps(const struct dsr_step *steps, size_t n, const char *be,
			   const uint8_t *nh, uint16_t mtu)
{
	static const uint8_t mac_fab0[6] = MAC_FAB0, mac_gw[6] = MAC_GW;
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t in[PKT_MAX], exp[PKT_MAX];
		size_t len = xt_build(&steps[i].pkt, in), elen;

		if (steps[i].icmp) {
			elen = xt_icmp_error(mac_gw, mac_fab0, NODE_IP, EXT_CLIENT, 0xc0, 0, 3, 4, mtu,
					     &steps[i].pkt, IP4_HDR_LEN + 8, exp);
		} else if (steps[i].verdict == XDP_REDIRECT) {
			elen = xt_ipip_wrap(in, len, mac_fab0, nh, NODE_IP, be, exp);
		} else {
			memcpy(exp, in, len);
			elen = len;
		}
		bad += !xdp_raw(steps[i].what, in, len, steps[i].verdict, exp, elen, steps[i].a,
				steps[i].b);
	}
	return bad;
}

/* This node as the front node: a node port whose backend is a pod on
 * another node, lb-mode dsr. The client's packets leave fab0 whole inside
 * an IPIP header from the node's address to the pod's, towards the pod's
 * node (its MAC): no DNAT, no SNAT port; conntrack keeps the flow (the
 * client's ACK establishes it: the replies never come this way). A DF
 * frame that the outer header makes too big for fab0 is answered with
 * ICMP fragmentation needed, MTU 1480, from the node port; one without DF
 * is dropped, counted. */
static void test_dsr_front(void **state)
{
	struct xlb_service_spec s = xt_svc("10.96.1.11", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec b = xt_be(REMOTE, 8080, 1);
	struct xlb_ip node = xt_ip(NODE_IP);
	static const uint8_t mac_gw[6] = MAC_GW;
	const struct dsr_step steps[] = {	/* answers: fragmentation needed, MTU 1480 */
		{ "SYN 172.16.0.2:45200 -> 192.168.50.11:30088: IPIP to 10.244.2.11 via its node",
		  { FROM_EXT(NODE_IP, 0x501), TCPH(45200, 30088, PKT_SYN, ISN_C, 0), .tcp_opt_len = 20,
		    .tos = 0x10 },
		  XDP_REDIRECT, XLB_STAT_CT_NEW, XLB_STAT_FWD_DSR, false },
		{ "the client's ACK with 100 bytes: established (no SYN-ACK ever seen here), IPIP",
		  { FROM_EXT(NODE_IP, 0x502), TCPH(45200, 30088, PKT_ACK, ISN_C + 1, ISN_B + 1),
		    .payload_len = 100 },
		  XDP_REDIRECT, XLB_STAT_CT_ESTABLISHED, XLB_STAT_FWD_DSR, false },
		{ "1440 bytes on the established flow: a 1514-byte frame outside, IPIP",
		  { FROM_EXT(NODE_IP, 0x503), TCPH(45200, 30088, PKT_ACK | PKT_PSH, ISN_C + 101,
						   ISN_B + 1), .payload_len = 1440 },
		  XDP_REDIRECT, XLB_STAT_CT_HIT, XLB_STAT_FWD_DSR, false },
		{ "1460 bytes with DF: 1534 bytes with the outer header, over fab0's MTU: ICMP "
		  "fragmentation needed, MTU 1480, from 192.168.50.11 to the client, out of fab0",
		  { FROM_EXT(NODE_IP, 0x504), TCPH(45200, 30088, PKT_ACK | PKT_PSH, ISN_C + 1541,
						   ISN_B + 1), .payload_len = 1460 },
		  XDP_REDIRECT, XLB_STAT_CT_HIT, XLB_STAT_ICMP_FRAG_SENT, true },
		{ "the same without DF: dropped (drop_dsr_too_big)",
		  { .eth_dst = MAC_FAB0, .eth_src = MAC_GW, .saddr = EXT_CLIENT, .daddr = NODE_IP,
		    .ip_id = 0x505, .ttl = 63, TCPH(45200, 30088, PKT_ACK | PKT_PSH, ISN_C + 1541,
						      ISN_B + 1), .payload_len = 1460 },
		  XDP_DROP, XLB_STAT_CT_HIT, XLB_STAT_DROP_DSR_TOO_BIG, false },
		{ "UDP 172.16.0.2:45201 -> 192.168.50.11:30088 (no UDP service there): untouched",
		  { FROM_EXT(NODE_IP, 0x505), .proto = IPPROTO_UDP, .sport = 45201, .dport = 30088,
		    .payload_len = 20 },
		  XDP_PASS, XLB_STAT_PASS_NOT_SERVICE, 0, false },
	};
	int bad;

	(void)state;
	s.type = XLB_SVC_NODE_PORT;
	s.node_port = 30088;
	s.lb_mode = XLB_LB_MODE_DSR;
	b.remote = true;
	XT_SVC_SET(dp, &s, &b, 1);
	xlb_dp_node_addr_add(dp, &node);	/* test_nic_local may have added it */
	bad = dsr_front_steps(steps, sizeof(steps) / sizeof(steps[0]), REMOTE, mac_gw, 1480);
	if (bad)
		fail_msg("%zu steps, %d failed", sizeof(steps) / sizeof(steps[0]), bad);
}

/* This node as the backend's node: another node (192.168.50.12) sends a
 * client's packets to its node port IPIP-encapsulated to pod2. tc on the
 * NIC takes the outer header off, DNATs to pod2:8080 and redirects into
 * it; pod2's replies leave from 192.168.50.12:30089, the address the
 * client used, out of the NIC (redirect_neigh), neither way through the
 * stack. IPIP for anything else is left to the stack untouched. */
static void test_dsr_back(void **state)
{
	struct xlb_service_spec s = xt_svc("10.96.1.12", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec b = xt_be(POD2, 8080, 1);
	static const uint8_t mac_fab0[6] = MAC_FAB0, mac_gw[6] = MAC_GW;
	const struct pkt_desc in_syn = { FROM_EXT("192.168.50.12", 0x601),
					 TCPH(45300, 30089, PKT_SYN, ISN_C, 0), .tcp_opt_len = 20 };
	const struct pkt_desc in_ack = { FROM_EXT("192.168.50.12", 0x602),
					 TCPH(45300, 30089, PKT_ACK, ISN_C + 1, ISN_B + 1),
					 .payload_len = 100 };
	const struct pkt_desc in_other = { FROM_EXT("192.168.50.12", 0x603),
					   TCPH(45301, 30099, PKT_SYN, ISN_C, 0) };
	const struct pod_step tc[] = {
		{ "pod2's SYN-ACK: from 192.168.50.12:30089, redirect_neigh out of the NIC",
		  FROM_POD, LXC2, { FROM_P2(EXT_CLIENT, 0x701), TCPH(8080, 45300, PKT_SYN | PKT_ACK,
								     ISN_B, ISN_C + 1),
				    .tcp_opt_len = 20 },
		  TC_ACT_REDIRECT, { .saddr = "192.168.50.12", .sport = 30089 }, XLB_POD_REV_NIC,
		  NULL },
		{ "pod2's answer: the same",
		  FROM_POD, LXC2, { FROM_P2(EXT_CLIENT, 0x702), TCPH(8080, 45300, PKT_ACK | PKT_PSH,
								     ISN_B + 1, ISN_C + 101),
				    .payload_len = 1000 },
		  TC_ACT_REDIRECT, { .saddr = "192.168.50.12", .sport = 30089 }, XLB_POD_REV_NIC,
		  NULL },
	};
	const struct {
		const char *what;
		const struct pkt_desc *inner;
		int verdict;
		enum xlb_pod_stat stat;
	} nic[] = {
		{ "IPIP SYN to pod2 (inner: to 192.168.50.12:30089): decapsulated, DNAT to "
		  "10.244.1.12:8080, Ethernet for pod2, redirect_peer(lxc2)",
		  &in_syn, TC_ACT_REDIRECT, XLB_POD_NIC_DSR },
		{ "IPIP ACK with 100 bytes: the same", &in_ack, TC_ACT_REDIRECT, XLB_POD_NIC_DSR },
		{ "IPIP to pod2 for a port no service has: untouched, to the stack", &in_other,
		  TC_ACT_UNSPEC, XLB_POD_NIC_PASS },
	};
	int bad = 0, n = 0;

	(void)state;
	s.type = XLB_SVC_NODE_PORT;
	s.node_port = 30089;
	b.local = true;
	XT_SVC_SET(dp, &s, &b, 1);
	for (size_t i = 0; i < sizeof(nic) / sizeof(nic[0]); i++) {
		uint8_t inner[PKT_MAX], in[PKT_MAX], exp[PKT_MAX];
		size_t ilen = xt_build(nic[i].inner, inner), len, elen;
		char what[256];

		len = xt_ipip_wrap(inner, ilen, mac_gw, mac_fab0, "192.168.50.12", POD2, in);
		if (nic[i].verdict == TC_ACT_REDIRECT) {
			struct xt_step x = { .pkt = *nic[i].inner,
					     .out = { .daddr = POD2, .dport = 8080,
						      ETH(MAC_LXC2, MAC_POD2) } };

			elen = xt_build_expected(&x, exp);
		} else {
			memcpy(exp, in, len);
			elen = len;
		}
		snprintf(what, sizeof(what), "step %d (%s)", ++n, nic[i].what);
		bad += !run_raw(what, FROM_NIC, FAB0, in, len, nic[i].verdict, exp, elen,
				nic[i].stat);
		if (i == 0)
			bad += !run_step(&tc[0], ++n);
		if (i == 1)
			bad += !run_step(&tc[1], ++n);
	}
	if (bad)
		fail_msg("%d steps, %d failed", n, bad);
}

/*
 * Fragments (bpf/lib/frag.h): a UDP datagram of 3,028 bytes cut in three
 * at 1,500, as a pod's stack or a router cuts it (pkt_fragment). The
 * expected fragments are cut from the datagram rebuilt with the
 * translated addresses and ports, so the first one's UDP checksum (the
 * whole datagram's) and every header checksum are checked to the bit.
 */
#define FRAG_PAYLOAD	3000
#define FRAG_DATA	1480

/* Fragment i of d (rewritten by out when out is given). */
static size_t pod_frag(const struct pkt_desc *d, const struct xt_rewrite *out, int i,
		       uint8_t *buf)
{
	return xt_fragment(d, out, i, FRAG_DATA, buf);
}

static bool frag_step(const char *what, enum pod_hook hook, uint32_t ifindex,
		      const struct pkt_desc *d, int i, int verdict, const struct xt_rewrite *out,
		      enum xlb_pod_stat stat)
{
	uint8_t in[PKT_MAX], exp[PKT_MAX];
	size_t len = pod_frag(d, NULL, i, in), elen = pod_frag(d, out, i, exp);

	print_message("  %s, fragment %d\n", what, i);
	return run_raw(what, hook, ifindex, in, len, verdict, exp, elen, stat);
}

/* A fragment through tc that moves event ev by n besides stat. */
static bool frag_step_ev(const char *what, enum pod_hook hook, uint32_t ifindex,
			 const struct pkt_desc *d, int i, int verdict, const struct xt_rewrite *out,
			 enum xlb_pod_stat stat, enum xlb_pod_stat ev, uint64_t n)
{
	uint8_t in[PKT_MAX], exp[PKT_MAX];
	size_t len = pod_frag(d, NULL, i, in), elen = pod_frag(d, out, i, exp);

	print_message("  %s, fragment %d\n", what, i);
	return run_raw_ev(what, hook, ifindex, in, len, verdict, exp, elen, stat, ev, n);
}

/* Pod1's datagram d, every fragment DNATed by fwd through the stack, and
 * the answer r into pod1, every fragment (first, last, middle) NATed back
 * by rev: how many steps failed. */
static int frag_round_trip(const char *what, const struct pkt_desc *d,
			   const struct xt_rewrite *fwd, const struct pkt_desc *r,
			   const struct xt_rewrite *rev)
{
	int bad = 0;

	for (int i = 0; i < 3; i++)
		bad += !frag_step(what, FROM_POD, LXC1, d, i, TC_ACT_OK, fwd, XLB_POD_FWD_STACK);
	for (int i = 0; i < 3; i++)
		bad += !frag_step("the answer into pod1 (first, last, middle): from the service",
				  TO_POD, LXC1, r, (int[]){ 0, 2, 1 }[i], TC_ACT_OK, rev,
				  XLB_POD_REV_STACK);
	return bad;
}

/* A ClusterIP from a pod, the backend elsewhere: every fragment DNATed on
 * the way out of the pod, every fragment of the answer NATed back on the
 * way in once its first came; a fragment of an unknown datagram is passed
 * untouched. */
static void test_frag_remote(void **state)
{
	const struct pkt_desc d = { FROM_P1(VIP_REMOTE, 0x501), .proto = IPPROTO_UDP,
				    .sport = 50010, .dport = 53, .payload_len = FRAG_PAYLOAD };
	const struct pkt_desc r = { TO_P1(REMOTE, 0x601), .proto = IPPROTO_UDP, .sport = 5353,
				    .dport = 50010, .payload_len = FRAG_PAYLOAD };
	struct pkt_desc u = d;
	const struct xt_rewrite fwd = { .daddr = REMOTE, .dport = 5353 };
	const struct xt_rewrite rev = { .saddr = VIP_REMOTE, .sport = 53 };
	const struct xt_rewrite same = { 0 };
	int bad = 0;

	(void)state;
	bad += frag_round_trip("pod1's datagram to 10.96.1.2:53: DNAT to 10.244.2.11:5353", &d,
			       &fwd, &r, &rev);
	u.ip_id = 0x502;
	bad += !frag_step("a later fragment of a datagram whose first was not seen: untouched",
			  FROM_POD, LXC1, &u, 1, TC_ACT_UNSPEC, &same, XLB_POD_PASS_FRAGMENT);
	if (bad)
		fail_msg("%d steps failed", bad);
}

/* A ClusterIP whose backend is a pod of this node: each fragment
 * redirected into the backend's pod, each of the answer's into the
 * client's. */
static void test_frag_local(void **state)
{
	struct xlb_service_spec s = xt_svc(VIP_LOCAL, 53, IPPROTO_UDP, XLB_ALGO_RR);
	struct xlb_backend_spec b = xt_be(POD2, 5353, 1);
	const struct pkt_desc d = { FROM_P1(VIP_LOCAL, 0x511), .proto = IPPROTO_UDP,
				    .sport = 50011, .dport = 53, .payload_len = FRAG_PAYLOAD };
	const struct pkt_desc r = { FROM_P2(POD1, 0x611), .proto = IPPROTO_UDP, .sport = 5353,
				    .dport = 50011, .payload_len = FRAG_PAYLOAD };
	const struct xt_rewrite fwd = { .daddr = POD2, .dport = 5353, ETH(MAC_LXC2, MAC_POD2) };
	const struct xt_rewrite rev = { .saddr = VIP_LOCAL, .sport = 53, ETH(MAC_LXC1, MAC_POD1) };
	int bad = 0;

	(void)state;
	XT_SVC_SET(dp, &s, &b, 1);
	for (int i = 0; i < 3; i++)
		bad += !frag_step("pod1's datagram to 10.96.1.1:53: DNAT to pod2, into pod2",
				  FROM_POD, LXC1, &d, i, TC_ACT_REDIRECT, &fwd, XLB_POD_FWD_LOCAL);
	for (int i = 0; i < 3; i++)
		bad += !frag_step("pod2's answer: from the service, into pod1", FROM_POD, LXC2, &r,
				  i, TC_ACT_REDIRECT, &rev, XLB_POD_REV_LOCAL);
	if (bad)
		fail_msg("%d steps failed", bad);
}

/* A fragment through XDP on the NIC: verdict, bytes, the counters. */
static bool xdp_frag_step(const char *what, const struct pkt_desc *d, int i,
			  const struct xt_rewrite *out, enum xlb_stat s1, enum xlb_stat s2)
{
	uint8_t in[PKT_MAX], exp[PKT_MAX];
	size_t len = pod_frag(d, NULL, i, in), elen = pod_frag(d, out, i, exp);
	struct xt_stats before = xt_stats(dp), after;
	struct xt_run r;
	bool ok;

	print_message("  %s, fragment %d\n", what, i);
	xt_run(dp, in, len, if_fab0, &r);
	after = xt_stats(dp);
	ok = xt_check(what, &r, XDP_PASS, exp, elen);
	if (xt_delta(&after, &before, s1) != 1 || xt_delta(&after, &before, s2) != 1) {
		xt_stats_print(&after, &before);
		ok = false;
	}
	return ok;
}

/* An external client's datagram to a node port whose backend is a pod of
 * this node: XDP DNATs each fragment and passes it, tc on the NIC
 * redirects each into the pod, and the pod's answer is NATed back on its
 * veth, every fragment, and sent out of the NIC. */
static void test_frag_nic_local(void **state)
{
	struct xlb_service_spec s = xt_svc("10.96.1.9", 53, IPPROTO_UDP, XLB_ALGO_RR);
	struct xlb_backend_spec b = xt_be(POD2, 5353, 1);
	struct xlb_ip node = xt_ip(NODE_IP);
	const struct pkt_desc d = { FROM_EXT(NODE_IP, 0x701), .proto = IPPROTO_UDP,
				    .sport = 45100, .dport = 30084, .payload_len = FRAG_PAYLOAD };
	const struct pkt_desc r = { FROM_P2(EXT_CLIENT, 0x801), .proto = IPPROTO_UDP,
				    .sport = 5353, .dport = 45100, .payload_len = FRAG_PAYLOAD };
	const struct xt_rewrite dnat = { .daddr = POD2, .dport = 5353 };
	const struct xt_rewrite into = { .daddr = POD2, .dport = 5353, ETH(MAC_LXC2, MAC_POD2) };
	const struct xt_rewrite rev = { .saddr = NODE_IP, .sport = 30084 };
	const struct xt_rewrite same = { 0 };
	struct pkt_desc dn = d;
	int bad = 0;

	(void)state;
	s.type = XLB_SVC_NODE_PORT;
	s.node_port = 30084;
	b.local = true;
	XT_SVC_SET(dp, &s, &b, 1);
	assert_int_equal(xlb_dp_node_addr_add(dp, &node), 0);
	bad += !xdp_frag_step("XDP: first fragment to the node port, DNAT to pod2, passed", &d, 0,
			      &dnat, XLB_STAT_CT_NEW, XLB_STAT_PASS_LOCAL);
	for (int i = 1; i < 3; i++)
		bad += !xdp_frag_step("XDP: a later fragment, DNAT (addresses), passed", &d, i,
				      &dnat, XLB_STAT_FRAG_FOLLOW, XLB_STAT_PASS_FRAGMENT);
	dn.daddr = POD2;
	dn.dport = 5353;
	for (int i = 0; i < 3; i++)
		bad += !frag_step("tc on the NIC: into pod2", FROM_NIC, FAB0, &dn, i,
				  TC_ACT_REDIRECT, &into, XLB_POD_NIC_FWD_LOCAL);
	for (int i = 0; i < 3; i++)
		bad += !frag_step("pod2's answer: from the node port, out of the NIC", FROM_POD,
				  LXC2, &r, i, TC_ACT_REDIRECT, &rev, XLB_POD_REV_NIC);
	/* the flow's next datagram, its last fragment first at tc on the NIC */
	dn.ip_id = 0x702;
	bad += !frag_step("tc on the NIC: a last fragment before its first: untouched", FROM_NIC,
			  FAB0, &dn, 2, TC_ACT_UNSPEC, &same, XLB_POD_NIC_PASS);
	bad += !frag_step_ev("tc on the NIC: then its first: into pod2, one counted as come "
			     "before it", FROM_NIC, FAB0, &dn, 0, TC_ACT_REDIRECT, &into,
			     XLB_POD_NIC_FWD_LOCAL, XLB_POD_FRAG_BEFORE_FIRST, 1);
	bad += !frag_step("tc on the NIC: then its middle one: into pod2", FROM_NIC, FAB0, &dn, 1,
			  TC_ACT_REDIRECT, &into, XLB_POD_NIC_FWD_LOCAL);
	if (bad)
		fail_msg("%d steps failed", bad);
}

/* A TCP segment of 3,000 bytes (DF clear: a sender without path MTU
 * discovery, a tunnel) cut in three, both ways, as a UDP datagram is
 * (Cilium's fragment tracking serves both alike): the first fragment
 * holds the TCP header and goes the usual way (its checksum, the whole
 * segment's, updated; the flow's TCP state follows its flags), the later
 * ones follow by the ports it left. */
static void test_frag_tcp(void **state)
{
	const struct pkt_desc d = { .eth_dst = MAC_LXC1, .eth_src = MAC_POD1, .saddr = POD1,
				    .daddr = VIP_REMOTE, .ip_id = 0x521, .ttl = 64,
				    TCPH(40020, 80, PKT_ACK | PKT_PSH, ISN_C, ISN_B),
				    .payload_len = FRAG_PAYLOAD - 20 };
	const struct pkt_desc r = { TO_P1(REMOTE, 0x621),
				    TCPH(8080, 40020, PKT_ACK | PKT_PSH, ISN_B, ISN_C + 2980),
				    .payload_len = FRAG_PAYLOAD - 20 };
	const struct xt_rewrite fwd = { .daddr = REMOTE, .dport = 8080 };
	const struct xt_rewrite rev = { .saddr = VIP_REMOTE, .sport = 80 };
	int bad;

	(void)state;
	bad = frag_round_trip("pod1's segment to 10.96.1.2:80: DNAT to 10.244.2.11:8080", &d, &fwd,
			      &r, &rev);
	if (bad)
		fail_msg("%d steps failed", bad);
}

/* A fragmented segment of a flow whose backend went: its first fragment
 * is answered with a reset (its TCP header says how), the later ones are
 * dropped: they have no header to answer, and nowhere to go. */
static void test_frag_tcp_gone(void **state)
{
	struct xlb_service_spec s = xt_svc("10.96.1.14", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec b1 = xt_be(REMOTE, 8080, 1), b2 = xt_be(REMOTE, 9090, 1);
	const struct pkt_desc syn = { FROM_P1("10.96.1.14", 0x541),
				      TCPH(40021, 80, PKT_SYN, ISN_C, 0) };
	const struct pkt_desc seg = { FROM_P1("10.96.1.14", 0x542),
				      TCPH(40021, 80, PKT_ACK | PKT_PSH, ISN_C + 1, ISN_B + 1),
				      .payload_len = FRAG_PAYLOAD - 20 };
	const struct pkt_desc rst = {
		.eth_dst = MAC_POD1, .eth_src = MAC_LXC1, .saddr = "10.96.1.14", .daddr = POD1,
		.ttl = 64, .frag = PKT_IP_DF, .proto = IPPROTO_TCP, .sport = 80, .dport = 40021,
		.tcp_flags = PKT_RST, .seq = ISN_B + 1,
	};
	const struct xt_rewrite fwd = { .daddr = REMOTE, .dport = 8080 };
	uint8_t in[PKT_MAX], exp[PKT_MAX];
	size_t len, elen;
	int bad = 0;

	(void)state;
	XT_SVC_SET(dp, &s, &b1, 1);
	len = xt_build(&syn, in);
	{
		struct xt_step x = { .pkt = syn, .out = fwd };

		elen = xt_build_expected(&x, exp);
	}
	bad += !run_raw("SYN: DNAT to :8080", FROM_POD, LXC1, in, len, TC_ACT_OK, exp, elen,
			XLB_POD_FWD_STACK);
	XT_SVC_SET(dp, &s, &b2, 1);
	len = pod_frag(&seg, NULL, 0, in);
	elen = xt_build(&rst, exp);
	bad += !run_raw("the backend replaced; a 3,000-byte segment's first fragment: a reset",
			FROM_POD, LXC1, in, len, TC_ACT_REDIRECT, exp, elen, XLB_POD_RST_SENT);
	for (int i = 1; i < 3; i++)
		bad += !frag_step("a later fragment of it: dropped", FROM_POD, LXC1, &seg, i,
				  TC_ACT_SHOT, NULL, XLB_POD_DROP_BACKEND_GONE);
	if (bad)
		fail_msg("%d steps failed", bad);
}

/* Later fragments that come before their first on a pod veth: untouched
 * (their datagram is lost), counted when the first one comes
 * (frag_before_first, an event, as in XDP); the one after it follows. */
static void test_frag_before_first(void **state)
{
	const struct pkt_desc d = { FROM_P1(VIP_REMOTE, 0x531), .proto = IPPROTO_UDP,
				    .sport = 50031, .dport = 53, .payload_len = FRAG_PAYLOAD };
	const struct xt_rewrite fwd = { .daddr = REMOTE, .dport = 5353 };
	const struct xt_rewrite same = { 0 };
	int bad = 0;

	(void)state;
	bad += !frag_step("pod1's last fragment before its first: untouched", FROM_POD, LXC1, &d,
			  2, TC_ACT_UNSPEC, &same, XLB_POD_PASS_FRAGMENT);
	bad += !frag_step_ev("its first fragment: DNAT, one fragment counted as come before it",
			     FROM_POD, LXC1, &d, 0, TC_ACT_OK, &fwd, XLB_POD_FWD_STACK,
			     XLB_POD_FRAG_BEFORE_FIRST, 1);
	bad += !frag_step("its middle fragment: DNAT", FROM_POD, LXC1, &d, 1, TC_ACT_OK, &fwd,
			  XLB_POD_FWD_STACK);
	if (bad)
		fail_msg("%d steps failed", bad);
}

/* Fragment i of d at 1,200 bytes of data (the front node's IPIP header
 * fits a 1,500-byte fabric), rewritten by out; with ipip, as it arrives
 * from node 192.168.50.12 inside IPIP to pod2. */
static size_t dsr_frag(const struct pkt_desc *d, const struct xt_rewrite *out, int i, bool ipip,
		       uint8_t *buf)
{
	static const uint8_t mac_fab0[6] = MAC_FAB0, mac_gw[6] = MAC_GW;

	return xt_ipip_fragment(d, out, i, 1200, mac_gw, mac_fab0, ipip ? "192.168.50.12" : NULL,
				POD2, buf);
}

/* This node as a DSR backend's node, for a datagram the client cut in
 * three: another node sends each fragment inside IPIP; tc on the NIC takes
 * the outer header off every one, DNATs the first (ports, checksum) and
 * the later ones (addresses: they follow the first's ports, kept under the
 * inner header's identity) and redirects them into pod2; pod2's answer,
 * cut in three by its stack, leaves from 192.168.50.12:30090 out of the
 * NIC. A later fragment before its first goes to the stack untouched (no
 * tunnel there: lost), counted when the first comes. */
static void test_dsr_back_frag(void **state)
{
	struct xlb_service_spec s = xt_svc("10.96.1.13", 53, IPPROTO_UDP, XLB_ALGO_RR);
	struct xlb_backend_spec b = xt_be(POD2, 5353, 1);
	const struct pkt_desc d = { FROM_EXT("192.168.50.12", 0x901),
				    .proto = IPPROTO_UDP, .sport = 45400, .dport = 30090,
				    .payload_len = FRAG_PAYLOAD };
	const struct pkt_desc r = { FROM_P2(EXT_CLIENT, 0x911), .proto = IPPROTO_UDP,
				    .sport = 5353, .dport = 45400, .payload_len = FRAG_PAYLOAD };
	struct pkt_desc early = d;
	const struct xt_rewrite into = { .daddr = POD2, .dport = 5353, ETH(MAC_LXC2, MAC_POD2) };
	const struct xt_rewrite rev = { .saddr = "192.168.50.12", .sport = 30090 };
	const struct {
		const struct pkt_desc *d;
		int i;
		int verdict;
		enum xlb_pod_stat stat;
		uint64_t early;
	} nic[] = {
		{ &d, 0, TC_ACT_REDIRECT, XLB_POD_NIC_DSR, 0 },
		{ &d, 2, TC_ACT_REDIRECT, XLB_POD_NIC_DSR, 0 },
		{ &d, 1, TC_ACT_REDIRECT, XLB_POD_NIC_DSR, 0 },
		{ &early, 1, TC_ACT_UNSPEC, XLB_POD_NIC_PASS, 0 },
		{ &early, 0, TC_ACT_REDIRECT, XLB_POD_NIC_DSR, 1 },
		{ &early, 2, TC_ACT_REDIRECT, XLB_POD_NIC_DSR, 0 },
	};
	int bad = 0;

	(void)state;
	s.type = XLB_SVC_NODE_PORT;
	s.node_port = 30090;
	b.local = true;
	XT_SVC_SET(dp, &s, &b, 1);
	early.ip_id = 0x902;
	for (size_t i = 0; i < sizeof(nic) / sizeof(nic[0]); i++) {
		uint8_t in[PKT_MAX], exp[PKT_MAX];
		size_t len = dsr_frag(nic[i].d, NULL, nic[i].i, true, in), elen;
		char what[160];

		if (nic[i].verdict == TC_ACT_REDIRECT)
			elen = dsr_frag(nic[i].d, &into, nic[i].i, false, exp);
		else
			elen = dsr_frag(nic[i].d, NULL, nic[i].i, true, exp);
		snprintf(what, sizeof(what), "IPIP: datagram id %#x, fragment %d: %s",
			 nic[i].d->ip_id, nic[i].i,
			 nic[i].verdict == TC_ACT_REDIRECT ? "decapsulated, DNAT to pod2, into it" :
			 "before its first: untouched, to the stack");
		print_message("  %s\n", what);
		bad += !run_raw_ev(what, FROM_NIC, FAB0, in, len, nic[i].verdict, exp, elen,
				   nic[i].stat, XLB_POD_FRAG_BEFORE_FIRST, nic[i].early);
	}
	for (int i = 0; i < 3; i++)
		bad += !frag_step("pod2's answer: from 192.168.50.12:30090, out of the NIC", FROM_POD,
				  LXC2, &r, i, TC_ACT_REDIRECT, &rev, XLB_POD_REV_NIC);
	if (bad)
		fail_msg("%d steps failed", bad);
}

/* DSR towards a node reached by a route of MTU 1400 (locked): the way
 * out's MTU comes with the next hop, so a DF frame that fits fab0 but
 * not, with the outer header, the route is answered with fragmentation
 * needed, MTU 1380 (1400 less the outer header); one that fits the route
 * goes; without DF it is dropped, counted. */
static void test_dsr_route_mtu(void **state)
{
	struct xlb_service_spec s = xt_svc("10.96.1.13", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec b = xt_be("10.244.3.11", 8080, 1);
	struct xlb_ip node = xt_ip(NODE_IP);
	static const uint8_t mac_n3[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0xf3 };
	const struct dsr_step steps[] = {	/* answers: fragmentation needed, MTU 1380 */
		{ "SYN 172.16.0.2:45400 -> 192.168.50.11:30090: IPIP to 10.244.3.11 via "
		  "192.168.50.13 (route MTU 1400)",
		  { FROM_EXT(NODE_IP, 0x701), TCPH(45400, 30090, PKT_SYN, ISN_C, 0) },
		  XDP_REDIRECT, XLB_STAT_CT_NEW, XLB_STAT_FWD_DSR, false },
		{ "the client's ACK with 100 bytes: established, IPIP",
		  { FROM_EXT(NODE_IP, 0x702), TCPH(45400, 30090, PKT_ACK, ISN_C + 1, ISN_B + 1),
		    .payload_len = 100 },
		  XDP_REDIRECT, XLB_STAT_CT_ESTABLISHED, XLB_STAT_FWD_DSR, false },
		{ "1,380 bytes of IPv4 with DF: 1,400 with the outer header, IPIP",
		  { FROM_EXT(NODE_IP, 0x703), TCPH(45400, 30090, PKT_ACK | PKT_PSH, ISN_C + 101,
						   ISN_B + 1), .payload_len = 1340 },
		  XDP_REDIRECT, XLB_STAT_CT_HIT, XLB_STAT_FWD_DSR, false },
		{ "1,381 bytes with DF: ICMP fragmentation needed, MTU 1380, from 192.168.50.11",
		  { FROM_EXT(NODE_IP, 0x704), TCPH(45400, 30090, PKT_ACK | PKT_PSH, ISN_C + 1441,
						   ISN_B + 1), .payload_len = 1341 },
		  XDP_REDIRECT, XLB_STAT_CT_HIT, XLB_STAT_ICMP_FRAG_SENT, true },
		{ "1,500 bytes with DF (fits fab0 with the outer header, not the route): the same",
		  { FROM_EXT(NODE_IP, 0x705), TCPH(45400, 30090, PKT_ACK | PKT_PSH, ISN_C + 1441,
						   ISN_B + 1), .payload_len = 1460 },
		  XDP_REDIRECT, XLB_STAT_CT_HIT, XLB_STAT_ICMP_FRAG_SENT, true },
		{ "1,381 bytes without DF: dropped (drop_dsr_too_big)",
		  { .eth_dst = MAC_FAB0, .eth_src = MAC_GW, .saddr = EXT_CLIENT, .daddr = NODE_IP,
		    .ip_id = 0x706, .ttl = 63, TCPH(45400, 30090, PKT_ACK | PKT_PSH, ISN_C + 1441,
						      ISN_B + 1), .payload_len = 1341 },
		  XDP_DROP, XLB_STAT_CT_HIT, XLB_STAT_DROP_DSR_TOO_BIG, false },
	};
	int bad;

	(void)state;
	s.type = XLB_SVC_NODE_PORT;
	s.node_port = 30090;
	s.lb_mode = XLB_LB_MODE_DSR;
	b.remote = true;
	XT_SVC_SET(dp, &s, &b, 1);
	xlb_dp_node_addr_add(dp, &node);	/* another test may have added it */
	bad = dsr_front_steps(steps, sizeof(steps) / sizeof(steps[0]), "10.244.3.11", mac_n3, 1380);
	if (bad)
		fail_msg("%zu steps, %d failed", sizeof(steps) / sizeof(steps[0]), bad);
}

static int topology(void)
{
	static const char *const cmds[] = {
		/* no IPv6 chatter (DAD, router solicitations) through the
		 * programs between the steps: each step counts one outcome */
		"sysctl -qw net.ipv6.conf.all.disable_ipv6=1",
		"sysctl -qw net.ipv6.conf.default.disable_ipv6=1",
		"ip link set lo up",
		"ip link add lxc1 address 02:00:00:00:01:01 type veth peer name pod1 address 02:00:00:00:01:02",
		"ip link add lxc2 address 02:00:00:00:02:01 type veth peer name pod2 address 02:00:00:00:02:02",
		"ip link add fab0 address 02:00:00:00:00:f0 type veth peer name fab1 address 02:00:00:00:00:f1",
		"ip link set lxc1 up", "ip link set pod1 up", "ip link set lxc2 up", "ip link set pod2 up",
		"ip link set fab0 up", "ip link set fab1 up",
		"ip addr add 192.168.50.11/24 dev fab0",
		"ip route add 10.244.1.11/32 dev lxc1",
		"ip route add 10.244.1.12/32 dev lxc2",
		"ip route add 10.244.2.0/24 via 192.168.50.12 dev fab0",
		"ip neigh replace 10.244.1.12 lladdr 02:00:00:00:02:02 dev lxc2 nud permanent",
		"ip neigh replace 10.244.1.11 lladdr 02:00:00:00:01:02 dev lxc1 nud permanent",
		"ip neigh replace 192.168.50.12 lladdr 02:00:00:00:00:f2 dev fab0 nud permanent",
		"ip route add 10.244.3.0/24 via 192.168.50.13 dev fab0 mtu lock 1400",
		"ip neigh replace 192.168.50.13 lladdr 02:00:00:00:00:f3 dev fab0 nud permanent",
	};

	if (if_nametoindex("lxc1"))
		return 0;	/* the second group: built by the first */
	return xt_sh_all(cmds, sizeof(cmds) / sizeof(cmds[0])) || xt_forwarding() ? -1 : 0;
}

static int devices(void)
{
	if (topology())
		return -1;
	if_lxc1 = if_nametoindex("lxc1");
	if_lxc2 = if_nametoindex("lxc2");
	if_fab0 = if_nametoindex("fab0");
	return if_lxc1 && if_lxc2 && if_fab0 ? 0 : -1;
}

static int group_setup(void **state)
{
	struct xlb_service_spec local = xt_svc(VIP_LOCAL, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_service_spec remote = xt_svc(VIP_REMOTE, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_service_spec remote_u = xt_svc(VIP_REMOTE, 53, IPPROTO_UDP, XLB_ALGO_RR);
	struct xlb_service_spec self = xt_svc(VIP_SELF, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_service_spec empty = xt_svc(VIP_EMPTY, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec b_local = xt_be(POD2, 8080, 1), b_remote = xt_be(REMOTE, 8080, 1);
	struct xlb_backend_spec b_remote_u = xt_be(REMOTE, 5353, 1), b_self = xt_be(POD1, 8080, 1);
	char err[256] = "";
	int ret;

	if (devices())
		return -1;
	dp = xt_dp_open();
	if (!dp)
		return -1;
	if ((ret = xlb_dp_service_set(dp, &local, &b_local, 1, err, sizeof(err))) ||
	    (ret = xlb_dp_service_set(dp, &remote, &b_remote, 1, err, sizeof(err))) ||
	    (ret = xlb_dp_service_set(dp, &remote_u, &b_remote_u, 1, err, sizeof(err))) ||
	    (ret = xlb_dp_service_set(dp, &self, &b_self, 1, err, sizeof(err))) ||
	    (ret = xlb_dp_service_set(dp, &empty, NULL, 0, err, sizeof(err))) ||
	    (ret = xlb_dp_pod_attach(dp, "lxc1", err, sizeof(err))) ||
	    (ret = xlb_dp_pod_attach(dp, "lxc2", err, sizeof(err)))) {
		print_error("setup: %s (%d)\n", err, ret);
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

/* Both hook objects load on this kernel (the VM suite runs this on 6.1):
 * the socket programs have no BPF_PROG_TEST_RUN, so loading is what this
 * suite can say of them; tests/sock has them with real sockets. */
static void test_loaded(void **state)
{
	struct xlb_hooks_info h;

	(void)state;
	assert_int_equal(xlb_dp_hooks(dp, &h), 0);
	if (!h.sock_loaded)
		fail_msg("socket programs: %s", h.sock_why);
	if (!h.pod_loaded)
		fail_msg("pod veth programs: %s", h.pod_why);
	assert_true(!strcmp(h.pod_mode, "tcx") || !strcmp(h.pod_mode, "tc (netlink)"));
	assert_int_equal(h.n_pod_ifaces, 2);
	assert_true(xlb_dp_bpf_hook_prog_fd(dp, "xlb_sock_connect4") >= 0);
}

int main(void)
{
	const struct CMUnitTest extra[] = {
		cmocka_unit_test(test_loaded),
		cmocka_unit_test(test_backend_gone),
		cmocka_unit_test(test_local_policy),
		cmocka_unit_test(test_affinity_established),
		cmocka_unit_test(test_nic_local),
		cmocka_unit_test(test_nic_reused_port),
		cmocka_unit_test(test_frag_remote),
		cmocka_unit_test(test_frag_local),
		cmocka_unit_test(test_frag_nic_local),
		cmocka_unit_test(test_frag_tcp),
		cmocka_unit_test(test_frag_tcp_gone),
		cmocka_unit_test(test_frag_before_first),
		cmocka_unit_test(test_dsr_front),
		cmocka_unit_test(test_dsr_route_mtu),
		cmocka_unit_test(test_dsr_back),
		cmocka_unit_test(test_dsr_back_frag),
	};
	int rc;

	xt_init();
	rc = xt_run_table("pod veths (tc)", test_scenario, scenarios, sizeof(scenarios[0]),
			  sizeof(scenarios) / sizeof(scenarios[0]), scenario_desc, NULL, NULL,
			  group_setup, group_teardown);
	if (rc)
		return 1;
	return cmocka_run_group_tests_name("pod veths (tc): loading, flows whose backend goes", extra,
					   group_setup, group_teardown) ? 1 : 0;
}
