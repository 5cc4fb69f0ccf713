// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Kubernetes manifest reader: fixtures as `kubectl get -o yaml` prints
 * them, hand-written multi-document files, malformed inputs (each error must
 * name the file and the exact line), and hostile bytes (truncations, random
 * mutations, nesting, alias bombs) that must end in 0 or an error, never a
 * crash or a leak (run under ASan+UBSan by `make unit-san`).
 *
 * The JSON front end must give exactly what the YAML one gives for the same
 * objects (the .json fixtures are the .yaml ones as `kubectl get -o json`
 * prints them), and the one-object API (object.h) the same again.
 *
 * Fixtures are read relative to the repository root (tests run from there).
 * Built with -DXLB_K8S_FUZZ this file is a libFuzzer target instead.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "k8s/manifest.h"
#include "k8s/k8s_priv.h"
#include "k8s/object.h"
#include "rng.h"

#define FIXTURES "tests/unit/fixtures/k8s/"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int parse_file(const char *name, struct xlb_k8s_result *r, char *err, size_t errlen)
{
	char path[256];
	size_t len;
	char *buf;
	int ret;

	snprintf(path, sizeof(path), FIXTURES "%s", name);
	buf = slurp(path, &len);
	ret = xlb_k8s_parse(buf, len, path, r, err, errlen);
	free(buf);
	return ret;
}

static int parse_str(const char *yaml, struct xlb_k8s_result *r, char *err, size_t errlen)
{
	return xlb_k8s_parse(yaml, strlen(yaml), "t.yaml", r, err, errlen);
}

/* Parse a fixture that must be accepted; fail with the message if not. */
static void load_ok(const char *name, struct xlb_k8s_result *r)
{
	char err[512] = "";
	int ret = parse_file(name, r, err, sizeof(err));

	if (ret)
		fail_msg("%s: %d: %s", name, ret, err);
}

static const struct xlb_svc_desired *svc(const struct xlb_k8s_result *r, const char *name)
{
	for (size_t i = 0; i < r->n_svcs; i++)
		if (!strcmp(r->svcs[i].spec.name, name))
			return &r->svcs[i];
	fail_msg("no service %s", name);
	return NULL;
}

static const struct xlb_endpoint *ep(const struct xlb_svc_desired *s, const char *addr,
				     uint32_t port)
{
	struct xlb_ip ip;

	assert_int_equal(xlb_ip_parse(addr, &ip), 0);
	for (size_t i = 0; i < s->n_ep; i++)
		if (xlb_ip_equal(&s->ep[i].addr, &ip) && s->ep[i].port == port)
			return &s->ep[i];
	fail_msg("%s: no endpoint %s:%u", s->spec.name, addr, port);
	return NULL;
}

static void assert_vip(const struct xlb_svc_desired *s, const char *addr)
{
	char buf[XLB_IP_STRLEN];

	assert_int_equal(s->spec.vip.family, XLB_AF_INET);
	assert_string_equal(xlb_ip_str(&s->spec.vip, buf, sizeof(buf)), addr);
}

static void assert_ep(const struct xlb_endpoint *e, uint32_t weight, bool ready, bool serving,
		      bool terminating, const char *name)
{
	assert_int_equal(e->weight, weight);
	assert_int_equal(e->ready, ready);
	assert_int_equal(e->serving, serving);
	assert_int_equal(e->terminating, terminating);
	assert_string_equal(e->name, name);
}

static void assert_warning(const struct xlb_k8s_result *r, const char *text)
{
	for (size_t i = 0; i < r->n_warnings; i++)
		if (!strcmp(r->warnings[i], text))
			return;
	for (size_t i = 0; i < r->n_warnings; i++)
		print_message("warning: %s\n", r->warnings[i]);
	fail_msg("no warning \"%s\"", text);
}

static bool result_empty(const struct xlb_k8s_result *r)
{
	return !r->svcs && !r->n_svcs && !r->warnings && !r->n_warnings;
}

/* kubectl get svc,endpointslice -A -o yaml: a List with all the noise. */
static void test_kubectl_list(void **state)
{
	const struct xlb_svc_desired *s;
	struct xlb_k8s_result r;

	(void)state;
	load_ok("list-web-dns.yaml", &r);
	assert_int_equal(r.n_svcs, 5);
	assert_int_equal(r.n_warnings, 0);
	/* Input order: services in the order of their documents and ports. */
	assert_string_equal(r.svcs[0].spec.name, "default/kubernetes:https");
	assert_string_equal(r.svcs[1].spec.name, "default/web:http");
	assert_string_equal(r.svcs[2].spec.name, "kube-system/kube-dns:dns");
	assert_string_equal(r.svcs[3].spec.name, "kube-system/kube-dns:dns-tcp");
	assert_string_equal(r.svcs[4].spec.name, "kube-system/kube-dns:metrics");

	s = svc(&r, "default/kubernetes:https");
	assert_vip(s, "10.96.0.1");
	assert_int_equal(s->spec.port, 443);
	assert_int_equal(s->spec.proto, IPPROTO_TCP);
	assert_int_equal(s->spec.type, XLB_SVC_CLUSTER_IP);
	assert_int_equal(s->spec.node_port, 0);
	assert_int_equal(s->spec.algo, XLB_ALGO_RR);
	assert_int_equal(s->spec.affinity_timeout, 0);
	assert_null(s->hc);
	assert_int_equal(s->n_ep, 1);
	assert_ep(ep(s, "172.18.0.2", 6443), 1, true, true, false, "");

	/* Two slices merged; the not-ready and the terminating endpoints stay. */
	s = svc(&r, "default/web:http");
	assert_vip(s, "10.96.112.34");
	assert_int_equal(s->spec.port, 80);
	assert_int_equal(s->n_ep, 3);
	assert_ep(ep(s, "10.244.1.17", 8080), 1, true, true, false, "web-7d4b9c6f8-x2k9p");
	assert_ep(ep(s, "10.244.2.9", 8080), 1, false, false, false, "web-7d4b9c6f8-q8m4t");
	assert_ep(ep(s, "10.244.3.4", 8080), 1, false, true, true, "web-7d4b9c6f8-z7c1w");

	/* Slice ports matched by name and protocol, not by position. */
	s = svc(&r, "kube-system/kube-dns:dns");
	assert_vip(s, "10.96.0.10");
	assert_int_equal(s->spec.port, 53);
	assert_int_equal(s->spec.proto, IPPROTO_UDP);
	assert_int_equal(s->n_ep, 2);
	assert_ep(ep(s, "10.244.0.3", 53), 1, true, true, false, "coredns-5d78c9869d-7k2xq");
	assert_ep(ep(s, "10.244.0.4", 53), 1, true, true, false, "coredns-5d78c9869d-p9vzl");
	s = svc(&r, "kube-system/kube-dns:dns-tcp");
	assert_int_equal(s->spec.proto, IPPROTO_TCP);
	assert_int_equal(s->n_ep, 2);
	s = svc(&r, "kube-system/kube-dns:metrics");
	assert_int_equal(s->spec.port, 9153);
	assert_int_equal(s->n_ep, 2);
	ep(s, "10.244.0.3", 9153);
	ep(s, "10.244.0.4", 9153);

	for (size_t i = 0; i < r.n_svcs; i++)
		assert_int_equal(xlb_svc_validate(&r.svcs[i], NULL, 0), 0);
	xlb_k8s_result_free(&r);
	assert_true(result_empty(&r));
}

static void test_multi_doc_node_port(void **state)
{
	const struct xlb_svc_desired *s;
	struct xlb_k8s_result r;

	(void)state;
	load_ok("multi-doc.yaml", &r);
	assert_int_equal(r.n_svcs, 2);
	assert_int_equal(r.n_warnings, 2);
	assert_string_equal(r.warnings[0],
			    FIXTURES "multi-doc.yaml:3: kind Deployment skipped");
	assert_string_equal(r.warnings[1],
			    FIXTURES "multi-doc.yaml:27: kind ConfigMap skipped");

	s = svc(&r, "shop/shop:http");
	assert_int_equal(s->spec.type, XLB_SVC_NODE_PORT);
	assert_vip(s, "10.96.45.7");
	assert_int_equal(s->spec.port, 80);
	assert_int_equal(s->spec.node_port, 30080);
	assert_int_equal(s->n_ep, 2);
	assert_ep(ep(s, "10.244.1.30", 8080), 1, true, true, false, "shop-6c9f7-abcde");
	assert_ep(ep(s, "10.244.2.31", 8080), 1, true, true, false, "shop-6c9f7-fghij");

	s = svc(&r, "shop/shop:https");
	assert_int_equal(s->spec.type, XLB_SVC_NODE_PORT);
	assert_int_equal(s->spec.port, 443);
	assert_int_equal(s->spec.node_port, 30443);
	assert_int_equal(s->n_ep, 2);
	ep(s, "10.244.1.30", 8443);
	ep(s, "10.244.2.31", 8443);
	xlb_k8s_result_free(&r);
}

