/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Which rtnetlink notifications make XDP's cached next hops (be_nh: egress
 * interface, MACs, the way out's MTU, all from bpf_fib_lookup) stale:
 * - a route added, changed or removed in table main or default, or in a
 *   table an IPv4 rule sends lookups to (IPv4, not a cloned or cache
 *   route: those are the kernel's own, learnt path MTUs included, and
 *   bpf_fib_lookup reads them anyway);
 * - an IPv4 rule added or removed (bpf_fib_lookup follows the rules);
 * - a neighbour whose link-layer address differs from the one last seen
 *   for it (also across a delete: a next hop flushed and learnt again);
 *   state changes with the same address (probes, managed entries kept
 *   reachable, xlbd's own) are not;
 * - a link whose MTU changed.
 * The local table (an address's own routes) and tables no rule names are
 * not. The filter keeps what it saw (neighbour addresses, link MTUs, the
 * tables rules name): the initial dumps fill it.
 */
#ifndef XLB_NETLINK_NHFILTER_H
#define XLB_NETLINK_NHFILTER_H

#include <stdbool.h>

#include "util/htab.h"

struct nlmsghdr;

struct xlb_nhfilter {
	struct xlb_htab neigh;	/* (ifindex, IPv4) -> last link-layer address */
	struct xlb_htab links;	/* ifindex -> MTU */
	struct xlb_htab tables;	/* table id -> how many IPv4 rules name it */
};

void xlb_nhfilter_init(struct xlb_nhfilter *f);
void xlb_nhfilter_fini(struct xlb_nhfilter *f);
/* Forget the tables rules name: a dump of the rules follows. */
void xlb_nhfilter_rules_reset(struct xlb_nhfilter *f);
/* Learn from one message; true when it makes cached next hops stale. */
bool xlb_nhfilter_msg(struct xlb_nhfilter *f, const struct nlmsghdr *nlh);

#endif /* XLB_NETLINK_NHFILTER_H */
