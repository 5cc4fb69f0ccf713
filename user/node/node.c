// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <fnmatch.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>

#include "log.h"
#include "node/node.h"
#include "dataplane/ipvs/ipvs.h"
#include "netlink/linkwatch.h"
#include "util/errmsg.h"
#include "util/mountinfo.h"

#define MAX_PATTERNS 32
#define MAX_CIDRS 32

struct cidr {
	uint32_t net;	/* host order */
	uint32_t mask;
};

struct xlb_node {
	char *patterns[MAX_PATTERNS];
	size_t n_patterns;
	char *pod_patterns[MAX_PATTERNS];
	size_t n_pod_patterns;
	bool socket_lb;
	const char *cgroup;		/* --cgroup-root; NULL: the cgroup2 root */
	struct cidr cidrs[MAX_CIDRS];
	size_t n_cidrs;
	struct xlb_core *core;		/* set by xlb_node_watch */
	struct xlb_linkwatch *lw;
	/* While the dataplane is chosen (no core yet). */
	struct xlb_dp *dp;
	struct xlb_iface attached[XLB_MAX_IFACES];
	size_t n_attached;
	char dp_reason[256];
};

int xlb_node_new(struct xlb_node **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	(*out)->socket_lb = true;
	return 0;
}

void xlb_node_free(struct xlb_node *n)
{
	if (!n)
		return;
	xlb_linkwatch_close(n->lw);
	for (size_t i = 0; i < n->n_patterns; i++)
		free(n->patterns[i]);
	for (size_t i = 0; i < n->n_pod_patterns; i++)
		free(n->pod_patterns[i]);
	free(n);
}

static int parse_cidr(const char *s, struct cidr *c)
{
	char buf[64], *slash, *end;
	struct in_addr a;
	unsigned long bits = 32;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = 0;
		errno = 0;
		bits = strtoul(slash + 1, &end, 10);
		if (errno || *end || end == slash + 1 || bits > 32)
			return -EINVAL;
	}
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	c->mask = bits ? 0xffffffffu << (32 - bits) : 0;
	c->net = ntohl(a.s_addr) & c->mask;
	return 0;
}

/* Each non-empty item of a comma-separated list, to fn. */
static int split_list(struct xlb_node *n, const char *list,
		      int (*fn)(struct xlb_node *n, const char *item, char *err, size_t errlen),
		      char *err, size_t errlen)
{
	char *dup = strdup(list), *save = NULL;
	int ret = 0;

	if (!dup)
		return -ENOMEM;
	for (char *tok = strtok_r(dup, ",", &save); tok && !ret; tok = strtok_r(NULL, ",", &save))
		if (*tok)
			ret = fn(n, tok, err, errlen);
	free(dup);
	return ret;
}

static int pattern_to(char **v, size_t *nv, const char *p, char *err, size_t errlen)
{
	if (*nv >= MAX_PATTERNS)
		return xlb_errf(err, errlen, -E2BIG, "at most %d patterns", MAX_PATTERNS);
	v[*nv] = strdup(p);
	if (!v[*nv])
		return -ENOMEM;
	(*nv)++;
	return 0;
}

static int add_pattern(struct xlb_node *n, const char *p, char *err, size_t errlen)
{
	return pattern_to(n->patterns, &n->n_patterns, p, err, errlen);
}

static int add_pod_pattern(struct xlb_node *n, const char *p, char *err, size_t errlen)
{
	return pattern_to(n->pod_patterns, &n->n_pod_patterns, p, err, errlen);
}

static int add_cidr(struct xlb_node *n, const char *p, char *err, size_t errlen)
{
	if (n->n_cidrs >= MAX_CIDRS)
		return xlb_errf(err, errlen, -E2BIG, "at most %d CIDRs", MAX_CIDRS);
	if (parse_cidr(p, &n->cidrs[n->n_cidrs]))
		return xlb_errf(err, errlen, -EINVAL, "bad CIDR '%s'", p);
	n->n_cidrs++;
	return 0;
}

int xlb_node_add_ifaces(struct xlb_node *n, const char *list, char *err, size_t errlen)
{
	return split_list(n, list, add_pattern, err, errlen);
}

int xlb_node_add_pod_ifaces(struct xlb_node *n, const char *list, char *err, size_t errlen)
{
	return split_list(n, list, add_pod_pattern, err, errlen);
}

