// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xlbctl: drive and inspect xlbd over its gRPC API.
 *
 * Table-driven, as xdp-loader is: each command is one row of cmds[] with
 * its do_ function (user/ctl/), the options it takes and its help. This file
 * only parses the command line and dispatches. Exit status: 0 done, 1 the
 * operation failed (reason on stderr), 2 usage.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

/* What -o may choose; without -o every command prints a table. */
#define OUT_BIT(o) (1u << (o))
#define OUTS_ALL (OUT_BIT(CTL_OUT_WIDE) | OUT_BIT(CTL_OUT_JSON) | OUT_BIT(CTL_OUT_YAML))
#define OUTS_DATA (OUT_BIT(CTL_OUT_JSON) | OUT_BIT(CTL_OUT_YAML))

static const struct ctl_cmd cmds[] = {
	{
		.verb = "apply", .fn = do_apply, .opts = CTL_OPT_FILE | CTL_OPT_SNAPSHOT,
		.min_args = 0, .max_args = 0,
		.args = "-f FILE|- [--snapshot]",
		.summary = "create or update services from Kubernetes YAML",
		.help =
		"Reads Kubernetes manifests (Services and discovery.k8s.io/v1 EndpointSlices,\n"
		"as documents or `kind: List` items, e.g. `kubectl get svc,endpointslices -o\n"
		"yaml`) and sends every service they describe to xlbd in one Sync request:\n"
		"either all of them are applied or none is. Each Service port becomes one xlb\n"
		"service named NAMESPACE/NAME:PORT-NAME (or :PORT when the port has no name).\n"
		"Objects xlb does not serve are skipped with a warning on stderr. An invalid\n"
		"document is reported as FILE:LINE: REASON and nothing is sent.\n"
		"\n"
		"Prints `service/NAME configured` for each service.\n"
		"\n"
		"  -f, --filename FILE   the manifest; - reads stdin\n"
		"      --snapshot        replace everything: services not in FILE are removed\n"
		"                        (an empty FILE removes all services)\n",
	},
	{
		.verb = "delete", .fn = do_delete, .opts = CTL_OPT_FILE,
		.min_args = 0, .max_args = -1,
		.args = "-f FILE|- | NAME...",
		.summary = "delete the services a manifest (or a list of names) describes",
		.help =
		"Deletes, in one Sync request, every service FILE describes (parsed as `apply`\n"
		"does), or the services NAME... (full names, NAMESPACE/NAME:PORT). If any of\n"
		"them does not exist, xlbd refuses the whole request (NOT_FOUND) and nothing\n"
		"is deleted.\n"
		"\n"
		"Prints `service/NAME deleted` for each service.\n"
		"\n"
		"  -f, --filename FILE   the manifest; - reads stdin\n",
	},
	{
		.verb = "get", .sub = "services", .alias = "svc", .fn = do_get_services,
		.opts = CTL_OPT_OUTPUT, .outputs = OUTS_ALL, .min_args = 0, .max_args = 1,
		.args = "[NAME] [-o wide|json|yaml]",
		.summary = "list services",
		.help =
		"Lists all services, or those NAME selects: a full name (default/web:http),\n"
		"or a name without ':' (default/web) for every port of that Service.\n"
		"\n"
		"Columns: NAME, TYPE (ClusterIP|NodePort|LoadBalancer), CLUSTER-IP, EXTERNAL-IP\n"
		"(LoadBalancer ingress IPs, then external IPs; <pending> for a LoadBalancer\n"
		"without any, else <none>), PORT(S) (port/protocol), ALGO (rr|wrr|sh),\n"
		"AFFINITY (None or ClientIP(TIMEOUT)), ENDPOINTS (those receiving new flows /\n"
		"all). -o wide adds NODE-PORT, POLICY (externalTrafficPolicy/\n"
		"internalTrafficPolicy: Cluster or Local), PACKETS, NEW-FLOWS and\n"
		"HEALTH (endpoints by health check verdict: healthy=N,unhealthy=N,unknown=N;\n"
		"`unchecked` without a health check; `,panic` when xlbd uses every endpoint\n"
		"because too few are healthy).\n"
		"\n"
		"  -o, --output FMT      wide, json or yaml. json and yaml print\n"
		"                        {services: [ServiceStatus...]} with every field of\n"
		"                        the API's messages (xlb.v1, field names as in the\n"
		"                        .proto, enums by name, 64-bit numbers as numbers)\n",
	},
	{
		.verb = "get", .sub = "endpoints", .alias = "ep", .fn = do_get_endpoints,
		.opts = CTL_OPT_OUTPUT, .outputs = OUTS_ALL, .min_args = 1, .max_args = 1,
		.args = "SERVICE [-o wide|json|yaml]",
		.summary = "list a service's endpoints with health and counters",
		.help =
		"One row per endpoint of SERVICE (a full name, or NAMESPACE/NAME when the\n"
		"Service has one port).\n"
		"\n"
		"Columns: ADDRESS, PORT, WEIGHT (0 drains), READY and TERMINATING (as the\n"
		"EndpointSlice says), HEALTH (healthy|unhealthy|unknown|unchecked), IN-DATAPATH\n"
		"(receives new flows), LAST-PROBE (the last health check's result), LATENCY\n"
		"(of that probe), SINCE (time since the health last changed), PACKETS and\n"
		"FLOWS (new flows) sent to it. -o wide adds SERVING, BYTES and NAME (the pod).\n"
		"\n"
		"  -o, --output FMT      wide, json or yaml. json and yaml print\n"
		"                        {service: NAME, endpoints: [EndpointStatus...]}\n",
	},
	{
		.verb = "status", .fn = do_status, .opts = CTL_OPT_OUTPUT, .outputs = OUTS_DATA,
		.min_args = 0, .max_args = 0,
		.args = "[-o json|yaml]",
		.summary = "the daemon: dataplane, interfaces, counts, version, counters",
		.help =
		"Shows which dataplane xlbd runs (xdp or ipvs) and why, the interfaces it is\n"
		"attached to, how many services and endpoints it holds, the version of its\n"
		"desired state, xlbd's own version, when it started, and the datapath's\n"
		"counters by reason (packets seen, passed, forwarded, dropped and why).\n"
		"\n"
		"  -o, --output FMT      json or yaml: the GetStatusResponse message\n",
	},
	{
		.verb = "stats", .fn = do_stats, .opts = CTL_OPT_OUTPUT, .outputs = OUTS_DATA,
		.min_args = 0, .max_args = 1,
		.args = "[SERVICE] [-o json|yaml]",
		.summary = "packets, bytes and new flows per service and backend; counters by reason",
		.help =
		"One row per service (BACKEND `*`, the service's total) and one per backend\n"
		"(ADDRESS:PORT), with PACKETS, BYTES and NEW-FLOWS; then the datapath's\n"
		"global counters by REASON. SERVICE selects as in `get services`.\n"
		"\n"
		"  -o, --output FMT      json or yaml: {services: [{name, packets, bytes,\n"
		"                        new_flows, backends: [...]}], counters: {REASON: N}}\n",
	},
	{
		.verb = "top", .fn = do_top, .opts = CTL_OPT_TOP, .min_args = 0, .max_args = 1,
		.args = "[SERVICE] [--interval S] [--iterations N]",
		.summary = "per-service traffic rates, refreshed",
		.help =
		"Asks xlbd for its services every interval and shows, per service, the rates\n"
		"between the last two answers: PKT/S and BYTES/S (both directions), FLOWS/S\n"
		"(new flows), then ENDPOINTS (receiving new flows / all) and HEALTH (as `get\n"
		"services -o wide` shows it). Busiest first. A rate is `-` for a service that\n"
		"was not in the previous answer, or whose counters went back (re-created).\n"
		"SERVICE selects as in `get services`.\n"
		"\n"
		"On a terminal the screen is redrawn each time; otherwise each table is\n"
		"printed after the previous one, separated by an empty line.\n"
		"\n"
		"      --interval S      seconds between answers: 2 (default), 0.5, or 500ms;\n"
		"                        at least 100ms\n"
		"      --iterations N    stop after N tables (default: until interrupted)\n",
	},
	{
		.verb = "explain", .fn = do_explain, .opts = CTL_OPT_FLOW | CTL_OPT_OUTPUT,
		.outputs = OUTS_DATA, .min_args = 0, .max_args = 0,
		.args = "[--hook xdp|pod|socket] [--src IP:PORT] --dst IP:PORT [--proto tcp|udp]\n"
			"               [-o json|yaml]",
		.summary = "which service and backend the datapath gives a packet, and why",
		.help =
		"Asks xlbd, which reads its live datapath and follows the hook's own rules\n"
		"for a packet from --src to --dst: an existing flow in its flow table (and\n"
		"whether its backend is still there), a reply, the service it matches\n"
		"(ClusterIP, or NodePort on a node address), ClientIP affinity, then the\n"
		"table: the slot of the client address's hash (sh, and with affinity) or of\n"
		"the 5-tuple's hash (rr and wrr). Changes nothing. The IPVS\n"
		"dataplane cannot explain flows.\n"
		"\n"
		"Hooks: xdp (default), a packet arriving on a NIC; pod, a packet leaving a\n"
		"pod through its veth (tc, the pod veths' own flow table); socket, a\n"
		"connect() or sendto() of the node or a pod, which keeps no flow and whose\n"
		"client is its network namespace: the one xlbctl runs in (run it there with\n"
		"`nsenter --net=...`); --src is not needed.\n"
		"\n"
		"      --hook H          xdp, pod or socket\n"
		"      --src IP:PORT     the client\n"
		"      --dst IP:PORT     the service address (or a node address and node port)\n"
		"      --proto P         tcp (default) or udp\n"
		"      --pin-dir DIR     ignored (xlbd knows its datapath); kept for scripts\n"
		"  -o, --output FMT      json or yaml\n",
	},
	{
		.verb = "conntrack", .sub = "list", .alias = "ls", .fn = do_conntrack_list,
		.opts = CTL_OPT_OUTPUT | CTL_OPT_LIMIT, .outputs = OUTS_DATA,
		.min_args = 0, .max_args = 0,
		.args = "[--limit N] [-o json|yaml]",
		.summary = "the connection tracking table",
		.help =
		"Lists the datapath's flow table. Each flow has two entries: DIR fwd (client\n"
		"to service) and rev (backend to client, for the reply's rewrite). SERVICE-ID\n"
		"and BACKEND-ID are the datapath's ids; AGE and IDLE are since the flow began\n"
		"and since its last packet. When the table holds more than the limit, a\n"
		"warning on stderr says so.\n"
		"\n"
		"      --limit N         at most N entries (default: the daemon's limit)\n"
		"  -o, --output FMT      json or yaml: the ListConntrackResponse message\n",
	},
	{
		.verb = "conntrack", .sub = "flush", .fn = do_conntrack_flush,
		.min_args = 0, .max_args = 0,
		.args = "",
		.summary = "remove every conntrack entry",
		.help =
		"Removes every flow from the datapath's table. An established connection is\n"
		"treated as new on its next packet (and may reach another backend). Prints\n"
		"how many entries were removed.\n",
	},
	{
		.verb = "backup", .fn = do_backup, .opts = CTL_OPT_FILE,
		.min_args = 0, .max_args = 0,
		.args = "[-f FILE] (or > FILE)",
		.summary = "save the desired state (all services) to a file",
		.help =
		"Writes xlbd's desired state (every service with its endpoints and health\n"
		"check, and the state's version) in xlb's state file format: the magic\n"
		"XLBSTAT1, the payload's length and CRC-32, then a packed xlb.v1.BackupResponse.\n"
		"This is binary: xlbctl refuses to write it to a terminal.\n"
		"\n"
		"  -f, --filename FILE   write FILE (atomically: temporary file, fsync, rename)\n"
		"                        instead of stdout\n",
	},
	{
		.verb = "restore", .fn = do_restore, .opts = CTL_OPT_FILE,
		.min_args = 0, .max_args = 0,
		.args = "[-f FILE] (or < FILE)",
		.summary = "replace all services with a backup",
		.help =
		"Reads a file written by `xlbctl backup`, checks its frame and CRC, and sends\n"
		"its services to xlbd, which replaces its whole desired state with them (or,\n"
		"if any is invalid, keeps the old state and says why).\n"
		"\n"
		"  -f, --filename FILE   read FILE instead of stdin\n",
	},
};

