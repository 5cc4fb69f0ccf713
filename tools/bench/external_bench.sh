#!/usr/bin/env bash
# External clients to a NodePort whose backend is on another node (issue
# 13), on the three-node cluster lab (scripts/lab/cluster.sh, one pod per
# node, pod veths at kernel defaults, ctstate INVALID -j DROP on every
# node): the client (ext) to n1's node port, the backend n2p1 on n2. New
# TCP connections/s, UDP datagrams/s and one established TCP stream's
# throughput (the backend sending) through xlb (an xlbd on every node, XDP
# on n1's NIC: DNAT + SNAT, replies translated back, neither direction
# through netfilter), through xlb in DSR mode (--lb-mode dsr: n1 sends the
# client's packets IPIP to n2, whose xlb decapsulates them; the backend
# answers the client directly) and kube-proxy's way (its nftables ruleset,
# tools/bench/lab_bench.py gen_nft, on n1: DNAT + masquerade through
# conntrack), rounds alternating; and, as the ceiling of any node's NAT in
# this lab, the client straight to the pod (the router routes the pod
# network to n2: no n1, no NAT). Prints a Markdown table with the medians
# and the ratios; numbers only (no pass/fail on them: the machine is
# shared).
#
#   sudo tools/bench/external_bench.sh [--quick]
#
# Needs the lab helpers (make bench builds them: $BUILD/bench/lab_bench_*).
# Exit 0 whatever the numbers; 1 if the lab or a setup broke.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
BIN=$BUILD/bench
XLBD=$BUILD/xlbd
XLBCTL=$BUILD/xlbctl
PY=/usr/bin/python3
ROUNDS=3
SECS=4
[ "${1:-}" = --quick ] && ROUNDS=1 && SECS=2
export LAB_PREFIX=xlbxb LAB_NODES=3 LAB_PODS=1
. "$ROOT/tests/cluster/lib.sh"
N1=192.168.50.11 POD=10.244.2.11	# n1's address, n2p1's
# the backend's ports: lab_bench_srv (TCP and UDP), stream (the lab's own
# server has 8080 and 8081)
SRV_PORT=9080 STREAM_PORT=9100

log() { printf 'external_bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# x TARGET CMD...: CMD in the lab's namespace TARGET (ext, nN, nNpP) and
# this script's cgroup, which no socket program is attached to
x() { local t=$1; shift; nsenter --net="/run/netns/$LAB_PREFIX-$t" "$@"; }

cleanup() {
	cluster_cleanup
	suite_tmp_rm
}

[ "$(id -u)" = 0 ] || die "must run as root"
for b in "$BIN/lab_bench_load" "$BIN/lab_bench_srv" "$BIN/stream" "$XLBD" "$XLBCTL"; do
	[ -x "$b" ] || die "$b not built (make bench)"
done
suite_init xlb-external-bench cleanup
out=$(lab up 2>&1) || die "lab up: $out"
# ended with the lab (its namespace deleted)
x n2p1 "$BIN/lab_bench_srv" --name n2p1 --port $SRV_PORT --max-seconds 600 >/dev/null 2>&1 &
x n2p1 "$BIN/stream" serve --port $STREAM_PORT --max-seconds 600 >/dev/null 2>&1 &

cat >"$TMP/svc.yaml" <<EOF
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: np, namespace: bench}
  spec:
    type: NodePort
    clusterIP: 10.96.60.1
    ports:
    - {name: tcp, port: 80, protocol: TCP, targetPort: $SRV_PORT, nodePort: 30080}
    - {name: udp, port: 80, protocol: UDP, targetPort: $SRV_PORT, nodePort: 30080}
    - {name: stream, port: 81, protocol: TCP, targetPort: $STREAM_PORT, nodePort: 30081}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: np-a, namespace: bench, labels: {kubernetes.io/service-name: np}}
  addressType: IPv4
  ports: [{name: tcp, port: $SRV_PORT, protocol: TCP}, {name: udp, port: $SRV_PORT, protocol: UDP},
          {name: stream, port: $STREAM_PORT, protocol: TCP}]
  endpoints:
  - {addresses: [$POD], conditions: {ready: true}, nodeName: n2}
EOF