void xlb_node_set_socket_lb(struct xlb_node *n, bool on, const char *cgroup)
{
	n->socket_lb = on;
	n->cgroup = cgroup;
}

int xlb_node_add_cidrs(struct xlb_node *n, const char *list, char *err, size_t errlen)
{
	return split_list(n, list, add_cidr, err, errlen);
}

static bool matches(char *const *patterns, size_t np, const char *name)
{
	if (!strcmp(name, "lo"))
		return false;
	for (size_t i = 0; i < np; i++)
		if (!fnmatch(patterns[i], name, 0))
			return true;
	return false;
}

/* A pod veth: tc, never XDP (XDP would take the pod's TSO away and cannot
 * deliver into a veth whose pod end has no NAPI). */
static bool pod_iface(const struct xlb_node *n, const char *name)
{
	return matches(n->pod_patterns, n->n_pod_patterns, name);
}

static bool iface_wanted(const struct xlb_node *n, const char *name)
{
	return !pod_iface(n, name) && matches(n->patterns, n->n_patterns, name);
}

static bool nodeport_addr(const struct xlb_node *n, const struct xlb_ip *ip)
{
	uint32_t a;

	if (ip->family != XLB_AF_INET)
		return false;
	memcpy(&a, ip->addr.a8, 4);
	a = ntohl(a);
	if (!n->n_cidrs)
		return (a >> 24) != 127;
	for (size_t i = 0; i < n->n_cidrs; i++)
		if ((a & n->cidrs[i].mask) == n->cidrs[i].net)
			return true;
	return false;
}

/* ---- choosing the dataplane (before the core exists) --------------------- */

/* auto: XDP must also attach to every interface matching --iface that
 * exists now. The attachments made here are the real ones (handed to the
 * core). All are tried; err says the first that failed and why. */
static int xdp_test_attach(struct xlb_node *n, char *err, size_t errlen)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	char e2[256];
	int ret = 0;

	if (!ifs)
		return xlb_errf(err, errlen, -errno, "list interfaces: %s", strerror(errno));
	for (i = ifs; i->if_index; i++) {
		int r = 0;

		if (!iface_wanted(n, i->if_name))
			continue;
		if (n->n_attached >= XLB_MAX_IFACES)
			r = xlb_errf(e2, sizeof(e2), -E2BIG, "attach on %s: more than %d interfaces",
				     i->if_name, XLB_MAX_IFACES);
		else
			r = xlb_dp_attach(n->dp, i->if_name, e2, sizeof(e2));
		if (!r) {
			struct xlb_iface *a = &n->attached[n->n_attached++];

			snprintf(a->name, sizeof(a->name), "%s", i->if_name);
			a->ifindex = (int)i->if_index;
			pr_info("attached to %s (ifindex %d)", a->name, a->ifindex);
		} else if (!ret) {
			ret = r;
			snprintf(err, errlen, "%s", e2);
		}
	}
	if_freenameindex(ifs);
	return ret;
}

static void xdp_teardown(struct xlb_node *n)
{
	char derr[256];

	for (size_t k = 0; k < n->n_attached; k++)
		xlb_dp_detach(n->dp, n->attached[k].name, derr, sizeof(derr));
	n->n_attached = 0;
	xlb_dp_close(n->dp);
	n->dp = NULL;
}

static void use_ipvs(struct xlb_node *n, struct xlb_dp *ipvs, const char *why,
		     struct xlb_core_opts *co)
{
	n->dp = ipvs;
	co->dp_name = "ipvs";
	snprintf(n->dp_reason, sizeof(n->dp_reason), "%s; %s", why, xlb_dp_ipvs_summary(ipvs));
	co->dp_reason = n->dp_reason;
}

/* xdp and ipvs are what they say; auto tries XDP (load, then attach to the
 * --iface interfaces present) and falls back to IPVS, saying why in the log
 * and in `xlbctl status`. When IPVS is not there either, an XDP that loaded
 * stays, on the interfaces it could attach to. */
static int choose(struct xlb_node *n, const char *mode, const struct xlb_dp_opts *dpo,
		  struct xlb_core_opts *co)
{
	char err[512] = "", ierr[512] = "", why[200];
	struct xlb_dp *ipvs = NULL;
	const char *pin_dir = dpo->pin_dir ? dpo->pin_dir : XLB_PIN_DIR_DEFAULT;
	bool loaded;
	int ret;

