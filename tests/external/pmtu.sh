# shellcheck shell=bash
# Section 8 of tests/external/run.sh (sourced by it, with its helpers):
# XDP's own fragmentation needed with real traffic. n1 reaches n2's pods by
# a route of MTU 1400 (locked: what bpf_fib_lookup reports; the cable stays
# at 1,500). One TCP connection from ext through n1's node port to n2p1's
# HTTP port sends 64 KiB (a request of 64 header lines of 1 KiB) and gets
# 64 KiB back: with SNAT, XDP answers the client's 1,500-byte DF segments
# with fragmentation needed and 1400, and n2 never receives a frame over
# 1,400 bytes from n1; by DSR, 1380 (the outer header's 20 bytes less).
# The client's path MTU to n1 shows each; n2 counts the frames from n1 by
# length with its eth0's GRO off (GRO would merge them before netfilter).
# The route, n2's GRO and the client's path MTU are restored afterwards.
#
# The services (on n2p1's port 8081) carry traffic before the route
# changes, so their backend's next hop is in XDP's cache (be_nh, kept for
# 10 s) with the MTU of 1,500; the route's change reaches n1's xlbd over
# rtnetlink, which flushes that cache (xlbctl stats' nexthop_flushes,
# polled, and /metrics), so the next frames see 1400 at once. Then n2's
# eth0 gets another MAC (announced by a gratuitous ARP, arp_notify): once
# n1's neighbour entry has it, xlbd flushes again and the next request
# through n1's node port is answered, where the cached MAC (n2's old one,
# which n2 no longer accepts) would lose it until the cache's 10 s ran out.

PMTU_ROUTE=10.244.2.0/24 PMTU_POD=10.244.2.11

# pmtu_svc NAME CLUSTER_IP NODE_PORT [MODE]: a NodePort service of n2p1's
# HTTP port alone
pmtu_svc() {
	printf 'apiVersion: v1\nkind: List\nitems:\n'
	printf -- '- apiVersion: v1\n  kind: Service\n  metadata: {name: %s, namespace: ext%s}\n' \
		"$1" "${4:+, annotations: {xlb.io/lb-mode: $4\}}"
	printf '  spec:\n    type: NodePort\n    clusterIP: %s\n' "$2"
	printf '    ports: [{name: http, port: 81, protocol: TCP, targetPort: 8081, nodePort: %s}]\n' "$3"
	printf -- '- apiVersion: discovery.k8s.io/v1\n  kind: EndpointSlice\n'
	printf -- '  metadata: {name: %s-a, namespace: ext, labels: {kubernetes.io/service-name: %s}}\n' \
		"$1" "$1"
	printf -- '  addressType: IPv4\n  ports: [{name: http, port: 8081, protocol: TCP}]\n'
	printf -- '  endpoints:\n  - {addresses: [%s], conditions: {ready: true}, nodeName: n2}\n' "$PMTU_POD"
}

# both_ways NAME DST: one connection from ext to DST: 64 KiB up (the
# request's header lines), the 64 KiB of GET /bytes/65536 down, every byte
# checked; answered by n2p1
both_ways() {
	client ext http --dst "$2" -n 1 --bytes 65536 --upload 65536 --timeout 20 >"$T/$1.json" &&
		[ "$(errors "$1")" = 0 ] && grep -q '"n2p1": 1' "$T/$1.json" || { cat "$T/$1.json"; return 1; }
}

# path_mtu: ext's path MTU to n1 ("" when none was learnt)
path_mtu() {
	nsn ext ip route get $N1 | sed -n 's/.* mtu \([0-9]*\).*/\1/p'
}

# one_req NAME DST: one small HTTP request from ext to DST answered by n2p1
one_req() {
	client ext http --dst "$2" -n 1 --bytes 1024 --timeout 5 >"$T/$1.json" &&
		[ "$(errors "$1")" = 0 ] && grep -q '"n2p1": 1' "$T/$1.json" || { cat "$T/$1.json"; return 1; }
}

# flushes: n1's xlbd's count of next-hop cache flushes
flushes() {
	ctl 1 stats -o json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["nexthop_flushes"])'
}

