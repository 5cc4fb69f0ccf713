/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef XLB_BPF_CLOCK_H
#define XLB_BPF_CLOCK_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define XLB_NSEC_PER_SEC 1000000000ULL
#define XLB_CLOCK_MONOTONIC 1

/* The datapath's clock, in seconds: a BPF timer writes the coarse
 * monotonic time into a map every half second, so a packet reads it from
 * memory instead of calling a helper (about 15 ns a packet on the
 * established path). The first packet after load starts the timer. */
struct xlb_clock {
	struct bpf_timer timer;
	__u32 now;		/* seconds, CLOCK_MONOTONIC (as ct4's last_seen) */
	__u32 armed;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_clock);
} xlb_clock SEC(".maps");

static int xlb_clock_tick(void *map, __u32 *key, struct xlb_clock *c)
{
	c->now = bpf_ktime_get_coarse_ns() / XLB_NSEC_PER_SEC;
	bpf_timer_start(&c->timer, XLB_NSEC_PER_SEC / 2, 0);
	return 0;
}

static __always_inline __u32 xlb_now(void)
{
	__u32 zero = 0;
	struct xlb_clock *c = bpf_map_lookup_elem(&xlb_clock, &zero);

	if (!c)
		return bpf_ktime_get_coarse_ns() / XLB_NSEC_PER_SEC;
	if (c->armed)
		return c->now;
	c->now = bpf_ktime_get_coarse_ns() / XLB_NSEC_PER_SEC;
	c->armed = 1;
	if (!bpf_timer_init(&c->timer, &xlb_clock, XLB_CLOCK_MONOTONIC) &&
	    !bpf_timer_set_callback(&c->timer, xlb_clock_tick))
		bpf_timer_start(&c->timer, XLB_NSEC_PER_SEC / 2, 0);
	return c->now;
}

#endif /* XLB_BPF_CLOCK_H */
