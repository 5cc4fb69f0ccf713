// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xlb XDP datapath: ClusterIP, NodePort, LoadBalancer and external IP
 * load balancing.
 *
 * Per packet: parse; one lookup in the established table (ct4, either
 * direction); on a miss, the service lookup. A service's first packet of a
 * flow selects a backend and records the choice in ct_syn, one insert;
 * the flow enters ct4 once it has proved itself (the client acknowledged
 * the backend's SYN-ACK, or UDP went both ways). Anything else costs at
 * most these two hash lookups unless its ports say it may be ours
 * (port_map). Then DNAT (or reverse NAT) with incremental checksums, and
 * forwarding through the backend's cached next hop (bpf_redirect, also
 * back out of the ingress interface), or XDP_PASS to the stack when the
 * next hop is not known yet. A packet for a service without backends is
 * answered (TCP reset, ICMP port unreachable). Every packet counts exactly
 * one outcome. docs/architecture.md tells the whole story.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "lib/ctx/xdp.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/csum.h"
#include "lib/ct.h"
#include "lib/select.h"
#include "lib/nat.h"
#include "lib/respond.h"
#include "lib/snat.h"
#include "lib/icmp.h"
#include "lib/dsr.h"
#include "lib/frag_xdp.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Replies: frames up to this IPv4 length plus an Ethernet header are
 * taken to fit the way back to the client; longer ones are checked
 * against its interface's MTU. Towards a backend, the MTU cached with the
 * next hop decides. */
#define XLB_STD_MTU 1500

_Static_assert(sizeof(struct xlb_snat4_key) == sizeof(struct xlb_ct4_key) &&
	       __builtin_offsetof(struct xlb_snat4_key, proto) ==
	       __builtin_offsetof(struct xlb_ct4_key, proto), "SNAT and conntrack keys alike");

/* Every packet ends in exactly one outcome counter (include/xlb/stats.h):
 * these return the verdict and count its reason. */
static __always_inline int xlb_pass(struct xlb_cx *cx, __u32 reason)
{
	xlb_count(cx, reason);
	return XDP_PASS;
}

static __always_inline int xlb_drop(struct xlb_cx *cx, __u32 reason)
{
	xlb_count(cx, reason);
	return XDP_DROP;
}

/* Send out of ifindex. Back out of the ingress interface too we redirect
 * rather than XDP_TX: a veth only wakes its peer's receive path for an
 * XDP_TX when the peer runs XDP itself, so a TX'd frame could sit in the
 * queue until unrelated traffic arrives. Redirect wakes it, and on a
 * physical NIC it costs little more. */
static __always_inline int xlb_out(struct xlb_cx *cx, struct xdp_md *ctx, __u32 ifindex,
				   __u32 reason)
{
	xlb_count(cx, reason);
	return bpf_redirect(ifindex, 0);
}

/* A translated frame too big for the way out. A client's frame towards a
 * backend (fwd, mtu: the way out's MTU) with DF: the client is told that
 * MTU about the packet it sent, as a router would (path MTU discovery, RFC
 * 1191); else, or when that cannot be written, a source-NATed frame is
 * dropped, another left to the stack (reason), which fragments it. Kept
 * out of the common path: the verifier walks it only for long frames. */
static __always_inline int xlb_too_big(struct xlb_cx *cx, struct xdp_md *ctx, struct xlb_pkt *p,
				       int snat, int fwd, __u32 mtu, __u32 reason)
{
	if (fwd && p->l3_off == ETH_HLEN) {
		mtu = xlb_mtu_over(ctx, p->l3_off, mtu);
		if (mtu) {
			int rc = xlb_icmp_frag_needed(ctx, mtu);

			if (rc == XDP_TX)
				return xlb_out(cx, ctx, ctx->ingress_ifindex,
					       XLB_STAT_ICMP_FRAG_SENT);
			if (rc != XDP_PASS)	/* cut short: not the client's frame any more */
				return xlb_drop(cx, XLB_STAT_DROP_SNAT_TOO_BIG);
		}
	}
	return snat ? xlb_drop(cx, XLB_STAT_DROP_SNAT_TOO_BIG) : xlb_pass(cx, reason);
}

