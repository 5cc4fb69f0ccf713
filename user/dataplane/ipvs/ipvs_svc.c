// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * IPVS dataplane: services. One xlb service is one virtual service at its
 * ClusterIP plus, for NodePort, one per node address (kube-proxy's layout).
 * Schedulers: rr -> rr, wrr -> wrr, sh -> sh (source address only); ClientIP
 * affinity -> a persistent service (IP_VS_SVC_F_PERSISTENT, /32).
 *
 * Order of a change: conflicts are checked before anything is touched;
 * then ownership is claimed (ipset members), the address bound, and the
 * virtual services made to match. A new service that fails part way is
 * rolled back; an update that fails part way stays as far as it got and
 * converges on the next set (the reconciler retries).
 *
 * Draining: a backend that is terminating (or has weight 0) keeps its
 * destination at weight 0 while it has connections, and is deleted by the
 * periodic tick once they are gone; one that is not programmed is never
 * added. A backend that is removed is deleted at once: with
 * expire_nodest_conn=1 its connections are expired on their next packet,
 * so the client gets a reset from wherever it lands, never silence.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "log.h"
#include "util/errmsg.h"
#include "ipvs_priv.h"
#include "ipvs_link.h"
#include "util/clock.h"

#define STATS_TTL_MS 200	/* one `xlbctl get` asks for the service, then each backend */

void ipvs_key_of(struct ipvs_key *k, const struct xlb_ip *ip, uint32_t port, uint8_t proto)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->addr, ip->addr.a8, sizeof(k->addr));
	k->port = (uint16_t)port;
	k->proto = proto;
	k->family = ip->family;
}

const char *ipvs_sched_of(enum xlb_algo a)
{
	switch (a) {
	case XLB_ALGO_WRR:
		return "wrr";
	case XLB_ALGO_SH:
		return "sh";
	default:
		return "rr";
	}
}

void ipvs_vs_of(const struct isvc *s, const struct xlb_ip *addr, uint32_t port,
		struct ipvs_service *vs)
{
	memset(vs, 0, sizeof(*vs));
	vs->addr = *addr;
	vs->port = (uint16_t)port;
	vs->proto = s->spec.proto;
	snprintf(vs->sched, sizeof(vs->sched), "%s", ipvs_sched_of(s->spec.algo));
	if (s->spec.affinity_timeout) {
		vs->flags = IP_VS_SVC_F_PERSISTENT;
		vs->timeout = s->spec.affinity_timeout;
	}
	/* persistence per client address: /32 (IPv6: /128) */
	vs->netmask = addr->family == XLB_AF_INET6 ? 128 : 0xffffffffu;
}

void ipvs_cip_elem(const struct xlb_ip *ip, uint32_t port, uint8_t proto, char *buf, size_t len)
{
	char a[XLB_IP_STRLEN];

	snprintf(buf, len, "%s,%s:%u", xlb_ip_str(ip, a, sizeof(a)),
		 proto == IPPROTO_UDP ? "udp" : "tcp", port);
}

void ipvs_loop_elem(const struct ipvs_key *k, char *buf, size_t len)
{
	struct xlb_ip ip = { .family = k->family };
	char a[XLB_IP_STRLEN];

	memcpy(ip.addr.a8, k->addr, sizeof(k->addr));
	xlb_ip_str(&ip, a, sizeof(a));
	snprintf(buf, len, "%s,%s:%u,%s", a, k->proto == IPPROTO_UDP ? "udp" : "tcp", k->port, a);
}

const char *ipvs_np_set(uint8_t proto)
{
	return proto == IPPROTO_UDP ? XLB_IPSET_NODE_PORT_UDP : XLB_IPSET_NODE_PORT_TCP;
}

int ipvs_ref(struct xlb_htab *h, const struct ipvs_key *k, int delta)
{
	struct refcnt *r = xlb_htab_get(h, k, sizeof(*k));

	if (delta > 0) {
		if (r) {
			r->n++;
			return 0;
		}
		r = calloc(1, sizeof(*r));
		if (!r)
			return -ENOMEM;
		r->key = *k;
		r->n = 1;
		if (xlb_htab_put(h, &r->key, sizeof(r->key), r)) {
			free(r);
			return -ENOMEM;
		}
		return 1;
	}
	if (!r)
		return 0;
	if (--r->n)
		return 0;
	xlb_htab_del(h, &r->key, sizeof(r->key));
	free(r);
	return 1;
}

