// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* get services, get endpoints: ListServices as tables, JSON or YAML. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/output_doc.h"
#include "ctl/output_table.h"

/* Also top's HEALTH column. */
const char *ctl_health_summary(const Xlb__V1__ServiceStatus *s, char *buf, size_t len)
{
	static const char *const kinds[] = { "healthy", "unhealthy", "unknown" };
	size_t count[3] = { 0 }, other = 0, o = 0;

	buf[0] = 0;
	for (size_t i = 0; i < s->n_endpoints; i++) {
		const char *h = s->endpoints[i]->health ? s->endpoints[i]->health : "";
		size_t k;

		for (k = 0; k < 3 && strcmp(h, kinds[k]); k++)
			;
		if (k < 3)
			count[k]++;
		else
			other++;
	}
	for (size_t k = 0; k < 3; k++)
		if (count[k] && o < len)
			o += snprintf(buf + o, len - o, "%s%s=%zu", o ? "," : "", kinds[k], count[k]);
	if (!o && other && o < len)
		o += snprintf(buf + o, len - o, "unchecked");
	if (!o && o < len)
		o += snprintf(buf + o, len - o, "-");
	if (s->panic && o < len)
		snprintf(buf + o, len - o, ",panic");
	return buf;
}

#define EXTERNAL_IP_LEN (2 * 8 * 46 + 16)

/* kubectl's EXTERNAL-IP: the ingress IPs, then the external IPs; a
 * LoadBalancer without either is <pending>, anything else <none>. */
static void external_ips(const Xlb__V1__Service *s, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < s->n_load_balancer_ips + s->n_external_ips && o < len; i++) {
		const char *a = i < s->n_load_balancer_ips ? s->load_balancer_ips[i] :
			       s->external_ips[i - s->n_load_balancer_ips];
		int k = snprintf(buf + o, len - o, "%s%s", o ? "," : "", a);

		if (k > 0)
			o += (size_t)k;
	}
	if (!buf[0])
		snprintf(buf, len, "%s", s->type == XLB__V1__SERVICE_TYPE__LOAD_BALANCER ?
					  "<pending>" : "<none>");
}

static const char *policy_name(Xlb__V1__TrafficPolicy p)
{
	return p == XLB__V1__TRAFFIC_POLICY__TRAFFIC_POLICY_LOCAL ? "Local" : "Cluster";
}

/* xlb.io/lb-mode; "default": the node's xlbd --lb-mode */
static const char *lb_mode_name(Xlb__V1__LbMode m)
{
	return m == XLB__V1__LB_MODE__LB_MODE_DSR ? "dsr" :
	       m == XLB__V1__LB_MODE__LB_MODE_SNAT ? "snat" : "default";
}

int do_get_services(struct ctl *c)
{
	struct ctl_svc_list l;
	struct table t;
	struct emit *e;

	if (ctl_list_services(c, c->argc ? c->argv[0] : NULL, &l))
		return CTL_FAIL;
	if (ctl_structured(c)) {
		e = ctl_emit_begin(c);
		if (!e)
			goto fail;
		emit_map_begin(e);
		emit_key(e, "services");
		emit_messages(e, (ProtobufCMessage *const *)l.v, l.n);
		emit_map_end(e);
		ctl_svc_list_free(&l);
		return ctl_emit_end(c, e);
	}
	if (!l.n) {
		ctl_svc_list_free(&l);
		fprintf(stderr, "No services.\n");
		return CTL_OK;
	}
	if (c->output == CTL_OUT_WIDE)
		table_init(&t, 14, "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "ALGO",
			   "AFFINITY", "ENDPOINTS", "NODE-PORT", "POLICY", "LB-MODE", "PACKETS",
			   "NEW-FLOWS", "HEALTH");
	else
		table_init(&t, 8, "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "ALGO",
			   "AFFINITY", "ENDPOINTS");
	for (size_t i = 0; i < l.n; i++) {
		const Xlb__V1__ServiceStatus *st = l.v[i];
		const Xlb__V1__Service *s = st->service;
		char port[32], aff[32], eps[32], np[16], pk[24], nf[24], health[96], pol[40];
		char ext[EXTERNAL_IP_LEN];
		size_t ready = 0;

		for (size_t j = 0; j < st->n_endpoints; j++)
			ready += st->endpoints[j]->in_datapath;
		snprintf(port, sizeof(port), "%u/%s", s->port, ctl_proto_name(s->protocol));
		if (s->affinity_timeout_seconds)
			snprintf(aff, sizeof(aff), "ClientIP(%us)", s->affinity_timeout_seconds);
		else
			snprintf(aff, sizeof(aff), "None");
		snprintf(eps, sizeof(eps), "%zu/%zu", ready, st->n_endpoints);
		if (s->node_port)	/* NodePort, LoadBalancer unless it has none */
			snprintf(np, sizeof(np), "%u", s->node_port);
		else
			snprintf(np, sizeof(np), "<none>");
		external_ips(s, ext, sizeof(ext));
		snprintf(pol, sizeof(pol), "%s/%s", policy_name(s->external_traffic_policy),
			 policy_name(s->internal_traffic_policy));
		table_row(&t, s->name, ctl_svc_type_name(s->type), s->cluster_ip, ext, port,
			  ctl_algo_name(s->algorithm), aff, eps, np, pol, lb_mode_name(s->lb_mode),
			  ctl_fmt_u64(st->packets, pk, sizeof(pk)),
			  ctl_fmt_u64(st->new_flows, nf, sizeof(nf)),
			  ctl_health_summary(st, health, sizeof(health)));
	}
	ctl_svc_list_free(&l);
	return ctl_table_end(c, &t);
fail:
	ctl_svc_list_free(&l);
	return CTL_FAIL;
}

