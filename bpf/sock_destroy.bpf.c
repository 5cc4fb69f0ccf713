// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Connected UDP sockets whose backend was removed: a socket iterator
 * (iter/udp) that aborts, with the bpf_sock_destroy kfunc (Linux 6.5+),
 * every connected UDP socket the socket programs pointed at a backend
 * listed in sock_gone. The application's next call fails with
 * ECONNABORTED and it connects again, to a backend that exists. A socket
 * that connected to that address by itself (no sock_rev entry for its
 * cookie) is left alone. TCP needs none of this: a removed backend's peer
 * resets, or the connection times out.
 *
 * Kernel types are declared here with preserve_access_index (CO-RE against
 * the running kernel's BTF), so the build needs no vmlinux.h. The object
 * loads only where the kfunc exists: elsewhere xlbd says so and connected
 * UDP sockets keep their backend until they reconnect.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xlb/abi.h>

#include "lib/sock_rev.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define XLB_AF_INET_KERNEL 2

struct bpf_iter_meta {
	void *seq;
	__u64 session_id;
	__u64 seq_num;
} __attribute__((preserve_access_index));

struct sock_common {
	__be32 skc_daddr;
	__be16 skc_dport;
	unsigned short skc_family;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

struct inet_sock {
	struct sock sk;
} __attribute__((preserve_access_index));

struct udp_sock {
	struct inet_sock inet;
} __attribute__((preserve_access_index));

struct bpf_iter__udp {
	struct bpf_iter_meta *meta;
	struct udp_sock *udp_sk;
	__u32 uid;
	int bucket;
} __attribute__((preserve_access_index));

extern int bpf_sock_destroy(struct sock_common *sk) __ksym;


/* Backends just removed (address, port) -> the service they left: filled
 * and emptied by user space around each pass. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct xlb_sock_gone_key);
	__type(value, __u32);
} sock_gone SEC(".maps");

SEC("iter/udp")
int xlb_udp_destroy(struct bpf_iter__udp *ctx)
{
	struct udp_sock *udp = ctx->udp_sk;
	struct xlb_sock_gone_key gk = {};
	struct xlb_sock_rev_key rk = {};
	struct xlb_sock_rev_val *rv;
	struct sock_common *skc;
	__u32 *svc_id;

	if (!udp)
		return 0;
	skc = &udp->inet.sk.__sk_common;
	if (skc->skc_family != XLB_AF_INET_KERNEL || !skc->skc_daddr)
		return 0;
	gk.addr.a32[0] = skc->skc_daddr;
	gk.port = skc->skc_dport;
	gk.family = XLB_AF_INET;
	svc_id = bpf_map_lookup_elem(&sock_gone, &gk);
	if (!svc_id)
		return 0;
	rk.cookie = bpf_get_socket_cookie(&udp->inet.sk);
	rk.addr = gk.addr;
	rk.port = gk.port;
	rk.family = XLB_AF_INET;
	rv = bpf_map_lookup_elem(&sock_rev, &rk);
	if (!rv || rv->svc_id != *svc_id)
		return 0;	/* not ours, or through a service that keeps it */
	if (!bpf_sock_destroy(skc))
		sock_stat_inc(XLB_SOCK_UDP_ABORTED);
	return 0;
}
