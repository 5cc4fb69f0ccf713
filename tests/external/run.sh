#!/usr/bin/env bash
# External clients on the three-node cluster lab (scripts/lab/cluster.sh,
# issue 13), with real traffic, each case judged by what the client
# receives (the lab's servers answer with their name and the client
# address they saw):
#
#   1 ext -> NodePort on n1 whose backends are all on n2 and n3: source-NATed
#     to n1's address and a port of the SNAT range; on n1 with a local
#     backend too (delivered by tc on the NIC, answered through the pod's
#     veth, the client's address kept); one client port towards two node
#     ports of one pod (one reply tuple)
#   2 externalTrafficPolicy Local: the client's address kept, a node
#     without a local endpoint does not answer, the health-check node port
#     says 200/503 and flips to 503 with the change that removes the last
#     local endpoint (xlbd recounts on the change, not periodically)
#   3 ext -> a LoadBalancer ingress IP the router spreads over the three
#     nodes (ECMP, L4 hash): flows through every node; -> an external IP
#   4 loadBalancerSourceRanges, also after every xlbd restarted over its
#     pinned datapath (which it adopts writing nothing)
#   5 1,000 connections through a node port to backends on other nodes with
#     a SNAT range of 200 ports while the node makes its own connections;
#     the range run out by held flows: counted, in /metrics, ports serve
#     again once flows end
#   6 sh (Maglev) over ECMP: every node picks a client's backend alike; a
#     node leaves the router's ECMP group: the other nodes' clients keep
#     their open connections and every client its backend
#   7 lb-mode dsr (xlb.io/lb-mode: dsr), backends on n2 and n3 only: ext ->
#     n1's node port and -> its LoadBalancer IP over ECMP, the backends see
#     the client; no SNAT, and no reply passes the front node (the router's
#     counts per node); UDP datagrams, also of 4,000 bytes in fragments,
#     every fragment by DSR
#   8 path MTU (pmtu.sh): n1 reaches n2's pods by a route of MTU 1400,
#     followed by XDP's cached next hop at once (xlbd flushes it); a
#     TCP connection through n1's node port sends and gets 64 KiB, by SNAT
#     and by DSR: XDP's fragmentation needed lowers the client's path MTU;
#     n2's eth0 takes another MAC: n1's XDP follows without the cache's 10 s
#   9 fragments through n1's node port with SNAT, UDP datagrams of 4,000
#     bytes answered with 4,000 (every fragment translated both ways), and
#     through tc from a pod's socket no socket program sees; n2's
#     fragmentation needed about a source-NATed flow translated for the
#     client (its path MTU)
#  10 every xlbd restarted over its pins with --lb-mode dsr: a service without
#     xlb.io/lb-mode goes by DSR, one annotated snat is source-NATed, a bad
#     mode is refused and changes nothing
#  11 `ctstate INVALID -j DROP` on every node throughout (the lab's)
#
# xlbd on every node: XDP on eth0, tc on lxc*, --snat-port-range
# 62000-62199, metrics on 127.0.0.1:9100 of the node. As root, with the lab
# lock. The lab gets a prefix of its own (xex<pid>) and is torn down on
# exit. Prints TAP (tests/lib/tap.sh).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"
PY=/usr/bin/python3
BUILD=${BUILD:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
XLBD=${XLBD:-$BUILD/xlbd}
XLBCTL=${XLBCTL:-$BUILD/xlbctl}
ANSWERS=$ROOT/tests/external/answers.py
export LAB_PREFIX=${LAB_PREFIX:-xex$$} LAB_NODES=3 LAB_PODS=2
. "$ROOT/tests/cluster/lib.sh"
T=$RUN/ext	# this suite's files

N1=192.168.50.11 N2=192.168.50.12 N3=192.168.50.13
CLIENT=172.16.0.2 OUTSIDER=172.16.0.100	# inside / outside 172.16.0.0/28
MAGLEV_CLIENTS=$(seq -f 172.16.0.2%g 0 9)	# .20 - .29
LB_IP=203.0.113.10 EXT_IP=198.51.100.7 MAGLEV_IP=203.0.113.20 DSR_IP=203.0.113.30
DSR_UDP_PORT=30095
SNAT_MIN=62000 SNAT_MAX=62199

nsn() { local ns=$1; shift; nsenter --net="/run/netns/$LAB_PREFIX-$ns" "$@"; }

suite_traps cluster_cleanup

# ---- the services ------------------------------------------------------------
# svc NAME TYPE CLUSTER_IP NODE_PORT [LINE...]: a Service of namespace ext,
# TCP 80 -> 8080, each LINE one more field of its spec, or "ingress:IP" (its
# status), or "algo:ALGO" (xlb.io/lb-algorithm) or "mode:MODE"
# (xlb.io/lb-mode); then slice NAME POD...: its EndpointSlice (pods nNpP,
# each on node nN).
svc() {
	local name=$1 type=$2 ip=$3 np=$4 l annot=
	shift 4
	for l; do
		case $l in
		algo:*) annot+=", xlb.io/lb-algorithm: ${l#algo:}" ;;
		mode:*) annot+=", xlb.io/lb-mode: ${l#mode:}" ;;
		esac
	done
	printf -- '- apiVersion: v1\n  kind: Service\n  metadata: {name: %s, namespace: ext%s}\n' \
		"$name" "${annot:+, annotations: {${annot#, }\}}"
	printf '  spec:\n    type: %s\n    clusterIP: %s\n' "$type" "$ip"
	printf '    ports: [{name: tcp, port: 80, protocol: TCP, targetPort: 8080, nodePort: %s}]\n' "$np"
	for l; do
		case $l in algo:* | mode:* | ingress:*) ;; *) printf '    %s\n' "$l" ;; esac
	done
	for l; do
		case $l in
		ingress:*) printf '  status: {loadBalancer: {ingress: [{ip: %s}]}}\n' "${l#ingress:}" ;;
		esac
	done
}
slice() {
	local name=$1 p
	shift
	printf -- '- apiVersion: discovery.k8s.io/v1\n  kind: EndpointSlice\n'
	printf -- '  metadata: {name: %s-a, namespace: ext, labels: {kubernetes.io/service-name: %s}}\n' \
		"$name" "$name"
	printf -- '  addressType: IPv4\n  ports: [{name: tcp, port: 8080, protocol: TCP}]\n  endpoints:\n'
	for p; do
		printf -- '  - {addresses: [10.244.%s.1%s], conditions: {ready: true}, nodeName: %s}\n' \
			"${p:1:1}" "${p:3:1}" "${p:0:2}"
	done
}
# local_svc POD...: the externalTrafficPolicy Local service with these pods
local_svc() {
	printf 'apiVersion: v1\nkind: List\nitems:\n'
	svc local LoadBalancer 10.96.40.3 30082 "externalTrafficPolicy: Local" "healthCheckNodePort: 32100"
	slice local "$@"
}
services() {
	printf 'apiVersion: v1\nkind: List\nitems:\n'
	svc remote NodePort 10.96.40.1 30080; slice remote n2p1 n3p1 n3p2
	svc mixed NodePort 10.96.40.2 30081; slice mixed n1p1 n2p1 n3p1
	svc local LoadBalancer 10.96.40.3 30082 "externalTrafficPolicy: Local" "healthCheckNodePort: 32100"
	slice local n1p2 n2p2
	svc mine NodePort 10.96.40.4 30084; slice mine n1p2
	svc lb LoadBalancer 10.96.40.5 30083 "externalIPs: [$EXT_IP]" \
		"loadBalancerSourceRanges: [172.16.0.0/28]" "ingress:$LB_IP"
	slice lb n1p1 n2p1 n3p1
	svc maglev LoadBalancer 10.96.40.6 30086 "ingress:$MAGLEV_IP" algo:sh; slice maglev n1p1 n2p1 n3p1
	# n2p2 by source NAT: this service's alone (the SNAT range is per backend)
	svc one NodePort 10.96.40.7 30087; slice one n2p2
	svc dsr LoadBalancer 10.96.40.8 30088 "ingress:$DSR_IP" mode:dsr; slice dsr n2p1 n3p1
	# UDP by DSR (section 7, datagrams larger than the path MTU)
	printf -- '- apiVersion: v1\n  kind: Service\n'
	printf -- '  metadata: {name: dsrudp, namespace: ext, annotations: {xlb.io/lb-mode: dsr}}\n'
	printf -- '  spec: {type: NodePort, clusterIP: 10.96.40.19, ports: [{name: udp, port: 53, '
	printf -- 'protocol: UDP, targetPort: 8080, nodePort: %s}]}\n' $DSR_UDP_PORT
	slice dsrudp n2p1 n3p1 | sed 's/name: tcp, port: 8080, protocol: TCP/name: udp, port: 8080, protocol: UDP/'
}

