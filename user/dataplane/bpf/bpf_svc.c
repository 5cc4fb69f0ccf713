// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * BPF dataplane: services, backends and their selection tables.
 *
 * Order of every update (make-before-break): backends that are new get
 * their entries first; then the new selection table is written into a
 * fresh range; then the service entry switches to it in one map update;
 * only then are removed backends marked free and the old range put in
 * quarantine. A packet sees either the old or the new table, whole.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/netlink.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "model/maglev.h"
#include "model/seqtable.h"
#include "util/clock.h"
#include "netlink/neigh.h"
#include "bpf_priv.h"
#include "xlb.skel.h"
#include "xlb_sock.skel.h"

#define ERR(...) do { if (err) snprintf(err, errlen, __VA_ARGS__); } while (0)

static struct svc_state *svc_find(struct xlb_dp_bpf *d, const struct xlb_service_spec *spec)
{
	struct xlb_svc_ident k;

	xlb_svc_ident_of(&k, spec);
	return xlb_htab_get(&d->by_key, &k, sizeof(k));
}

static void svc_state_free(struct svc_state *s)
{
	if (!s)
		return;
	xlb_service_fini(&s->spec);
	free(s->be);
	free(s->be_id);
	free(s);
}

void xlb_dp_bpf_svc_free_all(struct xlb_dp_bpf *d)
{
	if (d->by_id)
		for (uint32_t i = 0; i < d->max_services; i++)
			svc_state_free(d->by_id[i]);
	free(d->by_id);
	xlb_htab_fini(&d->by_key);
	free(d->be_used);
	free(d->be_gen);
	free(d->be_freed);
	free(d->port_refs);
	d->port_refs = NULL;
	xlb_ranges_fini(&d->sel);
	d->by_id = NULL;
	d->be_used = NULL;
	d->be_gen = NULL;
	d->be_freed = NULL;
}

static void svc_key_of(struct xlb_svc_key *k, const struct xlb_ip *addr, uint32_t port, uint8_t proto)
{
	memset(k, 0, sizeof(*k));
	k->addr = addr->addr;
	k->port = htons((uint16_t)port);
	k->proto = proto;
	k->family = addr->family;
}

static void np_key_of(struct xlb_svc_key *k, const struct xlb_service_spec *s)
{
	struct xlb_ip any = { .family = s->vip.family };

	svc_key_of(k, &any, s->node_port, s->proto);
}

static int alloc_svc_id(struct xlb_dp_bpf *d, uint32_t *id)
{
	for (uint32_t n = 0; n < d->max_services; n++) {
		uint32_t i = (d->svc_hint + n) % d->max_services;

		if (!d->by_id[i]) {
			d->svc_hint = i + 1;
			*id = i;
			return 0;
		}
	}
	return -ENOSPC;
}

/* Backend id 0 means "none" in the datapath. An id freed less than a
 * grace period ago is not reused: a packet that read it from the old
 * selection table just before the switch must still find the backend it
 * meant, not somebody else's. */
static int alloc_be_id(struct xlb_dp_bpf *d, uint64_t now, uint32_t *id)
{
	for (uint32_t n = 0; n < d->max_backends; n++) {
		uint32_t i = (d->be_hint + n) % d->max_backends;

		if (i && !d->be_used[i] &&
		    (!d->be_freed[i] || now - d->be_freed[i] >= d->grace_ns)) {
			d->be_used[i] = 1;
			d->be_hint = i + 1;
			*id = i;
			return 0;
		}
	}
	return -ENOSPC;
}

static void be_entry(struct xlb_backend *e, const struct xlb_backend_spec *b,
		     uint32_t svc_id, uint32_t gen)
{
	memset(e, 0, sizeof(*e));
	e->addr = b->addr.addr;
	e->port = htons((uint16_t)b->port);
	e->family = b->addr.family;
	e->state = xlb_backend_selectable(b) ? XLB_BE_ACTIVE : XLB_BE_TERMINATING;
	e->svc_id = svc_id;
	e->gen = gen;
	e->weight = (uint16_t)b->weight;
	e->flags = (b->local ? XLB_BE_F_LOCAL : 0) | (b->remote ? XLB_BE_F_REMOTE : 0) |
		   (b->terminating ? XLB_BE_F_TERMINATING : 0) |
		   (b->local_terminating ? XLB_BE_F_LOCAL_TERMINATING : 0);
}

/* Build the selection table (backend ids) for the selectable backends;
 * local_only: those on this node, by their own terminating fallback
 * (internalTrafficPolicy Local). */
static int build_table(const struct xlb_service_spec *s, const struct xlb_backend_spec *be,
		       const uint32_t *ids, size_t n, bool local_only, uint32_t **out,
		       uint32_t *len)
{
	struct xlb_maglev_backend *mb = NULL;
	uint32_t *w = NULL, *idx = NULL, *tab = NULL, *map = NULL;
	size_t k = 0, tlen = 0;
	int err = 0;

	*out = NULL;
	*len = 0;
	map = calloc(n ? n : 1, sizeof(*map));
	w = calloc(n ? n : 1, sizeof(*w));
	mb = calloc(n ? n : 1, sizeof(*mb));
	if (!map || !w || !mb) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (local_only ? !xlb_backend_selectable_local(&be[i]) : !xlb_backend_selectable(&be[i]))
			continue;
		map[k] = ids[i];
		w[k] = s->algo == XLB_ALGO_RR ? 1 : be[i].weight;
		mb[k].key = xlb_maglev_key(be[i].addr.addr.a8, (uint16_t)be[i].port);
		mb[k].weight = be[i].weight;
		k++;
	}
	if (!k)
		goto out;

	if (s->algo == XLB_ALGO_SH) {
		tlen = xlb_maglev_size(k);
		if (!tlen) {
			err = -E2BIG;
			goto out;
		}
		idx = calloc(tlen, sizeof(*idx));
		if (!idx) {
			err = -ENOMEM;
			goto out;
		}
		err = xlb_maglev_build(mb, k, (uint32_t)tlen, idx);
	} else {
		idx = calloc(XLB_SEQ_MAX_SIZE, sizeof(*idx));
		if (!idx) {
			err = -ENOMEM;
			goto out;
		}
		err = xlb_seq_build(w, k, idx, XLB_SEQ_MAX_SIZE, &tlen);
	}
	if (err)
		goto out;
	tab = malloc(tlen * sizeof(*tab));
	if (!tab) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < tlen; i++)
		tab[i] = map[idx[i]];
	*out = tab;
	*len = (uint32_t)tlen;
out:
	free(map);
	free(w);
	free(mb);
	free(idx);
	return err;
}

