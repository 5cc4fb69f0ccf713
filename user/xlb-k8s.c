// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xlb-k8s: watches the Kubernetes API (Services, EndpointSlices, this
 * node's Node) and keeps this node's xlbd in step over its gRPC Sync
 * stream. One per node, beside xlbd (deploy/). One thread: libcurl's multi
 * interface for the watches, then a blocking Sync of what changed.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "log.h"
#include "api/client.h"
#include "feeder/feeder.h"
#include "feeder/fmetrics.h"
#include "feeder/kubeconf.h"
#include "feeder/watch.h"
#include "util/clock.h"

#define XLB_K8S_VERSION "0.1"
#define SYNC_BACKOFF_MIN_MS 200
#define SYNC_BACKOFF_MAX_MS 10000
#define PING_MS 5000
#define ZONE_LABEL "topology.kubernetes.io/zone"
#define NODE_WAIT_MS 5000	/* the first snapshot waits this long for the Node */

static volatile sig_atomic_t stop;

struct node_info {
	char name[256];
	char zone[64];
	char addrs[512];
	struct xlb_feeder *feeder;	/* told of each change */
};

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: xlb-k8s [options]\n\n"
		"Watches Services and EndpointSlices and keeps xlbd in step.\n\n"
		"  --kubeconfig FILE         API server and credentials from a kubeconfig\n"
		"                            (default: in-cluster, from KUBERNETES_SERVICE_HOST/PORT\n"
		"                            and the service account)\n"
		"  --context NAME            kubeconfig context (default: current-context)\n"
		"  --serviceaccount-dir DIR  in-cluster token and ca.crt (default %s)\n"
		"  --node-name NAME          this node (default: $NODE_NAME, else the hostname)\n"
		"  --xlbd TARGET             xlbd's API (default %s)\n"
		"  --metrics ADDR:PORT       /metrics, /healthz, /readyz (default 127.0.0.1:10259;\n"
		"                            \"off\" for none)\n"
		"  --proxy-name NAME         serve Services labelled service.kubernetes.io/\n"
		"                            service-proxy-name=NAME (default xlb; others\n"
		"                            with the label are another proxy's)\n"
		"  --load-balancer-class C   program LoadBalancer ingress IPs only for\n"
		"                            spec.loadBalancerClass C (default: every class)\n"
		"  --log-level LEVEL         error, warn, info (default), debug\n"
		"  -h, --help\n", XLB_KUBE_SA_DIR, XLB_API_DEFAULT_TARGET);
}

static void node_begin(void *arg)
{
	(void)arg;
}

static void node_end(void *arg)
{
	(void)arg;
}

/* The Node's IP addresses (InternalIP, ExternalIP; not Hostname) and zone
 * into what xlbd is sent. */
static void node_for_xlbd(const struct node_info *n, const json_t *addrs,
			  struct xlb_node_info *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%.127s", n->name);
	snprintf(out->zone, sizeof(out->zone), "%s", n->zone);
	for (size_t i = 0; i < json_array_size(addrs) && out->n_addrs < XLB_NODE_MAX_ADDRS; i++) {
		const json_t *a = json_array_get(addrs, i);
		const char *t = json_string_value(json_object_get(a, "type"));
		const char *v = json_string_value(json_object_get(a, "address"));

		if (t && v && (!strcmp(t, "InternalIP") || !strcmp(t, "ExternalIP")) &&
		    !xlb_ip_parse(v, &out->addrs[out->n_addrs]))
			out->n_addrs++;
	}
}

/* The Node: its zone (for topology hints) and addresses, logged when they
 * change and sent to xlbd. */
static void on_node(void *arg, enum xlb_kube_ev ev, const void *obj)
{
	struct node_info *n = arg, now = { .feeder = n->feeder };
	struct xlb_node_info x;
	const json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
	const json_t *addrs = json_object_get(json_object_get(obj, "status"), "addresses");
	const char *zone = json_string_value(json_object_get(labels, ZONE_LABEL));
	size_t off = 0;

	snprintf(now.name, sizeof(now.name), "%s", n->name);
	if (ev == XLB_KUBE_DELETED) {
		pr_warn("Node %s: deleted", n->name);
		*n = now;
		return;
	}
	snprintf(now.zone, sizeof(now.zone), "%s", zone ? zone : "");
	for (size_t i = 0; i < json_array_size(addrs) && off < sizeof(now.addrs); i++) {
		const json_t *a = json_array_get(addrs, i);
		const char *t = json_string_value(json_object_get(a, "type"));
		const char *v = json_string_value(json_object_get(a, "address"));
		int k = snprintf(now.addrs + off, sizeof(now.addrs) - off, "%s%s=%s",
				 off ? " " : "", t ? t : "?", v ? v : "?");

		if (k > 0)
			off += (size_t)k;
	}
	if (strcmp(now.zone, n->zone) || strcmp(now.addrs, n->addrs))
		pr_info("Node %s: zone \"%s\", addresses %s", n->name, now.zone,
			now.addrs[0] ? now.addrs : "none");
	*n = now;
	node_for_xlbd(n, addrs, &x);
	xlb_feeder_set_node(n->feeder, &x);
}

