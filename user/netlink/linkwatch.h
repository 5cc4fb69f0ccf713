/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Interface and address watcher over rtnetlink (libmnl): tells xlbd about
 * links that appear (new pod veths) and about the node's IPv4 addresses
 * (NodePort answers on them), and about the route, neighbour and link MTU
 * changes that make XDP's cached next hops stale (nhfilter.h). Non-blocking,
 * driven from xlbd's event loop.
 */
#ifndef XLB_LINKWATCH_H
#define XLB_LINKWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"

struct xlb_linkwatch;

struct xlb_linkwatch_ops {
	void (*link_up)(void *arg, const char *ifname, int ifindex);	/* new or renamed, up or not */
	void (*link_gone)(void *arg, const char *ifname, int ifindex);
	void (*addr_add)(void *arg, const struct xlb_ip *ip, int ifindex);
	void (*addr_del)(void *arg, const struct xlb_ip *ip, int ifindex);
	/* Cached next hops are stale (nhfilter.h), or events were lost: at
	 * most once per xlb_linkwatch_dispatch call, after its other calls. */
	void (*nexthops_stale)(void *arg);
};

/* Subscribes, then dumps the current links and addresses (reported through
 * the same callbacks on the first xlb_linkwatch_dispatch calls). */
int xlb_linkwatch_open(const struct xlb_linkwatch_ops *ops, void *arg,
		       struct xlb_linkwatch **out);
int xlb_linkwatch_fd(const struct xlb_linkwatch *w);
/* Read what is pending (non-blocking); 0 or negative errno. */
int xlb_linkwatch_dispatch(struct xlb_linkwatch *w);
void xlb_linkwatch_close(struct xlb_linkwatch *w);

#endif /* XLB_LINKWATCH_H */
