// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * BPF dataplane: the pod veth programs (bpf/tc_pod.bpf.c), tc ingress and
 * egress on the host end of each pod's veth, loaded over the XDP program's
 * maps.
 *
 * Attachment: tcx bpf_links where the kernel has them (6.6+), pinned as
 * pin_dir/tclink_in_IF and tclink_out_IF and moved to a new program with
 * bpf_link_update; otherwise a cls_bpf filter in direct-action mode on a
 * clsact qdisc over netlink (libbpf's bpf_tc_*), at a fixed handle and
 * priority, replaced in place on the next attach. Both outlive xlbd, and
 * both go with the device. The kernel tells which it has: the first
 * attach tries tcx and keeps to netlink once refused.
 *
 * pod_ifs (ifindex -> 1) tells the programs which devices are pod veths:
 * a backend routed out of one of them is local, reached by redirect.
 *
 * The NICs XDP runs on get xlb_from_nic at tc ingress the same way (pinned
 * as pin_dir/tclink_nic_IF): it delivers what XDP DNATed to a pod here.
 */
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "bpf_priv.h"
#include "xlb.skel.h"
#include "xlb_tc_pod.skel.h"

#define ERR(...) do { if (err) snprintf(err, errlen, __VA_ARGS__); } while (0)

/* Not in the 6.1 UAPI headers xlb builds against. */
#define XLB_TCX_INGRESS 46
#define XLB_TCX_EGRESS 47
#define XLB_LINK_TYPE_TCX 11
/* bpf_link_info.tcx.ifindex starts the union, where xdp.ifindex is. */
#define tcx_ifindex xdp.ifindex
#define XLB_TC_HANDLE 0x11b	/* cls_bpf filter, netlink mode */
#define XLB_TC_PRIO 1

/* Hooks: a pod veth's ingress and egress, a NIC's ingress. */
#define HOOK_NIC 2
#define N_HOOKS 3
static const char *const dir_name[N_HOOKS] = { "in", "out", "nic" };

static void pod_pin_path(const char *pin_dir, const char *ifname, int dir, char *buf, size_t len)
{
	snprintf(buf, len, "%s/tclink_%s_%s", pin_dir, dir_name[dir], ifname);
}

static int dir_prog_fd(const struct xlb_dp_bpf *d, int dir)
{
	if (dir == HOOK_NIC)
		return bpf_program__fd(d->tc->progs.xlb_from_nic);
	return bpf_program__fd(dir ? d->tc->progs.xlb_to_pod : d->tc->progs.xlb_from_pod);
}

/* Forget pod veths that no longer exist (gone while no xlbd ran): their
 * ifindex may come back as another device. */
static void prune_pod_ifs(struct xlb_dp_bpf *d)
{
	int fd = bpf_map__fd(d->tc->maps.pod_ifs);
	__u32 k, next;
	bool have = !bpf_map_get_next_key(fd, NULL, &k);
	char name[IF_NAMESIZE];

	while (have) {
		have = !bpf_map_get_next_key(fd, &k, &next);
		if (!if_indextoname(k, name))
			bpf_map_delete_elem(fd, &k);
		k = next;
	}
}

/* Move pinned tcx links of an earlier instance to the programs just loaded. */
static void adopt_links(struct xlb_dp_bpf *d)
{
	char prefix[16];
	struct dirent **ents;
	int n = scandir(d->pin_dir, &ents, NULL, NULL);

	for (int i = 0; i < n; i++) {
		for (int dir = 0; dir < N_HOOKS; dir++) {
			char path[PATH_MAX];
			int fd;

			snprintf(prefix, sizeof(prefix), "tclink_%s_", dir_name[dir]);
			if (strncmp(ents[i]->d_name, prefix, strlen(prefix)))
				continue;
			snprintf(path, sizeof(path), "%s/%s", d->pin_dir, ents[i]->d_name);
			fd = bpf_obj_get(path);
			if (fd < 0)
				continue;
			if (bpf_link_update(fd, dir_prog_fd(d, dir), NULL))
				pr_warn("pod veths: move pinned link %s to the new program: %s", path,
					strerror(errno));
			close(fd);
		}
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);
}

void xlb_dp_bpf_pod_open(struct xlb_dp_bpf *d)
{
	struct xlb_tc_pod *t;
	int ret;

	d->tcx = -1;
	t = xlb_tc_pod__open();
	if (!t) {
		snprintf(d->tc_why, sizeof(d->tc_why), "open: %s", strerror(errno));
		return;
	}
	ret = xlb_dp_bpf_prepare_object(d, t->obj);
	if (!ret)
		ret = xlb_tc_pod__load(t);
	if (ret) {
		snprintf(d->tc_why, sizeof(d->tc_why),
			 "the kernel refused the pod veth programs: %s (%d)", strerror(-ret), ret);
		pr_warn("pod veths unavailable: %s", d->tc_why);
		xlb_tc_pod__destroy(t);
		return;
	}
	d->tc = t;
	prune_pod_ifs(d);
	if (d->pin_dir[0])
		adopt_links(d);
}

void xlb_dp_bpf_pod_close(struct xlb_dp_bpf *d)
{
	for (size_t i = 0; i < d->n_pods; i++)
		for (int dir = 0; dir < N_HOOKS; dir++)
			if (d->pods[i].link_fd[dir] >= 0)
				close(d->pods[i].link_fd[dir]);
	free(d->pods);
	d->pods = NULL;
	d->n_pods = 0;
	xlb_tc_pod__destroy(d->tc);
	d->tc = NULL;
}

static struct pod_iface *pod_find(struct xlb_dp_bpf *d, const char *ifname, int nic)
{
	for (size_t i = 0; i < d->n_pods; i++)
		if (!strcmp(d->pods[i].ifname, ifname) && d->pods[i].nic == nic)
			return &d->pods[i];
	return NULL;
}

/* Pod veths attached (the NICs' hooks are in the same list). */
size_t xlb_dp_bpf_n_pods(const struct xlb_dp_bpf *d)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n_pods; i++)
		n += !d->pods[i].nic;
	return n;
}

