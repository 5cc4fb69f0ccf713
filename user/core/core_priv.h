/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The daemon side of the core: creating it, the node (interfaces and
 * addresses), health, observers. For xlbd and its parts (node/, metrics/,
 * the health feed); the API layer uses core.h only. */
#ifndef XLB_CORE_PRIV_H
#define XLB_CORE_PRIV_H

#include "core.h"

struct xlb_dp;

struct xlb_iface {
	char name[16];
	int ifindex;
};

struct xlb_core_opts {
	struct xlb_dp *dp;		/* owned by the caller, outlives the core */
	const char *state_dir;		/* NULL or "": no state file */
	const char *dp_name;		/* "xdp" | "ipvs" */
	const char *dp_reason;
	bool allow_exec_probes;		/* false: exec health checks are refused */
	/* XDP: services and backend ids the datapath holds (xlbd --max-services,
	 * --max-backends); 0: XLB_MAX_SERVICES, XLB_MAX_BACKENDS. */
	uint32_t max_services, max_backends;
	/* This node's name: endpoints with it as nodeName are local (traffic
	 * policies Local, health-check node ports). NULL or "": none is. */
	const char *node_name;
	/* Node ports (and health-check node ports) must lie in [min, max];
	 * 0, 0: any. */
	uint32_t node_port_min, node_port_max;
	/* Interfaces the dataplane was attached to while it was chosen,
	 * before the core existed (node/node.c). */
	const struct xlb_iface *attached;
	size_t n_attached;
};

int xlb_core_new(const struct xlb_core_opts *o, struct xlb_core **out, char *err, size_t errlen);
void xlb_core_free(struct xlb_core *c);

/* The compaction of the journal without the core lock, by a persist
 * thread (core_persist.c says how): started here, it inherits the calling
 * thread's capabilities (it needs none: files in the state directory).
 * Until it runs, and without a state directory, compactions happen under
 * the lock. 0 or a negative errno. */
int xlb_core_persist_start(struct xlb_core *c);

/* Each step of a compaction, for tests: */
enum xlb_snap_step {
	XLB_SNAP_STARTED,	/* the copy taken; nothing written */
	XLB_SNAP_STAGED,	/* the state file written and synced, not renamed */
	XLB_SNAP_COMMITTED,	/* renamed into place; the new journal not yet */
	XLB_SNAP_COPIED,	/* the new journal written beside the old, synced */
	XLB_SNAP_DONE,		/* the new journal in place, the old retired */
};
/* Called by the persist thread at each step, without the core lock; may
 * block, or end the process (a crash there). NULL: none. */
typedef void (*xlb_snap_hook)(void *arg, enum xlb_snap_step step);
void xlb_core_set_snap_hook(struct xlb_core *c, xlb_snap_hook fn, void *arg);
/* Compact as when the journal outgrows the snapshot; wait: until the
 * state file and journal are in place. 0, -EBUSY (one is being written),
 * -ENOENT (no state file, or no usable journal: a change writes the state
 * file under the lock then), or the error of writing it. */
int xlb_core_compact(struct xlb_core *c, bool wait);

/* The node's side of the dataplane: once the core exists, it is the only
 * caller of the dataplane, under its lock (the node's link watcher runs on
 * xlbd's loop thread, API writes on gRPC's). */
/* Attach the datapath to an interface; 0 when it already is. */
int xlb_core_attach(struct xlb_core *c, const char *ifname, int ifindex, char *err,
		    size_t errlen);
/* tc on the host end of a pod's veth (never XDP); 0 when it already is. */
int xlb_core_pod_attach(struct xlb_core *c, const char *ifname, char *err, size_t errlen);
/* The interface went away (the kernel detached the programs with it). */
void xlb_core_link_gone(struct xlb_core *c, int ifindex);
/* Socket-level balancing for the sockets of cgroup2 directory cgroup and
 * below, or none (cgroup NULL: detach what is attached). */
int xlb_core_socket_lb(struct xlb_core *c, const char *cgroup, char *err, size_t errlen);
/* NodePort answers on ip (add) or no longer (!add). Logs its failures. */
int xlb_core_node_addr(struct xlb_core *c, const struct xlb_ip *ip, bool add);
/* A route, neighbour or link MTU changed: the dataplane re-resolves its
 * cached next hops (XDP's be_nh) on their next packet; counted in status.
 * Logs its failures. */
