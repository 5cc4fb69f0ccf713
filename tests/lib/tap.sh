# shellcheck shell=sh
# One result format for every shell suite (sourced; POSIX sh, since the VM
# guest runs it under dash). TAP: a line per check,
#
#     ok 3 - DESCRIPTION
#     not ok 4 - DESCRIPTION
#     #   why, one diagnostic line each (at most 20)
#
# then `tap_finish` closes with the plan and the sum that scripts/test.sh
# and CI read:
#
#     1..4
#     3 passed, 1 failed
#
# ok DESC; not_ok DESC [WHY]; check DESC CMD... (ok when CMD exits 0, else
# not ok with CMD's output as the reason; CMD runs in a subshell, so it
# cannot set the caller's variables); diag TEXT (a "# " line);
# tap_bail WHY (a failed "set-up" check, then tap_finish: for a suite
# that cannot go on); tap_relay (stdin: another suite's TAP, renumbered
# into this one's, its plan and closing line dropped). tap_finish exits
# with the number of failed checks (at most 125), so the exit status says
# what the closing line says; TAP_FAILED and TAP_PASSED hold the counts.

TAP_N=0
TAP_PASSED=0
TAP_FAILED=0

diag() {
	printf '%s\n' "$*" | sed 's/^/# /'
}

ok() {
	TAP_N=$((TAP_N + 1))
	TAP_PASSED=$((TAP_PASSED + 1))
	printf 'ok %d - %s\n' "$TAP_N" "$1"
}

not_ok() {
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	printf 'not ok %d - %s\n' "$TAP_N" "$1"
	[ -n "${2:-}" ] && printf '%s\n' "$2" | head -n 20 | cut -c 1-400 | sed 's/^/#   /'
	return 0
}

check() {
	_tap_d=$1
	shift
	if _tap_why=$("$@" 2>&1); then
		ok "$_tap_d"
	else
		not_ok "$_tap_d" "${_tap_why:-exit status $?}"
	fi
}

tap_relay() {
	while IFS= read -r _tap_l; do
		case $_tap_l in
		"ok "[0-9]*) _tap_r=${_tap_l#ok } ;;
		"not ok "[0-9]*) _tap_r=${_tap_l#not ok } ;;
		1..[0-9]*) continue ;;
		[0-9]*" passed, "[0-9]*" failed"*) continue ;;
		*) printf '%s\n' "$_tap_l"; continue ;;
		esac
		while :; do
			case $_tap_r in [0-9]*) _tap_r=${_tap_r#?} ;; *) break ;; esac
		done
		_tap_r=${_tap_r# }
		_tap_r=${_tap_r#- }
		case $_tap_l in
		ok*) ok "$_tap_r" ;;
		*) not_ok "$_tap_r" ;;
		esac
	done
}

tap_finish() {
	echo "1..$TAP_N"
	echo "$TAP_PASSED passed, $TAP_FAILED failed"
	[ "$TAP_FAILED" -gt 125 ] && exit 125
	exit "$TAP_FAILED"
}

tap_bail() {
	not_ok "set-up" "$1"
	tap_finish
}
