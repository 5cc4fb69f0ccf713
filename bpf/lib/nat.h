/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Address rewriting with incremental checksum updates, and the TCP reset
 * the datapath answers for a flow it can no longer serve.
 */
#ifndef XLB_BPF_NAT_H
#define XLB_BPF_NAT_H

#include "parse.h"

/* Rewrite one address (daddr when dst, else saddr) and its port. The IPv4
 * header checksum covers only the address; the L4 checksum covers both,
 * except under CHECKSUM_PARTIAL where the stack adds the ports later. A
 * zero UDP checksum means "none" and stays zero. */
static __always_inline void xlb_rewrite(struct xlb_pkt *p, int dst, __be32 addr, __be16 port)
{
	struct iphdr *ip = p->ip;
	__be32 old_addr = dst ? ip->daddr : ip->saddr;
	__be16 old_port = dst ? p->dport : p->sport;
	__sum16 *l4 = p->l4_csum;

	xlb_csum_replace4(&ip->check, old_addr, addr);
	if (p->udp && *l4 == 0) {
		/* no UDP checksum */
	} else if (p->csum_partial) {
		xlb_csum_partial_replace4(l4, old_addr, addr);
	} else {
		xlb_csum_replace4(l4, old_addr, addr);
		xlb_csum_replace2(l4, old_port, port);
		if (p->udp && *l4 == 0)
			*l4 = 0xffff;	/* RFC 768: computed zero is sent as all ones */
	}
	if (dst) {
		ip->daddr = addr;
		p->l4_ports[1] = port;
		p->dport = port;
	} else {
		ip->saddr = addr;
		p->l4_ports[0] = port;
		p->sport = port;
	}
}

static __always_inline void xlb_set_macs(struct ethhdr *eth, const __u8 *src, const __u8 *dst)
{
	__builtin_memcpy(eth->h_source, src, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, dst, ETH_ALEN);
}

/*
 * Turn the packet into a TCP reset to its sender (RFC 9293 §3.10.7.1):
 * if the offending segment has ACK, the reset carries seq = its ack number;
 * otherwise seq = 0 and ACK with ack = seq + segment length. The reply
 * comes from the address and port the sender used, so it matches the
 * sender's socket. IPv4 options and payload are cut. Returns XDP_TX, or
 * XDP_DROP when the packet cannot be reshaped.
 */
static __always_inline int xlb_tcp_reset(struct xdp_md *ctx, struct xlb_pkt *p)
{
	struct tcphdr *th = p->tcp;
	struct iphdr *ip = p->ip;
	__u8 smac[ETH_ALEN], dmac[ETH_ALEN];
	__be32 saddr = ip->saddr, daddr = ip->daddr;
	__be16 sport = th->source, dport = th->dest;
	__u32 seq = bpf_ntohl(th->seq), ack_seq = th->ack_seq;
	__u32 seg_len = p->l4_len - th->doff * 4;
	int has_ack = p->tcp_flags & XLB_TCP_ACK;
	__u32 l3_off = p->l3_off, new_len;
	void *data, *data_end;
	struct ethhdr *eth;

	if (p->tcp_flags & XLB_TCP_RST)
		return XDP_DROP;	/* never answer a reset with a reset */
	if (p->tcp_flags & XLB_TCP_SYN)
		seg_len++;
	if (p->tcp_flags & XLB_TCP_FIN)
		seg_len++;
	__builtin_memcpy(smac, p->eth->h_source, ETH_ALEN);
	__builtin_memcpy(dmac, p->eth->h_dest, ETH_ALEN);

	if (l3_off > ETH_HLEN + 4 * XLB_MAX_VLAN)
		return XDP_DROP;
	new_len = l3_off + sizeof(struct iphdr) + sizeof(struct tcphdr);
	if (bpf_xdp_adjust_tail(ctx, (int)new_len - (int)p->len))
		return XDP_DROP;

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	ip = data + l3_off;
	if ((void *)(ip + 1) > data_end)
		return XDP_DROP;
	th = (void *)(ip + 1);
	if ((void *)(th + 1) > data_end)
		return XDP_DROP;

	xlb_set_macs(eth, dmac, smac);

	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0;
	ip->tot_len = bpf_htons(sizeof(struct iphdr) + sizeof(struct tcphdr));
	ip->id = 0;
	ip->frag_off = bpf_htons(0x4000);	/* DF */
	ip->ttl = 64;
	ip->protocol = IPPROTO_TCP;
	ip->saddr = daddr;
	ip->daddr = saddr;
	ip->check = 0;
	ip->check = xlb_csum_words((const __u16 *)ip, sizeof(*ip) / 2, 0);

	__builtin_memset(th, 0, sizeof(*th));
	th->source = dport;
	th->dest = sport;
	th->doff = 5;
	th->rst = 1;
	if (has_ack) {
		th->seq = ack_seq;
	} else {
		th->ack = 1;
		th->ack_seq = bpf_htonl(seq + seg_len);
	}
	th->check = xlb_csum_words((const __u16 *)th, sizeof(*th) / 2,
				   (__u64)ip->saddr + ip->daddr +
				   bpf_htons((__u16)IPPROTO_TCP) +
				   bpf_htons((__u16)sizeof(*th)));
	return XDP_TX;
}

