// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xlb/abi.h>
#include <xlb/hash.h>

#include "util/errmsg.h"
#include "explain.h"
#include "util/clock.h"

static void backend_of(struct xlb_explain *x, int be_fd, uint32_t id)
{
	struct xlb_backend b;

	x->backend_id = id;
	if (!id || bpf_map_lookup_elem(be_fd, &id, &b))
		return;
	x->backend.family = b.family;
	x->backend.addr = b.addr;
	x->backend_port = ntohs(b.port);
	x->backend_state = b.state;
}

/* The map of this name, or -ENOENT (with err). Not to be closed: the
 * dataplane's own. */
static int map_fd(struct xlb_dp *dp, const char *name, char *err, size_t errlen)
{
	int fd = xlb_dp_bpf_map_fd(dp, name);

	return fd < 0 ? xlb_errf(err, errlen, fd, "explain: map %s: %s", name, strerror(-fd)) : fd;
}

/* The loadBalancerSourceRanges of service id, as src_ranges holds them:
 * "a/p, b/q" into buf (at most what fits, then "..."). */
static void ranges_of(int fd, uint32_t id, char *buf, size_t len)
{
	struct xlb_src_range_key k, *prev = NULL;
	size_t used = 0;

	buf[0] = 0;
	while (!bpf_map_get_next_key(fd, prev, &k)) {
		struct xlb_ip ip = { .family = XLB_AF_INET };
		char a[XLB_IP_STRLEN];
		int n;

		prev = &k;
		if (k.svc_id != id || k.prefixlen < 32)
			continue;
		ip.addr.a32[0] = k.addr;
		n = snprintf(buf + used, len - used, "%s%s/%u", used ? ", " : "",
			     xlb_ip_str(&ip, a, sizeof(a)), k.prefixlen - 32);
		if (n < 0 || (size_t)n >= len - used) {
			snprintf(buf + (len > 4 ? len - 4 : 0), len > 4 ? 4 : len, "...");
			return;
		}
		used += (size_t)n;
	}
}

/* XDP sends an external flow to a backend on another node source-NATed,
 * or by DSR (bpf/xlb.bpf.c, xlb_to_backend): say so. */
static void snat_note(struct xlb_explain *x, const struct xlb_explain_req *q,
		      const struct xlb_svc_val *sv, int be_fd)
{
	struct xlb_backend b;

	if (q->hook != XLB_EXPLAIN_XDP || !(sv->flags & XLB_SVC_F_EXTERNAL) || !x->backend_id ||
	    bpf_map_lookup_elem(be_fd, &x->backend_id, &b) || !(b.flags & XLB_BE_F_REMOTE))
		return;
	if (sv->flags & XLB_SVC_F_DSR)
		snprintf(x->note, sizeof(x->note), "the backend is on another node, lb-mode dsr: "
			 "the flow leaves IPIP-encapsulated to the backend, whose node's xlb "
			 "decapsulates it; the backend sees the client and answers it directly");
	else
		snprintf(x->note, sizeof(x->note), "the backend is on another node: the flow leaves "
			 "source-NATed to this node's address and a port of its SNAT range");
}

/* A flow table entry, XDP's (ct4) or the pod veths' (pod_ct), in the
 * fields explained. */
struct ct_view {
	uint8_t dir, state;
	uint32_t svc_id, backend_id, backend_gen, last_seen;
	uint32_t nat_addr;	/* REV: the address the client used (be) */
	uint16_t nat_port;	/* REV, be */
	bool hairpin;
};

