#!/bin/sh
# Socket-level load balancing and the pod veth programs on Debian 12's 6.1
# (guest side; run on the host with `scripts/vmtest.sh sock`). The guest's
# own network namespace is the node, as on a real one: xlbd runs there
# without --cgroup-root, so the socket programs go to the root of the
# guest's cgroup2 hierarchy (/sys/fs/cgroup), and 6.1 has no tcx, so the
# pod veth programs are tc filters over netlink. Three pods wired as a CNI
# wires them (host ends lxc1..3 without address, proxy_arp, /32 routes,
# default via 169.254.1.1): p1 the client, p2 and p3 backends
# (tests/vm/ipvs_lab serve). Services: tests/sock/services.yaml.
# Prints TAP (tests/lib/tap.sh).
. "$(dirname "$0")/lib.sh"

B=$XLB_BUILD
LAB=$B/tests/vm/ipvs_lab
SOCK=/tmp/xlbd.sock
XLBD_PID=

nsx() { _ns=$1; shift; ip netns exec "$_ns" "$@"; }
ctl() { "$B/xlbctl" -s "unix:$SOCK" --timeout 30s "$@"; }
count() { awk -v n="$1" '$1 == n { c = $2 } END { print c + 0 }'; }
has() { printf '%s\n' "$1" | grep -Eq -- "$2"; }
hasnt() { ! printf '%s\n' "$1" | grep -Eq -- "$2"; }
# both TEXT: p2 and p3 each answered at least 3 times, nothing failed
both() { hasnt "$1" '^fail' && [ "$(printf '%s\n' "$1" | count p2)" -ge 3 ] &&
	[ "$(printf '%s\n' "$1" | count p3)" -ge 3 ]; }

for f in "$B/xlbd" "$B/xlbctl" "$LAB"; do
	[ -x "$f" ] || { not_ok "$f is built (make all; ipvs_lab: see tests/vm/ipvs.sh)"; tap_finish; }
done

lab_up() {
	# a default route (proxy_arp answers only for what the node routes)
	ip link add fab0 type veth peer name fab1 && ip link set fab0 up && ip link set fab1 up &&
		ip addr add 192.168.78.1/24 dev fab0 && ip route add default via 192.168.78.254 &&
		ip addr add 192.168.77.1/32 dev lo && sysctl -qw net.ipv4.ip_forward=1 || return 1
	for i in 1 2 3; do
		ip netns add p$i && nsx p$i ip link set lo up &&
			ip link add lxc$i type veth peer name eth0 netns p$i && ip link set lxc$i up &&
			sysctl -qw net.ipv4.conf.lxc$i.proxy_arp=1 &&
			ip route add 10.244.1.1$i/32 dev lxc$i &&
			nsx p$i ip addr add 10.244.1.1$i/32 dev eth0 && nsx p$i ip link set eth0 up &&
			nsx p$i ip route add 169.254.1.1 dev eth0 scope link &&
			nsx p$i ip route add default via 169.254.1.1 dev eth0 || return 1
	done
	iptables -A FORWARD -m conntrack --ctstate INVALID -j DROP || return 1
	for i in 2 3; do
		ip netns exec p$i "$LAB" serve p$i 8080 8080 </dev/null >/dev/null 2>&1 &
	done
	sleep 0.3
	[ "$(nsx p1 "$LAB" get tcp 10.244.1.13:8080 1)" = "p3 1" ]
}
check "lab: three pods on CNI-style veths, servers in p2 and p3" lab_up

start_xlbd() {
	"$B/xlbd" --dataplane xdp --pod-iface 'lxc*' --state-dir /tmp/xlb-state \
		--listen "unix:$SOCK" "$@" >>/tmp/xlbd.log 2>&1 &
	XLBD_PID=$!
	for _ in $(seq 100); do
		ctl status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	tail -5 /tmp/xlbd.log
	return 1
}

start_xlbd >/tmp/start.out 2>&1
START=$?
up() {
	[ "$START" = 0 ] || { cat /tmp/start.out; return 1; }
	ctl apply -f "$XLB_SRC/tests/sock/services.yaml" >/dev/null
}
check "xlbd starts in the node's netns and takes the services" up

t_status() {
	_s=$(ctl status)
	has "$_s" '^socket LB: +cgroup /sys/fs/cgroup$' &&
		has "$_s" '^pod veths: +tc \(netlink\): 3 interfaces$' || { echo "$_s"; return 1; }
}
check "6.1: socket LB at the cgroup2 root (xlbd in the node's netns), tc filters over netlink (no tcx)" t_status

t_sock() {
	_o=$(nsx p1 "$LAB" get tcp 10.96.10.1:80 20)
	both "$_o" || { echo "tcp: $_o"; return 1; }
	_o=$(nsx p1 "$LAB" get udp 10.96.10.2:53 20)
	both "$_o" || { echo "udp: $_o"; return 1; }
	_o=$("$LAB" get tcp 10.96.10.1:80 10)
	hasnt "$_o" '^fail' || { echo "node: $_o"; return 1; }
	_o=$(ctl stats -o json)
	has "$_o" '"connect_xlated": [1-9]' || { echo "$_o" | head -40; return 1; }
}
check "6.1, socket LB: a pod's TCP and UDP spread over both backends, the node reaches the service" t_sock

# Daemon restarts at the top level (check runs its command in a subshell,
# which would keep the new pid to itself), judged after.
kill -9 "$XLBD_PID"
wait "$XLBD_PID" 2>/dev/null
DOWN=$(nsx p1 "$LAB" get tcp 10.96.10.1:80 6)
start_xlbd >/dev/null
UP=$(nsx p1 "$LAB" get tcp 10.96.10.1:80 6)
t_restart() {
	hasnt "$DOWN" '^fail' || { echo "xlbd down: $DOWN"; return 1; }
	hasnt "$UP" '^fail' || { echo "xlbd back: $UP"; return 1; }
	has "$(ctl status)" '^socket LB: +cgroup /sys/fs/cgroup$'
}
check "6.1: kill -9: the pinned cgroup links keep balancing; a new xlbd adopts them" t_restart

kill "$XLBD_PID"
wait "$XLBD_PID" 2>/dev/null
start_xlbd --socket-lb off >/dev/null

t_tc() {
	has "$(ctl status)" '^socket LB: +off' || { ctl status; return 1; }
	_o=$(nsx p1 "$LAB" get tcp 10.96.10.1:80 20)
	both "$_o" || { echo "tcp: $_o"; return 1; }
	_o=$(nsx p1 "$LAB" get udp 10.96.10.2:53 20)
	both "$_o" || { echo "udp: $_o"; return 1; }
	_o=$(nsx p2 "$LAB" get tcp 10.96.10.7:80 3)
	[ "$_o" = "p2 3" ] || { echo "hairpin: $_o"; return 1; }
	_o=$(ctl stats -o json)
	has "$_o" '"fwd_local": [1-9]' && has "$_o" '"fwd_hairpin": [1-9]' || { echo "$_o" | tail -30; return 1; }
}
check "6.1, --socket-lb off: tc on the pod veths balances TCP and UDP, hairpin too, with INVALID drop" t_tc

kill "$XLBD_PID" 2>/dev/null
"$B/xlbd" --cleanup --dataplane xdp >/dev/null 2>&1
tap_finish
