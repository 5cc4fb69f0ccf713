#!/usr/bin/python3
"""xlbd end-to-end cases, run by tests/e2e/run.sh on a lab that is up.

xlbd runs in the node namespace (its own pins, state dir and socket),
xlbctl and a standard Python gRPC client (stubs generated from the repo's
proto) drive it, and the clients in the other namespaces judge. TAP
(tests/lib/tap.py): `ok N - NAME: figures` / `not ok N - NAME` and the
reason per case, then `N passed, N failed` last.
"""
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases as C  # noqa: E402
import proc  # noqa: E402  (cases put tests/lib on the path)
import tap  # noqa: E402

ROOT = C.ROOT
XLBD = os.path.join(ROOT, "build/xlbd")
XLBCTL = os.path.join(ROOT, "build/xlbctl")
# The previous build's xlbd (make prev: main before the conntrack redesign),
# for the upgrade case; absent, that case says so and is skipped.
PREV_XLBD = os.path.join(ROOT, "build/prev/xlbd")
PIN = "/sys/fs/bpf/xlb-lab-d"
FIX = os.path.join(ROOT, "tests/e2e/fixtures")
TMP = tempfile.mkdtemp(prefix="xlb-e2e-d.")
SOCK = os.path.join(TMP, "xlbd.sock")
STATE = os.path.join(TMP, "state")
LOG = os.path.join(TMP, "xlbd.log")
PROBE_CGROUP = "/xlb-e2e-probes-%d" % os.getpid()
WEB = "10.96.0.20:80"
WEB_NAME = "lab/web:http"
Fail = C.Fail


class Daemon:
    def __init__(self, extra=(), binary=XLBD):
        self.p = None
        self.extra = list(extra)
        self.binary = binary

    def start(self):
        logf = open(LOG, "a")
        self.p = subprocess.Popen(
            ["nsenter", "--net=" + C.NODE_NS, self.binary, "--iface", "n-*",
             "--pin-dir", PIN, "--state-dir", STATE, "--listen", "unix:" + SOCK,
             "--nodeport-addresses", C.NODE_ADDR + "/32", "--log-level", "info"]
            # the health cases set an exec probe; its cgroups are this run's
            # (the previous build, for the upgrade case, has no such flags)
            + (["--allow-exec-probes", "--exec-probe-cgroup", PROBE_CGROUP]
               if self.binary == XLBD else [])
            + self.extra,
            stdout=logf, stderr=logf)
        end = time.monotonic() + 15
        while time.monotonic() < end:
            if self.p.poll() is not None:
                raise Fail("xlbd exited %d: %s" % (self.p.returncode, tail_log()))
            if os.path.exists(SOCK) and ctl("status", check=False).returncode == 0:
                return
            time.sleep(0.05)
        raise Fail("xlbd not ready in 15 s: %s" % tail_log())

    def stop(self, sig=signal.SIGTERM):
        if not self.p:
            return 0
        rc, self.p = proc.stop(self.p, sig, 15), None
        if rc is None:
            raise Fail("xlbd did not exit on signal %d" % sig)
        return rc


def tail_log(n=600):
    try:
        with open(LOG) as f:
            return f.read()[-n:].replace("\n", " | ")
    except OSError:
        return "(no log)"


def ctl(*args, check=True, stdin=None):
    cmd = [XLBCTL, "--server", "unix:" + SOCK] + list(args)
    try:
        r = subprocess.run(cmd, capture_output=True, text=stdin is None or isinstance(stdin, str),
                           input=stdin, timeout=30)
    except subprocess.TimeoutExpired:
        raise Fail("xlbctl %s: timed out" % " ".join(args))
    if check and r.returncode != 0:
        raise Fail("xlbctl %s: exit %d: %s" % (" ".join(args), r.returncode,
                                              str(r.stderr).strip()[-300:]))
    return r


_pb = None


def pb():
    """Python stubs generated from the repo's proto, as any client would."""
    global _pb
    if _pb:
        return _pb
    out = os.path.join(TMP, "py")
    os.makedirs(out, exist_ok=True)
    proto_dir = os.path.join(ROOT, "user/api/proto")
    subprocess.run(["protoc", "-I", proto_dir, "--python_out=" + out,
                    "--grpc_python_out=" + out,
                    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
                    os.path.join(proto_dir, "xlb.proto")], check=True)
    sys.path.insert(0, out)
    import grpc  # noqa: E402
    import xlb_pb2  # noqa: E402
    import xlb_pb2_grpc  # noqa: E402
    _pb = (grpc, xlb_pb2, xlb_pb2_grpc)
    return _pb


