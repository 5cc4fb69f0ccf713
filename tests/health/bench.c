// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Health engine benchmark against lab backends (tests/health/run.sh bench
 * builds the lab: this runs in namespace xlbh-node, the backends listen in
 * xlbh-be1..4, one veth each, 25 addresses per backend). Not part of the
 * tests.
 *
 *	bench N [seconds]	N TCP targets (a multiple of 100) at a 1 s period,
 *				measured for seconds (default 10) after 2 s of warm-up
 *
 * Reports, for half-open probes (xlbd's default) and for connect() probes
 * (kubelet's way, the baseline, measured in the same run):
 *  - the probe rate and the engine's CPU time (getrusage: user + sys) as a
 *    share of one core. That includes the kernel's work for the probe, the
 *    backend's side too, as it runs in softirq inside the prober's send;
 *  - then the detection latency: at T0 some backends stop (their listeners
 *    shut down: refused) and one address goes silent (removed from its
 *    backend: SYNs unanswered), and each affected target's time from T0
 *    to its UNHEALTHY transition is recorded, as a distribution, against
 *    the bound period x failureThreshold + one period.
 *
 * Target: 10,000 probes/s under 10% of one core. Exit status 1 when a
 * healthy target failed a probe or a failed one was not detected.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "health/health.h"

#define NBE		4	/* backends: namespaces xlbh-be1..4 */
#define NADDR		25	/* addresses per backend: 10.77.B.1-25 */
#define PORT0		20000	/* first listening port */
#define PERIOD_MS	1000
#define THRESHOLD	3	/* failureThreshold, Kubernetes' default */
#define TIMEOUT_MS	1000

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double cpu_s(const struct rusage *r)
{
	return (double)r->ru_utime.tv_sec + r->ru_utime.tv_usec / 1e6 +
	       (double)r->ru_stime.tv_sec + r->ru_stime.tv_usec / 1e6;
}

/* ---- what fails, and when it is seen */

enum fail_kind { FAIL_NONE, FAIL_REFUSED, FAIL_SILENT };

static int nports;			/* per backend */
static int64_t t0_refused, t0_silent;	/* 0: not failed yet */
static double *lat_refused, *lat_silent;
static int n_refused, n_silent;
static uint64_t unexpected;		/* transitions of targets that did not fail */

/* Ports of backend 1 that stop listening: 1% of the targets, at least one. */
static int refused_ports(void)
{
	return nports / 25 ? nports / 25 : 1;
}

/* The failures injected: backend 1's first ports on every address stop
 * listening (refused); backend 2's first address disappears (silent). */
static enum fail_kind fail_of(const struct xlb_health_target *t)
{
	uint8_t b = t->addr.addr.a8[2], a = t->addr.addr.a8[3];

	if (b == 1 && t->port < (uint32_t)(PORT0 + refused_ports()))
		return FAIL_REFUSED;
	if (b == 2 && a == 1)
		return FAIL_SILENT;
	return FAIL_NONE;
}

static void on_change(void *arg, const struct xlb_health_target *t, enum xlb_health_verdict old,
		      enum xlb_health_verdict now, const char *why)
{
	enum fail_kind k = fail_of(t);
	int64_t at = mono_us();

	(void)arg;
	(void)old;
	if (now != XLB_HV_UNHEALTHY)
		return;
	if (k == FAIL_REFUSED && t0_refused)
		lat_refused[n_refused++] = (double)(at - t0_refused) / 1e6;
	else if (k == FAIL_SILENT && t0_silent)
		lat_silent[n_silent++] = (double)(at - t0_silent) / 1e6;
	else if (unexpected++ < 5)
		fprintf(stderr, "bench: %s unhealthy: %s\n", t->service, why);
}

/* ---- the backends' listeners, made inside their namespaces */

static int enter_ns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0 || setns(fd, CLONE_NEWNET))
		err = -errno;
	if (fd >= 0)
		close(fd);
	return err;
}

