// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * discovery.k8s.io/v1 EndpointSlice to endpoints of the services read
 * before. A slice serves the Service named by its kubernetes.io/service-name
 * label in its namespace; for each Service port, the slice port with the same
 * name and protocol gives the endpoints' (already resolved) port number.
 * Conditions follow the API's nil semantics: ready absent = true, serving
 * absent = ready, terminating absent = false.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/k8s_priv.h"

_Static_assert(XLB_MAX_ENDPOINTS <= UINT16_MAX, "endpoint indexes are 16-bit");

static int slice_ports(struct k8s_ctx *c, struct xlb_k8s_slice *sl, const struct k8s_node *ports)
{
	char what[64], text[32];
	int ret;

	if (!ports)
		return 0;	/* no ports: no port of the service is served */
	ret = k8s_want_seq(c, ports, "ports");
	if (ret)
		return ret;
	if (ports->n > K8S_MAX_SLICE_PORTS)
		return k8s_fail(c, ports->line, "ports: more than %d", K8S_MAX_SLICE_PORTS);
	sl->ports = calloc(ports->n ? ports->n : 1, sizeof(*sl->ports));
	if (!sl->ports)
		return k8s_nomem(c);
	for (size_t i = 0; i < ports->n; i++) {
		const struct k8s_node *p = ports->items[i], *n;
		struct k8s_slice_port *sp = &sl->ports[sl->n_ports++];
		const char *s;
		int64_t v;

		snprintf(what, sizeof(what), "ports[%zu]", i);
		ret = k8s_want_map(c, p, what);
		if (ret)
			return ret;
		n = k8s_field(p, "name");
		snprintf(what, sizeof(what), "ports[%zu].name", i);
		if (n && (ret = k8s_copy(c, n, what, sp->name, sizeof(sp->name))))
			return ret;
		n = k8s_field(p, "port");
		snprintf(what, sizeof(what), "ports[%zu].port", i);
		if (n && (ret = k8s_int(c, n, what, 1, 65535, &v)))
			return ret;
		sp->port = n ? (uint32_t)v : 0;
		sp->proto = IPPROTO_TCP;
		n = k8s_field(p, "protocol");
		snprintf(what, sizeof(what), "ports[%zu].protocol", i);
		if (n && (ret = k8s_str(c, n, what, &s)))
			return ret;
		if (n && !strcmp(s, "UDP"))
			sp->proto = IPPROTO_UDP;
		else if (n && !strcmp(s, "SCTP"))
			sp->proto = 0;
		else if (n && strcmp(s, "TCP"))
			return k8s_fail(c, n->line, "%s: \"%s\": want TCP, UDP or SCTP", what,
					k8s_node_text(n, text, sizeof(text)));
	}
	return 0;
}

static int conditions(struct k8s_ctx *c, const struct k8s_node *e, size_t i,
		      struct xlb_endpoint *ep)
{
	const struct k8s_node *cond = k8s_field(e, "conditions"), *n;
	char what[64];
	int ret;

	ep->ready = true;
	ep->terminating = false;
	if (cond) {
		snprintf(what, sizeof(what), "endpoints[%zu].conditions", i);
		ret = k8s_want_map(c, cond, what);
		if (ret)
			return ret;
	}
	n = k8s_field(cond, "ready");
	snprintf(what, sizeof(what), "endpoints[%zu].conditions.ready", i);
	if (n && (ret = k8s_bool(c, n, what, &ep->ready)))
		return ret;
	ep->serving = ep->ready;
	n = k8s_field(cond, "serving");
	snprintf(what, sizeof(what), "endpoints[%zu].conditions.serving", i);
	if (n && (ret = k8s_bool(c, n, what, &ep->serving)))
		return ret;
	n = k8s_field(cond, "terminating");
	snprintf(what, sizeof(what), "endpoints[%zu].conditions.terminating", i);
	if (n && (ret = k8s_bool(c, n, what, &ep->terminating)))
		return ret;
	return 0;
}

/* nodeName, zone and hints.forZones: where the endpoint is, for traffic
 * policies and topology-aware routing. */
static int placement(struct k8s_ctx *c, const struct k8s_node *e, size_t i,
		     struct xlb_endpoint *ep)
{
	const struct k8s_node *n, *z;
	char what[80];
	size_t off = 0;
	int ret;

