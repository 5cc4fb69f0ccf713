// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Manifests as xlbctl apply reads them (YAML), and as the feeder gets
 * them (JSON): whatever the bytes, a result or a FILE:LINE message, and
 * every service returned passes the model's validation.
 */
#include "fuzz_common.h"
#include "k8s/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xlb_k8s_result r;
	char err[512];

	fuzz_state();	/* quiet logs */
	for (int json = 0; json < 2; json++) {
		int ret = json ? xlb_k8s_parse_json((const char *)data, size, "fuzz", &r, err,
						    sizeof(err))
			       : xlb_k8s_parse((const char *)data, size, "fuzz", &r, err,
					       sizeof(err));

		if (ret) {
			FUZZ_ASSERT(err[0] && !r.n_svcs);
			continue;
		}
		for (size_t i = 0; i < r.n_svcs; i++)
			FUZZ_ASSERT(!xlb_svc_validate(&r.svcs[i], err, sizeof(err)));
		xlb_k8s_result_free(&r);
	}
	return 0;
}
