/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xlbd's Prometheus metrics: `xlbd --metrics ADDR:PORT` serves them over
 * plain HTTP (GET /metrics; anything else 404) from a thread of its own.
 * Each scrape is built from the core as it is then (xlb_core_status,
 * xlb_core_list, a bounded conntrack scan) plus what the core and its
 * events feed in between: the histograms below and health transitions.
 * docs: the metric families are listed in metrics.c's render().
 *
 * metrics.c renders (no HTTP); http.c serves (libmicrohttpd). The
 * observe functions live in metrics.c so a program linking the core needs
 * no HTTP library.
 */
#ifndef XLB_METRICS_H
#define XLB_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* For the core. Thread-safe, cheap (one mutex), usable before and without
 * a metrics server: observations are kept from the first one on.
 *
 * One reconcile pass (desired state into the datapath), in seconds:
 * xlb_reconcile_duration_seconds. */
void xlb_metrics_observe_reconcile(double seconds);
/* An endpoint change, from the API receiving it to the datapath having it
 * applied, in seconds: xlb_endpoint_change_latency_seconds. */
void xlb_metrics_observe_change(double seconds);

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
int xlb_metrics_render(struct xlb_core *core, const struct xlb_metrics_opts *o, char **text,
		       size_t *len);

/* Counting xlb_health_transitions_total from the core's ENDPOINT_HEALTH
 * events (a service's count is dropped with it). Returns the subscription
 * id (> 0) or a negative errno. */
int xlb_metrics_watch(struct xlb_core *core);
void xlb_metrics_unwatch(struct xlb_core *core, int id);

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
