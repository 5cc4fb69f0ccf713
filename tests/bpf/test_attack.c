// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The datapath under attack and churn (issue 11): each defect found by
 * fuzzing, flooding and churning it, as a packet (the reproducer's own
 * bytes where it gave them) with the exact verdict, output and counters.
 *
 * Services, as in the reproducers:
 *   10.96.0.10:80/tcp rr  -> 10.20.1.1:8080, 10.20.1.2:8080 (per test)
 *   10.96.0.12:80/tcp sh  -> 10.20.3.2:8080
 *   10.96.0.16:80/tcp     no backends
 * Every xt_run() also checks that the packet moved rx and exactly one
 * outcome counter, of the verdict's kind.
 */
#include "flow.h"

static struct xlb_dp *dp;

#define CLIENT	"10.10.1.2"

static int dp_open(void **state)
{
	dp = xt_dp_open();
	return dp ? 0 : -1;
}

static int dp_close(void **state)
{
	xlb_dp_close(dp);
	dp = NULL;
	return 0;
}

/* A frame from its hex dump. */
static size_t from_hex(const char *hex, uint8_t *buf, size_t cap)
{
	size_t n = 0;

	while (hex[0] && hex[1] && n < cap) {
		unsigned int b;

		if (sscanf(hex, "%2x", &b) != 1)
			fail_msg("bad hex at \"%.8s\"", hex);
		buf[n++] = (uint8_t)b;
		hex += 2;
	}
	return n;
}

static struct xt_stats run_counted(const uint8_t *in, size_t len, struct xt_run *r,
				   struct xt_stats *before)
{
	*before = xt_stats(dp);
	xt_run(dp, in, len, 0, r);
	return xt_stats(dp);
}

/* Item 7: a RST|ACK from 10.10.1.2:40000 to a flow whose backend was
 * replaced is dropped, and the drop has its reason: drop_backend_gone
 * (a reset is never answered with a reset, RFC 9293 3.10.7.1). */
static void test_rst_on_gone_backend(void **state)
{
	static const char *rst_ack = "0200000000c0020000000102080045000028000140004006255a"
				     "0a0a01020a60000a9c400050000003e800001388501401f6e4640000";
	struct xlb_service_spec svc = xt_svc("10.96.0.10", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec a = xt_be("10.20.1.1", 8080, 1), b = xt_be("10.20.1.2", 8080, 1);
	struct pkt_desc syn = { .eth_dst = MAC_NODE, .eth_src = MAC_CLIENT, .saddr = CLIENT,
				.daddr = "10.96.0.10", .proto = IPPROTO_TCP, .sport = 40000,
				.dport = 80, .tcp_flags = PKT_SYN, .seq = 999, .window = 502 };
	struct xt_stats before, after;
	uint8_t in[PKT_MAX];
	struct xt_run r;
	size_t len;

	XT_SVC_SET(dp, &svc, &a, 1);
	/* an established flow: SYN, SYN-ACK, ACK */
	len = xt_build(&syn, in);
	xt_run(dp, in, len, 0, &r);
	assert_int_equal(r.verdict, XDP_PASS);
	syn.saddr = "10.20.1.1";
	syn.daddr = CLIENT;
	syn.sport = 8080;
	syn.dport = 40000;
	syn.tcp_flags = PKT_SYN | PKT_ACK;
	syn.seq = 4999;
	syn.ack = 1000;
	len = xt_build(&syn, in);
	xt_run(dp, in, len, 0, &r);
	assert_int_equal(r.verdict, XT_VERDICT_BACK);
	syn.saddr = CLIENT;
	syn.daddr = "10.96.0.10";
	syn.sport = 40000;
	syn.dport = 80;
	syn.tcp_flags = PKT_ACK;
	syn.seq = 1000;
	syn.ack = 5000;
	len = xt_build(&syn, in);
	after = run_counted(in, len, &r, &before);
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_CT_ESTABLISHED), 1);
	XT_SVC_SET(dp, &svc, &b, 1);	/* the flow's backend replaced */

	len = from_hex(rst_ack, in, sizeof(in));
	assert_int_equal(len, 54);
	after = run_counted(in, len, &r, &before);
	xt_expect("RST|ACK on the replaced flow", &r, XDP_DROP, in, len);
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_DROP_BACKEND_GONE), 1);
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_RST_SENT), 0);
}

