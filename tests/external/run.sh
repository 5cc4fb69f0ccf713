#!/usr/bin/env bash
# External clients through one node's NIC, with real traffic (issue 13):
# node ports, a LoadBalancer ingress IP and an external IP served by XDP
# on n1 with source NAT to a backend on n2, loadBalancerSourceRanges,
# externalTrafficPolicy Local without a local endpoint, and a deliberately
# small SNAT range (exhaustion counted, ports reused once flows end, no
# collision with the node's own connections). Every node drops
# `ctstate INVALID` in INPUT and FORWARD throughout.
#
# The lab: tests/external/lab.sh (an external client, a router, nodes n1
# and n2, a pod p2 on n2 answering with the address it saw, through
# tools/lab/server.py --peer); xlbd runs on n1 with XDP on its eth0,
# --node-name n1 and --snat-port-range 62000-62199. Prints TAP; removes
# everything on exit.
#
#   XLBCTL=path XLBD=path tests/external/run.sh
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
XLBCTL=${XLBCTL:-$ROOT/build/xlbctl}
XLBD=${XLBD:-$ROOT/build/xlbd}
PY=/usr/bin/python3
CLIENT=$ROOT/tools/lab/client.py
SERVER=$ROOT/tools/lab/server.py

P=xlbx$$
PIN=/sys/fs/bpf/$P
TMP=
daemon_pid=
pids=()

. "$ROOT/tests/lib/tap.sh"
. "$ROOT/tests/external/lab.sh"

