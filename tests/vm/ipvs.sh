#!/bin/sh
# The IPVS dataplane against a real kernel (guest side; run on the host with
# `scripts/vmtest.sh ipvs`). Brings up the lab of scripts/lab.sh:
#
#   xlb-client (10.10.1.2, .100-.107) --- n-client 10.10.1.1 \
#   xlb-ext    (10.10.2.2)            --- n-ext    10.10.2.1  > xlb-node (xlbd)
#   xlb-beI    (10.20.I.2, I = 1..3)  --- n-beI    10.20.I.1 /
#
# runs build/xlbd --dataplane ipvs in xlb-node, drives it with build/xlbctl,
# and judges by real traffic (tests/vm/ipvs_lab: TCP 8080 and UDP 5353
# servers answering their name and the peer address). Needs build/xlbd,
# build/xlbctl and build/tests/vm/ipvs_lab, built on the host:
#   cc -O2 -Wall -o build/tests/vm/ipvs_lab tests/vm/ipvs_lab.c
# (no -march=native: the guest CPU has no AVX-512).
# ipvsadm, ipset and iptables are used only to look, and to play a foreign
# user of IPVS (keepalived) that xlb must leave alone.
# Prints TAP (tests/lib/tap.sh): "ok N - ..." / "not ok N - ..." and "N passed, N failed".
. "$(dirname "$0")/lib.sh"

B=$XLB_BUILD
LAB=$B/tests/vm/ipvs_lab
SOCK=/tmp/xlbd.sock
STATE=/tmp/xlb-state
LOG=/tmp/xlbd.log
XLBD_PID=

nsx() { _ns=$1; shift; ip netns exec "$_ns" "$@"; }
ctl() { "$B/xlbctl" -s "unix:$SOCK" --timeout 30s "$@"; }
node() { nsx xlb-node "$@"; }
cli() { nsx xlb-client "$LAB" "$@"; }
# count NAME <<< "be1 10\nbe2 3": how many answers NAME gave
count() { awk -v n="$1" '$1 == n { c = $2 } END { print c + 0 }'; }
between() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
has() { printf '%s\n' "$1" | grep -Eq -- "$2"; }
hasnt() { ! printf '%s\n' "$1" | grep -Eq -- "$2"; }
# spread TEXT LO HI NAME...: every NAME answered LO..HI times, none failed
spread() {
	_t=$1 _lo=$2 _hi=$3; shift 3
	hasnt "$_t" '^fail' || return 1
	for _b in "$@"; do between "$(printf '%s\n' "$_t" | count "$_b")" "$_lo" "$_hi" || return 1; done
}
# one TEXT N: a single backend answered all N
one() { [ "$(printf '%s\n' "$1" | wc -l)" = 1 ] && has "$1" "^be[123] $2\$"; }
ipvs_l() { node ipvsadm -Ln "$@"; }
n_vs() { ipvs_l | grep -cE '^(TCP|UDP)'; }

for f in "$B/xlbd" "$B/xlbctl" "$LAB"; do
	[ -x "$f" ] || { not_ok "$f is built (make all; ipvs_lab: see the top of tests/vm/ipvs.sh)"; tap_finish; }
done

# ---- the lab -----------------------------------------------------------------
lab_up() {
	# scripts/lab.sh's single-node lab, at kernel defaults, 3 backends, 8
	# more client addresses; the servers are this test's (no python3 here)
	LAB_BACKENDS=3 LAB_CLIENT_ADDRS=8 LAB_TUNE=0 LAB_SERVER=none \
		bash "$XLB_SRC/scripts/lab.sh" up || return 1
	for i in 1 2 3; do
		# not through a function: dash would leave a saved copy of the
		# caller's stdout (a command substitution's pipe) open in the server
		ip netns exec xlb-be$i "$LAB" serve be$i 8080 5353 </dev/null >/dev/null 2>&1 &
	done
	sleep 0.3
	# the node reaches every backend directly
	for i in 1 2 3; do
		[ "$(node "$LAB" get tcp 10.20.$i.2:8080 1)" = "be$i 1" ] || return 1
	done
}
check "lab: namespaces, veths, servers on be1..be3" lab_up

