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

	if (line)
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
		snprintf(c->err, c->errlen, "%s: out of memory", c->file);
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
			 c->file, XLB_K8S_MAX_WARNINGS);
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

const struct ynode *k8s_field(const struct ynode *map, const char *key)
{
	const struct ynode *n = ymap_get(map, key);

	return ynode_is_null(n) ? NULL : n;
}

static const char *type_name(const struct ynode *n)
{
	switch (n->type) {
	case YNODE_MAP:
		return "a mapping";
	case YNODE_SEQ:
		return "a list";
	default:
		return "a scalar";
	}
}

int k8s_want_map(struct k8s_ctx *c, const struct ynode *n, const char *what)
{
	if (n->type != YNODE_MAP)
		return k8s_fail(c, n->line, "%s: expected a mapping, got %s", what, type_name(n));
	return 0;
}

int k8s_want_seq(struct k8s_ctx *c, const struct ynode *n, const char *what)
{
	if (n->type != YNODE_SEQ)
		return k8s_fail(c, n->line, "%s: expected a list, got %s", what, type_name(n));
	return 0;
}

/* Any scalar reads as a string (a plain 8080 too: annotation values are
 * often written unquoted). */
int k8s_str(struct k8s_ctx *c, const struct ynode *n, const char *what, const char **s)
{
	if (n->type != YNODE_SCALAR)
		return k8s_fail(c, n->line, "%s: expected a string, got %s", what, type_name(n));
	if (memchr(n->str, '\0', n->len))
		return k8s_fail(c, n->line, "%s: contains a NUL character", what);
	*s = n->str;
	return 0;
}

/* Decimal, as Kubernetes' integer fields: a quoted "80" is a string. */
int k8s_int(struct k8s_ctx *c, const struct ynode *n, const char *what, int64_t min,
	    int64_t max, int64_t *v)
{
	const char *p;
	char text[32];
	bool neg = false;
	int64_t x = 0;
	int digits = 0;

	if (n->type != YNODE_SCALAR || !n->plain)
		return k8s_fail(c, n->line, "%s: expected an integer, got %s", what,
				n->type == YNODE_SCALAR ? "a string" : type_name(n));
	p = n->str;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	for (; *p >= '0' && *p <= '9'; p++, digits++)
		if (digits < 18)
			x = x * 10 + (*p - '0');
	if (!digits || *p || (size_t)(p - n->str) != n->len)
		return k8s_fail(c, n->line, "%s: \"%s\" is not an integer", what,
				ynode_text(n, text, sizeof(text)));
	/* YAML 1.1, which Kubernetes' decoder speaks, reads 010 as 8. */
	if (digits > 1 && p[-digits] == '0')
		return k8s_fail(c, n->line, "%s: \"%s\": leading zero (octal in YAML 1.1)", what,
				ynode_text(n, text, sizeof(text)));
	if (neg)
		x = -x;
	if (digits > 18 || x < min || x > max)
		return k8s_fail(c, n->line, "%s: %s out of range (%" PRId64 "..%" PRId64 ")",
				what, ynode_text(n, text, sizeof(text)), min, max);
	*v = x;
	return 0;
}

/* YAML 1.1 booleans, as the YAML decoder Kubernetes uses reads them. */
int k8s_bool(struct k8s_ctx *c, const struct ynode *n, const char *what, bool *v)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES",
					   "on", "On", "ON" };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO",
					  "off", "Off", "OFF" };
	char text[32];

	if (n->type == YNODE_SCALAR && n->plain) {
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
	if (n->type != YNODE_SCALAR)
		return k8s_fail(c, n->line, "%s: expected true or false, got %s", what,
				type_name(n));
	return k8s_fail(c, n->line, "%s: \"%s\": expected true or false", what,
			ynode_text(n, text, sizeof(text)));
}

