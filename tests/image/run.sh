#!/bin/bash
# The container image, run as the DaemonSet runs it (make image-test; root):
#   1. make image (scripts/image.sh): an OCI layout, offline;
#   2. podman runs each program of it (every library it loads is there);
#   3. the pod, as two containers on the host network sharing xlbd's socket
#      directory: xlbd with the DaemonSet's capabilities (no interface, its
#      own pin directory) and xlb-k8s against the test API server
#      (tests/k8s/apiserver.py) with a kubeconfig; xlbctl from the image
#      then sees the fixture's Services in xlbd, and the feeder's /readyz
#      says ready.
# podman runs containers with runc here: crun refuses this host's hybrid
# cgroup layout, and the sandbox cannot raise rlimits (so they are given).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
. tests/lib/tap.sh
BUILD=${BUILD:-build}
IMG=$(realpath -m "${IMAGE_OUT:-$BUILD/image}")
TAG=latest
PIN=/sys/fs/bpf/xlb-imgtest
PY=/usr/bin/python3

if [ "$(id -u)" -ne 0 ] || ! command -v podman >/dev/null; then
	echo "1..0 # SKIP needs root and podman"
	echo "0 passed, 0 failed"
	exit 0
fi
tmp=$(mktemp -d /tmp/xlb-imagetest.XXXXXX)
api_pid=
cleanup() {
	podman rm -f xlb-imgtest-feeder xlb-imgtest-xlbd >/dev/null 2>&1
	[ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null
	"$BUILD/xlbd" --cleanup --pin-dir "$PIN" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
PODMAN=(podman --runtime runc)
RUN=("${PODMAN[@]}" run --ulimit "nofile=1024:1024" --ulimit "nproc=1024:1024")

out=$(IMAGE_OUT="$IMG" BUILD="$BUILD" bash scripts/image.sh 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
[ $rc -eq 0 ] || tap_bail "make image failed"
check "the image is an OCI layout" test -f "$IMG/index.json" -a -f "$IMG/oci-layout"
size=$(du -sm "$IMG/blobs" | cut -f1)
check "the image is small (${size} MiB of blobs, < 64)" test "$size" -lt 64

for p in /usr/sbin/xlbd /usr/bin/xlbctl /usr/bin/xlb-k8s; do
	check "podman run: $p --help" \
		"${RUN[@]}" --rm --network=none --entrypoint "$p" "oci:$IMG:$TAG" --help
done
check "podman run: no shell in the image" \
	sh -c "! ${RUN[*]} --rm --network=none --entrypoint /bin/sh oci:$IMG:$TAG -c true 2>/dev/null"

# The pod. The test API server first, with the fixture's objects.
mkdir -p "$tmp/run" "$tmp/state" "$tmp/kube" "$tmp/certs"
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ctl=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mport=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
$PY tests/k8s/apiserver.py --dir "$tmp/certs" --port "$port" --control "$ctl" --token imgtest \
	>"$tmp/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 100); do
	curl -s -o /dev/null "http://127.0.0.1:$ctl/" 2>/dev/null && break
	grep -q "^apiserver:" "$tmp/api.log" && break
	sleep 0.1
done
$PY - "$ctl" <<'EOF' || tap_bail "loading the API server"
import json, sys, urllib.request
ctl = sys.argv[1]
with open("tests/unit/fixtures/k8s/list-web-dns.json") as f:
    items = json.load(f)["items"]
import time
for o in items:
    if o.get("kind") not in ("Service", "EndpointSlice"):
        continue
    for attempt in range(100):      # the control port may not listen yet
        try:
            urllib.request.urlopen(urllib.request.Request(
                "http://127.0.0.1:%s/apply" % ctl, data=json.dumps(o).encode(),
                method="POST"), timeout=5)
            break
        except OSError:
            time.sleep(0.1)
    else:
        sys.exit("control port %s does not answer" % ctl)
EOF
cp "$tmp/certs/ca.crt" "$tmp/kube/ca.crt"
echo imgtest >"$tmp/kube/token"
cat >"$tmp/kube/config" <<EOF
apiVersion: v1
kind: Config
current-context: t
clusters:
- name: t
  cluster: {server: "https://127.0.0.1:$port", certificate-authority: ca.crt}
contexts:
- name: t
  context: {cluster: t, user: u}
users:
- name: u
  user: {tokenFile: token}
EOF

# xlbd with the DaemonSet's capabilities (less SYS_RESOURCE, which this
# sandbox cannot grant; kernels >= 5.11 do not need it).
caps=()
for c in BPF PERFMON SYS_ADMIN NET_ADMIN NET_RAW KILL SETPCAP; do caps+=(--cap-add "$c"); done
"${RUN[@]}" -d --name xlb-imgtest-xlbd --network=host --cap-drop ALL "${caps[@]}" \
	--security-opt seccomp=unconfined --read-only \
	-v /sys/fs/bpf:/sys/fs/bpf -v "$tmp/run:/run/xlb" -v "$tmp/state:/var/lib/xlb" \
	"oci:$IMG:$TAG" --pin-dir "$PIN" --listen unix:/run/xlb/xlbd.sock \
	--state-dir /var/lib/xlb >"$tmp/xlbd.id" 2>"$tmp/podman.err" ||
	{ cat "$tmp/podman.err" | sed 's/^/# /'; tap_bail "podman run xlbd"; }
for _ in $(seq 100); do [ -S "$tmp/run/xlbd.sock" ] && break; sleep 0.1; done
check "xlbd in the image serves its API socket" test -S "$tmp/run/xlbd.sock"

"${RUN[@]}" -d --name xlb-imgtest-feeder --network=host --cap-drop ALL --read-only \
	--security-opt no-new-privileges -v "$tmp/run:/run/xlb" -v "$tmp/kube:/kube:ro" \
	--entrypoint /usr/bin/xlb-k8s "oci:$IMG:$TAG" --kubeconfig /kube/config \
	--node-name imgtest --xlbd unix:/run/xlb/xlbd.sock --metrics "127.0.0.1:$mport" \
	>/dev/null 2>"$tmp/podman.err" ||
	{ cat "$tmp/podman.err" | sed 's/^/# /'; tap_bail "podman run xlb-k8s"; }

for _ in $(seq 100); do
	"${RUN[@]}" --rm --network=none -v "$tmp/run:/run/xlb" --entrypoint /usr/bin/xlbctl \
		"oci:$IMG:$TAG" --server unix:/run/xlb/xlbd.sock get services >"$tmp/get" 2>&1
	grep -q "kube-system/kube-dns:metrics" "$tmp/get" && break
	sleep 0.3
done
check "xlb-k8s (no capability) fed xlbd the API server's Services; xlbctl from the image sees them" \
	sh -c "grep -q 'default/web:http' '$tmp/get' && grep -q 'kube-system/kube-dns:dns' '$tmp/get'"
check "xlb-k8s in the image: /readyz 200" curl -sf "http://127.0.0.1:$mport/readyz"
if [ "$TAP_FAILED" -gt 0 ]; then
	podman logs xlb-imgtest-xlbd 2>&1 | tail -20 | sed 's/^/# xlbd: /'
	podman logs xlb-imgtest-feeder 2>&1 | tail -20 | sed 's/^/# xlb-k8s: /'
fi
tap_finish
