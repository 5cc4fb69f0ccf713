// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Half-open TCP probes (what F5 calls a "TCP half-open" monitor): a SYN
 * through a raw socket, healthy on the SYN-ACK, refused on the RST, and
 * failed with connect()'s errno on an ICMP error about the SYN. The reply
 * reaches no socket of ours, so our kernel answers the SYN-ACK with a RST,
 * which frees the backend's request socket.
 *
 * This is exactly what a prober sees of connect(): connect() succeeds the
 * moment the SYN-ACK arrives. What it saves is everything after: our socket
 * and its teardown, the third ACK, the backend's child socket, its accept
 * queue, and the application's accept() and close() of a connection that
 * carries nothing (which is also why applications log kubelet's TCP probes
 * as resets). On loopback it is a quarter of the kernel's cost of a
 * connect() probe (docs/benchmarks.md).
 *
 * Replies are told apart by our source port (one of SYN_NPORTS consecutive
 * ports, each held by a bound TCP socket so no connect() of anyone's picks
 * it) and checked against the probe's random initial sequence number. Two
 * probes in flight to the same backend address and port (two services
 * sharing an endpoint) use different source ports. SYNs are resent as
 * connect() would, at 1 s, 3 s, 7 s... while the timeout allows.
 *
 * IPv4 only: IPv6 targets, and every probe when raw sockets are not
 * available (no CAP_NET_RAW), use connect() (tcp.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "health/health_priv.h"

#define SYN_NPORTS	HC_SYN_NPORTS
#define SYN_BATCH	64
#define SYN_SNAP	128		/* bytes kept of a reply: the headers */
#define SYN_RCVBUF	(8 << 20)
#define SYN_RTO_US	1000000		/* connect()'s first retransmission */
#define SRC_TTL_US	10000000	/* a target's source address is looked up again after this */

#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

struct hc_syn {
	int fd;				/* raw IPPROTO_TCP, IP_HDRINCL: SYNs out, replies in */
	int icmp_fd;			/* raw IPPROTO_ICMP: errors about our SYNs; -1 */
	int udp_fd;			/* route source lookups */
	int hold[SYN_NPORTS];		/* bound TCP sockets holding our source ports */
	uint16_t base;			/* first source port, host order */
	struct xlb_htab inflight;	/* hc_syn_key -> hc_target */
	uint64_t rng;
	struct xlb_health_stats *stats;
};

static uint32_t rnd32(struct hc_syn *s)
{
	return (uint32_t)(hc_rng_next(&s->rng) >> 32);
}

/* ---- set-up */

/* SYN_NPORTS consecutive ports in the ephemeral range, each held by a
 * bound (never listening) TCP socket: connect() skips ports bound this way,
 * and a segment to such a port finds no socket, so the kernel resets it. */
static int hold_ports(struct hc_syn *s)
{
	uint32_t lo, hi;

	hc_port_range(&lo, &hi);
	if (hi - lo + 1 < SYN_NPORTS * 4)
		return -EADDRINUSE;
	for (int attempt = 0; attempt < 64; attempt++) {
		uint16_t base = (uint16_t)(lo + rnd32(s) % (hi - lo + 2 - SYN_NPORTS));
		int i;

		for (i = 0; i < SYN_NPORTS; i++) {
			struct sockaddr_in sa = { .sin_family = AF_INET,
						  .sin_port = htons((uint16_t)(base + i)) };

			s->hold[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (s->hold[i] < 0)
				break;
			if (bind(s->hold[i], (struct sockaddr *)&sa, sizeof(sa))) {
				close(s->hold[i]);
				break;
			}
		}
		if (i == SYN_NPORTS) {
			s->base = base;
			return 0;
		}
		while (i-- > 0)
			close(s->hold[i]);
		for (i = 0; i < SYN_NPORTS; i++)
			s->hold[i] = -1;
	}
	return -EADDRINUSE;
}

/*
 * Classic BPF on the raw sockets, so the kernel queues only what is ours:
 * a raw socket is offered every TCP (or ICMP) packet the host receives.
 * The packet starts at the IPv4 header; fragments after the first are not
 * ours (a SYN-ACK is never fragmented).
 */
static int filter_replies(int fd, uint16_t base)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),			/* frag offset */
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 8, 0),
		BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),			/* X = IP header length */
		BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),			/* TCP destination port */
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, base, 0, 5),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, base + SYN_NPORTS, 4, 0),
		BPF_STMT(BPF_LD | BPF_B | BPF_IND, 13),			/* flags */
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, TH_SYN | TH_RST | TH_ACK),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TH_SYN | TH_ACK, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TH_RST | TH_ACK, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, 0),
		BPF_STMT(BPF_RET | BPF_K, SYN_SNAP),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) ? -errno : 0;
}