static int ct_lookup(int fd, enum xlb_explain_hook hook, const struct xlb_ct4_key *k,
		     struct ct_view *v)
{
	if (hook == XLB_EXPLAIN_POD) {
		struct xlb_pod_ct_val pv;

		if (bpf_map_lookup_elem(fd, k, &pv))
			return -ENOENT;
		*v = (struct ct_view){ pv.dir, pv.state, pv.svc_id, pv.backend_id, pv.backend_gen,
				       pv.last_seen, pv.nat_addr.a32[0], pv.nat_port,
				       !!(pv.flags & XLB_POD_CT_F_HAIRPIN) };
	} else {
		struct xlb_ct4_val cv;
		bool rev;

		if (bpf_map_lookup_elem(fd, k, &cv))
			return -ENOENT;
		rev = cv.dir == XLB_CT_REV;
		*v = (struct ct_view){ cv.dir, cv.state, cv.svc_id, cv.backend_id,
				       rev ? 0 : cv.fwd.backend_gen, cv.last_seen,
				       rev ? cv.rev.nat_addr : 0, rev ? cv.rev.nat_port : 0, false };
	}
	return 0;
}

static const char *const ct_states[] = { "new", "established", "closing", "closed" };
static const char *const algos[] = { "rr", "wrr", "sh" };

/* One explain call: the question, who the client is, the maps it reads. */
struct explain {
	const struct xlb_explain_req *q;
	struct xlb_explain *x;
	bool sock;			/* the socket hook: no flows, the client is a netns */
	struct xlb_addr client;		/* its address, or at the socket its netns cookie */
	char who[64];			/* the client, for people */
	uint32_t now;			/* the datapath's seconds */
	struct xlb_ct4_key ck;		/* the flow, as conntrack keys it */
	int svc_fd, sel_fd, be_fd, ct_fd, syn_fd, aff_fd, na_fd, sr_fd;
};

static int explain_maps(struct xlb_dp *dp, struct explain *e, char *err, size_t errlen)
{
	int ret;

	if ((e->svc_fd = ret = map_fd(dp, "svc_map", err, errlen)) < 0 ||
	    (e->sel_fd = ret = map_fd(dp, "sel_map", err, errlen)) < 0 ||
	    (e->be_fd = ret = map_fd(dp, "backend_map", err, errlen)) < 0 ||
	    (e->ct_fd = ret = map_fd(dp, e->q->hook == XLB_EXPLAIN_POD ? "pod_ct" : "ct4", err,
				     errlen)) < 0 ||
	    (e->syn_fd = ret = map_fd(dp, "ct_syn", err, errlen)) < 0 ||
	    (e->aff_fd = ret = map_fd(dp, "aff_map", err, errlen)) < 0 ||
	    (e->na_fd = ret = map_fd(dp, "node_addrs", err, errlen)) < 0 ||
	    (e->sr_fd = ret = map_fd(dp, "src_ranges", err, errlen)) < 0)
		return ret;
	return 0;
}

/* 1. Conntrack, as the packet hooks look first (the socket programs keep no
 * flows: a socket, once connected, talks to its backend). True when the
 * flow's entry decides: a reply, a flow that keeps its backend, a TCP flow
 * whose backend is gone; a UDP one is balanced afresh. */
static bool explain_flow(struct explain *e)
{
	struct xlb_explain *x = e->x;
	char sb[XLB_IP_STRLEN], bb[XLB_IP_STRLEN];
	struct xlb_backend b;
	struct ct_view cv;

	if (e->sock || ct_lookup(e->ct_fd, e->q->hook, &e->ck, &cv))
		return false;
	snprintf(x->ct_state, sizeof(x->ct_state), "%s",
		 cv.state < 4 ? ct_states[cv.state] : "?");
	x->ct_idle = e->now - cv.last_seen;
	x->svc_id = cv.svc_id;
	x->service = true;
	backend_of(x, e->be_fd, cv.backend_id);
	if (cv.dir == XLB_CT_REV) {
		struct xlb_ip vip = { .family = XLB_AF_INET };

		vip.addr.a32[0] = cv.nat_addr;
		x->kind = XLB_EXPLAIN_REPLY;
		snprintf(x->why, sizeof(x->why),
			 "a reply of a tracked flow (%s, idle %us): its source becomes %s:%u "
			 "again%s", x->ct_state, x->ct_idle, xlb_ip_str(&vip, sb, sizeof(sb)),
			 ntohs(cv.nat_port),
			 cv.hairpin ? ", its destination the client's own address (hairpin)" : "");
		return true;
	}
	if (!bpf_map_lookup_elem(e->be_fd, &cv.backend_id, &b) && b.gen == cv.backend_gen &&
	    b.state != XLB_BE_FREE) {
		x->kind = XLB_EXPLAIN_EXISTING_FLOW;
		snprintf(x->why, sizeof(x->why),
			 "an established flow (%s, idle %us) keeps backend %u, %s:%u%s, "
			 "whatever the backend set became",
			 x->ct_state, x->ct_idle, cv.backend_id,
			 xlb_ip_str(&x->backend, bb, sizeof(bb)), x->backend_port,
			 b.state == XLB_BE_TERMINATING ? " (terminating: existing flows only)" : "");
		return true;
	}
	if (e->q->proto == IPPROTO_TCP) {
		x->kind = XLB_EXPLAIN_RESET;
		snprintf(x->why, sizeof(x->why),
			 "an established flow whose backend %u is gone: its next segment "
			 "gets a TCP reset (a new SYN would be balanced afresh)", cv.backend_id);
		return true;
	}
	return false;
}

