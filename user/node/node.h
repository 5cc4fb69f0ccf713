/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The node's policy: which interfaces the datapath attaches to (--iface
 * patterns: the NICs, XDP; --pod-iface patterns: the host ends of pod
 * veths, tc; both followed as links come and go), where the socket
 * programs go (--socket-lb, --cgroup-root), which addresses NodePort
 * answers on (--nodeport-addresses), and which dataplane serves the node
 * (--dataplane auto|xdp|ipvs, with auto's fallback to IPVS).
 *
 * The dataplane is chosen before the core exists, so that choice calls it
 * directly (xlbd's only thread then); once the core runs, links and
 * addresses reach the dataplane through the core alone.
 */
#ifndef XLB_NODE_H
#define XLB_NODE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core_priv.h"
#include "dataplane/dataplane.h"
#include "util/portset.h"

struct xlb_node;

int xlb_node_new(struct xlb_node **out);
void xlb_node_free(struct xlb_node *n);
/* "eth0,veth*": shell patterns of interfaces to attach to (repeatable). */
int xlb_node_add_ifaces(struct xlb_node *n, const char *list, char *err, size_t errlen);
/* "cali*,lxc*": shell patterns of the host ends of pod veths (repeatable).
 * A link matching these gets the pod veth programs (tc), never XDP, also
 * when an --iface pattern matches it too. */
int xlb_node_add_pod_ifaces(struct xlb_node *n, const char *list, char *err, size_t errlen);
/* Socket-level balancing on or off, and on which cgroup2 directory (NULL:
 * the root of the cgroup2 hierarchy, and then only when xlbd runs in the
 * node's own network namespace: the root holds every process of the
 * machine). Applied by xlb_node_watch. */
void xlb_node_set_socket_lb(struct xlb_node *n, bool on, const char *cgroup);
/* "10.0.0.0/8,192.168.1.1": NodePort answers on addresses in these only
 * (default: every non-loopback IPv4 address). */
int xlb_node_add_cidrs(struct xlb_node *n, const char *list, char *err, size_t errlen);

/* Open the dataplane mode names ("auto", "xdp", "ipvs"; dpo for XDP) and
 * fill co: dp, dp_name, dp_reason and the interfaces attached while
 * choosing (valid while n lives). 0, or a negative errno, logged. */
int xlb_node_open_dataplane(struct xlb_node *n, const char *mode, const struct xlb_dp_opts *dpo,
			    struct xlb_core_opts *co);
/* Follow links and addresses from now on, through core: the current ones
 * first (attached and added before this returns); then the socket
 * programs, once the core holds the services. */
int xlb_node_watch(struct xlb_node *n, struct xlb_core *core);
/* Readable when xlb_node_dispatch() has link or address changes to apply. */
int xlb_node_fd(struct xlb_node *n);
void xlb_node_dispatch(struct xlb_node *n);

/* A range of ports xlb owns on this node, and whether it is reserved even
 * when it lies outside the kernel's ephemeral ports (which may grow). */
struct xlb_node_ports {
	struct xlb_port_range range;
	const char *what;		/* "NodePort range", for the log */
	bool always;
};

/* Keep the node's own connections off these ports: each range inside
 * net.ipv4.ip_local_port_range (or marked always) is added to
 * net.ipv4.ip_local_reserved_ports of xlbd's network namespace (ports.c).
 * 0 or a negative errno, logged. */
int xlb_node_reserve_ports(const struct xlb_node_ports *p, size_t n);

/* xlbd --cleanup: remove what the dataplane(s) of mode left in the kernel.
 * 0, or 1 when something could not be removed (logged). */
int xlb_node_cleanup(const char *mode, const char *pin_dir);

#endif /* XLB_NODE_H */
