// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Generic netlink "IPVS" with libmnl: requests are built with libmnl's
 * attribute helpers; the exchange (with extended acks) is nlsock.c's.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "ipvs_nl.h"
#include "netlink/nlsock.h"

struct ipvs_nl {
	struct nlsock nl;
	uint16_t family;	/* the genl id of "IPVS" */
};

static int to_af(uint8_t xlb_family)
{
	return xlb_family == XLB_AF_INET6 ? AF_INET6 : AF_INET;
}

const char *ipvs_addr_port_str(const struct xlb_ip *ip, uint16_t port, char *buf, size_t len)
{
	return xlb_ip_port_str(ip, port, buf, len);
}

const char *ipvs_service_str(const struct ipvs_service *s, char *buf, size_t len)
{
	char ap[XLB_IP_STRLEN + 8];
	const char *p = s->proto == IPPROTO_TCP ? "TCP" : s->proto == IPPROTO_UDP ? "UDP" :
			s->proto == IPPROTO_SCTP ? "SCTP" : "proto?";

	if (s->fwmark && !s->proto) {
		snprintf(buf, len, "FWM %u", s->fwmark);
		return buf;
	}
	snprintf(buf, len, "%s %s", p, ipvs_addr_port_str(&s->addr, s->port, ap, sizeof(ap)));
	return buf;
}

static struct nlmsghdr *genl_req(struct nlsock *s, uint16_t type, uint8_t cmd, uint16_t flags,
				 uint8_t version)
{
	struct nlmsghdr *nlh = nlsock_req(s, type, flags);
	struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));

	g->cmd = cmd;
	g->version = version;
	return nlh;
}

/* ---- family resolution ----------------------------------------------- */

static int family_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *attr;

	mnl_attr_for_each(attr, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_ID &&
		    mnl_attr_validate(attr, MNL_TYPE_U16) == 0)
			*(uint16_t *)arg = mnl_attr_get_u16(attr);
	}
	return 0;
}

int ipvs_nl_open(struct ipvs_nl **out, char *err, size_t errlen)
{
	struct ipvs_nl *h = calloc(1, sizeof(*h));
	struct nlmsghdr *nlh;
	struct nlack a;
	int ret;

	if (!h)
		return -ENOMEM;
	ret = nlsock_open(&h->nl, NETLINK_GENERIC);
	if (ret) {
		free(h);
		return nlsock_fail(ret, NULL, err, errlen, "open generic netlink socket");
	}
	nlh = genl_req(&h->nl, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0, 1);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, IPVS_GENL_NAME);
	ret = nlsock_talk(&h->nl, nlh, family_cb, &h->family, &a);
	if (ret == -ENOENT || (!ret && !h->family)) {
		ret = -ENOENT;
		if (err)
			snprintf(err, errlen, "IPVS not available: no generic netlink family \"%s\" "
				 "in this kernel (ip_vs module not loaded, or not built)",
				 IPVS_GENL_NAME);
		goto out;
	}
	if (ret) {
		nlsock_fail(ret, &a, err, errlen, "resolve generic netlink family " IPVS_GENL_NAME);
		goto out;
	}
	*out = h;
	return 0;
out:
	ipvs_nl_close(h);
	return ret;
}

void ipvs_nl_close(struct ipvs_nl *h)
{
	if (!h)
		return;
	nlsock_close(&h->nl);
	free(h);
}

/* ---- requests -------------------------------------------------------- */

static void put_addr(struct nlmsghdr *nlh, uint16_t type, const struct xlb_ip *ip)
{
	mnl_attr_put(nlh, type, ip->family == XLB_AF_INET6 ? 16 : 4, ip->addr.a8);
}

