/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The SNAT engine (include/xlb/snat.h has the maps' story), in the shape of
 * Cilium's snat_v4_new_mapping / __snat_update: a new flow takes a port by
 * inserting its reverse entry with BPF_NOEXIST (the client's own port
 * first when it lies in the range, then consecutive ones from a random
 * port, free or held by a flow that ended, then random free ones: see
 * xlb_snat4_new), then its forward entry; losing that second insert to
 * another CPU undoes the first and takes the winner's mapping.
 *
 * Nothing here rewrites a packet or knows the hook: callers pass tuples
 * and TCP flags, and rewrite with nat.h. The port range is read-only data
 * the loader sets (host order); SNAT is off while min > max.
 */
#ifndef XLB_BPF_SNAT_H
#define XLB_BPF_SNAT_H

#include <linux/bpf.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xlb/snat.h>

const volatile __u16 xlb_snat_port_min = XLB_SNAT_PORT_MIN;
const volatile __u16 xlb_snat_port_max = XLB_SNAT_PORT_MAX;
/* When no free port is found, a port held by a flow that ended is taken
 * over: after a reset at once, after a FIN both ways this many seconds
 * later. Ended flows give their ports back under pressure before their
 * expiry, as a host reuses its TIME_WAIT ports. */
const volatile __u32 xlb_snat_reuse_s = XLB_SNAT_REUSE_S;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_SNAT_ENTRIES);
	__type(key, struct xlb_snat4_key);
	__type(value, struct xlb_snat4_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} snat4_fwd SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_SNAT_ENTRIES);
	__type(key, struct xlb_snat4_key);
	__type(value, struct xlb_snat4_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} snat4_rev SEC(".maps");

enum xlb_snat_rc {
	XLB_SNAT_OK = 0,	/* the flow's mapping, found */
	XLB_SNAT_NEW,		/* a mapping made for this packet */
	XLB_SNAT_EXHAUSTED,	/* every port tried is taken for this backend */
	XLB_SNAT_FULL,		/* a map is full */
};

#define XLB_SNAT_TCP_FIN 0x01
#define XLB_SNAT_TCP_SYN 0x02
#define XLB_SNAT_TCP_RST 0x04
#define XLB_SNAT_TCP_ACK 0x10

static __always_inline int xlb_snat_port_in_range(__be16 port)
{
	__u16 p = bpf_ntohs(port);

	return p >= xlb_snat_port_min && p <= xlb_snat_port_max;
}

/* Follow one direction: the flags TCP showed, and the second it was seen.
 * Written only when something changed. tcp_flags: 0 for UDP. */
static __always_inline void xlb_snat4_touch(struct xlb_snat4_val *v, __u8 tcp_flags, int reply,
					    __u32 now)
{
	__u8 f = v->flags;

	if (reply)
		f |= XLB_SNAT_F_SEEN_REPLY;
	if (tcp_flags & XLB_SNAT_TCP_RST)
		f |= XLB_SNAT_F_RST;
	if (tcp_flags & XLB_SNAT_TCP_FIN)
		f |= XLB_SNAT_F_FIN;
	if (!reply && (tcp_flags & (XLB_SNAT_TCP_ACK | XLB_SNAT_TCP_SYN)) == XLB_SNAT_TCP_ACK)
		f |= XLB_SNAT_F_ACKED;
	if (f != v->flags)
		v->flags = f;
	if (v->last_seen != now)
		v->last_seen = now;
}

/* The reverse key of a forward tuple ft (client -> backend) leaving from
 * naddr:nport: the reply as it will arrive. */
static __always_inline void xlb_snat4_rev_key(struct xlb_snat4_key *rk,
					      const struct xlb_snat4_key *ft, __be32 naddr,
					      __be16 nport)
{
	rk->saddr = ft->daddr;
	rk->daddr = naddr;
	rk->sport = ft->dport;
	rk->dport = nport;
	rk->proto = ft->proto;
	rk->pad[0] = rk->pad[1] = rk->pad[2] = 0;
}