	n = k8s_field(e, "nodeName");
	snprintf(what, sizeof(what), "endpoints[%zu].nodeName", i);
	if (n && (ret = k8s_copy(c, n, what, ep->node_name, sizeof(ep->node_name))))
		return ret;
	n = k8s_field(e, "zone");
	snprintf(what, sizeof(what), "endpoints[%zu].zone", i);
	if (n && (ret = k8s_copy(c, n, what, ep->zone, sizeof(ep->zone))))
		return ret;
	z = k8s_field(k8s_field(e, "hints"), "forZones");
	snprintf(what, sizeof(what), "endpoints[%zu].hints.forZones", i);
	if (z && (ret = k8s_want_seq(c, z, what)))
		return ret;
	for (size_t j = 0; z && j < z->n; j++) {
		char name[sizeof(ep->hints)];

		n = k8s_field(z->items[j], "name");
		snprintf(what, sizeof(what), "endpoints[%zu].hints.forZones[%zu].name", i, j);
		if (!n)
			return k8s_fail(c, z->items[j]->line, "%s: required", what);
		ret = k8s_copy(c, n, what, name, sizeof(name));
		if (ret)
			return ret;
		if (!name[0] || strchr(name, ','))
			return k8s_fail(c, n->line, "%s: empty or with a comma", what);
		if (off + strlen(name) + (off ? 1 : 0) >= sizeof(ep->hints)) {
			ep->hints[0] = '\0';	/* no hints: every zone may use it */
			return k8s_warn(c, z->line, "endpoints[%zu].hints: longer than %zu bytes, "
					"ignored", i, sizeof(ep->hints) - 1);
		}
		if (off)
			ep->hints[off++] = ',';
		memcpy(ep->hints + off, name, strlen(name) + 1);
		off += strlen(name);
	}
	return 0;
}

/* The slice's string table while its endpoints are read. A node name, zone
 * or hints value is looked up among the last few distinct ones of its
 * field before it is appended: endpoints share them. */
#define STRTAB_SEEN 8

enum { ST_NODE, ST_ZONE, ST_HINTS, ST_SHARED };

struct strtab {
	char *s;
	size_t len, cap;
	uint32_t seen[ST_SHARED][STRTAB_SEEN];
	size_t n_seen[ST_SHARED];
};

static int strtab_add(struct strtab *t, const char *s, uint32_t *off)
{
	size_t n = strlen(s) + 1;

	*off = 0;
	if (n == 1)
		return 0;
	if (t->len + n > t->cap) {
		size_t cap = t->cap ? t->cap : 256;
		char *v;

		while (cap < t->len + n)
			cap *= 2;
		v = realloc(t->s, cap);
		if (!v)
			return -ENOMEM;
		t->s = v;
		t->cap = cap;
	}
	memcpy(t->s + t->len, s, n);
	*off = (uint32_t)t->len;
	t->len += n;
	return 0;
}

static int strtab_share(struct strtab *t, int field, const char *s, uint32_t *off)
{
	uint32_t *seen = t->seen[field];
	int ret;

	for (size_t i = 0; i < t->n_seen[field]; i++) {
		if (!strcmp(t->s + seen[i], s)) {
			*off = seen[i];
			return 0;
		}
	}
	ret = strtab_add(t, s, off);
	if (!ret && *off && t->n_seen[field] < STRTAB_SEEN)
		seen[t->n_seen[field]++] = *off;
	return ret;
}

/* The parsed endpoint's strings into t, the rest into k. */
static int ep_keep(struct strtab *t, const struct xlb_endpoint *e, struct k8s_ep *k)
{
	memset(k, 0, sizeof(*k));
	k->ready = e->ready;
	k->serving = e->serving;
	k->terminating = e->terminating;
	if (strtab_add(t, e->name, &k->name) ||
	    strtab_share(t, ST_NODE, e->node_name, &k->node_name) ||
	    strtab_share(t, ST_ZONE, e->zone, &k->zone) ||
	    strtab_share(t, ST_HINTS, e->hints, &k->hints))
		return -ENOMEM;
	return 0;
}

/* A kept endpoint back as the model's, on port (weight 1 until the
 * Service's weights are applied). */
