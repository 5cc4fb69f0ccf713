// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The RPCs of xlb.v1.Xlb as functions: request message in, core.h call,
 * response message out. No gRPC here (server.c does the transport).
 *
 * Every string put into a response is malloc'd (or the protobuf-c empty
 * default), so protobuf_c_message_free_unpacked frees a response whole, and
 * every response is made valid UTF-8 before it leaves (a health check's
 * last result may quote a server's bytes; a client that gets bad UTF-8
 * drops the whole stream).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/status.h>

#include "util/errmsg.h"
#include "convert/convert.h"
#include "server_priv.h"
#include "client.h"	/* xlb_api_code_name */
#include "model/conntrack.h"

#define CT_DEFAULT_LIMIT 10000


int xlb_api_status_of(int rc)
{
	switch (rc) {
	case 0:
		return GRPC_STATUS_OK;
	case -EINVAL:
	case -E2BIG:
		return GRPC_STATUS_INVALID_ARGUMENT;
	case -ENOENT:
		return GRPC_STATUS_NOT_FOUND;
	case -EEXIST:
		return GRPC_STATUS_ALREADY_EXISTS;
	case -EPERM:
		return GRPC_STATUS_PERMISSION_DENIED;
	case -EOPNOTSUPP:
		return GRPC_STATUS_UNIMPLEMENTED;
	case -ENOSPC:
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	default:
		return GRPC_STATUS_INTERNAL;
	}
}

/* A core or conversion error as a status; an empty message gets the errno's. */
static int core_fail(int rc, char *err, size_t errlen)
{
	if (err && errlen && !err[0])
		snprintf(err, errlen, "%s", strerror(-rc));
	return xlb_api_status_of(rc);
}

static void *new_msg(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = malloc(d->sizeof_message);

	if (m)
		d->message_init(m);
	return m;
}

/* Grow a repeated field by one slot; the slot is filled by the caller. */
static void **grow(void ***arr, size_t n, size_t *cap)
{
	if (n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		void **a = realloc(*arr, c * sizeof(*a));

		if (!a)
			return NULL;
		*arr = a;
		*cap = c;
	}
	return &(*arr)[n];
}

static int finish(ProtobufCMessage *m, ProtobufCMessage **resp)
{
	xlb_api_sanitize_utf8(m);
	*resp = m;
	return GRPC_STATUS_OK;
}

static int oom(ProtobufCMessage *m, char *err, size_t errlen)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	return xlb_errf(err, errlen, GRPC_STATUS_INTERNAL, "out of memory");
}

/* A batch must not name a service twice: the second would silently win. */
struct name_ix {
	const char *name;
	size_t i;
};

static int by_name(const void *a, const void *b)
{
	const struct name_ix *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->i > y->i) - (x->i < y->i);
}

static int check_unique(const struct xlb_svc_desired *s, size_t n, const char *at,
			char *err, size_t errlen)
{
	struct name_ix *v;
	int ret = 0;

	if (n < 2)
		return 0;
	v = malloc(n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		v[i] = (struct name_ix){ s[i].spec.name, i };
	qsort(v, n, sizeof(*v), by_name);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(v[i].name, v[i - 1].name)) {
			ret = -EINVAL;
			snprintf(err, errlen, "%s[%zu].name: duplicate of %s[%zu] (\"%s\")", at,
				 v[i].i, at, v[i - 1].i, v[i].name);
			break;
		}
	free(v);
	return ret;
}

/* Convert a repeated Service field; *out has n entries (free with
 * free_svcs). */
static int svcs_from_pb(Xlb__V1__Service *const *pb, size_t n, const char *at,
			struct xlb_svc_desired **out, char *err, size_t errlen)
{
	struct xlb_svc_desired *s;
	char path[64];
	int ret = 0;
	size_t i;

	*out = NULL;
	if (!n)
		return 0;
	s = calloc(n, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s[%zu]", at, i);
		ret = xlb_api_service_from_pb_at(pb[i], path, &s[i], err, errlen);
		if (ret)
			break;
	}
	if (!ret)
		ret = check_unique(s, n, at, err, errlen);
	if (ret) {
		for (size_t k = 0; k < i && k < n; k++)
			xlb_svc_free(&s[k]);
		free(s);
		return ret;
	}
	*out = s;
	return 0;
}

