// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The kernel/user ABI, pinned. Pinned maps outlive the programs that made
 * them, so any layout change must be deliberate: it fails here first, and
 * the fix is a new map name (_v2) plus an update of this table, not an
 * edit of the numbers alone.
 *
 * For each struct: its size and alignment, and every field's offset and
 * size, listed in order so the test also proves there is no implicit
 * padding (each field starts where the previous one ended, the last one
 * ends at sizeof).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <xlb/abi.h>
#include <xlb/hash.h>

struct field {
	const char *name;
	size_t off;
	size_t size;
	size_t want_off;
	size_t want_size;
};

struct layout {
	const char *name;
	size_t size;
	size_t align;
	size_t want_size;
	size_t want_align;
	const struct field *fields;
	size_t nfields;
};

#define F(type, member, off, size) \
	{ #member, offsetof(struct type, member), \
	  sizeof(((struct type *)0)->member), off, size }

#define L(type, size, align, flds) \
	{ #type, sizeof(struct type), _Alignof(struct type), size, align, \
	  flds, sizeof(flds) / sizeof(flds[0]) }

static const struct field addr_f[] = {
	F(xlb_addr, a8, 0, 16),
	/* a32 overlays a8: not part of the contiguity walk */
};

static const struct field svc_key_f[] = {
	F(xlb_svc_key, addr, 0, 16),
	F(xlb_svc_key, port, 16, 2),
	F(xlb_svc_key, proto, 18, 1),
	F(xlb_svc_key, family, 19, 1),
};

static const struct field svc_val_f[] = {
	F(xlb_svc_val, id, 0, 4),
	F(xlb_svc_val, sel_base, 4, 4),
	F(xlb_svc_val, slots, 8, 4),
	F(xlb_svc_val, aff_timeout, 12, 4),
	F(xlb_svc_val, algo, 16, 1),
	F(xlb_svc_val, flags, 17, 1),
	F(xlb_svc_val, lb_mode, 18, 1),
	F(xlb_svc_val, policies, 19, 1),
	F(xlb_svc_val, pad2, 20, 4),
};

static const struct field backend_f[] = {
	F(xlb_backend, addr, 0, 16),
	F(xlb_backend, port, 16, 2),
	F(xlb_backend, family, 18, 1),
	F(xlb_backend, state, 19, 1),
	F(xlb_backend, svc_id, 20, 4),
	F(xlb_backend, gen, 24, 4),
	F(xlb_backend, weight, 28, 2),
	F(xlb_backend, flags, 30, 1),
	F(xlb_backend, pad, 31, 1),
};

static const struct field ct_key_f[] = {
	F(xlb_ct_key_v1, saddr, 0, 16),
	F(xlb_ct_key_v1, daddr, 16, 16),
	F(xlb_ct_key_v1, sport, 32, 2),
	F(xlb_ct_key_v1, dport, 34, 2),
	F(xlb_ct_key_v1, proto, 36, 1),
	F(xlb_ct_key_v1, family, 37, 1),
	F(xlb_ct_key_v1, pad, 38, 2),
};

static const struct field ct_val_f[] = {
	F(xlb_ct_val_v1, nat_addr, 0, 16),
	F(xlb_ct_val_v1, nat_port, 16, 2),
	F(xlb_ct_val_v1, dir, 18, 1),
	F(xlb_ct_val_v1, state, 19, 1),
	F(xlb_ct_val_v1, svc_id, 20, 4),
	F(xlb_ct_val_v1, backend_id, 24, 4),
	F(xlb_ct_val_v1, backend_gen, 28, 4),
	F(xlb_ct_val_v1, last_seen, 32, 4),
	F(xlb_ct_val_v1, created, 36, 4),
	F(xlb_ct_val_v1, ifindex, 40, 4),
	F(xlb_ct_val_v1, smac, 44, 6),
	F(xlb_ct_val_v1, dmac, 50, 6),
	F(xlb_ct_val_v1, flags, 56, 1),
	F(xlb_ct_val_v1, pad, 57, 7),
};

