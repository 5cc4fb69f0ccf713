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
#define XLB_CT_ENTRIES		262144	/* established conntrack entries (two per flow) */
#define XLB_CT_SYN_ENTRIES	65536	/* flows not established yet (one each) */
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
/* An address outside the cluster reaches the service through this key (its
 * node port, a LoadBalancer ingress IP, an external IP): flows to backends
 * on other nodes are source-NATed to the node (include/xlb/snat.h). */
#define XLB_SVC_F_EXTERNAL	(1 << 2)
/* externalTrafficPolicy Local: this key's table holds only the node's own
 * endpoints (no SNAT); without one, its traffic is dropped. */
#define XLB_SVC_F_LOCAL		(1 << 3)
/* loadBalancerSourceRanges: sources outside src_ranges are dropped. */
#define XLB_SVC_F_SRC_RANGES	(1 << 4)
/* This key is a LoadBalancer ingress IP (else an external IP, when
 * XLB_SVC_F_EXTERNAL without XLB_SVC_F_NODEPORT). */
#define XLB_SVC_F_LB_IP		(1 << 5)
/* lb-mode dsr: flows through this (external) key to a backend on another
 * node go to it IPIP-encapsulated (direct server return), not source-NATed:
 * the backend's node decapsulates them and the backend answers the client
 * itself (bpf/lib/dsr.h). */
#define XLB_SVC_F_DSR		(1 << 6)

struct xlb_svc_val {
	__u32 id;		/* index into svc_stats and rr_state */
	__u32 sel_base;		/* first slot of the active selection table */
	__u32 slots;		/* entries in the active table; 0 = no backend */
	__u32 aff_timeout;	/* seconds; used when XLB_SVC_F_AFFINITY */
	__u8 algo;		/* enum xlb_algo */
	__u8 flags;		/* XLB_SVC_F_* */
	/* The service's own lb-mode as given (0 the node's, 1 snat, 2 dsr),
	 * for a restart to read back; the datapath acts on XLB_SVC_F_DSR. */
	__u8 lb_mode;
	/* Its traffic policies as given (XLB_SVC_P_*), for a restart to read
	 * back; the datapath acts on the tables and XLB_SVC_F_LOCAL. */
	__u8 policies;
	__u32 pad2;
};
XLB_STATIC_ASSERT(sizeof(struct xlb_svc_val) == 24, "xlb_svc_val size");

#define XLB_SVC_P_INT_LOCAL	(1 << 0) /* internalTrafficPolicy Local */
#define XLB_SVC_P_EXT_LOCAL	(1 << 1) /* externalTrafficPolicy Local */

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
	__u8 flags;		/* XLB_BE_F_* */
	__u8 pad;
};
XLB_STATIC_ASSERT(sizeof(struct xlb_backend) == 32, "xlb_backend size");

#define XLB_BE_F_LOCAL		(1 << 0) /* on this node */
#define XLB_BE_F_REMOTE		(1 << 1) /* on another node (external flows get SNAT) */
/* The endpoint as given, for a restart to read back (state says only
 * whether it takes new flows): terminating, and terminating as far as the
 * node-local selection goes (KEP-1669's fallback may keep it selectable). */
#define XLB_BE_F_TERMINATING	(1 << 2)
#define XLB_BE_F_LOCAL_TERMINATING (1 << 3)

/*
 * Connection tracking (IPv4). A flow first gets one entry in ct_syn, a
 * small LRU of its own, keyed by its reply tuple (backend -> client): what
 * the first packet (a SYN, a UDP datagram, or a packet of a flow that lost
 * its state) chose, so that replies are translated and the next client
 * packets go the same way. Only when the flow proves itself (the client
 * acknowledges the backend's SYN-ACK, or UDP traffic went both ways) does
 * it get its two entries in ct4, the established table: the forward one
 * (client -> service address) and the reply one (backend -> client). A
 * flood of first packets churns ct_syn and never reaches ct4.
 */
struct xlb_ct4_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};
XLB_STATIC_ASSERT(sizeof(struct xlb_ct4_key) == 16, "xlb_ct4_key size");

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

/* ct4: one direction of an established flow. Key and value fit in a cache
 * line. The next hop towards a backend is cached per backend (be_nh). */