def endpoints(m, *idx, weight=None):
    eps = []
    for i in idx:
        e = m.Endpoint(address="10.20.%d.2" % i, port=8080, ready=True, serving=True)
        if weight:
            e.weight = weight.get(i, 1)
            e.weight_set = True
        eps.append(e)
    return eps


def web_service(m, *idx, weight=None, algo=0):
    return m.Service(name=WEB_NAME, type=m.CLUSTER_IP, cluster_ip="10.96.0.20", port=80,
                     protocol=m.TCP, algorithm=algo, endpoints=endpoints(m, *idx, weight=weight))


def need_only(r, allowed, what):
    C.need_no_errors(r, what)
    other = set(r["counts"]) - set(allowed)
    if other:
        raise Fail("%s: reached %s, expected only %s (%s)" % (what, sorted(other), allowed,
                                                              C.fmt(r["counts"])))


# ---------------------------------------------------------------- cases

def case_apply_yaml(d):
    r = ctl("apply", "-f", os.path.join(FIX, "lab-services.yaml"))
    out = ctl("get", "services").stdout
    if WEB_NAME not in out or "lab/shop:http" not in out:
        raise Fail("get services does not show both services: %r" % out[:300])
    r = C.tcp("xlb-client", WEB, 60)
    need_only(r, ["be1", "be2", "be3"], "clusterip from YAML")
    # a hash per flow: 20 each, 4 standard deviations (15) below is 5
    if min(r["counts"].get(b, 0) for b in ("be1", "be2", "be3")) < 6:
        raise Fail("uneven rr: %s" % C.fmt(r["counts"]))
    n = C.tcp("xlb-ext", C.NODE_ADDR + ":30081", 30)
    C.need_no_errors(n, "nodeport from YAML")
    return "web %s; nodeport 30081 from outside: %s" % (C.fmt(r["counts"]), C.fmt(n["counts"]))


def case_grpc_sync(d):
    grpc, m, g = pb()
    ch = grpc.insecure_channel("unix:" + SOCK)
    stub = g.XlbStub(ch)
    reqs = [
        m.SyncRequest(version=1, snapshot=True, upserts=[web_service(m, 1, 2)]),
        m.SyncRequest(version=2, upserts=[web_service(m, 3)]),
        m.SyncRequest(version=3, upserts=[m.Service(
            name=WEB_NAME, type=m.CLUSTER_IP, cluster_ip="10.96.0.20", port=80,
            protocol=m.TCP, endpoints=[m.Endpoint(address="10.20.1.2", port=0)])]),
    ]
    # Bidi: send one version, wait for its ack (sent once the datapath has
    # it), check the traffic, then send the next.
    import queue
    q = queue.Queue()

    def gen():
        while True:
            item = q.get()
            if item is None:
                return
            yield item

    it = stub.Sync(gen(), timeout=60)
    acks, results = [], []
    try:
        for req in reqs:
            q.put(req)
            acks.append(next(it))
            results.append(C.tcp("xlb-client", WEB, 20))
    finally:
        q.put(None)
        it.cancel()
    if [a.version for a in acks] != [1, 2, 3]:
        raise Fail("acks %s" % [a.version for a in acks])
    if not (acks[0].ok and acks[1].ok) or acks[2].ok:
        raise Fail("ack ok flags %s" % [a.ok for a in acks])
    if "port" not in acks[2].error:
        raise Fail("rejection does not name the field: %r" % acks[2].error)
    need_only(results[0], ["be1", "be2"], "after snapshot v1")
    need_only(results[1], ["be3"], "after delta v2")
    need_only(results[2], ["be3"], "after rejected v3 (state unchanged)")
    # The snapshot removed the NodePort service.
    n = C.tcp("xlb-ext", C.NODE_ADDR + ":30081", 2)
    if not n["errors"]:
        raise Fail("snapshot did not remove shop: %s" % C.fmt(n["counts"]))
    ch.close()
    return "acks v1 ok, v2 ok, v3 rejected (%s); v1 %s, v2 %s, v3 %s" % (
        acks[2].error[:60], C.fmt(results[0]["counts"]), C.fmt(results[1]["counts"]),
        C.fmt(results[2]["counts"]))


