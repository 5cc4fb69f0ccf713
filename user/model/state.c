// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util/errmsg.h"
#include "state.h"
#include "verdicts.h"
#include "util/htab.h"

struct node {
	struct xlb_svc_desired s;
	struct xlb_svc_ident vk;
	uint32_t np_key;	/* proto << 16 | node port; 0 = none */
};

struct xlb_state {
	struct xlb_htab by_name;
	struct xlb_htab by_vkey;
	struct xlb_htab by_np;
	uint64_t version;
	size_t n_ep;
};

static uint32_t np_key_of(const struct xlb_service_spec *s)
{
	return xlb_svc_has_node_port(s) ? ((uint32_t)s->proto << 16) | s->node_port : 0;
}

struct xlb_state *xlb_state_new(void)
{
	struct xlb_state *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	xlb_htab_init(&st->by_name);
	xlb_htab_init(&st->by_vkey);
	xlb_htab_init(&st->by_np);
	return st;
}

void xlb_svc_free(struct xlb_svc_desired *s)
{
	free(s->ep);
	free(s->hc);
	xlb_service_fini(&s->spec);
	s->ep = NULL;
	s->hc = NULL;
	s->n_ep = 0;
}

int xlb_svc_set_hc(struct xlb_svc_desired *s, const struct xlb_health_spec *hc)
{
	struct xlb_health_spec *c = NULL;

	if (hc && hc->kind != XLB_HC_NONE) {
		c = malloc(sizeof(*c));
		if (!c)
			return -ENOMEM;
		*c = *hc;
	}
	free(s->hc);
	s->hc = c;
	return 0;
}

int xlb_svc_copy(struct xlb_svc_desired *dst, const struct xlb_svc_desired *src)
{
	*dst = *src;
	dst->ep = NULL;
	dst->hc = NULL;
	if (xlb_service_copy(&dst->spec, &src->spec))
		return -ENOMEM;
	if (xlb_svc_set_hc(dst, src->hc)) {
		xlb_svc_free(dst);
		return -ENOMEM;
	}
	if (src->n_ep) {
		dst->ep = malloc(src->n_ep * sizeof(*dst->ep));
		if (!dst->ep) {
			xlb_svc_free(dst);
			return -ENOMEM;
		}
		memcpy(dst->ep, src->ep, src->n_ep * sizeof(*dst->ep));
	}
	return 0;
}

static void node_free(struct node *n)
{
	if (n) {
		xlb_svc_free(&n->s);
		free(n);
	}
}

void xlb_state_clear(struct xlb_state *st)
{
	size_t pos = 0;
	struct node *n;

	while ((n = xlb_htab_next(&st->by_name, &pos)))
		node_free(n);
	xlb_htab_fini(&st->by_name);
	xlb_htab_fini(&st->by_vkey);
	xlb_htab_fini(&st->by_np);
	st->n_ep = 0;
}

void xlb_state_free(struct xlb_state *st)
{
	if (!st)
		return;
	xlb_state_clear(st);
	free(st);
}

/* Put n in every index; on failure nothing changed. */
static int node_index(struct xlb_state *st, struct node *n)
{
	const char *name = n->s.spec.name;
	size_t len = strlen(name);

	if (xlb_htab_put(&st->by_name, name, len, n))
		return -ENOMEM;
	if (xlb_htab_put(&st->by_vkey, &n->vk, sizeof(n->vk), n)) {
		xlb_htab_del(&st->by_name, name, len);
		return -ENOMEM;
	}
	if (n->np_key && xlb_htab_put(&st->by_np, &n->np_key, sizeof(n->np_key), n)) {
		xlb_htab_del(&st->by_vkey, &n->vk, sizeof(n->vk));
		xlb_htab_del(&st->by_name, name, len);
		return -ENOMEM;
	}
	st->n_ep += n->s.n_ep;
	return 0;
}

static void node_unindex(struct xlb_state *st, struct node *n)
{
	xlb_htab_del(&st->by_name, n->s.spec.name, strlen(n->s.spec.name));
	xlb_htab_del(&st->by_vkey, &n->vk, sizeof(n->vk));
	if (n->np_key)
		xlb_htab_del(&st->by_np, &n->np_key, sizeof(n->np_key));
	st->n_ep -= n->s.n_ep;
}

/* Replace old by n in the indexes (either may be NULL). On failure old is
 * put back: its keys were removed a moment ago, so only a table growing
 * can fail that, which is logged. */