static const struct xlb_kube_ops node_ops = {
	.list_begin = node_begin,
	.object = on_node,
	.list_end = node_end,
};

static void publish(struct xlb_fmetrics *m, struct xlb_feeder *f, struct xlb_kube_watch **w,
		    size_t n_w, const struct node_info *node)
{
	struct xlb_feeder_view v = { .n_watch = n_w, .turn_ms = (uint64_t)xlb_clock_ms() };

	if (!m)
		return;
	xlb_feeder_stats(f, &v.f);
	for (size_t i = 0; i < n_w; i++) {
		snprintf(v.watch_name[i], sizeof(v.watch_name[i]), "%s", xlb_kube_watch_name(w[i]));
		v.watch[i] = *xlb_kube_watch_stats(w[i]);
	}
	snprintf(v.node, sizeof(v.node), "%s", node->name);
	snprintf(v.zone, sizeof(v.zone), "%s", node->zone);
	xlb_fmetrics_publish(m, &v);
}

/* What the command line says. */
struct args {
	const char *kubeconfig, *context, *sa_dir;
	const char *target;		/* xlbd's API */
	const char *metrics;		/* NULL: off */
	struct xlb_k8s_opts kopts;
};

/* The options into *a and node->name. -1: go on; else the exit code (0
 * for --help, 2 for a bad option). */
