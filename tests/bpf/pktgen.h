/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet builder and checksum checker for the datapath tests.
 *
 * A packet is described by a struct pkt_desc (designated initialisers, all
 * fields host order, addresses as dotted quads) and serialised by
 * pkt_build() byte by byte at fixed offsets, so the result does not depend
 * on host endianness or on any header struct. pkt_build() always writes
 * correct checksums (RFC 791 for IPv4, RFC 793/768 with the pseudo-header
 * for TCP/UDP); the "breakage" fields are applied afterwards, so malformed
 * packets are malformed in exactly one way.
 *
 * pkt_csum_check() recomputes the IPv4 header checksum and the TCP/UDP
 * checksum of a frame from scratch. pkt_parse() gives the offsets and the
 * few fields assertions need.
 */
#ifndef XLB_TEST_PKTGEN_H
#define XLB_TEST_PKTGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#define PKT_MAX		9216	/* a 9000-byte jumbo datagram, its Ethernet header and tags */

#define ETH_HDR_LEN	14
#define VLAN_HDR_LEN	4
#define IP4_HDR_LEN	20
#define IP6_HDR_LEN	40
#define TCP_HDR_LEN	20
#define UDP_HDR_LEN	8
#define ICMP_HDR_LEN	8

#define PKT_ETH_IP	0x0800
#define PKT_ETH_ARP	0x0806
#define PKT_ETH_IPV6	0x86dd
#define PKT_ETH_8021Q	0x8100
#define PKT_ETH_8021AD	0x88a8

/* IPv4 flags and fragment offset field (host order). */
#define PKT_IP_DF	0x4000
#define PKT_IP_MF	0x2000
#define PKT_IP_OFFMASK	0x1fff

/* TCP flags, byte 13 of the header. */
#define PKT_FIN		0x01
#define PKT_SYN		0x02
#define PKT_RST		0x04
#define PKT_PSH		0x08
#define PKT_ACK		0x10

#define PKT_DOFF_ZERO	0x10	/* pkt_desc.doff: write a data offset of 0 */

struct pkt_desc {
	uint8_t eth_dst[6];
	uint8_t eth_src[6];
	uint8_t n_vlan;		/* 802.1Q tags between the MACs and the type, 0..2 */
	uint16_t vlan_tpid[2];	/* per tag, outer first; 0 = 0x8100 */
	uint16_t vlan_tci[2];
	uint16_t ethertype;	/* 0 = IPv4; PKT_ETH_ARP / PKT_ETH_IPV6 build those */

	const char *saddr;	/* IPv4 (or IPv6 for PKT_ETH_IPV6) literal */
	const char *daddr;
	uint8_t proto;		/* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP */
	uint8_t tos;
	uint8_t ttl;		/* 0 = 64 */
	uint16_t ip_id;
	uint16_t frag;		/* PKT_IP_DF | PKT_IP_MF | offset in 8-byte units */
	uint8_t ip_opt_len;	/* bytes of IPv4 options (router alert, then NOPs), 4k <= 40 */

	uint16_t sport, dport;	/* TCP/UDP ports; ICMP echo id = sport */
	uint32_t seq, ack;
	uint8_t tcp_flags;
	uint16_t window;
	uint8_t tcp_opt_len;	/* 20 = a Linux SYN block, 12 = NOP,NOP,TS, else NOPs */
	const void *payload;
	uint16_t payload_len;	/* payload NULL: bytes 'a', 'b', ... */

	bool udp_csum_zero;	/* UDP without checksum (RFC 768) */
	bool csum_partial;	/* L4 checksum field = folded pseudo-header sum,
				 * as Linux leaves it with CHECKSUM_PARTIAL */

	/* Breakage, applied after the checksums. */
	uint8_t ihl;		/* 0 = from ip_opt_len */
	uint8_t doff;		/* 0 = from tcp_opt_len; PKT_DOFF_ZERO = a literal 0 */
	int16_t tot_len_delta;	/* added to the IPv4 total length field */
	uint16_t pad;		/* Ethernet trailer bytes (zero) after the datagram */
	uint16_t cut;		/* truncate the frame to this many bytes; 0 = none */
};

static inline void pkt_put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static inline void pkt_put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}

