/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * tc (cls_bpf) packet access: parsing into offsets and values, and address
 * rewriting through the kernel's skb helpers.
 *
 * Contract: xlb_skb_parse() reads Ethernet (untagged), IPv4 and the TCP or
 * UDP ports and flags; it returns enum xlb_skb_parse_rc and, on OK, fills
 * struct xlb_skb_pkt. Addresses and ports stay in network byte order.
 * Nothing is written. Offsets, not pointers, are kept: every helper that
 * writes invalidates packet pointers.
 *
 * Why the helpers and not RFC 1624 by hand: a pod with default offloads
 * sends CHECKSUM_PARTIAL (the L4 field holds only the pseudo-header sum,
 * GSO segments up to 64 KB), and only bpf_l4_csum_replace() sees
 * skb->ip_summed: with BPF_F_PSEUDO_HDR it updates a partial field for an
 * address change and leaves it alone for a port change (the port is in
 * the payload the device sums later).
 */
#ifndef XLB_BPF_SKB_H
#define XLB_BPF_SKB_H

#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

enum xlb_skb_parse_rc {
	XLB_SKB_OK = 0,
	XLB_SKB_NOT_OURS,	/* not IPv4 TCP/UDP, or truncated: pass it on */
	XLB_SKB_FRAGMENT,	/* IPv4 fragment: pass it on */
};

struct xlb_skb_pkt {
	__u32 l3_off;		/* IPv4 header */
	__u32 l4_off;		/* TCP/UDP header */
	__u32 csum_off;		/* L4 checksum field */
	__u32 len;		/* skb->len */
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 tcp_flags;
	__u8 udp_nocsum;	/* UDP without checksum (field 0) */
	__u8 pad;
};

#define XLB_SKB_TCP_FIN 0x01
#define XLB_SKB_TCP_SYN 0x02
#define XLB_SKB_TCP_RST 0x04
#define XLB_SKB_TCP_ACK 0x10

static __always_inline int xlb_skb_parse(struct __sk_buff *skb, struct xlb_skb_pkt *p)
{
	void *data, *data_end;
	struct ethhdr *eth;
	struct iphdr *ip;
	__u32 ihl, need;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return XLB_SKB_NOT_OURS;
	/* Headers in the linear part: IPv4 with options and TCP's first 20. */
	need = ETH_HLEN + 60 + sizeof(struct tcphdr);
	if (need > skb->len)
		need = skb->len;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (data + need > data_end) {
		if (bpf_skb_pull_data(skb, need))
			return XLB_SKB_NOT_OURS;
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
	}
	eth = data;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return XLB_SKB_NOT_OURS;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->version != 4 || ip->ihl < 5)
		return XLB_SKB_NOT_OURS;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return XLB_SKB_NOT_OURS;
	if (ip->frag_off & bpf_htons(0x3fff))
		return XLB_SKB_FRAGMENT;
	ihl = ip->ihl * 4;
	p->l3_off = ETH_HLEN;
	p->l4_off = ETH_HLEN + ihl;
	p->len = skb->len;
	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->proto = ip->protocol;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *th = (void *)ip + ihl;

		if ((void *)(th + 1) > data_end)
			return XLB_SKB_NOT_OURS;
		p->sport = th->source;
		p->dport = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
		p->csum_off = p->l4_off + offsetof(struct tcphdr, check);
	} else {
		struct udphdr *uh = (void *)ip + ihl;

		if ((void *)(uh + 1) > data_end)
			return XLB_SKB_NOT_OURS;
		p->sport = uh->source;
		p->dport = uh->dest;
		p->udp_nocsum = uh->check == 0;
		p->csum_off = p->l4_off + offsetof(struct udphdr, check);
	}
	return XLB_SKB_OK;
}

/* Rewrite the source (dst = 0) or destination address and port. 0 or -1. */
static __always_inline int xlb_skb_rewrite(struct __sk_buff *skb, struct xlb_skb_pkt *p, int dst,
					   __be32 addr, __be16 port)
{
	__u32 a_off = p->l3_off + (dst ? offsetof(struct iphdr, daddr) : offsetof(struct iphdr, saddr));
	__u32 p_off = p->l4_off + (dst ? 2 : 0);
	__be32 old_addr = dst ? p->daddr : p->saddr;
	__be16 old_port = dst ? p->dport : p->sport;
	__u64 l4f = p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;

	if (old_addr != addr) {
		if (!(p->proto == IPPROTO_UDP && p->udp_nocsum) &&
		    bpf_l4_csum_replace(skb, p->csum_off, old_addr, addr, l4f | BPF_F_PSEUDO_HDR | 4))
			return -1;
		if (bpf_l3_csum_replace(skb, p->l3_off + offsetof(struct iphdr, check), old_addr,
					addr, 4))
			return -1;
		if (bpf_skb_store_bytes(skb, a_off, &addr, 4, 0))
			return -1;
	}
	if (old_port != port) {
		if (!(p->proto == IPPROTO_UDP && p->udp_nocsum) &&
		    bpf_l4_csum_replace(skb, p->csum_off, old_port, port, l4f | 2))
			return -1;
		if (bpf_skb_store_bytes(skb, p_off, &port, 2, 0))
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

static __always_inline int xlb_skb_set_macs(struct __sk_buff *skb, const __u8 *src, const __u8 *dst)
{
	__u8 h[12];

	__builtin_memcpy(h, dst, ETH_ALEN);
	__builtin_memcpy(h + ETH_ALEN, src, ETH_ALEN);
	return bpf_skb_store_bytes(skb, 0, h, sizeof(h), 0);
}

#endif /* XLB_BPF_SKB_H */