# apply_all FILE: to every node's xlbd, as the feeder does
apply_all() {
	local n
	for n in 1 2 3; do
		ctl "$n" apply -f "$1" >/dev/null || { echo "n$n: apply $1 failed"; return 1; }
	done
}

[ "$(id -u)" -eq 0 ] || tap_bail "must run as root"
[ -x "$XLBD" ] && [ -x "$XLBCTL" ] || tap_bail "$XLBD and $XLBCTL are built (make)"
out=$(lab up 2>&1) || tap_bail "lab up: $out"
mkdir -p "$T"
for a in $OUTSIDER $MAGLEV_CLIENTS; do
	ip -n "$LAB_PREFIX-ext" addr add "$a/24" dev eth0 || tap_bail "ext: address $a"
done
# n1's own connections may use every port up to 65000, the SNAT range
# included: only the ports xlbd reserves keep them out.
nsn n1 sysctl -qw net.ipv4.ip_local_port_range="32768 65000" net.ipv4.ip_local_reserved_ports=""
XLBD_ARGS=(--snat-port-range $SNAT_MIN-$SNAT_MAX --metrics 127.0.0.1:9100)
out=$(spawn_xlbd "${XLBD_ARGS[@]}" 2>&1) || tap_bail "xlbd on every node: $out"
services >"$T/services.yaml"
out=$(apply_all "$T/services.yaml" 2>&1) || tap_bail "$out $(tail -n 3 "$RUN"/xlbd-n*.log)"
ok "cluster lab up (the router's ECMP group over n1 n2 n3), xlbd on every node with the services"

# ---- helpers -----------------------------------------------------------------
# conns NAME SRC DST N [TIMEOUT]: N connections from ext (source SRC) to
# DST, the client's JSON in $T/NAME.json; errors NAME: its failures
errors() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["errors"])' "$T/$1.json"; }
conns() {
	client ext tcp --src "$2" --dst "$3" -n "$4" --timeout "${5:-2}" --deadline 240 >"$T/$1.json"
}
# answers NAME: "BACKEND PEER_IP PEER_PORT" per answer of $T/NAME.json
answers() { "$PY" "$ANSWERS" tcp "$T/$1.json"; }
# counter N NAME [pod]: an XDP (or, with pod, a tc) counter of node N
counter() {
	ctl "$1" stats -o json | "$PY" -c 'import json,sys
print(json.load(sys.stdin)[sys.argv[2]].get(sys.argv[1], 0))' "$2" "${3:+pod_}counters"
}
counter_sum() { echo $(($(counter 1 "$1") + $(counter 2 "$1") + $(counter 3 "$1"))); }
# explained N SRC DST KIND: node N's xlbctl explain (XDP) of SRC -> DST says KIND
explained() {
	local out kind
	out=$(ctl "$1" explain --src "$2" --dst "$3" -o json) &&
		kind=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["kind"])' "$out") &&
		[ "$kind" = "$4" ] || { echo "n$1: explain $2 -> $3: '${kind:-}', expected '$4': $out"; return 1; }
}
# hc NODE_IP PORT: "STATUS BODY" of an HTTP GET from ext
hc() {
	nsn ext curl -s -o "$T/hc" -w '%{http_code}' -m 5 "http://$1:$2/healthz"
	printf ' '
	tr -d '\n\t' <"$T/hc"
}

# ---- 1 -----------------------------------------------------------------------
t_remote() {
	local bad
	conns remote $CLIENT $N1:30080 50 || return 1
	[ "$(errors remote)" = 0 ] || { cat "$T/remote.json"; return 1; }
	bad=$(answers remote | awk -v n=$N1 -v lo=$SNAT_MIN -v hi=$SNAT_MAX \
		'$1 !~ /^n[23]p/ || $2 != n || $3 < lo || $3 > hi')
	[ -z "$bad" ] && [ "$(answers remote | wc -l)" = 50 ] || { echo "answers: $bad"; return 1; }
}
check "1: ext -> NodePort on n1, backends on n2 and n3 only: 50/50, each backend sees n1's address and a port of the SNAT range" t_remote

