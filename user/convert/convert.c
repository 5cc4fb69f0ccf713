// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * protobuf <-> model. See convert.h for the contract.
 *
 * The range checks here repeat a few of the model's limits on purpose: the
 * model's messages name its own fields ("backend 3 (10.0.0.1:0): port out
 * of range"), a client wants the path of the field it sent. The model's
 * xlb_svc_validate still runs last and stays the authority: here, once per
 * service that enters the daemon, and nowhere else after (the state, the
 * core and the dataplane take the service as valid).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/errmsg.h"
#include "convert.h"

#define QUOTE_MAX	48	/* bytes of a bad value echoed in a message */


/* A value as it may appear in a message: printable ASCII kept, everything
 * else as \xNN, cut at QUOTE_MAX bytes. Messages travel as gRPC status
 * details, which clients decode as UTF-8, so no raw high bytes. */
static const char *quote(const char *s, char *buf, size_t len)
{
	size_t o = 0, i;

	for (i = 0; s[i] && i < QUOTE_MAX && o + 5 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
	}
	if (s[i] && o + 4 < len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* "at.field" into buf; a path too long for buf is cut, which only shortens
 * a message. */
__attribute__((noinline))
static const char *fpath(char *buf, size_t len, const char *at, const char *field)
{
	snprintf(buf, len, "%s.%s", at, field);
	return buf;
}

bool xlb_utf8_valid(const char *str, size_t len, size_t *bad_at)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		uint32_t cp, min;
		size_t n;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			goto bad;
		}
		if (len - i <= n)
			goto bad;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* Overlong forms, UTF-16 surrogates, beyond Unicode. */
		if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			goto bad;
		i += n + 1;
	}
	return true;
bad:
	if (bad_at)
		*bad_at = i;
	return false;
}

/* A string field: valid UTF-8 and shorter than the model's buffer
 * (cap includes the NUL; 0 = no limit). */
static int check_str(const char *s, const char *path, size_t cap, char *err, size_t errlen)
{
	size_t len = strlen(s), bad;

	if (!xlb_utf8_valid(s, len, &bad))
		return xlb_errf(err, errlen, -EINVAL, "%s: invalid UTF-8 at byte %zu", path, bad);
	if (cap && len >= cap)
		return xlb_errf(err, errlen, -EINVAL, "%s: too long (%zu bytes, max %zu)",
			    path, len, cap - 1);
	return 0;
}

static int parse_ipv4(const char *s, const char *path, struct xlb_ip *out,
		      char *err, size_t errlen)
{
	char q[QUOTE_MAX * 4 + 8];

	if (!*s)
		return xlb_errf(err, errlen, -EINVAL, "%s: required (IPv4 address)", path);
	if (xlb_ip_parse(s, out) || out->family != XLB_AF_INET)
		return xlb_errf(err, errlen, -EINVAL, "%s: not an IPv4 address: \"%s\"", path,
			    quote(s, q, sizeof(q)));
	return 0;
}

const char *xlb_api_endpoint_str(const struct xlb_endpoint *e, char *buf, size_t len)
{
	return xlb_ip_port_str(&e->addr, e->port, buf, len);
}

/* hint_zones joined with commas (zone names are label values: no commas). */
static int hints_from_pb(const Xlb__V1__Endpoint *pb, const char *path, struct xlb_endpoint *e,
			 char *err, size_t errlen)
{
	size_t off = 0;
	char f[200];
	int ret;

	for (size_t i = 0; i < pb->n_hint_zones; i++) {
		const char *z = pb->hint_zones[i] ? pb->hint_zones[i] : "";
		size_t n = strlen(z);

		snprintf(f, sizeof(f), "%s.hint_zones[%zu]", path, i);
		ret = check_str(z, f, sizeof(e->hints), err, errlen);
		if (ret)
			return ret;
		if (!n || strchr(z, ','))
			return xlb_errf(err, errlen, -EINVAL, "%s: empty or with a comma", f);
		if (off + n + (off ? 1 : 0) >= sizeof(e->hints))
			return xlb_errf(err, errlen, -EINVAL, "%s.hint_zones: more than %zu bytes",
					path, sizeof(e->hints) - 1);
		if (off)
			e->hints[off++] = ',';
		memcpy(e->hints + off, z, n + 1);
		off += n;
	}
	return 0;
}

static int endpoint_from_pb(const Xlb__V1__Endpoint *pb, const char *path,
			    struct xlb_endpoint *e, char *err, size_t errlen)
{
	char f[160];
	uint32_t w;
	int ret;