/* Meta stored as the XLB-CLUSTER-IP comment: "np=N NAME". libipset refuses
 * '"' in comments; names are free text, so keep them printable and plain. */
static void claim_comment(const struct xlb_service_spec *s, char *buf, size_t len)
{
	int o = snprintf(buf, len, "np=%u ", xlb_svc_has_node_port(s) ? s->node_port : 0);

	for (const char *p = s->name; *p && o > 0 && (size_t)o + 1 < len; p++)
		buf[o++] = (*p < 0x21 || *p > 0x7e || *p == '"' || *p == '\\') ? '_' : *p;
	buf[o] = 0;
	if (!s->name[0] && (size_t)o + 1 < len)
		snprintf(buf + o, len - (size_t)o, "-");
}

void ipvs_svc_free(struct isvc *s)
{
	if (!s)
		return;
	xlb_service_fini(&s->spec);
	free(s->be);
	free(s->be_id);
	free(s->be_cnt);
	free(s);
}

int ipvs_svc_index(struct xlb_dp_ipvs *d, struct isvc *s)
{
	if (xlb_htab_put(&d->svcs, &s->key, sizeof(s->key), s))
		return -ENOMEM;
	for (size_t i = 0; i < s->n_be; i++)
		if (xlb_htab_put(&d->be_ids, &s->be_id[i], sizeof(uint32_t), s))
			return -ENOMEM;
	return 0;
}

void ipvs_svc_unindex(struct xlb_dp_ipvs *d, struct isvc *s)
{
	for (size_t i = 0; i < s->n_be; i++)
		xlb_htab_del(&d->be_ids, &s->be_id[i], sizeof(uint32_t));
	xlb_htab_del(&d->svcs, &s->key, sizeof(s->key));
}

/* ---- one virtual service --------------------------------------------- */

struct dest_list {
	struct ipvs_dest *d;
	size_t n, cap;
};

static int dest_collect(const struct ipvs_dest *dst, void *arg)
{
	struct dest_list *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct ipvs_dest *nd = realloc(l->d, cap * sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		l->d = nd;
		l->cap = cap;
	}
	l->d[l->n++] = *dst;
	return 0;
}

static struct ipvs_dest *dest_find(struct dest_list *l, const struct xlb_backend_spec *b)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->d[i].port == b->port && xlb_ip_equal(&l->d[i].addr, &b->addr))
			return &l->d[i];
	return NULL;
}

static bool vs_differs(const struct ipvs_service *cur, const struct ipvs_service *want)
{
	uint32_t mask = IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_ONEPACKET | IP_VS_SVC_F_SCHED1 |
			IP_VS_SVC_F_SCHED2 | IP_VS_SVC_F_SCHED3;

	return strcmp(cur->sched, want->sched) || (cur->flags & mask) != (want->flags & mask) ||
	       ((want->flags & IP_VS_SVC_F_PERSISTENT) &&
		(cur->timeout != want->timeout || cur->netmask != want->netmask));
}

