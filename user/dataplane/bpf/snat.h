/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The SNAT maps from user space (include/xlb/snat.h): expiry, by the flow's
 * TCP state and idle time, with conntrack's lifetimes.
 */
#ifndef XLB_DP_BPF_SNAT_H
#define XLB_DP_BPF_SNAT_H

#include <stdint.h>
#include <xlb/snat.h>

#include "model/conntrack.h"

/* A flow's state for expiry, from its two entries (rev NULL: missing):
 * enum xlb_ct_state. A reset either way, or a FIN both ways, closes it;
 * it is established once the backend answered and the client
 * acknowledged. */
uint8_t xlb_snat_state(const struct xlb_snat4_val *fwd, const struct xlb_snat4_val *rev);

/* Remove the mappings of flows that ended or idled past their lifetime
 * in t, as of now (the datapath's coarse seconds), and reverse entries no
 * forward entry holds, once two seconds old (a mapping being made holds
 * its reverse entry alone for microseconds). *removed (may be NULL) counts
 * flows. 0 or a negative errno. */
int xlb_snat_expire(int fwd_fd, int rev_fd, const struct xlb_ct_timeouts *t, uint32_t now,
		    uint32_t *removed);

#endif /* XLB_DP_BPF_SNAT_H */
