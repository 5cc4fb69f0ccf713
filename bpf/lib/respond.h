/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Answers the datapath makes in place of forwarding: a TCP reset for a
 * flow it cannot serve, an ICMP port unreachable for a UDP datagram to a
 * service without backends. The headers are built by xlb_ip4_answer_hdr
 * and xlb_tcp_rst_hdrs, for XDP and tc (lib/pod.h's resets); in XDP each
 * answer turns the packet into it and returns XDP_TX ("send it back") or
 * XDP_DROP (it could not be reshaped); the caller sends and counts.
 */
#ifndef XLB_BPF_RESPOND_H
#define XLB_BPF_RESPOND_H

#include "parse.h"
#include "nat.h"

/* Fill a fresh IPv4 header without options from saddr to daddr, with
 * its checksum: the header of every answer the datapath makes. */
static __always_inline void xlb_ip4_answer_hdr(struct iphdr *ip, __be32 saddr, __be32 daddr,
					       __u8 proto, __u16 tot_len, __u8 tos, __be16 frag)
{
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = tos;
	ip->tot_len = bpf_htons(tot_len);
	ip->id = 0;
	ip->frag_off = frag;
	ip->ttl = 64;
	ip->protocol = proto;
	ip->saddr = saddr;
	ip->daddr = daddr;
	ip->check = 0;
	ip->check = xlb_csum_words((const __u16 *)ip, sizeof(*ip) / 2, 0);
}

/* The sequence space a TCP segment p takes: its payload (doff: its data
 * offset, in words), and one each for SYN and FIN. */
static __always_inline __u32 xlb_tcp_seg_len(const struct xlb_pkt *p, __u8 doff)
{
	__u32 n = p->l4_len - doff * 4;

	if (p->tcp_flags & XLB_TCP_SYN)
		n++;
	if (p->tcp_flags & XLB_TCP_FIN)
		n++;
	return n;
}

/*
 * The headers of a TCP reset answering a segment from saddr:sport to
 * daddr:dport (RFC 9293 §3.10.7.1): if it has ACK (flags), the reset
 * carries seq = its ack number; otherwise seq = 0 and ACK with ack = its
 * seq + seg_len (xlb_tcp_seg_len). It comes from the address and port the
 * segment was sent to, so it matches the sender's socket. For XDP and tc
 * alike; the caller read the segment's fields before reshaping it.
 */
static __always_inline void xlb_tcp_rst_hdrs(struct iphdr *ip, struct tcphdr *th, __be32 saddr,
					     __be32 daddr, __be16 sport, __be16 dport, __u8 flags,
					     __be32 seq, __be32 ack_seq, __u32 seg_len)
{
	xlb_ip4_answer_hdr(ip, daddr, saddr, IPPROTO_TCP,
			   sizeof(struct iphdr) + sizeof(struct tcphdr), 0, bpf_htons(0x4000) /* DF */);
	__builtin_memset(th, 0, sizeof(*th));
	th->source = dport;
	th->dest = sport;
	th->doff = 5;
	th->rst = 1;
	if (flags & XLB_TCP_ACK) {
		th->seq = ack_seq;
	} else {
		th->ack = 1;
		th->ack_seq = bpf_htonl(bpf_ntohl(seq) + seg_len);
	}
	th->check = xlb_csum_words((const __u16 *)th, sizeof(*th) / 2,
				   xlb_pseudo_sum(ip->saddr, ip->daddr, IPPROTO_TCP, sizeof(*th)));
}

/*
 * Turn the packet into a TCP reset to its sender (xlb_tcp_rst_hdrs), IPv4
 * options and payload cut. Returns XDP_TX, or XDP_DROP when the packet
 * cannot be reshaped (or is a reset itself: never answered).
 */
static __always_inline int xlb_tcp_reset(struct xdp_md *ctx, struct xlb_pkt *p)
{
	struct tcphdr *th = p->tcp;
	struct iphdr *ip = p->ip;
	__u8 smac[ETH_ALEN], dmac[ETH_ALEN];
	__be32 saddr = ip->saddr, daddr = ip->daddr;
	__be16 sport = th->source, dport = th->dest;
	__be32 seq = th->seq, ack_seq = th->ack_seq;
	__u32 seg_len = xlb_tcp_seg_len(p, th->doff);
	__u8 flags = p->tcp_flags;
	__u32 l3_off = p->l3_off, new_len;
	void *data, *data_end;
	struct ethhdr *eth;

	if (flags & XLB_TCP_RST)
		return XDP_DROP;	/* never answer a reset with a reset */
	__builtin_memcpy(smac, p->eth->h_source, ETH_ALEN);
	__builtin_memcpy(dmac, p->eth->h_dest, ETH_ALEN);

	if (l3_off > ETH_HLEN + 4 * XLB_CTX_MAX_VLAN)
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

	xlb_eth_set(eth, dmac, smac);
	xlb_tcp_rst_hdrs(ip, th, saddr, daddr, sport, dport, flags, seq, ack_seq, seg_len);
	return XDP_TX;
}

#define XLB_ICMP_HLEN 8

/*
 * Turn the frame, an untagged IPv4 datagram from saddr to daddr, into an
 * ICMP destination unreachable (code; for code 4 the next hop's MTU, RFC
 * 1191) back to its sender, from daddr, quoting inner bytes of it: its
 * IPv4 header and the first 8 bytes of its payload (RFC 792, RFC 1812
 * §4.3.2.3). Returns XDP_TX (meaning "send back") or XDP_DROP.
 */
static __always_inline int xlb_icmp_unreach_build(struct xdp_md *ctx, __be32 saddr, __be32 daddr,
						  __u32 inner, __u8 code, __u16 mtu)
{
	__u32 new_len;
	void *data, *data_end;
	struct ethhdr *eth, *old;
	struct iphdr *ip;
	__u8 *icmp;
	__s64 sum;

	/* Room for a new IP and ICMP header in front of the original IP
	 * header, which then sits exactly where ICMP wants its copy. */
	if (bpf_xdp_adjust_head(ctx, -(int)(sizeof(struct iphdr) + XLB_ICMP_HLEN)))
		return XDP_DROP;
	new_len = ETH_HLEN + sizeof(struct iphdr) + XLB_ICMP_HLEN + inner;
	if (bpf_xdp_adjust_tail(ctx, (int)new_len - (int)bpf_xdp_get_buff_len(ctx)))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	ip = data + ETH_HLEN;
	icmp = (__u8 *)(ip + 1);
	if ((void *)(icmp + XLB_ICMP_HLEN) > data_end)
		return XDP_DROP;

	/* The frame's Ethernet header now lies right before its IPv4 header,
	 * where the new IPv4 and ICMP headers go: its addresses, swapped,
	 * first. */
	old = (void *)(icmp + XLB_ICMP_HLEN) - sizeof(*old);
	__builtin_memcpy(eth->h_source, old->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, old->h_source, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);

	/* tos: internetwork control, as Linux sends ICMP errors */
	xlb_ip4_answer_hdr(ip, daddr, saddr, IPPROTO_ICMP,
			   (__u16)(sizeof(struct iphdr) + XLB_ICMP_HLEN + inner), 0xc0, 0);

	icmp[0] = 3;		/* destination unreachable */
	icmp[1] = code;
	*(__u16 *)&icmp[2] = 0;
	*(__be32 *)&icmp[4] = bpf_htonl(mtu);	/* unused (0), or the MTU in bytes 6-7 */
	/* Checksum over the ICMP header and the quoted bytes (28..68): copied
	 * into a zeroed buffer of the largest size (the per-CPU scratch, off
	 * the stack), so the sum runs over a constant length (zeros add
	 * nothing). */
	{
		const __u32 size = XLB_ICMP_HLEN + 68, zero = 0;
		struct xlb_scratch *buf = bpf_map_lookup_elem(&scratch, &zero);
		__u32 len = XLB_ICMP_HLEN + inner, i;

		if (!buf || len < XLB_ICMP_HLEN + 28 || len > size)
			return XDP_DROP;
#pragma unroll
		for (i = 0; i < size / 4; i++)
			buf->w[i] = 0;
		if (bpf_xdp_load_bytes(ctx, ETH_HLEN + sizeof(struct iphdr), buf, len))
			return XDP_DROP;
		sum = bpf_csum_diff(0, 0, (__be32 *)buf, size, 0);
		if (sum < 0)
			return XDP_DROP;
	}
	*(__u16 *)&icmp[2] = ~xlb_csum_fold((__u64)(__u32)sum);
	return XDP_TX;
}

/*
 * Turn a UDP datagram into an ICMP port unreachable to its sender, from
 * the address the sender used, so its socket sees ECONNREFUSED rather than
 * silence. Untagged frames only. XDP_TX or XDP_DROP.
 */
static __always_inline int xlb_icmp_unreach(struct xdp_md *ctx, struct xlb_pkt *p)
{
	if (p->l3_off != ETH_HLEN)	/* VLAN-tagged */
		return XDP_DROP;
	return xlb_icmp_unreach_build(ctx, p->saddr, p->daddr, p->ip->ihl * 4 + 8,
				      3 /* port unreachable */, 0);
}

#endif /* XLB_BPF_RESPOND_H */
