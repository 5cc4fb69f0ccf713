/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The per-target verdict machine and probe schedule: pure, no I/O. Kubernetes readiness
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

/*
 * The schedule, pure as well; times in microseconds. A probe that was due
 * at *due is over at now: *due becomes when the next one is due, and the
 * return value when to start it.
 *
 * The schedule keeps its phase: the next probe is due one period after the
 * last one was due. A probe that overran its period is followed at once by
 * one more, and the periods after that are skipped: kubelet's worker reads
 * a Go time.Ticker, whose channel keeps one tick and drops the rest. So a
 * backend that stopped answering is probed back to back when the timeout
 * equals the period, and is detected within period x failureThreshold +
 * one period. Never is a probe due sooner than a period after the last.
 */
int64_t xlb_hc_next(int64_t *due, int64_t period, int64_t now);

/*
 * When a probe due at due starts: a little later, on a grid of 1/128 of
 * the period (at most XLB_HC_START_SLACK_US), so the probes of many
 * targets share one wakeup and one timerfd re-arm instead of each taking
 * its own: 10,000 targets at 1 s come to ~200 wakeups a second, not 10,000.
 * Timeouts are not rounded.
 */
#define XLB_HC_START_SLACK_US 8000
int64_t xlb_hc_start_time(int64_t due, int64_t period);

#endif /* XLB_HEALTH_VERDICT_H */
