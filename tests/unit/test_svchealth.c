// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The health-check node ports and /healthz (user/svchealth): the bodies
 * byte for byte as kube-proxy writes them, then the server over real HTTP
 * on loopback, in a network namespace of its own (root; skipped without):
 * any path and method, 200/503 from the endpoint count and the proxy's
 * health, the headers, listeners following the set of ports, a port in use
 * served once it is free.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "log.h"
#include "svchealth/svchealth.h"

static void test_svc_body(void **state)
{
	char buf[512];
	size_t n = xlb_svchealth_svc_body(buf, sizeof(buf), "default", "web", 1, true);

	assert_string_equal(buf, "{\n"
				 "\t\"service\": {\n"
				 "\t\t\"namespace\": \"default\",\n"
				 "\t\t\"name\": \"web\"\n"
				 "\t},\n"
				 "\t\"localEndpoints\": 1,\n"
				 "\t\"serviceProxyHealthy\": true\n"
				 "}");
	assert_int_equal(n, strlen(buf));
	xlb_svchealth_svc_body(buf, sizeof(buf), "kube-system", "dns", 0, false);
	assert_non_null(strstr(buf, "\"localEndpoints\": 0,\n\t\"serviceProxyHealthy\": false\n}"));
	/* A quote cannot end the string early. */
	xlb_svchealth_svc_body(buf, sizeof(buf), "a\"b", "c\\d\n", 2, true);
	assert_non_null(strstr(buf, "\"namespace\": \"a\\\"b\",\n\t\t\"name\": \"c\\\\d\\u000a\""));
}

static void test_go_time(void **state)
{
	char buf[80];

	/* 2023-11-14 22:13:20 UTC = 1700000000 */
	xlb_go_time(buf, sizeof(buf), 1700000000123456789LL, -1);
	assert_string_equal(buf, "2023-11-14 22:13:20.123456789 +0000 UTC");
	xlb_go_time(buf, sizeof(buf), 1700000000120000000LL, -1);
	assert_string_equal(buf, "2023-11-14 22:13:20.12 +0000 UTC");
	xlb_go_time(buf, sizeof(buf), 1700000000000000000LL, -1);
	assert_string_equal(buf, "2023-11-14 22:13:20 +0000 UTC");
	xlb_go_time(buf, sizeof(buf), 1700000000000000500LL, 12000000345LL);
	assert_string_equal(buf, "2023-11-14 22:13:20.0000005 +0000 UTC m=+12.000000345");
}

static void test_healthz_body(void **state)
{
	char buf[320];
	bool yes = true, no = false;

	xlb_svchealth_healthz_body(buf, sizeof(buf), 1700000000000000000LL,
				   1700000000000000000LL, 5000000000LL, &yes);
	assert_string_equal(buf, "{\"lastUpdated\": \"2023-11-14 22:13:20 +0000 UTC m=+5.000000000\","
				 "\"currentTime\": \"2023-11-14 22:13:20 +0000 UTC m=+5.000000000\", "
				 "\"nodeEligible\": true}");
	/* Unhealthy: lastUpdated is earlier, its own monotonic reading. */
	xlb_svchealth_healthz_body(buf, sizeof(buf), 1699999998000000000LL,
				   1700000000000000000LL, 5000000000LL, &no);
	assert_string_equal(buf, "{\"lastUpdated\": \"2023-11-14 22:13:18 +0000 UTC m=+3.000000000\","
				 "\"currentTime\": \"2023-11-14 22:13:20 +0000 UTC m=+5.000000000\", "
				 "\"nodeEligible\": false}");
	xlb_svchealth_healthz_body(buf, sizeof(buf), 1700000000000000000LL,
				   1700000000000000000LL, -1, NULL);
	assert_string_equal(buf, "{\"lastUpdated\": \"2023-11-14 22:13:20 +0000 UTC\","
				 "\"currentTime\": \"2023-11-14 22:13:20 +0000 UTC\"}");
}

/* --- the server over HTTP ------------------------------------------------ */

static struct xlb_proxy_health proxy = { .healthy = true, .node_eligible = true };

static void proxy_health(void *arg, struct xlb_proxy_health *out)
{
	*out = proxy;
	out->last_updated_ms = 1700000000000LL;
}

struct resp {
	int status;		/* -1: connection refused or no answer */
	char head[2048];
	char body[2048];
	size_t body_len;
};