/* Is the port of reverse key rk free, or held by a flow that ended? Free
 * it then: at once after a reset (either way: neither end holds the
 * connection any more), after a FIN both ways only xlb_snat_reuse_s
 * later (the last ACK, a retransmitted FIN). 1 when the port is free now
 * (no flow held it, or this CPU's delete freed it); the caller's insert
 * may still lose it to another CPU. rk is left holding the old flow's
 * forward key when 0: one key on the stack, which is tight in the XDP
 * program. */
static __always_inline int xlb_snat4_takeover(struct xlb_snat4_key *rk, __u32 now)
{
	struct xlb_snat4_val *r, *f;
	__be32 baddr = rk->saddr, naddr = rk->daddr, caddr;
	__be16 bport = rk->sport, nport = rk->dport, cport;
	__u32 last;
	__u8 rflags, flags;

	r = bpf_map_lookup_elem(&snat4_rev, rk);
	if (!r)
		return 1;
	caddr = r->addr;
	cport = r->port;
	rflags = r->flags;
	last = r->last_seen;
	/* rk becomes the old flow's forward key */
	rk->saddr = caddr;
	rk->daddr = baddr;
	rk->sport = cport;
	rk->dport = bport;
	f = bpf_map_lookup_elem(&snat4_fwd, rk);
	if (f && (f->addr != naddr || f->port != nport))
		f = NULL;	/* that client's flow has another mapping now */
	flags = f ? f->flags : 0;
	if (!((rflags | flags) & XLB_SNAT_F_RST)) {
		if (!((rflags & XLB_SNAT_F_FIN) && (flags & XLB_SNAT_F_FIN)))
			return 0;
		if (f && f->last_seen > last)
			last = f->last_seen;
		if (now - last < xlb_snat_reuse_s)
			return 0;
	}
	if (f)
		bpf_map_delete_elem(&snat4_fwd, rk);
	rk->saddr = baddr;
	rk->daddr = naddr;
	rk->sport = bport;
	rk->dport = nport;
	return !bpf_map_delete_elem(&snat4_rev, rk);	/* else another CPU took it */
}

/* A new mapping for ft from naddr. XLB_SNAT_NEW (or XLB_SNAT_OK when
 * another CPU made the flow's mapping first) with it in *out, which holds
 * the reverse entry first and then the forward one: one value on the
 * stack, which is tight in the XDP program.
 *
 * Which ports are tried, in order: the client's own (when it lies in the
 * range); then XLB_SNAT_TAKEOVER_TRIES consecutive ones from a random
 * port, each taken if free or held by a flow that ended; then
 * XLB_SNAT_RETRIES random ones, free ones only. Under churn the range is
 * full of ended flows (a port is handed back when a new flow needs it,
 * not when its flow ends), and the second step finds one at its first
 * port: a new flow costs a few map operations, not a failed insert per
 * random port tried (32 of them, 3.5% of the machine's CPU at 10,000
 * connections a second in external_bench). The third step is for a
 * range held mostly by open flows. */
