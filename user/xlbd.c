// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xlbd: the node agent. Opens (or adopts) the datapath, attaches it to the
 * interfaces matching --iface as they appear, keeps NodePort on the node's
 * addresses, serves the gRPC API and reconciles desired state into the
 * datapath. SIGTERM or kill -9 leave the pinned datapath running.
 */
#include <errno.h>
#include <fnmatch.h>
#include <net/if.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/capability.h>

#include "log.h"
#include "dataplane/dataplane.h"
#include "dataplane/ipvs/ipvs.h"
#include "core/core_priv.h"
#include "api/server.h"
#include "metrics/metrics.h"
#include "netlink/linkwatch.h"
#include "core/health_feed.h"
#include "health/sandbox.h"

#define XLBD_VERSION "0.1.0"
#define MAX_PATTERNS 32
#define MAX_CIDRS 32
#define MAX_LISTEN 8
#define MAX_IFACES 64

struct cidr {
	uint32_t net;	/* host order */
	uint32_t mask;
};

static struct {
	char *patterns[MAX_PATTERNS];
	size_t n_patterns;
	struct cidr cidrs[MAX_CIDRS];
	size_t n_cidrs;
	const char *listen[MAX_LISTEN];
	size_t n_listen;
	const char *tls_cert, *tls_key, *tls_ca;
	const char *metrics;		/* --metrics ADDR:PORT; NULL: off */
	const char *state_dir;
	const char *pin_dir;
	const char *dataplane;
	bool xdp_generic;
	bool cleanup;
	bool keep_caps;
	double panic_threshold;
	enum xlb_health_tcp_mode tcp_probe;
	bool allow_exec;
	struct xlb_sandbox_opts exec;
} cfg = {
	.state_dir = "/var/lib/xlb",
	.pin_dir = XLB_PIN_DIR_DEFAULT,
	.dataplane = "auto",
};

static struct {
	struct xlb_dp *dp;
	struct xlb_core *core;
	struct xlb_health_feed *hw;
	struct xlb_sandbox *sandbox;	/* exec probes; NULL: off */
	struct xlb_linkwatch *lw;
	int ifindex[MAX_IFACES];
	char ifname[MAX_IFACES][16];
	size_t n_if;
} d;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: xlbd [options]\n\n"
		"  --iface IF[,IF...]        interfaces to attach the datapath to; shell patterns\n"
		"                            allowed (e.g. 'eth0,veth*'); new matching links are\n"
		"                            picked up as they appear (repeatable)\n"
		"  --dataplane auto|xdp|ipvs datapath to use (default auto: XDP when it loads\n"
		"                            and attaches to every --iface interface present at\n"
		"                            start, else IPVS)\n"
		"  --xdp-generic             attach XDP in generic (skb) mode\n"
		"  --listen ADDR             API endpoint: unix:PATH (default unix:/run/xlb/xlbd.sock)\n"
		"                            or HOST:PORT (TCP, needs --tls-cert and --tls-key);\n"
		"                            repeatable\n"
		"  --tls-cert FILE           PEM server certificate for TCP listeners\n"
		"  --tls-key FILE            PEM private key for it\n"
		"  --tls-client-ca FILE      require client certificates signed by this CA\n"
		"  --metrics ADDR:PORT       serve Prometheus metrics at http://ADDR:PORT/metrics\n"
		"                            (plain HTTP: bind it where only the scraper reaches;\n"
		"                            ':PORT' every address, port 0 picks one; default off)\n"
		"  --state-dir DIR           desired state, written atomically on every change\n"
		"                            (default /var/lib/xlb)\n"
		"  --pin-dir DIR             bpffs directory of the pinned datapath\n"
		"                            (default " XLB_PIN_DIR_DEFAULT ")\n"
		"  --nodeport-addresses CIDR[,CIDR...]  node addresses NodePort answers on\n"
		"                            (default: every non-loopback IPv4 address)\n"
		"  --log-level error|warn|info|debug   (default info)\n"
		"  --cleanup                 remove what the datapath left in the kernel, then\n"
		"                            exit: xdp: the pinned program and maps; ipvs: xlb's\n"
		"                            virtual services, xlb-ipvs0, ipsets and nat rules;\n"
		"                            auto: both (the state file is kept)\n"
		"  --panic-threshold PCT     health checks: when fewer than PCT%% of a service's\n"
		"                            endpoints are healthy, use all of them rather than\n"
		"                            none (default 0: off)\n"
		"  --tcp-probe auto|half-open|connect   how TCP health probes are made:\n"
		"                            half-open sends a SYN from a raw socket and lets the\n"
		"                            kernel reset the SYN-ACK (the backend's application\n"
		"                            never sees it); connect does what kubelet does\n"
		"                            (default auto: half-open when CAP_NET_RAW is held)\n"
		"  --allow-exec-probes       let API clients set exec health checks (commands\n"
		"                            run on this node, sandboxed: see docs/operations.md);\n"
		"                            off by default, and never taken from annotations\n"
		"  --exec-probe-user UID[:GID]  whom exec probes run as (default 65534:65534;\n"
		"                            not root)\n"
		"  --exec-probe-cgroup PATH  cgroup under which each exec probe gets its own\n"
		"                            (default: xlbd's own cgroup + /xlb-probes)\n"
		"  --exec-probe-network isolated|node   isolated (default): a network namespace\n"
		"                            with only lo; node: xlbd's own, to reach backends\n"
		"                            (still without any capability over it)\n"
		"  --keep-caps               do not drop capabilities after start-up\n"
		"  --version, --help\n");
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