/* One request on a fresh connection to 127.0.0.1:port, read to the end. */
static struct resp http(uint16_t port, const char *method, const char *path, const char *body)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct resp r = { .status = -1 };
	static char buf[8192];
	size_t got = 0;
	char req[512];
	char *sep;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = 5 };

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return r;
	}
	n = snprintf(req, sizeof(req),
		     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
		     "Content-Length: %zu\r\n\r\n%s",
		     method, path, body ? strlen(body) : 0, body ? body : "");
	assert_int_equal(write(fd, req, (size_t)n), n);
	while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	sep = strstr(buf, "\r\n\r\n");
	if (!sep || sscanf(buf, "HTTP/1.1 %d", &r.status) != 1)
		return r;
	*sep = '\0';
	snprintf(r.head, sizeof(r.head), "%.2000s\r\n", buf);
	r.body_len = got - (size_t)(sep + 4 - buf);
	memcpy(r.body, sep + 4, r.body_len < sizeof(r.body) ? r.body_len : sizeof(r.body) - 1);
	return r;
}

/* The value of a response header (case-insensitive name), or NULL. */
static const char *header(struct resp *r, const char *name)
{
	static char v[256];
	size_t len = strlen(name);

	for (char *l = strstr(r->head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
		char *end;

		if (strncasecmp(l + 2, name, len) || l[2 + len] != ':')
			continue;
		end = strstr(l + 2, "\r\n");
		snprintf(v, sizeof(v), "%.*s", (int)(end - (l + 3 + len)), l + 3 + len);
		return v[0] == ' ' ? v + 1 : v;
	}
	return NULL;
}

static struct xlb_svchealth *srv;

static struct xlb_svchealth_port hcp(uint16_t port, const char *ns, const char *name, uint32_t n)
{
	struct xlb_svchealth_port p = { .port = port, .local_endpoints = n };

	snprintf(p.ns, sizeof(p.ns), "%s", ns);
	snprintf(p.name, sizeof(p.name), "%s", name);
	return p;
}

/* Own network namespace with loopback up; the server on 127.0.0.1. */
static int server_setup(void **state)
{
	struct xlb_svchealth_opts o = { .healthz = "127.0.0.1:0", .proxy_health = proxy_health };
	struct ifreq ifr = { .ifr_name = "lo" };
	char err[256];
	int fd;

	if (geteuid() != 0 || unshare(CLONE_NEWNET)) {
		fprintf(stderr, "# the HTTP tests need root (a network namespace): skipped\n");
		return 0;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr))
		return -1;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr))
		return -1;
	close(fd);
	if (xlb_svchealth_start(&o, &srv, err, sizeof(err))) {
		fprintf(stderr, "start: %s\n", err);
		return -1;
	}
	return 0;
}

static int server_teardown(void **state)
{
	xlb_svchealth_stop(srv);
	srv = NULL;
	return 0;
}

#define NEED_SERVER() do { if (!srv) skip(); } while (0)

static const char web_body[] = "{\n"
			       "\t\"service\": {\n"
			       "\t\t\"namespace\": \"default\",\n"
			       "\t\t\"name\": \"web\"\n"
			       "\t},\n"
			       "\t\"localEndpoints\": 2,\n"
			       "\t\"serviceProxyHealthy\": true\n"
			       "}";

/* Any path, any method: 200 with the JSON body and kube-proxy's headers. */
static void test_http_any_path_method(void **state)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "DELETE", "OPTIONS" };
	static const char *const paths[] = { "/", "/healthz", "/a/b?c=d" };
	struct xlb_svchealth_port p = hcp(31000, "default", "web", 2);
	struct resp r;

	NEED_SERVER();
	proxy.healthy = true;
	assert_int_equal(xlb_svchealth_sync(srv, &p, 1), 1);
	for (size_t m = 0; m < 5; m++) {
		for (size_t i = 0; i < 3; i++) {
			r = http(31000, methods[m], paths[i], m == 1 ? "x=1&y=2" : NULL);
			assert_int_equal(r.status, 200);
			assert_string_equal(header(&r, "Content-Type"), "application/json");
			assert_string_equal(header(&r, "X-Content-Type-Options"), "nosniff");
			assert_string_equal(header(&r, "X-Load-Balancing-Endpoint-Weight"), "2");
			assert_int_equal(r.body_len, sizeof(web_body) - 1);
			assert_memory_equal(r.body, web_body, r.body_len);
		}
	}
	r = http(31000, "HEAD", "/", NULL);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 0);
}

/* 503 with no local endpoint, or with the proxy unhealthy; back to 200. */
static void test_http_status(void **state)
{
	struct xlb_svchealth_port p = hcp(31000, "default", "web", 0);
	struct resp r;

	NEED_SERVER();
	proxy.healthy = true;
	assert_int_equal(xlb_svchealth_sync(srv, &p, 1), 1);
	r = http(31000, "GET", "/healthz", NULL);
	assert_int_equal(r.status, 503);
	assert_string_equal(header(&r, "X-Load-Balancing-Endpoint-Weight"), "0");
	assert_non_null(strstr(r.body, "\"localEndpoints\": 0,"));

	p.local_endpoints = 3;
	xlb_svchealth_sync(srv, &p, 1);
	assert_int_equal(http(31000, "GET", "/", NULL).status, 200);
	proxy.healthy = false;
	r = http(31000, "GET", "/", NULL);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.body, "\"localEndpoints\": 3,\n\t\"serviceProxyHealthy\": false"));
	proxy.healthy = true;
	assert_int_equal(http(31000, "GET", "/", NULL).status, 200);
}