static void free_svcs(struct xlb_svc_desired *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		xlb_svc_free(&s[i]);
	free(s);
}

/* --- unary RPCs ------------------------------------------------------------ */

static int h_upsert(const struct xlb_api_ctx *ctx, const ProtobufCMessage *m,
		    ProtobufCMessage **resp, char *err, size_t errlen)
{
	const Xlb__V1__UpsertServiceRequest *req = (const void *)m;
	Xlb__V1__UpsertServiceResponse *r;
	struct xlb_svc_desired s;
	uint64_t version = 0;
	int ret;

	ret = xlb_api_service_from_pb_at(req->service, "service", &s, err, errlen);
	if (ret)
		return core_fail(ret, err, errlen);
	ret = xlb_core_upsert(ctx->core, &s, &version, err, errlen);
	xlb_svc_free(&s);
	if (ret)
		return core_fail(ret, err, errlen);
	r = new_msg(&xlb__v1__upsert_service_response__descriptor);
	if (!r)
		return oom(NULL, err, errlen);
	r->version = version;
	return finish(&r->base, resp);
}

static int check_name(const char *name, const char *field, char *err, size_t errlen)
{
	struct xlb_service_spec sp;

	if (!name[0])
		return xlb_errf(err, errlen, GRPC_STATUS_INVALID_ARGUMENT, "%s: required", field);
	if (strlen(name) >= sizeof(sp.name))
		return xlb_errf(err, errlen, GRPC_STATUS_INVALID_ARGUMENT,
			    "%s: too long (%zu bytes, max %zu)", field, strlen(name),
			    sizeof(sp.name) - 1);
	return GRPC_STATUS_OK;
}

static int h_delete(const struct xlb_api_ctx *ctx, const ProtobufCMessage *m,
		    ProtobufCMessage **resp, char *err, size_t errlen)
{
	const Xlb__V1__DeleteServiceRequest *req = (const void *)m;
	Xlb__V1__DeleteServiceResponse *r;
	uint64_t version = 0;
	int ret;

	if ((ret = check_name(req->name, "name", err, errlen)))
		return ret;
	ret = xlb_core_delete(ctx->core, req->name, &version, err, errlen);
	if (ret)
		return core_fail(ret, err, errlen);
	r = new_msg(&xlb__v1__delete_service_response__descriptor);
	if (!r)
		return oom(NULL, err, errlen);
	r->version = version;
	return finish(&r->base, resp);
}

static int h_set_endpoints(const struct xlb_api_ctx *ctx, const ProtobufCMessage *m,
			   ProtobufCMessage **resp, char *err, size_t errlen)
{
	const Xlb__V1__SetEndpointsRequest *req = (const void *)m;
	Xlb__V1__SetEndpointsResponse *r;
	struct xlb_endpoint *ep;
	uint64_t version = 0;
	int ret;

	if ((ret = check_name(req->service, "service", err, errlen)))
		return ret;
	ret = xlb_api_endpoints_from_pb(req->endpoints, req->n_endpoints, "endpoints", &ep,
					err, errlen);
	if (ret)
		return core_fail(ret, err, errlen);
	ret = xlb_core_set_endpoints(ctx->core, req->service, ep, req->n_endpoints, &version,
				     err, errlen);
	free(ep);
	if (ret)
		return core_fail(ret, err, errlen);
	r = new_msg(&xlb__v1__set_endpoints_response__descriptor);
	if (!r)
		return oom(NULL, err, errlen);
	r->version = version;
	return finish(&r->base, resp);
}

static const char *health_name(enum xlb_ep_health h)
{
	switch (h) {
	case XLB_HEALTH_UNCHECKED:
		return "unchecked";
	case XLB_HEALTH_HEALTHY:
		return "healthy";
	case XLB_HEALTH_UNHEALTHY:
		return "unhealthy";
	default:
		return "unknown";
	}
}

