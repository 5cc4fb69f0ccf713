/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Socket-level load balancing: the maps only the socket programs use, and
 * the translation both ways. The service, selection and backend maps are
 * the packet path's (maps.h), and so is the choice (select.h).
 *
 * Forward (connect4, sendmsg4): a destination that is a service address
 * (or a node address at a NodePort) is rewritten to the chosen backend
 * before the kernel routes anything, and the socket cookie + backend are
 * remembered with the service address. Reverse (recvmsg4, getpeername4):
 * the backend address the kernel reports is replaced by that service
 * address. No packet is ever rewritten.
 */
#ifndef XLB_BPF_SOCK_H
#define XLB_BPF_SOCK_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "maps.h"
#include "select.h"
#include "sock_rev.h"
#include "clock.h"

#define XLB_ECONNREFUSED 111

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct xlb_sock_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sock_svc_stats SEC(".maps");

/* The node's own network namespace, set by the loader (the netns xlbd
 * runs in); 0: the initial one. Loopback NodePorts answer only there. */
const volatile __u64 host_netns_cookie = 0;

static __always_inline int sock_in_hostns(struct bpf_sock_addr *ctx)
{
	__u64 host = host_netns_cookie;

	if (!host)
		host = bpf_get_netns_cookie(NULL);
	return bpf_get_netns_cookie(ctx) == host;
}

static __always_inline int sock_is_loopback(__be32 a)
{
	return (a & bpf_htonl(0xff000000)) == bpf_htonl(0x7f000000);
}

/* The service a destination names: a service address, or a node address
 * (any loopback one from the node's netns) at a NodePort. *skip is set
 * when only the netns policy kept it from being one. */
static __always_inline struct xlb_svc_val *sock_svc_lookup(struct bpf_sock_addr *ctx,
							   __be32 daddr, __be16 dport,
							   __u8 proto, int *skip)
{
	struct xlb_svc_key sk = {};
	struct xlb_svc_val *svc;

	if (!sock_is_loopback(daddr))
		return xlb_svc_find(daddr, dport, proto);
	/* 127.0.0.0/8 at a node port, as kube-proxy's route_localnet */
	sk.port = dport;
	sk.proto = proto;
	sk.family = XLB_AF_INET;
	svc = bpf_map_lookup_elem(&svc_map, &sk);
	/* A pod's 127.0.0.1 is the pod's own. */
	if (svc && !sock_in_hostns(ctx)) {
		*skip = 1;
		return NULL;
	}
	return svc;
}

enum sock_fwd_rc {
	SOCK_FWD_PASS = 0,	/* not a service: leave the address alone */
	SOCK_FWD_XLATED,	/* rewritten to a backend */
	SOCK_FWD_REFUSED,	/* a service without usable backend */
	SOCK_FWD_SKIP,		/* a service, but not for this netns */
};

/*
 * Rewrite the destination to a backend. The client is the socket's network
 * namespace (a pod, or the node): its source address is not chosen yet at
 * connect(). The flow's hash (rr, wrr) is the socket cookie's, so a socket
 * keeps its backend for every datagram of an unconnected UDP socket, as a
 * conntrack entry would keep them, and for a connect() called again. With
 * ClientIP affinity the choice is remembered at once: a connect() is the
 * socket's own word, not a packet anyone could forge.
 */
