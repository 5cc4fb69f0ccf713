/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The namespace the redirect tests (test_redirect.c) and the XDP benchmark
 * (tools/bench/xdp_bench.c) run XDP in, so that bpf_fib_lookup sees only
 * this and nothing of the host leaks in. Call it in a network namespace of
 * the process's own (xt_init(), unshare):
 *
 *   client side:  cli0 02:00:00:00:00:c0  10.10.1.1/24  (peer cli1 ..:c1)
 *   backend side: be0  02:00:00:00:00:b0               (peer be1  ..:b1)
 *
 * with forwarding on; the caller's commands (be_cmds, n) give the backend
 * side its addresses, neighbours and routes. Fills the two ifindexes.
 * Returns 0, or -1 after printing which step failed.
 */
#ifndef XLB_TESTS_TWOLINKS_H
#define XLB_TESTS_TWOLINKS_H

#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>

#include "xlbtest.h"

static inline int xt_two_links(const char *const *be_cmds, size_t n, unsigned *if_cli,
			       unsigned *if_be)
{
	static const char *const cmds[] = {
		"ip link set lo up",
		"ip link add cli0 address 02:00:00:00:00:c0 type veth peer name cli1 address 02:00:00:00:00:c1",
		"ip link add be0 address 02:00:00:00:00:b0 type veth peer name be1 address 02:00:00:00:00:b1",
		"ip link set cli0 up",
		"ip link set cli1 up",
		"ip link set be0 up",
		"ip link set be1 up",
		"ip addr add 10.10.1.1/24 dev cli0",
	};
	if (xt_sh_all(cmds, sizeof(cmds) / sizeof(cmds[0])) || xt_sh_all(be_cmds, n) ||
	    xt_forwarding())
		return -1;
	*if_cli = if_nametoindex("cli0");
	*if_be = if_nametoindex("be0");
	if (!*if_cli || !*if_be) {
		fprintf(stderr, "cli0 or be0 missing\n");
		return -1;
	}
	return 0;
}

/* xt_two_links with the backend side of test_icmp and test_frag: be0
 * 10.20.0.1/16, neighbours 10.20.1.2 and 10.20.3.2 (both 02:..:20:02). */
static inline int xt_two_links_icmp(unsigned *if_cli, unsigned *if_be)
{
	static const char *const be_cmds[] = {
		"ip addr add 10.20.0.1/16 dev be0",
		"ip neigh replace 10.20.1.2 lladdr 02:00:00:00:20:02 dev be0 nud permanent",
		"ip neigh replace 10.20.3.2 lladdr 02:00:00:00:20:02 dev be0 nud permanent",
	};

	return xt_two_links(be_cmds, sizeof(be_cmds) / sizeof(be_cmds[0]), if_cli, if_be);
}

#endif
