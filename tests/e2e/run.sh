#!/usr/bin/env bash
# End-to-end tests: real sockets across the namespace lab, judged by what
# the clients received. Called by `make e2e` as root after `make all`.
#
# Brings the lab up, attaches build/xlb-dp's XDP program to the node's
# interfaces (pins under /sys/fs/bpf/xlb-lab only), runs the cases in
# tests/e2e/cases.py and always tears everything down. Prints one
# `ok - NAME` / `not ok - NAME: reason` line per case and ends with
# `N passed, N failed`; exits non-zero if any case failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export XLB_LAB_PIN=/sys/fs/bpf/xlb-lab
export XLB_DP="$ROOT/build/xlb-dp"

if [ "$(id -u)" -ne 0 ]; then
	echo "not ok - e2e: must run as root"
	echo "0 passed, 1 failed"
	exit 1
fi
if [ ! -x "$XLB_DP" ]; then
	echo "not ok - e2e: $XLB_DP not built (make all)"
	echo "0 passed, 1 failed"
	exit 1
fi

cleanup() {
	if [ -e /run/netns/xlb-node ]; then
		timeout 20 nsenter --net=/run/netns/xlb-node "$XLB_DP" \
			--pin-dir "$XLB_LAB_PIN" unpin >/dev/null 2>&1 ||
			echo "# cleanup: xlb-dp unpin failed" >&2
	fi
	timeout 30 bash "$ROOT/scripts/lab.sh" down >/dev/null 2>&1 ||
		echo "# cleanup: lab down failed" >&2
	# Whatever unpin left behind lives under the lab's own pin dir only.
	if [ -d "$XLB_LAB_PIN" ]; then
		rm -rf "$XLB_LAB_PIN" || echo "# cleanup: rm $XLB_LAB_PIN failed" >&2
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! timeout 60 bash "$ROOT/scripts/lab.sh" up >/dev/null; then
	echo "not ok - lab up failed"
	echo "0 passed, 1 failed"
	exit 1
fi

# The whole run is bounded: cases.py enforces its own per-command timeouts,
# and this is the backstop.
# In the background so that a signal to this script runs the traps at
# once (bash defers traps while a foreground child runs).
timeout 240 /usr/bin/python3 "$ROOT/tests/e2e/cases.py" "$@" &
cases_pid=$!
trap 'kill "$cases_pid" 2>/dev/null; exit 130' INT
trap 'kill "$cases_pid" 2>/dev/null; exit 143' TERM
wait "$cases_pid"
rc=$?
if [ "$rc" -eq 124 ]; then
	echo "not ok - e2e: timed out"
	echo "0 passed, 1 failed"
fi
exit "$rc"
