/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The per-target verdict machine: pure, no I/O. Kubernetes readiness
 * semantics (pkg/kubelet/prober/worker.go): the verdict moves only after a
 * run of threshold identical results; one result of the other kind starts a
 * new run.
 */
#ifndef XLB_HEALTH_VERDICT_H
#define XLB_HEALTH_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "health/health.h"

struct xlb_hc_state {
	enum xlb_health_verdict verdict;
	uint32_t run;		/* consecutive results equal to last_ok (saturates) */
	bool last_ok;
};

/* A fresh target: UNKNOWN, no run. */
void xlb_hc_state_init(struct xlb_hc_state *s);

/* Feed one probe result. Thresholds of 0 count as 1. Returns true when the
 * verdict changed; s->run is then exactly the threshold that was met. */
bool xlb_hc_state_feed(struct xlb_hc_state *s, bool ok, uint32_t success_threshold,
		       uint32_t failure_threshold);

/* The reason for a transition: "3 consecutive failures: <result>" or
 * "1 success: <result>". Returns the snprintf() length. */
int xlb_hc_reason(char *buf, size_t len, const struct xlb_hc_state *s, const char *result);

#endif /* XLB_HEALTH_VERDICT_H */