struct xlb_ct4_val {
	__u8 dir;		/* enum xlb_ct_dir */
	__u8 state;		/* enum xlb_ct_state */
	__u8 pad[2];
	__u32 last_seen;	/* coarse seconds */
	__u32 svc_id;
	__u32 backend_id;
	union {
		struct {	/* XLB_CT_FWD */
			__u32 backend_gen; /* must equal backend.gen, else the backend is gone */
			__u32 created;	/* coarse seconds */
			__u8 flags;	/* XLB_CT_F_SNAT */
			__u8 pad[15];
		} fwd;
		struct {	/* XLB_CT_REV */
			__be32 nat_addr; /* the address the client used (service or node) */
			__be16 nat_port;
			__u16 pad;
			__u32 ifindex;	/* where the client's packets came in */
			__u8 smac[6];	/* Ethernet source to write */
			__u8 dmac[6];	/* Ethernet destination to write */
		} rev;
	};
};
XLB_STATIC_ASSERT(sizeof(struct xlb_ct4_val) == 40, "xlb_ct4_val size");

#define XLB_CT_F_SEEN_REPLY	(1 << 0) /* ct_syn: a reply (not a reset) went through */
#define XLB_CT_F_RECOVER	(1 << 1) /* ct_syn: made by a non-SYN packet without state */
#define XLB_CT_F_SNAT		(1 << 2) /* ct_syn, ct4 fwd: the client's packets are source-NATed */
#define XLB_CT_F_DSR		(1 << 3) /* ct_syn, ct4 fwd: they go IPIP to the backend (DSR) */

/* ct_syn: a flow that has not proved itself yet, keyed by its reply tuple
 * (struct xlb_ct4_key: backend -> client). */
struct xlb_ct_syn_val {
	__u8 flags;		/* XLB_CT_F_* */
	__u8 pad[3];
	__u32 created;		/* coarse seconds */
	__u32 svc_id;
	__u32 backend_id;
	__u32 backend_gen;
	__u32 seq;		/* TCP: what the client must acknowledge to promote the flow */
	__be32 nat_addr;	/* the address and port the client used */
	__be16 nat_port;
	__u16 pad2;
	__u32 ifindex;		/* where the client's packets came in */
	__u8 smac[6];		/* Ethernet addresses of a reply to the client */
	__u8 dmac[6];
};
XLB_STATIC_ASSERT(sizeof(struct xlb_ct_syn_val) == 48, "xlb_ct_syn_val size");

/* be_nh (array, index = backend id): the next hop towards a backend, from
 * bpf_fib_lookup, shared by all its flows; refreshed every XLB_NH_TTL
 * seconds and whenever the id changes hands (gen). */
struct xlb_nexthop {
	__u32 ifindex;		/* 0: not known */
	__u32 gen;		/* backend.gen it was looked up for */
	__u32 stamp;		/* coarse seconds */
	__u8 smac[6];
	__u8 dmac[6];
	__u16 mtu;		/* the way out's IPv4 MTU, as the FIB gives it */
	__u8 pad[2];
};
XLB_STATIC_ASSERT(sizeof(struct xlb_nexthop) == 28, "xlb_nexthop size");
#define XLB_NH_TTL		10

/* port_map (array, index = port, host order): what a port is used for, so
 * that a packet that is neither for a service nor of an established flow
 * costs no further hash lookup unless its ports say it may be ours. */
#define XLB_PORT_F_BACKEND	(1 << 0) /* some backend listens on it */
#define XLB_PORT_F_NODEPORT	(1 << 1) /* some service's node port */

/* A selection table: a range of sel_map. */
struct xlb_sel_range {
	__u32 base;
	__u32 slots;		/* 0: none */
};
XLB_STATIC_ASSERT(sizeof(struct xlb_sel_range) == 8, "xlb_sel_range size");

/* svc_prev (array, index = service id): the selection tables the service
 * had before its last update, still intact, so a flow whose handshake
 * spans the update still finds its first packet's choice. A service's
 * keys share its id but not always its table: its external keys (node
 * port, LoadBalancer and external IPs, XLB_SVC_F_EXTERNAL) have one of
 * their own when the traffic policies differ, so each has its previous. */
struct xlb_svc_prev {
	struct xlb_sel_range cluster;	/* the service address's */
	struct xlb_sel_range ext;	/* the external keys' (the same when shared) */
};
XLB_STATIC_ASSERT(sizeof(struct xlb_svc_prev) == 16, "xlb_svc_prev size");

/* meta (array, one entry): the layout of the pinned maps. A build reads
 * it before adopting them: an older layout is migrated, a newer one is
 * refused. */
#define XLB_LAYOUT_VERSION	2
struct xlb_meta {
	__u32 layout;		/* XLB_LAYOUT_VERSION of the build that pinned them */
	__u32 pad;
};
XLB_STATIC_ASSERT(sizeof(struct xlb_meta) == 8, "xlb_meta size");

/* Layout 1 (before the meta map): one LRU, ct_map, two entries a flow.
 * Kept to migrate a node that runs it. */
