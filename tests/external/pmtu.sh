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
# The services are this section's own, on n2p1's port 8081, which no
# earlier section used: their backend's next hop is looked up after the
# route changed, not taken from the cache (refreshed every 10 s).

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
	pmtu_svc pmtu 10.96.40.9 30091 >"$T/pmtu.yaml"
	pmtu_svc pmtudsr 10.96.40.10 30092 dsr >"$T/pmtudsr.yaml"
	n2_rules -A || return 1
	nsn n2 ethtool -K eth0 gro off >/dev/null || return 1
	nsn ext ip route flush cache
	[ -z "$(path_mtu)" ] || { echo "ext already has a path MTU to n1: $(path_mtu)"; return 1; }
	pmtu_route_set mtu lock 1400 || return 1
	apply_all "$T/pmtu.yaml" && apply_all "$T/pmtudsr.yaml"
}
check "8: n1 reaches n2's pods by a route of MTU 1400 (locked); services of n2p1's port 8081 through n1's node ports 30091 (SNAT) and 30092 (DSR)" t_pmtu_setup

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
