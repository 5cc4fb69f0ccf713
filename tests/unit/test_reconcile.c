// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Reconciler diff: against a recording dataplane (an implementation of the
 * dataplane ops table that only remembers what it was told), check that
 * the minimal operations are issued, in a conflict-free order, and that
 * applying the same state twice does nothing.
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

#include "reconcile/reconcile.h"

#define MAXS 16

struct rec_dp {
	struct xlb_dp base;
	struct {
		struct xlb_service_spec spec;
		struct xlb_backend_spec be[8];
		size_t n;
	} svc[MAXS];
	size_t n_svc;
	char log[64][160];	/* "set web" / "del web" */
	size_t n_log;
	int fail_set;		/* -errno for the next set, once */
};

static int find(struct rec_dp *d, const struct xlb_service_spec *s)
{
	for (size_t i = 0; i < d->n_svc; i++)
		if (d->svc[i].spec.port == s->port && d->svc[i].spec.proto == s->proto &&
		    xlb_ip_equal(&d->svc[i].spec.vip, &s->vip))
			return (int)i;
	return -1;
}

static int rec_set(struct xlb_dp *dp, const struct xlb_service_spec *s,
		   const struct xlb_backend_spec *be, size_t n, char *err, size_t errlen)
{
	struct rec_dp *d = (struct rec_dp *)dp;
	int i = find(d, s);

	if (d->fail_set) {
		int r = d->fail_set;

		d->fail_set = 0;
		snprintf(err, errlen, "refused");
		return r;
	}
	/* Node ports are exclusive, as in the BPF dataplane. */
	for (size_t j = 0; j < d->n_svc; j++)
		if ((int)j != i && s->type == XLB_SVC_NODE_PORT &&
		    d->svc[j].spec.type == XLB_SVC_NODE_PORT &&
		    d->svc[j].spec.node_port == s->node_port) {
			snprintf(err, errlen, "node port %u in use", s->node_port);
			return -EEXIST;
		}
	if (i < 0)
		i = (int)d->n_svc++;
	d->svc[i].spec = *s;
	memcpy(d->svc[i].be, be, n * sizeof(*be));
	d->svc[i].n = n;
	snprintf(d->log[d->n_log++], sizeof(d->log[0]), "set %s", s->name);
	return 0;
}

static int rec_del(struct xlb_dp *dp, const struct xlb_service_spec *s, char *err, size_t errlen)
{
	struct rec_dp *d = (struct rec_dp *)dp;
	int i = find(d, s);

	if (i < 0)
		return -ENOENT;
	char name[sizeof(d->svc[i].spec.name)];

	memcpy(name, d->svc[i].spec.name, sizeof(name));
	snprintf(d->log[d->n_log++], sizeof(d->log[0]), "del %s", name);
	d->svc[i] = d->svc[--d->n_svc];
	return 0;
}

static int rec_list(struct xlb_dp *dp, xlb_svc_cb cb, void *arg)
{
	struct rec_dp *d = (struct rec_dp *)dp;
	uint32_t ids[8] = { 0 };

	for (size_t i = 0; i < d->n_svc; i++) {
		struct xlb_dp_service s = { .spec = d->svc[i].spec, .id = (uint32_t)i,
					    .n_backends = d->svc[i].n,
					    .backends = d->svc[i].be, .backend_ids = ids };
		int r = cb(&s, arg);

		if (r)
			return r;
	}
	return 0;
}

static const struct xlb_dp_ops rec_ops = {
	.name = "record",
	.service_set = rec_set,
	.service_delete = rec_del,
	.service_list = rec_list,
};

static struct xlb_svc_desired svc(const char *name, const char *vip, uint32_t port,
				  uint32_t node_port, struct xlb_endpoint *ep, size_t n)
{
	struct xlb_svc_desired s;

	memset(&s, 0, sizeof(s));
	snprintf(s.spec.name, sizeof(s.spec.name), "%s", name);
	assert_int_equal(xlb_ip_parse(vip, &s.spec.vip), 0);
	s.spec.port = port;
	s.spec.proto = IPPROTO_TCP;
	s.spec.node_port = node_port;
	s.spec.type = node_port ? XLB_SVC_NODE_PORT : XLB_SVC_CLUSTER_IP;
	s.ep = ep;
	s.n_ep = n;
	return s;
}

static struct xlb_endpoint ep(const char *addr, bool ready, bool terminating)
{
	struct xlb_endpoint e;

	memset(&e, 0, sizeof(e));
	assert_int_equal(xlb_ip_parse(addr, &e.addr), 0);
	e.port = 8080;
	e.weight = 1;
	e.ready = ready;
	e.serving = ready || terminating;
	e.terminating = terminating;
	return e;
}

static void put(struct xlb_state *st, struct xlb_svc_desired s)
{
	char err[256];

	assert_int_equal(xlb_state_upsert(st, &s, err, sizeof(err)), 0);
}

