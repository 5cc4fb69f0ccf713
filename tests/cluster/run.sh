#!/usr/bin/env bash
# The three-node cluster lab (scripts/lab/cluster.sh) without xlb: it is
# wired as a CNI wires pods, and plain routing works every way the cluster
# datapath will need, judged by what the lab backends answered (their name
# and the client address they saw). Pod veths at kernel defaults on both
# ends, conntrack's INVALID drop on every node, 200 transfers of 16 KiB with
# no failure and no checksum error.
#
# As root. The lab gets a prefix of its own (xct<pid>) and is torn down on
# exit, failed or not. Prints TAP (tests/lib/tap.sh).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"
. "$ROOT/tests/lib/suite.sh"
PY=/usr/bin/python3
export LAB_PREFIX=${LAB_PREFIX:-xct$$} LAB_NODES=3 LAB_PODS=2
LAB=("$ROOT/scripts/lab.sh" cluster)
CONNS=200

lab() { timeout 60 bash "${LAB[@]}" "$@"; }
# client TARGET SUBCOMMAND ARGS...: tools/lab/client.py in TARGET (JSON out)
client() {
	local t=$1
	shift
	timeout 120 bash "${LAB[@]}" exec "$t" "$PY" "$ROOT/tools/lab/client.py" "$@"
}
# The first answer of one TCP connection or UDP datagram: "NAME IP:PORT".
tcp_answer() { client "$1" probe --dst "$2:8080" | "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("name", ""))'; }
udp_answer() {
	client "$1" udp --dst "$2:8080" -n 1 |
		"$PY" -c 'import json,sys; c = json.load(sys.stdin)["counts"]; print(next(iter(c), ""))'
}

cleanup() {
	lab down >/dev/null 2>&1 || echo "# cleanup: lab down failed" >&2
}
suite_traps cleanup

[ "$(id -u)" -eq 0 ] || tap_bail "must run as root"
for t in ethtool iptables nstat nsenter; do
	command -v "$t" >/dev/null || tap_bail "$t not found (scripts/install-deps.sh)"
done
out=$(lab up 2>&1) || tap_bail "lab up: $out"
ok "lab up: 3 nodes x 2 pods, a backend in every pod and node"

ns() { bash "${LAB[@]}" ns "$1"; }
node_ip() { bash "${LAB[@]}" node-ip "$1"; }
pod_ip() { bash "${LAB[@]}" pod-ip "$1" "$2"; }

# want ANSWER NAME PEER_IP: the backend NAME answered and saw PEER_IP.
want() {
	case $1 in
	"$2 $3:"[0-9]*) return 0 ;;
	esac
	echo "answer '$1', want '$2 $3:PORT'"
	return 1
}

t_defaults() {
	local n p k
	for n in 1 2 3; do
		for p in 1 2; do
			for k in "$(ns "n$n") lxc$p" "$(ns "n${n}p$p") eth0"; do
				set -- $k
				out=$(nsenter --net="/run/netns/$1" ethtool -k "$2") || return 1
				grep -q '^generic-receive-offload: off' <<<"$out" &&
					grep -q '^tx-checksumming: on' <<<"$out" &&
					grep -q '^tcp-segmentation-offload: on' <<<"$out" ||
					{ echo "$1 $2: $(grep -E '^(generic-receive|tx-checksumming|tcp-segm)' <<<"$out")"; return 1; }
			done
		done
	done
}
check "pod veths at kernel defaults on both ends: GRO off, TX checksumming and TSO on" t_defaults

t_cables() {
	local k
	for k in "$(ns n1) eth0" "$(ns n3) eth0" "$(ns rtr) fab0" "$(ns rtr) ext0" "$(ns ext) eth0"; do
		set -- $k
		out=$(nsenter --net="/run/netns/$1" ethtool -k "$2") || return 1
		grep -q '^generic-receive-offload: on' <<<"$out" && grep -q '^tx-checksumming: off' <<<"$out" ||
			{ echo "$1 $2: $(grep -E '^(generic-receive|tx-checksumming)' <<<"$out")"; return 1; }
	done
}
check "cables tuned like NICs: GRO on, TX checksumming off" t_cables

