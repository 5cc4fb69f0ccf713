// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * stream: established TCP throughput for the cluster benchmark
 * (tools/bench/cluster_bench.sh). Prints one JSON object (client).
 *
 *   stream serve [--port 9100] [--max-seconds 3600]
 *       every connection gets 256 KiB writes until it closes
 *   stream get --dst IP:PORT [--seconds S] [--warmup S]
 *       one connection: bytes read in S seconds after the warm-up, as
 *       {"gbit_s": X, "bytes": N, "seconds": S}
 *
 * Single stream, default socket buffers and offloads: what one
 * application connection gets, which is what the socket programs must not
 * slow down once connect() has returned.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256 * 1024)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *writer(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *buf = calloc(1, CHUNK);

	while (buf && write(fd, buf, CHUNK) > 0)
		;
	free(buf);
	close(fd);
	return NULL;
}

static int serve(int port, int max_seconds)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned)max_seconds);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 64)) {
		perror("stream serve");
		return 1;
	}
	for (;;) {
		int c = accept(fd, NULL, NULL);
		pthread_t th;

		if (c < 0)
			continue;
		if (pthread_create(&th, NULL, writer, (void *)(intptr_t)c))
			close(c);
		else
			pthread_detach(th);
	}
}

static int get(const char *dst, double seconds, double warmup)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { 5, 0 };
	char host[64], *colon, *buf = malloc(CHUNK);
	double t0, t1, start;
	uint64_t bytes = 0;
	int fd;

	snprintf(host, sizeof(host), "%s", dst);
	colon = strrchr(host, ':');
	if (!buf || !colon)
		return 2;
	*colon = 0;
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return 2;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		printf("{\"error\": \"%s\"}\n", strerror(errno));
		return 1;
	}
	start = now_s();
	while (now_s() - start < warmup)
		if (read(fd, buf, CHUNK) <= 0)
			break;
	t0 = now_s();
	for (;;) {
		ssize_t n = read(fd, buf, CHUNK);

		if (n <= 0) {
			printf("{\"error\": \"%s\"}\n", n ? strerror(errno) : "eof");
			return 1;
		}
		bytes += (uint64_t)n;
		t1 = now_s();
		if (t1 - t0 >= seconds)
			break;
	}
	close(fd);
	printf("{\"gbit_s\": %.3f, \"bytes\": %llu, \"seconds\": %.3f}\n",
	       bytes * 8 / (t1 - t0) / 1e9, (unsigned long long)bytes, t1 - t0);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "max-seconds", required_argument, NULL, 'm' },
		{ "dst", required_argument, NULL, 'd' },
		{ "seconds", required_argument, NULL, 's' },
		{ "warmup", required_argument, NULL, 'w' },
		{ 0 }
	};
	const char *dst = NULL;
	int port = 9100, max_seconds = 3600, c;
	double seconds = 3, warmup = 0.5;

	if (argc < 2)
		goto usage;
	while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': port = atoi(optarg); break;
		case 'm': max_seconds = atoi(optarg); break;
		case 'd': dst = optarg; break;
		case 's': seconds = atof(optarg); break;
		case 'w': warmup = atof(optarg); break;
		default: goto usage;
		}
	}
	if (!strcmp(argv[1], "serve"))
		return serve(port, max_seconds);
	if (!strcmp(argv[1], "get") && dst && seconds > 0)
		return get(dst, seconds, warmup);
usage:
	fprintf(stderr, "usage: stream serve [--port P] | stream get --dst IP:PORT [--seconds S]\n");
	return 2;
}
