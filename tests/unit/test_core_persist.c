// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The core's compaction of its journal without the lock (core_persist.c),
 * on a state directory in /tmp with a dataplane that takes everything:
 *
 * - changes made while the persist thread is held in the middle of a
 *   snapshot are acknowledged (the write returns) before it goes on, and
 *   land in the new journal;
 * - the process killed (SIGKILL, as kill -9) at each step of a compaction,
 *   with changes acknowledged before and while it runs and more racing
 *   the kill, loses none that was acknowledged: a new core on the same
 *   directory has every one;
 * - a snapshot change is one journal record, the state file left for the
 *   compaction: a new core has exactly the snapshot's services, before
 *   and after that compaction.
 *
 * Judged by counts and contents, never by time; a wait that should end at
 * once is bounded (60 s) so that a blocked write fails the test instead
 * of hanging it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"
#include "core/core_priv.h"
#include "dataplane/dataplane.h"
#include "store/journal.h"
#include "store/statefile.h"

static int nop_set(struct xlb_dp *dp, const struct xlb_service_spec *s,
		   const struct xlb_backend_spec *be, size_t n, char *err, size_t errlen)
{
	return 0;
}

static int nop_del(struct xlb_dp *dp, const struct xlb_service_spec *s, char *err, size_t errlen)
{
	return 0;
}

static int nop_list(struct xlb_dp *dp, xlb_svc_cb cb, void *arg)
{
	return 0;
}

static const struct xlb_dp_ops nop_ops = {
	.name = "nop",
	.service_set = nop_set,
	.service_delete = nop_del,
	.service_list = nop_list,
};

static struct xlb_dp nop_dp = { .ops = &nop_ops };

static struct xlb_core *core_open(const char *dir)
{
	struct xlb_core_opts o = { .dp = &nop_dp, .state_dir = dir, .dp_name = "nop" };
	struct xlb_core *c = NULL;
	char err[256];

	assert_int_equal(xlb_core_new(&o, &c, err, sizeof(err)), 0);
	assert_int_equal(xlb_core_persist_start(c), 0);
	return c;
}

static void svc_name(char *buf, size_t len, int i)
{
	snprintf(buf, len, "t/s%d", i);
}

static struct xlb_endpoint one_ep = { .port = 8080, .weight = 1, .ready = true,
				     .serving = true };

/* Service i on the cluster IP of number `at`, one endpoint. */
static struct xlb_svc_desired svc_at(int i, int at)
{
	struct xlb_svc_desired s = { .ep = &one_ep, .n_ep = 1 };
	char vip[32];

	assert_int_equal(xlb_ip_parse("10.244.0.1", &one_ep.addr), 0);

	svc_name(s.spec.name, sizeof(s.spec.name), i);
	snprintf(vip, sizeof(vip), "10.96.%d.%d", at / 250, at % 250 + 1);
	assert_int_equal(xlb_ip_parse(vip, &s.spec.vip), 0);
	s.spec.port = 80;
	s.spec.proto = IPPROTO_TCP;
	return s;
}

/* Service i: its own cluster IP. 0 once acknowledged. */
static int put(struct xlb_core *c, int i)
{
	struct xlb_svc_desired s = svc_at(i, i);
	char err[256];

	return xlb_core_upsert(c, &s, NULL, err, sizeof(err));
}

struct names {
	bool have[4096];
	size_t n;
};

static int names_cb(const struct xlb_svc_desired *s, void *arg)
{
	struct names *nm = arg;
	int i;

	assert_int_equal(sscanf(s->spec.name, "t/s%d", &i), 1);
	assert_true(i >= 0 && i < 4096);
	nm->have[i] = true;
	nm->n++;
	return 0;
}

static void names_of(struct xlb_core *c, struct names *nm)
{
	memset(nm, 0, sizeof(*nm));
	assert_int_equal(xlb_core_backup(c, names_cb, nm, NULL), 0);
}

static char *tmpdir(void)
{
	char *d = strdup("/tmp/xlb-core-persist.XXXXXX");

	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

static void rmdir_all(const char *d)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
}

/* The persist thread stops at one step until released. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	enum xlb_snap_step at;
	bool reached, released;
	bool kill_after;	/* then the process dies right there */
};

static void gate_hook(void *arg, enum xlb_snap_step step)
{
	struct gate *g = arg;

	if (step != g->at)
		return;
	pthread_mutex_lock(&g->mu);
	g->reached = true;
	pthread_cond_broadcast(&g->cv);
	while (!g->released)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	if (g->kill_after)
		kill(getpid(), SIGKILL);
}

/* Wait for the gate to be reached; false after 60 s. */
static bool gate_wait(struct gate *g)
{
	struct timespec dl;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 60;
	pthread_mutex_lock(&g->mu);
	while (!g->reached && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&g->cv, &g->mu, &dl);
	pthread_mutex_unlock(&g->mu);
	return g->reached;
}