static int listeners(int *lfd)
{
	char path[64];
	int node = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);

	if (node < 0)
		return -errno;
	for (int b = 0; b < NBE; b++) {
		snprintf(path, sizeof(path), "/run/netns/xlbh-be%d", b + 1);
		if (enter_ns(path)) {
			fprintf(stderr, "bench: enter %s: %s (run through tests/health/run.sh bench)\n",
				path, strerror(errno));
			return -1;
		}
		for (int p = 0; p < nports; p++) {
			struct sockaddr_in sa = { .sin_family = AF_INET,
						  .sin_port = htons((uint16_t)(PORT0 + p)) };
			int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4096)) {
				perror("bench: listener");
				return -1;
			}
			lfd[b * nports + p] = fd;
		}
	}
	if (setns(node, CLONE_NEWNET)) {
		perror("bench: back to the node's namespace");
		return -1;
	}
	close(node);
	return 0;
}

/* The backends' application: accept and close (connect() probes fill the
 * accept queue; half-open ones never reach it). A listener shut down for
 * the detection run leaves the set. */
static void serve(const int *lfd, int n)
{
	struct epoll_event evs[64];
	int ep = epoll_create1(EPOLL_CLOEXEC);

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	for (int i = 0; i < n; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.fd = lfd[i] };

		epoll_ctl(ep, EPOLL_CTL_ADD, lfd[i], &e);
	}
	for (;;) {
		int k = epoll_wait(ep, evs, 64, -1);

		for (int i = 0; i < k; i++) {
			int fd;

			while ((fd = accept4(evs[i].data.fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
				close(fd);
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				epoll_ctl(ep, EPOLL_CTL_DEL, evs[i].data.fd, NULL);
		}
	}
}

/* ---- the engine's loop */

static void totals(struct xlb_health *h, const struct xlb_health_target *t, size_t n,
		   uint64_t *probes, uint64_t *failures)
{
	struct xlb_health_report r;

	*probes = *failures = 0;
	for (size_t i = 0; i < n; i++) {
		if (xlb_health_get(h, t[i].service, &t[i].addr, t[i].port, &r))
			continue;
		*probes += r.probes;
		*failures += r.failures;
	}
}

static void run(struct xlb_health *h, int ep, int64_t until_us)
{
	struct epoll_event e;

	while (mono_us() < until_us) {
		int64_t left = (until_us - mono_us()) / 1000;

		if (epoll_wait(ep, &e, 1, (int)(left > 0 ? left : 1)) > 0)
			xlb_health_dispatch(h);
	}
}

/* The kernel's floor for a connect() probe: the same probes to the same
 * backends one at a time with no engine (socket, SO_LINGER, connect, poll,
 * close). CPU us per probe. */
static double connect_floor_us(const struct xlb_health_target *t, size_t n, int count)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct rusage a, b;

	getrusage(RUSAGE_SELF, &a);
	for (int i = 0; i < count; i++) {
		const struct xlb_health_target *x = &t[(size_t)i * 7919 % n];
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)x->port) };
		struct pollfd p;
		int fd;

		memcpy(&sa.sin_addr, x->addr.addr.a8, 4);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		p = (struct pollfd){ .fd = fd, .events = POLLOUT };
		poll(&p, 1, 1000);
		close(fd);
	}
	getrusage(RUSAGE_SELF, &b);
	return (cpu_s(&b) - cpu_s(&a)) * 1e6 / count;
}

struct load {
	double rate, cpu, user, sys;
	uint64_t failed;
};