struct list_acc {
	Xlb__V1__ListServicesResponse *r;
	size_t cap;
};

static Xlb__V1__EndpointStatus *ep_status_to_pb(const struct xlb_endpoint_status *e)
{
	Xlb__V1__EndpointStatus *p = new_msg(&xlb__v1__endpoint_status__descriptor);

	if (!p)
		return NULL;
	p->in_datapath = e->in_datapath;
	p->local = e->local;
	p->last_probe_latency_us = e->last_latency_us;
	p->last_transition_unix_ms = e->last_transition_ms;
	p->packets = e->packets;
	p->bytes = e->bytes;
	p->new_flows = e->new_flows;
	p->endpoint = xlb_api_endpoint_to_pb(&e->ep);
	if (!p->endpoint || !xlb_pb_set_str(&p->health, health_name(e->health), SIZE_MAX) ||
	    !xlb_pb_set_str(&p->last_probe_result, e->last_result, sizeof(e->last_result))) {
		protobuf_c_message_free_unpacked(&p->base, NULL);
		return NULL;
	}
	return p;
}

static int list_cb(const struct xlb_service_status *st, void *arg)
{
	struct list_acc *a = arg;
	Xlb__V1__ServiceStatus *p, **slot;

	slot = (Xlb__V1__ServiceStatus **)grow((void ***)&a->r->services, a->r->n_services,
						&a->cap);
	if (!slot)
		return -ENOMEM;
	p = new_msg(&xlb__v1__service_status__descriptor);
	if (!p)
		return -ENOMEM;
	*slot = p;
	a->r->n_services++;
	p->packets = st->packets;
	p->bytes = st->bytes;
	p->new_flows = st->new_flows;
	p->panic = st->panic;
	p->socket_connects = st->sock.connects;
	p->socket_sends = st->sock.sends;
	p->socket_refused = st->sock.refused;
	p->service = xlb_api_service_to_pb(&st->svc);
	if (!p->service)
		return -ENOMEM;
	if (st->n_eps) {
		p->endpoints = calloc(st->n_eps, sizeof(*p->endpoints));
		if (!p->endpoints)
			return -ENOMEM;
		for (size_t i = 0; i < st->n_eps; i++) {
			p->endpoints[i] = ep_status_to_pb(&st->eps[i]);
			if (!p->endpoints[i])
				return -ENOMEM;
			p->n_endpoints = i + 1;
		}
	}
	return 0;
}

static int h_list(const struct xlb_api_ctx *ctx, const ProtobufCMessage *m,
		  ProtobufCMessage **resp, char *err, size_t errlen)
{
	const Xlb__V1__ListServicesRequest *req = (const void *)m;
	struct list_acc a = { .r = new_msg(&xlb__v1__list_services_response__descriptor) };
	int ret;

	if (!a.r)
		return oom(NULL, err, errlen);
	ret = xlb_core_list(ctx->core, req->name, list_cb, &a);
	if (ret == -ENOMEM)
		return oom(&a.r->base, err, errlen);
	if (ret) {
		protobuf_c_message_free_unpacked(&a.r->base, NULL);
		if (ret == -ENOENT)
			return xlb_errf(err, errlen, GRPC_STATUS_NOT_FOUND, "service %s: not found",
				    req->name);
		return xlb_errf(err, errlen, xlb_api_status_of(ret), "list services: %s",
			    strerror(-ret));
	}
	return finish(&a.r->base, resp);
}

/* A map<string, uint64> of the status from names and values. Every such
 * map's entry message has this layout; desc says which one it is. */
static bool status_map(void *field, size_t *n_out, const ProtobufCMessageDescriptor *desc,
		       const uint64_t *v, int n, const char *(*name)(int i))
{
	Xlb__V1__GetStatusResponse__CountersEntry ***out = field;

	*out = calloc(n, sizeof(**out));
	if (!*out)
		return false;
	for (int i = 0; i < n; i++) {
		Xlb__V1__GetStatusResponse__CountersEntry *e = new_msg(desc);

		if (!e)
			return false;
		(*out)[(*n_out)++] = e;
		e->value = v[i];
		if (!xlb_pb_set_str(&e->key, name(i), SIZE_MAX))
			return false;
	}
	return true;
}

