// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

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

/* The whole line, formatted first, then one write(2): lines from several
 * threads never interleave (stdio would write a line in pieces). */
void xlb_vlog(enum xlb_log_level lvl, const char *who, const char *fmt, va_list ap)
{
	static const char *tags[] = { "error", "warn", "info", "debug" };
	char stack[1024], *buf = stack;
	size_t cap = sizeof(stack), len;
	int head, body;
	va_list aq;

	if (lvl > cur_level)
		return;
	head = snprintf(buf, cap, "xlb: %s: %s%s", tags[lvl], who ? who : "", who ? ": " : "");
	va_copy(aq, ap);
	body = vsnprintf(buf + head, cap - (size_t)head, fmt, aq);
	va_end(aq);
	if (body < 0)
		return;
	if ((size_t)(head + body) + 2 > cap) {
		char *big = malloc((size_t)(head + body) + 2);

		if (big) {
			memcpy(big, buf, (size_t)head);
			vsnprintf(big + head, (size_t)body + 1, fmt, ap);
			buf = big;
			cap = (size_t)(head + body) + 2;
		} else {
			body = (int)(cap - (size_t)head - 2);	/* what fits */
		}
	}
	len = (size_t)(head + body);
	while (len > (size_t)head && buf[len - 1] == '\n')	/* libbpf ends its own */
		len--;
	buf[len++] = '\n';
	for (size_t off = 0; off < len;) {
		ssize_t n = write(STDERR_FILENO, buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (buf != stack)
		free(buf);
}

void xlb_log(enum xlb_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	xlb_vlog(lvl, NULL, fmt, ap);
	va_end(ap);
}
