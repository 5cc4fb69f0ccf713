/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A thin flat API over the kernel's generic netlink family "IPVS" (libmnl),
 * in the shape of ipvsadm's libipvs: one call per command, no state beyond
 * the socket. Attribute layout per linux/ip_vs.h.
 *
 * Every call returns 0 or a negative errno. On error, err (when given)
 * names the command and the addresses, the kernel's errno, and the
 * kernel's extended-ack message when it sent one:
 *   "add destination 10.20.1.2:8080 to TCP 10.96.0.10:80: File exists (-17)"
 * Ports are in host order here; the wire carries them big-endian.
 */
#ifndef XLB_IPVS_NL_H
#define XLB_IPVS_NL_H

#include <stddef.h>
#include <stdint.h>
#include <linux/ip_vs.h>

#include "model/model.h"

struct ipvs_nl;

struct ipvs_stats {
	uint64_t conns;		/* connections scheduled */
	uint64_t inpkts, outpkts;
	uint64_t inbytes, outbytes;
};

/* A virtual service, keyed by (addr, proto, port); fwmark services are
 * listed with proto 0 and never created here. */
struct ipvs_service {
	struct xlb_ip addr;
	uint16_t port;
	uint8_t proto;		/* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP */
	uint32_t fwmark;	/* read back only */
	char sched[IP_VS_SCHEDNAME_MAXLEN];
	uint32_t flags;		/* IP_VS_SVC_F_* */
	uint32_t timeout;	/* persistence, seconds */
	uint32_t netmask;	/* persistence granularity: IPv4 mask (network
				 * order), IPv6 prefix length */
	struct ipvs_stats stats; /* read back only */
};

/* A destination (real server) of a virtual service. */
struct ipvs_dest {
	struct xlb_ip addr;
	uint16_t port;
	uint32_t fwd;		/* IP_VS_CONN_F_MASQ, ... */
	int32_t weight;		/* 0: no new connections */
	uint32_t u_thresh, l_thresh;
	uint32_t active_conns, inact_conns, persist_conns; /* read back only */
	struct ipvs_stats stats;			   /* read back only */
};

struct ipvs_info {
	uint32_t version;	/* e.g. 0x010201 for 1.2.1 */
	uint32_t conn_tab_size;
};

/* Connection timeouts, seconds (ipvsadm --set). */
struct ipvs_timeouts {
	uint32_t tcp, tcp_fin, udp;
};

/* Resolve the family and open the socket. -ENOENT (with a message saying
 * so) when the kernel has no IPVS: module not loaded, or not built. */
int ipvs_nl_open(struct ipvs_nl **out, char *err, size_t errlen);
void ipvs_nl_close(struct ipvs_nl *h);

int ipvs_nl_add_service(struct ipvs_nl *h, const struct ipvs_service *s, char *err, size_t errlen);
int ipvs_nl_edit_service(struct ipvs_nl *h, const struct ipvs_service *s, char *err, size_t errlen);
int ipvs_nl_del_service(struct ipvs_nl *h, const struct ipvs_service *s, char *err, size_t errlen);
/* Fill *s (found by addr, proto, port) from the kernel; -ESRCH if absent. */
int ipvs_nl_get_service(struct ipvs_nl *h, struct ipvs_service *s, char *err, size_t errlen);

int ipvs_nl_add_dest(struct ipvs_nl *h, const struct ipvs_service *s, const struct ipvs_dest *d,
		     char *err, size_t errlen);
int ipvs_nl_edit_dest(struct ipvs_nl *h, const struct ipvs_service *s, const struct ipvs_dest *d,
		      char *err, size_t errlen);
int ipvs_nl_del_dest(struct ipvs_nl *h, const struct ipvs_service *s, const struct ipvs_dest *d,
		     char *err, size_t errlen);

/* Dumps. The callback's non-zero return stops the walk and is returned. */
typedef int (*ipvs_service_cb)(const struct ipvs_service *s, void *arg);
typedef int (*ipvs_dest_cb)(const struct ipvs_dest *d, void *arg);
int ipvs_nl_list_services(struct ipvs_nl *h, ipvs_service_cb cb, void *arg,
			  char *err, size_t errlen);
int ipvs_nl_list_dests(struct ipvs_nl *h, const struct ipvs_service *s, ipvs_dest_cb cb,
		       void *arg, char *err, size_t errlen);

int ipvs_nl_get_info(struct ipvs_nl *h, struct ipvs_info *out, char *err, size_t errlen);
int ipvs_nl_get_timeouts(struct ipvs_nl *h, struct ipvs_timeouts *out, char *err, size_t errlen);

/* Parsers of one reply message (genl header + attributes), exposed for
 * tests with recorded kernel replies. 0, or -EINVAL when malformed. */
struct nlmsghdr;
int ipvs_nl_parse_service(const struct nlmsghdr *nlh, struct ipvs_service *out);
int ipvs_nl_parse_dest(const struct nlmsghdr *nlh, struct ipvs_dest *out);

/* "TCP 10.96.0.10:80" / "UDP [fd00::1]:53" */
const char *ipvs_service_str(const struct ipvs_service *s, char *buf, size_t len);
/* "10.20.1.2:8080" */
const char *ipvs_addr_port_str(const struct xlb_ip *ip, uint16_t port, char *buf, size_t len);

#endif /* XLB_IPVS_NL_H */
