/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connection tracking: each flow has a forward entry (client -> service
 * address) and a reply entry (backend -> client) in one LRU map, so every
 * packet, either way, costs one lookup. TCP state is followed coarsely so
 * user space can expire closed flows sooner than idle ones, and a SYN that
 * reuses a closed flow's 5-tuple starts a new flow.
 */
#ifndef XLB_BPF_CT_H
#define XLB_BPF_CT_H

#include "maps.h"
#include "parse.h"
#include "clock.h"

#define XLB_AF_INET_KERNEL 2	/* AF_INET, without pulling in libc headers */

static __always_inline void xlb_ct_key_from_pkt(struct xlb_ct_key *k, const struct xlb_pkt *p)
{
	k->saddr.a32[0] = p->ip->saddr;
	k->daddr.a32[0] = p->ip->daddr;
	k->sport = p->sport;
	k->dport = p->dport;
	k->proto = p->proto;
	k->family = XLB_AF_INET;
}

/* The fields every entry of a new flow starts with, either direction. */
static __always_inline void xlb_ct_fill(struct xlb_ct_val *v, __u8 dir, __u32 svc_id,
					__u32 backend_id, __u32 backend_gen, __u32 now)
{
	v->dir = dir;
	v->state = XLB_CT_NEW;
	v->svc_id = svc_id;
	v->backend_id = backend_id;
	v->backend_gen = backend_gen;
	v->last_seen = now;
	v->created = now;
}

static __always_inline int xlb_is_syn(const struct xlb_pkt *p)
{
	return p->tcp && (p->tcp_flags & (XLB_TCP_SYN | XLB_TCP_ACK)) == XLB_TCP_SYN;
}

/* Follow one direction's TCP flags; write only what changed, so an
 * established flow dirties its entry at most once a second. */
static __always_inline void xlb_ct_touch(struct xlb_ct_val *ct, const struct xlb_pkt *p, __u32 now)
{
	__u8 st = ct->state;

	if (ct->last_seen != now)
		ct->last_seen = now;
	if (!p->tcp) {
		if (st != XLB_CT_ESTABLISHED && ct->dir == XLB_CT_REV)
			ct->state = XLB_CT_ESTABLISHED;
		return;
	}
	if (p->tcp_flags & XLB_TCP_RST)
		st = XLB_CT_CLOSED;
	else if (p->tcp_flags & XLB_TCP_FIN)
		st = XLB_CT_CLOSING;
	else if (st == XLB_CT_NEW && (p->tcp_flags & XLB_TCP_ACK) &&
		 !(p->tcp_flags & XLB_TCP_SYN))
		st = XLB_CT_ESTABLISHED;
	if (st != ct->state)
		ct->state = st;
}

/* Delete a reply entry keyed by this packet's reverse tuple, if any. */
static __always_inline void xlb_ct_drop_stale_reply(const struct xlb_pkt *p)
{
	struct xlb_ct_key rk = {};
	struct xlb_ct_val *v;

	rk.saddr.a32[0] = p->ip->daddr;
	rk.daddr.a32[0] = p->ip->saddr;
	rk.sport = p->dport;
	rk.dport = p->sport;
	rk.proto = p->proto;
	rk.family = XLB_AF_INET;
	v = bpf_map_lookup_elem(&ct_map, &rk);
	if (v && v->dir == XLB_CT_REV)
		bpf_map_delete_elem(&ct_map, &rk);
}

/* Route the rewritten packet towards daddr; on success remember the next
 * hop in the entry so established packets skip the FIB. */
static __always_inline int xlb_fib_fill(struct xdp_md *ctx, const struct xlb_pkt *p,
					__be32 daddr, struct xlb_ct_val *v)
{
	struct bpf_fib_lookup f = {};
	int rc;

	f.family = XLB_AF_INET_KERNEL;
	f.tos = p->ip->tos;
	f.l4_protocol = p->proto;
	f.tot_len = bpf_ntohs(p->ip->tot_len);
	f.ipv4_src = p->ip->saddr;
	f.ipv4_dst = daddr;
	f.ifindex = ctx->ingress_ifindex;
	rc = bpf_fib_lookup(ctx, &f, sizeof(f), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return -1;
	v->ifindex = f.ifindex;
	__builtin_memcpy(v->smac, f.smac, ETH_ALEN);
	__builtin_memcpy(v->dmac, f.dmac, ETH_ALEN);
	v->flags |= XLB_CT_F_FIB_CACHED;
	return 0;
}

#endif /* XLB_BPF_CT_H */
