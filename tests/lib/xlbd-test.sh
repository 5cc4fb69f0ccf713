# Shared by the test scripts that run their own xlbd in throwaway network
# namespaces (tests/ctl, tests/metrics): result lines (tests/lib/tap.sh),
# the lab and cleanup. The sourcing script sets ROOT, LAB_PREFIX (the lab's
# names: NS=LAB_PREFIX-node, CNS=LAB_PREFIX-client), PIN, XLBD, TMP,
# daemon_pid and listener_pid, and installs the traps.

. "$ROOT/tests/lib/tap.sh"
NS=$LAB_PREFIX-node
CNS=$LAB_PREFIX-client

# The lab of scripts/lab.sh at its smallest: the node and one client,
# joined by a veth at kernel defaults (n-client 10.10.1.1 | eth0 10.10.1.2),
# the client routing everything through the node.
lab() {
	LAB_PREFIX=$LAB_PREFIX LAB_BACKENDS=0 LAB_CLIENT_ADDRS=0 LAB_EXT=0 LAB_TUNE=0 \
		LAB_SERVER=none LAB_PIN=$PIN XLB_DP=/nonexistent bash "$ROOT/scripts/lab.sh" "$@"
}

cleanup() {
	if [ -n "$daemon_pid" ]; then
		kill "$daemon_pid" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$daemon_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	if [ -n "$listener_pid" ]; then
		kill "$listener_pid" 2>/dev/null
		wait "$listener_pid" 2>/dev/null
	fi
	if [ -d "$PIN" ] && [ -x "$XLBD" ] && [ -e "/run/netns/$NS" ]; then
		timeout 20 nsenter --net="/run/netns/$NS" "$XLBD" --cleanup --dataplane xdp \
			--pin-dir "$PIN" >/dev/null 2>&1 || echo "# cleanup: xlbd --cleanup failed" >&2
	fi
	lab down >/dev/null 2>&1 || echo "# cleanup: lab down failed" >&2
	if [ -d "$PIN" ]; then
		rm -rf "$PIN" || echo "# cleanup: rm $PIN failed" >&2
	fi
	if [ -n "$TMP" ] && [ -d "$TMP" ]; then
		rm -rf "$TMP"
	fi
}

setup_net() {
	lab up >/dev/null &&
		# shop/api's first backend lives on the node, so its TCP health
		# check passes; the second has no route, so its check fails.
		ip -n "$NS" addr add 10.244.2.21/32 dev lo
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
