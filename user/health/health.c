// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The health engine: targets, their schedule and their verdicts. One epoll
 * fd holds the timerfd and every probe's fds; one min-heap holds every
 * target's next deadline (its next probe, or its running probe's timeout),
 * and the timerfd is armed at the earliest. The checkers (tcp.c, http.c,
 * exec.c) do the I/O.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "health/health_priv.h"
#include "health/sandbox.h"

#define MAX_TARGETS	(1u << 22)	/* slots are 24 bits in an event's data */
#define EVENTS_PER_WAIT	256
#define WAIT_ROUNDS	8		/* then return to the daemon's loop */
#define REAP_WAIT_MS	1000		/* xlb_health_free(): for children stuck in D state */
#define SKIP_LOG_US	10000000	/* one "probe skipped" warning per 10 s */
#define TIMERS_PER_DISPATCH 1024

/* A transition, held until the dispatch's I/O is done (so the callback can
 * change the target set without pulling targets from under the engine). */
struct hc_note {
	struct xlb_hc_key key;
	uint64_t id;		/* the target it was for; a replaced one differs */
	enum xlb_health_verdict old, now;
	char why[448];
};

struct hc_reap {
	pid_t pid;
	int pidfd;
};

struct xlb_health {
	int epfd;
	int tfd;
	xlb_health_change_fn fn;
	void *arg;

	struct xlb_htab targets;	/* xlb_hc_key -> hc_target */
	struct xlb_htab svcs;		/* hc_svc_key -> hc_svc */
	struct hc_svc *last_svc;	/* interning fast path: endpoints come by service */
	struct hc_target **slots;	/* by slot, NULL when free */
	uint32_t nslots, slots_cap;
	uint32_t *free_slots;
	uint32_t nfree;

	struct xlb_timerheap heap;
	int64_t armed_us;		/* the timerfd's expiry, 0 when disarmed */
	uint32_t seq;			/* last probe sequence number handed out */
	uint32_t epoch;			/* set_targets() generation */
	uint64_t next_id;
	uint64_t rng;

	struct hc_note *notes;
	size_t nnotes, notes_cap;
	struct hc_reap *reap;
	size_t nreap, reap_cap;

	bool in_dispatch;
	int64_t skip_logged_us;
	uint64_t skipped;

	struct hc_syn *syn;		/* half-open TCP probes; NULL: connect() */
	struct xlb_health_stats stats;
	struct xlb_sandbox *sandbox;	/* exec probes; NULL: they are off */
};

/* xorshift64* (Vigna 2016): jitter and sequence numbers an off-path host
 * cannot see, no need for more. */
uint64_t hc_rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

void hc_rng_seed(uint64_t *s)
{
	if (getrandom(s, sizeof(*s), GRND_NONBLOCK) != sizeof(*s))
		*s = (uint64_t)xlb_clock_us() ^ ((uint64_t)getpid() << 32);
	*s |= 1;	/* xorshift must not start at 0 */
}

/* epoll_data: slot (24 bits) | event kind (8) | probe seq (32). */
static uint64_t ev_data(uint32_t slot, enum hc_ev ev, uint32_t seq)
{
	return (uint64_t)slot << 40 | (uint64_t)ev << 32 | seq;
}

const struct xlb_health_spec *hc_spec(const struct hc_target *t)
{
	return &t->svc->k.spec;
}

struct hc_syn *hc_syn_of(struct xlb_health *h)
{
	return h->syn;
}

struct xlb_health_stats *hc_stats(struct xlb_health *h)
{
	return &h->stats;
}

static int epoll_op(struct xlb_health *h, int op, int fd, uint64_t data, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.u64 = data };

	return epoll_ctl(h->epfd, op, fd, &e) ? -errno : 0;
}

int hc_fd_add(struct xlb_health *h, struct hc_target *t, int fd, enum hc_ev ev, uint32_t events)
{
	return epoll_op(h, EPOLL_CTL_ADD, fd, ev_data(t->slot, ev, t->pr.seq), events);
}

int hc_fd_mod(struct xlb_health *h, struct hc_target *t, int fd, enum hc_ev ev, uint32_t events)
{
	return epoll_op(h, EPOLL_CTL_MOD, fd, ev_data(t->slot, ev, t->pr.seq), events);
}

