/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The datapath's global counters: one table gives the enum, the name
 * `xlbctl stats` shows, what kind of counter it is and its Prometheus
 * family and label. Everything that names a counter reads it from here.
 *
 * Kinds: every packet moves `rx` and exactly one outcome counter (pass,
 * fwd, answer or drop), so rx = sum of the outcomes, and a packet is
 * dropped if and only if one drop reason moved. Events say what happened
 * on the way (a conntrack hit, a new flow ...) and are not outcomes.
 *
 * The index of a counter is its position here: the pinned `stats` map
 * holds XLB_STAT_MAX of them, and a changed list changes its layout.
 * Events come last, from ct_hit on (the datapath relies on it).
 */
#ifndef XLB_STATS_H
#define XLB_STATS_H

#include <linux/types.h>

enum xlb_stat_kind {
	XLB_SK_TOTAL = 0,	/* rx */
	XLB_SK_PASS,		/* handed to the stack */
	XLB_SK_FWD,		/* rewritten and sent by the datapath */
	XLB_SK_ANSWER,		/* answered with a reset or an ICMP error */
	XLB_SK_DROP,		/* dropped */
	XLB_SK_EVENT,		/* not an outcome */
};

/* Prometheus families: F(id, name, help). */
#define XLB_STAT_FAMILIES(F)								\
	F(RECEIVED, "xlb_datapath_received_packets_total",				\
	  "Packets the datapath saw.")							\
	F(PACKETS, "xlb_datapath_packets_total",					\
	  "Packets by what the datapath did with them, one reason each: pass_* to "	\
	  "the stack, fwd_* rewritten and sent, drop_* dropped; reason as `xlbctl "	\
	  "stats` names it.")								\
	F(REPLIES, "xlb_datapath_replies_total",					\
	  "Packets the datapath answered instead of forwarding them (a TCP reset, an "	\
	  "ICMP port unreachable, or an ICMP fragmentation needed for a DF packet "	\
	  "too big for the way out); not counted as drops.")				\
	F(CONNTRACK, "xlb_conntrack_packets_total",					\
	  "Packets by conntrack outcome: hit (established flow), new (a flow's first "	\
	  "packet), established (the flow proved itself and entered the established "	\
	  "table), stateless (a packet of a flow without state, sent where the "	\
	  "service's table points), rebuilt (a lost reply entry written again), "	\
	  "reselect (flow's backend gone, another chosen). Many new against few "	\
	  "established is a flood of first packets (SYN flood).")			\
	F(EVENTS, "xlb_datapath_events_total",						\
	  "Other datapath events: no_backend (a new flow found no usable backend), "	\
	  "sel_miss (its selection slot held none), snat_new (a source NAT port taken "	\
	  "for an external flow to another node), snat_reply (a reply to one "		\
	  "translated back), icmp_xlate (an ICMP error about a translated flow "	\
	  "translated like the flow), frag_follow (a later IP fragment of a UDP "	\
	  "datagram or TCP segment translated and sent as its datagram's flow, DSR "	\
	  "included, found by the first fragment's ports), "				\
	  "frag_before_first (later fragments that came before their datagram's first "	\
	  "fragment and went to the stack untouched: a service's such datagram is "	\
	  "lost).")