/* Item 7: a SYN to a service without backends is answered with a reset
 * and counted as answered (rst_sent, event no_backend), not as a drop. */
static void test_answer_not_drop(void **state)
{
	static const char *syn = "0200000000c002000000010208004500002800014000400625540a0a0102"
				 "0a6000109c410050000003e800000000500201f6f7f70000";
	struct xlb_service_spec svc = xt_svc("10.96.0.16", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xt_stats before, after;
	uint8_t in[PKT_MAX];
	struct xt_run r;
	size_t len;
	int i;

	XT_SVC_SET(dp, &svc, NULL, 0);
	len = from_hex(syn, in, sizeof(in));
	after = run_counted(in, len, &r, &before);
	assert_int_equal(r.verdict, XT_VERDICT_BACK);
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_RST_SENT), 1);
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_NO_BACKEND), 1);
	for (i = 0; i < XLB_STAT_MAX; i++)
		if (xlb_stat_info(i)->kind == XLB_SK_DROP && xt_delta(&after, &before, i))
			fail_msg("%s moved for an answered packet", xlb_stat_name(i));
	/* RST+ACK from 10.96.0.16:80 to 10.10.1.2:40001, ack = 1000 + 1 */
	assert_int_equal(r.len, 54);
	assert_int_equal(r.out[47], 0x14);
	assert_int_equal(pkt_get32(r.out + 42), 1001);
}

/* Item 6, and every length up to jumbo: a TCP SYN to the sh service whose
 * full checksum happens to equal the folded pseudo-header sum (here made
 * so with the urgent pointer, which URG clear leaves unused). */
static size_t lookalike(uint8_t *in, uint16_t l4len, uint8_t proto, bool partial)
{
	static uint8_t payload[PKT_MAX];
	struct pkt_desc d = { .eth_dst = { 0x02, 0, 0, 0, 0, 0xc0 }, .eth_src = MAC_CLIENT,
			      .saddr = "10.10.1.77",
			      .daddr = "10.96.0.12", .ip_id = 7, .frag = PKT_IP_DF, .proto = proto,
			      .sport = 50000, .dport = 80, .tcp_flags = PKT_SYN, .seq = 42,
			      .window = 1000, .payload = payload, .csum_partial = partial };
	uint8_t *ip = in + 14, *l4 = ip + 20, *check, *fix;
	uint32_t pseudo;
	size_t len;

	d.payload_len = l4len - (proto == IPPROTO_TCP ? TCP_HDR_LEN : UDP_HDR_LEN);
	for (size_t i = 0; i < d.payload_len; i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	len = xt_build(&d, in);
	if (partial)
		return len;
	check = l4 + (proto == IPPROTO_TCP ? 16 : 6);
	fix = proto == IPPROTO_TCP ? l4 + 18 : l4 + 8;
	pseudo = csum_pseudo4(ip + 12, ip + 16, proto, l4len);
	pkt_put16(check, csum_fold(pseudo));
	pkt_put16(fix, 0);
	pkt_put16(fix, (uint16_t)~csum_fold(csum_add(pseudo, l4, l4len)));
	return len;
}

/* The reproducer's 1584-byte frame: DNAT keeps a valid checksum. */
static void test_csum_lookalike_1584(void **state)
{
	static const char *head = "0200000000c00200000001020800450006220007400040061f0d0a0a014d"
				  "0a60000cc35000500000002a00000000500203e8";
	struct xlb_service_spec svc = xt_svc("10.96.0.12", 80, IPPROTO_TCP, XLB_ALGO_SH);
	struct xlb_backend_spec be = xt_be("10.20.3.2", 8080, 1);
	uint8_t in[PKT_MAX], h[64];
	struct xt_stats before, after;
	struct xt_run r;
	char why[160];
	size_t len, hl;

	XT_SVC_SET(dp, &svc, &be, 1);
	len = lookalike(in, 1550, IPPROTO_TCP, false);
	hl = from_hex(head, h, sizeof(h));
	assert_int_equal(len, 1584);
	assert_memory_equal(in, h, hl);		/* the reproducer's headers */
	after = run_counted(in, len, &r, &before);
	assert_int_equal(r.verdict, XDP_PASS);
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_PASS_NO_ROUTE), 1);
	if (pkt_csum_check(r.out, r.len, why, sizeof(why)))
		fail_msg("after DNAT: %s", why);
}