static int write_table(struct xlb_dp_bpf *d, uint32_t base, const uint32_t *tab, uint32_t len)
{
	int fd = bpf_map__fd(d->skel->maps.sel_map);
	uint32_t *keys;
	uint32_t count = len;
	int err;

	if (!len)
		return 0;
	keys = malloc(len * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (uint32_t i = 0; i < len; i++)
		keys[i] = base + i;
	err = bpf_map_update_batch(fd, keys, tab, &count, NULL);
	if (err) {
		/* older kernels: one by one */
		err = 0;
		for (uint32_t i = 0; i < len && !err; i++)
			err = bpf_map_update_elem(fd, &keys[i], &tab[i], BPF_ANY);
	}
	free(keys);
	return err ? -errno : 0;
}

static int find_be(const struct svc_state *s, const struct xlb_backend_spec *b)
{
	if (!s)
		return -1;
	for (size_t i = 0; i < s->n_be; i++)
		if (s->be[i].port == b->port && xlb_ip_equal(&s->be[i].addr, &b->addr))
			return (int)i;
	return -1;
}

/* port_map: which ports backends and node ports use (abi.h). Counted per
 * use; the map changes when a port's first use comes or its last goes. */
enum { PORT_BACKEND = 0, PORT_NODEPORT = 1 };

static uint32_t port_flags_of(const struct xlb_dp_bpf *d, uint32_t port)
{
	return (d->port_refs[port] ? XLB_PORT_F_BACKEND : 0) |
	       (d->port_refs[65536 + port] ? XLB_PORT_F_NODEPORT : 0);
}

static void port_ref(struct xlb_dp_bpf *d, uint32_t port, int kind, int delta)
{
	uint32_t *c = &d->port_refs[kind * 65536 + (port & 0xffff)], before, after;

	before = port_flags_of(d, port & 0xffff);
	*c += delta;
	after = port_flags_of(d, port & 0xffff);
	if (before != after) {
		uint32_t k = port & 0xffff;

		bpf_map_update_elem(bpf_map__fd(d->skel->maps.port_map), &k, &after, BPF_ANY);
	}
}

/* The ports of a service's backends and its node port: delta +1 or -1. */
static void svc_ports(struct xlb_dp_bpf *d, const struct xlb_service_spec *spec,
		      const struct xlb_backend_spec *be, size_t n, int delta)
{
	for (size_t i = 0; i < n; i++)
		port_ref(d, be[i].port, PORT_BACKEND, delta);
	if (xlb_svc_has_node_port(spec))
		port_ref(d, spec->node_port, PORT_NODEPORT, delta);
}

/* Free a backend id: its entry says FREE, so flows pinned to it see their
 * backend gone, and the id rests for the grace period (alloc_be_id). */
static void be_release(struct xlb_dp_bpf *d, int be_fd, uint32_t id, uint64_t now)
{
	struct xlb_backend e = { .gen = d->be_gen[id], .state = XLB_BE_FREE };

	bpf_map_update_elem(be_fd, &id, &e, BPF_ANY);
	d->be_used[id] = 0;
	d->be_freed[id] = now;
}

/* dsr_be: a backend on this node by (service id, address), for the flows
 * other nodes send it by DSR (abi.h); any other backend has no entry. */
static void dsr_be_put(struct xlb_dp_bpf *d, uint32_t svc_id, const struct xlb_addr *addr,
		       uint8_t family, bool local, uint32_t id)
{
	struct xlb_dsr_be_key k = { .svc_id = svc_id, .addr = addr->a32[0] };
	int fd = bpf_map__fd(d->skel->maps.dsr_be);
	uint32_t have;

	if (family != XLB_AF_INET)
		return;
	if (local) {
		if (bpf_map_update_elem(fd, &k, &id, BPF_ANY))
			pr_warn("service %u: dsr_be entry of backend %u: %s", svc_id, id,
				strerror(errno));
	} else if (!bpf_map_lookup_elem(fd, &k, &have) && have == id) {
		bpf_map_delete_elem(fd, &k);	/* its own, not a namesake's */
	}
}

static int svc_val_write(int fd, const struct xlb_svc_key *k, const struct xlb_svc_val *v)
{
	return bpf_map_update_elem(fd, k, v, BPF_ANY) ? -errno : 0;
}

/* The keys external clients reach a service by, beyond its node port:
 * LoadBalancer ingress IPs, then external IPs, each with its flags. */
struct ext_key {
	struct xlb_svc_key k;
	uint8_t flags;
};

static size_t ext_keys_of(const struct xlb_service_spec *s, struct ext_key *out)
{
	size_t n = 0;

	for (uint32_t i = 0; i < s->n_lb_ips; i++, n++) {
		svc_key_of(&out[n].k, &s->addrs->lb_ips[i], s->port, s->proto);
		out[n].flags = XLB_SVC_F_EXTERNAL | XLB_SVC_F_LB_IP |
			       (s->n_source_ranges ? XLB_SVC_F_SRC_RANGES : 0);
	}
	for (uint32_t i = 0; i < s->n_external_ips; i++, n++) {
		svc_key_of(&out[n].k, &s->addrs->external_ips[i], s->port, s->proto);
		out[n].flags = XLB_SVC_F_EXTERNAL;
	}
	return n;
}

static bool ext_key_in(const struct xlb_svc_key *k, const struct ext_key *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(k, &v[i].k, sizeof(*k)))
			return true;
	return false;
}

/* Does the service send external flows to other nodes by DSR? Its own
 * lb-mode, else the node's. */
static bool svc_dsr(const struct xlb_dp_bpf *d, const struct xlb_service_spec *s)
{
	return s->lb_mode == XLB_LB_MODE_DSR || (s->lb_mode == XLB_LB_MODE_DEFAULT && d->lb_mode_dsr);
}

/* The value of an external key: the service address's, or the external
 * keys' own table (np_own); Local when externalTrafficPolicy says so; DSR
 * when the lb-mode is. */
static struct xlb_svc_val ext_val(const struct xlb_dp_bpf *d, const struct xlb_svc_val *cluster,
				  const struct svc_state *s, uint8_t flags)
{
	struct xlb_svc_val v = *cluster;

	v.flags |= flags;
	if (s->spec.ext_policy == XLB_POLICY_LOCAL)
		v.flags |= XLB_SVC_F_LOCAL;
	if (svc_dsr(d, &s->spec))
		v.flags |= XLB_SVC_F_DSR;
	if (s->np_own) {
		v.sel_base = s->np_sel_base;
		v.slots = s->np_slots;
	}
	return v;
}

/* loadBalancerSourceRanges into src_ranges (add) or out of it; the IPv6
 * ones into src_ranges6, which only a restart reads. */
static int src_ranges_set(struct xlb_dp_bpf *d, uint32_t id, const struct xlb_service_spec *s,
			  const struct xlb_service_spec *keep, bool add)
{
	int fd4 = bpf_map__fd(d->skel->maps.src_ranges);
	int fd6 = bpf_map__fd(d->skel->maps.src_ranges6);
	uint32_t one = 1;

	for (uint32_t i = 0; i < s->n_source_ranges; i++) {
		const struct xlb_cidr *c = &s->addrs->source_ranges[i];
		struct xlb_src_range_key k4 = { .prefixlen = 32 + c->prefix, .svc_id = id,
						.addr = c->ip.addr.a32[0] };
		struct xlb_src_range6_key k6 = { .prefixlen = 32 + c->prefix, .svc_id = id,
						 .addr = c->ip.addr };
		bool v4 = c->ip.family == XLB_AF_INET, kept = false;
		int fd = v4 ? fd4 : fd6;
		void *k = v4 ? (void *)&k4 : (void *)&k6;

		for (uint32_t j = 0; keep && j < keep->n_source_ranges && !kept; j++)
			kept = keep->addrs->source_ranges[j].prefix == c->prefix &&
			       xlb_ip_equal(&keep->addrs->source_ranges[j].ip, &c->ip);
		if (kept)
			continue;
		if (add && bpf_map_update_elem(fd, k, &one, BPF_ANY))
			return -errno;
		if (!add)
			bpf_map_delete_elem(fd, k);
	}
	return 0;
}

