// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Backend selection and connection tracking: rr, wrr, sh, ClientIP
 * affinity, flows that keep their backend across updates, backends that
 * are removed or terminating, services without backends, and the
 * conntrack entries themselves. Each test opens a dataplane of its own,
 * so counters and tables start from zero.
 *
 * Every client packet is checked byte for byte against the input with the
 * chosen backend's address and port written in, so a test that counts
 * backends also checks the rewrite.
 */
#include "flow.h"

static struct xlb_dp *dp;
/* Reply and reset checks that failed: they do not stop a test, so what
 * the test is about (selection) is still checked; soft_done() at the end
 * fails it. */
static int soft_fails;

#define CLIENT		"10.10.1.2"
#define VIP		"10.96.0.10"
#define ISN_C		0x11223344u
#define ISN_B		0x55667788u

static int dp_open(void **state)
{
	soft_fails = 0;
	dp = xt_dp_open();
	return dp ? 0 : -1;
}

static int dp_close(void **state)
{
	xlb_dp_close(dp);
	dp = NULL;
	return 0;
}

/* End of a test: fail it if a soft check failed on the way. */
static void soft_done(void)
{
	if (soft_fails)
		fail_msg("%d reply/reset check(s) failed (see above)", soft_fails);
}

static const char *ipstr(const struct xlb_ip *ip, char *buf)
{
	return inet_ntop(AF_INET, ip->addr.a8, buf, INET_ADDRSTRLEN);
}

/* A client's flow to a service. */
struct flow {
	const char *saddr;
	uint16_t sport;
	const char *vip;
	uint16_t vport;
	uint8_t proto;
};

enum pkt_kind {
	K_FIRST,	/* TCP SYN, or a UDP datagram */
	K_DATA,		/* TCP ACK+PSH with 100 bytes, or a UDP datagram */
};

static struct pkt_desc client_pkt(const struct flow *f, enum pkt_kind k)
{
	struct pkt_desc d = {
		.eth_dst = MAC_NODE, .eth_src = MAC_CLIENT,
		.saddr = f->saddr, .daddr = f->vip, .ip_id = 0x4242, .ttl = 61, .frag = PKT_IP_DF,
		.proto = f->proto, .sport = f->sport, .dport = f->vport,
	};

	if (f->proto == IPPROTO_UDP) {
		d.payload_len = 64;
	} else if (k == K_FIRST) {
		d.tcp_flags = PKT_SYN;
		d.seq = ISN_C;
		d.window = 64240;
		d.tcp_opt_len = 20;
	} else {
		d.tcp_flags = PKT_ACK | PKT_PSH;
		d.seq = ISN_C + 1;
		d.ack = ISN_B + 1;
		d.window = 502;
		d.payload_len = 100;
	}
	return d;
}

/* Send a client packet of f and require a DNAT to one of be[0..n): XDP_PASS
 * (no route here) and exactly the input with the backend written in.
 * Returns the backend's index. */
static int fwd(const struct flow *f, enum pkt_kind k, const struct xlb_backend_spec *be, size_t n)
{
	struct pkt_desc d = client_pkt(f, k);
	uint8_t in[PKT_MAX], exp[PKT_MAX];
	char addr[INET_ADDRSTRLEN], what[160];
	struct xt_run r;
	size_t len, elen;
	int i;

	snprintf(what, sizeof(what), "%s %s:%u -> %s:%u",
		 f->proto == IPPROTO_UDP ? "UDP" : k == K_FIRST ? "SYN" : "ACK+data",
		 f->saddr, f->sport, f->vip, f->vport);
	len = xt_build(&d, in);
	xt_run(dp, in, len, 0, &r);
	i = xt_backend_of(&r, be, n);
	if (i < 0) {
		print_error("%s: %s, destination is none of the %zu backends\n", what,
			    xt_verdict_name(r.verdict), n);
		pkt_hexdump(stderr, "input", in, len, NULL, 0);
		pkt_hexdump(stderr, "got", r.out, r.len, in, len);
		fail_msg("%s", what);
	}
	d.daddr = ipstr(&be[i].addr, addr);
	d.dport = (uint16_t)be[i].port;
	elen = xt_build(&d, exp);
	xt_expect(what, &r, XDP_PASS, exp, elen);
	return i;
}

