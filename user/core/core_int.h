/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Inside the core: its state, shared by its files. core.c: writes, events,
 * observers, the lifecycle; core_persist.c: the state file and journal
 * (the only user of store/); core_read.c: listings, counters, conntrack,
 * explain; core_node.c: interfaces and node addresses; core_health.c:
 * health verdicts coming in. Nothing outside user/core includes this.
 */
#ifndef XLB_CORE_INT_H
#define XLB_CORE_INT_H

#include <limits.h>
#include <pthread.h>

#include "core_priv.h"
#include "reconcile/reconcile.h"

struct xlb_journal;
struct snap_job;

#define MAX_SUBS 64

struct sub {
	int id;
	xlb_event_fn fn;
	void *arg;
};

struct evq {
	struct xlb_event *ev;
	size_t n, cap;
	uint64_t ticket; /* delivery order, taken under the core lock */
};

struct xlb_core {
	pthread_mutex_t lock;
	struct xlb_state *st;
	struct xlb_dp *dp;
	struct xlb_reconciler rec;
	bool hold_reconcile; /* no trusted state yet: keep the adopted datapath */
	char state_path[PATH_MAX];
	char journal_path[PATH_MAX];
	struct xlb_journal *jr; /* NULL: none usable, the next change writes a snapshot */
	size_t snap_len;	/* bytes of the last snapshot read or written */
	/* Compaction without the lock (core_persist.c): the persist thread
	 * writes one snapshot at a time (job) while changes go on into a
	 * pending journal at journal_next_path. file_mu orders the renames of
	 * the state file and journal: under it, snap_gen (bumped, with the
	 * lock held too, by every snapshot written under the lock) tells the
	 * thread whether its snapshot is still the newest. */
	char journal_next_path[PATH_MAX];
	pthread_t persist_thread;
	bool persist_running, persist_stop;
	pthread_cond_t persist_cv;	/* with lock: a job queued, or one done */
	struct snap_job *job;		/* queued or being written; NULL: none */
	bool job_queued;
	uint64_t jobs_started, jobs_done;
	int job_ret;			/* of the last one done */
	size_t compact_after;		/* after a failure: the journal size to wait for */
	pthread_mutex_t file_mu;
	uint64_t snap_gen;
	xlb_snap_hook snap_hook;	/* tests */
	void *snap_hook_arg;
	/* Acknowledged changes a damaged journal lost at start, and what was
	 * lost and where the damaged files are kept; 0, "": none. */
	uint64_t lost_changes;
	char damage[1024];
	uint64_t nexthop_flushes;	/* xlb_core_nexthops_stale calls that flushed */
	char dp_name[16];
	uint32_t max_services, max_backends;	/* what the XDP datapath holds */
	char dp_reason[256];
	/* Interfaces the datapath is attached to (xlb_core_attach). */
	char ifaces[XLB_MAX_IFACES][16];
	int ifindex[XLB_MAX_IFACES];
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
	char node_name[256];	/* xlbd --node-name, or the controller's; "": none */
	char zone[64];		/* the controller's (topology hints); "": none */
	struct xlb_ip node_addrs[XLB_NODE_MAX_ADDRS];
	uint32_t n_node_addrs;
	bool node_from_api;	/* a controller set them (xlb_core_set_node) */
	uint32_t np_min, np_max; /* xlbd --nodeport-range; 0, 0: any */
	int64_t in_step_ms;	/* Unix ms the datapath last held the desired state */
};

/* Events (core.c): collected under the lock, a ticket taken under it,
 * delivered after it in ticket order. */
void core_evq_add(struct evq *q, enum xlb_event_kind kind, uint64_t version, const char *svc,
		  const char *detail);
void core_evq_ticket(struct xlb_core *c, struct evq *q);
void core_evq_flush(struct xlb_core *c, struct evq *q);

/* Recount a service's panic mode before a reconcile (core.c). */
void core_panic_recount(struct xlb_core *c, const char *name, const struct xlb_svc_desired *s,
			uint64_t version, struct evq *q);

/* Persistence (core_persist.c), lock held unless said. */
void core_journal_start(struct xlb_core *c, uint64_t version, uint32_t crc);
/* Write st whole now, under the lock (start, stop, and when the journal
 * fails). */
int core_compact(struct xlb_core *c, const struct xlb_state *st);
/* The persist thread's end (no lock held). */
void core_persist_stop(struct xlb_core *c);
int core_persist_delta(struct xlb_core *c, const struct xlb_state_txn *t, struct xlb_journal **wait,
		       uint64_t *seq);
int core_persist_snapshot(struct xlb_core *c, const struct xlb_state *st,
			  struct xlb_journal **wait, uint64_t *seq);
/* Compaction when the journal is due for one, once c->st is current. */
void core_persist_due(struct xlb_core *c);
/* Without the lock. */
int core_persist_wait(struct xlb_core *c, struct xlb_journal *j, uint64_t seq, char *err,
		      size_t errlen);
struct xlb_state *core_load_state(struct xlb_core *c, bool *replayed, uint32_t *crc);
/* The journal has records a snapshot would fold in (a clean stop does). */
bool core_journal_pending(const struct xlb_core *c);
void core_journal_close(struct xlb_core *c);

/* A whole reconcile when the datapath is out of step with the desired
 * state (not while an adopted datapath is held). Takes the lock. */
void core_resync(struct xlb_core *c);

/* An interface attached before the core existed (core_node.c). */
void core_iface_add(struct xlb_core *c, const char *ifname, int ifindex);

#endif /* XLB_CORE_INT_H */
