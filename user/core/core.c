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
 * A snapshot, and the journal once it outgrows the last one, rewrite the
 * state file whole (journal.h, statefile.h).
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
#include "core_priv.h"
#include "dataplane/dataplane.h"
#include "util/clock.h"
#include "reconcile/reconcile.h"
#include "store/journal.h"
#include "store/statefile.h"

#define MAX_SUBS 64

struct sub {
	int id;
	xlb_event_fn fn;
	void *arg;
};

struct evq {
	struct xlb_event *ev;
	size_t n, cap;
	uint64_t ticket;	/* delivery order, taken under the core lock */
};

struct xlb_core {
	pthread_mutex_t lock;
	struct xlb_state *st;
	struct xlb_dp *dp;
	struct xlb_reconciler rec;
	bool hold_reconcile;	/* no trusted state yet: keep the adopted datapath */
	char state_path[PATH_MAX];
	char journal_path[PATH_MAX];
	struct xlb_journal *jr;	/* NULL: none usable, the next change writes a snapshot */
	size_t snap_len;	/* bytes of the last snapshot read or written */
	char dp_name[16];
	char dp_reason[256];
	/* Interfaces the datapath is attached to (xlb_core_attach). */
	char ifaces[XLB_CORE_MAX_IFACES][16];
	int ifindex[XLB_CORE_MAX_IFACES];
	size_t n_ifaces;
	int64_t started_ms;

	pthread_mutex_t sub_lock;
	struct sub subs[MAX_SUBS];
	int next_sub;
	/* Events go out in the order their changes were made (tickets taken
	 * under the core lock), one batch at a time; unsubscribe waits for a
	 * delivery in progress. */
	pthread_mutex_t deliver_mu;
	pthread_cond_t deliver_cv;
	uint64_t ticket_next, ticket_done;

	/* Told of reconcile passes and change latencies (metrics); calls and
	 * changes of it under obs_lock. */
	pthread_mutex_t obs_lock;
	const struct xlb_core_observer *obs;
	void *obs_arg;

	/* Health: the verdicts that decide which endpoints the datapath uses
	 * (xlb_core_health_update; the reconciler reads them), and where a
	 * listing's last probe result comes from (display only). */
	struct xlb_verdicts health;
	char tcp_probe[16];
	const struct xlb_health_source *hs;
	void *hs_arg;
	bool allow_exec;	/* exec health checks allowed (xlbd --allow-exec-probes) */
};

static void evq_add(struct evq *q, enum xlb_event_kind kind, uint64_t version,
		    const char *svc, const char *detail)
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
static void evq_ticket(struct xlb_core *c, struct evq *q)
{
	q->ticket = c->ticket_next++;
}

/* Deliver without the core lock held (a subscriber may read the core), in
 * ticket order. Subscribers must not write to the core from the callback. */
static void evq_flush(struct xlb_core *c, struct evq *q)
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

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* A fresh journal continuing the snapshot (version, crc). Without one the
 * next change writes a snapshot again: slower, not wrong. Lock held. */
static void journal_start(struct xlb_core *c, uint64_t version, uint32_t crc)
{
	int ret = xlb_journal_create(c->journal_path, version, crc, &c->jr);

	if (ret)
		pr_err("create journal %s: %s (each change rewrites the state file until it can)",
		       c->journal_path, strerror(-ret));
}

/* Write st whole as the snapshot, then start an empty journal after it.
 * Once the snapshot is on disk it holds everything the old journal did, so
 * that journal's waiters are released whether or not it could sync.
 * Lock held. */
