// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>

#include "api/wire.h"
#include "convert/convert.h"

grpc_byte_buffer *xlb_api_pack(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	grpc_slice s = grpc_slice_malloc(n);
	grpc_byte_buffer *bb;

	protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
	bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

ProtobufCMessage *xlb_api_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *d,
				 char *bad, size_t badlen)
{
	grpc_byte_buffer_reader r;
	ProtobufCMessage *m;
	grpc_slice s;

	if (bad && badlen)
		bad[0] = '\0';
	/* The reader also undoes the peer's compression. */
	if (!bb || !grpc_byte_buffer_reader_init(&r, bb))
		return NULL;
	s = grpc_byte_buffer_reader_readall(&r);
	grpc_byte_buffer_reader_destroy(&r);
	m = protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
	if (m && bad)
		xlb_api_check_wire(d, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s), "", bad,
				   badlen);
	grpc_slice_unref(s);
	return m;
}