#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static const char global_opts_help[] =
	"Global options (also accepted after the command):\n"
	"  -s, --server TARGET       xlbd's API: unix:/PATH or HOST:PORT (default $XLB_SERVER,\n"
	"                            else " XLB_API_DEFAULT_TARGET ")\n"
	"      --timeout DURATION    deadline of each call: 500ms, 10s, 2m (default 10s)\n"
	"      --tls-ca FILE         PEM roots that verify the server (HOST:PORT targets;\n"
	"                            default: the system's roots). TCP always uses TLS\n"
	"      --tls-cert FILE       client certificate chain (PEM), with --tls-key\n"
	"      --tls-key FILE        client private key (PEM)\n"
	"      --tls-server-name NAME  name expected in the server's certificate\n"
	"                            (default: the target's host)\n"
	"  -h, --help                this help, or a command's (xlbctl COMMAND --help)\n";

static void usage_line(FILE *f)
{
	fprintf(f, "usage: xlbctl [GLOBAL OPTIONS] COMMAND [ARGS] [OPTIONS]\n");
}

static void help_all(FILE *f)
{
	usage_line(f);
	fprintf(f, "\nDrive and inspect xlbd, the node's Service load balancer, over its API.\n"
		   "\nCommands:\n");
	for (size_t i = 0; i < N_CMDS; i++) {
		const struct ctl_cmd *c = &cmds[i];

		fprintf(f, "  %s%s%s%s%s\n      %s\n", c->verb, c->sub ? " " : "",
			c->sub ? c->sub : "", c->args[0] ? " " : "", c->args, c->summary);
	}
	fprintf(f, "  help [COMMAND]\n      this text, or a command's\n");
	fprintf(f, "\n%s", global_opts_help);
	fprintf(f, "\nEnvironment: XLB_SERVER (the default --server); GRPC_VERBOSITY (gRPC's own\n"
		   "log lines, off unless set, e.g. GRPC_VERBOSITY=debug).\n");
	fprintf(f, "\nExit status: 0 done; 1 the operation failed (the daemon's, the parser's or\n"
		   "the system's reason on stderr, e.g. `xlbctl: apply: INVALID_ARGUMENT: ...`);\n"
		   "2 usage error.\n"
		   "\nRun `xlbctl COMMAND --help` for a command's arguments, options and output.\n");
}

