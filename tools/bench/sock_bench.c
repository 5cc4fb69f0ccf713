// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sock_bench: what the socket programs cost a connect(), in ns, next to a
 * bare connect() to the backend itself. Prints one JSON object.
 *
 *   sock_bench --cgroup DIR [--rounds R] [--n N]
 *
 * In a network namespace of its own: a TCP listener (accepting and closing
 * in a thread) and a UDP socket on 10.244.0.2:8080, a service 10.96.0.1:80
 * to it in an unpinned dataplane, and two child cgroups of DIR: "lb" with
 * the socket programs attached, "bare" without. The process moves between
 * them (a socket belongs to the cgroup it is created in) and times batches
 * of N socket()+connect()+close(), alternating, R rounds:
 *
 *   bare     in "bare", to 10.244.0.2:8080     (no program runs)
 *   pass     in "lb", to 10.244.0.2:8080       (the program runs, no service)
 *   lb       in "lb", to 10.96.0.1:80          (translated to the backend)
 *
 * for TCP (a non-blocking connect(): the SYN is built and sent, the
 * handshake is not awaited, the socket is reset at close) and UDP
 * (connect() is a route lookup), so the program's share is not lost in
 * scheduling noise. Per kind and protocol the median over rounds of the
 * mean ns per connect, and lb - bare. And, free of that noise, the
 * program's own run time per call as the kernel counts it (BPF_ENABLE_STATS,
 * on only while this runs): run_time_ns / run_cnt of the connect4 program
 * over the pass and lb batches.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include <bpf/bpf.h>

#include "log.h"
#include "dataplane/dataplane.h"

#define BACKEND "10.244.0.2"
#define VIP "10.96.0.1"

enum kind { BARE, PASS, LB, KINDS };

static int listen_fd = -1;

static void *acceptor(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept(listen_fd, NULL, NULL);

		if (c >= 0)
			close(c);
		else if (errno != EINTR && errno != ECONNABORTED)
			return NULL;
	}
}

static int sh(const char *cmd)
{
	int ret = system(cmd);

	if (ret)
		fprintf(stderr, "sock_bench: `%s` failed (%d)\n", cmd, ret);
	return ret;
}

static int join(const char *cg)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	f = fopen(path, "w");
	if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f)) {
		fprintf(stderr, "sock_bench: join %s: %s\n", cg, strerror(errno));
		return -1;
	}
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Mean ns per socket()+connect()+close() over n; 0 on failure. */
static double batch(int type, const struct sockaddr_in *dst, int n)
{
	struct linger lg = { 1, 0 };
	uint64_t t0 = now_ns();

	for (int i = 0; i < n; i++) {
		int fd = socket(AF_INET, type | SOCK_NONBLOCK, 0);

		if (fd < 0)
			return 0;
		if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) && errno != EINPROGRESS) {
			fprintf(stderr, "sock_bench: connect: %s\n", strerror(errno));
			close(fd);
			return 0;
		}
		if (type == SOCK_STREAM)
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
	}
	return (double)(now_ns() - t0) / n;
}

/* The kernel's run time and run count of a program so far (0 without
 * stats). */