static void put_service(struct nlmsghdr *nlh, const struct ipvs_service *s, bool full)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, IPVS_CMD_ATTR_SERVICE);

	mnl_attr_put_u16(nlh, IPVS_SVC_ATTR_AF, (uint16_t)to_af(s->addr.family));
	mnl_attr_put_u16(nlh, IPVS_SVC_ATTR_PROTOCOL, s->proto);
	put_addr(nlh, IPVS_SVC_ATTR_ADDR, &s->addr);
	mnl_attr_put_u16(nlh, IPVS_SVC_ATTR_PORT, htons(s->port));
	if (full) {
		struct ip_vs_flags f = { .flags = s->flags, .mask = ~0u };

		mnl_attr_put_strz(nlh, IPVS_SVC_ATTR_SCHED_NAME, s->sched);
		mnl_attr_put(nlh, IPVS_SVC_ATTR_FLAGS, sizeof(f), &f);
		mnl_attr_put_u32(nlh, IPVS_SVC_ATTR_TIMEOUT, s->timeout);
		mnl_attr_put_u32(nlh, IPVS_SVC_ATTR_NETMASK, s->netmask);
	}
	mnl_attr_nest_end(nlh, nest);
}

static void put_dest(struct nlmsghdr *nlh, const struct ipvs_dest *d, bool full)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, IPVS_CMD_ATTR_DEST);

	put_addr(nlh, IPVS_DEST_ATTR_ADDR, &d->addr);
	mnl_attr_put_u16(nlh, IPVS_DEST_ATTR_PORT, htons(d->port));
	mnl_attr_put_u16(nlh, IPVS_DEST_ATTR_ADDR_FAMILY, (uint16_t)to_af(d->addr.family));
	if (full) {
		mnl_attr_put_u32(nlh, IPVS_DEST_ATTR_FWD_METHOD, d->fwd & IP_VS_CONN_F_FWD_MASK);
		mnl_attr_put_u32(nlh, IPVS_DEST_ATTR_WEIGHT, (uint32_t)d->weight);
		mnl_attr_put_u32(nlh, IPVS_DEST_ATTR_U_THRESH, d->u_thresh);
		mnl_attr_put_u32(nlh, IPVS_DEST_ATTR_L_THRESH, d->l_thresh);
	}
	mnl_attr_nest_end(nlh, nest);
}

static int svc_cmd(struct ipvs_nl *h, uint8_t cmd, const struct ipvs_service *s, const char *verb,
		   char *err, size_t errlen)
{
	struct nlmsghdr *nlh = genl_req(&h->nl, h->family, cmd, 0, IPVS_GENL_VERSION);
	char what[96], sv[64];
	struct nlack a;
	int ret;

	put_service(nlh, s, cmd != IPVS_CMD_DEL_SERVICE);
	ret = nlsock_talk(&h->nl, nlh, NULL, NULL, &a);
	if (ret) {
		snprintf(what, sizeof(what), "%s service %s", verb, ipvs_service_str(s, sv, sizeof(sv)));
		return nlsock_fail(ret, &a, err, errlen, what);
	}
	return 0;
}

int ipvs_nl_add_service(struct ipvs_nl *h, const struct ipvs_service *s, char *err, size_t errlen)
{
	return svc_cmd(h, IPVS_CMD_NEW_SERVICE, s, "add", err, errlen);
}

int ipvs_nl_edit_service(struct ipvs_nl *h, const struct ipvs_service *s, char *err, size_t errlen)
{
	return svc_cmd(h, IPVS_CMD_SET_SERVICE, s, "edit", err, errlen);
}

int ipvs_nl_del_service(struct ipvs_nl *h, const struct ipvs_service *s, char *err, size_t errlen)
{
	return svc_cmd(h, IPVS_CMD_DEL_SERVICE, s, "delete", err, errlen);
}