#define XLB_ICMP_HLEN 8

/*
 * Turn a UDP datagram into an ICMP port unreachable to its sender (RFC 792,
 * RFC 1812 §4.3.2.3: the offending IP header and the first 8 bytes of its
 * payload), from the address the sender used, so its socket sees
 * ECONNREFUSED rather than silence. Untagged frames only. Returns XDP_TX
 * (meaning "send back") or XDP_DROP.
 */
static __always_inline int xlb_icmp_unreach(struct xdp_md *ctx, struct xlb_pkt *p)
{
	__u8 smac[ETH_ALEN], dmac[ETH_ALEN];
	__be32 saddr = p->ip->saddr, daddr = p->ip->daddr;
	__u32 inner = p->ip->ihl * 4 + 8, new_len;
	void *data, *data_end;
	struct ethhdr *eth;
	struct iphdr *ip;
	__u8 *icmp;
	__s64 sum;

	if (p->vlan || p->l3_off != ETH_HLEN)
		return XDP_DROP;
	__builtin_memcpy(smac, p->eth->h_source, ETH_ALEN);
	__builtin_memcpy(dmac, p->eth->h_dest, ETH_ALEN);

	/* Room for a new IP and ICMP header in front of the original IP
	 * header, which then sits exactly where ICMP wants its copy. */
	if (bpf_xdp_adjust_head(ctx, -(int)(sizeof(struct iphdr) + XLB_ICMP_HLEN)))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	new_len = ETH_HLEN + sizeof(struct iphdr) + XLB_ICMP_HLEN + inner;
	if (bpf_xdp_adjust_tail(ctx, (int)new_len - (int)(data_end - data)))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	ip = data + ETH_HLEN;
	icmp = (__u8 *)(ip + 1);
	if ((void *)(icmp + XLB_ICMP_HLEN) > data_end)
		return XDP_DROP;

	__builtin_memcpy(eth->h_source, dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, smac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);

	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0xc0;		/* internetwork control, as Linux sends ICMP errors */
	ip->tot_len = bpf_htons((__u16)(sizeof(struct iphdr) + XLB_ICMP_HLEN + inner));
	ip->id = 0;
	ip->frag_off = 0;
	ip->ttl = 64;
	ip->protocol = IPPROTO_ICMP;
	ip->saddr = daddr;
	ip->daddr = saddr;
	ip->check = 0;
	ip->check = xlb_csum_words((const __u16 *)ip, sizeof(*ip) / 2, 0);

	icmp[0] = 3;		/* destination unreachable */
	icmp[1] = 3;		/* port unreachable */
	*(__u16 *)&icmp[2] = 0;
	*(__u32 *)&icmp[4] = 0;
	/* Checksum over the ICMP header and the quoted bytes (28..68): copied
	 * into a zeroed buffer of the largest size, so the sum runs over a
	 * constant length (zeros add nothing). */
	{
		__u32 buf[(XLB_ICMP_HLEN + 68) / 4] = {};
		__u32 len = XLB_ICMP_HLEN + inner;

		if (len < XLB_ICMP_HLEN + 28 || len > sizeof(buf))
			return XDP_DROP;
		if (bpf_xdp_load_bytes(ctx, ETH_HLEN + sizeof(struct iphdr), buf, len))
			return XDP_DROP;
		sum = bpf_csum_diff(0, 0, buf, sizeof(buf), 0);
		if (sum < 0)
			return XDP_DROP;
	}
	*(__u16 *)&icmp[2] = ~xlb_csum_fold((__u64)(__u32)sum);
	return XDP_TX;
}

#endif /* XLB_BPF_NAT_H */
