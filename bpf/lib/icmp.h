/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ICMP errors about a translated flow, translated like the flow they quote
 * (RFC 5508 §7 asks it of a NAT), so that path-MTU discovery (fragmentation
 * needed), unreachables and time exceeded work through a node port, a
 * service address and source NAT:
 *
 * - about a packet the node sent to a backend (quoted: client or node
 *   address:port -> backend): for the client, as the flow's replies go
 *   (the quoted source back to the client, its destination back to the
 *   address the client used; the error's destination the client when it
 *   was the node's SNAT address), sent out where the client's packets came
 *   in;
 * - about a reply the node sent to a client (quoted: service or node
 *   address:port -> client): for the backend (the quoted source the
 *   backend, its destination the node's SNAT address and port when the
 *   flow has one; the error's destination the backend), through the
 *   backend's cached next hop, else the stack.
 *
 * Only the quoted IPv4 header without options and TCP or UDP ports are
 * read; the quoted L4 checksum is updated when the quote holds it. The
 * error's own checksum follows every word changed. Anything else: -1, not
 * ours. Its own BPF function: its stack is not the packet path's.
 */
#ifndef XLB_BPF_ICMP_H
#define XLB_BPF_ICMP_H

#include "maps.h"
#include "csum.h"
#include "nat.h"
#include "snat.h"
#include "clock.h"

/* RFC 792's header (linux/icmp.h would pull in libc's). */
struct xlb_icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 rest;		/* unused, or the next-hop MTU */
};

#define XLB_ICMP_DEST_UNREACH	3
#define XLB_ICMP_TIME_EXCEEDED	11

/* One end of the quoted packet (dst: its destination) to addr:port. */
static __always_inline void xlb_icmp_quote_rewrite(struct xlb_icmphdr *ic, struct iphdr *in,
						   __be16 *ports, __sum16 *l4c, int dst,
						   __be32 addr, __be16 port)
{
	__be32 *pa = dst ? &in->daddr : &in->saddr;
	__be16 *pp = dst ? &ports[1] : &ports[0];
	__be32 oa = *pa;
	__be16 op = *pp;
	__sum16 oc = in->check;

	xlb_csum_replace4(&in->check, oa, addr);
	xlb_csum_replace4(&ic->checksum, oa, addr);
	xlb_csum_replace2(&ic->checksum, oc, in->check);
	if (l4c) {
		__sum16 o4 = *l4c;

		xlb_csum_replace4(l4c, oa, addr);
		xlb_csum_replace2(l4c, op, port);
		xlb_csum_replace2(&ic->checksum, o4, *l4c);
	}
	xlb_csum_replace2(&ic->checksum, op, port);
	*pa = addr;
	*pp = port;
}

static __noinline int xlb_icmp_error(struct xdp_md *ctx, __u32 l3_off, struct xlb_stats *st)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct xlb_ct4_key k = {};
	struct iphdr *ip, *in;
	struct xlb_icmphdr *ic;
	struct ethhdr *eth = data;
	__be16 *ports;
	__sum16 *l4c = NULL;
	struct xlb_snat4_val *sv;
	struct xlb_ct4_val *ct;
	__u32 ifindex, ihl;
	__be32 nat_addr;
	__be16 nat_port;
	__u8 *smac, *dmac;

	if (l3_off != sizeof(*eth))
		return -1;	/* VLAN-tagged: not here */
	ip = data + sizeof(*eth);
	if ((void *)(ip + 1) > end)
		return -1;
	ihl = ip->ihl * 4;
	if (ihl != sizeof(*ip))
		return -1;
	ic = (void *)(ip + 1);
	in = (void *)(ic + 1);
	if ((void *)(in + 1) > end)
		return -1;
	if (ic->type != XLB_ICMP_DEST_UNREACH && ic->type != XLB_ICMP_TIME_EXCEEDED)
		return -1;
	if (in->version != 4 || in->ihl != 5 ||
	    (in->protocol != IPPROTO_TCP && in->protocol != IPPROTO_UDP))
		return -1;
	ports = (void *)(in + 1);
	if ((void *)(ports + 2) > end)
		return -1;
	if (in->protocol == IPPROTO_TCP) {
		struct tcphdr *th = (void *)ports;

		if ((void *)(th + 1) <= end)
			l4c = &th->check;
	} else {
		struct udphdr *uh = (void *)ports;

		if ((void *)(uh + 1) <= end && uh->check)
			l4c = &uh->check;
	}

	/* About a packet to a backend: the reply tuple of the quoted packet,
	 * through the SNAT mapping first. */
	k.saddr = in->daddr;
	k.daddr = in->saddr;
	k.sport = ports[1];
	k.dport = ports[0];
	k.proto = in->protocol;
	sv = NULL;
	if (xlb_snat_port_in_range(k.dport)) {
		sv = bpf_map_lookup_elem(&snat4_rev, (struct xlb_snat4_key *)&k);
		if (sv) {
			k.daddr = sv->addr;
			k.dport = sv->port;
		}
	}
	ct = bpf_map_lookup_elem(&ct4, &k);
	if (ct && ct->dir == XLB_CT_REV) {
		nat_addr = ct->rev.nat_addr;
		nat_port = ct->rev.nat_port;
		ifindex = ct->rev.ifindex;
		smac = ct->rev.smac;
		dmac = ct->rev.dmac;
	} else {
		struct xlb_ct_syn_val *e = bpf_map_lookup_elem(&ct_syn, &k);

		if (!e)
			goto to_backend;
		nat_addr = e->nat_addr;
		nat_port = e->nat_port;
		ifindex = e->ifindex;
		smac = e->smac;
		dmac = e->dmac;
	}
	if (sv) {
		xlb_csum_replace4(&ip->check, ip->daddr, k.daddr);
		ip->daddr = k.daddr;
		xlb_icmp_quote_rewrite(ic, in, ports, l4c, 0, k.daddr, k.dport);
	}
	xlb_icmp_quote_rewrite(ic, in, ports, l4c, 1, nat_addr, nat_port);
	xlb_eth_set(eth, smac, dmac);
	st->v[XLB_STAT_ICMP_XLATE]++;
	st->v[ifindex == ctx->ingress_ifindex ? XLB_STAT_FWD_BACK : XLB_STAT_FWD_REDIRECT]++;
	return bpf_redirect(ifindex, 0);

to_backend:
	/* About a reply to a client: the flow's forward entry. */
	{
		struct xlb_snat4_key ft = {};
		struct xlb_backend *b;
		struct xlb_nexthop *nh;
		__u32 id;

		k.saddr = in->daddr;
		k.daddr = in->saddr;
		k.sport = ports[1];
		k.dport = ports[0];
		ct = bpf_map_lookup_elem(&ct4, &k);
		if (!ct || ct->dir != XLB_CT_FWD)
			return -1;
		id = ct->backend_id;
		b = bpf_map_lookup_elem(&backend_map, &id);
		if (!b || b->gen != ct->fwd.backend_gen || b->state == XLB_BE_FREE)
			return -1;
		sv = NULL;
		if (ct->fwd.flags & XLB_CT_F_SNAT) {
			ft.saddr = k.saddr;
			ft.daddr = b->addr.a32[0];
			ft.sport = k.sport;
			ft.dport = b->port;
			ft.proto = k.proto;
			sv = bpf_map_lookup_elem(&snat4_fwd, &ft);
			if (!sv)
				return -1;
			xlb_icmp_quote_rewrite(ic, in, ports, l4c, 1, sv->addr, sv->port);
		}
		xlb_csum_replace4(&ip->check, ip->daddr, b->addr.a32[0]);
		ip->daddr = b->addr.a32[0];
		xlb_icmp_quote_rewrite(ic, in, ports, l4c, 0, b->addr.a32[0], b->port);
		st->v[XLB_STAT_ICMP_XLATE]++;
		nh = bpf_map_lookup_elem(&be_nh, &id);
		if ((b->flags & XLB_BE_F_LOCAL) || !nh || !nh->ifindex || nh->gen != b->gen) {
			st->v[(b->flags & XLB_BE_F_LOCAL) ? XLB_STAT_PASS_LOCAL :
							    XLB_STAT_PASS_NO_ROUTE]++;
			return XDP_PASS;
		}
		xlb_eth_set(eth, nh->smac, nh->dmac);
		st->v[nh->ifindex == ctx->ingress_ifindex ? XLB_STAT_FWD_BACK :
							    XLB_STAT_FWD_REDIRECT]++;
		return bpf_redirect(nh->ifindex, 0);
	}
}

#endif /* XLB_BPF_ICMP_H */
