// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"

enum { EMPTY = 0, USED = 1, DELETED = 2 };

static uint32_t hash_bytes(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h ? h : 1;
}

void xlb_htab_init(struct xlb_htab *h)
{
	memset(h, 0, sizeof(*h));
}

void xlb_htab_fini(struct xlb_htab *h)
{
	free(h->ent);
	memset(h, 0, sizeof(*h));
}

static struct xlb_htab_ent *find(const struct xlb_htab *h, const void *key, size_t klen,
				 uint32_t hash)
{
	if (!h->cap)
		return NULL;
	for (size_t i = hash & (h->cap - 1), n = 0; n < h->cap; i = (i + 1) & (h->cap - 1), n++) {
		struct xlb_htab_ent *e = &h->ent[i];

		if (e->state == EMPTY)
			return NULL;
		if (e->state == USED && e->hash == hash && e->klen == klen &&
		    !memcmp(e->key, key, klen))
			return e;
	}
	return NULL;
}

static int resize(struct xlb_htab *h, size_t cap)
{
	struct xlb_htab_ent *old = h->ent, *ne;
	size_t old_cap = h->cap;

	ne = calloc(cap, sizeof(*ne));
	if (!ne)
		return -ENOMEM;
	h->ent = ne;
	h->cap = cap;
	h->used = h->filled = 0;
	for (size_t i = 0; i < old_cap; i++) {
		struct xlb_htab_ent *e = &old[i];
		size_t j;

		if (e->state != USED)
			continue;
		for (j = e->hash & (cap - 1); ne[j].state != EMPTY; j = (j + 1) & (cap - 1))
			;
		ne[j] = *e;
		h->used++;
		h->filled++;
	}
	free(old);
	return 0;
}

void *xlb_htab_get(const struct xlb_htab *h, const void *key, size_t klen)
{
	struct xlb_htab_ent *e = find(h, key, klen, hash_bytes(key, klen));

	return e ? e->val : NULL;
}

int xlb_htab_put(struct xlb_htab *h, const void *key, size_t klen, void *val)
{
	uint32_t hash = hash_bytes(key, klen);
	struct xlb_htab_ent *e = find(h, key, klen, hash);
	size_t i;

	if (e) {
		e->key = key;
		e->val = val;
		return 0;
	}
	if ((h->filled + 1) * 10 >= h->cap * 7) {
		size_t cap = h->cap ? h->cap : 16;

		while ((h->used + 1) * 10 >= cap * 5)
			cap *= 2;
		if (resize(h, cap))
			return -ENOMEM;
	}
	for (i = hash & (h->cap - 1); h->ent[i].state == USED; i = (i + 1) & (h->cap - 1))
		;
	if (h->ent[i].state == EMPTY)
		h->filled++;
	h->ent[i] = (struct xlb_htab_ent){ .hash = hash, .state = USED, .key = key,
					   .klen = klen, .val = val };
	h->used++;
	return 0;
}

void *xlb_htab_del(struct xlb_htab *h, const void *key, size_t klen)
{
	struct xlb_htab_ent *e = find(h, key, klen, hash_bytes(key, klen));
	void *v;

	if (!e)
		return NULL;
	v = e->val;
	e->state = DELETED;
	e->key = NULL;
	e->val = NULL;
	h->used--;
	return v;
}

void *xlb_htab_next(const struct xlb_htab *h, size_t *pos)
{
	while (*pos < h->cap) {
		struct xlb_htab_ent *e = &h->ent[(*pos)++];

		if (e->state == USED)
			return e->val;
	}
	return NULL;
}
