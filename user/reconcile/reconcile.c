// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "reconcile.h"

struct vkey {
	struct xlb_addr addr;
	uint32_t port;
	uint8_t proto;
	uint8_t family;
	uint8_t pad[2];
};

struct applied_svc {
	struct vkey key;
	struct xlb_service_spec spec;	/* name ignored in comparisons */
	size_t n;
	struct xlb_backend_spec *be;	/* canonical order */
	bool seen;			/* desired in this pass */
};

static void vkey_of(struct vkey *k, const struct xlb_service_spec *s)
{
	memset(k, 0, sizeof(*k));
	k->addr = s->vip.addr;
	k->port = s->port;
	k->proto = s->proto;
	k->family = s->vip.family;
}

static int be_cmp(const void *a, const void *b)
{
	const struct xlb_backend_spec *x = a, *y = b;
	int c = memcmp(&x->addr, &y->addr, sizeof(x->addr));

	if (c)
		return c;
	return (x->port > y->port) - (x->port < y->port);
}

static bool spec_same(const struct xlb_service_spec *a, const struct xlb_service_spec *b)
{
	return a->type == b->type && xlb_ip_equal(&a->vip, &b->vip) && a->port == b->port &&
	       a->node_port == b->node_port && a->proto == b->proto && a->algo == b->algo &&
	       a->affinity_timeout == b->affinity_timeout;
}

static bool be_same(const struct xlb_backend_spec *a, const struct xlb_backend_spec *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (be_cmp(&a[i], &b[i]) || a[i].weight != b[i].weight ||
		    a[i].terminating != b[i].terminating)
			return false;
	return true;
}

static void applied_free(struct applied_svc *a)
{
	if (a) {
		free(a->be);
		free(a);
	}
}

static int applied_store(struct xlb_reconciler *r, const struct xlb_service_spec *spec,
			 const struct xlb_backend_spec *be, size_t n)
{
	struct applied_svc *a = calloc(1, sizeof(*a)), *old;

	if (!a)
		return -ENOMEM;
	a->spec = *spec;
	a->seen = true;		/* stored now: desired in this pass */
	vkey_of(&a->key, spec);
	a->n = n;
	a->be = malloc((n ? n : 1) * sizeof(*be));
	if (!a->be) {
		free(a);
		return -ENOMEM;
	}
	if (n)
		memcpy(a->be, be, n * sizeof(*be));
	old = xlb_htab_del(&r->applied, &a->key, sizeof(a->key));
	applied_free(old);
	if (xlb_htab_put(&r->applied, &a->key, sizeof(a->key), a)) {
		applied_free(a);
		return -ENOMEM;
	}
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
	ret = applied_store(r, &s->spec, be, s->n_backends);
	free(be);
	return ret;
}

int xlb_reconciler_init(struct xlb_reconciler *r, struct xlb_dp *dp)
{
	memset(r, 0, sizeof(*r));
	r->dp = dp;
	xlb_htab_init(&r->applied);
	return xlb_dp_service_list(dp, seed_cb, r);
}

void xlb_reconciler_fini(struct xlb_reconciler *r)
{
	size_t pos = 0;
	struct applied_svc *a;

	while ((a = xlb_htab_next(&r->applied, &pos)))
		applied_free(a);
	xlb_htab_fini(&r->applied);
}

struct pass {
	struct xlb_reconciler *r;
	struct xlb_reconcile_result *res;
	struct xlb_backend_spec *buf;
	int phase;		/* 0: mark + updates, 1: creations */
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

static int apply_cb(const struct xlb_svc_desired *s, void *arg)
{
	struct pass *p = arg;
	struct xlb_reconciler *r = p->r;
	struct applied_svc *a;
	struct vkey k;
	char err[256] = "";
	size_t n;
	int ret;

	vkey_of(&k, &s->spec);
	a = xlb_htab_get(&r->applied, &k, sizeof(k));
	if (p->phase == 0) {
		if (a)
			a->seen = true;
		if (!a)
			return 0;	/* created in phase 1 */
	} else if (a) {
		return 0;
	}
	n = xlb_svc_backends(s, r->healthy, r->healthy_arg, p->buf);
	qsort(p->buf, n, sizeof(*p->buf), be_cmp);
	if (a && spec_same(&a->spec, &s->spec) && a->n == n && be_same(a->be, p->buf, n)) {
		p->res->unchanged++;
		return 0;
	}
	ret = xlb_dp_service_set(r->dp, &s->spec, p->buf, n, err, sizeof(err));
	if (ret) {
		note_err(p, ret, err[0] ? err : strerror(-ret));
		return 0;
	}
	if (a)
		p->res->updated++;
	else
		p->res->created++;
	ret = applied_store(r, &s->spec, p->buf, n);
	if (ret)
		note_err(p, ret, "out of memory");
	return 0;
}

int xlb_reconcile(struct xlb_reconciler *r, const struct xlb_state *st,
		  struct xlb_reconcile_result *res)
{
	struct pass p = { .r = r, .res = res };
	struct applied_svc *a, **stale = NULL;
	size_t pos = 0, n_stale = 0;

	memset(res, 0, sizeof(*res));
	p.buf = malloc(XLB_MAX_ENDPOINTS * sizeof(*p.buf));
	stale = malloc((r->applied.used + 1) * sizeof(*stale));
	if (!p.buf || !stale) {
		free(p.buf);
		free(stale);
		return -ENOMEM;
	}
	while ((a = xlb_htab_next(&r->applied, &pos)))
		a->seen = false;

	/* Mark what stays (and update it), then delete the rest, then create:
	 * a node port moving from one service to another is freed first. */
	p.phase = 0;
	xlb_state_foreach(st, apply_cb, &p);
	pos = 0;
	while ((a = xlb_htab_next(&r->applied, &pos)))
		if (!a->seen)
			stale[n_stale++] = a;
	for (size_t i = 0; i < n_stale; i++) {
		char err[256] = "";
		int ret = xlb_dp_service_delete(r->dp, &stale[i]->spec, err, sizeof(err));

		if (ret && ret != -ENOENT) {
			note_err(&p, ret, err[0] ? err : strerror(-ret));
			continue;
		}
		xlb_htab_del(&r->applied, &stale[i]->key, sizeof(stale[i]->key));
		applied_free(stale[i]);
		res->deleted++;
	}
	p.phase = 1;
	xlb_state_foreach(st, apply_cb, &p);
	if (p.err) {
		/* An update can wait on another's (a node port changing hands
		 * between two kept services): one more pass settles it. */
		p.err = 0;
		res->failed = 0;
		res->first_error[0] = 0;
		p.phase = 0;
		xlb_state_foreach(st, apply_cb, &p);
		p.phase = 1;
		xlb_state_foreach(st, apply_cb, &p);
	}
	free(p.buf);
	free(stale);
	return p.err;
}
