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
#define TEST_RNG_SEED 0x2545f4914f6cdd1dULL
#include "rng.h"

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

static void del(struct xlb_state *st, const char *name)
{
	char err[256];

	assert_int_equal(xlb_state_delete(st, name, err, sizeof(err)), 0);
}

/* Each test's world: a recording dataplane, a desired state and a
 * reconciler over them (started on the empty dataplane). */
struct world {
	struct rec_dp d;
	struct xlb_state *st;
	struct xlb_reconciler r;
	struct xlb_reconcile_result res;
};

static int world_up(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	if (!w)
		return -1;
	w->d.base.ops = &rec_ops;
	w->st = xlb_state_new();
	if (!w->st || xlb_reconciler_init(&w->r, &w->d.base)) {
		xlb_state_free(w->st);
		free(w);
		return -1;
	}
	*state = w;
	return 0;
}

static int world_down(void **state)
{
	struct world *w = *state;

	xlb_reconciler_fini(&w->r);
	xlb_state_free(w->st);
	free(w);
	return 0;
}

/* The desired state starts over (what a snapshot brings). */
static struct xlb_state *fresh_state(struct world *w)
{
	xlb_state_free(w->st);
	w->st = xlb_state_new();
	assert_non_null(w->st);
	return w->st;
}

/* A whole reconcile, or one of names, that succeeds; the log then holds
 * only what it did. */
static void whole(struct world *w)
{
	w->d.n_log = 0;
	assert_int_equal(xlb_reconcile(&w->r, w->st, &w->res), 0);
}

static void named(struct world *w, const char *const *names, size_t n)
{
	w->d.n_log = 0;
	assert_int_equal(xlb_reconcile_names(&w->r, w->st, names, n, &w->res), 0);
	assert_int_equal(w->res.failed, 0);
}

/* The dataplane was told exactly these operations, in this order
 * ("set NAME" / "del NAME"; NULL ends the list). */
static void expect_log(const struct world *w, ...)
{
	const char *want;
	size_t i = 0;
	va_list ap;

	va_start(ap, w);
	while ((want = va_arg(ap, const char *))) {
		assert_true(i < w->d.n_log);
		assert_string_equal(w->d.log[i], want);
		i++;
	}
	va_end(ap);
	assert_int_equal(w->d.n_log, i);
}

/* What the dataplane holds for the desired service `name`. */
static const struct xlb_service_spec *dp_spec(struct world *w, const char *name)
{
	int i = find(&w->d, &xlb_state_get(w->st, name)->spec);

	assert_true(i >= 0);
	return &w->d.svc[i].spec;
}

static void test_create_then_noop(void **state)
{
	struct world *w = *state;
	struct xlb_endpoint e[2] = { ep("10.0.0.1", true, false), ep("10.0.0.2", true, false) };

	put(w->st, svc("a", "10.96.0.1", 80, 0, e, 2));
	put(w->st, svc("b", "10.96.0.2", 80, 0, e, 1));
	whole(w);
	assert_int_equal(w->res.created, 2);
	expect_log(w, "set a", "set b", NULL);

	/* Same state again: nothing at all. */
	whole(w);
	assert_int_equal(w->res.unchanged, 2);
	assert_int_equal(w->res.created + w->res.updated + w->res.deleted, 0);
	expect_log(w, NULL);
}

static void test_update_only_what_changed(void **state)
{
	struct world *w = *state;
	struct xlb_endpoint e[2] = { ep("10.0.0.1", true, false), ep("10.0.0.2", true, false) };
	int b;

	put(w->st, svc("a", "10.96.0.1", 80, 0, e, 2));
	put(w->st, svc("b", "10.96.0.2", 80, 0, e, 2));
	whole(w);

	/* b's second endpoint starts terminating: only b is set, in place. */
	e[1].terminating = true;
	put(w->st, svc("b", "10.96.0.2", 80, 0, e, 2));
	whole(w);
	assert_int_equal(w->res.updated, 1);
	assert_int_equal(w->res.unchanged, 1);
	assert_int_equal(w->res.deleted, 0);
	expect_log(w, "set b", NULL);
	/* Terminating becomes a draining backend, not a removed one. */
	b = find(&w->d, dp_spec(w, "b"));
	assert_int_equal(w->d.svc[b].n, 2);
	assert_true(w->d.svc[b].be[1].terminating);
}

