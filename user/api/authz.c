// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* API roles from the operator's rules. See authz.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/errmsg.h"
#include "api/authz.h"

static const struct {
	const char *prefix;
	enum xlb_api_match match;
} kinds[] = {
	{ "uid:", XLB_MATCH_UID },
	{ "cn:", XLB_MATCH_CN },
	{ "san:", XLB_MATCH_SAN },
	{ "subject:", XLB_MATCH_SUBJECT },
	{ "cert:", XLB_MATCH_ANY_CERT },
};

int xlb_api_rule_add(struct xlb_api_rules *rules, const char *role, const char *pattern,
		     char *err, size_t errlen)
{
	struct xlb_api_rule r = { 0 }, *n;
	const char *v = NULL;
	size_t i;

	if (!strcmp(role, "read"))
		r.role = XLB_API_ROLE_READ;
	else if (!strcmp(role, "write"))
		r.role = XLB_API_ROLE_WRITE;
	else
		return xlb_errf(err, errlen, -EINVAL, "role \"%.32s\": expected read or write", role);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strncmp(pattern, kinds[i].prefix, strlen(kinds[i].prefix))) {
			r.match = kinds[i].match;
			v = pattern + strlen(kinds[i].prefix);
			break;
		}
	if (!v || !*v)
		return xlb_errf(err, errlen, -EINVAL,
				"\"%.64s\": expected uid:N, cn:NAME, san:NAME, subject:DN or cert:*",
				pattern);
	if (strlen(v) >= sizeof(r.value))
		return xlb_errf(err, errlen, -EINVAL, "\"%.64s...\": longer than %zu bytes", pattern,
				sizeof(r.value) - 1);
	if (r.match == XLB_MATCH_UID) {
		char *end;
		unsigned long u;

		errno = 0;
		u = strtoul(v, &end, 10);
		if (errno || *end || !isdigit((unsigned char)*v) || u > UINT32_MAX - 1)
			return xlb_errf(err, errlen, -EINVAL, "\"%.64s\": not a uid", pattern);
		r.uid = (uint32_t)u;
	} else if (r.match == XLB_MATCH_ANY_CERT && strcmp(v, "*")) {
		return xlb_errf(err, errlen, -EINVAL, "\"%.64s\": expected cert:*", pattern);
	}
	snprintf(r.value, sizeof(r.value), "%s", v);
	n = realloc(rules->r, (rules->n + 1) * sizeof(*n));
	if (!n)
		return xlb_errf(err, errlen, -ENOMEM, "out of memory");
	rules->r = n;
	rules->r[rules->n++] = r;
	return 0;
}

int xlb_api_rules_load(struct xlb_api_rules *rules, const char *path, char *err, size_t errlen)
{
	char line[512], msg[300];
	unsigned int no = 0;
	FILE *f = fopen(path, "re");
	int ret = 0;

	if (!f)
		return xlb_errf(err, errlen, -errno, "%s: %s", path, strerror(errno));
	while (!ret && fgets(line, sizeof(line), f)) {
		char role[16], pattern[300], extra[2];
		int n;

		no++;
		line[strcspn(line, "#\n")] = '\0';
		n = sscanf(line, "%15s %299s %1s", role, pattern, extra);
		if (n <= 0)
			continue;
		if (n != 2) {
			ret = xlb_errf(err, errlen, -EINVAL, "%s:%u: expected \"ROLE PATTERN\"", path,
				       no);
			break;
		}
		ret = xlb_api_rule_add(rules, role, pattern, msg, sizeof(msg));
		if (ret)
			xlb_errf(err, errlen, ret, "%s:%u: %s", path, no, msg);
	}
	fclose(f);
	return ret;
}

void xlb_api_rules_free(struct xlb_api_rules *rules)
{
	free(rules->r);
	rules->r = NULL;
	rules->n = 0;
}

bool xlb_api_rules_other_uids(const struct xlb_api_rules *rules, uint32_t self)
{
	for (size_t i = 0; i < rules->n; i++)
		if (rules->r[i].match == XLB_MATCH_UID && rules->r[i].uid && rules->r[i].uid != self)
			return true;
	return false;
}

enum xlb_api_role xlb_api_role_of_uid(const struct xlb_api_rules *rules, uint32_t uid,
				      uint32_t self)
{
	enum xlb_api_role best = uid == 0 || uid == self ? XLB_API_ROLE_WRITE : XLB_API_ROLE_NONE;

	for (size_t i = 0; i < rules->n; i++)
		if (rules->r[i].match == XLB_MATCH_UID && rules->r[i].uid == uid &&
		    rules->r[i].role > best)
			best = rules->r[i].role;
	return best;
}

static bool cert_matches(const struct xlb_api_rule *r, const char *cn, const char *const *san,
			 size_t n_san, const char *subject)
{
	switch (r->match) {
	case XLB_MATCH_CN:
		return cn && !strcmp(cn, r->value);
	case XLB_MATCH_SAN:
		for (size_t i = 0; i < n_san; i++)
			if (san[i] && !strcmp(san[i], r->value))
				return true;
		return false;
	case XLB_MATCH_SUBJECT:
		return subject && !strcmp(subject, r->value);
	case XLB_MATCH_ANY_CERT:
		return true;
	case XLB_MATCH_UID:
		return false;
	}
	return false;
}

enum xlb_api_role xlb_api_role_of_cert(const struct xlb_api_rules *rules, bool authenticated,
				       const char *cn, const char *const *san, size_t n_san,
				       const char *subject)
{
	enum xlb_api_role best;

	if (!authenticated)
		return rules->insecure_tls_writes ? XLB_API_ROLE_WRITE : XLB_API_ROLE_READ;
	/* Readers named: the others may not even read. */
	best = XLB_API_ROLE_READ;
	for (size_t i = 0; i < rules->n; i++)
		if (rules->r[i].role == XLB_API_ROLE_READ && rules->r[i].match != XLB_MATCH_UID)
			best = XLB_API_ROLE_NONE;
	for (size_t i = 0; i < rules->n; i++)
		if (rules->r[i].role > best && cert_matches(&rules->r[i], cn, san, n_san, subject))
			best = rules->r[i].role;
	return best;
}

const char *xlb_api_role_name(enum xlb_api_role r)
{
	return r == XLB_API_ROLE_WRITE ? "write" : r == XLB_API_ROLE_READ ? "read" : "none";
}
