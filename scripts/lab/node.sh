#!/usr/bin/env bash
# The single-node lab: one node namespace that routes between a client, an
# external client and backends, each behind a veth of its own. It is the
# lab of the e2e tests, the demo, the CLI and metrics tests, the lab and
# health benchmarks and the IPVS VM test; each picks its size.
# Called as `scripts/lab.sh [node] up|down|status`.
#
#   P-client (eth0 10.10.1.2 + .100-.1NN) --- n-client 10.10.1.1 \
#   P-ext    (eth0 10.10.2.2)              --- n-ext    10.10.2.1  > P-node
#   P-beI    (eth0 10.20.I.2, I = 1..N)    --- n-beI    10.20.I.1 /
#
# Parameters (environment):
#   LAB_PREFIX (xlb)        namespace names P-node, P-client, P-ext, P-beI
#   LAB_BACKENDS (5)        backends, 0..50
#   LAB_CLIENT (1)          the client namespace; LAB_CLIENT_ADDRS (50) more
#                           addresses on it, 10.10.1.100 on
#   LAB_EXT (1)             the external client namespace
#   LAB_TUNE (1)            veths tuned like NICs (GRO on, TX checksum
#                           offload off); 0: kernel defaults
#   LAB_SERVER (python)     python: tools/lab/server.py --name beI in every
#                           backend, answering before `up` returns, and the
#                           node's neighbour table warm; none: no servers
#                           (the caller starts its own, e.g. in the VM)
#   LAB_RUN (/run/P-lab)    servers' pid and log files, status files
#   LAB_PIN (/sys/fs/bpf/P-lab)  the pin directory callers give xlb-dp or
#                           xlbd; `down` unpins it with XLB_DP
#                           (build/xlb-dp) and removes it
#
# The node has ip_forward on and rp_filter off. Every address lives inside
# namespaces this script creates; of the host only bpffs is touched.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

P=${LAB_PREFIX:-xlb}
NBE=${LAB_BACKENDS:-5}
CLIENT=${LAB_CLIENT:-1}
NADDR=${LAB_CLIENT_ADDRS:-50}
EXT=${LAB_EXT:-1}
SERVER=${LAB_SERVER:-python}
LAB_RUN=${LAB_RUN:-/run/$P-lab}
LAB_PIN=${LAB_PIN:-/sys/fs/bpf/$P-lab}
XLB_DP=${XLB_DP:-$LAB_ROOT/build/xlb-dp}
NODE=$P-node

case $P in *[!a-zA-Z0-9_-]* | "") die "LAB_PREFIX '$P': letters, digits, - and _ only" ;; esac
case "$NBE$NADDR" in *[!0-9]*) die "LAB_BACKENDS and LAB_CLIENT_ADDRS are numbers" ;; esac
[ "$NBE" -le 50 ] && [ "$NADDR" -le 100 ] || die "LAB_BACKENDS: 0..50, LAB_CLIENT_ADDRS: 0..100"
case $SERVER in python | none) ;; *) die "LAB_SERVER: python or none" ;; esac

nses() {
	echo "$NODE"
	[ "$CLIENT" = 1 ] && echo "$P-client"
	[ "$EXT" = 1 ] && echo "$P-ext"
	for i in $(seq "$NBE"); do echo "$P-be$i"; done
}

# veth pair: node side $1 (in the node), peer "eth0" in namespace $2.
mk_link() {
	local nodeif=$1 ns=$2 nodeaddr=$3 peeraddr=$4
	cable "$NODE" "$nodeif" "$ns" eth0
	ip -n "$NODE" addr add "$nodeaddr/24" dev "$nodeif"
	ip -n "$ns" addr add "$peeraddr/24" dev eth0
	nsx "$NODE" sysctl -qw "net.ipv4.conf.$nodeif.rp_filter=0"
	ip -n "$ns" link set eth0 up
	ip -n "$NODE" link set "$nodeif" up
	ip -n "$ns" route add default via "$nodeaddr"
}

warm_neigh() {
	local addr=$1 dev=$2
	for _ in $(seq 20); do
		nsx "$NODE" "$PY" "$LAB_ROOT/tools/lab/client.py" udp --dst "$addr:9" \
			-n 1 --timeout 0.2 >/dev/null 2>&1 || true
		if ip -n "$NODE" neigh show "$addr" dev "$dev" |
			grep -qE 'REACHABLE|STALE|DELAY|PERMANENT'; then
			return 0
		fi
		sleep 0.1
	done
	die "no neighbour entry for $addr on $dev"
}

