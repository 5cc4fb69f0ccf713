/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef XLB_BPF_CLOCK_H
#define XLB_BPF_CLOCK_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Coarse clock, in seconds; no clocksource read on the packet path. */
static __always_inline __u32 xlb_now(void)
{
	return bpf_ktime_get_coarse_ns() / 1000000000ULL;
}

#endif /* XLB_BPF_CLOCK_H */
