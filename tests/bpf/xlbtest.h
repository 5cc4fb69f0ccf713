/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Harness for the datapath tests: process setup, opening a hermetic
 * dataplane, service specs from literals, one BPF_PROG_TEST_RUN, global
 * counters, and byte-exact comparison with a hex dump on mismatch.
 *
 * Every test binary calls xt_init() first. It moves the process into a
 * network namespace of its own (so bpf_fib_lookup sees no routes unless a
 * test creates them, and nothing the host has leaks in) and onto one CPU
 * (per-CPU state such as the round-robin counters then behaves as one).
 *
 * Rows of a table become cmocka tests named by their description
 * (xt_run_table()), so the runner's output reads as a list of packets.
 *
 * Include this header (or flow.h) before any system header: it defines
 * _GNU_SOURCE for unshare() and the CPU affinity calls.
 */
#ifndef XLB_TEST_XLBTEST_H
#define XLB_TEST_XLBTEST_H

#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <xlb/abi.h>
#include "dataplane/dataplane.h"
#include "model/model.h"
#include "log.h"
#include "pktgen.h"

/* Addresses every test speaks about. */
#define MAC_CLIENT	{ 0x02, 0x00, 0x00, 0x00, 0x01, 0x02 }	/* the client's router */
#define MAC_NODE	{ 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 }	/* this node's NIC */
#define MAC_BACKEND	{ 0x02, 0x00, 0x00, 0x00, 0x20, 0x02 }	/* the backends' router */

/* The verdict for a frame sent back out of the device it came in on (a
 * reply to a client on the ingress device, a TCP reset): a redirect to the
 * ingress device, because XDP_TX does not wake a veth peer without XDP. */
#ifndef XT_VERDICT_BACK
#define XT_VERDICT_BACK	XDP_REDIRECT
#endif

static const uint8_t mac_client[6] = MAC_CLIENT;
static const uint8_t mac_node[6] = MAC_NODE;
static const uint8_t mac_backend[6] = MAC_BACKEND;

static inline bool xt_verbose(void)
{
	const char *v = getenv("XLB_TEST_VERBOSE");

	return v && *v && strcmp(v, "0");
}

static inline int xt_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !xt_verbose())
		return 0;
	if (level == LIBBPF_INFO && !xt_verbose())
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* Own network namespace, one CPU, quiet libbpf. Exits on failure: without
 * these the results would depend on the host. */
static inline void xt_init(void)
{
	cpu_set_t set;
	int cpu;

	if (geteuid() != 0) {
		fprintf(stderr, "xlb datapath tests need root (BPF_PROG_TEST_RUN, netns)\n");
		exit(1);
	}
	if (unshare(CLONE_NEWNET)) {
		perror("unshare(CLONE_NEWNET)");
		exit(1);
	}
	cpu = sched_getcpu();
	CPU_ZERO(&set);
	CPU_SET(cpu < 0 ? 0 : cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("sched_setaffinity");
		exit(1);
	}
	libbpf_set_print(xt_libbpf_print);
	xlb_log_set_level(xt_verbose() ? XLB_LOG_DEBUG : XLB_LOG_WARN);
}

/* Run each command in turn (ip, in this test's own namespace). 0, or -1
 * after saying which failed. */
static inline int xt_sh_all(const char *const *cmds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int ret = system(cmds[i]);

		if (ret) {
			fprintf(stderr, "`%s` failed (%d)\n", cmds[i], ret);
			return -1;
		}
	}
	return 0;
}

/* IPv4 forwarding on in this namespace: bpf_fib_lookup answers only where
 * the node forwards. */
static inline int xt_forwarding(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/conf/all/forwarding", "w");
	int ret = !f || fputs("1", f) < 0;

	if (f)
		ret |= fclose(f) != 0;
	if (ret)
		perror("enable IPv4 forwarding in the namespace");
	return ret ? -1 : 0;
}

/* Small maps: the tests need a few dozen flows, and loading is faster. */
static inline struct xlb_dp_opts xt_dp_opts(const char *pin_dir)
{
	return (struct xlb_dp_opts){
		.pin_dir = pin_dir,
		.ct_entries = 8192,
		.max_services = 256,
		.max_backends = 4096,
		.sel_slots = 1 << 18,
		.grace_ms = 20,		/* tests churn faster than production */
	};
}