	if (!pb)
		return xlb_errf(err, errlen, -EINVAL, "%s: missing", path);
	fpath(f, sizeof(f), path, "address");
	ret = check_str(pb->address, f, 0, err, errlen);
	if (!ret)
		ret = parse_ipv4(pb->address, f, &e->addr, err, errlen);
	if (ret)
		return ret;
	if (pb->port < 1 || pb->port > XLB_PORT_MAX)
		return xlb_errf(err, errlen, -EINVAL, "%s.port out of range: %u", path, pb->port);
	e->port = pb->port;
	w = pb->weight_set ? pb->weight : 1;
	if (w > XLB_WEIGHT_MAX)
		return xlb_errf(err, errlen, -EINVAL, "%s.weight out of range: %u (max %u)",
			    path, w, XLB_WEIGHT_MAX);
	e->weight = w;
	e->ready = pb->ready;
	e->serving = pb->serving;
	e->terminating = pb->terminating;
	fpath(f, sizeof(f), path, "name");
	ret = check_str(pb->name, f, sizeof(e->name), err, errlen);
	if (ret)
		return ret;
	strcpy(e->name, pb->name);
	fpath(f, sizeof(f), path, "node_name");
	ret = check_str(pb->node_name, f, sizeof(e->node_name), err, errlen);
	if (ret)
		return ret;
	strcpy(e->node_name, pb->node_name);
	fpath(f, sizeof(f), path, "zone");
	ret = check_str(pb->zone, f, sizeof(e->zone), err, errlen);
	if (ret)
		return ret;
	strcpy(e->zone, pb->zone);
	return hints_from_pb(pb, path, e, err, errlen);
}

int xlb_api_endpoints_from_pb(Xlb__V1__Endpoint *const *pb, size_t n, const char *at,
			      struct xlb_endpoint **out, char *err, size_t errlen)
{
	struct xlb_endpoint *ep = NULL;
	char path[160], a[XLB_IP_STRLEN + 8];
	int ret;

	*out = NULL;
	if (!at)
		at = "endpoints";
	if (n > XLB_MAX_ENDPOINTS)
		return xlb_errf(err, errlen, -E2BIG, "%s: too many endpoints: %zu (max %d)",
			    at, n, XLB_MAX_ENDPOINTS);
	if (!n)
		return 0;
	ep = calloc(n, sizeof(*ep));
	if (!ep)
		return xlb_errf(err, errlen, -ENOMEM, "%s: out of memory", at);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s[%zu]", at, i);
		ret = endpoint_from_pb(pb[i], path, &ep[i], err, errlen);
		if (ret)
			goto out;
	}
	/* Quadratic, but n <= XLB_MAX_ENDPOINTS (512). */
	for (size_t i = 1; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (ep[i].port == ep[j].port && xlb_ip_equal(&ep[i].addr, &ep[j].addr)) {
				ret = xlb_errf(err, errlen, -EINVAL, "%s[%zu]: duplicate of %s[%zu] (%s)",
					   at, i, at, j,
					   xlb_api_endpoint_str(&ep[i], a, sizeof(a)));
				goto out;
			}
	*out = ep;
	return 0;
out:
	free(ep);
	return ret;
}

int xlb_api_health_from_pb(const Xlb__V1__HealthCheck *pb, const char *at,
			   struct xlb_health_spec *out, char *err, size_t errlen)
{
	char f[160];
	int ret;

	memset(out, 0, sizeof(*out));
	if (!at)
		at = "health_check";
	if (!pb)
		return 0;
	switch (pb->kind) {
	case XLB__V1__HEALTH_CHECK__KIND__NONE:
		out->kind = XLB_HC_NONE;
		break;
	case XLB__V1__HEALTH_CHECK__KIND__TCP_CONNECT:
		out->kind = XLB_HC_TCP;
		break;
	case XLB__V1__HEALTH_CHECK__KIND__HTTP_GET:
		out->kind = XLB_HC_HTTP;
		break;
	case XLB__V1__HEALTH_CHECK__KIND__EXEC:
		out->kind = XLB_HC_EXEC;
		break;
	default:
		return xlb_errf(err, errlen, -EINVAL, "%s.kind: unknown value %d", at, (int)pb->kind);
	}

	fpath(f, sizeof(f), at, "http_path");
	if ((ret = check_str(pb->http_path, f, sizeof(out->http_path), err, errlen)))
		return ret;
	fpath(f, sizeof(f), at, "http_host");
	if ((ret = check_str(pb->http_host, f, sizeof(out->http_host), err, errlen)))
		return ret;
	fpath(f, sizeof(f), at, "expect_body");
	if ((ret = check_str(pb->expect_body, f, sizeof(out->expect_body), err, errlen)))
		return ret;
	strcpy(out->http_path, pb->http_path);
	strcpy(out->http_host, pb->http_host);
	strcpy(out->expect_body, pb->expect_body);
	/* Kubernetes: an httpGet probe without a path asks for "/". */
	if (out->kind == XLB_HC_HTTP && !out->http_path[0])
		strcpy(out->http_path, "/");

	if (pb->port > XLB_PORT_MAX)
		return xlb_errf(err, errlen, -EINVAL, "%s.port out of range: %u", at, pb->port);
	out->port = pb->port;

