/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Private state of the IPVS dataplane, shared by its files. */
#ifndef XLB_DP_IPVS_PRIV_H
#define XLB_DP_IPVS_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ipvs.h"
#include "ipvs_nl.h"
#include "ipset.h"
#include "netlink/nlsock.h"
#include "util/htab.h"

/* (address, port, proto): a service's or a backend's identity. */
struct ipvs_key {
	uint8_t addr[16];
	uint16_t port;
	uint8_t proto;
	uint8_t family;
};

/* One xlb service as programmed: its ClusterIP virtual service plus, for
 * NodePort, one virtual service per node address. */
struct isvc {
	struct ipvs_key key;		/* (vip, port, proto) */
	struct xlb_service_spec spec;
	uint32_t id;
	size_t n_be;
	struct xlb_backend_spec *be;	/* as given, including draining ones */
	uint32_t *be_id;		/* parallel to be[] */
	int64_t stats_ms;		/* when the cache below was filled */
	struct xlb_counters total;
	struct xlb_counters *be_cnt;	/* parallel to be[] */
};

struct refcnt {
	struct ipvs_key key;
	uint32_t n;
};

struct xlb_dp_ipvs {
	struct xlb_dp base;
	/* Every op holds it (ipvs.c's table): the ops that may run at any time
	 * (dataplane.h) share the netlink socket and the indexes below. */
	pthread_mutex_t mu;
	struct ipvs_nl *nl;
	struct nlsock rt;
	struct xlb_ipset *ips;
	int ifindex;			/* xlb-ipvs0 */
	struct xlb_htab svcs;		/* ipvs_key -> isvc */
	struct xlb_htab be_ids;		/* backend id -> isvc */
	struct xlb_htab vips;		/* addr -> refcnt (services on that address) */
	struct xlb_htab loops;		/* backend key -> refcnt (XLB-LOOP-BACK member) */
	uint32_t next_id, next_be_id;
	struct xlb_ip *node;		/* node addresses (NodePort answers there) */
	size_t n_node, cap_node;
	char ifnames[64][16];		/* attach() is a no-op: names only */
	size_t n_if;
	struct ipvs_timeouts to;
	unsigned int ticks;
	char summary[256];
};

static inline struct xlb_dp_ipvs *to_ipvs(struct xlb_dp *dp)
{
	return (struct xlb_dp_ipvs *)dp;
}

void ipvs_key_of(struct ipvs_key *k, const struct xlb_ip *ip, uint32_t port, uint8_t proto);
const char *ipvs_sched_of(enum xlb_algo a);
/* The virtual service of s at addr:port (ClusterIP or node address). */
void ipvs_vs_of(const struct isvc *s, const struct xlb_ip *addr, uint32_t port,
		struct ipvs_service *vs);
/* ipset element texts */
void ipvs_cip_elem(const struct xlb_ip *ip, uint32_t port, uint8_t proto, char *buf, size_t len);
void ipvs_loop_elem(const struct ipvs_key *k, char *buf, size_t len);
const char *ipvs_np_set(uint8_t proto);
/* refcounted membership: 1 when the count went 0 -> 1 (or 1 -> 0) */
int ipvs_ref(struct xlb_htab *h, const struct ipvs_key *k, int delta);

/* ipvs_svc.c */
int ipvs_service_set(struct xlb_dp *dp, const struct xlb_service_spec *svc,
		     const struct xlb_backend_spec *be, size_t n, char *err, size_t errlen);
int ipvs_service_delete(struct xlb_dp *dp, const struct xlb_service_spec *svc,
			char *err, size_t errlen);
int ipvs_service_list(struct xlb_dp *dp, xlb_svc_cb cb, void *arg);
int ipvs_service_stats(struct xlb_dp *dp, const struct xlb_service_spec *svc,
		       struct xlb_counters *out);
int ipvs_backend_stats(struct xlb_dp *dp, uint32_t id, struct xlb_counters *out);
/* Make vs (xlb's) carry exactly these backends (draining ones at weight
 * 0 while present, never added). */
int ipvs_ensure_vs(struct xlb_dp_ipvs *d, const struct ipvs_service *vs,
		   const struct xlb_backend_spec *be, size_t n, bool *created,
		   char *err, size_t errlen);
/* Delete vs; absent is fine. */
int ipvs_drop_vs(struct xlb_dp_ipvs *d, const struct ipvs_service *vs, char *err, size_t errlen);
/* Install s (adopted or new) in the indexes. */
int ipvs_svc_index(struct xlb_dp_ipvs *d, struct isvc *s);
void ipvs_svc_unindex(struct xlb_dp_ipvs *d, struct isvc *s);
void ipvs_svc_free(struct isvc *s);
/* The periodic upkeep: remove drained backends whose connections are gone,
 * and NodePort services left on addresses the node no longer has. */
int ipvs_expire(struct xlb_dp *dp, const struct xlb_ct_timeouts *t, uint32_t *removed);

/* ipvs_conn.c: the kernel's connection table (/proc/net/ip_vs_conn) */
struct ipvs_conn {
	uint8_t proto;
	struct xlb_ip caddr, vaddr, daddr;
	uint16_t cport, vport, dport;
	char state[16];
	uint32_t expires;	/* seconds left */
};
/* Read the table; *out is malloc'ed. -ENOENT when IPVS has no table here. */
int ipvs_conn_read(struct ipvs_conn **out, size_t *n);
/* Parse one line; 0, or -EINVAL for a header, an IPv6 or a bad line. */
int ipvs_conn_parse(const char *line, struct ipvs_conn *c);
/* Still carrying traffic (a draining destination must wait for it)? */
bool ipvs_conn_live(const struct ipvs_conn *c, const struct ipvs_timeouts *to);
int ipvs_ct_list(struct xlb_dp *dp, xlb_ct_cb cb, void *arg);

#endif /* XLB_DP_IPVS_PRIV_H */
