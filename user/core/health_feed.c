// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"
#include "health_feed.h"
#include "core_priv.h"
#include "health/health.h"
#include "util/htab.h"

struct xlb_health_feed {
	struct xlb_core *core;
	bool half_open;			/* TCP probes: fixed at start */
	pthread_mutex_t lock;		/* engine, targets */
	struct xlb_health *engine;
	int epfd, evfd;
	int sub;
	atomic_bool dirty;		/* everything: re-read the whole state */
	pthread_mutex_t dirty_lock;
	char (*dirty_names)[128];	/* services changed since the last dispatch */
	size_t n_dirty, cap_dirty;

	struct xlb_health_target *targets;	/* a service's are adjacent */
	size_t n_targets;

	/* Transitions seen during a dispatch, fed to the core after it. */
	struct pending {
		char service[128];
		struct xlb_ep_verdict_in v;
	} *pend;
	size_t n_pend, cap_pend;
};

static enum xlb_ep_health health_of(enum xlb_health_verdict v)
{
	return v == XLB_HV_HEALTHY ? XLB_HEALTH_HEALTHY :
	       v == XLB_HV_UNHEALTHY ? XLB_HEALTH_UNHEALTHY : XLB_HEALTH_UNKNOWN;
}

/* The engine's callback, on a verdict's transition (feed lock held, in
 * xlb_health_dispatch): noted, fed to the core once the dispatch is done. */
static void on_change(void *arg, const struct xlb_health_target *t, enum xlb_health_verdict old,
		      enum xlb_health_verdict now, const char *why)
{
	struct xlb_health_feed *w = arg;
	struct xlb_health_report r;
	struct pending *p;

	if (w->n_pend == w->cap_pend) {
		size_t cap = w->cap_pend ? w->cap_pend * 2 : 16;
		struct pending *n = realloc(w->pend, cap * sizeof(*n));

		if (!n) {
			atomic_store(&w->dirty, true);	/* resynced whole at the next dispatch */
			return;
		}
		w->pend = n;
		w->cap_pend = cap;
	}
	p = &w->pend[w->n_pend++];
	memset(p, 0, sizeof(*p));
	snprintf(p->service, sizeof(p->service), "%s", t->service);
	p->v.addr = t->addr;
	p->v.port = t->port;
	p->v.health = health_of(now);
	if (!xlb_health_get(w->engine, t->service, &t->addr, t->port, &r))
		p->v.transition_ms = r.last_transition_ms;
	snprintf(p->v.why, sizeof(p->v.why), "%s -> %s: %s", xlb_health_verdict_name(old),
		 xlb_health_verdict_name(now), why ? why : "");
}

/* ---- what a listing shows (core lock held; never call the core) ---- */

static void src_report(void *arg, const char *service, const struct xlb_endpoint *ep,
		       struct xlb_endpoint_status *st)
{
	struct xlb_health_feed *w = arg;
	struct xlb_health_report r;

	pthread_mutex_lock(&w->lock);
	if (!xlb_health_get(w->engine, service, &ep->addr, ep->port, &r)) {
		snprintf(st->last_result, sizeof(st->last_result), "%s", r.last_result);
		st->last_latency_us = r.last_latency_us;
	}
	pthread_mutex_unlock(&w->lock);
}

/* ---- targets follow the desired state ---- */

