// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The Prometheus text exposition format, written into a growing buffer. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/prom.h"

void xlb_prom_init(struct xlb_prom *p)
{
	memset(p, 0, sizeof(*p));
}

void xlb_prom_free(struct xlb_prom *p)
{
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

int xlb_prom_finish(struct xlb_prom *p, char **text, size_t *len)
{
	int err = p->err;

	if (!err && !p->buf) {
		p->buf = strdup("");
		if (!p->buf)
			err = -ENOMEM;
	}
	if (err) {
		xlb_prom_free(p);
		return err;
	}
	*text = p->buf;
	*len = p->len;
	memset(p, 0, sizeof(*p));
	return 0;
}

/* Room for n more bytes and the NUL. */
static int reserve(struct xlb_prom *p, size_t n)
{
	size_t cap = p->cap ? p->cap : 4096;
	char *b;

	if (p->err)
		return p->err;
	if (p->len + n + 1 <= p->cap)
		return 0;
	while (cap < p->len + n + 1) {
		if (cap > SIZE_MAX / 2)
			return p->err = -ENOMEM;
		cap *= 2;
	}
	b = realloc(p->buf, cap);
	if (!b)
		return p->err = -ENOMEM;
	p->buf = b;
	p->cap = cap;
	return 0;
}

static void put(struct xlb_prom *p, const char *s, size_t n)
{
	if (reserve(p, n))
		return;
	memcpy(p->buf + p->len, s, n);
	p->len += n;
	p->buf[p->len] = 0;
}

static void put_str(struct xlb_prom *p, const char *s)
{
	put(p, s, strlen(s));
}

void xlb_prom_printf(struct xlb_prom *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (reserve(p, 0))
		return;
	va_start(ap, fmt);
	n = vsnprintf(p->buf + p->len, p->cap - p->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		p->err = -ENOMEM;
		return;
	}
	if ((size_t)n >= p->cap - p->len) {
		if (reserve(p, (size_t)n))
			return;
		va_start(ap, fmt);
		vsnprintf(p->buf + p->len, p->cap - p->len, fmt, ap);
		va_end(ap);
	}
	p->len += (size_t)n;
}

/* Label values escape \, " and line feed; HELP text only \ and line feed. */
static void escape(struct xlb_prom *p, const char *s, int quote)
{
	const char *run = s;

	for (; *s; s++) {
		const char *rep = NULL;

		if (*s == '\\')
			rep = "\\\\";
		else if (*s == '\n')
			rep = "\\n";
		else if (*s == '"' && quote)
			rep = "\\\"";
		if (!rep)
			continue;
		put(p, run, (size_t)(s - run));
		put_str(p, rep);
		run = s + 1;
	}
	put(p, run, (size_t)(s - run));
}

void xlb_prom_escape(struct xlb_prom *p, const char *s)
{
	escape(p, s, 1);
}

void xlb_prom_family(struct xlb_prom *p, const char *name, const char *type, const char *help)
{
	xlb_prom_printf(p, "# HELP %s ", name);
	escape(p, help, 0);
	xlb_prom_printf(p, "\n# TYPE %s %s\n", name, type);
}

void xlb_prom_sample(struct xlb_prom *p, const char *name)
{
	put_str(p, name);
	p->labels = 0;
}

void xlb_prom_label(struct xlb_prom *p, const char *key, const char *value)
{
	xlb_prom_printf(p, "%s%s=\"", p->labels++ ? "," : "{", key);
	escape(p, value, 1);
	put(p, "\"", 1);
}

static void close_labels(struct xlb_prom *p)
{
	if (p->labels)
		put(p, "}", 1);
	p->labels = 0;
}

void xlb_prom_u64(struct xlb_prom *p, uint64_t v)
{
	close_labels(p);
	xlb_prom_printf(p, " %" PRIu64 "\n", v);
}

const char *xlb_prom_fmt_f64(double v, char *buf, size_t len)
{
	if (isnan(v))
		snprintf(buf, len, "NaN");
	else if (isinf(v))
		snprintf(buf, len, "%sInf", v > 0 ? "+" : "-");
	else {
		/* %.15g reads back exactly for most values and stays short
		 * (0.0001, not 0.00010000000000000000479); else 17 digits. */
		snprintf(buf, len, "%.15g", v);
		if (strtod(buf, NULL) != v)
			snprintf(buf, len, "%.17g", v);
	}
	return buf;
}

void xlb_prom_f64(struct xlb_prom *p, double v)
{
	char b[32];

	close_labels(p);
	xlb_prom_printf(p, " %s\n", xlb_prom_fmt_f64(v, b, sizeof(b)));
}