static inline uint16_t pkt_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t pkt_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One's complement sum of big-endian 16-bit words (RFC 1071), unfolded. */
static inline uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += pkt_get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static inline uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* IPv4 pseudo-header sum; saddr/daddr point at 4 wire-order bytes. */
static inline uint32_t csum_pseudo4(const uint8_t *saddr, const uint8_t *daddr,
				    uint8_t proto, uint16_t l4len)
{
	uint32_t sum = 0;

	sum = csum_add(sum, saddr, 4);
	sum = csum_add(sum, daddr, 4);
	return sum + proto + l4len;
}

static inline uint32_t csum_pseudo6(const uint8_t *saddr, const uint8_t *daddr,
				    uint8_t proto, uint32_t l4len)
{
	uint32_t sum = 0;

	sum = csum_add(sum, saddr, 16);
	sum = csum_add(sum, daddr, 16);
	return sum + (l4len >> 16) + (l4len & 0xffff) + proto;
}

static inline void pkt_fill_payload(uint8_t *p, const struct pkt_desc *d)
{
	uint16_t i;

	if (d->payload) {
		memcpy(p, d->payload, d->payload_len);
		return;
	}
	for (i = 0; i < d->payload_len; i++)
		p[i] = 'a' + i % 26;
}

static inline void pkt_tcp_options(uint8_t *p, uint8_t len)
{
	static const uint8_t syn[20] = {
		2, 4, 0x05, 0xb4,		/* MSS 1460 */
		4, 2,				/* SACK permitted */
		8, 10, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, /* timestamps */
		1,				/* NOP */
		3, 3, 7,			/* window scale 7 */
	};
	static const uint8_t ts[12] = {
		1, 1, 8, 10, 0x12, 0x34, 0x56, 0x79, 0x9a, 0xbc, 0xde, 0xf0,
	};

	if (len == sizeof(syn))
		memcpy(p, syn, len);
	else if (len == sizeof(ts))
		memcpy(p, ts, len);
	else
		memset(p, 1, len);
}

/* Serialise d into buf. Returns the frame length, or 0 if it does not fit
 * or an address does not parse (a bug in the test, reported on stderr). */
