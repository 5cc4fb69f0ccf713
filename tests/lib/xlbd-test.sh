# Shared by the test scripts that run their own xlbd in throwaway network
# namespaces (tests/ctl, tests/metrics, tests/lb): result lines
# (tests/lib/tap.sh), the lab, the daemon, the xlbctl wrapper and cleanup.
# The sourcing script sets ROOT, LAB_PREFIX (the lab's names:
# NS=LAB_PREFIX-node, CNS=LAB_PREFIX-client), PIN, XLBD and XLBCTL, then
# calls xlbd_test_init. Functions that can fail for a reason the script
# reports leave it in $why.

. "$ROOT/tests/lib/tap.sh"
. "$ROOT/tests/lib/suite.sh"
NS=$LAB_PREFIX-node
CNS=$LAB_PREFIX-client

# xlbd_test_init NAME: the suite's frame (tests/lib/suite.sh: cleanup on
# exit, $TMP a fresh /tmp/NAME.XXXXXX with the files ctl writes, $OUT and
# $ERR) and the daemon's socket ($SOCK).
xlbd_test_init() {
	SOCK= daemon_pid= listener_pid=
	suite_init "$1" cleanup
	SOCK=$TMP/xlbd.sock
}

# The lab of scripts/lab.sh at its smallest: the node and one client,
# joined by a veth at kernel defaults (n-client 10.10.1.1 | eth0 10.10.1.2),
# the client routing everything through the node.
lab() {
	LAB_PREFIX=$LAB_PREFIX LAB_BACKENDS=0 LAB_CLIENT_ADDRS=0 LAB_EXT=0 LAB_TUNE=0 \
		LAB_SERVER=none LAB_PIN=$PIN XLB_DP=/nonexistent bash "$ROOT/scripts/lab.sh" "$@"
}

cleanup() {
	[ -n "$daemon_pid" ] && xlbd_stop "$daemon_pid"
	if [ -n "$listener_pid" ]; then
		kill "$listener_pid" 2>/dev/null
		wait "$listener_pid" 2>/dev/null
	fi
	xlbd_unpin "$NS" "$PIN"
	lab down >/dev/null 2>&1 || echo "# cleanup: lab down failed" >&2
	suite_tmp_rm
}

# The lab, bpffs and the healthy backend's listener.
setup_net() {
	# shop/api's first backend lives on the node, so its TCP health
	# check passes; the second has no route, so its check fails.
	lab up >/dev/null && ip -n "$NS" addr add 10.244.2.21/32 dev lo ||
		{ why="network namespaces could not be set up"; return 1; }
	if ! mountpoint -q /sys/fs/bpf; then
		mount -t bpf bpf /sys/fs/bpf || { why="cannot mount bpffs"; return 1; }
	fi
	start_listener
}

# Nine datagrams from the client to infra/dns:dns (10.96.0.53:53), three
# from each of three sockets (three flows).
send_dns() {
	ip netns exec "$CNS" "$PY" -c '
import socket
for _ in range(3):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(3):
        s.sendto(b"q", ("10.96.0.53", 53))
    s.close()
'
}

# ctl ARGS...: xlbctl against the test daemon; stdout in $OUT, stderr in
# $ERR, exit status in $rc (and returned).
ctl() {
	timeout 30 "$XLBCTL" --server "unix:$SOCK" "$@" >"$OUT" 2>"$ERR"
	rc=$?
	return "$rc"
}

# start_xlbd ARGS...: xlbd in the node's namespace, attached to the
# client's veth, with the test's pins, state ($TMP/state), unix socket and
# ARGS; returns once it answers.
start_xlbd() {
	mkdir -p "$TMP/state"
	nsenter --net="/run/netns/$NS" "$XLBD" --iface n-client --pin-dir "$PIN" \
		--state-dir "$TMP/state" --listen "unix:$SOCK" "$@" >"$TMP/xlbd.log" 2>&1 &
	daemon_pid=$!
	for _ in $(seq 100); do
		ctl status && return 0
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.2
	done
	why="xlbd did not answer: $(tail -n 5 "$TMP/xlbd.log" "$ERR")"
	return 1
}

# A TCP listener on the node at 10.244.2.21:9090 (a healthy backend).
start_listener() {
	nsenter --net="/run/netns/$NS" "$PY" -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.244.2.21", 9090))
s.listen(64)
while True:
    c, _ = s.accept()
    c.close()
' >/dev/null 2>&1 &
	listener_pid=$!
}
