/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * rtnetlink (libmnl) for the IPVS dataplane: the dummy interface that holds
 * the service addresses, and its addresses. 0 or a negative errno; err
 * names the operation and the object.
 */
#ifndef XLB_IPVS_LINK_H
#define XLB_IPVS_LINK_H

#include <stddef.h>
#include "model/model.h"
#include "netlink/nlsock.h"

/* Create a dummy interface NAME (if missing) and bring it up; *ifindex. */
int ipvs_link_dummy_ensure(struct nlsock *rt, const char *name, int *ifindex,
			   char *err, size_t errlen);
/* Delete interface NAME; -ENODEV when there is none. */
int ipvs_link_delete(struct nlsock *rt, const char *name, char *err, size_t errlen);
/* Host addresses (/32, /128). Adding one present or deleting one absent
 * is not an error. */
int ipvs_link_addr_add(struct nlsock *rt, int ifindex, const struct xlb_ip *ip,
		       char *err, size_t errlen);
int ipvs_link_addr_del(struct nlsock *rt, int ifindex, const struct xlb_ip *ip,
		       char *err, size_t errlen);
/* Every IPv4 and IPv6 address of ifindex. */
int ipvs_link_addr_list(struct nlsock *rt, int ifindex,
			int (*cb)(const struct xlb_ip *ip, void *arg), void *arg);

#endif /* XLB_IPVS_LINK_H */
