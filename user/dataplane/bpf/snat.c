// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Expiry of the SNAT maps (snat.h). */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <bpf/bpf.h>

#include "dataplane/bpf/snat.h"

uint8_t xlb_snat_state(const struct xlb_snat4_val *fwd, const struct xlb_snat4_val *rev)
{
	uint8_t f = fwd->flags, r = rev ? rev->flags : 0;

	if ((f | r) & XLB_SNAT_F_RST)
		return XLB_CT_CLOSED;
	if (f & r & XLB_SNAT_F_FIN)
		return XLB_CT_CLOSED;
	if ((f | r) & XLB_SNAT_F_FIN)
		return XLB_CT_CLOSING;
	if ((r & XLB_SNAT_F_SEEN_REPLY) && (f & XLB_SNAT_F_ACKED))
		return XLB_CT_ESTABLISHED;
	return XLB_CT_NEW;
}

static void rev_key(struct xlb_snat4_key *rk, const struct xlb_snat4_key *fk,
		    const struct xlb_snat4_val *fv)
{
	*rk = (struct xlb_snat4_key){
		.saddr = fk->daddr, .daddr = fv->addr,
		.sport = fk->dport, .dport = fv->port, .proto = fk->proto,
	};
}

/* Walk a map, calling judge on each entry; the next key is read before an
 * entry may go, so deleting does not restart the walk. */
static int walk(int fd, int (*judge)(const struct xlb_snat4_key *k, void *arg), void *arg)
{
	struct xlb_snat4_key k, next;
	bool have = !bpf_map_get_next_key(fd, NULL, &k);

	while (have) {
		int ret;

		have = !bpf_map_get_next_key(fd, &k, &next);
		ret = judge(&k, arg);
		if (ret < 0)
			return ret;
		k = next;
	}
	return 0;
}

struct gc {
	int fwd_fd, rev_fd;
	const struct xlb_ct_timeouts *t;
	uint32_t now, removed;
};

static uint32_t idle_of(uint32_t now, uint32_t last)
{
	return now > last ? now - last : 0;
}

static int judge_fwd(const struct xlb_snat4_key *k, void *arg)
{
	struct gc *g = arg;
	struct xlb_snat4_val fv, rv;
	struct xlb_snat4_key rk;
	uint32_t last;
	bool have_rev;

	if (bpf_map_lookup_elem(g->fwd_fd, k, &fv))
		return 0;	/* gone meanwhile */
	rev_key(&rk, k, &fv);
	have_rev = !bpf_map_lookup_elem(g->rev_fd, &rk, &rv) && rv.addr == k->saddr &&
		   rv.port == k->sport;
	last = fv.last_seen;
	if (have_rev && rv.last_seen > last)
		last = rv.last_seen;
	if (!xlb_ct_expired(g->t, k->proto, xlb_snat_state(&fv, have_rev ? &rv : NULL),
			    idle_of(g->now, last)))
		return 0;
	/* Forward first: a packet of the flow arriving in between makes a
	 * new mapping rather than finding half of the old one. */
	if (bpf_map_delete_elem(g->fwd_fd, k) && errno != ENOENT)
		return -errno;
	if (have_rev && bpf_map_delete_elem(g->rev_fd, &rk) && errno != ENOENT)
		return -errno;
	g->removed++;
	return 0;
}

static int judge_rev(const struct xlb_snat4_key *rk, void *arg)
{
	struct gc *g = arg;
	struct xlb_snat4_val rv, fv;
	struct xlb_snat4_key fk;

	if (bpf_map_lookup_elem(g->rev_fd, rk, &rv) || idle_of(g->now, rv.created) < 2)
		return 0;
	fk = (struct xlb_snat4_key){
		.saddr = rv.addr, .daddr = rk->saddr,
		.sport = rv.port, .dport = rk->sport, .proto = rk->proto,
	};
	if (!bpf_map_lookup_elem(g->fwd_fd, &fk, &fv) && fv.addr == rk->daddr &&
	    fv.port == rk->dport)
		return 0;
	if (bpf_map_delete_elem(g->rev_fd, rk) && errno != ENOENT)
		return -errno;
	return 0;
}

int xlb_snat_expire(int fwd_fd, int rev_fd, const struct xlb_ct_timeouts *t, uint32_t now,
		    uint32_t *removed)
{
	struct gc g = { .fwd_fd = fwd_fd, .rev_fd = rev_fd, .t = t, .now = now };
	int ret = walk(fwd_fd, judge_fwd, &g);

	if (!ret)
		ret = walk(rev_fd, judge_rev, &g);
	if (removed)
		*removed = g.removed;
	return ret;
}