static void help_cmd(const struct ctl_cmd *cmd, FILE *f)
{
	ctl_usage_line(cmd, f);
	fprintf(f, "\n%c%s.\n\n%s", toupper((unsigned char)cmd->summary[0]), cmd->summary + 1,
		cmd->help);
	if (cmd->outputs)
		fprintf(f, "\nWithout -o: a table with a header row; when there is nothing to list,\n"
			   "a note on stderr and nothing on stdout.\n");
	fprintf(f, "\n%s", global_opts_help);
}

/* `xlbctl get --help`: the commands sharing a verb. */
static void help_verb(const char *verb, FILE *f)
{
	fprintf(f, "usage: xlbctl %s WHAT ...\n\n", verb);
	for (size_t i = 0; i < N_CMDS; i++)
		if (!strcmp(cmds[i].verb, verb))
			fprintf(f, "  xlbctl %s %s%s%s\n      %s\n", verb, cmds[i].sub,
				cmds[i].args[0] ? " " : "", cmds[i].args, cmds[i].summary);
	fprintf(f, "\nRun `xlbctl %s WHAT --help` for details.\n", verb);
}

static bool verb_known(const char *verb)
{
	for (size_t i = 0; i < N_CMDS; i++)
		if (!strcmp(cmds[i].verb, verb))
			return true;
	return false;
}

