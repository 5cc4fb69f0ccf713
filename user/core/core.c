// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The daemon core: one lock around the desired state, the reconciler and
 * the dataplane. A write is validated, applied to the datapath, persisted,
 * and only then acknowledged; if the datapath or the state file refuses
 * it, the state and the datapath are brought back to what they were and
 * the caller gets the error.
 *
 * A delta (upsert, delete, set endpoints, a Sync that is not a snapshot)
 * costs the size of the change: applied in place in a transaction,
 * reconciled for its names only, persisted as one journal record whose
 * fdatasync is waited for without the lock (concurrent writers share it).
 * A snapshot costs one journal record of the whole state, synced the same
 * way; the journal, once it outgrows the last state file, is compacted
 * into a new one by the persist thread (core_persist.c).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util/errmsg.h"
#include "core_int.h"
#include "dataplane/dataplane.h"
#include "util/clock.h"

void core_evq_add(struct evq *q, enum xlb_event_kind kind, uint64_t version, const char *svc,
		  const char *detail)
{
	struct xlb_event *e;

	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		struct xlb_event *n = realloc(q->ev, cap * sizeof(*n));

		if (!n)
			return;
		q->ev = n;
		q->cap = cap;
	}
	e = &q->ev[q->n++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->version = version;
	e->unix_ms = xlb_unix_ms();
	snprintf(e->service, sizeof(e->service), "%s", svc ? svc : "");
	snprintf(e->detail, sizeof(e->detail), "%s", detail ? detail : "");
}

/* Deliver without the core lock held: a subscriber may call back in. */
/* Core lock held: this batch's place in the delivery order. */
void core_evq_ticket(struct xlb_core *c, struct evq *q)
{
	q->ticket = c->ticket_next++;
}

/* Deliver without the core lock held (a subscriber may read the core), in
 * ticket order. Subscribers must not write to the core from the callback. */
void core_evq_flush(struct xlb_core *c, struct evq *q)
{
	struct sub subs[MAX_SUBS];
	size_t n = 0;

	pthread_mutex_lock(&c->deliver_mu);
	while (c->ticket_done != q->ticket)
		pthread_cond_wait(&c->deliver_cv, &c->deliver_mu);
	pthread_mutex_lock(&c->sub_lock);
	for (int i = 0; i < MAX_SUBS; i++)
		if (c->subs[i].fn)
			subs[n++] = c->subs[i];
	pthread_mutex_unlock(&c->sub_lock);
	for (size_t i = 0; i < q->n; i++)
		for (size_t j = 0; j < n; j++)
			subs[j].fn(&q->ev[i], subs[j].arg);
	c->ticket_done++;
	pthread_cond_broadcast(&c->deliver_cv);
	pthread_mutex_unlock(&c->deliver_mu);
	free(q->ev);
	memset(q, 0, sizeof(*q));
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct touched {
	const char *name;
	size_t first, last;	/* steps of the transaction */
};

static int touched_cmp(const void *a, const void *b)
{
	const struct touched *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->first > y->first) - (x->first < y->first);
}

/* Events for a transaction, as diff_events would find them: per service
 * its state before the first step and after the last; upserts then
 * deletes, each in name order. Before commit (the steps are still there). */
static void txn_events(struct evq *q, const struct xlb_state_txn *t, uint64_t version)
{
	size_t n = xlb_state_txn_count(t), m = 0;
	struct touched *v = malloc((n + 1) * sizeof(*v));
	const struct xlb_svc_desired *before, *after, *b0, *a1;

	if (!v)
		return;		/* as evq_add: events are best effort */
	for (size_t i = 0; i < n; i++) {
		xlb_state_txn_op(t, i, &before, &after);
		v[i] = (struct touched){ .name = after ? after->spec.name : before->spec.name,
					 .first = i, .last = i };
	}
	qsort(v, n, sizeof(*v), touched_cmp);
	for (size_t i = 0; i < n; i++) {
		if (m && !strcmp(v[m - 1].name, v[i].name))
			v[m - 1].last = v[i].first;
		else
			v[m++] = v[i];
	}
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < m; i++) {
			xlb_state_txn_op(t, v[i].first, &b0, &after);
			xlb_state_txn_op(t, v[i].last, &before, &a1);
			if (pass == 0 && a1 && (!b0 || !xlb_svc_equal(b0, a1))) {
				char detail[64];

				snprintf(detail, sizeof(detail), "%zu endpoints", a1->n_ep);
				core_evq_add(q, XLB_EV_SERVICE_UPSERT, version, a1->spec.name,
					     detail);
			} else if (pass == 1 && !a1 && b0) {
				core_evq_add(q, XLB_EV_SERVICE_DELETE, version, b0->spec.name,
					     NULL);
			}
		}
	free(v);
}

