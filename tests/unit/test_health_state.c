// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Health verdicts (Kubernetes readiness semantics) and target
 * normalization: what makes two targets the same, what is refused, which
 * defaults apply.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "health/spec.h"
#include "health/verdict.h"

/*
 * A result sequence and the verdict after each result: 's' success, 'f'
 * failure; 'U' unknown, 'H' healthy, 'X' unhealthy.
 */
struct seq_case {
	const char *desc;
	uint32_t success, failure;
	const char *results;
	const char *verdicts;
};

static const struct seq_case seq_cases[] = {
	{ "defaults: one success makes a new target healthy", 1, 3, "s", "H" },
	{ "defaults: a new target fails three times before unhealthy", 1, 3, "fff", "UUX" },
	{ "defaults: two failures then a success: healthy", 1, 3, "ffs", "UUH" },
	{ "defaults: healthy survives two failures", 1, 3, "sffsff", "HHHHHH" },
	{ "defaults: healthy falls at the third consecutive failure", 1, 3, "sfff", "HHHX" },
	{ "defaults: one success brings an unhealthy target back", 1, 3, "fffs", "UUXH" },
	{ "success 2: one success is not enough", 2, 3, "s", "U" },
	{ "success 2: an interrupted run starts over", 2, 3, "sfsfs", "UUUUU" },
	{ "success 2: two in a row", 2, 3, "fffss", "UUXXH" },
	{ "success 3 after a flap", 3, 1, "sssfssfsss", "UUHXXXXXXH" },
	{ "failure 1: the first failure decides", 1, 1, "fsf", "XHX" },
	{ "thresholds 0 act as 1", 0, 0, "sfs", "HXH" },
	{ "long runs do not re-trigger", 1, 2, "ssssffffff", "HHHHHXXXXX" },
};

static enum xlb_health_verdict verdict_of(char c)
{
	return c == 'H' ? XLB_HV_HEALTHY : c == 'X' ? XLB_HV_UNHEALTHY : XLB_HV_UNKNOWN;
}

static void test_sequences(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < sizeof(seq_cases) / sizeof(seq_cases[0]); i++) {
		const struct seq_case *c = &seq_cases[i];
		struct xlb_hc_state s;
		enum xlb_health_verdict prev = XLB_HV_UNKNOWN;

		xlb_hc_state_init(&s);
		assert_int_equal(s.verdict, XLB_HV_UNKNOWN);
		for (size_t j = 0; c->results[j]; j++) {
			bool ok = c->results[j] == 's';
			bool changed = xlb_hc_state_feed(&s, ok, c->success, c->failure);
			enum xlb_health_verdict want = verdict_of(c->verdicts[j]);

			if (s.verdict != want || changed != (want != prev)) {
				print_error("%s: after result %zu ('%c'): verdict %s (want %s), changed %d\n",
					    c->desc, j, c->results[j], xlb_health_verdict_name(s.verdict),
					    xlb_health_verdict_name(want), changed);
				fail();
			}
			/* On a transition the run is exactly the threshold met. */
			if (changed) {
				uint32_t thr = ok ? c->success : c->failure;

				assert_int_equal(s.run, thr ? thr : 1);
			}
			prev = s.verdict;
		}
	}
}

static void test_run_saturates(void **unused)
{
	struct xlb_hc_state s;

	(void)unused;
	xlb_hc_state_init(&s);
	assert_true(xlb_hc_state_feed(&s, true, 1, 3));
	s.run = UINT32_MAX - 1;
	assert_false(xlb_hc_state_feed(&s, true, 1, 3));
	assert_false(xlb_hc_state_feed(&s, true, 1, 3));
	assert_int_equal(s.run, UINT32_MAX);
	assert_int_equal(s.verdict, XLB_HV_HEALTHY);
	/* One failure still starts a fresh run. */
	assert_false(xlb_hc_state_feed(&s, false, 1, 3));
	assert_int_equal(s.run, 1);
}

