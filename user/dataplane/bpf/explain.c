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

int xlb_dp_bpf_explain(struct xlb_dp *dp, const struct xlb_ip *src, uint16_t sport,
		       const struct xlb_ip *dst, uint16_t dport, uint8_t proto,
		       struct xlb_explain *x, char *err, size_t errlen)
{
	static const char *const st[] = { "new", "established", "closing", "closed" };
	static const char *const algos[] = { "rr", "wrr", "sh" };
	int svc_fd = -1, sel_fd = -1, be_fd = -1, ct_fd = -1, aff_fd = -1, na_fd = -1, rr_fd = -1;
	struct xlb_ct_key ck = {};
	struct xlb_ct_val cv;
	struct xlb_svc_key sk = {};
	struct xlb_svc_val sv;
	char sb[XLB_IP_STRLEN], bb[XLB_IP_STRLEN];
	uint32_t now = xlb_coarse_s();
	int ret = 0;

	memset(x, 0, sizeof(*x));
	if (src->family != XLB_AF_INET || dst->family != XLB_AF_INET) {
		return xlb_errf(err, errlen, -EINVAL,
				"explain: IPv4 addresses only (the datapath is IPv4 today)");
	}
	if ((svc_fd = ret = map_fd(dp, "svc_map", err, errlen)) < 0 ||
	    (sel_fd = ret = map_fd(dp, "sel_map", err, errlen)) < 0 ||
	    (be_fd = ret = map_fd(dp, "backend_map", err, errlen)) < 0 ||
	    (ct_fd = ret = map_fd(dp, "ct_map", err, errlen)) < 0 ||
	    (aff_fd = ret = map_fd(dp, "aff_map", err, errlen)) < 0 ||
	    (na_fd = ret = map_fd(dp, "node_addrs", err, errlen)) < 0 ||
	    (rr_fd = ret = map_fd(dp, "rr_state", err, errlen)) < 0)
		return ret;
	ret = 0;

