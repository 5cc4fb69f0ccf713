// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The state journal: records round-trip onto their snapshot; a tail torn
 * at any byte, zeros or flipped bits stop the replay at the last whole
 * record (each record whole or not at all); a header that is not one is
 * garbage, one for another snapshot is stale; concurrent waiters share
 * fdatasyncs and all see their records on disk. Damage, told from a torn
 * tail: a flip at every record boundary of a recorded journal (one of the
 * old format, written by the build before it, and one of the new) stops at
 * the last good state and counts and names every change lost. Compaction
 * while appends go on: a journal older than the snapshot has the records
 * the snapshot holds skipped and the rest applied; a fork of it holds the
 * records after the snapshot and continues it.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/journal.h"
#include "store/statefile.h"

#define FIXTURES "tests/unit/fixtures/"

static char tmpdir[] = "/tmp/xlb-test-journal.XXXXXX";
static char path[256];

static int setup_dir(void **unused)
{
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(path, sizeof(path), "%s/state.journal", tmpdir);
	return 0;
}

static int teardown_dir(void **unused)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct xlb_endpoint eps[4];

/* Service i: cluster IP 10.96.0.i, n endpoints from 10.0.<first>.1 on. */
static struct xlb_svc_desired svc(int i, size_t n, int first)
{
	struct xlb_svc_desired s;
	char ip[32];

	memset(&s, 0, sizeof(s));
	snprintf(s.spec.name, sizeof(s.spec.name), "ns/svc-%d:http", i);
	snprintf(ip, sizeof(ip), "10.96.0.%d", i);
	assert_int_equal(xlb_ip_parse(ip, &s.spec.vip), 0);
	s.spec.port = 80;
	s.spec.proto = IPPROTO_TCP;
	if (i == 2) {	/* one with a node port and an exec health check */
		s.spec.type = XLB_SVC_NODE_PORT;
		s.spec.node_port = 30002;
		static struct xlb_health_spec hc;	/* like eps[]: never freed */

		hc.kind = XLB_HC_EXEC;
		hc.argc = 2;
		snprintf(hc.argv[0], sizeof(hc.argv[0]), "/bin/check");
		snprintf(hc.argv[1], sizeof(hc.argv[1]), "--fast");
		hc.period_ms = 2000;
		s.hc = &hc;
	}
	for (size_t k = 0; k < n; k++) {
		memset(&eps[k], 0, sizeof(eps[k]));
		snprintf(ip, sizeof(ip), "10.0.%d.%zu", first, k + 1);
		assert_int_equal(xlb_ip_parse(ip, &eps[k].addr), 0);
		eps[k].port = 8080;
		eps[k].weight = 1;
		eps[k].ready = eps[k].serving = true;
	}
	s.ep = eps;
	s.n_ep = n;
	return s;
}

static void put(struct xlb_state *st, struct xlb_svc_desired s)
{
	char err[256];

	assert_int_equal(xlb_state_upsert(st, &s, err, sizeof(err)), 0);
}

/* The snapshot: services 1 and 2, version 10. *crc: its payload CRC. */
static struct xlb_state *snapshot(uint32_t *crc)
{
	struct xlb_state *st = xlb_state_new();
	uint8_t *buf;
	size_t len;

	put(st, svc(1, 2, 1));
	put(st, svc(2, 3, 2));
	xlb_state_set_version(st, 10);
	assert_int_equal(xlb_statefile_encode(st, &buf, &len), 0);
	*crc = (uint32_t)buf[12] | (uint32_t)buf[13] << 8 | (uint32_t)buf[14] << 16 |
	       (uint32_t)buf[15] << 24;
	free(buf);
	return st;
}

static void append(struct xlb_journal *j, uint64_t version, const struct xlb_svc_desired *up,
		   size_t n_up, const char *del)
{
	const struct xlb_svc_desired *u[4];
	uint64_t seq;

	for (size_t i = 0; i < n_up; i++)
		u[i] = &up[i];
	assert_int_equal(xlb_journal_append(j, version, u, n_up, del ? &del : NULL, !!del, &seq),
			 0);
	assert_int_equal(xlb_journal_sync(j, seq), 0);
}

/* Two records on the snapshot: v11 changes svc-1's endpoints, v12 adds
 * svc-3 and deletes svc-2. Returns the file offsets where records end. */
