// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Fuzz: random frames and mutations of valid ones (issue 11: a million in
 * `make fuzz-dp`, XLB_FUZZ_N; 100,000 in the bpf suite). What must hold for
 * every frame, whatever it is:
 *   - the program returns PASS, DROP or REDIRECT, never ABORTED or TX;
 *   - exactly one outcome counter moves, of the verdict's kind (so a drop
 *     always has its reason, and rx is the sum of the outcomes);
 *   - a passed frame that is not addressed to a service, nor from a
 *     backend's port, comes back byte for byte as it went in;
 *   - a frame sent on (redirect) has valid IPv4 and L4 checksums when the
 *     input had them.
 * Fixed seeds: every run is the same run.
 */
#include "xlbtest.h"

static struct xlb_dp *dp;
static uint32_t rnd_state = 0x13579bdfu;

static uint32_t rnd(void)
{
	return xt_xorshift(&rnd_state);
}

static const char *const vips[] = { "10.96.0.10", "10.96.0.11", "10.10.2.1", "10.9.9.9" };
static const uint16_t ports[] = { 80, 53, 30080, 8080, 443, 0 };

/* A valid frame of some flow: to a service, a node port, a backend
 * (replies), or elsewhere; TCP (any flags) or UDP; options, VLANs. */
static size_t valid_frame(uint8_t *buf)
{
	char src[INET_ADDRSTRLEN];
	static uint8_t payload[1600];
	struct pkt_desc d = { .eth_dst = MAC_NODE, .eth_src = MAC_CLIENT };
	uint32_t r = rnd();

	for (size_t i = 0; i < sizeof(payload); i += 4)
		memcpy(payload + i, &r, 4);
	snprintf(src, sizeof(src), "10.%u.%u.%u", r % 3 ? 10 : 20, (r >> 8) % 4,
		 1 + (r >> 16) % 8);
	d.saddr = src;
	d.daddr = vips[rnd() % 4];
	if (!(r & 0x1000000))
		d.daddr = r & 0x2000000 ? "10.20.1.2" : "10.10.1.2";
	d.proto = rnd() & 1 ? IPPROTO_TCP : IPPROTO_UDP;
	d.sport = ports[rnd() % 6] ? ports[rnd() % 6] : (uint16_t)rnd();
	d.dport = ports[rnd() % 6] ? ports[rnd() % 6] : (uint16_t)rnd();
	d.tcp_flags = (uint8_t)rnd() & 0x3f;
	d.seq = rnd();
	d.ack = rnd();
	d.window = (uint16_t)rnd();
	d.ip_id = (uint16_t)rnd();
	d.ttl = (uint8_t)rnd();
	d.tos = (uint8_t)rnd();
	d.ip_opt_len = 4 * (rnd() % 3);
	d.tcp_opt_len = rnd() % 3 == 0 ? 20 : 0;
	d.n_vlan = rnd() % 8 == 0;
	d.frag = rnd() % 16 == 0 ? PKT_IP_MF : PKT_IP_DF;
	d.payload = payload;
	d.payload_len = rnd() % 3 == 0 ? rnd() % sizeof(payload) : rnd() % 64;
	d.csum_partial = rnd() % 16 == 0;
	d.udp_csum_zero = d.proto == IPPROTO_UDP && rnd() % 8 == 0;
	return pkt_build(&d, buf, PKT_MAX);
}

static size_t fuzz_frame(uint8_t *buf, bool *mutated)
{
	size_t len;
	uint32_t how = rnd() % 4;

	*mutated = how != 0;
	if (how == 3) {		/* random bytes, maybe with an IPv4 EtherType */
		len = 14 + rnd() % 200;
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rnd();
		if (rnd() & 1) {
			buf[12] = 0x08;
			buf[13] = 0x00;
			buf[14] = 0x45;
		}
		return len;
	}
	len = valid_frame(buf);
	if (how == 1) {		/* flip bytes in the headers */
		for (int i = 0, n = 1 + rnd() % 4; i < n; i++)
			buf[rnd() % (len < 64 ? len : 64)] ^= (uint8_t)(1u << (rnd() % 8));
	} else if (how == 2) {	/* cut it short */
		len = 1 + rnd() % len;
	}
	return len;
}

static bool from_backend_port(const uint8_t *p, size_t len)
{
	struct pkt_info pi;
	char why[160];

	if (pkt_parse(p, len, &pi, why, sizeof(why)) || !pi.ip4)
		return false;
	/* a first fragment has ports the parser leaves out: ours follows them */
	if ((pi.frag & PKT_IP_MF) && !(pi.frag & PKT_IP_OFFMASK) && pi.l4 + 4 <= len)
		pi.sport = pkt_get16(p + pi.l4);
	return pi.sport == 8080 || pi.sport == 5353;
}