	if (pb->n_command > XLB_HC_MAX_ARGS)
		return xlb_errf(err, errlen, -EINVAL, "%s.command: too many arguments: %zu (max %d)",
			    at, pb->n_command, XLB_HC_MAX_ARGS);
	for (size_t i = 0; i < pb->n_command; i++) {
		const char *arg = pb->command[i] ? pb->command[i] : "";

		snprintf(f, sizeof(f), "%s.command[%zu]", at, i);
		if ((ret = check_str(arg, f, sizeof(out->argv[0]), err, errlen)))
			return ret;
		strcpy(out->argv[i], arg);
	}
	out->argc = (uint32_t)pb->n_command;
	out->period_ms = pb->period_ms;
	out->timeout_ms = pb->timeout_ms;
	out->success_threshold = pb->success_threshold;
	out->failure_threshold = pb->failure_threshold;
	out->initial_delay_ms = pb->initial_delay_ms;
	return 0;
}

static int addrs_from_pb(char *const *v, size_t n, const char *at, const char *field,
			 struct xlb_ip *out, uint32_t *n_out, char *err, size_t errlen)
{
	char f[160];
	int ret;

	if (n > XLB_MAX_SVC_ADDRS)
		return xlb_errf(err, errlen, -EINVAL, "%s.%s: more than %d", at, field,
				XLB_MAX_SVC_ADDRS);
	for (size_t i = 0; i < n; i++) {
		snprintf(f, sizeof(f), "%s.%s[%zu]", at, field, i);
		ret = check_str(v[i] ? v[i] : "", f, 0, err, errlen);
		if (!ret)
			ret = parse_ipv4(v[i] ? v[i] : "", f, &out[i], err, errlen);
		if (ret)
			return ret;
	}
	*n_out = (uint32_t)n;
	return 0;
}

static int policy_from_pb(Xlb__V1__TrafficPolicy p, const char *at, const char *field,
			  enum xlb_traffic_policy *out, char *err, size_t errlen)
{
	switch (p) {
	case XLB__V1__TRAFFIC_POLICY__TRAFFIC_POLICY_CLUSTER:
		*out = XLB_POLICY_CLUSTER;
		return 0;
	case XLB__V1__TRAFFIC_POLICY__TRAFFIC_POLICY_LOCAL:
		*out = XLB_POLICY_LOCAL;
		return 0;
	default:
		return xlb_errf(err, errlen, -EINVAL, "%s.%s: unknown value %d", at, field, (int)p);
	}
}

/* Ingress IPs, external IPs, source ranges, policies (issue 13's fields). */
static int external_from_pb(const Xlb__V1__Service *pb, const char *at,
			    struct xlb_service_spec *sp, char *err, size_t errlen)
{
	char f[160], q[QUOTE_MAX * 4 + 8];
	struct xlb_svc_addrs *a;
	int ret;

	if (!pb->n_load_balancer_ips && !pb->n_external_ips && !pb->n_source_ranges)
		goto policies;
	a = xlb_service_addrs(sp);
	if (!a)
		return xlb_errf(err, errlen, -ENOMEM, "%s: out of memory", at);
	ret = addrs_from_pb(pb->load_balancer_ips, pb->n_load_balancer_ips, at,
			    "load_balancer_ips", a->lb_ips, &sp->n_lb_ips, err, errlen);
	if (!ret)
		ret = addrs_from_pb(pb->external_ips, pb->n_external_ips, at, "external_ips",
				    a->external_ips, &sp->n_external_ips, err, errlen);
	if (ret)
		return ret;
	if (pb->n_source_ranges > XLB_MAX_SOURCE_RANGES)
		return xlb_errf(err, errlen, -EINVAL, "%s.source_ranges: more than %d", at,
				XLB_MAX_SOURCE_RANGES);
	for (size_t i = 0; i < pb->n_source_ranges; i++) {
		const char *r = pb->source_ranges[i] ? pb->source_ranges[i] : "";

		snprintf(f, sizeof(f), "%s.source_ranges[%zu]", at, i);
		ret = check_str(r, f, 0, err, errlen);
		if (ret)
			return ret;
		if (xlb_cidr_parse(r, &a->source_ranges[i]))
			return xlb_errf(err, errlen, -EINVAL,
					"%s: not a CIDR with its host bits zero: \"%s\"", f,
					quote(r, q, sizeof(q)));
	}
	sp->n_source_ranges = (uint32_t)pb->n_source_ranges;
policies:
	ret = policy_from_pb(pb->external_traffic_policy, at, "external_traffic_policy",
			     &sp->ext_policy, err, errlen);
	if (!ret)
		ret = policy_from_pb(pb->internal_traffic_policy, at, "internal_traffic_policy",
				     &sp->int_policy, err, errlen);
	if (ret)
		return ret;
	if (pb->health_check_node_port > XLB_PORT_MAX)
		return xlb_errf(err, errlen, -EINVAL, "%s.health_check_node_port out of range: %u",
				at, pb->health_check_node_port);
	sp->health_check_node_port = pb->health_check_node_port;
	switch (pb->lb_mode) {
	case XLB__V1__LB_MODE__LB_MODE_DEFAULT:
		sp->lb_mode = XLB_LB_MODE_DEFAULT;
		break;
	case XLB__V1__LB_MODE__LB_MODE_SNAT:
		sp->lb_mode = XLB_LB_MODE_SNAT;
		break;
	case XLB__V1__LB_MODE__LB_MODE_DSR:
		sp->lb_mode = XLB_LB_MODE_DSR;
		break;
	default:
		return xlb_errf(err, errlen, -EINVAL, "%s.lb_mode: unknown value %d", at,
				(int)pb->lb_mode);
	}
	return 0;
}

