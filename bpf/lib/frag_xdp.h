/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Fragments and path MTU in XDP (lib/frag.h has the fragments' story).
 * The XDP program's stack and verifier budget are spent: each of these is
 * a global BPF function (verified once, on a frame of its own), called
 * only for fragments and for frames longer than standard Ethernet.
 *
 *   xlb_frag_first        a datagram's first fragment: keep its ports
 *   xlb_frag_later        a later fragment: find its flow, follow it
 *   xlb_mtu_over          a DF frame too big for the way out: that MTU
 *   xlb_icmp_frag_needed  turn the frame into ICMP fragmentation needed
 */
#ifndef XLB_BPF_FRAG_XDP_H
#define XLB_BPF_FRAG_XDP_H

#include "frag.h"
#include "maps.h"
#include "clock.h"
#include "ct.h"
#include "select.h"
#include "snat.h"
#include "respond.h"
#include "dsr.h"

/* xlb_frag_later's keys, off its stack (a global function's frame and
 * the XDP program's must fit 512 bytes together). Not pinned. */
struct xlb_frag_scratch {
	struct xlb_ct4_key k;
	struct xlb_snat4_key ft;
	struct xlb_sel_client cl;
	struct xlb_frag4_key fk;
	__u32 dsr_id;		/* XLB_FRAG_DSR: the backend, */
	__be32 dsr_saddr;	/* and the outer source (0: the SNAT address) */
};

/* xlb_frag_later's answer for a DSR flow's fragment: the caller sends it
 * with xlb_dsr_xmit (xlb_frag_dsr), whose frame would not fit on top of
 * both functions' (512 bytes in all). Not an XDP verdict. */
#define XLB_FRAG_DSR	0x100

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_frag_scratch);
} frag_scratch SEC(".maps");

/* The IPv4 header at l3_off (at most two VLAN tags in), or NULL. */
static __always_inline struct iphdr *xlb_frag_ip(struct xdp_md *ctx, __u32 l3_off)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct iphdr *ip;

	if (l3_off > ETH_HLEN + 4 * XLB_CTX_MAX_VLAN)
		return NULL;
	ip = data + l3_off;
	if ((void *)(ip + 1) > end)
		return NULL;
	return ip;
}

__noinline int xlb_frag_first(struct xdp_md *ctx, __u32 l3_off, __u32 sport, __u32 dport)
{
	struct iphdr *ip = xlb_frag_ip(ctx, l3_off);
	struct xlb_frag4_key k = {};
	struct xlb_stats *st;
	__u32 zero = 0, early;

	if (!ip)
		return 0;
	xlb_frag_key(&k, ip->saddr, ip->daddr, ip->id, ip->protocol, XLB_FRAG_HOOK_XDP);
	xlb_frag_keep(&k, (__be16)sport, (__be16)dport, xlb_now(), &early);
	st = bpf_map_lookup_elem(&stats, &zero);
	if (early && st)
		st->v[XLB_STAT_FRAG_BEFORE_FIRST] += early;
	return 0;
}

/*
 * A later fragment (an offset, no ports): with its datagram's ports, the
 * flow it belongs to, as xlb_run finds it: a reply (through the SNAT
 * mapping, then conntrack or the first-packet table), or a client's
 * packet (conntrack, or the first-packet table under the backend the
 * service's table gives, which is where its first fragment went). Its
 * addresses become the flow's, and it leaves the same way; a DSR flow's
 * is left to the caller to encapsulate (XLB_FRAG_DSR). A fragment of a
 * service's datagram whose flow has no state (its first fragment was
 * dropped or answered) is dropped; anything else goes to the stack
 * untouched. Counts one outcome (but XLB_FRAG_DSR's), and frag_follow
 * when a flow was found.
 */
