// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Port sets (portset.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/portset.h"

static int port_num(const char **p, uint16_t *out)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)**p))
		return -EINVAL;
	errno = 0;
	v = strtoul(*p, &end, 10);
	if (errno || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	*p = end;
	return 0;
}

int xlb_port_range_parse(const char *s, struct xlb_port_range *out)
{
	struct xlb_port_range r;

	if (!s || port_num(&s, &r.lo) || *s++ != '-' || port_num(&s, &r.hi) || *s ||
	    !r.lo || r.lo > r.hi)
		return -EINVAL;
	*out = r;
	return 0;
}

static int range_cmp(const void *a, const void *b)
{
	const struct xlb_port_range *x = a, *y = b;

	return (int)x->lo - (int)y->lo;
}

int xlb_portset_add(struct xlb_portset *s, uint16_t lo, uint16_t hi)
{
	struct xlb_port_range all[XLB_PORTSET_MAX + 1];
	struct xlb_portset t = { .n = 0 };
	size_t n = s->n;

	if (lo > hi)
		return -EINVAL;
	memcpy(all, s->r, n * sizeof(all[0]));
	all[n++] = (struct xlb_port_range){ lo, hi };
	qsort(all, n, sizeof(all[0]), range_cmp);
	for (size_t i = 0; i < n; i++) {
		/* Merge with the last one when they touch or overlap. */
		if (t.n && (uint32_t)t.r[t.n - 1].hi + 1 >= all[i].lo) {
			if (all[i].hi > t.r[t.n - 1].hi)
				t.r[t.n - 1].hi = all[i].hi;
			continue;
		}
		if (t.n == XLB_PORTSET_MAX)
			return -E2BIG;
		t.r[t.n++] = all[i];
	}
	*s = t;
	return 0;
}

int xlb_portset_parse(const char *s, struct xlb_portset *out)
{
	struct xlb_portset t = { .n = 0 };

	while (*s) {
		uint16_t lo, hi;
		int ret;

		while (*s == ' ' || *s == '\t' || *s == '\n')
			s++;
		if (!*s)
			break;
		if (port_num(&s, &lo))
			return -EINVAL;
		hi = lo;
		if (*s == '-') {
			s++;
			if (port_num(&s, &hi) || hi < lo)
				return -EINVAL;
		}
		ret = xlb_portset_add(&t, lo, hi);
		if (ret)
			return ret;
		while (*s == ' ' || *s == '\t' || *s == '\n')
			s++;
		if (*s == ',')
			s++;
		else if (*s)
			return -EINVAL;
	}
	*out = t;
	return 0;
}

bool xlb_portset_covers(const struct xlb_portset *s, uint16_t lo, uint16_t hi)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->r[i].lo <= lo && s->r[i].hi >= hi)
			return true;
	return false;
}

size_t xlb_portset_str(const struct xlb_portset *s, char *buf, size_t len)
{
	size_t o = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < s->n; i++) {
		int k = s->r[i].lo == s->r[i].hi ?
				snprintf(buf + (o < len ? o : len), o < len ? len - o : 0, "%s%u",
					 i ? "," : "", s->r[i].lo) :
				snprintf(buf + (o < len ? o : len), o < len ? len - o : 0, "%s%u-%u",
					 i ? "," : "", s->r[i].lo, s->r[i].hi);

		if (k > 0)
			o += (size_t)k;
	}
	return o;
}