/* Send the rewritten packet out of ifindex with these Ethernet addresses;
 * to the stack when only it can (a partial checksum, a VLAN tag, no next
 * hop known, a frame a redirect may not deliver).
 *
 * A redirect the kernel refuses is dropped after the program returned,
 * where it cannot count it (only the xdp:xdp_redirect_err tracepoint sees
 * it), so frames it may refuse are not redirected: a multi-buffer frame
 * (xdp_do_redirect refused them on kernels up to at least 6.1, and not
 * every driver's ndo_xdp_xmit can send one) and a frame longer than the
 * way out's MTU (the stack fragments it or answers "fragmentation
 * needed"). A client's frame towards a backend (fwd) is measured against
 * the MTU cached with its next hop (mtu: the route's or the interface's),
 * one comparison; a reply of a standard Ethernet size skips the MTU
 * helper. */
static __always_inline int xlb_xmit(struct xlb_cx *cx, struct xdp_md *ctx, struct xlb_pkt *p, __u32 ifindex,
				    const __u8 *smac, const __u8 *dmac, int snat, int fwd, __u32 mtu)
{
	__u32 dev_mtu = 0;	/* in: 0, the frame's own length is checked */

	/* A source-NATed frame is the node's own to the stack: never left to
	 * it (snat: drop instead of pass). */
	if (p->csum_partial)	/* only the stack can finish a partial checksum */
		return snat ? xlb_drop(cx, XLB_STAT_DROP_SNAT_NO_ROUTE) :
			      xlb_pass(cx, XLB_STAT_PASS_CSUM_PARTIAL);
	if (p->l3_off != ETH_HLEN || !ifindex)	/* VLAN-tagged */
		return snat ? xlb_drop(cx, XLB_STAT_DROP_SNAT_NO_ROUTE) :
			      xlb_pass(cx, XLB_STAT_PASS_NO_ROUTE);
	if (p->len > ctx->data_end - ctx->data)
		return xlb_too_big(cx, ctx, p, snat, fwd, mtu, XLB_STAT_PASS_MULTIBUF);
	if (fwd ? p->len > ETH_HLEN + mtu :
		  p->len > ETH_HLEN + XLB_STD_MTU && bpf_check_mtu(ctx, ifindex, &dev_mtu, 0, 0))
		return xlb_too_big(cx, ctx, p, snat, fwd, mtu, XLB_STAT_PASS_TOO_BIG);
	xlb_set_macs(ctx, p, smac, dmac);
	return xlb_out(cx, ctx, ifindex, ifindex == ctx->ingress_ifindex ?
			       XLB_STAT_FWD_BACK : XLB_STAT_FWD_REDIRECT);
}

/* Answer a TCP packet we cannot serve with a reset; when that is not
 * possible (it is a reset itself), drop it for drop_reason. */
static __always_inline int xlb_reset(struct xlb_cx *cx, struct xdp_md *ctx, struct xlb_pkt *p, __u32 drop_reason)
{
	if (xlb_tcp_reset(ctx, p) != XDP_TX)
		return xlb_drop(cx, drop_reason);
	return xlb_out(cx, ctx, ctx->ingress_ifindex, XLB_STAT_RST_SENT);
}

/* A new flow to a service that has no backend for it: tell the client
 * (TCP reset, ICMP port unreachable for UDP) rather than leave it
 * retransmitting into silence. */
static __always_inline int xlb_no_backend(struct xlb_cx *cx, struct xdp_md *ctx, struct xlb_pkt *p)
{
	xlb_count(cx, XLB_STAT_NO_BACKEND);
	if (p->tcp)
		return xlb_reset(cx, ctx, p, XLB_STAT_DROP_NO_BACKEND);
	if (xlb_icmp_unreach(ctx, p) != XDP_TX)
		return xlb_drop(cx, XLB_STAT_DROP_NO_BACKEND);
	return xlb_out(cx, ctx, ctx->ingress_ifindex, XLB_STAT_ICMP_SENT);
}

/* The source an external flow to a backend on another node leaves with
 * (include/xlb/snat.h): naddr (the node address a node port's client came
 * to), else the node's SNAT address (LoadBalancer and external IPs, and a
 * flow that lost its mapping), and a port of the reserved range. 0, or
 * the reason to drop the packet. */
