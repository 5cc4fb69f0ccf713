/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* One logging facade for libxlb and its programs. */
#ifndef XLB_LOG_H
#define XLB_LOG_H

enum xlb_log_level {
	XLB_LOG_ERROR = 0,
	XLB_LOG_WARN = 1,
	XLB_LOG_INFO = 2,
	XLB_LOG_DEBUG = 3,
};

void xlb_log_set_level(enum xlb_log_level lvl);
enum xlb_log_level xlb_log_get_level(void);
int xlb_log_level_parse(const char *s, enum xlb_log_level *out);
void xlb_log(enum xlb_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define pr_err(...)   xlb_log(XLB_LOG_ERROR, __VA_ARGS__)
#define pr_warn(...)  xlb_log(XLB_LOG_WARN, __VA_ARGS__)
#define pr_info(...)  xlb_log(XLB_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) xlb_log(XLB_LOG_DEBUG, __VA_ARGS__)

#endif /* XLB_LOG_H */
