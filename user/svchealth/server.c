// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The health-check node ports and /healthz (svchealth.h): listeners xlbd
 * binds itself, one accept thread, one libmicrohttpd daemon fed with
 * MHD_add_connection. A request is told apart by the port it came in on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <microhttpd.h>

#include "log.h"
#include "svchealth/svchealth.h"
#include "util/clock.h"
#include "util/listen.h"

#define MAX_CONNECTIONS 256
#define CONNECTION_TIMEOUT_S 10
#define ACCEPT_BURST 32

struct hc_port {
	struct xlb_svchealth_port p;
	int fd;			/* -1: not bound (tried again at the next sync) */
	bool said;		/* its bind failure was logged */
};

struct xlb_svchealth {
	pthread_mutex_t lock;	/* the ports, their listeners, hz_fd */
	void (*proxy_health)(void *arg, struct xlb_proxy_health *out);
	void *arg;
	struct MHD_Daemon *mhd;
	pthread_t thr;
	bool thr_started;
	int ep, wake;
	int hz_fd;
	uint16_t hz_port;
	struct hc_port *ports;	/* sorted by port */
	size_t n_ports;
	int64_t mono0_us;	/* for Go's m=+ readings: since the server started */
};

static const struct hc_port *port_find(const struct xlb_svchealth *s, uint16_t port)
{
	size_t lo = 0, hi = s->n_ports;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->ports[mid].p.port == port)
			return &s->ports[mid];
		if (s->ports[mid].p.port < port)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void health_of(const struct xlb_svchealth *s, struct xlb_proxy_health *h)
{
	*h = (struct xlb_proxy_health){ .healthy = true, .node_eligible = true,
					.last_updated_ms = xlb_unix_ms() };
	if (s->proxy_health)
		s->proxy_health(s->arg, h);
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned int status, const char *body,
			       size_t len, const char *type, uint32_t *weight)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char w[16];

	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (weight) {
		snprintf(w, sizeof(w), "%u", *weight);
		MHD_add_response_header(r, "X-Load-Balancing-Endpoint-Weight", w);
	}
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* The port a connection came in on. */
static uint16_t local_port(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (!ci || getsockname(ci->connect_fd, (struct sockaddr *)&ss, &sl))
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static enum MHD_Result healthz(struct xlb_svchealth *s, struct MHD_Connection *conn,
			       const char *url)
{
	static const char not_found[] = "404 page not found\n";
	struct xlb_proxy_health h;
	bool livez = !strcmp(url, "/livez"), ok;
	int64_t now_ns, last_ns;
	struct timespec ts;
	char body[320];
	size_t n;

	if (!livez && strcmp(url, "/healthz"))
		return respond(conn, MHD_HTTP_NOT_FOUND, not_found, sizeof(not_found) - 1,
			       "text/plain; charset=utf-8", NULL);
	health_of(s, &h);
	clock_gettime(CLOCK_REALTIME, &ts);
	now_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	ok = h.healthy && (livez || h.node_eligible);
	/* Healthy, lastUpdated is now: what kube-proxy reports, for the
	 * sake of clients of its older releases. */
	last_ns = ok ? now_ns : h.last_updated_ms * 1000000;
	n = xlb_svchealth_healthz_body(body, sizeof(body), last_ns, now_ns,
				       (xlb_clock_us() - s->mono0_us) * 1000,
				       livez ? NULL : &h.node_eligible);
	return respond(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, body, n,
		       "application/json", NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct xlb_svchealth *s = cls;
	uint16_t port = local_port(conn);
	struct xlb_svchealth_port p;
	struct xlb_proxy_health h;
	const struct hc_port *hp;
	char body[512];
	size_t n;

	/* A body (any method goes) is not read: answered at once, and
	 * libmicrohttpd closes the connection after the answer. */
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&s->lock);
	if (s->hz_fd >= 0 && port == s->hz_port) {
		pthread_mutex_unlock(&s->lock);
		return healthz(s, conn, url);
	}
	hp = port_find(s, port);
	if (hp)
		p = hp->p;
	pthread_mutex_unlock(&s->lock);
	if (!hp) {
		/* Its Service went between accept and now (kube-proxy writes
		 * nothing then, which reads as 200): unavailable. */
		return respond(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "", 0, "application/json", NULL);
	}
	health_of(s, &h);
	n = xlb_svchealth_svc_body(body, sizeof(body), p.ns, p.name, p.local_endpoints, h.healthy);
	return respond(conn, p.local_endpoints && h.healthy ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
		       body, n, "application/json", &p.local_endpoints);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	xlb_vlog(XLB_LOG_WARN, "health-check ports", fmt, ap);
}

static bool is_listener(const struct xlb_svchealth *s, int fd)
{
	if (fd == s->hz_fd)
		return true;
	for (size_t i = 0; i < s->n_ports; i++)
		if (s->ports[i].fd == fd)
			return true;
	return false;
}

/* Accept what is waiting on fd and hand it to libmicrohttpd. Under the
 * lock, so that fd is still the listener epoll named. */
static void accept_on(struct xlb_svchealth *s, int fd)
{
	for (int i = 0; i < ACCEPT_BURST; i++) {
		struct sockaddr_storage sa;
		socklen_t sl = sizeof(sa);
		int c = accept4(fd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC);

		if (c < 0)
			return;
		MHD_add_connection(s->mhd, c, (struct sockaddr *)&sa, sl);	/* closes c on failure */
	}
}

static void *accept_loop(void *arg)
{
	struct xlb_svchealth *s = arg;
	struct epoll_event evs[16];

	for (;;) {
		int n = epoll_wait(s->ep, evs, 16, -1);

		if (n < 0 && errno != EINTR) {
			pr_err("health-check ports: epoll_wait: %s", strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == s->wake)
				return NULL;
			pthread_mutex_lock(&s->lock);
			if (is_listener(s, evs[i].data.fd))
				accept_on(s, evs[i].data.fd);
			pthread_mutex_unlock(&s->lock);
		}
	}
}

static int watch(struct xlb_svchealth *s, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

int xlb_svchealth_start(const struct xlb_svchealth_opts *o, struct xlb_svchealth **out,
			char *err, size_t errlen)
{
	struct xlb_svchealth *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->proxy_health = o->proxy_health;
	s->arg = o->arg;
	s->hz_fd = s->wake = -1;
	s->mono0_us = xlb_clock_us();
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	s->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->ep < 0 || s->wake < 0 || watch(s, s->wake)) {
		ret = -errno;
		snprintf(err, errlen, "health-check ports: %s", strerror(errno));
		goto fail;
	}
	if (o->healthz && o->healthz[0]) {
		struct xlb_listener l;

		ret = xlb_listen_tcp(o->healthz, "healthz", true, &l, err, errlen);
		if (ret)
			goto fail;
		s->hz_fd = l.fd;
		s->hz_port = l.port;
		ret = watch(s, s->hz_fd);
		if (ret) {
			snprintf(err, errlen, "healthz: epoll: %s", strerror(-ret));
			goto fail;
		}
	}
	s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
				  MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC | MHD_USE_ERROR_LOG,
				  0, NULL, NULL, on_request, s,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
				  MHD_OPTION_END);
	if (!s->mhd) {
		ret = -EIO;
		snprintf(err, errlen, "health-check ports: libmicrohttpd would not start");
		goto fail;
	}
	ret = -pthread_create(&s->thr, NULL, accept_loop, s);
	if (ret) {
		snprintf(err, errlen, "health-check ports: thread: %s", strerror(-ret));
		goto fail;
	}
	s->thr_started = true;
	pthread_setname_np(s->thr, "xlbd-svchealth");
	if (s->hz_fd >= 0)
		pr_info("healthz: serving /healthz and /livez on %s (port %u)", o->healthz,
			s->hz_port);
	*out = s;
	return 0;
fail:
	xlb_svchealth_stop(s);
	return ret;
}