static bool verb_has_subs(const char *verb)
{
	for (size_t i = 0; i < N_CMDS; i++)
		if (!strcmp(cmds[i].verb, verb) && cmds[i].sub)
			return true;
	return false;
}

static const struct ctl_cmd *find_cmd(const char *verb, const char *sub)
{
	for (size_t i = 0; i < N_CMDS; i++) {
		const struct ctl_cmd *c = &cmds[i];

		if (strcmp(c->verb, verb))
			continue;
		if (!c->sub)
			return c;
		if (!sub)
			continue;
		/* Singular forms too: `get service web`. */
		if (!strcmp(c->sub, sub) || (c->alias && !strcmp(c->alias, sub)) ||
		    (strlen(sub) + 1 == strlen(c->sub) && !strncmp(c->sub, sub, strlen(sub)) &&
		     c->sub[strlen(sub)] == 's'))
			return c;
	}
	return NULL;
}

static const char *subs_of(const char *verb, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = 0;
	for (size_t i = 0; i < N_CMDS && o < len; i++)
		if (!strcmp(cmds[i].verb, verb) && cmds[i].sub)
			o += snprintf(buf + o, len - o, "%s%s", o ? ", " : "", cmds[i].sub);
	return buf;
}

/* Option codes above the char range. */
enum {
	OPT_TIMEOUT = 256,
	OPT_TLS_CA,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_TLS_NAME,
	OPT_SNAPSHOT,
	OPT_LIMIT,
	OPT_SRC,
	OPT_DST,
	OPT_PROTO,
	OPT_PIN_DIR,
	OPT_HOOK,
	OPT_INTERVAL,
	OPT_ITERATIONS,
};