/* "UID" or "UID:GID", numbers, neither 0 (root would undo the sandbox). */
static int parse_ids(const char *s, uint32_t *uid, uint32_t *gid)
{
	unsigned long u, g;
	char *end;

	errno = 0;
	u = strtoul(s, &end, 10);
	if (errno || end == s || u == 0 || u >= UINT32_MAX || (*end && *end != ':'))
		return -EINVAL;
	g = u;
	if (*end == ':') {
		s = end + 1;
		g = strtoul(s, &end, 10);
		if (errno || end == s || *end || g == 0 || g >= UINT32_MAX)
			return -EINVAL;
	}
	*uid = (uint32_t)u;
	*gid = (uint32_t)g;
	return 0;
}

static int split_list(char *s, int (*fn)(const char *item))
{
	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		int ret;

		if (!*tok)
			continue;
		ret = fn(tok);
		if (ret)
			return ret;
	}
	return 0;
}

static int add_pattern(const char *p)
{
	if (cfg.n_patterns >= MAX_PATTERNS)
		return -E2BIG;
	cfg.patterns[cfg.n_patterns++] = strdup(p);
	return 0;
}

static int add_cidr(const char *p)
{
	if (cfg.n_cidrs >= MAX_CIDRS || parse_cidr(p, &cfg.cidrs[cfg.n_cidrs])) {
		fprintf(stderr, "xlbd: --nodeport-addresses: bad CIDR '%s'\n", p);
		return -EINVAL;
	}
	cfg.n_cidrs++;
	return 0;
}

static bool iface_wanted(const char *name)
{
	if (!strcmp(name, "lo"))
		return false;
	for (size_t i = 0; i < cfg.n_patterns; i++)
		if (!fnmatch(cfg.patterns[i], name, 0))
			return true;
	return false;
}

static void publish_ifaces(void)
{
	const char *names[MAX_IFACES];

	for (size_t i = 0; i < d.n_if; i++)
		names[i] = d.ifname[i];
	xlb_core_set_interfaces(d.core, names, d.n_if);
}