static void test_affinity(void **state)
{
	struct xlb_k8s_result r;

	(void)state;
	load_ok("affinity.yaml", &r);
	assert_int_equal(r.n_svcs, 3);
	/* Unnamed port: the number names it; no namespace: "default". */
	assert_int_equal(svc(&r, "default/sticky:8080")->spec.affinity_timeout, 600);
	assert_int_equal(svc(&r, "apps/sticky-default:9090")->spec.affinity_timeout, 10800);
	assert_int_equal(svc(&r, "apps/not-sticky:9091")->spec.affinity_timeout, 0);
	xlb_k8s_result_free(&r);
}

static void test_annotations(void **state)
{
	const struct xlb_svc_desired *s;
	struct xlb_k8s_result r;

	(void)state;
	load_ok("annotations.yaml", &r);
	assert_int_equal(r.n_svcs, 3);

	s = svc(&r, "prod/api:http");
	assert_int_equal(s->spec.algo, XLB_ALGO_WRR);
	assert_int_equal(s->n_ep, 4);
	assert_int_equal(ep(s, "10.244.1.5", 8080)->weight, 5);
	assert_int_equal(ep(s, "10.244.2.6", 8080)->weight, 1);
	assert_int_equal(ep(s, "10.244.3.7", 8080)->weight, 0);
	assert_int_equal(ep(s, "10.244.4.8", 8080)->weight, 1);	/* not listed: 1 */
	assert_non_null(s->hc);
	assert_int_equal(s->hc->kind, XLB_HC_HTTP);
	assert_string_equal(s->hc->http_path, "/healthz");
	assert_int_equal(s->hc->period_ms, 5000);
	assert_int_equal(s->hc->timeout_ms, 1500);
	assert_int_equal(s->hc->failure_threshold, 2);
	assert_int_equal(s->hc->success_threshold, 1);
	assert_int_equal(s->hc->initial_delay_ms, 1500);

	/* An exec health check from an annotation: dropped, with its
	 * parameters, and said so; the Service itself stays. */
	s = svc(&r, "prod/cache:redis");
	assert_int_equal(s->spec.algo, XLB_ALGO_SH);
	assert_null(s->hc);
	assert_int_equal(s->n_ep, 0);	/* no slice: no endpoints, no warning */

	s = svc(&r, "prod/db:5432");
	assert_int_equal(s->spec.algo, XLB_ALGO_RR);
	assert_non_null(s->hc);
	assert_int_equal(s->hc->kind, XLB_HC_TCP);
	assert_int_equal(s->hc->timeout_ms, 2000);
	assert_int_equal(s->hc->period_ms, 0);

	assert_int_equal(r.n_warnings, 4);
	assert_warning(&r, FIXTURES "annotations.yaml:30: Service prod/cache: "
				    "annotation xlb.io/health-check: exec health checks are never taken "
				    "from annotations (whoever may annotate a Service would run commands "
				    "on every node); ignored: set it over xlbd's API");
	assert_warning(&r, FIXTURES "annotations.yaml:29: Service prod/cache: "
				    "xlb.io/health-* annotations without xlb.io/health-check ignored");
	assert_warning(&r, FIXTURES "annotations.yaml:15: Service prod/api: "
				    "annotation xlb.io/colour unknown, ignored");
	assert_warning(&r, FIXTURES "annotations.yaml:8: Service prod/api: "
				    "xlb.io/backend-weights: 10.244.9.9 matches no endpoint");
	xlb_k8s_result_free(&r);
}

static void test_skipped(void **state)
{
	struct xlb_k8s_result r;

	(void)state;
	load_ok("skipped.yaml", &r);
	assert_int_equal(r.n_svcs, 2);
	/* A LoadBalancer is served now: its cluster IP and node port. */
	assert_string_equal(r.svcs[0].spec.name, "default/public:80");
	assert_int_equal(r.svcs[0].spec.type, XLB_SVC_LOAD_BALANCER);
	assert_int_equal(r.svcs[0].spec.node_port, 31080);
	assert_string_equal(r.svcs[1].spec.name, "default/web:80");
	/* The headless Service's slice goes quietly with it. */
	assert_int_equal(r.n_warnings, 5);
	assert_warning(&r, FIXTURES "skipped.yaml:12: Service default/upstream: type ExternalName skipped");
	assert_warning(&r, FIXTURES "skipped.yaml:20: Service default/pg: headless (clusterIP None) skipped");
	assert_warning(&r, FIXTURES "skipped.yaml:61: kind Service of apiVersion serving.knative.dev/v1 skipped");
	assert_warning(&r, FIXTURES "skipped.yaml:41: EndpointSlice default/orphan-x1: "
				    "Service default/orphan not in the input, skipped");
	assert_warning(&r, FIXTURES "skipped.yaml:51: EndpointSlice default/web6-x1: addressType IPv6 skipped");
	xlb_k8s_result_free(&r);
}

static void assert_ip(const struct xlb_ip *ip, const char *want)
{
	char buf[XLB_IP_STRLEN];

	assert_string_equal(xlb_ip_str(ip, buf, sizeof(buf)), want);
}

/* LoadBalancer and the fields beyond the cluster IP, as kube-proxy reads
 * them; another proxy's Services skipped. */
static void test_external(void **state)
{
	const struct xlb_svc_desired *s;
	struct xlb_k8s_result r;

	(void)state;
	load_ok("external.yaml", &r);
	assert_int_equal(r.n_svcs, 3);
	s = svc(&r, "shop/front:https");
	assert_int_equal(s->spec.type, XLB_SVC_LOAD_BALANCER);
	assert_int_equal(s->spec.node_port, 31443);
	/* ipMode Proxy and a hostname are not ours to capture. */
	assert_int_equal(s->spec.n_lb_ips, 2);
	assert_ip(&s->spec.addrs->lb_ips[0], "203.0.113.10");
	assert_ip(&s->spec.addrs->lb_ips[1], "203.0.113.11");
	assert_int_equal(s->spec.n_external_ips, 1);
	assert_ip(&s->spec.addrs->external_ips[0], "198.51.100.7");
	assert_int_equal(s->spec.n_source_ranges, 2);	/* the IPv6 one cannot match */
	assert_ip(&s->spec.addrs->source_ranges[1].ip, "203.0.113.9");
	assert_int_equal(s->spec.addrs->source_ranges[1].prefix, 32);
	assert_int_equal(s->spec.ext_policy, XLB_POLICY_LOCAL);
	assert_int_equal(s->spec.int_policy, XLB_POLICY_CLUSTER);
	assert_int_equal(s->spec.health_check_node_port, 32100);
	/* publishNotReadyAddresses: the not-ready endpoint counts as ready. */
	assert_ep(ep(s, "10.244.2.6", 8443), 1, true, true, false, "");
	assert_string_equal(ep(s, "10.244.1.5", 8443)->node_name, "node-a");
	assert_string_equal(ep(s, "10.244.1.5", 8443)->zone, "zone-a");
	assert_string_equal(ep(s, "10.244.1.5", 8443)->hints, "zone-a");
	assert_string_equal(ep(s, "10.244.2.6", 8443)->hints, "zone-b,zone-c");

	s = svc(&r, "shop/internal-lb:grpc");
	assert_int_equal(s->spec.type, XLB_SVC_LOAD_BALANCER);
	assert_int_equal(s->spec.node_port, 0);	/* allocateLoadBalancerNodePorts: false */
	assert_int_equal(s->spec.n_lb_ips, 1);	/* any class, by default */
	assert_int_equal(s->spec.int_policy, XLB_POLICY_LOCAL);
	svc(&r, "shop/ours-by-name:80");
	assert_warning(&r, FIXTURES "external.yaml:16: Service shop/front: "
			   "spec.externalIPs[1]: IPv6 2001:db8::7 skipped");
	assert_warning(&r, FIXTURES "external.yaml:56: Service shop/other-proxy: "
			   "service.kubernetes.io/service-proxy-name \"someone-else\": "
			   "another proxy's, skipped");
	assert_int_equal(r.n_warnings, 2);
	xlb_k8s_result_free(&r);
}

