/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Weighted Maglev lookup table (Eisenbud et al., "Maglev: A Fast and
 * Reliable Software Network Load Balancer", NSDI 2016, section 3.4).
 */
#ifndef XLB_MAGLEV_H
#define XLB_MAGLEV_H

#include <stddef.h>
#include <stdint.h>
#include <xlb/abi.h>

struct xlb_maglev_backend {
	uint64_t key;		/* stable identity, e.g. xlb_maglev_key(addr, port) */
	uint32_t weight;	/* > 0 */
};

/* Stable identity of a backend for the permutation: depends only on the
 * address and port, so a backend keeps its preferences across rebuilds. */
uint64_t xlb_maglev_key(const uint8_t addr[16], uint16_t port_host);

/* Table size M for n backends: XLB_MAGLEV_DEFAULT_SIZE while that is
 * > 100 * n, else the smallest listed prime > 100 * n (at most
 * XLB_MAGLEV_MAX_SIZE). 0 if n is too large. Independent of n for
 * n <= 163, so a backend change never changes M. */
uint32_t xlb_maglev_size(size_t n);

/* Fill table[0..m-1] with indexes into be[0..n-1]. m must be prime.
 * Each backend gets a share of slots proportional to its weight.
 * 0, or -EINVAL (n == 0, m not prime, weight 0), -ENOMEM. */
int xlb_maglev_build(const struct xlb_maglev_backend *be, size_t n,
		     uint32_t m, uint32_t *table);

#endif /* XLB_MAGLEV_H */
