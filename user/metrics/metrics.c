// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xlbd's metrics in the Prometheus text format, built on each scrape from
 * the core (status, service list, a bounded conntrack scan), plus the
 * histograms the core feeds and the health transitions its events report.
 * Names follow Prometheus' conventions: xlb_ prefix, base units (seconds,
 * bytes), _total for counters, _info gauges of value 1 for text.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics/metrics.h"
#include "model/conntrack.h"
#include "util/hist.h"
#include "util/htab.h"
#include "util/prom.h"

/* ---- fed by the core ---------------------------------------------------- */

struct xlb_metrics {
	struct xlb_core *core;
	int sub;
	struct xlb_hist reconcile, change;
	pthread_mutex_t tr_lock;
	struct xlb_htab tr;	/* service name -> struct transitions */
};

/* Health transitions by service. */
struct transitions {
	char name[128];		/* the key */
	uint64_t n;
};

static void observe_reconcile(void *arg, double seconds)
{
	struct xlb_metrics *m = arg;

	xlb_hist_observe(&m->reconcile, seconds);
}

static void observe_change(void *arg, double seconds)
{
	struct xlb_metrics *m = arg;

	xlb_hist_observe(&m->change, seconds);
}

static const struct xlb_core_observer observer = {
	.reconcile = observe_reconcile,
	.change = observe_change,
};

static void on_event(const struct xlb_event *ev, void *arg)
{
	struct xlb_metrics *m = arg;
	size_t len = strnlen(ev->service, sizeof(ev->service));
	struct transitions *t;

	if (ev->kind != XLB_EV_ENDPOINT_HEALTH && ev->kind != XLB_EV_SERVICE_DELETE)
		return;
	pthread_mutex_lock(&m->tr_lock);
	t = xlb_htab_get(&m->tr, ev->service, len);
	if (ev->kind == XLB_EV_SERVICE_DELETE) {
		if (t)
			free(xlb_htab_del(&m->tr, t->name, len));
	} else if (t) {
		t->n++;
	} else if ((t = calloc(1, sizeof(*t)))) {
		memcpy(t->name, ev->service, len);
		t->n = 1;
		if (xlb_htab_put(&m->tr, t->name, len, t))
			free(t);	/* out of memory: this one is not counted */
	}
	pthread_mutex_unlock(&m->tr_lock);
}

int xlb_metrics_new(struct xlb_core *core, struct xlb_metrics **out)
{
	struct xlb_metrics *m = calloc(1, sizeof(*m));
	int ret;

	if (!m)
		return -ENOMEM;
	m->core = core;
	pthread_mutex_init(&m->tr_lock, NULL);
	xlb_htab_init(&m->tr);
	ret = xlb_hist_init(&m->reconcile, xlb_hist_default_le, XLB_HIST_DEFAULT_N);
	if (!ret)
		ret = xlb_hist_init(&m->change, xlb_hist_default_le, XLB_HIST_DEFAULT_N);
	if (!ret) {
		m->sub = xlb_core_subscribe(core, on_event, m);
		ret = m->sub < 0 ? m->sub : 0;
	}
	if (ret) {
		xlb_metrics_free(m);
		return ret;
	}
	xlb_core_set_observer(core, &observer, m);
	*out = m;
	return 0;
}

void xlb_metrics_free(struct xlb_metrics *m)
{
	struct transitions *t;
	size_t pos = 0;

	if (!m)
		return;
	/* Both wait for a call in progress: nothing reaches m after them. */
	xlb_core_set_observer(m->core, NULL, NULL);
	if (m->sub > 0)
		xlb_core_unsubscribe(m->core, m->sub);
	while ((t = xlb_htab_next(&m->tr, &pos)))
		free(t);
	xlb_htab_fini(&m->tr);
	pthread_mutex_destroy(&m->tr_lock);
	pthread_mutex_destroy(&m->reconcile.lock);
	pthread_mutex_destroy(&m->change.lock);
	free(m);
}

