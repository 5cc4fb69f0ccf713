/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A Prometheus-style histogram of durations in seconds: fixed upper bounds
 * ("le", inclusive, ascending) plus the implied +Inf, a count and a sum.
 * Thread-safe: observe and snapshot take the histogram's mutex, so a
 * snapshot is consistent (its +Inf bucket equals its count).
 *
 * A histogram needs no set-up call and no teardown:
 *
 *   static struct xlb_hist h = XLB_HIST_INIT(xlb_hist_default_le,
 *                                            XLB_HIST_DEFAULT_N);
 *   xlb_hist_observe(&h, 0.0042);
 */
#ifndef XLB_UTIL_HIST_H
#define XLB_UTIL_HIST_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct xlb_prom;

#define XLB_HIST_MAX_BUCKETS 32		/* finite bounds */

/* 100 us to 10 s in 1-2.5-5 steps: 16 bounds. */
#define XLB_HIST_DEFAULT_N 16
extern const double xlb_hist_default_le[XLB_HIST_DEFAULT_N];

struct xlb_hist {
	pthread_mutex_t lock;
	const double *le;		/* n finite upper bounds, ascending */
	size_t n;
	uint64_t bucket[XLB_HIST_MAX_BUCKETS + 1];	/* per bucket (not cumulative); [n]: +Inf */
	uint64_t count;
	double sum;
};

#define XLB_HIST_INIT(le_, n_) { .lock = PTHREAD_MUTEX_INITIALIZER, .le = (le_), .n = (n_) }

/* The cumulative view the exposition format wants. */
struct xlb_hist_snap {
	size_t n;
	double le[XLB_HIST_MAX_BUCKETS];
	uint64_t cum[XLB_HIST_MAX_BUCKETS + 1];	/* observations <= le[i]; [n]: all */
	uint64_t count;
	double sum;
};

/* 0, or -EINVAL when n is 0 or above XLB_HIST_MAX_BUCKETS, or the bounds
 * are not finite and strictly ascending. le must outlive h. */
int xlb_hist_init(struct xlb_hist *h, const double *le, size_t n);
/* NaN is ignored (it would poison the sum); anything else is counted, a
 * negative value in the first bucket. */
void xlb_hist_observe(struct xlb_hist *h, double seconds);
void xlb_hist_snapshot(struct xlb_hist *h, struct xlb_hist_snap *out);
/* Forget every observation (tests). */
void xlb_hist_reset(struct xlb_hist *h);

/* HELP, TYPE histogram, then name_bucket{le="..."} for every bound and
 * +Inf, name_sum and name_count; with a label (key NULL: none) on every
 * sample. */
void xlb_hist_render(struct xlb_hist *h, struct xlb_prom *p, const char *name, const char *help,
		     const char *key, const char *value);

#endif /* XLB_UTIL_HIST_H */
