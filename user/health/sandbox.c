// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The exec probe's sandbox (sandbox.h): namespaces, credentials, seccomp
 * and cgroups, set up the way bubblewrap and container runtimes do.
 *
 * The probe is cloned (clone3: all namespaces at once, a pidfd) and waits
 * on a pipe while xlbd, outside, puts it into its cgroups and writes its
 * uid and gid maps. Then it sets up its mounts, drops everything and execs.
 * Between clone and exec the child runs in a copy of a multithreaded
 * process: it calls no malloc, no stdio, no libc function that takes a
 * lock or talks to other threads (setuid and friends are raw syscalls,
 * since glibc's would signal threads that do not exist there).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/mount.h>
#include <linux/sched.h>
#include <linux/securebits.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "health/sandbox.h"
#include "util/errmsg.h"

#define CG_MEM	1u
#define CG_PIDS	2u
#define CG_CPU	4u
#define CG_ALL	(CG_MEM | CG_PIDS | CG_CPU)
#define CPU_PERIOD_US 100000
#define MAX_HIER 4
#define TMP_SIZE "16m"

/* One cgroup hierarchy serving some of the controllers. */
struct hier {
	bool v2;
	unsigned int ctrl;		/* CG_* it serves for us */
	char parent[PATH_MAX];		/* the probes' parent cgroup, a directory */
};

struct xlb_sandbox {
	struct xlb_sandbox_opts o;
	struct hier h[MAX_HIER];
	size_t n_h;
	struct sock_fprog prog;		/* the seccomp filter, built once */
	int last_cap;
	char uid_map[32], gid_map[32];
	pid_t *stale;			/* reaped probes whose cgroup rmdir failed */
	size_t n_stale, cap_stale;
	char desc[PATH_MAX + 128];
};

/* snprintf for paths: -ENAMETOOLONG rather than a cut path. */
static int pathf(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int pathf(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* ---- cgroup files ------------------------------------------------------ */

static int write_str(const char *dir, const char *file, const char *s)
{
	char path[PATH_MAX];
	size_t len = strlen(s);
	ssize_t n;
	int fd, ret = 0;

	if (pathf(path, sizeof(path), "%s/%s", dir, file))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, s, len);
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != len)
		ret = -EIO;
	close(fd);
	return ret;
}

static int write_fmt(const char *dir, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int write_fmt(const char *dir, const char *file, const char *fmt, ...)
{
	char buf[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return write_str(dir, file, buf);
}

static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	int ret = 0;

	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		ret = -EIO;
	else
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
	return ret;
}

/* Controllers named in a comma or space separated list. */
static unsigned int ctrl_bits(const char *list)
{
	char buf[512], *save = NULL;
	unsigned int m = 0;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *t = strtok_r(buf, ", \n", &save); t; t = strtok_r(NULL, ", \n", &save)) {
		if (!strcmp(t, "memory"))
			m |= CG_MEM;
		else if (!strcmp(t, "pids"))
			m |= CG_PIDS;
		else if (!strcmp(t, "cpu"))
			m |= CG_CPU;
	}
	return m;
}

static const char *ctrl_names(unsigned int m, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", m & CG_MEM ? " memory" : "", m & CG_PIDS ? " pids" : "",
		 m & CG_CPU ? " cpu" : "");
	return buf[0] ? buf + 1 : "none";
}

/*
 * Our cgroup in the hierarchy that serves ctrl (v2: the "0::" line), from
 * /proc/self/cgroup ("ID:CONTROLLERS:PATH" lines). 0 or -ENOENT.
 */
static int own_cgroup(bool v2, unsigned int ctrl, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[PATH_MAX + 64];
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (ret && fgets(line, sizeof(line), f)) {
		char *ctrls = strchr(line, ':'), *path = ctrls ? strchr(ctrls + 1, ':') : NULL;

		if (!path)
			continue;
		*ctrls++ = 0;
		*path++ = 0;
		path[strcspn(path, "\n")] = 0;
		if (v2 ? !strcmp(line, "0") && !*ctrls : (ctrl_bits(ctrls) & ctrl) == ctrl) {
			snprintf(out, len, "%s", path);
			ret = 0;
		}
	}
	fclose(f);
	return ret;
}

/*
 * The hierarchies: cgroup2 for the controllers it has, a v1 hierarchy for
 * each one it lacks. Mount points from /proc/self/mountinfo.
 */