/* tcx: one link per direction, pinned (or kept open). 0, -errno; -EINVAL
 * from a kernel without tcx. */
static int tcx_attach(struct xlb_dp_bpf *d, struct pod_iface *pi, int dir, char *err,
		      size_t errlen)
{
	char path[PATH_MAX];
	int fd, ret;

	if (d->pin_dir[0]) {
		pod_pin_path(d->pin_dir, pi->ifname, dir, path, sizeof(path));
		fd = bpf_obj_get(path);
		if (fd >= 0) {
			struct bpf_link_info info = {};
			__u32 len = sizeof(info);

			/* Ours already (the same device): run this program. */
			if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
			    info.type == XLB_LINK_TYPE_TCX && info.tcx_ifindex == (__u32)pi->ifindex) {
				ret = bpf_link_update(fd, dir_prog_fd(d, dir), NULL) ? -errno : 0;
				close(fd);
				if (ret)
					ERR("pod veth %s: update tcx link: %s", pi->ifname,
					    strerror(-ret));
				return ret;
			}
			close(fd);
			unlink(path);	/* a device of that name that is gone */
		}
	}
	fd = bpf_link_create(dir_prog_fd(d, dir), pi->ifindex,
			     dir == 1 ? XLB_TCX_EGRESS : XLB_TCX_INGRESS, NULL);
	if (fd < 0) {
		ret = -errno;
		ERR("%s %s: attach tcx %sgress: %s (%d)", pi->nic ? "NIC" : "pod veth", pi->ifname,
		    dir == 1 ? "e" : "in",
		    strerror(-ret), ret);
		return ret;
	}
	if (!d->pin_dir[0]) {
		pi->link_fd[dir] = fd;
		return 0;
	}
	ret = bpf_obj_pin(fd, path) ? -errno : 0;
	if (ret) {
		ERR("pod veth %s: pin tcx link at %s: %s", pi->ifname, path, strerror(-ret));
		bpf_link_detach(fd);
	}
	close(fd);
	return ret;
}

