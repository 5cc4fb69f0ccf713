/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What a cloud load balancer asks a node, answered as kube-proxy answers
 * it (kubernetes pkg/proxy/healthcheck):
 *
 * - each healthCheckNodePort (a LoadBalancer Service with
 *   externalTrafficPolicy Local): any path, any method; 200 when the node
 *   has at least one ready local endpoint of the Service and the proxy is
 *   healthy, else 503; JSON body {"service": {"namespace", "name"},
 *   "localEndpoints", "serviceProxyHealthy"} and the headers Content-Type:
 *   application/json, X-Content-Type-Options: nosniff and
 *   X-Load-Balancing-Endpoint-Weight: <localEndpoints>;
 * - the node's /healthz (503 also when the node is not eligible) and
 *   /livez on one more address (kube-proxy's --healthz-bind-address,
 *   0.0.0.0:10256), JSON {"lastUpdated", "currentTime"[, "nodeEligible"]};
 *   other paths 404.
 *
 * One thread accepts on every listener and hands the connections to one
 * libmicrohttpd daemon (its own thread), so a thousand such Services cost
 * two threads. Health-check ports listen on every address of the node.
 * Thread-safe.
 */
#ifndef XLB_SVCHEALTH_H
#define XLB_SVCHEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XLB_HEALTHZ_DEFAULT ":10256"

/* The proxy's own health, asked on every request. */
struct xlb_proxy_health {
	bool healthy;		/* the datapath holds the desired state */
	bool node_eligible;	/* the node is not being deleted */
	int64_t last_updated_ms; /* Unix ms the datapath was last known in step */
};

struct xlb_svchealth_opts {
	const char *healthz;	/* "ADDR:PORT" of /healthz and /livez; NULL or "": none */
	void (*proxy_health)(void *arg, struct xlb_proxy_health *out);	/* NULL: healthy */
	void *arg;
};

/* One Service's health-check node port. */
struct xlb_svchealth_port {
	uint16_t port;
	char ns[64];
	char name[64];
	uint32_t local_endpoints;	/* ready endpoints on this node, distinct addresses */
};

struct xlb_svchealth;

/* Start the server; the /healthz listener is bound now (an error names
 * it). */
int xlb_svchealth_start(const struct xlb_svchealth_opts *o, struct xlb_svchealth **out,
			char *err, size_t errlen);
void xlb_svchealth_stop(struct xlb_svchealth *s);
/* The port /healthz listens on (0: none). */
uint16_t xlb_svchealth_healthz_port(const struct xlb_svchealth *s);

/* The health-check node ports from now on: a listener opened for each new
 * port, closed for each gone, counts taken at once. A port that cannot be
 * bound (in use) is logged once and waits for xlb_svchealth_retry; a port
 * given twice or the /healthz port is left out with a message. Returns how
 * many ports are served. */
size_t xlb_svchealth_sync(struct xlb_svchealth *s, const struct xlb_svchealth_port *p, size_t n);
/* Bind the ports that could not be bound yet (xlbd's tick). Returns how
 * many ports are served. */
size_t xlb_svchealth_retry(struct xlb_svchealth *s);

/* The responses, for the server and its tests. Each writes a
 * NUL-terminated body into buf and returns its length (buf too small:
 * truncated, the length it would have). */
size_t xlb_svchealth_svc_body(char *buf, size_t len, const char *ns, const char *name,
			      uint32_t local_endpoints, bool proxy_healthy);
/* /healthz (eligible given) or /livez (eligible NULL); times in Unix ns,
 * mono_ns the process's monotonic clock reading for Go's "m=+" suffix
 * (negative: none). */
size_t xlb_svchealth_healthz_body(char *buf, size_t len, int64_t last_ns, int64_t now_ns,
				  int64_t mono_ns, const bool *eligible);
/* A time as Go's time.Time.String() prints it in UTC:
 * "2006-01-02 15:04:05.999999999 +0000 UTC", trailing zeros of the
 * fraction dropped; " m=+S.NNNNNNNNN" added when mono_ns >= 0. */
size_t xlb_go_time(char *buf, size_t len, int64_t unix_ns, int64_t mono_ns);

#endif /* XLB_SVCHEALTH_H */