/* Options: another proxy name; only one load-balancer class's IPs. */
static void test_external_opts(void **state)
{
	static const struct xlb_k8s_opts o = { .proxy_name = "someone-else",
					       .lb_class = "example.com/internal" };
	struct xlb_k8s_service *svcs[4] = { 0 };
	struct xlb_k8s_result msgs = { 0 };
	const struct k8s_node *items;
	struct xlb_svc_desired out;
	struct k8s_doc d;
	unsigned int line;
	char err[256], msg[256], *buf;
	size_t len, n = 0;

	(void)state;
	buf = slurp(FIXTURES "external.json", &len);
	assert_int_equal(k8s_doc_parse_json(buf, len, &d, &line, msg, sizeof(msg)), 0);
	free(buf);
	items = k8s_map_get(d.docs[0], "items");
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(xlb_k8s_service_from(items->items[i], &o, &svcs[n], &msgs, err,
						      sizeof(err)), 0);
		if (svcs[n])
			n++;
	}
	k8s_doc_free(&d);
	/* front (no class: its IPs are left), internal-lb, other-proxy; not
	 * ours-by-name (labelled xlb, which is not our name now). */
	assert_int_equal(n, 3);
	assert_string_equal(xlb_k8s_service_key(svcs[2]), "shop/other-proxy");
	assert_int_equal(xlb_k8s_join(svcs[0], NULL, 0, &out, &msgs, err, sizeof(err)), 0);
	assert_int_equal(out.spec.n_lb_ips, 0);
	assert_int_equal(out.spec.n_external_ips, 1);	/* externalIPs have no class */
	xlb_svc_free(&out);
	assert_int_equal(xlb_k8s_join(svcs[1], NULL, 0, &out, &msgs, err, sizeof(err)), 0);
	assert_int_equal(out.spec.n_lb_ips, 1);
	xlb_svc_free(&out);
	for (size_t i = 0; i < n; i++)
		xlb_k8s_service_free(svcs[i]);
	xlb_k8s_result_free(&msgs);
}

/* The API server's own list: JSON, items without kind or apiVersion. */
static void test_service_list_json(void **state)
{
	const struct xlb_svc_desired *s;
	struct xlb_k8s_result r;

	(void)state;
	load_ok("servicelist.json", &r);
	assert_int_equal(r.n_svcs, 1);
	s = svc(&r, "default/echo:udp-echo");
	assert_vip(s, "10.96.9.7");
	assert_int_equal(s->spec.port, 7);
	assert_int_equal(s->spec.proto, IPPROTO_UDP);
	assert_int_equal(r.n_warnings, 0);
	xlb_k8s_result_free(&r);
}

struct bad_case {
	const char *file;
	unsigned int line;
	const char *text;	/* in the message after "FILE:LINE: " */
};

static const struct bad_case bad_files[] = {
	{ "bad-syntax.yaml", 10, "did not find expected key" },
	{ "bad-cluster-ip.yaml", 10, "spec.clusterIP: \"10.0.0.300\" is not an IPv4 address" },
	{ "bad-port.yaml", 12, "spec.ports[1].port: 70000 out of range (1..65535)" },
	{ "bad-nodeport-missing.yaml", 12, "spec.ports[1].nodePort: required for type NodePort" },
	{ "bad-algorithm.yaml", 6, "xlb.io/lb-algorithm: \"maglev\": want rr, wrr or sh" },
	{ "bad-weights.yaml", 8, "xlb.io/backend-weights: \"10.244.1.5=5,10.244.2.6:3\": "
				  "entry 2: want IP=WEIGHT" },
	{ "bad-duration.yaml", 7, "xlb.io/health-period: \"10 seconds\": not a duration" },
	{ "bad-sctp.yaml", 13, "spec.ports[1].protocol: SCTP is not supported" },
};

static void test_bad_files(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		const struct bad_case *c = &bad_files[i];
		struct xlb_k8s_result r;
		char err[512], prefix[256];
		int ret;

		ret = parse_file(c->file, &r, err, sizeof(err));
		snprintf(prefix, sizeof(prefix), FIXTURES "%s:%u: ", c->file, c->line);
		if (ret != -EINVAL || strncmp(err, prefix, strlen(prefix)) ||
		    !strstr(err, c->text))
			fail_msg("%s: got %d \"%s\", want -EINVAL \"%s...%s\"", c->file, ret, err,
				 prefix, c->text);
		assert_true(result_empty(&r));
	}
}

#define SVC(name, extra)                                                                   \
	"apiVersion: v1\nkind: Service\nmetadata:\n  name: " name "\n" extra                \
	"spec:\n  clusterIP: 10.96.0.9\n  ports:\n  - port: 80\n"