static const struct field ct4_key_f[] = {
	F(xlb_ct4_key, saddr, 0, 4),
	F(xlb_ct4_key, daddr, 4, 4),
	F(xlb_ct4_key, sport, 8, 2),
	F(xlb_ct4_key, dport, 10, 2),
	F(xlb_ct4_key, proto, 12, 1),
	F(xlb_ct4_key, pad, 13, 3),
};

static const struct field ct4_val_f[] = {
	F(xlb_ct4_val, dir, 0, 1),
	F(xlb_ct4_val, state, 1, 1),
	F(xlb_ct4_val, pad, 2, 2),
	F(xlb_ct4_val, last_seen, 4, 4),
	F(xlb_ct4_val, svc_id, 8, 4),
	F(xlb_ct4_val, backend_id, 12, 4),
	F(xlb_ct4_val, fwd.backend_gen, 16, 4),
	F(xlb_ct4_val, fwd.created, 20, 4),
	F(xlb_ct4_val, fwd.flags, 24, 1),
	F(xlb_ct4_val, fwd.pad, 25, 15),
};

/* The other side of the union, on its own. */
static const struct field ct4_rev_f[] = {
	F(xlb_ct4_val, rev.nat_addr, 16, 4),
	F(xlb_ct4_val, rev.nat_port, 20, 2),
	F(xlb_ct4_val, rev.pad, 22, 2),
	F(xlb_ct4_val, rev.ifindex, 24, 4),
	F(xlb_ct4_val, rev.smac, 28, 6),
	F(xlb_ct4_val, rev.dmac, 34, 6),
};

static const struct field ct_syn_val_f[] = {
	F(xlb_ct_syn_val, flags, 0, 1),
	F(xlb_ct_syn_val, pad, 1, 3),
	F(xlb_ct_syn_val, created, 4, 4),
	F(xlb_ct_syn_val, svc_id, 8, 4),
	F(xlb_ct_syn_val, backend_id, 12, 4),
	F(xlb_ct_syn_val, backend_gen, 16, 4),
	F(xlb_ct_syn_val, seq, 20, 4),
	F(xlb_ct_syn_val, nat_addr, 24, 4),
	F(xlb_ct_syn_val, nat_port, 28, 2),
	F(xlb_ct_syn_val, pad2, 30, 2),
	F(xlb_ct_syn_val, ifindex, 32, 4),
	F(xlb_ct_syn_val, smac, 36, 6),
	F(xlb_ct_syn_val, dmac, 42, 6),
};

static const struct field aff_key_f[] = {
	F(xlb_aff_key, client, 0, 16),
	F(xlb_aff_key, svc_id, 16, 4),
	F(xlb_aff_key, family, 20, 1),
	F(xlb_aff_key, pad, 21, 3),
};

static const struct field aff_val_f[] = {
	F(xlb_aff_val, backend_id, 0, 4),
	F(xlb_aff_val, backend_gen, 4, 4),
	F(xlb_aff_val, last_used, 8, 4),
	F(xlb_aff_val, pad, 12, 4),
};

static const struct field node_addr_key_f[] = {
	F(xlb_node_addr_key, addr, 0, 16),
	F(xlb_node_addr_key, family, 16, 1),
	F(xlb_node_addr_key, pad, 17, 3),
};

static const struct field src_range_key_f[] = {
	F(xlb_src_range_key, prefixlen, 0, 4),
	F(xlb_src_range_key, svc_id, 4, 4),
	F(xlb_src_range_key, addr, 8, 4),
};

static const struct field src_range6_key_f[] = {
	F(xlb_src_range6_key, prefixlen, 0, 4),
	F(xlb_src_range6_key, svc_id, 4, 4),
	F(xlb_src_range6_key, addr, 8, 16),
};

static const struct field snat_src_f[] = {
	F(xlb_snat_src, addr, 0, 4),
	F(xlb_snat_src, pad, 4, 4),
};

static const struct field dsr_be_key_f[] = {
	F(xlb_dsr_be_key, svc_id, 0, 4),
	F(xlb_dsr_be_key, addr, 4, 4),
};

