#!/usr/bin/env bash
# What a node answers for LoadBalancer Services, judged over real HTTP from
# another network namespace: the health-check node ports (any path and
# method; 200 with a ready local endpoint and a healthy proxy, else 503;
# kube-proxy's JSON body and headers; flipping with the change that takes
# the last local endpoint away), the node-wide /healthz and /livez, node
# ports only inside --nodeport-range, that range reserved from the node's
# ephemeral ports, and xlbd's flags for them.
#
# The lab is tests/lib/xlbd-test.sh's: xlbd in its node namespace (node
# address 10.10.1.1 on n-client), a client namespace at 10.10.1.2; private
# --pin-dir, --state-dir and unix socket. Prints TAP; cleans up on exit.
#
#   XLBCTL=path XLBD=path tests/lb/run.sh
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
XLBCTL=${XLBCTL:-$ROOT/build/xlbctl}
XLBD=${XLBD:-$ROOT/build/xlbd}
PY=/usr/bin/python3

LAB_PREFIX=xlblb$$
PIN=/sys/fs/bpf/xlblb-test-$$
NODE=10.10.1.1

. "$ROOT/tests/lib/xlbd-test.sh"

xlbd_test_init xlblb-test

# --- xlbd's flags (no daemon starts) ------------------------------------------

t_flags() {
	local f out
	for f in "--nodeport-range 32767-30000" "--nodeport-range 0-100" "--nodeport-range 30000" \
		"--nodeport-range 30000-70000" "--node-name=" "--snat-port-range 100-200" \
		"--snat-port-range 30500-31000"; do
		# shellcheck disable=SC2086
		out=$("$XLBD" $f --pin-dir "$PIN-flags" --state-dir "$TMP/none" 2>&1)
		[ $? = 2 ] || { echo "$f: exit not 2: $out"; return 1; }
		echo "$out" | grep -q -- "${f%%[ =]*}" || { echo "$f: flag not named: $out"; return 1; }
	done
	[ ! -e "$PIN-flags" ] && [ ! -e "$TMP/none" ] || { echo "something was created"; return 1; }
}
check "xlbd refuses a bad --nodeport-range or --snat-port-range (or one overlapping the other) or an empty --node-name (exit 2, the flag named)" t_flags

# --- online --------------------------------------------------------------------

[ "$(id -u)" -eq 0 ] || tap_bail "must run as root"
[ -x "$XLBD" ] || tap_bail "$XLBD not built"
setup_net || tap_bail "$why"

# The node's ephemeral ports are 32768-60999 here: a NodePort range that
# reaches into them must be reserved.
ip netns exec "$NS" sysctl -qw net.ipv4.ip_local_port_range="32768 60999" \
	net.ipv4.ip_local_reserved_ports=""
start_xlbd --node-name node-a --nodeport-range 30000-33000 --snat-port-range 64000-64999 ||
	tap_bail "$why"

# http METHOD URL [BODY]: from the client namespace; the status line,
# headers and body in $OUT; the status code printed.
http() {
	ip netns exec "$CNS" "$PY" - "$@" >"$OUT" 2>"$ERR" <<'EOF'
import http.client, sys, urllib.parse
method, url = sys.argv[1], sys.argv[2]
body = sys.argv[3].encode() if len(sys.argv) > 3 else None
u = urllib.parse.urlsplit(url)
try:
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    c.request(method, u.path or "/", body=body)
    r = c.getresponse()
    data = r.read()
except OSError as e:
    print("refused", e, file=sys.stderr)
    sys.exit(1)
sys.stdout.write("%d\n" % r.status)
for k, v in r.getheaders():
    sys.stdout.write("%s: %s\n" % (k, v))
sys.stdout.write("\n")
sys.stdout.write(data.decode())
EOF
	local ret=$?
	[ $ret = 0 ] && head -1 "$OUT" || echo refused
}
body() { sed '1,/^$/d' "$OUT"; }
hdr() { sed -n "s/^$1: //p" "$OUT"; }

