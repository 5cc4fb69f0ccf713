// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libyaml events to a document tree (contract and limits in doctree.h). libyaml's own
 * document loader is not used: it copies aliased nodes' structure without a
 * bound, knows no depth limit, and accepts duplicate keys.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "k8s/doctree.h"
#include "util/htab.h"

#define YAML_STR_TAG "tag:yaml.org,2002:str"

struct builder {
	struct k8s_doc *t;
	struct k8s_node *stack[K8S_DOC_MAX_DEPTH];
	int depth;
	struct k8s_node *root;
	struct xlb_htab anchors;	/* this document's: name -> node */
	uint64_t alias_nodes;
	unsigned int *line;
	char *msg;
	size_t msglen;
};

static int fail(struct builder *b, unsigned int line, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct builder *b, unsigned int line, int rc, const char *fmt, ...)
{
	va_list ap;

	*b->line = line;
	if (b->msg && b->msglen) {
		va_start(ap, fmt);
		vsnprintf(b->msg, b->msglen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static unsigned int line_of(const yaml_mark_t *m)
{
	return m->line >= 0xfffffffeu ? 0xffffffffu : (unsigned int)m->line + 1;
}

static int set_anchor(struct builder *b, struct k8s_node *n, const yaml_char_t *anchor)
{
	if (!anchor)
		return 0;
	n->anchor = strdup((const char *)anchor);
	if (!n->anchor)
		return fail(b, n->line, -ENOMEM, "out of memory");
	/* A redefined anchor names the newer node from here on (YAML 1.2 §3.2.2.2). */
	if (xlb_htab_put(&b->anchors, n->anchor, strlen(n->anchor), n))
		return fail(b, n->line, -ENOMEM, "out of memory");
	return 0;
}

/* Attach a node (new, or the target of an alias) to the open collection. */
static int attach(struct builder *b, struct k8s_node *child, unsigned int line)
{
	struct k8s_node *p;

	if (!b->depth) {
		b->root = child;
		return 0;
	}
	p = b->stack[b->depth - 1];
	if (p->type == K8S_NODE_MAP && !(p->n_items & 1)) {
		if (child->type != K8S_NODE_SCALAR)
			return fail(b, line, -EINVAL, "mapping key is not a scalar");
		if (child->plain && child->len == 2 && !memcmp(child->str, "<<", 2))
			return fail(b, line, -EINVAL, "merge keys (<<) are not supported");
	}
	if (k8s_node_append(p, child))
		return fail(b, line, -ENOMEM, "out of memory");
	return 0;
}

static void add_size(struct k8s_node *p, uint64_t size)
{
	p->size = p->size + size < p->size ? UINT64_MAX : p->size + size;
}

/* A finished node counts towards its parent's size. */
static void finished(struct builder *b, struct k8s_node *n)
{
	n->done = true;
	if (b->depth)
		add_size(b->stack[b->depth - 1], n->size);
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
	unsigned int line = line_of(&ev->start_mark);
	const char *tag = (const char *)ev->data.scalar.tag;
	struct k8s_node *n = k8s_doc_node(b->t, K8S_NODE_SCALAR, line);
	int ret;

	if (!n)
		return fail(b, line, -ENOMEM, "out of memory");
	n->len = ev->data.scalar.length;
	n->str = malloc(n->len + 1);
	if (!n->str)
		return fail(b, line, -ENOMEM, "out of memory");
	memcpy(n->str, ev->data.scalar.value, n->len);
	n->str[n->len] = '\0';
	/* Quoting or !!str makes a string; other tags (!!int, ...) leave it to
	 * the reader's typing of the content, as for a plain scalar. */
	if (tag)
		n->plain = strcmp(tag, YAML_STR_TAG) != 0;
	else
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	ret = set_anchor(b, n, ev->data.scalar.anchor);
	if (ret)
		return ret;
	ret = attach(b, n, line);
	if (!ret)
		finished(b, n);
	return ret;
}

static int on_alias(struct builder *b, const yaml_event_t *ev)
{
	unsigned int line = line_of(&ev->start_mark);
	const char *name = (const char *)ev->data.alias.anchor;
	struct k8s_node *n = xlb_htab_get(&b->anchors, name, strlen(name));
	int ret;

	if (!n)
		return fail(b, line, -EINVAL, "alias *%.64s: no such anchor", name);
	if (!n->done)
		return fail(b, line, -EINVAL, "alias *%.64s: refers to a node that contains it",
			    name);
	b->alias_nodes += n->size;
	if (n->size > K8S_DOC_MAX_ALIAS_NODES || b->alias_nodes > K8S_DOC_MAX_ALIAS_NODES)
		return fail(b, line, -EINVAL, "excessive aliasing (more than %u nodes)",
			    K8S_DOC_MAX_ALIAS_NODES);
	ret = attach(b, n, line);
	if (!ret && b->depth)
		add_size(b->stack[b->depth - 1], n->size);
	return ret;
}

static int on_start(struct builder *b, const yaml_event_t *ev, enum k8s_node_type type)
{
	unsigned int line = line_of(&ev->start_mark);
	const yaml_char_t *anchor = type == K8S_NODE_MAP ? ev->data.mapping_start.anchor
						      : ev->data.sequence_start.anchor;
	struct k8s_node *n;
	int ret;

	if (b->depth == K8S_DOC_MAX_DEPTH)
		return fail(b, line, -EINVAL, "nesting deeper than %d levels", K8S_DOC_MAX_DEPTH);
	n = k8s_doc_node(b->t, type, line);
	if (!n)
		return fail(b, line, -ENOMEM, "out of memory");
	ret = set_anchor(b, n, anchor);
	if (!ret)
		ret = attach(b, n, line);
	if (ret)
		return ret;
	b->stack[b->depth++] = n;
	return 0;
}

static int on_end(struct builder *b)
{
	struct k8s_node *n;
	int ret;

	if (!b->depth)	/* libyaml balances its events; be safe anyway */
		return fail(b, 0, -EINVAL, "unbalanced collection end");
	n = b->stack[--b->depth];
	if (n->type == K8S_NODE_MAP) {
		unsigned int line;
		char msg[160];

		ret = k8s_map_check_keys(n, &line, msg, sizeof(msg));
		if (ret)
			return fail(b, line, ret, "%s", msg);
	}
	finished(b, n);
	return 0;
}

static int on_document_end(struct builder *b)
{
	xlb_htab_fini(&b->anchors);
	if (!b->root)
		return 0;
	if (k8s_doc_add_root(b->t, b->root))
		return fail(b, b->root->line, -ENOMEM, "out of memory");
	b->root = NULL;
	return 0;
}

static int on_event(struct builder *b, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return on_scalar(b, ev);
	case YAML_ALIAS_EVENT:
		return on_alias(b, ev);
	case YAML_SEQUENCE_START_EVENT:
		return on_start(b, ev, K8S_NODE_SEQ);
	case YAML_MAPPING_START_EVENT:
		return on_start(b, ev, K8S_NODE_MAP);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return on_end(b);
	case YAML_DOCUMENT_START_EVENT:
		b->root = NULL;
		return 0;
	case YAML_DOCUMENT_END_EVENT:
		return on_document_end(b);
	default:
		return 0;
	}
}

/* The reader reports a byte offset, not a mark: count the lines. */
static unsigned int line_at(const char *buf, size_t len, size_t off)
{
	unsigned int line = 1;

	for (size_t i = 0; i < off && i < len; i++)
		if (buf[i] == '\n' && line < 0xffffffffu)
			line++;
	return line;
}

static int parser_error(struct builder *b, const yaml_parser_t *p, const char *buf, size_t len)
{
	const char *problem = p->problem ? p->problem : "unknown error";

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return fail(b, 0, -ENOMEM, "out of memory");
	case YAML_READER_ERROR:
		return fail(b, line_at(buf, len, p->problem_offset), -EINVAL, "%s", problem);
	default:
		if (p->context)
			return fail(b, line_of(&p->problem_mark), -EINVAL, "%s, %s at line %u",
				    problem, p->context, line_of(&p->context_mark));
		return fail(b, line_of(&p->problem_mark), -EINVAL, "%s", problem);
	}
}

int k8s_doc_parse_yaml(const char *buf, size_t len, struct k8s_doc *t, unsigned int *line,
		char *msg, size_t msglen)
{
	struct builder b = { .t = t, .line = line, .msg = msg, .msglen = msglen };
	yaml_parser_t p;
	yaml_event_t ev;
	bool end = false;
	int ret = 0;

	memset(t, 0, sizeof(*t));
	*line = 0;
	xlb_htab_init(&b.anchors);
	if (!yaml_parser_initialize(&p))
		return fail(&b, 0, -ENOMEM, "out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)(buf ? buf : ""), buf ? len : 0);
	while (!end && !ret) {
		if (!yaml_parser_parse(&p, &ev)) {
			ret = parser_error(&b, &p, buf, len);
			break;
		}
		ret = on_event(&b, &ev);
		end = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	xlb_htab_fini(&b.anchors);
	if (ret)
		k8s_doc_free(t);
	return ret;
}
