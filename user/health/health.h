/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Health checking with Kubernetes readiness-probe semantics, as a library
 * the daemon embeds: one epoll fd the daemon adds to its own loop, one
 * timerfd over a min-heap of deadlines, non-blocking sockets, and exec
 * probes watched through pidfds. No threads, nothing blocks.
 *
 * Verdicts: a target starts UNKNOWN. successThreshold consecutive successes
 * make it HEALTHY, failureThreshold consecutive failures UNHEALTHY, from any
 * state (kubelet's worker.go does the same). The engine only reports
 * UNKNOWN; the daemon decides what it means. xlbd treats UNKNOWN as "use
 * it", so a new service is not black-holed while its first probes run.
 *
 * Requirements on the embedding process: it must not set SIGCHLD to SIG_IGN
 * nor reap children it did not start (waitpid(-1, ...)), or exec probes lose
 * their exit status; it should raise RLIMIT_NOFILE to at least the number of
 * probes that can be in flight at once (targets x timeout / period).
 * Not thread-safe: call everything from the daemon's loop thread.
 */
#ifndef XLB_HEALTH_H
#define XLB_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "model/state.h"

struct xlb_health;

/* One endpoint of one service. (service, addr, port) is the identity. */
struct xlb_health_target {
	char service[128];
	struct xlb_ip addr;
	uint32_t port;
	struct xlb_health_spec spec;	/* kind XLB_HC_NONE: not probed */
};

enum xlb_health_verdict {
	XLB_HV_UNKNOWN = 0,
	XLB_HV_HEALTHY = 1,
	XLB_HV_UNHEALTHY = 2,
};

struct xlb_health_report {
	enum xlb_health_verdict verdict;
	char last_result[128];		/* "connected", "HTTP 500", "exit 1: ..." */
	uint32_t last_latency_us;	/* of the last completed probe */
	int64_t last_transition_ms;	/* CLOCK_REALTIME ms; 0 = never */
	uint64_t probes, failures;	/* completed probes, failed ones */
};

/*
 * Called from xlb_health_dispatch() on transitions only, after the
 * dispatch's I/O is done. t->spec has the defaults filled in. The callback
 * may call xlb_health_set_targets() and xlb_health_get(), not
 * xlb_health_dispatch() (-EBUSY) nor xlb_health_free(). Targets removed by
 * xlb_health_set_targets() get no callback.
 */
typedef void (*xlb_health_change_fn)(void *arg, const struct xlb_health_target *t,
				     enum xlb_health_verdict old, enum xlb_health_verdict now,
				     const char *why);

/*
 * How TCP probes are made. AUTO (the default): half-open, a SYN through a
 * raw socket and a reset after the SYN-ACK (user/health/syn.c), when raw
 * sockets can be had (CAP_NET_RAW), else connect(). HALF_OPEN: the same,
 * but an error when they cannot. CONNECT: connect() and a reset, what
 * kubelet does. The verdicts are the same; the cost is not. IPv6 targets
 * always use connect().
 */
enum xlb_health_tcp_mode {
	XLB_HC_TCP_AUTO = 0,
	XLB_HC_TCP_HALF_OPEN = 1,
	XLB_HC_TCP_CONNECT = 2,
};

struct xlb_health_stats {
	uint64_t half_open;	/* TCP probes made half-open */
	uint64_t connect;	/* TCP probes made with connect() */
	uint64_t stray;		/* raw replies that matched no probe in flight */
	uint32_t half_open_port;	/* the first of its source ports; 0: connect() */
};
#define XLB_HEALTH_SYN_PORTS 8	/* consecutive source ports of half-open probes */

int xlb_health_new(xlb_health_change_fn fn, void *arg, struct xlb_health **out);
/* An epoll fd: readable when xlb_health_dispatch() has work. */
int xlb_health_fd(struct xlb_health *h);
/* Run whatever is due without blocking. 0, -EBUSY (re-entered from the
 * callback), or a negative errno from epoll. */
int xlb_health_dispatch(struct xlb_health *h);
/*
 * Replace the whole target set. Targets kept (same service, addr, port and
 * spec, compared after defaults are applied) keep their state and schedule;
 * new ones start UNKNOWN and are first probed after initial delay plus a
 * random jitter in [0, period); removed ones are cancelled (sockets closed,
 * exec children's process groups killed and reaped). A change of spec is a
 * new target. 0, or -EINVAL (a bad target or a duplicate, logged) or
 * -ENOMEM, in which case nothing changed.
 */
int xlb_health_set_targets(struct xlb_health *h, const struct xlb_health_target *t, size_t n);
/* 0 (a target awaiting its first probe reports UNKNOWN, 0 probes), or
 * -ENOENT when no such target is probed. */
int xlb_health_get(struct xlb_health *h, const char *service, const struct xlb_ip *addr,
		   uint32_t port, struct xlb_health_report *out);
/*
 * Where exec probes run (sandbox.h); the caller keeps it and frees it after
 * xlb_health_free(). Without one, exec probes are off: their targets are
 * never probed (a warning says so) and stay UNKNOWN.
 */
struct xlb_sandbox;
void xlb_health_set_sandbox(struct xlb_health *h, struct xlb_sandbox *sb);
/* Switch how TCP probes are made; probes in flight finish as they began.
 * 0, or a negative errno when HALF_OPEN cannot be had (-EPERM: no
 * CAP_NET_RAW), in which case nothing changed. */
int xlb_health_set_tcp_mode(struct xlb_health *h, enum xlb_health_tcp_mode mode);
/* Whether TCP probes are half-open now. */
bool xlb_health_half_open(const struct xlb_health *h);
void xlb_health_get_stats(const struct xlb_health *h, struct xlb_health_stats *out);
/* Closes everything, kills running exec probes and reaps them (waiting at
 * most 1 s in all for children stuck in the kernel). */
void xlb_health_free(struct xlb_health *h);

const char *xlb_health_verdict_name(enum xlb_health_verdict v);

#endif /* XLB_HEALTH_H */
