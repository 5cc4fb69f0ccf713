/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parser, one for XDP and tc (the entry file chose lib/ctx/xdp.h
 * or lib/ctx/skb.h).
 *
 * Contract: xlb_parse() walks Ethernet (XDP: up to two 802.1Q/802.1ad
 * tags; tc: none, they are in skb->vlan_tci), IPv4 (with options) and the
 * TCP or UDP header, checking every access against data_end (headers are
 * in the first buffer: tc pulls them in; the payload may continue in
 * fragments). It returns one of enum xlb_parse_rc and, on XLB_PARSE_OK,
 * fills struct xlb_pkt (pkt.h): pointers into the packet, offsets, and
 * addresses, ports and flags as values in network byte order. On
 * XLB_PARSE_MALFORMED, have_ports says whether daddr, proto and the ports
 * could still be read. Nothing is written.
 */
#ifndef XLB_BPF_PARSE_H
#define XLB_BPF_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef XLB_BPF_CTX_H
#error "the entry file includes lib/ctx/xdp.h or lib/ctx/skb.h before the library"
#endif
#include "pkt.h"
#include "csum.h"
#include "maps.h"

struct vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* The largest IPv4 payload, in XLB_SUM_CHUNK pieces. */
#define XLB_SUM_MAX_CHUNKS ((65535 + XLB_SUM_CHUNK - 1) / XLB_SUM_CHUNK)

/* Does the whole L4 segment, with the pseudo-header, sum to 0xffff (a
 * valid full checksum)? Read in 512-byte pieces (bpf_csum_diff's limit)
 * through a per-CPU scratch buffer, fragments of a multi-buffer frame
 * included, so any IPv4 payload length is checked. 1: yes, 0: no, -1: the
 * segment could not be read. */
static __always_inline int xlb_l4_csum_valid(struct xlb_ctx *ctx, __u32 off, __u16 len,
					     __u64 pseudo)
{
	struct xlb_scratch *buf;
	__u32 zero = 0, i;
	__u64 sum = pseudo;

	buf = bpf_map_lookup_elem(&scratch, &zero);
	if (!buf)
		return -1;
	for (i = 0; i < XLB_SUM_MAX_CHUNKS; i++) {
		__u32 done = i * XLB_SUM_CHUNK, chunk, size;
		__s64 s;

		if (done >= len)
			break;
		chunk = len - done;
		if (chunk > XLB_SUM_CHUNK)
			chunk = XLB_SUM_CHUNK;
		/* 1..512, in a form whose bounds the verifier sees. */
		chunk = ((chunk - 1) & (XLB_SUM_CHUNK - 1)) + 1;
		size = ((chunk - 1) | 3) + 1;	/* rounded up to words: 4..512 */
		/* Zeros after the piece add nothing (RFC 1071 pads odd ends):
		 * clear the last word the load may only partly overwrite. */
		buf->w[((size - 4) & (XLB_SUM_CHUNK - 4)) / 4] = 0;
		if (ctx_load_bytes(ctx, off + done, buf, chunk))
			return -1;
		s = bpf_csum_diff(0, 0, (__be32 *)buf, size, 0);
		if (s < 0)
			return -1;
		sum += (__u32)s;
	}
	return xlb_csum_fold(sum) == 0xffff;
}

