#!/usr/bin/env bash
# End-to-end tests: real sockets across the namespace lab, judged by what
# the clients received. Called by `make e2e` as root after `make all`.
#
# Brings the lab up, attaches build/xlb-dp's XDP program to the node's
# interfaces (pins under /sys/fs/bpf/xlb-lab only), runs the cases in
# tests/e2e/cases.py and always tears everything down. Prints TAP
# (tests/lib/tap.sh): the phases' cases numbered as one run, then
# `N passed, N failed`; exits non-zero if any case failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export XLB_LAB_PIN=/sys/fs/bpf/xlb-lab
export XLB_DP="$ROOT/build/xlb-dp"
. "$ROOT/tests/lib/tap.sh"
. "$ROOT/tests/lib/suite.sh"

[ "$(id -u)" -eq 0 ] || tap_bail "e2e: must run as root"
[ -x "$XLB_DP" ] || tap_bail "e2e: $XLB_DP not built (make all)"
FIFO=

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
	[ -z "$FIFO" ] || rm -rf "$(dirname "$FIFO")"
}
suite_traps cleanup

timeout 60 bash "$ROOT/scripts/lab.sh" up >/dev/null || tap_bail "lab up failed"

# The whole run is bounded: cases.py enforces its own per-command timeouts,
# and each phase's timeout is the backstop. Phase 1: the datapath driven by
# xlb-dp. Phase 2: xlbd, xlbctl and a gRPC client (needs build/xlbd).
FIFO=$(mktemp -d)/phase
mkfifo "$FIFO" || tap_bail "mkfifo failed"
run_phase() {
	# In the background so that a signal to this script runs the traps at
	# once (bash defers traps while a foreground child runs); its results
	# join this run's numbering.
	timeout "$1" /usr/bin/python3 "${@:2}" >"$FIFO" &
	phase_pid=$!
	trap 'kill "$phase_pid" 2>/dev/null; exit 130' INT
	trap 'kill "$phase_pid" 2>/dev/null; exit 143' TERM
	tap_relay <"$FIFO"
	wait "$phase_pid"
	[ $? -ne 124 ] || not_ok "e2e: $2 timed out"
}
run_phase 240 "$ROOT/tests/e2e/cases.py" "$@"
if [ -x "$ROOT/build/xlbd" ] && [ -x "$ROOT/build/xlbctl" ]; then
	run_phase 300 "$ROOT/tests/e2e/daemon.py" "$@"
	run_phase 200 "$ROOT/tests/e2e/health.py" "$@"
fi
[ "$TAP_PASSED" -gt 0 ] || not_ok "e2e: no case ran"
tap_finish
