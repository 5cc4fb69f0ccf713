// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* apply and delete: a Kubernetes manifest to one Sync request, so the
 * daemon takes all of it or none. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "convert/convert.h"
#include "ctl/ctl.h"
#include "k8s/manifest.h"

/* Read and parse -f FILE; warnings go to stderr. CTL_OK with *res to free. */
static int read_manifest(struct ctl *c, struct xlb_k8s_result *res)
{
	char err[512] = "";
	size_t len;
	char *buf;
	int rc;

	memset(res, 0, sizeof(*res));
	if (ctl_read_input(c, c->file, &buf, &len))
		return CTL_FAIL;
	rc = xlb_k8s_parse(buf, len, ctl_input_name(c->file), res, err, sizeof(err));
	free(buf);
	if (rc) {
		ctl_err(c, "%s", err[0] ? err : strerror(-rc));
		return CTL_FAIL;
	}
	for (size_t i = 0; i < res->n_warnings; i++)
		ctl_warn(c, "%s", res->warnings[i]);
	return CTL_OK;
}

static void free_upserts(Xlb__V1__SyncRequest *req)
{
	for (size_t i = 0; i < req->n_upserts; i++)
		xlb_api_service_free_pb(req->upserts[i]);
	free(req->upserts);
	req->upserts = NULL;
	req->n_upserts = 0;
}

int do_apply(struct ctl *c)
{
	Xlb__V1__SyncRequest req = XLB__V1__SYNC_REQUEST__INIT;
	Xlb__V1__SyncResponse *resp = NULL;
	struct xlb_k8s_result res;
	int rc = CTL_FAIL;

	if (!c->file)
		return ctl_usage_err(c, "-f FILE is required (- for stdin)");
	if (read_manifest(c, &res))
		return CTL_FAIL;
	/* An empty snapshot is a request to remove everything; without
	 * --snapshot an empty input is most likely the wrong file. */
	if (!res.n_svcs && !c->snapshot) {
		ctl_err(c, "no services in %s", ctl_input_name(c->file));
		goto out;
	}
	req.version = 1;
	req.snapshot = c->snapshot;
	if (res.n_svcs) {
		req.upserts = calloc(res.n_svcs, sizeof(*req.upserts));
		if (!req.upserts) {
			ctl_err(c, "%s", strerror(ENOMEM));
			goto out;
		}
	}
	for (size_t i = 0; i < res.n_svcs; i++) {
		req.upserts[i] = xlb_api_service_to_pb(&res.svcs[i]);
		if (!req.upserts[i]) {
			ctl_err(c, "%s", strerror(ENOMEM));
			goto out;
		}
		req.n_upserts = i + 1;
	}
	if (ctl_sync_send(c, &req, &resp))
		goto out;
	for (size_t i = 0; i < res.n_svcs; i++)
		printf("service/%s configured\n", res.svcs[i].spec.name);
	if (c->snapshot)
		printf("snapshot applied: %u services\n", resp->applied_services);
	rc = fflush(stdout) ? CTL_FAIL : CTL_OK;
out:
	if (resp)
		xlb__v1__sync_response__free_unpacked(resp, NULL);
	free_upserts(&req);
	xlb_k8s_result_free(&res);
	return rc;
}

int do_delete(struct ctl *c)
{
	Xlb__V1__SyncRequest req = XLB__V1__SYNC_REQUEST__INIT;
	Xlb__V1__SyncResponse *resp = NULL;
	struct xlb_k8s_result res = { 0 };
	int rc = CTL_FAIL;
	size_t n;

	if (!c->file == !c->argc)
		return ctl_usage_err(c, c->file ? "give -f FILE or service names, not both"
						: "-f FILE or a service name is required");
	if (c->file) {
		if (read_manifest(c, &res))
			return CTL_FAIL;
		if (!res.n_svcs) {
			ctl_err(c, "no services in %s", ctl_input_name(c->file));
			goto out;
		}
	}
	n = c->file ? res.n_svcs : (size_t)c->argc;
	req.version = 1;
	req.deletes = calloc(n, sizeof(*req.deletes));
	if (!req.deletes) {
		ctl_err(c, "%s", strerror(ENOMEM));
		goto out;
	}
	/* The strings belong to res or argv; only the array is ours. */
	for (size_t i = 0; i < n; i++)
		req.deletes[i] = c->file ? res.svcs[i].spec.name : c->argv[i];
	req.n_deletes = n;
	if (ctl_sync_send(c, &req, &resp))
		goto out;
	for (size_t i = 0; i < n; i++)
		printf("service/%s deleted\n", req.deletes[i]);
	rc = fflush(stdout) ? CTL_FAIL : CTL_OK;
out:
	if (resp)
		xlb__v1__sync_response__free_unpacked(resp, NULL);
	free(req.deletes);
	xlb_k8s_result_free(&res);
	return rc;
}
