// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* status (GetStatus) and stats (ListServices' counters + GetStatus'
 * counters by reason). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"
#include "ctl/output_doc.h"
#include "ctl/output_table.h"

static int get_status(struct ctl *c, Xlb__V1__GetStatusResponse **out)
{
	Xlb__V1__GetStatusRequest req = XLB__V1__GET_STATUS_REQUEST__INIT;

	return ctl_call(c, "GetStatus", &req.base, &xlb__v1__get_status_response__descriptor,
			(ProtobufCMessage **)out);
}

static const char *fmt_time(int64_t unix_ms, char *buf, size_t len)
{
	time_t t = (time_t)(unix_ms / 1000);
	struct tm tm;

	if (unix_ms <= 0 || !gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "-");
	return buf;
}

int do_status(struct ctl *c)
{
	Xlb__V1__GetStatusResponse *st;
	char t[32], up[32];
	int w = 0;

	if (get_status(c, &st))
		return CTL_FAIL;
	if (ctl_structured(c))
		return ctl_print_message(c, &st->base);
	printf("dataplane:   %s", st->dataplane && st->dataplane[0] ? st->dataplane : "-");
	if (st->dataplane_reason && st->dataplane_reason[0])
		printf(" (%s)", st->dataplane_reason);
	printf("\ninterfaces:  ");
	for (size_t i = 0; i < st->n_interfaces; i++)
		printf("%s%s", i ? ", " : "", st->interfaces[i]);
	printf("%s\n", st->n_interfaces ? "" : "none");
	if (st->socket_lb && st->socket_lb[0])
		printf("socket LB:   %s\n", st->socket_lb);
	if (st->pod_veths && st->pod_veths[0])
		printf("pod veths:   %s\n", st->pod_veths);
	if (st->health_tcp_probe && st->health_tcp_probe[0])
		printf("tcp probes:  %s\n", st->health_tcp_probe);
	if (st->node && st->node->name && st->node->name[0]) {
		printf("node:        %s", st->node->name);
		if (st->node->zone && st->node->zone[0])
			printf(", zone %s", st->node->zone);
		for (size_t i = 0; i < st->node->n_addresses; i++)
			printf("%s%s", i ? " " : ", addresses ", st->node->addresses[i]);
		printf(" (from the %s)\n", st->node_source && !strcmp(st->node_source, "controller")
						  ? "controller" : "flags");
	}
	printf("services:    %u\n", st->services);
	printf("endpoints:   %u\n", st->endpoints);
	printf("version:     %" PRIu64 "\n", st->version);
	if (st->lost_changes || (st->state_damage && st->state_damage[0]))
		printf("STATE LOST:  %" PRIu64 " acknowledged changes at start: %s\n",
		       st->lost_changes, st->state_damage ? st->state_damage : "");
	printf("xlbd:        %s\n", st->xlbd_version && st->xlbd_version[0] ? st->xlbd_version : "-");
	printf("started:     %s", fmt_time(st->started_unix_ms, t, sizeof(t)));
	if (st->started_unix_ms > 0)
		printf(" (up %s)", ctl_fmt_since(st->started_unix_ms, up, sizeof(up)));
	printf("\ncounters:%s\n", st->n_counters ? "" : "    none");
	for (size_t i = 0; i < st->n_counters; i++) {
		int n = (int)strlen(st->counters[i]->key);

		w = n > w ? n : w;
	}
	for (size_t i = 0; i < st->n_counters; i++)
		printf("  %-*s   %" PRIu64 "\n", w, st->counters[i]->key, st->counters[i]->value);
	xlb__v1__get_status_response__free_unpacked(st, NULL);
	if (fflush(stdout) || ferror(stdout)) {
		ctl_err(c, "output: write error");
		return CTL_FAIL;
	}
	return CTL_OK;
}

static void emit_counters(struct emit *e, uint64_t packets, uint64_t bytes, uint64_t new_flows)
{
	emit_key(e, "packets");
	emit_u64(e, packets);
	emit_key(e, "bytes");
	emit_u64(e, bytes);
	emit_key(e, "new_flows");
	emit_u64(e, new_flows);
}

/* A map<string, uint64> of the status (every such map's entries look alike). */
static void emit_counter_map(struct emit *e, const void *const *v, size_t n)
{
	emit_map_begin(e);
	for (size_t i = 0; i < n; i++) {
		const Xlb__V1__GetStatusResponse__CountersEntry *c = v[i];

		emit_key(e, c->key);
		emit_u64(e, c->value);
	}
	emit_map_end(e);
}

static int counter_table(struct ctl *c, const char *head, const void *const *v, size_t n)
{
	struct table t;
	char num[24];

	table_init(&t, 2, head, "COUNT");
	for (size_t i = 0; i < n; i++) {
		const Xlb__V1__GetStatusResponse__CountersEntry *e = v[i];

		table_row(&t, e->key, ctl_fmt_u64(e->value, num, sizeof(num)));
	}
	return ctl_table_end(c, &t);
}

