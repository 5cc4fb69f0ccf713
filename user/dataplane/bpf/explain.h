/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flow explainer: which service a packet matches, and which backend the
 * XDP datapath would give it and why, read from the live pinned maps with
 * the datapath's own rules (same hash, same slot arithmetic). Read-only:
 * opens the pinned maps, loads nothing, changes nothing.
 */
#ifndef XLB_EXPLAIN_H
#define XLB_EXPLAIN_H

#include <stdbool.h>
#include <stdint.h>
#include "model/model.h"

#define XLB_EXPLAIN_MAX_CPUS 512

enum xlb_explain_kind {
	XLB_EXPLAIN_NOT_SERVICE = 0,	/* passed to the stack untouched */
	XLB_EXPLAIN_EXISTING_FLOW,	/* conntrack pins it to a backend */
	XLB_EXPLAIN_REPLY,		/* a reply: reverse NAT to the service address */
	XLB_EXPLAIN_AFFINITY,		/* ClientIP affinity entry */
	XLB_EXPLAIN_HASH,		/* sh: Maglev slot of the source hash */
	XLB_EXPLAIN_SEQUENCE,		/* rr/wrr: next slot of this CPU's sequence */
	XLB_EXPLAIN_NO_BACKEND,		/* TCP reset / ICMP unreachable */
	XLB_EXPLAIN_RESET,		/* existing flow whose backend is gone: reset */
};

struct xlb_explain {
	enum xlb_explain_kind kind;
	bool service;			/* a service matched */
	bool via_node_port;
	uint32_t svc_id;
	uint8_t algo;
	uint32_t slots, sel_base, aff_timeout;
	uint32_t hash, slot;		/* XLB_EXPLAIN_HASH */
	uint32_t backend_id;
	struct xlb_ip backend;
	uint16_t backend_port;
	uint8_t backend_state;
	char ct_state[16];		/* existing flow / reply */
	uint32_t ct_idle;
	int ncpus;			/* XLB_EXPLAIN_SEQUENCE: per-CPU choice */
	uint32_t cpu_slot[XLB_EXPLAIN_MAX_CPUS];
	uint32_t cpu_backend[XLB_EXPLAIN_MAX_CPUS];
	char why[512];			/* one paragraph for people */
};

/* 0, or a negative errno with err set (e.g. nothing pinned at pin_dir). */
int xlb_explain(const char *pin_dir, const struct xlb_ip *src, uint16_t sport,
		const struct xlb_ip *dst, uint16_t dport, uint8_t proto,
		struct xlb_explain *out, char *err, size_t errlen);
const char *xlb_explain_kind_name(enum xlb_explain_kind k);

#endif /* XLB_EXPLAIN_H */