cleanup() {
	if [ -n "$daemon_pid" ]; then
		kill "$daemon_pid" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$daemon_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	if [ -d "$PIN" ] && [ -x "$XLBD" ] && [ -e "/run/netns/$P-n1" ]; then
		timeout 20 nsenter --net="/run/netns/$P-n1" "$XLBD" --cleanup --dataplane xdp \
			--pin-dir "$PIN" >/dev/null 2>&1 || echo "# cleanup: xlbd --cleanup failed" >&2
	fi
	lab_down
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	[ -d "$PIN" ] && rm -rf "$PIN"
	[ -n "$TMP" ] && [ -d "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TMP=$(mktemp -d /tmp/xlb-external-test.XXXXXX) || exit 1
SOCK=$TMP/xlbd.sock
OUT=$TMP/out
ERR=$TMP/err

[ "$(id -u)" -eq 0 ] || tap_bail "must run as root"
[ -x "$XLBD" ] && [ -x "$XLBCTL" ] || tap_bail "$XLBD or $XLBCTL not built"

lab_up || tap_bail "the lab could not be built"
x p2 "$PY" "$SERVER" --name p2 --peer >"$TMP/p2.log" 2>&1 &
pids+=($!)
x p1 "$PY" "$SERVER" --name p1 --peer >"$TMP/p1.log" 2>&1 &
pids+=($!)
# The node's own connections may use the whole range up to 65000, the
# SNAT range included: only ip_local_reserved_ports keeps them out.
x n1 sysctl -qw net.ipv4.ip_local_port_range="32768 65000" net.ipv4.ip_local_reserved_ports=""
mkdir -p "$TMP/state"
nsenter --net="/run/netns/$P-n1" "$XLBD" --iface eth0 --pod-iface lxc1 --pin-dir "$PIN" --state-dir "$TMP/state" \
	--listen "unix:$SOCK" --node-name n1 --snat-port-range 62000-62199 \
	--metrics 127.0.0.1:9100 --healthz-bind-address "" >"$TMP/xlbd.log" 2>&1 &
daemon_pid=$!

ctl() {
	timeout 30 "$XLBCTL" --server "unix:$SOCK" "$@" >"$OUT" 2>"$ERR"
}
for _ in $(seq 100); do
	ctl status && break
	kill -0 "$daemon_pid" 2>/dev/null || break
	sleep 0.2
done
ctl status || tap_bail "xlbd did not answer: $(tail -n 5 "$TMP/xlbd.log")"
for p in 1 2; do
	for _ in $(seq 50); do
		x "p$p" "$PY" -c "import socket; socket.create_connection(('10.244.$p.2', 8080), 1)" \
			2>/dev/null && break
		sleep 0.1
	done
done

# slice NAME [N...]: the EndpointSlice of Service ext/NAME: the pods pN
# on nodes nN (default p2 on n2), TCP 8080.
slice() {
	local n name=$1
	shift
	printf -- '- apiVersion: discovery.k8s.io/v1\n  kind: EndpointSlice\n'
	printf -- '  metadata: {name: %s-a, namespace: ext, labels: {kubernetes.io/service-name: %s}}\n' \
		"$name" "$name"
	printf -- '  addressType: IPv4\n  ports: [{name: tcp, port: 8080, protocol: TCP}]\n'
	printf -- '  endpoints:\n'
	for n in "${@:-2}"; do
		printf -- '  - {addresses: [10.244.%s.2], conditions: {ready: true}, nodeName: n%s}\n' "$n" "$n"
	done
}
{
	printf 'apiVersion: v1\nkind: List\nitems:\n'
	cat <<'EOF'
- apiVersion: v1
  kind: Service
  metadata: {name: remote, namespace: ext}
  spec:
    type: NodePort
    clusterIP: 10.96.50.1
    ports: [{name: tcp, port: 80, protocol: TCP, targetPort: 8080, nodePort: 30080}]
EOF
	slice remote
	cat <<'EOF'
- apiVersion: v1
  kind: Service
  metadata: {name: lb, namespace: ext}
  spec:
    type: LoadBalancer
    clusterIP: 10.96.50.2
    externalIPs: [198.51.100.7]
    loadBalancerSourceRanges: [172.16.0.0/28]
    ports: [{name: tcp, port: 80, protocol: TCP, targetPort: 8080, nodePort: 30081}]
  status:
    loadBalancer:
      ingress: [{ip: 203.0.113.10}]
EOF
	slice lb
	cat <<'EOF'
- apiVersion: v1
  kind: Service
  metadata: {name: local, namespace: ext}
  spec:
    type: LoadBalancer
    clusterIP: 10.96.50.3
    externalTrafficPolicy: Local
    healthCheckNodePort: 32100
    ports: [{name: tcp, port: 80, protocol: TCP, targetPort: 8080, nodePort: 30082}]
EOF
	slice local
	cat <<'EOF'
- apiVersion: v1
  kind: Service
  metadata: {name: mine, namespace: ext}
  spec:
    type: NodePort
    clusterIP: 10.96.50.4
    ports: [{name: tcp, port: 80, protocol: TCP, targetPort: 8080, nodePort: 30084}]
EOF
	slice mine 1
	cat <<'EOF'
- apiVersion: v1
  kind: Service
  metadata: {name: mine-local, namespace: ext}
  spec:
    type: NodePort
    clusterIP: 10.96.50.5
    externalTrafficPolicy: Local
    ports: [{name: tcp, port: 80, protocol: TCP, targetPort: 8080, nodePort: 30085}]
EOF
	slice mine-local 1 2
} >"$TMP/svc.yaml"
ctl apply -f "$TMP/svc.yaml" || tap_bail "apply: $(cat "$ERR")"

# conns FROM DST N [TIMEOUT]: N connections from ext (source FROM, "" for
# the default) to DST; the client's JSON in $OUT.
conns() {
	local src=()
	[ -n "$1" ] && src=(--src "$1")
	x ext "$PY" "$CLIENT" tcp --dst "$2" -n "$3" "${src[@]}" --timeout "${4:-2}" \
		--deadline 300 >"$OUT" 2>"$ERR"
}
# jq-less reads of the client's JSON
errors() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["errors"])' "$OUT"; }
# the source ports p2 saw from ADDR, one a line
ports_seen() {
	"$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
for k, v in d["counts"].items():
    name, _, peer = k.partition(" ")
    ip, _, port = peer.rpartition(":")
    if ip == sys.argv[2]:
        for _ in range(v):
            print(port)' "$OUT" "$1"
}
counter() {
	ctl stats -o json >/dev/null 2>&1
	ctl stats -o json && "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["counters"].get(sys.argv[2], 0))' "$OUT" "$1"
}

t_nodeport() {
	local bad
	conns "" 192.168.50.11:30080 50 || { cat "$ERR"; return 1; }
	[ "$(errors)" = 0 ] || { echo "failures:"; cat "$OUT"; return 1; }
	[ "$(ports_seen 192.168.50.11 | wc -l)" = 50 ] || { echo "not all from the node:"; cat "$OUT"; return 1; }
	bad=$(ports_seen 192.168.50.11 | awk '$1 < 62000 || $1 > 62199')
	[ -z "$bad" ] || { echo "ports outside the SNAT range: $bad"; return 1; }
}
check "ext -> NodePort on n1, backend on n2: 50/50 answered, the backend sees n1's address and SNAT ports (62000-62199)" t_nodeport

t_lb_ext_ip() {
	conns "" 203.0.113.10:80 20 && [ "$(errors)" = 0 ] && [ "$(ports_seen 192.168.50.11 | wc -l)" = 20 ] ||
		{ echo "LoadBalancer IP:"; cat "$OUT" "$ERR"; return 1; }
	conns "" 198.51.100.7:80 20 && [ "$(errors)" = 0 ] && [ "$(ports_seen 192.168.50.11 | wc -l)" = 20 ] ||
		{ echo "external IP:"; cat "$OUT" "$ERR"; return 1; }
}
check "ext -> LoadBalancer ingress IP and -> external IP: 20/20 each, SNATed to n1" t_lb_ext_ip

# explained SRC DST KIND: xlbctl explain's kind for SRC -> DST (XDP) is KIND.
explained() {
	local kind
	ctl explain --src "$1" --dst "$2" -o json &&
		kind=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["kind"])' "$OUT") &&
		[ "$kind" = "$3" ] || { echo "explain $1 -> $2: '${kind:-}', expected '$3':"; cat "$OUT" "$ERR"; return 1; }
}

