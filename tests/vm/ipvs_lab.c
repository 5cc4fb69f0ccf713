// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ipvs_lab: the servers and clients of tests/vm/ipvs.sh (the guest has no
 * python3, and busybox cannot bind a client to a chosen source address).
 *
 *   ipvs_lab serve NAME TCPPORT UDPPORT
 *       TCP: greets each connection with "NAME PEERADDR\n", then answers
 *       every line with "NAME\n" until EOF. UDP: answers each datagram with
 *       "NAME PEERADDR\n". One process per TCP connection.
 *   ipvs_lab get tcp|udp ADDR:PORT N [SRCADDR]
 *       N requests, a new connection (or socket) each; prints
 *       "NAME COUNT" per answering server, "fail COUNT" for no answer.
 *   ipvs_lab who tcp|udp ADDR:PORT [SRCADDR]
 *       one request; prints the whole greeting ("NAME PEERADDR").
 *   ipvs_lab hold ADDR:PORT SECONDS
 *       one connection: prints "conn NAME" at once, then a line every
 *       200 ms for SECONDS, each answer awaited (2 s); ends with
 *       "held NAME" or "broken NAME after MS ms: REASON".
 * Every wait is bounded; exit 0 unless the arguments are wrong.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define IO_TIMEOUT_MS 2000

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
	char buf[64], *colon;

	snprintf(buf, sizeof(buf), "%s", s);
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	colon = strrchr(buf, ':');
	if (colon) {
		*colon = 0;
		sa->sin_port = htons((uint16_t)atoi(colon + 1));
	}
	return inet_pton(AF_INET, buf, &sa->sin_addr) == 1 ? 0 : -1;
}

static void set_timeouts(int fd)
{
	struct timeval tv = { IO_TIMEOUT_MS / 1000, (IO_TIMEOUT_MS % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- server ------------------------------------------------------------ */

static void serve_tcp_conn(int c, const char *name, const struct sockaddr_in *peer)
{
	char buf[512], out[160];
	int n;

	n = snprintf(out, sizeof(out), "%s %s\n", name, inet_ntoa(peer->sin_addr));
	if (write(c, out, (size_t)n) != n)
		return;
	n = snprintf(out, sizeof(out), "%s\n", name);
	for (;;) {
		ssize_t r = read(c, buf, sizeof(buf));

		if (r <= 0)
			return;
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] == '\n' && write(c, out, (size_t)n) != n)
				return;
	}
}

static int serve(const char *name, int tport, int uport)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int t = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0), one = 1;

	signal(SIGCHLD, SIG_IGN);	/* no zombies */
	setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_port = htons((uint16_t)tport);
	if (bind(t, (struct sockaddr *)&sa, sizeof(sa)) || listen(t, 128)) {
		perror("tcp bind/listen");
		return 1;
	}
	sa.sin_port = htons((uint16_t)uport);
	if (bind(u, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("udp bind");
		return 1;
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = t, .events = POLLIN }, { .fd = u, .events = POLLIN } };
		struct sockaddr_in peer;
		socklen_t pl = sizeof(peer);

		if (poll(p, 2, -1) < 0)
			continue;
		if (p[0].revents & POLLIN) {
			int c = accept(t, (struct sockaddr *)&peer, &pl);

			if (c >= 0) {
				if (fork() == 0) {
					close(t);
					close(u);
					set_timeouts(c);
					serve_tcp_conn(c, name, &peer);
					_exit(0);
				}
				close(c);
			}
		}
		if (p[1].revents & POLLIN) {
			char buf[512], out[160];
			int n;

			pl = sizeof(peer);
			if (recvfrom(u, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &pl) >= 0) {
				n = snprintf(out, sizeof(out), "%s %s\n", name, inet_ntoa(peer.sin_addr));
				sendto(u, out, (size_t)n, 0, (struct sockaddr *)&peer, pl);
			}
		}
	}
}

