/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Service NAT on pod veths (tc_pod.bpf.c): the flow table, and the
 * forward, reply and new-flow steps. See tc_pod.bpf.c for the picture.
 */
#ifndef XLB_BPF_POD_H
#define XLB_BPF_POD_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "maps.h"
#include "select.h"
#include "clock.h"
#include "ct.h"
#include "parse.h"
#include "nat.h"
#include "respond.h"
#include "csum.h"
#include "frag.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLB_POD_CT_ENTRIES);
	__type(key, struct xlb_ct4_key);
	__type(value, struct xlb_pod_ct_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pod_ct SEC(".maps");

/* The host ends of the pod veths xlb is attached to (ifindex -> 1): a
 * backend behind one of them is local, reached with bpf_redirect_peer. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_POD_IFACES);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pod_ifs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_POD_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pod_stats SEC(".maps");

/* Source of hairpin flows as the pod sees them (network order). */
const volatile __be32 hairpin_addr = 0;

static __always_inline void pod_stat_add(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&pod_stats, &idx);

	if (v)
		*v += n;
}

static __always_inline void pod_stat_inc(__u32 idx)
{
	pod_stat_add(idx, 1);
}

/* A datagram's first fragment, seen by hook under k: its ports kept for
 * the later ones; those that came before it counted (frag_before_first,
 * as XDP counts them). */
static __always_inline void pod_frag_keep(const struct xlb_frag4_key *k, __be16 sport,
					  __be16 dport)
{
	__u32 early;

	xlb_frag_keep(k, sport, dport, xlb_now(), &early);
	if (early)
		pod_stat_add(XLB_POD_FRAG_BEFORE_FIRST, early);
}

/* A datagram's fragments (lib/frag.h: UDP and TCP), right after
 * xlb_parse returned rc (p's packet pointers still good): a first
 * fragment's ports are kept for the later ones, and a later fragment takes
 * them (have_ports XLB_PORTS_FROM_FIRST: its addresses only are
 * rewritten) to go the way its datagram's flow goes. 0: go on with p; -1:
 * a fragment not to follow here (neither UDP nor TCP, or its first
 * fragment was not seen: marked, for it to count this one). */
static __always_inline int pod_frag_ports(struct xlb_pkt *p, int rc, __u8 hook)
{
	struct xlb_frag4_key k = {};

	if (rc == XLB_PARSE_OK) {
		if (!(p->ip->frag_off & bpf_htons(XLB_IP_MF)))
			return 0;
		xlb_frag_key(&k, p->saddr, p->daddr, p->ip->id, p->proto, hook);
		pod_frag_keep(&k, p->sport, p->dport);
		return 0;
	}
	if (p->proto != IPPROTO_UDP && p->proto != IPPROTO_TCP)
		return -1;
	xlb_frag_key(&k, p->saddr, p->daddr, p->ip->id, p->proto, hook);
	if (xlb_frag_ports(&k, &p->sport, &p->dport, 1, xlb_now()))
		return -1;
	p->have_ports = XLB_PORTS_FROM_FIRST;
	return 0;
}

static __always_inline __be32 pod_hairpin_addr(void)
{
	return hairpin_addr ? hairpin_addr : bpf_htonl(XLB_HAIRPIN_ADDR);
}

static __always_inline void pod_ct_key(struct xlb_ct4_key *k, const struct xlb_pkt *p)
{
	xlb_ct4_key_set(k, p->saddr, p->daddr, p->sport, p->dport, p->proto);
}

/* The fields every entry of a new flow starts with, either direction. */
static __always_inline void pod_ct_fill(struct xlb_pod_ct_val *v, __u8 dir, __u32 svc_id,
					__u32 backend_id, __u32 backend_gen, __u32 now)
{
	v->dir = dir;
	v->state = XLB_CT_NEW;
	v->svc_id = svc_id;
	v->backend_id = backend_id;
	v->backend_gen = backend_gen;
	v->last_seen = now;
	v->created = now;
}

/* A flow proved itself (established): with ClientIP affinity, the client
 * keeps its backend from now on. Only then, so that a flood of first
 * packets writes no affinity entry (as in XDP). */
static __always_inline void pod_aff_set(const struct xlb_pod_ct_val *ct, __be32 client, __u32 now)
{
	struct xlb_sel_client cl = {};

	cl.addr.a32[0] = client;
	cl.family = XLB_AF_INET;
	xlb_aff_set(ct->svc_id, &cl, ct->backend_id, ct->backend_gen, now);
}