static const char *sock_stat_name(int i)
{
	return xlb_sock_stat_info(i)->name;
}

static const char *pod_stat_name(int i)
{
	return xlb_pod_stat_info(i)->name;
}

/* The hooks of the node's and its pods' traffic, in a line each. */
static bool status_hooks(Xlb__V1__GetStatusResponse *r, const struct xlb_core_status *st)
{
	const struct xlb_hooks_info *h = &st->hooks;
	char buf[400];

	if (!st->have_hooks)
		return true;
	if (h->sock_cgroup[0])
		snprintf(buf, sizeof(buf), "cgroup %s", h->sock_cgroup);
	else
		snprintf(buf, sizeof(buf), "off: %s", h->sock_loaded ? "not attached" : h->sock_why);
	if (!xlb_pb_set_str(&r->socket_lb, buf, SIZE_MAX))
		return false;
	if (!h->pod_loaded)
		snprintf(buf, sizeof(buf), "off: %s", h->pod_why);
	else
		snprintf(buf, sizeof(buf), "%s%s%u interfaces", h->pod_mode,
			 h->pod_mode[0] ? ": " : "", h->n_pod_ifaces);
	if (!xlb_pb_set_str(&r->pod_veths, buf, SIZE_MAX))
		return false;
	return status_map(&r->socket_counters, &r->n_socket_counters,
			  &xlb__v1__get_status_response__socket_counters_entry__descriptor,
			  st->sock_counters, XLB_SOCK_STAT_MAX, sock_stat_name) &&
	       status_map(&r->pod_counters, &r->n_pod_counters,
			  &xlb__v1__get_status_response__pod_counters_entry__descriptor,
			  st->pod_counters, XLB_POD_STAT_MAX, pod_stat_name);
}

static int h_status(const struct xlb_api_ctx *ctx, const ProtobufCMessage *m,
		    ProtobufCMessage **resp, char *err, size_t errlen)
{
	Xlb__V1__GetStatusResponse *r;
	struct xlb_core_status *st;
	size_t n;
	int ret;

	st = calloc(1, sizeof(*st));
	r = new_msg(&xlb__v1__get_status_response__descriptor);
	if (!st || !r) {
		free(st);
		free(r);
		return oom(NULL, err, errlen);
	}
	ret = xlb_core_status(ctx->core, st);
	if (ret) {
		free(st);
		free(r);
		return xlb_errf(err, errlen, xlb_api_status_of(ret), "status: %s", strerror(-ret));
	}
	r->services = st->services;
	r->endpoints = st->endpoints;
	r->version = st->version;
	r->started_unix_ms = st->started_ms;
	r->lost_changes = st->lost_changes;
	r->nexthop_flushes = st->nexthop_flushes;
	if (!xlb_pb_set_str(&r->dataplane, st->dataplane, sizeof(st->dataplane)) ||
	    !xlb_pb_set_str(&r->state_damage, st->damage, sizeof(st->damage)) ||
	    !xlb_pb_set_str(&r->dataplane_reason, st->dataplane_reason,
			    sizeof(st->dataplane_reason)) ||
	    !xlb_pb_set_str(&r->health_tcp_probe, st->health_tcp_probe,
			    sizeof(st->health_tcp_probe)) ||
	    !xlb_pb_set_str(&r->xlbd_version, ctx->version ? ctx->version : "unknown", SIZE_MAX) ||
	    !xlb_pb_set_str(&r->node_source, st->node_source, sizeof(st->node_source)) ||
	    !(r->node = xlb_api_node_to_pb(&st->node)))
		goto nomem;
	n = sizeof(st->interfaces) / sizeof(st->interfaces[0]);
	if (!xlb_pb_set_strs(&r->interfaces, &r->n_interfaces, st->interfaces[0],
			     sizeof(st->interfaces[0]), st->n_interfaces < n ? st->n_interfaces : n))
		goto nomem;
	if (!status_map(&r->counters, &r->n_counters,
			&xlb__v1__get_status_response__counters_entry__descriptor, st->counters,
			XLB_STAT_MAX, xlb_stat_name) ||
	    !status_hooks(r, st))
		goto nomem;
	free(st);
	return finish(&r->base, resp);
nomem:
	free(st);
	return oom(&r->base, err, errlen);
}

