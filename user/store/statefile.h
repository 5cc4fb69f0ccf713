/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The state file (xlbd's desired state across restarts) and xlbctl's backup
 * file: one format.
 *
 *   offset  size  field
 *   0       8     magic "XLBSTAT1"
 *   8       4     payload length, little endian
 *   12      4     CRC-32 (zlib) of the payload, little endian
 *   16      len   payload: a packed xlb.v1.BackupResponse (services, version)
 *
 * Nothing follows the payload. A reader never trusts the contents: a short
 * file, a wrong magic or length, a bad CRC, a payload that does not unpack,
 * strings that are not UTF-8, or a service that fails validation (or
 * conflicts with another) give -EBADMSG and a message; the caller moves the
 * file aside and starts empty. A missing file is -ENOENT (first start).
 */
#ifndef XLB_STORE_STATEFILE_H
#define XLB_STORE_STATEFILE_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>
#include "xlb.pb-c.h"

#include "model/state.h"

#define XLB_STATEFILE_MAGIC	"XLBSTAT1"
#define XLB_STATEFILE_HDR_LEN	16
#define XLB_STATEFILE_MAX	(1u << 30)	/* payload bytes; more is garbage */

/* Written atomically: a temporary file in the same directory, fsync,
 * rename over path, fsync of the directory. 0 or a negative errno; path
 * is untouched on error. */
int xlb_statefile_save(const char *path, const struct xlb_state *st);
/* *out: a new state with the file's services and version. */
int xlb_statefile_load(const char *path, struct xlb_state **out, char *err, size_t errlen);

/* The same, in memory. *buf is malloc'd. */
int xlb_statefile_encode(const struct xlb_state *st, uint8_t **buf, size_t *len);
int xlb_statefile_decode(const uint8_t *buf, size_t len, struct xlb_state **out,
			 char *err, size_t errlen);

/* The message level, for xlbctl backup/restore (which hold a
 * BackupResponse, not a state). unpack checks the frame, CRC and UTF-8 but
 * not the services (the daemon validates them on Restore); free with
 * xlb__v1__backup_response__free_unpacked(*out, NULL). */
int xlb_statefile_pack(const Xlb__V1__BackupResponse *pb, uint8_t **buf, size_t *len);
int xlb_statefile_unpack(const uint8_t *buf, size_t len, Xlb__V1__BackupResponse **out,
			 char *err, size_t errlen);

/* Raw file I/O with the rules above (atomic write; read: -ENOENT when
 * missing, -EBADMSG when larger than a state file can be). */
int xlb_statefile_write(const char *path, const uint8_t *buf, size_t len);
/* The two halves of xlb_statefile_write, for a writer that decides in
 * between whether its file is still the newest (the core's compaction):
 * stage writes buf to a new temporary file beside path and fsyncs it (tmp:
 * PATH_MAX bytes, its name); commit renames it over path and fsyncs the
 * directory. Each removes the temporary file when it fails; a staged file
 * not committed is the caller's to unlink. */
int xlb_statefile_stage(const char *path, const uint8_t *buf, size_t len, char *tmp);
int xlb_statefile_commit(const char *tmp, const char *path);
/* fsync of the directory holding path: a rename or create in it durable. */
int xlb_fsync_dir_of(const char *path);
int xlb_statefile_read(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen);

#endif /* XLB_STORE_STATEFILE_H */
