// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The manifest reader's frame: documents and Lists, typed field access with
 * messages that carry the line and the object, and the checks that need the
 * whole input (weights, validation, uniqueness). Services are read first
 * and EndpointSlices second, so their order in the input does not matter.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/k8s_priv.h"

#define DEFAULT_FILE "<input>"

static void vformat(struct k8s_ctx *c, char *buf, size_t size, unsigned int line,
		    const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void vformat(struct k8s_ctx *c, char *buf, size_t size, unsigned int line,
		    const char *fmt, va_list ap)
{
	int n;

	if (!c->file)		/* one object (object.h): no file, no line */
		n = snprintf(buf, size, "%s%s", c->obj, c->obj[0] ? ": " : "");
	else if (line)
		n = snprintf(buf, size, "%s:%u: %s%s", c->file, line, c->obj,
			     c->obj[0] ? ": " : "");
	else
		n = snprintf(buf, size, "%s: %s%s", c->file, c->obj, c->obj[0] ? ": " : "");
	if (n >= 0 && (size_t)n < size)
		vsnprintf(buf + n, size - (size_t)n, fmt, ap);
}

int k8s_fail(struct k8s_ctx *c, unsigned int line, const char *fmt, ...)
{
	va_list ap;

	if (c->err && c->errlen) {
		va_start(ap, fmt);
		vformat(c, c->err, c->errlen, line, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int k8s_nomem(struct k8s_ctx *c)
{
	if (c->err && c->errlen)
		snprintf(c->err, c->errlen, "%s: out of memory", c->file ? c->file : c->obj);
	return -ENOMEM;
}

int k8s_warn(struct k8s_ctx *c, unsigned int line, const char *fmt, ...)
{
	struct xlb_k8s_result *r = c->out;
	char buf[512], **v, *w;
	va_list ap;

	if (c->warn_full)
		return 0;
	if (r->n_warnings == XLB_K8S_MAX_WARNINGS) {
		snprintf(buf, sizeof(buf), "%s: more than %d warnings, the rest not shown",
			 c->file ? c->file : "input", XLB_K8S_MAX_WARNINGS);
		c->warn_full = true;
	} else {
		va_start(ap, fmt);
		vformat(c, buf, sizeof(buf), line, fmt, ap);
		va_end(ap);
	}
	w = strdup(buf);
	v = realloc(r->warnings, (r->n_warnings + 1) * sizeof(*v));
	if (!w || !v) {
		free(w);
		if (v)
			r->warnings = v;
		return k8s_nomem(c);
	}
	r->warnings = v;
	r->warnings[r->n_warnings++] = w;
	return 0;
}

const struct k8s_node *k8s_field(const struct k8s_node *map, const char *key)
{
	const struct k8s_node *n = k8s_map_get(map, key);

	return k8s_node_is_null(n) ? NULL : n;
}

static const char *type_name(const struct k8s_node *n)
{
	switch (n->type) {
	case K8S_NODE_MAP:
		return "a mapping";
	case K8S_NODE_SEQ:
		return "a list";
	default:
		return "a scalar";
	}
}

int k8s_want_map(struct k8s_ctx *c, const struct k8s_node *n, const char *what)
{
	if (n->type != K8S_NODE_MAP)
		return k8s_fail(c, n->line, "%s: expected a mapping, got %s", what, type_name(n));
	return 0;
}

int k8s_want_seq(struct k8s_ctx *c, const struct k8s_node *n, const char *what)
{
	if (n->type != K8S_NODE_SEQ)
		return k8s_fail(c, n->line, "%s: expected a list, got %s", what, type_name(n));
	return 0;
}

/* Any scalar reads as a string (a plain 8080 too: annotation values are
 * often written unquoted). */
int k8s_str(struct k8s_ctx *c, const struct k8s_node *n, const char *what, const char **s)
{
	if (n->type != K8S_NODE_SCALAR)
		return k8s_fail(c, n->line, "%s: expected a string, got %s", what, type_name(n));
	if (memchr(n->str, '\0', n->len))
		return k8s_fail(c, n->line, "%s: contains a NUL character", what);
	*s = n->str;
	return 0;
}

/* Decimal, as Kubernetes' integer fields: a quoted "80" is a string. */
int k8s_int(struct k8s_ctx *c, const struct k8s_node *n, const char *what, int64_t min,
	    int64_t max, int64_t *v)
{
	const char *p;
	char text[32];
	bool neg = false;
	int64_t x = 0;
	int digits = 0;

	if (n->type != K8S_NODE_SCALAR || !n->plain)
		return k8s_fail(c, n->line, "%s: expected an integer, got %s", what,
				n->type == K8S_NODE_SCALAR ? "a string" : type_name(n));
	p = n->str;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	for (; *p >= '0' && *p <= '9'; p++, digits++)
		if (digits < 18)
			x = x * 10 + (*p - '0');
	if (!digits || *p || (size_t)(p - n->str) != n->len)
		return k8s_fail(c, n->line, "%s: \"%s\" is not an integer", what,
				k8s_node_text(n, text, sizeof(text)));
	/* YAML 1.1, which Kubernetes' decoder speaks, reads 010 as 8. */
	if (digits > 1 && p[-digits] == '0')
		return k8s_fail(c, n->line, "%s: \"%s\": leading zero (octal in YAML 1.1)", what,
				k8s_node_text(n, text, sizeof(text)));
	if (neg)
		x = -x;
	if (digits > 18 || x < min || x > max)
		return k8s_fail(c, n->line, "%s: %s out of range (%" PRId64 "..%" PRId64 ")",
				what, k8s_node_text(n, text, sizeof(text)), min, max);
	*v = x;
	return 0;
}

/* YAML 1.1 booleans, as the YAML decoder Kubernetes uses reads them. */
int k8s_bool(struct k8s_ctx *c, const struct k8s_node *n, const char *what, bool *v)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES",
					   "on", "On", "ON" };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO",
					  "off", "Off", "OFF" };
	char text[32];

	if (n->type == K8S_NODE_SCALAR && n->plain) {
		for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
			if (!strcmp(n->str, yes[i])) {
				*v = true;
				return 0;
			}
			if (!strcmp(n->str, no[i])) {
				*v = false;
				return 0;
			}
		}
	}
	if (n->type != K8S_NODE_SCALAR)
		return k8s_fail(c, n->line, "%s: expected true or false, got %s", what,
				type_name(n));
	return k8s_fail(c, n->line, "%s: \"%s\": expected true or false", what,
			k8s_node_text(n, text, sizeof(text)));
}