static int spec_from_pb(const Xlb__V1__Service *pb, const char *at,
			struct xlb_service_spec *sp, char *err, size_t errlen)
{
	char f[160];
	int ret;

	fpath(f, sizeof(f), at, "name");
	if ((ret = check_str(pb->name, f, sizeof(sp->name), err, errlen)))
		return ret;
	if (!pb->name[0])
		return xlb_errf(err, errlen, -EINVAL, "%s: required", f);
	strcpy(sp->name, pb->name);

	switch (pb->type) {
	case XLB__V1__SERVICE_TYPE__CLUSTER_IP:
		sp->type = XLB_SVC_CLUSTER_IP;
		break;
	case XLB__V1__SERVICE_TYPE__NODE_PORT:
		sp->type = XLB_SVC_NODE_PORT;
		break;
	case XLB__V1__SERVICE_TYPE__LOAD_BALANCER:
		sp->type = XLB_SVC_LOAD_BALANCER;
		break;
	default:
		return xlb_errf(err, errlen, -EINVAL, "%s.type: unknown value %d", at, (int)pb->type);
	}

	fpath(f, sizeof(f), at, "cluster_ip");
	if ((ret = check_str(pb->cluster_ip, f, 0, err, errlen)) ||
	    (ret = parse_ipv4(pb->cluster_ip, f, &sp->vip, err, errlen)))
		return ret;
	if (xlb_ip_is_zero(&sp->vip))
		return xlb_errf(err, errlen, -EINVAL, "%s: must not be 0.0.0.0", f);

	if (pb->port < 1 || pb->port > XLB_PORT_MAX)
		return xlb_errf(err, errlen, -EINVAL, "%s.port out of range: %u", at, pb->port);
	sp->port = pb->port;

	switch (pb->protocol) {
	case XLB__V1__PROTOCOL__TCP:
		sp->proto = IPPROTO_TCP;
		break;
	case XLB__V1__PROTOCOL__UDP:
		sp->proto = IPPROTO_UDP;
		break;
	case XLB__V1__PROTOCOL__PROTOCOL_UNSPECIFIED:
		return xlb_errf(err, errlen, -EINVAL, "%s.protocol: required (TCP or UDP)", at);
	default:
		return xlb_errf(err, errlen, -EINVAL, "%s.protocol: unknown value %d", at,
			    (int)pb->protocol);
	}

	if (sp->type == XLB_SVC_NODE_PORT) {
		if (pb->node_port < 1 || pb->node_port > XLB_PORT_MAX)
			return xlb_errf(err, errlen, -EINVAL, "%s.node_port out of range: %u", at,
				    pb->node_port);
	} else if (sp->type == XLB_SVC_LOAD_BALANCER) {
		if (pb->node_port > XLB_PORT_MAX)
			return xlb_errf(err, errlen, -EINVAL, "%s.node_port out of range: %u", at,
				    pb->node_port);
	} else if (pb->node_port) {
		return xlb_errf(err, errlen, -EINVAL,
			    "%s.node_port: only for types NODE_PORT and LOAD_BALANCER (got %u)", at,
			    pb->node_port);
	}
	sp->node_port = pb->node_port;

	switch (pb->algorithm) {
	case XLB__V1__ALGORITHM__RR:
		sp->algo = XLB_ALGO_RR;
		break;
	case XLB__V1__ALGORITHM__WRR:
		sp->algo = XLB_ALGO_WRR;
		break;
	case XLB__V1__ALGORITHM__SH:
		sp->algo = XLB_ALGO_SH;
		break;
	default:
		return xlb_errf(err, errlen, -EINVAL, "%s.algorithm: unknown value %d", at,
			    (int)pb->algorithm);
	}

	if (pb->affinity_timeout_seconds > XLB_AFFINITY_MAX)
		return xlb_errf(err, errlen, -EINVAL,
			    "%s.affinity_timeout_seconds out of range: %u (max %u)", at,
			    pb->affinity_timeout_seconds, XLB_AFFINITY_MAX);
	sp->affinity_timeout = pb->affinity_timeout_seconds;
	return external_from_pb(pb, at, sp, err, errlen);
}

int xlb_api_service_from_pb_at(const Xlb__V1__Service *pb, const char *at,
			       struct xlb_svc_desired *out, char *err, size_t errlen)
{
	struct xlb_health_spec hc;
	char f[160], msg[256];
	int ret;