/* Follow one direction's TCP flags, writing only what changed. */
static __always_inline void pod_ct_touch(struct xlb_pod_ct_val *ct, const struct xlb_pkt *p,
					 __u32 now)
{
	__u8 st = ct->state;

	if (ct->last_seen != now)
		ct->last_seen = now;
	if (p->proto != IPPROTO_TCP) {
		if (st != XLB_CT_ESTABLISHED && ct->dir == XLB_CT_REV)
			st = XLB_CT_ESTABLISHED;
	} else if (p->tcp_flags & XLB_TCP_RST) {
		st = XLB_CT_CLOSED;
	} else if (p->tcp_flags & XLB_TCP_FIN) {
		st = XLB_CT_CLOSING;
	} else if (st == XLB_CT_NEW && (p->tcp_flags & XLB_TCP_ACK) &&
		   !(p->tcp_flags & XLB_TCP_SYN)) {
		st = XLB_CT_ESTABLISHED;
	}
	if (st == ct->state)
		return;
	if (st == XLB_CT_ESTABLISHED && (ct->flags & XLB_POD_CT_F_AFFINITY))
		pod_aff_set(ct, ct->dir == XLB_CT_FWD ? p->saddr : ct->orig_addr.a32[0], now);
	ct->state = st;
}

/*
 * Answer a TCP segment with a reset from the address and port the pod sent
 * it to (RFC 9293 §3.10.7.1: a segment with ACK gets seq = its ack number;
 * one without, seq 0 and ACK = its seq + length), redirected back into the
 * pod: what kube-proxy's REJECT gives a client, and what a flow whose
 * backend went gets instead of silence. A reset is never answered. The
 * headers are written whole (IPv4 options and TCP options and payload cut).
 */
static __always_inline int pod_reset(struct __sk_buff *skb, const struct xlb_pkt *p, __u32 why)
{
	struct {
		struct iphdr ip;
		struct tcphdr th;
	} h = {};
	__u32 ifindex = skb->ifindex;
	__u8 macs[12], sw[12];
	__be32 seq, ack;
	__u8 doff;

	/* a later fragment has no TCP header to answer: its first was */
	if (p->proto != IPPROTO_TCP || (p->tcp_flags & XLB_TCP_RST) ||
	    p->have_ports == XLB_PORTS_FROM_FIRST)
		goto drop;
	if (ctx_load_bytes(skb, 0, macs, sizeof(macs)) ||
	    ctx_load_bytes(skb, p->l4_off + 4, &seq, 4) ||
	    ctx_load_bytes(skb, p->l4_off + 8, &ack, 4) ||
	    ctx_load_bytes(skb, p->l4_off + 12, &doff, 1))
		goto drop;
	xlb_tcp_rst_hdrs(&h.ip, &h.th, p->saddr, p->daddr, p->sport, p->dport, p->tcp_flags, seq,
			 ack, xlb_tcp_seg_len(p, doff >> 4));

	__builtin_memcpy(sw, macs + ETH_ALEN, ETH_ALEN);	/* to the pod */
	__builtin_memcpy(sw + ETH_ALEN, macs, ETH_ALEN);	/* from our end */
	if (bpf_skb_change_tail(skb, ETH_HLEN + sizeof(h), 0) ||
	    ctx_store_bytes(skb, 0, sw, sizeof(sw)) ||
	    ctx_store_bytes(skb, ETH_HLEN, &h, sizeof(h)))
		goto drop;
	pod_stat_inc(XLB_POD_RST_SENT);
	return bpf_redirect_peer(ifindex, 0);
drop:
	pod_stat_inc(why);
	return TC_ACT_SHOT;
}

/* DNAT (and for hairpin SNAT) a client packet of flow ct to backend b,
 * then deliver it. */
