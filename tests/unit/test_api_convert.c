// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The API's input gate and the state file: protobuf <-> model round trips,
 * one case per invalid field (each message must name the field path the
 * client sent), UTF-8, and a state file that must never crash the daemon
 * whatever bytes it holds.
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
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <zlib.h>

#include "convert/convert.h"
#include "store/statefile.h"
#include "rng.h"

/* A valid service built in place (no allocation), so cases can break one
 * field each. */
struct fixture {
	Xlb__V1__Service svc;
	Xlb__V1__Endpoint ep[3];
	Xlb__V1__Endpoint *eps[3];
	Xlb__V1__HealthCheck hc;
	char *cmd[2];
};

static void fixture_init(struct fixture *f)
{
	static const char *addrs[3] = { "10.1.0.1", "10.1.0.2", "10.1.0.3" };

	memset(f, 0, sizeof(*f));
	xlb__v1__service__init(&f->svc);
	f->svc.name = "default/web:http";
	f->svc.type = XLB__V1__SERVICE_TYPE__NODE_PORT;
	f->svc.cluster_ip = "10.96.0.10";
	f->svc.port = 80;
	f->svc.protocol = XLB__V1__PROTOCOL__TCP;
	f->svc.node_port = 30080;
	f->svc.algorithm = XLB__V1__ALGORITHM__WRR;
	f->svc.affinity_timeout_seconds = 600;
	for (int i = 0; i < 3; i++) {
		xlb__v1__endpoint__init(&f->ep[i]);
		f->ep[i].address = (char *)addrs[i];
		f->ep[i].port = 8080;
		f->ep[i].ready = true;
		f->ep[i].serving = true;
		f->eps[i] = &f->ep[i];
	}
	f->ep[0].name = "web-0";
	f->ep[1].weight_set = true;
	f->ep[1].weight = 5;
	f->ep[2].weight_set = true;
	f->ep[2].weight = 0;	/* drain */
	f->ep[2].terminating = true;
	f->ep[2].ready = false;
	f->svc.n_endpoints = 3;
	f->svc.endpoints = f->eps;
	xlb__v1__health_check__init(&f->hc);
	f->hc.kind = XLB__V1__HEALTH_CHECK__KIND__HTTP_GET;
	f->hc.http_path = "/healthz";
	f->hc.http_host = "web.local";
	f->hc.port = 8081;
	f->hc.period_ms = 2000;
	f->hc.timeout_ms = 500;
	f->hc.success_threshold = 2;
	f->hc.failure_threshold = 4;
	f->hc.initial_delay_ms = 100;
	f->hc.expect_body = "ok";
	f->svc.health_check = &f->hc;
}

static void test_from_pb_fields(void **unused)
{
	struct xlb_svc_desired s;
	struct fixture f;
	char err[256] = "", ip[XLB_IP_STRLEN];

	fixture_init(&f);
	assert_int_equal(xlb_api_service_from_pb(&f.svc, &s, err, sizeof(err)), 0);
	assert_string_equal(s.spec.name, "default/web:http");
	assert_int_equal(s.spec.type, XLB_SVC_NODE_PORT);
	assert_string_equal(xlb_ip_str(&s.spec.vip, ip, sizeof(ip)), "10.96.0.10");
	assert_int_equal(s.spec.vip.family, XLB_AF_INET);
	assert_int_equal(s.spec.port, 80);
	assert_int_equal(s.spec.proto, IPPROTO_TCP);
	assert_int_equal(s.spec.node_port, 30080);
	assert_int_equal(s.spec.algo, XLB_ALGO_WRR);
	assert_int_equal(s.spec.affinity_timeout, 600);
	assert_null(s.spec.addrs);	/* no list beyond the cluster IP: none held */
	assert_int_equal(s.n_ep, 3);
	/* weight_set ? weight : 1 */
	assert_int_equal(s.ep[0].weight, 1);
	assert_int_equal(s.ep[1].weight, 5);
	assert_int_equal(s.ep[2].weight, 0);
	assert_string_equal(s.ep[0].name, "web-0");
	assert_true(s.ep[0].ready && s.ep[0].serving && !s.ep[0].terminating);
	assert_true(!s.ep[2].ready && s.ep[2].terminating);
	assert_non_null(s.hc);
	assert_int_equal(s.hc->kind, XLB_HC_HTTP);
	assert_string_equal(s.hc->http_path, "/healthz");
	assert_string_equal(s.hc->http_host, "web.local");
	assert_string_equal(s.hc->expect_body, "ok");
	assert_int_equal(s.hc->port, 8081);
	assert_int_equal(s.hc->period_ms, 2000);
	assert_int_equal(s.hc->failure_threshold, 4);
	xlb_svc_free(&s);

	/* Without a health check, none is allocated (most services: its
	 * spec would be 25 times the rest of the service). */
	f.svc.health_check = NULL;
	assert_int_equal(xlb_api_service_from_pb(&f.svc, &s, err, sizeof(err)), 0);
	assert_null(s.hc);
	xlb_svc_free(&s);
	f.hc.kind = XLB__V1__HEALTH_CHECK__KIND__NONE;
	f.hc.http_path = "";
	f.svc.health_check = &f.hc;
	assert_int_equal(xlb_api_service_from_pb(&f.svc, &s, err, sizeof(err)), 0);
	assert_null(s.hc);
	xlb_svc_free(&s);
}

