// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>

#include "netlink/nhfilter.h"

/* Neighbours deleted are remembered (their address may come back with
 * another MAC); past this many entries those are forgotten. */
#define NEIGH_KEEP 16384

struct neigh_ent {
	struct {
		uint32_t ifindex;
		uint8_t addr[4];
	} key;
	uint8_t lladdr[6];
	bool gone;
};

struct link_ent {
	uint32_t ifindex;
	uint32_t mtu;
};

struct table_ent {
	uint32_t table;
	uint32_t rules;
};

void xlb_nhfilter_init(struct xlb_nhfilter *f)
{
	xlb_htab_init(&f->neigh);
	xlb_htab_init(&f->links);
	xlb_htab_init(&f->tables);
}

static void free_all(struct xlb_htab *h)
{
	size_t pos = 0;
	void *v;

	while ((v = xlb_htab_next(h, &pos)))
		free(v);
	xlb_htab_fini(h);
}

void xlb_nhfilter_fini(struct xlb_nhfilter *f)
{
	free_all(&f->neigh);
	free_all(&f->links);
	free_all(&f->tables);
}

void xlb_nhfilter_rules_reset(struct xlb_nhfilter *f)
{
	free_all(&f->tables);
	xlb_htab_init(&f->tables);
}

static int attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(a);

	/* every table below is sized for the largest *_MAX used */
	if (type <= IFLA_MAX)
		tb[type] = a;
	return MNL_CB_OK;
}

#define TB_MAX IFLA_MAX
_Static_assert(RTA_MAX <= TB_MAX && NDA_MAX <= TB_MAX && FRA_MAX <= TB_MAX,
	       "attribute table size");

/* The table of a route or rule: the attribute when there is one (tables
 * beyond 255 are only there), else the header's byte. */
static uint32_t table_of(const struct nlattr *a, uint8_t hdr)
{
	return a && mnl_attr_get_payload_len(a) == 4 ? mnl_attr_get_u32(a) : hdr;
}

static bool route_msg(const struct xlb_nhfilter *f, const struct nlmsghdr *nlh)
{
	const struct nlattr *tb[TB_MAX + 1] = {};
	const struct rtmsg *rt = mnl_nlmsg_get_payload(nlh);
	uint32_t table;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*rt) || rt->rtm_family != AF_INET ||
	    rt->rtm_flags & RTM_F_CLONED)
		return false;
	mnl_attr_parse(nlh, sizeof(*rt), attr_cb, tb);
	table = table_of(tb[RTA_TABLE], rt->rtm_table);
	if (table == RT_TABLE_MAIN || table == RT_TABLE_DEFAULT)
		return true;
	return table != RT_TABLE_LOCAL && xlb_htab_get(&f->tables, &table, sizeof(table));
}

/* A rule that sends lookups to a table: counted for that table. Any IPv4
 * rule added or removed changes what bpf_fib_lookup finds. */
static bool rule_msg(struct xlb_nhfilter *f, const struct nlmsghdr *nlh)
{
	const struct nlattr *tb[TB_MAX + 1] = {};
	const struct fib_rule_hdr *fr = mnl_nlmsg_get_payload(nlh);
	struct table_ent *e;
	uint32_t table;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*fr) || fr->family != AF_INET)
		return false;
	mnl_attr_parse(nlh, sizeof(*fr), attr_cb, tb);
	table = table_of(tb[FRA_TABLE], fr->table);
	if (fr->action != FR_ACT_TO_TBL || table == RT_TABLE_UNSPEC)
		return true;
	e = xlb_htab_get(&f->tables, &table, sizeof(table));
	if (nlh->nlmsg_type == RTM_DELRULE) {
		if (e && !--e->rules) {
			xlb_htab_del(&f->tables, &table, sizeof(table));
			free(e);
		}
		return true;
	}
	if (e) {
		e->rules++;
		return true;
	}
	e = malloc(sizeof(*e));
	if (!e)
		return true;
	e->table = table;
	e->rules = 1;
	if (xlb_htab_put(&f->tables, &e->table, sizeof(e->table), e))
		free(e);
	return true;
}

