// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Sequence tables for rr and wrr. The order is nginx's smooth weighted
 * round robin (ngx_http_upstream_get_peer): every step each peer adds its
 * weight to its current value, the peer with the largest current value is
 * picked and loses the total weight. After sum(w) steps every current value
 * is back to zero, so sum(w)/gcd(w) steps make one exact period.
 */
#include <errno.h>
#include <stdlib.h>

#include "seqtable.h"

typedef unsigned __int128 u128;

static uint64_t gcd64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* Weight i scaled to a total of about target, rounded, never below 1. */
static uint64_t scaled(uint32_t w, uint64_t total, uint64_t target)
{
	uint64_t v = (uint64_t)(((u128)w * target + total / 2) / total);

	return v ? v : 1;
}

static uint64_t period(const uint32_t *w, size_t n)
{
	uint64_t sum = 0, g = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		sum += w[i];
		g = gcd64(g, w[i]);
	}
	return sum / g;
}

int xlb_seq_build(const uint32_t *weights, size_t n, uint32_t *table,
		  size_t max, size_t *len)
{
	uint64_t total = 0, target = 0, lo, hi, mid, sum, g = 0, *w;
	int64_t *cur, best;
	size_t i, k, pick;

	if (!weights || !table || !len || !n || max < n)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!weights[i])
			return -EINVAL;
		total += weights[i];
	}

	/*
	 * Too long: find the largest target total whose scaled weights still
	 * fit. The period grows with the target except where a gcd happens to
	 * shrink it, so search on the sum (monotone) and accept that a gcd
	 * could have allowed a little more. Target 1 scales every weight to
	 * 1 (period n <= max), so the search always succeeds.
	 */
	if (period(weights, n) > max) {
		lo = 1;
		hi = max;
		while (lo < hi) {
			mid = lo + (hi - lo + 1) / 2;
			sum = 0;
			for (i = 0; i < n; i++)
				sum += scaled(weights[i], total, mid);
			if (sum <= max)
				lo = mid;
			else
				hi = mid - 1;
		}
		target = lo;
	}

	w = calloc(n, sizeof(*w));
	cur = calloc(n, sizeof(*cur));
	if (!w || !cur) {
		free(w);
		free(cur);
		return -ENOMEM;
	}

	sum = 0;
	for (i = 0; i < n; i++) {
		w[i] = target ? scaled(weights[i], total, target) : weights[i];
		g = gcd64(g, w[i]);
	}
	for (i = 0; i < n; i++) {
		w[i] /= g;
		sum += w[i];
	}

	/* sum <= max here, so a step is O(n) and the whole build O(max * n). */
	for (k = 0; k < sum; k++) {
		pick = 0;
		best = INT64_MIN;
		for (i = 0; i < n; i++) {
			cur[i] += (int64_t)w[i];
			/* strict: ties go to the lowest index, deterministically */
			if (cur[i] > best) {
				best = cur[i];
				pick = i;
			}
		}
		cur[pick] -= (int64_t)sum;
		table[k] = (uint32_t)pick;
	}
	*len = sum;

	free(w);
	free(cur);
	return 0;
}