static void prog_stats(int fd, uint64_t *ns, uint64_t *cnt)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	*ns = *cnt = 0;
	if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len)) {
		*ns = info.run_time_ns;
		*cnt = info.run_cnt;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cgroup", required_argument, NULL, 'c' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "n", required_argument, NULL, 'n' },
		{ 0 }
	};
	const char *cg = NULL;
	int rounds = 15, n = 2000, c;
	char lb_cg[4096], bare_cg[4096], err[256] = "";
	struct xlb_dp_opts o = { .pin_dir = "", .max_services = 16, .max_backends = 64,
				 .sel_slots = 1 << 12, .ct_entries = 1024 };
	struct xlb_service_spec svc = { .type = XLB_SVC_CLUSTER_IP, .port = 80,
					.algo = XLB_ALGO_RR };
	struct xlb_backend_spec be = { .port = 8080, .weight = 1 };
	struct sockaddr_in sa_be = { .sin_family = AF_INET, .sin_port = htons(8080) };
	struct sockaddr_in sa_vip = { .sin_family = AF_INET, .sin_port = htons(80) };
	struct xlb_dp *dp;
	pthread_t th;
	double *res[2][KINDS];
	uint64_t run_ns[2][KINDS] = { { 0 } }, run_cnt[2][KINDS] = { { 0 } };
	int udp_fd, one = 1, stats_fd, prog_fd;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'c')
			cg = optarg;
		else if (c == 'r')
			rounds = atoi(optarg);
		else if (c == 'n')
			n = atoi(optarg);
		else
			return 2;
	}
	if (!cg || rounds < 1 || n < 1) {
		fprintf(stderr, "usage: sock_bench --cgroup DIR [--rounds R] [--n N]\n");
		return 2;
	}
	xlb_log_set_level(XLB_LOG_WARN);
	if (unshare(CLONE_NEWNET) || sh("ip link set lo up") ||
	    sh("ip addr add " BACKEND "/32 dev lo"))
		return 1;
	snprintf(lb_cg, sizeof(lb_cg), "%s/lb", cg);
	snprintf(bare_cg, sizeof(bare_cg), "%s/bare", cg);
	if ((mkdir(lb_cg, 0755) && errno != EEXIST) || (mkdir(bare_cg, 0755) && errno != EEXIST)) {
		fprintf(stderr, "sock_bench: create cgroups under %s: %s\n", cg, strerror(errno));
		return 1;
	}

	inet_pton(AF_INET, BACKEND, &sa_be.sin_addr);
	inet_pton(AF_INET, VIP, &sa_vip.sin_addr);
	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	udp_fd = socket(AF_INET, SOCK_DGRAM, 0);
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listen_fd, (struct sockaddr *)&sa_be, sizeof(sa_be)) || listen(listen_fd, 4096) ||
	    bind(udp_fd, (struct sockaddr *)&sa_be, sizeof(sa_be)) ||
	    pthread_create(&th, NULL, acceptor, NULL)) {
		fprintf(stderr, "sock_bench: listener: %s\n", strerror(errno));
		return 1;
	}

	if (xlb_dp_bpf_open(&o, &dp, err, sizeof(err))) {
		fprintf(stderr, "sock_bench: dataplane: %s\n", err);
		return 1;
	}
	snprintf(svc.name, sizeof(svc.name), "bench/vip");
	xlb_ip_parse(VIP, &svc.vip);
	xlb_ip_parse(BACKEND, &be.addr);
	for (int p = 0; p < 2; p++) {
		svc.proto = p ? IPPROTO_UDP : IPPROTO_TCP;
		if (xlb_dp_service_set(dp, &svc, &be, 1, err, sizeof(err))) {
			fprintf(stderr, "sock_bench: service: %s\n", err);
			return 1;
		}
	}
	if (xlb_dp_sock_attach(dp, lb_cg, err, sizeof(err))) {
		fprintf(stderr, "sock_bench: %s\n", err);
		return 1;
	}

	for (int p = 0; p < 2; p++)
		for (int k = 0; k < KINDS; k++)
			res[p][k] = calloc(rounds, sizeof(double));
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);	/* on while it is open */
	prog_fd = xlb_dp_bpf_hook_prog_fd(dp, "xlb_sock_connect4");
	for (int r = 0; r < rounds; r++) {
		for (int p = 0; p < 2; p++) {
			int type = p ? SOCK_DGRAM : SOCK_STREAM;

			/* alternate the order, so that drift hits every kind alike */
			for (int i = 0; i < KINDS; i++) {
				int k = (r & 1) ? KINDS - 1 - i : i;

				uint64_t ns0, cnt0, ns1, cnt1;

				if (join(k == BARE ? bare_cg : lb_cg))
					return 1;
				prog_stats(prog_fd, &ns0, &cnt0);
				res[p][k][r] = batch(type, k == LB ? &sa_vip : &sa_be, n);
				prog_stats(prog_fd, &ns1, &cnt1);
				if (!res[p][k][r])
					return 1;
				run_ns[p][k] += ns1 - ns0;
				run_cnt[p][k] += cnt1 - cnt0;
			}
		}
	}
	join(cg);
	if (stats_fd >= 0)
		close(stats_fd);
	xlb_dp_close(dp);
	rmdir(lb_cg);
	rmdir(bare_cg);

	printf("{\"rounds\": %d, \"n\": %d", rounds, n);
	for (int p = 0; p < 2; p++) {
		double med[KINDS];

		for (int k = 0; k < KINDS; k++) {
			qsort(res[p][k], rounds, sizeof(double), cmp_double);
			med[k] = res[p][k][rounds / 2];
		}
		printf(", \"%s\": {\"bare_ns\": %.0f, \"pass_ns\": %.0f, \"lb_ns\": %.0f, "
		       "\"lb_cost_ns\": %.0f, \"pass_cost_ns\": %.0f, "
		       "\"prog_pass_ns\": %.0f, \"prog_lb_ns\": %.0f}",
		       p ? "udp" : "tcp", med[BARE], med[PASS], med[LB], med[LB] - med[BARE],
		       med[PASS] - med[BARE],
		       run_cnt[p][PASS] ? (double)run_ns[p][PASS] / run_cnt[p][PASS] : -1.0,
		       run_cnt[p][LB] ? (double)run_ns[p][LB] / run_cnt[p][LB] : -1.0);
	}
	printf("}\n");
	return 0;
}