/* X(ENUM, name, kind, family, label key, label value). */
#define XLB_STATS(X)									\
	X(RX, "rx", TOTAL, RECEIVED, NULL, NULL)					\
	X(PASS_NOT_IP, "pass_not_ip", PASS, PACKETS, "reason", "pass_not_ip")		\
	X(PASS_NOT_SERVICE, "pass_not_service", PASS, PACKETS, "reason",		\
	  "pass_not_service")								\
	X(PASS_FRAGMENT, "pass_fragment", PASS, PACKETS, "reason", "pass_fragment")	\
	X(PASS_MALFORMED, "pass_malformed", PASS, PACKETS, "reason", "pass_malformed")	\
	X(PASS_NO_ROUTE, "pass_no_route", PASS, PACKETS, "reason", "pass_no_route")	\
	X(PASS_CSUM_PARTIAL, "pass_csum_partial", PASS, PACKETS, "reason",		\
	  "pass_csum_partial")								\
	X(PASS_MULTIBUF, "pass_multibuf", PASS, PACKETS, "reason", "pass_multibuf")	\
	X(PASS_TOO_BIG, "pass_too_big", PASS, PACKETS, "reason", "pass_too_big")	\
	X(PASS_LOCAL, "pass_local_backend", PASS, PACKETS, "reason",			\
	  "pass_local_backend")								\
	X(FWD_REDIRECT, "fwd_redirect", FWD, PACKETS, "reason", "fwd_redirect")	\
	X(FWD_BACK, "fwd_back", FWD, PACKETS, "reason", "fwd_back")			\
	X(RST_SENT, "rst_sent", ANSWER, REPLIES, "type", "tcp_rst")			\
	X(ICMP_SENT, "icmp_sent", ANSWER, REPLIES, "type", "icmp_port_unreachable")	\
	X(ICMP_FRAG_SENT, "icmp_frag_needed_sent", ANSWER, REPLIES, "type",		\
	  "icmp_frag_needed")								\
	X(DROP_MALFORMED, "drop_malformed", DROP, PACKETS, "reason", "drop_malformed")	\
	X(DROP_NO_BACKEND, "drop_no_backend", DROP, PACKETS, "reason",			\
	  "drop_no_backend")								\
	X(DROP_BACKEND_GONE, "drop_backend_gone", DROP, PACKETS, "reason",		\
	  "drop_backend_gone")								\
	X(DROP_CT_FULL, "drop_ct_full", DROP, PACKETS, "reason", "drop_ct_full")	\
	X(DROP_NO_LOCAL, "drop_no_local_endpoint", DROP, PACKETS, "reason",		\
	  "drop_no_local_endpoint")							\
	X(DROP_SOURCE_RANGE, "drop_source_range", DROP, PACKETS, "reason",		\
	  "drop_source_range")								\
	X(DROP_SNAT_NO_ROUTE, "drop_snat_no_route", DROP, PACKETS, "reason",		\
	  "drop_snat_no_route")								\
	X(DROP_SNAT_NO_ADDR, "drop_snat_no_addr", DROP, PACKETS, "reason",		\
	  "drop_snat_no_addr")								\
	X(DROP_SNAT_EXHAUSTED, "drop_snat_exhausted", DROP, PACKETS, "reason",		\
	  "drop_snat_exhausted")								\
	X(DROP_SNAT_FULL, "drop_snat_full", DROP, PACKETS, "reason", "drop_snat_full")	\
	X(DROP_SNAT_ORPHAN, "drop_snat_orphan", DROP, PACKETS, "reason",		\
	  "drop_snat_orphan")								\
	X(DROP_SNAT_TOO_BIG, "drop_snat_too_big", DROP, PACKETS, "reason",		\
	  "drop_snat_too_big")								\
	X(FWD_DSR, "fwd_dsr", FWD, PACKETS, "reason", "fwd_dsr")			\
	X(DROP_DSR_NO_ROUTE, "drop_dsr_no_route", DROP, PACKETS, "reason",		\
	  "drop_dsr_no_route")								\
	X(DROP_DSR_TOO_BIG, "drop_dsr_too_big", DROP, PACKETS, "reason",		\
	  "drop_dsr_too_big")								\
	X(DROP_FRAGMENT, "drop_fragment", DROP, PACKETS, "reason", "drop_fragment")	\
	X(CT_HIT, "ct_hit", EVENT, CONNTRACK, "result", "hit")				\
	X(CT_NEW, "ct_new", EVENT, CONNTRACK, "result", "new")				\
	X(CT_RESELECT, "ct_reselect", EVENT, CONNTRACK, "result", "reselect")		\
	X(CT_ESTABLISHED, "ct_established", EVENT, CONNTRACK, "result", "established")	\
	X(CT_STATELESS, "ct_stateless", EVENT, CONNTRACK, "result", "stateless")	\
	X(CT_REBUILT, "ct_rebuilt", EVENT, CONNTRACK, "result", "rebuilt")		\
	X(NO_BACKEND, "no_backend", EVENT, EVENTS, "event", "no_backend")		\
	X(SEL_MISS, "sel_miss", EVENT, EVENTS, "event", "sel_miss")			\
	X(SNAT_NEW, "snat_new", EVENT, EVENTS, "event", "snat_new")			\
	X(SNAT_REPLY, "snat_reply", EVENT, EVENTS, "event", "snat_reply")		\
	X(ICMP_XLATE, "icmp_xlate", EVENT, EVENTS, "event", "icmp_xlate")		\
	X(FRAG_FOLLOW, "frag_follow", EVENT, EVENTS, "event", "frag_follow")		\
	X(FRAG_BEFORE_FIRST, "frag_before_first", EVENT, EVENTS, "event",		\
	  "frag_before_first")

