/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Deterministic PRNG for test inputs (xorshift64, Marsaglia 2003): a fixed
 * seed, so every run draws the same sequence and a failure reproduces. A
 * test that was written against another sequence defines TEST_RNG_SEED
 * before including this.
 */
#ifndef XLB_TEST_RNG_H
#define XLB_TEST_RNG_H

#include <stdint.h>

#ifndef TEST_RNG_SEED
#define TEST_RNG_SEED 0x9e3779b97f4a7c15ULL
#endif

static uint64_t rng_state = TEST_RNG_SEED;

static inline uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

#endif /* XLB_TEST_RNG_H */
