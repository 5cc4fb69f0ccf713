#!/usr/bin/env bash
# The cluster datapath on the three-node lab (scripts/lab/cluster.sh): an
# xlbd on every node (socket programs on the node's cgroup, tc on its pod
# veths, XDP on its NIC), every node fed the same services
# (tests/cluster/lb-services.yaml), judged by what real clients receive:
# which backend answered and which client address it saw.
#
#   1 pod -> ClusterIP with backends on all three nodes: spread, 0 failures
#     (TCP and UDP)
#   2 pod -> ClusterIP whose backends are all on other nodes; the node
#     itself and a hostNetwork process (the node's netns, a cgroup below
#     the node's) -> the same ClusterIP
#   3 pod -> its own service (hairpin)
#   4 internalTrafficPolicy Local; sessionAffinity ClientIP, across nodes
#   5 a held cross-node connection survives kill -9 and restart of xlbd on
#     the client's node and on the backend's node; every xlbd's restart
#     writes nothing (tests/cluster/restart-services.yaml: what the tables
#     alone do not tell is read back too)
#   6 200 connections with 16 KiB answers, pod veths at kernel defaults,
#     ctstate INVALID -j DROP on every node: 0 failures, 0 checksum errors
# and what applications see: UDP over connected and unconnected sockets,
# getpeername(), connected UDP sockets aborted when their backend leaves.
# Then 1, 3 and 6 again with --socket-lb off: the pod veth programs (tc)
# carry the traffic instead.
#
# As root, with the lab lock. The lab gets a prefix of its own (xcl<pid>)
# and is torn down on exit. Prints TAP (tests/lib/tap.sh).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"
. "$ROOT/tests/lib/kernel.sh"
PY=/usr/bin/python3
BUILD=${BUILD:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
XLBD=$BUILD/xlbd
XLBCTL=$BUILD/xlbctl
export LAB_PREFIX=${LAB_PREFIX:-xcl$$} LAB_NODES=3 LAB_PODS=2
. "$ROOT/tests/cluster/lib.sh"
FIX=$ROOT/tests/cluster/lb-services.yaml
CONNS=200

VIP_ALL=10.96.30.1 VIP_REMOTE=10.96.30.2 VIP_SELF=10.96.30.3 VIP_LOCAL=10.96.30.4
VIP_STICKY=10.96.30.5 VIP_BULK=10.96.30.6

suite_traps cluster_cleanup

# start_xlbd [ARG...]: one xlbd per node, each fed the services.
start_xlbd() {
	local n
	spawn_xlbd "$@" || return 1
	for n in 1 2 3; do
		ctl "$n" apply -f "$FIX" >/dev/null || { echo "n$n: apply: $(tail -3 "$RUN/xlbd-n$n.log")"; return 1; }
	done
}

# summary JSON [CLIENT_IP]: "NAME=N NAME=N ... errors=E peers=ok|LIST" of a
# tcp/udp/http result, backends by name (the lab's servers answer "NAME
# PEER"); peers=ok when every answer saw CLIENT_IP.
summary() {
	"$PY" -c '
import json, sys
r = json.loads(sys.argv[1])
want = sys.argv[2] if len(sys.argv) > 2 else ""
names, peers = {}, set()
for k, v in r.get("counts", {}).items():
    name, _, peer = k.partition(" ")
    names[name] = names.get(name, 0) + v
    if peer:
        peers.add(peer.rpartition(":")[0])
out = ["%s=%d" % kv for kv in sorted(names.items())] + ["errors=%d" % r.get("errors", 0)]
if want:
    out.append("peers=" + ("ok" if peers <= {want} else ",".join(sorted(peers))))
print(" ".join(out))' "$@"
}

# spread SUMMARY NAME...: no error, the client address preserved, and every
# NAME answered at least a third of its fair share of the NAMEs' answers (a
# flow's backend is a function of the flow: with 90 flows over three or 40
# over two, a fair choice misses that once in ~10^5 runs).
spread() {
	local s=$1 n c total=0
	shift
	case " $s " in *" errors=0 "*) ;; *) echo "$s"; return 1 ;; esac
	if [[ " $s " == *" peers="* && " $s " != *" peers=ok "* ]]; then
		echo "$s"
		return 1
	fi
	for n; do
		c=$(grep -o "\b$n=[0-9]*" <<<"$s" | cut -d= -f2)
		total=$((total + ${c:-0}))
	done
	for n; do
		c=$(grep -o "\b$n=[0-9]*" <<<"$s" | cut -d= -f2)
		[ $((${c:-0} * 3 * $#)) -ge "$total" ] && [ "$total" -gt 0 ] || { echo "$s"; return 1; }
	done
}

[ "$(id -u)" -eq 0 ] || tap_bail "must run as root"
[ -x "$XLBD" ] && [ -x "$XLBCTL" ] || tap_bail "$XLBD and $XLBCTL are built (make)"
out=$(lab up 2>&1) || tap_bail "lab up: $out"
out=$(start_xlbd 2>&1) || tap_bail "xlbd on every node: $out"
ok "lab up, an xlbd on every node with the services"

p11=10.244.1.11 p21=10.244.2.11

t_status() {
	local n s
	for n in 1 2 3; do
		s=$(ctl "$n" status) || return 1
		grep -Eq "^socket LB: +cgroup .*/$LAB_PREFIX/n$n\$" <<<"$s" &&
			grep -Eq '^pod veths: +(tcx|tc \(netlink\)): 2 interfaces$' <<<"$s" &&
			grep -Eq '^interfaces: +eth0$' <<<"$s" || { echo "n$n: $s"; return 1; }
	done
}
check "every node: socket LB on its cgroup, tc on its two pod veths, XDP on eth0 only" t_status

# ---- 1 ---------------------------------------------------------------------
t_all_tcp() { spread "$(summary "$(client n1p1 tcp --dst $VIP_ALL:80 -n 90)" $p11)" n1p2 n2p2 n3p2; }
check "1: pod -> ClusterIP, TCP: spread over the three nodes' backends, client address kept" t_all_tcp
t_all_udp() { spread "$(summary "$(client n2p1 udp --dst $VIP_ALL:53 -n 90)" $p21)" n1p2 n2p2 n3p2; }
check "1: pod -> ClusterIP, UDP: spread over the three nodes' backends" t_all_udp

# ---- 2 ---------------------------------------------------------------------
t_remote() { spread "$(summary "$(client n1p1 tcp --dst $VIP_REMOTE:80 -n 40)" $p11)" n2p2 n3p2; }
check "2: pod -> ClusterIP whose backends are all on other nodes" t_remote
t_node() { spread "$(summary "$(client n1 tcp --dst $VIP_REMOTE:80 -n 40)" 192.168.50.11)" n2p2 n3p2; }
check "2: the node itself -> that ClusterIP (seen from the node's address)" t_node
t_hostnet() {
	local cg s
	cg=$(bash "${LAB[@]}" cgroup 1)/hostpod
	mkdir -p "$cg" || return 1
	s=$(summary "$(sh -c 'echo $$ >"$1/cgroup.procs"; shift; exec "$@"' sh "$cg" \
		nsenter --net="/run/netns/$LAB_PREFIX-n1" "$PY" "$ROOT/tools/lab/client.py" \
		tcp --dst $VIP_REMOTE:80 -n 40)" 192.168.50.11)
	rmdir "$cg" 2>/dev/null
	spread "$s" n2p2 n3p2
}
check "2: a hostNetwork process (the node's netns, a pod cgroup of its own) -> that ClusterIP" t_hostnet

# ---- 3 ---------------------------------------------------------------------
# t_hairpin PEER: n1p1 reaches itself through its service, seen from PEER
# (the socket programs: its own address; tc: 169.254.42.1, the hairpin
# source that brings the reply back through the veth).
t_hairpin() {
	local s
	s=$(summary "$(client n1p1 tcp --dst $VIP_SELF:80 -n 5)" "$1")
	[ "$s" = "n1p1=5 errors=0 peers=ok" ] || { echo "$s"; return 1; }
}
check "3: pod -> its own service (hairpin), it sees itself" t_hairpin $p11

# ---- 4 ---------------------------------------------------------------------
t_local() {
	local s
	s=$(summary "$(client n1p1 tcp --dst $VIP_LOCAL:80 -n 10)")
	[ "$s" = "n1p2=10 errors=0" ] || { echo "from n1p1: $s"; return 1; }
	s=$(summary "$(client n3p1 tcp --dst $VIP_LOCAL:80 -n 10)")
	[ "$s" = "n3p2=10 errors=0" ] || { echo "from n3p1: $s"; return 1; }
}
check "4: internalTrafficPolicy Local: each node's pods reach only its own backend" t_local
t_sticky() {
	local t s
	for t in n1p1 n2p1 n3p1; do
		s=$(summary "$(client $t tcp --dst $VIP_STICKY:80 -n 10)")
		grep -Eq '^n[123]p2=10 errors=0$' <<<"$s" || { echo "from $t: $s"; return 1; }
	done
}
check "4: sessionAffinity ClientIP: a pod's 10 connects reach one backend, on whichever node" t_sticky

# ---- UDP and what applications see (tests/sock/client.py) -------------------
# sockcli TARGET SUBCOMMAND ARGS...: one JSON object
sockcli() {
	local t=$1
	shift
	timeout 150 bash "${LAB[@]}" exec "$t" "$PY" "$ROOT/tests/sock/client.py" "$@"
}
# jget PATH: a field of the JSON on stdin, as JSON
jget() { "$PY" -c 'import json,sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v.get(k, 0) if isinstance(v, dict) else 0
print(json.dumps(v, sort_keys=True))' "$1"; }

t_udp_connected() {
	local out n
	out=$(sockcli n1p1 udp $VIP_ALL:53 90)
	for n in n1p2 n2p2 n3p2; do
		[ "$(jget names.$n <<<"$out")" -ge 10 ] || { echo "$out"; return 1; }
	done
	[ "$(jget errors <<<"$out")" = "{}" ] &&
		[ "$(jget peers <<<"$out")" = "[\"$VIP_ALL:53\"]" ] &&
		[ "$(jget froms <<<"$out")" = "[\"$VIP_ALL:53\"]" ] || { echo "$out"; return 1; }
}
check "UDP, 90 connected sockets from a pod: the three nodes' backends, replies and getpeername show the service" t_udp_connected
t_udp_sendto() {
	local out
	out=$(sockcli n2p1 sendto $VIP_ALL:53 10)
	[ "$(jget names <<<"$out" | tr -cd ':' | wc -c)" = 1 ] &&
		[ "$(jget errors <<<"$out")" = "{}" ] &&
		[ "$(jget froms <<<"$out")" = "[\"$VIP_ALL:53\"]" ] || { echo "$out"; return 1; }
}
check "UDP, one unconnected socket: 10 datagrams to one backend, recvfrom shows the service" t_udp_sendto
t_getpeername() {
	local out
	out=$(sockcli n3p1 tcp $VIP_REMOTE:80 10)
	[ "$(jget errors <<<"$out")" = "{}" ] &&
		[ "$(jget peers <<<"$out")" = "[\"$VIP_REMOTE:80\"]" ] || { echo "$out"; return 1; }
}
check "TCP to backends on other nodes: getpeername() is the service" t_getpeername

# A backend (n2p2) leaves "all" on node 1 while 24 connected UDP sockets of
# n1p1 talk through the service. Steps at the top level, judged after.
uh_ab0=$(ctl 1 stats -o json | jget socket_counters.udp_aborted)
sockcli n1p1 udphold $VIP_ALL:53 24 "$RUN/uh" >"$RUN/uh.out" 2>&1 &
uh_pid=$!
for _ in $(seq 100); do [ -s "$RUN/uh" ] && break; sleep 0.1; done
ctl 1 apply -f "$ROOT/tests/cluster/all-without-n2.yaml" >/dev/null 2>&1
# xlbd aborts them on its main thread after acknowledging the write: the
# client goes on once node 1 counted them (bounded; older kernels at once).
uh_n2=$(grep -o '"n2p2"' "$RUN/uh" | wc -l)
if kernel_at_least 6 5; then
	for _ in $(seq 100); do
		[ $(($(ctl 1 stats -o json | jget socket_counters.udp_aborted) - uh_ab0)) -ge "$uh_n2" ] && break
		sleep 0.1
	done
fi
uh_aborted=$(($(ctl 1 stats -o json | jget socket_counters.udp_aborted) - uh_ab0))
touch "$RUN/uh.go"
wait "$uh_pid"
ctl 1 apply -f "$FIX" >/dev/null 2>&1
t_udp_gone() {
	if kernel_at_least 6 5 && [ "$uh_aborted" != "$uh_n2" ]; then
		echo "node 1 counted $uh_aborted aborted sockets, $uh_n2 were on n2p2"
		return 1
	fi
	"$PY" - "$RUN/uh.out" "$(uname -r)" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
major, minor = (int(x) for x in sys.argv[2].split(".")[:2])
destroy = (major, minor) >= (6, 5)
before, after = r["before"], r["after"]
if "n2p2" not in before or len(set(before)) < 2:
    sys.exit("not n2p2 and another backend before: %s" % before)
# An aborted socket is disconnected too: send() says EDESTADDRREQ, recv()
# ECONNABORTED, whichever the application calls first.
aborted = ("ECONNABORTED", "EDESTADDRREQ")
for b, a in zip(before, after):
    want = (aborted if destroy else (b,)) if b == "n2p2" else (b,)
    if a not in want:
        sys.exit("a socket on %s then answered %s, want %s (all: %s)" % (b, a, want, r))
PYEOF
}
check "a backend on another node leaves: the pod's connected UDP sockets to it are aborted (6.5+), the others keep theirs" t_udp_gone

# ---- 5 ---------------------------------------------------------------------
# Services whose state the tables alone do not tell (restart-services.yaml):
# the restart below must read them back and write nothing.
RESTART_FIX=$ROOT/tests/cluster/restart-services.yaml
VIP_DRAIN=10.96.30.8 VIP_RANGED=10.96.30.9
# t_restart_fix_served: from n2p1 the drain service is n2p2, serving while
# terminating (the local fallback); from n1p1 n1p2 alone; the ranged
# service's cluster IP reaches n1p2 and n3p2.
t_restart_fix_served() {
	local s
	s=$(summary "$(client n2p1 tcp --dst $VIP_DRAIN:80 -n 6)")
	[ "$s" = "n2p2=6 errors=0" ] || { echo "drain from n2p1: $s"; return 1; }
	s=$(summary "$(client n1p1 tcp --dst $VIP_DRAIN:80 -n 6)")
	[ "$s" = "n1p2=6 errors=0" ] || { echo "drain from n1p1: $s"; return 1; }
	s=$(summary "$(client n2p1 tcp --dst $VIP_RANGED:80 -n 20)")
	spread "$s" n1p2 n3p2 || { echo "ranged from n2p1: $s"; return 1; }
}
t_restart_fix() {
	local n
	for n in 1 2 3; do
		ctl "$n" apply -f "$RESTART_FIX" >/dev/null || return 1
	done
	t_restart_fix_served
}
check "5: internalTrafficPolicy Local with a serving terminating endpoint (n2's, its local fallback), a LoadBalancer with an IPv6 source range: served" t_restart_fix

# A held connection from n1p1 to a backend on n2 or n3; xlbd on n1 and on
# that node killed -9 and started again under it.
client n1p1 hold --dst $VIP_REMOTE:80 -n 1 --seconds 60 --ready "$RUN/hold.ready" \
	--stop "$RUN/hold.stop" >"$RUN/hold.out" 2>&1 &
hold_pid=$!
for _ in $(seq 100); do [ -s "$RUN/hold.ready" ] && break; sleep 0.1; done
be_node=$(sed -n 's/.*"\(n[23]\)p2.*/\1/p' "$RUN/hold.ready" | head -1)
for n in 1 ${be_node#n}; do
	read -r pid _ <"$RUN/xlbd-n$n.pid" && kill -9 "$pid"
done
sleep 1
mid=$(summary "$(client n1p1 tcp --dst $VIP_REMOTE:80 -n 6)")
lab unspawn xlbd >/dev/null 2>&1
out=$(start_xlbd 2>&1) || diag "restart: $out"
after=$(summary "$(client n1p1 tcp --dst $VIP_REMOTE:80 -n 6)")
touch "$RUN/hold.stop"
wait "$hold_pid"
t_restart() {
	"$PY" -c '
import json, sys
r = json.load(open(sys.argv[1]))
if r["opened"] != 1 or r["broken"] or r["pings"] < 5:
    sys.exit("held connection: %s" % r)' "$RUN/hold.out" || return 1
	[ -n "$be_node" ] || { echo "backend node unknown: $(cat "$RUN/hold.ready")"; return 1; }
	case "$mid $after" in *errors=0*errors=0) ;; *) echo "while down: $mid; after: $after"; return 1 ;; esac
}
check "5: a held cross-node connection survives kill -9 and restart of xlbd on both ends; new connects work meanwhile" t_restart
# Every xlbd read its pinned datapath back whole: its reconcile on start
# found every service as it was (restart-services.yaml's too) and wrote
# nothing; those services are served as before.
t_restart_wrote_nothing() {
	local n line
	for n in 1 2 3; do
		line=$(grep 'reconcile on start' "$RUN/xlbd-n$n.log" | tail -n 1)
		[[ $line =~ reconcile\ on\ start:\ 0\ created,\ 0\ updated,\ 0\ deleted,\ [1-9][0-9]*\ unchanged$ ]] ||
			{ echo "n$n wrote at its restart: ${line:-no reconcile}"; return 1; }
	done
	t_restart_fix_served
}
check "5: every xlbd's restart wrote nothing (policies, terminating endpoints and IPv6 source ranges read back); those services served as before" t_restart_wrote_nothing

# ---- 6 ---------------------------------------------------------------------
t_bulk() {
	local per=$((CONNS / 4)) t s
	for t in n1p1 n1p2 n2p1 n3p2; do
		s=$(summary "$(client $t http --dst $VIP_BULK:80 -n $per --bytes 16384 --timeout 5 --deadline 120)")
		case " $s " in *" errors=0 "*) ;; *) echo "from $t: $s"; return 1 ;; esac
		[ "$("$PY" -c 'import sys; print(sum(int(x.split("=")[1]) for x in sys.argv[1].split() if not x.startswith("errors")))' "$s")" = $per ] ||
			{ echo "from $t: $s"; return 1; }
	done
}
t_csum() {
	local n out bad=
	for n in $(ip netns list | awk -v p="$LAB_PREFIX-" 'index($1, p) == 1 { print $1 }'); do
		out=$(nsenter --net="/run/netns/$n" nstat -asz TcpInCsumErrors UdpInCsumErrors) || return 1
		awk '$1 ~ /CsumErrors$/ && $2 != 0 { found = 1 } END { exit !found }' <<<"$out" &&
			bad+="$n: $(echo "$out" | awk '$1 ~ /Csum/ {printf "%s=%s ", $1, $2}')"$'\n'
	done
	[ -z "$bad" ] || { echo "$bad"; return 1; }
}
check "6: $CONNS connections with 16 KiB answers through the ClusterIP (pod defaults, INVALID drop): 0 failures" t_bulk
check "6: no checksum error in any namespace" t_csum