int ipvs_ensure_vs(struct xlb_dp_ipvs *d, const struct ipvs_service *vs,
		   const struct xlb_backend_spec *be, size_t n, bool *created,
		   char *err, size_t errlen)
{
	struct ipvs_service cur = *vs;
	struct dest_list kd = {};
	int ret;

	if (created)
		*created = false;
	ret = ipvs_nl_get_service(d->nl, &cur, err, errlen);
	if (ret == -ESRCH) {
		ret = ipvs_nl_add_service(d->nl, vs, err, errlen);
		if (ret)
			return ret;
		if (created)
			*created = true;
	} else if (ret) {
		return ret;
	} else {
		if (vs_differs(&cur, vs)) {
			ret = ipvs_nl_edit_service(d->nl, vs, err, errlen);
			if (ret)
				return ret;
		}
		ret = ipvs_nl_list_dests(d->nl, vs, dest_collect, &kd, err, errlen);
		if (ret)
			goto out;
	}

	for (size_t i = 0; i < n; i++) {
		struct ipvs_dest *k = dest_find(&kd, &be[i]);
		struct ipvs_dest want = {
			.addr = be[i].addr,
			.port = (uint16_t)be[i].port,
			.fwd = IP_VS_CONN_F_MASQ,
			.weight = xlb_backend_selectable(&be[i]) ? (int32_t)be[i].weight : 0,
		};

		if (k)
			k->fwd |= 0x80000000u;	/* seen: kept */
		if (!xlb_backend_selectable(&be[i])) {
			/* drain what is there; nothing to drain otherwise */
			if (k && k->weight != 0)
				ret = ipvs_nl_edit_dest(d->nl, vs, &want, err, errlen);
		} else if (!k) {
			ret = ipvs_nl_add_dest(d->nl, vs, &want, err, errlen);
		} else if (k->weight != want.weight ||
			   (k->fwd & IP_VS_CONN_F_FWD_MASK) != IP_VS_CONN_F_MASQ ||
			   k->u_thresh || k->l_thresh) {
			ret = ipvs_nl_edit_dest(d->nl, vs, &want, err, errlen);
		}
		if (ret)
			goto out;
	}
	for (size_t i = 0; i < kd.n; i++) {
		if (kd.d[i].fwd & 0x80000000u)
			continue;
		ret = ipvs_nl_del_dest(d->nl, vs, &kd.d[i], err, errlen);
		if (ret == -ENOENT)
			ret = 0;
		if (ret)
			goto out;
	}
out:
	free(kd.d);
	return ret;
}

int ipvs_drop_vs(struct xlb_dp_ipvs *d, const struct ipvs_service *vs, char *err, size_t errlen)
{
	int ret = ipvs_nl_del_service(d->nl, vs, err, errlen);

	return ret == -ESRCH ? 0 : ret;
}

/* Every NodePort virtual service at (proto, port), on any address but
 * those in keep[]: the (proto, port) is in xlb's node-port set, so they
 * are xlb's (left behind by an address that went while xlbd was down). */
struct np_sweep {
	struct xlb_dp_ipvs *d;
	uint8_t proto;
	uint32_t port;		/* 0: every port of np[] */
	const uint8_t *np;	/* bitmap of ports, or NULL */
	const struct xlb_ip *keep;
	size_t n_keep;
	struct ipvs_service *victims;
	size_t n, cap;
};

static int sweep_cb(const struct ipvs_service *s, void *arg)
{
	struct np_sweep *w = arg;

	if (s->fwmark || s->proto != w->proto || s->addr.family != XLB_AF_INET)
		return 0;
	if (w->np ? !(w->np[s->port / 8] & (1u << (s->port % 8))) : s->port != w->port)
		return 0;
	for (size_t i = 0; i < w->n_keep; i++)
		if (xlb_ip_equal(&w->keep[i], &s->addr))
			return 0;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 8;
		struct ipvs_service *nv = realloc(w->victims, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		w->victims = nv;
		w->cap = cap;
	}
	w->victims[w->n++] = *s;
	return 0;
}

static int np_sweep_run(struct np_sweep *w, uint32_t *removed)
{
	char err[256];
	int ret = ipvs_nl_list_services(w->d->nl, sweep_cb, w, err, sizeof(err));

	if (ret) {
		pr_warn("%s", err);
		free(w->victims);
		return ret;
	}
	for (size_t i = 0; i < w->n; i++) {
		char sv[64];

		if (ipvs_drop_vs(w->d, &w->victims[i], err, sizeof(err)))
			pr_warn("%s", err);
		else {
			pr_info("removed NodePort service %s (not a node address)",
				ipvs_service_str(&w->victims[i], sv, sizeof(sv)));
			if (removed)
				(*removed)++;
		}
	}
	free(w->victims);
	return 0;
}

/* ---- service_set ----------------------------------------------------- */

static bool np_of(const struct xlb_service_spec *s, uint8_t *proto, uint32_t *port)
{
	if (!xlb_svc_has_node_port(s))
		return false;
	*proto = s->proto;
	*port = s->node_port;
	return true;
}