# svc_yaml READY_A TERMINATING_A [NODE_A]: LoadBalancer shop/front with
# externalTrafficPolicy Local, health-check node port 32100, two ports;
# endpoints 10.244.1.5 (on node A, node-a unless given; conditions as
# given) and 10.244.2.6 (node-b), each on both ports.
svc_yaml() {
	cat <<EOF
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: front, namespace: shop}
  spec:
    type: LoadBalancer
    clusterIP: 10.96.40.1
    externalTrafficPolicy: Local
    healthCheckNodePort: 32100
    ports:
    - {name: https, port: 443, protocol: TCP, targetPort: 8443, nodePort: 31443}
    - {name: http, port: 80, protocol: TCP, targetPort: 8080, nodePort: 31080}
  status:
    loadBalancer:
      ingress: [{ip: 203.0.113.10}]
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata:
    name: front-a
    namespace: shop
    labels: {kubernetes.io/service-name: front}
  addressType: IPv4
  ports: [{name: https, port: 8443, protocol: TCP}, {name: http, port: 8080, protocol: TCP}]
  endpoints:
  - addresses: [10.244.1.5]
    conditions: {ready: $1, serving: true, terminating: $2}
    nodeName: ${3:-node-a}
  - addresses: [10.244.2.6]
    conditions: {ready: true, serving: true, terminating: false}
    nodeName: node-b
EOF
}

apply_yaml() {
	printf '%s\n' "$1" >"$TMP/svc.yaml"
	ctl apply -f "$TMP/svc.yaml"
}

# want_status CODE METHOD URL [BODY]: poll briefly (the count follows the
# change on xlbd's loop, a moment after apply returns).
want_status() {
	local code=$1 got
	shift
	for _ in $(seq 50); do
		got=$(http "$@")
		[ "$got" = "$code" ] && return 0
		sleep 0.1
	done
	echo "$* -> $got, want $code"; cat "$OUT"
	return 1
}

