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

/* Per service: how many probed endpoints, how many healthy, panic state. */
struct svc_health {
	char name[128];
	uint32_t probed, healthy;
	bool panic;
	bool seen;		/* still probed, during a full refresh */
};

struct xlb_health_feed {
	struct xlb_core *core;
	double panic_threshold;
	bool half_open;			/* TCP probes: fixed at start */
	pthread_mutex_t lock;		/* engine, targets, svcs */
	struct xlb_health *engine;
	int epfd, evfd;
	int sub;
	atomic_bool dirty;		/* everything: re-read the whole state */
	pthread_mutex_t dirty_lock;
	char (*dirty_names)[128];	/* services changed since the last dispatch */
	size_t n_dirty, cap_dirty;

	struct xlb_health_target *targets;
	size_t n_targets;
	struct xlb_htab svcs;		/* name -> struct svc_health */

	/* Transitions seen during a dispatch, applied after it (no lock). */
	struct pending {
		struct xlb_event ev;
	} *pend;
	size_t n_pend, cap_pend;
};

static bool svc_panic(const struct xlb_health_feed *w, const struct svc_health *h)
{
	return w->panic_threshold > 0 && h->probed &&
	       (double)h->healthy < w->panic_threshold * (double)h->probed;
}

static void pend_add(struct xlb_health_feed *w, enum xlb_event_kind kind, const char *svc,
		     const char *ep, const char *detail)
{
	struct xlb_event *e;

	if (w->n_pend == w->cap_pend) {
		size_t cap = w->cap_pend ? w->cap_pend * 2 : 16;
		struct pending *n = realloc(w->pend, cap * sizeof(*n));

		if (!n)
			return;
		w->pend = n;
		w->cap_pend = cap;
	}
	e = &w->pend[w->n_pend++].ev;
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	snprintf(e->service, sizeof(e->service), "%s", svc);
	snprintf(e->endpoint, sizeof(e->endpoint), "%s", ep ? ep : "");
	snprintf(e->detail, sizeof(e->detail), "%s", detail ? detail : "");
}

static struct svc_health *svc_get(struct xlb_health_feed *w, const char *name, bool create)
{
	struct svc_health *h = xlb_htab_get(&w->svcs, name, strlen(name));

	if (h || !create)
		return h;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	snprintf(h->name, sizeof(h->name), "%s", name);
	if (xlb_htab_put(&w->svcs, h->name, strlen(h->name), h)) {
		free(h);
		return NULL;
	}
	return h;
}

/* Recount a service after a verdict changed; note panic transitions. */
static void svc_recount(struct xlb_health_feed *w, const char *name)
{
	struct svc_health *h = svc_get(w, name, false);
	bool was;

	if (!h)
		return;
	was = h->panic;
	h->probed = h->healthy = 0;
	for (size_t i = 0; i < w->n_targets; i++) {
		struct xlb_health_report r;

		if (strcmp(w->targets[i].service, name))
			continue;
		h->probed++;
		if (!xlb_health_get(w->engine, name, &w->targets[i].addr, w->targets[i].port, &r) &&
		    r.verdict != XLB_HV_UNHEALTHY)
			h->healthy++;
	}
	h->panic = svc_panic(w, h);
	if (h->panic != was) {
		char d[128];

		snprintf(d, sizeof(d), "%s: %u of %u endpoints healthy (threshold %.0f%%)",
			 h->panic ? "panic mode on, using every endpoint" : "panic mode off",
			 h->healthy, h->probed, w->panic_threshold * 100);
		pr_warn("health: service %s: %s", name, d);
		pend_add(w, XLB_EV_PANIC, name, NULL, d);
	}
}

static void on_change(void *arg, const struct xlb_health_target *t, enum xlb_health_verdict old,
		      enum xlb_health_verdict now, const char *why)
{
	struct xlb_health_feed *w = arg;
	char ep[64], a[XLB_IP_STRLEN], d[128];

	snprintf(ep, sizeof(ep), "%s:%u", xlb_ip_str(&t->addr, a, sizeof(a)), t->port);
	snprintf(d, sizeof(d), "%s -> %s: %s", xlb_health_verdict_name(old),
		 xlb_health_verdict_name(now), why ? why : "");
	pr_info("health: service %s endpoint %s: %s", t->service, ep, d);
	pend_add(w, XLB_EV_ENDPOINT_HEALTH, t->service, ep, d);
	svc_recount(w, t->service);
}

/* ---- what the core asks (core lock may be held; never call the core) ---- */

static bool src_usable(void *arg, const char *service, const struct xlb_endpoint *ep)
{
	struct xlb_health_feed *w = arg;
	struct xlb_health_report r;
	struct svc_health *h;
	bool ok = true;

	pthread_mutex_lock(&w->lock);
	h = svc_get(w, service, false);
	if (h && !h->panic &&
	    !xlb_health_get(w->engine, service, &ep->addr, ep->port, &r) &&
	    r.verdict == XLB_HV_UNHEALTHY)
		ok = false;
	pthread_mutex_unlock(&w->lock);
	return ok;
}