void hc_fd_close(struct xlb_health *h, int *fd)
{
	if (*fd < 0)
		return;
	/* Explicitly: a copy of the fd in a child forked elsewhere in the
	 * daemon would keep the registration, and its events, alive. */
	epoll_ctl(h->epfd, EPOLL_CTL_DEL, *fd, NULL);
	close(*fd);
	*fd = -1;
}

bool hc_local_error(int err)
{
	switch (err) {
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
	case ENOSPC:		/* epoll max_user_watches */
	case EAGAIN:		/* RLIMIT_NPROC, or no ephemeral port */
	case EADDRNOTAVAIL:	/* no ephemeral port */
		return true;
	}
	return false;
}

const char *hc_endpoint_str(const struct hc_target *t, uint32_t port, char *buf, size_t len)
{
	struct xlb_ip ip = { .family = t->key.family };

	memcpy(ip.addr.a8, t->key.addr, sizeof(ip.addr.a8));
	return xlb_ip_port_str(&ip, port, buf, len);
}

static void schedule_next(struct xlb_health *h, struct hc_target *t)
{
	int64_t start = xlb_hc_next(&t->due_us, (int64_t)hc_spec(t)->period_ms * 1000, xlb_clock_us());

	xlb_timerheap_set(&h->heap, &t->tm, start);	/* queued: cannot fail */
}

static void probe_release(struct xlb_health *h, struct hc_target *t)
{
	t->svc->ops->cancel(h, t);
	t->pr.seq = 0;
	t->pr.phase = NULL;
	t->pr.wake_us = 0;
}

static void note_add(struct xlb_health *h, struct hc_target *t, enum xlb_health_verdict old,
		     const char *why)
{
	struct hc_note *n;

	if (h->nnotes == h->notes_cap) {
		size_t cap = h->notes_cap ? h->notes_cap * 2 : 16;
		struct hc_note *v = realloc(h->notes, cap * sizeof(*v));

		if (!v) {
			pr_err("health: %s: transition to %s not reported: out of memory",
			       t->key.service, xlb_health_verdict_name(t->st.verdict));
			return;
		}
		h->notes = v;
		h->notes_cap = cap;
	}
	n = &h->notes[h->nnotes++];
	n->key = t->key;
	n->id = t->id;
	n->old = old;
	n->now = t->st.verdict;
	snprintf(n->why, sizeof(n->why), "%s", why);
}

void hc_probe_done(struct xlb_health *h, struct hc_target *t, bool ok, const char *fmt, ...)
{
	const struct xlb_health_spec *spec = hc_spec(t);
	enum xlb_health_verdict old = t->st.verdict;
	int64_t lat = xlb_clock_us() - t->pr.start_us;
	char result[384], why[448], ep[XLB_IP_STRLEN + 8];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(result, sizeof(result), fmt, ap);
	va_end(ap);

	probe_release(h, t);
	t->probes++;
	if (!ok)
		t->failures++;
	t->last_latency_us = lat < 0 ? 0 : lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
	/* Truncated: the full text goes to the log and the callback. */
	n = strnlen(result, sizeof(t->last_result) - 1);
	memcpy(t->last_result, result, n);
	t->last_result[n] = 0;

	if (xlb_hc_state_feed(&t->st, ok, spec->success_threshold, spec->failure_threshold)) {
		t->last_transition_ms = xlb_unix_ms();
		xlb_hc_reason(why, sizeof(why), &t->st, result);
		pr_info("health: %s %s: %s -> %s (%s)", t->key.service,
			hc_endpoint_str(t, xlb_hc_port(&t->key, spec), ep, sizeof(ep)),
			xlb_health_verdict_name(old), xlb_health_verdict_name(t->st.verdict), why);
		note_add(h, t, old, why);
	}
	schedule_next(h, t);
}

void hc_probe_skip(struct xlb_health *h, struct hc_target *t, int err, const char *what)
{
	int64_t now = xlb_clock_us();
	char ep[XLB_IP_STRLEN + 8];

	probe_release(h, t);
	h->skipped++;
	if (!h->skip_logged_us || now - h->skip_logged_us >= SKIP_LOG_US) {
		pr_warn("health: %s %s: probe skipped, %s: %s (%d); %llu skipped so far",
			t->key.service, hc_endpoint_str(t, xlb_hc_port(&t->key, hc_spec(t)), ep, sizeof(ep)),
			what, strerror(-err), err, (unsigned long long)h->skipped);
		h->skip_logged_us = now;
	}
	schedule_next(h, t);
}