int k8s_copy(struct k8s_ctx *c, const struct k8s_node *n, const char *what, char *dst,
	     size_t size)
{
	const char *s;
	int ret = k8s_str(c, n, what, &s);

	if (ret)
		return ret;
	if (n->len >= size)
		return k8s_fail(c, n->line, "%s: longer than %zu bytes", what, size - 1);
	for (size_t i = 0; i < n->len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return k8s_fail(c, n->line, "%s: control character", what);
	memcpy(dst, s, n->len + 1);
	return 0;
}

/* Names end up in messages and in the model: no control characters. */
static int name_str(struct k8s_ctx *c, const struct k8s_node *n, const char *what, const char **s)
{
	int ret = k8s_str(c, n, what, s);

	if (ret)
		return ret;
	if (!n->len)
		return k8s_fail(c, n->line, "%s: empty", what);
	for (size_t i = 0; i < n->len; i++)
		if ((unsigned char)n->str[i] < 0x20 || n->str[i] == 0x7f || n->str[i] == '/')
			return k8s_fail(c, n->line, "%s: control character or '/'", what);
	return 0;
}

int k8s_meta(struct k8s_ctx *c, const struct k8s_node *doc, const char *kind, const char **ns,
	     const char **name)
{
	const struct k8s_node *meta = k8s_field(doc, "metadata"), *n;
	int ret;

	snprintf(c->obj, sizeof(c->obj), "%s", kind);
	if (!meta)
		return k8s_fail(c, doc->line, "metadata: required");
	ret = k8s_want_map(c, meta, "metadata");
	if (ret)
		return ret;
	n = k8s_field(meta, "name");
	if (!n)
		return k8s_fail(c, meta->line, "metadata.name: required");
	ret = name_str(c, n, "metadata.name", name);
	if (ret)
		return ret;
	*ns = "default";
	n = k8s_field(meta, "namespace");
	if (n) {
		ret = name_str(c, n, "metadata.namespace", ns);
		if (ret)
			return ret;
	}
	snprintf(c->obj, sizeof(c->obj), "%s %.80s/%.80s", kind, *ns, *name);
	return 0;
}

static bool obj_key(char *key, size_t size, const char *ns, const char *name)
{
	return (size_t)snprintf(key, size, "%s/%s", ns, name) < size;
}

/* A string from the input, cut and with control characters shown as '?'. */
static const char *printable(char *buf, size_t size, const char *s)
{
	snprintf(buf, size, "%s", s);
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return buf;
}

/* Index + 1 into c->svcs, or 0. */
static size_t svc_find(struct k8s_ctx *c, const char *key)
{
	return (uintptr_t)xlb_htab_get(&c->by_key, key, strlen(key));
}

static int svc_skip(struct k8s_ctx *c, const char *ns, const char *name)
{
	char key[512], *k;

	if (!obj_key(key, sizeof(key), ns, name) || xlb_htab_get(&c->skipped, key, strlen(key)))
		return 0;
	k = strdup(key);
	if (!k || xlb_htab_put(&c->skipped, k, strlen(k), k)) {
		free(k);
		return k8s_nomem(c);
	}
	return 0;
}

static int add_service(struct k8s_ctx *c, const struct k8s_node *doc)
{
	struct xlb_k8s_service *o;
	const char *ns, *name;
	size_t dup;
	int ret;

	ret = k8s_meta(c, doc, "Service", &ns, &name);
	if (ret)
		return ret;
	ret = k8s_service(c, doc, &o);
	if (ret)
		return ret;
	if (!o)
		return svc_skip(c, ns, name);
	if ((dup = svc_find(c, o->key))) {
		ret = k8s_fail(c, doc->line, "also defined at line %u", c->svcs[dup - 1]->line);
		k8s_service_free(o);
		return ret;
	}
	if (c->n_svc == c->svc_cap) {
		size_t cap = c->svc_cap ? 2 * c->svc_cap : 8;
		struct xlb_k8s_service **v = realloc(c->svcs, cap * sizeof(*v));

		if (!v) {
			k8s_service_free(o);
			return k8s_nomem(c);
		}
		c->svcs = v;
		c->svc_cap = cap;
	}
	c->svcs[c->n_svc] = o;
	if (xlb_htab_put(&c->by_key, o->key, strlen(o->key), (void *)(uintptr_t)(c->n_svc + 1))) {
		k8s_service_free(o);
		return k8s_nomem(c);
	}
	c->n_svc++;
	return 0;
}

static int add_slice(struct k8s_ctx *c, const struct k8s_node *doc)
{
	struct xlb_k8s_slice *sl;
	char text[64];
	int ret;

	ret = k8s_slice(c, doc, &sl);
	if (ret || !sl)
		return ret;
	if (!svc_find(c, sl->svc)) {
		if (!xlb_htab_get(&c->skipped, sl->svc, strlen(sl->svc)))
			ret = k8s_warn(c, doc->line, "Service %s not in the input, skipped",
				       printable(text, sizeof(text), sl->svc));
		k8s_slice_free(sl);
		return ret;
	}
	if (c->n_slices == c->slice_cap) {
		size_t cap = c->slice_cap ? 2 * c->slice_cap : 8;
		struct xlb_k8s_slice **v = realloc(c->slices, cap * sizeof(*v));

		if (!v) {
			k8s_slice_free(sl);
			return k8s_nomem(c);
		}
		c->slices = v;
		c->slice_cap = cap;
	}
	c->slices[c->n_slices++] = sl;
	return 0;
}

/* Kinds whose documents are lists of objects, and what their items are
 * when an item does not say (the API server's ServiceList omits it). */
static const struct {
	const char *kind, *item_kind, *item_api;
} list_kinds[] = {
	{ "List", NULL, NULL },
	{ "ServiceList", "Service", "v1" },
	{ "EndpointSliceList", "EndpointSlice", "discovery.k8s.io/v1" },
};

static int kind_of(struct k8s_ctx *c, const struct k8s_node *obj, const char *dkind,
		   const char *dapi, const char **kind, const char **api)
{
	const struct k8s_node *n;
	int ret;

	*kind = dkind;
	*api = dapi;
	n = k8s_field(obj, "kind");
	if (n && (ret = k8s_str(c, n, "kind", kind)))
		return ret;
	n = k8s_field(obj, "apiVersion");
	if (n && (ret = k8s_str(c, n, "apiVersion", api)))
		return ret;
	if (!*kind || !**kind)
		return k8s_fail(c, obj->line, "kind: required");
	if (!*api || !**api)
		return k8s_fail(c, obj->line, "apiVersion: required");
	return 0;
}

enum pass { PASS_SERVICES, PASS_SLICES };

static int visit(struct k8s_ctx *c, const struct k8s_node *obj, const char *dkind,
		 const char *dapi, enum pass pass, bool in_list)
{
	const struct k8s_node *items, *item;
	const char *kind, *api;
	char what[48], text[64], api_text[64];
	int ret;

	c->obj[0] = '\0';
	ret = kind_of(c, obj, dkind, dapi, &kind, &api);
	if (ret)
		return ret;
	for (size_t k = 0; k < sizeof(list_kinds) / sizeof(list_kinds[0]); k++) {
		if (strcmp(kind, list_kinds[k].kind))
			continue;
		if (in_list)	/* one level, so aliases cannot multiply the work */
			return pass ? 0 : k8s_warn(c, obj->line, "kind %s inside a List skipped",
						   kind);
		items = k8s_field(obj, "items");
		if (!items)
			return 0;
		ret = k8s_want_seq(c, items, "items");
		for (size_t i = 0; !ret && i < items->n; i++) {
			item = items->items[i];
			snprintf(what, sizeof(what), "items[%zu]", i);
			ret = k8s_want_map(c, item, what);
			if (!ret)
				ret = visit(c, item, list_kinds[k].item_kind,
					    list_kinds[k].item_api, pass, true);
		}
		return ret;
	}
	if (!strcmp(kind, "Service") && !strcmp(api, "v1"))
		return pass == PASS_SERVICES ? add_service(c, obj) : 0;
	if (!strcmp(kind, "EndpointSlice") && !strcmp(api, "discovery.k8s.io/v1"))
		return pass == PASS_SLICES ? add_slice(c, obj) : 0;
	if (pass != PASS_SERVICES)
		return 0;
	printable(text, sizeof(text), kind);
	if (!strcmp(kind, "Service") || !strcmp(kind, "EndpointSlice"))
		return k8s_warn(c, obj->line, "kind %s of apiVersion %s skipped", text,
				printable(api_text, sizeof(api_text), api));
	return k8s_warn(c, obj->line, "kind %s skipped", text);
}

static int walk(struct k8s_ctx *c, const struct k8s_doc *t, enum pass pass)
{
	for (size_t i = 0; i < t->n_docs; i++) {
		const struct k8s_node *doc = t->docs[i];
		int ret;

		if (k8s_node_is_null(doc))		/* "---" with nothing, comments only */
			continue;
		c->obj[0] = '\0';
		if (doc->type != K8S_NODE_MAP)
			return k8s_fail(c, doc->line, "document is %s, not a mapping",
					type_name(doc));
		ret = visit(c, doc, NULL, NULL, pass, false);
		if (ret)
			return ret;
	}
	return 0;
}

/* Each Service with its slices (in input order), one xlb service per port
 * appended to out->svcs in input order; lines[] gets each one's port line. */
static int join_all(struct k8s_ctx *c, unsigned int **lines)
{
	struct xlb_k8s_result *r = c->out;
	size_t total = 0, *first, *owner;
	struct xlb_k8s_slice **by_svc;
	int ret = 0;

	for (size_t i = 0; i < c->n_svc; i++)
		total += c->svcs[i]->n_ports;
	if (!total)
		return 0;
	r->svcs = calloc(total, sizeof(*r->svcs));
	*lines = calloc(total ? total : 1, sizeof(**lines));
	first = calloc(c->n_svc + 1, sizeof(*first));
	owner = calloc(c->n_slices ? c->n_slices : 1, sizeof(*owner));
	by_svc = calloc(c->n_slices ? c->n_slices : 1, sizeof(*by_svc));
	if (!r->svcs || !*lines || !first || !owner || !by_svc) {
		ret = k8s_nomem(c);
		goto out;
	}
	/* Counting sort of the slices by their Service, stable. */
	for (size_t k = 0; k < c->n_slices; k++) {
		owner[k] = svc_find(c, c->slices[k]->svc) - 1;
		first[owner[k] + 1]++;
	}
	for (size_t i = 0; i < c->n_svc; i++)
		first[i + 1] += first[i];
	/* Place each slice, counting its Service's start up, then shift back. */
	for (size_t k = 0; k < c->n_slices; k++)
		by_svc[first[owner[k]]++] = c->slices[k];
	memmove(first + 1, first, c->n_svc * sizeof(*first));
	first[0] = 0;
	for (size_t i = 0; !ret && i < c->n_svc; i++) {
		const struct xlb_k8s_service *o = c->svcs[i];

		ret = k8s_join(c, o, by_svc + first[i], first[i + 1] - first[i],
			       r->svcs + r->n_svcs);
		for (size_t j = 0; !ret && j < o->n_ports; j++)
			(*lines)[r->n_svcs++] = o->ports[j].line;
	}
out:
	free(first);
	free(owner);
	free(by_svc);
	return ret;
}

struct port_ref {
	const struct xlb_service_spec *spec;
	unsigned int line;
};

static int cmp_u32(uint32_t a, uint32_t b)
{
	return (a > b) - (a < b);
}

static int name_cmp(const struct port_ref *x, const struct port_ref *y)
{
	return strcmp(x->spec->name, y->spec->name);
}

static int vip_cmp(const struct port_ref *x, const struct port_ref *y)
{
	const struct xlb_service_spec *a = x->spec, *b = y->spec;
	int r = cmp_u32(a->vip.family, b->vip.family);

	if (!r)
		r = memcmp(a->vip.addr.a8, b->vip.addr.a8, sizeof(a->vip.addr.a8));
	if (!r)
		r = cmp_u32(a->port, b->port);
	return r ? r : cmp_u32(a->proto, b->proto);
}

static int node_port_cmp(const struct port_ref *x, const struct port_ref *y)
{
	int r = cmp_u32(x->spec->node_port, y->spec->node_port);

	return r ? r : cmp_u32(x->spec->proto, y->spec->proto);
}

/* Equal keys in input order, so a message names the later one. */
#define SORT_CMP(fn, cmp)                                                  \
	static int fn(const void *a, const void *b)                        \
	{                                                                  \
		const struct port_ref *x = a, *y = b;                      \
		int r = cmp(x, y);                                         \
									   \
		return r ? r : cmp_u32(x->line, y->line);                  \
	}
SORT_CMP(sort_name, name_cmp)
SORT_CMP(sort_vip, vip_cmp)
SORT_CMP(sort_node_port, node_port_cmp)

/* The index of the later of the first two equal keys, or 0. */
static size_t find_dup(struct port_ref *v, size_t n, int (*sort)(const void *, const void *),
		       int (*cmp)(const struct port_ref *x, const struct port_ref *y))
{
	qsort(v, n, sizeof(*v), sort);
	for (size_t i = 1; i < n; i++)
		if (!cmp(&v[i], &v[i - 1]) && (cmp != node_port_cmp || v[i].spec->node_port))
			return i;
	return 0;
}

/* What the store would refuse later (xlb_state_upsert), refused here with
 * both lines. Sorted, so n log n for any number of ports. */
static int check_unique(struct k8s_ctx *c, const unsigned int *lines)
{
	size_t n = c->out->n_svcs, k = 0, i;
	const struct xlb_service_spec *a, *b;
	struct port_ref *v;
	char ip[XLB_IP_STRLEN];
	int ret = 0;

	if (n < 2)
		return 0;
	v = calloc(n, sizeof(*v));
	if (!v)
		return k8s_nomem(c);
	for (; k < n; k++)
		v[k] = (struct port_ref){ &c->out->svcs[k].spec, lines[k] };
	c->obj[0] = '\0';
	if ((i = find_dup(v, k, sort_name, name_cmp))) {
		ret = k8s_fail(c, v[i].line, "service %s: also defined at line %u",
			       v[i].spec->name, v[i - 1].line);
	} else if ((i = find_dup(v, k, sort_vip, vip_cmp))) {
		a = v[i].spec;
		b = v[i - 1].spec;
		ret = k8s_fail(c, v[i].line, "service %s: %s port %u/%s already used by %s (line %u)",
			       a->name, xlb_ip_str(&a->vip, ip, sizeof(ip)), a->port,
			       xlb_proto_name(a->proto), b->name, v[i - 1].line);
	} else if ((i = find_dup(v, k, sort_node_port, node_port_cmp))) {
		a = v[i].spec;
		b = v[i - 1].spec;
		ret = k8s_fail(c, v[i].line, "service %s: nodePort %u/%s already used by %s (line %u)",
			       a->name, a->node_port, xlb_proto_name(a->proto), b->name,
			       v[i - 1].line);
	}
	free(v);
	return ret;
}

static void ctx_free(struct k8s_ctx *c)
{
	char *k;

	for (size_t i = 0; i < c->n_svc; i++)
		k8s_service_free(c->svcs[i]);
	free(c->svcs);
	for (size_t i = 0; i < c->n_slices; i++)
		k8s_slice_free(c->slices[i]);
	free(c->slices);
	xlb_htab_fini(&c->by_key);
	for (size_t pos = 0; (k = xlb_htab_next(&c->skipped, &pos));)
		free(k);
	xlb_htab_fini(&c->skipped);
}

static int parse(const char *buf, size_t len, const char *filename, bool json,
		 struct xlb_k8s_result *out, char *err, size_t errlen)
{
	struct k8s_ctx c = {
		.file = filename ? filename : DEFAULT_FILE,
		.err = err,
		.errlen = errlen,
		.out = out,
	};
	struct k8s_doc t;
	unsigned int line, *lines = NULL;
	char msg[256];
	int ret;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	xlb_htab_init(&c.by_key);
	xlb_htab_init(&c.skipped);
	if (json)
		ret = k8s_doc_parse_json(buf, len, &t, &line, msg, sizeof(msg));
	else
		ret = k8s_doc_parse_yaml(buf, len, &t, &line, msg, sizeof(msg));
	if (ret) {
		if (ret == -ENOMEM)
			return k8s_nomem(&c);
		return k8s_fail(&c, line, "%s", msg);
	}
	ret = walk(&c, &t, PASS_SERVICES);
	if (!ret)
		ret = walk(&c, &t, PASS_SLICES);
	if (!ret)
		ret = join_all(&c, &lines);
	if (!ret)
		ret = check_unique(&c, lines);
	free(lines);
	ctx_free(&c);
	k8s_doc_free(&t);
	if (ret)
		xlb_k8s_result_free(out);
	return ret;
}

int xlb_k8s_parse(const char *buf, size_t len, const char *filename,
		  struct xlb_k8s_result *out, char *err, size_t errlen)
{
	return parse(buf, len, filename, false, out, err, errlen);
}

int xlb_k8s_parse_json(const char *buf, size_t len, const char *filename,
		       struct xlb_k8s_result *out, char *err, size_t errlen)
{
	return parse(buf, len, filename, true, out, err, errlen);
}

void xlb_k8s_result_free(struct xlb_k8s_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_svcs; i++)
		xlb_svc_free(&r->svcs[i]);
	free(r->svcs);
	for (size_t i = 0; i < r->n_warnings; i++)
		free(r->warnings[i]);
	free(r->warnings);
	memset(r, 0, sizeof(*r));
}