enum observation { OBS_RECONCILE, OBS_CHANGE };

static void observe(struct xlb_core *c, enum observation what, double seconds)
{
	pthread_mutex_lock(&c->obs_lock);
	if (c->obs && what == OBS_RECONCILE && c->obs->reconcile)
		c->obs->reconcile(c->obs_arg, seconds);
	else if (c->obs && what == OBS_CHANGE && c->obs->change)
		c->obs->change(c->obs_arg, seconds);
	pthread_mutex_unlock(&c->obs_lock);
}

void xlb_core_set_observer(struct xlb_core *c, const struct xlb_core_observer *o, void *arg)
{
	pthread_mutex_lock(&c->obs_lock);
	c->obs = o;
	c->obs_arg = arg;
	pthread_mutex_unlock(&c->obs_lock);
}

/* One reconcile pass, timed: whole (a snapshot, or while the reconciler
 * cannot vouch for the datapath; both directions of a delta reconcile the
 * same way), else the names only. Lock held. */
static int reconcile_timed(struct xlb_core *c, const struct xlb_state *st, bool whole,
			   const char *const *names, size_t n, struct xlb_reconcile_result *res)
{
	double t0 = xlb_clock_s();
	int ret = whole ? xlb_reconcile(&c->rec, st, res) :
			  xlb_reconcile_names(&c->rec, st, names, n, res);

	observe(c, OBS_RECONCILE, xlb_clock_s() - t0);
	if (!ret && !c->rec.dirty)
		c->in_step_ms = xlb_unix_ms();
	return ret;
}

/* Recount one service's panic mode (s as st has it; NULL: gone, which
 * leaves it). A flip becomes an event in q (NULL: silently, as when a
 * refused change is undone). Before a reconcile: the datapath follows the
 * panic mode. Lock held. */
void core_panic_recount(struct xlb_core *c, const char *name, const struct xlb_svc_desired *s,
			uint64_t version, struct evq *q)
{
	uint32_t healthy, checked;
	char d[128];

	if (!s) {
		xlb_verdicts_forget(&c->health, name, NULL, 0);
		return;
	}
	if (!xlb_verdicts_recount(&c->health, s, &healthy, &checked) || !q)
		return;
	snprintf(d, sizeof(d), "%s: %u of %u endpoints healthy (threshold %.0f%%)",
		 xlb_verdicts_panic(&c->health, name) ? "panic mode on, using every endpoint"
						      : "panic mode off",
		 healthy, checked, c->health.panic_threshold * 100);
	pr_warn("health: service %s: %s", name, d);
	core_evq_add(q, XLB_EV_PANIC, version, name, d);
}

static void panic_recount_names(struct xlb_core *c, const char *const *names, size_t n,
				struct evq *q)
{
	for (size_t i = 0; i < n; i++)
		core_panic_recount(c, names[i], xlb_state_get(c->st, names[i]),
				   xlb_state_version(c->st), q);
}

static void evq_move(struct evq *to, struct evq *from)
{
	for (size_t i = 0; i < from->n; i++) {
		const struct xlb_event *e = &from->ev[i];

		core_evq_add(to, e->kind, e->version, e->service, e->detail);
	}
	free(from->ev);
	memset(from, 0, sizeof(*from));
}

/* Upserts then deletes, applied in place on c->st and undone on any
 * failure: validation, datapath or state file. Lock held. */
static int apply_delta(struct xlb_core *c, const struct xlb_svc_desired *up, size_t n_up,
		       const char *const *del, size_t n_del, struct evq *q,
		       struct xlb_journal **wait, uint64_t *seq, char *err, size_t errlen)
{
	struct xlb_reconcile_result res;
	struct xlb_state_txn t;
	struct evq pq = {};	/* panic flips: events only if the change stands */
	const char **names = NULL;
	char (*copy)[sizeof(up->spec.name)] = NULL;
	bool whole = c->rec.dirty;
	size_t n;
	int ret = 0, undo;