static int find_hierarchies(struct xlb_sandbox *sb, char mnt[MAX_HIER][PATH_MAX], char *err,
			    size_t errlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], v2mnt[PATH_MAX] = "", names[64];
	char v1mnt[3][PATH_MAX] = { "", "", "" };
	unsigned int v2ctrl = 0, have = 0;

	if (!f)
		return xlb_errf(err, errlen, -errno, "read /proc/self/mountinfo: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *dash = strstr(line, " - "), point[PATH_MAX], fstype[32], src[64], opts[512];
		unsigned int bits;

		if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 ||
		    sscanf(dash + 3, "%31s %63s %511s", fstype, src, opts) != 3)
			continue;
		if (strchr(point, '\\'))
			continue;	/* an octal escape: not a path we make */
		if (!strcmp(fstype, "cgroup2") && !v2mnt[0]) {
			char path[PATH_MAX + 32], ctrls[512];

			pathf(v2mnt, sizeof(v2mnt), "%s", point);
			if (!pathf(path, sizeof(path), "%s/cgroup.controllers", point) &&
			    !read_line(path, ctrls, sizeof(ctrls)))
				v2ctrl = ctrl_bits(ctrls);
		} else if (!strcmp(fstype, "cgroup")) {
			bits = ctrl_bits(opts);
			for (int i = 0; i < 3; i++)
				if (bits & (1u << i) && !v1mnt[i][0])
					pathf(v1mnt[i], sizeof(v1mnt[i]), "%s", point);
		}
	}
	fclose(f);

	sb->n_h = 0;
	if (v2ctrl & CG_ALL) {
		sb->h[0].v2 = true;
		sb->h[0].ctrl = v2ctrl & CG_ALL;
		pathf(mnt[0], PATH_MAX, "%s", v2mnt);
		sb->n_h = 1;
		have = sb->h[0].ctrl;
	}
	for (int i = 0; i < 3; i++) {
		unsigned int bit = 1u << i;
		size_t k;

		if (have & bit || !v1mnt[i][0])
			continue;
		/* cpu and cpuacct (or others) may share one v1 hierarchy. */
		for (k = 0; k < sb->n_h; k++)
			if (!sb->h[k].v2 && !strcmp(mnt[k], v1mnt[i]))
				break;
		if (k == sb->n_h) {
			sb->h[k].v2 = false;
			sb->h[k].ctrl = 0;
			pathf(mnt[k], PATH_MAX, "%s", v1mnt[i]);
			sb->n_h++;
		}
		sb->h[k].ctrl |= bit;
		have |= bit;
	}
	if (have != CG_ALL)
		return xlb_errf(err, errlen, -ENOTSUP,
				"exec probes need the memory, pids and cpu cgroup controllers; missing: %s",
				ctrl_names(CG_ALL & ~have, names, sizeof(names)));
	return 0;
}

/* cgroup2: controllers reach a cgroup only when its parent enables them
 * for its children, and so on up to the root: enable them from the root
 * down to the parent of rel (a cgroup path), creating what is missing. */
static int v2_enable_path(const char *mnt, const char *rel, unsigned int ctrl, char *err,
			  size_t errlen)
{
	char path[PATH_MAX], want[64], names[64];
	size_t len = strlen(mnt);
	const char *p = rel, *slash;
	int ret;

	snprintf(want, sizeof(want), "%s%s%s", ctrl & CG_MEM ? "+memory " : "",
		 ctrl & CG_PIDS ? "+pids " : "", ctrl & CG_CPU ? "+cpu" : "");
	snprintf(path, sizeof(path), "%s", mnt);
	for (;;) {
		ret = write_str(path, "cgroup.subtree_control", want);
		if (ret)
			return xlb_errf(err, errlen, ret, "enable %s for the children of cgroup %s: %s%s",
					ctrl_names(ctrl, names, sizeof(names)), path[len] ? path + len : "/",
					strerror(-ret), ret == -EBUSY ?
					" (it holds processes: give --exec-probe-cgroup a cgroup of its own)" : "");
		while (*p == '/')
			p++;
		slash = strchr(p, '/');
		if (!slash)
			return 0;	/* path is the parent of rel's last component */
		if (pathf(path + strlen(path), sizeof(path) - strlen(path), "/%.*s",
			  (int)(slash - p), p))
			return xlb_errf(err, errlen, -ENAMETOOLONG, "cgroup path %s: too long", rel);
		if (mkdir(path, 0755) && errno != EEXIST)
			return xlb_errf(err, errlen, -errno, "create cgroup %s: %s", path, strerror(errno));
		p = slash;
	}
}

