/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Allocator of contiguous ranges in [0, size): the selection tables' slots.
 * Freed ranges sit in quarantine for a grace period before reuse, so a
 * packet that read the old table pointer just before the switch still reads
 * the old, intact table (make-before-break without RCU in user space).
 */
#ifndef XLB_RANGES_H
#define XLB_RANGES_H

#include <stdint.h>
#include <stddef.h>

struct xlb_range {
	uint32_t start;
	uint32_t len;
	uint64_t freed_ns;	/* quarantine: when it was freed */
};

struct xlb_ranges {
	uint32_t size;
	uint64_t grace_ns;
	struct xlb_range *free;		/* sorted by start, coalesced */
	size_t n_free, cap_free;
	struct xlb_range *quar;		/* in order of freeing */
	size_t n_quar, cap_quar;
};

int xlb_ranges_init(struct xlb_ranges *r, uint32_t size, uint64_t grace_ns);
void xlb_ranges_fini(struct xlb_ranges *r);
/* First fit. now_ns releases quarantined ranges older than the grace.
 * 0 and *start, or -ENOSPC. len 0 always succeeds with start 0. */
int xlb_ranges_alloc(struct xlb_ranges *r, uint32_t len, uint64_t now_ns, uint32_t *start);
/* Mark [start, start+len) used (adoption of existing tables). -EEXIST if
 * any of it is not free. */
int xlb_ranges_reserve(struct xlb_ranges *r, uint32_t start, uint32_t len);
/* Put a range into quarantine. */
int xlb_ranges_free(struct xlb_ranges *r, uint32_t start, uint32_t len, uint64_t now_ns);
/* Total free slots (excluding quarantine). */
uint64_t xlb_ranges_free_total(const struct xlb_ranges *r);

#endif /* XLB_RANGES_H */
