// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * IPVS dataplane: open (create what is missing, adopt xlb's own virtual
 * services), node addresses, the ops table, and cleanup. Services live in
 * ipvs_svc.c, the connection table in ipvs_conn.c; ownership is described
 * in ipvs.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/netlink.h>

#include "log.h"
#include "util/errmsg.h"
#include "ipvs_priv.h"
#include "ipvs_link.h"
#include "ipvs_rules.h"

/* ---- sysctls ---------------------------------------------------------- */

static const struct {
	const char *path;	/* under /proc/sys/net/ipv4/ */
	const char *value;
	const char *why;
} sysctls[] = {
	/* IPVS connections through netfilter conntrack: the masquerade rules
	 * (NodePort, hairpin) need it */
	{ "vs/conntrack", "1", "conntrack" },
	/* a new connection reusing the tuple of an old one is scheduled anew,
	 * so it cannot stick to a removed or drained backend (the 1 s stall
	 * that made kube-proxy use 0 was fixed in Linux 5.9) */
	{ "vs/conn_reuse_mode", "1", "conn_reuse_mode" },
	/* a connection whose backend was deleted is expired on its next
	 * packet, so the client is reset instead of black-holed */
	{ "vs/expire_nodest_conn", "1", "expire_nodest_conn" },
	/* an affinity (persistence) entry to a weight-0 backend expires, so
	 * draining also moves sticky clients */
	{ "vs/expire_quiescent_template", "1", "expire_quiescent_template" },
	{ "ip_forward", "1", "ip_forward" },
};

static int sysctl_rw(const char *rel, const char *set, char *got, size_t glen)
{
	char path[128];
	FILE *f;
	int ret = 0;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/%s", rel);
	if (set) {
		f = fopen(path, "we");
		if (!f)
			return -errno;
		if (fputs(set, f) < 0)
			ret = -errno;
		if (fclose(f) && !ret)
			ret = -errno;
		if (ret)
			return ret;
	}
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(got, (int)glen, f))
		got[0] = 0;
	fclose(f);
	got[strcspn(got, "\n")] = 0;
	return 0;
}

/* Set them; the summary says what is in force (read back). */
static void set_sysctls(char *out, size_t len)
{
	int o = snprintf(out, len, "sysctl");

	for (size_t i = 0; i < sizeof(sysctls) / sizeof(sysctls[0]); i++) {
		char got[32] = "?";
		int ret = sysctl_rw(sysctls[i].path, sysctls[i].value, got, sizeof(got));

		if (ret) {
			pr_warn("sysctl net.ipv4.%s=%s: %s", sysctls[i].path, sysctls[i].value,
				strerror(-ret));
			if (sysctl_rw(sysctls[i].path, NULL, got, sizeof(got)))
				snprintf(got, sizeof(got), "?");
		}
		if (o > 0 && (size_t)o < len)
			o += snprintf(out + o, len - (size_t)o, " %s=%s", sysctls[i].why, got);
	}
}

/* ---- adoption --------------------------------------------------------- */

struct claim {
	struct xlb_ip vip;
	uint8_t proto;
	uint16_t port;
	uint32_t np;
	char name[128];
	bool matched;
};

struct adopt {
	struct xlb_dp_ipvs *d;
	struct claim *claims;
	size_t n_claims, cap_claims;
	uint8_t np[2][8192];		/* [udp?] bitmaps from the node-port sets */
	struct ipvs_service *vs;	/* the kernel's services */
	size_t n_vs, cap_vs;
	unsigned int adopted, foreign, orphans, stale_claims;
};

static int parse_proto_port(const char *s, uint8_t *proto, uint16_t *port)
{
	unsigned long p;
	char *end;

	if (!strncmp(s, "tcp:", 4))
		*proto = IPPROTO_TCP;
	else if (!strncmp(s, "udp:", 4))
		*proto = IPPROTO_UDP;
	else
		return -EINVAL;
	p = strtoul(s + 4, &end, 10);
	if (end == s + 4 || p == 0 || p > 65535)
		return -EINVAL;
	*port = (uint16_t)p;
	return 0;
}