static int64_t probe_timeout_at(const struct hc_target *t)
{
	return t->pr.start_us + (int64_t)hc_spec(t)->timeout_ms * 1000;
}

/* A running probe's next deadline: its timeout, or the checker's wake-up
 * if that comes first. */
static void arm_probe(struct xlb_health *h, struct hc_target *t)
{
	int64_t deadline = probe_timeout_at(t);

	if (t->pr.wake_us && t->pr.wake_us < deadline)
		deadline = t->pr.wake_us;
	xlb_timerheap_set(&h->heap, &t->tm, deadline);
}

static void probe_start(struct xlb_health *h, struct hc_target *t)
{
	uint32_t seq;

	if (!++h->seq)
		h->seq = 1;	/* 0 means "no probe" */
	seq = h->seq;
	t->pr.seq = seq;
	t->pr.start_us = xlb_clock_us();
	t->pr.phase = t->svc->ops->name;
	t->svc->ops->start(h, t);
	if (t->pr.seq == seq)
		arm_probe(h, t);
}

static void probe_timeout(struct xlb_health *h, struct hc_target *t)
{
	const struct hc_ops *ops = t->svc->ops;

	hc_probe_done(h, t, false, "%s: timeout after %u ms%s", t->pr.phase ? t->pr.phase : ops->name,
		      hc_spec(t)->timeout_ms, ops->timeout_note ? ops->timeout_note : "");
}

/* ---- the reaper: killed children whose exit has not been collected yet */

static bool try_reap(struct xlb_health *h, pid_t pid)
{
	pid_t r;

	do
		r = waitpid(pid, NULL, WNOHANG);
	while (r < 0 && errno == EINTR);
	/* ECHILD: someone else reaped it (SIGCHLD ignored): nothing left. */
	if (r != pid && !(r < 0 && errno == ECHILD))
		return false;
	hc_reaped(h, pid);
	return true;
}

void hc_reaped(struct xlb_health *h, pid_t pid)
{
	if (h->sandbox)
		xlb_sandbox_reaped(h->sandbox, pid);
}

struct xlb_sandbox *hc_sandbox(struct xlb_health *h)
{
	return h->sandbox;
}

void xlb_health_set_sandbox(struct xlb_health *h, struct xlb_sandbox *sb)
{
	h->sandbox = sb;
}

void hc_reap_later(struct xlb_health *h, pid_t pid, int pidfd)
{
	struct hc_reap *v;

	/* It may be registered as a probe's HC_EV_PIDFD. */
	epoll_ctl(h->epfd, EPOLL_CTL_DEL, pidfd, NULL);
	if (try_reap(h, pid)) {
		close(pidfd);
		return;
	}
	if (h->nreap == h->reap_cap) {
		size_t cap = h->reap_cap ? h->reap_cap * 2 : 8;

		v = realloc(h->reap, cap * sizeof(*v));
		if (!v) {
			/* It was sent SIGKILL: a short wait, rather than a zombie. */
			pr_warn("health: reaper out of memory; waiting for pid %d", (int)pid);
			waitpid(pid, NULL, 0);
			hc_reaped(h, pid);
			close(pidfd);
			return;
		}
		h->reap = v;
		h->reap_cap = cap;
	}
	if (epoll_op(h, EPOLL_CTL_ADD, pidfd, ev_data(0, HC_EV_REAP, (uint32_t)pidfd), EPOLLIN)) {
		pr_warn("health: cannot watch pid %d; waiting for it", (int)pid);
		waitpid(pid, NULL, 0);
		hc_reaped(h, pid);
		close(pidfd);
		return;
	}
	h->reap[h->nreap++] = (struct hc_reap){ .pid = pid, .pidfd = pidfd };
}

static void reap_event(struct xlb_health *h, int pidfd)
{
	for (size_t i = 0; i < h->nreap; i++) {
		if (h->reap[i].pidfd != pidfd)
			continue;
		if (!try_reap(h, h->reap[i].pid))
			return;
		hc_fd_close(h, &h->reap[i].pidfd);
		h->reap[i] = h->reap[--h->nreap];
		return;
	}
}

/* ---- targets and their interned specs */

static const struct hc_ops *ops_of(enum xlb_hc_kind kind)
{
	switch (kind) {
	case XLB_HC_TCP:
		return &xlb_hc_tcp_ops;
	case XLB_HC_HTTP:
		return &xlb_hc_http_ops;
	case XLB_HC_EXEC:
		return &xlb_hc_exec_ops;
	default:
		return NULL;
	}
}

