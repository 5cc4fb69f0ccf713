/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xlb-k8s's core: Services and EndpointSlices as the watches report them,
 * converted one object at a time by the manifest reader's rules
 * (k8s/object.h), and sent to xlbd over the Sync stream: a snapshot after
 * every (re)list and every (re)connection, deltas otherwise, each acked.
 *
 * A Service that cannot be converted or that xlbd refuses is left out (it
 * is removed from xlbd if it was there), logged once per change as an
 * event ("Warning Rejected Service NS/NAME: why") and counted; the others
 * go on. Only what changed is sent: each xlb service sent is remembered by
 * a hash of its message.
 */
#ifndef XLB_FEEDER_H
#define XLB_FEEDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feeder/watch.h"
#include "k8s/manifest.h"
#include "model/state.h"

struct xlb_api_client;
struct xlb_feeder;

struct xlb_feeder_stats {
	uint64_t services, slices, endpoints;	/* objects held (converted) */
	uint64_t rejected_total[2];		/* [0] Service, [1] EndpointSlice */
	uint64_t rejected_now;			/* Services left out now */
	uint64_t snapshots, deltas, sync_errors;
	uint64_t xlbd_version;
	bool connected;				/* the last Sync was answered */
};

/* opts (copied; its strings must outlive f): which Services are ours. */
int xlb_feeder_new(const struct xlb_k8s_opts *opts, struct xlb_feeder **out);
void xlb_feeder_free(struct xlb_feeder *f);

/* The watch callbacks, arg = the feeder. */
extern const struct xlb_kube_ops xlb_feeder_service_ops;
extern const struct xlb_kube_ops xlb_feeder_slice_ops;

/* Send what is pending on c (snapshot or deltas). Returns 0 when xlbd is in
 * step (or nothing was due), or a negative errno when the stream failed:
 * then the next call reconnects and sends a snapshot. ready: every watch
 * has listed once (before that nothing is sent: a half snapshot would
 * delete the rest). */
int xlb_feeder_sync(struct xlb_feeder *f, struct xlb_api_client *c, bool ready);
/* When idle: an empty delta, so that a lost xlbd is noticed (and given a
 * snapshot once back) without waiting for the next change. */
int xlb_feeder_ping(struct xlb_feeder *f, struct xlb_api_client *c);
bool xlb_feeder_pending(const struct xlb_feeder *f);
/* This node as its Node object says (name, zone, addresses): sent to xlbd
 * with the next sync when it changed, and with every snapshot. */
void xlb_feeder_set_node(struct xlb_feeder *f, const struct xlb_node_info *n);
/* A snapshot at the next sync (after a relist). */
void xlb_feeder_want_snapshot(struct xlb_feeder *f);
void xlb_feeder_stats(const struct xlb_feeder *f, struct xlb_feeder_stats *st);

/* Sync latency: from the first event that made a Service dirty to xlbd's
 * acknowledgement, in seconds; observed into a histogram the metrics show. */
struct xlb_hist;
extern struct xlb_hist xlb_feeder_latency;

#endif /* XLB_FEEDER_H */