	/* Zeroed whole: xlb_svc_equal compares the structs byte for byte. */
	memset(out, 0, sizeof(*out));
	if (!at)
		at = "service";
	if (!pb)
		return xlb_errf(err, errlen, -EINVAL, "%s: required", at);
	ret = spec_from_pb(pb, at, &out->spec, err, errlen);
	if (!ret) {
		fpath(f, sizeof(f), at, "health_check");
		ret = xlb_api_health_from_pb(pb->health_check, f, &hc, err, errlen);
	}
	if (!ret && xlb_svc_set_hc(out, &hc))
		ret = xlb_errf(err, errlen, -ENOMEM, "%s: out of memory", at);
	if (!ret) {
		fpath(f, sizeof(f), at, "endpoints");
		ret = xlb_api_endpoints_from_pb(pb->endpoints, pb->n_endpoints, f, &out->ep, err,
						errlen);
	}
	if (ret) {
		xlb_svc_free(out);
		return ret;
	}
	out->n_ep = pb->n_endpoints;

	msg[0] = '\0';
	ret = xlb_svc_validate(out, msg, sizeof(msg));
	if (ret) {
		xlb_svc_free(out);
		return xlb_errf(err, errlen, ret, "%s: %s", at, msg);
	}
	return 0;
}

int xlb_api_service_from_pb(const Xlb__V1__Service *pb, struct xlb_svc_desired *out,
			    char *err, size_t errlen)
{
	return xlb_api_service_from_pb_at(pb, "service", out, err, errlen);
}

bool xlb_pb_set_str(char **dst, const char *src, size_t cap)
{
	char *s;

	if (!src[0])
		return true;
	s = strndup(src, cap);
	if (!s)
		return false;
	*dst = s;
	return true;
}

bool xlb_pb_set_strs(char ***dst, size_t *n_dst, const char *rows, size_t width, size_t n)
{
	if (!n)
		return true;
	*dst = calloc(n, sizeof(**dst));
	if (!*dst)
		return false;
	for (size_t i = 0; i < n; i++) {
		(*dst)[i] = strndup(rows + i * width, width);
		if (!(*dst)[i])
			return false;
		*n_dst = i + 1;
	}
	return true;
}

static bool hints_to_pb(Xlb__V1__Endpoint *pb, const struct xlb_endpoint *e)
{
	char buf[sizeof(e->hints) + 1], *save, *z;
	size_t n = 0;

	if (!e->hints[0])
		return true;
	snprintf(buf, sizeof(buf), "%.*s", (int)sizeof(e->hints), e->hints);
	for (const char *p = buf; *p; p++)
		n += *p == ',';
	pb->hint_zones = calloc(n + 1, sizeof(*pb->hint_zones));
	if (!pb->hint_zones)
		return false;
	for (z = strtok_r(buf, ",", &save); z; z = strtok_r(NULL, ",", &save)) {
		pb->hint_zones[pb->n_hint_zones] = strdup(z);
		if (!pb->hint_zones[pb->n_hint_zones])
			return false;
		pb->n_hint_zones++;
	}
	return true;
}

/* Addresses as strings into a repeated field; false on ENOMEM. */
static bool addrs_to_pb(char ***v, size_t *n, const struct xlb_ip *a, uint32_t count)
{
	char ip[XLB_IP_STRLEN];

	if (!count)
		return true;
	*v = calloc(count, sizeof(**v));
	if (!*v)
		return false;
	for (uint32_t i = 0; i < count; i++) {
		(*v)[i] = strdup(xlb_ip_str(&a[i], ip, sizeof(ip)));
		if (!(*v)[i])
			return false;
		*n = i + 1;
	}
	return true;
}

static bool external_to_pb(Xlb__V1__Service *pb, const struct xlb_service_spec *sp)
{
	char ip[XLB_IP_STRLEN], buf[XLB_IP_STRLEN + 8];

	pb->external_traffic_policy = sp->ext_policy == XLB_POLICY_LOCAL
		? XLB__V1__TRAFFIC_POLICY__TRAFFIC_POLICY_LOCAL
		: XLB__V1__TRAFFIC_POLICY__TRAFFIC_POLICY_CLUSTER;
	pb->internal_traffic_policy = sp->int_policy == XLB_POLICY_LOCAL
		? XLB__V1__TRAFFIC_POLICY__TRAFFIC_POLICY_LOCAL
		: XLB__V1__TRAFFIC_POLICY__TRAFFIC_POLICY_CLUSTER;
	pb->health_check_node_port = sp->health_check_node_port;
	pb->lb_mode = sp->lb_mode == XLB_LB_MODE_DSR	 ? XLB__V1__LB_MODE__LB_MODE_DSR
		      : sp->lb_mode == XLB_LB_MODE_SNAT ? XLB__V1__LB_MODE__LB_MODE_SNAT
							 : XLB__V1__LB_MODE__LB_MODE_DEFAULT;
	if (!sp->addrs)
		return true;	/* no list has an entry */
	if (!addrs_to_pb(&pb->load_balancer_ips, &pb->n_load_balancer_ips, sp->addrs->lb_ips,
			 sp->n_lb_ips) ||
	    !addrs_to_pb(&pb->external_ips, &pb->n_external_ips, sp->addrs->external_ips,
			 sp->n_external_ips))
		return false;
	if (!sp->n_source_ranges)
		return true;
	pb->source_ranges = calloc(sp->n_source_ranges, sizeof(*pb->source_ranges));
	if (!pb->source_ranges)
		return false;
	for (uint32_t i = 0; i < sp->n_source_ranges; i++) {
		snprintf(buf, sizeof(buf), "%s/%u",
			 xlb_ip_str(&sp->addrs->source_ranges[i].ip, ip, sizeof(ip)),
			 sp->addrs->source_ranges[i].prefix);
		pb->source_ranges[i] = strdup(buf);
		if (!pb->source_ranges[i])
			return false;
		pb->n_source_ranges = i + 1;
	}
	return true;
}

