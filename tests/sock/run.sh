#!/bin/bash
# Socket-level load balancing and the pod veth programs, with a real xlbd
# (as root), judged by what applications see. One node and three pods
# wired as a CNI wires them (host ends without address, proxy_arp, a /32
# route each, veths at kernel defaults), a cgroup of the suite's own:
#
#   xsk-n   the node: lxc1..lxc3, 192.168.77.1/32 on lo (NodePort answers
#           there), a default route over fab0 (to nowhere), iptables INVALID
#           drop in FORWARD, xlbd with
#           --cgroup-root CG --pod-iface 'lxc*'
#   xsk-p1  10.244.1.11: the client pod
#   xsk-p2  10.244.1.12, xsk-p3 10.244.1.13: backends (tools/lab/server.py)
#   CG      CGROUP2/xsk-PID: the clients' cgroup; a process outside it is
#           never translated (nothing is attached to the machine's root)
#
# Services: tests/sock/services.yaml. Parts: socket LB (TCP, UDP connected
# and not, getpeername, affinity, source hash, no endpoints, NodePort on a
# node address and on the node's loopback), restart (kill -9 with a held
# connection, pins adopted), then --socket-lb off: the pod veth programs
# (tc) translate instead, TCP and UDP, local and hairpin, with partial
# checksums and INVALID drop. Needs the lab lock.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
XLBD=$BUILD/xlbd
XLBCTL=$BUILD/xlbctl
PY=/usr/bin/python3
P=xsk
N=$P-n
PIN=/sys/fs/bpf/$P-$$
CLIENT=$ROOT/tests/sock/client.py
CG=
daemon_pid=
srv_pids=()
hold_pid=

. "$ROOT/tests/lib/tap.sh"
. "$ROOT/tests/lib/kernel.sh"
. "$ROOT/tests/lib/suite.sh"

# Everything this suite starts is ended here, by pid: the clients through
# the cgroup they run in, the servers and xlbd by the pids nsenter kept.
cleanup() {
	[ -n "$hold_pid" ] && kill "$hold_pid" 2>/dev/null
	stop_xlbd
	for p in "${srv_pids[@]}"; do kill "$p" 2>/dev/null; done
	xlbd_unpin "$N" "$PIN"
	if [ -n "$CG" ] && [ -d "$CG" ]; then
		for p in $(cat "$CG/cgroup.procs" 2>/dev/null); do kill "$p" 2>/dev/null; done
		rmdir "$CG" 2>/dev/null || { sleep 0.5; rmdir "$CG" 2>/dev/null; }
	fi
	for ns in "$N" "$P-p1" "$P-p2" "$P-p3"; do
		[ -e "/run/netns/$ns" ] && ip netns del "$ns"
	done
	suite_tmp_rm
}
suite_init xlb-sock cleanup
SOCK=$TMP/xlbd.sock

# stop_xlbd [-SIGNAL]: the suite's xlbd (TERM by default).
stop_xlbd() {
	[ -n "$daemon_pid" ] || return 0
	xlbd_stop "${1:--TERM}" "$daemon_pid"
	daemon_pid=
}

ctl() { "$XLBCTL" -s "unix:$SOCK" "$@"; }

# nsx NS CMD: CMD in netns NS (nsenter keeps /sys, bpffs and cgroup2).
nsx() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }

# in_cg NS CMD: CMD in netns NS and in the clients' cgroup (joined before
# entering the netns, so its sockets are created in the cgroup).
in_cg() {
	local ns=$1
	shift
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec nsenter --net="/run/netns/$@"' \
		sh "$CG" "$ns" "$@"
}

client() { in_cg "$P-p1" "$PY" "$CLIENT" "$@"; }

