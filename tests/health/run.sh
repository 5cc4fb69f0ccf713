#!/usr/bin/env bash
# The health engine against real servers on 127.0.0.1 (tests/health/driver.c),
# in a network namespace of its own when run as root.
#
#   tests/health/run.sh                 run the tests (a few seconds)
#   tests/health/run.sh bench [N ...]   the benchmark, not part of the tests:
#                                       N TCP targets at a 1 s period on lab
#                                       backends (default 1000 10000); root.
#                                       BENCH_SECS: seconds measured per mode (10)
#
# The Makefile builds both (`make test`, `make bench`, or
# `make build/tests/health/driver`); SAN=1 runs the ASan+UBSan driver
# (make build/tests/health-san/driver). BUILD (default: build) holds the
# binaries; V=1 shows the engine's log.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
out=$BUILD/tests/health
[ "${SAN:-0}" = 1 ] && driver=$BUILD/tests/health-san/driver || driver=$out/driver

# The bench's lab: scripts/lab.sh with the prefix xlbh: xlbh-node, where
# the engine runs, and four backends xlbh-be1..4 (10.20.B.2) at kernel
# defaults, each with 25 more addresses, 10.77.B.1-25, that the node
# routes to it.
NBE=4
lab() {
	LAB_PREFIX=xlbh LAB_BACKENDS=$NBE LAB_CLIENT=0 LAB_EXT=0 LAB_TUNE=0 LAB_SERVER=none \
		bash "$ROOT/scripts/lab.sh" "$@"
}
# Each backend address a /32 of its own, so the bench can remove one
# (removing a subnet's primary address takes its secondaries with it).
lab_addr() {
	for b in $(seq 1 $NBE); do
		for a in $(seq 1 25); do
			echo "addr replace 10.77.$b.$a/32 dev eth0"
		done | ip -n "xlbh-be$b" -batch -
	done
}
lab_up() {
	lab up
	for b in $(seq 1 $NBE); do
		ip -n xlbh-node route add "10.77.$b.0/24" via "10.20.$b.2"
	done
	lab_addr
}

need() {
	[ -x "$1" ] || { echo "$1 not built (make $1)" >&2; exit 2; }
}

case "${1:-test}" in
test)
	need "$driver"
	# As root, in a network namespace of its own: the TCP cases add
	# firewall rules (a REJECT, a DROP) that must not touch the host.
	if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v nft >/dev/null; then
		exec unshare --net sh -c 'ip link set lo up && XLB_HEALTH_NETNS=1 exec "$0"' "$driver"
	fi
	exec "$driver"
	;;
bench)
	shift
	need "$out/bench"
	[ $# -gt 0 ] || set -- 1000 10000
	if [ "$(id -u)" != 0 ]; then
		echo "health bench: needs root (network namespaces)" >&2
		exit 2
	fi
	trap 'lab down 2>/dev/null' EXIT
	lab_up
	for n in "$@"; do
		nsenter --net=/run/netns/xlbh-node "$out/bench" "$n" "${BENCH_SECS:-10}"
		lab_addr	# the bench removed one address
	done
	;;
*)
	echo "usage: $0 [test | bench [N ...]]" >&2
	exit 2
	;;
esac
