// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Random bytes as API requests: the first byte picks the message type
 * (every request the server unpacks, and the state file's payload), the
 * rest is the message. Through the gate as the server runs it (see
 * fuzz_common.h); the request handlers' conversions with their oracles.
 */
#include "fuzz_common.h"

static const ProtobufCMessageDescriptor *const descs[] = {
	&xlb__v1__upsert_service_request__descriptor,
	&xlb__v1__set_endpoints_request__descriptor,
	&xlb__v1__sync_request__descriptor,
	&xlb__v1__restore_request__descriptor,
	&xlb__v1__delete_service_request__descriptor,
	&xlb__v1__list_services_request__descriptor,
	&xlb__v1__explain_request__descriptor,
	&xlb__v1__backup_response__descriptor,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCMessageDescriptor *d;
	ProtobufCMessage *m;
	char err[512], at[48];

	if (!size)
		return 0;
	d = descs[data[0] % (sizeof(descs) / sizeof(descs[0]))];
	m = protobuf_c_message_unpack(d, NULL, size - 1, data + 1);
	if (!m)
		return 0;
	if (xlb_api_check_wire(d, data + 1, size - 1, "", err, sizeof(err))) {
		FUZZ_ASSERT(err[0]);
		goto out;
	}
	if (d == &xlb__v1__upsert_service_request__descriptor) {
		const Xlb__V1__UpsertServiceRequest *r = (const void *)m;

		fuzz_service(r->service, "service");
	} else if (d == &xlb__v1__set_endpoints_request__descriptor) {
		const Xlb__V1__SetEndpointsRequest *r = (const void *)m;
		struct xlb_endpoint *ep = NULL;

		if (!xlb_api_endpoints_from_pb(r->endpoints, r->n_endpoints, "endpoints", &ep, err,
					       sizeof(err)))
			free(ep);
		else
			FUZZ_ASSERT(!ep && err[0]);
	} else if (d == &xlb__v1__sync_request__descriptor) {
		const Xlb__V1__SyncRequest *r = (const void *)m;

		for (size_t i = 0; i < r->n_upserts; i++) {
			snprintf(at, sizeof(at), "upserts[%zu]", i);
			fuzz_service(r->upserts[i], at);
		}
	} else if (d == &xlb__v1__restore_request__descriptor) {
		const Xlb__V1__RestoreRequest *r = (const void *)m;

		for (size_t i = 0; i < r->n_services; i++) {
			snprintf(at, sizeof(at), "services[%zu]", i);
			fuzz_service(r->services[i], at);
		}
	} else if (d == &xlb__v1__backup_response__descriptor) {
		const Xlb__V1__BackupResponse *r = (const void *)m;

		for (size_t i = 0; i < r->n_services; i++)
			fuzz_service(r->services[i], "services[]");
	}
out:
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}