struct xlb_ct_key_v1 {
	struct xlb_addr saddr;
	struct xlb_addr daddr;
	__u16 sport;		/* be */
	__u16 dport;		/* be */
	__u8 proto;
	__u8 family;
	__u16 pad;
};
XLB_STATIC_ASSERT(sizeof(struct xlb_ct_key_v1) == 40, "xlb_ct_key_v1 size");

struct xlb_ct_val_v1 {
	struct xlb_addr nat_addr;
	__u16 nat_port;
	__u8 dir;
	__u8 state;
	__u32 svc_id;
	__u32 backend_id;
	__u32 backend_gen;
	__u32 last_seen;
	__u32 created;
	__u32 ifindex;
	__u8 smac[6];
	__u8 dmac[6];
	__u8 flags;
	__u8 pad[7];
};
XLB_STATIC_ASSERT(sizeof(struct xlb_ct_val_v1) == 64, "xlb_ct_val_v1 size");

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

/* src_ranges (LPM trie): a service's loadBalancerSourceRanges, matched on
 * (service id, client address); prefixlen counts the id's 32 bits too. */
struct xlb_src_range_key {
	__u32 prefixlen;	/* 32 + the range's prefix length */
	__u32 svc_id;
	__be32 addr;
};
XLB_STATIC_ASSERT(sizeof(struct xlb_src_range_key) == 12, "xlb_src_range_key size");
#define XLB_SRC_RANGE_ENTRIES	16384

/* src_ranges6 (LPM trie): the IPv6 loadBalancerSourceRanges, keyed as
 * src_ranges. The XDP datapath serves IPv4 alone and does not read it: it
 * holds them for a restart to read back. */
struct xlb_src_range6_key {
	__u32 prefixlen;	/* 32 + the range's prefix length */
	__u32 svc_id;
	struct xlb_addr addr;
};
XLB_STATIC_ASSERT(sizeof(struct xlb_src_range6_key) == 24, "xlb_src_range6_key size");

/* snat_src (array, one entry): the node address flows to LoadBalancer and
 * external IPs leave with towards other nodes (a NodePort flow leaves with
 * the node address it came to); 0: none yet. */
struct xlb_snat_src {
	__be32 addr;
	__u32 pad;
};
XLB_STATIC_ASSERT(sizeof(struct xlb_snat_src) == 8, "xlb_snat_src size");

/* dsr_be (hash): the backends of this node by (service id, address), for
 * the flows other nodes send them in DSR mode: the outer IPv4 header names
 * the backend's address, the inner packet is still to the service's (its
 * port included), and tc on the NIC finds here the backend, its port, to
 * DNAT it to. Written for local backends only. */
struct xlb_dsr_be_key {
	__u32 svc_id;
	__be32 addr;
};
XLB_STATIC_ASSERT(sizeof(struct xlb_dsr_be_key) == 8, "xlb_dsr_be_key size");

/*
 * IPv4 fragments of a UDP datagram or a TCP segment (frag4, LRU): only
 * the first fragment carries the ports. Each hook keeps them under the datagram's identity
 * as it saw the first fragment (addresses, IP id, protocol, hook), as
 * Cilium's IPV4_FRAG_DATAGRAMS does, and a later fragment finds its flow
 * with them: the flow's state says how its addresses are rewritten and
 * where it goes (bpf/lib/frag.h).
 */
#define XLB_FRAG_ENTRIES	8192

enum xlb_frag_hook {
	XLB_FRAG_HOOK_XDP = 0,	/* XDP on a NIC */
	XLB_FRAG_HOOK_NIC = 1,	/* tc ingress on a NIC (after XDP) */
	XLB_FRAG_HOOK_POD_IN = 2, /* tc ingress on a pod veth (the pod sends) */
	XLB_FRAG_HOOK_POD_OUT = 3, /* tc egress on a pod veth (into the pod) */
	XLB_FRAG_HOOK_DSR = 4,	/* tc ingress on a NIC: inside IPIP from a DSR front node */
};

struct xlb_frag4_key {
	__be32 saddr;		/* as the hook saw the first fragment arrive */
	__be32 daddr;
	__be16 id;		/* IPv4 identification */
	__u8 proto;
	__u8 hook;		/* enum xlb_frag_hook */
};
XLB_STATIC_ASSERT(sizeof(struct xlb_frag4_key) == 12, "xlb_frag4_key size");

struct xlb_frag4_val {
	__be16 sport;		/* the datagram's ports, from its first fragment */
	__be16 dport;
	__u16 early;		/* later fragments seen before it */
	__u8 has_ports;		/* 0: only a mark left by early fragments */
	__u8 pad;
	__u32 created;		/* coarse seconds */
};
XLB_STATIC_ASSERT(sizeof(struct xlb_frag4_val) == 12, "xlb_frag4_val size");

