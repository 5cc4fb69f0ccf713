/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Private state of the BPF dataplane, shared by its files. */
#ifndef XLB_DP_BPF_PRIV_H
#define XLB_DP_BPF_PRIV_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "dataplane/dataplane.h"
#include "util/htab.h"
#include "util/ranges.h"

struct xlb;	/* the generated skeleton */

/* One service as programmed: what user space must remember to change it
 * later without reading the whole datapath back. */
struct svc_state {
	struct xlb_svc_ident ident;	/* key in xlb_dp_bpf.by_key */
	struct xlb_service_spec spec;
	uint32_t id;
	uint32_t sel_base, slots;
	uint32_t prev_base, prev_slots;	/* the table before the last update (svc_prev) */
	uint64_t prev_since;		/* when it became the previous one (xlb_clock_ns) */
	size_t n_be;
	struct xlb_backend_spec *be;	/* n_be entries */
	uint32_t *be_id;		/* backend ids, parallel to be[] */
};

struct dp_link {
	char ifname[16];
	int fd;
};

struct xlb_dp_bpf {
	struct xlb_dp base;
	struct xlb *skel;
	char pin_dir[256];		/* "" when not pinning */
	uint32_t max_services, max_backends, sel_slots;
	bool xdp_generic;

	struct svc_state **by_id;	/* max_services entries */
	struct xlb_htab by_key;		/* struct xlb_svc_ident -> svc_state */
	uint32_t n_svc;

	uint8_t *be_used;		/* max_backends flags */
	uint32_t *be_gen;		/* last generation per backend id */
	uint64_t *be_freed;		/* when a free id was last freed (xlb_clock_ns), 0: never */
	uint64_t grace_ns;		/* freed ids and table ranges rest this long */
	uint32_t be_hint, svc_hint;	/* next-fit allocation cursors */
	struct xlb_ranges sel;
	uint32_t *port_refs;		/* 2 x 65536: backends, node ports using each port */

	struct dp_link *links;		/* unpinned mode only */
	size_t n_links;
	int ncpus;
};

static inline struct xlb_dp_bpf *to_bpf(struct xlb_dp *dp)
{
	return (struct xlb_dp_bpf *)dp;
}

int xlb_dp_bpf_adopt(struct xlb_dp_bpf *d);
void xlb_dp_bpf_prev_retire(struct xlb_dp_bpf *d);
void xlb_dp_bpf_svc_free_all(struct xlb_dp_bpf *d);
int xlb_dp_bpf_percpu_sum(struct xlb_dp_bpf *d, int fd, uint32_t key, struct xlb_counters *out);
int xlb_dp_bpf_percpu_zero(struct xlb_dp_bpf *d, int fd, uint32_t key, size_t val_size);

extern const struct xlb_dp_ops xlb_dp_bpf_ops;

int bpf_service_set(struct xlb_dp *dp, const struct xlb_service_spec *svc,
		    const struct xlb_backend_spec *be, size_t n, char *err, size_t errlen);
int bpf_service_delete(struct xlb_dp *dp, const struct xlb_service_spec *svc,
		       char *err, size_t errlen);
int bpf_service_list(struct xlb_dp *dp, xlb_svc_cb cb, void *arg);
int bpf_service_stats(struct xlb_dp *dp, const struct xlb_service_spec *svc,
		      struct xlb_counters *out);

#endif /* XLB_DP_BPF_PRIV_H */