static void test_delete_and_endpoint_order(void **state)
{
	struct world *w = *state;
	struct xlb_endpoint e1[2] = { ep("10.0.0.1", true, false), ep("10.0.0.2", true, false) };
	struct xlb_endpoint e2[2] = { ep("10.0.0.2", true, false), ep("10.0.0.1", true, false) };

	put(w->st, svc("a", "10.96.0.1", 80, 0, e1, 2));
	put(w->st, svc("b", "10.96.0.2", 80, 0, e1, 2));
	whole(w);

	/* Reordered endpoints are the same set: no operation. */
	put(w->st, svc("a", "10.96.0.1", 80, 0, e2, 2));
	del(w->st, "b");
	whole(w);
	assert_int_equal(w->res.deleted, 1);
	assert_int_equal(w->res.unchanged, 1);
	expect_log(w, "del b", NULL);
}

/* A node port moving from a deleted service to a new one: the delete must
 * come first or the create conflicts. */
static void test_nodeport_handover(void **state)
{
	struct world *w = *state;
	struct xlb_endpoint e[1] = { ep("10.0.0.1", true, false) };

	put(w->st, svc("old", "10.96.0.1", 80, 30080, e, 1));
	whole(w);
	del(w->st, "old");
	put(w->st, svc("new", "10.96.0.9", 80, 30080, e, 1));
	whole(w);
	assert_int_equal(w->res.failed, 0);
	expect_log(w, "del old", "set new", NULL);
}

/* A node port moving between two kept services settles in one reconcile. */
static void test_nodeport_swap_between_kept(void **state)
{
	struct world *w = *state;
	struct xlb_endpoint e[1] = { ep("10.0.0.1", true, false) };

	put(w->st, svc("a", "10.96.0.1", 80, 0, e, 1));
	put(w->st, svc("b", "10.96.0.2", 80, 30080, e, 1));
	whole(w);
	/* a takes 30080, b gives it up ("a" is reconciled first). */
	fresh_state(w);
	put(w->st, svc("a", "10.96.0.1", 80, 30080, e, 1));
	put(w->st, svc("b", "10.96.0.2", 80, 0, e, 1));
	whole(w);
	assert_int_equal(w->res.failed, 0);
	assert_int_equal(dp_spec(w, "a")->node_port, 30080);
	assert_int_equal(dp_spec(w, "b")->type, XLB_SVC_CLUSTER_IP);
}

/* What the dataplane already holds (an adopted datapath) is not rewritten. */
static void test_seeded_from_dataplane(void **state)
{
	struct world *w = *state;
	struct xlb_endpoint e[2] = { ep("10.0.0.1", true, false), ep("10.0.0.2", true, false) };

	put(w->st, svc("a", "10.96.0.1", 80, 0, e, 2));
	whole(w);

	/* A new process: seeds from the listing, finds nothing to do. */
	xlb_reconciler_fini(&w->r);
	assert_int_equal(xlb_reconciler_init(&w->r, &w->d.base), 0);
	whole(w);
	assert_int_equal(w->res.unchanged, 1);
	expect_log(w, NULL);
}

/* An adopted datapath gives its lists back in its own order and holds no
 * type and no health check node port: none of that is a change. Another
 * set of ranges is. */
