// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The feeder's cache and its Sync stream (contract in feeder.h).
 *
 * Every Service key has an entry (struct fsvc) from the first object that
 * names it (a Service, or a slice that arrives first) until nothing is
 * left of it: no object, no slice, nothing sent. A change marks it dirty;
 * a sync joins each dirty Service with its slices (sorted by name, so the
 * result does not depend on arrival order) and sends what differs.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "log.h"
#include "api/client.h"
#include "convert/convert.h"
#include "feeder/feeder.h"
#include "k8s/object.h"
#include "util/clock.h"
#include "util/hist.h"
#include "util/htab.h"

struct xlb_hist xlb_feeder_latency = XLB_HIST_INIT(xlb_hist_default_le, XLB_HIST_DEFAULT_N);

struct sent {
	char name[128];
	uint64_t hash;		/* FNV-1a of the packed xlb.v1.Service */
};

struct fslice {
	char *key;
	char *svc;			/* the owner's key; NULL: none */
	struct xlb_k8s_slice *conv;	/* NULL: skipped or rejected */
	uint64_t gen;
};

struct fsvc {
	char *key;
	struct xlb_k8s_service *conv;	/* NULL: absent, skipped or rejected */
	bool present;			/* a Service object exists */
	uint64_t gen;
	struct fslice **slices;		/* sorted by key */
	size_t n_slices, slice_cap;
	struct sent *sent;		/* what xlbd has of it */
	size_t n_sent;
	bool dirty;
	uint64_t dirty_ms;
	struct fsvc *next_dirty;
	char *reject;			/* why it is left out, or NULL */
};

struct xlb_feeder {
	struct xlb_k8s_opts opts;
	struct xlb_htab svcs;		/* key -> fsvc */
	struct xlb_htab slices;		/* key -> fslice */
	struct fsvc *dirty;
	uint64_t gen_svc, gen_slice;
	bool snapshot;
	struct xlb_api_sync *stream;
	uint64_t version;
	struct xlb_feeder_stats st;
	struct xlb_node_info node;
	bool has_node, node_dirty;	/* known; not yet acknowledged by xlbd */
};

int xlb_feeder_new(const struct xlb_k8s_opts *opts, struct xlb_feeder **out)
{
	struct xlb_feeder *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	if (opts)
		f->opts = *opts;
	xlb_htab_init(&f->svcs);
	xlb_htab_init(&f->slices);
	f->snapshot = true;
	*out = f;
	return 0;
}

static void fsvc_free(struct fsvc *s)
{
	xlb_k8s_service_free(s->conv);
	free(s->slices);
	free(s->sent);
	free(s->reject);
	free(s->key);
	free(s);
}

static void fslice_free(struct fslice *sl)
{
	xlb_k8s_slice_free(sl->conv);
	free(sl->key);
	free(sl->svc);
	free(sl);
}

void xlb_feeder_free(struct xlb_feeder *f)
{
	size_t pos = 0;
	void *v;

	if (!f)
		return;
	if (f->stream)
		xlb_api_sync_close(f->stream);
	while ((v = xlb_htab_next(&f->svcs, &pos)))
		fsvc_free(v);
	pos = 0;
	while ((v = xlb_htab_next(&f->slices, &pos)))
		fslice_free(v);
	xlb_htab_fini(&f->svcs);
	xlb_htab_fini(&f->slices);
	free(f);
}

static void mark(struct xlb_feeder *f, struct fsvc *s)
{
	if (s->dirty)
		return;
	s->dirty = true;
	s->dirty_ms = (uint64_t)xlb_clock_ms();
	s->next_dirty = f->dirty;
	f->dirty = s;
}

static struct fsvc *svc_get(struct xlb_feeder *f, const char *key)
{
	struct fsvc *s = xlb_htab_get(&f->svcs, key, strlen(key));

	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->key = strdup(key)) || xlb_htab_put(&f->svcs, s->key, strlen(s->key), s)) {
		if (s)
			free(s->key);
		free(s);
		return NULL;
	}
	return s;
}

/* "NAMESPACE/NAME" of an object as the API server sends it. */
static int obj_key(const json_t *obj, char *key, size_t len)
{
	const json_t *m = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(m, "namespace"));
	const char *name = json_string_value(json_object_get(m, "name"));
	int n;

	if (!name)
		return -EINVAL;
	n = snprintf(key, len, "%s/%s", ns && *ns ? ns : "default", name);
	return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

