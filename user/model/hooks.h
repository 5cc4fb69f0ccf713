/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The hooks of the node's and its pods' own traffic, as user space sees
 * them: the socket programs (one cgroup2 directory) and the pod veth
 * programs (tc on each pod veth's host end). Filled by a dataplane that
 * has them (the BPF one), shown by `xlbctl status` and the metrics.
 */
#ifndef XLB_MODEL_HOOKS_H
#define XLB_MODEL_HOOKS_H

#include <stdbool.h>
#include <stdint.h>

struct xlb_hooks_info {
	bool sock_loaded;		/* the kernel took the socket programs */
	char sock_cgroup[256];		/* attached to this cgroup; "" = not */
	char sock_why[256];		/* !sock_loaded: why */
	bool pod_loaded;		/* the kernel took the pod veth programs */
	const char *pod_mode;		/* "tcx", "tc (netlink)"; "" until the first attach */
	char pod_why[256];		/* !pod_loaded: why */
	uint32_t n_pod_ifaces;		/* pod veths attached */
};

#endif /* XLB_MODEL_HOOKS_H */
