/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A YAML stream as a tree of nodes, built from libyaml's parser events:
 * just what the manifest reader needs, each node with its 1-based line.
 *
 * ytree_parse() returns 0 and one root per document, or -EINVAL (-ENOMEM)
 * with *line and a message and no tree. Any input bytes end in one or the
 * other, within these limits:
 *  - nesting deeper than YTREE_MAX_DEPTH collections is refused;
 *  - an alias shares its anchored node (no copy) and may only name a node
 *    that is complete, so the tree has no cycles; all aliases together may
 *    stand for at most YTREE_MAX_ALIAS_NODES nodes, so a walk of the tree
 *    that follows them stays bounded ("billion laughs");
 *  - mapping keys are scalars and unique within their mapping (as the
 *    YAML decoder Kubernetes uses requires);
 *  - merge keys ("<<") are refused rather than silently ignored.
 */
#ifndef XLB_K8S_YTREE_H
#define XLB_K8S_YTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define YTREE_MAX_DEPTH		64
#define YTREE_MAX_ALIAS_NODES	1000000

enum ynode_type {
	YNODE_SCALAR,
	YNODE_SEQ,
	YNODE_MAP,
};

struct ynode {
	enum ynode_type type;
	unsigned int line;	/* 1-based line where the node starts */
	/* Scalar: NUL-terminated copy; a "\0" escape can put a NUL inside,
	 * so len is the real length. */
	char *str;
	size_t len;
	bool plain;		/* plain style, no !!str tag: may be null, bool, int */
	/* Sequence: items[0..n). Mapping: n pairs, key items[2i], value items[2i+1]. */
	struct ynode **items;
	size_t n;
	/* Private to the builder. */
	size_t n_items, cap;
	uint64_t size;		/* nodes below and including this one, aliases expanded */
	bool done;
	char *anchor;
	struct ynode *all_next;
};

struct ytree {
	struct ynode **docs;	/* the root of each document, in order */
	size_t n_docs;
	struct ynode *all;	/* every node, for freeing */
};

int ytree_parse(const char *buf, size_t len, struct ytree *t, unsigned int *line,
		char *msg, size_t msglen);
void ytree_free(struct ytree *t);

/* The value under key in a mapping, or NULL if absent (or not a mapping). */
const struct ynode *ymap_get(const struct ynode *map, const char *key);
/* A plain "", "~" or "null" scalar, or no node at all. */
bool ynode_is_null(const struct ynode *n);
/* A scalar's text for a message: cut to buflen - 1 bytes, control
 * characters (and NUL) shown as '?'. Returns buf. */
const char *ynode_text(const struct ynode *n, char *buf, size_t buflen);

static inline const struct ynode *ymap_key(const struct ynode *map, size_t i)
{
	return map->items[2 * i];
}

static inline const struct ynode *ymap_val(const struct ynode *map, size_t i)
{
	return map->items[2 * i + 1];
}

#endif /* XLB_K8S_YTREE_H */
