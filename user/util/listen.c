// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* TCP listeners (listen.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/listen.h"

/* "host:port", "[v6]:port", ":port". */
static int split_addr(const char *addr, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon = strrchr(addr, ':'), *h = addr;
	size_t n;

	if (!colon || !colon[1] || strlen(colon + 1) >= plen)
		return -EINVAL;
	n = (size_t)(colon - addr);
	if (n && addr[0] == '[') {
		if (addr[n - 1] != ']' || n < 3)
			return -EINVAL;
		h = addr + 1;
		n -= 2;
	}
	if (n >= hlen)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = 0;
	snprintf(port, plen, "%s", colon + 1);
	for (const char *p = port; *p; p++)
		if (*p < '0' || *p > '9')
			return -EINVAL;
	return 0;
}

int xlb_listen_tcp(const char *addr, const char *what, bool nonblock, struct xlb_listener *out,
		   char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], port[8];
	int fd = -1, one = 1, ret, gai;

	if (split_addr(addr, host, sizeof(host), port, sizeof(port)) || atoi(port) > 65535) {
		snprintf(err, errlen, "%s listen %s: expected HOST:PORT, [ADDR]:PORT or :PORT",
			 what, addr);
		return -EINVAL;
	}
	gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (gai) {
		snprintf(err, errlen, "%s listen %s: %s", what, addr, gai_strerror(gai));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		ret = -errno;
		snprintf(err, errlen, "%s listen %s: %s", what, addr, strerror(errno));
		goto out;
	}
	out->v6 = ss.ss_family == AF_INET6;
	out->port = ntohs(out->v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
				    ((struct sockaddr_in *)&ss)->sin_port);
	if (!inet_ntop(ss.ss_family,
		       out->v6 ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr :
				 (void *)&((struct sockaddr_in *)&ss)->sin_addr,
		       out->bound, sizeof(out->bound)))
		snprintf(out->bound, sizeof(out->bound), "?");
	out->fd = fd;
	fd = -1;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return ret;
}
