/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Backend selection for a new flow: ClientIP affinity first, then the
 * service's algorithm over its selection table. O(1): one slot read,
 * never a loop over backends.
 */
#ifndef XLB_BPF_SELECT_H
#define XLB_BPF_SELECT_H

#include <xlb/hash.h>
#include "maps.h"
#include "parse.h"

static __always_inline struct xlb_backend *xlb_backend_get(__u32 id)
{
	return bpf_map_lookup_elem(&backend_map, &id);
}

/* Returns the backend id (0 = none) and its entry in *bp. */
static __always_inline __u32 xlb_select(const struct xlb_svc_val *svc, const struct xlb_pkt *p,
					__u32 now, struct xlb_backend **bp)
{
	struct xlb_aff_key ak = {};
	struct xlb_aff_val *av, nav = {};
	struct xlb_backend *b;
	__u32 slot, idx, *id, *pos;

	if (!svc->slots)
		return 0;

	if (svc->flags & XLB_SVC_F_AFFINITY) {
		ak.client.a32[0] = p->ip->saddr;
		ak.svc_id = svc->id;
		ak.family = XLB_AF_INET;
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
		__u32 a[4] = { p->ip->saddr, 0, 0, 0 };

		slot = xlb_hash_addr(a, XLB_SH_SEED) % svc->slots;
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
	b = xlb_backend_get(*id);
	if (!b || b->state != XLB_BE_ACTIVE)
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
