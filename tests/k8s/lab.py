#!/usr/bin/python3
"""xlb-k8s end to end in the single-node lab (suite k8s-lab, under the lab
lock): the test API server (tests/k8s/apiserver.py) serves Services,
EndpointSlices and this node's Node to xlb-k8s, which feeds xlbd; xlbd runs
in the lab's node namespace with XDP on its interfaces, and the client
namespace's real connections to the ClusterIP judge.

  - a Service and its slice created on the API server: new connections
    reach its endpoints; scaled, an endpoint not ready, a port added: the
    traffic follows;
  - 20 connections held to an unchanged Service while, in turn, xlb-k8s is
    killed (a Service is created meanwhile), xlbd is stopped and started
    again (it adopts its pins) and the API server is stopped and started:
    none of the held connections breaks, new ones keep working, and every
    change made meanwhile arrives;
  - a deleted Service: its ClusterIP no longer answers.

The feeder runs in the host's namespace (xlbd's unix socket reaches across
namespaces) and reaches the API server on 127.0.0.1. Prints TAP.

  lab.py [--build DIR]
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import apiserver  # noqa: E402
import cases as C  # noqa: E402  (puts tests/lib on the path)
import proc  # noqa: E402
import tap  # noqa: E402

P = "xlbk8s"
NODE_NS = P + "-node"
CLIENT_NS = P + "-client"
PIN = "/sys/fs/bpf/%s-lab" % P
NODE = "lab-node"
WEB_VIP, WEB = "10.96.0.30", "10.96.0.30:80"
LATE = "10.96.0.31:80"
WAIT = 30
Fail = C.Fail


def lab(*args):
    env = dict(os.environ, LAB_PREFIX=P, LAB_BACKENDS="4", LAB_CLIENT_ADDRS="0", LAB_EXT="0",
               LAB_PIN=PIN, XLB_DP="/nonexistent")
    return subprocess.run(["bash", os.path.join(ROOT, "scripts/lab.sh")] + list(args), env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=120)


def be(i):
    return "10.20.%d.2" % i


def service(name, ip, ports, **spec):
    o = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "lab"},
         "spec": {"clusterIP": ip, "clusterIPs": [ip], "type": "ClusterIP",
                  "ports": [{"name": n, "port": p, "protocol": "TCP", "targetPort": t}
                            for n, p, t in ports]}}
    o["spec"].update(spec)
    return o


def endpoint_slice(name, svc, port_names, eps):
    """eps: [(address, nodeName, ready[, zone])], all on port 8080; with a
    zone, the endpoint is in it and hinted for it (hints.forZones)."""
    def endpoint(a, node, ready, zone=None):
        e = {"addresses": [a], "nodeName": node,
             "conditions": {"ready": ready, "serving": ready, "terminating": False}}
        if zone:
            e.update(zone=zone, hints={"forZones": [{"name": zone}]})
        return e

    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": "lab",
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4",
            "ports": [{"name": n, "port": 8080, "protocol": "TCP"} for n in port_names],
            "endpoints": [endpoint(*e) for e in eps]}


def slice_of(name, svc, port_names, backends, not_ready=()):
    return endpoint_slice(name, svc, port_names,
                          [(be(i), NODE, i not in not_ready) for i in backends])


def node_obj(name, zone, addr):
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
            "status": {"addresses": [{"type": "InternalIP", "address": addr}]}}


def write_kubeconfig(path, api, token):
    with open(token, "w") as f:
        f.write("lab-token\n")
    with open(path, "w") as f:
        f.write("apiVersion: v1\nkind: Config\ncurrent-context: lab\nclusters:\n- name: lab\n"
                "  cluster: {server: 'https://127.0.0.1:%d', certificate-authority: %s}\n"
                "contexts:\n- name: lab\n  context: {cluster: lab, user: u}\nusers:\n"
                "- name: u\n  user: {tokenFile: %s}\n" % (api.port, api.ca_file, token))


def feeder(build, tmp, kubeconfig, node, sock):
    """An xlb-k8s for node, feeding the xlbd on sock, in this namespace
    (the API server is on 127.0.0.1; a unix socket reaches any namespace)."""
    return Proc("xlb-k8s " + node, [
        os.path.join(build, "xlb-k8s"), "--kubeconfig", kubeconfig, "--node-name", node,
        "--xlbd", "unix:" + sock, "--metrics", "off", "--log-level", "info"],
        os.path.join(tmp, "feeder-%s.log" % node), lambda: True)


class Proc:
    """A daemon with its log; start() waits for ready()."""

    def __init__(self, name, argv, log, ready):
        self.name, self.argv, self.log, self.ready = name, argv, log, ready
        self.p = None

    def start(self):
        with open(self.log, "a") as f:
            self.p = subprocess.Popen(self.argv, stdout=f, stderr=f)
        end = time.monotonic() + WAIT
        while time.monotonic() < end:
            if self.p.poll() is not None:
                raise Fail("%s exited %d: %s" % (self.name, self.p.returncode, self.tail()))
            if self.ready():
                return
            time.sleep(0.05)
        raise Fail("%s not ready in %d s: %s" % (self.name, WAIT, self.tail()))

    def stop(self, sig=signal.SIGTERM):
        """The exit status; None when it had to be killed."""
        rc, self.p = proc.stop(self.p, sig, 20), None
        return rc

    def tail(self):
        try:
            with open(self.log) as f:
                return f.read()[-800:]
        except OSError:
            return "(no log)"


class Lab:
    def __init__(self, build, tmp):
        self.tmp = tmp
        self.sock = os.path.join(tmp, "xlbd.sock")
        self.api = apiserver.ApiServer(os.path.join(tmp, "certs"), token="lab-token")
        self.api.start()
        kubeconfig = os.path.join(tmp, "kubeconfig")
        write_kubeconfig(kubeconfig, self.api, os.path.join(tmp, "token"))
        self.xlbctl = os.path.join(build, "xlbctl")
        self.xlbd = Proc("xlbd", [
            "nsenter", "--net=/run/netns/" + NODE_NS, os.path.join(build, "xlbd"),
            "--iface", "n-*", "--pin-dir", PIN, "--state-dir", os.path.join(tmp, "state"),
            "--listen", "unix:" + self.sock, "--node-name", NODE, "--log-level", "info"],
            os.path.join(tmp, "xlbd.log"), lambda: self.ctl("status").returncode == 0)
        self.feeder = feeder(build, tmp, kubeconfig, NODE, self.sock)

    def ctl(self, *args):
        return subprocess.run([self.xlbctl, "--server", "unix:" + self.sock] + list(args),
                              capture_output=True, text=True, timeout=30)

    def wait_traffic(self, dst, want, what, n=30):
        """New connections to dst until they reach exactly the backends
        named in want (each at least once, no errors)."""
        end = time.monotonic() + WAIT
        r = None
        while time.monotonic() < end:
            r = C.tcp(CLIENT_NS, dst, n)
            if not r["errors"] and set(r["counts"]) == set(want):
                return r
            time.sleep(0.3)
        raise Fail("%s: new connections to %s reach %s (errors %d), want %s\n%s" % (
            what, dst, C.fmt(r["counts"]), r["errors"], sorted(want), self.feeder.tail()))

    def wait_refused(self, dst, what):
        end = time.monotonic() + WAIT
        r = None
        while time.monotonic() < end:
            r = C.client(CLIENT_NS, "tcp", "--dst", dst, "-n", "3", "--timeout", "0.5")
            if r["errors"] == 3:
                return r
            time.sleep(0.3)
        raise Fail("%s: %s still answers: %s" % (what, dst, C.fmt(r["counts"])))


def case(name, fn):
    try:
        detail = fn()
        tap.ok("%s%s" % (name, ": " + detail if detail else ""))
    except Fail as e:
        tap.not_ok(name, str(e))


def run(lb):
    api = lb.api

    def create():
        api.apply(service("web", WEB_VIP, [("http", 80, 8080)]))
        api.apply(slice_of("web-a", "web", ["http"], [1, 2, 3]))
        r = lb.wait_traffic(WEB, ["be1", "be2", "be3"], "create")
        return C.fmt(r["counts"])

    def scale():
        api.apply(slice_of("web-a", "web", ["http"], [1, 2, 3, 4]))
        r1 = lb.wait_traffic(WEB, ["be1", "be2", "be3", "be4"], "scale up")
        api.apply(slice_of("web-a", "web", ["http"], [1, 2, 3, 4], not_ready=[1]))
        r2 = lb.wait_traffic(WEB, ["be2", "be3", "be4"], "be1 not ready")
        api.apply(slice_of("web-a", "web", ["http"], [2, 3]))
        r3 = lb.wait_traffic(WEB, ["be2", "be3"], "scale down")
        return "4 endpoints: %s; be1 not ready: %s; 2 endpoints: %s" % (
            C.fmt(r1["counts"]), C.fmt(r2["counts"]), C.fmt(r3["counts"]))

    def port_added():
        api.apply(service("web", WEB_VIP, [("http", 80, 8080), ("alt", 8000, 8080)]))
        api.apply(slice_of("web-a", "web", ["http", "alt"], [2, 3]))
        r = lb.wait_traffic(WEB_VIP + ":8000", ["be2", "be3"], "port added")
        return "port 8000: %s" % C.fmt(r["counts"])

    def restarts():
        steps = []

        def during():
            # The feeder killed; a Service created while it is away.
            lb.feeder.stop(signal.SIGKILL)
            api.apply(service("late", "10.96.0.31", [("http", 80, 8080)]))
            api.apply(slice_of("late-a", "late", ["http"], [4]))
            lb.wait_traffic(WEB, ["be2", "be3"], "feeder down")
            lb.feeder.start()
            lb.wait_traffic(LATE, ["be4"], "feeder back")
            steps.append("feeder killed, a Service created meanwhile arrives")
            # xlbd stopped and started again: it adopts its pins.
            rc = lb.xlbd.stop()
            if rc != 0:
                raise Fail("xlbd exit %s on SIGTERM" % rc)
            C.need_no_errors(C.tcp(CLIENT_NS, WEB, 20), "xlbd down")
            lb.xlbd.start()
            api.apply(slice_of("late-a", "late", ["http"], [1, 4]))
            lb.wait_traffic(LATE, ["be1", "be4"], "xlbd back")
            steps.append("xlbd restarted (new connections served while it was down)")
            # The API server stopped and started again.
            api.stop()
            time.sleep(1)
            lb.wait_traffic(WEB, ["be2", "be3"], "API server down")
            api.delete("Service", "lab", "late")
            api.start()
            lb.wait_refused(LATE, "API server back")
            steps.append("API server restarted, a deletion meanwhile arrives")
            time.sleep(0.5)

        r, _ = C.hold_through(CLIENT_NS, WEB, 20, lb.tmp, during)
        if r["broken"] or r["opened"] != 20:
            raise Fail("%d of %d held connections broken: %s" % (
                r["broken"], r["opened"], r["broken_detail"][:4]))
        return "20 held connections, %d pings, 0 broken through: %s" % (
            r["pings"], "; ".join(steps))

    def delete():
        api.delete("Service", "lab", "web")
        api.delete("EndpointSlice", "lab", "web-a")
        lb.wait_refused(WEB, "delete")
        return ""

    case("a Service and its slice created on the API server: the client's connections to "
         "its ClusterIP reach its endpoints", create)
    case("scaled up, an endpoint not ready, scaled down: new connections follow", scale)
    case("a port added to the Service is served", port_added)
    case("xlb-k8s killed, xlbd restarted, the API server restarted in turn: no held "
         "connection lost, every change made meanwhile arrives", restarts)
    case("a deleted Service's ClusterIP no longer answers", delete)


def suite_main(doc, tmp_prefix, body):
    """The lab suites' frame: --build, root, a temp dir with certs/ for
    body(build, tmp), which runs the cases and tears its lab down; a Fail
    out of it is one more not ok. Prints TAP's closing lines."""
    ap = argparse.ArgumentParser(description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root (namespaces, BPF)")
        return 0
    tmp = tempfile.mkdtemp(prefix=tmp_prefix)
    os.makedirs(os.path.join(tmp, "certs"))
    try:
        body(os.path.abspath(a.build), tmp)
    except Fail as e:
        tap.not_ok("the suite ran to its end", str(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.finish()


def body(build, tmp):
    lb = None
    try:
        r = lab("up")
        if r.returncode:
            raise Fail("lab up: " + r.stderr[-600:])
        lb = Lab(build, tmp)
        lb.api.apply(node_obj(NODE, "lab", "10.10.1.1"))
        lb.xlbd.start()
        lb.feeder.start()
        run(lb)
    finally:
        if lb:
            if tap.failed:
                tap.diag("xlbd: " + lb.xlbd.tail())
                tap.diag("xlb-k8s: " + lb.feeder.tail())
            lb.feeder.stop()
            lb.xlbd.stop()
            lb.api.stop()
        subprocess.run(["nsenter", "--net=/run/netns/" + NODE_NS, os.path.join(build, "xlbd"),
                        "--cleanup", "--dataplane", "xdp", "--pin-dir", PIN],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        lab("down")
        shutil.rmtree(PIN, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(suite_main(__doc__, "xlb-k8s-lab.", body))
