/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What each of xlbd's threads may do once it runs. Capabilities belong to
 * a thread, and a thread starts with those of the thread that made it: so
 * the sets are fixed before any thread is made, and every thread that
 * faces the network is made by a thread that already dropped to that set.
 *
 *   role     threads                          keeps
 *   main     xlbd's loop: links, addresses,   NET_ADMIN SYS_ADMIN BPF PERFMON
 *            health probes, expiry            NET_RAW SYS_RESOURCE KILL
 *                                             (+ SETUID SETGID with exec probes:
 *                                             the probes' id maps)
 *   writer   "xlbd-writer": applies API       NET_ADMIN BPF (SYS_ADMIN where the
 *            writes to the datapath            kernel has no CAP_BPF)
 *   net      gRPC's threads, "xlbd-api",      nothing; with IPVS NET_ADMIN (IPVS
 *            the metrics server, the health-   answers nobody else, reads too); with
 *            check node ports' server          XDP on Linux < 6.5 BPF (map reads)
 *
 * For every thread: no_new_privs, and the bounding set cut to the role's
 * set. SECBIT_NOROOT (root gains nothing by exec) when the dataplane runs
 * no program as root: not with IPVS, whose rules go through
 * iptables-restore.
 */
#ifndef XLB_NODE_PRIVS_H
#define XLB_NODE_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/capability.h>

enum xlb_role { XLB_ROLE_MAIN, XLB_ROLE_WRITER, XLB_ROLE_NET, XLB_ROLE_MAX };

#define XLB_PRIVS_MAX 16

struct xlb_privs {
	cap_value_t set[XLB_ROLE_MAX][XLB_PRIVS_MAX];
	size_t n[XLB_ROLE_MAX];
	bool noroot;
};

/* The sets for this node: exec probes on or not, the IPVS dataplane or XDP. */
void xlb_privs_init(struct xlb_privs *p, bool exec_probes, bool ipvs);

/* For the whole process, before any thread is made: no_new_privs,
 * securebits (locked), the bounding set cut to the union of the roles'
 * sets. 0 or a negative errno (err says which step). */
int xlb_privs_lock(const struct xlb_privs *p, char *err, size_t errlen);

/* The calling thread keeps only role's capabilities (of those it holds),
 * in its bounding set too; inheritable and ambient cleared. While the
 * caller still holds CAP_SETPCAP, that is: before main limits itself. */
int xlb_privs_limit(const struct xlb_privs *p, enum xlb_role role);

/* fn(arg) on a thread of its own limited to role, waited for: what fn
 * returns (threads it makes inherit the role), or a negative errno. */
int xlb_privs_run(const struct xlb_privs *p, enum xlb_role role, int (*fn)(void *), void *arg);

/* "cap_net_admin,cap_bpf" for a message; buf at least 512 bytes. */
const char *xlb_privs_describe(const struct xlb_privs *p, enum xlb_role role, char *buf,
			       size_t len);

#endif /* XLB_NODE_PRIVS_H */