static void neigh_trim(struct xlb_nhfilter *f)
{
	size_t pos = 0;
	struct neigh_ent *e;

	if (f->neigh.used < NEIGH_KEEP)
		return;
	while ((e = xlb_htab_next(&f->neigh, &pos))) {
		if (e->gone) {
			xlb_htab_del(&f->neigh, &e->key, sizeof(e->key));
			free(e);
		}
	}
}

static bool neigh_msg(struct xlb_nhfilter *f, const struct nlmsghdr *nlh)
{
	const struct nlattr *tb[TB_MAX + 1] = {};
	const struct ndmsg *nd = mnl_nlmsg_get_payload(nlh);
	struct neigh_ent k = {}, *e;
	bool stale;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*nd) || nd->ndm_family != AF_INET)
		return false;
	mnl_attr_parse(nlh, sizeof(*nd), attr_cb, tb);
	if (!tb[NDA_DST] || mnl_attr_get_payload_len(tb[NDA_DST]) != 4)
		return false;
	k.key.ifindex = (uint32_t)nd->ndm_ifindex;
	memcpy(k.key.addr, mnl_attr_get_payload(tb[NDA_DST]), 4);
	e = xlb_htab_get(&f->neigh, &k.key, sizeof(k.key));
	if (nlh->nlmsg_type == RTM_DELNEIGH) {
		if (e)
			e->gone = true;
		return false;
	}
	/* No address (incomplete, failed): bpf_fib_lookup gives no next hop
	 * for it either; the last one known is kept to compare with. */
	if (!tb[NDA_LLADDR] || mnl_attr_get_payload_len(tb[NDA_LLADDR]) != 6)
		return false;
	if (!e) {
		neigh_trim(f);
		e = malloc(sizeof(*e));
		if (!e)
			return true;	/* cannot remember: be safe */
		*e = k;
		memcpy(e->lladdr, mnl_attr_get_payload(tb[NDA_LLADDR]), 6);
		if (xlb_htab_put(&f->neigh, &e->key, sizeof(e->key), e)) {
			free(e);
			return true;
		}
		return false;	/* new: no cached next hop can have used it */
	}
	stale = memcmp(e->lladdr, mnl_attr_get_payload(tb[NDA_LLADDR]), 6) != 0;
	memcpy(e->lladdr, mnl_attr_get_payload(tb[NDA_LLADDR]), 6);
	e->gone = false;
	return stale;
}

static bool link_msg(struct xlb_nhfilter *f, const struct nlmsghdr *nlh)
{
	const struct nlattr *tb[TB_MAX + 1] = {};
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	uint32_t ifindex, mtu;
	struct link_ent *e;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifm))
		return false;
	ifindex = (uint32_t)ifm->ifi_index;
	e = xlb_htab_get(&f->links, &ifindex, sizeof(ifindex));
	if (nlh->nlmsg_type == RTM_DELLINK) {
		/* its routes go, and say so */
		if (e) {
			xlb_htab_del(&f->links, &ifindex, sizeof(ifindex));
			free(e);
		}
		return false;
	}
	mnl_attr_parse(nlh, sizeof(*ifm), attr_cb, tb);
	if (!tb[IFLA_MTU] || mnl_attr_get_payload_len(tb[IFLA_MTU]) != 4)
		return false;
	mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
	if (e) {
		bool stale = e->mtu != mtu;

		e->mtu = mtu;
		return stale;
	}
	e = malloc(sizeof(*e));
	if (!e)
		return true;
	e->ifindex = ifindex;
	e->mtu = mtu;
	if (xlb_htab_put(&f->links, &e->ifindex, sizeof(e->ifindex), e)) {
		free(e);
		return true;
	}
	return false;
}

bool xlb_nhfilter_msg(struct xlb_nhfilter *f, const struct nlmsghdr *nlh)
{
	switch (nlh->nlmsg_type) {
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		return route_msg(f, nlh);
	case RTM_NEWRULE:
	case RTM_DELRULE:
		return rule_msg(f, nlh);
	case RTM_NEWNEIGH:
	case RTM_DELNEIGH:
		return neigh_msg(f, nlh);
	case RTM_NEWLINK:
	case RTM_DELLINK:
		return link_msg(f, nlh);
	default:
		return false;
	}
}
