#!/bin/sh
# Smoke test of the VM image (guest side, run by scripts/vmtest.sh smoke):
# iproute2 (netns, veth, dummy), IPVS over generic netlink with real NAT
# traffic, ipset, masquerade with an ipset match (iptables-nft and -legacy),
# bpffs, and xlb's XDP object attached in native mode on a veth.
# ipvsadm, ipset and iptables are used only here, to prove the kernel side;
# xlb itself talks netlink.
. "$(dirname "$0")/lib.sh"

VIP=10.96.0.10
log "kernel $(uname -r), $(nproc) cpu, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"

# the libraries offered to host-built programs load with their whole closure
# (mkimage.sh copies DT_NEEDED recursively; this checks it from the inside)
libs_ok() {
	for l in "$@"; do
		[ -f "$l" ] || { echo "$l: missing"; continue; }
		/lib64/ld-linux-x86-64.so.2 --list "$l" 2>&1 | grep 'not found' | sed "s|^|$l: |"
	done | grep . && return 1
	return 0
}
L=/usr/lib/x86_64-linux-gnu
check "libraries resolve: libbpf libelf libcmocka libnl-genl-3 libmnl libipset libcap libyaml libprotobuf-c libgrpc" \
	libs_ok $L/libbpf.so.1 $L/libcmocka.so.0 $L/libnl-genl-3.so.200 $L/libmnl.so.0 $L/libipset.so.13 \
	$L/libcap.so.2 $L/libyaml-0.so.2 $L/libprotobuf-c.so.1 $L/libgrpc.so.29
for p in xlbd xlbctl; do
	[ -x "$XLB_BUILD/$p" ] && check "$p: its libraries are all in the image" libs_ok "$XLB_BUILD/$p"
done

# iproute2, not busybox: /bin/sh is dash, so PATH finds /usr/sbin/ip
check "ip is iproute2 ($(ip -V 2>&1))" sh -c 'ip -V 2>&1 | grep -q iproute2'

# topology: client netns -- node (root ns) -- backend netns
check "ip netns add client, backend" sh -c 'ip netns add client && ip netns add backend'
check "veth pairs into the namespaces" sh -c '
	ip link add c-node type veth peer name eth0 netns client &&
	ip link add b-node type veth peer name eth0 netns backend &&
	ip addr add 10.0.0.1/24 dev c-node && ip link set c-node up &&
	ip addr add 10.1.0.1/24 dev b-node && ip link set b-node up &&
	ip -n client link set lo up && ip -n client addr add 10.0.0.2/24 dev eth0 &&
	ip -n client link set eth0 up && ip -n client route add default via 10.0.0.1 &&
	ip -n backend link set lo up && ip -n backend addr add 10.1.0.2/24 dev eth0 &&
	ip -n backend link set eth0 up && ip -n backend route add default via 10.1.0.1'
check "dummy xlb-ipvs0 holding $VIP/32" sh -c "
	ip link add xlb-ipvs0 type dummy && ip addr add $VIP/32 dev xlb-ipvs0 &&
	ip link set xlb-ipvs0 up && ip -br addr show xlb-ipvs0 | grep -q $VIP"
sysctl -qw net.ipv4.ip_forward=1 net.ipv4.vs.conntrack=1

# IPVS through generic netlink (ipvsadm uses libnl-genl)
check "ip_vs loaded ($(head -1 /proc/net/ip_vs 2>/dev/null))" test -e /proc/net/ip_vs
check "ipvsadm -A/-a: rr service $VIP:80 -> 10.1.0.2:8080 (masq)" sh -c "
	ipvsadm -A -t $VIP:80 -s rr && ipvsadm -a -t $VIP:80 -r 10.1.0.2:8080 -m -w 1"
check "ipvsadm -A: sh and wrr services, persistence 60 s" sh -c "
	ipvsadm -A -t $VIP:443 -s sh -p 60 && ipvsadm -A -u $VIP:53 -s wrr"
ipvsadm -Ln
check "ipvsadm -Ln lists the services and the real server" sh -c "
	ipvsadm -Ln | grep -q 'TCP  $VIP:80 rr' && ipvsadm -Ln | grep -q '10.1.0.2:8080 *Masq' &&
	ipvsadm -Ln | grep -q 'TCP  $VIP:443 sh persistent 60' && ipvsadm -Ln | grep -q 'UDP  $VIP:53 wrr'"
check "autoload of a lazy scheduler (wlc) through request_module" sh -c "
	ipvsadm -A -t $VIP:81 -s wlc && grep -q '^ip_vs_wlc ' /proc/modules && ipvsadm -D -t $VIP:81"
mkdir -p /tmp/www && echo hello-from-backend > /tmp/www/index.html
ip netns exec backend httpd -p 8080 -h /tmp/www
check "client netns -> VIP through IPVS NAT" sh -c "
	ip netns exec client timeout 5 wget -q -O - http://$VIP/ | grep -q hello-from-backend"
check "node -> VIP through IPVS NAT (local origin)" sh -c "
	timeout 5 wget -q -O - http://$VIP/ | grep -q hello-from-backend"
check "ipvsadm -Lnc shows the connections" sh -c "ipvsadm -Lnc | grep -q '10.1.0.2:8080'"

