// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The model: address parsing and formatting, service and backend
 * validation (each bad field rejected with a message naming it), and the
 * algorithm and protocol names.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model/model.h"

static struct xlb_ip ip(const char *s)
{
	struct xlb_ip a;

	assert_int_equal(xlb_ip_parse(s, &a), 0);
	return a;
}

static struct xlb_service_spec good_service(void)
{
	struct xlb_service_spec s;

	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "default/web:http");
	s.type = XLB_SVC_CLUSTER_IP;
	s.vip = ip("10.96.0.10");
	s.port = 80;
	s.proto = IPPROTO_TCP;
	s.algo = XLB_ALGO_RR;
	return s;
}

static void test_ip_roundtrip(void **state)
{
	static const struct {
		const char *in;
		uint8_t family;
	} cases[] = {
		{ "10.96.0.10", XLB_AF_INET },
		{ "0.0.0.1", XLB_AF_INET },
		{ "255.255.255.255", XLB_AF_INET },
		{ "::1", XLB_AF_INET6 },
		{ "fd00::1", XLB_AF_INET6 },
		{ "2001:db8::a:b:c", XLB_AF_INET6 },
	};
	char buf[XLB_IP_STRLEN];
	struct xlb_ip a, b;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(xlb_ip_parse(cases[i].in, &a), 0);
		assert_int_equal(a.family, cases[i].family);
		assert_string_equal(xlb_ip_str(&a, buf, sizeof(buf)), cases[i].in);
		assert_int_equal(xlb_ip_parse(buf, &b), 0);
		assert_true(xlb_ip_equal(&a, &b));
		assert_false(xlb_ip_is_zero(&a));
	}

	/* IPv4 in the first word, network order, the rest zero (the ABI). */
	a = ip("10.96.0.10");
	assert_int_equal(a.addr.a8[0], 10);
	assert_int_equal(a.addr.a8[1], 96);
	assert_int_equal(a.addr.a8[3], 10);
	for (i = 4; i < 16; i++)
		assert_int_equal(a.addr.a8[i], 0);

	a = ip("0.0.0.0");
	assert_true(xlb_ip_is_zero(&a));
	a = ip("::");
	assert_true(xlb_ip_is_zero(&a));
}

static void test_ip_reject(void **state)
{
	static const char *const bad[] = {
		"", "10.0.0", "10.0.0.256", " 10.0.0.1", "10.0.0.1 ", "abc",
		"10.0.0.1/32", "10.0.0.1:80", "fd00::1::2", "fe80::1%eth0",
		"[fd00::1]", "10..0.1", "-1.0.0.0",
	};
	struct xlb_ip a = { .family = 42 };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(xlb_ip_parse(bad[i], &a), -EINVAL);
		/* untouched on failure */
		assert_int_equal(a.family, 42);
	}
	assert_int_equal(xlb_ip_parse(NULL, &a), -EINVAL);
}

static void test_ip_equal(void **state)
{
	struct xlb_ip a = ip("10.0.0.1"), b = ip("10.0.0.1"), c = ip("10.0.0.2");
	struct xlb_ip d = ip("::ffff:10.0.0.1");
	char buf[XLB_IP_STRLEN], tiny[4];

	assert_true(xlb_ip_equal(&a, &b));
	assert_false(xlb_ip_equal(&a, &c));
	assert_false(xlb_ip_equal(&a, &d));
	/* Same bytes, other family: different. */
	b.family = XLB_AF_INET6;
	assert_false(xlb_ip_equal(&a, &b));

	/* Unknown family and short buffers still give a string. */
	b.family = 9;
	assert_string_equal(xlb_ip_str(&b, buf, sizeof(buf)), "?");
	assert_string_equal(xlb_ip_str(&a, tiny, sizeof(tiny)), "?");
}

struct svc_case {
	const char *desc;
	void (*mutate)(struct xlb_service_spec *s);
	int rc;
	const char *field;	/* must appear in the message */
	const char *value;	/* and so must this, when set */
};

