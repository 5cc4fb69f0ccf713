// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <netinet/in.h>
#include <xlb/abi.h>

#include "conntrack.h"

const struct xlb_ct_timeouts xlb_ct_default_timeouts = {
	.tcp_syn = 60,
	.tcp_est = 6 * 3600,
	.tcp_closing = 120,
	.tcp_closed = 10,
	.udp = 120,
};

uint32_t xlb_ct_lifetime(const struct xlb_ct_timeouts *t, uint8_t proto, uint8_t state)
{
	if (proto != IPPROTO_TCP)
		return t->udp;
	switch (state) {
	case XLB_CT_NEW:
		return t->tcp_syn;
	case XLB_CT_ESTABLISHED:
		return t->tcp_est;
	case XLB_CT_CLOSING:
		return t->tcp_closing;
	default:
		return t->tcp_closed;
	}
}

bool xlb_ct_expired(const struct xlb_ct_timeouts *t, uint8_t proto, uint8_t state, uint32_t idle)
{
	return idle > xlb_ct_lifetime(t, proto, state);
}
