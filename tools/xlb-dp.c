// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xlb-dp: drive the XDP dataplane directly through libxlb, without the
 * daemon (lab, demo and debugging). State lives in the pinned maps, so
 * every invocation adopts what the previous one left.
 *
 * Exit codes: 0 ok, 1 operation failed, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "dataplane/dataplane.h"

#define EXIT_USAGE 2

static const char *pin_dir = XLB_PIN_DIR_DEFAULT;
static bool xdp_generic;
static struct xlb_dp *dp;

static int usage(FILE *f);

static int open_dp(void)
{
	char err[256] = "";
	struct xlb_dp_opts o = { .pin_dir = pin_dir, .xdp_generic = xdp_generic };
	int ret = xlb_dp_bpf_open(&o, &dp, err, sizeof(err));

	if (ret)
		fprintf(stderr, "xlb-dp: %s\n", err[0] ? err : strerror(-ret));
	return ret;
}

static int do_attach(int argc, char **argv, bool attach)
{
	char err[256];
	int rc = 0;

	if (argc < 1)
		return usage(stderr);
	if (open_dp())
		return 1;
	for (int i = 0; i < argc; i++) {
		int ret = attach ? xlb_dp_attach(dp, argv[i], err, sizeof(err)) :
				   xlb_dp_detach(dp, argv[i], err, sizeof(err));
		if (ret) {
			fprintf(stderr, "xlb-dp: %s\n", err);
			rc = 1;
		}
	}
	return rc;
}

static int cmd_attach(int argc, char **argv) { return do_attach(argc, argv, true); }
static int cmd_detach(int argc, char **argv) { return do_attach(argc, argv, false); }

static int cmd_node_addr(int argc, char **argv)
{
	struct xlb_ip ip;
	int ret;

	if (argc != 2 || (strcmp(argv[0], "add") && strcmp(argv[0], "del")))
		return usage(stderr);
	if (xlb_ip_parse(argv[1], &ip)) {
		fprintf(stderr, "xlb-dp: node-addr: bad address '%s'\n", argv[1]);
		return EXIT_USAGE;
	}
	if (open_dp())
		return 1;
	ret = !strcmp(argv[0], "add") ? xlb_dp_node_addr_add(dp, &ip) : xlb_dp_node_addr_del(dp, &ip);
	if (ret) {
		fprintf(stderr, "xlb-dp: node-addr %s %s: %s\n", argv[0], argv[1], strerror(-ret));
		return 1;
	}
	return 0;
}

/* IP:PORT[,weight=W][,terminating] */
static int parse_backend(const char *s, struct xlb_backend_spec *b)
{
	char buf[128], *opt, *colon, *end;
	unsigned long v;

	memset(b, 0, sizeof(*b));
	b->weight = 1;
	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	opt = strchr(buf, ',');
	if (opt)
		*opt++ = 0;
	colon = strrchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = 0;
	if (xlb_ip_parse(buf, &b->addr))
		return -EINVAL;
	errno = 0;
	v = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || v > UINT32_MAX)
		return -EINVAL;
	b->port = (uint32_t)v;
	while (opt && *opt) {
		char *next = strchr(opt, ',');

		if (next)
			*next++ = 0;
		if (!strncmp(opt, "weight=", 7)) {
			errno = 0;
			v = strtoul(opt + 7, &end, 10);
			if (errno || *end || end == opt + 7 || v > UINT32_MAX)
				return -EINVAL;
			b->weight = (uint32_t)v;
		} else if (!strcmp(opt, "terminating")) {
			b->terminating = true;
		} else {
			return -EINVAL;
		}
		opt = next;
	}
	return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v > UINT32_MAX || s[0] == '-')
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int parse_svc_args(int argc, char **argv, struct xlb_service_spec *s,
			  struct xlb_backend_spec *be, size_t *n, bool with_backends)
{
	static const struct option opts[] = {
		{ "vip", required_argument, NULL, 'v' },
		{ "port", required_argument, NULL, 'p' },
		{ "proto", required_argument, NULL, 'P' },
		{ "node-port", required_argument, NULL, 'n' },
		{ "algo", required_argument, NULL, 'a' },
		{ "affinity", required_argument, NULL, 'A' },
		{ "name", required_argument, NULL, 'N' },
		{ "backend", required_argument, NULL, 'b' },
		{ 0 }
	};
	bool have_vip = false, have_port = false;
	int c;

