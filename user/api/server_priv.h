/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Between the gRPC plumbing (server.c) and the handlers (handlers.c): the
 * handlers know protobuf and core.h, not gRPC; server.c knows gRPC, not
 * the core.
 */
#ifndef XLB_API_SERVER_PRIV_H
#define XLB_API_SERVER_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>
#include "xlb.pb-c.h"

#include "core/core.h"

struct xlb_api_ctx {
	struct xlb_core *core;
	const char *version;
};

enum xlb_api_shape {
	XLB_API_UNARY,
	XLB_API_SERVER_STREAM,	/* Watch */
	XLB_API_BIDI,		/* Sync */
};

/* A unary handler: a gRPC status code (0 = OK). On OK *resp is a new
 * message tree (free with protobuf_c_message_free_unpacked); otherwise err
 * holds the message for the client. */
typedef int (*xlb_api_unary_fn)(const struct xlb_api_ctx *ctx, const ProtobufCMessage *req,
				ProtobufCMessage **resp, char *err, size_t errlen);

struct xlb_api_method {
	const char *name;		/* as in the proto: "UpsertService" */
	enum xlb_api_shape shape;
	const ProtobufCMessageDescriptor *req;
	xlb_api_unary_fn unary;		/* NULL for the streams */
	/* Changes state (needs the write role; runs on a writer thread,
	 * which may wait for the disk): UpsertService, Sync, Restore... */
	bool write;
};

extern const struct xlb_api_method xlb_api_methods[];
extern const size_t xlb_api_n_methods;

/* Core errno -> gRPC status code. */
int xlb_api_status_of(int rc);

/* One SyncRequest: converted, checked and applied with xlb_core_apply
 * (which returns once the datapath has it). Fills resp (error is malloc'd
 * when set; free with xlb_api_sync_response_clear). last_version: the
 * previous request's version on this stream, or NULL for the first. */
void xlb_api_sync_handle(const struct xlb_api_ctx *ctx, const Xlb__V1__SyncRequest *req,
			 const uint64_t *last_version, Xlb__V1__SyncResponse *resp);
void xlb_api_sync_response_clear(Xlb__V1__SyncResponse *resp);

/* An event, packed as xlb.v1.Event into a malloc'd buffer (strings made
 * valid UTF-8). 0 or -ENOMEM. */
int xlb_api_event_pack(const struct xlb_event *e, uint8_t **buf, size_t *len);

#endif /* XLB_API_SERVER_PRIV_H */
