// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The values of xlb.io/ annotations: plain strings, parsed strictly (a typo
 * is an error, not a default).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/k8s_priv.h"

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

int k8s_parse_uint(const char *s, uint32_t max, uint32_t *v)
{
	uint64_t x = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (!is_digit(*s))
			return -EINVAL;
		x = x * 10 + (uint64_t)(*s - '0');
		if (x > max)
			return -ERANGE;
	}
	*v = (uint32_t)x;
	return 0;
}

/*
 * "10s", "200ms", "1.5s", "1m30s" (Go's time.ParseDuration units from ms
 * to h), or a plain number of seconds ("5", "0.5"). Exact: a value finer
 * than a millisecond is refused rather than rounded.
 */
int k8s_parse_duration_ms(const char *s, uint32_t *ms, const char **why)
{
	const char *p = s;
	uint64_t total = 0;

	*why = "not a duration (e.g. 10s, 200ms, 1.5s, or seconds)";
	if (!*p)
		return -EINVAL;
	while (*p) {
		uint64_t ip = 0, fp = 0, scale = 1, unit, v;
		const char *term = p;
		int nd = 0, nf = 0;

		for (; is_digit(*p); p++, nd++) {
			if (nd == 12) {
				*why = "too large";
				return -ERANGE;
			}
			ip = ip * 10 + (uint64_t)(*p - '0');
		}
		if (*p == '.') {
			for (p++; is_digit(*p); p++, nf++) {
				if (nf == 9) {
					*why = "finer than a millisecond";
					return -EINVAL;
				}
				fp = fp * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
		}
		if (!nd && !nf)
			return -EINVAL;
		if (!strncmp(p, "ms", 2)) {
			unit = 1;
			p += 2;
		} else if (*p == 's') {
			unit = 1000;
			p++;
		} else if (*p == 'm') {
			unit = 60000;
			p++;
		} else if (*p == 'h') {
			unit = 3600000;
			p++;
		} else if (!*p && term == s) {
			unit = 1000;	/* the whole value is one bare number */
		} else {
			return -EINVAL;
		}
		if (fp * unit % scale) {
			*why = "finer than a millisecond";
			return -EINVAL;
		}
		v = ip * unit + fp * unit / scale;
		total += v;
		if (v > UINT32_MAX || total > UINT32_MAX) {
			*why = "too large";
			return -ERANGE;
		}
	}
	*ms = (uint32_t)total;
	*why = NULL;
	return 0;
}

static int weight_cmp(const void *pa, const void *pb)
{
	const struct k8s_weight *a = pa, *b = pb;

	return memcmp(a->addr.addr.a8, b->addr.addr.a8, sizeof(a->addr.addr.a8));
}

/* Copy [b, e) without surrounding blanks into buf; false if it does not fit. */
static bool trim_copy(const char *b, const char *e, char *buf, size_t size)
{
	while (b < e && is_space(*b))
		b++;
	while (e > b && is_space(e[-1]))
		e--;
	if ((size_t)(e - b) >= size)
		return false;
	memcpy(buf, b, (size_t)(e - b));
	buf[e - b] = '\0';
	return true;
}

/* "IP=WEIGHT,IP=WEIGHT", blanks allowed around each part. */
int k8s_parse_weights(const char *s, struct k8s_weight **out, size_t *n_out, char *why,
		      size_t whylen)
{
	struct k8s_weight *w = NULL;
	size_t n = 0, cap = 0;
	const char *p = s;
	int ret = -EINVAL;

	while (1) {
		const char *end = strchr(p, ',');
		const char *eq;
		char ip[XLB_IP_STRLEN], num[16];
		struct k8s_weight x = { 0 };

		if (!end)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		if (!eq) {
			snprintf(why, whylen, "entry %zu: want IP=WEIGHT", n + 1);
			goto out;
		}
		if (!trim_copy(p, eq, ip, sizeof(ip)) || xlb_ip_parse(ip, &x.addr) ||
		    x.addr.family != XLB_AF_INET) {
			snprintf(why, whylen, "entry %zu: not an IPv4 address", n + 1);
			goto out;
		}
		if (!trim_copy(eq + 1, end, num, sizeof(num)) ||
		    k8s_parse_uint(num, 65535, &x.weight)) {
			snprintf(why, whylen, "entry %zu (%s): weight must be 0..65535", n + 1, ip);
			goto out;
		}
		if (n == cap) {
			struct k8s_weight *v;

			cap = cap ? 2 * cap : 8;
			v = realloc(w, cap * sizeof(*v));
			if (!v) {
				snprintf(why, whylen, "out of memory");
				ret = -ENOMEM;
				goto out;
			}
			w = v;
		}
		w[n++] = x;
		if (!*end)
			break;
		p = end + 1;
	}
	qsort(w, n, sizeof(*w), weight_cmp);
	for (size_t i = 1; i < n; i++) {
		if (!weight_cmp(&w[i], &w[i - 1])) {
			char ip[XLB_IP_STRLEN];

			snprintf(why, whylen, "%s given twice",
				 xlb_ip_str(&w[i].addr, ip, sizeof(ip)));
			goto out;
		}
	}
	*out = w;
	*n_out = n;
	w = NULL;
	ret = 0;
out:
	free(w);
	return ret;
}

const struct k8s_weight *k8s_weight_find(const struct xlb_k8s_service *svc, const struct xlb_ip *ip)
{
	struct k8s_weight key = { .addr = *ip };

	if (!svc->n_weights)
		return NULL;
	return bsearch(&key, svc->weights, svc->n_weights, sizeof(key), weight_cmp);
}

/* "exec:CMD ARGS...": split on blanks, no quoting (one argument per word). */
static int parse_exec(const char *s, struct xlb_health_spec *hc, char *why, size_t whylen)
{
	const char *p = s;

	while (*p) {
		const char *b;

		while (is_space(*p))
			p++;
		if (!*p)
			break;
		for (b = p; *p && !is_space(*p); p++)
			;
		if (hc->argc == XLB_HC_MAX_ARGS) {
			snprintf(why, whylen, "exec: more than %d arguments", XLB_HC_MAX_ARGS);
			return -EINVAL;
		}
		if ((size_t)(p - b) >= sizeof(hc->argv[0])) {
			snprintf(why, whylen, "exec: argument %u longer than %zu bytes",
				 hc->argc + 1, sizeof(hc->argv[0]) - 1);
			return -EINVAL;
		}
		memcpy(hc->argv[hc->argc], b, (size_t)(p - b));
		hc->argv[hc->argc][p - b] = '\0';
		hc->argc++;
	}
	if (!hc->argc) {
		snprintf(why, whylen, "exec: no command");
		return -EINVAL;
	}
	hc->kind = XLB_HC_EXEC;
	return 0;
}

/* "tcp", "http" (path /), "http:/PATH" or "exec:CMD ARGS...". Fills the
 * kind and its parameters; leaves the timing fields alone. */
int k8s_parse_health_check(const char *s, struct xlb_health_spec *hc, char *why,
			   size_t whylen)
{
	const char *path;

	hc->argc = 0;
	memset(hc->argv, 0, sizeof(hc->argv));
	memset(hc->http_path, 0, sizeof(hc->http_path));
	if (!strcmp(s, "tcp")) {
		hc->kind = XLB_HC_TCP;
		return 0;
	}
	if (!strncmp(s, "exec:", 5))
		return parse_exec(s + 5, hc, why, whylen);
	if (strcmp(s, "http") && strncmp(s, "http:", 5)) {
		snprintf(why, whylen, "want tcp, http:/PATH or exec:COMMAND ARGS...");
		return -EINVAL;
	}
	path = s[4] ? s + 5 : "/";
	if (path[0] != '/') {
		snprintf(why, whylen, "http: path must start with '/'");
		return -EINVAL;
	}
	if (strlen(path) >= sizeof(hc->http_path)) {
		snprintf(why, whylen, "http: path longer than %zu bytes",
			 sizeof(hc->http_path) - 1);
		return -EINVAL;
	}
	for (const char *q = path; *q; q++) {
		if ((unsigned char)*q <= ' ' || *q == 0x7f) {
			snprintf(why, whylen, "http: space or control character in the path");
			return -EINVAL;
		}
	}
	strcpy(hc->http_path, path);
	hc->kind = XLB_HC_HTTP;
	return 0;
}
