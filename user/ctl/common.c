// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* What every xlbctl command shares: messages, the connection, input files,
 * durations and the service lookup by name. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <grpc/status.h>

#include "ctl/ctl.h"
#include "util/clock.h"

static void vmsg(const struct ctl *c, const char *tag, const char *fmt, va_list ap)
{
	fprintf(stderr, "xlbctl: ");
	if (c && c->name[0])
		fprintf(stderr, "%s: ", c->name);
	if (tag)
		fprintf(stderr, "%s: ", tag);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void ctl_err(const struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(c, NULL, fmt, ap);
	va_end(ap);
}

void ctl_warn(const struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(c, "warning", fmt, ap);
	va_end(ap);
}

void ctl_usage_line(const struct ctl_cmd *cmd, FILE *f)
{
	fprintf(f, "usage: xlbctl %s%s%s%s%s\n", cmd->verb, cmd->sub ? " " : "",
		cmd->sub ? cmd->sub : "", cmd->args[0] ? " " : "", cmd->args);
}

int ctl_usage_err(const struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(c, NULL, fmt, ap);
	va_end(ap);
	if (c->cmd)
		ctl_usage_line(c->cmd, stderr);
	return CTL_USAGE;
}

int ctl_connect(struct ctl *c)
{
	char err[256] = "";
	int rc;

	if (c->client)
		return CTL_OK;
	/* The daemon refuses TCP without TLS: a TCP target always gets TLS
	 * (system roots unless --tls-ca). */
	rc = xlb_api_client_open(c->server,
				 c->tls_given || strncmp(c->server, "unix:", 5) ? &c->tls : NULL,
				 &c->client, err, sizeof(err));
	if (rc) {
		ctl_err(c, "connect %s: %s", c->server, err[0] ? err : strerror(-rc));
		c->client = NULL;
		return CTL_FAIL;
	}
	xlb_api_client_set_timeout(c->client, c->timeout_ms);
	return CTL_OK;
}

/* "CODE: message", and which server when it could not be reached. */
static void rpc_err(const struct ctl *c, int code, const char *err)
{
	const char *name = xlb_api_code_name(code);
	bool where = (code == GRPC_STATUS_UNAVAILABLE || code == GRPC_STATUS_DEADLINE_EXCEEDED) &&
		     !strstr(err, c->server);

	if (!err[0])
		err = name;
	if (where)
		ctl_err(c, "%s: %s (server %s)", name, err, c->server);
	else if (!strcmp(err, name))
		ctl_err(c, "%s", name);
	else
		ctl_err(c, "%s: %s", name, err);
}

int ctl_call(struct ctl *c, const char *method, const ProtobufCMessage *req,
	     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp)
{
	char err[1024] = "";
	int rc;

	*resp = NULL;
	if (ctl_connect(c))
		return CTL_FAIL;
	rc = xlb_api_call(c->client, method, req, resp_desc, resp, err, sizeof(err));
	if (rc) {
		rpc_err(c, rc, err);
		*resp = NULL;
		return CTL_FAIL;
	}
	if (!*resp) {
		ctl_err(c, "INTERNAL: %s: empty reply", method);
		return CTL_FAIL;
	}
	return CTL_OK;
}

/* A Sync answer has no status code of its own; the daemon starts the
 * error text with one ("NOT_FOUND: ...") when it has one. */
static void sync_rejected(const struct ctl *c, const Xlb__V1__SyncResponse *resp)
{
	const char *e = resp->error && resp->error[0] ? resp->error : "rejected";
	const char *p = e;

	while (isupper((unsigned char)*p) || *p == '_')
		p++;
	if (p - e >= 5 && p[0] == ':')
		ctl_err(c, "%s", e);
	else
		ctl_err(c, "rejected: %s", e);
}

int ctl_sync_send(struct ctl *c, const Xlb__V1__SyncRequest *req, Xlb__V1__SyncResponse **resp)
{
	char err[1024] = "";
	int rc;

	*resp = NULL;
	if (ctl_connect(c))
		return CTL_FAIL;
	rc = xlb_api_sync_once(c->client, req, resp, err, sizeof(err));
	if (rc) {
		rpc_err(c, rc, err);
		if (*resp)
			xlb__v1__sync_response__free_unpacked(*resp, NULL);
		*resp = NULL;
		return CTL_FAIL;
	}
	if (!*resp) {
		ctl_err(c, "INTERNAL: Sync: empty reply");
		return CTL_FAIL;
	}
	if (!(*resp)->ok) {
		sync_rejected(c, *resp);
		xlb__v1__sync_response__free_unpacked(*resp, NULL);
		*resp = NULL;
		return CTL_FAIL;
	}
	return CTL_OK;
}

const char *ctl_input_name(const char *path)
{
	return strcmp(path, "-") ? path : "<stdin>";
}

int ctl_read_input(const struct ctl *c, const char *path, char **buf, size_t *len)
{
	bool is_stdin = !strcmp(path, "-");
	int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0, cap = 0;
	char *b = NULL, *nb;
	struct stat st;
	int rc = CTL_FAIL;
	ssize_t r;

	*buf = NULL;
	*len = 0;
	if (fd < 0) {
		ctl_err(c, "open %s: %s", path, strerror(errno));
		return CTL_FAIL;
	}
	if (!fstat(fd, &st) && S_ISDIR(st.st_mode)) {
		ctl_err(c, "read %s: %s", ctl_input_name(path), strerror(EISDIR));
		goto out;
	}
	for (;;) {
		if (cap - n < 65536 + 1) {
			cap = cap ? cap * 2 : 65536 * 2;
			nb = realloc(b, cap);
			if (!nb) {
				ctl_err(c, "read %s: %s", ctl_input_name(path), strerror(ENOMEM));
				goto out;
			}
			b = nb;
		}
		r = read(fd, b + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ctl_err(c, "read %s: %s", ctl_input_name(path), strerror(errno));
			goto out;
		}
		if (!r)
			break;
		n += (size_t)r;
		if (n > CTL_MAX_INPUT) {
			ctl_err(c, "read %s: larger than %u MiB", ctl_input_name(path),
				CTL_MAX_INPUT >> 20);
			goto out;
		}
	}
	b[n] = 0;
	*buf = b;
	*len = n;
	b = NULL;
	rc = CTL_OK;
out:
	free(b);
	if (!is_stdin)
		close(fd);
	return rc;
}

int ctl_parse_duration_ms(const char *s, int *out)
{
	unsigned long long v, mul;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (!*end || !strcmp(end, "s"))
		mul = 1000;
	else if (!strcmp(end, "ms"))
		mul = 1;
	else if (!strcmp(end, "m"))
		mul = 60 * 1000;
	else if (!strcmp(end, "h"))
		mul = 3600 * 1000;
	else
		return -EINVAL;
	if (!v || v > INT_MAX / mul)
		return -EINVAL;
	*out = (int)(v * mul);
	return 0;
}

const char *ctl_fmt_age(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms < 0 ? 0 : ms / 1000;

	if (s < 60)
		snprintf(buf, len, "%" PRId64 "s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRId64 "m%" PRId64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRId64 "h%" PRId64 "m", s / 3600, s / 60 % 60);
	else
		snprintf(buf, len, "%" PRId64 "d%" PRId64 "h", s / 86400, s / 3600 % 24);
	return buf;
}

const char *ctl_fmt_since(int64_t unix_ms, char *buf, size_t len)
{
	if (unix_ms <= 0) {
		snprintf(buf, len, "-");
		return buf;
	}
	return ctl_fmt_age(xlb_unix_ms() - unix_ms, buf, len);
}

const char *ctl_fmt_latency(uint32_t us, char *buf, size_t len)
{
	if (us < 1000)
		snprintf(buf, len, "%uus", us);
	else if (us < 1000000)
		snprintf(buf, len, "%.1fms", us / 1000.0);
	else
		snprintf(buf, len, "%.2fs", us / 1000000.0);
	return buf;
}

const char *ctl_fmt_u64(uint64_t v, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

const char *ctl_svc_type_name(Xlb__V1__ServiceType t)
{
	switch (t) {
	case XLB__V1__SERVICE_TYPE__CLUSTER_IP:
		return "ClusterIP";
	case XLB__V1__SERVICE_TYPE__NODE_PORT:
		return "NodePort";
	case XLB__V1__SERVICE_TYPE__LOAD_BALANCER:
		return "LoadBalancer";
	default:
		return "unknown";
	}
}

const char *ctl_proto_name(Xlb__V1__Protocol p)
{
	switch (p) {
	case XLB__V1__PROTOCOL__TCP:
		return "TCP";
	case XLB__V1__PROTOCOL__UDP:
		return "UDP";
	default:
		return "unknown";
	}
}

const char *ctl_algo_name(Xlb__V1__Algorithm a)
{
	switch (a) {
	case XLB__V1__ALGORITHM__RR:
		return "rr";
	case XLB__V1__ALGORITHM__WRR:
		return "wrr";
	case XLB__V1__ALGORITHM__SH:
		return "sh";
	default:
		return "unknown";
	}
}

static bool name_selects(const char *want, const char *name)
{
	size_t n = strlen(want);

	return !strcmp(want, name) || (!strncmp(want, name, n) && name[n] == ':');
}

int ctl_list_services(struct ctl *c, const char *name, struct ctl_svc_list *out)
{
	Xlb__V1__ListServicesRequest req = XLB__V1__LIST_SERVICES_REQUEST__INIT;
	bool by_prefix = name && !strchr(name, ':');
	ProtobufCMessage *resp;
	Xlb__V1__ListServicesResponse *r;

	memset(out, 0, sizeof(*out));
	if (name && !by_prefix)
		req.name = (char *)name;
	if (ctl_call(c, "ListServices", &req.base, &xlb__v1__list_services_response__descriptor,
		     &resp))
		return CTL_FAIL;
	r = (Xlb__V1__ListServicesResponse *)resp;
	out->resp = r;
	if (!r->n_services)
		goto none;
	out->v = calloc(r->n_services, sizeof(*out->v));
	if (!out->v) {
		ctl_err(c, "%s", strerror(ENOMEM));
		ctl_svc_list_free(out);
		return CTL_FAIL;
	}
	for (size_t i = 0; i < r->n_services; i++) {
		Xlb__V1__ServiceStatus *s = r->services[i];

		if (!s->service)
			continue;
		if (by_prefix && !name_selects(name, s->service->name ? s->service->name : ""))
			continue;
		out->v[out->n++] = s;
	}
none:
	if (name && !out->n) {
		ctl_err(c, "NOT_FOUND: service %s", name);
		ctl_svc_list_free(out);
		return CTL_FAIL;
	}
	return CTL_OK;
}

void ctl_svc_list_free(struct ctl_svc_list *l)
{
	if (l->resp)
		xlb__v1__list_services_response__free_unpacked(l->resp, NULL);
	free(l->v);
	memset(l, 0, sizeof(*l));
}
