/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The IPVS dataplane: the same ops table as the XDP one (dataplane.h),
 * programmed into the kernel's IPVS the way kube-proxy's IPVS mode does it.
 *
 * What xlb creates, and how it recognises its own after a restart:
 *   - interface xlb-ipvs0 (dummy) holding every service address as /32, so
 *     that traffic to it is local and reaches IPVS;
 *   - ipset XLB-CLUSTER-IP (hash:ip,port, with comments): one member per
 *     service, "VIP,proto:port", commented "np=NODEPORT NAME". Membership is
 *     the ownership mark: a virtual service at VIP:port is xlb's only when
 *     it is a member; the comment carries what IPVS cannot store (the node
 *     port, the name);
 *   - ipsets XLB-NODE-PORT-TCP / -UDP (bitmap:port): the node ports in use;
 *     a virtual service on any address at such a (proto, port) is xlb's
 *     NodePort service (one per node address);
 *   - ipset XLB-LOOP-BACK (hash:ip,port,ip): backend,proto:port,backend, for
 *     hairpin masquerade;
 *   - the nat rules of ipvs_rules.h.
 * Every other virtual service (keepalived's, an operator's ipvsadm) is never
 * read into the model, changed or deleted. A foreign service on an address
 * and port xlb wants is a conflict (-EEXIST), not taken over.
 */
#ifndef XLB_DP_IPVS_H
#define XLB_DP_IPVS_H

#include <stddef.h>
#include "dataplane/dataplane.h"

#define XLB_IPVS_IFNAME		"xlb-ipvs0"
#define XLB_IPSET_CLUSTER_IP	"XLB-CLUSTER-IP"
#define XLB_IPSET_NODE_PORT_TCP	"XLB-NODE-PORT-TCP"
#define XLB_IPSET_NODE_PORT_UDP	"XLB-NODE-PORT-UDP"
#define XLB_IPSET_LOOP_BACK	"XLB-LOOP-BACK"

/* Open: create what is missing (interface, ipsets, rules, sysctls) and
 * adopt xlb's own virtual services. -ENOENT when the kernel has no IPVS. */
int xlb_dp_ipvs_open(const struct xlb_dp_opts *opts, struct xlb_dp **out,
		     char *err, size_t errlen);
/* One line for status: IPVS version, the sysctls in force, the rule
 * backend, and what open adopted and left alone. */
const char *xlb_dp_ipvs_summary(struct xlb_dp *dp);
/* Remove everything xlb created (services, interface, ipsets, rules);
 * foreign services stay. Missing pieces are not errors; a kernel without
 * IPVS has no services to remove. */
int xlb_dp_ipvs_cleanup(char *err, size_t errlen);

#endif /* XLB_DP_IPVS_H */