def set_web(*idx, weight=None):
    grpc, m, g = pb()
    with grpc.insecure_channel("unix:" + SOCK) as ch:
        g.XlbStub(ch).UpsertService(m.UpsertServiceRequest(
            service=web_service(m, *idx, weight=weight)), timeout=20)


def hold(tag, seconds):
    """20 connections to WEB held open for up to seconds, in the background:
    (the client, its ready file, the file that stops it)."""
    ready = os.path.join(TMP, tag + ".ready")
    stop = os.path.join(TMP, tag + ".stop")
    for f in (ready, stop):
        if os.path.exists(f):
            os.unlink(f)
    bg = C.Background("xlb-client", "hold", "--dst", WEB, "-n", "20", "--seconds", str(seconds),
                      "--ready", ready, "--stop", stop)
    return bg, ready, stop


def case_hold_changes(d):
    set_web(1, 2, 3)
    bg, ready, stop = hold("hold", 20)
    try:
        C.wait_file(ready, 20)
        changes = [dict(idx=(1, 2, 3, 4)), dict(idx=(1, 2, 3, 4, 5)),
                   dict(idx=(1, 2, 3, 5), weight={2: 3}), dict(idx=(1, 2, 3))]
        for ch in changes:
            set_web(*ch["idx"], weight=ch.get("weight"))
            time.sleep(0.4)
        open(stop, "w").close()
        r = bg.result(timeout=40)
    finally:
        bg.kill()
    if r["opened"] != 20 or r["broken"]:
        raise Fail("opened %d, broken %d" % (r["opened"], r["broken"]))
    return "20 held through %d endpoint changes: 0 broken" % len(changes)


def case_kill9(d):
    set_web(1, 2, 3)
    bg = C.Background("xlb-client", "tcp", "--dst", WEB, "-n", "150", "--interval", "0.02")
    try:
        time.sleep(0.6)
        d.stop(signal.SIGKILL)
        time.sleep(0.6)
        d.start()
        r = bg.result(timeout=60)
    finally:
        bg.kill()
    C.need_no_errors(r, "connections across kill -9 and restart")
    total = sum(r["counts"].values())
    if total != 150:
        raise Fail("%d of 150 answered" % total)
    out = ctl("get", "services").stdout
    if WEB_NAME not in out:
        raise Fail("state not adopted after restart: %r" % out[:200])
    return "150/150 connections during kill -9 + restart (%s); state adopted" % C.fmt(r["counts"])


def case_kill9_ack(d):
    """An acknowledged change is on disk before its reply: kill -9 right
    after it (the change is only in the journal) and a record torn by the
    crash after it; the restart has the change and drops the torn bytes."""
    set_web(1, 2, 3)
    set_web(4)
    d.stop(signal.SIGKILL)
    journal = os.path.join(STATE, "state.journal")
    size = os.path.getsize(journal)
    if size <= 32:
        raise Fail("the journal holds no record (%d bytes)" % size)
    with open(journal, "ab") as f:      # half a record: a write cut short
        f.write(b"\x40\x00\x00\x00\xde\xad\xbe")
    with open(LOG) as f:
        log_start = len(f.read())
    d.start()
    r = C.tcp("xlb-client", WEB, 30)
    need_only(r, ["be4"], "after kill -9 and restart")
    with open(LOG) as f:
        log = f.read()[log_start:]
    for want in ("changes replayed", "stopped at byte %d of %d" % (size, size + 7)):
        if want not in log:
            raise Fail("xlbd log lacks %r: %s" % (want, log[-600:].replace("\n", " | ")))
    aside = [n for n in os.listdir(STATE) if "corrupt" in n]
    if aside:
        raise Fail("a torn tail is not garbage, yet set aside: %s" % aside)
    # Replayed into a new state file, with an empty journal after it.
    if os.path.getsize(journal) != 32:
        raise Fail("journal not compacted on start: %d bytes" % os.path.getsize(journal))
    return "journal %d bytes + 7 torn; after restart: %s" % (size, C.fmt(r["counts"]))


