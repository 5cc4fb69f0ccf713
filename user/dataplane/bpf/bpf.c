// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * BPF dataplane: loading, pinning and adoption, XDP attachment, counters
 * and conntrack. Services live in bpf_svc.c.
 *
 * Pinning: every map is pinned by name under pin_dir, and every XDP link
 * as pin_dir/link_IFNAME. A new process loads the program again, reuses
 * the pinned maps (libbpf checks their layout), and moves the pinned links
 * to its program with one atomic bpf_link_update: traffic never stops and
 * established flows keep their conntrack entries.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "util/clock.h"
#include "bpf_priv.h"
#include "explain.h"
#include "snat.h"
#include "xlb.skel.h"
#include "xlb_sock.skel.h"
#include "xlb_tc_pod.skel.h"

#define ERR(...) do { if (err) snprintf(err, errlen, __VA_ARGS__); } while (0)
#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif
#define GRACE_MS_DEFAULT 1000	/* an XDP run takes microseconds */

/* libbpf's messages, the verifier log included, whole (a verifier log
 * runs to many kilobytes and its last lines say why). */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	xlb_vlog(level == LIBBPF_WARN ? XLB_LOG_WARN :
		 level == LIBBPF_INFO ? XLB_LOG_INFO : XLB_LOG_DEBUG, "libbpf", fmt, ap);
	return 0;
}

int xlb_dp_bpf_percpu_sum(struct xlb_dp_bpf *d, int fd, uint32_t key, struct xlb_counters *out)
{
	struct xlb_counters *v = calloc(d->ncpus, sizeof(*v));

	if (!v)
		return -ENOMEM;
	memset(out, 0, sizeof(*out));
	if (bpf_map_lookup_elem(fd, &key, v)) {
		free(v);
		return -errno;
	}
	for (int i = 0; i < d->ncpus; i++) {
		out->packets += v[i].packets;
		out->bytes += v[i].bytes;
		out->new_flows += v[i].new_flows;
	}
	free(v);
	return 0;
}

/* Sum n per-CPU __u64 counters of an array map, index 0 .. n-1. */
int xlb_dp_bpf_percpu_array_sum(struct xlb_dp_bpf *d, int fd, uint64_t *out, uint32_t n)
{
	uint64_t *v = calloc(d->ncpus, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(fd, &i, v))
			continue;
		for (int c = 0; c < d->ncpus; c++)
			out[i] += v[c];
	}
	free(v);
	return 0;
}

int xlb_dp_bpf_percpu_zero(struct xlb_dp_bpf *d, int fd, uint32_t key, size_t val_size)
{
	size_t sz = (val_size + 7) & ~(size_t)7;
	void *v = calloc(d->ncpus, sz);
	int ret;

	if (!v)
		return -ENOMEM;
	ret = bpf_map_update_elem(fd, &key, v, BPF_ANY) ? -errno : 0;
	free(v);
	return ret;
}

static int ensure_bpffs(const char *dir, char *err, size_t errlen)
{
	struct statfs st;
	char path[PATH_MAX];

	if (statfs("/sys/fs/bpf", &st) || st.f_type != BPF_FS_MAGIC) {
		mkdir("/sys/fs/bpf", 0700);
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
			ERR("mount bpffs on /sys/fs/bpf: %s", strerror(errno));
			return -errno;
		}
	}
	snprintf(path, sizeof(path), "%s", dir);
	if (mkdir(path, 0700) && errno != EEXIST) {
		ERR("create pin directory %s: %s", path, strerror(errno));
		return -errno;
	}
	if (statfs(path, &st) || st.f_type != BPF_FS_MAGIC) {
		ERR("pin directory %s is not on a bpf filesystem", path);
		return -EINVAL;
	}
	return 0;
}

/* Maps whose content can be lost or rebuilt: counters, and caches the
 * datapath or this library fills again. When a new build changes one's
 * layout (a counter added, another size), the pinned one is replaced. */
static const char *const rebuildable_maps[] = {
	"stats", "svc_stats", "backend_stats", "be_nh", "svc_prev", "port_map",
	"sock_stats", "sock_svc_stats", "pod_stats",
};

static bool is_rebuildable(const char *name)
{
	for (size_t i = 0; i < sizeof(rebuildable_maps) / sizeof(rebuildable_maps[0]); i++)
		if (!strcmp(name, rebuildable_maps[i]))
			return true;
	return false;
}

static int pinned_map_info(const char *path, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);
	int fd = bpf_obj_get(path), ret;

	if (fd < 0)
		return -errno;
	memset(info, 0, sizeof(*info));
	ret = bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
	close(fd);
	return ret;
}

/* Before load. A pinned map of another layout than this build's is
 * replaced when its content can be rebuilt; a map of state (conntrack,
 * affinity, services) that only changed size (a new --ct-entries ...) is
 * set aside as NAME.old and its entries copied into the new one after
 * load (migrate_state; the xlb object's maps only: can_migrate). Anything
 * else fails the load, as libbpf would. */
