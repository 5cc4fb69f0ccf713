#!/usr/bin/env bash
# xlb's labs, in network namespaces: the one place their topologies are
# written (scripts/lab/*.sh), used by the tests, the demo and the benches.
#
#   scripts/lab.sh [node] up|down|status   the single-node lab: a node, a
#                                          client, an external client and
#                                          backends (scripts/lab/node.sh)
#   scripts/lab.sh cluster ...             three nodes on a fabric with a
#                                          router, Calico-style pods
#                                          (scripts/lab/cluster.sh)
#
# Each is sized and named by LAB_* variables (prefix, number of backends,
# nodes and pods, tuning), listed at the top of its script; everything a
# lab creates carries its prefix, so labs with different prefixes never
# collide.
set -euo pipefail
DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lab
case "${1:-}" in
cluster) shift; exec bash "$DIR/cluster.sh" "$@" ;;
node) shift; exec bash "$DIR/node.sh" "$@" ;;
up | down | status) exec bash "$DIR/node.sh" "$@" ;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
