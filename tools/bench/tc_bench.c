// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tc_bench: per-packet cost of xlb_from_nic, the tc program at ingress of
 * every XDP NIC (bpf/tc_pod.bpf.c), with BPF_PROG_TEST_RUN over skbs, next
 * to floors measured in the same run (tc_floor.bpf.c):
 *
 *   pass-through   a frame of no flow of XDP's (to the node's own address):
 *                  to a port no backend uses, parse and one port_map
 *                  lookup; to a backend's port, ct4 and ct_syn miss too;
 *                  TC_ACT_UNSPEC (nic_pass): what every frame XDP passed
 *                  costs the node
 *   local delivery a frame XDP DNATed to a pod of this node: found in ct4
 *                  (established) or in ct_syn (the first-packet table),
 *                  the pod's veth looked up (bpf_fib_lookup, pod_ifs),
 *                  MACs written, bpf_redirect_peer (nic_fwd_local)
 *
 * The flows are made as they are on a node: XDP (xlb_xdp) DNATs the
 * client's SYN to a node port, the pod's SYN-ACK goes through xlb_from_pod
 * on its veth, XDP establishes the flow on the client's ACK. xlb_from_nic
 * rewrites only the MACs, the same on every iteration, so a repeated run
 * times the same path each time: no harness is needed. Every run is
 * checked before it counts: the verdict, the output bytes (exact), and the
 * pod counters (exactly `repeat` of the case's outcome, nothing else).
 *
 * In a network namespace of its own, pinned to one CPU (tests/bpf's
 * xt_init): fab0 is the NIC (192.168.50.11/24), lxc2 the pod's veth
 * (10.244.1.12/32 dev lxc2). Prints a Markdown table; exits 1 on any
 * failed check.
 *
 *   sudo build/bench/tc_bench [--quick] [--rounds N] [--repeat N]
 */
#include "xlbtest.h"

#include <getopt.h>
#include <net/if.h>
#include <linux/pkt_cls.h>

#include "tc_floor.skel.h"

#define MAX_ROUNDS	32

#define NODE		"192.168.50.11"
#define POD2		"10.244.1.12"
#define EXT		"172.16.0.2"
#define NODE_PORT	30083

#define MAC_FAB0	{ 0x02, 0x00, 0x00, 0x00, 0x00, 0xf0 }
#define MAC_GW		{ 0x02, 0x00, 0x00, 0x00, 0x00, 0xf2 }
#define MAC_LXC2	{ 0x02, 0x00, 0x00, 0x00, 0x02, 0x01 }
#define MAC_POD2	{ 0x02, 0x00, 0x00, 0x00, 0x02, 0x02 }

static const uint8_t mac_lxc2[6] = MAC_LXC2, mac_pod2[6] = MAC_POD2;

static struct xlb_dp *dp;
static uint32_t if_fab0, if_lxc2;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "tc_bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

struct bcase {
	const char *name;
	int fd;
	uint8_t in[PKT_MAX], out[PKT_MAX];	/* the frame, and what must come out */
	uint32_t len;
	int verdict;
	int stat;			/* the pod counter moving by repeat; -1: none */
	double ns[MAX_ROUNDS];
};

/* A TCP frame from the client's router on the NIC. */
static uint32_t frame(uint8_t *buf, const char *saddr, const char *daddr, uint16_t sport,
		      uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack,
		      const uint8_t *src, const uint8_t *dst)
{
	struct pkt_desc d = { .eth_dst = MAC_FAB0, .eth_src = MAC_GW, .saddr = saddr,
			      .daddr = daddr, .ttl = 61, .frag = PKT_IP_DF, .proto = IPPROTO_TCP,
			      .sport = sport, .dport = dport, .tcp_flags = flags, .seq = seq,
			      .ack = ack, .window = 502 };
	size_t len;

	if (src)
		memcpy(d.eth_src, src, 6);
	if (dst)
		memcpy(d.eth_dst, dst, 6);
	len = pkt_build(&d, buf, PKT_MAX);
	if (!len)
		die("pkt_build failed");
	return (uint32_t)len;
}

/* One run; its verdict and output into *verdict and out. ns per run. */
static double run(int fd, const uint8_t *in, uint32_t len, uint32_t ifindex, bool xdp,
		  uint32_t repeat, int *verdict, uint8_t *out)
{
	struct __sk_buff skb = { .ifindex = ifindex };
	struct xdp_md xm = { .data_end = len, .ingress_ifindex = ifindex };
	uint8_t buf[PKT_MAX];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = len, .data_out = buf,
		    .data_size_out = sizeof(buf), .repeat = repeat);

	if (xdp) {
		o.ctx_in = &xm;
		o.ctx_size_in = sizeof(xm);
	} else if (ifindex) {
		o.ctx_in = &skb;
		o.ctx_size_in = sizeof(skb);
	}
	if (bpf_prog_test_run_opts(fd, &o))
		die("BPF_PROG_TEST_RUN: %s", strerror(errno));
	*verdict = (int)o.retval;
	if (out)
		memcpy(out, buf, o.data_size_out);
	return (double)o.duration;
}

