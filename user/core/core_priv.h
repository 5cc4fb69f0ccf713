/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Creating the core (for xlbd's main only). */
#ifndef XLB_CORE_PRIV_H
#define XLB_CORE_PRIV_H

#include "core.h"
#include "dataplane/dataplane.h"

struct xlb_core_opts {
	struct xlb_dp *dp;		/* owned by the caller, outlives the core */
	const char *state_dir;		/* NULL or "": no state file */
	const char *dp_name;		/* "xdp" | "ipvs" */
	const char *dp_reason;
	bool allow_exec_probes;		/* false: exec health checks are refused */
};

int xlb_core_new(const struct xlb_core_opts *o, struct xlb_core **out, char *err, size_t errlen);
void xlb_core_free(struct xlb_core *c);
void xlb_core_set_interfaces(struct xlb_core *c, const char *const *names, size_t n);
/* Where endpoint health comes from (xlbd's health wiring). The core calls
 * these with its lock held; they must not call back into the core. */
struct xlb_health_source {
	/* false: leave the endpoint out of the datapath (its flows are reset) */
	bool (*usable)(void *arg, const char *service, const struct xlb_endpoint *ep);
	/* fill st's health, last_result, last_latency_us, last_transition_ms */
	void (*report)(void *arg, const char *service, const struct xlb_endpoint *ep,
		       struct xlb_endpoint_status *st);
	bool (*panic)(void *arg, const char *service);
	/* how TCP probes are made: "half-open" | "connect" */
	const char *(*tcp_probe)(void *arg);
};

/* ops NULL: no health checking (every endpoint unchecked and usable). */
void xlb_core_set_health_source(struct xlb_core *c, const struct xlb_health_source *ops,
				void *arg);
/* The desired service called name, to cb under the core lock (cb must not
 * call the core). -ENOENT when there is none. */
int xlb_core_get(struct xlb_core *c, const char *name,
		 int (*cb)(const struct xlb_svc_desired *s, void *arg), void *arg);
/* Re-apply these services to the datapath (their health changed). */
int xlb_core_refresh(struct xlb_core *c, const char *const *names, size_t n);
/* Publish an event (health transitions, panic) to API watchers. */
void xlb_core_emit(struct xlb_core *c, const struct xlb_event *ev);

/* Periodic work: conntrack GC. */
void xlb_core_tick(struct xlb_core *c);

#endif /* XLB_CORE_PRIV_H */
