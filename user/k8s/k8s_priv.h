/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared by the manifest reader's files; not an interface. */
#ifndef XLB_K8S_PRIV_H
#define XLB_K8S_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "k8s/manifest.h"
#include "k8s/doctree.h"
#include "util/htab.h"

/* Kubernetes' own limits (EndpointSlice validation), enforced here too so
 * one slice costs a bounded amount of work. */
#define K8S_MAX_SLICE_ENDPOINTS	1000
#define K8S_MAX_SLICE_ADDRESSES	100
#define K8S_MAX_SLICE_PORTS	100
#define K8S_MAX_AFFINITY_TIMEOUT 86400
#define K8S_SERVICE_NAME_LABEL	"kubernetes.io/service-name"
#define K8S_MAX_NAME		63	/* port names: DNS labels */

/* One port of a Service object: one xlb service. */
struct k8s_port {
	struct xlb_service_spec spec;
	char name[K8S_MAX_NAME + 1];	/* "" when unnamed */
	unsigned int line;		/* the ports[] entry */
};

struct k8s_weight {
	struct xlb_ip addr;
	uint32_t weight;
	bool used;
};

/* One Service object, converted: its ports without endpoints yet. */
struct xlb_k8s_service {
	char *key;		/* "NAMESPACE/NAME" */
	unsigned int line;
	struct k8s_port *ports;
	size_t n_ports;
	struct xlb_health_spec *hc;	/* NULL: none */
	struct k8s_weight *weights;	/* sorted by address */
	size_t n_weights;
	unsigned int weights_line;
	bool publish_not_ready;		/* every endpoint counts as ready */
};

struct k8s_slice_port {
	char name[K8S_MAX_NAME + 1];
	uint8_t proto;		/* 0: SCTP, matches no service port */
	uint32_t port;		/* 0: none given, the port is not served */
};

/* One address of an endpoint as a slice keeps it until a join: 44 bytes
 * (a model endpoint is 352; a feeder holds every endpoint of the cluster).
 * Its strings are offsets into the slice's string table, 0 for "". */
struct k8s_ep {
	struct xlb_ip addr;
	uint32_t line;
	uint32_t name;		/* targetRef.name */
	uint32_t node_name;
	uint32_t zone;
	uint32_t hints;		/* hints.forZones names, comma-separated */
	bool ready, serving, terminating;
};
_Static_assert(sizeof(struct k8s_ep) == 44, "struct k8s_ep: 44 bytes");

/* One EndpointSlice object, converted. */
struct xlb_k8s_slice {
	char *key;		/* "NAMESPACE/NAME" of the slice */
	char *svc;		/* "NAMESPACE/NAME" of its Service */
	unsigned int line;
	struct k8s_slice_port *ports;
	size_t n_ports;
	struct k8s_ep *ep;
	size_t n_ep;
	/* "" at 0, then the endpoints' strings, each node name, zone and
	 * hints value once (they repeat across endpoints), NUL-terminated. */
	char *strs;
	size_t strs_len;
};

struct k8s_ctx {
	const struct xlb_k8s_opts *opts;	/* NULL: defaults */
	const char *file;
	char *err;
	size_t errlen;
	char obj[200];		/* "Service default/web": prefixes messages */
	struct xlb_k8s_result *out;	/* warnings (and services, for a manifest) */
	bool warn_full;
	/* The manifest reader's: every object of the input. */
	size_t svcs_cap;
	struct xlb_k8s_service **svcs;	/* Service objects, in input order */
	size_t n_svc, svc_cap;
	struct xlb_k8s_slice **slices;
	size_t n_slices, slice_cap;
	struct xlb_htab by_key;	/* "NAMESPACE/NAME" -> index + 1 into svcs */
	struct xlb_htab skipped; /* "NAMESPACE/NAME" -> its key (malloc'd) */
};

int k8s_fail(struct k8s_ctx *c, unsigned int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int k8s_warn(struct k8s_ctx *c, unsigned int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int k8s_nomem(struct k8s_ctx *c);

/* Typed access. k8s_field() treats a null value as absent. The others fail
 * with "LINE: OBJ: what: ..." when the node is not of the type. */
const struct k8s_node *k8s_field(const struct k8s_node *map, const char *key);
int k8s_want_map(struct k8s_ctx *c, const struct k8s_node *n, const char *what);
int k8s_want_seq(struct k8s_ctx *c, const struct k8s_node *n, const char *what);
int k8s_str(struct k8s_ctx *c, const struct k8s_node *n, const char *what, const char **s);
int k8s_int(struct k8s_ctx *c, const struct k8s_node *n, const char *what, int64_t min,
	    int64_t max, int64_t *v);
int k8s_bool(struct k8s_ctx *c, const struct k8s_node *n, const char *what, bool *v);
/* A string into a fixed model field: too long or control characters fail. */
int k8s_copy(struct k8s_ctx *c, const struct k8s_node *n, const char *what, char *dst,
	     size_t size);
/* metadata.name (required) and metadata.namespace ("default"). */
int k8s_meta(struct k8s_ctx *c, const struct k8s_node *doc, const char *kind, const char **ns,
	     const char **name);

/* The converters: 0 and *out, or 0 and NULL when the object is skipped
 * (with a warning), or an error. */
int k8s_service(struct k8s_ctx *c, const struct k8s_node *doc, struct xlb_k8s_service **out);
int k8s_slice(struct k8s_ctx *c, const struct k8s_node *doc, struct xlb_k8s_slice **out);
void k8s_service_free(struct xlb_k8s_service *o);
void k8s_slice_free(struct xlb_k8s_slice *sl);
/* The Service's xlb services (one per port) with the endpoints of its
 * slices, each validated: out has room for svc->n_ports. */
int k8s_join(struct k8s_ctx *c, const struct xlb_k8s_service *svc,
	     struct xlb_k8s_slice *const *sl, size_t n_sl, struct xlb_svc_desired *out);

/* Annotation values. 0, or -EINVAL / -ERANGE with why set to the reason. */
int k8s_parse_duration_ms(const char *s, uint32_t *ms, const char **why);
int k8s_parse_uint(const char *s, uint32_t max, uint32_t *v);
int k8s_parse_weights(const char *s, struct k8s_weight **w, size_t *n, char *why,
		      size_t whylen);
int k8s_parse_health_check(const char *s, struct xlb_health_spec *hc, char *why,
			   size_t whylen);
const struct k8s_weight *k8s_weight_find(const struct xlb_k8s_service *svc, const struct xlb_ip *ip);

#endif /* XLB_K8S_PRIV_H */
