// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ranges.h"

static int grow(struct xlb_range **v, size_t *cap, size_t need)
{
	struct xlb_range *n;
	size_t c = *cap ? *cap : 16;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	n = realloc(*v, c * sizeof(**v));
	if (!n)
		return -ENOMEM;
	*v = n;
	*cap = c;
	return 0;
}

/* Insert into the sorted free list, merging with neighbours. */
static int free_insert(struct xlb_ranges *r, uint32_t start, uint32_t len)
{
	size_t i = 0;
	int err;

	while (i < r->n_free && r->free[i].start < start)
		i++;
	if (i > 0 && r->free[i - 1].start + r->free[i - 1].len == start) {
		r->free[i - 1].len += len;
		if (i < r->n_free && start + len == r->free[i].start) {
			r->free[i - 1].len += r->free[i].len;
			memmove(&r->free[i], &r->free[i + 1], (r->n_free - i - 1) * sizeof(*r->free));
			r->n_free--;
		}
		return 0;
	}
	if (i < r->n_free && start + len == r->free[i].start) {
		r->free[i].start = start;
		r->free[i].len += len;
		return 0;
	}
	err = grow(&r->free, &r->cap_free, r->n_free + 1);
	if (err)
		return err;
	memmove(&r->free[i + 1], &r->free[i], (r->n_free - i) * sizeof(*r->free));
	r->free[i] = (struct xlb_range){ .start = start, .len = len };
	r->n_free++;
	return 0;
}

int xlb_ranges_init(struct xlb_ranges *r, uint32_t size, uint64_t grace_ns)
{
	memset(r, 0, sizeof(*r));
	r->size = size;
	r->grace_ns = grace_ns;
	return size ? free_insert(r, 0, size) : 0;
}

void xlb_ranges_fini(struct xlb_ranges *r)
{
	free(r->free);
	free(r->quar);
	memset(r, 0, sizeof(*r));
}

static void release_quarantine(struct xlb_ranges *r, uint64_t now_ns)
{
	size_t i = 0;

	while (i < r->n_quar && now_ns - r->quar[i].freed_ns >= r->grace_ns) {
		if (free_insert(r, r->quar[i].start, r->quar[i].len))
			break;	/* out of memory: keep the rest quarantined */
		i++;
	}
	if (i) {
		memmove(r->quar, r->quar + i, (r->n_quar - i) * sizeof(*r->quar));
		r->n_quar -= i;
	}
}

int xlb_ranges_alloc(struct xlb_ranges *r, uint32_t len, uint64_t now_ns, uint32_t *start)
{
	size_t i;

	if (!len) {
		*start = 0;
		return 0;
	}
	release_quarantine(r, now_ns);
	for (i = 0; i < r->n_free; i++) {
		if (r->free[i].len < len)
			continue;
		*start = r->free[i].start;
		r->free[i].start += len;
		r->free[i].len -= len;
		if (!r->free[i].len) {
			memmove(&r->free[i], &r->free[i + 1], (r->n_free - i - 1) * sizeof(*r->free));
			r->n_free--;
		}
		return 0;
	}
	return -ENOSPC;
}

int xlb_ranges_reserve(struct xlb_ranges *r, uint32_t start, uint32_t len)
{
	size_t i;
	int err;

	if (!len)
		return 0;
	for (i = 0; i < r->n_free; i++) {
		struct xlb_range *f = &r->free[i];
		uint32_t f_end = f->start + f->len;

		if (start < f->start || start + len > f_end)
			continue;
		if (start == f->start) {
			f->start += len;
			f->len -= len;
			if (!f->len) {
				memmove(f, f + 1, (r->n_free - i - 1) * sizeof(*f));
				r->n_free--;
			}
			return 0;
		}
		/* split: [f->start, start) stays, [start+len, f_end) is new */
		f->len = start - f->start;
		if (start + len < f_end) {
			err = grow(&r->free, &r->cap_free, r->n_free + 1);
			if (err)
				return err;
			f = &r->free[i];
			memmove(f + 2, f + 1, (r->n_free - i - 1) * sizeof(*f));
			f[1] = (struct xlb_range){ .start = start + len, .len = f_end - start - len };
			r->n_free++;
		}
		return 0;
	}
	return -EEXIST;
}

int xlb_ranges_free(struct xlb_ranges *r, uint32_t start, uint32_t len, uint64_t now_ns)
{
	int err;

	if (!len)
		return 0;
	err = grow(&r->quar, &r->cap_quar, r->n_quar + 1);
	if (err)
		return err;
	r->quar[r->n_quar++] = (struct xlb_range){ .start = start, .len = len, .freed_ns = now_ns };
	return 0;
}

uint64_t xlb_ranges_free_total(const struct xlb_ranges *r)
{
	uint64_t t = 0;

	for (size_t i = 0; i < r->n_free; i++)
		t += r->free[i].len;
	return t;
}