static const char *yes_no(bool v)
{
	return v ? "true" : "false";
}

int do_get_endpoints(struct ctl *c)
{
	const Xlb__V1__ServiceStatus *st;
	struct ctl_svc_list l;
	struct table t;
	struct emit *e;
	int rc;

	if (ctl_list_services(c, c->argv[0], &l))
		return CTL_FAIL;
	if (l.n > 1) {
		ctl_err(c, "%s has %zu ports; name one of:", c->argv[0], l.n);
		for (size_t i = 0; i < l.n; i++)
			fprintf(stderr, "  %s\n", l.v[i]->service->name);
		ctl_svc_list_free(&l);
		return CTL_FAIL;
	}
	st = l.v[0];
	if (ctl_structured(c)) {
		e = ctl_emit_begin(c);
		if (!e) {
			ctl_svc_list_free(&l);
			return CTL_FAIL;
		}
		emit_map_begin(e);
		emit_key(e, "service");
		emit_str(e, st->service->name);
		emit_key(e, "endpoints");
		emit_messages(e, (ProtobufCMessage *const *)st->endpoints, st->n_endpoints);
		emit_map_end(e);
		ctl_svc_list_free(&l);
		return ctl_emit_end(c, e);
	}
	if (!st->n_endpoints) {
		fprintf(stderr, "No endpoints for service %s.\n", st->service->name);
		ctl_svc_list_free(&l);
		return CTL_OK;
	}
	if (c->output == CTL_OUT_WIDE)
		table_init(&t, 15, "ADDRESS", "PORT", "WEIGHT", "READY", "TERMINATING", "HEALTH",
			   "IN-DATAPATH", "LAST-PROBE", "LATENCY", "SINCE", "PACKETS", "FLOWS",
			   "SERVING", "BYTES", "NAME");
	else
		table_init(&t, 12, "ADDRESS", "PORT", "WEIGHT", "READY", "TERMINATING", "HEALTH",
			   "IN-DATAPATH", "LAST-PROBE", "LATENCY", "SINCE", "PACKETS", "FLOWS");
	for (size_t i = 0; i < st->n_endpoints; i++) {
		const Xlb__V1__EndpointStatus *es = st->endpoints[i];
		const Xlb__V1__Endpoint *ep = es->endpoint;
		char port[12], w[12], lat[24], since[24], pk[24], fl[24], by[24];
		bool probed = es->last_probe_result && es->last_probe_result[0];

		if (!ep)
			continue;
		snprintf(port, sizeof(port), "%u", ep->port);
		snprintf(w, sizeof(w), "%u", ep->weight_set ? ep->weight : 1);
		table_row(&t, ep->address, port, w, yes_no(ep->ready), yes_no(ep->terminating),
			  es->health, yes_no(es->in_datapath), es->last_probe_result,
			  probed ? ctl_fmt_latency(es->last_probe_latency_us, lat, sizeof(lat)) : "-",
			  ctl_fmt_since(es->last_transition_unix_ms, since, sizeof(since)),
			  ctl_fmt_u64(es->packets, pk, sizeof(pk)),
			  ctl_fmt_u64(es->new_flows, fl, sizeof(fl)), yes_no(ep->serving),
			  ctl_fmt_u64(es->bytes, by, sizeof(by)), ep->name);
	}
	rc = ctl_table_end(c, &t);
	ctl_svc_list_free(&l);
	return rc;
}
