/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The BPF dataplane's explain op: which backend the datapath would give a
 * packet (XDP, or tc on a pod veth) or a connect() (the socket programs),
 * and why, read from its live maps with the hook's own rules (the hash of
 * include/xlb/hash.h, the same slot arithmetic). Read-only: looks maps up,
 * changes nothing, so it needs no lock (dataplane.h).
 */
#ifndef XLB_DP_BPF_EXPLAIN_H
#define XLB_DP_BPF_EXPLAIN_H

#include "dataplane/dataplane.h"
#include "model/explain.h"

int xlb_dp_bpf_explain(struct xlb_dp *dp, const struct xlb_explain_req *q,
		       struct xlb_explain *out, char *err, size_t errlen);

#endif /* XLB_DP_BPF_EXPLAIN_H */