t_ranges() {
	local before after
	before=$(counter drop_source_range)
	conns 172.16.0.100 203.0.113.10:80 3 0.5 || { cat "$ERR"; return 1; }
	[ "$(errors)" = 3 ] || { echo "answered outside the range:"; cat "$OUT"; return 1; }
	after=$(counter drop_source_range)
	[ "$after" -gt "$before" ] || { echo "drop_source_range $before -> $after"; return 1; }
	conns 172.16.0.2 203.0.113.10:80 3 && [ "$(errors)" = 0 ] || { cat "$OUT"; return 1; }
	explained 172.16.0.100:40000 203.0.113.10:80 "source range" &&
		explained 172.16.0.2:40000 203.0.113.10:80 "flow hash"
}
check "loadBalancerSourceRanges 172.16.0.0/28: 172.16.0.100 dropped (drop_source_range), 172.16.0.2 answered; xlbctl explain says so" t_ranges

t_etp_local() {
	local before after code
	before=$(counter drop_no_local_endpoint)
	conns "" 192.168.50.11:30082 3 0.5 || { cat "$ERR"; return 1; }
	[ "$(errors)" = 3 ] || { echo "n1 answered without a local endpoint:"; cat "$OUT"; return 1; }
	after=$(counter drop_no_local_endpoint)
	[ "$after" -gt "$before" ] || { echo "drop_no_local_endpoint $before -> $after"; return 1; }
	code=$(x ext curl -s -o "$TMP/hc" -w '%{http_code}' -m 5 http://192.168.50.11:32100/healthz)
	[ "$code" = 503 ] && grep -q '"localEndpoints": 0' "$TMP/hc" || { echo "hc $code"; cat "$TMP/hc"; return 1; }
	explained 172.16.0.2:40000 192.168.50.11:30082 "no local endpoint"
}
check "externalTrafficPolicy Local, endpoint only on n2: n1 drops external traffic (drop_no_local_endpoint), its health-check node port says 503, xlbctl explain says why" t_etp_local

# pod_counter NAME: a counter of the pod veth and NIC tc programs on n1.
pod_counter() {
	ctl stats -o json && "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["pod_counters"].get(sys.argv[2], 0))' "$OUT" "$1"
}

# local_pod PORT: 50 connections to n1's node port PORT, served by p1 on
# n1 itself: all answered, all by p1, which sees the client's own address;
# the NIC's tc delivered them and the pod's veth sent the replies out
# (neither through netfilter, whose INVALID rule would drop them).
local_pod() {
	local fwd0 rev0 fwd1 rev1 names
	fwd0=$(pod_counter nic_fwd_local) && rev0=$(pod_counter rev_nic) || return 1
	conns "" "192.168.50.11:$1" 50 || { cat "$ERR"; return 1; }
	[ "$(errors)" = 0 ] || { echo "failures:"; cat "$OUT"; return 1; }
	[ "$(ports_seen 172.16.0.2 | wc -l)" = 50 ] || { echo "not all from the client:"; cat "$OUT"; return 1; }
	names=$("$PY" -c 'import json,sys; print(" ".join(sorted({k.split()[0] for k in json.load(open(sys.argv[1]))["counts"]})))' "$OUT")
	[ "$names" = p1 ] || { echo "answered by: $names"; return 1; }
	fwd1=$(pod_counter nic_fwd_local) && rev1=$(pod_counter rev_nic) || return 1
	[ $((fwd1 - fwd0)) -ge 150 ] && [ $((rev1 - rev0)) -ge 100 ] ||
		{ echo "nic_fwd_local $fwd0 -> $fwd1, rev_nic $rev0 -> $rev1"; return 1; }
}
check "ext -> NodePort on n1, its only endpoint p1 on n1 (eTP Cluster): 50/50 answered by p1, client address kept, delivered by tc on the NIC and answered through p1's veth (nic_fwd_local, rev_nic)" local_pod 30084
check "ext -> NodePort on n1, eTP Local, endpoints p1 on n1 and p2 on n2: 50/50 answered by p1, client address kept, through tc both ways" local_pod 30085

# reused_port: one client port (outside the client's ephemeral range, so
# no earlier connection here used it) towards both node ports of p1, the
# first flow's entries still in XDP's conntrack: the flows share their
# reply tuple (p1:8080 -> client:61234), and the second one's SYN-ACK must
# leave from the node port it answers, not the first flow's (the client
# would wait for it: how check 6 failed in CI, when the kernel happened to
# give one client port to a flow of each).
reused_port() {
	local dport
	for dport in 30084 30085; do
		x ext "$PY" "$CLIENT" probe --dst "192.168.50.11:$dport" --sport 61234 \
			--expect "p1 172.16.0.2:61234" >"$OUT" 2>&1 ||
			{ echo "from port 61234 to $dport:"; cat "$OUT"; return 1; }
	done
}
check "one client port to node port 30084, then to 30085 (both p1, one reply tuple): both answered from the node port the client called" reused_port

# The node's own connections to the backend, in the background: local
# ports from 32768-65000 minus the reserved ones, never an SNAT port.
node_conns() {
	x n1 "$PY" "$CLIENT" tcp --dst 10.244.2.2:8080 -n 300 --deadline 120 >"$TMP/node.json" 2>&1
}

jget() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }

# held_ports: the SNAT ports of the held flows (hold's ready file), one a line
held_ports() {
	"$PY" -c '
import json, sys
for k in json.load(open(sys.argv[1]))["names"]:
    print(k.rpartition(":")[2])' "$TMP/ready"
}

t_exhaust_reuse() {
	local seen before after n np bad pid hold
	# The earlier checks' flows give their ports back first (closed flows
	# expire 10 s after the close, on xlbd's 10 s tick).
	sleep 25
	node_conns & pid=$!
	before=$(counter drop_snat_exhausted)
	# 230 long-lived flows on 200 ports: the range runs out (held flows
	# are open: their ports are never taken over).
	rm -f "$TMP/ready" "$TMP/stop"
	x ext "$PY" "$CLIENT" hold --dst 192.168.50.11:30080 -n 230 --seconds 120 --timeout 0.5 \
		--ready "$TMP/ready" --stop "$TMP/stop" >"$TMP/hold.json" 2>&1 & hold=$!
	for _ in $(seq 600); do
		[ -s "$TMP/ready" ] && break
		sleep 0.2
	done
	n=$(jget "$TMP/ready" opened)
	[ "$n" -gt 150 ] && [ "$n" -le 200 ] || { echo "held $n:"; cat "$TMP/ready"; return 1; }
	after=$(counter drop_snat_exhausted)
	[ "$after" -gt "$before" ] || { echo "drop_snat_exhausted $before -> $after"; return 1; }
	x n1 curl -s -m 5 http://127.0.0.1:9100/metrics >"$TMP/metrics" &&
		grep -Eq '^xlb_datapath_packets_total\{reason="drop_snat_exhausted"\} [1-9]' "$TMP/metrics" ||
		{ echo "not in /metrics:"; grep snat "$TMP/metrics"; return 1; }
	seen=$(held_ports | sort -u)
	[ "$(echo "$seen" | wc -l)" = "$n" ] || { echo "held flows share ports: $seen"; return 1; }
	touch "$TMP/stop"
	wait "$hold"
	[ "$(jget "$TMP/hold.json" broken)" = 0 ] || { echo "held flows broke:"; cat "$TMP/hold.json"; return 1; }
	wait "$pid"
	# The node's own: all answered, none from an SNAT port.
	OUT=$TMP/node.json
	[ "$(errors)" = 0 ] || { echo "node's own connections failed:"; cat "$OUT"; return 1; }
	np=$(ports_seen 192.168.50.11 | wc -l)
	bad=$(ports_seen 192.168.50.11 | awk '$1 >= 62000 && $1 <= 62199')
	[ "$np" = 300 ] && [ -z "$bad" ] || { echo "node's own: $np, on SNAT ports: $bad"; return 1; }
	OUT=$TMP/out
	# The held flows ended (FIN both ways): a second later their ports
	# serve new flows, taken over before their expiry.
	sleep 2
	conns "" 192.168.50.11:30080 100 || { cat "$ERR"; return 1; }
	[ "$(errors)" = 0 ] || { echo "after the flows ended:"; cat "$OUT"; return 1; }
	[ -n "$(comm -12 <(echo "$seen") <(ports_seen 192.168.50.11 | sort -u))" ] ||
		{ echo "no port reused"; return 1; }
}
check "SNAT range of 200 ports: 230 flows held open run it out (at most 200 held, none broken, each on its own port; drop_snat_exhausted, in /metrics); 300 own connections of n1 meanwhile never on an SNAT port; once the held flows end, 100/100 again on their ports" t_exhaust_reuse

t_invalid_rules() {
	local n
	for n in 1 2; do
		x "n$n" iptables -w -S FORWARD | grep -q 'ctstate INVALID -j DROP' &&
			x "n$n" iptables -w -S INPUT | grep -q 'ctstate INVALID -j DROP' ||
			{ echo "n$n lost its INVALID rules"; return 1; }
	done
}
check "every node kept its ctstate INVALID -j DROP rules throughout" t_invalid_rules

tap_finish