/* The backend's reply on f: reverse NAT to the service address. */
static void rev(const struct flow *f, const struct xlb_backend_spec *b)
{
	char addr[INET_ADDRSTRLEN];
	struct xt_step s = {
		.what = "reply from the backend",
		.pkt = { .eth_dst = MAC_NODE, .eth_src = MAC_BACKEND,
			 .saddr = ipstr(&b->addr, addr), .daddr = f->saddr, .ip_id = 0x2424,
			 .ttl = 64, .frag = PKT_IP_DF, .proto = f->proto,
			 .sport = (uint16_t)b->port, .dport = f->sport },
		.verdict = XT_VERDICT_BACK,
		.out = { .saddr = f->vip, .sport = f->vport, .eth = true,
			 .eth_src = MAC_NODE, .eth_dst = MAC_CLIENT },
		.stats = { XLB_STAT_FWD_BACK },
	};

	if (f->proto == IPPROTO_TCP) {
		s.pkt.tcp_flags = PKT_SYN | PKT_ACK;
		s.pkt.seq = ISN_B;
		s.pkt.ack = ISN_C + 1;
		s.pkt.window = 65160;
	} else {
		s.pkt.payload_len = 48;
	}
	if (!xt_step_check(dp, &s, 1))
		soft_fails++;
}

/* n backends 10.20.<net>.1.. :8080, weight 1. */
static void backends(struct xlb_backend_spec *be, size_t n, int net)
{
	char a[INET_ADDRSTRLEN];
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(a, sizeof(a), "10.20.%d.%zu", net, i + 1);
		be[i] = xt_be(a, 8080, 1);
	}
}

static void print_counts(const char *what, const int *cnt, size_t n)
{
	size_t i;

	print_message("  %s:", what);
	for (i = 0; i < n; i++)
		print_message(" %d", cnt[i]);
	print_message("\n");
}

/* n new flows from one client (ports 40000..) to the service; how many
 * each of the nb backends got. */
static void spread(int *cnt, size_t nb, const struct xlb_backend_spec *be, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		struct flow f = { CLIENT, (uint16_t)(40000 + i), VIP, 80, IPPROTO_TCP };

		cnt[fwd(&f, K_FIRST, be, nb)]++;
	}
}

/* 8. rr: a flow's backend is its 5-tuple's hash into the table of the
 * backends, so a retransmission, or a packet of a flow that lost its
 * state, finds the same one: 3000 new flows over 3 backends, each within
 * 10% of 1000. */
static void test_rr(void **state)
{
	struct xlb_service_spec svc = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec be[3];
	int cnt[3] = { 0 }, i;

	backends(be, 3, 1);
	XT_SVC_SET(dp, &svc, be, 3);
	spread(cnt, 3, be, 3000);
	print_counts("flows per backend", cnt, 3);
	for (i = 0; i < 3; i++)
		if (cnt[i] < 900 || cnt[i] > 1100)
			fail_msg("backend %d got %d of 3000 flows, outside 900..1100", i, cnt[i]);
	soft_done();
}

/* 8. wrr 1:2:3: 6000 new flows, each backend within 10% of its share. */
static void test_wrr(void **state)
{
	struct xlb_service_spec svc = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_WRR);
	struct xlb_backend_spec be[3];
	int cnt[3] = { 0 }, i;

	backends(be, 3, 1);
	be[0].weight = 1;
	be[1].weight = 2;
	be[2].weight = 3;
	XT_SVC_SET(dp, &svc, be, 3);
	spread(cnt, 3, be, 6000);
	print_counts("flows per backend (weights 1 2 3)", cnt, 3);
	for (i = 0; i < 3; i++)
		if (cnt[i] < 900 * (i + 1) || cnt[i] > 1100 * (i + 1))
			fail_msg("backend %d (weight %d) got %d of 6000 flows, outside %d..%d", i, i + 1,
				 cnt[i], 900 * (i + 1), 1100 * (i + 1));
	soft_done();
}

/* 8. sh: one source address, any port, one backend. */
static void test_sh_same_source(void **state)
{
	struct xlb_service_spec svc = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_SH);
	struct xlb_backend_spec be[4];
	int first = -1, i;

	backends(be, 4, 4);
	XT_SVC_SET(dp, &svc, be, 4);
	for (i = 0; i < 20; i++) {
		struct flow f = { CLIENT, 40000 + 7 * i, VIP, 80, IPPROTO_TCP };
		int b = fwd(&f, K_FIRST, be, 4);

		if (first < 0)
			first = b;
		if (b != first)
			fail_msg("flow from port %u went to backend %d, the first to %d", f.sport, b, first);
	}
	soft_done();
}

