// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* xlbctl explain: the datapath's decision for one packet, from its maps. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "dataplane/bpf/explain.h"

static int parse_ep(const char *s, struct xlb_ip *ip, uint16_t *port)
{
	char buf[64], *colon, *end;
	unsigned long v;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	colon = strrchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = 0;
	if (xlb_ip_parse(buf, ip) || ip->family != XLB_AF_INET)
		return -EINVAL;
	errno = 0;
	v = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || !v || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int do_explain(struct ctl *c)
{
	static const char *const state[] = { "free", "active", "terminating" };
	struct xlb_explain x;
	struct xlb_ip src, dst;
	uint16_t sport, dport;
	uint8_t proto = IPPROTO_TCP;
	char err[512] = "", b[XLB_IP_STRLEN];
	int ret;

	if (parse_ep(c->src, &src, &sport))
		return ctl_usage_err(c, "--src: expected IPv4:PORT, got '%s'", c->src ? c->src : "");
	if (parse_ep(c->dst, &dst, &dport))
		return ctl_usage_err(c, "--dst: expected IPv4:PORT, got '%s'", c->dst ? c->dst : "");
	if (c->proto && xlb_proto_parse(c->proto, &proto))
		return ctl_usage_err(c, "--proto: expected tcp or udp, got '%s'", c->proto);
	ret = xlb_explain(c->pin_dir ? c->pin_dir : XLB_PIN_DIR_DEFAULT, &src, sport, &dst, dport,
			  proto, &x, err, sizeof(err));
	if (ret) {
		ctl_err(c, "%s", err[0] ? err : strerror(-ret));
		return CTL_FAIL;
	}
	if (c->output == CTL_OUT_JSON || c->output == CTL_OUT_YAML) {
		bool json = c->output == CTL_OUT_JSON;
		const char *fmt_s = json ? "  \"%s\": \"%s\"%s\n" : "%s: \"%s\"%s\n";
		const char *fmt_n = json ? "  \"%s\": %lld%s\n" : "%s: %lld%s\n";
		const char *sep = json ? "," : "";
		char be[XLB_IP_STRLEN + 8] = "";

		if (x.backend_id)
			snprintf(be, sizeof(be), "%s:%u", xlb_ip_str(&x.backend, b, sizeof(b)),
				 x.backend_port);
		if (json)
			printf("{\n");
		printf(fmt_s, "kind", xlb_explain_kind_name(x.kind), sep);
		printf(fmt_n, "service_id", x.service ? (long long)x.svc_id : -1LL, sep);
		printf(fmt_n, "backend_id", (long long)x.backend_id, sep);
		printf(fmt_s, "backend", be, sep);
		printf(fmt_n, "hash", (long long)x.hash, sep);
		printf(fmt_n, "slot", (long long)x.slot, sep);
		printf(fmt_s, "why", x.why, "");
		if (json)
			printf("}\n");
		return CTL_OK;
	}
	printf("%s\n", x.why);
	if (x.service)
		printf("service id %u%s, %u slots at %u%s\n", x.svc_id,
		       x.via_node_port ? " (NodePort)" : "", x.slots, x.sel_base,
		       x.aff_timeout ? ", ClientIP affinity" : "");
	if (x.backend_id)
		printf("backend %u: %s:%u (%s)\n", x.backend_id, xlb_ip_str(&x.backend, b, sizeof(b)),
		       x.backend_port, x.backend_state < 3 ? state[x.backend_state] : "?");
	for (int i = 0; x.kind == XLB_EXPLAIN_SEQUENCE && i < x.ncpus; i++)
		printf("  cpu %d: next slot %u -> backend %u\n", i, x.cpu_slot[i], x.cpu_backend[i]);
	return CTL_OK;
}