__noinline int xlb_frag_later(struct xdp_md *ctx, __u32 l3_off)
{
	struct xlb_frag_scratch *s;
	struct xlb_ct4_key *k;
	struct xlb_stats *st;
	struct iphdr *ip;
	struct xlb_snat4_val *sv;
	struct xlb_ct4_val *ct;
	struct xlb_ct_syn_val *e;
	struct xlb_backend *b = NULL;
	struct xlb_nexthop *nh;
	const __u8 *smac, *dmac;
	__u32 zero = 0, now = xlb_now(), ifindex, id, gen, len, mtu = 0;
	void *data;
	__be32 saddr, daddr;
	__be16 sport, dport;
	int snat = 0;

	st = bpf_map_lookup_elem(&stats, &zero);
	s = bpf_map_lookup_elem(&frag_scratch, &zero);
	if (!st || !s)
		return XDP_PASS;
	k = &s->k;
	ip = xlb_frag_ip(ctx, l3_off);
	if (!ip)
		goto pass;
	__builtin_memset(&s->fk, 0, sizeof(s->fk));
	xlb_frag_key(&s->fk, ip->saddr, ip->daddr, ip->id, ip->protocol, XLB_FRAG_HOOK_XDP);
	/* the protocol is read from s->fk from here on, the DSR source from
	 * s->dsr_saddr: this frame must stay within 128 bytes (6.1 rounds
	 * each frame up to 32, and xlb_xdp's takes 384 of the 512) */
	s->dsr_id = 0;
	s->dsr_saddr = 0;
	if (xlb_frag_ports(&s->fk, &sport, &dport,
			   s->fk.proto == IPPROTO_UDP || s->fk.proto == IPPROTO_TCP, now))
		goto pass;
	saddr = ip->saddr;
	daddr = ip->daddr;
	__builtin_memset(k, 0, sizeof(*k));
	xlb_ct4_key_set(k, saddr, daddr, sport, dport, s->fk.proto);
	if (xlb_snat_port_in_range(dport)) {
		sv = bpf_map_lookup_elem(&snat4_rev, (struct xlb_snat4_key *)k);
		if (sv) {
			daddr = k->daddr = sv->addr;
			k->dport = sv->port;
			snat = 1;
		}
	}
	ct = bpf_map_lookup_elem(&ct4, k);
	if (ct && ct->dir == XLB_CT_REV) {
		saddr = ct->rev.nat_addr;
		ifindex = ct->rev.ifindex;
		smac = ct->rev.smac;
		dmac = ct->rev.dmac;
		goto out;
	}
	if (ct) {
		id = ct->backend_id;
		gen = ct->fwd.backend_gen;
		snat = ct->fwd.flags & XLB_CT_F_SNAT;
		/* a DSR flow's from the SNAT address, as xlb_est_fwd */
		s->dsr_id = ct->fwd.flags & XLB_CT_F_DSR;
		goto fwd;
	}
	e = bpf_map_lookup_elem(&ct_syn, k);
	if (e) {
		saddr = e->nat_addr;
		ifindex = e->ifindex;
		smac = e->smac;
		dmac = e->dmac;
		goto out;
	}
	if (snat)
		goto drop;	/* a reply to an SNAT port whose flow is gone */
	{
		struct xlb_svc_val *svc = xlb_svc_find(daddr, dport, s->fk.proto);

		if (!svc)
			goto pass;
		xlb_sel_client_v4(&s->cl, k);
		id = xlb_select(svc, &s->cl, now, &b);
		if (!id || !b)
			goto drop;
		gen = b->gen;
		xlb_ct4_key_set(k, b->addr.a32[0], saddr, b->port, sport, s->fk.proto);
		e = bpf_map_lookup_elem(&ct_syn, k);
		if (!e || e->backend_id != id || e->backend_gen != gen)
			goto drop;
		snat = e->flags & XLB_CT_F_SNAT;
		s->dsr_id = e->flags & XLB_CT_F_DSR;
		/* a node port's flow from the address it came to */
		if (svc->flags & XLB_SVC_F_NODEPORT)
			s->dsr_saddr = daddr;
	}
fwd:
	b = xlb_backend_get(id);
	if (!b || b->gen != gen || b->state == XLB_BE_FREE)
		goto drop;
	if (s->dsr_id) {
		/* A DSR flow's fragment goes as its first went, whole inside
		 * IPIP: the caller sends it (xlb_frag_dsr), which counts. */
		s->dsr_id = id;
		st->v[XLB_STAT_FRAG_FOLLOW]++;
		return XLB_FRAG_DSR;
	}
	daddr = b->addr.a32[0];
	if (snat) {
		struct xlb_snat4_key *ft = &s->ft;

		__builtin_memset(ft, 0, sizeof(*ft));
		ft->saddr = saddr;
		ft->daddr = daddr;
		ft->sport = sport;
		ft->dport = b->port;
		ft->proto = s->fk.proto;
		sv = bpf_map_lookup_elem(&snat4_fwd, ft);
		if (!sv)
			goto drop;
		saddr = sv->addr;
	}
	st->v[XLB_STAT_FRAG_FOLLOW]++;
	xlb_frag_rewrite(ip, saddr, daddr);
	if (b->flags & XLB_BE_F_LOCAL)
		goto stack;	/* tc on the NIC delivers it into its pod */
	nh = bpf_map_lookup_elem(&be_nh, &id);
	if (!nh || !nh->ifindex || nh->gen != gen)
		goto stack;
	ifindex = nh->ifindex;
	smac = nh->smac;
	dmac = nh->dmac;
	mtu = nh->mtu;
	goto send;
out:
	st->v[XLB_STAT_FRAG_FOLLOW]++;
	xlb_frag_rewrite(ip, saddr, daddr);
send:
	/* As xlb_xmit: what a redirect may not deliver goes to the stack,
	 * measured towards a backend against the MTU cached with its next
	 * hop (mtu), towards a client against its interface's. */
	len = bpf_xdp_get_buff_len(ctx);
	data = (void *)(long)ctx->data;
	if (l3_off != ETH_HLEN || len > (__u32)((void *)(long)ctx->data_end - data) ||
	    (mtu ? len > ETH_HLEN + mtu :
		   len > ETH_HLEN + 1500 && bpf_check_mtu(ctx, ifindex, &mtu, 0, 0)))
		goto stack;
	if (data + ETH_HLEN > (void *)(long)ctx->data_end)
		goto drop;	/* cannot be: the IPv4 header follows */
	xlb_eth_set(data, smac, dmac);
	st->v[ifindex == ctx->ingress_ifindex ? XLB_STAT_FWD_BACK : XLB_STAT_FWD_REDIRECT]++;
	return bpf_redirect(ifindex, 0);
stack:
	/* never a source-NATed packet: the node's own address, a martian */
	if (snat)
		goto drop;
pass:
	st->v[XLB_STAT_PASS_FRAGMENT]++;
	return XDP_PASS;
drop:
	st->v[XLB_STAT_DROP_FRAGMENT]++;
	return XDP_DROP;
}