/* Another xlb service or a foreign virtual service holding what s wants. */
static int check_conflicts(struct xlb_dp_ipvs *d, const struct xlb_service_spec *spec,
			   const struct isvc *old, char *err, size_t errlen)
{
	struct ipvs_service vs = { .addr = spec->vip, .port = (uint16_t)spec->port,
				   .proto = spec->proto };
	char sv[64], ap[64];
	uint8_t np_proto, onp_proto;
	uint32_t np, onp;
	int ret;

	if (!old) {
		ret = ipvs_nl_get_service(d->nl, &vs, err, errlen);
		if (!ret) {
			return xlb_errf(
			    err, errlen, -EEXIST,
			    "service %s: a virtual service with this address already exists in "
			    "IPVS and is not xlb's (not in ipset %s): left alone",
			    ipvs_service_str(&vs, sv, sizeof(sv)), XLB_IPSET_CLUSTER_IP);
		}
		if (ret != -ESRCH)
			return ret;
	}
	if (!np_of(spec, &np_proto, &np) ||
	    (old && np_of(&old->spec, &onp_proto, &onp) && onp == np && onp_proto == np_proto))
		return 0;
	{
		size_t pos = 0;
		struct isvc *o;

		while ((o = xlb_htab_next(&d->svcs, &pos))) {
			if (o == old || !np_of(&o->spec, &onp_proto, &onp) || onp != np ||
			    onp_proto != np_proto)
				continue;
			return xlb_errf(err, errlen, -EEXIST,
					"service %s:%u/%s: node port %u already in use by %s",
					xlb_ip_str(&spec->vip, ap, sizeof(ap)), spec->port,
					xlb_proto_name(spec->proto), np, o->spec.name);
		}
	}
	for (size_t i = 0; i < d->n_node; i++) {
		struct ipvs_service nvs = { .addr = d->node[i], .port = (uint16_t)np,
					    .proto = np_proto };

		ret = ipvs_nl_get_service(d->nl, &nvs, err, errlen);
		if (!ret) {
			return xlb_errf(
			    err, errlen, -EEXIST,
			    "service %s:%u/%s: node port %u: %s already exists in IPVS and is "
			    "not xlb's: left alone",
			    xlb_ip_str(&spec->vip, ap, sizeof(ap)), spec->port,
			    xlb_proto_name(spec->proto), np,
			    ipvs_service_str(&nvs, sv, sizeof(sv)));
		}
		if (ret != -ESRCH)
			return ret;
	}
	return 0;
}

static void loop_key(struct ipvs_key *k, const struct xlb_backend_spec *b, uint8_t proto)
{
	ipvs_key_of(k, &b->addr, b->port, proto);
}

/* Take (delta +1) or release (-1) the XLB-LOOP-BACK members of be[]. */
static void loop_refs(struct xlb_dp_ipvs *d, const struct xlb_backend_spec *be, size_t n,
		      uint8_t proto, int delta)
{
	for (size_t i = 0; i < n; i++) {
		struct ipvs_key k;
		char elem[96], err[256];
		int r;

		loop_key(&k, &be[i], proto);
		r = ipvs_ref(&d->loops, &k, delta);
		if (r != 1)
			continue;
		ipvs_loop_elem(&k, elem, sizeof(elem));
		if (xlb_ipset_cmd(d->ips, err, sizeof(err), delta > 0 ? "add" : "del",
				  XLB_IPSET_LOOP_BACK, elem, NULL))
			pr_warn("%s", err);
	}
}

static int vip_ref(struct xlb_dp_ipvs *d, const struct xlb_ip *vip, int delta,
		   char *err, size_t errlen)
{
	struct ipvs_key k;
	int r;

	ipvs_key_of(&k, vip, 0, 0);
	r = ipvs_ref(&d->vips, &k, delta);
	if (r < 0)
		return r;
	if (r == 0)
		return 0;
	if (delta < 0)
		return ipvs_link_addr_del(&d->rt, d->ifindex, vip, err, errlen);
	r = ipvs_link_addr_add(&d->rt, d->ifindex, vip, err, errlen);
	if (r)
		ipvs_ref(&d->vips, &k, -1);
	return r;
}