static struct load measure(struct xlb_health *h, int ep, const struct xlb_health_target *t,
			   size_t n, int secs)
{
	struct rusage r0, r1;
	uint64_t p0, p1, f0, f1;
	int64_t m0, m1;
	struct load l;

	run(h, ep, mono_us() + 2000000);	/* the first probes spread over a period */
	totals(h, t, n, &p0, &f0);
	getrusage(RUSAGE_SELF, &r0);
	m0 = mono_us();
	run(h, ep, m0 + (int64_t)secs * 1000000);
	m1 = mono_us();
	getrusage(RUSAGE_SELF, &r1);
	totals(h, t, n, &p1, &f1);
	l.rate = (double)(p1 - p0) * 1e6 / (double)(m1 - m0);
	l.cpu = (cpu_s(&r1) - cpu_s(&r0)) * 1e6 / (double)(m1 - m0);
	l.user = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
		 (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6;
	l.sys = (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
		(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
	l.failed = f1 - f0;
	return l;
}

static void print_load(const char *what, const struct load *l)
{
	printf("  %-26s %6.0f probes/s  CPU %5.1f%% of one core (user %.2f s, sys %.2f s)  "
	       "%5.2f us/probe  %llu failed\n",
	       what, l->rate, 100 * l->cpu, l->user, l->sys, l->rate > 0 ? l->cpu * 1e6 / l->rate : 0,
	       (unsigned long long)l->failed);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v. */
static double pct(const double *v, int n, double p)
{
	int i = (int)(p / 100 * n + 0.999999) - 1;

	return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static bool print_latency(const char *what, double *v, int n, int want, double lo, double bound)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	if (!n) {
		printf("  %-30s %d of %d targets detected\n", what, n, want);
		return false;
	}
	printf("  %-30s %d of %d targets: min %.2f  p50 %.2f  p90 %.2f  p99 %.2f  max %.2f s"
	       " (expected %.1f-%.1f s)\n",
	       what, n, want, v[0], pct(v, n, 50), pct(v, n, 90), pct(v, n, 99), v[n - 1], lo, bound);
	return n == want && v[n - 1] <= bound + 0.05;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
	int secs = argc > 2 ? atoi(argv[2]) : 10;
	struct xlb_health_target *t;
	struct load half, conn;
	struct rusage rchild;
	struct rlimit rl;
	int *lfd, ep, err, status, want_refused = 0, want_silent = 0;
	struct xlb_health *h;
	double bound;
	bool ok = true;
	pid_t child;

	if (n < 100 || n % 100 || n > 100 * 600 || secs < 1) {
		fprintf(stderr, "usage: bench N [seconds]   (N a multiple of 100, up to 60000)\n");
		return 2;
	}
	nports = (int)(n / (NBE * NADDR));
	t = calloc(n, sizeof(*t));
	lfd = calloc((size_t)(NBE * nports), sizeof(*lfd));
	lat_refused = calloc(n, sizeof(double));
	lat_silent = calloc(n, sizeof(double));
	if (!t || !lfd || !lat_refused || !lat_silent)
		return 2;
	xlb_log_set_level(XLB_LOG_WARN);
	/* connect() probes in flight each hold a socket; xlbd raises it too. */
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (listeners(lfd))
		return 2;
	child = fork();
	if (child < 0) {
		perror("fork");
		return 2;
	}
	if (child == 0)
		serve(lfd, NBE * nports);

	/* One service per (backend, port), its endpoints the 25 addresses. */
	for (size_t i = 0; i < n; i++) {
		int b = (int)(i / (size_t)(NADDR * nports)), rest = (int)(i % (size_t)(NADDR * nports));
		int p = rest / NADDR, a = rest % NADDR;
		char ip[16];

		snprintf(t[i].service, sizeof(t[i].service), "bench/be%d-%d", b + 1, PORT0 + p);
		snprintf(ip, sizeof(ip), "10.77.%d.%d", b + 1, a + 1);
		xlb_ip_parse(ip, &t[i].addr);
		t[i].port = (uint32_t)(PORT0 + p);
		t[i].spec.kind = XLB_HC_TCP;
		t[i].spec.period_ms = PERIOD_MS;
		t[i].spec.timeout_ms = TIMEOUT_MS;
		t[i].spec.failure_threshold = THRESHOLD;
		want_refused += fail_of(&t[i]) == FAIL_REFUSED;
		want_silent += fail_of(&t[i]) == FAIL_SILENT;
	}

	err = xlb_health_new(on_change, NULL, &h);
	if (err) {
		fprintf(stderr, "xlb_health_new: %s\n", strerror(-err));
		return 2;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	{
		struct epoll_event e = { .events = EPOLLIN };

		epoll_ctl(ep, EPOLL_CTL_ADD, xlb_health_fd(h), &e);
	}
	if (!xlb_health_half_open(h)) {
		fprintf(stderr, "bench: half-open probes need CAP_NET_RAW\n");
		return 2;
	}
	err = xlb_health_set_targets(h, t, n);
	if (err) {
		fprintf(stderr, "set_targets: %s\n", strerror(-err));
		return 2;
	}
	printf("health bench: %zu TCP targets on lab backends (%d namespaces x %d addresses x %d "
	       "ports, one veth each), period %d ms, %d s measured per mode\n",
	       n, NBE, NADDR, nports, PERIOD_MS, secs);

	half = measure(h, ep, t, n, secs);
	print_load("half-open (xlbd's default)", &half);
	xlb_health_set_tcp_mode(h, XLB_HC_TCP_CONNECT);
	conn = measure(h, ep, t, n, secs);
	print_load("connect() (kubelet's way)", &conn);
	printf("  ratio half-open / connect(): CPU per probe %.2f\n",
	       (half.cpu / half.rate) / (conn.cpu / conn.rate));
	if (half.rate >= 9900)
		printf("  target, 10,000 probes/s under 10%% of one core: %s (%.1f%%)\n",
		       half.cpu < 0.10 ? "met" : "NOT met", 100 * half.cpu);
	printf("  kernel floor of a connect() probe (same backends, one at a time, no engine): "
	       "%.2f us/probe\n", connect_floor_us(t, n, 20000));
	ok = !half.failed && !conn.failed;

	/* Detection, half-open again. */
	xlb_health_set_tcp_mode(h, XLB_HC_TCP_HALF_OPEN);
	run(h, ep, mono_us() + 2500000);
	unexpected = 0;
	/* Backend 1's first ports: every address refuses from now on. */
	for (int p = 0; p < refused_ports(); p++)
		shutdown(lfd[p], SHUT_RDWR);
	t0_refused = mono_us();
	if (system("ip -n xlbh-be2 addr del 10.77.2.1/32 dev eth0") != 0) {
		fprintf(stderr, "bench: could not remove 10.77.2.1 from xlbh-be2\n");
		return 2;
	}
	t0_silent = mono_us();
	bound = (THRESHOLD + 1) * PERIOD_MS / 1000.0;
	run(h, ep, t0_refused + (int64_t)(bound + 1) * 1000000);
	printf("  detection latency, failureThreshold %d, timeout %d ms (bound: period x threshold "
	       "+ one period = %.1f s):\n", THRESHOLD, TIMEOUT_MS, bound);
	ok &= print_latency("refused (listener stopped)", lat_refused, n_refused, want_refused,
			    (THRESHOLD - 1) * PERIOD_MS / 1000.0, THRESHOLD * PERIOD_MS / 1000.0);
	ok &= print_latency("silent (address removed)", lat_silent, n_silent, want_silent,
			    (THRESHOLD - 1) * PERIOD_MS / 1000.0 + TIMEOUT_MS / 1000.0, bound);
	if (unexpected) {
		printf("  %llu other targets went unhealthy\n", (unsigned long long)unexpected);
		ok = false;
	}

	xlb_health_free(h);
	close(ep);
	kill(child, SIGTERM);
	wait4(child, &status, 0, &rchild);
	printf("  backends' accept loop: %.2f s CPU over the run (not counted above)\n",
	       cpu_s(&rchild));
	free(t);
	free(lfd);
	free(lat_refused);
	free(lat_silent);
	return ok ? 0 : 1;
}