static void set_aside_changed_maps(struct bpf_object *obj, bool can_migrate)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, obj) {
		const char *path = bpf_map__pin_path(m);
		struct bpf_map_info info;
		char old[PATH_MAX];

		if (!path || pinned_map_info(path, &info))
			continue;
		if (info.type == bpf_map__type(m) && info.key_size == bpf_map__key_size(m) &&
		    info.value_size == bpf_map__value_size(m) &&
		    info.max_entries == bpf_map__max_entries(m) &&
		    info.map_flags == bpf_map__map_flags(m))
			continue;
		if (is_rebuildable(bpf_map__name(m))) {
			pr_info("pinned map %s has another layout (an older build, or another "
				"size): replaced, its content starts again", path);
			if (unlink(path))
				pr_warn("unpin %s: %s", path, strerror(errno));
			continue;
		}
		if (!can_migrate || info.type != bpf_map__type(m) ||
		    info.key_size != bpf_map__key_size(m) || info.value_size != bpf_map__value_size(m))
			continue;	/* libbpf refuses it and says so */
		snprintf(old, sizeof(old), "%s.old", path);
		pr_info("pinned map %s: %u entries, now %u: its entries move to a new map", path,
			info.max_entries, bpf_map__max_entries(m));
		if (rename(path, old))
			pr_warn("set aside %s: %s", path, strerror(errno));
	}
}

/* The layout of what is pinned: XLB_LAYOUT_VERSION from the meta map; 1
 * for pins of a build before it (ct_map, no meta); 0 for nothing pinned.
 * A newer layout than this build's is refused: a downgrade would read
 * maps it does not understand. */
static int pinned_layout(struct xlb_dp_bpf *d, uint32_t *layout, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct xlb_meta mv;
	uint32_t zero = 0;
	int fd;

	*layout = 0;
	snprintf(path, sizeof(path), "%s/meta", d->pin_dir);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		int ret = bpf_map_lookup_elem(fd, &zero, &mv) ? -errno : 0;

		close(fd);
		if (ret) {
			ERR("read layout version from %s: %s", path, strerror(-ret));
			return ret;
		}
		*layout = mv.layout;
		if (mv.layout > XLB_LAYOUT_VERSION) {
			ERR("the datapath pinned under %s has layout %u, newer than this build's %u: "
			    "refusing to adopt it (a downgrade); run the newer xlbd, or start over "
			    "with --cleanup (drops every flow)", d->pin_dir, mv.layout,
			    XLB_LAYOUT_VERSION);
			return -EPROTO;
		}
		return 0;
	}
	snprintf(path, sizeof(path), "%s/svc_map", d->pin_dir);
	if (!access(path, F_OK))
		*layout = 1;
	return 0;
}

/*
 * A build of layout 1 knows no meta map: it would adopt the pins, replace
 * what it takes for counters, and run without the conntrack of ct4 (every
 * established flow re-balanced). So a map of its conntrack's name is left
 * pinned with another layout (a one-entry array): its loader refuses it,
 * and it does not start.
 */
static bool is_downgrade_guard(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return !bpf_obj_get_info_by_fd(fd, &info, &len) && info.type == BPF_MAP_TYPE_ARRAY &&
	       info.max_entries == 1;
}

static void pin_downgrade_guard(struct xlb_dp_bpf *d)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/ct_map", d->pin_dir);
	if (!access(path, F_OK))
		return;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ct_map", 4, 4, 1, NULL);
	if (fd < 0 || bpf_obj_pin(fd, path))
		pr_warn("pin the downgrade guard %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* Copy what the datapath of layout 1 tracked (ct_map: 40-byte keys, two
 * entries a flow, IPv4 in 16-byte addresses) into ct4. Returns how many. */
static uint32_t migrate_ct_v1(struct xlb_dp_bpf *d, int old_fd)
{
	int fd = bpf_map__fd(d->skel->maps.ct4);
	struct xlb_ct_key_v1 k, *prev = NULL;
	uint32_t n = 0;

	while (!bpf_map_get_next_key(old_fd, prev, &k)) {
		struct xlb_ct_val_v1 v;
		struct xlb_ct4_key nk = {};
		struct xlb_ct4_val nv = {};

		prev = &k;
		if (k.family != XLB_AF_INET || bpf_map_lookup_elem(old_fd, &k, &v))
			continue;
		nk.saddr = k.saddr.a32[0];
		nk.daddr = k.daddr.a32[0];
		nk.sport = k.sport;
		nk.dport = k.dport;
		nk.proto = k.proto;
		nv.dir = v.dir;
		nv.state = v.state == XLB_CT_NEW ? XLB_CT_ESTABLISHED : v.state;
		nv.last_seen = v.last_seen;
		nv.svc_id = v.svc_id;
		nv.backend_id = v.backend_id;
		if (v.dir == XLB_CT_FWD) {
			nv.fwd.backend_gen = v.backend_gen;
			nv.fwd.created = v.created;
		} else {
			nv.rev.nat_addr = v.nat_addr.a32[0];
			nv.rev.nat_port = v.nat_port;
			nv.rev.ifindex = v.ifindex;
			memcpy(nv.rev.smac, v.smac, 6);
			memcpy(nv.rev.dmac, v.dmac, 6);
		}
		if (!bpf_map_update_elem(fd, &nk, &nv, BPF_NOEXIST))
			n++;
	}
	return n;
}

/* Copy every entry of a set-aside map (same layout, another size) into
 * the new one. */