/* Every L4 length from the smallest header to a 9000-byte datagram, TCP
 * and UDP: a full checksum that looks partial stays a full checksum (and
 * verifies after DNAT); a real partial checksum is recognised at every
 * length and updated as the stack expects (the pseudo-header sum of the
 * new addresses). */
static void test_csum_every_length(void **state)
{
	struct xlb_service_spec tsvc = xt_svc("10.96.0.12", 80, IPPROTO_TCP, XLB_ALGO_SH);
	struct xlb_service_spec usvc = xt_svc("10.96.0.12", 80, IPPROTO_UDP, XLB_ALGO_SH);
	struct xlb_backend_spec be = xt_be("10.20.3.2", 8080, 1);
	static uint8_t in[PKT_MAX];
	static struct xt_run r;
	unsigned bad = 0, runs = 0;
	uint8_t be_addr[4];
	char why[160];

	XT_SVC_SET(dp, &tsvc, &be, 1);
	XT_SVC_SET(dp, &usvc, &be, 1);
	inet_pton(AF_INET, "10.20.3.2", be_addr);
	for (int udp = 0; udp < 2; udp++) {
		uint8_t proto = udp ? IPPROTO_UDP : IPPROTO_TCP;
		uint16_t min = udp ? UDP_HDR_LEN + 2 : TCP_HDR_LEN;

		for (uint16_t l4len = min; l4len <= 9000 - 20; l4len++) {
			for (int partial = 0; partial < 2; partial++) {
				size_t len = lookalike(in, l4len, proto, partial);
				const uint8_t *ip = r.out + 14, *l4 = ip + 20;
				uint16_t c, want;
				/* A partial checksum that also sums as a full one
				 * (1 in 65,536) is a full checksum to anybody. */
				bool full = !partial ||
					    csum_fold(csum_add(csum_pseudo4(in + 26, in + 30, proto,
									    l4len),
							       in + 34, l4len)) == 0xffff;

				xt_run_raw(dp, in, len, 0, &r);
				runs++;
				c = pkt_get16(l4 + (udp ? 6 : 16));
				want = csum_fold(csum_pseudo4(ip + 12, ip + 16, proto, l4len));
				if (r.verdict != XDP_PASS || r.len != len ||
				    memcmp(ip + 16, be_addr, 4) || pkt_get16(l4 + 2) != 8080) {
					bad++;
					if (bad < 5)
						print_error("%s, %u bytes%s: not DNATed (%s, %u bytes)\n",
							    udp ? "UDP" : "TCP", l4len,
							    partial ? ", partial" : "",
							    xt_verdict_name(r.verdict), r.len);
				} else if (!full ? c != want :
					   pkt_csum_check(r.out, r.len, why, sizeof(why)) != 0) {
					bad++;
					if (bad < 5)
						print_error("%s, %u bytes%s: checksum 0x%04x wrong "
							    "(partial: want 0x%04x)\n",
							    udp ? "UDP" : "TCP", l4len,
							    partial ? ", partial" : "", c, want);
				}
			}
		}
	}
	print_message("  %u frames, %u wrong\n", runs, bad);
	assert_int_equal(bad, 0);
}

/* Promotion to the established table needs the client to acknowledge what
 * the backend sent: its SYN-ACK, or data a server that speaks first sent
 * right after it. A blind ACK (its number a guess) establishes nothing. */
