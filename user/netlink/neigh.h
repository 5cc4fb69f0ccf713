/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Next hops kept resolved for the XDP datapath. bpf_fib_lookup answers
 * NO_NEIGH for a next hop without a valid neighbour entry, and nothing
 * the datapath sends out itself makes the kernel resolve one: a flow that
 * must not be handed to the stack (source-NATed to a backend on another
 * node) would be dropped until something else did. So the next hop
 * towards such a backend gets a managed neighbour entry (NTF_EXT_MANAGED,
 * Linux 5.16, as `ip neigh add ADDR dev DEV managed`): the kernel resolves
 * it at once and keeps it reachable. Entries made by hand (permanent,
 * noarp) and managed ones are left as they are; any other entry becomes
 * managed, keeping its address and state.
 */
#ifndef XLB_NETLINK_NEIGH_H
#define XLB_NETLINK_NEIGH_H

#include <stddef.h>

#include "model/model.h"
#include "netlink/nlsock.h"

/* The next hop towards dst (its gateway, or dst itself on a connected
 * route) kept resolved. *nh (may be NULL) gets it, 0.0.0.0 when the route
 * needs none (local, blackhole, unreachable). IPv4 only. 0 or a negative
 * errno, err naming the step. */
int xlb_nl_nexthop_keep(struct nlsock *s, const struct xlb_ip *dst, struct xlb_ip *nh,
			char *err, size_t errlen);

#endif /* XLB_NETLINK_NEIGH_H */