/* cgroup2 and no cgroup given: our own cgroup's children get controllers
 * only when it holds no process (the "no internal processes" rule), so
 * xlbd moves into a leaf of its own first, as systemd's delegated units
 * and container runtimes do. */
static int v2_own_leaf(const char *mnt, const char *own, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	int ret;

	/* The true root (it has no cgroup.type) is exempt; a cgroup
	 * namespace's "/" is not. */
	if (pathf(dir, sizeof(dir), "%s%s/cgroup.type", mnt, strcmp(own, "/") ? own : "") ||
	    access(dir, F_OK))
		return 0;
	if (pathf(dir, sizeof(dir), "%s%s/xlbd", mnt, strcmp(own, "/") ? own : ""))
		return xlb_errf(err, errlen, -ENAMETOOLONG, "cgroup path %s: too long", own);
	if (mkdir(dir, 0755) && errno != EEXIST)
		return xlb_errf(err, errlen, -errno, "create cgroup %s: %s", dir, strerror(errno));
	ret = write_fmt(dir, "cgroup.procs", "%d", (int)getpid());
	if (ret)
		return xlb_errf(err, errlen, ret, "move xlbd into cgroup %s: %s", dir, strerror(-ret));
	pr_info("exec probes: xlbd moved into cgroup %s/xlbd, its probes go beside it", own);
	return 0;
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Limits for the controllers h serves, in cgroup dir. */
static int set_limits(const struct hier *h, const char *dir, uint64_t mem, uint32_t pids,
		      uint32_t cpu_pct)
{
	uint64_t quota = (uint64_t)cpu_pct * CPU_PERIOD_US / 100;
	int ret = 0, r;

	if (h->v2) {
		if (h->ctrl & CG_MEM) {
			ret = write_fmt(dir, "memory.max", "%llu", (unsigned long long)mem);
			/* Absent without swap accounting: then there is none. */
			if (!ret && (r = write_str(dir, "memory.swap.max", "0")) != -ENOENT)
				ret = r;
		}
		if (!ret && h->ctrl & CG_PIDS)
			ret = write_fmt(dir, "pids.max", "%u", pids);
		if (!ret && h->ctrl & CG_CPU)
			ret = write_fmt(dir, "cpu.max", "%llu %u", (unsigned long long)quota,
					CPU_PERIOD_US);
		return ret;
	}
	if (h->ctrl & CG_MEM) {
		ret = write_fmt(dir, "memory.limit_in_bytes", "%llu", (unsigned long long)mem);
		/* memory+swap, where swap is accounted: no swap either. */
		if (!ret && (r = write_fmt(dir, "memory.memsw.limit_in_bytes", "%llu",
					   (unsigned long long)mem)) != -ENOENT)
			ret = r;
	}
	if (!ret && h->ctrl & CG_PIDS)
		ret = write_fmt(dir, "pids.max", "%u", pids);
	if (!ret && h->ctrl & CG_CPU) {
		ret = write_fmt(dir, "cpu.cfs_period_us", "%u", CPU_PERIOD_US);
		if (!ret)
			ret = write_fmt(dir, "cpu.cfs_quota_us", "%llu", (unsigned long long)quota);
	}
	return ret;
}

/* Probe cgroups a crashed run left (their probes died with it). */
static void remove_stale(const char *parent)
{
	DIR *d = opendir(parent);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[PATH_MAX];

		if (e->d_type != DT_DIR || e->d_name[0] != 'p' || !e->d_name[1] ||
		    strspn(e->d_name + 1, "0123456789") != strlen(e->d_name + 1))
			continue;
		if (pathf(path, sizeof(path), "%s/%s", parent, e->d_name) || rmdir(path))
			pr_warn("exec probes: remove stale cgroup %s: %s", path, strerror(errno));
	}
	closedir(d);
}

