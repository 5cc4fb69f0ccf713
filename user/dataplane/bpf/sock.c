// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * BPF dataplane: socket-level load balancing. The socket programs
 * (bpf/sock.bpf.c) are loaded beside the XDP program, over its service,
 * selection and backend maps, and attached to one cgroup2 directory (the
 * hierarchy's root on a node, a cgroup of their own in tests): every
 * socket created in it or below is balanced at connect()/sendto().
 *
 * The four cgroup links are pinned as pin_dir/cglink_HOOK. A new process
 * loads the programs again and moves the pinned links to them with
 * bpf_link_update, as for XDP: sockets never see a gap.
 *
 * A connected UDP socket keeps its backend for its life. When a backend
 * leaves a service, the sockets the programs connected to it through that
 * service are aborted (bpf/sock_destroy.bpf.c: a UDP socket iterator and
 * the bpf_sock_destroy kfunc, Linux 6.5+), in the node's network namespace
 * and its pods' (netns_collect); the application then connects again. On
 * an older kernel they keep talking to the old backend until they
 * reconnect. The pass runs on xlbd's main thread (upkeep), woken by an
 * eventfd: the threads that change services may not enter namespaces.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "bpf_priv.h"
#include "xlb.skel.h"
#include "xlb_sock.skel.h"
#include "xlb_sock_destroy.skel.h"

#define ERR(...) do { if (err) snprintf(err, errlen, __VA_ARGS__); } while (0)
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

static const struct {
	const char *name;		/* pin_dir/cglink_NAME */
	enum bpf_attach_type type;
} hooks[XLB_SOCK_HOOKS] = {
	{ "connect4", BPF_CGROUP_INET4_CONNECT },
	{ "sendmsg4", BPF_CGROUP_UDP4_SENDMSG },
	{ "recvmsg4", BPF_CGROUP_UDP4_RECVMSG },
	{ "getpeername4", BPF_CGROUP_INET4_GETPEERNAME },
};

static int hook_prog_fd(const struct xlb_dp_bpf *d, int i)
{
	const struct bpf_program *p[XLB_SOCK_HOOKS] = {
		d->sock->progs.xlb_sock_connect4, d->sock->progs.xlb_sock_sendmsg4,
		d->sock->progs.xlb_sock_recvmsg4, d->sock->progs.xlb_sock_getpeername4,
	};

	return bpf_program__fd(p[i]);
}

static void hook_pin_path(const char *pin_dir, int i, char *buf, size_t len)
{
	snprintf(buf, len, "%s/cglink_%s", pin_dir, hooks[i].name);
}

/* The netns this process runs in (5.14+; 0 before: the programs then take
 * the initial netns for the node's). */
static uint64_t own_netns_cookie(void)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len))
		cookie = 0;
	close(fd);
	return cookie;
}

/* Move pinned links of an earlier instance to the programs just loaded. */
static void adopt_hooks(struct xlb_dp_bpf *d)
{
	for (int i = 0; i < XLB_SOCK_HOOKS; i++) {
		char path[PATH_MAX];
		int fd;

		hook_pin_path(d->pin_dir, i, path, sizeof(path));
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		if (bpf_link_update(fd, hook_prog_fd(d, i), NULL))
			pr_warn("socket LB: move pinned %s link to the new program: %s",
				hooks[i].name, strerror(errno));
		close(fd);
	}
}

/* Does the kernel have this kfunc? Asked before the load, so that an older
 * kernel costs one line of our own, not libbpf's messages at every start.
 * Unknown (no kernel BTF): true, and the load says. */
static bool kernel_has_kfunc(const char *name)
{
	struct btf *btf = btf__load_vmlinux_btf();
	bool has;

	if (!btf)
		return true;
	has = btf__find_by_name_kind(btf, name, BTF_KIND_FUNC) >= 0;
	btf__free(btf);
	return has;
}

