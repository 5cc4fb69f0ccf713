// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "reconcile.h"

struct applied_svc {
	struct xlb_svc_ident key;
	struct xlb_service_spec spec;	/* name: the desired service it was
					 * applied for; ignored in comparisons */
	size_t n;
	struct xlb_backend_spec *be;	/* canonical order */
	bool seen;			/* desired in this pass */
};

static int be_cmp(const void *a, const void *b)
{
	const struct xlb_backend_spec *x = a, *y = b;
	int c = memcmp(&x->addr, &y->addr, sizeof(x->addr));

	if (c)
		return c;
	return (x->port > y->port) - (x->port < y->port);
}

/* n elements of size bytes at a and at b: the same, in any order (the
 * dataplane keys each address and range; read back from an adopted
 * datapath they come in its order). */
static bool same_set(const void *a, const void *b, uint32_t n, size_t size,
		     bool (*eq)(const void *, const void *))
{
	const char *pa = a, *pb = b;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t in_a = 0, in_b = 0;

		for (uint32_t j = 0; j < n; j++) {
			in_a += eq(pa + i * size, pa + j * size);
			in_b += eq(pa + i * size, pb + j * size);
		}
		if (in_a != in_b)
			return false;
	}
	return true;
}

static bool ip_eq(const void *a, const void *b)
{
	return xlb_ip_equal(a, b);
}

static bool cidr_eq(const void *a, const void *b)
{
	const struct xlb_cidr *x = a, *y = b;

	return x->prefix == y->prefix && xlb_ip_equal(&x->ip, &y->ip);
}

/* Everything a dataplane programs (not the name). Not the type either:
 * it programs a node port when there is one (node_port is 0 for a
 * ClusterIP) and LoadBalancer IPs when there are some, whatever the
 * type; nor the health check node port, which xlbd serves itself from
 * the desired state. So a restart that adopts the datapath (which holds
 * no type) finds nothing to write. */
static bool spec_same(const struct xlb_service_spec *a, const struct xlb_service_spec *b)
{
	const struct xlb_svc_addrs *x = a->addrs, *y = b->addrs;

	if (a->n_source_ranges != b->n_source_ranges || a->n_lb_ips != b->n_lb_ips ||
	    a->n_external_ips != b->n_external_ips)
		return false;
	return xlb_ip_equal(&a->vip, &b->vip) && a->port == b->port &&
	       a->node_port == b->node_port && a->proto == b->proto && a->algo == b->algo &&
	       a->affinity_timeout == b->affinity_timeout && a->ext_policy == b->ext_policy &&
	       a->int_policy == b->int_policy &&
	       a->lb_mode == b->lb_mode &&
	       (!a->n_source_ranges || same_set(x->source_ranges, y->source_ranges,
						a->n_source_ranges, sizeof(x->source_ranges[0]),
						cidr_eq)) &&
	       (!a->n_lb_ips ||
		same_set(x->lb_ips, y->lb_ips, a->n_lb_ips, sizeof(x->lb_ips[0]), ip_eq)) &&
	       (!a->n_external_ips || same_set(x->external_ips, y->external_ips,
					       a->n_external_ips, sizeof(x->external_ips[0]),
					       ip_eq));
}

static bool be_same(const struct xlb_backend_spec *a, const struct xlb_backend_spec *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (be_cmp(&a[i], &b[i]) || a[i].weight != b[i].weight ||
		    a[i].terminating != b[i].terminating || a[i].local != b[i].local ||
		    a[i].local_terminating != b[i].local_terminating || a[i].remote != b[i].remote)
			return false;
	return true;
}

static void applied_free(struct applied_svc *a)
{
	if (a) {
		xlb_service_fini(&a->spec);
		free(a->be);
		free(a);
	}
}

/* by_name points into the entry's own name; an entry leaves it before it
 * is freed or renamed. An index entry that cannot be added leaves the
 * service invisible to xlb_reconcile_names: dirty, so the next reconcile
 * is whole. */
static void name_unlink(struct xlb_reconciler *r, struct applied_svc *a)
{
	size_t len = strlen(a->spec.name);

	if (len && xlb_htab_get(&r->by_name, a->spec.name, len) == a)
		xlb_htab_del(&r->by_name, a->spec.name, len);
}

