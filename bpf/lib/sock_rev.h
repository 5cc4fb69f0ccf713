/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The socket programs' maps shared with the UDP socket iterator
 * (bpf/sock_destroy.bpf.c): the reverse map, which tells their sockets
 * apart, and the counters, where it counts the sockets it aborts. */
#ifndef XLB_BPF_SOCK_REV_H
#define XLB_BPF_SOCK_REV_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xlb/abi.h>

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLB_SOCK_REV_ENTRIES);
	__type(key, struct xlb_sock_rev_key);
	__type(value, struct xlb_sock_rev_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sock_rev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_SOCK_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sock_stats SEC(".maps");

static __always_inline void sock_stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&sock_stats, &idx);

	if (v)
		*v += 1;
}

#endif /* XLB_BPF_SOCK_REV_H */