/* 2. The service the destination is, into sv: its address's, or a node
 * port's on a node address. True when there is none: a reply of a flow not
 * established yet (XDP), or traffic passed untouched. */
static bool explain_service(struct explain *e, struct xlb_svc_val *sv)
{
	const struct xlb_explain_req *q = e->q;
	struct xlb_explain *x = e->x;
	struct xlb_svc_key sk = { .addr = q->dst.addr, .port = htons(q->dport), .proto = q->proto,
				  .family = XLB_AF_INET };
	struct xlb_node_addr_key nk = { .addr = q->dst.addr, .family = XLB_AF_INET };
	bool loopback = e->sock && (ntohl(q->dst.addr.a32[0]) >> 24) == 127;
	char sb[XLB_IP_STRLEN];
	struct xlb_ct_syn_val syn;
	uint32_t one;

	if (!bpf_map_lookup_elem(e->svc_fd, &sk, sv))
		return false;
	/* a reply to a flow not established yet? */
	if (q->hook == XLB_EXPLAIN_XDP && !bpf_map_lookup_elem(e->syn_fd, &e->ck, &syn)) {
		struct xlb_ip vip = { .family = XLB_AF_INET };

		vip.addr.a32[0] = syn.nat_addr;
		x->kind = XLB_EXPLAIN_REPLY;
		x->service = true;
		x->svc_id = syn.svc_id;
		snprintf(x->ct_state, sizeof(x->ct_state), "new");
		x->ct_idle = e->now - syn.created;
		backend_of(x, e->be_fd, syn.backend_id);
		snprintf(x->why, sizeof(x->why),
			 "a reply of a flow not established yet (%us old): its source becomes "
			 "%s:%u again", x->ct_idle, xlb_ip_str(&vip, sb, sizeof(sb)),
			 ntohs(syn.nat_port));
		return true;
	}
	if (!loopback && bpf_map_lookup_elem(e->na_fd, &nk, &one)) {
		x->kind = XLB_EXPLAIN_NOT_SERVICE;
		snprintf(x->why, sizeof(x->why), "no service on %s:%u/%s: passed to the stack untouched",
			 xlb_ip_str(&q->dst, sb, sizeof(sb)), q->dport, xlb_proto_name(q->proto));
		return true;
	}
	memset(&sk.addr, 0, sizeof(sk.addr));
	if (bpf_map_lookup_elem(e->svc_fd, &sk, sv)) {
		x->kind = XLB_EXPLAIN_NOT_SERVICE;
		snprintf(x->why, sizeof(x->why),
			 "%s is a node address but no NodePort service has port %u/%s: passed untouched",
			 xlb_ip_str(&q->dst, sb, sizeof(sb)), q->dport, xlb_proto_name(q->proto));
		return true;
	}
	x->via_node_port = true;
	if (loopback)
		snprintf(x->note, sizeof(x->note), "a loopback NodePort is translated only for "
			 "sockets of the node's own network namespace (a pod's 127.0.0.1 is its own)");
	return false;
}

