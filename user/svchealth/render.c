// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The bodies kube-proxy writes (svchealth.h), byte for byte:
 * pkg/proxy/healthcheck/service_health.go (hcHandler.ServeHTTP) and
 * proxy_health.go (healthzHandler, livezHandler). */
#include <stdio.h>
#include <time.h>

#include "svchealth/svchealth.h"

static size_t put(char *buf, size_t len, int n)
{
	if (n < 0) {
		if (len)
			buf[0] = '\0';
		return 0;
	}
	return (size_t)n;
}

/* A Kubernetes name as a JSON string body: names are DNS labels, but a
 * quote or a control character must not break the document. */
static void json_str(char *out, size_t len, const char *s)
{
	size_t o = 0;

	for (; *s && o + 7 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, len - o, "\\%c", c);
		else if (c < 0x20)
			o += (size_t)snprintf(out + o, len - o, "\\u%04x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

size_t xlb_svchealth_svc_body(char *buf, size_t len, const char *ns, const char *name,
			      uint32_t local_endpoints, bool proxy_healthy)
{
	char n1[sizeof(((struct xlb_svchealth_port *)0)->ns) * 6];
	char n2[sizeof(((struct xlb_svchealth_port *)0)->name) * 6];

	json_str(n1, sizeof(n1), ns);
	json_str(n2, sizeof(n2), name);
	/* Go's dedent of a tab-indented literal, trimmed of newlines. */
	return put(buf, len, snprintf(buf, len,
				      "{\n"
				      "\t\"service\": {\n"
				      "\t\t\"namespace\": \"%s\",\n"
				      "\t\t\"name\": \"%s\"\n"
				      "\t},\n"
				      "\t\"localEndpoints\": %u,\n"
				      "\t\"serviceProxyHealthy\": %s\n"
				      "}",
				      n1, n2, local_endpoints, proxy_healthy ? "true" : "false"));
}

size_t xlb_go_time(char *buf, size_t len, int64_t unix_ns, int64_t mono_ns)
{
	time_t secs = (time_t)(unix_ns / 1000000000);
	long frac = (long)(unix_ns % 1000000000);
	char date[32], fr[16] = "", mono[40] = "";
	struct tm tm;

	if (frac < 0) {
		frac += 1000000000;
		secs--;
	}
	gmtime_r(&secs, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	if (frac) {
		int digits = 9;

		while (frac % 10 == 0) {
			frac /= 10;
			digits--;
		}
		snprintf(fr, sizeof(fr), ".%0*ld", digits, frac);
	}
	if (mono_ns >= 0)
		snprintf(mono, sizeof(mono), " m=+%lld.%09lld", (long long)(mono_ns / 1000000000),
			 (long long)(mono_ns % 1000000000));
	return put(buf, len, snprintf(buf, len, "%s%s +0000 UTC%s", date, fr, mono));
}

size_t xlb_svchealth_healthz_body(char *buf, size_t len, int64_t last_ns, int64_t now_ns,
				  int64_t mono_ns, const bool *eligible)
{
	char last[80], now[80];

	/* Both are time.Now() readings in Go, each with its monotonic part. */
	xlb_go_time(last, sizeof(last), last_ns,
		    mono_ns >= 0 && mono_ns >= now_ns - last_ns ? mono_ns - (now_ns - last_ns) : -1);
	xlb_go_time(now, sizeof(now), now_ns, mono_ns);
	if (!eligible)
		return put(buf, len, snprintf(buf, len, "{\"lastUpdated\": \"%s\",\"currentTime\": \"%s\"}",
					      last, now));
	return put(buf, len,
		   snprintf(buf, len,
			    "{\"lastUpdated\": \"%s\",\"currentTime\": \"%s\", \"nodeEligible\": %s}",
			    last, now, *eligible ? "true" : "false"));
}
