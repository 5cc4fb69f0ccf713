#!/usr/bin/env bash
# xlb lab: a node, two clients and five backends in network namespaces.
#
#   scripts/lab.sh up       tear down leftovers, build the topology, start servers
#   scripts/lab.sh down     stop servers, delete namespaces (safe to repeat)
#   scripts/lab.sh status   show namespaces, addresses, servers, XDP programs
#
#   xlb-client (eth0 10.10.1.2 + .100-.149) --- n-client 10.10.1.1 \
#   xlb-ext    (eth0 10.10.2.2)              --- n-ext    10.10.2.1  > xlb-node
#   xlb-beI    (eth0 10.20.I.2, I = 1..5)    --- n-beI    10.20.I.1 /
#
# Every address lives inside namespaces this script creates. Of the host,
# only bpffs is touched: mounted if missing, and the lab's own pin
# directory (/sys/fs/bpf/xlb-lab, which callers pass to xlb-dp as
# --pin-dir) is unpinned and removed by `down`, so `up` starts clean.
set -euo pipefail

LAB_RUN=${LAB_RUN:-/run/xlb-lab}
LAB_PIN=${LAB_PIN:-/sys/fs/bpf/xlb-lab}
PY=/usr/bin/python3
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
XLB_DP=${XLB_DP:-$ROOT/build/xlb-dp}
NBE=5
NODE=xlb-node
NSES=(xlb-node xlb-client xlb-ext xlb-be1 xlb-be2 xlb-be3 xlb-be4 xlb-be5)

log() { printf 'lab: %s\n' "$*" >&2; }
die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# veth pair: node side $1 (in xlb-node), peer "eth0" in namespace $2.
mk_link() {
	local nodeif=$1 ns=$2 nodeaddr=$3 peeraddr=$4 gw=$5
	ip link add "$nodeif" netns "$NODE" type veth peer name eth0 netns "$ns"
	nsx "$NODE" ip addr add "$nodeaddr" dev "$nodeif"
	nsx "$ns" ip addr add "$peeraddr" dev eth0
	# Full checksums on the wire (the datapath rewrites addresses and
	# redirects, which loses CHECKSUM_PARTIAL), and GRO on so that an
	# XDP_REDIRECT into this veth is delivered.
	nsx "$ns" ethtool -K eth0 tx off gro on >/dev/null
	nsx "$NODE" ethtool -K "$nodeif" tx off gro on >/dev/null
	nsx "$NODE" sysctl -qw "net.ipv4.conf.$nodeif.rp_filter=0"
	nsx "$ns" ip link set eth0 up
	nsx "$NODE" ip link set "$nodeif" up
	nsx "$ns" ip route add default via "$gw"
}

# Running, and not a zombie (this machine's init may reap late).
alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