static void test_reason(void **unused)
{
	struct xlb_hc_state s;
	char buf[128];

	(void)unused;
	xlb_hc_state_init(&s);
	xlb_hc_state_feed(&s, false, 1, 3);
	xlb_hc_state_feed(&s, false, 1, 3);
	assert_true(xlb_hc_state_feed(&s, false, 1, 3));
	xlb_hc_reason(buf, sizeof(buf), &s, "connect: Connection refused");
	assert_string_equal(buf, "3 consecutive failures: connect: Connection refused");

	assert_true(xlb_hc_state_feed(&s, true, 1, 3));
	xlb_hc_reason(buf, sizeof(buf), &s, "HTTP 200 OK");
	assert_string_equal(buf, "1 success: HTTP 200 OK");

	xlb_hc_state_init(&s);
	xlb_hc_state_feed(&s, true, 2, 1);
	assert_true(xlb_hc_state_feed(&s, true, 2, 1));
	xlb_hc_reason(buf, sizeof(buf), &s, "exit 0");
	assert_string_equal(buf, "2 consecutive successes: exit 0");

	xlb_hc_state_init(&s);
	assert_true(xlb_hc_state_feed(&s, false, 1, 1));
	xlb_hc_reason(buf, sizeof(buf), &s, NULL);
	assert_string_equal(buf, "1 failure: ");

	/* Truncation is snprintf's. */
	assert_int_equal(xlb_hc_reason(buf, 8, &s, "xyz"), (int)strlen("1 failure: xyz"));
	assert_string_equal(buf, "1 failu");
}

/*
 * The schedule: a probe's start times, one after another, each over after
 * `lasts` us; starts[i] in us from the first due time (0).
 */
static void run_schedule(int64_t period, int64_t lasts, int n, int64_t *starts)
{
	int64_t due = 0, start = 0;

	for (int i = 0; i < n; i++) {
		starts[i] = start;
		start = xlb_hc_next(&due, period, start + lasts);
		assert_true(start >= due);	/* never before it is due */
	}
}

static void test_schedule(void **unused)
{
	int64_t st[6], due;

	/* On time: one period apart, on the 1/128-period grid (781 us). */
	run_schedule(100000, 3000, 4, st);
	assert_int_equal(st[1], 100749);	/* 129 x 781 */
	assert_int_equal(st[2], 200717);
	assert_int_equal(st[3], 300685);

	/* Timeout 250 ms > period 100 ms: each is followed at once by the
	 * next (250 ms apart), not by the next period's tick (300 ms). */
	run_schedule(100000, 250000, 5, st);
	for (int i = 1; i < 5; i++)
		assert_int_equal(st[i] - st[i - 1], 250000);

	/* Timeout = period: back to back. */
	run_schedule(200000, 200000, 4, st);
	assert_int_equal(st[3], 600000);

	/* The phase is kept: after one overrun the kept tick is the last
	 * one passed; the probe after that is due on the old grid. */
	due = 0;
	assert_int_equal(xlb_hc_next(&due, 100000, 350000), 350000);
	assert_int_equal(due, 300000);
	assert_int_equal(xlb_hc_next(&due, 100000, 351000), 400653);	/* 513 x 781 */
	assert_int_equal(due, 400000);

	/* Long periods: the start is late by at most 8 ms; tiny ones by
	 * nothing. */
	assert_int_equal(xlb_hc_start_time(10000001, 10000000), 10008000);
	assert_int_equal(xlb_hc_start_time(10000000, 10000000), 10000000);
	assert_int_equal(xlb_hc_start_time(12345, 100), 12345);
}

static void test_verdict_names(void **unused)
{
	(void)unused;
	assert_string_equal(xlb_health_verdict_name(XLB_HV_UNKNOWN), "unknown");
	assert_string_equal(xlb_health_verdict_name(XLB_HV_HEALTHY), "healthy");
	assert_string_equal(xlb_health_verdict_name(XLB_HV_UNHEALTHY), "unhealthy");
	assert_string_equal(xlb_health_verdict_name((enum xlb_health_verdict)7), "?");
}

/* ---- normalization */

static struct xlb_health_target *target(enum xlb_hc_kind kind)
{
	static struct xlb_health_target t;

	memset(&t, 0, sizeof(t));
	snprintf(t.service, sizeof(t.service), "default/web:http");
	assert_int_equal(xlb_ip_parse("10.0.0.1", &t.addr), 0);
	t.port = 8080;
	t.spec.kind = kind;
	return &t;
}

