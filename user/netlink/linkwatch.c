// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/socket.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>

#include "log.h"
#include "linkwatch.h"
#include "netlink/nhfilter.h"

struct xlb_linkwatch {
	struct mnl_socket *nl;
	const struct xlb_linkwatch_ops *ops;
	void *arg;
	int dump_stage;		/* index in dumps[] of the one pending; past it: done */
	bool dump_busy;
	bool nh_stale;		/* seen in this dispatch: XDP's next hops are stale */
	uint32_t seq;
	struct xlb_nhfilter nh;
};

/* What each dump stage asks for, and in which family. */
static const struct {
	int type;
	int family;
} dumps[] = {
	{ RTM_GETLINK, AF_UNSPEC },
	{ RTM_GETADDR, AF_INET },
	{ RTM_GETNEIGH, AF_INET },
	{ RTM_GETRULE, AF_INET },
};

static int send_dump(struct xlb_linkwatch *w, int stage)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtgenmsg *rt;

	if (dumps[stage].type == RTM_GETRULE)
		xlb_nhfilter_rules_reset(&w->nh);	/* counted again */
	nlh->nlmsg_type = dumps[stage].type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++w->seq;
	rt = mnl_nlmsg_put_extra_header(nlh, sizeof(*rt));
	rt->rtgen_family = dumps[stage].family;
	if (mnl_socket_sendto(w->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	w->dump_busy = true;
	return 0;
}

static int link_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;

	if (mnl_attr_type_valid(a, IFLA_MAX) > 0)
		tb[mnl_attr_get_type(a)] = a;
	return MNL_CB_OK;
}

static int addr_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;

	if (mnl_attr_type_valid(a, IFA_MAX) > 0)
		tb[mnl_attr_get_type(a)] = a;
	return MNL_CB_OK;
}

static int msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct xlb_linkwatch *w = data;

	/* A dump's replies (to our port, our seq; an event carries those of
	 * the request that caused it, or 0) only fill the filter: what
	 * changed while events were lost is reported by the overrun. */
	if (xlb_nhfilter_msg(&w->nh, nlh) &&
	    !(w->dump_busy && nlh->nlmsg_seq == w->seq &&
	      nlh->nlmsg_pid == mnl_socket_get_portid(w->nl)))
		w->nh_stale = true;
	if (nlh->nlmsg_type == RTM_NEWLINK || nlh->nlmsg_type == RTM_DELLINK) {
		const struct nlattr *tb[IFLA_MAX + 1] = {};
		const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
		const char *name;

		mnl_attr_parse(nlh, sizeof(*ifm), link_attr_cb, tb);
		if (!tb[IFLA_IFNAME] || mnl_attr_validate(tb[IFLA_IFNAME], MNL_TYPE_STRING) < 0)
			return MNL_CB_OK;
		name = mnl_attr_get_str(tb[IFLA_IFNAME]);
		if (nlh->nlmsg_type == RTM_NEWLINK) {
			if (w->ops->link_up)
				w->ops->link_up(w->arg, name, ifm->ifi_index);
		} else if (w->ops->link_gone) {
			w->ops->link_gone(w->arg, name, ifm->ifi_index);
		}
	} else if (nlh->nlmsg_type == RTM_NEWADDR || nlh->nlmsg_type == RTM_DELADDR) {
		const struct nlattr *tb[IFA_MAX + 1] = {};
		const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
		const struct nlattr *a;
		struct xlb_ip ip = { .family = XLB_AF_INET };

		if (ifa->ifa_family != AF_INET)
			return MNL_CB_OK;
		mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, tb);
		a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
		if (!a || mnl_attr_get_payload_len(a) != 4)
			return MNL_CB_OK;
		memcpy(ip.addr.a8, mnl_attr_get_payload(a), 4);
		if (nlh->nlmsg_type == RTM_NEWADDR) {
			if (w->ops->addr_add)
				w->ops->addr_add(w->arg, &ip, (int)ifa->ifa_index);
		} else if (w->ops->addr_del) {
			w->ops->addr_del(w->arg, &ip, (int)ifa->ifa_index);
		}
	}
	return MNL_CB_OK;
}

int xlb_linkwatch_open(const struct xlb_linkwatch_ops *ops, void *arg,
		       struct xlb_linkwatch **out)
{
	struct xlb_linkwatch *w = calloc(1, sizeof(*w));
	int rcvbuf = 4 << 20, ret;

	if (!w)
		return -ENOMEM;
	w->ops = ops;
	w->arg = arg;
	w->seq = (uint32_t)time(NULL);
	xlb_nhfilter_init(&w->nh);
	w->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!w->nl) {
		ret = -errno;
		goto fail;
	}
	/* Neighbour events come often on a busy node: room for bursts, so
	 * that an overrun (re-read, then a flush) stays rare. Best effort. */
	setsockopt(mnl_socket_get_fd(w->nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	if (mnl_socket_bind(w->nl, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE |
			    RTMGRP_NEIGH | RTMGRP_IPV4_RULE, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto fail;
	}
	ret = send_dump(w, 0);
	if (ret)
		goto fail;
	*out = w;
	return 0;
fail:
	if (w->nl)
		mnl_socket_close(w->nl);
	xlb_nhfilter_fini(&w->nh);
	free(w);
	return ret;
}

int xlb_linkwatch_fd(const struct xlb_linkwatch *w)
{
	return mnl_socket_get_fd(w->nl);
}

/* One report per dispatch, however many changes came in it. */
static int dispatch_end(struct xlb_linkwatch *w, int ret)
{
	if (w->nh_stale && w->ops->nexthops_stale)
		w->ops->nexthops_stale(w->arg);
	w->nh_stale = false;
	return ret;
}

int xlb_linkwatch_dispatch(struct xlb_linkwatch *w)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(w->nl, buf, sizeof(buf));
		int ret;

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return dispatch_end(w, 0);
			if (errno == ENOBUFS) {
				/* Lost events: ask for everything again; a
				 * route change may be among them. */
				pr_warn("rtnetlink: overrun, re-reading links");
				w->dump_stage = 0;
				w->nh_stale = true;
				if (!w->dump_busy)
					send_dump(w, 0);
				continue;
			}
			return dispatch_end(w, -errno);
		}
		/* Multicast events carry seq 0; only check our dump replies. */
		ret = mnl_cb_run(buf, (size_t)n, 0, 0, msg_cb, w);
		if (ret == MNL_CB_STOP && w->dump_busy) {
			w->dump_busy = false;
			if (++w->dump_stage < (int)(sizeof(dumps) / sizeof(dumps[0])))
				send_dump(w, w->dump_stage);
		} else if (ret < 0 && errno != ESRCH) {
			pr_debug("rtnetlink: %s", strerror(errno));
		}
	}
}

void xlb_linkwatch_close(struct xlb_linkwatch *w)
{
	if (!w)
		return;
	mnl_socket_close(w->nl);
	xlb_nhfilter_fini(&w->nh);
	free(w);
}
