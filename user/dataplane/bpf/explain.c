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

int xlb_dp_bpf_explain(struct xlb_dp *dp, const struct xlb_explain_req *q,
		       struct xlb_explain *x, char *err, size_t errlen)
{
	const struct xlb_ip *src = &q->src, *dst = &q->dst;
	uint16_t sport = q->sport, dport = q->dport;
	uint8_t proto = q->proto;
	bool sock = q->hook == XLB_EXPLAIN_SOCKET;
	/* Who the client is: its address, or at the socket its netns. */
	struct xlb_addr client = sock ? (struct xlb_addr){ .a32 = {
		(uint32_t)q->netns_cookie, (uint32_t)(q->netns_cookie >> 32) } } : src->addr;
	char who[64];
	static const char *const st[] = { "new", "established", "closing", "closed" };
	static const char *const algos[] = { "rr", "wrr", "sh" };
	int svc_fd = -1, sel_fd = -1, be_fd = -1, ct_fd = -1, aff_fd = -1, na_fd = -1, syn_fd = -1;
	int sr_fd = -1;
	struct xlb_ct4_key ck = {};
	struct ct_view cv;
	struct xlb_svc_key sk = {};
	struct xlb_svc_val sv;
	char sb[XLB_IP_STRLEN], bb[XLB_IP_STRLEN];
	uint32_t now = xlb_coarse_s();
	int ret = 0;

	memset(x, 0, sizeof(*x));
	if (sock)
		snprintf(who, sizeof(who), "network namespace %llu",
			 (unsigned long long)q->netns_cookie);
	else
		xlb_ip_str(src, who, sizeof(who));
	if ((!sock && src->family != XLB_AF_INET) || dst->family != XLB_AF_INET) {
		return xlb_errf(err, errlen, -EINVAL,
				"explain: IPv4 addresses only (the datapath is IPv4 today)");
	}
	if ((svc_fd = ret = map_fd(dp, "svc_map", err, errlen)) < 0 ||
	    (sel_fd = ret = map_fd(dp, "sel_map", err, errlen)) < 0 ||
	    (be_fd = ret = map_fd(dp, "backend_map", err, errlen)) < 0 ||
	    (ct_fd = ret = map_fd(dp, q->hook == XLB_EXPLAIN_POD ? "pod_ct" : "ct4", err,
				  errlen)) < 0 ||
	    (syn_fd = ret = map_fd(dp, "ct_syn", err, errlen)) < 0 ||
	    (aff_fd = ret = map_fd(dp, "aff_map", err, errlen)) < 0 ||
	    (na_fd = ret = map_fd(dp, "node_addrs", err, errlen)) < 0 ||
	    (sr_fd = ret = map_fd(dp, "src_ranges", err, errlen)) < 0)
		return ret;
	ret = 0;

	/* 1. conntrack, as the packet hooks look first (the socket programs
	 * keep no flows: a socket, once connected, talks to its backend) */
	ck.saddr = src->addr.a32[0];
	ck.daddr = dst->addr.a32[0];
	ck.sport = htons(sport);
	ck.dport = htons(dport);
	ck.proto = proto;
	if (!sock && !ct_lookup(ct_fd, q->hook, &ck, &cv)) {
		snprintf(x->ct_state, sizeof(x->ct_state), "%s", cv.state < 4 ? st[cv.state] : "?");
		x->ct_idle = now - cv.last_seen;
		x->svc_id = cv.svc_id;
		x->service = true;
		if (cv.dir == XLB_CT_REV) {
			struct xlb_ip vip = { .family = XLB_AF_INET };

			vip.addr.a32[0] = cv.nat_addr;
			x->kind = XLB_EXPLAIN_REPLY;
			backend_of(x, be_fd, cv.backend_id);
			snprintf(x->why, sizeof(x->why),
				 "a reply of a tracked flow (%s, idle %us): its source becomes %s:%u "
				 "again%s", x->ct_state, x->ct_idle, xlb_ip_str(&vip, sb, sizeof(sb)),
				 ntohs(cv.nat_port),
				 cv.hairpin ? ", its destination the client's own address (hairpin)" : "");
			goto out;
		}
		backend_of(x, be_fd, cv.backend_id);
		{
			struct xlb_backend b;
			bool alive = !bpf_map_lookup_elem(be_fd, &cv.backend_id, &b) &&
				     b.gen == cv.backend_gen && b.state != XLB_BE_FREE;

			if (alive) {
				x->kind = XLB_EXPLAIN_EXISTING_FLOW;
				snprintf(x->why, sizeof(x->why),
					 "an established flow (%s, idle %us) keeps backend %u, %s:%u%s, "
					 "whatever the backend set became",
					 x->ct_state, x->ct_idle, cv.backend_id,
					 xlb_ip_str(&x->backend, bb, sizeof(bb)), x->backend_port,
					 b.state == XLB_BE_TERMINATING ? " (terminating: existing flows only)" : "");
				goto out;
			}
			if (proto == IPPROTO_TCP) {
				x->kind = XLB_EXPLAIN_RESET;
				snprintf(x->why, sizeof(x->why),
					 "an established flow whose backend %u is gone: its next segment "
					 "gets a TCP reset (a new SYN would be balanced afresh)",
					 cv.backend_id);
				goto out;
			}
			/* UDP: re-selected below like a new flow */
		}
	}

