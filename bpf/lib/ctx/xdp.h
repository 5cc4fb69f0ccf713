/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The packet context of an XDP program, for the library that XDP and tc
 * share (parse.h, nat.h, ct.h): ctx/skb.h gives the same names their tc
 * meaning. An entry file includes exactly one of the two before the
 * library, as Cilium's bpf/include/bpf/ctx/{xdp,skb}.h are chosen.
 *
 * XDP sees frames as a NIC delivered them: headers in the first buffer,
 * the payload maybe continued in fragments (multi-buffer). It cannot see
 * whether a frame carries CHECKSUM_PARTIAL (a local sender on a veth), so
 * the parser guesses (XLB_CTX_GUESS_PARTIAL) and the checksum updates
 * here follow the guess, incrementally (RFC 1624), through the pointers
 * the parser left.
 */
#ifndef XLB_BPF_CTX_H
#define XLB_BPF_CTX_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#include "../pkt.h"
#include "../csum.h"

#define xlb_ctx xdp_md
#define XLB_CTX_XDP 1
#define XLB_CTX_MAX_VLAN 2	/* 802.1Q/802.1ad tags the parser walks */
#define XLB_CTX_GUESS_PARTIAL 1	/* the parser recognises CHECKSUM_PARTIAL by its value */

static __always_inline void *ctx_data(const struct xdp_md *ctx)
{
	return (void *)(long)ctx->data;
}

static __always_inline void *ctx_data_end(const struct xdp_md *ctx)
{
	return (void *)(long)ctx->data_end;
}

/* The first buffer's length: the whole frame unless it has fragments. */
static __always_inline __u32 ctx_len(const struct xdp_md *ctx)
{
	return ctx->data_end - ctx->data;
}

/* The whole frame, fragments included (a helper call: asked only when a
 * header says the frame is longer than its first buffer). */
static __always_inline __u32 ctx_full_len(struct xdp_md *ctx)
{
	return bpf_xdp_get_buff_len(ctx);
}

/* Can it be IPv4? The parser reads the Ethernet type itself. */
static __always_inline int ctx_maybe_ipv4(const struct xdp_md *ctx)
{
	return 1;
}

/* Headers are in the first buffer already. */
static __always_inline int ctx_pull(struct xdp_md *ctx, __u32 len)
{
	return 0;
}

static __always_inline int ctx_load_bytes(struct xdp_md *ctx, __u32 off, void *to, __u32 len)
{
	return bpf_xdp_load_bytes(ctx, off, to, len);
}

static __always_inline int ctx_store_bytes(struct xdp_md *ctx, __u32 off, const void *from,
					   __u32 len)
{
	return bpf_xdp_store_bytes(ctx, off, (void *)from, len);
}

static __always_inline __u32 ctx_ifindex(const struct xdp_md *ctx)
{
	return ctx->ingress_ifindex;
}

/* The IPv4 header checksum, for a 4-byte field changed from 'from' to
 * 'to'. Always 0: the header was checked by the parser. */
static __always_inline int ctx_l3_csum_replace(struct xdp_md *ctx, struct xlb_pkt *p, __be32 from,
					       __be32 to)
{
	xlb_csum_replace4(&p->ip->check, from, to);
	return 0;
}

/* The TCP or UDP checksum, for a field of 'size' bytes (BPF_F_HDR_FIELD_MASK
 * of flags: 4 or 2) changed from 'from' to 'to', with the kernel helper's
 * meaning: BPF_F_PSEUDO_HDR says the field is in the pseudo-header (an
 * address), which alone changes a partial checksum; BPF_F_MARK_MANGLED_0
 * keeps a zero UDP checksum zero and sends a computed zero as all ones
 * (RFC 768). */
static __always_inline int ctx_l4_csum_replace(struct xdp_md *ctx, struct xlb_pkt *p, __u32 from,
					       __u32 to, __u64 flags)
{
	__sum16 *c = p->l4_csum;

	if ((flags & BPF_F_MARK_MANGLED_0) && *c == 0)
		return 0;
	if (p->csum_partial) {
		if ((flags & BPF_F_PSEUDO_HDR) && (flags & BPF_F_HDR_FIELD_MASK) == 4)
			xlb_csum_partial_replace4(c, from, to);
		return 0;
	}
	if ((flags & BPF_F_HDR_FIELD_MASK) == 4)
		xlb_csum_replace4(c, from, to);
	else
		xlb_csum_replace2(c, (__be16)from, (__be16)to);
	if ((flags & BPF_F_MARK_MANGLED_0) && *c == 0)
		*c = 0xffff;
	return 0;
}

/* An address of the IPv4 header as it is now (dst: the destination): read
 * in place, where it costs no register kept across the rewrite. */
static __always_inline __be32 ctx_load_addr(struct xdp_md *ctx, const struct xlb_pkt *p, int dst)
{
	return dst ? p->ip->daddr : p->ip->saddr;
}

/* Write an address of the IPv4 header (dst: the destination). */
static __always_inline int ctx_store_addr(struct xdp_md *ctx, struct xlb_pkt *p, int dst,
					  __be32 addr)
{
	if (dst)
		p->ip->daddr = addr;
	else
		p->ip->saddr = addr;
	return 0;
}

/* Write a TCP or UDP port (dst: the destination port). */
static __always_inline int ctx_store_port(struct xdp_md *ctx, struct xlb_pkt *p, int dst,
					  __be16 port)
{
	p->l4_ports[dst ? 1 : 0] = port;
	return 0;
}

/* Write the Ethernet addresses. */
static __always_inline int ctx_store_macs(struct xdp_md *ctx, struct xlb_pkt *p, const __u8 *src,
					  const __u8 *dst)
{
	xlb_eth_set(p->eth, src, dst);
	return 0;
}

#endif /* XLB_BPF_CTX_H */