/* Ports follow the set: a new one listens, a gone one refuses; two
 * Services on one port: the first keeps it. */
static void test_http_ports_follow(void **state)
{
	struct xlb_svchealth_port p[3] = { hcp(31000, "default", "web", 1),
					   hcp(31001, "shop", "cart", 1),
					   hcp(31001, "shop", "other", 1) };
	struct resp r;

	NEED_SERVER();
	proxy.healthy = true;
	assert_int_equal(xlb_svchealth_sync(srv, p, 3), 2);
	r = http(31001, "GET", "/", NULL);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"namespace\": \"shop\",\n\t\t\"name\": \"cart\""));
	assert_int_equal(xlb_svchealth_sync(srv, &p[1], 1), 1);
	assert_int_equal(http(31000, "GET", "/", NULL).status, -1);
	assert_int_equal(http(31001, "GET", "/", NULL).status, 200);
	assert_int_equal(xlb_svchealth_sync(srv, NULL, 0), 0);
	assert_int_equal(http(31001, "GET", "/", NULL).status, -1);
}

/* A port another socket holds is not served, and is once it is free. */
static void test_http_port_in_use(void **state)
{
	struct xlb_svchealth_port p = hcp(31002, "default", "web", 1);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(31002) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	NEED_SERVER();
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(xlb_svchealth_sync(srv, &p, 1), 0);
	assert_int_equal(xlb_svchealth_retry(srv), 0);
	close(fd);
	assert_int_equal(xlb_svchealth_retry(srv), 1);
	assert_int_equal(http(31002, "GET", "/", NULL).status, 200);
	xlb_svchealth_sync(srv, NULL, 0);
}

/* /healthz and /livez: 200 and 503 with kube-proxy's bodies; other paths
 * 404; a not eligible node fails /healthz, not /livez. */
static void test_http_healthz(void **state)
{
	uint16_t port;
	struct resp r;

	NEED_SERVER();
	port = xlb_svchealth_healthz_port(srv);
	assert_true(port > 0);
	proxy.healthy = true;
	proxy.node_eligible = true;
	r = http(port, "GET", "/healthz", NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Content-Type"), "application/json");
	assert_string_equal(header(&r, "X-Content-Type-Options"), "nosniff");
	assert_true(!strncmp(r.body, "{\"lastUpdated\": \"", 17));
	assert_non_null(strstr(r.body, " +0000 UTC m=+"));
	assert_non_null(strstr(r.body, "\", \"nodeEligible\": true}"));
	r = http(port, "GET", "/livez", NULL);
	assert_int_equal(r.status, 200);
	assert_null(strstr(r.body, "nodeEligible"));

	proxy.node_eligible = false;
	r = http(port, "POST", "/healthz", "x");
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.body, "\"nodeEligible\": false}"));
	assert_int_equal(http(port, "GET", "/livez", NULL).status, 200);
	proxy.node_eligible = true;

	proxy.healthy = false;
	r = http(port, "GET", "/healthz", NULL);
	assert_int_equal(r.status, 503);
	/* lastUpdated is when the proxy was last in step, not now. */
	assert_true(!strncmp(r.body, "{\"lastUpdated\": \"2023-11-14 22:13:20 +0000 UTC", 46));
	assert_int_equal(http(port, "GET", "/livez", NULL).status, 503);
	proxy.healthy = true;

	r = http(port, "GET", "/metrics", NULL);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.body, "404 page not found\n");
	assert_string_equal(header(&r, "Content-Type"), "text/plain; charset=utf-8");
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_svc_body),
		cmocka_unit_test(test_go_time),
		cmocka_unit_test(test_healthz_body),
	};
	const struct CMUnitTest server[] = {
		cmocka_unit_test(test_http_any_path_method),
		cmocka_unit_test(test_http_status),
		cmocka_unit_test(test_http_ports_follow),
		cmocka_unit_test(test_http_port_in_use),
		cmocka_unit_test(test_http_healthz),
	};
	int fails;

	xlb_log_set_level(XLB_LOG_ERROR);
	fails = cmocka_run_group_tests_name("svchealth bodies", pure, NULL, NULL);
	fails += cmocka_run_group_tests_name("svchealth over HTTP", server, server_setup,
					     server_teardown);
	return fails ? 1 : 0;
}
