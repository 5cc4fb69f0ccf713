/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connection tracking (include/xlb/abi.h has the maps' story): a flow's
 * first packet records its choice in ct_syn, keyed by the reply tuple;
 * the flow enters ct4, the established table, only once it has proved
 * itself. Entries are touched at most once a second on the hot path.
 *
 * The flow is a struct xlb_ct4_key and the packet a parsed struct xlb_pkt,
 * so tc on a pod veth follows XDP's flows with the same code; the next-hop
 * cache (xlb_nexthop) is XDP's.
 */
#ifndef XLB_BPF_CT_H
#define XLB_BPF_CT_H

#include "maps.h"
#include "parse.h"
#include "clock.h"

static __always_inline void xlb_ct4_key_set(struct xlb_ct4_key *k, __be32 saddr, __be32 daddr,
					    __be16 sport, __be16 dport, __u8 proto)
{
	k->saddr = saddr;
	k->daddr = daddr;
	k->sport = sport;
	k->dport = dport;
	k->proto = proto;
}

static __always_inline int xlb_is_syn(const struct xlb_pkt *p)
{
	return p->tcp && (p->tcp_flags & (XLB_TCP_SYN | XLB_TCP_ACK)) == XLB_TCP_SYN;
}

static __always_inline int xlb_is_synack(const struct xlb_pkt *p)
{
	return p->tcp && (p->tcp_flags & (XLB_TCP_SYN | XLB_TCP_ACK)) == (XLB_TCP_SYN | XLB_TCP_ACK);
}

/* Follow one direction of an established flow: write only what changed,
 * so an entry is dirtied at most once a second. Returns true when the
 * second changed (the caller's cue for once-a-second work). */
static __always_inline int xlb_ct4_touch(struct xlb_ct4_val *ct, const struct xlb_pkt *p,
					  __u32 now)
{
	int tick = ct->last_seen != now;
	__u8 st = ct->state;

	if (tick)
		ct->last_seen = now;
	if (p->tcp) {
		if (p->tcp_flags & XLB_TCP_RST)
			st = XLB_CT_CLOSED;
		else if ((p->tcp_flags & XLB_TCP_FIN) && st < XLB_CT_CLOSING)
			st = XLB_CT_CLOSING;
	}
	if (st != ct->state)
		ct->state = st;
	return tick;
}

/* A backend's reply to a flow not established yet (e: its ct_syn entry),
 * before any write to the packet: what the client must acknowledge to
 * prove the flow, the SYN-ACK's sequence number + 1 (data after it does
 * not move that), or for a flow that lost its state, the first reply's
 * sequence number; for UDP, that a reply went. Written only when it
 * changes. */
static __always_inline void xlb_ct_syn_seen_reply(struct xlb_ct_syn_val *e, const struct xlb_pkt *p)
{
	if (p->tcp && !(p->tcp_flags & XLB_TCP_RST)) {
		__u32 seq = bpf_ntohl(p->tcp->seq);
		int syn = p->tcp_flags & XLB_TCP_SYN;

		if (syn)
			seq++;
		if (!(e->flags & XLB_CT_F_SEEN_REPLY) || (syn && e->seq != seq)) {
			e->seq = seq;
			e->flags |= XLB_CT_F_SEEN_REPLY;
		}
	} else if (!p->tcp && !(e->flags & XLB_CT_F_SEEN_REPLY)) {	/* UDP */
		e->flags |= XLB_CT_F_SEEN_REPLY;
	}
}

/* Both entries of an established flow from what its first packet chose
 * (e), the forward key fk (client -> service address) and the reply key
 * rk (backend -> client); a DSR flow's forward entry only, since its
 * replies never come this way (an entry for them would only be memory a
 * flood can take). 0 or -1. */
static __always_inline int xlb_ct4_insert(const struct xlb_ct4_key *fk,
					  const struct xlb_ct4_key *rk,
					  const struct xlb_ct_syn_val *e, __u32 now)
{
	struct xlb_ct4_val fwd = {}, rev = {};

	fwd.dir = XLB_CT_FWD;
	fwd.state = XLB_CT_ESTABLISHED;
	fwd.last_seen = now;
	fwd.svc_id = e->svc_id;
	fwd.backend_id = e->backend_id;
	fwd.fwd.backend_gen = e->backend_gen;
	fwd.fwd.created = e->created;
	fwd.fwd.flags = e->flags & (XLB_CT_F_SNAT | XLB_CT_F_DSR);

	rev.dir = XLB_CT_REV;
	rev.state = XLB_CT_ESTABLISHED;
	rev.last_seen = now;
	rev.svc_id = e->svc_id;
	rev.backend_id = e->backend_id;
	rev.rev.nat_addr = e->nat_addr;
	rev.rev.nat_port = e->nat_port;
	rev.rev.ifindex = e->ifindex;
	__builtin_memcpy(rev.rev.smac, e->smac, ETH_ALEN);
	__builtin_memcpy(rev.rev.dmac, e->dmac, ETH_ALEN);

	if ((!(e->flags & XLB_CT_F_DSR) && bpf_map_update_elem(&ct4, rk, &rev, BPF_ANY)) ||
	    bpf_map_update_elem(&ct4, fk, &fwd, BPF_ANY))
		return -1;
	return 0;
}

/* A client packet of an established flow: is its reply entry still there?
 * (an LRU may drop one entry of a pair). If not, write it again from what
 * this packet says: the address it was sent to, where it came in, its
 * Ethernet addresses. Called once a second per flow; 1 if it wrote one. */
static __always_inline int xlb_ct4_rev_check(const struct xlb_ct4_key *fk,
					      const struct xlb_ct4_val *fwd,
					      const struct xlb_backend *b,
					      const struct xlb_pkt *p, __u32 ifindex, __u32 now)
{
	struct xlb_ct4_key rk = {};
	struct xlb_ct4_val rev = {};

	xlb_ct4_key_set(&rk, b->addr.a32[0], fk->saddr, b->port, fk->sport, fk->proto);
	if (bpf_map_lookup_elem(&ct4, &rk))
		return 0;
	rev.dir = XLB_CT_REV;
	rev.state = fwd->state;
	rev.last_seen = now;
	rev.svc_id = fwd->svc_id;
	rev.backend_id = fwd->backend_id;
	rev.rev.nat_addr = fk->daddr;
	rev.rev.nat_port = fk->dport;
	rev.rev.ifindex = ifindex;
	__builtin_memcpy(rev.rev.smac, p->eth->h_dest, ETH_ALEN);
	__builtin_memcpy(rev.rev.dmac, p->eth->h_source, ETH_ALEN);
	return !bpf_map_update_elem(&ct4, &rk, &rev, BPF_NOEXIST);
}

/* Delete an established flow's two entries (its backend is gone, or the
 * 5-tuple is reused after a close). */
static __always_inline void xlb_ct4_delete(const struct xlb_ct4_key *fk, const struct xlb_backend *b)
{
	struct xlb_ct4_key rk = {};

	bpf_map_delete_elem(&ct4, fk);
	if (b) {
		xlb_ct4_key_set(&rk, b->addr.a32[0], fk->saddr, b->port, fk->sport, fk->proto);
		bpf_map_delete_elem(&ct4, &rk);
	}
}

/* Delete a reply entry keyed by this packet's reverse tuple, if any: a new
 * direct connection owns its 5-tuple. */
static __always_inline void xlb_ct_drop_stale_reply(const struct xlb_pkt *p)
{
	struct xlb_ct4_key rk = {};
	struct xlb_ct4_val *v;

	xlb_ct4_key_set(&rk, p->daddr, p->saddr, p->dport, p->sport, p->proto);
	v = bpf_map_lookup_elem(&ct4, &rk);
	if (v && v->dir == XLB_CT_REV)
		bpf_map_delete_elem(&ct4, &rk);
	bpf_map_delete_elem(&ct_syn, &rk);
}

#define XLB_AF_INET_KERNEL 2	/* AF_INET, without pulling in libc headers */

/* The next hop towards backend id for a packet from saddr (its IPv4
 * header ip, protocol proto), from the per-backend cache; on a miss, a
 * stale entry or a reassigned id, one bpf_fib_lookup (in f, zeroed)
 * refills it, the way out's MTU included (what the kernel's FIB says: the
 * interface's, a locked route MTU, a learned path MTU), so that a frame's
 * size is checked with one comparison. NULL: no route or neighbour yet
 * (the stack forwards the packet). */
static __always_inline const struct xlb_nexthop *
xlb_nexthop4(struct xdp_md *ctx, struct bpf_fib_lookup *fp, const struct iphdr *ip, __u8 proto,
	     __be32 saddr, __u32 id, const struct xlb_backend *b, __u32 now)
{
	struct xlb_nexthop *nh = bpf_map_lookup_elem(&be_nh, &id);
	struct bpf_fib_lookup *f = fp;

	if (!nh)
		return NULL;
	if (nh->ifindex && nh->gen == b->gen && now - nh->stamp < XLB_NH_TTL)
		return nh;
	f->family = XLB_AF_INET_KERNEL;
	f->tos = ip->tos;
	f->l4_protocol = proto;
	/* tot_len 0: no MTU check here. A big first frame would fail the
	 * lookup (FRAG_NEEDED) and leave the next hop unknown for every frame;
	 * each frame's size is checked where it is sent (xlb_xmit). A lookup
	 * that succeeds still gives the MTU in mtu_result (XDP, 5.12+). */
	f->tot_len = 0;
	f->ipv4_src = saddr;
	f->ipv4_dst = b->addr.a32[0];
	f->ifindex = ctx->ingress_ifindex;
	if (bpf_fib_lookup(ctx, f, sizeof(*f), 0) != BPF_FIB_LKUP_RET_SUCCESS || !f->mtu_result)
		return NULL;
	__builtin_memcpy(nh->smac, f->smac, ETH_ALEN);
	__builtin_memcpy(nh->dmac, f->dmac, ETH_ALEN);
	nh->mtu = f->mtu_result;
	nh->gen = b->gen;
	nh->stamp = now;
	nh->ifindex = f->ifindex;
	return nh;
}

static __always_inline const struct xlb_nexthop *
xlb_nexthop(struct xdp_md *ctx, const struct xlb_pkt *p, __u32 id, const struct xlb_backend *b,
	    __u32 now)
{
	struct bpf_fib_lookup f = {};

	return xlb_nexthop4(ctx, &f, p->ip, p->proto, p->saddr, id, b, now);
}

#endif /* XLB_BPF_CT_H */
