// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The core's persistence: the state file (a snapshot) and the journal of
 * changes since it (store/). A delta costs one journal record, whose
 * fdatasync is waited for without the lock; a snapshot change too (a
 * record of every service, which replaces the state on replay). The
 * journal, once it outgrows the last snapshot, is compacted without the
 * lock, while changes go on being appended to it and acknowledged:
 *
 *   lock held        the state copied at version V; the journal's size
 *                    then (E: every record up to V is before it)
 *   persist thread   the copy written to a temporary file and synced;
 *                    under file_mu, unless a newer snapshot was written
 *                    meanwhile, renamed over the state file (COMMITTED);
 *                    a new journal for it (base V) at journal_next_path
 *                    with the old one's records from E on, synced
 *   lock held        the records appended since copied too, the new
 *                    journal synced and renamed over the old, which is
 *                    retired: its waiters' records are in the snapshot or
 *                    the new journal
 *
 * A crash anywhere keeps every acknowledged change: before COMMITTED the
 * old snapshot and the old journal hold them; from COMMITTED until the new
 * journal's rename, the new snapshot and the old journal, whose records
 * after V start-up replays over it (journal.h: an older journal); after,
 * the new pair.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "core_int.h"
#include "util/errmsg.h"
#include "store/journal.h"
#include "store/statefile.h"

/* The journal is compacted once it outgrows the snapshot it continues:
 * appends stay O(change) and the work of a rewrite is paid for by as many
 * bytes of appends. */
#define JOURNAL_MIN_COMPACT	(1u << 20)

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* A fresh journal continuing the snapshot (version, crc). Without one the
 * next change writes a snapshot again: slower, not wrong. Lock held. */
void core_journal_start(struct xlb_core *c, uint64_t version, uint32_t crc)
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
int core_compact(struct xlb_core *c, const struct xlb_state *st)
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
		/* Newer than what the persist thread may be writing: its
		 * snapshot must not replace this one. */
		pthread_mutex_lock(&c->file_mu);
		c->snap_gen++;
		ret = xlb_statefile_write(c->state_path, buf, len);
		pthread_mutex_unlock(&c->file_mu);
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
	core_journal_start(c, xlb_state_version(st), crc);
	return 0;
}

/* A compaction without the lock: a copy of the state at its version V,
 * the journal it began in and how far that journal was then (bytes,
 * records). */
struct snap_job {
	struct xlb_state *st;
	struct xlb_journal *old;
	size_t from, from_records;
	uint64_t gen;
};

static void snap_step(struct xlb_core *c, enum xlb_snap_step step)
{
	if (c->snap_hook)
		c->snap_hook(c->snap_hook_arg, step);
}

/* Queue a compaction of the state as it is. Lock held. */
static int compact_start(struct xlb_core *c)
{
	struct snap_job *job;

	if (!c->persist_running || !c->jr || xlb_journal_broken(c->jr))
		return -ENOENT;
	if (c->job)
		return -EBUSY;
	job = calloc(1, sizeof(*job));
	if (!job)
		return -ENOMEM;
	job->st = xlb_state_clone(c->st);
	if (!job->st) {
		free(job);
		return -ENOMEM;
	}
	job->old = xlb_journal_get(c->jr);
	job->from = xlb_journal_size(c->jr);
	job->from_records = xlb_journal_records(c->jr);
	job->gen = c->snap_gen;
	c->job = job;
	c->job_queued = true;
	c->jobs_started++;
	pthread_cond_broadcast(&c->persist_cv);
	return 0;
}

/* The state file, without the lock: written from the copy, and renamed
 * into place unless a snapshot written under the lock is newer (-ESTALE).
 * *crc: its payload's. */
static int snap_write(struct xlb_core *c, struct snap_job *job, size_t *len, uint32_t *crc)
{
	char tmp[PATH_MAX];
	uint8_t *buf;
	int ret;

	snap_step(c, XLB_SNAP_STARTED);
	ret = xlb_statefile_encode(job->st, &buf, len);
	if (!ret) {
		*crc = get_le32(buf + 12);
		ret = xlb_statefile_stage(c->state_path, buf, *len, tmp);
		free(buf);
	}
	if (ret)
		return ret;
	snap_step(c, XLB_SNAP_STAGED);
	pthread_mutex_lock(&c->file_mu);
	if (c->snap_gen != job->gen) {
		unlink(tmp);
		ret = -ESTALE;
	} else {
		ret = xlb_statefile_commit(tmp, c->state_path);
	}
	pthread_mutex_unlock(&c->file_mu);
	if (!ret)
		snap_step(c, XLB_SNAP_COMMITTED);
	return ret;
}

/* The new journal: the old one's records after the snapshot, copied
 * without the lock as far as they went, then under it the rest and the
 * switch. Lock not held; returns with it held. */
