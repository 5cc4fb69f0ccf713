// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lab_bench_load: the client of the lab benchmark (tools/bench/lab_bench.sh).
 * Prints one JSON object on stdout.
 *
 *   lab_bench_load tcp --dst IP:PORT --src IP... [--seconds S] [--warmup S]
 *                      [--inflight K] [--timeout-ms MS]
 *
 * New TCP connections as fast as they complete: K non-blocking connects in
 * flight (epoll), each reads the backend's first line ("NAME\n"), then
 * closes with a reset (SO_LINGER 0) so that neither side keeps TIME_WAIT and
 * the source ports are free again at once. Sources rotate over --src, ports
 * are chosen by the kernel at connect (IP_BIND_ADDRESS_NO_PORT). Counts the
 * connections that completed inside the measured window (after --warmup),
 * per backend name, with connect-to-first-line latency percentiles and
 * every failure by kind (a connection older than --timeout-ms is one).
 *
 *   lab_bench_load udp --dst IP:PORT --src IP... [--seconds S] [--flows F]
 *                      [--batch B] [--size BYTES]
 *
 * UDP blaster: F connected sockets (F flows, sources rotating over --src).
 * Each flow first sends a probe ('?') and reads the answer "NAME COUNT" of
 * the backend it reaches (lab_bench_srv), then all flows send data
 * datagrams with sendmmsg, round robin, open loop, for S seconds; then every
 * flow probes again. A backend's delivered datagrams are the difference of
 * its counts between the two probes, so the rate is what reached the
 * backends' sockets, not what left the client.
 *
 * Every loop is bounded by a deadline; every socket operation by a timeout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define MAX_SRC		256
#define MAX_INFLIGHT	1024
#define MAX_FLOWS	256
#define MAX_KINDS	24
#define MAX_LAT		(4u << 20)
#define MAX_BATCH	64

struct tally {
	char name[MAX_KINDS][48];
	uint64_t n[MAX_KINDS];
	int used;
};

static void tally_add(struct tally *t, const char *name, uint64_t by)
{
	int i;

	for (i = 0; i < t->used; i++)
		if (!strcmp(t->name[i], name))
			break;
	if (i == MAX_KINDS) {
		/* Full: the last slot becomes "(other)" and takes the rest. */
		i = MAX_KINDS - 1;
		snprintf(t->name[i], sizeof(t->name[i]), "(other)");
	} else if (i == t->used) {
		t->used++;
		snprintf(t->name[i], sizeof(t->name[i]), "%s", name);
		/* Names come off the wire and go into JSON unescaped. */
		for (char *p = t->name[i]; *p; p++)
			if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
				*p = '?';
	}
	t->n[i] += by;
}

static void tally_json(const char *key, const struct tally *t)
{
	printf("\"%s\": {", key);
	for (int i = 0; i < t->used; i++)
		printf("%s\"%s\": %llu", i ? ", " : "", t->name[i], (unsigned long long)t->n[i]);
	printf("}");
}

static uint64_t tally_sum(const struct tally *t)
{
	uint64_t s = 0;

	for (int i = 0; i < t->used; i++)
		s += t->n[i];
	return s;
}

/* "what:ERRNO_NAME", e.g. "connect:ECONNREFUSED". */
static void err_add(struct tally *t, const char *what, int err)
{
	char k[48];
	const char *e = strerrorname_np(err);

	snprintf(k, sizeof(k), "%s:%s", what, e ? e : "E?");
	tally_add(t, k, 1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct {
	struct sockaddr_in dst;
	struct in_addr src[MAX_SRC];
	int n_src;
	double seconds, warmup;
	int inflight, timeout_ms, flows, batch, size;
} o = { .seconds = 2, .warmup = 0.3, .inflight = 64, .timeout_ms = 1000,
	.flows = 32, .batch = 32, .size = 64 };

static int parse_hostport(const char *s, struct sockaddr_in *a)
{
	char buf[64], *colon;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	colon = strrchr(buf, ':');
	if (!colon)
		return -1;
	*colon = 0;
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, buf, &a->sin_addr) == 1 && a->sin_port ? 0 : -1;
}

/* ------------------------------------------------------------------ tcp */

struct conn {
	int fd;			/* -1: free */
	double t0;
	int len;
	char buf[64];
};

static struct conn conns[MAX_INFLIGHT];
static float *lat_us;
static uint32_t n_lat;

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

static void conn_close(struct conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c->fd);
	c->fd = -1;
}

