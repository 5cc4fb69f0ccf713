// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Backend churn under load (issue 11 item 5): one thread changes a
 * service's backends in a loop while this one sends it new connections.
 * Every SYN must be DNATed to a backend: not one reset, not one drop,
 * whatever update it ran into. Packets are sent until both 100,000 SYNs
 * went out and the other thread made at least 50 updates, so the
 * interleaving is there on any machine, however slow.
 *
 *   drain: the second of three backends toggles terminating <-> active
 *   remove: the second of three backends is removed and added again
 */
#include "xlbtest.h"

#include <pthread.h>
#include <stdatomic.h>

#define VIP	"10.96.0.10"
#define N_SYN	100000
#define MIN_UPDATES 50

enum churn { C_DRAIN, C_REMOVE };

struct churn_case {
	const char *desc;
	enum xlb_algo algo;
	enum churn churn;
};

static const struct churn_case cases[] = {
	{ "drain race, rr: 100k SYNs while a backend toggles terminating/active: 0 resets",
	  XLB_ALGO_RR, C_DRAIN },
	{ "drain race, wrr 1:2:3: 100k SYNs while a backend toggles terminating/active: 0 resets",
	  XLB_ALGO_WRR, C_DRAIN },
	{ "drain race, sh (Maglev): 100k SYNs while a backend toggles terminating/active: 0 resets",
	  XLB_ALGO_SH, C_DRAIN },
	{ "churn, rr: 100k SYNs while a backend is removed and added again: 0 resets",
	  XLB_ALGO_RR, C_REMOVE },
	{ "churn, sh (Maglev): 100k SYNs while a backend is removed and added again: 0 resets",
	  XLB_ALGO_SH, C_REMOVE },
};

struct churner {
	struct xlb_dp *dp;
	struct xlb_service_spec svc;
	struct xlb_backend_spec be[3];
	enum churn churn;
	atomic_bool stop;
	atomic_uint updates;
	int err;
};

static void *churn_thread(void *arg)
{
	struct churner *c = arg;
	cpu_set_t all;
	bool odd = false;

	/* Off the sender's CPU where there is another. */
	if (!sched_getaffinity(0, sizeof(all), &all)) {
		for (int i = 0; i < CPU_SETSIZE; i++)
			if (i != sched_getcpu())
				CPU_SET(i, &all);
		sched_setaffinity(0, sizeof(all), &all);
	}
	while (!atomic_load(&c->stop)) {
		struct xlb_backend_spec be[3];
		size_t n = 3;
		char err[256] = "";
		int ret;

		memcpy(be, c->be, sizeof(be));
		odd = !odd;
		if (c->churn == C_DRAIN) {
			be[1].terminating = odd;
		} else if (odd) {
			be[1] = be[2];
			n = 2;
		}
		ret = xlb_dp_service_set(c->dp, &c->svc, be, n, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "churn: service_set: %s (%d)\n", err, ret);
			c->err = ret;
			break;
		}
		atomic_fetch_add(&c->updates, 1);
	}
	return NULL;
}

static void test_churn(void **state)
{
	const struct churn_case *cc = *state;
	struct xlb_dp *dp = xt_dp_open();
	struct churner c = { .churn = cc->churn };
	struct xt_stats before, after;
	pthread_t th;
	uint8_t in[PKT_MAX];
	struct xt_run r;
	unsigned sent = 0, bad = 0;
	int i;

	assert_non_null(dp);
	c.dp = dp;
	c.svc = xt_svc(VIP, 80, IPPROTO_TCP, cc->algo);
	for (i = 0; i < 3; i++) {
		char a[INET_ADDRSTRLEN];

		snprintf(a, sizeof(a), "10.20.1.%d", i + 1);
		c.be[i] = xt_be(a, 8080, cc->algo == XLB_ALGO_WRR ? (uint32_t)i + 1 : 1);
	}
	XT_SVC_SET(dp, &c.svc, c.be, 3);
	before = xt_stats(dp);
	assert_int_equal(pthread_create(&th, NULL, churn_thread, &c), 0);
	while (sent < N_SYN || (atomic_load(&c.updates) < MIN_UPDATES && !c.err)) {
		char src[INET_ADDRSTRLEN];
		struct pkt_desc d = {
			.eth_dst = MAC_NODE, .eth_src = MAC_CLIENT, .saddr = src, .daddr = VIP,
			.proto = IPPROTO_TCP, .sport = (uint16_t)(1024 + sent % 60000),
			.dport = 80, .tcp_flags = PKT_SYN, .seq = sent, .window = 502,
		};
		size_t len;

		snprintf(src, sizeof(src), "172.%u.%u.%u", 16 + (sent >> 24) % 16,
			 (sent >> 16) & 0xff, (sent / 60000) % 250 + 1);
		len = pkt_build(&d, in, sizeof(in));
		xt_run_raw(dp, in, len, 0, &r);
		if (r.ret || r.verdict != XDP_PASS || r.len != len) {
			if (bad++ < 3)
				print_error("SYN %u from %s:%u: %s\n", sent, src, d.sport,
					    xt_verdict_name(r.verdict));
		}
		sent++;
	}
	atomic_store(&c.stop, true);
	pthread_join(th, NULL);
	after = xt_stats(dp);
	print_message("  %u SYNs during %u updates: %llu new flows, %llu resets, %u not DNATed\n",
		      sent, atomic_load(&c.updates),
		      (unsigned long long)xt_delta(&after, &before, XLB_STAT_CT_NEW),
		      (unsigned long long)xt_delta(&after, &before, XLB_STAT_RST_SENT), bad);
	xlb_dp_close(dp);
	assert_int_equal(c.err, 0);
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_RST_SENT), 0);
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_NO_BACKEND), 0);
	assert_int_equal(xt_delta(&after, &before, XLB_STAT_CT_NEW), sent);
	assert_int_equal(bad, 0);
}

static const char *case_desc(const void *row)
{
	return ((const struct churn_case *)row)->desc;
}

int main(void)
{
	xt_init();
	return xt_run_table("churn: updates under load", test_churn, cases, sizeof(cases[0]),
			    sizeof(cases) / sizeof(cases[0]), case_desc, NULL, NULL, NULL, NULL) ?
		1 : 0;
}
