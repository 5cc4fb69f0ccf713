// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* conntrack list / flush: the datapath's flow table. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/output_table.h"

int do_conntrack_list(struct ctl *c)
{
	Xlb__V1__ListConntrackRequest req = XLB__V1__LIST_CONNTRACK_REQUEST__INIT;
	Xlb__V1__ListConntrackResponse *r;
	char sid[12], bid[12], age[24], idle[24];
	struct table t;
	int rc;

	req.limit = c->limit;
	if (ctl_call(c, "ListConntrack", &req.base, &xlb__v1__list_conntrack_response__descriptor,
		     (ProtobufCMessage **)&r))
		return CTL_FAIL;
	if (ctl_structured(c))
		return ctl_print_message(c, &r->base);
	if (!r->n_entries) {
		fprintf(stderr, "No conntrack entries.\n");
		xlb__v1__list_conntrack_response__free_unpacked(r, NULL);
		return CTL_OK;
	}
	table_init(&t, 9, "PROTO", "DIR", "SOURCE", "DESTINATION", "STATE", "SERVICE-ID",
		   "BACKEND-ID", "AGE", "IDLE");
	for (size_t i = 0; i < r->n_entries; i++) {
		const Xlb__V1__ConntrackEntry *ce = r->entries[i];

		snprintf(sid, sizeof(sid), "%u", ce->service_id);
		snprintf(bid, sizeof(bid), "%u", ce->backend_id);
		table_row(&t, ce->protocol, ce->direction, ce->source, ce->destination, ce->state,
			  sid, bid, ctl_fmt_age((int64_t)ce->age_seconds * 1000, age, sizeof(age)),
			  ctl_fmt_age((int64_t)ce->idle_seconds * 1000, idle, sizeof(idle)));
	}
	rc = ctl_table_end(c, &t);
	/* On stderr, so that the table stays a table for scripts. */
	if (r->truncated)
		ctl_warn(c, "%zu entries shown; the table holds more (--limit N)", r->n_entries);
	xlb__v1__list_conntrack_response__free_unpacked(r, NULL);
	return rc;
}

int do_conntrack_flush(struct ctl *c)
{
	Xlb__V1__FlushConntrackRequest req = XLB__V1__FLUSH_CONNTRACK_REQUEST__INIT;
	Xlb__V1__FlushConntrackResponse *r;

	if (ctl_call(c, "FlushConntrack", &req.base,
		     &xlb__v1__flush_conntrack_response__descriptor, (ProtobufCMessage **)&r))
		return CTL_FAIL;
	printf("conntrack: %u entries removed\n", r->removed);
	xlb__v1__flush_conntrack_response__free_unpacked(r, NULL);
	return fflush(stdout) ? CTL_FAIL : CTL_OK;
}