struct ct_acc {
	Xlb__V1__ListConntrackResponse *r;
	size_t cap;
	uint32_t limit;
};

static bool addr_port(char **dst, const struct xlb_addr *a, uint8_t family, uint16_t port_be)
{
	struct xlb_ip ip = { .family = family, .addr = *a };
	char s[XLB_IP_PORT_STRLEN];

	return xlb_pb_set_str(dst, xlb_ip_port_str(&ip, ntohs(port_be), s, sizeof(s)), SIZE_MAX);
}

static const char *ct_state_name(uint8_t s)
{
	static const char *const n[] = { "new", "established", "closing", "closed" };

	return s < sizeof(n) / sizeof(n[0]) ? n[s] : "unknown";
}

static int ct_cb(const struct xlb_ct_entry *e, void *arg)
{
	struct ct_acc *a = arg;
	Xlb__V1__ConntrackEntry *p, **slot;

	if (a->r->n_entries == a->limit) {
		a->r->truncated = true;
		return 1;
	}
	slot = (Xlb__V1__ConntrackEntry **)grow((void ***)&a->r->entries, a->r->n_entries,
						 &a->cap);
	if (!slot)
		return -ENOMEM;
	p = new_msg(&xlb__v1__conntrack_entry__descriptor);
	if (!p)
		return -ENOMEM;
	*slot = p;
	a->r->n_entries++;
	p->service_id = e->svc_id;
	p->backend_id = e->backend_id;
	p->age_seconds = e->age;
	p->idle_seconds = e->idle;
	if (!xlb_pb_set_str(&p->protocol, xlb_proto_name(e->proto), SIZE_MAX) ||
	    !xlb_pb_set_str(&p->direction, e->dir == XLB_CT_REV ? "rev" : "fwd", SIZE_MAX) ||
	    !addr_port(&p->source, &e->src.addr, e->src.family, htons(e->sport)) ||
	    !addr_port(&p->destination, &e->dst.addr, e->dst.family, htons(e->dport)) ||
	    !xlb_pb_set_str(&p->state, ct_state_name(e->state), SIZE_MAX))
		return -ENOMEM;
	return 0;
}

static int h_ct_list(const struct xlb_api_ctx *ctx, const ProtobufCMessage *m,
		     ProtobufCMessage **resp, char *err, size_t errlen)
{
	const Xlb__V1__ListConntrackRequest *req = (const void *)m;
	struct ct_acc a = {
		.r = new_msg(&xlb__v1__list_conntrack_response__descriptor),
		.limit = req->limit ? req->limit : CT_DEFAULT_LIMIT,
	};
	int ret;

	if (!a.r)
		return oom(NULL, err, errlen);
	/* One more than asked, to tell "exactly limit" from "truncated". */
	ret = xlb_core_ct_list(ctx->core, a.limit == UINT32_MAX ? a.limit : a.limit + 1,
			       ct_cb, &a);
	if (ret == -ENOMEM)
		return oom(&a.r->base, err, errlen);
	if (ret < 0) {
		protobuf_c_message_free_unpacked(&a.r->base, NULL);
		return xlb_errf(err, errlen, xlb_api_status_of(ret), "list conntrack: %s",
			    strerror(-ret));
	}
	return finish(&a.r->base, resp);
}

static int h_ct_flush(const struct xlb_api_ctx *ctx, const ProtobufCMessage *m,
		      ProtobufCMessage **resp, char *err, size_t errlen)
{
	Xlb__V1__FlushConntrackResponse *r;
	uint32_t removed = 0;
	int ret;

	ret = xlb_core_ct_flush(ctx->core, &removed);
	if (ret)
		return xlb_errf(err, errlen, xlb_api_status_of(ret), "flush conntrack: %s",
			    strerror(-ret));
	r = new_msg(&xlb__v1__flush_conntrack_response__descriptor);
	if (!r)
		return oom(NULL, err, errlen);
	r->removed = removed;
	return finish(&r->base, resp);
}