int k8s_copy(struct k8s_ctx *c, const struct ynode *n, const char *what, char *dst,
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
static int name_str(struct k8s_ctx *c, const struct ynode *n, const char *what, const char **s)
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

int k8s_meta(struct k8s_ctx *c, const struct ynode *doc, const char *kind, const char **ns,
	     const char **name)
{
	const struct ynode *meta = k8s_field(doc, "metadata"), *n;
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

struct k8s_svc *k8s_svc_find(struct k8s_ctx *c, const char *ns, const char *name)
{
	char key[512];
	uintptr_t i;

	if (!obj_key(key, sizeof(key), ns, name))
		return NULL;
	i = (uintptr_t)xlb_htab_get(&c->by_key, key, strlen(key));
	return i ? &c->svcs[i - 1] : NULL;
}

int k8s_svc_skip(struct k8s_ctx *c, const char *ns, const char *name)
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

bool k8s_svc_skipped(struct k8s_ctx *c, const char *ns, const char *name)
{
	char key[512];

	return obj_key(key, sizeof(key), ns, name) && xlb_htab_get(&c->skipped, key, strlen(key));
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

static int kind_of(struct k8s_ctx *c, const struct ynode *obj, const char *dkind,
		   const char *dapi, const char **kind, const char **api)
{
	const struct ynode *n;
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

/* A string from the input, cut and with control characters shown as '?'. */
static const char *printable(char *buf, size_t size, const char *s)
{
	snprintf(buf, size, "%s", s);
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return buf;
}

enum pass { PASS_SERVICES, PASS_SLICES };

static int visit(struct k8s_ctx *c, const struct ynode *obj, const char *dkind,
		 const char *dapi, enum pass pass, bool in_list)
{
	const struct ynode *items, *item;
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
		return pass == PASS_SERVICES ? k8s_service(c, obj) : 0;
	if (!strcmp(kind, "EndpointSlice") && !strcmp(api, "discovery.k8s.io/v1"))
		return pass == PASS_SLICES ? k8s_slice(c, obj) : 0;
	if (pass != PASS_SERVICES)
		return 0;
	printable(text, sizeof(text), kind);
	if (!strcmp(kind, "Service") || !strcmp(kind, "EndpointSlice"))
		return k8s_warn(c, obj->line, "kind %s of apiVersion %s skipped", text,
				printable(api_text, sizeof(api_text), api));
	return k8s_warn(c, obj->line, "kind %s skipped", text);
}

static int walk(struct k8s_ctx *c, const struct ytree *t, enum pass pass)
{
	for (size_t i = 0; i < t->n_docs; i++) {
		const struct ynode *doc = t->docs[i];
		int ret;

		if (ynode_is_null(doc))		/* "---" with nothing, comments only */
			continue;
		c->obj[0] = '\0';
		if (doc->type != YNODE_MAP)
			return k8s_fail(c, doc->line, "document is %s, not a mapping",
					type_name(doc));
		ret = visit(c, doc, NULL, NULL, pass, false);
		if (ret)
			return ret;
	}
	return 0;
}

/* Weights by address, then every service through the model's validation. */
static int finish_svc(struct k8s_ctx *c, struct k8s_svc *o)
{
	char ip[XLB_IP_STRLEN], msg[256];
	int ret;

	snprintf(c->obj, sizeof(c->obj), "Service %s", o->key);
	for (size_t i = 0; i < o->n_ports; i++) {
		struct xlb_svc_desired *s = &c->out->svcs[o->ports[i].svc];

		for (size_t j = 0; j < s->n_ep; j++) {
			struct k8s_weight *w =
				(struct k8s_weight *)k8s_weight_find(o, &s->ep[j].addr);

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
	}
	/* Without a slice nothing could match: not worth a warning. */
	for (size_t i = 0; o->has_slice && i < o->n_weights; i++) {
		if (o->weights[i].used)
			continue;
		ret = k8s_warn(c, o->weights_line,
			       "xlb.io/backend-weights: %s matches no endpoint",
			       xlb_ip_str(&o->weights[i].addr, ip, sizeof(ip)));
		if (ret)
			return ret;
	}
	return 0;
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
static int check_unique(struct k8s_ctx *c)
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
	for (size_t o = 0; o < c->n_svc; o++)
		for (size_t j = 0; j < c->svcs[o].n_ports; j++)
			v[k++] = (struct port_ref){ &c->out->svcs[c->svcs[o].ports[j].svc].spec,
						    c->svcs[o].ports[j].line };
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

	for (size_t i = 0; i < c->n_svc; i++) {
		for (size_t j = 0; j < c->svcs[i].n_ports; j++)
			free(c->svcs[i].ports[j].order);
		free(c->svcs[i].key);
		free(c->svcs[i].ports);
		free(c->svcs[i].weights);
	}
	free(c->svcs);
	xlb_htab_fini(&c->by_key);
	for (size_t pos = 0; (k = xlb_htab_next(&c->skipped, &pos));)
		free(k);
	xlb_htab_fini(&c->skipped);
}

int xlb_k8s_parse(const char *buf, size_t len, const char *filename,
		  struct xlb_k8s_result *out, char *err, size_t errlen)
{
	struct k8s_ctx c = {
		.file = filename ? filename : DEFAULT_FILE,
		.err = err,
		.errlen = errlen,
		.out = out,
	};
	struct ytree t;
	unsigned int line;
	char msg[256];
	int ret;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	xlb_htab_init(&c.by_key);
	xlb_htab_init(&c.skipped);
	ret = ytree_parse(buf, len, &t, &line, msg, sizeof(msg));
	if (ret) {
		if (ret == -ENOMEM)
			return k8s_nomem(&c);
		return k8s_fail(&c, line, "%s", msg);
	}
	ret = walk(&c, &t, PASS_SERVICES);
	if (!ret)
		ret = walk(&c, &t, PASS_SLICES);
	for (size_t i = 0; !ret && i < c.n_svc; i++)
		ret = finish_svc(&c, &c.svcs[i]);
	if (!ret)
		ret = check_unique(&c);
	ctx_free(&c);
	ytree_free(&t);
	if (ret)
		xlb_k8s_result_free(out);
	return ret;
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