	xlb_state_txn_begin(&t, c->st);
	for (size_t i = 0; i < n_up && !ret; i++)
		ret = xlb_state_txn_upsert(&t, &up[i], err, errlen);
	for (size_t i = 0; i < n_del && !ret; i++)
		ret = xlb_state_txn_delete(&t, del[i], err, errlen);
	n = xlb_state_txn_count(&t);
	/* The names outlive a rollback (which frees the new services). */
	if (!ret && (!(names = malloc((n + 1) * sizeof(*names))) ||
		     !(copy = malloc((n + 1) * sizeof(*copy)))))
		ret = -ENOMEM;
	if (ret) {
		xlb_state_txn_rollback(&t);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct xlb_svc_desired *before, *after;

		xlb_state_txn_op(&t, i, &before, &after);
		memcpy(copy[i], after ? after->spec.name : before->spec.name, sizeof(copy[i]));
		names[i] = copy[i];
	}
	qsort(names, n, sizeof(*names), name_cmp);
	xlb_state_set_version(c->st, t.version + 1);

	panic_recount_names(c, names, n, &pq);
	ret = reconcile_timed(c, c->st, whole, names, n, &res);
	if (ret) {
		xlb_errf(err, errlen, 0, "datapath: %s", res.first_error);
		goto undo;
	}
	ret = core_persist_delta(c, &t, wait, seq);
	if (ret) {
		xlb_errf(err, errlen, 0, "state file %s: %s", c->state_path, strerror(-ret));
		goto undo;
	}
	c->hold_reconcile = false;
	txn_events(q, &t, xlb_state_version(c->st));
	evq_move(q, &pq);
	xlb_state_txn_commit(&t);
	pr_debug("reconcile: %u created, %u updated, %u deleted, %u unchanged",
		 res.created, res.updated, res.deleted, res.unchanged);
	goto out;
undo:
	xlb_state_txn_rollback(&t);
	panic_recount_names(c, names, n, NULL);
	undo = reconcile_timed(c, c->st, whole, names, n, &res);
	if (undo)	/* the reconciler is dirty now: the next change reconciles whole */
		pr_err("undo a refused change: datapath: %s", res.first_error);
out:
	free(pq.ev);
	free(names);
	free(copy);
	return ret;
}

static int diff_events(struct evq *q, const struct xlb_state *old, const struct xlb_state *new);

struct panic_walk {
	struct xlb_core *c;
	const struct xlb_state *st, *other;	/* other: services gone unless there */
	struct evq *q;
};

static int panic_walk_cb(const struct xlb_svc_desired *s, void *arg)
{
	struct panic_walk *w = arg;

	if (!w->other)
		core_panic_recount(w->c, s->spec.name, s, xlb_state_version(w->st), w->q);
	else if (!xlb_state_get(w->other, s->spec.name))
		core_panic_recount(w->c, s->spec.name, NULL, 0, NULL);
	return 0;
}

/* Every service's panic mode as st has them; those only in old leave it. */
static void panic_recount_all(struct xlb_core *c, const struct xlb_state *st,
			      const struct xlb_state *old, struct evq *q)
{
	struct panic_walk w = { .c = c, .st = st, .q = q };

	xlb_state_foreach(st, panic_walk_cb, &w);
	w.st = old;
	w.other = st;
	xlb_state_foreach(old, panic_walk_cb, &w);
}

/* A snapshot replaces everything: built on its own (no copy of the
 * current state), reconciled whole, journaled whole (one record, synced
 * without the lock: *wait, *seq). Lock held. */
static int apply_snapshot(struct xlb_core *c, const struct xlb_svc_desired *up, size_t n_up,
			  const char *const *del, size_t n_del, struct evq *q,
			  struct xlb_journal **wait, uint64_t *seq, char *err, size_t errlen)
{
	struct xlb_reconcile_result res, undo;
	struct xlb_state *next = xlb_state_new();
	struct evq pq = {};	/* panic flips: events only if the snapshot stands */
	int ret = 0;