static int claim(struct xlb_dp_ipvs *d, const struct xlb_service_spec *s, bool on,
		 char *err, size_t errlen)
{
	char elem[96], comment[200], port[8];
	int ret;

	ipvs_cip_elem(&s->vip, s->port, s->proto, elem, sizeof(elem));
	if (on) {
		claim_comment(s, comment, sizeof(comment));
		ret = xlb_ipset_cmd(d->ips, err, errlen, "add", XLB_IPSET_CLUSTER_IP, elem,
				    "comment", comment, NULL);
	} else {
		ret = xlb_ipset_cmd(d->ips, err, errlen, "del", XLB_IPSET_CLUSTER_IP, elem, NULL);
	}
	if (ret || !xlb_svc_has_node_port(s))
		return ret;
	snprintf(port, sizeof(port), "%u", (unsigned int)(uint16_t)s->node_port);
	return xlb_ipset_cmd(d->ips, err, errlen, on ? "add" : "del", ipvs_np_set(s->proto), port,
			     NULL);
}

/* The service as it will be indexed: spec, backends and their ids (kept
 * from old for the backends it had, new for the others). NULL on ENOMEM. */
static struct isvc *isvc_new(struct xlb_dp_ipvs *d, const struct ipvs_key *key,
			     const struct xlb_service_spec *spec,
			     const struct xlb_backend_spec *be, size_t n, const struct isvc *old)
{
	struct isvc *ns = calloc(1, sizeof(*ns));

	if (!ns)
		return NULL;
	ns->key = *key;
	ns->n_be = n;
	ns->be = calloc(n ? n : 1, sizeof(*ns->be));
	ns->be_id = calloc(n ? n : 1, sizeof(*ns->be_id));
	ns->be_cnt = calloc(n ? n : 1, sizeof(*ns->be_cnt));
	if (xlb_service_copy(&ns->spec, spec) || !ns->be || !ns->be_id || !ns->be_cnt) {
		ipvs_svc_free(ns);
		return NULL;
	}
	ns->id = old ? old->id : ++d->next_id;
	if (n)
		memcpy(ns->be, be, n * sizeof(*be));
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; old && j < old->n_be; j++)
			if (old->be[j].port == be[i].port && xlb_ip_equal(&old->be[j].addr, &be[i].addr))
				ns->be_id[i] = old->be_id[j];
		if (!ns->be_id[i])
			ns->be_id[i] = ++d->next_be_id;
	}
	return ns;
}

/* A node port the service no longer has: its virtual services on every
 * node address and its ipset entry go. */
static void retire_node_port(struct xlb_dp_ipvs *d, const struct xlb_service_spec *old)
{
	struct np_sweep w = { .d = d, .proto = old->proto, .port = old->node_port };
	char port[8], verr[256];

	np_sweep_run(&w, NULL);
	snprintf(port, sizeof(port), "%u", old->node_port);
	if (xlb_ipset_cmd(d->ips, verr, sizeof(verr), "del", ipvs_np_set(old->proto), port, NULL))
		pr_warn("%s", verr);
}

static int service_set(struct xlb_dp *dp, const struct xlb_service_spec *spec,
		       const struct xlb_backend_spec *be, size_t n, char *err, size_t errlen);

/* internalTrafficPolicy Local: one virtual service holds the cluster IP and
 * (as a second one) the node port with the same real servers, so here both
 * get the local endpoints only (the BPF dataplane gives the node port all). */
int ipvs_service_set(struct xlb_dp *dp, const struct xlb_service_spec *spec,
		     const struct xlb_backend_spec *be, size_t n, char *err, size_t errlen)
{
	struct xlb_backend_spec *local;
	size_t k = 0;
	int ret;

	if (spec->int_policy != XLB_POLICY_LOCAL)
		return service_set(dp, spec, be, n, err, errlen);
	local = calloc(n ? n : 1, sizeof(*local));
	if (!local)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!be[i].local)
			continue;
		local[k] = be[i];
		/* the local endpoints' own terminating fallback (KEP-1669) */
		local[k++].terminating = be[i].local_terminating;
	}
	ret = service_set(dp, spec, local, k, err, errlen);
	free(local);
	return ret;
}

