#!/usr/bin/python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""xlbd's gRPC API, judged by what a standard gRPC client (python3-grpcio) gets.

Three ways to find a daemon:
  --target unix:PATH     a daemon already running (its services are wiped!)
  --xlbd build/xlbd      start xlbd (root): private --pin-dir under /sys/fs/bpf,
                         temporary --state-dir, --iface a veth in a throwaway
                         network namespace
  --harness build/api-harness
                         start the API test harness (real core and BPF
                         dataplane, no interface; root)
With none, build/xlbd is used if it exists, else build/api-harness.
When the script starts the daemon it also checks the socket's mode, clean
shutdown (streams end UNAVAILABLE, exit 0, socket removed), persistence across
a restart and a corrupt state file being set aside.

Stubs are generated from user/api/proto/xlb.proto into a temporary directory
with protoc and /usr/bin/grpc_python_plugin (Debian: protobuf-compiler,
protobuf-compiler-grpc, python3-grpcio, python3-protobuf).

Results are TAP (tests/lib/tap.py); closing line: "N passed, N failed".
"""
import argparse
import glob
import importlib
import os
import queue
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO = os.path.join(ROOT, "user", "api", "proto", "xlb.proto")
MAX_MSG = 64 << 20
TIMEOUT = 10

sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import proc  # noqa: E402
import tap  # noqa: E402

grpc = pb = pbg = None


def gen_stubs(outdir):
    global grpc, pb, pbg
    plugin = shutil.which("grpc_python_plugin") or "/usr/bin/grpc_python_plugin"
    subprocess.run(["protoc", "--proto_path=" + os.path.dirname(PROTO),
                    "--python_out=" + outdir, "--grpc_python_out=" + outdir,
                    "--plugin=protoc-gen-grpc_python=" + plugin, PROTO], check=True)
    sys.path.insert(0, outdir)
    grpc = importlib.import_module("grpc")
    pb = importlib.import_module("xlb_pb2")
    pbg = importlib.import_module("xlb_pb2_grpc")


def check(cond, name, detail=""):
    return tap.check(cond, name, detail)


# --- daemon -------------------------------------------------------------------

class Daemon:
    """A daemon this script started (xlbd or the harness) and can restart."""

    def __init__(self, kind, binary, workdir):
        self.kind, self.binary, self.workdir = kind, binary, workdir
        self.sockdir = os.path.join(workdir, "run", "xlb")   # created by the daemon
        self.sock = os.path.join(self.sockdir, "xlbd.sock")
        self.state_dir = os.path.join(workdir, "state")
        self.target = "unix:" + self.sock
        self.proc = None
        self.log = os.path.join(workdir, "daemon.log")
        self.ns = self.pin_dir = None
        self.extra = []     # more options for the next starts
        self.wrap = []      # a command that runs the daemon (prlimit ...)
        # ip netns exec gives xlbd a /sys, so a bpffs, of its own: its pins
        # go with it. keep_pins: nsenter, the host's bpffs, pins that outlive
        # it (and no socket programs, which would find the host's cgroup).
        self.keep_pins = False
        if kind == "xlbd":
            tag = "xlbapi%d" % os.getpid()
            self.ns = tag
            self.pin_dir = "/sys/fs/bpf/" + tag
            subprocess.run(["ip", "netns", "add", tag], check=True)
            subprocess.run(["ip", "-n", tag, "link", "add", "xapi0", "type", "veth",
                            "peer", "name", "xapi1"], check=True)
            for dev in ("xapi0", "xapi1", "lo"):
                subprocess.run(["ip", "-n", tag, "link", "set", dev, "up"], check=True)
            subprocess.run(["ip", "-n", tag, "addr", "add", "192.0.2.1/24", "dev", "xapi0"],
                           check=True)

    def cmd(self, listen=None, extra=()):
        """The command line; listen: the --listen values (default: the socket)."""
        ls = []
        for a in listen or [self.target]:
            ls += ["--listen", a]
        if self.kind == "xlbd":
            enter = ["nsenter", "--net=/run/netns/" + self.ns] if self.keep_pins else \
                ["ip", "netns", "exec", self.ns]
            keep = ["--socket-lb", "off"] if self.keep_pins else []
            return enter + self.wrap + [self.binary] + ls + [
                "--state-dir", self.state_dir, "--pin-dir", self.pin_dir,
                "--iface", "xapi0", "--dataplane", "xdp"] + keep + self.extra + list(extra)
        return self.wrap + [self.binary] + ls + ["--state-dir", self.state_dir] + self.extra + \
            list(extra)

    def netns_prefix(self):
        return ["ip", "netns", "exec", self.ns] if self.ns else []

    def start(self):
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(self.cmd(), stdout=log, stderr=log)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("daemon exited with %d; log:\n%s" % (self.proc.returncode,
                                                                        self.tail()))
            if os.path.exists(self.sock):
                try:
                    with grpc.insecure_channel(self.target) as ch:
                        pbg.XlbStub(ch).GetStatus(pb.GetStatusRequest(), timeout=2)
                    return
                except grpc.RpcError:
                    pass
            time.sleep(0.1)
        raise RuntimeError("daemon did not answer within 20 s; log:\n" + self.tail())

    def restart_with(self, extra):
        """Stop, then start once with these more options."""
        self.stop()
        self.extra = list(extra)
        self.start()
        self.extra = []

    def stop(self, timeout=15):
        """SIGTERM; the exit code (None if it had to be killed)."""
        return proc.stop(self.proc, timeout=timeout)

    def tail(self):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-30:])
        except OSError:
            return ""

    def cleanup(self):
        self.stop()
        if self.ns:
            subprocess.run(["ip", "netns", "del", self.ns], stderr=subprocess.DEVNULL)
        if self.pin_dir and os.path.isdir(self.pin_dir):
            subprocess.run(["rm", "-rf", self.pin_dir])


# --- helpers ------------------------------------------------------------------

def channel(target):
    return grpc.insecure_channel(target, options=[
        ("grpc.max_receive_message_length", MAX_MSG),
        ("grpc.max_send_message_length", -1)])


def ep(addr, port=8080, **kw):
    return pb.Endpoint(address=addr, port=port, **kw)


def svc(name, vip, port=80, n_eps=2, **kw):
    kw.setdefault("protocol", pb.TCP)
    s = pb.Service(name=name, cluster_ip=vip, port=port, **kw)
    for i in range(n_eps):
        s.endpoints.append(ep("10.1.%d.%d" % (i >> 8, (i & 0xff) + 1), ready=True, serving=True))
    return s


def desired(stub):
    """The desired half of ListServices, comparable."""
    r = stub.ListServices(pb.ListServicesRequest(), timeout=TIMEOUT)
    return [s.service.SerializeToString(deterministic=True) for s in r.services]


def wipe(stub):
    stub.Restore(pb.RestoreRequest(), timeout=60)


def rpc_error(fn):
    """(code, details) of a failing call, or (OK, result)."""
    try:
        return grpc.StatusCode.OK, fn()
    except grpc.RpcError as e:
        return e.code(), e.details() or ""


class Stream:
    """A stream's responses, read by a thread, with a timeout per message."""

    def __init__(self, call):
        self.call = call
        self.q = queue.Queue()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        try:
            for m in self.call:
                self.q.put(("msg", m))
            self.q.put(("end", None))
        except grpc.RpcError as e:
            self.q.put(("err", e))

    def next(self, timeout=TIMEOUT):
        return self.q.get(timeout=timeout)


class SyncStream:
    def __init__(self, ch):
        self.req = queue.Queue()
        self.stream = Stream(pbg.XlbStub(ch).Sync(iter(self.req.get, None)))

    def send(self, m):
        self.req.put(m)

    def recv(self, timeout=TIMEOUT):
        kind, m = self.stream.next(timeout)
        if kind != "msg":
            raise RuntimeError("stream ended: %s" % (m.code() if m else "OK"))
        return m

    def close(self):
        self.req.put(None)


# --- tests --------------------------------------------------------------------

def test_status(stub, d):
    r = stub.GetStatus(pb.GetStatusRequest(), timeout=TIMEOUT)
    check(r.dataplane in ("xdp", "ipvs"), "GetStatus names the dataplane", repr(r.dataplane))
    check(len(r.counters) > 0 and "rx" in r.counters, "GetStatus has the datapath counters")
    check(r.health_tcp_probe == "half-open",
          "GetStatus: TCP probes are half-open (xlbd runs as root)", repr(r.health_tcp_probe))


def test_socket(d):
    if not d:
        return
    st = os.stat(d.sock)
    check(stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600,
          "socket is mode 0600", oct(st.st_mode))
    dm = stat.S_IMODE(os.stat(d.sockdir).st_mode)
    check(dm == 0o700, "socket directory created 0700", oct(dm))