# jq-less JSON: field PATH of the object on stdin.
jget() { "$PY" -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v.get(k, 0) if isinstance(v, dict) else v[int(k)]
print(json.dumps(v) if isinstance(v, (dict, list)) else v)' "$1"; }

setup() {
	local i m
	m=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") break;
		   if ($(i + 1) == "cgroup2") { print $5; exit } }' /proc/self/mountinfo)
	[ -n "$m" ] || { echo "no cgroup2 hierarchy mounted"; return 1; }
	CG=$m/$P-$$
	mkdir "$CG" || return 1
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || return 1
	ip netns add "$N" && ip -n "$N" link set lo up &&
		ip -n "$N" addr add 192.168.77.1/32 dev lo || return 1
	nsx "$N" sysctl -qw net.ipv4.ip_forward=1 || return 1
	# A default route (as a node has) over a cable to nowhere: proxy_arp
	# answers the pods' 169.254.1.1 only for a destination it can route.
	ip -n "$N" link add fab0 type veth peer name fab1 && ip -n "$N" link set fab0 up &&
		ip -n "$N" link set fab1 up && ip -n "$N" addr add 192.168.78.1/24 dev fab0 &&
		ip -n "$N" route add default via 192.168.78.254 || return 1
	for i in 1 2 3; do
		ip netns add "$P-p$i" && ip -n "$P-p$i" link set lo up &&
			ip -n "$N" link add "lxc$i" type veth peer name eth0 netns "$P-p$i" &&
			ip -n "$N" link set "lxc$i" up &&
			nsx "$N" sysctl -qw "net.ipv4.conf.lxc$i.proxy_arp=1" &&
			ip -n "$N" route add "10.244.1.1$i/32" dev "lxc$i" &&
			ip -n "$P-p$i" addr add "10.244.1.1$i/32" dev eth0 &&
			ip -n "$P-p$i" link set eth0 up &&
			ip -n "$P-p$i" route add 169.254.1.1 dev eth0 scope link &&
			ip -n "$P-p$i" route add default via 169.254.1.1 dev eth0 || return 1
	done
	nsx "$N" iptables -A FORWARD -m conntrack --ctstate INVALID -j DROP || return 1
	for i in 2 3; do
		# nsenter execs: $! is the server's own pid
		nsenter --net="/run/netns/$P-p$i" "$PY" "$ROOT/tools/lab/server.py" --name "p$i" --http-port 0 \
			>"$TMP/srv-p$i.log" 2>&1 &
		srv_pids+=($!)
	done
}

start_xlbd() {
	# nsenter execs xlbd: $! is xlbd's pid (not a subshell's)
	nsenter --net="/run/netns/$N" "$XLBD" --pod-iface 'lxc*' --pin-dir "$PIN" \
		--state-dir "$TMP/state" --listen "unix:$SOCK" --cgroup-root "$CG" "$@" \
		>>"$TMP/xlbd.log" 2>&1 &
	daemon_pid=$!
	for _ in $(seq 100); do
		ctl status >/dev/null 2>&1 && return 0
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "xlbd did not answer: $(tail -5 "$TMP/xlbd.log")"
	return 1
}