static uint32_t copy_entries(int from, int to, uint32_t ksz, uint32_t vsz)
{
	char k[64], v[256], *prev = NULL;
	uint32_t n = 0;

	if (ksz > sizeof(k) || vsz > sizeof(v))
		return 0;
	while (!bpf_map_get_next_key(from, prev, k)) {
		prev = k;
		if (!bpf_map_lookup_elem(from, k, v) && !bpf_map_update_elem(to, k, v, BPF_NOEXIST))
			n++;
	}
	return n;
}

/* After load: bring the state of the previous datapath (its pins) into
 * this one's maps. Run before the links move to this program and once
 * more after (what the old program added in between); final (the second
 * run) also removes the old pins. */
static void migrate_state(struct xlb_dp_bpf *d, bool final)
{
	static const char *const v1_only[] = { "ct_map", "rr_state", "scratch" };
	struct bpf_map *m;
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/ct_map", d->pin_dir);
	fd = bpf_obj_get(path);
	if (fd >= 0 && !is_downgrade_guard(fd)) {
		uint32_t n = migrate_ct_v1(d, fd);

		pr_info("conntrack of the previous datapath (layout 1): %u entries moved%s", n,
			final ? "" : ", once more after the switch");
	}
	if (fd >= 0)
		close(fd);
	bpf_object__for_each_map(m, d->skel->obj) {
		const char *p = bpf_map__pin_path(m);
		char old[PATH_MAX];

		if (!p)
			continue;
		snprintf(old, sizeof(old), "%s.old", p);
		fd = bpf_obj_get(old);
		if (fd < 0)
			continue;
		copy_entries(fd, bpf_map__fd(m), bpf_map__key_size(m), bpf_map__value_size(m));
		close(fd);
		if (final)
			unlink(old);
	}
	if (!final)
		return;
	for (size_t i = 0; i < sizeof(v1_only) / sizeof(v1_only[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", d->pin_dir, v1_only[i]);
		if (i == 0 && (fd = bpf_obj_get(path)) >= 0) {
			bool guard = is_downgrade_guard(fd);

			close(fd);
			if (guard)
				continue;
		}
		unlink(path);
	}
	pin_downgrade_guard(d);
}

static int write_layout(struct xlb_dp_bpf *d)
{
	struct xlb_meta mv = { .layout = XLB_LAYOUT_VERSION };
	uint32_t zero = 0;

	return bpf_map_update_elem(bpf_map__fd(d->skel->maps.meta), &zero, &mv, BPF_ANY) ?
		-errno : 0;
}

/* Pin every map of obj by name under pin_dir, or nothing when not pinning. */
static void set_pin_paths(struct xlb_dp_bpf *d, struct bpf_object *obj)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, obj) {
		char path[PATH_MAX];

		if (!d->pin_dir[0]) {
			bpf_map__set_pin_path(m, NULL);
			continue;
		}
		/* Only the maps the object pins by name (state): not the scratch
		 * buffer, nor the clock, whose timer belongs to its program. */
		if (bpf_map__is_internal(m) || !bpf_map__pin_path(m))
			continue;
		snprintf(path, sizeof(path), "%s/%s", d->pin_dir, bpf_map__name(m));
		bpf_map__set_pin_path(m, path);
	}
}

int xlb_dp_bpf_prepare_object(struct xlb_dp_bpf *d, struct bpf_object *obj)
{
	struct bpf_map *m;
	int ret;

	set_pin_paths(d, obj);
	bpf_object__for_each_map(m, obj) {
		struct bpf_map *ours;

		if (bpf_map__is_internal(m))
			continue;
		ours = bpf_object__find_map_by_name(d->skel->obj, bpf_map__name(m));
		if (!ours)
			continue;
		bpf_map__set_pin_path(m, NULL);
		ret = bpf_map__reuse_fd(m, bpf_map__fd(ours));
		if (ret)
			return ret;
	}
	if (d->pin_dir[0])
		set_aside_changed_maps(obj, false);
	return 0;
}

static void link_pin_path(const struct xlb_dp_bpf *d, const char *ifname, char *buf, size_t len)
{
	snprintf(buf, len, "%s/link_%s", d->pin_dir, ifname);
}

/* Move every pinned link of an earlier instance to this program. */
static int adopt_links(struct xlb_dp_bpf *d)
{
	int prog_fd = bpf_program__fd(d->skel->progs.xlb_xdp);
	struct dirent *de;
	DIR *dir;
	int ret = 0;

	dir = opendir(d->pin_dir);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		char path[PATH_MAX];
		int fd;

		if (strncmp(de->d_name, "link_", 5))
			continue;
		snprintf(path, sizeof(path), "%s/%s", d->pin_dir, de->d_name);
		fd = bpf_obj_get(path);
		if (fd < 0) {
			pr_warn("adopt link %s: %s", path, strerror(errno));
			continue;
		}
		if (bpf_link_update(fd, prog_fd, NULL)) {
			ret = -errno;
			pr_warn("update link %s to the new program: %s", path, strerror(errno));
		}
		close(fd);
	}
	closedir(dir);
	return ret;
}

