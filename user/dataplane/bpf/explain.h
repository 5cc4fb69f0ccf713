/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The XDP dataplane's explain op: which backend the datapath would give a
 * packet, and why, read from its live maps with the datapath's own rules
 * (the hash of include/xlb/hash.h, the same slot arithmetic). Read-only:
 * looks maps up, changes nothing, so it needs no lock (dataplane.h).
 */
#ifndef XLB_DP_BPF_EXPLAIN_H
#define XLB_DP_BPF_EXPLAIN_H

#include "dataplane/dataplane.h"
#include "model/explain.h"

int xlb_dp_bpf_explain(struct xlb_dp *dp, const struct xlb_ip *src, uint16_t sport,
		       const struct xlb_ip *dst, uint16_t dport, uint8_t proto,
		       struct xlb_explain *out, char *err, size_t errlen);

#endif /* XLB_DP_BPF_EXPLAIN_H */