static int attach_one(const char *ifname, int ifindex, char *err, size_t errlen)
{
	size_t i;
	int ret;

	for (i = 0; i < d.n_if; i++)
		if (d.ifindex[i] == ifindex && !strcmp(d.ifname[i], ifname))
			return 0;	/* already attached */
	if (d.n_if >= MAX_IFACES) {
		snprintf(err, errlen, "attach on %s: more than %d interfaces", ifname, MAX_IFACES);
		return -E2BIG;
	}
	ret = xlb_dp_attach(d.dp, ifname, err, errlen);
	if (ret)
		return ret;
	pr_info("attached to %s (ifindex %d)", ifname, ifindex);
	d.ifindex[d.n_if] = ifindex;
	snprintf(d.ifname[d.n_if], sizeof(d.ifname[0]), "%s", ifname);
	d.n_if++;
	if (d.core)
		publish_ifaces();
	return 0;
}

static void on_link_up(void *arg, const char *ifname, int ifindex)
{
	char err[256];

	if (iface_wanted(ifname) && attach_one(ifname, ifindex, err, sizeof(err)))
		pr_err("%s", err);
}

static void on_link_gone(void *arg, const char *ifname, int ifindex)
{
	char err[256];

	for (size_t i = 0; i < d.n_if; i++) {
		if (d.ifindex[i] != ifindex)
			continue;
		/* The kernel detached the program with the device; drop the pin. */
		xlb_dp_detach(d.dp, d.ifname[i], err, sizeof(err));
		pr_info("interface %s (ifindex %d) gone", d.ifname[i], ifindex);
		d.ifindex[i] = d.ifindex[d.n_if - 1];
		memcpy(d.ifname[i], d.ifname[d.n_if - 1], sizeof(d.ifname[0]));
		d.n_if--;
		if (d.core)
			publish_ifaces();
		return;
	}
}

static bool nodeport_addr(const struct xlb_ip *ip)
{
	uint32_t a;

	if (ip->family != XLB_AF_INET)
		return false;
	memcpy(&a, ip->addr.a8, 4);
	a = ntohl(a);
	if (!cfg.n_cidrs)
		return (a >> 24) != 127;
	for (size_t i = 0; i < cfg.n_cidrs; i++)
		if ((a & cfg.cidrs[i].mask) == cfg.cidrs[i].net)
			return true;
	return false;
}

static void on_addr(void *arg, const struct xlb_ip *ip, int ifindex, bool add)
{
	char s[XLB_IP_STRLEN];
	int ret;

	if (!nodeport_addr(ip))
		return;
	ret = add ? xlb_dp_node_addr_add(d.dp, ip) : xlb_dp_node_addr_del(d.dp, ip);
	if (ret && ret != -ENOENT)
		pr_warn("node address %s %s: %s", add ? "add" : "del",
			xlb_ip_str(ip, s, sizeof(s)), strerror(-ret));
	else
		pr_debug("node address %s %s", add ? "add" : "del", xlb_ip_str(ip, s, sizeof(s)));
}

static void on_addr_add(void *arg, const struct xlb_ip *ip, int ifindex)
{
	on_addr(arg, ip, ifindex, true);
}

static void on_addr_del(void *arg, const struct xlb_ip *ip, int ifindex)
{
	on_addr(arg, ip, ifindex, false);
}

static const struct xlb_linkwatch_ops lw_ops = {
	.link_up = on_link_up,
	.link_gone = on_link_gone,
	.addr_add = on_addr_add,
	.addr_del = on_addr_del,
};

/* After set-up xlbd needs to program BPF maps and links, read netlink and
 * (for probes) open sockets: keep those capabilities, drop the rest, also
 * from the bounding set so exec'd probes cannot regain them. */
