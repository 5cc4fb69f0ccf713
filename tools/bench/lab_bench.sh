#!/usr/bin/env bash
# Lab benchmark: real traffic through a namespace lab, new TCP connections/s
# and UDP datagrams/s from a client to a ClusterIP, for xlb's XDP datapath,
# kube-proxy's iptables and nftables modes, and plain routing (the floor).
# Method and results: docs/benchmarks.md, "Lab benchmark".
#
#   sudo tools/bench/lab_bench.sh [--quick] [--plot FILE.png] [lab_bench.py options]
#
# Builds the C helpers into $BUILD/bench if they are missing or stale, brings
# up a lab of its own (namespaces xlbb-*; pins under /sys/fs/bpf/xlb-lab-bench;
# nothing outside them is touched, so it can run next to the e2e lab), runs
# tools/bench/lab_bench.py, and always tears the lab down. The topology
# copies scripts/lab.sh's:
#
#   xlbb-client (eth0 10.10.1.2 + .100-.149) --- n-client 10.10.1.1 \
#   xlbb-beI    (eth0 10.20.I.2, I = 1..3)   --- n-beI    10.20.I.1  > xlbb-node
#
# with two more node namespaces, xlbb-node-ipt and xlbb-node-nft, that hold
# kube-proxy's rulesets; lab_bench.py moves the node's four interfaces into
# the namespace of the setup under test (see lab_bench.py for why).
#
# Prints Markdown tables on stdout, progress on stderr. Exit 0 whatever the
# numbers; 1 if the lab or a setup broke (could not be configured, did not
# balance, or left another setup active); 2 on usage errors.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
BIN=$BUILD/bench
XLB_DP_SRC=${XLB_DP:-$BUILD/xlb-dp}
RUN=/run/xlb-lab-bench
# A copy, so that a rebuild of the tree during the run does not swap the
# program under the pinned maps (lab_bench_svc is built from the same
# libxlb.a just before).
XLB_DP=$RUN/xlb-dp
PIN=/sys/fs/bpf/xlb-lab-bench
NODE=xlbb-node
CLIENT=xlbb-client
NBE=3
NSES=("$NODE" xlbb-node-ipt xlbb-node-nft "$CLIENT")
for i in $(seq $NBE); do NSES+=("xlbb-be$i"); done
export LAB_BENCH_BIN=$BIN LAB_BENCH_PIN=$PIN LAB_BENCH_RUN=$RUN XLB_DP