# Capabilities by number (linux/capability.h) and each thread role's set,
# as docs/operations.md documents them for the XDP dataplane on this kernel.
CAP = {"kill": 5, "net_admin": 12, "net_raw": 13, "sys_admin": 21, "sys_resource": 24,
       "perfmon": 38, "bpf": 39}
ROLE_CAPS = {
    "main": {"net_admin", "sys_admin", "bpf", "perfmon", "net_raw", "sys_resource", "kill"},
    "writer": {"net_admin", "bpf"},
    "net": set(),
}


def test_thread_caps(d):
    """Every thread of xlbd within its role's capabilities: the main loop,
    the writers, and nothing at all for the threads that face the network
    (gRPC's, xlbd-api, the metrics server)."""
    if not d or d.kind != "xlbd":
        return
    pid = d.proc.pid
    seen, bad = {}, []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                st = dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)
        except OSError:
            continue        # the thread ended meanwhile
        comm = st["Name"]
        role = "main" if tid == str(pid) else "writer" if comm == "xlbd-writer" else "net"
        seen[role] = seen.get(role, 0) + 1
        allowed = sum(1 << CAP[c] for c in ROLE_CAPS[role])
        for field in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"):
            v = int(st[field], 16)
            if v & ~(allowed if field not in ("CapInh", "CapAmb") else 0):
                bad.append("%s %s (%s): %s %016x" % (tid, comm, role, field, v))
        if st.get("NoNewPrivs", "").strip() != "1":
            bad.append("%s %s: NoNewPrivs %s" % (tid, comm, st.get("NoNewPrivs")))
    check(not bad and seen.get("main") == 1 and seen.get("writer", 0) >= 1 and
          seen.get("net", 0) >= 3,
          "no thread above its documented capabilities: %s" % ", ".join(
              "%d %s" % (n, r) for r, n in sorted(seen.items())), "; ".join(bad[:8]))


def test_upsert_list_set_delete(stub):
    wipe(stub)
    s = svc("web/a:http", "10.96.0.10", n_eps=0, type=pb.NODE_PORT, node_port=30080,
            algorithm=pb.SH, affinity_timeout_seconds=600,
            health_check=pb.HealthCheck(kind=pb.HealthCheck.HTTP_GET, http_path="/healthz",
                                        period_ms=2000))
    s.endpoints.extend([ep("10.1.0.1", ready=True, name="web-0"),
                        ep("10.1.0.2", weight=5, weight_set=True, ready=True),
                        ep("10.1.0.3", weight=0, weight_set=True, terminating=True)])
    v1 = stub.UpsertService(pb.UpsertServiceRequest(service=s), timeout=TIMEOUT).version
    check(v1 > 0, "UpsertService returns a version", str(v1))
    r = stub.ListServices(pb.ListServicesRequest(name="web/a:http"), timeout=TIMEOUT)
    got = r.services[0].service if len(r.services) == 1 else None
    want = pb.Service()
    want.CopyFrom(s)
    want.endpoints[0].weight, want.endpoints[0].weight_set = 1, True
    check(got == want, "ListServices returns what was upserted (unset weight = 1)",
          "got %s" % got)
    check([e.health for e in r.services[0].endpoints] == ["unknown"] * 3,
          "endpoint health is unknown before any probe",
          str([e.health for e in r.services[0].endpoints]))

    v2 = stub.SetEndpoints(pb.SetEndpointsRequest(service="web/a:http", endpoints=[
        ep("10.2.0.1", port=9090, ready=True), ep("10.2.0.2", port=9090, ready=True)]),
        timeout=TIMEOUT).version
    r = stub.ListServices(pb.ListServicesRequest(name="web/a:http"), timeout=TIMEOUT)
    check(v2 > v1 and [(e.address, e.port) for e in r.services[0].service.endpoints] ==
          [("10.2.0.1", 9090), ("10.2.0.2", 9090)] and r.services[0].service.port == 80,
          "SetEndpoints replaces the endpoints only")
    st = stub.GetStatus(pb.GetStatusRequest(), timeout=TIMEOUT)
    check(st.services == 1 and st.endpoints == 2 and st.version == v2,
          "GetStatus counts services, endpoints and the version",
          "%d %d %d" % (st.services, st.endpoints, st.version))

    v3 = stub.DeleteService(pb.DeleteServiceRequest(name="web/a:http"), timeout=TIMEOUT).version
    code, msg = rpc_error(lambda: stub.ListServices(
        pb.ListServicesRequest(name="web/a:http"), timeout=TIMEOUT))
    check(v3 > v2 and code == grpc.StatusCode.NOT_FOUND and desired(stub) == [],
          "DeleteService removes it", "%s %s" % (code, msg))


def raw_with(s, placeholder, bad):
    """UpsertServiceRequest bytes with one string's bytes replaced."""
    b = pb.UpsertServiceRequest(service=s).SerializeToString()
    assert placeholder.encode() in b and len(placeholder) == len(bad)
    return b.replace(placeholder.encode(), bad)