static void on_event(const struct xlb_event *ev, void *arg)
{
	struct xlb_health_feed *w = arg;
	uint64_t one = 1;

	if (ev->kind != XLB_EV_SERVICE_UPSERT && ev->kind != XLB_EV_SERVICE_DELETE)
		return;
	/* Remember the name; the loop thread looks at just that service. */
	pthread_mutex_lock(&w->dirty_lock);
	if (w->n_dirty == w->cap_dirty) {
		size_t cap = w->cap_dirty ? w->cap_dirty * 2 : 64;
		char (*n)[128] = cap > 65536 ? NULL : realloc(w->dirty_names, cap * sizeof(*n));

		if (n) {
			w->dirty_names = n;
			w->cap_dirty = cap;
		}
	}
	if (w->n_dirty < w->cap_dirty)
		snprintf(w->dirty_names[w->n_dirty++], sizeof(w->dirty_names[0]), "%s", ev->service);
	else
		atomic_store(&w->dirty, true);	/* too many: re-read everything */
	pthread_mutex_unlock(&w->dirty_lock);
	if (write(w->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_debug("health: wake: %s", strerror(errno));
}

struct collect {
	struct xlb_health_target *t;
	size_t n, cap;
	int err;
};

static int collect_cb(const struct xlb_svc_desired *s, void *arg)
{
	struct collect *c = arg;

	if (!s->hc)
		return 0;
	for (size_t i = 0; i < s->n_ep; i++) {
		struct xlb_health_target *t;

		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 64;
			struct xlb_health_target *n = realloc(c->t, cap * sizeof(*n));

			if (!n) {
				c->err = -ENOMEM;
				return -ENOMEM;
			}
			c->t = n;
			c->cap = cap;
		}
		t = &c->t[c->n++];
		memset(t, 0, sizeof(*t));
		snprintf(t->service, sizeof(t->service), "%s", s->spec.name);
		t->addr = s->ep[i].addr;
		t->port = s->ep[i].port;
		t->spec = *s->hc;
	}
	return 0;
}

/* One service's verdicts as the engine has them now, for the core (its
 * targets t[0..n), feed lock held). NULL when out of memory. */
static struct xlb_ep_verdict_in *verdicts_of(struct xlb_health_feed *w,
					     const struct xlb_health_target *t, size_t n)
{
	struct xlb_ep_verdict_in *v = calloc(n ? n : 1, sizeof(*v));

	for (size_t i = 0; v && i < n; i++) {
		struct xlb_health_report r;

		v[i].addr = t[i].addr;
		v[i].port = t[i].port;
		v[i].health = XLB_HEALTH_UNKNOWN;
		if (!xlb_health_get(w->engine, t[i].service, &t[i].addr, t[i].port, &r)) {
			v[i].health = health_of(r.verdict);
			v[i].transition_ms = r.last_transition_ms;
		}
	}
	return v;
}

/* What the core is told after targets changed: each named service's
 * verdicts, whole (a new target starts UNKNOWN in the engine, a removed
 * one is forgotten). */
struct sync {
	char name[128];
	struct xlb_ep_verdict_in *v;
	size_t n;
};

/* The sync of service name from w->targets (feed lock held). */
static int sync_add(struct xlb_health_feed *w, struct sync **out, size_t *n_out, const char *name)
{
	struct sync *ns = realloc(*out, (*n_out + 1) * sizeof(*ns)), *y;
	size_t from = 0, n = 0;

	if (!ns)
		return -ENOMEM;
	*out = ns;
	while (from < w->n_targets && strcmp(w->targets[from].service, name))
		from++;
	while (from + n < w->n_targets && !strcmp(w->targets[from + n].service, name))
		n++;
	y = &ns[*n_out];
	snprintf(y->name, sizeof(y->name), "%s", name);
	y->n = n;
	y->v = verdicts_of(w, w->targets + from, n);
	if (!y->v)
		return -ENOMEM;
	(*n_out)++;
	return 0;
}

/* Feed lock not held: the core calls src_report with its lock held. */
static void sync_send(struct xlb_health_feed *w, struct sync *y, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		xlb_core_health_update(w->core, y[i].name, y[i].v, y[i].n, true);
		free(y[i].v);
	}
	free(y);
}

static bool probed_in(const struct xlb_health_target *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(t[i].service, name))
			return true;
	return false;
}