/* Event-style, as `kubectl get events` would show it. */
static void rejected(struct xlb_feeder *f, int kind, const char *msg)
{
	f->st.rejected_total[kind]++;
	pr_warn("Warning Rejected %s", msg);
}

static void warnings(struct xlb_k8s_result *msgs)
{
	for (size_t i = 0; i < msgs->n_warnings; i++)
		pr_debug("skipped: %s", msgs->warnings[i]);
	xlb_k8s_result_free(msgs);
}

/* obj to a document tree, then through conv. */
static int convert(const json_t *obj, const struct xlb_k8s_opts *opts, bool service, void **out,
		   char *err, size_t errlen)
{
	struct xlb_k8s_result msgs = { 0 };
	struct k8s_doc d;
	int ret;

	ret = k8s_doc_from_json(obj, &d, err, errlen);
	if (ret)
		return ret;
	if (service)
		ret = xlb_k8s_service_from(d.docs[0], opts, (struct xlb_k8s_service **)out, &msgs,
					   err, errlen);
	else
		ret = xlb_k8s_slice_from(d.docs[0], (struct xlb_k8s_slice **)out, &msgs, err,
					 errlen);
	k8s_doc_free(&d);
	warnings(&msgs);
	return ret;
}

static void set_reject(struct fsvc *s, const char *why)
{
	free(s->reject);
	s->reject = why ? strdup(why) : NULL;
}

static void on_service(void *arg, enum xlb_kube_ev ev, const void *obj)
{
	struct xlb_feeder *f = arg;
	struct xlb_k8s_service *conv = NULL;
	char key[512], err[512];
	struct fsvc *s;
	int ret = 0;

	if (obj_key(obj, key, sizeof(key))) {
		pr_warn("watch services: an object without a name: ignored");
		return;
	}
	if (ev != XLB_KUBE_DELETED)
		ret = convert(obj, &f->opts, true, (void **)&conv, err, sizeof(err));
	s = svc_get(f, key);
	if (!s) {
		xlb_k8s_service_free(conv);
		pr_err("Service %s: out of memory", key);
		return;
	}
	if (ret) {
		char why[600];

		snprintf(why, sizeof(why), "%s", err);
		rejected(f, 0, why);
		set_reject(s, why);
	} else {
		set_reject(s, NULL);
	}
	xlb_k8s_service_free(s->conv);
	s->conv = conv;
	s->present = ev != XLB_KUBE_DELETED;
	s->gen = f->gen_svc;
	mark(f, s);
}

static void svc_list_begin(void *arg)
{
	((struct xlb_feeder *)arg)->gen_svc++;
}

/* A list is the whole truth: what it did not name is gone. */
static void svc_list_end(void *arg)
{
	struct xlb_feeder *f = arg;
	struct fsvc *s;
	size_t pos = 0;

	while ((s = xlb_htab_next(&f->svcs, &pos))) {
		if (!s->present || s->gen == f->gen_svc)
			continue;
		s->present = false;
		xlb_k8s_service_free(s->conv);
		s->conv = NULL;
		mark(f, s);
	}
	f->snapshot = true;
}

static int cmp_slice(const void *a, const void *b)
{
	return strcmp((*(struct fslice *const *)a)->key, (*(struct fslice *const *)b)->key);
}

static void unlink_slice(struct xlb_feeder *f, struct fslice *sl)
{
	struct fsvc *s = sl->svc ? xlb_htab_get(&f->svcs, sl->svc, strlen(sl->svc)) : NULL;

	for (size_t i = 0; s && i < s->n_slices; i++) {
		if (s->slices[i] != sl)
			continue;
		memmove(&s->slices[i], &s->slices[i + 1], (s->n_slices - i - 1) * sizeof(sl));
		s->n_slices--;
		mark(f, s);
		break;
	}
	free(sl->svc);
	sl->svc = NULL;
}

