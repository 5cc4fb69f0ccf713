/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A Kubernetes document as a tree of scalars, lists and mappings: what the
 * converter (manifest.c, service.c, slice.c) reads, whatever the input was.
 * Two front ends build it:
 *  - k8s_doc_parse_yaml(): a YAML stream (xlbctl's manifests), one root per
 *    document, each node with its 1-based line;
 *  - k8s_doc_parse_json() / k8s_doc_from_json(): JSON as the API server
 *    sends it (xlb-k8s), one root per value, lines 0 (JSON from the API
 *    server is one line: messages name the object instead).
 * JSON maps onto the YAML reading rules: a string is a quoted scalar, a
 * number, true, false or null a plain one, so "80" stays a string and 80 an
 * integer in both.
 *
 * Both return 0 and the tree, or -EINVAL (-ENOMEM) with *line and a message
 * and no tree. Any input bytes end in one or the other, within these limits:
 *  - nesting deeper than K8S_DOC_MAX_DEPTH collections is refused;
 *  - mapping keys are scalars and unique within their mapping (as the
 *    decoders Kubernetes uses require);
 *  - YAML: an alias shares its anchored node (no copy) and may only name a
 *    node that is complete, so the tree has no cycles; all aliases together
 *    may stand for at most K8S_DOC_MAX_ALIAS_NODES nodes, so a walk of the
 *    tree that follows them stays bounded ("billion laughs"); merge keys
 *    ("<<") are refused rather than silently ignored.
 */
#ifndef XLB_K8S_DOCTREE_H
#define XLB_K8S_DOCTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define K8S_DOC_MAX_DEPTH	64
#define K8S_DOC_MAX_ALIAS_NODES	1000000

enum k8s_node_type {
	K8S_NODE_SCALAR,
	K8S_NODE_SEQ,
	K8S_NODE_MAP,
};

struct k8s_node {
	enum k8s_node_type type;
	unsigned int line;	/* 1-based line where the node starts; 0: unknown */
	/* Scalar: NUL-terminated copy; a "\0" escape can put a NUL inside,
	 * so len is the real length. */
	char *str;
	size_t len;
	bool plain;		/* unquoted, no !!str tag: may be null, bool, int */
	/* Sequence: items[0..n). Mapping: n pairs, key items[2i], value items[2i+1]. */
	struct k8s_node **items;
	size_t n;
	/* Private to the builders. */
	size_t n_items, cap;
	uint64_t size;		/* nodes below and including this one, aliases expanded */
	bool done;
	char *anchor;
	struct k8s_node *all_next;
};

struct k8s_doc {
	struct k8s_node **docs;	/* the root of each document, in order */
	size_t n_docs;
	struct k8s_node *all;	/* every node, for freeing */
};

int k8s_doc_parse_yaml(const char *buf, size_t len, struct k8s_doc *d, unsigned int *line,
		       char *msg, size_t msglen);
/* One or more JSON values, each a document (whitespace between them). */
int k8s_doc_parse_json(const char *buf, size_t len, struct k8s_doc *d, unsigned int *line,
		       char *msg, size_t msglen);
/* A value jansson already parsed (a json_t *), as one document. */
int k8s_doc_from_json(const void *json, struct k8s_doc *d, char *msg, size_t msglen);
void k8s_doc_free(struct k8s_doc *d);

/* The value under key in a mapping, or NULL if absent (or not a mapping). */
const struct k8s_node *k8s_map_get(const struct k8s_node *map, const char *key);
/* A plain "", "~" or "null" scalar, or no node at all. */
bool k8s_node_is_null(const struct k8s_node *n);
/* A scalar's text for a message: cut to buflen - 1 bytes, control
 * characters (and NUL) shown as '?'. Returns buf. */
const char *k8s_node_text(const struct k8s_node *n, char *buf, size_t buflen);

static inline const struct k8s_node *k8s_map_key(const struct k8s_node *map, size_t i)
{
	return map->items[2 * i];
}

static inline const struct k8s_node *k8s_map_val(const struct k8s_node *map, size_t i)
{
	return map->items[2 * i + 1];
}

/* For the front ends: a node owned by d (freed with it), a child added
 * to a collection, a finished root, and the duplicate-key check (-EINVAL
 * with the key and both lines in msg). */
struct k8s_node *k8s_doc_node(struct k8s_doc *d, enum k8s_node_type type, unsigned int line);
int k8s_node_append(struct k8s_node *parent, struct k8s_node *child);
int k8s_doc_add_root(struct k8s_doc *d, struct k8s_node *root);
int k8s_map_check_keys(const struct k8s_node *map, unsigned int *line, char *msg,
		       size_t msglen);

#endif /* XLB_K8S_DOCTREE_H */
