/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Creating the core (for xlbd's main only). */
#ifndef XLB_CORE_PRIV_H
#define XLB_CORE_PRIV_H

#include "core.h"
#include "dataplane/dataplane.h"

struct xlb_core_opts {
	struct xlb_dp *dp;		/* owned by the caller, outlives the core */
	const char *state_dir;		/* NULL or "": no state file */
	const char *dp_name;		/* "xdp" | "ipvs" */
	const char *dp_reason;
};

int xlb_core_new(const struct xlb_core_opts *o, struct xlb_core **out, char *err, size_t errlen);
void xlb_core_free(struct xlb_core *c);
void xlb_core_set_interfaces(struct xlb_core *c, const char *const *names, size_t n);
/* Periodic work: conntrack GC. */
void xlb_core_tick(struct xlb_core *c);

#endif /* XLB_CORE_PRIV_H */
