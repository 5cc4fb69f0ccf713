// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xlbd: the node agent. Opens (or adopts) the datapath, attaches it to the
 * interfaces matching --iface as they appear, keeps NodePort on the node's
 * addresses, serves the gRPC API and reconciles desired state into the
 * datapath. SIGTERM or kill -9 leave the pinned datapath running.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"
#include "core/core_priv.h"
#include "core/health_feed.h"
#include "core/svchealth_feed.h"
#include "health/sandbox.h"
#include "node/node.h"
#include "node/privs.h"
#include "api/server.h"
#include "metrics/metrics.h"
#include "svchealth/svchealth.h"
#include "util/portset.h"
#include <xlb/snat.h>

#define XLBD_VERSION "0.1.0"
#define MAX_LISTEN 8

static struct {
	const char *listen[MAX_LISTEN];
	size_t n_listen;
	const char *tls_cert, *tls_key, *tls_ca;
	struct xlb_api_rules rules;
	const char *metrics;		/* --metrics ADDR:PORT; NULL: off */
	unsigned int watch_queue;	/* --watch-queue; 0: the server's default */
	unsigned int max_watchers;	/* --max-watchers; 0: the server's default */
	unsigned int api_idle_s;	/* --api-idle-timeout; 0: the server's default */
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
	uint32_t ct_entries, ct_syn_entries, aff_entries, max_services, max_backends;
	char node_name[256];		/* --node-name, $NODE_NAME, the hostname */
	const char *healthz;		/* --healthz-bind-address; "": off */
	bool healthz_given;
	struct xlb_port_range node_ports; /* --nodeport-range */
	bool socket_lb_off;		/* --socket-lb off */
	const char *cgroup_root;	/* --cgroup-root; NULL: the hierarchy's root */
	struct xlb_port_range snat_ports; /* --snat-port-range */
	bool lb_mode_dsr;		/* --lb-mode dsr */
} cfg = {
	.state_dir = "/var/lib/xlb",
	.pin_dir = XLB_PIN_DIR_DEFAULT,
	.dataplane = "auto",
	.healthz = "0.0.0.0" XLB_HEALTHZ_DEFAULT,
	.node_ports = { 30000, 32767 },
	.snat_ports = { XLB_SNAT_PORT_MIN, XLB_SNAT_PORT_MAX },
};

/* kube-proxy's healthTimeout: out of step longer than this is unhealthy. */
#define HEALTHZ_TIMEOUT_S 60