	if (!strcmp(mode, "ipvs")) {
		if (dpo->lb_mode_dsr) {
			pr_err("--lb-mode dsr: the IPVS dataplane has no DSR (its tunnel method "
			       "needs an IPIP device in every backend pod); use --lb-mode snat");
			return -EINVAL;
		}
		ret = xlb_dp_ipvs_open(NULL, &ipvs, ierr, sizeof(ierr));
		if (ret) {
			pr_err("open IPVS dataplane: %s", ierr);
			return ret;
		}
		use_ipvs(n, ipvs, "forced by --dataplane ipvs", co);
		return 0;
	}

	ret = xlb_dp_bpf_open(dpo, &n->dp, err, sizeof(err));
	if (ret == -EPROTO) {
		/* A newer build's datapath is pinned (a downgrade): neither
		 * adopt it nor replace it with IPVS, which would remove it and
		 * every flow it tracks. */
		pr_err("open XDP dataplane: %s", err);
		return ret;
	}
	loaded = !ret;
	if (!ret && !strcmp(mode, "auto"))
		ret = xdp_test_attach(n, err, sizeof(err));
	if (!ret) {
		co->dp_name = "xdp";
		co->dp_reason = !strcmp(mode, "xdp") ? "forced by --dataplane xdp" :
						       "XDP available (auto)";
		return 0;
	}
	if (!strcmp(mode, "xdp")) {
		pr_err("open XDP dataplane: %s", err);
		return ret;
	}

	/* auto, and XDP cannot serve every interface */
	pr_warn("auto: XDP dataplane unusable: %s; falling back to IPVS", err);
	if (xlb_dp_ipvs_open(NULL, &ipvs, ierr, sizeof(ierr))) {
		if (!loaded) {
			pr_err("auto: no dataplane: XDP: %s; IPVS: %s", err, ierr);
			return ret;
		}
		pr_warn("auto: IPVS not usable either (%s): staying on XDP where it attached", ierr);
		snprintf(n->dp_reason, sizeof(n->dp_reason),
			 "auto: XDP, partly (%s); IPVS unusable (%s)", err, ierr);
		co->dp_name = "xdp";
		co->dp_reason = n->dp_reason;
		return 0;
	}
	/* Nothing of XDP may stay attached next to IPVS (an earlier run's
	 * pinned links included). */
	if (loaded)
		xdp_teardown(n);
	if (xlb_dp_bpf_unpin(pin_dir) == 0)
		pr_info("auto: XDP datapath under %s removed", pin_dir);
	snprintf(why, sizeof(why), "auto: XDP unusable (%s)", err);
	if (dpo->lb_mode_dsr)
		pr_warn("auto: --lb-mode dsr is not served by IPVS: external flows to backends on "
			"other nodes are masqueraded (SNAT)");
	use_ipvs(n, ipvs, why, co);
	return 0;
}

int xlb_node_open_dataplane(struct xlb_node *n, const char *mode, const struct xlb_dp_opts *dpo,
			    struct xlb_core_opts *co)
{
	int ret = choose(n, mode, dpo, co);

	if (ret)
		return ret;
	co->dp = n->dp;
	co->attached = n->attached;
	co->n_attached = n->n_attached;
	n->dp = NULL;	/* the caller's, then the core's door */
	return 0;
}

/* ---- following links and addresses, through the core -------------------- */

static void on_link_up(void *arg, const char *ifname, int ifindex)
{
	struct xlb_node *n = arg;
	char err[256] = "";

	if (pod_iface(n, ifname)) {
		if (xlb_core_pod_attach(n->core, ifname, err, sizeof(err)))
			pr_err("%s", err);
	} else if (iface_wanted(n, ifname) &&
		   xlb_core_attach(n->core, ifname, ifindex, err, sizeof(err))) {
		pr_err("%s", err);
	}
}

static void on_link_gone(void *arg, const char *ifname, int ifindex)
{
	struct xlb_node *n = arg;

	xlb_core_link_gone(n->core, ifindex);
}

static void on_addr_add(void *arg, const struct xlb_ip *ip, int ifindex)
{
	struct xlb_node *n = arg;

	if (nodeport_addr(n, ip))
		xlb_core_node_addr(n->core, ip, true);
}

