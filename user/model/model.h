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
struct xlb_cidr;
/* "10.0.0.0/8" (host bits must be zero) or a bare address (/32, /128). */
int xlb_cidr_parse(const char *s, struct xlb_cidr *out);
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
	XLB_SVC_LOAD_BALANCER = 2,	/* a NodePort (node_port 0: none) with ingress IPs */
};

/* externalTrafficPolicy / internalTrafficPolicy. */
enum xlb_traffic_policy {
	XLB_POLICY_CLUSTER = 0,
	XLB_POLICY_LOCAL = 1,		/* only endpoints on this node */
};

/* How an external flow reaches a backend on another node (issue 13):
 * source NAT to the node (the backend answers through it), or direct
 * server return (the client's packet goes IPIP-encapsulated to the
 * backend, whose node's xlb decapsulates it; the backend sees the client
 * and answers it directly). DEFAULT: the node's xlbd --lb-mode. */
enum xlb_lb_mode {
	XLB_LB_MODE_DEFAULT = 0,
	XLB_LB_MODE_SNAT = 1,
	XLB_LB_MODE_DSR = 2,
	XLB_LB_MODE_MAX,
};

#define XLB_MAX_SVC_ADDRS	8	/* LoadBalancer ingress IPs; externalIPs */
#define XLB_MAX_SOURCE_RANGES	16	/* loadBalancerSourceRanges */

struct xlb_cidr {
	struct xlb_ip ip;		/* host bits zero */
	uint8_t prefix;
};

/* The entries of a service's lists beyond the cluster IP (their counts are
 * in the spec): allocated only for a service that has one, since a
 * ClusterIP Service, the common case, has none and every holder of a spec
 * (desired state, reconciler, dataplane) would carry them. */
struct xlb_svc_addrs {
	struct xlb_ip lb_ips[XLB_MAX_SVC_ADDRS];	/* LoadBalancer ingress */
	struct xlb_ip external_ips[XLB_MAX_SVC_ADDRS];
	struct xlb_cidr source_ranges[XLB_MAX_SOURCE_RANGES];	/* none: any source */
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
	/* What Kubernetes says beyond the cluster IP (issue 13); a dataplane
	 * that cannot do one of them yet says so once and serves the rest. */
	uint32_t n_lb_ips;		/* addrs->lb_ips */
	uint32_t n_external_ips;	/* addrs->external_ips */
	uint32_t n_source_ranges;	/* addrs->source_ranges */
	enum xlb_traffic_policy ext_policy;
	enum xlb_traffic_policy int_policy;
	uint32_t health_check_node_port;	/* LoadBalancer with ext_policy Local */
	enum xlb_lb_mode lb_mode;	/* annotation xlb.io/lb-mode */
	/* NULL when all three lists are empty. Owned by the spec's holder: a
	 * plain struct copy only borrows it, xlb_service_copy makes one of its
	 * own and xlb_service_fini frees it. Last, for xlb_service_equal. */
	struct xlb_svc_addrs *addrs;
};

/* Room for s's lists (allocated, zeroed, on first use): NULL when out of
 * memory. */
struct xlb_svc_addrs *xlb_service_addrs(struct xlb_service_spec *s);
/* dst becomes a copy of src with lists of its own. 0, or -ENOMEM (then dst
 * has src's fields but empty lists). */
int xlb_service_copy(struct xlb_service_spec *dst, const struct xlb_service_spec *src);
/* Frees s's lists and leaves them empty. */
void xlb_service_fini(struct xlb_service_spec *s);
/* Every field and list entry the same (name included). */
bool xlb_service_equal(const struct xlb_service_spec *a, const struct xlb_service_spec *b);

/* Served on every node address at node_port (NodePort, and LoadBalancer
 * unless allocateLoadBalancerNodePorts is false). */
static inline bool xlb_svc_has_node_port(const struct xlb_service_spec *s)
{
	return s->type != XLB_SVC_CLUSTER_IP && s->node_port;
}

struct xlb_backend_spec {
	struct xlb_ip addr;
	uint32_t port;		/* 1..65535 */
	uint32_t weight;	/* 0 = drain (no new flows), max 65535 */
	bool terminating;	/* drain: existing flows continue, no new ones */
	/* Traffic policy Local: on this node (its nodeName is the node's), and
	 * whether the node-local selection takes no new flows through it (its
	 * own KEP-1669 fallback: serving terminating endpoints only when no
	 * local one is ready). */
	bool local;
	bool local_terminating;
	/* On another node (a nodeName that is not the node's): external flows
	 * to it are source-NATed. Neither local nor remote: its node is not
	 * known (no nodeName), and it is reached as it is. */
	bool remote;
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

/* True when it may receive new flows where only local endpoints serve. */
static inline bool xlb_backend_selectable_local(const struct xlb_backend_spec *b)
{
	return b->local && !b->local_terminating && b->weight > 0;
}

/* Traffic to the service's external addresses (node port, LoadBalancer
 * ingress IPs, external IPs) with external, else to its cluster IP: only
 * local endpoints serve it (externalTrafficPolicy / internalTrafficPolicy
 * Local)? */
static inline bool xlb_svc_local_only(const struct xlb_service_spec *s, bool external)
{
	return (external ? s->ext_policy : s->int_policy) == XLB_POLICY_LOCAL;
}

/* Does it have addresses beyond the cluster IP? */
static inline bool xlb_svc_has_external(const struct xlb_service_spec *s)
{
	return xlb_svc_has_node_port(s) || s->n_lb_ips || s->n_external_ips;
}

const char *xlb_svc_type_name(enum xlb_svc_type t);	/* "ClusterIP", ... */
const char *xlb_algo_name(enum xlb_algo a);
const char *xlb_lb_mode_name(enum xlb_lb_mode m);	/* "", "snat", "dsr" */
int xlb_lb_mode_parse(const char *s, enum xlb_lb_mode *out); /* "snat"|"dsr" */
int xlb_algo_parse(const char *s, enum xlb_algo *out); /* "rr"|"wrr"|"sh" */
const char *xlb_proto_name(uint8_t proto);
int xlb_proto_parse(const char *s, uint8_t *out);     /* "tcp"|"udp", any case */

#endif /* XLB_MODEL_H */
