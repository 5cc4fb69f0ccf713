#!/usr/bin/env bash
# A three-node cluster lab wired the way a CNI wires pods (Calico style),
# for the cluster datapath (socket LB, tc on pod veths) and its tests.
# Called as `scripts/lab.sh cluster ...`.
#
#   up                    tear down leftovers, build it, start the backends
#   down                  end everything, delete it (safe to repeat)
#   status                namespaces, addresses, routes, servers
#   exec TARGET CMD...    CMD in TARGET: nN (node N's own netns: a
#                         hostNetwork process), nNpP (pod P on node N), rtr,
#                         ext (the external client). Nodes' and pods'
#                         processes run in the node's cgroup.
#   ns TARGET             the network namespace's name
#   node-ip N | pod-ip N P | cgroup N      addresses, the node's cgroup
#   ecmp [N...]           the nodes the router's ECMP route to the
#                         LoadBalancer and external IPs leads to (default:
#                         all); the others leave it
#   spawn NAME -- CMD...  start CMD on every node (netns and cgroup of the
#                         node), e.g. xlbd; in the arguments @NODE@ (n1),
#                         @NODE_IP@, @CGROUP@, @PIN@ (/sys/fs/bpf/PREFIX/n1,
#                         created) and @RUN@ are replaced. Logs and pids in
#                         RUN/NAME-nN.{log,pid}
#   unspawn NAME          stop what spawn NAME started
#
# Parameters (environment): LAB_PREFIX (xlbc): every name starts with it;
# LAB_NODES (3), LAB_PODS per node (2); LAB_TUNE (1): the cables tuned like
# NICs, 0: at kernel defaults as well.
#
#              ext (eth0 172.16.0.2/24: external clients)
#                   |
#   rtr  ext0 172.16.0.1 / fab0 192.168.50.1     routes 10.244.N.0/24 via node N
#        203.0.113.0/24 (LoadBalancer IPs) and 198.51.100.0/24 (external
#        IPs): ECMP over every node, L4 hash (fib_multipath_hash_policy 1),
#        a resilient nexthop group (id 100; node N is nexthop N): a node
#        that leaves moves only its own flows, as a switch with resilient
#        hashing does
#                   |
#   fab  bridge br0: ports rtr, n1..nN           (an L2 switch)
#                   |
#   nN   eth0 192.168.50.(10+N), default via 192.168.50.1
#        10.244.M.0/24 via 192.168.50.(10+M) for every other node (host-gw)
#        blackhole 10.244.N.0/24; 10.244.N.(10+P)/32 dev lxcP per pod
#        lxcP: no address, proxy_arp, veth at kernel defaults
#        rp_filter 2; iptables FORWARD and INPUT: ctstate INVALID -j DROP
#                   |
#   nNpP eth0 10.244.N.(10+P)/32, default via 169.254.1.1 onlink
#
# Links that stand for cables (ext-rtr, rtr-fab, node-fab) are tuned like
# NICs (GRO on, TX checksum offload off); pod veths never are. Every pod
# runs tools/lab/server.py --name nNpP --peer (TCP and UDP 8080, HTTP
# 8081), every node one named nN in its own netns.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

P=${LAB_PREFIX:-xlbc}
NODES=${LAB_NODES:-3}
PODS=${LAB_PODS:-2}
RUN=/run/$P
PIN=/sys/fs/bpf/$P
RTR=$P-rtr
ECMP_GROUP=100
ECMP_BUCKETS=64
ECMP_PREFIXES="203.0.113.0/24 198.51.100.0/24"
EXT=$P-ext
FAB=$P-fab

case $P in *[!a-zA-Z0-9_-]* | "") die "LAB_PREFIX '$P': letters, digits, - and _ only" ;; esac
case "$NODES$PODS" in *[!0-9]*) die "LAB_NODES and LAB_PODS are numbers" ;; esac
[ "$NODES" -ge 1 ] && [ "$NODES" -le 9 ] || die "LAB_NODES: 1..9"
[ "$PODS" -ge 1 ] && [ "$PODS" -le 9 ] || die "LAB_PODS: 1..9"

node_ns() { echo "$P-n$1"; }
pod_ns() { echo "$P-n$1p$2"; }
node_ip() { echo "192.168.50.$((10 + $1))"; }
pod_ip() { echo "10.244.$1.$((10 + $2))"; }
cg_base() {
	local m
	m=$(cgroup2_mount)
	[ -n "$m" ] || die "no cgroup2 hierarchy mounted (/proc/self/mountinfo)"
	echo "$m/$P"
}
node_cg() { echo "$(cg_base)/n$1"; }

