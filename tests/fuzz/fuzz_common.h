/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the fuzz targets share: a request through the daemon's gate as the
 * API server passes it (protobuf-c unpack, then every string checked on
 * the wire, then the conversion to the model), with oracles that fail
 * loudly (abort: libFuzzer keeps the input):
 *  - a service the gate accepts passes the model's own validation, and
 *    comes back equal from model -> protobuf -> wire -> model;
 *  - applying it to a state either stores exactly it (one version up)
 *    or changes nothing.
 */
#ifndef XLB_FUZZ_COMMON_H
#define XLB_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/convert.h"
#include "model/state.h"
#include "log.h"

#define FUZZ_ASSERT(c)                                                                     \
	do {                                                                               \
		if (!(c)) {                                                                \
			fprintf(stderr, "fuzz: %s:%d: %s\n", __FILE__, __LINE__, #c);      \
			abort();                                                           \
		}                                                                          \
	} while (0)

static struct xlb_state *fuzz_state(void)
{
	static struct xlb_state *st;

	if (!st) {
		xlb_log_set_level(XLB_LOG_ERROR);
		st = xlb_state_new();
		FUZZ_ASSERT(st);
	}
	return st;
}

/* A service out of the gate: the oracles, then into the state. */
static void fuzz_service(const Xlb__V1__Service *pb, const char *at)
{
	struct xlb_svc_desired s, back;
	Xlb__V1__Service *again, *un;
	struct xlb_state *st = fuzz_state();
	size_t count = xlb_state_count(st);
	uint64_t version = xlb_state_version(st);
	char err[512];
	uint8_t *buf;
	size_t len;

	if (xlb_api_service_from_pb_at(pb, at, &s, err, sizeof(err))) {
		FUZZ_ASSERT(err[0]);	/* a refusal always says why */
		return;
	}
	FUZZ_ASSERT(!xlb_svc_validate(&s, err, sizeof(err)));
	again = xlb_api_service_to_pb(&s);
	FUZZ_ASSERT(again);
	len = protobuf_c_message_get_packed_size(&again->base);
	buf = malloc(len ? len : 1);
	FUZZ_ASSERT(buf);
	protobuf_c_message_pack(&again->base, buf);
	FUZZ_ASSERT(!xlb_api_check_wire(&xlb__v1__service__descriptor, buf, len, "", err,
					sizeof(err)));
	un = xlb__v1__service__unpack(NULL, len, buf);
	FUZZ_ASSERT(un);
	FUZZ_ASSERT(!xlb_api_service_from_pb_at(un, at, &back, err, sizeof(err)));
	FUZZ_ASSERT(xlb_svc_equal(&s, &back));
	xlb_svc_free(&back);
	xlb__v1__service__free_unpacked(un, NULL);
	xlb_api_service_free_pb(again);
	free(buf);

	if (xlb_state_upsert(st, &s, err, sizeof(err))) {
		/* refused whole: nothing changed */
		FUZZ_ASSERT(xlb_state_count(st) == count && xlb_state_version(st) == version);
	} else {
		const struct xlb_svc_desired *in = xlb_state_get(st, s.spec.name);

		FUZZ_ASSERT(in && xlb_svc_equal(in, &s) && xlb_state_version(st) == version + 1);
	}
	if (xlb_state_count(st) > 256)
		xlb_state_clear(st);
	xlb_svc_free(&s);
}

#endif /* XLB_FUZZ_COMMON_H */