[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP must run as root"; exit 0; }
setup >"$TMP/setup.log" 2>&1 || tap_bail "set-up: $(tail -5 "$TMP/setup.log")"
start_xlbd >"$TMP/start.log" 2>&1 || tap_bail "$(cat "$TMP/start.log")"
ctl apply -f "$ROOT/tests/sock/services.yaml" >"$TMP/apply.out" 2>&1 ||
	tap_bail "apply: $(cat "$TMP/apply.out")"
# The servers are up once they answer directly.
for _ in $(seq 50); do
	nsx "$P-p1" "$PY" "$CLIENT" tcp 10.244.1.13:8080 1 | grep -q '"p3": 1' && break
	sleep 0.1
done

# ---- socket LB -------------------------------------------------------------

t_status() {
	ctl status | grep -Eq "^socket LB: +cgroup $CG\$" &&
		ctl status | grep -Eq '^pod veths: +(tcx|tc \(netlink\)): 3 interfaces$' ||
		{ ctl status; return 1; }
}
check "status: socket LB on the suite's cgroup, tc on the three pod veths" t_status

# A flow's backend is a function of the flow: 100 connects to two backends
# leave either fewer than 25 with a probability of about 6e-7.
t_tcp() {
	local out
	out=$(client tcp 10.96.10.1:80 100)
	[ "$(jget names.p2 <<<"$out")" -ge 25 ] && [ "$(jget names.p3 <<<"$out")" -ge 25 ] &&
		[ "$(jget errors <<<"$out")" = "{}" ] &&
		[ "$(jget peers <<<"$out")" = '["10.96.10.1:80"]' ] || { echo "$out"; return 1; }
}
check "TCP: 100 connects spread over both backends (at least 25 each), no error, getpeername is the service" t_tcp

t_udp() {
	local out
	out=$(client udp 10.96.10.2:53 20)
	[ "$(jget names.p2 <<<"$out")" -ge 3 ] && [ "$(jget names.p3 <<<"$out")" -ge 3 ] &&
		[ "$(jget errors <<<"$out")" = "{}" ] &&
		[ "$(jget peers <<<"$out")" = '["10.96.10.2:53"]' ] &&
		[ "$(jget froms <<<"$out")" = '["10.96.10.2:53"]' ] || { echo "$out"; return 1; }
}
check "UDP, connected sockets: both backends, replies from the service address, getpeername too" t_udp

t_sendto() {
	local out
	out=$(client sendto 10.96.10.2:53 10)
	[ "$(jget names <<<"$out" | tr -cd ':' | wc -c)" = 1 ] &&
		[ "$(jget errors <<<"$out")" = "{}" ] &&
		[ "$(jget froms <<<"$out")" = '["10.96.10.2:53"]' ] || { echo "$out"; return 1; }
}
check "UDP, one unconnected socket: 10 datagrams to one backend, recvfrom shows the service" t_sendto

t_affinity() {
	local out
	out=$(client tcp 10.96.10.3:80 10)
	[ "$(jget names <<<"$out" | tr -cd ':' | wc -c)" = 1 ] &&
		[ "$(jget errors <<<"$out")" = "{}" ] || { echo "$out"; return 1; }
}
check "sessionAffinity ClientIP: the pod's 10 connects all reach one backend" t_affinity

t_hash() {
	local out
	out=$(client tcp 10.96.10.4:80 10)
	[ "$(jget names <<<"$out" | tr -cd ':' | wc -c)" = 1 ] &&
		[ "$(jget errors <<<"$out")" = "{}" ] || { echo "$out"; return 1; }
}
check "source hash: the pod's 10 connects all reach one backend" t_hash

# What explain predicts for p1's connect() (run in p1's netns: its client
# identity) is the backend p1's connects reached.
t_explain() {
	local out be got
	out=$(nsx "$P-p1" "$XLBCTL" -s "unix:$SOCK" explain --hook socket --dst 10.96.10.4:80 -o json) ||
		{ echo "$out"; return 1; }
	be=$(jget backend <<<"$out")
	got=$(client tcp 10.96.10.4:80 1)
	case "$be $(jget names <<<"$got")" in
	"10.244.1.12:8080 "*'"p2"'* | "10.244.1.13:8080 "*'"p3"'*) return 0 ;;
	esac
	echo "explain: $out; traffic: $got"
	return 1
}
check "explain --hook socket, run in the pod's netns, names the backend its connects get" t_explain

t_refused() {
	local out
	out=$(client tcp 10.96.10.5:80 3)
	[ "$(jget errors.ECONNREFUSED <<<"$out")" = 3 ] || { echo "$out"; return 1; }
	out=$(client sendto 10.96.10.5:53 1)
	[ "$(jget errors.ECONNREFUSED <<<"$out")" = 1 ] || { echo "$out"; return 1; }
}
check "no endpoints: connect() and sendto() fail at once with ECONNREFUSED" t_refused

