/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Internet checksum helpers (RFC 1071), incremental updates (RFC 1624,
 * eqn. 3: HC' = ~(~HC + ~m + m')). Values are used exactly as they lie in
 * the packet: the one's complement sum does not depend on byte order.
 */
#ifndef XLB_BPF_CSUM_H
#define XLB_BPF_CSUM_H

#include <linux/types.h>
#include <bpf/bpf_endian.h>

static __always_inline __u16 xlb_csum_fold(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/* Unfolded pseudo-header sum for TCP/UDP over IPv4; fold it with
 * xlb_csum_fold() for the value CHECKSUM_PARTIAL leaves in the field. */
static __always_inline __u64 xlb_pseudo_sum(__be32 saddr, __be32 daddr, __u8 proto,
					    __u16 l4_len)
{
	return (__u64)saddr + daddr + bpf_htons((__u16)proto) + bpf_htons(l4_len);
}

/* A 32-bit field of the covered data changed from 'from' to 'to'. */
static __always_inline void xlb_csum_replace4(__sum16 *csum, __be32 from, __be32 to)
{
	__u64 s = (__u16)~*csum;

	s += (__u32)~from;
	s += to;
	*csum = ~xlb_csum_fold(s);
}

static __always_inline void xlb_csum_replace2(__sum16 *csum, __be16 from, __be16 to)
{
	__u64 s = (__u16)~*csum;

	s += (__u16)~from;
	s += to;
	*csum = ~xlb_csum_fold(s);
}

/* CHECKSUM_PARTIAL: the field is a plain (uncomplemented) sum. */
static __always_inline void xlb_csum_partial_replace4(__sum16 *csum, __be32 from, __be32 to)
{
	__u64 s = *csum;

	s += (__u32)~from;
	s += to;
	*csum = xlb_csum_fold(s);
}

/* Full checksum of a header of n 16-bit words (n a constant). */
static __always_inline __u16 xlb_csum_words(const __u16 *w, int n, __u64 seed)
{
	__u64 s = seed;
	int i;

#pragma unroll
	for (i = 0; i < n; i++)
		s += w[i];
	return ~xlb_csum_fold(s);
}

#endif /* XLB_BPF_CSUM_H */
