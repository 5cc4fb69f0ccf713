/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Deadlines of every target in one min-heap, so a single timerfd armed at
 * the earliest one serves them all. Intrusive: a struct xlb_timer lives in
 * its owner and knows its heap position, so moving or removing one is
 * O(log n) with no search. Pure, no I/O.
 */
#ifndef XLB_HEALTH_TIMERHEAP_H
#define XLB_HEALTH_TIMERHEAP_H

#include <stdbool.h>
#include <stdint.h>

#define XLB_TIMER_IDLE UINT32_MAX
#define XLB_TIMERHEAP_ARITY 4	/* children per node */

struct xlb_timer {
	int64_t when;		/* any monotonic unit; the engine uses us */
	uint32_t idx;		/* position in the heap, XLB_TIMER_IDLE if not queued */
};

struct xlb_timerheap_ent {
	int64_t when;		/* a copy of t->when: compared without touching t */
	struct xlb_timer *t;
};

struct xlb_timerheap {
	struct xlb_timerheap_ent *v;
	uint32_t n, cap;
};

static inline void xlb_timer_init(struct xlb_timer *t)
{
	t->when = 0;
	t->idx = XLB_TIMER_IDLE;
}

static inline bool xlb_timer_queued(const struct xlb_timer *t)
{
	return t->idx != XLB_TIMER_IDLE;
}

void xlb_timerheap_init(struct xlb_timerheap *th);
void xlb_timerheap_fini(struct xlb_timerheap *th);
/* Make room for n timers in all, so later adds cannot fail. 0 or -ENOMEM. */
int xlb_timerheap_reserve(struct xlb_timerheap *th, uint32_t n);
/* Queue t at when, or move it there if queued. 0 or -ENOMEM. */
int xlb_timerheap_set(struct xlb_timerheap *th, struct xlb_timer *t, int64_t when);
void xlb_timerheap_del(struct xlb_timerheap *th, struct xlb_timer *t);
/* The earliest timer, NULL when empty. */
static inline struct xlb_timer *xlb_timerheap_top(const struct xlb_timerheap *th)
{
	return th->n ? th->v[0].t : NULL;
}

#endif /* XLB_HEALTH_TIMERHEAP_H */