static int conn_open(int ep, int idx, unsigned seq, struct tally *errs, bool count)
{
	struct sockaddr_in src = { .sin_family = AF_INET, .sin_addr = o.src[seq % o.n_src] };
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u32 = idx };
	struct conn *c = &conns[idx];
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		if (count)
			err_add(errs, "socket", errno);
		return -1;
	}
	setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) ||
	    (connect(c->fd, (struct sockaddr *)&o.dst, sizeof(o.dst)) && errno != EINPROGRESS) ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev)) {
		if (count)
			err_add(errs, "connect", errno);
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	c->t0 = now_s();
	c->len = 0;
	return 0;
}

struct tcp_stats {
	struct tally names, errs;
	uint64_t done;
};

/* Data or an error on a connection in flight. st: NULL outside the
 * measured window (nothing counted). */
static void conn_event(struct conn *c, uint32_t events, double t, struct tcp_stats *st)
{
	int err = 0;
	socklen_t l = sizeof(err);
	char *nl;
	ssize_t r;

	if (c->fd < 0)
		return;
	r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, MSG_DONTWAIT);
	if (r > 0) {
		c->len += (int)r;
		c->buf[c->len] = 0;
		nl = strchr(c->buf, '\n');
		if (!nl && c->len < (int)sizeof(c->buf) - 1)
			return;	/* the rest of the line is still on its way */
		if (st && nl) {
			*nl = 0;
			tally_add(&st->names, c->buf, 1);
			st->done++;
			if (n_lat < MAX_LAT)
				lat_us[n_lat++] = (float)((t - c->t0) * 1e6);
		} else if (st) {
			tally_add(&st->errs, "long-line", 1);
		}
		conn_close(c);
		return;
	}
	if (r < 0 && errno == EAGAIN && !(events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)))
		return;
	if (st) {
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (r == 0 && !err)
			tally_add(&st->errs, "eof", 1);
		else
			err_add(&st->errs, "conn", err ? err : errno);
	}
	conn_close(c);
}

static int run_tcp(void)
{
	struct epoll_event evs[MAX_INFLIGHT];
	static struct tcp_stats st;
	double start, t_meas, t_end, t, next_sweep;
	unsigned seq = 0;
	int ep;

	lat_us = calloc(MAX_LAT, sizeof(*lat_us));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!lat_us || ep < 0) {
		perror("lab_bench_load tcp");
		return 1;
	}
	for (int i = 0; i < o.inflight; i++)
		conns[i].fd = -1;

	start = now_s();
	t_meas = start + o.warmup;
	t_end = t_meas + o.seconds;
	next_sweep = start;
	for (t = start; t < t_end; t = now_s()) {
		bool counting = t >= t_meas;
		int n;

		/* Refill free slots; a failed open is retried on the next pass
		 * (after up to 1 ms), never in a tight loop. */
		for (int i = 0; i < o.inflight; i++)
			if (conns[i].fd < 0)
				conn_open(ep, i, seq++, &st.errs, counting);
		n = epoll_wait(ep, evs, o.inflight, 1);
		t = now_s();
		counting = t >= t_meas && t < t_end;
		for (int k = 0; k < n; k++) {
			struct conn *c = &conns[evs[k].data.u32];

			conn_event(c, evs[k].events, t, counting ? &st : NULL);
		}
		if (t >= next_sweep) {
			next_sweep = t + 0.01;
			for (int i = 0; i < o.inflight; i++) {
				if (conns[i].fd >= 0 && (t - conns[i].t0) * 1000 > o.timeout_ms) {
					if (counting)
						tally_add(&st.errs, "timeout", 1);
					conn_close(&conns[i]);
				}
			}
		}
	}
	for (int i = 0; i < o.inflight; i++)
		if (conns[i].fd >= 0)
			conn_close(&conns[i]);

	qsort(lat_us, n_lat, sizeof(*lat_us), cmp_float);
	printf("{\"mode\": \"tcp\", \"seconds\": %.3f, \"conns\": %llu, \"rate\": %.1f, ",
	       o.seconds, (unsigned long long)st.done, st.done / o.seconds);
	tally_json("names", &st.names);
	printf(", \"errors\": %llu, ", (unsigned long long)tally_sum(&st.errs));
	tally_json("error_kinds", &st.errs);
	printf(", \"lat_us\": {\"p50\": %.0f, \"p90\": %.0f, \"p99\": %.0f}}\n",
	       n_lat ? lat_us[n_lat / 2] : 0.0, n_lat ? lat_us[n_lat * 9 / 10] : 0.0,
	       n_lat ? lat_us[n_lat * 99 / 100] : 0.0);
	return 0;
}

