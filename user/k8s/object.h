/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The manifest reader's rules (manifest.h) one object at a time, for a
 * controller that keeps its own cache of Services and EndpointSlices
 * (xlb-k8s): convert each object when it changes, join a Service with its
 * slices when it must be sent.
 *
 * Objects are document trees (doctree.h) as the API server sends them;
 * kind and apiVersion are not needed (list items lack them). Messages have
 * no file prefix: "Service default/web: spec.ports[0].port: required".
 * Warnings (objects or fields skipped) are appended to msgs->warnings.
 */
#ifndef XLB_K8S_OBJECT_H
#define XLB_K8S_OBJECT_H

#include <stddef.h>

#include "k8s/doctree.h"
#include "k8s/manifest.h"

struct xlb_k8s_service;		/* a Service's ports, without endpoints */
struct xlb_k8s_slice;		/* an EndpointSlice's ports and endpoints */

/* 0 and *out; 0 and *out NULL when xlb does not serve the object (the
 * reason in a warning); or -EINVAL / -ENOMEM with err. opts may be NULL. */
int xlb_k8s_service_from(const struct k8s_node *obj, const struct xlb_k8s_opts *opts,
			 struct xlb_k8s_service **out, struct xlb_k8s_result *msgs, char *err,
			 size_t errlen);
int xlb_k8s_slice_from(const struct k8s_node *obj, struct xlb_k8s_slice **out,
		       struct xlb_k8s_result *msgs, char *err, size_t errlen);
void xlb_k8s_service_free(struct xlb_k8s_service *o);
void xlb_k8s_slice_free(struct xlb_k8s_slice *sl);

const char *xlb_k8s_service_key(const struct xlb_k8s_service *o);	/* "NS/NAME" */
size_t xlb_k8s_service_ports(const struct xlb_k8s_service *o);
const char *xlb_k8s_slice_key(const struct xlb_k8s_slice *sl);	/* "NS/NAME" */
const char *xlb_k8s_slice_service(const struct xlb_k8s_slice *sl);	/* "NS/SERVICE" */
size_t xlb_k8s_slice_endpoints(const struct xlb_k8s_slice *sl);

/* The Service's xlb services, one per port into out[0..xlb_k8s_service_ports),
 * with the endpoints of slices[0..n) (pass them in a stable order: an
 * address in two slices keeps the first one's place), each validated by
 * the model. 0, or -EINVAL / -ENOMEM with err and nothing in out. Free each
 * with xlb_svc_free(). */
int xlb_k8s_join(const struct xlb_k8s_service *o, struct xlb_k8s_slice *const *slices, size_t n,
		 struct xlb_svc_desired *out, struct xlb_k8s_result *msgs, char *err,
		 size_t errlen);

#endif /* XLB_K8S_OBJECT_H */
