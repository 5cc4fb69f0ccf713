#!/usr/bin/python3
"""xlb-k8s benchmark: from a watch event to the datapath.

Starts the test API server (tests/k8s/apiserver.py) holding S Services,
each with one EndpointSlice of E endpoints, xlbd (hermetic as in
sync_bench.py: temp state dir and socket, its own pin dir, no interface;
root) and xlb-k8s, then:
  1. initial sync: from the feeder's start to xlbd holding every service
     and endpoint (list of S+S objects in pages, one snapshot);
  2. C changes, one at a time: an EndpointSlice of one Service gets a new
     endpoint address on the API server; timed from the change (the API
     server writes the watch event) to xlbd's Watch stream reporting that
     service upserted, which xlbd sends once the datapath has it: p50 / p99;
  3. the feeder's resident memory (now and its peak), and what it holds
     per endpoint over a feeder that holds nothing (the same binary
     against an empty API server): fails above --max-bytes-per-endpoint
     from 100,000 endpoints on (smaller runs only report).

  feeder_bench.py [--services 10000] [--endpoints 10] [--changes 1000]
"""
import argparse
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

PIN = "/sys/fs/bpf/xlb-feederbench"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "k8s"))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiserver  # noqa: E402
import test_api  # noqa: E402
from sync_bench import pct, rss_kb  # noqa: E402


def vip(i):
    return "10.%d.%d.%d" % (96 + (i >> 16), (i >> 8) & 255, i & 255)


def ep_addr(k):
    return "10.%d.%d.%d" % (128 + (k >> 16), (k >> 8) & 255, k & 255)


def service(i):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "svc-%05d" % i, "namespace": "bench"},
            "spec": {"clusterIP": vip(i), "clusterIPs": [vip(i)], "type": "ClusterIP",
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP",
                                "targetPort": 8080}]}}


def slice_of(i, eps, extra=None):
    addrs = [ep_addr(i * eps + j) for j in range(eps)]
    if extra:
        addrs[-1] = extra
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "svc-%05d-abcde" % i, "namespace": "bench",
                         "labels": {"kubernetes.io/service-name": "svc-%05d" % i}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [a], "conditions": {"ready": True, "serving": True,
                                                            "terminating": False},
                           "nodeName": "node-a"} for a in addrs]}


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def write_kubeconfig(path, api, token_file):
    with open(path, "w") as f:
        f.write("apiVersion: v1\nkind: Config\ncurrent-context: b\nclusters:\n- name: b\n"
                "  cluster: {server: 'https://127.0.0.1:%d', certificate-authority: %s}\n"
                "contexts:\n- name: b\n  context: {cluster: b, user: u}\nusers:\n- name: u\n"
                "  user: {tokenFile: %s}\n" % (api.port, api.ca_file, token_file))