t_nodeport() {
	local out
	out=$(client tcp 192.168.77.1:30080 6)
	[ "$(jget errors <<<"$out")" = "{}" ] &&
		[ "$(jget peers <<<"$out")" = '["192.168.77.1:30080"]' ] || { echo "pod: $out"; return 1; }
	out=$(in_cg "$N" "$PY" "$CLIENT" tcp 127.0.0.1:30080 6)
	[ "$(jget errors <<<"$out")" = "{}" ] &&
		[ "$(jget peers <<<"$out")" = '["127.0.0.1:30080"]' ] || { echo "node: $out"; return 1; }
	out=$(client tcp 127.0.0.1:30080 1)
	[ "$(jget errors.ECONNREFUSED <<<"$out")" = 1 ] || { echo "pod loopback: $out"; return 1; }
}
check "NodePort: from a pod on the node's address; from the node on 127.0.0.1; a pod's 127.0.0.1 is its own" t_nodeport

t_node() {
	local out
	out=$(in_cg "$N" "$PY" "$CLIENT" tcp 10.96.10.1:80 10)
	[ "$(jget errors <<<"$out")" = "{}" ] || { echo "$out"; return 1; }
}
check "the node itself reaches the ClusterIP" t_node

t_hairpin() {
	local out
	out=$(in_cg "$P-p2" "$PY" "$CLIENT" tcp 10.96.10.7:80 3)
	[ "$(jget names.p2 <<<"$out")" = 3 ] || { echo "$out"; return 1; }
}
check "hairpin: p2 reaches its own service" t_hairpin

# p1 outside the cgroup: its sockets are not the socket programs', so its
# packets meet the tc program on lxc1 instead (both ways in BPF: p2 and p3
# are on this node).
t_outside() {
	local out before after
	before=$(ctl stats -o json) || return 1
	out=$(nsx "$P-p1" "$PY" "$CLIENT" tcp 10.96.10.1:80 4)
	after=$(ctl stats -o json) || return 1
	[ "$(jget errors <<<"$out")" = "{}" ] || { echo "$out"; return 1; }
	[ "$(jget socket_counters.connect_xlated <<<"$after")" = \
		"$(jget socket_counters.connect_xlated <<<"$before")" ] ||
		{ echo "the socket programs saw a socket outside their cgroup"; return 1; }
	[ "$(jget pod_counters.fwd_local <<<"$after")" -ge \
		$(($(jget pod_counters.fwd_local <<<"$before") + 4)) ] ||
		{ echo "tc did not translate: $after" | head -c 2000; return 1; }
}
check "a socket outside the cgroup: not the socket programs', translated by tc on its pod veth" t_outside

t_counters() {
	local st
	st=$(ctl stats -o json) || return 1
	"$PY" - "$st" <<'PYEOF'
import json, sys
s = json.loads(sys.argv[1])
c = s["socket_counters"]
web = next(x["socket"] for x in s["services"] if x["name"] == "sock/web:p")
empty = next(x["socket"] for x in s["services"] if x["name"] == "sock/empty:p")
want = [("connect_xlated", c["connect_xlated"], 40), ("refused_no_backend", c["refused_no_backend"], 4),
        ("rev_xlated", c["rev_xlated"], 20), ("skip_netns", c["skip_netns"], 1),
        ("web connects", web["connects"], 30), ("empty refused", empty["refused"], 3)]
bad = ["%s %d < %d" % w for w in want if w[1] < w[2]]
if bad:
    sys.exit("; ".join(bad) + "; socket counters: %s" % c)
PYEOF
}
check "stats: socket outcomes and each service's balanced connects are counted" t_counters