static inline struct xlb_dp *xt_dp_open_at(const char *pin_dir)
{
	struct xlb_dp_opts o = xt_dp_opts(pin_dir);
	struct xlb_dp *dp = NULL;
	char err[256] = "";
	int ret;

	ret = xlb_dp_bpf_open(&o, &dp, err, sizeof(err));
	if (ret) {
		print_error("xlb_dp_bpf_open(pin_dir \"%s\"): %s (%d)\n", pin_dir, err, ret);
		return NULL;
	}
	return dp;
}

/* A dataplane with nothing pinned: it dies with the handle. */
static inline struct xlb_dp *xt_dp_open(void)
{
	return xt_dp_open_at("");
}

static inline struct xlb_ip xt_ip(const char *s)
{
	struct xlb_ip ip;

	memset(&ip, 0, sizeof(ip));
	if (inet_pton(AF_INET, s, ip.addr.a8) == 1) {
		ip.family = XLB_AF_INET;
	} else if (inet_pton(AF_INET6, s, ip.addr.a8) == 1) {
		ip.family = XLB_AF_INET6;
	} else {
		fprintf(stderr, "xt_ip: bad address %s\n", s);
		abort();
	}
	return ip;
}

static inline struct xlb_service_spec xt_svc(const char *vip, uint32_t port, uint8_t proto,
					     enum xlb_algo algo)
{
	struct xlb_service_spec s;

	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "test/%s:%u/%s", vip, port,
		 proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "?");
	s.type = XLB_SVC_CLUSTER_IP;
	s.vip = xt_ip(vip);
	s.port = port;
	s.proto = proto;
	s.algo = algo;
	return s;
}

static inline struct xlb_backend_spec xt_be(const char *addr, uint32_t port, uint32_t weight)
{
	struct xlb_backend_spec b;

	memset(&b, 0, sizeof(b));
	b.addr = xt_ip(addr);
	b.port = port;
	b.weight = weight;
	return b;
}

/* xlb_dp_service_set that fails the test on error. */
#define XT_SVC_SET(dp, svc, be, n)						\
	do {									\
		char err_[256] = "";						\
		int r_ = xlb_dp_service_set((dp), (svc), (be), (n), err_, sizeof(err_)); \
		if (r_)								\
			fail_msg("service_set %s: %s (%d)", (svc)->name, err_, r_); \
	} while (0)

struct xt_run {
	int ret;		/* bpf_prog_test_run_opts() */
	uint32_t verdict;	/* XDP_* */
	uint32_t len;		/* output length */
	uint8_t out[PKT_MAX];
};

/* One BPF_PROG_TEST_RUN of the XDP program, nothing checked. ifindex 0 leaves the ingress
 * device to the kernel (loopback); otherwise it is set through ctx_in. */
static inline int xt_run_raw(struct xlb_dp *dp, const uint8_t *in, size_t len, uint32_t ifindex,
			 struct xt_run *r)
{
	struct xdp_md ctx = {
		.data = 0,
		.data_end = (uint32_t)len,
		.ingress_ifindex = ifindex,
	};
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		    .data_in = in,
		    .data_size_in = (uint32_t)len,
		    .data_out = r->out,
		    .data_size_out = sizeof(r->out),
		    .repeat = 1);

	if (ifindex) {
		opts.ctx_in = &ctx;
		opts.ctx_size_in = sizeof(ctx);
	}
	memset(r->out, 0, sizeof(r->out));
	r->ret = bpf_prog_test_run_opts(xlb_dp_bpf_prog_fd(dp), &opts);
	r->verdict = opts.retval;
	r->len = opts.data_size_out;
	return r->ret;
}

static inline const char *xt_verdict_name(uint32_t v)
{
	static const char *const names[] = { "XDP_ABORTED", "XDP_DROP", "XDP_PASS",
					     "XDP_TX", "XDP_REDIRECT" };
	return v < sizeof(names) / sizeof(names[0]) ? names[v] : "XDP_?";
}