static int compact(struct xlb_core *c, const struct xlb_state *st)
{
	uint8_t *buf;
	size_t len;
	uint32_t crc;
	int ret;

	if (!c->state_path[0])
		return 0;
	ret = xlb_statefile_encode(st, &buf, &len);
	if (!ret) {
		crc = get_le32(buf + 12);
		ret = xlb_statefile_write(c->state_path, buf, len);
		free(buf);
	}
	if (ret) {
		pr_err("write state file %s: %s", c->state_path, strerror(-ret));
		return ret;
	}
	c->snap_len = len;
	if (c->jr) {
		xlb_journal_retire(c->jr);
		xlb_journal_put(c->jr);
		c->jr = NULL;
	}
	journal_start(c, xlb_state_version(st), crc);
	return 0;
}

/* The journal is compacted once it outgrows the snapshot it continues:
 * appends stay O(change) and the work of a rewrite is paid for by as many
 * bytes of appends. */
#define JOURNAL_MIN_COMPACT	(1u << 20)

/* Persist a committed delta (st already holds it): one journal record,
 * not yet synced (*wait, *seq: for xlb_journal_sync once the lock is let
 * go), or a snapshot when there is no usable journal or it is due for
 * compaction. Lock held. */
static int persist_delta(struct xlb_core *c, const struct xlb_state_txn *t,
			 struct xlb_journal **wait, uint64_t *seq)
{
	const struct xlb_svc_desired **up, *before, *after;
	const char **del;
	size_t n = xlb_state_txn_count(t), n_up = 0, n_del = 0;
	int ret;

	*wait = NULL;
	if (!c->state_path[0])
		return 0;
	if (!c->jr || xlb_journal_broken(c->jr) ||
	    xlb_journal_size(c->jr) > (c->snap_len > JOURNAL_MIN_COMPACT ? c->snap_len :
									    JOURNAL_MIN_COMPACT))
		return compact(c, c->st);
	up = malloc((n + 1) * sizeof(*up));
	del = malloc((n + 1) * sizeof(*del));
	if (!up || !del) {
		free(up);
		free(del);
		return -ENOMEM;
	}
	/* In the order applied: a batch is upserts, then deletes. */
	for (size_t i = 0; i < n; i++) {
		xlb_state_txn_op(t, i, &before, &after);
		if (after)
			up[n_up++] = after;
		else
			del[n_del++] = before->spec.name;
	}
	ret = xlb_journal_append(c->jr, xlb_state_version(c->st), up, n_up, del, n_del, seq);
	free(up);
	free(del);
	if (ret) {
		pr_err("append to journal %s: %s; writing the state file instead",
		       c->journal_path, strerror(-ret));
		return compact(c, c->st);
	}
	*wait = xlb_journal_get(c->jr);
	return 0;
}

/* Wait, without the lock, for the journal record of a change that is
 * already live. If the journal cannot sync, a snapshot makes the change
 * durable instead; if that fails too, the caller is told. */
static int persist_wait(struct xlb_core *c, struct xlb_journal *j, uint64_t seq,
			char *err, size_t errlen)
{
	int ret;

	if (!j)
		return 0;
	ret = xlb_journal_sync(j, seq);
	if (ret) {
		pr_err("sync journal %s: %s; writing the state file instead", c->journal_path,
		       strerror(-ret));
		pthread_mutex_lock(&c->lock);
		if (c->jr == j)
			compact(c, c->st);
		pthread_mutex_unlock(&c->lock);
		ret = xlb_journal_sync(j, seq);	/* 0 once a snapshot retired it */
		if (ret)
			xlb_errf(err, errlen, 0,
				 "state file: %s (the change is live but not saved)",
				 strerror(-ret));
	}
	xlb_journal_put(j);
	return ret;
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
				evq_add(q, XLB_EV_SERVICE_UPSERT, version, a1->spec.name, detail);
			} else if (pass == 1 && !a1 && b0) {
				evq_add(q, XLB_EV_SERVICE_DELETE, version, b0->spec.name, NULL);
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
	return ret;
}

/* Recount one service's panic mode (s as st has it; NULL: gone, which
 * leaves it). A flip becomes an event in q (NULL: silently, as when a
 * refused change is undone). Before a reconcile: the datapath follows the
 * panic mode. Lock held. */