def test_bad_requests(stub, ch):
    wipe(stub)
    stub.UpsertService(pb.UpsertServiceRequest(service=svc("base/b", "10.96.1.1", type=pb.NODE_PORT,
                                                           node_port=30001)), timeout=TIMEOUT)
    before = desired(stub)
    raw = {m: ch.unary_unary("/xlb.v1.Xlb/" + m) for m in
           ("UpsertService", "SetEndpoints", "DeleteService", "Restore", "ListServices")}
    up = lambda s: (lambda: stub.UpsertService(pb.UpsertServiceRequest(service=s), timeout=TIMEOUT))

    def mod(**kw):
        s = svc("bad/x", "10.96.2.1")
        for k, v in kw.items():
            if isinstance(v, pb.HealthCheck):
                getattr(s, k).CopyFrom(v)
            else:
                setattr(s, k, v)
        return s

    def mod_ep(i, **kw):
        s = svc("bad/x", "10.96.2.1", n_eps=3)
        for k, v in kw.items():
            setattr(s.endpoints[i], k, v)
        return s

    many = svc("bad/x", "10.96.2.1", n_eps=513)
    dup = svc("bad/x", "10.96.2.1", n_eps=2)
    dup.endpoints[1].address = dup.endpoints[0].address
    utf8_name = svc("ZZZZ", "10.96.2.1")
    utf8_ep = svc("bad/x", "10.96.2.1")
    utf8_ep.endpoints[0].name = "QQQQ"
    INV, NF = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND

    cases = [
        ("unknown service: DeleteService", lambda: stub.DeleteService(
            pb.DeleteServiceRequest(name="svc/absent"), timeout=TIMEOUT), NF, "svc/absent"),
        ("unknown service: SetEndpoints", lambda: stub.SetEndpoints(pb.SetEndpointsRequest(
            service="svc/absent", endpoints=[ep("10.1.0.1")]), timeout=TIMEOUT), NF, "svc/absent"),
        ("unknown service: ListServices", lambda: stub.ListServices(
            pb.ListServicesRequest(name="svc/absent"), timeout=TIMEOUT), NF, "svc/absent"),
        ("bad address: cluster_ip 10.0.0.300", up(mod(cluster_ip="10.0.0.300")), INV,
         "service.cluster_ip: not an IPv4 address"),
        ("bad address: IPv6 cluster_ip", up(mod(cluster_ip="fd00::1")), INV, "service.cluster_ip"),
        ("bad address: endpoint 10.1.0.x", up(mod_ep(1, address="10.1.0.x")), INV,
         "service.endpoints[1].address: not an IPv4 address"),
        ("port 70000", up(mod(port=70000)), INV, "service.port out of range: 70000"),
        ("port 0", up(mod(port=0)), INV, "service.port out of range: 0"),
        ("endpoint port 70000", up(mod_ep(2, port=70000)), INV,
         "service.endpoints[2].port out of range: 70000"),
        ("node_port 70000", up(mod(type=pb.NODE_PORT, node_port=70000)), INV,
         "service.node_port out of range: 70000"),
        ("weight 70000", up(mod_ep(0, weight=70000, weight_set=True)), INV,
         "service.endpoints[0].weight out of range: 70000"),
        ("unknown enum: protocol 7", up(mod(protocol=7)), INV, "service.protocol: unknown value 7"),
        ("unknown enum: type 9", up(mod(type=9)), INV, "service.type: unknown value 9"),
        ("unknown enum: algorithm 9", up(mod(algorithm=9)), INV,
         "service.algorithm: unknown value 9"),
        ("unknown enum: health kind 9", up(mod(health_check=pb.HealthCheck(kind=9))), INV,
         "service.health_check.kind: unknown value 9"),
        ("protocol unset", up(mod(protocol=0)), INV, "service.protocol: required"),
        ("duplicate endpoint", up(dup), INV,
         "service.endpoints[1]: duplicate of service.endpoints[0]"),
        ("too many endpoints (513)", up(many), INV, "service.endpoints: too many endpoints: 513"),
        ("name of 200 bytes", up(mod(name="n" * 200)), INV, "service.name: too long"),
        ("empty name", up(mod(name="")), INV, "service.name: required"),
        ("no service", lambda: stub.UpsertService(pb.UpsertServiceRequest(), timeout=TIMEOUT),
         INV, "service: required"),
        ("cluster IP:port taken by another service", up(svc("bad/x", "10.96.1.1")),
         grpc.StatusCode.ALREADY_EXISTS, "already used"),
        ("node port taken by another service",
         up(svc("bad/x", "10.96.2.1", type=pb.NODE_PORT, node_port=30001)),
         grpc.StatusCode.ALREADY_EXISTS, "node_port 30001"),
        ("SetEndpoints port 0", lambda: stub.SetEndpoints(pb.SetEndpointsRequest(
            service="base/b", endpoints=[ep("10.1.0.1", port=0)]), timeout=TIMEOUT), INV,
         "endpoints[0].port out of range: 0"),
        ("SetEndpoints duplicate", lambda: stub.SetEndpoints(pb.SetEndpointsRequest(
            service="base/b", endpoints=[ep("10.1.0.1"), ep("10.1.0.1")]), timeout=TIMEOUT), INV,
         "endpoints[1]: duplicate of endpoints[0]"),
        ("invalid UTF-8 in the name", lambda: raw["UpsertService"](
            raw_with(utf8_name, "ZZZZ", b"\xc3\x28ZZ"), timeout=TIMEOUT), INV,
         "service.name: invalid UTF-8 at byte 0"),
        ("invalid UTF-8 in an endpoint name", lambda: raw["UpsertService"](
            raw_with(utf8_ep, "QQQQ", b"Q\xed\xa0\x80"), timeout=TIMEOUT), INV,
         "service.endpoints[0].name: invalid UTF-8 at byte 1"),
        # protobuf-c would cut these at the NUL: "r/nul" stored, the rest lost
        ("NUL in the name", up(mod(name="r/nul\0-evil-suffix")), INV,
         "service.name: NUL byte at byte 5"),
        ("NUL in an endpoint address", up(mod_ep(2, address="10.50.0.2\0garbage")), INV,
         "service.endpoints[2].address: NUL byte at byte 9"),
        ("NUL in a health check path", up(mod(health_check=pb.HealthCheck(
            kind=pb.HealthCheck.HTTP_GET, port=80, http_path="/ok\0"))), INV,
         "service.health_check.http_path: NUL byte at byte 3"),
        ("NUL in DeleteService's name", lambda: stub.DeleteService(
            pb.DeleteServiceRequest(name="base/b\0"), timeout=TIMEOUT), INV,
         "name: NUL byte at byte 6"),
        ("NUL in a Restore", lambda: stub.Restore(pb.RestoreRequest(
            services=[svc("r/1", "10.96.3.1"), svc("r/2\0x", "10.96.3.2")]), timeout=TIMEOUT),
         INV, "services[1].name: NUL byte at byte 3"),
        ("Restore: invalid service, nothing restored", lambda: stub.Restore(pb.RestoreRequest(
            services=[svc("r/1", "10.96.3.1"), svc("r/2", "10.96.3.2", port=0)]),
            timeout=TIMEOUT), INV, "services[1].port out of range: 0"),
        ("Restore: the same name twice", lambda: stub.Restore(pb.RestoreRequest(
            services=[svc("r/1", "10.96.3.1"), svc("r/1", "10.96.3.2")]), timeout=TIMEOUT),
         INV, "services[1].name: duplicate of services[0]"),
        # exec probes run commands on the node: off unless xlbd was told
        ("exec health check, exec probes off", up(mod(health_check=pb.HealthCheck(
            kind=pb.HealthCheck.EXEC, command=["/bin/true"]))), grpc.StatusCode.PERMISSION_DENIED,
         "service bad/x: health_check.exec: exec probes are off on this node "
         "(xlbd --allow-exec-probes)"),
        ("exec health check in a Restore, exec probes off", lambda: stub.Restore(pb.RestoreRequest(
            services=[mod(health_check=pb.HealthCheck(kind=pb.HealthCheck.EXEC,
                                                      command=["/bin/true"]))]), timeout=TIMEOUT),
         grpc.StatusCode.PERMISSION_DENIED, "exec probes are off"),
        ("unknown method", lambda: ch.unary_unary("/xlb.v1.Xlb/Nope")(b"", timeout=TIMEOUT),
         grpc.StatusCode.UNIMPLEMENTED, "unknown method /xlb.v1.Xlb/Nope"),
        ("unknown service", lambda: ch.unary_unary("/other.Svc/Get")(b"", timeout=TIMEOUT),
         grpc.StatusCode.UNIMPLEMENTED, "unknown method /other.Svc/Get"),
    ]
    malformed = [("truncated length", b"\x0a\xff\xff\xff"),
                 ("bad varint", b"\x08" + b"\xff" * 11),
                 ("truncated field", b"\x0a\x05\x0a\x03ab"),
                 ("bad wire type", b"\x0f\x01")]
    for m in raw:
        for desc, b in malformed:
            cases.append(("malformed bytes (%s) to %s" % (desc, m),
                          (lambda m=m, b=b: raw[m](b, timeout=TIMEOUT)), INV, "malformed request"))
    for desc, fn, want, text in cases:
        code, msg = rpc_error(fn)
        same = desired(stub) == before
        check(code == want and text in msg and same, "bad request: " + desc,
              "%s \"%s\"%s" % (code, msg, "" if same else ", state changed!"))

    # Over the 64 MiB limit: refused by gRPC before the handler, daemon alive.
    blob = b"\0" * (MAX_MSG + 1024)
    code, msg = rpc_error(lambda: raw["UpsertService"](blob, timeout=60))
    check(code == grpc.StatusCode.RESOURCE_EXHAUSTED and desired(stub) == before,
          "a message over 64 MiB: RESOURCE_EXHAUSTED, state unchanged", "%s %s" % (code, msg))
    del blob
    wipe(stub)


def test_sync(stub, ch):
    wipe(stub)
    s = SyncStream(ch)
    acks = []

    def send(m):
        s.send(m)
        r = s.recv()
        acks.append(r.version)
        return r

    r = send(pb.SyncRequest(version=1, snapshot=True, upserts=[
        svc("s/a", "10.96.4.1"), svc("s/b", "10.96.4.2"), svc("s/c", "10.96.4.3")]))
    # The ack comes after the core applied it: the state is there already.
    names = [x.service.name for x in stub.ListServices(pb.ListServicesRequest(),
                                                       timeout=TIMEOUT).services]
    check(r.ok and r.version == 1 and r.applied_services == 3 and names == ["s/a", "s/b", "s/c"],
          "Sync snapshot acked after it is applied", "%s %s" % (r, names))
    r = send(pb.SyncRequest(version=2, upserts=[svc("s/d", "10.96.4.4")]))
    check(r.ok and r.version == 2, "Sync delta upsert acked", str(r))
    r = send(pb.SyncRequest(version=3, deletes=["s/a"]))
    check(r.ok and r.version == 3 and len(desired(stub)) == 3, "Sync delta delete acked", str(r))
    before = desired(stub)
    r = send(pb.SyncRequest(version=4, upserts=[svc("s/e", "10.96.4.5"),
                                                svc("s/f", "10.96.4.6", port=0)]))
    check(not r.ok and r.version == 4 and r.error.endswith("upserts[1].port out of range: 0") and
          desired(stub) == before, "Sync rejects a bad delta whole, names the field", str(r))
    r = send(pb.SyncRequest(version=5, deletes=["s/zz"]))
    check(not r.ok and "s/zz" in r.error and desired(stub) == before,
          "Sync rejects deleting an unknown service", str(r))
    r = send(pb.SyncRequest(version=6, upserts=[svc("s/e", "10.96.4.5")]))
    check(r.ok and r.version == 6, "the stream goes on after a rejection", str(r))
    r = send(pb.SyncRequest(version=6, upserts=[svc("s/g", "10.96.4.7")]))
    check(not r.ok and "version" in r.error, "Sync rejects a version that does not increase",
          str(r))
    r = send(pb.SyncRequest(version=7, snapshot=True, deletes=["s/b"]))
    check(not r.ok and "deletes" in r.error, "Sync rejects deletes in a snapshot", str(r))
    r = send(pb.SyncRequest(version=8, upserts=[svc("s/h", "10.96.4.8", protocol=9)]))
    check(not r.ok and r.error.endswith("upserts[0].protocol: unknown value 9"),
          "Sync rejects an unknown enum value", str(r))
    before = desired(stub)
    r = send(pb.SyncRequest(version=9, upserts=[svc("s/n\0x", "10.96.4.9")]))
    check(not r.ok and r.version == 9 and r.error.endswith("upserts[0].name: NUL byte at byte 3")
          and desired(stub) == before, "Sync rejects a NUL in a name, names the field", str(r))
    # Pipelined: 50 deltas sent at once, acked in order.
    for i in range(50):
        s.send(pb.SyncRequest(version=100 + i, upserts=[svc("s/p%02d" % i, "10.96.5.%d" % (i + 1))]))
    got = []
    for i in range(50):
        r = s.recv()
        got.append((r.version, r.ok))
    check(got == [(100 + i, True) for i in range(50)], "50 pipelined deltas acked in order",
          str(got[:5]))
    check(acks == [1, 2, 3, 4, 5, 6, 6, 7, 8, 9], "acks carry the request versions in order",
          str(acks))
    s.close()
    kind, e = s.stream.next()
    check(kind == "end", "Sync ends OK after the client half-closes",
          str(e.code() if kind == "err" else kind))

    # A malformed message in the stream ends it; the state stays.
    before = desired(stub)
    q = queue.Queue()
    raw = ch.stream_stream("/xlb.v1.Xlb/Sync")
    st = Stream(raw(iter(q.get, None)))
    q.put(pb.SyncRequest(version=1).SerializeToString())
    first = st.next()
    q.put(b"\x0a\xff\xff\xff")
    second = st.next()
    q.put(None)
    ok1 = first[0] == "msg" and pb.SyncResponse.FromString(first[1]).ok
    check(ok1 and second[0] == "err" and second[1].code() == grpc.StatusCode.INVALID_ARGUMENT and
          "message #2: malformed request" in second[1].details() and desired(stub) == before,
          "a malformed Sync message ends the stream with INVALID_ARGUMENT",
          "%s %s" % (first[0], second[1].details() if second[0] == "err" else second))
    wipe(stub)