static struct {
	struct xlb_dp *dp;
	struct xlb_core *core;
	struct xlb_health_feed *hw;
	struct xlb_svchealth_feed *sh;
	struct xlb_sandbox *sandbox;	/* exec probes; NULL: off */
	struct xlb_node *node;
	struct xlb_privs privs;
} d;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: xlbd [options]\n\n"
		"  --iface IF[,IF...]        the node's NICs: XDP for traffic from outside; shell\n"
		"                            patterns allowed (e.g. 'eth*'); new matching links\n"
		"                            are picked up as they appear (repeatable)\n"
		"  --pod-iface IF[,IF...]    the host ends of pod veths (e.g. 'cali*,lxc*'): tc\n"
		"                            for pod traffic no socket program translated;\n"
		"                            followed as pods come and go (repeatable)\n"
		"  --socket-lb on|off        balance the node's and its pods' connections to\n"
		"                            services at the socket (default on)\n"
		"  --cgroup-root DIR         cgroup2 directory the socket programs attach to:\n"
		"                            sockets created in it or below are balanced\n"
		"                            (default: the root of the cgroup2 hierarchy, from\n"
		"                            /proc/self/mountinfo, when xlbd runs in the\n"
		"                            node's own network namespace; elsewhere none)\n"
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
		"  --api-writer PATTERN      who may change state over the API (repeatable):\n"
		"                            uid:N (a unix socket peer), cn:NAME, san:NAME,\n"
		"                            subject:DN (a client certificate) or cert:* (any\n"
		"                            the client CA signed); root and xlbd's own uid\n"
		"                            always may on unix sockets\n"
		"  --api-reader PATTERN      who may read (same patterns; other uids have no\n"
		"                            role; a certificate reads unless readers are named)\n"
		"  --api-roles FILE          more rules, one 'read|write PATTERN' a line\n"
		"  --api-insecure-tls-writes TLS clients without a certificate may write (by\n"
		"                            default they may only read: use --tls-client-ca)\n"
		"  --watch-queue N           a Watch client with more than N events unread when\n"
		"                            more come, that took none for a second (or has 4N\n"
		"                            unread), is ended: RESOURCE_EXHAUSTED (default 10000)\n"
		"  --max-watchers N          Watch streams open at once; more are refused with\n"
		"                            RESOURCE_EXHAUSTED (default 256)\n"
		"  --api-idle-timeout SECONDS  an API connection without calls this long is\n"
		"                            closed (default 120)\n"
		"  --metrics ADDR:PORT       serve Prometheus metrics at http://ADDR:PORT/metrics\n"
		"                            (plain HTTP: bind it where only the scraper reaches;\n"
		"                            ':PORT' every address, port 0 picks one; default off)\n"
		"  --state-dir DIR           desired state, written atomically on every change\n"
		"                            (default /var/lib/xlb)\n"
		"  --pin-dir DIR             bpffs directory of the pinned datapath\n"
		"                            (default " XLB_PIN_DIR_DEFAULT ")\n"
		"  --nodeport-addresses CIDR[,CIDR...]  node addresses NodePort answers on\n"
		"                            (default: every non-loopback IPv4 address)\n"
		"  --nodeport-range MIN-MAX  node ports (and health-check node ports) services\n"
		"                            may use (default 30000-32767); the part inside the\n"
		"                            kernel's ephemeral ports is reserved from them\n"
		"                            (net.ipv4.ip_local_reserved_ports)\n"
		"  --snat-port-range MIN-MAX  ports external flows to backends on other nodes\n"
		"                            are source-NATed to (default 61000-65535); reserved\n"
		"                            from the node's own (ip_local_reserved_ports)\n"
		"  --lb-mode snat|dsr        how external flows reach backends on other nodes:\n"
		"                            source-NATed to this node (default), or DSR: IPIP\n"
		"                            to the backend, whose node's xlbd decapsulates it,\n"
		"                            answering the client directly; a Service's\n"
		"                            annotation xlb.io/lb-mode overrides it\n"
		"  --node-name NAME          this node, as EndpointSlices name it: endpoints\n"
		"                            there are local (traffic policies Local, health-\n"
		"                            check node ports; default: $NODE_NAME, else the\n"
		"                            hostname)\n"
		"  --healthz-bind-address ADDR:PORT  serve /healthz and /livez as kube-proxy\n"
		"                            does (default 0.0.0.0:10256; '' off; a default\n"
		"                            that cannot be bound is only warned about)\n"
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
		"Datapath map sizes (XDP; fixed at start; kernel memory in parentheses, measured\n"
		"on 6.18; a restart with other sizes moves the pinned entries into new maps):\n"
		"  --ct-entries N            established conntrack entries, two per flow\n"
		"                            (default 262144: 30 MiB, 120 bytes each)\n"
		"  --ct-syn-entries N        flows not established yet, one each: what a SYN\n"
		"                            flood fills (default 65536: 8 MiB, 128 bytes each)\n"
		"  --affinity-entries N      ClientIP affinity entries (default 131072: 13 MiB)\n"
		"  --max-services N          services (default 65536: 15 MiB, plus 24 bytes per\n"
		"                            CPU each for counters)\n"
		"  --max-backends N          backends of all services (default 131072: 7 MiB,\n"
		"                            plus 24 bytes per CPU each for counters)\n"
		"                            Selection tables take 32 MiB more (4M slots).\n"
		"  --version, --help\n");
}

/* A map size flag: a decimal count in [min, max]. 0, or -1 after saying why. */
static int parse_size(const char *flag, const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || *s == '-' || v < min || v > max) {
		fprintf(stderr, "xlbd: %s: expected a count from %u to %u, got '%s'\n", flag, min, max,
			s);
		return -1;
	}
	*out = (uint32_t)v;
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

/* The threads the API server makes keep their role's capabilities. */
static int api_thread_init(void *arg, bool writer)
{
	return xlb_privs_limit(arg, writer ? XLB_ROLE_WRITER : XLB_ROLE_NET);
}

