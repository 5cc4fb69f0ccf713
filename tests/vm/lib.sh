# Helpers for guest-side VM tests (sourced; /bin/sh is dash in the guest).
# Results are TAP through tests/lib/tap.sh (ok, not_ok, check, diag, and
# tap_finish, whose status is the number of failed checks, capped at 125);
# `log` is a diagnostic line stamped with the guest's uptime.

XLB_SRC=${XLB_SRC:-/host}
XLB_BUILD=${XLB_BUILD:-$XLB_SRC/build}
. "$XLB_SRC/tests/lib/tap.sh"

now() { cut -d' ' -f1 /proc/uptime; }
log() { diag "[$(now)] $*"; }
