// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark programs for xdp_bench: the harness that makes
 * BPF_PROG_TEST_RUN with repeat = N time a packet-rewriting program
 * honestly, and the floors the datapath is compared with.
 *
 * BPF_PROG_TEST_RUN runs the program N times on the same buffer and never
 * restores it: a DNAT program would time its rewrite once and then, N - 1
 * times, whatever path the rewritten packet takes. bench_harness puts the
 * original frame back on every iteration (length, then bytes), optionally
 * makes it a new flow, and tail-calls the program under test in
 * bench_progs[0]. Its own cost is measured by pointing it at bench_pass and
 * subtracted by user space.
 *
 * Every program is xdp.frags, as xlb's is: a tail call needs both sides
 * alike.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bench.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bench_progs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bench_pkt);
} bench_pkt SEC(".maps");

/* Flow counters: iterations so far, per case (the benchmark runs on one CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BENCH_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} bench_ctr SEC(".maps");

/* Fold a 32-bit one's complement sum to 16 bits. */
static __always_inline __u16 fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/* Vary one 16-bit word of the frame; returns ~old + new (RFC 1624), for
 * the checksums that cover the word. Words are in network order in the
 * frame; the one's complement sum does not care. */
static __always_inline __u32 vary_word(__u16 *w, const struct bench_vary *v, __u64 n)
{
	__u16 old = *w;
	__u16 new = bpf_htons(bpf_ntohs(old) ^ (__u16)((n >> (v->shift & 63)) & v->mask));

	*w = new;
	return (__u16)~old + (__u32)new;
}

/*
 * Every iteration does the same work whatever the case (a mask of 0 still
 * rewrites the word with itself), so one measurement of the harness around
 * bench_pass is the cost to subtract from all of them.
 */
SEC("xdp.frags")
int bench_harness(struct xdp_md *ctx)
{
	__u32 zero = 0, key, len, d_ip = 0, d_l4;
	struct bench_pkt *p;
	struct iphdr *ip;
	struct tcphdr *th;
	void *data, *data_end;
	__u64 *ctr, n;

	p = bpf_map_lookup_elem(&bench_pkt, &zero);
	if (!p)
		return XDP_ABORTED;
	len = p->len;
	if (len < BENCH_MIN_LEN || len > BENCH_PKT_MAX)
		return XDP_ABORTED;

	/* The length first (the program under test may have grown or cut the
	 * frame; always one call, with delta 0 when it did not), then the
	 * bytes. */
	if (bpf_xdp_adjust_head(ctx, (int)(ctx->data_end - ctx->data) - (int)len))
		return XDP_ABORTED;
	if (bpf_xdp_store_bytes(ctx, 0, p->data, len))
		return XDP_ABORTED;

	key = p->ctr;
	ctr = bpf_map_lookup_elem(&bench_ctr, &key);
	if (!ctr)
		return XDP_ABORTED;
	n = (*ctr)++;

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + BENCH_MIN_LEN > data_end)
		return XDP_ABORTED;
	ip = data + BENCH_IP_OFF;
	th = data + BENCH_L4_OFF;

	d_ip += vary_word((__u16 *)&ip->saddr, &p->vary[BENCH_W_SADDR_HI], n);
	d_ip += vary_word((__u16 *)&ip->saddr + 1, &p->vary[BENCH_W_SADDR_LO], n);
	d_ip += vary_word((__u16 *)&ip->daddr + 1, &p->vary[BENCH_W_DADDR_LO], n);
	d_l4 = d_ip + vary_word(&th->source, &p->vary[BENCH_W_SPORT], n);
	/* Addresses are in the IPv4 header sum and the TCP pseudo-header. */
	ip->check = (__u16)~fold((__u16)~ip->check + d_ip);
	th->check = (__u16)~fold((__u16)~th->check + d_l4);

	bpf_tail_call(ctx, &bench_progs, 0);
	return XDP_ABORTED;	/* empty slot: user space sees the verdict */
}

/* Floor 1, and the harness's own cost: nothing at all. */
SEC("xdp.frags")
int bench_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* Bounds-checked Ethernet / IPv4 / TCP headers, or NULL. */
static __always_inline struct tcphdr *parse_tcp(struct xdp_md *ctx, struct ethhdr **ethp,
						struct iphdr **ipp)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct tcphdr *th;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return NULL;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5 ||
	    ip->protocol != IPPROTO_TCP || (ip->frag_off & bpf_htons(0x3fff)))
		return NULL;
	th = (void *)ip + ip->ihl * 4;
	if ((void *)(th + 1) > data_end)
		return NULL;
	*ethp = eth;
	*ipp = ip;
	return th;
}

static __always_inline void swap_macs(struct ethhdr *eth)
{
	__u8 t[ETH_ALEN];

	__builtin_memcpy(t, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, t, ETH_ALEN);
}

