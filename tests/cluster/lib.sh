# shellcheck shell=bash
# Shared by the suites that run an xlbd on every node of the cluster lab
# (tests/cluster/lb.sh, tests/external/run.sh; sourced by bash): the lab's
# commands, clients on its machines, each node's xlbctl, the xlbds and the
# teardown. The caller sets ROOT, PY, XLBD and XLBCTL and exports
# LAB_PREFIX, LAB_NODES=3 and LAB_PODS.

. "$ROOT/tests/lib/suite.sh"
LAB=("$ROOT/scripts/lab.sh" cluster)
RUN=/run/$LAB_PREFIX

lab() { timeout 60 bash "${LAB[@]}" "$@"; }
# client TARGET SUBCOMMAND ARG...: tools/lab/client.py on TARGET (nN, nNpP,
# ext), its JSON on stdout
client() {
	local t=$1
	shift
	timeout 300 bash "${LAB[@]}" exec "$t" "$PY" "$ROOT/tools/lab/client.py" "$@"
}
ctl() { local n=$1; shift; timeout 30 "$XLBCTL" -s "unix:$RUN/xlbd-n$n.sock" "$@"; }

# spawn_xlbd [ARG...]: an xlbd on every node (XDP on eth0, tc on lxc*, the
# socket programs on the node's cgroup, its node name), each answering its
# API before this returns.
spawn_xlbd() {
	local n
	lab spawn xlbd -- "$XLBD" --iface eth0 --pod-iface 'lxc*' --cgroup-root @CGROUP@ \
		--pin-dir @PIN@ --state-dir @RUN@/state-@NODE@ --listen unix:@RUN@/xlbd-@NODE@.sock \
		--node-name @NODE@ "$@" || return 1
	for n in 1 2 3; do
		for _ in $(seq 100); do
			ctl "$n" status >/dev/null 2>&1 && break
			sleep 0.1
		done
		ctl "$n" status >/dev/null 2>&1 || { echo "n$n: $(tail -n 3 "$RUN/xlbd-n$n.log")"; return 1; }
	done
}

# cluster_xlbd_down: the xlbds stopped and what they pinned taken down
# (nothing of xlb left attached)
cluster_xlbd_down() {
	local n
	lab unspawn xlbd >/dev/null 2>&1
	for n in 1 2 3; do
		xlbd_unpin "$LAB_PREFIX-n$n" "/sys/fs/bpf/$LAB_PREFIX/n$n"
	done
}

# The xlbds, what they pinned, the lab.
cluster_cleanup() {
	cluster_xlbd_down
	lab down >/dev/null 2>&1 || echo "# cleanup: lab down failed" >&2
}
