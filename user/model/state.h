/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Desired state: the services a controller asked for, by name, with their
 * endpoints and health checks. Pure data, no kernel calls.
 *
 * A service is validated once, where it comes in (xlb_svc_validate: convert/
 * for the API, the state file and the journal; the core for a new set of
 * endpoints; k8s/ for manifests); the state takes valid services and checks
 * only what depends on the others: addresses and node ports in use. A batch is applied in place inside a
 * transaction that remembers what each step displaced: rolled back, the
 * state is exactly what it was; committed, only then is the displaced data
 * freed. So a bad request changes nothing and a good one costs the size of
 * the change, not of the state. The version increases with every committed
 * change.
 */
#ifndef XLB_STATE_H
#define XLB_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define XLB_MAX_ENDPOINTS XLB_MAX_BACKENDS_PER_SVC
#define XLB_HC_MAX_ARGS 16

enum xlb_hc_kind {
	XLB_HC_NONE = 0,
	XLB_HC_TCP = 1,
	XLB_HC_HTTP = 2,
	XLB_HC_EXEC = 3,
};

/* Kubernetes readiness-probe parameters; 0 fields take the defaults
 * (period 10 s, timeout 1 s, success 1, failure 3, initial delay 0). */
struct xlb_health_spec {
	enum xlb_hc_kind kind;
	char http_path[256];
	char http_host[256];
	char expect_body[256];
	uint32_t port;			/* 0: the endpoint's port */
	uint32_t argc;
	char argv[XLB_HC_MAX_ARGS][256];
	uint32_t period_ms;
	uint32_t timeout_ms;
	uint32_t success_threshold;
	uint32_t failure_threshold;
	uint32_t initial_delay_ms;
};

struct xlb_endpoint {
	struct xlb_ip addr;
	uint32_t port;
	uint32_t weight;		/* 0 = drain */
	bool ready;
	bool serving;
	bool terminating;
	char name[64];
	char node_name[128];		/* EndpointSlice nodeName; "" unknown */
	char zone[64];
	char hints[64];			/* hints.forZones names, comma-separated */
};

#define XLB_NODE_MAX_ADDRS 8

/* This node as a controller describes it (its Kubernetes Node). */
struct xlb_node_info {
	char name[128];			/* as EndpointSlices' nodeName gives it */
	char zone[64];			/* label topology.kubernetes.io/zone; "" none */
	struct xlb_ip addrs[XLB_NODE_MAX_ADDRS];	/* status.addresses */
	uint32_t n_addrs;
};

/* A service as a controller asked for it. hc, ep and spec.addrs are
 * malloc'd and owned (xlb_svc_free, xlb_svc_copy). hc is NULL for a service
 * without a health check, the common case (a health spec costs ~5 KiB), as
 * spec.addrs is for one without LoadBalancer or external IPs and source
 * ranges (~700 bytes). */
struct xlb_svc_desired {
	struct xlb_service_spec spec;	/* spec.name is the key */
	struct xlb_health_spec *hc;	/* NULL: no health check */
	size_t n_ep;
	struct xlb_endpoint *ep;
};

/* The kind of s's health check, XLB_HC_NONE without one. */
static inline enum xlb_hc_kind xlb_svc_hc_kind(const struct xlb_svc_desired *s)
{
	return s->hc ? s->hc->kind : XLB_HC_NONE;
}

struct xlb_state;

struct xlb_state *xlb_state_new(void);
void xlb_state_free(struct xlb_state *st);
struct xlb_state *xlb_state_clone(const struct xlb_state *st);

/* Validate one service on its own (spec, endpoints, health check): the
 * model's rules, in one place. */
int xlb_svc_validate(const struct xlb_svc_desired *s, char *err, size_t errlen);

/* Insert or replace by name a service that passed xlb_svc_validate.
 * Checks that no other service holds the same (cluster IP, port, protocol)
 * or node port (-EEXIST). Copies everything. */
int xlb_state_upsert(struct xlb_state *st, const struct xlb_svc_desired *s,
		     char *err, size_t errlen);
int xlb_state_delete(struct xlb_state *st, const char *name, char *err, size_t errlen);
void xlb_state_clear(struct xlb_state *st);

const struct xlb_svc_desired *xlb_state_get(const struct xlb_state *st, const char *name);
/* The service holding spec's (cluster IP, port, protocol), or NULL. */
const struct xlb_svc_desired *xlb_state_get_by_addr(const struct xlb_state *st,
						    const struct xlb_service_spec *spec);
