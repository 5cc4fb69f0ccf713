/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The datapath's maps. Sizes are defaults; user space resizes before load.
 * All are pinned by name so a restarted daemon adopts them. */
#ifndef XLB_BPF_MAPS_H
#define XLB_BPF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xlb/abi.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_SVC_KEYS);
	__type(key, struct xlb_svc_key);
	__type(value, struct xlb_svc_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} svc_map SEC(".maps");

/* Selection tables: backend ids, see struct xlb_svc_val.sel_base. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_SEL_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sel_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_backend);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} backend_map SEC(".maps");

/* Established flows, two entries each (abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLB_CT_ENTRIES);
	__type(key, struct xlb_ct4_key);
	__type(value, struct xlb_ct4_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ct4 SEC(".maps");

/* Flows that have not proved themselves yet, one entry each, by reply
 * tuple: what a flood of first packets fills, apart from ct4. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLB_CT_SYN_ENTRIES);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);	/* an LRU list per CPU: cheaper inserts */
	__type(key, struct xlb_ct4_key);
	__type(value, struct xlb_ct_syn_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ct_syn SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_nexthop);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} be_nh SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} port_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct xlb_svc_prev);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} svc_prev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_meta);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} meta SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLB_AFF_ENTRIES);
	__type(key, struct xlb_aff_key);
	__type(value, struct xlb_aff_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} aff_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_NODE_ADDRS);
	__type(key, struct xlb_node_addr_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} node_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XLB_SRC_RANGE_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xlb_src_range_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} src_ranges SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XLB_SRC_RANGE_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xlb_src_range6_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} src_ranges6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_snat_src);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} snat_src SEC(".maps");

/* The node's own backends by (service, address), for DSR flows other
 * nodes send them (abi.h): -> backend id. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xlb_dsr_be_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dsr_be SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct xlb_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} svc_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} backend_stats SEC(".maps");

/* Global counters: one per-CPU entry holding all of them, so a packet
 * updates them with one lookup (stats_flush). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats SEC(".maps");

/* Scratch for summing a segment in 512-byte pieces (not pinned: no state). */
#define XLB_SUM_CHUNK 512
struct xlb_scratch {
	__u32 w[XLB_SUM_CHUNK / 4];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_scratch);
} scratch SEC(".maps");

/* What one packet counts goes straight into this CPU's counters, looked
 * up once per packet (xlb_cx_init). */
struct xlb_cx {
	struct xlb_stats *st;
};

static __always_inline int xlb_cx_init(struct xlb_cx *cx)
{
	__u32 zero = 0;

	cx->st = bpf_map_lookup_elem(&stats, &zero);
	return cx->st ? 0 : -1;
}

#define xlb_count(cx, i) ((cx)->st->v[(i)]++)

static __always_inline __u32 port_flags(__be16 port)
{
	__u32 k = bpf_ntohs(port), *f = bpf_map_lookup_elem(&port_map, &k);

	return f ? *f : 0;
}

static __always_inline void counters_add(void *map, __u32 id, __u64 bytes, int new_flow)
{
	struct xlb_counters *c = bpf_map_lookup_elem(map, &id);

	if (c) {
		c->packets++;
		c->bytes += bytes;
		c->new_flows += new_flow;
	}
}

#endif /* XLB_BPF_MAPS_H */
