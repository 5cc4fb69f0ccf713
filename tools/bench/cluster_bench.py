#!/usr/bin/python3
"""Cluster benchmark: a pod reaching a ClusterIP on the three-node lab
(scripts/lab.sh cluster), the way the issue asks to judge the socket
programs. Run by tools/bench/cluster_bench.sh (which brings the lab up and
down); method and results in docs/benchmarks.md, "Cluster benchmark".

Client n1p1 (node 1), backend n2p1 (node 2), one backend in every setup so
that the server side does the same work:

  direct    to the backend's address, no xlb and no ruleset on node 1
            (pod to pod: the floor)
  socket    to the ClusterIP, xlbd on node 1 with socket LB (connect() is
            pointed at the backend; the packets are direct pod-to-pod)
  nftables  to the ClusterIP, kube-proxy's nftables-mode ruleset on node 1
            (DNAT in the stack, conntrack), no xlb
xlbd (socket) also has its tc programs on node 1's pod veths, as deployed:
every packet of every setup-"socket" flow passes them.

Measured in rounds, setups interleaved (each round in another order),
medians reported with the ratios the issue sets (socket >= 0.95 x direct
and >= 1.3 x nftables in new TCP connections/s; socket >= 0.98 x direct in
established throughput): the ratio of the medians, and the median (and
range) of each round's own ratio, whose two setups ran seconds apart, so
that the machine's load drifting between rounds cancels out. Then what
the socket program adds to one connect() (tools/bench/sock_bench.c).
Prints Markdown on stdout, progress on stderr; --plot FILE writes a PNG.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "bench"))
import lab_bench  # noqa: E402  (kube-proxy's nftables ruleset)

BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))
BIN = os.path.join(BUILD, "bench")
LAB = ["bash", os.path.join(ROOT, "scripts", "lab.sh"), "cluster"]
PREFIX = os.environ["LAB_PREFIX"]
RUN = "/run/" + PREFIX
PIN = "/sys/fs/bpf/%s/n1" % PREFIX
CLIENT_IP = "10.244.1.11"
BACKEND = "10.244.2.11"
NODE1 = "192.168.50.11"
VIP = "10.96.50.1"		# -> BACKEND:CONN_PORT
VIP_STREAM = "10.96.50.2"	# -> BACKEND:STREAM_PORT
CONN_PORT, STREAM_PORT = 9000, 9100
SETUPS = ["direct", "socket", "nftables"]


def log(msg):
    print("cluster_bench: " + msg, file=sys.stderr, flush=True)


class Broken(Exception):
    pass


def run(cmd, timeout=120, check=True, stdin=None):
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode:
        raise Broken("%s: exit %d: %s" % (" ".join(cmd[:6]), r.returncode,
                                          (r.stderr or r.stdout).strip()[-400:]))
    return r


def lab(*args, **kw):
    return run(LAB + list(args), **kw)


def in_pod(target, *cmd, **kw):
    return lab("exec", target, *cmd, **kw)


def node1(*cmd, **kw):
    return run(["nsenter", "--net=/run/netns/%s-n1" % PREFIX] + list(cmd), **kw)


def manifest():
    """The benchmark's two services, as kubectl prints them."""
    out = "apiVersion: v1\nkind: List\nitems:\n"
    for name, vip, port in (("conn", VIP, CONN_PORT), ("stream", VIP_STREAM, STREAM_PORT)):
        out += """- apiVersion: v1
  kind: Service
  metadata: {name: %s, namespace: bench}
  spec:
    clusterIP: %s
    ports:
    - {name: p, port: 80, protocol: TCP, targetPort: %d}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata:
    name: %s-1
    namespace: bench
    labels: {kubernetes.io/service-name: %s}
  addressType: IPv4
  endpoints:
  - addresses: [%s]
    conditions: {ready: true}
  ports:
  - {name: p, port: %d, protocol: TCP}
""" % (name, vip, port, name, name, BACKEND, port)
    return out