static __always_inline int sock_xlate_fwd(struct bpf_sock_addr *ctx, __u8 proto, int send)
{
	struct xlb_sock_rev_key rk = {};
	struct xlb_sock_rev_val rv = {};
	struct xlb_sel_client cl = {};
	struct xlb_sock_counters *sc;
	struct xlb_backend *b = NULL;
	struct xlb_svc_val *svc;
	__be32 daddr = ctx->user_ip4;
	__be16 dport = (__be16)ctx->user_port;
	__u64 cookie, netns;
	int skip = 0;
	__u32 id, svc_id, now = xlb_now();

	svc = sock_svc_lookup(ctx, daddr, dport, proto, &skip);
	if (!svc)
		return skip ? SOCK_FWD_SKIP : SOCK_FWD_PASS;
	svc_id = svc->id;

	cookie = bpf_get_socket_cookie(ctx);
	netns = bpf_get_netns_cookie(ctx);
	cl.addr.a32[0] = (__u32)netns;
	cl.addr.a32[1] = (__u32)(netns >> 32);
	cl.family = XLB_AF_NONE;
	cl.flow_hash = xlb_fmix32((__u32)cookie ^ (__u32)(cookie >> 32));

	id = xlb_select(svc, &cl, now, &b);
	if ((!id || !b) && svc->slots) {
		/* The slot's backend was freed between the reads of the
		 * service and of the slot: the service has switched to its new
		 * table by now. Read it again, once (as the packet path does). */
		svc = sock_svc_lookup(ctx, daddr, dport, proto, &skip);
		if (svc)
			id = xlb_select(svc, &cl, now, &b);
	}
	sc = bpf_map_lookup_elem(&sock_svc_stats, &svc_id);
	if (!id || !b || !svc) {
		if (sc)
			sc->refused++;
		return SOCK_FWD_REFUSED;
	}
	if (svc->flags & XLB_SVC_F_AFFINITY)
		xlb_aff_set(svc->id, &cl, id, b->gen, now);

	rk.cookie = cookie;
	rk.addr = b->addr;
	rk.port = b->port;
	rk.family = XLB_AF_INET;
	rv.addr.a32[0] = daddr;
	rv.port = dport;
	rv.family = XLB_AF_INET;
	rv.svc_id = svc_id;
	/* An LRU map makes room: this only fails without memory, and then
	 * the socket still works, showing the backend's address. */
	bpf_map_update_elem(&sock_rev, &rk, &rv, BPF_ANY);

	if (sc) {
		if (send)
			sc->sends++;
		else
			sc->connects++;
	}
	counters_add(&backend_stats, id, 0, 1);

	ctx->user_ip4 = b->addr.a32[0];
	ctx->user_port = (__u32)b->port;
	return SOCK_FWD_XLATED;
}

/* recvmsg/getpeername: show the service address instead of the backend. */
static __always_inline int sock_xlate_rev(struct bpf_sock_addr *ctx)
{
	struct xlb_sock_rev_key rk = {};
	struct xlb_sock_rev_val *rv;
	struct xlb_svc_key sk = {};

	rk.cookie = bpf_get_socket_cookie(ctx);
	rk.addr.a32[0] = ctx->user_ip4;
	rk.port = (__be16)ctx->user_port;
	rk.family = XLB_AF_INET;
	rv = bpf_map_lookup_elem(&sock_rev, &rk);
	if (!rv) {
		sock_stat_inc(XLB_SOCK_REV_PASS);
		return 0;
	}
	/* Only while the service exists: after it is gone the socket sees
	 * who really answers (and the entry goes). */
	sk.addr = rv->addr;
	sk.port = rv->port;
	sk.proto = (__u8)ctx->protocol;
	sk.family = XLB_AF_INET;
	if (!bpf_map_lookup_elem(&svc_map, &sk)) {
		struct xlb_node_addr_key nk = {};
		int node;

		nk.addr = rv->addr;
		nk.family = XLB_AF_INET;
		node = sock_is_loopback(rv->addr.a32[0]) || bpf_map_lookup_elem(&node_addrs, &nk);
		sk.addr.a32[0] = 0;
		if (!node || !bpf_map_lookup_elem(&svc_map, &sk)) {
			bpf_map_delete_elem(&sock_rev, &rk);
			sock_stat_inc(XLB_SOCK_REV_STALE);
			return 0;
		}
	}
	ctx->user_ip4 = rv->addr.a32[0];
	ctx->user_port = (__u32)rv->port;
	sock_stat_inc(XLB_SOCK_REV_XLATED);
	return 1;
}

#endif /* XLB_BPF_SOCK_H */