# flushed_since F0: n1's xlbd has flushed since it counted F0 (polled, at
# most 10 s), and /metrics says as much
flushed_since() {
	local i f
	for ((i = 0; i < 100; i++)); do
		f=$(flushes) || return 1
		[ "$f" -gt "$1" ] && break
		sleep 0.1
	done
	[ "$f" -gt "$1" ] || { echo "n1's nexthop_flushes stayed at $f"; return 1; }
	nsn n1 curl -s -m 5 http://127.0.0.1:9100/metrics >"$T/metrics" &&
		awk -v f="$f" '$1 == "xlb_nexthop_flushes_total" { ok = $2 >= f } END { exit !ok }' \
			"$T/metrics" || { echo "/metrics: $(grep nexthop "$T/metrics")"; return 1; }
}

# n2's count of the frames from n1 to n2p1's port 8081 of LENGTH bytes
n2_got() {
	nsn n2 iptables -w -t mangle -vnxL PREROUTING | awk -v c="/* pmtu $1 */" 'index($0, c) { print $1 }'
}

# n2_rules -A|-D: n2's counters of the frames from n1 to n2p1's port
# 8081, over 1,400 bytes and of 1,300 to 1,400
n2_rules() {
	local l
	for l in 1401:65535 1300:1400; do
		nsn n2 iptables -w -t mangle "$1" PREROUTING -i eth0 -s $N1 -d $PMTU_POD -p tcp \
			--dport 8081 -m length --length $l -m comment --comment "pmtu $l" || return 1
	done
}

pmtu_route_set() {
	nsn n1 ip route replace $PMTU_ROUTE via $N2 dev eth0 "$@"
}

t_pmtu_setup() {
	local f0
	pmtu_svc pmtu 10.96.40.9 30091 >"$T/pmtu.yaml"
	pmtu_svc pmtudsr 10.96.40.10 30092 dsr >"$T/pmtudsr.yaml"
	nsn ext ip route flush cache
	[ -z "$(path_mtu)" ] || { echo "ext already has a path MTU to n1: $(path_mtu)"; return 1; }
	apply_all "$T/pmtu.yaml" && apply_all "$T/pmtudsr.yaml" || return 1
	# the next hop towards n2p1 cached, with the MTU of 1,500
	one_req pmtuwarm $N1:30091 && one_req pmtuwarmdsr $N1:30092 || return 1
	n2_rules -A || return 1
	nsn n2 ethtool -K eth0 gro off >/dev/null || return 1
	f0=$(flushes) || return 1
	pmtu_route_set mtu lock 1400 && flushed_since "$f0"
}
check "8: services of n2p1's port 8081 through n1's node ports 30091 (SNAT) and 30092 (DSR) answer (their next hop cached by XDP); n1's route to n2's pods gets MTU 1400 (locked): n1's xlbd flushes XDP's cached next hops (nexthop_flushes, xlb_nexthop_flushes_total)" t_pmtu_setup

t_pmtu_snat() {
	local i0 i1 big small
	i0=$(counter 1 icmp_frag_needed_sent) || return 1
	both_ways pmtu $N1:30091 || return 1
	i1=$(counter 1 icmp_frag_needed_sent) || return 1
	big=$(n2_got 1401:65535) && small=$(n2_got 1300:1400) || return 1
	[ "$i1" -gt "$i0" ] && [ "$big" = 0 ] && [ "$small" -ge 40 ] && [ "$(path_mtu)" = 1400 ] || {
		echo "n1 icmp_frag_needed_sent $i0 -> $i1; n2 got $big frames over 1400 bytes," \
			"$small of 1300-1400; ext's path MTU to n1: '$(path_mtu)'"
		return 1
	}
}
check "8: SNAT: one TCP connection from ext through n1:30091 sends 64 KiB and gets 64 KiB back; n1's XDP answers the 1,500-byte segments with fragmentation needed (icmp_frag_needed_sent), the client's path MTU to n1 is then 1400, and n2 gets no frame over 1,400 bytes from n1" t_pmtu_snat

