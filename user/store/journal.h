/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The state journal: the changes acknowledged since the last snapshot (the
 * state file, statefile.h), so that a change costs one append and one
 * fdatasync instead of a rewrite of the whole state. It lives next to the
 * state file:
 *
 *   header, 32 bytes
 *   0   8    magic "XLBJRNL2" (written), or "XLBJRNL1" (still read)
 *   8   8    base version: the version of the snapshot it continues (le64)
 *   16  4    base CRC: that snapshot's payload CRC-32, as in its header (le32)
 *   20  8    reserved, zero
 *   28  4    CRC-32 (zlib) of bytes 0..27 (le32)
 *   then records, each (XLBJRNL2)
 *   0   4    payload length, 1..XLB_JOURNAL_REC_MAX (le32)
 *   4   4    CRC-32 of bytes 0..3 and 8..end: all but itself (le32)
 *   8   8    the state's version after the change (le64): base version + 1
 *            for the first record, + 1 for each next, so a record missing
 *            is seen from the record after it, without unpacking anything
 *   16  len  payload: a packed xlb.v1.SyncRequest of the same version:
 *            a change (snapshot false: upserts then deletes, in the order
 *            applied) or a snapshot (snapshot true: every service, no
 *            deletes; it replaces the state, so that a snapshot change is
 *            acknowledged after one append and one fdatasync, and the
 *            state file is rewritten by the next compaction). A reader of
 *            before snapshot records takes one as damage.
 *   (XLBJRNL1 records lack the version field: 8 bytes of header, the CRC
 *   over the length and the payload.)
 *
 * A reader applies the records in order, each whole or not at all, and
 * stops at the first one that is short, fails its CRC, does not unpack or
 * apply, or does not continue the version chain. Then it looks at the rest:
 * - no whole record (one that passes its CRC) there: a torn tail, a write
 *   a crash cut short, never acknowledged (a record is synced before its
 *   change is). A bit flip in the last record looks the same, and loses
 *   that record only.
 * - whole records there, or the stop record itself whole but not
 *   applicable: damage. Those records were written whole and may have been
 *   acknowledged: they are counted as lost, by version, and named.
 * A header that is not one is garbage (-EBADMSG; with a known magic, the
 * records after it are counted as lost); one naming another snapshot is
 * -ESTALE, unless it names an older one and the journal is format 2: a
 * snapshot was written while the journal went on (the core compacts it
 * without stopping appends, and may stop between installing the state
 * file and the new journal), so the records up to the snapshot's version
 * are skipped and those after it applied.
 *
 * Appends are serialized by the caller; waiting for them to reach the disk
 * is not, and every waiter whose record was appended before an fdatasync
 * started shares it (group commit).
 */
#ifndef XLB_STORE_JOURNAL_H
#define XLB_STORE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/state.h"

#define XLB_JOURNAL_MAGIC	"XLBJRNL2"
#define XLB_JOURNAL_MAGIC_V1	"XLBJRNL1"
#define XLB_JOURNAL_HDR_LEN	32
#define XLB_JOURNAL_REC_HDR_LEN	16
#define XLB_JOURNAL_REC_HDR_LEN_V1 8
#define XLB_JOURNAL_REC_MAX	(1u << 30)	/* payload bytes; more is garbage */

struct xlb_journal;

/* Create path holding only a header for the snapshot (base_version,
 * base_crc), atomically (a temporary file in the same directory, fsync,
 * rename over path, fsync of the directory), and open it for appending.
 * Whatever path held before is replaced. */
int xlb_journal_create(const char *path, uint64_t base_version, uint32_t base_crc,
		       struct xlb_journal **out);

/* The compaction of a journal while appends go on (the core's, without
 * its lock): a snapshot of version V is written, then a new journal
 * continues it with the records the old one has after V. fork creates it
 * at tmp_path (header for base_version V, base_crc; not synced); copy
 * appends src's bytes [from, to), whole records that src's appends no
 * longer touch (to: xlb_journal_size under the lock serializing them);
 * install syncs it, renames it to path and syncs the directory; records:
 * how many it holds. It takes appends once installed. install's error
 * means it is not in place (tmp_path is left for the caller); when only
 * the directory's sync failed it is in place but broken (see
 * xlb_journal_broken): the records it holds may still need the old
 * journal's own syncs. */
