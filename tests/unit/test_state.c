// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Desired-state transactions: steps applied in place, each checked against
 * what the previous ones left; rollback gives back exactly the state that
 * was (services, every index, counts, version); commit keeps the steps.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model/state.h"

static struct xlb_endpoint eps[3];

static struct xlb_svc_desired svc(const char *name, const char *vip, uint32_t node_port,
				  size_t n)
{
	struct xlb_svc_desired s;

	memset(&s, 0, sizeof(s));
	snprintf(s.spec.name, sizeof(s.spec.name), "%s", name);
	assert_int_equal(xlb_ip_parse(vip, &s.spec.vip), 0);
	s.spec.port = 80;
	s.spec.proto = IPPROTO_TCP;
	s.spec.node_port = node_port;
	s.spec.type = node_port ? XLB_SVC_NODE_PORT : XLB_SVC_CLUSTER_IP;
	for (size_t i = 0; i < n; i++) {
		char ip[32];

		memset(&eps[i], 0, sizeof(eps[i]));
		snprintf(ip, sizeof(ip), "10.0.0.%zu", i + 1);
		assert_int_equal(xlb_ip_parse(ip, &eps[i].addr), 0);
		eps[i].port = 8080;
		eps[i].weight = 1;
		eps[i].ready = true;
	}
	s.ep = eps;
	s.n_ep = n;
	return s;
}

static struct xlb_state *base(void)
{
	struct xlb_state *st = xlb_state_new();
	struct xlb_svc_desired s;
	char err[256];

	s = svc("a", "10.96.0.1", 0, 2);
	assert_int_equal(xlb_state_upsert(st, &s, err, sizeof(err)), 0);
	s = svc("b", "10.96.0.2", 0, 1);
	assert_int_equal(xlb_state_upsert(st, &s, err, sizeof(err)), 0);
	s = svc("c", "10.96.0.3", 30080, 3);
	assert_int_equal(xlb_state_upsert(st, &s, err, sizeof(err)), 0);
	xlb_state_set_version(st, 5);
	return st;
}

static int same_cb(const struct xlb_svc_desired *s, void *arg)
{
	const struct xlb_state *o = arg;
	const struct xlb_svc_desired *t = xlb_state_get(o, s->spec.name);

	assert_non_null(t);
	assert_true(xlb_svc_equal(s, t));
	/* The address index finds the same service. */
	assert_ptr_equal(xlb_state_get_by_addr(o, &s->spec), t);
	return 0;
}

static void assert_same(const struct xlb_state *a, const struct xlb_state *b)
{
	assert_int_equal(xlb_state_count(a), xlb_state_count(b));
	assert_int_equal(xlb_state_endpoint_count(a), xlb_state_endpoint_count(b));
	assert_int_equal(xlb_state_version(a), xlb_state_version(b));
	assert_int_equal(xlb_state_foreach(a, same_cb, (void *)b), 0);
	assert_int_equal(xlb_state_foreach(b, same_cb, (void *)a), 0);
}

/* Keys changing hands inside one transaction: a moves away from its
 * address, b takes it; c is deleted, d takes its node port; a twice. */
static void run_handover(struct xlb_state_txn *t)
{
	struct xlb_svc_desired s;
	char err[256];

	s = svc("a", "10.96.0.9", 0, 1);
	assert_int_equal(xlb_state_txn_upsert(t, &s, err, sizeof(err)), 0);
	s = svc("b", "10.96.0.1", 0, 2);
	assert_int_equal(xlb_state_txn_upsert(t, &s, err, sizeof(err)), 0);
	/* d cannot have the node port while c holds it ... */
	s = svc("d", "10.96.0.4", 30080, 1);
	assert_int_equal(xlb_state_txn_upsert(t, &s, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "node_port 30080 already used by service c"));
	/* ... and can once c is gone. */
	assert_int_equal(xlb_state_txn_delete(t, "c", err, sizeof(err)), 0);
	assert_int_equal(xlb_state_txn_upsert(t, &s, err, sizeof(err)), 0);
	s = svc("a", "10.96.0.3", 0, 3);	/* c's old address */
	assert_int_equal(xlb_state_txn_upsert(t, &s, err, sizeof(err)), 0);
	assert_int_equal(xlb_state_txn_delete(t, "zz", err, sizeof(err)), -ENOENT);
	assert_int_equal(xlb_state_txn_count(t), 5);
}

