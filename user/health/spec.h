/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Targets as the engine keys and compares them: pure, no I/O. A target is
 * normalized once, when it is handed in: defaults applied, fields its kind
 * does not use cleared, strings zero-padded, so two targets are the same
 * exactly when their bytes are.
 */
#ifndef XLB_HEALTH_SPEC_H
#define XLB_HEALTH_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "health/health.h"

/* Kubernetes probe defaults (core/v1 Probe). */
#define XLB_HC_DEF_PERIOD_MS	10000
#define XLB_HC_DEF_TIMEOUT_MS	1000
#define XLB_HC_DEF_SUCCESS	1
#define XLB_HC_DEF_FAILURE	3

/* A target's identity: (service, addr, port), hashed as bytes. */
struct xlb_hc_key {
	char service[128];
	uint8_t family;		/* XLB_AF_INET / XLB_AF_INET6 */
	uint8_t pad[3];
	uint8_t addr[16];	/* IPv4: 4 bytes then zeros */
	uint32_t port;
};
_Static_assert(sizeof(struct xlb_hc_key) == 152, "xlb_hc_key size");

/* 0, or -EINVAL (service not terminated or empty, unknown family). */
int xlb_hc_key_make(const char *service, const struct xlb_ip *addr, uint32_t port,
		    struct xlb_hc_key *key);

/*
 * Normalize in into key and spec. Returns 0; 1 when the target is not
 * probed (kind XLB_HC_NONE); or -EINVAL with err naming the field (an HTTP
 * path or host that could inject a header, no command, a port out of
 * range, a string without its terminator).
 */
int xlb_hc_normalize(const struct xlb_health_target *in, struct xlb_hc_key *key,
		     struct xlb_health_spec *spec, char *err, size_t errlen);

/* The port probed: spec->port, else the endpoint's. */
static inline uint32_t xlb_hc_port(const struct xlb_hc_key *key, const struct xlb_health_spec *spec)
{
	return spec->port ? spec->port : key->port;
}

#endif /* XLB_HEALTH_SPEC_H */
