#!/usr/bin/env bash
# xlb demo: xlbd balancing real connections in the namespace lab.
#
#   scripts/demo.sh [--keep]     (make demo; DEMO_ARGS=--keep keeps the lab)
#
# Brings the lab up, starts xlbd in the node namespace (it attaches XDP to
# the node's interfaces as it finds them), applies Kubernetes Service and
# EndpointSlice YAML with xlbctl: a ClusterIP service (10.96.0.10:80, rr
# over be1..be3) and a NodePort service (10.96.0.11:80, nodePort 30080, wrr
# 1:2:3 by annotation), sends 300 connections to each and shows how they
# were spread. Pins under /sys/fs/bpf/xlb-lab, state and socket under
# /run/xlb-demo. Without --keep everything is torn down.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3
DP="${XLB_DP:-$ROOT/build/xlb-dp}"
XLBD="$ROOT/build/xlbd"
XLBCTL="$ROOT/build/xlbctl"
PIN=/sys/fs/bpf/xlb-lab
RUN=/run/xlb-demo
SOCK=unix:$RUN/xlbd.sock
KEEP=0

for a in "$@"; do
	case "$a" in
	--keep) KEEP=1 ;;
	-h|--help) sed -n '2,11p' "$0"; exit 0 ;;
	*) echo "demo: unknown argument $a" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "demo: must run as root" >&2; exit 1; }
for b in "$DP" "$XLBD" "$XLBCTL"; do
	[ -x "$b" ] || { echo "demo: $b not built (make all)" >&2; exit 1; }
done

dp() { timeout 20 nsenter --net=/run/netns/xlb-node "$DP" --pin-dir "$PIN" "$@"; }
ctl() { timeout 30 "$XLBCTL" --server "$SOCK" "$@"; }

teardown() {
	if [ -f "$RUN/xlbd.pid" ]; then
		kill "$(cat "$RUN/xlbd.pid")" 2>/dev/null || true
		sleep 0.5
	fi
	if [ -e /run/netns/xlb-node ]; then
		dp unpin >/dev/null 2>&1 || echo "demo: xlb-dp unpin failed" >&2
	fi
	rm -rf "$RUN"
	bash "$ROOT/scripts/lab.sh" down >/dev/null 2>&1 || true
	[ -d "$PIN" ] && rm -rf "$PIN"
	return 0
}
on_exit() {
	local rc=$?
	if [ "$KEEP" -eq 1 ] && [ "$rc" -eq 0 ]; then
		cat <<EOF

Lab left up (--keep). Try:
  ip netns exec xlb-client $PY tools/lab/client.py tcp --dst 10.96.0.10:80 -n 30
  ip netns exec xlb-ext    $PY tools/lab/client.py tcp --dst 10.10.2.1:30080 -n 30
  $XLBCTL --server $SOCK get services -o wide
  $XLBCTL --server $SOCK get endpoints demo/shop:http
  $XLBCTL --server $SOCK stats; $XLBCTL --server $SOCK conntrack list
xlbd's log: $RUN/xlbd.log
Tear down: kill \$(cat $RUN/xlbd.pid); nsenter --net=/run/netns/xlb-node $DP --pin-dir $PIN unpin; scripts/lab.sh down
EOF
	else
		teardown
	fi
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }

step "lab: node, client, external client, backends be1..be5"
bash "$ROOT/scripts/lab.sh" up

step "xlbd on the node: --iface 'n-*', NodePort on 10.10.2.1"
rm -rf "$RUN"
mkdir -p "$RUN"
nsenter --net=/run/netns/xlb-node "$XLBD" --iface 'n-*' --pin-dir "$PIN" \
	--state-dir "$RUN/state" --listen "$SOCK" --nodeport-addresses 10.10.2.1/32 \
	>"$RUN/xlbd.log" 2>&1 &
echo $! >"$RUN/xlbd.pid"
for _ in $(seq 100); do
	ctl status >/dev/null 2>&1 && break
	sleep 0.1
done
ctl status

step "xlbctl apply -f tests/e2e/fixtures/demo-services.yaml (Service + EndpointSlice)"
ctl apply -f "$ROOT/tests/e2e/fixtures/demo-services.yaml"
ctl get services -o wide

step "traffic: 300 new connections to each service"
cli_out=$(ip netns exec xlb-client "$PY" "$ROOT/tools/lab/client.py" tcp \
	--dst 10.96.0.10:80 -n 300)
ext_out=$(ip netns exec xlb-ext "$PY" "$ROOT/tools/lab/client.py" tcp \
	--dst 10.10.2.1:30080 -n 300)

"$PY" - "$cli_out" "$ext_out" <<'EOF'
import json, sys
rows = [
    ("ClusterIP 10.96.0.10:80 (rr) from xlb-client", json.loads(sys.argv[1]),
     {"be1": 1, "be2": 1, "be3": 1}),
    ("NodePort 10.10.2.1:30080 (wrr 1:2:3) from xlb-ext", json.loads(sys.argv[2]),
     {"be1": 1, "be2": 2, "be3": 3}),
]
for title, r, w in rows:
    total = sum(r["counts"].values())
    print("\n%s: %d answered, %d errors" % (title, total, r["errors"]))
    print("  %-8s %6s %8s %9s  %s" % ("backend", "conns", "share", "expected", ""))
    for name in sorted(set(w) | set(r["counts"])):
        n = r["counts"].get(name, 0)
        share = 100.0 * n / total if total else 0.0
        exp = 100.0 * w.get(name, 0) / sum(w.values())
        bar = "#" * int(round(share / 2))
        print("  %-8s %6d %7.1f%% %8.1f%%  %s" % (name, n, share, exp, bar))
EOF

step "xlbctl stats"
ctl stats