uint16_t xlb_svchealth_healthz_port(const struct xlb_svchealth *s)
{
	return s && s->hz_fd >= 0 ? s->hz_port : 0;
}

static void close_port(struct xlb_svchealth *s, struct hc_port *hp)
{
	if (hp->fd < 0)
		return;
	epoll_ctl(s->ep, EPOLL_CTL_DEL, hp->fd, NULL);
	close(hp->fd);
	hp->fd = -1;
}

/* Bind hp's port on every address; log the first failure only. */
static void open_port(struct xlb_svchealth *s, struct hc_port *hp)
{
	struct xlb_listener l;
	char addr[16], err[256];

	snprintf(addr, sizeof(addr), ":%u", hp->p.port);
	if (xlb_listen_tcp(addr, "health-check node port", true, &l, err, sizeof(err)) ||
	    watch(s, l.fd)) {
		if (!hp->said)
			pr_warn("service %s/%s: %s (tried again every tick)", hp->p.ns,
				hp->p.name, err);
		hp->said = true;
		return;
	}
	if (hp->said)
		pr_info("service %s/%s: health-check node port %u listening now", hp->p.ns,
			hp->p.name, hp->p.port);
	hp->fd = l.fd;
	hp->said = false;
}

static int port_cmp(const void *a, const void *b)
{
	const struct hc_port *x = a, *y = b;

	return (int)x->p.port - (int)y->p.port;
}