class Xlbd:
    """xlbd on node 1 only (the client's node): socket LB on its cgroup."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.proc = None
        self.sock = os.path.join(tmp, "xlbd.sock")
        with open(os.path.join(tmp, "svc.yaml"), "w") as f:
            f.write(manifest())

    def start(self):
        cg = lab("cgroup", "1").stdout.strip()
        os.makedirs(PIN, exist_ok=True)	# lab.sh cluster down removes it
        log_f = open(os.path.join(self.tmp, "xlbd.log"), "a")
        self.proc = subprocess.Popen(
            LAB + ["exec", "n1", os.path.join(BUILD, "xlbd"), "--pod-iface", "lxc*",
                   "--cgroup-root", cg, "--pin-dir", PIN, "--state-dir",
                   os.path.join(self.tmp, "state"), "--listen", "unix:" + self.sock],
            stdout=log_f, stderr=log_f)
        for _ in range(100):
            r = run([os.path.join(BUILD, "xlbctl"), "-s", "unix:" + self.sock, "apply", "-f",
                     os.path.join(self.tmp, "svc.yaml")], check=False)
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise Broken("xlbd did not start: see %s/xlbd.log" % self.tmp)

    def stop(self):
        """Stop it and take its programs away (pinned links outlive it)."""
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        node1(os.path.join(BUILD, "xlbd"), "--cleanup", "--dataplane", "xdp", "--pin-dir", PIN,
              check=False)


def nft_load():
    """kube-proxy's nftables table on node 1 with the two services (one
    target port each: lab_bench.gen_nft has one backend port per call, so
    the second call contributes only its own service's lines)."""
    lab_bench.NODE_IP = NODE1
    lab_bench.BE_PORT = CONN_PORT
    rules = lab_bench.gen_nft([{"name": "bench/conn", "vip": VIP, "ports": [("tcp", 80, "p")],
                                "backends": [BACKEND]}])
    lab_bench.BE_PORT = STREAM_PORT
    rules += "".join(l + "\n" for l in lab_bench.gen_nft(
        [{"name": "bench/stream", "vip": VIP_STREAM, "ports": [("tcp", 80, "p")],
          "backends": [BACKEND]}]).splitlines() if "bench/stream" in l or VIP_STREAM in l)
    node1("nft", "-f", "-", stdin=rules)


def nft_flush():
    """No kube-proxy table on node 1, and no conntrack entry left by it: a
    DNATed flow's entry keeps its reply tuple (backend -> client port) for
    minutes, and a direct connection from the same client port would clash
    with it and be dropped."""
    node1("nft", "delete", "table", "ip", "kube-proxy", check=False)
    node1("/usr/bin/python3", os.path.join(ROOT, "tools", "bench", "lab_bench.py"), "--ct-flush",
          timeout=30)


def conns(dst, a):
    r = in_pod("n1p1", os.path.join(BIN, "lab_bench_load"), "tcp", "--dst", dst,
               "--src", CLIENT_IP, "--seconds", str(a.seconds), "--warmup", "0.5",
               "--inflight", str(a.inflight), "--timeout-ms", "1000",
               timeout=int(a.seconds) + 40, check=False)
    try:
        j = json.loads(r.stdout)
    except ValueError:
        raise Broken("lab_bench_load: %s" % (r.stderr or r.stdout).strip()[-300:])
    if j.get("errors"):
        raise Broken("lab_bench_load to %s: %s errors: %s" % (dst, j["errors"], r.stdout.strip()))
    return j["rate"]


def stream(dst, a):
    r = in_pod("n1p1", os.path.join(BIN, "stream"), "get", "--dst", dst, "--seconds",
               str(a.stream_seconds), timeout=int(a.stream_seconds) + 30, check=False)
    try:
        j = json.loads(r.stdout)
    except ValueError:
        raise Broken("stream: %s" % (r.stderr or r.stdout).strip()[-300:])
    if "error" in j:
        raise Broken("stream to %s: %s" % (dst, j["error"]))
    return j["gbit_s"]