static int link_slice(struct xlb_feeder *f, struct fslice *sl, const char *svc)
{
	struct fsvc *s = svc_get(f, svc);

	if (!s)
		return -ENOMEM;
	if (s->n_slices == s->slice_cap) {
		size_t cap = s->slice_cap ? 2 * s->slice_cap : 4;
		struct fslice **v = realloc(s->slices, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->slices = v;
		s->slice_cap = cap;
	}
	sl->svc = strdup(svc);
	if (!sl->svc)
		return -ENOMEM;
	s->slices[s->n_slices++] = sl;
	qsort(s->slices, s->n_slices, sizeof(*s->slices), cmp_slice);
	mark(f, s);
	return 0;
}

static void drop_slice(struct xlb_feeder *f, struct fslice *sl)
{
	unlink_slice(f, sl);
	xlb_htab_del(&f->slices, sl->key, strlen(sl->key));
	fslice_free(sl);
}

static void on_slice(void *arg, enum xlb_kube_ev ev, const void *obj)
{
	struct xlb_feeder *f = arg;
	struct xlb_k8s_slice *conv = NULL;
	char key[512], err[512];
	struct fslice *sl;
	int ret;

	if (obj_key(obj, key, sizeof(key))) {
		pr_warn("watch endpointslices: an object without a name: ignored");
		return;
	}
	sl = xlb_htab_get(&f->slices, key, strlen(key));
	if (ev == XLB_KUBE_DELETED) {
		if (sl)
			drop_slice(f, sl);
		return;
	}
	ret = convert(obj, NULL, false, (void **)&conv, err, sizeof(err));
	if (ret)	/* its Service goes on without it */
		rejected(f, 1, err);
	if (!sl) {
		sl = calloc(1, sizeof(*sl));
		if (!sl || !(sl->key = strdup(key)) ||
		    xlb_htab_put(&f->slices, sl->key, strlen(sl->key), sl)) {
			if (sl)
				free(sl->key);
			free(sl);
			xlb_k8s_slice_free(conv);
			pr_err("EndpointSlice %s: out of memory", key);
			return;
		}
	}
	unlink_slice(f, sl);
	xlb_k8s_slice_free(sl->conv);
	sl->conv = conv;
	sl->gen = f->gen_slice;
	if (conv && link_slice(f, sl, xlb_k8s_slice_service(conv)))
		pr_err("EndpointSlice %s: out of memory", key);
}

static void slice_list_begin(void *arg)
{
	((struct xlb_feeder *)arg)->gen_slice++;
}

static void slice_list_end(void *arg)
{
	struct xlb_feeder *f = arg;
	struct fslice *sl;
	size_t pos = 0;

	/* Deleting while iterating: start over after each one. */
	while ((sl = xlb_htab_next(&f->slices, &pos))) {
		if (sl->gen == f->gen_slice)
			continue;
		drop_slice(f, sl);
		pos = 0;
	}
	f->snapshot = true;
}

const struct xlb_kube_ops xlb_feeder_service_ops = {
	.list_begin = svc_list_begin,
	.object = on_service,
	.list_end = svc_list_end,
};

const struct xlb_kube_ops xlb_feeder_slice_ops = {
	.list_begin = slice_list_begin,
	.object = on_slice,
	.list_end = slice_list_end,
};

/* --- What to send ----------------------------------------------------------- */

/* One Service's xlb services packed (xlb.v1.Service), with their hashes.
 * A snapshot holds these bytes for every Service, never their message
 * trees (several times larger). */
struct want {
	struct fsvc *s;
	struct xlb_pb_packed *pk;
	struct sent *sent;
	size_t n;
	bool ok;		/* false: rejected, nothing of it wanted */
};

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void want_free(struct want *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->pk[i].buf);
	free(w->pk);
	free(w->sent);
	memset(w, 0, sizeof(*w));
}

static int want_of(struct xlb_feeder *f, struct fsvc *s, struct want *w)
{
	struct xlb_k8s_slice *slc[256], **sl = slc;
	struct xlb_svc_desired *d = NULL;
	size_t n = 0, np;
	char err[512];
	int ret = 0;

	memset(w, 0, sizeof(*w));
	w->s = s;
	w->ok = true;
	if (!s->present || !s->conv)
		return 0;
	np = xlb_k8s_service_ports(s->conv);
	if (s->n_slices > sizeof(slc) / sizeof(slc[0])) {
		sl = malloc(s->n_slices * sizeof(*sl));
		if (!sl)
			return -ENOMEM;
	}
	for (size_t i = 0; i < s->n_slices; i++)
		if (s->slices[i]->conv)
			sl[n++] = s->slices[i]->conv;
	d = calloc(np, sizeof(*d));
	w->pk = calloc(np, sizeof(*w->pk));
	w->sent = calloc(np, sizeof(*w->sent));
	if (!d || !w->pk || !w->sent) {
		ret = -ENOMEM;
		goto out;
	}
	ret = xlb_k8s_join(s->conv, sl, n, d, NULL, err, sizeof(err));
	if (!ret)
		set_reject(s, NULL);
	if (ret == -EINVAL) {
		if (!s->reject || strcmp(s->reject, err))
			rejected(f, 0, err);
		set_reject(s, err);
		w->ok = false;
		ret = 0;
		goto out;
	}
	if (ret)
		goto out;
	for (size_t i = 0; i < np && !ret; i++) {
		Xlb__V1__Service *pb = xlb_api_service_to_pb(&d[i]);
		struct xlb_pb_packed *pk = &w->pk[w->n];

		pk->len = pb ? protobuf_c_message_get_packed_size(&pb->base) : 0;
		pk->buf = pb ? malloc(pk->len ? pk->len : 1) : NULL;
		if (pk->buf) {
			protobuf_c_message_pack(&pb->base, pk->buf);
			snprintf(w->sent[i].name, sizeof(w->sent[i].name), "%s", d[i].spec.name);
			w->sent[i].hash = fnv1a(pk->buf, pk->len);
			w->n++;
		} else {
			ret = -ENOMEM;
		}
		xlb_api_service_free_pb(pb);
	}
	for (size_t i = 0; i < np; i++)
		xlb_svc_free(&d[i]);
out:
	free(d);
	if (sl != slc)
		free(sl);
	if (ret)
		want_free(w);
	return ret;
}

