/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xlb-k8s's own HTTP port: /metrics (Prometheus text), /healthz (the main
 * loop turned within the last minute) and /readyz (every watch listed and
 * xlbd in step). Served by libmicrohttpd's thread from a copy of the
 * numbers that the main loop publishes after each turn.
 */
#ifndef XLB_FEEDER_FMETRICS_H
#define XLB_FEEDER_FMETRICS_H

#include "feeder/feeder.h"
#include "feeder/watch.h"

#define XLB_FEEDER_MAX_WATCHES 4

struct xlb_feeder_view {
	struct xlb_feeder_stats f;
	size_t n_watch;
	char watch_name[XLB_FEEDER_MAX_WATCHES][32];
	struct xlb_kube_stats watch[XLB_FEEDER_MAX_WATCHES];
	char node[256], zone[64];
	uint64_t turn_ms;		/* the loop's last turn */
};

struct xlb_fmetrics;

/* listen: "ADDR:PORT" ("[v6]:PORT", ":PORT" for all addresses). */
int xlb_fmetrics_start(const char *listen, struct xlb_fmetrics **out, char *err,
		       size_t errlen);
void xlb_fmetrics_publish(struct xlb_fmetrics *m, const struct xlb_feeder_view *v);
void xlb_fmetrics_stop(struct xlb_fmetrics *m);

#endif /* XLB_FEEDER_FMETRICS_H */
