/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The packet context of a tc (cls_bpf) program, for the library that XDP
 * and tc share: ctx/xdp.h has the same names with XDP's meaning. An entry
 * file includes exactly one of the two before the library.
 *
 * tc sees socket buffers: headers maybe outside the linear part (pulled
 * in first), GSO packets up to 64 KB, and pods with default offloads send
 * CHECKSUM_PARTIAL (the L4 field holds only the pseudo-header sum). Only
 * the kernel's helpers see skb->ip_summed, so every write goes through
 * them: bpf_l4_csum_replace() with BPF_F_PSEUDO_HDR updates a partial
 * field for an address and leaves it alone for a port (the device sums
 * the payload later), and updates a full one as RFC 1624 does. Each of
 * these invalidates the packet pointers: write through offsets only.
 */
#ifndef XLB_BPF_CTX_H
#define XLB_BPF_CTX_H

#include <stddef.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "../pkt.h"
#include "../csum.h"

#define xlb_ctx __sk_buff
#define XLB_CTX_XDP 0
#define XLB_CTX_MAX_VLAN 0	/* tags are in skb->vlan_tci, or not ours */
#define XLB_CTX_GUESS_PARTIAL 0	/* the helpers know skb->ip_summed */

static __always_inline void *ctx_data(const struct __sk_buff *ctx)
{
	return (void *)(long)ctx->data;
}

static __always_inline void *ctx_data_end(const struct __sk_buff *ctx)
{
	return (void *)(long)ctx->data_end;
}

static __always_inline __u32 ctx_len(const struct __sk_buff *ctx)
{
	return ctx->len;
}

static __always_inline __u32 ctx_full_len(struct __sk_buff *ctx)
{
	return ctx->len;
}

/* Can it be IPv4? The kernel has read the Ethernet type already: others
 * are not pulled in. */
static __always_inline int ctx_maybe_ipv4(const struct __sk_buff *ctx)
{
	return ctx->protocol == bpf_htons(ETH_P_IP);
}

/* Make the first len bytes (at most the packet) linear. 0 or -1. */
static __always_inline int ctx_pull(struct __sk_buff *ctx, __u32 len)
{
	if (len > ctx->len)
		len = ctx->len;
	if (ctx_data(ctx) + len <= ctx_data_end(ctx))
		return 0;
	return bpf_skb_pull_data(ctx, len) ? -1 : 0;
}

static __always_inline int ctx_load_bytes(struct __sk_buff *ctx, __u32 off, void *to, __u32 len)
{
	return bpf_skb_load_bytes(ctx, off, to, len);
}

static __always_inline int ctx_store_bytes(struct __sk_buff *ctx, __u32 off, const void *from,
					   __u32 len)
{
	return bpf_skb_store_bytes(ctx, off, from, len, 0);
}

static __always_inline __u32 ctx_ifindex(const struct __sk_buff *ctx)
{
	return ctx->ifindex;
}

static __always_inline int ctx_l3_csum_replace(struct __sk_buff *ctx, struct xlb_pkt *p,
					       __be32 from, __be32 to)
{
	return bpf_l3_csum_replace(ctx, p->l3_off + offsetof(struct iphdr, check), from, to, 4);
}

/* flags as bpf_l4_csum_replace() takes them (ctx/xdp.h says them). */
static __always_inline int ctx_l4_csum_replace(struct __sk_buff *ctx, struct xlb_pkt *p, __u32 from,
					       __u32 to, __u64 flags)
{
	__u32 off = p->l4_off + (p->proto == IPPROTO_TCP ? offsetof(struct tcphdr, check) :
							   offsetof(struct udphdr, check));

	return bpf_l4_csum_replace(ctx, off, from, to, flags);
}

/* An address of the IPv4 header as it is now (dst: the destination): the
 * parsed value, which the rewrite keeps up to date (the packet pointers do
 * not survive a write). */
static __always_inline __be32 ctx_load_addr(struct __sk_buff *ctx, const struct xlb_pkt *p, int dst)
{
	return dst ? p->daddr : p->saddr;
}

static __always_inline int ctx_store_addr(struct __sk_buff *ctx, struct xlb_pkt *p, int dst,
					  __be32 addr)
{
	return ctx_store_bytes(ctx, p->l3_off + (dst ? offsetof(struct iphdr, daddr) :
						       offsetof(struct iphdr, saddr)),
			       &addr, sizeof(addr));
}

static __always_inline int ctx_store_port(struct __sk_buff *ctx, struct xlb_pkt *p, int dst,
					  __be16 port)
{
	return ctx_store_bytes(ctx, p->l4_off + (dst ? 2 : 0), &port, sizeof(port));
}

static __always_inline int ctx_store_macs(struct __sk_buff *ctx, struct xlb_pkt *p,
					  const __u8 *src, const __u8 *dst)
{
	__u8 h[2 * ETH_ALEN];

	__builtin_memcpy(h, dst, ETH_ALEN);
	__builtin_memcpy(h + ETH_ALEN, src, ETH_ALEN);
	return ctx_store_bytes(ctx, 0, h, sizeof(h));
}

#endif /* XLB_BPF_CTX_H */
