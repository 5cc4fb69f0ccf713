// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Control object for the VM smoke test: the smallest XDP program with what
 * xlb.bpf.o's loading depends on (a BTF-defined map, LIBBPF_PIN_BY_NAME,
 * section "xdp"). If this attaches and xlb.bpf.o does not, the fault is in
 * the datapath object (e.g. the 6.1 verifier), not in the image or loader.
 * Built on the host by scripts/vmtest.sh into $BUILD/vm/obj/. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vm_probe_pkts SEC(".maps");

SEC("xdp")
int vm_probe(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&vm_probe_pkts, &k);

	if (v)
		__sync_fetch_and_add(v, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
