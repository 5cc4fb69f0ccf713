// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Weighted Maglev: the properties the paper promises (section 3.4) and the
 * ones xlb adds. Balance: each share within 1% of its weight's share when
 * M > 100 n. Disruption: removing one of N backends changes few slots
 * beyond its own 1/N (see test_disruption for the bounds).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model/maglev.h"
#include <xlb/abi.h>
#define TEST_RNG_SEED 0x2545f4914f6cdd1dULL
#include "rng.h"

/* Backend i is 10.(i >> 8).(i & 0xff).1 port 8080, keyed as the control
 * plane would key it. */
static void make_backends(struct xlb_maglev_backend *be, size_t n,
			  const uint32_t *weights)
{
	uint8_t addr[16];
	size_t i;

	for (i = 0; i < n; i++) {
		memset(addr, 0, sizeof(addr));
		addr[0] = 10;
		addr[1] = (uint8_t)(i >> 8);
		addr[2] = (uint8_t)i;
		addr[3] = 1;
		be[i].key = xlb_maglev_key(addr, 8080);
		be[i].weight = weights ? weights[i] : 1;
	}
}

static uint32_t *build(const struct xlb_maglev_backend *be, size_t n, uint32_t m)
{
	uint32_t *t = calloc(m, sizeof(*t));

	assert_non_null(t);
	assert_int_equal(xlb_maglev_build(be, n, m, t), 0);
	return t;
}

static void count_slots(const uint32_t *t, uint32_t m, size_t n, uint32_t *cnt)
{
	uint32_t i;

	memset(cnt, 0, n * sizeof(*cnt));
	for (i = 0; i < m; i++) {
		assert_true(t[i] < n);
		cnt[t[i]]++;
	}
}

/* Largest |share - ideal| / ideal over all backends. */
static double max_rel_dev(const uint32_t *cnt, const struct xlb_maglev_backend *be,
			  size_t n, uint32_t m)
{
	double total = 0, dev, worst = 0;
	size_t i;

	for (i = 0; i < n; i++)
		total += be[i].weight;
	for (i = 0; i < n; i++) {
		double ideal = (double)m * be[i].weight / total;

		dev = fabs(cnt[i] - ideal) / ideal;
		if (dev > worst)
			worst = dev;
	}
	return worst;
}

static bool is_prime(uint32_t m)
{
	uint32_t d;

	if (m < 2)
		return false;
	for (d = 2; d * d <= m; d++)
		if (m % d == 0)
			return false;
	return true;
}

static void test_size(void **state)
{
	static const uint32_t sizes[] = {
		251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521,
	};
	size_t n, i;
	uint32_t m;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		assert_true(is_prime(sizes[i]));

	assert_int_equal(xlb_maglev_size(0), 0);
	assert_int_equal(xlb_maglev_size(1), 16381);
	assert_int_equal(xlb_maglev_size(2), 16381);
	assert_int_equal(xlb_maglev_size(3), 16381);
	assert_int_equal(xlb_maglev_size(5), 16381);
	assert_int_equal(xlb_maglev_size(100), 16381);
	assert_int_equal(xlb_maglev_size(163), 16381);
	assert_int_equal(xlb_maglev_size(164), 32749);
	assert_int_equal(xlb_maglev_size(XLB_MAX_BACKENDS_PER_SVC), 65521);
	assert_int_equal(xlb_maglev_size(655), 65521);
	assert_int_equal(xlb_maglev_size(656), 0);
	assert_int_equal(xlb_maglev_size(SIZE_MAX), 0);

	/* The default size, or the smallest larger entry that fits. */
	for (n = 1; n <= 655; n++) {
		m = xlb_maglev_size(n);
		assert_true(m > 100 * n);
		assert_true(m <= XLB_MAGLEV_MAX_SIZE);
		assert_true(is_prime(m));
		for (i = 0; sizes[i] != m; i++)
			assert_true(sizes[i] <= 100 * n || sizes[i] < XLB_MAGLEV_DEFAULT_SIZE);
	}
}

static void test_invalid(void **state)
{
	struct xlb_maglev_backend be[3];
	uint32_t t[509];

	make_backends(be, 3, NULL);
	assert_int_equal(xlb_maglev_build(be, 0, 509, t), -EINVAL);
	assert_int_equal(xlb_maglev_build(NULL, 3, 509, t), -EINVAL);
	assert_int_equal(xlb_maglev_build(be, 3, 509, NULL), -EINVAL);
	assert_int_equal(xlb_maglev_build(be, 3, 0, t), -EINVAL);
	assert_int_equal(xlb_maglev_build(be, 3, 1, t), -EINVAL);
	assert_int_equal(xlb_maglev_build(be, 3, 500, t), -EINVAL);
	assert_int_equal(xlb_maglev_build(be, 3, 507, t), -EINVAL); /* 3 * 13 * 13 */
	be[1].weight = 0;
	assert_int_equal(xlb_maglev_build(be, 3, 509, t), -EINVAL);
}

