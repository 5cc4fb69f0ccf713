#!/usr/bin/env bash
# xlbctl against a real xlbd, judged by what xlbctl prints and returns.
#
# Offline part (no daemon): help, usage errors (exit 2), manifests the
# parser refuses, a daemon that is not there, a backup that is not one.
# Online part (as root): xlbd in a throwaway network namespace, its XDP
# program on one end of a veth pair whose other end sits in a client
# namespace; private --pin-dir under /sys/fs/bpf, temp --state-dir, a temp
# unix socket. Then every command: apply (a `kubectl get -o yaml` List,
# two documents), get services/endpoints (tables aligned, JSON and YAML that
# parse and agree), status, health, traffic for stats and conntrack,
# delete, backup/restore, and requests the daemon must refuse whole.
#
# Prints TAP (tests/lib/tap.sh): `ok N - NAME` / `not ok N - NAME` and the
# reason per check, ends with `N passed, N failed`; exits non-zero if any
# check failed. Everything it creates is removed on exit (trap).
#
#   XLBCTL=path XLBD=path tests/ctl/run.sh      (default: build/xlbctl, build/xlbd)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
XLBCTL=${XLBCTL:-$ROOT/build/xlbctl}
XLBD=${XLBD:-$ROOT/build/xlbd}
PY=/usr/bin/python3
CHECK=("$PY" "$ROOT/tests/ctl/check.py")
FIX=$ROOT/tests/ctl/fixtures

LAB_PREFIX=xlbctl$$
PIN=/sys/fs/bpf/xlbctl-test-$$

. "$ROOT/tests/lib/xlbd-test.sh"

xlbd_test_init xlbctl-test

# The assertions, for use inside check functions: each prints why and
# returns 1 when it does not hold.
want_rc() {
	[ "$rc" = "$1" ] && return 0
	echo "exit $rc, want $1; stderr: $(head -c 300 "$ERR")"
	return 1
}
want_err() {
	grep -Eq -- "$1" "$ERR" && return 0
	echo "stderr lacks /$1/: $(head -c 300 "$ERR")"
	return 1
}
want_out() {
	grep -Eq -- "$1" "$OUT" && return 0
	echo "stdout lacks /$1/: $(head -c 300 "$OUT")"
	return 1
}
want_lines() {
	local n
	n=$(wc -l <"$1")
	[ "$n" = "$2" ] && return 0
	echo "$1: $n lines, want $2: $(head -c 300 "$1")"
	return 1
}
# A usage error: exit 2, "xlbctl: ..." reason on the first line, then the
# usage line; nothing on stdout.
want_usage() {
	want_rc 2 || return 1
	[ -s "$OUT" ] && { echo "stdout not empty: $(head -c 200 "$OUT")"; return 1; }
	head -1 "$ERR" | grep -q '^xlbctl: ' || { echo "first line: $(head -1 "$ERR")"; return 1; }
	sed -n 2p "$ERR" | grep -q '^usage: xlbctl' || { echo "no usage line: $(cat "$ERR")"; return 1; }
	return 0
}

if [ ! -x "$XLBCTL" ]; then
	tap_bail "$XLBCTL not built (make build/xlbctl)"
fi

# --- offline: no daemon needed ----------------------------------------------

t_help() {
	timeout 10 "$XLBCTL" --help >"$OUT" 2>"$ERR"
	rc=$?
	want_rc 0 || return 1
	for c in apply delete "get services" "get endpoints" status stats "conntrack list" \
		"conntrack flush" backup restore; do
		grep -q "^  $c" "$OUT" || { echo "--help does not list $c"; return 1; }
	done
	want_out 'XLB_SERVER' && want_out '--tls-ca' && want_out 'Exit status'
}
check "xlbctl --help lists every command, the global options and exit codes" t_help