/* 8. sh: 200 source addresses over 4 equal backends, 20%..30% each. */
static void test_sh_spread(void **state)
{
	struct xlb_service_spec svc = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_SH);
	struct xlb_backend_spec be[4];
	int cnt[4] = { 0 }, i;

	backends(be, 4, 4);
	XT_SVC_SET(dp, &svc, be, 4);
	for (i = 0; i < 200; i++) {
		char src[INET_ADDRSTRLEN];
		struct flow f = { src, 40000, VIP, 80, IPPROTO_TCP };

		snprintf(src, sizeof(src), "10.30.%d.%d", i / 100, i % 100 + 1);
		cnt[fwd(&f, K_FIRST, be, 4)]++;
	}
	print_counts("sources per backend (of 200)", cnt, 4);
	for (i = 0; i < 4; i++)
		if (cnt[i] < 40 || cnt[i] > 60)
			fail_msg("backend %d got %d of 200 sources, outside 40..60", i, cnt[i]);
	soft_done();
}

/* 7. An established flow keeps its backend when the set is reordered and
 * grown, for TCP and UDP, and its replies still get the service address. */
static void test_ct_keeps_backend(void **state)
{
	struct xlb_service_spec svc = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_service_spec usvc = xt_svc(VIP, 53, IPPROTO_UDP, XLB_ALGO_RR);
	struct xlb_backend_spec be[5], nbe[5], ube[3], nube[5];
	struct flow f[3], uf[3];
	int got[3], ugot[3], i, j, k;

	backends(be, 5, 1);
	backends(ube, 3, 2);
	XT_SVC_SET(dp, &svc, be, 3);
	XT_SVC_SET(dp, &usvc, ube, 3);
	for (i = 0; i < 3; i++) {
		f[i] = (struct flow){ CLIENT, 40000 + i, VIP, 80, IPPROTO_TCP };
		uf[i] = (struct flow){ CLIENT, 50000 + i, VIP, 53, IPPROTO_UDP };
		got[i] = fwd(&f[i], K_FIRST, be, 3);
		rev(&f[i], &be[got[i]]);
		ugot[i] = fwd(&uf[i], K_FIRST, ube, 3);
	}
	/* New sets: the old backends in another order, plus two more. */
	nbe[0] = be[4];
	nbe[1] = be[2];
	nbe[2] = be[0];
	nbe[3] = be[3];
	nbe[4] = be[1];
	backends(nube, 5, 2);
	nube[0] = ube[2];
	nube[2] = ube[0];
	XT_SVC_SET(dp, &svc, nbe, 5);
	XT_SVC_SET(dp, &usvc, nube, 5);
	for (k = 0; k < 3; k++) {
		for (i = 0; i < 3; i++) {
			j = fwd(&f[i], K_DATA, be, 5);
			if (j != got[i])
				fail_msg("TCP flow from port %u moved from backend %d to %d after the update",
					 f[i].sport, got[i], j);
			j = fwd(&uf[i], K_DATA, ube, 3);
			if (j != ugot[i])
				fail_msg("UDP flow from port %u moved from backend %d to %d after the update",
					 uf[i].sport, ugot[i], j);
		}
	}
	for (i = 0; i < 3; i++)
		rev(&uf[i], &ube[ugot[i]]);
	soft_done();
}

/* 9. ClientIP affinity: one source, ten ports, one backend. */
static void test_affinity(void **state)
{
	struct xlb_service_spec svc = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	const char *srcs[2] = { "10.10.1.2", "10.10.1.3" };
	struct xlb_backend_spec be[3];
	int s, i;

	svc.affinity_timeout = XLB_DEFAULT_AFFINITY_TIMEOUT;
	backends(be, 3, 1);
	XT_SVC_SET(dp, &svc, be, 3);
	for (s = 0; s < 2; s++) {
		int first = -1;

		for (i = 0; i < 10; i++) {
			struct flow f = { srcs[s], 40000 + i, VIP, 80, IPPROTO_TCP };
			int b = fwd(&f, K_FIRST, be, 3);

			if (first < 0)
				first = b;
			if (b != first)
				fail_msg("flow %s:%u went to backend %d, the source's first flow to %d",
					 f.saddr, f.sport, b, first);
		}
		print_message("  %s: all 10 flows on backend %d\n", srcs[s], first);
	}
	soft_done();
}

/* Assert r is a TCP reset answering the client packet in (built from d,
 * payload_len bytes of data): XDP_TX, from the service address and port to
 * the client, Ethernet addresses swapped, no payload, and RFC 9293 3.10.7.1
 * numbering: to a segment with ACK, <SEQ=SEG.ACK><CTL=RST> (ACK with
 * ACK=SEG.SEQ+SEG.LEN also accepted); to one without ACK,
 * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> (SYN counts one). */