struct backup_acc {
	Xlb__V1__BackupResponse *r;
	size_t cap;
};

static int backup_cb(const struct xlb_svc_desired *s, void *arg)
{
	struct backup_acc *a = arg;
	Xlb__V1__Service **slot;

	slot = (Xlb__V1__Service **)grow((void ***)&a->r->services, a->r->n_services, &a->cap);
	if (!slot)
		return -ENOMEM;
	*slot = xlb_api_service_to_pb(s);
	if (!*slot)
		return -ENOMEM;
	a->r->n_services++;
	return 0;
}

static int h_backup(const struct xlb_api_ctx *ctx, const ProtobufCMessage *m,
		    ProtobufCMessage **resp, char *err, size_t errlen)
{
	struct backup_acc a = { .r = new_msg(&xlb__v1__backup_response__descriptor) };
	int ret;

	if (!a.r)
		return oom(NULL, err, errlen);
	ret = xlb_core_backup(ctx->core, backup_cb, &a, &a.r->version);
	if (ret == -ENOMEM)
		return oom(&a.r->base, err, errlen);
	if (ret) {
		protobuf_c_message_free_unpacked(&a.r->base, NULL);
		return xlb_errf(err, errlen, xlb_api_status_of(ret), "backup: %s", strerror(-ret));
	}
	return finish(&a.r->base, resp);
}

static int h_restore(const struct xlb_api_ctx *ctx, const ProtobufCMessage *m,
		     ProtobufCMessage **resp, char *err, size_t errlen)
{
	const Xlb__V1__RestoreRequest *req = (const void *)m;
	Xlb__V1__RestoreResponse *r;
	struct xlb_svc_desired *s;
	uint64_t version = 0;
	int ret;

	ret = svcs_from_pb(req->services, req->n_services, "services", &s, err, errlen);
	if (ret)
		return core_fail(ret, err, errlen);
	ret = xlb_core_apply(ctx->core, true, s, req->n_services, NULL, 0, &version, err,
			     errlen);
	free_svcs(s, req->n_services);
	if (ret)
		return core_fail(ret, err, errlen);
	r = new_msg(&xlb__v1__restore_response__descriptor);
	if (!r)
		return oom(NULL, err, errlen);
	r->version = version;
	return finish(&r->base, resp);
}

/* --- streams --------------------------------------------------------------- */

static int sync_apply(const struct xlb_api_ctx *ctx, const Xlb__V1__SyncRequest *req,
		      char *err, size_t errlen)
{
	struct xlb_node_info node;
	struct xlb_svc_desired *s;
	char path[32];
	uint64_t version;
	int ret;

	if (req->snapshot && req->n_deletes)
		return xlb_errf(err, errlen, -EINVAL, "deletes: not allowed in a snapshot (%zu given)",
			    req->n_deletes);
	for (size_t i = 0; i < req->n_deletes; i++) {
		snprintf(path, sizeof(path), "deletes[%zu]", i);
		ret = check_name(req->deletes[i] ? req->deletes[i] : "", path, err, errlen);
		if (ret)
			return -EINVAL;
	}
	if (req->node && (ret = xlb_api_node_from_pb(req->node, "node", &node, err, errlen)))
		return ret;
	ret = svcs_from_pb(req->upserts, req->n_upserts, "upserts", &s, err, errlen);
	if (ret)
		return ret;
	/* The node first: the services are placed by it. */
	if (req->node && (ret = xlb_core_set_node(ctx->core, &node))) {
		free_svcs(s, req->n_upserts);
		return xlb_errf(err, errlen, ret, "node: %s", strerror(-ret));
	}
	ret = xlb_core_apply(ctx->core, req->snapshot, s, req->n_upserts,
			     (const char *const *)req->deletes, req->n_deletes, &version, err,
			     errlen);
	free_svcs(s, req->n_upserts);
	return ret;
}