static int xdp_attach(struct xlb_dp_bpf *d, const char *ifname, char *err, size_t errlen)
{
	int prog_fd = bpf_program__fd(d->skel->progs.xlb_xdp);
	LIBBPF_OPTS(bpf_link_create_opts, lopts);
	char path[PATH_MAX];
	unsigned int ifindex;
	int fd, ret;

	ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		ERR("attach XDP on %s: no such interface", ifname);
		return -ENODEV;
	}
	if (d->pin_dir[0]) {
		link_pin_path(d, ifname, path, sizeof(path));
		fd = bpf_obj_get(path);
		if (fd >= 0) {
			struct bpf_link_info info = {};
			__u32 len = sizeof(info);

			/* Already ours: make sure it runs this program. */
			if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
			    info.xdp.ifindex == ifindex) {
				ret = bpf_link_update(fd, prog_fd, NULL) ? -errno : 0;
				close(fd);
				if (ret)
					ERR("attach XDP on %s: update link: %s", ifname, strerror(-ret));
				return ret;
			}
			/* Stale pin (the interface was recreated): replace it. */
			close(fd);
			unlink(path);
		}
	}

	lopts.flags = d->xdp_generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &lopts);
	if (fd < 0) {
		ret = -errno;
		ERR("attach XDP (%s) on %s: %s (%d)", d->xdp_generic ? "generic" : "native",
		    ifname, strerror(-ret), ret);
		return ret;
	}
	if (d->pin_dir[0]) {
		if (bpf_obj_pin(fd, path)) {
			ret = -errno;
			ERR("pin XDP link of %s at %s: %s", ifname, path, strerror(-ret));
			close(fd);
			return ret;
		}
		close(fd);
		return 0;
	}
	{
		struct dp_link *nl = realloc(d->links, (d->n_links + 1) * sizeof(*nl));

		if (!nl) {
			close(fd);
			return -ENOMEM;
		}
		d->links = nl;
		snprintf(nl[d->n_links].ifname, sizeof(nl[d->n_links].ifname), "%s", ifname);
		nl[d->n_links].fd = fd;
		d->n_links++;
	}
	return 0;
}

/* XDP on the NIC, and tc ingress behind it for what XDP sends to a pod
 * here (pod.c); without that, such frames reach the pod through the stack. */
static int bpf_attach(struct xlb_dp *dp, const char *ifname, char *err, size_t errlen)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	char why[256] = "";
	int ret = xdp_attach(d, ifname, err, errlen);

	if (!ret && xlb_dp_bpf_nic_attach(d, ifname, why, sizeof(why)))
		pr_warn("%s: local pods reached through the stack", why);
	return ret;
}

static int bpf_detach(struct xlb_dp *dp, const char *ifname, char *err, size_t errlen)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	char path[PATH_MAX];
	int fd;

	xlb_dp_bpf_nic_detach(d, ifname);
	if (d->pin_dir[0]) {
		link_pin_path(d, ifname, path, sizeof(path));
		fd = bpf_obj_get(path);
		if (fd < 0) {
			ERR("detach XDP from %s: not attached by xlb", ifname);
			return -ENOENT;
		}
		bpf_link_detach(fd);
		close(fd);
		unlink(path);
		return 0;
	}
	for (size_t i = 0; i < d->n_links; i++) {
		if (strcmp(d->links[i].ifname, ifname))
			continue;
		bpf_link_detach(d->links[i].fd);
		close(d->links[i].fd);
		d->links[i] = d->links[--d->n_links];
		return 0;
	}
	ERR("detach XDP from %s: not attached by xlb", ifname);
	return -ENOENT;
}

static int node_addr_key(struct xlb_node_addr_key *k, const struct xlb_ip *ip)
{
	if (ip->family != XLB_AF_INET && ip->family != XLB_AF_INET6)
		return -EINVAL;
	memset(k, 0, sizeof(*k));
	k->addr = ip->addr;
	k->family = ip->family;
	return 0;
}

/* snat_src: an IPv4 node address while the node has one (the first
 * added; another when it goes). */
static void snat_src_pick(struct xlb_dp_bpf *d)
{
	int fd = bpf_map__fd(d->skel->maps.node_addrs);
	struct xlb_node_addr_key k, *prev = NULL;
	struct xlb_snat_src src = {};
	uint32_t zero = 0;

	while (!bpf_map_get_next_key(fd, prev, &k)) {
		prev = &k;
		if (k.family == XLB_AF_INET) {
			src.addr = k.addr.a32[0];
			break;
		}
	}
	bpf_map_update_elem(bpf_map__fd(d->skel->maps.snat_src), &zero, &src, BPF_ANY);
}

static int bpf_node_addr_add(struct xlb_dp *dp, const struct xlb_ip *ip)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	struct xlb_node_addr_key k;
	struct xlb_snat_src src = {};
	__u32 one = 1, zero = 0;

	if (node_addr_key(&k, ip) || xlb_ip_is_zero(ip))
		return -EINVAL;
	if (bpf_map_update_elem(bpf_map__fd(d->skel->maps.node_addrs), &k, &one, BPF_ANY))
		return -errno;
	if (ip->family == XLB_AF_INET &&
	    (bpf_map_lookup_elem(bpf_map__fd(d->skel->maps.snat_src), &zero, &src) || !src.addr))
		snat_src_pick(d);
	return 0;
}