static bool expect_rst(const char *what, const struct xt_run *r, const struct pkt_desc *d)
{
	uint32_t seg_len = d->payload_len + !!(d->tcp_flags & PKT_SYN) + !!(d->tcp_flags & PKT_FIN);
	uint32_t vip, client;
	struct pkt_info pi, ipi;
	uint8_t in[PKT_MAX];
	char why[160] = "";
	bool ok = true;
	size_t len;

	inet_pton(AF_INET, d->daddr, &vip);
	inet_pton(AF_INET, d->saddr, &client);
#define RST_CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			print_error("%s: ", what);			\
			print_error(__VA_ARGS__);			\
			print_error("\n");				\
			ok = false;					\
		}							\
	} while (0)
	RST_CHECK(r->ret == 0, "test run failed: %d", r->ret);
	RST_CHECK(r->verdict == XT_VERDICT_BACK, "verdict %s, expected %s", xt_verdict_name(r->verdict),
		  xt_verdict_name(XT_VERDICT_BACK));
	if (pkt_parse(r->out, r->len, &pi, why, sizeof(why)) || !pi.ip4 || pi.proto != IPPROTO_TCP) {
		RST_CHECK(false, "output is not a TCP/IPv4 frame: %s", why);
		goto out;
	}
	len = xt_build(d, in);
	pkt_parse(in, len, &ipi, why, sizeof(why));
	RST_CHECK(pi.l3 == ipi.l3 && !memcmp(r->out + 12, in + 12, ipi.l3 - 12),
		  "VLAN tags / EtherType differ from the client packet's");
	RST_CHECK(!memcmp(r->out, d->eth_src, 6),
		  "Ethernet destination is not the client packet's source");
	RST_CHECK(!memcmp(r->out + 6, d->eth_dst, 6),
		  "Ethernet source is not the client packet's destination");
	RST_CHECK(pi.saddr == ntohl(vip) && pi.sport == d->dport,
		  "source is %08x:%u, expected the service address %s:%u", pi.saddr, pi.sport,
		  d->daddr, d->dport);
	RST_CHECK(pi.daddr == ntohl(client) && pi.dport == d->sport,
		  "destination is %08x:%u, expected the client %s:%u", pi.daddr, pi.dport,
		  d->saddr, d->sport);
	RST_CHECK(pi.l4 - pi.l3 == IP4_HDR_LEN, "IPv4 header of %zu bytes, expected 20", pi.l4 - pi.l3);
	RST_CHECK(pi.payload_len == 0 && pi.payload - pi.l4 == TCP_HDR_LEN,
		  "TCP header %zu bytes with %zu bytes of payload, expected 20 and none",
		  pi.payload - pi.l4, pi.payload_len);
	RST_CHECK(r->len == pi.l3 + IP4_HDR_LEN + TCP_HDR_LEN,
		  "frame of %u bytes, expected %zu", r->len, pi.l3 + IP4_HDR_LEN + TCP_HDR_LEN);
	RST_CHECK(!(pi.frag & (PKT_IP_MF | PKT_IP_OFFMASK)), "the reset is a fragment");
	RST_CHECK(pi.ttl > 0, "TTL 0");
	if (d->tcp_flags & PKT_ACK) {
		RST_CHECK(pi.tcp_flags == PKT_RST || pi.tcp_flags == (PKT_RST | PKT_ACK),
			  "flags 0x%02x, expected RST (0x04) or RST+ACK (0x14)", pi.tcp_flags);
		RST_CHECK(pi.seq == d->ack, "seq %u, expected the segment's ack %u", pi.seq, d->ack);
		if (pi.tcp_flags & PKT_ACK)
			RST_CHECK(pi.ack == d->seq + seg_len, "ack %u, expected seq + len = %u",
				  pi.ack, d->seq + seg_len);
	} else {
		RST_CHECK(pi.tcp_flags == (PKT_RST | PKT_ACK), "flags 0x%02x, expected RST+ACK (0x14)",
			  pi.tcp_flags);
		RST_CHECK(pi.seq == 0, "seq %u, expected 0", pi.seq);
		RST_CHECK(pi.ack == d->seq + seg_len, "ack %u, expected seq + len = %u", pi.ack,
			  d->seq + seg_len);
	}
	if (pkt_csum_check(r->out, r->len, why, sizeof(why)))
		RST_CHECK(false, "%s", why);
