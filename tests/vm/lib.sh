# Helpers for guest-side VM tests (sourced; /bin/sh is dash in the guest).
# Every line is stamped with the guest's uptime. A test script calls
# pass/fail per check and ends with `finish`, whose status is the number of
# failed checks (capped at 125).

XLB_SRC=${XLB_SRC:-/host}
XLB_BUILD=${XLB_BUILD:-$XLB_SRC/build}
_fails=0
_checks=0

now() { cut -d' ' -f1 /proc/uptime; }
log() { echo "[$(now)] $*"; }
pass() { _checks=$((_checks + 1)); log "PASS $*"; }
fail() { _checks=$((_checks + 1)); _fails=$((_fails + 1)); log "FAIL $*"; }

# check DESCRIPTION CMD...: run CMD, pass if it exits 0, else show its output
check() {
	_d=$1; shift
	if _out=$("$@" 2>&1); then pass "$_d"; else fail "$_d (rc=$?): $_out"; fi
}

finish() {
	log "$_checks checks, $_fails failed"
	[ $_fails -gt 125 ] && _fails=125
	exit $_fails
}
