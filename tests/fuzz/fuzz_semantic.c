// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Semantic mutations of a valid UpsertServiceRequest: the input is a
 * program of edits (pick a field, give it a value: boundaries, garbage,
 * another field's text), so that most inputs are well-formed messages
 * whose values are wrong in the ways clients get them wrong. Through the
 * gate with the oracles of fuzz_common.h.
 */
#include "fuzz_common.h"

struct rd {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct rd *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

static uint32_t u32(struct rd *r)
{
	static const uint32_t edge[] = { 0, 1, 80, 65535, 65536, 30000, 32767, 32768, 86400,
					 86401, 0x7fffffff, 0xffffffff };
	uint8_t k = u8(r);

	if (k < 128)
		return edge[k % (sizeof(edge) / sizeof(edge[0]))];
	return (uint32_t)u8(r) | (uint32_t)u8(r) << 8 | (uint32_t)u8(r) << 16 |
	       (uint32_t)u8(r) << 24;
}

/* A string: one of a few that are almost right, or bytes of the input. */
static char *str(struct rd *r, char *buf, size_t len)
{
	static const char *const near[] = { "10.96.0.10", "10.0.0.300", "fd00::1", "", "a/b:c",
					    "10.1.0.1 ", " 10.1.0.1", "0.0.0.0", "255.255.255.255",
					    "/healthz", "no-slash", "caf\xc3\xa9", "\xff\xfe",
					    "ns/svc-1:http" };
	uint8_t k = u8(r);
	size_t n = 0;

	if (k < 160)
		return (char *)near[k % (sizeof(near) / sizeof(near[0]))];
	for (size_t want = u8(r); n < want && n + 1 < len && r->n; n++)
		buf[n] = (char)(u8(r) | 1);	/* protobuf-c would stop at a NUL */
	buf[n] = '\0';
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Xlb__V1__UpsertServiceRequest req = XLB__V1__UPSERT_SERVICE_REQUEST__INIT;
	Xlb__V1__Service svc = XLB__V1__SERVICE__INIT;
	Xlb__V1__HealthCheck hc = XLB__V1__HEALTH_CHECK__INIT;
	Xlb__V1__Endpoint ep[8], *eps[8];
	char sbuf[24][300], *cmd[4] = { "/bin/true", "-x", "", "" };
	struct rd r = { data, size };
	ProtobufCMessage *m;
	unsigned int si = 0;
	uint8_t *buf;
	size_t len;
	char err[512];

	svc.name = "fuzz/web:http";
	svc.cluster_ip = "10.96.0.10";
	svc.port = 80;
	svc.protocol = XLB__V1__PROTOCOL__TCP;
	for (int i = 0; i < 8; i++) {
		xlb__v1__endpoint__init(&ep[i]);
		snprintf(sbuf[16 + i], sizeof(sbuf[0]), "10.1.0.%d", i + 1);
		ep[i].address = sbuf[16 + i];
		ep[i].port = 8080;
		ep[i].ready = ep[i].serving = true;
		eps[i] = &ep[i];
	}
	svc.endpoints = eps;
	svc.n_endpoints = 3;
	req.service = &svc;

	while (r.n && si < 16) {
		Xlb__V1__Endpoint *e = &ep[u8(&r) % 8];

		switch (u8(&r) % 20) {
		case 0: svc.name = str(&r, sbuf[si++], sizeof(sbuf[0])); break;
		case 1: svc.cluster_ip = str(&r, sbuf[si++], sizeof(sbuf[0])); break;
		case 2: svc.port = u32(&r); break;
		case 3: svc.node_port = u32(&r); break;
		case 4: svc.protocol = (Xlb__V1__Protocol)u32(&r); break;
		case 5: svc.type = (Xlb__V1__ServiceType)u32(&r); break;
		case 6: svc.algorithm = (Xlb__V1__Algorithm)u32(&r); break;
		case 7: svc.affinity_timeout_seconds = u32(&r); break;
		case 8: svc.n_endpoints = u8(&r) % 9; break;
		case 9: e->address = str(&r, sbuf[si++], sizeof(sbuf[0])); break;
		case 10: e->port = u32(&r); break;
		case 11: e->weight = u32(&r); e->weight_set = u8(&r) & 1; break;
		case 12: e->ready = u8(&r) & 1; e->serving = u8(&r) & 1; e->terminating = u8(&r) & 1;
			 break;
		case 13: e->name = str(&r, sbuf[si++], sizeof(sbuf[0])); break;
		case 14: svc.health_check = &hc; hc.kind = (Xlb__V1__HealthCheck__Kind)u32(&r); break;
		case 15: hc.http_path = str(&r, sbuf[si++], sizeof(sbuf[0])); break;
		case 16: hc.port = u32(&r); hc.period_ms = u32(&r); hc.timeout_ms = u32(&r); break;
		case 17: hc.success_threshold = u32(&r); hc.failure_threshold = u32(&r);
			 hc.initial_delay_ms = u32(&r); break;
		case 18: hc.n_command = u8(&r) % 5; hc.command = cmd;
			 cmd[u8(&r) % 4] = str(&r, sbuf[si++], sizeof(sbuf[0])); break;
		case 19: hc.http_host = str(&r, sbuf[si++], sizeof(sbuf[0])); break;
		}
	}
	if (hc.n_command > 4)
		hc.n_command = 4;
	len = protobuf_c_message_get_packed_size(&req.base);
	buf = malloc(len ? len : 1);
	FUZZ_ASSERT(buf);
	protobuf_c_message_pack(&req.base, buf);
	m = protobuf_c_message_unpack(&xlb__v1__upsert_service_request__descriptor, NULL, len, buf);
	if (m && !xlb_api_check_wire(m->descriptor, buf, len, "", err, sizeof(err)))
		fuzz_service(((Xlb__V1__UpsertServiceRequest *)m)->service, "service");
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	free(buf);
	return 0;
}