struct metrics_start {
	const char *listen;
	struct xlb_metrics_server **out;
	char *err;
	size_t errlen;
};

/* The core's persist thread (journal compaction) needs no capability. */
static int persist_start(void *arg)
{
	return xlb_core_persist_start(arg);
}

static int metrics_start(void *arg)
{
	struct metrics_start *m = arg;
	struct xlb_metrics_opts mo = { .version = XLBD_VERSION };

	return xlb_metrics_start(d.core, m->listen, &mo, m->out, m->err, m->errlen);
}

/* A stop ends within 2 s whatever clients do (a stream that never reads,
 * a connection stuck in a handshake): past this, exit now. Nothing is
 * lost: the datapath stays, every acknowledged change is on disk. */
#define EXIT_GUARD_MS 1800

static void *exit_guard_main(void *arg)
{
	struct timespec ts = { EXIT_GUARD_MS / 1000, (EXIT_GUARD_MS % 1000) * 1000000L };

	(void)arg;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	pr_warn("stop: still waiting for clients after %d ms: exiting now", EXIT_GUARD_MS);
	_exit(0);
	return NULL;
}

static void exit_guard(void)
{
	pthread_t t;

	if (!pthread_create(&t, NULL, exit_guard_main, NULL))
		pthread_detach(t);
}

/* Every connection, probe and map is an fd: take the hard limit. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			pr_warn("raise the open files limit: %s", strerror(errno));
	}
}

static int run_loop(void)
{
	struct epoll_event ev = { .events = EPOLLIN }, evs[8];
	struct itimerspec its = { .it_interval = { 10, 0 }, .it_value = { 10, 0 } };
	sigset_t mask;
	int ep, sfd, tfd, lfd, ufd;

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
	lfd = xlb_node_fd(d.node);
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
	ev.data.fd = xlb_svchealth_feed_fd(d.sh);
	epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
	ufd = xlb_core_upkeep_fd(d.core);	/* the dataplane's work for this thread */
	ev.data.fd = ufd;
	if (ufd >= 0)
		epoll_ctl(ep, EPOLL_CTL_ADD, ufd, &ev);

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

				if (read(tfd, &x, sizeof(x)) > 0) {
					xlb_core_tick(d.core);
					xlb_svchealth_feed_tick(d.sh);
				}
			} else if (fd == xlb_svchealth_feed_fd(d.sh)) {
				xlb_svchealth_feed_dispatch(d.sh);
			} else if (d.hw && fd == xlb_health_feed_fd(d.hw)) {
				xlb_health_feed_dispatch(d.hw);
			} else if (fd == lfd) {
				xlb_node_dispatch(d.node);
			} else if (fd == ufd) {
				xlb_core_upkeep(d.core);
			}
		}
	}
}

