// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Weighted Maglev table (Eisenbud et al., NSDI 2016, section 3.4).
 *
 * Each backend has its own permutation of the slots, as in the paper:
 *	offset = h1(key) % M, skip = h2(key) % (M - 1) + 1,
 *	permutation[j] = (offset + j * skip) % M.
 * M prime makes every skip coprime with M, so each permutation visits
 * every slot.
 *
 * Quotas: backend i owns exactly M * w_i / W slots, rounded by largest
 * remainder (Hamilton), so every share is within one slot of ideal and the
 * quotas sum to M. This replaces the paper's "one slot per turn" as the
 * source of balance and is what makes weights exact.
 *
 * Population differs from the paper in one respect. The paper lets a
 * backend, on its turn, walk its permutation to the first free slot. Here
 * a backend's j-th preference is considered at virtual time
 * (2j + 1) / (2 w_i) and taken only if still free; a backend stops once it
 * has its quota. So a slot goes to the backend that prefers it earliest
 * (in weighted time) among those not yet full, close to rendezvous hashing,
 * and removing a backend mostly hands its own slots to their next
 * preference. Measured at M = 100 N (the least Maglev advises), removing
 * the worst one of N backends changes 1.18/N (N = 10), 1.54/N (N = 50) and
 * 1.77/N (N = 100) of the slots, against 1.29/N, 1.94/N and 2.31/N for the
 * paper's population; 1/N is the floor. Disruption falls as M/N grows: at
 * the default M = 16381, 1.05/N (N = 10) and 1.10/N (N = 20); at M = 65521,
 * 1.16/N (N = 50) and 1.37/N (N = 100).
 * What remains is inherent to exact quotas: the removed backend's slots do
 * not split exactly along the other backends' quota increases, and each
 * mismatch displaces a slot further on.
 *
 * Ties (equal remainders, equal virtual times) go to the smaller key, so
 * the table depends on the set of backends, not on their order.
 *
 * Cost: one heap step (O(log n)) per preference considered. Like the
 * paper's walk, a backend looks at about M/n * ln(M) preferences before its
 * quota is full; measured total: 2.5 M (n = 3) to 10 M (n = 512) steps.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "maglev.h"

typedef unsigned __int128 u128;

#define SLOT_EMPTY	UINT32_MAX

#define KEY_SEED	0x6a09e667f3bcc909ULL	/* sqrt(2), as SHA-512 */
#define H1_SEED		0xbb67ae8584caa73bULL	/* sqrt(3) */
#define H2_SEED		0x3c6ef372fe94f82bULL	/* sqrt(5) */
#define GAMMA		0x9e3779b97f4a7c15ULL	/* 2^64 / golden ratio */

/* splitmix64's finaliser (Steele et al., OOPSLA 2014): full avalanche. */
static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Big-endian load, so the key is the same on every architecture. */
static uint64_t load_be64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

uint64_t xlb_maglev_key(const uint8_t addr[16], uint16_t port_host)
{
	uint64_t h = KEY_SEED;

	h = mix64((h ^ load_be64(addr)) + GAMMA);
	h = mix64((h ^ load_be64(addr + 8)) + GAMMA);
	h = mix64((h ^ port_host) + GAMMA);
	return h;
}

/* Primes just below powers of two, 2^8 .. 2^16. */
static const uint32_t maglev_sizes[] = {
	251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521,
};

uint32_t xlb_maglev_size(size_t n)
{
	size_t i;

	/* One size for every service and node (XLB_MAGLEV_DEFAULT_SIZE), so
	 * adding or removing a backend never changes M (which would remap
	 * every client) and every node computes the same table. Only a
	 * service too large for it (Maglev's advice: M > 100 N keeps every
	 * share within 1%) gets the next larger prime. */
	if (!n || n > SIZE_MAX / 100)
		return 0;
	for (i = 0; i < sizeof(maglev_sizes) / sizeof(maglev_sizes[0]); i++) {
		if (maglev_sizes[i] >= XLB_MAGLEV_DEFAULT_SIZE && maglev_sizes[i] > 100 * n)
			return maglev_sizes[i];
	}
	return 0;
}

static bool is_prime(uint32_t m)
{
	uint32_t d;

	if (m < 2)
		return false;
	if (m % 2 == 0)
		return m == 2;
	for (d = 3; d <= m / d; d += 2) {
		if (m % d == 0)
			return false;
	}
	return true;
}