# ipset, and masquerade matched by it (kube-proxy's KUBE-LOOP-BACK shape)
check "ipset create hash:ip,port + add + test" sh -c "
	ipset create XLB-CLUSTER-IP hash:ip,port comment &&
	ipset add XLB-CLUSTER-IP $VIP,tcp:80 comment default/web &&
	ipset test XLB-CLUSTER-IP $VIP,tcp:80 2>/dev/null"
check "ipset create hash:ip,port,ip / hash:ip,port,net / bitmap:port" sh -c "
	ipset create XLB-LOOP-BACK hash:ip,port,ip && ipset create XLB-LB-SRC hash:ip,port,net &&
	ipset create XLB-NODE-PORT bitmap:port range 0-65535"
check "iptables-nft: MASQUERADE with -m set" sh -c "
	iptables-nft -t nat -A POSTROUTING -m set --match-set XLB-LOOP-BACK dst,dst,src -j MASQUERADE &&
	iptables-nft -t nat -S POSTROUTING | grep -q 'match-set XLB-LOOP-BACK dst,dst,src -j MASQUERADE'"
check "iptables-legacy: MASQUERADE with -m set, -m comment, -m addrtype" sh -c "
	iptables-legacy -t nat -A POSTROUTING -m comment --comment xlb -m set --match-set XLB-CLUSTER-IP dst,dst -j MASQUERADE &&
	iptables-legacy -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j RETURN &&
	iptables-legacy -t nat -S | grep -q 'match-set XLB-CLUSTER-IP dst,dst -j MASQUERADE'"
iptables-nft -t nat -F; iptables-legacy -t nat -F

# BPF: bpffs, then xlb's object on a veth in native (driver) mode
check "bpffs mounted on /sys/fs/bpf" grep -q '^bpf /sys/fs/bpf bpf ' /proc/mounts
check "BTF of the running kernel" test -s /sys/kernel/btf/vmlinux
# Control first: a minimal object with a pinned BTF map, through the same loader
PROBE=$XLB_BUILD/vm/obj/xdp_probe.bpf.o
if [ ! -f "$PROBE" ]; then
	not_ok "$PROBE missing (scripts/vmtest.sh builds it with clang)"
else
	check "iproute2 attaches a BTF-map, pin-by-name XDP object natively (control)" \
		ip link set dev c-node xdpdrv obj "$PROBE" sec xdp
	check "control: native mode (\"xdp\", not \"xdpgeneric\")" sh -c \
		"ip -d link show dev c-node | grep -q 'prog/xdp id' && ip link show dev c-node | grep -q ' xdp '"
	ip netns exec client ping -c 3 -i 0.2 -W 1 10.0.0.1 >/dev/null 2>&1
	# with BTF, bpftool -j prints [{"key":0,"value":N}]
	n=$(bpftool -j map dump name vm_probe_pkts 2>&1 | sed -n 's/.*"value":\([0-9]*\).*/\1/p')
	log "control: vm_probe_pkts = ${n:-?} after 3 pings; pinned at $(find /sys/fs/bpf -name vm_probe_pkts)"
	check "control: map pinned by name" sh -c 'find /sys/fs/bpf -name vm_probe_pkts | grep -q .'
	check "control: program counted the pings" test "${n:-0}" -ge 3
	ip link set dev c-node xdpdrv off
fi

OBJ=$XLB_BUILD/xlb.bpf.o
if [ ! -f "$OBJ" ]; then
	not_ok "$OBJ missing (make all on the host first)"
else
	log "ip link set dev b-node xdpdrv obj $OBJ sec xdp.frags"
	if out=$(ip link set dev b-node xdpdrv obj "$OBJ" sec xdp.frags 2>&1); then
		ok "iproute2 loads and attaches xlb.bpf.o (native XDP on veth)"
	else
		not_ok "iproute2 loads xlb.bpf.o" "$out"
		# bpftool as a second loader, unless the kernel's verifier already said no
		case $out in *"BPF program load failed"*) ;; *)
			log "retrying with bpftool"
			mkdir -p /sys/fs/bpf/smoke
			if out=$(bpftool prog load "$OBJ" /sys/fs/bpf/smoke/xdp type xdp.frags 2>&1) &&
				out=$(bpftool net attach xdpdrv pinned /sys/fs/bpf/smoke/xdp dev b-node 2>&1); then
				ok "bpftool loads and attaches xlb.bpf.o (native XDP on veth)"
			else
				not_ok "bpftool loads and attaches xlb.bpf.o (after iproute2 could not)" "$out"
			fi ;;
		esac
	fi
	ip -d link show dev b-node | grep -E 'xdp|prog/'
	check "b-node has a native XDP program (\"xdp\", not \"xdpgeneric\")" sh -c "
		ip -d link show dev b-node | grep -q 'prog/xdp id' && ip link show dev b-node | grep -q ' xdp '"
	bpftool map show | grep -E '^[0-9]+:' | sed 's/^/  map /'
	find /sys/fs/bpf -mindepth 1 | sed 's/^/  bpffs /'
	check "traffic still flows with the program attached" sh -c "
		ip netns exec client timeout 5 wget -q -O - http://$VIP/ | grep -q hello-from-backend"
	check "detach" ip link set dev b-node xdpdrv off
fi
tap_finish