/* Each with its line in usage(). */
static const struct option opts[] = {
	{ "iface", required_argument, NULL, 'i' },
	{ "dataplane", required_argument, NULL, 'D' },
	{ "xdp-generic", no_argument, NULL, 'g' },
	{ "listen", required_argument, NULL, 'l' },
	{ "tls-cert", required_argument, NULL, 'C' },
	{ "tls-key", required_argument, NULL, 'K' },
	{ "tls-client-ca", required_argument, NULL, 'A' },
	{ "api-writer", required_argument, NULL, 'W' },
	{ "api-reader", required_argument, NULL, 'R' },
	{ "api-roles", required_argument, NULL, 'F' },
	{ "api-insecure-tls-writes", no_argument, NULL, 'I' },
	{ "watch-queue", required_argument, NULL, 'Q' },
	{ "max-watchers", required_argument, NULL, 'w' },
	{ "api-idle-timeout", required_argument, NULL, 'd' },
	{ "state-dir", required_argument, NULL, 's' },
	{ "pin-dir", required_argument, NULL, 'p' },
	{ "nodeport-addresses", required_argument, NULL, 'n' },
	{ "nodeport-range", required_argument, NULL, 'r' },
	{ "pod-iface", required_argument, NULL, 'o' },
	{ "socket-lb", required_argument, NULL, 'S' },
	{ "cgroup-root", required_argument, NULL, 'c' },
	{ "node-name", required_argument, NULL, 'O' },
	{ "healthz-bind-address", required_argument, NULL, 'H' },
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
	{ "ct-entries", required_argument, NULL, 1001 },
	{ "snat-port-range", required_argument, NULL, 1101 },
	{ "lb-mode", required_argument, NULL, 1102 },
	{ "ct-syn-entries", required_argument, NULL, 1002 },
	{ "affinity-entries", required_argument, NULL, 1003 },
	{ "max-services", required_argument, NULL, 1004 },
	{ "max-backends", required_argument, NULL, 1005 },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

/* A refused option: "xlbd: --FLAG: WHY" on stderr; the exit code (2). */
__attribute__((format(printf, 2, 3)))
static int bad_opt(const char *flag, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "xlbd: --%s: ", flag);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

/* arg as the index of one of names (a NULL-terminated list), or -1 with
 * "expected A, B or C, got 'X'" said. */
static int choice(const char *flag, const char *arg, const char *const *names)
{
	char want[128] = "";
	size_t n = 0;

	for (; names[n]; n++)
		if (!strcmp(arg, names[n]))
			return (int)n;
	for (size_t i = 0; i < n; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s",
			 !i ? "" : i + 1 < n ? ", " : " or ", names[i]);
	bad_opt(flag, "expected %s, got '%s'", want, arg);
	return -1;
}

/* A percentage 0..100 as a share 0..1; -1 when arg is not one. */
static double parse_share(const char *arg)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || *end || end == arg || v < 0 || v > 100)
		return -1;
	return v / 100.0;
}

/* A count 1..1000000 into *v; -EINVAL when arg is not one. */
static int parse_count(const char *arg, unsigned int *v)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || arg[0] == '-' || n < 1 || n > 1000000)
		return -EINVAL;
	*v = (unsigned int)n;
	return 0;
}

/* take_*_opt: one option into cfg or the node's policy. -1: go on; else
 * the exit code (0 for --help and --version, 2 for a bad option);
 * OPT_OTHER: not one of theirs. */
#define OPT_OTHER (-2)

/* The dataplane and the node: interfaces, addresses, ports, sizes. */
static int take_dataplane_opt(int c, char *arg)
{
	static const char *const dataplanes[] = { "auto", "xdp", "ipvs", NULL };
	static const char *const on_off[] = { "on", "off", NULL };
	static const char *const lb_modes[] = { "snat", "dsr", NULL };
	char err[512] = "";
	int i;

	switch (c) {
	case 'i':
		if (xlb_node_add_ifaces(d.node, arg, err, sizeof(err)))
			return bad_opt("iface", "%s", err);
		break;
	case 'D':
		if (choice("dataplane", arg, dataplanes) < 0)
			return 2;
		cfg.dataplane = arg;
		break;
	case 'g':
		cfg.xdp_generic = true;
		break;
	case 'p':
		cfg.pin_dir = arg;
		break;
	case 'o':
		if (xlb_node_add_pod_ifaces(d.node, arg, err, sizeof(err)))
			return bad_opt("pod-iface", "%s", err);
		break;
	case 'S':
		i = choice("socket-lb", arg, on_off);
		if (i < 0)
			return 2;
		cfg.socket_lb_off = i == 1;
		break;
	case 'c':
		if (arg[0] != '/')
			return bad_opt("cgroup-root", "expected an absolute path, got '%s'", arg);
		cfg.cgroup_root = arg;
		break;
	case 'n':
		if (xlb_node_add_cidrs(d.node, arg, err, sizeof(err)))
			return bad_opt("nodeport-addresses", "%s", err);
		break;
	case 'r':
		if (xlb_port_range_parse(arg, &cfg.node_ports))
			return bad_opt("nodeport-range", "expected MIN-MAX within 1-65535, got '%s'",
				       arg);
		break;
	case 'O':
		if (!arg[0] || strlen(arg) >= sizeof(cfg.node_name))
			return bad_opt("node-name", "expected a name of 1 to %zu bytes",
				       sizeof(cfg.node_name) - 1);
		snprintf(cfg.node_name, sizeof(cfg.node_name), "%s", arg);
		break;
	case 'X':
		cfg.cleanup = true;
		break;
	case 1102:
		i = choice("lb-mode", arg, lb_modes);
		if (i < 0)
			return 2;
		cfg.lb_mode_dsr = i == 1;
		break;
	case 1101:
		if (xlb_port_range_parse(arg, &cfg.snat_ports) || cfg.snat_ports.lo < 1024)
			return bad_opt("snat-port-range", "expected MIN-MAX within 1024-65535, got '%s'",
				       arg);
		break;
	case 1001:
		if (parse_size("--ct-entries", arg, 1024, 1U << 26, &cfg.ct_entries))
			return 2;
		break;
	case 1002:
		if (parse_size("--ct-syn-entries", arg, 1024, 1U << 24, &cfg.ct_syn_entries))
			return 2;
		break;
	case 1003:
		if (parse_size("--affinity-entries", arg, 1024, 1U << 24, &cfg.aff_entries))
			return 2;
		break;
	case 1004:
		if (parse_size("--max-services", arg, 16, 1U << 20, &cfg.max_services))
			return 2;
		break;
	case 1005:
		if (parse_size("--max-backends", arg, 64, 1U << 22, &cfg.max_backends))
			return 2;
		break;
	default:
		return OPT_OTHER;
	}
	return -1;
}