/* The UDP socket iterator over the socket programs' sock_rev. */
static void sock_destroy_open(struct xlb_dp_bpf *d)
{
	struct xlb_sock_destroy *s;
	int ret;

	if (!kernel_has_kfunc("bpf_sock_destroy")) {
		snprintf(d->sockd_why, sizeof(d->sockd_why),
			 "no bpf_sock_destroy in this kernel (6.5+): connected UDP sockets keep a "
			 "removed backend until they connect again");
		pr_info("socket LB: %s", d->sockd_why);
		return;
	}
	s = xlb_sock_destroy__open();
	if (!s) {
		snprintf(d->sockd_why, sizeof(d->sockd_why), "open: %s", strerror(errno));
		return;
	}
	bpf_map__set_pin_path(s->maps.sock_gone, NULL);
	bpf_map__set_pin_path(s->maps.sock_rev, NULL);
	bpf_map__set_pin_path(s->maps.sock_stats, NULL);
	ret = bpf_map__reuse_fd(s->maps.sock_rev, bpf_map__fd(d->sock->maps.sock_rev));
	if (!ret)
		ret = bpf_map__reuse_fd(s->maps.sock_stats, bpf_map__fd(d->sock->maps.sock_stats));
	if (!ret)
		ret = xlb_sock_destroy__load(s);
	if (!ret) {
		d->sockd_link = bpf_program__attach_iter(s->progs.xlb_udp_destroy, NULL);
		ret = d->sockd_link ? 0 : -errno;
	}
	if (ret) {
		snprintf(d->sockd_why, sizeof(d->sockd_why),
			 "no bpf_sock_destroy in this kernel (6.5+): %s; connected UDP sockets keep a "
			 "removed backend until they connect again", strerror(-ret));
		pr_info("socket LB: %s", d->sockd_why);
		xlb_sock_destroy__destroy(s);
		return;
	}
	d->gone_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->gone_efd < 0) {
		snprintf(d->sockd_why, sizeof(d->sockd_why), "eventfd: %s", strerror(errno));
		bpf_link__destroy(d->sockd_link);
		d->sockd_link = NULL;
		xlb_sock_destroy__destroy(s);
		return;
	}
	d->sockd = s;
}

void xlb_dp_bpf_sock_backend_gone(struct xlb_dp_bpf *d, const struct xlb_addr *addr,
				  uint16_t port_be, uint32_t svc_id)
{
	struct xlb_sock_gone *g;
	uint64_t one = 1;

	if (!d->sockd || !d->sock_cgroup[0])
		return;
	pthread_mutex_lock(&d->gone_lock);
	g = realloc(d->gone, (d->n_gone + 1) * sizeof(*g));
	if (g) {	/* else the sockets stay on it, as on an older kernel */
		d->gone = g;
		memset(&g[d->n_gone], 0, sizeof(*g));
		g[d->n_gone].key.addr = *addr;
		g[d->n_gone].key.port = port_be;
		g[d->n_gone].key.family = XLB_AF_INET;
		g[d->n_gone].svc_id = svc_id;
		d->n_gone++;
	}
	pthread_mutex_unlock(&d->gone_lock);
	if (g && write(d->gone_efd, &one, sizeof(one)) < 0)
		pr_debug("socket LB: waking the main thread: %s", strerror(errno));
}

/* The network namespaces to look for sockets in, one fd each. */
struct netns_set {
	int fd[1024];
	dev_t dev[1024];
	ino_t ino[1024];
	size_t n;
};

/* Add the netns at path (an nsfs file) unless it is there already. */
static void netns_add(struct netns_set *set, const char *path)
{
	struct statfs sfs;
	struct stat st;
	size_t i;
	int fd;

	if (set->n >= 1024)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;		/* gone, or not ours to open (ptrace rules) */
	if (fstat(fd, &st) || fstatfs(fd, &sfs) || sfs.f_type != NSFS_MAGIC) {
		close(fd);
		return;
	}
	for (i = 0; i < set->n; i++)
		if (set->ino[i] == st.st_ino && set->dev[i] == st.st_dev)
			break;
	if (i < set->n) {
		close(fd);
		return;
	}
	set->fd[set->n] = fd;
	set->dev[set->n] = st.st_dev;
	set->ino[set->n] = st.st_ino;
	set->n++;
}

static struct netns_set *walk_set;

static int walk_cgroup(const char *path, const struct stat *st, int type, struct FTW *f)
{
	char procs[PATH_MAX];
	FILE *fp;
	int pid;

	if (type != FTW_D)
		return 0;
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", path);
	fp = fopen(procs, "re");
	if (!fp)
		return 0;
	while (fscanf(fp, "%d", &pid) == 1 && walk_set->n < 1024) {
		char ns[64];

		snprintf(ns, sizeof(ns), "/proc/%d/ns/net", pid);
		netns_add(walk_set, ns);
	}
	fclose(fp);
	return 0;
}