static struct hc_svc *svc_get(struct xlb_health *h, const struct hc_svc_key *k)
{
	struct hc_svc *s = h->last_svc;

	if (!s || memcmp(&s->k, k, sizeof(*k)))
		s = xlb_htab_get(&h->svcs, k, sizeof(*k));
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return NULL;
		s->k = *k;
		s->ops = ops_of(k->spec.kind);
		if (xlb_htab_put(&h->svcs, &s->k, sizeof(s->k), s)) {
			free(s);
			return NULL;
		}
	}
	s->refs++;
	h->last_svc = s;
	return s;
}

static void svc_put(struct xlb_health *h, struct hc_svc *s)
{
	if (--s->refs)
		return;
	xlb_htab_del(&h->svcs, &s->k, sizeof(s->k));
	if (h->last_svc == s)
		h->last_svc = NULL;
	free(s);
}

static int slot_get(struct xlb_health *h, struct hc_target *t)
{
	if (h->nfree) {
		t->slot = h->free_slots[--h->nfree];
	} else {
		if (h->nslots >= MAX_TARGETS)
			return -E2BIG;
		if (h->nslots == h->slots_cap) {
			uint32_t cap = h->slots_cap ? h->slots_cap * 2 : 64;
			struct hc_target **v = realloc(h->slots, cap * sizeof(*v));
			uint32_t *f;

			if (!v)
				return -ENOMEM;
			h->slots = v;
			f = realloc(h->free_slots, cap * sizeof(*f));
			if (!f)
				return -ENOMEM;
			h->free_slots = f;
			h->slots_cap = cap;
		}
		t->slot = h->nslots++;
	}
	h->slots[t->slot] = t;
	return 0;
}

static void slot_put(struct xlb_health *h, struct hc_target *t)
{
	h->slots[t->slot] = NULL;
	h->free_slots[h->nfree++] = t->slot;
}

static struct hc_target *target_new(struct xlb_health *h, const struct xlb_hc_key *key,
				    const struct hc_svc_key *sk, int *err)
{
	struct hc_target *t = calloc(1, sizeof(*t));

	*err = -ENOMEM;
	if (!t)
		return NULL;
	t->key = *key;
	t->id = ++h->next_id;
	xlb_timer_init(&t->tm);
	xlb_hc_state_init(&t->st);
	t->pr.fd = -1;
	t->pr.pidfd = -1;
	t->svc = svc_get(h, sk);
	if (!t->svc) {
		free(t);
		return NULL;
	}
	*err = slot_get(h, t);
	if (*err) {
		svc_put(h, t->svc);
		free(t);
		return NULL;
	}
	return t;
}

static void target_free(struct xlb_health *h, struct hc_target *t)
{
	if (t->pr.seq)
		probe_release(h, t);
	xlb_timerheap_del(&h->heap, &t->tm);
	slot_put(h, t);
	svc_put(h, t->svc);
	free(t);
}

static void arm(struct xlb_health *h)
{
	struct xlb_timer *tm = xlb_timerheap_top(&h->heap);
	int64_t want = tm ? tm->when : 0;
	struct itimerspec its = { 0 };

	if (want == h->armed_us)
		return;
	if (want) {
		its.it_value.tv_sec = want / 1000000;
		its.it_value.tv_nsec = (want % 1000000) * 1000;
	}
	if (timerfd_settime(h->tfd, TFD_TIMER_ABSTIME, &its, NULL)) {
		pr_err("health: arm timerfd: %s", strerror(errno));
		return;
	}
	h->armed_us = want;
}