static void ep_expand(const struct xlb_k8s_slice *sl, const struct k8s_ep *k, uint32_t port,
		      struct xlb_endpoint *e)
{
	memset(e, 0, sizeof(*e));
	e->addr = k->addr;
	e->port = port;
	e->weight = 1;
	e->ready = k->ready;
	e->serving = k->serving;
	e->terminating = k->terminating;
	snprintf(e->name, sizeof(e->name), "%s", sl->strs + k->name);
	snprintf(e->node_name, sizeof(e->node_name), "%s", sl->strs + k->node_name);
	snprintf(e->zone, sizeof(e->zone), "%s", sl->strs + k->zone);
	snprintf(e->hints, sizeof(e->hints), "%s", sl->strs + k->hints);
}

/* The addresses of endpoint e (its other fields parsed into proto). */
static int ep_addresses(struct k8s_ctx *c, struct xlb_k8s_slice *sl, const struct k8s_node *a,
			size_t i, const struct k8s_ep *proto)
{
	char what[80], text[64];
	int ret;

	for (size_t j = 0; j < a->n; j++) {
		const struct k8s_node *addr = a->items[j];
		struct k8s_ep *ep = &sl->ep[sl->n_ep];
		const char *s;

		snprintf(what, sizeof(what), "endpoints[%zu].addresses[%zu]", i, j);
		ret = k8s_str(c, addr, what, &s);
		if (ret)
			return ret;
		*ep = *proto;
		if (xlb_ip_parse(s, &ep->addr) || ep->addr.family != XLB_AF_INET)
			return k8s_fail(c, addr->line, "%s: \"%s\" is not an IPv4 address",
					what, k8s_node_text(addr, text, sizeof(text)));
		ep->line = addr->line;
		sl->n_ep++;
	}
	return 0;
}

/* Every address of every endpoint, checked whether or not a port of the
 * service matches: a bad slice is bad either way. */
static int slice_endpoints(struct k8s_ctx *c, struct xlb_k8s_slice *sl, const struct k8s_node *eps)
{
	struct strtab t = { 0 };
	size_t total = 0;
	char what[80];
	int ret;

	if (!eps)
		return 0;
	ret = k8s_want_seq(c, eps, "endpoints");
	if (ret)
		return ret;
	if (eps->n > K8S_MAX_SLICE_ENDPOINTS)
		return k8s_fail(c, eps->line, "endpoints: more than %d", K8S_MAX_SLICE_ENDPOINTS);
	for (size_t i = 0; i < eps->n; i++) {
		const struct k8s_node *e = eps->items[i], *a;

		snprintf(what, sizeof(what), "endpoints[%zu]", i);
		ret = k8s_want_map(c, e, what);
		if (ret)
			return ret;
		a = k8s_field(e, "addresses");
		snprintf(what, sizeof(what), "endpoints[%zu].addresses", i);
		if (!a)
			return k8s_fail(c, e->line, "%s: required", what);
		ret = k8s_want_seq(c, a, what);
		if (ret)
			return ret;
		if (!a->n || a->n > K8S_MAX_SLICE_ADDRESSES)
			return k8s_fail(c, a->line, "%s: 1 to %d addresses", what,
					K8S_MAX_SLICE_ADDRESSES);
		total += a->n;
	}
	sl->ep = calloc(total ? total : 1, sizeof(*sl->ep));
	t.cap = 256;
	t.s = malloc(t.cap);
	if (!sl->ep || !t.s) {
		free(t.s);
		return k8s_nomem(c);
	}
	t.s[0] = '\0';		/* offset 0: "", for every empty string */
	t.len = 1;
	for (size_t i = 0; i < eps->n; i++) {
		const struct k8s_node *e = eps->items[i], *n;
		struct xlb_endpoint proto = { .weight = 1 };
		struct k8s_ep kept;

		ret = conditions(c, e, i, &proto);
		if (ret)
			goto out;
		n = k8s_field(e, "targetRef");
		snprintf(what, sizeof(what), "endpoints[%zu].targetRef", i);
		if (n && (ret = k8s_want_map(c, n, what)))
			goto out;
		n = k8s_field(n, "name");
		snprintf(what, sizeof(what), "endpoints[%zu].targetRef.name", i);
		if (n && (ret = k8s_copy(c, n, what, proto.name, sizeof(proto.name))))
			goto out;
		ret = placement(c, e, i, &proto);
		if (!ret && ep_keep(&t, &proto, &kept))
			ret = k8s_nomem(c);
		if (!ret)
			ret = ep_addresses(c, sl, k8s_field(e, "addresses"), i, &kept);
		if (ret)
			goto out;
	}
out:
	/* The table shrunk to what it holds: it lives as long as the slice. */
	sl->strs = ret ? t.s : realloc(t.s, t.len);
	if (!sl->strs)
		sl->strs = t.s;
	sl->strs_len = t.len;
	return ret;
}

