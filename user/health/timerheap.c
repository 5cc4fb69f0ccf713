// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A 4-ary heap with the keys stored inline: a level's four children share
 * one cache line, and comparing them touches no timer. With 10,000 targets
 * it is 7 levels deep, not 14, and each level costs one line plus the write
 * of the moved timer's index.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "health/timerheap.h"

void xlb_timerheap_init(struct xlb_timerheap *th)
{
	memset(th, 0, sizeof(*th));
}

void xlb_timerheap_fini(struct xlb_timerheap *th)
{
	for (uint32_t i = 0; i < th->n; i++)
		th->v[i].t->idx = XLB_TIMER_IDLE;
	free(th->v);
	memset(th, 0, sizeof(*th));
}

int xlb_timerheap_reserve(struct xlb_timerheap *th, uint32_t n)
{
	struct xlb_timerheap_ent *v;
	uint32_t cap = th->cap ? th->cap : 64;

	if (n <= th->cap)
		return 0;
	while (cap < n) {
		if (cap > UINT32_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	v = realloc(th->v, (size_t)cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	th->v = v;
	th->cap = cap;
	return 0;
}

static void place(struct xlb_timerheap *th, uint32_t i, struct xlb_timerheap_ent e)
{
	th->v[i] = e;
	e.t->idx = i;
}

static void sift_up(struct xlb_timerheap *th, uint32_t i)
{
	struct xlb_timerheap_ent e = th->v[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / XLB_TIMERHEAP_ARITY;

		if (th->v[parent].when <= e.when)
			break;
		place(th, i, th->v[parent]);
		i = parent;
	}
	place(th, i, e);
}

static void sift_down(struct xlb_timerheap *th, uint32_t i)
{
	struct xlb_timerheap_ent e = th->v[i];

	for (;;) {
		uint32_t first = XLB_TIMERHEAP_ARITY * i + 1, end, c;

		if (first >= th->n)
			break;
		end = first + XLB_TIMERHEAP_ARITY < th->n ? first + XLB_TIMERHEAP_ARITY : th->n;
		c = first;
		for (uint32_t k = first + 1; k < end; k++)
			if (th->v[k].when < th->v[c].when)
				c = k;
		if (e.when <= th->v[c].when)
			break;
		place(th, i, th->v[c]);
		i = c;
	}
	place(th, i, e);
}

int xlb_timerheap_set(struct xlb_timerheap *th, struct xlb_timer *t, int64_t when)
{
	int64_t old = t->when;

	t->when = when;
	if (!xlb_timer_queued(t)) {
		int err = xlb_timerheap_reserve(th, th->n + 1);

		if (err) {
			t->when = old;
			return err;
		}
		place(th, th->n++, (struct xlb_timerheap_ent){ .when = when, .t = t });
		sift_up(th, t->idx);
		return 0;
	}
	th->v[t->idx].when = when;
	if (when < old)
		sift_up(th, t->idx);
	else
		sift_down(th, t->idx);
	return 0;
}

void xlb_timerheap_del(struct xlb_timerheap *th, struct xlb_timer *t)
{
	uint32_t i = t->idx;
	struct xlb_timerheap_ent last;

	if (!xlb_timer_queued(t))
		return;
	t->idx = XLB_TIMER_IDLE;
	last = th->v[--th->n];
	if (last.t == t)
		return;
	place(th, i, last);
	/* The moved one may belong above or below its new place. */
	sift_up(th, i);
	sift_down(th, last.t->idx);
}
