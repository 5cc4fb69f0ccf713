/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A parsed packet, as the parser (parse.h) leaves it for every program
 * type: where its headers are (pointers and offsets), and its addresses,
 * ports and flags as values. Addresses and ports stay in network order.
 *
 * The values are what the library reads and what the rewrite (nat.h)
 * keeps up to date. The pointers serve XDP, which writes through them; in
 * tc every helper that changes the packet (store, checksum replace, pull)
 * invalidates them, and the verifier refuses a later use, so tc code reads
 * the values and goes through the offsets.
 */
#ifndef XLB_BPF_PKT_H
#define XLB_BPF_PKT_H

#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>

enum xlb_parse_rc {
	XLB_PARSE_OK = 0,
	XLB_PARSE_NOT_IP,	/* not IPv4: pass */
	XLB_PARSE_NOT_L4,	/* IPv4 but neither TCP nor UDP: pass */
	XLB_PARSE_FRAGMENT,	/* a later IPv4 fragment (no ports), or a first one not of UDP */
	XLB_PARSE_MALFORMED,	/* truncated or inconsistent: see xlb_pkt.have_ports */
};

struct xlb_pkt {
	struct ethhdr *eth;
	struct iphdr *ip;
	struct tcphdr *tcp;	/* set for TCP; non-zero tells TCP from UDP even
				 * after a tc write made it stale */
	__be16 *l4_ports;	/* source, destination port (same place in TCP and UDP) */
	__sum16 *l4_csum;	/* TCP or UDP checksum field */
	__u32 len;		/* packet length, fragments of a multi-buffer frame included */
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u16 l4_len;		/* IPv4 payload length (host order) */
	__u8 l3_off;		/* bytes before the IPv4 header: ETH_HLEN unless VLAN-tagged */
	__u8 l4_off;		/* bytes before the TCP or UDP header */
	__u8 proto;
	__u8 tcp_flags;		/* byte 13 of the TCP header */
	__u8 csum_partial;	/* XDP's guess: the L4 checksum holds only the pseudo-header sum */
	__u8 have_ports;	/* daddr, proto, sport and dport are valid (also when malformed);
				 * XLB_PORTS_FROM_FIRST: a later fragment's (lib/frag.h) */
};

/* A later fragment's ports, from its datagram's first fragment: it has no
 * L4 header, and a rewrite changes its addresses only. */
#define XLB_PORTS_FROM_FIRST 2
/* XDP keeps it on the stack, which is tight: every byte counts. */
_Static_assert(sizeof(struct xlb_pkt) == 64, "xlb_pkt size");

/* Ethernet addresses through a pointer (XDP, and answers built in place). */
static __always_inline void xlb_eth_set(struct ethhdr *eth, const __u8 *src, const __u8 *dst)
{
	__builtin_memcpy(eth->h_source, src, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, dst, ETH_ALEN);
}

#define XLB_TCP_FIN 0x01
#define XLB_TCP_SYN 0x02
#define XLB_TCP_RST 0x04
#define XLB_TCP_ACK 0x10

#endif /* XLB_BPF_PKT_H */
