// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Reconciler diff: against a recording dataplane (an implementation of the
 * dataplane ops table that only remembers what it was told), check that
 * the minimal operations are issued, in a conflict-free order, and that
 * applying the same state twice does nothing. The same for a reconcile of
 * a few names: it touches only them and what they displaced, and leaves
 * the datapath as a whole reconcile would.
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

#include "model/verdicts.h"
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
	int fail_sets;		/* -errno for every set */
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

	if (d->fail_set || d->fail_sets) {
		int r = d->fail_set ? d->fail_set : d->fail_sets;

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

/* KEP-1669: with no ready endpoint, the serving terminating ones take new
 * flows (not the non-serving ones); one ready endpoint ends the fallback,
 * and an unhealthy ready one does not count. */
static void test_terminating_fallback(void **state)
{
	struct xlb_endpoint e[3] = { ep("10.0.0.1", false, true), ep("10.0.0.2", false, true),
				     ep("10.0.0.3", false, false) };
	struct xlb_svc_desired s = svc("a", "10.96.0.1", 80, 0, e, 3);
	struct xlb_backend_spec out[3];
	struct xlb_verdicts v;
	static struct xlb_health_spec tcp = { .kind = XLB_HC_TCP };	/* s's, never freed */

	e[1].serving = false;
	assert_int_equal(xlb_svc_backends(&s, NULL, NULL, out), 3);
	assert_false(out[0].terminating);	/* serving and terminating: used */
	assert_true(out[1].terminating);	/* terminating, not serving: drains */
	assert_true(out[2].terminating);	/* not ready: drains */

	e[2] = ep("10.0.0.3", true, false);
	assert_int_equal(xlb_svc_backends(&s, NULL, NULL, out), 3);
	assert_true(out[0].terminating);	/* a ready one: no fallback */
	assert_false(out[2].terminating);

	e[0] = ep("10.0.0.1", true, false);	/* ready but unhealthy: left out */
	e[2] = ep("10.0.0.3", false, true);
	s.hc = &tcp;
	xlb_verdicts_init(&v);
	v.on = true;
	for (int i = 0; i < 3; i++)
		assert_true(xlb_verdicts_set(&v, "a", &e[i].addr, e[i].port,
					     i ? XLB_HEALTH_HEALTHY : XLB_HEALTH_UNHEALTHY, 1) >= 0);
	assert_int_equal(xlb_svc_backends(&s, &v, NULL, out), 2);
	assert_true(out[0].terminating);	/* 10.0.0.2: not serving */
	assert_false(out[1].terminating);	/* 10.0.0.3: serving, terminating */
	xlb_verdicts_fini(&v);
}

/* Local endpoints (nodeName = the node's name): the local ones are told
 * apart, and KEP-1669 holds among them on its own: with no ready local
 * endpoint the serving terminating local ones take the local traffic,
 * while the cluster-wide selection keeps its ready remote one. */
static void test_local_endpoints(void **state)
{
	struct xlb_endpoint e[4] = { ep("10.0.0.1", true, false), ep("10.0.0.2", false, true),
				     ep("10.0.0.3", false, false), ep("10.0.0.4", true, false) };
	struct xlb_svc_desired s = svc("a", "10.96.0.1", 80, 0, e, 4);
	struct xlb_backend_spec out[4];

	strcpy(e[1].node_name, "n1");
	strcpy(e[2].node_name, "n1");
	strcpy(e[3].node_name, "n2");
	assert_int_equal(xlb_svc_backends(&s, NULL, "n1", out), 4);
	assert_false(out[0].local);		/* no nodeName: not local */
	assert_true(out[1].local && out[2].local);
	assert_false(out[3].local);
	assert_false(out[0].terminating);	/* cluster-wide: ready ones only */
	assert_true(out[1].terminating);
	assert_true(xlb_backend_selectable_local(&out[1]));	/* local fallback */
	assert_false(xlb_backend_selectable_local(&out[2]));	/* not ready, not serving */
	assert_false(xlb_backend_selectable_local(&out[0]));

	strcpy(e[0].node_name, "n1");		/* a ready local one ends the fallback */
	assert_int_equal(xlb_svc_backends(&s, NULL, "n1", out), 4);
	assert_true(xlb_backend_selectable_local(&out[0]));
	assert_false(xlb_backend_selectable_local(&out[1]));

	assert_int_equal(xlb_svc_backends(&s, NULL, NULL, out), 4);	/* no node name */
	for (int i = 0; i < 4; i++)
		assert_false(out[i].local);
}

/* A change of what only traffic policies, ingress IPs, external IPs or
 * source ranges say still reaches the dataplane; locality too. */
static void test_external_fields_reconciled(void **state)
{
	struct rec_dp d = { .base.ops = &rec_ops };
	struct xlb_endpoint e[1] = { ep("10.0.0.1", true, false) };
	struct xlb_state *st = xlb_state_new();
	struct xlb_svc_desired s = svc("a", "10.96.0.1", 80, 30080, e, 1);
	struct xlb_reconcile_result res;
	struct xlb_reconciler r;

	s.spec.type = XLB_SVC_LOAD_BALANCER;
	put(st, s);
	assert_int_equal(xlb_reconciler_init(&r, &d.base), 0);
	r.node = "n1";
	assert_int_equal(xlb_reconcile(&r, st, &res), 0);
	assert_int_equal(res.created, 1);
	for (int step = 0; step < 6; step++) {
		switch (step) {
		case 0: assert_int_equal(xlb_ip_parse("192.0.2.10", &s.spec.lb_ips[0]), 0);
			s.spec.n_lb_ips = 1; break;
		case 1: assert_int_equal(xlb_ip_parse("192.0.2.20", &s.spec.external_ips[0]), 0);
			s.spec.n_external_ips = 1; break;
		case 2: assert_int_equal(xlb_cidr_parse("172.16.0.0/16", &s.spec.source_ranges[0]), 0);
			s.spec.n_source_ranges = 1; break;
		case 3: s.spec.ext_policy = XLB_POLICY_LOCAL; break;
		case 4: s.spec.int_policy = XLB_POLICY_LOCAL; break;
		case 5: strcpy(e[0].node_name, "n1"); break;
		}
		put(st, s);
		assert_int_equal(xlb_reconcile(&r, st, &res), 0);
		assert_int_equal(res.updated, 1);
	}
	assert_int_equal(xlb_reconcile(&r, st, &res), 0);
	assert_int_equal(res.unchanged, 1);
	xlb_reconciler_fini(&r);
	xlb_state_free(st);
}

static void reconcile_ok(struct xlb_reconciler *r, const struct xlb_state *st,
			 const char *const *names, size_t n)
{
	struct xlb_reconcile_result res;

	assert_int_equal(xlb_reconcile_names(r, st, names, n, &res), 0);
	assert_int_equal(res.failed, 0);
}

/* Only the named services are looked at: b changed too, but was not named. */
static void test_names_only_named(void **state)
{
	struct rec_dp d = { .base.ops = &rec_ops };
	struct xlb_endpoint e[2] = { ep("10.0.0.1", true, false), ep("10.0.0.2", true, false) };
	struct xlb_state *st = xlb_state_new();
	struct xlb_reconciler r;
	struct xlb_reconcile_result res;
	const char *names[] = { "a", "a" };

	put(st, svc("a", "10.96.0.1", 80, 0, e, 2));
	put(st, svc("b", "10.96.0.2", 80, 0, e, 2));
	assert_int_equal(xlb_reconciler_init(&r, &d.base), 0);
	assert_false(r.dirty);
	assert_int_equal(xlb_reconcile(&r, st, &res), 0);
	put(st, svc("a", "10.96.0.1", 80, 0, e, 1));
	put(st, svc("b", "10.96.0.2", 80, 0, e, 1));
	d.n_log = 0;
	assert_int_equal(xlb_reconcile_names(&r, st, names, 2, &res), 0);
	assert_int_equal(res.updated, 1);
	assert_int_equal(d.n_log, 1);
	assert_string_equal(d.log[0], "set a");
	/* Named again, unchanged: nothing. */
	d.n_log = 0;
	assert_int_equal(xlb_reconcile_names(&r, st, names, 1, &res), 0);
	assert_int_equal(res.unchanged, 1);
	assert_int_equal(d.n_log, 0);
	xlb_reconciler_fini(&r);
	xlb_state_free(st);
}

/* A service that moves to another address frees the old one first; a
 * deleted one is deleted. */
static void test_names_move_and_delete(void **state)
{
	struct rec_dp d = { .base.ops = &rec_ops };
	struct xlb_endpoint e[1] = { ep("10.0.0.1", true, false) };
	struct xlb_state *st = xlb_state_new();
	struct xlb_reconciler r;
	struct xlb_reconcile_result res;
	const char *a[] = { "a" }, *b[] = { "b" };
	char err[128];

	put(st, svc("a", "10.96.0.1", 80, 30080, e, 1));
	put(st, svc("b", "10.96.0.2", 80, 0, e, 1));
	assert_int_equal(xlb_reconciler_init(&r, &d.base), 0);
	assert_int_equal(xlb_reconcile(&r, st, &res), 0);
	put(st, svc("a", "10.96.0.5", 80, 30080, e, 1));
	d.n_log = 0;
	reconcile_ok(&r, st, a, 1);
	assert_int_equal(d.n_log, 2);
	assert_string_equal(d.log[0], "del a");
	assert_string_equal(d.log[1], "set a");
	assert_int_equal(d.n_svc, 2);

	assert_int_equal(xlb_state_delete(st, "b", err, sizeof(err)), 0);
	d.n_log = 0;
	reconcile_ok(&r, st, b, 1);
	assert_int_equal(d.n_log, 1);
	assert_string_equal(d.log[0], "del b");
	assert_int_equal(d.n_svc, 1);
	/* A name nobody has: nothing. */
	d.n_log = 0;
	reconcile_ok(&r, st, b, 1);
	assert_int_equal(d.n_log, 0);
	xlb_reconciler_fini(&r);
	xlb_state_free(st);
}

/* a leaves its address and b takes it over in the same change: b is
 * updated in place at a's old key, b's old key is freed, a is created. */
static void test_names_takeover(void **state)
{
	struct rec_dp d = { .base.ops = &rec_ops };
	struct xlb_endpoint e[1] = { ep("10.0.0.1", true, false) };
	struct xlb_state *st = xlb_state_new();
	struct xlb_reconciler r;
	struct xlb_reconcile_result res;
	const char *names[] = { "b", "a" };
	struct xlb_svc_desired v1 = svc("-", "10.96.0.1", 80, 0, e, 1);

	put(st, svc("a", "10.96.0.1", 80, 0, e, 1));
	put(st, svc("b", "10.96.0.2", 80, 0, e, 1));
	assert_int_equal(xlb_reconciler_init(&r, &d.base), 0);
	assert_int_equal(xlb_reconcile(&r, st, &res), 0);
	{
		struct xlb_state *next = xlb_state_new();

		put(next, svc("a", "10.96.0.5", 80, 0, e, 1));
		put(next, svc("b", "10.96.0.1", 80, 0, e, 0));	/* differs from a */
		xlb_state_free(st);
		st = next;
	}
	d.n_log = 0;
	reconcile_ok(&r, st, names, 2);
	assert_int_equal(d.n_log, 3);
	assert_string_equal(d.log[0], "set b");
	assert_string_equal(d.log[1], "del b");
	assert_string_equal(d.log[2], "set a");
	assert_int_equal(d.n_svc, 2);
	assert_string_equal(d.svc[find(&d, &v1.spec)].spec.name, "b");
	/* And the whole agrees. */
	d.n_log = 0;
	assert_int_equal(xlb_reconcile(&r, st, &res), 0);
	assert_int_equal(d.n_log, 0);

	/* b leaves 10.96.0.1, c (not named) holds it now: the key is taken
	 * over for c rather than deleted under it. */
	{
		struct xlb_state *next = xlb_state_new();
		const char *only_b[] = { "b" };

		put(next, svc("a", "10.96.0.5", 80, 0, e, 1));
		put(next, svc("b", "10.96.0.7", 80, 0, e, 0));
		put(next, svc("c", "10.96.0.1", 80, 0, e, 1));
		xlb_state_free(st);
		st = next;
		d.n_log = 0;
		reconcile_ok(&r, st, only_b, 1);
		assert_int_equal(d.n_log, 2);
		assert_string_equal(d.log[0], "set c");
		assert_string_equal(d.log[1], "set b");
		assert_int_equal(d.n_svc, 3);
	}
	xlb_reconciler_fini(&r);
	xlb_state_free(st);
}

/* Node ports changing hands, by names: from a deleted service to a new
 * one (delete first), and between two kept ones (the retry pass). */
static void test_names_nodeport(void **state)
{
	struct rec_dp d = { .base.ops = &rec_ops };
	struct xlb_endpoint e[1] = { ep("10.0.0.1", true, false) };
	struct xlb_state *st = xlb_state_new();
	struct xlb_reconciler r;
	struct xlb_reconcile_result res;
	const char *n1[] = { "new", "old" }, *n2[] = { "a", "new" };
	char err[128];

	put(st, svc("old", "10.96.0.1", 80, 30080, e, 1));
	put(st, svc("a", "10.96.0.2", 80, 0, e, 1));
	assert_int_equal(xlb_reconciler_init(&r, &d.base), 0);
	assert_int_equal(xlb_reconcile(&r, st, &res), 0);
	assert_int_equal(xlb_state_delete(st, "old", err, sizeof(err)), 0);
	put(st, svc("new", "10.96.0.9", 80, 30080, e, 1));
	d.n_log = 0;
	reconcile_ok(&r, st, n1, 2);
	assert_int_equal(d.n_log, 2);
	assert_string_equal(d.log[0], "del old");
	assert_string_equal(d.log[1], "set new");

	/* a takes 30080 from new, which keeps going without it. */
	{
		struct xlb_state *next = xlb_state_new();

		put(next, svc("a", "10.96.0.2", 80, 30080, e, 1));
		put(next, svc("new", "10.96.0.9", 80, 0, e, 1));
		xlb_state_free(st);
		st = next;
	}
	reconcile_ok(&r, st, n2, 2);
	assert_int_equal(d.svc[find(&d, &xlb_state_get(st, "a")->spec)].spec.node_port, 30080);
	assert_int_equal(d.svc[find(&d, &xlb_state_get(st, "new")->spec)].spec.type,
			 XLB_SVC_CLUSTER_IP);
	xlb_reconciler_fini(&r);
	xlb_state_free(st);
}

/* What an adopted datapath holds is no desired service's: whole reconciles
 * until one succeeds; a failed one leaves the reconciler dirty again. */
static void test_names_dirty(void **state)
{
	struct rec_dp d = { .base.ops = &rec_ops };
	struct xlb_endpoint e[1] = { ep("10.0.0.1", true, false) };
	struct xlb_state *st = xlb_state_new();
	struct xlb_reconciler r1, r2;
	struct xlb_reconcile_result res;
	const char *a[] = { "a" };

	put(st, svc("a", "10.96.0.1", 80, 0, e, 1));
	assert_int_equal(xlb_reconciler_init(&r1, &d.base), 0);
	assert_int_equal(xlb_reconcile(&r1, st, &res), 0);
	xlb_reconciler_fini(&r1);
	assert_int_equal(xlb_reconciler_init(&r2, &d.base), 0);
	assert_true(r2.dirty);
	assert_int_equal(xlb_reconcile(&r2, st, &res), 0);
	assert_false(r2.dirty);
	/* Adopted, then claimed by the whole reconcile: found by name. */
	put(st, svc("a", "10.96.0.1", 80, 0, e, 0));
	d.n_log = 0;
	reconcile_ok(&r2, st, a, 1);
	assert_int_equal(d.n_log, 1);
	assert_false(r2.dirty);

	put(st, svc("a", "10.96.0.1", 80, 0, e, 1));
	d.fail_sets = -ENOSPC;
	assert_int_equal(xlb_reconcile_names(&r2, st, a, 1, &res), -ENOSPC);
	assert_string_equal(res.first_error, "refused");
	assert_true(r2.dirty);
	d.fail_sets = 0;
	assert_int_equal(xlb_reconcile(&r2, st, &res), 0);
	assert_false(r2.dirty);
	xlb_reconciler_fini(&r2);
	xlb_state_free(st);
}

/* Deterministic PRNG (xorshift64, Marsaglia 2003). */
static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint32_t rng(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32) % n;
}