/* A later fragment of a DSR flow (xlb_frag_later said XLB_FRAG_DSR, its
 * IPv4 header at l3_off): into IPIP to its backend, as its first fragment
 * went (the same checks as xlb_to_backend's). */
static __always_inline int xlb_frag_dsr(struct xdp_md *ctx, __u32 l3_off)
{
	__u32 zero = 0;
	struct xlb_frag_scratch *s = bpf_map_lookup_elem(&frag_scratch, &zero);

	if (!s || l3_off != ETH_HLEN) {
		xlb_dsr_count(XLB_STAT_DROP_DSR_NO_ROUTE);
		return XDP_DROP;
	}
	if (bpf_xdp_get_buff_len(ctx) > ctx->data_end - ctx->data) {
		xlb_dsr_count(XLB_STAT_DROP_DSR_TOO_BIG);
		return XDP_DROP;
	}
	return xlb_dsr_xmit(ctx, s->dsr_saddr, s->dsr_id);
}

/*
 * Path MTU (RFC 1191): mtu (the way out's, cached with its next hop) when
 * the IPv4 datagram at l3_off has DF set and is longer, else 0. A
 * multi-buffer frame is measured whole (its IPv4 length).
 */
__noinline int xlb_mtu_over(struct xdp_md *ctx, __u32 l3_off, __u32 mtu)
{
	struct iphdr *ip = xlb_frag_ip(ctx, l3_off);

	if (!ip || !(ip->frag_off & bpf_htons(XLB_IP_DF)) || bpf_ntohs(ip->tot_len) <= mtu)
		return 0;
	return mtu;
}

