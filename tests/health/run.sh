#!/usr/bin/env bash
# The health engine against real servers on 127.0.0.1 (tests/health/driver.c),
# in a network namespace of its own when run as root.
#
#   tests/health/run.sh                 run the tests (a few seconds)
#   tests/health/run.sh bench [N ...]   the benchmark, not part of the tests:
#                                       N TCP targets at a 1 s period (default 1000 10000)
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
# The engine and what it uses: logging, addresses, the hash table.
srcs=(user/health/*.c user/log.c user/model/model.c user/util/htab.c user/util/errmsg.c)

build() {
	$CC $CFLAGS "tests/health/$1.c" "${srcs[@]}" -o "$out/$1"
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
	for n in "$@"; do
		"$out/bench" "$n"
	done
	;;
*)
	echo "usage: $0 [test | bench [N ...]]" >&2
	exit 2
	;;
esac
