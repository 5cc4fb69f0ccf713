// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "health/spec.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Copy a fixed-size string field; false when it has no terminator. */
static bool copy_field(char *dst, const char *src, size_t size)
{
	size_t n = strnlen(src, size);

	if (n == size)
		return false;
	memcpy(dst, src, n);	/* dst is zeroed: the tail stays zero */
	return true;
}

/* Bytes that may go into a request line or a header value unquoted. */
static bool http_token_ok(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

int xlb_hc_key_make(const char *service, const struct xlb_ip *addr, uint32_t port,
		    struct xlb_hc_key *key)
{
	memset(key, 0, sizeof(*key));
	if (!service || !service[0] || !copy_field(key->service, service, sizeof(key->service)))
		return -EINVAL;
	switch (addr->family) {
	case XLB_AF_INET:
		memcpy(key->addr, addr->addr.a8, 4);
		break;
	case XLB_AF_INET6:
		memcpy(key->addr, addr->addr.a8, 16);
		break;
	default:
		return -EINVAL;
	}
	key->family = addr->family;
	key->port = port;
	return 0;
}

int xlb_hc_normalize(const struct xlb_health_target *in, struct xlb_hc_key *key,
		     struct xlb_health_spec *spec, char *err, size_t errlen)
{
	const struct xlb_health_spec *s = &in->spec;

	memset(spec, 0, sizeof(*spec));
	if (xlb_hc_key_make(in->service, &in->addr, in->port, key))
		return fail(err, errlen, "service name empty or too long, or address family %u",
			    in->addr.family);
	if (s->kind == XLB_HC_NONE)
		return 1;
	if (s->kind != XLB_HC_TCP && s->kind != XLB_HC_HTTP && s->kind != XLB_HC_EXEC)
		return fail(err, errlen, "health_check.kind: unknown (%d)", (int)s->kind);
	spec->kind = s->kind;

	if (s->port > 65535 || in->port > 65535)
		return fail(err, errlen, "port out of range: %u", s->port > 65535 ? s->port : in->port);
	spec->port = s->port;
	if (s->kind != XLB_HC_EXEC && !xlb_hc_port(key, spec))
		return fail(err, errlen, "no port to probe (endpoint port 0, health_check.port 0)");

	if (s->kind == XLB_HC_HTTP) {
		if (!copy_field(spec->http_path, s->http_path, sizeof(spec->http_path)) ||
		    !copy_field(spec->http_host, s->http_host, sizeof(spec->http_host)) ||
		    !copy_field(spec->expect_body, s->expect_body, sizeof(spec->expect_body)))
			return fail(err, errlen, "health_check: HTTP string not terminated");
		if (!spec->http_path[0])
			spec->http_path[0] = '/';
		if (spec->http_path[0] != '/' || !http_token_ok(spec->http_path))
			return fail(err, errlen,
				    "health_check.http_path must start with '/' and hold no space or control character");
		if (!http_token_ok(spec->http_host))
			return fail(err, errlen,
				    "health_check.http_host: space or control character");
	}
	if (s->kind == XLB_HC_EXEC) {
		if (s->argc < 1 || s->argc > XLB_HC_MAX_ARGS)
			return fail(err, errlen, "health_check.command: 1..%d arguments needed",
				    XLB_HC_MAX_ARGS);
		spec->argc = s->argc;
		for (uint32_t i = 0; i < s->argc; i++)
			if (!copy_field(spec->argv[i], s->argv[i], sizeof(spec->argv[i])))
				return fail(err, errlen, "health_check.command[%u] not terminated", i);
		if (!spec->argv[0][0])
			return fail(err, errlen, "health_check.command[0] is empty");
	}

	spec->period_ms = s->period_ms ? s->period_ms : XLB_HC_DEF_PERIOD_MS;
	spec->timeout_ms = s->timeout_ms ? s->timeout_ms : XLB_HC_DEF_TIMEOUT_MS;
	spec->success_threshold = s->success_threshold ? s->success_threshold : XLB_HC_DEF_SUCCESS;
	spec->failure_threshold = s->failure_threshold ? s->failure_threshold : XLB_HC_DEF_FAILURE;
	spec->initial_delay_ms = s->initial_delay_ms;
	return 0;
}