/* Backends on other nodes are reached by XDP alone (SNAT): their next
 * hops are kept resolved, once per address (netlink/neigh.h; nh_done holds
 * a copy of each address, its own key). Failures are logged: the flows
 * then wait for the kernel to resolve it. */
static void nexthops_keep(struct xlb_dp_bpf *d, const struct xlb_backend_spec *be, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char nerr[256] = "";
		struct xlb_addr *done;
		int ret;

		if (!be[i].remote || be[i].addr.family != XLB_AF_INET ||
		    xlb_htab_get(&d->nh_done, &be[i].addr.addr, sizeof(be[i].addr.addr)))
			continue;
		if (!d->nl_open) {
			ret = nlsock_open(&d->nl, NETLINK_ROUTE);
			if (ret) {
				pr_warn("next hops: open a routing socket: %s", strerror(-ret));
				return;
			}
			d->nl_open = true;
		}
		ret = xlb_nl_nexthop_keep(&d->nl, &be[i].addr, NULL, nerr, sizeof(nerr));
		if (ret)
			pr_warn("next hops: %s", nerr);
		done = malloc(sizeof(*done));
		if (!done)
			continue;	/* tried again next time */
		*done = be[i].addr.addr;
		if (xlb_htab_put(&d->nh_done, done, sizeof(*done), done))
			free(done);
	}
}

/* svc_prev's entry for s: its previous tables, the external keys' the
 * service address's when they shared it. */
static void prev_write(struct xlb_dp_bpf *d, const struct svc_state *s)
{
	struct xlb_svc_prev v = {
		.cluster = { .base = s->prev_base, .slots = s->prev_slots },
		.ext = { .base = s->prev_base, .slots = s->prev_slots },
	};

	if (s->np_prev_own) {
		v.ext.base = s->np_prev_base;
		v.ext.slots = s->np_prev_slots;
	}
	bpf_map_update_elem(bpf_map__fd(d->skel->maps.svc_prev), &s->id, &v, BPF_ANY);
}

/* Give back the previous tables' slots. */
static void prev_free(struct xlb_dp_bpf *d, struct svc_state *s, uint64_t now)
{
	xlb_ranges_free(&d->sel, s->prev_base, s->prev_slots, now);
	xlb_ranges_free(&d->sel, s->np_prev_base, s->np_prev_slots, now);
	s->prev_base = s->prev_slots = s->np_prev_base = s->np_prev_slots = 0;
	s->np_prev_own = false;
}

/* One bpf_service_set call: what it found, allocated and wrote, so that a
 * failure undoes exactly that (svc_set_undo, svc_set_free). */
struct svc_set {
	const struct xlb_service_spec *spec;
	const struct xlb_backend_spec *be;
	size_t n;
	uint64_t now;
	char vip[XLB_IP_STRLEN];	/* for messages */
	struct svc_state *old;		/* the service as it is, or NULL: a new one */
	struct svc_state *ns;		/* as it will be */
	struct xlb_svc_key key, npkey;	/* the service address's, the node port's */
	struct xlb_svc_val val, old_val;
	bool np, old_np, same_np;	/* a node port now, before, the same one */
	struct ext_key ext[2 * XLB_MAX_SVC_ADDRS], old_ext[2 * XLB_MAX_SVC_ADDRS];
	size_t n_ext, n_old_ext;
	uint32_t *tab, tlen, base;	/* the service address's new table */
	uint32_t *ntab, ntlen, nbase;	/* the external keys' own (ns->np_own) */
	bool *fresh;			/* fresh[i]: be[i] got a new id in this call */
	bool ranges_added, ports_added;
};

/* The update is valid, and no other service holds its node port, its
 * LoadBalancer or external IPs. Nothing is written. */
static int svc_set_check(struct xlb_dp_bpf *d, struct svc_set *u, char *err, size_t errlen)
{
	const struct xlb_service_spec *spec = u->spec;
	int svc_fd = bpf_map__fd(d->skel->maps.svc_map);
	struct xlb_service_spec served = *spec;
	int ret;

	ret = xlb_service_validate(spec, err, errlen);
	if (!ret)
		ret = xlb_backends_validate(spec, u->be, u->n, err, errlen);
	if (ret)
		return ret;
	/* what this datapath serves itself (IPv4) */
	served.n_lb_ips = served.n_external_ips = served.n_source_ranges = 0;
	served.ext_policy = XLB_POLICY_CLUSTER;
	served.lb_mode = XLB_LB_MODE_DEFAULT;
	xlb_dp_note_unsupported(&served);
	xlb_ip_str(&spec->vip, u->vip, sizeof(u->vip));

	u->old = svc_find(d, spec);
	u->np = xlb_svc_has_node_port(spec);
	u->old_np = u->old && xlb_svc_has_node_port(&u->old->spec);
	u->same_np = u->np && u->old_np && u->old->spec.node_port == spec->node_port;
	svc_key_of(&u->key, &spec->vip, spec->port, spec->proto);
	if (u->old && bpf_map_lookup_elem(svc_fd, &u->key, &u->old_val)) {
		ERR("service %s:%u: its entry is missing from svc_map", u->vip, spec->port);
		return -EIO;
	}
	if (u->np) {
		struct xlb_svc_val other;

		np_key_of(&u->npkey, spec);
		if (!bpf_map_lookup_elem(svc_fd, &u->npkey, &other) &&
		    (!u->old || other.id != u->old->id)) {
			ERR("service %s:%u/%s: node port %u already in use", u->vip, spec->port,
			    xlb_proto_name(spec->proto), spec->node_port);
			return -EEXIST;
		}
	}
	u->n_ext = ext_keys_of(spec, u->ext);
	for (size_t i = 0; i < u->n_ext; i++) {
		struct xlb_svc_val other;
		char a[XLB_IP_STRLEN];
		struct xlb_ip ip = { .addr = u->ext[i].k.addr, .family = u->ext[i].k.family };

		if (!bpf_map_lookup_elem(svc_fd, &u->ext[i].k, &other) &&
		    (!u->old || other.id != u->old->id)) {
			ERR("service %s:%u/%s: %s %s:%u already in use by another service", u->vip,
			    spec->port, xlb_proto_name(spec->proto),
			    (u->ext[i].flags & XLB_SVC_F_LB_IP) ? "LoadBalancer IP" : "external IP",
			    xlb_ip_str(&ip, a, sizeof(a)), spec->port);
			return -EEXIST;
		}
	}
	if (u->old)
		u->n_old_ext = ext_keys_of(&u->old->spec, u->old_ext);
	return 0;
}

/* The new state, with its service id and backend ids (a kept backend
 * keeps its id; a new one takes a free one): memory only. */