static void test_seeded_lists_any_order(void **state)
{
	struct world *w = *state;
	struct xlb_endpoint e[1] = { ep("10.0.0.1", true, false) };
	struct xlb_svc_desired s = svc("a", "10.96.0.1", 80, 30080, e, 1);
	struct xlb_svc_addrs a = {}, held = {};
	struct xlb_service_spec *dp;
	int i;

	s.spec.type = XLB_SVC_LOAD_BALANCER;
	s.spec.ext_policy = XLB_POLICY_LOCAL;
	s.spec.health_check_node_port = 32100;
	s.spec.addrs = &a;
	assert_int_equal(xlb_ip_parse("192.0.2.10", &a.lb_ips[0]), 0);
	assert_int_equal(xlb_ip_parse("192.0.2.11", &a.lb_ips[1]), 0);
	assert_int_equal(xlb_ip_parse("198.51.100.1", &a.external_ips[0]), 0);
	assert_int_equal(xlb_ip_parse("198.51.100.2", &a.external_ips[1]), 0);
	assert_int_equal(xlb_cidr_parse("172.16.0.0/16", &a.source_ranges[0]), 0);
	assert_int_equal(xlb_cidr_parse("10.1.0.0/24", &a.source_ranges[1]), 0);
	s.spec.n_lb_ips = s.spec.n_external_ips = s.spec.n_source_ranges = 2;
	put(w->st, s);
	whole(w);
	assert_int_equal(w->res.created, 1);

	/* what the BPF dataplane reads back: every list reversed, a NodePort */
	i = find(&w->d, &s.spec);
	assert_true(i >= 0);
	dp = &w->d.svc[i].spec;
	for (int j = 0; j < 2; j++) {
		held.lb_ips[j] = a.lb_ips[1 - j];
		held.external_ips[j] = a.external_ips[1 - j];
		held.source_ranges[j] = a.source_ranges[1 - j];
	}
	dp->addrs = &held;
	dp->type = XLB_SVC_NODE_PORT;
	dp->health_check_node_port = 0;
	xlb_reconciler_fini(&w->r);
	assert_int_equal(xlb_reconciler_init(&w->r, &w->d.base), 0);
	w->d.n_log = 0;
	whole(w);
	assert_int_equal(w->res.unchanged, 1);
	assert_int_equal(w->res.updated, 0);
	expect_log(w, NULL);

	/* one range replaced by another: written */
	assert_int_equal(xlb_cidr_parse("10.2.0.0/24", &a.source_ranges[1]), 0);
	put(w->st, s);
	whole(w);
	assert_int_equal(w->res.updated, 1);
	expect_log(w, "set a", NULL);
}