/* ICMP destination unreachable or time exceeded quoting a TCP segment from
 * one of our ports. */
static int filter_icmp(int fd, uint16_t base)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 14, 0),
		BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
		BPF_STMT(BPF_LD | BPF_B | BPF_IND, 0),			/* ICMP type */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 3, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 11, 0, 10),
		BPF_STMT(BPF_LD | BPF_B | BPF_IND, 8 + 9),		/* quoted protocol */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, 8),
		BPF_STMT(BPF_LD | BPF_B | BPF_IND, 8),			/* quoted IHL */
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xf),
		BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 2),
		BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
		BPF_STMT(BPF_MISC | BPF_TAX, 0),			/* X = both headers */
		BPF_STMT(BPF_LD | BPF_H | BPF_IND, 8),			/* quoted source port */
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, base, 0, 1),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, base + SYN_NPORTS, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0),
		BPF_STMT(BPF_RET | BPF_K, SYN_SNAP),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) ? -errno : 0;
}

static int raw_socket(int proto, uint16_t base, int (*filter)(int, uint16_t))
{
	int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
	int one = 1, sz = SYN_RCVBUF, err;

	if (fd < 0)
		return -errno;
	err = filter(fd, base);
	if (!err && proto == IPPROTO_TCP &&
	    setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one)))
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	/* Replies come in bursts (probes share wakeups, health.c): room
	 * for them beyond rmem_max when we may (CAP_NET_ADMIN). */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	return fd;
}

void hc_syn_free(struct hc_syn *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	if (s->icmp_fd >= 0)
		close(s->icmp_fd);
	if (s->udp_fd >= 0)
		close(s->udp_fd);
	for (int i = 0; i < SYN_NPORTS; i++)
		if (s->hold[i] >= 0)
			close(s->hold[i]);
	xlb_htab_fini(&s->inflight);
	free(s);
}

int hc_syn_new(struct xlb_health_stats *stats, struct hc_syn **out)
{
	struct hc_syn *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	s->fd = s->icmp_fd = s->udp_fd = -1;
	for (int i = 0; i < SYN_NPORTS; i++)
		s->hold[i] = -1;
	xlb_htab_init(&s->inflight);
	s->stats = stats;
	hc_rng_seed(&s->rng);
	err = hold_ports(s);
	if (err)
		goto fail;
	s->fd = raw_socket(IPPROTO_TCP, s->base, filter_replies);
	if (s->fd < 0) {
		err = s->fd;
		goto fail;
	}
	/* Without it, an unreachable backend fails at the timeout rather than
	 * at once: worth a warning, not a fallback. */
	s->icmp_fd = raw_socket(IPPROTO_ICMP, s->base, filter_icmp);
	if (s->icmp_fd < 0)
		pr_warn("health: ICMP errors about TCP probes not seen: %s", strerror(-s->icmp_fd));
	s->udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s->udp_fd < 0) {
		err = -errno;
		goto fail;
	}
	*out = s;
	return 0;
fail:
	hc_syn_free(s);
	return err;
}

void hc_syn_fds(const struct hc_syn *s, int *tcp_fd, int *icmp_fd)
{
	*tcp_fd = s->fd;
	*icmp_fd = s->icmp_fd;
}

uint16_t hc_syn_base_port(const struct hc_syn *s)
{
	return s->base;
}

/* ---- probes */

static uint32_t sum16(const void *p, size_t n, uint32_t sum)
{
	const uint8_t *b = p;

	for (; n > 1; n -= 2, b += 2)
		sum += (uint32_t)b[0] << 8 | b[1];
	if (n)
		sum += (uint32_t)b[0] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* The source address the kernel's route for daddr uses, which the TCP
 * checksum covers; cached per target, looked up again after SRC_TTL_US and
 * while the target fails (routes change). 0 or a positive errno that is the
 * endpoint's (no route), as connect() would give it. */
static int route_src(struct hc_syn *s, struct hc_target *t, uint32_t daddr, int64_t now)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(9) };
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	socklen_t sl = sizeof(sa);

	if (t->src4_us && now - t->src4_us < SRC_TTL_US && (t->st.last_ok || !t->st.run))
		return 0;
	/* Disconnected first: a connected UDP socket keeps the source
	 * address of its first connect(). */
	connect(s->udp_fd, (const struct sockaddr *)&unspec, sizeof(unspec));
	sa.sin_addr.s_addr = daddr;
	if (connect(s->udp_fd, (struct sockaddr *)&sa, sizeof(sa)))
		return errno;
	if (getsockname(s->udp_fd, (struct sockaddr *)&sa, &sl))
		return errno;
	t->src4 = sa.sin_addr.s_addr;
	t->src4_us = now;
	return 0;
}

