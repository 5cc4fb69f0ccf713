/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Health checks wired into xlbd: the probe engine (user/health) runs on
 * xlbd's loop thread; its verdicts decide which endpoints the datapath
 * uses. An endpoint is left out when its probe says UNHEALTHY (UNKNOWN, a
 * probe not yet concluded, counts as usable so a new service is not
 * black-holed) unless its service is in panic mode: fewer than
 * panic_threshold of its probed endpoints healthy, then all are used.
 *
 * Locking: the core may call the source functions with its lock held;
 * this module never calls the core while holding its own lock.
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