# xlbd's own flags: a bad value is refused before anything is touched.
t_xlbd_flags() {
	local args
	[ -x "$XLBD" ] || { echo "$XLBD not built"; return 1; }
	for args in "--tcp-probe bogus|--tcp-probe: expected auto, half-open or connect" \
		"--panic-threshold 150|--panic-threshold: expected a percentage" \
		"--exec-probe-user 0|--exec-probe-user: expected UID\\[:GID\\], not 0" \
		"--exec-probe-user 1000:0|--exec-probe-user: expected UID\\[:GID\\], not 0" \
		"--exec-probe-cgroup rel/path|--exec-probe-cgroup: expected a cgroup path from the root" \
		"--exec-probe-network host|--exec-probe-network: expected isolated or node" \
		"--ct-entries 12|--ct-entries: expected a count from 1024" \
		"--ct-syn-entries lots|--ct-syn-entries: expected a count" \
		"--max-backends -5|--max-backends: expected a count" \
		"--socket-lb maybe|--socket-lb: expected on or off" \
		"--lb-mode direct|--lb-mode: expected snat or dsr" \
		"--cgroup-root sys/fs/cgroup|--cgroup-root: expected an absolute path"; do
		# shellcheck disable=SC2086
		timeout 10 "$XLBD" ${args%%|*} --state-dir "$TMP/never" >"$OUT" 2>"$ERR"
		rc=$?
		want_rc 2 && want_err "${args#*|}" || return 1
		[ ! -e "$TMP/never" ] || { echo "${args%%|*}: state dir created"; return 1; }
	done
	timeout 10 "$XLBD" --help >"$OUT" 2>&1
	want_out '--tcp-probe auto\|half-open\|connect' && want_out '--allow-exec-probes' &&
		want_out '--ct-syn-entries N'
}
check "xlbd refuses a bad --tcp-probe, --panic-threshold, --exec-probe-*, map size, --socket-lb, --lb-mode or --cgroup-root (exit 2, the flag named, nothing created)" t_xlbd_flags

t_cmd_help() {
	local cmd
	for cmd in apply delete "get services" "get endpoints" status stats "conntrack list" \
		"conntrack flush" backup restore; do
		# shellcheck disable=SC2086
		timeout 10 "$XLBCTL" $cmd --help >"$OUT" 2>"$ERR"
		rc=$?
		want_rc 0 || return 1
		head -1 "$OUT" | grep -q "^usage: xlbctl $cmd" ||
			{ echo "$cmd --help: $(head -1 "$OUT")"; return 1; }
		grep -q -- '--server' "$OUT" || { echo "$cmd --help lacks the global options"; return 1; }
	done
	timeout 10 "$XLBCTL" help get endpoints >"$OUT" 2>"$ERR"
	rc=$?
	want_rc 0 && want_out '^usage: xlbctl get endpoints SERVICE'
}
check "xlbctl CMD --help documents each command" t_cmd_help

t_usage() {
	local args
	while IFS= read -r args; do
		# shellcheck disable=SC2086
		timeout 10 "$XLBCTL" --server "unix:$TMP/none.sock" $args >"$OUT" 2>"$ERR"
		rc=$?
		want_usage || { echo "  (xlbctl $args)"; return 1; }
	done <<'EOF'
get
get pods
get services -o xml
get services a b
get endpoints
status extra
status -o wide
status --frobnicate
stats -x
apply
apply -f
apply -f a -f b
delete
delete -f x some/name:port
conntrack
conntrack list --limit 0
conntrack list --limit many
conntrack flush --limit 3
backup extra
restore --snapshot
EOF
}
check "usage errors exit 2 with a reason and the command's usage line" t_usage

