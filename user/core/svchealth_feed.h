/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The core fed to the health-check node ports and /healthz
 * (user/svchealth): after every change the core announces (services,
 * endpoints, health verdicts), xlbd's loop recounts each health-check
 * node port's ready local endpoints (xlb_core_hc_ports) and hands the set
 * to the server, so the answer flips within the change that made it.
 * The ports of one Kubernetes Service share its health-check node port
 * and count their endpoints' addresses together, as kube-proxy does.
 *
 * The proxy is healthy while the datapath holds the desired state, or has
 * been out of step for less than a timeout (kube-proxy: an update pending
 * longer than healthTimeout).
 */
#ifndef XLB_SVCHEALTH_FEED_H
#define XLB_SVCHEALTH_FEED_H

#include <stdint.h>

#include "core_priv.h"

struct xlb_svchealth_feed;

/* healthz: "ADDR:PORT" of /healthz and /livez (NULL or "": none);
 * timeout_s: how long out of step still counts as healthy. */
int xlb_svchealth_feed_new(struct xlb_core *core, const char *healthz, uint32_t timeout_s,
			   struct xlb_svchealth_feed **out, char *err, size_t errlen);
/* Readable when xlb_svchealth_feed_dispatch() has a change to apply. */
int xlb_svchealth_feed_fd(struct xlb_svchealth_feed *f);
void xlb_svchealth_feed_dispatch(struct xlb_svchealth_feed *f);
/* Periodic: ports that could not be bound are tried again. */
void xlb_svchealth_feed_tick(struct xlb_svchealth_feed *f);
/* The port /healthz listens on (0: none). */
uint16_t xlb_svchealth_feed_healthz_port(struct xlb_svchealth_feed *f);
void xlb_svchealth_feed_free(struct xlb_svchealth_feed *f);

#endif /* XLB_SVCHEALTH_FEED_H */