static uint64_t transitions_of(struct xlb_metrics *m, const char *service)
{
	struct transitions *t;
	uint64_t n;

	pthread_mutex_lock(&m->tr_lock);
	t = xlb_htab_get(&m->tr, service, strlen(service));
	n = t ? t->n : 0;
	pthread_mutex_unlock(&m->tr_lock);
	return n;
}

/* ---- one scrape's data -------------------------------------------------- */

struct ep_row {
	char backend[64];	/* "address:port", as events name endpoints */
	enum xlb_ep_health health;
	bool in_datapath;
	uint64_t packets, bytes, new_flows;
};

struct svc_row {
	struct xlb_service_spec spec;	/* spec.name: the service label */
	uint64_t packets, bytes, new_flows;
	uint64_t active_flows, transitions;
	uint64_t sock_connects, sock_sends, sock_refused;
	uint64_t n_ready;
	uint64_t n_eps;
	bool panic;
	struct ep_row *eps;
};

/* Which service a forward conntrack entry belongs to: its destination is
 * the ClusterIP and port, or (NodePort) a node address and the node port.
 * memcmp order over the key's first bytes (addr, port, proto, pad). */
struct ct_match {
	struct xlb_addr addr;	/* zero for node ports */
	uint16_t port;		/* host order */
	uint8_t proto;
	uint8_t pad;
	uint32_t idx;		/* into scrape.svc */
};
#define CT_MATCH_KEY offsetof(struct ct_match, idx)

struct scrape {
	struct xlb_core_status st;
	struct svc_row *svc;
	size_t n, cap;
	struct ct_match *by_vip, *by_np;
	size_t n_vip, n_np;
	uint32_t ct_max;
	uint64_t ct_entries;
	bool ct_truncated;
};

static void scrape_free(struct scrape *sc)
{
	for (size_t i = 0; i < sc->n; i++)
		free(sc->svc[i].eps);
	free(sc->svc);
	free(sc->by_vip);
	free(sc->by_np);
}

/* Called with the core lock held: copy, nothing else. */
static int list_cb(const struct xlb_service_status *s, void *arg)
{
	struct scrape *sc = arg;
	struct svc_row *r;

	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 64;
		struct svc_row *v = realloc(sc->svc, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		sc->svc = v;
		sc->cap = cap;
	}
	r = &sc->svc[sc->n];
	memset(r, 0, sizeof(*r));
	if (s->n_eps && !(r->eps = calloc(s->n_eps, sizeof(*r->eps))))
		return -ENOMEM;
	sc->n++;
	r->spec = s->svc.spec;
	/* its lists are not needed here, and go with the listing */
	r->spec.addrs = NULL;
	r->spec.n_lb_ips = r->spec.n_external_ips = r->spec.n_source_ranges = 0;
	r->packets = s->packets;
	r->bytes = s->bytes;
	r->new_flows = s->new_flows;
	r->sock_connects = s->sock.connects;
	r->sock_sends = s->sock.sends;
	r->sock_refused = s->sock.refused;
	r->panic = s->panic;
	r->n_eps = s->n_eps;
	for (size_t i = 0; i < s->n_eps; i++) {
		const struct xlb_endpoint_status *e = &s->eps[i];
		struct ep_row *o = &r->eps[i];

		xlb_ip_port_str(&e->ep.addr, e->ep.port, o->backend, sizeof(o->backend));
		o->health = e->health;
		o->in_datapath = e->in_datapath;
		o->packets = e->packets;
		o->bytes = e->bytes;
		o->new_flows = e->new_flows;
		r->n_ready += e->in_datapath;
	}
	return 0;
}

static int match_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CT_MATCH_KEY);
}