def case_restart_changed(d):
    set_web(1, 2, 3)
    backup = ctl("backup", stdin=b"").stdout
    if not backup:
        raise Fail("empty backup")
    set_web(4)
    d.stop(signal.SIGTERM)
    r = C.tcp("xlb-client", WEB, 10)
    need_only(r, ["be4"], "datapath with xlbd stopped")
    with open(os.path.join(STATE, "state.pb"), "wb") as f:
        f.write(backup)
    d.start()
    r2 = C.tcp("xlb-client", WEB, 30)
    need_only(r2, ["be1", "be2", "be3"], "after start with the older state")
    return "stopped: %s; started with changed state: %s" % (C.fmt(r["counts"]),
                                                         C.fmt(r2["counts"]))


def case_restart_held(d):
    """A restart reloads the BPF program and moves the pinned links to it
    (an in-place upgrade): established connections must not notice."""
    set_web(1, 2, 3)
    bg, ready, stop = hold("rh", 30)
    try:
        C.wait_file(ready, 20)
        prog_before = prog_ids()
        d.stop(signal.SIGTERM)
        time.sleep(0.5)
        d.start()
        prog_after = prog_ids()
        d.stop(signal.SIGKILL)
        d.start()
        time.sleep(0.5)
        open(stop, "w").close()
        r = bg.result(timeout=40)
    finally:
        bg.kill()
    if r["opened"] != 20 or r["broken"]:
        raise Fail("opened %d, broken %d across restarts" % (r["opened"], r["broken"]))
    if prog_before == prog_after:
        raise Fail("the program was not replaced (%s)" % prog_before)
    return "20 held connections through SIGTERM + start (program %s -> %s) and kill -9 + start: 0 broken" % (
        prog_before, prog_after)


def case_upgrade_held(d):
    """Issue 11: a node running the previous build (its conntrack layout) is
    upgraded with connections held open: none may break, and the flows are
    in the new build's tables. Then the previous build is started over the
    new pins (a downgrade): it must fail, leave the pins, and the held
    connections must not notice; the new build starts again."""
    if not os.path.exists(PREV_XLBD):
        return "skipped: %s not built (make prev)" % PREV_XLBD
    d.stop(signal.SIGTERM)
    subprocess.run(["nsenter", "--net=" + C.NODE_NS, XLBD, "--cleanup", "--pin-dir", PIN],
                   capture_output=True, timeout=20)
    prev = Daemon(extra=["--dataplane", "xdp"], binary=PREV_XLBD)
    prev.start()
    set_web(1, 2, 3)
    bg, ready, stop = hold("up", 40)
    try:
        C.wait_file(ready, 20)
        old_ct = os.path.exists(os.path.join(PIN, "ct_map"))
        prev.stop(signal.SIGTERM)
        time.sleep(0.5)
        d.start()		# the upgrade: layout 1 -> 2
        time.sleep(1)
        ct4 = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", os.path.join(PIN, "ct4")],
                             capture_output=True, text=True, timeout=20)
        n_ct4 = ct4.stdout.count('"key"')
        # layout 1's ct_map is replaced by a guard its build cannot load
        guard = subprocess.run(["bpftool", "-j", "map", "show", "pinned",
                                os.path.join(PIN, "ct_map")],
                               capture_output=True, text=True, timeout=20)
        gone = '"type":"array"' in guard.stdout.replace(" ", "")
        d.stop(signal.SIGTERM)
        down = subprocess.run(["nsenter", "--net=" + C.NODE_NS, PREV_XLBD, "--iface", "n-*",
                               "--pin-dir", PIN, "--state-dir", STATE, "--dataplane", "xdp",
                               "--listen", "unix:" + SOCK + ".prev", "--log-level", "info"],
                              capture_output=True, text=True, timeout=30)
        kept = os.path.exists(os.path.join(PIN, "ct4"))
        d.start()
        time.sleep(0.5)
        open(stop, "w").close()
        r = bg.result(timeout=60)
    finally:
        bg.kill()
        try:
            prev.stop()
        except Fail:
            pass
    if not old_ct:
        raise Fail("the previous build pinned no ct_map: not the layout 1 build")
    if r["opened"] != 20 or r["broken"]:
        raise Fail("opened %d, broken %d across the upgrade" % (r["opened"], r["broken"]))
    if n_ct4 < 40 or not gone:
        raise Fail("after the upgrade: %d entries in ct4 (want 2 a held flow), ct_map %s" % (
            n_ct4, "a guard" if gone else "still layout 1's"))
    if down.returncode == 0 or not kept:
        raise Fail("downgrade: previous xlbd exit %d, ct4 %s: %s" % (
            down.returncode, "kept" if kept else "gone", down.stderr[-300:]))
    return ("20 held connections: previous build -> this one (%d ct4 entries migrated, "
            "ct_map replaced by a guard) -> previous refused (exit %d, pins kept) -> this one: "
            "0 broken"
            % (n_ct4, down.returncode))


