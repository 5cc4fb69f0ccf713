// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdp_bench: per-packet cost of xlb's XDP program, with BPF_PROG_TEST_RUN.
 *
 * Method (docs/benchmarks.md): every case that rewrites the packet runs
 * under bench_harness (bench.bpf.c), which puts the original frame back on
 * every iteration and tail-calls the program under test; the harness
 * around an empty XDP_PASS program is measured in the same round and
 * subtracted. Reported per-packet figures are on the scale of a direct run:
 *
 *	ns/pkt = harness(case) - harness(XDP_PASS) + direct(XDP_PASS)
 *
 * so that they compare with the floors (direct runs of trivial programs),
 * and "net" is the cost above an empty XDP program. One warm-up, then R
 * rounds in which every case runs once; min / median / max over rounds.
 *
 * Every run is verified before it counts: verdict, output length and bytes
 * (checksums recomputed), xlb's global counters (exactly one ct_hit, or
 * one ct_new, ... per iteration, nothing else), and where it tells the
 * path apart, how the new flows spread over the backends. A run that took
 * another path than the one named is an error, not a number.
 *
 * The process runs in a network namespace of its own with a route to the
 * backends (so bpf_fib_lookup succeeds and the established path uses the
 * next hop cached in conntrack, as in production), pinned to one CPU.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <xlb/abi.h>
#include <xlb/hash.h>
#include "dataplane/dataplane.h"
#include "model/model.h"
#include "log.h"
#include "pktgen.h"
#include "twolinks.h"
#include "bench.h"
#include "bench.skel.h"

#define MAX_ROUNDS	32
#define MAX_CASES	48
#define MAX_BE		10

/* The namespace's topology: packets arrive on cli0 from the client's
 * router; backends (10.128.0.0/9) are behind a gateway on be0. */
#define MAC_ROUTER	{ 0x02, 0x00, 0x00, 0x00, 0x01, 0x02 }
#define MAC_CLI0	{ 0x02, 0x00, 0x00, 0x00, 0x00, 0xc0 }
#define MAC_BE0		{ 0x02, 0x00, 0x00, 0x00, 0x00, 0xb0 }
#define MAC_GW		{ 0x02, 0x00, 0x00, 0x00, 0x30, 0x02 }
static const uint8_t mac_be0[6] = MAC_BE0, mac_gw[6] = MAC_GW;

#define CLIENT_EST	"172.16.0.2"	/* the established flow's client */
#define CLIENT_NEW	"172.17.0.2"	/* base of the new flows' clients */
#define VIP_NONE	"10.97.0.1"	/* no service there */
#define VIP_SNAT	"10.96.0.6"	/* its external IP's flows are source-NATed */
#define EXT_IP_SNAT	"198.51.100.7"
#define BE_PORT		8080
/* Scale services: 10.100.0.0 + i, port 80, rr, one backend 10.128.0.1 + i. */
#define SCALE_VIP	0x0a640000u
#define SCALE_BE	0x0a800001u
#define AFF_TIMEOUT	10800

static const char *const verdict_names[] = { "ABORTED", "DROP", "PASS", "TX", "REDIRECT" };

static struct {
	bool quick;
	uint32_t repeat;
	uint32_t rounds;
	int cpu;
	uint32_t max_scale;
	bool verbose;
	const char *baseline;	/* the datapath before the conntrack redesign, or NULL */
} cfg = { .cpu = -1, .max_scale = 100000 };

static uint32_t if_cli;
static struct bench *skel;
static int harness_fd, pass_fd, progs_fd, pkt_fd;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "xdp_bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static const char *verdict_name(uint32_t v)
{
	return v < 5 ? verdict_names[v] : "?";
}

/* ---- dataplanes and services ---------------------------------------- */

/* One hermetic xlb dataplane (nothing pinned). */
struct dpx {
	const char *name;
	struct xlb_dp *dp;
	uint32_t ct_entries;
	int svc_map_fd, sel_map_fd, aff_map_fd;
	uint32_t n_svc;		/* services programmed */
	uint64_t flows_in;	/* new flows inserted so far (ct_new) */
};

/* A service the benchmark sends to, as programmed. */
struct svcx {
	struct dpx *dpx;
	struct xlb_service_spec spec;
	size_t n;
	struct xlb_backend_spec be[MAX_BE];
	uint32_t be_id[MAX_BE];
	struct xlb_svc_val val;	/* from svc_map */
};

static struct xlb_ip ip_of(const char *s)
{
	struct xlb_ip ip;

	if (xlb_ip_parse(s, &ip))
		die("bad address %s", s);
	return ip;
}

static struct xlb_ip ip4(uint32_t host)
{
	struct xlb_ip ip;

	memset(&ip, 0, sizeof(ip));
	ip.family = XLB_AF_INET;
	pkt_put32(ip.addr.a8, host);
	return ip;
}

static void dpx_open(struct dpx *x, const char *name, uint32_t max_services)
{
	struct xlb_dp_opts o = {
		.pin_dir = "",
		.ct_entries = XLB_CT_ENTRIES,
		.max_services = max_services,
	};
	char err[256] = "";
	int ret;

	x->name = name;
	x->ct_entries = o.ct_entries;
	ret = xlb_dp_bpf_open(&o, &x->dp, err, sizeof(err));
	if (ret)
		die("open dataplane %s: %s (%d)", name, err, ret);
	x->svc_map_fd = xlb_dp_bpf_map_fd(x->dp, "svc_map");
	x->sel_map_fd = xlb_dp_bpf_map_fd(x->dp, "sel_map");
	x->aff_map_fd = xlb_dp_bpf_map_fd(x->dp, "aff_map");
	if (x->svc_map_fd < 0 || x->sel_map_fd < 0 || x->aff_map_fd < 0)
		die("dataplane %s: maps not found", name);
}

static struct xlb_service_spec svc_spec(const char *name, struct xlb_ip vip, enum xlb_algo algo,
					uint32_t affinity)
{
	struct xlb_service_spec s;

	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "bench/%s", name);
	s.type = XLB_SVC_CLUSTER_IP;
	s.vip = vip;
	s.port = 80;
	s.proto = IPPROTO_TCP;
	s.algo = algo;
	s.affinity_timeout = affinity;
	return s;
}

static void svc_set(struct dpx *x, const struct xlb_service_spec *s,
		    const struct xlb_backend_spec *be, size_t n)
{
	char err[256] = "";
	int ret = xlb_dp_service_set(x->dp, s, be, n, err, sizeof(err));

	if (ret)
		die("%s: service_set %s: %s (%d)", x->name, s->name, err, ret);
	x->n_svc++;
}

static int find_svc_cb(const struct xlb_dp_service *s, void *arg)
{
	struct svcx *v = arg;

	if (!xlb_ip_equal(&s->spec.vip, &v->spec.vip) || s->spec.port != v->spec.port ||
	    s->spec.proto != v->spec.proto)
		return 0;
	if (s->n_backends != v->n)
		die("service %s: %zu backends listed, %zu programmed", v->spec.name,
		    s->n_backends, v->n);
	for (size_t i = 0; i < s->n_backends; i++) {
		v->be[i] = s->backends[i];
		v->be_id[i] = s->backend_ids[i];
	}
	return 1;
}

/* Program a service and read back its backend ids and map entry. */
static void svcx_set(struct svcx *v, struct dpx *x, const struct xlb_service_spec *s,
		     const struct xlb_backend_spec *be, size_t n)
{
	struct xlb_svc_key k;

	memset(v, 0, sizeof(*v));
	v->dpx = x;
	v->spec = *s;
	v->n = n;
	svc_set(x, s, be, n);
	if (xlb_dp_service_list(x->dp, find_svc_cb, v) != 1)
		die("service %s not listed after service_set", s->name);
	memset(&k, 0, sizeof(k));
	k.addr = s->vip.addr;
	k.port = htons((uint16_t)s->port);
	k.proto = s->proto;
	k.family = s->vip.family;
	if (bpf_map_lookup_elem(x->svc_map_fd, &k, &v->val))
		die("service %s: not in svc_map", s->name);
}

static int svcx_backend_of(const struct svcx *v, uint32_t daddr_host, uint16_t dport)
{
	for (size_t i = 0; i < v->n; i++)
		if (pkt_get32(v->be[i].addr.addr.a8) == daddr_host && v->be[i].port == dport)
			return (int)i;
	return -1;
}

static void stats_read(struct dpx *x, uint64_t out[XLB_STAT_MAX])
{
	if (xlb_dp_global_stats(x->dp, out))
		die("%s: read global counters", x->name);
}

static uint64_t backend_new_flows(struct dpx *x, uint32_t id)
{
	struct xlb_counters c;

	if (xlb_dp_backend_stats(x->dp, id, &c))
		die("%s: read counters of backend %u", x->name, id);
	return c.new_flows;
}

static uint64_t svc_new_flows(struct dpx *x, const struct xlb_service_spec *s)
{
	struct xlb_counters c;

	if (xlb_dp_service_stats(x->dp, s, &c))
		die("%s: read counters of service %s", x->name, s->name);
	return c.new_flows;
}

/* ---- baseline: the datapath before the conntrack redesign ------------- */