static void test_create_then_noop(void **state)
{
	struct rec_dp d = { .base.ops = &rec_ops };
	struct xlb_endpoint e[2] = { ep("10.0.0.1", true, false), ep("10.0.0.2", true, false) };
	struct xlb_state *st = xlb_state_new();
	struct xlb_reconciler r;
	struct xlb_reconcile_result res;

	put(st, svc("a", "10.96.0.1", 80, 0, e, 2));
	put(st, svc("b", "10.96.0.2", 80, 0, e, 1));
	assert_int_equal(xlb_reconciler_init(&r, &d.base), 0);
	assert_int_equal(xlb_reconcile(&r, st, &res), 0);
	assert_int_equal(res.created, 2);
	assert_int_equal(d.n_log, 2);

	/* Same state again: nothing at all. */
	d.n_log = 0;
	assert_int_equal(xlb_reconcile(&r, st, &res), 0);
	assert_int_equal(res.unchanged, 2);
	assert_int_equal(res.created + res.updated + res.deleted, 0);
	assert_int_equal(d.n_log, 0);
	xlb_reconciler_fini(&r);
	xlb_state_free(st);
}

static void test_update_only_what_changed(void **state)
{
	struct rec_dp d = { .base.ops = &rec_ops };
	struct xlb_endpoint e[2] = { ep("10.0.0.1", true, false), ep("10.0.0.2", true, false) };
	struct xlb_state *st = xlb_state_new();
	struct xlb_reconciler r;
	struct xlb_reconcile_result res;

	put(st, svc("a", "10.96.0.1", 80, 0, e, 2));
	put(st, svc("b", "10.96.0.2", 80, 0, e, 2));
	assert_int_equal(xlb_reconciler_init(&r, &d.base), 0);
	assert_int_equal(xlb_reconcile(&r, st, &res), 0);

	/* b's second endpoint starts terminating: only b is set, in place. */
	e[1].terminating = true;
	put(st, svc("b", "10.96.0.2", 80, 0, e, 2));
	d.n_log = 0;
	assert_int_equal(xlb_reconcile(&r, st, &res), 0);
	assert_int_equal(res.updated, 1);
	assert_int_equal(res.unchanged, 1);
	assert_int_equal(res.deleted, 0);
	assert_int_equal(d.n_log, 1);
	assert_string_equal(d.log[0], "set b");
	/* Terminating becomes a draining backend, not a removed one. */
	assert_int_equal(d.svc[find(&d, &xlb_state_get(st, "b")->spec)].n, 2);
	assert_true(d.svc[find(&d, &xlb_state_get(st, "b")->spec)].be[1].terminating);
	xlb_reconciler_fini(&r);
	xlb_state_free(st);
}

static void test_delete_and_endpoint_order(void **state)
{
	struct rec_dp d = { .base.ops = &rec_ops };
	struct xlb_endpoint e1[2] = { ep("10.0.0.1", true, false), ep("10.0.0.2", true, false) };
	struct xlb_endpoint e2[2] = { ep("10.0.0.2", true, false), ep("10.0.0.1", true, false) };
	struct xlb_state *st = xlb_state_new();
	struct xlb_reconciler r;
	struct xlb_reconcile_result res;
	char err[128];

	put(st, svc("a", "10.96.0.1", 80, 0, e1, 2));
	put(st, svc("b", "10.96.0.2", 80, 0, e1, 2));
	assert_int_equal(xlb_reconciler_init(&r, &d.base), 0);
	assert_int_equal(xlb_reconcile(&r, st, &res), 0);

	/* Reordered endpoints are the same set: no operation. */
	put(st, svc("a", "10.96.0.1", 80, 0, e2, 2));
	assert_int_equal(xlb_state_delete(st, "b", err, sizeof(err)), 0);
	d.n_log = 0;
	assert_int_equal(xlb_reconcile(&r, st, &res), 0);
	assert_int_equal(res.deleted, 1);
	assert_int_equal(res.unchanged, 1);
	assert_int_equal(d.n_log, 1);
	assert_string_equal(d.log[0], "del b");
	xlb_reconciler_fini(&r);
	xlb_state_free(st);
}

/* A node port moving from a deleted service to a new one: the delete must
 * come first or the create conflicts. */
static void test_nodeport_handover(void **state)
{
	struct rec_dp d = { .base.ops = &rec_ops };
	struct xlb_endpoint e[1] = { ep("10.0.0.1", true, false) };
	struct xlb_state *st = xlb_state_new();
	struct xlb_reconciler r;
	struct xlb_reconcile_result res;
	char err[128];

	put(st, svc("old", "10.96.0.1", 80, 30080, e, 1));
	assert_int_equal(xlb_reconciler_init(&r, &d.base), 0);
	assert_int_equal(xlb_reconcile(&r, st, &res), 0);
	assert_int_equal(xlb_state_delete(st, "old", err, sizeof(err)), 0);
	put(st, svc("new", "10.96.0.9", 80, 30080, e, 1));
	d.n_log = 0;
	assert_int_equal(xlb_reconcile(&r, st, &res), 0);
	assert_int_equal(res.failed, 0);
	assert_int_equal(d.n_log, 2);
	assert_string_equal(d.log[0], "del old");
	assert_string_equal(d.log[1], "set new");
	xlb_reconciler_fini(&r);
	xlb_state_free(st);
}

