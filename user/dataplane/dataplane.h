/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The dataplane interface: one ops table, two implementations (BPF maps,
 * IPVS). Nothing above this header knows about BPF or netlink.
 *
 * A service is identified by (vip, port, proto). Every call returns 0 or a
 * negative errno; on error nothing changed and err (when given) holds a
 * message naming the object and field. A service's spec and backends are
 * validated once: by xlb_dp_service_set for callers that hold no model
 * (tools/xlb-dp, the datapath's tests, benchmarks), by the model where a
 * request enters the daemon (the reconciler then calls
 * xlb_dp_service_write); the ops check only what the dataplane itself may
 * refuse (room, conflicts, address families it cannot serve).
 *
 * Threads: the caller serializes the calls that change or index the
 * services and the node (service_set/delete/list/stats, node_addr_*,
 * attach, detach; xlbd's core does it with its lock). backend_stats,
 * global_stats, ct_list, ct_flush, expire, explain and upkeep may run at
 * any time, concurrently with those and each other: BPF's read and delete
 * map entries only (the kernel serializes those; upkeep takes a lock of
 * its own), IPVS takes a lock of its own.
 */
#ifndef XLB_DATAPLANE_H
#define XLB_DATAPLANE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "model/model.h"
#include "model/hooks.h"
#include "model/conntrack.h"
#include "model/explain.h"

struct xlb_dp;

struct xlb_dp_opts {
	/* bpffs directory for pinned maps and links. NULL: XLB_PIN_DIR_DEFAULT.
	 * "" (empty): no pinning at all (tests), everything dies with the handle. */
	const char *pin_dir;
	uint32_t ct_entries;	/* established conntrack entries; 0 = XLB_CT_ENTRIES */
	uint32_t ct_syn_entries; /* flows not established yet; 0 = XLB_CT_SYN_ENTRIES */
	uint32_t aff_entries;	/* ClientIP affinity entries; 0 = XLB_AFF_ENTRIES */
	uint32_t max_services;	/* 0 = XLB_MAX_SERVICES */
	uint32_t max_backends;	/* 0 = XLB_MAX_BACKENDS */
	uint32_t sel_slots;	/* 0 = XLB_MAX_SEL_SLOTS */
	/* How long a freed backend id or selection table rests before reuse,
	 * so a packet that read the old one finishes with it; 0 = 1000 ms. */
	uint32_t grace_ms;
	bool xdp_generic;	/* attach in generic (skb) mode instead of native */
	/* Ports external flows to other nodes are source-NATed to (host
	 * order); 0, 0: XLB_SNAT_PORT_MIN-XLB_SNAT_PORT_MAX. */
	uint16_t snat_port_min, snat_port_max;
	/* xlbd --lb-mode dsr: services without an lb-mode of their own send
	 * external flows to backends on other nodes by DSR, not SNAT. */
	bool lb_mode_dsr;
};

/* A service as read back from the dataplane. */
struct xlb_dp_service {
	struct xlb_service_spec spec;
	uint32_t id;
	size_t n_backends;
	struct xlb_backend_spec *backends;	/* owned by the callee, valid during callback */
	uint32_t *backend_ids;
};

typedef int (*xlb_ct_cb)(const struct xlb_ct_entry *e, void *arg);
typedef int (*xlb_svc_cb)(const struct xlb_dp_service *s, void *arg);

struct xlb_dp_ops {
	const char *name;
	int (*service_set)(struct xlb_dp *dp, const struct xlb_service_spec *svc,
			   const struct xlb_backend_spec *be, size_t n,
			   char *err, size_t errlen);
	int (*service_delete)(struct xlb_dp *dp, const struct xlb_service_spec *svc,
			      char *err, size_t errlen);
	int (*service_list)(struct xlb_dp *dp, xlb_svc_cb cb, void *arg);
	int (*node_addr_add)(struct xlb_dp *dp, const struct xlb_ip *ip);
	int (*node_addr_del)(struct xlb_dp *dp, const struct xlb_ip *ip);
	int (*attach)(struct xlb_dp *dp, const char *ifname, char *err, size_t errlen);
	int (*detach)(struct xlb_dp *dp, const char *ifname, char *err, size_t errlen);
	int (*service_stats)(struct xlb_dp *dp, const struct xlb_service_spec *svc,
			     struct xlb_counters *out);
	int (*backend_stats)(struct xlb_dp *dp, uint32_t backend_id,
			     struct xlb_counters *out);
	int (*global_stats)(struct xlb_dp *dp, uint64_t out[XLB_STAT_MAX]);
	int (*ct_list)(struct xlb_dp *dp, xlb_ct_cb cb, void *arg);
	/* Delete every entry; *removed (may be NULL) gets how many. */
	int (*ct_flush)(struct xlb_dp *dp, uint32_t *removed);
	/* Forget the next hops cached towards backends (a route, neighbour or
	 * MTU changed): they are looked up again on their next packet. *n
	 * gets how many were cached. NULL: nothing cached (IPVS: the kernel
	 * routes each packet); the wrapper then says -EOPNOTSUPP. */
	int (*nexthop_flush)(struct xlb_dp *dp, uint32_t *n);
	/* Periodic upkeep: remove what outlived its use, *removed gets how many.
	 * BPF: conntrack entries idle past their lifetime in t. IPVS (the
	 * kernel expires its own connections): drained backends whose
	 * connections are gone, NodePort services on addresses the node no
	 * longer has. */
	int (*expire)(struct xlb_dp *dp, const struct xlb_ct_timeouts *t, uint32_t *removed);
	/* What the datapath would do with one packet (or connect()) at hook
	 * q->hook, and why (NULL: this dataplane cannot say). */
	int (*explain)(struct xlb_dp *dp, const struct xlb_explain_req *q,
		       struct xlb_explain *out, char *err, size_t errlen);
	void (*close)(struct xlb_dp *dp);

	/* The hooks for a node's own and its pods' traffic; NULL in a
	 * dataplane without them (the wrappers then say -EOPNOTSUPP). */
	/* Socket-level balancing for every socket created in the cgroup2
	 * directory cgroup or below it (a node: the hierarchy's root). */
	int (*sock_attach)(struct xlb_dp *dp, const char *cgroup, char *err, size_t errlen);
	int (*sock_detach)(struct xlb_dp *dp, char *err, size_t errlen);
	int (*sock_stats)(struct xlb_dp *dp, uint64_t out[XLB_SOCK_STAT_MAX]);
	int (*sock_service_stats)(struct xlb_dp *dp, const struct xlb_service_spec *svc,
				  struct xlb_sock_counters *out);
	/* The host end of a pod's veth: service NAT for what sockets missed. */
	int (*pod_attach)(struct xlb_dp *dp, const char *ifname, char *err, size_t errlen);
	/* by ifindex when ifname is NULL (the device is gone) */
	int (*pod_detach)(struct xlb_dp *dp, const char *ifname, int ifindex, char *err,
			  size_t errlen);
	int (*pod_stats)(struct xlb_dp *dp, uint64_t out[XLB_POD_STAT_MAX]);
	int (*hooks)(struct xlb_dp *dp, struct xlb_hooks_info *out);
	/* Work that needs the node's main thread (its capabilities: entering
	 * pods' network namespaces), asked for by the calls that change
	 * services: upkeep_fd becomes readable when there is some, and the
	 * main thread then calls upkeep. NULL: none ever. */
	int (*upkeep_fd)(struct xlb_dp *dp);
	void (*upkeep)(struct xlb_dp *dp);
};

struct xlb_dp {
	const struct xlb_dp_ops *ops;
};

/* The BPF/XDP implementation: opens the program, creating or adopting the
 * pinned maps (and links) under opts->pin_dir. */
int xlb_dp_bpf_open(const struct xlb_dp_opts *opts, struct xlb_dp **out,
		    char *err, size_t errlen);
/* BPF only: detach every pinned link and remove every pin under pin_dir
 * (what `xlbd --cleanup` does). Missing pins are not an error. */
int xlb_dp_bpf_unpin(const char *pin_dir);
/* BPF only: fd of the XDP program (for BPF_PROG_TEST_RUN), or -1. */
int xlb_dp_bpf_prog_fd(struct xlb_dp *dp);
/* BPF only: fd of a socket or pod veth program by its name
 * ("xlb_from_pod", ...), or -ENOENT (also when those did not load). */
int xlb_dp_bpf_hook_prog_fd(struct xlb_dp *dp, const char *name);
/* BPF only: fd of a map by its name ("ct4", ...), or -ENOENT. */
int xlb_dp_bpf_map_fd(struct xlb_dp *dp, const char *name);

/* What no dataplane serves yet (LoadBalancer ingress IPs, externalIPs,
 * source ranges, traffic policies Local: issue 13; xlbd itself serves
 * health-check node ports): each logged once per process, naming the first service that asked;
 * the service is served without it (its cluster IP and node port). Each
 * dataplane's service_set calls it. */
void xlb_dp_note_unsupported(const struct xlb_service_spec *svc);

/* Create or update a service from input nobody checked yet. */
static inline int xlb_dp_service_set(struct xlb_dp *dp, const struct xlb_service_spec *svc,
				     const struct xlb_backend_spec *be, size_t n,
				     char *err, size_t errlen)
{
	int ret = xlb_service_validate(svc, err, errlen);

	if (!ret)
		ret = xlb_backends_validate(svc, be, n, err, errlen);
	return ret ? ret : dp->ops->service_set(dp, svc, be, n, err, errlen);
}

/* The same for a spec and backends the model validated (the reconciler). */
static inline int xlb_dp_service_write(struct xlb_dp *dp, const struct xlb_service_spec *svc,
				       const struct xlb_backend_spec *be, size_t n,
				       char *err, size_t errlen)
{
	return dp->ops->service_set(dp, svc, be, n, err, errlen);
}

static inline int xlb_dp_service_delete(struct xlb_dp *dp, const struct xlb_service_spec *svc,
					char *err, size_t errlen)
{
	return dp->ops->service_delete(dp, svc, err, errlen);
}

static inline int xlb_dp_service_list(struct xlb_dp *dp, xlb_svc_cb cb, void *arg)
{
	return dp->ops->service_list(dp, cb, arg);
}

static inline int xlb_dp_node_addr_add(struct xlb_dp *dp, const struct xlb_ip *ip)
{
	return dp->ops->node_addr_add(dp, ip);
}

static inline int xlb_dp_node_addr_del(struct xlb_dp *dp, const struct xlb_ip *ip)
{
	return dp->ops->node_addr_del(dp, ip);
}

static inline int xlb_dp_attach(struct xlb_dp *dp, const char *ifname, char *err, size_t errlen)
{
	return dp->ops->attach(dp, ifname, err, errlen);
}

static inline int xlb_dp_detach(struct xlb_dp *dp, const char *ifname, char *err, size_t errlen)
{
	return dp->ops->detach(dp, ifname, err, errlen);
}

#define XLB_DP_OPT_CALL(dp, op, ...) ((dp)->ops->op ? (dp)->ops->op((dp), __VA_ARGS__) : -EOPNOTSUPP)

static inline int xlb_dp_sock_attach(struct xlb_dp *dp, const char *cgroup, char *err,
				     size_t errlen)
{
	return XLB_DP_OPT_CALL(dp, sock_attach, cgroup, err, errlen);
}

static inline int xlb_dp_sock_detach(struct xlb_dp *dp, char *err, size_t errlen)
{
	return XLB_DP_OPT_CALL(dp, sock_detach, err, errlen);
}

static inline int xlb_dp_sock_stats(struct xlb_dp *dp, uint64_t out[XLB_SOCK_STAT_MAX])
{
	return XLB_DP_OPT_CALL(dp, sock_stats, out);
}

static inline int xlb_dp_sock_service_stats(struct xlb_dp *dp, const struct xlb_service_spec *svc,
					    struct xlb_sock_counters *out)
{
	return XLB_DP_OPT_CALL(dp, sock_service_stats, svc, out);
}

static inline int xlb_dp_pod_attach(struct xlb_dp *dp, const char *ifname, char *err,
				    size_t errlen)
{
	return XLB_DP_OPT_CALL(dp, pod_attach, ifname, err, errlen);
}

static inline int xlb_dp_pod_detach(struct xlb_dp *dp, const char *ifname, int ifindex,
				    char *err, size_t errlen)
{
	return XLB_DP_OPT_CALL(dp, pod_detach, ifname, ifindex, err, errlen);
}

static inline int xlb_dp_pod_stats(struct xlb_dp *dp, uint64_t out[XLB_POD_STAT_MAX])
{
	return XLB_DP_OPT_CALL(dp, pod_stats, out);
}

static inline int xlb_dp_hooks(struct xlb_dp *dp, struct xlb_hooks_info *out)
{
	return XLB_DP_OPT_CALL(dp, hooks, out);
}

/* -1 when the dataplane never has such work. */
static inline int xlb_dp_upkeep_fd(struct xlb_dp *dp)
{
	return dp->ops->upkeep_fd ? dp->ops->upkeep_fd(dp) : -1;
}

static inline void xlb_dp_upkeep(struct xlb_dp *dp)
{
	if (dp->ops->upkeep)
		dp->ops->upkeep(dp);
}

static inline int xlb_dp_service_stats(struct xlb_dp *dp, const struct xlb_service_spec *svc,
				       struct xlb_counters *out)
{
	return dp->ops->service_stats(dp, svc, out);
}

static inline int xlb_dp_backend_stats(struct xlb_dp *dp, uint32_t id, struct xlb_counters *out)
{
	return dp->ops->backend_stats(dp, id, out);
}

static inline int xlb_dp_global_stats(struct xlb_dp *dp, uint64_t out[XLB_STAT_MAX])
{
	return dp->ops->global_stats(dp, out);
}

static inline int xlb_dp_ct_list(struct xlb_dp *dp, xlb_ct_cb cb, void *arg)
{
	return dp->ops->ct_list(dp, cb, arg);
}

static inline int xlb_dp_ct_flush(struct xlb_dp *dp, uint32_t *removed)
{
	return dp->ops->ct_flush(dp, removed);
}

static inline int xlb_dp_nexthop_flush(struct xlb_dp *dp, uint32_t *n)
{
	*n = 0;
	return dp->ops->nexthop_flush ? dp->ops->nexthop_flush(dp, n) : -EOPNOTSUPP;
}

static inline int xlb_dp_expire(struct xlb_dp *dp, const struct xlb_ct_timeouts *t,
				uint32_t *removed)
{
	return dp->ops->expire(dp, t ? t : &xlb_ct_default_timeouts, removed);
}

static inline int xlb_dp_explain(struct xlb_dp *dp, const struct xlb_explain_req *q,
				 struct xlb_explain *out, char *err, size_t errlen)
{
	if (!dp->ops->explain) {
		if (err)
			snprintf(err, errlen, "explain: the %s dataplane cannot explain flows",
				 dp->ops->name);
		return -EOPNOTSUPP;
	}
	return dp->ops->explain(dp, q, out, err, errlen);
}

static inline void xlb_dp_close(struct xlb_dp *dp)
{
	if (dp)
		dp->ops->close(dp);
}

#endif /* XLB_DATAPLANE_H */
