/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ipsets through libipset (never the ipset binary): a handle that runs
 * ipset commands given as argument vectors, with -exist always on (create,
 * add and del are idempotent), errors returned as messages instead of
 * libipset's default exit(), and `save` output handed back line by line.
 */
#ifndef XLB_IPSET_H
#define XLB_IPSET_H

#include <stddef.h>

struct xlb_ipset;

int xlb_ipset_open(struct xlb_ipset **out, char *err, size_t errlen);
void xlb_ipset_close(struct xlb_ipset *s);

/* Run one command: xlb_ipset_cmd(s, err, errlen, "add", "XLB-CLUSTER-IP",
 * "10.96.0.10,tcp:80", "comment", "lab/web", NULL). err gets
 * "ipset add XLB-CLUSTER-IP 10.96.0.10,tcp:80: <libipset's message>". */
int xlb_ipset_cmd(struct xlb_ipset *s, char *err, size_t errlen, const char *verb, ...)
	__attribute__((sentinel));

/* `save SET`: each output line ("create ...", "add SET ELEM [comment "x"]")
 * to cb; -ENOENT when the set does not exist. */
int xlb_ipset_save(struct xlb_ipset *s, const char *set,
		   int (*cb)(const char *line, void *arg), void *arg, char *err, size_t errlen);

#endif /* XLB_IPSET_H */
