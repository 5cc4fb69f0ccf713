/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Shared by the benchmark harness (bench.bpf.c) and xdp_bench.c: the
 * packet the harness puts back before every iteration, and how it varies
 * the flow so that every iteration can be a new connection.
 *
 * Frames are plain Ethernet + IPv4 without options + TCP: the harness
 * edits fixed offsets (BENCH_IP_OFF, BENCH_L4_OFF).
 */
#ifndef XLB_BENCH_H
#define XLB_BENCH_H

#include <linux/types.h>

#define BENCH_PKT_MAX	128	/* bytes of the original frame kept in the map */
#define BENCH_IP_OFF	14	/* IPv4 header: right after Ethernet */
#define BENCH_L4_OFF	34	/* TCP header: after a 20-byte IPv4 header */
#define BENCH_MIN_LEN	(BENCH_L4_OFF + 20)
#define BENCH_COUNTERS	64	/* flow counters, one per case that varies flows */

/* The 16-bit words the harness may vary, in the order it visits them. */
enum bench_word {
	BENCH_W_SADDR_HI = 0,	/* IPv4 source address, bytes 0-1 */
	BENCH_W_SADDR_LO,	/* IPv4 source address, bytes 2-3 */
	BENCH_W_DADDR_LO,	/* IPv4 destination address, bytes 2-3 */
	BENCH_W_SPORT,		/* TCP source port */
	BENCH_W_MAX,
};

/* word ^= (n >> shift) & mask, in host order, where n is the case's flow
 * counter (0, 1, 2, ... one per iteration). mask 0 leaves the word as is. */
struct bench_vary {
	__u8 shift;		/* 0..63 */
	__u8 pad;
	__u16 mask;
};

/* bench_pkt[0]: the case being measured. */
struct bench_pkt {
	__u32 len;		/* frame length, BENCH_MIN_LEN..BENCH_PKT_MAX */
	__u32 ctr;		/* index into bench_ctr, < BENCH_COUNTERS */
	struct bench_vary vary[BENCH_W_MAX];
	__u8 data[BENCH_PKT_MAX];
};
_Static_assert(sizeof(struct bench_pkt) == 8 + 4 * BENCH_W_MAX + BENCH_PKT_MAX,
	       "bench_pkt size");

#endif /* XLB_BENCH_H */