# A foreign user of IPVS (keepalived, an operator) with its own services.
foreign() {
	node ipvsadm -A -t 10.10.1.1:9999 -s rr &&
	node ipvsadm -a -t 10.10.1.1:9999 -r 10.20.1.2:8080 -m -w 5 &&
	node ipvsadm -A -t 10.96.0.99:80 -s wlc
}
check "foreign IPVS services added with ipvsadm (10.10.1.1:9999 rr, 10.96.0.99:80 wlc)" foreign
foreign_intact() {
	_l=$(node ipvsadm -Ln) &&
	echo "$_l" | grep -q '^TCP  10.10.1.1:9999 rr' &&
	echo "$_l" | grep -A1 '^TCP  10.10.1.1:9999' | grep -q '10.20.1.2:8080 *Masq *5 ' &&
	echo "$_l" | grep -q '^TCP  10.96.0.99:80 wlc' || { echo "$_l"; return 1; }
}

start_xlbd() {	# extra xlbd arguments
	echo "=== xlbd $*" >> $LOG
	ip netns exec xlb-node "$B/xlbd" --iface 'n-*' --listen "unix:$SOCK" --state-dir $STATE \
		--log-level debug "$@" </dev/null >> $LOG 2>&1 &
	XLBD_PID=$!
	for _ in $(seq 60); do
		ctl status >/dev/null 2>&1 && return 0
		kill -0 $XLBD_PID 2>/dev/null || break
		sleep 0.5
	done
	echo "xlbd did not come up:"; tail -20 $LOG | sed 's/^/#   /'
	return 1
}
# start DESC ARGS...: start_xlbd in this shell (check would run it in a subshell
# and lose XLBD_PID)
start() { _d=$1; shift; if start_xlbd "$@"; then ok "$_d"; else not_ok "$_d"; fi; }
stop_xlbd() {	# signal; fails when xlbd is still there 10 s later
	[ -n "$XLBD_PID" ] || { echo "no xlbd to stop"; return 1; }
	kill -"${1:-TERM}" $XLBD_PID 2>/dev/null
	for _ in $(seq 50); do kill -0 $XLBD_PID 2>/dev/null || break; sleep 0.2; done
	kill -0 $XLBD_PID 2>/dev/null && return 1
	XLBD_PID=
}
# stop DESC SIGNAL: stop_xlbd in this shell
stop() { if stop_xlbd "$2"; then ok "$1"; else not_ok "$1"; fi; }