cluster_down() {
	local cg
	[ -d "$RUN" ] && stop_pidfiles "$RUN"/*.pid
	cg=$(cg_base)
	# Processes first (cgroups, then namespaces), then the namespaces.
	cg_del "$cg"
	# shellcheck disable=SC2046
	ns_del $(ns_list "$P")
	[ ! -d "$PIN" ] || rm -rf "$PIN" || log "rm $PIN failed"
	rm -rf "$RUN"
}

# A pod: veth lxcP (node) | eth0 (pod), both ends left at kernel defaults.
mk_pod() {
	local n=$1 p=$2 node pod ip
	node=$(node_ns "$n")
	pod=$(pod_ns "$n" "$p")
	ip=$(pod_ip "$n" "$p")
	ns_add "$pod"
	ip -n "$node" link add "lxc$p" type veth peer name eth0 netns "$pod"
	nsx "$node" sysctl -qw "net.ipv4.conf.lxc$p.proxy_arp=1" "net.ipv4.neigh.lxc$p.proxy_delay=0"
	ip -n "$node" link set "lxc$p" up
	ip -n "$node" route add "$ip/32" dev "lxc$p" scope link
	ip -n "$pod" addr add "$ip/32" dev eth0
	ip -n "$pod" link set eth0 up
	ip -n "$pod" route add 169.254.1.1 dev eth0 scope link
	ip -n "$pod" route add default via 169.254.1.1 dev eth0 onlink
}

mk_node() {
	local n=$1 m node
	node=$(node_ns "$n")
	ns_add "$node"
	# Debian's rp_filter (loose), before any interface exists.
	nsx "$node" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=2 \
		net.ipv4.conf.default.rp_filter=2
	cable "$node" eth0 "$FAB" "n$n"
	ip -n "$FAB" link set "n$n" master br0 up
	ip -n "$node" addr add "$(node_ip "$n")/24" dev eth0
	ip -n "$node" link set eth0 up
	ip -n "$node" route add default via 192.168.50.1
	ip -n "$node" route add blackhole "10.244.$n.0/24"
	for m in $(seq "$NODES"); do
		[ "$m" = "$n" ] || ip -n "$node" route add "10.244.$m.0/24" via "$(node_ip "$m")"
	done
	nsx "$node" iptables -w -A INPUT -m conntrack --ctstate INVALID -j DROP
	nsx "$node" iptables -w -A FORWARD -m conntrack --ctstate INVALID -j DROP
	mkdir "$(node_cg "$n")"
}

cluster_up() {
	local n p cg
	cluster_down
	command -v iptables >/dev/null || die "iptables not found"
	mount_bpffs
	cg=$(cg_base)
	mkdir -p "$RUN" "$cg" "$cg/outside"

	ns_add "$EXT" "$RTR" "$FAB"
	nsx "$RTR" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=2 \
		net.ipv4.conf.default.rp_filter=2
	ip -n "$FAB" link add br0 type bridge
	ip -n "$FAB" link set br0 up
	cable "$EXT" eth0 "$RTR" ext0
	ip -n "$EXT" addr add 172.16.0.2/24 dev eth0
	ip -n "$EXT" link set eth0 up
	ip -n "$EXT" route add default via 172.16.0.1
	ip -n "$RTR" addr add 172.16.0.1/24 dev ext0
	ip -n "$RTR" link set ext0 up
	cable "$RTR" fab0 "$FAB" rtr
	ip -n "$FAB" link set rtr master br0 up
	ip -n "$RTR" addr add 192.168.50.1/24 dev fab0
	ip -n "$RTR" link set fab0 up
	nsx "$RTR" sysctl -qw net.ipv4.fib_multipath_hash_policy=1

	for n in $(seq "$NODES"); do
		mk_node "$n"
		ip -n "$RTR" route add "10.244.$n.0/24" via "$(node_ip "$n")"
		ip -n "$RTR" nexthop add id "$n" via "$(node_ip "$n")" dev fab0
		for p in $(seq "$PODS"); do
			mk_pod "$n" "$p"
		done
	done
	ip -n "$RTR" nexthop add id "$ECMP_GROUP" group "$(seq -s / "$NODES")" \
		type resilient buckets "$ECMP_BUCKETS"
	for a in $ECMP_PREFIXES; do
		ip -n "$RTR" route add "$a" nhid "$ECMP_GROUP"
	done

	# The backends: one per pod, one per node (hostNetwork), in the
	# node's cgroup.
	for n in $(seq "$NODES"); do
		# shellcheck disable=SC2046
		spawn "$RUN/srv-n$n.pid" "$RUN/srv-n$n.log" "$(node_cg "$n")" "$(node_ns "$n")" \
			$(lab_server --name "n$n" --peer)
		for p in $(seq "$PODS"); do
			# shellcheck disable=SC2046
			spawn "$RUN/srv-n${n}p$p.pid" "$RUN/srv-n${n}p$p.log" "$(node_cg "$n")" \
				"$(pod_ns "$n" "$p")" $(lab_server --name "n${n}p$p" --peer)
		done
	done
	for n in $(seq "$NODES"); do
		wait_tcp "$(node_ns "$n")" "$(node_ip "$n"):8080" "n$n " ||
			die "server n$n does not answer (see $RUN/srv-n$n.log)"
		for p in $(seq "$PODS"); do
			wait_tcp "$(node_ns "$n")" "$(pod_ip "$n" "$p"):8080" "n${n}p$p " ||
				die "server n${n}p$p does not answer (see $RUN/srv-n${n}p$p.log)"
		done
	done
	log "cluster up: $NODES nodes x $PODS pods, prefix $P, cgroups under $cg, run dir $RUN"
}

# target NAME -> "NETNS CGROUP"
target() {
	case $1 in
	n[1-9]) [ "${1#n}" -le "$NODES" ] && echo "$(node_ns "${1#n}") $(node_cg "${1#n}")" && return ;;
	n[1-9]p[1-9])
		local n=${1:1:1} p=${1:3:1}
		[ "$n" -le "$NODES" ] && [ "$p" -le "$PODS" ] && echo "$(pod_ns "$n" "$p") $(node_cg "$n")" && return ;;
	rtr) echo "$RTR $(cg_base)/outside"; return ;;
	ext) echo "$EXT $(cg_base)/outside"; return ;;
	esac
	die "no target '$1' (nN, nNpP, rtr, ext)"
}

# ecmp [N...]: the ECMP group's members. A resilient group keeps every
# bucket of a node that stays: only the flows of a node that leaves move.
cluster_ecmp() {
	local n members=()
	[ $# -gt 0 ] || set -- $(seq "$NODES")
	for n; do
		case $n in *[!0-9]* | "") die "ecmp: node numbers 1..$NODES" ;; esac
		[ "$n" -ge 1 ] && [ "$n" -le "$NODES" ] || die "ecmp: node numbers 1..$NODES"
		members+=("$n")
	done
	has_ns "$RTR" || die "the cluster is not up"
	ip -n "$RTR" nexthop replace id "$ECMP_GROUP" group "$(IFS=/; echo "${members[*]}")" \
		type resilient buckets "$ECMP_BUCKETS" || die "ecmp: nexthop group update failed"
}

cluster_exec() {
	local t ns cg
	[ $# -ge 2 ] || die "usage: lab.sh cluster exec TARGET CMD..."
	t=$(target "$1")
	shift
	ns=${t% *}
	cg=${t#* }
	has_ns "$ns" || die "$ns does not exist (lab.sh cluster up)"
	in_cgroup "$cg" "$ns" "$@"
}

cluster_spawn() {
	local name=$1 n a args
	shift
	[ "${1:-}" = -- ] && shift
	[ $# -ge 1 ] || die "usage: lab.sh cluster spawn NAME -- CMD..."
	case $name in *[!a-zA-Z0-9_-]* | "") die "spawn NAME: letters, digits, - and _ only" ;; esac
	[ -d "$RUN" ] || die "the cluster is not up"
	for n in $(seq "$NODES"); do
		mkdir -p "$PIN/n$n"
		args=()
		for a in "$@"; do
			a=${a//@NODE_IP@/$(node_ip "$n")}
			a=${a//@NODE@/n$n}
			a=${a//@CGROUP@/$(node_cg "$n")}
			a=${a//@PIN@/$PIN/n$n}
			a=${a//@RUN@/$RUN}
			args+=("$a")
		done
		spawn "$RUN/$name-n$n.pid" "$RUN/$name-n$n.log" "$(node_cg "$n")" "$(node_ns "$n")" "${args[@]}"
	done
}

cluster_status() {
	local n ns
	[ -n "$(ns_list "$P")" ] || { echo "cluster $P is down"; return 0; }
	for ns in $(ns_list "$P"); do
		echo "== $ns"
		ip -n "$ns" -br addr | grep -v '^lo '
		ip -n "$ns" route | sed 's/^/   route /'
		[ "$ns" != "$RTR" ] || ip -n "$ns" nexthop show id "$ECMP_GROUP" | sed 's/^/   nexthop /'
	done
	echo "== processes"
	for n in $(seq "$NODES"); do
		echo "n$n cgroup $(node_cg "$n"): $(cg_pids "$(node_cg "$n")" | wc -l) processes"
	done
	ls "$RUN" 2>/dev/null | sed -n 's/\.pid$//p' | tr '\n' ' '
	echo
}

[ "$(id -u)" -eq 0 ] || die "must run as root"
cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
up) cluster_up ;;
ecmp) cluster_ecmp "$@" ;;
down) cluster_down; log "cluster $P down" ;;
status) cluster_status ;;
exec) cluster_exec "$@" ;;
ns) t=$(target "${1:-}"); echo "${t% *}" ;;
node-ip) [ "${1:-0}" -ge 1 ] && [ "$1" -le "$NODES" ] || die "node-ip N: 1..$NODES"; node_ip "$1" ;;
pod-ip)
	[ "${1:-0}" -ge 1 ] && [ "$1" -le "$NODES" ] && [ "${2:-0}" -ge 1 ] && [ "$2" -le "$PODS" ] ||
		die "pod-ip N P: 1..$NODES 1..$PODS"
	pod_ip "$1" "$2" ;;
cgroup) [ "${1:-0}" -ge 1 ] && [ "$1" -le "$NODES" ] || die "cgroup N: 1..$NODES"; node_cg "$1" ;;
spawn) cluster_spawn "$@" ;;
unspawn)
	[ -n "${1:-}" ] || die "usage: lab.sh cluster unspawn NAME"
	stop_pidfiles "$RUN/$1"-n*.pid ;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