# kube-proxy's nftables ruleset for the same service, its node port on n1
"$PY" - "$ROOT/tools/bench" >"$TMP/nft" <<EOF || die "gen_nft"
import sys
sys.path.insert(0, sys.argv[1])
import lab_bench
sys.stdout.write(lab_bench.gen_nft([{
    "name": "bench/np", "vip": "10.96.60.1", "backends": ["$POD"],
    "ports": [("tcp", 80, "tcp", $SRV_PORT, 30080), ("udp", 80, "udp", $SRV_PORT, 30080),
              ("tcp", 81, "stream", $STREAM_PORT, 30081)]}], ["$N1"]))
EOF

# start_xlbd [ARG...]: an xlbd on every node, each given the service
start_xlbd() {
	local n
	spawn_xlbd "$@" || return 1
	for n in 1 2 3; do
		ctl "$n" apply -f "$TMP/svc.yaml" >/dev/null || return 1
	done
}

nft_off() { x n1 nft delete table ip kube-proxy 2>/dev/null; return 0; }

# setup SETUP: only SETUP's datapath in the way
setup() {
	case $1 in
	direct) cluster_xlbd_down; nft_off ;;
	xlb) nft_off; cluster_xlbd_down; start_xlbd ;;
	dsr) nft_off; cluster_xlbd_down; start_xlbd --lb-mode dsr ;;
	nft) cluster_xlbd_down; nft_off; x n1 nft -f "$TMP/nft" ;;
	esac
}

# measure SETUP: one TCP, one UDP and one stream run; their rates
# appended to the files of the setup.
measure() {
	local t u g dst=$N1:30080 sdst=$N1:30081
	[ "$1" = direct ] && dst=$POD:$SRV_PORT sdst=$POD:$STREAM_PORT
	t=$(x ext "$BIN/lab_bench_load" tcp --dst "$dst" --src 172.16.0.2 \
		--seconds "$SECS" --warmup 1 --inflight 16 --timeout-ms 1000) || return 1
	u=$(x ext "$BIN/lab_bench_load" udp --dst "$dst" --src 172.16.0.2 \
		--seconds "$SECS" --flows 32 --batch 32 --size 64) || return 1
	g=$(x ext "$BIN/stream" get --dst "$sdst" --seconds "$SECS" --warmup 1) ||
		return 1
	printf '%s\n' "$t" >>"$TMP/$1.tcp"
	printf '%s\n' "$u" >>"$TMP/$1.udp"
	printf '%s\n' "$g" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"rate": d["gbit_s"]}))' >>"$TMP/$1.stream"
	log "$1: $(echo "$t" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.0f conn/s, %d errors %s" % (d["rate"], d["errors"], d["error_kinds"]))'), $(echo "$u" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.0f datagrams/s delivered" % d["rate"])'), $(echo "$g" | /usr/bin/python3 -c 'import json,sys; print("%.2f Gbit/s" % json.load(sys.stdin)["gbit_s"])')"
}

for r in $(seq "$ROUNDS"); do
	for s in xlb dsr nft direct; do
		setup "$s" || die "set up $s"
		measure "$s" || die "measure $s"
	done
done
cluster_xlbd_down

/usr/bin/python3 - "$TMP" <<'EOF'
import json, statistics, sys
d = sys.argv[1]
def med(setup, kind):
    rows = [json.loads(l) for l in open("%s/%s.%s" % (d, setup, kind))]
    return statistics.median(r["rate"] for r in rows), sum(r.get("errors", 0) for r in rows)
print("| ext -> NodePort, backend on another node | xlb (XDP, SNAT) | xlb (XDP, DSR) | kube-proxy (nftables DNAT + masquerade) | SNAT / nft | DSR / nft | DSR / SNAT | no node in the way (to the pod) | its ratio to nftables |")
print("|---|---|---|---|---|---|---|---|---|")
for kind, unit in (("tcp", "new TCP connections/s"), ("udp", "UDP datagrams/s delivered"),
                   ("stream", "one TCP stream, Gbit/s")):
    x, xe = med("xlb", kind)
    ds, de = med("dsr", kind)
    n, ne = med("nft", kind)
    c, ce = med("direct", kind)
    r = lambda a, b: "%.2fx" % (a / b) if b else "-"
    if kind == "stream":
        print("| %s | %.2f | %.2f | %.2f | %s | %s | %s | %.2f | %s |"
              % (unit, x, ds, n, r(x, n), r(ds, n), r(ds, x), c, r(c, n)))
    else:
        print("| %s | %.0f (%d errors) | %.0f (%d errors) | %.0f (%d errors) | %s | %s | %s | %.0f (%d errors) | %s |"
              % (unit, x, xe, ds, de, n, ne, r(x, n), r(ds, n), r(ds, x), c, ce, r(c, n)))
EOF
