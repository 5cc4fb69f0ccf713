// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include "nlsock.h"

#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

int nlsock_open(struct nlsock *s, int bus)
{
	int one = 1, ret;

	memset(s, 0, sizeof(*s));
	s->buf = malloc(NLSOCK_BUF);
	if (!s->buf)
		return -ENOMEM;
	s->sock = mnl_socket_open(bus);
	if (!s->sock) {
		ret = -errno;
		goto fail;
	}
	if (mnl_socket_bind(s->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto fail;
	}
	/* Errors come back without the request echoed, with the kernel's text. */
	mnl_socket_setsockopt(s->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(s->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	s->portid = mnl_socket_get_portid(s->sock);
	s->seq = (uint32_t)time(NULL);
	return 0;
fail:
	nlsock_close(s);
	return ret;
}

void nlsock_close(struct nlsock *s)
{
	if (s->sock)
		mnl_socket_close(s->sock);
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

struct nlmsghdr *nlsock_req(struct nlsock *s, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(s->buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	return nlh;
}

/* The TLVs after struct nlmsgerr (and after the echoed request unless the
 * kernel capped it): we want NLMSGERR_ATTR_MSG. */
static void parse_extack(const struct nlmsghdr *nlh, size_t hdr, struct nlack *a)
{
	size_t plen = mnl_nlmsg_get_payload_len(nlh);
	size_t off = hdr;
	const struct nlattr *attr;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (hdr == sizeof(struct nlmsgerr) && !(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

		if (e->msg.nlmsg_len > sizeof(struct nlmsghdr))
			off += NLMSG_ALIGN(e->msg.nlmsg_len - sizeof(struct nlmsghdr));
	}
	if (off >= plen)
		return;
	mnl_attr_for_each(attr, nlh, off) {
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
			snprintf(a->msg, sizeof(a->msg), "%s", mnl_attr_get_str(attr));
	}
}

int nlsock_talk(struct nlsock *s, struct nlmsghdr *req, nlsock_cb cb, void *arg, struct nlack *a)
{
	uint32_t seq = ++s->seq;
	/* NLM_F_DUMP is two bits, one of which (NLM_F_MATCH) is NLM_F_EXCL in
	 * a NEW request: a dump has both */
	bool dump = (req->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;

	memset(a, 0, sizeof(*a));
	req->nlmsg_seq = seq;
	if (!dump)
		req->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(s->sock, req, req->nlmsg_len) < 0)
		return a->error = -errno;

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(s->sock, s->buf, NLSOCK_BUF);
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)s->buf;
		int len = (int)n;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return a->error = -errno;
		}
		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_seq != seq || (nlh->nlmsg_pid && nlh->nlmsg_pid != s->portid))
				continue;	/* the tail of an abandoned dump */
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

				if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e))
					return a->error = -EBADMSG;
				a->error = e->error;
				parse_extack(nlh, sizeof(*e), a);
				return e->error;
			}
			if (nlh->nlmsg_type == NLMSG_DONE) {
				/* a dump's error, if any, rides in DONE */
				if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int)) {
					a->error = *(const int *)mnl_nlmsg_get_payload(nlh);
					if (a->error)
						parse_extack(nlh, sizeof(int), a);
				}
				return a->error;
			}
			if (nlh->nlmsg_type < NLMSG_MIN_TYPE || !cb)
				continue;
			{
				int ret = cb(nlh, arg);

				if (ret)
					return ret;
			}
		}
	}
}

int nlsock_fail(int ret, const struct nlack *a, char *err, size_t errlen, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "%s: %s (%d)%s%s", what, strerror(-ret), ret,
			 a && a->msg[0] ? ": " : "", a && a->msg[0] ? a->msg : "");
	return ret;
}