/* Inline documents: error line (0 = accepted), and a piece of the message. */
static const struct {
	const char *desc, *yaml;
	unsigned int line;
	const char *text;
} cases[] = {
	{ "empty input", "", 0, NULL },
	{ "comments and empty documents", "# nothing\n---\n---\n...\n", 0, NULL },
	{ "scalar document", "--- hello\n", 1, "document is a scalar, not a mapping" },
	{ "sequence document", "apiVersion: v1\nkind: Foo\n---\n- a\n- b\n", 4,
	  "document is a list, not a mapping" },
	{ "kind missing", "apiVersion: v1\nmetadata: {name: x}\n", 1, "kind: required" },
	{ "apiVersion missing", "kind: Service\nmetadata: {name: x}\n", 1, "apiVersion: required" },
	{ "duplicate key", "apiVersion: v1\nkind: Service\nkind: Service\n", 3,
	  "mapping key \"kind\" already defined at line 2" },
	{ "metadata.name missing", "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: a\n", 4,
	  "metadata.name: required" },
	{ "spec missing", "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n", 1,
	  "spec: required" },
	{ "clusterIP missing",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports: [{port: 80}]\n", 5,
	  "spec.clusterIP: required" },
	{ "clusterIP empty",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  clusterIP: \"\"\n", 5,
	  "spec.clusterIP: required" },
	{ "clusterIP short form",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  clusterIP: 10.96.1\n", 5,
	  "is not an IPv4 address" },
	{ "no ports",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  clusterIP: 10.96.0.1\n"
	  "  ports: []\n", 6, "spec.ports: at least one port required" },
	{ "port quoted",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  clusterIP: 10.96.0.1\n"
	  "  ports:\n  - port: \"80\"\n", 7, "spec.ports[0].port: expected an integer, got a string" },
	{ "port zero",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  clusterIP: 10.96.0.1\n"
	  "  ports:\n  - port: 0\n", 7, "spec.ports[0].port: 0 out of range" },
	{ "port huge",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  clusterIP: 10.96.0.1\n"
	  "  ports:\n  - port: 99999999999999999999999\n", 7, "out of range" },
	{ "port with a leading zero",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  clusterIP: 10.96.0.1\n"
	  "  ports:\n  - port: 080\n", 7, "leading zero (octal in YAML 1.1)" },
	{ "port float",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  clusterIP: 10.96.0.1\n"
	  "  ports:\n  - port: 80.5\n", 7, "\"80.5\" is not an integer" },
	{ "protocol lower case",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  clusterIP: 10.96.0.1\n"
	  "  ports:\n  - port: 80\n    protocol: tcp\n", 8, "\"tcp\": want TCP or UDP" },
	{ "nodePort on ClusterIP",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  clusterIP: 10.96.0.1\n"
	  "  ports:\n  - port: 80\n    nodePort: 30000\n", 8, "only for types NodePort and LoadBalancer" },
	{ "unknown type",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  type: Foo\n", 5,
	  "spec.type: \"Foo\": unknown" },
	{ "affinity unknown",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  clusterIP: 10.96.0.1\n"
	  "  sessionAffinity: Cookie\n  ports: [{port: 80}]\n", 6, "want ClientIP or None" },
	{ "affinity timeout 0",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  clusterIP: 10.96.0.1\n"
	  "  sessionAffinity: ClientIP\n  sessionAffinityConfig:\n    clientIP:\n"
	  "      timeoutSeconds: 0\n  ports: [{port: 80}]\n", 9, "timeoutSeconds: 0 out of range" },
	{ "affinity timeout too long",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  clusterIP: 10.96.0.1\n"
	  "  sessionAffinity: ClientIP\n  sessionAffinityConfig:\n    clientIP:\n"
	  "      timeoutSeconds: 86401\n  ports: [{port: 80}]\n", 9, "out of range (1..86400)" },
	{ "duplicate Service",
	  SVC("a", "") "---\n" SVC("a", ""), 10, "Service default/a: also defined at line 1" },
	{ "one cluster IP for two Services", SVC("a", "") "---\n" SVC("a", "  namespace: b\n"), 18,
	  "service b/a:80: 10.96.0.9 port 80/tcp already used by default/a:80 (line 8)" },
	{ "two ports with one name",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  clusterIP: 10.96.0.1\n"
	  "  ports:\n  - {name: a, port: 80}\n  - {name: a, port: 81}\n", 8,
	  "service default/x:a: also defined at line 7" },
	{ "two names for one port",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  clusterIP: 10.96.0.1\n"
	  "  ports:\n  - {name: a, port: 80}\n  - {name: b, port: 80}\n", 8,
	  "port 80/tcp already used by default/x:a (line 7)" },
	{ "one port in TCP and UDP",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  clusterIP: 10.96.0.1\n"
	  "  ports:\n  - {name: a, port: 53}\n  - {name: b, port: 53, protocol: UDP}\n", 0, NULL },
	{ "node port used twice",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  type: NodePort\n"
	  "  clusterIP: 10.96.0.1\n  ports:\n  - {port: 80, nodePort: 30001}\n---\n"
	  "apiVersion: v1\nkind: Service\nmetadata: {name: y}\nspec:\n  type: NodePort\n"
	  "  clusterIP: 10.96.0.2\n  ports:\n  - {port: 80, nodePort: 30001}\n", 17,
	  "nodePort 30001/tcp already used by default/x:80 (line 8)" },
	{ "name too long",
	  SVC("a-very-long-service-name-that-is-exactly-sixty-three-characters-x",
	      "  namespace: a-very-long-namespace-name-that-is-sixty-three-characters-long\n"),
	  9, "longer than 127 bytes" },
	{ "NUL in a name", SVC("\"a\\0b\"", ""), 4, "metadata.name: contains a NUL character" },
	{ "control character in a name", SVC("\"a\\tb\"", ""), 4, "control character" },
	{ "weights: weight too big", SVC("w", "  annotations:\n    xlb.io/backend-weights: 10.0.0.1=70000\n"),
	  6, "entry 1 (10.0.0.1): weight must be 0..65535" },
	{ "weights: address twice",
	  SVC("w", "  annotations:\n    xlb.io/backend-weights: 10.0.0.1=1,10.0.0.1=2\n"),
	  6, "10.0.0.1 given twice" },
	{ "weights: trailing comma", SVC("w", "  annotations:\n    xlb.io/backend-weights: 10.0.0.1=1,\n"),
	  6, "entry 2: want IP=WEIGHT" },
	{ "weights: IPv6", SVC("w", "  annotations:\n    xlb.io/backend-weights: fd00::1=1\n"),
	  6, "not an IPv4 address" },
	{ "weights: empty", SVC("w", "  annotations:\n    xlb.io/backend-weights: \"\"\n"),
	  6, "want IP=WEIGHT" },
	{ "health: unknown kind", SVC("h", "  annotations:\n    xlb.io/health-check: grpc\n"),
	  6, "want tcp, http:/PATH or exec:COMMAND ARGS" },
	{ "health: http path", SVC("h", "  annotations:\n    xlb.io/health-check: \"http:healthz\"\n"),
	  6, "path must start with '/'" },
	{ "health: exec empty", SVC("h", "  annotations:\n    xlb.io/health-check: \"exec:  \"\n"),
	  6, "exec: no command" },
	{ "health: threshold 0",
	  SVC("h", "  annotations:\n    xlb.io/health-check: tcp\n"
		   "    xlb.io/health-failure-threshold: \"0\"\n"), 7, "want a count from 1 to 1000" },
	{ "health: period under a millisecond",
	  SVC("h", "  annotations:\n    xlb.io/health-check: tcp\n"
		   "    xlb.io/health-period: 1.0005s\n"), 7, "finer than a millisecond" },
	/* Syntactically fine, refused by the model's validation: the line is
	 * the Service's. */
	{ "health: period out of the model's range",
	  SVC("h", "  annotations:\n    xlb.io/health-check: tcp\n"
		   "    xlb.io/health-period: 2h\n"), 1, "health_check.period_ms out of range" },
	{ "lb-mode: unknown", SVC("h", "  annotations:\n    xlb.io/lb-mode: DSR\n"),
	  6, "xlb.io/lb-mode: \"DSR\": want snat or dsr" },
	{ "lb-mode: empty", SVC("h", "  annotations:\n    xlb.io/lb-mode: \"\"\n"),
	  6, "want snat or dsr" },
	{ "annotation value not a string", SVC("h", "  annotations:\n    xlb.io/lb-algorithm: [rr]\n"),
	  6, "xlb.io/lb-algorithm: expected a string, got a list" },
	{ "annotations not a mapping", SVC("h", "  annotations: [a]\n"), 5,
	  "metadata.annotations: expected a mapping, got a list" },
	{ "list items not a list", "apiVersion: v1\nkind: List\nitems: 5\n", 3,
	  "items: expected a list, got a scalar" },
	{ "list item not a mapping", "apiVersion: v1\nkind: List\nitems:\n- 5\n", 4,
	  "items[0]: expected a mapping, got a scalar" },
	{ "nested List is skipped",
	  "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items: []\n", 0, NULL },
	{ "merge key", "base: &b {apiVersion: v1}\n<<: *b\nkind: Service\n", 2,
	  "merge keys (<<) are not supported" },
	{ "alias to its own container", "a: &x [1, *x]\n", 1, "refers to a node that contains it" },
	{ "unknown alias", "a: *nope\n", 1, "no such anchor" },
	{ "complex key", "? [a, b]\n: c\n", 1, "mapping key is not a scalar" },
	{ "anchors and aliases", "apiVersion: v1\nkind: List\nitems:\n"
	  "- apiVersion: v1\n  kind: Service\n  metadata: {name: x}\n  spec:\n"
	  "    clusterIP: 10.96.0.1\n    ports: &p\n    - {name: a, port: 80}\n"
	  "- apiVersion: v1\n  kind: Service\n  metadata: {name: y}\n  spec:\n"
	  "    clusterIP: 10.96.0.2\n    ports: *p\n", 0, NULL },
	{ "alias across documents", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n"
	  "  clusterIP: 10.96.0.1\n  ports: &p\n  - &one {name: a, port: 80}\n---\n"
	  "apiVersion: v1\nkind: Service\nmetadata: {name: y}\nspec:\n  clusterIP: 10.96.0.2\n"
	  "  ports: [*one]\n", 14, "alias *one: no such anchor" },
	{ "invalid UTF-8", "apiVersion: v1\nkind: \xff\xfe\n", 2, "invalid" },
	{ "tab indentation", "apiVersion: v1\nkind: Service\nmetadata:\n\tname: x\n", 4, "" },
	{ "unterminated quote", "apiVersion: v1\nkind: \"Service\n", 3, "" },
};

/* xlb.io/lb-mode: the node's mode unless given, dsr or snat when given. */
static void test_lb_mode(void **state)
{
	static const struct {
		const char *yaml;
		enum xlb_lb_mode want;
	} c[] = {
		{ SVC("m", ""), XLB_LB_MODE_DEFAULT },
		{ SVC("m", "  annotations:\n    xlb.io/lb-mode: dsr\n"), XLB_LB_MODE_DSR },
		{ SVC("m", "  annotations:\n    xlb.io/lb-mode: snat\n"), XLB_LB_MODE_SNAT },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct xlb_k8s_result r;
		char err[512] = "";

		if (parse_str(c[i].yaml, &r, err, sizeof(err)))
			fail_msg("case %zu: %s", i, err);
		assert_int_equal(svc(&r, "default/m:80")->spec.lb_mode, c[i].want);
		xlb_k8s_result_free(&r);
	}
}

static void test_inline(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct xlb_k8s_result r;
		char err[512] = "", prefix[64];
		int ret = parse_str(cases[i].yaml, &r, err, sizeof(err));

		if (!cases[i].line) {
			if (ret)
				fail_msg("%s: want 0, got %d: %s", cases[i].desc, ret, err);
			xlb_k8s_result_free(&r);
			continue;
		}
		snprintf(prefix, sizeof(prefix), "t.yaml:%u: ", cases[i].line);
		if (ret != -EINVAL || strncmp(err, prefix, strlen(prefix)) ||
		    !strstr(err, cases[i].text))
			fail_msg("%s: got %d \"%s\", want -EINVAL \"%s...%s\"", cases[i].desc, ret,
				 err, prefix, cases[i].text);
		assert_true(result_empty(&r));
	}
}

#define SLICE_SVC                                                                        \
	"apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n"                  \
	"  clusterIP: 10.96.0.9\n  ports:\n  - {name: http, port: 80}\n"                 \
	"  - {name: dns, port: 53, protocol: UDP}\n"
#define SLICE(name, body)                                                                \
	"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n"         \
	"  name: " name "\n  labels: {kubernetes.io/service-name: web}\naddressType: IPv4\n" body