/* The API server: listeners, TLS, roles, watchers. */
static int take_api_opt(int c, char *arg)
{
	char err[512] = "";

	switch (c) {
	case 'l':
		if (cfg.n_listen >= MAX_LISTEN)
			return bad_opt("listen", "at most %d", MAX_LISTEN);
		cfg.listen[cfg.n_listen++] = arg;
		break;
	case 'C':
		cfg.tls_cert = arg;
		break;
	case 'K':
		cfg.tls_key = arg;
		break;
	case 'A':
		cfg.tls_ca = arg;
		break;
	case 'W':
	case 'R':
		if (xlb_api_rule_add(&cfg.rules, c == 'W' ? "write" : "read", arg, err,
				     sizeof(err)))
			return bad_opt(c == 'W' ? "api-writer" : "api-reader", "%s", err);
		break;
	case 'F':
		if (xlb_api_rules_load(&cfg.rules, arg, err, sizeof(err)))
			return bad_opt("api-roles", "%s", err);
		break;
	case 'I':
		cfg.rules.insecure_tls_writes = true;
		break;
	case 'Q':
		if (parse_count(arg, &cfg.watch_queue))
			return bad_opt("watch-queue", "expected 1..1000000 events, got '%s'", arg);
		break;
	case 'w':
		if (parse_count(arg, &cfg.max_watchers))
			return bad_opt("max-watchers", "expected 1..1000000, got '%s'", arg);
		break;
	case 'd':
		if (parse_count(arg, &cfg.api_idle_s) || cfg.api_idle_s > 86400)
			return bad_opt("api-idle-timeout", "expected 1..86400 seconds, got '%s'", arg);
		break;
	default:
		return OPT_OTHER;
	}
	return -1;
}

/* Health checks: the panic threshold, TCP probes, exec probes' sandbox. */
static int take_probe_opt(int c, char *arg)
{
	static const char *const tcp_probes[] = { "auto", "half-open", "connect", NULL };
	static const enum xlb_health_tcp_mode tcp_modes[] = {
		XLB_HC_TCP_AUTO, XLB_HC_TCP_HALF_OPEN, XLB_HC_TCP_CONNECT,
	};
	static const char *const networks[] = { "isolated", "node", NULL };
	int i;

	switch (c) {
	case 'P':
		cfg.panic_threshold = parse_share(arg);
		if (cfg.panic_threshold < 0)
			return bad_opt("panic-threshold", "expected a percentage 0..100, got '%s'",
				       arg);
		break;
	case 'T':
		i = choice("tcp-probe", arg, tcp_probes);
		if (i < 0)
			return 2;
		cfg.tcp_probe = tcp_modes[i];
		break;
	case 'E':
		cfg.allow_exec = true;
		break;
	case 'U':
		if (parse_ids(arg, &cfg.exec.uid, &cfg.exec.gid))
			return bad_opt("exec-probe-user", "expected UID[:GID], not 0, got '%s'",
				       arg);
		break;
	case 'G':
		if (arg[0] != '/')
			return bad_opt("exec-probe-cgroup",
				       "expected a cgroup path from the root, got '%s'", arg);
		cfg.exec.cgroup = arg;
		break;
	case 'N':
		i = choice("exec-probe-network", arg, networks);
		if (i < 0)
			return 2;
		cfg.exec.node_net = i == 1;
		break;
	default:
		return OPT_OTHER;
	}
	return -1;
}

