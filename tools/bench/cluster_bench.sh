#!/usr/bin/env bash
# Cluster benchmark (tools/bench/cluster_bench.py): a three-node lab of its
# own (scripts/lab.sh cluster, prefix xcb<pid>), brought up, measured and
# always torn down. Needs root and the lab lock; make bench runs it.
#
#   tools/bench/cluster_bench.sh [--quick] [--plot FILE.png] [cluster_bench.py options]
#
# Markdown on stdout, progress on stderr. Exit 0 whatever the numbers, 1
# when the lab or a setup broke.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export BUILD=${BUILD:-$ROOT/build}
export LAB_PREFIX=${LAB_PREFIX:-xcb$$} LAB_NODES=3 LAB_PODS=2
LAB=(bash "$ROOT/scripts/lab.sh" cluster)

for b in xlbd xlbctl bench/sock_bench bench/stream bench/lab_bench_srv bench/lab_bench_load; do
	[ -x "$BUILD/$b" ] || { echo "cluster_bench: $BUILD/$b not built (make bench builds it)" >&2; exit 1; }
done
trap '"${LAB[@]}" down >/dev/null 2>&1' EXIT
"${LAB[@]}" up >&2 || { echo "cluster_bench: lab up failed" >&2; exit 1; }
/usr/bin/python3 "$ROOT/tools/bench/cluster_bench.py" "$@"
