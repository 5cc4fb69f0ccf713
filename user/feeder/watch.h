/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * List + watch of API resources, as client-go's reflector does it, on one
 * libcurl multi handle (one thread, no blocking):
 *
 *   list (paged: limit, continue) -> every item to ops->object(ADDED),
 *   then ops->list_end (objects not seen since ops->list_begin are gone);
 *   watch from the list's resourceVersion with allowWatchBookmarks, each
 *   event to ops->object, BOOKMARKs only move the resourceVersion on;
 *   a watch that ends or breaks is resumed from the last resourceVersion;
 *   410 Gone (an ERROR event, or a 410 answer) -> list again;
 *   any failure -> the same request again after an exponential backoff
 *   with jitter (200 ms doubling to 30 s; reset by a success).
 *
 * Memory stays bounded: a list comes in pages of XLB_KUBE_PAGE objects and
 * a page or an event larger than XLB_KUBE_MAX_BODY fails the request.
 */
#ifndef XLB_FEEDER_WATCH_H
#define XLB_FEEDER_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feeder/kubeconf.h"

#define XLB_KUBE_PAGE 500
#define XLB_KUBE_MAX_BODY (64u << 20)

enum xlb_kube_ev {
	XLB_KUBE_ADDED,
	XLB_KUBE_MODIFIED,
	XLB_KUBE_DELETED,
	XLB_KUBE_BOOKMARK,
	XLB_KUBE_ERROR,
	XLB_KUBE_N_EV,
};

extern const char *const xlb_kube_ev_name[XLB_KUBE_N_EV];

struct xlb_kube_ops {
	void (*list_begin)(void *arg);
	/* obj is a json_t * (jansson), valid during the call. */
	void (*object)(void *arg, enum xlb_kube_ev ev, const void *obj);
	void (*list_end)(void *arg);
};

/* What metrics show about one watched resource. */
struct xlb_kube_stats {
	uint64_t events[XLB_KUBE_N_EV];
	uint64_t lists, relists, errors;
	uint64_t last_ms;	/* monotonic time of the last event or bookmark, 0: none */
	bool synced;		/* listed once at least */
};

struct xlb_kube;
struct xlb_kube_watch;

int xlb_kube_new(const struct xlb_kube_conf *conf, struct xlb_kube **out, char *err,
		 size_t errlen);
void xlb_kube_free(struct xlb_kube *k);

/* path: "/api/v1/services"; field_selector may be NULL. Starts at once. */
int xlb_kube_watch(struct xlb_kube *k, const char *name, const char *path,
		   const char *field_selector, const struct xlb_kube_ops *ops, void *arg,
		   struct xlb_kube_watch **out);
const struct xlb_kube_stats *xlb_kube_watch_stats(const struct xlb_kube_watch *w);
const char *xlb_kube_watch_name(const struct xlb_kube_watch *w);

/* Run transfers for at most timeout_ms (less when something happens);
 * callbacks are called from here. 0 or -errno. */
int xlb_kube_poll(struct xlb_kube *k, int timeout_ms);
/* Wake a poll in progress (from another thread). */
void xlb_kube_wakeup(struct xlb_kube *k);

#endif /* XLB_FEEDER_WATCH_H */