static int svc_set_alloc(struct xlb_dp_bpf *d, struct svc_set *u, char *err, size_t errlen)
{
	const struct xlb_service_spec *spec = u->spec;
	size_t n = u->n;
	struct svc_state *ns;
	int ret;

	ns = u->ns = calloc(1, sizeof(*ns));
	if (!ns || xlb_service_copy(&ns->spec, spec))
		return -ENOMEM;
	xlb_svc_ident_of(&ns->ident, spec);
	ns->n_be = n;
	ns->be = calloc(n ? n : 1, sizeof(*ns->be));
	ns->be_id = calloc(n ? n : 1, sizeof(*ns->be_id));
	u->fresh = calloc(n ? n : 1, sizeof(*u->fresh));
	if (!ns->be || !ns->be_id || !u->fresh)
		return -ENOMEM;
	if (n)
		memcpy(ns->be, u->be, n * sizeof(*u->be));
	if (u->old) {
		ns->id = u->old->id;
	} else if ((ret = alloc_svc_id(d, &ns->id))) {
		ERR("service %s:%u: no free service id (max %u)", u->vip, spec->port,
		    d->max_services);
		return ret;
	}
	for (size_t i = 0; i < n; i++) {
		int j = find_be(u->old, &u->be[i]);

		if (j >= 0) {
			ns->be_id[i] = u->old->be_id[j];
			continue;
		}
		ret = alloc_be_id(d, u->now, &ns->be_id[i]);
		if (ret) {
			ERR("service %s:%u: no free backend id (max %u, freed ones rest %u ms)",
			    u->vip, spec->port, d->max_backends, (unsigned)(d->grace_ns / 1000000));
			return ret;
		}
		u->fresh[i] = true;
	}
	return 0;
}

/* The new selection table(s), built, and fresh ranges of sel_map for
 * them; a new service enters the index. On failure the ranges are given
 * back. */
static int svc_set_tables(struct xlb_dp_bpf *d, struct svc_set *u, char *err, size_t errlen)
{
	const struct xlb_service_spec *spec = u->spec;
	struct svc_state *ns = u->ns;
	int ret;

	/* the external keys' own table when the policies differ */
	ns->np_own = xlb_svc_has_external(spec) &&
		     xlb_svc_local_only(spec, true) != xlb_svc_local_only(spec, false);
	ret = build_table(spec, u->be, ns->be_id, u->n, xlb_svc_local_only(spec, false), &u->tab,
			  &u->tlen);
	if (!ret && ns->np_own)
		ret = build_table(spec, u->be, ns->be_id, u->n, xlb_svc_local_only(spec, true),
				  &u->ntab, &u->ntlen);
	if (ret) {
		ERR("service %s:%u: building selection table: %s", u->vip, spec->port,
		    strerror(-ret));
		return ret;
	}
	ret = xlb_ranges_alloc(&d->sel, u->tlen, u->now, &u->base);
	if (ret) {
		ERR("service %s:%u: no room for a %u-slot selection table", u->vip, spec->port,
		    u->tlen);
		return ret;
	}
	if (ns->np_own && xlb_ranges_alloc(&d->sel, u->ntlen, u->now, &u->nbase)) {
		ERR("service %s:%u: no room for a %u-slot table of its external addresses", u->vip,
		    spec->port, u->ntlen);
		xlb_ranges_free(&d->sel, u->base, u->tlen, u->now);
		return -ENOSPC;
	}
	ns->sel_base = u->base;
	ns->slots = u->tlen;
	ns->np_sel_base = u->nbase;
	ns->np_slots = u->ntlen;
	if (!u->old && xlb_htab_put(&d->by_key, &ns->ident, sizeof(ns->ident), ns)) {
		xlb_ranges_free(&d->sel, u->base, u->tlen, u->now);
		if (ns->np_own)
			xlb_ranges_free(&d->sel, u->nbase, u->ntlen, u->now);
		return -ENOMEM;
	}
	return 0;
}

/* Everything the switch will point at, written where no packet looks yet:
 * 1. backend entries (new ones get a new generation), 2. the new tables in
 * their ranges, the source ranges newly allowed, the ports the datapath
 * must look at, and the service's tables as its previous ones. */
static int svc_set_write(struct xlb_dp_bpf *d, struct svc_set *u, char *err, size_t errlen)
{
	int be_fd = bpf_map__fd(d->skel->maps.backend_map);
	const struct xlb_service_spec *spec = u->spec;
	struct svc_state *ns = u->ns, *old = u->old;
	int ret;

	for (size_t i = 0; i < u->n; i++) {
		struct xlb_backend e;
		uint32_t id = ns->be_id[i];

		if (u->fresh[i]) {
			d->be_gen[id]++;
			xlb_dp_bpf_percpu_zero(d, bpf_map__fd(d->skel->maps.backend_stats), id,
					       sizeof(struct xlb_counters));
		}
		be_entry(&e, &u->be[i], ns->id, d->be_gen[id]);
		if (bpf_map_update_elem(be_fd, &id, &e, BPF_ANY)) {
			ret = -errno;
			ERR("service %s:%u: writing backend %u: %s", u->vip, spec->port, id,
			    strerror(errno));
			return ret;
		}
		dsr_be_put(d, ns->id, &u->be[i].addr.addr, u->be[i].addr.family, u->be[i].local,
			   id);
	}
	ret = write_table(d, u->base, u->tab, u->tlen);
	if (!ret && ns->np_own)
		ret = write_table(d, u->nbase, u->ntab, u->ntlen);
	if (ret) {
		ERR("service %s:%u: writing selection table: %s", u->vip, spec->port,
		    strerror(-ret));
		return ret;
	}
	/* sources newly allowed, before the keys that check them */
	u->ranges_added = true;
	ret = src_ranges_set(d, ns->id, spec, old ? &old->spec : NULL, true);
	if (ret) {
		ERR("service %s:%u: writing loadBalancerSourceRanges: %s", u->vip, spec->port,
		    strerror(-ret));
		return ret;
	}
	svc_ports(d, spec, u->be, u->n, +1);
	u->ports_added = true;
	/* the tables the service has now stay readable as its previous ones:
	 * its address's, and its external keys' when they have their own */
	if (old) {
		ns->prev_base = old->sel_base;
		ns->prev_slots = old->slots;
		if (old->np_own) {
			ns->np_prev_own = true;
			ns->np_prev_base = old->np_sel_base;
			ns->np_prev_slots = old->np_slots;
		}
	}
	ns->prev_since = u->now;
	prev_write(d, ns);
	return 0;
}

/* The service entries written back as they were (the ones in ext[0, n_done)
 * and the node port's): after a failed switch. */
static void svc_set_unswitch(struct xlb_dp_bpf *d, struct svc_set *u, size_t n_done)
{
	int svc_fd = bpf_map__fd(d->skel->maps.svc_map);
	struct xlb_svc_val v;

	for (size_t i = 0; i < n_done; i++) {
		size_t j;

		for (j = 0; j < u->n_old_ext; j++)
			if (!memcmp(&u->old_ext[j].k, &u->ext[i].k, sizeof(u->ext[i].k)))
				break;
		if (j < u->n_old_ext) {
			v = ext_val(d, &u->old_val, u->old, u->old_ext[j].flags);
			svc_val_write(svc_fd, &u->ext[i].k, &v);
		} else {
			bpf_map_delete_elem(svc_fd, &u->ext[i].k);
		}
	}
	if (u->same_np) {
		v = ext_val(d, &u->old_val, u->old, XLB_SVC_F_NODEPORT | XLB_SVC_F_EXTERNAL);
		svc_val_write(svc_fd, &u->npkey, &v);
	} else if (u->np) {
		bpf_map_delete_elem(svc_fd, &u->npkey);
	}
}

