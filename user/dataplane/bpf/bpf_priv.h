/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Private state of the BPF dataplane, shared by its files. */
#ifndef XLB_DP_BPF_PRIV_H
#define XLB_DP_BPF_PRIV_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "dataplane/dataplane.h"
#include "util/htab.h"
#include "util/ranges.h"
#include "netlink/nlsock.h"

struct xlb;		/* the generated skeletons: XDP, */
struct xlb_sock;	/* socket programs, */
struct xlb_tc_pod;	/* pod veth programs, */
struct xlb_sock_destroy; /* the UDP socket iterator */
struct bpf_link;
struct bpf_object;

#define XLB_SOCK_HOOKS 4	/* connect4, sendmsg4, recvmsg4, getpeername4 */

/* A pod veth xlb is attached to, or a NIC (nic: tc ingress only). */
struct pod_iface {
	char ifname[16];
	int ifindex;
	int nic;
	int link_fd[3];		/* tcx links: ingress, egress, a NIC's ingress (unpinned mode) */
};

/* One service as programmed: what user space must remember to change it
 * later without reading the whole datapath back. */
struct svc_state {
	struct xlb_svc_ident ident;	/* key in xlb_dp_bpf.by_key */
	struct xlb_service_spec spec;
	uint32_t id;
	uint32_t sel_base, slots;
	uint32_t prev_base, prev_slots;	/* the table before the last update (svc_prev) */
	/* the external keys' table before the last update, when it was their
	 * own (np_prev_own: np_own then); else they shared prev_base's */
	bool np_prev_own;
	uint32_t np_prev_base, np_prev_slots;
	uint64_t prev_since;		/* when they became the previous ones (xlb_clock_ns) */
	/* The external keys (node port, LoadBalancer and external IPs) with a
	 * table of their own (np_sel_base) when the traffic policies differ:
	 * the service address's follows internalTrafficPolicy, theirs
	 * externalTrafficPolicy (Local: the node's own endpoints; 0 slots:
	 * none). np_own false: one table for both. */
	bool np_own;
	uint32_t np_sel_base, np_slots;
	size_t n_be;
	struct xlb_backend_spec *be;	/* n_be entries */
	uint32_t *be_id;		/* backend ids, parallel to be[] */
	/* Adoption only: an external key was read (adopt_ext), and whether
	 * it sends by DSR (adopt_dsr). */
	bool adopt_ext, adopt_dsr;
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
	bool lb_mode_dsr;		/* --lb-mode dsr: the services' default */
	uint32_t be_hint, svc_hint;	/* next-fit allocation cursors */
	struct xlb_ranges sel;
	uint32_t *port_refs;		/* 2 x 65536: backends, node ports using each port */

	/* next hops of backends on other nodes kept resolved (netlink/neigh.h):
	 * a routing socket, opened on first use, and the backend addresses
	 * done (struct xlb_addr -> (void *)1) */
	struct nlsock nl;
	bool nl_open;
	struct xlb_htab nh_done;

	struct dp_link *links;		/* unpinned mode only */
	size_t n_links;
	int ncpus;

	/* Socket programs (sock.c) and pod veth programs (pod.c), loaded over
	 * the XDP program's maps. NULL when the kernel refused them; *_why
	 * says why. Neither stops the XDP dataplane. */
	struct xlb_sock *sock;
	char sock_why[256];
	char sock_cgroup[256];		/* attached here; "" = not attached */
	int sock_link_fd[XLB_SOCK_HOOKS]; /* unpinned mode */
	uint64_t netns_cookie;		/* the netns this process runs in */
	/* Aborting connected UDP sockets of removed backends (6.5+). */
	struct xlb_sock_destroy *sockd;
	struct bpf_link *sockd_link;	/* the iterator */
	char sockd_why[160];		/* !sockd: why */
	pthread_mutex_t gone_lock;	/* gone, n_gone: written by service changes */
	struct xlb_sock_gone { struct xlb_sock_gone_key key; uint32_t svc_id; } *gone;
	size_t n_gone;
	int gone_efd;			/* readable: gone is not empty (upkeep_fd) */
	struct xlb_tc_pod *tc;
	char tc_why[256];
	int tcx;			/* -1 not tried yet, 1 tcx links (6.6+), 0 netlink clsact */
	struct pod_iface *pods;
	size_t n_pods;
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

/* Load obj over this dataplane's maps: a map the XDP object has too is
 * that map; the others are pinned under pin_dir (or not at all). */
int xlb_dp_bpf_prepare_object(struct xlb_dp_bpf *d, struct bpf_object *obj);

void xlb_dp_bpf_sock_open(struct xlb_dp_bpf *d);
void xlb_dp_bpf_sock_close(struct xlb_dp_bpf *d);
int bpf_sock_attach(struct xlb_dp *dp, const char *cgroup, char *err, size_t errlen);
int bpf_sock_detach(struct xlb_dp *dp, char *err, size_t errlen);
int bpf_sock_stats(struct xlb_dp *dp, uint64_t out[XLB_SOCK_STAT_MAX]);
int bpf_sock_service_stats(struct xlb_dp *dp, const struct xlb_service_spec *svc,
			   struct xlb_sock_counters *out);
int xlb_dp_bpf_sock_unpin(const char *pin_dir, const char *name);
/* Backend addr:port (be) left service svc_id: its connected UDP sockets
 * through that service are aborted by the next upkeep (main thread). */
void xlb_dp_bpf_sock_backend_gone(struct xlb_dp_bpf *d, const struct xlb_addr *addr,
				  uint16_t port_be, uint32_t svc_id);
int bpf_upkeep_fd(struct xlb_dp *dp);
void bpf_upkeep(struct xlb_dp *dp);
/* Where pods' network namespaces are pinned (CNI under containerd, CRI-O). */
#define XLB_NETNS_DIR "/run/netns"

void xlb_dp_bpf_pod_open(struct xlb_dp_bpf *d);
void xlb_dp_bpf_pod_close(struct xlb_dp_bpf *d);
int bpf_pod_attach(struct xlb_dp *dp, const char *ifname, char *err, size_t errlen);
int bpf_pod_detach(struct xlb_dp *dp, const char *ifname, int ifindex, char *err, size_t errlen);
int bpf_pod_stats(struct xlb_dp *dp, uint64_t out[XLB_POD_STAT_MAX]);
void xlb_dp_bpf_pod_unpin(const char *pin_dir);
int xlb_dp_bpf_nic_attach(struct xlb_dp_bpf *d, const char *ifname, char *err, size_t errlen);
void xlb_dp_bpf_nic_detach(struct xlb_dp_bpf *d, const char *ifname);
size_t xlb_dp_bpf_n_pods(const struct xlb_dp_bpf *d);

int xlb_dp_bpf_percpu_array_sum(struct xlb_dp_bpf *d, int fd, uint64_t *out, uint32_t n);

int bpf_service_set(struct xlb_dp *dp, const struct xlb_service_spec *svc,
		    const struct xlb_backend_spec *be, size_t n, char *err, size_t errlen);
int bpf_service_delete(struct xlb_dp *dp, const struct xlb_service_spec *svc,
		       char *err, size_t errlen);
int bpf_service_list(struct xlb_dp *dp, xlb_svc_cb cb, void *arg);
int xlb_dp_bpf_svc_id(struct xlb_dp_bpf *d, const struct xlb_service_spec *spec, uint32_t *id);
int bpf_service_stats(struct xlb_dp *dp, const struct xlb_service_spec *svc,
		      struct xlb_counters *out);

#endif /* XLB_DP_BPF_PRIV_H */
