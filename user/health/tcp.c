// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* TCP checker: healthy when a connection is established (then reset). */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#include "health/health_priv.h"

static void tcp_start(struct xlb_health *h, struct hc_target *t)
{
	int err = hc_sock_connect(h, t);

	t->pr.phase = "connect";
	if (!err)
		return;
	if (hc_local_error(-err))
		hc_probe_skip(h, t, err, "connect");
	else
		hc_probe_done(h, t, false, "connect: %s", strerror(-err));
}

static void tcp_event(struct xlb_health *h, struct hc_target *t, enum hc_ev ev, uint32_t events)
{
	int err = hc_sock_error(t->pr.fd);

	if (err)
		hc_probe_done(h, t, false, "connect: %s", strerror(-err));
	else if (events & EPOLLOUT)
		hc_probe_done(h, t, true, "connected");
	else if (events & (EPOLLERR | EPOLLHUP))
		hc_probe_done(h, t, false, "connect: connection closed");
}

static void tcp_cancel(struct xlb_health *h, struct hc_target *t)
{
	hc_fd_close(h, &t->pr.fd);
}

const struct hc_ops xlb_hc_tcp_ops = {
	.name = "tcp",
	.start = tcp_start,
	.event = tcp_event,
	.cancel = tcp_cancel,
};