t_mixed() {
	local fwd0 rev0 fwd1 rev1 bad
	fwd0=$(counter 1 nic_fwd_local pod) && rev0=$(counter 1 rev_nic pod) || return 1
	conns mixed $CLIENT $N1:30081 60 || return 1
	[ "$(errors mixed)" = 0 ] || { cat "$T/mixed.json"; return 1; }
	# n1p1 here sees the client, the other nodes' pods n1
	bad=$(answers mixed | awk -v c=$CLIENT -v n=$N1 '!(($1 == "n1p1" && $2 == c) ||
		($1 ~ /^n[23]p1$/ && $2 == n))')
	[ -z "$bad" ] || { echo "answers: $bad"; return 1; }
	for b in n1p1 n2p1 n3p1; do
		answers mixed | awk -v b=$b '$1 == b { f = 1 } END { exit !f }' ||
			{ echo "$b never answered"; cat "$T/mixed.json"; return 1; }
	done
	fwd1=$(counter 1 nic_fwd_local pod) && rev1=$(counter 1 rev_nic pod) || return 1
	[ $((fwd1 - fwd0)) -ge 3 ] && [ $((rev1 - rev0)) -ge 2 ] ||
		{ echo "n1: nic_fwd_local $fwd0 -> $fwd1, rev_nic $rev0 -> $rev1"; return 1; }
}
check "1: ext -> NodePort on n1 with a backend on n1 too: 60/60 over all three, n1p1 sees the client (tc on the NIC and its veth: nic_fwd_local, rev_nic), the others n1" t_mixed

# One client port (outside the client's ephemeral range: no other
# connection here used it) towards two node ports of n1p2, the first
# flow's entries still in XDP's conntrack: the flows share their reply
# tuple (n1p2:8080 -> client:61234), and the second one's SYN-ACK must leave
# from the node port it answers, not the first flow's (the client would
# wait for it: how the former two-node dsr suite failed in CI, when the kernel
# happened to give one client port to a flow of each).
t_reused_port() {
	local port
	for port in 30084 30082; do
		client ext probe --dst "$N1:$port" --src $CLIENT --sport 61234 \
			--expect "n1p2 $CLIENT:61234" || { echo "from port 61234 to $port"; return 1; }
	done
}
check "1: one client port to node ports 30084 then 30082 of n1 (both n1p2: one reply tuple): both answered from the port called" t_reused_port

# ---- 2 -----------------------------------------------------------------------
t_local() {
	local n p b drops0 drops1 s
	for n in 1 2; do
		conns "local$n" $CLIENT "192.168.50.1$n:30082" 20 || return 1
		s=$(answers "local$n" | awk -v c=$CLIENT '{ print $1, $2 }' | sort | uniq -c | awk '{$1=$1; print}')
		[ "$s" = "20 n${n}p2 $CLIENT" ] || { echo "n$n: $s"; cat "$T/local$n.json"; return 1; }
	done
	drops0=$(counter 3 drop_no_local_endpoint) || return 1
	conns local3 $CLIENT $N3:30082 3 0.5 || return 1
	[ "$(errors local3)" = 3 ] || { echo "n3 answered:"; cat "$T/local3.json"; return 1; }
	drops1=$(counter 3 drop_no_local_endpoint) || return 1
	[ "$drops1" -gt "$drops0" ] || { echo "n3: drop_no_local_endpoint $drops0 -> $drops1"; return 1; }
	for n in 1 2 3; do
		s=$(hc "192.168.50.1$n" 32100)
		case $n:$s in
		[12]:"200 "*'"localEndpoints": 1'*'"serviceProxyHealthy": true'*) ;;
		3:"503 "*'"localEndpoints": 0'*) ;;
		*) echo "n$n health-check node port: $s"; return 1 ;;
		esac
	done
	s=$(hc $N3 10256)
	case $s in "200 "*nodeEligible*) ;; *) echo "n3 :10256/healthz: $s"; return 1 ;; esac
	explained 3 $CLIENT:40000 $N3:30082 "no local endpoint"
}
check "2: externalTrafficPolicy Local: n1 and n2 answer from their own pod, which sees the client; n3 (no local endpoint) does not (drop_no_local_endpoint, and xlbctl explain says why); health-check node port 200 on n1 and n2, 503 on n3" t_local

# hc_says NODE_IP PORT STATUS N: its health-check answer is STATUS with N
# local endpoints. xlbd's main loop recounts them on the core's event of
# the change, a moment after the apply returned: asked again for up to 2 s
# (the periodic work runs every 10 s).
hc_says() {
	local s
	for _ in $(seq 20); do
		s=$(hc "$1" "$2")
		case $s in "$3 "*"\"localEndpoints\": $4"*) return 0 ;; esac
		sleep 0.1
	done
	echo "$1:$2 says $s"
	return 1
}
t_local_gone() {
	local rc=0
	local_svc n2p2 >"$T/local-n2.yaml"
	local_svc n1p2 n2p2 >"$T/local-both.yaml"
	ctl 1 apply -f "$T/local-n2.yaml" >/dev/null || return 1
	hc_says $N1 32100 503 0 || rc=1
	conns gone $CLIENT $N1:30082 3 0.5 && [ "$(errors gone)" = 3 ] ||
		{ echo "n1 still answers:"; cat "$T/gone.json"; rc=1; }
	ctl 1 apply -f "$T/local-both.yaml" >/dev/null || return 1
	hc_says $N1 32100 200 1 || rc=1
	conns back $CLIENT $N1:30082 3 && [ "$(errors back)" = 0 ] ||
		{ echo "n1 does not answer again:"; cat "$T/back.json"; rc=1; }
	return $rc
}
check "2: n1's last local endpoint goes: its health-check node port says 503 with the change, its node port stops answering; back to 200 and answering when it returns" t_local_gone

# ---- 3 -----------------------------------------------------------------------
t_ecmp() {
	local nodes
	conns lbip $CLIENT $LB_IP:80 60 || return 1
	[ "$(errors lbip)" = 0 ] && [ "$(answers lbip | wc -l)" = 60 ] || { cat "$T/lbip.json"; return 1; }
	# the nodes that source-NATed some of them
	nodes=$(answers lbip | awk '$2 ~ /^192\.168\.50\./ { print $2 }' | sort -u | tr '\n' ' ')
	[ "$nodes" = "$N1 $N2 $N3 " ] || { echo "through: $nodes"; cat "$T/lbip.json"; return 1; }
}
check "3: ext -> LoadBalancer ingress IP routed by ECMP: 60/60, through all three nodes (each seen as the source of some)" t_ecmp
t_ext_ip() {
	conns extip $CLIENT $EXT_IP:80 20 || return 1
	[ "$(errors extip)" = 0 ] && [ "$(answers extip | wc -l)" = 20 ] || { cat "$T/extip.json"; return 1; }
}
check "3: ext -> external IP: 20/20" t_ext_ip