/* The pod counters of the last run: exactly `repeat` of want, no other. */
static void check_stats(const struct bcase *c, const uint64_t *b, const uint64_t *a,
			uint32_t repeat)
{
	for (int i = 0; i < XLB_POD_STAT_MAX; i++) {
		uint64_t want = i == c->stat ? repeat : 0;

		if (a[i] - b[i] != want)
			die("%s: counter %s moved by %llu, expected %llu", c->name,
			    xlb_pod_stat_info(i)->name, (unsigned long long)(a[i] - b[i]),
			    (unsigned long long)want);
	}
}

static double measure(struct bcase *c, uint32_t repeat)
{
	uint64_t before[XLB_POD_STAT_MAX], after[XLB_POD_STAT_MAX];
	uint8_t out[PKT_MAX];
	int verdict;
	double ns;

	xlb_dp_pod_stats(dp, before);
	ns = run(c->fd, c->in, c->len, if_fab0, false, repeat, &verdict, out);
	xlb_dp_pod_stats(dp, after);
	if (verdict != c->verdict)
		die("%s: verdict %d, expected %d", c->name, verdict, c->verdict);
	if (memcmp(out, c->out, c->len)) {
		pkt_hexdump(stderr, "expected", c->out, c->len, out, c->len);
		pkt_hexdump(stderr, "got", out, c->len, c->out, c->len);
		die("%s: the output frame is not the expected one", c->name);
	}
	check_stats(c, before, after, repeat);
	return ns;
}

/* One run of program prog (xlb_xdp or a tc one) on a frame from ifindex,
 * which must give verdict want. */
static void step(const char *what, const char *prog, uint32_t ifindex, const uint8_t *in,
		 uint32_t len, int want)
{
	bool xdp = !strcmp(prog, "xlb_xdp");
	int fd = xdp ? xlb_dp_bpf_prog_fd(dp) : xlb_dp_bpf_hook_prog_fd(dp, prog);
	int verdict;

	if (fd < 0)
		die("%s: program %s: %d", what, prog, fd);
	run(fd, in, len, ifindex, xdp, 1, &verdict, NULL);
	if (verdict != want)
		die("%s: verdict %d, expected %d", what, verdict, want);
}

/* Flow from EXT:sport to the node port, through XDP to POD2:8080; with
 * established, through the handshake (the SYN-ACK by tc on lxc2). */
static void make_flow(uint16_t sport, bool established)
{
	uint8_t f[PKT_MAX];
	uint32_t len;

	len = frame(f, EXT, NODE, sport, NODE_PORT, PKT_SYN, 1000, 0, NULL, NULL);
	step("XDP: the client's SYN, DNAT to the pod, passed", "xlb_xdp", if_fab0, f, len,
	     XDP_PASS);
	if (!established)
		return;
	len = frame(f, POD2, EXT, 8080, sport, PKT_SYN | PKT_ACK, 5000, 1001, mac_pod2, mac_lxc2);
	step("tc on lxc2: the pod's SYN-ACK, out of the NIC", "xlb_from_pod", if_lxc2, f, len,
	     TC_ACT_REDIRECT);
	len = frame(f, EXT, NODE, sport, NODE_PORT, PKT_ACK, 1001, 5001, NULL, NULL);
	step("XDP: the client's ACK, established", "xlb_xdp", if_fab0, f, len, XDP_PASS);
}