static void name_link(struct xlb_reconciler *r, struct applied_svc *a)
{
	size_t len = strlen(a->spec.name);

	if (len && xlb_htab_put(&r->by_name, a->spec.name, len, a))
		r->dirty = true;
}

/* An unchanged entry now stands for `name` (adopted at start, or taken
 * over from another service with the same key and spec). */
static void claim(struct xlb_reconciler *r, struct applied_svc *a, const char *name)
{
	if (xlb_htab_get(&r->by_name, name, strlen(name)) == a)
		return;
	name_unlink(r, a);
	snprintf(a->spec.name, sizeof(a->spec.name), "%s", name);
	name_link(r, a);
}

static void applied_drop(struct xlb_reconciler *r, struct applied_svc *a)
{
	xlb_htab_del(&r->applied, &a->key, sizeof(a->key));
	name_unlink(r, a);
	applied_free(a);
}

/* link: spec.name is a desired service's (not a name the datapath made up
 * for what it holds). */
static int applied_store(struct xlb_reconciler *r, const struct xlb_service_spec *spec,
			 const struct xlb_backend_spec *be, size_t n, bool link)
{
	struct applied_svc *a = calloc(1, sizeof(*a)), *old;

	if (!a || xlb_service_copy(&a->spec, spec)) {
		free(a);
		return -ENOMEM;
	}
	a->seen = true;		/* stored now: desired in this pass */
	xlb_svc_ident_of(&a->key, spec);
	a->n = n;
	a->be = malloc((n ? n : 1) * sizeof(*be));
	if (!a->be) {
		applied_free(a);
		return -ENOMEM;
	}
	if (n)
		memcpy(a->be, be, n * sizeof(*be));
	old = xlb_htab_get(&r->applied, &a->key, sizeof(a->key));
	if (old)
		applied_drop(r, old);
	if (xlb_htab_put(&r->applied, &a->key, sizeof(a->key), a)) {
		applied_free(a);
		r->dirty = true;
		return -ENOMEM;
	}
	if (link)
		name_link(r, a);
	return 0;
}

static int seed_cb(const struct xlb_dp_service *s, void *arg)
{
	struct xlb_reconciler *r = arg;
	struct xlb_backend_spec *be = malloc((s->n_backends ? s->n_backends : 1) * sizeof(*be));
	int ret;

	if (!be)
		return -ENOMEM;
	if (s->n_backends)
		memcpy(be, s->backends, s->n_backends * sizeof(*be));
	qsort(be, s->n_backends, sizeof(*be), be_cmp);
	ret = applied_store(r, &s->spec, be, s->n_backends, false);
	free(be);
	return ret;
}

int xlb_reconciler_init(struct xlb_reconciler *r, struct xlb_dp *dp)
{
	int ret;

	memset(r, 0, sizeof(*r));
	r->dp = dp;
	xlb_htab_init(&r->applied);
	xlb_htab_init(&r->by_name);
	ret = xlb_dp_service_list(dp, seed_cb, r);
	/* Adopted services belong to no desired service yet. */
	r->dirty = r->applied.used > 0;
	return ret;
}

void xlb_reconciler_fini(struct xlb_reconciler *r)
{
	size_t pos = 0;
	struct applied_svc *a;

	while ((a = xlb_htab_next(&r->applied, &pos)))
		applied_free(a);
	xlb_htab_fini(&r->applied);
	xlb_htab_fini(&r->by_name);
}

struct pass {
	struct xlb_reconciler *r;
	struct xlb_reconcile_result *res;
	struct xlb_backend_spec *buf;
	int err;
};

static void note_err(struct pass *p, int ret, const char *msg)
{
	p->res->failed++;
	if (!p->err) {
		p->err = ret;
		snprintf(p->res->first_error, sizeof(p->res->first_error), "%s", msg);
	}
	pr_warn("reconcile: %s", msg);
}