static int norm(const struct xlb_health_target *t, struct xlb_hc_key *k, struct xlb_health_spec *s)
{
	char err[256] = "";
	int r = xlb_hc_normalize(t, k, s, err, sizeof(err));

	if (r < 0)
		assert_true(err[0]);	/* refusals say why */
	return r;
}

static void test_defaults(void **unused)
{
	struct xlb_health_target *t = target(XLB_HC_TCP);
	struct xlb_health_spec s;
	struct xlb_hc_key k;

	(void)unused;
	assert_int_equal(norm(t, &k, &s), 0);
	assert_int_equal(s.period_ms, 10000);
	assert_int_equal(s.timeout_ms, 1000);
	assert_int_equal(s.success_threshold, 1);
	assert_int_equal(s.failure_threshold, 3);
	assert_int_equal(s.initial_delay_ms, 0);
	assert_int_equal(xlb_hc_port(&k, &s), 8080);

	t->spec.period_ms = 200;
	t->spec.timeout_ms = 50;
	t->spec.success_threshold = 2;
	t->spec.failure_threshold = 5;
	t->spec.initial_delay_ms = 3000;
	t->spec.port = 9090;
	assert_int_equal(norm(t, &k, &s), 0);
	assert_int_equal(s.period_ms, 200);
	assert_int_equal(s.timeout_ms, 50);
	assert_int_equal(s.success_threshold, 2);
	assert_int_equal(s.failure_threshold, 5);
	assert_int_equal(s.initial_delay_ms, 3000);
	assert_int_equal(xlb_hc_port(&k, &s), 9090);
	assert_int_equal(k.port, 8080);	/* the identity keeps the endpoint's port */
}

/* Defaults written out and defaults left 0 are the same target, and so are
 * strings with different bytes after their terminator, fields the kind does
 * not use, and garbage after an IPv4 address. */
static void test_same_after_normalization(void **unused)
{
	struct xlb_health_target a, *t;
	struct xlb_health_spec sa, sb;
	struct xlb_hc_key ka, kb;

	(void)unused;
	t = target(XLB_HC_HTTP);
	snprintf(t->spec.http_path, sizeof(t->spec.http_path), "/healthz");
	a = *t;
	assert_int_equal(norm(&a, &ka, &sa), 0);

	t->spec.period_ms = 10000;
	t->spec.timeout_ms = 1000;
	t->spec.success_threshold = 1;
	t->spec.failure_threshold = 3;
	memset(t->spec.http_path + 9, 'x', 20);	/* after the NUL */
	memset(t->service + 20, 'y', 10);
	t->spec.argc = 2;			/* exec fields on an HTTP probe */
	snprintf(t->spec.argv[0], sizeof(t->spec.argv[0]), "/bin/true");
	t->addr.addr.a8[7] = 0xaa;		/* IPv4 tail */
	assert_int_equal(norm(t, &kb, &sb), 0);
	assert_memory_equal(&ka, &kb, sizeof(ka));
	assert_memory_equal(&sa, &sb, sizeof(sa));

	/* ... but a different path is a different spec. */
	snprintf(t->spec.http_path, sizeof(t->spec.http_path), "/ready");
	assert_int_equal(norm(t, &kb, &sb), 0);
	assert_memory_not_equal(&sa, &sb, sizeof(sa));
}

static void test_http_path(void **unused)
{
	static const struct {
		const char *path;
		int ret;
	} cases[] = {
		{ "", 0 },		/* becomes "/" */
		{ "/", 0 },
		{ "/healthz?full=1", 0 },
		{ "healthz", -EINVAL },
		{ "/a b", -EINVAL },
		{ "/a\r\nX-Injected: 1", -EINVAL },
		{ "/a\tb", -EINVAL },
		{ "/\x7f", -EINVAL },
	};
	struct xlb_health_target *t;
	struct xlb_health_spec s;
	struct xlb_hc_key k;

	(void)unused;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t = target(XLB_HC_HTTP);
		snprintf(t->spec.http_path, sizeof(t->spec.http_path), "%s", cases[i].path);
		if (norm(t, &k, &s) != cases[i].ret) {
			print_error("http_path \"%s\": want %d\n", cases[i].path, cases[i].ret);
			fail();
		}
		if (!cases[i].ret && !cases[i].path[0])
			assert_string_equal(s.http_path, "/");
	}

	t = target(XLB_HC_HTTP);
	snprintf(t->spec.http_host, sizeof(t->spec.http_host), "web.example\r\nX: y");
	assert_int_equal(norm(t, &k, &s), -EINVAL);
	snprintf(t->spec.http_host, sizeof(t->spec.http_host), "web.example:8080");
	snprintf(t->spec.expect_body, sizeof(t->spec.expect_body), "ok all fine");
	assert_int_equal(norm(t, &k, &s), 0);
	assert_string_equal(s.http_host, "web.example:8080");
	assert_string_equal(s.expect_body, "ok all fine");

	t = target(XLB_HC_HTTP);
	memset(t->spec.expect_body, 'a', sizeof(t->spec.expect_body));	/* no terminator */
	assert_int_equal(norm(t, &k, &s), -EINVAL);
}

