// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The node's side of the dataplane, through the core: interfaces and
 * NodePort addresses, each call under the core's lock. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "core_int.h"
#include "dataplane/dataplane.h"
#include "util/errmsg.h"

void core_iface_add(struct xlb_core *c, const char *ifname, int ifindex)
{
	snprintf(c->ifaces[c->n_ifaces], sizeof(c->ifaces[0]), "%s", ifname);
	c->ifindex[c->n_ifaces++] = ifindex;
}

int xlb_core_attach(struct xlb_core *c, const char *ifname, int ifindex, char *err, size_t errlen)
{
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_ifaces; i++)
		if (c->ifindex[i] == ifindex && !strcmp(c->ifaces[i], ifname))
			goto out;	/* already attached */
	if (c->n_ifaces >= XLB_MAX_IFACES) {
		xlb_errf(err, errlen, 0, "attach on %s: more than %d interfaces", ifname,
			 XLB_MAX_IFACES);
		ret = -E2BIG;
		goto out;
	}
	ret = xlb_dp_attach(c->dp, ifname, err, errlen);
	if (!ret) {
		core_iface_add(c, ifname, ifindex);
		pr_info("attached to %s (ifindex %d)", ifname, ifindex);
	}
out:
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int xlb_core_pod_attach(struct xlb_core *c, const char *ifname, char *err, size_t errlen)
{
	int ret;

	if (err && errlen)
		err[0] = 0;
	pthread_mutex_lock(&c->lock);
	ret = xlb_dp_pod_attach(c->dp, ifname, err, errlen);
	pthread_mutex_unlock(&c->lock);
	if (ret == -EOPNOTSUPP && err && !err[0])
		return 0;	/* a dataplane without pod veth programs (IPVS) */
	if (!ret)
		pr_debug("pod veth %s: attached", ifname);
	return ret;
}

int xlb_core_socket_lb(struct xlb_core *c, const char *cgroup, char *err, size_t errlen)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = cgroup ? xlb_dp_sock_attach(c->dp, cgroup, err, errlen) :
		       xlb_dp_sock_detach(c->dp, err, errlen);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

void xlb_core_link_gone(struct xlb_core *c, int ifindex)
{
	char err[256];

	pthread_mutex_lock(&c->lock);
	if (!xlb_dp_pod_detach(c->dp, NULL, ifindex, err, sizeof(err)))
		pr_debug("pod veth (ifindex %d) gone", ifindex);
	for (size_t i = 0; i < c->n_ifaces; i++) {
		if (c->ifindex[i] != ifindex)
			continue;
		/* The kernel detached the program with the device; drop the pin. */
		xlb_dp_detach(c->dp, c->ifaces[i], err, sizeof(err));
		pr_info("interface %s (ifindex %d) gone", c->ifaces[i], ifindex);
		c->n_ifaces--;
		c->ifindex[i] = c->ifindex[c->n_ifaces];
		memcpy(c->ifaces[i], c->ifaces[c->n_ifaces], sizeof(c->ifaces[0]));
		break;
	}
	pthread_mutex_unlock(&c->lock);
}

int xlb_core_node_addr(struct xlb_core *c, const struct xlb_ip *ip, bool add)
{
	char s[XLB_IP_STRLEN];
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = add ? xlb_dp_node_addr_add(c->dp, ip) : xlb_dp_node_addr_del(c->dp, ip);
	pthread_mutex_unlock(&c->lock);
	if (ret && ret != -ENOENT)
		pr_warn("node address %s %s: %s", add ? "add" : "del",
			xlb_ip_str(ip, s, sizeof(s)), strerror(-ret));
	else
		pr_debug("node address %s %s", add ? "add" : "del", xlb_ip_str(ip, s, sizeof(s)));
	return ret == -ENOENT ? 0 : ret;
}

void xlb_core_nexthops_stale(struct xlb_core *c)
{
	uint32_t n = 0;
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = xlb_dp_nexthop_flush(c->dp, &n);
	if (!ret)
		c->nexthop_flushes++;
	pthread_mutex_unlock(&c->lock);
	if (ret == -EOPNOTSUPP)
		return;		/* nothing cached (IPVS) */
	if (ret)
		pr_warn("flush next hops: %s", strerror(-ret));
	else
		pr_debug("next hops flushed (%u cached)", n);
}

size_t xlb_core_interfaces(struct xlb_core *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->n_ifaces;
	pthread_mutex_unlock(&c->lock);
	return n;
}