static const struct field counters_f[] = {
	F(xlb_counters, packets, 0, 8),
	F(xlb_counters, bytes, 8, 8),
	F(xlb_counters, new_flows, 16, 8),
};

/* Sizes as in the header's _Static_asserts; alignment as the BPF target
 * and x86-64/arm64 agree on (a 4-byte struct xlb_addr, 8 for __u64). */
static const struct layout layouts[] = {
	L(xlb_addr, 16, 4, addr_f),
	L(xlb_svc_key, 20, 4, svc_key_f),
	L(xlb_svc_val, 24, 4, svc_val_f),
	L(xlb_backend, 32, 4, backend_f),
	L(xlb_ct_key_v1, 40, 4, ct_key_f),
	L(xlb_ct_val_v1, 64, 4, ct_val_f),
	L(xlb_ct4_key, 16, 4, ct4_key_f),
	L(xlb_ct4_val, 40, 4, ct4_val_f),
	L(xlb_ct_syn_val, 48, 4, ct_syn_val_f),
	L(xlb_aff_key, 24, 4, aff_key_f),
	L(xlb_aff_val, 16, 4, aff_val_f),
	L(xlb_node_addr_key, 20, 4, node_addr_key_f),
	L(xlb_src_range_key, 12, 4, src_range_key_f),
	L(xlb_src_range6_key, 24, 4, src_range6_key_f),
	L(xlb_snat_src, 8, 4, snat_src_f),
	L(xlb_dsr_be_key, 8, 4, dsr_be_key_f),
	L(xlb_counters, 24, 8, counters_f),
};

static void test_layouts(void **state)
{
	size_t i, j, end;

	for (i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		const struct layout *l = &layouts[i];

		print_message("  struct %-18s size %2zu align %zu, %zu fields\n",
			      l->name, l->size, l->align, l->nfields);
		assert_int_equal(l->size, l->want_size);
		assert_int_equal(l->align, l->want_align);

		end = 0;
		for (j = 0; j < l->nfields; j++) {
			const struct field *f = &l->fields[j];

			if (f->off != f->want_off || f->size != f->want_size)
				fail_msg("%s.%s: offset %zu size %zu, want %zu/%zu",
					 l->name, f->name, f->off, f->size,
					 f->want_off, f->want_size);
			if (f->off != end)
				fail_msg("%s.%s: hole of %zu bytes before it",
					 l->name, f->name, f->off - end);
			end = f->off + f->size;
		}
		if (end != l->size)
			fail_msg("%s: %zu bytes of tail padding", l->name, l->size - end);
	}
	for (j = 0, end = 16; j < sizeof(ct4_rev_f) / sizeof(ct4_rev_f[0]); j++) {
		const struct field *f = &ct4_rev_f[j];

		if (f->off != f->want_off || f->size != f->want_size || f->off != end)
			fail_msg("xlb_ct4_val.%s: offset %zu size %zu, want %zu/%zu", f->name,
				 f->off, f->size, f->want_off, f->want_size);
		end = f->off + f->size;
	}
}

/* IPv4 lives in the first word; a32 overlays a8. */
static void test_addr_overlay(void **state)
{
	struct xlb_addr a;

	assert_int_equal(offsetof(struct xlb_addr, a32), 0);
	assert_int_equal(sizeof(a.a32), sizeof(a.a8));
	memset(&a, 0, sizeof(a));
	a.a8[0] = 10;
	a.a8[3] = 1;
	assert_int_equal(a.a32[0], htonl(0x0a000001));
}