# ---- the pod veth programs ---------------------------------------------------
lab unspawn xlbd >/dev/null 2>&1
out=$(start_xlbd --socket-lb off 2>&1) || tap_bail "xlbd --socket-lb off: $out"
t_off() {
	local n
	for n in 1 2 3; do
		ctl "$n" status | grep -Eq '^socket LB: +off' || { ctl "$n" status; return 1; }
	done
}
check "--socket-lb off on every node: nothing on the cgroups" t_off
check "tc, 1: pod -> ClusterIP, TCP: spread over the three nodes, client address kept" t_all_tcp
check "tc, 1: pod -> ClusterIP, UDP: spread" t_all_udp
check "tc, 3: hairpin, from 169.254.42.1" t_hairpin 169.254.42.1
check "tc, 6: $CONNS connections with 16 KiB answers: 0 failures" t_bulk
check "tc, 6: no checksum error in any namespace" t_csum
t_tc_counted() {
	local st
	st=$(ctl 1 stats -o json) || return 1
	"$PY" -c '
import json, sys
c = json.loads(sys.argv[1])["pod_counters"]
if not (c["fwd_local"] and c["fwd_stack"] and c["rev_stack"] and c["rev_local"] and c["fwd_hairpin"]):
    sys.exit("pod counters: %s" % c)' "$st"
}
check "tc on n1 translated both ways, local (redirect) and remote (stack) and hairpin" t_tc_counted

diag "INVALID drops (FORWARD) per node: $(for n in 1 2 3; do
	nsenter --net="/run/netns/$LAB_PREFIX-n$n" iptables -w -vnxL FORWARD | awk '/INVALID/ {printf "%s ", $1}'; done)"
tap_finish
