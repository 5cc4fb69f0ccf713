#!/usr/bin/env bash
# Lab benchmark: real traffic through a namespace lab, new TCP connections/s
# and UDP datagrams/s from a client to a ClusterIP, for xlb's XDP datapath,
# kube-proxy's iptables and nftables modes, and plain routing (the floor).
# Method and results: docs/benchmarks.md, "Lab benchmark".
#
#   sudo tools/bench/lab_bench.sh [--quick] [--plot FILE.png] [lab_bench.py options]
#
# Builds the C helpers into $BUILD/bench if they are missing or stale, brings
# up a lab of its own (scripts/lab.sh with the prefix xlbb: namespaces
# xlbb-*; pins under /sys/fs/bpf/xlb-lab-bench; nothing outside them is
# touched, so it can run next to the e2e lab), runs tools/bench/lab_bench.py,
# and always tears the lab down:
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
CLIENT=xlbb-client
NBE=3
export LAB_BENCH_BIN=$BIN LAB_BENCH_PIN=$PIN LAB_BENCH_RUN=$RUN XLB_DP

. "$ROOT/scripts/lab/lib.sh"
log() { printf 'lab_bench: %s\n' "$*" >&2; }
die() { printf 'lab_bench: error: %s\n' "$*" >&2; exit 1; }

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

# The single-node lab of scripts/lab.sh, sized for the bench; servers and
# the two extra node namespaces are this script's own.
lab() {
	LAB_PREFIX=xlbb LAB_BACKENDS=$NBE LAB_EXT=0 LAB_SERVER=none LAB_RUN=$RUN LAB_PIN=$PIN \
		XLB_DP=$XLB_DP bash "$ROOT/scripts/lab.sh" "$@"
}

lab_down() {
	# The node's interfaces may be in a ruleset's namespace: the lab's
	# down ends the servers and unpins, these go with their veths.
	if [ -x "$XLB_DP" ]; then
		lab down 2>/dev/null
	else
		XLB_DP=$XLB_DP_SRC lab down 2>/dev/null
	fi
	ns_del xlbb-node-ipt xlbb-node-nft
}

lab_up() {
	local i ns ok
	lab_down
	lab up || return 1
	cp "$XLB_DP_SRC" "$XLB_DP" || return 1
	ns_add xlbb-node-ipt xlbb-node-nft || return 1
	# Interfaces moved in later take the namespace's defaults.
	for ns in xlbb-node-ipt xlbb-node-nft; do
		nsx "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
			net.ipv4.conf.default.rp_filter=0 || return 1
	done
	for i in $(seq $NBE); do
		spawn "$RUN/be$i.pid" "$RUN/be$i.log" - "xlbb-be$i" "$BIN/lab_bench_srv" --name "be$i" \
			--port 8080 --max-seconds 3600
	done
	# Each backend answers directly (this also fills the node's neighbour
	# table, which bpf_fib_lookup needs).
	for i in $(seq $NBE); do
		ok=
		for _ in $(seq 50); do
			if nsx "$CLIENT" "$BIN/lab_bench_load" tcp --dst "10.20.$i.2:8080" --src 10.10.1.2 \
				--seconds 0.05 --warmup 0 --inflight 1 2>/dev/null | grep -q "\"be$i\": [1-9]"; then
				ok=1
				break
			fi
			sleep 0.1
		done
		[ -n "$ok" ] || { log "backend be$i does not answer (see $RUN/be$i.log)"; return 1; }
	done
	log "lab up: xlbb-node, $CLIENT, xlbb-be1..$NBE (lab_bench_srv on :8080), xlbb-node-ipt, xlbb-node-nft"
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
