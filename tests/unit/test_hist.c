// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Histograms (bucket bounds inclusive, cumulative snapshots, concurrent
 * observers) and the Prometheus text format they render to (label and
 * HELP escaping, number formatting).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/hist.h"
#include "util/prom.h"

static const double le3[] = { 0.001, 0.01, 0.1 };

static char *render(struct xlb_hist *h, const char *key, const char *value)
{
	struct xlb_prom p;
	char *text;
	size_t len;

	xlb_prom_init(&p);
	xlb_hist_render(h, &p, "t_seconds", "A test.", key, value);
	assert_int_equal(xlb_prom_finish(&p, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	return text;
}

static void test_buckets_inclusive(void **state)
{
	struct xlb_hist h = XLB_HIST_INIT(le3, 3);
	struct xlb_hist_snap s;

	xlb_hist_observe(&h, 0.001);	/* on the bound: in it */
	xlb_hist_observe(&h, 0.0010001);
	xlb_hist_observe(&h, 0.05);
	xlb_hist_observe(&h, 0.1);
	xlb_hist_observe(&h, 7);	/* +Inf */
	xlb_hist_observe(&h, -1);	/* a clock step: first bucket */
	xlb_hist_observe(&h, NAN);	/* ignored */
	xlb_hist_snapshot(&h, &s);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.cum[0], 2);
	assert_int_equal(s.cum[1], 3);
	assert_int_equal(s.cum[2], 5);
	assert_int_equal(s.cum[3], 6);
	assert_int_equal(s.count, 6);
	assert_true(fabs(s.sum - (0.001 + 0.0010001 + 0.05 + 0.1 + 7 - 1)) < 1e-12);
	assert_true(s.le[2] == 0.1);

	xlb_hist_reset(&h);
	xlb_hist_snapshot(&h, &s);
	assert_int_equal(s.count, 0);
	assert_int_equal(s.cum[3], 0);
	assert_true(s.sum == 0);
}

static void test_init_checks(void **state)
{
	static const double dup[] = { 0.1, 0.1 }, down[] = { 1, 0.5 }, inf[] = { 1, INFINITY };
	struct xlb_hist h;

	assert_int_equal(xlb_hist_init(&h, le3, 0), -EINVAL);
	assert_int_equal(xlb_hist_init(&h, dup, 2), -EINVAL);
	assert_int_equal(xlb_hist_init(&h, down, 2), -EINVAL);
	assert_int_equal(xlb_hist_init(&h, inf, 2), -EINVAL);
	assert_int_equal(xlb_hist_init(&h, xlb_hist_default_le, XLB_HIST_MAX_BUCKETS + 1),
			 -EINVAL);
	assert_int_equal(xlb_hist_init(&h, xlb_hist_default_le, XLB_HIST_DEFAULT_N), 0);
	for (size_t i = 1; i < XLB_HIST_DEFAULT_N; i++)
		assert_true(xlb_hist_default_le[i] > xlb_hist_default_le[i - 1]);
	assert_true(xlb_hist_default_le[0] == 0.0001);
	assert_true(xlb_hist_default_le[XLB_HIST_DEFAULT_N - 1] == 10);
	pthread_mutex_destroy(&h.lock);
}

#define THREADS 4
#define PER_THREAD 100000

static void *observer(void *arg)
{
	struct xlb_hist *h = arg;

	for (int i = 0; i < PER_THREAD; i++)
		xlb_hist_observe(h, (i % 4) * 0.004);	/* 0, 0.004, 0.008, 0.012 */
	return NULL;
}

/* Concurrent observers lose nothing, and a snapshot taken meanwhile is
 * consistent: its +Inf bucket is its count. */
static void test_concurrent(void **state)
{
	static struct xlb_hist h = XLB_HIST_INIT(le3, 3);
	pthread_t t[THREADS];
	struct xlb_hist_snap s;

	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, observer, &h), 0);
	for (int k = 0; k < 1000; k++) {
		xlb_hist_snapshot(&h, &s);
		assert_int_equal(s.cum[3], s.count);
		for (size_t i = 1; i <= s.n; i++)
			assert_true(s.cum[i] >= s.cum[i - 1]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	xlb_hist_snapshot(&h, &s);
	assert_int_equal(s.count, THREADS * PER_THREAD);
	assert_int_equal(s.cum[0], THREADS * PER_THREAD / 4);	/* 0 */
	assert_int_equal(s.cum[1], THREADS * PER_THREAD * 3 / 4);
	assert_int_equal(s.cum[2], THREADS * PER_THREAD);
	assert_int_equal(s.cum[3], THREADS * PER_THREAD);
}

static void test_render(void **state)
{
	struct xlb_hist h = XLB_HIST_INIT(le3, 3);
	char *text;

	xlb_hist_observe(&h, 0.0005);
	xlb_hist_observe(&h, 0.25);
	text = render(&h, NULL, NULL);
	assert_string_equal(text,
			    "# HELP t_seconds A test.\n"
			    "# TYPE t_seconds histogram\n"
			    "t_seconds_bucket{le=\"0.001\"} 1\n"
			    "t_seconds_bucket{le=\"0.01\"} 1\n"
			    "t_seconds_bucket{le=\"0.1\"} 1\n"
			    "t_seconds_bucket{le=\"+Inf\"} 2\n"
			    "t_seconds_sum 0.2505\n"
			    "t_seconds_count 2\n");
	free(text);

	text = render(&h, "stage", "a\"b");
	assert_non_null(strstr(text, "t_seconds_bucket{stage=\"a\\\"b\",le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(text, "t_seconds_sum{stage=\"a\\\"b\"} 0.2505\n"));
	assert_non_null(strstr(text, "t_seconds_count{stage=\"a\\\"b\"} 2\n"));
	free(text);
}

static void test_prom_escape(void **state)
{
	struct xlb_prom p;
	char *text;
	size_t len;

	xlb_prom_init(&p);
	xlb_prom_family(&p, "x_total", "counter", "Back\\slash, \"quotes\" and\nnew line.");
	xlb_prom_sample(&p, "x_total");
	xlb_prom_label(&p, "service", "ns/we\"b\\x:h\nttp");
	xlb_prom_label(&p, "backend", "10.0.0.1:80");
	xlb_prom_u64(&p, UINT64_MAX);
	xlb_prom_sample(&p, "x_total");
	xlb_prom_u64(&p, 0);
	assert_int_equal(xlb_prom_finish(&p, &text, &len), 0);
	/* HELP keeps double quotes as they are; label values escape them. */
	assert_string_equal(text,
			    "# HELP x_total Back\\\\slash, \"quotes\" and\\nnew line.\n"
			    "# TYPE x_total counter\n"
			    "x_total{service=\"ns/we\\\"b\\\\x:h\\nttp\",backend=\"10.0.0.1:80\"} "
			    "18446744073709551615\n"
			    "x_total 0\n");
	free(text);
}

static void test_prom_numbers(void **state)
{
	char b[32];
	struct xlb_prom p;
	char *text;
	size_t len;

	assert_string_equal(xlb_prom_fmt_f64(0.0001, b, sizeof(b)), "0.0001");
	assert_string_equal(xlb_prom_fmt_f64(2.5, b, sizeof(b)), "2.5");
	assert_string_equal(xlb_prom_fmt_f64(10, b, sizeof(b)), "10");
	assert_string_equal(xlb_prom_fmt_f64(0.1 + 0.2, b, sizeof(b)), "0.30000000000000004");
	assert_string_equal(xlb_prom_fmt_f64(INFINITY, b, sizeof(b)), "+Inf");
	assert_string_equal(xlb_prom_fmt_f64(-INFINITY, b, sizeof(b)), "-Inf");
	assert_string_equal(xlb_prom_fmt_f64(NAN, b, sizeof(b)), "NaN");

	/* Nothing written: an empty text, not NULL. */
	xlb_prom_init(&p);
	assert_int_equal(xlb_prom_finish(&p, &text, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(text, "");
	free(text);

	/* Past the first allocation. */
	xlb_prom_init(&p);
	for (int i = 0; i < 2000; i++) {
		xlb_prom_sample(&p, "g");
		xlb_prom_label(&p, "i", "0123456789");
		xlb_prom_f64(&p, i / 4.0);
	}
	assert_int_equal(xlb_prom_finish(&p, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	assert_non_null(strstr(text, "g{i=\"0123456789\"} 499.75\n"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets_inclusive),
		cmocka_unit_test(test_init_checks),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_prom_escape),
		cmocka_unit_test(test_prom_numbers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