static inline size_t pkt_build(const struct pkt_desc *d, uint8_t *buf, size_t cap)
{
	uint8_t *p = buf, *ip, *l4;
	uint16_t ethertype = d->ethertype ? d->ethertype : PKT_ETH_IP;
	size_t len, l4len, hl;
	int i;

	memset(buf, 0, cap);
	if (cap < 172u + d->pad + d->payload_len)
		goto toolong;
	memcpy(p, d->eth_dst, 6);
	memcpy(p + 6, d->eth_src, 6);
	p += 12;
	for (i = 0; i < d->n_vlan && i < 2; i++) {
		pkt_put16(p, d->vlan_tpid[i] ? d->vlan_tpid[i] : PKT_ETH_8021Q);
		pkt_put16(p + 2, d->vlan_tci[i]);
		p += VLAN_HDR_LEN;
	}
	pkt_put16(p, ethertype);
	p += 2;

	if (ethertype == PKT_ETH_ARP) {
		/* ARP request (RFC 826): who has daddr? tell saddr */
		pkt_put16(p, 1);
		pkt_put16(p + 2, PKT_ETH_IP);
		p[4] = 6;
		p[5] = 4;
		pkt_put16(p + 6, 1);
		memcpy(p + 8, d->eth_src, 6);
		if (inet_pton(AF_INET, d->saddr, p + 14) != 1 ||
		    inet_pton(AF_INET, d->daddr, p + 24) != 1)
			goto badaddr;
		len = p + 28 - buf;
		goto out;
	}

	if (ethertype == PKT_ETH_IPV6) {
		ip = p;
		l4 = ip + IP6_HDR_LEN;
		l4len = TCP_HDR_LEN + d->payload_len;
		pkt_put32(ip, 0x60000000);
		pkt_put16(ip + 4, l4len);
		ip[6] = IPPROTO_TCP;
		ip[7] = d->ttl ? d->ttl : 64;
		if (inet_pton(AF_INET6, d->saddr, ip + 8) != 1 ||
		    inet_pton(AF_INET6, d->daddr, ip + 24) != 1)
			goto badaddr;
		pkt_put16(l4, d->sport);
		pkt_put16(l4 + 2, d->dport);
		pkt_put32(l4 + 4, d->seq);
		pkt_put32(l4 + 8, d->ack);
		l4[12] = 5 << 4;
		l4[13] = d->tcp_flags;
		pkt_put16(l4 + 14, d->window);
		pkt_fill_payload(l4 + TCP_HDR_LEN, d);
		pkt_put16(l4 + 16, ~csum_fold(csum_add(csum_pseudo6(ip + 8, ip + 24, IPPROTO_TCP, l4len),
						       l4, l4len)));
		len = l4 + l4len - buf;
		goto out;
	}

	if (ethertype != PKT_ETH_IP) {
		/* Any other type: 46 bytes of zeros as the body. */
		len = p + 46 - buf;
		goto out;
	}

	ip = p;
	hl = IP4_HDR_LEN + d->ip_opt_len;
	l4 = ip + hl;
	ip[0] = 0x40 | (hl / 4);
	ip[1] = d->tos;
	pkt_put16(ip + 4, d->ip_id);
	pkt_put16(ip + 6, d->frag);
	ip[8] = d->ttl ? d->ttl : 64;
	ip[9] = d->proto;
	if (inet_pton(AF_INET, d->saddr, ip + 12) != 1 ||
	    inet_pton(AF_INET, d->daddr, ip + 16) != 1)
		goto badaddr;
	if (d->ip_opt_len) {
		/* Router Alert (RFC 2113), then NOPs, the last byte End of List. */
		memset(ip + IP4_HDR_LEN, 1, d->ip_opt_len);
		ip[20] = 0x94;
		ip[21] = 4;
		ip[22] = 0;
		ip[23] = 0;
		if (d->ip_opt_len > 4)
			ip[hl - 1] = 0;
	}

	switch (d->proto) {
	case IPPROTO_TCP: {
		size_t th = TCP_HDR_LEN + d->tcp_opt_len;

		l4len = th + d->payload_len;
		pkt_put16(l4, d->sport);
		pkt_put16(l4 + 2, d->dport);
		pkt_put32(l4 + 4, d->seq);
		pkt_put32(l4 + 8, d->ack);
		l4[12] = (th / 4) << 4;
		l4[13] = d->tcp_flags;
		pkt_put16(l4 + 14, d->window);
		pkt_tcp_options(l4 + TCP_HDR_LEN, d->tcp_opt_len);
		pkt_fill_payload(l4 + th, d);
		break;
	}
	case IPPROTO_UDP:
		l4len = UDP_HDR_LEN + d->payload_len;
		pkt_put16(l4, d->sport);
		pkt_put16(l4 + 2, d->dport);
		pkt_put16(l4 + 4, l4len);
		pkt_fill_payload(l4 + UDP_HDR_LEN, d);
		break;
	case IPPROTO_ICMP:
		/* Echo request (RFC 792). */
		l4len = ICMP_HDR_LEN + d->payload_len;
		l4[0] = 8;
		pkt_put16(l4 + 4, d->sport);
		pkt_put16(l4 + 6, d->dport);
		pkt_fill_payload(l4 + ICMP_HDR_LEN, d);
		pkt_put16(l4 + 2, ~csum_fold(csum_add(0, l4, l4len)));
		break;
	default:
		l4len = d->payload_len;
		pkt_fill_payload(l4, d);
		break;
	}
	pkt_put16(ip + 2, hl + l4len);
	pkt_put16(ip + 10, ~csum_fold(csum_add(0, ip, hl)));

	if (d->proto == IPPROTO_TCP || d->proto == IPPROTO_UDP) {
		uint8_t *check = l4 + (d->proto == IPPROTO_TCP ? 16 : 6);
		uint32_t ph = csum_pseudo4(ip + 12, ip + 16, d->proto, l4len);
		uint16_t c;

		if (d->csum_partial) {
			c = csum_fold(ph);
		} else if (d->proto == IPPROTO_UDP && d->udp_csum_zero) {
			c = 0;
		} else {
			c = ~csum_fold(csum_add(ph, l4, l4len));
			if (d->proto == IPPROTO_UDP && c == 0)
				c = 0xffff;	/* RFC 768: computed zero is sent as all ones */
		}
		pkt_put16(check, c);
	}
	len = l4 + l4len - buf;

	/* Breakage. */
	if (d->ihl)
		ip[0] = 0x40 | (d->ihl & 0x0f);
	if (d->doff && d->proto == IPPROTO_TCP)
		l4[12] = (uint8_t)((d->doff & 0xf) << 4);
	if (d->tot_len_delta) {
		/* Keep the header checksum right: only the length lies. */
		pkt_put16(ip + 2, pkt_get16(ip + 2) + d->tot_len_delta);
		pkt_put16(ip + 10, 0);
		pkt_put16(ip + 10, ~csum_fold(csum_add(0, ip, hl)));
	}
out:
	len += d->pad;	/* memset above made the trailer zero */
	if (d->cut && d->cut < len)
		len = d->cut;
	return len;
toolong:
	fprintf(stderr, "pkt_build: frame does not fit in %zu bytes\n", cap);
	return 0;
badaddr:
	fprintf(stderr, "pkt_build: bad address %s or %s\n", d->saddr, d->daddr);
	return 0;
}