/* Conditions as the API defines their absence, and merging of slices. */
static void test_slice_semantics(void **state)
{
	static const char yaml[] = SLICE_SVC
		SLICE("a", "ports:\n- {name: http, port: 8080}\n- {name: dns, port: 5353, protocol: UDP}\n"
		      "endpoints:\n"
		      "- addresses: [10.0.0.1]\n"				/* no conditions */
		      "- addresses: [10.0.0.2]\n  conditions: {ready: null}\n"	/* nil = ready */
		      "- addresses: [10.0.0.3]\n  conditions: {ready: false}\n" /* serving = ready */
		      "- addresses: [10.0.0.4, 10.0.0.5]\n  conditions: {ready: false, serving: true, terminating: true}\n"
		      "- addresses: [10.0.0.6]\n  conditions: {ready: false}\n")
		/* The same address again, in a second slice, now ready: it wins. */
		SLICE("b", "ports:\n- {name: http, port: 8080}\nendpoints:\n"
		      "- addresses: [10.0.0.6]\n  conditions: {ready: true}\n"
		      "  targetRef: {name: web-6}\n"
		      "- addresses: [10.0.0.1]\n  conditions: {ready: false}\n")
		/* A slice port with another protocol serves nothing here. */
		SLICE("c", "ports:\n- {name: http, port: 9999, protocol: UDP}\nendpoints:\n"
		      "- addresses: [10.0.0.9]\n")
		/* No ports, or a port without a number: nothing served. */
		SLICE("d", "endpoints:\n- addresses: [10.0.0.10]\n")
		SLICE("e", "ports:\n- {name: http, port: null}\nendpoints:\n- addresses: [10.0.0.11]\n")
		SLICE("f", "ports: []\nendpoints: null\n");
	const struct xlb_svc_desired *s;
	struct xlb_k8s_result r;
	char err[512] = "";

	(void)state;
	if (parse_str(yaml, &r, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(r.n_warnings, 0);
	s = svc(&r, "default/web:http");
	assert_int_equal(s->n_ep, 6);
	assert_ep(ep(s, "10.0.0.1", 8080), 1, true, true, false, "");
	assert_ep(ep(s, "10.0.0.2", 8080), 1, true, true, false, "");
	assert_ep(ep(s, "10.0.0.3", 8080), 1, false, false, false, "");
	assert_ep(ep(s, "10.0.0.4", 8080), 1, false, true, true, "");
	assert_ep(ep(s, "10.0.0.5", 8080), 1, false, true, true, "");
	assert_ep(ep(s, "10.0.0.6", 8080), 1, true, true, false, "web-6");
	s = svc(&r, "default/web:dns");
	assert_int_equal(s->n_ep, 6);
	assert_ep(ep(s, "10.0.0.6", 5353), 1, false, false, false, "");
	xlb_k8s_result_free(&r);
}

static const struct {
	const char *desc, *yaml;
	unsigned int line;
	const char *text;
} bad_slices[] = {
	{ "address not IPv4", SLICE_SVC SLICE("a", "endpoints:\n- addresses: [10.0.0.256]\n"), 17,
	  "EndpointSlice default/a: endpoints[0].addresses[0]: \"10.0.0.256\" is not an IPv4 address" },
	{ "addresses empty", SLICE_SVC SLICE("a", "endpoints:\n- addresses: []\n"), 17,
	  "endpoints[0].addresses: 1 to 100 addresses" },
	{ "addresses missing", SLICE_SVC SLICE("a", "endpoints:\n- nodeName: n1\n"), 17,
	  "endpoints[0].addresses: required" },
	{ "ready not a bool", SLICE_SVC SLICE("a", "endpoints:\n- addresses: [10.0.0.1]\n"
						     "  conditions:\n    ready: \"true\"\n"), 19,
	  "endpoints[0].conditions.ready: \"true\": expected true or false" },
	{ "addressType missing",
	  SLICE_SVC "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n"
		    "  name: a\n  labels: {kubernetes.io/service-name: web}\n", 10,
	  "addressType: required" },
	{ "addressType unknown", SLICE_SVC "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
				 "metadata:\n  name: a\n  labels: {kubernetes.io/service-name: web}\n"
				 "addressType: IPX\n", 15, "want IPv4, IPv6 or FQDN" },
	{ "slice port out of range", SLICE_SVC SLICE("a", "ports:\n- {name: http, port: 65536}\n"), 17,
	  "ports[0].port: 65536 out of range" },
	{ "slice protocol unknown", SLICE_SVC SLICE("a", "ports:\n- {name: http, port: 1, protocol: ICMP}\n"),
	  17, "want TCP, UDP or SCTP" },
	{ "targetRef name too long",
	  SLICE_SVC SLICE("a", "endpoints:\n- addresses: [10.0.0.1]\n  targetRef:\n    name: "
			       "a-pod-name-of-a-statefulset-with-a-long-name-0123456789012345678\n"),
	  19, "endpoints[0].targetRef.name: longer than 63 bytes" },
};

static void test_bad_slices(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_slices) / sizeof(bad_slices[0]); i++) {
		struct xlb_k8s_result r;
		char err[512] = "", prefix[64];
		int ret = parse_str(bad_slices[i].yaml, &r, err, sizeof(err));

		snprintf(prefix, sizeof(prefix), "t.yaml:%u: ", bad_slices[i].line);
		if (ret != -EINVAL || strncmp(err, prefix, strlen(prefix)) ||
		    !strstr(err, bad_slices[i].text))
			fail_msg("%s: got %d \"%s\", want -EINVAL \"%s...%s\"", bad_slices[i].desc,
				 ret, err, prefix, bad_slices[i].text);
		assert_true(result_empty(&r));
	}
}

struct buf {
	char *p;
	size_t len, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if ((size_t)n < b->cap - b->len)
			break;
		b->cap = 2 * b->cap + (size_t)n + 64;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	b->len += (size_t)n;
}

/* 512 endpoints is the model's limit; one more is an error naming it. */
static void test_endpoint_limit(void **state)
{
	struct xlb_k8s_result r;
	struct buf b = { 0 };
	char err[512] = "";

	(void)state;
	bprintf(&b, SLICE_SVC);
	for (int s = 0; s < 2; s++) {
		bprintf(&b, SLICE("s%d", "ports: [{name: http, port: 8080}]\nendpoints:\n"), s);
		for (int i = 0; i < 256; i++)
			bprintf(&b, "- addresses: [10.%d.%d.1]\n", s, i);
	}
	assert_int_equal(xlb_k8s_parse(b.p, b.len, "t.yaml", &r, err, sizeof(err)), 0);
	assert_int_equal(svc(&r, "default/web:http")->n_ep, 512);
	xlb_k8s_result_free(&r);

	bprintf(&b, "- addresses: [10.9.9.9]\n");
	assert_int_equal(xlb_k8s_parse(b.p, b.len, "t.yaml", &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "service default/web:http: more than 512 endpoints"));
	assert_true(result_empty(&r));
	free(b.p);
}

/* Kubernetes' largest slice, every address many times over: merged into
 * the distinct ones, quickly (duplicates are found by binary search). */