static int netlink_attach(struct xlb_dp_bpf *d, struct pod_iface *pi, int dir, char *err,
			  size_t errlen)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = pi->ifindex,
		    .attach_point = dir == 1 ? BPF_TC_EGRESS : BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = XLB_TC_HANDLE, .priority = XLB_TC_PRIO,
		    .flags = BPF_TC_F_REPLACE, .prog_fd = dir_prog_fd(d, dir));
	int ret;

	ret = bpf_tc_hook_create(&hook);
	if (ret && ret != -EEXIST) {
		ERR("pod veth %s: create clsact qdisc: %s (%d)", pi->ifname, strerror(-ret), ret);
		return ret;
	}
	ret = bpf_tc_attach(&hook, &opts);
	if (ret)
		ERR("%s %s: attach tc %sgress filter: %s (%d)", pi->nic ? "NIC" : "pod veth",
		    pi->ifname, dir == 1 ? "e" : "in", strerror(-ret), ret);
	return ret;
}

static void netlink_detach(int ifindex, int dir)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = dir == 1 ? BPF_TC_EGRESS : BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = XLB_TC_HANDLE, .priority = XLB_TC_PRIO);

	bpf_tc_detach(&hook, &opts);
}

static void pod_unhook(struct xlb_dp_bpf *d, struct pod_iface *pi)
{
	for (int dir = 0; dir < N_HOOKS; dir++) {
		char path[PATH_MAX];

		if (pi->link_fd[dir] >= 0) {
			bpf_link_detach(pi->link_fd[dir]);
			close(pi->link_fd[dir]);
			pi->link_fd[dir] = -1;
		}
		if (d->pin_dir[0]) {
			int fd;

			pod_pin_path(d->pin_dir, pi->ifname, dir, path, sizeof(path));
			fd = bpf_obj_get(path);
			if (fd >= 0) {
				bpf_link_detach(fd);
				close(fd);
				unlink(path);
			}
		}
		if (d->tcx != 1)
			netlink_detach(pi->ifindex, dir);
	}
}

/* Hook ifname: a pod veth (both directions, recorded in pod_ifs) or a NIC
 * (ingress). 0 or -errno. */
static int iface_hook(struct xlb_dp_bpf *d, const char *ifname, int nic, char *err, size_t errlen)
{
	const char *what = nic ? "NIC" : "pod veth";
	int pod_ifs = bpf_map__fd(d->tc->maps.pod_ifs);
	struct pod_iface *pi, *np;
	__u32 one = 1, ifindex;
	int ret = 0;

	ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		ERR("%s %s: no such interface", what, ifname);
		return -ENODEV;
	}
	pi = pod_find(d, ifname, nic);
	if (pi && pi->ifindex != (int)ifindex) {
		/* Recreated under the same name: the old one took its hooks. */
		if (!nic)
			bpf_map_delete_elem(pod_ifs, &pi->ifindex);
		pod_unhook(d, pi);
		pi->ifindex = (int)ifindex;
	}
	if (!pi) {
		np = realloc(d->pods, (d->n_pods + 1) * sizeof(*np));
		if (!np)
			return -ENOMEM;
		d->pods = np;
		pi = &d->pods[d->n_pods];
		memset(pi, 0, sizeof(*pi));
		snprintf(pi->ifname, sizeof(pi->ifname), "%s", ifname);
		pi->ifindex = (int)ifindex;
		pi->nic = nic;
		for (int dir = 0; dir < N_HOOKS; dir++)
			pi->link_fd[dir] = -1;
	}
	/* Known before the programs run on it: a backend behind it is local. */
	if (!nic && bpf_map_update_elem(pod_ifs, &ifindex, &one, BPF_ANY)) {
		ret = -errno;
		ERR("pod veth %s: record in pod_ifs: %s", ifname, strerror(-ret));
		goto fail;
	}
	/* Egress (replies) before ingress (the DNAT that makes them). */
	for (int dir = nic ? HOOK_NIC : 1; dir >= 0 && !ret; dir = nic ? -1 : dir - 1) {
		if (d->tcx != 0) {
			ret = tcx_attach(d, pi, dir, err, errlen);
			if (ret == -EINVAL && d->tcx == -1) {
				pr_info("pod veths: no tcx in this kernel, tc filters over netlink");
				d->tcx = 0;
			} else if (!ret) {
				d->tcx = 1;
				continue;
			}
		}
		if (d->tcx == 0)
			ret = netlink_attach(d, pi, dir, err, errlen);
	}
	if (ret)
		goto fail;
	if (pi == &d->pods[d->n_pods])
		d->n_pods++;
	return 0;
