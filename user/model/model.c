// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Services and backends as plain data: parsing, formatting, validation.
 * Validation is the one gate between untrusted input (the Kubernetes API,
 * the CLI) and the maps, so every message names the field and the value.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/errmsg.h"
#include "model.h"


static int af_of(uint8_t family)
{
	switch (family) {
	case XLB_AF_INET:
		return AF_INET;
	case XLB_AF_INET6:
		return AF_INET6;
	default:
		return AF_UNSPEC;
	}
}

int xlb_ip_parse(const char *s, struct xlb_ip *out)
{
	struct xlb_ip ip;

	if (!s || !out)
		return -EINVAL;

	memset(&ip, 0, sizeof(ip));
	/* inet_pton accepts neither spaces, nor short forms ("10.0.0"), nor
	 * octets > 255, nor zone ids: exactly the strictness wanted here. */
	if (strchr(s, ':')) {
		if (inet_pton(AF_INET6, s, ip.addr.a8) != 1)
			return -EINVAL;
		ip.family = XLB_AF_INET6;
	} else {
		if (inet_pton(AF_INET, s, ip.addr.a8) != 1)
			return -EINVAL;
		ip.family = XLB_AF_INET;
	}
	*out = ip;
	return 0;
}

int xlb_cidr_parse(const char *s, struct xlb_cidr *out)
{
	const char *slash = s ? strchr(s, '/') : NULL;
	char addr[XLB_IP_STRLEN];
	struct xlb_cidr c = { 0 };
	unsigned int bits, max;
	char *end;

	if (!s || !out)
		return -EINVAL;
	if (!slash)
		slash = s + strlen(s);
	if ((size_t)(slash - s) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (xlb_ip_parse(addr, &c.ip))
		return -EINVAL;
	max = c.ip.family == XLB_AF_INET ? 32 : 128;
	bits = max;
	if (*slash) {
		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		errno = 0;
		bits = (unsigned int)strtoul(slash + 1, &end, 10);
		if (errno || *end || bits > max || (slash[1] == '0' && slash[2]))
			return -EINVAL;
	}
	for (unsigned int i = bits; i < max; i++)	/* host bits must be zero */
		if (c.ip.addr.a8[i / 8] & (0x80 >> (i % 8)))
			return -EINVAL;
	c.prefix = (uint8_t)bits;
	*out = c;
	return 0;
}

const char *xlb_ip_str(const struct xlb_ip *ip, char *buf, size_t len)
{
	int af = ip ? af_of(ip->family) : AF_UNSPEC;

	if (!buf || !len)
		return buf;
	if (af == AF_UNSPEC || !inet_ntop(af, ip->addr.a8, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

/* All 16 bytes count: they are what the datapath keys on. */
bool xlb_ip_equal(const struct xlb_ip *a, const struct xlb_ip *b)
{
	return a->family == b->family &&
	       !memcmp(a->addr.a8, b->addr.a8, sizeof(a->addr.a8));
}

bool xlb_ip_is_zero(const struct xlb_ip *ip)
{
	static const struct xlb_addr zero;

	return !memcmp(ip->addr.a8, zero.a8, sizeof(zero.a8));
}

/* The ABI promises zeros after an IPv4 address; garbage there would make
 * two equal addresses different map keys. */
static bool ip_tail_clean(const struct xlb_ip *ip)
{
	if (ip->family != XLB_AF_INET)
		return true;
	return !ip->addr.a32[1] && !ip->addr.a32[2] && !ip->addr.a32[3];
}

static const char *family_name(uint8_t family)
{
	switch (family) {
	case XLB_AF_INET:
		return "IPv4";
	case XLB_AF_INET6:
		return "IPv6";
	default:
		return "unknown";
	}
}

static int addrs_check(const struct xlb_ip *v, uint32_t n, const char *what, char *err,
		       size_t errlen)
{
	char buf[XLB_IP_STRLEN];

	if (n > XLB_MAX_SVC_ADDRS)
		return xlb_errf(err, errlen, -EINVAL, "service %s: more than %d", what,
				XLB_MAX_SVC_ADDRS);
	for (uint32_t i = 0; i < n; i++) {
		if ((v[i].family != XLB_AF_INET && v[i].family != XLB_AF_INET6) ||
		    xlb_ip_is_zero(&v[i]) || !ip_tail_clean(&v[i]))
			return xlb_errf(err, errlen, -EINVAL, "service %s[%u]: bad address %s", what,
					i, xlb_ip_str(&v[i], buf, sizeof(buf)));
		for (uint32_t j = 0; j < i; j++)
			if (xlb_ip_equal(&v[i], &v[j]))
				return xlb_errf(err, errlen, -EINVAL, "service %s[%u]: %s twice",
						what, i, xlb_ip_str(&v[i], buf, sizeof(buf)));
	}
	return 0;
}

struct xlb_svc_addrs *xlb_service_addrs(struct xlb_service_spec *s)
{
	if (!s->addrs)
		s->addrs = calloc(1, sizeof(*s->addrs));
	return s->addrs;
}

static bool has_addrs(const struct xlb_service_spec *s)
{
	return s->n_lb_ips || s->n_external_ips || s->n_source_ranges;
}

int xlb_service_copy(struct xlb_service_spec *dst, const struct xlb_service_spec *src)
{
	*dst = *src;
	dst->addrs = NULL;
	if (!src->addrs || !has_addrs(src))
		return 0;
	dst->addrs = malloc(sizeof(*dst->addrs));
	if (!dst->addrs) {
		dst->n_lb_ips = dst->n_external_ips = dst->n_source_ranges = 0;
		return -ENOMEM;
	}
	*dst->addrs = *src->addrs;
	return 0;
}

void xlb_service_fini(struct xlb_service_spec *s)
{
	free(s->addrs);
	s->addrs = NULL;
	s->n_lb_ips = s->n_external_ips = s->n_source_ranges = 0;
}

bool xlb_service_equal(const struct xlb_service_spec *a, const struct xlb_service_spec *b)
{
	const struct xlb_svc_addrs *x = a->addrs, *y = b->addrs;

	if (memcmp(a, b, offsetof(struct xlb_service_spec, addrs)))
		return false;	/* the counts included */
	return !has_addrs(a) ||
	       (!memcmp(x->lb_ips, y->lb_ips, a->n_lb_ips * sizeof(x->lb_ips[0])) &&
		!memcmp(x->external_ips, y->external_ips,
			a->n_external_ips * sizeof(x->external_ips[0])) &&
		!memcmp(x->source_ranges, y->source_ranges,
			a->n_source_ranges * sizeof(x->source_ranges[0])));
}

/* The fields beyond the cluster IP, as the API server would take them. */
static int external_validate(const struct xlb_service_spec *s, char *err, size_t errlen)
{
	int ret;

	if (has_addrs(s) && !s->addrs)
		return xlb_errf(err, errlen, -EINVAL, "service addresses: counted, not given");
	if (s->type != XLB_SVC_LOAD_BALANCER && s->n_lb_ips)
		return xlb_errf(err, errlen, -EINVAL,
				"service lb_ips: only for type LoadBalancer");
	ret = addrs_check(s->n_lb_ips ? s->addrs->lb_ips : NULL, s->n_lb_ips, "lb_ips", err,
			  errlen);
	if (!ret)
		ret = addrs_check(s->n_external_ips ? s->addrs->external_ips : NULL,
				  s->n_external_ips, "external_ips", err, errlen);
	if (ret)
		return ret;
	if (s->n_source_ranges > XLB_MAX_SOURCE_RANGES)
		return xlb_errf(err, errlen, -EINVAL, "service source_ranges: more than %d",
				XLB_MAX_SOURCE_RANGES);
	for (uint32_t i = 0; i < s->n_source_ranges; i++) {
		const struct xlb_cidr *c = &s->addrs->source_ranges[i];
		unsigned int max = c->ip.family == XLB_AF_INET ? 32 : 128;

		if ((c->ip.family != XLB_AF_INET && c->ip.family != XLB_AF_INET6) ||
		    c->prefix > max || !ip_tail_clean(&c->ip))
			return xlb_errf(err, errlen, -EINVAL, "service source_ranges[%u]: bad range",
					i);
		for (unsigned int b = c->prefix; b < max; b++)
			if (c->ip.addr.a8[b / 8] & (0x80 >> (b % 8)))
				return xlb_errf(err, errlen, -EINVAL,
						"service source_ranges[%u]: host bits set", i);
	}
	if ((unsigned int)s->ext_policy > XLB_POLICY_LOCAL ||
	    (unsigned int)s->int_policy > XLB_POLICY_LOCAL)
		return xlb_errf(err, errlen, -EINVAL, "service traffic policy: unknown value");
	if ((unsigned int)s->lb_mode >= XLB_LB_MODE_MAX)
		return xlb_errf(err, errlen, -EINVAL, "service lb_mode: unknown value %u",
				(unsigned int)s->lb_mode);
	if (s->ext_policy == XLB_POLICY_LOCAL && s->type == XLB_SVC_CLUSTER_IP &&
	    !s->n_external_ips)
		return xlb_errf(err, errlen, -EINVAL,
				"service ext_policy Local: only for NodePort, LoadBalancer or "
				"external IPs");
	if (s->health_check_node_port &&
	    (s->type != XLB_SVC_LOAD_BALANCER || s->ext_policy != XLB_POLICY_LOCAL ||
	     s->health_check_node_port > XLB_PORT_MAX))
		return xlb_errf(err, errlen, -EINVAL,
				"service health_check_node_port %u: only 1..65535, for a "
				"LoadBalancer with ext_policy Local", s->health_check_node_port);
	return 0;
}

int xlb_service_validate(const struct xlb_service_spec *s, char *err, size_t errlen)
{
	char buf[XLB_IP_STRLEN];

	if (!s)
		return xlb_errf(err, errlen, -EINVAL, "service: no spec");
	if (!memchr(s->name, '\0', sizeof(s->name)))
		return xlb_errf(err, errlen, -EINVAL,
			    "service name: not NUL-terminated within %zu bytes",
			    sizeof(s->name));
	if (s->port < 1 || s->port > XLB_PORT_MAX)
		return xlb_errf(err, errlen, -EINVAL,
			    "service port out of range: %u", s->port);
	if (s->proto != IPPROTO_TCP && s->proto != IPPROTO_UDP)
		return xlb_errf(err, errlen, -EINVAL,
			    "service proto: unsupported protocol %u (want tcp or udp)",
			    s->proto);
	if ((unsigned int)s->algo >= XLB_ALGO_MAX)
		return xlb_errf(err, errlen, -EINVAL,
			    "service algo out of range: %u", (unsigned int)s->algo);

	switch (s->type) {
	case XLB_SVC_CLUSTER_IP:
		if (s->node_port)
			return xlb_errf(err, errlen, -EINVAL,
				    "service node_port: must be 0 for ClusterIP, got %u",
				    s->node_port);
		break;
	case XLB_SVC_NODE_PORT:
		if (s->node_port < 1 || s->node_port > XLB_PORT_MAX)
			return xlb_errf(err, errlen, -EINVAL,
				    "service node_port out of range for NodePort: %u",
				    s->node_port);
		break;
	case XLB_SVC_LOAD_BALANCER:	/* 0: allocateLoadBalancerNodePorts false */
		if (s->node_port > XLB_PORT_MAX)
			return xlb_errf(err, errlen, -EINVAL,
				    "service node_port out of range: %u", s->node_port);
		break;
	default:
		return xlb_errf(err, errlen, -EINVAL,
			    "service type: unknown %u", (unsigned int)s->type);
	}

	if (s->vip.family != XLB_AF_INET && s->vip.family != XLB_AF_INET6)
		return xlb_errf(err, errlen, -EINVAL,
			    "service vip: bad family %u", s->vip.family);
	if (xlb_ip_is_zero(&s->vip))
		return xlb_errf(err, errlen, -EINVAL,
			    "service vip: address is zero");
	if (!ip_tail_clean(&s->vip))
		return xlb_errf(err, errlen, -EINVAL,
			    "service vip %s: IPv4 address with nonzero padding",
			    xlb_ip_str(&s->vip, buf, sizeof(buf)));
	if (s->affinity_timeout > XLB_AFFINITY_MAX)
		return xlb_errf(err, errlen, -EINVAL,
			    "service affinity_timeout out of range: %u (max %u)",
			    s->affinity_timeout, XLB_AFFINITY_MAX);
	return external_validate(s, err, errlen);
}

const char *xlb_ip_port_str(const struct xlb_ip *ip, uint32_t port, char *buf, size_t len)
{
	char a[XLB_IP_STRLEN];

	xlb_ip_str(ip, a, sizeof(a));
	snprintf(buf, len, ip->family == XLB_AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
	return buf;
}

int xlb_ip_port_parse(const char *s, struct xlb_ip *ip, uint16_t *port)
{
	char buf[XLB_IP_PORT_STRLEN], *colon, *end, *a = buf;
	unsigned long v;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	colon = strrchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = 0;
	if (buf[0] == '[') {
		size_t n = strlen(buf);

		if (n < 2 || buf[n - 1] != ']')
			return -EINVAL;
		buf[n - 1] = 0;
		a = buf + 1;
	}
	if (xlb_ip_parse(a, ip))
		return -EINVAL;
	errno = 0;
	v = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || !v || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static const char *endpoint_str(const struct xlb_backend_spec *b, char *buf, size_t len)
{
	return xlb_ip_port_str(&b->addr, b->port, buf, len);
}

static int backend_check(const struct xlb_service_spec *s,
			 const struct xlb_backend_spec *b, size_t i,
			 char *err, size_t errlen)
{
	char ep[XLB_IP_STRLEN + 16];

	endpoint_str(b, ep, sizeof(ep));
	if (b->addr.family != s->vip.family)
		return xlb_errf(err, errlen, -EINVAL,
			    "backend %zu (%s): address family mismatch: %s backend in %s service",
			    i, ep, family_name(b->addr.family),
			    family_name(s->vip.family));
	if (xlb_ip_is_zero(&b->addr))
		return xlb_errf(err, errlen, -EINVAL,
			    "backend %zu (%s): address is zero", i, ep);
	if (!ip_tail_clean(&b->addr))
		return xlb_errf(err, errlen, -EINVAL,
			    "backend %zu (%s): IPv4 address with nonzero padding",
			    i, ep);
	if (b->port < 1 || b->port > XLB_PORT_MAX)
		return xlb_errf(err, errlen, -EINVAL,
			    "backend %zu (%s): port out of range: %u",
			    i, ep, b->port);
	if (b->weight > XLB_WEIGHT_MAX)
		return xlb_errf(err, errlen, -EINVAL,
			    "backend %zu (%s): weight out of range: %u (max %u)",
			    i, ep, b->weight, XLB_WEIGHT_MAX);
	return 0;
}

int xlb_backends_validate(const struct xlb_service_spec *s,
			  const struct xlb_backend_spec *b, size_t n,
			  char *err, size_t errlen)
{
	char ep[XLB_IP_STRLEN + 16];
	size_t i, j;
	int rc;

	if (!s || (n && !b))
		return xlb_errf(err, errlen, -EINVAL, "backends: no spec");
	if (n > XLB_MAX_BACKENDS_PER_SVC)
		return xlb_errf(err, errlen, -E2BIG,
			    "backends: too many: %zu (max %u)",
			    n, XLB_MAX_BACKENDS_PER_SVC);

	for (i = 0; i < n; i++) {
		rc = backend_check(s, &b[i], i, err, errlen);
		if (rc)
			return rc;
	}

	/* Quadratic, but n is at most XLB_MAX_BACKENDS_PER_SVC. */
	for (i = 1; i < n; i++) {
		for (j = 0; j < i; j++) {
			if (b[i].port == b[j].port &&
			    xlb_ip_equal(&b[i].addr, &b[j].addr))
				return xlb_errf(err, errlen, -EINVAL,
					    "backend %zu (%s): duplicate of backend %zu",
					    i, endpoint_str(&b[i], ep, sizeof(ep)), j);
		}
	}
	return 0;
}

static const char *const algo_names[XLB_ALGO_MAX] = {
	[XLB_ALGO_RR] = "rr",
	[XLB_ALGO_WRR] = "wrr",
	[XLB_ALGO_SH] = "sh",
};

const char *xlb_svc_type_name(enum xlb_svc_type t)
{
	switch (t) {
	case XLB_SVC_CLUSTER_IP:
		return "ClusterIP";
	case XLB_SVC_NODE_PORT:
		return "NodePort";
	case XLB_SVC_LOAD_BALANCER:
		return "LoadBalancer";
	}
	return "unknown";
}

const char *xlb_algo_name(enum xlb_algo a)
{
	if ((unsigned int)a >= XLB_ALGO_MAX)
		return "unknown";
	return algo_names[a];
}

int xlb_algo_parse(const char *s, enum xlb_algo *out)
{
	unsigned int i;

	if (!s || !out)
		return -EINVAL;
	for (i = 0; i < XLB_ALGO_MAX; i++) {
		if (!strcmp(s, algo_names[i])) {
			*out = (enum xlb_algo)i;
			return 0;
		}
	}
	return -EINVAL;
}

static const char *const lb_mode_names[XLB_LB_MODE_MAX] = {
	[XLB_LB_MODE_DEFAULT] = "",
	[XLB_LB_MODE_SNAT] = "snat",
	[XLB_LB_MODE_DSR] = "dsr",
};

const char *xlb_lb_mode_name(enum xlb_lb_mode m)
{
	if ((unsigned int)m >= XLB_LB_MODE_MAX)
		return "unknown";
	return lb_mode_names[m];
}

int xlb_lb_mode_parse(const char *s, enum xlb_lb_mode *out)
{
	if (!s || !out)
		return -EINVAL;
	for (unsigned int i = XLB_LB_MODE_SNAT; i < XLB_LB_MODE_MAX; i++) {
		if (!strcmp(s, lb_mode_names[i])) {
			*out = (enum xlb_lb_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *xlb_proto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	default:
		return "unknown";
	}
}

int xlb_proto_parse(const char *s, uint8_t *out)
{
	if (!s || !out)
		return -EINVAL;
	if (!strcasecmp(s, "tcp"))
		*out = IPPROTO_TCP;
	else if (!strcasecmp(s, "udp"))
		*out = IPPROTO_UDP;
	else
		return -EINVAL;
	return 0;
}
