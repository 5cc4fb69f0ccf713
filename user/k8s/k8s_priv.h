/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared by the manifest reader's files; not an interface. */
#ifndef XLB_K8S_PRIV_H
#define XLB_K8S_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "k8s/manifest.h"
#include "k8s/ytree.h"
#include "util/htab.h"

/* Kubernetes' own limits (EndpointSlice validation), enforced here too so
 * one slice costs a bounded amount of work. */
#define K8S_MAX_SLICE_ENDPOINTS	1000
#define K8S_MAX_SLICE_ADDRESSES	100
#define K8S_MAX_SLICE_PORTS	100
#define K8S_MAX_AFFINITY_TIMEOUT 86400
#define K8S_SERVICE_NAME_LABEL	"kubernetes.io/service-name"

/* One port of a Service object: one xlb service. */
struct k8s_port {
	size_t svc;		/* index into out->svcs */
	const char *name;	/* "" when unnamed; points into the tree */
	uint8_t proto;
	unsigned int line;	/* the ports[] entry */
	size_t ep_cap;
	uint16_t *order;	/* endpoint indexes sorted by (address, port) */
};

struct k8s_weight {
	struct xlb_ip addr;
	uint32_t weight;
	bool used;
};

/* One Service object. */
struct k8s_svc {
	char *key;		/* "NAMESPACE/NAME" */
	unsigned int line;
	struct k8s_port *ports;
	size_t n_ports;
	struct k8s_weight *weights;	/* sorted by address */
	size_t n_weights;
	unsigned int weights_line;
	bool has_slice;
};

struct k8s_ctx {
	const char *file;
	char *err;
	size_t errlen;
	char obj[200];		/* "Service default/web": prefixes messages */
	struct xlb_k8s_result *out;
	size_t svcs_cap;
	struct k8s_svc *svcs;	/* Service objects, in input order */
	size_t n_svc, svc_cap;
	struct xlb_htab by_key;	/* "NAMESPACE/NAME" -> index + 1 into svcs */
	struct xlb_htab skipped; /* "NAMESPACE/NAME" -> its key (malloc'd) */
	bool warn_full;
};

int k8s_fail(struct k8s_ctx *c, unsigned int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int k8s_warn(struct k8s_ctx *c, unsigned int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int k8s_nomem(struct k8s_ctx *c);

/* Typed access. k8s_field() treats a null value as absent. The others fail
 * with "LINE: OBJ: what: ..." when the node is not of the type. */
const struct ynode *k8s_field(const struct ynode *map, const char *key);
int k8s_want_map(struct k8s_ctx *c, const struct ynode *n, const char *what);
int k8s_want_seq(struct k8s_ctx *c, const struct ynode *n, const char *what);
int k8s_str(struct k8s_ctx *c, const struct ynode *n, const char *what, const char **s);
int k8s_int(struct k8s_ctx *c, const struct ynode *n, const char *what, int64_t min,
	    int64_t max, int64_t *v);
int k8s_bool(struct k8s_ctx *c, const struct ynode *n, const char *what, bool *v);
/* A string into a fixed model field: too long or control characters fail. */
int k8s_copy(struct k8s_ctx *c, const struct ynode *n, const char *what, char *dst,
	     size_t size);
/* metadata.name (required) and metadata.namespace ("default"). */
int k8s_meta(struct k8s_ctx *c, const struct ynode *doc, const char *kind, const char **ns,
	     const char **name);
struct k8s_svc *k8s_svc_find(struct k8s_ctx *c, const char *ns, const char *name);
/* Services skipped with a warning: their slices are skipped quietly. */
int k8s_svc_skip(struct k8s_ctx *c, const char *ns, const char *name);
bool k8s_svc_skipped(struct k8s_ctx *c, const char *ns, const char *name);

int k8s_service(struct k8s_ctx *c, const struct ynode *doc);
int k8s_slice(struct k8s_ctx *c, const struct ynode *doc);

/* Annotation values. 0, or -EINVAL / -ERANGE with why set to the reason. */
int k8s_parse_duration_ms(const char *s, uint32_t *ms, const char **why);
int k8s_parse_uint(const char *s, uint32_t max, uint32_t *v);
int k8s_parse_weights(const char *s, struct k8s_weight **w, size_t *n, char *why,
		      size_t whylen);
int k8s_parse_health_check(const char *s, struct xlb_health_spec *hc, char *why,
			   size_t whylen);
const struct k8s_weight *k8s_weight_find(const struct k8s_svc *svc, const struct xlb_ip *ip);

#endif /* XLB_K8S_PRIV_H */