static int setup_cgroups(struct xlb_sandbox *sb, char *err, size_t errlen)
{
	char mnt[MAX_HIER][PATH_MAX], rel[PATH_MAX], names[64];
	int ret = find_hierarchies(sb, mnt, err, errlen);

	if (ret)
		return ret;
	for (size_t i = 0; i < sb->n_h; i++) {
		struct hier *h = &sb->h[i];

		if (sb->o.cgroup) {
			snprintf(rel, sizeof(rel), "%s", sb->o.cgroup);
		} else {
			char own[PATH_MAX];

			ret = own_cgroup(h->v2, h->ctrl, own, sizeof(own));
			if (ret)
				return xlb_errf(err, errlen, ret, "xlbd's own cgroup (%s): not in /proc/self/cgroup",
						ctrl_names(h->ctrl, names, sizeof(names)));
			if (h->v2 && (ret = v2_own_leaf(mnt[i], own, err, errlen)))
				return ret;
			if (pathf(rel, sizeof(rel), "%s/%s", strcmp(own, "/") ? own : "", XLB_SANDBOX_CGROUP))
				return xlb_errf(err, errlen, -ENAMETOOLONG, "cgroup path %s: too long", own);
		}
		if (rel[0] != '/' || strstr(rel, "/..") || strstr(rel, "//"))
			return xlb_errf(err, errlen, -EINVAL, "--exec-probe-cgroup %s: want an absolute cgroup path", rel);
		if (pathf(h->parent, sizeof(h->parent), "%s%s", mnt[i], rel))
			return xlb_errf(err, errlen, -ENAMETOOLONG, "cgroup path %s: too long", rel);
		if (h->v2) {
			ret = v2_enable_path(mnt[i], rel, h->ctrl, err, errlen);
			if (ret)
				return ret;
		}
		ret = mkdir_p(h->parent);
		if (ret)
			return xlb_errf(err, errlen, ret, "create cgroup %s: %s", h->parent, strerror(-ret));
		remove_stale(h->parent);
		ret = set_limits(h, h->parent, sb->o.memory_total, sb->o.pids_total, sb->o.cpu_total_pct);
		if (!ret && h->v2)
			ret = write_str(h->parent, "cgroup.subtree_control",
					h->ctrl & CG_CPU ? (h->ctrl & CG_MEM ? "+memory +pids +cpu" : "+pids +cpu")
							 : "+memory +pids");
		if (ret)
			return xlb_errf(err, errlen, ret, "limits of cgroup %s (%s): %s", h->parent,
					ctrl_names(h->ctrl, names, sizeof(names)), strerror(-ret));
	}
	return 0;
}

/* ---- seccomp ----------------------------------------------------------- */

/* What no health check needs, refused with EPERM: the kernel's largest
 * attack surface for an unprivileged process (new namespaces, BPF,
 * io_uring, userfaultfd, keyrings, perf) and what only an administrator
 * does (mounts, modules, clocks, reboot, swap, tracing other processes). */
static const char *const deny[] = {
	"acct", "add_key", "adjtimex", "bpf", "chroot", "clock_adjtime", "clock_settime",
	"create_module", "delete_module", "fanotify_init", "finit_module", "fsconfig",
	"fsmount", "fsopen", "fspick", "get_kernel_syms", "init_module", "io_uring_enter",
	"io_uring_register", "io_uring_setup", "ioperm", "iopl", "kcmp", "kexec_file_load",
	"kexec_load", "keyctl", "lookup_dcookie", "mount", "mount_setattr", "move_mount",
	"name_to_handle_at", "nfsservctl", "open_by_handle_at", "open_tree", "perf_event_open",
	"pivot_root", "process_vm_readv", "process_vm_writev", "ptrace", "query_module",
	"quotactl", "quotactl_fd", "reboot", "request_key", "setns", "settimeofday", "swapoff",
	"swapon", "syslog", "umount2", "unshare", "uselib", "userfaultfd", "ustat", "vhangup",
	"vm86", "vm86old", "_sysctl", "sysfs", "pidfd_getfd", "landlock_create_ruleset",
};

