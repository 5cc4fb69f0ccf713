// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <string.h>

#include "model/explain.h"

static const char *const kind_names[] = {
	"not a service", "existing flow", "reply", "affinity", "source hash",
	"flow hash", "no backend", "reset", "source range", "no local endpoint",
};

const char *xlb_explain_kind_name(enum xlb_explain_kind k)
{
	return (unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k] : "?";
}

const char *xlb_backend_state_name(uint8_t state)
{
	static const char *const names[] = { "free", "active", "terminating" };

	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

int xlb_explain_hook_parse(const char *s, enum xlb_explain_hook *out)
{
	static const char *const names[] = { "xdp", "pod", "socket" };

	for (size_t i = 0; s && i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i])) {
			*out = (enum xlb_explain_hook)i;
			return 0;
		}
	}
	return -EINVAL;
}