	if (!next)
		return -ENOMEM;
	for (size_t i = 0; i < n_up && !ret; i++)
		ret = xlb_state_upsert(next, &up[i], err, errlen);
	for (size_t i = 0; i < n_del && !ret; i++)
		ret = xlb_state_delete(next, del[i], err, errlen);
	if (ret)
		goto out;
	xlb_state_set_version(next, xlb_state_version(c->st) + 1);
	panic_recount_all(c, next, c->st, &pq);
	ret = reconcile_timed(c, next, true, NULL, 0, &res);
	if (ret)
		xlb_errf(err, errlen, 0, "datapath: %s", res.first_error);
	if (!ret) {
		ret = core_persist_snapshot(c, next, wait, seq);
		if (ret)
			xlb_errf(err, errlen, 0, "state file %s: %s", c->state_path,
				 strerror(-ret));
	}
	if (ret) {
		panic_recount_all(c, c->st, next, NULL);
		if (xlb_reconcile(&c->rec, c->st, &undo))
			pr_err("undo a refused change: datapath: %s", undo.first_error);
		goto out;
	}
	c->hold_reconcile = false;
	diff_events(q, c->st, next);
	evq_move(q, &pq);
	pr_debug("reconcile: %u created, %u updated, %u deleted, %u unchanged",
		 res.created, res.updated, res.deleted, res.unchanged);
	xlb_state_free(c->st);
	c->st = next;
	next = NULL;
	core_persist_due(c);
out:
	free(pq.ev);
	xlb_state_free(next);
	return ret;
}

/* An exec health check runs a command of the requester's choice on the
 * node: only where the node's operator allowed it. */
static int exec_check(const struct xlb_core *c, const struct xlb_svc_desired *up, size_t n_up,
		      char *err, size_t errlen)
{
	for (size_t i = 0; i < n_up && !c->allow_exec; i++) {
		if (xlb_svc_hc_kind(&up[i]) == XLB_HC_EXEC) {
			return xlb_errf(err, errlen, -EPERM,
					"service %.128s: health_check.exec: exec probes are off on this node "
					"(xlbd --allow-exec-probes)", up[i].spec.name);
		}
	}
	return 0;
}

/* A snapshot the XDP datapath cannot hold is refused before any work: it
 * would fail only once the ids ran out, after building and writing most
 * of it. (IPVS has no such limits.) */
static int capacity_check(const struct xlb_core *c, bool snapshot,
			  const struct xlb_svc_desired *up, size_t n_up, char *err, size_t errlen)
{
	size_t eps = 0;

	if (!snapshot || strcmp(c->dp_name, "xdp"))
		return 0;
	if (n_up > c->max_services)
		return xlb_errf(err, errlen, -ENOSPC,
				"over capacity: %zu services, the datapath holds %u", n_up,
				c->max_services);
	for (size_t i = 0; i < n_up; i++)
		eps += up[i].n_ep;
	if (eps > c->max_backends - 1)
		return xlb_errf(err, errlen, -ENOSPC,
				"over capacity: %zu endpoints, the datapath holds %u", eps,
				c->max_backends - 1);
	return 0;
}

void core_resync(struct xlb_core *c)
{
	struct xlb_reconcile_result res;

	pthread_mutex_lock(&c->lock);
	if (c->rec.dirty && !c->hold_reconcile) {
		if (reconcile_timed(c, c->st, true, NULL, 0, &res))
			pr_warn("datapath out of step with the desired state: %s", res.first_error);
		else
			pr_info("datapath back in step with the desired state");
	}
	pthread_mutex_unlock(&c->lock);
}

/* Node ports only in the node's range (xlbd --nodeport-range). */
static int node_port_check(const struct xlb_core *c, const struct xlb_svc_desired *up,
			   size_t n_up, char *err, size_t errlen)
{
	for (size_t i = 0; i < n_up && c->np_max; i++) {
		const struct xlb_service_spec *s = &up[i].spec;
		uint32_t p = xlb_svc_has_node_port(s) ? s->node_port : 0;
		const char *what = "node_port";

		if (!p || (p >= c->np_min && p <= c->np_max)) {
			p = s->health_check_node_port;
			what = "health_check_node_port";
		}
		if (p && (p < c->np_min || p > c->np_max))
			return xlb_errf(err, errlen, -EINVAL,
					"service %.128s: %s %u outside this node's NodePort range "
					"%u-%u (xlbd --nodeport-range)", s->name, what, p,
					c->np_min, c->np_max);
	}
	return 0;
}