/*
 * The same cases against the object main had before (BENCH_BASE_REV in the
 * Makefile), loaded with maps of its own and given the basic dataplane's
 * services by copying their entries (svc_map, sel_map and backend_map kept
 * their layout), so both are measured in the same run on the same machine.
 */
static struct {
	struct bpf_object *obj;
	int prog_fd, svc_fd, sel_fd, be_fd, stats_fd;
	uint32_t n_stats;
} base;

static void base_open(const char *path)
{
	static const struct { const char *name; uint32_t n; } sizes[] = {
		{ "svc_map", 2 * XLB_MAX_SERVICES }, { "sel_map", XLB_MAX_SEL_SLOTS },
		{ "backend_map", XLB_MAX_BACKENDS }, { "backend_stats", XLB_MAX_BACKENDS },
		{ "ct_map", XLB_CT_ENTRIES },
	};
	struct bpf_program *prog;
	struct bpf_map *m;

	base.obj = bpf_object__open_file(path, NULL);
	if (!base.obj)
		die("open the baseline %s: %s", path, strerror(errno));
	bpf_object__for_each_map(m, base.obj) {
		bpf_map__set_pin_path(m, NULL);
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			if (!strcmp(bpf_map__name(m), sizes[i].name))
				bpf_map__set_max_entries(m, sizes[i].n);
	}
	if (bpf_object__load(base.obj))
		die("load the baseline %s: %s", path, strerror(errno));
	prog = bpf_object__find_program_by_name(base.obj, "xlb_xdp");
	if (!prog)
		die("baseline %s: no program xlb_xdp", path);
	base.prog_fd = bpf_program__fd(prog);
	base.svc_fd = bpf_object__find_map_fd_by_name(base.obj, "svc_map");
	base.sel_fd = bpf_object__find_map_fd_by_name(base.obj, "sel_map");
	base.be_fd = bpf_object__find_map_fd_by_name(base.obj, "backend_map");
	base.stats_fd = bpf_object__find_map_fd_by_name(base.obj, "stats");
	m = bpf_object__find_map_by_name(base.obj, "stats");
	if (base.svc_fd < 0 || base.sel_fd < 0 || base.be_fd < 0 || base.stats_fd < 0 || !m)
		die("baseline %s: maps missing", path);
	base.n_stats = bpf_map__max_entries(m);
}

/* Give the baseline service v: its entry, its table and its backends. */
static void base_copy(const struct svcx *v)
{
	int be_fd = xlb_dp_bpf_map_fd(v->dpx->dp, "backend_map");
	struct xlb_svc_key k;

	memset(&k, 0, sizeof(k));
	k.addr = v->spec.vip.addr;
	k.port = htons((uint16_t)v->spec.port);
	k.proto = v->spec.proto;
	k.family = v->spec.vip.family;
	if (bpf_map_update_elem(base.svc_fd, &k, &v->val, BPF_ANY))
		die("baseline: write service %s: %s", v->spec.name, strerror(errno));
	for (uint32_t i = v->val.sel_base; i < v->val.sel_base + v->val.slots; i++) {
		uint32_t id;

		if (bpf_map_lookup_elem(v->dpx->sel_map_fd, &i, &id) ||
		    bpf_map_update_elem(base.sel_fd, &i, &id, BPF_ANY))
			die("baseline: copy slot %u: %s", i, strerror(errno));
	}
	for (size_t j = 0; j < v->n; j++) {
		struct xlb_backend b;

		if (bpf_map_lookup_elem(be_fd, &v->be_id[j], &b) ||
		    bpf_map_update_elem(base.be_fd, &v->be_id[j], &b, BPF_ANY))
			die("baseline: copy backend %u: %s", v->be_id[j], strerror(errno));
	}
}

/* The baseline's first global counters, in its order: each is read into
 * this build's counter of the same name (later builds added others in
 * between). */
static const char *const base_stat_names[] = {
	"rx", "pass_not_ip", "pass_not_service", "pass_fragment", "pass_malformed",
	"pass_no_route", "pass_csum_partial", "fwd_redirect", "fwd_back", "rst_sent",
	"icmp_sent", "drop_malformed", "drop_no_backend", "drop_backend_gone", "drop_ct_full",
	"ct_hit", "ct_new", "ct_reselect",
};

static void base_stats(uint64_t out[XLB_STAT_MAX])
{
	int ncpus = libbpf_num_possible_cpus();
	uint64_t *v = calloc((size_t)ncpus, sizeof(*v));
	uint32_t n = sizeof(base_stat_names) / sizeof(base_stat_names[0]);

	if (!v)
		die("out of memory");
	memset(out, 0, XLB_STAT_MAX * sizeof(out[0]));
	for (uint32_t i = 0; i < n && i < base.n_stats; i++) {
		int j;

		for (j = 0; j < XLB_STAT_MAX && strcmp(xlb_stat_name(j), base_stat_names[i]); j++)
			;
		if (j == XLB_STAT_MAX)
			die("baseline: counter %s unknown to this build", base_stat_names[i]);
		if (bpf_map_lookup_elem(base.stats_fd, &i, v))
			die("baseline: read counter %u: %s", i, strerror(errno));
		for (int c = 0; c < ncpus; c++)
			out[j] += v[c];
	}
	free(v);
}

/* ---- packets ---------------------------------------------------------- */

/* A 74-byte Ethernet/IPv4/TCP frame from the client's router to cli0: a
 * SYN with a Linux SYN option block, or an ACK with timestamps and 8 bytes
 * of data. */
static uint32_t frame(uint8_t *out, const char *saddr, const char *daddr, uint16_t sport,
		      bool syn)
{
	struct pkt_desc d = {
		.eth_dst = MAC_CLI0, .eth_src = MAC_ROUTER,
		.saddr = saddr, .daddr = daddr, .proto = IPPROTO_TCP,
		.ip_id = 0x1234, .frag = PKT_IP_DF, .ttl = 61,
		.sport = sport, .dport = 80, .seq = 0x11223344, .window = 502,
	};
	uint8_t buf[PKT_MAX];
	size_t len;

	if (syn) {
		d.tcp_flags = PKT_SYN;
		d.tcp_opt_len = 20;
	} else {
		d.tcp_flags = PKT_ACK | PKT_PSH;
		d.ack = 0x55667789;
		d.tcp_opt_len = 12;
		d.payload_len = 8;
	}
	len = pkt_build(&d, buf, sizeof(buf));
	if (len != 74)
		die("frame to %s: %zu bytes, expected 74", daddr, len);
	memcpy(out, buf, len);
	return (uint32_t)len;
}