	/* 2. the service */
	sk.addr = dst->addr;
	sk.port = htons(dport);
	sk.proto = proto;
	sk.family = XLB_AF_INET;
	if (bpf_map_lookup_elem(svc_fd, &sk, &sv)) {
		struct xlb_node_addr_key nk = { .addr = dst->addr, .family = XLB_AF_INET };
		bool loopback = sock && (ntohl(dst->addr.a32[0]) >> 24) == 127;
		struct xlb_ct_syn_val e;
		uint32_t one;

		/* a reply to a flow not established yet? */
		ck.saddr = src->addr.a32[0];
		if (q->hook == XLB_EXPLAIN_XDP && !bpf_map_lookup_elem(syn_fd, &ck, &e)) {
			struct xlb_ip vip = { .family = XLB_AF_INET };

			vip.addr.a32[0] = e.nat_addr;
			x->kind = XLB_EXPLAIN_REPLY;
			x->service = true;
			x->svc_id = e.svc_id;
			snprintf(x->ct_state, sizeof(x->ct_state), "new");
			x->ct_idle = now - e.created;
			backend_of(x, be_fd, e.backend_id);
			snprintf(x->why, sizeof(x->why),
				 "a reply of a flow not established yet (%us old): its source becomes "
				 "%s:%u again", x->ct_idle, xlb_ip_str(&vip, sb, sizeof(sb)),
				 ntohs(e.nat_port));
			goto out;
		}
		if (!loopback && bpf_map_lookup_elem(na_fd, &nk, &one)) {
			x->kind = XLB_EXPLAIN_NOT_SERVICE;
			snprintf(x->why, sizeof(x->why), "no service on %s:%u/%s: passed to the stack untouched",
				 xlb_ip_str(dst, sb, sizeof(sb)), dport, xlb_proto_name(proto));
			goto out;
		}
		memset(&sk.addr, 0, sizeof(sk.addr));
		if (bpf_map_lookup_elem(svc_fd, &sk, &sv)) {
			x->kind = XLB_EXPLAIN_NOT_SERVICE;
			snprintf(x->why, sizeof(x->why),
				 "%s is a node address but no NodePort service has port %u/%s: passed untouched",
				 xlb_ip_str(dst, sb, sizeof(sb)), dport, xlb_proto_name(proto));
			goto out;
		}
		x->via_node_port = true;
	}
	x->service = true;
	x->svc_id = sv.id;
	if (sock && x->via_node_port && (ntohl(dst->addr.a32[0]) >> 24) == 127)
		snprintf(x->note, sizeof(x->note), "a loopback NodePort is translated only for "
			 "sockets of the node's own network namespace (a pod's 127.0.0.1 is its own)");
	x->algo = sv.algo;
	x->slots = sv.slots;
	x->sel_base = sv.sel_base;
	x->aff_timeout = (sv.flags & XLB_SVC_F_AFFINITY) ? sv.aff_timeout : 0;
	/* XDP's checks on a key external clients use, before any choice
	 * (bpf/xlb.bpf.c, xlb_service); the socket and pod hooks make none */
	if (q->hook == XLB_EXPLAIN_XDP && (sv.flags & XLB_SVC_F_SRC_RANGES)) {
		struct xlb_src_range_key rk = { .prefixlen = 64, .svc_id = sv.id,
						.addr = src->addr.a32[0] };
		uint32_t one;

		if (bpf_map_lookup_elem(sr_fd, &rk, &one)) {
			char ranges[160];

			ranges_of(sr_fd, sv.id, ranges, sizeof(ranges));
			x->kind = XLB_EXPLAIN_SOURCE_RANGE;
			snprintf(x->why, sizeof(x->why),
				 "%s is outside service %u's loadBalancerSourceRanges (%s): "
				 "dropped, counted drop_source_range", who, sv.id,
				 ranges[0] ? ranges : "none");
			goto out;
		}
	}
	if (q->hook == XLB_EXPLAIN_XDP && (sv.flags & XLB_SVC_F_LOCAL) && !sv.slots) {
		x->kind = XLB_EXPLAIN_NO_LOCAL;
		snprintf(x->why, sizeof(x->why),
			 "service %u has externalTrafficPolicy Local and no ready endpoint on "
			 "this node: traffic from outside is dropped, counted "
			 "drop_no_local_endpoint (its health check node port answers 503, so "
			 "load balancers send clients to other nodes)", sv.id);
		goto out;
	}
	if (!sv.slots) {
		x->kind = XLB_EXPLAIN_NO_BACKEND;
		snprintf(x->why, sizeof(x->why), "service %u has no backend for new flows: %s", sv.id,
			 sock ? "connect()/sendto() fail with ECONNREFUSED" :
			 proto == IPPROTO_TCP ? "a TCP reset" :
			 q->hook == XLB_EXPLAIN_POD ? "the datagram is dropped" :
			 "an ICMP port unreachable");
		goto out;
	}