static int build_matches(struct scrape *sc)
{
	sc->by_vip = calloc(sc->n ? sc->n : 1, sizeof(*sc->by_vip));
	sc->by_np = calloc(sc->n ? sc->n : 1, sizeof(*sc->by_np));
	if (!sc->by_vip || !sc->by_np)
		return -ENOMEM;
	for (size_t i = 0; i < sc->n; i++) {
		const struct xlb_service_spec *s = &sc->svc[i].spec;
		struct ct_match *m = &sc->by_vip[sc->n_vip++];

		m->addr = s->vip.addr;
		m->port = (uint16_t)s->port;
		m->proto = s->proto;
		m->idx = (uint32_t)i;
		if (!xlb_svc_has_node_port(s))
			continue;
		m = &sc->by_np[sc->n_np++];
		m->port = (uint16_t)s->node_port;
		m->proto = s->proto;
		m->idx = (uint32_t)i;
	}
	qsort(sc->by_vip, sc->n_vip, sizeof(*sc->by_vip), match_cmp);
	qsort(sc->by_np, sc->n_np, sizeof(*sc->by_np), match_cmp);
	return 0;
}

/* Active flows: forward entries (one per flow) not yet closed. */
static int ct_cb(const struct xlb_ct_entry *e, void *arg)
{
	struct scrape *sc = arg;
	struct ct_match k = {}, *m;

	if (sc->ct_entries == sc->ct_max) {
		sc->ct_truncated = true;
		return 1;
	}
	sc->ct_entries++;
	if (e->dir != XLB_CT_FWD || e->state == XLB_CT_CLOSED)
		return 0;
	k.addr = e->dst.addr;
	k.port = e->dport;
	k.proto = e->proto;
	m = bsearch(&k, sc->by_vip, sc->n_vip, sizeof(k), match_cmp);
	if (!m) {
		memset(&k.addr, 0, sizeof(k.addr));
		m = bsearch(&k, sc->by_np, sc->n_np, sizeof(k), match_cmp);
	}
	if (m)
		sc->svc[m->idx].active_flows++;
	return 0;
}

/* ---- rendering ---------------------------------------------------------- */

/* The datapath's global counters, each in its family (include/xlb/stats.h). */
static void render_stats(struct xlb_prom *p, const struct xlb_core_status *st)
{
	for (int f = 0; f < XLB_SF_MAX; f++) {
		const struct xlb_stat_family_info *fi = xlb_stat_family_info(f);

		xlb_prom_family(p, fi->name, "counter", fi->help);
		for (int i = 0; i < XLB_STAT_MAX; i++) {
			const struct xlb_stat_info *si = xlb_stat_info(i);

			if (si->family != (enum xlb_stat_family)f)
				continue;
			xlb_prom_sample(p, fi->name);
			if (si->label_key)
				xlb_prom_label(p, si->label_key, si->label_value);
			xlb_prom_u64(p, st->counters[i]);
		}
	}
}

/* The socket and pod veth programs' counters (include/xlb/stats_hooks.h):
 * one family each, labelled by the counter's name. */
static void render_hook_stats(struct xlb_prom *p, const struct xlb_core_status *st)
{
	if (!st->have_hooks)
		return;
	xlb_prom_family(p, XLB_SOCK_STATS_FAMILY, "counter", XLB_SOCK_STATS_HELP);
	for (int i = 0; i < XLB_SOCK_STAT_MAX; i++) {
		xlb_prom_sample(p, XLB_SOCK_STATS_FAMILY);
		xlb_prom_label(p, "outcome", xlb_sock_stat_info(i)->name);
		xlb_prom_u64(p, st->sock_counters[i]);
	}
	xlb_prom_family(p, XLB_POD_STATS_FAMILY, "counter", XLB_POD_STATS_HELP);
	for (int i = 0; i < XLB_POD_STAT_MAX; i++) {
		xlb_prom_sample(p, XLB_POD_STATS_FAMILY);
		xlb_prom_label(p, "reason", xlb_pod_stat_info(i)->name);
		xlb_prom_u64(p, st->pod_counters[i]);
	}
	xlb_prom_family(p, "xlb_socket_lb_attached", "gauge",
			"1 when the socket programs are attached (balancing the node's and its "
			"pods' connections), else 0.");
	xlb_prom_sample(p, "xlb_socket_lb_attached");
	xlb_prom_u64(p, st->hooks.sock_cgroup[0] != 0);
	xlb_prom_family(p, "xlb_pod_interfaces", "gauge",
			"Pod veths the tc programs are attached to.");
	xlb_prom_sample(p, "xlb_pod_interfaces");
	xlb_prom_u64(p, st->hooks.n_pod_ifaces);
}

