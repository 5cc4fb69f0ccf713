# shellcheck shell=bash
# What the running kernel has, for suites whose expectations depend on it.

# kernel_at_least MAJOR MINOR: true when uname -r is MAJOR.MINOR or newer.
kernel_at_least() {
	local v maj min
	v=$(uname -r)
	maj=${v%%.*} && v=${v#*.} && min=${v%%[!0-9]*}
	[ "$maj" -gt "$1" ] || { [ "$maj" = "$1" ] && [ "$min" -ge "$2" ]; }
}