static void write_journal(uint32_t crc, size_t ends[3])
{
	struct xlb_journal *j;
	struct xlb_svc_desired up[2];

	assert_int_equal(xlb_journal_create(path, 10, crc, &j), 0);
	ends[0] = xlb_journal_size(j);
	up[0] = svc(1, 4, 7);
	append(j, 11, up, 1, NULL);
	ends[1] = xlb_journal_size(j);
	up[0] = svc(3, 1, 3);
	append(j, 12, up, 1, "ns/svc-2:http");
	ends[2] = xlb_journal_size(j);
	assert_int_equal(xlb_journal_records(j), 2);
	xlb_journal_put(j);
}

static void assert_svc(const struct xlb_state *st, struct xlb_svc_desired want)
{
	const struct xlb_svc_desired *got = xlb_state_get(st, want.spec.name);

	assert_non_null(got);
	assert_true(xlb_svc_equal(got, &want));
}

static void test_roundtrip(void **unused)
{
	uint32_t crc;
	struct xlb_state *st = snapshot(&crc);
	struct xlb_journal_info info;
	char err[256] = "";
	size_t ends[3];
	struct stat sb;

	write_journal(crc, ends);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal((size_t)sb.st_size, ends[2]);
	assert_int_equal(xlb_journal_replay(path, st, crc, &info, err, sizeof(err)), 0);
	assert_int_equal(info.records, 2);
	assert_int_equal(info.end, info.size);
	assert_string_equal(info.stop, "");
	assert_int_equal(xlb_state_version(st), 12);
	assert_int_equal(xlb_state_count(st), 2);
	assert_svc(st, svc(1, 4, 7));
	assert_svc(st, svc(3, 1, 3));
	assert_null(xlb_state_get(st, "ns/svc-2:http"));
	xlb_state_free(st);
}

/* A snapshot record replaces the state: svc-2 and svc-3 after the
 * snapshot's 1 and 2 leave exactly them, then a change follows it. (One
 * endpoint list for all: svc() shares its storage.) */
static void test_snapshot_record(void **unused)
{
	uint32_t crc;
	struct xlb_state *st = snapshot(&crc);
	struct xlb_svc_desired up[2] = { svc(2, 2, 9), svc(3, 2, 9) };
	const struct xlb_svc_desired *u[2] = { &up[0], &up[1] };
	struct xlb_journal_info info;
	struct xlb_journal *j;
	char err[256] = "";
	uint64_t seq;

	assert_int_equal(xlb_journal_create(path, 10, crc, &j), 0);
	assert_int_equal(xlb_journal_append_snapshot(j, 11, u, 2, &seq), 0);
	assert_int_equal(xlb_journal_sync(j, seq), 0);
	up[0] = svc(4, 2, 9);
	append(j, 12, up, 1, NULL);
	xlb_journal_put(j);
	assert_int_equal(xlb_journal_replay(path, st, crc, &info, err, sizeof(err)), 0);
	assert_int_equal(info.records, 2);
	assert_int_equal(xlb_state_version(st), 12);
	assert_int_equal(xlb_state_count(st), 3);
	assert_null(xlb_state_get(st, "ns/svc-1:http"));
	assert_svc(st, svc(2, 2, 9));
	assert_svc(st, svc(3, 2, 9));
	assert_svc(st, svc(4, 2, 9));
	xlb_state_free(st);
}

/* A crash can cut the last write anywhere: every cut stops at the last
 * whole record, with the state exactly as after it. */
static void test_torn_tail(void **unused)
{
	uint32_t crc;
	struct xlb_state *st = snapshot(&crc);
	struct xlb_journal_info info;
	char err[256] = "";
	size_t ends[3];

	write_journal(crc, ends);
	xlb_state_free(st);
	for (size_t cut = ends[2] - 1; cut >= ends[1]; cut--) {
		assert_int_equal(truncate(path, (off_t)cut), 0);
		st = snapshot(&crc);
		assert_int_equal(xlb_journal_replay(path, st, crc, &info, err, sizeof(err)), 0);
		assert_int_equal(info.records, 1);
		assert_int_equal(info.end, ends[1]);
		assert_int_equal(info.size, cut);
		assert_true(cut == ends[1] || info.stop[0]);
		assert_int_equal(xlb_state_version(st), 11);
		assert_svc(st, svc(1, 4, 7));
		assert_svc(st, svc(2, 3, 2));
		assert_null(xlb_state_get(st, "ns/svc-3:http"));
		xlb_state_free(st);
	}
}