/* Ready beats serving beats neither: when an address shows up twice (in two
 * slices while the controller moves it), the livelier entry wins. */
static int rank(const struct xlb_endpoint *e)
{
	return e->ready ? 2 : e->serving ? 1 : 0;
}

static int ep_cmp(const struct xlb_endpoint *a, const struct xlb_endpoint *b)
{
	int r = memcmp(a->addr.addr.a8, b->addr.addr.a8, sizeof(a->addr.addr.a8));

	if (r)
		return r;
	return (a->port > b->port) - (a->port < b->port);
}

/* A slice may repeat addresses many times over (1000 endpoints of 100
 * addresses each): finding duplicates by binary search keeps that cheap. */
struct join_port {
	struct xlb_svc_desired *s;
	size_t ep_cap;
	uint16_t *order;	/* endpoint indexes sorted by (address, port) */
};

static int add_endpoint(struct k8s_ctx *c, struct join_port *kp, const struct xlb_endpoint *e,
			unsigned int line)
{
	struct xlb_svc_desired *s = kp->s;
	size_t lo = 0, hi = s->n_ep;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct xlb_endpoint *o = &s->ep[kp->order[mid]];
		int r = ep_cmp(e, o);

		if (!r) {
			if (rank(e) > rank(o))
				*o = *e;
			return 0;
		}
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (s->n_ep == XLB_MAX_ENDPOINTS)
		return k8s_fail(c, line, "service %s: more than %d endpoints", s->spec.name,
				XLB_MAX_ENDPOINTS);
	if (s->n_ep == kp->ep_cap) {
		size_t cap = kp->ep_cap ? 2 * kp->ep_cap : 8;
		struct xlb_endpoint *v = realloc(s->ep, cap * sizeof(*v));
		uint16_t *order;

		if (!v)
			return k8s_nomem(c);
		s->ep = v;
		order = realloc(kp->order, cap * sizeof(*order));
		if (!order)
			return k8s_nomem(c);
		kp->order = order;
		kp->ep_cap = cap;
	}
	memmove(&kp->order[lo + 1], &kp->order[lo], (s->n_ep - lo) * sizeof(*kp->order));
	kp->order[lo] = (uint16_t)s->n_ep;
	s->ep[s->n_ep++] = *e;
	return 0;
}

/* The Service this slice belongs to: 0 with *svc, or 0 and NULL (with a
 * warning) to skip the slice. */
static int owner(struct k8s_ctx *c, const struct k8s_node *doc, const char **svc)
{
	const struct k8s_node *labels = k8s_field(k8s_map_get(doc, "metadata"), "labels");
	const struct k8s_node *label, *n;
	const char *type;
	char text[64];
	int ret;

	*svc = NULL;
	if (labels && (ret = k8s_want_map(c, labels, "metadata.labels")))
		return ret;
	label = k8s_field(labels, K8S_SERVICE_NAME_LABEL);
	if (!label)
		return k8s_warn(c, doc->line, "no label " K8S_SERVICE_NAME_LABEL ", skipped");
	ret = k8s_str(c, label, "metadata.labels." K8S_SERVICE_NAME_LABEL, svc);
	if (ret)
		return ret;

	n = k8s_field(doc, "addressType");
	if (!n)
		return k8s_fail(c, doc->line, "addressType: required");
	ret = k8s_str(c, n, "addressType", &type);
	if (ret)
		return ret;
	if (!strcmp(type, "IPv6") || !strcmp(type, "FQDN")) {
		*svc = NULL;
		return k8s_warn(c, doc->line, "addressType %s skipped", type);
	}
	if (strcmp(type, "IPv4"))
		return k8s_fail(c, n->line, "addressType: \"%s\": want IPv4, IPv6 or FQDN",
				k8s_node_text(n, text, sizeof(text)));
	return 0;
}

void k8s_slice_free(struct xlb_k8s_slice *sl)
{
	if (!sl)
		return;
	free(sl->key);
	free(sl->svc);
	free(sl->ports);
	free(sl->ep);
	free(sl->strs);
	free(sl);
}