/* 3. The switch: the service entries point at the new tables, the node
 * port's first, then the external addresses', the service address's last,
 * so that when one fails the writes done can be undone. */
static int svc_set_switch(struct xlb_dp_bpf *d, struct svc_set *u, char *err, size_t errlen)
{
	int svc_fd = bpf_map__fd(d->skel->maps.svc_map);
	const struct xlb_service_spec *spec = u->spec;
	struct svc_state *ns = u->ns;
	struct xlb_svc_val *val = &u->val;
	size_t n_done;
	int ret = 0;

	if (!u->old) {
		xlb_dp_bpf_percpu_zero(d, bpf_map__fd(d->skel->maps.svc_stats), ns->id,
				       sizeof(struct xlb_counters));
		if (d->sock)
			xlb_dp_bpf_percpu_zero(d, bpf_map__fd(d->sock->maps.sock_svc_stats),
					       ns->id, sizeof(struct xlb_sock_counters));
	}
	val->id = ns->id;
	val->sel_base = u->base;
	val->slots = u->tlen;
	val->algo = (uint8_t)spec->algo;
	val->aff_timeout = spec->affinity_timeout;
	val->flags = spec->affinity_timeout ? XLB_SVC_F_AFFINITY : 0;
	val->lb_mode = (uint8_t)spec->lb_mode;
	val->policies = (spec->int_policy == XLB_POLICY_LOCAL ? XLB_SVC_P_INT_LOCAL : 0) |
			(spec->ext_policy == XLB_POLICY_LOCAL ? XLB_SVC_P_EXT_LOCAL : 0);
	if (u->np) {
		struct xlb_svc_val npval = ext_val(d, val, ns, XLB_SVC_F_NODEPORT |
						   XLB_SVC_F_EXTERNAL);

		ret = svc_val_write(svc_fd, &u->npkey, &npval);
		if (ret) {
			ERR("service %s:%u: writing node port %u entry: %s", u->vip, spec->port,
			    spec->node_port, strerror(-ret));
			return ret;
		}
	}
	for (n_done = 0; n_done < u->n_ext; n_done++) {
		struct ext_key *e = &u->ext[n_done];
		struct xlb_svc_val ev = ext_val(d, val, ns, e->flags);

		ret = svc_val_write(svc_fd, &e->k, &ev);
		if (ret) {
			ERR("service %s:%u: writing an external address's entry: %s", u->vip,
			    spec->port, strerror(-ret));
			break;
		}
	}
	if (!ret) {
		ret = svc_val_write(svc_fd, &u->key, val);
		if (ret)
			ERR("service %s:%u: writing service entry: %s", u->vip, spec->port,
			    strerror(-ret));
	}
	if (ret)
		svc_set_unswitch(d, u, n_done);
	return ret;
}

/* 4. What the new state no longer uses retired: the old node port and
 * external keys, ranges gone, removed backends (freed, their sockets
 * told), the tables before the previous ones; ns takes old's place. */
static void svc_set_retire(struct xlb_dp_bpf *d, struct svc_set *u)
{
	int svc_fd = bpf_map__fd(d->skel->maps.svc_map);
	int be_fd = bpf_map__fd(d->skel->maps.backend_map);
	struct svc_state *ns = u->ns, *old = u->old;

	if (u->old_np && !u->same_np) {
		struct xlb_svc_key old_npkey;

		np_key_of(&old_npkey, &old->spec);
		bpf_map_delete_elem(svc_fd, &old_npkey);
	}
	for (size_t j = 0; j < u->n_old_ext; j++)
		if (!ext_key_in(&u->old_ext[j].k, u->ext, u->n_ext))
			bpf_map_delete_elem(svc_fd, &u->old_ext[j].k);
	if (!old) {
		d->n_svc++;
		d->by_id[ns->id] = ns;
		return;
	}
	src_ranges_set(d, ns->id, &old->spec, u->spec, false);	/* ranges gone */
	for (size_t j = 0; j < old->n_be; j++) {
		uint32_t id = old->be_id[j];
		bool kept = false;

		for (size_t i = 0; i < u->n && !kept; i++)
			kept = ns->be_id[i] == id;
		if (kept)
			continue;
		be_release(d, be_fd, id, u->now);
		dsr_be_put(d, old->id, &old->be[j].addr.addr, old->be[j].addr.family, false, id);
		xlb_dp_bpf_sock_backend_gone(d, &old->be[j].addr.addr,
					     htons((uint16_t)old->be[j].port), old->id);
	}
	svc_ports(d, &old->spec, old->be, old->n_be, -1);
	/* the tables before the previous ones are done with (the previous
	 * ones are now ns's) */
	prev_free(d, old, u->now);
	xlb_htab_put(&d->by_key, &ns->ident, sizeof(ns->ident), ns);	/* replaces */
	svc_state_free(old);
	d->by_id[ns->id] = ns;
}

/* Map writes failed part way, before the switch: new backend ids are in no
 * table the datapath uses; kept backends get their old entries back (a
 * drain that did not happen). */
static void svc_set_undo(struct xlb_dp_bpf *d, struct svc_set *u)
{
	int be_fd = bpf_map__fd(d->skel->maps.backend_map);
	struct svc_state *ns = u->ns, *old = u->old;

	for (size_t i = 0; i < u->n; i++) {
		uint32_t id = ns->be_id[i];
		int j = find_be(old, &u->be[i]);

		if (u->fresh[i]) {
			be_release(d, be_fd, id, u->now);
			dsr_be_put(d, ns->id, &u->be[i].addr.addr, u->be[i].addr.family, false, id);
		} else if (j >= 0) {
			struct xlb_backend e;

			be_entry(&e, &old->be[j], old->id, d->be_gen[id]);
			bpf_map_update_elem(be_fd, &id, &e, BPF_ANY);
			dsr_be_put(d, old->id, &old->be[j].addr.addr, old->be[j].addr.family,
				   old->be[j].local, id);
		}
		u->fresh[i] = false;
	}
	xlb_ranges_free(&d->sel, u->base, u->tlen, u->now);
	if (ns->np_own)
		xlb_ranges_free(&d->sel, u->nbase, u->ntlen, u->now);
	if (u->ranges_added)
		src_ranges_set(d, ns->id, u->spec, old ? &old->spec : NULL, false);
	if (u->ports_added)
		svc_ports(d, u->spec, u->be, u->n, -1);
	if (old)
		prev_write(d, old);
	else
		xlb_htab_del(&d->by_key, &ns->ident, sizeof(ns->ident));
}

/* The call's memory; on failure (failed) the new state too, and the
 * backend ids it took. */
