// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "ipvs_link.h"

int ipvs_link_dummy_ensure(struct nlsock *rt, const char *name, int *ifindex,
			   char *err, size_t errlen)
{
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	struct nlattr *info;
	struct nlack a;
	char what[64];
	int ret, idx;

	idx = (int)if_nametoindex(name);
	if (!idx) {
		nlh = nlsock_req(rt, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
		ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
		ifi->ifi_family = AF_UNSPEC;
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
		info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
		mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "dummy");
		mnl_attr_nest_end(nlh, info);
		ret = nlsock_talk(rt, nlh, NULL, NULL, &a);
		if (ret && ret != -EEXIST) {
			snprintf(what, sizeof(what), "create dummy interface %s", name);
			return nlsock_fail(ret, &a, err, errlen, what);
		}
		idx = (int)if_nametoindex(name);
		if (!idx) {
			snprintf(what, sizeof(what), "create dummy interface %s", name);
			return nlsock_fail(-ENODEV, NULL, err, errlen, what);
		}
	}
	nlh = nlsock_req(rt, RTM_NEWLINK, 0);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = idx;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	ret = nlsock_talk(rt, nlh, NULL, NULL, &a);
	if (ret) {
		snprintf(what, sizeof(what), "set %s up", name);
		return nlsock_fail(ret, &a, err, errlen, what);
	}
	*ifindex = idx;
	return 0;
}

int ipvs_link_delete(struct nlsock *rt, const char *name, char *err, size_t errlen)
{
	int idx = (int)if_nametoindex(name);
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	struct nlack a;
	char what[64];
	int ret;

	if (!idx)
		return -ENODEV;
	nlh = nlsock_req(rt, RTM_DELLINK, 0);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = idx;
	ret = nlsock_talk(rt, nlh, NULL, NULL, &a);
	if (ret) {
		snprintf(what, sizeof(what), "delete interface %s", name);
		return nlsock_fail(ret, &a, err, errlen, what);
	}
	return 0;
}

static int addr_req(struct nlsock *rt, uint16_t type, uint16_t flags, int ifindex,
		    const struct xlb_ip *ip, struct nlack *a)
{
	struct nlmsghdr *nlh = nlsock_req(rt, type, flags);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	size_t len = ip->family == XLB_AF_INET6 ? 16 : 4;

	ifa->ifa_family = ip->family == XLB_AF_INET6 ? AF_INET6 : AF_INET;
	ifa->ifa_prefixlen = (unsigned char)(len * 8);
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned int)ifindex;
	mnl_attr_put(nlh, IFA_LOCAL, len, ip->addr.a8);
	mnl_attr_put(nlh, IFA_ADDRESS, len, ip->addr.a8);
	if (ip->family == XLB_AF_INET6)	/* no DAD for a service address */
		mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
	return nlsock_talk(rt, nlh, NULL, NULL, a);
}

int ipvs_link_addr_add(struct nlsock *rt, int ifindex, const struct xlb_ip *ip,
		       char *err, size_t errlen)
{
	char what[96], s[XLB_IP_STRLEN];
	struct nlack a;
	int ret = addr_req(rt, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, ip, &a);

	if (ret && ret != -EEXIST) {
		snprintf(what, sizeof(what), "add address %s to ifindex %d",
			 xlb_ip_str(ip, s, sizeof(s)), ifindex);
		return nlsock_fail(ret, &a, err, errlen, what);
	}
	return 0;
}

int ipvs_link_addr_del(struct nlsock *rt, int ifindex, const struct xlb_ip *ip,
		       char *err, size_t errlen)
{
	char what[96], s[XLB_IP_STRLEN];
	struct nlack a;
	int ret = addr_req(rt, RTM_DELADDR, 0, ifindex, ip, &a);

	if (ret && ret != -EADDRNOTAVAIL && ret != -ENOENT && ret != -ENODEV) {
		snprintf(what, sizeof(what), "delete address %s from ifindex %d",
			 xlb_ip_str(ip, s, sizeof(s)), ifindex);
		return nlsock_fail(ret, &a, err, errlen, what);
	}
	return 0;
}

struct addr_walk {
	int ifindex;
	int (*cb)(const struct xlb_ip *ip, void *arg);
	void *arg;
};

static int addr_msg(const struct nlmsghdr *nlh, void *arg)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct addr_walk *w = arg;
	const struct nlattr *attr, *local = NULL, *addr = NULL;
	const struct nlattr *use;
	struct xlb_ip ip = {};
	size_t len;

	if (nlh->nlmsg_type != RTM_NEWADDR || (int)ifa->ifa_index != w->ifindex)
		return 0;
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return 0;
	mnl_attr_for_each(attr, nlh, sizeof(*ifa)) {
		if (mnl_attr_get_type(attr) == IFA_LOCAL)
			local = attr;
		else if (mnl_attr_get_type(attr) == IFA_ADDRESS)
			addr = attr;
	}
	use = local ? local : addr;
	len = ifa->ifa_family == AF_INET6 ? 16 : 4;
	if (!use || mnl_attr_get_payload_len(use) < len)
		return 0;
	ip.family = ifa->ifa_family == AF_INET6 ? XLB_AF_INET6 : XLB_AF_INET;
	memcpy(ip.addr.a8, mnl_attr_get_payload(use), len);
	return w->cb(&ip, w->arg);
}

int ipvs_link_addr_list(struct nlsock *rt, int ifindex,
			int (*cb)(const struct xlb_ip *ip, void *arg), void *arg)
{
	struct addr_walk w = { .ifindex = ifindex, .cb = cb, .arg = arg };
	struct nlmsghdr *nlh = nlsock_req(rt, RTM_GETADDR, NLM_F_DUMP);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	struct nlack a;

	ifa->ifa_family = AF_UNSPEC;
	return nlsock_talk(rt, nlh, addr_msg, &w, &a);
}