static void gate_release(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->released = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

struct compaction {
	struct xlb_core *c;
	int ret;
};

static void *compact_thread(void *arg)
{
	struct compaction *k = arg;

	k->ret = xlb_core_compact(k->c, true);
	return NULL;
}

/* A write made on another thread, waited for at most 60 s. */
struct writer {
	struct xlb_core *c;
	int i, ret;
	bool done;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void *write_thread(void *arg)
{
	struct writer *w = arg;
	int ret = put(w->c, w->i);

	pthread_mutex_lock(&w->mu);
	w->ret = ret;
	w->done = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static bool write_within_bound(struct xlb_core *c, int i)
{
	struct writer w = { .c = c, .i = i, .mu = PTHREAD_MUTEX_INITIALIZER,
			    .cv = PTHREAD_COND_INITIALIZER };
	struct timespec dl;
	pthread_t t;
	bool done;
	int r = 0;

	assert_int_equal(pthread_create(&t, NULL, write_thread, &w), 0);
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 60;
	pthread_mutex_lock(&w.mu);
	while (!w.done && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&w.cv, &w.mu, &dl);
	done = w.done;
	pthread_mutex_unlock(&w.mu);
	if (!done)
		return false;	/* the thread stays blocked: the test fails */
	pthread_join(t, NULL);
	assert_int_equal(w.ret, 0);
	return true;
}

/* Held with the state file written but not in place: three writes are
 * acknowledged meanwhile, and the new journal holds exactly them. */
static void test_writes_go_on(void **state)
{
	struct gate g = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
			  .at = XLB_SNAP_STAGED };
	struct compaction k;
	struct xlb_journal_info info;
	struct xlb_state *st;
	char *dir = tmpdir(), path[512], err[256];
	struct xlb_core *c = core_open(dir);
	struct names nm;
	int acked = 0;
	pthread_t t;

	for (int i = 0; i < 10; i++)
		assert_int_equal(put(c, i), 0);
	xlb_core_set_snap_hook(c, gate_hook, &g);
	k.c = c;
	assert_int_equal(pthread_create(&t, NULL, compact_thread, &k), 0);
	assert_true(gate_wait(&g));
	for (int i = 10; i < 13; i++)
		acked += write_within_bound(c, i);
	assert_int_equal(acked, 3);	/* while the persist thread is held */
	gate_release(&g);
	pthread_join(t, NULL);
	assert_int_equal(k.ret, 0);

	/* On disk: the snapshot of the ten, a journal of the three after. */
	snprintf(path, sizeof(path), "%s/state.pb", dir);
	assert_int_equal(xlb_statefile_load(path, &st, err, sizeof(err)), 0);
	assert_int_equal(xlb_state_count(st), 10);
	assert_int_equal(xlb_state_version(st), 10);
	snprintf(path, sizeof(path), "%s/state.journal", dir);
	assert_int_equal(xlb_journal_replay(path, st, 0, &info, err, sizeof(err)), -ESTALE);
	{
		/* the CRC the journal names is the state file's */
		uint8_t *buf;
		size_t len;
		uint32_t crc;

		snprintf(path, sizeof(path), "%s/state.pb", dir);
		assert_int_equal(xlb_statefile_read(path, &buf, &len, err, sizeof(err)), 0);
		crc = (uint32_t)buf[12] | (uint32_t)buf[13] << 8 | (uint32_t)buf[14] << 16 |
		      (uint32_t)buf[15] << 24;
		free(buf);
		snprintf(path, sizeof(path), "%s/state.journal", dir);
		assert_int_equal(xlb_journal_replay(path, st, crc, &info, err, sizeof(err)), 0);
	}
	assert_int_equal(info.records, 3);
	assert_int_equal(info.covered, 0);
	assert_int_equal(xlb_state_count(st), 13);
	xlb_state_free(st);

	/* And the next core has all of them. */
	xlb_core_free(c);
	c = core_open(dir);
	names_of(c, &nm);
	assert_int_equal(nm.n, 13);
	xlb_core_free(c);
	rmdir_all(dir);
	free(dir);
}

/* The child: 20 changes acknowledged, a compaction started, held at
 * `step` while 5 more are acknowledged, then released to die right there
 * while changes go on. Each acknowledged change's number goes to fd. */
static void crash_child(const char *dir, enum xlb_snap_step step, int fd)
{
	struct gate g = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
			  .at = step, .kill_after = true };
	struct xlb_core_opts o = { .dp = &nop_dp, .state_dir = dir, .dp_name = "nop" };
	struct xlb_core *c = NULL;
	char err[256];
	int i;

	xlb_log_set_level(XLB_LOG_ERROR);
	if (xlb_core_new(&o, &c, err, sizeof(err)) || xlb_core_persist_start(c))
		_exit(3);
	for (i = 0; i < 20; i++) {
		if (put(c, i) || write(fd, &i, sizeof(i)) != sizeof(i))
			_exit(4);
	}
	xlb_core_set_snap_hook(c, gate_hook, &g);
	if (xlb_core_compact(c, false))
		_exit(5);
	if (!gate_wait(&g))
		_exit(6);
	for (; i < 25; i++) {
		if (put(c, i) || write(fd, &i, sizeof(i)) != sizeof(i))
			_exit(7);
	}
	gate_release(&g);
	for (; i < 4000; i++) {
		if (put(c, i) || write(fd, &i, sizeof(i)) != sizeof(i))
			_exit(8);
	}
	_exit(9);	/* the hook should have killed us long before */
}

static void test_crash_at_each_step(void **state)
{
	static const enum xlb_snap_step steps[] = {
		XLB_SNAP_STARTED, XLB_SNAP_STAGED, XLB_SNAP_COMMITTED, XLB_SNAP_COPIED,
		XLB_SNAP_DONE,
	};

	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		static struct names nm;
		static bool acked[4096];
		char *dir = tmpdir();
		struct xlb_core *c;
		int fds[2], st, i, n = 0;
		pid_t pid;

		memset(acked, 0, sizeof(acked));
		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (!pid) {
			close(fds[0]);
			crash_child(dir, steps[s], fds[1]);
		}
		close(fds[1]);
		while (read(fds[0], &i, sizeof(i)) == sizeof(i)) {
			assert_true(i >= 0 && i < 4096);
			acked[i] = true;
			n++;
		}
		close(fds[0]);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		print_message("  killed at step %d after %d acknowledged changes\n", (int)steps[s], n);
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		assert_true(n >= 25);

		c = core_open(dir);
		names_of(c, &nm);
		for (i = 0; i < 4096; i++)
			if (acked[i] && !nm.have[i])
				fail_msg("step %d: acknowledged change %d lost", (int)steps[s], i);
		xlb_core_free(c);
		rmdir_all(dir);
		free(dir);
	}
}

