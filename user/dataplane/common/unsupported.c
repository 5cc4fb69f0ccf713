// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Service fields the model carries before any dataplane serves them
 * (dataplane.h, xlb_dp_note_unsupported). */
#include <stdatomic.h>

#include "log.h"
#include "dataplane/dataplane.h"

enum { U_LB_IPS, U_EXT_IPS, U_RANGES, U_ETP, U_DSR, U_MAX };

static const char *const what[U_MAX] = {
	[U_LB_IPS] = "LoadBalancer ingress IPs are",
	[U_EXT_IPS] = "externalIPs are",
	[U_RANGES] = "loadBalancerSourceRanges are",
	[U_ETP] = "externalTrafficPolicy Local is",
	/* IPVS's tunnel method would need an ipip device in every pod */
	[U_DSR] = "lb-mode dsr (xlb.io/lb-mode) is",
};

static atomic_bool said[U_MAX];

void xlb_dp_note_unsupported(const struct xlb_service_spec *s)
{
	bool has[U_MAX] = {
		[U_LB_IPS] = s->n_lb_ips,
		[U_EXT_IPS] = s->n_external_ips,
		[U_RANGES] = s->n_source_ranges,
		[U_ETP] = s->ext_policy == XLB_POLICY_LOCAL,
		[U_DSR] = s->lb_mode == XLB_LB_MODE_DSR,
	};

	for (int i = 0; i < U_MAX; i++)
		if (has[i] && !atomic_exchange(&said[i], true))
			pr_warn("service %s: %s not served by the dataplane yet: ignored (its "
				"cluster IP and node port are served; logged once for all "
				"services)", s->name, what[i]);
}