static int service_set(struct xlb_dp *dp, const struct xlb_service_spec *spec,
		       const struct xlb_backend_spec *be, size_t n, char *err, size_t errlen)
{
	struct xlb_dp_ipvs *d = to_ipvs(dp);
	struct isvc *old, *ns;
	struct ipvs_service vs;
	struct ipvs_key key;
	bool created = false, vip_held = false, *node_created = NULL;
	char verr[256];
	int ret;

	xlb_dp_note_unsupported(spec);
	if (spec->vip.family != XLB_AF_INET) {
		return xlb_errf(err, errlen, -EAFNOSUPPORT,
				"service %s: the IPVS dataplane serves IPv4 only", spec->name);
	}
	ipvs_key_of(&key, &spec->vip, spec->port, spec->proto);
	old = xlb_htab_get(&d->svcs, &key, sizeof(key));
	ret = check_conflicts(d, spec, old, err, errlen);
	if (ret)
		return ret;

	ns = isvc_new(d, &key, spec, be, n, old);
	node_created = calloc(d->n_node + 1, sizeof(*node_created));
	if (!ns || !node_created) {
		ret = -ENOMEM;
		goto fail_alloc;
	}

	/* claim, bind, program */
	ret = claim(d, spec, true, err, errlen);
	if (!ret && !old) {
		ret = vip_ref(d, &spec->vip, +1, err, errlen);
		vip_held = ret >= 0;
	}
	if (ret)
		goto fail_new;
	ipvs_vs_of(ns, &spec->vip, spec->port, &vs);
	ret = ipvs_ensure_vs(d, &vs, be, n, &created, err, errlen);
	for (size_t i = 0; !ret && xlb_svc_has_node_port(spec) && i < d->n_node; i++) {
		ipvs_vs_of(ns, &d->node[i], spec->node_port, &vs);
		ret = ipvs_ensure_vs(d, &vs, be, n, &node_created[i], err, errlen);
	}
	if (ret)
		goto fail_new;

	if (old && xlb_svc_has_node_port(&old->spec) &&
	    (!xlb_svc_has_node_port(spec) || old->spec.node_port != spec->node_port))
		retire_node_port(d, &old->spec);
	loop_refs(d, be, n, spec->proto, +1);
	if (old) {
		loop_refs(d, old->be, old->n_be, old->spec.proto, -1);
		ipvs_svc_unindex(d, old);
		ipvs_svc_free(old);
	}
	ret = ipvs_svc_index(d, ns);
	free(node_created);
	return ret;

fail_new:
	if (old) {
		/* an update stops where it failed; the next set converges, and
		 * service_list shows what was asked for */
		loop_refs(d, be, n, spec->proto, +1);
		loop_refs(d, old->be, old->n_be, old->spec.proto, -1);
		ipvs_svc_unindex(d, old);
		ipvs_svc_free(old);
		if (ipvs_svc_index(d, ns))
			pr_warn("service %s: out of memory indexing it", spec->name);
		free(node_created);
		return ret;
	}
	/* a new service is undone: only what this call created */
	for (size_t i = 0; xlb_svc_has_node_port(spec) && i < d->n_node; i++) {
		if (!node_created[i])
			continue;
		ipvs_vs_of(ns, &d->node[i], spec->node_port, &vs);
		ipvs_drop_vs(d, &vs, verr, sizeof(verr));
	}
	if (created) {
		ipvs_vs_of(ns, &spec->vip, spec->port, &vs);
		ipvs_drop_vs(d, &vs, verr, sizeof(verr));
	}
	claim(d, spec, false, verr, sizeof(verr));
	if (vip_held)
		vip_ref(d, &spec->vip, -1, verr, sizeof(verr));
fail_alloc:
	free(node_created);
	ipvs_svc_free(ns);
	return ret;
}

int ipvs_service_delete(struct xlb_dp *dp, const struct xlb_service_spec *spec,
			char *err, size_t errlen)
{
	struct xlb_dp_ipvs *d = to_ipvs(dp);
	struct ipvs_service vs;
	struct ipvs_key key;
	struct isvc *s;
	char ap[64];
	int ret;

	ipvs_key_of(&key, &spec->vip, spec->port, spec->proto);
	s = xlb_htab_get(&d->svcs, &key, sizeof(key));
	if (!s) {
		return xlb_errf(err, errlen, -ENOENT, "service %s:%u/%s: not found",
				xlb_ip_str(&spec->vip, ap, sizeof(ap)), spec->port,
				xlb_proto_name(spec->proto));
	}
	ipvs_vs_of(s, &s->spec.vip, s->spec.port, &vs);
	ret = ipvs_drop_vs(d, &vs, err, errlen);
	if (ret)
		return ret;
	if (xlb_svc_has_node_port(&s->spec)) {
		struct np_sweep w = { .d = d, .proto = s->spec.proto, .port = s->spec.node_port };

		np_sweep_run(&w, NULL);
	}
	/* ownership goes last: a crash before this leaves a claim without a
	 * service, which the next open removes */
	if (claim(d, &s->spec, false, err, errlen))
		pr_warn("%s", err);
	if (vip_ref(d, &s->spec.vip, -1, err, errlen))
		pr_warn("%s", err);
	if (err)
		err[0] = 0;
	loop_refs(d, s->be, s->n_be, s->spec.proto, -1);
	ipvs_svc_unindex(d, s);
	ipvs_svc_free(s);
	return 0;
}

