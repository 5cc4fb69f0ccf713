/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Reconciler: brings a dataplane to the desired state with the fewest
 * operations. It remembers what it applied (seeded from the dataplane's own
 * listing at start, so an adopted datapath is not rewritten), skips services
 * that did not change, and orders the rest so no step conflicts with one
 * still to come: deletions first, then updates, then creations.
 *
 * Whole (xlb_reconcile: start-up, snapshots) or for a few named services
 * (xlb_reconcile_names: a delta costs the size of the delta).
 */
#ifndef XLB_RECONCILE_H
#define XLB_RECONCILE_H

#include "model/state.h"
#include "dataplane/dataplane.h"
#include "util/htab.h"

struct xlb_reconciler {
	struct xlb_dp *dp;
	struct xlb_htab applied;	/* (vip, port, proto) -> struct applied_svc */
	struct xlb_htab by_name;	/* desired service -> what was applied for it */
	/* The datapath may hold something no desired service accounts for
	 * (adopted at start, or a failed step): only a whole reconcile that
	 * succeeds clears this. While set, reconcile whole. */
	bool dirty;
	/* Health verdicts (the core's): which endpoints are left out. NULL:
	 * none are. */
	const struct xlb_verdicts *health;
	/* This node's name (EndpointSlice nodeName), for traffic policies;
	 * NULL: no endpoint is local. */
	const char *node;
	/* This node's zone, for topology hints (xlb_svc_topology); NULL or
	 * "": none. */
	const char *zone;
};

struct xlb_reconcile_result {
	uint32_t created, updated, deleted, unchanged, failed;
	char first_error[256];
};

int xlb_reconciler_init(struct xlb_reconciler *r, struct xlb_dp *dp);
void xlb_reconciler_fini(struct xlb_reconciler *r);
/* Apply the whole desired state. 0 when every operation succeeded,
 * else the first error (the rest is still attempted). */
int xlb_reconcile(struct xlb_reconciler *r, const struct xlb_state *st,
		  struct xlb_reconcile_result *res);
/* Apply the named services only: those changed, created or deleted in st
 * since the last reconcile (a name may repeat), together with what they
 * displaced: the datapath keys they held before are freed first, or taken
 * over by the service that holds them now. Same order and retry as
 * xlb_reconcile; the rest of the datapath is not looked at. Returns the
 * same way. */
int xlb_reconcile_names(struct xlb_reconciler *r, const struct xlb_state *st,
			const char *const *names, size_t n, struct xlb_reconcile_result *res);

#endif /* XLB_RECONCILE_H */