static void test_many_duplicates(void **state)
{
	struct xlb_k8s_result r;
	struct buf b = { 0 };
	char err[512] = "";

	(void)state;
	bprintf(&b, SLICE_SVC);
	bprintf(&b, SLICE("big", "ports: [{name: http, port: 8080}, "
				 "{name: dns, port: 53, protocol: UDP}]\nendpoints:\n"));
	for (int i = 0; i < 1000; i++) {
		bprintf(&b, "- conditions: {ready: %s}\n  addresses: [", i % 3 ? "false" : "true");
		for (int j = 0; j < 100; j++)
			bprintf(&b, "10.1.%d.%d%s", (i * 100 + j) % 500 / 250, (i * 100 + j) % 250,
				j < 99 ? ", " : "]\n");
	}
	if (xlb_k8s_parse(b.p, b.len, "t.yaml", &r, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(svc(&r, "default/web:http")->n_ep, 500);
	assert_int_equal(svc(&r, "default/web:dns")->n_ep, 500);
	/* Each address was listed ready at least once: ready wins. */
	for (size_t i = 0; i < 500; i++)
		assert_true(svc(&r, "default/web:http")->ep[i].ready);
	xlb_k8s_result_free(&r);

	/* One endpoint more than Kubernetes allows in a slice. */
	bprintf(&b, "- addresses: [10.9.9.9]\n");
	assert_int_equal(xlb_k8s_parse(b.p, b.len, "t.yaml", &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "endpoints: more than 1000"));
	free(b.p);
}

static void test_nesting_and_aliases(void **state)
{
	struct xlb_k8s_result r;
	struct buf b = { 0 };
	char err[512];

	(void)state;
	/* 100 levels of flow sequences, then of block mappings. */
	bprintf(&b, "a: ");
	for (int i = 0; i < 100; i++)
		bprintf(&b, "[");
	assert_int_equal(xlb_k8s_parse(b.p, b.len, "t.yaml", &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "nesting deeper than 64 levels"));
	b.len = 0;
	for (int i = 0; i < 100; i++)
		bprintf(&b, "%*sk%d:\n", i, "", i);
	assert_int_equal(xlb_k8s_parse(b.p, b.len, "t.yaml", &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "t.yaml:65: nesting deeper than 64 levels"));

	/* Billion laughs: each level doubles... ten times over. */
	b.len = 0;
	bprintf(&b, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i < 12; i++) {
		bprintf(&b, "a%d: &a%d [", i, i);
		for (int j = 0; j < 10; j++)
			bprintf(&b, "*a%d%s", i - 1, j < 9 ? ", " : "]\n");
	}
	assert_int_equal(xlb_k8s_parse(b.p, b.len, "t.yaml", &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "excessive aliasing"));
	assert_true(result_empty(&r));
	free(b.p);
}

/* Unknown kinds are skipped with a warning; past the cap, one line says so. */
static void test_warning_cap(void **state)
{
	struct xlb_k8s_result r;
	struct buf b = { 0 };
	char err[512];

	(void)state;
	for (int i = 0; i < XLB_K8S_MAX_WARNINGS + 10; i++)
		bprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%d}\n", i);
	assert_int_equal(xlb_k8s_parse(b.p, b.len, NULL, &r, err, sizeof(err)), 0);
	assert_int_equal(r.n_warnings, XLB_K8S_MAX_WARNINGS + 1);
	assert_string_equal(r.warnings[0], "<input>:2: kind ConfigMap skipped");
	assert_string_equal(r.warnings[XLB_K8S_MAX_WARNINGS],
			    "<input>: more than 1000 warnings, the rest not shown");
	xlb_k8s_result_free(&r);
	free(b.p);
}

/* "FILE:LINE: rest" or "FILE: rest" -> "rest". */
static const char *after_place(const char *w, const char *file)
{
	size_t n = strlen(file);

	if (strncmp(w, file, n) || w[n] != ':')
		return w;
	w += n + 1;
	while (*w >= '0' && *w <= '9')
		w++;
	if (*w == ':')
		w++;
	return *w == ' ' ? w + 1 : w;
}

static void assert_same_result(const struct xlb_k8s_result *a, const char *fa,
			       const struct xlb_k8s_result *b, const char *fb)
{
	assert_int_equal(a->n_svcs, b->n_svcs);
	for (size_t i = 0; i < a->n_svcs; i++) {
		assert_string_equal(a->svcs[i].spec.name, b->svcs[i].spec.name);
		if (!xlb_svc_equal(&a->svcs[i], &b->svcs[i]))
			fail_msg("%s differs between %s and %s", a->svcs[i].spec.name, fa, fb);
		for (size_t j = 0; j < a->svcs[i].n_ep; j++)	/* order and weights too */
			assert_memory_equal(&a->svcs[i].ep[j], &b->svcs[i].ep[j],
					    sizeof(a->svcs[i].ep[j]));
	}
	assert_int_equal(a->n_warnings, b->n_warnings);
	for (size_t i = 0; i < a->n_warnings; i++)
		assert_string_equal(after_place(a->warnings[i], fa),
				    after_place(b->warnings[i], fb));
}

static const char *const json_pairs[] = {
	"list-web-dns", "multi-doc", "affinity", "annotations", "skipped", "external",
};

/* One converter: each YAML fixture and its JSON twin give the same services
 * and the same warnings (less the line). */
static void test_json_matches_yaml(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(json_pairs) / sizeof(json_pairs[0]); i++) {
		struct xlb_k8s_result ry, rj;
		char py[256], pj[256], err[512] = "";
		size_t len;
		char *buf;

		snprintf(py, sizeof(py), FIXTURES "%s.yaml", json_pairs[i]);
		snprintf(pj, sizeof(pj), FIXTURES "%s.json", json_pairs[i]);
		buf = slurp(py, &len);
		if (xlb_k8s_parse(buf, len, py, &ry, err, sizeof(err)))
			fail_msg("%s: %s", py, err);
		free(buf);
		buf = slurp(pj, &len);
		if (xlb_k8s_parse_json(buf, len, pj, &rj, err, sizeof(err)))
			fail_msg("%s: %s", pj, err);
		free(buf);
		assert_true(ry.n_svcs > 0);
		assert_same_result(&ry, py, &rj, pj);
		xlb_k8s_result_free(&ry);
		xlb_k8s_result_free(&rj);
	}
}

static int parse_json_str(const char *json, struct xlb_k8s_result *r, char *err, size_t errlen)
{
	return xlb_k8s_parse_json(json, strlen(json), "t.json", r, err, errlen);
}

#define JSON_SVC(ports)                                                                  \
	"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\"},"    \
	"\"spec\":{\"clusterIP\":\"10.96.0.9\",\"ports\":[" ports "]}}"

/* JSON's types as the API server's decoder reads them, and JSON's syntax
 * errors with their line. */
static void test_json_front_end(void **state)
{
	static const struct {
		const char *desc, *json, *text;
	} bad[] = {
		{ "a quoted port is a string", JSON_SVC("{\"port\":\"80\"}"),
		  "t.json: Service default/web: spec.ports[0].port: expected an integer, got a string" },
		{ "a fraction is not an integer", JSON_SVC("{\"port\":80.5}"),
		  "spec.ports[0].port: \"80.5\" is not an integer" },
		{ "80.0 is not an integer either", JSON_SVC("{\"port\":80.0}"),
		  "spec.ports[0].port: \"80.0\" is not an integer" },
		{ "a boolean is not a string", JSON_SVC("{\"port\":80,\"protocol\":true}"),
		  "spec.ports[0].protocol: \"true\": want TCP or UDP" },
		{ "duplicate keys", "{\"kind\":\"Service\",\"kind\":\"List\"}",
		  "t.json:1: duplicate object key" },
		{ "cut short", "{\"kind\":\n\"Service\"", "t.json:2: " },
		{ "a NUL in a string", "{\"kind\":\"Serv\\u0000ice\"}", "t.json:1: " },
		{ "not JSON", "kind: Service", "t.json:1: " },
		{ "a scalar document", "42", "t.json: document is a scalar, not a mapping" },
		{ "the second value breaks", "{}\n\n{\"a\":}", "t.json:3: " },
	};
	struct xlb_k8s_result r;
	struct buf b = { 0 };
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (parse_json_str(bad[i].json, &r, err, sizeof(err)) != -EINVAL ||
		    !strstr(err, bad[i].text))
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i].desc, err, bad[i].text);
		assert_true(result_empty(&r));
	}
	/* Two values in a row, each a document; nulls are absent fields. */
	assert_int_equal(parse_json_str(JSON_SVC("{\"port\":80,\"nodePort\":null}") " "
					JSON_SVC("{\"port\":81,\"name\":\"b\"}"),
					&r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "Service default/web: also defined"));
	assert_int_equal(parse_json_str(JSON_SVC("{\"port\":80,\"nodePort\":null}"), &r, err,
					sizeof(err)), 0);
	assert_int_equal(r.n_svcs, 1);
	assert_string_equal(r.svcs[0].spec.name, "default/web:80");
	xlb_k8s_result_free(&r);

	/* Nesting: the same limit as YAML, well inside jansson's own. */
	for (int i = 0; i < 100; i++)
		bprintf(&b, "[");
	for (int i = 0; i < 100; i++)
		bprintf(&b, "]");
	assert_int_equal(xlb_k8s_parse_json(b.p, b.len, "t.json", &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "nesting deeper than 64 levels"));
	free(b.p);
}

static void doc_of(const char *json, struct k8s_doc *d)
{
	unsigned int line;
	char msg[256];

	if (k8s_doc_parse_json(json, strlen(json), d, &line, msg, sizeof(msg)))
		fail_msg("%s: %s", json, msg);
	assert_int_equal(d->n_docs, 1);
}

#define OBJ_SLICE(name, ports, eps)                                                      \
	"{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"shop\",\"labels\":"         \
	"{\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv4\","           \
	"\"ports\":[" ports "],\"endpoints\":[" eps "]}"

/* A slice keeps its endpoints compact until a join: every field comes back,
 * and a node name, zone or hints value shared by endpoints is stored once
 * (here 3 nodes, 2 zones and 2 hint lists over 60 endpoints), including
 * when a field has more distinct values than are looked up (20 names for
 * the endpoints 40..59). */
