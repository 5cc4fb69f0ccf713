/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flow scenarios: a row is a short conversation (SYN, SYN-ACK, data ...),
 * each step one packet with the verdict and the output it must produce.
 * The expected output is the input with the fields of a struct xt_rewrite
 * replaced, rebuilt from scratch by pkt_build(), so it carries freshly
 * computed checksums: a datapath whose incremental update is off by a bit
 * fails the byte comparison.
 */
#ifndef XLB_TEST_FLOW_H
#define XLB_TEST_FLOW_H

#include "xlbtest.h"

/* Expected output = input with these replaced (NULL / 0: unchanged). */
struct xt_rewrite {
	const char *saddr, *daddr;
	uint16_t sport, dport;
	bool eth;		/* replace the Ethernet addresses below */
	uint8_t eth_src[6], eth_dst[6];
};

#define XT_MAX_STEPS	6
#define XT_MAX_STATS	3

struct xt_step {
	const char *what;	/* NULL ends the scenario */
	struct pkt_desc pkt;
	uint32_t ifindex;	/* ingress device; 0 = test_run's default */
	uint32_t verdict;
	struct xt_rewrite out;
	/* Counters that move by exactly one. Unused entries are 0, which is
	 * XLB_STAT_RX, and rx always moves by one. */
	enum xlb_stat stats[XT_MAX_STATS];
};

struct xt_scenario {
	const char *desc;
	struct xt_step steps[XT_MAX_STEPS];
};

static inline const char *xt_scenario_desc(const void *row)
{
	return ((const struct xt_scenario *)row)->desc;
}

static inline size_t xt_build_expected(const struct xt_step *s, uint8_t *buf)
{
	struct pkt_desc d = s->pkt;

	if (s->out.saddr)
		d.saddr = s->out.saddr;
	if (s->out.daddr)
		d.daddr = s->out.daddr;
	if (s->out.sport)
		d.sport = s->out.sport;
	if (s->out.dport)
		d.dport = s->out.dport;
	if (s->out.eth) {
		memcpy(d.eth_src, s->out.eth_src, 6);
		memcpy(d.eth_dst, s->out.eth_dst, 6);
	}
	return xt_build(&d, buf);
}

/* Fragment i of datagram d (rewritten by out, when given), as a router cuts
 * it into pieces of data payload bytes (a multiple of 8): pkt_fragment. */
static inline size_t xt_fragment(const struct pkt_desc *d, const struct xt_rewrite *out, int i,
				 size_t data, uint8_t *buf)
{
	struct xt_step s = { .pkt = *d };
	uint8_t full[PKT_MAX];
	size_t flen, l3, off = (size_t)i * data, len;

	if (out)
		s.out = *out;
	flen = xt_build_expected(&s, full);
	l3 = flen - ETH_HDR_LEN - IP4_HDR_LEN;
	len = l3 - off < data ? l3 - off : data;
	return pkt_fragment(full, off, len, off + len < l3, buf);
}

/* Direct server return (lb-mode dsr, issue 13): inner[len] (Ethernet +
 * IPv4) inside an IPIP header from src to dst, Ethernet smac -> dmac, as
 * the front node writes it (lib/dsr.h: the inner header's TOS and DF, TTL
 * 64, ID 0): out's length. */
static inline size_t xt_ipip_wrap(const uint8_t *inner, size_t len, const uint8_t *smac,
				  const uint8_t *dmac, const char *src, const char *dst,
				  uint8_t *out)
{
	struct xlb_ip sa = xt_ip(src), da = xt_ip(dst);
	const uint8_t *in = inner + ETH_HDR_LEN;
	uint8_t *ip = out + ETH_HDR_LEN;

	memcpy(out, dmac, 6);
	memcpy(out + 6, smac, 6);
	pkt_put16(out + 12, PKT_ETH_IP);
	memset(ip, 0, IP4_HDR_LEN);
	ip[0] = 0x45;
	ip[1] = in[1];
	pkt_put16(ip + 2, (uint16_t)(pkt_get16(in + 2) + IP4_HDR_LEN));
	pkt_put16(ip + 6, pkt_get16(in + 6) & PKT_IP_DF);
	ip[8] = 64;
	ip[9] = IPPROTO_IPIP;
	memcpy(ip + 12, sa.addr.a8, 4);
	memcpy(ip + 16, da.addr.a8, 4);
	pkt_put16(ip + 10, (uint16_t)~csum_fold(csum_add(0, ip, IP4_HDR_LEN)));
	memcpy(ip + IP4_HDR_LEN, in, len - ETH_HDR_LEN);
	return len + IP4_HDR_LEN;
}

/* Fragment i of d at data bytes a fragment (rewritten by out, NULL: as it
 * is), inside IPIP from src to dst in a frame smac -> dmac when src is
 * given (as a DSR front node sends it), else bare. */
static inline size_t xt_ipip_fragment(const struct pkt_desc *d, const struct xt_rewrite *out,
				      int i, size_t data, const uint8_t *smac, const uint8_t *dmac,
				      const char *src, const char *dst, uint8_t *buf)
{
	uint8_t inner[PKT_MAX];
	size_t len;

	if (!src)
		return xt_fragment(d, out, i, data, buf);
	len = xt_fragment(d, out, i, data, inner);
	return xt_ipip_wrap(inner, len, smac, dmac, src, dst, buf);
}