int xlb_health_set_targets(struct xlb_health *h, const struct xlb_health_target *in, size_t n)
{
	struct hc_target **fresh = NULL, *t;
	struct hc_svc_key *sk = NULL;
	struct xlb_htab nt;
	struct xlb_hc_key key;
	size_t nfresh = 0, pos;
	uint32_t epoch = ++h->epoch;
	char err_msg[256];
	int err = 0, r;

	xlb_htab_init(&nt);
	if (n > MAX_TARGETS)
		return -E2BIG;
	sk = calloc(1, sizeof(*sk));	/* ~5 KiB: not on the stack */
	fresh = calloc(n ? n : 1, sizeof(*fresh));
	if (!sk || !fresh) {
		err = -ENOMEM;
		goto out;
	}

	/* Build the new set beside the old one; nothing is touched until
	 * every target is accepted and every allocation made. */
	for (size_t i = 0; i < n; i++) {
		r = xlb_hc_normalize(&in[i], &key, &sk->spec, err_msg, sizeof(err_msg));
		if (r < 0) {
			pr_warn("health: target %zu (%.128s): %s", i, in[i].service, err_msg);
			err = r;
			goto out;
		}
		if (r > 0)
			continue;	/* not probed */
		memcpy(sk->service, key.service, sizeof(sk->service));
		if (xlb_htab_get(&nt, &key, sizeof(key))) {
			pr_warn("health: target %zu (%s port %u): duplicate", i, key.service, key.port);
			err = -EINVAL;
			goto out;
		}
		t = xlb_htab_get(&h->targets, &key, sizeof(key));
		if (t && !memcmp(&t->svc->k, sk, sizeof(*sk))) {
			t->mark = epoch;
		} else {
			t = target_new(h, &key, sk, &err);
			if (!t)
				goto out;
			fresh[nfresh++] = t;
		}
		err = xlb_htab_put(&nt, &t->key, sizeof(t->key), t);
		if (err)
			goto out;
	}
	err = xlb_timerheap_reserve(&h->heap, h->heap.n + (uint32_t)nfresh);
	if (err)
		goto out;

	/* Commit: cancel what is gone, then schedule what is new. */
	pos = 0;
	while ((t = xlb_htab_next(&h->targets, &pos)))
		if (t->mark != epoch)
			target_free(h, t);
	xlb_htab_fini(&h->targets);
	h->targets = nt;
	xlb_htab_init(&nt);

	for (size_t i = 0; i < nfresh; i++) {
		const struct xlb_health_spec *spec = hc_spec(fresh[i]);
		int64_t period = (int64_t)spec->period_ms * 1000;

		t = fresh[i];
		/* kubelet (prober/worker.go) also starts each worker after a
		 * random part of its period, so a restart does not fire every
		 * probe at once. */
		t->due_us = xlb_clock_us() + (int64_t)spec->initial_delay_ms * 1000 +
			    (int64_t)(hc_rng_next(&h->rng) % (uint64_t)period);
		xlb_timerheap_set(&h->heap, &t->tm, xlb_hc_start_time(t->due_us, period));	/* reserved */
	}
	nfresh = 0;
	arm(h);
out:
	for (size_t i = 0; i < nfresh; i++)
		target_free(h, fresh[i]);
	xlb_htab_fini(&nt);
	free(fresh);
	free(sk);
	return err;
}

int xlb_health_get(struct xlb_health *h, const char *service, const struct xlb_ip *addr,
		   uint32_t port, struct xlb_health_report *out)
{
	struct xlb_hc_key key;
	struct hc_target *t;

	if (xlb_hc_key_make(service, addr, port, &key))
		return -ENOENT;
	t = xlb_htab_get(&h->targets, &key, sizeof(key));
	if (!t)
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	out->verdict = t->st.verdict;
	memcpy(out->last_result, t->last_result, sizeof(out->last_result));
	out->last_latency_us = t->last_latency_us;
	out->last_transition_ms = t->last_transition_ms;
	out->probes = t->probes;
	out->failures = t->failures;
	return 0;
}

/* ---- the loop */