/* What the service sv allows before any choice: XDP's checks on a key
 * external clients use (bpf/xlb.bpf.c, xlb_service; the socket and pod
 * hooks make none), and whether it has a backend for new flows. True when
 * the flow is refused. */
static bool explain_refused(struct explain *e, const struct xlb_svc_val *sv)
{
	const struct xlb_explain_req *q = e->q;
	struct xlb_explain *x = e->x;
	bool xdp = q->hook == XLB_EXPLAIN_XDP;

	if (xdp && (sv->flags & XLB_SVC_F_SRC_RANGES)) {
		struct xlb_src_range_key rk = { .prefixlen = 64, .svc_id = sv->id,
						.addr = q->src.addr.a32[0] };
		char ranges[160];
		uint32_t one;

		if (bpf_map_lookup_elem(e->sr_fd, &rk, &one)) {
			ranges_of(e->sr_fd, sv->id, ranges, sizeof(ranges));
			x->kind = XLB_EXPLAIN_SOURCE_RANGE;
			snprintf(x->why, sizeof(x->why),
				 "%s is outside service %u's loadBalancerSourceRanges (%s): "
				 "dropped, counted drop_source_range", e->who, sv->id,
				 ranges[0] ? ranges : "none");
			return true;
		}
	}
	if (xdp && (sv->flags & XLB_SVC_F_LOCAL) && !sv->slots) {
		x->kind = XLB_EXPLAIN_NO_LOCAL;
		snprintf(x->why, sizeof(x->why),
			 "service %u has externalTrafficPolicy Local and no ready endpoint on "
			 "this node: traffic from outside is dropped, counted "
			 "drop_no_local_endpoint (its health check node port answers 503, so "
			 "load balancers send clients to other nodes)", sv->id);
		return true;
	}
	if (!sv->slots) {
		x->kind = XLB_EXPLAIN_NO_BACKEND;
		snprintf(x->why, sizeof(x->why), "service %u has no backend for new flows: %s",
			 sv->id, e->sock ? "connect()/sendto() fail with ECONNREFUSED" :
			 q->proto == IPPROTO_TCP ? "a TCP reset" :
			 q->hook == XLB_EXPLAIN_POD ? "the datagram is dropped" :
			 "an ICMP port unreachable");
		return true;
	}
	return false;
}

/* 3. ClientIP affinity: true when the client's last backend, still active
 * and within the timeout, takes the flow. */
static bool explain_affinity(struct explain *e, const struct xlb_svc_val *sv)
{
	struct xlb_aff_key ak = { .client = e->client, .svc_id = sv->id,
				  .family = e->sock ? XLB_AF_NONE : XLB_AF_INET };
	struct xlb_explain *x = e->x;
	char bb[XLB_IP_STRLEN];
	struct xlb_aff_val av;
	struct xlb_backend b;

	if (!(sv->flags & XLB_SVC_F_AFFINITY) || bpf_map_lookup_elem(e->aff_fd, &ak, &av) ||
	    e->now - av.last_used > sv->aff_timeout ||
	    bpf_map_lookup_elem(e->be_fd, &av.backend_id, &b) || b.gen != av.backend_gen ||
	    b.state != XLB_BE_ACTIVE)
		return false;
	x->kind = XLB_EXPLAIN_AFFINITY;
	backend_of(x, e->be_fd, av.backend_id);
	snprintf(x->why, sizeof(x->why),
		 "ClientIP affinity: %s used backend %u, %s:%u, %us ago (timeout %us)",
		 e->who, av.backend_id, xlb_ip_str(&x->backend, bb, sizeof(bb)), x->backend_port,
		 e->now - av.last_used, sv->aff_timeout);
	snat_note(x, e->q, sv, e->be_fd);
	return true;
}

/* 4. The table: one slot, by a hash of the client (sh, affinity) or of the
 * 5-tuple (rr, wrr); at the socket rr and wrr hash its cookie. */
