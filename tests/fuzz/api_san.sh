#!/usr/bin/env bash
# xlbd itself under ASan+UBSan (build/san/xlbd, every C file it runs
# sanitized): the API suite against it, then random and mutated gRPC
# requests (tests/fuzz/grpc_fuzz.py). A sanitizer report aborts xlbd,
# which both see.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
BUILD=${BUILD:-build}
PY=/usr/bin/python3
if [ ! -x "$BUILD/san/xlbd" ]; then
	not_ok "$BUILD/san/xlbd is built (make $BUILD/san/xlbd)"
	tap_finish
fi
$PY tests/api/test_api.py --xlbd "$BUILD/san/xlbd" --skip-big 2>&1 | tap_relay
$PY tests/fuzz/grpc_fuzz.py --xlbd "$BUILD/san/xlbd" --count "${FUZZ_GRPC:-3000}" 2>&1 | tap_relay
tap_finish
