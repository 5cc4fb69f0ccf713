#!/bin/sh
# Run the datapath tests (BPF_PROG_TEST_RUN, cmocka) inside the VM, so that
# xlb.bpf.o is loaded and exercised by Debian 12's 6.1 verifier and helpers,
# not only by the host's kernel. The binaries are the host's
# $BUILD/tests/bpf/test_* (make bpftest builds them); they link libbpf,
# libcmocka, libelf and zlib dynamically, all of which the image carries.
#   bpftest.sh [TEST...]   a binary name in $BUILD/tests/bpf, or a path
#                          relative to the repository; default: every test_*
. "$(dirname "$0")/lib.sh"

DIR=$XLB_BUILD/tests/bpf
if [ $# -gt 0 ]; then
	bins=$*
else
	bins=$(cd "$DIR" 2>/dev/null && ls test_* 2>/dev/null)
fi
[ -n "$bins" ] || { not_ok "no test binaries in $DIR (run make bpftest's build step on the host)"; tap_finish; }

cd /tmp
for b in $bins; do
	case $b in */*) bin=$XLB_SRC/$b ;; *) bin=$DIR/$b ;; esac
	b=${b##*/}
	if [ ! -x "$bin" ]; then not_ok "$b: no such test binary $bin"; continue; fi
	missing=$(/lib64/ld-linux-x86-64.so.2 --list "$bin" 2>&1 | grep "not found")
	[ -z "$missing" ] || { not_ok "$b: libraries missing from the image: $missing"; continue; }
	log "== $bin"
	timeout 240 "$bin" > "/tmp/$b.out" 2>&1
	rc=$?
	cat "/tmp/$b.out"
	npass=$(grep -c '^\[       OK \]' "/tmp/$b.out")
	# cmocka: a failed case is FAILED, a failed setup ERROR; the summary repeats names
	bad=$(grep -E '^\[  (FAILED|ERROR) *\] ' "/tmp/$b.out" | grep -vE 'test\(s\)|listed below|\] ---' |
		sed -E 's/^\[  (FAILED|ERROR) *\] //' | awk '!seen[$0]++')
	nbad=$(printf '%s' "$bad" | grep -c .)
	if [ $rc = 0 ]; then
		ok "$b: $npass passed"
	else
		[ $rc = 124 ] || [ $rc = 143 ] && rc="$rc (timeout)"
		not_ok "$b: rc=$rc, $npass passed, $nbad failed" "$(printf '%s\n' "$bad" | sed '/^$/d; s/^/failed: /')"
	fi
done
tap_finish