log() { printf 'lab_bench: %s\n' "$*" >&2; }
die() { printf 'lab_bench: error: %s\n' "$*" >&2; exit 1; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# The helpers, with the Makefile's flags (make bench builds them first; this
# is for running the script on its own).
build_helpers() {
	local cflags libs
	cflags="-O2 -g -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -I$ROOT/include -I$ROOT/user -I$BUILD"
	libs="$(pkg-config --libs libbpf libelf zlib libmnl libipset 2>/dev/null) -lm"
	mkdir -p "$BIN"
	for t in lab_bench_srv lab_bench_load; do
		if [ ! -x "$BIN/$t" ] || [ "$ROOT/tools/bench/$t.c" -nt "$BIN/$t" ]; then
			log "building $BIN/$t"
			# shellcheck disable=SC2086
			${CC:-gcc} $cflags "$ROOT/tools/bench/$t.c" -o "$BIN/$t" || return 1
		fi
	done
	if [ ! -x "$BIN/lab_bench_svc" ] || [ "$ROOT/tools/bench/lab_bench_svc.c" -nt "$BIN/lab_bench_svc" ] ||
		[ "$BUILD/libxlb.a" -nt "$BIN/lab_bench_svc" ]; then
		log "building $BIN/lab_bench_svc"
		# shellcheck disable=SC2086
		${CC:-gcc} $cflags $(pkg-config --cflags libbpf 2>/dev/null) "$ROOT/tools/bench/lab_bench_svc.c" \
			"$BUILD/libxlb.a" $libs -o "$BIN/lab_bench_svc" || return 1
	fi
}

# veth pair: node side $1 (in the node), peer "eth0" in namespace $2.
# As scripts/lab.sh: full checksums on the wire and GRO on, so that an
# XDP_REDIRECT into the veth is delivered.
mk_link() {
	local nodeif=$1 ns=$2 nodeaddr=$3 peeraddr=$4 gw=$5
	ip link add "$nodeif" netns "$NODE" type veth peer name eth0 netns "$ns" &&
		nsx "$NODE" ip addr add "$nodeaddr" dev "$nodeif" &&
		nsx "$ns" ip addr add "$peeraddr" dev eth0 &&
		nsx "$ns" ethtool -K eth0 tx off gro on >/dev/null &&
		nsx "$NODE" ethtool -K "$nodeif" tx off gro on >/dev/null &&
		nsx "$NODE" sysctl -qw "net.ipv4.conf.$nodeif.rp_filter=0" &&
		nsx "$ns" ip link set eth0 up &&
		nsx "$NODE" ip link set "$nodeif" up &&
		nsx "$ns" ip route add default via "$gw"
}

alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

lab_down() {
	local f pid ns pids
	if [ -d "$RUN" ]; then
		for f in "$RUN"/*.pid; do
			[ -e "$f" ] || continue
			pid=$(cat "$f" 2>/dev/null || true)
			# Only a pid that is still our server (pids get reused).
			if [ -n "$pid" ] && alive "$pid" &&
				grep -qa lab_bench_srv "/proc/$pid/cmdline" 2>/dev/null; then
				kill "$pid" 2>/dev/null
				for _ in $(seq 20); do alive "$pid" || break; sleep 0.05; done
				alive "$pid" && kill -9 "$pid" 2>/dev/null
			fi
			rm -f "$f"
		done
	fi
	if [ -d "$PIN" ]; then
		local dp=$XLB_DP
		[ -x "$dp" ] || dp=$XLB_DP_SRC
		if [ -e "/run/netns/$NODE" ] && [ -x "$dp" ]; then
			timeout 20 nsenter --net="/run/netns/$NODE" "$dp" --pin-dir "$PIN" unpin \
				>/dev/null 2>&1 || log "xlb-dp unpin failed; removing $PIN"
		fi
		rm -rf "$PIN"
	fi
	for ns in "${NSES[@]}"; do
		[ -e "/run/netns/$ns" ] || continue
		# Anything left in our namespaces (an interrupted client) is ours.
		pids=$(ip netns pids "$ns" 2>/dev/null || true)
		if [ -n "$pids" ]; then
			# shellcheck disable=SC2086
			kill $pids 2>/dev/null
			sleep 0.2
			# shellcheck disable=SC2086
			kill -9 $pids 2>/dev/null
		fi
		ip netns del "$ns" || log "delete netns $ns failed"
	done
	rm -rf "$RUN"
}

lab_up() {
	local i ns n ok
	lab_down
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || return 1
	mkdir -p "$RUN"
	cp "$XLB_DP_SRC" "$XLB_DP" || return 1
	for ns in "${NSES[@]}"; do
		ip netns add "$ns" && nsx "$ns" ip link set lo up || return 1
	done
	# Interfaces moved in later take the namespace's defaults.
	for ns in "$NODE" xlbb-node-ipt xlbb-node-nft; do
		nsx "$ns" sysctl -qw net.ipv4.ip_forward=1 &&
			nsx "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 &&
			nsx "$ns" sysctl -qw net.ipv4.conf.default.rp_filter=0 || return 1
	done
	mk_link n-client "$CLIENT" 10.10.1.1/24 10.10.1.2/24 10.10.1.1 || return 1
	for i in $(seq 100 149); do
		nsx "$CLIENT" ip addr add "10.10.1.$i/24" dev eth0 || return 1
	done
	for i in $(seq $NBE); do
		mk_link "n-be$i" "xlbb-be$i" "10.20.$i.1/24" "10.20.$i.2/24" "10.20.$i.1" || return 1
	done
	for i in $(seq $NBE); do
		# Not through nsx: $! must be the server itself.
		ip netns exec "xlbb-be$i" "$BIN/lab_bench_srv" --name "be$i" --port 8080 \
			--max-seconds 3600 </dev/null >"$RUN/be$i.log" 2>&1 &
		echo $! >"$RUN/be$i.pid"
	done
	# Each backend answers directly (this also fills the node's neighbour
	# table, which bpf_fib_lookup needs).
	for i in $(seq $NBE); do
		ok=
		for n in $(seq 50); do
			if nsx "$CLIENT" "$BIN/lab_bench_load" tcp --dst "10.20.$i.2:8080" --src 10.10.1.2 \
				--seconds 0.05 --warmup 0 --inflight 1 2>/dev/null | grep -q "\"be$i\": [1-9]"; then
				ok=1
				break
			fi
			sleep 0.1
		done
		[ -n "$ok" ] || { log "backend be$i does not answer (see $RUN/be$i.log)"; return 1; }
	done
	log "lab up: ${#NSES[@]} namespaces, lab_bench_srv be1..be$NBE on :8080"
}

for a in "$@"; do
	case "$a" in -h|--help) exec /usr/bin/python3 "$ROOT/tools/bench/lab_bench.py" --help ;; esac
done
[ "$(id -u)" -eq 0 ] || die "must run as root"
[ -x "$XLB_DP_SRC" ] || die "$XLB_DP_SRC not built (make all)"
command -v nft >/dev/null || die "nft not found (nftables)"
command -v iptables-restore >/dev/null || die "iptables-restore not found (iptables)"
build_helpers || die "building the helpers failed"

trap 'lab_down' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
lab_up || die "lab up failed"

# In the background so that a signal runs the traps at once (bash defers
# traps while a foreground child runs). The timeout is the backstop; the
# script bounds every step itself.
timeout 1800 /usr/bin/python3 "$ROOT/tools/bench/lab_bench.py" "$@" &
pid=$!
trap 'kill "$pid" 2>/dev/null; exit 130' INT
trap 'kill "$pid" 2>/dev/null; exit 143' TERM
wait "$pid"
rc=$?
[ "$rc" -eq 124 ] && log "lab_bench.py timed out"
exit "$rc"