/* The daemon itself: its state, what else it serves, logs, capabilities. */
static int take_daemon_opt(int c, char *arg)
{
	enum xlb_log_level lvl;

	switch (c) {
	case 's':
		cfg.state_dir = arg;
		break;
	case 'H':
		cfg.healthz = arg;
		cfg.healthz_given = true;
		break;
	case 'L':
		if (xlb_log_level_parse(arg, &lvl))
			return bad_opt("log-level", "expected error, warn, info or debug");
		xlb_log_set_level(lvl);
		break;
	case 'k':
		cfg.keep_caps = true;
		break;
	case 'M':
		cfg.metrics = arg;
		break;
	case 'V':
		printf("xlbd %s\n", XLBD_VERSION);
		return 0;
	case 'h':
		usage(stdout);
		return 0;
	default:
		return OPT_OTHER;
	}
	return -1;
}

/* One option, by whichever part it configures. */
static int take_opt(int c, char *arg)
{
	static int (*const take[])(int, char *) = {
		take_dataplane_opt, take_api_opt, take_probe_opt, take_daemon_opt,
	};

	for (size_t i = 0; i < sizeof(take) / sizeof(take[0]); i++) {
		int ret = take[i](c, arg);

		if (ret != OPT_OTHER)
			return ret;
	}
	usage(stderr);
	return 2;
}

/* The options into cfg and the node's policy. -1: go on; else the exit
 * code (0 for --help and --version, 2 for a bad option). */
static int parse_args(int argc, char **argv)
{
	int c, ret;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		ret = take_opt(c, optarg);
		if (ret >= 0)
			return ret;
	}
	if (optind != argc) {
		fprintf(stderr, "xlbd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (cfg.snat_ports.lo <= cfg.node_ports.hi && cfg.snat_ports.hi >= cfg.node_ports.lo) {
		fprintf(stderr, "xlbd: --snat-port-range %u-%u overlaps the NodePort range %u-%u\n",
			cfg.snat_ports.lo, cfg.snat_ports.hi, cfg.node_ports.lo, cfg.node_ports.hi);
		return 2;
	}
	if (!cfg.node_name[0] && getenv("NODE_NAME"))
		snprintf(cfg.node_name, sizeof(cfg.node_name), "%s", getenv("NODE_NAME"));
	if (!cfg.node_name[0] && gethostname(cfg.node_name, sizeof(cfg.node_name) - 1))
		cfg.node_name[0] = '\0';
	xlb_node_set_socket_lb(d.node, !cfg.socket_lb_off, cfg.cgroup_root);
	return -1;
}

/* The health-check node ports and /healthz; a default /healthz address
 * that cannot be bound (another proxy, another xlbd) only costs /healthz.
 * Its threads face the network: made on a thread of the net role. */
static int start_svchealth(void *arg)
{
	char err[512] = "";
	int ret;

	(void)arg;
	ret = xlb_svchealth_feed_new(d.core, cfg.healthz, HEALTHZ_TIMEOUT_S, &d.sh, err,
				     sizeof(err));
	if (ret && !cfg.healthz_given && cfg.healthz[0]) {
		pr_warn("%s: /healthz not served (--healthz-bind-address to choose another)", err);
		ret = xlb_svchealth_feed_new(d.core, "", HEALTHZ_TIMEOUT_S, &d.sh, err,
					     sizeof(err));
	}
	if (ret)
		pr_err("%s", err);
	return ret;
}

/* What the process needs before any thread: file descriptors, one malloc
 * arena, and the signals blocked (gRPC's threads inherit the mask; they
 * arrive on the signalfd). */