static void test_single_backend(void **state)
{
	struct xlb_maglev_backend be[1];
	uint32_t m = xlb_maglev_size(1), i, *t;

	make_backends(be, 1, NULL);
	be[0].weight = 7;
	t = build(be, 1, m);
	for (i = 0; i < m; i++)
		assert_int_equal(t[i], 0);
	free(t);
}

/* Odd inputs still fill every slot with a valid index. */
static void test_every_slot_filled(void **state)
{
	struct xlb_maglev_backend be[40];
	uint32_t w[40], cnt[40], *t;
	double total = 0;
	size_t i;

	/* Skewed: a weight-1 backend's ideal share here is under one slot. */
	for (i = 0; i < 40; i++) {
		w[i] = i % 7 == 0 ? 65535 : 1 + rng() % 3;
		total += w[i];
	}
	make_backends(be, 40, w);

	t = build(be, 40, 4093);
	count_slots(t, 4093, 40, cnt);
	for (i = 0; i < 40; i++)
		assert_true(fabs(cnt[i] - 4093.0 * w[i] / total) < 1.0);
	free(t);

	/* Smaller table than backends: some get nothing, all slots valid. */
	t = build(be, 40, 31);
	count_slots(t, 31, 40, cnt);
	free(t);

	/* Smallest prime. */
	be[0].weight = be[1].weight = 1;
	t = build(be, 2, 2);
	count_slots(t, 2, 2, cnt);
	assert_int_equal(cnt[0], 1);
	assert_int_equal(cnt[1], 1);
	free(t);
}

static void test_balance_equal(void **state)
{
	static const size_t ns[] = { 3, 10, 50, 100 };
	struct xlb_maglev_backend be[100];
	uint32_t cnt[100], m, *t;
	double dev;
	size_t k;

	for (k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		m = xlb_maglev_size(ns[k]);
		make_backends(be, ns[k], NULL);
		t = build(be, ns[k], m);
		count_slots(t, m, ns[k], cnt);
		dev = max_rel_dev(cnt, be, ns[k], m);
		print_message("maglev balance: n=%zu M=%u equal weights: max deviation %.3f%%\n",
			      ns[k], m, dev * 100);
		assert_true(dev <= 0.01);
		free(t);
	}
}

static void test_balance_weighted(void **state)
{
	static const uint32_t w123[] = { 1, 2, 3 };
	struct xlb_maglev_backend be[20];
	uint32_t w[20], cnt[20], m, *t;
	double dev, total = 0;
	size_t i;

	m = xlb_maglev_size(3);
	make_backends(be, 3, w123);
	t = build(be, 3, m);
	count_slots(t, m, 3, cnt);
	dev = max_rel_dev(cnt, be, 3, m);
	print_message("maglev balance: weights 1:2:3 M=%u: %u/%u/%u, max deviation %.3f%%\n",
		      m, cnt[0], cnt[1], cnt[2], dev * 100);
	assert_true(dev <= 0.01);
	free(t);

	for (i = 0; i < 20; i++) {
		w[i] = 1 + rng() % 10;
		total += w[i];
	}
	make_backends(be, 20, w);

	/*
	 * At M = 2039 a weight-1 backend's ideal share
	 * is about 20 slots, where 1% is a fifth of a slot: no integer table
	 * can do that. What the table can promise is within one slot.
	 */
	m = 2039;
	t = build(be, 20, m);
	count_slots(t, m, 20, cnt);
	for (i = 0; i < 20; i++)
		assert_true(fabs(cnt[i] - (double)m * w[i] / total) < 1.0);
	free(t);

	/* With room for it, 1% of the weight's share. */
	m = XLB_MAGLEV_MAX_SIZE;
	t = build(be, 20, m);
	count_slots(t, m, 20, cnt);
	dev = max_rel_dev(cnt, be, 20, m);
	print_message("maglev balance: 20 random weights 1..10 M=%u: max deviation %.3f%%\n",
		      m, dev * 100);
	assert_true(dev <= 0.01);
	free(t);
}