# ---- services ----------------------------------------------------------------
# web_eps LINE...: the web service's endpoints, one "ADDR CONDITIONS" each
slice_eps() {
	for e in "$@"; do
		echo "  - addresses: [\"${e%% *}\"]"
		echo "    conditions: {${e#* }}"
	done
}
# slice SERVICE PORT-NAME PORT PROTO LINE...: its EndpointSlice document
slice() {
	cat <<EOF
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $1-1, namespace: lab, labels: {kubernetes.io/service-name: $1}}
addressType: IPv4
ports: [{name: $2, port: $3, protocol: $4}]
endpoints:
EOF
	shift 4
	slice_eps "$@"
}
write_yaml() {	# file, then web's endpoints
	_f=$1; shift
	{
	cat <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: lab, annotations: {xlb.io/lb-algorithm: rr}}
spec:
  clusterIP: 10.96.0.20
  ports: [{name: http, port: 80, protocol: TCP, targetPort: 8080}]
EOF
	slice web http 8080 TCP "$@"
	cat <<'EOF'
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: lab, annotations: {xlb.io/lb-algorithm: sh}}
spec:
  type: NodePort
  clusterIP: 10.96.0.21
  ports: [{name: http, port: 80, nodePort: 30081, protocol: TCP, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: weighted
  namespace: lab
  annotations: {xlb.io/lb-algorithm: wrr, xlb.io/backend-weights: "10.20.1.2=1,10.20.2.2=2,10.20.3.2=3"}
spec:
  clusterIP: 10.96.0.22
  ports: [{name: http, port: 80, protocol: TCP, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: sticky, namespace: lab}
spec:
  clusterIP: 10.96.0.23
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
  ports: [{name: http, port: 80, protocol: TCP, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: lab}
spec:
  clusterIP: 10.96.0.24
  ports: [{name: dns, port: 53, protocol: UDP, targetPort: 5353}]
EOF
	for s in shop weighted sticky; do
		slice $s http 8080 TCP "10.20.1.2 ready: true" "10.20.2.2 ready: true" "10.20.3.2 ready: true"
	done
	slice dns dns 5353 UDP "10.20.1.2 ready: true" "10.20.2.2 ready: true" "10.20.3.2 ready: true"
	} > "$_f"
}
READY3="10.20.1.2 ready: true|10.20.2.2 ready: true|10.20.3.2 ready: true"
ifs_yaml() { _f=$1; _e=$2; _o=$IFS; IFS='|'; set -- $_e; IFS=$_o; write_yaml "$_f" "$@"; }
ifs_yaml /tmp/svc.yaml "$READY3"

# ---- start -------------------------------------------------------------------
rm -rf $STATE $LOG
start "xlbd --dataplane ipvs starts and answers its API" --dataplane ipvs
st=$(ctl status 2>&1); echo "$st" | sed 's/^/#   /'
check "status: dataplane ipvs, forced by --dataplane ipvs" has "$st" 'forced by --dataplane ipvs'
sysctls_reported() {
	for k in conntrack=1 conn_reuse_mode=1 expire_nodest_conn=1 expire_quiescent_template=1 ip_forward=1; do
		has "$1" "$k" || return 1
	done
}
check "status: the sysctls IPVS needs are reported in force" sysctls_reported "$st"
sysctls_set() {
	for f in vs/conntrack vs/conn_reuse_mode vs/expire_nodest_conn vs/expire_quiescent_template ip_forward; do
		[ "$(node cat /proc/sys/net/ipv4/$f)" = 1 ] || { echo "$f: $(node cat /proc/sys/net/ipv4/$f)"; return 1; }
	done
}
check "sysctls in the node: vs.conntrack conn_reuse_mode expire_nodest_conn expire_quiescent_template ip_forward = 1" sysctls_set
check "dummy xlb-ipvs0 is up" has "$(ip -n xlb-node link show xlb-ipvs0 2>&1)" 'state UNKNOWN|,UP'
sets_exist() {
	_l=$(node ipset list -n)
	for s in XLB-CLUSTER-IP XLB-NODE-PORT-TCP XLB-NODE-PORT-UDP XLB-LOOP-BACK; do has "$_l" "^$s\$" || return 1; done
}
check "ipsets XLB-CLUSTER-IP, XLB-NODE-PORT-TCP/UDP, XLB-LOOP-BACK exist" sets_exist
rules_exist() {
	_r=$(node iptables-save -t nat)
	has "$_r" '^-A PREROUTING .*-j XLB-SERVICES' && has "$_r" '^-A POSTROUTING .*-j XLB-POSTROUTING' &&
	has "$_r" 'match-set XLB-LOOP-BACK dst,dst,src .*-j MASQUERADE' && has "$_r" 'match-set XLB-NODE-PORT-TCP dst' ||
		{ echo "$_r"; return 1; }
}
check "nat rules: jumps to XLB-SERVICES and XLB-POSTROUTING, masquerade matched by the ipsets" rules_exist
check "foreign services untouched by start" foreign_intact

check "xlbctl apply: web rr, shop NodePort sh, weighted wrr, sticky ClientIP, dns UDP" ctl apply -f /tmp/svc.yaml
sleep 0.5
ipvs_l | sed 's/^/#   /'
vips_bound() {
	_a=$(ip -n xlb-node -4 addr show xlb-ipvs0)
	for i in 20 21 22 23 24; do has "$_a" "10\.96\.0\.$i/32" || return 1; done
}
check "service addresses bound on xlb-ipvs0 as /32" vips_bound
claims() {
	_l=$(node ipset list XLB-CLUSTER-IP)
	has "$_l" '10\.96\.0\.20,tcp:80 comment "np=0 lab/web' && has "$_l" '10\.96\.0\.21,tcp:80 comment "np=30081 lab/shop' &&
	has "$_l" '10\.96\.0\.24,udp:53' || { echo "$_l"; return 1; }
}
check "ipset XLB-CLUSTER-IP: one member per service, commented with node port and name" claims
check "ipset XLB-NODE-PORT-TCP holds 30081" node ipset test XLB-NODE-PORT-TCP 30081
check "ipset XLB-LOOP-BACK holds backend,proto:port,backend" node ipset test XLB-LOOP-BACK 10.20.2.2,tcp:8080,10.20.2.2
ipvs_table() {
	_l=$(ipvs_l)
	has "$_l" '^TCP  10\.96\.0\.20:80 rr' && has "$_l" '^TCP  10\.96\.0\.21:80 sh' &&
	has "$_l" '^TCP  10\.96\.0\.22:80 wrr' && has "$_l" '^TCP  10\.96\.0\.23:80 rr persistent 60' &&
	has "$_l" '^UDP  10\.96\.0\.24:53 rr' &&
	has "$(ipvs_l -t 10.96.0.22:80)" '10\.20\.3\.2:8080 +Masq +3 ' &&
	has "$(ipvs_l -t 10.96.0.22:80)" '10\.20\.1\.2:8080 +Masq +1 '
}
check "IPVS: rr, sh, wrr with weights 1/2/3, persistent 60, UDP; destinations Masq" ipvs_table
nodeports() {
	_l=$(ipvs_l)
	for a in 10.10.1.1 10.10.2.1 10.20.1.1 10.20.2.1 10.20.3.1; do has "$_l" "^TCP  $a:30081 sh" || return 1; done
	hasnt "$_l" '^TCP  10\.96\.0\.[0-9]+:30081'
}
check "NodePort: one virtual service per node address, none on service addresses" nodeports

# ---- traffic -----------------------------------------------------------------
out=$(cli get tcp 10.96.0.20:80 30); echo "#   rr: $(echo $out)"
check "rr: 30 connections spread over be1..be3 (8-12 each)" spread "$out" 8 12 be1 be2 be3
out=$(cli get tcp 10.96.0.22:80 60); echo "#   wrr: $(echo $out)"
wrr_ok() { spread "$1" 7 13 be1 && spread "$1" 17 23 be2 && spread "$1" 27 33 be3; }
check "wrr 1:2:3: 60 connections -> 10/20/30 (+-3)" wrr_ok "$out"
sh_ok=1 seen=
for i in 100 101 102 103 104 105 106 107; do
	o=$(cli get tcp 10.96.0.21:80 4 10.10.1.$i)
	echo "#   sh from 10.10.1.$i: $(echo $o)"
	one "$o" 4 || sh_ok=0
	seen="$seen $(echo "$o" | awk '{ print $1 }')"
done
[ $sh_ok = 1 ] && ok "sh: each of 8 sources sticks to one backend (4 of 4)" || not_ok "sh: each of 8 sources sticks to one backend"
nb=$(echo $seen | tr ' ' '\n' | sort -u | wc -l)
between "$nb" 2 3 && ok "sh: the 8 sources land on $nb different backends" || not_ok "sh: sources spread over backends ($nb)"
o1=$(cli get tcp 10.96.0.23:80 10 10.10.1.100); o2=$(cli get tcp 10.96.0.23:80 10 10.10.1.101)
echo "#   sticky: $(echo $o1) / $(echo $o2)"
check "affinity: ClientIP keeps each of two sources on one backend (10 of 10)" sh -c '[ "$1" = 1 ] && [ "$2" = 1 ]' - \
	"$(one "$o1" 10 && echo 1)" "$(one "$o2" 10 && echo 1)"
out=$(nsx xlb-ext "$LAB" get tcp 10.10.2.1:30081 6); echo "#   ext -> 10.10.2.1:30081: $(echo $out)"
check "NodePort from the external namespace: 6 of 6 answered" one "$out" 6
w=$(nsx xlb-ext "$LAB" who tcp 10.10.2.1:30081); echo "#   backend saw: $w"
check "NodePort from outside is masqueraded (the backend sees the node's address)" has "$w" ' 10\.20\.[123]\.1$'
out=$(cli get tcp 10.10.1.1:30081 3); echo "#   client -> 10.10.1.1:30081: $(echo $out)"
check "NodePort on another node address: 3 of 3" one "$out" 3
w=$(cli who tcp 10.96.0.20:80); echo "#   backend saw: $w"
check "ClusterIP keeps the client's address (no masquerade)" has "$w" ' 10\.10\.1\.2$'
out=$(cli get udp 10.96.0.24:53 30); echo "#   udp: $(echo $out)"
check "UDP: 30 datagrams spread over be1..be3 (5-15 each), none lost" spread "$out" 5 15 be1 be2 be3
out=$(nsx xlb-be1 "$LAB" get tcp 10.96.0.20:80 6); echo "#   be1 -> web: $(echo $out)"
check "hairpin: a backend reaches its own service, itself included (6 of 6)" spread "$out" 1 6 be1
o=$(node "$LAB" get tcp 10.96.0.20:80 3); echo "#   node -> web: $(echo $o)"
check "the node itself reaches the service (3 of 3)" hasnt "$o" '^fail'
sleep 2	# IPVS's rate estimator runs every 2 s
ctl get services 2>&1 | sed 's/^/#   /'
stats=$(ctl stats lab/web:http -o json 2>&1); echo "$stats" | head -12 | sed 's/^/#   /'
check "xlbctl stats: web counted packets" has "$stats" '"packets": *"?[1-9]'
ct=$(ctl conntrack list 2>&1); echo "$ct" | head -4 | sed 's/^/#   /'
check "xlbctl conntrack list: IPVS connections of xlb's services" has "$ct" '10\.96\.0\.20:80'
check "xlbctl conntrack list: none of the foreign services'" hasnt "$ct" ':9999'
fl=$(ctl conntrack flush 2>&1); echo "#   $fl"
check "xlbctl conntrack flush: refused (IPVS cannot drop its connections)" has "$fl" '[Nn]ot supported'

# ---- drain: a terminating backend ---------------------------------------------
hold_start() {	# seconds; sets HB to the backend's number
	rm -f /tmp/hold.out
	ip netns exec xlb-client "$LAB" hold 10.96.0.20:80 "$1" </dev/null > /tmp/hold.out 2>&1 &
	HOLD_PID=$!
	for _ in $(seq 25); do grep -q '^conn ' /tmp/hold.out 2>/dev/null && break; sleep 0.2; done
	HB=$(awk '/^conn/ { print $2 }' /tmp/hold.out); HB=${HB#be}
	echo "#   long connection on be$HB"
	case $HB in 1|2|3) ;; *) not_ok "a long connection was opened: $(cat /tmp/hold.out)"; HB=1 ;; esac
}
hold_start 6; XI=$HB
EPS=
for i in 1 2 3; do
	if [ $i = "$XI" ]; then EPS="$EPS|10.20.$i.2 ready: false, serving: true, terminating: true"
	else EPS="$EPS|10.20.$i.2 ready: true"; fi
done
ifs_yaml /tmp/drain.yaml "${EPS#|}"
check "apply: be$XI terminating" ctl apply -f /tmp/drain.yaml
check "drain: be$XI kept in IPVS at weight 0" has "$(ipvs_l -t 10.96.0.20:80)" "10\.20\.$XI\.2:8080 +Masq +0 "
out=$(cli get tcp 10.96.0.20:80 12); echo "#   $(echo $out)"
check "drain: no new connection reaches be$XI (12 new ones)" sh -c '[ "$1" = 1 ]' - "$(spread "$out" 0 0 "be$XI" && echo 1)"
wait $HOLD_PID
echo "#   $(tr '\n' ' ' < /tmp/hold.out)"
check "drain: the established connection to be$XI lived on (6 s)" grep -q "^held be$XI" /tmp/hold.out
gone=0
for _ in $(seq 50); do
	has "$(ipvs_l -t 10.96.0.20:80)" "10\.20\.$XI\.2:8080" || { gone=1; break; }
	sleep 0.5
done
[ $gone = 1 ] && ok "drain: be$XI removed from IPVS once its connection was gone (periodic tick)" ||
	{ not_ok "drain: be$XI removed once its connection was gone"; node ipvsadm -Lnc | sed 's/^/#   /'; }
check "drain: xlbd logged it" grep -q "drained backend 10.20.$XI.2:8080 of TCP 10.96.0.20:80 removed" $LOG

# ---- removal of a backend -------------------------------------------------------
hold_start 5; ZI=$HB
KEEP=
for i in 1 2 3; do [ $i != "$XI" ] && [ $i != "$ZI" ] && KEEP=$i; done
echo "#   keeping be$KEEP only"
ifs_yaml /tmp/remove.yaml "10.20.$KEEP.2 ready: true"
check "apply: web down to be$KEEP (be$ZI removed while a connection uses it)" ctl apply -f /tmp/remove.yaml
only_keep() {
	_l=$(ipvs_l -t 10.96.0.20:80)
	[ "$(printf '%s\n' "$_l" | grep -c ':8080')" = 1 ] && has "$_l" "10\.20\.$KEEP\.2:8080" || { echo "$_l"; return 1; }
}
check "removal: IPVS holds be$KEEP only, at once" only_keep
out=$(cli get tcp 10.96.0.20:80 6); echo "#   $(echo $out)"
check "removal: every new connection goes to be$KEEP" has "$(echo $out)" "^be$KEEP 6\$"
wait $HOLD_PID
echo "#   $(tr '\n' ' ' < /tmp/hold.out)"
check "removal: the removed backend's connection is reset, not black-holed" sh -c '
	grep -q "^broken be$1" /tmp/hold.out && ! grep -q timeout /tmp/hold.out' - "$ZI"
check "removal: XLB-LOOP-BACK still holds be$KEEP" node ipset test XLB-LOOP-BACK 10.20.$KEEP.2,tcp:8080,10.20.$KEEP.2

# ---- a foreign service in the way ---------------------------------------------
cat > /tmp/intruder.yaml <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: intruder, namespace: lab}
spec:
  clusterIP: 10.96.0.99
  ports: [{name: http, port: 80, protocol: TCP, targetPort: 8080}]
