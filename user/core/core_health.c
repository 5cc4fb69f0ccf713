// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Health verdicts coming into the core (from core/health_feed.c), and
 * what a listing shows of them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "core_int.h"

void xlb_core_health_start(struct xlb_core *c, double panic_threshold, const char *tcp_probe,
			   const struct xlb_health_source *ops, void *arg)
{
	pthread_mutex_lock(&c->lock);
	c->health.on = true;
	c->health.panic_threshold = panic_threshold;
	snprintf(c->tcp_probe, sizeof(c->tcp_probe), "%s", tcp_probe ? tcp_probe : "");
	c->hs = ops;
	c->hs_arg = arg;
	pthread_mutex_unlock(&c->lock);
}

void xlb_core_health_stop(struct xlb_core *c)
{
	pthread_mutex_lock(&c->lock);
	c->hs = NULL;
	c->hs_arg = NULL;
	pthread_mutex_unlock(&c->lock);
}

/* Health verdicts enter here, as updates: recorded, the service's panic
 * mode recounted, the service reconciled when an endpoint's usability or
 * the panic mode changed, events for transitions and panic flips. */
int xlb_core_health_update(struct xlb_core *c, const char *service,
			   const struct xlb_ep_verdict_in *v, size_t n, bool whole)
{
	const struct xlb_svc_desired *s;
	struct xlb_reconcile_result res;
	struct xlb_ep_verdict_key *keep = NULL;
	bool changed = false;
	struct evq q = {};
	int ret = 0;

	if (whole && !(keep = calloc(n ? n : 1, sizeof(*keep))))
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	s = xlb_state_get(c->st, service);
	if (whole) {
		for (size_t i = 0; i < n; i++) {
			keep[i].addr = v[i].addr;
			keep[i].port = v[i].port;
		}
		changed = xlb_verdicts_forget(&c->health, service, keep, n) > 0;
	}
	for (size_t i = 0; s && i < n; i++) {
		int r = xlb_verdicts_set(&c->health, service, &v[i].addr, v[i].port, v[i].health,
					 v[i].transition_ms);

		if (r < 0)
			ret = r;
		changed |= r > 0;
		if (v[i].why[0]) {
			core_evq_add(&q, XLB_EV_ENDPOINT_HEALTH, xlb_state_version(c->st), service,
				v[i].why);
			if (q.n)
				xlb_ip_port_str(&v[i].addr, v[i].port, q.ev[q.n - 1].endpoint,
						sizeof(q.ev[0].endpoint));
		}
	}
	if (s) {
		size_t before = q.n;

		core_panic_recount(c, service, s, xlb_state_version(c->st), &q);
		changed |= q.n > before;
	} else {
		xlb_verdicts_forget(&c->health, service, NULL, 0);
	}
	if (s && changed && !c->hold_reconcile &&
	    xlb_reconcile_names(&c->rec, c->st, &service, 1, &res)) {
		pr_err("health: re-applying %s: %s", service, res.first_error);
		ret = -EIO;
	}
	core_evq_ticket(c, &q);
	pthread_mutex_unlock(&c->lock);
	core_evq_flush(c, &q);
	free(keep);
	return ret;
}