# ---- 4 -----------------------------------------------------------------------
# ranges_hold: $OUTSIDER is not answered (drop_source_range) and n1
# explains why; $CLIENT is answered
ranges_hold() {
	local before after
	before=$(counter_sum drop_source_range) || return 1
	conns outsider $OUTSIDER $LB_IP:80 3 0.5 || return 1
	[ "$(errors outsider)" = 3 ] || { echo "answered outside the range:"; cat "$T/outsider.json"; return 1; }
	after=$(counter_sum drop_source_range) || return 1
	[ "$after" -gt "$before" ] || { echo "drop_source_range $before -> $after"; return 1; }
	conns insider $CLIENT $LB_IP:80 3 && [ "$(errors insider)" = 0 ] || { cat "$T/insider.json"; return 1; }
	explained 1 $OUTSIDER:40000 $LB_IP:80 "source range"
}
t_ranges() {
	ranges_hold && explained 1 $CLIENT:40000 $LB_IP:80 "flow hash"
}
check "4: loadBalancerSourceRanges 172.16.0.0/28: $OUTSIDER not answered (drop_source_range), $CLIENT answered; xlbctl explain says so" t_ranges

# Every xlbd restarts and adopts its pinned datapath: the reconcile finds
# each service as it left it (source ranges, LoadBalancer and external IPs,
# traffic policies, which backends are remote: read back from the maps)
# and writes nothing; the ranges still hold.
t_restart() {
	local n line
	lab unspawn xlbd >/dev/null || return 1
	spawn_xlbd "${XLBD_ARGS[@]}" || return 1
	for n in 1 2 3; do
		line=$(grep 'reconcile on start' "$RUN/xlbd-n$n.log")
		[[ $line =~ reconcile\ on\ start:\ 0\ created,\ 0\ updated,\ 0\ deleted,\ [1-9][0-9]*\ unchanged$ ]] ||
			{ echo "n$n wrote at its restart: ${line:-no reconcile}"; return 1; }
	done
	ranges_hold
}
check "4: xlbd restarts on every node over its pinned datapath: every service unchanged, nothing written; $OUTSIDER still not answered, $CLIENT still answered" t_restart

# ---- 5 -----------------------------------------------------------------------
t_snat_1000() {
	local pid bad b flows ports
	# n1's own connections meanwhile: straight to a pod on n2, from ports
	# of 32768-65000 that xlbd did not reserve
	client n1 tcp --dst 10.244.2.11:8080 -n 300 --deadline 240 >"$T/own.json" & pid=$!
	conns snat $CLIENT $N1:30080 1000 || return 1
	wait "$pid"
	[ "$(errors snat)" = 0 ] || { echo "through the node port:"; cat "$T/snat.json"; return 1; }
	bad=$(answers snat | awk -v n=$N1 -v lo=$SNAT_MIN -v hi=$SNAT_MAX '$2 != n || $3 < lo || $3 > hi')
	[ -z "$bad" ] || { echo "not from n1's SNAT range: $bad"; return 1; }
	# a port per (backend, port): each backend took more flows than the
	# range has ports, so ports were reused once their flows ended
	for b in n2p1 n3p1 n3p2; do
		flows=$(answers snat | awk -v b=$b '$1 == b' | wc -l)
		ports=$(answers snat | awk -v b=$b '$1 == b { print $3 }' | sort -u | wc -l)
		[ "$flows" -gt 200 ] && [ "$ports" -le 200 ] || { echo "$b: $flows flows, $ports ports"; return 1; }
	done
	[ "$(errors own)" = 0 ] || { echo "n1's own connections:"; cat "$T/own.json"; return 1; }
	"$PY" "$ANSWERS" tcp "$T/own.json" >"$T/own.txt"
	bad=$(awk -v lo=$SNAT_MIN -v hi=$SNAT_MAX '$3 >= lo && $3 <= hi' "$T/own.txt")
	[ "$(wc -l <"$T/own.txt")" = 300 ] && [ -z "$bad" ] || { echo "n1's own on SNAT ports: $bad"; return 1; }
}
check "5: 1,000 connections through n1's node port to 3 backends on n2 and n3, SNAT range of 200 ports: 1000/1000, ports reused once flows ended; n1's 300 own connections meanwhile: 300/300, never from an SNAT port" t_snat_1000

# The range run out: 230 flows to one backend held open (their ports are
# never taken over) through n1, which holds at most 200.
t_exhaust() {
	local before after n hold
	before=$(counter 1 drop_snat_exhausted) || return 1
	rm -f "$T/ready" "$T/stop"
	client ext hold --dst $N1:30087 -n 230 --seconds 120 --timeout 0.5 \
		--ready "$T/ready" --stop "$T/stop" >"$T/hold.json" 2>&1 & hold=$!
	for _ in $(seq 600); do
		[ -s "$T/ready" ] && break
		sleep 0.2
	done
	n=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["opened"])' "$T/ready")
	[ "$n" -gt 150 ] && [ "$n" -le 200 ] || { echo "held $n"; touch "$T/stop"; return 1; }
	after=$(counter 1 drop_snat_exhausted) || return 1
	[ "$after" -gt "$before" ] || { echo "drop_snat_exhausted $before -> $after"; touch "$T/stop"; return 1; }
	nsn n1 curl -s -m 5 http://127.0.0.1:9100/metrics >"$T/metrics" &&
		grep -Eq '^xlb_datapath_packets_total\{reason="drop_snat_exhausted"\} [1-9]' "$T/metrics" ||
		{ echo "not in /metrics:"; grep snat "$T/metrics"; touch "$T/stop"; return 1; }
	"$PY" -c 'import json,sys
for c in json.load(open(sys.argv[1]))["conns"]:
    print(c["name"].rpartition(":")[2])' "$T/ready" | sort -u >"$T/held-ports"
	[ "$(wc -l <"$T/held-ports")" = "$n" ] || { echo "held flows share ports"; touch "$T/stop"; return 1; }
	touch "$T/stop"
	wait "$hold"
	[ "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["broken"])' "$T/hold.json")" = 0 ] ||
		{ echo "held flows broke:"; cat "$T/hold.json"; return 1; }
	# ended (FIN both ways): a second later their ports serve new flows
	sleep 2
	conns after $CLIENT $N1:30087 100 || return 1
	[ "$(errors after)" = 0 ] || { echo "after the held flows ended:"; cat "$T/after.json"; return 1; }
	[ -n "$(comm -12 "$T/held-ports" <(answers after | awk '{ print $3 }' | sort -u))" ] ||
		{ echo "no held port reused"; return 1; }
}
check "5: 230 flows held open to one backend through n1 run the range out: at most 200 held, none broken, each on its own port; drop_snat_exhausted, in /metrics; once they end, 100/100 again, on their ports" t_exhaust

