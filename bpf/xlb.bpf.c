// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xlb XDP datapath: ClusterIP and NodePort load balancing.
 *
 * Per packet: parse; one conntrack lookup (forward or reply entry); on a
 * miss, the service lookup, backend selection and two conntrack inserts.
 * Then DNAT (or reverse NAT) with incremental checksums, and forwarding
 * from the cached FIB result (bpf_redirect, also back out of the ingress
 * interface), or XDP_PASS to the stack when the next hop is not known yet.
 * A packet for a service without backends is answered (TCP reset, ICMP
 * port unreachable). Every packet counts exactly one outcome.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/csum.h"
#include "lib/ct.h"
#include "lib/select.h"
#include "lib/nat.h"
#include "lib/respond.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Every packet ends in exactly one outcome counter (include/xlb/stats.h):
 * these return the verdict and count its reason. */
static __always_inline int xlb_pass(__u32 reason)
{
	stat_inc(reason);
	return XDP_PASS;
}

static __always_inline int xlb_drop(__u32 reason)
{
	stat_inc(reason);
	return XDP_DROP;
}

/* Send out of ifindex. Back out of the ingress interface too we redirect
 * rather than XDP_TX: a veth only wakes its peer's receive path for an
 * XDP_TX when the peer runs XDP itself, so a TX'd frame could sit in the
 * queue until unrelated traffic arrives. Redirect wakes it, and on a
 * physical NIC it costs little more. */
static __always_inline int xlb_out(struct xdp_md *ctx, __u32 ifindex, __u32 reason)
{
	stat_inc(reason);
	return bpf_redirect(ifindex, 0);
}

/* Send the rewritten packet on from what the entry knows of the next hop. */
static __always_inline int xlb_xmit(struct xdp_md *ctx, struct xlb_pkt *p,
				    const struct xlb_ct_val *v)
{
	if (p->csum_partial)	/* only the stack can finish a partial checksum */
		return xlb_pass(XLB_STAT_PASS_CSUM_PARTIAL);
	if (p->vlan || !(v->flags & XLB_CT_F_FIB_CACHED) || !v->ifindex)
		return xlb_pass(XLB_STAT_PASS_NO_ROUTE);
	xlb_set_macs(p->eth, v->smac, v->dmac);
	return xlb_out(ctx, v->ifindex, v->ifindex == ctx->ingress_ifindex ?
			       XLB_STAT_FWD_BACK : XLB_STAT_FWD_REDIRECT);
}

/* Answer a TCP packet we cannot serve with a reset; when that is not
 * possible (it is a reset itself), drop it for drop_reason. */
static __always_inline int xlb_reset(struct xdp_md *ctx, struct xlb_pkt *p, __u32 drop_reason)
{
	if (xlb_tcp_reset(ctx, p) != XDP_TX)
		return xlb_drop(drop_reason);
	return xlb_out(ctx, ctx->ingress_ifindex, XLB_STAT_RST_SENT);
}

/* A new flow to a service that has no backend for it: tell the client
 * (TCP reset, ICMP port unreachable for UDP) rather than leave it
 * retransmitting into silence. */
static __always_inline int xlb_no_backend(struct xdp_md *ctx, struct xlb_pkt *p)
{
	stat_inc(XLB_STAT_NO_BACKEND);
	if (p->tcp)
		return xlb_reset(ctx, p, XLB_STAT_DROP_NO_BACKEND);
	if (xlb_icmp_unreach(ctx, p) != XDP_TX)
		return xlb_drop(XLB_STAT_DROP_NO_BACKEND);
	return xlb_out(ctx, ctx->ingress_ifindex, XLB_STAT_ICMP_SENT);
}

/* A reply from a backend: give it the service address back. */
static __always_inline int xlb_reply(struct xdp_md *ctx, struct xlb_pkt *p,
				     struct xlb_ct_val *ct, __u32 now)
{
	xlb_ct_touch(ct, p, now);
	counters_add(&svc_stats, ct->svc_id, p->len, 0);
	counters_add(&backend_stats, ct->backend_id, p->len, 0);
	xlb_rewrite(p, 0, ct->nat_addr.a32[0], ct->nat_port);
	return xlb_xmit(ctx, p, ct);
}

static __always_inline int xlb_dnat_fwd(struct xdp_md *ctx, struct xlb_pkt *p,
					struct xlb_ct_val *ct, const struct xlb_backend *b)
{
	if (!(ct->flags & XLB_CT_F_FIB_CACHED))
		xlb_fib_fill(ctx, p, b->addr.a32[0], ct);
	xlb_rewrite(p, 1, b->addr.a32[0], b->port);
	return xlb_xmit(ctx, p, ct);
}

/* First packet of a flow (or a flow whose backend is gone): choose a
 * backend, record both directions, rewrite and send. */