#undef RST_CHECK
out:
	if (!ok)
		pkt_hexdump(stderr, "got", r->out, r->len, NULL, 0);
	return ok;
}

/* 10. Backend removed under an established TCP flow: its next segment is
 * answered with a reset; a new SYN on the same 5-tuple is re-selected. */
static void test_removed_tcp(void **state)
{
	struct xlb_service_spec svc = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct flow f = { CLIENT, 40000, VIP, 80, IPPROTO_TCP };
	struct flow g = { CLIENT, 40001, VIP, 80, IPPROTO_TCP };
	struct xlb_backend_spec be[3], rest[2];
	struct xt_stats before, after;
	struct pkt_desc d;
	uint8_t in[PKT_MAX];
	struct xt_run r;
	size_t len;
	int x, y, i, n = 0;

	backends(be, 3, 1);
	XT_SVC_SET(dp, &svc, be, 3);
	x = fwd(&f, K_FIRST, be, 3);
	rev(&f, &be[x]);
	fwd(&f, K_DATA, be, 3);
	y = fwd(&g, K_FIRST, be, 3);	/* another flow, on a backend that stays */
	for (i = 0; i < 3; i++)
		if (i != x)
			rest[n++] = be[i];
	XT_SVC_SET(dp, &svc, rest, 2);

	d = client_pkt(&f, K_DATA);
	len = xt_build(&d, in);
	before = xt_stats(dp);
	xt_run(dp, in, len, 0, &r);
	after = xt_stats(dp);
	if (!expect_rst("ACK+data of a flow whose backend was removed", &r, &d))
		soft_fails++;
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_RST_SENT), 1);

	/* The flow on a remaining backend is untouched. */
	assert_int_equal(fwd(&g, K_DATA, be, 3), y);

	/* The client retries on the same port: a normal new flow. */
	i = fwd(&f, K_FIRST, rest, 2);
	rev(&f, &rest[i]);
	assert_int_equal(fwd(&f, K_DATA, rest, 2), i);
	soft_done();
}

/* 10. Resets in the corners: a segment with IPv4 options, payload and FIN
 * gets a plain 40-byte reset; the client's own RST is never answered. */
static void test_removed_rst_corners(void **state)
{
	struct xlb_service_spec svc = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct flow a = { CLIENT, 40000, VIP, 80, IPPROTO_TCP };
	struct flow b = { CLIENT, 40001, VIP, 80, IPPROTO_TCP };
	struct xlb_backend_spec be[2];
	struct xt_stats before, after;
	struct pkt_desc d;
	uint8_t in[PKT_MAX];
	struct xt_run r;
	size_t len;

	backends(be, 2, 1);
	XT_SVC_SET(dp, &svc, &be[0], 1);
	assert_int_equal(fwd(&a, K_FIRST, be, 1), 0);
	assert_int_equal(fwd(&b, K_FIRST, be, 1), 0);
	rev(&a, &be[0]);		/* both established */
	rev(&b, &be[0]);
	assert_int_equal(fwd(&a, K_DATA, be, 1), 0);
	assert_int_equal(fwd(&b, K_DATA, be, 1), 0);
	XT_SVC_SET(dp, &svc, &be[1], 1);

	d = client_pkt(&a, K_DATA);
	d.tcp_flags |= PKT_FIN;
	d.ip_opt_len = 12;
	d.payload_len = 300;
	len = xt_build(&d, in);
	before = xt_stats(dp);
	xt_run(dp, in, len, 0, &r);
	after = xt_stats(dp);
	if (!expect_rst("FIN+ACK, ihl=8, 300 bytes, on a flow whose backend was removed", &r, &d))
		soft_fails++;
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_RST_SENT), 1);

	d = client_pkt(&b, K_DATA);
	d.tcp_flags = PKT_RST | PKT_ACK;
	d.payload_len = 0;
	len = xt_build(&d, in);
	before = xt_stats(dp);
	xt_run(dp, in, len, 0, &r);
	after = xt_stats(dp);
	print_message("  client RST on the dead flow: %s\n", xt_verdict_name(r.verdict));
	if (r.verdict == XDP_TX || r.verdict == XDP_REDIRECT ||
	    xt_delta(&after, &before, XLB_STAT_RST_SENT) != 0) {
		pkt_hexdump(stderr, "got", r.out, r.len, in, len);
		fail_msg("a RST was answered (%s, rst_sent +%llu); RFC 9293 3.10.7.1: discard it",
			 xt_verdict_name(r.verdict),
			 (unsigned long long)xt_delta(&after, &before, XLB_STAT_RST_SENT));
	}
	soft_done();
}