static int build_seccomp(struct xlb_sandbox *sb, char *err, size_t errlen)
{
	static const uint64_t ns_flags[] = { CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWPID,
					     CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP };
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	struct stat st;
	int ret = 0, fd = -1;
	ssize_t n;

	if (!ctx)
		return xlb_errf(err, errlen, -ENOMEM, "seccomp: out of memory");
	/* Another architecture's system call numbers (x32, i386): killed. */
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	for (size_t i = 0; !ret && i < sizeof(deny) / sizeof(deny[0]); i++) {
		int nr = seccomp_syscall_resolve_name(deny[i]);

		if (nr == __NR_SCMP_ERROR || nr < 0)
			continue;	/* not on this architecture */
		ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
	}
	/* clone with a namespace flag; clone3's flags are in memory, out of
	 * a filter's reach: ENOSYS makes libc fall back to clone. */
	for (size_t i = 0; !ret && i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				       SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (ret) {
		seccomp_release(ctx);
		return xlb_errf(err, errlen, ret, "seccomp: build the filter: %s", strerror(-ret));
	}
	fd = memfd_create("xlb-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		ret = -errno;
	if (!ret)
		ret = seccomp_export_bpf(ctx, fd);
	seccomp_release(ctx);
	if (!ret && fstat(fd, &st))
		ret = -errno;
	if (!ret && (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) ||
		     st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS))
		ret = -EINVAL;
	if (!ret) {
		sb->prog.filter = malloc((size_t)st.st_size);
		sb->prog.len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
		if (!sb->prog.filter)
			ret = -ENOMEM;
	}
	if (!ret) {
		n = pread(fd, sb->prog.filter, (size_t)st.st_size, 0);
		if (n != st.st_size)
			ret = n < 0 ? -errno : -EIO;
	}
	if (fd >= 0)
		close(fd);
	if (ret)
		return xlb_errf(err, errlen, ret, "seccomp: export the filter: %s", strerror(-ret));
	return 0;
}

/* ---- the child, between clone and exec --------------------------------- */

/* "sandbox: STEP: errno N" on stdout (the probe's output pipe), exit 127:
 * no stdio, no strerror (they may lock or allocate). */
static __attribute__((noreturn)) void child_fail(const char *step)
{
	char buf[160], num[16];
	int e = errno, n = 0, k = 0;

	for (const char *s = "sandbox: "; *s && n < 100; s++)
		buf[n++] = *s;
	for (const char *s = step; *s && n < 120; s++)
		buf[n++] = *s;
	buf[n++] = ':';
	buf[n++] = ' ';
	for (const char *s = "errno "; *s; s++)
		buf[n++] = *s;
	do
		num[k++] = (char)('0' + e % 10);
	while ((e /= 10) && k < 15);
	while (k)
		buf[n++] = num[--k];
	buf[n++] = '\n';
	if (write(1, buf, (size_t)n) < 0)
		n = 0;
	_exit(127);
}

struct child_args {
	const struct xlb_sandbox *sb;
	const char *path;
	char *const *argv, *const *envp;
	int out_fd, sync_fd, null_fd;
};

static __attribute__((noreturn)) void child(const struct child_args *a)
{
	const struct xlb_sandbox *sb = a->sb;
	struct mount_attr ma = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID };
	struct __user_cap_header_struct ch = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct cd[2] = {};
	struct ifreq ifr = { .ifr_name = "lo" };
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	char c;
	int s;

	/* First of all, let go of xlbd's fds, while xlbd waits: as long as
	 * we hold one, xlbd's close() of it does not take it out of its epoll
	 * sets (a registration belongs to the open file, which we share), and
	 * a stale event could name freed memory. All fds passed are >= 3. */
	if (dup2(a->null_fd, 0) < 0 || dup2(a->out_fd, 1) < 0 || dup2(a->out_fd, 2) < 0 ||
	    dup2(a->sync_fd, 3) < 0 || syscall(SYS_close_range, 4, ~0U, 0) ||
	    write(3, "c", 1) != 1)
		_exit(127);
	/* Our parent thread gone (xlbd died): so are we. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	/* xlbd, outside, sets our cgroups and id maps; then one byte. */
	if (read(3, &c, 1) != 1)
		_exit(127);
	close(3);
	sigemptyset(&none);
	for (int i = 1; i < NSIG; i++)
		if (i != SIGKILL && i != SIGSTOP)
			sigaction(i, &dfl, NULL);
	if (sigprocmask(SIG_SETMASK, &none, NULL))
		child_fail("sigprocmask");

	/* Our cgroup, set by xlbd, becomes the root of the one we see. */
	if (unshare(CLONE_NEWCGROUP))
		child_fail("unshare cgroup namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		child_fail("make mounts private");
	if (syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &ma, sizeof(ma)))
		child_fail("read-only root");
	if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=" TMP_SIZE ",mode=1777"))
		child_fail("mount /tmp");
	/* Our pid namespace's proc; where the node forbids it, none at all
	 * rather than the host's. */
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) &&
	    mount("tmpfs", "/proc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "size=4k"))
		child_fail("mount /proc");
	if (!sb->o.node_net) {
		s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr))
			child_fail("lo flags");
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr))
			child_fail("lo up");
		close(s);
	}
	if (sethostname("xlb-probe", 9))
		child_fail("sethostname");
	if (chdir("/"))
		child_fail("chdir /");

	for (int cap = 0; cap <= sb->last_cap; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL)
			child_fail("drop bounding set");
	if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
					     SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
					     SECBIT_NO_CAP_AMBIENT_RAISE |
					     SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED, 0, 0, 0))
		child_fail("securebits");
	if (syscall(SYS_setgroups, 0, NULL))
		child_fail("setgroups");
	if (syscall(SYS_setresgid, sb->o.gid, sb->o.gid, sb->o.gid))
		child_fail("setresgid");
	if (syscall(SYS_setresuid, sb->o.uid, sb->o.uid, sb->o.uid))
		child_fail("setresuid");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		child_fail("clear ambient capabilities");
	if (syscall(SYS_capset, &ch, cd))
		child_fail("drop capabilities");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		child_fail("no_new_privs");
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &sb->prog, 0, 0))
		child_fail("seccomp");
	execve(a->path, a->argv, a->envp);
	child_fail("exec");
}

