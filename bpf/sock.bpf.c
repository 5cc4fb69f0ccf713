// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xlb socket-level load balancing: cgroup sock_addr programs, attached at
 * the root of the cgroup2 hierarchy so that every process of the node and
 * of its pods goes through them. A connect() or sendto() to a service is
 * pointed at a backend before any packet exists: no NAT, no conntrack, no
 * checksum to fix. recvmsg() and getpeername() show the service address.
 *
 * Every program returns 1 (go on) except when a service has no backend:
 * then connect()/sendto() fail with ECONNREFUSED, as kube-proxy's REJECT.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#include "lib/sock.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline int sock_fwd(struct bpf_sock_addr *ctx, int send)
{
	__u32 proto = ctx->protocol;
	int rc;

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return 1;
	rc = sock_xlate_fwd(ctx, (__u8)proto, send);
	switch (rc) {
	case SOCK_FWD_XLATED:
		sock_stat_inc(send ? XLB_SOCK_SEND_XLATED : XLB_SOCK_CONNECT_XLATED);
		return 1;
	case SOCK_FWD_REFUSED:
		sock_stat_inc(XLB_SOCK_REFUSED);
		bpf_set_retval(-XLB_ECONNREFUSED);
		return 0;
	case SOCK_FWD_SKIP:
		sock_stat_inc(XLB_SOCK_SKIP_NETNS);
		return 1;
	default:
		sock_stat_inc(send ? XLB_SOCK_SEND_PASS : XLB_SOCK_CONNECT_PASS);
		return 1;
	}
}

SEC("cgroup/connect4")
int xlb_sock_connect4(struct bpf_sock_addr *ctx)
{
	return sock_fwd(ctx, 0);
}

SEC("cgroup/sendmsg4")
int xlb_sock_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock_fwd(ctx, 1);
}

SEC("cgroup/recvmsg4")
int xlb_sock_recvmsg4(struct bpf_sock_addr *ctx)
{
	sock_xlate_rev(ctx);
	return 1;
}

SEC("cgroup/getpeername4")
int xlb_sock_getpeername4(struct bpf_sock_addr *ctx)
{
	sock_xlate_rev(ctx);
	return 1;
}
