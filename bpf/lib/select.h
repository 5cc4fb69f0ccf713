/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Backend selection for a new flow: ClientIP affinity first, then the
 * service's algorithm over its selection table. O(1): one slot read,
 * never a loop over backends.
 *
 * Independent of the hook: the caller says who the client is (a packet's
 * source address, or at the socket the client's network namespace), so
 * XDP, tc and the socket programs choose by the same rules.
 */
#ifndef XLB_BPF_SELECT_H
#define XLB_BPF_SELECT_H

#include <xlb/hash.h>
#include "maps.h"

/* Who asks. sh hashes client, ClientIP affinity is keyed by it. */
struct xlb_sel_client {
	struct xlb_addr addr;	/* source address, or a netns cookie in a32[0..1] */
	__u8 family;		/* XLB_AF_INET; XLB_AF_NONE: addr holds a netns cookie */
	__u8 pad[3];
	__u32 rr_hint;		/* rr/wrr: 0 = next slot of this CPU's sequence;
				 * else slot rr_hint % slots (stable per socket) */
};

static __always_inline void xlb_sel_client_v4(struct xlb_sel_client *c, __be32 saddr)
{
	__builtin_memset(c, 0, sizeof(*c));
	c->addr.a32[0] = saddr;
	c->family = XLB_AF_INET;
}

static __always_inline struct xlb_backend *xlb_backend_get(__u32 id)
{
	return bpf_map_lookup_elem(&backend_map, &id);
}

/* The service at daddr:dport/proto: its own address, or a node address
 * at a node port. */
static __always_inline struct xlb_svc_val *xlb_svc_find(__be32 daddr, __be16 dport, __u8 proto)
{
	struct xlb_svc_key sk = {};
	struct xlb_node_addr_key nk = {};
	struct xlb_svc_val *svc;

	sk.addr.a32[0] = daddr;
	sk.port = dport;
	sk.proto = proto;
	sk.family = XLB_AF_INET;
	svc = bpf_map_lookup_elem(&svc_map, &sk);
	if (svc)
		return svc;
	nk.addr.a32[0] = daddr;
	nk.family = XLB_AF_INET;
	if (!bpf_map_lookup_elem(&node_addrs, &nk))
		return NULL;
	sk.addr.a32[0] = 0;
	return bpf_map_lookup_elem(&svc_map, &sk);
}

/* Returns the backend id (0 = none) and its entry in *bp. */
static __always_inline __u32 xlb_select(const struct xlb_svc_val *svc,
					const struct xlb_sel_client *c, __u32 now,
					struct xlb_backend **bp)
{
	struct xlb_aff_key ak = {};
	struct xlb_aff_val *av, nav = {};
	struct xlb_backend *b;
	__u32 slot, idx, *id, *pos;

	if (!svc->slots)
		return 0;

	if (svc->flags & XLB_SVC_F_AFFINITY) {
		ak.client = c->addr;
		ak.svc_id = svc->id;
		ak.family = c->family;
		av = bpf_map_lookup_elem(&aff_map, &ak);
		if (av && now - av->last_used <= svc->aff_timeout) {
			b = xlb_backend_get(av->backend_id);
			if (b && b->gen == av->backend_gen && b->state == XLB_BE_ACTIVE) {
				if (av->last_used != now)
					av->last_used = now;
				*bp = b;
				return av->backend_id;
			}
		}
	}

	if (svc->algo == XLB_ALGO_SH) {
		slot = xlb_hash_addr(c->addr.a32, XLB_SH_SEED) % svc->slots;
	} else if (c->rr_hint) {
		slot = c->rr_hint % svc->slots;
	} else {
		pos = bpf_map_lookup_elem(&rr_state, &svc->id);
		if (!pos)
			return 0;
		slot = *pos;
		if (slot >= svc->slots)
			slot = 0;
		*pos = slot + 1;
	}

	idx = svc->sel_base + slot;
	id = bpf_map_lookup_elem(&sel_map, &idx);
	if (!id || !*id)
		return 0;
	/* The table says who takes new flows: a backend it holds is chosen
	 * even when already marked terminating, because user space writes
	 * that state before it switches the service to the table without it
	 * (make-before-break). Only a freed id is refused. */
	b = xlb_backend_get(*id);
	if (!b || b->state == XLB_BE_FREE)
		return 0;

	if (svc->flags & XLB_SVC_F_AFFINITY) {
		nav.backend_id = *id;
		nav.backend_gen = b->gen;
		nav.last_used = now;
		bpf_map_update_elem(&aff_map, &ak, &nav, BPF_ANY);
	}
	*bp = b;
	return *id;
}

#endif /* XLB_BPF_SELECT_H */
