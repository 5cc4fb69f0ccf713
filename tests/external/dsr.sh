#!/usr/bin/env bash
# Direct server return with real traffic (issue 13), in the two-node lab
# of tests/external/lab.sh (as external_bench uses it): an xlbd on each
# node, n1 with --lb-mode dsr, n2 with the default (snat). An external
# client's flows to n1's node port, LoadBalancer IP and UDP node port
# reach p2 on n2 inside IPIP from n1; n2's xlb decapsulates them into p2,
# which sees the client's own address and answers it straight through
# the router, from the address the client used: the replies never pass
# n1. A Service annotated xlb.io/lb-mode: snat is source-NATed as before;
# a bad value is refused and changes nothing. Both nodes drop `ctstate
# INVALID` throughout. Prints TAP; removes everything on exit.
#
#   XLBCTL=path XLBD=path tests/external/dsr.sh
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
XLBCTL=${XLBCTL:-$ROOT/build/xlbctl}
XLBD=${XLBD:-$ROOT/build/xlbd}
PY=/usr/bin/python3
CLIENT=$ROOT/tools/lab/client.py
SERVER=$ROOT/tools/lab/server.py

P=xlbr$$
. "$ROOT/tests/lib/tap.sh"
. "$ROOT/tests/external/lab.sh"
lab_suite dsr

x p2 "$PY" "$SERVER" --name p2 --peer >"$TMP/p2.log" 2>&1 &
pids+=($!)

# start N MODE: xlbd on node nN, its API on $TMP/nN.sock.
start() {
	mkdir -p "$TMP/state$1"
	nsenter --net="/run/netns/$P-n$1" "$XLBD" --iface eth0 --pod-iface lxc1 \
		--pin-dir "/sys/fs/bpf/$P-n$1" --state-dir "$TMP/state$1" --listen "unix:$TMP/n$1.sock" \
		--node-name "n$1" --lb-mode "$2" --healthz-bind-address "" >"$TMP/xlbd$1.log" 2>&1 &
	daemons+=($!)
}
start 1 dsr
start 2 snat

# ctl N ARGS...: xlbctl against node nN's xlbd
ctl() {
	local n=$1
	shift
	timeout 30 "$XLBCTL" --server "unix:$TMP/n$n.sock" "$@" >"$OUT" 2>"$ERR"
}
for n in 1 2; do
	for _ in $(seq 100); do
		ctl "$n" status && break
		sleep 0.2
	done
	ctl "$n" status || tap_bail "xlbd on n$n did not answer: $(tail -n 5 "$TMP/xlbd$n.log")"
done
for _ in $(seq 50); do
	x p2 "$PY" -c "import socket; socket.create_connection(('10.244.2.2', 8080), 1)" 2>/dev/null && break
	sleep 0.1
done

# svc NAME PORT NODEPORT [ANNOTATION]: a NodePort Service ext/NAME (TCP
# and UDP on PORT -> 8080) whose one endpoint is p2 on n2
svc() {
	printf -- '- apiVersion: v1\n  kind: Service\n'
	printf -- '  metadata: {name: %s, namespace: ext%s}\n' "$1" "${4:+, annotations: {xlb.io/lb-mode: $4\}}"
	printf -- '  spec:\n    type: NodePort\n    clusterIP: 10.96.60.%s\n' "$2"
	printf -- '    ports:\n'
	printf -- '    - {name: tcp, port: 80, protocol: TCP, targetPort: 8080, nodePort: %s}\n' "$3"
	printf -- '    - {name: udp, port: 80, protocol: UDP, targetPort: 8080, nodePort: %s}\n' "$3"
	slice "$1"
}
slice() {
	printf -- '- apiVersion: discovery.k8s.io/v1\n  kind: EndpointSlice\n'
	printf -- '  metadata: {name: %s-a, namespace: ext, labels: {kubernetes.io/service-name: %s}}\n' "$1" "$1"
	printf -- '  addressType: IPv4\n'
	printf -- '  ports: [{name: tcp, port: 8080, protocol: TCP}, {name: udp, port: 8080, protocol: UDP}]\n'
	printf -- '  endpoints:\n  - {addresses: [10.244.2.2], conditions: {ready: true}, nodeName: n2}\n'
}
{
	printf 'apiVersion: v1\nkind: List\nitems:\n'
	svc dsr 1 30090
	svc snat 2 30091 snat
	cat <<'EOF'
- apiVersion: v1
  kind: Service
  metadata: {name: lb, namespace: ext, annotations: {xlb.io/lb-mode: dsr}}
  spec:
    type: LoadBalancer
    clusterIP: 10.96.60.3
    ports: [{name: tcp, port: 80, protocol: TCP, targetPort: 8080, nodePort: 30092}]
  status:
    loadBalancer:
      ingress: [{ip: 203.0.113.10}]
EOF
	slice lb
} >"$TMP/svc.yaml"
for n in 1 2; do
	ctl "$n" apply -f "$TMP/svc.yaml" || tap_bail "apply on n$n: $(cat "$ERR")"
