/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Direct server return, the front node's half (lb-mode dsr, issue 13).
 *
 * An external flow to a backend on another node is not source-NATed: the
 * client's packet, untouched (still to the service address the client
 * used), goes inside an outer IPv4 header from this node's address to the
 * backend's own address (IPIP, RFC 2003), as Katran and Cilium's IPIP
 * dispatch send it. The fabric routes the outer packet to the backend's
 * node like any packet to the pod; there tc on the NIC (lib/pod.h,
 * pod_dsr_in) takes the outer header off, DNATs the inner packet to the
 * backend and delivers it, and the backend's replies leave that node from
 * the service address straight to the client. No SNAT port is taken and
 * no reply comes back through this node; the backend sees the client.
 *
 * A datagram's later fragments follow its first (lib/frag_xdp.h) inside
 * IPIP to the same backend, and the backend's node follows them by the
 * inner header's identity (pod_dsr_in).
 *
 * The outer header carries the inner one's TOS and DF, TTL 64, ID 0 (RFC
 * 6864: an atomic datagram's ID means nothing). It adds 20 bytes: a DF
 * frame that no longer fits the way out is answered with ICMP
 * fragmentation needed and the MTU less those 20 bytes, from the address
 * the client used (RFC 1191: its path MTU to the service shrinks, as
 * Cilium's DSR answers with ENABLE_DSR_ICMP_ERRORS); one without DF is
 * dropped (drop_dsr_too_big).
 *
 * Kept out of xlb_xdp's body: a global function is verified once, on its
 * own, not for every path that reaches it (the program is near the 1M
 * instruction limit on 6.1).
 */
#ifndef XLB_BPF_DSR_H
#define XLB_BPF_DSR_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "maps.h"
#include "parse.h"
#include "csum.h"
#include "clock.h"
#include "ct.h"
#include "respond.h"

#define XLB_DSR_HLEN	20	/* the outer IPv4 header */

static __always_inline void xlb_dsr_count(__u32 reason)
{
	__u32 zero = 0;
	struct xlb_stats *st = bpf_map_lookup_elem(&stats, &zero);

	if (st)
		st->v[reason]++;
}

/*
 * Send the frame in ctx (Ethernet without VLAN tag, then the client's IPv4
 * packet, all in the first buffer: the caller checked) IPIP-encapsulated
 * to backend id, from saddr (0: the node's SNAT source address). Counts
 * its outcome and returns the XDP verdict.
 */
__noinline int xlb_dsr_xmit(struct xdp_md *ctx, __u32 saddr, __u32 id)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *in = data + ETH_HLEN, *out;
	const struct xlb_nexthop *nh;
	struct xlb_backend *b;
	struct xlb_scratch *fib;
	__u32 zero = 0, mtu, len;
	__u16 in_len;
	__u8 tos;
	__be16 df;

	if ((void *)(in + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		goto no_route;
	b = bpf_map_lookup_elem(&backend_map, &id);
	if (!b)
		goto no_route;
	if (!saddr) {
		struct xlb_snat_src *src = bpf_map_lookup_elem(&snat_src, &zero);

		saddr = src ? src->addr : 0;
		if (!saddr)
			goto no_route;
	}
	/* the FIB lookup's 64 bytes off the stack: this function's frame
	 * comes on top of xlb_xdp's */
	fib = bpf_map_lookup_elem(&scratch, &zero);
	if (!fib)
		goto no_route;
	__builtin_memset(fib, 0, sizeof(struct bpf_fib_lookup));
	nh = xlb_nexthop4(ctx, (struct bpf_fib_lookup *)fib, in, in->protocol, in->saddr, id, b,
			  xlb_now());
	if (!nh)
		goto no_route;
	len = data_end - data;
	tos = in->tos;
	in_len = bpf_ntohs(in->tot_len);
	df = in->frag_off & bpf_htons(0x4000);
	mtu = nh->mtu;	/* the way out's, cached with its next hop */
	if (len + XLB_DSR_HLEN > ETH_HLEN + mtu)
		goto too_big;

	if (bpf_xdp_adjust_head(ctx, -XLB_DSR_HLEN))
		goto no_route;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	out = data + ETH_HLEN;
	if ((void *)(out + 1) > data_end)
		return XDP_ABORTED;	/* cannot happen: the head just grew */
	__builtin_memcpy(eth->h_source, nh->smac, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, nh->dmac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	out->version = 4;
	out->ihl = 5;
	out->tos = tos;
	out->tot_len = bpf_htons(in_len + XLB_DSR_HLEN);
	out->id = 0;
	out->frag_off = df;
	out->ttl = 64;
	out->protocol = IPPROTO_IPIP;
	out->check = 0;
	out->saddr = saddr;
	out->daddr = b->addr.a32[0];
	out->check = xlb_csum_words((const __u16 *)out, sizeof(*out) / 2, 0);
	xlb_dsr_count(XLB_STAT_FWD_DSR);
	return bpf_redirect(nh->ifindex, 0);
no_route:
	xlb_dsr_count(XLB_STAT_DROP_DSR_NO_ROUTE);
	return XDP_DROP;
too_big:
	/* mtu: the way out's (L3); the client's packets may be 20 bytes less */
	if (df && mtu > 576 + XLB_DSR_HLEN &&
	    xlb_icmp_unreach_build(ctx, in->saddr, in->daddr, in->ihl * 4 + 8,
				   4 /* fragmentation needed and DF set */,
				   (__u16)(mtu - XLB_DSR_HLEN)) == XDP_TX) {
		xlb_dsr_count(XLB_STAT_ICMP_FRAG_SENT);
		return bpf_redirect(ctx->ingress_ifindex, 0);
	}
	xlb_dsr_count(XLB_STAT_DROP_DSR_TOO_BIG);
	return XDP_DROP;
}

#endif /* XLB_BPF_DSR_H */