/* xlbd's own netns (the node's), every netns pinned in /run/netns (where
 * CNI plugins under containerd and CRI-O pin each pod's, and what Cilium
 * walks for the same purpose), and that of every process in the cgroup
 * that xlbd may open (ptrace rules: not those holding capabilities xlbd
 * dropped; a pod's netns is usually pinned anyway). */
static void netns_collect(struct xlb_dp_bpf *d, struct netns_set *set)
{
	static pthread_mutex_t walk_lock = PTHREAD_MUTEX_INITIALIZER;
	char path[PATH_MAX];
	struct dirent *e;
	DIR *dir;

	netns_add(set, "/proc/thread-self/ns/net");
	dir = opendir(XLB_NETNS_DIR);
	while (dir && (e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", XLB_NETNS_DIR, e->d_name);
		netns_add(set, path);
	}
	if (dir)
		closedir(dir);
	pthread_mutex_lock(&walk_lock);
	walk_set = set;
	nftw(d->sock_cgroup, walk_cgroup, 16, FTW_PHYS);
	walk_set = NULL;
	pthread_mutex_unlock(&walk_lock);
}

struct reap_job {
	struct xlb_dp_bpf *d;
	struct netns_set *set;
};

/* In a thread of its own: setns() changes only the calling thread's netns,
 * and an iterator reads the sockets of the netns it was created in. */
static void *reap_thread(void *arg)
{
	struct reap_job *j = arg;
	int link_fd = bpf_link__fd(j->d->sockd_link);
	char buf[256];

	for (size_t i = 0; i < j->set->n; i++) {
		int it;

		if (setns(j->set->fd[i], CLONE_NEWNET)) {
			pr_debug("socket LB: enter netns %zu of %zu: %s", i + 1, j->set->n,
				 strerror(errno));
			continue;
		}
		it = bpf_iter_create(link_fd);
		if (it < 0)
			continue;
		while (read(it, buf, sizeof(buf)) > 0)
			;
		close(it);
	}
	return NULL;
}

/* Connected UDP sockets aborted so far (sock_stats' udp_aborted, which the
 * iterator counts); 0 when unreadable. */
static uint64_t udp_aborted(struct xlb_dp_bpf *d)
{
	uint64_t v[XLB_SOCK_STAT_MAX];

	if (xlb_dp_bpf_percpu_array_sum(d, bpf_map__fd(d->sock->maps.sock_stats), v,
					XLB_SOCK_STAT_MAX))
		return 0;
	return v[XLB_SOCK_UDP_ABORTED];
}

/* The main thread (dataplane.h: upkeep): abort the connected UDP sockets of
 * the backends removed since the last pass. It needs CAP_SYS_ADMIN for
 * setns(), which the threads that apply API writes do not keep. */
static void sock_reap(struct xlb_dp_bpf *d)
{
	struct xlb_sock_gone *gone;
	struct reap_job job = { .d = d };
	uint64_t before, aborted, n;
	pthread_t th;
	size_t i, n_gone;
	int gone_fd;

	if (!d->sockd)
		return;
	if (read(d->gone_efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		pr_debug("socket LB: eventfd: %s", strerror(errno));
	pthread_mutex_lock(&d->gone_lock);
	gone = d->gone;
	n_gone = d->n_gone;
	d->gone = NULL;
	d->n_gone = 0;
	pthread_mutex_unlock(&d->gone_lock);
	if (!n_gone)
		return;
	gone_fd = bpf_map__fd(d->sockd->maps.sock_gone);
	for (i = 0; i < n_gone; i++)
		bpf_map_update_elem(gone_fd, &gone[i].key, &gone[i].svc_id, BPF_ANY);
	job.set = calloc(1, sizeof(*job.set));
	if (job.set) {
		netns_collect(d, job.set);
		before = udp_aborted(d);
		if (!pthread_create(&th, NULL, reap_thread, &job))
			pthread_join(th, NULL);
		aborted = udp_aborted(d) - before;
		if (aborted)
			pr_info("socket LB: %llu connected UDP socket(s) of removed backends aborted "
				"(%zu network namespaces)", (unsigned long long)aborted, job.set->n);
		for (i = 0; i < job.set->n; i++)
			close(job.set->fd[i]);
		free(job.set);
	}
	for (i = 0; i < n_gone; i++)
		bpf_map_delete_elem(gone_fd, &gone[i].key);
	free(gone);
}

int bpf_upkeep_fd(struct xlb_dp *dp)
{
	return to_bpf(dp)->gone_efd;
}

void bpf_upkeep(struct xlb_dp *dp)
{
	sock_reap(to_bpf(dp));
}

void xlb_dp_bpf_sock_open(struct xlb_dp_bpf *d)
{
	struct xlb_sock *s;
	int ret;

	for (int i = 0; i < XLB_SOCK_HOOKS; i++)
		d->sock_link_fd[i] = -1;
	d->netns_cookie = own_netns_cookie();
	pthread_mutex_init(&d->gone_lock, NULL);
	d->gone_efd = -1;
	s = xlb_sock__open();
	if (!s) {
		snprintf(d->sock_why, sizeof(d->sock_why), "open: %s", strerror(errno));
		return;
	}
	s->rodata->host_netns_cookie = d->netns_cookie;
	bpf_map__set_max_entries(s->maps.sock_svc_stats, d->max_services);
	ret = xlb_dp_bpf_prepare_object(d, s->obj);
	if (!ret)
		ret = xlb_sock__load(s);
	if (ret) {
		snprintf(d->sock_why, sizeof(d->sock_why),
			 "the kernel refused the socket programs: %s (%d)", strerror(-ret), ret);
		pr_warn("socket LB unavailable: %s", d->sock_why);
		xlb_sock__destroy(s);
		return;
	}
	d->sock = s;
	if (d->pin_dir[0])
		adopt_hooks(d);
	sock_destroy_open(d);
}

void xlb_dp_bpf_sock_close(struct xlb_dp_bpf *d)
{
	bpf_link__destroy(d->sockd_link);
	d->sockd_link = NULL;
	xlb_sock_destroy__destroy(d->sockd);
	d->sockd = NULL;
	if (d->gone_efd >= 0)
		close(d->gone_efd);
	d->gone_efd = -1;
	free(d->gone);
	d->gone = NULL;
	d->n_gone = 0;
	for (int i = 0; i < XLB_SOCK_HOOKS; i++)
		if (d->sock_link_fd[i] >= 0)
			close(d->sock_link_fd[i]);
	xlb_sock__destroy(d->sock);
	d->sock = NULL;
}

/* Open a cgroup2 directory; its id is the directory's inode number. */
static int open_cgroup(const char *path, uint64_t *id, char *err, size_t errlen)
{
	struct statfs sfs;
	struct stat st;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		ERR("socket LB: open cgroup %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstatfs(fd, &sfs) || sfs.f_type != CGROUP2_SUPER_MAGIC || fstat(fd, &st)) {
		ERR("socket LB: %s is not a cgroup2 directory", path);
		close(fd);
		return -EINVAL;
	}
	*id = st.st_ino;
	return fd;
}

/* The cgroup a pinned link is attached to: 0 when none or not a link. */
static uint64_t link_cgroup(int fd)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != BPF_LINK_TYPE_CGROUP)
		return 0;
	return info.cgroup.cgroup_id;
}

static int attach_hook(struct xlb_dp_bpf *d, int i, int cg_fd, uint64_t cg_id,
		       const char *cgroup, char *err, size_t errlen)
{
	int prog_fd = hook_prog_fd(d, i), fd, ret;
	char path[PATH_MAX];

	if (d->pin_dir[0]) {
		hook_pin_path(d->pin_dir, i, path, sizeof(path));
		fd = bpf_obj_get(path);
		if (fd >= 0) {
			if (link_cgroup(fd) == cg_id) {
				ret = bpf_link_update(fd, prog_fd, NULL) ? -errno : 0;
				close(fd);
				if (ret)
					ERR("socket LB: update %s link on %s: %s", hooks[i].name,
					    cgroup, strerror(-ret));
				return ret;
			}
			/* Attached elsewhere (another --cgroup-root): move. */
			bpf_link_detach(fd);
			close(fd);
			unlink(path);
		}
	} else if (d->sock_link_fd[i] >= 0) {
		bpf_link_detach(d->sock_link_fd[i]);
		close(d->sock_link_fd[i]);
		d->sock_link_fd[i] = -1;
	}
	fd = bpf_link_create(prog_fd, cg_fd, hooks[i].type, NULL);
	if (fd < 0) {
		ret = -errno;
		ERR("socket LB: attach %s to cgroup %s: %s (%d)", hooks[i].name, cgroup,
		    strerror(-ret), ret);
		return ret;
	}
	if (!d->pin_dir[0]) {
		d->sock_link_fd[i] = fd;
		return 0;
	}
	ret = bpf_obj_pin(fd, path) ? -errno : 0;
	if (ret) {
		ERR("socket LB: pin %s link at %s: %s", hooks[i].name, path, strerror(-ret));
		bpf_link_detach(fd);
	}
	close(fd);
	return ret;
}

int bpf_sock_attach(struct xlb_dp *dp, const char *cgroup, char *err, size_t errlen)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	uint64_t id;
	int cg_fd, ret = 0, i;

	if (!d->sock) {
		ERR("socket LB: not available: %s", d->sock_why);
		return -EOPNOTSUPP;
	}
	cg_fd = open_cgroup(cgroup, &id, err, errlen);
	if (cg_fd < 0)
		return cg_fd;
	/* recvmsg and getpeername first: a socket translated by connect must
	 * find its reverse translation already in place. */
	for (i = XLB_SOCK_HOOKS - 1; i >= 0 && !ret; i--)
		ret = attach_hook(d, i, cg_fd, id, cgroup, err, errlen);
	close(cg_fd);
	if (ret) {
		bpf_sock_detach(dp, NULL, 0);
		return ret;
	}
	if (strlen(cgroup) >= sizeof(d->sock_cgroup))
		snprintf(d->sock_cgroup, sizeof(d->sock_cgroup), "(cgroup id %llu)",
			 (unsigned long long)id);
	else
		memcpy(d->sock_cgroup, cgroup, strlen(cgroup) + 1);
	return 0;
}