static void explain_slot(struct explain *e, const struct xlb_svc_val *sv)
{
	const struct xlb_explain_req *q = e->q;
	struct xlb_explain *x = e->x;
	bool by_client = sv->algo == XLB_ALGO_SH || (sv->flags & XLB_SVC_F_AFFINITY);
	const char *algo = algos[sv->algo < 3 ? sv->algo : 0];
	char bb[XLB_IP_STRLEN];
	uint32_t idx, id;

	x->kind = sv->algo == XLB_ALGO_SH ? XLB_EXPLAIN_HASH : XLB_EXPLAIN_SEQUENCE;
	if (e->sock && !by_client) {
		snprintf(x->why, sizeof(x->why),
			 "%s at the socket: the slot of the %u-slot table is a hash of the "
			 "socket's cookie, so a socket keeps one backend for all its datagrams "
			 "and connect() calls (which one, the socket decides)", algo, sv->slots);
		return;
	}
	x->hash = by_client ? xlb_hash_addr(e->client.a32, XLB_SH_SEED) :
		  xlb_hash_flow4(q->src.addr.a32[0], q->dst.addr.a32[0], htons(q->sport),
				 htons(q->dport), q->proto);
	x->slot = x->hash % sv->slots;
	idx = sv->sel_base + x->slot;
	if (!bpf_map_lookup_elem(e->sel_fd, &idx, &id))
		backend_of(x, e->be_fd, id);
	snprintf(x->why, sizeof(x->why),
		 "%s: hash(%s) = 0x%08x, slot %u of the %u-slot %s table -> backend %u, %s:%u",
		 algo, by_client ? e->who : "5-tuple", x->hash, x->slot, sv->slots,
		 sv->algo == XLB_ALGO_SH ? "Maglev" : sv->algo == XLB_ALGO_WRR ? "weighted" :
		 "backend", x->backend_id, xlb_ip_str(&x->backend, bb, sizeof(bb)),
		 x->backend_port);
	snat_note(x, q, sv, e->be_fd);
}

int xlb_dp_bpf_explain(struct xlb_dp *dp, const struct xlb_explain_req *q,
		       struct xlb_explain *x, char *err, size_t errlen)
{
	struct explain e = {
		.q = q, .x = x, .sock = q->hook == XLB_EXPLAIN_SOCKET, .now = xlb_coarse_s(),
		.ck = { .saddr = q->src.addr.a32[0], .daddr = q->dst.addr.a32[0],
			.sport = htons(q->sport), .dport = htons(q->dport), .proto = q->proto },
	};
	struct xlb_svc_val sv;
	int ret;

	memset(x, 0, sizeof(*x));
	if (e.sock) {
		e.client = (struct xlb_addr){ .a32 = { (uint32_t)q->netns_cookie,
						       (uint32_t)(q->netns_cookie >> 32) } };
		snprintf(e.who, sizeof(e.who), "network namespace %llu",
			 (unsigned long long)q->netns_cookie);
	} else {
		e.client = q->src.addr;
		xlb_ip_str(&q->src, e.who, sizeof(e.who));
	}
	if ((!e.sock && q->src.family != XLB_AF_INET) || q->dst.family != XLB_AF_INET)
		return xlb_errf(err, errlen, -EINVAL,
				"explain: IPv4 addresses only (the datapath is IPv4 today)");
	ret = explain_maps(dp, &e, err, errlen);
	if (ret)
		return ret;
	if (explain_flow(&e) || explain_service(&e, &sv))
		return 0;
	x->service = true;
	x->svc_id = sv.id;
	x->algo = sv.algo;
	x->slots = sv.slots;
	x->sel_base = sv.sel_base;
	x->aff_timeout = (sv.flags & XLB_SVC_F_AFFINITY) ? sv.aff_timeout : 0;
	if (!explain_refused(&e, &sv) && !explain_affinity(&e, &sv))
		explain_slot(&e, &sv);
	return 0;
}