static void on_addr_del(void *arg, const struct xlb_ip *ip, int ifindex)
{
	struct xlb_node *n = arg;

	if (nodeport_addr(n, ip))
		xlb_core_node_addr(n->core, ip, false);
}

static void on_nexthops_stale(void *arg)
{
	struct xlb_node *n = arg;

	xlb_core_nexthops_stale(n->core);
}

static const struct xlb_linkwatch_ops lw_ops = {
	.link_up = on_link_up,
	.link_gone = on_link_gone,
	.addr_add = on_addr_add,
	.addr_del = on_addr_del,
	.nexthops_stale = on_nexthops_stale,
};

/* Does xlbd run in the network namespace of PID 1 (the node's own)? */
static bool in_initial_netns(void)
{
	struct stat self, init;

	return !stat("/proc/self/ns/net", &self) && !stat("/proc/1/ns/net", &init) &&
	       self.st_ino == init.st_ino && self.st_dev == init.st_dev;
}

/* Not fatal either way: the packet paths still serve, and `xlbctl status`
 * says where the socket programs are, or why they are not. */
static void socket_lb(struct xlb_node *n)
{
	char root[PATH_MAX], err[512] = "";
	const char *cg = n->cgroup;
	struct xlb_core_status *st = calloc(1, sizeof(*st));
	bool hooks;
	int ret;

	/* A dataplane without socket programs (IPVS balances the node's own
	 * connections itself) has nothing to say here. */
	hooks = st && !xlb_core_status(n->core, st) && st->have_hooks;
	free(st);
	if (!hooks)
		return;
	if (!n->socket_lb) {
		xlb_core_socket_lb(n->core, NULL, err, sizeof(err));
		pr_info("socket LB off (--socket-lb off)");
		return;
	}
	if (!cg) {
		/* The root holds every process of the machine, whatever its
		 * netns: only an xlbd in the node's own netns may claim it. */
		if (!in_initial_netns()) {
			pr_warn("socket LB off: xlbd runs in a network namespace of its own, and the "
				"cgroup2 root holds every process of the machine; give --cgroup-root");
			return;
		}
		ret = xlb_mount_point("cgroup2", root, sizeof(root));
		if (ret) {
			pr_warn("socket LB off: no cgroup2 hierarchy in /proc/self/mountinfo (%s); "
				"mount one or give --cgroup-root", strerror(-ret));
			return;
		}
		cg = root;
	}
	ret = xlb_core_socket_lb(n->core, cg, err, sizeof(err));
	if (ret)
		pr_warn("socket LB off: %s", err);
	else
		pr_info("socket LB on cgroup %s", cg);
}

int xlb_node_watch(struct xlb_node *n, struct xlb_core *core)
{
	int ret;

	n->core = core;
	ret = xlb_linkwatch_open(&lw_ops, n, &n->lw);
	if (ret) {
		pr_err("rtnetlink: %s", strerror(-ret));
		return ret;
	}
	/* The initial dump: attach to what exists, learn node addresses. */
	for (int i = 0; i < 50; i++) {
		xlb_linkwatch_dispatch(n->lw);
		usleep(2000);
	}
	socket_lb(n);
	return 0;
}

int xlb_node_fd(struct xlb_node *n)
{
	return xlb_linkwatch_fd(n->lw);
}

void xlb_node_dispatch(struct xlb_node *n)
{
	xlb_linkwatch_dispatch(n->lw);
}

int xlb_node_cleanup(const char *mode, const char *pin_dir)
{
	char err[512] = "";
	int ret, rc = 0;

	if (strcmp(mode, "ipvs")) {
		ret = xlb_dp_bpf_unpin(pin_dir);
		if (ret) {
			pr_err("cleanup %s: %s", pin_dir, strerror(-ret));
			rc = 1;
		} else {
			pr_info("cleanup: datapath under %s detached and removed", pin_dir);
		}
	}
	if (strcmp(mode, "xdp")) {
		ret = xlb_dp_ipvs_cleanup(err, sizeof(err));
		if (ret && !strcmp(mode, "ipvs")) {
			pr_err("cleanup IPVS: %s", err);
			rc = 1;
		} else if (ret) {	/* auto: this host may have no IPVS or ipset at all */
			pr_warn("cleanup IPVS: %s", err);
		}
	}
	return rc;
}
