// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What the verifier says of the packet programs: the XDP program's stack
 * depth must leave room (IPv6 keys are coming: at most 384 of the 512
 * bytes), and how many instructions it walks for each program is
 * reported, so a change that blows either up shows in the test log before
 * it fails on an older kernel (Debian's 6.1 walks the XDP program's paths
 * about 1.7 times over). The tc programs on pod veths, which share the
 * parser and the rewrite with XDP (bpf/lib/ctx/), are reported too.
 */
#include "xlbtest.h"
#include "xlb.skel.h"
#include "xlb_tc_pod.skel.h"

#define STACK_BUDGET	384
#define MAX_PROGS	4

static char log_buf[MAX_PROGS][1 << 20];

#define ROUND32(x)	(((x) + 31) / 32 * 32)

/* The deepest a call from the main frame may go as Debian's 6.1 counts
 * it: each frame rounded up to 32 bytes (the host's kernel does not
 * round), main's plus its largest BPF function's (they call no other),
 * at most 512. The host passing is not enough: 368 + 136 loads here and
 * is 544 there. */
static int depth_61(const char *frames)
{
	int main_frame = atoi(frames), most = 0;

	for (const char *p = strchr(frames, '+'); p; p = strchr(p + 1, '+'))
		if (ROUND32(atoi(p + 1)) > most)
			most = ROUND32(atoi(p + 1));
	return ROUND32(main_frame) + most;
}

/* The verifier's last words on one program: the stack depth of its main
 * frame (then its BPF functions': "stack depth 376+104") and the
 * instructions processed. */
static void verdict(const char *name, const char *log, int *depth, int *insns)
{
	const char *p = strstr(log, "stack depth ");
	char frames[64] = "?";

	*depth = -1;
	*insns = -1;
	if (p) {
		p += strlen("stack depth ");
		*depth = atoi(p);
		sscanf(p, "%63[0-9+]", frames);
	}
	p = strstr(log, "processed ");
	if (p)
		*insns = atoi(p + strlen("processed "));
	print_message("  %s: stack depth %s bytes, %d instructions processed by the verifier\n",
		      name, frames, *insns);
	if (*depth < 0)
		fail_msg("%s: no stack depth in the verifier's log:\n%s", name, log);
	if (depth_61(frames) > 512)
		fail_msg("%s: stack %s is %d bytes as 6.1 counts it (frames rounded up to 32): over 512",
			 name, frames, depth_61(frames));
}

/* Load obj's programs with the verifier's statistics asked for; budget:
 * the most a main frame may take (0: no limit of ours). */
static void check_obj(struct bpf_object *obj, int budget)
{
	struct bpf_program *prog;
	struct bpf_map *m;
	int i = 0, depth, insns;

	bpf_object__for_each_map(m, obj) {
		bpf_map__set_pin_path(m, NULL);
		/* small maps: only the programs matter here */
		if (bpf_map__type(m) == BPF_MAP_TYPE_ARRAY ||
		    bpf_map__type(m) == BPF_MAP_TYPE_PERCPU_ARRAY)
			if (bpf_map__max_entries(m) > 1024 && strcmp(bpf_map__name(m), "port_map"))
				bpf_map__set_max_entries(m, 1024);
	}
	bpf_object__for_each_program(prog, obj) {
		assert_true(i < MAX_PROGS);
		log_buf[i][0] = 0;
		assert_int_equal(bpf_program__set_log_level(prog, 4), 0);	/* stats */
		assert_int_equal(bpf_program__set_log_buf(prog, log_buf[i], sizeof(log_buf[i])), 0);
		i++;
	}
	if (bpf_object__load(obj)) {
		i = 0;
		bpf_object__for_each_program(prog, obj)
			print_message("%s:\n%s\n", bpf_program__name(prog), log_buf[i++]);
		fail_msg("load failed");
	}
	i = 0;
	bpf_object__for_each_program(prog, obj) {
		verdict(bpf_program__name(prog), log_buf[i++], &depth, &insns);
		if (budget && depth > budget)
			fail_msg("%s: stack depth %d over the budget of %d bytes",
				 bpf_program__name(prog), depth, budget);
	}
}

static void test_xdp(void **state)
{
	struct xlb *skel = xlb__open();

	assert_non_null(skel);
	print_message("  XDP (budget of the main frame: %d of 512 bytes)\n", STACK_BUDGET);
	check_obj(skel->obj, STACK_BUDGET);
	xlb__destroy(skel);
}

static void test_tc(void **state)
{
	struct xlb_tc_pod *skel = xlb_tc_pod__open();

	assert_non_null(skel);
	check_obj(skel->obj, 0);
	xlb_tc_pod__destroy(skel);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xdp),
		cmocka_unit_test(test_tc),
	};

	xt_init();
	return cmocka_run_group_tests_name("verifier: stack and size", tests, NULL, NULL) ? 1 : 0;
}
