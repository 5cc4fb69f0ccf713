#!/usr/bin/python3
"""xlb-k8s end to end on the three-node cluster lab (suite k8s-cluster,
under the lab lock): the test API server (tests/k8s/apiserver.py) serves
Services, EndpointSlices and the three Nodes; every node runs an xlbd (as
tests/cluster/lb.sh starts them: socket programs on the node's cgroup, tc
on its pod veths, XDP on its NIC) and an xlb-k8s feeding it; real
connections from a pod on every node to the ClusterIP judge.

  - a Service with a backend pod on each node: a pod on every node
    reaches all three; scaled to one node's pod, every node follows;
  - xlbd is given no node name (the lab's nodes share one host name): the
    feeder's, from its Node, makes internalTrafficPolicy Local pick each
    node's own pod, and the Nodes' zones pick each zone's pod by the
    endpoints' topology hints;
  - connections held from a pod on node 1 to the Service while xlb-k8s
    on node 1 is killed (a Service created meanwhile reaches every node
    once it is back) and then xlbd on node 1 is stopped and started
    again: none breaks, and a change made after both restarts reaches
    every node.

The feeders run in the host's namespace (xlbd's unix socket reaches across
namespaces; the API server is on 127.0.0.1), each with its node's name.
Prints TAP.

  cluster.py [--build DIR]
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lab as L  # noqa: E402  (tests/e2e's cases and tests/lib's tap with it)

C, tap, Fail = L.C, L.tap, L.Fail
ROOT = L.ROOT
P = "xk%d" % os.getpid()
RUN = "/run/" + P
PY = "/usr/bin/python3"
NODES = (1, 2, 3)
WEB_VIP, WEB = "10.96.40.1", "10.96.40.1:80"
LATE = "10.96.40.2:80"


LAB = ["bash", os.path.join(ROOT, "scripts/lab.sh"), "cluster"]
os.environ.update(LAB_PREFIX=P, LAB_NODES="3", LAB_PODS="2")


def lab(*args, timeout=120):
    return subprocess.run(LAB + list(args), capture_output=True, text=True, timeout=timeout)


def pod_ip(n, p):
    return "10.244.%d.%d" % (n, 10 + p)


def backends(*nodes, zoned=False):
    """The second pod of each node as an endpoint on it (zoned: in the
    node's zone and hinted for it)."""
    return [(pod_ip(n, 2), "n%d" % n, True) + (("zone-%d" % n,) if zoned else ())
            for n in nodes]


def names(dst, frm, n=30):
    """Which pods answered n new connections from pod frm (nNp1) to dst,
    and the errors."""
    r = lab("exec", frm, PY, C.CLIENT, "tcp", "--dst", dst, "-n", str(n), timeout=150)
    try:
        out = json.loads(r.stdout)
    except ValueError:
        raise Fail("client in %s: no JSON: %s" % (frm, (r.stderr or r.stdout)[-300:]))
    counts = {}
    for k, v in out["counts"].items():
        counts[k.partition(" ")[0]] = counts.get(k.partition(" ")[0], 0) + v
    return counts, out["errors"]


def xlbd_argv(build, n):
    """tests/cluster/lb.sh's xlbd on node n, started in the node's cgroup
    and network namespace as scripts/lab.sh cluster spawn does, but with no
    --node-name: its feeder names the node."""
    cg = lab("cgroup", str(n)).stdout.strip()
    pin = "/sys/fs/bpf/%s/n%d" % (P, n)
    os.makedirs(pin, exist_ok=True)
    return ["sh", "-c", 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"', "sh", cg,
            "nsenter", "--net=/run/netns/%s-n%d" % (P, n), os.path.join(build, "xlbd"),
            "--iface", "eth0", "--pod-iface", "lxc*", "--cgroup-root", cg, "--pin-dir", pin,
            "--state-dir", "%s/state-n%d" % (RUN, n), "--listen",
            "unix:%s/xlbd-n%d.sock" % (RUN, n), "--log-level", "info"]


class Cluster:
    def __init__(self, build, tmp):
        self.build, self.tmp = build, tmp
        self.api = L.apiserver.ApiServer(os.path.join(tmp, "certs"), token="lab-token")
        self.api.start()
        kubeconfig = os.path.join(tmp, "kubeconfig")
        L.write_kubeconfig(kubeconfig, self.api, os.path.join(tmp, "token"))
        self.xlbd, self.feeder = {}, {}
        for n in NODES:
            sock = "%s/xlbd-n%d.sock" % (RUN, n)
            self.xlbd[n] = L.Proc("xlbd n%d" % n, xlbd_argv(build, n),
                                  os.path.join(tmp, "xlbd-n%d.log" % n),
                                  lambda s=sock: self.ctl(s, "status").returncode == 0)
            self.feeder[n] = L.feeder(build, tmp, kubeconfig, "n%d" % n, sock)

    def ctl(self, sock, *args):
        return subprocess.run([os.path.join(self.build, "xlbctl"), "--server", "unix:" + sock]
                              + list(args), capture_output=True, text=True, timeout=30)

    def wait_everywhere(self, dst, want, what):
        """New connections from a pod on every node n reach exactly the pods
        in want (or want(n)), each at least once, without errors."""
        for n in NODES:
            w = want(n) if callable(want) else want
            end = time.monotonic() + L.WAIT
            while True:
                counts, errors = names(dst, "n%dp1" % n)
                if not errors and set(counts) == set(w):
                    break
                if time.monotonic() > end:
                    raise Fail("%s: from n%dp1 to %s: %s, %d errors; want %s\n%s" % (
                        what, n, dst, C.fmt(counts), errors, sorted(w),
                        self.feeder[n].tail()))
                time.sleep(0.3)
        return C.fmt(counts)

    def stop(self):
        for n in NODES:
            self.feeder[n].stop()
            self.xlbd[n].stop()
        self.api.stop()


def run(cl):
    api = cl.api

    def create():
        api.apply(L.service("web", WEB_VIP, [("http", 80, 8080)]))
        api.apply(L.endpoint_slice("web-a", "web", ["http"], backends(1, 2, 3)))
        return "from n3p1: " + cl.wait_everywhere(WEB, ["n1p2", "n2p2", "n3p2"], "create")

    def scale():
        api.apply(L.endpoint_slice("web-a", "web", ["http"], backends(2)))
        one = cl.wait_everywhere(WEB, ["n2p2"], "scaled to n2's pod")
        api.apply(L.endpoint_slice("web-a", "web", ["http"], backends(1, 2, 3)))
        cl.wait_everywhere(WEB, ["n1p2", "n2p2", "n3p2"], "scaled back")
        return "scaled to one: %s; back to three" % one

    def placed():
        api.apply(L.service("local", "10.96.40.3", [("http", 80, 8080)],
                            internalTrafficPolicy="Local"))
        api.apply(L.endpoint_slice("local-a", "local", ["http"], backends(1, 2, 3)))
        cl.wait_everywhere("10.96.40.3:80", lambda n: ["n%dp2" % n], "Local")
        api.apply(L.service("zoned", "10.96.40.4", [("http", 80, 8080)]))
        api.apply(L.endpoint_slice("zoned-a", "zoned", ["http"], backends(1, 2, 3, zoned=True)))
        cl.wait_everywhere("10.96.40.4:80", lambda n: ["n%dp2" % n], "zones")
        for n in ("local", "zoned"):
            api.delete("Service", "lab", n)
            api.delete("EndpointSlice", "lab", n + "-a")
        return "each node's pods reach its own backend pod, by policy Local and by zone"

    def restarts():
        def during():
            cl.feeder[1].stop(signal.SIGKILL)
            api.apply(L.service("late", "10.96.40.2", [("http", 80, 8080)]))
            api.apply(L.endpoint_slice("late-a", "late", ["http"], backends(3)))
            cl.feeder[1].start()
            cl.wait_everywhere(LATE, ["n3p2"], "a Service created while n1's feeder was away")
            rc = cl.xlbd[1].stop()
            if rc != 0:
                raise Fail("xlbd n1 exit %s on SIGTERM" % rc)
            cl.xlbd[1].start()
            api.apply(L.endpoint_slice("late-a", "late", ["http"], backends(1, 3)))
            cl.wait_everywhere(LATE, ["n1p2", "n3p2"], "a change after n1's xlbd restarted")

        r, _ = C.hold_through(LAB + ["exec", "n1p1"], WEB, 10, cl.tmp, during)
        if r["broken"] or r["opened"] != 10:
            raise Fail("%d of %d held connections broken: %s" % (
                r["broken"], r["opened"], r["broken_detail"][:4]))
        return "10 held connections from n1p1, %d pings, 0 broken" % r["pings"]

    L.case("a Service with a backend pod on each node: a pod on every node reaches all three",
           create)
    L.case("scaled to one node's pod and back: every node follows", scale)
    L.case("xlbd given no node name: the feeder's node names serve internalTrafficPolicy "
           "Local and its zones serve topology hints", placed)
    L.case("xlb-k8s killed and xlbd restarted on node 1 while connections are held from its "
           "pod: none breaks; changes made meanwhile and after reach every node", restarts)


def body(build, tmp):
    cl = None
    try:
        r = lab("up")
        if r.returncode:
            raise Fail("cluster lab up: " + r.stderr[-600:])
        cl = Cluster(build, tmp)
        for n in NODES:
            cl.api.apply(L.node_obj("n%d" % n, "zone-%d" % n, "192.168.50.%d" % (10 + n)))
            cl.xlbd[n].start()
            cl.feeder[n].start()
        run(cl)
    finally:
        if cl:
            if tap.failed:
                for n in NODES:
                    tap.diag("xlbd n%d: %s" % (n, cl.xlbd[n].tail()))
            cl.stop()
        for n in NODES:
            pin = "/sys/fs/bpf/%s/n%d" % (P, n)
            if os.path.isdir(pin):
                subprocess.run(["nsenter", "--net=/run/netns/%s-n%d" % (P, n),
                                os.path.join(build, "xlbd"), "--cleanup", "--dataplane", "xdp",
                                "--pin-dir", pin], capture_output=True, timeout=30)
        lab("down")
        shutil.rmtree("/sys/fs/bpf/" + P, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(L.suite_main(__doc__, "xlb-k8s-cluster.", body))
