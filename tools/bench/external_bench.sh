#!/usr/bin/env bash
# External clients to a NodePort whose backend is on another node (issue
# 13): new TCP connections/s, UDP datagrams/s and one established TCP
# stream's throughput (the backend sending) through xlb (XDP on n1's
# NIC: DNAT + SNAT, replies translated back, neither direction through
# netfilter), through xlb in DSR mode (n1 sends the client's packets IPIP
# to the backend, n2's xlb decapsulates them, the backend answers the
# client directly) and kube-proxy's way (nftables DNAT + masquerade on n1,
# through conntrack), in one lab (tests/external/lab.sh), rounds
# alternating; and, as the ceiling of any node's NAT in this lab, the
# client straight to the pod (the router routes the pod network to n2: no
# n1, no NAT). Prints a Markdown table with the medians and the ratios;
# numbers only (no pass/fail on them: the machine is shared).
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
P=xlbxb
PIN=/sys/fs/bpf/$P-n1
PIN2=/sys/fs/bpf/$P-n2
ROUNDS=3
SECS=4
[ "${1:-}" = --quick ] && ROUNDS=1 && SECS=2
TMP=
daemon_pid=
daemon2_pid=

. "$ROOT/tests/external/lab.sh"
log() { printf 'external_bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

stop_xlbd() {
	lab_xlbd_down $daemon_pid $daemon2_pid
	daemon_pid= daemon2_pid=
}

cleanup() {
	stop_xlbd
	lab_down
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ "$(id -u)" = 0 ] || die "must run as root"
for b in "$BIN/lab_bench_load" "$BIN/lab_bench_srv" "$BIN/stream" "$XLBD" "$XLBCTL"; do
	[ -x "$b" ] || die "$b not built (make bench)"
done
TMP=$(mktemp -d /tmp/xlb-external-bench.XXXXXX) || exit 1
lab_down
lab_up || die "the lab could not be built"
x p2 "$BIN/lab_bench_srv" --name p2 --max-seconds 600 >/dev/null 2>&1 &
x p2 "$BIN/stream" serve --port 9100 --max-seconds 600 >/dev/null 2>&1 &
# only the direct setup sends to the pod's own address
x rtr ip route replace 10.244.2.0/24 via 192.168.50.12 || die "route to the pod network"

# start_xlbd [snat|dsr]: xlbd on n1 in that lb-mode; for dsr also on n2,
# whose xlb decapsulates what n1 sends its pod.
start_xlbd() {
	local sock
	rm -rf "$TMP/state" "$TMP/state2"
	mkdir -p "$TMP/state" "$TMP/state2"
	nsenter --net="/run/netns/$P-n1" "$XLBD" --iface eth0 --pin-dir "$PIN" \
		--state-dir "$TMP/state" --listen "unix:$TMP/xlbd.sock" --node-name n1 \
		--lb-mode "${1:-snat}" --healthz-bind-address "" >"$TMP/xlbd.log" 2>&1 &
	daemon_pid=$!
	if [ "${1:-}" = dsr ]; then
		nsenter --net="/run/netns/$P-n2" "$XLBD" --iface eth0 --pod-iface lxc1 \
			--pin-dir "$PIN2" --state-dir "$TMP/state2" --listen "unix:$TMP/xlbd2.sock" \
			--node-name n2 --healthz-bind-address "" >"$TMP/xlbd2.log" 2>&1 &
		daemon2_pid=$!
	fi
	for sock in "$TMP/xlbd.sock" ${daemon2_pid:+"$TMP/xlbd2.sock"}; do
		for _ in $(seq 100); do
			"$XLBCTL" --server "unix:$sock" status >/dev/null 2>&1 && break
			sleep 0.1
		done
		apply_svc "$sock" || return 1
	done
}

apply_svc() {
	"$XLBCTL" --server "unix:$1" apply -f - >/dev/null <<'EOF' || return 1
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
    - {name: tcp, port: 80, protocol: TCP, targetPort: 8080, nodePort: 30080}
    - {name: udp, port: 80, protocol: UDP, targetPort: 8080, nodePort: 30080}
    - {name: stream, port: 81, protocol: TCP, targetPort: 9100, nodePort: 30081}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: np-a, namespace: bench, labels: {kubernetes.io/service-name: np}}
  addressType: IPv4
  ports: [{name: tcp, port: 8080, protocol: TCP}, {name: udp, port: 8080, protocol: UDP},
          {name: stream, port: 9100, protocol: TCP}]
  endpoints:
  - {addresses: [10.244.2.2], conditions: {ready: true}, nodeName: n2}
EOF
}

# kube-proxy's nftables NodePort, reduced to this one service: DNAT in
# prerouting, masquerade of what was DNATed on its way out.
NFT_RULES='table ip xlbxb {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 192.168.50.11 tcp dport 30080 dnat to 10.244.2.2:8080
		ip daddr 192.168.50.11 udp dport 30080 dnat to 10.244.2.2:8080
		ip daddr 192.168.50.11 tcp dport 30081 dnat to 10.244.2.2:9100
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		ct status dnat ip daddr 10.244.2.2 masquerade
	}
}'

setup() {
	case $1 in
	direct) stop_xlbd; x n1 nft delete table ip xlbxb 2>/dev/null; return 0 ;;
	xlb) x n1 nft delete table ip xlbxb 2>/dev/null; stop_xlbd; start_xlbd snat ;;
	dsr) x n1 nft delete table ip xlbxb 2>/dev/null; stop_xlbd; start_xlbd dsr ;;
	nft) stop_xlbd; printf '%s\n' "$NFT_RULES" | x n1 nft -f - ;;
	esac
}

# measure SETUP: one TCP, one UDP and one stream run; their rates
# appended to the files of the setup.
measure() {
	local t u g dst=192.168.50.11:30080 sdst=192.168.50.11:30081
	[ "$1" = direct ] && dst=10.244.2.2:8080 sdst=10.244.2.2:9100
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
stop_xlbd

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