static int node_swap(struct xlb_state *st, struct node *old, struct node *n)
{
	if (old)
		node_unindex(st, old);
	if (!n || !node_index(st, n))
		return 0;
	if (old && node_index(st, old))
		pr_err("desired state: service %s lost from the index (out of memory)",
		       old->s.spec.name);
	return -ENOMEM;
}

struct xlb_state *xlb_state_clone(const struct xlb_state *st)
{
	struct xlb_state *c = xlb_state_new();
	size_t pos = 0;
	struct node *n;

	if (!c)
		return NULL;
	c->version = st->version;
	while ((n = xlb_htab_next(&st->by_name, &pos))) {
		struct node *m = calloc(1, sizeof(*m));

		if (!m || xlb_svc_copy(&m->s, &n->s)) {
			free(m);
			goto fail;
		}
		m->vk = n->vk;
		m->np_key = n->np_key;
		if (node_index(c, m)) {
			node_free(m);
			goto fail;
		}
	}
	return c;
fail:
	xlb_state_free(c);
	return NULL;
}

static int hc_validate(const struct xlb_health_spec *hc, char *err, size_t errlen)
{
	switch (hc->kind) {
	case XLB_HC_NONE:
		return 0;
	case XLB_HC_TCP:
		break;
	case XLB_HC_HTTP:
		if (hc->http_path[0] != '/' || memchr(hc->http_path, 0, sizeof(hc->http_path)) == NULL) {
			return xlb_errf(err, errlen, -EINVAL,
					"health_check.http_path must start with '/'");
		}
		for (const char *p = hc->http_path; *p; p++)
			if (*p <= ' ' || *p == 0x7f) {
				return xlb_errf(
				    err, errlen, -EINVAL,
				    "health_check.http_path: control character or space");
			}
		for (const char *p = hc->http_host; *p; p++)
			if (*p <= ' ' || *p == 0x7f) {
				return xlb_errf(
				    err, errlen, -EINVAL,
				    "health_check.http_host: control character or space");
			}
		break;
	case XLB_HC_EXEC:
		if (hc->argc < 1 || hc->argc > XLB_HC_MAX_ARGS || !hc->argv[0][0]) {
			return xlb_errf(err, errlen, -EINVAL,
					"health_check.command: 1..%d arguments needed",
					XLB_HC_MAX_ARGS);
		}
		break;
	default:
		return xlb_errf(err, errlen, -EINVAL, "health_check.kind: unknown (%d)",
				(int)hc->kind);
	}
	if (hc->port > 65535) {
		return xlb_errf(err, errlen, -EINVAL, "health_check.port out of range: %u",
				hc->port);
	}
	if (hc->period_ms && (hc->period_ms < 50 || hc->period_ms > 3600000)) {
		return xlb_errf(err, errlen, -EINVAL,
				"health_check.period_ms out of range (50..3600000): %u",
				hc->period_ms);
	}
	if (hc->timeout_ms && (hc->timeout_ms < 10 || hc->timeout_ms > 600000)) {
		return xlb_errf(err, errlen, -EINVAL,
				"health_check.timeout_ms out of range (10..600000): %u",
				hc->timeout_ms);
	}
	if (hc->success_threshold > 1000 || hc->failure_threshold > 1000) {
		return xlb_errf(err, errlen, -EINVAL,
				"health_check thresholds out of range (max 1000)");
	}
	if (hc->initial_delay_ms > 3600000) {
		return xlb_errf(err, errlen, -EINVAL,
				"health_check.initial_delay_ms out of range: %u",
				hc->initial_delay_ms);
	}
	return 0;
}

int xlb_svc_validate(const struct xlb_svc_desired *s, char *err, size_t errlen)
{
	const struct xlb_service_spec *sp = &s->spec;
	struct xlb_backend_spec *be;
	size_t len = strnlen(sp->name, sizeof(sp->name));
	int ret;

	if (!len || len == sizeof(sp->name)) {
		return xlb_errf(err, errlen, -EINVAL, "service.name: required, at most %zu bytes",
				sizeof(sp->name) - 1);
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)sp->name[i] < 0x20 || sp->name[i] == 0x7f) {
			return xlb_errf(err, errlen, -EINVAL,
					"service.name: control character at %zu", i);
		}
	ret = xlb_service_validate(sp, err, errlen);
	if (ret)
		return ret;
	if (s->n_ep > XLB_MAX_ENDPOINTS) {
		return xlb_errf(err, errlen, -E2BIG, "service %s: endpoints: %zu, more than %d",
				sp->name, s->n_ep, XLB_MAX_ENDPOINTS);
	}
	be = calloc(s->n_ep ? s->n_ep : 1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_ep; i++) {
		be[i].addr = s->ep[i].addr;
		be[i].port = s->ep[i].port;
		be[i].weight = s->ep[i].weight;
	}
	ret = xlb_backends_validate(sp, be, s->n_ep, err, errlen);
	free(be);
	if (ret)
		return ret;
	return s->hc ? hc_validate(s->hc, err, errlen) : 0;
}

