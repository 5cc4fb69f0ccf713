// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Prometheus-style histograms of durations. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/hist.h"
#include "util/prom.h"

const double xlb_hist_default_le[XLB_HIST_DEFAULT_N] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

int xlb_hist_init(struct xlb_hist *h, const double *le, size_t n)
{
	if (!n || n > XLB_HIST_MAX_BUCKETS)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isfinite(le[i]) || (i && le[i] <= le[i - 1]))
			return -EINVAL;
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	h->le = le;
	h->n = n;
	return 0;
}

void xlb_hist_observe(struct xlb_hist *h, double seconds)
{
	size_t lo = 0, hi = h->n;

	if (isnan(seconds))
		return;
	/* The first bound >= seconds ("le" is inclusive); n: +Inf. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (h->le[mid] < seconds)
			lo = mid + 1;
		else
			hi = mid;
	}
	pthread_mutex_lock(&h->lock);
	h->bucket[lo]++;
	h->count++;
	h->sum += seconds;
	pthread_mutex_unlock(&h->lock);
}

void xlb_hist_snapshot(struct xlb_hist *h, struct xlb_hist_snap *out)
{
	uint64_t b[XLB_HIST_MAX_BUCKETS + 1], acc = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&h->lock);
	out->n = h->n;
	memcpy(b, h->bucket, (h->n + 1) * sizeof(b[0]));
	out->count = h->count;
	out->sum = h->sum;
	pthread_mutex_unlock(&h->lock);
	for (size_t i = 0; i <= out->n; i++) {
		acc += b[i];
		out->cum[i] = acc;
		if (i < out->n)
			out->le[i] = h->le[i];
	}
}

void xlb_hist_reset(struct xlb_hist *h)
{
	pthread_mutex_lock(&h->lock);
	memset(h->bucket, 0, sizeof(h->bucket));
	h->count = 0;
	h->sum = 0;
	pthread_mutex_unlock(&h->lock);
}

static void sample(struct xlb_prom *p, const char *name, const char *suffix, const char *key,
		   const char *value)
{
	char full[160];

	snprintf(full, sizeof(full), "%s%s", name, suffix);
	xlb_prom_sample(p, full);
	if (key)
		xlb_prom_label(p, key, value);
}

void xlb_hist_render(struct xlb_hist *h, struct xlb_prom *p, const char *name, const char *help,
		     const char *key, const char *value)
{
	struct xlb_hist_snap s;
	char le[32];

	xlb_hist_snapshot(h, &s);
	xlb_prom_family(p, name, "histogram", help);
	for (size_t i = 0; i <= s.n; i++) {
		sample(p, name, "_bucket", key, value);
		xlb_prom_label(p, "le",
			       i < s.n ? xlb_prom_fmt_f64(s.le[i], le, sizeof(le)) : "+Inf");
		xlb_prom_u64(p, s.cum[i]);
	}
	sample(p, name, "_sum", key, value);
	xlb_prom_f64(p, s.sum);
	sample(p, name, "_count", key, value);
	xlb_prom_u64(p, s.count);
}