static void test_promotion_proof(void **state)
{
	struct xlb_service_spec svc = xt_svc("10.96.0.10", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec be = xt_be("10.20.1.1", 8080, 1);
	struct pkt_desc c = { .eth_dst = MAC_NODE, .eth_src = MAC_CLIENT, .saddr = CLIENT,
			      .daddr = "10.96.0.10", .proto = IPPROTO_TCP, .dport = 80,
			      .window = 502 };
	struct pkt_desc b = { .eth_dst = MAC_NODE, .eth_src = MAC_BACKEND, .saddr = "10.20.1.1",
			      .daddr = CLIENT, .proto = IPPROTO_TCP, .sport = 8080, .window = 502 };
	struct xt_stats before, after;
	uint8_t in[PKT_MAX];
	struct xt_run r;

	XT_SVC_SET(dp, &svc, &be, 1);
	for (int guess = 0; guess < 2; guess++) {
		uint16_t port = (uint16_t)(45000 + guess);

		c.sport = b.dport = port;
		c.tcp_flags = PKT_SYN;
		c.seq = 100;
		c.ack = 0;
		xt_run(dp, in, xt_build(&c, in), 0, &r);
		b.tcp_flags = PKT_SYN | PKT_ACK;
		b.seq = 9000;
		b.ack = 101;
		xt_run(dp, in, xt_build(&b, in), 0, &r);
		b.tcp_flags = PKT_ACK | PKT_PSH;	/* the server's banner */
		b.seq = 9001;
		b.payload_len = 100;
		xt_run(dp, in, xt_build(&b, in), 0, &r);
		assert_int_equal(r.verdict, XT_VERDICT_BACK);
		c.tcp_flags = PKT_ACK;
		c.seq = 101;
		c.ack = guess ? 0x7fff0000 : 9101;	/* the banner's end, or a guess */
		before = xt_stats(dp);
		xt_run(dp, in, xt_build(&c, in), 0, &r);
		after = xt_stats(dp);
		assert_int_equal(r.verdict, XDP_PASS);
		assert_int_equal(xt_delta(&after, &before, XLB_STAT_CT_ESTABLISHED), guess ? 0 : 1);
	}
}

/* ---- flood ----------------------------------------------------------- */

#define FLOOD_FLOWS	100
#define FLOOD_AFF	100
#define FLOOD_SYN_MAP	1024	/* ct_syn entries: the flood is 20 times that, twice */

static uint32_t flood_rnd = 0x9e3779b9u;

static uint32_t xorshift(void)
{
	return xt_xorshift(&flood_rnd);
}

static int index_of(const struct xt_run *r, const struct xlb_backend_spec *be, size_t n)
{
	int i = xt_backend_of(r, be, n);

	if (i < 0)
		fail_msg("packet not DNATed to a backend (%s)", xt_verdict_name(r->verdict));
	return i;
}

/* A client's handshake with vip:80 from client:sport. Returns the backend. */
static int flood_handshake(const char *client, uint16_t sport, const char *vip,
			   const struct xlb_backend_spec *be, size_t n)
{
	struct pkt_desc d = { .eth_dst = MAC_NODE, .eth_src = MAC_CLIENT, .saddr = client,
			      .daddr = vip, .proto = IPPROTO_TCP, .sport = sport, .dport = 80,
			      .tcp_flags = PKT_SYN, .seq = 100, .window = 502 };
	char addr[INET_ADDRSTRLEN];
	uint8_t in[PKT_MAX];
	struct xt_run r;
	int i;

	xt_run(dp, in, xt_build(&d, in), 0, &r);
	i = index_of(&r, be, n);
	d = (struct pkt_desc){ .eth_dst = MAC_NODE, .eth_src = MAC_BACKEND,
			       .saddr = inet_ntop(AF_INET, be[i].addr.addr.a8, addr, sizeof(addr)),
			       .daddr = client, .proto = IPPROTO_TCP, .sport = 8080, .dport = sport,
			       .tcp_flags = PKT_SYN | PKT_ACK, .seq = 7000, .ack = 101, .window = 502 };
	xt_run(dp, in, xt_build(&d, in), 0, &r);
	assert_int_equal(r.verdict, XT_VERDICT_BACK);
	d = (struct pkt_desc){ .eth_dst = MAC_NODE, .eth_src = MAC_CLIENT, .saddr = client,
			       .daddr = vip, .proto = IPPROTO_TCP, .sport = sport, .dport = 80,
			       .tcp_flags = PKT_ACK, .seq = 101, .ack = 7001, .window = 502 };
	xt_run(dp, in, xt_build(&d, in), 0, &r);
	assert_int_equal(index_of(&r, be, n), i);
	return i;
}

/* Send n packets from random sources (and ports) to vip:80 with these
 * TCP flags, nothing checked but that each is DNATed. */
static void flood(const char *vip, uint8_t flags, unsigned n)
{
	struct pkt_desc d = { .eth_dst = MAC_NODE, .eth_src = MAC_CLIENT, .daddr = vip,
			      .proto = IPPROTO_TCP, .dport = 80, .tcp_flags = flags, .window = 502 };
	char src[INET_ADDRSTRLEN];
	uint8_t in[PKT_MAX];
	struct xt_run r;

	d.saddr = src;
	for (unsigned i = 0; i < n; i++) {
		uint32_t a = xorshift();

		snprintf(src, sizeof(src), "%u.%u.%u.%u", 100 + (a >> 24) % 100, (a >> 16) & 0xff,
			 (a >> 8) & 0xff, a & 0xff);
		d.sport = (uint16_t)(1024 + xorshift() % 60000);
		d.seq = xorshift();
		d.ack = xorshift();
		xt_run_raw(dp, in, pkt_build(&d, in, sizeof(in)), 0, &r);
		if (r.verdict != XDP_PASS)
			fail_msg("flood packet %u: %s", i, xt_verdict_name(r.verdict));
	}
}

/*
 * Issue 11 item 1-3, bounded: 100 idle established flows and 100 clients
 * with ClientIP affinity, then 20,480 SYNs and 20,480 bare ACKs from random
 * sources (20 times the table of pending flows, each); `make fuzz`:
 * XLB_FLOOD_N = 1,000,000 of each against the default table sizes. Then both services
 * get a new backend set (so only state can keep a flow where it was) and
 * every established flow's next packet must reach its backend (0 moved),
 * its backend's packet must be translated (0 untranslated), and every
 * affinity client's next connection must reach its backend.
 */
static void test_flood(void **state)
{
	struct xlb_dp_opts o = xt_dp_opts("");
	struct xlb_service_spec svc = xt_svc("10.96.0.10", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_service_spec asvc = xt_svc("10.96.0.11", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec be[6], abe[6];
	int got[FLOOD_FLOWS], agot[FLOOD_AFF], moved = 0, untranslated = 0, aff_moved = 0, i;
	const char *env = getenv("XLB_FLOOD_N");	/* make fuzz: 1,000,000 of each */
	unsigned n = env ? (unsigned)strtoul(env, NULL, 0) / 2 : 10 * FLOOD_SYN_MAP;
	struct xt_stats before, after;
	char err[256] = "";

	if (!env)
		o.ct_syn_entries = FLOOD_SYN_MAP;	/* else the default size */
	assert_int_equal(xlb_dp_bpf_open(&o, &dp, err, sizeof(err)), 0);
	for (i = 0; i < 6; i++) {
		char a[INET_ADDRSTRLEN];

		snprintf(a, sizeof(a), "10.20.1.%d", i + 1);
		be[i] = xt_be(a, 8080, 1);
		snprintf(a, sizeof(a), "10.20.2.%d", i + 1);
		abe[i] = xt_be(a, 8080, 1);
	}
	asvc.affinity_timeout = XLB_DEFAULT_AFFINITY_TIMEOUT;
	XT_SVC_SET(dp, &svc, be, 3);
	XT_SVC_SET(dp, &asvc, abe, 3);
	for (i = 0; i < FLOOD_FLOWS; i++) {
		char c[INET_ADDRSTRLEN];

		snprintf(c, sizeof(c), "10.10.2.%d", i + 1);
		got[i] = flood_handshake(c, 40000, "10.96.0.10", be, 3);
		snprintf(c, sizeof(c), "10.10.3.%d", i + 1);
		agot[i] = flood_handshake(c, 41000, "10.96.0.11", abe, 3);
	}

	before = xt_stats(dp);
	flood("10.96.0.10", PKT_SYN, n);
	flood("10.96.0.11", PKT_SYN, n);
	flood("10.96.0.10", PKT_ACK, n);
	flood("10.96.0.11", PKT_ACK, n);
	after = xt_stats(dp);
	print_message("  flood: %llu first packets (ct_new), %llu without state (ct_stateless), "
		      "%llu established\n",
		      (unsigned long long)xt_delta(&after, &before, XLB_STAT_CT_NEW),
		      (unsigned long long)xt_delta(&after, &before, XLB_STAT_CT_STATELESS),
		      (unsigned long long)xt_delta(&after, &before, XLB_STAT_CT_ESTABLISHED));
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_CT_NEW), 2 * n);
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_CT_STATELESS), 2 * n);
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_CT_ESTABLISHED), 0);

	/* New tables: the first three backends in another order, and three more. */
	{
		struct xlb_backend_spec nb[6] = { be[5], be[2], be[4], be[0], be[3], be[1] };
		struct xlb_backend_spec na[6] = { abe[5], abe[2], abe[4], abe[0], abe[3], abe[1] };

		XT_SVC_SET(dp, &svc, nb, 6);
		XT_SVC_SET(dp, &asvc, na, 6);
	}
	for (i = 0; i < FLOOD_FLOWS; i++) {
		char c[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
		struct pkt_desc d = { .eth_dst = MAC_NODE, .eth_src = MAC_CLIENT, .saddr = c,
				      .daddr = "10.96.0.10", .proto = IPPROTO_TCP, .sport = 40000,
				      .dport = 80, .tcp_flags = PKT_ACK | PKT_PSH, .seq = 101,
				      .ack = 7001, .window = 502, .payload_len = 10 };
		uint8_t in[PKT_MAX];
		struct pkt_info pi;
		struct xt_run r;
		char why[160];

		snprintf(c, sizeof(c), "10.10.2.%d", i + 1);
		xt_run(dp, in, xt_build(&d, in), 0, &r);
		moved += xt_backend_of(&r, be, 6) != got[i];
		d = (struct pkt_desc){ .eth_dst = MAC_NODE, .eth_src = MAC_BACKEND,
				       .saddr = inet_ntop(AF_INET, be[got[i]].addr.addr.a8, b, sizeof(b)),
				       .daddr = c, .proto = IPPROTO_TCP, .sport = 8080, .dport = 40000,
				       .tcp_flags = PKT_ACK, .seq = 7001, .ack = 111, .window = 502,
				       .payload_len = 100 };
		xt_run(dp, in, xt_build(&d, in), 0, &r);
		untranslated += r.verdict != XT_VERDICT_BACK ||
				pkt_parse(r.out, r.len, &pi, why, sizeof(why)) ||
				pi.saddr != 0x0a60000a || pi.sport != 80;

		snprintf(c, sizeof(c), "10.10.3.%d", i + 1);
		d = (struct pkt_desc){ .eth_dst = MAC_NODE, .eth_src = MAC_CLIENT, .saddr = c,
				       .daddr = "10.96.0.11", .proto = IPPROTO_TCP, .sport = 42000,
				       .dport = 80, .tcp_flags = PKT_SYN, .seq = 5, .window = 502 };
		xt_run(dp, in, xt_build(&d, in), 0, &r);
		aff_moved += xt_backend_of(&r, abe, 6) != agot[i];
	}
	print_message("  after the flood and a new table: %d of %d established flows moved, %d "
		      "untranslated; %d of %d affinity clients moved\n", moved, FLOOD_FLOWS,
		      untranslated, aff_moved, FLOOD_AFF);
	xlb_dp_close(dp);
	dp = NULL;
	assert_int_equal(moved, 0);
	assert_int_equal(untranslated, 0);
	assert_int_equal(aff_moved, 0);
}

#define T(desc, fn) { desc, fn, dp_open, dp_close, NULL }

int main(void)
{
	const struct CMUnitTest tests[] = {
		T("item 7: RST|ACK on a flow whose backend was replaced: XDP_DROP, drop_backend_gone",
		  test_rst_on_gone_backend),
		T("item 7: SYN to a service without backends: answered (rst_sent), no drop counted",
		  test_answer_not_drop),
		T("item 6: the 1584-byte SYN whose full checksum equals the pseudo-header sum: "
		  "valid after DNAT", test_csum_lookalike_1584),
		T("item 6: every L4 length up to a 9000-byte datagram, TCP and UDP, lookalike and "
		  "partial checksums", test_csum_every_length),
		T("established only on proof: the ACK of a server's first data establishes, a "
		  "guessed ACK does not", test_promotion_proof),
		{ "items 1-3: 20k SYNs and 20k bare ACKs from random sources, then new tables: 0 of 100 "
		  "established flows moved or untranslated, 0 of 100 affinity clients moved",
		  test_flood, NULL, NULL, NULL },
	};

	xt_init();
	return cmocka_run_group_tests_name("attack: reproducers of issue 11", tests, NULL, NULL) ?
		1 : 0;
}
