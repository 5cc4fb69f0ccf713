#!/usr/bin/env bash
# IP fragments and path MTU with real traffic (issue 13), in the two-node
# lab of tests/external/lab.sh as it is: an xlbd on n1 (XDP on eth0, tc
# on p1's veth, no socket programs, so p1's sockets take the packet path).
# p2 on n2 answers UDP on 5353 with as many bytes as it got.
#
# - ext -> NodePort on n1, backend p2 on n2 (SNAT): datagrams of 4,000
#   bytes over 1,500-byte links, cut in three by ext's stack, answered with
#   4,000 bytes cut in three by p2's: every fragment translated both ways
#   by XDP on n1 (frag_follow), none left behind.
# - p1 -> ClusterIP, backend p2: the same through tc on p1's veth.
# - Path MTU: n2 reaches p2 through a route of MTU 1,400 (p2's veth at
#   kernel defaults, 1,500); a TCP upload of 64 KiB from ext through the
#   node port with SNAT completes, n2's "fragmentation needed" about n1's
#   source-NATed segments translated by n1 for the client (icmp_xlate).
#
# Both nodes drop `ctstate INVALID` throughout. Prints TAP; removes
# everything on exit.
#
#   XLBCTL=path XLBD=path tests/external/frag.sh
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
XLBCTL=${XLBCTL:-$ROOT/build/xlbctl}
XLBD=${XLBD:-$ROOT/build/xlbd}
PY=/usr/bin/python3
CLIENT=$ROOT/tools/lab/client.py
SERVER=$ROOT/tools/lab/server.py

P=xfg$$
PIN=/sys/fs/bpf/$P-n1
. "$ROOT/tests/lib/tap.sh"
. "$ROOT/tests/external/lab.sh"
lab_suite frag
SOCK=$TMP/xlbd.sock
x p2 "$PY" "$SERVER" --name p2 --peer >"$TMP/p2.log" 2>&1 &
pids+=($!)
# UDP 5353: "p2 ADDR:PORT" (the client address it saw), padded with spaces
# to the length of the datagram it answers; DF clear, so its stack cuts it.
x p2 "$PY" -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER: IP_PMTUDISC_DONT
s.bind(("0.0.0.0", 5353))
while True:
    data, a = s.recvfrom(65535)
    msg = ("p2 %s:%d" % a).encode()
    s.sendto(msg + b" " * max(0, len(data) - len(msg) - 1) + b"\n", a)
' >"$TMP/p2udp.log" 2>&1 &
pids+=($!)
mkdir -p "$TMP/state"
nsenter --net="/run/netns/$P-n1" "$XLBD" --iface eth0 --pod-iface lxc1 --pin-dir "$PIN" \
	--state-dir "$TMP/state" --listen "unix:$SOCK" --node-name n1 --socket-lb off \
	--healthz-bind-address "" >"$TMP/xlbd.log" 2>&1 &
daemons+=($!)

ctl() {
	timeout 30 "$XLBCTL" --server "unix:$SOCK" "$@" >"$OUT" 2>"$ERR"
}
for _ in $(seq 100); do
	ctl status && break
	kill -0 "${daemons[0]}" 2>/dev/null || break
	sleep 0.2
done
ctl status || tap_bail "xlbd did not answer: $(tail -n 5 "$TMP/xlbd.log")"
for _ in $(seq 50); do
	x p2 "$PY" -c "import socket; socket.create_connection(('10.244.2.2', 8080), 1)" \
		2>/dev/null && break
	sleep 0.1
done

cat >"$TMP/svc.yaml" <<'EOF'
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: big, namespace: ext}
  spec:
    type: NodePort
    clusterIP: 10.96.70.1
    ports:
    - {name: tcp, port: 80, protocol: TCP, targetPort: 8080, nodePort: 30093}
    - {name: udp, port: 53, protocol: UDP, targetPort: 5353, nodePort: 30093}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: big-a, namespace: ext, labels: {kubernetes.io/service-name: big}}
  addressType: IPv4
  ports: [{name: tcp, port: 8080, protocol: TCP}, {name: udp, port: 5353, protocol: UDP}]
  endpoints:
  - {addresses: [10.244.2.2], conditions: {ready: true}, nodeName: n2}