static int stats_emit(struct ctl *c, const struct ctl_svc_list *l,
		      const Xlb__V1__GetStatusResponse *st)
{
	struct emit *e = ctl_emit_begin(c);

	if (!e)
		return CTL_FAIL;
	emit_map_begin(e);
	emit_key(e, "services");
	emit_seq_begin(e);
	for (size_t i = 0; i < l->n; i++) {
		const Xlb__V1__ServiceStatus *s = l->v[i];

		emit_map_begin(e);
		emit_key(e, "name");
		emit_str(e, s->service->name);
		emit_counters(e, s->packets, s->bytes, s->new_flows);
		emit_key(e, "socket");
		emit_map_begin(e);
		emit_key(e, "connects");
		emit_u64(e, s->socket_connects);
		emit_key(e, "sends");
		emit_u64(e, s->socket_sends);
		emit_key(e, "refused");
		emit_u64(e, s->socket_refused);
		emit_map_end(e);
		emit_key(e, "backends");
		emit_seq_begin(e);
		for (size_t j = 0; j < s->n_endpoints; j++) {
			const Xlb__V1__EndpointStatus *es = s->endpoints[j];

			emit_map_begin(e);
			emit_key(e, "address");
			emit_str(e, es->endpoint ? es->endpoint->address : "");
			emit_key(e, "port");
			emit_u64(e, es->endpoint ? es->endpoint->port : 0);
			emit_counters(e, es->packets, es->bytes, es->new_flows);
			emit_map_end(e);
		}
		emit_seq_end(e);
		emit_map_end(e);
	}
	emit_seq_end(e);
	emit_key(e, "counters");
	emit_counter_map(e, (const void *const *)st->counters, st->n_counters);
	emit_key(e, "socket_counters");
	emit_counter_map(e, (const void *const *)st->socket_counters, st->n_socket_counters);
	emit_key(e, "pod_counters");
	emit_counter_map(e, (const void *const *)st->pod_counters, st->n_pod_counters);
	emit_key(e, "nexthop_flushes");
	emit_u64(e, st->nexthop_flushes);
	emit_map_end(e);
	return ctl_emit_end(c, e);
}

int do_stats(struct ctl *c)
{
	Xlb__V1__GetStatusResponse *st = NULL;
	char pk[24], by[24], nf[24], sk[24], be[64];
	struct ctl_svc_list l;
	struct table t;
	int rc;

	if (ctl_list_services(c, c->argc ? c->argv[0] : NULL, &l))
		return CTL_FAIL;
	if (get_status(c, &st)) {
		ctl_svc_list_free(&l);
		return CTL_FAIL;
	}
	if (ctl_structured(c)) {
		rc = stats_emit(c, &l, st);
		goto out;
	}
	/* SOCKET: connections and datagrams balanced at the socket, which are
	 * no packets of the datapath's (a backend's NEW-FLOWS counts both). */
	table_init(&t, 6, "SERVICE", "BACKEND", "PACKETS", "BYTES", "NEW-FLOWS", "SOCKET");
	for (size_t i = 0; i < l.n; i++) {
		const Xlb__V1__ServiceStatus *s = l.v[i];

		/* The service's own row has backend "*": the sum. */
		table_row(&t, s->service->name, "*", ctl_fmt_u64(s->packets, pk, sizeof(pk)),
			  ctl_fmt_u64(s->bytes, by, sizeof(by)),
			  ctl_fmt_u64(s->new_flows, nf, sizeof(nf)),
			  ctl_fmt_u64(s->socket_connects + s->socket_sends, sk, sizeof(sk)));
		for (size_t j = 0; j < s->n_endpoints; j++) {
			const Xlb__V1__EndpointStatus *es = s->endpoints[j];

			if (!es->endpoint)
				continue;
			snprintf(be, sizeof(be), "%s:%u", es->endpoint->address,
				 es->endpoint->port);
			table_row(&t, s->service->name, be,
				  ctl_fmt_u64(es->packets, pk, sizeof(pk)),
				  ctl_fmt_u64(es->bytes, by, sizeof(by)),
				  ctl_fmt_u64(es->new_flows, nf, sizeof(nf)), "-");
		}
	}
	if (l.n)
		rc = ctl_table_end(c, &t);
	else {
		table_free(&t);
		fprintf(stderr, "No services.\n");
		rc = CTL_OK;
	}
	if (rc)
		goto out;
	printf("\n");
	table_init(&t, 2, "REASON", "PACKETS");
	for (size_t i = 0; i < st->n_counters; i++)
		table_row(&t, st->counters[i]->key,
			  ctl_fmt_u64(st->counters[i]->value, pk, sizeof(pk)));
	rc = ctl_table_end(c, &t);
	if (!rc && st->n_socket_counters) {
		printf("\n");
		rc = counter_table(c, "SOCKET", (const void *const *)st->socket_counters,
				   st->n_socket_counters);
	}
	if (!rc && st->n_pod_counters) {
		printf("\n");
		rc = counter_table(c, "POD-VETHS", (const void *const *)st->pod_counters,
				   st->n_pod_counters);
	}
	if (!rc) {
		/* xlbd's own: cached next hops looked up again after a route,
		 * neighbour or MTU change */
		printf("\n");
		table_init(&t, 2, "XLBD", "COUNT");
		table_row(&t, "nexthop_flushes", ctl_fmt_u64(st->nexthop_flushes, pk, sizeof(pk)));
		rc = ctl_table_end(c, &t);
	}
out:
	xlb__v1__get_status_response__free_unpacked(st, NULL);
	ctl_svc_list_free(&l);
	return rc;
}