/* Check s (valid on its own) against st as it is and build its node; *old
 * is the service of the same name it would replace (NULL if none). Nothing
 * changes in st. */
static int node_prepare(struct xlb_state *st, const struct xlb_svc_desired *s,
			struct node **out, struct node **old, char *err, size_t errlen)
{
	struct node *other, *n;
	char ip[XLB_IP_STRLEN];
	int ret;

	*old = xlb_htab_get(&st->by_name, s->spec.name, strlen(s->spec.name));
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	xlb_svc_ident_of(&n->vk, &s->spec);
	n->np_key = np_key_of(&s->spec);
	other = xlb_htab_get(&st->by_vkey, &n->vk, sizeof(n->vk));
	if (other && other != *old) {
		xlb_errf(err, errlen, 0,
			 "service %s: cluster_ip %s port %u/%s already used by service %s",
			 s->spec.name, xlb_ip_str(&s->spec.vip, ip, sizeof(ip)), s->spec.port,
			 xlb_proto_name(s->spec.proto), other->s.spec.name);
		free(n);
		return -EEXIST;
	}
	other = n->np_key ? xlb_htab_get(&st->by_np, &n->np_key, sizeof(n->np_key)) : NULL;
	if (other && other != *old) {
		xlb_errf(err, errlen, 0, "service %s: node_port %u already used by service %s",
			 s->spec.name, s->spec.node_port, other->s.spec.name);
		free(n);
		return -EEXIST;
	}
	ret = xlb_svc_copy(&n->s, s);
	if (ret) {
		free(n);
		return ret;
	}
	*out = n;
	return 0;
}

int xlb_state_upsert(struct xlb_state *st, const struct xlb_svc_desired *s,
		     char *err, size_t errlen)
{
	struct node *old, *n;
	int ret;

	ret = node_prepare(st, s, &n, &old, err, errlen);
	if (ret)
		return ret;
	ret = node_swap(st, old, n);
	if (ret) {
		node_free(n);
		return ret;
	}
	node_free(old);
	st->version++;
	return 0;
}

int xlb_state_delete(struct xlb_state *st, const char *name, char *err, size_t errlen)
{
	struct node *n = xlb_htab_get(&st->by_name, name, strlen(name));

	if (!n) {
		return xlb_errf(err, errlen, -ENOENT, "service %s: not found", name);
	}
	node_unindex(st, n);
	node_free(n);
	st->version++;
	return 0;
}

/* ---- transactions ---- */

struct xlb_state_op {
	struct node *before, *after;
};

void xlb_state_txn_begin(struct xlb_state_txn *t, struct xlb_state *st)
{
	memset(t, 0, sizeof(*t));
	t->st = st;
	t->version = st->version;
}

/* Room for one more step, taken before the state changes, so that a step
 * that changed the state is always recorded. */
static int txn_reserve(struct xlb_state_txn *t)
{
	struct xlb_state_op *op;
	size_t cap;

	if (t->n < t->cap)
		return 0;
	cap = t->cap ? t->cap * 2 : 8;
	op = realloc(t->op, cap * sizeof(*op));
	if (!op)
		return -ENOMEM;
	t->op = op;
	t->cap = cap;
	return 0;
}

int xlb_state_txn_upsert(struct xlb_state_txn *t, const struct xlb_svc_desired *s,
			 char *err, size_t errlen)
{
	struct node *old, *n;
	int ret;

	ret = txn_reserve(t);
	if (ret)
		return ret;
	ret = node_prepare(t->st, s, &n, &old, err, errlen);
	if (ret)
		return ret;
	ret = node_swap(t->st, old, n);
	if (ret) {
		node_free(n);
		return ret;
	}
	t->op[t->n++] = (struct xlb_state_op){ .before = old, .after = n };
	return 0;
}

