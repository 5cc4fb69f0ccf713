// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Next hops kept resolved (neigh.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include "netlink/neigh.h"

struct route {
	uint32_t gw;		/* network order; 0: none */
	uint32_t oif;
	uint8_t type;
	bool found;
};

static int route_attr(const struct nlattr *a, void *arg)
{
	struct route *r = arg;

	if (mnl_attr_get_type(a) == RTA_GATEWAY && mnl_attr_get_payload_len(a) == 4)
		r->gw = mnl_attr_get_u32(a);
	else if (mnl_attr_get_type(a) == RTA_OIF && mnl_attr_get_payload_len(a) == 4)
		r->oif = mnl_attr_get_u32(a);
	return MNL_CB_OK;
}

static int route_msg(const struct nlmsghdr *nlh, void *arg)
{
	struct route *r = arg;
	const struct rtmsg *rt = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != RTM_NEWROUTE)
		return 0;
	r->type = rt->rtm_type;
	r->found = true;
	mnl_attr_parse(nlh, sizeof(*rt), route_attr, r);
	return 0;
}

struct neigh {
	uint16_t state;
	uint32_t ext_flags;
	bool found;
};

static int neigh_attr(const struct nlattr *a, void *arg)
{
	struct neigh *n = arg;

	if (mnl_attr_get_type(a) == NDA_FLAGS_EXT && mnl_attr_get_payload_len(a) == 4)
		n->ext_flags = mnl_attr_get_u32(a);
	return MNL_CB_OK;
}

static int neigh_msg(const struct nlmsghdr *nlh, void *arg)
{
	struct neigh *n = arg;
	const struct ndmsg *nd = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != RTM_NEWNEIGH)
		return 0;
	n->state = nd->ndm_state;
	n->found = true;
	mnl_attr_parse(nlh, sizeof(*nd), neigh_attr, n);
	return 0;
}

static struct ndmsg *neigh_req(struct nlsock *s, uint16_t type, uint16_t flags, uint32_t addr,
			       uint32_t ifindex, struct nlmsghdr **out)
{
	struct nlmsghdr *nlh = nlsock_req(s, type, flags);
	struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));

	nd->ndm_family = AF_INET;
	nd->ndm_ifindex = (int)ifindex;
	nd->ndm_state = NUD_NONE;
	mnl_attr_put_u32(nlh, NDA_DST, addr);
	*out = nlh;
	return nd;
}

int xlb_nl_nexthop_keep(struct nlsock *s, const struct xlb_ip *dst, struct xlb_ip *nh,
			char *err, size_t errlen)
{
	struct nlmsghdr *nlh;
	struct rtmsg *rt;
	struct route r = {};
	struct neigh n = {};
	struct nlack a;
	char what[96], addr[XLB_IP_STRLEN];
	uint32_t hop;
	int ret;

	if (nh)
		*nh = (struct xlb_ip){ .family = XLB_AF_INET };
	if (dst->family != XLB_AF_INET)
		return 0;
	xlb_ip_str(dst, addr, sizeof(addr));
	nlh = nlsock_req(s, RTM_GETROUTE, 0);
	rt = mnl_nlmsg_put_extra_header(nlh, sizeof(*rt));
	rt->rtm_family = AF_INET;
	rt->rtm_dst_len = 32;
	mnl_attr_put_u32(nlh, RTA_DST, dst->addr.a32[0]);
	ret = nlsock_talk(s, nlh, route_msg, &r, &a);
	if (ret == -ENETUNREACH || ret == -EHOSTUNREACH || ret == -EINVAL)
		return 0;	/* no route: nothing to keep (yet) */
	snprintf(what, sizeof(what), "route to %s", addr);
	if (ret)
		return nlsock_fail(ret, &a, err, errlen, what);
	if (!r.found || r.type != RTN_UNICAST || !r.oif)
		return 0;
	hop = r.gw ? r.gw : dst->addr.a32[0];
	if (nh)
		nh->addr.a32[0] = hop;

	neigh_req(s, RTM_GETNEIGH, 0, hop, r.oif, &nlh);
	ret = nlsock_talk(s, nlh, neigh_msg, &n, &a);
	if (ret && ret != -ENOENT) {
		snprintf(what, sizeof(what), "read the neighbour entry of the next hop to %s", addr);
		return nlsock_fail(ret, &a, err, errlen, what);
	}
	if (n.found && ((n.state & (NUD_PERMANENT | NUD_NOARP)) ||
			(n.ext_flags & NTF_EXT_MANAGED)))
		return 0;
	/* Create it, or make the one there managed: REPLACE keeps its
	 * address and state. */
	neigh_req(s, RTM_NEWNEIGH, NLM_F_CREATE | (n.found ? NLM_F_REPLACE : NLM_F_EXCL), hop,
		  r.oif, &nlh);
	mnl_attr_put_u32(nlh, NDA_FLAGS_EXT, NTF_EXT_MANAGED);
	ret = nlsock_talk(s, nlh, NULL, NULL, &a);
	if (ret == -EEXIST)
		return 0;	/* made meanwhile */
	snprintf(what, sizeof(what), "managed neighbour entry for the next hop to %s", addr);
	return ret ? nlsock_fail(ret, &a, err, errlen, what) : 0;
}