/* One address and port of a quoted-to-be header back as the client sent
 * it; the UDP checksum (l4c, NULL for none or TCP's, which the quote does
 * not hold) follows. */
static __always_inline void xlb_unxlate(struct iphdr *ip, __be32 *pa, __be16 *pp, __sum16 *l4c,
					__be32 addr, __be16 port)
{
	xlb_csum_replace4(&ip->check, *pa, addr);
	if (l4c) {
		xlb_csum_replace4(l4c, *pa, addr);
		xlb_csum_replace2(l4c, *pp, port);
		if (!*l4c)
			*l4c = 0xffff;
	}
	*pa = addr;
	*pp = port;
}

/*
 * A client's frame, translated on its way to a backend (untagged, no IPv4
 * options), too big for the way out with DF set: turn it into ICMP
 * fragmentation needed (type 3 code 4, RFC 1191: the next hop's MTU in
 * bytes 6-7) back to the client, from the address the client sent it to,
 * quoting its header as the client sent it (the flow's state says how: the
 * SNAT mapping, then the flow's reply entry), as a router's forwarding
 * does: the client's socket then sends smaller. XDP_TX ("send back"),
 * XDP_PASS when nothing was touched (no state, or not such a frame), or
 * XDP_DROP when the answer could not be written (the frame is the
 * client's no more).
 */
__noinline int xlb_icmp_frag_needed(struct xdp_md *ctx, __u32 mtu)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + ETH_HLEN;
	struct xlb_ct4_key k = {};
	struct xlb_snat4_val *sv;
	struct xlb_ct4_val *ct;
	struct xlb_ct_syn_val *e;
	struct udphdr *uh;
	__sum16 *l4c = NULL;
	__be32 naddr;
	__be16 nport;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5)
		return XDP_PASS;
	uh = (void *)(ip + 1);	/* the ports: the same place in TCP */
	if ((void *)(uh + 1) > data_end)
		return XDP_PASS;
	if (ip->protocol == IPPROTO_UDP && uh->check)
		l4c = &uh->check;
	/* The flow's reply tuple: backend -> client, through the SNAT
	 * mapping when the client's address and port were replaced. */
	xlb_ct4_key_set(&k, ip->daddr, ip->saddr, uh->dest, uh->source, ip->protocol);
	sv = xlb_snat_port_in_range(k.dport) ?
	     bpf_map_lookup_elem(&snat4_rev, (struct xlb_snat4_key *)&k) : NULL;
	if (sv) {
		k.daddr = sv->addr;
		k.dport = sv->port;
	}
	ct = bpf_map_lookup_elem(&ct4, &k);
	if (ct && ct->dir == XLB_CT_REV) {
		naddr = ct->rev.nat_addr;
		nport = ct->rev.nat_port;
	} else {
		e = bpf_map_lookup_elem(&ct_syn, &k);
		if (!e)
			return XDP_PASS;
		naddr = e->nat_addr;
		nport = e->nat_port;
	}
	xlb_unxlate(ip, &ip->saddr, &uh->source, l4c, k.daddr, k.dport);
	xlb_unxlate(ip, &ip->daddr, &uh->dest, l4c, naddr, nport);
	return xlb_icmp_unreach_build(ctx, k.daddr, naddr, sizeof(struct iphdr) + 8,
				      4 /* fragmentation needed and DF set */, (__u16)mtu) == XDP_TX ?
	       XDP_TX : XDP_DROP;
}

#endif /* XLB_BPF_FRAG_XDP_H */
