// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* One object at a time (object.h): the converters of service.c and slice.c
 * with a message context of their own. */
#include <string.h>

#include "k8s/k8s_priv.h"
#include "k8s/object.h"

static void ctx_init(struct k8s_ctx *c, struct xlb_k8s_result *msgs, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->err = err;
	c->errlen = errlen;
	c->out = msgs;
	if (err && errlen)
		err[0] = '\0';
}

static int want_object(struct k8s_ctx *c, const struct k8s_node *obj)
{
	if (!obj || obj->type != K8S_NODE_MAP)
		return k8s_fail(c, obj ? obj->line : 0, "object is not a mapping");
	return 0;
}

int xlb_k8s_service_from(const struct k8s_node *obj, const struct xlb_k8s_opts *opts,
			 struct xlb_k8s_service **out, struct xlb_k8s_result *msgs, char *err,
			 size_t errlen)
{
	struct k8s_ctx c;
	int ret;

	*out = NULL;
	ctx_init(&c, msgs, err, errlen);
	c.opts = opts;
	ret = want_object(&c, obj);
	return ret ? ret : k8s_service(&c, obj, out);
}

int xlb_k8s_slice_from(const struct k8s_node *obj, struct xlb_k8s_slice **out,
		       struct xlb_k8s_result *msgs, char *err, size_t errlen)
{
	struct k8s_ctx c;
	int ret;

	*out = NULL;
	ctx_init(&c, msgs, err, errlen);
	ret = want_object(&c, obj);
	return ret ? ret : k8s_slice(&c, obj, out);
}

void xlb_k8s_service_free(struct xlb_k8s_service *o)
{
	k8s_service_free(o);
}

void xlb_k8s_slice_free(struct xlb_k8s_slice *sl)
{
	k8s_slice_free(sl);
}

const char *xlb_k8s_service_key(const struct xlb_k8s_service *o)
{
	return o->key;
}

size_t xlb_k8s_service_ports(const struct xlb_k8s_service *o)
{
	return o->n_ports;
}

const char *xlb_k8s_slice_key(const struct xlb_k8s_slice *sl)
{
	return sl->key;
}

const char *xlb_k8s_slice_service(const struct xlb_k8s_slice *sl)
{
	return sl->svc;
}

size_t xlb_k8s_slice_endpoints(const struct xlb_k8s_slice *sl)
{
	return sl->n_ep;
}

int xlb_k8s_join(const struct xlb_k8s_service *o, struct xlb_k8s_slice *const *slices, size_t n,
		 struct xlb_svc_desired *out, struct xlb_k8s_result *msgs, char *err,
		 size_t errlen)
{
	struct k8s_ctx c;

	ctx_init(&c, msgs, err, errlen);
	return k8s_join(&c, o, slices, n, out);
}
