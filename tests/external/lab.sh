# The two-node external-traffic lab of tools/bench/external_bench.sh and
# the dsr and frag suites (tests/external/dsr.sh, frag.sh; the external
# e2e, tests/external/run.sh, runs on the three-node cluster lab,
# scripts/lab/cluster.sh); the caller sets P, the prefix of every name:
#
#   ext  eth0 172.16.0.2 (+ 172.16.0.100)
#    |
#   rtr  ext0 172.16.0.1 | br0 192.168.50.1; 203.0.113.10 and 198.51.100.7
#    |                     routed to n1; no route to any pod
#   n1   eth0 192.168.50.11, 10.244.2.0/24 via n2
#        lxc1 | p1 eth0 10.244.1.2 (as p2's, at kernel defaults)
#   n2   eth0 192.168.50.12, 10.244.1.0/24 via n1
#        lxc1 | p2 eth0 10.244.2.2 (proxy ARP, default via 169.254.1.1)
#
# Both nodes forward, with rp_filter 2 and `ctstate INVALID -j DROP` in
# INPUT and FORWARD. Cables are tuned as NICs are (GRO on the bridge's
# ports, so XDP on n1's eth0 may redirect out of it; TX checksum offload
# off where frames reach XDP); the pod's veth keeps kernel defaults but
# its TX checksum offload (its replies cross n2 into n1's XDP).

LAB_NSES=("$P-ext" "$P-rtr" "$P-n1" "$P-n2" "$P-p1" "$P-p2")

x() { ip netns exec "$P-$1" "${@:2}"; }

# A veth $2 in $1 <-> $4 in $3, both up, at kernel defaults: the nodes'
# cables to the router are then tuned like NICs (TX checksum offload off,
# GRO on) in lab_up; pod veths stay as a CNI leaves them.
lab_cable() {
	ip link add "$P-c" type veth peer name "$P-d" &&
		ip link set "$P-c" netns "$1" name "$2" &&
		ip link set "$P-d" netns "$3" name "$4" &&
		ip -n "$1" link set "$2" up && ip -n "$3" link set "$4" up
}

lab_up() {
	local ns n
	for ns in "${LAB_NSES[@]}"; do
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up
	done
	lab_cable "$P-ext" eth0 "$P-rtr" ext0 &&
		ip -n "$P-ext" addr add 172.16.0.2/24 dev eth0 &&
		ip -n "$P-ext" addr add 172.16.0.100/24 dev eth0 &&
		ip -n "$P-ext" route add default via 172.16.0.1 &&
		ip -n "$P-rtr" addr add 172.16.0.1/24 dev ext0 &&
		ip -n "$P-rtr" link add br0 type bridge &&
		ip -n "$P-rtr" link set br0 up &&
		ip -n "$P-rtr" addr add 192.168.50.1/24 dev br0 &&
		x rtr sysctl -qw net.ipv4.ip_forward=1 || return 1
	for n in 1 2; do
		lab_cable "$P-n$n" eth0 "$P-rtr" "f$n" &&
			ip -n "$P-rtr" link set "f$n" master br0 &&
			ip -n "$P-n$n" addr add "192.168.50.1$n/24" dev eth0 &&
			ip -n "$P-n$n" route add default via 192.168.50.1 &&
			x "n$n" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=2 &&
			x "n$n" iptables -w -A INPUT -m conntrack --ctstate INVALID -j DROP &&
			x "n$n" iptables -w -A FORWARD -m conntrack --ctstate INVALID -j DROP &&
			x rtr ethtool -K "f$n" tx off gro on >/dev/null &&
			x "n$n" ethtool -K eth0 tx off gro on >/dev/null || return 1
	done
	ip -n "$P-n1" route add 10.244.2.0/24 via 192.168.50.12 &&
		ip -n "$P-n2" route add 10.244.1.0/24 via 192.168.50.11 &&
		ip -n "$P-rtr" route add 203.0.113.10/32 via 192.168.50.11 &&
		ip -n "$P-rtr" route add 198.51.100.7/32 via 192.168.50.11 &&
		lab_pod 2 && lab_pod 1 &&
		x ext ethtool -K eth0 tx off >/dev/null
}