static __always_inline int pod_dnat(struct __sk_buff *skb, struct xlb_pkt *p,
				    const struct xlb_pod_ct_val *ct, const struct xlb_backend *b)
{
	if (xlb_nat_rewrite(skb, p, 1, b->addr.a32[0], b->port)) {
		pod_stat_inc(XLB_POD_DROP_REWRITE);
		return TC_ACT_SHOT;
	}
	if (ct->flags & XLB_POD_CT_F_HAIRPIN) {
		if (xlb_nat_rewrite(skb, p, 0, pod_hairpin_addr(), p->sport) ||
		    xlb_set_macs(skb, p, ct->smac, ct->dmac)) {
			pod_stat_inc(XLB_POD_DROP_REWRITE);
			return TC_ACT_SHOT;
		}
		pod_stat_inc(XLB_POD_FWD_HAIRPIN);
		return bpf_redirect_peer(ct->ifindex, 0);	/* the client's own veth */
	}
	if (ct->flags & XLB_POD_CT_F_LOCAL) {
		if (xlb_set_macs(skb, p, ct->smac, ct->dmac)) {
			pod_stat_inc(XLB_POD_DROP_REWRITE);
			return TC_ACT_SHOT;
		}
		pod_stat_inc(XLB_POD_FWD_LOCAL);
		return bpf_redirect_peer(ct->ifindex, 0);
	}
	pod_stat_inc(XLB_POD_FWD_STACK);
	return TC_ACT_OK;
}

/* A client packet of a known flow: 0 with the verdict in *verdict, or 1
 * when the flow's backend is gone and a new one is to be chosen (the
 * packet untouched). */
static __always_inline int pod_fwd(struct __sk_buff *skb, struct xlb_pkt *p,
				   struct xlb_pod_ct_val *ct, int *verdict)
{
	struct xlb_backend *b = xlb_backend_get(ct->backend_id);

	if (!b || b->gen != ct->backend_gen || b->state == XLB_BE_FREE) {
		/* Mid-flow, nothing to resume: tell the client now. */
		if (p->proto == IPPROTO_TCP && !xlb_is_syn(p)) {
			*verdict = pod_reset(skb, p, XLB_POD_DROP_BACKEND_GONE);
			return 0;
		}
		return 1;
	}
	pod_ct_touch(ct, p, xlb_now());
	counters_add(&svc_stats, ct->svc_id, p->len, 0);
	counters_add(&backend_stats, ct->backend_id, p->len, 0);
	*verdict = pod_dnat(skb, p, ct, b);
	return 0;
}

/* A backend's reply: the service address as source again (and for
 * hairpin the client's own address as destination). ingress: seen as it
 * leaves the backend's pod (local flows, redirected into the client);
 * else on its way into the client's pod after the stack. */
static __always_inline int pod_reply(struct __sk_buff *skb, struct xlb_pkt *p,
				     struct xlb_pod_ct_val *ct, int ingress)
{
	struct xlb_pod_ct_val v = *ct;

	if (ingress && xlb_is_syn(p)) {
		/* A new connection from the backend's side on the tuple of a
		 * finished flow: the entry is stale. */
		struct xlb_ct4_key k = {};

		pod_ct_key(&k, p);
		bpf_map_delete_elem(&pod_ct, &k);
		pod_stat_inc(XLB_POD_PASS);
		return TC_ACT_UNSPEC;
	}
	pod_ct_touch(ct, p, xlb_now());
	counters_add(&svc_stats, v.svc_id, p->len, 0);
	counters_add(&backend_stats, v.backend_id, p->len, 0);
	if (xlb_nat_rewrite(skb, p, 0, v.nat_addr.a32[0], v.nat_port)) {
		pod_stat_inc(XLB_POD_DROP_REWRITE);
		return TC_ACT_SHOT;
	}
	if ((v.flags & XLB_POD_CT_F_HAIRPIN) &&
	    xlb_nat_rewrite(skb, p, 1, v.orig_addr.a32[0], v.orig_port)) {
		pod_stat_inc(XLB_POD_DROP_REWRITE);
		return TC_ACT_SHOT;
	}
	if (!ingress) {
		pod_stat_inc(XLB_POD_REV_STACK);
		return TC_ACT_OK;
	}
	if (v.flags & (XLB_POD_CT_F_LOCAL | XLB_POD_CT_F_HAIRPIN)) {
		if (xlb_set_macs(skb, p, v.smac, v.dmac)) {
			pod_stat_inc(XLB_POD_DROP_REWRITE);
			return TC_ACT_SHOT;
		}
		pod_stat_inc(XLB_POD_REV_LOCAL);
		return bpf_redirect_peer(v.ifindex, 0);
	}
	pod_stat_inc(XLB_POD_REV_STACK);
	return TC_ACT_OK;
}

