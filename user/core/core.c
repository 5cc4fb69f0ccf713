// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The daemon core: one lock around the desired state, the reconciler and
 * the dataplane. A write is validated, applied to the datapath, persisted,
 * and only then acknowledged; if the datapath refuses it, the datapath is
 * brought back to the previous state and the caller gets the error.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "core_priv.h"
#include "reconcile/reconcile.h"
#include "api/statefile.h"

#define ERR(...) do { if (err) snprintf(err, errlen, __VA_ARGS__); } while (0)
#define MAX_SUBS 64

struct sub {
	int id;
	xlb_event_fn fn;
	void *arg;
};

struct evq {
	struct xlb_event *ev;
	size_t n, cap;
};

struct xlb_core {
	pthread_mutex_t lock;
	struct xlb_state *st;
	struct xlb_dp *dp;
	struct xlb_reconciler rec;
	bool hold_reconcile;	/* no trusted state yet: keep the adopted datapath */
	char state_path[PATH_MAX];
	char dp_name[16];
	char dp_reason[256];
	char ifaces[64][16];
	size_t n_ifaces;
	int64_t started_ms;

	pthread_mutex_t sub_lock;
	struct sub subs[MAX_SUBS];
	int next_sub;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void evq_add(struct evq *q, enum xlb_event_kind kind, uint64_t version,
		    const char *svc, const char *detail)
{
	struct xlb_event *e;

	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		struct xlb_event *n = realloc(q->ev, cap * sizeof(*n));

		if (!n)
			return;
		q->ev = n;
		q->cap = cap;
	}
	e = &q->ev[q->n++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->version = version;
	e->unix_ms = now_ms();
	snprintf(e->service, sizeof(e->service), "%s", svc ? svc : "");
	snprintf(e->detail, sizeof(e->detail), "%s", detail ? detail : "");
}

/* Deliver without the core lock held: a subscriber may call back in. */
static void evq_flush(struct xlb_core *c, struct evq *q)
{
	struct sub subs[MAX_SUBS];
	size_t n = 0;

	pthread_mutex_lock(&c->sub_lock);
	for (int i = 0; i < MAX_SUBS; i++)
		if (c->subs[i].fn)
			subs[n++] = c->subs[i];
	pthread_mutex_unlock(&c->sub_lock);
	for (size_t i = 0; i < q->n; i++)
		for (size_t j = 0; j < n; j++)
			subs[j].fn(&q->ev[i], subs[j].arg);
	free(q->ev);
	memset(q, 0, sizeof(*q));
}

static int persist(struct xlb_core *c, const struct xlb_state *st)
{
	int ret;

	if (!c->state_path[0])
		return 0;
	ret = xlb_statefile_save(c->state_path, st);
	if (ret)
		pr_err("write state file %s: %s", c->state_path, strerror(-ret));
	return ret;
}

/* Make `next` the state: datapath first, then the file. On a datapath
 * error the previous state is re-applied and `next` freed. Lock held. */
static int commit(struct xlb_core *c, struct xlb_state *next, char *err, size_t errlen)
{
	struct xlb_reconcile_result res;
	int ret;

	ret = xlb_reconcile(&c->rec, next, &res);
	if (ret) {
		struct xlb_reconcile_result undo;

		ERR("datapath: %s", res.first_error);
		xlb_reconcile(&c->rec, c->st, &undo);
		xlb_state_free(next);
		return ret;
	}
	c->hold_reconcile = false;
	persist(c, next);
	xlb_state_free(c->st);
	c->st = next;
	pr_debug("reconcile: %u created, %u updated, %u deleted, %u unchanged",
		 res.created, res.updated, res.deleted, res.unchanged);
	return 0;
}

static int diff_events(struct evq *q, const struct xlb_state *old, const struct xlb_state *new);

int xlb_core_apply(struct xlb_core *c, bool snapshot,
		   const struct xlb_svc_desired *up, size_t n_up,
		   const char *const *del, size_t n_del, uint64_t *version,
		   char *err, size_t errlen)
{
	struct xlb_state *next;
	struct evq q = {};
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	next = xlb_state_clone(c->st);
	if (!next) {
		ret = -ENOMEM;
		goto out;
	}
	if (snapshot)
		xlb_state_clear(next);
	for (size_t i = 0; i < n_up && !ret; i++)
		ret = xlb_state_upsert(next, &up[i], err, errlen);
	for (size_t i = 0; i < n_del && !ret; i++)
		ret = xlb_state_delete(next, del[i], err, errlen);
	if (ret) {
		xlb_state_free(next);
		goto out;
	}
	xlb_state_set_version(next, xlb_state_version(c->st) + 1);
	diff_events(&q, c->st, next);
	ret = commit(c, next, err, errlen);
	if (ret) {
		free(q.ev);
		memset(&q, 0, sizeof(q));
	}
	if (version)
		*version = xlb_state_version(c->st);
out:
	pthread_mutex_unlock(&c->lock);
	evq_flush(c, &q);
	return ret;
}

int xlb_core_upsert(struct xlb_core *c, const struct xlb_svc_desired *s,
		    uint64_t *version, char *err, size_t errlen)
{
	return xlb_core_apply(c, false, s, 1, NULL, 0, version, err, errlen);
}

int xlb_core_delete(struct xlb_core *c, const char *name, uint64_t *version,
		    char *err, size_t errlen)
{
	const char *del[1] = { name };

	return xlb_core_apply(c, false, NULL, 0, del, 1, version, err, errlen);
}

int xlb_core_set_endpoints(struct xlb_core *c, const char *name,
			   const struct xlb_endpoint *ep, size_t n, uint64_t *version,
			   char *err, size_t errlen)
{
	const struct xlb_svc_desired *cur;
	struct xlb_svc_desired s;

	pthread_mutex_lock(&c->lock);
	cur = xlb_state_get(c->st, name);
	if (!cur) {
		pthread_mutex_unlock(&c->lock);
		ERR("service %s: not found", name);
		return -ENOENT;
	}
	s = *cur;	/* spec and health check; endpoints replaced below */
	pthread_mutex_unlock(&c->lock);
	s.ep = (struct xlb_endpoint *)ep;
	s.n_ep = n;
	/* The lock was dropped: a concurrent delete makes this an upsert of
	 * the old spec, which is what a controller racing itself deserves. */
	return xlb_core_apply(c, false, &s, 1, NULL, 0, version, err, errlen);
}

struct diff_ctx {
	struct evq *q;
	const struct xlb_state *other;
	uint64_t version;
	bool deleted_pass;
};

static int diff_cb(const struct xlb_svc_desired *s, void *arg)
{
	struct diff_ctx *d = arg;
	const struct xlb_svc_desired *o = xlb_state_get(d->other, s->spec.name);

	if (d->deleted_pass) {
		if (!o)
			evq_add(d->q, XLB_EV_SERVICE_DELETE, d->version, s->spec.name, NULL);
	} else if (!o || !xlb_svc_equal(s, o)) {
		char detail[64];

		snprintf(detail, sizeof(detail), "%zu endpoints", s->n_ep);
		evq_add(d->q, XLB_EV_SERVICE_UPSERT, d->version, s->spec.name, detail);
	}
	return 0;
}

static int diff_events(struct evq *q, const struct xlb_state *old, const struct xlb_state *new)
{
	struct diff_ctx d = { .q = q, .other = old, .version = xlb_state_version(new) };

	xlb_state_foreach(new, diff_cb, &d);
	d.other = new;
	d.deleted_pass = true;
	xlb_state_foreach(old, diff_cb, &d);
	return 0;
}

/* ---- reading ---- */

struct dp_copy {
	struct xlb_service_spec spec;
	size_t n;
	struct xlb_backend_spec *be;
	uint32_t *id;
};

struct vkey {
	struct xlb_addr addr;
	uint32_t port;
	uint8_t proto;
	uint8_t pad[3];
};

struct list_ctx {
	struct xlb_core *c;
	struct xlb_htab dp;	/* vkey -> dp_copy */
	struct dp_copy **all;
	size_t n_all;
	int (*cb)(const struct xlb_service_status *s, void *arg);
	void *arg;
};

static void vkey_of(struct vkey *k, const struct xlb_service_spec *s)
{
	memset(k, 0, sizeof(*k));
	k->addr = s->vip.addr;
	k->port = s->port;
	k->proto = s->proto;
}

static int dp_copy_cb(const struct xlb_dp_service *s, void *arg)
{
	struct list_ctx *l = arg;
	struct dp_copy *d = calloc(1, sizeof(*d)), **na;
	struct vkey *k;

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
	k = (struct vkey *)&d->spec.name;	/* reuse the name buffer as the key */
	vkey_of(k, &s->spec);
	return xlb_htab_put(&l->dp, k, sizeof(*k), d);
}

static int list_one(const struct xlb_svc_desired *s, void *arg)
{
	struct list_ctx *l = arg;
	struct xlb_service_status st = { .svc = *s };
	struct dp_copy *d;
	struct vkey k;
	int ret;

	vkey_of(&k, &s->spec);
	d = xlb_htab_get(&l->dp, &k, sizeof(k));
	st.n_eps = s->n_ep;
	st.eps = calloc(s->n_ep ? s->n_ep : 1, sizeof(*st.eps));
	if (!st.eps)
		return -ENOMEM;
	if (d) {
		struct xlb_counters cnt;

		if (!xlb_dp_service_stats(l->c->dp, &d->spec, &cnt)) {
			st.packets = cnt.packets;
			st.bytes = cnt.bytes;
			st.new_flows = cnt.new_flows;
		}
	}
	for (size_t i = 0; i < s->n_ep; i++) {
		struct xlb_endpoint_status *e = &st.eps[i];

		e->ep = s->ep[i];
		e->health = s->hc.kind == XLB_HC_NONE ? XLB_HEALTH_UNCHECKED : XLB_HEALTH_UNKNOWN;
		for (size_t j = 0; d && j < d->n; j++) {
			struct xlb_counters cnt;

			if (d->be[j].port != s->ep[i].port ||
			    !xlb_ip_equal(&d->be[j].addr, &s->ep[i].addr))
				continue;
			e->in_datapath = xlb_backend_selectable(&d->be[j]);
			if (!xlb_dp_backend_stats(l->c->dp, d->id[j], &cnt)) {
				e->packets = cnt.packets;
				e->bytes = cnt.bytes;
				e->new_flows = cnt.new_flows;
			}
		}
	}
	ret = l->cb(&st, l->arg);
	free(st.eps);
	return ret;
}

int xlb_core_list(struct xlb_core *c, const char *name,
		  int (*cb)(const struct xlb_service_status *s, void *arg), void *arg)
{
	struct list_ctx l = { .c = c, .cb = cb, .arg = arg };
	int ret;

	xlb_htab_init(&l.dp);
	pthread_mutex_lock(&c->lock);
	ret = xlb_dp_service_list(c->dp, dp_copy_cb, &l);
	if (!ret) {
		if (name && name[0]) {
			const struct xlb_svc_desired *s = xlb_state_get(c->st, name);

			ret = s ? list_one(s, &l) : -ENOENT;
		} else {
			ret = xlb_state_foreach(c->st, list_one, &l);
		}
	}
	pthread_mutex_unlock(&c->lock);
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
	out->n_interfaces = c->n_ifaces;
	memcpy(out->interfaces, c->ifaces, sizeof(out->interfaces));
	out->services = (uint32_t)xlb_state_count(c->st);
	out->endpoints = (uint32_t)xlb_state_endpoint_count(c->st);
	out->version = xlb_state_version(c->st);
	out->started_ms = c->started_ms;
	xlb_dp_global_stats(c->dp, out->counters);
	pthread_mutex_unlock(&c->lock);
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

	pthread_mutex_lock(&c->lock);
	ret = xlb_dp_ct_list(c->dp, ct_cb, &l);
	pthread_mutex_unlock(&c->lock);
	return ret == 1 ? 0 : ret;
}

static int count_cb(const struct xlb_ct_entry *e, void *arg)
{
	(*(uint32_t *)arg)++;
	return 0;
}

int xlb_core_ct_flush(struct xlb_core *c, uint32_t *removed)
{
	uint32_t n = 0;
	int ret;

	pthread_mutex_lock(&c->lock);
	xlb_dp_ct_list(c->dp, count_cb, &n);
	ret = xlb_dp_ct_flush(c->dp);
	pthread_mutex_unlock(&c->lock);
	if (removed)
		*removed = n;
	return ret;
}

int xlb_core_subscribe(struct xlb_core *c, xlb_event_fn fn, void *arg)
{
	int id = -ENOSPC;

	pthread_mutex_lock(&c->sub_lock);
	for (int i = 0; i < MAX_SUBS; i++) {
		if (c->subs[i].fn)
			continue;
		id = ++c->next_sub;
		c->subs[i] = (struct sub){ .id = id, .fn = fn, .arg = arg };
		break;
	}
	pthread_mutex_unlock(&c->sub_lock);
	return id;
}

void xlb_core_unsubscribe(struct xlb_core *c, int id)
{
	pthread_mutex_lock(&c->sub_lock);
	for (int i = 0; i < MAX_SUBS; i++)
		if (c->subs[i].id == id && c->subs[i].fn)
			memset(&c->subs[i], 0, sizeof(c->subs[i]));
	pthread_mutex_unlock(&c->sub_lock);
}

void xlb_core_set_interfaces(struct xlb_core *c, const char *const *names, size_t n)
{
	pthread_mutex_lock(&c->lock);
	c->n_ifaces = 0;
	for (size_t i = 0; i < n && i < 64; i++)
		snprintf(c->ifaces[c->n_ifaces++], sizeof(c->ifaces[0]), "%s", names[i]);
	pthread_mutex_unlock(&c->lock);
}

void xlb_core_tick(struct xlb_core *c)
{
	uint32_t n = 0;

	pthread_mutex_lock(&c->lock);
	xlb_dp_ct_gc(c->dp, NULL, &n);
	pthread_mutex_unlock(&c->lock);
	if (n)
		pr_debug("conntrack gc: %u expired entries removed", n);
}

static void set_aside(const char *path)
{
	char aside[PATH_MAX + 32];

	snprintf(aside, sizeof(aside), "%s.corrupt-%lld", path, (long long)time(NULL));
	if (rename(path, aside))
		pr_err("set aside %s: %s", path, strerror(errno));
	else
		pr_err("state file %s set aside as %s", path, aside);
}

int xlb_core_new(const struct xlb_core_opts *o, struct xlb_core **out, char *err, size_t errlen)
{
	struct xlb_core *c = calloc(1, sizeof(*c));
	struct xlb_state *loaded = NULL;
	char lerr[256] = "";
	int ret;

	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->sub_lock, NULL);
	c->dp = o->dp;
	c->started_ms = now_ms();
	snprintf(c->dp_name, sizeof(c->dp_name), "%s", o->dp_name ? o->dp_name : "xdp");
	snprintf(c->dp_reason, sizeof(c->dp_reason), "%s", o->dp_reason ? o->dp_reason : "");
	ret = xlb_reconciler_init(&c->rec, c->dp);
	if (ret) {
		ERR("read the datapath's services: %s", strerror(-ret));
		goto fail;
	}

