// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Floors for tc_bench: what any tc program at ingress of a NIC costs, next
 * to which xlb_from_nic (bpf/tc_pod.bpf.c) is measured in the same run.
 *
 *   tc_floor_pass    nothing: TC_ACT_UNSPEC
 *   tc_floor_lookup  parse Ethernet/IPv4/TCP, one hash lookup that misses
 *                    (a conntrack of one entry), TC_ACT_UNSPEC: the least
 *                    a program must do to tell a frame is not its own
 *   tc_floor_peer    parse, write both MACs, bpf_redirect_peer to
 *                    floor_ifindex: the least a delivery into a pod costs
 *   tc_floor_fib     the same, the device and MACs from a bpf_fib_lookup
 *                    of the destination (as xlb_from_nic finds the pod)
 *
 * All three leave the frame's decision-relevant bytes alone, so a repeated
 * BPF_PROG_TEST_RUN times the same path on every iteration.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 floor_ifindex;
const volatile __u8 floor_macs[12];	/* source, then destination */

struct floor_key {
	__be32 saddr, daddr;
	__be16 sport, dport;
	__u8 proto, pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct floor_key);
	__type(value, __u32);
} floor_ct SEC(".maps");

/* The TCP/IPv4 frame's tuple into k; 0, or -1 when it is not one. */
static __always_inline int floor_parse(struct __sk_buff *skb, struct floor_key *k)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);

	if ((void *)(tcp + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
	    ip->protocol != IPPROTO_TCP)
		return -1;
	k->saddr = ip->saddr;
	k->daddr = ip->daddr;
	k->sport = tcp->source;
	k->dport = tcp->dest;
	k->proto = ip->protocol;
	return 0;
}

SEC("tc")
int tc_floor_pass(struct __sk_buff *skb)
{
	return TC_ACT_UNSPEC;
}

SEC("tc")
int tc_floor_lookup(struct __sk_buff *skb)
{
	struct floor_key k = {};

	if (floor_parse(skb, &k))
		return TC_ACT_SHOT;
	if (bpf_map_lookup_elem(&floor_ct, &k))
		return TC_ACT_SHOT;
	return TC_ACT_UNSPEC;
}

SEC("tc")
int tc_floor_peer(struct __sk_buff *skb)
{
	struct floor_key k = {};
	__u8 macs[12];

	if (floor_parse(skb, &k))
		return TC_ACT_SHOT;
	/* byte by byte: a memcpy that casts away volatile reads the zeros
	 * the compiler knows, not what the loader set */
	for (int i = 0; i < 6; i++) {
		macs[i] = floor_macs[6 + i];
		macs[6 + i] = floor_macs[i];
	}
	if (bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0))
		return TC_ACT_SHOT;
	return bpf_redirect_peer(floor_ifindex, 0);
}

SEC("tc")
int tc_floor_fib(struct __sk_buff *skb)
{
	struct bpf_fib_lookup f = {};
	struct floor_key k = {};
	__u8 macs[12];

	if (floor_parse(skb, &k))
		return TC_ACT_SHOT;
	f.family = 2;	/* AF_INET */
	f.l4_protocol = k.proto;
	f.tot_len = (__u16)(skb->len - sizeof(struct ethhdr));
	f.ipv4_src = k.saddr;
	f.ipv4_dst = k.daddr;
	f.ifindex = skb->ifindex;
	if (bpf_fib_lookup(skb, &f, sizeof(f), 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return TC_ACT_SHOT;
	__builtin_memcpy(macs, f.dmac, 6);
	__builtin_memcpy(macs + 6, f.smac, 6);
	if (bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0))
		return TC_ACT_SHOT;
	return bpf_redirect_peer(f.ifindex, 0);
}
