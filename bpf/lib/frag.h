/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * IPv4 fragments of a UDP datagram or a TCP segment to or from a service
 * (frag4 in include/xlb/abi.h). Only the first fragment carries the
 * ports. It goes through the hook's whole path like any packet (its L4
 * checksum, which covers the whole datagram, updated there for the
 * address and port changes; TCP's state follows its flags), and its ports
 * are kept under the datagram's identity as the hook saw it (source,
 * destination, IP id, protocol, hook), as Cilium's IPV4_FRAG_DATAGRAMS
 * does for TCP and UDP alike. A later fragment finds its flow's state
 * with them and follows it, changing nothing of it: its addresses
 * rewritten as the flow's (the header checksum only: it has no L4
 * header), the same way out.
 *
 * Nothing is reassembled: a later fragment that arrives before its first
 * fragment finds no ports and goes to the stack untouched, where its
 * datagram cannot be completed; every hook counts such fragments when the
 * first one arrives (frag_before_first).
 */
#ifndef XLB_BPF_FRAG_H
#define XLB_BPF_FRAG_H

#include <linux/bpf.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xlb/abi.h>

#include "csum.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLB_FRAG_ENTRIES);
	__type(key, struct xlb_frag4_key);
	__type(value, struct xlb_frag4_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} frag4 SEC(".maps");

#define XLB_IP_DF	0x4000
#define XLB_IP_MF	0x2000
#define XLB_IP_OFFSET	0x1fff

static __always_inline void xlb_frag_key(struct xlb_frag4_key *k, __be32 saddr, __be32 daddr,
					 __be16 id, __u8 proto, __u8 hook)
{
	k->saddr = saddr;
	k->daddr = daddr;
	k->id = id;
	k->proto = proto;
	k->hook = hook;
}

/* Keep a first fragment's ports for the later ones (BPF_ANY: a datagram
 * is sent once; an IP id that comes round again is a new datagram). The
 * mark early fragments left is returned in *early: how many there were. */
static __always_inline void xlb_frag_keep(const struct xlb_frag4_key *k, __be16 sport,
					  __be16 dport, __u32 now, __u32 *early)
{
	struct xlb_frag4_val v = {}, *old = bpf_map_lookup_elem(&frag4, k);

	*early = old && !old->has_ports ? old->early : 0;
	v.sport = sport;
	v.dport = dport;
	v.has_ports = 1;
	v.created = now;
	bpf_map_update_elem(&frag4, k, &v, BPF_ANY);
}

/* A later fragment's ports: 0 and *sport, *dport, or -1 when its first
 * fragment has not been seen. With mark, an unknown datagram is marked
 * (and each of its fragments counted) for its first fragment to find. */
static __always_inline int xlb_frag_ports(const struct xlb_frag4_key *k, __be16 *sport,
					  __be16 *dport, int mark, __u32 now)
{
	struct xlb_frag4_val *v = bpf_map_lookup_elem(&frag4, k);

	if (v && v->has_ports) {
		*sport = v->sport;
		*dport = v->dport;
		return 0;
	}
	if (!mark)
		return -1;
	if (v) {
		if (v->early < 0xffff)
			v->early++;
	} else {
		struct xlb_frag4_val e = { .early = 1, .created = now };

		bpf_map_update_elem(&frag4, k, &e, BPF_NOEXIST);
	}
	return -1;
}

/* A later fragment's addresses rewritten: the header checksum follows
 * (RFC 1624); there is no L4 header to touch. */
static __always_inline void xlb_frag_rewrite(struct iphdr *ip, __be32 saddr, __be32 daddr)
{
	if (ip->saddr != saddr) {
		xlb_csum_replace4(&ip->check, ip->saddr, saddr);
		ip->saddr = saddr;
	}
	if (ip->daddr != daddr) {
		xlb_csum_replace4(&ip->check, ip->daddr, daddr);
		ip->daddr = daddr;
	}
}

#endif /* XLB_BPF_FRAG_H */
