/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The exec probe's sandbox: a command that a Service's owner chose runs on
 * the node, so it gets nothing of xlbd's.
 *
 * Each probe is cloned into fresh user, pid, mount, IPC, UTS and cgroup
 * namespaces, and a fresh network namespace holding only lo (or, with
 * node_net, xlbd's own network namespace, where it can reach backends but
 * still holds no capability over it). Inside it runs as opts.uid/gid (not
 * root: the user namespace maps only that id), with no supplementary
 * groups, no capability in any set (bounding and ambient included),
 * securebits locked (SECBIT_NOROOT), no_new_privs and a seccomp filter
 * refusing what no probe needs (namespaces, mounts, BPF, keyrings,
 * ptrace, io_uring, modules, ...). The root file system is read-only
 * (recursively, nosuid), /tmp is a private tmpfs, /proc shows only the
 * probe's own pid namespace. The probe is pid 1 there: when it exits or is
 * killed, the kernel kills everything it left behind.
 *
 * Each probe runs in a cgroup of its own, under opts.cgroup, with memory
 * (no swap), pids and CPU limits; the parent cgroup caps all probes
 * together. cgroup2 is used for each controller it has; a hybrid host
 * (controllers bound to v1 hierarchies) uses those instead.
 *
 * Everything that can fail for reasons of the node (no user namespaces, no
 * controllers, no permission) fails in xlb_sandbox_new(), at start, with a
 * message saying what is missing: exec probes never run unconfined.
 */
#ifndef XLB_HEALTH_SANDBOX_H
#define XLB_HEALTH_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define XLB_SANDBOX_UID		65534	/* nobody */
#define XLB_SANDBOX_CGROUP	"xlb-probes"	/* under xlbd's own cgroup */

struct xlb_sandbox_opts {
	uint32_t uid, gid;		/* 0: XLB_SANDBOX_UID; root is refused */
	/* The parent of the probes' cgroups, as a path in the cgroup
	 * hierarchy ("/system.slice/xlbd.service/probes"; the same path in
	 * each v1 hierarchy). NULL: xlbd's own cgroup + "/xlb-probes". */
	const char *cgroup;
	bool node_net;			/* share xlbd's network namespace */
	/* Per probe; 0: the defaults (64 MiB, 32 tasks, 50% of a CPU). */
	uint64_t memory_max;
	uint32_t pids_max;
	uint32_t cpu_pct;
	/* All probes together; 0: the defaults (512 MiB, 512 tasks, 1 CPU). */
	uint64_t memory_total;
	uint32_t pids_total;
	uint32_t cpu_total_pct;
};

struct xlb_sandbox;

/* 0, or a negative errno with err saying what the node lacks. */
int xlb_sandbox_new(const struct xlb_sandbox_opts *o, struct xlb_sandbox **out, char *err,
		    size_t errlen);
/*
 * Start path (absolute) with argv and envp in a fresh sandbox, stdout and
 * stderr on out_fd (>= 3), stdin /dev/null, no other fd. On success *pid and
 * *pidfd (O_CLOEXEC; its exit is its readability) are the probe's; it
 * must be reaped with waitpid() and then handed to xlb_sandbox_reaped().
 * A failure to set up inside the child is its exit status 127 with one
 * line on out_fd saying which step failed ("sandbox: mount /tmp: ...").
 */
int xlb_sandbox_spawn(struct xlb_sandbox *sb, const char *path, char *const argv[],
		      char *const envp[], int out_fd, pid_t *pid, int *pidfd);
/* The probe pid was reaped: its cgroup goes. */
void xlb_sandbox_reaped(struct xlb_sandbox *sb, pid_t pid);
/* One line for logs and status: "uid 65534, net isolated, cgroup2 /...". */
const char *xlb_sandbox_describe(const struct xlb_sandbox *sb);
/* Removes the cgroups it made (reap every probe first). */
void xlb_sandbox_free(struct xlb_sandbox *sb);

#endif /* XLB_HEALTH_SANDBOX_H */