static void test_rollback_exact(void **unused)
{
	struct xlb_state *st = base(), *copy = xlb_state_clone(st);
	struct xlb_state_txn t;

	xlb_state_txn_begin(&t, st);
	run_handover(&t);
	xlb_state_set_version(st, 6);
	xlb_state_txn_rollback(&t);
	assert_same(st, copy);
	assert_null(xlb_state_get(st, "d"));
	/* The freed keys are really free again, and the taken ones taken. */
	{
		struct xlb_svc_desired s = svc("e", "10.96.0.9", 0, 1);
		char err[256];

		assert_int_equal(xlb_state_upsert(st, &s, err, sizeof(err)), 0);
		s = svc("f", "10.96.0.7", 30080, 1);
		assert_int_equal(xlb_state_upsert(st, &s, err, sizeof(err)), -EEXIST);
	}
	xlb_state_free(st);
	xlb_state_free(copy);
}

static void test_commit(void **unused)
{
	struct xlb_state *st = base();
	const struct xlb_svc_desired *before, *after;
	struct xlb_svc_desired want;
	struct xlb_state_txn t;

	xlb_state_txn_begin(&t, st);
	run_handover(&t);
	/* Steps as applied: a (a -> a'), b, delete c, d (created), a again. */
	xlb_state_txn_op(&t, 0, &before, &after);
	assert_string_equal(before->spec.name, "a");
	assert_int_equal(before->n_ep, 2);
	assert_int_equal(after->n_ep, 1);
	xlb_state_txn_op(&t, 2, &before, &after);
	assert_string_equal(before->spec.name, "c");
	assert_null(after);
	xlb_state_txn_op(&t, 3, &before, &after);
	assert_null(before);
	assert_string_equal(after->spec.name, "d");
	xlb_state_txn_op(&t, 4, &before, &after);
	assert_int_equal(before->n_ep, 1);	/* the first step's result */
	assert_int_equal(after->n_ep, 3);
	xlb_state_txn_commit(&t);

	assert_int_equal(xlb_state_count(st), 3);
	assert_int_equal(xlb_state_endpoint_count(st), 3 + 2 + 1);
	assert_int_equal(xlb_state_version(st), 5);	/* the caller's to set */
	want = svc("a", "10.96.0.3", 0, 3);
	assert_true(xlb_svc_equal(xlb_state_get(st, "a"), &want));
	assert_ptr_equal(xlb_state_get_by_addr(st, &want.spec), xlb_state_get(st, "a"));
	want = svc("x", "10.96.0.9", 0, 0);
	assert_null(xlb_state_get_by_addr(st, &want.spec));
	assert_null(xlb_state_get(st, "c"));
	xlb_state_free(st);
}

/* A refused step (here: a cluster IP another service holds) changes
 * nothing by itself; the steps before it stay until the caller rolls
 * back. */
static void test_refused_step(void **unused)
{
	struct xlb_state *st = base(), *copy = xlb_state_clone(st);
	struct xlb_svc_desired s;
	struct xlb_state_txn t;
	char err[256];

	xlb_state_txn_begin(&t, st);
	s = svc("b", "10.96.0.2", 0, 3);
	assert_int_equal(xlb_state_txn_upsert(&t, &s, err, sizeof(err)), 0);
	s = svc("e", "10.96.0.2", 0, 1);
	assert_int_equal(xlb_state_txn_upsert(&t, &s, err, sizeof(err)), -EEXIST);
	assert_string_equal(err, "service e: cluster_ip 10.96.0.2 port 80/tcp already used by service b");
	assert_int_equal(xlb_state_txn_count(&t), 1);
	assert_int_equal(xlb_state_get(st, "b")->n_ep, 3);
	xlb_state_txn_rollback(&t);
	assert_same(st, copy);
	xlb_state_free(st);
	xlb_state_free(copy);
}