done

# The router counts the replies to the client it gets from each node's
# NIC (by source MAC) for each address the client used.
mac() { ip -n "$P-n$1" -o link show eth0 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2; }
MAC1=$(mac 1) MAC2=$(mac 2)
for n in 1 2; do
	m=MAC$n
	for src in 192.168.50.11 203.0.113.10; do
		x rtr iptables -w -t mangle -A PREROUTING -i br0 -s "$src" -d 172.16.0.2 \
			-m mac --mac-source "${!m}" -m comment --comment "n$n $src" -j ACCEPT ||
			tap_bail "router counters"
	done
done
# replies NODE SRC: packets to the client from SRC the router got from nN
replies() {
	x rtr iptables -w -t mangle -L PREROUTING -v -n -x |
		awk -v c="n$1 $2" 'index($0, "/* " c " */") { print $1 }'
}

# conns DST N: N connections from ext to DST; the client's JSON in $OUT
conns() {
	x ext "$PY" "$CLIENT" "${3:-tcp}" --dst "$1" -n "$2" --deadline 300 >"$OUT" 2>"$ERR"
}
jq_() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print($1)" "$OUT"; }
# peers: the addresses p2 saw, sorted and counted ("N ADDR" lines)
peers() {
	jq_ '"\n".join("%d %s" % (v, k.split()[1].rpartition(":")[0]) for k, v in d["counts"].items())' |
		awk '{ n[$2] += $1 } END { for (a in n) print n[a], a }'
}
# stat N KIND NAME: a counter of node nN (KIND counters or pod_counters)
stat() {
	ctl "$1" stats -o json &&
		"$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]].get(sys.argv[3], 0))' \
			"$OUT" "$2" "$3"
}

t_dsr_nodeport() {
	local f0 s0 d0 r10 r20 f1 s1 d1 r11 r21
	f0=$(stat 1 counters fwd_dsr) && s0=$(stat 1 counters snat_new) &&
		d0=$(stat 2 pod_counters nic_dsr) || return 1
	r10=$(replies 1 192.168.50.11) r20=$(replies 2 192.168.50.11)
	conns 192.168.50.11:30090 50 || { cat "$ERR"; return 1; }
	[ "$(jq_ 'd["errors"]')" = 0 ] || { echo "failures:"; cat "$OUT"; return 1; }
	[ "$(peers)" = "50 172.16.0.2" ] || { echo "p2 saw:"; peers; return 1; }
	f1=$(stat 1 counters fwd_dsr) && s1=$(stat 1 counters snat_new) &&
		d1=$(stat 2 pod_counters nic_dsr) || return 1
	r11=$(replies 1 192.168.50.11) r21=$(replies 2 192.168.50.11)
	[ $((f1 - f0)) -ge 150 ] && [ "$s1" = "$s0" ] && [ $((d1 - d0)) -ge 150 ] ||
		{ echo "n1 fwd_dsr $f0 -> $f1, snat_new $s0 -> $s1; n2 nic_dsr $d0 -> $d1"; return 1; }
	[ $((r21 - r20)) -ge 100 ] && [ "$r11" = "$r10" ] ||
		{ echo "replies from n1 $r10 -> $r11, from n2 $r20 -> $r21"; return 1; }
}
check "DSR, ext -> NodePort on n1, backend p2 on n2: 50/50 answered, p2 sees the client's address, n1 encapsulates (fwd_dsr) without an SNAT port, n2 decapsulates (nic_dsr), every reply reaches the router from n2, none from n1" t_dsr_nodeport