/* ---- spawning ---------------------------------------------------------- */

static int write_proc(pid_t pid, const char *file, const char *s)
{
	char dir[64];

	snprintf(dir, sizeof(dir), "/proc/%d", (int)pid);
	return write_str(dir, file, s);
}

/* fd moved to 3 or above (a daemon started with 0, 1 or 2 closed gets
 * them from open and pipe). -1 with errno on failure. */
static int above_stdio(int fd)
{
	int n;

	if (fd < 0 || fd > 2)
		return fd;
	n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return n;
}

static void probe_cgroup(const struct hier *h, pid_t pid, char *out, size_t len)
{
	pathf(out, len, "%s/p%d", h->parent, (int)pid);
}

/* Into a cgroup of its own in each hierarchy, with the probe's limits. */
static int enter_cgroups(struct xlb_sandbox *sb, pid_t pid)
{
	char dir[PATH_MAX + 16];
	int ret;

	for (size_t i = 0; i < sb->n_h; i++) {
		const struct hier *h = &sb->h[i];

		probe_cgroup(h, pid, dir, sizeof(dir));
		if (mkdir(dir, 0755) && errno != EEXIST)
			return -errno;
		ret = set_limits(h, dir, sb->o.memory_max, sb->o.pids_max, sb->o.cpu_pct);
		if (!ret)
			ret = write_fmt(dir, "cgroup.procs", "%d", (int)pid);
		if (ret)
			return ret;
	}
	return 0;
}

static bool remove_cgroups(struct xlb_sandbox *sb, pid_t pid)
{
	char dir[PATH_MAX + 16];
	bool ok = true;

	for (size_t i = 0; i < sb->n_h; i++) {
		probe_cgroup(&sb->h[i], pid, dir, sizeof(dir));
		if (rmdir(dir) && errno != ENOENT)
			ok = false;
	}
	return ok;
}