static void process_setup(void)
{
	sigset_t mask;

	raise_nofile();
	/* Each thread that allocates (32 writers, gRPC's) would get a malloc
	 * arena, each keeping what was freed in it: after three rounds of
	 * replacing 10k services x 10 endpoints RSS was 276 MiB, with one
	 * arena 106 MiB, at the same write throughput. MALLOC_ARENA_MAX in
	 * the environment still decides. */
	if (!getenv("MALLOC_ARENA_MAX"))
		mallopt(M_ARENA_MAX, 1);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
}

/* The dataplane and the core over it (from here on the core is the
 * dataplane's only door), the node's ports reserved, its links watched.
 * co: what the core was opened with (co->dp_name: the dataplane chosen). */
static int open_core(struct xlb_core_opts *co)
{
	struct xlb_dp_opts dpo = {
		.pin_dir = cfg.pin_dir,
		.xdp_generic = cfg.xdp_generic,
		.ct_entries = cfg.ct_entries,
		.ct_syn_entries = cfg.ct_syn_entries,
		.aff_entries = cfg.aff_entries,
		.max_services = cfg.max_services,
		.max_backends = cfg.max_backends,
		.snat_port_min = cfg.snat_ports.lo,
		.snat_port_max = cfg.snat_ports.hi,
		.lb_mode_dsr = cfg.lb_mode_dsr,
	};
	struct xlb_node_ports np[] = {
		{ .range = cfg.node_ports, .what = "NodePort range" },
		/* a node's own connection on an SNAT port would have its
		 * replies taken for a translated flow's */
		{ .range = cfg.snat_ports, .what = "SNAT range", .always = true },
	};
	char err[512] = "";
	int ret;

	ret = xlb_node_open_dataplane(d.node, cfg.dataplane, &dpo, co);
	if (ret)
		return ret;
	d.dp = co->dp;
	co->state_dir = cfg.state_dir;
	co->allow_exec_probes = cfg.allow_exec;
	co->max_services = cfg.max_services;
	co->max_backends = cfg.max_backends;
	co->node_name = cfg.node_name;
	co->node_port_min = cfg.node_ports.lo;
	co->node_port_max = cfg.node_ports.hi;
	xlb_node_reserve_ports(np, 2);	/* logged; NodePort works without */
	ret = xlb_core_new(co, &d.core, err, sizeof(err));
	if (ret) {
		pr_err("start: %s", err);
		return ret;
	}
	return xlb_node_watch(d.node, d.core);
}

/* The probes' event loop, and the sandbox of exec probes if allowed. */
static int start_health(void)
{
	char err[512] = "";
	int ret;

	ret = xlb_health_feed_new(d.core, cfg.panic_threshold, cfg.tcp_probe, &d.hw);
	if (ret) {
		pr_err("health checks: %s%s", strerror(-ret),
		       ret == -EPERM && cfg.tcp_probe == XLB_HC_TCP_HALF_OPEN
			       ? " (--tcp-probe half-open needs CAP_NET_RAW)" : "");
		return ret;
	}
	if (!cfg.allow_exec)
		return 0;
	ret = xlb_sandbox_new(&cfg.exec, &d.sandbox, err, sizeof(err));
	if (ret) {
		pr_err("--allow-exec-probes: %s", err);
		return ret;
	}
	xlb_health_feed_set_sandbox(d.hw, d.sandbox);
	pr_info("exec probes on: %s", xlb_sandbox_describe(d.sandbox));
	return 0;
}

/* fn(arg) on a thread of the net role (or here, with --keep-caps). */
static int run_as_net(int (*fn)(void *), void *arg)
{
	return cfg.keep_caps ? fn(arg) : xlb_privs_run(&d.privs, XLB_ROLE_NET, fn, arg);
}

/* Set-up is over: from here on each thread keeps only what its role needs
 * (node/privs.h), fixed before any thread is made; the API's threads take
 * theirs through ao. */
static int drop_privileges(const struct xlb_core_opts *co, struct xlb_api_opts *ao)
{
	char err[512] = "";
	int ret;

	if (cfg.keep_caps)
		return 0;
	xlb_privs_init(&d.privs, cfg.allow_exec, co->dp_name && !strcmp(co->dp_name, "ipvs"));
	ret = xlb_privs_lock(&d.privs, err, sizeof(err));
	if (ret) {
		pr_err("privileges: %s", err);
		return ret;
	}
	ao->thread_init = api_thread_init;
	ao->thread_arg = &d.privs;
	return 0;
}

