// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The core fed to the health-check node ports (svchealth_feed.h). */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "core/svchealth_feed.h"
#include "svchealth/svchealth.h"
#include "util/clock.h"

struct xlb_svchealth_feed {
	struct xlb_core *core;
	struct xlb_svchealth *srv;
	int sub;
	int efd;
	atomic_bool dirty;
	int64_t timeout_ms;
};

/* One health-check node port being counted: its Service and the distinct
 * addresses of the local ready endpoints of all its ports. */
struct hc_acc {
	struct xlb_svchealth_port p;
	struct xlb_ip *addrs;
	size_t n, cap;
};

struct hc_list {
	struct hc_acc *v;
	size_t n, cap;
	int err;
};

/* "ns/name:port" (xlb-k8s's names) -> ns, name; a name without a slash
 * has an empty namespace. */
static void split_name(const char *full, char *ns, size_t nslen, char *name, size_t namelen)
{
	const char *slash = strchr(full, '/'), *n = slash ? slash + 1 : full;
	const char *colon = strrchr(n, ':');
	size_t len = colon ? (size_t)(colon - n) : strlen(n);

	snprintf(ns, nslen, "%.*s", slash ? (int)(slash - full) : 0, full);
	snprintf(name, namelen, "%.*s", (int)len, n);
}

static int hc_add(const struct xlb_svc_desired *s, const struct xlb_ip *addrs, size_t n,
		  void *arg)
{
	struct hc_list *l = arg;
	struct xlb_svchealth_port p = { .port = (uint16_t)s->spec.health_check_node_port };
	struct hc_acc *a = NULL;

	split_name(s->spec.name, p.ns, sizeof(p.ns), p.name, sizeof(p.name));
	for (size_t i = 0; i < l->n && !a; i++)
		if (l->v[i].p.port == p.port && !strcmp(l->v[i].p.ns, p.ns) &&
		    !strcmp(l->v[i].p.name, p.name))
			a = &l->v[i];
	if (!a) {
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 16;
			struct hc_acc *v = realloc(l->v, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			l->v = v;
			l->cap = cap;
		}
		a = &l->v[l->n++];
		*a = (struct hc_acc){ .p = p };
	}
	for (size_t i = 0; i < n; i++) {
		bool seen = false;

		for (size_t j = 0; j < a->n && !seen; j++)
			seen = xlb_ip_equal(&a->addrs[j], &addrs[i]);
		if (seen)
			continue;
		if (a->n == a->cap) {
			size_t cap = a->cap ? a->cap * 2 : 8;
			struct xlb_ip *v = realloc(a->addrs, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			a->addrs = v;
			a->cap = cap;
		}
		a->addrs[a->n++] = addrs[i];
	}
	return 0;
}

void xlb_svchealth_feed_dispatch(struct xlb_svchealth_feed *f)
{
	struct hc_list l = { 0 };
	struct xlb_svchealth_port *p = NULL;
	uint64_t x;
	int ret;

	if (read(f->efd, &x, sizeof(x)) < 0 && errno != EAGAIN)
		pr_warn("health-check ports: read eventfd: %s", strerror(errno));
	if (!atomic_exchange(&f->dirty, false))
		return;
	ret = xlb_core_hc_ports(f->core, hc_add, &l);
	if (!ret && !(p = calloc(l.n ? l.n : 1, sizeof(*p))))
		ret = -ENOMEM;
	if (ret) {
		pr_err("health-check ports: count local endpoints: %s (tried again at the next change)",
		       strerror(-ret));
		atomic_store(&f->dirty, true);
	} else {
		for (size_t i = 0; i < l.n; i++) {
			p[i] = l.v[i].p;
			p[i].local_endpoints = (uint32_t)l.v[i].n;
		}
		xlb_svchealth_sync(f->srv, p, l.n);
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i].addrs);
	free(l.v);
	free(p);
}

static void on_event(const struct xlb_event *ev, void *arg)
{
	struct xlb_svchealth_feed *f = arg;
	uint64_t one = 1;

	atomic_store(&f->dirty, true);
	if (write(f->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_warn("health-check ports: wake: %s", strerror(errno));
}

static void proxy_health(void *arg, struct xlb_proxy_health *out)
{
	struct xlb_svchealth_feed *f = arg;
	bool in_step;
	int64_t last;

	xlb_core_in_step(f->core, &in_step, &last);
	out->healthy = in_step || xlb_unix_ms() - last < f->timeout_ms;
	out->node_eligible = true;
	out->last_updated_ms = last;
}

int xlb_svchealth_feed_new(struct xlb_core *core, const char *healthz, uint32_t timeout_s,
			   struct xlb_svchealth_feed **out, char *err, size_t errlen)
{
	struct xlb_svchealth_feed *f = calloc(1, sizeof(*f));
	struct xlb_svchealth_opts o = { .healthz = healthz, .proxy_health = proxy_health };
	int ret;

	if (!f)
		return -ENOMEM;
	f->core = core;
	f->timeout_ms = (int64_t)timeout_s * 1000;
	f->sub = -1;
	f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->efd < 0) {
		ret = -errno;
		snprintf(err, errlen, "health-check ports: eventfd: %s", strerror(errno));
		goto fail;
	}
	o.arg = f;
	ret = xlb_svchealth_start(&o, &f->srv, err, errlen);
	if (ret)
		goto fail;
	f->sub = xlb_core_subscribe(core, on_event, f);
	if (f->sub < 0) {
		ret = f->sub;
		snprintf(err, errlen, "health-check ports: subscribe to the core: %s",
			 strerror(-ret));
		goto fail;
	}
	/* The services the core holds already. */
	atomic_store(&f->dirty, true);
	xlb_svchealth_feed_dispatch(f);
	*out = f;
	return 0;
fail:
	xlb_svchealth_feed_free(f);
	return ret;
}

int xlb_svchealth_feed_fd(struct xlb_svchealth_feed *f)
{
	return f->efd;
}

void xlb_svchealth_feed_tick(struct xlb_svchealth_feed *f)
{
	xlb_svchealth_retry(f->srv);
}

uint16_t xlb_svchealth_feed_healthz_port(struct xlb_svchealth_feed *f)
{
	return f ? xlb_svchealth_healthz_port(f->srv) : 0;
}

void xlb_svchealth_feed_free(struct xlb_svchealth_feed *f)
{
	if (!f)
		return;
	if (f->sub >= 0)
		xlb_core_unsubscribe(f->core, f->sub);
	xlb_svchealth_stop(f->srv);
	if (f->efd >= 0)
		close(f->efd);
	free(f);
}
