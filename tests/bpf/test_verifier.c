// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What the verifier says of the datapath: its stack depth must leave room
 * (IPv6 keys are coming: at most 384 of the 512 bytes), and how many
 * instructions it walks is reported, so a change that blows either up
 * shows in the test log before it fails on an older kernel.
 */
#include "xlbtest.h"
#include "xlb.skel.h"

#define STACK_BUDGET	384

static char log_buf[1 << 20];

static void test_stack(void **state)
{
	struct xlb *skel = xlb__open();
	struct bpf_map *m;
	const char *p;
	int depth = -1, insns = -1;

	assert_non_null(skel);
	bpf_object__for_each_map(m, skel->obj)
		bpf_map__set_pin_path(m, NULL);
	/* small maps: only the program matters here */
	bpf_map__set_max_entries(skel->maps.sel_map, 1024);
	bpf_map__set_max_entries(skel->maps.backend_map, 1024);
	bpf_map__set_max_entries(skel->maps.backend_stats, 1024);
	assert_int_equal(bpf_program__set_log_level(skel->progs.xlb_xdp, 4), 0);	/* stats */
	assert_int_equal(bpf_program__set_log_buf(skel->progs.xlb_xdp, log_buf, sizeof(log_buf)),
			 0);
	if (xlb__load(skel))
		fail_msg("load: %s", log_buf);
	p = strstr(log_buf, "stack depth ");
	if (p)
		depth = atoi(p + strlen("stack depth "));
	p = strstr(log_buf, "processed ");
	if (p)
		insns = atoi(p + strlen("processed "));
	xlb__destroy(skel);
	print_message("  xlb_xdp: stack depth %d bytes (budget %d of 512), %d instructions "
		      "processed by the verifier\n", depth, STACK_BUDGET, insns);
	if (depth < 0)
		fail_msg("no stack depth in the verifier's log:\n%s", log_buf);
	assert_true(depth <= STACK_BUDGET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stack),
	};

	xt_init();
	return cmocka_run_group_tests_name("verifier: stack and size", tests, NULL, NULL) ? 1 : 0;
}