static void svc_set_free(struct xlb_dp_bpf *d, struct svc_set *u, bool failed)
{
	if (failed) {
		for (size_t i = 0; u->fresh && i < u->n; i++)
			if (u->fresh[i])
				d->be_used[u->ns->be_id[i]] = 0;
		svc_state_free(u->ns);
	}
	free(u->tab);
	free(u->ntab);
	free(u->fresh);
}

int bpf_service_set(struct xlb_dp *dp, const struct xlb_service_spec *spec,
		    const struct xlb_backend_spec *be, size_t n, char *err, size_t errlen)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	struct svc_set u = { .spec = spec, .be = be, .n = n,
			     .now = (uint64_t)xlb_clock_ns() };
	int ret;

	ret = svc_set_check(d, &u, err, errlen);
	if (ret)
		return ret;
	/* allocate everything first: on failure nothing has changed */
	ret = svc_set_alloc(d, &u, err, errlen);
	if (!ret)
		ret = svc_set_tables(d, &u, err, errlen);
	if (ret)
		goto fail;
	ret = svc_set_write(d, &u, err, errlen);
	if (!ret)
		ret = svc_set_switch(d, &u, err, errlen);
	if (ret) {
		svc_set_undo(d, &u);
		goto fail;
	}
	svc_set_retire(d, &u);
	svc_set_free(d, &u, false);
	nexthops_keep(d, be, n);
	return 0;
fail:
	svc_set_free(d, &u, true);
	return ret;
}

int bpf_service_delete(struct xlb_dp *dp, const struct xlb_service_spec *spec,
		       char *err, size_t errlen)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	int svc_fd = bpf_map__fd(d->skel->maps.svc_map);
	int be_fd = bpf_map__fd(d->skel->maps.backend_map);
	uint64_t now = (uint64_t)xlb_clock_ns();
	struct svc_state *s;
	struct xlb_svc_key key;
	char vip[XLB_IP_STRLEN];

	s = svc_find(d, spec);
	if (!s) {
		ERR("service %s:%u/%s: not found", xlb_ip_str(&spec->vip, vip, sizeof(vip)),
		    spec->port, xlb_proto_name(spec->proto));
		return -ENOENT;
	}
	svc_key_of(&key, &s->spec.vip, s->spec.port, s->spec.proto);
	bpf_map_delete_elem(svc_fd, &key);
	if (xlb_svc_has_node_port(&s->spec)) {
		np_key_of(&key, &s->spec);
		bpf_map_delete_elem(svc_fd, &key);
	}
	{
		struct ext_key ext[2 * XLB_MAX_SVC_ADDRS];
		size_t n_ext = ext_keys_of(&s->spec, ext);

		for (size_t i = 0; i < n_ext; i++)
			bpf_map_delete_elem(svc_fd, &ext[i].k);
	}
	src_ranges_set(d, s->id, &s->spec, NULL, false);
	for (size_t i = 0; i < s->n_be; i++) {
		be_release(d, be_fd, s->be_id[i], now);
		dsr_be_put(d, s->id, &s->be[i].addr.addr, s->be[i].addr.family, false, s->be_id[i]);
		xlb_dp_bpf_sock_backend_gone(d, &s->be[i].addr.addr, htons((uint16_t)s->be[i].port),
					     s->id);
	}
	svc_ports(d, &s->spec, s->be, s->n_be, -1);
	xlb_ranges_free(&d->sel, s->sel_base, s->slots, now);
	prev_free(d, s, now);
	if (s->np_own)
		xlb_ranges_free(&d->sel, s->np_sel_base, s->np_slots, now);
	xlb_htab_del(&d->by_key, &s->ident, sizeof(s->ident));
	d->by_id[s->id] = NULL;
	d->n_svc--;
	svc_state_free(s);
	return 0;
}

int bpf_service_list(struct xlb_dp *dp, xlb_svc_cb cb, void *arg)
{
	struct xlb_dp_bpf *d = to_bpf(dp);

	for (uint32_t i = 0; i < d->max_services; i++) {
		struct svc_state *s = d->by_id[i];
		struct xlb_dp_service out;
		int ret;

		if (!s)
			continue;
		out.spec = s->spec;
		out.id = s->id;
		out.n_backends = s->n_be;
		out.backends = s->be;
		out.backend_ids = s->be_id;
		ret = cb(&out, arg);
		if (ret)
			return ret;
	}
	return 0;
}

int xlb_dp_bpf_svc_id(struct xlb_dp_bpf *d, const struct xlb_service_spec *spec, uint32_t *id)
{
	struct svc_state *s = svc_find(d, spec);

	if (!s)
		return -ENOENT;
	*id = s->id;
	return 0;
}

int bpf_service_stats(struct xlb_dp *dp, const struct xlb_service_spec *spec,
		      struct xlb_counters *out)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	struct svc_state *s = svc_find(d, spec);

	if (!s)
		return -ENOENT;
	return xlb_dp_bpf_percpu_sum(d, bpf_map__fd(d->skel->maps.svc_stats), s->id, out);
}

/* A previous table serves handshakes that began before the update: after
 * a handshake's lifetime it serves nobody, and its slots go back (an sh
 * table is 16381 of them). Called from the periodic expiry. */
#define PREV_KEEP_NS (60ULL * 1000 * 1000 * 1000)

void xlb_dp_bpf_prev_retire(struct xlb_dp_bpf *d)
{
	uint64_t now = (uint64_t)xlb_clock_ns();

	for (uint32_t i = 0; i < d->max_services; i++) {
		struct svc_state *s = d->by_id[i];

		if (!s || (!s->prev_slots && !s->np_prev_slots) ||
		    now - s->prev_since < PREV_KEEP_NS)
			continue;
		prev_free(d, s, now);
		prev_write(d, s);
	}
}

/* ---- adoption: the index rebuilt from the pinned maps --------------------
 *
 * A restart reads back every field the reconciler compares, so that it
 * finds each service as the previous process left it and writes nothing:
 * what the datapath acts on, and what it keeps only for this (svc_val's
 * lb_mode and policies, the backends' terminating flags, src_ranges6).
 */

/* A service from one of its svc_map entries (its address's, node port's or
 * an external address's), created on the first one seen. */