int ipvs_service_list(struct xlb_dp *dp, xlb_svc_cb cb, void *arg)
{
	struct xlb_dp_ipvs *d = to_ipvs(dp);
	size_t pos = 0;
	struct isvc *s;

	while ((s = xlb_htab_next(&d->svcs, &pos))) {
		struct xlb_dp_service out = {
			.spec = s->spec,
			.id = s->id,
			.n_backends = s->n_be,
			.backends = s->be,
			.backend_ids = s->be_id,
		};
		int ret = cb(&out, arg);

		if (ret)
			return ret;
	}
	return 0;
}

/* ---- stats ------------------------------------------------------------ */

static void add_stats(struct xlb_counters *c, const struct ipvs_stats *s)
{
	c->packets += s->inpkts + s->outpkts;
	c->bytes += s->inbytes + s->outbytes;
	c->new_flows += s->conns;
}

struct be_acc {
	struct isvc *s;
};

static int be_acc_cb(const struct ipvs_dest *dst, void *arg)
{
	struct isvc *s = ((struct be_acc *)arg)->s;

	for (size_t i = 0; i < s->n_be; i++)
		if (s->be[i].port == dst->port && xlb_ip_equal(&s->be[i].addr, &dst->addr))
			add_stats(&s->be_cnt[i], &dst->stats);
	return 0;
}

/* Sum over the service's virtual services (ClusterIP + node addresses). */
static int refresh_stats(struct xlb_dp_ipvs *d, struct isvc *s)
{
	struct be_acc acc = { .s = s };
	size_t n_vs = 1 + (xlb_svc_has_node_port(&s->spec) ? d->n_node : 0);
	int64_t now = xlb_clock_ms();

	if (s->stats_ms && now - s->stats_ms < STATS_TTL_MS)
		return 0;
	memset(&s->total, 0, sizeof(s->total));
	memset(s->be_cnt, 0, (s->n_be ? s->n_be : 1) * sizeof(*s->be_cnt));
	for (size_t i = 0; i < n_vs; i++) {
		struct ipvs_service vs;

		if (i == 0)
			ipvs_vs_of(s, &s->spec.vip, s->spec.port, &vs);
		else
			ipvs_vs_of(s, &d->node[i - 1], s->spec.node_port, &vs);
		if (ipvs_nl_get_service(d->nl, &vs, NULL, 0))
			continue;
		add_stats(&s->total, &vs.stats);
		ipvs_nl_list_dests(d->nl, &vs, be_acc_cb, &acc, NULL, 0);
	}
	s->stats_ms = now;
	return 0;
}

int ipvs_service_stats(struct xlb_dp *dp, const struct xlb_service_spec *spec,
		       struct xlb_counters *out)
{
	struct xlb_dp_ipvs *d = to_ipvs(dp);
	struct ipvs_key key;
	struct isvc *s;

	ipvs_key_of(&key, &spec->vip, spec->port, spec->proto);
	s = xlb_htab_get(&d->svcs, &key, sizeof(key));
	if (!s)
		return -ENOENT;
	s->stats_ms = 0;	/* a fresh reading per listing */
	refresh_stats(d, s);
	*out = s->total;
	return 0;
}