t_wiring() {
	local n p node pod ip
	for n in 1 2 3; do
		node=$(ns "n$n")
		[ "$(nsenter --net="/run/netns/$node" sysctl -n net.ipv4.conf.all.rp_filter)" = 2 ] ||
			{ echo "$node: rp_filter not 2"; return 1; }
		for c in INPUT FORWARD; do
			nsenter --net="/run/netns/$node" iptables -w -S "$c" | grep -q -- '-m conntrack --ctstate INVALID -j DROP' ||
				{ echo "$node: no INVALID drop in $c"; return 1; }
		done
		for p in 1 2; do
			pod=$(ns "n${n}p$p")
			ip=$(pod_ip "$n" "$p")
			[ -z "$(ip -n "$node" -4 addr show dev "lxc$p")" ] || { echo "$node lxc$p has an address"; return 1; }
			[ "$(nsenter --net="/run/netns/$node" sysctl -n "net.ipv4.conf.lxc$p.proxy_arp")" = 1 ] ||
				{ echo "$node lxc$p: no proxy_arp"; return 1; }
			ip -n "$node" route show "$ip/32" | grep -q "dev lxc$p" || { echo "$node: no route $ip/32"; return 1; }
			ip -n "$pod" -4 addr show dev eth0 | grep -q "inet $ip/32" || { echo "$pod: not $ip/32"; return 1; }
			ip -n "$pod" route show default | grep -q 'via 169.254.1.1 dev eth0' ||
				{ echo "$pod: $(ip -n "$pod" route)"; return 1; }
		done
	done
}
check "Calico wiring: host veths without address and with proxy_arp, pod /32 via 169.254.1.1, rp_filter 2, INVALID drop" t_wiring

t_cgroups() {
	local n pid cg got
	for n in 1 2 3; do
		cg=$(bash "${LAB[@]}" cgroup "$n")
		got=$(bash "${LAB[@]}" exec "n$n" cat /proc/self/cgroup | sed -n 's/^0:://p')
		[ "$got" = "/$LAB_PREFIX/n$n" ] || { echo "exec n$n runs in cgroup $got"; return 1; }
		# The node's and its pods' backends, and nothing else's.
		[ "$(wc -l <"$cg/cgroup.procs")" = 3 ] || { echo "$cg: $(cat "$cg/cgroup.procs" | tr '\n' ' ')"; return 1; }
		for pid in $(cat "$cg/cgroup.procs"); do
			case $(readlink "/proc/$pid/ns/net") in
			"$(readlink /proc/self/ns/net)") echo "pid $pid in $cg runs in the host's netns"; return 1 ;;
			esac
		done
	done
}
check "every node's and pod's process runs in the node's own cgroup (exec nN joins it too)" t_cgroups

n1=$(node_ip 1) n2=$(node_ip 2) n3=$(node_ip 3)
p11=$(pod_ip 1 1) p12=$(pod_ip 1 2) p21=$(pod_ip 2 1) p32=$(pod_ip 3 2)

check "pod -> pod on the same node, TCP (n1p1 -> n1p2 saw $p11)" want "$(tcp_answer n1p1 "$p12")" n1p2 "$p11"
check "pod -> pod on the same node, UDP" want "$(udp_answer n1p1 "$p12")" n1p2 "$p11"
check "pod -> pod across nodes, TCP (n1p1 -> n2p1)" want "$(tcp_answer n1p1 "$p21")" n2p1 "$p11"
check "pod -> pod across nodes, UDP (n2p1 -> n3p2)" want "$(udp_answer n2p1 "$p32")" n3p2 "$p21"
check "pod -> its own node, TCP (n1p2 -> n1)" want "$(tcp_answer n1p2 "$n1")" n1 "$p12"
check "pod -> another node, TCP (n1p1 -> n3)" want "$(tcp_answer n1p1 "$n3")" n3 "$p11"
check "node (hostNetwork) -> pod on another node, TCP (n1 -> n3p2 saw $n1)" want "$(tcp_answer n1 "$p32")" n3p2 "$n1"
check "node (hostNetwork) -> pod on another node, UDP (n2 -> n1p1)" want "$(udp_answer n2 "$p11")" n1p1 "$n2"
check "node -> its own pod, TCP (n2 -> n2p1)" want "$(tcp_answer n2 "$p21")" n2p1 "$n2"
check "external client -> pod through the router, TCP (ext -> n3p2 saw 172.16.0.2)" \
	want "$(tcp_answer ext "$p32")" n3p2 172.16.0.2
check "external client -> pod through the router, UDP (ext -> n1p2)" want "$(udp_answer ext "$p12")" n1p2 172.16.0.2