static int send_syn(struct hc_syn *s, struct hc_target *t)
{
	uint8_t pkt[44];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = t->pr.syn.daddr };
	uint8_t *ip = pkt, *th = pkt + 20;
	uint32_t sum;

	memset(pkt, 0, sizeof(pkt));
	ip[0] = 0x45;
	ip[3] = sizeof(pkt);		/* the kernel fills length, id and checksum too */
	ip[6] = 0x40;			/* DF, as the kernel's own SYNs */
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	memcpy(ip + 12, &t->src4, 4);
	memcpy(ip + 16, &t->pr.syn.daddr, 4);

	memcpy(th, &t->pr.syn.sport, 2);
	memcpy(th + 2, &t->pr.syn.dport, 2);
	th[4] = (uint8_t)(t->pr.isn >> 24);
	th[5] = (uint8_t)(t->pr.isn >> 16);
	th[6] = (uint8_t)(t->pr.isn >> 8);
	th[7] = (uint8_t)t->pr.isn;
	th[12] = 6 << 4;		/* 24 bytes: the MSS option */
	th[13] = TH_SYN;
	th[14] = 0xff;			/* window 65535 */
	th[15] = 0xff;
	th[20] = 2;			/* MSS 1460 */
	th[21] = 4;
	th[22] = 1460 >> 8;
	th[23] = 1460 & 0xff;

	sum = sum16(ip + 12, 8, IPPROTO_TCP + 24);	/* pseudo-header */
	sum = sum16(th, 24, sum);
	{
		uint16_t c = fold(sum);

		memcpy(th + 16, &c, 2);
	}
	if (sendto(s->fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	t->pr.syn_sent++;
	return 0;
}

/* Errors of a send that are the route's, hence the endpoint's: connect()
 * fails with the same ones (route_src() meets them first, unless the
 * route changed since). Anything else is ours. */
static bool endpoint_error(int err)
{
	switch (err) {
	case ENETUNREACH:
	case EHOSTUNREACH:
	case EACCES:		/* prohibit route */
	case EINVAL:		/* blackhole route */
		return true;
	}
	return false;
}

int hc_syn_start(struct hc_syn *s, struct hc_target *t)
{
	uint32_t port = xlb_hc_port(&t->key, hc_spec(t));
	int64_t now = xlb_clock_us();
	uint32_t first = rnd32(s);
	int err;

	memcpy(&t->pr.syn.daddr, t->key.addr, 4);
	t->pr.syn.dport = htons((uint16_t)port);
	err = route_src(s, t, t->pr.syn.daddr, now);
	if (err)
		return err;
	/* A free source port for this backend address and port. */
	for (int i = 0; i < SYN_NPORTS; i++) {
		t->pr.syn.sport = htons((uint16_t)(s->base + (first + i) % SYN_NPORTS));
		if (!xlb_htab_get(&s->inflight, &t->pr.syn, sizeof(t->pr.syn)))
			goto found;
	}
	t->pr.syn.sport = 0;
	return -EBUSY;	/* SYN_NPORTS probes to it in flight: connect() this one */
found:
	t->pr.isn = rnd32(s);
	t->pr.syn_sent = 0;
	err = xlb_htab_put(&s->inflight, &t->pr.syn, sizeof(t->pr.syn), t);
	if (err) {
		t->pr.syn.sport = 0;
		return err;
	}
	err = send_syn(s, t);
	if (err == -EPERM)
		err = 0;	/* a firewall's output chain dropped it: lost, as TCP takes it */
	if (err) {
		hc_syn_forget(s, t);
		if (endpoint_error(-err)) {
			t->src4_us = 0;
			return -err;
		}
		return err;
	}
	t->pr.wake_us = t->pr.start_us + SYN_RTO_US;
	s->stats->half_open++;
	return 0;
}

void hc_syn_resend(struct hc_syn *s, struct hc_target *t)
{
	/* 1 s, 3 s, 7 s...: the kernel's doubling RTO from 1 s. */
	t->pr.wake_us = t->pr.start_us + ((int64_t)SYN_RTO_US << (t->pr.syn_sent + 1)) - SYN_RTO_US;
	send_syn(s, t);	/* failed: as a lost SYN, the next resend or the timeout */
}

void hc_syn_forget(struct hc_syn *s, struct hc_target *t)
{
	if (!t->pr.syn.sport)
		return;
	xlb_htab_del(&s->inflight, &t->pr.syn, sizeof(t->pr.syn));
	t->pr.syn.sport = 0;
}

/* ---- replies */

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An IPv4 header at p, n bytes available: its length, or 0 if malformed. */
static size_t ip_hlen(const uint8_t *p, size_t n, uint8_t proto)
{
	size_t hl;

	if (n < 20 || p[0] >> 4 != 4 || p[9] != proto)
		return 0;
	hl = (size_t)(p[0] & 0xf) * 4;
	return hl >= 20 && hl <= n ? hl : 0;
}

static struct hc_target *lookup(struct hc_syn *s, const uint8_t *daddr, uint16_t dport,
				uint16_t sport, uint32_t isn)
{
	struct hc_syn_key k;
	struct hc_target *t;

	memset(&k, 0, sizeof(k));
	memcpy(&k.daddr, daddr, 4);
	k.dport = htons(dport);
	k.sport = htons(sport);
	t = xlb_htab_get(&s->inflight, &k, sizeof(k));
	if (!t || t->pr.isn != isn) {
		s->stats->stray++;
		return NULL;
	}
	return t;
}

/* A SYN-ACK or RST from a backend (p: the IPv4 header). */
static void tcp_reply(struct xlb_health *h, struct hc_syn *s, const uint8_t *p, size_t n)
{
	size_t hl = ip_hlen(p, n, IPPROTO_TCP);
	const uint8_t *th = p + hl;
	struct hc_target *t;
	uint8_t flags;

	if (!hl || n < hl + 20 || !(th[13] & TH_ACK)) {
		s->stats->stray++;
		return;
	}
	t = lookup(s, p + 12, rd16(th), rd16(th + 2), rd32(th + 8) - 1);
	if (!t)
		return;
	flags = th[13];
	if (flags & TH_RST)
		hc_probe_done(h, t, false, "connect: %s", strerror(ECONNREFUSED));
	else if (flags & TH_SYN)
		hc_probe_done(h, t, true, "connected");
}

/* connect()'s errno for an ICMP error about its SYN (the kernel's
 * icmp_err_convert[] and tcp_v4_err()); 0: not an error for a SYN. */
static int icmp_errno(uint8_t type, uint8_t code)
{
	static const int unreach[16] = {
		ENETUNREACH, EHOSTUNREACH, ENOPROTOOPT, ECONNREFUSED, 0 /* frag needed */,
		EOPNOTSUPP, ENETUNREACH, EHOSTDOWN, ENONET, ENETUNREACH, EHOSTUNREACH,
		ENETUNREACH, EHOSTUNREACH, EHOSTUNREACH, EHOSTUNREACH, EHOSTUNREACH,
	};

	if (type == 11)
		return EHOSTUNREACH;
	if (type == 3 && code < 16)
		return unreach[code];
	return 0;
}

static void icmp_error(struct xlb_health *h, struct hc_syn *s, const uint8_t *p, size_t n)
{
	size_t hl = ip_hlen(p, n, IPPROTO_ICMP), ihl;
	const uint8_t *icmp = p + hl, *in, *th;
	struct hc_target *t;
	int err;

	if (!hl || n < hl + 8 + 20)
		goto stray;
	in = icmp + 8;
	ihl = ip_hlen(in, n - hl - 8, IPPROTO_TCP);
	/* RFC 792: the quoted header and 64 bits of its payload, which
	 * reach the sequence number. */
	if (!ihl || n < hl + 8 + ihl + 8)
		goto stray;
	th = in + ihl;
	err = icmp_errno(icmp[0], icmp[1]);
	if (!err)
		return;
	t = lookup(s, in + 16, rd16(th + 2), rd16(th), rd32(th + 4));
	if (t)
		hc_probe_done(h, t, false, "connect: %s", strerror(err));
	return;
stray:
	s->stats->stray++;
}

void hc_syn_input(struct xlb_health *h, struct hc_syn *s, bool icmp)
{
	uint8_t buf[SYN_BATCH][SYN_SNAP];
	struct mmsghdr msg[SYN_BATCH];
	struct iovec iov[SYN_BATCH];
	int fd = icmp ? s->icmp_fd : s->fd;

	for (;;) {
		int n;

		for (int i = 0; i < SYN_BATCH; i++) {
			iov[i] = (struct iovec){ .iov_base = buf[i], .iov_len = SYN_SNAP };
			msg[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
		}
		n = recvmmsg(fd, msg, SYN_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				pr_warn("health: read %s replies: %s", icmp ? "ICMP" : "TCP",
					strerror(errno));
			return;
		}
		for (int i = 0; i < n; i++) {
			if (icmp)
				icmp_error(h, s, buf[i], msg[i].msg_len);
			else
				tcp_reply(h, s, buf[i], msg[i].msg_len);
		}
		if (n < SYN_BATCH)
			return;
	}
}
