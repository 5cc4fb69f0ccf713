// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdio.h>

#include "health/verdict.h"

const char *xlb_health_verdict_name(enum xlb_health_verdict v)
{
	switch (v) {
	case XLB_HV_UNKNOWN:
		return "unknown";
	case XLB_HV_HEALTHY:
		return "healthy";
	case XLB_HV_UNHEALTHY:
		return "unhealthy";
	}
	return "?";
}

void xlb_hc_state_init(struct xlb_hc_state *s)
{
	s->verdict = XLB_HV_UNKNOWN;
	s->run = 0;
	s->last_ok = false;
}

bool xlb_hc_state_feed(struct xlb_hc_state *s, bool ok, uint32_t success_threshold,
		       uint32_t failure_threshold)
{
	enum xlb_health_verdict want = ok ? XLB_HV_HEALTHY : XLB_HV_UNHEALTHY;
	uint32_t thr = ok ? success_threshold : failure_threshold;

	if (s->run && s->last_ok == ok) {
		if (s->run < UINT32_MAX)
			s->run++;
	} else {
		s->run = 1;
		s->last_ok = ok;
	}
	/* The run restarts at every flip of the result, so it reaches the
	 * threshold exactly once per streak: the transition's run is the
	 * threshold. */
	if (s->verdict != want && s->run >= (thr ? thr : 1)) {
		s->verdict = want;
		return true;
	}
	return false;
}

int xlb_hc_reason(char *buf, size_t len, const struct xlb_hc_state *s, const char *result)
{
	const char *what;

	if (s->run == 1)
		what = s->last_ok ? "success" : "failure";
	else
		what = s->last_ok ? "consecutive successes" : "consecutive failures";
	return snprintf(buf, len, "%u %s: %s", s->run, what, result ? result : "");
}

int64_t xlb_hc_start_time(int64_t due, int64_t period)
{
	int64_t grid = period / 128;

	if (grid > XLB_HC_START_SLACK_US)
		grid = XLB_HC_START_SLACK_US;
	if (grid <= 1)
		return due;
	return (due + grid - 1) / grid * grid;
}

int64_t xlb_hc_next(int64_t *due, int64_t period, int64_t now)
{
	int64_t next = *due + period;

	if (next <= now) {
		*due = next + (now - next) / period * period;	/* the kept tick */
		return now;
	}
	*due = next;
	return xlb_hc_start_time(next, period);
}