struct xt_stats {
	uint64_t v[XLB_STAT_MAX];
};

static inline struct xt_stats xt_stats(struct xlb_dp *dp)
{
	struct xt_stats s;
	int ret;

	memset(&s, 0, sizeof(s));
	ret = xlb_dp_global_stats(dp, s.v);
	if (ret)
		fail_msg("xlb_dp_global_stats: %d", ret);
	return s;
}

static inline struct xlb_counters xt_svc_stats(struct xlb_dp *dp,
					       const struct xlb_service_spec *svc)
{
	struct xlb_counters c;
	int ret;

	memset(&c, 0, sizeof(c));
	ret = xlb_dp_service_stats(dp, svc, &c);
	if (ret)
		fail_msg("xlb_dp_service_stats %s: %d", svc->name, ret);
	return c;
}

static inline uint64_t xt_delta(const struct xt_stats *after, const struct xt_stats *before,
				enum xlb_stat i)
{
	return after->v[i] - before->v[i];
}

/* Print the counters that moved. */
static inline void xt_stats_print(const struct xt_stats *after, const struct xt_stats *before)
{
	int i;

	fprintf(stderr, "  counters moved:");
	for (i = 0; i < XLB_STAT_MAX; i++)
		if (after->v[i] != before->v[i])
			fprintf(stderr, " %s+%llu", xlb_stat_name(i),
				(unsigned long long)(after->v[i] - before->v[i]));
	fprintf(stderr, "\n");
}

/*
 * What every packet must do to the global counters (include/xlb/stats.h):
 * rx and exactly one outcome move by one, and the outcome's kind agrees
 * with the verdict (a drop is counted if and only if the packet is
 * dropped). Returns false after saying why.
 */
static inline bool xt_outcome_check(const struct xt_stats *after, const struct xt_stats *before,
				    uint32_t verdict, char *why, size_t len)
{
	int i, outcome = -1, n = 0;
	enum xlb_stat_kind want;

	if (xt_delta(after, before, XLB_STAT_RX) != 1) {
		snprintf(why, len, "rx moved by %llu, expected 1",
			 (unsigned long long)xt_delta(after, before, XLB_STAT_RX));
		return false;
	}
	for (i = 0; i < XLB_STAT_MAX; i++) {
		enum xlb_stat_kind k = xlb_stat_info(i)->kind;

		if (k == XLB_SK_TOTAL || k == XLB_SK_EVENT || after->v[i] == before->v[i])
			continue;
		n += (int)(after->v[i] - before->v[i]);
		outcome = i;
	}
	if (n != 1) {
		snprintf(why, len, "%d outcome counters moved, expected exactly one", n);
		return false;
	}
	switch (verdict) {
	case XDP_PASS: want = XLB_SK_PASS; break;
	case XDP_DROP: want = XLB_SK_DROP; break;
	case XDP_TX:
	case XDP_REDIRECT:
		want = xlb_stat_info(outcome)->kind == XLB_SK_ANSWER ? XLB_SK_ANSWER : XLB_SK_FWD;
		break;
	default:
		snprintf(why, len, "verdict %u", verdict);
		return false;
	}
	if (xlb_stat_info(outcome)->kind != want) {
		snprintf(why, len, "verdict %s but the outcome counted is %s",
			 xt_verdict_name(verdict), xlb_stat_name(outcome));
		return false;
	}
	return true;
}

/* One BPF_PROG_TEST_RUN of the XDP program, failing the test when the
 * counters do not account for the packet exactly once. */
static inline int xt_run(struct xlb_dp *dp, const uint8_t *in, size_t len, uint32_t ifindex,
			 struct xt_run *r)
{
	struct xt_stats before = xt_stats(dp), after;
	char why[160];

	xt_run_raw(dp, in, len, ifindex, r);
	after = xt_stats(dp);
	if (!r->ret && !xt_outcome_check(&after, &before, r->verdict, why, sizeof(why))) {
		xt_stats_print(&after, &before);
		pkt_hexdump(stderr, "input", in, len, NULL, 0);
		fail_msg("counters: %s", why);
	}
	return r->ret;
}