static void file_read(const char *dir, const char *name, uint8_t **buf, size_t *len)
{
	char path[512], err[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(xlb_statefile_read(path, buf, len, err, sizeof(err)), 0);
}

/* What a new core on dir has: exactly services lo..hi-1. */
static void expect_names(const char *dir, int lo, int hi)
{
	struct xlb_core *c = core_open(dir);
	static struct names nm;

	names_of(c, &nm);
	assert_int_equal(nm.n, (size_t)(hi - lo));
	for (int i = lo; i < hi; i++)
		assert_true(nm.have[i]);
	xlb_core_free(c);
}

static char *copy_of(const char *dir)
{
	char *copy = tmpdir(), cmd[512];

	snprintf(cmd, sizeof(cmd), "cp -a '%s'/. '%s'/", dir, copy);
	assert_int_equal(system(cmd), 0);
	return copy;
}

/* A snapshot of services 5..14 over 0..9, 14 on the address 0 had, then
 * a change (15): the state file stays as the compaction of the ten left
 * it, and a core started from what is on disk then (a crash: the journal
 * replayed) has exactly 5..15 (0..4 gone, no address conflict); so does
 * one started after the next compaction. */
static void test_snapshot_journaled(void **state)
{
	char *dir = tmpdir(), *copy, err[256];
	struct xlb_core *c = core_open(dir);
	struct xlb_svc_desired snap[10];
	uint8_t *before, *after;
	size_t before_len, after_len;
	uint64_t version;

	for (int i = 0; i < 10; i++)
		assert_int_equal(put(c, i), 0);
	assert_int_equal(xlb_core_compact(c, true), 0);
	file_read(dir, "state.pb", &before, &before_len);
	for (int i = 5; i < 15; i++)
		snap[i - 5] = svc_at(i, i == 14 ? 0 : i);
	assert_int_equal(xlb_core_apply(c, true, snap, 10, NULL, 0, &version, err, sizeof(err)),
			 0);
	assert_int_equal(version, 11);
	assert_int_equal(put(c, 15), 0);
	file_read(dir, "state.pb", &after, &after_len);
	assert_int_equal(after_len, before_len);
	assert_memory_equal(after, before, before_len);
	free(before);
	free(after);

	copy = copy_of(dir);
	expect_names(copy, 5, 16);
	rmdir_all(copy);
	free(copy);

	assert_int_equal(xlb_core_compact(c, true), 0);
	copy = copy_of(dir);
	expect_names(copy, 5, 16);
	rmdir_all(copy);
	free(copy);
	xlb_core_free(c);
	rmdir_all(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes_go_on),
		cmocka_unit_test(test_crash_at_each_step),
		cmocka_unit_test(test_snapshot_journaled),
	};

	return cmocka_run_group_tests_name("core_persist", tests, NULL, NULL);
}