/* model -> pb -> wire -> pb -> model gives the same model. */
static void roundtrip(const Xlb__V1__Service *in)
{
	struct xlb_svc_desired a, b;
	Xlb__V1__Service *pb, *back;
	char err[256] = "";
	uint8_t *wire;
	size_t n;

	assert_int_equal(xlb_api_service_from_pb(in, &a, err, sizeof(err)), 0);
	pb = xlb_api_service_to_pb(&a);
	assert_non_null(pb);
	n = protobuf_c_message_get_packed_size(&pb->base);
	wire = malloc(n ? n : 1);
	assert_int_equal(protobuf_c_message_pack(&pb->base, wire), n);
	back = xlb__v1__service__unpack(NULL, n, wire);
	assert_non_null(back);
	assert_int_equal(xlb_api_service_from_pb(back, &b, err, sizeof(err)), 0);
	assert_true(xlb_svc_equal(&a, &b));
	/* to_pb always states the weight */
	for (size_t i = 0; i < back->n_endpoints; i++)
		assert_true(back->endpoints[i]->weight_set);
	xlb__v1__service__free_unpacked(back, NULL);
	xlb_api_service_free_pb(pb);
	free(wire);
	xlb_svc_free(&a);
	xlb_svc_free(&b);
}

/* Issue 13's fields: LoadBalancer, external addresses, source ranges,
 * policies, endpoint placement; read, checked, and round-tripped. */
static void test_external_fields(void **unused)
{
	static char *lb[2] = { "203.0.113.10", "203.0.113.11" };
	static char *ext[1] = { "198.51.100.7" };
	static char *ranges[2] = { "192.0.2.0/24", "10.0.0.1" };
	static char *hints[2] = { "zone-a", "zone-b" };
	static const struct {
		const char *desc, *field, *value, *msg;
	} bad[] = {
		{ "an IPv6 ingress IP", "lb", "2001:db8::1", "service.load_balancer_ips[0]: not an IPv4" },
		{ "a range with host bits", "range", "192.0.2.1/24", "service.source_ranges[0]: not a CIDR" },
		{ "a prefix too long", "range", "192.0.2.0/33", "service.source_ranges[0]: not a CIDR" },
		{ "a hint with a comma", "hint", "a,b", "service.endpoints[0].hint_zones[0]: empty or with a comma" },
	};
	struct xlb_svc_desired s;
	struct fixture f;
	char err[256] = "", ip[XLB_IP_STRLEN];

	(void)unused;
	fixture_init(&f);
	f.svc.type = XLB__V1__SERVICE_TYPE__LOAD_BALANCER;
	f.svc.n_load_balancer_ips = 2;
	f.svc.load_balancer_ips = lb;
	f.svc.n_external_ips = 1;
	f.svc.external_ips = ext;
	f.svc.n_source_ranges = 2;
	f.svc.source_ranges = ranges;
	f.svc.external_traffic_policy = XLB__V1__TRAFFIC_POLICY__TRAFFIC_POLICY_LOCAL;
	f.svc.internal_traffic_policy = XLB__V1__TRAFFIC_POLICY__TRAFFIC_POLICY_LOCAL;
	f.svc.health_check_node_port = 32000;
	f.svc.lb_mode = XLB__V1__LB_MODE__LB_MODE_DSR;
	f.ep[0].node_name = "node-a";
	f.ep[0].zone = "zone-a";
	f.ep[0].n_hint_zones = 2;
	f.ep[0].hint_zones = hints;
	assert_int_equal(xlb_api_service_from_pb(&f.svc, &s, err, sizeof(err)), 0);
	assert_int_equal(s.spec.type, XLB_SVC_LOAD_BALANCER);
	assert_true(xlb_svc_has_node_port(&s.spec));
	assert_int_equal(s.spec.n_lb_ips, 2);
	assert_string_equal(xlb_ip_str(&s.spec.addrs->lb_ips[1], ip, sizeof(ip)), "203.0.113.11");
	assert_int_equal(s.spec.n_external_ips, 1);
	assert_int_equal(s.spec.n_source_ranges, 2);
	assert_int_equal(s.spec.addrs->source_ranges[0].prefix, 24);
	assert_int_equal(s.spec.addrs->source_ranges[1].prefix, 32);	/* a bare address */
	assert_int_equal(s.spec.ext_policy, XLB_POLICY_LOCAL);
	assert_int_equal(s.spec.int_policy, XLB_POLICY_LOCAL);
	assert_int_equal(s.spec.health_check_node_port, 32000);
	assert_int_equal(s.spec.lb_mode, XLB_LB_MODE_DSR);
	assert_string_equal(s.ep[0].node_name, "node-a");
	assert_string_equal(s.ep[0].zone, "zone-a");
	assert_string_equal(s.ep[0].hints, "zone-a,zone-b");
	xlb_svc_free(&s);
	roundtrip(&f.svc);

	/* A LoadBalancer without node ports (allocateLoadBalancerNodePorts false). */
	f.svc.node_port = 0;
	assert_int_equal(xlb_api_service_from_pb(&f.svc, &s, err, sizeof(err)), 0);
	assert_false(xlb_svc_has_node_port(&s.spec));
	xlb_svc_free(&s);
	/* Ingress IPs and a health-check port only for a LoadBalancer. */
	f.svc.type = XLB__V1__SERVICE_TYPE__NODE_PORT;
	f.svc.node_port = 30080;
	assert_int_equal(xlb_api_service_from_pb(&f.svc, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "lb_ips: only for type LoadBalancer"));
	f.svc.n_load_balancer_ips = 0;
	assert_int_equal(xlb_api_service_from_pb(&f.svc, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "health_check_node_port 32000"));

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *v = (char *)bad[i].value;

		fixture_init(&f);
		if (!strcmp(bad[i].field, "lb")) {
			f.svc.type = XLB__V1__SERVICE_TYPE__LOAD_BALANCER;
			f.svc.n_load_balancer_ips = 1;
			f.svc.load_balancer_ips = &v;
		} else if (!strcmp(bad[i].field, "range")) {
			f.svc.n_source_ranges = 1;
			f.svc.source_ranges = &v;
		} else {
			f.ep[0].n_hint_zones = 1;
			f.ep[0].hint_zones = &v;
		}
		err[0] = '\0';
		if (xlb_api_service_from_pb(&f.svc, &s, err, sizeof(err)) != -EINVAL ||
		    strncmp(err, bad[i].msg, strlen(bad[i].msg)))
			fail_msg("%s: got \"%s\", want \"%s...\"", bad[i].desc, err, bad[i].msg);
	}
}

