/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Counters of the socket programs (sock_stats map) and of the pod veth
 * programs (pod_stats map), in the shape of stats.h: one table each gives
 * the enum, the name `xlbctl stats` shows and the kind. Each table is one
 * Prometheus family, labelled by the name.
 *
 * Socket: every call of a socket program counts exactly one outcome;
 * udp_aborted (an event, not an outcome) counts the connected UDP sockets
 * the iterator aborted because their backend left the service.
 * Pod: every packet the tc programs see counts exactly one outcome (pass,
 * fwd, answer or drop); frag_before_first is an event, as XDP's.
 */
#ifndef XLB_STATS_HOOKS_H
#define XLB_STATS_HOOKS_H

/* X(ENUM, name, kind) */
#define XLB_SOCK_STATS(X)							\
	X(CONNECT_XLATED, "connect_xlated", FWD)	/* connect() to a service: balanced */ \
	X(CONNECT_PASS, "connect_pass", PASS)		/* connect() to anything else */ \
	X(SEND_XLATED, "sendmsg_xlated", FWD)		/* unconnected UDP to a service */ \
	X(SEND_PASS, "sendmsg_pass", PASS)					\
	X(REFUSED, "refused_no_backend", DROP)		/* no usable backend: ECONNREFUSED */ \
	X(SKIP_NETNS, "skip_netns", PASS)		/* loopback NodePort outside the node's netns */ \
	X(REV_XLATED, "rev_xlated", FWD)		/* recvmsg/getpeername: the service shown */ \
	X(REV_PASS, "rev_pass", PASS)			/* recvmsg/getpeername of anything else */ \
	X(REV_STALE, "rev_stale", PASS)			/* service gone: the backend shown */ \
	X(UDP_ABORTED, "udp_aborted", EVENT)		/* connected UDP socket of a removed backend aborted (6.5+) */

#define XLB_POD_STATS(X)							\
	X(PASS, "pass", PASS)				/* not to a service, not a reply */ \
	X(PASS_FRAGMENT, "pass_fragment", PASS)					\
	X(FWD_LOCAL, "fwd_local", FWD)			/* DNAT, redirected into the backend's pod */ \
	X(FWD_STACK, "fwd_stack", FWD)			/* DNAT, routed by the stack */ \
	X(FWD_HAIRPIN, "fwd_hairpin", FWD)		/* DNAT + SNAT, back into the client */ \
	X(REV_LOCAL, "rev_local", FWD)			/* reply NATed, redirected into the client */ \
	X(REV_STACK, "rev_stack", FWD)			/* reply NATed on its way into the client */ \
	X(NIC_PASS, "nic_pass", PASS)			/* NIC: not a flow XDP sent to a pod here */ \
	X(NIC_FWD_LOCAL, "nic_fwd_local", FWD)		/* NIC: XDP's DNATed frame, redirected into its pod */ \
	X(REV_NIC, "rev_nic", FWD)			/* reply of an XDP flow NATed, out of the NIC */ \
	X(NIC_DSR, "nic_dsr", FWD)			/* NIC: IPIP from a node (DSR) decapsulated, DNATed, into its pod */ \
	X(RST_SENT, "rst_sent", ANSWER)			/* TCP: no backend, or the flow's is gone */ \
	X(DROP_NO_BACKEND, "drop_no_backend", DROP)	/* UDP, or a reset not possible */ \
	X(DROP_BACKEND_GONE, "drop_backend_gone", DROP)	/* a reset to a flow whose backend went */ \
	X(DROP_CT_FULL, "drop_ct_full", DROP)					\
	X(DROP_REWRITE, "drop_rewrite", DROP)		/* a checksum or store helper failed */ \
	X(FRAG_BEFORE_FIRST, "frag_before_first", EVENT) /* later IP fragments that came before their first (the stack's, untouched), counted when it comes */

enum xlb_sock_stat {
#define XLB_SOCK_STAT_ENUM_(e, ...) XLB_SOCK_##e,
	XLB_SOCK_STATS(XLB_SOCK_STAT_ENUM_)
#undef XLB_SOCK_STAT_ENUM_
	XLB_SOCK_STAT_MAX,
};

enum xlb_pod_stat {
#define XLB_POD_STAT_ENUM_(e, ...) XLB_POD_##e,
	XLB_POD_STATS(XLB_POD_STAT_ENUM_)
#undef XLB_POD_STAT_ENUM_
	XLB_POD_STAT_MAX,
};

#define XLB_SOCK_STATS_FAMILY "xlb_socket_lb_calls_total"
#define XLB_SOCK_STATS_HELP "Calls of the socket-level load balancer (cgroup connect4, sendmsg4, " \
	"recvmsg4, getpeername4) by outcome, as `xlbctl stats` names it."
#define XLB_POD_STATS_FAMILY "xlb_pod_packets_total"
#define XLB_POD_STATS_HELP "Packets the tc programs saw (on pod veths, and nic_* at the NICs' " \
	"ingress), by what they did: pass_* untouched, fwd_* translated, rev_nic an external " \
	"flow's reply sent out of the NIC, rst_sent answered with a TCP reset, drop_* dropped; " \
	"frag_before_first, an event: later IP fragments that came before their datagram's first " \
	"fragment and went to the stack untouched (a service's such datagram is lost)."

#ifndef __bpf__
struct xlb_hook_stat_info {
	const char *name;
	enum xlb_stat_kind kind;
};

static inline const struct xlb_hook_stat_info *xlb_sock_stat_info(int i)
{
	static const struct xlb_hook_stat_info info[XLB_SOCK_STAT_MAX] = {
#define XLB_SOCK_STAT_INFO_(e, n, k) [XLB_SOCK_##e] = { n, XLB_SK_##k },
		XLB_SOCK_STATS(XLB_SOCK_STAT_INFO_)
#undef XLB_SOCK_STAT_INFO_
	};
	return &info[i];
}

static inline const struct xlb_hook_stat_info *xlb_pod_stat_info(int i)
{
	static const struct xlb_hook_stat_info info[XLB_POD_STAT_MAX] = {
#define XLB_POD_STAT_INFO_(e, n, k) [XLB_POD_##e] = { n, XLB_SK_##k },
		XLB_POD_STATS(XLB_POD_STAT_INFO_)
#undef XLB_POD_STAT_INFO_
	};
	return &info[i];
}
#endif /* !__bpf__ */

#endif /* XLB_STATS_HOOKS_H */
