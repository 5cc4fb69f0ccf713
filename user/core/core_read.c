// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Reading the core: listings (copied under the lock, counters read after
 * it), status, backup, conntrack, explain, and the periodic upkeep. What
 * reads the dataplane alone needs no lock (dataplane.h says which calls).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "core_int.h"
#include "util/clock.h"
#include "dataplane/dataplane.h"

struct dp_copy {
	struct xlb_svc_ident key;
	struct xlb_service_spec spec;
	size_t n;
	struct xlb_backend_spec *be;
	uint32_t *id;
};

/* One service's listing, copied under the lock; backend counters are read
 * after it is let go. */
struct listed {
	struct xlb_service_status st;	/* st.svc.ep and st.eps owned */
	uint32_t *be_id;		/* per endpoint; 0: not in the datapath */
};

struct list_ctx {
	struct xlb_core *c;
	struct xlb_htab dp;	/* vkey -> dp_copy */
	struct dp_copy **all;
	size_t n_all;
	struct listed *out;
	size_t n_out;
};

static int dp_copy_cb(const struct xlb_dp_service *s, void *arg)
{
	struct list_ctx *l = arg;
	struct dp_copy *d = calloc(1, sizeof(*d)), **na;

	na = realloc(l->all, (l->n_all + 1) * sizeof(*na));
	if (!d || !na) {
		free(d);
		if (na)
			l->all = na;
		return -ENOMEM;
	}
	l->all = na;
	l->all[l->n_all++] = d;
	d->spec = s->spec;
	d->n = s->n_backends;
	d->be = malloc((d->n ? d->n : 1) * sizeof(*d->be));
	d->id = malloc((d->n ? d->n : 1) * sizeof(*d->id));
	if (!d->be || !d->id)
		return -ENOMEM;
	if (d->n) {
		memcpy(d->be, s->backends, d->n * sizeof(*d->be));
		memcpy(d->id, s->backend_ids, d->n * sizeof(*d->id));
	}
	xlb_svc_ident_of(&d->key, &s->spec);
	return xlb_htab_put(&l->dp, &d->key, sizeof(d->key), d);
}

static int list_copy(const struct xlb_svc_desired *s, void *arg)
{
	struct list_ctx *l = arg;
	struct listed *o = &l->out[l->n_out];
	struct xlb_service_status *st = &o->st;
	struct dp_copy *d;
	struct xlb_svc_ident k;
	size_t n = s->n_ep ? s->n_ep : 1;

	memset(o, 0, sizeof(*o));
	l->n_out++;
	/* a copy of its own: read after the lock is let go */
	if (xlb_svc_copy(&st->svc, s))
		return -ENOMEM;
	st->n_eps = s->n_ep;
	st->eps = calloc(n, sizeof(*st->eps));
	o->be_id = calloc(n, sizeof(*o->be_id));
	if (!st->eps || !o->be_id)
		return -ENOMEM;
	xlb_svc_ident_of(&k, &s->spec);
	d = xlb_htab_get(&l->dp, &k, sizeof(k));
	if (d) {
		struct xlb_counters cnt;

		if (!xlb_dp_service_stats(l->c->dp, &d->spec, &cnt)) {
			st->packets = cnt.packets;
			st->bytes = cnt.bytes;
			st->new_flows = cnt.new_flows;
		}
		xlb_dp_sock_service_stats(l->c->dp, &d->spec, &st->sock);
	}
	for (size_t i = 0; i < s->n_ep; i++) {
		struct xlb_endpoint_status *e = &st->eps[i];

		e->ep = s->ep[i];
		e->health = xlb_svc_hc_kind(s) == XLB_HC_NONE ? XLB_HEALTH_UNCHECKED : XLB_HEALTH_UNKNOWN;
		if (xlb_svc_hc_kind(s) != XLB_HC_NONE) {
			const struct xlb_ep_verdict *v =
				xlb_verdicts_get(&l->c->health, s->spec.name, &e->ep.addr, e->ep.port);

			if (v) {
				e->health = v->health;
				e->last_transition_ms = v->transition_ms;
			}
			if (l->c->hs)
				l->c->hs->report(l->c->hs_arg, s->spec.name, &s->ep[i], e);
		}
		for (size_t j = 0; d && j < d->n; j++) {
			if (d->be[j].port != s->ep[i].port ||
			    !xlb_ip_equal(&d->be[j].addr, &s->ep[i].addr))
				continue;
			e->in_datapath = xlb_backend_selectable(&d->be[j]);
			e->local = d->be[j].local;
			o->be_id[i] = d->id[j];
		}
	}
	st->panic = xlb_verdicts_panic(&l->c->health, s->spec.name);
	return 0;
}