/* add XLB-CLUSTER-IP 10.96.0.10,tcp:80 comment "np=0 lab/web:http" */
static int claim_line(const char *line, void *arg)
{
	struct adopt *a = arg;
	char elem[96], *comma, comment[200] = "";
	struct claim c = {};
	const char *q;

	if (sscanf(line, "add " XLB_IPSET_CLUSTER_IP " %95s", elem) != 1)
		return 0;
	comma = strchr(elem, ',');
	if (!comma)
		return 0;
	*comma = 0;
	if (xlb_ip_parse(elem, &c.vip) || parse_proto_port(comma + 1, &c.proto, &c.port))
		return 0;
	q = strstr(line, " comment \"");
	if (q) {
		q += 10;
		snprintf(comment, sizeof(comment), "%.*s", (int)strcspn(q, "\""), q);
	}
	if (sscanf(comment, "np=%u %127s", &c.np, c.name) < 1)
		c.np = 0;
	if (!c.name[0])
		snprintf(c.name, sizeof(c.name), "%s:%u/%s", elem, c.port, xlb_proto_name(c.proto));
	if (a->n_claims == a->cap_claims) {
		size_t cap = a->cap_claims ? a->cap_claims * 2 : 16;
		struct claim *nc = realloc(a->claims, cap * sizeof(*nc));

		if (!nc)
			return -ENOMEM;
		a->claims = nc;
		a->cap_claims = cap;
	}
	a->claims[a->n_claims++] = c;
	return 0;
}

struct np_line {
	uint8_t *bits;
	const char *set;
};

static int np_line(const char *line, void *arg)
{
	struct np_line *l = arg;
	char fmt[64];
	unsigned int port;

	snprintf(fmt, sizeof(fmt), "add %s %%u", l->set);
	if (sscanf(line, fmt, &port) == 1 && port < 65536)
		l->bits[port / 8] |= (uint8_t)(1u << (port % 8));
	return 0;
}