static void svc_port0(struct xlb_service_spec *s) { s->port = 0; }
static void svc_port70000(struct xlb_service_spec *s) { s->port = 70000; }
static void svc_icmp(struct xlb_service_spec *s) { s->proto = 1; }
static void svc_sctp(struct xlb_service_spec *s) { s->proto = IPPROTO_SCTP; }
static void svc_algo7(struct xlb_service_spec *s) { s->algo = (enum xlb_algo)7; }
static void svc_type9(struct xlb_service_spec *s) { s->type = (enum xlb_svc_type)9; }
static void svc_np_missing(struct xlb_service_spec *s) { s->type = XLB_SVC_NODE_PORT; }
static void svc_np_big(struct xlb_service_spec *s)
{
	s->type = XLB_SVC_NODE_PORT;
	s->node_port = 65536;
}
static void svc_np_on_cip(struct xlb_service_spec *s) { s->node_port = 30080; }
static void svc_zero_vip(struct xlb_service_spec *s) { s->vip = ip("0.0.0.0"); }
static void svc_zero_vip6(struct xlb_service_spec *s) { s->vip = ip("::"); }
static void svc_vip_family(struct xlb_service_spec *s) { s->vip.family = XLB_AF_NONE; }
static void svc_vip_tail(struct xlb_service_spec *s) { s->vip.addr.a8[9] = 1; }
static void svc_aff90000(struct xlb_service_spec *s) { s->affinity_timeout = 90000; }
static void svc_name(struct xlb_service_spec *s) { memset(s->name, 'x', sizeof(s->name)); }

static void svc_ok_nodeport(struct xlb_service_spec *s)
{
	s->type = XLB_SVC_NODE_PORT;
	s->node_port = 30080;
}
static void svc_ok_v6(struct xlb_service_spec *s)
{
	s->vip = ip("fd00::10");
	s->proto = IPPROTO_UDP;
	s->algo = XLB_ALGO_SH;
}
static void svc_ok_edges(struct xlb_service_spec *s)
{
	s->port = 65535;
	s->affinity_timeout = 86400;
	s->algo = XLB_ALGO_WRR;
	s->name[0] = '\0';
}

static const struct svc_case svc_cases[] = {
	{ "port 0", svc_port0, -EINVAL, "port", ": 0" },
	{ "port 70000", svc_port70000, -EINVAL, "port", "70000" },
	{ "proto 1 (ICMP)", svc_icmp, -EINVAL, "proto", "1" },
	{ "proto SCTP", svc_sctp, -EINVAL, "proto", "132" },
	{ "algo 7", svc_algo7, -EINVAL, "algo", "7" },
	{ "type 9", svc_type9, -EINVAL, "type", "9" },
	{ "NodePort without node_port", svc_np_missing, -EINVAL, "node_port", ": 0" },
	{ "NodePort with node_port 65536", svc_np_big, -EINVAL, "node_port", "65536" },
	{ "ClusterIP with node_port", svc_np_on_cip, -EINVAL, "node_port", "30080" },
	{ "zero IPv4 vip", svc_zero_vip, -EINVAL, "vip", "zero" },
	{ "zero IPv6 vip", svc_zero_vip6, -EINVAL, "vip", "zero" },
	{ "vip without family", svc_vip_family, -EINVAL, "vip", "family" },
	{ "IPv4 vip with bytes past the address", svc_vip_tail, -EINVAL, "vip", NULL },
	{ "affinity 90000 s", svc_aff90000, -EINVAL, "affinity_timeout", "90000" },
	{ "name without NUL", svc_name, -EINVAL, "name", NULL },
	{ "NodePort 30080", svc_ok_nodeport, 0, NULL, NULL },
	{ "IPv6 UDP sh", svc_ok_v6, 0, NULL, NULL },
	{ "largest port and affinity, empty name", svc_ok_edges, 0, NULL, NULL },
};

static void test_service_validate(void **state)
{
	struct xlb_service_spec s;
	char err[256];
	size_t i;
	int rc;

	s = good_service();
	assert_int_equal(xlb_service_validate(&s, err, sizeof(err)), 0);

	for (i = 0; i < sizeof(svc_cases) / sizeof(svc_cases[0]); i++) {
		const struct svc_case *c = &svc_cases[i];

		s = good_service();
		c->mutate(&s);
		err[0] = '\0';
		rc = xlb_service_validate(&s, err, sizeof(err));
		print_message("  %-40s -> %d %s\n", c->desc, rc, err);
		assert_int_equal(rc, c->rc);
		if (c->field)
			assert_non_null(strstr(err, c->field));
		if (c->value)
			assert_non_null(strstr(err, c->value));
		/* err is optional */
		assert_int_equal(xlb_service_validate(&s, NULL, 0), c->rc);
	}
	assert_int_equal(xlb_service_validate(NULL, NULL, 0), -EINVAL);
}