/* Where the backend is: behind one of this node's pod veths (local: its
 * ifindex and the Ethernet header to give the packet), or elsewhere. */
static __always_inline void pod_locate(struct __sk_buff *skb, const struct xlb_pkt *p,
				       __be32 backend, struct xlb_pod_ct_val *fwd)
{
	struct bpf_fib_lookup f = {};
	int rc;

	f.family = XLB_AF_INET_KERNEL;
	f.l4_protocol = p->proto;
	f.tot_len = (__u16)(p->len - ETH_HLEN);
	f.ipv4_src = p->saddr;
	f.ipv4_dst = backend;
	f.ifindex = skb->ifindex;
	rc = bpf_fib_lookup(skb, &f, sizeof(f), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return;
	if (!bpf_map_lookup_elem(&pod_ifs, &f.ifindex))
		return;
	fwd->flags |= XLB_POD_CT_F_LOCAL;
	fwd->ifindex = f.ifindex;
	/* Without a neighbour entry the source MAC is still right and the
	 * pod takes any destination: redirect_peer keeps PACKET_HOST. */
	__builtin_memcpy(fwd->smac, f.smac, ETH_ALEN);
	__builtin_memcpy(fwd->dmac, f.dmac, ETH_ALEN);
}

static __always_inline int pod_new_flow(struct __sk_buff *skb, struct xlb_pkt *p,
					const struct xlb_ct4_key *k, const struct xlb_svc_val *svc)
{
	struct xlb_pod_ct_val fwd = {}, rev = {};
	struct xlb_sel_client cl;
	struct xlb_ct4_key rk = {};
	struct xlb_backend *b = NULL;
	__u8 macs[12];
	__u32 id, now = xlb_now();

	xlb_sel_client_v4(&cl, k);
	id = xlb_select(svc, &cl, now, &b);
	if ((!id || !b) && svc->slots) {
		/* A freed slot: the service has switched tables; once more. */
		svc = xlb_svc_find(p->daddr, p->dport, p->proto);
		if (svc)
			id = xlb_select(svc, &cl, now, &b);
	}
	if (!id || !b || !svc)
		return pod_reset(skb, p, XLB_POD_DROP_NO_BACKEND);
	if (ctx_load_bytes(skb, 0, macs, sizeof(macs))) {
		pod_stat_inc(XLB_POD_DROP_REWRITE);
		return TC_ACT_SHOT;
	}

	pod_ct_fill(&fwd, XLB_CT_FWD, svc->id, id, b->gen, now);
	if (svc->flags & XLB_SVC_F_AFFINITY)
		fwd.flags = XLB_POD_CT_F_AFFINITY;
	if (b->addr.a32[0] == p->saddr) {
		fwd.flags |= XLB_POD_CT_F_HAIRPIN;
		fwd.ifindex = skb->ifindex;
		__builtin_memcpy(fwd.smac, macs, ETH_ALEN);		/* our end */
		__builtin_memcpy(fwd.dmac, macs + ETH_ALEN, ETH_ALEN);	/* the pod */
	} else {
		pod_locate(skb, p, b->addr.a32[0], &fwd);
	}

	pod_ct_fill(&rev, XLB_CT_REV, svc->id, id, b->gen, now);
	rev.flags = fwd.flags;
	rev.nat_addr.a32[0] = p->daddr;
	rev.nat_port = p->dport;
	rev.orig_addr.a32[0] = p->saddr;
	rev.orig_port = p->sport;
	rev.ifindex = skb->ifindex;
	__builtin_memcpy(rev.smac, macs, ETH_ALEN);
	__builtin_memcpy(rev.dmac, macs + ETH_ALEN, ETH_ALEN);

	xlb_ct4_key_set(&rk, b->addr.a32[0],
			(fwd.flags & XLB_POD_CT_F_HAIRPIN) ? pod_hairpin_addr() : p->saddr,
			b->port, p->sport, p->proto);

	if (bpf_map_update_elem(&pod_ct, &rk, &rev, BPF_ANY) ||
	    bpf_map_update_elem(&pod_ct, k, &fwd, BPF_ANY)) {
		pod_stat_inc(XLB_POD_DROP_CT_FULL);
		return TC_ACT_SHOT;
	}
	counters_add(&svc_stats, svc->id, p->len, 1);
	counters_add(&backend_stats, id, p->len, 1);
	return pod_dnat(skb, p, &fwd, b);
}

/*
 * External flows XDP sent to a pod of this node (issue 13). XDP on the NIC
 * DNATs the client's frame and passes it (it cannot redirect into a veth
 * at kernel defaults); tc on the NIC finds the flow in XDP's conntrack and
 * delivers it with bpf_redirect_peer, and the pod's replies are NATed back
 * here on its veth from the same entry and sent out with
 * bpf_redirect_neigh. Neither direction meets netfilter, which would see
 * half a flow and drop it as INVALID.
 */

/* Is the flow whose reply tuple is rk one of XDP's (not source-NATed:
 * those never go to a pod here)? */
static __always_inline int pod_xdp_flow(const struct xlb_ct4_key *rk)
{
	struct xlb_ct_syn_val *e;
	struct xlb_ct4_val *ct = bpf_map_lookup_elem(&ct4, rk);

	if (ct)
		return ct->dir == XLB_CT_REV;
	e = bpf_map_lookup_elem(&ct_syn, rk);
	return e && !(e->flags & XLB_CT_F_SNAT);
}

/*
 * Direct server return, the backend node's half (lib/dsr.h has the front
 * node's): an IPIP packet whose outer destination is a backend of this
 * node and whose inner one is an external address of a service it backs
 * (a node port at any node's address, a LoadBalancer or external IP).
 * Decapsulated, DNATed to the backend (dsr_be gives its port), delivered
 * by bpf_redirect_peer; a reply entry in ct4 (as XDP's own, keyed by the
 * backend's reply tuple) has pod_nic_reply send its replies from the
 * address the client used, straight out of the NIC to the client.
 * Whatever the node's own lb-mode: it only decides what this node sends.
 * Neither direction meets netfilter. The inner packet may be a fragment:
 * a later one follows its first by the ports that one left (frag4, hook
 * dsr), its addresses only rewritten. 1 if the frame is not such a packet
 * (nothing changed), else 0 with the verdict.
 */
static __always_inline int pod_dsr_in(struct __sk_buff *skb, int *verdict)
{
	struct xlb_pkt p = {};
	struct xlb_pod_ct_val loc = {};
	struct xlb_dsr_be_key bk = {};
	struct xlb_svc_key sk = {};
	struct xlb_ct4_key rk = {};
	struct xlb_frag4_key fk = {};
	struct xlb_ct4_val *ct;
	struct xlb_svc_val *svc;
	struct xlb_backend *b;
	struct iphdr out, in;
	__be16 ports[2];
	__u32 *id, now = xlb_now();
	__u8 st;
	int later, rc;
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct iphdr *o = data + ETH_HLEN;

	/* every frame of the NIC comes here: the common answer costs one
	 * read of the header in place (a header out of it: the long way) */
	if (skb->protocol != bpf_htons(ETH_P_IP) ||
	    ((void *)(o + 1) <= data_end && o->protocol != IPPROTO_IPIP))
		return 1;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &out, sizeof(out)) ||
	    out.protocol != IPPROTO_IPIP || out.version != 4 || out.ihl != 5 ||
	    (out.frag_off & bpf_htons(0x3fff)) ||
	    bpf_skb_load_bytes(skb, ETH_HLEN + sizeof(out), &in, sizeof(in)) ||
	    in.version != 4 || in.ihl < 5 ||
	    (in.protocol != IPPROTO_TCP && in.protocol != IPPROTO_UDP))
		return 1;
	/* The inner packet may be a fragment of the client's datagram
	 * (lib/frag.h): a later one has no ports, its first fragment's are
	 * kept under the inner header's identity (hook XLB_FRAG_HOOK_DSR). */
	xlb_frag_key(&fk, in.saddr, in.daddr, in.id, in.protocol, XLB_FRAG_HOOK_DSR);
	later = !!(in.frag_off & bpf_htons(XLB_IP_OFFSET));
	if (later ? xlb_frag_ports(&fk, &ports[0], &ports[1], 1, now) :
		    bpf_skb_load_bytes(skb, ETH_HLEN + sizeof(out) + in.ihl * 4, ports,
				       sizeof(ports)))
		return 1;
	sk.addr.a32[0] = in.daddr;
	sk.port = ports[1];
	sk.proto = in.protocol;
	sk.family = XLB_AF_INET;
	svc = bpf_map_lookup_elem(&svc_map, &sk);
	if (!svc) {
		/* a node port, at the address of the node the client came to */
		sk.addr.a32[0] = 0;
		svc = bpf_map_lookup_elem(&svc_map, &sk);
	}
	if (!svc || !(svc->flags & XLB_SVC_F_EXTERNAL))
		return 1;
	bk.svc_id = svc->id;
	bk.addr = out.daddr;
	id = bpf_map_lookup_elem(&dsr_be, &bk);
	if (!id)
		return 1;
	b = xlb_backend_get(*id);
	if (!b || b->state == XLB_BE_FREE || b->addr.a32[0] != out.daddr)
		return 1;
	/* behind a pod veth of ours, or not ours to deliver */
	p.proto = in.protocol;
	p.len = skb->len - sizeof(out);
	p.saddr = in.saddr;
	pod_locate(skb, &p, out.daddr, &loc);
	if (!(loc.flags & XLB_POD_CT_F_LOCAL))
		return 1;

	if (!later && (in.frag_off & bpf_htons(XLB_IP_MF)))
		pod_frag_keep(&fk, ports[0], ports[1]);

	*verdict = TC_ACT_SHOT;
	if (bpf_skb_adjust_room(skb, -(__s32)sizeof(out), BPF_ADJ_ROOM_MAC, 0)) {
		pod_stat_inc(XLB_POD_DROP_REWRITE);
		return 0;
	}
	rc = xlb_parse(skb, &p);
	if (rc != (later ? XLB_PARSE_FRAGMENT : XLB_PARSE_OK)) {
		pod_stat_inc(XLB_POD_DROP_REWRITE);
		return 0;
	}
	if (later) {	/* its addresses only are rewritten (lib/nat.h) */
		p.sport = ports[0];
		p.dport = ports[1];
		p.have_ports = XLB_PORTS_FROM_FIRST;
	}
	xlb_ct4_key_set(&rk, b->addr.a32[0], p.saddr, b->port, p.sport, p.proto);
	/* TCP's state from the flags of a packet that has them: a later
	 * fragment's (none) leave it as it is */
	st = p.proto != IPPROTO_TCP || later ? XLB_CT_ESTABLISHED :
	     (p.tcp_flags & XLB_TCP_RST) ? XLB_CT_CLOSED :
	     (p.tcp_flags & XLB_TCP_FIN) ? XLB_CT_CLOSING :
	     (p.tcp_flags & XLB_TCP_SYN) ? XLB_CT_NEW : XLB_CT_ESTABLISHED;
	ct = bpf_map_lookup_elem(&ct4, &rk);
	if (ct && ct->dir == XLB_CT_REV && ct->rev.nat_addr == p.daddr &&
	    ct->rev.nat_port == p.dport && ct->backend_id == *id) {
		/* the flow's: written only when something changed */
		if (ct->last_seen != now)
			ct->last_seen = now;
		if (!later && st != ct->state && (st > ct->state || st == XLB_CT_NEW))
			ct->state = st;
	} else {
		struct xlb_ct4_val rev = {};

		rev.dir = XLB_CT_REV;
		rev.state = st;
		rev.last_seen = now;
		rev.svc_id = svc->id;
		rev.backend_id = *id;
		rev.rev.nat_addr = p.daddr;
		rev.rev.nat_port = p.dport;
		rev.rev.ifindex = skb->ifindex;
		if (bpf_map_update_elem(&ct4, &rk, &rev, BPF_ANY)) {
			pod_stat_inc(XLB_POD_DROP_CT_FULL);
			return 0;
		}
	}
	counters_add(&svc_stats, svc->id, p.len, st == XLB_CT_NEW);
	counters_add(&backend_stats, *id, p.len, st == XLB_CT_NEW);
	if (xlb_nat_rewrite(skb, &p, 1, b->addr.a32[0], b->port) ||
	    xlb_set_macs(skb, &p, loc.smac, loc.dmac)) {
		pod_stat_inc(XLB_POD_DROP_REWRITE);
		return 0;
	}
	pod_stat_inc(XLB_POD_NIC_DSR);
	*verdict = bpf_redirect_peer(loc.ifindex, 0);
	return 0;
}

