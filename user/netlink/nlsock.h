/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * One netlink request/reply exchange over a libmnl socket, shared by the
 * IPVS (generic netlink) and rtnetlink code of the IPVS dataplane. Replies
 * are read by our own loop so that the kernel's extended ack
 * (NLMSGERR_ATTR_MSG) reaches the caller, which mnl_cb_run() drops.
 */
#ifndef XLB_NLSOCK_H
#define XLB_NLSOCK_H

#include <stddef.h>
#include <stdint.h>

struct mnl_socket;
struct nlmsghdr;

struct nlsock {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
	char *buf;		/* NLSOCK_BUF bytes: the request, then replies */
};

#define NLSOCK_BUF (64 * 1024)

struct nlack {
	int error;		/* 0 or a negative errno */
	char msg[256];		/* the kernel's extended ack text, "" if none */
};

typedef int (*nlsock_cb)(const struct nlmsghdr *nlh, void *arg);

/* bus: NETLINK_ROUTE, NETLINK_GENERIC. 0 or a negative errno. */
int nlsock_open(struct nlsock *s, int bus);
void nlsock_close(struct nlsock *s);
/* A request header at the start of s->buf (NLM_F_REQUEST | flags). */
struct nlmsghdr *nlsock_req(struct nlsock *s, uint16_t type, uint16_t flags);
/* Send req and read to its ack, error, or the end of its dump. Data
 * messages go to cb (may be NULL); a non-zero cb return ends the exchange
 * and is returned (the rest of an abandoned dump is skipped later by its
 * sequence number). cb must not talk on the same socket: collect, then act
 * after the dump. Returns 0, cb's value, or the kernel's negative errno
 * with a->msg filled. */
int nlsock_talk(struct nlsock *s, struct nlmsghdr *req, nlsock_cb cb, void *arg, struct nlack *a);
/* err = "what: strerror (-errno)[: ext-ack text]"; returns ret. */
int nlsock_fail(int ret, const struct nlack *a, char *err, size_t errlen, const char *what);

#endif /* XLB_NLSOCK_H */