# ---- 6 -----------------------------------------------------------------------
# Ten clients, four connections each to the sh service's LoadBalancer IP,
# held open while n3 leaves the router's ECMP group.
t_maglev() {
	local hold srcs=() a bad
	for a in $MAGLEV_CLIENTS; do srcs+=(--src "$a"); done
	rm -f "$T/mready" "$T/mstop"
	client ext hold --dst $MAGLEV_IP:80 -n 40 "${srcs[@]}" --seconds 120 \
		--ready "$T/mready" --stop "$T/mstop" >"$T/mhold.json" 2>&1 & hold=$!
	for _ in $(seq 300); do
		[ -s "$T/mready" ] && break
		sleep 0.2
	done
	"$PY" "$ANSWERS" hold "$T/mready" >"$T/before" || { touch "$T/mstop"; return 1; }
	# client -> backend, whichever node its connection came through
	awk '{ print $1, $2 }' "$T/before" | sort -u >"$T/choice"
	bad=$(awk '{ print $1 }' "$T/choice" | uniq -d)
	[ "$(wc -l <"$T/before")" = 40 ] && [ -z "$bad" ] ||
		{ echo "clients with two backends: $bad"; cat "$T/before"; touch "$T/mstop"; return 1; }
	# through every node, most clients through more than one (1 in 27 has
	# its four through one node)
	[ "$(awk '{ print $3 }' "$T/before" | sort -u | tr '\n' ' ')" = "n1 n2 n3 " ] &&
		[ "$(awk '{ print $1, $3 }' "$T/before" | sort -u | awk '{ print $1 }' | uniq -d | wc -l)" -ge 5 ] ||
		{ echo "not through every node:"; cat "$T/before"; touch "$T/mstop"; return 1; }
	lab ecmp 1 2 || { touch "$T/mstop"; return 1; }
	sleep 1	# the held connections are pinged every 0.2 s
	for a in $MAGLEV_CLIENTS; do
		conns "m$a" "$a" $MAGLEV_IP:80 4 || { touch "$T/mstop"; return 1; }
		answers "m$a" | awk -v a="$a" '{ print a, $1 }'
	done | sort | uniq -c | awk '{ print $2, $3, $1 }' >"$T/after"
	touch "$T/mstop"
	wait "$hold"
	lab ecmp 1 2 3
	"$PY" "$ANSWERS" hold "$T/mhold.json" >"$T/end" || return 1
	echo "n3 left: $(awk '$3 == "n3" && $4 != "-"' "$T/end" | wc -l) of the $(awk '$3 == "n3"' "$T/end" |
		wc -l) held connections through it broke" >"$T/maglev.diag"
	bad=$(awk '$3 != "n3" && $4 != "-"' "$T/end")
	[ -z "$bad" ] || { echo "broke on the nodes that stayed: $bad"; return 1; }
	bad=$(join <(sort "$T/choice") <(sort "$T/after") | awk '$2 != $3 || $4 != 4')
	[ -z "$bad" ] && [ "$(wc -l <"$T/after")" = 10 ] ||
		{ echo "after n3 left (client before after count): $bad"; cat "$T/after"; return 1; }
}
check "6: sh over ECMP: 10 clients x 4 held connections through all three nodes, each client one backend through whichever node; n3 leaves the ECMP group: n1's and n2's connections all live on, every client's new connections reach its backend" t_maglev
[ -s "$T/maglev.diag" ] && diag "$(cat "$T/maglev.diag")"

# ---- 7 -----------------------------------------------------------------------
# The router counts the packets to $CLIENT from the service's addresses
# it gets from each node's NIC (by source MAC): a DSR reply leaves the
# backend's node, never the front node (n1, which has no backend of it).
for n in 1 2 3; do
	mac=$(ip -n "$LAB_PREFIX-n$n" -br link show eth0 | awk '{ print $3 }')
	for a in $N1:30088 $DSR_IP:80; do
		nsn rtr iptables -w -t mangle -A PREROUTING -i fab0 -s "${a%:*}" -d $CLIENT -p tcp \
			--sport "${a#*:}" -m mac --mac-source "$mac" -m comment --comment "n$n $a" ||
			tap_bail "router counters"
	done
done
# to_client N ADDR:PORT: packets from ADDR:PORT to $CLIENT the router got
# from node N
to_client() {
	nsn rtr iptables -w -t mangle -vnxL PREROUTING | awk -v c="/* n$1 $2 */" 'index($0, c) { print $1 }'
}
# dsr_counts ADDR:PORT: n1's fwd_dsr; snat_new and snat_reply on every
# node; nic_dsr on n2 and n3; n2's and n3's own share of the external
# flows (fwd_dsr + nic_fwd_local), each; the router's count of packets
# from ADDR:PORT to $CLIENT from n1, and from n2 and n3
dsr_counts() {
	echo "$(counter 1 fwd_dsr) $(counter_sum snat_new) $(counter_sum snat_reply)" \
		$(($(counter 2 nic_dsr pod) + $(counter 3 nic_dsr pod))) \
		$(($(counter 2 fwd_dsr) + $(counter 2 nic_fwd_local pod))) \
		$(($(counter 3 fwd_dsr) + $(counter 3 nic_fwd_local pod))) \
		"$(to_client 1 "$1")" $(($(to_client 2 "$1") + $(to_client 3 "$1")))
}
# t_dsr NAME DST N FWD_DSR: N connections to DST answered by n2p1 and n3p1,
# which see the client; n1 sent at least FWD_DSR packets by DSR (no node
# made an SNAT mapping; snat_reply is shown, not judged: a backend may
# still retransmit to an earlier section's moved flow), n2 and n3
# decapsulated them, and every reply reached the router from n2 or n3,
# none from n1
t_dsr() {
	local c0 c1 bad
	read -ra c0 <<<"$(dsr_counts "$2")" && [ "${#c0[@]}" = 8 ] || return 1
	conns "$1" $CLIENT "$2" "$3" || return 1
	read -ra c1 <<<"$(dsr_counts "$2")" && [ "${#c1[@]}" = 8 ] || return 1
	[ "$(errors "$1")" = 0 ] && [ "$(answers "$1" | wc -l)" = "$3" ] || { cat "$T/$1.json"; return 1; }
	bad=$(answers "$1" | awk -v c=$CLIENT '$1 !~ /^n[23]p1$/ || $2 != c')
	[ -z "$bad" ] || { echo "answers: $bad"; return 1; }
	[ "$(answers "$1" | awk '{ print $1 }' | sort -u | tr '\n' ' ')" = "n2p1 n3p1 " ] ||
		{ echo "not from both backends:"; cat "$T/$1.json"; return 1; }
	[ $((c1[0] - c0[0])) -ge "$4" ] && [ "${c1[1]}" = "${c0[1]}" ] &&
		[ "${c1[3]}" -gt "${c0[3]}" ] && [ "${c1[6]}" = "${c0[6]}" ] &&
		[ $((c1[7] - c0[7])) -ge $((2 * $3)) ] || {
		echo "n1 fwd_dsr, snat_new, snat_reply, nic_dsr (n2 n3), n2's, n3's, to the client from n1," \
			"from n2 and n3: ${c0[*]} -> ${c1[*]}"
		return 1
	}
}
t_dsr_nodeport() { t_dsr dsrnp $N1:30088 50 150; }
check "7: DSR (xlb.io/lb-mode: dsr), ext -> NodePort on n1, backends on n2 and n3 only: 50/50 over both, each sees the client's address; n1 encapsulates (fwd_dsr), no node source-NATs (snat_new), n2 and n3 decapsulate (nic_dsr); the router gets every reply from n2 and n3, none from n1" t_dsr_nodeport