	/* 3. affinity */
	if (sv.flags & XLB_SVC_F_AFFINITY) {
		struct xlb_aff_key ak = { .client = client, .svc_id = sv.id,
					  .family = sock ? XLB_AF_NONE : XLB_AF_INET };
		struct xlb_aff_val av;
		struct xlb_backend b;

		if (!bpf_map_lookup_elem(aff_fd, &ak, &av) && now - av.last_used <= sv.aff_timeout &&
		    !bpf_map_lookup_elem(be_fd, &av.backend_id, &b) && b.gen == av.backend_gen &&
		    b.state == XLB_BE_ACTIVE) {
			x->kind = XLB_EXPLAIN_AFFINITY;
			backend_of(x, be_fd, av.backend_id);
			snprintf(x->why, sizeof(x->why),
				 "ClientIP affinity: %s used backend %u, %s:%u, %us ago (timeout %us)",
				 who, av.backend_id,
				 xlb_ip_str(&x->backend, bb, sizeof(bb)), x->backend_port,
				 now - av.last_used, sv.aff_timeout);
			snat_note(x, q, &sv, be_fd);
			goto out;
		}
	}

	/* 4. the table: one slot, by a hash of the client (sh, affinity) or of
	 * the 5-tuple (rr, wrr) */
	{
		uint32_t idx, id;
		bool by_client = sv.algo == XLB_ALGO_SH || (sv.flags & XLB_SVC_F_AFFINITY);

		x->kind = sv.algo == XLB_ALGO_SH ? XLB_EXPLAIN_HASH : XLB_EXPLAIN_SEQUENCE;
		if (sock && !by_client) {
			snprintf(x->why, sizeof(x->why),
				 "%s at the socket: the slot of the %u-slot table is a hash of the "
				 "socket's cookie, so a socket keeps one backend for all its datagrams "
				 "and connect() calls (which one, the socket decides)",
				 algos[sv.algo < 3 ? sv.algo : 0], sv.slots);
			goto out;
		}
		x->hash = by_client ? xlb_hash_addr(client.a32, XLB_SH_SEED) :
			  xlb_hash_flow4(src->addr.a32[0], dst->addr.a32[0], htons(sport),
					 htons(dport), proto);
		x->slot = x->hash % sv.slots;
		idx = sv.sel_base + x->slot;
		if (!bpf_map_lookup_elem(sel_fd, &idx, &id))
			backend_of(x, be_fd, id);
		snprintf(x->why, sizeof(x->why),
			 "%s: hash(%s) = 0x%08x, slot %u of the %u-slot %s table -> backend %u, "
			 "%s:%u", algos[sv.algo < 3 ? sv.algo : 0],
			 by_client ? who : "5-tuple", x->hash, x->slot, sv.slots,
			 sv.algo == XLB_ALGO_SH ? "Maglev" : sv.algo == XLB_ALGO_WRR ? "weighted" :
			 "backend", x->backend_id, xlb_ip_str(&x->backend, bb, sizeof(bb)),
			 x->backend_port);
		snat_note(x, q, &sv, be_fd);
	}
out:
	return ret;
}
