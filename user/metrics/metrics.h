/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xlbd's Prometheus metrics: `xlbd --metrics ADDR:PORT` serves them over
 * plain HTTP (GET /metrics; anything else 404) from a thread of its own.
 * Each scrape is built from the core as it is then (xlb_core_status,
 * xlb_core_list, a bounded conntrack scan) plus what the core feeds in
 * between, through its observer hook (the reconcile and change latency
 * histograms) and its events (health transitions).
 * docs: the metric families are listed in metrics.c's render().
 *
 * metrics.c keeps the fed state and renders (no HTTP); http.c serves
 * (libmicrohttpd).
 */
#ifndef XLB_METRICS_H
#define XLB_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/core_priv.h"

/* What the core feeds from xlb_metrics_new on: it becomes the core's
 * observer (xlb_reconcile_duration_seconds, one reconcile pass;
 * xlb_endpoint_change_latency_seconds, from the API receiving a change to
 * the datapath and the journal having it) and subscribes to its events
 * (xlb_health_transitions_total; a service's count is dropped with it). */
struct xlb_metrics;
int xlb_metrics_new(struct xlb_core *core, struct xlb_metrics **out);
/* Stops observing (waits for an observation or event in progress). */
void xlb_metrics_free(struct xlb_metrics *m);

#define XLB_METRICS_CT_SCAN_MAX 65536u	/* conntrack entries read per scrape */

struct xlb_metrics_opts {
	const char *version;		/* xlb_build_info's label; NULL: "unknown" */
	/* At most this many conntrack entries are read per scrape (the core
	 * lock is held meanwhile); 0: XLB_METRICS_CT_SCAN_MAX. Beyond it,
	 * xlb_conntrack_scan_truncated is 1 and the flow counts are lower
	 * bounds. */
	uint32_t ct_scan_max;
};

/* The whole exposition text, malloc'd (free it). 0 or a negative errno
 * (the core's, or -ENOMEM). */
int xlb_metrics_render(struct xlb_metrics *m, const struct xlb_metrics_opts *o, char **text,
		       size_t *len);

/* The HTTP server (http.c). listen: "HOST:PORT", "[V6]:PORT" or
 * ":PORT" (every address); port 0 picks one (logged). Watches the core's
 * events from here on. 0, or a negative errno with err naming the address
 * ("metrics listen 127.0.0.1:9100: Address already in use"). */
struct xlb_metrics_server;
int xlb_metrics_start(struct xlb_core *core, const char *listen,
		      const struct xlb_metrics_opts *o, struct xlb_metrics_server **out,
		      char *err, size_t errlen);
/* The port it listens on (useful with port 0). */
uint16_t xlb_metrics_port(const struct xlb_metrics_server *s);
/* Closes the listener, waits for a scrape in progress. NULL is fine. */
void xlb_metrics_stop(struct xlb_metrics_server *s);

#endif /* XLB_METRICS_H */
