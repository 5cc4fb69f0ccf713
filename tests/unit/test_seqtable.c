// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * rr / wrr sequence tables: exact counts per period, smooth interleaving,
 * gcd reduction, scaling of weights that do not fit, and input checks.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model/seqtable.h"
#include <xlb/abi.h>

static void count(const uint32_t *t, size_t len, size_t n, uint32_t *cnt)
{
	size_t i;

	memset(cnt, 0, n * sizeof(*cnt));
	for (i = 0; i < len; i++) {
		assert_true(t[i] < n);
		cnt[t[i]]++;
	}
}

static void test_rr(void **state)
{
	uint32_t w[7] = { 1, 1, 1, 1, 1, 1, 1 }, t[XLB_SEQ_MAX_SIZE], cnt[7];
	size_t len, i;

	assert_int_equal(xlb_seq_build(w, 7, t, XLB_SEQ_MAX_SIZE, &len), 0);
	assert_int_equal(len, 7);
	count(t, len, 7, cnt);
	for (i = 0; i < 7; i++)
		assert_int_equal(cnt[i], 1);

	/* Exactly as many slots as backends is enough. */
	assert_int_equal(xlb_seq_build(w, 7, t, 7, &len), 0);
	assert_int_equal(len, 7);
}

static void test_weighted(void **state)
{
	uint32_t w[3] = { 1, 2, 3 }, t[64], cnt[3];
	size_t len;

	assert_int_equal(xlb_seq_build(w, 3, t, 64, &len), 0);
	assert_int_equal(len, 6);
	count(t, len, 3, cnt);
	assert_int_equal(cnt[0], 1);
	assert_int_equal(cnt[1], 2);
	assert_int_equal(cnt[2], 3);
	/* Smooth: the heaviest backend is not taken three times in a row,
	 * nor twice at the start. */
	assert_int_not_equal(t[0], t[1]);
}

/* Equal weights interleave: no index twice in a row, wrap included. */
static void test_smooth(void **state)
{
	uint32_t w[3] = { 1, 1, 1 }, w2[3] = { 5, 5, 5 }, t[64];
	size_t len, i;

	assert_int_equal(xlb_seq_build(w, 3, t, 64, &len), 0);
	assert_int_equal(len, 3);
	for (i = 0; i < len; i++)
		assert_int_not_equal(t[i], t[(i + 1) % len]);

	assert_int_equal(xlb_seq_build(w2, 3, t, 64, &len), 0);
	assert_int_equal(len, 3);
	for (i = 0; i < len; i++)
		assert_int_not_equal(t[i], t[(i + 1) % len]);
}

/* Within any window of the period, no backend runs ahead of its share by
 * more than one pick: that is what "smooth" buys over blocks. */
static void test_smooth_window(void **state)
{
	uint32_t w[4] = { 5, 1, 1, 3 }, t[64];
	size_t len, k, b;
	double total = 10;

	assert_int_equal(xlb_seq_build(w, 4, t, 64, &len), 0);
	assert_int_equal(len, 10);
	for (b = 0; b < 4; b++) {
		uint32_t seen = 0;

		for (k = 0; k < len; k++) {
			seen += t[k] == b;
			assert_true(fabs(seen - (k + 1) * w[b] / total) < 1.0 + 1e-9);
		}
	}
}

static void test_gcd(void **state)
{
	uint32_t w[3] = { 2, 4, 6 }, w2[2] = { 1000, 1000 }, t[64], cnt[3];
	size_t len;

	assert_int_equal(xlb_seq_build(w, 3, t, 64, &len), 0);
	assert_int_equal(len, 6);
	count(t, len, 3, cnt);
	assert_int_equal(cnt[0], 1);
	assert_int_equal(cnt[1], 2);
	assert_int_equal(cnt[2], 3);

	assert_int_equal(xlb_seq_build(w2, 2, t, 64, &len), 0);
	assert_int_equal(len, 2);
}

/* Share of backend i in the table against its share of the weights. */
static double worst_rel_dev(const uint32_t *w, size_t n, const uint32_t *cnt,
			    size_t len)
{
	double total = 0, dev, worst = 0;
	size_t i;

	for (i = 0; i < n; i++)
		total += w[i];
	for (i = 0; i < n; i++) {
		dev = fabs((double)cnt[i] / len - w[i] / total) / (w[i] / total);
		if (dev > worst)
			worst = dev;
	}
	return worst;
}

static void test_scaled(void **state)
{
	/* sum/gcd = 6000004: must be scaled into 4096 slots */
	uint32_t w[3] = { 1000003, 2000000, 3000001 }, t[XLB_SEQ_MAX_SIZE], cnt[3];
	uint32_t big[2] = { 1, 4000000000U }, wide[100], c[100];
	double total = 0;
	size_t len, i;

	assert_int_equal(xlb_seq_build(w, 3, t, XLB_SEQ_MAX_SIZE, &len), 0);
	assert_true(len <= XLB_SEQ_MAX_SIZE);
	assert_true(len > XLB_SEQ_MAX_SIZE / 2);
	count(t, len, 3, cnt);
	print_message("seqtable: weights 1000003:2000000:3000001 -> %zu slots: %u/%u/%u\n",
		      len, cnt[0], cnt[1], cnt[2]);
	assert_true(worst_rel_dev(w, 3, cnt, len) < 0.01);

	/* A tiny weight next to a huge one keeps at least one slot. */
	assert_int_equal(xlb_seq_build(big, 2, t, XLB_SEQ_MAX_SIZE, &len), 0);
	assert_true(len <= XLB_SEQ_MAX_SIZE);
	count(t, len, 2, cnt);
	assert_int_equal(cnt[0], 1);
	assert_int_equal(cnt[1], len - 1);

	/* Many coprime weights: scaled, every backend present, and with about
	 * ten picks each, every count within one pick of ideal. */
	for (i = 0; i < 100; i++) {
		wide[i] = 100 + 7 * (uint32_t)i;
		total += wide[i];
	}
	assert_int_equal(xlb_seq_build(wide, 100, t, 1000, &len), 0);
	assert_true(len <= 1000);
	count(t, len, 100, c);
	for (i = 0; i < 100; i++) {
		assert_true(c[i] >= 1);
		assert_true(fabs(c[i] - (double)len * wide[i] / total) <= 1.0);
	}

	/* max == n: all ones. */
	assert_int_equal(xlb_seq_build(w, 3, t, 3, &len), 0);
	assert_int_equal(len, 3);
	count(t, len, 3, cnt);
	for (i = 0; i < 3; i++)
		assert_int_equal(cnt[i], 1);
}

static void test_invalid(void **state)
{
	uint32_t w[3] = { 1, 0, 3 }, ok[3] = { 1, 2, 3 }, t[16];
	size_t len;

	assert_int_equal(xlb_seq_build(w, 3, t, 16, &len), -EINVAL);
	assert_int_equal(xlb_seq_build(ok, 0, t, 16, &len), -EINVAL);
	assert_int_equal(xlb_seq_build(ok, 3, t, 2, &len), -EINVAL);
	assert_int_equal(xlb_seq_build(NULL, 3, t, 16, &len), -EINVAL);
	assert_int_equal(xlb_seq_build(ok, 3, NULL, 16, &len), -EINVAL);
	assert_int_equal(xlb_seq_build(ok, 3, t, 16, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rr),
		cmocka_unit_test(test_weighted),
		cmocka_unit_test(test_smooth),
		cmocka_unit_test(test_smooth_window),
		cmocka_unit_test(test_gcd),
		cmocka_unit_test(test_scaled),
		cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests_name("seqtable", tests, NULL, NULL);
}
