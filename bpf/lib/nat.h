/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Address rewriting, one for XDP and tc: the checksums follow every
 * change through the context's helpers (lib/ctx/): RFC 1624 in place in
 * XDP, the kernel's skb helpers in tc.
 */
#ifndef XLB_BPF_NAT_H
#define XLB_BPF_NAT_H

#include "parse.h"

/* Rewrite one address (daddr when dst, else saddr) and its port, and
 * what the parsed packet says of them. The IPv4 header checksum covers
 * only the address; the L4 checksum covers both, the address through the
 * pseudo-header (so under CHECKSUM_PARTIAL only it changes the field: the
 * port is in the payload the device sums later). A zero UDP checksum
 * means "none" and stays zero. 0, or -1 when a tc helper failed (the
 * packet may be half written: drop it). */
static __always_inline int xlb_nat_rewrite(struct xlb_ctx *ctx, struct xlb_pkt *p, int dst,
					   __be32 addr, __be16 port)
{
	__be32 old_addr = ctx_load_addr(ctx, p, dst);
	__be16 old_port = dst ? p->dport : p->sport;
	__u64 l4f = p->tcp ? 0 : BPF_F_MARK_MANGLED_0;	/* UDP */
	/* tc: a later fragment has no L4 header (XDP follows its own way,
	 * lib/frag_xdp.h) */
	int l4 = XLB_CTX_XDP || p->have_ports != XLB_PORTS_FROM_FIRST;

	/* tc skips a helper call for a field that stays; XDP's updates are
	 * a few instructions, where a branch would double the paths the
	 * verifier walks after each rewrite. */
	if (XLB_CTX_XDP || old_addr != addr) {
		if ((l4 && ctx_l4_csum_replace(ctx, p, old_addr, addr,
					       l4f | BPF_F_PSEUDO_HDR | 4)) ||
		    ctx_l3_csum_replace(ctx, p, old_addr, addr) ||
		    ctx_store_addr(ctx, p, dst, addr))
			return -1;
	}
	if (l4 && (XLB_CTX_XDP || old_port != port)) {
		if (ctx_l4_csum_replace(ctx, p, old_port, port, l4f | 2) ||
		    ctx_store_port(ctx, p, dst, port))
			return -1;
	}
	if (dst) {
		p->daddr = addr;
		p->dport = port;
	} else {
		p->saddr = addr;
		p->sport = port;
	}
	return 0;
}

static __always_inline int xlb_set_macs(struct xlb_ctx *ctx, struct xlb_pkt *p, const __u8 *src,
					const __u8 *dst)
{
	return ctx_store_macs(ctx, p, src, dst);
}

#endif /* XLB_BPF_NAT_H */
