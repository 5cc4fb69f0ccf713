/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Hashes shared by the datapath and user space, so a tool can predict the
 * datapath's choice. Plain C on fixed-width types, usable from BPF.
 */
#ifndef XLB_HASH_H
#define XLB_HASH_H

#include <linux/types.h>

#ifndef XLB_INLINE
#ifdef __bpf__
#define XLB_INLINE static __always_inline
#else
#define XLB_INLINE static inline
#endif
#endif

/* Finaliser of MurmurHash3 (Appleby): full avalanche on 32 bits. */
XLB_INLINE __u32 xlb_fmix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bU;
	h ^= h >> 13;
	h *= 0xc2b2ae35U;
	h ^= h >> 16;
	return h;
}

/* Source-hash input: the client address (16 bytes, IPv4 in word 0). */
XLB_INLINE __u32 xlb_hash_addr(const __u32 a32[4], __u32 seed)
{
	__u32 h = seed;

	h = xlb_fmix32(h ^ a32[0]);
	h = xlb_fmix32(h ^ a32[1]);
	h = xlb_fmix32(h ^ a32[2]);
	h = xlb_fmix32(h ^ a32[3]);
	return h;
}

#define XLB_SH_SEED 0x9e3779b9U
#define XLB_FLOW_SEED 0x85ebca77U

/* Per-flow input of rr and wrr (and of a flow's choice without state): the
 * IPv4 5-tuple as the packet carries it, the ports read as one 32-bit word
 * (source port in the low half, both in network order). */
XLB_INLINE __u32 xlb_hash_flow4(__u32 saddr, __u32 daddr, __u16 sport, __u16 dport, __u8 proto)
{
	__u32 h = XLB_FLOW_SEED;

	h = xlb_fmix32(h ^ saddr);
	h = xlb_fmix32(h ^ daddr);
	h = xlb_fmix32(h ^ ((__u32)sport | (__u32)dport << 16));
	h = xlb_fmix32(h ^ proto);
	return h;
}

#endif /* XLB_HASH_H */