struct mg_state {
	uint64_t key;
	uint64_t rem;		/* M * w mod W: fractional part of the quota */
	uint32_t w;
	uint32_t quota;		/* slots this backend ends up with */
	uint64_t rank;		/* preferences considered so far (j) */
	uint32_t count;		/* slots taken so far */
	uint32_t pos;		/* permutation[rank % M] */
	uint32_t skip;
	uint32_t idx;		/* index into the caller's array */
};

/* Tie-break: smaller key, then smaller index (equal keys only if the
 * caller passed duplicates). */
static bool key_before(const struct mg_state *a, const struct mg_state *b)
{
	if (a->key != b->key)
		return a->key < b->key;
	return a->idx < b->idx;
}

/* Does a's next preference come before b's? (2ja + 1) / wa < (2jb + 1) / wb,
 * cross-multiplied in 128 bits to stay exact. */
static bool turn_before(const struct mg_state *a, const struct mg_state *b)
{
	u128 ta = (2 * (u128)a->rank + 1) * b->w;
	u128 tb = (2 * (u128)b->rank + 1) * a->w;

	if (ta != tb)
		return ta < tb;
	return key_before(a, b);
}

/* Larger remainder first: they get the leftover slots. */
static int rem_cmp(const void *pa, const void *pb)
{
	const struct mg_state *a = pa, *b = pb;

	if (a->rem != b->rem)
		return a->rem > b->rem ? -1 : 1;
	if (a->idx == b->idx)
		return 0;
	return key_before(a, b) ? -1 : 1;
}

static void sift_down(struct mg_state *st, uint32_t *heap, size_t len, size_t i)
{
	size_t c;
	uint32_t t;

	for (;;) {
		c = 2 * i + 1;
		if (c >= len)
			return;
		if (c + 1 < len && turn_before(&st[heap[c + 1]], &st[heap[c]]))
			c++;
		if (!turn_before(&st[heap[c]], &st[heap[i]]))
			return;
		t = heap[i];
		heap[i] = heap[c];
		heap[c] = t;
		i = c;
	}
}

/* Quotas by largest remainder. st[] gets sorted by remainder here. */
static void set_quotas(struct mg_state *st, size_t n, uint32_t m, uint64_t total)
{
	uint64_t assigned = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		uint64_t mw = (uint64_t)m * st[i].w;	/* < 2^64: both < 2^32 */

		st[i].quota = (uint32_t)(mw / total);
		st[i].rem = mw % total;
		assigned += st[i].quota;
	}
	qsort(st, n, sizeof(*st), rem_cmp);
	/* Fewer than n slots are left over, one each for the first ones. */
	for (i = 0; assigned < m; i++, assigned++)
		st[i].quota++;
}

int xlb_maglev_build(const struct xlb_maglev_backend *be, size_t n,
		     uint32_t m, uint32_t *table)
{
	struct mg_state *st = NULL, *s;
	uint32_t *heap = NULL;
	uint64_t total = 0;
	size_t i, len = 0;
	int err = 0;

	if (!be || !table || !n || !is_prime(m))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!be[i].weight)
			return -EINVAL;
		total += be[i].weight;
	}

	st = calloc(n, sizeof(*st));
	heap = calloc(n, sizeof(*heap));
	if (!st || !heap) {
		err = -ENOMEM;
		goto out;
	}

	for (i = 0; i < n; i++) {
		st[i].key = be[i].key;
		st[i].w = be[i].weight;
		st[i].idx = (uint32_t)i;
		st[i].pos = (uint32_t)(mix64(be[i].key ^ H1_SEED) % m);
		st[i].skip = (uint32_t)(mix64(be[i].key ^ H2_SEED) % (m - 1)) + 1;
	}
	set_quotas(st, n, m, total);

	/* Backends with quota 0 (M < n, or a tiny weight) take no slots. */
	for (i = 0; i < n; i++) {
		if (st[i].quota)
			heap[len++] = (uint32_t)i;
	}
	for (i = len / 2; i-- > 0;)
		sift_down(st, heap, len, i);

	for (i = 0; i < m; i++)
		table[i] = SLOT_EMPTY;

	/*
	 * Quotas sum to m, so while the heap is not empty there is a free
	 * slot, and every permutation reaches it within m steps: the loop
	 * ends exactly when the table is full.
	 */
	while (len) {
		s = &st[heap[0]];
		if (table[s->pos] == SLOT_EMPTY) {
			table[s->pos] = s->idx;
			s->count++;
		}
		s->rank++;
		s->pos = (uint32_t)(((uint64_t)s->pos + s->skip) % m);
		if (s->count == s->quota)
			heap[0] = heap[--len];
		sift_down(st, heap, len, 0);
	}

out:
	free(st);
	free(heap);
	return err;
}