YAML
o=$(ctl apply -f /tmp/intruder.yaml 2>&1); echo "#   $o"
check "a service on a foreign virtual service's address is refused, naming the conflict" has "$o" "not xlb's"
check "foreign services still intact" foreign_intact

# ---- restart: kill -9 and start again ---------------------------------------------
before=$(n_vs)
stop "kill -9 xlbd" KILL
check "kill -9: the kernel keeps every virtual service ($before)" test "$(n_vs)" = "$before"
out=$(cli get tcp 10.96.0.22:80 6); echo "#   $(echo $out)"
check "kill -9: traffic flows with xlbd down" spread "$out" 1 6 be1 be2 be3
start "xlbd starts again" --dataplane ipvs
last_run() { sed -n '/^=== xlbd/h; /^=== xlbd/!H; ${x;p}' $LOG; }
last_run | grep -E 'adopted|reconcile on start' | sed 's/^/#   /'
check "restart: adopted its 5 services" has "$(last_run)" 'ipvs: adopted 5 services'
check "restart: reconcile created nothing" has "$(last_run)" 'reconcile on start: 0 created'
check "restart: no duplicate or lost virtual services ($before)" test "$(n_vs)" = "$before"
out=$(cli get tcp 10.96.0.22:80 6); check "restart: traffic flows" spread "$out" 1 6 be1 be2 be3
out=$(nsx xlb-ext "$LAB" get tcp 10.10.2.1:30081 3); check "restart: NodePort flows" one "$out" 3
check "restart: xlbctl lists the 5 services" test "$(ctl get services 2>/dev/null | grep -c 'lab/')" = 5
check "restart: foreign services intact" foreign_intact

