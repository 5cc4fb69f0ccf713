// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The core's persistence: the state file (a snapshot) and the journal of
 * changes since it (store/). A delta costs one journal record, whose
 * fdatasync is waited for without the lock; a snapshot, and the journal
 * once it outgrows the last one, rewrite the state file whole.
 */
#include <errno.h>
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
	core_journal_start(c, xlb_state_version(st), crc);
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
	if (!c->jr || xlb_journal_broken(c->jr) ||
	    xlb_journal_size(c->jr) > (c->snap_len > JOURNAL_MIN_COMPACT ? c->snap_len :
									    JOURNAL_MIN_COMPACT))
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
	return 0;
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
		pthread_mutex_lock(&c->lock);
		if (c->jr == j)
			core_compact(c, c->st);
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

bool core_journal_pending(const struct xlb_core *c)
{
	return c->jr && xlb_journal_records(c->jr);
}

void core_journal_close(struct xlb_core *c)
{
	xlb_journal_put(c->jr);
	c->jr = NULL;
}