/* A node port moving between two kept services settles in one reconcile. */
static void test_nodeport_swap_between_kept(void **state)
{
	struct rec_dp d = { .base.ops = &rec_ops };
	struct xlb_endpoint e[1] = { ep("10.0.0.1", true, false) };
	struct xlb_state *st = xlb_state_new();
	struct xlb_reconciler r;
	struct xlb_reconcile_result res;

	put(st, svc("a", "10.96.0.1", 80, 0, e, 1));
	put(st, svc("b", "10.96.0.2", 80, 30080, e, 1));
	assert_int_equal(xlb_reconciler_init(&r, &d.base), 0);
	assert_int_equal(xlb_reconcile(&r, st, &res), 0);
	/* a takes 30080, b gives it up ("a" is reconciled first). */
	{
		struct xlb_state *next = xlb_state_new();

		put(next, svc("a", "10.96.0.1", 80, 30080, e, 1));
		put(next, svc("b", "10.96.0.2", 80, 0, e, 1));
		assert_int_equal(xlb_reconcile(&r, next, &res), 0);
		assert_int_equal(res.failed, 0);
		assert_int_equal(d.svc[find(&d, &xlb_state_get(next, "a")->spec)].spec.node_port, 30080);
		assert_int_equal(d.svc[find(&d, &xlb_state_get(next, "b")->spec)].spec.type,
				 XLB_SVC_CLUSTER_IP);
		xlb_state_free(next);
	}
	xlb_reconciler_fini(&r);
	xlb_state_free(st);
}

/* What the dataplane already holds (an adopted datapath) is not rewritten. */
static void test_seeded_from_dataplane(void **state)
{
	struct rec_dp d = { .base.ops = &rec_ops };
	struct xlb_endpoint e[2] = { ep("10.0.0.1", true, false), ep("10.0.0.2", true, false) };
	struct xlb_state *st = xlb_state_new();
	struct xlb_reconciler r1, r2;
	struct xlb_reconcile_result res;

	put(st, svc("a", "10.96.0.1", 80, 0, e, 2));
	assert_int_equal(xlb_reconciler_init(&r1, &d.base), 0);
	assert_int_equal(xlb_reconcile(&r1, st, &res), 0);
	xlb_reconciler_fini(&r1);

	/* A new process: seeds from the listing, finds nothing to do. */
	d.n_log = 0;
	assert_int_equal(xlb_reconciler_init(&r2, &d.base), 0);
	assert_int_equal(xlb_reconcile(&r2, st, &res), 0);
	assert_int_equal(res.unchanged, 1);
	assert_int_equal(d.n_log, 0);
	xlb_reconciler_fini(&r2);
	xlb_state_free(st);
}

static void test_failure_reported(void **state)
{
	struct rec_dp d = { .base.ops = &rec_ops };
	struct xlb_endpoint e[1] = { ep("10.0.0.1", true, false) };
	struct xlb_state *st = xlb_state_new();
	struct xlb_reconciler r;
	struct xlb_reconcile_result res;

	put(st, svc("a", "10.96.0.1", 80, 0, e, 1));
	assert_int_equal(xlb_reconciler_init(&r, &d.base), 0);
	d.fail_set = -ENOSPC;
	/* The retry pass succeeds: a transient refusal is absorbed. */
	assert_int_equal(xlb_reconcile(&r, st, &res), 0);
	assert_int_equal(res.failed, 0);
	assert_int_equal(d.n_svc, 1);
	xlb_reconciler_fini(&r);
	xlb_state_free(st);
}

/* Endpoints: ready -> active; terminating or not ready -> draining. */
static void test_endpoint_rules(void **state)
{
	struct xlb_endpoint e[3] = { ep("10.0.0.1", true, false), ep("10.0.0.2", false, true),
				     ep("10.0.0.3", false, false) };
	struct xlb_svc_desired s = svc("a", "10.96.0.1", 80, 0, e, 3);
	struct xlb_backend_spec out[3];

	assert_int_equal(xlb_svc_backends(&s, NULL, NULL, out), 3);
	assert_false(out[0].terminating);
	assert_true(out[1].terminating);
	assert_true(out[2].terminating);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_then_noop),
		cmocka_unit_test(test_update_only_what_changed),
		cmocka_unit_test(test_delete_and_endpoint_order),
		cmocka_unit_test(test_nodeport_handover),
		cmocka_unit_test(test_nodeport_swap_between_kept),
		cmocka_unit_test(test_seeded_from_dataplane),
		cmocka_unit_test(test_failure_reported),
		cmocka_unit_test(test_endpoint_rules),
	};

	return cmocka_run_group_tests_name("reconcile", tests, NULL, NULL);
}
