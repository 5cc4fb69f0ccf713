/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Sequence table for round robin and weighted round robin: the datapath
 * takes slot (counter++ % len) for each new flow. Weighted order follows
 * smooth weighted round robin (as nginx), so heavy backends are interleaved
 * rather than taken in bursts.
 */
#ifndef XLB_SEQTABLE_H
#define XLB_SEQTABLE_H

#include <stddef.h>
#include <stdint.h>

/* weights[i] > 0. The table length is sum(weights)/gcd(weights); if that
 * exceeds max, weights are scaled down proportionally (each at least 1)
 * until it fits. table[k] is an index into weights[]. *len gets the
 * length. 0, or -EINVAL (n == 0, a zero weight, max < n). */
int xlb_seq_build(const uint32_t *weights, size_t n, uint32_t *table,
		  size_t max, size_t *len);

#endif /* XLB_SEQTABLE_H */