static void test_roundtrip(void **unused)
{
	static char *argv[2] = { "/bin/check", "--quick" };
	struct fixture f;

	fixture_init(&f);
	roundtrip(&f.svc);

	/* ClusterIP, UDP, SH, no endpoints, no health check */
	fixture_init(&f);
	f.svc.type = XLB__V1__SERVICE_TYPE__CLUSTER_IP;
	f.svc.node_port = 0;
	f.svc.protocol = XLB__V1__PROTOCOL__UDP;
	f.svc.algorithm = XLB__V1__ALGORITHM__SH;
	f.svc.n_endpoints = 0;
	f.svc.health_check = NULL;
	roundtrip(&f.svc);

	/* EXEC health check with arguments */
	fixture_init(&f);
	f.hc.kind = XLB__V1__HEALTH_CHECK__KIND__EXEC;
	f.hc.http_path = "";
	f.hc.n_command = 2;
	f.hc.command = argv;
	roundtrip(&f.svc);

	/* TCP check; HTTP without a path gets "/" */
	fixture_init(&f);
	f.hc.kind = XLB__V1__HEALTH_CHECK__KIND__TCP_CONNECT;
	roundtrip(&f.svc);
}

static void test_http_default_path(void **unused)
{
	struct xlb_svc_desired s;
	struct fixture f;
	char err[256];

	fixture_init(&f);
	f.hc.http_path = "";
	assert_int_equal(xlb_api_service_from_pb(&f.svc, &s, err, sizeof(err)), 0);
	assert_string_equal(s.hc->http_path, "/");
	xlb_svc_free(&s);
}

/* One broken field per case. */
struct bad_case {
	const char *desc;
	void (*breakit)(struct fixture *f);
	int rc;
	const char *msg;	/* expected prefix of the message */
};

static char long_name[200], long_path[300], ep_name[80];
static char *many_args[XLB_HC_MAX_ARGS + 1];
static Xlb__V1__Endpoint *many_eps[XLB_MAX_ENDPOINTS + 1];
static Xlb__V1__Endpoint many_ep_store[XLB_MAX_ENDPOINTS + 1];
static char many_ep_addr[XLB_MAX_ENDPOINTS + 1][16];

#define BREAK(fn, body) static void fn(struct fixture *f) { body; }
BREAK(b_name_empty, f->svc.name = "")
BREAK(b_name_long, memset(long_name, 'a', 128); long_name[128] = 0; f->svc.name = long_name)
BREAK(b_name_utf8, f->svc.name = "web\xc3\x28")
BREAK(b_name_ctrl, f->svc.name = "web\nx")
BREAK(b_type, f->svc.type = 7)
BREAK(b_vip_empty, f->svc.cluster_ip = "")
BREAK(b_vip_short, f->svc.cluster_ip = "10.0.0")
BREAK(b_vip_v6, f->svc.cluster_ip = "fd00::1")
BREAK(b_vip_zero, f->svc.cluster_ip = "0.0.0.0")
BREAK(b_vip_utf8, f->svc.cluster_ip = "10.0.0.\xff")
BREAK(b_port_zero, f->svc.port = 0)
BREAK(b_port_big, f->svc.port = 70000)
BREAK(b_proto_unset, f->svc.protocol = 0)
BREAK(b_proto_unknown, f->svc.protocol = 9)
BREAK(b_np_zero, f->svc.node_port = 0)
BREAK(b_np_big, f->svc.node_port = 65536)
BREAK(b_np_clusterip, f->svc.type = XLB__V1__SERVICE_TYPE__CLUSTER_IP)
BREAK(b_algo, f->svc.algorithm = 3)
BREAK(b_lb_mode, f->svc.lb_mode = 3)
BREAK(b_affinity, f->svc.affinity_timeout_seconds = 86401)
BREAK(b_ep_addr, f->ep[1].address = "10.1.0.256")
BREAK(b_ep_addr_empty, f->ep[1].address = "")
BREAK(b_ep_addr_utf8, f->ep[1].address = "\xe2\x82")
BREAK(b_ep_port_zero, f->ep[2].port = 0)
BREAK(b_ep_port_big, f->ep[0].port = 70000)
BREAK(b_ep_weight, f->ep[1].weight = 65536)
BREAK(b_ep_name_long, memset(ep_name, 'p', 64); ep_name[64] = 0; f->ep[0].name = ep_name)
BREAK(b_ep_name_utf8, f->ep[2].name = "pod\xed\xa0\x80")
BREAK(b_ep_dup, f->ep[2].address = "10.1.0.1")
BREAK(b_hc_kind, f->hc.kind = 9)
BREAK(b_hc_path_long, memset(long_path, 'x', 256); long_path[0] = '/'; long_path[256] = 0;
      f->hc.http_path = long_path)
BREAK(b_hc_path_rel, f->hc.http_path = "healthz")
BREAK(b_hc_host_utf8, f->hc.http_host = "h\xc0\xaf")
BREAK(b_hc_port, f->hc.port = 65536)
BREAK(b_hc_period, f->hc.period_ms = 10)
BREAK(b_hc_exec_none, f->hc.kind = XLB__V1__HEALTH_CHECK__KIND__EXEC)
BREAK(b_hc_args, for (int i = 0; i <= XLB_HC_MAX_ARGS; i++) many_args[i] = "a";
      f->hc.kind = XLB__V1__HEALTH_CHECK__KIND__EXEC;
      f->hc.n_command = XLB_HC_MAX_ARGS + 1; f->hc.command = many_args)