static char *join_key(const char *ns, const char *name)
{
	char *k = malloc(strlen(ns) + strlen(name) + 2);

	if (k)
		sprintf(k, "%s/%s", ns, name);
	return k;
}

int k8s_slice(struct k8s_ctx *c, const struct k8s_node *doc, struct xlb_k8s_slice **out)
{
	struct xlb_k8s_slice *sl;
	const char *ns, *name, *svc;
	int ret;

	*out = NULL;
	ret = k8s_meta(c, doc, "EndpointSlice", &ns, &name);
	if (!ret)
		ret = owner(c, doc, &svc);
	if (ret || !svc)
		return ret;
	sl = calloc(1, sizeof(*sl));
	if (!sl)
		return k8s_nomem(c);
	sl->line = doc->line;
	sl->key = join_key(ns, name);
	sl->svc = join_key(ns, svc);
	if (!sl->key || !sl->svc)
		ret = k8s_nomem(c);
	if (!ret)
		ret = slice_ports(c, sl, k8s_field(doc, "ports"));
	if (!ret)
		ret = slice_endpoints(c, sl, k8s_field(doc, "endpoints"));
	if (ret)
		k8s_slice_free(sl);
	else
		*out = sl;
	return ret;
}

/* Weights by address, then the model's validation. */
static int finish(struct k8s_ctx *c, const struct xlb_k8s_service *o, struct xlb_svc_desired *s)
{
	char msg[256];
	int ret;

	for (size_t j = 0; j < s->n_ep; j++) {
		struct k8s_weight *w = (struct k8s_weight *)k8s_weight_find(o, &s->ep[j].addr);

		if (w) {
			s->ep[j].weight = w->weight;
			w->used = true;
		}
	}
	ret = xlb_svc_validate(s, msg, sizeof(msg));
	if (ret == -ENOMEM)
		return k8s_nomem(c);
	if (ret)
		return k8s_fail(c, o->line, "%s", msg);
	return 0;
}

int k8s_join(struct k8s_ctx *c, const struct xlb_k8s_service *o,
	     struct xlb_k8s_slice *const *sls, size_t n_sl, struct xlb_svc_desired *out)
{
	char ip[XLB_IP_STRLEN];
	int ret = 0;

	snprintf(c->obj, sizeof(c->obj), "Service %s", o->key);
	for (size_t i = 0; i < o->n_weights; i++)
		o->weights[i].used = false;
	for (size_t i = 0; i < o->n_ports; i++) {
		const struct k8s_port *kp = &o->ports[i];
		struct join_port jp = { .s = &out[i] };

		memset(&out[i], 0, sizeof(out[i]));
		if (xlb_service_copy(&out[i].spec, &kp->spec) || xlb_svc_set_hc(&out[i], o->hc))
			ret = k8s_nomem(c);
		for (size_t k = 0; !ret && k < n_sl; k++) {
			const struct xlb_k8s_slice *sl = sls[k];
			const struct k8s_slice_port *sp = NULL;

			for (size_t j = 0; j < sl->n_ports && !sp; j++)
				if (sl->ports[j].proto == kp->spec.proto &&
				    !strcmp(sl->ports[j].name, kp->name))
					sp = &sl->ports[j];
			if (!sp || !sp->port)
				continue;
			for (size_t j = 0; !ret && j < sl->n_ep; j++) {
				struct xlb_endpoint e;

				ep_expand(sl, &sl->ep[j], sp->port, &e);
				if (o->publish_not_ready)	/* as the slice controller reads it */
					e.ready = e.serving = true;
				ret = add_endpoint(c, &jp, &e, sl->ep[j].line);
			}
		}
		free(jp.order);
		if (!ret)
			ret = finish(c, o, &out[i]);
		if (ret) {
			for (size_t j = 0; j <= i; j++)
				xlb_svc_free(&out[j]);
			return ret;
		}
	}
	/* Without a slice nothing could match: not worth a warning. */
	for (size_t i = 0; n_sl && i < o->n_weights; i++) {
		if (o->weights[i].used)
			continue;
		ret = k8s_warn(c, o->weights_line, "xlb.io/backend-weights: %s matches no endpoint",
			       xlb_ip_str(&o->weights[i].addr, ip, sizeof(ip)));
		if (ret) {
			for (size_t j = 0; j < o->n_ports; j++)
				xlb_svc_free(&out[j]);
			return ret;
		}
	}
	return 0;
}