static void gauge(struct xlb_prom *p, const char *name, const char *help, uint64_t v)
{
	xlb_prom_family(p, name, "gauge", help);
	xlb_prom_sample(p, name);
	xlb_prom_u64(p, v);
}

static void render_daemon(struct xlb_prom *p, const struct scrape *sc, const char *version)
{
	const struct xlb_core_status *st = &sc->st;
	char s[32];

	xlb_prom_family(p, "xlb_build_info", "gauge", "xlbd's version, as a label; value 1.");
	xlb_prom_sample(p, "xlb_build_info");
	xlb_prom_label(p, "version", version ? version : "unknown");
	xlb_prom_u64(p, 1);

	xlb_prom_family(p, "xlb_dataplane_info", "gauge",
			"The dataplane xlbd runs (xdp or ipvs), as a label; value 1.");
	xlb_prom_sample(p, "xlb_dataplane_info");
	snprintf(s, sizeof(s), "%.*s", (int)sizeof(st->dataplane), st->dataplane);
	xlb_prom_label(p, "dataplane", s);
	xlb_prom_u64(p, 1);

	xlb_prom_family(p, "xlb_start_time_seconds", "gauge",
			"When xlbd started, in seconds since the Unix epoch.");
	xlb_prom_sample(p, "xlb_start_time_seconds");
	xlb_prom_f64(p, (double)st->started_ms / 1000);

	xlb_prom_family(p, "xlb_interface_attached", "gauge",
			"Interfaces the datapath is attached to; value 1.");
	for (size_t i = 0; i < st->n_interfaces && i < XLB_MAX_IFACES; i++) {
		char ifn[sizeof(st->interfaces[0]) + 1];

		snprintf(ifn, sizeof(ifn), "%.*s", (int)sizeof(st->interfaces[i]), st->interfaces[i]);
		xlb_prom_sample(p, "xlb_interface_attached");
		xlb_prom_label(p, "interface", ifn);
		xlb_prom_u64(p, 1);
	}

	gauge(p, "xlb_desired_state_version",
	      "Version of the desired state; increases with every applied change.", st->version);
	gauge(p, "xlb_services", "Services in the desired state.", st->services);
	gauge(p, "xlb_state_lost_changes",
	      "Acknowledged changes a damaged journal lost when xlbd started (xlbctl status says "
	      "which and where the damaged files are kept).", st->lost_changes);
	gauge(p, "xlb_endpoints", "Endpoints of all services in the desired state.",
	      st->endpoints);
	xlb_prom_family(p, "xlb_nexthop_flushes_total", "counter",
			"Route, neighbour or link MTU changes after which the XDP datapath looked "
			"up its cached next hops towards backends again (one per burst of changes; "
			"else each is looked up again after 10 s).");
	xlb_prom_sample(p, "xlb_nexthop_flushes_total");
	xlb_prom_u64(p, st->nexthop_flushes);
}

#define SVC_U64(f) offsetof(struct svc_row, f)
#define EP_U64(f) offsetof(struct ep_row, f)

