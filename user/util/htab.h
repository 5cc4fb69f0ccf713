/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A small open-addressing hash table. Keys are byte strings owned by the
 * caller (usually inside the value) and must outlive their entry. */
#ifndef XLB_HTAB_H
#define XLB_HTAB_H

#include <stddef.h>
#include <stdint.h>

struct xlb_htab_ent {
	uint32_t hash;
	uint32_t state;		/* 0 empty, 1 used, 2 deleted */
	const void *key;
	size_t klen;
	void *val;
};

struct xlb_htab {
	struct xlb_htab_ent *ent;
	size_t cap;		/* power of two */
	size_t used;		/* live entries */
	size_t filled;		/* live + deleted */
};

void xlb_htab_init(struct xlb_htab *h);
void xlb_htab_fini(struct xlb_htab *h);
void *xlb_htab_get(const struct xlb_htab *h, const void *key, size_t klen);
/* Insert or replace; 0 or -ENOMEM. */
int xlb_htab_put(struct xlb_htab *h, const void *key, size_t klen, void *val);
/* Returns the removed value or NULL. */
void *xlb_htab_del(struct xlb_htab *h, const void *key, size_t klen);
/* Iterate: *pos starts at 0; returns the next value or NULL at the end. */
void *xlb_htab_next(const struct xlb_htab *h, size_t *pos);

#endif /* XLB_HTAB_H */
