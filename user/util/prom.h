/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Writing the Prometheus text exposition format (version 0.0.4) into a
 * growing buffer:
 *
 *   # HELP xlb_service_packets_total Packets sent to the service's backends.
 *   # TYPE xlb_service_packets_total counter
 *   xlb_service_packets_total{service="shop/web:http"} 1027
 *
 * Label values are escaped as the format says (backslash, double quote and
 * line feed as \\, \" and \n); so is HELP text (backslash and line feed).
 * Metric and label names are the caller's constants and are not checked.
 * Every sample of a family must follow its HELP/TYPE lines: the caller
 * groups them.
 *
 * Out of memory is sticky: later calls do nothing and xlb_prom_finish
 * returns -ENOMEM.
 */
#ifndef XLB_UTIL_PROM_H
#define XLB_UTIL_PROM_H

#include <stddef.h>
#include <stdint.h>

struct xlb_prom {
	char *buf;
	size_t len, cap;
	int err;		/* 0 or -ENOMEM */
	unsigned int labels;	/* labels written in the open sample */
};

#define XLB_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

void xlb_prom_init(struct xlb_prom *p);
/* Gives the text (NUL-terminated, *len without the NUL) to the caller, who
 * frees it. 0 or -ENOMEM (nothing to free). */
int xlb_prom_finish(struct xlb_prom *p, char **text, size_t *len);
void xlb_prom_free(struct xlb_prom *p);

/* "# HELP name help\n# TYPE name type\n"; type: counter, gauge, histogram. */
void xlb_prom_family(struct xlb_prom *p, const char *name, const char *type, const char *help);
/* A sample: xlb_prom_sample opens it, xlb_prom_label adds labels, one of
 * the value functions closes it with the value and a line feed. */
void xlb_prom_sample(struct xlb_prom *p, const char *name);
void xlb_prom_label(struct xlb_prom *p, const char *key, const char *value);
void xlb_prom_u64(struct xlb_prom *p, uint64_t v);
/* Shortest form that reads back exactly; NaN, +Inf, -Inf as the format
 * spells them. */
void xlb_prom_f64(struct xlb_prom *p, double v);

/* Appends raw text, and s escaped as a label value. */
void xlb_prom_printf(struct xlb_prom *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void xlb_prom_escape(struct xlb_prom *p, const char *s);
/* v as xlb_prom_f64 writes it, into buf (at least 32 bytes). */
const char *xlb_prom_fmt_f64(double v, char *buf, size_t len);

#endif /* XLB_UTIL_PROM_H */