def test_concurrent(stub, target):
    wipe(stub)
    n_threads, per = 8, 25
    versions, errors = [], []
    lock = threading.Lock()

    def worker(t):
        with channel(target) as c:
            st = pbg.XlbStub(c)
            for i in range(per):
                try:
                    v = st.UpsertService(pb.UpsertServiceRequest(service=svc(
                        "c/t%d-%02d" % (t, i), "10.97.%d.%d" % (t, i + 1))), timeout=30).version
                    with lock:
                        versions.append(v)
                except grpc.RpcError as e:
                    with lock:
                        errors.append("%s %s" % (e.code(), e.details()))

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    t0 = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.time() - t0
    n = len(desired(stub))
    check(not errors and n == n_threads * per and len(set(versions)) == n_threads * per,
          "%d clients x %d upserts at once: all applied, distinct versions (%.1f s)" %
          (n_threads, per, dt), "errors %s, %d services, %d versions" % (errors[:3], n,
                                                                         len(set(versions))))
    wipe(stub)


def test_watch(stub, ch, target):
    wipe(stub)
    w1 = Stream(pbg.XlbStub(ch).Watch(pb.WatchRequest()))
    ch2 = channel(target)
    w2 = Stream(pbg.XlbStub(ch2).Watch(pb.WatchRequest()))
    # Headers arrive once the watch is registered.
    w1.call.initial_metadata()
    w2.call.initial_metadata()
    stub.UpsertService(pb.UpsertServiceRequest(service=svc("w/a", "10.98.0.1")), timeout=TIMEOUT)
    stub.SetEndpoints(pb.SetEndpointsRequest(service="w/a", endpoints=[ep("10.1.9.9")]),
                      timeout=TIMEOUT)
    stub.DeleteService(pb.DeleteServiceRequest(name="w/a"), timeout=TIMEOUT)
    for name, w in (("first", w1), ("second", w2)):
        evs = []
        try:
            for _ in range(3):
                kind, m = w.next(5)
                if kind != "msg":
                    break
                evs.append((m.kind, m.service))
        except queue.Empty:
            pass
        want = [(pb.Event.SERVICE_UPSERT, "w/a"), (pb.Event.SERVICE_UPSERT, "w/a"),
                (pb.Event.SERVICE_DELETE, "w/a")]
        check(evs == want, "Watch (%s watcher) gets upsert, upsert, delete in order" % name,
              str(evs))
    w1.call.cancel()
    w2.call.cancel()
    ch2.close()
    # The server still serves after watchers went away.
    check(stub.GetStatus(pb.GetStatusRequest(), timeout=TIMEOUT).dataplane != "",
          "cancelled watchers leave the server serving")


def test_stream_limit(target):
    """One connection holds at most 64 calls at once: with 64 Watch
    streams open on it a 65th call waits (HTTP/2 MAX_CONCURRENT_STREAMS),
    while other connections are served; it is served once one ends."""
    opts = [("grpc.use_local_subchannel_pool", 1)]     # a connection of its own
    with grpc.insecure_channel(target, options=opts) as full, channel(target) as other:
        ws = [pbg.XlbStub(full).Watch(pb.WatchRequest()) for _ in range(64)]
        for w in ws:
            w.initial_metadata()
        code, _ = rpc_error(lambda: pbg.XlbStub(full).GetStatus(pb.GetStatusRequest(), timeout=3))
        ocode, _ = rpc_error(lambda: pbg.XlbStub(other).GetStatus(pb.GetStatusRequest(),
                                                                   timeout=TIMEOUT))
        ws.pop().cancel()
        after, _ = rpc_error(lambda: pbg.XlbStub(full).GetStatus(pb.GetStatusRequest(),
                                                                  timeout=TIMEOUT))
        for w in ws:
            w.cancel()
    check(code == grpc.StatusCode.DEADLINE_EXCEEDED and ocode == grpc.StatusCode.OK and
          after == grpc.StatusCode.OK, "64 streams on a connection: its 65th call waits, "
          "another connection is served, and it is served once a stream ends",
          "65th %s, other %s, after %s" % (code, ocode, after))


def test_backup_restore(stub):
    wipe(stub)
    for i in range(3):
        stub.UpsertService(pb.UpsertServiceRequest(service=svc("b/%d" % i, "10.99.0.%d" % (i + 1))),
                           timeout=TIMEOUT)
    before = desired(stub)
    b = stub.Backup(pb.BackupRequest(), timeout=TIMEOUT)
    check(len(b.services) == 3 and b.version > 0, "Backup returns the services and a version")
    wipe(stub)
    v = stub.Restore(pb.RestoreRequest(services=b.services), timeout=TIMEOUT).version
    check(desired(stub) == before and v > b.version, "Restore brings them back")
    wipe(stub)
    check(desired(stub) == [], "Restore of nothing empties the state")


def test_conntrack(stub):
    r = stub.ListConntrack(pb.ListConntrackRequest(limit=10), timeout=TIMEOUT)
    check(len(r.entries) <= 10, "ListConntrack answers within the limit")
    r = stub.FlushConntrack(pb.FlushConntrackRequest(), timeout=TIMEOUT)
    check(r.removed >= 0, "FlushConntrack answers")


def test_big_snapshot(stub, ch, d):
    wipe(stub)
    n = 10000
    req = pb.SyncRequest(version=1, snapshot=True)
    for i in range(n):
        s = req.upserts.add(name="big/ns-%03d/service-%05d:https" % (i % 100, i),
                            cluster_ip="10.%d.%d.%d" % (100 + (i >> 16), (i >> 8) & 0xff, i & 0xff or 1),
                            port=443 + (i & 0xff == 0), protocol=pb.TCP)
        for k in range(3):
            s.endpoints.add(address="10.%d.%d.%d" % (200 + k, i >> 8, i & 0xff), port=8443,
                            ready=True, serving=True, name="service-%05d-7d9f8b6c5d-%05d" % (i, k))
    size = req.ByteSize()
    # A watcher that reads gets every event of the burst.
    fast = Stream(pbg.XlbStub(ch).Watch(pb.WatchRequest()))
    fast.call.initial_metadata()
    s = SyncStream(ch)
    t0 = time.time()
    s.send(req)
    r = s.recv(timeout=300)
    dt = time.time() - t0
    st = stub.GetStatus(pb.GetStatusRequest(), timeout=TIMEOUT)
    check(r.ok and st.services == n and st.endpoints == 3 * n,
          "a %d-service snapshot (%.1f MiB) is applied (%.1f s)" % (n, size / 2**20, dt),
          "%s, %d services" % (r.error, st.services))
    t0 = time.time()
    lst = stub.ListServices(pb.ListServicesRequest(), timeout=120)
    in_dp = sum(e.in_datapath for x in lst.services for e in x.endpoints)
    check(len(lst.services) == n and in_dp == 3 * n,
          "ListServices of %d services (%.1f MiB, %.1f s), every endpoint in the datapath" %
          (n, lst.ByteSize() / 2**20, time.time() - t0), "%d in datapath" % in_dp)
    s.close()
    wipe(stub)
    kinds = {}
    try:
        while sum(kinds.values()) < 2 * n:
            kind, m = fast.next(30)
            if kind != "msg":
                break
            kinds[m.kind] = kinds.get(m.kind, 0) + 1
    except queue.Empty:
        pass
    check(kinds == {pb.Event.SERVICE_UPSERT: n, pb.Event.SERVICE_DELETE: n},
          "a watcher that reads gets all %d events of a snapshot and of its removal" % (2 * n),
          str(kinds))
    fast.call.cancel()