static void handle_event(struct xlb_health *h, const struct epoll_event *e)
{
	enum hc_ev ev = (enum hc_ev)((e->data.u64 >> 32) & 0xff);
	uint32_t slot = (uint32_t)(e->data.u64 >> 40);
	uint32_t seq = (uint32_t)e->data.u64;
	struct hc_target *t;
	uint64_t ticks;

	switch (ev) {
	case HC_EV_TIMER:
		if (read(h->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
			pr_warn("health: read timerfd: %s", strerror(errno));
		/* Expired: the heap decides what is due; re-arm whatever. */
		h->armed_us = 0;
		return;
	case HC_EV_REAP:
		reap_event(h, (int)seq);
		return;
	case HC_EV_SYN:
		if (h->syn)
			hc_syn_input(h, h->syn, seq == 1);
		return;
	default:
		break;
	}
	/* Events of a probe that already ended, or of a removed target,
	 * may still be in this batch: the sequence number tells. */
	if (slot >= h->nslots)
		return;
	t = h->slots[slot];
	if (!t || !t->pr.seq || t->pr.seq != seq)
		return;
	t->svc->ops->event(h, t, ev, e->events);
}

/* At most TIMERS_PER_DISPATCH deadlines per call: after a stall of the
 * daemon's loop every target may be due at once, and the daemon has other
 * work. The rest stay due; the timerfd, armed in the past, brings the
 * daemon straight back. */
static void run_timers(struct xlb_health *h)
{
	int64_t now = xlb_clock_us();
	struct xlb_timer *tm;
	int budget = TIMERS_PER_DISPATCH;

	while (budget-- > 0 && (tm = xlb_timerheap_top(&h->heap)) && tm->when <= now) {
		struct hc_target *t = (struct hc_target *)((char *)tm - offsetof(struct hc_target, tm));

		if (!t->pr.seq) {
			probe_start(h, t);
		} else if (t->pr.wake_us && t->pr.wake_us < probe_timeout_at(t)) {
			t->svc->ops->wake(h, t);
			if (t->pr.seq)
				arm_probe(h, t);
		} else {
			probe_timeout(h, t);
		}
	}
}

static void flush_notes(struct xlb_health *h)
{
	struct xlb_health_target *tgt = NULL;

	for (size_t i = 0; i < h->nnotes; i++) {
		struct hc_note *n = &h->notes[i];
		struct hc_target *t = xlb_htab_get(&h->targets, &n->key, sizeof(n->key));

		if (!t || t->id != n->id || !h->fn)
			continue;	/* removed or replaced by the callback */
		if (!tgt && !(tgt = malloc(sizeof(*tgt)))) {
			pr_err("health: transitions not reported: out of memory");
			break;
		}
		memset(tgt, 0, sizeof(*tgt));
		memcpy(tgt->service, t->key.service, sizeof(tgt->service));
		tgt->addr.family = t->key.family;
		memcpy(tgt->addr.addr.a8, t->key.addr, sizeof(t->key.addr));
		tgt->port = t->key.port;
		tgt->spec = t->svc->k.spec;
		h->fn(h->arg, tgt, n->old, n->now, n->why);
	}
	h->nnotes = 0;
	free(tgt);
}

int xlb_health_dispatch(struct xlb_health *h)
{
	struct epoll_event evs[EVENTS_PER_WAIT];
	int err = 0;

	if (h->in_dispatch)
		return -EBUSY;
	h->in_dispatch = true;
	for (int round = 0; round < WAIT_ROUNDS; round++) {
		int n = epoll_wait(h->epfd, evs, EVENTS_PER_WAIT, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			pr_err("health: epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++)
			handle_event(h, &evs[i]);
		run_timers(h);
		if (n < EVENTS_PER_WAIT)
			break;	/* else more may be ready: another round */
	}
	arm(h);
	flush_notes(h);
	h->in_dispatch = false;
	return err;
}

int xlb_health_fd(struct xlb_health *h)
{
	return h->epfd;
}

static void syn_close(struct xlb_health *h)
{
	int fd, icmp_fd;

	if (!h->syn)
		return;
	hc_syn_fds(h->syn, &fd, &icmp_fd);
	epoll_ctl(h->epfd, EPOLL_CTL_DEL, fd, NULL);
	if (icmp_fd >= 0)
		epoll_ctl(h->epfd, EPOLL_CTL_DEL, icmp_fd, NULL);
	hc_syn_free(h->syn);
	h->syn = NULL;
}

static int syn_open(struct xlb_health *h)
{
	struct hc_syn *s;
	int fd, icmp_fd, err;

	err = hc_syn_new(&h->stats, &s);
	if (err)
		return err;
	hc_syn_fds(s, &fd, &icmp_fd);
	err = epoll_op(h, EPOLL_CTL_ADD, fd, ev_data(0, HC_EV_SYN, 0), EPOLLIN);
	if (!err && icmp_fd >= 0)
		err = epoll_op(h, EPOLL_CTL_ADD, icmp_fd, ev_data(0, HC_EV_SYN, 1), EPOLLIN);
	if (err) {
		epoll_ctl(h->epfd, EPOLL_CTL_DEL, fd, NULL);
		hc_syn_free(s);
		return err;
	}
	h->syn = s;
	pr_debug("health: half-open prober: raw socket, source ports %u-%u",
		 hc_syn_base_port(s), hc_syn_base_port(s) + HC_SYN_NPORTS - 1);
	return 0;
}

/* Probes in flight on the prober being closed are ended without a result
 * (their replies can no longer be seen) and made again at once. */
static void syn_drop_inflight(struct xlb_health *h)
{
	for (uint32_t i = 0; i < h->nslots; i++) {
		struct hc_target *t = h->slots[i];

		if (t && t->pr.seq && t->pr.syn.sport) {
			probe_release(h, t);
			xlb_timerheap_set(&h->heap, &t->tm, xlb_clock_us());
		}
	}
}

int xlb_health_set_tcp_mode(struct xlb_health *h, enum xlb_health_tcp_mode mode)
{
	int err;

	switch (mode) {
	case XLB_HC_TCP_CONNECT:
		syn_drop_inflight(h);
		syn_close(h);
		break;
	case XLB_HC_TCP_AUTO:
	case XLB_HC_TCP_HALF_OPEN:
		if (h->syn)
			break;
		err = syn_open(h);
		if (err && mode == XLB_HC_TCP_HALF_OPEN)
			return err;
		if (err)
			pr_debug("health: no raw socket for half-open probes: %s", strerror(-err));
		break;
	default:
		return -EINVAL;
	}
	arm(h);
	return 0;
}

bool xlb_health_half_open(const struct xlb_health *h)
{
	return h->syn != NULL;
}

void xlb_health_get_stats(const struct xlb_health *h, struct xlb_health_stats *out)
{
	*out = h->stats;
	out->half_open_port = h->syn ? hc_syn_base_port(h->syn) : 0;
}

int xlb_health_new(xlb_health_change_fn fn, void *arg, struct xlb_health **out)
{
	struct xlb_health *h = calloc(1, sizeof(*h));
	int err;

	if (!h)
		return -ENOMEM;
	h->fn = fn;
	h->arg = arg;
	h->tfd = -1;
	xlb_htab_init(&h->targets);
	xlb_htab_init(&h->svcs);
	xlb_timerheap_init(&h->heap);
	hc_rng_seed(&h->rng);

	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->epfd < 0) {
		err = -errno;
		pr_err("health: epoll_create1: %s", strerror(errno));
		goto fail;
	}
	h->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (h->tfd < 0) {
		err = -errno;
		pr_err("health: timerfd_create: %s", strerror(errno));
		goto fail;
	}
	err = epoll_op(h, EPOLL_CTL_ADD, h->tfd, ev_data(0, HC_EV_TIMER, 0), EPOLLIN);
	if (err) {
		pr_err("health: epoll add timerfd: %s", strerror(-err));
		goto fail;
	}
	xlb_health_set_tcp_mode(h, XLB_HC_TCP_AUTO);	/* cannot fail */
	*out = h;
	return 0;
fail:
	if (h->tfd >= 0)
		close(h->tfd);
	if (h->epfd >= 0)
		close(h->epfd);
	free(h);
	return err;
}

/* Kill and reap everything: at most REAP_WAIT_MS for children that do not
 * die at once (SIGKILL waits for an uninterruptible sleep to end). */
static void reap_all(struct xlb_health *h)
{
	int64_t deadline = xlb_clock_us() + REAP_WAIT_MS * 1000;

	for (size_t i = 0; i < h->nreap; i++) {
		struct hc_reap *r = &h->reap[i];
		struct pollfd p = { .fd = r->pidfd, .events = POLLIN };
		int64_t left;

		bool done;

		while (!(done = try_reap(h, r->pid)) && (left = deadline - xlb_clock_us()) > 0)
			poll(&p, 1, (int)(left / 1000) + 1);
		if (!done)
			pr_warn("health: pid %d did not exit after SIGKILL; left to init", (int)r->pid);
		close(r->pidfd);
	}
	h->nreap = 0;
}

void xlb_health_free(struct xlb_health *h)
{
	struct hc_target *t;
	size_t pos = 0;

	if (!h)
		return;
	while ((t = xlb_htab_next(&h->targets, &pos)))
		target_free(h, t);
	xlb_htab_fini(&h->targets);
	syn_close(h);
	reap_all(h);
	xlb_htab_fini(&h->svcs);
	xlb_timerheap_fini(&h->heap);
	close(h->tfd);
	close(h->epfd);
	free(h->slots);
	free(h->free_slots);
	free(h->notes);
	free(h->reap);
	free(h);
}