/* Health checks compare by meaning: without one, the unused fields do not
 * count; with one, only the arguments in use. */
static void test_equal_health(void **unused)
{
	struct xlb_svc_desired a = svc("a", "10.96.0.1", 0, 1), b = a;
	static struct xlb_health_spec ha, hb;	/* the services' (never freed) */

	/* Kind none with left-over fields: the same as none at all. */
	snprintf(hb.http_path, sizeof(hb.http_path), "/left-over");
	b.hc = &hb;
	assert_true(xlb_svc_equal(&a, &b));
	assert_true(xlb_svc_equal(&b, &a));
	a.hc = &ha;
	ha.kind = hb.kind = XLB_HC_EXEC;
	ha.argc = hb.argc = 1;
	snprintf(ha.argv[0], sizeof(ha.argv[0]), "/bin/true");
	snprintf(hb.argv[0], sizeof(hb.argv[0]), "/bin/true");
	snprintf(hb.argv[1], sizeof(hb.argv[1]), "unused");
	hb.http_path[0] = 0;
	assert_true(xlb_svc_equal(&a, &b));
	snprintf(hb.argv[0], sizeof(hb.argv[0]), "/bin/false");
	assert_false(xlb_svc_equal(&a, &b));
	hb = ha;
	hb.period_ms = 5000;
	assert_false(xlb_svc_equal(&a, &b));
	hb = ha;
	hb.kind = XLB_HC_TCP;
	assert_false(xlb_svc_equal(&a, &b));
	b.hc = NULL;
	assert_false(xlb_svc_equal(&a, &b));
}

/* The lists beyond the cluster IP are held only by a service that has
 * some, each holder with its own copy, and compare by their entries. */
static void test_external_lists(void **unused)
{
	struct xlb_state *st = xlb_state_new(), *copy;
	struct xlb_svc_desired a = svc("a", "10.96.0.1", 30080, 1), b = svc("b", "10.96.0.2", 0, 1);
	struct xlb_svc_addrs lists = {}, other;
	const struct xlb_svc_desired *got;
	char err[256];

	a.spec.type = XLB_SVC_LOAD_BALANCER;
	a.spec.addrs = &lists;
	assert_int_equal(xlb_ip_parse("192.0.2.10", &lists.lb_ips[0]), 0);
	a.spec.n_lb_ips = 1;
	assert_int_equal(xlb_cidr_parse("172.16.0.0/16", &lists.source_ranges[0]), 0);
	a.spec.n_source_ranges = 1;
	assert_int_equal(xlb_state_upsert(st, &a, err, sizeof(err)), 0);
	assert_int_equal(xlb_state_upsert(st, &b, err, sizeof(err)), 0);
	got = xlb_state_get(st, "a");
	assert_non_null(got->spec.addrs);
	assert_ptr_not_equal(got->spec.addrs, &lists);
	assert_true(xlb_svc_equal(got, &a));
	assert_null(xlb_state_get(st, "b")->spec.addrs);	/* a ClusterIP Service: none */

	copy = xlb_state_clone(st);
	assert_non_null(copy);
	got = xlb_state_get(copy, "a");
	assert_ptr_not_equal(got->spec.addrs, xlb_state_get(st, "a")->spec.addrs);
	assert_true(xlb_svc_equal(got, &a));

	/* Entries past the counts do not count; those within do. */
	other = lists;
	a.spec.addrs = &other;
	assert_int_equal(xlb_ip_parse("192.0.2.99", &other.lb_ips[1]), 0);
	assert_true(xlb_svc_equal(got, &a));
	assert_int_equal(xlb_ip_parse("192.0.2.11", &other.lb_ips[0]), 0);
	assert_false(xlb_svc_equal(got, &a));
	other = lists;
	other.source_ranges[0].prefix = 12;
	assert_false(xlb_svc_equal(got, &a));
	xlb_state_free(st);
	xlb_state_free(copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rollback_exact),
		cmocka_unit_test(test_commit),
		cmocka_unit_test(test_refused_step),
		cmocka_unit_test(test_equal_health),
		cmocka_unit_test(test_external_lists),
	};

	return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