/* tc ingress on the NIC: a frame XDP DNATed to a pod here goes straight
 * into it; so does one another node sent here in DSR mode. */
static __always_inline int pod_from_nic(struct __sk_buff *skb)
{
	struct xlb_pkt p = {};
	struct xlb_ct4_key rk = {};
	struct xlb_pod_ct_val loc = {};
	int verdict, rc;

	if (!pod_dsr_in(skb, &verdict))
		return verdict;
	rc = xlb_parse(skb, &p);
	if ((rc != XLB_PARSE_OK && rc != XLB_PARSE_FRAGMENT) ||
	    pod_frag_ports(&p, rc, XLB_FRAG_HOOK_NIC))
		goto pass;
	/* Only a frame to a backend's port can be such a flow: the rest of
	 * what the node receives costs one array lookup, not two hash
	 * lookups that miss. */
	if (!(port_flags(p.dport) & XLB_PORT_F_BACKEND))
		goto pass;
	xlb_ct4_key_set(&rk, p.daddr, p.saddr, p.dport, p.sport, p.proto);
	if (!pod_xdp_flow(&rk))
		goto pass;
	pod_locate(skb, &p, p.daddr, &loc);
	if (!(loc.flags & XLB_POD_CT_F_LOCAL))
		goto pass;
	if (xlb_set_macs(skb, &p, loc.smac, loc.dmac)) {
		pod_stat_inc(XLB_POD_DROP_REWRITE);
		return TC_ACT_SHOT;
	}
	pod_stat_inc(XLB_POD_NIC_FWD_LOCAL);
	return bpf_redirect_peer(loc.ifindex, 0);
pass:
	pod_stat_inc(XLB_POD_NIC_PASS);
	return TC_ACT_UNSPEC;
}