static int journal_switch(struct xlb_core *c, struct snap_job *job, uint32_t crc)
{
	struct xlb_journal *next;
	size_t upto;
	int ret;

	ret = xlb_journal_fork(c->journal_next_path, xlb_state_version(job->st), crc, &next);
	if (ret) {
		pthread_mutex_lock(&c->lock);
		return ret;
	}
	pthread_mutex_lock(&c->lock);
	upto = xlb_journal_size(job->old);
	pthread_mutex_unlock(&c->lock);
	ret = xlb_journal_copy(next, job->old, job->from, upto);
	if (!ret)
		ret = xlb_journal_flush(next);
	if (!ret)
		snap_step(c, XLB_SNAP_COPIED);
	pthread_mutex_lock(&c->lock);
	/* A snapshot under the lock since (the old journal failed, or a
	 * snapshot change) has a journal of its own. */
	if (!ret && (c->snap_gen != job->gen || c->jr != job->old))
		ret = -ESTALE;
	if (!ret)
		ret = xlb_journal_copy(next, job->old, upto, xlb_journal_size(job->old));
	if (!ret)
		ret = xlb_journal_install(next, c->journal_next_path, c->journal_path,
					  xlb_journal_records(job->old) - job->from_records);
	if (ret) {
		unlink(c->journal_next_path);
		xlb_journal_put(next);
		return ret;
	}
	/* The old journal's waiters have their records in the snapshot or
	 * in the new journal, synced; unless its name may not survive a
	 * crash (broken): then they sync the old one themselves, and the
	 * next change writes a snapshot under the lock. */
	if (!xlb_journal_broken(next))
		xlb_journal_retire(job->old);
	xlb_journal_put(c->jr);
	c->jr = next;
	return 0;
}

/* The persist thread's part of a job. Lock not held; returns with it
 * held. On error the old journal stays in force: with a new state file
 * (COMMITTED) it is an older journal, which start-up replays over it. */
static int compact_run(struct xlb_core *c, struct snap_job *job)
{
	size_t len = 0;
	uint32_t crc = 0;
	int ret = snap_write(c, job, &len, &crc);

	if (ret) {
		if (ret != -ESTALE)
			pr_err("write state file %s: %s", c->state_path, strerror(-ret));
		pthread_mutex_lock(&c->lock);
		return ret;
	}
	ret = journal_switch(c, job, crc);
	if (ret && ret != -ESTALE)
		pr_err("compact journal %s: %s (it goes on growing until the next try)",
		       c->journal_path, strerror(-ret));
	/* The new snapshot is in place either way. */
	c->snap_len = len;
	return ret;
}

static void *persist_main(void *arg)
{
	struct xlb_core *c = arg;
	struct snap_job *job;

	pthread_setname_np(pthread_self(), "xlbd-persist");
	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->job_queued && !c->persist_stop)
			pthread_cond_wait(&c->persist_cv, &c->lock);
		if (!c->job_queued)
			break;
		job = c->job;
		c->job_queued = false;
		pthread_mutex_unlock(&c->lock);
		c->job_ret = compact_run(c, job);	/* lock held again */
		/* A failure is not retried at every change: the journal grows
		 * by another step first. */
		c->compact_after = c->job_ret && c->job_ret != -ESTALE && c->jr ?
			xlb_journal_size(c->jr) + JOURNAL_MIN_COMPACT : 0;
		xlb_journal_put(job->old);
		xlb_state_free(job->st);
		free(job);
		c->jobs_done++;
		c->job = NULL;
		pthread_cond_broadcast(&c->persist_cv);
		if (!c->job_ret && c->snap_hook) {
			pthread_mutex_unlock(&c->lock);
			snap_step(c, XLB_SNAP_DONE);
			pthread_mutex_lock(&c->lock);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int xlb_core_persist_start(struct xlb_core *c)
{
	int ret;

	if (!c->state_path[0] || c->persist_running)
		return 0;
	if (snprintf(c->journal_next_path, sizeof(c->journal_next_path), "%s.next",
		     c->journal_path) >= (int)sizeof(c->journal_next_path))
		return -ENAMETOOLONG;
	unlink(c->journal_next_path);	/* a crash's: never installed */
	pthread_mutex_lock(&c->lock);
	ret = -pthread_create(&c->persist_thread, NULL, persist_main, c);
	if (!ret)
		c->persist_running = true;
	pthread_mutex_unlock(&c->lock);
	return ret;
}

/* A job queued or being written is finished first. */
void core_persist_stop(struct xlb_core *c)
{
	if (!c->persist_running)
		return;
	pthread_mutex_lock(&c->lock);
	c->persist_stop = true;
	pthread_cond_broadcast(&c->persist_cv);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->persist_thread, NULL);
	c->persist_running = false;
}

void xlb_core_set_snap_hook(struct xlb_core *c, xlb_snap_hook fn, void *arg)
{
	pthread_mutex_lock(&c->lock);
	c->snap_hook = fn;
	c->snap_hook_arg = arg;
	pthread_mutex_unlock(&c->lock);
}

