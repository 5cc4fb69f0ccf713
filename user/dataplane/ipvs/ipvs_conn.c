// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * IPVS's connection table. The kernel offers it only as text, in
 * /proc/net/ip_vs_conn (per network namespace; ipvsadm -Lc reads the same):
 *
 *   Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
 *   TCP 0A0A0102 C350 0A60000A 0050 0A140102 1F90 ESTABLISHED     899
 *
 * IPv4 addresses and ports are hex in host order; Expires is seconds left.
 * Persistence templates carry the state "NONE".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "ipvs_priv.h"

#define CONN_PATH "/proc/net/ip_vs_conn"
#define UDP_LIVE_S 10	/* a UDP flow idle this long no longer holds a drain */

static void ip4(struct xlb_ip *ip, unsigned int host_order)
{
	uint32_t be = htonl(host_order);

	memset(ip, 0, sizeof(*ip));
	ip->family = XLB_AF_INET;
	memcpy(ip->addr.a8, &be, 4);
}

int ipvs_conn_parse(const char *line, struct ipvs_conn *c)
{
	char pro[8], st[16];
	unsigned int ca, cp, va, vp, da, dp, exp;

	if (sscanf(line, "%7s %8x %4x %8x %4x %8x %4x %15s %u", pro, &ca, &cp, &va, &vp, &da, &dp,
		   st, &exp) != 9)
		return -EINVAL;	/* the header, or an IPv6 entry */
	memset(c, 0, sizeof(*c));
	if (!strcmp(pro, "TCP"))
		c->proto = IPPROTO_TCP;
	else if (!strcmp(pro, "UDP"))
		c->proto = IPPROTO_UDP;
	else if (!strcmp(pro, "SCTP"))
		c->proto = IPPROTO_SCTP;
	else
		return -EINVAL;
	ip4(&c->caddr, ca);
	ip4(&c->vaddr, va);
	ip4(&c->daddr, da);
	c->cport = (uint16_t)cp;
	c->vport = (uint16_t)vp;
	c->dport = (uint16_t)dp;
	snprintf(c->state, sizeof(c->state), "%s", st);
	c->expires = exp;
	return 0;
}

int ipvs_conn_read(struct ipvs_conn **out, size_t *n)
{
	FILE *f = fopen(CONN_PATH, "re");
	struct ipvs_conn *v = NULL;
	size_t cap = 0, cnt = 0;
	char line[256];

	*out = NULL;
	*n = 0;
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		struct ipvs_conn c;

		if (ipvs_conn_parse(line, &c))
			continue;
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct ipvs_conn *nv = realloc(v, nc * sizeof(*nv));

			if (!nv) {
				free(v);
				fclose(f);
				return -ENOMEM;
			}
			v = nv;
			cap = nc;
		}
		v[cnt++] = c;
	}
	fclose(f);
	*out = v;
	*n = cnt;
	return 0;
}

bool ipvs_conn_live(const struct ipvs_conn *c, const struct ipvs_timeouts *to)
{
	if (!strcmp(c->state, "NONE"))		/* a persistence template */
		return false;
	if (c->proto == IPPROTO_UDP) {
		uint32_t t = to && to->udp ? to->udp : 300;

		return c->expires + UDP_LIVE_S > t;
	}
	/* TCP (and SCTP): everything but a closed connection waiting out its timer */
	return strcmp(c->state, "TIME_WAIT") && strcmp(c->state, "CLOSE") &&
	       strcmp(c->state, "CLOSED");
}

static uint8_t ct_state(const struct ipvs_conn *c)
{
	static const struct { const char *n; uint8_t s; } map[] = {
		{ "ESTABLISHED", XLB_CT_ESTABLISHED }, { "UDP", XLB_CT_ESTABLISHED },
		{ "FIN_WAIT", XLB_CT_CLOSING }, { "CLOSE_WAIT", XLB_CT_CLOSING },
		{ "LAST_ACK", XLB_CT_CLOSING }, { "TIME_WAIT", XLB_CT_CLOSED },
		{ "CLOSE", XLB_CT_CLOSED }, { "CLOSED", XLB_CT_CLOSED },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(c->state, map[i].n))
			return map[i].s;
	return XLB_CT_NEW;	/* SYN_SENT, SYN_RECV, SYNACK, LISTEN */
}

/* The lifetime IPVS gave an entry in this state, when known. */
static uint32_t lifetime(const struct ipvs_conn *c, const struct ipvs_timeouts *to)
{
	if (c->proto == IPPROTO_UDP)
		return to->udp;
	if (!strcmp(c->state, "ESTABLISHED"))
		return to->tcp;
	if (!strcmp(c->state, "FIN_WAIT"))
		return to->tcp_fin;
	return 0;
}

static struct isvc *owner(struct xlb_dp_ipvs *d, const struct ipvs_conn *c)
{
	struct ipvs_key k;
	struct isvc *s;
	size_t pos = 0;

	ipvs_key_of(&k, &c->vaddr, c->vport, c->proto);
	s = xlb_htab_get(&d->svcs, &k, sizeof(k));
	if (s)
		return s;
	/* a NodePort service at a node address */
	while ((s = xlb_htab_next(&d->svcs, &pos)))
		if (xlb_svc_has_node_port(&s->spec) && s->spec.node_port == c->vport &&
		    s->spec.proto == c->proto)
			for (size_t i = 0; i < d->n_node; i++)
				if (xlb_ip_equal(&d->node[i], &c->vaddr))
					return s;
	return NULL;
}

/* One forward entry per IPVS connection of xlb's services (IPVS keeps one
 * entry per connection, not one per direction). Age is not kept by IPVS:
 * reported as 0. */
int ipvs_ct_list(struct xlb_dp *dp, xlb_ct_cb cb, void *arg)
{
	struct xlb_dp_ipvs *d = to_ipvs(dp);
	struct ipvs_conn *v;
	size_t n;
	int ret = ipvs_conn_read(&v, &n);

	if (ret)
		return ret;
	for (size_t i = 0; i < n && !ret; i++) {
		const struct ipvs_conn *c = &v[i];
		struct xlb_ct_entry e = {};
		struct isvc *s;
		uint32_t life;

		if (!strcmp(c->state, "NONE") || !(s = owner(d, c)))
			continue;	/* templates, and other users' services */
		e.src = c->caddr;
		e.dst = c->vaddr;
		e.sport = c->cport;
		e.dport = c->vport;
		e.proto = c->proto;
		e.dir = XLB_CT_FWD;
		e.state = ct_state(c);
		e.svc_id = s->id;
		for (size_t j = 0; j < s->n_be; j++)
			if (s->be[j].port == c->dport && xlb_ip_equal(&s->be[j].addr, &c->daddr))
				e.backend_id = s->be_id[j];
		life = lifetime(c, &d->to);
		e.idle = life > c->expires ? life - c->expires : 0;
		ret = cb(&e, arg);
	}
	free(v);
	return ret;
}
