// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The state journal: framing, CRC, group commit, replay. See journal.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "util/errmsg.h"
#include "convert/convert.h"
#include "store/journal.h"
#include "store/statefile.h"

struct xlb_journal {
	int fd;
	size_t end;		/* bytes written; the caller's lock */
	size_t records;
	bool cut;		/* a partial append could not be cut off */

	pthread_mutex_t lock;	/* the rest */
	pthread_cond_t cond;
	int refs;
	uint64_t appended;	/* seq of the last record written */
	uint64_t synced;	/* seq of the last record known on disk */
	bool syncing;		/* one waiter is in fdatasync for all */
	bool retired;
	int err;		/* sticky fdatasync error */
};


static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static uint32_t crc_of(const uint8_t *p, size_t len)
{
	return (uint32_t)crc32_z(crc32_z(0, Z_NULL, 0), p, len);
}

/* A record's CRC covers its length field too: a torn length cannot point
 * at a payload that happens to check. Format 2 (hdr 16): the version
 * field as well. */
static uint32_t rec_crc(const uint8_t *rec, size_t hdr, size_t len)
{
	uLong c = crc32_z(crc32_z(0, Z_NULL, 0), rec, 4);

	return (uint32_t)crc32_z(c, rec + 8, hdr - 8 + len);
}

static int write_all(int fd, const uint8_t *p, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

static void header_of(uint8_t *hdr, uint64_t base_version, uint32_t base_crc)
{
	memset(hdr, 0, XLB_JOURNAL_HDR_LEN);
	memcpy(hdr, XLB_JOURNAL_MAGIC, 8);
	put_le64(hdr + 8, base_version);
	put_le32(hdr + 16, base_crc);
	put_le32(hdr + 28, crc_of(hdr, 28));
}

static struct xlb_journal *journal_of(int fd)
{
	struct xlb_journal *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->fd = fd;
	j->end = XLB_JOURNAL_HDR_LEN;
	j->refs = 1;
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->cond, NULL);
	return j;
}

int xlb_journal_create(const char *path, uint64_t base_version, uint32_t base_crc,
		       struct xlb_journal **out)
{
	uint8_t hdr[XLB_JOURNAL_HDR_LEN];
	char tmp[PATH_MAX];
	int fd, ret;

	*out = NULL;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	header_of(hdr, base_version, base_crc);
	fd = mkstemp(tmp);	/* same directory: rename() is atomic; mode 0600 */
	if (fd < 0)
		return -errno;
	ret = fcntl(fd, F_SETFD, FD_CLOEXEC) ? -errno : 0;
	if (!ret)
		ret = write_all(fd, hdr, sizeof(hdr), 0);
	if (!ret && fsync(fd))
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		unlink(tmp);
	if (!ret)
		ret = xlb_fsync_dir_of(path);
	if (!ret && !(*out = journal_of(fd)))
		ret = -ENOMEM;
	if (ret)
		close(fd);
	return ret;
}

int xlb_journal_fork(const char *tmp_path, uint64_t base_version, uint32_t base_crc,
		     struct xlb_journal **out)
{
	uint8_t hdr[XLB_JOURNAL_HDR_LEN];
	int fd, ret;