/* Case c: program fd on an ACK from EXT:sport to daddr:dport as it comes
 * off the NIC; with deliver, the same frame must come out with the MACs
 * of the pod's veth and the pod, else unchanged. */
static void add(struct bcase *c, const char *name, int fd, const char *daddr, uint16_t sport,
		uint16_t dport, bool deliver, int verdict, int stat)
{
	memset(c, 0, sizeof(*c));
	c->name = name;
	c->fd = fd;
	c->len = frame(c->in, EXT, daddr, sport, dport, PKT_ACK, 1001, 5001, NULL, NULL);
	if (deliver)
		frame(c->out, EXT, daddr, sport, dport, PKT_ACK, 1001, 5001, mac_lxc2, mac_pod2);
	else
		memcpy(c->out, c->in, c->len);
	c->verdict = verdict;
	c->stat = stat;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const double *v, int n, double *min, double *max)
{
	double s[MAX_ROUNDS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_d);
	*min = s[0];
	*max = s[n - 1];
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	static const char *const cmds[] = {
		"sysctl -qw net.ipv6.conf.all.disable_ipv6=1",
		"sysctl -qw net.ipv6.conf.default.disable_ipv6=1",
		"ip link set lo up",
		"ip link add lxc2 address 02:00:00:00:02:01 type veth peer name pod2 address 02:00:00:00:02:02",
		"ip link add fab0 address 02:00:00:00:00:f0 type veth peer name fab1 address 02:00:00:00:00:f1",
		"ip link set lxc2 up", "ip link set pod2 up", "ip link set fab0 up", "ip link set fab1 up",
		"ip addr add 192.168.50.11/24 dev fab0",
		"ip route add 10.244.1.12/32 dev lxc2",
		"ip neigh replace 10.244.1.12 lladdr 02:00:00:00:02:02 dev lxc2 nud permanent",
		"ip neigh replace 172.16.0.2 lladdr 02:00:00:00:00:f2 dev fab0 nud permanent",
		"ip route add 172.16.0.0/24 via 192.168.50.1 dev fab0 onlink",
	};
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "repeat", required_argument, NULL, 'n' },
		{ 0 },
	};
	int rounds = 7, opt, nc = 0;
	uint32_t repeat = 1000000;
	struct xlb_dp_opts o = { .pin_dir = "" };
	struct xlb_service_spec s;
	struct xlb_backend_spec b;
	struct xlb_ip node;
	struct tc_floor *fl;
	struct bcase c[9];
	char err[256] = "";
	int nic;

	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case 'q': rounds = 3; repeat = 100000; break;
		case 'r': rounds = atoi(optarg); break;
		case 'n': repeat = (uint32_t)strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: tc_bench [--quick] [--rounds N] [--repeat N]\n");
			return 2;
		}
	}
	if (rounds < 1 || rounds > MAX_ROUNDS || !repeat)
		die("--rounds 1..%d, --repeat > 0", MAX_ROUNDS);
	xt_init();
	if (xt_sh_all(cmds, sizeof(cmds) / sizeof(cmds[0])) || xt_forwarding())
		die("the benchmark's namespace could not be set up");
	if_fab0 = if_nametoindex("fab0");
	if_lxc2 = if_nametoindex("lxc2");
	if (xlb_dp_bpf_open(&o, &dp, err, sizeof(err)))
		die("open the datapath: %s", err);
	s = xt_svc("10.96.1.8", 80, IPPROTO_TCP, XLB_ALGO_RR);
	s.type = XLB_SVC_NODE_PORT;
	s.node_port = NODE_PORT;
	b = xt_be(POD2, 8080, 1);
	b.local = true;
	node = xt_ip(NODE);
	if (xlb_dp_service_set(dp, &s, &b, 1, err, sizeof(err)) ||
	    xlb_dp_node_addr_add(dp, &node) || xlb_dp_pod_attach(dp, "lxc2", err, sizeof(err)))
		die("set up the service and the pod: %s", err);
	make_flow(45000, true);
	make_flow(45001, false);

	fl = tc_floor__open();
	if (!fl)
		die("open tc_floor");
	fl->rodata->floor_ifindex = if_lxc2;
	memcpy((void *)fl->rodata->floor_macs, mac_lxc2, 6);
	memcpy((void *)fl->rodata->floor_macs + 6, mac_pod2, 6);
	if (tc_floor__load(fl))
		die("load tc_floor");

	/* floors: no pod counter moves */
	add(&c[nc++], "floor: empty program (TC_ACT_UNSPEC)", bpf_program__fd(fl->progs.tc_floor_pass),
	    NODE, 40000, 22, false, TC_ACT_UNSPEC, -1);
	add(&c[nc++], "floor: parse, one hash lookup (a miss), TC_ACT_UNSPEC",
	    bpf_program__fd(fl->progs.tc_floor_lookup), NODE, 40000, 22, false, TC_ACT_UNSPEC, -1);
	add(&c[nc++], "floor: parse, write the MACs, bpf_redirect_peer",
	    bpf_program__fd(fl->progs.tc_floor_peer), POD2, 45000, 8080, true, TC_ACT_REDIRECT, -1);
	add(&c[nc++], "floor: parse, bpf_fib_lookup to the pod, write the MACs, bpf_redirect_peer",
	    bpf_program__fd(fl->progs.tc_floor_fib), POD2, 45000, 8080, true, TC_ACT_REDIRECT, -1);
	/* xlb_from_nic */
	nic = xlb_dp_bpf_hook_prog_fd(dp, "xlb_from_nic");
	if (nic < 0)
		die("program xlb_from_nic: %d", nic);
	add(&c[nc++], "xlb_from_nic: pass-through, a port no backend uses (nic_pass)", nic, NODE,
	    40000, 22, false, TC_ACT_UNSPEC, XLB_POD_NIC_PASS);
	add(&c[nc++], "xlb_from_nic: pass-through, a backend's port, no flow of XDP's (nic_pass)",
	    nic, NODE, 40000, 8080, false, TC_ACT_UNSPEC, XLB_POD_NIC_PASS);
	add(&c[nc++], "xlb_from_nic: local delivery, established flow (ct4)", nic, POD2, 45000,
	    8080, true, TC_ACT_REDIRECT, XLB_POD_NIC_FWD_LOCAL);
	add(&c[nc++], "xlb_from_nic: local delivery, first-packet table (ct_syn)", nic, POD2,
	    45001, 8080, true, TC_ACT_REDIRECT, XLB_POD_NIC_FWD_LOCAL);

	for (int i = 0; i < nc; i++)
		measure(&c[i], repeat);	/* warm-up */
	for (int r = 0; r < rounds; r++) {
		fprintf(stderr, "tc_bench: round %d of %d\n", r + 1, rounds);
		for (int i = 0; i < nc; i++)
			c[i].ns[r] = measure(&c[i], repeat);
	}

	{
		double mn, mx, empty = median(c[0].ns, rounds, &mn, &mx);
		double lookup = median(c[1].ns, rounds, &mn, &mx);
		double peer = median(c[2].ns, rounds, &mn, &mx);
		double fib = median(c[3].ns, rounds, &mn, &mx);

		printf("| tc at ingress of the NIC (%d rounds of %u) | ns/pkt min / median / max | "
		       "net | x floor |\n|---|---|---|---|\n", rounds, repeat);
		for (int i = 0; i < nc; i++) {
			double m = median(c[i].ns, rounds, &mn, &mx);

			printf("| %s | %.0f / %.0f / %.0f | %.0f | ", c[i].name, mn, m, mx, m - empty);
			if (i == 4 || i == 5)
				printf("%.2fx lookup |\n", m / lookup);
			else if (i > 5)
				printf("%.2fx fib, %.2fx peer |\n", m / fib, m / peer);
			else
				printf("- |\n");
		}
	}
	tc_floor__destroy(fl);
	xlb_dp_close(dp);
	return 0;
}
