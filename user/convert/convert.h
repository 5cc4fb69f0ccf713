/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * protobuf (xlb.v1) <-> model (struct xlb_svc_desired and friends).
 *
 * The _from_pb direction is the gate for untrusted input: protobuf-c checks
 * neither UTF-8 nor enum values nor ranges, so everything is checked here
 * before the model sees it, and every message names the field path as the
 * client wrote it: "service.endpoints[3].port out of range: 0". The path
 * starts with `at` ("service" when NULL). Then xlb_svc_validate runs, whose
 * message gets the same prefix.
 *
 * Returns 0, -EINVAL (bad field), -E2BIG (too many endpoints) or -ENOMEM.
 * On error nothing is left allocated.
 *
 * The _to_pb direction builds a tree of malloc'd messages; free it with
 * protobuf_c_message_free_unpacked(&pb->base, NULL) (what the _free
 * helpers below do). NULL on allocation failure.
 */
#ifndef XLB_CONVERT_H
#define XLB_CONVERT_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>
#include "xlb.pb-c.h"

#include "model/state.h"

int xlb_api_service_from_pb(const Xlb__V1__Service *pb, struct xlb_svc_desired *out,
			    char *err, size_t errlen);
int xlb_api_service_from_pb_at(const Xlb__V1__Service *pb, const char *at,
			       struct xlb_svc_desired *out, char *err, size_t errlen);

/* A list of endpoints on its own (SetEndpoints): the checks that need no
 * service (address, port, weight, name, duplicates, count). *out is
 * malloc'd (NULL when n is 0). at: e.g. "endpoints". */
int xlb_api_endpoints_from_pb(Xlb__V1__Endpoint *const *pb, size_t n, const char *at,
			      struct xlb_endpoint **out, char *err, size_t errlen);
/* A Node (SyncRequest.node): name 1 to 127 bytes, zone up to 63, at most
 * XLB_NODE_MAX_ADDRS IP literals. at: e.g. "node". */
int xlb_api_node_from_pb(const Xlb__V1__Node *pb, const char *at, struct xlb_node_info *out,
			 char *err, size_t errlen);
/* NULL on allocation failure. */
Xlb__V1__Node *xlb_api_node_to_pb(const struct xlb_node_info *n);

/* pb NULL: no health check. at: e.g. "service.health_check". */
int xlb_api_health_from_pb(const Xlb__V1__HealthCheck *pb, const char *at,
			   struct xlb_health_spec *out, char *err, size_t errlen);

Xlb__V1__Service *xlb_api_service_to_pb(const struct xlb_svc_desired *s);
void xlb_api_service_free_pb(Xlb__V1__Service *pb);
Xlb__V1__Endpoint *xlb_api_endpoint_to_pb(const struct xlb_endpoint *e);
void xlb_api_endpoint_free_pb(Xlb__V1__Endpoint *pb);
/* NULL when the spec is all zero (no health check). */
Xlb__V1__HealthCheck *xlb_api_health_to_pb(const struct xlb_health_spec *hc);

/* One message already packed (protobuf_c_message_pack), as a part of a
 * larger one. */
struct xlb_pb_packed {
	uint8_t *buf;
	size_t len;
};

/* A SyncRequest's wire bytes from req (version, snapshot, deletes; its
 * upserts are not read) and n_up services packed one at a time, appended
 * as more elements of req's upserts: what protobuf_c_message_pack would
 * write with them in req, without a message tree of all of them at once.
 * *out is malloc'd. 0 or -ENOMEM. */
int xlb_pb_sync_request_pack(const Xlb__V1__SyncRequest *req, const struct xlb_pb_packed *up,
			     size_t n_up, uint8_t **out, size_t *len);

/* Every string field in the wire bytes of a message of type d (nested,
 * repeated, oneof, map), checked after protobuf_c_message_unpack accepted
 * them: valid UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF) and no NUL byte, which protobuf-c's C strings would
 * silently cut off ("r/x\0-suffix" stored as "r/x"). Only the wire knows a
 * string's length, so this reads the bytes, not the unpacked message.
 * -EINVAL with "service.endpoints[2].name: NUL byte at byte 3"; `at` is the
 * root's name ("" for none). */
int xlb_api_check_wire(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
		       const char *at, char *err, size_t errlen);
bool xlb_utf8_valid(const char *s, size_t len, size_t *bad_at);
/* For what we send: replace each byte of a bad sequence with '?', in
 * place, in one string or in every string of a tree we built (strings
 * must be writable unless already valid). */
void xlb_api_fix_utf8(char *s);
void xlb_api_sanitize_utf8(ProtobufCMessage *m);

/* "10.0.0.1:80" (or "[fd00::1]:80"); buf at least XLB_IP_STRLEN + 8. */
const char *xlb_api_endpoint_str(const struct xlb_endpoint *e, char *buf, size_t len);

/* Copy a model string (a fixed buffer, maybe full: at most cap bytes) into
 * a message field; an empty one keeps the field's default. false on
 * ENOMEM. */
bool xlb_pb_set_str(char **dst, const char *src, size_t cap);
/* n such strings, rows of `width` bytes from `rows` (a char[N][width]),
 * into a repeated field (*n_dst counts those copied, for the message's
 * free). false on ENOMEM. */
bool xlb_pb_set_strs(char ***dst, size_t *n_dst, const char *rows, size_t width, size_t n);

#endif /* XLB_CONVERT_H */