static void test_slice_storage(void **state)
{
	static const char svc_json[] = "{\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},"
				       "\"spec\":{\"clusterIP\":\"10.96.1.1\",\"ports\":"
				       "[{\"name\":\"http\",\"port\":80}]}}";
	char json[16384], node[32], zone[16], name[32], hints[32], addr[32], err[256];
	struct xlb_k8s_result msgs = { 0 };
	struct xlb_k8s_service *o;
	struct xlb_k8s_slice *sl;
	struct xlb_svc_desired out;
	struct k8s_doc d;
	size_t off, names = 0;

	(void)state;
	off = (size_t)snprintf(json, sizeof(json), OBJ_SLICE("web-a", "{\"name\":\"http\",\"port\":8080}", ""));
	off -= 2;	/* back into "endpoints":[ */
	for (int i = 0; i < 60; i++) {
		snprintf(node, sizeof(node), i < 40 ? "node-%d" : "far-node-%d", i < 40 ? i % 3 : i);
		snprintf(name, sizeof(name), "web-7d4b9c6f8-%05d", i);
		names += strlen(name) + 1;
		off += (size_t)snprintf(json + off, sizeof(json) - off,
					"%s{\"addresses\":[\"10.1.0.%d\"],\"conditions\":{\"ready\":%s,"
					"\"terminating\":%s},\"nodeName\":\"%s\",\"zone\":\"zone-%d\","
					"\"targetRef\":{\"name\":\"%s\"},\"hints\":{\"forZones\":"
					"[{\"name\":\"zone-%d\"}%s]}}", i ? "," : "", i + 1,
					i % 4 ? "true" : "false", i % 5 ? "false" : "true", node,
					i % 2, name, i % 2, i % 2 ? ",{\"name\":\"zone-9\"}" : "");
	}
	snprintf(json + off, sizeof(json) - off, "]}");
	doc_of(svc_json, &d);
	assert_int_equal(xlb_k8s_service_from(d.docs[0], NULL, &o, &msgs, err, sizeof(err)), 0);
	k8s_doc_free(&d);
	doc_of(json, &d);
	assert_int_equal(xlb_k8s_slice_from(d.docs[0], &sl, &msgs, err, sizeof(err)), 0);
	k8s_doc_free(&d);
	assert_int_equal(sizeof(sl->ep[0]), 44);
	/* "", the 60 names, node-0..2 and 20 far nodes, 2 zones, 2 hint lists. */
	assert_int_equal(sl->strs_len, 1 + names + 3 * 7 + 20 * 12 + 2 * 7 + 7 + 14);
	assert_int_equal(xlb_k8s_join(o, &sl, 1, &out, &msgs, err, sizeof(err)), 0);
	assert_int_equal(out.n_ep, 60);
	for (int i = 0; i < 60; i++) {
		const struct xlb_endpoint *e;

		snprintf(addr, sizeof(addr), "10.1.0.%d", i + 1);
		snprintf(node, sizeof(node), i < 40 ? "node-%d" : "far-node-%d", i < 40 ? i % 3 : i);
		snprintf(zone, sizeof(zone), "zone-%d", i % 2);
		snprintf(name, sizeof(name), "web-7d4b9c6f8-%05d", i);
		snprintf(hints, sizeof(hints), i % 2 ? "zone-1,zone-9" : "zone-0");
		e = ep(&out, addr, 8080);
		assert_ep(e, 1, i % 4 != 0, i % 4 != 0, i % 5 == 0, name);
		assert_string_equal(e->node_name, node);
		assert_string_equal(e->zone, zone);
		assert_string_equal(e->hints, hints);
	}
	assert_int_equal(msgs.n_warnings, 0);
	xlb_svc_free(&out);
	xlb_k8s_service_free(o);
	xlb_k8s_slice_free(sl);
}

/* Object by object, as xlb-k8s uses the converter: the same services as
 * the whole-input reader, slices joined in the order given. */
static void test_objects(void **state)
{
	static const char svc_json[] =
		"{\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\",\"annotations\":"
		"{\"xlb.io/backend-weights\":\"10.1.0.1=3\"}},\"spec\":{\"clusterIP\":"
		"\"10.96.1.1\",\"ports\":[{\"name\":\"http\",\"port\":80},"
		"{\"name\":\"dns\",\"port\":53,\"protocol\":\"UDP\"}]}}";
	static const char *const slices[] = {
		OBJ_SLICE("web-a", "{\"name\":\"http\",\"port\":8080}",
			  "{\"addresses\":[\"10.1.0.1\"]},"
			  "{\"addresses\":[\"10.1.0.2\"],\"conditions\":{\"ready\":false}}"),
		OBJ_SLICE("web-b", "{\"name\":\"http\",\"port\":8080},"
				   "{\"name\":\"dns\",\"port\":5353,\"protocol\":\"UDP\"}",
			  "{\"addresses\":[\"10.1.0.2\"]},{\"addresses\":[\"10.1.0.3\"]}"),
	};
	struct xlb_k8s_service *o;
	struct xlb_k8s_slice *sl[2];
	struct xlb_svc_desired out[2];
	struct xlb_k8s_result msgs = { 0 };
	struct k8s_doc d;
	char err[256];

	(void)state;
	doc_of(svc_json, &d);
	assert_int_equal(xlb_k8s_service_from(d.docs[0], NULL, &o, &msgs, err, sizeof(err)), 0);
	k8s_doc_free(&d);
	assert_non_null(o);
	assert_string_equal(xlb_k8s_service_key(o), "shop/web");
	assert_int_equal(xlb_k8s_service_ports(o), 2);
	for (size_t i = 0; i < 2; i++) {
		doc_of(slices[i], &d);
		assert_int_equal(xlb_k8s_slice_from(d.docs[0], &sl[i], &msgs, err, sizeof(err)), 0);
		k8s_doc_free(&d);
		assert_string_equal(xlb_k8s_slice_service(sl[i]), "shop/web");
	}
	assert_string_equal(xlb_k8s_slice_key(sl[1]), "shop/web-b");
	assert_int_equal(xlb_k8s_slice_endpoints(sl[0]), 2);

	assert_int_equal(xlb_k8s_join(o, sl, 2, out, &msgs, err, sizeof(err)), 0);
	assert_string_equal(out[0].spec.name, "shop/web:http");
	assert_int_equal(out[0].n_ep, 3);
	/* 10.1.0.2 is in both: the ready entry of web-b wins, in web-a's place. */
	assert_ep(ep(&out[0], "10.1.0.1", 8080), 3, true, true, false, "");
	assert_ep(ep(&out[0], "10.1.0.2", 8080), 1, true, true, false, "");
	assert_ptr_equal(ep(&out[0], "10.1.0.2", 8080), &out[0].ep[1]);
	assert_string_equal(out[1].spec.name, "shop/web:dns");
	assert_int_equal(out[1].n_ep, 2);
	assert_int_equal(ep(&out[1], "10.1.0.3", 5353)->weight, 1);
	assert_int_equal(msgs.n_warnings, 0);
	for (size_t i = 0; i < 2; i++)
		xlb_svc_free(&out[i]);

	/* Without slices: no endpoints, and no warning about the weight. */
	assert_int_equal(xlb_k8s_join(o, NULL, 0, out, &msgs, err, sizeof(err)), 0);
	assert_int_equal(out[0].n_ep + out[1].n_ep, 0);
	assert_int_equal(msgs.n_warnings, 0);
	xlb_svc_free(&out[0]);
	xlb_svc_free(&out[1]);
	xlb_k8s_service_free(o);
	xlb_k8s_slice_free(sl[0]);
	xlb_k8s_slice_free(sl[1]);

	/* Skipped: NULL and a warning; invalid: a message with no file. */
	doc_of("{\"metadata\":{\"name\":\"pg\"},\"spec\":{\"clusterIP\":\"None\","
	       "\"ports\":[{\"port\":5432}]}}", &d);
	assert_int_equal(xlb_k8s_service_from(d.docs[0], NULL, &o, &msgs, err, sizeof(err)), 0);
	k8s_doc_free(&d);
	assert_null(o);
	assert_int_equal(msgs.n_warnings, 1);
	assert_string_equal(msgs.warnings[0], "Service default/pg: headless (clusterIP None) skipped");
	doc_of("{\"metadata\":{\"name\":\"bad\"},\"spec\":{\"clusterIP\":\"10.96.0.1\"}}", &d);
	assert_int_equal(xlb_k8s_service_from(d.docs[0], NULL, &o, &msgs, err, sizeof(err)), -EINVAL);
	k8s_doc_free(&d);
	assert_null(o);
	assert_string_equal(err, "Service default/bad: spec.ports: at least one port required");
	doc_of("[1]", &d);
	assert_int_equal(xlb_k8s_slice_from(d.docs[0], &sl[0], &msgs, err, sizeof(err)), -EINVAL);
	k8s_doc_free(&d);
	assert_string_equal(err, "object is not a mapping");
	xlb_k8s_result_free(&msgs);
}