/* The fragment of the IPv4 datagram in frame buf (untagged) that carries
 * bytes [off, off + len) of its payload (off a multiple of 8), as a
 * router cuts it (RFC 791): the same header with its total length, MF
 * (more), the offset, DF clear and a fresh checksum. Written to out;
 * returns the fragment's frame length. */
static inline size_t pkt_fragment(const uint8_t *buf, size_t off, size_t len, bool more,
				  uint8_t *out)
{
	const uint8_t *ip = buf + ETH_HDR_LEN;
	size_t hl = (ip[0] & 0xf) * 4u;
	uint8_t *oip = out + ETH_HDR_LEN;

	memcpy(out, buf, ETH_HDR_LEN + hl);
	memcpy(oip + hl, ip + hl + off, len);
	pkt_put16(oip + 2, (uint16_t)(hl + len));
	pkt_put16(oip + 6, (uint16_t)((more ? PKT_IP_MF : 0) | (off / 8)));
	pkt_put16(oip + 10, 0);
	pkt_put16(oip + 10, (uint16_t)~csum_fold(csum_add(0, oip, hl)));
	return ETH_HDR_LEN + hl + len;
}

/* What pkt_parse() found. Offsets are from the start of the frame. */
struct pkt_info {
	bool ip4;		/* an IPv4 header was found */
	uint16_t ethertype;	/* after the VLAN tags */
	uint8_t n_vlan;
	size_t l3;		/* offset of the IPv4 header */
	size_t l4;		/* offset of the TCP/UDP header */
	size_t payload;		/* offset of the L4 payload */
	size_t payload_len;
	uint8_t proto;
	uint16_t tot_len;
	uint16_t frag;
	uint8_t ttl;
	uint32_t saddr, daddr;	/* host order */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t tcp_flags;
	uint16_t window;
	uint16_t l4_csum;
};

/* Parse Ethernet, up to two VLAN tags, IPv4 and TCP/UDP. Returns 0, or -1
 * with why filled in when the headers are not complete and consistent. */
static inline int pkt_parse(const uint8_t *p, size_t len, struct pkt_info *pi,
			    char *why, size_t whylen)
{
	size_t off = 12, hl, l4len;

	memset(pi, 0, sizeof(*pi));
	if (len < ETH_HDR_LEN) {
		snprintf(why, whylen, "frame of %zu bytes has no Ethernet header", len);
		return -1;
	}
	pi->ethertype = pkt_get16(p + off);
	while ((pi->ethertype == PKT_ETH_8021Q || pi->ethertype == PKT_ETH_8021AD) &&
	       off + 6 <= len) {
		off += VLAN_HDR_LEN;
		pi->n_vlan++;
		pi->ethertype = pkt_get16(p + off);
	}
	off += 2;
	if (pi->ethertype != PKT_ETH_IP)
		return 0;
	pi->l3 = off;
	if (len < off + IP4_HDR_LEN || (p[off] >> 4) != 4 || (p[off] & 0xf) < 5) {
		snprintf(why, whylen, "no valid IPv4 header at offset %zu", off);
		return -1;
	}
	hl = (p[off] & 0xf) * 4u;
	pi->tot_len = pkt_get16(p + off + 2);
	pi->frag = pkt_get16(p + off + 6);
	pi->ttl = p[off + 8];
	pi->proto = p[off + 9];
	pi->saddr = pkt_get32(p + off + 12);
	pi->daddr = pkt_get32(p + off + 16);
	if (pi->tot_len < hl || off + pi->tot_len > len) {
		snprintf(why, whylen, "IPv4 total length %u does not fit the %zu-byte frame",
			 pi->tot_len, len);
		return -1;
	}
	pi->ip4 = true;
	pi->l4 = off + hl;
	l4len = pi->tot_len - hl;
	if (pi->frag & (PKT_IP_MF | PKT_IP_OFFMASK))
		return 0;
	if (pi->proto == IPPROTO_TCP) {
		size_t th;

		if (l4len < TCP_HDR_LEN || (th = (p[pi->l4 + 12] >> 4) * 4u) < TCP_HDR_LEN ||
		    th > l4len) {
			snprintf(why, whylen, "TCP header does not fit the datagram");
			return -1;
		}
		pi->sport = pkt_get16(p + pi->l4);
		pi->dport = pkt_get16(p + pi->l4 + 2);
		pi->seq = pkt_get32(p + pi->l4 + 4);
		pi->ack = pkt_get32(p + pi->l4 + 8);
		pi->tcp_flags = p[pi->l4 + 13];
		pi->window = pkt_get16(p + pi->l4 + 14);
		pi->l4_csum = pkt_get16(p + pi->l4 + 16);
		pi->payload = pi->l4 + th;
		pi->payload_len = l4len - th;
	} else if (pi->proto == IPPROTO_UDP) {
		if (l4len < UDP_HDR_LEN) {
			snprintf(why, whylen, "UDP header does not fit the datagram");
			return -1;
		}
		pi->sport = pkt_get16(p + pi->l4);
		pi->dport = pkt_get16(p + pi->l4 + 2);
		pi->l4_csum = pkt_get16(p + pi->l4 + 6);
		pi->payload = pi->l4 + UDP_HDR_LEN;
		pi->payload_len = l4len - UDP_HDR_LEN;
	}
	return 0;
}