/* ---- clients ----------------------------------------------------------- */

/* One request; the greeting (first line) into out. 0 or -1. */
static int request(int udp, const struct sockaddr_in *dst, const char *src, char *out, size_t len)
{
	int fd = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
	ssize_t n = -1;

	if (fd < 0)
		return -1;
	set_timeouts(fd);
	if (src) {
		struct sockaddr_in s;

		if (parse_addr(src, &s) || bind(fd, (struct sockaddr *)&s, sizeof(s)))
			goto out;
	}
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)))
		goto out;
	if (udp && send(fd, "?\n", 2, 0) != 2)
		goto out;
	n = recv(fd, out, len - 1, 0);
out:
	close(fd);
	if (n <= 0)
		return -1;
	out[n] = 0;
	out[strcspn(out, "\n")] = 0;
	return 0;
}

struct tally {
	char name[32];
	int n;
};

static int get(int udp, const struct sockaddr_in *dst, int count, const char *src)
{
	struct tally t[16] = {};
	int nt = 0, fails = 0;

	for (int i = 0; i < count; i++) {
		char g[160], *sp;
		int k;

		if (request(udp, dst, src, g, sizeof(g))) {
			fails++;
			continue;
		}
		sp = strchr(g, ' ');
		if (sp)
			*sp = 0;
		for (k = 0; k < nt && strcmp(t[k].name, g); k++)
			;
		if (k == nt && nt < 16)
			snprintf(t[nt++].name, sizeof(t[0].name), "%.31s", g);
		if (k < 16)
			t[k].n++;
	}
	for (int k = 0; k < nt; k++)
		printf("%s %d\n", t[k].name, t[k].n);
	if (fails)
		printf("fail %d\n", fails);
	return 0;
}

static int hold(const struct sockaddr_in *dst, int secs)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char name[64] = "?", buf[256];
	int64_t start = now_ms(), end = start + secs * 1000LL;
	ssize_t n;

	set_timeouts(fd);
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst))) {
		printf("broken ? after 0 ms: connect: %s\n", strerror(errno));
		return 0;
	}
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0) {
		printf("broken ? after 0 ms: no greeting\n");
		return 0;
	}
	buf[n] = 0;
	sscanf(buf, "%63s", name);
	printf("conn %s\n", name);
	fflush(stdout);
	while (now_ms() < end) {
		usleep(200 * 1000);
		if (send(fd, "x\n", 2, MSG_NOSIGNAL) != 2) {
			printf("broken %s after %lld ms: send: %s\n", name,
			       (long long)(now_ms() - start), strerror(errno));
			return 0;
		}
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0) {
			printf("broken %s after %lld ms: %s\n", name, (long long)(now_ms() - start),
			       n == 0 ? "closed" : errno == EAGAIN ? "timeout" : strerror(errno));
			return 0;
		}
	}
	close(fd);
	printf("held %s\n", name);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in dst;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && !strcmp(argv[1], "serve"))
		return serve(argv[2], atoi(argv[3]), atoi(argv[4]));
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "get") && !parse_addr(argv[3], &dst))
		return get(!strcmp(argv[2], "udp"), &dst, atoi(argv[4]), argc == 6 ? argv[5] : NULL);
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "who") && !parse_addr(argv[3], &dst)) {
		char g[160];

		if (request(!strcmp(argv[2], "udp"), &dst, argc == 5 ? argv[4] : NULL, g, sizeof(g)))
			printf("fail\n");
		else
			printf("%s\n", g);
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "hold") && !parse_addr(argv[2], &dst))
		return hold(&dst, atoi(argv[3]));
	fprintf(stderr, "usage: ipvs_lab serve NAME TCPPORT UDPPORT | get tcp|udp ADDR:PORT N [SRC] |\n"
			"       who tcp|udp ADDR:PORT [SRC] | hold ADDR:PORT SECONDS\n");
	return 2;
}