/* Build d, failing the test if the description is bad. */
static inline size_t xt_build(const struct pkt_desc *d, uint8_t *buf)
{
	size_t len = pkt_build(d, buf, PKT_MAX);

	if (!len)
		fail_msg("pkt_build failed");
	return len;
}

/* Check that the output of r is exactly exp (verdict, length, bytes) and
 * that its checksums verify. what names the packet in the messages.
 * Returns false (after saying why) when not. */
static inline bool xt_check(const char *what, const struct xt_run *r, uint32_t verdict,
			    const uint8_t *exp, size_t elen)
{
	char why[160] = "";
	bool ok = true, same;

	if (r->ret) {
		print_error("%s: bpf_prog_test_run_opts: %s (%d)\n", what, strerror(-r->ret), r->ret);
		return false;
	}
	if (r->verdict != verdict) {
		print_error("%s: verdict %s, expected %s\n", what, xt_verdict_name(r->verdict),
			    xt_verdict_name(verdict));
		ok = false;
	}
	same = r->len == elen && !memcmp(r->out, exp, elen);
	if (!same) {
		size_t i;

		for (i = 0; i < elen && i < r->len && r->out[i] == exp[i]; i++)
			;
		print_error("%s: output differs from the expected frame (length %u vs %zu, "
			    "first difference at byte %zu)\n", what, r->len, elen, i);
		ok = false;
	}
	/* Checksums must verify whenever they verified in the expected frame
	 * (a malformed frame is expected back as it was). */
	if (!pkt_csum_check(exp, elen, why, sizeof(why)) &&
	    pkt_csum_check(r->out, r->len, why, sizeof(why))) {
		print_error("%s: %s\n", what, why);
		ok = false;
	}
	if (!ok) {
		if (same) {
			print_error("%s: output bytes are exactly the expected %zu\n", what, elen);
		} else {
			pkt_hexdump(stderr, "expected", exp, elen, r->out, r->len);
			pkt_hexdump(stderr, "got", r->out, r->len, exp, elen);
		}
	}
	return ok;
}

/* xt_check, failing the test. */
static inline void xt_expect(const char *what, const struct xt_run *r, uint32_t verdict,
			     const uint8_t *exp, size_t elen)
{
	if (!xt_check(what, r, verdict, exp, elen))
		fail_msg("%s", what);
}

/* Backend index in be[0..n) whose address and port match the output's
 * destination, or -1. */
static inline int xt_backend_of(const struct xt_run *r, const struct xlb_backend_spec *be, size_t n)
{
	struct pkt_info pi;
	char why[160];
	size_t i;

	if (pkt_parse(r->out, r->len, &pi, why, sizeof(why)) || !pi.ip4)
		return -1;
	for (i = 0; i < n; i++)
		if (be[i].addr.addr.a32[0] == htonl(pi.daddr) && be[i].port == pi.dport)
			return (int)i;
	return -1;
}

/* xorshift32 (Marsaglia 2003) on a caller's state: fixed seeds, so every
 * run of a randomised test is the same run. */
static inline uint32_t xt_xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Rows of a table as cmocka tests named by their description. */
static inline int xt_run_table(const char *group, void (*fn)(void **state), const void *rows,
			       size_t row_size, size_t n, const char *(*desc)(const void *row),
			       CMFixtureFunction setup, CMFixtureFunction teardown,
			       CMFixtureFunction group_setup, CMFixtureFunction group_teardown)
{
	struct CMUnitTest *t = calloc(n, sizeof(*t));
	size_t i;
	int ret;

	if (!t)
		return 1;
	for (i = 0; i < n; i++) {
		const void *row = (const char *)rows + i * row_size;

		t[i].name = desc(row);
		t[i].test_func = fn;
		t[i].setup_func = setup;
		t[i].teardown_func = teardown;
		t[i].initial_state = (void *)row;
	}
	ret = _cmocka_run_group_tests(group, t, n, group_setup, group_teardown);
	free(t);
	return ret;
}

#endif /* XLB_TEST_XLBTEST_H */