static int dest_cmd(struct ipvs_nl *h, uint8_t cmd, const struct ipvs_service *s,
		    const struct ipvs_dest *d, const char *verb, const char *prep,
		    char *err, size_t errlen)
{
	struct nlmsghdr *nlh = genl_req(&h->nl, h->family, cmd, 0, IPVS_GENL_VERSION);
	char what[160], sv[64], dv[64];
	struct nlack a;
	int ret;

	put_service(nlh, s, false);
	put_dest(nlh, d, cmd != IPVS_CMD_DEL_DEST);
	ret = nlsock_talk(&h->nl, nlh, NULL, NULL, &a);
	if (ret) {
		snprintf(what, sizeof(what), "%s destination %s %s %s", verb,
			 ipvs_addr_port_str(&d->addr, d->port, dv, sizeof(dv)), prep,
			 ipvs_service_str(s, sv, sizeof(sv)));
		return nlsock_fail(ret, &a, err, errlen, what);
	}
	return 0;
}

int ipvs_nl_add_dest(struct ipvs_nl *h, const struct ipvs_service *s, const struct ipvs_dest *d,
		     char *err, size_t errlen)
{
	return dest_cmd(h, IPVS_CMD_NEW_DEST, s, d, "add", "to", err, errlen);
}

int ipvs_nl_edit_dest(struct ipvs_nl *h, const struct ipvs_service *s, const struct ipvs_dest *d,
		      char *err, size_t errlen)
{
	return dest_cmd(h, IPVS_CMD_SET_DEST, s, d, "edit", "of", err, errlen);
}

int ipvs_nl_del_dest(struct ipvs_nl *h, const struct ipvs_service *s, const struct ipvs_dest *d,
		     char *err, size_t errlen)
{
	return dest_cmd(h, IPVS_CMD_DEL_DEST, s, d, "delete", "from", err, errlen);
}

/* ---- replies --------------------------------------------------------- */

struct tb {
	const struct nlattr *a[32];
	unsigned int max;
};

static int tb_cb(const struct nlattr *attr, void *data)
{
	struct tb *t = data;
	unsigned int type = mnl_attr_get_type(attr);

	if (type <= t->max && type < 32)
		t->a[type] = attr;
	return MNL_CB_OK;
}

static int parse_nested(const struct nlattr *nest, struct tb *t, unsigned int max)
{
	memset(t, 0, sizeof(*t));
	t->max = max;
	return mnl_attr_parse_nested(nest, tb_cb, t) == MNL_CB_OK ? 0 : -EINVAL;
}

static int parse_top(const struct nlmsghdr *nlh, struct tb *t, unsigned int max)
{
	memset(t, 0, sizeof(*t));
	t->max = max;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct genlmsghdr))
		return -EINVAL;
	return mnl_attr_parse(nlh, sizeof(struct genlmsghdr), tb_cb, t) == MNL_CB_OK ? 0 : -EINVAL;
}

static bool is_u(const struct nlattr *a, size_t n)
{
	return a && mnl_attr_get_payload_len(a) >= n;
}

static uint64_t get_uint(const struct nlattr *a)
{
	if (!a)
		return 0;
	switch (mnl_attr_get_payload_len(a)) {
	case 8:
		return mnl_attr_get_u64(a);
	case 4:
		return mnl_attr_get_u32(a);
	case 2:
		return mnl_attr_get_u16(a);
	case 1:
		return mnl_attr_get_u8(a);
	}
	return 0;
}

static void parse_stats(const struct nlattr *s64, const struct nlattr *s32, struct ipvs_stats *out)
{
	const struct nlattr *nest = s64 ? s64 : s32;
	struct tb t;

	memset(out, 0, sizeof(*out));
	if (!nest || parse_nested(nest, &t, IPVS_STATS_ATTR_MAX))
		return;
	out->conns = get_uint(t.a[IPVS_STATS_ATTR_CONNS]);
	out->inpkts = get_uint(t.a[IPVS_STATS_ATTR_INPKTS]);
	out->outpkts = get_uint(t.a[IPVS_STATS_ATTR_OUTPKTS]);
	out->inbytes = get_uint(t.a[IPVS_STATS_ATTR_INBYTES]);
	out->outbytes = get_uint(t.a[IPVS_STATS_ATTR_OUTBYTES]);
}