t_healthz() {
	[ "$(http GET "http://$NODE:10256/healthz")" = 200 ] || { echo "/healthz"; cat "$OUT" "$ERR"; return 1; }
	[ "$(hdr Content-Type)" = application/json ] && [ "$(hdr X-Content-Type-Options)" = nosniff ] ||
		{ echo "headers"; cat "$OUT"; return 1; }
	body | grep -Eq '^\{"lastUpdated": "[0-9-]+ [0-9:.]+ \+0000 UTC m=\+[0-9.]+","currentTime": "[^"]+", "nodeEligible": true\}$' ||
		{ echo "body"; body; return 1; }
	[ "$(http POST "http://$NODE:10256/livez" x)" = 200 ] || { echo "/livez"; return 1; }
	body | grep -Eq '^\{"lastUpdated": "[^"]+","currentTime": "[^"]+"\}$' || { body; return 1; }
	[ "$(http GET "http://$NODE:10256/metrics")" = 404 ] && [ "$(body)" = "404 page not found" ] ||
		{ echo "/metrics"; cat "$OUT"; return 1; }
}
check "/healthz and /livez on 10256: 200, kube-proxy's JSON; another path 404" t_healthz

WANT_BODY=$(printf '{\n\t"service": {\n\t\t"namespace": "shop",\n\t\t"name": "front"\n\t},\n\t"localEndpoints": 1,\n\t"serviceProxyHealthy": true\n}')

t_hc_200() {
	apply_yaml "$(svc_yaml true false)" || { cat "$ERR"; return 1; }
	want_status 200 GET "http://$NODE:32100/healthz" || return 1
	[ "$(body)" = "$WANT_BODY" ] || { echo "body:"; body; return 1; }
	[ "$(hdr Content-Type)" = application/json ] && [ "$(hdr X-Content-Type-Options)" = nosniff ] &&
		[ "$(hdr X-Load-Balancing-Endpoint-Weight)" = 1 ] || { cat "$OUT"; return 1; }
	for m in GET POST PUT DELETE; do
		for p in / /anything "/a/b?c=1"; do
			[ "$(http "$m" "http://$NODE:32100$p" data)" = 200 ] || { echo "$m $p"; return 1; }
		done
	done
	[ "$(body)" = "$WANT_BODY" ] || { echo "body after POST"; body; return 1; }
}
check "health-check node port 32100: 200 from the client, any path and method, 1 local endpoint (the two ports' endpoints counted once), kube-proxy's body and headers" t_hc_200

t_get_lb() {
	ctl get services shop/front -o wide || { cat "$ERR"; return 1; }
	grep -Eq '^shop/front:https +LoadBalancer +10\.96\.40\.1 +203\.0\.113\.10 +443/TCP .* 31443 +Local/Cluster ' "$OUT" ||
		{ cat "$OUT"; return 1; }
}
check "xlbctl get services: a LoadBalancer's ingress IP (EXTERNAL-IP) and its traffic policies" t_get_lb

t_hc_flip() {
	apply_yaml "$(svc_yaml false false)" || { cat "$ERR"; return 1; }
	want_status 503 GET "http://$NODE:32100/" || return 1
	body | grep -q '"localEndpoints": 0,' && [ "$(hdr X-Load-Balancing-Endpoint-Weight)" = 0 ] ||
		{ body; return 1; }
	apply_yaml "$(svc_yaml true false)" && want_status 200 GET "http://$NODE:32100/" || return 1
	# Serving but terminating: takes flows where nothing else can, but
	# does not count (kube-proxy: the check must fail).
	apply_yaml "$(svc_yaml false true)" && want_status 503 GET "http://$NODE:32100/" || return 1
	apply_yaml "$(svc_yaml true false node-c)" && want_status 503 GET "http://$NODE:32100/" || return 1
	apply_yaml "$(svc_yaml true false)" && want_status 200 GET "http://$NODE:32100/"
}
check "health check flips with the change: not ready 503, ready 200, terminating 503, on another node 503, back 200" t_hc_flip

t_hc_gone() {
	ctl delete shop/front:https shop/front:http || { cat "$ERR"; return 1; }
	want_status refused GET "http://$NODE:32100/"
}
check "the Service deleted: its health-check node port closes" t_hc_gone

t_range() {
	local y
	y=$(svc_yaml true false | sed 's/nodePort: 31443/nodePort: 29999/')
	apply_yaml "$y" && { echo "accepted node port 29999"; return 1; }
	grep -q "node_port 29999 outside this node's NodePort range 30000-33000" "$ERR" ||
		{ cat "$ERR"; return 1; }
	y=$(svc_yaml true false | sed 's/healthCheckNodePort: 32100/healthCheckNodePort: 33100/')
	apply_yaml "$y" && { echo "accepted health-check node port 33100"; return 1; }
	grep -q "health_check_node_port 33100 outside" "$ERR" || { cat "$ERR"; return 1; }
	ctl get services
	[ "$(grep -c shop/front "$OUT")" = 0 ] || { echo "something was applied"; cat "$OUT"; return 1; }
}
check "node ports and health-check node ports outside --nodeport-range are refused whole, naming the range" t_range

t_reserved() {
	local r
	r=$(ip netns exec "$NS" cat /proc/sys/net/ipv4/ip_local_reserved_ports)
	[ "$r" = 30000-33000,64000-64999 ] || { echo "reserved: '$r'"; return 1; }
	grep -q "reserve ports: NodePort range 30000-33000 (inside the ephemeral ports)" "$TMP/xlbd.log" ||
		{ grep reserve "$TMP/xlbd.log"; return 1; }
}
check "a NodePort range inside the ephemeral ports and the SNAT range are reserved (ip_local_reserved_ports of the node's namespace)" t_reserved

tap_finish
