/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A flow explained: which service a packet (or a connect()) matches, and
 * which backend the datapath would give it and why, for one of its hooks:
 * XDP on a NIC, tc on a pod veth (its own flow table), the socket programs
 * (no flow table; the client is a network namespace). The BPF dataplane
 * fills it from its live maps with the datapath's own rules
 * (dataplane/bpf/explain.c); xlbd serves it (xlb_core_explain, the API's
 * Explain).
 */
#ifndef XLB_MODEL_EXPLAIN_H
#define XLB_MODEL_EXPLAIN_H

#include <stdbool.h>
#include <stdint.h>
#include "model/model.h"

enum xlb_explain_kind {
	XLB_EXPLAIN_NOT_SERVICE = 0,	/* passed to the stack untouched */
	XLB_EXPLAIN_EXISTING_FLOW,	/* conntrack pins it to a backend */
	XLB_EXPLAIN_REPLY,		/* a reply: reverse NAT to the service address */
	XLB_EXPLAIN_AFFINITY,		/* ClientIP affinity entry */
	XLB_EXPLAIN_HASH,		/* sh: Maglev slot of the source hash */
	XLB_EXPLAIN_SEQUENCE,		/* rr/wrr: slot of the 5-tuple's hash */
	XLB_EXPLAIN_NO_BACKEND,		/* TCP reset / ICMP unreachable */
	XLB_EXPLAIN_RESET,		/* existing flow whose backend is gone: reset */
	XLB_EXPLAIN_SOURCE_RANGE,	/* outside loadBalancerSourceRanges: dropped */
	XLB_EXPLAIN_NO_LOCAL,		/* externalTrafficPolicy Local, no local
					 * endpoint: dropped */
};

enum xlb_explain_hook {
	XLB_EXPLAIN_XDP = 0,		/* a packet arriving on a NIC */
	XLB_EXPLAIN_POD,		/* a packet leaving a pod (tc on its veth) */
	XLB_EXPLAIN_SOCKET,		/* a connect()/sendto() of the node or a pod */
};

struct xlb_explain_req {
	enum xlb_explain_hook hook;
	struct xlb_ip src;		/* the client (the socket hook does not use it) */
	uint16_t sport;
	struct xlb_ip dst;		/* a service address, or a node address */
	uint16_t dport;
	uint8_t proto;
	uint64_t netns_cookie;		/* socket hook: the client's network namespace */
};

/* "xdp", "pod", "socket" -> hook; -EINVAL otherwise. */
int xlb_explain_hook_parse(const char *s, enum xlb_explain_hook *out);

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
	char why[512];			/* one paragraph for people */
	char note[256];			/* "" or a caveat of the hook */
};

const char *xlb_explain_kind_name(enum xlb_explain_kind k);
/* "free", "active", "terminating" (enum xlb_be_state) */
const char *xlb_backend_state_name(uint8_t state);

#endif /* XLB_MODEL_EXPLAIN_H */
