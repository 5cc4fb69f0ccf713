// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The SNAT engine (bpf/lib/snat.h) on its own, for tests/bpf/test_snat.c.
 * A packet to node_addr is a reply: reverse-translated to the client and
 * sent back (XDP_TX), or passed when it answers no flow. Any other packet
 * is a flow already DNATed to its backend: its source becomes node_addr
 * and the flow's port (XDP_TX), or it is dropped when no port or entry is
 * left. Each outcome is counted in snat_test_stats.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "lib/ctx/xdp.h"
#include "lib/parse.h"
#include "lib/nat.h"
#include "lib/clock.h"
#include "lib/snat.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __be32 node_addr;

enum { T_NEW, T_HIT, T_EXHAUSTED, T_FULL, T_REV, T_REV_MISS, T_MAX };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, T_MAX);
	__type(key, __u32);
	__type(value, __u64);
} snat_test_stats SEC(".maps");

static __always_inline int count(__u32 what, int verdict)
{
	__u64 *c = bpf_map_lookup_elem(&snat_test_stats, &what);

	if (c)
		*c += 1;
	return verdict;
}

SEC("xdp")
int snat_test(struct xdp_md *ctx)
{
	struct xlb_snat4_key k = {};
	struct xlb_snat4_val v, *r;
	struct xlb_pkt p = {};
	__u32 now = xlb_now();
	__u8 flags;

	if (xlb_parse(ctx, &p) != XLB_PARSE_OK)
		return XDP_PASS;
	flags = p.tcp ? p.tcp_flags : 0;
	k.saddr = p.saddr;
	k.daddr = p.daddr;
	k.sport = p.sport;
	k.dport = p.dport;
	k.proto = p.proto;

	if (k.daddr == node_addr) {
		r = xlb_snat4_rev(&k, flags, now);
		if (!r)
			return count(T_REV_MISS, XDP_PASS);
		xlb_nat_rewrite(ctx, &p, 1, r->addr, r->port);
		return count(T_REV, XDP_TX);
	}
	switch (xlb_snat4_fwd(&k, node_addr, flags, now, &v)) {
	case XLB_SNAT_NEW:
		xlb_nat_rewrite(ctx, &p, 0, v.addr, v.port);
		return count(T_NEW, XDP_TX);
	case XLB_SNAT_OK:
		xlb_nat_rewrite(ctx, &p, 0, v.addr, v.port);
		return count(T_HIT, XDP_TX);
	case XLB_SNAT_EXHAUSTED:
		return count(T_EXHAUSTED, XDP_DROP);
	default:
		return count(T_FULL, XDP_DROP);
	}
}