static int get_addr(const struct nlattr *a, int af, struct xlb_ip *out)
{
	size_t need = af == AF_INET6 ? 16 : 4;

	memset(out, 0, sizeof(*out));
	if (!a || mnl_attr_get_payload_len(a) < need)
		return -EINVAL;
	out->family = af == AF_INET6 ? XLB_AF_INET6 : XLB_AF_INET;
	memcpy(out->addr.a8, mnl_attr_get_payload(a), need);
	return 0;
}

int ipvs_nl_parse_service(const struct nlmsghdr *nlh, struct ipvs_service *out)
{
	struct tb top, t;
	int af;

	memset(out, 0, sizeof(*out));
	if (parse_top(nlh, &top, IPVS_CMD_ATTR_MAX) || !top.a[IPVS_CMD_ATTR_SERVICE] ||
	    parse_nested(top.a[IPVS_CMD_ATTR_SERVICE], &t, IPVS_SVC_ATTR_MAX))
		return -EINVAL;
	if (!is_u(t.a[IPVS_SVC_ATTR_AF], 2))
		return -EINVAL;
	af = mnl_attr_get_u16(t.a[IPVS_SVC_ATTR_AF]);
	if (af != AF_INET && af != AF_INET6)
		return -EINVAL;
	if (t.a[IPVS_SVC_ATTR_FWMARK] && get_uint(t.a[IPVS_SVC_ATTR_FWMARK])) {
		out->fwmark = (uint32_t)get_uint(t.a[IPVS_SVC_ATTR_FWMARK]);
		out->addr.family = af == AF_INET6 ? XLB_AF_INET6 : XLB_AF_INET;
	} else {
		if (!is_u(t.a[IPVS_SVC_ATTR_PROTOCOL], 2) || !is_u(t.a[IPVS_SVC_ATTR_PORT], 2) ||
		    get_addr(t.a[IPVS_SVC_ATTR_ADDR], af, &out->addr))
			return -EINVAL;
		out->proto = (uint8_t)mnl_attr_get_u16(t.a[IPVS_SVC_ATTR_PROTOCOL]);
		out->port = ntohs(mnl_attr_get_u16(t.a[IPVS_SVC_ATTR_PORT]));
	}
	if (t.a[IPVS_SVC_ATTR_SCHED_NAME])
		snprintf(out->sched, sizeof(out->sched), "%.*s",
			 (int)strnlen(mnl_attr_get_payload(t.a[IPVS_SVC_ATTR_SCHED_NAME]),
				      mnl_attr_get_payload_len(t.a[IPVS_SVC_ATTR_SCHED_NAME])),
			 (const char *)mnl_attr_get_payload(t.a[IPVS_SVC_ATTR_SCHED_NAME]));
	if (is_u(t.a[IPVS_SVC_ATTR_FLAGS], sizeof(struct ip_vs_flags))) {
		const struct ip_vs_flags *f = mnl_attr_get_payload(t.a[IPVS_SVC_ATTR_FLAGS]);

		out->flags = f->flags;
	}
	out->timeout = (uint32_t)get_uint(t.a[IPVS_SVC_ATTR_TIMEOUT]);
	out->netmask = (uint32_t)get_uint(t.a[IPVS_SVC_ATTR_NETMASK]);
	parse_stats(t.a[IPVS_SVC_ATTR_STATS64], t.a[IPVS_SVC_ATTR_STATS], &out->stats);
	return 0;
}

