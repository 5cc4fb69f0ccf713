// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
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
		th->v[i]->idx = XLB_TIMER_IDLE;
	free(th->v);
	memset(th, 0, sizeof(*th));
}

int xlb_timerheap_reserve(struct xlb_timerheap *th, uint32_t n)
{
	struct xlb_timer **v;
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

static void place(struct xlb_timerheap *th, uint32_t i, struct xlb_timer *t)
{
	th->v[i] = t;
	t->idx = i;
}

static void sift_up(struct xlb_timerheap *th, uint32_t i)
{
	struct xlb_timer *t = th->v[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (th->v[parent]->when <= t->when)
			break;
		place(th, i, th->v[parent]);
		i = parent;
	}
	place(th, i, t);
}

static void sift_down(struct xlb_timerheap *th, uint32_t i)
{
	struct xlb_timer *t = th->v[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= th->n)
			break;
		if (c + 1 < th->n && th->v[c + 1]->when < th->v[c]->when)
			c++;
		if (t->when <= th->v[c]->when)
			break;
		place(th, i, th->v[c]);
		i = c;
	}
	place(th, i, t);
}

int xlb_timerheap_set(struct xlb_timerheap *th, struct xlb_timer *t, int64_t when)
{
	int64_t old = t->when;

	if (!xlb_timer_queued(t)) {
		int err = xlb_timerheap_reserve(th, th->n + 1);

		if (err)
			return err;
		t->when = when;
		place(th, th->n++, t);
		sift_up(th, t->idx);
		return 0;
	}
	t->when = when;
	if (when < old)
		sift_up(th, t->idx);
	else
		sift_down(th, t->idx);
	return 0;
}

void xlb_timerheap_del(struct xlb_timerheap *th, struct xlb_timer *t)
{
	uint32_t i = t->idx;
	struct xlb_timer *last;

	if (!xlb_timer_queued(t))
		return;
	t->idx = XLB_TIMER_IDLE;
	last = th->v[--th->n];
	if (last == t)
		return;
	place(th, i, last);
	/* The moved one may belong above or below its new place. */
	sift_up(th, i);
	sift_down(th, last->idx);
}