static void refresh_targets(struct xlb_health_feed *w)
{
	struct collect c = {};
	struct xlb_health_target *old;
	struct sync *y = NULL;
	size_t n_y = 0, n_old;
	int ret;

	/* Read the desired state first (core lock), then take ours. */
	xlb_core_get(w->core, NULL, collect_cb, &c);
	if (c.err) {
		free(c.t);
		pr_err("health: collecting targets: %s", strerror(-c.err));
		return;
	}
	pthread_mutex_lock(&w->lock);
	ret = xlb_health_set_targets(w->engine, c.t, c.n);
	if (ret) {
		pthread_mutex_unlock(&w->lock);
		pr_err("health: setting %zu targets: %s", c.n, strerror(-ret));
		free(c.t);
		return;
	}
	old = w->targets;
	n_old = w->n_targets;
	w->targets = c.t;
	w->n_targets = c.n;
	/* Each probed service once (its targets are adjacent), then those no
	 * longer probed. */
	for (size_t i = 0; i < c.n && !ret; i++)
		if (!i || strcmp(c.t[i].service, c.t[i - 1].service))
			ret = sync_add(w, &y, &n_y, c.t[i].service);
	for (size_t i = 0; i < n_old && !ret; i++)
		if ((!i || strcmp(old[i].service, old[i - 1].service)) &&
		    !probed_in(c.t, c.n, old[i].service))
			ret = sync_add(w, &y, &n_y, old[i].service);
	if (ret)
		atomic_store(&w->dirty, true);	/* out of memory: again next time */
	pthread_mutex_unlock(&w->lock);
	free(old);
	sync_send(w, y, n_y);
	pr_debug("health: %zu targets", c.n);
}

/* One service changed: replace its targets only. A service that is not
 * probed now and was not before costs a lookup, nothing more. */
static void refresh_one(struct xlb_health_feed *w, const char *name)
{
	struct collect c = {};
	struct xlb_health_target *all;
	struct sync *y = NULL;
	size_t n = 0, n_y = 0;
	int ret;

	ret = xlb_core_get(w->core, name, collect_cb, &c);
	if (ret && ret != -ENOENT) {
		free(c.t);
		return;
	}
	pthread_mutex_lock(&w->lock);
	if (!c.n && !probed_in(w->targets, w->n_targets, name)) {
		pthread_mutex_unlock(&w->lock);
		free(c.t);
		return;
	}
	all = malloc((w->n_targets + c.n + 1) * sizeof(*all));
	if (!all) {
		pthread_mutex_unlock(&w->lock);
		free(c.t);
		atomic_store(&w->dirty, true);
		return;
	}
	for (size_t i = 0; i < w->n_targets; i++)
		if (strcmp(w->targets[i].service, name))
			all[n++] = w->targets[i];
	if (c.n)	/* c.t is NULL without targets: memcpy must not see it */
		memcpy(all + n, c.t, c.n * sizeof(*all));
	n += c.n;
	free(c.t);
	ret = xlb_health_set_targets(w->engine, all, n);
	if (ret) {
		pthread_mutex_unlock(&w->lock);
		pr_err("health: service %s: setting targets: %s", name, strerror(-ret));
		free(all);
		return;
	}
	free(w->targets);
	w->targets = all;
	w->n_targets = n;
	if (sync_add(w, &y, &n_y, name))
		atomic_store(&w->dirty, true);
	pthread_mutex_unlock(&w->lock);
	sync_send(w, y, n_y);
}

void xlb_health_feed_dispatch(struct xlb_health_feed *w)
{
	struct epoll_event evs[4];
	struct pending *pend;
	size_t n_pend;
	int n;

	n = epoll_wait(w->epfd, evs, 4, 0);
	for (int i = 0; i < n; i++)
		if (evs[i].data.fd == w->evfd) {
			uint64_t x;

			if (read(w->evfd, &x, sizeof(x)) < 0 && errno != EAGAIN)
				pr_debug("health: eventfd: %s", strerror(errno));
		}
	if (atomic_exchange(&w->dirty, false)) {
		pthread_mutex_lock(&w->dirty_lock);
		w->n_dirty = 0;
		pthread_mutex_unlock(&w->dirty_lock);
		refresh_targets(w);
	} else {
		char (*names)[128];
		size_t nd;

		pthread_mutex_lock(&w->dirty_lock);
		names = w->dirty_names;
		nd = w->n_dirty;
		w->dirty_names = NULL;
		w->n_dirty = w->cap_dirty = 0;
		pthread_mutex_unlock(&w->dirty_lock);
		for (size_t i = 0; i < nd; i++)
			refresh_one(w, names[i]);
		free(names);
	}

	/* Probes run; on_change notes the verdicts that changed. */
	pthread_mutex_lock(&w->lock);
	xlb_health_dispatch(w->engine);
	pend = w->pend;
	n_pend = w->n_pend;
	w->pend = NULL;
	w->n_pend = w->cap_pend = 0;
	pthread_mutex_unlock(&w->lock);

	/* Into the core, one call per service: it re-applies the service to
	 * the datapath and tells watchers. */
	for (size_t i = 0; i < n_pend; i++) {
		struct xlb_ep_verdict_in v[16];
		size_t k = 0;
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = !strcmp(pend[j].service, pend[i].service);
		if (seen)
			continue;
		for (size_t j = i; j < n_pend; j++) {
			if (strcmp(pend[j].service, pend[i].service))
				continue;
			v[k++] = pend[j].v;
			if (k == sizeof(v) / sizeof(v[0])) {
				xlb_core_health_update(w->core, pend[i].service, v, k, false);
				k = 0;
			}
		}
		if (k)
			xlb_core_health_update(w->core, pend[i].service, v, k, false);
	}
	free(pend);
}