static __always_inline __u32 xlb_snat_out(struct xlb_cx *cx, const struct xlb_pkt *p,
					  const struct xlb_backend *b, __be32 naddr, __u32 now,
					  struct xlb_snat4_val *out)
{
	struct xlb_snat4_key ft = {};
	struct xlb_snat_src *src;
	__u32 zero = 0;
	int rc;

	if (!naddr) {
		src = bpf_map_lookup_elem(&snat_src, &zero);
		naddr = src ? src->addr : 0;
		if (!naddr)
			return XLB_STAT_DROP_SNAT_NO_ADDR;
	}
	ft.saddr = p->saddr;
	ft.daddr = b->addr.a32[0];
	ft.sport = p->sport;
	ft.dport = b->port;
	ft.proto = p->proto;
	rc = xlb_snat4_fwd(&ft, naddr, p->tcp_flags, now, out);
	if (rc == XLB_SNAT_EXHAUSTED)
		return XLB_STAT_DROP_SNAT_EXHAUSTED;
	if (rc == XLB_SNAT_FULL)
		return XLB_STAT_DROP_SNAT_FULL;
	if (rc == XLB_SNAT_NEW)
		xlb_count(cx, XLB_STAT_SNAT_NEW);
	return 0;
}

/* DNAT to backend b (id) and send through its next hop. mode (XLB_CT_F_*)
 * says how a backend on another node gets an external flow: SNAT too
 * (from naddr, xlb_snat_out), never to the stack, where a packet from the
 * node's own address would be a martian; or DSR, the packet untouched
 * inside an IPIP header from naddr (lib/dsr.h). */
static __always_inline int xlb_to_backend(struct xlb_cx *cx, struct xdp_md *ctx, struct xlb_pkt *p, __u32 svc_id,
					  __u32 id, const struct xlb_backend *b, __u32 now,
					  int new_flow, __u8 mode, __be32 naddr)
{
	const struct xlb_nexthop *nh;
	int snat = mode & XLB_CT_F_SNAT;

	counters_add(&svc_stats, svc_id, p->len, new_flow);
	counters_add(&backend_stats, id, p->len, new_flow);
	if (mode & XLB_CT_F_DSR) {
		if (p->l3_off != ETH_HLEN || p->csum_partial)
			return xlb_drop(cx, XLB_STAT_DROP_DSR_NO_ROUTE);
		if (p->len > ctx->data_end - ctx->data)
			return xlb_drop(cx, XLB_STAT_DROP_DSR_TOO_BIG);
		return xlb_dsr_xmit(ctx, naddr, id);
	}
	xlb_nat_rewrite(ctx, p, 1, b->addr.a32[0], b->port);
	/* a pod here: XDP cannot redirect into its veth (no NAPI at kernel
	 * defaults); tc on the NIC delivers it (tc_pod.bpf.c, xlb_from_nic) */
	if (b->flags & XLB_BE_F_LOCAL)
		return xlb_pass(cx, XLB_STAT_PASS_LOCAL);
	nh = xlb_nexthop(ctx, p, id, b, now);
	if (snat) {
		struct xlb_snat4_val sv;
		__u32 why;

		if (!nh || p->l3_off != ETH_HLEN || p->csum_partial)
			return xlb_drop(cx, XLB_STAT_DROP_SNAT_NO_ROUTE);
		why = xlb_snat_out(cx, p, b, naddr, now, &sv);
		if (why)
			return xlb_drop(cx, why);
		xlb_nat_rewrite(ctx, p, 0, sv.addr, sv.port);
	}
	if (!nh)
		return xlb_xmit(cx, ctx, p, 0, NULL, NULL, 0, 1, 0);
	return xlb_xmit(cx, ctx, p, nh->ifindex, nh->smac, nh->dmac, snat, 1, nh->mtu);
}

/* loadBalancerSourceRanges: does one of the service's ranges hold saddr? */
static __always_inline int xlb_src_allowed(__u32 svc_id, __be32 saddr)
{
	struct xlb_src_range_key k = {};

	k.prefixlen = 64;
	k.svc_id = svc_id;
	k.addr = saddr;
	return bpf_map_lookup_elem(&src_ranges, &k) != NULL;
}