#define NB 4

static void good_backends(struct xlb_backend_spec *b)
{
	static const char *const addrs[NB] = {
		"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1",
	};
	static const uint32_t ports[NB] = { 80, 80, 80, 8080 };
	size_t i;

	memset(b, 0, NB * sizeof(*b));
	for (i = 0; i < NB; i++) {
		b[i].addr = ip(addrs[i]);
		b[i].port = ports[i];
		b[i].weight = 1;
	}
}

struct be_case {
	const char *desc;
	void (*mutate)(struct xlb_backend_spec *b);
	int rc;
	const char *field;
	const char *value;
};

static void be_v6(struct xlb_backend_spec *b) { b[1].addr = ip("fd00::2"); }
static void be_zero(struct xlb_backend_spec *b) { b[2].addr = ip("0.0.0.0"); }
static void be_port0(struct xlb_backend_spec *b) { b[3].port = 0; }
static void be_port70000(struct xlb_backend_spec *b) { b[0].port = 70000; }
static void be_w70000(struct xlb_backend_spec *b) { b[2].weight = 70000; }
static void be_dup(struct xlb_backend_spec *b) { b[3].port = 80; }
static void be_tail(struct xlb_backend_spec *b) { b[0].addr.addr.a8[15] = 1; }
static void be_drain(struct xlb_backend_spec *b)
{
	b[0].weight = 0;
	b[1].terminating = true;
	b[2].weight = 65535;
}

static const struct be_case be_cases[] = {
	{ "IPv6 backend in IPv4 service", be_v6, -EINVAL, "family", "fd00::2" },
	{ "zero address", be_zero, -EINVAL, "address", "backend 2" },
	{ "port 0", be_port0, -EINVAL, "port", "backend 3" },
	{ "port 70000", be_port70000, -EINVAL, "port", "70000" },
	{ "weight 70000", be_w70000, -EINVAL, "weight", "70000" },
	{ "same address and port twice", be_dup, -EINVAL, "duplicate", "10.0.0.1:80" },
	{ "IPv4 with bytes past the address", be_tail, -EINVAL, "backend 0", NULL },
	{ "weight 0, terminating, weight 65535", be_drain, 0, NULL, NULL },
};

static void test_backends_validate(void **state)
{
	struct xlb_service_spec s = good_service();
	struct xlb_backend_spec b[NB];
	char err[256];
	size_t i;
	int rc;

	good_backends(b);
	assert_int_equal(xlb_backends_validate(&s, b, NB, err, sizeof(err)), 0);
	assert_int_equal(xlb_backends_validate(&s, NULL, 0, err, sizeof(err)), 0);

	for (i = 0; i < sizeof(be_cases) / sizeof(be_cases[0]); i++) {
		const struct be_case *c = &be_cases[i];

		good_backends(b);
		c->mutate(b);
		err[0] = '\0';
		rc = xlb_backends_validate(&s, b, NB, err, sizeof(err));
		print_message("  %-40s -> %d %s\n", c->desc, rc, err);
		assert_int_equal(rc, c->rc);
		if (c->field)
			assert_non_null(strstr(err, c->field));
		if (c->value)
			assert_non_null(strstr(err, c->value));
		assert_int_equal(xlb_backends_validate(&s, b, NB, NULL, 0), c->rc);
	}

	/* IPv6 service: IPv6 backends are fine, an IPv4 one is not. */
	s.vip = ip("fd00::10");
	b[0].addr = ip("fd00::1");
	b[1].addr = ip("fd00::2");
	b[2].addr = ip("fd00::3");
	b[3].addr = ip("fd00::1");
	b[3].port = 8080;
	assert_int_equal(xlb_backends_validate(&s, b, NB, err, sizeof(err)), 0);
	b[3].port = 80;
	assert_int_equal(xlb_backends_validate(&s, b, NB, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "[fd00::1]:80"));
	b[3].port = 8080;
	b[2].addr = ip("10.0.0.3");
	assert_int_equal(xlb_backends_validate(&s, b, NB, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "family"));
}

