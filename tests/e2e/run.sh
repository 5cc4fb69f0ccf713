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
# Each phase prints its own `N passed, N failed`; they are summed into one
# closing line. Phase 1: the datapath driven by xlb-dp. Phase 2: xlbd,
# xlbctl and a gRPC client (needs build/xlbd).
OUT=$(mktemp)
run_phase() {
	# In the background so that a signal to this script runs the traps at
	# once (bash defers traps while a foreground child runs).
	timeout "$1" /usr/bin/python3 "${@:2}" > >(tee -a "$OUT" | grep -v '^[0-9]* passed, [0-9]* failed$') &
	phase_pid=$!
	trap 'kill "$phase_pid" 2>/dev/null; exit 130' INT
	trap 'kill "$phase_pid" 2>/dev/null; exit 143' TERM
	wait "$phase_pid"
	local rc=$?
	if [ "$rc" -eq 124 ]; then
		echo "not ok - e2e: $2 timed out"
		echo "0 passed, 1 failed" >>"$OUT"
	fi
}
run_phase 240 "$ROOT/tests/e2e/cases.py" "$@"
if [ -x "$ROOT/build/xlbd" ] && [ -x "$ROOT/build/xlbctl" ]; then
	run_phase 300 "$ROOT/tests/e2e/daemon.py" "$@"
	run_phase 200 "$ROOT/tests/e2e/health.py" "$@"
fi
sleep 0.2	# let tee drain
read -r passed failed < <(awk '/^[0-9]+ passed, [0-9]+ failed$/ { p += $1; f += $3 } END { print p+0, f+0 }' "$OUT")
rm -f "$OUT"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