static int drop_caps(void)
{
#ifndef CAP_BPF
#define CAP_BPF 39
#define CAP_PERFMON 38
#endif
	/* The last two only with exec probes: their id maps (sandbox.c). */
	static const cap_value_t keep_all[] = { CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF, CAP_PERFMON,
						CAP_NET_RAW, CAP_SYS_RESOURCE, CAP_KILL,
						CAP_SETUID, CAP_SETGID };
	const size_t n_keep = sizeof(keep_all) / sizeof(keep_all[0]) - (cfg.allow_exec ? 0 : 2);
	const cap_value_t *keep = keep_all;
	cap_value_t have[sizeof(keep_all) / sizeof(keep_all[0])];
	cap_t cur = cap_get_proc(), caps = cap_init();
	size_t n_have = 0;
	int ret = 0;

	if (!caps || !cur) {
		ret = -errno;
		cap_free(cur);
		cap_free(caps);
		return ret;
	}
	/* Keep only what we hold: asking for more fails the whole call. */
	for (size_t i = 0; i < n_keep; i++) {
		cap_flag_value_t v = CAP_CLEAR;

		if (CAP_IS_SUPPORTED(keep[i]) &&
		    !cap_get_flag(cur, keep[i], CAP_PERMITTED, &v) && v == CAP_SET)
			have[n_have++] = keep[i];
	}
	cap_free(cur);
	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
		bool k = false;

		for (size_t i = 0; i < n_keep; i++)
			k |= keep[i] == c;
		if (!k && CAP_IS_SUPPORTED(c) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EINVAL) {
			ret = -errno;
			break;
		}
	}
	if (!ret && (cap_set_flag(caps, CAP_PERMITTED, (int)n_have, have, CAP_SET) ||
		     cap_set_flag(caps, CAP_EFFECTIVE, (int)n_have, have, CAP_SET) ||
		     cap_set_proc(caps)))
		ret = -errno;
	cap_free(caps);
	return ret;
}

static int run_loop(void)
{
	struct epoll_event ev = { .events = EPOLLIN }, evs[8];
	struct itimerspec its = { .it_interval = { 10, 0 }, .it_value = { 10, 0 } };
	sigset_t mask;
	int ep, sfd, tfd, lfd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || tfd < 0 || ep < 0)
		return -errno;
	timerfd_settime(tfd, 0, &its, NULL);
	lfd = xlb_linkwatch_fd(d.lw);
	if (d.hw) {
		ev.data.fd = xlb_health_feed_fd(d.hw);
		epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
	}
	ev.data.fd = sfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.fd = tfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);

	for (;;) {
		int n = epoll_wait(ep, evs, 8, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == sfd) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGHUP) {
					pr_info("signal %u: exiting, datapath stays", si.ssi_signo);
					close(ep);
					close(tfd);
					close(sfd);
					return 0;
				}
			} else if (fd == tfd) {
				uint64_t x;

				if (read(tfd, &x, sizeof(x)) > 0)
					xlb_core_tick(d.core);
			} else if (d.hw && fd == xlb_health_feed_fd(d.hw)) {
				xlb_health_feed_dispatch(d.hw);
			} else if (fd == lfd) {
				xlb_linkwatch_dispatch(d.lw);
			}
		}
	}
}

/* ---- dataplane selection ----------------------------------------------- */

static char dp_reason[256];

/* auto: XDP must also attach to every interface matching --iface that
 * exists now. The attachments made here are the real ones (linkwatch's
 * initial dump finds them done). All are tried; err says the first that
 * failed and why. */
static int xdp_test_attach(char *err, size_t errlen)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	char e2[256];
	int ret = 0;

	if (!ifs) {
		ret = -errno;
		snprintf(err, errlen, "list interfaces: %s", strerror(errno));
		return ret;
	}
	for (i = ifs; i->if_index; i++) {
		int r;

		if (!iface_wanted(i->if_name))
			continue;
		r = attach_one(i->if_name, (int)i->if_index, e2, sizeof(e2));
		if (r && !ret) {
			ret = r;
			snprintf(err, errlen, "%s", e2);
		}
	}
	if_freenameindex(ifs);
	return ret;
}

static void xdp_teardown(void)
{
	char derr[256];

	for (size_t k = 0; k < d.n_if; k++)
		xlb_dp_detach(d.dp, d.ifname[k], derr, sizeof(derr));
	d.n_if = 0;
	xlb_dp_close(d.dp);
	d.dp = NULL;
}