static void test_fuzz(void **state)
{
	static uint8_t in[PKT_MAX];
	static struct xt_run r;
	const char *env = getenv("XLB_FUZZ_N");
	unsigned long n = env ? strtoul(env, NULL, 0) : 100000, changed = 0, counted = 0;
	unsigned long verdicts[5] = { 0 };
	struct xt_stats before, after;
	char why[160];

	for (unsigned long i = 0; i < n; i++) {
		bool mutated, sums = false;
		size_t len = fuzz_frame(in, &mutated);
		bool check = true;

		if (len < 14)
			len = 14;
		sums = !pkt_csum_check(in, len, why, sizeof(why));
		if (check)
			before = xt_stats(dp);
		if (xt_run_raw(dp, in, len, 0, &r))
			fail_msg("frame %lu: BPF_PROG_TEST_RUN failed: %d", i, r.ret);
		if (r.verdict != XDP_PASS && r.verdict != XDP_DROP && r.verdict != XDP_REDIRECT) {
			pkt_hexdump(stderr, "input", in, len, NULL, 0);
			fail_msg("frame %lu: verdict %s", i, xt_verdict_name(r.verdict));
		}
		verdicts[r.verdict]++;
		if (check) {
			after = xt_stats(dp);
			if (!xt_outcome_check(&after, &before, r.verdict, why, sizeof(why))) {
				xt_stats_print(&after, &before);
				pkt_hexdump(stderr, "input", in, len, NULL, 0);
				fail_msg("frame %lu: counters: %s", i, why);
			}
			counted++;
		}
		if (r.verdict == XDP_PASS && (r.len != len || memcmp(r.out, in, len))) {
			changed++;	/* rewritten and left to the stack: must be ours */
			if (!from_backend_port(in, len) && pkt_parse(in, len, &(struct pkt_info){},
								      why, sizeof(why)) == 0) {
				struct pkt_info pi;

				pkt_parse(in, len, &pi, why, sizeof(why));
				if (pi.ip4 && pi.daddr != 0x0a60000a && pi.daddr != 0x0a60000b &&
				    pi.daddr != 0x0a0a0201) {
					pkt_hexdump(stderr, "input", in, len, NULL, 0);
					pkt_hexdump(stderr, "output", r.out, r.len, in, len);
					fail_msg("frame %lu: a frame for nobody of ours was changed", i);
				}
			}
		}
		if (r.verdict == XDP_REDIRECT && sums && r.len > 14 + 20 &&
		    pkt_csum_check(r.out, r.len, why, sizeof(why)) &&
		    !strstr(why, "UDP checksum 0x0000")) {
			/* a reply or a DNAT of a frame that summed right must still */
			pkt_hexdump(stderr, "input", in, len, NULL, 0);
			pkt_hexdump(stderr, "output", r.out, r.len, in, len);
			fail_msg("frame %lu: sent on with %s", i, why);
		}
	}
	print_message("  %lu frames: %lu passed, %lu dropped, %lu redirected; %lu rewritten and "
		      "passed; counters checked on %lu\n", n, verdicts[XDP_PASS], verdicts[XDP_DROP],
		      verdicts[XDP_REDIRECT], changed, counted);
}

static int setup(void **state)
{
	struct xlb_service_spec tcp = xt_svc("10.96.0.10", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_service_spec udp = xt_svc("10.96.0.10", 53, IPPROTO_UDP, XLB_ALGO_WRR);
	struct xlb_service_spec np = xt_svc("10.96.0.11", 80, IPPROTO_TCP, XLB_ALGO_SH);
	struct xlb_backend_spec be[2] = { xt_be("10.20.1.2", 8080, 1), xt_be("10.20.1.3", 8080, 2) };
	struct xlb_backend_spec ube = xt_be("10.20.1.4", 5353, 1);
	struct xlb_ip node = xt_ip("10.10.2.1");
	char err[256];

	dp = xt_dp_open();
	if (!dp)
		return -1;
	np.type = XLB_SVC_NODE_PORT;
	np.node_port = 30080;
	np.affinity_timeout = 600;
	if (xlb_dp_service_set(dp, &tcp, be, 2, err, sizeof(err)) ||
	    xlb_dp_service_set(dp, &udp, &ube, 1, err, sizeof(err)) ||
	    xlb_dp_service_set(dp, &np, be, 2, err, sizeof(err)) ||
	    xlb_dp_node_addr_add(dp, &node))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	xlb_dp_close(dp);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		{ "random and mutated frames (XLB_FUZZ_N, default 100,000): verdicts, one outcome "
		  "each, untouched unless ours, checksums", test_fuzz, NULL, NULL, NULL },
	};

	xt_init();
	return cmocka_run_group_tests_name("fuzz", tests, setup, teardown) ? 1 : 0;
}