static int dp_matches_cb(const struct xlb_svc_desired *s, void *arg)
{
	struct rec_dp *d = arg;
	int i = find(d, &s->spec);

	assert_true(i >= 0);	/* names are not the datapath's business */
	assert_int_equal(d->svc[i].spec.node_port, s->spec.node_port);
	assert_int_equal(d->svc[i].n, s->n_ep);
	return 0;
}

/* Random batches of changes (addresses and node ports changing hands
 * included), each reconciled by its names: after each, the datapath is
 * the desired state and a whole reconcile finds nothing to do. */
static void test_names_random(void **state)
{
	static struct rec_dp d = { .base.ops = &rec_ops };
	struct xlb_endpoint e[3] = { ep("10.0.0.1", true, false), ep("10.0.0.2", true, false),
				     ep("10.0.0.3", false, true) };
	struct xlb_state *st = xlb_state_new();
	struct xlb_reconciler r;
	struct xlb_reconcile_result res;

	assert_int_equal(xlb_reconciler_init(&r, &d.base), 0);
	for (int round = 0; round < 400; round++) {
		char names[3][8], err[256];
		const char *np[3];
		size_t n = 1 + rng(3);

		for (size_t i = 0; i < n; i++) {
			char vip[32];

			snprintf(names[i], sizeof(names[i]), "s%u", rng(8));
			np[i] = names[i];
			if (rng(4) == 0) {
				xlb_state_delete(st, names[i], err, sizeof(err));
				continue;
			}
			snprintf(vip, sizeof(vip), "10.96.0.%u", 1 + rng(10));
			/* A conflict is refused by the state: just skipped. */
			struct xlb_svc_desired s = svc(names[i], vip, 80,
						       rng(2) ? 30000 + rng(3) : 0, e, rng(4));

			xlb_state_upsert(st, &s, err, sizeof(err));
		}
		d.n_log = 0;
		reconcile_ok(&r, st, np, n);
		assert_int_equal(d.n_svc, xlb_state_count(st));
		xlb_state_foreach(st, dp_matches_cb, &d);
		d.n_log = 0;
		assert_int_equal(xlb_reconcile(&r, st, &res), 0);
		assert_int_equal(d.n_log, 0);
	}
	xlb_reconciler_fini(&r);
	xlb_state_free(st);
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
		cmocka_unit_test(test_terminating_fallback),
		cmocka_unit_test(test_local_endpoints),
		cmocka_unit_test(test_external_fields_reconciled),
		cmocka_unit_test(test_names_only_named),
		cmocka_unit_test(test_names_move_and_delete),
		cmocka_unit_test(test_names_takeover),
		cmocka_unit_test(test_names_nodeport),
		cmocka_unit_test(test_names_dirty),
		cmocka_unit_test(test_names_random),
	};

	return cmocka_run_group_tests_name("reconcile", tests, NULL, NULL);
}
