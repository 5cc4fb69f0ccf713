/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A TCP listener xlbd binds itself (so a failure names the address and
 * the errno): the metrics endpoint, the health-check node ports. */
#ifndef XLB_UTIL_LISTEN_H
#define XLB_UTIL_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct xlb_listener {
	int fd;
	uint16_t port;		/* the port bound (port 0 asks the kernel for one) */
	bool v6;
	char bound[46];		/* the address bound, printable */
};

/* Bind and listen on "HOST:PORT", "[V6]:PORT" or ":PORT" (every address),
 * non-blocking when asked. what names the listener in err ("metrics"). */
int xlb_listen_tcp(const char *addr, const char *what, bool nonblock, struct xlb_listener *out,
		   char *err, size_t errlen);

#endif /* XLB_UTIL_LISTEN_H */