static const struct family {
	const char *name, *type, *help;
	size_t off;		/* of a uint64_t in svc_row or ep_row */
} svc_families[] = {
	{ "xlb_service_packets_total", "counter",
	  "Packets of the service's flows, both directions.", SVC_U64(packets) },
	{ "xlb_service_bytes_total", "counter",
	  "Bytes of the service's flows, both directions.", SVC_U64(bytes) },
	{ "xlb_service_new_flows_total", "counter",
	  "Flows the datapath gave a backend of the service.", SVC_U64(new_flows) },
	{ "xlb_service_active_flows", "gauge",
	  "The service's flows in conntrack, not closed (a lower bound when "
	  "xlb_conntrack_scan_truncated is 1).", SVC_U64(active_flows) },
	{ "xlb_service_socket_connects_total", "counter",
	  "connect() calls to the service balanced at the socket (the node's and its pods' "
	  "own connections, no packets).", SVC_U64(sock_connects) },
	{ "xlb_service_socket_sends_total", "counter",
	  "Unconnected UDP datagrams to the service balanced at the socket.",
	  SVC_U64(sock_sends) },
	{ "xlb_service_socket_refused_total", "counter",
	  "connect() and sendto() to the service refused at the socket for want of a "
	  "usable backend (ECONNREFUSED).", SVC_U64(sock_refused) },
	{ "xlb_service_endpoints", "gauge", "The service's endpoints.", SVC_U64(n_eps) },
	{ "xlb_service_endpoints_ready", "gauge",
	  "The service's endpoints receiving new flows (ready, not terminating, not "
	  "unhealthy).", SVC_U64(n_ready) },
	{ "xlb_health_transitions_total", "counter",
	  "Health verdict changes of the service's endpoints since xlbd started.",
	  SVC_U64(transitions) },
}, ep_families[] = {
	{ "xlb_backend_packets_total", "counter",
	  "Packets of the flows given this backend, both directions.", EP_U64(packets) },
	{ "xlb_backend_bytes_total", "counter",
	  "Bytes of the flows given this backend, both directions.", EP_U64(bytes) },
	{ "xlb_backend_new_flows_total", "counter", "Flows given this backend.",
	  EP_U64(new_flows) },
};

static uint64_t field(const void *row, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)row + off, sizeof(v));
	return v;
}

static void render_services(struct xlb_prom *p, const struct scrape *sc)
{
	static const char *const states[] = {
		[XLB_HEALTH_UNCHECKED] = "unchecked",
		[XLB_HEALTH_UNKNOWN] = "unknown",
		[XLB_HEALTH_HEALTHY] = "healthy",
		[XLB_HEALTH_UNHEALTHY] = "unhealthy",
	};

	for (size_t f = 0; f < sizeof(svc_families) / sizeof(svc_families[0]); f++) {
		xlb_prom_family(p, svc_families[f].name, svc_families[f].type, svc_families[f].help);
		for (size_t i = 0; i < sc->n; i++) {
			xlb_prom_sample(p, svc_families[f].name);
			xlb_prom_label(p, "service", sc->svc[i].spec.name);
			xlb_prom_u64(p, field(&sc->svc[i], svc_families[f].off));
		}
	}
	xlb_prom_family(p, "xlb_service_panic", "gauge",
			"1 when too few endpoints are healthy and the service uses all of them.");
	for (size_t i = 0; i < sc->n; i++) {
		xlb_prom_sample(p, "xlb_service_panic");
		xlb_prom_label(p, "service", sc->svc[i].spec.name);
		xlb_prom_u64(p, sc->svc[i].panic);
	}

	for (size_t f = 0; f < sizeof(ep_families) / sizeof(ep_families[0]); f++) {
		xlb_prom_family(p, ep_families[f].name, ep_families[f].type, ep_families[f].help);
		for (size_t i = 0; i < sc->n; i++)
			for (size_t j = 0; j < sc->svc[i].n_eps; j++) {
				const struct ep_row *e = &sc->svc[i].eps[j];

				xlb_prom_sample(p, ep_families[f].name);
				xlb_prom_label(p, "service", sc->svc[i].spec.name);
				xlb_prom_label(p, "backend", e->backend);
				xlb_prom_u64(p, field(e, ep_families[f].off));
			}
	}
	xlb_prom_family(p, "xlb_endpoint_health_state", "gauge",
			"The endpoint's health verdict: 1 for its state, 0 for the others "
			"(unchecked: no health check).");
	for (size_t i = 0; i < sc->n; i++)
		for (size_t j = 0; j < sc->svc[i].n_eps; j++)
			for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
				xlb_prom_sample(p, "xlb_endpoint_health_state");
				xlb_prom_label(p, "service", sc->svc[i].spec.name);
				xlb_prom_label(p, "backend", sc->svc[i].eps[j].backend);
				xlb_prom_label(p, "state", states[k]);
				xlb_prom_u64(p, sc->svc[i].eps[j].health == (enum xlb_ep_health)k);
			}
	xlb_prom_family(p, "xlb_endpoint_in_datapath", "gauge",
			"1 when the endpoint receives new flows.");
	for (size_t i = 0; i < sc->n; i++)
		for (size_t j = 0; j < sc->svc[i].n_eps; j++) {
			xlb_prom_sample(p, "xlb_endpoint_in_datapath");
			xlb_prom_label(p, "service", sc->svc[i].spec.name);
			xlb_prom_label(p, "backend", sc->svc[i].eps[j].backend);
			xlb_prom_u64(p, sc->svc[i].eps[j].in_datapath);
		}
}