t_pmtu_dsr() {
	local i0 i1 d0 d1
	i0=$(counter 1 icmp_frag_needed_sent) && d0=$(counter 1 fwd_dsr) || return 1
	both_ways pmtudsr $N1:30092 || return 1
	i1=$(counter 1 icmp_frag_needed_sent) && d1=$(counter 1 fwd_dsr) || return 1
	[ "$i1" -gt "$i0" ] && [ $((d1 - d0)) -ge 40 ] && [ "$(path_mtu)" = 1380 ] || {
		echo "n1 icmp_frag_needed_sent $i0 -> $i1, fwd_dsr $d0 -> $d1;" \
			"ext's path MTU to n1: '$(path_mtu)'"
		return 1
	}
}
check "8: DSR: the same through n1:30092, sent inside IPIP (fwd_dsr): the 1,400-byte segments are answered with fragmentation needed and 1380 (the outer header's 20 bytes less), the client's path MTU to n1 is then 1380; 64 KiB both ways" t_pmtu_dsr

t_pmtu_restore() {
	pmtu_route_set && n2_rules -D || return 1
	nsn n2 ethtool -K eth0 gro on >/dev/null || return 1
	nsn ext ip route flush cache
	[ -z "$(path_mtu)" ] && ! nsn n1 ip route show $PMTU_ROUTE | grep -q mtu ||
		{ echo "ext's path MTU to n1 '$(path_mtu)'; n1: $(nsn n1 ip route show $PMTU_ROUTE)"; return 1; }
}
check "8: n1's route to n2's pods, n2's GRO and the client's path MTU to n1 restored" t_pmtu_restore

# mac NODE: the MAC of NODE's eth0; n1_neigh_mac: n1's neighbour entry for n2
mac() { nsn "$1" ip -br link show eth0 | awk '{ print $3 }'; }
n1_neigh_mac() { nsn n1 ip neigh show $N2 dev eth0 | awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }'; }

# n2_mac_set MAC: n2's eth0 takes MAC, announced by a gratuitous ARP
# (arp_notify); n1's neighbour entry for n2 has it before this returns
# (polled, at most 10 s)
n2_mac_set() {
	local i
	nsn n2 sysctl -qw net.ipv4.conf.eth0.arp_notify=1 && nsn n2 ip link set eth0 address "$1" ||
		return 1
	for ((i = 0; i < 100; i++)); do
		[ "$(n1_neigh_mac)" = "$1" ] && return 0
		sleep 0.1
	done
	echo "n1's neighbour entry for n2: '$(n1_neigh_mac)', not $1"
	return 1
}

# frames n1's XDP sent on itself (out of eth0, where they came in)
xdp_sent() { echo $(($(counter 1 fwd_back) + $(counter 1 fwd_redirect))); }

N2_MAC=$(mac n2)
t_pmtu_neigh() {
	local f0 r0 r1
	[ -n "$N2_MAC" ] || return 1
	one_req neighwarm $N1:30091 && [ "$(n1_neigh_mac)" = "$N2_MAC" ] ||
		{ echo "n1's neighbour entry for n2: '$(n1_neigh_mac)', n2's MAC $N2_MAC"; return 1; }
	f0=$(flushes) || return 1
	n2_mac_set 02:00:5e:10:20:02 && flushed_since "$f0" || return 1
	r0=$(xdp_sent) || return 1
	one_req neigh $N1:30091 || return 1
	r1=$(xdp_sent) || return 1
	[ "$r1" -gt "$r0" ] || { echo "n1's XDP did not send it itself: fwd_back + fwd_redirect $r0 -> $r1"; return 1; }
}
check "8: n2's eth0 takes another MAC (a gratuitous ARP tells n1): n1's xlbd flushes XDP's cached next hops, and the next request through n1:30091 is answered by n2p1, sent by n1's XDP (fwd_back) to the new MAC" t_pmtu_neigh

t_pmtu_neigh_restore() {
	local f0
	f0=$(flushes) || return 1
	n2_mac_set "$N2_MAC" && nsn n2 sysctl -qw net.ipv4.conf.eth0.arp_notify=0 &&
		flushed_since "$f0" && one_req neighback $N1:30091
}
check "8: n2's eth0 takes its MAC back: flushed again, answered" t_pmtu_neigh_restore
