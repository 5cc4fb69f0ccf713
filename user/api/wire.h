/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Messages on the wire: protobuf-c messages in and out of gRPC byte
 * buffers, for the server and the client alike. */
#ifndef XLB_API_WIRE_H
#define XLB_API_WIRE_H

#include <grpc/byte_buffer.h>
#include <protobuf-c/protobuf-c.h>

/* NULL when out of memory. */
grpc_byte_buffer *xlb_api_pack(const ProtobufCMessage *m);
/* NULL for no buffer or bytes that are not a d (a compressed buffer is
 * inflated first). With bad (the server's requests): a message that
 * unpacks but whose strings are not acceptable (bad UTF-8, a NUL byte:
 * xlb_api_check_wire) is returned with the reason in bad, else bad is "". */
ProtobufCMessage *xlb_api_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *d,
				 char *bad, size_t badlen);

#endif /* XLB_API_WIRE_H */