static int bpf_node_addr_del(struct xlb_dp *dp, const struct xlb_ip *ip)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	struct xlb_node_addr_key k;
	struct xlb_snat_src src = {};
	__u32 zero = 0;

	if (node_addr_key(&k, ip))
		return -EINVAL;
	if (bpf_map_delete_elem(bpf_map__fd(d->skel->maps.node_addrs), &k))
		return -errno;
	if (!bpf_map_lookup_elem(bpf_map__fd(d->skel->maps.snat_src), &zero, &src) &&
	    ip->family == XLB_AF_INET && src.addr == ip->addr.a32[0])
		snat_src_pick(d);
	return 0;
}

static int bpf_backend_stats(struct xlb_dp *dp, uint32_t id, struct xlb_counters *out)
{
	struct xlb_dp_bpf *d = to_bpf(dp);

	if (!id || id >= d->max_backends)
		return -EINVAL;
	return xlb_dp_bpf_percpu_sum(d, bpf_map__fd(d->skel->maps.backend_stats), id, out);
}

static int bpf_global_stats(struct xlb_dp *dp, uint64_t out[XLB_STAT_MAX])
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	int fd = bpf_map__fd(d->skel->maps.stats);
	struct xlb_stats *v = calloc(d->ncpus, sizeof(*v));
	uint32_t zero = 0;

	if (!v)
		return -ENOMEM;
	memset(out, 0, XLB_STAT_MAX * sizeof(out[0]));
	if (bpf_map_lookup_elem(fd, &zero, v)) {
		free(v);
		return -errno;
	}
	for (int c = 0; c < d->ncpus; c++)
		for (int i = 0; i < XLB_STAT_MAX; i++)
			out[i] += v[c].v[i];
	/* rx is the sum of the outcomes: every packet counts exactly one */
	out[XLB_STAT_RX] = 0;
	for (int i = 0; i < XLB_STAT_MAX; i++) {
		enum xlb_stat_kind k = xlb_stat_info(i)->kind;

		if (k != XLB_SK_TOTAL && k != XLB_SK_EVENT)
			out[XLB_STAT_RX] += out[i];
	}
	free(v);
	return 0;
}

/* An entry of ct4 as people read it. */
static void ct4_entry(struct xlb_ct_entry *e, const struct xlb_ct4_key *k,
		      const struct xlb_ct4_val *v, uint32_t now)
{
	memset(e, 0, sizeof(*e));
	e->src.family = e->dst.family = XLB_AF_INET;
	e->src.addr.a32[0] = k->saddr;
	e->dst.addr.a32[0] = k->daddr;
	e->sport = ntohs(k->sport);
	e->dport = ntohs(k->dport);
	e->proto = k->proto;
	e->dir = v->dir;
	e->state = v->state;
	e->svc_id = v->svc_id;
	e->backend_id = v->backend_id;
	e->age = v->dir == XLB_CT_FWD ? now - v->fwd.created : 0;
	e->idle = now - v->last_seen;
}

/* A flow not established yet, keyed by its reply tuple: listed as the
 * client's direction, to the address it used. */
static void ct_syn_entry(struct xlb_ct_entry *e, const struct xlb_ct4_key *k,
			 const struct xlb_ct_syn_val *v, uint32_t now)
{
	memset(e, 0, sizeof(*e));
	e->src.family = e->dst.family = XLB_AF_INET;
	e->src.addr.a32[0] = k->daddr;
	e->dst.addr.a32[0] = v->nat_addr;
	e->sport = ntohs(k->dport);
	e->dport = ntohs(v->nat_port);
	e->proto = k->proto;
	e->dir = XLB_CT_FWD;
	e->state = XLB_CT_NEW;
	e->svc_id = v->svc_id;
	e->backend_id = v->backend_id;
	e->age = e->idle = now - v->created;
}

static int bpf_ct_list(struct xlb_dp *dp, xlb_ct_cb cb, void *arg)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	int fd = bpf_map__fd(d->skel->maps.ct4), sfd = bpf_map__fd(d->skel->maps.ct_syn);
	struct xlb_ct4_key k, *prev = NULL;
	uint32_t now = xlb_coarse_s();
	struct xlb_ct_entry e;
	int ret;

	while (!bpf_map_get_next_key(fd, prev, &k)) {
		struct xlb_ct4_val v;

		prev = &k;
		if (bpf_map_lookup_elem(fd, &k, &v))
			continue;
		ct4_entry(&e, &k, &v, now);
		ret = cb(&e, arg);
		if (ret)
			return ret;
	}
	prev = NULL;
	while (!bpf_map_get_next_key(sfd, prev, &k)) {
		struct xlb_ct_syn_val v;

		prev = &k;
		if (bpf_map_lookup_elem(sfd, &k, &v))
			continue;
		ct_syn_entry(&e, &k, &v, now);
		ret = cb(&e, arg);
		if (ret)
			return ret;
	}
	return 0;
}

/* Delete every entry of one map; adds how many to *n. */
static int map_flush(int fd, void *key, uint32_t *n)
{
	while (!bpf_map_get_next_key(fd, NULL, key)) {
		if (!bpf_map_delete_elem(fd, key))
			(*n)++;
		else if (errno != ENOENT)
			return -errno;
	}
	return 0;
}