/* "node-a, zone zone-a, addresses 10.0.0.1 10.0.0.2" */
static void node_text(const struct xlb_node_info *n, char *buf, size_t len)
{
	char ip[XLB_IP_STRLEN];
	size_t off;

	snprintf(buf, len, "%s, zone %s, addresses", n->name[0] ? n->name : "(no name)",
		 n->zone[0] ? n->zone : "(none)");
	off = strlen(buf);
	for (uint32_t i = 0; i < n->n_addrs && off < len; i++) {
		snprintf(buf + off, len - off, " %s", xlb_ip_str(&n->addrs[i], ip, sizeof(ip)));
		off += strlen(buf + off);
	}
	if (!n->n_addrs)
		snprintf(buf + off, len - off, " (none)");
}

int xlb_core_set_node(struct xlb_core *c, const struct xlb_node_info *n)
{
	struct xlb_reconcile_result res;
	struct evq q = {};
	char text[512];
	bool placed, same;

	pthread_mutex_lock(&c->lock);
	placed = strcmp(c->node_name, n->name) || strcmp(c->zone, n->zone);
	same = !placed && c->node_from_api && c->n_node_addrs == n->n_addrs &&
	       !memcmp(c->node_addrs, n->addrs, n->n_addrs * sizeof(n->addrs[0]));
	if (same) {
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	if (c->node_name[0] && strcmp(c->node_name, n->name))
		pr_warn("node: the controller names this node %s, not %s as xlbd was told",
			n->name, c->node_name);
	snprintf(c->node_name, sizeof(c->node_name), "%s", n->name);
	snprintf(c->zone, sizeof(c->zone), "%s", n->zone);
	memcpy(c->node_addrs, n->addrs, sizeof(c->node_addrs));
	c->n_node_addrs = n->n_addrs;
	c->node_from_api = true;
	node_text(n, text, sizeof(text));
	pr_info("node: %s (from the controller)", text);
	core_evq_add(&q, XLB_EV_NODE, xlb_state_version(c->st), "", text);
	/* Which endpoints are local, and which zones' serve here, changed. */
	if (placed && !c->hold_reconcile && reconcile_timed(c, c->st, true, NULL, 0, &res))
		pr_warn("node %s: datapath out of step (tried again on the tick): %s", n->name,
			res.first_error);
	core_evq_ticket(c, &q);
	pthread_mutex_unlock(&c->lock);
	core_evq_flush(c, &q);
	return 0;
}

int xlb_core_apply(struct xlb_core *c, bool snapshot,
		   const struct xlb_svc_desired *up, size_t n_up,
		   const char *const *del, size_t n_del, uint64_t *version,
		   char *err, size_t errlen)
{
	struct xlb_journal *wait = NULL;
	struct evq q = {};
	uint64_t seq = 0;
	double t0 = xlb_clock_s();
	int ret = exec_check(c, up, n_up, err, errlen);

	if (!ret)
		ret = capacity_check(c, snapshot, up, n_up, err, errlen);
	if (!ret)
		ret = node_port_check(c, up, n_up, err, errlen);
	if (ret)
		return ret;

	pthread_mutex_lock(&c->lock);
	if (snapshot)
		ret = apply_snapshot(c, up, n_up, del, n_del, &q, &wait, &seq, err, errlen);
	else
		ret = apply_delta(c, up, n_up, del, n_del, &q, &wait, &seq, err, errlen);
	if (version)
		*version = xlb_state_version(c->st);
	core_evq_ticket(c, &q);
	pthread_mutex_unlock(&c->lock);
	/* Acknowledged only once on disk; others may commit meanwhile and
	 * share the sync. */
	if (!ret)
		ret = core_persist_wait(c, wait, seq, err, errlen);
	/* Request in, datapath and journal have it: what a controller waits. */
	if (!ret && !snapshot)
		observe(c, OBS_CHANGE, xlb_clock_s() - t0);
	core_evq_flush(c, &q);
	return ret;
}

int xlb_core_upsert(struct xlb_core *c, const struct xlb_svc_desired *s,
		    uint64_t *version, char *err, size_t errlen)
{
	return xlb_core_apply(c, false, s, 1, NULL, 0, version, err, errlen);
}

int xlb_core_delete(struct xlb_core *c, const char *name, uint64_t *version,
		    char *err, size_t errlen)
{
	const char *del[1] = { name };

	return xlb_core_apply(c, false, NULL, 0, del, 1, version, err, errlen);
}

int xlb_core_set_endpoints(struct xlb_core *c, const char *name,
			   const struct xlb_endpoint *ep, size_t n, uint64_t *version,
			   char *err, size_t errlen)
{
	const struct xlb_svc_desired *cur;
	struct xlb_journal *wait = NULL;
	struct xlb_svc_desired s;
	struct evq q = {};
	uint64_t seq = 0;
	int ret;

	pthread_mutex_lock(&c->lock);
	cur = xlb_state_get(c->st, name);
	if (cur) {
		s = *cur;	/* spec and health check; endpoints replaced */
		s.ep = (struct xlb_endpoint *)ep;
		s.n_ep = n;
		/* The endpoints came without their service: checked with it. */
		ret = xlb_svc_validate(&s, err, errlen);
		if (!ret)
			ret = apply_delta(c, &s, 1, NULL, 0, &q, &wait, &seq, err, errlen);
	} else {
		xlb_errf(err, errlen, 0, "service %s: not found", name);
		ret = -ENOENT;
	}
	if (version)
		*version = xlb_state_version(c->st);
	core_evq_ticket(c, &q);
	pthread_mutex_unlock(&c->lock);
	if (!ret)
		ret = core_persist_wait(c, wait, seq, err, errlen);
	core_evq_flush(c, &q);
	return ret;
}

struct diff_ctx {
	struct evq *q;
	const struct xlb_state *other;
	uint64_t version;
	bool deleted_pass;
};

static int diff_cb(const struct xlb_svc_desired *s, void *arg)
{
	struct diff_ctx *d = arg;
	const struct xlb_svc_desired *o = xlb_state_get(d->other, s->spec.name);

	if (d->deleted_pass) {
		if (!o)
			core_evq_add(d->q, XLB_EV_SERVICE_DELETE, d->version, s->spec.name, NULL);
	} else if (!o || !xlb_svc_equal(s, o)) {
		char detail[64];

		snprintf(detail, sizeof(detail), "%zu endpoints", s->n_ep);
		core_evq_add(d->q, XLB_EV_SERVICE_UPSERT, d->version, s->spec.name, detail);
	}
	return 0;
}

static int diff_events(struct evq *q, const struct xlb_state *old, const struct xlb_state *new)
{
	struct diff_ctx d = { .q = q, .other = old, .version = xlb_state_version(new) };

	xlb_state_foreach(new, diff_cb, &d);
	d.other = new;
	d.deleted_pass = true;
	xlb_state_foreach(old, diff_cb, &d);
	return 0;
}

int xlb_core_subscribe(struct xlb_core *c, xlb_event_fn fn, void *arg)
{
	int id = -ENOSPC;

	pthread_mutex_lock(&c->sub_lock);
	for (int i = 0; i < MAX_SUBS; i++) {
		if (c->subs[i].fn)
			continue;
		id = ++c->next_sub;
		c->subs[i] = (struct sub){ .id = id, .fn = fn, .arg = arg };
		break;
	}
	pthread_mutex_unlock(&c->sub_lock);
	return id;
}

void xlb_core_unsubscribe(struct xlb_core *c, int id)
{
	/* Not from a callback: this waits for a delivery in progress. */
	pthread_mutex_lock(&c->deliver_mu);
	pthread_mutex_lock(&c->sub_lock);
	for (int i = 0; i < MAX_SUBS; i++)
		if (c->subs[i].id == id && c->subs[i].fn)
			memset(&c->subs[i], 0, sizeof(c->subs[i]));
	pthread_mutex_unlock(&c->sub_lock);
	pthread_mutex_unlock(&c->deliver_mu);
}

int xlb_core_new(const struct xlb_core_opts *o, struct xlb_core **out, char *err, size_t errlen)
{
	struct xlb_core *c = calloc(1, sizeof(*c));
	struct xlb_state *loaded = NULL;
	bool replayed = false;
	uint32_t crc = 0;
	int ret;

	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->sub_lock, NULL);
	pthread_mutex_init(&c->deliver_mu, NULL);
	pthread_mutex_init(&c->obs_lock, NULL);
	pthread_mutex_init(&c->file_mu, NULL);
	pthread_cond_init(&c->deliver_cv, NULL);
	pthread_cond_init(&c->persist_cv, NULL);
	c->dp = o->dp;
	c->started_ms = xlb_unix_ms();
	snprintf(c->dp_name, sizeof(c->dp_name), "%s", o->dp_name ? o->dp_name : "xdp");
	snprintf(c->dp_reason, sizeof(c->dp_reason), "%s", o->dp_reason ? o->dp_reason : "");
	c->allow_exec = o->allow_exec_probes;
	snprintf(c->node_name, sizeof(c->node_name), "%s", o->node_name ? o->node_name : "");
	c->np_min = o->node_port_min;
	c->np_max = o->node_port_max;
	c->in_step_ms = c->started_ms;
	c->max_services = o->max_services ? o->max_services : XLB_MAX_SERVICES;
	c->max_backends = o->max_backends ? o->max_backends : XLB_MAX_BACKENDS;
	for (size_t i = 0; i < o->n_attached && i < XLB_MAX_IFACES; i++)
		core_iface_add(c, o->attached[i].name, o->attached[i].ifindex);
	xlb_verdicts_init(&c->health);
	ret = xlb_reconciler_init(&c->rec, c->dp);
	c->rec.health = &c->health;
	c->rec.node = c->node_name;
	c->rec.zone = c->zone;
	if (ret) {
		xlb_errf(err, errlen, 0, "read the datapath's services: %s", strerror(-ret));
		goto fail;
	}

	if (o->state_dir && o->state_dir[0]) {
		if (mkdir(o->state_dir, 0700) && errno != EEXIST) {
			ret = -errno;
			xlb_errf(err, errlen, 0, "create state dir %s: %s", o->state_dir,
				 strerror(errno));
			goto fail;
		}
		snprintf(c->state_path, sizeof(c->state_path), "%s/state.pb", o->state_dir);
		snprintf(c->journal_path, sizeof(c->journal_path), "%s/state.journal",
			 o->state_dir);
		loaded = core_load_state(c, &replayed, &crc);
	}
	if (loaded) {
		struct xlb_reconcile_result res;

		c->st = loaded;
		pr_info("state: %zu services, %zu endpoints (version %llu) from %s",
			xlb_state_count(loaded), xlb_state_endpoint_count(loaded),
			(unsigned long long)xlb_state_version(loaded), c->state_path);
		ret = xlb_reconcile(&c->rec, c->st, &res);
		pr_info("reconcile on start: %u created, %u updated, %u deleted, %u unchanged%s%s",
			res.created, res.updated, res.deleted, res.unchanged,
			ret ? ", error: " : "", ret ? res.first_error : "");
		/* The journal's changes go into a new snapshot (if that fails,
		 * the files stay as they are and the next change tries again);
		 * else the snapshot read just now gets a journal of its own. */
		if (replayed)
			core_compact(c, c->st);
		else
			core_journal_start(c, xlb_state_version(c->st), crc);
	} else {
		c->st = xlb_state_new();
		if (!c->st) {
			ret = -ENOMEM;
			goto fail;
		}
		/* No trusted desired state: keep serving what the datapath holds
		 * until a controller speaks, rather than wipe it. No file is
		 * written until then either (an empty one would be trusted). */
		c->hold_reconcile = c->rec.applied.used > 0;
		if (c->hold_reconcile)
			pr_warn("no state file: keeping the %zu services found in the datapath until the first update",
				c->rec.applied.used);
	}
	*out = c;
	return 0;
fail:
	xlb_core_free(c);
	return ret;
}

void xlb_core_free(struct xlb_core *c)
{
	if (!c)
		return;
	core_persist_stop(c);
	/* A clean stop leaves the state in one file. */
	if (c->st && core_journal_pending(c))
		core_compact(c, c->st);
	core_journal_close(c);
	xlb_reconciler_fini(&c->rec);
	xlb_verdicts_fini(&c->health);
	xlb_state_free(c->st);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->sub_lock);
	pthread_mutex_destroy(&c->deliver_mu);
	pthread_mutex_destroy(&c->obs_lock);
	pthread_mutex_destroy(&c->file_mu);
	pthread_cond_destroy(&c->deliver_cv);
	pthread_cond_destroy(&c->persist_cv);
	free(c);
}