node_down() {
	[ -d "$LAB_RUN" ] && stop_pidfiles "$LAB_RUN"/*.pid
	# Pins outlive the namespaces: a leftover program's maps would be
	# adopted by the next run. Detach and unpin while the node exists.
	if [ -d "$LAB_PIN" ]; then
		if has_ns "$NODE" && [ -x "$XLB_DP" ]; then
			timeout 20 nsenter --net="/run/netns/$NODE" "$XLB_DP" \
				--pin-dir "$LAB_PIN" unpin >/dev/null 2>&1 ||
				log "xlb-dp unpin failed; removing $LAB_PIN"
		fi
		rm -rf "$LAB_PIN"
	fi
	# Every namespace of this prefix's lab, whatever the sizes were then.
	# shellcheck disable=SC2046
	ns_del $(ip netns list 2>/dev/null | awk -v p="$P" '$1 ~ "^" p "-(node|client|ext|be[0-9]+)$" { print $1 }')
	rm -rf "$LAB_RUN"
}

node_up() {
	local i ns
	node_down
	mount_bpffs
	mkdir -p "$LAB_RUN"
	for ns in $(nses); do
		ns_add "$ns"
	done
	nsx "$NODE" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0

	if [ "$CLIENT" = 1 ]; then
		mk_link n-client "$P-client" 10.10.1.1 10.10.1.2
		for i in $(seq 100 $((99 + NADDR))); do
			echo "addr add 10.10.1.$i/24 dev eth0"
		done | ip -n "$P-client" -batch -
	fi
	[ "$EXT" = 1 ] && mk_link n-ext "$P-ext" 10.10.2.1 10.10.2.2
	for i in $(seq "$NBE"); do
		mk_link "n-be$i" "$P-be$i" "10.20.$i.1" "10.20.$i.2"
	done
	[ "$SERVER" = python ] || { log "up: $(nses | wc -l) namespaces, no servers"; return 0; }

	for i in $(seq "$NBE"); do
		# shellcheck disable=SC2046
		spawn "$LAB_RUN/be$i.pid" "$LAB_RUN/be$i.log" - "$P-be$i" \
			$(lab_server --name "be$i" --port 8080 --status-file "$LAB_RUN/be$i.status")
	done
	for i in $(seq "$NBE"); do
		wait_tcp "$NODE" "10.20.$i.2:8080" "be$i" ||
			die "server be$i does not answer (see $LAB_RUN/be$i.log)"
	done
	# Warm the node's neighbour table so bpf_fib_lookup finds every peer
	# (no ping binary needed: a datagram to the discard port resolves the
	# neighbour and comes back as ICMP port unreachable).
	[ "$CLIENT" = 1 ] && warm_neigh 10.10.1.2 n-client
	[ "$EXT" = 1 ] && warm_neigh 10.10.2.2 n-ext
	for i in $(seq "$NBE"); do
		warm_neigh "10.20.$i.2" "n-be$i"
	done
	log "up: $(nses | wc -l) namespaces, servers be1..be$NBE on :8080 (run dir $LAB_RUN)"
}

node_status() {
	local i pid
	has_ns "$NODE" || { echo "lab $P is down"; return 0; }
	echo "== node interfaces"
	ip -n "$NODE" -br addr
	echo "== XDP on node interfaces"
	ip -n "$NODE" -o link show | grep -E 'xdp|prog/xdp' | cut -c1-160 || echo "(none)"
	echo "== servers"
	for i in $(seq "$NBE"); do
		read -r pid _ <"$LAB_RUN/be$i.pid" 2>/dev/null || pid=
		if [ -n "$pid" ] && alive "$pid"; then
			echo "be$i pid $pid running"
		else
			echo "be$i not running"
		fi
	done
	echo "== node neighbours"
	ip -n "$NODE" neigh show
}

[ "$(id -u)" -eq 0 ] || die "must run as root"
case "${1:-}" in
up) node_up ;;
down) node_down; log "down" ;;
status) node_status ;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