size_t xlb_state_count(const struct xlb_state *st);
size_t xlb_state_endpoint_count(const struct xlb_state *st);
/* In name order; a non-zero return from cb stops and is returned. */
int xlb_state_foreach(const struct xlb_state *st,
		      int (*cb)(const struct xlb_svc_desired *s, void *arg), void *arg);
uint64_t xlb_state_version(const struct xlb_state *st);
void xlb_state_set_version(struct xlb_state *st, uint64_t v);

/*
 * A transaction: upserts and deletes applied to st in place, each checked
 * as xlb_state_upsert / xlb_state_delete do, against the state as the
 * previous steps left it. Nothing else may change st until commit or
 * rollback. The version is not touched (the caller sets it); rollback
 * restores it with everything else.
 */
struct xlb_state_op;

struct xlb_state_txn {
	struct xlb_state *st;
	uint64_t version;		/* at begin */
	struct xlb_state_op *op;	/* in the order applied */
	size_t n, cap;
};

void xlb_state_txn_begin(struct xlb_state_txn *t, struct xlb_state *st);
int xlb_state_txn_upsert(struct xlb_state_txn *t, const struct xlb_svc_desired *s,
			 char *err, size_t errlen);
int xlb_state_txn_delete(struct xlb_state_txn *t, const char *name, char *err, size_t errlen);
/* Step i: the service before it (NULL: created) and after (NULL: deleted);
 * valid until commit or rollback. */
size_t xlb_state_txn_count(const struct xlb_state_txn *t);
void xlb_state_txn_op(const struct xlb_state_txn *t, size_t i,
		      const struct xlb_svc_desired **before, const struct xlb_svc_desired **after);
void xlb_state_txn_commit(struct xlb_state_txn *t);
void xlb_state_txn_rollback(struct xlb_state_txn *t);

/* Same spec, health check (by what its fields mean) and endpoints (in the
 * same order). */
bool xlb_svc_equal(const struct xlb_svc_desired *a, const struct xlb_svc_desired *b);
void xlb_svc_free(struct xlb_svc_desired *s);	/* frees s->ep and s->hc */
int xlb_svc_copy(struct xlb_svc_desired *dst, const struct xlb_svc_desired *src);
/* s's health check becomes a copy of hc (NULL or kind NONE: none), in
 * place of any it had. 0 or -ENOMEM (then s is unchanged). */
int xlb_svc_set_hc(struct xlb_svc_desired *s, const struct xlb_health_spec *hc);

struct xlb_verdicts;

/* Backends for the datapath. An endpoint is used for new flows when ready
 * and usable by its health verdict (model/verdicts.h; v NULL: no health
 * checking); it drains (existing flows only) when terminating or not ready
 * but still present; it is left out when unusable (its flows are reset).
 * When no endpoint is ready and usable, the serving ones that are
 * terminating take new flows instead (KEP-1669, as kube-proxy does: better
 * a pod on its way out than no answer). An endpoint whose nodeName is
 * node is local (node NULL or "": none is); the local ones get the same
 * rule among themselves, for traffic only they serve (traffic policy
 * Local). Returns the count written to out (room for s->n_ep). */
size_t xlb_svc_backends(const struct xlb_svc_desired *s, const struct xlb_verdicts *v,
			const char *node, struct xlb_backend_spec *out);

/* Topology-aware routing as kube-proxy does it (pkg/proxy/topology.go:
 * canUseTopology, CategorizeEndpoints): when zone is set, every ready
 * endpoint has zone hints (hints.forZones) and one at least is hinted for
 * zone, the ready endpoints not hinted for zone take no new cluster-wide
 * flows (out[i].terminating); traffic only local endpoints serve (policy
 * Local) is not filtered. Otherwise nothing changes. out: what
 * xlb_svc_backends wrote for s with v, n entries. Returns how many were
 * left to other zones. */
size_t xlb_svc_topology(const struct xlb_svc_desired *s, const struct xlb_verdicts *v,
			const char *zone, struct xlb_backend_spec *out, size_t n);

/* The addresses of s's ready local endpoints (nodeName node, not
 * terminating, weight > 0, usable by their health verdict), added to the
 * n in addrs (room for cap) unless there already: what kube-proxy's
 * health-check node port counts (terminating ones do not count, even where
 * they still take flows). Returns the new count. */
size_t xlb_svc_local_ready(const struct xlb_svc_desired *s, const struct xlb_verdicts *v,
			   const char *node, struct xlb_ip *addrs, size_t n, size_t cap);

#endif /* XLB_STATE_H */