static void use_ipvs(struct xlb_dp *ipvs, const char *why, struct xlb_core_opts *co)
{
	d.dp = ipvs;
	co->dp_name = "ipvs";
	snprintf(dp_reason, sizeof(dp_reason), "%s; %s", why, xlb_dp_ipvs_summary(ipvs));
	co->dp_reason = dp_reason;
}

/* --dataplane: xdp and ipvs are what they say; auto tries XDP (load, then
 * attach to the --iface interfaces present) and falls back to IPVS, saying
 * why in the log and in `xlbctl status`. When IPVS is not there either, an
 * XDP that loaded stays, on the interfaces it could attach to. */
static int open_dataplane(const struct xlb_dp_opts *dpo, struct xlb_core_opts *co)
{
	char err[512] = "", ierr[512] = "", why[200];
	struct xlb_dp *ipvs = NULL;
	bool loaded;
	int ret;

	if (!strcmp(cfg.dataplane, "ipvs")) {
		ret = xlb_dp_ipvs_open(NULL, &ipvs, ierr, sizeof(ierr));
		if (ret) {
			pr_err("open IPVS dataplane: %s", ierr);
			return ret;
		}
		use_ipvs(ipvs, "forced by --dataplane ipvs", co);
		return 0;
	}

	ret = xlb_dp_bpf_open(dpo, &d.dp, err, sizeof(err));
	loaded = !ret;
	if (!ret && !strcmp(cfg.dataplane, "auto"))
		ret = xdp_test_attach(err, sizeof(err));
	if (!ret) {
		co->dp_name = "xdp";
		co->dp_reason = !strcmp(cfg.dataplane, "xdp") ? "forced by --dataplane xdp" :
								"XDP available (auto)";
		return 0;
	}
	if (!strcmp(cfg.dataplane, "xdp")) {
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
		snprintf(dp_reason, sizeof(dp_reason), "auto: XDP, partly (%s); IPVS unusable (%s)",
			 err, ierr);
		co->dp_name = "xdp";
		co->dp_reason = dp_reason;
		return 0;
	}
	/* Nothing of XDP may stay attached next to IPVS (an earlier run's
	 * pinned links included). */
	if (loaded)
		xdp_teardown();
	if (xlb_dp_bpf_unpin(cfg.pin_dir) == 0)
		pr_info("auto: XDP datapath under %s removed", cfg.pin_dir);
	snprintf(why, sizeof(why), "auto: XDP unusable (%s)", err);
	use_ipvs(ipvs, why, co);
	return 0;
}

