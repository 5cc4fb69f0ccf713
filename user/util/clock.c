// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <time.h>

#include "util/clock.h"

static struct timespec now(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts;
}

int64_t xlb_clock_ns(void)
{
	struct timespec ts = now(CLOCK_MONOTONIC);

	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t xlb_clock_us(void)
{
	struct timespec ts = now(CLOCK_MONOTONIC);

	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t xlb_clock_ms(void)
{
	struct timespec ts = now(CLOCK_MONOTONIC);

	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double xlb_clock_s(void)
{
	struct timespec ts = now(CLOCK_MONOTONIC);

	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t xlb_unix_ms(void)
{
	struct timespec ts = now(CLOCK_REALTIME);

	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint32_t xlb_coarse_s(void)
{
	return (uint32_t)now(CLOCK_MONOTONIC_COARSE).tv_sec;
}