int ipvs_nl_parse_dest(const struct nlmsghdr *nlh, struct ipvs_dest *out)
{
	struct tb top, t;
	int af = AF_INET;

	memset(out, 0, sizeof(*out));
	if (parse_top(nlh, &top, IPVS_CMD_ATTR_MAX) || !top.a[IPVS_CMD_ATTR_DEST] ||
	    parse_nested(top.a[IPVS_CMD_ATTR_DEST], &t, IPVS_DEST_ATTR_MAX))
		return -EINVAL;
	if (is_u(t.a[IPVS_DEST_ATTR_ADDR_FAMILY], 2))
		af = mnl_attr_get_u16(t.a[IPVS_DEST_ATTR_ADDR_FAMILY]);
	else if (t.a[IPVS_DEST_ATTR_ADDR] && mnl_attr_get_payload_len(t.a[IPVS_DEST_ATTR_ADDR]) == 16 &&
		 memcmp((const uint8_t *)mnl_attr_get_payload(t.a[IPVS_DEST_ATTR_ADDR]) + 4,
			"\0\0\0\0\0\0\0\0\0\0\0\0", 12))
		af = AF_INET6;	/* pre-3.18 kernels: no family, guess from the bytes */
	if ((af != AF_INET && af != AF_INET6) || get_addr(t.a[IPVS_DEST_ATTR_ADDR], af, &out->addr) ||
	    !is_u(t.a[IPVS_DEST_ATTR_PORT], 2))
		return -EINVAL;
	out->port = ntohs(mnl_attr_get_u16(t.a[IPVS_DEST_ATTR_PORT]));
	out->fwd = (uint32_t)get_uint(t.a[IPVS_DEST_ATTR_FWD_METHOD]);
	out->weight = (int32_t)get_uint(t.a[IPVS_DEST_ATTR_WEIGHT]);
	out->u_thresh = (uint32_t)get_uint(t.a[IPVS_DEST_ATTR_U_THRESH]);
	out->l_thresh = (uint32_t)get_uint(t.a[IPVS_DEST_ATTR_L_THRESH]);
	out->active_conns = (uint32_t)get_uint(t.a[IPVS_DEST_ATTR_ACTIVE_CONNS]);
	out->inact_conns = (uint32_t)get_uint(t.a[IPVS_DEST_ATTR_INACT_CONNS]);
	out->persist_conns = (uint32_t)get_uint(t.a[IPVS_DEST_ATTR_PERSIST_CONNS]);
	parse_stats(t.a[IPVS_DEST_ATTR_STATS64], t.a[IPVS_DEST_ATTR_STATS], &out->stats);
	return 0;
}

/* ---- gets and dumps -------------------------------------------------- */

struct walk {
	ipvs_service_cb svc_cb;
	ipvs_dest_cb dest_cb;
	void *arg;
	struct ipvs_service *one;
	int found;
};

static int svc_msg(const struct nlmsghdr *nlh, void *arg)
{
	struct walk *w = arg;
	struct ipvs_service s;

	if (ipvs_nl_parse_service(nlh, &s))
		return 0;	/* a record we cannot read is skipped, not fatal */
	if (w->one) {
		*w->one = s;
		w->found = 1;
		return 0;
	}
	return w->svc_cb(&s, w->arg);
}

static int dest_msg(const struct nlmsghdr *nlh, void *arg)
{
	struct walk *w = arg;
	struct ipvs_dest d;

	if (ipvs_nl_parse_dest(nlh, &d))
		return 0;
	return w->dest_cb(&d, w->arg);
}

int ipvs_nl_get_service(struct ipvs_nl *h, struct ipvs_service *s, char *err, size_t errlen)
{
	struct nlmsghdr *nlh = genl_req(&h->nl, h->family, IPVS_CMD_GET_SERVICE, 0, IPVS_GENL_VERSION);
	struct ipvs_service found;
	struct walk w = { .one = &found };
	char what[96], sv[64];
	struct nlack a;
	int ret;

	put_service(nlh, s, false);
	ret = nlsock_talk(&h->nl, nlh, svc_msg, &w, &a);
	if (!ret && !w.found)
		ret = -ESRCH;
	if (ret) {
		snprintf(what, sizeof(what), "get service %s", ipvs_service_str(s, sv, sizeof(sv)));
		return nlsock_fail(ret, &a, err, errlen, what);
	}
	*s = found;
	return 0;
}