/* Reverse NAT of a reply and send it to the client as its packets came. */
static __always_inline int xlb_to_client(struct xlb_cx *cx, struct xdp_md *ctx, struct xlb_pkt *p, __u32 svc_id,
					 __u32 id, __be32 nat_addr, __be16 nat_port,
					 __u32 ifindex, const __u8 *smac, const __u8 *dmac, int snat)
{
	counters_add(&svc_stats, svc_id, p->len, 0);
	counters_add(&backend_stats, id, p->len, 0);
	xlb_nat_rewrite(ctx, p, 0, nat_addr, nat_port);
	return xlb_xmit(cx, ctx, p, ifindex, smac, dmac, snat, 0, 0);
}

/* How an external flow reaches backend b when it is on another node
 * (XLB_CT_F_SNAT or XLB_CT_F_DSR); 0: as it is (the backend is here, or
 * the flow came to a cluster IP). */
static __always_inline __u8 xlb_ext_mode(const struct xlb_svc_val *svc, const struct xlb_backend *b)
{
	/* without branches: a fork here would double what the verifier walks */
	__u32 ext = (svc->flags / XLB_SVC_F_EXTERNAL) & (b->flags / XLB_BE_F_REMOTE) & 1;
	__u32 dsr = (svc->flags / XLB_SVC_F_DSR) & 1;

	_Static_assert(XLB_CT_F_DSR == XLB_CT_F_SNAT << 1, "DSR the bit after SNAT");
	return (__u8)((ext * XLB_CT_F_SNAT) << dsr);
}

/* Record a flow's first packet's choice in ct_syn, under its reply tuple. */
static __always_inline int xlb_syn_record(struct xdp_md *ctx, const struct xlb_pkt *p,
					  const struct xlb_ct4_key *fk, const struct xlb_ct4_key *rk,
					  __u32 svc_id, __u32 id, const struct xlb_backend *b,
					  __u32 now, __u8 flags)
{
	struct xlb_ct_syn_val e = {};

	e.flags = flags;
	e.created = now;
	e.svc_id = svc_id;
	e.backend_id = id;
	e.backend_gen = b->gen;
	e.nat_addr = fk->daddr;
	e.nat_port = fk->dport;
	e.ifindex = ctx->ingress_ifindex;
	__builtin_memcpy(e.smac, p->eth->h_dest, ETH_ALEN);
	__builtin_memcpy(e.dmac, p->eth->h_source, ETH_ALEN);
	return bpf_map_update_elem(&ct_syn, rk, &e, BPF_ANY);
}