/* Recompute every checksum of an Ethernet/IPv4 frame from scratch: the
 * IPv4 header checksum, and for an unfragmented TCP, UDP or ICMP datagram
 * the L4 checksum (with the pseudo-header for TCP/UDP). A UDP checksum of
 * zero means "none" and verifies. Non-IPv4 frames verify trivially.
 * Returns 0, or -1 with why filled in. */
static inline int pkt_csum_check(const uint8_t *p, size_t len, char *why, size_t whylen)
{
	struct pkt_info pi;
	const uint8_t *ip, *l4;
	size_t hl, l4len;
	uint16_t s;

	if (pkt_parse(p, len, &pi, why, whylen))
		return -1;
	if (!pi.ip4)
		return 0;
	ip = p + pi.l3;
	hl = (ip[0] & 0xf) * 4u;
	s = csum_fold(csum_add(0, ip, hl));
	if (s != 0xffff) {
		snprintf(why, whylen, "IPv4 header checksum 0x%04x is wrong (header sums to 0x%04x)",
			 pkt_get16(ip + 10), s);
		return -1;
	}
	if (pi.frag & (PKT_IP_MF | PKT_IP_OFFMASK))
		return 0;
	l4 = p + pi.l4;
	l4len = pi.tot_len - hl;
	switch (pi.proto) {
	case IPPROTO_UDP:
		if (pi.l4_csum == 0)
			return 0;
		/* fall through */
	case IPPROTO_TCP:
		s = csum_fold(csum_add(csum_pseudo4(ip + 12, ip + 16, pi.proto, l4len), l4, l4len));
		if (s != 0xffff) {
			snprintf(why, whylen, "%s checksum 0x%04x is wrong (segment sums to 0x%04x)",
				 pi.proto == IPPROTO_TCP ? "TCP" : "UDP", pi.l4_csum, s);
			return -1;
		}
		return 0;
	case IPPROTO_ICMP:
		s = csum_fold(csum_add(0, l4, l4len));
		if (s != 0xffff) {
			snprintf(why, whylen, "ICMP checksum is wrong (message sums to 0x%04x)", s);
			return -1;
		}
		return 0;
	default:
		return 0;
	}
}

/* Hex dump, 16 bytes a line, marking lines that differ from other. */
static inline void pkt_hexdump(FILE *f, const char *title, const uint8_t *p, size_t len,
			       const uint8_t *other, size_t olen)
{
	size_t i, j;

	fprintf(f, "  %s (%zu bytes):\n", title, len);
	for (i = 0; i < len; i += 16) {
		bool diff = false;

		for (j = i; j < i + 16 && j < len; j++)
			if (other && (j >= olen || p[j] != other[j]))
				diff = true;
		fprintf(f, "  %c %04zx:", diff ? '*' : ' ', i);
		for (j = i; j < i + 16 && j < len; j++)
			fprintf(f, " %02x", p[j]);
		fprintf(f, "\n");
	}
}

#endif /* XLB_TEST_PKTGEN_H */