# A backend leaves dns while 12 connected UDP sockets talk through it.
# Steps at the top level (the client waits), judged after.
# xlbd aborts them on its main thread after the write is acknowledged: the
# client goes on once udp_aborted has counted every socket on p3 (bounded;
# on a kernel without bpf_sock_destroy at once).
aborted() { ctl stats -o json 2>/dev/null | jget socket_counters.udp_aborted; }
logged_aborts() {
	sed -n 's/.*socket LB: \([0-9]*\) connected UDP socket(s) of removed backends aborted.*/\1/p' \
		"$TMP/xlbd.log" | awk '{ n += $1 } END { print n + 0 }'
}
uh_ab0=$(aborted)
client udphold 10.96.10.2:53 12 "$TMP/uh" >"$TMP/uh.out" &
uh_pid=$!
for _ in $(seq 50); do [ -s "$TMP/uh" ] && break; sleep 0.1; done
ctl apply -f "$ROOT/tests/sock/dns-p2.yaml" >/dev/null 2>&1
uh_p3=$(grep -o '"p3"' "$TMP/uh" | wc -l)
if kernel_at_least 6 5; then
	for _ in $(seq 100); do
		[ $(($(aborted) - uh_ab0)) -ge "$uh_p3" ] && break
		sleep 0.1
	done
fi
uh_ab1=$(aborted)
touch "$TMP/uh.go"
wait "$uh_pid"
ctl apply -f "$ROOT/tests/sock/services.yaml" >/dev/null 2>&1

# 6.5+ (bpf_sock_destroy): the sockets on p3 are aborted, the others go on.
t_udp_gone() {
	local want
	if kernel_at_least 6 5 && [ $((uh_ab1 - uh_ab0)) != "$uh_p3" ]; then
		echo "udp_aborted $uh_ab0 -> $uh_ab1, $uh_p3 sockets on p3"
		return 1
	fi
	# xlbd's log says as many as the counter (the pins are the suite's
	# own: every abort since they were made), once its pass has ended
	if kernel_at_least 6 5; then
		for _ in $(seq 50); do
			[ "$(logged_aborts)" = "$uh_ab1" ] && break
			sleep 0.1
		done
		[ "$(logged_aborts)" = "$uh_ab1" ] ||
			{ echo "xlbd logged $(logged_aborts) aborted sockets, udp_aborted is $uh_ab1"; return 1; }
	fi
	"$PY" - "$TMP/uh.out" "$(uname -r)" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
major, minor = (int(x) for x in sys.argv[2].split(".")[:2])
destroy = (major, minor) >= (6, 5)
before, after = r["before"], r["after"]
if sorted(set(before)) != ["p2", "p3"]:
    sys.exit("not both backends before: %s" % before)
# An aborted socket is disconnected too: send() says EDESTADDRREQ, recv()
# ECONNABORTED, whichever the application calls first.
aborted = ("ECONNABORTED", "EDESTADDRREQ")
for b, a in zip(before, after):
    want = ("p2",) if b == "p2" else (aborted if destroy else ("p3",))
    if a not in want:
        sys.exit("a socket on %s then answered %s, want %s (all: %s)" % (b, a, want, r))
PYEOF
}
check "a backend leaves: its connected UDP sockets are aborted (6.5+: bpf_sock_destroy), the others keep theirs" t_udp_gone

# ---- restart ---------------------------------------------------------------

# Steps at the top level (xlbd's pid must stay this shell's), judged after.
client hold 10.96.10.1:80 "$TMP/hold" >"$TMP/hold.out" &
hold_pid=$!
for _ in $(seq 50); do [ -s "$TMP/hold" ] && break; sleep 0.1; done
stop_xlbd -KILL
client tcp 10.96.10.1:80 6 >"$TMP/down.out"
ls "$PIN" >"$TMP/pins.out"
start_xlbd >"$TMP/start.log" 2>&1 || tap_bail "restart: $(cat "$TMP/start.log")"
client tcp 10.96.10.1:80 6 >"$TMP/up.out"
bpftool cgroup show "$CG" >"$TMP/cg.out"
sleep 1
touch "$TMP/hold.stop"
wait "$hold_pid"
hold_pid=