	*out = NULL;
	header_of(hdr, base_version, base_crc);
	fd = open(tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ret = write_all(fd, hdr, sizeof(hdr), 0);
	if (!ret && !(*out = journal_of(fd)))
		ret = -ENOMEM;
	if (ret) {
		close(fd);
		unlink(tmp_path);
	}
	return ret;
}

int xlb_journal_copy(struct xlb_journal *dst, const struct xlb_journal *src, size_t from,
		     size_t to)
{
	uint8_t buf[65536];

	while (from < to) {
		size_t want = to - from < sizeof(buf) ? to - from : sizeof(buf);
		ssize_t n = pread(src->fd, buf, want, (off_t)from);
		int ret;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		ret = write_all(dst->fd, buf, (size_t)n, (off_t)dst->end);
		if (ret)
			return ret;
		dst->end += (size_t)n;
		from += (size_t)n;
	}
	return 0;
}

int xlb_journal_install(struct xlb_journal *j, const char *tmp_path, const char *path,
			size_t records)
{
	int ret = fdatasync(j->fd) ? -errno : 0;

	if (!ret && rename(tmp_path, path))
		ret = -errno;
	if (ret)
		return ret;
	ret = xlb_fsync_dir_of(path);
	if (ret) {
		/* In place, but maybe not after a crash: broken, so that only a
		 * snapshot makes what is appended from now on durable. */
		pthread_mutex_lock(&j->lock);
		j->err = ret;
		pthread_mutex_unlock(&j->lock);
	}
	j->records = records;
	return 0;
}

int xlb_journal_flush(struct xlb_journal *j)
{
	return fdatasync(j->fd) ? -errno : 0;
}

static int encode(uint64_t version, bool snapshot, const struct xlb_svc_desired *const *up,
		  size_t n_up, const char *const *del, size_t n_del, uint8_t **buf, size_t *len)
{
	Xlb__V1__SyncRequest req = XLB__V1__SYNC_REQUEST__INIT;
	size_t n = 0;
	uint8_t *b = NULL;
	int ret = -ENOMEM;

	req.version = version;
	req.snapshot = snapshot;
	req.n_deletes = n_del;
	req.deletes = (char **)del;
	if (n_up && !(req.upserts = calloc(n_up, sizeof(*req.upserts))))
		return -ENOMEM;
	for (; req.n_upserts < n_up; req.n_upserts++)
		if (!(req.upserts[req.n_upserts] = xlb_api_service_to_pb(up[req.n_upserts])))
			goto out;
	n = protobuf_c_message_get_packed_size(&req.base);
	if (!n || n > XLB_JOURNAL_REC_MAX) {
		ret = -E2BIG;
		goto out;
	}
	b = malloc(XLB_JOURNAL_REC_HDR_LEN + n);
	if (!b)
		goto out;
	if (protobuf_c_message_pack(&req.base, b + XLB_JOURNAL_REC_HDR_LEN) != n) {
		ret = -EIO;
		goto out;
	}
	put_le32(b, (uint32_t)n);
	put_le64(b + 8, version);
	put_le32(b + 4, rec_crc(b, XLB_JOURNAL_REC_HDR_LEN, n));
	*buf = b;
	*len = XLB_JOURNAL_REC_HDR_LEN + n;
	b = NULL;
	ret = 0;
out:
	for (size_t i = 0; i < req.n_upserts; i++)
		xlb_api_service_free_pb(req.upserts[i]);
	free(req.upserts);
	free(b);
	return ret;
}

static int append(struct xlb_journal *j, uint64_t version, bool snapshot,
		  const struct xlb_svc_desired *const *up, size_t n_up,
		  const char *const *del, size_t n_del, uint64_t *seq)
{
	uint8_t *buf;
	size_t len;
	int ret;

	if (xlb_journal_broken(j))
		return -EIO;
	ret = encode(version, snapshot, up, n_up, del, n_del, &buf, &len);
	if (ret)
		return ret;
	ret = write_all(j->fd, buf, len, (off_t)j->end);
	free(buf);
	if (ret) {
		/* Whatever reached the file would be read as a torn record and
		 * hide every later one. */
		if (ftruncate(j->fd, (off_t)j->end))
			j->cut = true;
		return ret;
	}
	j->end += len;
	j->records++;
	pthread_mutex_lock(&j->lock);
	*seq = ++j->appended;
	pthread_mutex_unlock(&j->lock);
	return 0;
}

int xlb_journal_append(struct xlb_journal *j, uint64_t version,
		       const struct xlb_svc_desired *const *up, size_t n_up,
		       const char *const *del, size_t n_del, uint64_t *seq)
{
	return append(j, version, false, up, n_up, del, n_del, seq);
}

int xlb_journal_append_snapshot(struct xlb_journal *j, uint64_t version,
				const struct xlb_svc_desired *const *svcs, size_t n,
				uint64_t *seq)
{
	return append(j, version, true, svcs, n, NULL, 0, seq);
}

int xlb_journal_sync(struct xlb_journal *j, uint64_t seq)
{
	int ret;

	pthread_mutex_lock(&j->lock);
	while (j->synced < seq && !j->err) {
		uint64_t upto;

		if (j->syncing) {
			pthread_cond_wait(&j->cond, &j->lock);
			continue;
		}
		/* Lead: one fdatasync for every record appended so far. */
		j->syncing = true;
		upto = j->appended;
		pthread_mutex_unlock(&j->lock);
		ret = fdatasync(j->fd) ? -errno : 0;
		pthread_mutex_lock(&j->lock);
		j->syncing = false;
		if (ret)
			j->err = ret;
		else if (upto > j->synced)
			j->synced = upto;
		pthread_cond_broadcast(&j->cond);
	}
	ret = j->synced >= seq ? 0 : j->err;
	pthread_mutex_unlock(&j->lock);
	return ret;
}

void xlb_journal_retire(struct xlb_journal *j)
{
	pthread_mutex_lock(&j->lock);
	j->retired = true;
	j->synced = j->appended;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
}

bool xlb_journal_broken(struct xlb_journal *j)
{
	bool b;

	pthread_mutex_lock(&j->lock);
	b = j->cut || j->err || j->retired;
	pthread_mutex_unlock(&j->lock);
	return b;
}

size_t xlb_journal_size(const struct xlb_journal *j)
{
	return j->end;
}

size_t xlb_journal_records(const struct xlb_journal *j)
{
	return j->records;
}

struct xlb_journal *xlb_journal_get(struct xlb_journal *j)
{
	pthread_mutex_lock(&j->lock);
	j->refs++;
	pthread_mutex_unlock(&j->lock);
	return j;
}

void xlb_journal_put(struct xlb_journal *j)
{
	int left;

	if (!j)
		return;
	pthread_mutex_lock(&j->lock);
	left = --j->refs;
	pthread_mutex_unlock(&j->lock);
	if (left)
		return;
	close(j->fd);
	pthread_mutex_destroy(&j->lock);
	pthread_cond_destroy(&j->cond);
	free(j);
}

/* Where a journal's records are, and how they look. */
struct jbuf {
	const uint8_t *buf;
	size_t len;
	size_t hdr;		/* record header: 16, or 8 in format 1 */
};

/* Whether a whole record starts at off: its length fits and its CRC
 * matches; *n its payload length. */
static bool rec_whole(const struct jbuf *b, size_t off, uint32_t *n)
{
	const uint8_t *rec = b->buf + off;

	if (b->len - off < b->hdr)
		return false;
	*n = get_le32(rec);
	return *n && *n <= XLB_JOURNAL_REC_MAX && *n <= b->len - off - b->hdr &&
	       rec_crc(rec, b->hdr, *n) == get_le32(rec + 4);
}

/* The version a whole record says it makes: from its header, or in format
 * 1 from its payload (0 if that does not unpack). *req: the payload
 * unpacked, or NULL. */
static uint64_t rec_version(const struct jbuf *b, size_t off, uint32_t n,
			    Xlb__V1__SyncRequest **req)
{
	*req = xlb__v1__sync_request__unpack(NULL, n, b->buf + off + b->hdr);
	if (b->hdr == XLB_JOURNAL_REC_HDR_LEN)
		return get_le64(b->buf + off + 8);
	return *req ? (*req)->version : 0;
}

/* The next offset at or after off where a whole record starts, or b->len.
 * A cheap look first, so that a damaged journal of megabytes is read in
 * one pass: a plausible length, and a version after `after` (format 2)
 * or a payload that starts with SyncRequest's version field (1). */
static size_t next_whole(const struct jbuf *b, size_t off, uint64_t after)
{
	for (; off + b->hdr < b->len; off++) {
		const uint8_t *rec = b->buf + off;
		uint32_t n = get_le32(rec);

		if (!n || n > b->len - off - b->hdr)
			continue;
		if (b->hdr == XLB_JOURNAL_REC_HDR_LEN) {
			uint64_t v = get_le64(rec + 8);

			if (v <= after || v - after > b->len)
				continue;
		} else if (rec[b->hdr] != 0x08) {	/* field 1, varint */
			continue;
		}
		if (rec_whole(b, off, &n))
			return off;
	}
	return b->len;
}

/* name to the ", "-separated list in buf, once; cut when buf is full. */
static void add_name(char *buf, size_t len, const char *name)
{
	size_t o = strlen(buf), n = strlen(name);

	for (const char *p = buf; (p = strstr(p, name)); p++)
		if ((p == buf || p[-1] == ' ') && (p[n] == ',' || !p[n]))
			return;
	if (o + 2 < len)
		snprintf(buf + o, len - o, "%s%s", o ? ", " : "", name);
}

/*
 * Reading stopped at off with the state at version `applied`: find the
 * whole records from there on (the one at off included, when it is whole
 * but did not apply). Any means damage: count and name what they hold.
 */
static void count_lost(const struct jbuf *b, size_t off, uint64_t applied,
		       struct xlb_journal_info *info)
{
	uint32_t n;