static __always_inline int xlb_new_flow(struct xdp_md *ctx, struct xlb_pkt *p,
					const struct xlb_ct_key *k,
					const struct xlb_svc_val *svc, __u32 now)
{
	struct xlb_ct_val fwd = {}, rev = {};
	struct xlb_ct_key rk = {};
	struct xlb_backend *b = NULL;
	struct xlb_sel_client cl;
	__u32 id;

	xlb_sel_client_v4(&cl, p->ip->saddr);
	id = xlb_select(svc, &cl, now, &b);
	if ((!id || !b) && svc->slots) {
		/* The slot's backend was freed between our read of the service
		 * and of the slot: the service has switched to a new table by
		 * now. Read it again, once. */
		stat_inc(XLB_STAT_SEL_MISS);
		svc = xlb_svc_find(p->ip->daddr, p->dport, p->proto);
		if (svc)
			id = xlb_select(svc, &cl, now, &b);
	}
	if (!id || !b || !svc)
		return xlb_no_backend(ctx, p);

	xlb_ct_fill(&fwd, XLB_CT_FWD, svc->id, id, b->gen, now);
	xlb_fib_fill(ctx, p, b->addr.a32[0], &fwd);

	xlb_ct_fill(&rev, XLB_CT_REV, svc->id, id, b->gen, now);
	rev.nat_addr.a32[0] = p->ip->daddr;
	rev.nat_port = p->dport;
	rev.ifindex = ctx->ingress_ifindex;
	__builtin_memcpy(rev.smac, p->eth->h_dest, ETH_ALEN);
	__builtin_memcpy(rev.dmac, p->eth->h_source, ETH_ALEN);
	rev.flags = XLB_CT_F_FIB_CACHED;

	rk.saddr = b->addr;
	rk.daddr.a32[0] = p->ip->saddr;
	rk.sport = b->port;
	rk.dport = p->sport;
	rk.proto = p->proto;
	rk.family = XLB_AF_INET;

	if (bpf_map_update_elem(&ct_map, &rk, &rev, BPF_ANY) ||
	    bpf_map_update_elem(&ct_map, k, &fwd, BPF_ANY))
		return xlb_drop(XLB_STAT_DROP_CT_FULL);
	stat_inc(XLB_STAT_CT_NEW);
	counters_add(&svc_stats, svc->id, p->len, 1);
	counters_add(&backend_stats, id, p->len, 1);

	xlb_rewrite(p, 1, b->addr.a32[0], b->port);
	return xlb_xmit(ctx, p, &fwd);
}

SEC("xdp.frags")
int xlb_xdp(struct xdp_md *ctx)
{
	struct xlb_pkt p = {};
	struct xlb_ct_key k = {};
	struct xlb_ct_val *ct;
	struct xlb_svc_val *svc;
	struct xlb_backend *b;
	__u32 now;
	int rc;

	stat_inc(XLB_STAT_RX);
	rc = xlb_parse(ctx, &p);
	switch (rc) {
	case XLB_PARSE_OK:
		break;
	case XLB_PARSE_NOT_IP:
		return xlb_pass(XLB_STAT_PASS_NOT_IP);
	case XLB_PARSE_NOT_L4:
		return xlb_pass(XLB_STAT_PASS_NOT_SERVICE);
	case XLB_PARSE_FRAGMENT:
		return xlb_pass(XLB_STAT_PASS_FRAGMENT);
	default:
		/* Ours to judge only when it is for one of our services. */
		if (p.have_ports && xlb_svc_find(p.ip->daddr, p.dport, p.proto))
			return xlb_drop(XLB_STAT_DROP_MALFORMED);
		return xlb_pass(XLB_STAT_PASS_MALFORMED);
	}

	xlb_ct_key_from_pkt(&k, &p);
	ct = bpf_map_lookup_elem(&ct_map, &k);
	if (ct) {
		now = xlb_now();
		stat_inc(XLB_STAT_CT_HIT);
		if (ct->dir == XLB_CT_REV)
			return xlb_reply(ctx, &p, ct, now);

		b = xlb_backend_get(ct->backend_id);
		if (b && b->gen == ct->backend_gen && b->state != XLB_BE_FREE) {
			/* A SYN on a flow that already got past NEW reuses the
			 * 5-tuple of a finished connection: a new flow. */
			if (!(xlb_is_syn(&p) && ct->state != XLB_CT_NEW)) {
				xlb_ct_touch(ct, &p, now);
				counters_add(&svc_stats, ct->svc_id, p.len, 0);
				counters_add(&backend_stats, ct->backend_id, p.len, 0);
				return xlb_dnat_fwd(ctx, &p, ct, b);
			}
		} else if (p.tcp && !xlb_is_syn(&p)) {
			/* The backend is gone: tell the client now rather
			 * than leave it retransmitting into a hole. */
			return xlb_reset(ctx, &p, XLB_STAT_DROP_BACKEND_GONE);
		} else {
			stat_inc(XLB_STAT_CT_RESELECT);
		}
	}

	svc = xlb_svc_find(p.ip->daddr, p.dport, p.proto);
	if (!svc) {
		/* A new direct connection owns its 5-tuple: a reply entry left by
		 * an earlier balanced flow on the same ports would rewrite its
		 * replies. Only SYNs pay for this check. */
		if (!ct && xlb_is_syn(&p))
			xlb_ct_drop_stale_reply(&p);
		return xlb_pass(XLB_STAT_PASS_NOT_SERVICE);
	}
	if (!ct)
		now = xlb_now();
	return xlb_new_flow(ctx, &p, &k, svc, now);
}