BREAK(b_hc_arg_utf8, many_args[0] = "/bin/true"; many_args[1] = "\xf4\x90\x80\x80";
      f->hc.kind = XLB__V1__HEALTH_CHECK__KIND__EXEC;
      f->hc.n_command = 2; f->hc.command = many_args)

static void b_ep_many(struct fixture *f)
{
	for (int i = 0; i <= XLB_MAX_ENDPOINTS; i++) {
		xlb__v1__endpoint__init(&many_ep_store[i]);
		snprintf(many_ep_addr[i], sizeof(many_ep_addr[i]), "10.2.%d.%d", i >> 8, i & 0xff);
		many_ep_store[i].address = many_ep_addr[i];
		many_ep_store[i].port = 80;
		many_eps[i] = &many_ep_store[i];
	}
	f->svc.n_endpoints = XLB_MAX_ENDPOINTS + 1;
	f->svc.endpoints = many_eps;
}

static void b_ep_null(struct fixture *f)
{
	f->eps[1] = NULL;
}

static const struct bad_case bad_cases[] = {
	{ "empty name", b_name_empty, -EINVAL, "service.name: required" },
	{ "name of 128 bytes", b_name_long, -EINVAL, "service.name: too long (128 bytes, max 127)" },
	{ "name not UTF-8", b_name_utf8, -EINVAL, "service.name: invalid UTF-8 at byte 3" },
	{ "name with a newline (model)", b_name_ctrl, -EINVAL, "service: service.name: control character" },
	{ "type 7", b_type, -EINVAL, "service.type: unknown value 7" },
	{ "no cluster IP", b_vip_empty, -EINVAL, "service.cluster_ip: required" },
	{ "short cluster IP", b_vip_short, -EINVAL, "service.cluster_ip: not an IPv4 address: \"10.0.0\"" },
	{ "IPv6 cluster IP", b_vip_v6, -EINVAL, "service.cluster_ip: not an IPv4 address" },
	{ "cluster IP 0.0.0.0", b_vip_zero, -EINVAL, "service.cluster_ip: must not be 0.0.0.0" },
	{ "cluster IP not UTF-8", b_vip_utf8, -EINVAL, "service.cluster_ip: invalid UTF-8 at byte 7" },
	{ "port 0", b_port_zero, -EINVAL, "service.port out of range: 0" },
	{ "port 70000", b_port_big, -EINVAL, "service.port out of range: 70000" },
	{ "protocol unset", b_proto_unset, -EINVAL, "service.protocol: required" },
	{ "protocol 9", b_proto_unknown, -EINVAL, "service.protocol: unknown value 9" },
	{ "NodePort without node_port", b_np_zero, -EINVAL, "service.node_port out of range: 0" },
	{ "node_port 65536", b_np_big, -EINVAL, "service.node_port out of range: 65536" },
	{ "node_port on ClusterIP", b_np_clusterip, -EINVAL, "service.node_port: only for types NODE_PORT and LOAD_BALANCER" },
	{ "algorithm 3", b_algo, -EINVAL, "service.algorithm: unknown value 3" },
	{ "lb_mode 3", b_lb_mode, -EINVAL, "service.lb_mode: unknown value 3" },
	{ "affinity 86401", b_affinity, -EINVAL, "service.affinity_timeout_seconds out of range: 86401" },
	{ "endpoint address octet 256", b_ep_addr, -EINVAL, "service.endpoints[1].address: not an IPv4 address" },
	{ "endpoint address empty", b_ep_addr_empty, -EINVAL, "service.endpoints[1].address: required" },
	{ "endpoint address truncated UTF-8", b_ep_addr_utf8, -EINVAL, "service.endpoints[1].address: invalid UTF-8 at byte 0" },
	{ "endpoint port 0", b_ep_port_zero, -EINVAL, "service.endpoints[2].port out of range: 0" },
	{ "endpoint port 70000", b_ep_port_big, -EINVAL, "service.endpoints[0].port out of range: 70000" },
	{ "endpoint weight 65536", b_ep_weight, -EINVAL, "service.endpoints[1].weight out of range: 65536" },
	{ "endpoint name 64 bytes", b_ep_name_long, -EINVAL, "service.endpoints[0].name: too long (64 bytes, max 63)" },
	{ "endpoint name surrogate", b_ep_name_utf8, -EINVAL, "service.endpoints[2].name: invalid UTF-8 at byte 3" },
	{ "duplicate endpoint", b_ep_dup, -EINVAL, "service.endpoints[2]: duplicate of service.endpoints[0] (10.1.0.1:8080)" },
	{ "513 endpoints", b_ep_many, -E2BIG, "service.endpoints: too many endpoints: 513 (max 512)" },
	{ "NULL endpoint", b_ep_null, -EINVAL, "service.endpoints[1]: missing" },
	{ "health kind 9", b_hc_kind, -EINVAL, "service.health_check.kind: unknown value 9" },
	{ "health path 256 bytes", b_hc_path_long, -EINVAL, "service.health_check.http_path: too long (256 bytes, max 255)" },
	{ "relative health path (model)", b_hc_path_rel, -EINVAL, "service: health_check.http_path must start with '/'" },
	{ "health host overlong UTF-8", b_hc_host_utf8, -EINVAL, "service.health_check.http_host: invalid UTF-8 at byte 1" },
	{ "health port 65536", b_hc_port, -EINVAL, "service.health_check.port out of range: 65536" },
	{ "health period 10 ms (model)", b_hc_period, -EINVAL, "service: health_check.period_ms out of range" },
	{ "exec without command (model)", b_hc_exec_none, -EINVAL, "service: health_check.command: 1..16 arguments needed" },
	{ "17 exec arguments", b_hc_args, -EINVAL, "service.health_check.command: too many arguments: 17 (max 16)" },
	{ "exec argument above U+10FFFF", b_hc_arg_utf8, -EINVAL, "service.health_check.command[1]: invalid UTF-8 at byte 0" },
};

