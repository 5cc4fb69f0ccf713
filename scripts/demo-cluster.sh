#!/usr/bin/env bash
# xlb demo on the three-node cluster lab: pods and nodes reaching ClusterIPs
# through socket-level load balancing, an xlbd on every node.
#
#   scripts/demo-cluster.sh [--keep]   (make demo; DEMO_ARGS=--keep keeps it)
#
# Brings the cluster lab up (scripts/lab.sh cluster, prefix xlbdemo: three
# nodes with two pods each, wired as Calico wires them, pod veths at kernel
# defaults, INVALID drop on every node), starts xlbd on every node (socket
# programs on the node's cgroup, tc on its pod veths, XDP on its NIC), feeds
# each the same Kubernetes YAML (tests/cluster/lb-services.yaml), then shows
# real connections from pods and from a node: spread over the three nodes,
# the client address each backend saw, hairpin, internalTrafficPolicy Local,
# 16 KiB answers, what `xlbctl explain` predicts and the socket counters;
# then an external client reaching a LoadBalancer IP that the lab's router
# spreads over the three nodes (ECMP), served by XDP on each node's NIC.
# Without --keep everything is torn down.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3
XLBD="$ROOT/build/xlbd"
XLBCTL="$ROOT/build/xlbctl"
export LAB_PREFIX=xlbdemo LAB_NODES=3 LAB_PODS=2
LAB=(bash "$ROOT/scripts/lab.sh" cluster)
RUN=/run/$LAB_PREFIX
KEEP=0

for a in "$@"; do
	case "$a" in
	--keep) KEEP=1 ;;
	-h | --help) sed -n '2,15p' "$0"; exit 0 ;;
	*) echo "demo: unknown argument $a" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "demo: must run as root" >&2; exit 1; }
for b in "$XLBD" "$XLBCTL"; do
	[ -x "$b" ] || { echo "demo: $b not built (make all)" >&2; exit 1; }
done

ctl() { local n=$1; shift; timeout 30 "$XLBCTL" -s "unix:$RUN/xlbd-n$n.sock" "$@"; }
client() { local t=$1; shift; "${LAB[@]}" exec "$t" "$PY" "$ROOT/tools/lab/client.py" "$@"; }

# xlbd_unpin (the test suites' teardown, tests/lib/suite.sh)
. "$ROOT/tests/lib/suite.sh"
teardown() {
	"${LAB[@]}" unspawn xlbd >/dev/null 2>&1 || true
	for n in 1 2 3; do
		xlbd_unpin "$LAB_PREFIX-n$n" "/sys/fs/bpf/$LAB_PREFIX/n$n"
	done
	"${LAB[@]}" down >/dev/null 2>&1 || true
}
on_exit() {
	local rc=$?
	if [ "$KEEP" -eq 1 ] && [ "$rc" -eq 0 ]; then
		cat <<EOF

Lab left up (--keep). Try:
  export LAB_PREFIX=$LAB_PREFIX
  scripts/lab.sh cluster exec n1p1 $PY tools/lab/client.py tcp --dst 10.96.30.1:80 -n 30
  scripts/lab.sh cluster exec n2 $PY tools/lab/client.py udp --dst 10.96.30.1:53 -n 30
  scripts/lab.sh cluster exec ext $PY tools/lab/client.py tcp --dst 203.0.113.10:80 -n 30
  scripts/lab.sh cluster ecmp 1 2      # n3 leaves the router's ECMP group (ecmp: all again)
  $XLBCTL -s unix:$RUN/xlbd-n1.sock stats
  nsenter --net=/run/netns/$LAB_PREFIX-n1p1 $XLBCTL -s unix:$RUN/xlbd-n1.sock \\
      explain --hook socket --dst 10.96.30.5:80
xlbd's logs: $RUN/xlbd-n*.log
Tear down: LAB_PREFIX=$LAB_PREFIX scripts/lab.sh cluster down
EOF
	else
		teardown
	fi
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }

# show TITLE JSON...: per backend (with its node) the connections it took
# and the client addresses it saw.
show() {
	"$PY" - "$@" <<'EOF'
import json, sys
title, results = sys.argv[1], [json.loads(x) for x in sys.argv[2:]]
names, peers, errors = {}, {}, 0
for r in results:
    errors += r.get("errors", 0)
    for k, v in r["counts"].items():
        name, _, peer = k.partition(" ")
        names[name] = names.get(name, 0) + v
        if peer:
            peers.setdefault(name, set()).add(peer.rpartition(":")[0])
total = sum(names.values())
print("\n%s: %d answered, %d errors" % (title, total, errors))
for name in sorted(names):
    n = names[name]
    node = name[:2] if name.startswith("n") else "?"
    print("  %-5s on %-3s %5d %6.1f%%  %-32s saw %s" % (
        name, node, n, 100.0 * n / total, "#" * int(round(50.0 * n / total)),
        ", ".join(sorted(peers.get(name, []))) or "-"))
EOF
}