# lab_pod N: pod pN (10.244.N.2) on node nN behind its lxc1, wired as a
# CNI does (proxy ARP, a /32 route, default via 169.254.1.1).
lab_pod() {
	lab_cable "$P-n$1" lxc1 "$P-p$1" eth0 &&
		x "n$1" sysctl -qw net.ipv4.conf.lxc1.proxy_arp=1 net.ipv4.neigh.lxc1.proxy_delay=0 &&
		ip -n "$P-n$1" route add "10.244.$1.2/32" dev lxc1 scope link &&
		ip -n "$P-p$1" addr add "10.244.$1.2/32" dev eth0 &&
		ip -n "$P-p$1" route add 169.254.1.1 dev eth0 scope link &&
		ip -n "$P-p$1" route add default via 169.254.1.1 dev eth0 onlink
}

# Everything still running in the lab's namespaces (the caller's own:
# servers, clients), by pid but `keep`, then the namespaces.
lab_down() {
	local keep=${1:-}
	for ns in "${LAB_NSES[@]}"; do
		[ -e "/run/netns/$ns" ] && ip netns pids "$ns" 2>/dev/null
	done | sort -u | while read -r p; do
		[ "$p" != "$keep" ] && kill -9 "$p" 2>/dev/null
	done
	for ns in "${LAB_NSES[@]}"; do
		[ -e "/run/netns/$ns" ] && ip netns del "$ns"
	done
	return 0
}

# lab_xlbd_down PID...: the suite's xlbds stopped (TERM, KILL after 5 s),
# then each node's pins (/sys/fs/bpf/$P-nN, where they exist) taken down by
# xlbd --cleanup in the node's netns, so nothing stays attached.
lab_xlbd_down() {
	local pid n pin
	for pid; do
		kill "$pid" 2>/dev/null
	done
	for pid; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for n in 1 2; do
		pin=/sys/fs/bpf/$P-n$n
		[ -d "$pin" ] || continue
		if [ -x "$XLBD" ] && [ -e "/run/netns/$P-n$n" ]; then
			timeout 20 nsenter --net="/run/netns/$P-n$n" "$XLBD" --cleanup --dataplane xdp \
				--pin-dir "$pin" >/dev/null 2>&1 || echo "# cleanup: xlbd --cleanup on n$n failed" >&2
		fi
		rm -rf "$pin"
	done
}

# lab_invalid_kept: both nodes still drop ctstate INVALID in INPUT and
# FORWARD (a check's body).
lab_invalid_kept() {
	local n
	for n in 1 2; do
		x "n$n" iptables -w -S FORWARD | grep -q 'ctstate INVALID -j DROP' &&
			x "n$n" iptables -w -S INPUT | grep -q 'ctstate INVALID -j DROP' ||
			{ echo "n$n lost its INVALID rules"; return 1; }
	done
}

# lab_suite NAME: a test suite's frame around this lab, after tap.sh: as
# root with the binaries built; TMP, OUT and ERR set; the lab up. On exit
# the suite's xlbds (daemons), the lab, its background processes (pids)
# and TMP go.
lab_suite() {
	daemons=() pids=() TMP=
	trap lab_suite_end EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	TMP=$(mktemp -d "/tmp/xlb-$1-test.XXXXXX") || exit 1
	OUT=$TMP/out ERR=$TMP/err
	[ "$(id -u)" -eq 0 ] || tap_bail "must run as root"
	[ -x "$XLBD" ] && [ -x "$XLBCTL" ] || tap_bail "$XLBD or $XLBCTL not built"
	lab_up || tap_bail "the lab could not be built"
}

lab_suite_end() {
	local pid
	lab_xlbd_down "${daemons[@]}"
	lab_down
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null
	done
	[ -n "$TMP" ] && [ -d "$TMP" ] && rm -rf "$TMP"
}
