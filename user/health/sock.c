// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Sockets for the TCP and HTTP checkers. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "health/health_priv.h"

static int sock_connect(struct xlb_health *h, struct hc_target *t, uint32_t events)
{
	uint32_t port = xlb_hc_port(&t->key, hc_spec(t));
	/* Close with a reset: a probe every period for every endpoint would
	 * otherwise leave a TIME_WAIT socket (and its ephemeral port) behind
	 * each time, for 60 s (kubernetes/kubernetes#115143). */
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, err;

	memset(&ss, 0, sizeof(ss));
	if (t->key.family == XLB_AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		memcpy(&s6->sin6_addr, t->key.addr, 16);
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		memcpy(&s4->sin_addr, t->key.addr, 4);
		sl = sizeof(*s4);
	}

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg))) {
		err = -errno;
		close(fd);
		return err;
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) && errno != EINPROGRESS) {
		err = -errno;
		close(fd);
		return err;
	}
	/* Writable once connected, also when connect() returned 0: the
	 * checker always goes on from the event. */
	err = hc_fd_add(h, t, fd, HC_EV_SOCK, events);
	if (err) {
		close(fd);
		return err;
	}
	t->pr.fd = fd;
	return 0;
}

void hc_sock_start(struct xlb_health *h, struct hc_target *t, uint32_t events)
{
	int err = sock_connect(h, t, events);

	if (!err)
		return;
	if (hc_local_error(-err))
		hc_probe_skip(h, t, err, "connect");
	else
		hc_probe_done(h, t, false, "connect: %s", strerror(-err));
}

int hc_sock_error(int fd)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len))
		return -errno;
	return -soerr;
}

void hc_port_range(uint32_t *lo, uint32_t *hi)
{
	static uint32_t l, h;
	FILE *f;

	if (!l) {
		unsigned int a = 32768, b = 60999;

		f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");
		if (f) {
			if (fscanf(f, "%u %u", &a, &b) != 2 || !a || a > b || b > 65535)
				a = 32768, b = 60999;
			fclose(f);
		}
		l = a;
		h = b;
	}
	*lo = l;
	*hi = h;
}

bool hc_sock_self(struct hc_target *t, int fd)
{
	uint32_t port = xlb_hc_port(&t->key, hc_spec(t)), lo, hi;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	/* Only a port the kernel could hand out as our source port can
	 * meet itself: skip the syscall for every other one. */
	hc_port_range(&lo, &hi);
	if (port < lo || port > hi || getsockname(fd, (struct sockaddr *)&ss, &sl))
		return false;
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;

		return ntohs(s6->sin6_port) == port && !memcmp(&s6->sin6_addr, t->key.addr, 16);
	}
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;

	return ntohs(s4->sin_port) == port && !memcmp(&s4->sin_addr, t->key.addr, 4);
}