static int adopt_svc_entry(struct xlb_dp_bpf *d, const struct xlb_svc_key *k,
			   const struct xlb_svc_val *v)
{
	struct svc_state *s = d->by_id[v->id];

	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		s->id = v->id;
		s->spec.algo = v->algo;
		s->spec.affinity_timeout = (v->flags & XLB_SVC_F_AFFINITY) ? v->aff_timeout : 0;
		s->spec.proto = k->proto;
		d->by_id[v->id] = s;
	}
	/* every entry carries them; XLB_SVC_F_LOCAL also says so for pins
	 * of a build before policies */
	if (v->policies & XLB_SVC_P_INT_LOCAL)
		s->spec.int_policy = XLB_POLICY_LOCAL;
	if ((v->policies & XLB_SVC_P_EXT_LOCAL) ||
	    (v->flags & (XLB_SVC_F_EXTERNAL | XLB_SVC_F_LOCAL)) ==
		    (XLB_SVC_F_EXTERNAL | XLB_SVC_F_LOCAL))
		s->spec.ext_policy = XLB_POLICY_LOCAL;
	if (v->flags & XLB_SVC_F_EXTERNAL) {
		/* the external keys' table; np_own says so if it is not
		 * the service address's (adopt_services) */
		s->np_own = true;
		s->np_sel_base = v->sel_base;
		s->np_slots = v->slots;
		s->adopt_ext = true;
		s->adopt_dsr = v->flags & XLB_SVC_F_DSR;
	} else {
		s->sel_base = v->sel_base;
		s->slots = v->slots;
	}
	if (v->flags & XLB_SVC_F_NODEPORT) {
		if (s->spec.type != XLB_SVC_LOAD_BALANCER)
			s->spec.type = XLB_SVC_NODE_PORT;
		s->spec.node_port = ntohs(k->port);
	} else if (v->flags & XLB_SVC_F_EXTERNAL) {
		/* a LoadBalancer or external IP (the source ranges are read
		 * from src_ranges and src_ranges6, adopt_ranges) */
		struct xlb_ip ip = { .addr = k->addr, .family = k->family };
		struct xlb_svc_addrs *a = xlb_service_addrs(&s->spec);

		if (!a)
			return -ENOMEM;
		if (v->flags & XLB_SVC_F_LB_IP)
			s->spec.type = XLB_SVC_LOAD_BALANCER;
		if ((v->flags & XLB_SVC_F_LB_IP) && s->spec.n_lb_ips < XLB_MAX_SVC_ADDRS)
			a->lb_ips[s->spec.n_lb_ips++] = ip;
		else if (!(v->flags & XLB_SVC_F_LB_IP) && s->spec.n_external_ips < XLB_MAX_SVC_ADDRS)
			a->external_ips[s->spec.n_external_ips++] = ip;
	} else {
		s->spec.vip.family = k->family;
		s->spec.vip.addr = k->addr;
		s->spec.port = ntohs(k->port);
		s->spec.lb_mode = v->lb_mode < XLB_LB_MODE_MAX ? v->lb_mode : XLB_LB_MODE_DEFAULT;
	}
	return 0;
}

/* Every service of svc_map, with the selection ranges its tables hold. */
static int adopt_services(struct xlb_dp_bpf *d)
{
	int svc_fd = bpf_map__fd(d->skel->maps.svc_map);
	struct xlb_svc_key k, *prev = NULL;
	struct xlb_svc_val v;
	int ret;

	while (!bpf_map_get_next_key(svc_fd, prev, &k)) {
		prev = &k;
		if (bpf_map_lookup_elem(svc_fd, &k, &v) || v.id >= d->max_services)
			continue;
		ret = adopt_svc_entry(d, &k, &v);
		if (ret)
			return ret;
	}
	for (uint32_t i = 0; i < d->max_services; i++) {
		struct svc_state *s = d->by_id[i];

		if (!s)
			continue;
		s->np_own = s->np_own && (s->np_sel_base != s->sel_base || s->np_slots != s->slots);
		if (xlb_ranges_reserve(&d->sel, s->sel_base, s->slots) ||
		    (s->np_own && xlb_ranges_reserve(&d->sel, s->np_sel_base, s->np_slots)))
			pr_warn("adopt: service %u: selection ranges %u+%u, %u+%u overlap", s->id,
				s->sel_base, s->slots, s->np_sel_base, s->np_slots);
	}
	return 0;
}

