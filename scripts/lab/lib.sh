# shellcheck shell=bash
# Shared by the lab topologies (scripts/lab/*.sh, through scripts/lab.sh):
# namespaces, veth "cables", processes in a namespace and a cgroup, and
# teardown that ends only what the lab started. Sourced by bash.
#
# Every name a lab creates starts with its prefix ($LAB_PREFIX): network
# namespaces PREFIX-*, the cgroup CGROUP2/PREFIX, the run directory
# /run/PREFIX and the pin directory /sys/fs/bpf/PREFIX, so two labs with
# different prefixes never collide. All addresses live inside the lab's
# namespaces; of the host only bpffs and the cgroup2 hierarchy are touched.

LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${PY:-/usr/bin/python3}

log() { printf 'lab: %s\n' "$*" >&2; }
die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

# nsx NS CMD...: CMD in network namespace NS. nsenter, not `ip netns
# exec`: that one remounts /sys, which hides bpffs and the cgroup2 mount.
nsx() {
	local ns=$1
	shift
	if [ -n "$NSENTER" ]; then
		nsenter --net="/run/netns/$ns" "$@"
	else
		ip netns exec "$ns" "$@"
	fi
}
# Without nsenter (a minimal image), `ip netns exec`, and no cgroups.
NSENTER=$(command -v nsenter || true)

has_ns() { [ -e "/run/netns/$1" ]; }

# Running, and not a zombie (this machine's init may reap late).
alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# stop_pids PID...: TERM, up to a second to go, then KILL.
stop_pids() {
	local p left
	[ $# -gt 0 ] || return 0
	kill "$@" 2>/dev/null
	for _ in $(seq 20); do
		left=
		for p in "$@"; do alive "$p" && left=1; done
		[ -z "$left" ] && return 0
		sleep 0.05
	done
	kill -9 "$@" 2>/dev/null
	return 0
}

# The cgroup2 hierarchy's mount point, from /proc/self/mountinfo (on this
# host /sys/fs/cgroup/unified, on a pure v2 node /sys/fs/cgroup).
cgroup2_mount() {
	awk '{ for (i = 7; i <= NF; i++) if ($i == "-") break;
	       if ($(i + 1) == "cgroup2") { print $5; exit } }' /proc/self/mountinfo
}

# Every pid in cgroup $1 and below.
cg_pids() {
	[ -d "$1" ] || return 0
	find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null
}

# cg_del DIR: end what still runs in it, remove it and its children.
cg_del() {
	local d=$1
	[ -d "$d" ] || return 0
	# shellcheck disable=SC2046
	stop_pids $(cg_pids "$d")
	find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	[ ! -d "$d" ] || log "cgroup $d: cannot remove (still in use?)"
}

# ns_add NS...: new namespaces, loopback up.
ns_add() {
	local ns
	for ns in "$@"; do
		ip netns add "$ns" && ip -n "$ns" link set lo up || return 1
	done
}

# ns_del NS...: end whatever still runs inside (started for the lab: a
# server, a client left by an interrupted test), then delete.
ns_del() {
	local ns
	for ns in "$@"; do
		has_ns "$ns" || continue
		# shellcheck disable=SC2046
		stop_pids $(ip netns pids "$ns" 2>/dev/null)
		ip netns del "$ns" || log "delete netns $ns failed"
	done
}

# The namespaces whose name starts with PREFIX- (what a lab left).
ns_list() {
	ip netns list 2>/dev/null | awk -v p="$1-" 'index($1, p) == 1 { print $1 }'
}

# cable NS1 IF1 NS2 IF2: a veth pair standing for a cable between two
# machines, tuned like a NIC: GRO on (NAPI, so an XDP_REDIRECT into it is
# delivered) and TX checksum offload off (full checksums on the wire).
# LAB_TUNE=0 leaves it at the kernel's defaults. Links are left down.
cable() {
	ip -n "$1" link add "$2" type veth peer name "$4" netns "$3" || return 1
	[ "${LAB_TUNE:-1}" = 1 ] || return 0
	nsx "$1" ethtool -K "$2" tx off gro on >/dev/null &&
		nsx "$3" ethtool -K "$4" tx off gro on >/dev/null
}

# in_cgroup DIR NS CMD...: exec CMD in cgroup DIR (- for the caller's)
# and network namespace NS. The cgroup is joined first, so the process and
# its children are in it (a socket's cgroup is fixed when the socket is
# created).
in_cgroup() {
	local cg=$1 ns=$2
	shift 2
	if [ "$cg" != - ]; then
		echo "$BASHPID" >"$cg/cgroup.procs" || return 1
	fi
	if [ -n "$NSENTER" ]; then
		exec nsenter --net="/run/netns/$ns" "$@"
	fi
	exec ip netns exec "$ns" "$@"
}

# spawn PIDFILE LOG CGROUP NS CMD...: CMD in the background, in CGROUP
# (- for none) and NS. PIDFILE holds its pid (the command itself) and CMD's name, so
# that stop_pidfiles ends it only while the pid is still that program.
spawn() {
	local pidf=$1 logf=$2
	(shift 2; in_cgroup "$@") </dev/null >"$logf" 2>&1 &
	echo "$! $(basename "$5")" >"$pidf"
}

# stop_pidfiles FILE...: end the processes spawn recorded.
stop_pidfiles() {
	local f pid name pids=()
	for f in "$@"; do
		[ -e "$f" ] || continue
		pid= name=
		read -r pid name <"$f" 2>/dev/null || true
		if [ -n "$pid" ] && [ -n "$name" ] && alive "$pid" &&
			grep -qaF -- "$name" "/proc/$pid/cmdline" 2>/dev/null; then
			pids+=("$pid")
		fi
		rm -f "$f"
	done
	stop_pids "${pids[@]}"
}

# The lab backend (tools/lab/server.py): TCP and UDP on 8080, HTTP on
# 8081; with --peer every answer carries the client address it saw.
lab_server() {
	echo "$PY" "$LAB_ROOT/tools/lab/server.py" "$@"
}

# wait_tcp NS ADDR:PORT PREFIX: the server there answers a line starting
# with PREFIX (5 s at most).
wait_tcp() {
	for _ in $(seq 50); do
		nsx "$1" "$PY" "$LAB_ROOT/tools/lab/client.py" probe --dst "$2" --timeout 0.5 2>/dev/null |
			grep -q "\"name\": \"$3" && return 0
		sleep 0.1
	done
	return 1
}

mount_bpffs() {
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
}