static void panic_recount(struct xlb_core *c, const char *name, const struct xlb_svc_desired *s,
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
	evq_add(q, XLB_EV_PANIC, version, name, d);
}

static void panic_recount_names(struct xlb_core *c, const char *const *names, size_t n,
				struct evq *q)
{
	for (size_t i = 0; i < n; i++)
		panic_recount(c, names[i], xlb_state_get(c->st, names[i]),
			      xlb_state_version(c->st), q);
}

static void evq_move(struct evq *to, struct evq *from)
{
	for (size_t i = 0; i < from->n; i++) {
		const struct xlb_event *e = &from->ev[i];

		evq_add(to, e->kind, e->version, e->service, e->detail);
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
	ret = persist_delta(c, &t, wait, seq);
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
		panic_recount(w->c, s->spec.name, s, xlb_state_version(w->st), w->q);
	else if (!xlb_state_get(w->other, s->spec.name))
		panic_recount(w->c, s->spec.name, NULL, 0, NULL);
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
 * current state), reconciled whole, written whole. Lock held. */
static int apply_snapshot(struct xlb_core *c, const struct xlb_svc_desired *up, size_t n_up,
			  const char *const *del, size_t n_del, struct evq *q,
			  char *err, size_t errlen)
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
		ret = compact(c, next);
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
		if (up[i].hc.kind == XLB_HC_EXEC) {
			return xlb_errf(err, errlen, -EPERM,
					"service %.128s: health_check.exec: exec probes are off on this "
					"node (xlbd --allow-exec-probes)", up[i].spec.name);
		}
	}
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

	if (ret)
		return ret;

	pthread_mutex_lock(&c->lock);
	if (snapshot)
		ret = apply_snapshot(c, up, n_up, del, n_del, &q, err, errlen);
	else
		ret = apply_delta(c, up, n_up, del, n_del, &q, &wait, &seq, err, errlen);
	if (version)
		*version = xlb_state_version(c->st);
	evq_ticket(c, &q);
	pthread_mutex_unlock(&c->lock);
	/* Acknowledged only once on disk; others may commit meanwhile and
	 * share the sync. */
	if (!ret)
		ret = persist_wait(c, wait, seq, err, errlen);
	/* Request in, datapath and journal have it: what a controller waits. */
	if (!ret && !snapshot)
		observe(c, OBS_CHANGE, xlb_clock_s() - t0);
	evq_flush(c, &q);
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
		ret = apply_delta(c, &s, 1, NULL, 0, &q, &wait, &seq, err, errlen);
	} else {
		xlb_errf(err, errlen, 0, "service %s: not found", name);
		ret = -ENOENT;
	}
	if (version)
		*version = xlb_state_version(c->st);
	evq_ticket(c, &q);
	pthread_mutex_unlock(&c->lock);
	if (!ret)
		ret = persist_wait(c, wait, seq, err, errlen);
	evq_flush(c, &q);
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
			evq_add(d->q, XLB_EV_SERVICE_DELETE, d->version, s->spec.name, NULL);
	} else if (!o || !xlb_svc_equal(s, o)) {
		char detail[64];

		snprintf(detail, sizeof(detail), "%zu endpoints", s->n_ep);
		evq_add(d->q, XLB_EV_SERVICE_UPSERT, d->version, s->spec.name, detail);
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

/* ---- reading ---- */


struct dp_copy {
	struct xlb_svc_ident key;
	struct xlb_service_spec spec;
	size_t n;
	struct xlb_backend_spec *be;
	uint32_t *id;
};

/* One service's listing, copied under the lock; backend counters are read
 * after it is let go. */
struct listed {
	struct xlb_service_status st;	/* st.svc.ep and st.eps owned */
	uint32_t *be_id;		/* per endpoint; 0: not in the datapath */
};

struct list_ctx {
	struct xlb_core *c;
	struct xlb_htab dp;	/* vkey -> dp_copy */
	struct dp_copy **all;
	size_t n_all;
	struct listed *out;
	size_t n_out;
};

static int dp_copy_cb(const struct xlb_dp_service *s, void *arg)
{
	struct list_ctx *l = arg;
	struct dp_copy *d = calloc(1, sizeof(*d)), **na;

	na = realloc(l->all, (l->n_all + 1) * sizeof(*na));
	if (!d || !na) {
		free(d);
		if (na)
			l->all = na;
		return -ENOMEM;
	}
	l->all = na;
	l->all[l->n_all++] = d;
	d->spec = s->spec;
	d->n = s->n_backends;
	d->be = malloc((d->n ? d->n : 1) * sizeof(*d->be));
	d->id = malloc((d->n ? d->n : 1) * sizeof(*d->id));
	if (!d->be || !d->id)
		return -ENOMEM;
	if (d->n) {
		memcpy(d->be, s->backends, d->n * sizeof(*d->be));
		memcpy(d->id, s->backend_ids, d->n * sizeof(*d->id));
	}
	xlb_svc_ident_of(&d->key, &s->spec);
	return xlb_htab_put(&l->dp, &d->key, sizeof(d->key), d);
}

static int list_copy(const struct xlb_svc_desired *s, void *arg)
{
	struct list_ctx *l = arg;
	struct listed *o = &l->out[l->n_out];
	struct xlb_service_status *st = &o->st;
	struct dp_copy *d;
	struct xlb_svc_ident k;
	size_t n = s->n_ep ? s->n_ep : 1;

	memset(o, 0, sizeof(*o));
	st->svc = *s;
	st->n_eps = s->n_ep;
	st->svc.ep = malloc(n * sizeof(*st->svc.ep));
	st->eps = calloc(n, sizeof(*st->eps));
	o->be_id = calloc(n, sizeof(*o->be_id));
	l->n_out++;
	if (!st->svc.ep || !st->eps || !o->be_id)
		return -ENOMEM;
	if (s->n_ep)
		memcpy(st->svc.ep, s->ep, s->n_ep * sizeof(*s->ep));
	xlb_svc_ident_of(&k, &s->spec);
	d = xlb_htab_get(&l->dp, &k, sizeof(k));
	if (d) {
		struct xlb_counters cnt;

		if (!xlb_dp_service_stats(l->c->dp, &d->spec, &cnt)) {
			st->packets = cnt.packets;
			st->bytes = cnt.bytes;
			st->new_flows = cnt.new_flows;
		}
	}
	for (size_t i = 0; i < s->n_ep; i++) {
		struct xlb_endpoint_status *e = &st->eps[i];

		e->ep = s->ep[i];
		e->health = s->hc.kind == XLB_HC_NONE ? XLB_HEALTH_UNCHECKED : XLB_HEALTH_UNKNOWN;
		if (s->hc.kind != XLB_HC_NONE) {
			const struct xlb_ep_verdict *v =
				xlb_verdicts_get(&l->c->health, s->spec.name, &e->ep.addr, e->ep.port);

			if (v) {
				e->health = v->health;
				e->last_transition_ms = v->transition_ms;
			}
			if (l->c->hs)
				l->c->hs->report(l->c->hs_arg, s->spec.name, &s->ep[i], e);
		}
		for (size_t j = 0; d && j < d->n; j++) {
			if (d->be[j].port != s->ep[i].port ||
			    !xlb_ip_equal(&d->be[j].addr, &s->ep[i].addr))
				continue;
			e->in_datapath = xlb_backend_selectable(&d->be[j]);
			o->be_id[i] = d->id[j];
		}
	}
	st->panic = xlb_verdicts_panic(&l->c->health, s->spec.name);
	return 0;
}

/* The listing is copied under the lock (desired state, what the datapath
 * holds, service counters: the dataplane's index may not change under
 * them); the per-backend counters, a syscall each, and the callbacks come
 * after it is let go. */
int xlb_core_list(struct xlb_core *c, const char *name,
		  int (*cb)(const struct xlb_service_status *s, void *arg), void *arg)
{
	struct list_ctx l = { .c = c };
	int ret;

	xlb_htab_init(&l.dp);
	pthread_mutex_lock(&c->lock);
	ret = xlb_dp_service_list(c->dp, dp_copy_cb, &l);
	if (!ret) {
		const struct xlb_svc_desired *one = name && name[0] ? xlb_state_get(c->st, name) : NULL;
		size_t n = name && name[0] ? 1 : xlb_state_count(c->st);

		l.out = calloc(n ? n : 1, sizeof(*l.out));
		if (!l.out)
			ret = -ENOMEM;
		else if (name && name[0])
			ret = one ? list_copy(one, &l) : -ENOENT;
		else
			ret = xlb_state_foreach(c->st, list_copy, &l);
	}
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < l.n_out; i++) {
		struct listed *o = &l.out[i];

		for (size_t j = 0; !ret && j < o->st.n_eps; j++) {
			struct xlb_endpoint_status *e = &o->st.eps[j];
			struct xlb_counters cnt;

			if (o->be_id[j] && !xlb_dp_backend_stats(c->dp, o->be_id[j], &cnt)) {
				e->packets = cnt.packets;
				e->bytes = cnt.bytes;
				e->new_flows = cnt.new_flows;
			}
		}
		if (!ret)
			ret = cb(&o->st, arg);
		free(o->st.svc.ep);
		free(o->st.eps);
		free(o->be_id);
	}
	free(l.out);
	for (size_t i = 0; i < l.n_all; i++) {
		free(l.all[i]->be);
		free(l.all[i]->id);
		free(l.all[i]);
	}
	free(l.all);
	xlb_htab_fini(&l.dp);
	return ret;
}

