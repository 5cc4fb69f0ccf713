/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one ABI shared by the XDP datapath (bpf/) and user space (user/).
 *
 * Every map key and value is defined here, with explicit padding and a size
 * assertion. Addresses are always 16 bytes plus a family, so IPv6 is a
 * datapath feature, not an ABI change. Multi-byte fields marked "be" are in
 * network byte order; all others are host order.
 *
 * A pinned map whose layout changes gets a new name (suffix _v2).
 */
#ifndef XLB_ABI_H
#define XLB_ABI_H

#ifdef __bpf__
#include <linux/types.h>
#else
#include <linux/types.h>
#include <assert.h>
#endif

#ifndef XLB_STATIC_ASSERT
#define XLB_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

/* Capacity defaults; user space may resize maps before load. */
#define XLB_MAX_SERVICES	65536	/* service ids: 0 .. XLB_MAX_SERVICES-1 */
#define XLB_MAX_BACKENDS	131072	/* backend ids: 1 .. XLB_MAX_BACKENDS-1; 0 = none */
#define XLB_MAX_SVC_KEYS	131072	/* (addr, port, proto) keys: ClusterIP + NodePort */
#define XLB_MAX_SEL_SLOTS	(4 << 20) /* selection table slots, all services (16 MiB) */
#define XLB_CT_ENTRIES		262144	/* conntrack entries (two per flow) */
#define XLB_AFF_ENTRIES		131072	/* ClientIP affinity entries */
#define XLB_MAX_NODE_ADDRS	256
#define XLB_MAX_BACKENDS_PER_SVC 512	/* bounded by the largest Maglev table */
#define XLB_MAGLEV_MAX_SIZE	65521	/* largest prime table size */
#define XLB_MAGLEV_DEFAULT_SIZE	16381	/* every sh service's table, up to 163 backends */
#define XLB_SEQ_MAX_SIZE	4096	/* largest rr/wrr sequence table */
#define XLB_DEFAULT_AFFINITY_TIMEOUT 10800 /* seconds, as Kubernetes */

/* Pinned map names (also the BPF map names, at most 15 characters). */
#define XLB_PIN_DIR_DEFAULT	"/sys/fs/bpf/xlb"

enum xlb_family {
	XLB_AF_NONE = 0,
	XLB_AF_INET = 4,
	XLB_AF_INET6 = 6,
};

/* An address: IPv4 occupies a[0..3] (network order), the rest is zero. */
struct xlb_addr {
	union {
		__u8 a8[16];
		__u32 a32[4];	/* be */
	};
};
XLB_STATIC_ASSERT(sizeof(struct xlb_addr) == 16, "xlb_addr size");

enum xlb_algo {
	XLB_ALGO_RR = 0,	/* per-flow round robin */
	XLB_ALGO_WRR = 1,	/* weighted round robin, integer weights */
	XLB_ALGO_SH = 2,	/* source-IP hash, weighted Maglev table */
	XLB_ALGO_MAX,
};

/* svc_map: (address, port, protocol) -> service. A NodePort service has
 * a second key with an all-zero address that matches every node address. */
struct xlb_svc_key {
	struct xlb_addr addr;
	__u16 port;		/* be */
	__u8 proto;		/* IPPROTO_TCP / IPPROTO_UDP */
	__u8 family;		/* enum xlb_family */
};
XLB_STATIC_ASSERT(sizeof(struct xlb_svc_key) == 20, "xlb_svc_key size");

#define XLB_SVC_F_AFFINITY	(1 << 0) /* ClientIP session affinity */
#define XLB_SVC_F_NODEPORT	(1 << 1) /* this key is the NodePort wildcard */

struct xlb_svc_val {
	__u32 id;		/* index into svc_stats and rr_state */
	__u32 sel_base;		/* first slot of the active selection table */
	__u32 slots;		/* entries in the active table; 0 = no backend */
	__u32 aff_timeout;	/* seconds; used when XLB_SVC_F_AFFINITY */
	__u8 algo;		/* enum xlb_algo */
	__u8 flags;		/* XLB_SVC_F_* */
	__u16 pad;
	__u32 pad2;
};
XLB_STATIC_ASSERT(sizeof(struct xlb_svc_val) == 24, "xlb_svc_val size");

/* sel_map (array of backend ids): every service's selection table is a
 * range [sel_base, sel_base + slots) of this one array. A new table is
 * written to a fresh range before svc_val switches to it, and the old range
 * is only reused after a grace period (make-before-break). */

