// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Health engine benchmark: N TCP targets probed every second against
 * loopback listeners, the engine's CPU time (getrusage, user + sys) as a
 * share of one core, and the probe rate. The listeners run in a child
 * process so their accept() work is not counted. Not part of the tests.
 *
 *	bench N [seconds]	(default 10 s measured, after 2 s of warm-up)
 *
 * Target: 10,000 probes/s under 10% of one core.
 *
 * Most of a loopback TCP probe's cost is the kernel's: the handshake and
 * the reset of both ends run in softirq context inside the prober's own
 * connect() and close(). So the bench also measures that floor, the same
 * probes made one at a time with no engine, and reports the engine's own
 * share as the difference. XLB_BENCH_PIN=1 pins the engine to CPU 0 and
 * the listeners to CPU 1 (on a VM the cross-CPU wakeups cost more than
 * they save).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
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

#define NADDR 8		/* 127.0.0.1 .. 127.0.0.8 */
#define NPORT 4
#define NLISTEN (NADDR * NPORT)

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

static uint64_t transitions_to_unhealthy;

static void on_change(void *arg, const struct xlb_health_target *t, enum xlb_health_verdict old,
		      enum xlb_health_verdict now, const char *why)
{
	(void)arg;
	(void)t;
	(void)old;
	if (now == XLB_HV_UNHEALTHY && transitions_to_unhealthy++ < 5)
		fprintf(stderr, "bench: %s unhealthy: %s\n", t->service, why);
}

/* The listeners' side: accept and close, as fast as they come. */
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
		}
	}
}

static bool pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return !sched_setaffinity(0, sizeof(set), &set);
}

/* The kernel's floor: count probes to the listeners with no engine, as
 * plain as they get (socket, SO_LINGER, connect, poll, close). CPU us per
 * probe. */
static double floor_us(const uint16_t *port, int count)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct rusage a, b;

	getrusage(RUSAGE_SELF, &a);
	for (int i = 0; i < count; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port[i % NLISTEN]) };
		struct pollfd p;
		char ip[16];
		int fd;

		snprintf(ip, sizeof(ip), "127.0.0.%d", 1 + (i % NLISTEN) % NADDR);
		inet_pton(AF_INET, ip, &sa.sin_addr);
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

/* Sum of completed probes and failures over every target. */
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

/* The daemon's loop, reduced to the engine. */
static void run(struct xlb_health *h, int ep, int64_t until_us)
{
	struct epoll_event e;

	while (mono_us() < until_us) {
		int64_t left = (until_us - mono_us()) / 1000;

		if (epoll_wait(ep, &e, 1, (int)(left > 0 ? left : 1)) > 0)
			xlb_health_dispatch(h);
	}
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
	int secs = argc > 2 ? atoi(argv[2]) : 10;
	struct xlb_health_target *t = calloc(n, sizeof(*t));
	struct rlimit rl;
	struct rusage r0, r1, rchild;
	uint16_t port[NLISTEN];
	int lfd[NLISTEN], ep, err, status;
	uint64_t p0, p1, f0, f1;
	struct xlb_health *h;
	int64_t start, m0, m1;
	double cpu, wall, floor;
	bool pinned;
	pid_t child;

	if (!t || !n) {
		fprintf(stderr, "usage: bench N [seconds]\n");
		return 2;
	}
	xlb_log_set_level(XLB_LOG_WARN);
	/* A probe in flight holds a socket; a daemon raises this limit too. */
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	for (int i = 0; i < NLISTEN; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		socklen_t sl = sizeof(sa);
		char ip[16];

		snprintf(ip, sizeof(ip), "127.0.0.%d", 1 + i % NADDR);
		inet_pton(AF_INET, ip, &sa.sin_addr);
		lfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (lfd[i] < 0 || bind(lfd[i], (struct sockaddr *)&sa, sizeof(sa)) ||
		    listen(lfd[i], 4096) || getsockname(lfd[i], (struct sockaddr *)&sa, &sl)) {
			perror("listener");
			return 2;
		}
		port[i] = ntohs(sa.sin_port);
	}
	child = fork();
	if (child < 0) {
		perror("fork");
		return 2;
	}
	pinned = sysconf(_SC_NPROCESSORS_ONLN) >= 2 && getenv("XLB_BENCH_PIN") &&
		 !strcmp(getenv("XLB_BENCH_PIN"), "1");
	if (child == 0) {
		if (pinned)
			pin(1);
		serve(lfd, NLISTEN);
	}
	if (pinned)
		pinned = pin(0);
	for (int i = 0; i < NLISTEN; i++)
		close(lfd[i]);

	for (size_t i = 0; i < n; i++) {
		char ip[16];

		snprintf(t[i].service, sizeof(t[i].service), "bench/svc-%zu", i / 10);
		snprintf(ip, sizeof(ip), "127.0.0.%zu", 1 + (i % NLISTEN) % NADDR);
		xlb_ip_parse(ip, &t[i].addr);
		t[i].port = port[i % NLISTEN];
		t[i].spec.kind = XLB_HC_TCP;
		t[i].spec.period_ms = 1000;
		t[i].spec.timeout_ms = 1000;
	}
	/* Distinct (service, addr, port) for every target: svc-k holds ten
	 * endpoints on ten different listeners. */

	usleep(100000);	/* the listeners' process is up */
	floor = floor_us(port, 20000);

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
	start = mono_us();
	err = xlb_health_set_targets(h, t, n);
	if (err) {
		fprintf(stderr, "set_targets: %s\n", strerror(-err));
		return 2;
	}
	printf("bench: %zu TCP targets, period 1 s, %d listeners on 127.0.0.1-%d%s; set_targets %.1f ms\n",
	       n, NLISTEN, NADDR, pinned ? ", engine on CPU 0, listeners on CPU 1" : "",
	       (double)(mono_us() - start) / 1000);

	run(h, ep, start + 2000000);	/* the jittered first probes spread over 1 s */
	totals(h, t, n, &p0, &f0);
	getrusage(RUSAGE_SELF, &r0);
	m0 = mono_us();
	run(h, ep, m0 + (int64_t)secs * 1000000);
	m1 = mono_us();
	getrusage(RUSAGE_SELF, &r1);
	totals(h, t, n, &p1, &f1);

	wall = (double)(m1 - m0) / 1e6;
	cpu = cpu_s(&r1) - cpu_s(&r0);
	printf("bench: %zu targets: %.0f probes/s over %.1f s, %llu failed; engine CPU %.2f s "
	       "(user %.2f, sys %.2f) = %.1f%% of one core, %.1f us per probe\n",
	       n, (double)(p1 - p0) / wall, wall, (unsigned long long)(f1 - f0), cpu,
	       (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
		       (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6,
	       (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
		       (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6,
	       100 * cpu / wall, p1 > p0 ? cpu * 1e6 / (double)(p1 - p0) : 0);
	if (p1 > p0)
		printf("bench: kernel floor (same probes, no engine, one at a time) %.1f us per probe; "
		       "the engine's own share %.1f us per probe = %.1f%% of one core at this rate\n",
		       floor, cpu * 1e6 / (double)(p1 - p0) - floor,
		       100 * (cpu - floor * (double)(p1 - p0) / 1e6) / wall);

	start = mono_us();
	xlb_health_free(h);
	close(ep);
	kill(child, SIGTERM);
	wait4(child, &status, 0, &rchild);
	printf("bench: free %.1f ms; listeners' process CPU %.2f s over the whole run\n",
	       (double)(mono_us() - start) / 1000, cpu_s(&rchild));
	free(t);
	return (f1 - f0) ? 1 : 0;
}