/* ------------------------------------------------------------------ udp */

struct flow {
	int fd;
	char name[40];
	uint64_t before, after;
	bool ok_before, ok_after;
};

static struct flow flows[MAX_FLOWS];

/* Send '?' and read "NAME COUNT"; up to 5 tries of 300 ms. */
static int probe(struct flow *f, char *name, uint64_t *count)
{
	for (int tries = 0; tries < 5; tries++) {
		struct pollfd p = { .fd = f->fd, .events = POLLIN };
		char buf[96];
		unsigned long long c;
		ssize_t r;

		/* A late answer to an earlier try must not pass for this one. */
		for (int d = 0; d < 64 && recv(f->fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0; d++)
			;
		if (send(f->fd, "?", 1, 0) != 1)
			continue;
		if (poll(&p, 1, 300) != 1)
			continue;
		r = recv(f->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (r <= 0)
			continue;
		buf[r] = 0;
		if (sscanf(buf, "%39s %llu", name, &c) == 2) {
			*count = c;
			return 0;
		}
	}
	return -1;
}

static int run_udp(void)
{
	static char payload[MAX_BATCH][2048];
	struct mmsghdr msgs[MAX_BATCH];
	struct iovec iov[MAX_BATCH];
	struct tally errs = { 0 }, fl_by_be = { 0 }, rx_by_be = { 0 };
	struct timeval tv = { .tv_usec = 100000 };
	uint64_t sent = 0, rx = 0;
	double t0, t1, t_end;

	for (int i = 0; i < o.flows; i++) {
		struct sockaddr_in src = { .sin_family = AF_INET, .sin_addr = o.src[i % o.n_src] };
		struct flow *f = &flows[i];

		f->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (f->fd < 0 || bind(f->fd, (struct sockaddr *)&src, sizeof(src)) ||
		    connect(f->fd, (struct sockaddr *)&o.dst, sizeof(o.dst))) {
			perror("lab_bench_load udp: socket");
			return 1;
		}
		setsockopt(f->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		f->ok_before = !probe(f, f->name, &f->before);
		if (f->ok_before)
			tally_add(&fl_by_be, f->name, 1);
		else
			tally_add(&errs, "probe-before", 1);
	}

	for (int i = 0; i < o.batch; i++) {
		memset(payload[i], 'D', o.size);
		iov[i].iov_base = payload[i];
		iov[i].iov_len = o.size;
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	t0 = now_s();
	t_end = t0 + o.seconds;
	for (unsigned k = 0; now_s() < t_end; k++) {
		struct flow *f = &flows[k % o.flows];
		int n = sendmmsg(f->fd, msgs, o.batch, 0);

		if (n > 0)
			sent += n;
		else
			err_add(&errs, "send", errno);
	}
	t1 = now_s();
	usleep(100000);	/* let the backends drain their queues */

	for (int i = 0; i < o.flows; i++) {
		struct flow *f = &flows[i];
		char name[40];

		f->ok_after = !probe(f, name, &f->after);
		if (!f->ok_after)
			tally_add(&errs, "probe-after", 1);
		else if (f->ok_before && strcmp(name, f->name))
			tally_add(&errs, "flow-moved", 1);
	}
	/* Per backend: the highest count after minus the lowest before (all
	 * of a backend's flows read the same counter). */
	for (int b = 0; b < fl_by_be.used; b++) {
		uint64_t lo = UINT64_MAX, hi = 0;

		for (int i = 0; i < o.flows; i++) {
			struct flow *f = &flows[i];

			if (!f->ok_before || strcmp(f->name, fl_by_be.name[b]))
				continue;
			if (f->before < lo)
				lo = f->before;
			if (f->ok_after && f->after > hi)
				hi = f->after;
		}
		if (hi >= lo && lo != UINT64_MAX) {
			tally_add(&rx_by_be, fl_by_be.name[b], hi - lo);
			rx += hi - lo;
		}
	}
	for (int i = 0; i < o.flows; i++)
		close(flows[i].fd);

	printf("{\"mode\": \"udp\", \"seconds\": %.3f, \"sent\": %llu, \"send_rate\": %.1f, "
	       "\"received\": %llu, \"rate\": %.1f, ",
	       t1 - t0, (unsigned long long)sent, sent / (t1 - t0), (unsigned long long)rx,
	       rx / (t1 - t0));
	tally_json("names", &rx_by_be);
	printf(", ");
	tally_json("flows", &fl_by_be);
	printf(", \"errors\": %llu, ", (unsigned long long)tally_sum(&errs));
	tally_json("error_kinds", &errs);
	printf("}\n");
	return 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: lab_bench_load tcp|udp --dst IP:PORT --src IP [--src IP]...\n"
		"         [--seconds S] [--warmup S] [--inflight K] [--timeout-ms MS]\n"
		"         [--flows F] [--batch B] [--size BYTES]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dst", required_argument, NULL, 'd' },
		{ "src", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "inflight", required_argument, NULL, 'k' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "flows", required_argument, NULL, 'f' },
		{ "batch", required_argument, NULL, 'b' },
		{ "size", required_argument, NULL, 'z' },
		{ 0 }
	};
	bool have_dst = false;
	const char *mode;
	int c;

	if (argc < 2)
		return usage();
	mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (parse_hostport(optarg, &o.dst))
				return usage();
			have_dst = true;
			break;
		case 's':
			if (o.n_src == MAX_SRC || inet_pton(AF_INET, optarg, &o.src[o.n_src]) != 1)
				return usage();
			o.n_src++;
			break;
		case 'S':
			o.seconds = atof(optarg);
			break;
		case 'w':
			o.warmup = atof(optarg);
			break;
		case 'k':
			o.inflight = atoi(optarg);
			break;
		case 't':
			o.timeout_ms = atoi(optarg);
			break;
		case 'f':
			o.flows = atoi(optarg);
			break;
		case 'b':
			o.batch = atoi(optarg);
			break;
		case 'z':
			o.size = atoi(optarg);
			break;
		default:
			return usage();
		}
	}
	if (!have_dst || !o.n_src || o.seconds <= 0 || o.seconds > 600 || o.warmup < 0 ||
	    o.warmup > 60 || o.inflight < 1 || o.inflight > MAX_INFLIGHT || o.timeout_ms < 1 ||
	    o.flows < 1 || o.flows > MAX_FLOWS || o.batch < 1 || o.batch > MAX_BATCH ||
	    o.size < 1 || o.size > 2048)
		return usage();
	if (!strcmp(mode, "tcp"))
		return run_tcp();
	if (!strcmp(mode, "udp"))
		return run_udp();
	return usage();
}