/* As bench.bpf.c's fold(). */
static uint16_t fold16(uint32_t s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static const unsigned word_off[BENCH_W_MAX] = {
	[BENCH_W_SADDR_HI] = BENCH_IP_OFF + 12,
	[BENCH_W_SADDR_LO] = BENCH_IP_OFF + 14,
	[BENCH_W_DADDR_LO] = BENCH_IP_OFF + 18,
	[BENCH_W_SPORT] = BENCH_L4_OFF,
};

/* What bench_harness makes of the frame at iteration n: the same words,
 * the same arithmetic (the one's complement sum does not depend on byte
 * order, so host-order words give the same bytes). */
static void harness_frame(uint8_t *p, const struct bench_vary *v, uint64_t n)
{
	uint8_t *ipc = p + BENCH_IP_OFF + 10, *thc = p + BENCH_L4_OFF + 16;
	uint32_t d_ip = 0, d_l4 = 0;
	int i;

	for (i = 0; i < BENCH_W_MAX; i++) {
		uint16_t old = pkt_get16(p + word_off[i]);
		uint16_t new = old ^ (uint16_t)((n >> (v[i].shift & 63)) & v[i].mask);
		uint32_t d = (uint16_t)~old + (uint32_t)new;

		pkt_put16(p + word_off[i], new);
		if (i == BENCH_W_SPORT)
			d_l4 = d;
		else
			d_ip += d;
	}
	d_l4 += d_ip;
	pkt_put16(ipc, (uint16_t)~fold16((uint16_t)~pkt_get16(ipc) + d_ip));
	pkt_put16(thc, (uint16_t)~fold16((uint16_t)~pkt_get16(thc) + d_l4));
}

/* Does xlb take this TCP frame for CHECKSUM_PARTIAL? (its parser: a
 * non-zero L4 checksum equal to the folded pseudo-header sum, in a segment
 * that does not also sum as a full checksum) */
static bool looks_partial(const uint8_t *p)
{
	const uint8_t *ip = p + BENCH_IP_OFF;
	uint16_t l4len = pkt_get16(ip + 2) - 20, c = pkt_get16(p + BENCH_L4_OFF + 16);
	uint32_t pseudo = csum_pseudo4(ip + 12, ip + 16, IPPROTO_TCP, l4len);

	return c && c == csum_fold(pseudo) &&
	       csum_fold(csum_add(pseudo, p + BENCH_L4_OFF, l4len)) != 0xffff;
}

/* ---- cases ------------------------------------------------------------ */

enum kind {
	K_DIRECT,	/* the program itself, repeat times on one buffer */
	K_HARNESS,	/* under bench_harness, minus the harness */
};

enum out_check {
	OUT_SAME,	/* output = input */
	OUT_SWAP,	/* MACs swapped once (harness), or per parity (direct) */
	OUT_DNAT_FLOOR,	/* bench_dnat's rewrite */
	OUT_EXACT,	/* = expect[] */
	OUT_BACKEND,	/* DNAT to one of the service's backends, flow of the last iteration */
};

enum spread {
	SP_NONE,
	SP_EVEN,	/* round robin: every backend R/n, +-1 */
	SP_WEIGHTED,	/* smooth wrr: backend i about R*w_i/W */
	SP_BY_CLIENT,	/* all flows of a client on one backend (sh, affinity) */
	SP_SERVICES,	/* flows spread evenly over services 0..spread_svcs-1 */
};

struct bcase {
	const char *name;
	const char *group;	/* "floor", "micro", "xlb", "scale": table sections */
	enum kind kind;
	int prog_fd;
	struct dpx *dpx;
	struct svcx *svc;
	uint8_t pkt[BENCH_PKT_MAX];
	uint32_t len;
	struct bench_vary vary[BENCH_W_MAX];
	uint32_t ctr;
	uint64_t flows;		/* iterations of ctr so far */
	uint64_t flow_limit;	/* distinct flows the vary layout gives */
	uint32_t verdict;
	enum xlb_stat stats[3];	/* each moves by exactly repeat (besides rx) */
	int n_stats;
	enum out_check out;
	enum spread spread;
	uint32_t spread_svcs;
	uint32_t client_period;	/* SP_BY_CLIENT: iterations per client */
	bool established;	/* run one ACK first: (re)creates the flow */
	uint8_t expect[BENCH_PKT_MAX];
	const char *path;	/* what the verification established, for the table */
	bool is_ref;		/* a cross-check or the subtracted harness: shown in italics */
	bool micro;		/* failures counted in bench_err, which must stay 0 */
	bool base;		/* runs the baseline object; its own counters checked */
	uint64_t base_before[XLB_STAT_MAX];
	int raw[MAX_ROUNDS];	/* duration per round, ns/iteration */
};

static struct bcase cases[MAX_CASES];
static int n_cases;
static struct bcase *c_dpass, *c_hpass, *c_dtx, *c_dnat;		/* floors */
static struct bcase *c_lru, *c_lru_pcpu, *c_lru_small, *c_est, *c_rr, *c_pass;
static struct bcase *b_est, *b_rr, *b_pass;	/* the same three, baseline */

static struct bcase *case_new(const char *group, const char *name, enum kind kind, int prog_fd)
{
	struct bcase *c;

	if (n_cases == MAX_CASES)
		die("too many cases");
	c = &cases[n_cases++];
	memset(c, 0, sizeof(*c));
	c->group = group;
	c->name = name;
	c->kind = kind;
	c->prog_fd = prog_fd;
	c->ctr = (uint32_t)(c - cases);
	c->flow_limit = UINT64_MAX;
	return c;
}

/* New flows, layout A: a new source port per iteration, a new client
 * every 65536 (2^32 distinct flows); with svc_bits, the low bits of the
 * counter pick one of 2^svc_bits services first. */
static void vary_ports(struct bcase *c, unsigned svc_bits)
{
	c->vary[BENCH_W_DADDR_LO] = (struct bench_vary){ .shift = 0,
		.mask = (uint16_t)((1u << svc_bits) - 1) };
	c->vary[BENCH_W_SPORT] = (struct bench_vary){ .shift = (uint8_t)svc_bits, .mask = 0xffff };
	c->vary[BENCH_W_SADDR_LO] = (struct bench_vary){ .shift = (uint8_t)(16 + svc_bits),
		.mask = 0xffff };
	c->client_period = 65536u << svc_bits;
	c->flow_limit = (uint64_t)1 << 32;
}

/* New flows, layout B: a new client per iteration (2^24 clients). */
static void vary_clients(struct bcase *c)
{
	c->vary[BENCH_W_SADDR_LO] = (struct bench_vary){ .shift = 0, .mask = 0xffff };
	c->vary[BENCH_W_SADDR_HI] = (struct bench_vary){ .shift = 16, .mask = 0x00ff };
	c->vary[BENCH_W_SPORT] = (struct bench_vary){ .shift = 24, .mask = 0x00ff };
	c->client_period = 1;
	c->flow_limit = (uint64_t)1 << 24;	/* beyond: a client comes back */
}

static void expect_stats(struct bcase *c, uint32_t verdict, int n, ...)
{
	va_list ap;

	c->verdict = verdict;
	c->n_stats = n;
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		c->stats[i] = va_arg(ap, enum xlb_stat);
	va_end(ap);
}

/* ---- running and verifying ------------------------------------------- */

struct run {
	uint32_t retval, duration, out_len;
	uint8_t out[PKT_MAX];
};

static void test_run(int prog_fd, const uint8_t *pkt, uint32_t len, uint32_t repeat,
		     struct run *r, const char *what)
{
	struct xdp_md ctx = { .data = 0, .data_end = len, .ingress_ifindex = if_cli };
	LIBBPF_OPTS(bpf_test_run_opts, o,
		    .data_in = pkt, .data_size_in = len,
		    .data_out = r->out, .data_size_out = sizeof(r->out),
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
		    .repeat = repeat);

	memset(r->out, 0, sizeof(r->out));
	if (bpf_prog_test_run_opts(prog_fd, &o))
		die("%s: BPF_PROG_TEST_RUN: %s", what, strerror(errno));
	r->retval = o.retval;
	r->duration = o.duration;
	r->out_len = o.data_size_out;
}

static void harness_point(const struct bcase *c, int prog_fd)
{
	struct bench_pkt p;
	uint32_t zero = 0;

	memset(&p, 0, sizeof(p));
	p.len = c->len;
	p.ctr = c->ctr;
	memcpy(p.vary, c->vary, sizeof(p.vary));
	memcpy(p.data, c->pkt, c->len);
	if (bpf_map_update_elem(pkt_fd, &zero, &p, BPF_ANY))
		die("%s: set the harness's packet: %s", c->name, strerror(errno));
	if (bpf_map_update_elem(progs_fd, &zero, &prog_fd, BPF_ANY))
		die("%s: put the program in the harness's prog array: %s", c->name,
		    strerror(errno));
}

/* The flow of the established case must exist before it is timed: one
 * ACK, direct. A hit keeps it; after an eviction this recreates it (xlb
 * takes any first packet of a flow). Its output is what every timed
 * iteration must produce. */
static void prime_established(struct bcase *c)
{
	uint64_t before[XLB_STAT_MAX], after[XLB_STAT_MAX];
	struct pkt_info pi;
	struct run r;
	char why[160];

	stats_read(c->dpx, before);
	test_run(xlb_dp_bpf_prog_fd(c->dpx->dp), c->pkt, c->len, 1, &r, c->name);
	stats_read(c->dpx, after);
	if (r.retval != XDP_REDIRECT || r.out_len != c->len)
		die("%s: priming ACK: verdict %s, %u bytes", c->name, verdict_name(r.retval),
		    r.out_len);
	if (after[XLB_STAT_CT_HIT] - before[XLB_STAT_CT_HIT] +
	    after[XLB_STAT_CT_ESTABLISHED] - before[XLB_STAT_CT_ESTABLISHED] != 1)
		die("%s: priming ACK neither hit nor established the flow", c->name);
	c->dpx->flows_in += after[XLB_STAT_CT_NEW] - before[XLB_STAT_CT_NEW];
	if (pkt_parse(r.out, r.out_len, &pi, why, sizeof(why)) ||
	    pkt_csum_check(r.out, r.out_len, why, sizeof(why)))
		die("%s: priming ACK output: %s", c->name, why);
	if (svcx_backend_of(c->svc, pi.daddr, pi.dport) < 0 || memcmp(r.out, mac_gw, 6) ||
	    memcmp(r.out + 6, mac_be0, 6))
		die("%s: priming ACK not DNATed to a backend via the gateway", c->name);
	memcpy(c->expect, r.out, c->len);
}

/* The baseline's established flow: its SYN, then one ACK (layout 1 took
 * any first packet as the flow's start). */
static void base_prime(struct bcase *c)
{
	uint8_t syn[BENCH_PKT_MAX];
	uint32_t len = frame(syn, CLIENT_EST, "10.96.0.1", 40000, true);
	struct pkt_info pi;
	struct run r;
	char why[160];

	test_run(base.prog_fd, syn, len, 1, &r, "baseline priming SYN");
	test_run(base.prog_fd, c->pkt, c->len, 1, &r, c->name);
	if (r.retval != XDP_REDIRECT || r.out_len != c->len ||
	    pkt_parse(r.out, r.out_len, &pi, why, sizeof(why)) ||
	    svcx_backend_of(c->svc, pi.daddr, pi.dport) < 0)
		die("%s: baseline priming ACK: verdict %s, not DNATed to a backend", c->name,
		    verdict_name(r.retval));
	memcpy(c->expect, r.out, c->len);
}

static void check_output(struct bcase *c, const struct run *r, uint32_t repeat, uint64_t last_n,
			 bool last_partial)
{
	uint8_t exp[BENCH_PKT_MAX], in[BENCH_PKT_MAX];
	struct pkt_info pi, pin;
	char why[160] = "";
	int b;

	if (r->out_len != c->len)
		die("%s: output %u bytes, input %u", c->name, r->out_len, c->len);
	memcpy(exp, c->pkt, c->len);
	switch (c->out) {
	case OUT_SAME:
		break;
	case OUT_SWAP:
		if (c->kind == K_HARNESS || (repeat & 1)) {
			memcpy(exp, c->pkt + 6, 6);
			memcpy(exp + 6, c->pkt, 6);
		}
		break;
	case OUT_DNAT_FLOOR: {
		uint8_t *ip = exp + BENCH_IP_OFF, *th = exp + BENCH_L4_OFF;
		uint16_t l4len = pkt_get16(ip + 2) - 20;

		memcpy(exp, c->pkt + 6, 6);
		memcpy(exp + 6, c->pkt, 6);
		pkt_put32(ip + 16, 0x0a800001);
		pkt_put16(th + 2, BE_PORT);
		pkt_put16(ip + 10, 0);
		pkt_put16(ip + 10, ~csum_fold(csum_add(0, ip, 20)));
		pkt_put16(th + 16, 0);
		pkt_put16(th + 16, ~csum_fold(csum_add(csum_pseudo4(ip + 12, ip + 16, IPPROTO_TCP,
								       l4len), th, l4len)));
		break;
	}
	case OUT_EXACT:
		memcpy(exp, c->expect, c->len);
		break;
	case OUT_BACKEND:
		/* The last iteration's flow, DNATed to one of the backends. */
		memcpy(in, c->pkt, c->len);
		harness_frame(in, c->vary, last_n);
		if (pkt_parse(r->out, r->out_len, &pi, why, sizeof(why)) ||
		    pkt_parse(in, c->len, &pin, why, sizeof(why)))
			die("%s: output: %s", c->name, why);
		if (!last_partial && pkt_csum_check(r->out, r->out_len, why, sizeof(why)))
			die("%s: output: %s", c->name, why);
		if (pi.saddr != pin.saddr || pi.sport != pin.sport)
			die("%s: output is not the last iteration's flow", c->name);
		if (c->spread == SP_SERVICES) {
			/* service 10.100.0.0 + i has the one backend 10.128.0.1 + i */
			if (pi.daddr != SCALE_BE + (pin.daddr - SCALE_VIP) || pi.dport != BE_PORT)
				die("%s: output not DNATed to the backend of its service", c->name);
			return;
		}
		b = svcx_backend_of(c->svc, pi.daddr, pi.dport);
		if (b < 0)
			die("%s: output not DNATed to a backend of %s", c->name, c->svc->spec.name);
		if (!last_partial && (memcmp(r->out, mac_gw, 6) || memcmp(r->out + 6, mac_be0, 6)))
			die("%s: output not addressed to the gateway from be0", c->name);
		return;
	}
	if (memcmp(r->out, exp, c->len)) {
		pkt_hexdump(stderr, "output", r->out, c->len, exp, c->len);
		pkt_hexdump(stderr, "expected", exp, c->len, r->out, c->len);
		die("%s: output bytes differ", c->name);
	}
	if (c->out != OUT_SAME && pkt_csum_check(r->out, r->out_len, why, sizeof(why)))
		die("%s: output: %s", c->name, why);
}

/* Backend spread of the new flows of one run (counters before/after). */
static void check_spread(struct bcase *c, const uint64_t *nf_before, uint32_t repeat)
{
	const struct svcx *v = c->svc;
	uint64_t got[MAX_BE], total = 0, wsum = 0;
	int off_period = 0;

	for (size_t i = 0; i < v->n; i++) {
		got[i] = backend_new_flows(c->dpx, v->be_id[i]) - nf_before[i];
		total += got[i];
		wsum += v->be[i].weight;
	}
	if (total != repeat)
		die("%s: backends got %llu new flows, expected %u", c->name,
		    (unsigned long long)total, repeat);
	for (size_t i = 0; i < v->n; i++) {
		switch (c->spread) {
		case SP_EVEN:
			/* a hash of each flow into the table: even within 10% */
			if (got[i] * 10 < (uint64_t)repeat / v->n * 9 ||
			    got[i] * 10 > (uint64_t)repeat / v->n * 11)
				die("%s: backend %zu got %llu new flows, an even share is %u (+-10%%)",
				    c->name, i, (unsigned long long)got[i], repeat / (uint32_t)v->n);
			break;
		case SP_WEIGHTED: {
			double ideal = (double)repeat * v->be[i].weight / (double)wsum;

			/* a hash of each flow into the weighted table */
			if (got[i] < ideal * 0.9 - 10 || got[i] > ideal * 1.1 + 10)
				die("%s: backend %zu (weight %u) got %llu new flows, ideal %.0f",
				    c->name, i, v->be[i].weight, (unsigned long long)got[i], ideal);
			break;
		}
		case SP_BY_CLIENT:
			/* Whole clients only, but for the run's first and last. */
			if (got[i] % c->client_period)
				off_period++;
			break;
		default:
			break;
		}
	}
	if (c->spread == SP_BY_CLIENT && off_period > 2)
		die("%s: %d backends got part of a client's flows: flows of one client were "
		    "not kept together", c->name, off_period);
}

/* sh: the backend of the run's last flow must be the one the Maglev
 * table in sel_map gives for its client; affinity: the one in aff_map. */
static void check_choice(struct bcase *c, const struct run *r)
{
	const struct svcx *v = c->svc;
	struct pkt_info pi;
	char why[160];
	uint32_t id = 0, idx;
	int b;

	if (pkt_parse(r->out, r->out_len, &pi, why, sizeof(why)))
		die("%s: output: %s", c->name, why);
	b = svcx_backend_of(v, pi.daddr, pi.dport);
	if (b < 0)
		die("%s: output not DNATed to a backend", c->name);
	/* sh, and affinity services before a client has an established flow
	 * (first packets write no affinity entry): the client's hash */
	if (v->spec.algo == XLB_ALGO_SH || v->spec.affinity_timeout) {
		__u32 a[4] = { htonl(pi.saddr), 0, 0, 0 };

		idx = v->val.sel_base + xlb_hash_addr(a, XLB_SH_SEED) % v->val.slots;
		if (bpf_map_lookup_elem(v->dpx->sel_map_fd, &idx, &id))
			die("%s: read sel_map[%u]", c->name, idx);
	} else if (v->spec.affinity_timeout) {
		struct xlb_aff_key k;
		struct xlb_aff_val av;

		memset(&k, 0, sizeof(k));
		pkt_put32(k.client.a8, pi.saddr);
		k.svc_id = v->val.id;
		k.family = XLB_AF_INET;
		if (bpf_map_lookup_elem(v->dpx->aff_map_fd, &k, &av))
			die("%s: no affinity entry for the last client", c->name);
		id = av.backend_id;
	}
	if (id != v->be_id[b])
		die("%s: last flow went to backend id %u, the %s says %u", c->name, v->be_id[b],
		    v->spec.algo == XLB_ALGO_SH ? "Maglev table" : "affinity entry", id);
}

/* SP_SERVICES: the services whose new-flow counters are checked. */
static size_t spread_probes(const struct bcase *c, uint32_t *probe)
{
	uint32_t k = c->spread_svcs, cand[] = { 0, 1, k / 2, k - 1, k };
	size_t n = 0;

	for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++)
		if (!n || cand[i] > probe[n - 1])
			probe[n++] = cand[i];
	return n;
}