static void render_conntrack(struct xlb_prom *p, const struct scrape *sc)
{
	/* LRU evictions are not counted by the kernel, so none is exported;
	 * failed inserts are xlb_datapath_packets_total{reason="drop_ct_full"}. */
	gauge(p, "xlb_conntrack_entries",
	      "Conntrack entries (XDP: two per flow, one per direction; IPVS: one per "
	      "connection) counted by this scrape.", sc->ct_entries);
	gauge(p, "xlb_conntrack_scan_truncated",
	      "1 when this scrape stopped counting conntrack entries at its limit.",
	      sc->ct_truncated);
}

int xlb_metrics_render(struct xlb_metrics *m, const struct xlb_metrics_opts *o, char **text,
		       size_t *len)
{
	struct xlb_core *core = m->core;
	struct scrape sc = { .ct_max = o && o->ct_scan_max ? o->ct_scan_max :
							      XLB_METRICS_CT_SCAN_MAX };
	struct xlb_prom p;
	int ret;

	xlb_prom_init(&p);
	ret = xlb_core_status(core, &sc.st);
	if (ret)
		goto out;
	ret = xlb_core_list(core, NULL, list_cb, &sc);
	if (ret)
		goto out;
	ret = build_matches(&sc);
	if (ret)
		goto out;
	/* One more than the limit, so that reaching it is seen. */
	ret = xlb_core_ct_list(core, sc.ct_max < UINT32_MAX ? sc.ct_max + 1 : sc.ct_max, ct_cb, &sc);
	if (ret) {
		pr_debug("metrics: conntrack scan: %s", strerror(-ret));
		ret = 0;	/* the rest is still worth having */
	}
	for (size_t i = 0; i < sc.n; i++)
		sc.svc[i].transitions = transitions_of(m, sc.svc[i].spec.name);

	render_daemon(&p, &sc, o ? o->version : NULL);
	render_stats(&p, &sc.st);
	render_hook_stats(&p, &sc.st);
	render_services(&p, &sc);
	render_conntrack(&p, &sc);
	xlb_hist_render(&m->reconcile, &p, "xlb_reconcile_duration_seconds",
			"Time to reconcile the desired state into the datapath, per pass.", NULL,
			NULL);
	xlb_hist_render(&m->change, &p, "xlb_endpoint_change_latency_seconds",
			"From the API receiving an endpoint change to the datapath having it.",
			NULL, NULL);
	ret = xlb_prom_finish(&p, text, len);
out:
	xlb_prom_free(&p);
	scrape_free(&sc);
	return ret;
}
