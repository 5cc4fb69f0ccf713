// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* In-cluster configuration and kubeconfig files (kubeconf.h). The
 * kubeconfig is YAML, read into the same document tree as manifests. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feeder/kubeconf.h"
#include "k8s/doctree.h"
#include "util/errmsg.h"

#define MAX_FILE (4 << 20)

static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0, cap = 4096;
	char *buf;
	int ret = 0;

	*out = NULL;
	if (!f)
		return xlb_errf(err, errlen, -errno, "open %s: %s", path, strerror(errno));
	buf = malloc(cap);
	while (buf) {
		size_t r = fread(buf + n, 1, cap - n - 1, f);

		n += r;
		if (n < cap - 1)
			break;
		if (cap >= MAX_FILE) {
			ret = xlb_errf(err, errlen, -EFBIG, "read %s: larger than %d bytes", path,
				       MAX_FILE);
			break;
		}
		char *v = realloc(buf, cap * 2);

		if (!v) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = v;
		cap *= 2;
	}
	if (!buf && !ret)
		ret = xlb_errf(err, errlen, -ENOMEM, "read %s: out of memory", path);
	else if (!ret && ferror(f))
		ret = xlb_errf(err, errlen, -EIO, "read %s: I/O error", path);
	fclose(f);
	if (ret) {
		free(buf);
		return ret;
	}
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int xlb_kube_conf_in_cluster(struct xlb_kube_conf *c, const char *sa_dir, char *err,
			     size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char path[PATH_MAX];
	size_t n;

	memset(c, 0, sizeof(*c));
	if (!host || !*host || !port || !*port)
		return xlb_errf(err, errlen, -ENOENT,
				"in-cluster config: KUBERNETES_SERVICE_HOST and "
				"KUBERNETES_SERVICE_PORT must be set (or use --kubeconfig)");
	if (!sa_dir)
		sa_dir = XLB_KUBE_SA_DIR;
	n = strlen(host) + strlen(port) + 16;
	c->server = malloc(n);
	if (c->server)	/* an IPv6 service address goes in brackets */
		snprintf(c->server, n, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
			 host, port);
	snprintf(path, sizeof(path), "%s/token", sa_dir);
	c->token_file = strdup(path);
	snprintf(path, sizeof(path), "%s/ca.crt", sa_dir);
	c->ca_file = strdup(path);
	if (!c->server || !c->token_file || !c->ca_file) {
		xlb_kube_conf_free(c);
		return xlb_errf(err, errlen, -ENOMEM, "in-cluster config: out of memory");
	}
	return 0;
}

