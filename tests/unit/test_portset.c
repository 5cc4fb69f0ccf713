// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Port sets as net.ipv4.ip_local_reserved_ports holds them: what the
 * kernel prints parses, ranges merge when they touch or overlap, the set
 * prints back as the kernel takes it, and bad input is refused whole.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "util/portset.h"

static void test_parse_print(void **state)
{
	static const struct {
		const char *desc, *in, *out;
	} cases[] = {
		{ "empty, as a fresh namespace has it", "\n", "" },
		{ "one range", "30000-32767\n", "30000-32767" },
		{ "a single port and a range, unsorted", "61000-65535,8080\n", "8080,61000-65535" },
		{ "adjacent ranges merge", "100-199,200-299", "100-299" },
		{ "overlapping ranges merge", "100-250,200-299,150", "100-299" },
		{ "spaces around commas", " 1 , 3-4 \n", "1,3-4" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct xlb_portset s;
		char buf[128];

		print_message("%s\n", cases[i].desc);
		assert_int_equal(xlb_portset_parse(cases[i].in, &s), 0);
		assert_int_equal(xlb_portset_str(&s, buf, sizeof(buf)), strlen(cases[i].out));
		assert_string_equal(buf, cases[i].out);
	}
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = { "a", "1-", "-1", "5-4", "70000", "1,,2", "1;2", "1-2-3" };
	struct xlb_portset s = { .n = 1, .r = { { 7, 7 } } };
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("'%s'\n", bad[i]);
		assert_int_equal(xlb_portset_parse(bad[i], &s), -EINVAL);
		assert_int_equal(s.n, 1);		/* untouched */
		assert_int_equal(s.r[0].lo, 7);
	}
}

static void test_add_covers(void **state)
{
	struct xlb_portset s = { .n = 0 };
	char buf[64];
	(void)state;

	assert_false(xlb_portset_covers(&s, 30000, 32767));
	assert_int_equal(xlb_portset_add(&s, 30000, 31000), 0);
	assert_false(xlb_portset_covers(&s, 30000, 32767));
	assert_true(xlb_portset_covers(&s, 30500, 30600));
	assert_int_equal(xlb_portset_add(&s, 31001, 32767), 0);
	assert_true(xlb_portset_covers(&s, 30000, 32767));
	assert_int_equal(xlb_portset_add(&s, 65535, 65535), 0);
	xlb_portset_str(&s, buf, sizeof(buf));
	assert_string_equal(buf, "30000-32767,65535");
	assert_int_equal(xlb_portset_add(&s, 5, 4), -EINVAL);

	/* Full: a new disjoint range does not fit and changes nothing. */
	s.n = 0;
	for (uint16_t i = 0; i < XLB_PORTSET_MAX; i++)
		assert_int_equal(xlb_portset_add(&s, 10 + 10 * i, 10 + 10 * i), 0);
	assert_int_equal(xlb_portset_add(&s, 5000, 5001), -E2BIG);
	assert_int_equal(s.n, XLB_PORTSET_MAX);
	assert_int_equal(xlb_portset_add(&s, 11, 19), 0);	/* merges: fits */
	assert_int_equal(s.n, XLB_PORTSET_MAX - 1);

	/* Truncated print: the length it would have. */
	s.n = 0;
	xlb_portset_add(&s, 30000, 32767);
	assert_int_equal(xlb_portset_str(&s, buf, 4), strlen("30000-32767"));
	assert_string_equal(buf, "300");
}

static void test_range_parse(void **state)
{
	static const char *const bad[] = { "0-100", "32767-30000", "30000", "30000-70000",
					   "30000-", "-1", "a-b", "1-2x", "" };
	struct xlb_port_range r;
	(void)state;

	assert_int_equal(xlb_port_range_parse("30000-32767", &r), 0);
	assert_int_equal(r.lo, 30000);
	assert_int_equal(r.hi, 32767);
	assert_int_equal(xlb_port_range_parse("1-1", &r), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("'%s'\n", bad[i]);
		assert_int_equal(xlb_port_range_parse(bad[i], &r), -EINVAL);
	}
	assert_int_equal(xlb_port_range_parse(NULL, &r), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_print),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_add_covers),
		cmocka_unit_test(test_range_parse),
	};

	return cmocka_run_group_tests_name("portset", tests, NULL, NULL);
}