void xlb_health_feed_set_sandbox(struct xlb_health_feed *w, struct xlb_sandbox *sb)
{
	pthread_mutex_lock(&w->lock);
	xlb_health_set_sandbox(w->engine, sb);
	pthread_mutex_unlock(&w->lock);
}

int xlb_health_feed_fd(struct xlb_health_feed *w)
{
	return w->epfd;
}

static const struct xlb_health_source source_ops = {
	.report = src_report,
};

int xlb_health_feed_new(struct xlb_core *core, double panic_threshold,
		       enum xlb_health_tcp_mode tcp_mode, struct xlb_health_feed **out)
{
	struct xlb_health_feed *w = calloc(1, sizeof(*w));
	struct epoll_event ev = { .events = EPOLLIN };
	struct rlimit rl;
	int ret;

	if (!w)
		return -ENOMEM;
	w->core = core;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->dirty_lock, NULL);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->epfd < 0 || w->evfd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = xlb_health_new(on_change, w, &w->engine);
	if (!ret && tcp_mode != XLB_HC_TCP_AUTO)
		ret = xlb_health_set_tcp_mode(w->engine, tcp_mode);
	if (ret)
		goto fail;
	w->half_open = xlb_health_half_open(w->engine);
	if (w->half_open) {
		struct xlb_health_stats hs;

		xlb_health_get_stats(w->engine, &hs);
		pr_info("health: TCP probes are half-open (a raw socket; source ports %u-%u held)",
			hs.half_open_port, hs.half_open_port + XLB_HEALTH_SYN_PORTS - 1);
	} else {
		pr_info("health: TCP probes use connect()%s",
			tcp_mode == XLB_HC_TCP_CONNECT ? " (--tcp-probe connect)"
						       : ": no raw socket (CAP_NET_RAW?)");
	}
	ev.data.fd = w->evfd;
	epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev);
	ev.data.fd = xlb_health_fd(w->engine);
	epoll_ctl(w->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev);
	/* Probes in flight need descriptors: as many as the hard limit lets. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	w->sub = xlb_core_subscribe(core, on_event, w);
	xlb_core_health_start(core, panic_threshold, w->half_open ? "half-open" : "connect",
			      &source_ops, w);
	atomic_store(&w->dirty, true);	/* the state loaded at start */
	{
		uint64_t one = 1;

		if (write(w->evfd, &one, sizeof(one)) < 0)
			pr_debug("health: wake: %s", strerror(errno));
	}
	*out = w;
	return 0;
fail:
	xlb_health_feed_free(w);
	return ret;
}

void xlb_health_feed_free(struct xlb_health_feed *w)
{
	if (!w)
		return;
	if (w->core) {
		xlb_core_health_stop(w->core);
		if (w->sub > 0)
			xlb_core_unsubscribe(w->core, w->sub);
	}
	xlb_health_free(w->engine);
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->evfd >= 0)
		close(w->evfd);
	free(w->targets);
	free(w->pend);
	free(w->dirty_names);
	pthread_mutex_destroy(&w->dirty_lock);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
