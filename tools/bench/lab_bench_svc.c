// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lab_bench_svc: program many services into xlb's pinned maps in one
 * process, for the lab benchmark (tools/bench/lab_bench.sh). xlb-dp loads
 * the program and adopts every pinned service on each invocation, which
 * makes 10,000 invocations take minutes; this opens the dataplane once.
 *
 *   lab_bench_svc --pin-dir DIR < SERVICES
 *
 * One service per line, rr, fields separated by blanks:
 *
 *   NAME tcp|udp VIP PORT BACKEND_IP:PORT...
 *
 * Prints "programmed N services in S s" on stdout. Exit 0, or 1 naming the
 * line that failed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "dataplane/dataplane.h"

#define MAX_BE 16

static int parse_backend(char *s, struct xlb_backend_spec *b)
{
	char *colon = strrchr(s, ':');

	memset(b, 0, sizeof(*b));
	b->weight = 1;
	if (!colon)
		return -EINVAL;
	*colon = 0;
	b->port = (uint32_t)atoi(colon + 1);
	return xlb_ip_parse(s, &b->addr) || !b->port ? -EINVAL : 0;
}

static int parse_line(char *line, struct xlb_service_spec *s, struct xlb_backend_spec *be,
		      size_t *n)
{
	char *save = NULL, *name, *proto, *vip, *port, *tok;

	memset(s, 0, sizeof(*s));
	name = strtok_r(line, " \t\n", &save);
	proto = strtok_r(NULL, " \t\n", &save);
	vip = strtok_r(NULL, " \t\n", &save);
	port = strtok_r(NULL, " \t\n", &save);
	if (!name || !proto || !vip || !port)
		return -EINVAL;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->type = XLB_SVC_CLUSTER_IP;
	s->algo = XLB_ALGO_RR;
	s->port = (uint32_t)atoi(port);
	if (xlb_proto_parse(proto, &s->proto) || xlb_ip_parse(vip, &s->vip) || !s->port)
		return -EINVAL;
	*n = 0;
	while ((tok = strtok_r(NULL, " \t\n", &save))) {
		if (*n == MAX_BE || parse_backend(tok, &be[*n]))
			return -EINVAL;
		(*n)++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct xlb_dp_opts opts = { 0 };
	struct xlb_backend_spec be[MAX_BE];
	struct xlb_service_spec s;
	struct timespec t0, t1;
	struct xlb_dp *dp;
	char line[1024], err[256] = "";
	unsigned lineno = 0, done = 0;
	int ret;

	if (argc != 3 || strcmp(argv[1], "--pin-dir")) {
		fprintf(stderr, "usage: lab_bench_svc --pin-dir DIR < SERVICES\n");
		return 2;
	}
	opts.pin_dir = argv[2];
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = xlb_dp_bpf_open(&opts, &dp, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "lab_bench_svc: open dataplane at %s: %s\n", argv[2],
			err[0] ? err : strerror(-ret));
		return 1;
	}
	while (fgets(line, sizeof(line), stdin)) {
		size_t n;

		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (parse_line(line, &s, be, &n)) {
			fprintf(stderr,
				"lab_bench_svc: line %u: expected NAME PROTO VIP PORT IP:PORT...\n",
				lineno);
			ret = -EINVAL;
			break;
		}
		ret = xlb_dp_service_set(dp, &s, be, n, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "lab_bench_svc: line %u: service set %s: %s\n", lineno,
				s.name, err[0] ? err : strerror(-ret));
			break;
		}
		done++;
	}
	xlb_dp_close(dp);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("programmed %u services in %.3f s\n", done,
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return ret ? 1 : 0;
}