static void test_backends_count(void **state)
{
	struct xlb_service_spec s = good_service();
	size_t n = XLB_MAX_BACKENDS_PER_SVC + 1, i;
	struct xlb_backend_spec *b = calloc(n, sizeof(*b));
	char err[256];

	assert_non_null(b);
	for (i = 0; i < n; i++) {
		b[i].addr.family = XLB_AF_INET;
		b[i].addr.addr.a8[0] = 10;
		b[i].addr.addr.a8[2] = (uint8_t)(i >> 8);
		b[i].addr.addr.a8[3] = (uint8_t)(i + 1);
		b[i].port = 80;
		b[i].weight = 1;
	}
	assert_int_equal(xlb_backends_validate(&s, b, n - 1, err, sizeof(err)), 0);
	assert_int_equal(xlb_backends_validate(&s, b, n, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "backends"));
	assert_non_null(strstr(err, "513"));
	free(b);
}

/* A message longer than the buffer is cut, not overrun (ASan watches). */
static void test_err_truncated(void **state)
{
	struct xlb_service_spec s = good_service();
	char *err = malloc(8);

	assert_non_null(err);
	s.port = 70000;
	assert_int_equal(xlb_service_validate(&s, err, 8), -EINVAL);
	assert_int_equal(strlen(err), 7);
	free(err);
}

static void test_algo_proto(void **state)
{
	enum xlb_algo a;
	uint8_t p;

	assert_int_equal(xlb_algo_parse("rr", &a), 0);
	assert_int_equal(a, XLB_ALGO_RR);
	assert_int_equal(xlb_algo_parse("wrr", &a), 0);
	assert_int_equal(a, XLB_ALGO_WRR);
	assert_int_equal(xlb_algo_parse("sh", &a), 0);
	assert_int_equal(a, XLB_ALGO_SH);
	assert_int_equal(xlb_algo_parse("lc", &a), -EINVAL);
	assert_int_equal(xlb_algo_parse("", &a), -EINVAL);
	assert_int_equal(xlb_algo_parse("rr ", &a), -EINVAL);
	assert_string_equal(xlb_algo_name(XLB_ALGO_RR), "rr");
	assert_string_equal(xlb_algo_name(XLB_ALGO_WRR), "wrr");
	assert_string_equal(xlb_algo_name(XLB_ALGO_SH), "sh");
	assert_string_equal(xlb_algo_name(XLB_ALGO_MAX), "unknown");

	assert_int_equal(xlb_proto_parse("tcp", &p), 0);
	assert_int_equal(p, IPPROTO_TCP);
	assert_int_equal(xlb_proto_parse("TCP", &p), 0);
	assert_int_equal(p, IPPROTO_TCP);
	assert_int_equal(xlb_proto_parse("Udp", &p), 0);
	assert_int_equal(p, IPPROTO_UDP);
	assert_int_equal(xlb_proto_parse("sctp", &p), -EINVAL);
	assert_int_equal(xlb_proto_parse("", &p), -EINVAL);
	assert_int_equal(xlb_proto_parse(NULL, &p), -EINVAL);
	assert_string_equal(xlb_proto_name(IPPROTO_TCP), "tcp");
	assert_string_equal(xlb_proto_name(IPPROTO_UDP), "udp");
	assert_string_equal(xlb_proto_name(1), "unknown");
}

static void test_selectable(void **state)
{
	struct xlb_backend_spec b = { .weight = 1 };

	assert_true(xlb_backend_selectable(&b));
	b.weight = 0;
	assert_false(xlb_backend_selectable(&b));
	b.weight = 1;
	b.terminating = true;
	assert_false(xlb_backend_selectable(&b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ip_roundtrip),
		cmocka_unit_test(test_ip_reject),
		cmocka_unit_test(test_ip_equal),
		cmocka_unit_test(test_service_validate),
		cmocka_unit_test(test_backends_validate),
		cmocka_unit_test(test_backends_count),
		cmocka_unit_test(test_err_truncated),
		cmocka_unit_test(test_algo_proto),
		cmocka_unit_test(test_selectable),
	};

	return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