stop_servers() {
	local f pid
	[ -d "$LAB_RUN" ] || return 0
	for f in "$LAB_RUN"/*.pid; do
		[ -e "$f" ] || continue
		pid=$(cat "$f" 2>/dev/null || true)
		# Only a pid that is still our server (pids get reused).
		if [ -n "$pid" ] && alive "$pid" &&
			grep -qa tools/lab/server.py "/proc/$pid/cmdline" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 20); do alive "$pid" || break; sleep 0.05; done
			alive "$pid" && kill -9 "$pid" 2>/dev/null
		fi
		rm -f "$f"
	done
}

lab_has_ns() { [ -e "/run/netns/$1" ]; }

lab_down() {
	local ns pids
	stop_servers
	# Pins outlive the namespaces: a leftover program's maps would be
	# adopted by the next run. Detach and unpin while the node exists.
	if [ -d "$LAB_PIN" ]; then
		if lab_has_ns "$NODE" && [ -x "$XLB_DP" ]; then
			timeout 20 nsenter --net="/run/netns/$NODE" "$XLB_DP" \
				--pin-dir "$LAB_PIN" unpin >/dev/null 2>&1 ||
				log "xlb-dp unpin failed; removing $LAB_PIN"
		fi
		rm -rf "$LAB_PIN"
	fi
	for ns in "${NSES[@]}"; do
		lab_has_ns "$ns" || continue
		# Anything still running inside a lab namespace (a client left
		# by an interrupted test) was started for the lab: end it by pid.
		pids=$(ip netns pids "$ns" 2>/dev/null || true)
		if [ -n "$pids" ]; then
			# shellcheck disable=SC2086
			kill $pids 2>/dev/null || true
			for _ in $(seq 20); do
				pids=$(ip netns pids "$ns" 2>/dev/null | while read -r p; do
					alive "$p" && echo "$p"; done)
				[ -z "$pids" ] && break
				sleep 0.05
			done
			# shellcheck disable=SC2086
			kill -9 $pids 2>/dev/null || true
		fi
		ip netns del "$ns" || log "delete netns $ns failed"
	done
	rm -rf "$LAB_RUN"
}

wait_server() {
	local i=$1 n
	for n in $(seq 50); do
		if nsx xlb-node "$PY" "$ROOT/tools/lab/client.py" probe \
			--dst "10.20.$i.2:8080" --expect "be$i" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

warm_neigh() {
	local addr=$1 dev=$2 n
	for n in $(seq 20); do
		nsx "$NODE" "$PY" "$ROOT/tools/lab/client.py" udp --dst "$addr:9" \
			-n 1 --timeout 0.2 >/dev/null 2>&1 || true
		if nsx "$NODE" ip neigh show "$addr" dev "$dev" |
			grep -qE 'REACHABLE|STALE|DELAY|PERMANENT'; then
			return 0
		fi
		sleep 0.1
	done
	die "no neighbour entry for $addr on $dev"
}

lab_up() {
	local i ns
	lab_down
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	mkdir -p "$LAB_RUN"
	for ns in "${NSES[@]}"; do
		ip netns add "$ns"
		nsx "$ns" ip link set lo up
	done
	nsx "$NODE" sysctl -qw net.ipv4.ip_forward=1
	nsx "$NODE" sysctl -qw net.ipv4.conf.all.rp_filter=0
	nsx "$NODE" sysctl -qw net.ipv4.conf.default.rp_filter=0

	mk_link n-client xlb-client 10.10.1.1/24 10.10.1.2/24 10.10.1.1
	for i in $(seq 100 149); do
		nsx xlb-client ip addr add "10.10.1.$i/24" dev eth0
	done
	mk_link n-ext xlb-ext 10.10.2.1/24 10.10.2.2/24 10.10.2.1
	for i in $(seq $NBE); do
		mk_link "n-be$i" "xlb-be$i" "10.20.$i.1/24" "10.20.$i.2/24" "10.20.$i.1"
	done

	for i in $(seq $NBE); do
		# Not through nsx: a function in the background is a subshell,
		# and $! must be the server itself (ip netns exec execs it).
		ip netns exec "xlb-be$i" "$PY" "$ROOT/tools/lab/server.py" \
			--name "be$i" --port 8080 --status-file "$LAB_RUN/be$i.status" \
			</dev/null >"$LAB_RUN/be$i.log" 2>&1 &
		echo $! >"$LAB_RUN/be$i.pid"
	done
	for i in $(seq $NBE); do
		wait_server "$i" || die "server be$i does not answer (see $LAB_RUN/be$i.log)"
	done

	# Warm the node's neighbour table so bpf_fib_lookup finds every peer
	# (no ping binary needed: a datagram to the discard port resolves the
	# neighbour and comes back as ICMP port unreachable).
	warm_neigh 10.10.1.2 n-client
	warm_neigh 10.10.2.2 n-ext
	for i in $(seq $NBE); do
		warm_neigh "10.20.$i.2" "n-be$i"
	done
	log "up: ${#NSES[@]} namespaces, servers be1..be$NBE on :8080 (run dir $LAB_RUN)"
}

lab_status() {
	local i pid
	ip netns list | grep -E '^xlb-' || { echo "lab is down"; return 0; }
	echo "== node interfaces"
	nsx "$NODE" ip -br addr
	echo "== XDP on node interfaces"
	nsx "$NODE" ip -o link show | grep -E 'xdp|prog/xdp' | awk '{print $2, $0}' | cut -c1-160 || echo "(none)"
	echo "== servers"
	for i in $(seq $NBE); do
		pid=$(cat "$LAB_RUN/be$i.pid" 2>/dev/null || true)
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			echo "be$i pid $pid running"
		else
			echo "be$i not running"
		fi
	done
	echo "== node neighbours"
	nsx "$NODE" ip neigh show
}

[ "$(id -u)" -eq 0 ] || die "must run as root"
case "${1:-}" in
cluster) shift; exec bash "$ROOT/scripts/lab/cluster.sh" "$@" ;;
up) lab_up ;;
down) lab_down; log "down" ;;
status) lab_status ;;
*) echo "usage: $0 up|down|status, or $0 cluster ... (scripts/lab/cluster.sh)" >&2; exit 2 ;;
esac
