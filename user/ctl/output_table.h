/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Aligned text tables for people, as kubectl prints them: a header row in
 * capitals, columns left-aligned and separated by three spaces, no trailing
 * blanks. Cells are copied; an empty cell prints as "-". Widths count UTF-8
 * characters, not bytes.
 */
#ifndef XLB_CTL_OUTPUT_TABLE_H
#define XLB_CTL_OUTPUT_TABLE_H

#include <stddef.h>
#include <stdio.h>

struct table {
	size_t ncols;
	size_t nrows, cap;	/* rows, the header included */
	char **cells;		/* nrows * ncols */
	int err;		/* -ENOMEM seen: print refuses */
};

/* ncols header strings follow. */
void table_init(struct table *t, size_t ncols, ...);
/* ncols cell strings follow (NULL prints as "-"); any more are ignored,
 * so a narrow table and a wide one can share the call. */
void table_row(struct table *t, ...);
/* 0, or -ENOMEM (nothing printed), or -EIO. */
int table_print(const struct table *t, FILE *f);
void table_free(struct table *t);

#endif /* XLB_CTL_OUTPUT_TABLE_H */
