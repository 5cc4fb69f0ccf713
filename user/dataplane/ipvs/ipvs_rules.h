/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The few NAT rules the IPVS dataplane needs, kube-proxy's IPVS-mode shape,
 * matched against xlb's ipsets so the rules themselves never change:
 *
 *   nat PREROUTING  -> XLB-SERVICES
 *     NodePort traffic to a local address (dst port in XLB-NODE-PORT-TCP/
 *     UDP): mark for masquerade, so replies from a backend come back here
 *     for IPVS to un-NAT (externalTrafficPolicy: Cluster).
 *   nat POSTROUTING -> XLB-POSTROUTING
 *     hairpin: a backend reaching its own service and being chosen
 *     (dst,dst,src in XLB-LOOP-BACK) is masqueraded, else its own reply
 *     would bypass IPVS; marked packets are masqueraded.
 *
 * Programmed with iptables-restore --noflush (whichever backend the system's
 * iptables uses: nft or legacy), the way kube-proxy does; the chains are
 * xlb's own and rewritten whole, the jumps added only when missing.
 */
#ifndef XLB_IPVS_RULES_H
#define XLB_IPVS_RULES_H

#include <stddef.h>

#define XLB_IPVS_MASQ_MARK 0x4000	/* kube-proxy's bit: xlb replaces it */

/* Install or refresh the chains and jumps. -ENOENT when iptables-restore
 * is not installed. *backend gets e.g. "iptables 1.8.9 (nf_tables)". */
int ipvs_rules_ensure(char *backend, size_t blen, char *err, size_t errlen);
/* Remove the jumps and the chains; nothing to remove is not an error. */
int ipvs_rules_remove(char *err, size_t errlen);

#endif /* XLB_IPVS_RULES_H */
