/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The daemon core: desired state + reconciler + dataplane + state file +
 * events, behind one lock. The API layer (gRPC) calls only these functions;
 * it never sees BPF, netlink or the state file.
 *
 * Services come in valid (xlb_svc_validate passed: convert/ does it where
 * a request enters, with the field's path in the message), so the core
 * checks only what depends on the rest of the state, and the endpoints of
 * xlb_core_set_endpoints against their service. Every write either applies
 * whole (datapath updated, state file written) or returns an error with
 * nothing changed:
 *   -EINVAL  bad input (message names the field)
 *   -ENOENT  unknown service
 *   -EEXIST  conflict with another service (address:port or node port)
 *   -E2BIG   too many items
 *   other    the dataplane or the state file failed (message says which)
 * 0 only once the change is on disk. Should the disk fail after the
 * datapath took a change (an fdatasync error), the change stays and the
 * message says it is not saved.
 * Thread-safe: any thread may call any function.
 */
#ifndef XLB_CORE_H
#define XLB_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/state.h"
#include "model/conntrack.h"
#include "model/verdicts.h"
#include "model/explain.h"
#include "model/hooks.h"

struct xlb_core;

struct xlb_endpoint_status {
	struct xlb_endpoint ep;
	enum xlb_ep_health health;
	bool in_datapath;		/* receives new flows */
	bool local;			/* on this node */
	char last_result[128];
	uint32_t last_latency_us;
	int64_t last_transition_ms;	/* unix ms, 0 = never */
	uint64_t packets, bytes, new_flows;
};

struct xlb_service_status {
	struct xlb_svc_desired svc;	/* svc.ep valid during the callback */
	size_t n_eps;
	struct xlb_endpoint_status *eps;
	uint64_t packets, bytes, new_flows;
	struct xlb_sock_counters sock;	/* at the socket (no packets there) */
	bool panic;
};

/* Interfaces the datapath is attached to, at most (a node runs 110+ pods). */
#define XLB_MAX_IFACES 1024

struct xlb_core_status {
	char dataplane[16];		/* "xdp" | "ipvs" */
	char dataplane_reason[256];
	char health_tcp_probe[16];	/* "half-open" | "connect"; "" without health checks */
	char interfaces[XLB_MAX_IFACES][16];
	size_t n_interfaces;
	uint32_t services, endpoints;
	uint64_t version;
	int64_t started_ms;
	uint64_t counters[XLB_STAT_MAX];
	/* Acknowledged changes a damaged journal lost at start; what and
	 * where the damaged files are kept. 0, "": none. */
	uint64_t lost_changes;
	char damage[1024];
	/* Route, neighbour or MTU changes that made the dataplane re-resolve
	 * its cached next hops. */
	uint64_t nexthop_flushes;
	struct xlb_node_info node;	/* the node xlbd serves as */
	char node_source[16];		/* "controller" | "flags" */
	/* The node's and its pods' hooks (BPF dataplane). */
	bool have_hooks;
	struct xlb_hooks_info hooks;
	uint64_t sock_counters[XLB_SOCK_STAT_MAX];
	uint64_t pod_counters[XLB_POD_STAT_MAX];
};

enum xlb_event_kind {
	XLB_EV_SERVICE_UPSERT = 0,
	XLB_EV_SERVICE_DELETE = 1,
	XLB_EV_ENDPOINT_HEALTH = 2,
	XLB_EV_PANIC = 3,
	XLB_EV_NODE = 4,		/* this node's identity changed (detail) */
};

struct xlb_event {
	enum xlb_event_kind kind;
	uint64_t version;
	char service[128];
	char endpoint[64];		/* "address:port" */
	char detail[128];
	int64_t unix_ms;
};

/* Called with no core lock held, from whatever thread made the change. */
typedef void (*xlb_event_fn)(const struct xlb_event *ev, void *arg);

int xlb_core_upsert(struct xlb_core *c, const struct xlb_svc_desired *s,
		    uint64_t *version, char *err, size_t errlen);
int xlb_core_delete(struct xlb_core *c, const char *name, uint64_t *version,
		    char *err, size_t errlen);
int xlb_core_set_endpoints(struct xlb_core *c, const char *name,
			   const struct xlb_endpoint *ep, size_t n, uint64_t *version,
			   char *err, size_t errlen);
/* A batch: when snapshot, `up` replaces all services; else upserts then
 * deletes. All or nothing. */
int xlb_core_apply(struct xlb_core *c, bool snapshot,
		   const struct xlb_svc_desired *up, size_t n_up,
		   const char *const *del, size_t n_del, uint64_t *version,
		   char *err, size_t errlen);

/* name NULL or "": all services, in name order. -ENOENT if a named one is
 * unknown. */
/* This node as a controller describes it, in place of what xlbd started
 * with: endpoints whose nodeName is n->name are local, topology hints use
 * n->zone. A change of either reconciles every service; any change is an
 * XLB_EV_NODE event. 0 or -errno. */
int xlb_core_set_node(struct xlb_core *c, const struct xlb_node_info *n);

int xlb_core_list(struct xlb_core *c, const char *name,
		  int (*cb)(const struct xlb_service_status *s, void *arg), void *arg);
int xlb_core_status(struct xlb_core *c, struct xlb_core_status *out);
/* Desired state, for backup. */
int xlb_core_backup(struct xlb_core *c,
		    int (*cb)(const struct xlb_svc_desired *s, void *arg), void *arg,
		    uint64_t *version);

int xlb_core_ct_list(struct xlb_core *c, uint32_t limit,
		     int (*cb)(const struct xlb_ct_entry *e, void *arg), void *arg);
int xlb_core_ct_flush(struct xlb_core *c, uint32_t *removed);
/* Which backend the datapath would give this packet, and why, from its
 * live state. -EOPNOTSUPP (err says so) when the dataplane cannot tell. */
int xlb_core_explain(struct xlb_core *c, const struct xlb_explain_req *q,
		     struct xlb_explain *out, char *err, size_t errlen);

/* Event subscription; returns an id for unsubscribe. */
int xlb_core_subscribe(struct xlb_core *c, xlb_event_fn fn, void *arg);
void xlb_core_unsubscribe(struct xlb_core *c, int id);

#endif /* XLB_CORE_H */
