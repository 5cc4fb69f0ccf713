// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The health engine's deadline heap: after any mix of adds, moves and
 * removals the top is the earliest deadline, every timer knows its
 * position, and popping yields deadlines in order. Checked against a plain
 * array.
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

#include "health/timerheap.h"
#define TEST_RNG_SEED 0x2545f4914f6cdd1dULL
#include "rng.h"

#define N 2000

static void check_invariants(const struct xlb_timerheap *th, const struct xlb_timer *tm,
			     size_t n)
{
	uint32_t queued = 0;
	int64_t min = INT64_MAX;

	for (uint32_t i = 0; i < th->n; i++) {
		assert_int_equal(th->v[i].t->idx, i);
		assert_true(th->v[i].when == th->v[i].t->when);
		if (i)
			assert_true(th->v[(i - 1) / XLB_TIMERHEAP_ARITY].when <= th->v[i].when);
	}
	for (size_t i = 0; i < n; i++) {
		if (!xlb_timer_queued(&tm[i]))
			continue;
		queued++;
		assert_ptr_equal(th->v[tm[i].idx].t, &tm[i]);
		if (tm[i].when < min)
			min = tm[i].when;
	}
	assert_int_equal(queued, th->n);
	if (queued)
		assert_int_equal(xlb_timerheap_top(th)->when, min);
	else
		assert_null(xlb_timerheap_top(th));
}

static void test_random_ops(void **unused)
{
	struct xlb_timer *tm = calloc(N, sizeof(*tm));
	struct xlb_timerheap th;
	int64_t last;

	(void)unused;
	assert_non_null(tm);
	xlb_timerheap_init(&th);
	for (size_t i = 0; i < N; i++)
		xlb_timer_init(&tm[i]);

	for (int op = 0; op < 50000; op++) {
		struct xlb_timer *t = &tm[rng() % N];

		switch (rng() % 4) {
		case 0:
		case 1:	/* add or move, with many equal deadlines */
			assert_int_equal(xlb_timerheap_set(&th, t, rng() % 500), 0);
			break;
		case 2:
			xlb_timerheap_del(&th, t);
			assert_false(xlb_timer_queued(t));
			break;
		case 3:	/* the engine's pattern: move the top later */
			if (xlb_timerheap_top(&th))
				xlb_timerheap_set(&th, xlb_timerheap_top(&th),
						  xlb_timerheap_top(&th)->when + rng() % 100);
			break;
		}
		if (op % 97 == 0)
			check_invariants(&th, tm, N);
	}
	check_invariants(&th, tm, N);

	/* Drain in order. */
	last = INT64_MIN;
	while (xlb_timerheap_top(&th)) {
		struct xlb_timer *t = xlb_timerheap_top(&th);

		assert_true(t->when >= last);
		last = t->when;
		xlb_timerheap_del(&th, t);
	}
	check_invariants(&th, tm, N);
	xlb_timerheap_fini(&th);
	free(tm);
}

static void test_reserve(void **unused)
{
	struct xlb_timer tm[3];
	struct xlb_timerheap th;

	(void)unused;
	xlb_timerheap_init(&th);
	assert_int_equal(xlb_timerheap_reserve(&th, 1000), 0);
	assert_true(th.cap >= 1000);
	for (int i = 0; i < 3; i++) {
		xlb_timer_init(&tm[i]);
		assert_int_equal(xlb_timerheap_set(&th, &tm[i], 30 - i * 10), 0);
	}
	assert_ptr_equal(xlb_timerheap_top(&th), &tm[2]);
	xlb_timerheap_del(&th, &tm[2]);
	xlb_timerheap_del(&th, &tm[2]);	/* twice: a no-op */
	assert_ptr_equal(xlb_timerheap_top(&th), &tm[1]);
	/* fini leaves the timers marked idle. */
	xlb_timerheap_fini(&th);
	assert_false(xlb_timer_queued(&tm[0]));
	assert_false(xlb_timer_queued(&tm[1]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_ops),
		cmocka_unit_test(test_reserve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