/* tc ingress on a pod veth: a reply of an XDP flow (k: its own tuple, the
 * flow's reply tuple), from the address the client used, out of the
 * interface its packets came in. 1 if it was not one. */
static __always_inline int pod_nic_reply(struct __sk_buff *skb, struct xlb_pkt *p,
					 const struct xlb_ct4_key *k, int *verdict)
{
	struct xlb_ct4_val *ct = bpf_map_lookup_elem(&ct4, k);
	struct xlb_ct_syn_val *e = NULL;
	__u32 now = xlb_now(), svc_id, backend_id, ifindex;
	__be32 nat_addr;
	__be16 nat_port;

	/* A SYN-ACK answers a new handshake: if one is pending on this reply
	 * tuple, the established entry is an earlier flow's (the client
	 * reused its port towards another address or node port of this
	 * backend) and would give the reply that flow's address: it goes, as
	 * in XDP (xlb_run). */
	if (ct && ct->dir == XLB_CT_REV && xlb_is_synack(p)) {
		e = bpf_map_lookup_elem(&ct_syn, k);
		if (e && !(e->flags & XLB_CT_F_SNAT)) {
			bpf_map_delete_elem(&ct4, k);
			ct = NULL;
		}
	}
	if (ct && ct->dir == XLB_CT_REV) {
		xlb_ct4_touch(ct, p, now);
		svc_id = ct->svc_id;
		backend_id = ct->backend_id;
		nat_addr = ct->rev.nat_addr;
		nat_port = ct->rev.nat_port;
		ifindex = ct->rev.ifindex;
	} else {
		if (!e)
			e = bpf_map_lookup_elem(&ct_syn, k);
		if (!e || (e->flags & XLB_CT_F_SNAT))
			return 1;
		xlb_ct_syn_seen_reply(e, p);
		svc_id = e->svc_id;
		backend_id = e->backend_id;
		nat_addr = e->nat_addr;
		nat_port = e->nat_port;
		ifindex = e->ifindex;
	}
	counters_add(&svc_stats, svc_id, p->len, 0);
	counters_add(&backend_stats, backend_id, p->len, 0);
	if (xlb_nat_rewrite(skb, p, 0, nat_addr, nat_port)) {
		pod_stat_inc(XLB_POD_DROP_REWRITE);
		*verdict = TC_ACT_SHOT;
		return 0;
	}
	pod_stat_inc(XLB_POD_REV_NIC);
	*verdict = bpf_redirect_neigh(ifindex, NULL, 0, 0);
	return 0;
}

#endif /* XLB_BPF_POD_H */