/* A service packet with no established flow. fk is its own tuple. */
static __always_inline int xlb_service(struct xlb_cx *cx, struct xdp_md *ctx, struct xlb_pkt *p,
				       const struct xlb_ct4_key *fk,
				       const struct xlb_svc_val *svc, __u32 now)
{
	struct xlb_ct4_key rk = {};
	struct xlb_ct_syn_val *e;
	struct xlb_backend *b = NULL;
	struct xlb_sel_client cl;
	__u32 id;
	__u8 mode;
	/* a node port's flows leave from the node address they came to */
	__be32 naddr = (svc->flags & XLB_SVC_F_NODEPORT) ? fk->daddr : 0;

	if ((svc->flags & XLB_SVC_F_SRC_RANGES) && !xlb_src_allowed(svc->id, fk->saddr))
		return xlb_drop(cx, XLB_STAT_DROP_SOURCE_RANGE);
	/* externalTrafficPolicy Local without a local endpoint: dropped, as
	 * kube-proxy does; the load balancer's health check sends the
	 * clients elsewhere. */
	if ((svc->flags & XLB_SVC_F_LOCAL) && !svc->slots)
		return xlb_drop(cx, XLB_STAT_DROP_NO_LOCAL);
	xlb_sel_client_v4(&cl, fk);
	id = xlb_select(svc, &cl, now, &b);
	if ((!id || !b) && svc->slots) {
		/* The slot's backend was freed between our read of the service
		 * and of the slot: the service has switched to a new table by
		 * now. Read it again, once. */
		xlb_count(cx, XLB_STAT_SEL_MISS);
		svc = xlb_svc_find(fk->daddr, fk->dport, fk->proto);
		if (svc)
			id = xlb_select(svc, &cl, now, &b);
	}
	if (!id || !b || !svc)
		return xlb_no_backend(cx, ctx, p);
	xlb_ct4_key_set(&rk, b->addr.a32[0], fk->saddr, b->port, fk->sport, fk->proto);
	mode = xlb_ext_mode(svc, b);

	if (xlb_is_syn(p)) {
		/* One insert, into the small table a flood can fill. */
		if (xlb_syn_record(ctx, p, fk, &rk, svc->id, id, b, now, mode))
			return xlb_drop(cx, XLB_STAT_DROP_CT_FULL);
		xlb_count(cx, XLB_STAT_CT_NEW);
		return xlb_to_backend(cx, ctx, p, svc->id, id, b, now, 1, mode, naddr);
	}

	e = bpf_map_lookup_elem(&ct_syn, &rk);
	if (!e) {
		/* Its first packet may have chosen from the table the service
		 * had before its last update. */
		struct xlb_backend *pb = NULL;
		__u32 pid = xlb_select_prev(svc, &cl, &pb);

		if (pid && pb && pid != id) {
			struct xlb_ct4_key prk = {};

			xlb_ct4_key_set(&prk, pb->addr.a32[0], fk->saddr, pb->port, fk->sport,
					fk->proto);
			e = bpf_map_lookup_elem(&ct_syn, &prk);
			if (e) {
				id = pid;
				b = pb;
				rk = prk;
				mode = xlb_ext_mode(svc, b);
			}
		}
	}
	if (e && e->backend_id == id && e->backend_gen == b->gen) {
		/* Proof: TCP acknowledges the backend's SYN-ACK (its ISN + 1,
		 * or data the backend sent right after it: at most 1 MiB, for
		 * protocols where the server speaks first) or, for a flow that
		 * lost its state, data the backend sent; UDP has seen a reply.
		 * A blind spoofer cannot see the ISN: a guess is right once
		 * in 4096. A DSR flow's replies never pass here: its client's
		 * next packet (TCP: an ACK, of any number) is all the proof
		 * there is. */
		int proved = e->flags & (XLB_CT_F_SEEN_REPLY | XLB_CT_F_DSR);

		if (proved && p->tcp) {
			__u32 ack = bpf_ntohl(p->tcp->ack_seq);
			__u32 win = (e->flags & XLB_CT_F_RECOVER) ? (1U << 30) : (1U << 20);

			win |= -(__u32)((e->flags / XLB_CT_F_DSR) & 1);	/* DSR: any */
			proved = (p->tcp_flags & XLB_TCP_ACK) && !(p->tcp_flags & XLB_TCP_RST) &&
				 ack - e->seq < win;
		}
		if (proved) {
			struct xlb_ct_syn_val est = *e;

			if (!xlb_ct4_insert(fk, &rk, &est, now)) {
				bpf_map_delete_elem(&ct_syn, &rk);
				xlb_count(cx, XLB_STAT_CT_ESTABLISHED);
				if (svc->flags & XLB_SVC_F_AFFINITY)
					xlb_aff_set(svc->id, &cl, id, b->gen, now);
			}
		}
		return xlb_to_backend(cx, ctx, p, svc->id, id, b, now, 0, mode, naddr);
	}

	if (!p->tcp) {	/* UDP */
		/* A UDP flow's first datagram (or its choice was lost). A reply
		 * entry an earlier flow left on its reply tuple would give its
		 * replies that flow's service address: it goes. */
		bpf_map_delete_elem(&ct4, &rk);
		if (xlb_syn_record(ctx, p, fk, &rk, svc->id, id, b, now, mode))
			return xlb_drop(cx, XLB_STAT_DROP_CT_FULL);
		xlb_count(cx, XLB_STAT_CT_NEW);
		return xlb_to_backend(cx, ctx, p, svc->id, id, b, now, 1, mode, naddr);
	}

	/* TCP without state and without SYN: a flow that lost its entries, or
	 * a spoofed packet. It goes where the table says, which is where the
	 * flow went as long as the table has not changed. Only the small
	 * table records it (so the backend's replies are translated), and
	 * only a flow that then proves itself gets into ct4. A reset creates
	 * nothing. */
	xlb_count(cx, XLB_STAT_CT_STATELESS);
	if (!(p->tcp_flags & XLB_TCP_RST))
		xlb_syn_record(ctx, p, fk, &rk, svc->id, id, b, now, XLB_CT_F_RECOVER | mode);
	return xlb_to_backend(cx, ctx, p, svc->id, id, b, now, 0, mode, naddr);
}