# ---- cleanup --------------------------------------------------------------------
stop "SIGTERM: xlbd exits" TERM
check "xlbd --cleanup --dataplane ipvs" node "$B/xlbd" --cleanup --dataplane ipvs
ipvs_l | sed 's/^/#   /'
check "cleanup: only the 2 foreign virtual services remain" test "$(n_vs)" = 2
check "cleanup: foreign services intact" foreign_intact
check "cleanup: xlb-ipvs0 gone" sh -c '! ip -n xlb-node link show xlb-ipvs0 2>/dev/null'
check "cleanup: xlb's ipsets gone" hasnt "$(node ipset list -n)" 'XLB-'
check "cleanup: xlb's nat rules gone" hasnt "$(node iptables-save -t nat)" 'XLB-'

# ---- --dataplane auto ------------------------------------------------------------
# A dummy interface has no native XDP: attaching there fails for real
# (EOPNOTSUPP), which is what auto must survive. No flag fakes it.
node ip link add xdpfail0 type dummy && node ip link set xdpfail0 up
start "auto: xlbd starts with --iface 'n-*,xdpfail0'" --dataplane auto --iface 'n-*,xdpfail0' --pin-dir /sys/fs/bpf/xlb-auto
st=$(ctl status 2>&1); echo "$st" | sed 's/^/#   /'
grep 'falling back' $LOG | tail -1 | sed 's/^/#   /'
check "auto: fell back to IPVS, saying why (xdpfail0)" has "$st" 'auto: XDP unusable.*xdpfail0'
check "auto: no XDP program left on any interface" hasnt "$(ip -n xlb-node link show)" 'prog/xdp| xdp(generic|offload)? '
out=$(cli get tcp 10.96.0.20:80 3); echo "#   $(echo $out)"
check "auto/IPVS: the state file's services serve traffic" has "$(echo $out)" "^be$KEEP 3\$"
stop "auto: xlbd exits on SIGTERM" TERM
check "auto: --cleanup removes both dataplanes' leftovers" node "$B/xlbd" --cleanup --dataplane auto --pin-dir /sys/fs/bpf/xlb-auto
check "auto cleanup: only the foreign services remain, xlb-ipvs0 gone" sh -c '
	[ "$1" = 2 ] && ! ip -n xlb-node link show xlb-ipvs0 2>/dev/null' - "$(n_vs)"
node ip link del xdpfail0
start "auto: xlbd starts where XDP attaches everywhere" --dataplane auto --pin-dir /sys/fs/bpf/xlb-auto
st=$(ctl status 2>&1)
check "auto: status says XDP available (auto)" has "$st" 'XDP available \(auto\)'
stop "auto/XDP: xlbd exits on SIGTERM" TERM
node "$B/xlbd" --cleanup --dataplane auto --pin-dir /sys/fs/bpf/xlb-auto >/dev/null 2>&1

if [ "$TAP_FAILED" -gt 0 ]; then
	echo "# xlbd log (last 40 lines):"; tail -40 $LOG | sed 's/^/#   /'
fi
tap_finish