def test_slow_watcher(d, target):
    """Watch with --watch-queue 600: a client that reads gets every event of
    a 2,000-service burst (under the hard bound, 4 x 600); one that reads
    nothing is ended with RESOURCE_EXHAUSTED once a later event finds it
    more than 600 behind and idle for a second, and learns it when it
    reads what its own transport had buffered (about 64 KiB: long names
    keep that well under 2,000 - 600 events)."""
    if not d:
        return
    n = 2000
    d.restart_with(["--watch-queue", "600"])
    with channel(target) as c:
        stub = pbg.XlbStub(c)
        wipe(stub)
        fast = Stream(stub.Watch(pb.WatchRequest()))
        fast.call.initial_metadata()
        # Its own connection, without BDP probing: the window stays 64 KiB,
        # so what it does not read stays queued in the daemon.
        slow_ch = grpc.insecure_channel(target, options=[("grpc.http2.bdp_probe", 0),
                                                         ("grpc.use_local_subchannel_pool", 1)])
        slow = pbg.XlbStub(slow_ch).Watch(pb.WatchRequest())
        slow.initial_metadata()
        s = SyncStream(c)
        ups = []
        for i in range(n):
            a, b = i // 250, i % 250 + 1
            u = svc("sw/%04d/%s" % (i, "n" * 110), "10.97.%d.%d" % (a, b), n_eps=0)
            u.endpoints.append(ep("10.200.%d.%d" % (a, b)))
            ups.append(u)
        s.send(pb.SyncRequest(version=1, upserts=ups))
        r = s.recv(60)
        s.close()
        got_fast = 0
        try:
            while got_fast < n:
                kind, m = fast.next(30)
                if kind != "msg":
                    break
                got_fast += 1
        except queue.Empty:
            pass
        # The fast watcher is caught up; the slow one took nothing for a
        # second: the next event ends only the slow one.
        time.sleep(1.5)
        stub.UpsertService(pb.UpsertServiceRequest(service=svc("sw/last", "10.97.100.1")),
                           timeout=TIMEOUT)
        kind, m = fast.next(30)
        check(r.ok and got_fast == n and kind == "msg" and m.service == "sw/last",
              "a watcher that reads gets all %d events of a burst and the next one" % n,
              "%s %d %s" % (r.error, got_fast, kind))
        got, res = 0, None
        slow_s = Stream(slow)
        try:
            while True:
                kind, m = slow_s.next(30)
                if kind != "msg":
                    res = m
                    break
                got += 1
        except queue.Empty:
            pass
        check(res is not None and res.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and
              "client too slow" in res.details() and got < n,
              "a watcher that reads nothing is ended with RESOURCE_EXHAUSTED (it read the %d "
              "events its transport held)" % got,
              "%s after %d events" % (res and (res.code(), res.details()), got))
        fast.call.cancel()
        slow_ch.close()
        check(stub.GetStatus(pb.GetStatusRequest(), timeout=TIMEOUT).services == n + 1,
              "the daemon serves on after ending a watcher")
        wipe(stub)
    d.stop()
    d.start()


def test_watch_limit(d, target):
    """--max-watchers 2: a third Watch is refused with RESOURCE_EXHAUSTED,
    and once one ends a new one is taken and gets events."""
    if not d:
        return
    d.restart_with(["--max-watchers", "2"])
    with channel(target) as c:
        stub = pbg.XlbStub(c)
        ws = [stub.Watch(pb.WatchRequest()) for _ in range(2)]
        for w in ws:
            w.initial_metadata()
        code, msg = rpc_error(lambda: next(stub.Watch(pb.WatchRequest(), timeout=TIMEOUT)))
        ws.pop().cancel()
        got = None
        for i in range(50):     # the cancel reaches xlbd in its own time
            w = stub.Watch(pb.WatchRequest(), timeout=TIMEOUT)
            w.initial_metadata()
            stub.UpsertService(pb.UpsertServiceRequest(service=svc("wl/%d" % i, "10.97.200.1")),
                               timeout=TIMEOUT)
            c2, ev = rpc_error(lambda: next(w))
            if c2 == grpc.StatusCode.OK:
                got = ev.service
                w.cancel()
                break
            time.sleep(0.1)
        for w in ws:
            w.cancel()
        wipe(stub)
    check(code == grpc.StatusCode.RESOURCE_EXHAUSTED and "2 watchers already" in msg and
          got is not None and got.startswith("wl/"),
          "--max-watchers 2: a third Watch is refused (RESOURCE_EXHAUSTED), a new one is taken "
          "once one ends", "%s %r, then %r" % (code, msg, got))
    d.stop()
    d.start()


def h2_frames(data):
    """(type, flags, payload) of each whole HTTP/2 frame in data, and the rest."""
    out = []
    while len(data) >= 9:
        n = int.from_bytes(data[0:3], "big")
        if len(data) < 9 + n:
            break
        out.append((data[3], data[4], data[9:9 + n]))
        data = data[9 + n:]
    return out, data


def test_idle_close(d, target):
    """--api-idle-timeout 2: a connection that makes no call, though it
    answers every SETTINGS and PING, is told GOAWAY for being idle and
    closed; the flag's bounds are checked."""
    if not d or d.kind != "xlbd":
        return
    bad = subprocess.run([d.binary, "--api-idle-timeout", "0"], capture_output=True, text=True)
    check(bad.returncode == 2 and "api-idle-timeout" in bad.stderr,
          "--api-idle-timeout 0 is refused naming the flag", bad.stderr.strip())
    d.restart_with(["--api-idle-timeout", "2"])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1)
    s.connect(target[len("unix:"):])
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    buf, goaway, eof, start = b"", None, False, time.monotonic()
    while time.monotonic() - start < 30 and not eof:
        try:
            b = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            b = b""
        if not b:
            eof = True
            break
        frames, buf = h2_frames(buf + b)
        for typ, flags, payload in frames:
            if typ == 4 and not flags & 1:     # SETTINGS: acknowledged
                s.sendall(b"\x00\x00\x00\x04\x01\x00\x00\x00\x00")
            elif typ == 6 and not flags & 1:   # PING: answered
                s.sendall(b"\x00\x00\x08\x06\x01\x00\x00\x00\x00" + payload)
            elif typ == 7:
                goaway = payload
    took = time.monotonic() - start
    s.close()
    why = goaway[8:].decode("ascii", "replace") if goaway else None
    check(eof and why is not None and "idle" in why.lower(),
          "--api-idle-timeout 2: a connection without calls is told GOAWAY (idle) and closed",
          "eof %s, goaway debug %r, after %.1f s" % (eof, why, took))
    d.stop()
    d.start()


def test_c_client(target):
    """The C client of xlbctl (tests/api/client_check.c), when it is built."""
    exe = os.path.join(ROOT, "build", "api-client-check")
    if not os.access(exe, os.X_OK):
        print("# skipped: %s not built" % exe)
        return
    r = subprocess.run([exe, target], capture_output=True, text=True, timeout=120)
    last = r.stdout.strip().splitlines()[-1:] or [""]
    check(r.returncode == 0 and last[0].endswith(" 0 failed"),
          "the C client: " + last[0], r.stdout[-800:] + r.stderr[-400:])


def test_lifecycle(d, target):
    """Needs a daemon this script started: persistence, corrupt state, stop."""
    if not d:
        return
    with channel(target) as c:
        stub = pbg.XlbStub(c)
        wipe(stub)
        v = stub.UpsertService(pb.UpsertServiceRequest(service=svc("p/kept", "10.96.8.1")),
                               timeout=TIMEOUT).version
        before = desired(stub)
        # Open streams must be ended by the shutdown, not hang it.
        w = Stream(stub.Watch(pb.WatchRequest()))
        w.call.initial_metadata()
        sy = SyncStream(c)
        sy.send(pb.SyncRequest(version=1, upserts=[svc("p/kept2", "10.96.8.2")]))
        sy.recv()
        before = desired(stub)
        t0 = time.time()
        rc = d.stop()
        dt = time.time() - t0
        wk, we = w.next(5)
        while wk == "msg":      # the events of the changes above
            wk, we = w.next(5)
        sk, se = sy.stream.next(5)
    check(rc == 0, "SIGTERM: the daemon exits 0 (%.1f s)" % dt, "rc %s; log:\n%s" % (rc, d.tail()))
    check(wk == "err" and we.code() == grpc.StatusCode.UNAVAILABLE and
          sk == "err" and se.code() == grpc.StatusCode.UNAVAILABLE,
          "open Watch and Sync streams end UNAVAILABLE on shutdown",
          "%s %s / %s %s" % (wk, we and we.code(), sk, se and se.code()))
    check(not os.path.exists(d.sock), "the socket is removed on exit")

    d.start()
    with channel(target) as c:
        stub = pbg.XlbStub(c)
        st = stub.GetStatus(pb.GetStatusRequest(), timeout=TIMEOUT)
        check(desired(stub) == before and st.version >= v + 1,
              "services and version survive a restart (state file)",
              "version %d" % st.version)
    d.stop()
    state = os.path.join(d.state_dir, "state.pb")
    with open(state, "r+b") as f:
        f.seek(20)
        f.write(b"\xde\xad\xbe\xef")
    d.start()
    with channel(target) as c:
        stub = pbg.XlbStub(c)
        aside = glob.glob(state + ".corrupt-*")
        check(aside != [] and desired(stub) == [],
              "a corrupt state file is set aside and the daemon starts empty",
              "aside %s; log:\n%s" % (aside, d.tail()))
        stub.UpsertService(pb.UpsertServiceRequest(service=svc("p/new", "10.96.8.3")),
                           timeout=TIMEOUT)
        check(os.path.exists(state), "a fresh state file is written")
        wipe(stub)