Xlb__V1__Endpoint *xlb_api_endpoint_to_pb(const struct xlb_endpoint *e)
{
	Xlb__V1__Endpoint *pb = malloc(sizeof(*pb));
	char ip[XLB_IP_STRLEN];

	if (!pb)
		return NULL;
	xlb__v1__endpoint__init(pb);
	pb->port = e->port;
	pb->weight = e->weight;
	pb->weight_set = true;
	pb->ready = e->ready;
	pb->serving = e->serving;
	pb->terminating = e->terminating;
	if (!xlb_pb_set_str(&pb->address, xlb_ip_str(&e->addr, ip, sizeof(ip)), sizeof(ip)) ||
	    !xlb_pb_set_str(&pb->name, e->name, sizeof(e->name)) ||
	    !xlb_pb_set_str(&pb->node_name, e->node_name, sizeof(e->node_name)) ||
	    !xlb_pb_set_str(&pb->zone, e->zone, sizeof(e->zone)) || !hints_to_pb(pb, e)) {
		xlb_api_endpoint_free_pb(pb);
		return NULL;
	}
	return pb;
}

int xlb_api_node_from_pb(const Xlb__V1__Node *pb, const char *at, struct xlb_node_info *out,
			 char *err, size_t errlen)
{
	char f[160], q[QUOTE_MAX * 4 + 8];
	int ret;

	memset(out, 0, sizeof(*out));
	fpath(f, sizeof(f), at, "name");
	ret = check_str(pb->name, f, sizeof(out->name), err, errlen);
	if (!ret && !pb->name[0])
		ret = xlb_errf(err, errlen, -EINVAL, "%s: required", f);
	if (ret)
		return ret;
	strcpy(out->name, pb->name);
	fpath(f, sizeof(f), at, "zone");
	ret = check_str(pb->zone, f, sizeof(out->zone), err, errlen);
	if (ret)
		return ret;
	strcpy(out->zone, pb->zone);
	if (pb->n_addresses > XLB_NODE_MAX_ADDRS)
		return xlb_errf(err, errlen, -EINVAL, "%s.addresses: more than %d", at,
				XLB_NODE_MAX_ADDRS);
	for (size_t i = 0; i < pb->n_addresses; i++) {
		const char *a = pb->addresses[i] ? pb->addresses[i] : "";

		snprintf(f, sizeof(f), "%s.addresses[%zu]", at, i);
		ret = check_str(a, f, 0, err, errlen);
		if (ret)
			return ret;
		if (xlb_ip_parse(a, &out->addrs[i]))
			return xlb_errf(err, errlen, -EINVAL, "%s: not an IP address: \"%s\"", f,
					quote(a, q, sizeof(q)));
		out->n_addrs++;
	}
	return 0;
}

Xlb__V1__Node *xlb_api_node_to_pb(const struct xlb_node_info *n)
{
	Xlb__V1__Node *pb = malloc(sizeof(*pb));
	char ip[XLB_IP_STRLEN];
	bool ok;

	if (!pb)
		return NULL;
	xlb__v1__node__init(pb);
	ok = xlb_pb_set_str(&pb->name, n->name, sizeof(n->name)) &&
	     xlb_pb_set_str(&pb->zone, n->zone, sizeof(n->zone));
	if (ok && n->n_addrs) {
		pb->addresses = calloc(n->n_addrs, sizeof(*pb->addresses));
		ok = pb->addresses;
	}
	for (uint32_t i = 0; ok && i < n->n_addrs; i++) {
		pb->addresses[i] = strdup(xlb_ip_str(&n->addrs[i], ip, sizeof(ip)));
		ok = pb->addresses[i];
		pb->n_addresses += ok;
	}
	if (!ok) {
		protobuf_c_message_free_unpacked(&pb->base, NULL);
		return NULL;
	}
	return pb;
}

void xlb_api_endpoint_free_pb(Xlb__V1__Endpoint *pb)
{
	if (pb)
		protobuf_c_message_free_unpacked(&pb->base, NULL);
}

