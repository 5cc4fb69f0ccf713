#!/usr/bin/python3
"""Control-plane benchmark: full sync and single endpoint changes.

Starts its own xlbd (hermetic: temp state dir and socket, own pin dir, no
interfaces), then with a standard gRPC client (python3-grpcio, stubs from
the repo's proto):
  1. full sync: one Sync snapshot of S services x E endpoints, timed from
     sending the first message to receiving its acknowledgement (sent by
     xlbd once the datapath has it); repeated R times (each a replace);
  2. single endpoint change: C UpsertService calls that change one
     endpoint of one service, each timed to its reply (which, too, comes
     after the datapath has it): p50 / p99;
  3. xlbd's resident memory after the sync.

  sync_bench.py [--services 10000] [--endpoints 10] [--rounds 3] [--changes 1000]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def stubs(tmp):
    out = os.path.join(tmp, "py")
    os.makedirs(out)
    proto = os.path.join(ROOT, "user/api/proto")
    subprocess.run(["protoc", "-I", proto, "--python_out=" + out, "--grpc_python_out=" + out,
                    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
                    os.path.join(proto, "xlb.proto")], check=True)
    sys.path.insert(0, out)
    import grpc
    import xlb_pb2
    import xlb_pb2_grpc
    return grpc, xlb_pb2, xlb_pb2_grpc


def service(m, i, eps, shift=0):
    # 10.96.0.0/12 for cluster IPs, 10.128.0.0/9 for endpoints
    vip = "10.%d.%d.%d" % (96 + (i >> 16), (i >> 8) & 255, i & 255)
    s = m.Service(name="bench/svc-%05d:http" % i, type=m.CLUSTER_IP, cluster_ip=vip, port=80,
                  protocol=m.TCP, algorithm=m.RR)
    for j in range(eps):
        k = i * eps + j + shift
        s.endpoints.append(m.Endpoint(address="10.%d.%d.%d" % (128 + (k >> 16), (k >> 8) & 255, k & 255),
                                      port=8080, ready=True, serving=True))
    return s


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def xlbd_start(pin, tmp, preexec_fn=None, log_level="warn"):
    """A hermetic xlbd (state and socket in tmp, pins in pin, no interface):
    (process, socket path), once the socket is there."""
    sock = os.path.join(tmp, "xlbd.sock")
    log = open(os.path.join(tmp, "xlbd.log"), "w")
    xlbd = subprocess.Popen([os.path.join(ROOT, "build/xlbd"), "--pin-dir", pin,
                             "--state-dir", os.path.join(tmp, "state"), "--listen", "unix:" + sock,
                             "--log-level", log_level], stdout=log, stderr=log,
                            preexec_fn=preexec_fn)
    for _ in range(300):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    return xlbd, sock


def xlbd_stop(xlbd, pin):
    xlbd.terminate()
    try:
        xlbd.wait(timeout=20)
    except subprocess.TimeoutExpired:
        xlbd.kill()
    subprocess.run([os.path.join(ROOT, "build/xlbd"), "--cleanup", "--pin-dir", pin],
                   capture_output=True)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--endpoints", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--changes", type=int, default=1000)
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="xlb-syncbench.")
    pin = "/sys/fs/bpf/xlb-syncbench"
    xlbd, sock = xlbd_start(pin, tmp)
    try:
        grpc, m, g = stubs(tmp)
        ch = grpc.insecure_channel("unix:" + sock, options=[
            ("grpc.max_send_message_length", 256 << 20)])
        stub = g.XlbStub(ch)
        S, E = a.services, a.endpoints
        times = []
        for r in range(a.rounds):
            # Each round replaces every endpoint (shifted addresses), so
            # every round does the full work, not a no-op.
            req = m.SyncRequest(version=r + 1, snapshot=True,
                                upserts=[service(m, i, E, shift=r * 7) for i in range(S)])
            size = req.ByteSize()
            t0 = time.perf_counter()
            ack = next(stub.Sync(iter([req]), timeout=600))
            dt = time.perf_counter() - t0
            if not ack.ok:
                raise SystemExit("sync rejected: %s" % ack.error)
            times.append(dt)
            print("full sync round %d: %d services x %d endpoints (%.1f MiB) acknowledged in %.3f s"
                  % (r + 1, S, E, size / 1048576, dt), flush=True)
        st = stub.GetStatus(m.GetStatusRequest(), timeout=30)
        rss = rss_kb(xlbd.pid)
        lat = []
        for c in range(a.changes):
            i = c % S
            s = service(m, i, E, shift=(a.rounds - 1) * 7)
            s.endpoints[c % E].address = "10.200.%d.%d" % ((c >> 8) & 255, c & 255)
            t0 = time.perf_counter()
            stub.UpsertService(m.UpsertServiceRequest(service=s), timeout=60)
            lat.append(time.perf_counter() - t0)
        ms = [x * 1000 for x in lat]
        print("services %d, endpoints %d in xlbd (version %d)" % (st.services, st.endpoints, st.version))
        print("full sync %dx%d: median %.3f s (min %.3f, max %.3f) over %d rounds"
              % (S, E, sorted(times)[len(times) // 2], min(times), max(times), len(times)))
        print("single endpoint change to datapath: p50 %.2f ms, p99 %.2f ms, max %.2f ms over %d changes"
              % (pct(ms, 0.5), pct(ms, 0.99), max(ms), len(ms)))
        print("xlbd resident memory at %d services: %.1f MiB" % (S, rss / 1024))
        ch.close()
    finally:
        xlbd_stop(xlbd, pin)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