/* RFC 4648 base64, as kubeconfig's *-data fields hold PEM. */
static int b64_decode(const char *s, char **out, size_t *len)
{
	size_t n = strlen(s), o = 0;
	unsigned int acc = 0;
	int bits = 0;
	char *buf = malloc(n / 4 * 3 + 4);

	if (!buf)
		return -ENOMEM;
	for (; *s; s++) {
		int v;

		if (*s >= 'A' && *s <= 'Z')
			v = *s - 'A';
		else if (*s >= 'a' && *s <= 'z')
			v = *s - 'a' + 26;
		else if (*s >= '0' && *s <= '9')
			v = *s - '0' + 52;
		else if (*s == '+')
			v = 62;
		else if (*s == '/')
			v = 63;
		else if (*s == '=' || *s == '\n' || *s == '\r' || *s == ' ')
			continue;
		else {
			free(buf);
			return -EINVAL;
		}
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	buf[o] = '\0';
	*out = buf;
	*len = o;
	return 0;
}

/* A scalar field of a mapping as a string, or NULL. */
static const char *str_of(const struct k8s_node *map, const char *key)
{
	const struct k8s_node *n = k8s_map_get(map, key);

	return n && n->type == K8S_NODE_SCALAR && !k8s_node_is_null(n) ? n->str : NULL;
}

/* The entry of list `what` (clusters, users, contexts) named name: its
 * inner mapping (`inner`: cluster, user, context). */
static const struct k8s_node *named(const struct k8s_node *root, const char *what,
				    const char *inner, const char *name)
{
	const struct k8s_node *list = k8s_map_get(root, what);

	if (!list || list->type != K8S_NODE_SEQ || !name)
		return NULL;
	for (size_t i = 0; i < list->n; i++) {
		const char *nm = str_of(list->items[i], "name");

		if (nm && !strcmp(nm, name)) {
			const struct k8s_node *m = k8s_map_get(list->items[i], inner);

			return m && m->type == K8S_NODE_MAP ? m : NULL;
		}
	}
	return NULL;
}

/* A path from the kubeconfig, relative to its folder. */
static char *rel_path(const char *base, const char *p)
{
	const char *slash = strrchr(base, '/');
	size_t n;
	char *s;

	if (!p)
		return NULL;
	if (p[0] == '/' || !slash)
		return strdup(p);
	n = (size_t)(slash - base) + strlen(p) + 2;
	s = malloc(n);
	if (s)
		snprintf(s, n, "%.*s/%s", (int)(slash - base), base, p);
	return s;
}

static int data_field(const struct k8s_node *m, const char *key, char **out, size_t *len,
		      const char *path, char *err, size_t errlen)
{
	const char *s = str_of(m, key);
	int ret;

	if (!s)
		return 0;
	ret = b64_decode(s, out, len);
	if (ret == -EINVAL)
		return xlb_errf(err, errlen, ret, "%s: %s: not base64", path, key);
	if (ret)
		return xlb_errf(err, errlen, ret, "%s: out of memory", path);
	return 0;
}

int xlb_kube_conf_load(struct xlb_kube_conf *c, const char *path, const char *context,
		       char *err, size_t errlen)
{
	const struct k8s_node *root, *ctx, *cl, *user;
	struct k8s_doc d = { 0 };
	unsigned int line;
	char msg[256], *buf;
	const char *s;
	int ret;

	memset(c, 0, sizeof(*c));
	ret = read_file(path, &buf, NULL, err, errlen);
	if (ret)
		return ret;
	ret = k8s_doc_parse_yaml(buf, strlen(buf), &d, &line, msg, sizeof(msg));
	free(buf);
	if (ret)
		return xlb_errf(err, errlen, ret, "%s:%u: %s", path, line, msg);
	root = d.n_docs ? d.docs[0] : NULL;
	if (!context)
		context = str_of(root, "current-context");
	if (!context) {
		ret = xlb_errf(err, errlen, -EINVAL, "%s: no current-context (use --context)", path);
		goto out;
	}
	ctx = named(root, "contexts", "context", context);
	if (!ctx) {
		ret = xlb_errf(err, errlen, -EINVAL, "%s: context %s: not found", path, context);
		goto out;
	}
	cl = named(root, "clusters", "cluster", str_of(ctx, "cluster"));
	if (!cl || !str_of(cl, "server")) {
		ret = xlb_errf(err, errlen, -EINVAL, "%s: context %s: no cluster with a server",
			       path, context);
		goto out;
	}
	user = named(root, "users", "user", str_of(ctx, "user"));
	c->server = strdup(str_of(cl, "server"));
	c->ca_file = rel_path(path, str_of(cl, "certificate-authority"));
	s = str_of(cl, "insecure-skip-tls-verify");
	c->insecure = s && !strcmp(s, "true");
	c->token = dup_or_null(str_of(user, "token"));
	c->token_file = rel_path(path, str_of(user, "tokenFile"));
	c->cert_file = rel_path(path, str_of(user, "client-certificate"));
	c->key_file = rel_path(path, str_of(user, "client-key"));
	if (!c->server) {
		ret = xlb_errf(err, errlen, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	while (c->server[0] && c->server[strlen(c->server) - 1] == '/')
		c->server[strlen(c->server) - 1] = '\0';
	ret = data_field(cl, "certificate-authority-data", &c->ca_pem, &c->ca_pem_len, path,
			 err, errlen);
	if (!ret)
		ret = data_field(user, "client-certificate-data", &c->cert_pem, &c->cert_pem_len,
				 path, err, errlen);
	if (!ret)
		ret = data_field(user, "client-key-data", &c->key_pem, &c->key_pem_len, path, err,
				 errlen);
out:
	k8s_doc_free(&d);
	if (ret)
		xlb_kube_conf_free(c);
	return ret;
}

int xlb_kube_conf_token(const struct xlb_kube_conf *c, char *buf, size_t len, char *err,
			size_t errlen)
{
	size_t n;
	char *t;
	int ret;

	buf[0] = '\0';
	if (!c->token_file) {
		if (c->token && strlen(c->token) >= len)
			return xlb_errf(err, errlen, -E2BIG, "token: longer than %zu bytes", len - 1);
		snprintf(buf, len, "%s", c->token ? c->token : "");
		return 0;
	}
	ret = read_file(c->token_file, &t, &n, err, errlen);
	if (ret)
		return ret;
	while (n && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' '))
		t[--n] = '\0';
	if (n >= len || strpbrk(t, "\r\n"))
		ret = xlb_errf(err, errlen, -EINVAL, "%s: not a token (one line, under %zu bytes)",
			       c->token_file, len);
	else
		memcpy(buf, t, n + 1);
	free(t);
	return ret;
}

void xlb_kube_conf_free(struct xlb_kube_conf *c)
{
	free(c->server);
	free(c->ca_file);
	free(c->ca_pem);
	free(c->token);
	free(c->token_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->cert_pem);
	free(c->key_pem);
	memset(c, 0, sizeof(*c));
}
