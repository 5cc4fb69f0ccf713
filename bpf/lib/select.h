/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Service lookup and backend selection. O(1): one slot read, never a loop
 * over backends.
 *
 * A flow's choice is a function of the flow and the service's table: the
 * slot is a hash of the client address (sh, and services with ClientIP
 * affinity, so a client's flows go together) or of the 5-tuple (rr, wrr),
 * modulo the table size. A retransmitted first packet, and any packet of
 * a flow that lost its conntrack state, therefore finds the same backend
 * as long as the table has not changed; an affinity entry, once the
 * client has an established flow, overrides it.
 *
 * Independent of the hook: the caller says who the client is (struct
 * xlb_sel_client: a packet's source address and its flow's hash, or at the
 * socket the client's network namespace and a hash stable per socket), so
 * XDP, tc and the socket programs choose by the same rules.
 */
#ifndef XLB_BPF_SELECT_H
#define XLB_BPF_SELECT_H

#include <xlb/hash.h>
#include "maps.h"

/* Who asks. sh and ClientIP affinity go by addr; rr and wrr by flow_hash. */
struct xlb_sel_client {
	struct xlb_addr addr;	/* source address, or a netns cookie in a32[0..1] */
	__u8 family;		/* XLB_AF_INET; XLB_AF_NONE: addr holds a netns cookie */
	__u8 pad[3];
	__u32 flow_hash;	/* the flow's hash (XDP: xlb_hash_flow4 of its 5-tuple);
				 * a socket: any value stable for the socket */
};

/* The client of an IPv4 packet of flow f (client -> service address). */
static __always_inline void xlb_sel_client_v4(struct xlb_sel_client *c,
					      const struct xlb_ct4_key *f)
{
	__builtin_memset(c, 0, sizeof(*c));
	c->addr.a32[0] = f->saddr;
	c->family = XLB_AF_INET;
	c->flow_hash = xlb_hash_flow4(f->saddr, f->daddr, f->sport, f->dport, f->proto);
}

static __always_inline struct xlb_backend *xlb_backend_get(__u32 id)
{
	return bpf_map_lookup_elem(&backend_map, &id);
}

/* The service at daddr:dport/proto: its own address, or a node address at
 * a node port (looked up only when the port is one). */
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
	if (svc || !(port_flags(dport) & XLB_PORT_F_NODEPORT))
		return svc;
	nk.addr.a32[0] = daddr;
	nk.family = XLB_AF_INET;
	if (!bpf_map_lookup_elem(&node_addrs, &nk))
		return NULL;
	sk.addr.a32[0] = 0;
	return bpf_map_lookup_elem(&svc_map, &sk);
}

static __always_inline __u32 xlb_slot_hash(const struct xlb_svc_val *svc,
					   const struct xlb_sel_client *c)
{
	if (svc->algo == XLB_ALGO_SH || (svc->flags & XLB_SVC_F_AFFINITY))
		return xlb_hash_addr(c->addr.a32, XLB_SH_SEED);
	return c->flow_hash;
}

/* The backend in slot hash of the table [base, base + slots): its id (0 =
 * none) and entry. The table alone says who takes new flows: a backend it
 * holds is chosen even when already marked terminating, because user space
 * writes that state before it switches the service to the table without
 * it (make-before-break). Only a freed id is refused. */
static __always_inline __u32 xlb_table_pick(__u32 base, __u32 slots, __u32 hash,
					    struct xlb_backend **bp)
{
	struct xlb_backend *b;
	__u32 idx, *id;

	if (!slots)
		return 0;
	idx = base + hash % slots;
	id = bpf_map_lookup_elem(&sel_map, &idx);
	if (!id || !*id)
		return 0;
	b = xlb_backend_get(*id);
	if (!b || b->state == XLB_BE_FREE)
		return 0;
	*bp = b;
	return *id;
}

/* The flow's backend: the client's affinity entry when it has a live one,
 * else the table. Returns the id (0 = none) and the entry in *bp. Reads
 * only: a flood of first packets writes nothing here. */
static __always_inline __u32 xlb_select(const struct xlb_svc_val *svc,
					const struct xlb_sel_client *c, __u32 now,
					struct xlb_backend **bp)
{
	if (svc->flags & XLB_SVC_F_AFFINITY) {
		struct xlb_aff_key ak = {};
		struct xlb_aff_val *av;
		struct xlb_backend *b;

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
	return xlb_table_pick(svc->sel_base, svc->slots, xlb_slot_hash(svc, c), bp);
}

/* The choice the previous table of the service's key gives (svc_prev):
 * for a flow whose first packet came before the last update. An external
 * key (node port, LoadBalancer or external IP) has its own previous table. */
static __always_inline __u32 xlb_select_prev(const struct xlb_svc_val *svc,
					     const struct xlb_sel_client *c, struct xlb_backend **bp)
{
	struct xlb_svc_prev *r = bpf_map_lookup_elem(&svc_prev, &svc->id);
	const struct xlb_sel_range *t;

	if (!r)
		return 0;
	t = (svc->flags & XLB_SVC_F_EXTERNAL) ? &r->ext : &r->cluster;
	if (!t->slots)
		return 0;
	return xlb_table_pick(t->base, t->slots, xlb_slot_hash(svc, c), bp);
}

/* A client proved itself (its flow is established): remember its backend
 * for the service's affinity. */
static __always_inline void xlb_aff_set(__u32 svc_id, const struct xlb_sel_client *c, __u32 id,
					__u32 gen, __u32 now)
{
	struct xlb_aff_key ak = {};
	struct xlb_aff_val av = {};

	ak.client = c->addr;
	ak.svc_id = svc_id;
	ak.family = c->family;
	av.backend_id = id;
	av.backend_gen = gen;
	av.last_used = now;
	bpf_map_update_elem(&aff_map, &ak, &av, BPF_ANY);
}

#endif /* XLB_BPF_SELECT_H */
