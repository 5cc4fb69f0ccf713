// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lab_bench_srv: the backend of the lab benchmark (tools/bench/lab_bench.sh),
 * in C because tools/lab/server.py cannot keep up with the load.
 *
 * TCP: on accept, send "NAME\n"; then wait for the client to close (it
 * resets) and close too. A line received gets "NAME\n" back, as with
 * server.py, so a connection can also be pinged.
 * UDP: every datagram is counted; one whose first byte is '?' (a probe) is
 * answered from the same socket with "NAME COUNT\n", COUNT being the data
 * datagrams (first byte not '?') received so far. The load generator reads
 * per-backend delivery from two such probes, one before and one after its
 * blast: what reached the application, not what was sent.
 *
 *   lab_bench_srv --name NAME [--port 8080] [--max-seconds 3600]
 *
 * Single-threaded, one epoll loop; exits on SIGTERM/SIGINT or after
 * --max-seconds, so a server left behind does not run forever.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define UDP_BATCH	64
#define ACCEPT_BATCH	256
#define MAX_EVENTS	256

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int listen_on(int type, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, fd;

	fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (type == SOCK_DGRAM) {
		/* 16 MiB, past rmem_max (we run as root): a backend descheduled
		 * for a few ms on a busy machine must not drop what the load
		 * balancer delivered. */
		int buf = 16 << 20;

		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)))
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	}
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    (type == SOCK_STREAM && listen(fd, 4096))) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

/* Drain the UDP socket: count data, answer probes. */
static void udp_drain(int fd, const char *name, uint64_t *count)
{
	static char bufs[UDP_BATCH][64];
	struct sockaddr_in from[UDP_BATCH];
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];

	for (int rounds = 0; rounds < 1024; rounds++) {
		int n;

		memset(msgs, 0, sizeof(msgs));
		for (int i = 0; i < UDP_BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = sizeof(bufs[i]);
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &from[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		n = recvmmsg(fd, msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		for (int i = 0; i < n; i++) {
			char reply[96];
			int len;

			if (msgs[i].msg_len < 1 || bufs[i][0] != '?') {
				(*count)++;
				continue;
			}
			len = snprintf(reply, sizeof(reply), "%s %llu\n", name,
				       (unsigned long long)*count);
			sendto(fd, reply, len, MSG_DONTWAIT, (struct sockaddr *)&from[i],
			       msgs[i].msg_hdr.msg_namelen);
		}
	}
}

static void tcp_accept(int ep, int lfd, const char *reply, size_t len)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (send(fd, reply, len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)len) {
			close(fd);
			continue;
		}
		ev.data.fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
			close(fd);
	}
}

/* Data on an accepted connection: answer each line; EOF or reset: close. */
static void tcp_conn(int fd, uint32_t events, const char *reply, size_t len)
{
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\n')
				send(fd, reply, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (!(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
			return;
	} else if (n < 0 && errno == EAGAIN && !(events & (EPOLLHUP | EPOLLERR))) {
		return;
	}
	close(fd);	/* also removes it from the epoll set */
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "port", required_argument, NULL, 'p' },
		{ "max-seconds", required_argument, NULL, 'm' },
		{ 0 }
	};
	struct epoll_event evs[MAX_EVENTS], ev = { .events = EPOLLIN };
	const char *name = NULL;
	double max_s = 3600, end;
	int port = 8080, tfd, ufd, ep, c;
	uint64_t count = 0;
	char reply[80];
	size_t len;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'm':
			max_s = atof(optarg);
			break;
		default:
			return 2;
		}
	}
	if (!name || strlen(name) > 32 || port <= 0 || port > 65535 || max_s <= 0) {
		fprintf(stderr, "usage: lab_bench_srv --name NAME [--port N] [--max-seconds S]\n");
		return 2;
	}
	len = (size_t)snprintf(reply, sizeof(reply), "%s\n", name);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	tfd = listen_on(SOCK_STREAM, port);
	ufd = listen_on(SOCK_DGRAM, port);
	if (tfd < 0 || ufd < 0) {
		fprintf(stderr, "lab_bench_srv %s: listen on port %d: %s\n", name, port,
			strerror(tfd < 0 ? -tfd : -ufd));
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = tfd;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev)) {
		perror("lab_bench_srv: epoll");
		return 1;
	}
	ev.data.fd = ufd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, ufd, &ev)) {
		perror("lab_bench_srv: epoll");
		return 1;
	}
	fprintf(stderr, "lab_bench_srv %s: listening on :%d tcp+udp\n", name, port);

	end = now_s() + max_s;
	while (!stop && now_s() < end) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, 200);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == tfd)
				tcp_accept(ep, tfd, reply, len);
			else if (fd == ufd)
				udp_drain(ufd, name, &count);
			else
				tcp_conn(fd, evs[i].events, reply, len);
		}
	}
	return 0;
}