static struct xlb_service_spec scale_spec(uint32_t i);

/* Counters 0..n-1 moved as the case says for repeat iterations: rx and
 * its outcome and events by repeat each (fwd_redirect less the partial
 * checksums, which pass), nothing else. */
static void check_counters(const struct bcase *c, const uint64_t *before, const uint64_t *after,
			   int n, uint32_t repeat, uint64_t partial, const char *what)
{
	for (int i = 0; i < n; i++) {
		uint64_t want = 0, got = after[i] - before[i];

		if (i == XLB_STAT_RX)
			want = repeat;
		for (int j = 0; j < c->n_stats; j++)
			if (c->stats[j] == (enum xlb_stat)i)
				want = repeat;
		if (i == XLB_STAT_FWD_REDIRECT && want)
			want = repeat - partial;
		if (i == XLB_STAT_PASS_CSUM_PARTIAL)
			want = partial;
		if (got != want)
			die("%s: %s %s moved by %llu in %u iterations, expected %llu (the run took "
			    "another path)", c->name, what, xlb_stat_name(i), (unsigned long long)got,
			    repeat, (unsigned long long)want);
	}
}

/* One run of a case with verification; returns ns per iteration. */
static uint32_t run_case(struct bcase *c, uint32_t repeat)
{
	uint64_t before[XLB_STAT_MAX], after[XLB_STAT_MAX], nf_before[MAX_BE + 5];
	uint64_t partial = 0;
	uint32_t verdict = c->verdict, probe[5];
	uint64_t last_n = 0;
	size_t n_probe = 0;
	bool vary = false, partial_last = false;
	struct run r;
	int i;

	for (i = 0; i < BENCH_W_MAX; i++)
		vary |= c->vary[i].mask != 0;
	if (c->established && c->base)
		base_prime(c);
	else if (c->established)
		prime_established(c);
	if (vary) {
		uint8_t f[BENCH_PKT_MAX];

		if (c->kind != K_HARNESS)
			die("%s: only the harness varies flows", c->name);
		if (c->flows + repeat > c->flow_limit)
			die("%s: %llu iterations would repeat flows (the layout gives %llu)",
			    c->name, (unsigned long long)(c->flows + repeat),
			    (unsigned long long)c->flow_limit);
		/* Frames xlb will take for CHECKSUM_PARTIAL (a correct
		 * checksum that happens to equal the pseudo-header sum, about
		 * 1 in 65536 flows): counted here, expected in the counters. */
		for (uint64_t n = c->flows; n < c->flows + repeat; n++) {
			memcpy(f, c->pkt, c->len);
			harness_frame(f, c->vary, n);
			if (looks_partial(f)) {
				partial++;
				partial_last = n == c->flows + repeat - 1;
			}
		}
		last_n = c->flows + repeat - 1;
	}
	if (partial_last)
		verdict = XDP_PASS;
	if (c->dpx) {
		stats_read(c->dpx, before);
		if (c->spread == SP_SERVICES) {
			n_probe = spread_probes(c, probe);
			for (size_t j = 0; j < n_probe; j++) {
				struct xlb_service_spec s = scale_spec(probe[j]);

				nf_before[j] = probe[j] < c->dpx->n_svc ? svc_new_flows(c->dpx, &s) : 0;
			}
		} else if (c->spread) {
			for (size_t b = 0; b < c->svc->n; b++)
				nf_before[b] = backend_new_flows(c->dpx, c->svc->be_id[b]);
		} else if (vary) {
			nf_before[0] = svc_new_flows(c->dpx, &c->svc->spec);
		}
	}

	if (c->base)
		base_stats(c->base_before);
	if (c->kind == K_HARNESS) {
		harness_point(c, c->prog_fd);
		test_run(harness_fd, c->pkt, c->len, repeat, &r, c->name);
		c->flows += repeat;
	} else {
		test_run(c->prog_fd, c->pkt, c->len, repeat, &r, c->name);
	}

	if (r.retval != verdict)
		die("%s: verdict %s, expected %s", c->name, verdict_name(r.retval),
		    verdict_name(verdict));
	check_output(c, &r, repeat, last_n, partial_last);
	if (c->micro) {
		__u64 err[256] = { 0 }, sum = 0;
		uint32_t zero = 0;

		if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.bench_err), &zero, err))
			die("read bench_err: %s", strerror(errno));
		for (int j = 0; j < libbpf_num_possible_cpus() && j < 256; j++)
			sum += err[j];
		if (sum)
			die("%s: %llu iterations failed", c->name, (unsigned long long)sum);
	}
	if (c->base) {
		uint64_t ba[XLB_STAT_MAX];

		base_stats(ba);
		check_counters(c, c->base_before, ba, XLB_STAT_CT_RESELECT + 1, repeat, partial,
			       "baseline counter");
		return r.duration;
	}
	if (!c->dpx)
		return r.duration;

	stats_read(c->dpx, after);
	check_counters(c, before, after, XLB_STAT_MAX, repeat, partial, "counter");
	c->dpx->flows_in += after[XLB_STAT_CT_NEW] - before[XLB_STAT_CT_NEW];

	if (c->spread == SP_SERVICES) {
		/* Every service of the range got its share, and the next none. */
		uint32_t k = c->spread_svcs;

		for (size_t j = 0; j < n_probe && probe[j] < c->dpx->n_svc; j++) {
			struct xlb_service_spec s = scale_spec(probe[j]);
			uint64_t got = svc_new_flows(c->dpx, &s) - nf_before[j];
			uint64_t lo = probe[j] < k ? repeat / k : 0, hi = probe[j] < k ? lo + 1 : 0;

			if (got < lo || got > hi)
				die("%s: service %u got %llu new flows, expected %llu..%llu", c->name,
				    probe[j], (unsigned long long)got, (unsigned long long)lo,
				    (unsigned long long)hi);
		}
	} else if (c->spread) {
		check_spread(c, nf_before, repeat);
		if (c->spread == SP_BY_CLIENT)
			check_choice(c, &r);
	} else if (vary) {
		uint64_t got = svc_new_flows(c->dpx, &c->svc->spec) - nf_before[0];

		if (got != repeat)
			die("%s: service %s got %llu new flows, expected %u", c->name,
			    c->svc->spec.name, (unsigned long long)got, repeat);
	}
	return r.duration;
}