def connect_cost(a):
    cg = os.path.join(lab("cgroup", "1").stdout.strip().rsplit("/", 2)[0], PREFIX + "-sockbench")
    os.makedirs(cg, exist_ok=True)
    try:
        r = run([os.path.join(BIN, "sock_bench"), "--cgroup", cg, "--rounds",
                 str(a.cost_rounds), "--n", str(a.cost_n)], timeout=600)
        return json.loads(r.stdout)
    finally:
        for d in ("lb", "bare", ""):
            try:
                os.rmdir(os.path.join(cg, d) if d else cg)
            except OSError:
                pass


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one short round (CI)")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--seconds", type=float, default=2, help="per connection-rate run")
    ap.add_argument("--stream-seconds", type=float, default=2)
    ap.add_argument("--inflight", type=int, default=32)
    ap.add_argument("--cost-rounds", type=int, default=15)
    ap.add_argument("--cost-n", type=int, default=2000)
    ap.add_argument("--plot", help="write a PNG here (needs gnuplot)")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.seconds, a.stream_seconds, a.cost_rounds, a.cost_n = 1, 1, 1, 3, 300

    tmp = tempfile.mkdtemp(prefix="xlb-cluster-bench.")
    servers = [
        subprocess.Popen(LAB + ["exec", "n2p1", os.path.join(BIN, "lab_bench_srv"), "--name",
                                "n2p1", "--port", str(CONN_PORT), "--max-seconds", "3600"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen(LAB + ["exec", "n2p1", os.path.join(BIN, "stream"), "serve", "--port",
                                str(STREAM_PORT), "--max-seconds", "3600"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    xlbd = Xlbd(tmp)
    res = {s: {"conn": [], "gbit": []} for s in SETUPS}
    broken = None
    started = time.time()
    try:
        time.sleep(0.5)
        for r in range(a.rounds):
            order = SETUPS[r % 3:] + SETUPS[:r % 3]
            for s in order:
                nft_flush()
                if s == "socket":
                    if not xlbd.proc:
                        xlbd.start()
                else:
                    xlbd.stop()
                    if s == "nftables":
                        nft_load()
                if s == "direct":
                    c = conns("%s:%d" % (BACKEND, CONN_PORT), a)
                    g = stream("%s:%d" % (BACKEND, STREAM_PORT), a)
                else:
                    c = conns(VIP + ":80", a)
                    g = stream(VIP_STREAM + ":80", a)
                res[s]["conn"].append(c)
                res[s]["gbit"].append(g)
                log("round %d %-8s %8.0f conn/s %6.2f Gbit/s" % (r + 1, s, c, g))
        nft_flush()
        xlbd.stop()
        cost = connect_cost(a)
    except Broken as e:
        broken = str(e)
        cost = None
    finally:
        nft_flush()
        xlbd.stop()
        for p in servers:
            p.terminate()
        for p in servers:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()

    if broken:
        log("broken: " + broken)
        print("cluster benchmark broken: %s" % broken)
        return 1
    m = {s: {k: med(v) for k, v in res[s].items()} for s in SETUPS}
    print("### Cluster benchmark: pod -> ClusterIP (%d rounds, %.0f s each, %d in flight)\n"
          % (a.rounds, a.seconds, a.inflight))
    print("| setup | new TCP conn/s (median) | established Gbit/s (median) |")
    print("|---|---|---|")
    for s in SETUPS:
        print("| %s | %.0f | %.2f |" % (s, m[s]["conn"], m[s]["gbit"]))
    print("\n| ratio | of the medians | per round: median (min-max) | target |")
    print("|---|---|---|---|")
    for what, a_, b_, k, target in (("socket / direct, conn/s", "socket", "direct", "conn", 0.95),
                                    ("socket / nftables, conn/s", "socket", "nftables", "conn", 1.3),
                                    ("socket / direct, throughput", "socket", "direct", "gbit", 0.98)):
        per = [x / y for x, y in zip(res[a_][k], res[b_][k]) if y]
        print("| %s | %.2f | %.2f (%.2f-%.2f) | >= %.2f |" % (
            what, m[a_][k] / m[b_][k], med(per), min(per), max(per), target))
    print("\n### connect() with and without the socket program (ns, median of %d rounds of %d)\n"
          % (cost["rounds"], cost["n"]))
    print("| protocol | bare connect() | program, not a service | program, to a service "
          "| added by the program | the program's own run time (kernel bpf_stats): not a "
          "service / a service |")
    print("|---|---|---|---|---|---|")
    for p in ("tcp", "udp"):
        c = cost[p]
        print("| %s | %d | %d | %d | %+d | %d / %d |" % (
            p.upper(), c["bare_ns"], c["pass_ns"], c["lb_ns"], c["lb_cost_ns"],
            c.get("prog_pass_ns", -1), c.get("prog_lb_ns", -1)))
    print("\n(%.0f s, %s)" % (time.time() - started, os.uname().release))
    if a.plot:
        plot(a.plot, m, cost, tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def plot(path, m, cost, tmp):
    if not shutil.which("gnuplot"):
        log("gnuplot not found: no plot")
        return
    dat = os.path.join(tmp, "cluster.dat")
    with open(dat, "w") as f:
        for s in SETUPS:
            f.write("%s %.1f %.3f\n" % (s, m[s]["conn"], m[s]["gbit"]))
    r = run(["gnuplot", "-e", "dat='%s'; out='%s'" % (dat, path),
             os.path.join(ROOT, "tools", "bench", "cluster_bench.gp")], check=False)
    if r.returncode:
        log("gnuplot: %s" % r.stderr.strip()[-300:])
    else:
        log("plot: " + path)


if __name__ == "__main__":
    sys.exit(main())
