// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The document tree shared by the YAML and JSON front ends (contract in
 * doctree.h): node ownership, lookups, and the checks both front ends make.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/doctree.h"

struct k8s_node *k8s_doc_node(struct k8s_doc *d, enum k8s_node_type type, unsigned int line)
{
	struct k8s_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->type = type;
	n->line = line;
	n->size = 1;
	n->all_next = d->all;
	d->all = n;
	return n;
}

int k8s_node_append(struct k8s_node *p, struct k8s_node *child)
{
	if (p->n_items == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 8;
		struct k8s_node **v = realloc(p->items, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		p->items = v;
		p->cap = cap;
	}
	p->items[p->n_items++] = child;
	p->n = p->type == K8S_NODE_MAP ? p->n_items / 2 : p->n_items;
	return 0;
}

int k8s_doc_add_root(struct k8s_doc *d, struct k8s_node *root)
{
	struct k8s_node **v = realloc(d->docs, (d->n_docs + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	d->docs = v;
	d->docs[d->n_docs++] = root;
	return 0;
}

static int key_cmp(const void *pa, const void *pb)
{
	const struct k8s_node *a = *(const struct k8s_node *const *)pa;
	const struct k8s_node *b = *(const struct k8s_node *const *)pb;
	int r;

	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	r = memcmp(a->str, b->str, a->len);
	if (r)
		return r;
	return a->line < b->line ? -1 : a->line > b->line;
}

/* Sorting makes this O(n log n): a mapping may have many keys. */
int k8s_map_check_keys(const struct k8s_node *map, unsigned int *line, char *msg,
		       size_t msglen)
{
	const struct k8s_node **keys;
	int ret = 0;

	if (map->n < 2)
		return 0;
	keys = malloc(map->n * sizeof(*keys));
	if (!keys) {
		*line = map->line;
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < map->n; i++)
		keys[i] = k8s_map_key(map, i);
	qsort(keys, map->n, sizeof(*keys), key_cmp);
	for (size_t i = 1; i < map->n; i++) {
		if (keys[i]->len == keys[i - 1]->len &&
		    !memcmp(keys[i]->str, keys[i - 1]->str, keys[i]->len)) {
			char text[65];

			*line = keys[i]->line;
			if (keys[i - 1]->line)
				snprintf(msg, msglen, "mapping key \"%s\" already defined at line %u",
					 k8s_node_text(keys[i], text, sizeof(text)),
					 keys[i - 1]->line);
			else
				snprintf(msg, msglen, "mapping key \"%s\" defined twice",
					 k8s_node_text(keys[i], text, sizeof(text)));
			ret = -EINVAL;
			break;
		}
	}
	free(keys);
	return ret;
}

void k8s_doc_free(struct k8s_doc *d)
{
	struct k8s_node *n = d->all, *next;

	for (; n; n = next) {
		next = n->all_next;
		free(n->str);
		free(n->items);
		free(n->anchor);
		free(n);
	}
	free(d->docs);
	memset(d, 0, sizeof(*d));
}

const struct k8s_node *k8s_map_get(const struct k8s_node *map, const char *key)
{
	size_t klen = strlen(key);

	if (!map || map->type != K8S_NODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++) {
		const struct k8s_node *k = k8s_map_key(map, i);

		if (k->len == klen && !memcmp(k->str, key, klen))
			return k8s_map_val(map, i);
	}
	return NULL;
}

bool k8s_node_is_null(const struct k8s_node *n)
{
	if (!n)
		return true;
	if (n->type != K8S_NODE_SCALAR || !n->plain)
		return false;
	return !n->len || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
	       !strcmp(n->str, "Null") || !strcmp(n->str, "NULL");
}

const char *k8s_node_text(const struct k8s_node *n, char *buf, size_t buflen)
{
	size_t i = 0;

	if (!buflen)
		return buf;
	if (n && n->type == K8S_NODE_SCALAR) {
		for (; i < n->len && i + 1 < buflen; i++) {
			unsigned char ch = (unsigned char)n->str[i];

			buf[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
		}
	}
	buf[i] = '\0';
	return buf;
}
