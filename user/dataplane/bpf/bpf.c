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
#include "bpf_priv.h"
#include "explain.h"
#include "xlb.skel.h"

#define ERR(...) do { if (err) snprintf(err, errlen, __VA_ARGS__); } while (0)
#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif
#define GRACE_MS_DEFAULT 1000	/* an XDP run takes microseconds */

uint64_t xlb_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

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

/* Maps that only count: when a new build changes their layout (a counter
 * added, another size), the pinned one is replaced and its counts start
 * again from zero; the old program keeps its own until its links move. */
static const char *const counter_maps[] = { "stats", "svc_stats", "backend_stats" };

static bool is_counter_map(const char *name)
{
	for (size_t i = 0; i < sizeof(counter_maps) / sizeof(counter_maps[0]); i++)
		if (!strcmp(name, counter_maps[i]))
			return true;
	return false;
}

/* Does the map pinned at path have m's layout (what libbpf checks before
 * it reuses a pinned map)? -ENOENT when nothing is pinned there. */
static int pinned_map_compatible(const char *path, const struct bpf_map *m)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path), ret;

	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	ret = bpf_obj_get_info_by_fd(fd, &info, &len) ? -errno : 0;
	close(fd);
	if (ret)
		return ret;
	return info.type == bpf_map__type(m) && info.key_size == bpf_map__key_size(m) &&
	       info.value_size == bpf_map__value_size(m) &&
	       info.max_entries == bpf_map__max_entries(m) &&
	       info.map_flags == bpf_map__map_flags(m);
}

/* Before load: a pinned counter map of another layout is replaced. */
static void replace_stale_counters(struct xlb_dp_bpf *d)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, d->skel->obj) {
		const char *path = bpf_map__pin_path(m);

		if (!path || !is_counter_map(bpf_map__name(m)))
			continue;
		if (pinned_map_compatible(path, m) == 0) {
			pr_info("pinned map %s has another layout (an older build): its counters "
				"start again from zero", path);
			if (unlink(path))
				pr_warn("unpin %s: %s", path, strerror(errno));
		}
	}
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

static int bpf_attach(struct xlb_dp *dp, const char *ifname, char *err, size_t errlen)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
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

static int bpf_detach(struct xlb_dp *dp, const char *ifname, char *err, size_t errlen)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	char path[PATH_MAX];
	int fd;

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

static int bpf_node_addr_add(struct xlb_dp *dp, const struct xlb_ip *ip)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	struct xlb_node_addr_key k;
	__u32 one = 1;

	if (node_addr_key(&k, ip) || xlb_ip_is_zero(ip))
		return -EINVAL;
	return bpf_map_update_elem(bpf_map__fd(d->skel->maps.node_addrs), &k, &one, BPF_ANY) ?
		-errno : 0;
}

static int bpf_node_addr_del(struct xlb_dp *dp, const struct xlb_ip *ip)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	struct xlb_node_addr_key k;

	if (node_addr_key(&k, ip))
		return -EINVAL;
	return bpf_map_delete_elem(bpf_map__fd(d->skel->maps.node_addrs), &k) ? -errno : 0;
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
	uint64_t *v = calloc(d->ncpus, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < XLB_STAT_MAX; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(fd, &i, v))
			continue;
		for (int c = 0; c < d->ncpus; c++)
			out[i] += v[c];
	}
	free(v);
	return 0;
}

static uint32_t coarse_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint32_t)ts.tv_sec;
}

static int bpf_ct_list(struct xlb_dp *dp, xlb_ct_cb cb, void *arg)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	int fd = bpf_map__fd(d->skel->maps.ct_map);
	struct xlb_ct_key k, *prev = NULL;
	uint32_t now = coarse_now();
	int ret;

	while (!bpf_map_get_next_key(fd, prev, &k)) {
		struct xlb_ct_entry e = { .key = k };

		prev = &k;
		if (bpf_map_lookup_elem(fd, &k, &e.val))
			continue;
		e.age = now - e.val.created;
		e.idle = now - e.val.last_seen;
		ret = cb(&e, arg);
		if (ret)
			return ret;
	}
	return 0;
}

static int bpf_ct_flush(struct xlb_dp *dp, uint32_t *removed)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	int fd = bpf_map__fd(d->skel->maps.ct_map);
	struct xlb_ct_key k;
	uint32_t n = 0;
	int ret = 0;

	while (!bpf_map_get_next_key(fd, NULL, &k)) {
		if (!bpf_map_delete_elem(fd, &k)) {
			n++;
		} else if (errno != ENOENT) {
			ret = -errno;
			break;
		}
	}
	if (removed)
		*removed = n;
	return ret;
}

/* A TCP flow's state is the furthest of its two entries: a FIN or RST in
 * either direction closes the whole flow for expiry purposes. Entries are
 * judged one by one; the reply entry of a flow usually expires with it. */
static int bpf_ct_gc(struct xlb_dp *dp, const struct xlb_ct_timeouts *t, uint32_t *removed)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	int fd = bpf_map__fd(d->skel->maps.ct_map);
	struct xlb_ct_key k, next;
	uint32_t now = coarse_now(), n = 0;
	bool have = !bpf_map_get_next_key(fd, NULL, &k);

	while (have) {
		struct xlb_ct_val v;

		have = !bpf_map_get_next_key(fd, &k, &next);
		if (!bpf_map_lookup_elem(fd, &k, &v) &&
		    xlb_ct_expired(t, k.proto, v.state, now - v.last_seen) &&
		    !bpf_map_delete_elem(fd, &k))
			n++;
		k = next;
	}
	if (removed)
		*removed = n;
	return 0;
}

