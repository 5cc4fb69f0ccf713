// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * TCP checker: healthy when the handshake completes. Half-open when the
 * engine has a raw socket (syn.c: a SYN, the SYN-ACK, our kernel's reset),
 * else, and for IPv6, connect() and a reset.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "health/health_priv.h"

static void tcp_start(struct xlb_health *h, struct hc_target *t)
{
	struct hc_syn *syn = hc_syn_of(h);
	int err;

	t->pr.phase = "connect";
	if (syn && t->key.family == XLB_AF_INET) {
		err = hc_syn_start(syn, t);
		if (!err)
			return;
		if (err > 0) {
			hc_probe_done(h, t, false, "connect: %s", strerror(err));
			return;
		}
		/* Ours (a full send buffer, every source port busy for this
		 * backend): this one goes by connect(). */
	}
	/* One event is all a TCP probe needs: one-shot, so it can be closed
	 * without EPOLL_CTL_DEL (a syscall per probe) and a copy of the fd
	 * in a child forked elsewhere in the daemon cannot keep a level-
	 * triggered registration firing. */
	hc_stats(h)->connect++;
	hc_sock_start(h, t, EPOLLOUT | EPOLLONESHOT);
}

static void tcp_event(struct xlb_health *h, struct hc_target *t, enum hc_ev ev, uint32_t events)
{
	int err;

	/* A failed connect always raises EPOLLERR: writable without it is
	 * connected, and saves a getsockopt() per probe. */
	if (!(events & (EPOLLERR | EPOLLHUP))) {
		if (!(events & EPOLLOUT))
			return;
		if (hc_sock_self(t, t->pr.fd))
			hc_probe_done(h, t, false, "connect: connected to itself (nothing listens)");
		else
			hc_probe_done(h, t, true, "connected");
		return;
	}
	err = hc_sock_error(t->pr.fd);
	hc_probe_done(h, t, false, "connect: %s", err ? strerror(-err) : "connection closed");
}

static void tcp_wake(struct xlb_health *h, struct hc_target *t)
{
	struct hc_syn *syn = hc_syn_of(h);

	if (syn && t->pr.syn.sport)
		hc_syn_resend(syn, t);
	else
		t->pr.wake_us = 0;
}

static void tcp_cancel(struct xlb_health *h, struct hc_target *t)
{
	struct hc_syn *syn = hc_syn_of(h);

	if (syn)
		hc_syn_forget(syn, t);
	if (t->pr.fd >= 0)
		close(t->pr.fd);	/* one-shot: see tcp_start() */
	t->pr.fd = -1;
}

const struct hc_ops xlb_hc_tcp_ops = {
	.name = "tcp",
	.start = tcp_start,
	.event = tcp_event,
	.cancel = tcp_cancel,
	.wake = tcp_wake,
};
