#!/usr/bin/env bash
# xlbd's Prometheus metrics and `xlbctl top`, against a real xlbd (as root).
#
# xlbd runs in a throwaway network namespace with its XDP program on one
# end of a veth pair (the other end in a client namespace), a private
# --pin-dir under /sys/fs/bpf, a temp --state-dir, a unix socket in a temp
# directory and --metrics 127.0.0.1:9100 (the namespace's own loopback).
# Services come from tests/ctl/fixtures with `xlbctl apply`, plus one whose
# name needs escaping. Scrapes are judged by tests/metrics/check.py: the
# exposition format itself, the metric names, label escaping, histogram
# consistency, values that follow traffic and health checks, 404 for other
# paths; then `xlbctl top` on a pipe and on a terminal.
#
# Prints TAP (tests/lib/tap.sh): `ok N - NAME` / `not ok N - NAME` and the
# reason per check, ends with `N passed, N failed`; exits non-zero if any
# check failed. Everything it creates is removed on exit (trap).
#
#   XLBCTL=path XLBD=path tests/metrics/run.sh   (default: build/xlbctl, build/xlbd)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
XLBCTL=${XLBCTL:-$ROOT/build/xlbctl}
XLBD=${XLBD:-$ROOT/build/xlbd}
PY=/usr/bin/python3
FIX=$ROOT/tests/ctl/fixtures

LAB_PREFIX=xlbm$$
PIN=/sys/fs/bpf/xlb-metrics-test-$$
URL=http://127.0.0.1:9100

. "$ROOT/tests/lib/xlbd-test.sh"

give_up() {
	tap_bail "$1 (no metrics check run)"
}

xlbd_test_init xlb-metrics-test
M=$TMP/metrics

[ "$(id -u)" -eq 0 ] || give_up "must run as root"
[ -x "$XLBD" ] || give_up "$XLBD not built"
[ -x "$XLBCTL" ] || give_up "$XLBCTL not built"

# In the node's namespace, where xlbd listens on 127.0.0.1:9100.
mcheck() {
	nsenter --net="/run/netns/$NS" "$PY" "$ROOT/tests/metrics/check.py" "$@"
}

# scrape: the metrics into $M; fails unless 200 with the format's type.
scrape() {
	local st
	st=$(mcheck get "$URL/metrics" "$M") || { echo "$st"; return 1; }
	[ "$st" = "200 text/plain; version=0.0.4; charset=utf-8" ] ||
		{ echo "GET /metrics: $st"; return 1; }
}

# want_value NAME LABELS... -- EXPR: the series' value v satisfies the
# Python expression EXPR (e.g. "v > 0").
want_value() {
	local args=() v
	while [ "$1" != "--" ]; do
		args+=("$1")
		shift
	done
	shift
	v=$(mcheck value "$M" "${args[@]}") || { echo "$v"; return 1; }
	"$PY" -c "import sys; v = float(sys.argv[1]); sys.exit(0 if ($1) else 1)" "$v" ||
		{ echo "${args[*]} = $v, want $1"; return 1; }
}

setup_net || give_up "$why"

start_xlbd --metrics 127.0.0.1:9100 || give_up "$why"

# A service whose name needs escaping in a label value: " and \.
cat >"$TMP/escape.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: q
  namespace: esc
spec:
  clusterIP: 10.96.77.7
  ports:
  - name: 'we"ird\x'
    port: 80
    protocol: TCP
EOF
ESC_NAME='esc/q:we"ird\x'
ESC_LABEL='service="esc/q:we\"ird\\x"'

# --- the scrape before any service ---------------------------------------

t_empty() {
	scrape && mcheck valid "$M" || return 1
	want_value xlb_services -- "v == 0" && want_value xlb_endpoints -- "v == 0" || return 1
	grep -q '^xlb_service_packets_total{' "$M" && { echo "series of a service"; return 1; }
	grep -q "serving http://127.0.0.1:9100/metrics" "$TMP/xlbd.log" ||
		{ echo "xlbd did not log the address: $(tail -3 "$TMP/xlbd.log")"; return 1; }
}
check "no services: a valid scrape (200, text format 0.0.4), gauges 0, address logged" t_empty

t_apply() {
	ctl apply -f "$FIX/services.yaml" && ctl apply -f "$TMP/escape.yaml" || {
		echo "apply: exit $rc: $(cat "$ERR")"
		return 1
	}
}
check "xlbctl apply: the ctl fixtures and a service whose name needs escaping" t_apply

# --- format and names ------------------------------------------------------