int xlb_core_status(struct xlb_core *c, struct xlb_core_status *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->lock);
	snprintf(out->dataplane, sizeof(out->dataplane), "%s", c->dp_name);
	snprintf(out->dataplane_reason, sizeof(out->dataplane_reason), "%s", c->dp_reason);
	snprintf(out->health_tcp_probe, sizeof(out->health_tcp_probe), "%s", c->tcp_probe);
	out->n_interfaces = c->n_ifaces;
	memcpy(out->interfaces, c->ifaces, sizeof(out->interfaces));
	out->services = (uint32_t)xlb_state_count(c->st);
	out->endpoints = (uint32_t)xlb_state_endpoint_count(c->st);
	out->version = xlb_state_version(c->st);
	out->started_ms = c->started_ms;
	pthread_mutex_unlock(&c->lock);
	xlb_dp_global_stats(c->dp, out->counters);	/* dataplane.h: no lock needed */
	return 0;
}

int xlb_core_backup(struct xlb_core *c,
		    int (*cb)(const struct xlb_svc_desired *s, void *arg), void *arg,
		    uint64_t *version)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = xlb_state_foreach(c->st, cb, arg);
	if (version)
		*version = xlb_state_version(c->st);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

struct ct_limit {
	uint32_t left;
	int (*cb)(const struct xlb_ct_entry *e, void *arg);
	void *arg;
};

