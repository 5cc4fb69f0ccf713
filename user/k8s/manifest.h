/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Kubernetes manifests to xlb services: what `xlbctl apply -f` and
 * `xlbctl delete -f` read (YAML), and the same rules on JSON as the API
 * server sends it. One converter behind two front ends (doctree.h); xlb-k8s
 * uses it object by object (object.h). No kernel calls.
 *
 * Input: a YAML stream of documents, each an object or a List of objects
 * (`kind: List` with items, as `kubectl get -o yaml` prints; ServiceList and
 * EndpointSliceList too). v1 Services of type ClusterIP or NodePort become
 * one xlb service per port, named "NAMESPACE/NAME:PORTNAME" (or ":PORT" when
 * the port has no name); discovery.k8s.io/v1 EndpointSlices labelled
 * kubernetes.io/service-name give them their endpoints. xlb.io/ annotations
 * on the Service choose the algorithm, backend weights and a health check.
 * Other kinds, and objects xlb does not serve (LoadBalancer, ExternalName,
 * headless, IPv6), are skipped with a warning.
 *
 * The whole input is one unit: any invalid document rejects all of it.
 */
#ifndef XLB_K8S_MANIFEST_H
#define XLB_K8S_MANIFEST_H

#include <stddef.h>

#include "model/state.h"

#define XLB_K8S_MAX_WARNINGS 1000	/* then one "more warnings" line */

/* Which Services are ours. NULL fields (or no opts): the defaults. */
struct xlb_k8s_opts {
	/* A Service labelled service.kubernetes.io/service-proxy-name is
	 * served only when the label names this ("xlb"). */
	const char *proxy_name;
	/* Program LoadBalancer ingress IPs only for this spec.loadBalancerClass
	 * (NULL: every class, as kube-proxy does). */
	const char *lb_class;
};

struct xlb_k8s_result {
	struct xlb_svc_desired *svcs;	/* one per (Service, port), in input order */
	size_t n_svcs;
	char **warnings;		/* "FILE:LINE: kind ConfigMap skipped" */
	size_t n_warnings;
};

/* Parse buf[0..len) (need not be NUL-terminated). 0 and *out (free it with
 * xlb_k8s_result_free), or a negative errno (-EINVAL for bad input) with
 * err = "FILE:LINE: message", the line (1-based) of the offending node, and
 * *out empty. Every service returned has passed xlb_svc_validate(). */
int xlb_k8s_parse(const char *buf, size_t len, const char *filename,
		  struct xlb_k8s_result *out, char *err, size_t errlen);
/* The same for JSON values (one or more, each an object or a List, as
 * `kubectl get -o json` prints them); messages name no line. */
int xlb_k8s_parse_json(const char *buf, size_t len, const char *filename,
		       struct xlb_k8s_result *out, char *err, size_t errlen);
void xlb_k8s_result_free(struct xlb_k8s_result *r);

#endif /* XLB_K8S_MANIFEST_H */