Xlb__V1__HealthCheck *xlb_api_health_to_pb(const struct xlb_health_spec *hc)
{
	static const struct xlb_health_spec none;
	Xlb__V1__HealthCheck *pb;

	if (!memcmp(hc, &none, sizeof(none)))
		return NULL;
	pb = malloc(sizeof(*pb));
	if (!pb)
		return NULL;
	xlb__v1__health_check__init(pb);
	switch (hc->kind) {
	case XLB_HC_TCP:
		pb->kind = XLB__V1__HEALTH_CHECK__KIND__TCP_CONNECT;
		break;
	case XLB_HC_HTTP:
		pb->kind = XLB__V1__HEALTH_CHECK__KIND__HTTP_GET;
		break;
	case XLB_HC_EXEC:
		pb->kind = XLB__V1__HEALTH_CHECK__KIND__EXEC;
		break;
	default:
		pb->kind = XLB__V1__HEALTH_CHECK__KIND__NONE;
		break;
	}
	pb->port = hc->port;
	pb->period_ms = hc->period_ms;
	pb->timeout_ms = hc->timeout_ms;
	pb->success_threshold = hc->success_threshold;
	pb->failure_threshold = hc->failure_threshold;
	pb->initial_delay_ms = hc->initial_delay_ms;
	if (!xlb_pb_set_str(&pb->http_path, hc->http_path, sizeof(hc->http_path)) ||
	    !xlb_pb_set_str(&pb->http_host, hc->http_host, sizeof(hc->http_host)) ||
	    !xlb_pb_set_str(&pb->expect_body, hc->expect_body, sizeof(hc->expect_body)))
		goto fail;
	if (!xlb_pb_set_strs(&pb->command, &pb->n_command, hc->argv[0], sizeof(hc->argv[0]),
			     hc->argc < XLB_HC_MAX_ARGS ? hc->argc : XLB_HC_MAX_ARGS))
		goto fail;
	return pb;
fail:
	protobuf_c_message_free_unpacked(&pb->base, NULL);
	return NULL;
}

Xlb__V1__Service *xlb_api_service_to_pb(const struct xlb_svc_desired *s)
{
	const struct xlb_service_spec *sp = &s->spec;
	Xlb__V1__Service *pb = malloc(sizeof(*pb));
	char ip[XLB_IP_STRLEN];
	static const struct xlb_health_spec none;

	if (!pb)
		return NULL;
	xlb__v1__service__init(pb);
	pb->type = sp->type == XLB_SVC_NODE_PORT     ? XLB__V1__SERVICE_TYPE__NODE_PORT
		 : sp->type == XLB_SVC_LOAD_BALANCER ? XLB__V1__SERVICE_TYPE__LOAD_BALANCER
						     : XLB__V1__SERVICE_TYPE__CLUSTER_IP;
	pb->port = sp->port;
	pb->protocol = sp->proto == IPPROTO_TCP ? XLB__V1__PROTOCOL__TCP
		     : sp->proto == IPPROTO_UDP ? XLB__V1__PROTOCOL__UDP
						: XLB__V1__PROTOCOL__PROTOCOL_UNSPECIFIED;
	pb->node_port = sp->node_port;
	pb->algorithm = sp->algo == XLB_ALGO_WRR ? XLB__V1__ALGORITHM__WRR
		      : sp->algo == XLB_ALGO_SH	 ? XLB__V1__ALGORITHM__SH
						 : XLB__V1__ALGORITHM__RR;
	pb->affinity_timeout_seconds = sp->affinity_timeout;
	if (!xlb_pb_set_str(&pb->name, sp->name, sizeof(sp->name)) ||
	    !xlb_pb_set_str(&pb->cluster_ip, xlb_ip_str(&sp->vip, ip, sizeof(ip)), sizeof(ip)) ||
	    !external_to_pb(pb, sp))
		goto fail;
	if (s->n_ep) {
		pb->endpoints = calloc(s->n_ep, sizeof(*pb->endpoints));
		if (!pb->endpoints)
			goto fail;
		for (size_t i = 0; i < s->n_ep; i++) {
			pb->endpoints[i] = xlb_api_endpoint_to_pb(&s->ep[i]);
			if (!pb->endpoints[i])
				goto fail;
			pb->n_endpoints = i + 1;
		}
	}
	if (s->hc && memcmp(s->hc, &none, sizeof(none))) {
		pb->health_check = xlb_api_health_to_pb(s->hc);
		if (!pb->health_check)
			goto fail;
	}
	return pb;
fail:
	xlb_api_service_free_pb(pb);
	return NULL;
}

void xlb_api_service_free_pb(Xlb__V1__Service *pb)
{
	if (pb)
		protobuf_c_message_free_unpacked(&pb->base, NULL);
}

/* --- strings on the wire ------------------------------------------------ */

/* Wire format: https://protobuf.dev/programming-guides/encoding/ */
enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };
#define WIRE_DEPTH_MAX	32
#define WIRE_FIELDS_MAX	64	/* fields of one message whose repeats are counted */

static size_t varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	do {
		uint8_t b = v & 0x7f;

		v >>= 7;
		if (p)
			p[n] = b | (v ? 0x80 : 0);
		n++;
	} while (v);
	return n;
}

/* A repeated message field is one key (field number, wire type 2), length
 * and message per element, and a parser takes its elements in the order
 * they come whatever fields lie between (protobuf encoding: "Repeated
 * Elements", "Field Order"). */