size_t xlb_svchealth_sync(struct xlb_svchealth *s, const struct xlb_svchealth_port *p, size_t n)
{
	struct hc_port *next = calloc(n ? n : 1, sizeof(*next));
	size_t m = 0, served = 0;

	if (!next) {
		pr_err("health-check ports: out of memory; ports unchanged");
		return s->n_ports;
	}
	for (size_t i = 0; i < n; i++) {
		next[m] = (struct hc_port){ .p = p[i], .fd = -1 };
		if (!p[i].port || (s->hz_fd >= 0 && p[i].port == s->hz_port)) {
			pr_warn("service %s/%s: health-check node port %u is %s: left out", p[i].ns,
				p[i].name, p[i].port, p[i].port ? "the healthz port" : "0");
			continue;
		}
		m++;
	}
	qsort(next, m, sizeof(*next), port_cmp);
	pthread_mutex_lock(&s->lock);
	/* Keep the listeners of ports that stay; close the others. */
	for (size_t i = 0, j = 0; i < s->n_ports; i++) {
		while (j < m && next[j].p.port < s->ports[i].p.port)
			j++;
		if (j < m && next[j].p.port == s->ports[i].p.port && next[j].fd < 0) {
			next[j].fd = s->ports[i].fd;
			next[j].said = s->ports[i].said;
			s->ports[i].fd = -1;
		}
		close_port(s, &s->ports[i]);
	}
	for (size_t j = 0; j < m; j++) {
		if (j && next[j].p.port == next[j - 1].p.port) {
			pr_warn("service %s/%s: health-check node port %u is %s/%s's too: left out",
				next[j].p.ns, next[j].p.name, next[j].p.port, next[j - 1].p.ns,
				next[j - 1].p.name);
			memmove(&next[j], &next[j + 1], (m - j - 1) * sizeof(*next));
			m--;
			j--;
			continue;
		}
		if (next[j].fd < 0)
			open_port(s, &next[j]);
		served += next[j].fd >= 0;
	}
	free(s->ports);
	s->ports = next;
	s->n_ports = m;
	pthread_mutex_unlock(&s->lock);
	return served;
}

size_t xlb_svchealth_retry(struct xlb_svchealth *s)
{
	size_t served = 0;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n_ports; i++) {
		if (s->ports[i].fd < 0)
			open_port(s, &s->ports[i]);
		served += s->ports[i].fd >= 0;
	}
	pthread_mutex_unlock(&s->lock);
	return served;
}

void xlb_svchealth_stop(struct xlb_svchealth *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	if (s->thr_started) {
		if (write(s->wake, &one, sizeof(one)) != sizeof(one))
			pr_warn("health-check ports: wake: %s", strerror(errno));
		pthread_join(s->thr, NULL);
	}
	if (s->mhd)
		MHD_stop_daemon(s->mhd);
	for (size_t i = 0; i < s->n_ports; i++)
		close_port(s, &s->ports[i]);
	free(s->ports);
	if (s->hz_fd >= 0)
		close(s->hz_fd);
	if (s->wake >= 0)
		close(s->wake);
	if (s->ep >= 0)
		close(s->ep);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