static void test_invalid_fields(void **unused)
{
	size_t failures = 0;

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct xlb_svc_desired s;
		struct fixture f;
		char err[512] = "";
		int rc;

		fixture_init(&f);
		c->breakit(&f);
		memset(&s, 0xa5, sizeof(s));
		rc = xlb_api_service_from_pb(&f.svc, &s, err, sizeof(err));
		if (rc != c->rc || strncmp(err, c->msg, strlen(c->msg))) {
			print_error("case \"%s\": rc %d (want %d), message \"%s\" (want prefix \"%s\")\n",
				    c->desc, rc, c->rc, err, c->msg);
			failures++;
		}
		/* nothing left allocated on error */
		if (rc && (s.ep || s.n_ep)) {
			print_error("case \"%s\": ep left set on error\n", c->desc);
			failures++;
		}
		if (!rc)
			xlb_svc_free(&s);
	}
	assert_int_equal(failures, 0);
}

static void test_prefix(void **unused)
{
	struct xlb_svc_desired s;
	struct fixture f;
	char err[256];

	fixture_init(&f);
	f.ep[2].port = 0;
	assert_int_equal(xlb_api_service_from_pb_at(&f.svc, "upserts[4]", &s, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "upserts[4].endpoints[2].port out of range: 0");
	assert_int_equal(xlb_api_service_from_pb_at(NULL, "service", &s, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "service: required");
}

static void test_endpoints_alone(void **unused)
{
	struct xlb_endpoint *ep;
	struct fixture f;
	char err[256];

	fixture_init(&f);
	assert_int_equal(xlb_api_endpoints_from_pb(f.eps, 3, "endpoints", &ep, err, sizeof(err)), 0);
	assert_int_equal(ep[1].weight, 5);
	free(ep);
	assert_int_equal(xlb_api_endpoints_from_pb(f.eps, 0, "endpoints", &ep, err, sizeof(err)), 0);
	assert_null(ep);
	f.ep[1].address = "10.1.0.3";
	assert_int_equal(xlb_api_endpoints_from_pb(f.eps, 3, "endpoints", &ep, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "endpoints[2]: duplicate of endpoints[1] (10.1.0.3:8080)");
	assert_null(ep);
}

static void test_utf8(void **unused)
{
	static const struct { const char *s; bool ok; size_t at; } v[] = {
		{ "", true, 0 },
		{ "plain ascii", true, 0 },
		{ "caf\xc3\xa9", true, 0 },			/* é */
		{ "\xe2\x82\xac", true, 0 },			/* € */
		{ "\xf0\x9f\x98\x80", true, 0 },		/* U+1F600 */
		{ "\xf4\x8f\xbf\xbf", true, 0 },		/* U+10FFFF */
		{ "\xef\xbf\xbf", true, 0 },			/* U+FFFF */
		{ "ab\x80", false, 2 },				/* lone continuation */
		{ "\xc3\x28", false, 0 },			/* bad continuation */
		{ "\xc0\xaf", false, 0 },			/* overlong '/' */
		{ "\xe0\x80\xaf", false, 0 },			/* overlong, 3 bytes */
		{ "\xed\xa0\x80", false, 0 },			/* surrogate D800 */
		{ "\xf4\x90\x80\x80", false, 0 },		/* U+110000 */
		{ "x\xe2\x82", false, 1 },			/* truncated */
		{ "\xf8\x88\x80\x80\x80", false, 0 },		/* 5-byte form */
		{ "\xff", false, 0 },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t at = 99;
		bool ok = xlb_utf8_valid(v[i].s, strlen(v[i].s), &at);

		if (ok != v[i].ok || (!ok && at != v[i].at))
			fail_msg("utf8 case %zu: ok %d at %zu", i, ok, at);
	}
}

/* Pack m, then swap one string's bytes for `bad` (same length) in the
 * packed bytes: what a client that sends NUL or raw bytes puts on the wire. */
static uint8_t *pack_swap(const ProtobufCMessage *m, const char *placeholder, const char *bad,
			  size_t n, size_t *len)
{
	uint8_t *buf;
	size_t i;

	*len = protobuf_c_message_get_packed_size(m);
	buf = malloc(*len);
	assert_non_null(buf);
	protobuf_c_message_pack(m, buf);
	for (i = 0; i + n <= *len; i++)
		if (!memcmp(buf + i, placeholder, n))
			break;
	assert_true(i + n <= *len);
	memcpy(buf + i, bad, n);
	return buf;
}

static void expect_wire(const ProtobufCMessage *m, const char *placeholder, const char *bad,
			size_t n, const char *at, const char *want)
{
	ProtobufCMessage *u;
	char err[256] = "";
	uint8_t *buf;
	size_t len;
	int ret;

	buf = pack_swap(m, placeholder, bad, n, &len);
	/* protobuf-c itself takes it: the check is ours. */
	u = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
	assert_non_null(u);
	protobuf_c_message_free_unpacked(u, NULL);
	ret = xlb_api_check_wire(m->descriptor, buf, len, at, err, sizeof(err));
	if (want) {
		assert_int_equal(ret, -EINVAL);
		assert_string_equal(err, want);
	} else {
		assert_int_equal(ret, 0);
	}
	free(buf);
}

/* The wire walker finds strings anywhere in a tree: nested, repeated,
 * in a oneof-free proto3 tree with a map, and judges their full length. */
static void test_wire_strings(void **unused)
{
	Xlb__V1__SyncRequest req = XLB__V1__SYNC_REQUEST__INIT;
	Xlb__V1__Service *ups[1];
	char *dels[2] = { "ok", "QQQQQ" };
	struct fixture f;

	fixture_init(&f);
	ups[0] = &f.svc;
	req.n_upserts = 1;
	req.upserts = ups;
	f.svc.name = "QQQQQQQQ";
	expect_wire(&req.base, "QQQQQQQQ", "r/nul-ok", 8, "", NULL);
	expect_wire(&req.base, "QQQQQQQQ", "r/nul\0ev", 8, "", "upserts[0].name: NUL byte at byte 5");
	expect_wire(&f.svc.base, "QQQQQQQQ", "\0abcdefg", 8, "service",
		    "service.name: NUL byte at byte 0");
	f.svc.name = "default/web";
	f.ep[1].address = "10.1.0.2QQQQQQQQ";
	expect_wire(&req.base, "QQQQQQQQ", "\0garbage", 8, "",
		    "upserts[0].endpoints[1].address: NUL byte at byte 8");
	f.ep[1].address = "10.1.0.2";
	f.ep[1].name = "QQ";
	expect_wire(&req.base, "QQ", "\xc3\x28", 2, "",
		    "upserts[0].endpoints[1].name: invalid UTF-8 at byte 0");
	f.ep[1].name = "";
	f.hc.expect_body = "QQQ";
	expect_wire(&f.svc.base, "QQQ", "\xe0\x80\xaf", 3, "service",
		    "service.health_check.expect_body: invalid UTF-8 at byte 0");
	expect_wire(&f.svc.base, "QQQ", "a\0b", 3, "service",
		    "service.health_check.expect_body: NUL byte at byte 1");
	f.hc.expect_body = "";
	req.n_deletes = 2;
	req.deletes = dels;
	expect_wire(&req.base, "QQQQQ", "bad\xc3\xa9", 5, "", NULL);
	expect_wire(&req.base, "QQQQQ", "bad\xc3\0", 5, "", "deletes[1]: invalid UTF-8 at byte 3");
	expect_wire(&req.base, "QQQQQ", "ba\0\xc3\xa9", 5, "", "deletes[1]: NUL byte at byte 2");
}

/* Bytes protobuf-c would reject are refused by the walker too, never
 * read past their end. */
static void test_wire_malformed(void **unused)
{
	static const struct { const char *desc; uint8_t b[8]; size_t n; } v[] = {
		{ "length past the end", { 0x0a, 0x05, 'a', 'b' }, 4 },
		{ "varint never ends", { 0x08, 0xff, 0xff }, 3 },
		{ "fixed64 cut", { 0x09, 1, 2, 3 }, 4 },
		{ "group", { 0x0b, 0x0c }, 2 },
		{ "key cut", { 0x80 }, 1 },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (xlb_api_check_wire(&xlb__v1__service__descriptor, v[i].b, v[i].n, "service", err,
				       sizeof(err)) != -EINVAL)
			fail_msg("%s: accepted", v[i].desc);
		assert_string_equal(err, "service: malformed message");
	}
}

/* --- state file ---------------------------------------------------------- */

static struct xlb_state *make_state(size_t n)
{
	struct xlb_state *st = xlb_state_new();
	char name[64], vip[32], err[256];
	struct fixture f;

	assert_non_null(st);
	for (size_t i = 0; i < n; i++) {
		struct xlb_svc_desired s;

		fixture_init(&f);
		snprintf(name, sizeof(name), "ns/svc-%zu:http", i);
		snprintf(vip, sizeof(vip), "10.96.%zu.%zu", i >> 8, (i & 0xff) + 1);
		f.svc.name = name;
		f.svc.cluster_ip = vip;
		f.svc.node_port = (uint32_t)(30000 + i);
		assert_int_equal(xlb_api_service_from_pb(&f.svc, &s, err, sizeof(err)), 0);
		assert_int_equal(xlb_state_upsert(st, &s, err, sizeof(err)), 0);
		xlb_svc_free(&s);
	}
	xlb_state_set_version(st, 4242);
	return st;
}

static int cmp_cb(const struct xlb_svc_desired *s, void *arg)
{
	const struct xlb_svc_desired *o = xlb_state_get(arg, s->spec.name);

	return o && xlb_svc_equal(s, o) ? 0 : -1;
}

static void assert_same_state(const struct xlb_state *a, const struct xlb_state *b)
{
	assert_int_equal(xlb_state_count(a), xlb_state_count(b));
	assert_int_equal(xlb_state_version(a), xlb_state_version(b));
	assert_int_equal(xlb_state_foreach(a, cmp_cb, (void *)b), 0);
}

static char tmpdir[] = "/tmp/xlb-test-statefile.XXXXXX";

static int setup_dir(void **unused)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **unused)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static size_t dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_statefile_roundtrip(void **unused)
{
	struct xlb_state *st = make_state(50), *back = NULL, *empty = xlb_state_new();
	char path[256], err[256] = "";
	struct stat sb;

	snprintf(path, sizeof(path), "%s/state", tmpdir);
	assert_int_equal(xlb_statefile_save(path, st), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(dir_entries(tmpdir), 1);	/* no temporary left */
	assert_int_equal(xlb_statefile_load(path, &back, err, sizeof(err)), 0);
	assert_same_state(st, back);
	xlb_state_free(back);

	/* overwrite with an empty state */
	xlb_state_set_version(empty, 7);
	assert_int_equal(xlb_statefile_save(path, empty), 0);
	assert_int_equal(xlb_statefile_load(path, &back, err, sizeof(err)), 0);
	assert_same_state(empty, back);
	assert_int_equal(dir_entries(tmpdir), 1);
	xlb_state_free(back);

	/* a directory that does not exist: error, nothing created */
	snprintf(path, sizeof(path), "%s/nodir/state", tmpdir);
	assert_int_equal(xlb_statefile_save(path, st), -ENOENT);
	xlb_state_free(st);
	xlb_state_free(empty);
}

static void test_statefile_missing(void **unused)
{
	struct xlb_state *st = (void *)1;
	char path[256], err[256] = "";

	snprintf(path, sizeof(path), "%s/absent", tmpdir);
	assert_int_equal(xlb_statefile_load(path, &st, err, sizeof(err)), -ENOENT);
	assert_null(st);
}

static void write_file(const char *path, const void *b, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, n, f), n);
	fclose(f);
}

static void expect_bad(const uint8_t *b, size_t n, const char *msg)
{
	struct xlb_state *st = (void *)1;
	char err[256] = "";

	assert_int_equal(xlb_statefile_decode(b, n, &st, err, sizeof(err)), -EBADMSG);
	assert_null(st);
	if (msg && !strstr(err, msg))
		fail_msg("message \"%s\" lacks \"%s\"", err, msg);
}

/* Rewrite the CRC so a deliberately broken payload gets past it. */
static void fix_crc(uint8_t *b, size_t n)
{
	uint32_t c = (uint32_t)crc32_z(crc32_z(0, Z_NULL, 0), b + 16, n - 16);

	b[12] = (uint8_t)c;
	b[13] = (uint8_t)(c >> 8);
	b[14] = (uint8_t)(c >> 16);
	b[15] = (uint8_t)(c >> 24);
}

static void test_statefile_garbage(void **unused)
{
	struct xlb_state *st = make_state(5), *back;
	char path[256], err[256] = "";
	uint8_t *buf, *copy;
	size_t len;

	assert_int_equal(xlb_statefile_encode(st, &buf, &len), 0);
	assert_int_equal(xlb_statefile_decode(buf, len, &back, err, sizeof(err)), 0);
	assert_same_state(st, back);
	xlb_state_free(back);
	copy = malloc(len);

	/* every truncation */
	for (size_t n = 0; n < len; n++)
		expect_bad(buf, n, n < 16 ? "truncated" : "length mismatch");
	/* trailing bytes */
	copy = realloc(copy, len + 1);
	memcpy(copy, buf, len);
	copy[len] = 0;
	expect_bad(copy, len + 1, "length mismatch");
	/* magic */
	memcpy(copy, buf, len);
	copy[7] = '2';
	expect_bad(copy, len, "bad magic");
	/* every single flipped payload byte is caught by the CRC */
	for (size_t i = 16; i < len; i++) {
		memcpy(copy, buf, len);
		copy[i] ^= 0x40;
		expect_bad(copy, len, "CRC mismatch");
	}
	/* a corrupt CRC field */
	memcpy(copy, buf, len);
	copy[13] ^= 1;
	expect_bad(copy, len, "CRC mismatch");
	/* a payload that is not protobuf, with a right CRC */
	memcpy(copy, buf, len);
	memset(copy + 16, 0xff, len - 16);
	fix_crc(copy, len);
	expect_bad(copy, len, "does not unpack");
	/* random payloads with right CRCs: either decode or -EBADMSG, never crash */
	for (int round = 0; round < 2000; round++) {
		size_t n = 16 + rng() % 200;
		uint8_t *g = malloc(n);
		int rc;

		memcpy(g, XLB_STATEFILE_MAGIC, 8);
		g[8] = (uint8_t)(n - 16);
		g[9] = g[10] = g[11] = 0;
		for (size_t i = 16; i < n; i++)
			g[i] = (uint8_t)rng();
		fix_crc(g, n);
		back = NULL;
		rc = xlb_statefile_decode(g, n, &back, err, sizeof(err));
		assert_true(rc == 0 || rc == -EBADMSG);
		xlb_state_free(back);
		free(g);
	}
	/* the file path gives the same answers, with the file named */
	snprintf(path, sizeof(path), "%s/bad", tmpdir);
	write_file(path, buf, len / 2);
	assert_int_equal(xlb_statefile_load(path, &back, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, path));
	memcpy(copy, buf, len);
	copy[len - 1] ^= 0xff;
	write_file(path, copy, len);
	assert_int_equal(xlb_statefile_load(path, &back, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "CRC"));
	write_file(path, "", 0);
	assert_int_equal(xlb_statefile_load(path, &back, err, sizeof(err)), -EBADMSG);
	unlink(path);
	/* a directory is not a state file */
	assert_int_equal(xlb_statefile_load(tmpdir, &back, err, sizeof(err)), -EBADMSG);

	free(copy);
	free(buf);
	xlb_state_free(st);
}

/* Well-framed, but the services inside do not validate or conflict. */
static void test_statefile_invalid_services(void **unused)
{
	Xlb__V1__BackupResponse pb = XLB__V1__BACKUP_RESPONSE__INIT;
	Xlb__V1__Service *svcs[2];
	struct fixture f1, f2;
	uint8_t *buf;
	size_t len;

	fixture_init(&f1);
	fixture_init(&f2);
	f2.svc.name = "other";
	svcs[0] = &f1.svc;
	svcs[1] = &f2.svc;
	pb.services = svcs;
	pb.n_services = 2;

	/* same node port twice */
	assert_int_equal(xlb_statefile_pack(&pb, &buf, &len), 0);
	expect_bad(buf, len, "already used");
	free(buf);

	f2.svc.cluster_ip = "10.96.0.11";
	f2.svc.node_port = 30081;
	f2.ep[1].port = 0;
	assert_int_equal(xlb_statefile_pack(&pb, &buf, &len), 0);
	expect_bad(buf, len, "services[1].endpoints[1].port out of range: 0");
	free(buf);

	f2.ep[1].port = 1;
	f2.ep[0].name = "\xc3\x28";
	assert_int_equal(xlb_statefile_pack(&pb, &buf, &len), 0);
	expect_bad(buf, len, "services[1].endpoints[0].name: invalid UTF-8");
	free(buf);

	/* and the same pair is fine once repaired */
	f2.ep[0].name = "";
	assert_int_equal(xlb_statefile_pack(&pb, &buf, &len), 0);
	{
		struct xlb_state *st;
		char err[256];

		assert_int_equal(xlb_statefile_decode(buf, len, &st, err, sizeof(err)), 0);
		assert_int_equal(xlb_state_count(st), 2);
		xlb_state_free(st);
	}
	free(buf);
}

static size_t pack_all(const ProtobufCMessage *m, uint8_t **out)
{
	size_t n = protobuf_c_message_get_packed_size(m);

	*out = malloc(n ? n : 1);
	assert_non_null(*out);
	assert_int_equal(protobuf_c_message_pack(m, *out), n);
	return n;
}

/* A SyncRequest assembled from services packed one at a time (xlb-k8s)
 * reads back as the one protobuf-c packs with them in it: same fields,
 * same services in the same order, deletes kept; also with no service. */
static void test_sync_request_pack(void **unused)
{
	static char *del[2] = { "default/gone:http", "default/old:dns" };
	Xlb__V1__SyncRequest req = XLB__V1__SYNC_REQUEST__INIT, *back;
	Xlb__V1__Service *svcs[3];
	struct xlb_pb_packed up[3];
	struct fixture f[3];
	uint8_t *ours, *want, *again;
	size_t n, n_want;

	(void)unused;
	for (int i = 0; i < 3; i++) {
		fixture_init(&f[i]);
		f[i].svc.port = (uint32_t)(80 + i);
		f[i].svc.n_endpoints = (size_t)i;	/* the first with none */
		svcs[i] = &f[i].svc;
		up[i].len = pack_all(&f[i].svc.base, &up[i].buf);
	}
	for (int k = 0; k < 2; k++) {
		size_t n_up = k ? 3 : 0;

		req.version = 41 + (uint64_t)k;
		req.snapshot = k;
		req.n_deletes = 2;
		req.deletes = del;
		assert_int_equal(xlb_pb_sync_request_pack(&req, up, n_up, &ours, &n), 0);
		req.n_upserts = n_up;
		req.upserts = svcs;
		n_want = pack_all(&req.base, &want);
		req.n_upserts = 0;
		req.upserts = NULL;
		assert_int_equal(n, n_want);
		back = xlb__v1__sync_request__unpack(NULL, n, ours);
		assert_non_null(back);
		assert_int_equal(back->n_upserts, n_up);
		assert_int_equal(back->n_deletes, 2);
		assert_string_equal(back->deletes[1], del[1]);
		for (size_t i = 0; i < n_up; i++)
			assert_int_equal(back->upserts[i]->port, 80 + i);
		/* Packed again, it is byte for byte what protobuf-c writes. */
		assert_int_equal(pack_all(&back->base, &again), n_want);
		assert_memory_equal(again, want, n_want);
		xlb__v1__sync_request__free_unpacked(back, NULL);
		free(again);
		free(want);
		free(ours);
	}
	for (int i = 0; i < 3; i++)
		free(up[i].buf);
}

/* The daemon takes messages up to 64 MiB; a snapshot of 10,000 services
 * with 10 named endpoints each must fit with room to spare. */
static void test_snapshot_size(void **unused)
{
	struct xlb_state *st = xlb_state_new();
	char err[256];
	uint8_t *buf;
	size_t len;

	for (size_t i = 0; i < 10000; i++) {
		struct xlb_svc_desired s = { 0 };
		struct xlb_endpoint ep[10];

		snprintf(s.spec.name, sizeof(s.spec.name), "namespace-%04zu/service-name-%04zu:https", i % 500, i);
		s.spec.type = XLB_SVC_NODE_PORT;
		xlb_ip_parse("10.96.0.1", &s.spec.vip);
		s.spec.vip.addr.a8[2] = (uint8_t)(i >> 8);
		s.spec.vip.addr.a8[3] = (uint8_t)i;
		s.spec.port = 443;
		s.spec.node_port = (uint32_t)(20000 + i);
		s.spec.proto = IPPROTO_TCP;
		memset(ep, 0, sizeof(ep));
		for (int k = 0; k < 10; k++) {
			xlb_ip_parse("10.244.0.0", &ep[k].addr);
			ep[k].addr.addr.a8[1] = (uint8_t)(100 + k);
			ep[k].addr.addr.a8[2] = (uint8_t)(i >> 8);
			ep[k].addr.addr.a8[3] = (uint8_t)i;
			ep[k].port = 8443;
			ep[k].weight = 1;
			ep[k].ready = ep[k].serving = true;
			snprintf(ep[k].name, sizeof(ep[k].name), "service-name-%04zu-7d9f8b6c5d-%05d", i, k);
		}
		s.ep = ep;
		s.n_ep = 10;
		if (xlb_state_upsert(st, &s, err, sizeof(err)))
			fail_msg("upsert %zu: %s", i, err);
	}
	assert_int_equal(xlb_statefile_encode(st, &buf, &len), 0);
	print_message("10,000 services x 10 endpoints: %zu bytes (%.1f%% of 64 MiB)\n", len,
		      100.0 * (double)len / (64 << 20));
	assert_true(len < (16u << 20));
	free(buf);
	xlb_state_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_pb_fields),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_external_fields),
		cmocka_unit_test(test_http_default_path),
		cmocka_unit_test(test_invalid_fields),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_endpoints_alone),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_wire_strings),
		cmocka_unit_test(test_wire_malformed),
		cmocka_unit_test(test_statefile_roundtrip),
		cmocka_unit_test(test_statefile_missing),
		cmocka_unit_test(test_statefile_garbage),
		cmocka_unit_test(test_statefile_invalid_services),
		cmocka_unit_test(test_snapshot_size),
		cmocka_unit_test(test_sync_request_pack),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