int xlb_sandbox_spawn(struct xlb_sandbox *sb, const char *path, char *const argv[],
		      char *const envp[], int out_fd, pid_t *pid, int *pidfd)
{
	struct clone_args ca = {
		.flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC |
			 CLONE_NEWUTS | CLONE_PIDFD | (sb->o.node_net ? 0 : CLONE_NEWNET),
		.exit_signal = SIGCHLD,
	};
	struct child_args a = { .sb = sb, .path = path, .argv = argv, .envp = envp,
				.out_fd = out_fd };
	int sync[2], pfd = -1, ret;
	char c;
	long r;

	a.null_fd = above_stdio(open("/dev/null", O_RDONLY | O_CLOEXEC));
	if (a.null_fd < 0)
		return -errno;
	/* Both ways: the child says its fds are closed, we say go. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync)) {
		ret = -errno;
		close(a.null_fd);
		return ret;
	}
	sync[0] = above_stdio(sync[0]);
	sync[1] = above_stdio(sync[1]);
	if (sync[0] < 0 || sync[1] < 0) {
		ret = -errno;
		close(a.null_fd);
		if (sync[0] >= 0)
			close(sync[0]);
		if (sync[1] >= 0)
			close(sync[1]);
		return ret;
	}
	a.sync_fd = sync[0];
	ca.pidfd = (uint64_t)(uintptr_t)&pfd;
	r = syscall(SYS_clone3, &ca, sizeof(ca));
	if (r == 0) {
		close(sync[1]);
		child(&a);
	}
	ret = r < 0 ? -errno : 0;
	close(sync[0]);
	close(a.null_fd);
	if (ret) {
		close(sync[1]);
		return ret;
	}
	/* A few microseconds: the child's first steps (a vfork would wait
	 * as long). EOF: it died, and the rest fails. */
	while (read(sync[1], &c, 1) < 0 && errno == EINTR)
		;
	ret = enter_cgroups(sb, (pid_t)r);
	if (!ret)
		ret = write_proc((pid_t)r, "uid_map", sb->uid_map);
	if (!ret)
		ret = write_proc((pid_t)r, "gid_map", sb->gid_map);
	if (!ret && send(sync[1], "g", 1, MSG_NOSIGNAL) != 1)
		ret = -errno;
	close(sync[1]);
	if (ret) {
		/* Still waiting for us, now gone: it exits. */
		kill((pid_t)r, SIGKILL);
		while (waitpid((pid_t)r, NULL, 0) < 0 && errno == EINTR)
			;
		close(pfd);
		xlb_sandbox_reaped(sb, (pid_t)r);
		return ret;
	}
	*pid = (pid_t)r;
	*pidfd = pfd;
	return 0;
}

void xlb_sandbox_reaped(struct xlb_sandbox *sb, pid_t pid)
{
	size_t k = 0;

	/* The kernel may lag behind the exit status: retry later ones. */
	for (size_t i = 0; i < sb->n_stale; i++)
		if (!remove_cgroups(sb, sb->stale[i]))
			sb->stale[k++] = sb->stale[i];
	sb->n_stale = k;
	if (remove_cgroups(sb, pid))
		return;
	if (sb->n_stale == sb->cap_stale) {
		size_t cap = sb->cap_stale ? sb->cap_stale * 2 : 8;
		pid_t *v = realloc(sb->stale, cap * sizeof(*v));

		if (!v) {
			pr_warn("exec probes: cgroup of pid %d left behind", (int)pid);
			return;
		}
		sb->stale = v;
		sb->cap_stale = cap;
	}
	sb->stale[sb->n_stale++] = pid;
}

/* ---- set-up ------------------------------------------------------------ */

/* The whole path once, at start: a node that cannot sandbox says so now. */
static int self_test(struct xlb_sandbox *sb, char *err, size_t errlen)
{
	static const char *const paths[] = { "/bin/true", "/usr/bin/true" };
	char *argv[] = { "true", NULL }, *envp[] = { NULL }, out[256] = "";
	const char *path = NULL;
	int p[2], pidfd, status, ret;
	ssize_t n;
	pid_t pid;

	for (size_t i = 0; i < 2 && !path; i++)
		if (!access(paths[i], X_OK))
			path = paths[i];
	if (!path)
		return 0;	/* nothing harmless to run */
	if (pipe2(p, O_CLOEXEC))
		return xlb_errf(err, errlen, -errno, "exec probe sandbox: pipe: %s", strerror(errno));
	ret = xlb_sandbox_spawn(sb, path, argv, envp, p[1], &pid, &pidfd);
	close(p[1]);
	if (ret) {
		close(p[0]);
		return xlb_errf(err, errlen, ret, "exec probe sandbox: start a probe: %s%s", strerror(-ret),
				ret == -EPERM || ret == -ENOSPC ? " (user namespaces disabled?)" : "");
	}
	n = read(p[0], out, sizeof(out) - 1);
	close(p[0]);
	close(pidfd);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	xlb_sandbox_reaped(sb, pid);
	if (n > 0)
		out[strcspn(out, "\n")] = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return xlb_errf(err, errlen, -EPERM, "exec probe sandbox: a trial probe failed: %s",
				out[0] ? out : "no message");
	return 0;
}

