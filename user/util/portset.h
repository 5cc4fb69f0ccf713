/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Sets of ports as Linux writes them in net.ipv4.ip_local_reserved_ports
 * ("30000-32767,61000-65535", or empty): parsed, merged, printed.
 */
#ifndef XLB_UTIL_PORTSET_H
#define XLB_UTIL_PORTSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XLB_PORTSET_MAX 64

struct xlb_port_range {
	uint16_t lo, hi;	/* inclusive */
};

struct xlb_portset {
	struct xlb_port_range r[XLB_PORTSET_MAX];	/* sorted, disjoint, not adjacent */
	size_t n;
};

/* "a-b,c,..." (spaces and a trailing newline allowed; "" is empty).
 * -EINVAL on anything else, -E2BIG beyond XLB_PORTSET_MAX ranges. */
int xlb_portset_parse(const char *s, struct xlb_portset *out);
/* Add [lo, hi]. -E2BIG when it does not fit (set unchanged). */
int xlb_portset_add(struct xlb_portset *s, uint16_t lo, uint16_t hi);
/* Every port of [lo, hi] in s? */
bool xlb_portset_covers(const struct xlb_portset *s, uint16_t lo, uint16_t hi);
/* "a-b,c" as the kernel takes it; "" when empty. Returns the length
 * (truncated: the length it would have). */
size_t xlb_portset_str(const struct xlb_portset *s, char *buf, size_t len);
/* "MIN-MAX" with 1 <= MIN <= MAX <= 65535. */
int xlb_port_range_parse(const char *s, struct xlb_port_range *out);

#endif /* XLB_UTIL_PORTSET_H */