static bool was_sent(const struct fsvc *s, const struct sent *x, bool same_hash)
{
	for (size_t i = 0; i < s->n_sent; i++)
		if (!strcmp(s->sent[i].name, x->name))
			return !same_hash || s->sent[i].hash == x->hash;
	return false;
}

/* A growing request: r without upserts, which are in up (packed). */
struct req {
	Xlb__V1__SyncRequest r;
	struct xlb_pb_packed *up;
	size_t n_up, cap_up, cap_del;
};

static int req_up(struct req *q, const struct xlb_pb_packed *pk)
{
	if (q->n_up == q->cap_up) {
		size_t cap = q->cap_up ? 2 * q->cap_up : 64;
		struct xlb_pb_packed *v = realloc(q->up, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		q->up = v;
		q->cap_up = cap;
	}
	q->up[q->n_up++] = *pk;
	return 0;
}

static int req_del(struct req *q, char *name)
{
	if (q->r.n_deletes == q->cap_del) {
		size_t cap = q->cap_del ? 2 * q->cap_del : 16;
		char **v = realloc(q->r.deletes, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		q->r.deletes = v;
		q->cap_del = cap;
	}
	q->r.deletes[q->r.n_deletes++] = name;
	return 0;
}

/* The changes of one Service into q (everything, for a snapshot). */
static int req_add(struct req *q, struct want *w, bool snapshot)
{
	int ret = 0;

	for (size_t i = 0; !ret && w->ok && i < w->n; i++)
		if (snapshot || !was_sent(w->s, &w->sent[i], true))
			ret = req_up(q, &w->pk[i]);
	for (size_t i = 0; !ret && !snapshot && i < w->s->n_sent; i++) {
		bool keep = false;

		for (size_t j = 0; w->ok && j < w->n && !keep; j++)
			keep = !strcmp(w->sent[j].name, w->s->sent[i].name);
		if (!keep)
			ret = req_del(q, w->s->sent[i].name);
	}
	return ret;
}

static void commit(struct want *w, uint64_t now)
{
	struct fsvc *s = w->s;

	free(s->sent);
	s->sent = w->ok ? w->sent : NULL;
	s->n_sent = w->ok ? w->n : 0;
	if (w->ok)
		w->sent = NULL;
	if (s->dirty_ms)
		xlb_hist_observe(&xlb_feeder_latency, (double)(now - s->dirty_ms) / 1000.0);
	s->dirty_ms = 0;
}

static int send_req(struct xlb_feeder *f, struct req *q, bool snapshot, bool *ok, char *why,
		    size_t whylen)
{
	Xlb__V1__SyncResponse *resp = NULL;
	char err[512];
	bool with_node;
	uint8_t *wire;
	size_t len;
	int code;

	q->r.version = ++f->version;
	q->r.snapshot = snapshot;
	with_node = f->has_node && (snapshot || f->node_dirty);
	q->r.node = with_node ? xlb_api_node_to_pb(&f->node) : NULL;
	code = with_node && !q->r.node ? -ENOMEM :
	       xlb_pb_sync_request_pack(&q->r, q->up, q->n_up, &wire, &len);
	xlb__v1__node__free_unpacked(q->r.node, NULL);
	q->r.node = NULL;
	if (code)
		return code;
	code = xlb_api_sync_send_wire(f->stream, wire, len, &resp, err, sizeof(err));
	if (code) {
		pr_warn("sync with xlbd: %s: %s", xlb_api_code_name(code), err);
		xlb_api_sync_close(f->stream);
		f->stream = NULL;
		f->st.connected = false;
		f->st.sync_errors++;
		f->snapshot = true;
		return -EPIPE;
	}
	*ok = resp->ok;
	if (!resp->ok) {
		snprintf(why, whylen, "%s", resp->error);
	} else {
		f->st.xlbd_version = resp->version;
		f->node_dirty = false;
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

static void req_free(struct req *q)
{
	free(q->up);
	free(q->r.deletes);
}

/* Send one Service's changes alone; a refusal leaves it out of xlbd. */
static int send_alone(struct xlb_feeder *f, struct want *w, uint64_t now)
{
	struct req q = { .r = XLB__V1__SYNC_REQUEST__INIT };
	char why[512];
	bool ok;
	int ret;

	ret = req_add(&q, w, false);
	if (!ret && (q.n_up || q.r.n_deletes))
		ret = send_req(f, &q, false, &ok, why, sizeof(why));
	else
		ok = true;
	req_free(&q);
	if (ret || ok) {
		if (!ret)
			commit(w, now);
		return ret;
	}
	/* Refused (a conflict with another Service): take it out. */
	char msg[700];

	snprintf(msg, sizeof(msg), "Service %s: %s", w->s->key, why);
	if (!w->s->reject || strcmp(w->s->reject, msg))
		rejected(f, 0, msg);
	set_reject(w->s, msg);
	w->ok = false;
	q = (struct req){ .r = XLB__V1__SYNC_REQUEST__INIT };
	ret = req_add(&q, w, false);
	if (!ret && q.r.n_deletes)
		ret = send_req(f, &q, false, &ok, why, sizeof(why));
	req_free(&q);
	if (!ret)
		commit(w, now);
	return ret;
}

static void reap(struct xlb_feeder *f, struct fsvc *s)
{
	if (s->present || s->n_slices || s->n_sent || s->dirty)
		return;
	xlb_htab_del(&f->svcs, s->key, strlen(s->key));
	fsvc_free(s);
}

static int sync_deltas(struct xlb_feeder *f)
{
	struct req q = { .r = XLB__V1__SYNC_REQUEST__INIT };
	struct want *w = NULL;
	size_t n = 0, cap = 0;
	uint64_t now;
	char why[512];
	bool ok = true;
	int ret = 0;

	for (struct fsvc *s = f->dirty; s && !ret; s = s->next_dirty) {
		if (n == cap) {
			struct want *v = realloc(w, (cap = cap ? 2 * cap : 64) * sizeof(*v));

			if (!v) {
				ret = -ENOMEM;
				break;
			}
			w = v;
		}
		ret = want_of(f, s, &w[n]);
		if (!ret)
			ret = req_add(&q, &w[n++], false);
	}
	if (!ret && (q.n_up || q.r.n_deletes || f->node_dirty)) {
		ret = send_req(f, &q, false, &ok, why, sizeof(why));
		if (!ret)
			f->st.deltas++;
	}
	now = (uint64_t)xlb_clock_ms();
	if (!ret && ok) {
		for (size_t i = 0; i < n; i++)
			commit(&w[i], now);
	} else if (!ret) {
		/* One of them was refused: each on its own, to find which. */
		pr_info("sync with xlbd: a batch of %zu Services refused (%s): "
			"sending them one by one", n, why);
		for (size_t i = 0; !ret && i < n; i++)
			ret = send_alone(f, &w[i], now);
	}
	req_free(&q);
	for (size_t i = 0; i < n; i++)
		want_free(&w[i]);
	free(w);
	if (!ret) {
		struct fsvc *s = f->dirty, *next;

		f->dirty = NULL;
		for (; s; s = next) {
			next = s->next_dirty;
			s->dirty = false;
			s->next_dirty = NULL;
			reap(f, s);
		}
	}
	return ret;
}

static int sync_snapshot(struct xlb_feeder *f)
{
	struct req q = { .r = XLB__V1__SYNC_REQUEST__INIT };
	size_t n = 0, pos = 0;
	struct want *w;
	struct fsvc *s;
	uint64_t now;
	char why[512];
	bool ok = true;
	int ret = 0;

	w = calloc(f->svcs.used ? f->svcs.used : 1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	while (!ret && (s = xlb_htab_next(&f->svcs, &pos))) {
		ret = want_of(f, s, &w[n]);
		if (!ret)
			ret = req_add(&q, &w[n++], true);
	}
	if (!ret)
		ret = send_req(f, &q, true, &ok, why, sizeof(why));
	now = (uint64_t)xlb_clock_ms();
	if (!ret && !ok) {
		/* Two Services clash (same address and port): an empty
		 * snapshot, then each on its own, as deltas. */
		pr_info("sync with xlbd: snapshot refused (%s): sending Services one by one", why);
		req_free(&q);
		q = (struct req){ .r = XLB__V1__SYNC_REQUEST__INIT };
		ret = send_req(f, &q, true, &ok, why, sizeof(why));
		for (size_t i = 0; i < n; i++) {
			free(w[i].s->sent);
			w[i].s->sent = NULL;
			w[i].s->n_sent = 0;
		}
		for (size_t i = 0; !ret && i < n; i++)
			ret = send_alone(f, &w[i], now);
	} else if (!ret) {
		for (size_t i = 0; i < n; i++)
			commit(&w[i], now);
	}
	if (!ret) {
		f->st.snapshots++;
		f->snapshot = false;
		malloc_trim(0);		/* the request's bytes, as after a list */
		for (s = f->dirty; s; s = s->next_dirty)
			s->dirty = false;
		f->dirty = NULL;
		pos = 0;
		while ((s = xlb_htab_next(&f->svcs, &pos))) {
			if (!s->present && !s->n_slices && !s->n_sent) {
				reap(f, s);
				pos = 0;
			}
		}
	}
	req_free(&q);
	for (size_t i = 0; i < n; i++)
		want_free(&w[i]);
	free(w);
	return ret;
}

int xlb_feeder_sync(struct xlb_feeder *f, struct xlb_api_client *c, bool ready)
{
	char err[512];
	int code;

	if (!ready || (!f->snapshot && !f->dirty && !f->node_dirty && f->stream))
		return 0;
	if (!f->stream) {
		code = xlb_api_sync_open(c, &f->stream, err, sizeof(err));
		if (code) {
			pr_warn("sync with xlbd: %s: %s", xlb_api_code_name(code), err);
			f->st.sync_errors++;
			return -EPIPE;
		}
		f->snapshot = true;	/* a new stream may be a new xlbd */
	}
	code = f->snapshot ? sync_snapshot(f) : sync_deltas(f);
	if (!code && !f->st.connected) {
		pr_info("sync with xlbd: in step at version %llu",
			(unsigned long long)f->st.xlbd_version);
		f->st.connected = true;
	}
	return code;
}

int xlb_feeder_ping(struct xlb_feeder *f, struct xlb_api_client *c)
{
	struct req q = { .r = XLB__V1__SYNC_REQUEST__INIT };
	char why[512];
	bool ok;
	int ret;

	if (!f->stream || f->snapshot || f->dirty || f->node_dirty)
		return xlb_feeder_sync(f, c, true);
	ret = send_req(f, &q, false, &ok, why, sizeof(why));
	if (!ret && !ok)
		pr_warn("sync with xlbd: an empty delta refused: %s", why);
	return ret;
}

bool xlb_feeder_pending(const struct xlb_feeder *f)
{
	return f->snapshot || f->dirty || f->node_dirty;
}

void xlb_feeder_set_node(struct xlb_feeder *f, const struct xlb_node_info *n)
{
	if (f->has_node && !memcmp(&f->node, n, sizeof(*n)))
		return;
	f->node = *n;
	f->has_node = true;
	f->node_dirty = true;
}

void xlb_feeder_want_snapshot(struct xlb_feeder *f)
{
	f->snapshot = true;
}

void xlb_feeder_stats(const struct xlb_feeder *f, struct xlb_feeder_stats *st)
{
	const struct fsvc *s;
	const struct fslice *sl;
	size_t pos = 0;

	*st = f->st;
	st->services = st->slices = st->endpoints = st->rejected_now = 0;
	while ((s = xlb_htab_next(&f->svcs, &pos))) {
		st->services += s->present;
		st->rejected_now += s->present && s->reject;
	}
	pos = 0;
	while ((sl = xlb_htab_next(&f->slices, &pos))) {
		st->slices++;
		st->endpoints += sl->conv ? xlb_k8s_slice_endpoints(sl->conv) : 0;
	}
}