static void test_exec_argv(void **unused)
{
	struct xlb_health_target *t;
	struct xlb_health_spec s;
	struct xlb_hc_key k;

	(void)unused;
	t = target(XLB_HC_EXEC);
	assert_int_equal(norm(t, &k, &s), -EINVAL);	/* argc 0 */

	t->spec.argc = XLB_HC_MAX_ARGS + 1;
	assert_int_equal(norm(t, &k, &s), -EINVAL);

	t->spec.argc = 1;
	assert_int_equal(norm(t, &k, &s), -EINVAL);	/* argv[0] empty */

	t->spec.argc = 2;
	snprintf(t->spec.argv[0], sizeof(t->spec.argv[0]), "cat");
	snprintf(t->spec.argv[1], sizeof(t->spec.argv[1]), "/tmp/healthy");
	snprintf(t->spec.argv[2], sizeof(t->spec.argv[2]), "beyond argc");
	t->port = 0;		/* exec needs no port */
	assert_int_equal(norm(t, &k, &s), 0);
	assert_int_equal(s.argc, 2);
	assert_string_equal(s.argv[1], "/tmp/healthy");
	assert_string_equal(s.argv[2], "");	/* cleared */

	memset(t->spec.argv[1], 'z', sizeof(t->spec.argv[1]));
	assert_int_equal(norm(t, &k, &s), -EINVAL);
}

static void test_refused(void **unused)
{
	struct xlb_health_target *t;
	struct xlb_health_spec s;
	struct xlb_hc_key k;

	(void)unused;
	t = target(XLB_HC_NONE);
	assert_int_equal(norm(t, &k, &s), 1);	/* not probed, not an error */

	t = target((enum xlb_hc_kind)9);
	assert_int_equal(norm(t, &k, &s), -EINVAL);

	t = target(XLB_HC_TCP);
	t->port = 0;
	assert_int_equal(norm(t, &k, &s), -EINVAL);	/* nothing to connect to */
	t->spec.port = 80;
	assert_int_equal(norm(t, &k, &s), 0);
	t->spec.port = 65536;
	assert_int_equal(norm(t, &k, &s), -EINVAL);

	t = target(XLB_HC_TCP);
	t->port = 70000;
	assert_int_equal(norm(t, &k, &s), -EINVAL);

	t = target(XLB_HC_TCP);
	t->addr.family = 0;
	assert_int_equal(norm(t, &k, &s), -EINVAL);

	t = target(XLB_HC_TCP);
	t->service[0] = 0;
	assert_int_equal(norm(t, &k, &s), -EINVAL);
	memset(t->service, 's', sizeof(t->service));	/* no terminator */
	assert_int_equal(norm(t, &k, &s), -EINVAL);
}

static void test_ipv6_key(void **unused)
{
	struct xlb_health_target *t = target(XLB_HC_TCP);
	struct xlb_health_spec s;
	struct xlb_hc_key k;

	(void)unused;
	assert_int_equal(xlb_ip_parse("fd00::1", &t->addr), 0);
	assert_int_equal(norm(t, &k, &s), 0);
	assert_int_equal(k.family, XLB_AF_INET6);
	assert_int_equal(k.addr[0], 0xfd);
	assert_int_equal(k.addr[15], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequences),
		cmocka_unit_test(test_run_saturates),
		cmocka_unit_test(test_reason),
		cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_verdict_names),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_same_after_normalization),
		cmocka_unit_test(test_http_path),
		cmocka_unit_test(test_exec_argv),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_ipv6_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