static void patch(size_t off, const void *b, size_t n)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, b, n, (off_t)off), (ssize_t)n);
	close(fd);
}

/* Zeros after the last record (blocks allocated, never written), or a
 * flipped bit in a record: the replay stops there. */
static void test_zeros_and_flips(void **unused)
{
	static const uint8_t zeros[4096];
	uint32_t crc;
	struct xlb_state *st = snapshot(&crc);
	struct xlb_journal_info info;
	char err[256] = "";
	size_t ends[3];

	write_journal(crc, ends);
	patch(ends[2], zeros, sizeof(zeros));
	assert_int_equal(xlb_journal_replay(path, st, crc, &info, err, sizeof(err)), 0);
	assert_int_equal(info.records, 2);
	assert_int_equal(info.end, ends[2]);
	assert_int_equal(info.size, ends[2] + sizeof(zeros));
	assert_non_null(strstr(info.stop, "length 0"));
	xlb_state_free(st);

	/* Every byte of the second record, its header included. */
	for (size_t off = ends[1]; off < ends[2]; off++) {
		uint8_t b, x;
		int fd;

		write_journal(crc, ends);
		fd = open(path, O_RDONLY);
		assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
		close(fd);
		x = b ^ 0x10;
		patch(off, &x, 1);
		st = snapshot(&crc);
		assert_int_equal(xlb_journal_replay(path, st, crc, &info, err, sizeof(err)), 0);
		assert_int_equal(info.records, 1);
		assert_int_equal(xlb_state_version(st), 11);
		assert_non_null(xlb_state_get(st, "ns/svc-2:http"));
		xlb_state_free(st);
	}
}

/* Not a journal: garbage. Another snapshot's journal: stale. None: ENOENT. */
static void test_garbage_and_stale(void **unused)
{
	uint32_t crc;
	struct xlb_state *st = snapshot(&crc);
	struct xlb_journal_info info;
	char err[256] = "";
	size_t ends[3];
	uint8_t x;

	unlink(path);
	assert_int_equal(xlb_journal_replay(path, st, crc, &info, err, sizeof(err)), -ENOENT);

	write_journal(crc, ends);
	assert_int_equal(truncate(path, 31), 0);
	assert_int_equal(xlb_journal_replay(path, st, crc, &info, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "truncated"));

	write_journal(crc, ends);
	patch(0, "XLBSTAT1", 8);
	assert_int_equal(xlb_journal_replay(path, st, crc, &info, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "magic"));

	write_journal(crc, ends);
	x = 11;		/* base version 10 -> 11, header CRC not updated */
	patch(8, &x, 1);
	assert_int_equal(xlb_journal_replay(path, st, crc, &info, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "CRC"));

	/* A well-formed journal, for a snapshot this state is not. */
	write_journal(crc + 1, ends);
	assert_int_equal(xlb_journal_replay(path, st, crc, &info, err, sizeof(err)), -ESTALE);
	assert_int_equal(info.base_version, 10);
	assert_int_equal(info.base_crc, crc + 1);
	write_journal(crc, ends);
	xlb_state_set_version(st, 9);
	assert_int_equal(xlb_journal_replay(path, st, crc, &info, err, sizeof(err)), -ESTALE);
	/* Nothing was applied from either. */
	assert_int_equal(xlb_state_version(st), 9);
	assert_int_equal(xlb_state_count(st), 2);
	xlb_state_free(st);
}

/* A record that checks but does not apply (version out of sequence, or a
 * conflict in its second service) stops the replay with nothing of it
 * applied. */