/*
 * What each counter means:
 * rx                 every packet the program saw
 * pass_not_ip        not IPv4 (ARP, IPv6, runt frames)
 * pass_not_service   IPv4 TCP/UDP (or other protocols) neither to a service nor of a tracked flow
 * pass_fragment      a later IPv4 fragment (no ports) of a datagram xlb did not translate,
 *                    or whose first fragment it has not seen (yet), or one that follows
 *                    its first fragment to the stack
 * pass_malformed     inconsistent headers, not for a service: the stack judges it
 * pass_no_route      rewritten; the next hop is unknown (or VLAN), the stack forwards it
 * pass_csum_partial  rewritten; a partial checksum only the stack can finish
 * pass_multibuf      rewritten; a multi-buffer (jumbo) frame, which a redirect may not send
 * pass_too_big       rewritten; longer than the way out's MTU: the stack fragments it or says so
 * pass_local_backend rewritten for a backend on this node: the stack delivers it (XDP
 *                    cannot redirect into a pod's veth at kernel defaults)
 * fwd_redirect       rewritten and redirected out of another interface
 * fwd_back           rewritten and redirected back out of the interface it came in on
 * rst_sent           answered with a TCP reset (no backend, or the flow's backend is gone)
 * icmp_sent          answered with an ICMP port unreachable (UDP, no backend)
 * icmp_frag_needed_sent answered with an ICMP fragmentation needed (and the MTU of the way
 *                    out): a translated packet with DF set too big for it
 * drop_malformed     inconsistent headers on a packet to a service
 * drop_no_backend    no usable backend and no answer possible (a reset is never answered)
 * drop_backend_gone  the flow's backend is gone and no reset possible
 * drop_ct_full       a conntrack insert failed
 * drop_no_local_endpoint  externalTrafficPolicy Local and no ready endpoint on this node
 * drop_source_range  a LoadBalancer IP's loadBalancerSourceRanges do not hold the client
 * drop_snat_no_route an external flow to another node with no next hop known: never
 *                    handed to the stack half-translated
 * drop_snat_no_addr  no node address to source-NAT a LoadBalancer/external IP flow to
 * drop_snat_exhausted every SNAT port tried for that backend is taken
 * drop_snat_full     the SNAT maps are full
 * drop_snat_orphan   a reply to an SNAT port whose flow has no conntrack state left
 * drop_snat_too_big  an external flow's frame to another node that the stack would have had
 *                    to send (multi-buffer, or over the way out's MTU without DF)
 * fwd_dsr           an external flow's packet to another node's backend, lb-mode dsr: sent
 *                    whole inside an IPIP header to the backend (bpf/lib/dsr.h)
 * drop_dsr_no_route  lb-mode dsr, no next hop towards the backend known (or a VLAN tag, a
 *                    partial checksum, no node address to send from)
 * drop_dsr_too_big   lb-mode dsr, the frame with its outer header over the way out's MTU
 *                    without DF (with DF: icmp_frag_needed_sent), or a multi-buffer frame
 * drop_fragment      a later IPv4 fragment whose first fragment was dropped or answered
 * snat_new, snat_reply: events, a mapping made, a reply translated back
 * icmp_xlate         event: an ICMP error about a translated flow, translated like it
 * frag_follow        event: a later fragment whose flow its datagram's ports found: its
 *                    addresses rewritten as the flow's, sent the way the flow goes (its
 *                    outcome fwd_*, fwd_dsr inside IPIP for a DSR flow, or pass_fragment)
 * frag_before_first  event, counted when a first fragment arrives: its datagram's later
 *                    fragments that came before it (and went to the stack untouched, so a
 *                    service's datagram was lost); the tc programs count their own
 *                    (pod_stats) alike
 * ct_*, no_backend, sel_miss: events, see the families
 */

enum xlb_stat {
#define XLB_STAT_ENUM_(e, ...) XLB_STAT_##e,
	XLB_STATS(XLB_STAT_ENUM_)
#undef XLB_STAT_ENUM_
	XLB_STAT_MAX,
};

/* The stats map's one (per-CPU) entry. The datapath does not count rx:
 * it is the sum of the outcomes, and user space adds them up. */
struct xlb_stats {
	__u64 v[XLB_STAT_MAX];
};

enum xlb_stat_family {
#define XLB_STAT_FAM_ENUM_(f, ...) XLB_SF_##f,
	XLB_STAT_FAMILIES(XLB_STAT_FAM_ENUM_)
#undef XLB_STAT_FAM_ENUM_
	XLB_SF_MAX,
};

#ifndef __bpf__
#include <stddef.h>

struct xlb_stat_info {
	const char *name;	/* as `xlbctl stats` shows it */
	enum xlb_stat_kind kind;
	enum xlb_stat_family family;
	const char *label_key, *label_value;	/* NULL: no label */
};

struct xlb_stat_family_info {
	const char *name, *help;
};

/* Counter i's description; i < XLB_STAT_MAX. */
static inline const struct xlb_stat_info *xlb_stat_info(int i)
{
	static const struct xlb_stat_info info[XLB_STAT_MAX] = {
#define XLB_STAT_INFO_(e, n, k, f, lk, lv) \
		[XLB_STAT_##e] = { n, XLB_SK_##k, XLB_SF_##f, lk, lv },
		XLB_STATS(XLB_STAT_INFO_)
#undef XLB_STAT_INFO_
	};
	return &info[i];
}

static inline const char *xlb_stat_name(int i)
{
	return i >= 0 && i < XLB_STAT_MAX ? xlb_stat_info(i)->name : "?";
}

static inline const struct xlb_stat_family_info *xlb_stat_family_info(int f)
{
	static const struct xlb_stat_family_info info[XLB_SF_MAX] = {
#define XLB_STAT_FAM_INFO_(f, n, h) [XLB_SF_##f] = { n, h },
		XLB_STAT_FAMILIES(XLB_STAT_FAM_INFO_)
#undef XLB_STAT_FAM_INFO_
	};
	return &info[f];
}
#endif /* !__bpf__ */

#endif /* XLB_STATS_H */