/* The listing is copied under the lock (desired state, what the datapath
 * holds, service counters: the dataplane's index may not change under
 * them); the per-backend counters, a syscall each, and the callbacks come
 * after it is let go. */
int xlb_core_list(struct xlb_core *c, const char *name,
		  int (*cb)(const struct xlb_service_status *s, void *arg), void *arg)
{
	struct list_ctx l = { .c = c };
	int ret;

	xlb_htab_init(&l.dp);
	pthread_mutex_lock(&c->lock);
	ret = xlb_dp_service_list(c->dp, dp_copy_cb, &l);
	if (!ret) {
		const struct xlb_svc_desired *one = name && name[0] ? xlb_state_get(c->st, name) : NULL;
		size_t n = name && name[0] ? 1 : xlb_state_count(c->st);

		l.out = calloc(n ? n : 1, sizeof(*l.out));
		if (!l.out)
			ret = -ENOMEM;
		else if (name && name[0])
			ret = one ? list_copy(one, &l) : -ENOENT;
		else
			ret = xlb_state_foreach(c->st, list_copy, &l);
	}
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < l.n_out; i++) {
		struct listed *o = &l.out[i];

		for (size_t j = 0; !ret && j < o->st.n_eps; j++) {
			struct xlb_endpoint_status *e = &o->st.eps[j];
			struct xlb_counters cnt;

			if (o->be_id[j] && !xlb_dp_backend_stats(c->dp, o->be_id[j], &cnt)) {
				e->packets = cnt.packets;
				e->bytes = cnt.bytes;
				e->new_flows = cnt.new_flows;
			}
		}
		if (!ret)
			ret = cb(&o->st, arg);
		xlb_svc_free(&o->st.svc);
		free(o->st.eps);
		free(o->be_id);
	}
	free(l.out);
	for (size_t i = 0; i < l.n_all; i++) {
		free(l.all[i]->be);
		free(l.all[i]->id);
		free(l.all[i]);
	}
	free(l.all);
	xlb_htab_fini(&l.dp);
	return ret;
}

int xlb_core_status(struct xlb_core *c, struct xlb_core_status *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->lock);
	snprintf(out->dataplane, sizeof(out->dataplane), "%s", c->dp_name);
	snprintf(out->dataplane_reason, sizeof(out->dataplane_reason), "%s", c->dp_reason);
	snprintf(out->health_tcp_probe, sizeof(out->health_tcp_probe), "%s", c->tcp_probe);
	out->n_interfaces = c->n_ifaces;
	memcpy(out->interfaces, c->ifaces, sizeof(out->interfaces));
	out->services = (uint32_t)xlb_state_count(c->st);
	out->endpoints = (uint32_t)xlb_state_endpoint_count(c->st);
	out->version = xlb_state_version(c->st);
	out->started_ms = c->started_ms;
	out->lost_changes = c->lost_changes;
	out->nexthop_flushes = c->nexthop_flushes;
	snprintf(out->damage, sizeof(out->damage), "%s", c->damage);
	snprintf(out->node.name, sizeof(out->node.name), "%.127s", c->node_name);
	snprintf(out->node.zone, sizeof(out->node.zone), "%s", c->zone);
	memcpy(out->node.addrs, c->node_addrs, sizeof(out->node.addrs));
	out->node.n_addrs = c->n_node_addrs;
	snprintf(out->node_source, sizeof(out->node_source), "%s",
		 c->node_from_api ? "controller" : "flags");
	/* where the hooks are changes under the lock (attach, detach) */
	out->have_hooks = !xlb_dp_hooks(c->dp, &out->hooks);
	pthread_mutex_unlock(&c->lock);
	xlb_dp_global_stats(c->dp, out->counters);	/* dataplane.h: no lock needed */
	if (out->have_hooks) {
		xlb_dp_sock_stats(c->dp, out->sock_counters);
		xlb_dp_pod_stats(c->dp, out->pod_counters);
	}
	return 0;
}

int xlb_core_backup(struct xlb_core *c,
		    int (*cb)(const struct xlb_svc_desired *s, void *arg), void *arg,
		    uint64_t *version)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = xlb_state_foreach(c->st, cb, arg);
	if (version)
		*version = xlb_state_version(c->st);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