static int ct_cb(const struct xlb_ct_entry *e, void *arg)
{
	struct ct_limit *l = arg;
	int ret;

	if (!l->left)
		return 1;
	l->left--;
	ret = l->cb(e, l->arg);
	return ret;
}

int xlb_core_ct_list(struct xlb_core *c, uint32_t limit,
		     int (*cb)(const struct xlb_ct_entry *e, void *arg), void *arg)
{
	struct ct_limit l = { .left = limit ? limit : UINT32_MAX, .cb = cb, .arg = arg };
	int ret;

	/* Up to 262k entries: never under the lock (dataplane.h allows it). */
	ret = xlb_dp_ct_list(c->dp, ct_cb, &l);
	return ret == 1 ? 0 : ret;
}

int xlb_core_explain(struct xlb_core *c, const struct xlb_ip *src, uint16_t sport,
		     const struct xlb_ip *dst, uint16_t dport, uint8_t proto,
		     struct xlb_explain *out, char *err, size_t errlen)
{
	/* Map lookups only: no lock (dataplane.h). */
	return xlb_dp_explain(c->dp, src, sport, dst, dport, proto, out, err, errlen);
}

int xlb_core_ct_flush(struct xlb_core *c, uint32_t *removed)
{
	return xlb_dp_ct_flush(c->dp, removed);	/* no lock: dataplane.h */
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

/* ---- the node: interfaces and addresses (lock held for each call) ---- */

static void iface_add(struct xlb_core *c, const char *ifname, int ifindex)
{
	snprintf(c->ifaces[c->n_ifaces], sizeof(c->ifaces[0]), "%s", ifname);
	c->ifindex[c->n_ifaces++] = ifindex;
}

int xlb_core_attach(struct xlb_core *c, const char *ifname, int ifindex, char *err, size_t errlen)
{
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_ifaces; i++)
		if (c->ifindex[i] == ifindex && !strcmp(c->ifaces[i], ifname))
			goto out;	/* already attached */
	if (c->n_ifaces >= XLB_CORE_MAX_IFACES) {
		xlb_errf(err, errlen, 0, "attach on %s: more than %d interfaces", ifname,
			 XLB_CORE_MAX_IFACES);
		ret = -E2BIG;
		goto out;
	}
	ret = xlb_dp_attach(c->dp, ifname, err, errlen);
	if (!ret) {
		iface_add(c, ifname, ifindex);
		pr_info("attached to %s (ifindex %d)", ifname, ifindex);
	}
out:
	pthread_mutex_unlock(&c->lock);
	return ret;
}

