/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The model: services and backends as the rest of xlb sees them, and their
 * validation. No kernel calls here.
 */
#ifndef XLB_MODEL_H
#define XLB_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <xlb/abi.h>

/* An address with its family (XLB_AF_INET or XLB_AF_INET6). */
struct xlb_ip {
	uint8_t family;
	struct xlb_addr addr;
};

/* Limits of the model, for every gate that checks input (model.c's
 * validation, convert.c's protobuf fields). */
#define XLB_PORT_MAX		65535
#define XLB_WEIGHT_MAX		65535	/* the datapath stores __u16 */
#define XLB_AFFINITY_MAX	86400	/* Kubernetes' timeoutSeconds limit */

#define XLB_IP_STRLEN 46

/* Parse a dotted-quad IPv4 (or IPv6) literal. 0 or -EINVAL. */
int xlb_ip_parse(const char *s, struct xlb_ip *out);
/* Format into buf (at least XLB_IP_STRLEN). Returns buf. */
const char *xlb_ip_str(const struct xlb_ip *ip, char *buf, size_t len);
bool xlb_ip_equal(const struct xlb_ip *a, const struct xlb_ip *b);
#define XLB_IP_PORT_STRLEN (XLB_IP_STRLEN + 8)
/* "10.0.0.1:80" or "[fd00::1]:80", as people write them. Returns buf. */
const char *xlb_ip_port_str(const struct xlb_ip *ip, uint32_t port, char *buf, size_t len);
/* The reverse ("[fd00::1]:80" or "fd00::1:80" for IPv6); port 1..65535.
 * 0 or -EINVAL. */
int xlb_ip_port_parse(const char *s, struct xlb_ip *ip, uint16_t *port);
bool xlb_ip_is_zero(const struct xlb_ip *ip);

enum xlb_svc_type {
	XLB_SVC_CLUSTER_IP = 0,
	XLB_SVC_NODE_PORT = 1,
};

/* Ports and weights are wider than the wire so out-of-range input can be
 * represented and rejected rather than silently truncated. */
struct xlb_service_spec {
	char name[128];		/* free text, e.g. "default/web:http" */
	enum xlb_svc_type type;
	struct xlb_ip vip;	/* ClusterIP */
	uint32_t port;		/* 1..65535 */
	uint32_t node_port;	/* NodePort only: 1..65535 */
	uint8_t proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	enum xlb_algo algo;
	uint32_t affinity_timeout; /* seconds; 0 = no session affinity */
};

struct xlb_backend_spec {
	struct xlb_ip addr;
	uint32_t port;		/* 1..65535 */
	uint32_t weight;	/* 0 = drain (no new flows), max 65535 */
	bool terminating;	/* drain: existing flows continue, no new ones */
};

/* The datapath's identity of a service: (cluster IP, port, protocol), as a
 * hash key (padding zeroed). */
struct xlb_svc_ident {
	struct xlb_addr addr;
	uint32_t port;
	uint8_t proto;
	uint8_t family;
	uint8_t pad[2];
};

static inline void xlb_svc_ident_of(struct xlb_svc_ident *k, const struct xlb_service_spec *s)
{
	*k = (struct xlb_svc_ident){ .addr = s->vip.addr, .port = s->port, .proto = s->proto,
				     .family = s->vip.family };
}

/* 0, or -EINVAL with a message naming the field in err. */
int xlb_service_validate(const struct xlb_service_spec *s, char *err, size_t errlen);
/* Checks each backend, duplicates (same address and port), family match with
 * the service, and count <= XLB_MAX_BACKENDS_PER_SVC. -EINVAL / -E2BIG. */
int xlb_backends_validate(const struct xlb_service_spec *s,
			  const struct xlb_backend_spec *b, size_t n,
			  char *err, size_t errlen);

/* True when the backend may receive new flows. */
static inline bool xlb_backend_selectable(const struct xlb_backend_spec *b)
{
	return !b->terminating && b->weight > 0;
}

const char *xlb_algo_name(enum xlb_algo a);
int xlb_algo_parse(const char *s, enum xlb_algo *out); /* "rr"|"wrr"|"sh" */
const char *xlb_proto_name(uint8_t proto);
int xlb_proto_parse(const char *s, uint8_t *out);     /* "tcp"|"udp", any case */

#endif /* XLB_MODEL_H */