def prog_ids():
    """XDP program ids attached to the node's interfaces."""
    r = subprocess.run(["nsenter", "--net=" + C.NODE_NS, "ip", "-j", "link", "show", "n-client"],
                       capture_output=True, text=True, timeout=10)
    import json
    try:
        return json.loads(r.stdout)[0]["xdp"]["prog"]["id"]
    except (ValueError, KeyError, IndexError):
        return None


def case_new_link(d):
    """A link that appears after start and matches --iface is attached."""
    subprocess.run(["ip", "-n", "xlb-node", "link", "add", "n-late0", "type", "veth", "peer",
                    "name", "n-late1"], check=True, timeout=10)
    try:
        subprocess.run(["ip", "-n", "xlb-node", "link", "set", "n-late0", "up"], check=True, timeout=10)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            if "n-late0" in ctl("status").stdout:
                break
            time.sleep(0.1)
        else:
            raise Fail("n-late0 not attached within 5 s: %s" % ctl("status").stdout[:300])
        r = subprocess.run(["ip", "-n", "xlb-node", "link", "show", "n-late0"],
                           capture_output=True, text=True, timeout=10)
        if "xdp" not in r.stdout:
            raise Fail("n-late0 listed but carries no XDP program: %s" % r.stdout)
    finally:
        subprocess.run(["ip", "-n", "xlb-node", "link", "del", "n-late0"], capture_output=True,
                       timeout=10)
    end = time.monotonic() + 5
    while time.monotonic() < end and "n-late0" in ctl("status").stdout:
        time.sleep(0.1)
    if "n-late0" in ctl("status").stdout:
        raise Fail("n-late0 still listed after it was deleted")
    return "n-late0 created after start: attached (XDP on the link), and forgotten when deleted"


MANY_LINKS = 120	# a node runs 110+ pods; xlbd attached at most 64 links before issue 11


def attached_links():
    st = ctl("status").stdout
    for line in st.splitlines():
        if line.startswith("interfaces:"):
            return {x.strip() for x in line.split(":", 1)[1].split(",")} - {"none"}
    raise Fail("xlbctl status lists no interfaces line: %s" % st[:300])


def case_many_links(d):
    """More than 64 links (a node's pods) attached at once, and traffic still
    balanced through the lab's own links."""
    names = ["n-many%d" % i for i in range(MANY_LINKS)]
    batch = "".join("link add %s type veth peer name m-many%d\nlink set %s up\n" % (n, i, n)
                    for i, n in enumerate(names))
    subprocess.run(["ip", "-n", "xlb-node", "-batch", "-"], input=batch, text=True, check=True,
                   timeout=60)
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end:
            missing = set(names) - attached_links()
            if not missing:
                break
            time.sleep(0.2)
        else:
            raise Fail("%d of %d links not attached within 30 s (e.g. %s)" % (
                len(missing), len(names), sorted(missing)[:3]))
        total = len(attached_links())
        r = subprocess.run(["ip", "-n", "xlb-node", "-o", "link", "show", "type", "veth"],
                           capture_output=True, text=True, timeout=10)
        no_xdp = [n for n in names if not any(
            (": %s@" % n) in line and "xdp" in line for line in r.stdout.splitlines())]
        if no_xdp:
            raise Fail("listed but without an XDP program: %s" % no_xdp[:5])
        grpc, m, g = pb()
        with grpc.insecure_channel("unix:" + SOCK) as ch:
            g.XlbStub(ch).UpsertService(m.UpsertServiceRequest(service=web_service(m, 1, 2, 3)),
                                        timeout=20)
        got = C.tcp("xlb-client", WEB, 30)
        need_only(got, ["be1", "be2", "be3"], "with %d links attached" % total)
    finally:
        subprocess.run(["ip", "-n", "xlb-node", "-batch", "-"], text=True, timeout=60,
                       input="".join("link del %s\n" % n for n in names), capture_output=True)
    end = time.monotonic() + 30
    while time.monotonic() < end and set(names) & attached_links():
        time.sleep(0.2)
    left = set(names) & attached_links()
    if left:
        raise Fail("%d deleted links still listed" % len(left))
    return ("%d links attached at once (%d new, each with XDP), web: %s; all forgotten when "
            "deleted" % (total, len(names), C.fmt(got["counts"])))


