// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static enum xlb_log_level cur_level = XLB_LOG_INFO;

void xlb_log_set_level(enum xlb_log_level lvl)
{
	cur_level = lvl;
}

enum xlb_log_level xlb_log_get_level(void)
{
	return cur_level;
}

int xlb_log_level_parse(const char *s, enum xlb_log_level *out)
{
	static const char *names[] = { "error", "warn", "info", "debug" };

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcasecmp(s, names[i])) {
			*out = (enum xlb_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void xlb_log(enum xlb_log_level lvl, const char *fmt, ...)
{
	static const char *tags[] = { "error", "warn", "info", "debug" };
	va_list ap;

	if (lvl > cur_level)
		return;
	fprintf(stderr, "xlb: %s: ", tags[lvl]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
