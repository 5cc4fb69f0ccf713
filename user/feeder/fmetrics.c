// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* xlb-k8s's metrics and health endpoints (fmetrics.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <microhttpd.h>

#include "log.h"
#include "feeder/fmetrics.h"
#include "util/clock.h"
#include "util/hist.h"
#include "util/listen.h"
#include "util/prom.h"

#define STALL_MS 60000

struct xlb_fmetrics {
	struct MHD_Daemon *mhd;
	pthread_mutex_t lock;
	struct xlb_feeder_view v;
};

static void counter(struct xlb_prom *p, const char *name, const char *help, uint64_t v)
{
	xlb_prom_family(p, name, "counter", help);
	xlb_prom_sample(p, name);
	xlb_prom_u64(p, v);
}

static void gauge(struct xlb_prom *p, const char *name, const char *help, double v)
{
	xlb_prom_family(p, name, "gauge", help);
	xlb_prom_sample(p, name);
	xlb_prom_f64(p, v);
}

static void render(const struct xlb_feeder_view *v, struct xlb_prom *p)
{
	uint64_t now = (uint64_t)xlb_clock_ms();

	xlb_prom_family(p, "xlb_k8s_watch_events_total", "counter",
			"Watch events received, by resource and type.");
	for (size_t i = 0; i < v->n_watch; i++)
		for (int e = 0; e < XLB_KUBE_N_EV; e++) {
			xlb_prom_sample(p, "xlb_k8s_watch_events_total");
			xlb_prom_label(p, "resource", v->watch_name[i]);
			xlb_prom_label(p, "type", xlb_kube_ev_name[e]);
			xlb_prom_u64(p, v->watch[i].events[e]);
		}
	xlb_prom_family(p, "xlb_k8s_relists_total", "counter",
			"Lists after the first (410 Gone, or a watch that could not resume).");
	for (size_t i = 0; i < v->n_watch; i++) {
		xlb_prom_sample(p, "xlb_k8s_relists_total");
		xlb_prom_label(p, "resource", v->watch_name[i]);
		xlb_prom_u64(p, v->watch[i].relists);
	}
	xlb_prom_family(p, "xlb_k8s_watch_errors_total", "counter",
			"Failed list or watch requests (each retried after a backoff).");
	for (size_t i = 0; i < v->n_watch; i++) {
		xlb_prom_sample(p, "xlb_k8s_watch_errors_total");
		xlb_prom_label(p, "resource", v->watch_name[i]);
		xlb_prom_u64(p, v->watch[i].errors);
	}
	xlb_prom_family(p, "xlb_k8s_watch_lag_seconds", "gauge",
			"Seconds since the watch last heard from the API server (an event or "
			"a bookmark); grows while a watch is cut. -1 before the first list.");
	for (size_t i = 0; i < v->n_watch; i++) {
		xlb_prom_sample(p, "xlb_k8s_watch_lag_seconds");
		xlb_prom_label(p, "resource", v->watch_name[i]);
		xlb_prom_f64(p, v->watch[i].last_ms ? (double)(now - v->watch[i].last_ms) / 1000.0
						    : -1.0);
	}
	xlb_prom_family(p, "xlb_k8s_rejected_objects_total", "counter",
			"Objects that could not be converted or that xlbd refused.");
	xlb_prom_sample(p, "xlb_k8s_rejected_objects_total");
	xlb_prom_label(p, "kind", "Service");
	xlb_prom_u64(p, v->f.rejected_total[0]);
	xlb_prom_sample(p, "xlb_k8s_rejected_objects_total");
	xlb_prom_label(p, "kind", "EndpointSlice");
	xlb_prom_u64(p, v->f.rejected_total[1]);
	gauge(p, "xlb_k8s_rejected_services", "Services left out of xlbd now.",
	      (double)v->f.rejected_now);
	xlb_prom_family(p, "xlb_k8s_objects", "gauge", "Objects held, by kind.");
	xlb_prom_sample(p, "xlb_k8s_objects");
	xlb_prom_label(p, "kind", "Service");
	xlb_prom_u64(p, v->f.services);
	xlb_prom_sample(p, "xlb_k8s_objects");
	xlb_prom_label(p, "kind", "EndpointSlice");
	xlb_prom_u64(p, v->f.slices);
	gauge(p, "xlb_k8s_endpoints", "Endpoint addresses in the slices held.",
	      (double)v->f.endpoints);
	counter(p, "xlb_k8s_sync_snapshots_total", "Snapshots xlbd acknowledged.",
		v->f.snapshots);
	counter(p, "xlb_k8s_sync_deltas_total", "Delta batches xlbd acknowledged.", v->f.deltas);
	counter(p, "xlb_k8s_sync_errors_total", "Sync streams that failed (xlbd unreachable).",
		v->f.sync_errors);
	gauge(p, "xlb_k8s_xlbd_connected", "1 when the last Sync was answered.",
	      v->f.connected ? 1 : 0);
	xlb_hist_render(&xlb_feeder_latency, p, "xlb_k8s_sync_latency_seconds",
			"From the watch event that changed a Service to xlbd's acknowledgement "
			"(the datapath has it).", NULL, NULL);
	xlb_prom_family(p, "xlb_k8s_node_info", "gauge", "This node, as its Node object says.");
	xlb_prom_sample(p, "xlb_k8s_node_info");
	xlb_prom_label(p, "node", v->node);
	xlb_prom_label(p, "zone", v->zone);
	xlb_prom_u64(p, 1);
}