# through every node: n1 sends all it gets by DSR, n2 and n3 theirs to the
# other's pod by DSR or to their own through tc on the NIC
t_dsr_ecmp() {
	local c0 c1
	read -ra c0 <<<"$(dsr_counts $DSR_IP:80)" || return 1
	t_dsr dsrlb $DSR_IP:80 60 1 || return 1
	read -ra c1 <<<"$(dsr_counts $DSR_IP:80)" || return 1
	[ "${c1[4]}" -gt "${c0[4]}" ] && [ "${c1[5]}" -gt "${c0[5]}" ] ||
		{ echo "not through n2 and n3: ${c0[*]} -> ${c1[*]}"; return 1; }
}
check "7: DSR, ext -> its LoadBalancer IP over ECMP: 60/60 through all three nodes (n1 by DSR), both backends, each sees the client's address; no SNAT on any node; the router gets every reply from n2 and n3, none from n1" t_dsr_ecmp

# udp_ok NAME: $T/NAME.json (a udp client's) has no error and every answer
# came from the address the client sent to
udp_ok() {
	[ "$(errors "$1")" = 0 ] &&
		[ "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["wrong_src"])' \
			"$T/$1.json")" = 0 ] || { cat "$T/$1.json"; return 1; }
}
t_dsr_udp() {
	local bad
	client ext udp --src $CLIENT --dst $N1:$DSR_UDP_PORT -n 30 --deadline 60 >"$T/dsrudp1.json" &&
		udp_ok dsrudp1 || return 1
	bad=$(answers dsrudp1 | awk -v c=$CLIENT '$1 !~ /^n[23]p1$/ || $2 != c')
	[ -z "$bad" ] && [ "$(answers dsrudp1 | wc -l)" = 30 ] || { echo "answers: $bad"; return 1; }
}
check "7: DSR, UDP: 30/30 datagrams to n1's node port $DSR_UDP_PORT answered from it by n2p1 and n3p1, which see the client's address" t_dsr_udp

# UDP datagrams of 4,000 bytes, cut in three by ext's stack: each fragment
# goes IPIP from n1 (frag_follow: the later ones by the first's ports)
# and is decapsulated on the backend's node (nic_dsr). The outer header's
# 20 bytes must fit the fabric's 1,500 and fragments carry no DF to ask
# for less: ext's route to n1 has MTU 1,480 here (a client path 20 bytes
# under the fabric's), as DSR deployments give the fabric the larger MTU.
# frag_counts: n1's fwd_dsr, frag_follow, drop_dsr_too_big; nic_dsr of n2
# and n3
frag_counts() {
	echo "$(counter 1 fwd_dsr) $(counter 1 frag_follow) $(counter 1 drop_dsr_too_big)" \
		$(($(counter 2 nic_dsr pod) + $(counter 3 nic_dsr pod)))
}
t_dsr_frag() {
	local c0 c1 rc bad
	read -ra c0 <<<"$(frag_counts)" && [ "${#c0[@]}" = 4 ] || return 1
	nsn ext ip route add $N1/32 via 172.16.0.1 mtu 1480 || return 1
	client ext udp --src $CLIENT --dst $N1:$DSR_UDP_PORT -n 20 --size 4000 --timeout 3 \
		--deadline 120 >"$T/dsrudp.json"
	rc=$?
	nsn ext ip route del $N1/32 via 172.16.0.1 mtu 1480
	[ "$rc" = 0 ] || { cat "$T/dsrudp.json"; return 1; }
	read -ra c1 <<<"$(frag_counts)" && [ "${#c1[@]}" = 4 ] || return 1
	udp_ok dsrudp && [ "$(answers dsrudp | wc -l)" = 20 ] || { cat "$T/dsrudp.json"; return 1; }
	bad=$(answers dsrudp | awk -v c=$CLIENT '$1 !~ /^n[23]p1$/ || $2 != c')
	[ -z "$bad" ] || { echo "answers: $bad"; return 1; }
	[ "$(answers dsrudp | awk '{ print $1 }' | sort -u | tr '\n' ' ')" = "n2p1 n3p1 " ] ||
		{ echo "not from both backends:"; cat "$T/dsrudp.json"; return 1; }
	echo "n1 fwd_dsr +$((c1[0] - c0[0])), frag_follow +$((c1[1] - c0[1])), drop_dsr_too_big" \
		"+$((c1[2] - c0[2])); nic_dsr (n2 n3) +$((c1[3] - c0[3]))" >"$T/dsrudp.diag"
	# each datagram: three fragments by DSR, two of them following the first
	[ $((c1[0] - c0[0])) -ge 60 ] && [ $((c1[1] - c0[1])) -ge 40 ] &&
		[ "${c1[2]}" = "${c0[2]}" ] && [ $((c1[3] - c0[3])) -ge 60 ] || {
		echo "n1 fwd_dsr, frag_follow, drop_dsr_too_big; nic_dsr (n2 n3): ${c0[*]} -> ${c1[*]}"
		return 1
	}
}
check "7: DSR, 20 UDP datagrams of 4,000 bytes (three fragments each) from ext to n1's node port $DSR_UDP_PORT, backends on n2 and n3: all answered from the node port, by both backends, which see the client; every fragment sent IPIP by n1 (fwd_dsr, frag_follow) and decapsulated by n2 or n3 (nic_dsr)" t_dsr_frag
[ -s "$T/dsrudp.diag" ] && diag "$(cat "$T/dsrudp.diag")"