static __always_inline int xlb_snat4_new(const struct xlb_snat4_key *ft, __be32 naddr,
					 __u8 tcp_flags, __u32 now, struct xlb_snat4_val *out)
{
	__u32 min = xlb_snat_port_min, max = xlb_snat_port_max, range, i, first;
	struct xlb_snat4_key rk = {};
	struct xlb_snat4_val *v;
	__u32 port = bpf_ntohs(ft->sport);
	/* int, not long: before 6.4 the verifier calls the map's update
	 * directly, and its int result reaches us zero-extended (-EEXIST
	 * reads as 0xffffffef in 64 bits on Debian's 6.1). */
	int err = -EEXIST;

	if (min > max)
		return XLB_SNAT_EXHAUSTED;
	range = max - min + 1;
	out->addr = ft->saddr;
	out->port = ft->sport;
	out->flags = 0;
	out->pad = 0;
	out->created = now;
	out->last_seen = now;
	/* The client's port first: a flow keeps its port when it can. */
	if (port >= min && port <= max) {
		xlb_snat4_rev_key(&rk, ft, naddr, bpf_htons((__u16)port));
		err = bpf_map_update_elem(&snat4_rev, &rk, out, BPF_NOEXIST);
		if (err && err != -EEXIST)	/* the map is full */
			return XLB_SNAT_FULL;
	}
	if (err) {
		first = bpf_get_prandom_u32() % range;
		for (i = 0; i < XLB_SNAT_TAKEOVER_TRIES; i++) {
			port = min + (first + i) % range;
			xlb_snat4_rev_key(&rk, ft, naddr, bpf_htons((__u16)port));
			if (!xlb_snat4_takeover(&rk, now))
				continue;
			err = bpf_map_update_elem(&snat4_rev, &rk, out, BPF_NOEXIST);
			if (!err)
				break;
			if (err != -EEXIST)
				return XLB_SNAT_FULL;
		}
	}
	if (err) {
		for (i = 0; i < XLB_SNAT_RETRIES; i++) {
			port = min + bpf_get_prandom_u32() % range;
			xlb_snat4_rev_key(&rk, ft, naddr, bpf_htons((__u16)port));
			err = bpf_map_update_elem(&snat4_rev, &rk, out, BPF_NOEXIST);
			if (!err)
				break;
			if (err != -EEXIST)
				return XLB_SNAT_FULL;
		}
		if (i == XLB_SNAT_RETRIES)
			return XLB_SNAT_EXHAUSTED;
	}
	out->addr = naddr;
	out->port = rk.dport;
	xlb_snat4_touch(out, tcp_flags, 0, now);
	if (bpf_map_update_elem(&snat4_fwd, ft, out, BPF_NOEXIST)) {
		bpf_map_delete_elem(&snat4_rev, &rk);
		v = bpf_map_lookup_elem(&snat4_fwd, ft);
		if (!v)
			return XLB_SNAT_FULL;
		*out = *v;
		return XLB_SNAT_OK;
	}
	return XLB_SNAT_NEW;
}

/*
 * Forward: the mapping of the flow ft (client -> backend, after DNAT),
 * made from naddr on its first packet. The packet is then to leave from
 * out->addr:out->port. A SYN on a flow that saw a FIN or reset reuses the
 * mapping for the new connection on the same 5-tuple, its state cleared.
 */
static __always_inline int xlb_snat4_fwd(const struct xlb_snat4_key *ft, __be32 naddr,
					 __u8 tcp_flags, __u32 now, struct xlb_snat4_val *out)
{
	struct xlb_snat4_val *v = bpf_map_lookup_elem(&snat4_fwd, ft);

	if (!v)
		return xlb_snat4_new(ft, naddr, tcp_flags, now, out);
	if ((tcp_flags & (XLB_SNAT_TCP_SYN | XLB_SNAT_TCP_ACK)) == XLB_SNAT_TCP_SYN &&
	    (v->flags & (XLB_SNAT_F_FIN | XLB_SNAT_F_RST))) {
		struct xlb_snat4_key rk = {};
		struct xlb_snat4_val *r;

		xlb_snat4_rev_key(&rk, ft, v->addr, v->port);
		r = bpf_map_lookup_elem(&snat4_rev, &rk);
		if (r)
			r->flags = 0;
		v->flags = 0;
	}
	xlb_snat4_touch(v, tcp_flags, 0, now);
	*out = *v;
	return XLB_SNAT_OK;
}

/*
 * Reverse: a packet rt (backend -> node address:port) that may answer a
 * translated flow. Its mapping (the client's address and port), after
 * following the flow; NULL when it answers none (ports outside the range
 * cost no lookup). A pointer into the map, not a copy: the XDP program's
 * stack is tight.
 */
static __always_inline struct xlb_snat4_val *xlb_snat4_rev(const struct xlb_snat4_key *rt,
							   __u8 tcp_flags, __u32 now)
{
	struct xlb_snat4_val *v;

	if (!xlb_snat_port_in_range(rt->dport))
		return NULL;
	v = bpf_map_lookup_elem(&snat4_rev, rt);
	if (v)
		xlb_snat4_touch(v, tcp_flags, 1, now);
	return v;
}

#endif /* XLB_BPF_SNAT_H */
