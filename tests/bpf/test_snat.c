// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The SNAT engine (bpf/lib/snat.h) through tests/bpf/snat_test.bpf.c, and
 * its expiry (user/dataplane/bpf/snat.c): packets in, bytes out, entries
 * read back from the maps.
 *
 * The program treats a packet to the node address 192.168.50.11 as a
 * reply, anything else as a flow already DNATed to its backend (client
 * 172.16.0.2 -> backend 10.244.2.2:8080). Each test loads it with the port
 * range (and map size) it is about.
 */
#include "xlbtest.h"
#include <arpa/inet.h>

#include "snat_test.skel.h"
#include "dataplane/bpf/snat.h"

#define NODE		"192.168.50.11"
#define CLIENT		"172.16.0.2"
#define BE		"10.244.2.2"
#define BE2		"10.244.3.2"

enum { T_NEW, T_HIT, T_EXHAUSTED, T_FULL, T_REV, T_REV_MISS, T_MAX };

static struct snat_test *skel;
/* xlb_snat_reuse_s of the next load: never, unless a test asks */
static uint32_t reuse_s = 1u << 30;

/* Load the program with SNAT ports [min, max] and maps of entries; the
 * datapath's other maps (included by the parser) shrunk and unpinned. */
static void load(uint16_t min, uint16_t max, uint32_t entries)
{
	struct bpf_map *m;
	int ret;

	skel = snat_test__open();
	assert_non_null(skel);
	bpf_object__for_each_map(m, skel->obj) {
		const char *name = bpf_map__name(m);

		if (strchr(name, '.'))
			continue;	/* .rodata */
		assert_int_equal(bpf_map__set_pin_path(m, NULL), 0);
		if (!strncmp(name, "snat4_", 6))
			bpf_map__set_max_entries(m, entries);
		else if (strcmp(name, "snat_test_stats") && strcmp(name, "scratch"))
			bpf_map__set_max_entries(m, 1);
	}
	inet_pton(AF_INET, NODE, (void *)&skel->rodata->node_addr);
	skel->rodata->xlb_snat_port_min = min;
	skel->rodata->xlb_snat_port_max = max;
	skel->rodata->xlb_snat_reuse_s = reuse_s;
	ret = snat_test__load(skel);
	if (ret)
		fail_msg("load snat_test: %d", ret);
}

static int teardown(void **state)
{
	snat_test__destroy(skel);
	skel = NULL;
	reuse_s = 1u << 30;
	return 0;
}

static int fwd_fd(void)
{
	return bpf_map__fd(skel->maps.snat4_fwd);
}

static int rev_fd(void)
{
	return bpf_map__fd(skel->maps.snat4_rev);
}

static uint64_t stat(int i)
{
	uint32_t k = (uint32_t)i;
	uint64_t v = 0;

	bpf_map_lookup_elem(bpf_map__fd(skel->maps.snat_test_stats), &k, &v);
	return v;
}

static uint32_t map_count(int fd)
{
	struct xlb_snat4_key k, next;
	uint32_t n = 0;
	bool have = !bpf_map_get_next_key(fd, NULL, &k);

	while (have) {
		n++;
		have = !bpf_map_get_next_key(fd, &k, &next);
		k = next;
	}
	return n;
}

struct out {
	uint32_t verdict;
	uint8_t buf[PKT_MAX];
	uint32_t len;
	struct pkt_info pi;
};

/* Run one packet; the output parsed and its checksums verified. */
static struct out run(const struct pkt_desc *d)
{
	static uint8_t in[PKT_MAX];
	struct out o = { 0 };
	size_t len = xt_build(d, in);
	char why[160];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = (uint32_t)len,
		    .data_out = o.buf, .data_size_out = sizeof(o.buf), .repeat = 1);

	if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.snat_test), &opts))
		fail_msg("BPF_PROG_TEST_RUN: %s", strerror(errno));
	o.verdict = opts.retval;
	o.len = opts.data_size_out;
	if (pkt_parse(o.buf, o.len, &o.pi, why, sizeof(why)) ||
	    pkt_csum_check(o.buf, o.len, why, sizeof(why))) {
		pkt_hexdump(stderr, "output", o.buf, o.len, NULL, 0);
		fail_msg("output: %s", why);
	}
	return o;
}