static void test_record_whole_or_nothing(void **unused)
{
	uint32_t crc;
	struct xlb_state *st = snapshot(&crc);
	struct xlb_journal_info info;
	struct xlb_svc_desired up[2];
	struct xlb_journal *j;
	char err[256] = "";

	assert_int_equal(xlb_journal_create(path, 10, crc, &j), 0);
	up[0] = svc(1, 1, 5);
	append(j, 11, up, 1, NULL);
	up[0] = svc(4, 1, 4);
	up[1] = svc(5, 1, 5);
	up[1].spec.vip = svc(2, 0, 0).spec.vip;	/* svc-2's address */
	append(j, 12, up, 2, NULL);
	up[0] = svc(6, 1, 6);
	append(j, 13, up, 1, NULL);
	xlb_journal_put(j);

	assert_int_equal(xlb_journal_replay(path, st, crc, &info, err, sizeof(err)), 0);
	assert_int_equal(info.records, 1);
	assert_int_equal(xlb_state_version(st), 11);
	assert_null(xlb_state_get(st, "ns/svc-4:http"));
	assert_null(xlb_state_get(st, "ns/svc-6:http"));
	assert_non_null(strstr(info.stop, "already used"));
	xlb_state_free(st);

	st = snapshot(&crc);
	assert_int_equal(xlb_journal_create(path, 10, crc, &j), 0);
	up[0] = svc(1, 1, 5);
	append(j, 12, up, 1, NULL);	/* 11 missing */
	xlb_journal_put(j);
	assert_int_equal(xlb_journal_replay(path, st, crc, &info, err, sizeof(err)), 0);
	assert_int_equal(info.records, 0);
	assert_non_null(strstr(info.stop, "does not follow"));
	assert_int_equal(xlb_state_version(st), 10);
	xlb_state_free(st);
}

/* Writers append under their lock, then wait without it, sharing the
 * fdatasyncs: every wait succeeds and every record is there, in order. */
#define WRITERS 4
#define EACH 40

static pthread_mutex_t wlock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t next_version = 11;

static void *writer(void *arg)
{
	struct xlb_journal *j = arg;

	for (int i = 0; i < EACH; i++) {
		struct xlb_svc_desired s;
		const struct xlb_svc_desired *u = &s;
		struct xlb_journal *ref;
		uint64_t seq;

		pthread_mutex_lock(&wlock);
		s = svc(1, 1, i % 200);	/* eps[] is shared */
		if (xlb_journal_append(j, next_version, &u, 1, NULL, 0, &seq)) {
			pthread_mutex_unlock(&wlock);
			return (void *)1;
		}
		next_version++;
		ref = xlb_journal_get(j);
		pthread_mutex_unlock(&wlock);
		if (xlb_journal_sync(ref, seq)) {
			xlb_journal_put(ref);
			return (void *)1;
		}
		xlb_journal_put(ref);
	}
	return NULL;
}

static void test_group_commit(void **unused)
{
	uint32_t crc;
	struct xlb_state *st = snapshot(&crc);
	struct xlb_journal_info info;
	pthread_t t[WRITERS];
	struct xlb_journal *j;
	char err[256] = "";
	void *rv;

	assert_int_equal(xlb_journal_create(path, 10, crc, &j), 0);
	for (int i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer, j), 0);
	for (int i = 0; i < WRITERS; i++) {
		assert_int_equal(pthread_join(t[i], &rv), 0);
		assert_null(rv);
	}
	assert_int_equal(xlb_journal_records(j), WRITERS * EACH);
	xlb_journal_put(j);
	assert_int_equal(xlb_journal_replay(path, st, crc, &info, err, sizeof(err)), 0);
	assert_int_equal(info.records, WRITERS * EACH);
	assert_int_equal(info.end, info.size);
	assert_int_equal(xlb_state_version(st), 10 + WRITERS * EACH);
	xlb_state_free(st);
}

/* Retired (a snapshot holds everything): waiters succeed, appends stop. */
static void test_retire(void **unused)
{
	struct xlb_svc_desired s = svc(1, 1, 1);
	const struct xlb_svc_desired *u = &s;
	struct xlb_journal *j;
	uint64_t seq;

	assert_int_equal(xlb_journal_create(path, 10, 0, &j), 0);
	assert_false(xlb_journal_broken(j));
	assert_int_equal(xlb_journal_append(j, 11, &u, 1, NULL, 0, &seq), 0);
	xlb_journal_retire(j);
	assert_true(xlb_journal_broken(j));
	assert_int_equal(xlb_journal_sync(j, seq), 0);
	assert_int_equal(xlb_journal_append(j, 12, &u, 1, NULL, 0, &seq), -EIO);
	assert_int_equal(xlb_journal_records(j), 1);
	xlb_journal_put(j);
}

/* --- damage ----------------------------------------------------------- */

static uint8_t *slurp(const char *file, size_t *len)
{
	uint8_t *buf;
	char err[256];

	assert_int_equal(xlb_statefile_read(file, &buf, len, err, sizeof(err)), 0);
	return buf;
}

