// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* xlbctl explain: the datapath's decision for one packet, as xlbd reads it
 * from the live datapath (the Explain call). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>
#include <sys/socket.h>

#include "ctl.h"
#include "model/model.h"
#include "model/explain.h"

/* The network namespace xlbctl runs in (SO_NETNS_COOKIE, 5.14+). */
static int own_netns_cookie(uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (fd < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, 71 /* SO_NETNS_COOKIE */, cookie, &len))
		ret = -errno;
	close(fd);
	return ret;
}

int do_explain(struct ctl *c)
{
	Xlb__V1__ExplainRequest req = XLB__V1__EXPLAIN_REQUEST__INIT;
	Xlb__V1__ExplainResponse *x;
	enum xlb_explain_hook hook = XLB_EXPLAIN_XDP;
	struct xlb_ip ip;
	uint16_t port;
	uint8_t proto;
	int ret;

	if (c->hook && xlb_explain_hook_parse(c->hook, &hook))
		return ctl_usage_err(c, "--hook: expected xdp, pod or socket, got '%s'", c->hook);
	if ((hook != XLB_EXPLAIN_SOCKET || c->src) &&
	    (xlb_ip_port_parse(c->src, &ip, &port) || ip.family != XLB_AF_INET))
		return ctl_usage_err(c, "--src: expected IPv4:PORT, got '%s'", c->src ? c->src : "");
	if (xlb_ip_port_parse(c->dst, &ip, &port) || ip.family != XLB_AF_INET)
		return ctl_usage_err(c, "--dst: expected IPv4:PORT, got '%s'", c->dst ? c->dst : "");
	if (c->proto && xlb_proto_parse(c->proto, &proto))
		return ctl_usage_err(c, "--proto: expected tcp or udp, got '%s'", c->proto);
	if (hook == XLB_EXPLAIN_SOCKET && (ret = own_netns_cookie(&req.netns_cookie))) {
		ctl_err(c, "explain: this network namespace's cookie: %s (needs Linux 5.14)",
			strerror(-ret));
		return CTL_FAIL;
	}
	req.hook = (char *)(c->hook ? c->hook : "xdp");
	req.source = (char *)(c->src ? c->src : "");
	req.destination = (char *)c->dst;
	req.protocol = (char *)(c->proto ? c->proto : "tcp");
	if (ctl_call(c, "Explain", &req.base, &xlb__v1__explain_response__descriptor,
		     (ProtobufCMessage **)&x))
		return CTL_FAIL;
	if (c->output == CTL_OUT_JSON || c->output == CTL_OUT_YAML) {
		bool json = c->output == CTL_OUT_JSON;
		const char *fmt_s = json ? "  \"%s\": \"%s\"%s\n" : "%s: \"%s\"%s\n";
		const char *fmt_n = json ? "  \"%s\": %lld%s\n" : "%s: %lld%s\n";
		const char *sep = json ? "," : "";

		if (json)
			printf("{\n");
		printf(fmt_s, "kind", x->kind, sep);
		printf(fmt_n, "service_id", x->service ? (long long)x->service_id : -1LL, sep);
		printf(fmt_n, "backend_id", (long long)x->backend_id, sep);
		printf(fmt_s, "backend", x->backend, sep);
		printf(fmt_n, "hash", (long long)x->hash, sep);
		printf(fmt_n, "slot", (long long)x->slot, sep);
		printf(fmt_s, "hook", req.hook, sep);
		printf(fmt_s, "note", x->note, sep);
		printf(fmt_s, "why", x->why, "");
		if (json)
			printf("}\n");
	} else {
		printf("%s\n", x->why);
		if (x->note[0])
			printf("note: %s\n", x->note);
		if (x->service)
			printf("service id %u%s, %u slots at %u%s\n", x->service_id,
			       x->via_node_port ? " (NodePort)" : "", x->slots, x->sel_base,
			       x->affinity_timeout ? ", ClientIP affinity" : "");
		if (x->backend_id)
			printf("backend %u: %s (%s)\n", x->backend_id, x->backend, x->backend_state);
	}
	xlb__v1__explain_response__free_unpacked(x, NULL);
	return fflush(stdout) ? CTL_FAIL : CTL_OK;
}
