// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * maglev_quality: how good xlb's weighted Maglev tables (user/model/maglev.c)
 * are for 10, 100 and 1,000 equal-weight backends.
 *
 *   imbalance   largest share of slots / ideal share (M / N); 1 is perfect.
 *   disruption  slots that change owner when one backend is removed,
 *               times N / M; 1 is the floor (only the removed backend's
 *               own slots move), as in Maglev (NSDI 2016) section 5.3.
 *
 * Tables are built with xlb_maglev_build directly at the given prime M, so
 * 1,000 backends can be measured although a service holds at most
 * XLB_MAX_BACKENDS_PER_SVC (512) and xlb's largest size is 65521
 * (M / N = 65.5 there). 100003, the smallest prime above 100 N (Maglev's
 * M > 100 N), is not in xlb's list: it is added here only.
 *
 * Backends are 10.128.0.1 + i, port 8080, keyed by xlb_maglev_key as the
 * dataplane does.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xlb/abi.h>
#include "model/maglev.h"

struct sizing {
	uint32_t n, m;
	const char *why;
};

static const struct sizing sizings[] = {
	{ 10, XLB_MAGLEV_DEFAULT_SIZE, "xlb's size for N <= 163" },
	{ 100, XLB_MAGLEV_DEFAULT_SIZE, "xlb's size for N <= 163" },
	{ 100, XLB_MAGLEV_MAX_SIZE, "for comparison: xlb's largest size" },
	{ 1000, XLB_MAGLEV_MAX_SIZE, "xlb's largest size (M/N = 65.5)" },
	{ 1000, 100003, "smallest prime > 100 N, added here" },
};

static void die(const char *what, int err)
{
	fprintf(stderr, "maglev_quality: %s: %s\n", what, strerror(-err));
	exit(1);
}

static void backends(struct xlb_maglev_backend *be, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint8_t addr[16] = { 0 };
		uint32_t a = 0x0a800001u + i;

		addr[0] = a >> 24;
		addr[1] = (a >> 16) & 0xff;
		addr[2] = (a >> 8) & 0xff;
		addr[3] = a & 0xff;
		be[i].key = xlb_maglev_key(addr, 8080);
		be[i].weight = 1;
	}
}

struct result {
	double imb_max, imb_min;	/* largest, smallest share / ideal */
	double dis_mean, dis_max;	/* slots moved x N / M */
	uint32_t removals;
	double build_s;			/* one build, seconds */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct result measure(uint32_t n, uint32_t m, uint32_t max_removals)
{
	struct xlb_maglev_backend *be = calloc(n, sizeof(*be)), *rest = calloc(n, sizeof(*rest));
	uint32_t *full = calloc(m, sizeof(*full)), *cut = calloc(m, sizeof(*cut));
	uint32_t *count = calloc(n, sizeof(*count)), step;
	struct result r = { .imb_min = 1e9 };
	double t0, sum = 0;
	int ret;

	if (!be || !rest || !full || !cut || !count)
		die("allocate", -ENOMEM);
	backends(be, n);
	t0 = now_s();
	ret = xlb_maglev_build(be, n, m, full);
	r.build_s = now_s() - t0;
	if (ret)
		die("build", ret);
	for (uint32_t s = 0; s < m; s++)
		count[full[s]]++;
	for (uint32_t i = 0; i < n; i++) {
		double share = (double)count[i] * n / m;

		if (share > r.imb_max)
			r.imb_max = share;
		if (share < r.imb_min)
			r.imb_min = share;
	}

	/* Remove backend k: the others keep their keys, so a slot "stays"
	 * when it has the same owner (by key) as before. */
	step = n > max_removals ? n / max_removals : 1;
	for (uint32_t k = 0; k < n; k += step) {
		uint32_t moved = 0, j = 0;
		double d;

		for (uint32_t i = 0; i < n; i++)
			if (i != k)
				rest[j++] = be[i];
		ret = xlb_maglev_build(rest, n - 1, m, cut);
		if (ret)
			die("build without one backend", ret);
		for (uint32_t s = 0; s < m; s++)
			if (be[full[s]].key != rest[cut[s]].key)
				moved++;
		d = (double)moved * n / m;
		sum += d;
		if (d > r.dis_max)
			r.dis_max = d;
		r.removals++;
	}
	r.dis_mean = sum / r.removals;
	free(be);
	free(rest);
	free(full);
	free(cut);
	free(count);
	return r;
}

int main(int argc, char **argv)
{
	uint32_t max_removals = 100;
	int o;

	while ((o = getopt(argc, argv, "aqh")) != -1) {
		switch (o) {
		case 'a':
			max_removals = UINT32_MAX;
			break;
		case 'q':
			max_removals = 10;
			break;
		default:
			fprintf(o == 'h' ? stdout : stderr,
				"usage: maglev_quality [-a | -q]\n"
				"  Imbalance and disruption of xlb's Maglev tables, N = 10, 100, 1000.\n"
				"  Removals tried: every backend up to N = 100, else 100 evenly\n"
				"  spaced ones; -a: every backend for N = 1000 too; -q (quick):\n"
				"  at most 10 for every N.\n");
			return o == 'h' ? 0 : 2;
		}
	}

	printf("| N | M | M/N | why this M | max share / ideal | min share / ideal "
	       "| removals tried | disruption x N, mean | worst | ideal |\n");
	printf("|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|\n");
	for (size_t i = 0; i < sizeof(sizings) / sizeof(sizings[0]); i++) {
		const struct sizing *z = &sizings[i];
		struct result r = measure(z->n, z->m, max_removals);

		printf("| %u | %u | %.1f | %s | %.4f | %.4f | %u | %.3f | %.3f | 1 |\n", z->n, z->m,
		       (double)z->m / z->n, z->why, r.imb_max, r.imb_min, r.removals, r.dis_mean,
		       r.dis_max);
		fflush(stdout);
		fprintf(stderr, "  N = %u, M = %u: one build %.3f s\n", z->n, z->m, r.build_s);
	}
	return 0;
}