# ---- 8 -----------------------------------------------------------------------
. "$ROOT/tests/external/pmtu.sh"

# ---- 9 -----------------------------------------------------------------------
# Fragments both ways through SNAT and through tc, and an ICMP error about a
# source-NATed flow translated for the client. Service frag (NodePort
# $FRAG_NP of n1, n2p2 only): UDP to a second server of n2p2 on 5353 whose
# answers are as long as the datagrams (tools/lab/server.py --pad-udp), and
# n2p2's HTTP port. 4,000 bytes over 1,500-byte links: each datagram and
# each answer cut in three by the sender's stack.
FRAG_IP=10.96.40.11 FRAG_NP=30093 FRAG_POD=10.244.2.12
frag_svc() {
	printf 'apiVersion: v1\nkind: List\nitems:\n'
	printf -- '- apiVersion: v1\n  kind: Service\n  metadata: {name: frag, namespace: ext}\n'
	printf '  spec:\n    type: NodePort\n    clusterIP: %s\n    ports:\n' $FRAG_IP
	printf '    - {name: udp, port: 53, protocol: UDP, targetPort: 5353, nodePort: %s}\n' $FRAG_NP
	printf '    - {name: http, port: 81, protocol: TCP, targetPort: 8081, nodePort: %s}\n' $FRAG_NP
	printf -- '- apiVersion: discovery.k8s.io/v1\n  kind: EndpointSlice\n'
	printf -- '  metadata: {name: frag-a, namespace: ext, labels: {kubernetes.io/service-name: frag}}\n'
	printf -- '  addressType: IPv4\n'
	printf -- '  ports: [{name: udp, port: 5353, protocol: UDP}, {name: http, port: 8081, protocol: TCP}]\n'
	printf -- '  endpoints:\n  - {addresses: [%s], conditions: {ready: true}, nodeName: n2}\n' $FRAG_POD
}
t_frag_setup() {
	frag_svc >"$T/frag.yaml"
	# in n2p2's netns and n2's cgroup: ended with the lab
	bash "${LAB[@]}" exec n2p2 "$PY" "$ROOT/tools/lab/server.py" --name n2p2 --peer --pad-udp \
		--port 5353 --http-port 0 >"$T/padded.log" 2>&1 &
	for _ in $(seq 50); do
		nsn n2p2 ss -Hlun 'sport = :5353' | grep -q . && break
		sleep 0.1
	done
	nsn n2p2 ss -Hlun 'sport = :5353' | grep -q . || { cat "$T/padded.log"; return 1; }
	apply_all "$T/frag.yaml"
}
check "9: service frag: n1's node port $FRAG_NP to n2p2, UDP answered at the datagrams' length" t_frag_setup

t_frag_snat() {
	local f0 d0 f1 d1 bad
	f0=$(counter 1 frag_follow) && d0=$(counter 1 drop_fragment) || return 1
	client ext udp --src $CLIENT --dst $N1:$FRAG_NP -n 20 --size 4000 --timeout 3 --deadline 120 \
		>"$T/fragsnat.json" && udp_ok fragsnat || return 1
	f1=$(counter 1 frag_follow) && d1=$(counter 1 drop_fragment) || return 1
	bad=$(answers fragsnat | awk -v n=$N1 -v lo=$SNAT_MIN -v hi=$SNAT_MAX \
		'$1 != "n2p2" || $2 != n || $3 < lo || $3 > hi')
	[ -z "$bad" ] && [ "$(answers fragsnat | wc -l)" = 20 ] || { echo "answers: $bad"; return 1; }
	# each datagram and each answer: a first fragment and two later ones
	[ $((f1 - f0)) -ge 80 ] && [ "$d1" = "$d0" ] ||
		{ echo "n1 frag_follow $f0 -> $f1, drop_fragment $d0 -> $d1"; return 1; }
}
check "9: SNAT, 20 UDP datagrams of 4,000 bytes from ext to n1's node port, each answered with 4,000 bytes from it; n2p2 sees n1's address and an SNAT port; every later fragment translated by n1's XDP both ways (frag_follow), none dropped" t_frag_snat

# From n1p1's netns but outside n1's cgroup: no socket program sees the
# socket, so tc on n1p1's veth translates its datagrams and the answers.
t_frag_tc() {
	local f0 r0 f1 r1 bad
	f0=$(counter 1 fwd_stack pod) && r0=$(counter 1 rev_stack pod) || return 1
	nsn n1p1 "$PY" "$ROOT/tools/lab/client.py" udp --dst $FRAG_IP:53 -n 20 --size 4000 --timeout 3 \
		--deadline 120 >"$T/fragtc.json" && udp_ok fragtc || return 1
	f1=$(counter 1 fwd_stack pod) && r1=$(counter 1 rev_stack pod) || return 1
	bad=$(answers fragtc | awk '$1 != "n2p2" || $2 != "10.244.1.11"')
	[ -z "$bad" ] && [ "$(answers fragtc | wc -l)" = 20 ] || { echo "answers: $bad"; return 1; }
	[ $((f1 - f0)) -ge 60 ] && [ $((r1 - r0)) -ge 60 ] ||
		{ echo "n1 fwd_stack $f0 -> $f1, rev_stack $r0 -> $r1"; return 1; }
}
check "9: n1p1 -> ClusterIP (a socket no socket program sees: tc on its veth), 20 datagrams of 4,000 bytes answered with 4,000 from the ClusterIP by n2p2, which sees n1p1; every fragment through tc both ways (fwd_stack, rev_stack)" t_frag_tc

# n2 reaches n2p2 by a route of MTU 1300 (its veth stays at 1,500): n2
# answers n1's source-NATed 1,500-byte segments with fragmentation needed,
# which n1's XDP translates for the client (icmp_xlate).
t_icmp_xlate() {
	local i0 i1 mtu rc=0
	nsn ext ip route flush cache
	i0=$(counter 1 icmp_xlate) || return 1
	nsn n2 ip route replace $FRAG_POD/32 dev lxc2 scope link mtu 1300 || return 1
	client ext http --dst $N1:$FRAG_NP -n 1 --bytes 65536 --upload 65536 --timeout 20 \
		>"$T/fragicmp.json" && [ "$(errors fragicmp)" = 0 ] && grep -q '"n2p2": 1' "$T/fragicmp.json" ||
		{ cat "$T/fragicmp.json"; rc=1; }
	mtu=$(path_mtu)
	nsn n2 ip route replace $FRAG_POD/32 dev lxc2 scope link || rc=1
	nsn ext ip route flush cache
	i1=$(counter 1 icmp_xlate) || return 1
	[ "$rc" = 0 ] && [ "$i1" -gt "$i0" ] && [ "$mtu" = 1300 ] ||
		{ echo "n1 icmp_xlate $i0 -> $i1; ext's path MTU to n1: '$mtu'"; return 1; }
}
check "9: n2 reaches n2p2 by a route of MTU 1300: one TCP connection from ext through n1's node port (SNAT) sends and gets 64 KiB; n2's fragmentation needed translated by n1 for the client (icmp_xlate), whose path MTU to n1 is then 1300" t_icmp_xlate