static void spill(const char *file, const uint8_t *buf, size_t len)
{
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* The recorded journal: services 1 and 2 at version 10, then six records:
 * 11 svc-1 gets 4 endpoints, 12 adds svc-3, 13 deletes svc-2, 14 adds
 * svc-4, 15 adds svc-5, 16 deletes svc-4. Format 1 from the fixture (the
 * build before format 2 wrote it), format 2 written here the same way. */
#define NREC 6
static const char *const rec_names[NREC] = {
	"ns/svc-1:http", "ns/svc-3:http", "ns/svc-2:http", "ns/svc-4:http", "ns/svc-5:http",
	"ns/svc-4:http",
};

struct recorded {
	uint8_t *snap, *jrnl;
	size_t snap_len, jrnl_len;
	size_t at[NREC + 1];	/* where each record starts; at[NREC]: the end */
};

/* The snapshot's payload CRC, from its header. */
static uint32_t snap_crc(const struct recorded *r)
{
	return (uint32_t)r->snap[12] | (uint32_t)r->snap[13] << 8 | (uint32_t)r->snap[14] << 16 |
	       (uint32_t)r->snap[15] << 24;
}

static void record(int format, struct recorded *r)
{
	char file[300];

	memset(r, 0, sizeof(*r));
	r->snap = slurp(FIXTURES "journal-v1/state.pb", &r->snap_len);
	if (format == 1) {
		r->jrnl = slurp(FIXTURES "journal-v1/state.journal", &r->jrnl_len);
	} else {
		struct xlb_svc_desired s;
		struct xlb_journal *j;

		snprintf(file, sizeof(file), "%s/recorded.journal", tmpdir);
		assert_int_equal(xlb_journal_create(file, 10, snap_crc(r), &j), 0);
		s = svc(1, 4, 7);
		append(j, 11, &s, 1, NULL);
		s = svc(3, 1, 3);
		append(j, 12, &s, 1, NULL);
		append(j, 13, NULL, 0, "ns/svc-2:http");
		s = svc(4, 2, 4);
		append(j, 14, &s, 1, NULL);
		s = svc(5, 1, 5);
		append(j, 15, &s, 1, NULL);
		append(j, 16, NULL, 0, "ns/svc-4:http");
		xlb_journal_put(j);
		r->jrnl = slurp(file, &r->jrnl_len);
	}
	assert_memory_equal(r->jrnl, format == 1 ? "XLBJRNL1" : "XLBJRNL2", 8);
	r->at[0] = XLB_JOURNAL_HDR_LEN;
	for (int i = 0; i < NREC; i++) {
		const uint8_t *p = r->jrnl + r->at[i];

		r->at[i + 1] = r->at[i] + (format == 1 ? 8 : 16) +
			       ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				(uint32_t)p[3] << 24);
	}
	assert_int_equal(r->at[NREC], r->jrnl_len);
}

static void recorded_free(struct recorded *r)
{
	free(r->snap);
	free(r->jrnl);
}

/* The snapshot, with jrnl (len bytes) replayed onto it through `path`. */
static struct xlb_state *load(const struct recorded *r, const uint8_t *jrnl, size_t len,
			      struct xlb_journal_info *info, int *ret)
{
	struct xlb_state *st;
	char err[256];

	assert_int_equal(xlb_statefile_decode(r->snap, r->snap_len, &st, err, sizeof(err)), 0);
	spill(path, jrnl, len);
	*ret = xlb_journal_replay(path, st, snap_crc(r), info, err, sizeof(err));
	return st;
}

static void assert_same_state(const struct xlb_state *a, const struct xlb_state *b)
{
	uint8_t *ba, *bb;
	size_t la, lb;

	assert_int_equal(xlb_state_version(a), xlb_state_version(b));
	assert_int_equal(xlb_statefile_encode(a, &ba, &la), 0);
	assert_int_equal(xlb_statefile_encode(b, &bb, &lb), 0);
	assert_int_equal(la, lb);
	assert_memory_equal(ba, bb, la);
	free(ba);
	free(bb);
}

/* One flipped bit at off: the state is the one after the records before
 * the damaged one (k of them), exactly; the records from k on are lost,
 * counted and named, unless k is the last record (a torn tail). */
