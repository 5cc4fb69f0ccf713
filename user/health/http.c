// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * HTTP checker: GET the path, healthy when the status is 2xx or 3xx
 * (redirects are not followed; kubelet counts them healthy too) and, if
 * expect_body is set, the body holds it. At most HTTP_KEEP bytes of the
 * answer are kept: headers that do not fit are a failure, and a body is
 * searched only within them. Interim 1xx answers (103 Early Hints) are
 * skipped. A chunked body is searched as it comes, chunk sizes and all.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "health/health_priv.h"
#include "health/http_parse.h"

#define HTTP_KEEP (16 * 1024)

enum { HTTP_CONNECT, HTTP_SEND, HTTP_RECV };

static void http_start(struct xlb_health *h, struct hc_target *t)
{
	const struct xlb_health_spec *spec = hc_spec(t);
	char host[XLB_IP_STRLEN + 8];
	int n;

	t->pr.buf = malloc(HTTP_KEEP);
	if (!t->pr.buf) {
		hc_probe_skip(h, t, -ENOMEM, "buffer");
		return;
	}
	t->pr.cap = HTTP_KEEP;
	if (!spec->http_host[0])
		hc_endpoint_str(t, xlb_hc_port(&t->key, spec), host, sizeof(host));
	/* Path and host were checked for spaces and control characters
	 * (spec.c): nothing here can split the request. */
	n = snprintf(t->pr.buf, t->pr.cap,
		     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: xlb-health/1\r\n"
		     "Connection: close\r\n\r\n",
		     spec->http_path, spec->http_host[0] ? spec->http_host : host);
	t->pr.len = (size_t)n;
	t->pr.sent = 0;
	t->pr.step = HTTP_CONNECT;
	t->pr.phase = "connect";

	hc_sock_start(h, t, EPOLLOUT);
}

/*
 * Decide from what arrived so far. closed: NULL while more may come, else
 * why nothing more will ("connection closed", "read: ..."). Returns true
 * when the probe ended.
 */
static bool http_judge(struct xlb_health *h, struct hc_target *t, const char *closed)
{
	const char *expect = hc_spec(t)->expect_body;
	const char *b = t->pr.buf;
	size_t len = t->pr.len, off = 0, hend;
	bool full = len == t->pr.cap;
	struct xlb_http_status st;
	int r;

	if (full && !closed)
		closed = "answer larger than 16 KiB";
	for (;;) {
		r = xlb_http_parse_status(b + off, len - off, &st);
		if (r == -ERANGE) {
			hc_probe_done(h, t, false, "status code out of range: %.3s", b + off + 9);
			return true;
		}
		if (r == -EMSGSIZE) {
			hc_probe_done(h, t, false, "status line too long");
			return true;
		}
		if (r < 0) {
			hc_probe_done(h, t, false, "malformed status line");
			return true;
		}
		if (r == 0) {
			if (!closed)
				return false;
			hc_probe_done(h, t, false, "%s %s", closed,
				      len ? "inside the status line" : "before any answer");
			return true;
		}
		if (st.code >= 200 || st.code == 101)
			break;
		/* 1xx: an interim answer; the real one follows its headers. */
		hend = xlb_http_header_end(b + off, len - off);
		if (!hend)
			goto headers_incomplete;
		off += hend;
	}

	if (st.code >= 400 || st.code < 200) {
		hc_probe_done(h, t, false, "HTTP %u%s%s", st.code, st.reason[0] ? " " : "", st.reason);
		return true;
	}
	hend = xlb_http_header_end(b + off, len - off);
	if (!hend)
		goto headers_incomplete;
	if (!expect[0]) {
		hc_probe_done(h, t, true, "HTTP %u%s%s", st.code, st.reason[0] ? " " : "", st.reason);
		return true;
	}
	off += hend;
	if (memmem(b + off, len - off, expect, strlen(expect))) {
		hc_probe_done(h, t, true, "HTTP %u, body matched", st.code);
		return true;
	}
	if (!closed)
		return false;
	hc_probe_done(h, t, false, "HTTP %u: body does not contain \"%s\"%s", st.code, expect,
		      full ? " (in the first 16 KiB)" : "");
	return true;

headers_incomplete:
	if (full) {
		hc_probe_done(h, t, false, "headers too large (over 16 KiB)");
		return true;
	}
	if (!closed)
		return false;
	hc_probe_done(h, t, false, "%s inside the headers", closed);
	return true;
}

static void http_send(struct xlb_health *h, struct hc_target *t)
{
	ssize_t n;
	int err;

	while (t->pr.sent < t->pr.len) {
		n = send(t->pr.fd, t->pr.buf + t->pr.sent, t->pr.len - t->pr.sent,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			hc_probe_done(h, t, false, "send: %s", strerror(errno));
			return;
		}
		t->pr.sent += (size_t)n;
	}
	t->pr.step = HTTP_RECV;
	t->pr.phase = "read";
	t->pr.len = 0;
	err = hc_fd_mod(h, t, t->pr.fd, HC_EV_SOCK, EPOLLIN | EPOLLRDHUP);
	if (err)
		hc_probe_skip(h, t, err, "epoll");
}

static void http_recv(struct xlb_health *h, struct hc_target *t)
{
	char why[96];
	ssize_t n;

	for (;;) {
		n = recv(t->pr.fd, t->pr.buf + t->pr.len, t->pr.cap - t->pr.len, MSG_DONTWAIT);
		if (n > 0) {
			t->pr.len += (size_t)n;
			if (http_judge(h, t, NULL))
				return;
			continue;
		}
		if (n == 0) {
			http_judge(h, t, "connection closed");
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return;
		snprintf(why, sizeof(why), "read: %s,", strerror(errno));
		http_judge(h, t, why);
		return;
	}
}

static void http_event(struct xlb_health *h, struct hc_target *t, enum hc_ev ev, uint32_t events)
{
	int err;

	switch (t->pr.step) {
	case HTTP_CONNECT:
		err = hc_sock_error(t->pr.fd);
		if (err) {
			hc_probe_done(h, t, false, "connect: %s", strerror(-err));
			return;
		}
		if (!(events & EPOLLOUT)) {
			hc_probe_done(h, t, false, "connect: connection closed");
			return;
		}
		if (hc_sock_self(t, t->pr.fd)) {
			hc_probe_done(h, t, false, "connect: connected to itself (nothing listens)");
			return;
		}
		t->pr.step = HTTP_SEND;
		t->pr.phase = "send";
		/* fallthrough */
	case HTTP_SEND:
		http_send(h, t);
		return;
	case HTTP_RECV:
		http_recv(h, t);
		return;
	}
}

static void http_cancel(struct xlb_health *h, struct hc_target *t)
{
	hc_fd_close(h, &t->pr.fd);
	free(t->pr.buf);
	t->pr.buf = NULL;
	t->pr.len = t->pr.cap = t->pr.sent = 0;
}

const struct hc_ops xlb_hc_http_ops = {
	.name = "http",
	.start = http_start,
	.event = http_event,
	.cancel = http_cancel,
};