	for (off = next_whole(b, off, applied); off < b->len;) {
		Xlb__V1__SyncRequest *req;
		uint64_t v;

		n = get_le32(b->buf + off);
		v = rec_version(b, off, n, &req);
		info->damaged = true;
		if (v > info->lost_last)
			info->lost_last = v;
		for (size_t i = 0; req && i < req->n_upserts; i++)
			if (req->upserts[i] && req->upserts[i]->name)
				add_name(info->services, sizeof(info->services),
					 req->upserts[i]->name);
		for (size_t i = 0; req && i < req->n_deletes; i++)
			add_name(info->services, sizeof(info->services), req->deletes[i]);
		if (req)
			xlb__v1__sync_request__free_unpacked(req, NULL);
		info->lost++;
		off += b->hdr + n;
		if (!rec_whole(b, off, &n))
			off = next_whole(b, off + 1, applied);
	}
	if (!info->damaged)
		return;
	/* By version: records missing in between count too. */
	info->lost_first = applied + 1;
	if (info->lost_last > applied)
		info->lost = info->lost_last - applied;
	else
		info->lost_last = applied + info->lost;
}

static int name_add(const struct xlb_svc_desired *s, void *arg)
{
	const char ***names = arg;

	*(*names)++ = s->spec.name;
	return 0;
}

/* A snapshot record replaces every service: those of st are deleted
 * first (their addresses and node ports are free for the record's). */
static int txn_delete_all(struct xlb_state_txn *t, struct xlb_state *st, char *why,
			  size_t len)
{
	const char **names = malloc((xlb_state_count(st) + 1) * sizeof(*names)), **end = names;
	int ret = 0;

	if (!names)
		return -ENOMEM;
	xlb_state_foreach(st, name_add, &end);
	for (const char **n = names; n < end && !ret; n++)
		ret = xlb_state_txn_delete(t, *n, why, len);
	free(names);
	return ret;
}

/* One record to st, whole or not at all. msg says why not. hv: the
 * version its header says (format 2), else 0. */
static int replay_one(struct xlb_state *st, const uint8_t *p, size_t n, uint64_t hv, char *msg,
		      size_t len)
{
	Xlb__V1__SyncRequest *req;
	struct xlb_state_txn t;
	char at[40], why[256];
	int ret = 0;

	req = xlb__v1__sync_request__unpack(NULL, n, p);
	if (!req)
		return xlb_errf(msg, len, -EBADMSG, "does not unpack as xlb.v1.SyncRequest");
	if (xlb_api_check_wire(req->base.descriptor, p, n, "", why, sizeof(why))) {
		ret = xlb_errf(msg, len, -EBADMSG, "%s", why);
		goto out;
	}
	if (req->version != xlb_state_version(st) + 1 || (hv && hv != req->version)) {
		ret = xlb_errf(msg, len, -EBADMSG, "version %llu does not follow %llu",
			   (unsigned long long)req->version,
			   (unsigned long long)xlb_state_version(st));
		goto out;
	}
	if (req->snapshot && req->n_deletes) {
		ret = xlb_errf(msg, len, -EBADMSG, "version %llu: a snapshot with deletes",
			       (unsigned long long)req->version);
		goto out;
	}
	xlb_state_txn_begin(&t, st);
	if (req->snapshot)
		ret = txn_delete_all(&t, st, why, sizeof(why));
	for (size_t i = 0; i < req->n_upserts && !ret; i++) {
		struct xlb_svc_desired s;

		snprintf(at, sizeof(at), "upserts[%zu]", i);
		ret = xlb_api_service_from_pb_at(req->upserts[i], at, &s, why, sizeof(why));
		if (!ret) {
			ret = xlb_state_txn_upsert(&t, &s, why, sizeof(why));
			xlb_svc_free(&s);
		}
	}
	for (size_t i = 0; i < req->n_deletes && !ret; i++)
		ret = xlb_state_txn_delete(&t, req->deletes[i], why, sizeof(why));
	if (ret) {
		xlb_state_txn_rollback(&t);
		ret = xlb_errf(msg, len, ret == -ENOMEM ? -ENOMEM : -EBADMSG, "version %llu: %s",
			   (unsigned long long)req->version, why);
		goto out;
	}
	xlb_state_txn_commit(&t);
	xlb_state_set_version(st, req->version);
out:
	xlb__v1__sync_request__free_unpacked(req, NULL);
	return ret;
}

int xlb_journal_replay(const char *path, struct xlb_state *st, uint32_t base_crc,
		       struct xlb_journal_info *info, char *err, size_t errlen)
{
	struct jbuf b = { .hdr = XLB_JOURNAL_REC_HDR_LEN };
	uint8_t *buf;
	size_t len, off;
	bool older;
	int ret;