/* A client packet of an established flow. */
static __always_inline int xlb_est_fwd(struct xlb_cx *cx, struct xdp_md *ctx, struct xlb_pkt *p,
				       const struct xlb_ct4_key *fk, struct xlb_ct4_val *ct,
				       __u32 now)
{
	struct xlb_backend *b = xlb_backend_get(ct->backend_id);
	struct xlb_svc_val *svc;
	int syn = xlb_is_syn(p);

	if (b && b->gen == ct->fwd.backend_gen && b->state != XLB_BE_FREE) {
		/* A SYN on a flow that is still open is a stray or a spoof: it
		 * goes where the flow goes. After a close it reuses the 5-tuple
		 * for a new connection, which is balanced anew. */
		if (!syn || ct->state < XLB_CT_CLOSING) {
			/* a DSR flow has no reply entry (xlb_ct4_insert) */
			if (xlb_ct4_touch(ct, p, now) && !(ct->fwd.flags & XLB_CT_F_DSR) &&
			    xlb_ct4_rev_check(fk, ct, b, p, ctx->ingress_ifindex, now))
				xlb_count(cx, XLB_STAT_CT_REBUILT);
			return xlb_to_backend(cx, ctx, p, ct->svc_id, ct->backend_id, b, now, 0,
					      ct->fwd.flags & (XLB_CT_F_SNAT | XLB_CT_F_DSR), 0);
		}
	} else if (p->tcp && !syn) {
		/* The backend is gone: tell the client now rather than leave
		 * it retransmitting into a hole. */
		return xlb_reset(cx, ctx, p, XLB_STAT_DROP_BACKEND_GONE);
	} else {
		xlb_count(cx, XLB_STAT_CT_RESELECT);
	}
	xlb_ct4_delete(fk, b);
	svc = xlb_svc_find(fk->daddr, fk->dport, fk->proto);
	if (!svc)
		return xlb_pass(cx, XLB_STAT_PASS_NOT_SERVICE);
	return xlb_service(cx, ctx, p, fk, svc, now);
}

/* A backend's reply to a flow not established yet (k: its own tuple). */
static __always_inline int xlb_syn_reply(struct xlb_cx *cx, struct xdp_md *ctx, struct xlb_pkt *p,
					 struct xlb_ct_syn_val *e, int snat)
{
	xlb_ct_syn_seen_reply(e, p);
	return xlb_to_client(cx, ctx, p, e->svc_id, e->backend_id, e->nat_addr, e->nat_port,
			     e->ifindex, e->smac, e->dmac, snat);
}