t_format() {
	scrape && mcheck valid "$M"
}
check "the scrape is strictly valid text exposition format (HELP/TYPE once, families whole, no duplicate series, counters *_total)" t_format

t_names() {
	mcheck names "$M" xlb_build_info xlb_dataplane_info xlb_start_time_seconds \
		xlb_interface_attached xlb_desired_state_version xlb_services xlb_endpoints \
		xlb_state_lost_changes \
		xlb_datapath_received_packets_total xlb_datapath_packets_total \
		xlb_conntrack_packets_total xlb_datapath_replies_total \
		xlb_service_packets_total xlb_service_bytes_total xlb_service_new_flows_total \
		xlb_service_active_flows xlb_service_endpoints xlb_service_endpoints_ready \
		xlb_service_panic xlb_health_transitions_total \
		xlb_service_socket_connects_total xlb_service_socket_sends_total \
		xlb_service_socket_refused_total xlb_socket_lb_calls_total xlb_pod_packets_total \
		xlb_socket_lb_attached xlb_pod_interfaces \
		xlb_backend_packets_total xlb_backend_bytes_total xlb_backend_new_flows_total \
		xlb_endpoint_health_state xlb_endpoint_in_datapath \
		xlb_conntrack_entries xlb_conntrack_scan_truncated \
		xlb_reconcile_duration_seconds xlb_endpoint_change_latency_seconds
}
check "every metric family is there" t_names

t_daemon_gauges() {
	local v
	want_value xlb_build_info version=0.1.0 -- "v == 1" &&
		want_value xlb_dataplane_info dataplane=xdp -- "v == 1" &&
		want_value xlb_interface_attached interface=n-client -- "v == 1" &&
		want_value xlb_services -- "v == 6" && want_value xlb_endpoints -- "v == 12" &&
		want_value xlb_start_time_seconds -- "abs(v - $(date +%s)) < 600" || return 1
	ctl status -o json || { echo "status: $(cat "$ERR")"; return 1; }
	v=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$OUT")
	want_value xlb_desired_state_version -- "v == $v"
}
check "build info, dataplane, interface, services 6, endpoints 12, state version as xlbctl status says" t_daemon_gauges

t_per_service() {
	local s n
	for s in shop/web:http shop/web:https shop/api:grpc infra/dns:dns infra/dns:dns-tcp; do
		for n in xlb_service_packets_total xlb_service_bytes_total xlb_service_new_flows_total \
			xlb_service_active_flows xlb_service_panic xlb_health_transitions_total; do
			mcheck value "$M" "$n" "service=$s" >/dev/null || { echo "$n{service=$s} missing"; return 1; }
		done
	done
	want_value xlb_service_endpoints service=shop/web:http -- "v == 3" &&
		want_value xlb_service_endpoints_ready service=shop/web:http -- "v == 1" &&
		want_value xlb_endpoint_in_datapath service=shop/web:http backend=10.244.1.11:8080 -- "v == 1" &&
		want_value xlb_endpoint_in_datapath service=shop/web:http backend=10.244.3.13:8080 -- "v == 0" &&
		want_value xlb_backend_packets_total service=infra/dns:dns backend=10.244.1.53:53 -- "v == 0" &&
		want_value xlb_datapath_packets_total reason=drop_no_backend -- "v >= 0" &&
		want_value xlb_conntrack_packets_total result=new -- "v >= 0"
}
check "per service and per backend series (service, backend=\"addr:port\"); endpoints ready/total; counters by reason" t_per_service

t_escape() {
	grep -qF "xlb_service_packets_total{$ESC_LABEL} 0" "$M" ||
		{ echo "raw line not found: $(grep -F 'esc/q' "$M" | head -2)"; return 1; }
	want_value xlb_service_endpoints "service=$ESC_NAME" -- "v == 0"
}
check "label values escaped (\" and \\) and read back to the service's name" t_escape

t_hist() {
	local n
	n=$(mcheck hist "$M") || { echo "$n"; return 1; }
	[ "$n" = 2 ] || { echo "$n histograms, want 2"; return 1; }
	want_value xlb_reconcile_duration_seconds_bucket le=0.0001 -- "v >= 0" &&
		want_value xlb_reconcile_duration_seconds_bucket le=10 -- "v >= 0" &&
		want_value xlb_endpoint_change_latency_seconds_bucket le=+Inf -- "v >= 0"
}
check "histograms: buckets 0.0001..10 and +Inf, monotonic, _count = the +Inf bucket" t_hist

