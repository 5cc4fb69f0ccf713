#!/usr/bin/env bash
# The fuzz targets (tests/fuzz/fuzz_*.c, libFuzzer under ASan+UBSan), from
# their seeds: committed ones (tests/fuzz/corpus/TARGET) and, for the
# manifest target, the manifest reader's test fixtures.
#
#   tests/fuzz/run.sh short   make test's fuzz suite: each target for
#                             FUZZ_RUNS inputs (20000), fixed seed, TAP
#   tests/fuzz/run.sh long    make fuzz: each target for FUZZ_SECS (60)
#                             seconds; what it finds is kept in
#                             build/fuzz/corpus/TARGET, a crash's input in
#                             build/fuzz/crash-*
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
BUILD=${BUILD:-build}
mode=${1:-short}

seeds() {
	case $1 in
	yaml) echo tests/unit/fixtures/k8s ;;
	*) [ -d "tests/fuzz/corpus/$1" ] && echo "tests/fuzz/corpus/$1" ;;
	esac
}

fuzz_one() {
	local t=$1 bin=$BUILD/fuzz/fuzz_$1 corpus=$BUILD/fuzz/corpus/$1 log
	local -a args
	[ -x "$bin" ] || { echo "$bin not built (make $bin)"; return 1; }
	mkdir -p "$corpus"
	log=$BUILD/fuzz/$t.log
	if [ "$mode" = long ]; then
		args=(-max_total_time="${FUZZ_SECS:-60}" -print_final_stats=1)
	else
		args=(-runs="${FUZZ_RUNS:-20000}" -seed=1)
	fi
	# shellcheck disable=SC2046
	"$bin" "${args[@]}" -artifact_prefix="$BUILD/fuzz/crash-$t-" -max_len=65536 \
		"$corpus" $(seeds "$t") >"$log" 2>&1
	local rc=$?
	if [ $rc -ne 0 ]; then
		grep -m 20 -E 'ERROR|fuzz:|SUMMARY|artifact' "$log"
		return 1
	fi
	grep -Eo '(Done [0-9]+ runs in [0-9]+ second|stat::number_of_executed_units: [0-9]+)' "$log" |
		tail -1
}

for t in api semantic yaml journal; do
	check "fuzz $t: $( [ "$mode" = long ] && echo "${FUZZ_SECS:-60} s" ||
		echo "${FUZZ_RUNS:-20000} inputs"), no crash, no oracle failed" fuzz_one "$t"
done
tap_finish