void xlb_core_nexthops_stale(struct xlb_core *c);
/* How many interfaces the datapath is attached to. */
size_t xlb_core_interfaces(struct xlb_core *c);
/* Health checks (core/health_feed.c) feed the core. */
/* Display only: a listing's last probe result and latency of an endpoint
 * (fills st->last_result, st->last_latency_us). Called with the core lock
 * held; must not call the core. */
struct xlb_health_source {
	void (*report)(void *arg, const char *service, const struct xlb_endpoint *ep,
		       struct xlb_endpoint_status *st);
};

/* Health checking runs from now on: verdicts decide which endpoints the
 * datapath uses. panic_threshold: share in [0, 1] (0: off); tcp_probe:
 * how TCP probes are made ("half-open" | "connect"), for status. */
void xlb_core_health_start(struct xlb_core *c, double panic_threshold, const char *tcp_probe,
			   const struct xlb_health_source *ops, void *arg);
/* No more report calls once this returns (the verdicts stay). */
void xlb_core_health_stop(struct xlb_core *c);

/* One endpoint's verdict, as a health check reached it. */
struct xlb_ep_verdict_in {
	struct xlb_ip addr;
	uint32_t port;
	enum xlb_ep_health health;	/* UNKNOWN, HEALTHY or UNHEALTHY */
	int64_t transition_ms;		/* unix ms of its last transition; 0: never */
	char why[128];			/* a transition: the event's detail; "": none */
};

/* Verdicts on service's endpoints, as updates: the datapath follows at
 * once (an UNHEALTHY endpoint is left out unless the service is in panic
 * mode), events go out for transitions and panic flips. whole: v is every
 * checked endpoint of the service (verdicts of others are forgotten; n 0:
 * the service is not checked any more); else only these changed. 0, or a
 * negative errno (the datapath refused: logged). */
int xlb_core_health_update(struct xlb_core *c, const char *service,
			   const struct xlb_ep_verdict_in *v, size_t n, bool whole);

/* The desired service called name (NULL: every one, in name order), to cb
 * under the core lock (cb must not call the core). -ENOENT when there is
 * none of that name; else 0 or cb's first non-zero return. */
int xlb_core_get(struct xlb_core *c, const char *name,
		 int (*cb)(const struct xlb_svc_desired *s, void *arg), void *arg);
/* Told what the core does, for metrics: one reconcile pass took seconds
 * (called with the core lock held); a change was acknowledged seconds
 * after it arrived (datapath and journal have it). Any member may be NULL;
 * both must return at once and not call the core. */
struct xlb_core_observer {
	void (*reconcile)(void *arg, double seconds);
	void (*change)(void *arg, double seconds);
};

/* o NULL: none. Waits for a call in progress, so arg may go once this
 * returns with another observer (or none). */
void xlb_core_set_observer(struct xlb_core *c, const struct xlb_core_observer *o, void *arg);

/* Periodic work: conntrack GC; a datapath out of step with the desired
 * state (a refused change could not be undone) is reconciled whole. */
void xlb_core_tick(struct xlb_core *c);

/* Is the datapath in step with the desired state, and when was it last
 * known to be (Unix ms)? What the node's /healthz reports. */
void xlb_core_in_step(struct xlb_core *c, bool *in_step, int64_t *last_ms);

/* Each service with a health-check node port, to cb under the core lock
 * (cb must not call the core): the service and the distinct addresses of
 * its ready local endpoints (xlb_svc_local_ready: the health verdicts
 * count). 0 or cb's first non-zero return. */
int xlb_core_hc_ports(struct xlb_core *c,
		      int (*cb)(const struct xlb_svc_desired *s, const struct xlb_ip *addrs,
				size_t n, void *arg),
		      void *arg);

/* Work the dataplane asks of the main thread (dataplane.h, upkeep):
 * xlb_core_upkeep_fd becomes readable when there is some (-1: never), and
 * the main thread then calls xlb_core_upkeep. */
int xlb_core_upkeep_fd(struct xlb_core *c);
void xlb_core_upkeep(struct xlb_core *c);

#endif /* XLB_CORE_PRIV_H */
