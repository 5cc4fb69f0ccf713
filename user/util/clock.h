/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The clocks user space reads, one helper each. Monotonic for durations
 * and deadlines; the Unix clock only for times shown to people or sent in
 * events; the coarse monotonic seconds are the datapath's conntrack clock
 * (what the XDP program stamps entries with), for ages and idle times.
 */
#ifndef XLB_UTIL_CLOCK_H
#define XLB_UTIL_CLOCK_H

#include <stdint.h>

int64_t xlb_clock_ns(void);	/* CLOCK_MONOTONIC, nanoseconds */
int64_t xlb_clock_us(void);	/* CLOCK_MONOTONIC, microseconds */
int64_t xlb_clock_ms(void);	/* CLOCK_MONOTONIC, milliseconds */
double xlb_clock_s(void);	/* CLOCK_MONOTONIC, seconds */
int64_t xlb_unix_ms(void);	/* CLOCK_REALTIME, milliseconds since 1970 */
uint32_t xlb_coarse_s(void);	/* CLOCK_MONOTONIC_COARSE, whole seconds */

#endif /* XLB_UTIL_CLOCK_H */