t_usage_global() {
	local args
	while IFS= read -r args; do
		# shellcheck disable=SC2086
		timeout 10 "$XLBCTL" $args >"$OUT" 2>"$ERR"
		rc=$?
		want_rc 2 || { echo "  (xlbctl $args)"; return 1; }
		head -1 "$ERR" | grep -q '^xlbctl: ' || { echo "xlbctl $args: $(head -1 "$ERR")"; return 1; }
		grep -q '^usage: xlbctl' "$ERR" || { echo "xlbctl $args: no usage line"; return 1; }
	done <<'EOF'

bogus
--frobnicate status
--timeout 0 status
--timeout 5parsecs status
-s
--tls-cert c.pem --server 127.0.0.1:1 status
--tls-ca ca.pem --server unix:/tmp/x.sock status
help nosuchcommand
EOF
}
check "global usage errors exit 2 (no command, unknown command, bad --timeout, TLS flags)" t_usage_global

t_bad_port() {
	ctl apply -f "$FIX/invalid-port.yaml"
	want_rc 1 && want_err "^xlbctl: apply: $FIX/invalid-port.yaml:24: .*70000" &&
		{ [ ! -s "$OUT" ] || { echo "stdout: $(cat "$OUT")"; return 1; }; } &&
		{ ! grep -q UNAVAILABLE "$ERR" || { echo "it tried to reach the daemon"; return 1; }; }
}
check "apply: an out-of-range port is FILE:LINE, exit 1, nothing sent" t_bad_port

t_bad_syntax() {
	ctl apply -f - <"$FIX/invalid-syntax.yaml"
	want_rc 1 && want_err '^xlbctl: apply: <stdin>:11: ' &&
		{ ! grep -q UNAVAILABLE "$ERR" || { echo "it tried to reach the daemon"; return 1; }; }
}
check "apply -f -: broken YAML on stdin is <stdin>:LINE, exit 1" t_bad_syntax

t_missing_file() {
	ctl delete -f "$TMP/no-such.yaml"
	want_rc 1 && want_err "^xlbctl: delete: open $TMP/no-such.yaml: No such file"
}
check "delete -f a missing file: exit 1 naming it" t_missing_file

t_no_daemon() {
	ctl status
	want_rc 1 && want_err '^xlbctl: status: UNAVAILABLE: ' && want_err "$SOCK"
}
check "no daemon: exit 1, UNAVAILABLE and the server named" t_no_daemon

t_restore_garbage() {
	ctl restore -f "$FIX/services.yaml"
	want_rc 1 && want_err 'bad magic' || return 1
	head -c 10 /dev/zero | ctl restore
	want_rc 1 && want_err 'truncated'
}
check "restore: a file that is not a backup is refused before any call" t_restore_garbage

t_backup_tty() {
	command -v script >/dev/null || { echo "no script(1) for a terminal"; return 1; }
	script -qec "timeout 10 '$XLBCTL' --server unix:$TMP/none.sock backup" /dev/null >"$OUT" 2>&1
	rc=$?
	[ "$rc" = 1 ] || { echo "exit $rc; $(cat "$OUT")"; return 1; }
	grep -q 'refusing to write binary data to a terminal' "$OUT" || { cat "$OUT"; return 1; }
}
check "backup refuses to write binary to a terminal" t_backup_tty

# --- online: a real xlbd ------------------------------------------------------

online_tests=23
skip_online() {
	not_ok "online tests" "$1 ($online_tests checks not run)"
	tap_finish
}

[ "$(id -u)" -eq 0 ] || skip_online "must run as root"
[ -x "$XLBD" ] || skip_online "$XLBD not built"

setup_net || skip_online "$why"

# A CA, a server certificate for xlbd's TCP listener (xlbd.test and
# 127.0.0.1) and a client certificate, for the TLS checks.
make_pki() {
	local d=$TMP/pki
	mkdir -p "$d" && cd "$d" || return 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
		-out ca.pem -days 1 -subj "/CN=xlbctl test CA" &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key \
			-out srv.csr -subj "/CN=xlbd.test" &&
		printf 'subjectAltName=DNS:xlbd.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >srv.ext &&
		openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem \
			-days 1 -extfile srv.ext &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout cli.key \
			-out cli.csr -subj "/CN=xlbctl" &&
		printf 'extendedKeyUsage=clientAuth\n' >cli.ext &&
		openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cli.pem \
			-days 1 -extfile cli.ext
}
tls_listen=()
if (make_pki) >"$TMP/pki.log" 2>&1; then
	tls_listen=(--listen 127.0.0.1:50051 --tls-cert "$TMP/pki/srv.pem"
		--tls-key "$TMP/pki/srv.key" --tls-client-ca "$TMP/pki/ca.pem")
