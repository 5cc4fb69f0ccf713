// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * v1 Service to xlb services: one per entry of spec.ports, sharing the
 * cluster IP, affinity, external addresses, traffic policies and xlb.io/
 * annotations. What kube-proxy would serve is taken (ClusterIP, NodePort,
 * LoadBalancer with its ingress IPs, externalIPs); the rest is skipped with
 * a warning (ExternalName, headless, IPv6, another proxy's Services).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/k8s_priv.h"

#define ANNOT_PREFIX "xlb.io/"
/* kube-proxy's own filters (pkg/proxy: its informers' label selector). */
#define PROXY_NAME_LABEL "service.kubernetes.io/service-proxy-name"
#define HEADLESS_LABEL	 "service.kubernetes.io/headless"

/* What is common to every port of the Service. */
struct svc_base {
	struct xlb_svc_desired d;	/* spec of every port */
	struct xlb_health_spec hc;	/* and health check */
	struct xlb_k8s_service obj;
	bool hc_set, hc_params;
	bool alloc_node_ports;		/* allocateLoadBalancerNodePorts (default true) */
};

static int annot_fail(struct k8s_ctx *c, const struct k8s_node *val, const char *key,
		      const char *why)
{
	char text[96];

	return k8s_fail(c, val->line, "annotation %s: \"%s\": %s", key,
			k8s_node_text(val, text, sizeof(text)), why);
}

static int annot_duration(struct k8s_ctx *c, const struct k8s_node *val, const char *key,
			  const char *s, uint32_t *ms)
{
	const char *why;

	if (k8s_parse_duration_ms(s, ms, &why))
		return annot_fail(c, val, key, why);
	return 0;
}

static int annot_threshold(struct k8s_ctx *c, const struct k8s_node *val, const char *key,
			   const char *s, uint32_t *v)
{
	if (k8s_parse_uint(s, 1000, v) || !*v)
		return annot_fail(c, val, key, "want a count from 1 to 1000");
	return 0;
}

static int annotation(struct k8s_ctx *c, struct svc_base *b, const struct k8s_node *k,
		      const struct k8s_node *val)
{
	struct xlb_health_spec *hc = &b->hc;
	const char *key = k->str, *s = "";
	char why[128], text[96];
	int ret;

	if (strncmp(key, ANNOT_PREFIX, strlen(ANNOT_PREFIX)))
		return 0;
	if (!k8s_node_is_null(val) && (ret = k8s_str(c, val, k8s_node_text(k, text, sizeof(text)), &s)))
		return ret;
	if (!strcmp(key, "xlb.io/lb-algorithm")) {
		if (xlb_algo_parse(s, &b->d.spec.algo))
			return annot_fail(c, val, key, "want rr, wrr or sh");
	} else if (!strcmp(key, "xlb.io/lb-mode")) {
		if (xlb_lb_mode_parse(s, &b->d.spec.lb_mode))
			return annot_fail(c, val, key, "want snat or dsr");
	} else if (!strcmp(key, "xlb.io/backend-weights")) {
		ret = k8s_parse_weights(s, &b->obj.weights, &b->obj.n_weights, why, sizeof(why));
		if (ret == -ENOMEM)
			return k8s_nomem(c);
		if (ret)
			return annot_fail(c, val, key, why);
		b->obj.weights_line = val->line;
	} else if (!strcmp(key, "xlb.io/health-check")) {
		if (k8s_parse_health_check(s, hc, why, sizeof(why)))
			return annot_fail(c, val, key, why);
		if (hc->kind == XLB_HC_EXEC) {
			/* Whoever may annotate a Service would run commands
			 * on every node: exec probes come over the API only. */
			hc->kind = XLB_HC_NONE;
			hc->argc = 0;
			memset(hc->argv, 0, sizeof(hc->argv));
			return k8s_warn(c, val->line,
					"annotation %s: exec health checks are never taken from annotations (whoever may annotate a Service would run commands on every node); ignored: set it over xlbd's API",
					key);
		}
		b->hc_set = true;
	} else if (!strcmp(key, "xlb.io/health-period")) {
		b->hc_params = true;
		return annot_duration(c, val, key, s, &hc->period_ms);
	} else if (!strcmp(key, "xlb.io/health-timeout")) {
		b->hc_params = true;
		return annot_duration(c, val, key, s, &hc->timeout_ms);
	} else if (!strcmp(key, "xlb.io/health-initial-delay")) {
		b->hc_params = true;
		return annot_duration(c, val, key, s, &hc->initial_delay_ms);
	} else if (!strcmp(key, "xlb.io/health-failure-threshold")) {
		b->hc_params = true;
		return annot_threshold(c, val, key, s, &hc->failure_threshold);
	} else if (!strcmp(key, "xlb.io/health-success-threshold")) {
		b->hc_params = true;
		return annot_threshold(c, val, key, s, &hc->success_threshold);
	} else {
		return k8s_warn(c, k->line, "annotation %s unknown, ignored",
				k8s_node_text(k, text, sizeof(text)));
	}
	return 0;
}

static int annotations(struct k8s_ctx *c, struct svc_base *b, const struct k8s_node *doc)
{
	const struct k8s_node *a = k8s_field(k8s_map_get(doc, "metadata"), "annotations");
	int ret;

	if (!a)
		return 0;
	ret = k8s_want_map(c, a, "metadata.annotations");
	for (size_t i = 0; !ret && i < a->n; i++) {
		const struct k8s_node *k = k8s_map_key(a, i);

		/* A NUL inside the key would hide the rest of it from strcmp. */
		if (memchr(k->str, '\0', k->len))
			return k8s_fail(c, k->line, "metadata.annotations: NUL in a key");
		ret = annotation(c, b, k, k8s_map_val(a, i));
	}
	if (ret)
		return ret;
	if (b->hc_params && !b->hc_set) {
		memset(&b->hc, 0, sizeof(b->hc));
		return k8s_warn(c, a->line,
				"xlb.io/health-* annotations without xlb.io/health-check ignored");
	}
	return 0;
}

static int affinity(struct k8s_ctx *c, struct svc_base *b, const struct k8s_node *spec)
{
	const struct k8s_node *n = k8s_field(spec, "sessionAffinity");
	const char *s;
	int64_t v;
	int ret;

	if (!n)
		return 0;
	ret = k8s_str(c, n, "spec.sessionAffinity", &s);
	if (ret || !strcmp(s, "None"))
		return ret;
	if (strcmp(s, "ClientIP")) {
		char text[32];

		return k8s_fail(c, n->line, "spec.sessionAffinity: \"%s\": want ClientIP or None",
				k8s_node_text(n, text, sizeof(text)));
	}
	b->d.spec.affinity_timeout = XLB_DEFAULT_AFFINITY_TIMEOUT;
	n = k8s_field(k8s_field(k8s_field(spec, "sessionAffinityConfig"), "clientIP"),
		      "timeoutSeconds");
	if (!n)
		return 0;
	ret = k8s_int(c, n, "spec.sessionAffinityConfig.clientIP.timeoutSeconds", 1,
		      K8S_MAX_AFFINITY_TIMEOUT, &v);
	if (!ret)
		b->d.spec.affinity_timeout = (uint32_t)v;
	return ret;
}

/* 0 to take the Service, 1 to skip it (with a warning), or an error. */
static int type_and_vip(struct k8s_ctx *c, struct svc_base *b, const struct k8s_node *doc,
			const struct k8s_node *spec)
{
	const struct k8s_node *n = k8s_field(spec, "type");
	const char *s = "ClusterIP";
	char text[64];
	int ret;

	if (n && (ret = k8s_str(c, n, "spec.type", &s)))
		return ret;
	if (!strcmp(s, "NodePort")) {
		b->d.spec.type = XLB_SVC_NODE_PORT;
	} else if (!strcmp(s, "LoadBalancer")) {
		b->d.spec.type = XLB_SVC_LOAD_BALANCER;
	} else if (!strcmp(s, "ExternalName")) {
		ret = k8s_warn(c, doc->line, "type %s skipped", s);
		return ret ? ret : 1;
	} else if (strcmp(s, "ClusterIP")) {
		return k8s_fail(c, n->line, "spec.type: \"%s\": unknown",
				k8s_node_text(n, text, sizeof(text)));
	}
	n = k8s_field(spec, "clusterIP");
	if (!n)
		return k8s_fail(c, spec->line, "spec.clusterIP: required");
	ret = k8s_str(c, n, "spec.clusterIP", &s);
	if (ret)
		return ret;
	if (!strcmp(s, "None")) {
		ret = k8s_warn(c, doc->line, "headless (clusterIP None) skipped");
		return ret ? ret : 1;
	}
	if (!*s)
		return k8s_fail(c, n->line, "spec.clusterIP: required");
	if (xlb_ip_parse(s, &b->d.spec.vip))
		return k8s_fail(c, n->line, "spec.clusterIP: \"%s\" is not an IPv4 address",
				k8s_node_text(n, text, sizeof(text)));
	if (b->d.spec.vip.family != XLB_AF_INET) {
		ret = k8s_warn(c, doc->line, "IPv6 clusterIP %s skipped",
			       k8s_node_text(n, text, sizeof(text)));
		return ret ? ret : 1;
	}
	return 0;
}

static int port(struct k8s_ctx *c, struct svc_base *b, const struct k8s_node *p, size_t i,
		const char *ns, const char *name, struct k8s_port *kp)
{
	struct xlb_service_spec *sp = &kp->spec;
	const struct k8s_node *n;
	const char *s;
	char what[64], text[32];
	int64_t v;
	int len, ret;

	snprintf(what, sizeof(what), "spec.ports[%zu]", i);
	ret = k8s_want_map(c, p, what);
	if (ret)
		return ret;
	if (xlb_service_copy(sp, &b->d.spec))
		return k8s_nomem(c);
	kp->line = p->line;
	n = k8s_field(p, "name");
	snprintf(what, sizeof(what), "spec.ports[%zu].name", i);
	if (n && (ret = k8s_copy(c, n, what, kp->name, sizeof(kp->name))))
		return ret;

	n = k8s_field(p, "port");
	snprintf(what, sizeof(what), "spec.ports[%zu].port", i);
	if (!n)
		return k8s_fail(c, p->line, "%s: required", what);
	ret = k8s_int(c, n, what, 1, 65535, &v);
	if (ret)
		return ret;
	sp->port = (uint32_t)v;

	sp->proto = IPPROTO_TCP;
	n = k8s_field(p, "protocol");
	snprintf(what, sizeof(what), "spec.ports[%zu].protocol", i);
	if (n && (ret = k8s_str(c, n, what, &s)))
		return ret;
	if (n && !strcmp(s, "UDP"))
		sp->proto = IPPROTO_UDP;
	else if (n && !strcmp(s, "SCTP"))
		return k8s_fail(c, n->line, "%s: SCTP is not supported", what);
	else if (n && strcmp(s, "TCP"))
		return k8s_fail(c, n->line, "%s: \"%s\": want TCP or UDP", what,
				k8s_node_text(n, text, sizeof(text)));

	sp->node_port = 0;
	n = k8s_field(p, "nodePort");
	snprintf(what, sizeof(what), "spec.ports[%zu].nodePort", i);
	if (n && (ret = k8s_int(c, n, what, 0, 65535, &v)))
		return ret;
	if (sp->type == XLB_SVC_NODE_PORT ||
	    (sp->type == XLB_SVC_LOAD_BALANCER && b->alloc_node_ports)) {
		if (!n || !v)
			return k8s_fail(c, p->line, "%s: required for type %s", what,
					xlb_svc_type_name(sp->type));
		sp->node_port = (uint32_t)v;
	} else if (sp->type == XLB_SVC_LOAD_BALANCER) {
		sp->node_port = n ? (uint32_t)v : 0;	/* kept if given */
	} else if (n && v) {
		return k8s_fail(c, n->line, "%s: only for types NodePort and LoadBalancer", what);
	}

	if (*kp->name)
		len = snprintf(sp->name, sizeof(sp->name), "%s/%s:%s", ns, name, kp->name);
	else
		len = snprintf(sp->name, sizeof(sp->name), "%s/%s:%u", ns, name, sp->port);
	if (len < 0 || (size_t)len >= sizeof(sp->name))
		return k8s_fail(c, p->line, "service name \"%s/%s:...\": longer than %zu bytes",
				ns, name, sizeof(sp->name) - 1);
	return 0;
}

/* Labels that make a Service another proxy's (1: skip, with a warning). */
static int not_ours(struct k8s_ctx *c, const struct k8s_node *doc)
{
	const struct k8s_node *labels = k8s_field(k8s_map_get(doc, "metadata"), "labels"), *n;
	const char *want = c->opts && c->opts->proxy_name ? c->opts->proxy_name : "xlb";
	const char *name;
	char text[64];
	int ret;

	if (!labels)
		return 0;
	ret = k8s_want_map(c, labels, "metadata.labels");
	if (ret)
		return ret;
	n = k8s_field(labels, PROXY_NAME_LABEL);
	if (n) {
		ret = k8s_str(c, n, "metadata.labels." PROXY_NAME_LABEL, &name);
		if (ret)
			return ret;
		if (strcmp(name, want)) {
			ret = k8s_warn(c, doc->line, PROXY_NAME_LABEL " \"%s\": another proxy's, "
				       "skipped", k8s_node_text(n, text, sizeof(text)));
			return ret ? ret : 1;
		}
	}
	if (k8s_map_get(labels, HEADLESS_LABEL)) {
		ret = k8s_warn(c, doc->line, "label " HEADLESS_LABEL ": skipped");
		return ret ? ret : 1;
	}
	return 0;
}

static int policy(struct k8s_ctx *c, const struct k8s_node *spec, const char *key,
		  enum xlb_traffic_policy *out)
{
	const struct k8s_node *n = k8s_field(spec, key);
	char what[64], text[32];
	const char *s;
	int ret;

	snprintf(what, sizeof(what), "spec.%s", key);
	*out = XLB_POLICY_CLUSTER;
	if (!n)
		return 0;
	ret = k8s_str(c, n, what, &s);
	if (ret)
		return ret;
	if (!strcmp(s, "Local"))
		*out = XLB_POLICY_LOCAL;
	else if (strcmp(s, "Cluster") && strcmp(s, "Global"))	/* Global: the old name */
		return k8s_fail(c, n->line, "%s: \"%s\": want Cluster or Local", what,
				k8s_node_text(n, text, sizeof(text)));
	return 0;
}

/* One IPv4 address of a list into v (IPv6 skipped with a warning). */
static int list_addr(struct k8s_ctx *c, const struct k8s_node *n, const char *what,
		     struct xlb_ip *v, uint32_t *count)
{
	char text[64];
	struct xlb_ip ip;
	const char *s;
	int ret;

	ret = k8s_str(c, n, what, &s);
	if (ret)
		return ret;
	if (xlb_ip_parse(s, &ip))
		return k8s_fail(c, n->line, "%s: \"%s\" is not an IP address", what,
				k8s_node_text(n, text, sizeof(text)));
	if (ip.family != XLB_AF_INET)
		return k8s_warn(c, n->line, "%s: IPv6 %s skipped", what,
				k8s_node_text(n, text, sizeof(text)));
	for (uint32_t i = 0; i < *count; i++)
		if (xlb_ip_equal(&v[i], &ip))
			return 0;
	if (*count == XLB_MAX_SVC_ADDRS)
		return k8s_fail(c, n->line, "%s: more than %d addresses", what, XLB_MAX_SVC_ADDRS);
	v[(*count)++] = ip;
	return 0;
}

/* status.loadBalancer.ingress: the IPs a load balancer sends to the nodes.
 * Not taken: hostnames (nothing to match), ipMode Proxy (KEP-1860: the load
 * balancer proxies to the nodes' node ports itself, kube-proxy must not
 * capture the IP), and another class's when a class is configured. */
static int ingress(struct k8s_ctx *c, struct svc_base *b, const struct k8s_node *doc,
		   const struct k8s_node *spec)
{
	const struct k8s_node *lb = k8s_field(k8s_field(doc, "status"), "loadBalancer");
	const struct k8s_node *ing = k8s_field(lb, "ingress"), *n;
	const char *want = c->opts ? c->opts->lb_class : NULL, *cls = NULL, *mode;
	struct xlb_service_spec *sp = &b->d.spec;
	char what[64], text[64];
	int ret;

	if (!ing)
		return 0;
	ret = k8s_want_seq(c, ing, "status.loadBalancer.ingress");
	if (ret)
		return ret;
	n = k8s_field(spec, "loadBalancerClass");
	if (n && (ret = k8s_str(c, n, "spec.loadBalancerClass", &cls)))
		return ret;
	if (want && (!cls || strcmp(cls, want))) {
		return ing->n ? k8s_warn(c, ing->line, "loadBalancerClass \"%s\" is not %s: "
					 "ingress IPs left to its implementation",
					 cls ? k8s_node_text(n, text, sizeof(text)) : "",
					 want) : 0;
	}
	for (size_t i = 0; i < ing->n; i++) {
		const struct k8s_node *e = ing->items[i];

		snprintf(what, sizeof(what), "status.loadBalancer.ingress[%zu]", i);
		ret = k8s_want_map(c, e, what);
		if (ret)
			return ret;
		n = k8s_field(e, "ipMode");
		if (n && (ret = k8s_str(c, n, "ipMode", &mode)))
			return ret;
		if (n && !strcmp(mode, "Proxy"))
			continue;
		n = k8s_field(e, "ip");
		if (!n)
			continue;	/* hostname only */
		snprintf(what, sizeof(what), "status.loadBalancer.ingress[%zu].ip", i);
		if (!xlb_service_addrs(sp))
			return k8s_nomem(c);
		ret = list_addr(c, n, what, sp->addrs->lb_ips, &sp->n_lb_ips);
		if (ret)
			return ret;
	}
	return 0;
}

/* externalIPs, source ranges, traffic policies, health-check node port,
 * allocateLoadBalancerNodePorts, publishNotReadyAddresses. */
static int external(struct k8s_ctx *c, struct svc_base *b, const struct k8s_node *doc,
		    const struct k8s_node *spec)
{
	struct xlb_service_spec *sp = &b->d.spec;
	const struct k8s_node *n;
	char what[64], text[64];
	int64_t v;
	int ret;

	n = k8s_field(spec, "externalIPs");
	if (n && (ret = k8s_want_seq(c, n, "spec.externalIPs")))
		return ret;
	for (size_t i = 0; n && i < n->n; i++) {
		snprintf(what, sizeof(what), "spec.externalIPs[%zu]", i);
		if (!xlb_service_addrs(sp))
			return k8s_nomem(c);
		ret = list_addr(c, n->items[i], what, sp->addrs->external_ips,
				&sp->n_external_ips);
		if (ret)
			return ret;
	}
	n = k8s_field(spec, "loadBalancerSourceRanges");
	if (n && (ret = k8s_want_seq(c, n, "spec.loadBalancerSourceRanges")))
		return ret;
	for (size_t i = 0; n && i < n->n; i++) {
		struct xlb_cidr r;
		const char *s;

		snprintf(what, sizeof(what), "spec.loadBalancerSourceRanges[%zu]", i);
		ret = k8s_str(c, n->items[i], what, &s);
		if (ret)
			return ret;
		if (xlb_cidr_parse(s, &r))
			return k8s_fail(c, n->items[i]->line, "%s: \"%s\": not a CIDR (host bits zero)",
					what, k8s_node_text(n->items[i], text, sizeof(text)));
		if (r.ip.family != XLB_AF_INET)
			continue;	/* an IPv6 range cannot match an IPv4 service */
		if (sp->n_source_ranges == XLB_MAX_SOURCE_RANGES)
			return k8s_fail(c, n->items[i]->line, "%s: more than %d ranges", what,
					XLB_MAX_SOURCE_RANGES);
		if (!xlb_service_addrs(sp))
			return k8s_nomem(c);
		sp->addrs->source_ranges[sp->n_source_ranges++] = r;
	}
	ret = policy(c, spec, "externalTrafficPolicy", &sp->ext_policy);
	if (!ret)
		ret = policy(c, spec, "internalTrafficPolicy", &sp->int_policy);
	if (ret)
		return ret;
	if (sp->ext_policy == XLB_POLICY_LOCAL && sp->type == XLB_SVC_CLUSTER_IP &&
	    !sp->n_external_ips)
		sp->ext_policy = XLB_POLICY_CLUSTER;	/* nothing external to apply it to */
	n = k8s_field(spec, "healthCheckNodePort");
	if (n && (ret = k8s_int(c, n, "spec.healthCheckNodePort", 0, 65535, &v)))
		return ret;
	if (n && v && sp->type == XLB_SVC_LOAD_BALANCER && sp->ext_policy == XLB_POLICY_LOCAL)
		sp->health_check_node_port = (uint32_t)v;
	b->alloc_node_ports = true;
	n = k8s_field(spec, "allocateLoadBalancerNodePorts");
	if (n && (ret = k8s_bool(c, n, "spec.allocateLoadBalancerNodePorts",
				 &b->alloc_node_ports)))
		return ret;
	n = k8s_field(spec, "publishNotReadyAddresses");
	if (n && (ret = k8s_bool(c, n, "spec.publishNotReadyAddresses",
				 &b->obj.publish_not_ready)))
		return ret;
	return sp->type == XLB_SVC_LOAD_BALANCER ? ingress(c, b, doc, spec) : 0;
}

/* n: the ports that may hold lists (calloc'd: the others hold none). */
static void ports_free(struct k8s_port *ports, size_t n)
{
	for (size_t i = 0; ports && i < n; i++)
		xlb_service_fini(&ports[i].spec);
	free(ports);
}

void k8s_service_free(struct xlb_k8s_service *o)
{
	if (!o)
		return;
	free(o->key);
	ports_free(o->ports, o->n_ports);
	free(o->hc);
	free(o->weights);
	free(o);
}

int k8s_service(struct k8s_ctx *c, const struct k8s_node *doc, struct xlb_k8s_service **out)
{
	const struct k8s_node *spec, *ports = NULL;
	const char *ns, *name;
	struct svc_base *b;
	int ret;

	*out = NULL;
	ret = k8s_meta(c, doc, "Service", &ns, &name);
	if (ret)
		return ret;
	spec = k8s_field(doc, "spec");
	if (!spec)
		return k8s_fail(c, doc->line, "spec: required");
	ret = k8s_want_map(c, spec, "spec");
	if (ret)
		return ret;

	b = calloc(1, sizeof(*b));	/* ~5 KiB: not on the stack */
	if (!b)
		return k8s_nomem(c);
	b->obj.line = doc->line;
	ret = not_ours(c, doc);
	if (!ret)
		ret = type_and_vip(c, b, doc, spec);
	if (!ret)
		ret = external(c, b, doc, spec);
	if (ret)
		goto out;
	ret = affinity(c, b, spec);
	if (!ret)
		ret = annotations(c, b, doc);
	if (ret)
		goto out;

	ports = k8s_field(spec, "ports");
	if (!ports) {
		ret = k8s_fail(c, spec->line, "spec.ports: at least one port required");
		goto out;
	}
	ret = k8s_want_seq(c, ports, "spec.ports");
	if (!ret && !ports->n)
		ret = k8s_fail(c, ports->line, "spec.ports: at least one port required");
	if (ret)
		goto out;
	b->obj.ports = calloc(ports->n, sizeof(*b->obj.ports));
	b->obj.key = malloc(strlen(ns) + strlen(name) + 2);
	if (b->hc.kind != XLB_HC_NONE)
		b->obj.hc = malloc(sizeof(*b->obj.hc));
	if (!b->obj.ports || !b->obj.key || (b->hc.kind != XLB_HC_NONE && !b->obj.hc)) {
		ret = k8s_nomem(c);
		goto out;
	}
	if (b->obj.hc)
		*b->obj.hc = b->hc;
	sprintf(b->obj.key, "%s/%s", ns, name);
	for (size_t i = 0; !ret && i < ports->n; i++) {
		ret = port(c, b, ports->items[i], i, ns, name, &b->obj.ports[i]);
		if (!ret)
			b->obj.n_ports++;
	}
	if (!ret) {
		*out = malloc(sizeof(**out));
		if (!*out)
			ret = k8s_nomem(c);
		else
			**out = b->obj;
	}
out:
	if (ret) {
		ports_free(b->obj.ports, ports ? ports->n : 0);
		free(b->obj.key);
		free(b->obj.hc);
		free(b->obj.weights);
	}
	xlb_service_fini(&b->d.spec);	/* each port has a copy */
	free(b);
	return ret < 0 ? ret : 0;
}
