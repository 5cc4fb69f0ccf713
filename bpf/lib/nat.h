/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Address rewriting with incremental checksum updates (RFC 1624).
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

#endif /* XLB_BPF_NAT_H */
