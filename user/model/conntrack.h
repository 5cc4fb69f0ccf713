/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Conntrack as user space sees it: an entry as listed to people, and
 * lifetimes: how long an idle entry lives, by protocol and TCP state.
 * Closed flows go first, so a busy node keeps room for live ones. Defaults
 * follow Cilium's and Linux conntrack's orders of magnitude.
 */
#ifndef XLB_MODEL_CONNTRACK_H
#define XLB_MODEL_CONNTRACK_H

#include <stdbool.h>
#include <stdint.h>
#include <xlb/abi.h>
#include "model/model.h"

/* A conntrack entry as listed to people: one direction of a flow, as its
 * packets carry it (a flow not established yet is listed once, forward,
 * in state new). Ports in host order. */
struct xlb_ct_entry {
	struct xlb_ip src, dst;
	uint16_t sport, dport;
	uint8_t proto;
	uint8_t dir;		/* enum xlb_ct_dir */
	uint8_t state;		/* enum xlb_ct_state */
	uint32_t svc_id;
	uint32_t backend_id;
	uint32_t age;		/* seconds since created */
	uint32_t idle;		/* seconds since last packet */
};

struct xlb_ct_timeouts {
	uint32_t tcp_syn;	/* NEW: handshake not finished (60 s) */
	uint32_t tcp_est;	/* ESTABLISHED (6 h) */
	uint32_t tcp_closing;	/* FIN seen one way (120 s) */
	uint32_t tcp_closed;	/* RST, or FIN both ways (10 s) */
	uint32_t udp;		/* any UDP flow (120 s) */
};

extern const struct xlb_ct_timeouts xlb_ct_default_timeouts;

/* Lifetime in seconds of an idle entry (proto: IPPROTO_*; state: enum
 * xlb_ct_state). */
uint32_t xlb_ct_lifetime(const struct xlb_ct_timeouts *t, uint8_t proto, uint8_t state);
bool xlb_ct_expired(const struct xlb_ct_timeouts *t, uint8_t proto, uint8_t state,
		    uint32_t idle);

#endif /* XLB_MODEL_CONNTRACK_H */
