/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The socket programs' reverse map, shared with the UDP socket iterator
 * (bpf/sock_destroy.bpf.c), which uses it to tell their sockets apart. */
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

#endif /* XLB_BPF_SOCK_REV_H */