void xlb_core_link_gone(struct xlb_core *c, int ifindex)
{
	char err[256];

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_ifaces; i++) {
		if (c->ifindex[i] != ifindex)
			continue;
		/* The kernel detached the program with the device; drop the pin. */
		xlb_dp_detach(c->dp, c->ifaces[i], err, sizeof(err));
		pr_info("interface %s (ifindex %d) gone", c->ifaces[i], ifindex);
		c->n_ifaces--;
		c->ifindex[i] = c->ifindex[c->n_ifaces];
		memcpy(c->ifaces[i], c->ifaces[c->n_ifaces], sizeof(c->ifaces[0]));
		break;
	}
	pthread_mutex_unlock(&c->lock);
}

int xlb_core_node_addr(struct xlb_core *c, const struct xlb_ip *ip, bool add)
{
	char s[XLB_IP_STRLEN];
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = add ? xlb_dp_node_addr_add(c->dp, ip) : xlb_dp_node_addr_del(c->dp, ip);
	pthread_mutex_unlock(&c->lock);
	if (ret && ret != -ENOENT)
		pr_warn("node address %s %s: %s", add ? "add" : "del",
			xlb_ip_str(ip, s, sizeof(s)), strerror(-ret));
	else
		pr_debug("node address %s %s", add ? "add" : "del", xlb_ip_str(ip, s, sizeof(s)));
	return ret == -ENOENT ? 0 : ret;
}

size_t xlb_core_interfaces(struct xlb_core *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->n_ifaces;
	pthread_mutex_unlock(&c->lock);
	return n;
}

void xlb_core_health_start(struct xlb_core *c, double panic_threshold, const char *tcp_probe,
			   const struct xlb_health_source *ops, void *arg)
{
	pthread_mutex_lock(&c->lock);
	c->health.on = true;
	c->health.panic_threshold = panic_threshold;
	snprintf(c->tcp_probe, sizeof(c->tcp_probe), "%s", tcp_probe ? tcp_probe : "");
	c->hs = ops;
	c->hs_arg = arg;
	pthread_mutex_unlock(&c->lock);
}