int xlb_journal_fork(const char *tmp_path, uint64_t base_version, uint32_t base_crc,
		     struct xlb_journal **out);
int xlb_journal_copy(struct xlb_journal *dst, const struct xlb_journal *src, size_t from,
		     size_t to);
int xlb_journal_install(struct xlb_journal *j, const char *tmp_path, const char *path,
			size_t records);
/* fdatasync now (the bulk of a fork's copy, before that lock is taken). */
int xlb_journal_flush(struct xlb_journal *j);

/* Append one change: the services as they are after it and the names
 * deleted, as the state's version `version`. Not yet on disk: pass *seq
 * to xlb_journal_sync. On error nothing was appended (a partial write is
 * cut off again; when even that fails the journal is broken and takes no
 * more appends). */
int xlb_journal_append(struct xlb_journal *j, uint64_t version,
		       const struct xlb_svc_desired *const *up, size_t n_up,
		       const char *const *del, size_t n_del, uint64_t *seq);

/* Append a snapshot: every service of the state at `version`; replay
 * replaces the state with them. The same as xlb_journal_append else. */
int xlb_journal_append_snapshot(struct xlb_journal *j, uint64_t version,
				const struct xlb_svc_desired *const *svcs, size_t n,
				uint64_t *seq);

/* Wait until record seq is on disk. Any thread. 0, or the error of the
 * fdatasync that should have covered it: then the journal is broken (its
 * records may be lost) and only a snapshot makes them durable again. */
int xlb_journal_sync(struct xlb_journal *j, uint64_t seq);

/* Every record of j is now in a snapshot: its waiters succeed, and it takes
 * no more appends. */
void xlb_journal_retire(struct xlb_journal *j);

/* Takes no more appends: an error, or retired. */
bool xlb_journal_broken(struct xlb_journal *j);
size_t xlb_journal_size(const struct xlb_journal *j);	/* bytes, header included */
size_t xlb_journal_records(const struct xlb_journal *j);

/* References: one from create; a waiter takes its own (get) before it lets
 * go of the lock that serializes appends. The last put closes the file. */
struct xlb_journal *xlb_journal_get(struct xlb_journal *j);
void xlb_journal_put(struct xlb_journal *j);

struct xlb_journal_info {
	unsigned int format;		/* 1 or 2, from the magic; 0: unknown */
	uint64_t base_version;		/* from the header */
	uint32_t base_crc;
	size_t records;			/* applied */
	size_t covered;			/* skipped: the snapshot has them */
	size_t end;			/* offset after the last record applied */
	size_t size;			/* of the file */
	char stop[256];			/* why reading stopped before size, else "" */
	/* Damage: whole records were left unapplied (see the top). lost:
	 * how many changes, versions lost_first..lost_last (counted from
	 * the versions, so records missing in between count too); services:
	 * the names they touch, ", "-separated, cut to fit. */
	bool damaged;
	uint64_t lost, lost_first, lost_last;
	char services[256];
};

/* Apply the records of the journal at path to st, which must hold the
 * snapshot it continues (version xlb_state_version(st), payload CRC
 * base_crc), or a later one (see the top). 0 (info->end < info->size: a
 * torn tail or damage was left unread, see info->stop and info->damaged),
 * -ENOENT (no journal),
 * -EBADMSG (garbage, err says why; info->damaged when records were found
 * behind a damaged header), -ESTALE (another snapshot's journal,
 * info->base_* say which), or another negative errno from reading. */
int xlb_journal_replay(const char *path, struct xlb_state *st, uint32_t base_crc,
		       struct xlb_journal_info *info, char *err, size_t errlen);

/* A damaged journal (info->damaged) and the snapshot it continues, kept
 * for an operator under new names, "<path>.damaged-<unix time>" (hard
 * links: a later snapshot or journal written over path leaves them be).
 * msg: what was lost and where the copies are, for the log and status;
 * why: where reading stopped. 0 or a negative errno from link(). */
int xlb_journal_keep_damaged(const char *journal_path, const char *state_path,
			     const struct xlb_journal_info *info, const char *why, char *msg,
			     size_t msglen);

#endif /* XLB_STORE_JOURNAL_H */