step "cluster lab: router + external client, 3 nodes x 2 pods (Calico-style veths, kernel defaults)"
"${LAB[@]}" up

step "xlbd on every node: socket LB on the node's cgroup, tc on lxc*, XDP on eth0"
"${LAB[@]}" spawn xlbd -- "$XLBD" --iface eth0 --pod-iface 'lxc*' --cgroup-root @CGROUP@ \
	--pin-dir @PIN@ --state-dir @RUN@/state-@NODE@ --listen unix:@RUN@/xlbd-@NODE@.sock \
	--node-name @NODE@
for n in 1 2 3; do
	for _ in $(seq 100); do ctl "$n" status >/dev/null 2>&1 && break; sleep 0.1; done
	ctl "$n" apply -f "$ROOT/tests/cluster/lb-services.yaml" >/dev/null
done
ctl 1 status | sed -n '1,6p'
ctl 1 get services

step "pods and nodes -> ClusterIPs (no NAT anywhere: each backend sees the real client)"
show "n1p1 -> all 10.96.30.1:80 (TCP, backends on n1, n2, n3)" \
	"$(client n1p1 tcp --dst 10.96.30.1:80 -n 90)"
show "n2p2 -> all 10.96.30.1:53 (UDP)" "$(client n2p2 udp --dst 10.96.30.1:53 -n 60)"
show "node n1 itself -> remote 10.96.30.2:80 (backends on n2 and n3 only)" \
	"$(client n1 tcp --dst 10.96.30.2:80 -n 40)"
show "n1p1 -> self 10.96.30.3:80 (its own service: hairpin)" \
	"$(client n1p1 tcp --dst 10.96.30.3:80 -n 5)"
show "local 10.96.30.4:80 (internalTrafficPolicy Local) from n1p1 and from n3p1" \
	"$(client n1p1 tcp --dst 10.96.30.4:80 -n 10)" "$(client n3p1 tcp --dst 10.96.30.4:80 -n 10)"
show "n2p1 -> bulk 10.96.30.6:80: 50 HTTP GETs of 16 KiB, every byte checked" \
	"$(client n2p1 http --dst 10.96.30.6:80 -n 50 --bytes 16384)"

step "xlbctl explain --hook socket, run in n1p1's network namespace (sticky, ClientIP affinity)"
nsenter --net="/run/netns/$LAB_PREFIX-n1p1" "$XLBCTL" -s "unix:$RUN/xlbd-n1.sock" explain \
	--hook socket --dst 10.96.30.5:80 || true
show "n1p1 -> sticky 10.96.30.5:80" "$(client n1p1 tcp --dst 10.96.30.5:80 -n 10)"

step "xlbctl stats on node 1 (socket counters: no packet went through a NAT)"
ctl 1 stats | sed -n '/^SOCKET/,$p'

step "external client -> LoadBalancer IP: the router's ECMP route (L4 hash) over the three nodes"
ip -n "$LAB_PREFIX-rtr" route show 203.0.113.0/24
ip -n "$LAB_PREFIX-rtr" nexthop show id 100
show "ext 172.16.0.2 -> web 203.0.113.10:80 (sh, Maglev): every node picks this client's backend alike; it saw the node that source-NATed the flow (192.168.50.1N), or the client when the flow came in through its own node" \
	"$(client ext tcp --dst 203.0.113.10:80 -n 60)"
for n in 1 2 3; do
	read -r new snat < <(ctl "$n" stats -o json | "$PY" -c 'import json,sys
c = json.load(sys.stdin)["counters"]
print(c.get("ct_new", 0), c.get("snat_new", 0))')
	printf '  n%s: XDP took %s new flows, source-NATed %s of them\n' "$n" "$new" "$snat"
done
"${LAB[@]}" ecmp 1 2
show "n3 left the router's ECMP group (scripts/lab.sh cluster ecmp 1 2): the same client, through n1 and n2 only, the same backend" \
	"$(client ext tcp --dst 203.0.113.10:80 -n 30)"
"${LAB[@]}" ecmp