static void test_failure_reported(void **state)
{
	struct world *w = *state;
	struct xlb_endpoint e[1] = { ep("10.0.0.1", true, false) };

	put(w->st, svc("a", "10.96.0.1", 80, 0, e, 1));
	w->d.fail_set = -ENOSPC;
	/* The retry pass succeeds: a transient refusal is absorbed. */
	whole(w);
	assert_int_equal(w->res.failed, 0);
	assert_int_equal(w->d.n_svc, 1);
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

/* Topology hints (kube-proxy's canUseTopology): with every ready endpoint
 * hinted and one for this zone, the others take no cluster-wide flows but
 * still serve Local traffic; a zone with no endpoint, an endpoint without
 * hints or no zone turn filtering off; names match whole ("zone-ab" is not
 * "zone-a"); not-ready endpoints need no hints. */
static void test_topology_hints(void **state)
{
	struct xlb_endpoint e[4] = { ep("10.0.0.1", true, false), ep("10.0.0.2", true, false),
				     ep("10.0.0.3", true, false), ep("10.0.0.4", false, true) };
	struct xlb_svc_desired s = svc("a", "10.96.0.1", 80, 0, e, 4);
	struct xlb_backend_spec out[4];
	size_t n;

	strcpy(e[0].hints, "zone-a");
	strcpy(e[1].hints, "zone-b");
	strcpy(e[2].hints, "zone-a,zone-c");
	strcpy(e[1].node_name, "n1");
	n = xlb_svc_backends(&s, NULL, "n1", out);
	assert_int_equal(xlb_svc_topology(&s, NULL, "zone-a", out, n), 1);
	assert_true(xlb_backend_selectable(&out[0]));
	assert_false(xlb_backend_selectable(&out[1]));		/* zone-b's */
	assert_true(xlb_backend_selectable_local(&out[1]));	/* still serves Local */
	assert_true(xlb_backend_selectable(&out[2]));
	assert_false(xlb_backend_selectable(&out[3]));		/* not ready anyway */

	n = xlb_svc_backends(&s, NULL, "n1", out);
	assert_int_equal(xlb_svc_topology(&s, NULL, "zone-c", out, n), 2);
	assert_true(xlb_backend_selectable(&out[2]));

	for (int k = 0; k < 3; k++) {
		static const char *const off[] = { "zone-d", "", NULL };

		n = xlb_svc_backends(&s, NULL, "n1", out);
		assert_int_equal(xlb_svc_topology(&s, NULL, off[k], out, n), 0);
		for (int i = 0; i < 3; i++)
			assert_true(xlb_backend_selectable(&out[i]));
	}

	strcpy(e[0].hints, "zone-ab");
	n = xlb_svc_backends(&s, NULL, "n1", out);
	assert_int_equal(xlb_svc_topology(&s, NULL, "zone-a", out, n), 2);
	assert_true(xlb_backend_selectable(&out[2]));

	e[1].hints[0] = '\0';					/* one without hints */
	n = xlb_svc_backends(&s, NULL, "n1", out);
	assert_int_equal(xlb_svc_topology(&s, NULL, "zone-a", out, n), 0);
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
	assert_false(out[0].remote);		/* ... nor known to be elsewhere */
	assert_true(out[1].local && out[2].local);
	assert_false(out[1].remote || out[2].remote);
	assert_false(out[3].local);
	assert_true(out[3].remote);		/* on n2: external flows get SNAT */
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
		assert_false(out[i].local || out[i].remote);
}

/* A change of what only traffic policies, ingress IPs, external IPs or
 * source ranges say still reaches the dataplane; locality too. */
static void test_external_fields_reconciled(void **state)
{
	struct world *w = *state;
	struct xlb_endpoint e[1] = { ep("10.0.0.1", true, false) };
	struct xlb_svc_desired s = svc("a", "10.96.0.1", 80, 30080, e, 1);
	struct xlb_svc_addrs a = {};	/* the state keeps a copy */

	s.spec.type = XLB_SVC_LOAD_BALANCER;
	s.spec.addrs = &a;
	put(w->st, s);
	w->r.node = "n1";
	whole(w);
	assert_int_equal(w->res.created, 1);
	for (int step = 0; step < 6; step++) {
		switch (step) {
		case 0: assert_int_equal(xlb_ip_parse("192.0.2.10", &a.lb_ips[0]), 0);
			s.spec.n_lb_ips = 1; break;
		case 1: assert_int_equal(xlb_ip_parse("192.0.2.20", &a.external_ips[0]), 0);
			s.spec.n_external_ips = 1; break;
		case 2: assert_int_equal(xlb_cidr_parse("172.16.0.0/16", &a.source_ranges[0]), 0);
			s.spec.n_source_ranges = 1; break;
		case 3: s.spec.ext_policy = XLB_POLICY_LOCAL; break;
		case 4: s.spec.int_policy = XLB_POLICY_LOCAL; break;
		case 5: strcpy(e[0].node_name, "n1"); break;
		}
		put(w->st, s);
		whole(w);
		assert_int_equal(w->res.updated, 1);
		expect_log(w, "set a", NULL);
	}
	whole(w);
	assert_int_equal(w->res.unchanged, 1);
	expect_log(w, NULL);
}

/* Only the named services are looked at: b changed too, but was not named. */
static void test_names_only_named(void **state)
{
	struct world *w = *state;
	struct xlb_endpoint e[2] = { ep("10.0.0.1", true, false), ep("10.0.0.2", true, false) };
	const char *names[] = { "a", "a" };

	put(w->st, svc("a", "10.96.0.1", 80, 0, e, 2));
	put(w->st, svc("b", "10.96.0.2", 80, 0, e, 2));
	assert_false(w->r.dirty);
	whole(w);
	put(w->st, svc("a", "10.96.0.1", 80, 0, e, 1));
	put(w->st, svc("b", "10.96.0.2", 80, 0, e, 1));
	named(w, names, 2);
	assert_int_equal(w->res.updated, 1);
	expect_log(w, "set a", NULL);
	/* Named again, unchanged: nothing. */
	named(w, names, 1);
	assert_int_equal(w->res.unchanged, 1);
	expect_log(w, NULL);
}

/* A service that moves to another address frees the old one first; a
 * deleted one is deleted. */
static void test_names_move_and_delete(void **state)
{
	struct world *w = *state;
	struct xlb_endpoint e[1] = { ep("10.0.0.1", true, false) };
	const char *a[] = { "a" }, *b[] = { "b" };

	put(w->st, svc("a", "10.96.0.1", 80, 30080, e, 1));
	put(w->st, svc("b", "10.96.0.2", 80, 0, e, 1));
	whole(w);
	put(w->st, svc("a", "10.96.0.5", 80, 30080, e, 1));
	named(w, a, 1);
	expect_log(w, "del a", "set a", NULL);
	assert_int_equal(w->d.n_svc, 2);

	del(w->st, "b");
	named(w, b, 1);
	expect_log(w, "del b", NULL);
	assert_int_equal(w->d.n_svc, 1);
	/* A name nobody has: nothing. */
	named(w, b, 1);
	expect_log(w, NULL);
}

/* a leaves its address and b takes it over in the same change: b is
 * updated in place at a's old key, b's old key is freed, a is created. */
static void test_names_takeover(void **state)
{
	struct world *w = *state;
	struct xlb_endpoint e[1] = { ep("10.0.0.1", true, false) };
	const char *names[] = { "b", "a" }, *only_b[] = { "b" };
	struct xlb_svc_desired v1 = svc("-", "10.96.0.1", 80, 0, e, 1);

	put(w->st, svc("a", "10.96.0.1", 80, 0, e, 1));
	put(w->st, svc("b", "10.96.0.2", 80, 0, e, 1));
	whole(w);
	fresh_state(w);
	put(w->st, svc("a", "10.96.0.5", 80, 0, e, 1));
	put(w->st, svc("b", "10.96.0.1", 80, 0, e, 0));	/* differs from a */
	named(w, names, 2);
	expect_log(w, "set b", "del b", "set a", NULL);
	assert_int_equal(w->d.n_svc, 2);
	assert_string_equal(w->d.svc[find(&w->d, &v1.spec)].spec.name, "b");
	/* And the whole agrees. */
	whole(w);
	expect_log(w, NULL);

	/* b leaves 10.96.0.1, c (not named) holds it now: the key is taken
	 * over for c rather than deleted under it. */
	fresh_state(w);
	put(w->st, svc("a", "10.96.0.5", 80, 0, e, 1));
	put(w->st, svc("b", "10.96.0.7", 80, 0, e, 0));
	put(w->st, svc("c", "10.96.0.1", 80, 0, e, 1));
	named(w, only_b, 1);
	expect_log(w, "set c", "set b", NULL);
	assert_int_equal(w->d.n_svc, 3);
}

/* Node ports changing hands, by names: from a deleted service to a new
 * one (delete first), and between two kept ones (the retry pass). */
static void test_names_nodeport(void **state)
{
	struct world *w = *state;
	struct xlb_endpoint e[1] = { ep("10.0.0.1", true, false) };
	const char *n1[] = { "new", "old" }, *n2[] = { "a", "new" };

	put(w->st, svc("old", "10.96.0.1", 80, 30080, e, 1));
	put(w->st, svc("a", "10.96.0.2", 80, 0, e, 1));
	whole(w);
	del(w->st, "old");
	put(w->st, svc("new", "10.96.0.9", 80, 30080, e, 1));
	named(w, n1, 2);
	expect_log(w, "del old", "set new", NULL);

	/* a takes 30080 from new, which keeps going without it. */
	fresh_state(w);
	put(w->st, svc("a", "10.96.0.2", 80, 30080, e, 1));
	put(w->st, svc("new", "10.96.0.9", 80, 0, e, 1));
	named(w, n2, 2);
	assert_int_equal(dp_spec(w, "a")->node_port, 30080);
	assert_int_equal(dp_spec(w, "new")->type, XLB_SVC_CLUSTER_IP);
}

/* What an adopted datapath holds is no desired service's: whole reconciles
 * until one succeeds; a failed one leaves the reconciler dirty again. */
static void test_names_dirty(void **state)
{
	struct world *w = *state;
	struct xlb_endpoint e[1] = { ep("10.0.0.1", true, false) };
	const char *a[] = { "a" };

	put(w->st, svc("a", "10.96.0.1", 80, 0, e, 1));
	whole(w);
	/* A new process adopts it. */
	xlb_reconciler_fini(&w->r);
	assert_int_equal(xlb_reconciler_init(&w->r, &w->d.base), 0);
	assert_true(w->r.dirty);
	whole(w);
	assert_false(w->r.dirty);
	/* Adopted, then claimed by the whole reconcile: found by name. */
	put(w->st, svc("a", "10.96.0.1", 80, 0, e, 0));
	named(w, a, 1);
	expect_log(w, "set a", NULL);
	assert_false(w->r.dirty);

	put(w->st, svc("a", "10.96.0.1", 80, 0, e, 1));
	w->d.fail_sets = -ENOSPC;
	assert_int_equal(xlb_reconcile_names(&w->r, w->st, a, 1, &w->res), -ENOSPC);
	assert_string_equal(w->res.first_error, "refused");
	assert_true(w->r.dirty);
	w->d.fail_sets = 0;
	whole(w);
	assert_false(w->r.dirty);
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
	struct world *w = *state;
	struct xlb_endpoint e[3] = { ep("10.0.0.1", true, false), ep("10.0.0.2", true, false),
				     ep("10.0.0.3", false, true) };

	for (int round = 0; round < 400; round++) {
		char names[3][8], err[256];
		const char *np[3];
		size_t n = 1 + rng() % 3;

		for (size_t i = 0; i < n; i++) {
			char vip[32];

			snprintf(names[i], sizeof(names[i]), "s%u", rng() % 8);
			np[i] = names[i];
			if (rng() % 4 == 0) {
				xlb_state_delete(w->st, names[i], err, sizeof(err));
				continue;
			}
			snprintf(vip, sizeof(vip), "10.96.0.%u", 1 + rng() % 10);
			/* A conflict is refused by the state: just skipped. */
			struct xlb_svc_desired s = svc(names[i], vip, 80,
						       rng() % 2 ? 30000 + rng() % 3 : 0, e, rng() % 4);

			xlb_state_upsert(w->st, &s, err, sizeof(err));
		}
		named(w, np, n);
		assert_int_equal(w->d.n_svc, xlb_state_count(w->st));
		xlb_state_foreach(w->st, dp_matches_cb, &w->d);
		whole(w);
		expect_log(w, NULL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define WORLD_TEST(t) cmocka_unit_test_setup_teardown(t, world_up, world_down)
		WORLD_TEST(test_create_then_noop),
		WORLD_TEST(test_update_only_what_changed),
		WORLD_TEST(test_delete_and_endpoint_order),
		WORLD_TEST(test_nodeport_handover),
		WORLD_TEST(test_nodeport_swap_between_kept),
		WORLD_TEST(test_seeded_from_dataplane),
		WORLD_TEST(test_seeded_lists_any_order),
		WORLD_TEST(test_failure_reported),
		cmocka_unit_test(test_endpoint_rules),
		cmocka_unit_test(test_terminating_fallback),
		cmocka_unit_test(test_local_endpoints),
		cmocka_unit_test(test_topology_hints),
		WORLD_TEST(test_external_fields_reconciled),
		WORLD_TEST(test_names_only_named),
		WORLD_TEST(test_names_move_and_delete),
		WORLD_TEST(test_names_takeover),
		WORLD_TEST(test_names_nodeport),
		WORLD_TEST(test_names_dirty),
		WORLD_TEST(test_names_random),
	};

	return cmocka_run_group_tests_name("reconcile", tests, NULL, NULL);
}
