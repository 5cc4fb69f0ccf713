/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Error messages for functions that return a negative errno (or a status)
 * and explain it in a caller's buffer. */
#ifndef XLB_ERRMSG_H
#define XLB_ERRMSG_H

#include <stddef.h>

/* Format into err (when err is not NULL and errlen > 0), return rc. */
int xlb_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif /* XLB_ERRMSG_H */