fi

start_xlbd "${tls_listen[@]}" || skip_online "$why"

t_status() {
	ctl status
	want_rc 0 && want_out '^dataplane: +xdp' && want_out '^interfaces: +.*n-client' &&
		want_out '^services: +0$' && want_out '^counters:' || return 1
	ctl status -o json
	want_rc 0 && "${CHECK[@]}" json "$OUT" || return 1
	[ "$("${CHECK[@]}" get "$OUT" dataplane)" = xdp ] || { echo "json dataplane"; return 1; }
	"${CHECK[@]}" get "$OUT" counters >/dev/null
}
check "status: dataplane xdp on n-client, no services; -o json parses" t_status

t_apply() {
	ctl apply -f "$FIX/services.yaml"
	want_rc 0 || return 1
	cat >"$TMP/want" <<'EOF'
service/shop/web:http configured
service/shop/web:https configured
service/shop/api:grpc configured
service/infra/dns:dns configured
service/infra/dns:dns-tcp configured
EOF
	diff -u "$TMP/want" "$OUT" || return 1
	want_err "^xlbctl: apply: warning: $FIX/services.yaml:[0-9]+: kind ConfigMap skipped"
}
check "apply -f: a two-document kubectl List, 5 services configured, ConfigMap warned" t_apply

t_get_services() {
	ctl get services
	want_rc 0 && "${CHECK[@]}" aligned "$OUT" 5 || return 1
	head -1 "$OUT" | grep -Eq '^NAME +TYPE +CLUSTER-IP +EXTERNAL-IP +PORT\(S\) +ALGO +AFFINITY +ENDPOINTS$' ||
		{ echo "header: $(head -1 "$OUT")"; return 1; }
	grep -Eq '^shop/api:grpc +NodePort +10\.96\.40\.20 +<none> +9090/TCP +wrr +ClientIP\(600s\) +[0-2]/2$' "$OUT" &&
		grep -Eq '^shop/web:http +ClusterIP +10\.96\.40\.10 +<none> +80/TCP +rr +None +1/3$' "$OUT" &&
		grep -Eq '^infra/dns:dns +ClusterIP +10\.96\.0\.53 +<none> +53/UDP +sh +None +2/2$' "$OUT" ||
		{ cat "$OUT"; return 1; }
}
check "get services: aligned table, one row per service port" t_get_services

t_get_services_name() {
	ctl get services shop/web
	want_rc 0 && "${CHECK[@]}" aligned "$OUT" 2 && want_out '^shop/web:https ' || return 1
	ctl get svc infra/dns:dns-tcp
	want_rc 0 && "${CHECK[@]}" aligned "$OUT" 1
}
check "get services NAME: a Service's ports, or one port" t_get_services_name

t_get_wide() {
	ctl get services -o wide
	want_rc 0 && "${CHECK[@]}" aligned "$OUT" 5 || return 1
	head -1 "$OUT" | grep -Eq ' ENDPOINTS +NODE-PORT +POLICY +LB-MODE +PACKETS +NEW-FLOWS +HEALTH$' ||
		{ echo "header: $(head -1 "$OUT")"; return 1; }
	grep -Eq '^shop/api:grpc .* 30090 +Cluster/Cluster +default +[0-9]+ +[0-9]+ +[a-z=0-9,]+$' "$OUT" &&
		grep -Eq '^shop/web:http .* <none> +Cluster/Cluster +default +[0-9]+ +[0-9]+ +unchecked$' "$OUT" ||
		{ cat "$OUT"; return 1; }
}
check "get services -o wide: node port, traffic policies, lb mode, packets, new flows, health" t_get_wide

