// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xlb on pod veths: tc (cls_bpf, direct action) on the host side of each
 * pod's veth pair, for service traffic that no socket program translated.
 *
 *   xlb_from_pod (ingress: packets the pod sends)
 *     to a service: choose a backend (same maps and rules as every other
 *     hook), record the flow, DNAT. A backend in a pod of this node gets
 *     the packet by bpf_redirect_peer; one elsewhere through the stack.
 *     A pod that is its own backend (hairpin) gets it back from
 *     XLB_HAIRPIN_ADDR, since a packet from its own address would be a
 *     martian to it.
 *     a reply of a local backend: reverse NAT, bpf_redirect_peer into the
 *     client's pod.
 *     a reply to an external client whose flow XDP on the NIC DNATed:
 *     reverse NAT from XDP's conntrack, bpf_redirect_neigh out the NIC.
 *   xlb_to_pod (egress: packets on their way into the pod)
 *     a reply that came through the stack: reverse NAT.
 *   xlb_from_nic (ingress of the node's NICs, after XDP)
 *     a frame XDP DNATed to a pod of this node and passed: into the pod
 *     by bpf_redirect_peer (lib/pod.h has the story).
 *
 * So a flow is either all in BPF (local backend, hairpin) or all in the
 * stack with the backend's address (remote backend): netfilter never sees
 * half a flow, and `ctstate INVALID -j DROP` does not hurt it.
 * Anything else goes on untouched (TC_ACT_UNSPEC: the next program, or
 * the stack).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "lib/ctx/skb.h"
#include "lib/maps.h"
#include "lib/select.h"
#include "lib/clock.h"
#include "lib/parse.h"
#include "lib/pod.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int xlb_from_pod(struct __sk_buff *skb)
{
	struct xlb_pkt p = {};
	struct xlb_ct4_key k = {};
	struct xlb_pod_ct_val *ct;
	struct xlb_svc_val *svc;
	int rc = xlb_parse(skb, &p), verdict;

	switch (rc) {
	case XLB_PARSE_OK:
	case XLB_PARSE_FRAGMENT:
		break;
	default:
		pod_stat_inc(XLB_POD_PASS);
		return TC_ACT_UNSPEC;
	}
	if (pod_frag_ports(&p, rc, XLB_FRAG_HOOK_POD_IN)) {
		pod_stat_inc(p.proto == IPPROTO_TCP || p.proto == IPPROTO_UDP ?
			     XLB_POD_PASS_FRAGMENT : XLB_POD_PASS);
		return TC_ACT_UNSPEC;
	}

	pod_ct_key(&k, &p);
	ct = bpf_map_lookup_elem(&pod_ct, &k);
	if (ct) {
		if (ct->dir == XLB_CT_REV)
			return pod_reply(skb, &p, ct, 1);
		if (!xlb_is_syn(&p) || ct->state == XLB_CT_NEW) {
			if (!pod_fwd(skb, &p, ct, &verdict))
				return verdict;
		}
	}
	if (p.have_ports == XLB_PORTS_FROM_FIRST) {
		/* a later fragment follows a flow, never starts one */
		if (!pod_nic_reply(skb, &p, &k, &verdict))
			return verdict;
		pod_stat_inc(XLB_POD_PASS_FRAGMENT);
		return TC_ACT_UNSPEC;
	}
	svc = xlb_svc_find(p.daddr, p.dport, p.proto);
	if (!svc) {
		if (!pod_nic_reply(skb, &p, &k, &verdict))
			return verdict;
		pod_stat_inc(XLB_POD_PASS);
		return TC_ACT_UNSPEC;
	}
	return pod_new_flow(skb, &p, &k, svc);
}

SEC("tc")
int xlb_to_pod(struct __sk_buff *skb)
{
	struct xlb_pkt p = {};
	struct xlb_ct4_key k = {};
	struct xlb_pod_ct_val *ct;
	int rc = xlb_parse(skb, &p);

	if (rc != XLB_PARSE_OK && rc != XLB_PARSE_FRAGMENT) {
		pod_stat_inc(XLB_POD_PASS);
		return TC_ACT_UNSPEC;
	}
	if (pod_frag_ports(&p, rc, XLB_FRAG_HOOK_POD_OUT)) {
		pod_stat_inc(XLB_POD_PASS_FRAGMENT);
		return TC_ACT_UNSPEC;
	}
	pod_ct_key(&k, &p);
	ct = bpf_map_lookup_elem(&pod_ct, &k);
	if (!ct || ct->dir != XLB_CT_REV) {
		pod_stat_inc(XLB_POD_PASS);
		return TC_ACT_UNSPEC;
	}
	return pod_reply(skb, &p, ct, 0);
}

SEC("tc")
int xlb_from_nic(struct __sk_buff *skb)
{
	return pod_from_nic(skb);
}