/* 10. Same, but the next packet after the removal is already a new SYN. */
static void test_removed_tcp_syn(void **state)
{
	struct xlb_service_spec svc = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct flow f = { CLIENT, 40000, VIP, 80, IPPROTO_TCP };
	struct xlb_backend_spec be[2];
	int x;

	backends(be, 2, 1);
	XT_SVC_SET(dp, &svc, be, 2);
	x = fwd(&f, K_FIRST, be, 2);
	XT_SVC_SET(dp, &svc, &be[!x], 1);
	assert_int_equal(fwd(&f, K_FIRST, be, 2), !x);
	rev(&f, &be[!x]);
	soft_done();
}

/* 10. Backend removed under a UDP flow: re-selected, counted, and it
 * sticks to the new backend. */
static void test_removed_udp(void **state)
{
	struct xlb_service_spec svc = xt_svc(VIP, 53, IPPROTO_UDP, XLB_ALGO_RR);
	struct flow f = { CLIENT, 50000, VIP, 53, IPPROTO_UDP };
	struct xlb_backend_spec be[3], rest[2];
	struct xt_stats before, after;
	int x, y, i, n = 0;

	backends(be, 3, 2);
	for (i = 0; i < 3; i++)
		be[i].port = 5353;
	XT_SVC_SET(dp, &svc, be, 3);
	x = fwd(&f, K_FIRST, be, 3);
	rev(&f, &be[x]);
	assert_int_equal(fwd(&f, K_DATA, be, 3), x);	/* both ways: established */
	for (i = 0; i < 3; i++)
		if (i != x)
			rest[n++] = be[i];
	XT_SVC_SET(dp, &svc, rest, 2);

	before = xt_stats(dp);
	y = fwd(&f, K_DATA, rest, 2);
	after = xt_stats(dp);
	if (xt_delta(&after, &before, XLB_STAT_CT_RESELECT) != 1) {
		xt_stats_print(&after, &before);
		fail_msg("ct_reselect moved by %llu, expected 1",
			 (unsigned long long)xt_delta(&after, &before, XLB_STAT_CT_RESELECT));
	}
	for (i = 0; i < 3; i++)
		assert_int_equal(fwd(&f, K_DATA, rest, 2), y);
	rev(&f, &rest[y]);
	soft_done();
}

