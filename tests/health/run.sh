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
# SAN=1 builds with ASan+UBSan; BUILD (default: build) holds the binaries;
# V=1 shows the engine's log.
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build}
out=$BUILD/tests/health
mkdir -p "$out"
CC=${CC:-gcc}
CFLAGS="-O2 -g -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Iinclude -Iuser"
if [ "${SAN:-0}" = 1 ]; then
	CFLAGS="$CFLAGS -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
fi
# The engine and what it uses: logging, addresses, the hash table, clocks.
srcs=(user/health/*.c user/log.c user/model/model.c user/util/htab.c user/util/errmsg.c user/util/clock.c)

# The bench's lab: xlbh-node, where the engine runs, and four backends
# xlbh-be1..4 on a veth each, with 25 addresses each (10.77.B.1-25).
NBE=4
lab_down() {
	for ns in xlbh-node $(seq -f xlbh-be%g 1 $NBE); do
		ip netns del "$ns" 2>/dev/null || true
	done
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
	lab_down
	ip netns add xlbh-node
	ip -n xlbh-node link set lo up
	for b in $(seq 1 $NBE); do
		ip netns add "xlbh-be$b"
		ip -n "xlbh-be$b" link set lo up
		ip link add "be$b" netns xlbh-node type veth peer name eth0 netns "xlbh-be$b"
		ip -n xlbh-node addr add "10.77.$b.254/24" dev "be$b"
		ip -n xlbh-node link set "be$b" up
		ip -n "xlbh-be$b" addr add "10.77.$b.200/24" dev eth0
		ip -n "xlbh-be$b" link set eth0 up
	done
	lab_addr
}

build() {
	$CC $CFLAGS "tests/health/$1.c" "${srcs[@]}" -lseccomp -o "$out/$1"
}

case "${1:-test}" in
test)
	build driver
	# As root, in a network namespace of its own: the TCP cases add
	# firewall rules (a REJECT, a DROP) that must not touch the host.
	if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v nft >/dev/null; then
		exec unshare --net sh -c 'ip link set lo up && XLB_HEALTH_NETNS=1 exec "$0"' "$out/driver"
	fi
	exec "$out/driver"
	;;
bench)
	shift
	build bench
	[ $# -gt 0 ] || set -- 1000 10000
	if [ "$(id -u)" != 0 ]; then
		echo "health bench: needs root (network namespaces)" >&2
		exit 2
	fi
	lab_up
	trap lab_down EXIT
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