static int vs_collect(const struct ipvs_service *s, void *arg)
{
	struct adopt *a = arg;

	if (a->n_vs == a->cap_vs) {
		size_t cap = a->cap_vs ? a->cap_vs * 2 : 32;
		struct ipvs_service *nv = realloc(a->vs, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		a->vs = nv;
		a->cap_vs = cap;
	}
	a->vs[a->n_vs++] = *s;
	return 0;
}

struct be_collect {
	struct isvc *s;
	size_t cap;
};

static int be_collect_cb(const struct ipvs_dest *dst, void *arg)
{
	struct be_collect *b = arg;
	struct isvc *s = b->s;

	if (s->n_be == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 8;
		struct xlb_backend_spec *nb = realloc(s->be, cap * sizeof(*nb));
		uint32_t *ni;
		struct xlb_counters *nc;

		if (!nb)
			return -ENOMEM;
		s->be = nb;
		ni = realloc(s->be_id, cap * sizeof(*ni));
		if (!ni)
			return -ENOMEM;
		s->be_id = ni;
		nc = realloc(s->be_cnt, cap * sizeof(*nc));
		if (!nc)
			return -ENOMEM;
		s->be_cnt = nc;
		b->cap = cap;
	}
	memset(&s->be[s->n_be], 0, sizeof(s->be[0]));
	s->be[s->n_be].addr = dst->addr;
	s->be[s->n_be].port = dst->port;
	/* IPVS keeps no "terminating": weight 0 is how a drain looks */
	s->be[s->n_be].weight = dst->weight > 0 ? (uint32_t)dst->weight : 0;
	s->be[s->n_be].terminating = dst->weight <= 0;
	s->be_id[s->n_be] = 0;
	s->n_be++;
	return 0;
}

static int adopt_one(struct adopt *a, const struct ipvs_service *vs, struct claim *c)
{
	struct xlb_dp_ipvs *d = a->d;
	struct isvc *s = calloc(1, sizeof(*s));
	struct be_collect b = { .s = s };
	char err[256];
	int ret;

	if (!s)
		return -ENOMEM;
	snprintf(s->spec.name, sizeof(s->spec.name), "%s", c->name);
	s->spec.vip = vs->addr;
	s->spec.port = vs->port;
	s->spec.proto = vs->proto;
	s->spec.type = c->np ? XLB_SVC_NODE_PORT : XLB_SVC_CLUSTER_IP;
	s->spec.node_port = c->np;
	s->spec.algo = !strcmp(vs->sched, "wrr") ? XLB_ALGO_WRR :
		       !strcmp(vs->sched, "sh") ? XLB_ALGO_SH : XLB_ALGO_RR;
	s->spec.affinity_timeout = (vs->flags & IP_VS_SVC_F_PERSISTENT) ? vs->timeout : 0;
	ipvs_key_of(&s->key, &s->spec.vip, s->spec.port, s->spec.proto);
	s->id = ++d->next_id;
	ret = ipvs_nl_list_dests(d->nl, vs, be_collect_cb, &b, err, sizeof(err));
	if (ret) {
		pr_warn("adopt: %s", err);
		ipvs_svc_free(s);
		return ret;
	}
	if (!s->be) {		/* keep the arrays non-NULL */
		s->be = calloc(1, sizeof(*s->be));
		s->be_id = calloc(1, sizeof(*s->be_id));
		s->be_cnt = calloc(1, sizeof(*s->be_cnt));
		if (!s->be || !s->be_id || !s->be_cnt) {
			ipvs_svc_free(s);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < s->n_be; i++) {
		struct ipvs_key k;

		s->be_id[i] = ++d->next_be_id;
		ipvs_key_of(&k, &s->be[i].addr, s->be[i].port, s->spec.proto);
		if (ipvs_ref(&d->loops, &k, +1) < 0) {
			ipvs_svc_free(s);
			return -ENOMEM;
		}
	}
	memset(s->be_cnt, 0, (s->n_be ? s->n_be : 1) * sizeof(*s->be_cnt));
	{
		struct ipvs_key vk;

		ipvs_key_of(&vk, &s->spec.vip, 0, 0);
		if (ipvs_ref(&d->vips, &vk, +1) < 0) {
			ipvs_svc_free(s);
			return -ENOMEM;
		}
	}
	ret = ipvs_svc_index(d, s);
	if (ret)
		return ret;
	c->matched = true;
	a->adopted++;
	return 0;
}

static struct claim *find_claim(struct adopt *a, const struct ipvs_service *vs)
{
	for (size_t i = 0; i < a->n_claims; i++) {
		struct claim *c = &a->claims[i];

		if (c->proto == vs->proto && c->port == vs->port && xlb_ip_equal(&c->vip, &vs->addr))
			return c;
	}
	return NULL;
}

static bool np_owned(const struct xlb_dp_ipvs *d, uint8_t proto, uint32_t port)
{
	size_t pos = 0;
	struct isvc *s;

	while ((s = xlb_htab_next(&d->svcs, &pos)))
		if (xlb_svc_has_node_port(&s->spec) && s->spec.node_port == port &&
		    s->spec.proto == proto)
			return true;
	return false;
}

struct addr_diff {
	struct xlb_dp_ipvs *d;
	struct xlb_ip *stale;
	size_t n_stale;
	unsigned int removed;
};

/* Collect only: the dump is still running on the socket a delete would use. */
static int dummy_addr_cb(const struct xlb_ip *ip, void *arg)
{
	struct addr_diff *x = arg;
	struct xlb_ip *ns;
	struct ipvs_key k;

	/* IPv4 service addresses only (the kernel's IPv6 link-local stays) */
	if (ip->family != XLB_AF_INET)
		return 0;
	ipvs_key_of(&k, ip, 0, 0);
	if (xlb_htab_get(&x->d->vips, &k, sizeof(k)))
		return 0;
	ns = realloc(x->stale, (x->n_stale + 1) * sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	x->stale = ns;
	x->stale[x->n_stale++] = *ip;
	return 0;
}

/* Addresses on xlb's own interface that no service of xlb's uses. */
static void dummy_addr_prune(struct addr_diff *x)
{
	char err[256];

	ipvs_link_addr_list(&x->d->rt, x->d->ifindex, dummy_addr_cb, x);
	for (size_t i = 0; i < x->n_stale; i++) {
		if (ipvs_link_addr_del(&x->d->rt, x->d->ifindex, &x->stale[i], err, sizeof(err)))
			pr_warn("adopt: %s", err);
		else
			x->removed++;
	}
	free(x->stale);
	x->stale = NULL;
}

struct loop_diff {
	struct xlb_dp_ipvs *d;
	struct xlb_htab seen;
	char (*del)[96];
	size_t n_del;
};

static int loop_line(const char *line, void *arg)
{
	struct loop_diff *x = arg;
	char elem[96], a1[48], a2[48], pp[16];
	struct xlb_ip ip;
	struct ipvs_key k, *kc;
	uint8_t proto;
	uint16_t port;
	char *c1, *c2;

	if (sscanf(line, "add " XLB_IPSET_LOOP_BACK " %95s", elem) != 1)
		return 0;
	c1 = strchr(elem, ',');
	c2 = c1 ? strchr(c1 + 1, ',') : NULL;
	if (!c1 || !c2 || c1 - elem >= 48 || c2 - c1 - 1 >= 16)
		return 0;
	snprintf(a1, sizeof(a1), "%.*s", (int)(c1 - elem), elem);
	snprintf(pp, sizeof(pp), "%.*s", (int)(c2 - c1 - 1), c1 + 1);
	snprintf(a2, sizeof(a2), "%s", c2 + 1);
	if (xlb_ip_parse(a1, &ip) || parse_proto_port(pp, &proto, &port))
		return 0;
	ipvs_key_of(&k, &ip, port, proto);
	if (xlb_htab_get(&x->d->loops, &k, sizeof(k)) && !strcmp(a1, a2)) {
		kc = malloc(sizeof(*kc));
		if (!kc)
			return -ENOMEM;
		*kc = k;
		if (xlb_htab_put(&x->seen, kc, sizeof(*kc), kc)) {
			free(kc);
			return -ENOMEM;
		}
		return 0;
	}
	{
		char (*nd)[96] = realloc(x->del, (x->n_del + 1) * sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		x->del = nd;
		snprintf(x->del[x->n_del++], sizeof(nd[0]), "%s", elem);
	}
	return 0;
}

/* Bring XLB-LOOP-BACK to exactly the adopted backends. */
static void adopt_loops(struct xlb_dp_ipvs *d)
{
	struct loop_diff x = { .d = d };
	struct refcnt *r;
	size_t pos = 0;
	char err[256], elem[96];
	void *v;

	xlb_htab_init(&x.seen);
	if (xlb_ipset_save(d->ips, XLB_IPSET_LOOP_BACK, loop_line, &x, err, sizeof(err)))
		pr_warn("adopt: %s", err);
	for (size_t i = 0; i < x.n_del; i++)
		if (xlb_ipset_cmd(d->ips, err, sizeof(err), "del", XLB_IPSET_LOOP_BACK, x.del[i], NULL))
			pr_warn("adopt: %s", err);
	while ((r = xlb_htab_next(&d->loops, &pos))) {
		if (xlb_htab_get(&x.seen, &r->key, sizeof(r->key)))
			continue;
		ipvs_loop_elem(&r->key, elem, sizeof(elem));
		if (xlb_ipset_cmd(d->ips, err, sizeof(err), "add", XLB_IPSET_LOOP_BACK, elem, NULL))
			pr_warn("adopt: %s", err);
	}
	pos = 0;
	while ((v = xlb_htab_next(&x.seen, &pos)))
		free(v);
	xlb_htab_fini(&x.seen);
	free(x.del);
}

/* A virtual service of a kind xlb makes: by address (not firewall mark),
 * TCP or UDP, IPv4. */
static bool vs_kind_ours(const struct ipvs_service *vs)
{
	return !vs->fwmark && (vs->proto == IPPROTO_TCP || vs->proto == IPPROTO_UDP) &&
	       vs->addr.family == XLB_AF_INET;
}

/* 1. services at a claimed address:port are xlb's ClusterIP services */
static int adopt_claimed(struct adopt *a)
{
	for (size_t i = 0; i < a->n_vs; i++) {
		const struct ipvs_service *vs = &a->vs[i];
		struct claim *c;

		if (!vs_kind_ours(vs))
			continue;
		c = find_claim(a, vs);
		if (c && !c->matched && adopt_one(a, vs, c) == -ENOMEM)
			return -ENOMEM;
	}
	return 0;
}

/* 2. services at a claimed node port belong to the service claiming it;
 * one whose service is gone is an orphan of a crash: removed */
static void drop_orphans(struct adopt *a)
{
	struct xlb_dp_ipvs *d = a->d;
	char e2[256], sv[64];

	for (size_t i = 0; i < a->n_vs; i++) {
		const struct ipvs_service *vs = &a->vs[i];
		int udp = vs->proto == IPPROTO_UDP;

		if (!vs_kind_ours(vs)) {
			a->foreign++;
			continue;
		}
		if (find_claim(a, vs))
			continue;
		if (!(a->np[udp][vs->port / 8] & (1u << (vs->port % 8)))) {
			a->foreign++;
			pr_debug("adopt: %s is not xlb's: left alone",
				 ipvs_service_str(vs, sv, sizeof(sv)));
			continue;
		}
		if (np_owned(d, vs->proto, vs->port))
			continue;
		if (ipvs_drop_vs(d, vs, e2, sizeof(e2)))
			pr_warn("adopt: %s", e2);
		a->orphans++;
	}
}

/* 3. claims nothing backs (a crash between claim and create), and node
 * ports no service owns */
static void drop_stale_claims(struct adopt *a, const struct np_line *npl)
{
	struct xlb_dp_ipvs *d = a->d;
	char e2[256], elem[96], ps[8];

	for (size_t i = 0; i < a->n_claims; i++) {
		if (a->claims[i].matched)
			continue;
		ipvs_cip_elem(&a->claims[i].vip, a->claims[i].port, a->claims[i].proto, elem,
			      sizeof(elem));
		if (xlb_ipset_cmd(d->ips, e2, sizeof(e2), "del", XLB_IPSET_CLUSTER_IP, elem, NULL))
			pr_warn("adopt: %s", e2);
		a->stale_claims++;
	}
	for (int p = 0; p < 2; p++) {
		for (uint32_t port = 1; port < 65536; port++) {
			if (!(a->np[p][port / 8] & (1u << (port % 8))) ||
			    np_owned(d, p ? IPPROTO_UDP : IPPROTO_TCP, port))
				continue;
			snprintf(ps, sizeof(ps), "%u", port);
			if (xlb_ipset_cmd(d->ips, e2, sizeof(e2), "del", npl[p].set, ps, NULL))
				pr_warn("adopt: %s", e2);
		}
	}
}

/* 4. the interface holds exactly the service addresses */
static void restore_vips(struct xlb_dp_ipvs *d, struct addr_diff *ad)
{
	size_t pos = 0;
	struct refcnt *r;
	char e2[256];

	dummy_addr_prune(ad);
	while ((r = xlb_htab_next(&d->vips, &pos))) {
		struct xlb_ip ip = { .family = r->key.family };

		memcpy(ip.addr.a8, r->key.addr, sizeof(r->key.addr));
		if (ipvs_link_addr_add(&d->rt, d->ifindex, &ip, e2, sizeof(e2)))
			pr_warn("adopt: %s", e2);
	}
}

/* What a previous xlbd left in the kernel: its claims (ipsets) say which
 * virtual services are xlb's; those are adopted, crash leftovers removed,
 * everything else left alone. */
static int adopt(struct xlb_dp_ipvs *d, char *err, size_t errlen)
{
	struct adopt *a = calloc(1, sizeof(*a));
	struct np_line npl[2] = { { .set = XLB_IPSET_NODE_PORT_TCP },
				  { .set = XLB_IPSET_NODE_PORT_UDP } };
	struct addr_diff ad = { .d = d };
	int ret;

	if (!a)
		return -ENOMEM;
	a->d = d;
	ret = xlb_ipset_save(d->ips, XLB_IPSET_CLUSTER_IP, claim_line, a, err, errlen);
	for (int p = 0; !ret && p < 2; p++) {
		npl[p].bits = a->np[p];
		ret = xlb_ipset_save(d->ips, npl[p].set, np_line, &npl[p], err, errlen);
	}
	if (!ret)
		ret = ipvs_nl_list_services(d->nl, vs_collect, a, err, errlen);
	if (!ret)
		ret = adopt_claimed(a);
	if (ret)
		goto out;
	drop_orphans(a);
	drop_stale_claims(a, npl);
	restore_vips(d, &ad);
	adopt_loops(d);
	pr_info("ipvs: adopted %u services of xlb's; %u other virtual services left alone%s",
		a->adopted, a->foreign, a->orphans || a->stale_claims || ad.removed ?
		" (crash leftovers cleaned)" : "");
	if (a->orphans || a->stale_claims || ad.removed)
		pr_info("ipvs: removed %u orphan NodePort services, %u stale claims, %u stale addresses",
			a->orphans, a->stale_claims, ad.removed);
	snprintf(d->summary + strlen(d->summary), sizeof(d->summary) - strlen(d->summary),
		 "; adopted %u, left %u alone", a->adopted, a->foreign);
out:
	free(a->claims);
	free(a->vs);
	free(a);
	return ret;
}

/* ---- node addresses, interfaces --------------------------------------- */

static int ipvs_node_addr_add(struct xlb_dp *dp, const struct xlb_ip *ip)
{
	struct xlb_dp_ipvs *d = to_ipvs(dp);
	struct ipvs_key k;
	size_t pos = 0;
	struct isvc *s;
	char err[256];
	int ret = 0;
	bool known = false;

	if (ip->family != XLB_AF_INET || xlb_ip_is_zero(ip))
		return -EINVAL;
	ipvs_key_of(&k, ip, 0, 0);
	if (xlb_htab_get(&d->vips, &k, sizeof(k)))
		return 0;	/* a service address on xlb-ipvs0, not the node's */
	for (size_t i = 0; i < d->n_node && !known; i++)
		known = xlb_ip_equal(&d->node[i], ip);
	if (!known) {
		if (d->n_node == d->cap_node) {
			size_t cap = d->cap_node ? d->cap_node * 2 : 8;
			struct xlb_ip *nn = realloc(d->node, cap * sizeof(*nn));

			if (!nn)
				return -ENOMEM;
			d->node = nn;
			d->cap_node = cap;
		}
		d->node[d->n_node++] = *ip;
	}
	while ((s = xlb_htab_next(&d->svcs, &pos))) {
		struct ipvs_service vs;
		int r;

		if (!xlb_svc_has_node_port(&s->spec))
			continue;
		ipvs_vs_of(s, ip, s->spec.node_port, &vs);
		r = ipvs_ensure_vs(d, &vs, s->be, s->n_be, NULL, err, sizeof(err));
		if (r) {
			pr_warn("NodePort on a new node address: %s", err);
			ret = ret ?: r;
		}
		s->stats_ms = 0;
	}
	return ret;
}

static int ipvs_node_addr_del(struct xlb_dp *dp, const struct xlb_ip *ip)
{
	struct xlb_dp_ipvs *d = to_ipvs(dp);
	size_t pos = 0, i;
	struct isvc *s;
	char err[256];

	for (i = 0; i < d->n_node; i++)
		if (xlb_ip_equal(&d->node[i], ip))
			break;
	if (i == d->n_node)
		return -ENOENT;
	d->node[i] = d->node[--d->n_node];
	while ((s = xlb_htab_next(&d->svcs, &pos))) {
		struct ipvs_service vs;

		if (!xlb_svc_has_node_port(&s->spec))
			continue;
		ipvs_vs_of(s, ip, s->spec.node_port, &vs);
		if (ipvs_drop_vs(d, &vs, err, sizeof(err)))
			pr_warn("NodePort on a removed node address: %s", err);
		s->stats_ms = 0;
	}
	return 0;
}

/* IPVS is not per interface: the names are kept for status only. */
static int ipvs_attach(struct xlb_dp *dp, const char *ifname, char *err, size_t errlen)
{
	struct xlb_dp_ipvs *d = to_ipvs(dp);

	for (size_t i = 0; i < d->n_if; i++)
		if (!strcmp(d->ifnames[i], ifname))
			return 0;
	if (d->n_if < sizeof(d->ifnames) / sizeof(d->ifnames[0]))
		snprintf(d->ifnames[d->n_if++], sizeof(d->ifnames[0]), "%s", ifname);
	return 0;
}

static int ipvs_detach(struct xlb_dp *dp, const char *ifname, char *err, size_t errlen)
{
	struct xlb_dp_ipvs *d = to_ipvs(dp);

	for (size_t i = 0; i < d->n_if; i++) {
		if (strcmp(d->ifnames[i], ifname))
			continue;
		memcpy(d->ifnames[i], d->ifnames[--d->n_if], sizeof(d->ifnames[0]));
		return 0;
	}
	return xlb_errf(err, errlen, -ENOENT, "detach from %s: not attached", ifname);
}

/* ---- counters, conntrack ---------------------------------------------- */

struct gstats {
	struct xlb_dp_ipvs *d;
	uint64_t *out;
};

static int gstats_cb(const struct ipvs_service *s, void *arg)
{
	struct gstats *g = arg;
	struct ipvs_key k;
	size_t pos = 0;
	struct isvc *o;
	bool ours;

	if (s->fwmark)
		return 0;
	ipvs_key_of(&k, &s->addr, s->port, s->proto);
	ours = xlb_htab_get(&g->d->svcs, &k, sizeof(k)) != NULL;
	while (!ours && (o = xlb_htab_next(&g->d->svcs, &pos)))
		ours = xlb_svc_has_node_port(&o->spec) && o->spec.node_port == s->port &&
		       o->spec.proto == s->proto;
	if (ours) {
		g->out[XLB_STAT_RX] += s->stats.inpkts + s->stats.outpkts;
		g->out[XLB_STAT_CT_NEW] += s->stats.conns;
	}
	return 0;
}

/* IPVS has no per-reason counters: packets through xlb's virtual services
 * (both directions) and connections scheduled; the rest stay 0. */
static int ipvs_global_stats(struct xlb_dp *dp, uint64_t out[XLB_STAT_MAX])
{
	struct xlb_dp_ipvs *d = to_ipvs(dp);
	struct gstats g = { .d = d, .out = out };

	memset(out, 0, XLB_STAT_MAX * sizeof(out[0]));
	return ipvs_nl_list_services(d->nl, gstats_cb, &g, NULL, 0);
}

/* IPVS has no command to drop connections (only their timers, which are
 * global): flushing is not offered. */
static int ipvs_ct_flush(struct xlb_dp *dp, uint32_t *removed)
{
	if (removed)
		*removed = 0;
	return -EOPNOTSUPP;
}

static void ipvs_close(struct xlb_dp *dp)
{
	struct xlb_dp_ipvs *d = to_ipvs(dp);
	size_t pos = 0;
	void *v;

	while ((v = xlb_htab_next(&d->svcs, &pos)))
		ipvs_svc_free(v);
	xlb_htab_fini(&d->svcs);
	xlb_htab_fini(&d->be_ids);
	pos = 0;
	while ((v = xlb_htab_next(&d->vips, &pos)))
		free(v);
	xlb_htab_fini(&d->vips);
	pos = 0;
	while ((v = xlb_htab_next(&d->loops, &pos)))
		free(v);
	xlb_htab_fini(&d->loops);
	free(d->node);
	xlb_ipset_close(d->ips);
	nlsock_close(&d->rt);
	ipvs_nl_close(d->nl);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

/* Each op under d->mu: a call that may come at any time (dataplane.h)
 * must not share the netlink socket or the indexes with another. */
#define LOCKED(op, params, args)					\
	static int locked_##op params					\
	{								\
		struct xlb_dp_ipvs *d = to_ipvs(dp);			\
		int ret;						\
									\
		pthread_mutex_lock(&d->mu);				\
		ret = ipvs_##op args;					\
		pthread_mutex_unlock(&d->mu);				\
		return ret;						\
	}

LOCKED(service_set, (struct xlb_dp *dp, const struct xlb_service_spec *svc,
		     const struct xlb_backend_spec *be, size_t n, char *err, size_t errlen),
       (dp, svc, be, n, err, errlen))
LOCKED(service_delete, (struct xlb_dp *dp, const struct xlb_service_spec *svc, char *err,
			size_t errlen), (dp, svc, err, errlen))
LOCKED(service_list, (struct xlb_dp *dp, xlb_svc_cb cb, void *arg), (dp, cb, arg))
LOCKED(node_addr_add, (struct xlb_dp *dp, const struct xlb_ip *ip), (dp, ip))
LOCKED(node_addr_del, (struct xlb_dp *dp, const struct xlb_ip *ip), (dp, ip))
LOCKED(attach, (struct xlb_dp *dp, const char *ifname, char *err, size_t errlen),
       (dp, ifname, err, errlen))
LOCKED(detach, (struct xlb_dp *dp, const char *ifname, char *err, size_t errlen),
       (dp, ifname, err, errlen))
LOCKED(service_stats, (struct xlb_dp *dp, const struct xlb_service_spec *svc,
		       struct xlb_counters *out), (dp, svc, out))
LOCKED(backend_stats, (struct xlb_dp *dp, uint32_t id, struct xlb_counters *out), (dp, id, out))
LOCKED(global_stats, (struct xlb_dp *dp, uint64_t out[XLB_STAT_MAX]), (dp, out))
LOCKED(ct_list, (struct xlb_dp *dp, xlb_ct_cb cb, void *arg), (dp, cb, arg))
LOCKED(ct_flush, (struct xlb_dp *dp, uint32_t *removed), (dp, removed))
LOCKED(expire, (struct xlb_dp *dp, const struct xlb_ct_timeouts *t, uint32_t *removed),
       (dp, t, removed))

static const struct xlb_dp_ops xlb_dp_ipvs_ops = {
	.name = "ipvs",
	.service_set = locked_service_set,
	.service_delete = locked_service_delete,
	.service_list = locked_service_list,
	.node_addr_add = locked_node_addr_add,
	.node_addr_del = locked_node_addr_del,
	.attach = locked_attach,
	.detach = locked_detach,
	.service_stats = locked_service_stats,
	.backend_stats = locked_backend_stats,
	.global_stats = locked_global_stats,
	.ct_list = locked_ct_list,
	.ct_flush = locked_ct_flush,
	.expire = locked_expire,
	.close = ipvs_close,
};

const char *xlb_dp_ipvs_summary(struct xlb_dp *dp)
{
	if (!dp || dp->ops != &xlb_dp_ipvs_ops)
		return "";
	return to_ipvs(dp)->summary;
}

/* ---- open, cleanup ---------------------------------------------------- */

static int create_sets(struct xlb_ipset *ips, char *err, size_t errlen)
{
	int ret;

	ret = xlb_ipset_cmd(ips, err, errlen, "create", XLB_IPSET_CLUSTER_IP, "hash:ip,port",
			    "comment", NULL);
	ret = ret ?: xlb_ipset_cmd(ips, err, errlen, "create", XLB_IPSET_NODE_PORT_TCP,
				   "bitmap:port", "range", "0-65535", NULL);
	ret = ret ?: xlb_ipset_cmd(ips, err, errlen, "create", XLB_IPSET_NODE_PORT_UDP,
				   "bitmap:port", "range", "0-65535", NULL);
	ret = ret ?: xlb_ipset_cmd(ips, err, errlen, "create", XLB_IPSET_LOOP_BACK,
				   "hash:ip,port,ip", NULL);
	return ret;
}

int xlb_dp_ipvs_open(const struct xlb_dp_opts *opts, struct xlb_dp **out,
		     char *err, size_t errlen)
{
	struct xlb_dp_ipvs *d = calloc(1, sizeof(*d));
	struct ipvs_info info;
	char rules[96] = "", sc[200];
	int ret;

	if (!d)
		return -ENOMEM;
	d->base.ops = &xlb_dp_ipvs_ops;
	pthread_mutex_init(&d->mu, NULL);
	xlb_htab_init(&d->svcs);
	xlb_htab_init(&d->be_ids);
	xlb_htab_init(&d->vips);
	xlb_htab_init(&d->loops);
	ret = ipvs_nl_open(&d->nl, err, errlen);
	if (ret)
		goto fail;
	ret = ipvs_nl_get_info(d->nl, &info, err, errlen);
	if (ret)
		goto fail;
	ipvs_nl_get_timeouts(d->nl, &d->to, NULL, 0);
	ret = nlsock_open(&d->rt, NETLINK_ROUTE);
	if (ret) {
		nlsock_fail(ret, NULL, err, errlen, "open rtnetlink socket");
		goto fail;
	}
	ret = xlb_ipset_open(&d->ips, err, errlen);
	if (ret)
		goto fail;
	ret = create_sets(d->ips, err, errlen);
	if (ret)
		goto fail;
	ret = ipvs_link_dummy_ensure(&d->rt, XLB_IPVS_IFNAME, &d->ifindex, err, errlen);
	if (ret)
		goto fail;
	set_sysctls(sc, sizeof(sc));
	{
		char rerr[256];
		char be[64] = "";

		if (ipvs_rules_ensure(be, sizeof(be), rerr, sizeof(rerr))) {
			pr_warn("ipvs: %s; NodePort from other hosts and hairpin traffic are not "
				"masqueraded", rerr);
			snprintf(rules, sizeof(rules), "nat rules: NONE");
		} else {
			char *p = strstr(be, "(");

			snprintf(rules, sizeof(rules), "nat rules: iptables%s%s", p ? " " : "",
				 p ? p : "");
		}
	}
	snprintf(d->summary, sizeof(d->summary), "IPVS %u.%u.%u; %s; %s", info.version >> 16,
		 (info.version >> 8) & 0xff, info.version & 0xff, sc, rules);
	ret = adopt(d, err, errlen);
	if (ret)
		goto fail;
	pr_info("ipvs: %s", d->summary);
	*out = &d->base;
	return 0;
fail:
	ipvs_close(&d->base);
	return ret;
}

int xlb_dp_ipvs_cleanup(char *err, size_t errlen)
{
	static const char *const sets[] = { XLB_IPSET_LOOP_BACK, XLB_IPSET_NODE_PORT_TCP,
					    XLB_IPSET_NODE_PORT_UDP, XLB_IPSET_CLUSTER_IP };
	struct xlb_dp_ipvs d = {};
	struct adopt *a = calloc(1, sizeof(*a));
	struct np_line npl[2] = { { .set = XLB_IPSET_NODE_PORT_TCP },
				  { .set = XLB_IPSET_NODE_PORT_UDP } };
	unsigned int removed = 0;
	char e2[256];
	int ret = 0, r;

	if (!a)
		return -ENOMEM;
	a->d = &d;
	r = xlb_ipset_open(&d.ips, err, errlen);
	if (r) {
		free(a);
		return r;
	}
	/* 1. the virtual services (when this kernel has IPVS at all) */
	if (!ipvs_nl_open(&d.nl, NULL, 0)) {
		xlb_ipset_save(d.ips, XLB_IPSET_CLUSTER_IP, claim_line, a, NULL, 0);
		for (int p = 0; p < 2; p++) {
			npl[p].bits = a->np[p];
			xlb_ipset_save(d.ips, npl[p].set, np_line, &npl[p], NULL, 0);
		}
		r = ipvs_nl_list_services(d.nl, vs_collect, a, e2, sizeof(e2));
		if (r) {
			ret = r;
			xlb_errf(err, errlen, 0, "%s", e2);
		}
		for (size_t i = 0; i < a->n_vs; i++) {
			const struct ipvs_service *vs = &a->vs[i];
			int udp = vs->proto == IPPROTO_UDP;

			if (vs->fwmark || (vs->proto != IPPROTO_TCP && vs->proto != IPPROTO_UDP))
				continue;
			if (!find_claim(a, vs) && !(a->np[udp][vs->port / 8] & (1u << (vs->port % 8))))
				continue;	/* not xlb's */
			r = ipvs_drop_vs(&d, vs, e2, sizeof(e2));
			if (r && !ret) {
				ret = r;
				xlb_errf(err, errlen, 0, "%s", e2);
			}
			removed += !r;
		}
		ipvs_nl_close(d.nl);
	}
	/* 2. rules before sets: a set in use by a rule cannot be destroyed */
	r = ipvs_rules_remove(e2, sizeof(e2));
	if (r && !ret) {
		ret = r;
		xlb_errf(err, errlen, 0, "%s", e2);
	}
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		r = xlb_ipset_cmd(d.ips, e2, sizeof(e2), "destroy", sets[i], NULL);
		if (r && r != -ENOENT && !ret) {
			ret = r;
			xlb_errf(err, errlen, 0, "%s", e2);
		}
	}
	/* 3. the interface, and with it the service addresses */
	if (!nlsock_open(&d.rt, NETLINK_ROUTE)) {
		r = ipvs_link_delete(&d.rt, XLB_IPVS_IFNAME, e2, sizeof(e2));
		if (r && r != -ENODEV && !ret) {
			ret = r;
			xlb_errf(err, errlen, 0, "%s", e2);
		}
		nlsock_close(&d.rt);
	}
	pr_info("cleanup: %u IPVS services of xlb's removed, with %s, its ipsets and nat rules",
		removed, XLB_IPVS_IFNAME);
	xlb_ipset_close(d.ips);
	free(a->claims);
	free(a->vs);
	free(a);
	return ret;
}
