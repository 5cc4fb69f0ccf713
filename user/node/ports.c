// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Ports the node's own sockets must not pick for themselves (node.h,
 * xlb_node_reserve_ports): the kernel chooses ephemeral ports from
 * net.ipv4.ip_local_port_range minus net.ipv4.ip_local_reserved_ports, so
 * a range xlb serves (node ports) or translates to (SNAT) is added to the
 * reserved ones, as Cilium's --enable-auto-protect-node-port-range does.
 * Both sysctls belong to the network namespace xlbd runs in.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "node/node.h"

#define PORT_RANGE "/proc/sys/net/ipv4/ip_local_port_range"
#define RESERVED "/proc/sys/net/ipv4/ip_local_reserved_ports"

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n < 0 ? -errno : 0;
}

int xlb_node_reserve_ports(const struct xlb_node_ports *p, size_t n)
{
	unsigned int lo = 0, hi = 0;
	struct xlb_portset res;
	char buf[4096];
	bool changed = false;
	int ret;

	ret = read_file(PORT_RANGE, buf, sizeof(buf));
	if (!ret && sscanf(buf, "%u %u", &lo, &hi) != 2)
		ret = -EINVAL;
	if (!ret)
		ret = read_file(RESERVED, buf, sizeof(buf));
	if (!ret)
		ret = xlb_portset_parse(buf, &res);
	if (ret) {
		pr_err("reserve ports: read %s and %s: %s", PORT_RANGE, RESERVED, strerror(-ret));
		return ret;
	}
	for (size_t i = 0; i < n; i++) {
		const struct xlb_port_range *r = &p[i].range;
		bool overlap = r->lo <= hi && r->hi >= lo;

		if (xlb_portset_covers(&res, r->lo, r->hi) || (!overlap && !p[i].always))
			continue;
		ret = xlb_portset_add(&res, r->lo, r->hi);
		if (ret) {
			pr_err("reserve ports: %s %u-%u: %s has too many ranges", p[i].what, r->lo,
			       r->hi, RESERVED);
			return ret;
		}
		pr_info("reserve ports: %s %u-%u%s: added to %s", p[i].what, r->lo, r->hi,
			overlap ? " (inside the ephemeral ports)" : "", RESERVED);
		changed = true;
	}
	if (!changed)
		return 0;
	xlb_portset_str(&res, buf, sizeof(buf));
	ret = write_file(RESERVED, buf);
	if (ret)
		pr_err("reserve ports: write %s = %s: %s", RESERVED, buf, strerror(-ret));
	return ret;
}
