// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/verdicts.h"

struct panic_entry {
	char name[128];		/* the key */
};

void xlb_verdicts_init(struct xlb_verdicts *v)
{
	memset(v, 0, sizeof(*v));
	xlb_htab_init(&v->eps);
	xlb_htab_init(&v->panic);
}

void xlb_verdicts_fini(struct xlb_verdicts *v)
{
	size_t pos = 0;
	void *e;

	while ((e = xlb_htab_next(&v->eps, &pos)))
		free(e);
	pos = 0;
	while ((e = xlb_htab_next(&v->panic, &pos)))
		free(e);
	xlb_htab_fini(&v->eps);
	xlb_htab_fini(&v->panic);
}

static void key_of(struct xlb_ep_verdict_key *k, const char *service, const struct xlb_ip *addr,
		   uint32_t port)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->service, sizeof(k->service), "%s", service);
	k->addr = *addr;
	k->port = port;
}

const struct xlb_ep_verdict *xlb_verdicts_get(const struct xlb_verdicts *v, const char *service,
					      const struct xlb_ip *addr, uint32_t port)
{
	struct xlb_ep_verdict_key k;

	key_of(&k, service, addr, port);
	return xlb_htab_get((struct xlb_htab *)&v->eps, &k, sizeof(k));
}

int xlb_verdicts_set(struct xlb_verdicts *v, const char *service, const struct xlb_ip *addr,
		     uint32_t port, enum xlb_ep_health health, int64_t transition_ms)
{
	struct xlb_ep_verdict_key k;
	struct xlb_ep_verdict *e;
	bool was_unhealthy;

	key_of(&k, service, addr, port);
	e = xlb_htab_get(&v->eps, &k, sizeof(k));
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->key = k;
		e->health = XLB_HEALTH_UNKNOWN;
		if (xlb_htab_put(&v->eps, &e->key, sizeof(e->key), e)) {
			free(e);
			return -ENOMEM;
		}
	}
	was_unhealthy = e->health == XLB_HEALTH_UNHEALTHY;
	e->health = health;
	e->transition_ms = transition_ms;
	return was_unhealthy != (health == XLB_HEALTH_UNHEALTHY);
}

size_t xlb_verdicts_forget(struct xlb_verdicts *v, const char *service,
			   const struct xlb_ep_verdict_key *keep, size_t n_keep)
{
	struct xlb_ep_verdict **drop = NULL;
	struct xlb_ep_verdict *e;
	size_t pos = 0, n = 0, cap = 0;

	while ((e = xlb_htab_next(&v->eps, &pos))) {
		bool kept = false;

		if (strcmp(e->key.service, service))
			continue;
		for (size_t i = 0; keep && i < n_keep && !kept; i++)
			kept = keep[i].port == e->key.port && xlb_ip_equal(&keep[i].addr, &e->key.addr);
		if (kept)
			continue;
		if (n == cap) {
			struct xlb_ep_verdict **d = realloc(drop, (cap ? cap * 2 : 16) * sizeof(*d));

			if (!d)
				break;	/* kept: a stale verdict, not a leak */
			drop = d;
			cap = cap ? cap * 2 : 16;
		}
		drop[n++] = e;
	}
	for (size_t i = 0; i < n; i++) {
		xlb_htab_del(&v->eps, &drop[i]->key, sizeof(drop[i]->key));
		free(drop[i]);
	}
	free(drop);
	if (!keep) {
		struct panic_entry *p = xlb_htab_del(&v->panic, service, strlen(service));

		free(p);
	}
	return n;
}

bool xlb_verdicts_panic(const struct xlb_verdicts *v, const char *service)
{
	return xlb_htab_get((struct xlb_htab *)&v->panic, service, strlen(service)) != NULL;
}

static bool ep_usable(const struct xlb_verdicts *v, const struct xlb_svc_desired *s,
		      const struct xlb_endpoint *ep)
{
	const struct xlb_ep_verdict *e = xlb_verdicts_get(v, s->spec.name, &ep->addr, ep->port);

	return !e || e->health != XLB_HEALTH_UNHEALTHY;
}

bool xlb_verdicts_recount(struct xlb_verdicts *v, const struct xlb_svc_desired *s,
			  uint32_t *healthy, uint32_t *checked)
{
	const char *name = s->spec.name;
	struct panic_entry *p = xlb_htab_get(&v->panic, name, strlen(name));
	uint32_t ok = 0, all = 0;
	bool now;

	if (v->on && xlb_svc_hc_kind(s) != XLB_HC_NONE) {
		for (size_t i = 0; i < s->n_ep; i++)
			ok += ep_usable(v, s, &s->ep[i]);
		all = (uint32_t)s->n_ep;
	}
	now = v->panic_threshold > 0 && all && (double)ok < v->panic_threshold * (double)all;
	if (healthy)
		*healthy = ok;
	if (checked)
		*checked = all;
	if (now == !!p)
		return false;
	if (p) {
		xlb_htab_del(&v->panic, p->name, strlen(p->name));
		free(p);
	} else {
		p = calloc(1, sizeof(*p));
		if (!p)
			return false;	/* out of memory: no panic mode, as before */
		snprintf(p->name, sizeof(p->name), "%s", name);
		if (xlb_htab_put(&v->panic, p->name, strlen(p->name), p)) {
			free(p);
			return false;
		}
	}
	return true;
}

bool xlb_verdicts_usable(const struct xlb_verdicts *v, const struct xlb_svc_desired *s,
			 const struct xlb_endpoint *ep)
{
	if (!v || !v->on || xlb_svc_hc_kind(s) == XLB_HC_NONE)
		return true;
	return xlb_verdicts_panic(v, s->spec.name) || ep_usable(v, s, ep);
}