enum xlb_backend_state {
	XLB_BE_FREE = 0,	/* id unused; flows pinned to it are re-selected or reset */
	XLB_BE_ACTIVE = 1,	/* in the selection table */
	XLB_BE_TERMINATING = 2,	/* drain: existing flows only */
};

/* backend_map (array, index = backend id). */
struct xlb_backend {
	struct xlb_addr addr;
	__u16 port;		/* be */
	__u8 family;
	__u8 state;		/* enum xlb_backend_state */
	__u32 svc_id;		/* owning service */
	__u32 gen;		/* bumped each time the id is (re)assigned */
	__u16 weight;
	__u16 pad;
};
XLB_STATIC_ASSERT(sizeof(struct xlb_backend) == 32, "xlb_backend size");

/* ct_map (LRU): a flow in one direction. A new flow inserts two entries:
 * the forward one (client -> service address) and the reply one
 * (backend -> client), so each packet costs one lookup. */
struct xlb_ct_key {
	struct xlb_addr saddr;
	struct xlb_addr daddr;
	__u16 sport;		/* be */
	__u16 dport;		/* be */
	__u8 proto;
	__u8 family;
	__u16 pad;
};
XLB_STATIC_ASSERT(sizeof(struct xlb_ct_key) == 40, "xlb_ct_key size");

enum xlb_ct_dir {
	XLB_CT_FWD = 0,		/* rewrite destination to the backend */
	XLB_CT_REV = 1,		/* rewrite source back to the service address */
};

/* TCP states, coarse: enough to expire closed flows before idle ones. */
enum xlb_ct_state {
	XLB_CT_NEW = 0,		/* SYN seen (or first UDP packet) */
	XLB_CT_ESTABLISHED = 1,	/* traffic seen in both directions */
	XLB_CT_CLOSING = 2,	/* FIN seen */
	XLB_CT_CLOSED = 3,	/* RST, or FIN both ways */
};

#define XLB_CT_F_FIB_CACHED	(1 << 0) /* ifindex/macs below are valid */
#define XLB_CT_F_SEEN_REPLY	(1 << 1) /* a reply went through */
#define XLB_CT_F_FIN_FWD	(1 << 2) /* FIN from the client */
#define XLB_CT_F_FIN_REV	(1 << 3) /* FIN from the backend */

struct xlb_ct_val {
	struct xlb_addr nat_addr; /* REV: original destination (service address) */
	__u16 nat_port;		/* REV: original destination port, be */
	__u8 dir;		/* enum xlb_ct_dir */
	__u8 state;		/* enum xlb_ct_state (kept in the FWD entry) */
	__u32 svc_id;
	__u32 backend_id;
	__u32 backend_gen;	/* must equal backend.gen, else the backend is gone */
	__u32 last_seen;	/* coarse seconds (ktime_coarse >> 30) */
	__u32 created;		/* coarse seconds */
	__u32 ifindex;		/* where to send: FWD from fib cache, REV ingress */
	__u8 smac[6];		/* Ethernet source to write */
	__u8 dmac[6];		/* Ethernet destination to write */
	__u8 flags;		/* XLB_CT_F_* */
	__u8 pad[7];
};
XLB_STATIC_ASSERT(sizeof(struct xlb_ct_val) == 64, "xlb_ct_val size");

/* aff_map (LRU): ClientIP affinity. */
struct xlb_aff_key {
	struct xlb_addr client;
	__u32 svc_id;
	__u8 family;
	__u8 pad[3];
};
XLB_STATIC_ASSERT(sizeof(struct xlb_aff_key) == 24, "xlb_aff_key size");

struct xlb_aff_val {
	__u32 backend_id;
	__u32 backend_gen;
	__u32 last_used;	/* coarse seconds */
	__u32 pad;
};
XLB_STATIC_ASSERT(sizeof(struct xlb_aff_val) == 16, "xlb_aff_val size");

/* node_addrs: the node's own addresses; NodePort answers on them. */
struct xlb_node_addr_key {
	struct xlb_addr addr;
	__u8 family;
	__u8 pad[3];
};
XLB_STATIC_ASSERT(sizeof(struct xlb_node_addr_key) == 20, "xlb_node_addr_key size");

/* svc_stats / backend_stats (per-CPU arrays, by id). */
struct xlb_counters {
	__u64 packets;
	__u64 bytes;
	__u64 new_flows;
};
XLB_STATIC_ASSERT(sizeof(struct xlb_counters) == 24, "xlb_counters size");

/* Global per-CPU counters (stats map), index = enum xlb_stat: stats.h. */
#include "stats.h"

#endif /* XLB_ABI_H */
