/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The state journal: the changes acknowledged since the last snapshot (the
 * state file, statefile.h), so that a change costs one append and one
 * fdatasync instead of a rewrite of the whole state. It lives next to the
 * state file:
 *
 *   header, 32 bytes
 *   0   8    magic "XLBJRNL1"
 *   8   8    base version: the version of the snapshot it continues (le64)
 *   16  4    base CRC: that snapshot's payload CRC-32, as in its header (le32)
 *   20  8    reserved, zero
 *   28  4    CRC-32 (zlib) of bytes 0..27 (le32)
 *   then records, each
 *   0   4    payload length, 1..XLB_JOURNAL_REC_MAX (le32)
 *   4   4    CRC-32 of the length field and the payload (le32)
 *   8   len  payload: a packed xlb.v1.SyncRequest, snapshot false, version
 *            the state's version after the change, upserts then deletes in
 *            the order they were applied
 *
 * A reader applies the records in order, each whole or not at all, and
 * stops at the first one that is short, fails its CRC, does not unpack or
 * apply, or does not continue the version chain: that is a write a crash
 * tore, which was never acknowledged (a record is synced before its change
 * is). A header that is not one is garbage (-EBADMSG); one naming another
 * snapshot is -ESTALE.
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

#define XLB_JOURNAL_MAGIC	"XLBJRNL1"
#define XLB_JOURNAL_HDR_LEN	32
#define XLB_JOURNAL_REC_HDR_LEN	8
#define XLB_JOURNAL_REC_MAX	(1u << 30)	/* payload bytes; more is garbage */

struct xlb_journal;

/* Create path holding only a header for the snapshot (base_version,
 * base_crc), atomically (a temporary file in the same directory, fsync,
 * rename over path, fsync of the directory), and open it for appending.
 * Whatever path held before is replaced. */
int xlb_journal_create(const char *path, uint64_t base_version, uint32_t base_crc,
		       struct xlb_journal **out);

/* Append one change: the services as they are after it and the names
 * deleted, as the state's version `version`. Not yet on disk: pass *seq
 * to xlb_journal_sync. On error nothing was appended (a partial write is
 * cut off again; when even that fails the journal is broken and takes no
 * more appends). */
int xlb_journal_append(struct xlb_journal *j, uint64_t version,
		       const struct xlb_svc_desired *const *up, size_t n_up,
		       const char *const *del, size_t n_del, uint64_t *seq);

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
	uint64_t base_version;		/* from the header */
	uint32_t base_crc;
	size_t records;			/* applied */
	size_t end;			/* offset after the last record applied */
	size_t size;			/* of the file */
	char stop[256];			/* why reading stopped before size, else "" */
};

/* Apply the records of the journal at path to st, which must hold the
 * snapshot it continues (version xlb_state_version(st), payload CRC
 * base_crc). 0 (info->end < info->size: a torn tail was left unread, see
 * info->stop), -ENOENT (no journal), -EBADMSG (garbage, err says why),
 * -ESTALE (another snapshot's journal, info->base_* say which), or another
 * negative errno from reading. */
int xlb_journal_replay(const char *path, struct xlb_state *st, uint32_t base_crc,
		       struct xlb_journal_info *info, char *err, size_t errlen);

#endif /* XLB_STORE_JOURNAL_H */