int xlb_core_compact(struct xlb_core *c, bool wait)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = compact_start(c);
	if (!ret && wait) {
		uint64_t mine = c->jobs_started;

		while (c->jobs_done < mine)
			pthread_cond_wait(&c->persist_cv, &c->lock);
		ret = c->job_ret;
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

/* Persist a committed delta (st already holds it): one journal record,
 * not yet synced (*wait, *seq: for xlb_journal_sync once the lock is let
 * go), or a snapshot when there is no usable journal. A journal due for
 * compaction gets it from the persist thread. Lock held. */
int core_persist_delta(struct xlb_core *c, const struct xlb_state_txn *t,
			 struct xlb_journal **wait, uint64_t *seq)
{
	const struct xlb_svc_desired **up, *before, *after;
	const char **del;
	size_t n = xlb_state_txn_count(t), n_up = 0, n_del = 0;
	int ret;

	*wait = NULL;
	if (!c->state_path[0])
		return 0;
	if (!c->jr || xlb_journal_broken(c->jr))
		return core_compact(c, c->st);
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
		return core_compact(c, c->st);
	}
	*wait = xlb_journal_get(c->jr);
	core_persist_due(c);
	return 0;
}

static int svc_add(const struct xlb_svc_desired *s, void *arg)
{
	const struct xlb_svc_desired ***end = arg;

	*(*end)++ = s;
	return 0;
}

/* Persist a snapshot change (st: the state it makes, not c->st yet): one
 * journal record of every service, not yet synced (*wait, *seq as for a
 * delta), or the state file written whole when there is no usable
 * journal. Lock held. */
int core_persist_snapshot(struct xlb_core *c, const struct xlb_state *st,
			  struct xlb_journal **wait, uint64_t *seq)
{
	const struct xlb_svc_desired **svcs, **end;
	int ret;

	*wait = NULL;
	if (!c->state_path[0])
		return 0;
	if (!c->jr || xlb_journal_broken(c->jr))
		return core_compact(c, st);
	svcs = malloc((xlb_state_count(st) + 1) * sizeof(*svcs));
	if (!svcs)
		return -ENOMEM;
	end = svcs;
	xlb_state_foreach(st, svc_add, &end);
	ret = xlb_journal_append_snapshot(c->jr, xlb_state_version(st), svcs,
					  (size_t)(end - svcs), seq);
	free(svcs);
	if (ret) {
		pr_err("append to journal %s: %s; writing the state file instead",
		       c->journal_path, strerror(-ret));
		return core_compact(c, st);
	}
	*wait = xlb_journal_get(c->jr);
	return 0;
}

/* A journal that outgrew the snapshot it continues is compacted: by the
 * persist thread, or now when there is none (its records stay valid).
 * Lock held. */
void core_persist_due(struct xlb_core *c)
{
	size_t size;

	if (!c->jr)
		return;
	size = xlb_journal_size(c->jr);
	if (size > (c->snap_len > JOURNAL_MIN_COMPACT ? c->snap_len : JOURNAL_MIN_COMPACT) &&
	    size > c->compact_after && compact_start(c) == -ENOENT)
		core_compact(c, c->st);
}

/* Wait, without the lock, for the journal record of a change that is
 * already live. If the journal cannot sync, a snapshot makes the change
 * durable instead; if that fails too, the caller is told. */
int core_persist_wait(struct xlb_core *c, struct xlb_journal *j, uint64_t seq,
			char *err, size_t errlen)
{
	int ret;

	if (!j)
		return 0;
	ret = xlb_journal_sync(j, seq);
	if (ret) {
		pr_err("sync journal %s: %s; writing the state file instead", c->journal_path,
		       strerror(-ret));
		/* The state now holds j's records, whichever journal j is (the
		 * current one, or one a compaction left behind). */
		pthread_mutex_lock(&c->lock);
		if (!core_compact(c, c->st))
			xlb_journal_retire(j);
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
struct xlb_state *core_load_state(struct xlb_core *c, bool *replayed, uint32_t *crc)
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
	if (info.damaged) {
		/* Not a torn tail: start from the last good state, keep the
		 * damaged files, and say so wherever an operator looks. */
		xlb_journal_keep_damaged(c->journal_path, c->state_path, &info,
					 ret ? lerr : info.stop, c->damage, sizeof(c->damage));
		c->lost_changes = info.lost;
		pr_err("%s", c->damage);
		*replayed = true;	/* a fresh snapshot of the last good state */
	} else if (!ret) {
		if (info.records)
			pr_info("journal %s: %zu changes replayed, now version %llu",
				c->journal_path, info.records,
				(unsigned long long)xlb_state_version(st));
		if (info.end < info.size)
			pr_warn("journal %s: stopped at byte %zu of %zu: %s (a write cut short by a crash, never acknowledged; or damage to its last record, then that change is lost)",
				c->journal_path, info.end, info.size, info.stop);
		*replayed = info.records || info.covered || info.end < info.size;
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

bool core_journal_pending(const struct xlb_core *c)
{
	return c->jr && xlb_journal_records(c->jr);
}

void core_journal_close(struct xlb_core *c)
{
	xlb_journal_put(c->jr);
	c->jr = NULL;
}