EOF
ctl apply -f "$TMP/svc.yaml" || tap_bail "apply: $(cat "$ERR")"

jq_() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print($1)" "$OUT"; }
# counter KIND NAME: a counter of n1 (counters: XDP's; pod_counters: tc's)
counter() {
	ctl stats -o json &&
		"$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]].get(sys.argv[3], 0))' \
			"$OUT" "$1" "$2"
}
# big NS DST SEEN: 20 datagrams of 4,000 bytes from NS to DST, each
# answered with 4,000 bytes from DST by p2, which saw SEEN
big() {
	x "$1" "$PY" "$CLIENT" udp --dst "$2" -n 20 --size 4000 --timeout 3 --deadline 120 \
		>"$OUT" 2>"$ERR" || { cat "$ERR"; return 1; }
	[ "$(jq_ 'd["errors"]')" = 0 ] && [ "$(jq_ 'd["wrong_src"]')" = 0 ] &&
		[ "$(jq_ '" ".join(sorted({k.rpartition(":")[0] for k in d["counts"]}))')" = "p2 $3" ] ||
		{ echo "answers:"; cat "$OUT"; return 1; }
}

t_node_port() {
	local f0 d0 f1 d1
	f0=$(counter counters frag_follow) && d0=$(counter counters drop_fragment) || return 1
	big ext 192.168.50.11:30093 192.168.50.11 || return 1
	f1=$(counter counters frag_follow) && d1=$(counter counters drop_fragment) || return 1
	# each datagram and each answer: a first fragment and two later ones
	[ $((f1 - f0)) -ge 80 ] && [ "$d1" = "$d0" ] ||
		{ echo "frag_follow $f0 -> $f1, drop_fragment $d0 -> $d1"; return 1; }
}
check "ext -> NodePort on n1, backend p2 on n2: 20 UDP datagrams of 4,000 bytes over 1,500-byte links, each answered with 4,000 bytes from the node port; p2 sees n1's address; every later fragment translated by XDP both ways (frag_follow)" t_node_port

t_cluster_ip() {
	local f0 r0 f1 r1
	f0=$(counter pod_counters fwd_stack) && r0=$(counter pod_counters rev_stack) || return 1
	big p1 10.96.70.1:53 10.244.1.2 || return 1
	f1=$(counter pod_counters fwd_stack) && r1=$(counter pod_counters rev_stack) || return 1
	[ $((f1 - f0)) -ge 60 ] && [ $((r1 - r0)) -ge 60 ] ||
		{ echo "fwd_stack $f0 -> $f1, rev_stack $r0 -> $r1"; return 1; }
}
check "p1 -> ClusterIP (no socket programs: tc on p1's veth), backend p2 on n2: 20 datagrams of 4,000 bytes answered from the ClusterIP, every fragment through tc both ways" t_cluster_ip

# upload DST: one TCP connection from ext to DST sending 64 KiB (64 lines
# of 1,024 bytes), each line answered by p2; exit 0 when all 64 were
upload() {
	x ext "$PY" -c '
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), 5)
s.settimeout(20)
f = s.makefile("rb")
f.readline()
s.sendall((b"x" * 1023 + b"\n") * 64)
n = 0
while n < 64 and f.readline():
    n += 1
print("answered", n)
sys.exit(0 if n == 64 else 1)' "$1"
}

t_pmtu() {
	local i0 i1
	x n2 ip route replace 10.244.2.2/32 dev lxc1 scope link mtu 1400 || return 1
	i0=$(counter counters icmp_xlate) || return 1
	upload 192.168.50.11:30093 || return 1
	i1=$(counter counters icmp_xlate) || return 1
	[ "$i1" -gt "$i0" ] || { echo "icmp_xlate $i0 -> $i1"; return 1; }
	x ext ip route get 192.168.50.11 | grep -q 'mtu 1400' ||
		{ echo "ext's path MTU:"; x ext ip route get 192.168.50.11; return 1; }
}
check "path MTU through a node port with SNAT: n2 reaches p2 by a 1,400-byte route; a TCP upload of 64 KiB from ext completes, n2's fragmentation needed translated by n1 for the client (icmp_xlate), whose path MTU is then 1400" t_pmtu

check "every node kept its ctstate INVALID -j DROP rules throughout" lab_invalid_kept

tap_finish