static const struct option global_options[] = {
	{ "server", required_argument, NULL, 's' },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "tls-ca", required_argument, NULL, OPT_TLS_CA },
	{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
	{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
	{ "tls-server-name", required_argument, NULL, OPT_TLS_NAME },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};
#define N_GLOBAL (sizeof(global_options) / sizeof(global_options[0]) - 1)

static const struct {
	unsigned int bit;
	struct option opt;
} cmd_options[] = {
	{ CTL_OPT_FILE, { "filename", required_argument, NULL, 'f' } },
	{ CTL_OPT_FILE, { "file", required_argument, NULL, 'f' } },
	{ CTL_OPT_OUTPUT, { "output", required_argument, NULL, 'o' } },
	{ CTL_OPT_SNAPSHOT, { "snapshot", no_argument, NULL, OPT_SNAPSHOT } },
	{ CTL_OPT_LIMIT, { "limit", required_argument, NULL, OPT_LIMIT } },
	{ CTL_OPT_FLOW, { "src", required_argument, NULL, OPT_SRC } },
	{ CTL_OPT_FLOW, { "dst", required_argument, NULL, OPT_DST } },
	{ CTL_OPT_FLOW, { "proto", required_argument, NULL, OPT_PROTO } },
	{ CTL_OPT_FLOW, { "pin-dir", required_argument, NULL, OPT_PIN_DIR } },
	{ CTL_OPT_FLOW, { "hook", required_argument, NULL, OPT_HOOK } },
	{ CTL_OPT_TOP, { "interval", required_argument, NULL, OPT_INTERVAL } },
	{ CTL_OPT_TOP, { "iterations", required_argument, NULL, OPT_ITERATIONS } },
};
#define N_CMD_OPTS (sizeof(cmd_options) / sizeof(cmd_options[0]))

static const char *const output_names[] = {
	[CTL_OUT_TABLE] = "table",
	[CTL_OUT_WIDE] = "wide",
	[CTL_OUT_JSON] = "json",
	[CTL_OUT_YAML] = "yaml",
};

/* The option getopt just refused, as the user wrote it. */
static const char *bad_option(char **argv, char *buf, size_t len)
{
	const char *a = argv[optind - 1];

	if (!strncmp(a, "--", 2))
		snprintf(buf, len, "%.*s", (int)strcspn(a, "="), a);
	else if (optopt > 0 && optopt < 128)
		snprintf(buf, len, "-%c", optopt);
	else
		snprintf(buf, len, "%s", a);
	return buf;
}

/* A global option; 0, or CTL_USAGE with the reason printed. */
static int global_opt(struct ctl *c, int opt, const char *arg)
{
	switch (opt) {
	case 's':
		if (!arg[0])
			return ctl_usage_err(c, "--server: empty target");
		c->server = arg;
		return 0;
	case OPT_TIMEOUT:
		if (ctl_parse_duration_ms(arg, &c->timeout_ms))
			return ctl_usage_err(c, "--timeout: bad duration '%s' (e.g. 500ms, 10s, 2m)",
					     arg);
		return 0;
	case OPT_TLS_CA:
		c->tls.ca_file = arg;
		break;
	case OPT_TLS_CERT:
		c->tls.cert_file = arg;
		break;
	case OPT_TLS_KEY:
		c->tls.key_file = arg;
		break;
	case OPT_TLS_NAME:
		c->tls.server_name = arg;
		break;
	}
	c->tls_given = true;
	return 0;
}

static int check_globals(struct ctl *c)
{
	if (!c->tls.cert_file != !c->tls.key_file)
		return ctl_usage_err(c, "--tls-cert and --tls-key go together");
	if (c->tls_given && !strncmp(c->server, "unix:", 5))
		return ctl_usage_err(c, "--tls-* options are for HOST:PORT targets, not %s",
				     c->server);
	return 0;
}

static int parse_output(struct ctl *c, const char *arg)
{
	char ok[64];
	size_t o = 0;

	for (size_t i = 0; i < sizeof(output_names) / sizeof(output_names[0]); i++) {
		if (!(c->cmd->outputs & OUT_BIT(i)))
			continue;
		if (!strcmp(arg, output_names[i])) {
			c->output = (enum ctl_output)i;
			return 0;
		}
		o += snprintf(ok + o, sizeof(ok) - o, "%s%s", o ? ", " : "", output_names[i]);
	}
	return ctl_usage_err(c, "-o: unknown format '%s' (%s)", arg, ok);
}

/* --interval: a duration (500ms, 2s) or plain seconds with a fraction
 * (0.5); from 100 ms to an hour. */
static int parse_interval(const char *arg, int *ms)
{
	char *end;
	double v;

	if (!ctl_parse_duration_ms(arg, ms))
		return *ms >= 100 && *ms <= 3600 * 1000 ? 0 : -EINVAL;
	errno = 0;
	v = strtod(arg, &end);
	if (arg[0] < '0' || arg[0] > '9' || *end || errno || !(v >= 0.1 && v <= 3600))
		return -EINVAL;
	*ms = (int)(v * 1000 + 0.5);
	return 0;
}

/* A count from 1 to UINT32_MAX, digits only. */
static int parse_count(const char *arg, uint32_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (arg[0] < '0' || arg[0] > '9' || *end || errno || !v || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* getopt's tables for cmd: the global options and those cmd takes. */
static void cmd_getopt(const struct ctl_cmd *cmd, struct option *longopts, char *shortopts)
{
	size_t n = 0;

	for (size_t i = 0; i < N_GLOBAL; i++)
		longopts[n++] = global_options[i];
	for (size_t i = 0; i < N_CMD_OPTS; i++)
		if (cmd->opts & cmd_options[i].bit)
			longopts[n++] = cmd_options[i].opt;
	memset(&longopts[n], 0, sizeof(longopts[n]));
	strcpy(shortopts, ":hs:");
	if (cmd->opts & CTL_OPT_FILE)
		strcat(shortopts, "f:");
	if (cmd->opts & CTL_OPT_OUTPUT)
		strcat(shortopts, "o:");
}

/* argv[0] is the last word of the command's name; options and positional
 * arguments follow, in any order ("--" ends the options). */
static int parse_cmd(struct ctl *c, int argc, char **argv)
{
	const struct ctl_cmd *cmd = c->cmd;
	struct option longopts[N_GLOBAL + N_CMD_OPTS + 1];
	char shortopts[32], bad[64];
	int opt;

	cmd_getopt(cmd, longopts, shortopts);
	optind = 0;	/* GNU: start over, argv is a new vector */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			help_cmd(cmd, stdout);
			return -1;
		case 'f':
			if (c->file)
				return ctl_usage_err(c, "-f given twice");
			if (!optarg[0])
				return ctl_usage_err(c, "-f: empty file name");
			c->file = optarg;
			break;
		case 'o':
			if (parse_output(c, optarg))
				return CTL_USAGE;
			break;
		case OPT_SNAPSHOT:
			c->snapshot = true;
			break;
		case OPT_LIMIT:
			if (parse_count(optarg, &c->limit))
				return ctl_usage_err(c, "--limit: expected a number from 1 to %u, got '%s'",
						     UINT32_MAX, optarg);
			break;
		case OPT_SRC:
			c->src = optarg;
			break;
		case OPT_DST:
			c->dst = optarg;
			break;
		case OPT_PROTO:
			c->proto = optarg;
			break;
		case OPT_PIN_DIR:
			c->pin_dir = optarg;
			break;
		case OPT_HOOK:
			c->hook = optarg;
			break;
		case OPT_INTERVAL:
			if (parse_interval(optarg, &c->interval_ms))
				return ctl_usage_err(c, "--interval: expected seconds (2, 0.5) or a "
						     "duration (500ms), 100ms to 1h, got '%s'", optarg);
			break;
		case OPT_ITERATIONS:
			if (parse_count(optarg, &c->iterations))
				return ctl_usage_err(c, "--iterations: expected a number from 1 to %u, "
						     "got '%s'", UINT32_MAX, optarg);
			break;
		case ':':
			return ctl_usage_err(c, "option %s needs a value",
					     bad_option(argv, bad, sizeof(bad)));
		case '?':
			return ctl_usage_err(c, "unknown option %s",
					     bad_option(argv, bad, sizeof(bad)));
		default:
			if (global_opt(c, opt, optarg))
				return CTL_USAGE;
		}
	}
	c->argc = argc - optind;
	c->argv = argv + optind;
	if (c->argc < cmd->min_args)
		return ctl_usage_err(c, "missing argument");
	if (cmd->max_args >= 0 && c->argc > cmd->max_args)
		return ctl_usage_err(c, "unexpected argument '%s'", c->argv[cmd->max_args]);
	for (int i = 0; i < c->argc; i++)
		if (!c->argv[i][0])
			return ctl_usage_err(c, "empty argument");
	return check_globals(c);
}

static int do_help(int argc, char **argv)
{
	const struct ctl_cmd *cmd;

	if (!argc) {
		help_all(stdout);
		return CTL_OK;
	}
	if (verb_has_subs(argv[0]) && argc == 1) {
		help_verb(argv[0], stdout);
		return CTL_OK;
	}
	cmd = find_cmd(argv[0], argc > 1 ? argv[1] : NULL);
	if (!cmd) {
		fprintf(stderr, "xlbctl: help: unknown command '%s%s%s'\n", argv[0],
			argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
		usage_line(stderr);
		return CTL_USAGE;
	}
	help_cmd(cmd, stdout);
	return CTL_OK;
}

int main(int argc, char **argv)
{
	struct ctl c = { 0 };
	const char *env = getenv("XLB_SERVER");
	char subs[64], bad[64];
	const char *verb, *sub;
	int opt, rc, first;

	/* A closed pipe is a write error to report, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	/* Failures reach the user as one line each from us; gRPC's own log
	 * lines would repeat them. GRPC_VERBOSITY=debug brings them back. */
	setenv("GRPC_VERBOSITY", "NONE", 0);
	c.server = env && env[0] ? env : XLB_API_DEFAULT_TARGET;
	c.timeout_ms = XLB_API_DEFAULT_TIMEOUT_MS;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:hs:", global_options, NULL)) != -1) {
		switch (opt) {
		case 'h':
			help_all(stdout);
			return CTL_OK;
		case ':':
			fprintf(stderr, "xlbctl: option %s needs a value\n",
				bad_option(argv, bad, sizeof(bad)));
			usage_line(stderr);
			return CTL_USAGE;
		case '?':
			fprintf(stderr, "xlbctl: unknown option %s\n",
				bad_option(argv, bad, sizeof(bad)));
			usage_line(stderr);
			return CTL_USAGE;
		default:
			if (global_opt(&c, opt, optarg)) {
				usage_line(stderr);
				return CTL_USAGE;
			}
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "xlbctl: no command\n");
		usage_line(stderr);
		fprintf(stderr, "Run 'xlbctl --help' for the commands.\n");
		return CTL_USAGE;
	}
	first = optind;
	verb = argv[first];
	if (!strcmp(verb, "help"))
		return do_help(argc - first - 1, argv + first + 1);
	if (!verb_known(verb)) {
		fprintf(stderr, "xlbctl: unknown command '%s'\n", verb);
		usage_line(stderr);
		fprintf(stderr, "Run 'xlbctl --help' for the commands.\n");
		return CTL_USAGE;
	}
	sub = NULL;
	if (verb_has_subs(verb)) {
		sub = first + 1 < argc ? argv[first + 1] : NULL;
		if (sub && (!strcmp(sub, "-h") || !strcmp(sub, "--help"))) {
			help_verb(verb, stdout);
			return CTL_OK;
		}
		if (!sub || sub[0] == '-') {
			fprintf(stderr, "xlbctl: %s: say which: %s\n", verb,
				subs_of(verb, subs, sizeof(subs)));
			fprintf(stderr, "usage: xlbctl %s WHAT ... (xlbctl %s --help)\n", verb, verb);
			return CTL_USAGE;
		}
	}
	c.cmd = find_cmd(verb, sub);
	if (!c.cmd) {
		fprintf(stderr, "xlbctl: %s: unknown '%s' (%s)\n", verb, sub,
			subs_of(verb, subs, sizeof(subs)));
		fprintf(stderr, "usage: xlbctl %s WHAT ... (xlbctl %s --help)\n", verb, verb);
		return CTL_USAGE;
	}
	snprintf(c.name, sizeof(c.name), "%s%s%s", c.cmd->verb, c.cmd->sub ? " " : "",
		 c.cmd->sub ? c.cmd->sub : "");
	rc = parse_cmd(&c, argc - first - (sub ? 1 : 0), argv + first + (sub ? 1 : 0));
	if (rc < 0)
		return CTL_OK;	/* --help */
	if (rc)
		return rc;
	rc = c.cmd->fn(&c);
	if (c.client)
		xlb_api_client_close(c.client);
	return rc;
}