/* The threads that face the network, made by threads that dropped already:
 * health-check node ports and /healthz, the state file's, the metrics
 * server (before the API: every change it takes is observed). */
static int start_net_threads(struct xlb_metrics_server **metrics)
{
	char err[512] = "";
	int ret;

	ret = run_as_net(start_svchealth, NULL);
	if (ret)
		return ret;
	ret = run_as_net(persist_start, d.core);
	if (ret)	/* compactions then happen under the core lock */
		pr_warn("persist thread: %s", strerror(-ret));
	if (cfg.metrics) {
		struct metrics_start ms = { cfg.metrics, metrics, err, sizeof(err) };

		ret = run_as_net(metrics_start, &ms);
		if (ret) {
			pr_err("%s", err[0] ? err : strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* The gRPC API, then the main thread's own privileges limited. */
static int start_api(struct xlb_api_opts *ao, struct xlb_api_server **api)
{
	char err[512] = "", m[512], w[512], n[512];
	int ret;

	ao->listen = cfg.listen;
	ao->n_listen = cfg.n_listen;
	ao->tls_cert_file = cfg.tls_cert;
	ao->tls_key_file = cfg.tls_key;
	ao->tls_client_ca_file = cfg.tls_ca;
	ao->rules = &cfg.rules;
	ao->watch_queue = cfg.watch_queue;
	ao->max_watchers = cfg.max_watchers;
	ao->idle_s = cfg.api_idle_s;
	ao->version = XLBD_VERSION;
	ao->grace_ms = 1000;	/* then cancelled: the stop ends within 2 s */
	ret = xlb_api_server_start(d.core, ao, api, err, sizeof(err));
	if (ret) {
		pr_err("API: %s", err);
		return ret;
	}
	if (cfg.keep_caps)
		return 0;
	ret = xlb_privs_limit(&d.privs, XLB_ROLE_MAIN);
	if (ret) {
		pr_err("privileges: limit the main thread: %s", strerror(-ret));
		return ret;
	}
	pr_info("capabilities: main thread %s; writers %s; API, metrics and persist threads %s",
		xlb_privs_describe(&d.privs, XLB_ROLE_MAIN, m, sizeof(m)),
		xlb_privs_describe(&d.privs, XLB_ROLE_WRITER, w, sizeof(w)),
		xlb_privs_describe(&d.privs, XLB_ROLE_NET, n, sizeof(n)));
	return 0;
}

int main(int argc, char **argv)
{
	struct xlb_core_opts co = {};
	struct xlb_api_opts ao = {};
	struct xlb_api_server *api = NULL;
	struct xlb_metrics_server *metrics = NULL;
	int ret;

	if (xlb_node_new(&d.node))
		return 1;
	ret = parse_args(argc, argv);
	if (ret < 0 && cfg.cleanup)
		ret = xlb_node_cleanup(cfg.dataplane, cfg.pin_dir);
	if (ret >= 0) {
		xlb_node_free(d.node);
		xlb_api_rules_free(&cfg.rules);
		return ret;
	}
	if (!cfg.n_listen)
		cfg.listen[cfg.n_listen++] = "unix:/run/xlb/xlbd.sock";
	process_setup();
	ret = open_core(&co);
	if (!ret)
		ret = start_health();
	if (!ret)
		ret = drop_privileges(&co, &ao);
	if (!ret)
		ret = start_net_threads(&metrics);
	if (!ret)
		ret = start_api(&ao, &api);
	if (!ret) {
		pr_info("xlbd %s ready: node %s, %zu interfaces, API on %s", XLBD_VERSION,
			cfg.node_name[0] ? cfg.node_name : "(no name)", xlb_core_interfaces(d.core),
			cfg.listen[0]);
		ret = run_loop();
		exit_guard();
	}
	xlb_metrics_stop(metrics);
	xlb_api_server_stop(api);
	xlb_node_free(d.node);
	xlb_health_feed_free(d.hw);
	xlb_svchealth_feed_free(d.sh);
	xlb_sandbox_free(d.sandbox);
	xlb_core_free(d.core);
	xlb_dp_close(d.dp);
	xlb_api_rules_free(&cfg.rules);
	return ret ? 1 : 0;
}