void xlb_core_health_stop(struct xlb_core *c)
{
	pthread_mutex_lock(&c->lock);
	c->hs = NULL;
	c->hs_arg = NULL;
	pthread_mutex_unlock(&c->lock);
}

/* Health verdicts enter here, as updates: recorded, the service's panic
 * mode recounted, the service reconciled when an endpoint's usability or
 * the panic mode changed, events for transitions and panic flips. */
int xlb_core_health_update(struct xlb_core *c, const char *service,
			   const struct xlb_ep_verdict_in *v, size_t n, bool whole)
{
	const struct xlb_svc_desired *s;
	struct xlb_reconcile_result res;
	struct xlb_ep_verdict_key *keep = NULL;
	bool changed = false;
	struct evq q = {};
	int ret = 0;

	if (whole && !(keep = calloc(n ? n : 1, sizeof(*keep))))
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	s = xlb_state_get(c->st, service);
	if (whole) {
		for (size_t i = 0; i < n; i++) {
			keep[i].addr = v[i].addr;
			keep[i].port = v[i].port;
		}
		changed = xlb_verdicts_forget(&c->health, service, keep, n) > 0;
	}
	for (size_t i = 0; s && i < n; i++) {
		int r = xlb_verdicts_set(&c->health, service, &v[i].addr, v[i].port, v[i].health,
					 v[i].transition_ms);

		if (r < 0)
			ret = r;
		changed |= r > 0;
		if (v[i].why[0]) {
			evq_add(&q, XLB_EV_ENDPOINT_HEALTH, xlb_state_version(c->st), service,
				v[i].why);
			if (q.n)
				xlb_ip_port_str(&v[i].addr, v[i].port, q.ev[q.n - 1].endpoint,
						sizeof(q.ev[0].endpoint));
		}
	}
	if (s) {
		size_t before = q.n;

		panic_recount(c, service, s, xlb_state_version(c->st), &q);
		changed |= q.n > before;
	} else {
		xlb_verdicts_forget(&c->health, service, NULL, 0);
	}
	if (s && changed && !c->hold_reconcile &&
	    xlb_reconcile_names(&c->rec, c->st, &service, 1, &res)) {
		pr_err("health: re-applying %s: %s", service, res.first_error);
		ret = -EIO;
	}
	evq_ticket(c, &q);
	pthread_mutex_unlock(&c->lock);
	evq_flush(c, &q);
	free(keep);
	return ret;
}

int xlb_core_get(struct xlb_core *c, const char *name,
		 int (*cb)(const struct xlb_svc_desired *s, void *arg), void *arg)
{
	const struct xlb_svc_desired *s;
	int ret;

	pthread_mutex_lock(&c->lock);
	s = xlb_state_get(c->st, name);
	ret = s ? cb(s, arg) : -ENOENT;
	pthread_mutex_unlock(&c->lock);
	return ret;
}

void xlb_core_tick(struct xlb_core *c)
{
	uint32_t n = 0;

	/* A walk of up to 262k conntrack entries: without the lock, so that
	 * writes do not wait behind it (dataplane.h allows it). */
	xlb_dp_expire(c->dp, NULL, &n);
	if (n)
		pr_debug("dataplane upkeep: %u expired entries removed", n);
}

static void set_aside(const char *path, const char *what)
{
	char aside[PATH_MAX + 32];

	snprintf(aside, sizeof(aside), "%s.corrupt-%lld", path, (long long)time(NULL));
	if (rename(path, aside))
		pr_err("set aside %s: %s", path, strerror(errno));
	else
		pr_err("%s %s set aside as %s", what, path, aside);
}

/* The state file, then the journal's changes on top. NULL when there is
 * no trusted state (none, or garbage set aside). *replayed: the journal
 * had changes or a torn tail, so a fresh snapshot is due; *crc: the
 * snapshot's payload CRC. */
