/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Health checks fed to the core: the probe engine (user/health) runs on
 * xlbd's loop thread over every endpoint of the services that have a
 * health check (its targets follow the core's events), and its verdicts
 * enter the core as updates. One walk, from a probe to the map write:
 *
 *   hc_probe_done (health.c) -> xlb_hc_state_feed (verdict.c): a transition
 *   -> on_change (here, after the dispatch's I/O) -> xlb_health_feed_dispatch
 *   -> xlb_core_health_update (core.c): verdict recorded, panic recounted
 *   -> xlb_reconcile_names -> xlb_svc_backends (model/state.c), which asks
 *   xlb_verdicts_usable (model/verdicts.c) -> xlb_dp_service_write.
 *
 * After the targets of a service change, its verdicts are sent whole (a
 * new target starts UNKNOWN). The core asks this module for nothing but a
 * listing's last probe result and latency.
 *
 * Locking: this module never calls the core while holding its own lock
 * (the core calls the report hook with its lock held).
 */
#ifndef XLB_HEALTH_FEED_H
#define XLB_HEALTH_FEED_H

#include "core.h"
#include "health/health.h"

struct xlb_health_feed;

/* panic_threshold: share in [0, 1]; 0 = panic mode off. tcp_mode: how TCP
 * probes are made (health.h); -EPERM when HALF_OPEN cannot be had. */
int xlb_health_feed_new(struct xlb_core *core, double panic_threshold,
		       enum xlb_health_tcp_mode tcp_mode, struct xlb_health_feed **out);
/* Readable when xlb_health_feed_dispatch() has work (probes, or targets to
 * refresh after a desired-state change). */
/* Where exec probes run (health/sandbox.h); NULL, the default: off. The
 * caller frees it after xlb_health_feed_free(). */
struct xlb_sandbox;
void xlb_health_feed_set_sandbox(struct xlb_health_feed *w, struct xlb_sandbox *sb);
int xlb_health_feed_fd(struct xlb_health_feed *w);
void xlb_health_feed_dispatch(struct xlb_health_feed *w);
void xlb_health_feed_free(struct xlb_health_feed *w);

#endif /* XLB_HEALTH_FEED_H */
