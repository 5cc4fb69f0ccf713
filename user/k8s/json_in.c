// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * JSON (as the API server sends it) to a document tree, through jansson
 * (contract in doctree.h). jansson refuses duplicate keys and NULs in
 * strings for us; the depth limit is ours, as in the YAML front end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "k8s/doctree.h"
#include "util/errmsg.h"

#define JSON_FLAGS (JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

static int set_str(struct k8s_node *n, const char *s, size_t len)
{
	n->str = malloc(len + 1);
	if (!n->str)
		return -ENOMEM;
	memcpy(n->str, s, len);
	n->str[len] = '\0';
	n->len = len;
	return 0;
}

static int scalar(struct k8s_node *n, const json_t *v)
{
	char num[40];
	int len;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return set_str(n, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		len = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		/* 80.0 stays a fraction: the API server's decoder refuses it
		 * for an integer field, so must we. */
		len = snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		if (!strpbrk(num, ".eEn") && len + 2 < (int)sizeof(num))
			len += snprintf(num + len, sizeof(num) - (size_t)len, ".0");
		break;
	case JSON_TRUE:
		len = snprintf(num, sizeof(num), "true");
		break;
	case JSON_FALSE:
		len = snprintf(num, sizeof(num), "false");
		break;
	default:
		len = snprintf(num, sizeof(num), "null");
		break;
	}
	n->plain = true;
	return set_str(n, num, (size_t)len);
}

static int convert(struct k8s_doc *d, const json_t *v, int depth, struct k8s_node **out,
		   char *msg, size_t msglen)
{
	enum k8s_node_type type = json_is_object(v) ? K8S_NODE_MAP
				: json_is_array(v) ? K8S_NODE_SEQ : K8S_NODE_SCALAR;
	struct k8s_node *n, *child;
	unsigned int line;
	int ret;

	if (type != K8S_NODE_SCALAR && depth == K8S_DOC_MAX_DEPTH)
		return xlb_errf(msg, msglen, -EINVAL, "nesting deeper than %d levels",
			    K8S_DOC_MAX_DEPTH);
	n = k8s_doc_node(d, type, 0);
	if (!n)
		return xlb_errf(msg, msglen, -ENOMEM, "out of memory");
	*out = n;
	if (type == K8S_NODE_SCALAR) {
		if (scalar(n, v))
			return xlb_errf(msg, msglen, -ENOMEM, "out of memory");
		return 0;
	}
	if (type == K8S_NODE_SEQ) {
		for (size_t i = 0; i < json_array_size(v); i++) {
			ret = convert(d, json_array_get(v, i), depth + 1, &child, msg, msglen);
			if (ret)
				return ret;
			if (k8s_node_append(n, child))
				return xlb_errf(msg, msglen, -ENOMEM, "out of memory");
		}
		return 0;
	}
	for (void *it = json_object_iter((json_t *)v); it;
	     it = json_object_iter_next((json_t *)v, it)) {
		const char *key = json_object_iter_key(it);
		struct k8s_node *k = k8s_doc_node(d, K8S_NODE_SCALAR, 0);

		if (!k || set_str(k, key, json_object_iter_key_len(it)) || k8s_node_append(n, k))
			return xlb_errf(msg, msglen, -ENOMEM, "out of memory");
		ret = convert(d, json_object_iter_value(it), depth + 1, &child, msg, msglen);
		if (ret)
			return ret;
		if (k8s_node_append(n, child))
			return xlb_errf(msg, msglen, -ENOMEM, "out of memory");
	}
	/* jansson refused duplicates already when it parsed; a json_t built
	 * by hand cannot hold them either. */
	return k8s_map_check_keys(n, &line, msg, msglen);
}

int k8s_doc_from_json(const void *json, struct k8s_doc *d, char *msg, size_t msglen)
{
	struct k8s_node *root;
	int ret;

	memset(d, 0, sizeof(*d));
	ret = convert(d, json, 0, &root, msg, msglen);
	if (!ret && k8s_doc_add_root(d, root))
		ret = xlb_errf(msg, msglen, -ENOMEM, "out of memory");
	if (ret)
		k8s_doc_free(d);
	return ret;
}

static unsigned int lines_in(const char *buf, size_t len)
{
	unsigned int n = 0;

	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\n';
	return n;
}

int k8s_doc_parse_json(const char *buf, size_t len, struct k8s_doc *d, unsigned int *line,
		       char *msg, size_t msglen)
{
	size_t off = 0;
	int ret = 0;

	memset(d, 0, sizeof(*d));
	*line = 0;
	while (!ret) {
		struct k8s_node *root;
		json_error_t e;
		json_t *v;

		while (off < len && strchr(" \t\r\n", buf[off]) && buf[off])
			off++;
		if (off == len)
			break;
		v = json_loadb(buf + off, len - off, JSON_FLAGS, &e);
		if (!v) {
			*line = lines_in(buf, off) + (e.line > 0 ? (unsigned int)e.line : 1);
			ret = xlb_errf(msg, msglen,
				   json_error_code(&e) == json_error_out_of_memory ? -ENOMEM
										  : -EINVAL,
				   "%s", e.text);
			break;
		}
		ret = convert(d, v, 0, &root, msg, msglen);
		if (!ret && k8s_doc_add_root(d, root))
			ret = xlb_errf(msg, msglen, -ENOMEM, "out of memory");
		if (ret)
			*line = lines_in(buf, off) + 1;
		off += (size_t)e.position;
		json_decref(v);
	}
	if (ret)
		k8s_doc_free(d);
	return ret;
}