t_get_json_yaml() {
	ctl get services -o json
	want_rc 0 && "$PY" -m json.tool "$OUT" >/dev/null || { echo "json.tool refuses it"; return 1; }
	cp "$OUT" "$TMP/svcs.json"
	"${CHECK[@]}" names "$TMP/svcs.json" >"$TMP/names" || return 1
	printf '%s\n' infra/dns:dns infra/dns:dns-tcp shop/api:grpc shop/web:http shop/web:https |
		diff -u - "$TMP/names" || return 1
	[ "$("${CHECK[@]}" get "$TMP/svcs.json" services.2.service.health_check.kind)" = TCP_CONNECT ] ||
		{ echo "health_check.kind"; return 1; }
	[ "$("${CHECK[@]}" get "$TMP/svcs.json" services.2.service.algorithm)" = WRR ] || return 1
	ctl get services -o yaml
	want_rc 0 && "${CHECK[@]}" yaml-is-json "$OUT" "$TMP/svcs.json"
}
check "get services -o json|yaml: json.tool parses it, YAML holds the same tree (live values: same type)" t_get_json_yaml

t_get_endpoints() {
	ctl get endpoints shop/web:http
	want_rc 0 && "${CHECK[@]}" aligned "$OUT" 3 || return 1
	head -1 "$OUT" | grep -Eq '^ADDRESS +PORT +WEIGHT +READY +TERMINATING +HEALTH +IN-DATAPATH +LAST-PROBE +LATENCY +SINCE +PACKETS +FLOWS$' ||
		{ echo "header: $(head -1 "$OUT")"; return 1; }
	grep -Eq '^10\.244\.1\.11 +8080 +1 +true +false +unchecked +true ' "$OUT" &&
		grep -Eq '^10\.244\.2\.12 +8080 +1 +false +false +unchecked +false ' "$OUT" &&
		grep -Eq '^10\.244\.3\.13 +8080 +1 +false +true +unchecked +false ' "$OUT" ||
		{ cat "$OUT"; return 1; }
	ctl get endpoints shop/web:https -o wide
	want_rc 0 && "${CHECK[@]}" aligned "$OUT" 3 && want_out ' web-7d9f8c6b5-klmno$' || return 1
	ctl get endpoints shop/web:http -o json
	want_rc 0 && "$PY" -m json.tool "$OUT" >/dev/null || return 1
	[ "$("${CHECK[@]}" get "$OUT" endpoints.2.endpoint.terminating)" = True ] || return 1
	cp "$OUT" "$TMP/ep.json"
	ctl get endpoints shop/web:http -o yaml
	want_rc 0 && "${CHECK[@]}" yaml-is-json "$OUT" "$TMP/ep.json"
}
check "get endpoints: ready, not ready and terminating rows; wide, json, yaml" t_get_endpoints

t_get_endpoints_ambiguous() {
	ctl get endpoints shop/web
	want_rc 1 && want_err 'shop/web has 2 ports' && want_err '^  shop/web:https$'
}
check "get endpoints NAME of a two-port Service: exit 1 listing the ports" t_get_endpoints_ambiguous

t_health() {
	local h1 h2
	for _ in $(seq 60); do
		ctl get endpoints shop/api:grpc -o json
		h1=$("${CHECK[@]}" get "$OUT" endpoints.0.health 2>/dev/null)
		h2=$("${CHECK[@]}" get "$OUT" endpoints.1.health 2>/dev/null)
		[ "$h1" = healthy ] && [ "$h2" = unhealthy ] && break
		sleep 0.5
	done
	[ "$h1" = healthy ] && [ "$h2" = unhealthy ] ||
		{ echo "health: $h1 / $h2 after 30s"; return 1; }
	ctl get endpoints shop/api:grpc
	want_rc 0 && "${CHECK[@]}" aligned "$OUT" 2 || return 1
	grep -Eq '^10\.244\.2\.21 +9090 +3 +true +false +healthy +true +.+ +[0-9.]+(us|ms|s) +[0-9]+[smhd]' "$OUT" &&
		grep -Eq '^10\.244\.3\.22 +9090 +1 +true +false +unhealthy +false ' "$OUT" ||
		{ cat "$OUT"; return 1; }
	ctl get services shop/api -o wide
	want_rc 0 && want_out ' 1/2 .* healthy=1,unhealthy=1$'
}
check "health: TCP check healthy on the node, unhealthy without route; summary in -o wide" t_health