# 200 connections, 16 KiB answers checked byte for byte: pod to pods on
# the other nodes and on its own, the external client to pods.
t_bulk() {
	local t per=$((CONNS / 4)) res
	for t in "n1p1 $p21" "n1p1 $p32" "n1p2 $p11" "ext $p12"; do
		set -- $t
		res=$(client "$1" http --dst "$2:8081" -n "$per" --bytes 16384 --timeout 5 --deadline 100) ||
			{ echo "$1 -> $2: client failed"; return 1; }
		"$PY" -c '
import json, sys
r = json.loads(sys.argv[1])
good = sum(r["counts"].values())
if r["errors"] or good != int(sys.argv[2]):
    sys.exit("%s -> %s: %d good, errors %s" % (sys.argv[3], sys.argv[4], good, r["error_kinds"]))
' "$res" "$per" "$1" "$2" || return 1
	done
}
check "$CONNS connections with 16 KiB answers (pod defaults, INVALID drop on): 0 failures" t_bulk

t_csum() {
	local n out bad=
	for n in $(ip netns list | awk -v p="$LAB_PREFIX-" 'index($1, p) == 1 { print $1 }'); do
		out=$(nsenter --net="/run/netns/$n" nstat -asz TcpInCsumErrors UdpInCsumErrors) || return 1
		[ "$(grep -cE '^(Tcp|Udp)InCsumErrors ' <<<"$out")" = 2 ] || { echo "$n: nstat: $out"; return 1; }
		awk '$1 ~ /CsumErrors$/ && $2 != 0 { found = 1 } END { exit !found }' <<<"$out" &&
			bad+="$n: $(echo "$out" | awk '$1 ~ /Csum/ {printf "%s=%s ", $1, $2}')"$'\n'
	done
	[ -z "$bad" ] || { echo "$bad"; return 1; }
}
check "no checksum errors anywhere (nstat TcpInCsumErrors, UdpInCsumErrors in every namespace)" t_csum

diag "INVALID drops (FORWARD) per node: $(for n in 1 2 3; do
	nsenter --net="/run/netns/$(ns "n$n")" iptables -w -vnxL FORWARD | awk '/INVALID/ {printf "%s ", $1}'; done)"

# The hook the cluster datapath's tests start xlbd with, one per node.
t_spawn() {
	local n run=/run/$LAB_PREFIX pid want
	bash "${LAB[@]}" spawn probe -- "$PY" -c 'import sys, time; print(*sys.argv[1:], flush=True); time.sleep(60)' \
		@NODE@ @NODE_IP@ @PIN@ @CGROUP@ || return 1
	for n in 1 2 3; do
		want="n$n $(node_ip "$n") /sys/fs/bpf/$LAB_PREFIX/n$n $(bash "${LAB[@]}" cgroup "$n")"
		for _ in $(seq 50); do
			[ "$(cat "$run/probe-n$n.log" 2>/dev/null)" = "$want" ] && break
			sleep 0.1
		done
		[ "$(cat "$run/probe-n$n.log")" = "$want" ] || { echo "n$n: '$(cat "$run/probe-n$n.log")', want '$want'"; return 1; }
		read -r pid _ <"$run/probe-n$n.pid"
		grep -qx "$pid" "$(bash "${LAB[@]}" cgroup "$n")/cgroup.procs" || { echo "n$n: pid $pid not in the node's cgroup"; return 1; }
		[ "$(stat -L -c %i "/proc/$pid/ns/net")" = "$(stat -L -c %i "/run/netns/$(ns "n$n")")" ] ||
			{ echo "n$n: pid $pid not in the node's netns"; return 1; }
		[ -d "/sys/fs/bpf/$LAB_PREFIX/n$n" ] || { echo "n$n: no pin dir"; return 1; }
	done
	bash "${LAB[@]}" unspawn probe || return 1
	for n in 1 2 3; do
		[ ! -e "$run/probe-n$n.pid" ] || { echo "pid file left"; return 1; }
	done
	pgrep -f 'time.sleep\(60\)' >/dev/null && { echo "unspawn left a process"; return 1; }
	return 0
}
check "spawn NAME -- CMD: on every node, in its netns and cgroup, @NODE@ @NODE_IP@ @PIN@ @CGROUP@ replaced; unspawn ends it" t_spawn

t_down() {
	lab down >/dev/null 2>&1 || { echo "lab down failed"; return 1; }
	[ -z "$(ip netns list | awk -v p="$LAB_PREFIX-" 'index($1, p) == 1')" ] || { echo "namespaces left"; return 1; }
	[ ! -e "/run/$LAB_PREFIX" ] && [ ! -e "/sys/fs/bpf/$LAB_PREFIX" ] || { echo "run or pin dir left"; return 1; }
	! find /sys/fs/cgroup -maxdepth 3 -name "$LAB_PREFIX" 2>/dev/null | grep -q . || { echo "cgroup left"; return 1; }
}
check "lab down leaves no namespace, cgroup, run or pin directory" t_down

tap_finish