/* Phase 0: mark what stays and update it in place; phase 1: create. */
static void apply_one(struct pass *p, const struct xlb_svc_desired *s, int phase)
{
	struct xlb_reconciler *r = p->r;
	struct applied_svc *a;
	struct xlb_svc_ident k;
	char err[256] = "";
	size_t n;
	int ret;

	xlb_svc_ident_of(&k, &s->spec);
	a = xlb_htab_get(&r->applied, &k, sizeof(k));
	if (phase == 0) {
		if (!a)
			return;		/* created in phase 1 */
		a->seen = true;
	} else if (a) {
		return;
	}
	n = xlb_svc_backends(s, r->health, r->node, p->buf);
	xlb_svc_topology(s, r->health, r->zone, p->buf, n);
	qsort(p->buf, n, sizeof(*p->buf), be_cmp);
	if (a && spec_same(&a->spec, &s->spec) && a->n == n && be_same(a->be, p->buf, n)) {
		claim(r, a, s->spec.name);
		p->res->unchanged++;
		return;
	}
	ret = xlb_dp_service_write(r->dp, &s->spec, p->buf, n, err, sizeof(err));
	if (ret) {
		note_err(p, ret, err[0] ? err : strerror(-ret));
		return;
	}
	if (a)
		p->res->updated++;
	else
		p->res->created++;
	ret = applied_store(r, &s->spec, p->buf, n, true);
	if (ret)
		note_err(p, ret, "out of memory");
}

/* The desired services d (in the order to apply them) against the applied
 * entries at keys (NULL: every applied entry). Marks what stays (and
 * updates it), then deletes the rest, then creates: a node port moving
 * from one service to another is freed first. */
static int run(struct xlb_reconciler *r, const struct xlb_svc_desired *const *d, size_t nd,
	       const struct xlb_svc_ident *keys, size_t nk, struct xlb_reconcile_result *res)
{
	struct pass p = { .r = r, .res = res };
	struct applied_svc *a, **stale;
	size_t pos = 0, n_stale = 0;

	p.buf = malloc(XLB_MAX_ENDPOINTS * sizeof(*p.buf));
	stale = malloc(((keys ? nk : r->applied.used) + 1) * sizeof(*stale));
	if (!p.buf || !stale) {
		free(p.buf);
		free(stale);
		return -ENOMEM;
	}
	if (!keys)
		while ((a = xlb_htab_next(&r->applied, &pos)))
			a->seen = false;
	for (size_t i = 0; keys && i < nk; i++)
		if ((a = xlb_htab_get(&r->applied, &keys[i], sizeof(keys[i]))))
			a->seen = false;

	for (size_t i = 0; i < nd; i++)
		apply_one(&p, d[i], 0);
	pos = 0;
	if (!keys)
		while ((a = xlb_htab_next(&r->applied, &pos)))
			if (!a->seen)
				stale[n_stale++] = a;
	for (size_t i = 0; keys && i < nk; i++)
		if ((a = xlb_htab_get(&r->applied, &keys[i], sizeof(keys[i]))) && !a->seen)
			stale[n_stale++] = a;
	for (size_t i = 0; i < n_stale; i++) {
		char err[256] = "";
		int ret = xlb_dp_service_delete(r->dp, &stale[i]->spec, err, sizeof(err));

		if (ret && ret != -ENOENT) {
			note_err(&p, ret, err[0] ? err : strerror(-ret));
			continue;
		}
		applied_drop(r, stale[i]);
		res->deleted++;
	}
	for (size_t i = 0; i < nd; i++)
		apply_one(&p, d[i], 1);
	if (p.err) {
		/* An update can wait on another's (a node port changing hands
		 * between two kept services): one more pass settles it. */
		p.err = 0;
		res->failed = 0;
		res->first_error[0] = 0;
		for (size_t i = 0; i < nd; i++)
			apply_one(&p, d[i], 0);
		for (size_t i = 0; i < nd; i++)
			apply_one(&p, d[i], 1);
	}
	free(p.buf);
	free(stale);
	return p.err;
}

struct collect {
	const struct xlb_svc_desired **d;
	size_t n;
};

static int collect_cb(const struct xlb_svc_desired *s, void *arg)
{
	struct collect *c = arg;

	c->d[c->n++] = s;
	return 0;
}

int xlb_reconcile(struct xlb_reconciler *r, const struct xlb_state *st,
		  struct xlb_reconcile_result *res)
{
	struct collect c = { 0 };
	int ret;