t_traffic() {
	local pk
	send_dns || { echo "client send failed"; return 1; }
	for _ in $(seq 20); do
		ctl stats infra/dns:dns -o json
		pk=$("${CHECK[@]}" get "$OUT" services.0.packets 2>/dev/null)
		[ "${pk:-0}" -gt 0 ] && break
		sleep 0.25
	done
	[ "${pk:-0}" -gt 0 ] || { echo "no packets counted for infra/dns:dns: $(cat "$OUT")"; return 1; }
	[ "$("${CHECK[@]}" get "$OUT" counters.rx)" -gt 0 ] || { echo "rx counter 0"; return 1; }
	ctl stats -o yaml
	want_rc 0 && "$PY" -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1]))' "$OUT"
}
check "traffic: UDP to infra/dns:dns through XDP is counted (stats -o json|yaml)" t_traffic

t_stats_table() {
	ctl stats infra/dns:dns
	want_rc 0 || return 1
	sed '/^$/,$d' "$OUT" >"$TMP/t1"
	sed '1,/^$/d' "$OUT" | sed '/^$/,$d' >"$TMP/t2"
	"${CHECK[@]}" aligned "$TMP/t1" 3 && "${CHECK[@]}" aligned "$TMP/t2" || return 1
	head -1 "$TMP/t1" | grep -Eq '^SERVICE +BACKEND +PACKETS +BYTES +NEW-FLOWS +SOCKET$' &&
		grep -Eq '^infra/dns:dns +\* +[1-9][0-9]* ' "$TMP/t1" &&
		grep -Eq '^infra/dns:dns +10\.244\.1\.53:53 ' "$TMP/t1" &&
		head -1 "$TMP/t2" | grep -Eq '^REASON +PACKETS$' &&
		grep -Eq '^rx +[1-9]' "$TMP/t2" || { cat "$OUT"; return 1; }
}
check "stats SERVICE: per service and backend, then counters by reason" t_stats_table

t_conntrack_list() {
	local n
	ctl conntrack list
	want_rc 0 || return 1
	n=$(($(wc -l <"$OUT") - 1))
	[ "$n" -ge 1 ] || { echo "no entries: $(cat "$ERR")"; return 1; }
	"${CHECK[@]}" aligned "$OUT" && want_out '10\.96\.0\.53:53' || return 1
	head -1 "$OUT" | grep -Eq '^PROTO +DIR +SOURCE +DESTINATION +STATE +SERVICE-ID +BACKEND-ID +AGE +IDLE$' ||
		{ echo "header: $(head -1 "$OUT")"; return 1; }
	ctl conntrack list -o json
	want_rc 0 && "$PY" -m json.tool "$OUT" >/dev/null || return 1
	[ "$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["entries"]))' "$OUT")" = "$n" ] ||
		{ echo "json and table disagree"; return 1; }
	if [ "$n" -gt 1 ]; then
		ctl conntrack list --limit 1
		want_rc 0 && "${CHECK[@]}" aligned "$OUT" 1 && want_err 'more \(--limit N\)'
	fi
}
check "conntrack list: the flows, as a table and JSON; --limit truncates with a warning" t_conntrack_list