t_dsr_udp() {
	conns 192.168.50.11:30090 50 udp || { cat "$ERR"; return 1; }
	[ "$(jq_ 'd["errors"]')" = 0 ] && [ "$(jq_ 'd["wrong_src"]')" = 0 ] ||
		{ echo "failures:"; cat "$OUT"; return 1; }
	[ "$(peers)" = "50 172.16.0.2" ] || { echo "p2 saw:"; peers; return 1; }
}
check "DSR, UDP: 50/50 datagrams to n1's node port answered by p2 from 192.168.50.11:30090, the client's address seen" t_dsr_udp

t_dsr_lb_ip() {
	local r10 r20 r11 r21
	r10=$(replies 1 203.0.113.10) r20=$(replies 2 203.0.113.10)
	conns 203.0.113.10:80 20 || { cat "$ERR"; return 1; }
	[ "$(jq_ 'd["errors"]')" = 0 ] && [ "$(peers)" = "20 172.16.0.2" ] ||
		{ echo "LoadBalancer IP:"; cat "$OUT"; return 1; }
	r11=$(replies 1 203.0.113.10) r21=$(replies 2 203.0.113.10)
	[ $((r21 - r20)) -ge 40 ] && [ "$r11" = "$r10" ] ||
		{ echo "replies from n1 $r10 -> $r11, from n2 $r20 -> $r21"; return 1; }
}
check "DSR, ext -> LoadBalancer IP 203.0.113.10 (routed to n1): 20/20, answered from 203.0.113.10 by n2 directly" t_dsr_lb_ip

t_snat_override() {
	local s0 s1
	s0=$(stat 1 counters snat_new) || return 1
	conns 192.168.50.11:30091 20 || { cat "$ERR"; return 1; }
	[ "$(jq_ 'd["errors"]')" = 0 ] && [ "$(peers)" = "20 192.168.50.11" ] ||
		{ echo "p2 saw:"; peers; cat "$OUT"; return 1; }
	s1=$(stat 1 counters snat_new) || return 1
	[ $((s1 - s0)) -ge 20 ] || { echo "snat_new $s0 -> $s1"; return 1; }
	ctl 1 get services -o wide &&
		grep -Eq '^ext/dsr:tcp .* default ' "$OUT" && grep -Eq '^ext/snat:tcp .* snat ' "$OUT" &&
		grep -Eq '^ext/lb:tcp .* dsr ' "$OUT" || { cat "$OUT"; return 1; }
	ctl 1 explain --src 172.16.0.2:40000 --dst 192.168.50.11:30090 &&
		grep -q 'lb-mode dsr' "$OUT" || { cat "$OUT"; return 1; }
}
check "xlb.io/lb-mode: snat on a node with --lb-mode dsr: source-NATed as before (p2 sees n1, snat_new); get -o wide shows each Service's mode, explain says dsr" t_snat_override

t_bad_mode() {
	sed 's/xlb.io\/lb-mode: snat/xlb.io\/lb-mode: direct/' "$TMP/svc.yaml" >"$TMP/bad.yaml"
	if ctl 1 apply -f "$TMP/bad.yaml"; then
		echo "accepted"; return 1
	fi
	grep -q 'xlb.io/lb-mode: "direct": want snat or dsr' "$ERR" || { cat "$ERR"; return 1; }
	ctl 1 get services -o wide && grep -Eq '^ext/snat:tcp .* snat ' "$OUT" ||
		{ echo "changed:"; cat "$OUT"; return 1; }
	conns 192.168.50.11:30091 5 && [ "$(peers)" = "5 192.168.50.11" ] ||
		{ echo "no longer source-NATed:"; cat "$OUT"; return 1; }
}
check "xlb.io/lb-mode: direct is refused, naming the annotation; the Service keeps lb-mode snat and is still source-NATed" t_bad_mode

check "every node kept its ctstate INVALID -j DROP rules throughout" lab_invalid_kept

tap_finish
