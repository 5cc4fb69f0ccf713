// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The metrics endpoint: libmicrohttpd on a thread of its own, one listener
 * xlbd binds itself (so a failure names the address and the errno). GET or
 * HEAD /metrics renders; another method there is 405, any other path 404.
 * Plain HTTP, no authentication: bind it to an address only the scraper
 * reaches.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <microhttpd.h>

#include "log.h"
#include "metrics/metrics.h"
#include "util/listen.h"
#include "util/prom.h"

/* A thread per connection (libmicrohttpd's own), so that slow clients
 * (a byte every few seconds, as slowloris) hold their threads, not the
 * scraper's: 200 of them leave /metrics answering. */
#define MAX_CONNECTIONS 1024
#define CONNECTION_TIMEOUT_S 10
#define THREAD_STACK (256u << 10)

struct xlb_metrics_server {
	struct xlb_core *core;
	struct xlb_metrics_opts opts;
	char version[64];
	struct MHD_Daemon *mhd;
	struct xlb_metrics *m;
	pthread_mutex_t render;		/* one scrape renders at a time */
	uint16_t port;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status,
			     const char *body, const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct xlb_metrics_server *s = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *text;
	size_t len;
	int err;

	if (strcmp(url, "/metrics"))
		return reply(conn, MHD_HTTP_NOT_FOUND, "404 page not found: try /metrics\n", NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "405 method not allowed\n",
			     "GET, HEAD");
	pthread_mutex_lock(&s->render);
	err = xlb_metrics_render(s->m, &s->opts, &text, &len);
	pthread_mutex_unlock(&s->render);
	if (err) {
		pr_warn("metrics: render: %s", strerror(-err));
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "500 metrics unavailable\n",
			     NULL);
	}
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, XLB_PROM_CONTENT_TYPE);
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	xlb_vlog(XLB_LOG_WARN, "metrics", fmt, ap);
}

int xlb_metrics_start(struct xlb_core *core, const char *listen,
		      const struct xlb_metrics_opts *o, struct xlb_metrics_server **out,
		      char *err, size_t errlen)
{
	struct xlb_metrics_server *s;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			     MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	struct xlb_listener l = { .fd = -1 };
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "metrics: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	s->core = core;
	pthread_mutex_init(&s->render, NULL);
	if (o)
		s->opts = *o;
	snprintf(s->version, sizeof(s->version), "%s", o && o->version ? o->version : "unknown");
	s->opts.version = s->version;
	ret = xlb_listen_tcp(listen, "metrics", false, &l, err, errlen);
	if (ret)
		goto fail;
	s->port = l.port;
	ret = xlb_metrics_new(core, &s->m);
	if (ret) {
		snprintf(err, errlen, "metrics: observe the core: %s", strerror(-ret));
		goto fail;
	}
	if (l.v6)
		flags |= MHD_USE_IPv6;
	s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,	/* first: for all */
				  MHD_OPTION_LISTEN_SOCKET, l.fd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
				  MHD_OPTION_THREAD_STACK_SIZE, (size_t)THREAD_STACK,
				  MHD_OPTION_END);
	if (!s->mhd) {
		ret = -EIO;
		snprintf(err, errlen, "metrics listen %s: libmicrohttpd would not start", listen);
		goto fail;
	}
	pr_info("metrics: serving http://%s%s%s:%u/metrics", l.v6 ? "[" : "", l.bound,
		l.v6 ? "]" : "", s->port);
	*out = s;
	return 0;
fail:
	if (l.fd >= 0)
		close(l.fd);
	xlb_metrics_free(s->m);
	pthread_mutex_destroy(&s->render);
	free(s);
	return ret;
}

uint16_t xlb_metrics_port(const struct xlb_metrics_server *s)
{
	return s ? s->port : 0;
}

void xlb_metrics_stop(struct xlb_metrics_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->mhd);	/* closes the listener, joins its threads */
	xlb_metrics_free(s->m);
	pthread_mutex_destroy(&s->render);
	free(s);
}