/* Remove backend r from N: count slots whose owner changed. */
static uint32_t removal_changes(const struct xlb_maglev_backend *be, size_t n,
				size_t r, uint32_t m, const uint32_t *before)
{
	struct xlb_maglev_backend rest[100];
	uint32_t *after, changed = 0, i, owner;

	memcpy(rest, be, r * sizeof(*be));
	memcpy(rest + r, be + r + 1, (n - r - 1) * sizeof(*be));
	after = build(rest, n - 1, m);
	for (i = 0; i < m; i++) {
		owner = after[i] < r ? after[i] : after[i] + 1;
		if (before[i] == r)
			assert_int_not_equal(owner, r);
		if (owner != before[i])
			changed++;
	}
	free(after);
	return changed;
}

/*
 * Target: at most 1.2/N of the slots change when one of N backends goes.
 * Met at the table size services get (XLB_MAGLEV_DEFAULT_SIZE = 16381) for
 * N <= 20. Beyond, even the largest table (65521) measures 1.16-1.24/N for
 * N = 50 (depending on the addresses) and 1.37/N for N = 100: with exact quotas the removed backend's
 * slots split randomly, not along the others' quota increases, and that
 * mismatch (~ sqrt(N / M) per N) displaces further slots. At the bare
 * M = 100 N minimum the paper's population measures 1.9/N and 2.3/N for
 * N = 50 and 100, ours 1.54/N and 1.77/N: those rows guard regressions.
 */
static void test_disruption(void **state)
{
	static const struct {
		size_t n;
		uint32_t m;	/* 0: xlb_maglev_size(n) */
		double bound;	/* times 1/N */
	} cases[] = {
		{ 5, 0, 1.2 }, { 10, 0, 1.2 }, { 20, 0, 1.2 },
		{ 50, 65521, 1.3 }, { 100, 65521, 1.45 },
		{ 50, 8191, 1.7 }, { 100, 16381, 2.0 },
	};
	struct xlb_maglev_backend be[100];
	uint32_t m, changed, worst, *before;
	double frac;
	size_t k, r, n;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		n = cases[k].n;
		m = cases[k].m;
		if (!m) {
			/* The size a service gets does not move with N. */
			m = xlb_maglev_size(n);
			assert_int_equal(m, xlb_maglev_size(n - 1));
		}
		make_backends(be, n, NULL);
		before = build(be, n, m);

		/* Worst case over which backend goes. */
		worst = 0;
		for (r = 0; r < n; r++) {
			changed = removal_changes(be, n, r, m, before);
			if (changed > worst)
				worst = changed;
		}
		frac = (double)worst / m;
		print_message("maglev disruption: remove 1 of N=%zu, M=%u: worst %.4f of slots (%.3f/N, bound %.2f/N)\n",
			      n, m, frac, frac * n, cases[k].bound);
		assert_true(frac * n <= cases[k].bound);
		free(before);
	}
}

/* Same backends, same table; given in another order, the same backend
 * owns each slot. */
static void test_deterministic(void **state)
{
	struct xlb_maglev_backend be[50], rev[50];
	uint32_t w[50], m = xlb_maglev_size(50), *a, *b, *c, i;

	for (i = 0; i < 50; i++)
		w[i] = 1 + rng() % 5;
	make_backends(be, 50, w);
	for (i = 0; i < 50; i++)
		rev[i] = be[49 - i];

	a = build(be, 50, m);
	b = build(be, 50, m);
	c = build(rev, 50, m);
	assert_memory_equal(a, b, m * sizeof(*a));
	for (i = 0; i < m; i++)
		assert_int_equal(a[i], 49 - c[i]);
	free(a);
	free(b);
	free(c);
}

static void test_key(void **state)
{
	uint8_t a[16] = { 10, 0, 0, 1 }, b[16] = { 10, 0, 0, 2 };

	assert_true(xlb_maglev_key(a, 80) == xlb_maglev_key(a, 80));
	assert_true(xlb_maglev_key(a, 80) != xlb_maglev_key(a, 81));
	assert_true(xlb_maglev_key(a, 80) != xlb_maglev_key(b, 80));
	b[0] = 0;
	b[15] = 1;
	assert_true(xlb_maglev_key(b, 80) != xlb_maglev_key(a, 80));

	/* Golden: a changed key reshuffles every table on upgrade. */
	assert_true(xlb_maglev_key(a, 8080) == 0xb28eacfdb8a3e091ULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_single_backend),
		cmocka_unit_test(test_every_slot_filled),
		cmocka_unit_test(test_balance_equal),
		cmocka_unit_test(test_balance_weighted),
		cmocka_unit_test(test_disruption),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_key),
	};

	return cmocka_run_group_tests_name("maglev", tests, NULL, NULL);
}