int bpf_sock_detach(struct xlb_dp *dp, char *err, size_t errlen)
{
	struct xlb_dp_bpf *d = to_bpf(dp);

	for (int i = 0; i < XLB_SOCK_HOOKS; i++) {
		if (d->pin_dir[0]) {
			xlb_dp_bpf_sock_unpin(d->pin_dir, hooks[i].name);
		} else if (d->sock_link_fd[i] >= 0) {
			bpf_link_detach(d->sock_link_fd[i]);
			close(d->sock_link_fd[i]);
			d->sock_link_fd[i] = -1;
		}
	}
	d->sock_cgroup[0] = 0;
	return 0;
}

/* Detach and unpin one hook's link (name NULL: all of them). */
int xlb_dp_bpf_sock_unpin(const char *pin_dir, const char *name)
{
	for (int i = 0; i < XLB_SOCK_HOOKS; i++) {
		char path[PATH_MAX];
		int fd;

		if (name && strcmp(name, hooks[i].name))
			continue;
		hook_pin_path(pin_dir, i, path, sizeof(path));
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		bpf_link_detach(fd);
		close(fd);
		unlink(path);
	}
	return 0;
}

int bpf_sock_stats(struct xlb_dp *dp, uint64_t out[XLB_SOCK_STAT_MAX])
{
	struct xlb_dp_bpf *d = to_bpf(dp);

	if (!d->sock)
		return -EOPNOTSUPP;
	return xlb_dp_bpf_percpu_array_sum(d, bpf_map__fd(d->sock->maps.sock_stats), out,
					   XLB_SOCK_STAT_MAX);
}

int bpf_sock_service_stats(struct xlb_dp *dp, const struct xlb_service_spec *svc,
			   struct xlb_sock_counters *out)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	struct xlb_sock_counters *v;
	uint32_t id;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!d->sock)
		return -EOPNOTSUPP;
	ret = xlb_dp_bpf_svc_id(d, svc, &id);
	if (ret)
		return ret;
	v = calloc(d->ncpus, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(d->sock->maps.sock_svc_stats), &id, v)) {
		ret = -errno;
		free(v);
		return ret;
	}
	for (int c = 0; c < d->ncpus; c++) {
		out->connects += v[c].connects;
		out->sends += v[c].sends;
		out->refused += v[c].refused;
	}
	free(v);
	return 0;
}