int ipvs_backend_stats(struct xlb_dp *dp, uint32_t id, struct xlb_counters *out)
{
	struct xlb_dp_ipvs *d = to_ipvs(dp);
	struct isvc *s = xlb_htab_get(&d->be_ids, &id, sizeof(id));

	if (!s)
		return -EINVAL;
	refresh_stats(d, s);
	for (size_t i = 0; i < s->n_be; i++) {
		if (s->be_id[i] == id) {
			*out = s->be_cnt[i];
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- the periodic tick ------------------------------------------------ */

struct drain_ctx {
	struct xlb_dp_ipvs *d;
	struct ipvs_conn *conns;
	size_t n_conns;
	int conns_ret;		/* 1: not read yet */
};

static bool dest_busy(struct drain_ctx *c, const struct ipvs_service *vs, const struct ipvs_dest *dst)
{
	if (c->conns_ret == 1)
		c->conns_ret = ipvs_conn_read(&c->conns, &c->n_conns);
	if (c->conns_ret)	/* no table to read: the kernel's own counters */
		return dst->active_conns + dst->inact_conns > 0;
	for (size_t i = 0; i < c->n_conns; i++) {
		const struct ipvs_conn *k = &c->conns[i];

		if (k->proto == vs->proto && k->vport == vs->port && k->dport == dst->port &&
		    xlb_ip_equal(&k->vaddr, &vs->addr) && xlb_ip_equal(&k->daddr, &dst->addr) &&
		    ipvs_conn_live(k, &c->d->to))
			return true;
	}
	return false;
}

static uint32_t drain_vs(struct drain_ctx *c, struct isvc *s, const struct ipvs_service *vs)
{
	struct xlb_dp_ipvs *d = c->d;
	struct dest_list kd = {};
	uint32_t removed = 0;
	char err[256], dv[64], sv[64];

	if (ipvs_nl_list_dests(d->nl, vs, dest_collect, &kd, NULL, 0))
		return 0;
	for (size_t i = 0; i < s->n_be; i++) {
		struct ipvs_dest *k;

		if (xlb_backend_selectable(&s->be[i]))
			continue;
		k = dest_find(&kd, &s->be[i]);
		if (!k || k->weight != 0 || dest_busy(c, vs, k))
			continue;
		if (ipvs_nl_del_dest(d->nl, vs, k, err, sizeof(err))) {
			pr_warn("drain: %s", err);
			continue;
		}
		removed++;
		pr_info("drained backend %s of %s removed (no connections left)",
			ipvs_addr_port_str(&k->addr, k->port, dv, sizeof(dv)),
			ipvs_service_str(vs, sv, sizeof(sv)));
	}
	free(kd.d);
	return removed;
}

int ipvs_expire(struct xlb_dp *dp, const struct xlb_ct_timeouts *t, uint32_t *removed)
{
	struct xlb_dp_ipvs *d = to_ipvs(dp);
	struct drain_ctx c = { .d = d, .conns_ret = 1 };
	uint32_t n = 0;
	size_t pos = 0;
	struct isvc *s;
	bool any_np = false;

	ipvs_nl_get_timeouts(d->nl, &d->to, NULL, 0);
	while ((s = xlb_htab_next(&d->svcs, &pos))) {
		bool draining = false;
		struct ipvs_service vs;

		any_np |= xlb_svc_has_node_port(&s->spec);
		for (size_t i = 0; i < s->n_be && !draining; i++)
			draining = !xlb_backend_selectable(&s->be[i]);
		if (!draining)
			continue;
		ipvs_vs_of(s, &s->spec.vip, s->spec.port, &vs);
		n += drain_vs(&c, s, &vs);
		for (size_t i = 0; xlb_svc_has_node_port(&s->spec) && i < d->n_node; i++) {
			ipvs_vs_of(s, &d->node[i], s->spec.node_port, &vs);
			n += drain_vs(&c, s, &vs);
		}
	}
	free(c.conns);

	/* NodePort services on addresses the node no longer has. Not on the
	 * first tick: the node's addresses arrive just after open. */
	if (any_np && d->ticks++ > 0) {
		uint8_t np[2][8192] = {};
		size_t npos = 0;
		struct isvc *o;

		while ((o = xlb_htab_next(&d->svcs, &npos)))
			if (xlb_svc_has_node_port(&o->spec))
				np[o->spec.proto == IPPROTO_UDP][o->spec.node_port / 8] |=
					(uint8_t)(1u << (o->spec.node_port % 8));
		for (int p = 0; p < 2; p++) {
			struct np_sweep w = { .d = d, .proto = p ? IPPROTO_UDP : IPPROTO_TCP,
					      .np = np[p], .keep = d->node, .n_keep = d->n_node };

			np_sweep_run(&w, &n);
		}
	}
	if (removed)
		*removed = n;
	return 0;
}