void xlb_api_sync_handle(const struct xlb_api_ctx *ctx, const Xlb__V1__SyncRequest *req,
			 const uint64_t *last_version, Xlb__V1__SyncResponse *resp)
{
	char err[512] = "";
	int ret;

	xlb__v1__sync_response__init(resp);
	resp->version = req->version;
	if (last_version && req->version <= *last_version) {
		snprintf(err, sizeof(err), "version: %llu not greater than the previous %llu",
			 (unsigned long long)req->version, (unsigned long long)*last_version);
		ret = -EINVAL;
	} else {
		ret = sync_apply(ctx, req, err, sizeof(err));
	}
	if (!ret) {
		resp->ok = true;
		resp->applied_services = (uint32_t)(req->n_upserts + req->n_deletes);
		return;
	}
	if (!err[0])
		snprintf(err, sizeof(err), "%s", strerror(-ret));
	/* A SyncResponse has no status of its own: the code leads the text,
	 * as a unary call's status would ("NOT_FOUND: service ... not found"). */
	{
		const char *code = xlb_api_code_name(xlb_api_status_of(ret));
		size_t n = strlen(code) + 2 + strlen(err) + 1;

		resp->error = malloc(n);
		if (resp->error)
			snprintf(resp->error, n, "%s: %s", code, err);
		else
			resp->error = (char *)protobuf_c_empty_string;
	}
	xlb_api_sanitize_utf8(&resp->base);
}

void xlb_api_sync_response_clear(Xlb__V1__SyncResponse *resp)
{
	if (resp->error && resp->error != protobuf_c_empty_string)
		free(resp->error);
	resp->error = (char *)protobuf_c_empty_string;
}

int xlb_api_event_pack(const struct xlb_event *e, uint8_t **buf, size_t *len)
{
	Xlb__V1__Event ev = XLB__V1__EVENT__INIT;
	char svc[sizeof(e->service) + 1], ep[sizeof(e->endpoint) + 1],
		detail[sizeof(e->detail) + 1];
	uint8_t *b;
	size_t n;

	snprintf(svc, sizeof(svc), "%.*s", (int)sizeof(e->service), e->service);
	snprintf(ep, sizeof(ep), "%.*s", (int)sizeof(e->endpoint), e->endpoint);
	snprintf(detail, sizeof(detail), "%.*s", (int)sizeof(e->detail), e->detail);
	xlb_api_fix_utf8(svc);
	xlb_api_fix_utf8(ep);
	xlb_api_fix_utf8(detail);
	ev.kind = (Xlb__V1__Event__Kind)e->kind;
	ev.version = e->version;
	ev.service = svc;
	ev.endpoint = ep;
	ev.detail = detail;
	ev.unix_ms = e->unix_ms;
	n = xlb__v1__event__get_packed_size(&ev);
	b = malloc(n ? n : 1);
	if (!b)
		return -ENOMEM;
	xlb__v1__event__pack(&ev, b);
	*buf = b;
	*len = n;
	return 0;
}

/* Every RPC in service xlb.v1.Xlb; server.c checks this table against the
 * generated descriptor at start. */