t_restart() {
	local out
	[ "$(jget errors <"$TMP/down.out")" = "{}" ] || { echo "xlbd down: $(cat "$TMP/down.out")"; return 1; }
	grep -qx cglink_connect4 "$TMP/pins.out" || { echo "pins: $(cat "$TMP/pins.out")"; return 1; }
	[ "$(jget errors <"$TMP/up.out")" = "{}" ] || { echo "xlbd back: $(cat "$TMP/up.out")"; return 1; }
	[ "$(grep -c xlb_sock_ "$TMP/cg.out")" = 4 ] || { cat "$TMP/cg.out"; return 1; }
	out=$(cat "$TMP/hold.out")
	[ "$(jget broken <<<"$out")" = 0 ] && [ "$(jget pings <<<"$out")" -ge 3 ] ||
		{ echo "held connection: $out"; return 1; }
}
check "kill -9 and restart: connects balanced while xlbd is down, 4 programs (not 8) after, a held connection unbroken" t_restart

# ---- --socket-lb off: the pod veth programs --------------------------------

stop_xlbd
start_xlbd --socket-lb off >"$TMP/start.log" 2>&1 ||
	tap_bail "restart with --socket-lb off: $(cat "$TMP/start.log")"

t_off() {
	ctl status | grep -Eq '^socket LB: +off' || { ctl status; return 1; }
	[ -z "$(bpftool cgroup show "$CG" | grep xlb_sock_)" ] || { bpftool cgroup show "$CG"; return 1; }
}
check "--socket-lb off: nothing attached to the cgroup any more" t_off

# Kernel-default pod veths, both ends: p1's segments carry partial
# checksums, and so do the translated ones p2 and p3 receive.
t_tc() {
	local out before after
	before=$(nsx "$P-p2" nstat -az TcpInCsumErrors | awk '/TcpInCsumErrors/ {print $2}')
	out=$(client tcp 10.96.10.1:80 100)
	[ "$(jget names.p2 <<<"$out")" -ge 25 ] && [ "$(jget names.p3 <<<"$out")" -ge 25 ] &&
		[ "$(jget errors <<<"$out")" = "{}" ] &&
		[ "$(jget peers <<<"$out")" = '["10.96.10.1:80"]' ] || { echo "tcp: $out"; return 1; }
	out=$(client udp 10.96.10.2:53 10)
	[ "$(jget errors <<<"$out")" = "{}" ] &&
		[ "$(jget froms <<<"$out")" = '["10.96.10.2:53"]' ] || { echo "udp: $out"; return 1; }
	after=$(nsx "$P-p2" nstat -az TcpInCsumErrors | awk '/TcpInCsumErrors/ {print $2}')
	[ "${after:-0}" = "${before:-0}" ] || { echo "p2 TcpInCsumErrors $before -> $after"; return 1; }
	st=$(ctl stats -o json)
	[ "$(jget pod_counters.fwd_local <<<"$st")" -ge 30 ] &&
		[ "$(jget pod_counters.rev_local <<<"$st")" -ge 30 ] || { echo "$st" | head -c 2000; return 1; }
}
check "tc on pod veths: TCP and UDP balanced both ways in BPF, replies from the service, no checksum error, INVALID drop loaded" t_tc

t_tc_hairpin() {
	local out
	out=$(in_cg "$P-p2" "$PY" "$CLIENT" tcp 10.96.10.7:80 3)
	[ "$(jget names.p2 <<<"$out")" = 3 ] && [ "$(jget peers <<<"$out")" = '["10.96.10.7:80"]' ] ||
		{ echo "$out"; return 1; }
}
check "tc hairpin: p2 reaches its own service through its veth" t_tc_hairpin

t_tc_refused() {
	local out
	out=$(client tcp 10.96.10.5:80 2)
	[ "$(jget errors.ECONNREFUSED <<<"$out")" = 2 ] || { echo "$out"; return 1; }
}
check "tc, a service without endpoints: the SYN is answered with a reset (ECONNREFUSED)" t_tc_refused

tap_finish