	memset(s, 0, sizeof(*s));
	s->proto = IPPROTO_TCP;
	*n = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			if (xlb_ip_parse(optarg, &s->vip)) {
				fprintf(stderr, "xlb-dp: --vip: bad address '%s'\n", optarg);
				return -EINVAL;
			}
			have_vip = true;
			break;
		case 'p':
			if (parse_u32(optarg, &s->port)) {
				fprintf(stderr, "xlb-dp: --port: not a number: '%s'\n", optarg);
				return -EINVAL;
			}
			have_port = true;
			break;
		case 'P':
			if (xlb_proto_parse(optarg, &s->proto)) {
				fprintf(stderr, "xlb-dp: --proto: expected tcp or udp, got '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case 'n':
			if (parse_u32(optarg, &s->node_port)) {
				fprintf(stderr, "xlb-dp: --node-port: not a number: '%s'\n", optarg);
				return -EINVAL;
			}
			s->type = XLB_SVC_NODE_PORT;
			break;
		case 'a':
			if (xlb_algo_parse(optarg, &s->algo)) {
				fprintf(stderr, "xlb-dp: --algo: expected rr, wrr or sh, got '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case 'A':
			if (parse_u32(optarg, &s->affinity_timeout)) {
				fprintf(stderr, "xlb-dp: --affinity: not a number: '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case 'N':
			snprintf(s->name, sizeof(s->name), "%s", optarg);
			break;
		case 'b':
			if (!with_backends)
				return -EINVAL;
			if (*n >= XLB_MAX_BACKENDS_PER_SVC + 1) {
				fprintf(stderr, "xlb-dp: too many --backend\n");
				return -E2BIG;
			}
			if (parse_backend(optarg, &be[*n])) {
				fprintf(stderr, "xlb-dp: --backend: expected IP:PORT[,weight=W][,terminating], got '%s'\n", optarg);
				return -EINVAL;
			}
			(*n)++;
			break;
		default:
			return -EINVAL;
		}
	}
	if (optind != argc || !have_vip || !have_port) {
		fprintf(stderr, "xlb-dp: service needs --vip and --port\n");
		return -EINVAL;
	}
	return 0;
}

static int svc_print(const struct xlb_dp_service *s, void *arg)
{
	char ip[XLB_IP_STRLEN];
	struct xlb_counters c = {};

	xlb_dp_service_stats(dp, &s->spec, &c);
	printf("service %u %s:%u/%s", s->id, xlb_ip_str(&s->spec.vip, ip, sizeof(ip)),
	       s->spec.port, xlb_proto_name(s->spec.proto));
	if (s->spec.type == XLB_SVC_NODE_PORT)
		printf(" nodeport %u", s->spec.node_port);
	printf(" algo %s", xlb_algo_name(s->spec.algo));
	if (s->spec.affinity_timeout)
		printf(" affinity %us", s->spec.affinity_timeout);
	printf(" packets %llu bytes %llu flows %llu\n", (unsigned long long)c.packets,
	       (unsigned long long)c.bytes, (unsigned long long)c.new_flows);
	for (size_t i = 0; i < s->n_backends; i++) {
		const struct xlb_backend_spec *b = &s->backends[i];

		memset(&c, 0, sizeof(c));
		xlb_dp_backend_stats(dp, s->backend_ids[i], &c);
		printf("  backend %u %s:%u weight %u%s packets %llu bytes %llu flows %llu\n",
		       s->backend_ids[i], xlb_ip_str(&b->addr, ip, sizeof(ip)), b->port, b->weight,
		       b->terminating ? " terminating" : "", (unsigned long long)c.packets,
		       (unsigned long long)c.bytes, (unsigned long long)c.new_flows);
	}
	return 0;
}

static int cmd_service(int argc, char **argv)
{
	static struct xlb_backend_spec be[XLB_MAX_BACKENDS_PER_SVC + 1];
	struct xlb_service_spec s;
	char err[256] = "";
	size_t n = 0;
	int ret;

	if (argc < 1)
		return usage(stderr);
	if (!strcmp(argv[0], "list")) {
		if (argc != 1)
			return usage(stderr);
		if (open_dp())
			return 1;
		return xlb_dp_service_list(dp, svc_print, NULL) ? 1 : 0;
	}
	if (!strcmp(argv[0], "set")) {
		if (parse_svc_args(argc, argv, &s, be, &n, true))
			return EXIT_USAGE;
		if (open_dp())
			return 1;
		ret = xlb_dp_service_set(dp, &s, be, n, err, sizeof(err));
	} else if (!strcmp(argv[0], "del")) {
		if (parse_svc_args(argc, argv, &s, be, &n, false))
			return EXIT_USAGE;
		if (open_dp())
			return 1;
		ret = xlb_dp_service_delete(dp, &s, err, sizeof(err));
	} else {
		return usage(stderr);
	}
	if (ret) {
		fprintf(stderr, "xlb-dp: service %s: %s\n", argv[0], err[0] ? err : strerror(-ret));
		return 1;
	}
	return 0;
}

static int cmd_stats(int argc, char **argv)
{
	uint64_t st[XLB_STAT_MAX];

	if (argc)
		return usage(stderr);
	if (open_dp() || xlb_dp_global_stats(dp, st))
		return 1;
	for (int i = 0; i < XLB_STAT_MAX; i++)
		printf("%-20s %llu\n", xlb_stat_name(i), (unsigned long long)st[i]);
	return xlb_dp_service_list(dp, svc_print, NULL) ? 1 : 0;
}

static int ct_print(const struct xlb_ct_entry *e, void *arg)
{
	static const char *st[] = { "new", "established", "closing", "closed" };
	char sb[XLB_IP_STRLEN], db[XLB_IP_STRLEN];

	printf("%s %s %s:%u -> %s:%u %s svc %u backend %u age %us idle %us\n",
	       xlb_proto_name(e->proto), e->dir == XLB_CT_FWD ? "fwd" : "rev",
	       xlb_ip_str(&e->src, sb, sizeof(sb)), e->sport, xlb_ip_str(&e->dst, db, sizeof(db)),
	       e->dport, e->state < 4 ? st[e->state] : "?", e->svc_id, e->backend_id, e->age,
	       e->idle);
	return 0;
}

static int cmd_ct(int argc, char **argv)
{
	if (argc != 1)
		return usage(stderr);
	if (!strcmp(argv[0], "list")) {
		if (open_dp())
			return 1;
		return xlb_dp_ct_list(dp, ct_print, NULL) ? 1 : 0;
	}
	if (!strcmp(argv[0], "gc")) {
		uint32_t n = 0;

		if (open_dp() || xlb_dp_expire(dp, NULL, &n))
			return 1;
		printf("removed %u expired entries\n", n);
		return 0;
	}
	if (!strcmp(argv[0], "flush")) {
		if (open_dp())
			return 1;
		return xlb_dp_ct_flush(dp, NULL) ? 1 : 0;
	}
	return usage(stderr);
}

static int cmd_unpin(int argc, char **argv)
{
	int ret;

	if (argc)
		return usage(stderr);
	ret = xlb_dp_bpf_unpin(pin_dir);
	if (ret) {
		fprintf(stderr, "xlb-dp: unpin %s: %s\n", pin_dir, strerror(-ret));
		return 1;
	}
	return 0;
}

static int cmd_help(int argc, char **argv)
{
	return usage(stdout) == EXIT_USAGE ? 0 : 0;
}

static const struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *args;
} cmds[] = {
	{ "attach", cmd_attach, "IFNAME...            attach the XDP program" },
	{ "detach", cmd_detach, "IFNAME...            detach it" },
	{ "node-addr", cmd_node_addr, "add|del IP        NodePort answers on this address" },
	{ "service", cmd_service, "set|del|list ...    see below" },
	{ "stats", cmd_stats, "                      global, service and backend counters" },
	{ "ct", cmd_ct, "list|flush|gc            connection tracking" },
	{ "unpin", cmd_unpin, "                      detach everything, remove all pins" },
	{ "help", cmd_help, "                       this text" },
};

static int usage(FILE *f)
{
	fprintf(f, "usage: xlb-dp [--pin-dir DIR] [--generic] [-v] COMMAND ...\n\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].args);
	fprintf(f, "\n  service set --vip IP --port N [--proto tcp|udp] [--node-port N]\n"
		   "              [--algo rr|wrr|sh] [--affinity SECONDS] [--name NAME]\n"
		   "              --backend IP:PORT[,weight=W][,terminating] ...\n"
		   "  service del --vip IP --port N [--proto tcp|udp]\n"
		   "\n  --pin-dir DIR  bpffs directory of the pinned state (default %s)\n"
		   "  --generic      attach in generic (skb) XDP mode\n", XLB_PIN_DIR_DEFAULT);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pin-dir", required_argument, NULL, 'd' },
		{ "generic", no_argument, NULL, 'g' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c, rc;

	while ((c = getopt_long(argc, argv, "+d:gvh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			pin_dir = optarg;
			break;
		case 'g':
			xdp_generic = true;
			break;
		case 'v':
			xlb_log_set_level(XLB_LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return usage(stderr);
		}
	}
	if (optind >= argc)
		return usage(stderr);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[optind], cmds[i].name))
			continue;
		rc = cmds[i].fn(argc - optind - 1, argv + optind + 1);
		xlb_dp_close(dp);
		return rc;
	}
	fprintf(stderr, "xlb-dp: unknown command '%s'\n", argv[optind]);
	return usage(stderr);
}
