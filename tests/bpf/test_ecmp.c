// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The same Service on several nodes behind a router that spreads clients
 * over them with ECMP (issue 13): two datapaths (two nodes) with the same
 * services and backends choose the same backend for a flow, so when the
 * router re-hashes (a node left) and a flow's next packet reaches another
 * node, that node, without state, sends it to the backend it already had.
 * For sh (the Maglev table, identical everywhere whatever order the
 * backends came in) and rr (a flow's slot is a function of the flow, in a
 * table every node builds from the backends sorted). 500 clients each,
 * their SYN on node A, their next packet on node B.
 */
#include "xlbtest.h"

static struct xlb_dp *node_a, *node_b;

#define N_BE		5
#define N_FLOWS		500

static const char *const backends[N_BE] = {
	"10.20.1.2", "10.20.1.3", "10.20.2.2", "10.20.2.3", "10.20.3.2",
};

/* The backend address a DNATed frame goes to (IPv4 destination). */
static uint32_t out_daddr(const struct xt_run *r)
{
	uint32_t a;

	memcpy(&a, r->out + ETH_HDR_LEN + 16, 4);
	return a;
}

static void one_algo(const char *vip, enum xlb_algo algo)
{
	int moved = 0, spread[N_BE] = { 0 };

	for (int i = 0; i < N_FLOWS; i++) {
		char client[32];
		struct pkt_desc syn = {
			.eth_dst = MAC_NODE, .eth_src = MAC_CLIENT, .daddr = vip,
			.ip_id = (uint16_t)i, .ttl = 60, .frag = PKT_IP_DF,
			.proto = IPPROTO_TCP, .sport = (uint16_t)(20000 + i), .dport = 80,
			.tcp_flags = PKT_SYN, .seq = 1000, .window = 502,
		};
		struct pkt_desc ack = syn;
		uint8_t in[PKT_MAX];
		struct xt_run ra, rb;
		size_t len;

		snprintf(client, sizeof(client), "172.16.%d.%d", 1 + i / 200, 1 + i % 200);
		syn.saddr = ack.saddr = client;
		ack.tcp_flags = PKT_ACK;
		ack.seq = 1001;
		ack.ack = 5001;
		len = xt_build(&syn, in);
		assert_int_equal(xt_run(node_a, in, len, 0, &ra), 0);
		assert_int_equal(ra.verdict, XDP_PASS);		/* DNAT, no route in the test */
		len = xt_build(&ack, in);
		assert_int_equal(xt_run(node_b, in, len, 0, &rb), 0);
		assert_int_equal(rb.verdict, XDP_PASS);
		if (out_daddr(&ra) != out_daddr(&rb))
			moved++;
		for (int b = 0; b < N_BE; b++) {
			struct xlb_ip ip = xt_ip(backends[b]);

			spread[b] += out_daddr(&ra) == ip.addr.a32[0];
		}
	}
	print_message("  %s: %d of %d flows moved between nodes; SYNs on node A per backend:"
		      " %d %d %d %d %d\n", xlb_algo_name(algo), moved, N_FLOWS, spread[0],
		      spread[1], spread[2], spread[3], spread[4]);
	assert_int_equal(moved, 0);
	for (int b = 0; b < N_BE; b++)
		assert_true(spread[b] > 0);	/* the flows do spread */
}

static void test_sh(void **state)
{
	one_algo("10.96.0.30", XLB_ALGO_SH);
}

static void test_rr(void **state)
{
	one_algo("10.96.0.31", XLB_ALGO_RR);
}

static int setup_node(struct xlb_dp **dp, bool reverse)
{
	struct xlb_service_spec sh = xt_svc("10.96.0.30", 80, IPPROTO_TCP, XLB_ALGO_SH);
	struct xlb_service_spec rr = xt_svc("10.96.0.31", 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec be[N_BE];
	char err[256] = "";
	int ret;

	/* sh: node B learns the backends in another order, which its Maglev
	 * table does not depend on; rr's sequence does, and every node gets
	 * them in one order (the reconciler sorts them) */
	for (int i = 0; i < N_BE; i++)
		be[i] = xt_be(backends[reverse ? N_BE - 1 - i : i], 8080, 1);
	*dp = xt_dp_open();
	if (!*dp)
		return -1;
	ret = xlb_dp_service_set(*dp, &sh, be, N_BE, err, sizeof(err));
	for (int i = 0; i < N_BE; i++)
		be[i] = xt_be(backends[i], 8080, 1);
	if (ret || (ret = xlb_dp_service_set(*dp, &rr, be, N_BE, err, sizeof(err)))) {
		print_error("setup: %s (%d)\n", err, ret);
		return -1;
	}
	return 0;
}

static int group_setup(void **state)
{
	return setup_node(&node_a, false) || setup_node(&node_b, true) ? -1 : 0;
}

static int group_teardown(void **state)
{
	xlb_dp_close(node_a);
	xlb_dp_close(node_b);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sh),
		cmocka_unit_test(test_rr),
	};

	xt_init();
	return cmocka_run_group_tests_name("ecmp: two nodes, one choice", tests, group_setup,
					   group_teardown);
}
