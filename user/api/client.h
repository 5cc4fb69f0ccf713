/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A small blocking client for xlbd's gRPC API (xlb.v1.Xlb), on the gRPC
 * core C API. Made for xlbctl: one thread uses one client at a time.
 *
 * Return values: every call returns a gRPC status code (grpc_status_code,
 * 0 = OK). Failures on this side use the same codes: UNAVAILABLE when the
 * daemon cannot be reached, DEADLINE_EXCEEDED on timeout, INTERNAL when a
 * message cannot be packed or the reply cannot be unpacked. err always gets
 * the server's message (or ours), e.g. "service.endpoints[3].port out of
 * range: 0". Use xlb_api_code_name() for "NOT_FOUND" and so on.
 *
 * Responses are protobuf-c messages owned by the caller:
 * protobuf_c_message_free_unpacked(resp, NULL).
 */
#ifndef XLB_API_CLIENT_H
#define XLB_API_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>
#include "xlb.pb-c.h"

#define XLB_API_DEFAULT_TARGET "unix:/run/xlb/xlbd.sock"
#define XLB_API_DEFAULT_TIMEOUT_MS 10000

/* TLS for a TCP target ("host:port"). NULL tls: insecure, which is only
 * meant for unix: targets (the daemon refuses TCP without TLS). */
struct xlb_api_client_tls {
	const char *ca_file;		/* PEM roots that verify the server; NULL: system roots */
	const char *cert_file;		/* client certificate chain (PEM), optional, with key_file */
	const char *key_file;		/* client private key (PEM) */
	const char *server_name;	/* expected name in the server certificate; NULL: the target host */
};

struct xlb_api_client;
struct xlb_api_sync;

/* target: "unix:/path", "unix:///path" or "host:port". Does not connect
 * yet (the first call does). 0 or a negative errno with err set. */
int xlb_api_client_open(const char *target, const struct xlb_api_client_tls *tls,
			struct xlb_api_client **out, char *err, size_t errlen);
void xlb_api_client_close(struct xlb_api_client *c);
/* Per-call deadline; <= 0 restores XLB_API_DEFAULT_TIMEOUT_MS. */
void xlb_api_client_set_timeout(struct xlb_api_client *c, int timeout_ms);

/* A unary call. method: "UpsertService" (service xlb.v1.Xlb is implied) or
 * a full path "/xlb.v1.Xlb/UpsertService". On OK *resp is the unpacked
 * reply of type resp_desc; otherwise *resp is NULL. */
int xlb_api_call(struct xlb_api_client *c, const char *method,
		 const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
		 ProtobufCMessage **resp, char *err, size_t errlen);

/* The Sync stream. Open once, then send requests one at a time: each send
 * waits for the SyncResponse of that request (resp->ok false with
 * resp->error when the daemon rejected it; the stream goes on). A non-OK
 * return means the stream is over; close it. The per-call timeout applies
 * to each send, not to the whole stream. */
int xlb_api_sync_open(struct xlb_api_client *c, struct xlb_api_sync **out,
		      char *err, size_t errlen);
int xlb_api_sync_send(struct xlb_api_sync *s, const Xlb__V1__SyncRequest *req,
		      Xlb__V1__SyncResponse **resp, char *err, size_t errlen);
/* The same with the request already encoded (a SyncRequest's len bytes,
 * malloc'd: taken over and freed), for a controller that packs services
 * one at a time instead of holding a whole snapshot's message tree. */
int xlb_api_sync_send_wire(struct xlb_api_sync *s, void *wire, size_t len,
			   Xlb__V1__SyncResponse **resp, char *err, size_t errlen);
/* Half-closes, waits for the final status, frees. */
void xlb_api_sync_close(struct xlb_api_sync *s);
/* Open, send one request, wait for its answer, close. */
int xlb_api_sync_once(struct xlb_api_client *c, const Xlb__V1__SyncRequest *req,
		      Xlb__V1__SyncResponse **resp, char *err, size_t errlen);

/* The Watch stream, with no deadline: cb gets each event (owned by the
 * library, valid during the call) until it returns non-zero (then the call
 * is cancelled and OK returned) or the stream ends (its status returned). */
int xlb_api_watch(struct xlb_api_client *c,
		  int (*cb)(const Xlb__V1__Event *ev, void *arg), void *arg,
		  char *err, size_t errlen);

/* "OK", "INVALID_ARGUMENT", ... ; "UNKNOWN(n)" style codes give "UNKNOWN". */
const char *xlb_api_code_name(int code);

#endif /* XLB_API_CLIENT_H */