/* Backend id of backend_map appended to its service s. */
static int adopt_backend(struct svc_state *s, uint32_t id, const struct xlb_backend *e)
{
	struct xlb_backend_spec *nb, *b;
	uint32_t *nid;

	nb = realloc(s->be, (s->n_be + 1) * sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	s->be = nb;
	nid = realloc(s->be_id, (s->n_be + 1) * sizeof(*nid));
	if (!nid)
		return -ENOMEM;
	s->be_id = nid;
	b = &nb[s->n_be];
	memset(b, 0, sizeof(*b));
	b->addr.family = e->family;
	b->addr.addr = e->addr;
	b->port = ntohs(e->port);
	b->weight = e->weight;
	/* pins of a build before XLB_BE_F_TERMINATING tell it by the state
	 * alone (a weight of 0 also keeps new flows away) */
	b->terminating = (e->flags & XLB_BE_F_TERMINATING) ||
			 (e->state == XLB_BE_TERMINATING && e->weight);
	b->local_terminating = e->flags & XLB_BE_F_LOCAL_TERMINATING;
	b->local = e->flags & XLB_BE_F_LOCAL;
	b->remote = e->flags & XLB_BE_F_REMOTE;
	nid[s->n_be++] = id;
	return 0;
}

/* The backends of backend_map, into their services; one of no service (a
 * crash between steps) is freed. */
static int adopt_backends(struct xlb_dp_bpf *d)
{
	int be_fd = bpf_map__fd(d->skel->maps.backend_map);

	for (uint32_t id = 1; id < d->max_backends; id++) {
		struct xlb_backend e;
		struct svc_state *s;

		if (bpf_map_lookup_elem(be_fd, &id, &e))
			continue;
		d->be_gen[id] = e.gen;
		if (e.state == XLB_BE_FREE) {
			/* freed by the previous process, maybe just now */
			if (e.gen)
				d->be_freed[id] = (uint64_t)xlb_clock_ns();
			continue;
		}
		if (e.svc_id >= d->max_services || !(s = d->by_id[e.svc_id])) {
			e.state = XLB_BE_FREE;
			bpf_map_update_elem(be_fd, &id, &e, BPF_ANY);
			continue;
		}
		if (adopt_backend(s, id, &e))
			return -ENOMEM;
		/* a build without dsr_be may have pinned them */
		dsr_be_put(d, e.svc_id, &e.addr, e.family, e.flags & XLB_BE_F_LOCAL, id);
		d->be_used[id] = 1;
	}
	return 0;
}

/* A range of src_ranges or src_ranges6 into its service's spec: -ENOENT
 * when it is no adopted service's (or cannot be one), -ENOMEM. */
static int adopt_range(struct xlb_dp_bpf *d, uint32_t svc_id, uint32_t prefixlen,
		       const struct xlb_ip *ip)
{
	struct svc_state *s = svc_id < d->max_services ? d->by_id[svc_id] : NULL;
	uint32_t bits = ip->family == XLB_AF_INET ? 32 : 128;
	struct xlb_svc_addrs *a;
	struct xlb_cidr *c;

	if (!s || prefixlen < 32 || prefixlen > 32 + bits ||
	    s->spec.n_source_ranges == XLB_MAX_SOURCE_RANGES)
		return -ENOENT;
	a = xlb_service_addrs(&s->spec);
	if (!a)
		return -ENOMEM;
	c = &a->source_ranges[s->spec.n_source_ranges++];
	memset(c, 0, sizeof(*c));
	c->ip = *ip;
	c->prefix = (uint8_t)(prefixlen - 32);
	return 0;
}

/* loadBalancerSourceRanges back from src_ranges (family IPv4) or
 * src_ranges6 into the adopted services' specs, in the map's order (the
 * reconciler compares them as a set). A range of no service is removed,
 * or a service given its id later would let its sources in. */
static int adopt_ranges(struct xlb_dp_bpf *d, int fd, uint8_t family)
{
	union range_key {
		struct xlb_src_range_key v4;	/* both begin with prefixlen, svc_id */
		struct xlb_src_range6_key v6;
	} k = {}, prev = {}, *orphan = NULL;
	size_t n_orphan = 0;
	bool first = true;
	int ret = 0;

	while (!bpf_map_get_next_key(fd, first ? NULL : &prev, &k)) {
		struct xlb_ip ip = { .family = family };
		union range_key *o;

		prev = k;
		first = false;
		if (family == XLB_AF_INET)
			ip.addr.a32[0] = k.v4.addr;
		else
			ip.addr = k.v6.addr;
		ret = adopt_range(d, k.v4.svc_id, k.v4.prefixlen, &ip);
		if (ret != -ENOENT)
			continue;
		ret = 0;
		o = realloc(orphan, (n_orphan + 1) * sizeof(*o));
		if (!o) {
			ret = -ENOMEM;
			break;
		}
		orphan = o;
		orphan[n_orphan++] = k;
	}
	for (size_t i = 0; i < n_orphan; i++)
		bpf_map_delete_elem(fd, &orphan[i]);
	free(orphan);
	return ret;
}

/* Does the table at [base, base + slots) hold only backends on this node,
 * while the service has others that could take flows? Then it was built
 * for a traffic policy Local (build_table's local_only): how a restart
 * tells internalTrafficPolicy in pins of a build before svc_val's
 * policies. */
static bool local_table(struct xlb_dp_bpf *d, const struct svc_state *s, uint32_t base,
			uint32_t slots)
{
	int fd = bpf_map__fd(d->skel->maps.sel_map);
	bool others = false;

	for (size_t i = 0; i < s->n_be && !others; i++)
		others = !s->be[i].local && xlb_backend_selectable(&s->be[i]);
	if (!others)
		return false;	/* both policies give the same table */
	for (uint32_t i = 0; i < slots; i++) {
		uint32_t idx = base + i, id = 0;

		if (bpf_map_lookup_elem(fd, &idx, &id))
			return false;
		for (size_t j = 0; j < s->n_be; j++)
			if (s->be_id[j] == id && !s->be[j].local)
				return false;
	}
	return true;
}

/* The previous tables of s from svc_prev, their ranges reserved; both are
 * forgotten if one overlaps a table in use. */
static void adopt_prev(struct xlb_dp_bpf *d, struct svc_state *s)
{
	struct xlb_svc_prev prev = {};
	int pfd = bpf_map__fd(d->skel->maps.svc_prev);
	bool own, forget = false;

	if (bpf_map_lookup_elem(pfd, &s->id, &prev) || (!prev.cluster.slots && !prev.ext.slots))
		return;
	own = prev.ext.base != prev.cluster.base || prev.ext.slots != prev.cluster.slots;
	if (xlb_ranges_reserve(&d->sel, prev.cluster.base, prev.cluster.slots)) {
		forget = true;
	} else if (own && xlb_ranges_reserve(&d->sel, prev.ext.base, prev.ext.slots)) {
		xlb_ranges_free(&d->sel, prev.cluster.base, prev.cluster.slots, 0);
		forget = true;
	}
	if (forget) {
		memset(&prev, 0, sizeof(prev));
		own = false;
	}
	s->prev_base = prev.cluster.base;
	s->prev_slots = prev.cluster.slots;
	s->np_prev_own = own;
	s->np_prev_base = prev.ext.base;
	s->np_prev_slots = prev.ext.slots;
	s->prev_since = (uint64_t)xlb_clock_ns();
	if (forget)
		prev_write(d, s);
}

/* A node port or external entry without its service address's (a crash
 * between steps): its entries and ranges go. */
static void drop_headless(struct xlb_dp_bpf *d, struct svc_state *s)
{
	int svc_fd = bpf_map__fd(d->skel->maps.svc_map);
	struct ext_key ext[2 * XLB_MAX_SVC_ADDRS];
	size_t n_ext = ext_keys_of(&s->spec, ext);
	struct xlb_svc_key nk;

	np_key_of(&nk, &s->spec);
	nk.family = XLB_AF_INET;
	bpf_map_delete_elem(svc_fd, &nk);
	for (size_t j = 0; j < n_ext; j++)
		bpf_map_delete_elem(svc_fd, &ext[j].k);
	src_ranges_set(d, s->id, &s->spec, NULL, false);
	d->by_id[s->id] = NULL;
	svc_state_free(s);
}

/* port_map as the adopted services use it (a replaced map is empty). */
static void port_map_sync(struct xlb_dp_bpf *d)
{
	int fd = bpf_map__fd(d->skel->maps.port_map);

	for (uint32_t port = 0; port < 65536; port++) {
		uint32_t want = port_flags_of(d, port), have = 0;

		if (bpf_map_lookup_elem(fd, &port, &have) || have != want)
			bpf_map_update_elem(fd, &port, &want, BPF_ANY);
	}
}

/* A service of the node's lb-mode (no xlb.io/lb-mode) whose external keys
 * were written under another --lb-mode than this process's: read back as
 * the mode they have, so that the reconcile finds it differ from the
 * desired one and rewrites them in this node's mode. */
static void adopt_lb_mode(const struct xlb_dp_bpf *d, struct svc_state *s)
{
	if (!s->adopt_ext || s->adopt_dsr == svc_dsr(d, &s->spec))
		return;
	s->spec.lb_mode = s->adopt_dsr ? XLB_LB_MODE_DSR : XLB_LB_MODE_SNAT;
	pr_info("adopt: service %u: external flows by %s, the node's lb-mode is now %s: to be rewritten",
		s->id, s->adopt_dsr ? "dsr" : "snat", d->lb_mode_dsr ? "dsr" : "snat");
}

/* Rebuild the in-memory index from the (possibly adopted) maps. */
int xlb_dp_bpf_adopt(struct xlb_dp_bpf *d)
{
	int ret;

	ret = adopt_services(d);
	if (!ret)
		ret = adopt_backends(d);
	if (!ret)
		ret = adopt_ranges(d, bpf_map__fd(d->skel->maps.src_ranges), XLB_AF_INET);
	if (!ret)
		ret = adopt_ranges(d, bpf_map__fd(d->skel->maps.src_ranges6), XLB_AF_INET6);
	if (ret)
		return ret;
	for (uint32_t i = 0; i < d->max_services; i++) {
		struct svc_state *s = d->by_id[i];

		if (!s)
			continue;
		if (!s->spec.vip.family) {
			drop_headless(d, s);
			continue;
		}
		if (s->spec.int_policy != XLB_POLICY_LOCAL &&
		    local_table(d, s, s->sel_base, s->slots))
			s->spec.int_policy = XLB_POLICY_LOCAL;
		adopt_lb_mode(d, s);
		snprintf(s->spec.name, sizeof(s->spec.name), "svc-%u", s->id);
		xlb_svc_ident_of(&s->ident, &s->spec);
		if (xlb_htab_put(&d->by_key, &s->ident, sizeof(s->ident), s))
			return -ENOMEM;
		d->n_svc++;
		adopt_prev(d, s);
		svc_ports(d, &s->spec, s->be, s->n_be, +1);
	}
	port_map_sync(d);
	return 0;
}