static int bpf_ct_flush(struct xlb_dp *dp, uint32_t *removed)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	struct xlb_ct4_key k;
	uint32_t n = 0;
	int ret;

	ret = map_flush(bpf_map__fd(d->skel->maps.ct4), &k, &n);
	if (!ret)
		ret = map_flush(bpf_map__fd(d->skel->maps.ct_syn), &k, &n);
	/* the pod veths' own flows, apart */
	if (!ret && d->tc)
		ret = map_flush(bpf_map__fd(d->tc->maps.pod_ct), &k, &n);
	if (removed)
		*removed = n;
	return ret;
}

/* Each cached next hop (be_nh) of a backend in use is made older than
 * XLB_NH_TTL by moving its stamp back by that much, which holds whatever
 * XDP's clock reads; the rest of the entry is written back as it was, so
 * a packet reading it meanwhile sees old or refreshed values, never a
 * cleared MAC or MTU. A refresh racing with this is looked up again once
 * more. No per-packet cost: XDP's check is the TTL's own. */
static int bpf_nexthop_flush(struct xlb_dp *dp, uint32_t *n)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	int fd = bpf_map__fd(d->skel->maps.be_nh);

	for (uint32_t id = 0; id < d->max_backends; id++) {
		struct xlb_nexthop nh;

		if (!d->be_used[id] || bpf_map_lookup_elem(fd, &id, &nh) || !nh.ifindex)
			continue;
		nh.stamp -= XLB_NH_TTL;
		if (bpf_map_update_elem(fd, &id, &nh, BPF_EXIST))
			return -errno;
		(*n)++;
	}
	return 0;
}

/* The pod veths' flows (pod_ct): each entry by its own state and idle
 * time. *n += removed. */
static void pod_ct_gc(int fd, const struct xlb_ct_timeouts *t, uint32_t now, uint32_t *n)
{
	struct xlb_ct4_key k, next;
	bool have = !bpf_map_get_next_key(fd, NULL, &k);

	while (have) {
		struct xlb_pod_ct_val v;

		have = !bpf_map_get_next_key(fd, &k, &next);
		if (!bpf_map_lookup_elem(fd, &k, &v) &&
		    xlb_ct_expired(t, k.proto, v.state, now - v.last_seen) &&
		    !bpf_map_delete_elem(fd, &k))
			(*n)++;
		k = next;
	}
}

/* Entries are judged one by one: a reply entry lives as long as replies
 * come (a client packet writes it again once a second if it went). A flow
 * not established yet lives as long as a handshake may take. */
static int bpf_ct_gc(struct xlb_dp *dp, const struct xlb_ct_timeouts *t, uint32_t *removed)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	int fd = bpf_map__fd(d->skel->maps.ct4), sfd = bpf_map__fd(d->skel->maps.ct_syn);
	struct xlb_ct4_key k, next;
	uint32_t now = xlb_coarse_s(), n = 0;
	bool have;

	xlb_dp_bpf_prev_retire(d);
	have = !bpf_map_get_next_key(fd, NULL, &k);

	while (have) {
		struct xlb_ct4_val v;

		have = !bpf_map_get_next_key(fd, &k, &next);
		if (!bpf_map_lookup_elem(fd, &k, &v) &&
		    xlb_ct_expired(t, k.proto, v.state, now - v.last_seen) &&
		    !bpf_map_delete_elem(fd, &k))
			n++;
		k = next;
	}
	if (d->tc)
		pod_ct_gc(bpf_map__fd(d->tc->maps.pod_ct), t, now, &n);
	have = !bpf_map_get_next_key(sfd, NULL, &k);
	while (have) {
		struct xlb_ct_syn_val v;

		have = !bpf_map_get_next_key(sfd, &k, &next);
		if (!bpf_map_lookup_elem(sfd, &k, &v) &&
		    xlb_ct_expired(t, k.proto, XLB_CT_NEW, now - v.created) &&
		    !bpf_map_delete_elem(sfd, &k))
			n++;
		k = next;
	}
	{
		uint32_t m = 0;
		int ret = xlb_snat_expire(bpf_map__fd(d->skel->maps.snat4_fwd),
					  bpf_map__fd(d->skel->maps.snat4_rev), t, now, &m);

		if (ret)
			pr_warn("expire SNAT mappings: %s", strerror(-ret));
		n += m;
	}
	if (removed)
		*removed = n;
	return 0;
}

static int bpf_hooks(struct xlb_dp *dp, struct xlb_hooks_info *out)
{
	struct xlb_dp_bpf *d = to_bpf(dp);

	memset(out, 0, sizeof(*out));
	out->sock_loaded = d->sock;
	snprintf(out->sock_cgroup, sizeof(out->sock_cgroup), "%s", d->sock_cgroup);
	snprintf(out->sock_why, sizeof(out->sock_why), "%s", d->sock_why);
	out->pod_loaded = d->tc;
	out->pod_mode = d->tcx == 1 ? "tcx" : d->tcx == 0 ? "tc (netlink)" : "";
	snprintf(out->pod_why, sizeof(out->pod_why), "%s", d->tc_why);
	out->n_pod_ifaces = (uint32_t)xlb_dp_bpf_n_pods(d);
	return 0;
}