static void src_report(void *arg, const char *service, const struct xlb_endpoint *ep,
		       struct xlb_endpoint_status *st)
{
	struct xlb_health_feed *w = arg;
	struct xlb_health_report r;

	pthread_mutex_lock(&w->lock);
	if (!xlb_health_get(w->engine, service, &ep->addr, ep->port, &r)) {
		st->health = r.verdict == XLB_HV_HEALTHY ? XLB_HEALTH_HEALTHY :
			     r.verdict == XLB_HV_UNHEALTHY ? XLB_HEALTH_UNHEALTHY :
							     XLB_HEALTH_UNKNOWN;
		snprintf(st->last_result, sizeof(st->last_result), "%s", r.last_result);
		st->last_latency_us = r.last_latency_us;
		st->last_transition_ms = r.last_transition_ms;
	}
	pthread_mutex_unlock(&w->lock);
}

static bool src_panic(void *arg, const char *service)
{
	struct xlb_health_feed *w = arg;
	struct svc_health *h;
	bool p;

	pthread_mutex_lock(&w->lock);
	h = svc_get(w, service, false);
	p = h && h->panic;
	pthread_mutex_unlock(&w->lock);
	return p;
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

	if (s->hc.kind == XLB_HC_NONE)
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
		t->spec = s->hc;
	}
	return 0;
}

static void refresh_targets(struct xlb_health_feed *w)
{
	struct collect c = {};
	struct svc_health *h;
	size_t pos = 0;
	int ret;

	/* Read the desired state first (core lock), then take ours. */
	xlb_core_backup(w->core, collect_cb, &c, NULL);
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
	free(w->targets);
	w->targets = c.t;
	w->n_targets = c.n;
	/* Recount each probed service once (a service's targets are adjacent,
	 * as collect_cb adds them), then drop the services no longer probed. */
	while ((h = xlb_htab_next(&w->svcs, &pos)))
		h->seen = false;
	for (size_t i = 0; i < c.n; i++) {
		if (i && !strcmp(c.t[i].service, c.t[i - 1].service))
			continue;
		h = svc_get(w, c.t[i].service, true);
		if (h) {
			h->seen = true;
			svc_recount(w, h->name);
		}
	}
	pos = 0;
	while ((h = xlb_htab_next(&w->svcs, &pos)))
		if (!h->seen) {
			xlb_htab_del(&w->svcs, h->name, strlen(h->name));
			free(h);
		}
	pthread_mutex_unlock(&w->lock);
	pr_debug("health: %zu targets", c.n);
}

static bool probed(const struct xlb_health_feed *w, const char *name)
{
	for (size_t i = 0; i < w->n_targets; i++)
		if (!strcmp(w->targets[i].service, name))
			return true;
	return false;
}

/* One service changed: replace its targets only. A service that is not
 * probed now and was not before costs a lookup, nothing more. */
static void refresh_one(struct xlb_health_feed *w, const char *name)
{
	struct collect c = {};
	struct xlb_health_target *all;
	size_t n = 0;
	int ret;

	ret = xlb_core_get(w->core, name, collect_cb, &c);
	if (ret && ret != -ENOENT) {
		free(c.t);
		return;
	}
	pthread_mutex_lock(&w->lock);
	if (!c.n && !probed(w, name)) {
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
	if (!c.n) {
		struct svc_health *h = xlb_htab_del(&w->svcs, name, strlen(name));

		free(h);
	} else if (svc_get(w, name, true)) {
		svc_recount(w, name);
	}
	pthread_mutex_unlock(&w->lock);
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

	pthread_mutex_lock(&w->lock);
	xlb_health_dispatch(w->engine);
	pend = w->pend;
	n_pend = w->n_pend;
	w->pend = NULL;
	w->n_pend = w->cap_pend = 0;
	pthread_mutex_unlock(&w->lock);

	/* Verdicts changed: re-apply those services, then tell watchers. */
	for (size_t i = 0; i < n_pend; i++) {
		const char *name = pend[i].ev.service;
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = !strcmp(pend[j].ev.service, name);
		if (!seen)
			xlb_core_refresh(w->core, &name, 1);
	}
	for (size_t i = 0; i < n_pend; i++)
		xlb_core_emit(w->core, &pend[i].ev);
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

static const char *src_tcp_probe(void *arg)
{
	struct xlb_health_feed *w = arg;

	return w->half_open ? "half-open" : "connect";
}

static const struct xlb_health_source source_ops = {
	.usable = src_usable,
	.report = src_report,
	.panic = src_panic,
	.tcp_probe = src_tcp_probe,
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
	w->panic_threshold = panic_threshold;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->dirty_lock, NULL);
	xlb_htab_init(&w->svcs);
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
	xlb_core_set_health_source(core, &source_ops, w);
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
	struct svc_health *h;
	size_t pos = 0;

	if (!w)
		return;
	if (w->core) {
		xlb_core_set_health_source(w->core, NULL, NULL);
		if (w->sub > 0)
			xlb_core_unsubscribe(w->core, w->sub);
	}
	xlb_health_free(w->engine);
	while ((h = xlb_htab_next(&w->svcs, &pos)))
		free(h);
	xlb_htab_fini(&w->svcs);
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