static __always_inline int xlb_parse(struct xlb_ctx *ctx, struct xlb_pkt *p)
{
	void *data, *data_end, *cur;
	struct ethhdr *eth;
	struct iphdr *ip;
	__be16 *ports;
	__u16 proto, tot_len, ihl_len;
	int i, vlan = 0;

	/* tc: the headers into the linear part (IPv4 with options, TCP's 20) */
	if (!ctx_maybe_ipv4(ctx) || ctx_pull(ctx, ETH_HLEN + 60 + sizeof(struct tcphdr)))
		return XLB_PARSE_NOT_IP;
	data = ctx_data(ctx);
	data_end = ctx_data_end(ctx);
	eth = data;
	p->len = ctx_len(ctx);	/* XDP: the whole frame unless it has fragments */
	if ((void *)(eth + 1) > data_end)
		return XLB_PARSE_NOT_IP;	/* runt frame: not ours to judge */
	p->eth = eth;
	proto = eth->h_proto;
	cur = eth + 1;

#pragma unroll
	for (i = 0; i < XLB_CTX_MAX_VLAN; i++) {
		struct vlan_hdr *vh = cur;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > data_end)
			return XLB_PARSE_MALFORMED;
		proto = vh->encap_proto;
		cur = vh + 1;
		vlan++;
	}
	if (proto != bpf_htons(ETH_P_IP))
		return XLB_PARSE_NOT_IP;

	ip = cur;
	if ((void *)(ip + 1) > data_end)
		return XLB_PARSE_MALFORMED;
	if (ip->version != 4 || ip->ihl < 5)
		return XLB_PARSE_MALFORMED;
	p->ip = ip;
	p->l3_off = ETH_HLEN + 4 * vlan;
	p->proto = ip->protocol;
	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	ihl_len = ip->ihl * 4;
	p->l4_off = p->l3_off + ihl_len;
	cur = (void *)ip + ihl_len;

	/* Whom it is for, even if the rest is broken: a malformed packet to
	 * a service is dropped, one to anybody else is the stack's business. */
	ports = cur;
	if ((ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) &&
	    (void *)(ports + 2) <= data_end) {
		p->sport = ports[0];
		p->dport = ports[1];
		p->have_ports = 1;
	}

	tot_len = bpf_ntohs(ip->tot_len);
	/* Kernels before ~6.3 lose the bounds of a byte-swapped value and
	 * then refuse pointer arithmetic with it: restate them. */
	asm volatile("%0 &= 0xffff" : "+r"(tot_len));
	/* A multi-buffer frame carries the datagram's end in fragments: only
	 * then is its whole length asked for (a helper call). */
	if (p->l3_off + tot_len > p->len)
		p->len = ctx_full_len(ctx);
	if (tot_len < ihl_len || p->l3_off + tot_len > p->len)
		return XLB_PARSE_MALFORMED;
	p->l4_len = tot_len - ihl_len;
	if (ip->frag_off & bpf_htons(0x1fff)) {	/* an offset */
		p->have_ports = 0;	/* a later fragment has no ports */
		return XLB_PARSE_FRAGMENT;
	}
	/* A UDP datagram's or TCP segment's first fragment goes the usual
	 * way (lib/frag.h: it holds the whole TCP header, or it is
	 * malformed); other protocols' fragments are not followed. */
	if ((ip->frag_off & bpf_htons(0x2000)) && ip->protocol != IPPROTO_UDP &&
	    ip->protocol != IPPROTO_TCP) {
		p->have_ports = 0;
		return XLB_PARSE_FRAGMENT;
	}

	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *th = cur;

		if ((void *)(th + 1) > data_end || p->l4_len < sizeof(*th))
			return XLB_PARSE_MALFORMED;
		if (th->doff < 5 || th->doff * 4 > p->l4_len)
			return XLB_PARSE_MALFORMED;
		p->tcp = th;
		p->tcp_flags = ((__u8 *)th)[13];
		p->l4_ports = (__be16 *)th;
		p->l4_csum = &th->check;
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *uh = cur;

		if ((void *)(uh + 1) > data_end || p->l4_len < sizeof(*uh))
			return XLB_PARSE_MALFORMED;
		p->l4_ports = (__be16 *)uh;
		p->l4_csum = &uh->check;
	} else {
		return XLB_PARSE_NOT_L4;
	}

	/* Linux hands locally sent frames to a veth with CHECKSUM_PARTIAL: the
	 * field then holds the folded pseudo-header sum, and the stack adds the
	 * payload later. XDP cannot see it (tc's helpers can): recognise it
	 * so a rewrite updates it the same way. A full checksum equals that
	 * sum by chance once in 65,536 packets: when it does, a segment that
	 * sums right is a full checksum. A fragment's is never partial (the
	 * stack completes it before it fragments), nor can it be summed whole
	 * here. */
	if (XLB_CTX_GUESS_PARTIAL && *p->l4_csum && !(ip->frag_off & bpf_htons(0x2000))) {
		__u64 ps = xlb_pseudo_sum(ip->saddr, ip->daddr, ip->protocol, p->l4_len);

		if (*p->l4_csum == xlb_csum_fold(ps))
			p->csum_partial = xlb_l4_csum_valid(ctx, p->l4_off, p->l4_len, ps) != 1;
	}
	return XLB_PARSE_OK;
}

#endif /* XLB_BPF_PARSE_H */
