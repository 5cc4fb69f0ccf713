/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Inside the health engine: what the engine (health.c) and the checkers
 * (tcp.c, http.c, exec.c, one per kind, keepalived's check_*.c style)
 * share. Not for the daemon.
 */
#ifndef XLB_HEALTH_PRIV_H
#define XLB_HEALTH_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "health/health.h"
#include "health/spec.h"
#include "health/verdict.h"
#include "health/timerheap.h"
#include "util/clock.h"
#include "util/htab.h"

/* What an epoll event is for; packed into epoll_data.u64 with the target's
 * slot and the probe's sequence number (see hc_ev_data()). */
enum hc_ev {
	HC_EV_TIMER = 1,	/* the engine's timerfd */
	HC_EV_SOCK = 2,		/* a probe's socket */
	HC_EV_PIDFD = 3,	/* an exec probe's child */
	HC_EV_PIPE = 4,		/* an exec probe's stdout+stderr */
	HC_EV_REAP = 5,		/* a killed child still to be reaped */
	HC_EV_SYN = 6,		/* the half-open prober's raw sockets (seq: 1 for ICMP) */
};

/* A half-open TCP probe in the prober's table (syn.c): the backend's
 * address and port and our source port, network order. */
struct hc_syn_key {
	uint32_t daddr;
	uint16_t dport, sport;	/* sport 0: not in the table */
};

/* A service's spec, interned: every endpoint of a service shares one. */
struct hc_svc {
	struct hc_svc_key {
		char service[128];
		struct xlb_health_spec spec;	/* normalized (spec.h) */
	} k;
	const struct hc_ops *ops;
	uint32_t refs;
};

/* The one probe a target may have in flight. seq 0: none. */
struct hc_probe {
	uint32_t seq;		/* unique per probe: stale events are told apart */
	int64_t start_us;
	const char *phase;	/* where it is, for a timeout message: "connect" */
	int fd;			/* socket, or the exec output pipe; -1 */
	int pidfd;		/* exec: -1 when none */
	pid_t pid;		/* exec: 0 when none or reaped */
	char *buf;		/* http: request then response; exec: output kept */
	size_t len, cap, sent;
	int step;		/* checker's own state */
	int64_t wake_us;	/* the checker's wake() before the timeout; 0: none */
	struct hc_syn_key syn;	/* half-open TCP probe (syn.c) */
	uint32_t isn;		/* its initial sequence number */
	uint32_t syn_sent;	/* SYNs sent */
};

struct hc_target {
	struct xlb_hc_key key;		/* table key; first, and never moved */
	struct hc_svc *svc;
	uint64_t id;			/* unique over the engine's life */
	struct xlb_timer tm;		/* next probe, or the running probe's timeout */
	int64_t due_us;			/* when the last probe was due: keeps the phase */
	uint32_t slot;			/* index in xlb_health.slots */
	uint32_t mark;			/* set_targets epoch that kept it */
	struct xlb_hc_state st;
	struct hc_probe pr;
	char last_result[128];
	uint32_t last_latency_us;
	int64_t last_transition_ms;
	uint64_t probes, failures;
	uint32_t src4;			/* half-open probes: the route's source address */
	int64_t src4_us;		/* when it was looked up; 0: never */
};

/*
 * A checker. start() begins a probe (registering its fds with hc_fd_add())
 * and returns 0; it may also end it at once through hc_probe_done() or
 * hc_probe_skip(). event() handles readiness on one of its fds. cancel()
 * releases whatever the probe holds, running or finished, and must leave
 * nothing behind (children are handed to the reaper).
 */
struct hc_ops {
	const char *name;
	const char *timeout_note;	/* appended to "timeout after N ms" */
	void (*start)(struct xlb_health *h, struct hc_target *t);
	void (*event)(struct xlb_health *h, struct hc_target *t, enum hc_ev ev, uint32_t events);
	void (*cancel)(struct xlb_health *h, struct hc_target *t);
	/* Optional: t->pr.wake_us was reached before the timeout (a resend). */
	void (*wake)(struct xlb_health *h, struct hc_target *t);
};

extern const struct hc_ops xlb_hc_tcp_ops;
extern const struct hc_ops xlb_hc_http_ops;
extern const struct hc_ops xlb_hc_exec_ops;

/* For the checkers, from health.c. */
const struct xlb_health_spec *hc_spec(const struct hc_target *t);
int hc_fd_add(struct xlb_health *h, struct hc_target *t, int fd, enum hc_ev ev, uint32_t events);
int hc_fd_mod(struct xlb_health *h, struct hc_target *t, int fd, enum hc_ev ev, uint32_t events);
/* Deregister and close; *fd becomes -1. */
void hc_fd_close(struct xlb_health *h, int *fd);
/* End the running probe with a result (cancel() is called first). */
void hc_probe_done(struct xlb_health *h, struct hc_target *t, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* End it without a result: a local failure (no fds, no memory) says
 * nothing about the endpoint, so it neither counts nor moves the verdict. */
void hc_probe_skip(struct xlb_health *h, struct hc_target *t, int err, const char *what);
/* Hand a killed child to the reaper, which owns pidfd from now on. */
void hc_reap_later(struct xlb_health *h, pid_t pid, int pidfd);
/* A child was reaped (its sandbox's cgroup goes). */
void hc_reaped(struct xlb_health *h, pid_t pid);
/* Where exec probes run; NULL: exec probes are off. */
struct xlb_sandbox *hc_sandbox(struct xlb_health *h);
/* True for errors that are ours, not the endpoint's. */
bool hc_local_error(int err);

/* CLOCK_MONOTONIC in microseconds. */
/* xorshift64*: seeded from getrandom(), never 0. */
void hc_rng_seed(uint64_t *state);
uint64_t hc_rng_next(uint64_t *state);

/* The half-open prober, or NULL when TCP probes use connect(). */
struct hc_syn *hc_syn_of(struct xlb_health *h);
struct xlb_health_stats *hc_stats(struct xlb_health *h);

/* From syn.c: half-open TCP probes through raw sockets (IPv4). */
#define HC_SYN_NPORTS XLB_HEALTH_SYN_PORTS
struct hc_syn;
/* 0, or a negative errno: -EPERM without CAP_NET_RAW. */
int hc_syn_new(struct xlb_health_stats *stats, struct hc_syn **out);
void hc_syn_free(struct hc_syn *s);
/* The fds to watch for replies (icmp_fd -1 when there is none). */
void hc_syn_fds(const struct hc_syn *s, int *tcp_fd, int *icmp_fd);
uint16_t hc_syn_base_port(const struct hc_syn *s);
/* Send the SYN. 0: in flight, t->pr.wake_us set for the resend; a positive
 * errno: the endpoint's (no route), end the probe with it; a negative
 * errno: ours, make this probe with connect(). */
int hc_syn_start(struct hc_syn *s, struct hc_target *t);
void hc_syn_resend(struct hc_syn *s, struct hc_target *t);
/* Out of the table (every end of a half-open probe); idempotent. */
void hc_syn_forget(struct hc_syn *s, struct hc_target *t);
/* Drain one of the raw sockets and end the probes their replies are for. */
void hc_syn_input(struct xlb_health *h, struct hc_syn *s, bool icmp);

/* From sock.c: a non-blocking, close-on-exec socket connecting to the
 * target, in t->pr.fd and registered for events (EPOLLOUT and maybe
 * EPOLLONESHOT). When that fails the probe ends here: skipped for an error
 * of ours, failed ("connect: ...") for the endpoint's. */
void hc_sock_start(struct xlb_health *h, struct hc_target *t, uint32_t events);
/*
 * True when a connection reached itself: to a local address whose port
 * nothing listens on, connect() can pick that very port as its source and
 * "succeed" (TCP simultaneous open). Only ports in the ephemeral range
 * can, so only they cost a getsockname().
 */
bool hc_sock_self(struct hc_target *t, int fd);
/* The socket's pending error (SO_ERROR), as a negative errno, or 0. */
int hc_sock_error(int fd);
/* The kernel's ephemeral port range (read once; its default if unreadable). */
void hc_port_range(uint32_t *lo, uint32_t *hi);
/* "10.0.0.1:80" / "[fd00::1]:80" */
const char *hc_endpoint_str(const struct hc_target *t, uint32_t port, char *buf, size_t len);

#endif /* XLB_HEALTH_PRIV_H */