/* svc_stats / backend_stats (per-CPU arrays, by id). */
struct xlb_counters {
	__u64 packets;
	__u64 bytes;
	__u64 new_flows;
};
XLB_STATIC_ASSERT(sizeof(struct xlb_counters) == 24, "xlb_counters size");

/*
 * Socket-level load balancing (cgroup connect4/sendmsg4/recvmsg4/
 * getpeername4). The socket programs use the service, selection and
 * backend maps above, and these of their own.
 */
#define XLB_SOCK_REV_ENTRIES	262144	/* sockets connected or sending to a backend */

/* sock_rev (LRU): the service address a socket's backend stands for, so
 * recvmsg and getpeername show the service. Keyed by the socket as well:
 * one socket may talk to two services that share a backend. */
struct xlb_sock_rev_key {
	__u64 cookie;		/* socket cookie */
	struct xlb_addr addr;	/* backend address */
	__u16 port;		/* backend port, be */
	__u8 family;
	__u8 pad[5];
};
XLB_STATIC_ASSERT(sizeof(struct xlb_sock_rev_key) == 32, "xlb_sock_rev_key size");

struct xlb_sock_rev_val {
	struct xlb_addr addr;	/* the service address the socket asked for */
	__u16 port;		/* be */
	__u8 family;
	__u8 pad;
	__u32 svc_id;
};
XLB_STATIC_ASSERT(sizeof(struct xlb_sock_rev_val) == 24, "xlb_sock_rev_val size");

/* sock_gone (hash -> service id): backends just removed from a service,
 * whose connected UDP sockets through that service the socket iterator
 * aborts (6.5+, bpf/sock_destroy.bpf.c). */
struct xlb_sock_gone_key {
	struct xlb_addr addr;
	__u16 port;		/* be */
	__u8 family;
	__u8 pad;
};
XLB_STATIC_ASSERT(sizeof(struct xlb_sock_gone_key) == 20, "xlb_sock_gone_key size");

/* sock_svc_stats (per-CPU array, by service id): what the socket programs
 * did for each service. */
struct xlb_sock_counters {
	__u64 connects;		/* connect() balanced (TCP, and UDP sockets) */
	__u64 sends;		/* unconnected UDP datagrams balanced */
	__u64 refused;		/* no usable backend: ECONNREFUSED */
};
XLB_STATIC_ASSERT(sizeof(struct xlb_sock_counters) == 24, "xlb_sock_counters size");

/*
 * Pod veths (tc on their host side): packets from pods to services that no
 * socket program translated (sockets older than the attach, socket LB off,
 * traffic a pod forwards). Both translations happen on the client's veth:
 * DNAT as a packet leaves the pod, reverse NAT as the reply enters it.
 */
#define XLB_POD_CT_ENTRIES	262144	/* two per flow */
#define XLB_MAX_POD_IFACES	4096
#define XLB_HAIRPIN_ADDR	0xa9fe2a01 /* 169.254.42.1: the source a pod's hairpin flows show */

#define XLB_POD_CT_F_LOCAL	(1 << 0) /* backend on this node: redirected both ways */
#define XLB_POD_CT_F_HAIRPIN	(1 << 1) /* the client is its own backend: source rewritten */
#define XLB_POD_CT_F_AFFINITY	(1 << 2) /* ClientIP affinity: set it once established */

/* pod_ct (LRU), keyed by struct xlb_ct4_key: a flow has a forward entry
 * (client -> service address) and a reply entry (backend -> client as the
 * backend sees it). */
struct xlb_pod_ct_val {
	struct xlb_addr nat_addr; /* REV: the service address (the reply's new source) */
	struct xlb_addr orig_addr; /* REV: the client's address (hairpin: new destination) */
	__u16 nat_port;		/* REV: service port, be */
	__u16 orig_port;	/* REV: the client's port, be */
	__u8 dir;		/* enum xlb_ct_dir */
	__u8 state;		/* enum xlb_ct_state */
	__u8 flags;		/* XLB_POD_CT_F_* */
	__u8 pad;
	__u32 svc_id;
	__u32 backend_id;
	__u32 backend_gen;	/* must equal backend.gen, else the backend is gone */
	__u32 last_seen;	/* coarse seconds */
	__u32 created;
	__u32 ifindex;		/* local: FWD the backend's pod veth, REV the client's */
	__u8 smac[6];		/* local: Ethernet source to write */
	__u8 dmac[6];		/* local: Ethernet destination (the pod's eth0) */
	__u8 pad2[4];
};
XLB_STATIC_ASSERT(sizeof(struct xlb_pod_ct_val) == 80, "xlb_pod_ct_val size");

/* Global per-CPU counters (stats map), index = enum xlb_stat: stats.h. */
#include "stats.h"
#include "stats_hooks.h"

#endif /* XLB_ABI_H */