struct ct_limit {
	uint32_t left;
	int (*cb)(const struct xlb_ct_entry *e, void *arg);
	void *arg;
};

static int ct_cb(const struct xlb_ct_entry *e, void *arg)
{
	struct ct_limit *l = arg;
	int ret;

	if (!l->left)
		return 1;
	l->left--;
	ret = l->cb(e, l->arg);
	return ret;
}

int xlb_core_ct_list(struct xlb_core *c, uint32_t limit,
		     int (*cb)(const struct xlb_ct_entry *e, void *arg), void *arg)
{
	struct ct_limit l = { .left = limit ? limit : UINT32_MAX, .cb = cb, .arg = arg };
	int ret;

	/* Up to 262k entries: never under the lock (dataplane.h allows it). */
	ret = xlb_dp_ct_list(c->dp, ct_cb, &l);
	return ret == 1 ? 0 : ret;
}

int xlb_core_explain(struct xlb_core *c, const struct xlb_explain_req *q,
		     struct xlb_explain *out, char *err, size_t errlen)
{
	/* Map lookups only: no lock (dataplane.h). */
	return xlb_dp_explain(c->dp, q, out, err, errlen);
}

int xlb_core_ct_flush(struct xlb_core *c, uint32_t *removed)
{
	return xlb_dp_ct_flush(c->dp, removed);	/* no lock: dataplane.h */
}

int xlb_core_get(struct xlb_core *c, const char *name,
		 int (*cb)(const struct xlb_svc_desired *s, void *arg), void *arg)
{
	const struct xlb_svc_desired *s;
	int ret;

	pthread_mutex_lock(&c->lock);
	if (!name) {
		ret = xlb_state_foreach(c->st, cb, arg);
	} else {
		s = xlb_state_get(c->st, name);
		ret = s ? cb(s, arg) : -ENOENT;
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

void xlb_core_tick(struct xlb_core *c)
{
	uint32_t n = 0;

	/* A walk of up to 262k conntrack entries: without the lock, so that
	 * writes do not wait behind it (dataplane.h allows it). */
	xlb_dp_expire(c->dp, NULL, &n);
	if (n)
		pr_debug("dataplane upkeep: %u expired entries removed", n);
	core_resync(c);
}

void xlb_core_in_step(struct xlb_core *c, bool *in_step, int64_t *last_ms)
{
	pthread_mutex_lock(&c->lock);
	/* Holding an adopted datapath is in step with what it held. */
	*in_step = !c->rec.dirty || c->hold_reconcile;
	if (*in_step)
		c->in_step_ms = xlb_unix_ms();
	*last_ms = c->in_step_ms;
	pthread_mutex_unlock(&c->lock);
}

struct hc_walk {
	struct xlb_core *c;
	int (*cb)(const struct xlb_svc_desired *s, const struct xlb_ip *addrs, size_t n,
		  void *arg);
	void *arg;
	struct xlb_ip addrs[XLB_MAX_ENDPOINTS];
};

static int hc_walk_cb(const struct xlb_svc_desired *s, void *arg)
{
	struct hc_walk *w = arg;
	size_t n;

	if (!s->spec.health_check_node_port)
		return 0;
	n = xlb_svc_local_ready(s, &w->c->health, w->c->node_name, w->addrs, 0,
				XLB_MAX_ENDPOINTS);
	return w->cb(s, w->addrs, n, w->arg);
}

int xlb_core_hc_ports(struct xlb_core *c,
		      int (*cb)(const struct xlb_svc_desired *s, const struct xlb_ip *addrs,
				size_t n, void *arg),
		      void *arg)
{
	struct hc_walk *w = malloc(sizeof(*w));
	int ret;

	if (!w)
		return -ENOMEM;
	w->c = c;
	w->cb = cb;
	w->arg = arg;
	pthread_mutex_lock(&c->lock);
	ret = xlb_state_foreach(c->st, hc_walk_cb, w);
	pthread_mutex_unlock(&c->lock);
	free(w);
	return ret;
}

/* Without the lock, as the tick (dataplane.h allows it). */
int xlb_core_upkeep_fd(struct xlb_core *c)
{
	return xlb_dp_upkeep_fd(c->dp);
}

void xlb_core_upkeep(struct xlb_core *c)
{
	xlb_dp_upkeep(c->dp);
}