/* ---- setup ------------------------------------------------------------ */

/* Own network namespace (tests/bpf/twolinks.h): bpf_fib_lookup sees only
 * this, and nothing of the host's leaks in. Backends are routed through a
 * gateway with a permanent neighbour entry, so every new flow's FIB lookup
 * succeeds and is cached in its conntrack entry, as on a node with a warm
 * neighbour table. */
static void topology(void)
{
	static const char *const be_cmds[] = {
		"ip addr add 10.30.0.1/24 dev be0",
		"ip neigh replace 10.30.0.2 lladdr 02:00:00:00:30:02 dev be0 nud permanent",
		"ip route add 10.128.0.0/9 via 10.30.0.2 dev be0",
	};
	unsigned if_be;

	if (unshare(CLONE_NEWNET))
		die("unshare(CLONE_NEWNET): %s", strerror(errno));
	if (xt_two_links(be_cmds, sizeof(be_cmds) / sizeof(be_cmds[0]), &if_cli, &if_be))
		die("the benchmark's namespace could not be set up");
}

static void pin_cpu(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		die("sched_getaffinity: %s", strerror(errno));
	if (cfg.cpu < 0)
		for (int i = CPU_SETSIZE - 1; i >= 0 && cfg.cpu < 0; i--)
			if (CPU_ISSET(i, &set))
				cfg.cpu = i;
	CPU_ZERO(&set);
	CPU_SET(cfg.cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("pin to CPU %d: %s", cfg.cpu, strerror(errno));
}

static struct xlb_backend_spec backend(uint32_t addr_host, uint32_t weight)
{
	struct xlb_backend_spec b;

	memset(&b, 0, sizeof(b));
	b.addr = ip4(addr_host);
	b.port = BE_PORT;
	b.weight = weight;
	return b;
}


static struct xlb_service_spec scale_spec(uint32_t i)
{
	char name[32];

	snprintf(name, sizeof(name), "scale-%u", i);
	return svc_spec(name, ip4(SCALE_VIP + i), XLB_ALGO_RR, 0);
}

/* The established flow: its handshake (SYN, the backend's SYN-ACK, the
 * client's ACK), then its ACKs are timed. */
static void prime_syn(struct dpx *x, const char *vip)
{
	uint64_t before[XLB_STAT_MAX], after[XLB_STAT_MAX];
	uint8_t pkt[BENCH_PKT_MAX];
	uint32_t len = frame(pkt, CLIENT_EST, vip, 40000, true);
	struct run r;

	stats_read(x, before);
	test_run(xlb_dp_bpf_prog_fd(x->dp), pkt, len, 1, &r, "priming SYN");
	stats_read(x, after);
	if (r.retval != XDP_REDIRECT || after[XLB_STAT_CT_NEW] - before[XLB_STAT_CT_NEW] != 1)
		die("%s: priming SYN to %s: verdict %s, %llu new flows", x->name, vip,
		    verdict_name(r.retval),
		    (unsigned long long)(after[XLB_STAT_CT_NEW] - before[XLB_STAT_CT_NEW]));
	x->flows_in++;
	/* The backend's SYN-ACK (its ISN one below the ACK frame()'s client
	 * sends), so that the first ACK establishes the flow. */
	{
		struct pkt_info pi;
		char why[160], baddr[INET_ADDRSTRLEN];
		uint8_t sa[PKT_MAX];
		size_t n;

		if (pkt_parse(r.out, r.out_len, &pi, why, sizeof(why)))
			die("priming SYN output: %s", why);
		snprintf(baddr, sizeof(baddr), "%u.%u.%u.%u", pi.daddr >> 24, (pi.daddr >> 16) & 0xff,
			 (pi.daddr >> 8) & 0xff, pi.daddr & 0xff);
		{
			struct pkt_desc d = {
				.eth_dst = MAC_BE0, .eth_src = MAC_GW, .saddr = baddr,
				.daddr = CLIENT_EST, .proto = IPPROTO_TCP, .ip_id = 1, .ttl = 64,
				.sport = pi.dport, .dport = 40000, .tcp_flags = PKT_SYN | PKT_ACK,
				.seq = 0x55667788, .ack = 0x11223345, .window = 502,
			};

			n = pkt_build(&d, sa, sizeof(sa));
		}
		test_run(xlb_dp_bpf_prog_fd(x->dp), sa, (uint32_t)n, 1, &r, "priming SYN-ACK");
		if (r.retval != XDP_REDIRECT)
			die("%s: priming SYN-ACK: verdict %s", x->name, verdict_name(r.retval));
	}
	/* and the client's ACK: established now, in ct4, where the fill of
	 * the first-packet table that follows cannot evict it */
	len = frame(pkt, CLIENT_EST, vip, 40000, false);
	stats_read(x, before);
	test_run(xlb_dp_bpf_prog_fd(x->dp), pkt, len, 1, &r, "priming ACK");
	stats_read(x, after);
	if (r.retval != XDP_REDIRECT ||
	    after[XLB_STAT_CT_ESTABLISHED] - before[XLB_STAT_CT_ESTABLISHED] != 1)
		die("%s: priming ACK to %s: verdict %s, not established", x->name, vip,
		    verdict_name(r.retval));
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	if (vasprintf(&s, f, ap) < 0)
		die("out of memory");
	va_end(ap);
	return s;
}

static struct bcase *xlb_case(const char *group, const char *name, struct dpx *x,
			      struct svcx *v, const char *client, const char *vip, bool syn)
{
	struct bcase *c = case_new(group, name, K_HARNESS, xlb_dp_bpf_prog_fd(x->dp));

	c->dpx = x;
	c->svc = v;
	c->len = frame(c->pkt, client, vip, syn ? 1024 : 40000, syn);
	if (looks_partial(c->pkt))
		die("%s: the base frame looks CHECKSUM_PARTIAL to xlb", name);
	return c;
}

static struct bcase *est_case(const char *group, const char *name, struct dpx *x,
			      struct svcx *v, const char *vip)
{
	struct bcase *c = xlb_case(group, name, x, v, CLIENT_EST, vip, false);

	c->established = true;
	c->out = OUT_EXACT;
	expect_stats(c, XDP_REDIRECT, 2, XLB_STAT_CT_HIT, XLB_STAT_FWD_REDIRECT);
	c->path = "REDIRECT; ct_hit, fwd_redirect";
	return c;
}

static struct bcase *new_case(const char *group, const char *name, struct dpx *x,
			      struct svcx *v, const char *vip, enum spread sp)
{
	struct bcase *c = xlb_case(group, name, x, v, CLIENT_NEW, vip, true);

	c->out = OUT_BACKEND;
	c->spread = sp;
	vary_ports(c, 0);
	expect_stats(c, XDP_REDIRECT, 2, XLB_STAT_CT_NEW, XLB_STAT_FWD_REDIRECT);
	c->path = "REDIRECT; ct_new, fwd_redirect";
	return c;
}

static struct dpx basic;
static struct svcx basic_svc[6];
static struct dpx scale[4];
static struct svcx scale_svc[4];
static const uint32_t scale_n[4] = { 1, 1000, 10000, 100000 };
static struct bcase *scale_case[4][3];
static struct bcase *prefill[8];
static int n_prefill;

static void setup_floors(void)
{
	uint8_t pkt[BENCH_PKT_MAX];
	uint32_t len = frame(pkt, CLIENT_EST, "10.96.0.1", 40000, true);
	int tx_fd = bpf_program__fd(skel->progs.bench_tx);
	struct bcase *c;

	c = c_dpass = case_new("floor", "XDP_PASS, nothing else", K_DIRECT, pass_fd);
	c->verdict = XDP_PASS;
	c->path = "PASS";
	c = c_dtx = case_new("floor", "parse Eth/IPv4/TCP, swap MACs, XDP_TX", K_DIRECT, tx_fd);
	c->verdict = XDP_TX;
	c->out = OUT_SWAP;
	c->path = "TX";
	c = case_new("floor", "same, under the harness (cross-check)", K_HARNESS, tx_fd);
	c->verdict = XDP_TX;
	c->out = OUT_SWAP;
	c->path = "TX";
	c->is_ref = true;
	c = c_dnat = case_new("floor", "parse, DNAT with incremental checksums, XDP_TX",
			      K_HARNESS, bpf_program__fd(skel->progs.bench_dnat));
	c->verdict = XDP_TX;
	c->out = OUT_DNAT_FLOOR;
	c->path = "TX";
	c = c_hpass = case_new("floor", "the harness around XDP_PASS (subtracted)", K_HARNESS,
			       pass_fd);
	c->verdict = XDP_PASS;
	c->path = "PASS";
	c->is_ref = true;
	c = case_new("micro", "one bpf_fib_lookup (success, via gateway)", K_DIRECT,
		     bpf_program__fd(skel->progs.micro_fib));
	c->verdict = XDP_PASS;
	c->micro = true;
	c->path = "PASS; no failure";
	c = case_new("micro", "one LRU hash insert, new key, full 262144-entry map", K_DIRECT,
		     bpf_program__fd(skel->progs.micro_lru_insert));
	c->verdict = XDP_PASS;
	c->micro = true;
	c->path = "PASS; no failure";
	c_lru = c;
	c = case_new("micro", "same, BPF_F_NO_COMMON_LRU (an LRU list per CPU)", K_DIRECT,
		     bpf_program__fd(skel->progs.micro_lru_pcpu_insert));
	c->verdict = XDP_PASS;
	c->micro = true;
	c->path = "PASS; no failure";
	c_lru_pcpu = c;
	c = case_new("micro", "same, a full 4096-entry map (fits in the caches)", K_DIRECT,
		     bpf_program__fd(skel->progs.micro_lru_small_insert));
	c->verdict = XDP_PASS;
	c->micro = true;
	c->path = "PASS; no failure";
	c_lru_small = c;
	for (int i = 0; i < n_cases; i++) {
		memcpy(cases[i].pkt, pkt, len);
		cases[i].len = len;
	}
}

/* An external flow to a backend on another node, source-NATed (issue 13):
 * a client of an external IP whose only backend is remote. The flow is
 * made as on a node (SYN, the backend's SYN-ACK to the SNAT port, the
 * client's ACK); then its client packets (ct4 hit + the SNAT mapping,
 * both addresses rewritten) and the backend's replies (the SNAT reverse
 * lookup, then ct4's reply entry, both rewritten back) are timed. */
static void setup_snat(void)
{
	struct xlb_service_spec spec = svc_spec("snat", ip_of(VIP_SNAT), XLB_ALGO_RR, 0);
	struct xlb_backend_spec be = backend(0x0a800601u, 1);	/* 10.128.6.1 */
	struct xlb_svc_addrs addrs = { .external_ips = { ip_of(EXT_IP_SNAT) } };
	struct xlb_ip node = ip_of("10.10.1.1");	/* cli0's */
	uint8_t syn[BENCH_PKT_MAX], sa[PKT_MAX], ack[BENCH_PKT_MAX];
	uint32_t len = frame(syn, CLIENT_EST, EXT_IP_SNAT, 40000, true);
	struct pkt_info pi;
	char why[160], baddr[INET_ADDRSTRLEN], naddr[INET_ADDRSTRLEN];
	struct bcase *c;
	struct run r;
	size_t n;

	be.remote = true;
	spec.addrs = &addrs;
	spec.n_external_ips = 1;
	svcx_set(&basic_svc[5], &basic, &spec, &be, 1);
	if (xlb_dp_node_addr_add(basic.dp, &node))
		die("snat: the node address");
	test_run(xlb_dp_bpf_prog_fd(basic.dp), syn, len, 1, &r, "snat: priming SYN");
	if (r.retval != XDP_REDIRECT || pkt_parse(r.out, r.out_len, &pi, why, sizeof(why)) ||
	    pi.saddr != 0x0a0a0101)
		die("snat: priming SYN: verdict %s, not source-NATed to 10.10.1.1",
		    verdict_name(r.retval));
	basic.flows_in++;
	snprintf(baddr, sizeof(baddr), "%u.%u.%u.%u", pi.daddr >> 24, (pi.daddr >> 16) & 0xff,
		 (pi.daddr >> 8) & 0xff, pi.daddr & 0xff);
	snprintf(naddr, sizeof(naddr), "10.10.1.1");
	{
		struct pkt_desc d = {
			.eth_dst = MAC_BE0, .eth_src = MAC_GW, .saddr = baddr, .daddr = naddr,
			.proto = IPPROTO_TCP, .ip_id = 1, .ttl = 64, .frag = PKT_IP_DF,
			.sport = pi.dport, .dport = pi.sport, .tcp_flags = PKT_SYN | PKT_ACK,
			.seq = 0x55667788, .ack = 0x11223345, .window = 502,
		};

		n = pkt_build(&d, sa, sizeof(sa));
		test_run(xlb_dp_bpf_prog_fd(basic.dp), sa, (uint32_t)n, 1, &r,
			 "snat: priming SYN-ACK");
		if (r.retval != XDP_REDIRECT)
			die("snat: priming SYN-ACK: verdict %s", verdict_name(r.retval));
		/* the backend's data, as the reply case sends it */
		d.tcp_flags = PKT_ACK | PKT_PSH;
		d.seq = 0x55667789;
		d.ack = 0x11223345;
		d.tcp_opt_len = 12;
		d.payload_len = 8;
		n = pkt_build(&d, sa, sizeof(sa));
		if (n != 74)
			die("snat: the reply frame: %zu bytes", n);
	}
	len = frame(ack, CLIENT_EST, EXT_IP_SNAT, 40000, false);
	test_run(xlb_dp_bpf_prog_fd(basic.dp), ack, len, 1, &r, "snat: priming ACK");
	if (r.retval != XDP_REDIRECT)
		die("snat: priming ACK: verdict %s", verdict_name(r.retval));

	c = est_case("xlb", "established flow, source-NATed (external IP, backend on another node)",
		     &basic, &basic_svc[5], EXT_IP_SNAT);
	c->path = "REDIRECT; ct_hit, fwd_redirect; source 10.10.1.1";
	c = case_new("xlb", "its backend's reply (SNAT reverse, then the reply entry)", K_HARNESS,
		     xlb_dp_bpf_prog_fd(basic.dp));
	c->dpx = &basic;
	c->svc = &basic_svc[5];
	memcpy(c->pkt, sa, n);
	c->len = (uint32_t)n;
	test_run(xlb_dp_bpf_prog_fd(basic.dp), c->pkt, c->len, 1, &r, "snat: the reply");
	if (r.retval != XDP_REDIRECT || pkt_parse(r.out, r.out_len, &pi, why, sizeof(why)) ||
	    pi.daddr != 0xac100002 || pi.dport != 40000 || pi.sport != 80)
		die("snat: the reply: verdict %s, not back to the client from the external IP",
		    verdict_name(r.retval));
	memcpy(c->expect, r.out, c->len);
	c->out = OUT_EXACT;
	expect_stats(c, XDP_REDIRECT, 3, XLB_STAT_SNAT_REPLY, XLB_STAT_CT_HIT, XLB_STAT_FWD_BACK);
	c->path = "REDIRECT; snat_reply, ct_hit, fwd_back";
}

static void setup_basic(void)
{
	static const struct {
		const char *name, *vip;
		enum xlb_algo algo;
		uint32_t aff;
		bool weighted;
	} svcs[5] = {
		{ "rr", "10.96.0.1", XLB_ALGO_RR, 0, false },
		{ "wrr", "10.96.0.2", XLB_ALGO_WRR, 0, true },
		{ "sh", "10.96.0.3", XLB_ALGO_SH, 0, false },
		{ "rr-affinity-returning", "10.96.0.4", XLB_ALGO_RR, AFF_TIMEOUT, false },
		{ "rr-affinity-new", "10.96.0.5", XLB_ALGO_RR, AFF_TIMEOUT, false },
	};
	struct bcase *c;

	dpx_open(&basic, "basic", 0);
	for (int s = 0; s < 5; s++) {
		struct xlb_service_spec spec = svc_spec(svcs[s].name, ip_of(svcs[s].vip),
							svcs[s].algo, svcs[s].aff);
		struct xlb_backend_spec be[MAX_BE];

		/* 10 backends, 10.128.<s+1>.<1..10>; wrr weights 1..10 */
		for (uint32_t j = 0; j < MAX_BE; j++)
			be[j] = backend(0x0a800000u | (s + 1) << 8 | (j + 1),
					svcs[s].weighted ? j + 1 : 1);
		svcx_set(&basic_svc[s], &basic, &spec, be, MAX_BE);
	}
	prime_syn(&basic, "10.96.0.1");

	c_est = est_case("xlb", "established flow (conntrack hit, DNAT)", &basic, &basic_svc[0],
			 "10.96.0.1");
	c_rr = new_case("xlb", "new flow, rr (10 backends)", &basic, &basic_svc[0], "10.96.0.1",
		 SP_EVEN);
	new_case("xlb", "new flow, wrr (weights 1..10)", &basic, &basic_svc[1], "10.96.0.2",
		 SP_WEIGHTED);
	new_case("xlb", "new flow, sh (Maglev, 16381 slots)", &basic, &basic_svc[2], "10.96.0.3",
		 SP_BY_CLIENT);
	c = new_case("xlb", "new flow, rr + ClientIP affinity, returning client", &basic,
		     &basic_svc[3], "10.96.0.4", SP_BY_CLIENT);
	c->path = "REDIRECT; ct_new, fwd_redirect; affinity kept";
	c = new_case("xlb", "new flow, rr + ClientIP affinity, new client", &basic, &basic_svc[4],
		     "10.96.0.5", SP_EVEN);
	vary_clients(c);
	c->path = "REDIRECT; ct_new, fwd_redirect; new client";
	prefill[n_prefill++] = c;	/* fills ct_map and aff_map */

	setup_snat();

	c = c_pass = xlb_case("xlb", "not a service (pass-through)", &basic, NULL, CLIENT_NEW,
			      VIP_NONE, true);
	expect_stats(c, XDP_PASS, 1, XLB_STAT_PASS_NOT_SERVICE);
	c->path = "PASS; pass_not_service";
	c = xlb_case("xlb", "not a service, direct run (cross-check)", &basic, NULL, CLIENT_NEW,
		     VIP_NONE, true);
	c->kind = K_DIRECT;
	expect_stats(c, XDP_PASS, 1, XLB_STAT_PASS_NOT_SERVICE);
	c->path = "PASS; pass_not_service";
	c->is_ref = true;
}

static struct bcase *base_case(const char *name, const char *vip, bool syn)
{
	struct bcase *c = case_new("A/B", name, K_HARNESS, base.prog_fd);

	c->base = true;
	c->svc = &basic_svc[0];
	c->len = frame(c->pkt, syn ? CLIENT_NEW : CLIENT_EST, vip, syn ? 1024 : 40000, syn);
	return c;
}

static void setup_baseline(void)
{
	struct bcase *c;

	base_open(cfg.baseline);
	base_copy(&basic_svc[0]);
	c = b_est = base_case("baseline: established flow", "10.96.0.1", false);
	c->established = true;
	c->out = OUT_EXACT;
	expect_stats(c, XDP_REDIRECT, 2, XLB_STAT_CT_HIT, XLB_STAT_FWD_REDIRECT);
	c->path = "REDIRECT; ct_hit, fwd_redirect (its counters)";
	c = b_rr = base_case("baseline: new flow, rr (10 backends)", "10.96.0.1", true);
	c->out = OUT_BACKEND;
	vary_ports(c, 0);
	expect_stats(c, XDP_REDIRECT, 2, XLB_STAT_CT_NEW, XLB_STAT_FWD_REDIRECT);
	c->path = "REDIRECT; ct_new, fwd_redirect (its counters)";
	c = b_pass = base_case("baseline: not a service (pass-through)", VIP_NONE, true);
	expect_stats(c, XDP_PASS, 1, XLB_STAT_PASS_NOT_SERVICE);
	c->path = "PASS; pass_not_service (its counters)";
}

static void setup_scale(int li)
{
	uint32_t n = scale_n[li], bits = 0;
	const char *plural = n == 1 ? "" : "s";
	struct dpx *x = &scale[li];
	struct xlb_service_spec spec;
	struct xlb_backend_spec be;
	char vip0[INET_ADDRSTRLEN];
	struct timespec t0, t1;
	struct bcase *c;

	dpx_open(x, fmt("scale-%u", n), n > XLB_MAX_SERVICES ? 2 * XLB_MAX_SERVICES : 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	spec = scale_spec(0);
	be = backend(SCALE_BE, 1);
	svcx_set(&scale_svc[li], x, &spec, &be, 1);
	for (uint32_t i = 1; i < n; i++) {
		spec = scale_spec(i);
		be = backend(SCALE_BE + i, 1);
		svc_set(x, &spec, &be, 1);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	note("  %u services programmed in %.2f s\n", n,
	     (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	inet_ntop(AF_INET, scale_svc[li].spec.vip.addr.a8, vip0, sizeof(vip0));
	prime_syn(x, vip0);

	scale_case[li][0] = est_case("scale", fmt("established, %u service%s", n, plural), x,
				     &scale_svc[li], vip0);
	c = scale_case[li][1] = new_case("scale", fmt("new flow rr, %u service%s", n, plural),
					 x, &scale_svc[li], vip0, SP_NONE);
	prefill[n_prefill++] = c;	/* fills ct_map */
	while ((2u << bits) <= n)
		bits++;
	if (bits) {
		c = scale_case[li][2] = new_case("scale",
			fmt("new flow rr, %u services, spread over %u", n, 1u << bits),
			x, &scale_svc[li], vip0, SP_SERVICES);
		vary_ports(c, bits);
		c->spread_svcs = 1u << bits;
		c->path = "REDIRECT; ct_new, fwd_redirect; spread over services";
	}
}

/* ---- report ----------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct summary {
	double min, med, max, net;
};

/* ns/pkt on a direct run's scale: harness cases have the harness's own
 * cost (harness around XDP_PASS minus XDP_PASS) of the same round removed. */
static struct summary summarize(const struct bcase *c)
{
	double v[MAX_ROUNDS], net[MAX_ROUNDS];
	uint32_t n = cfg.rounds;
	struct summary s;

	for (uint32_t r = 0; r < n; r++) {
		double harness = (double)c_hpass->raw[r] - c_dpass->raw[r];

		v[r] = c->raw[r];
		if (c->kind == K_HARNESS && c != c_hpass)
			v[r] -= harness;
		net[r] = v[r] - c_dpass->raw[r];
	}
	qsort(v, n, sizeof(v[0]), cmp_double);
	qsort(net, n, sizeof(net[0]), cmp_double);
	s.min = v[0];
	s.max = v[n - 1];
	s.med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	s.net = n % 2 ? net[n / 2] : (net[n / 2 - 1] + net[n / 2]) / 2;
	return s;
}

static void cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	snprintf(buf, len, "unknown CPU");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && p) {
			snprintf(buf, len, "%s", p + 2);
			buf[strcspn(buf, "\n")] = 0;
			break;
		}
	}
	fclose(f);
}

static void report(void)
{
	double tx = summarize(c_dtx).med, dnat = summarize(c_dnat).med;
	char when[64], cpu[128];
	struct utsname u;
	time_t now = time(NULL);
	const char *group = "";

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", gmtime(&now));
	uname(&u);
	cpu_model(cpu, sizeof(cpu));
	printf("## xdp_bench%s, %s\n\n", cfg.quick ? " --quick" : "", when);
	printf("Kernel %s, %s, %ld CPUs, pinned to CPU %d. BPF_PROG_TEST_RUN repeat %u, "
	       "1 warm-up + %u rounds; 74-byte TCP frames; conntrack %u entries, full "
	       "(so new flows' inserts run LRU eviction).\n\n",
	       u.release, cpu, sysconf(_SC_NPROCESSORS_ONLN), cfg.cpu, cfg.repeat, cfg.rounds,
	       XLB_CT_ENTRIES);
	printf("ns/pkt: as a direct run would count it (harness cases: minus the harness's "
	       "own cost of the same round). net: above an empty XDP program. "
	       "x TX, x DNAT: median / median of the XDP_TX floor, of the stateless DNAT "
	       "floor. BPF_PROG_TEST_RUN reports whole ns.\n\n");
	printf("| case | verified, every iteration | min | median | max | net | x TX | x DNAT |\n");
	printf("|---|---|--:|--:|--:|--:|--:|--:|\n");
	for (int i = 0; i < n_cases; i++) {
		const struct bcase *c = &cases[i];
		struct summary s = summarize(c);

		if (strcmp(group, c->group)) {
			group = c->group;
			printf("| **%s** | | | | | | | |\n", !strcmp(group, "floor") ? "floors" :
			       !strcmp(group, "micro") ? "micro-costs (net = the cost)" :
			       !strcmp(group, "xlb") ? "xlb" :
			       !strcmp(group, "A/B") ? "baseline (the object before the conntrack redesign)" :
			       "xlb, number of services");
		}
		printf("| %s%s%s | %s | %.0f | %.0f | %.0f | %.0f | %.1f | %.1f |\n",
		       c->is_ref ? "*" : "", c->name, c->is_ref ? "*" : "", c->path,
		       s.min, s.med, s.max, s.net, s.med / tx, s.med / dnat);
	}
	printf("\n");
	if (b_est) {
		static const struct { const char *what; double target; } ab[3] = {
			{ "established flow", 0.8 }, { "new flow, rr", 0.45 },
			{ "not a service (pass-through)", 0.6 },
		};
		struct bcase *now[3] = { c_est, c_rr, c_pass }, *was[3] = { b_est, b_rr, b_pass };

		printf("A/B against the baseline object, same rounds (median ns/pkt):\n\n");
		printf("| path | this build | baseline | ratio | target |\n|---|--:|--:|--:|--:|\n");
		for (int i = 0; i < 3; i++) {
			double a = summarize(now[i]).med, b = summarize(was[i]).med;

			printf("| %s | %.0f | %.0f | %.2f | <= %.2f |\n", ab[i].what, a, b, a / b,
			       ab[i].target);
		}
		printf("\n");
	}
	if (!scale_case[0][0])
		return;
	printf("Cost against the number of services (median ns/pkt, min-max):\n\n");
	printf("| services | established | new flow rr, one service | new flow rr, spread over |\n");
	printf("|--:|--:|--:|--:|\n");
	for (int li = 0; li < 4 && scale_case[li][0]; li++) {
		struct summary a = summarize(scale_case[li][0]), b = summarize(scale_case[li][1]);

		printf("| %u | %.0f (%.0f-%.0f) | %.0f (%.0f-%.0f) | ", scale_n[li], a.med, a.min,
		       a.max, b.med, b.min, b.max);
		if (scale_case[li][2]) {
			struct summary d = summarize(scale_case[li][2]);

			printf("%u: %.0f (%.0f-%.0f) |\n", scale_case[li][2]->spread_svcs, d.med,
			       d.min, d.max);
		} else {
			printf("- |\n");
		}
	}
	printf("\n");
}

/* ---- main ------------------------------------------------------------- */

static int libbpf_quiet(enum libbpf_print_level level, const char *f, va_list ap)
{
	if (level == LIBBPF_WARN || cfg.verbose)
		return vfprintf(stderr, f, ap);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: xdp_bench [--quick] [--rounds N] [--repeat N] [--cpu N] [--max-services N] [-v]\n"
		"  Per-packet cost of xlb's XDP program (BPF_PROG_TEST_RUN), against floors.\n"
		"  --quick         repeat 100000, 3 rounds (CI: keeps the benchmark working)\n"
		"  --rounds N      measured rounds, every case once each (default 7)\n"
		"  --repeat N      iterations per run (default 1000000)\n"
		"  --cpu N         CPU to pin to (default: the last allowed one)\n"
		"  --max-services N  largest service count of the scale cases (default 100000)\n"
		"  --baseline OBJ  also run the established, new-flow and pass-through cases against\n"
		"                  OBJ (an older xlb.bpf.o, maps of its own) in the same rounds\n"
		"Needs root; runs in a network namespace of its own. Table on stdout.\n");
}

static void parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "repeat", required_argument, NULL, 'n' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "max-services", required_argument, NULL, 's' },
		{ "baseline", required_argument, NULL, 'b' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	uint32_t rounds = 0, repeat = 0;
	int o;

	while ((o = getopt_long(argc, argv, "qr:n:c:s:b:vh", opts, NULL)) != -1) {
		switch (o) {
		case 'q': cfg.quick = true; break;
		case 'r': rounds = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'n': repeat = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'c': cfg.cpu = atoi(optarg); break;
		case 's': cfg.max_scale = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'b': cfg.baseline = optarg; break;
		case 'v': cfg.verbose = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
	cfg.rounds = rounds ? rounds : cfg.quick ? 3 : 7;
	cfg.repeat = repeat ? repeat : cfg.quick ? 100000 : 1000000;
	if (cfg.rounds > MAX_ROUNDS)
		die("at most %d rounds", MAX_ROUNDS);
	if (cfg.repeat < 1000)
		die("repeat %u: too few iterations for a stable duration", cfg.repeat);
}

static void round_run(int r)
{
	for (int i = 0; i < n_cases; i++) {
		uint32_t ns = run_case(&cases[i], cfg.repeat);

		if (r >= 0)
			cases[i].raw[r] = (int)ns;
	}
}

int main(int argc, char **argv)
{
	struct timespec t0, t1;

	parse_args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0)
		die("needs root (BPF_PROG_TEST_RUN, a network namespace)");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	topology();
	pin_cpu();
	xlb_log_set_level(cfg.verbose ? XLB_LOG_DEBUG : XLB_LOG_WARN);
	libbpf_set_print(libbpf_quiet);

	skel = bench__open_and_load();
	if (!skel)
		die("load bench.bpf.o: %s", strerror(errno));
	harness_fd = bpf_program__fd(skel->progs.bench_harness);
	pass_fd = bpf_program__fd(skel->progs.bench_pass);
	progs_fd = bpf_map__fd(skel->maps.bench_progs);
	pkt_fd = bpf_map__fd(skel->maps.bench_pkt);

	note("xdp_bench: repeat %u, %u rounds, CPU %d\n", cfg.repeat, cfg.rounds, cfg.cpu);
	setup_floors();
	setup_basic();
	if (cfg.baseline)
		setup_baseline();
	for (int li = 0; li < 4 && scale_n[li] <= cfg.max_scale; li++)
		setup_scale(li);

	/* Steady state: conntrack (and the affinity map) full, so every new
	 * flow's inserts run LRU eviction. */
	for (int i = 0; i < n_prefill; i++) {
		struct bcase *c = prefill[i];

		run_case(c, c->dpx->ct_entries);
		if (c->dpx->flows_in < c->dpx->ct_entries)
			die("%s: conntrack not full after the fill", c->dpx->name);
	}
	if (b_rr)
		run_case(b_rr, XLB_CT_ENTRIES / 2 + 1);	/* two entries a flow: full */
	run_case(c_lru, 2 * 262144);	/* the micro-cost LRU maps full too */
	run_case(c_lru_pcpu, 2 * 262144);
	run_case(c_lru_small, 2 * 4096);
	note("  conntrack full in every dataplane; warm-up\n");
	round_run(-1);
	for (uint32_t r = 0; r < cfg.rounds; r++) {
		round_run((int)r);
		note("  round %u/%u, raw ns: XDP_PASS %d, harness %d, TX %d, established %d, "
		     "new rr %d (harness cases include the harness)\n",
		     r + 1, cfg.rounds, c_dpass->raw[r], c_hpass->raw[r], c_dtx->raw[r],
		     c_est->raw[r], c_rr->raw[r]);
	}
	report();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	note("xdp_bench: every run verified; %.0f s\n",
	     (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	xlb_dp_close(basic.dp);
	for (int li = 0; li < 4; li++)
		xlb_dp_close(scale[li].dp);
	bench__destroy(skel);
	return 0;
}