/* Floor 2: parse Ethernet / IPv4 / TCP, swap the MACs, send back. */
SEC("xdp.frags")
int bench_tx(struct xdp_md *ctx)
{
	struct ethhdr *eth;
	struct iphdr *ip;

	if (!parse_tcp(ctx, &eth, &ip))
		return XDP_PASS;
	swap_macs(eth);
	return XDP_TX;
}

/* Floor 3: a stateless DNAT to a fixed backend (10.128.0.1:8080), with
 * incremental checksums (RFC 1624), MACs swapped, XDP_TX. What xlb does
 * to a packet, without any lookup. */
#define DNAT_ADDR	bpf_htonl(0x0a800001)
#define DNAT_PORT	bpf_htons(8080)

SEC("xdp.frags")
int bench_dnat(struct xdp_md *ctx)
{
	struct ethhdr *eth;
	struct iphdr *ip;
	struct tcphdr *th;
	__u32 d;

	th = parse_tcp(ctx, &eth, &ip);
	if (!th)
		return XDP_PASS;
	d = (__u16)~(ip->daddr & 0xffff) + (__u16)~(ip->daddr >> 16) +
	    (DNAT_ADDR & 0xffff) + (DNAT_ADDR >> 16);
	ip->check = (__u16)~fold((__u16)~ip->check + d);
	d += (__u16)~th->dest + (__u32)DNAT_PORT;
	th->check = (__u16)~fold((__u16)~th->check + d);
	ip->daddr = DNAT_ADDR;
	th->dest = DNAT_PORT;
	swap_macs(eth);
	return XDP_TX;
}

/*
 * Micro-costs, to read the new-flow figures by: one LRU hash insert of a
 * new key into a full map of conntrack's size and layout (also with
 * per-CPU LRU lists, and as a small map that fits in the caches), and one
 * bpf_fib_lookup that succeeds (route via a gateway, permanent neighbour).
 * Neither touches the packet: they run directly. A failure is counted in
 * bench_err, which user space checks is zero.
 */
struct micro_key {
	__u32 w[10];		/* 40 bytes, as struct xlb_ct_key */
};

struct micro_val {
	__u64 w[8];		/* 64 bytes, as struct xlb_ct_val */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);	/* XLB_CT_ENTRIES */
	__type(key, struct micro_key);
	__type(value, struct micro_val);
} micro_lru SEC(".maps");

/* The same with an LRU list per CPU instead of one shared list. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, struct micro_key);
	__type(value, struct micro_val);
} micro_lru_pcpu SEC(".maps");

/* The same as micro_lru, small enough to stay in the CPU caches. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct micro_key);
	__type(value, struct micro_val);
} micro_lru_small SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bench_err SEC(".maps");

static __always_inline int micro_fail(void)
{
	__u32 zero = 0;
	__u64 *e = bpf_map_lookup_elem(&bench_err, &zero);

	if (e)
		*e += 1;
	return XDP_DROP;
}

/* Insert a key never used before (from flow counter ctr). */
static __always_inline int lru_insert(void *map, __u32 ctr_key)
{
	struct micro_key k = {};
	struct micro_val v = {};
	__u64 *ctr = bpf_map_lookup_elem(&bench_ctr, &ctr_key), n;

	if (!ctr)
		return micro_fail();
	n = (*ctr)++;
	k.w[0] = (__u32)n;
	k.w[1] = (__u32)(n >> 32);
	if (bpf_map_update_elem(map, &k, &v, BPF_ANY))
		return micro_fail();
	return XDP_PASS;
}

SEC("xdp.frags")
int micro_lru_insert(struct xdp_md *ctx)
{
	return lru_insert(&micro_lru, BENCH_COUNTERS - 1);
}

SEC("xdp.frags")
int micro_lru_pcpu_insert(struct xdp_md *ctx)
{
	return lru_insert(&micro_lru_pcpu, BENCH_COUNTERS - 2);
}

SEC("xdp.frags")
int micro_lru_small_insert(struct xdp_md *ctx)
{
	return lru_insert(&micro_lru_small, BENCH_COUNTERS - 3);
}

SEC("xdp.frags")
int micro_fib(struct xdp_md *ctx)
{
	struct bpf_fib_lookup f = {};

	f.family = 2;	/* AF_INET */
	f.l4_protocol = IPPROTO_TCP;
	f.tot_len = 60;
	f.ipv4_src = bpf_htonl(0xac110002);	/* 172.17.0.2 */
	f.ipv4_dst = bpf_htonl(0x0a800101);	/* 10.128.1.1, a backend */
	f.ifindex = ctx->ingress_ifindex;
	if (bpf_fib_lookup(ctx, &f, sizeof(f), 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return micro_fail();
	return XDP_PASS;
}