def empty_rss_kb(build, tmp, token_file, target):
    """The feeder's resident memory holding nothing: code, libraries,
    threads, TLS, its Sync stream. It lists an empty API server and feeds
    the (still empty) xlbd an empty snapshot."""
    certs = os.path.join(tmp, "certs-empty")
    os.makedirs(certs)
    api = apiserver.ApiServer(certs, token="bench")
    api.start()
    kubeconfig = os.path.join(tmp, "kubeconfig-empty")
    write_kubeconfig(kubeconfig, api, token_file)
    p = subprocess.Popen([os.path.join(build, "xlb-k8s"), "--kubeconfig", kubeconfig,
                          "--node-name", "node-a", "--xlbd", target,
                          "--metrics", "off", "--log-level", "error"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            listed = {r for r, rv in api.watches if rv not in ("", "0")}
            if {"services", "endpointslices"} <= listed:
                break
            time.sleep(0.05)
        else:
            raise SystemExit("the empty feeder did not list")
        time.sleep(1)
        return rss_kb(p.pid)
    finally:
        p.terminate()
        p.wait(20)
        api.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--endpoints", type=int, default=10)
    ap.add_argument("--changes", type=int, default=1000)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    # 773 before slices kept their endpoints compact and snapshots their
    # services packed (issue 15); about 300 since.
    ap.add_argument("--max-bytes-per-endpoint", type=int, default=450)
    a = ap.parse_args()
    S, E = a.services, a.endpoints

    tmp = tempfile.mkdtemp(prefix="xlb-feederbench.")
    os.makedirs(os.path.join(tmp, "certs"))
    test_api.gen_stubs(tmp)
    grpc, pb, pbg = test_api.grpc, test_api.pb, test_api.pbg
    api = apiserver.ApiServer(os.path.join(tmp, "certs"), token="bench")
    for i in range(S):
        api.apply(service(i))
        api.apply(slice_of(i, E))
    api.start()
    token = os.path.join(tmp, "token")
    with open(token, "w") as f:
        f.write("bench\n")
    kubeconfig = os.path.join(tmp, "kubeconfig")
    write_kubeconfig(kubeconfig, api, token)
    sock = os.path.join(tmp, "xlbd.sock")
    target = "unix:" + sock
    log = open(os.path.join(tmp, "feeder.log"), "w")
    xlbd = subprocess.Popen([os.path.join(a.build, "xlbd"), "--pin-dir", PIN, "--state-dir",
                             os.path.join(tmp, "state"), "--listen", target,
                             "--log-level", "warn"], stdout=log, stderr=log)
    for _ in range(300):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    base = empty_rss_kb(a.build, tmp, token, target)
    feeder = None
    events = queue.Queue()
    ch = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length",
                                                      256 << 20)])
    stub = pbg.XlbStub(ch)
    try:
        watch = stub.Watch(pb.WatchRequest())

        def pump():
            try:
                for ev in watch:
                    if ev.kind == pb.Event.SERVICE_UPSERT:
                        events.put((time.perf_counter(), ev.service))
            except grpc.RpcError:
                pass
        threading.Thread(target=pump, daemon=True).start()

        t0 = time.perf_counter()
        feeder = subprocess.Popen([os.path.join(a.build, "xlb-k8s"), "--kubeconfig", kubeconfig,
                                   "--node-name", "node-a", "--xlbd", target,
                                   "--metrics", "off", "--log-level", "warn"],
                                  stdout=log, stderr=log)
        deadline = time.time() + 600
        while time.time() < deadline:
            st = stub.GetStatus(pb.GetStatusRequest(), timeout=30)
            if st.services == S and st.endpoints == S * E:
                break
            time.sleep(0.05)
        else:
            raise SystemExit("initial sync did not complete: %d services" % st.services)
        t_init = time.perf_counter() - t0
        # Changes are timed once the feeder watches (it lists first): a
        # change made before would wait for the watch to open.
        while not any(r == "endpointslices" and rv not in ("", "0") for r, rv in api.watches):
            time.sleep(0.01)
        time.sleep(0.2)
        while not events.empty():
            events.get()

        lat = []
        for c in range(a.changes):
            i = (c * 7919) % S
            name = "bench/svc-%05d:http" % i
            t0 = time.perf_counter()
            api.apply(slice_of(i, E, extra="10.200.%d.%d" % ((c >> 8) & 255, c & 255)))
            while True:
                t1, svc = events.get(timeout=60)
                if svc == name and t1 >= t0:
                    break
            lat.append((t1 - t0) * 1000)
        rss = rss_kb(feeder.pid)
        peak = status_kb(feeder.pid, "VmHWM")
        print("feeder initial sync: %d services x %d endpoints (%d objects listed) in xlbd "
              "after %.2f s" % (S, E, 2 * S, t_init))
        print("feeder watch event to datapath: p50 %.2f ms, p99 %.2f ms, max %.2f ms over %d "
              "changes (target p99 < 50 ms)" % (pct(lat, 0.5), pct(lat, 0.99), max(lat), len(lat)))
        per_ep = (rss - base) * 1024 / (S * E)
        print("feeder resident memory at %d services x %d endpoints: %.1f MiB (peak %.1f MiB); "
              "holding nothing %.1f MiB: %.0f bytes per endpoint (limit %d)"
              % (S, E, rss / 1024, peak / 1024, base / 1024, per_ep, a.max_bytes_per_endpoint))
        watch.cancel()
        # Judged at the size only: smaller runs (BENCH_QUICK) report.
        if S * E >= 100000 and per_ep > a.max_bytes_per_endpoint:
            raise SystemExit("feeder memory: %.0f bytes per endpoint, above %d"
                             % (per_ep, a.max_bytes_per_endpoint))
    finally:
        if feeder:
            feeder.terminate()
            feeder.wait(20)
        ch.close()
        xlbd.terminate()
        try:
            xlbd.wait(20)
        except subprocess.TimeoutExpired:
            xlbd.kill()
        subprocess.run([os.path.join(a.build, "xlbd"), "--cleanup", "--pin-dir", PIN],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        api.stop()
        log.close()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