/* 11. A terminating backend keeps its flows and gets no new ones. */
static void test_terminating(void **state)
{
	struct xlb_service_spec svc = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec be[3];
	struct flow f[3];
	int got[3], cnt[3] = { 0 }, t = -1, i;

	backends(be, 3, 1);
	XT_SVC_SET(dp, &svc, be, 3);
	for (i = 0; i < 3; i++) {
		f[i] = (struct flow){ CLIENT, 40000 + i, VIP, 80, IPPROTO_TCP };
		got[i] = fwd(&f[i], K_FIRST, be, 3);
		if (got[i] == 1)
			t = i;
	}
	if (t < 0)
		fail_msg("no flow landed on backend 1 (rr over 3 with 3 flows)");
	be[1].terminating = true;
	XT_SVC_SET(dp, &svc, be, 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(fwd(&f[i], K_DATA, be, 3), got[i]);
	rev(&f[t], &be[1]);
	for (i = 0; i < 30; i++) {
		struct flow g = { CLIENT, 41000 + i, VIP, 80, IPPROTO_TCP };

		cnt[fwd(&g, K_FIRST, be, 3)]++;
	}
	print_counts("new flows per backend (1 terminating)", cnt, 3);
	assert_int_equal(cnt[1], 0);
	assert_true(cnt[0] > 0 && cnt[2] > 0);
	assert_int_equal(fwd(&f[t], K_DATA, be, 3), 1);
	soft_done();
}

/* 12. A service without backends: TCP SYN reset, UDP dropped. */
static void test_no_backends(void **state)
{
	struct xlb_service_spec svc = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_service_spec usvc = xt_svc(VIP, 53, IPPROTO_UDP, XLB_ALGO_RR);
	struct flow f = { CLIENT, 40000, VIP, 80, IPPROTO_TCP };
	struct flow uf = { CLIENT, 50000, VIP, 53, IPPROTO_UDP };
	struct xt_stats before, after;
	struct pkt_desc d;
	uint8_t in[PKT_MAX];
	struct xt_run r;
	size_t len;

	XT_SVC_SET(dp, &svc, NULL, 0);
	XT_SVC_SET(dp, &usvc, NULL, 0);

	d = client_pkt(&f, K_FIRST);
	len = xt_build(&d, in);
	before = xt_stats(dp);
	xt_run(dp, in, len, 0, &r);
	after = xt_stats(dp);
	if (!expect_rst("SYN to a service without backends", &r, &d))
		soft_fails++;
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_RST_SENT), 1);

	/* On a VLAN, with data on the SYN: the tag goes back with the reset. */
	d = client_pkt(&f, K_FIRST);
	d.n_vlan = 1;
	d.vlan_tci[0] = 100;
	d.sport = 40001;
	d.payload_len = 10;
	len = xt_build(&d, in);
	xt_run(dp, in, len, 0, &r);
	if (!expect_rst("SYN with 10 bytes on VLAN 100 to a service without backends", &r, &d))
		soft_fails++;

	/* UDP: an ICMP port unreachable (RFC 792) from the service address,
	 * quoting the datagram's IP header and first 8 bytes, back out of the
	 * ingress device; the client's socket gets ECONNREFUSED. */
	d = client_pkt(&uf, K_FIRST);
	d.payload_len = 40;
	len = xt_build(&d, in);
	before = xt_stats(dp);
	xt_run(dp, in, len, 0, &r);
	after = xt_stats(dp);
	{
		const size_t q = 20 + 8;		/* quoted: IP header + 8 bytes */
		const uint8_t *o = r.out, *ip = o + 14, *icmp = ip + 20;
		uint8_t vip[4], client[4];

		inet_pton(AF_INET, VIP, vip);
		inet_pton(AF_INET, CLIENT, client);
		assert_int_equal(r.verdict, XT_VERDICT_BACK);
		assert_int_equal(r.len, 14 + 20 + 8 + q);
		assert_memory_equal(o, in + 6, 6);		/* to the client's MAC */
		assert_memory_equal(o + 6, in, 6);		/* from ours */
		assert_int_equal(pkt_get16(o + 12), 0x0800);
		assert_int_equal(ip[0], 0x45);
		assert_int_equal(pkt_get16(ip + 2), 20 + 8 + q);
		assert_int_equal(ip[9], IPPROTO_ICMP);
		assert_memory_equal(ip + 12, vip, 4);
		assert_memory_equal(ip + 16, client, 4);
		assert_int_equal(csum_fold(csum_add(0, ip, 20)), 0xffff);
		assert_int_equal(icmp[0], 3);			/* unreachable */
		assert_int_equal(icmp[1], 3);			/* port */
		assert_int_equal(pkt_get32(icmp + 4), 0);
		assert_memory_equal(icmp + 8, in + 14, q);	/* the quote, unchanged */
		assert_int_equal(csum_fold(csum_add(0, icmp, 8 + q)), 0xffff);
		assert_int_equal(xt_delta(&after, &before, XLB_STAT_ICMP_SENT), 1);
		/* answered, not dropped */
		assert_int_equal(xt_delta(&after, &before, XLB_STAT_DROP_NO_BACKEND), 0);
		assert_int_equal(xt_delta(&after, &before, XLB_STAT_NO_BACKEND), 1);
	}
	soft_done();
}

