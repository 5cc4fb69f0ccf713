// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The state journal: records round-trip onto their snapshot; a tail torn
 * at any byte, zeros or flipped bits stop the replay at the last whole
 * record (each record whole or not at all); a header that is not one is
 * garbage, one for another snapshot is stale; concurrent waiters share
 * fdatasyncs and all see their records on disk.
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
		s.hc.kind = XLB_HC_EXEC;
		s.hc.argc = 2;
		snprintf(s.hc.argv[0], sizeof(s.hc.argv[0]), "/bin/check");
		snprintf(s.hc.argv[1], sizeof(s.hc.argv[1]), "--fast");
		s.hc.period_ms = 2000;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_torn_tail),
		cmocka_unit_test(test_zeros_and_flips),
		cmocka_unit_test(test_garbage_and_stale),
		cmocka_unit_test(test_record_whole_or_nothing),
		cmocka_unit_test(test_group_commit),
		cmocka_unit_test(test_retire),
	};

	return cmocka_run_group_tests_name("journal", tests, setup_dir, teardown_dir);
}