int xlb_state_txn_delete(struct xlb_state_txn *t, const char *name, char *err, size_t errlen)
{
	struct node *n;
	int ret;

	ret = txn_reserve(t);
	if (ret)
		return ret;
	n = xlb_htab_get(&t->st->by_name, name, strlen(name));
	if (!n) {
		return xlb_errf(err, errlen, -ENOENT, "service %s: not found", name);
	}
	node_unindex(t->st, n);
	t->op[t->n++] = (struct xlb_state_op){ .before = n };
	return 0;
}

size_t xlb_state_txn_count(const struct xlb_state_txn *t)
{
	return t->n;
}

void xlb_state_txn_op(const struct xlb_state_txn *t, size_t i,
		      const struct xlb_svc_desired **before, const struct xlb_svc_desired **after)
{
	*before = t->op[i].before ? &t->op[i].before->s : NULL;
	*after = t->op[i].after ? &t->op[i].after->s : NULL;
}

static void txn_end(struct xlb_state_txn *t)
{
	free(t->op);
	t->op = NULL;
	t->n = t->cap = 0;
}

/* Each node is displaced at most once, so every `before` is freed once. */
void xlb_state_txn_commit(struct xlb_state_txn *t)
{
	for (size_t i = 0; i < t->n; i++)
		node_free(t->op[i].before);
	txn_end(t);
}

void xlb_state_txn_rollback(struct xlb_state_txn *t)
{
	for (size_t i = t->n; i-- > 0;) {
		node_swap(t->st, t->op[i].after, t->op[i].before);
		node_free(t->op[i].after);
	}
	t->st->version = t->version;
	txn_end(t);
}

const struct xlb_svc_desired *xlb_state_get(const struct xlb_state *st, const char *name)
{
	struct node *n = xlb_htab_get(&st->by_name, name, strlen(name));

	return n ? &n->s : NULL;
}

const struct xlb_svc_desired *xlb_state_get_by_addr(const struct xlb_state *st,
						    const struct xlb_service_spec *spec)
{
	struct node *n;
	struct xlb_svc_ident k;

	xlb_svc_ident_of(&k, spec);
	n = xlb_htab_get(&st->by_vkey, &k, sizeof(k));
	return n ? &n->s : NULL;
}

size_t xlb_state_count(const struct xlb_state *st)
{
	return st->by_name.used;
}

size_t xlb_state_endpoint_count(const struct xlb_state *st)
{
	return st->n_ep;
}

static int by_name(const void *a, const void *b)
{
	const struct node *x = *(const struct node *const *)a, *y = *(const struct node *const *)b;

	return strcmp(x->s.spec.name, y->s.spec.name);
}

int xlb_state_foreach(const struct xlb_state *st,
		      int (*cb)(const struct xlb_svc_desired *s, void *arg), void *arg)
{
	size_t n = st->by_name.used, pos = 0, i = 0;
	struct node **v, *x;
	int ret = 0;

	if (!n)
		return 0;
	v = malloc(n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	while ((x = xlb_htab_next(&st->by_name, &pos)) && i < n)
		v[i++] = x;
	qsort(v, i, sizeof(*v), by_name);
	for (size_t j = 0; j < i && !ret; j++)
		ret = cb(&v[j]->s, arg);
	free(v);
	return ret;
}

uint64_t xlb_state_version(const struct xlb_state *st)
{
	return st->version;
}

void xlb_state_set_version(struct xlb_state *st, uint64_t v)
{
	st->version = v;
}

/* By what the fields mean: strings up to their end, the arguments in use,
 * and nothing else when there is no check (most services), rather than
 * 5 KB of buffers. */
static bool hc_equal(const struct xlb_health_spec *a, const struct xlb_health_spec *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == XLB_HC_NONE)
		return true;
	if (a->port != b->port || a->argc != b->argc || a->period_ms != b->period_ms ||
	    a->timeout_ms != b->timeout_ms || a->success_threshold != b->success_threshold ||
	    a->failure_threshold != b->failure_threshold ||
	    a->initial_delay_ms != b->initial_delay_ms ||
	    strncmp(a->http_path, b->http_path, sizeof(a->http_path)) ||
	    strncmp(a->http_host, b->http_host, sizeof(a->http_host)) ||
	    strncmp(a->expect_body, b->expect_body, sizeof(a->expect_body)))
		return false;
	for (uint32_t i = 0; i < a->argc && i < XLB_HC_MAX_ARGS; i++)
		if (strncmp(a->argv[i], b->argv[i], sizeof(a->argv[i])))
			return false;
	return true;
}