static int cleanup(void)
{
	char err[512] = "";
	int ret, rc = 0;

	if (strcmp(cfg.dataplane, "ipvs")) {
		ret = xlb_dp_bpf_unpin(cfg.pin_dir);
		if (ret) {
			pr_err("cleanup %s: %s", cfg.pin_dir, strerror(-ret));
			rc = 1;
		} else {
			pr_info("cleanup: datapath under %s detached and removed", cfg.pin_dir);
		}
	}
	if (strcmp(cfg.dataplane, "xdp")) {
		ret = xlb_dp_ipvs_cleanup(err, sizeof(err));
		if (ret && !strcmp(cfg.dataplane, "ipvs")) {
			pr_err("cleanup IPVS: %s", err);
			rc = 1;
		} else if (ret) {	/* auto: this host may have no IPVS or ipset at all */
			pr_warn("cleanup IPVS: %s", err);
		}
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "iface", required_argument, NULL, 'i' },
		{ "dataplane", required_argument, NULL, 'D' },
		{ "xdp-generic", no_argument, NULL, 'g' },
		{ "listen", required_argument, NULL, 'l' },
		{ "tls-cert", required_argument, NULL, 'C' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "tls-client-ca", required_argument, NULL, 'A' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "nodeport-addresses", required_argument, NULL, 'n' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "cleanup", no_argument, NULL, 'X' },
		{ "keep-caps", no_argument, NULL, 'k' },
		{ "panic-threshold", required_argument, NULL, 'P' },
		{ "tcp-probe", required_argument, NULL, 'T' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "allow-exec-probes", no_argument, NULL, 'E' },
		{ "exec-probe-user", required_argument, NULL, 'U' },
		{ "exec-probe-cgroup", required_argument, NULL, 'G' },
		{ "exec-probe-network", required_argument, NULL, 'N' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct xlb_dp_opts dpo = {};
	struct xlb_core_opts co = {};
	struct xlb_api_opts ao = {};
	struct xlb_api_server *api = NULL;
	struct xlb_metrics_server *metrics = NULL;
	enum xlb_log_level lvl;
	char err[512] = "", *dup;
	sigset_t mask;
	int c, ret;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			dup = strdup(optarg);
			ret = split_list(dup, add_pattern);
			free(dup);
			if (ret) {
				fprintf(stderr, "xlbd: --iface: at most %d patterns\n", MAX_PATTERNS);
				return 2;
			}
			break;
		case 'D':
			if (strcmp(optarg, "auto") && strcmp(optarg, "xdp") && strcmp(optarg, "ipvs")) {
				fprintf(stderr, "xlbd: --dataplane: expected auto, xdp or ipvs, got '%s'\n", optarg);
				return 2;
			}
			cfg.dataplane = optarg;
			break;
		case 'g':
			cfg.xdp_generic = true;
			break;
		case 'l':
			if (cfg.n_listen >= MAX_LISTEN) {
				fprintf(stderr, "xlbd: --listen: at most %d\n", MAX_LISTEN);
				return 2;
			}
			cfg.listen[cfg.n_listen++] = optarg;
			break;
		case 'C':
			cfg.tls_cert = optarg;
			break;
		case 'K':
			cfg.tls_key = optarg;
			break;
		case 'A':
			cfg.tls_ca = optarg;
			break;
		case 's':
			cfg.state_dir = optarg;
			break;
		case 'p':
			cfg.pin_dir = optarg;
			break;
		case 'n':
			dup = strdup(optarg);
			ret = split_list(dup, add_cidr);
			free(dup);
			if (ret)
				return 2;
			break;
		case 'L':
			if (xlb_log_level_parse(optarg, &lvl)) {
				fprintf(stderr, "xlbd: --log-level: expected error, warn, info or debug\n");
				return 2;
			}
			xlb_log_set_level(lvl);
			break;
		case 'X':
			cfg.cleanup = true;
			break;
		case 'P': {
			char *end;
			double v;

			errno = 0;
			v = strtod(optarg, &end);
			if (errno || *end || end == optarg || v < 0 || v > 100) {
				fprintf(stderr, "xlbd: --panic-threshold: expected a percentage 0..100, got '%s'\n",
					optarg);
				return 2;
			}
			cfg.panic_threshold = v / 100.0;
			break;
		}
		case 'T':
			if (!strcmp(optarg, "auto")) {
				cfg.tcp_probe = XLB_HC_TCP_AUTO;
			} else if (!strcmp(optarg, "half-open")) {
				cfg.tcp_probe = XLB_HC_TCP_HALF_OPEN;
			} else if (!strcmp(optarg, "connect")) {
				cfg.tcp_probe = XLB_HC_TCP_CONNECT;
			} else {
				fprintf(stderr, "xlbd: --tcp-probe: expected auto, half-open or connect, got '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'k':
			cfg.keep_caps = true;
			break;
		case 'M':
			cfg.metrics = optarg;
			break;
		case 'E':
			cfg.allow_exec = true;
			break;
		case 'U':
			if (parse_ids(optarg, &cfg.exec.uid, &cfg.exec.gid)) {
				fprintf(stderr, "xlbd: --exec-probe-user: expected UID[:GID], not 0, got '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'G':
			if (optarg[0] != '/') {
				fprintf(stderr, "xlbd: --exec-probe-cgroup: expected a cgroup path from the root, got '%s'\n",
					optarg);
				return 2;
			}
			cfg.exec.cgroup = optarg;
			break;
		case 'N':
			if (strcmp(optarg, "isolated") && strcmp(optarg, "node")) {
				fprintf(stderr, "xlbd: --exec-probe-network: expected isolated or node, got '%s'\n",
					optarg);
				return 2;
			}
			cfg.exec.node_net = !strcmp(optarg, "node");
			break;
		case 'V':
			printf("xlbd %s\n", XLBD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "xlbd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (cfg.cleanup)
		return cleanup();
	if (!cfg.n_listen)
		cfg.listen[cfg.n_listen++] = "unix:/run/xlb/xlbd.sock";

	/* gRPC's threads inherit this mask; signals arrive on the signalfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);

	dpo.pin_dir = cfg.pin_dir;
	dpo.xdp_generic = cfg.xdp_generic;
	ret = open_dataplane(&dpo, &co);
	if (ret)
		return 1;
	ret = xlb_linkwatch_open(&lw_ops, NULL, &d.lw);
	if (ret) {
		pr_err("rtnetlink: %s", strerror(-ret));
		goto out;
	}
	/* The initial dump: attach to what exists, learn node addresses. */
	for (int i = 0; i < 50; i++) {
		xlb_linkwatch_dispatch(d.lw);
		usleep(2000);
	}

	co.dp = d.dp;
	co.state_dir = cfg.state_dir;
	co.allow_exec_probes = cfg.allow_exec;
	ret = xlb_core_new(&co, &d.core, err, sizeof(err));
	if (ret) {
		pr_err("start: %s", err);
		goto out;
	}
	publish_ifaces();
	ret = xlb_health_feed_new(d.core, cfg.panic_threshold, cfg.tcp_probe, &d.hw);
	if (ret) {
		pr_err("health checks: %s%s", strerror(-ret),
		       ret == -EPERM && cfg.tcp_probe == XLB_HC_TCP_HALF_OPEN
			       ? " (--tcp-probe half-open needs CAP_NET_RAW)" : "");
		goto out;
	}
	if (cfg.allow_exec) {
		ret = xlb_sandbox_new(&cfg.exec, &d.sandbox, err, sizeof(err));
		if (ret) {
			pr_err("--allow-exec-probes: %s", err);
			goto out;
		}
		xlb_health_feed_set_sandbox(d.hw, d.sandbox);
		pr_info("exec probes on: %s", xlb_sandbox_describe(d.sandbox));
	}

	ao.listen = cfg.listen;
	ao.n_listen = cfg.n_listen;
	ao.tls_cert_file = cfg.tls_cert;
	ao.tls_key_file = cfg.tls_key;
	ao.tls_client_ca_file = cfg.tls_ca;
	ao.version = XLBD_VERSION;
	ret = xlb_api_server_start(d.core, &ao, &api, err, sizeof(err));
	if (ret) {
		pr_err("API: %s", err);
		goto out;
	}
	if (cfg.metrics) {
		struct xlb_metrics_opts mo = { .version = XLBD_VERSION };

		ret = xlb_metrics_start(d.core, cfg.metrics, &mo, &metrics, err, sizeof(err));
		if (ret) {
			pr_err("%s", err);
			goto out;
		}
	}
	if (!cfg.keep_caps) {
		ret = drop_caps();
		if (ret)
			pr_warn("drop capabilities: %s", strerror(-ret));
		else
			pr_debug("capabilities dropped to NET_ADMIN, SYS_ADMIN, BPF, PERFMON, NET_RAW, SYS_RESOURCE, KILL (those held)");
	}
	pr_info("xlbd %s ready: %zu interfaces, API on %s", XLBD_VERSION, d.n_if, cfg.listen[0]);
	ret = run_loop();
out:
	xlb_metrics_stop(metrics);
	xlb_api_server_stop(api);
	xlb_linkwatch_close(d.lw);
	xlb_health_feed_free(d.hw);
	xlb_sandbox_free(d.sandbox);
	xlb_core_free(d.core);
	xlb_dp_close(d.dp);
	for (size_t i = 0; i < cfg.n_patterns; i++)
		free(cfg.patterns[i]);
	return ret ? 1 : 0;
}