static int h_explain(const struct xlb_api_ctx *ctx, const ProtobufCMessage *m,
		     ProtobufCMessage **resp, char *err, size_t errlen)
{
	const Xlb__V1__ExplainRequest *req = (const void *)m;
	struct xlb_explain_req q = { .proto = IPPROTO_TCP };
	Xlb__V1__ExplainResponse *r;
	struct xlb_explain *x;
	char be[XLB_IP_PORT_STRLEN] = "";
	int ret;

	if (req->hook[0] && xlb_explain_hook_parse(req->hook, &q.hook))
		return xlb_errf(err, errlen, GRPC_STATUS_INVALID_ARGUMENT,
				"hook: expected xdp, pod or socket, got '%s'", req->hook);
	q.netns_cookie = req->netns_cookie;
	if ((q.hook != XLB_EXPLAIN_SOCKET || req->source[0]) &&
	    xlb_ip_port_parse(req->source, &q.src, &q.sport))
		return xlb_errf(err, errlen, GRPC_STATUS_INVALID_ARGUMENT,
				"source: expected address:port, got '%s'", req->source);
	if (xlb_ip_port_parse(req->destination, &q.dst, &q.dport))
		return xlb_errf(err, errlen, GRPC_STATUS_INVALID_ARGUMENT,
				"destination: expected address:port, got '%s'", req->destination);
	if (req->protocol[0] && xlb_proto_parse(req->protocol, &q.proto))
		return xlb_errf(err, errlen, GRPC_STATUS_INVALID_ARGUMENT,
				"protocol: expected tcp or udp, got '%s'", req->protocol);
	if (q.hook == XLB_EXPLAIN_SOCKET && !q.netns_cookie)
		return xlb_errf(err, errlen, GRPC_STATUS_INVALID_ARGUMENT,
				"netns_cookie: the socket hook needs the client's network namespace");
	x = malloc(sizeof(*x));
	if (!x)
		return oom(NULL, err, errlen);
	ret = xlb_core_explain(ctx->core, &q, x, err, errlen);
	if (ret) {
		free(x);
		return core_fail(ret, err, errlen);
	}
	r = new_msg(&xlb__v1__explain_response__descriptor);
	if (!r) {
		free(x);
		return oom(NULL, err, errlen);
	}
	r->service = x->service;
	r->via_node_port = x->via_node_port;
	r->service_id = x->svc_id;
	r->slots = x->slots;
	r->sel_base = x->sel_base;
	r->affinity_timeout = x->aff_timeout;
	r->hash = x->hash;
	r->slot = x->slot;
	r->backend_id = x->backend_id;
	if (x->backend_id)
		xlb_ip_port_str(&x->backend, x->backend_port, be, sizeof(be));
	if (!xlb_pb_set_str(&r->kind, xlb_explain_kind_name(x->kind), SIZE_MAX) ||
	    !xlb_pb_set_str(&r->backend, be, SIZE_MAX) ||
	    !xlb_pb_set_str(&r->backend_state,
			    x->backend_id ? xlb_backend_state_name(x->backend_state) : "",
			    SIZE_MAX) ||
	    !xlb_pb_set_str(&r->why, x->why, SIZE_MAX) ||
	    !xlb_pb_set_str(&r->note, x->note, SIZE_MAX)) {
		free(x);
		return oom(&r->base, err, errlen);
	}
	free(x);
	return finish(&r->base, resp);
}

const struct xlb_api_method xlb_api_methods[] = {
	{ "UpsertService", XLB_API_UNARY, &xlb__v1__upsert_service_request__descriptor, h_upsert,
	  true },
	{ "DeleteService", XLB_API_UNARY, &xlb__v1__delete_service_request__descriptor, h_delete,
	  true },
	{ "SetEndpoints", XLB_API_UNARY, &xlb__v1__set_endpoints_request__descriptor,
	  h_set_endpoints, true },
	{ "Sync", XLB_API_BIDI, &xlb__v1__sync_request__descriptor, NULL, true },
	{ "ListServices", XLB_API_UNARY, &xlb__v1__list_services_request__descriptor, h_list, false },
	{ "GetStatus", XLB_API_UNARY, &xlb__v1__get_status_request__descriptor, h_status, false },
	{ "Watch", XLB_API_SERVER_STREAM, &xlb__v1__watch_request__descriptor, NULL, false },
	{ "ListConntrack", XLB_API_UNARY, &xlb__v1__list_conntrack_request__descriptor, h_ct_list,
	  false },
	{ "FlushConntrack", XLB_API_UNARY, &xlb__v1__flush_conntrack_request__descriptor,
	  h_ct_flush, true },
	{ "Backup", XLB_API_UNARY, &xlb__v1__backup_request__descriptor, h_backup, false },
	{ "Restore", XLB_API_UNARY, &xlb__v1__restore_request__descriptor, h_restore, true },
	{ "Explain", XLB_API_UNARY, &xlb__v1__explain_request__descriptor, h_explain, false },
};
const size_t xlb_api_n_methods = sizeof(xlb_api_methods) / sizeof(xlb_api_methods[0]);
