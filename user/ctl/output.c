// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Where the commands' output ends: a table, or a JSON/YAML document. */
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/output_doc.h"
#include "ctl/output_table.h"

/* Prints the emitter's error, if any. */
int ctl_emit_end(struct ctl *c, struct emit *e)
{
	char err[200];

	if (emit_end(e, err, sizeof(err))) {
		ctl_err(c, "output: %s", err);
		return CTL_FAIL;
	}
	return CTL_OK;
}

struct emit *ctl_emit_begin(struct ctl *c)
{
	struct emit *e = emit_begin(c->output == CTL_OUT_YAML ? EMIT_YAML : EMIT_JSON, stdout);

	if (!e)
		ctl_err(c, "output: out of memory");
	return e;
}

int ctl_table_end(struct ctl *c, struct table *t)
{
	int rc = table_print(t, stdout);

	table_free(t);
	if (rc || fflush(stdout)) {
		ctl_err(c, "output: %s", rc ? strerror(-rc) : "write error");
		return CTL_FAIL;
	}
	return CTL_OK;
}

int ctl_print_message(struct ctl *c, ProtobufCMessage *m)
{
	struct emit *e = ctl_emit_begin(c);

	if (e)
		emit_message(e, m);
	protobuf_c_message_free_unpacked(m, NULL);
	return e ? ctl_emit_end(c, e) : CTL_FAIL;
}