t_conntrack_flush() {
	ctl conntrack flush
	want_rc 0 && want_out '^conntrack: [1-9][0-9]* entries removed$' || return 1
	ctl conntrack list
	want_rc 0 && want_err '^No conntrack entries' && [ ! -s "$OUT" ] || return 1
	ctl conntrack list -o json
	[ "$("${CHECK[@]}" get "$OUT" entries)" = "[]" ]
}
check "conntrack flush: removes them all" t_conntrack_flush

# Snapshots of what the daemon holds, for "nothing changed" checks.
snap() {
	ctl get services -o json && cp "$OUT" "$TMP/$1.json" &&
		ctl get services && cp "$OUT" "$TMP/$1.txt" &&
		ctl status -o json && "${CHECK[@]}" get "$OUT" version >"$TMP/$1.version"
}
same_as() {
	"${CHECK[@]}" desired "$TMP/$1.json" "$TMP/$2.json" &&
		diff -u "$TMP/$1.txt" "$TMP/$2.txt" &&
		diff -u "$TMP/$1.version" "$TMP/$2.version"
}

t_invalid_changes_nothing() {
	snap before || return 1
	ctl apply -f "$FIX/invalid-port.yaml"
	want_rc 1 && want_err "invalid-port.yaml:24: " || return 1
	snap after && same_as before after
}
check "apply of an invalid manifest: exit 1, services and version unchanged" t_invalid_changes_nothing

t_conflict() {
	snap before || return 1
	ctl apply -f "$FIX/conflict.yaml"
	want_rc 1 && want_err '^xlbctl: apply: ' || return 1
	snap after && same_as before after && ! grep -q 'shop/fine' "$TMP/after.txt"
}
check "apply conflicting with a live service: refused whole (shop/fine not added)" t_conflict

t_delete_unknown() {
	snap before || return 1
	ctl delete -f "$FIX/unknown.yaml"
	want_rc 1 && want_err '^xlbctl: delete: .*shop/ghost:http.*not found' || return 1
	ctl delete shop/web:http shop/ghost:http
	want_rc 1 || return 1
	snap after && same_as before after
}
check "delete of an unknown service: exit 1, nothing deleted (not even the known one)" t_delete_unknown

t_not_found_code() {
	ctl delete -f "$FIX/unknown.yaml"
	want_rc 1 && want_err '^xlbctl: delete: NOT_FOUND: ' || return 1
	ctl get services shop/ghost:http
	want_rc 1 && want_err '^xlbctl: get services: NOT_FOUND: ' || return 1
	ctl get endpoints shop/ghost
	want_rc 1 && want_err '^xlbctl: get endpoints: NOT_FOUND: '
}
check "unknown services are NOT_FOUND (delete, get services, get endpoints)" t_not_found_code

t_apply_update() {
	ctl apply -f "$FIX/web-v2.yaml"
	want_rc 0 && want_lines "$OUT" 2 || return 1
	ctl get endpoints shop/web:http
	want_rc 0 && "${CHECK[@]}" aligned "$OUT" 2 && want_out '^10\.244\.4\.14 +8080 ' &&
		! grep -q '^10\.244\.3\.13 ' "$OUT"
}
check "apply again: a live service's endpoints are replaced" t_apply_update

