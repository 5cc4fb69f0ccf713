# Shared by the test scripts that run their own xlbd in throwaway network
# namespaces (tests/ctl, tests/metrics): result lines and cleanup.
# The sourcing script sets NS, CNS, PIN, XLBD, TMP, daemon_pid,
# listener_pid, pass and failed, and installs the traps.

ok() {
	echo "ok - $1"
	pass=$((pass + 1))
}

not_ok() {
	echo "not ok - $1${2:+: $2}"
	failed=$((failed + 1))
}

# check NAME FUNCTION ARGS...: the function prints why when it fails.
check() {
	local name=$1 why
	shift
	if why=$("$@" 2>&1); then
		ok "$name"
	else
		not_ok "$name" "$(printf '%s' "$why" | head -c 600 | tr '\n' '|')"
	fi
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