# ---- 10 ----------------------------------------------------------------------
# Every xlbd restarted over its pins and state with --lb-mode dsr (it was
# snat): the services without xlb.io/lb-mode are rewritten on start and go
# by DSR (remote: n1's node port 30080 to n2p1, n3p1 and n3p2); keepsnat
# (xlb.io/lb-mode: snat, n2p1 and n3p1), applied then, is source-NATed.
t_node_dsr() {
	local f0 s0 f1 s1 bad
	{
		printf 'apiVersion: v1\nkind: List\nitems:\n'
		svc keepsnat NodePort 10.96.40.12 30094 mode:snat
		slice keepsnat n2p1 n3p1
	} >"$T/keepsnat.yaml"
	lab unspawn xlbd >/dev/null 2>&1
	spawn_xlbd "${XLBD_ARGS[@]}" --lb-mode dsr && apply_all "$T/keepsnat.yaml" || return 1
	grep -q "the node's lb-mode is now dsr: to be rewritten" "$RUN/xlbd-n1.log" ||
		{ tail -n 20 "$RUN/xlbd-n1.log"; return 1; }
	f0=$(counter 1 fwd_dsr) && s0=$(counter_sum snat_new) || return 1
	conns nodedsr $CLIENT $N1:30080 30 || return 1
	f1=$(counter 1 fwd_dsr) && s1=$(counter_sum snat_new) || return 1
	[ "$(errors nodedsr)" = 0 ] || { cat "$T/nodedsr.json"; return 1; }
	bad=$(answers nodedsr | awk -v c=$CLIENT '$1 !~ /^n[23]p[12]$/ || $2 != c')
	[ -z "$bad" ] && [ "$(answers nodedsr | wc -l)" = 30 ] || { echo "answers: $bad"; return 1; }
	[ $((f1 - f0)) -ge 90 ] && [ "$s1" = "$s0" ] ||
		{ echo "n1 fwd_dsr $f0 -> $f1, snat_new (all nodes) $s0 -> $s1"; return 1; }
	ctl 1 explain --src $CLIENT:40000 --dst $N1:30080 >"$T/explain" &&
		grep -q 'lb-mode dsr' "$T/explain" || { cat "$T/explain"; return 1; }
}
check "10: every xlbd restarted over its pins with --lb-mode dsr (was snat): ext -> n1's node port of a service without xlb.io/lb-mode: 30/30, the backends see the client; n1 encapsulates (fwd_dsr), no node source-NATs; xlbctl explain says lb-mode dsr" t_node_dsr

# keep_snat NAME N: N connections to keepsnat, every backend sees n1's
# address and a port of the SNAT range
keep_snat() {
	local bad
	conns "$1" $CLIENT $N1:30094 "$2" && [ "$(errors "$1")" = 0 ] || { cat "$T/$1.json"; return 1; }
	bad=$(answers "$1" | awk -v n=$N1 -v lo=$SNAT_MIN -v hi=$SNAT_MAX \
		'$1 !~ /^n[23]p1$/ || $2 != n || $3 < lo || $3 > hi')
	[ -z "$bad" ] && [ "$(answers "$1" | wc -l)" = "$2" ] || { echo "answers: $bad"; return 1; }
}
t_keep_snat() {
	local s0 s1
	s0=$(counter 1 snat_new) || return 1
	keep_snat keepsnat 20 || return 1
	s1=$(counter 1 snat_new) || return 1
	[ $((s1 - s0)) -ge 20 ] || { echo "n1 snat_new $s0 -> $s1"; return 1; }
	ctl 1 get services -o wide >"$T/wide" && grep -Eq '^ext/remote:tcp .* default ' "$T/wide" &&
		grep -Eq '^ext/keepsnat:tcp .* snat ' "$T/wide" || { cat "$T/wide"; return 1; }
}
check "10: xlb.io/lb-mode: snat under --lb-mode dsr: 20/20 source-NATed (n1's address and SNAT ports, snat_new); get services -o wide shows each service's mode" t_keep_snat

t_bad_mode() {
	sed 's/xlb.io\/lb-mode: snat/xlb.io\/lb-mode: direct/' "$T/keepsnat.yaml" >"$T/bad.yaml"
	if ctl 1 apply -f "$T/bad.yaml" >"$T/bad.out" 2>&1; then
		echo "accepted"; return 1
	fi
	grep -q 'xlb.io/lb-mode: "direct": want snat or dsr' "$T/bad.out" || { cat "$T/bad.out"; return 1; }
	ctl 1 get services -o wide >"$T/wide" && grep -Eq '^ext/keepsnat:tcp .* snat ' "$T/wide" ||
		{ echo "changed:"; cat "$T/wide"; return 1; }
	keep_snat badmode 5
}
check "10: xlb.io/lb-mode: direct refused, naming the annotation; keepsnat keeps lb-mode snat and is still source-NATed" t_bad_mode

# ---- 11 ----------------------------------------------------------------------
t_invalid_rules() {
	local n
	for n in 1 2 3; do
		nsn "n$n" iptables -w -S FORWARD | grep -q 'ctstate INVALID -j DROP' &&
			nsn "n$n" iptables -w -S INPUT | grep -q 'ctstate INVALID -j DROP' ||
			{ echo "n$n lost its INVALID rules"; return 1; }
	done
}
check "11: every node kept its ctstate INVALID -j DROP rules (INPUT, FORWARD) throughout" t_invalid_rules
# (after n3 left, the backends' resets to the moved connections' new SNAT
# ports are INVALID where they are forwarded)
diag "INVALID drops (FORWARD, INPUT) per node: $(for n in 1 2 3; do
	printf 'n%s %s ' "$n" "$(nsn "n$n" iptables -w -vnxL FORWARD | awk '/INVALID/ {printf "%s", $1}'),$(
		nsn "n$n" iptables -w -vnxL INPUT | awk '/INVALID/ {printf "%s", $1}')"; done)"
tap_finish