int ipvs_nl_list_services(struct ipvs_nl *h, ipvs_service_cb cb, void *arg, char *err, size_t errlen)
{
	struct nlmsghdr *nlh = genl_req(&h->nl, h->family, IPVS_CMD_GET_SERVICE, NLM_F_DUMP,
					IPVS_GENL_VERSION);
	struct walk w = { .svc_cb = cb, .arg = arg };
	struct nlack a;
	int ret = nlsock_talk(&h->nl, nlh, svc_msg, &w, &a);

	if (ret < 0)
		return nlsock_fail(ret, &a, err, errlen, "list services");
	return ret;
}

int ipvs_nl_list_dests(struct ipvs_nl *h, const struct ipvs_service *s, ipvs_dest_cb cb,
		       void *arg, char *err, size_t errlen)
{
	struct nlmsghdr *nlh = genl_req(&h->nl, h->family, IPVS_CMD_GET_DEST, NLM_F_DUMP,
					IPVS_GENL_VERSION);
	struct walk w = { .dest_cb = cb, .arg = arg };
	char what[96], sv[64];
	struct nlack a;
	int ret;

	put_service(nlh, s, false);
	ret = nlsock_talk(&h->nl, nlh, dest_msg, &w, &a);
	if (ret < 0) {
		snprintf(what, sizeof(what), "list destinations of %s",
			 ipvs_service_str(s, sv, sizeof(sv)));
		return nlsock_fail(ret, &a, err, errlen, what);
	}
	return ret;
}

static int info_msg(const struct nlmsghdr *nlh, void *arg)
{
	struct ipvs_info *i = arg;
	struct tb t;

	if (parse_top(nlh, &t, IPVS_INFO_ATTR_MAX))
		return 0;
	i->version = (uint32_t)get_uint(t.a[IPVS_INFO_ATTR_VERSION]);
	i->conn_tab_size = (uint32_t)get_uint(t.a[IPVS_INFO_ATTR_CONN_TAB_SIZE]);
	return 0;
}

int ipvs_nl_get_info(struct ipvs_nl *h, struct ipvs_info *out, char *err, size_t errlen)
{
	struct nlmsghdr *nlh = genl_req(&h->nl, h->family, IPVS_CMD_GET_INFO, 0, IPVS_GENL_VERSION);
	struct nlack a;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = nlsock_talk(&h->nl, nlh, info_msg, out, &a);
	return ret ? nlsock_fail(ret, &a, err, errlen, "get IPVS info") : 0;
}

static int config_msg(const struct nlmsghdr *nlh, void *arg)
{
	struct ipvs_timeouts *t = arg;
	struct tb tb;

	if (parse_top(nlh, &tb, IPVS_CMD_ATTR_MAX))
		return 0;
	t->tcp = (uint32_t)get_uint(tb.a[IPVS_CMD_ATTR_TIMEOUT_TCP]);
	t->tcp_fin = (uint32_t)get_uint(tb.a[IPVS_CMD_ATTR_TIMEOUT_TCP_FIN]);
	t->udp = (uint32_t)get_uint(tb.a[IPVS_CMD_ATTR_TIMEOUT_UDP]);
	return 0;
}

int ipvs_nl_get_timeouts(struct ipvs_nl *h, struct ipvs_timeouts *out, char *err, size_t errlen)
{
	struct nlmsghdr *nlh = genl_req(&h->nl, h->family, IPVS_CMD_GET_CONFIG, 0, IPVS_GENL_VERSION);
	struct nlack a;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = nlsock_talk(&h->nl, nlh, config_msg, out, &a);
	return ret ? nlsock_fail(ret, &a, err, errlen, "get IPVS timeouts") : 0;
}
