#!/bin/bash
# Run every test suite, one after the other, and end with one line that
# sums them: "total: N passed, N failed". Called by `make test` after the
# build. Each suite's own output is shown as it runs.
#
# Every suite prints TAP: `ok N - ...` / `not ok N - ...` per check (the
# shell suites through tests/lib/tap.sh, the python ones through
# tests/lib/tap.py, cmocka with CMOCKA_MESSAGE_OUTPUT=TAP), and this counts
# those lines. A suite that exits non-zero without a `not ok` line counts
# as one failure.
#
#   scripts/test.sh [SUITE...]    default: all, in this order
set -uo pipefail
export CMOCKA_MESSAGE_OUTPUT=TAP
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
PY=/usr/bin/python3

declare -A CMD=(
	[unit]="make --no-print-directory unit"
	[unit-san]="make --no-print-directory unit-san"
	[bpf]="make --no-print-directory bpftest"
	[api]="$PY tests/api/test_api.py --xlbd $BUILD/xlbd"
	[fuzz]="env BUILD=$BUILD bash tests/fuzz/run.sh short"
	[api-san]="env BUILD=$BUILD bash tests/fuzz/api_san.sh"
	[k8s]="$PY tests/k8s/test_feeder.py --build $BUILD"
	[deploy]="$PY tests/k8s/check_manifests.py"
	[image]="env BUILD=$BUILD bash tests/image/run.sh"
	[ctl]="bash tests/ctl/run.sh"
	[lb]="bash tests/lb/run.sh"
	[external]="bash tests/external/run.sh"
	[metrics]="bash tests/metrics/run.sh"
	[health]="bash tests/health/run.sh"
	[sock]="env BUILD=$BUILD bash tests/sock/run.sh"
	[e2e]="bash tests/e2e/run.sh"
	[k8s-lab]="$PY tests/k8s/lab.py --build $BUILD"
	[cluster]="bash tests/cluster/run.sh"
	[cluster-lb]="env BUILD=$BUILD bash tests/cluster/lb.sh"
	[k8s-cluster]="$PY tests/k8s/cluster.py --build $BUILD"
	[vm]="env BUILD=$BUILD bash scripts/vmtest.sh"
)
ORDER=(unit unit-san bpf api fuzz api-san k8s deploy image ctl lb external metrics health sock e2e k8s-lab cluster cluster-lb k8s-cluster vm)
[ $# -gt 0 ] && ORDER=("$@")

total_p=0 total_f=0 total_s=0
summary=()
for s in "${ORDER[@]}"; do
	if [ -z "${CMD[$s]:-}" ]; then
		echo "test.sh: unknown suite '$s' (${!CMD[*]})" >&2
		exit 2
	fi
	echo "=== $s: ${CMD[$s]}"
	log=$(mktemp)
	start=$SECONDS
	${CMD[$s]} 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	read -r p f < <(awk '
		/^ok [0-9]+( |$)/ { p++ }
		/^not ok [0-9]+( |$)/ { f++ }
		END { print p+0, f+0 }' "$log")
	rm -f "$log"
	if [ "$s" = vm ] && [ "$rc" -eq 77 ]; then
		summary+=("$s: skipped (qemu cannot run here)")
		total_s=$((total_s + 1))
		continue
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1	# failed without saying how many
	fi
	summary+=("$s: $p passed, $f failed ($((SECONDS - start)) s)")
	total_p=$((total_p + p))
	total_f=$((total_f + f))
done
echo "=== summary"
printf '%s\n' "${summary[@]}"
if [ "$total_s" -gt 0 ]; then
	echo "total: $total_p passed, $total_f failed, $total_s skipped"
else
	echo "total: $total_p passed, $total_f failed"
fi
[ "$total_f" -eq 0 ]