int xlb_pb_sync_request_pack(const Xlb__V1__SyncRequest *req, const struct xlb_pb_packed *up,
			     size_t n_up, uint8_t **out, size_t *len)
{
	const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(
		&xlb__v1__sync_request__descriptor, "upserts");
	Xlb__V1__SyncRequest head = *req;
	uint64_t key = (uint64_t)fd->id << 3 | PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
	size_t total, n;
	uint8_t *buf;

	head.n_upserts = 0;
	head.upserts = NULL;
	total = protobuf_c_message_get_packed_size(&head.base);
	for (size_t i = 0; i < n_up; i++)
		total += varint_put(NULL, key) + varint_put(NULL, up[i].len) + up[i].len;
	buf = malloc(total ? total : 1);
	if (!buf)
		return -ENOMEM;
	n = protobuf_c_message_pack(&head.base, buf);
	for (size_t i = 0; i < n_up; i++) {
		n += varint_put(buf + n, key);
		n += varint_put(buf + n, up[i].len);
		if (up[i].len)
			memcpy(buf + n, up[i].buf, up[i].len);
		n += up[i].len;
	}
	*out = buf;
	*len = n;
	return 0;
}

static int wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned int shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;

		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -EINVAL;
}

/* One message's bytes [p, end) of type d; path holds its name (plen
 * bytes), field names and indexes are appended for messages. */
static int wire_walk(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end,
		     char *path, size_t plen, size_t cap, char *err, size_t errlen, int depth)
{
	size_t seen[WIRE_FIELDS_MAX] = { 0 };

	if (depth > WIRE_DEPTH_MAX)
		return xlb_errf(err, errlen, -EINVAL, "%s: nested too deep", path);
	while (p < end) {
		const ProtobufCFieldDescriptor *f;
		uint64_t key, v;
		size_t l, idx, bad;
		int ret;

		if (wire_varint(&p, end, &key))
			goto malformed;
		switch (key & 7) {
		case WIRE_VARINT:
			if (wire_varint(&p, end, &v))
				goto malformed;
			continue;
		case WIRE_I64:
			if (end - p < 8)
				goto malformed;
			p += 8;
			continue;
		case WIRE_I32:
			if (end - p < 4)
				goto malformed;
			p += 4;
			continue;
		case WIRE_LEN:
			if (wire_varint(&p, end, &v) || v > (uint64_t)(end - p))
				goto malformed;
			break;
		default:	/* groups: not in proto3 */
			goto malformed;
		}
		f = key >> 3 <= UINT32_MAX ?
			protobuf_c_message_descriptor_get_field(d, (unsigned int)(key >> 3)) : NULL;
		if (!f || (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)) {
			p += v;		/* unknown field, bytes, packed numbers */
			continue;
		}
		l = plen + (size_t)snprintf(path + plen, cap - plen, "%s%s", plen ? "." : "", f->name);
		idx = (size_t)(f - d->fields);
		if (f->label == PROTOBUF_C_LABEL_REPEATED && idx < WIRE_FIELDS_MAX && l < cap)
			l += (size_t)snprintf(path + l, cap - l, "[%zu]", seen[idx]++);
		if (l >= cap)
			l = cap - 1;
		if (f->type == PROTOBUF_C_TYPE_STRING) {
			const uint8_t *nul = memchr(p, '\0', v);

			if (!xlb_utf8_valid((const char *)p, v, &bad))
				return xlb_errf(err, errlen, -EINVAL, "%s: invalid UTF-8 at byte %zu",
						path, bad);
			if (nul)
				return xlb_errf(err, errlen, -EINVAL, "%s: NUL byte at byte %zu",
						path, (size_t)(nul - p));
		} else {
			ret = wire_walk(f->descriptor, p, p + v, path, l, cap, err, errlen, depth + 1);
			if (ret)
				return ret;
		}
		path[plen] = '\0';
		p += v;
	}
	return 0;
malformed:
	return xlb_errf(err, errlen, -EINVAL, "%s%smalformed message", path, plen ? ": " : "");
}

int xlb_api_check_wire(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
		       const char *at, char *err, size_t errlen)
{
	char path[256];

	snprintf(path, sizeof(path), "%s", at ? at : "");
	return wire_walk(d, buf, buf + len, path, strlen(path), sizeof(path), err, errlen, 0);
}

void xlb_api_fix_utf8(char *s)
{
	size_t len = strlen(s), off = 0, bad;

	while (!xlb_utf8_valid(s + off, len - off, &bad)) {
		s[off + bad] = '?';
		off += bad + 1;
	}
}

void xlb_api_sanitize_utf8(ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	char *base = (char *)m;

	for (unsigned int i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		size_t n = 1;
		char *slots = base + f->offset;

		if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(base + f->quantifier_offset) != f->id)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)(base + f->quantifier_offset);
			slots = *(char **)(base + f->offset);
			if (!slots)
				continue;
		}
		for (size_t k = 0; k < n; k++) {
			void *v = *(void **)(slots + k * sizeof(void *));

			if (!v)
				continue;
			if (f->type == PROTOBUF_C_TYPE_STRING) {
				if (!xlb_utf8_valid(v, strlen(v), NULL))
					xlb_api_fix_utf8(v);
			} else {
				xlb_api_sanitize_utf8(v);
			}
		}
	}
}