def case_explain(d):
    """xlbctl explain predicts, from the live maps, the backend real traffic gets."""
    grpc, m, g = pb()
    s = web_service(m, 1, 2, 3, algo=m.SH)
    with grpc.insecure_channel("unix:" + SOCK) as ch:
        g.XlbStub(ch).UpsertService(m.UpsertServiceRequest(service=s), timeout=20)
    srcs = ["10.10.1.%d" % i for i in range(100, 110)]
    wrong = []
    for src in srcs:
        out = ctl("explain", "--src", src + ":40000", "--dst", WEB, "--pin-dir", PIN,
                  "-o", "json").stdout
        import json
        want = C.bename(json.loads(out)["backend"].split(":")[0])
        got = C.tcp("xlb-client", WEB, 2, srcs=[src])
        C.need_no_errors(got, "explain check")
        if set(got["counts"]) != {want}:
            wrong.append("%s: explain %s, traffic %s" % (src, want, C.fmt(got["counts"])))
    if wrong:
        raise Fail("; ".join(wrong))
    return "sh: for %d sources the backend explain predicted is the one traffic reached" % len(srcs)


CASES = [
    ("xlbctl apply of Kubernetes YAML, traffic", case_apply_yaml),
    ("gRPC Sync stream from python-grpcio: snapshot, deltas, rejection", case_grpc_sync),
    ("20 long-lived connections through endpoint changes", case_hold_changes),
    ("kill -9 during a stream of new connections, restart adopts", case_kill9),
    ("kill -9 right after an acknowledged change, torn journal tail", case_kill9_ack),
    ("restart with a changed state applied on start", case_restart_changed),
    ("held connections survive restarts (program reloaded, links moved)", case_restart_held),
    ("held connections survive an upgrade from the previous build's layout; a downgrade "
     "is refused", case_upgrade_held),
    ("a matching link that appears later is attached", case_new_link),
    ("more than 64 links attached at once (a node's pods)", case_many_links),
    ("xlbctl explain predicts the backend traffic gets", case_explain),
]


def run_cases(cases, only):
    """Run (name, fn(daemon)) cases against one xlbd; print ok/not ok lines
    and the closing count; clean up whatever happens."""
    d = Daemon()
    try:
        subprocess.run(["nsenter", "--net=" + C.NODE_NS, C.DP, "--pin-dir", C.PIN, "unpin"],
                       capture_output=True, timeout=20)
        d.start()
        for name, fn in cases:
            if only and not any(o in name for o in only):
                continue
            t0 = time.monotonic()
            try:
                if d.p is None:
                    d.start()
                msg = fn(d)
                tap.ok("%s: %s (%.1fs)" % (name, msg, time.monotonic() - t0))
            except Exception as e:  # noqa: BLE001
                tap.not_ok(name, e)
                print("# xlbd log: %s" % tail_log(1500), file=sys.stderr)
    except Fail as e:
        tap.not_ok("xlbd start", e)
    finally:
        try:
            d.stop()
        except Fail:
            pass
        subprocess.run(["nsenter", "--net=" + C.NODE_NS, XLBD, "--cleanup", "--pin-dir", PIN],
                       capture_output=True, timeout=20)
        shutil.rmtree(TMP, ignore_errors=True)
        # the exec probes' cgroups, which xlbd without its capabilities kept
        for cg in glob.glob("/sys/fs/cgroup/*/" + PROBE_CGROUP.lstrip("/")):
            try:
                os.rmdir(cg)
            except OSError:
                pass
    return tap.finish()


def main():
    return run_cases(CASES, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
