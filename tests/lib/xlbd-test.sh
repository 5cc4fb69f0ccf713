# Shared by the test scripts that run their own xlbd in throwaway network
# namespaces (tests/ctl, tests/metrics): result lines (tests/lib/tap.sh)
# and cleanup. The sourcing script sets ROOT, NS, CNS, PIN, XLBD, TMP,
# daemon_pid and listener_pid, and installs the traps.

. "$ROOT/tests/lib/tap.sh"

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
	for ns in "$NS" "$CNS"; do
		if [ -e "/run/netns/$ns" ]; then
			ip netns del "$ns" || echo "# cleanup: ip netns del $ns failed" >&2
		fi
	done
	if [ -d "$PIN" ]; then
		rm -rf "$PIN" || echo "# cleanup: rm $PIN failed" >&2
	fi
	if [ -n "$TMP" ] && [ -d "$TMP" ]; then
		rm -rf "$TMP"
	fi
}

# The node (NS) and a client (CNS) joined by a veth, 10.99.0.0/24; the
# client routes the cluster IPs through the node.
setup_net() {
	ip netns add "$NS" && ip netns add "$CNS" &&
		ip -n "$NS" link add xn0 type veth peer name xc0 netns "$CNS" &&
		ip -n "$NS" link set lo up && ip -n "$CNS" link set lo up &&
		ip -n "$NS" addr add 10.99.0.1/24 dev xn0 && ip -n "$NS" link set xn0 up &&
		ip -n "$CNS" addr add 10.99.0.2/24 dev xc0 && ip -n "$CNS" link set xc0 up &&
		ip -n "$CNS" route add 10.96.0.0/12 via 10.99.0.1 &&
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