static __always_inline int xlb_run(struct xlb_cx *cx, struct xdp_md *ctx)
{
	struct xlb_pkt p = {};
	struct xlb_ct4_key k = {};
	struct xlb_ct4_val *ct;
	struct xlb_ct_syn_val *e;
	struct xlb_svc_val *svc;
	int rc, snat_rev = 0;

	rc = xlb_parse(ctx, &p);
	switch (rc) {
	case XLB_PARSE_OK:
		break;
	case XLB_PARSE_NOT_IP:
		return xlb_pass(cx, XLB_STAT_PASS_NOT_IP);
	case XLB_PARSE_NOT_L4:
		if (p.proto == IPPROTO_ICMP) {
			rc = xlb_icmp_error(ctx, p.l3_off, cx->st);
			if (rc >= 0)
				return rc;
		}
		return xlb_pass(cx, XLB_STAT_PASS_NOT_SERVICE);
	case XLB_PARSE_FRAGMENT:
		rc = xlb_frag_later(ctx, p.l3_off);
		return rc == XLB_FRAG_DSR ? xlb_frag_dsr(ctx, p.l3_off) : rc;
	default:
		/* Ours to judge only when it is for one of our services. */
		if (p.have_ports && xlb_svc_find(p.daddr, p.dport, p.proto))
			return xlb_drop(cx, XLB_STAT_DROP_MALFORMED);
		return xlb_pass(cx, XLB_STAT_PASS_MALFORMED);
	}

	/* A datagram's first fragment (UDP, TCP) goes the usual way; its ports are
	 * kept for the later ones (xlb_frag_later). */
	if (p.ip->frag_off & bpf_htons(XLB_IP_MF))
		xlb_frag_first(ctx, p.l3_off, p.sport, p.dport);

	/* A reply to a source-NATed flow: to the client's address and port
	 * first, then on as any reply of the flow (the reverse DNAT). */
	xlb_ct4_key_set(&k, p.saddr, p.daddr, p.sport, p.dport, p.proto);
	if (xlb_snat_port_in_range(p.dport)) {
		/* the same layout as the conntrack key (_Static_assert above) */
		struct xlb_snat4_val *sv = xlb_snat4_rev((struct xlb_snat4_key *)&k, p.tcp_flags,
							 xlb_now());

		if (sv) {
			xlb_count(cx, XLB_STAT_SNAT_REPLY);
			xlb_nat_rewrite(ctx, &p, 1, sv->addr, sv->port);
			snat_rev = 1;
			xlb_ct4_key_set(&k, p.saddr, p.daddr, p.sport, p.dport, p.proto);
		}
	}

	ct = bpf_map_lookup_elem(&ct4, &k);
	if (ct) {
		__u32 now = xlb_now();

		xlb_count(cx, XLB_STAT_CT_HIT);
		if (ct->dir == XLB_CT_FWD)
			return xlb_est_fwd(cx, ctx, &p, &k, ct, now);
		/* A SYN-ACK answers a new handshake: if one is pending on this
		 * reply tuple, the established entry is an earlier flow's, left
		 * behind (the backend cannot hold both), and must not give the
		 * reply the other flow's service address. */
		if (xlb_is_synack(&p)) {
			e = bpf_map_lookup_elem(&ct_syn, &k);
			if (e) {
				bpf_map_delete_elem(&ct4, &k);
				return xlb_syn_reply(cx, ctx, &p, e, snat_rev);
			}
		}
		xlb_ct4_touch(ct, &p, now);
		return xlb_to_client(cx, ctx, &p, ct->svc_id, ct->backend_id, ct->rev.nat_addr,
				     ct->rev.nat_port, ct->rev.ifindex, ct->rev.smac,
				     ct->rev.dmac, snat_rev);
	}

	svc = xlb_svc_find(p.daddr, p.dport, p.proto);
	if (svc)
		return xlb_service(cx, ctx, &p, &k, svc, xlb_now());

	/* From a backend's port: maybe a reply to a flow not established yet. */
	if (port_flags(p.sport) & XLB_PORT_F_BACKEND) {
		e = bpf_map_lookup_elem(&ct_syn, &k);
		if (e)
			return xlb_syn_reply(cx, ctx, &p, e, snat_rev);
	}
	/* A new direct connection to a backend's port owns its 5-tuple: a
	 * reply entry left by an earlier balanced flow on the same ports
	 * would rewrite its replies. Only such SYNs pay for this check. */
	/* Translated back but its flow is gone: not the node's to receive. */
	if (snat_rev)
		return xlb_drop(cx, XLB_STAT_DROP_SNAT_ORPHAN);
	if (xlb_is_syn(&p) && (port_flags(p.dport) & XLB_PORT_F_BACKEND))
		xlb_ct_drop_stale_reply(&p);
	return xlb_pass(cx, XLB_STAT_PASS_NOT_SERVICE);
}

SEC("xdp.frags")
int xlb_xdp(struct xdp_md *ctx)
{
	struct xlb_cx cx;

	if (xlb_cx_init(&cx))
		return XDP_PASS;	/* cannot happen: a per-CPU array's entry 0 */
	return xlb_run(&cx, ctx);
}