static bool ready(const struct xlb_feeder_view *v, char *why, size_t len)
{
	for (size_t i = 0; i < v->n_watch; i++)
		if (!v->watch[i].synced) {
			snprintf(why, len, "not ready: %s not listed yet\n", v->watch_name[i]);
			return false;
		}
	if (!v->f.connected) {
		snprintf(why, len, "not ready: xlbd not in step\n");
		return false;
	}
	snprintf(why, len, "ok\n");
	return true;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int code, char *body,
			     size_t len, const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_len, void **state)
{
	struct xlb_fmetrics *m = cls;
	struct xlb_feeder_view v;
	char *text, why[128];
	struct xlb_prom p;
	size_t len;
	bool ok;

	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, strdup("405 method not allowed\n"), 24,
			     "text/plain");
	pthread_mutex_lock(&m->lock);
	v = m->v;
	pthread_mutex_unlock(&m->lock);
	if (!strcmp(url, "/metrics")) {
		xlb_prom_init(&p);
		render(&v, &p);
		if (xlb_prom_finish(&p, &text, &len))
			return MHD_NO;
		return reply(c, MHD_HTTP_OK, text, len, XLB_PROM_CONTENT_TYPE);
	}
	if (!strcmp(url, "/healthz") || !strcmp(url, "/livez")) {
		ok = v.turn_ms && (uint64_t)xlb_clock_ms() - v.turn_ms < STALL_MS;
		snprintf(why, sizeof(why), ok ? "ok\n" : "main loop stalled\n");
	} else if (!strcmp(url, "/readyz")) {
		ok = ready(&v, why, sizeof(why));
	} else {
		snprintf(why, sizeof(why), "404 page not found: try /metrics, /healthz, /readyz\n");
		text = strdup(why);
		return reply(c, MHD_HTTP_NOT_FOUND, text, text ? strlen(text) : 0, "text/plain");
	}
	text = strdup(why);
	return reply(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, text,
		     text ? strlen(text) : 0, "text/plain");
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	xlb_vlog(XLB_LOG_WARN, "metrics", fmt, ap);
}

int xlb_fmetrics_start(const char *listen, struct xlb_fmetrics **out, char *err,
		       size_t errlen)
{
	struct xlb_listener l;
	struct xlb_fmetrics *m;
	int ret;

	ret = xlb_listen_tcp(listen, "metrics", false, &l, err, errlen);
	if (ret)
		return ret;
	m = calloc(1, sizeof(*m));
	if (!m) {
		close(l.fd);
		return -ENOMEM;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
				  (l.v6 ? MHD_USE_IPv6 : 0),
				  0, NULL, NULL, on_request, m,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,	/* first: for all */
				  MHD_OPTION_LISTEN_SOCKET, l.fd,
				  MHD_OPTION_CONNECTION_LIMIT, 16u,
				  MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (!m->mhd) {
		snprintf(err, errlen, "metrics listen %s: libmicrohttpd would not start", listen);
		close(l.fd);
		pthread_mutex_destroy(&m->lock);
		free(m);
		return -EIO;
	}
	*out = m;
	return 0;
}

void xlb_fmetrics_publish(struct xlb_fmetrics *m, const struct xlb_feeder_view *v)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->v = *v;
	pthread_mutex_unlock(&m->lock);
}

void xlb_fmetrics_stop(struct xlb_fmetrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->mhd);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