/* The output must be exactly d rebuilt (fresh checksums). */
static void expect_bytes(const struct out *o, const struct pkt_desc *d)
{
	uint8_t exp[PKT_MAX];
	size_t len = xt_build(d, exp);

	if (o->len != len || memcmp(o->buf, exp, len)) {
		pkt_hexdump(stderr, "expected", exp, len, o->buf, o->len);
		pkt_hexdump(stderr, "output", o->buf, o->len, exp, len);
		fail_msg("output differs from the expected packet");
	}
}

static uint32_t ip(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

static struct xlb_snat4_key key(const char *sa, const char *da, uint16_t sp, uint16_t dp,
				uint8_t proto)
{
	return (struct xlb_snat4_key){ .saddr = ip(sa), .daddr = ip(da), .sport = htons(sp),
				       .dport = htons(dp), .proto = proto };
}

#define TCP_C(sa, sp, fl) \
	{ .eth_dst = MAC_BACKEND, .eth_src = MAC_NODE, .saddr = sa, .daddr = BE, \
	  .proto = IPPROTO_TCP, .sport = sp, .dport = 8080, .tcp_flags = fl, .seq = 1000, \
	  .ack = 5001, .window = 512, .ttl = 63, .ip_id = 7, .frag = PKT_IP_DF }
#define TCP_B(dp, fl) \
	{ .eth_dst = MAC_NODE, .eth_src = MAC_BACKEND, .saddr = BE, .daddr = NODE, \
	  .proto = IPPROTO_TCP, .sport = 8080, .dport = dp, .tcp_flags = fl, .seq = 5000, \
	  .ack = 1001, .window = 512, .ttl = 64, .ip_id = 9, .frag = PKT_IP_DF }

/* A TCP conversation through SNAT, byte for byte: the SYN leaves from the
 * node with a port of the range, the SYN-ACK to that port goes back to the
 * client, data keeps the port; the entries say so. */
static void test_tcp_flow(void **state)
{
	struct pkt_desc syn = TCP_C(CLIENT, 33000, PKT_SYN), exp;
	struct pkt_desc synack = TCP_B(0, PKT_SYN | PKT_ACK);
	struct pkt_desc ack = TCP_C(CLIENT, 33000, PKT_ACK | PKT_PSH);
	struct xlb_snat4_key fk = key(CLIENT, BE, 33000, 8080, IPPROTO_TCP), rk;
	struct xlb_snat4_val fv, rv;
	struct out o;
	uint16_t port;

	load(40000, 40099, 64);
	syn.tcp_opt_len = 20;
	o = run(&syn);
	assert_int_equal(o.verdict, XDP_TX);
	port = o.pi.sport;
	assert_in_range(port, 40000, 40099);
	exp = syn;
	exp.saddr = NODE;
	exp.sport = port;
	expect_bytes(&o, &exp);
	assert_int_equal(stat(T_NEW), 1);

	assert_int_equal(bpf_map_lookup_elem(fwd_fd(), &fk, &fv), 0);
	assert_int_equal(fv.addr, ip(NODE));
	assert_int_equal(ntohs(fv.port), port);
	rk = key(BE, NODE, 8080, port, IPPROTO_TCP);
	assert_int_equal(bpf_map_lookup_elem(rev_fd(), &rk, &rv), 0);
	assert_int_equal(rv.addr, ip(CLIENT));
	assert_int_equal(ntohs(rv.port), 33000);
	assert_int_equal(xlb_snat_state(&fv, &rv), XLB_CT_NEW);

	synack.dport = port;
	synack.tcp_opt_len = 20;
	o = run(&synack);
	assert_int_equal(o.verdict, XDP_TX);
	exp = synack;
	exp.daddr = CLIENT;
	exp.dport = 33000;
	expect_bytes(&o, &exp);
	assert_int_equal(stat(T_REV), 1);

	ack.payload_len = 300;
	o = run(&ack);
	assert_int_equal(o.verdict, XDP_TX);
	exp = ack;
	exp.saddr = NODE;
	exp.sport = port;
	expect_bytes(&o, &exp);
	assert_int_equal(stat(T_HIT), 1);
	assert_int_equal(stat(T_NEW), 1);
	assert_int_equal(map_count(fwd_fd()), 1);
	assert_int_equal(map_count(rev_fd()), 1);

	assert_int_equal(bpf_map_lookup_elem(fwd_fd(), &fk, &fv), 0);
	assert_int_equal(bpf_map_lookup_elem(rev_fd(), &rk, &rv), 0);
	assert_int_equal(xlb_snat_state(&fv, &rv), XLB_CT_ESTABLISHED);
}

/* A client port inside the range is kept when free. */
static void test_keep_port(void **state)
{
	struct pkt_desc syn = TCP_C(CLIENT, 40042, PKT_SYN);
	struct out o;

	load(40000, 40099, 64);
	o = run(&syn);
	assert_int_equal(o.verdict, XDP_TX);
	assert_int_equal(o.pi.sport, 40042);
}

/* Four ports: four flows take them (their own ports, kept), a fifth to
 * the same backend is refused and counted; another backend, or another
 * port of the same one, has the whole range again. */
static void test_exhaustion(void **state)
{
	static const char *const clients[] = { "172.16.0.2", "172.16.0.3", "172.16.0.4",
					       "172.16.0.5" };
	struct pkt_desc d;
	struct out o;

	load(40000, 40003, 64);
	for (int i = 0; i < 4; i++) {
		d = (struct pkt_desc)TCP_C(clients[i], (uint16_t)(40000 + i), PKT_SYN);
		o = run(&d);
		assert_int_equal(o.verdict, XDP_TX);
		assert_int_equal(o.pi.sport, 40000 + i);
	}
	d = (struct pkt_desc)TCP_C("172.16.0.9", 40000, PKT_SYN);
	o = run(&d);
	assert_int_equal(o.verdict, XDP_DROP);
	assert_int_equal(stat(T_EXHAUSTED), 1);
	assert_int_equal(map_count(rev_fd()), 4);
	assert_int_equal(map_count(fwd_fd()), 4);

	d.daddr = BE2;
	o = run(&d);
	assert_int_equal(o.verdict, XDP_TX);
	assert_int_equal(o.pi.sport, 40000);
	d.daddr = BE;
	d.dport = 9090;
	o = run(&d);
	assert_int_equal(o.verdict, XDP_TX);
	assert_int_equal(o.pi.sport, 40000);
	assert_int_equal(stat(T_EXHAUSTED), 1);
}

/* A packet to the node that answers no flow is not touched: to a port of
 * the range nobody holds, or outside the range. */
static void test_reply_without_flow(void **state)
{
	struct pkt_desc d = TCP_B(40001, PKT_SYN | PKT_ACK);
	uint8_t in[PKT_MAX];
	size_t len;
	struct out o;

	load(40000, 40099, 64);
	for (int i = 0; i < 2; i++) {
		d.dport = i ? 22 : 40001;
		len = xt_build(&d, in);
		o = run(&d);
		assert_int_equal(o.verdict, XDP_PASS);
		assert_int_equal(o.len, len);
		assert_memory_equal(o.buf, in, len);
	}
	assert_int_equal(stat(T_REV_MISS), 2);
}

/* UDP: a datagram without checksum keeps none; one with a checksum gets
 * it updated; the reply finds the client. */
static void test_udp(void **state)
{
	struct pkt_desc d = { .eth_dst = MAC_BACKEND, .eth_src = MAC_NODE, .saddr = CLIENT,
			      .daddr = BE, .proto = IPPROTO_UDP, .sport = 5000, .dport = 53,
			      .payload_len = 100 };
	struct pkt_desc r, exp;
	struct out o;

	load(40000, 40099, 64);
	for (int zero = 0; zero < 2; zero++) {
		d.sport = (uint16_t)(5000 + zero);
		d.udp_csum_zero = zero;
		o = run(&d);
		assert_int_equal(o.verdict, XDP_TX);
		exp = d;
		exp.saddr = NODE;
		exp.sport = o.pi.sport;
		expect_bytes(&o, &exp);
		if (zero)
			assert_int_equal(o.pi.l4_csum, 0);

		r = (struct pkt_desc){ .eth_dst = MAC_NODE, .eth_src = MAC_BACKEND, .saddr = BE,
				       .daddr = NODE, .proto = IPPROTO_UDP, .sport = 53,
				       .dport = o.pi.sport, .payload_len = 700,
				       .udp_csum_zero = zero };
		o = run(&r);
		assert_int_equal(o.verdict, XDP_TX);
		exp = r;
		exp.daddr = CLIENT;
		exp.dport = d.sport;
		expect_bytes(&o, &exp);
	}
}

/* Run a whole TCP conversation (handshake, FIN both ways) of client:cport
 * through SNAT; returns its port. */
static uint16_t conversation(const char *client, uint16_t cport, bool close)
{
	struct pkt_desc c = TCP_C(client, cport, PKT_SYN), b = TCP_B(0, PKT_SYN | PKT_ACK);
	struct out o = run(&c);
	uint16_t port = o.pi.sport;

	assert_int_equal(o.verdict, XDP_TX);
	b.dport = port;
	assert_int_equal(run(&b).verdict, XDP_TX);
	c.tcp_flags = PKT_ACK;
	assert_int_equal(run(&c).verdict, XDP_TX);
	if (close) {
		c.tcp_flags = PKT_ACK | PKT_FIN;
		assert_int_equal(run(&c).verdict, XDP_TX);
		b.tcp_flags = PKT_ACK | PKT_FIN;
		assert_int_equal(run(&b).verdict, XDP_TX);
	}
	return port;
}

static uint32_t last_seen(const char *client, uint16_t cport)
{
	struct xlb_snat4_key fk = key(client, BE, cport, 8080, IPPROTO_TCP);
	struct xlb_snat4_val fv;

	assert_int_equal(bpf_map_lookup_elem(fwd_fd(), &fk, &fv), 0);
	return fv.last_seen;
}

/* Expiry by state: a closed flow goes once idle past the closed lifetime
 * and its port serves the next flow; an established one stays. */
static void test_expiry_and_reuse(void **state)
{
	struct pkt_desc d = TCP_C("172.16.0.9", 33000, PKT_SYN);
	uint32_t now, removed = 99;
	struct out o;

	load(40000, 40001, 64);
	assert_int_equal(conversation("172.16.0.2", 40000, true), 40000);
	assert_int_equal(conversation("172.16.0.3", 40001, false), 40001);
	o = run(&d);
	assert_int_equal(o.verdict, XDP_DROP);
	assert_int_equal(stat(T_EXHAUSTED), 1);

	now = last_seen("172.16.0.2", 40000);
	assert_int_equal(xlb_snat_expire(fwd_fd(), rev_fd(), &xlb_ct_default_timeouts, now,
					 &removed), 0);
	assert_int_equal(removed, 0);
	now += xlb_ct_default_timeouts.tcp_closed + 1;
	assert_int_equal(xlb_snat_expire(fwd_fd(), rev_fd(), &xlb_ct_default_timeouts, now,
					 &removed), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(map_count(fwd_fd()), 1);
	assert_int_equal(map_count(rev_fd()), 1);

	o = run(&d);
	assert_int_equal(o.verdict, XDP_TX);
	assert_int_equal(o.pi.sport, 40000);
}

/* A full range under pressure: a port whose flow closed (FIN both ways,
 * or a reset either way) at least xlb_snat_reuse_s ago (0 here) is taken
 * over by a new flow, the closed flow's forward entry going with it; a
 * port of an open flow never is. */
static void test_takeover_closed(void **state)
{
	struct pkt_desc d = TCP_C("172.16.0.9", 33000, PKT_SYN);
	struct pkt_desc rst = TCP_C("172.16.0.3", 40001, PKT_RST | PKT_ACK);
	struct xlb_snat4_key old_fk = key("172.16.0.2", BE, 40000, 8080, IPPROTO_TCP);
	struct xlb_snat4_key rk = key(BE, NODE, 8080, 40000, IPPROTO_TCP);
	struct xlb_snat4_val v;
	struct out o;

	reuse_s = 0;
	load(40000, 40001, 64);
	assert_int_equal(conversation("172.16.0.2", 40000, true), 40000);	/* FIN both ways */
	assert_int_equal(conversation("172.16.0.3", 40001, false), 40001);	/* open */
	o = run(&d);
	assert_int_equal(o.verdict, XDP_TX);
	assert_int_equal(o.pi.sport, 40000);		/* the closed flow's port */
	assert_int_equal(stat(T_NEW), 3);
	assert_int_not_equal(bpf_map_lookup_elem(fwd_fd(), &old_fk, &v), 0);
	assert_int_equal(bpf_map_lookup_elem(rev_fd(), &rk, &v), 0);
	assert_int_equal(v.addr, ip("172.16.0.9"));
	assert_int_equal(ntohs(v.port), 33000);
	assert_int_equal(map_count(fwd_fd()), 2);
	assert_int_equal(map_count(rev_fd()), 2);

	/* both ports held by open flows now: exhausted */
	d.sport = 33001;
	assert_int_equal(run(&d).verdict, XDP_DROP);
	assert_int_equal(stat(T_EXHAUSTED), 1);
	/* a reset from the client closes 172.16.0.3's: its port serves */
	assert_int_equal(run(&rst).verdict, XDP_TX);
	o = run(&d);
	assert_int_equal(o.verdict, XDP_TX);
	assert_int_equal(o.pi.sport, 40001);
}

/* Without a delay to wait out (xlb_snat_reuse_s never, here): a flow
 * reset by either end gives its port at once, one closed by FINs does
 * not. */
static void test_takeover_reset(void **state)
{
	struct pkt_desc d = TCP_C("172.16.0.9", 33000, PKT_SYN);
	struct pkt_desc rst = TCP_B(40001, PKT_RST);
	struct out o;

	load(40000, 40001, 64);
	assert_int_equal(conversation("172.16.0.2", 40000, true), 40000);	/* FIN both ways */
	assert_int_equal(conversation("172.16.0.3", 40001, false), 40001);
	assert_int_equal(run(&d).verdict, XDP_DROP);	/* FINs: not yet */
	assert_int_equal(stat(T_EXHAUSTED), 1);
	assert_int_equal(run(&rst).verdict, XDP_TX);	/* the backend resets 40001's flow */
	o = run(&d);
	assert_int_equal(o.verdict, XDP_TX);
	assert_int_equal(o.pi.sport, 40001);
}

/* A SYN on the 5-tuple of a closed flow reuses its mapping as a new
 * connection: same port, state back to new. */
static void test_syn_after_close(void **state)
{
	struct pkt_desc d = TCP_C(CLIENT, 33000, PKT_SYN);
	struct xlb_snat4_key fk = key(CLIENT, BE, 33000, 8080, IPPROTO_TCP), rk;
	struct xlb_snat4_val fv, rv;
	uint16_t port;
	struct out o;

	load(40000, 40099, 64);
	port = conversation(CLIENT, 33000, true);
	rk = key(BE, NODE, 8080, port, IPPROTO_TCP);
	assert_int_equal(bpf_map_lookup_elem(fwd_fd(), &fk, &fv), 0);
	assert_int_equal(bpf_map_lookup_elem(rev_fd(), &rk, &rv), 0);
	assert_int_equal(xlb_snat_state(&fv, &rv), XLB_CT_CLOSED);

	o = run(&d);
	assert_int_equal(o.verdict, XDP_TX);
	assert_int_equal(o.pi.sport, port);
	assert_int_equal(bpf_map_lookup_elem(fwd_fd(), &fk, &fv), 0);
	assert_int_equal(bpf_map_lookup_elem(rev_fd(), &rk, &rv), 0);
	assert_int_equal(xlb_snat_state(&fv, &rv), XLB_CT_NEW);
	assert_int_equal(stat(T_NEW), 1);
}

/* Maps of four entries: the fifth flow is refused and counted, and leaves
 * no reverse entry behind. */
static void test_maps_full(void **state)
{
	char client[32];
	struct pkt_desc d;

	load(40000, 40099, 4);
	for (int i = 0; i < 5; i++) {
		snprintf(client, sizeof(client), "172.16.1.%d", i + 1);
		d = (struct pkt_desc)TCP_C(client, 33000, PKT_SYN);
		assert_int_equal(run(&d).verdict, i < 4 ? XDP_TX : XDP_DROP);
	}
	assert_int_equal(stat(T_FULL), 1);
	assert_int_equal(map_count(fwd_fd()), 4);
	assert_int_equal(map_count(rev_fd()), 4);
}

/* 1,200 flows to one backend over 1,000 ports: no port is given twice,
 * every one is in the range, each refusal is counted, and random probing
 * fills nearly all of the range. */
static void test_many_flows(void **state)
{
	static uint8_t seen[1000];
	char client[32];
	uint32_t ok = 0;
	struct pkt_desc d;
	struct out o;

	load(40000, 40999, 2048);
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < 1200; i++) {
		snprintf(client, sizeof(client), "10.1.%d.%d", i / 250, i % 250 + 1);
		d = (struct pkt_desc)TCP_C(client, 33000, PKT_SYN);
		o = run(&d);
		if (o.verdict != XDP_TX)
			continue;
		assert_in_range(o.pi.sport, 40000, 40999);
		if (seen[o.pi.sport - 40000]++)
			fail_msg("port %u given twice", o.pi.sport);
		ok++;
	}
	assert_int_equal(ok + stat(T_EXHAUSTED), 1200);
	assert_int_equal(map_count(rev_fd()), ok);
	assert_true(ok >= 950);
}

/* A reverse entry that no forward entry holds (a mapping interrupted
 * halfway) goes once two seconds old; a fresh one stays. */
static void test_orphan_reverse(void **state)
{
	struct xlb_snat4_key old = key(BE, NODE, 8080, 40001, IPPROTO_TCP);
	struct xlb_snat4_key fresh = key(BE, NODE, 8080, 40002, IPPROTO_TCP);
	struct xlb_snat4_val v = { .addr = ip(CLIENT), .port = htons(33000), .created = 100,
				   .last_seen = 100 };

	load(40000, 40099, 64);
	assert_int_equal(bpf_map_update_elem(rev_fd(), &old, &v, BPF_NOEXIST), 0);
	v.created = 105;
	assert_int_equal(bpf_map_update_elem(rev_fd(), &fresh, &v, BPF_NOEXIST), 0);
	assert_int_equal(xlb_snat_expire(fwd_fd(), rev_fd(), &xlb_ct_default_timeouts, 105, NULL),
			 0);
	assert_int_equal(map_count(rev_fd()), 1);
	assert_int_equal(bpf_map_lookup_elem(rev_fd(), &fresh, &v), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_tcp_flow, teardown),
		cmocka_unit_test_teardown(test_keep_port, teardown),
		cmocka_unit_test_teardown(test_exhaustion, teardown),
		cmocka_unit_test_teardown(test_reply_without_flow, teardown),
		cmocka_unit_test_teardown(test_udp, teardown),
		cmocka_unit_test_teardown(test_expiry_and_reuse, teardown),
		cmocka_unit_test_teardown(test_syn_after_close, teardown),
		cmocka_unit_test_teardown(test_takeover_closed, teardown),
		cmocka_unit_test_teardown(test_takeover_reset, teardown),
		cmocka_unit_test_teardown(test_maps_full, teardown),
		cmocka_unit_test_teardown(test_many_flows, teardown),
		cmocka_unit_test_teardown(test_orphan_reverse, teardown),
	};

	xt_init();
	return cmocka_run_group_tests_name("snat engine", tests, NULL, NULL) ? 1 : 0;
}