static void flip_at(const struct recorded *r, size_t off, int k)
{
	struct xlb_journal_info info, ref_info;
	struct xlb_state *st, *ref;
	uint8_t *j = malloc(r->jrnl_len);
	int ret;

	assert_non_null(j);
	memcpy(j, r->jrnl, r->jrnl_len);
	j[off] ^= 0x10;
	ref = load(r, r->jrnl, r->at[k < 0 ? 0 : k], &ref_info, &ret);	/* k records, cut clean */
	assert_int_equal(ref_info.records, k < 0 ? 0 : k);
	st = load(r, j, r->jrnl_len, &info, &ret);
	if (k < 0) {	/* the header */
		assert_int_equal(ret, -EBADMSG);
		k = 0;
	} else {
		assert_int_equal(ret, 0);
		assert_int_equal(info.records, k);
		assert_int_equal(info.end, r->at[k]);
		assert_same_state(st, ref);
	}
	if (k == NREC - 1) {
		if (info.damaged)
			fail_msg("flip at %zu (last record): damage, not a torn tail: %s", off,
				 info.stop);
	} else {
		if (!info.damaged || info.lost != (uint64_t)(NREC - k) ||
		    info.lost_first != (uint64_t)(11 + k) || info.lost_last != 16)
			fail_msg("flip at %zu (record %d): damaged %d, lost %llu (%llu..%llu), want "
				 "%d (%d..16)", off, k, info.damaged,
				 (unsigned long long)info.lost, (unsigned long long)info.lost_first,
				 (unsigned long long)info.lost_last, NREC - k, 11 + k);
		/* Named: every service of the whole records after the damaged
		 * one, each once. */
		for (int i = k + 1; i < NREC; i++)
			if (!strstr(info.services, rec_names[i]) ||
			    strstr(strstr(info.services, rec_names[i]) + 1, rec_names[i]))
				fail_msg("flip at %zu: %s not named in \"%s\"", off, rec_names[i],
					 info.services);
	}
	xlb_state_free(st);
	xlb_state_free(ref);
	free(j);
}

static void flip_every_boundary(int format)
{
	struct recorded r;

	record(format, &r);
	/* Both sides of every boundary between records, and the middle. */
	for (int k = 0; k < NREC; k++) {
		flip_at(&r, r.at[k], k);
		flip_at(&r, r.at[k] + 3, k);			/* length, high byte */
		flip_at(&r, r.at[k] + 4, k);			/* CRC */
		if (format == 2)
			flip_at(&r, r.at[k] + 8, k);		/* version */
		flip_at(&r, (r.at[k] + r.at[k + 1]) / 2, k);
		flip_at(&r, r.at[k + 1] - 1, k);
	}
	/* The header: every record behind it is lost. */
	flip_at(&r, 8, -1);
	flip_at(&r, 28, -1);
	recorded_free(&r);
}

static void test_flip_every_boundary_v1(void **unused)
{
	flip_every_boundary(1);
}

static void test_flip_every_boundary_v2(void **unused)
{
	flip_every_boundary(2);
}