static int map_count(int fd)
{
	struct xlb_ct4_key k, next, *prev = NULL;
	int n = 0;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

/* A flow's conntrack entries, as the ABI describes them: its SYN makes one
 * entry in ct_syn under the reply tuple; the backend's SYN-ACK is recorded
 * there; the client's ACK of exactly that SYN-ACK moves the flow into ct4
 * as a forward and a reply entry. */
static void test_ct_entries(void **state)
{
	struct xlb_service_spec svc = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec be = xt_be("10.20.1.2", 8080, 1);
	struct flow f = { CLIENT, 40000, VIP, 80, IPPROTO_TCP };
	struct xlb_ct4_key fk = {}, rk = {};
	struct xlb_ct4_val fv, rv;
	struct xlb_ct_syn_val e;
	int fd, sfd;

	XT_SVC_SET(dp, &svc, &be, 1);
	fd = xlb_dp_bpf_map_fd(dp, "ct4");
	sfd = xlb_dp_bpf_map_fd(dp, "ct_syn");
	assert_true(fd >= 0 && sfd >= 0);
	inet_pton(AF_INET, CLIENT, &fk.saddr);
	inet_pton(AF_INET, VIP, &fk.daddr);
	fk.sport = htons(40000);
	fk.dport = htons(80);
	fk.proto = IPPROTO_TCP;
	inet_pton(AF_INET, "10.20.1.2", &rk.saddr);
	inet_pton(AF_INET, CLIENT, &rk.daddr);
	rk.sport = htons(8080);
	rk.dport = htons(40000);
	rk.proto = IPPROTO_TCP;

	fwd(&f, K_FIRST, &be, 1);
	assert_int_equal(map_count(fd), 0);
	assert_int_equal(map_count(sfd), 1);
	if (bpf_map_lookup_elem(sfd, &rk, &e))
		fail_msg("no ct_syn entry 10.20.1.2:8080 -> 10.10.1.2:40000/tcp");
	assert_int_equal(e.nat_addr, fk.daddr);
	assert_int_equal(e.nat_port, htons(80));
	assert_true(e.backend_id != 0);
	assert_int_equal(e.flags, 0);

	rev(&f, &be);		/* SYN-ACK, seq ISN_B */
	assert_int_equal(bpf_map_lookup_elem(sfd, &rk, &e), 0);
	assert_int_equal(e.flags, XLB_CT_F_SEEN_REPLY);
	assert_int_equal(e.seq, ISN_B + 1);
	assert_int_equal(map_count(fd), 0);

	fwd(&f, K_DATA, &be, 1);	/* ACK = ISN_B + 1 */
	assert_int_equal(map_count(sfd), 0);
	assert_int_equal(map_count(fd), 2);
	if (bpf_map_lookup_elem(fd, &fk, &fv))
		fail_msg("no forward entry 10.10.1.2:40000 -> 10.96.0.10:80/tcp");
	if (bpf_map_lookup_elem(fd, &rk, &rv))
		fail_msg("no reply entry 10.20.1.2:8080 -> 10.10.1.2:40000/tcp");
	assert_int_equal(fv.dir, XLB_CT_FWD);
	assert_int_equal(rv.dir, XLB_CT_REV);
	assert_int_equal(rv.rev.nat_addr, fk.daddr);
	assert_int_equal(rv.rev.nat_port, htons(80));
	assert_int_equal(fv.backend_id, e.backend_id);
	assert_int_equal(rv.backend_id, e.backend_id);
	assert_int_equal(fv.fwd.backend_gen, e.backend_gen);
	assert_int_equal(fv.svc_id, rv.svc_id);
	assert_int_equal(fv.state, XLB_CT_ESTABLISHED);

	assert_int_equal(xlb_dp_ct_flush(dp, NULL), 0);
	assert_int_equal(map_count(fd), 0);
	assert_int_equal(map_count(sfd), 0);
	soft_done();
}

#define T(desc, fn) { desc, fn, dp_open, dp_close, NULL }

int main(void)
{
	const struct CMUnitTest tests[] = {
		T("rr, 3 backends: 3000 new flows from one client, each backend within 10% of 1000",
		  test_rr),
		T("wrr, weights 1:2:3: 6000 new flows, each backend within 10% of its share", test_wrr),
		T("sh, 4 backends: 20 flows from 10.10.1.2 (different ports) all on one backend",
		  test_sh_same_source),
		T("sh, 4 backends: 200 source addresses, each backend 20%..30%", test_sh_spread),
		T("conntrack: 3 TCP and 3 UDP flows keep their backends after the set is reordered "
		  "and grown to 5",
		  test_ct_keeps_backend),
		T("ClientIP affinity (rr, 10800 s): 10 flows from a source on one backend, for two sources",
		  test_affinity),
		T("backend removed: ACK+data of its TCP flow gets a RST from 10.96.0.10:80 (XDP_TX); "
		  "a new SYN on the 5-tuple is re-selected", test_removed_tcp),
		T("backend removed: FIN+ACK with IPv4 options and data gets a 40-byte RST; "
		  "the client's RST is not answered",
		  test_removed_rst_corners),
		T("backend removed: a new SYN on the old 5-tuple goes to the remaining backend",
		  test_removed_tcp_syn),
		T("backend removed: the UDP flow is re-selected (ct_reselect) and sticks", test_removed_udp),
		T("terminating backend: its flow continues, 30 new flows avoid it", test_terminating),
		T("no backends: TCP SYN (also on VLAN 100) answered with RST+ACK (XDP_TX), "
		  "UDP answered with ICMP port unreachable quoting it",
		  test_no_backends),
		T("conntrack: a SYN makes one ct_syn entry; the ACK of the backend's SYN-ACK moves "
		  "the flow into ct4 (forward and reply entries); flush empties both",
		  test_ct_entries),
	};

	xt_init();
	return cmocka_run_group_tests_name("lb: selection and conntrack", tests, NULL, NULL) ? 1 : 0;
}