t_backup_restore() {
	snap before || return 1
	ctl backup
	want_rc 0 && cp "$OUT" "$TMP/backup.bin" || return 1
	head -c 8 "$TMP/backup.bin" | grep -q '^XLBSTAT1$' || { echo "no magic"; return 1; }
	ctl backup -f "$TMP/backup2.bin"
	want_rc 0 && want_out '^backup: 5 services' && cmp "$TMP/backup.bin" "$TMP/backup2.bin" || return 1
	ctl delete -f "$FIX/services.yaml"
	want_rc 0 && want_lines "$OUT" 5 || return 1
	ctl get services
	want_rc 0 && [ ! -s "$OUT" ] && want_err '^No services' || return 1
	ctl restore <"$TMP/backup.bin"
	want_rc 0 && want_out '^restored 5 services \(version [0-9]+\)$' || return 1
	ctl get services -o json && cp "$OUT" "$TMP/after.json" || return 1
	"${CHECK[@]}" desired "$TMP/before.json" "$TMP/after.json" || return 1
	# A second backup holds the same services (only the version moved on).
	ctl backup -f "$TMP/backup3.bin"
	want_rc 0 && decode "$TMP/backup.bin" >"$TMP/b1.txt" && decode "$TMP/backup3.bin" >"$TMP/b3.txt" &&
		diff -u "$TMP/b1.txt" "$TMP/b3.txt" || return 1
	[ -s "$TMP/b1.txt" ] || { echo "backup decodes to nothing"; return 1; }
}
# A backup's services as protobuf text (past the 16-byte frame header),
# without the version.
decode() {
	tail -c +17 "$1" | protoc --decode=xlb.v1.BackupResponse \
		--proto_path="$ROOT/user/api/proto" xlb.proto | grep -v '^version: '
}
check "backup > FILE, delete everything, restore < FILE: the same services" t_backup_restore

t_snapshot() {
	ctl apply --snapshot -f "$FIX/web-v2.yaml"
	want_rc 0 && want_out '^snapshot applied: 2 services$' || return 1
	ctl get services -o json
	"${CHECK[@]}" names "$OUT" | diff -u <(printf '%s\n' shop/web:http shop/web:https) -
}
check "apply --snapshot: everything else is removed" t_snapshot

t_delete() {
	ctl delete -f - <"$FIX/web-v2.yaml"
	want_rc 0 && want_out '^service/shop/web:http deleted$' || return 1
	ctl get services
	want_rc 0 && [ ! -s "$OUT" ] || return 1
	ctl status
	want_out '^services: +0$'
}
check "delete -f -: the manifest's services are gone" t_delete

# xlbctl in the daemon's namespace (its TCP listener is on 127.0.0.1 there).
ctl_tcp() {
	timeout 30 nsenter --net="/run/netns/$NS" "$XLBCTL" --server 127.0.0.1:50051 \
		--timeout 5s "$@" >"$OUT" 2>"$ERR"
	rc=$?
	return "$rc"
}

t_tls() {
	local p=$TMP/pki
	[ ${#tls_listen[@]} -gt 0 ] || { echo "no certificates: $(tail -n 3 "$TMP/pki.log")"; return 1; }
	ctl_tcp --tls-ca "$p/ca.pem" --tls-cert "$p/cli.pem" --tls-key "$p/cli.key" \
		--tls-server-name xlbd.test status
	want_rc 0 && want_out '^dataplane: +xdp' || return 1
	ctl_tcp --tls-ca "$p/ca.pem" --tls-cert "$p/cli.pem" --tls-key "$p/cli.key" get services
	want_rc 0 || return 1
	# No client certificate: the daemon requires one.
	ctl_tcp --tls-ca "$p/ca.pem" status
	want_rc 1 && want_err '^xlbctl: status: UNAVAILABLE: ' || return 1
	# A server name the certificate does not carry.
	ctl_tcp --tls-ca "$p/ca.pem" --tls-cert "$p/cli.pem" --tls-key "$p/cli.key" \
		--tls-server-name other.test status
	want_rc 1 && want_err '^xlbctl: status: UNAVAILABLE: .*other\.test' || return 1
	# Roots that did not sign the server's certificate; gRPC's own log
	# stays quiet, the one error line is ours.
	ctl_tcp --tls-ca "$p/cli.pem" --tls-cert "$p/cli.pem" --tls-key "$p/cli.key" status
	want_rc 1 && want_lines "$ERR" 1 && want_err 'certificate verify failed'
}
check "TLS: mutual TLS over TCP works; no client cert, wrong name, wrong CA exit 1" t_tls

t_daemon_alive() {
	kill -0 "$daemon_pid" 2>/dev/null || { tail -5 "$TMP/xlbd.log"; return 1; }
}
check "xlbd still running after all of it" t_daemon_alive

tap_finish