bool xlb_svc_equal(const struct xlb_svc_desired *a, const struct xlb_svc_desired *b)
{
	static const struct xlb_health_spec none;

	return xlb_service_equal(&a->spec, &b->spec) &&
	       hc_equal(a->hc ? a->hc : &none, b->hc ? b->hc : &none) &&
	       a->n_ep == b->n_ep &&
	       (!a->n_ep || !memcmp(a->ep, b->ep, a->n_ep * sizeof(*a->ep)));
}

size_t xlb_svc_backends(const struct xlb_svc_desired *s, const struct xlb_verdicts *v,
			const char *node, struct xlb_backend_spec *out)
{
	bool any_ready = false, any_local_ready = false;
	size_t k = 0;

	for (size_t i = 0; i < s->n_ep; i++) {
		const struct xlb_endpoint *e = &s->ep[i];
		bool ready = e->ready && !e->terminating && e->weight;

		if (!xlb_verdicts_usable(v, s, e))
			continue;
		memset(&out[k], 0, sizeof(out[k]));
		out[k].addr = e->addr;
		out[k].port = e->port;
		out[k].weight = e->weight;
		out[k].terminating = e->terminating || !e->ready;
		out[k].local = node && node[0] && !strcmp(e->node_name, node);
		out[k].remote = node && node[0] && e->node_name[0] && !out[k].local;
		out[k].local_terminating = out[k].terminating;
		any_ready |= ready;
		any_local_ready |= ready && out[k].local;
		k++;
	}
	/* KEP-1669, for all endpoints and for the local ones on their own. */
	for (size_t i = 0, j = 0; (!any_ready || !any_local_ready) && i < s->n_ep; i++) {
		const struct xlb_endpoint *e = &s->ep[i];

		if (!xlb_verdicts_usable(v, s, e))
			continue;
		if (e->serving && e->terminating) {
			if (!any_ready)
				out[j].terminating = false;
			if (!any_local_ready)
				out[j].local_terminating = false;
		}
		j++;
	}
	return k;
}

/* zone is one of the comma-separated names in hints. */
static bool hinted_for(const char *hints, const char *zone)
{
	size_t len = strlen(zone);
	const char *p = hints;

	while (*p) {
		size_t n = strcspn(p, ",");

		if (n == len && !strncmp(p, zone, len))
			return true;
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

size_t xlb_svc_topology(const struct xlb_svc_desired *s, const struct xlb_verdicts *v,
			const char *zone, struct xlb_backend_spec *out, size_t n)
{
	bool for_zone = false;
	size_t k = 0, left = 0;

	if (!zone || !zone[0])
		return 0;
	for (size_t i = 0; i < s->n_ep; i++) {
		const struct xlb_endpoint *e = &s->ep[i];

		if (!e->ready || e->terminating || !e->weight || !xlb_verdicts_usable(v, s, e))
			continue;
		if (!e->hints[0])
			return 0;	/* one without hints: no filtering */
		for_zone |= hinted_for(e->hints, zone);
	}
	if (!for_zone)
		return 0;
	/* out[] holds the usable endpoints in s->ep's order. */
	for (size_t i = 0; i < s->n_ep && k < n; i++) {
		const struct xlb_endpoint *e = &s->ep[i];

		if (!xlb_verdicts_usable(v, s, e))
			continue;
		if (!out[k].terminating && !hinted_for(e->hints, zone)) {
			out[k].terminating = true;
			left++;
		}
		k++;
	}
	return left;
}

size_t xlb_svc_local_ready(const struct xlb_svc_desired *s, const struct xlb_verdicts *v,
			   const char *node, struct xlb_ip *addrs, size_t n, size_t cap)
{
	if (!node || !node[0])
		return n;
	for (size_t i = 0; i < s->n_ep && n < cap; i++) {
		const struct xlb_endpoint *e = &s->ep[i];
		bool seen = false;

		if (!e->ready || e->terminating || !e->weight || strcmp(e->node_name, node) ||
		    !xlb_verdicts_usable(v, s, e))
			continue;
		for (size_t j = 0; j < n && !seen; j++)
			seen = xlb_ip_equal(&addrs[j], &e->addr);
		if (!seen)
			addrs[n++] = e->addr;
	}
	return n;
}