static struct xlb_state *load_state(struct xlb_core *c, bool *replayed, uint32_t *crc)
{
	struct xlb_journal_info info;
	struct xlb_state *st = NULL;
	char lerr[256] = "";
	uint8_t *buf;
	size_t len;
	int ret;

	*replayed = false;
	ret = xlb_statefile_read(c->state_path, &buf, &len, lerr, sizeof(lerr));
	if (!ret) {
		ret = xlb_statefile_decode(buf, len, &st, lerr, sizeof(lerr));
		if (!ret) {
			*crc = get_le32(buf + 12);
			c->snap_len = len;
		}
		free(buf);
	}
	if (ret == -EBADMSG) {
		pr_err("state file %s: %s", c->state_path, lerr);
		set_aside(c->state_path, "state file");
	} else if (ret && ret != -ENOENT) {
		pr_err("read state file %s: %s", c->state_path, lerr[0] ? lerr : strerror(-ret));
	}
	if (!st) {
		/* A journal only means something on top of its snapshot. */
		if (!access(c->journal_path, F_OK))
			set_aside(c->journal_path, "journal without its state file:");
		return NULL;
	}

	ret = xlb_journal_replay(c->journal_path, st, *crc, &info, lerr, sizeof(lerr));
	if (!ret) {
		if (info.records)
			pr_info("journal %s: %zu changes replayed, now version %llu",
				c->journal_path, info.records,
				(unsigned long long)xlb_state_version(st));
		if (info.end < info.size)
			pr_warn("journal %s: stopped at byte %zu of %zu: %s (a write cut short by a crash, never acknowledged)",
				c->journal_path, info.end, info.size, info.stop);
		*replayed = info.records || info.end < info.size;
	} else if (ret == -ESTALE && info.base_version < xlb_state_version(st)) {
		/* A crash between writing a snapshot and starting its journal. */
		pr_info("journal %s: older than the state file, dropped", c->journal_path);
	} else if (ret == -ESTALE || ret == -EBADMSG) {
		pr_err("journal %s: %s", c->journal_path, lerr);
		set_aside(c->journal_path, "journal");
	} else if (ret != -ENOENT) {
		pr_err("read journal %s: %s", c->journal_path, lerr[0] ? lerr : strerror(-ret));
		set_aside(c->journal_path, "journal");
	}
	return st;
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
	pthread_cond_init(&c->deliver_cv, NULL);
	c->dp = o->dp;
	c->started_ms = xlb_unix_ms();
	snprintf(c->dp_name, sizeof(c->dp_name), "%s", o->dp_name ? o->dp_name : "xdp");
	snprintf(c->dp_reason, sizeof(c->dp_reason), "%s", o->dp_reason ? o->dp_reason : "");
	c->allow_exec = o->allow_exec_probes;
	for (size_t i = 0; i < o->n_attached && i < XLB_CORE_MAX_IFACES; i++)
		iface_add(c, o->attached[i].name, o->attached[i].ifindex);
	xlb_verdicts_init(&c->health);
	ret = xlb_reconciler_init(&c->rec, c->dp);
	c->rec.health = &c->health;
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
		loaded = load_state(c, &replayed, &crc);
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
			compact(c, c->st);
		else
			journal_start(c, xlb_state_version(c->st), crc);
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
	/* A clean stop leaves the state in one file. */
	if (c->st && c->jr && xlb_journal_records(c->jr))
		compact(c, c->st);
	xlb_journal_put(c->jr);
	xlb_reconciler_fini(&c->rec);
	xlb_verdicts_fini(&c->health);
	xlb_state_free(c->st);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->sub_lock);
	pthread_mutex_destroy(&c->deliver_mu);
	pthread_mutex_destroy(&c->obs_lock);
	pthread_cond_destroy(&c->deliver_cv);
	free(c);
}