static int parse_args(int argc, char **argv, struct args *a, struct node_info *node)
{
	static const struct option longopts[] = {
		{ "kubeconfig", required_argument, NULL, 'k' },
		{ "context", required_argument, NULL, 'c' },
		{ "serviceaccount-dir", required_argument, NULL, 's' },
		{ "node-name", required_argument, NULL, 'n' },
		{ "xlbd", required_argument, NULL, 'x' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "proxy-name", required_argument, NULL, 'p' },
		{ "load-balancer-class", required_argument, NULL, 'b' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	enum xlb_log_level lvl;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'k':
			a->kubeconfig = optarg;
			break;
		case 'c':
			a->context = optarg;
			break;
		case 's':
			a->sa_dir = optarg;
			break;
		case 'n':
			snprintf(node->name, sizeof(node->name), "%s", optarg);
			break;
		case 'x':
			a->target = optarg;
			break;
		case 'm':
			a->metrics = strcmp(optarg, "off") ? optarg : NULL;
			break;
		case 'p':
			a->kopts.proxy_name = optarg;
			break;
		case 'b':
			a->kopts.lb_class = optarg;
			break;
		case 'l':
			if (xlb_log_level_parse(optarg, &lvl)) {
				fprintf(stderr, "xlb-k8s: --log-level %s: want error, warn, info or "
					"debug\n", optarg);
				return 2;
			}
			xlb_log_set_level(lvl);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (!node->name[0] && getenv("NODE_NAME"))
		snprintf(node->name, sizeof(node->name), "%s", getenv("NODE_NAME"));
	if (!node->name[0] && gethostname(node->name, sizeof(node->name) - 1)) {
		fprintf(stderr, "xlb-k8s: no --node-name, no $NODE_NAME and no hostname\n");
		return 2;
	}
	return -1;
}

/* The main loop until a signal: the watches polled, the desired state sent
 * to xlbd once the Services, EndpointSlices and the Node have listed (a
 * change, or a ping every PING_MS), retried after a failure with a
 * jittered exponential backoff; what it sees published for /metrics. */
static void run(struct xlb_kube *kube, struct xlb_kube_watch **w, struct xlb_feeder *feeder,
		struct xlb_api_client *client, struct xlb_fmetrics *fm, const struct node_info *node)
{
	uint64_t sync_at = 0, synced_at = 0, started = (uint64_t)xlb_clock_ms();
	unsigned int sync_backoff = 0;

	while (!stop) {
		uint64_t now = (uint64_t)xlb_clock_ms();
		/* Before every watch has listed once, a snapshot would be half;
		 * without the Node for a while (not readable?), go on without. */
		bool ready = xlb_kube_watch_stats(w[0])->synced && xlb_kube_watch_stats(w[1])->synced &&
			     (xlb_kube_watch_stats(w[2])->synced || now - started >= NODE_WAIT_MS);
		int timeout = 1000;

		if (xlb_feeder_pending(feeder) && ready && sync_at > now)
			timeout = (int)(sync_at - now) < timeout ? (int)(sync_at - now) : timeout;
		if (xlb_kube_poll(kube, timeout))
			break;
		now = (uint64_t)xlb_clock_ms();
		if (ready && sync_at <= now &&
		    (xlb_feeder_pending(feeder) || now - synced_at >= PING_MS)) {
			synced_at = now;
			if (xlb_feeder_pending(feeder) ? xlb_feeder_sync(feeder, client, ready)
						       : xlb_feeder_ping(feeder, client)) {
				unsigned int b = sync_backoff ? 2 * sync_backoff : SYNC_BACKOFF_MIN_MS;

				sync_backoff = b > SYNC_BACKOFF_MAX_MS ? SYNC_BACKOFF_MAX_MS : b;
				sync_at = now + sync_backoff / 2 +
					  (unsigned int)random() % (sync_backoff / 2 + 1);
			} else {
				sync_backoff = 0;
			}
		}
		publish(fm, feeder, w, 3, node);
	}
}

int main(int argc, char **argv)
{
	struct args a = { .target = XLB_API_DEFAULT_TARGET, .metrics = "127.0.0.1:10259",
			  .kopts = { .proxy_name = "xlb" } };
	struct node_info node = { 0 };
	struct xlb_kube_conf conf;
	struct xlb_kube *kube = NULL;
	struct xlb_kube_watch *w[3];
	struct xlb_api_client *client = NULL;
	struct xlb_feeder *feeder = NULL;
	struct xlb_fmetrics *fm = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	char err[512], sel[300];
	int ret;

	ret = parse_args(argc, argv, &a, &node);
	if (ret >= 0)
		return ret;
	if (a.kubeconfig)
		ret = xlb_kube_conf_load(&conf, a.kubeconfig, a.context, err, sizeof(err));
	else
		ret = xlb_kube_conf_in_cluster(&conf, a.sa_dir, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "xlb-k8s: %s\n", err);
		return 1;
	}
	ret = 1;
	srandom((unsigned int)(time(NULL) ^ getpid()));
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (xlb_feeder_new(&a.kopts, &feeder) || xlb_kube_new(&conf, &kube, err, sizeof(err))) {
		fprintf(stderr, "xlb-k8s: %s\n", feeder ? err : "out of memory");
		goto out;
	}
	if (xlb_api_client_open(a.target, NULL, &client, err, sizeof(err))) {
		fprintf(stderr, "xlb-k8s: xlbd %s: %s\n", a.target, err);
		goto out;
	}
	if (a.metrics && xlb_fmetrics_start(a.metrics, &fm, err, sizeof(err))) {
		fprintf(stderr, "xlb-k8s: %s\n", err);
		goto out;
	}
	snprintf(sel, sizeof(sel), "metadata.name=%s", node.name);
	if (xlb_kube_watch(kube, "services", "/api/v1/services", NULL, &xlb_feeder_service_ops,
			   feeder, &w[0]) ||
	    xlb_kube_watch(kube, "endpointslices", "/apis/discovery.k8s.io/v1/endpointslices",
			   NULL, &xlb_feeder_slice_ops, feeder, &w[1]) ||
	    xlb_kube_watch(kube, "nodes", "/api/v1/nodes", sel, &node_ops, &node, &w[2])) {
		fprintf(stderr, "xlb-k8s: out of memory\n");
		goto out;
	}
	pr_info("xlb-k8s %s: node %s, API server %s, xlbd %s", XLB_K8S_VERSION, node.name,
		conf.server, a.target);
	node.feeder = feeder;
	run(kube, w, feeder, client, fm, &node);
	pr_info("xlb-k8s: stopping");
	ret = 0;
out:
	xlb_fmetrics_stop(fm);
	xlb_kube_free(kube);
	xlb_feeder_free(feeder);
	if (client)
		xlb_api_client_close(client);
	xlb_kube_conf_free(&conf);
	return ret;
}