	/* 1. conntrack, as the datapath looks first */
	ck.saddr = src->addr;
	ck.daddr = dst->addr;
	ck.sport = htons(sport);
	ck.dport = htons(dport);
	ck.proto = proto;
	ck.family = XLB_AF_INET;
	if (!bpf_map_lookup_elem(ct_fd, &ck, &cv)) {
		snprintf(x->ct_state, sizeof(x->ct_state), "%s", cv.state < 4 ? st[cv.state] : "?");
		x->ct_idle = now - cv.last_seen;
		x->svc_id = cv.svc_id;
		x->service = true;
		if (cv.dir == XLB_CT_REV) {
			struct xlb_ip vip = { .family = XLB_AF_INET, .addr = cv.nat_addr };

			x->kind = XLB_EXPLAIN_REPLY;
			backend_of(x, be_fd, cv.backend_id);
			snprintf(x->why, sizeof(x->why),
				 "a reply of a tracked flow (%s, idle %us): its source becomes %s:%u again",
				 x->ct_state, x->ct_idle, xlb_ip_str(&vip, sb, sizeof(sb)),
				 ntohs(cv.nat_port));
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
					 "an existing flow (%s, idle %us) keeps backend %u, %s:%u%s, "
					 "whatever the backend set became",
					 x->ct_state, x->ct_idle, cv.backend_id,
					 xlb_ip_str(&x->backend, bb, sizeof(bb)), x->backend_port,
					 b.state == XLB_BE_TERMINATING ? " (terminating: existing flows only)" : "");
				goto out;
			}
			if (proto == IPPROTO_TCP) {
				x->kind = XLB_EXPLAIN_RESET;
				snprintf(x->why, sizeof(x->why),
					 "an existing flow whose backend %u is gone: its next segment gets a "
					 "TCP reset (a new SYN would be balanced afresh)", cv.backend_id);
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
		uint32_t one;

		if (bpf_map_lookup_elem(na_fd, &nk, &one)) {
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
	x->algo = sv.algo;
	x->slots = sv.slots;
	x->sel_base = sv.sel_base;
	x->aff_timeout = (sv.flags & XLB_SVC_F_AFFINITY) ? sv.aff_timeout : 0;
	if (!sv.slots) {
		x->kind = XLB_EXPLAIN_NO_BACKEND;
		snprintf(x->why, sizeof(x->why), "service %u has no backend for new flows: %s", sv.id,
			 proto == IPPROTO_TCP ? "a TCP reset" : "an ICMP port unreachable");
		goto out;
	}

	/* 3. affinity */
	if (sv.flags & XLB_SVC_F_AFFINITY) {
		struct xlb_aff_key ak = { .client = src->addr, .svc_id = sv.id, .family = XLB_AF_INET };
		struct xlb_aff_val av;
		struct xlb_backend b;

		if (!bpf_map_lookup_elem(aff_fd, &ak, &av) && now - av.last_used <= sv.aff_timeout &&
		    !bpf_map_lookup_elem(be_fd, &av.backend_id, &b) && b.gen == av.backend_gen &&
		    b.state == XLB_BE_ACTIVE) {
			x->kind = XLB_EXPLAIN_AFFINITY;
			backend_of(x, be_fd, av.backend_id);
			snprintf(x->why, sizeof(x->why),
				 "ClientIP affinity: %s used backend %u, %s:%u, %us ago (timeout %us)",
				 xlb_ip_str(src, sb, sizeof(sb)), av.backend_id,
				 xlb_ip_str(&x->backend, bb, sizeof(bb)), x->backend_port,
				 now - av.last_used, sv.aff_timeout);
			goto out;
		}
	}

	/* 4. the algorithm */
	if (sv.algo == XLB_ALGO_SH) {
		uint32_t idx, id;

		x->kind = XLB_EXPLAIN_HASH;
		x->hash = xlb_hash_addr(src->addr.a32, XLB_SH_SEED);
		x->slot = x->hash % sv.slots;
		idx = sv.sel_base + x->slot;
		if (!bpf_map_lookup_elem(sel_fd, &idx, &id))
			backend_of(x, be_fd, id);
		snprintf(x->why, sizeof(x->why),
			 "source hash: hash(%s) = 0x%08x, slot %u of the %u-slot Maglev table -> "
			 "backend %u, %s:%u", xlb_ip_str(src, sb, sizeof(sb)), x->hash, x->slot,
			 sv.slots, x->backend_id, xlb_ip_str(&x->backend, bb, sizeof(bb)),
			 x->backend_port);
	} else {
		int n = libbpf_num_possible_cpus();
		uint32_t *pos;

		x->kind = XLB_EXPLAIN_SEQUENCE;
		if (n <= 0 || n > XLB_EXPLAIN_MAX_CPUS) {
			ret = -EINVAL;
			xlb_errf(err, errlen, 0, "explain: %d CPUs", n);
			goto out;
		}
		pos = calloc((size_t)n, sizeof(uint32_t) * 2);	/* values are 8-byte aligned */
		if (!pos) {
			ret = -ENOMEM;
			goto out;
		}
		x->ncpus = n;
		if (!bpf_map_lookup_elem(rr_fd, &sv.id, pos)) {
			for (int c = 0; c < n; c++) {
				uint32_t p = pos[c * 2], idx, id = 0;

				x->cpu_slot[c] = p >= sv.slots ? 0 : p;
				idx = sv.sel_base + x->cpu_slot[c];
				bpf_map_lookup_elem(sel_fd, &idx, &id);
				x->cpu_backend[c] = id;
			}
		}
		free(pos);
		backend_of(x, be_fd, x->cpu_backend[0]);
		snprintf(x->why, sizeof(x->why),
			 "%s: each CPU walks the %u-slot sequence on its own; a new flow on CPU 0 "
			 "takes slot %u -> backend %u, %s:%u (see the per-CPU list)",
			 algos[sv.algo < 3 ? sv.algo : 0], sv.slots, x->cpu_slot[0], x->backend_id,
			 xlb_ip_str(&x->backend, bb, sizeof(bb)), x->backend_port);
	}
out:
	return ret;
}