	memset(res, 0, sizeof(*res));
	c.d = malloc((xlb_state_count(st) + 1) * sizeof(*c.d));
	if (!c.d) {
		r->dirty = true;
		snprintf(res->first_error, sizeof(res->first_error), "out of memory");
		return -ENOMEM;
	}
	xlb_state_foreach(st, collect_cb, &c);	/* in name order */
	r->dirty = false;
	ret = run(r, c.d, c.n, NULL, 0, res);
	if (ret) {
		r->dirty = true;
		if (!res->first_error[0])
			snprintf(res->first_error, sizeof(res->first_error), "%s", strerror(-ret));
	}
	free(c.d);
	return ret;
}

/* The keys and desired services one names-reconcile touches, each once.
 * Bounded by the names: each brings at most its desired service and the
 * key it held, and each key at most the service holding it now. */
struct scope {
	const struct xlb_state *st;
	struct xlb_svc_ident *keys;
	const struct xlb_svc_desired **d;
	size_t nk, nd, cap;
	struct xlb_htab key_set, name_set;
};

static int scope_key(struct scope *sc, const struct xlb_svc_ident *k)
{
	if (xlb_htab_get(&sc->key_set, k, sizeof(*k)))
		return 0;
	if (sc->nk == sc->cap)
		return -EOVERFLOW;
	sc->keys[sc->nk] = *k;
	if (xlb_htab_put(&sc->key_set, &sc->keys[sc->nk], sizeof(*k), &sc->keys[sc->nk]))
		return -ENOMEM;
	sc->nk++;
	return 0;
}

static int scope_svc(struct scope *sc, const struct xlb_svc_desired *s)
{
	const char *name = s->spec.name;
	struct xlb_svc_ident k;

	if (xlb_htab_get(&sc->name_set, name, strlen(name)))
		return 0;
	if (sc->nd == sc->cap)
		return -EOVERFLOW;
	if (xlb_htab_put(&sc->name_set, name, strlen(name), (void *)s))
		return -ENOMEM;
	sc->d[sc->nd++] = s;
	xlb_svc_ident_of(&k, &s->spec);
	return scope_key(sc, &k);
}

static int by_name_cmp(const void *a, const void *b)
{
	const struct xlb_svc_desired *x = *(const struct xlb_svc_desired *const *)a;
	const struct xlb_svc_desired *y = *(const struct xlb_svc_desired *const *)b;

	return strcmp(x->spec.name, y->spec.name);
}

int xlb_reconcile_names(struct xlb_reconciler *r, const struct xlb_state *st,
			const char *const *names, size_t n, struct xlb_reconcile_result *res)
{
	struct scope sc = { .st = st, .cap = 2 * n + 1 };
	int ret = -ENOMEM;

	memset(res, 0, sizeof(*res));
	xlb_htab_init(&sc.key_set);
	xlb_htab_init(&sc.name_set);
	sc.keys = malloc(sc.cap * sizeof(*sc.keys));
	sc.d = malloc(sc.cap * sizeof(*sc.d));
	if (!sc.keys || !sc.d)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct xlb_svc_desired *s = xlb_state_get(st, names[i]);
		struct applied_svc *a = xlb_htab_get(&r->by_name, names[i], strlen(names[i]));

		if ((s && (ret = scope_svc(&sc, s))) || (a && (ret = scope_key(&sc, &a->key))))
			goto out;
	}
	/* Whoever holds a freed key now takes it over in place. */
	for (size_t i = 0, nk = sc.nk; i < nk; i++) {
		struct xlb_service_spec spec = { .port = sc.keys[i].port,
						 .proto = sc.keys[i].proto };
		const struct xlb_svc_desired *s;

		spec.vip.family = sc.keys[i].family;
		spec.vip.addr = sc.keys[i].addr;
		s = xlb_state_get_by_addr(st, &spec);
		if (s && (ret = scope_svc(&sc, s)))
			goto out;
	}
	qsort(sc.d, sc.nd, sizeof(*sc.d), by_name_cmp);	/* as xlb_reconcile orders */
	ret = run(r, sc.d, sc.nd, sc.keys, sc.nk, res);
out:
	if (ret) {
		r->dirty = true;
		if (!res->first_error[0])
			snprintf(res->first_error, sizeof(res->first_error), "%s", strerror(-ret));
	}
	free(sc.keys);
	free(sc.d);
	xlb_htab_fini(&sc.key_set);
	xlb_htab_fini(&sc.name_set);
	return ret;
}
