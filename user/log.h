/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* One logging facade for libxlb and its programs. */
#ifndef XLB_LOG_H
#define XLB_LOG_H

#include <stdarg.h>

enum xlb_log_level {
	XLB_LOG_ERROR = 0,
	XLB_LOG_WARN = 1,
	XLB_LOG_INFO = 2,
	XLB_LOG_DEBUG = 3,
};

void xlb_log_set_level(enum xlb_log_level lvl);
enum xlb_log_level xlb_log_get_level(void);
int xlb_log_level_parse(const char *s, enum xlb_log_level *out);
/* "xlb: LEVEL: message\n" on stderr, one write per line (safe across
 * threads). */
void xlb_log(enum xlb_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The same for a library's messages: "xlb: LEVEL: who: message" (who may
 * be NULL); trailing newlines of the message are dropped. */
void xlb_vlog(enum xlb_log_level lvl, const char *who, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#define pr_err(...)   xlb_log(XLB_LOG_ERROR, __VA_ARGS__)
#define pr_warn(...)  xlb_log(XLB_LOG_WARN, __VA_ARGS__)
#define pr_info(...)  xlb_log(XLB_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) xlb_log(XLB_LOG_DEBUG, __VA_ARGS__)

#endif /* XLB_LOG_H */
