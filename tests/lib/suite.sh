# shellcheck shell=bash
# The frame every shell suite that runs xlbd shares (sourced by bash): its
# traps and scratch directory, and how it stops its xlbds and takes their
# pins down. The caller sets XLBD (the binary) before xlbd_unpin runs.

# suite_traps ON_EXIT: ON_EXIT runs when the suite exits, on INT (exit
# status 130) and TERM (143) too.
suite_traps() {
	trap "$1" EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# suite_init NAME ON_EXIT: suite_traps ON_EXIT, and TMP a fresh
# /tmp/NAME.XXXXXX with OUT and ERR in it, for the checks' output (ON_EXIT
# removes it: suite_tmp_rm).
suite_init() {
	TMP=
	suite_traps "$2"
	TMP=$(mktemp -d "/tmp/$1.XXXXXX") || exit 1
	OUT=$TMP/out
	ERR=$TMP/err
}

suite_tmp_rm() {
	if [ -n "$TMP" ] && [ -d "$TMP" ]; then
		rm -rf "$TMP"
	fi
}

# xlbd_stop [-SIGNAL] PID...: the xlbds signalled (TERM by default), each
# given 5 s to exit, then killed. Returns the last one's exit status when it
# is a child of this shell (wait's), else 127.
xlbd_stop() {
	local sig=-TERM pid rc=0
	case ${1:-} in -*) sig=$1; shift ;; esac
	for pid; do
		kill "$sig" "$pid" 2>/dev/null
	done
	for pid; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		rc=$?
	done
	return "$rc"
}

# xlbd_unpin NETNS PIN: what an xlbd pinned under PIN in network namespace
# NETNS (links, programs, maps) taken down by `xlbd --cleanup` there, so
# that nothing stays attached, then PIN removed. Nothing to do when PIN is
# not there.
xlbd_unpin() {
	local ns=$1 pin=$2
	[ -d "$pin" ] || return 0
	if [ -x "$XLBD" ] && [ -e "/run/netns/$ns" ]; then
		timeout 20 nsenter --net="/run/netns/$ns" "$XLBD" --cleanup --dataplane xdp \
			--pin-dir "$pin" >/dev/null 2>&1 || echo "# cleanup: xlbd --cleanup in $ns failed" >&2
	fi
	rm -rf "$pin" || echo "# cleanup: rm $pin failed" >&2
}