static void bpf_close(struct xlb_dp *dp)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	size_t pos = 0;
	void *done;

	for (size_t i = 0; i < d->n_links; i++)
		close(d->links[i].fd);
	free(d->links);
	xlb_dp_bpf_sock_close(d);
	xlb_dp_bpf_pod_close(d);
	xlb_dp_bpf_svc_free_all(d);
	while ((done = xlb_htab_next(&d->nh_done, &pos)))
		free(done);	/* nexthops_keep's addresses */
	xlb_htab_fini(&d->nh_done);
	if (d->nl_open)
		nlsock_close(&d->nl);
	xlb__destroy(d->skel);
	free(d);
}

const struct xlb_dp_ops xlb_dp_bpf_ops = {
	.name = "xdp",
	.service_set = bpf_service_set,
	.service_delete = bpf_service_delete,
	.service_list = bpf_service_list,
	.node_addr_add = bpf_node_addr_add,
	.node_addr_del = bpf_node_addr_del,
	.attach = bpf_attach,
	.detach = bpf_detach,
	.service_stats = bpf_service_stats,
	.backend_stats = bpf_backend_stats,
	.global_stats = bpf_global_stats,
	.ct_list = bpf_ct_list,
	.ct_flush = bpf_ct_flush,
	.nexthop_flush = bpf_nexthop_flush,
	.expire = bpf_ct_gc,
	.explain = xlb_dp_bpf_explain,
	.close = bpf_close,
	.sock_attach = bpf_sock_attach,
	.sock_detach = bpf_sock_detach,
	.sock_stats = bpf_sock_stats,
	.sock_service_stats = bpf_sock_service_stats,
	.pod_attach = bpf_pod_attach,
	.pod_detach = bpf_pod_detach,
	.pod_stats = bpf_pod_stats,
	.hooks = bpf_hooks,
	.upkeep_fd = bpf_upkeep_fd,
	.upkeep = bpf_upkeep,
};

/* The options into d: pin directory, table sizes, grace period. */
static int take_opts(struct xlb_dp_bpf *d, const struct xlb_dp_opts *opts, char *err,
		     size_t errlen)
{
	const char *pin = opts->pin_dir ? opts->pin_dir : XLB_PIN_DIR_DEFAULT;

	if (strlen(pin) >= sizeof(d->pin_dir)) {
		ERR("pin directory name too long (max %zu)", sizeof(d->pin_dir) - 1);
		return -ENAMETOOLONG;
	}
	snprintf(d->pin_dir, sizeof(d->pin_dir), "%s", pin);
	d->max_services = opts->max_services ? opts->max_services : XLB_MAX_SERVICES;
	d->max_backends = opts->max_backends ? opts->max_backends : XLB_MAX_BACKENDS;
	d->sel_slots = opts->sel_slots ? opts->sel_slots : XLB_MAX_SEL_SLOTS;
	d->xdp_generic = opts->xdp_generic;
	d->grace_ns = (uint64_t)(opts->grace_ms ? opts->grace_ms : GRACE_MS_DEFAULT) * 1000000ULL;
	d->lb_mode_dsr = opts->lb_mode_dsr;
	d->ncpus = libbpf_num_possible_cpus();
	if (d->ncpus <= 0) {
		ERR("count possible CPUs: %s", strerror(-d->ncpus));
		return -EINVAL;
	}
	return 0;
}

/* The XDP object sized, over the pinned maps (*layout: theirs, 0 none),
 * and loaded. */
static int load_object(struct xlb_dp_bpf *d, const struct xlb_dp_opts *opts, uint32_t *layout,
		       char *err, size_t errlen)
{
	struct xlb *skel;
	int ret;

	if (d->pin_dir[0]) {
		ret = ensure_bpffs(d->pin_dir, err, errlen);
		if (ret)
			return ret;
	}
	skel = d->skel = xlb__open();
	if (!skel) {
		ret = -errno;
		ERR("open BPF object: %s", strerror(errno));
		return ret;
	}
	bpf_map__set_max_entries(skel->maps.svc_map, d->max_services * 2);
	bpf_map__set_max_entries(skel->maps.svc_stats, d->max_services);
	bpf_map__set_max_entries(skel->maps.svc_prev, d->max_services);
	bpf_map__set_max_entries(skel->maps.backend_map, d->max_backends);
	bpf_map__set_max_entries(skel->maps.backend_stats, d->max_backends);
	bpf_map__set_max_entries(skel->maps.be_nh, d->max_backends);
	bpf_map__set_max_entries(skel->maps.dsr_be, d->max_backends);
	bpf_map__set_max_entries(skel->maps.sel_map, d->sel_slots);
	if (opts->ct_entries)
		bpf_map__set_max_entries(skel->maps.ct4, opts->ct_entries);
	if (opts->ct_syn_entries)
		bpf_map__set_max_entries(skel->maps.ct_syn, opts->ct_syn_entries);
	if (opts->aff_entries)
		bpf_map__set_max_entries(skel->maps.aff_map, opts->aff_entries);
	set_pin_paths(d, skel->obj);
	if (d->pin_dir[0]) {
		ret = pinned_layout(d, layout, err, errlen);
		if (ret)
			return ret;
		set_aside_changed_maps(skel->obj, true);
	}
	skel->rodata->xlb_snat_port_min = opts->snat_port_min ? opts->snat_port_min :
					  XLB_SNAT_PORT_MIN;
	skel->rodata->xlb_snat_port_max = opts->snat_port_min ? opts->snat_port_max :
					  XLB_SNAT_PORT_MAX;
	ret = xlb__load(skel);
	if (ret)
		ERR("load BPF program: %s (%d); libbpf's messages above say which step failed "
		    "(a verifier log, or a pinned map whose layout differs: --cleanup)",
		    strerror(-ret), ret);
	return ret;
}

