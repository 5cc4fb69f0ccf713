/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Health verdicts as the datapath uses them: per endpoint of a service,
 * the last verdict its health check reached, and per service whether it
 * is in panic mode. The core owns one table and changes it when verdicts
 * come in (xlb_core_health_update); the reconciler reads it through
 * xlb_svc_backends. No I/O, no threads: the core's lock covers it.
 *
 * An endpoint is usable unless its verdict is UNHEALTHY (UNKNOWN, a check
 * not yet concluded, counts as usable so a new service is not black-holed)
 * or its service is in panic mode: fewer than panic_threshold of its
 * checked endpoints usable, then all of them are used.
 */
#ifndef XLB_MODEL_VERDICTS_H
#define XLB_MODEL_VERDICTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/state.h"
#include "util/htab.h"

enum xlb_ep_health {
	XLB_HEALTH_UNCHECKED = 0,	/* no health check configured */
	XLB_HEALTH_UNKNOWN = 1,		/* checked, no verdict yet */
	XLB_HEALTH_HEALTHY = 2,
	XLB_HEALTH_UNHEALTHY = 3,
};

struct xlb_verdicts {
	bool on;			/* health checking runs; off: every endpoint usable */
	double panic_threshold;		/* share in [0, 1]; 0: no panic mode */
	struct xlb_htab eps;		/* (service, addr, port) -> struct xlb_ep_verdict */
	struct xlb_htab panic;		/* service name -> its panic entry (only while in panic) */
};

struct xlb_ep_verdict_key {
	char service[128];
	struct xlb_ip addr;
	uint32_t port;
};

struct xlb_ep_verdict {
	struct xlb_ep_verdict_key key;
	enum xlb_ep_health health;
	int64_t transition_ms;		/* unix ms of the last transition; 0: never */
};

void xlb_verdicts_init(struct xlb_verdicts *v);
void xlb_verdicts_fini(struct xlb_verdicts *v);
/* The verdict of service's endpoint addr:port; NULL: none (UNKNOWN). */
const struct xlb_ep_verdict *xlb_verdicts_get(const struct xlb_verdicts *v, const char *service,
					      const struct xlb_ip *addr, uint32_t port);
/* Record a verdict. Returns 1 when the endpoint's usability may have
 * changed (its health did), 0 when not, -ENOMEM. */
int xlb_verdicts_set(struct xlb_verdicts *v, const char *service, const struct xlb_ip *addr,
		     uint32_t port, enum xlb_ep_health health, int64_t transition_ms);
/* Forget service's verdicts, all of them and its panic mode (keep NULL),
 * or those of the endpoints keep[i] does not name. Returns how many
 * verdicts were forgotten. */
size_t xlb_verdicts_forget(struct xlb_verdicts *v, const char *service,
			   const struct xlb_ep_verdict_key *keep, size_t n_keep);
bool xlb_verdicts_panic(const struct xlb_verdicts *v, const char *service);
/* Recount s (its current endpoints) for panic mode. Returns true when its
 * panic mode flipped; *healthy, *checked: the counts (may be NULL). */
bool xlb_verdicts_recount(struct xlb_verdicts *v, const struct xlb_svc_desired *s,
			  uint32_t *healthy, uint32_t *checked);
/* Whether s's endpoint ep takes new flows as far as health goes. v may be
 * NULL (no health checking). */
bool xlb_verdicts_usable(const struct xlb_verdicts *v, const struct xlb_svc_desired *s,
			 const struct xlb_endpoint *ep);

#endif /* XLB_MODEL_VERDICTS_H */