t_paths() {
	local p code
	for p in / /metricsx /metrics/ /debug /favicon.ico; do
		code=$(mcheck code "$URL$p") || { echo "$code"; return 1; }
		[ "$code" = 404 ] || { echo "GET $p: $code, want 404"; return 1; }
	done
	code=$(mcheck code "$URL/metrics" POST) || { echo "$code"; return 1; }
	[ "$code" = 405 ] || { echo "POST /metrics: $code, want 405"; return 1; }
	code=$(mcheck code "$URL/metrics?name=x") || { echo "$code"; return 1; }
	[ "$code" = 200 ] || { echo "GET /metrics?name=x: $code, want 200"; return 1; }
}
check "other paths 404, POST /metrics 405, a query string is ignored" t_paths

# --- values that follow the datapath and the health checks ---------------

t_traffic() {
	send_dns || { echo "client send failed"; return 1; }
	for _ in $(seq 20); do
		scrape && want_value xlb_service_packets_total service=infra/dns:dns -- "v >= 9" \
			>/dev/null && break
		sleep 0.25
	done
	want_value xlb_service_packets_total service=infra/dns:dns -- "v >= 9" &&
		want_value xlb_service_new_flows_total service=infra/dns:dns -- "v == 3" &&
		want_value xlb_service_active_flows service=infra/dns:dns -- "v == 3" &&
		want_value xlb_service_active_flows service=infra/dns:dns-tcp -- "v == 0" &&
		want_value xlb_conntrack_entries -- "v >= 3" &&
		want_value xlb_conntrack_scan_truncated -- "v == 0" &&
		want_value xlb_datapath_received_packets_total -- "v >= 9" &&
		want_value xlb_conntrack_packets_total result=new -- "v >= 3" || return 1
	# (one conntrack entry a flow: with no reply yet, none is established)
	# Every packet of the service went to one of its backends.
	local svc be
	svc=$(mcheck value "$M" xlb_service_packets_total service=infra/dns:dns) &&
		be=$(mcheck sum "$M" xlb_backend_packets_total service=infra/dns:dns) &&
		[ "$svc" = "$be" ] || { echo "service packets $svc, its backends' $be"; return 1; }
}
check "traffic: 9 UDP packets in 3 flows to infra/dns:dns: packets, new flows, 3 active flows, conntrack entries" t_traffic

t_health() {
	for _ in $(seq 40); do
		scrape && want_value xlb_endpoint_health_state service=shop/api:grpc \
			backend=10.244.3.22:9090 state=unhealthy -- "v == 1" >/dev/null && break
		sleep 0.25
	done
	mcheck health "$M" &&
		want_value xlb_endpoint_health_state service=shop/api:grpc backend=10.244.2.21:9090 \
			state=healthy -- "v == 1" &&
		want_value xlb_endpoint_health_state service=shop/api:grpc backend=10.244.3.22:9090 \
			state=unhealthy -- "v == 1" &&
		want_value xlb_endpoint_health_state service=shop/web:http backend=10.244.1.11:8080 \
			state=unchecked -- "v == 1" &&
		want_value xlb_health_transitions_total service=shop/api:grpc -- "v >= 2" &&
		want_value xlb_health_transitions_total service=shop/web:http -- "v == 0"
}
check "health: one state per endpoint (healthy, unhealthy, unchecked), transitions counted from events" t_health

t_delete() {
	ctl delete "$ESC_NAME" || { echo "delete: $(cat "$ERR")"; return 1; }
	scrape && mcheck valid "$M" || return 1
	grep -qF 'esc/q' "$M" && { echo "series of the deleted service remain"; return 1; }
	want_value xlb_services -- "v == 5"
}
check "a deleted service's series are gone" t_delete

# --- xlbctl top ------------------------------------------------------------

t_top_plain() {
	ctl top --iterations 2 --interval 0.5
	[ "$rc" = 0 ] || { echo "exit $rc: $(cat "$ERR")"; return 1; }
	mcheck top "$OUT" 2 5 || return 1
	grep -Eq '^shop/web:http +[-0-9.]+ +[-0-9.]+ +[-0-9.]+ +1/3 +unchecked$' "$OUT" ||
		{ echo "shop/web:http row: $(grep 'shop/web:http ' "$OUT")"; return 1; }
	grep -Eq '^shop/api:grpc .* 1/2 +healthy=1,unhealthy=1$' "$OUT" ||
		{ echo "shop/api:grpc row: $(grep 'shop/api:grpc' "$OUT")"; return 1; }
}
check "top --iterations 2 --interval 0.5 on a pipe: two plain tables, NAME PKT/S BYTES/S FLOWS/S ENDPOINTS HEALTH" t_top_plain

