/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Source NAT of external flows to backends on other nodes (NodePort,
 * LoadBalancer and external IPs with externalTrafficPolicy Cluster): the
 * node rewrites the client's source to one of its own addresses and a port
 * of a reserved range, so that the backend's replies come back through it
 * (kube-proxy masquerades here; Cilium's bpf/lib/nat.h does it in BPF).
 *
 * Two hash maps, a flow one entry in each (IPv4):
 *   snat4_fwd: the flow after DNAT, client:cport -> backend:bport, to the
 *              node address and port it leaves with;
 *   snat4_rev: the reply as it arrives, backend:bport -> node:nport, to
 *              the client address and port it goes back to.
 * A port is taken by inserting the reverse entry with BPF_NOEXIST (the
 * insert is the lock), so two flows never share (backend, bport, node,
 * nport). Each backend address and port gets the whole range.
 *
 * Plain hash maps, not LRU: a flood of first packets cannot evict the
 * entry of a live flow; when the maps or the range are full, new flows
 * are refused (and counted) until user space expires the dead ones, by
 * the same lifetimes as conntrack (TCP state, idle time).
 */
#ifndef XLB_ABI_SNAT_H
#define XLB_ABI_SNAT_H

#include <linux/types.h>

#ifndef XLB_STATIC_ASSERT
#define XLB_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

#define XLB_SNAT_ENTRIES	131072	/* each map: one entry per flow */
#define XLB_SNAT_RETRIES	32	/* random ports tried last (Cilium: 32) */
#define XLB_SNAT_TAKEOVER_TRIES	8	/* consecutive ports tried first: free or of ended flows */
#define XLB_SNAT_REUSE_S	1	/* a FIN-closed flow's port is taken over after */

/* Default port range, outside Linux's default ephemeral range
 * (32768-60999) and Kubernetes' NodePort range (30000-32767). */
#define XLB_SNAT_PORT_MIN	61000
#define XLB_SNAT_PORT_MAX	65535

struct xlb_snat4_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};
XLB_STATIC_ASSERT(sizeof(struct xlb_snat4_key) == 16, "xlb_snat4_key size");

#define XLB_SNAT_F_SEEN_REPLY	(1 << 0) /* rev: the backend answered */
#define XLB_SNAT_F_FIN		(1 << 1) /* a FIN went this way */
#define XLB_SNAT_F_RST		(1 << 2) /* a reset went this way */
#define XLB_SNAT_F_ACKED	(1 << 3) /* fwd: the client acknowledged after a reply */

struct xlb_snat4_val {
	__be32 addr;		/* fwd: the node address; rev: the client address */
	__be16 port;		/* fwd: the node port; rev: the client port */
	__u8 flags;		/* XLB_SNAT_F_*, of this direction */
	__u8 pad;
	__u32 created;		/* coarse seconds */
	__u32 last_seen;	/* coarse seconds, written at most once a second */
};
XLB_STATIC_ASSERT(sizeof(struct xlb_snat4_val) == 16, "xlb_snat4_val size");

#endif /* XLB_ABI_SNAT_H */