/* A journal of the old format loads whole: the same state as the new. */
static void test_old_format_loads(void **unused)
{
	struct xlb_journal_info i1, i2;
	struct recorded r1, r2;
	struct xlb_state *s1, *s2;
	int ret;

	record(1, &r1);
	record(2, &r2);
	s1 = load(&r1, r1.jrnl, r1.jrnl_len, &i1, &ret);
	assert_int_equal(ret, 0);
	s2 = load(&r2, r2.jrnl, r2.jrnl_len, &i2, &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(i1.format, 1);
	assert_int_equal(i2.format, 2);
	assert_int_equal(i1.records, NREC);
	assert_int_equal(i2.records, NREC);
	assert_false(i1.damaged || i2.damaged);
	assert_int_equal(xlb_state_version(s1), 16);
	assert_same_state(s1, s2);
	assert_svc(s1, svc(1, 4, 7));
	assert_svc(s1, svc(3, 1, 3));
	assert_svc(s1, svc(5, 1, 5));
	assert_int_equal(xlb_state_count(s1), 3);
	xlb_state_free(s1);
	xlb_state_free(s2);
	recorded_free(&r1);
	recorded_free(&r2);
}

/* A record missing from the middle (cut out whole): the gap shows in the
 * versions of the records after it. */
/* The snapshot was written at version 11 while the journal (base 10) went
 * on to 12: replayed over it, record 11 is skipped (the snapshot has it)
 * and 12 applied. A fork for the new snapshot, with the old journal's
 * bytes after record 11, replays onto it alone. */
static void test_older_journal(void **unused)
{
	uint32_t crc, crc11;
	struct xlb_state *st = snapshot(&crc), *st11;
	struct xlb_journal_info info;
	struct xlb_journal *old, *fork;
	char err[256] = "", next[300];
	size_t ends[3];
	uint8_t *buf;
	size_t len;

	write_journal(crc, ends);
	/* The snapshot at 11: the journal's first record applied. */
	assert_int_equal(truncate(path, (off_t)ends[1]), 0);
	assert_int_equal(xlb_journal_replay(path, st, crc, &info, err, sizeof(err)), 0);
	assert_int_equal(xlb_state_version(st), 11);
	assert_int_equal(xlb_statefile_encode(st, &buf, &len), 0);
	crc11 = (uint32_t)buf[12] | (uint32_t)buf[13] << 8 | (uint32_t)buf[14] << 16 |
		(uint32_t)buf[15] << 24;
	assert_int_equal(xlb_statefile_decode(buf, len, &st11, err, sizeof(err)), 0);
	free(buf);

	write_journal(crc, ends);
	assert_int_equal(xlb_journal_replay(path, st, crc11, &info, err, sizeof(err)), 0);
	assert_int_equal(info.covered, 1);
	assert_int_equal(info.records, 1);
	assert_int_equal(xlb_state_version(st), 12);
	assert_svc(st, svc(3, 1, 3));
	assert_null(xlb_state_get(st, "ns/svc-2:http"));

	/* Not for a journal newer than the snapshot. */
	xlb_state_set_version(st, 9);
	assert_int_equal(xlb_journal_replay(path, st, crc, &info, err, sizeof(err)), -ESTALE);

	/* The fork: record 12 only, base 11. */
	snprintf(next, sizeof(next), "%s.next", path);
	assert_int_equal(xlb_journal_create(path, 10, crc, &old), 0);
	{
		struct xlb_svc_desired up[1];

		up[0] = svc(1, 4, 7);
		append(old, 11, up, 1, NULL);
		ends[1] = xlb_journal_size(old);
		up[0] = svc(3, 1, 3);
		append(old, 12, up, 1, "ns/svc-2:http");
	}
	assert_int_equal(xlb_journal_fork(next, 11, crc11, &fork), 0);
	assert_int_equal(xlb_journal_copy(fork, old, ends[1], xlb_journal_size(old)), 0);
	assert_int_equal(xlb_journal_install(fork, next, path, 1), 0);
	assert_int_equal(access(next, F_OK), -1);
	assert_int_equal(xlb_journal_records(fork), 1);
	xlb_journal_put(old);
	xlb_journal_put(fork);
	assert_int_equal(xlb_journal_replay(path, st11, crc11, &info, err, sizeof(err)), 0);
	assert_int_equal(info.records, 1);
	assert_int_equal(info.covered, 0);
	assert_int_equal(xlb_state_version(st11), 12);
	assert_svc(st11, svc(3, 1, 3));
	xlb_state_free(st11);
	xlb_state_free(st);
}

static void test_gap(void **unused)
{
	struct xlb_journal_info info;
	struct recorded r;
	struct xlb_state *st;
	uint8_t *j;
	size_t len;
	int ret;

	record(2, &r);
	j = malloc(r.jrnl_len);
	assert_non_null(j);
	memcpy(j, r.jrnl, r.at[2]);
	memcpy(j + r.at[2], r.jrnl + r.at[3], r.jrnl_len - r.at[3]);	/* 13 gone */
	len = r.jrnl_len - (r.at[3] - r.at[2]);
	st = load(&r, j, len, &info, &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(info.records, 2);
	assert_true(info.damaged);
	assert_non_null(strstr(info.stop, "version 14 does not follow 12"));
	assert_int_equal(info.lost, 4);
	assert_int_equal(info.lost_first, 13);
	assert_int_equal(info.lost_last, 16);
	xlb_state_free(st);
	free(j);
	recorded_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_snapshot_record),
		cmocka_unit_test(test_torn_tail),
		cmocka_unit_test(test_zeros_and_flips),
		cmocka_unit_test(test_garbage_and_stale),
		cmocka_unit_test(test_record_whole_or_nothing),
		cmocka_unit_test(test_group_commit),
		cmocka_unit_test(test_retire),
		cmocka_unit_test(test_old_format_loads),
		cmocka_unit_test(test_flip_every_boundary_v1),
		cmocka_unit_test(test_flip_every_boundary_v2),
		cmocka_unit_test(test_gap),
		cmocka_unit_test(test_older_journal),
	};

	return cmocka_run_group_tests_name("journal", tests, setup_dir, teardown_dir);
}