int xlb_sandbox_new(const struct xlb_sandbox_opts *o, struct xlb_sandbox **out, char *err,
		    size_t errlen)
{
	struct xlb_sandbox *sb = calloc(1, sizeof(*sb));
	char buf[32], names[64];
	int ret;

	if (!sb)
		return xlb_errf(err, errlen, -ENOMEM, "exec probe sandbox: out of memory");
	sb->o = *o;
	if (!sb->o.uid)
		sb->o.uid = XLB_SANDBOX_UID;
	if (!sb->o.gid)
		sb->o.gid = sb->o.uid == XLB_SANDBOX_UID ? XLB_SANDBOX_UID : sb->o.uid;
	sb->o.memory_max = o->memory_max ? o->memory_max : 64ull << 20;
	sb->o.pids_max = o->pids_max ? o->pids_max : 32;
	sb->o.cpu_pct = o->cpu_pct ? o->cpu_pct : 50;
	sb->o.memory_total = o->memory_total ? o->memory_total : 512ull << 20;
	sb->o.pids_total = o->pids_total ? o->pids_total : 512;
	sb->o.cpu_total_pct = o->cpu_total_pct ? o->cpu_total_pct : 100;
	sb->o.cgroup = NULL;
	snprintf(sb->uid_map, sizeof(sb->uid_map), "%u %u 1\n", sb->o.uid, sb->o.uid);
	snprintf(sb->gid_map, sizeof(sb->gid_map), "%u %u 1\n", sb->o.gid, sb->o.gid);
	sb->last_cap = CAP_LAST_CAP;
	if (!read_line("/proc/sys/kernel/cap_last_cap", buf, sizeof(buf)))
		sb->last_cap = atoi(buf);

	if (o->cgroup && !(sb->o.cgroup = strdup(o->cgroup)))
		ret = xlb_errf(err, errlen, -ENOMEM, "exec probe sandbox: out of memory");
	else
		ret = build_seccomp(sb, err, errlen);
	if (!ret)
		ret = setup_cgroups(sb, err, errlen);
	if (!ret)
		ret = self_test(sb, err, errlen);
	if (ret) {
		xlb_sandbox_free(sb);
		return ret;
	}
	{
		size_t n = (size_t)snprintf(sb->desc, sizeof(sb->desc), "uid %u, network %s, cgroup",
					    sb->o.uid, sb->o.node_net ? "node" : "isolated");

		for (size_t i = 0; i < sb->n_h && n < sizeof(sb->desc); i++)
			n += (size_t)snprintf(sb->desc + n, sizeof(sb->desc) - n, "%s %s %s (%s)",
					      i ? "," : "", sb->h[i].v2 ? "v2" : "v1", sb->h[i].parent,
					      ctrl_names(sb->h[i].ctrl, names, sizeof(names)));
	}
	*out = sb;
	return 0;
}

const char *xlb_sandbox_describe(const struct xlb_sandbox *sb)
{
	return sb ? sb->desc : "off";
}

void xlb_sandbox_free(struct xlb_sandbox *sb)
{
	if (!sb)
		return;
	/* A pid namespace's last processes may still be on their way out. */
	for (int round = 0; sb->n_stale && round < 100; round++) {
		size_t k = 0;

		for (size_t i = 0; i < sb->n_stale; i++)
			if (!remove_cgroups(sb, sb->stale[i]))
				sb->stale[k++] = sb->stale[i];
		sb->n_stale = k;
		if (k)
			usleep(10000);
	}
	for (size_t i = 0; i < sb->n_stale; i++)
		pr_warn("exec probes: cgroup p%d under %s not removed", (int)sb->stale[i],
			sb->h[0].parent);
	/* Kept where xlbd, its capabilities dropped, may no longer remove it
	 * (a v1 hierarchy's root is mode 0555): the next start reuses it. */
	for (size_t i = 0; i < sb->n_h; i++)
		if (sb->h[i].parent[0] && rmdir(sb->h[i].parent) && errno != ENOENT)
			pr_debug("exec probes: cgroup %s kept: %s", sb->h[i].parent, strerror(errno));
	free(sb->stale);
	free(sb->prog.filter);
	free((char *)sb->o.cgroup);
	free(sb);
}