static void bpf_close(struct xlb_dp *dp)
{
	struct xlb_dp_bpf *d = to_bpf(dp);

	for (size_t i = 0; i < d->n_links; i++)
		close(d->links[i].fd);
	free(d->links);
	xlb_dp_bpf_svc_free_all(d);
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
	.expire = bpf_ct_gc,
	.explain = xlb_dp_bpf_explain,
	.close = bpf_close,
};

int xlb_dp_bpf_open(const struct xlb_dp_opts *opts, struct xlb_dp **out,
		    char *err, size_t errlen)
{
	static const struct xlb_dp_opts defaults;
	struct xlb_dp_bpf *d;
	struct bpf_map *m;
	const char *pin;
	int ret;

	if (!opts)
		opts = &defaults;
	libbpf_set_print(libbpf_print);
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->base.ops = &xlb_dp_bpf_ops;
	pin = opts->pin_dir ? opts->pin_dir : XLB_PIN_DIR_DEFAULT;
	if (strlen(pin) >= sizeof(d->pin_dir)) {
		free(d);
		if (err)
			snprintf(err, errlen, "pin directory name too long (max %zu)",
				 sizeof(d->pin_dir) - 1);
		return -ENAMETOOLONG;
	}
	snprintf(d->pin_dir, sizeof(d->pin_dir), "%s", pin);
	d->max_services = opts->max_services ? opts->max_services : XLB_MAX_SERVICES;
	d->max_backends = opts->max_backends ? opts->max_backends : XLB_MAX_BACKENDS;
	d->sel_slots = opts->sel_slots ? opts->sel_slots : XLB_MAX_SEL_SLOTS;
	d->xdp_generic = opts->xdp_generic;
	d->grace_ns = (uint64_t)(opts->grace_ms ? opts->grace_ms : GRACE_MS_DEFAULT) * 1000000ULL;
	d->ncpus = libbpf_num_possible_cpus();
	if (d->ncpus <= 0) {
		ret = -EINVAL;
		ERR("count possible CPUs: %s", strerror(-d->ncpus));
		goto fail;
	}

	if (d->pin_dir[0]) {
		ret = ensure_bpffs(d->pin_dir, err, errlen);
		if (ret)
			goto fail;
	}

	d->skel = xlb__open();
	if (!d->skel) {
		ret = -errno;
		ERR("open BPF object: %s", strerror(errno));
		goto fail;
	}
	bpf_map__set_max_entries(d->skel->maps.svc_map, d->max_services * 2);
	bpf_map__set_max_entries(d->skel->maps.rr_state, d->max_services);
	bpf_map__set_max_entries(d->skel->maps.svc_stats, d->max_services);
	bpf_map__set_max_entries(d->skel->maps.backend_map, d->max_backends);
	bpf_map__set_max_entries(d->skel->maps.backend_stats, d->max_backends);
	bpf_map__set_max_entries(d->skel->maps.sel_map, d->sel_slots);
	if (opts->ct_entries)
		bpf_map__set_max_entries(d->skel->maps.ct_map, opts->ct_entries);
	bpf_object__for_each_map(m, d->skel->obj) {
		char path[PATH_MAX];

		if (!d->pin_dir[0]) {
			bpf_map__set_pin_path(m, NULL);
			continue;
		}
		if (bpf_map__is_internal(m))
			continue;
		snprintf(path, sizeof(path), "%s/%s", d->pin_dir, bpf_map__name(m));
		bpf_map__set_pin_path(m, path);
	}

	if (d->pin_dir[0])
		replace_stale_counters(d);
	ret = xlb__load(d->skel);
	if (ret) {
		ERR("load BPF program: %s (%d); libbpf's messages above say which step failed "
		    "(a verifier log, or a pinned map whose layout differs: --cleanup)",
		    strerror(-ret), ret);
		goto fail;
	}

	d->by_id = calloc(d->max_services, sizeof(*d->by_id));
	xlb_htab_init(&d->by_key);
	d->be_used = calloc(d->max_backends, 1);
	d->be_gen = calloc(d->max_backends, sizeof(*d->be_gen));
	d->be_freed = calloc(d->max_backends, sizeof(*d->be_freed));
	if (!d->by_id || !d->be_used || !d->be_gen || !d->be_freed) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = xlb_ranges_init(&d->sel, d->sel_slots, d->grace_ns);
	if (ret)
		goto fail;
	ret = xlb_dp_bpf_adopt(d);
	if (ret) {
		ERR("adopt pinned state: %s", strerror(-ret));
		goto fail;
	}
	if (d->pin_dir[0])
		adopt_links(d);
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

int xlb_dp_bpf_map_fd(struct xlb_dp *dp, const char *name)
{
	struct bpf_map *m;

	if (!dp || dp->ops != &xlb_dp_bpf_ops)
		return -EINVAL;
	m = bpf_object__find_map_by_name(to_bpf(dp)->skel->obj, name);
	return m ? bpf_map__fd(m) : -ENOENT;
}

int xlb_dp_bpf_unpin(const char *pin_dir)
{
	struct dirent *de;
	DIR *dir;
	int ret = 0;

	if (!pin_dir || !pin_dir[0])
		return -EINVAL;
	dir = opendir(pin_dir);
	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dir))) {
		char path[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_dir, de->d_name);
		if (!strncmp(de->d_name, "link_", 5)) {
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