/* Enum values are stored in maps and compared by the datapath. */
static void test_enums(void **state)
{

	assert_int_equal(XLB_AF_NONE, 0);
	assert_int_equal(XLB_AF_INET, 4);
	assert_int_equal(XLB_AF_INET6, 6);

	assert_int_equal(XLB_ALGO_RR, 0);
	assert_int_equal(XLB_ALGO_WRR, 1);
	assert_int_equal(XLB_ALGO_SH, 2);
	assert_int_equal(XLB_ALGO_MAX, 3);

	assert_int_equal(XLB_BE_FREE, 0);
	assert_int_equal(XLB_BE_ACTIVE, 1);
	assert_int_equal(XLB_BE_TERMINATING, 2);

	assert_int_equal(XLB_CT_FWD, 0);
	assert_int_equal(XLB_CT_REV, 1);
	assert_int_equal(XLB_CT_NEW, 0);
	assert_int_equal(XLB_CT_ESTABLISHED, 1);
	assert_int_equal(XLB_CT_CLOSING, 2);
	assert_int_equal(XLB_CT_CLOSED, 3);

	/* Flags: distinct bits that fit their __u8 fields. */
	assert_int_equal(XLB_SVC_F_AFFINITY | XLB_SVC_F_NODEPORT, 0x3);
	assert_int_equal(XLB_CT_F_SEEN_REPLY | XLB_CT_F_RECOVER, 0x3);
	assert_int_equal(XLB_PORT_F_BACKEND | XLB_PORT_F_NODEPORT, 0x3);

	/* Every counter has a distinct name, a kind and a family; rx is the
	 * only total, and the first. */
	assert_string_equal(xlb_stat_name(XLB_STAT_RX), "rx");
	assert_int_equal(xlb_stat_info(XLB_STAT_RX)->kind, XLB_SK_TOTAL);
	assert_string_equal(xlb_stat_name(XLB_STAT_FWD_BACK), "fwd_back");
	for (int i = 0; i < XLB_STAT_MAX; i++) {
		const struct xlb_stat_info *si = xlb_stat_info(i);

		assert_non_null(si->name);
		assert_true(si->family < XLB_SF_MAX);
		assert_true(i == XLB_STAT_RX || si->kind != XLB_SK_TOTAL);
		assert_true(!si->label_key == !si->label_value);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(si->name, xlb_stat_name(j));
	}
}

/* Capacities the rest of xlb relies on. */
static void test_limits(void **state)
{
	/* One Maglev table per service fits the largest prime size, and the
	 * sizing rule (M > 100 n) covers the per-service backend limit. */
	assert_true(XLB_MAGLEV_MAX_SIZE > 100 * XLB_MAX_BACKENDS_PER_SVC);
	assert_true(XLB_MAGLEV_MAX_SIZE <= XLB_MAX_SEL_SLOTS);
	assert_true(XLB_SEQ_MAX_SIZE >= XLB_MAX_BACKENDS_PER_SVC);
	/* Weights go into a __u16. */
	assert_int_equal(sizeof(((struct xlb_backend *)0)->weight), 2);
}

/*
 * The datapath and user space must hash alike (a tool predicts the
 * datapath's choice), and a changed hash reshuffles every source-hash
 * client on upgrade. Golden values; fmix32(1) is MurmurHash3's own.
 */
static void test_hash_golden(void **state)
{
	struct xlb_addr v4, v6;

	assert_int_equal(xlb_fmix32(0), 0);
	assert_int_equal(xlb_fmix32(1), 0x514e28b7);
	assert_int_equal(xlb_fmix32(0xdeadbeef), 0x0de5c6a9);
	assert_int_equal(xlb_fmix32(0xffffffff), 0x81f16f39);

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* a32 words are read in host order, so these hold on little endian. */
	memset(&v4, 0, sizeof(v4));
	assert_int_equal(inet_pton(AF_INET, "10.0.0.1", v4.a8), 1);
	assert_int_equal(xlb_hash_addr(v4.a32, XLB_SH_SEED), 0x9df7bdda);
	assert_int_equal(inet_pton(AF_INET6, "fd00::1", v6.a8), 1);
	assert_int_equal(xlb_hash_addr(v6.a32, XLB_SH_SEED), 0xf5eea72b);
#else
	(void)v4;
	(void)v6;
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layouts),
		cmocka_unit_test(test_addr_overlay),
		cmocka_unit_test(test_enums),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_hash_golden),
	};

	return cmocka_run_group_tests_name("abi", tests, NULL, NULL);
}