t_top_rates() {
	local sender v
	ip netns exec "$CNS" "$PY" -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end = time.monotonic() + 3
while time.monotonic() < end:
    for _ in range(10):
        s.sendto(b"q" * 100, ("10.96.0.53", 53))
    time.sleep(0.02)
' &
	sender=$!
	sleep 0.3
	ctl top infra/dns --iterations 2 --interval 0.5
	wait "$sender"
	[ "$rc" = 0 ] || { echo "exit $rc: $(cat "$ERR")"; return 1; }
	mcheck top "$OUT" 2 2 || return 1
	# The busiest service first.
	sed -n 2p "$OUT" | grep -q '^infra/dns:dns ' || { echo "first row: $(sed -n 2p "$OUT")"; return 1; }
	v=$(mcheck rate "$OUT" 2 infra/dns:dns PKT/S) || { echo "$v"; return 1; }
	"$PY" -c "import sys; sys.exit(0 if float(sys.argv[1]) > 50 else 1)" "$v" ||
		{ echo "PKT/S $v while ~400 packets/s were sent: $(cat "$OUT")"; return 1; }
	v=$(mcheck rate "$OUT" 2 infra/dns:dns BYTES/S) || { echo "$v"; return 1; }
	"$PY" -c "import sys; sys.exit(0 if float(sys.argv[1]) > 5000 else 1)" "$v" ||
		{ echo "BYTES/S $v: $(cat "$OUT")"; return 1; }
	v=$(mcheck rate "$OUT" 2 infra/dns:dns-tcp PKT/S) || { echo "$v"; return 1; }
	[ "$v" = 0.0 ] || { echo "dns-tcp PKT/S $v, want 0.0"; return 1; }
}
check "top SERVICE under traffic: rates from two answers, busiest first" t_top_rates

t_top_tty() {
	command -v script >/dev/null || { echo "script(1) not installed"; return 1; }
	timeout 30 script -qec "$XLBCTL --server unix:$SOCK top --iterations 2 --interval 0.2" \
		/dev/null >"$OUT" 2>"$ERR"
	rc=$?
	[ "$rc" = 0 ] || { echo "exit $rc: $(head -c 300 "$OUT" "$ERR")"; return 1; }
	[ "$(grep -c $'\033\\[H\033\\[2J' "$OUT")" = 2 ] ||
		{ echo "no screen clear per table: $(head -c 300 "$OUT" | od -c | head -5)"; return 1; }
	grep -q 'xlbctl top: 5 services, every 0.2s' "$OUT" || { echo "no title"; return 1; }
	grep -q 'NAME *PKT/S *BYTES/S *FLOWS/S *ENDPOINTS *HEALTH' "$OUT" || { echo "no header"; return 1; }
}
check "top on a terminal clears the screen (ANSI) before each table, with a title" t_top_tty

t_top_usage() {
	local args
	while IFS= read -r args; do
		# shellcheck disable=SC2086
		ctl top $args
		[ "$rc" = 2 ] && [ ! -s "$OUT" ] && grep -q '^xlbctl: top: ' "$ERR" ||
			{ echo "top $args: exit $rc: $(head -c 200 "$ERR")"; return 1; }
	done <<'EOF'
--interval 0
--interval 0.01
--interval soon
--iterations 0
--iterations -1
--interval
a b
EOF
	ctl top no/such:svc --iterations 1 --interval 0.1
	[ "$rc" = 1 ] && grep -q 'NOT_FOUND' "$ERR" || { echo "unknown service: exit $rc: $(cat "$ERR")"; return 1; }
}
check "top: bad --interval/--iterations exit 2, an unknown service exits 1 NOT_FOUND" t_top_usage

# Stopped from this shell: only the daemon's parent can wait for it.
xlbd_stop "$daemon_pid"
stop_rc=$?
daemon_pid=

t_stop() {
	[ "$stop_rc" = 0 ] || { echo "xlbd exit $stop_rc: $(tail -3 "$TMP/xlbd.log")"; return 1; }
	grep -q 'signal 15: exiting' "$TMP/xlbd.log" || { echo "log: $(tail -3 "$TMP/xlbd.log")"; return 1; }
	mcheck code "$URL/metrics" >/dev/null 2>&1 && { echo "still serving after exit"; return 1; }
	return 0
}
check "SIGTERM: xlbd stops the metrics server and exits 0" t_stop

tap_finish