fail:
	pod_unhook(d, pi);
	if (!nic)
		bpf_map_delete_elem(pod_ifs, &ifindex);
	if (pi != &d->pods[d->n_pods])
		*pi = d->pods[--d->n_pods];
	return ret;
}

int bpf_pod_attach(struct xlb_dp *dp, const char *ifname, char *err, size_t errlen)
{
	struct xlb_dp_bpf *d = to_bpf(dp);

	if (!d->tc) {
		ERR("pod veth %s: not available: %s", ifname, d->tc_why);
		return -EOPNOTSUPP;
	}
	return iface_hook(d, ifname, 0, err, errlen);
}

/* With XDP on a NIC: without the pod programs, a pod here is reached
 * through the stack (XDP passes its frames) as before. */
int xlb_dp_bpf_nic_attach(struct xlb_dp_bpf *d, const char *ifname, char *err, size_t errlen)
{
	if (!d->tc)
		return 0;
	return iface_hook(d, ifname, 1, err, errlen);
}

void xlb_dp_bpf_nic_detach(struct xlb_dp_bpf *d, const char *ifname)
{
	struct pod_iface *pi = d->tc ? pod_find(d, ifname, 1) : NULL;

	if (!pi)
		return;
	pod_unhook(d, pi);
	*pi = d->pods[--d->n_pods];
}

int bpf_pod_detach(struct xlb_dp *dp, const char *ifname, int ifindex, char *err, size_t errlen)
{
	struct xlb_dp_bpf *d = to_bpf(dp);
	struct pod_iface *pi = NULL;

	if (ifname)
		pi = pod_find(d, ifname, 0);
	for (size_t i = 0; !ifname && i < d->n_pods; i++)
		if (d->pods[i].ifindex == ifindex && !d->pods[i].nic)
			pi = &d->pods[i];
	if (!d->tc || !pi) {
		ERR("pod veth %s (ifindex %d): not attached by xlb", ifname ? ifname : "?", ifindex);
		return -ENOENT;
	}
	pod_unhook(d, pi);
	bpf_map_delete_elem(bpf_map__fd(d->tc->maps.pod_ifs), &pi->ifindex);
	*pi = d->pods[--d->n_pods];
	return 0;
}

int bpf_pod_stats(struct xlb_dp *dp, uint64_t out[XLB_POD_STAT_MAX])
{
	struct xlb_dp_bpf *d = to_bpf(dp);

	if (!d->tc)
		return -EOPNOTSUPP;
	return xlb_dp_bpf_percpu_array_sum(d, bpf_map__fd(d->tc->maps.pod_stats), out,
					   XLB_POD_STAT_MAX);
}

/* --cleanup: netlink filters are not pins; pod_ifs names the pods'
 * devices, the XDP links' pins (link_IF) the NICs'. */
void xlb_dp_bpf_pod_unpin(const char *pin_dir)
{
	char path[PATH_MAX];
	struct dirent **ents;
	__u32 k, next;
	bool have;
	int fd, n = scandir(pin_dir, &ents, NULL, NULL);

	for (int i = 0; i < n; i++) {
		unsigned int nic;

		if (!strncmp(ents[i]->d_name, "link_", 5) &&
		    (nic = if_nametoindex(ents[i]->d_name + 5)))
			netlink_detach((int)nic, HOOK_NIC);
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);

	snprintf(path, sizeof(path), "%s/pod_ifs", pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	have = !bpf_map_get_next_key(fd, NULL, &k);
	while (have) {
		have = !bpf_map_get_next_key(fd, &k, &next);
		for (int dir = 0; dir < 2; dir++)
			netlink_detach((int)k, dir);
		k = next;
	}
	close(fd);
}