static void test_no_error_buffer(void **state)
{
	struct xlb_k8s_result r;
	char err[8];

	(void)state;
	assert_int_equal(xlb_k8s_parse("- a", 3, "x", &r, NULL, 0), -EINVAL);
	assert_int_equal(xlb_k8s_parse("- a", 3, "x", &r, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "x:1: do");	/* truncated, terminated */
	assert_int_equal(xlb_k8s_parse(NULL, 0, "x", &r, err, sizeof(err)), 0);
	assert_true(result_empty(&r));
	/* Not NUL-terminated: only len bytes are read. */
	assert_int_equal(xlb_k8s_parse("kind: [", 5, "x", &r, err, sizeof(err)), -EINVAL);
}

static void test_duration(void **state)
{
	static const struct {
		const char *s;
		int ret;
		uint32_t ms;
	} t[] = {
		{ "10s", 0, 10000 },	 { "200ms", 0, 200 },	  { "1.5s", 0, 1500 },
		{ "5", 0, 5000 },	 { "0.25", 0, 250 },	  { ".5s", 0, 500 },
		{ "1m30s", 0, 90000 },	 { "1h", 0, 3600000 },	  { "0", 0, 0 },
		{ "2s500ms", 0, 2500 },	 { "0.001s", 0, 1 },	  { "1.0005s", -EINVAL, 0 },
		{ "", -EINVAL, 0 },	 { "s", -EINVAL, 0 },	  { "10 s", -EINVAL, 0 },
		{ "-1s", -EINVAL, 0 },	 { "1d", -EINVAL, 0 },	  { "1us", -EINVAL, 0 },
		{ "5m3", -EINVAL, 0 },	 { "1.2.3s", -EINVAL, 0 }, { "4294967295ms", 0, 4294967295u },
		{ "4294967296ms", -ERANGE, 0 }, { "9999999999999h", -ERANGE, 0 },
		{ "1193h", 0, 4294800000u }, { "1194h", -ERANGE, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *why = NULL;
		uint32_t ms = 7;
		int ret = k8s_parse_duration_ms(t[i].s, &ms, &why);

		if (ret != t[i].ret || (!ret && ms != t[i].ms))
			fail_msg("\"%s\": got %d %u, want %d %u", t[i].s, ret, ms, t[i].ret,
				 t[i].ms);
		assert_true(ret ? why != NULL : why == NULL);
	}
}

static void test_weights_and_health_parsers(void **state)
{
	struct xlb_health_spec hc;
	struct k8s_weight *w = NULL;
	char why[128];
	size_t n = 0;

	(void)state;
	assert_int_equal(k8s_parse_weights(" 10.0.0.2 = 7 ,10.0.0.1=0", &w, &n, why, sizeof(why)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(w[0].weight, 0);	/* sorted by address */
	assert_int_equal(w[1].weight, 7);
	free(w);
	assert_int_equal(k8s_parse_weights("10.0.0.1=-1", &w, &n, why, sizeof(why)), -EINVAL);
	assert_int_equal(k8s_parse_weights("10.0.0.1=", &w, &n, why, sizeof(why)), -EINVAL);
	assert_int_equal(k8s_parse_weights("=1", &w, &n, why, sizeof(why)), -EINVAL);
	assert_int_equal(k8s_parse_weights("10.0.0.1=1,,10.0.0.2=1", &w, &n, why, sizeof(why)),
			 -EINVAL);

	memset(&hc, 0, sizeof(hc));
	assert_int_equal(k8s_parse_health_check("http", &hc, why, sizeof(why)), 0);
	assert_int_equal(hc.kind, XLB_HC_HTTP);
	assert_string_equal(hc.http_path, "/");
	assert_int_equal(k8s_parse_health_check("http:/a b", &hc, why, sizeof(why)), -EINVAL);
	assert_int_equal(k8s_parse_health_check("exec:\tcheck\t-v ", &hc, why, sizeof(why)), 0);
	assert_int_equal(hc.kind, XLB_HC_EXEC);
	assert_int_equal(hc.argc, 2);
	assert_string_equal(hc.argv[0], "check");
	assert_string_equal(hc.argv[1], "-v");
	assert_string_equal(hc.http_path, "");
	assert_int_equal(k8s_parse_health_check("exec:a b c d e f g h i j k l m n o p", &hc, why,
						sizeof(why)), 0);
	assert_int_equal(hc.argc, 16);
	assert_int_equal(k8s_parse_health_check("exec:a b c d e f g h i j k l m n o p q", &hc, why,
						sizeof(why)), -EINVAL);
	assert_string_equal(why, "exec: more than 16 arguments");
	assert_int_equal(k8s_parse_health_check("TCP", &hc, why, sizeof(why)), -EINVAL);
}

static const char *const good_fixtures[] = {
	"list-web-dns.yaml", "multi-doc.yaml", "affinity.yaml",	"annotations.yaml",
	"skipped.yaml",	     "servicelist.json", "list-web-dns.json", "skipped.json",
};

static bool is_json(const char *name)
{
	size_t n = strlen(name);

	return n > 5 && !strcmp(name + n - 5, ".json");
}

/* Either a result or an error naming the file, never both, never neither. */
static void check_any(const char *buf, size_t len, bool json)
{
	struct xlb_k8s_result r;
	char err[512] = "";
	int ret = json ? xlb_k8s_parse_json(buf, len, "fuzz", &r, err, sizeof(err))
		       : xlb_k8s_parse(buf, len, "fuzz", &r, err, sizeof(err));

	if (ret) {
		assert_true(ret == -EINVAL || ret == -ENOMEM);
		assert_true(result_empty(&r));
		assert_memory_equal(err, "fuzz:", 5);
		return;
	}
	assert_false(err[0]);
	for (size_t i = 0; i < r.n_svcs; i++)
		assert_int_equal(xlb_svc_validate(&r.svcs[i], NULL, 0), 0);
	xlb_k8s_result_free(&r);
}

/* Every prefix of every fixture (cut documents, half tokens). The copy is
 * exactly len bytes, so ASan sees any read past the end. */
static void test_truncations(void **state)
{
	(void)state;
	for (size_t f = 0; f < sizeof(good_fixtures) / sizeof(good_fixtures[0]); f++) {
		char path[256], *buf;
		size_t len;

		snprintf(path, sizeof(path), FIXTURES "%s", good_fixtures[f]);
		buf = slurp(path, &len);
		for (size_t cut = 0; cut <= len; cut += f ? 1 : 7) {
			char *copy = malloc(cut ? cut : 1);

			assert_non_null(copy);
			memcpy(copy, buf, cut);
			check_any(copy, cut, is_json(good_fixtures[f]));
			free(copy);
		}
		free(buf);
	}
}

static const char dict[][12] = {
	"\n", ": ", "- ", "---\n", "&a ", "*a", "[", "]", "{", "}", "\"", "'", "null",
	"\\0", "\t", "#", "<<: ", "? ", "|\n", "!!str ", "\xff", "ports:\n",
};

static void test_mutations(void **state)
{
	(void)state;
	for (size_t f = 0; f < sizeof(good_fixtures) / sizeof(good_fixtures[0]); f++) {
		char path[256], *buf;
		size_t len;

		snprintf(path, sizeof(path), FIXTURES "%s", good_fixtures[f]);
		buf = slurp(path, &len);
		for (int iter = 0; iter < 400; iter++) {
			size_t n = len, cap = len + 256;
			char *m = malloc(cap);
			int edits = 1 + (int)(rng() % 4);

			assert_non_null(m);
			memcpy(m, buf, len);
			for (int e = 0; e < edits && n; e++) {
				size_t at = rng() % n;
				const char *d;
				size_t dl;

				switch (rng() % 4) {
				case 0:		/* flip a byte */
					m[at] = (char)rng();
					break;
				case 1:		/* delete a run */
					dl = 1 + rng() % 16;
					if (dl > n - at)
						dl = n - at;
					memmove(m + at, m + at + dl, n - at - dl);
					n -= dl;
					break;
				default:	/* insert a token */
					d = dict[rng() % (sizeof(dict) / sizeof(dict[0]))];
					dl = strlen(d);
					if (n + dl > cap)
						break;
					memmove(m + at + dl, m + at, n - at);
					memcpy(m + at, d, dl);
					n += dl;
					break;
				}
			}
			check_any(m, n, is_json(good_fixtures[f]));
			free(m);
		}
		free(buf);
	}
}

#ifdef XLB_K8S_FUZZ
/* clang -fsanitize=fuzzer,address,undefined -DXLB_K8S_FUZZ ... (see the
 * report in the commit log); cmocka's asserts abort on a broken contract. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xlb_k8s_result r;
	char err[512] = "";
	int ret = xlb_k8s_parse((const char *)data, size, "fuzz", &r, err, sizeof(err));

	if (ret) {
		if ((ret != -EINVAL && ret != -ENOMEM) || !result_empty(&r) ||
		    strncmp(err, "fuzz:", 5))
			abort();
		return 0;
	}
	for (size_t i = 0; i < r.n_svcs; i++)
		if (xlb_svc_validate(&r.svcs[i], NULL, 0))
			abort();
	xlb_k8s_result_free(&r);
	return 0;
}
#else
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kubectl_list),
		cmocka_unit_test(test_multi_doc_node_port),
		cmocka_unit_test(test_affinity),
		cmocka_unit_test(test_annotations),
		cmocka_unit_test(test_lb_mode),
		cmocka_unit_test(test_skipped),
		cmocka_unit_test(test_external),
		cmocka_unit_test(test_external_opts),
		cmocka_unit_test(test_service_list_json),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_inline),
		cmocka_unit_test(test_slice_semantics),
		cmocka_unit_test(test_bad_slices),
		cmocka_unit_test(test_endpoint_limit),
		cmocka_unit_test(test_many_duplicates),
		cmocka_unit_test(test_nesting_and_aliases),
		cmocka_unit_test(test_warning_cap),
		cmocka_unit_test(test_json_matches_yaml),
		cmocka_unit_test(test_json_front_end),
		cmocka_unit_test(test_objects),
		cmocka_unit_test(test_slice_storage),
		cmocka_unit_test(test_no_error_buffer),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_weights_and_health_parsers),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