/* An ICMP error (type, code; mtu in bytes 6-7) from src to dst in a frame
 * from smac to dmac, its IPv4 header with tos and id, quoting the first
 * qlen bytes of q's IPv4 datagram (0: all of it). */
static inline size_t xt_icmp_error(const uint8_t *dmac, const uint8_t *smac, const char *src,
				   const char *dst, uint8_t tos, uint16_t id, uint8_t type,
				   uint8_t code, uint16_t mtu, const struct pkt_desc *q, size_t qlen,
				   uint8_t *buf)
{
	uint8_t qb[PKT_MAX], *ip = buf + ETH_HDR_LEN, *ic = ip + IP4_HDR_LEN;
	size_t ql = xt_build(q, qb) - ETH_HDR_LEN;

	if (qlen && qlen < ql)
		ql = qlen;
	memset(buf, 0, ETH_HDR_LEN + IP4_HDR_LEN + ICMP_HDR_LEN + ql);
	memcpy(buf, dmac, 6);
	memcpy(buf + 6, smac, 6);
	pkt_put16(buf + 12, PKT_ETH_IP);
	ip[0] = 0x45;
	ip[1] = tos;
	pkt_put16(ip + 2, (uint16_t)(IP4_HDR_LEN + ICMP_HDR_LEN + ql));
	pkt_put16(ip + 4, id);
	ip[8] = 64;
	ip[9] = IPPROTO_ICMP;
	inet_pton(AF_INET, src, ip + 12);
	inet_pton(AF_INET, dst, ip + 16);
	pkt_put16(ip + 10, (uint16_t)~csum_fold(csum_add(0, ip, IP4_HDR_LEN)));
	ic[0] = type;
	ic[1] = code;
	pkt_put16(ic + 6, mtu);
	memcpy(ic + ICMP_HDR_LEN, qb + ETH_HDR_LEN, ql);
	pkt_put16(ic + 2, (uint16_t)~csum_fold(csum_add(0, ic, ICMP_HDR_LEN + ql)));
	return ETH_HDR_LEN + IP4_HDR_LEN + ICMP_HDR_LEN + ql;
}

/* Run one step against dp and check everything it names. Returns false
 * (after saying why) on any difference, so a scenario can go on and show
 * what its later steps do. */
static inline bool xt_step_check(struct xlb_dp *dp, const struct xt_step *s, int n)
{
	uint8_t in[PKT_MAX], exp[PKT_MAX];
	struct xt_stats before, after;
	struct xt_run r;
	size_t len, elen;
	char what[256];
	bool ok;
	int i;

	snprintf(what, sizeof(what), "step %d (%s)", n, s->what);
	len = xt_build(&s->pkt, in);
	elen = xt_build_expected(s, exp);
	before = xt_stats(dp);
	xt_run(dp, in, len, s->ifindex, &r);
	after = xt_stats(dp);
	if (xt_verbose())
		xt_stats_print(&after, &before);
	ok = xt_check(what, &r, s->verdict, exp, elen);
	for (i = 0; i < XT_MAX_STATS; i++) {
		enum xlb_stat st = s->stats[i];

		if (xt_delta(&after, &before, st) != 1) {
			print_error("%s: %s moved by %llu, expected 1\n", what, xlb_stat_name(st),
				    (unsigned long long)xt_delta(&after, &before, st));
			xt_stats_print(&after, &before);
			ok = false;
		}
	}
	return ok;
}

static inline void xt_step_run(struct xlb_dp *dp, const struct xt_step *s, int n)
{
	if (!xt_step_check(dp, s, n))
		fail_msg("step %d (%s)", n, s->what);
}

/* Every step runs; the scenario fails at the end if any step did. */
static inline void xt_scenario_run(struct xlb_dp *dp, const struct xt_scenario *sc)
{
	int i, bad = 0;

	for (i = 0; i < XT_MAX_STEPS && sc->steps[i].what; i++)
		if (!xt_step_check(dp, &sc->steps[i], i + 1))
			bad++;
	if (bad)
		fail_msg("%d of %d steps failed", bad, i);
}

/* Ingress devices a table names before they exist (the test makes them
 * in its own namespace): resolved by xt_scenario_run_on. */
#define XT_ON_CLI	1000001u
#define XT_ON_BE	1000002u

/* xt_scenario_run with XT_ON_CLI and XT_ON_BE replaced by the devices. */
static inline void xt_scenario_run_on(struct xlb_dp *dp, const struct xt_scenario *sc,
				      uint32_t if_cli, uint32_t if_be)
{
	int i, bad = 0;

	for (i = 0; i < XT_MAX_STEPS && sc->steps[i].what; i++) {
		struct xt_step s = sc->steps[i];

		s.ifindex = s.ifindex == XT_ON_CLI ? if_cli :
			    s.ifindex == XT_ON_BE ? if_be : s.ifindex;
		bad += !xt_step_check(dp, &s, i + 1);
	}
	if (bad)
		fail_msg("%d of %d steps failed", bad, i);
}

#endif /* XLB_TEST_FLOW_H */