	if (o->state_dir && o->state_dir[0]) {
		if (mkdir(o->state_dir, 0700) && errno != EEXIST) {
			ret = -errno;
			ERR("create state dir %s: %s", o->state_dir, strerror(errno));
			goto fail;
		}
		snprintf(c->state_path, sizeof(c->state_path), "%s/state.pb", o->state_dir);
		ret = xlb_statefile_load(c->state_path, &loaded, lerr, sizeof(lerr));
		if (ret == -EBADMSG) {
			pr_err("state file %s: %s", c->state_path, lerr);
			set_aside(c->state_path);
		} else if (ret && ret != -ENOENT) {
			pr_err("read state file %s: %s", c->state_path, lerr[0] ? lerr : strerror(-ret));
		}
	}
	if (loaded) {
		c->st = loaded;
		pr_info("state: %zu services, %zu endpoints (version %llu) from %s",
			xlb_state_count(loaded), xlb_state_endpoint_count(loaded),
			(unsigned long long)xlb_state_version(loaded), c->state_path);
		{
			struct xlb_reconcile_result res;

			ret = xlb_reconcile(&c->rec, c->st, &res);
			pr_info("reconcile on start: %u created, %u updated, %u deleted, %u unchanged%s%s",
				res.created, res.updated, res.deleted, res.unchanged,
				ret ? ", error: " : "", ret ? res.first_error : "");
		}
	} else {
		c->st = xlb_state_new();
		if (!c->st) {
			ret = -ENOMEM;
			goto fail;
		}
		/* No trusted desired state: keep serving what the datapath holds
		 * until a controller speaks, rather than wipe it. */
		c->hold_reconcile = c->rec.applied.used > 0;
		if (c->hold_reconcile)
			pr_warn("no state file: keeping the %zu services found in the datapath until the first update",
				c->rec.applied.used);
	}
	*out = c;
	return 0;
fail:
	xlb_core_free(c);
	return ret;
}

void xlb_core_free(struct xlb_core *c)
{
	if (!c)
		return;
	xlb_reconciler_fini(&c->rec);
	xlb_state_free(c->st);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->sub_lock);
	free(c);
}