def test_restart_reads_back(d, target):
    """Needs an xlbd this script started: restarted over its pinned datapath,
    it reads back what the tables alone do not tell and writes nothing: an
    IPv6 source range of an IPv4 LoadBalancer, internalTrafficPolicy Local
    with the node's endpoint serving while terminating (selectable by the
    node-local fallback only), externalTrafficPolicy Local on a LoadBalancer
    with no node port or ingress IP yet."""
    if not d or d.kind != "xlbd":
        return
    local = dict(ready=False, serving=True, terminating=True, node_name="n1")
    ranged = svc("p/ranged", "10.96.8.9", n_eps=0, type=pb.LOAD_BALANCER, node_port=30090,
                 load_balancer_ips=["192.0.2.90"],
                 source_ranges=["172.16.0.0/28", "2001:db8:7::/48"])
    drain = svc("p/drain", "10.96.8.8", n_eps=0,
                internal_traffic_policy=pb.TRAFFIC_POLICY_LOCAL)
    etp = svc("p/etp", "10.96.8.7", n_eps=0, type=pb.LOAD_BALANCER,
              external_traffic_policy=pb.TRAFFIC_POLICY_LOCAL)
    for s in (ranged, drain, etp):
        s.endpoints.extend([ep("10.1.0.1", **local),
                            ep("10.1.0.2", ready=True, serving=True, node_name="n2")])
    d.extra = ["--node-name", "n1"]
    d.keep_pins = True
    try:
        d.stop()
        d.start()
        with channel(target) as c:
            stub = pbg.XlbStub(c)
            wipe(stub)
            for s in (ranged, drain, etp):
                stub.UpsertService(pb.UpsertServiceRequest(service=s), timeout=TIMEOUT)
        d.stop()
        d.start()
        with open(d.log) as f:
            line = [l for l in f if "reconcile on start" in l][-1].strip()
        check(line.endswith("reconcile on start: 0 created, 0 updated, 0 deleted, 3 unchanged"),
              "restart over the pinned datapath: an IPv6 source range, both traffic policies "
              "Local and a node-local serving terminating endpoint read back, nothing written",
              line)
        with channel(target) as c:
            wipe(pbg.XlbStub(c))
    finally:
        d.stop()
        subprocess.run(["nsenter", "--net=/run/netns/" + d.ns, d.binary, "--cleanup",
                        "--dataplane", "xdp", "--pin-dir", d.pin_dir],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        d.extra = []
        d.keep_pins = False
        d.start()


def test_abuse(d, target):
    """Clients that misbehave cost them, not xlbd: an over-capacity Restore
    is refused before any work, /metrics answers next to 200 slowloris
    connections, and SIGTERM ends xlbd within 2 s (its exit guard's 1.8 s,
    plus 1 s for a loaded machine) whatever the clients do."""
    if not d or d.kind != "xlbd":
        return
    import socket
    with channel(target) as c:
        stub = pbg.XlbStub(c)
        wipe(stub)
        stub.UpsertService(pb.UpsertServiceRequest(service=svc("a/kept", "10.96.7.1")),
                           timeout=TIMEOUT)
        before = desired(stub)
        big = pb.RestoreRequest(services=[svc("a/%05d" % i, "10.%d.%d.%d" % (
            100 + (i >> 16), (i >> 8) & 255, i & 255), n_eps=10) for i in range(13200)])
        t0 = time.time()
        code, msg = rpc_error(lambda: stub.Restore(big, timeout=60))
        del big
        check(code == grpc.StatusCode.RESOURCE_EXHAUSTED and "over capacity: 132000 endpoints"
              in msg and desired(stub) == before,
              "an over-capacity Restore (13,200 x 10 endpoints) is refused before any work "
              "(%.1f s), state unchanged" % (time.time() - t0), "%s %s" % (code, msg))
        wipe(stub)
    d.stop()

    # The capacity is the datapath's as sized at start (--max-backends).
    d.extra = ["--max-backends", "1024"]
    d.start()
    d.extra = []
    with channel(target) as c:
        stub = pbg.XlbStub(c)
        code, msg = rpc_error(lambda: stub.Restore(pb.RestoreRequest(services=[
            svc("a/%03d" % i, "10.100.0.%d" % (i + 1), n_eps=10) for i in range(103)]),
            timeout=60))
        check(code == grpc.StatusCode.RESOURCE_EXHAUSTED and
              "over capacity: 1030 endpoints, the datapath holds 1023" in msg and
              desired(stub) == [],
              "with --max-backends 1024, a Restore of 1,030 endpoints is refused",
              "%s %s" % (code, msg))
    d.stop()

    # /metrics next to 200 slow clients, each sending a byte of its request
    # every 3 s (in the daemon's network namespace: its 127.0.0.1).
    d.extra = ["--metrics", "127.0.0.1:9465"]
    d.start()
    d.extra = []
    script = r"""
import socket, time, urllib.request
slow = []
for i in range(200):
    s = socket.create_connection(("127.0.0.1", 9465), timeout=10)
    s.sendall(b"GET /metrics HTTP/1.1\r\n")
    slow.append(s)
for s in slow:
    s.sendall(b"X")
time.sleep(3)
for s in slow:
    s.sendall(b"-")
body = urllib.request.urlopen("http://127.0.0.1:9465/metrics", timeout=20).read().decode()
print("ok" if "xlb_services " in body else "no metrics")
"""
    r = subprocess.run(d.netns_prefix() + [sys.executable, "-c", script], capture_output=True,
                       text=True, timeout=120)
    check(r.stdout.strip() == "ok", "/metrics answers with 200 slow clients connected",
          r.stdout[-300:] + r.stderr[-500:])
    test_thread_caps(d)

    # SIGTERM while clients misbehave: a Sync that writes and never reads
    # its answers, a Watch that never reads, and connections that stall in
    # the middle of the HTTP/2 preface.
    stall = []
    for _ in range(20):
        u = socket.socket(socket.AF_UNIX)
        u.connect(d.sock)
        u.sendall(b"PRI * HTTP/2.0\r\n")
        stall.append(u)
    ch = grpc.insecure_channel(target)
    raw = ch.stream_stream("/xlb.v1.Xlb/Sync")
    q = queue.Queue()
    for v in range(1, 2001):
        q.put(pb.SyncRequest(version=v, upserts=[svc("t/%d" % (v % 50), "10.96.6.%d" % (
            v % 50 + 1))]).SerializeToString())
    sync = raw(iter(q.get, None))          # never read
    watch = pbg.XlbStub(ch).Watch(pb.WatchRequest())
    time.sleep(1)
    t0 = time.time()
    d.proc.send_signal(signal.SIGTERM)
    try:
        d.proc.wait(timeout=15)
        dt = time.time() - t0
    except subprocess.TimeoutExpired:
        d.proc.kill()
        d.proc.wait()
        dt = None
    for u in stall:
        u.close()
    sync.cancel()
    watch.cancel()
    ch.close()
    check(dt is not None and dt < 2 + 1, "SIGTERM ends xlbd within 2 s with a Sync that never "
          "reads, a Watch that never reads and 20 stalled handshakes (%s s)" % (
              "%.2f" % dt if dt is not None else "hung"), d.tail())
    d.start()


def test_fd_reserve(d, target):
    """With an open-files limit of 1,024 (hard too), 1,100 idle unix
    connections leave xlbd its last 256 files (connections past that are
    closed at once), a connection made before them is served, and a new one
    once they are gone."""
    if not d or d.kind != "xlbd":
        return
    import resource
    import socket
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 1200:
        print("# skipped: this process may not open 1,200 files")
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    d.stop()
    d.wrap = ["prlimit", "--nofile=1024:1024"]
    d.start()
    d.wrap = []
    pid = d.proc.pid       # ip netns exec and prlimit exec it
    conns = []
    with channel(target) as c:
        stub = pbg.XlbStub(c)
        stub.GetStatus(pb.GetStatusRequest(), timeout=TIMEOUT)
        n_fds = 0       # the most xlbd had open, sampled as they come
        for i in range(1100):
            u = socket.socket(socket.AF_UNIX)
            u.connect(d.sock)
            conns.append(u)
            try:
                u.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            except OSError:
                pass        # closed by xlbd: past the reserve
            if i % 20 == 19:
                n_fds = max(n_fds, len(os.listdir("/proc/%d/fd" % pid)))
        for _ in range(10):
            time.sleep(0.1)
            n_fds = max(n_fds, len(os.listdir("/proc/%d/fd" % pid)))
        code, _ = rpc_error(lambda: stub.UpsertService(pb.UpsertServiceRequest(
            service=svc("fd/kept", "10.96.5.1")), timeout=TIMEOUT))
    for u in conns:
        u.close()
    served = None
    for _ in range(100):        # xlbd sees the closes in its own time
        with channel(target) as c:
            served, _ = rpc_error(lambda: pbg.XlbStub(c).GetStatus(pb.GetStatusRequest(),
                                                                   timeout=2))
        if served == grpc.StatusCode.OK:
            break
        time.sleep(0.2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    check(1024 - n_fds >= 250 and code == grpc.StatusCode.OK and served == grpc.StatusCode.OK,
          "1,100 idle connections against 1,024 open files leave xlbd %d free at least "
          "(want >= 250), "
          "an open connection writes, a new one is served once they close" % (1024 - n_fds),
          "%d fds, upsert %s, then %s" % (n_fds, code, served))
    d.stop()
    d.start()


def journal_records(path):
    """The bytes of a journal (format 2) and (offset, version, SyncRequest)
    per record."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"XLBJRNL2", data[:8]
    off, recs = 32, []
    while off + 16 <= len(data):
        n = int.from_bytes(data[off:off + 4], "little")
        v = int.from_bytes(data[off + 8:off + 16], "little")
        recs.append((off, v, pb.SyncRequest.FromString(data[off + 16:off + 16 + n])))
        off += 16 + n
    return data, recs


def test_journal_damage(d, target):
    """A flipped bit in the middle of the journal is damage, not a torn
    tail: the last good state, the damaged files kept, the loss reported."""
    if not d:
        return
    with channel(target) as c:
        stub = pbg.XlbStub(c)
        wipe(stub)
        for i in range(10):
            stub.UpsertService(pb.UpsertServiceRequest(
                service=svc("j/%d" % i, "10.96.9.%d" % (i + 1))), timeout=TIMEOUT)
    d.proc.kill()       # no clean stop, which would compact the journal
    d.proc.wait()
    jpath = os.path.join(d.state_dir, "state.journal")
    spath = os.path.join(d.state_dir, "state.pb")
    data, recs = journal_records(jpath)
    k = [i for i, r in enumerate(recs) if [u.name for u in r[2].upserts] == ["j/4"]][0]
    flipped = bytearray(data)
    flipped[recs[k][0]] ^= 0x10         # the length field of j/4's record
    with open(jpath, "wb") as f:
        f.write(flipped)
    kept = sorted(u.name for r in recs[:k] for u in r[2].upserts if u.name.startswith("j/"))
    lost = len(recs) - k
    d.extra = ["--metrics", "127.0.0.1:9464"]   # in the daemon's namespace
    d.start()
    d.extra = []
    m = subprocess.run(d.netns_prefix() + [sys.executable, "-c",
                       "import urllib.request as u; print(u.urlopen("
                       "'http://127.0.0.1:9464/metrics', timeout=10).read().decode())"],
                       capture_output=True, text=True, timeout=30)
    check(("\nxlb_state_lost_changes %d\n" % lost) in m.stdout,
          "/metrics: xlb_state_lost_changes %d" % lost,
          [l for l in m.stdout.splitlines() if "lost" in l] or m.stderr[-300:])
    xlbctl = os.path.join(os.path.dirname(d.binary), "xlbctl")
    if not os.access(xlbctl, os.X_OK):     # build/san/xlbd: the plain xlbctl
        xlbctl = os.path.join(ROOT, "build", "xlbctl")
    with channel(target) as c:
        stub = pbg.XlbStub(c)
        st = stub.GetStatus(pb.GetStatusRequest(), timeout=TIMEOUT)
        names = sorted(s.service.name for s in stub.ListServices(
            pb.ListServicesRequest(), timeout=TIMEOUT).services)
        check(names == kept and st.version == recs[k][1] - 1,
              "journal damaged at j/4's record: the state is the last good one (j/0..j/3, "
              "version %d)" % st.version, "%s" % names)
        check(st.lost_changes == lost and
              "%d acknowledged changes lost, versions %d..%d" % (lost, recs[k][1], recs[-1][1])
              in st.state_damage and all("j/%d" % i in st.state_damage for i in range(5, 10)),
              "GetStatus: %d acknowledged changes lost, their versions and services named" % lost,
              st.state_damage)
        jcopy = glob.glob(jpath + ".damaged-*")
        scopy = glob.glob(spath + ".damaged-*")
        same = len(jcopy) == 1 and open(jcopy[0], "rb").read() == bytes(flipped)
        check(same and len(scopy) == 1 and jcopy[0] in st.state_damage and
              scopy[0] in st.state_damage,
              "the damaged journal and its state file are kept, byte for byte, and named",
              "%s %s" % (jcopy, scopy))
        r = subprocess.run([xlbctl, "-s", target, "status"], capture_output=True, text=True,
                           timeout=30)
        check(("STATE LOST:  %d acknowledged changes" % lost) in r.stdout,
              "xlbctl status: a STATE LOST line", r.stdout + r.stderr)
        wipe(stub)      # a change: the journal goes on, the copies stay
    d.stop()
    d.start()
    with channel(target) as c:
        st = pbg.XlbStub(c).GetStatus(pb.GetStatusRequest(), timeout=TIMEOUT)
    check(st.lost_changes == 0 and st.state_damage == "" and
          len(glob.glob(jpath + ".damaged-*")) == 1 and len(glob.glob(spath + ".damaged-*")) == 1,
          "after a clean restart nothing is reported lost, and the copies are still kept",
          "%d %r" % (st.lost_changes, st.state_damage))


def make_pki(d):
    """A CA, a server certificate for 127.0.0.1 and client certificates:
    client (CN=xlb client), writer (CN=xlb-writer), monitor (CN=read-only
    monitor) and feeder (CN=other, subjectAltName DNS:feeder.example)."""
    def run(*a):
        subprocess.run(a, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    j = lambda n: os.path.join(d, n)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", j("ca.key"), "-out", j("ca.crt"), "-days", "1", "-subj", "/CN=xlb test CA")
    people = {"server": ("/CN=xlb server", "IP:127.0.0.1,DNS:localhost"),
              "client": ("/CN=xlb client", "DNS:client.example"),
              "writer": ("/CN=xlb-writer", "DNS:writer.example"),
              "monitor": ("/CN=read-only monitor", "DNS:monitor.example"),
              "feeder": ("/CN=other", "DNS:feeder.example")}
    for who, (subj, san) in people.items():
        with open(j(who + ".ext"), "w") as f:
            f.write("subjectAltName=%s\n" % san)
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", j(who + ".key"), "-out", j(who + ".csr"), "-subj", subj)
        run("openssl", "x509", "-req", "-in", j(who + ".csr"), "-CA", j("ca.crt"), "-CAkey",
            j("ca.key"), "-CAcreateserial", "-out", j(who + ".crt"), "-days", "1",
            "-extfile", j(who + ".ext"))


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tls_probe(addr, pki_dir):
    """Over TLS, as each client: "NAME:READ:WRITE" status names, READ of a
    GetStatus, WRITE of an UpsertService; anon has no certificate, plain
    is no TLS at all."""
    rd = lambda n: open(os.path.join(pki_dir, n), "rb").read()

    def call(make, fn):
        with make() as c:
            return rpc_error(lambda: fn(pbg.XlbStub(c)))[0].name
    read = lambda st: st.GetStatus(pb.GetStatusRequest(), timeout=5)
    write = lambda st: st.UpsertService(pb.UpsertServiceRequest(
        service=svc("tls/probe", "10.96.9.250")), timeout=5)
    out = []
    for who in ("anon", "client", "writer", "monitor", "feeder", "plain"):
        if who == "plain":
            make = lambda: grpc.insecure_channel(addr)
        elif who == "anon":
            make = lambda: grpc.secure_channel(addr, grpc.ssl_channel_credentials(
                root_certificates=rd("ca.crt")))
        else:
            make = lambda who=who: grpc.secure_channel(addr, grpc.ssl_channel_credentials(
                root_certificates=rd("ca.crt"), private_key=rd(who + ".key"),
                certificate_chain=rd(who + ".crt")))
        out.append("%s:%s:%s" % (who, call(make, read), call(make, write)))
    return out


def test_tls(d):
    """TCP needs TLS; with a client CA, client certificates are required and
    each gets its role; without one, TLS clients may only read unless
    --api-insecure-tls-writes. Stops the main daemon (the TLS daemons share
    its pin dir and state)."""
    if not d:
        return
    d.stop()
    pki_dir = os.path.join(d.workdir, "pki")
    os.mkdir(pki_dir)
    make_pki(pki_dir)
    j = lambda n: os.path.join(pki_dir, n)
    addr = "127.0.0.1:%d" % free_port()
    r = subprocess.run(d.cmd([d.target, addr]), capture_output=True, text=True, timeout=30)
    check(r.returncode != 0 and "needs TLS" in r.stderr, "a TCP listener without TLS is refused",
          r.stderr.strip()[-300:])
    check(not os.path.exists(d.sock), "nothing left bound after the refusal")

    tls = ["--tls-cert", j("server.crt"), "--tls-key", j("server.key")]
    ca = tls + ["--tls-client-ca", j("ca.crt")]
    roles = ["--api-writer", "cn:xlb-writer", "--api-writer", "san:feeder.example"]
    OK, NO, DOWN = "OK", "PERMISSION_DENIED", "UNAVAILABLE"
    runs = [
        ("TLS without a client CA: TLS clients read, may not write; plain text refused", tls,
         {"anon": (OK, NO), "plain": (DOWN, DOWN)}),
        ("TLS without a client CA, --api-insecure-tls-writes: TLS clients write", tls +
         ["--api-insecure-tls-writes"], {"anon": (OK, OK), "plain": (DOWN, DOWN)}),
        ("TLS with a client CA: no certificate refused; CN=xlb-writer and SAN feeder.example "
         "write, other certificates (CN=read-only monitor) only read", ca + roles,
         {"anon": (DOWN, DOWN), "client": (OK, NO), "writer": (OK, OK), "monitor": (OK, NO),
          "feeder": (OK, OK), "plain": (DOWN, DOWN)}),
        ("TLS with a client CA and a reader named: certificates without a rule may not even "
         "read", ca + roles + ["--api-reader", "cn:read-only monitor"],
         {"client": (NO, NO), "writer": (OK, OK), "monitor": (OK, NO)}),
    ]
    for desc, extra, want in runs:
        p = subprocess.Popen(d.cmd([d.target, addr], extra), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        try:
            # Serving on the socket means every listener is up (all are
            # bound before the server starts).
            deadline = time.time() + 60
            while time.time() < deadline and p.poll() is None:
                with grpc.insecure_channel(d.target) as c:
                    if rpc_error(lambda: pbg.XlbStub(c).GetStatus(
                            pb.GetStatusRequest(), timeout=2))[0] == grpc.StatusCode.OK:
                        break
                time.sleep(0.2)
            # Inside the daemon's network namespace, if it has one.
            r = subprocess.run(d.netns_prefix() + [sys.executable, os.path.abspath(__file__),
                                                   "--tls-probe", addr, "--pki", pki_dir,
                                                   "--stubs", d.workdir],
                               capture_output=True, text=True, timeout=60)
            got = dict((f.split(":")[0], tuple(f.split(":")[1:])) for f in r.stdout.split()) \
                if r.returncode == 0 else {"probe failed": r.stderr[-300:]}
            bad = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
            check(not bad, desc, "got, want: %s" % bad)
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_unix_roles(d):
    """Unix socket peers by uid (SO_PEERCRED): root writes; uid 65534 has no
    role unless named; named as a reader it reads and may not write."""
    if not d or d.kind != "xlbd":
        return
    d.stop()
    # The socket's directories must let uid 65534 through (0711), and it
    # needs the stubs where it may list them.
    for p in (d.workdir, os.path.dirname(d.sockdir), d.sockdir):
        os.chmod(p, 0o711)
    pub = os.path.join(d.workdir, "stubs-public")
    os.makedirs(pub, exist_ok=True)
    os.chmod(pub, 0o755)
    for f in ("xlb_pb2.py", "xlb_pb2_grpc.py"):
        shutil.copy(os.path.join(d.workdir, f), pub)
        os.chmod(os.path.join(pub, f), 0o644)
    probe = r"""
import sys
sys.path.insert(0, sys.argv[2])
import grpc, xlb_pb2 as pb, xlb_pb2_grpc as pbg
def code(fn):
    try:
        fn()
        return "OK"
    except grpc.RpcError as e:
        return e.code().name
with grpc.insecure_channel(sys.argv[1]) as c:
    st = pbg.XlbStub(c)
    r = code(lambda: st.GetStatus(pb.GetStatusRequest(), timeout=5))
    w = code(lambda: st.UpsertService(pb.UpsertServiceRequest(service=pb.Service(
        name="u/x", cluster_ip="10.96.9.251", port=80, protocol=pb.TCP)), timeout=5))
print(r, w)
"""
    as_nobody = lambda: (os.setgid(65534), os.setuid(65534))
    for extra, want, desc in (
            ([], "UNAVAILABLE UNAVAILABLE", "a unix peer of uid 65534 without a rule: "
             "connection closed"),
            (["--api-reader", "uid:65534"], "OK PERMISSION_DENIED",
             "a unix peer of uid 65534 named a reader: reads, may not write (socket mode "
             "0666 for it)")):
        d.extra = extra
        d.start()
        d.extra = []
        r = subprocess.run([sys.executable, "-c", probe, d.target, pub],
                           preexec_fn=as_nobody, capture_output=True, text=True, timeout=60)
        mode = stat.S_IMODE(os.stat(d.sock).st_mode)
        check(r.stdout.strip() == want and mode == (0o666 if extra else 0o600), desc,
              "%r mode %o %s" % (r.stdout, mode, r.stderr[-300:]))
        with channel(d.target) as c:
            code, _ = rpc_error(lambda: pbg.XlbStub(c).UpsertService(pb.UpsertServiceRequest(
                service=svc("u/root", "10.96.9.252")), timeout=TIMEOUT))
        check(code == grpc.StatusCode.OK, "root on the unix socket still writes (%s)" % (
            "with a reader rule for uid 65534" if extra else "no rule"), str(code))
        d.stop()
    d.start()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--target", help="unix:PATH of a running daemon (its services are wiped)")
    g.add_argument("--xlbd", help="start this xlbd (root)")
    g.add_argument("--harness", help="start this API harness (root)")
    ap.add_argument("--skip-big", action="store_true", help="skip the 10,000-service snapshot")
    ap.add_argument("--tls-probe", help=argparse.SUPPRESS)
    ap.add_argument("--pki", help=argparse.SUPPRESS)
    ap.add_argument("--stubs", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.tls_probe:     # a helper run of this script, maybe in a network namespace
        global grpc, pb, pbg
        sys.path.insert(0, a.stubs)
        grpc = importlib.import_module("grpc")
        pb = importlib.import_module("xlb_pb2")
        pbg = importlib.import_module("xlb_pb2_grpc")
        print(" ".join(tls_probe(a.tls_probe, a.pki)))
        return 0

    tmp = tempfile.mkdtemp(prefix="xlb-test-api.")
    gen_stubs(tmp)
    d = None
    try:
        if not a.target and not a.xlbd and not a.harness:
            if os.access(os.path.join(ROOT, "build", "xlbd"), os.X_OK):
                a.xlbd = os.path.join(ROOT, "build", "xlbd")
            else:
                a.harness = os.path.join(ROOT, "build", "api-harness")
        if a.xlbd:
            d = Daemon("xlbd", a.xlbd, tmp)
        elif a.harness:
            d = Daemon("harness", a.harness, tmp)
        if d:
            print("# daemon: %s" % " ".join(d.cmd()))
            d.start()
        target = d.target if d else a.target
        with channel(target) as ch:
            stub = pbg.XlbStub(ch)
            test_socket(d)
            test_status(stub, d)
            test_thread_caps(d)
            test_upsert_list_set_delete(stub)
            test_bad_requests(stub, ch)
            test_sync(stub, ch)
            test_concurrent(stub, target)
            test_watch(stub, ch, target)
            test_stream_limit(target)
            test_backup_restore(stub)
            test_conntrack(stub)
            if not a.skip_big:
                test_big_snapshot(stub, ch, d)
            test_c_client(target)
        test_lifecycle(d, target)
        test_restart_reads_back(d, target)
        test_slow_watcher(d, target)
        test_watch_limit(d, target)
        test_idle_close(d, target)
        test_journal_damage(d, target)
        test_abuse(d, target)
        test_fd_reserve(d, target)
        test_unix_roles(d)
        test_tls(d)
    except Exception as e:  # a broken run is a failure, not a traceback
        import traceback
        traceback.print_exc()
        check(False, "the run completed", "%s: %s" % (type(e).__name__, e))
        if d:
            print(d.tail())
    finally:
        if d:
            d.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