/* The in-memory index of services, backend ids and selection ranges,
 * empty. */
static int index_init(struct xlb_dp_bpf *d)
{
	d->by_id = calloc(d->max_services, sizeof(*d->by_id));
	xlb_htab_init(&d->by_key);
	xlb_htab_init(&d->nh_done);
	d->be_used = calloc(d->max_backends, 1);
	d->be_gen = calloc(d->max_backends, sizeof(*d->be_gen));
	d->be_freed = calloc(d->max_backends, sizeof(*d->be_freed));
	d->port_refs = calloc(2 * 65536, sizeof(*d->port_refs));
	if (!d->by_id || !d->be_used || !d->be_gen || !d->be_freed || !d->port_refs)
		return -ENOMEM;
	return xlb_ranges_init(&d->sel, d->sel_slots, d->grace_ns);
}

int xlb_dp_bpf_open(const struct xlb_dp_opts *opts, struct xlb_dp **out,
		    char *err, size_t errlen)
{
	static const struct xlb_dp_opts defaults;
	struct xlb_dp_bpf *d;
	uint32_t layout = 0;
	int ret;

	if (!opts)
		opts = &defaults;
	libbpf_set_print(libbpf_print);
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->base.ops = &xlb_dp_bpf_ops;
	ret = take_opts(d, opts, err, errlen);
	if (!ret)
		ret = load_object(d, opts, &layout, err, errlen);
	if (!ret)
		ret = index_init(d);
	if (ret)
		goto fail;
	ret = write_layout(d);
	if (ret) {
		ERR("write layout version: %s", strerror(-ret));
		goto fail;
	}
	ret = xlb_dp_bpf_adopt(d);
	if (ret) {
		ERR("adopt pinned state: %s", strerror(-ret));
		goto fail;
	}
	if (d->pin_dir[0]) {
		if (layout && layout < XLB_LAYOUT_VERSION)
			pr_info("pinned datapath of layout %u: migrating to %u", layout,
				XLB_LAYOUT_VERSION);
		migrate_state(d, false);
		adopt_links(d);
		migrate_state(d, true);
	}
	xlb_dp_bpf_sock_open(d);
	xlb_dp_bpf_pod_open(d);
	*out = &d->base;
	return 0;
fail:
	xlb_dp_bpf_svc_free_all(d);
	xlb__destroy(d->skel);
	free(d);
	return ret;
}

int xlb_dp_bpf_prog_fd(struct xlb_dp *dp)
{
	if (!dp || dp->ops != &xlb_dp_bpf_ops)
		return -1;
	return bpf_program__fd(to_bpf(dp)->skel->progs.xlb_xdp);
}

int xlb_dp_bpf_hook_prog_fd(struct xlb_dp *dp, const char *name)
{
	struct xlb_dp_bpf *d;
	struct bpf_program *p = NULL;

	if (!dp || dp->ops != &xlb_dp_bpf_ops)
		return -EINVAL;
	d = to_bpf(dp);
	if (d->sock)
		p = bpf_object__find_program_by_name(d->sock->obj, name);
	if (!p && d->tc)
		p = bpf_object__find_program_by_name(d->tc->obj, name);
	return p ? bpf_program__fd(p) : -ENOENT;
}

int xlb_dp_bpf_map_fd(struct xlb_dp *dp, const char *name)
{
	struct xlb_dp_bpf *d;
	struct bpf_map *m;

	if (!dp || dp->ops != &xlb_dp_bpf_ops)
		return -EINVAL;
	d = to_bpf(dp);
	m = bpf_object__find_map_by_name(d->skel->obj, name);
	if (!m && d->sock)
		m = bpf_object__find_map_by_name(d->sock->obj, name);
	if (!m && d->tc)
		m = bpf_object__find_map_by_name(d->tc->obj, name);
	return m ? bpf_map__fd(m) : -ENOENT;
}

int xlb_dp_bpf_unpin(const char *pin_dir)
{
	struct dirent *de;
	DIR *dir;
	int ret = 0;

	if (!pin_dir || !pin_dir[0])
		return -EINVAL;
	xlb_dp_bpf_pod_unpin(pin_dir);
	dir = opendir(pin_dir);
	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dir))) {
		char path[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_dir, de->d_name);
		if (!strncmp(de->d_name, "link_", 5) || !strncmp(de->d_name, "cglink_", 7) ||
		    !strncmp(de->d_name, "tclink_", 7)) {
			int fd = bpf_obj_get(path);

			if (fd >= 0) {
				bpf_link_detach(fd);
				close(fd);
			}
		}
		if (unlink(path) && errno != ENOENT)
			ret = -errno;
	}
	closedir(dir);
	if (rmdir(pin_dir) && errno != ENOENT)
		ret = -errno;
	return ret;
}