	memset(info, 0, sizeof(*info));
	ret = xlb_statefile_read(path, &buf, &len, err, errlen);
	if (ret)
		return ret;
	b.buf = buf;
	b.len = info->size = len;
	if (len < XLB_JOURNAL_HDR_LEN) {
		ret = xlb_errf(err, errlen, -EBADMSG, "truncated: %zu bytes, header needs %d", len,
			   XLB_JOURNAL_HDR_LEN);
		goto out;
	}
	if (!memcmp(buf, XLB_JOURNAL_MAGIC, 8)) {
		info->format = 2;
	} else if (!memcmp(buf, XLB_JOURNAL_MAGIC_V1, 8)) {
		info->format = 1;
		b.hdr = XLB_JOURNAL_REC_HDR_LEN_V1;
	} else {
		ret = xlb_errf(err, errlen, -EBADMSG, "bad magic (not an xlb journal)");
		goto out;
	}
	if (crc_of(buf, 28) != get_le32(buf + 28)) {
		/* Whatever the records hold is lost with the header. */
		count_lost(&b, XLB_JOURNAL_HDR_LEN, xlb_state_version(st), info);
		ret = xlb_errf(err, errlen, -EBADMSG, "header CRC mismatch");
		goto out;
	}
	info->base_version = get_le64(buf + 8);
	info->base_crc = get_le32(buf + 16);
	/* A snapshot written while this journal went on (format 2: each
	 * record says its version): the records it holds are skipped. */
	older = info->format == 2 && info->base_version < xlb_state_version(st);
	if (!older && (info->base_version != xlb_state_version(st) || info->base_crc != base_crc)) {
		ret = xlb_errf(err, errlen, -ESTALE,
			   "continues the snapshot of version %llu (CRC %08x), not this one (version %llu, CRC %08x)",
			   (unsigned long long)info->base_version, info->base_crc,
			   (unsigned long long)xlb_state_version(st), base_crc);
		goto out;
	}
	for (off = XLB_JOURNAL_HDR_LEN; off < len;) {
		const uint8_t *rec = buf + off;
		uint32_t n;

		if (len - off < b.hdr) {
			xlb_errf(info->stop, sizeof(info->stop), 0, "record header cut short");
			break;
		}
		n = get_le32(rec);
		if (!n || n > XLB_JOURNAL_REC_MAX || n > len - off - b.hdr) {
			xlb_errf(info->stop, sizeof(info->stop), 0,
			     "record length %u, %zu bytes left", n, len - off - b.hdr);
			break;
		}
		if (!rec_whole(&b, off, &n)) {
			xlb_errf(info->stop, sizeof(info->stop), 0, "record CRC mismatch");
			break;
		}
		if (older && get_le64(rec + 8) <= xlb_state_version(st)) {
			off += b.hdr + n;
			info->covered++;
			continue;
		}
		ret = replay_one(st, rec + b.hdr, n, info->format == 2 ? get_le64(rec + 8) : 0,
				 info->stop, sizeof(info->stop));
		if (ret == -ENOMEM) {
			xlb_errf(err, errlen, ret, "out of memory");
			goto out;
		}
		if (ret)
			break;
		off += b.hdr + n;
		info->records++;
	}
	info->end = off;
	if (off < len)
		count_lost(&b, off, xlb_state_version(st), info);
	ret = 0;
out:
	free(buf);
	return ret;
}

/* path hard-linked as path.damaged-<t>[-i]; copy: the name. */
static int keep_copy(const char *path, long long t, char *copy, size_t len)
{
	for (int i = 0; i < 100; i++) {
		if (i)
			snprintf(copy, len, "%s.damaged-%lld-%d", path, t, i);
		else
			snprintf(copy, len, "%s.damaged-%lld", path, t);
		if (!link(path, copy))
			return 0;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int xlb_journal_keep_damaged(const char *journal_path, const char *state_path,
			     const struct xlb_journal_info *info, const char *why, char *msg,
			     size_t msglen)
{
	char jcopy[PATH_MAX + 32] = "(not kept)", scopy[PATH_MAX + 32] = "(not kept)";
	long long t = (long long)time(NULL);
	int ret, ret2;

	ret = keep_copy(journal_path, t, jcopy, sizeof(jcopy));
	ret2 = keep_copy(state_path, t, scopy, sizeof(scopy));
	if (ret)
		snprintf(jcopy, sizeof(jcopy), "(not kept: %s)", strerror(-ret));
	if (ret2)
		snprintf(scopy, sizeof(scopy), "(not kept: %s)", strerror(-ret2));
	snprintf(msg, msglen,
		 "journal %s damaged (%s, at byte %zu): %llu acknowledged changes lost, versions "
		 "%llu..%llu (the records still whole name: %s); the state is the last good one, "
		 "version %llu; the journal and its snapshot are kept as %s and %s",
		 journal_path, why, info->end, (unsigned long long)info->lost,
		 (unsigned long long)info->lost_first, (unsigned long long)info->lost_last,
		 info->services[0] ? info->services : "none",
		 (unsigned long long)(info->lost_first - 1), jcopy, scopy);
	return ret ? ret : ret2;
}
