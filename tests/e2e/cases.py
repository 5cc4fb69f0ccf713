#!/usr/bin/python3
"""xlb end-to-end cases, run by tests/e2e/run.sh on a lab that is up.

Each case programs services with build/xlb-dp (in the node namespace,
pins under the lab's own directory) and judges the datapath only by what
the clients in the other namespaces received. TAP (tests/lib/tap.py):
`ok N - NAME: figures` or `not ok N - NAME` and the reason per case, then
`N passed, N failed` last.

  cases.py [-k SUBSTRING]...   run only the cases whose name matches
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tap  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = "/usr/bin/python3"
CLIENT = os.path.join(ROOT, "tools/lab/client.py")
DP = os.environ.get("XLB_DP", os.path.join(ROOT, "build/xlb-dp"))
PIN = os.environ.get("XLB_LAB_PIN", "/sys/fs/bpf/xlb-lab")
NODE_NS = "/run/netns/xlb-node"
NODE_IFS = ["n-client", "n-ext"] + ["n-be%d" % i for i in range(1, 6)]
VIP = "10.96.0.10"
VIP_NP = "10.96.0.11"
NODE_ADDR = "10.10.2.1"


class Fail(Exception):
    pass


def be(i, **kw):
    """--backend argument for backend i (10.20.i.2:8080)."""
    s = "10.20.%d.2:8080" % i
    if "weight" in kw:
        s += ",weight=%d" % kw["weight"]
    if kw.get("terminating"):
        s += ",terminating"
    return s


def bename(addr):
    return "be%d" % int(addr.split(".")[2])


def dp(*args, check=True):
    """Run one xlb-dp command in the node's net namespace (host mounts)."""
    cmd = ["nsenter", "--net=" + NODE_NS, DP, "--pin-dir", PIN] + list(args)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        raise Fail("xlb-dp %s: timed out" % " ".join(args))
    if check and r.returncode != 0:
        raise Fail("xlb-dp %s: exit %d: %s" % (" ".join(args), r.returncode,
                                              r.stderr.strip()[:300]))
    return r


def service_set(vip, port, proto, backends, algo="rr", extra=()):
    args = ["service", "set", "--vip", vip, "--port", str(port),
            "--proto", proto, "--algo", algo] + list(extra)
    for b in backends:
        args += ["--backend", b]
    dp(*args)


def client_cmd(ns, sub, *args):
    """ns: a namespace's name, or the command that runs the client where
    it belongs (e.g. scripts/lab.sh cluster exec n1p1)."""
    prefix = ns if isinstance(ns, list) else ["ip", "netns", "exec", ns]
    return prefix + [PY, CLIENT, sub] + list(args)


def client(ns, sub, *args, timeout=90):
    cmd = client_cmd(ns, sub, *args)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Fail("client %s %s: timed out" % (sub, " ".join(args)))
    try:
        return json.loads(r.stdout)
    except ValueError:
        raise Fail("client %s: no JSON (exit %d): %s" % (
            sub, r.returncode, (r.stderr or r.stdout).strip()[-300:]))


class Background:
    """A client subcommand running while the test changes the datapath."""

    def __init__(self, ns, sub, *args):
        self.p = subprocess.Popen(client_cmd(ns, sub, *args),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)

    def result(self, timeout=60):
        try:
            out, err = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.communicate()
            raise Fail("background client timed out")
        try:
            return json.loads(out)
        except ValueError:
            raise Fail("background client: no JSON: %s" % err.strip()[-300:])

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.communicate()


def wait_file(path, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
        time.sleep(0.05)
    raise Fail("no %s within %ds" % (os.path.basename(path), seconds))


def hold_through(ns, dst, n, tmp, during, seconds=150):
    """n connections held to dst (client hold) while during() runs; returns
    the hold's result and during()'s."""
    ready, stop = os.path.join(tmp, "hold.ready"), os.path.join(tmp, "hold.stop")
    h = Background(ns, "hold", "--dst", dst, "-n", str(n), "--seconds", str(seconds),
                   "--ready", ready, "--stop", stop)
    try:
        opened = wait_file(ready, 20)
        if opened["opened"] != n:
            raise Fail("opened only %d of %d held connections" % (opened["opened"], n))
        out = during()
        with open(stop, "w"):
            pass
        return h.result(60), out
    finally:
        h.kill()


def fmt(counts, names=None):
    names = names or sorted(counts)
    return " ".join("%s=%d" % (n, counts.get(n, 0)) for n in names)


def tcp(ns, dst, n, srcs=()):
    args = ["--dst", dst, "-n", str(n)]
    for s in srcs:
        args += ["--src", s]
    return client(ns, "tcp", *args)


def need_no_errors(r, what):
    if r["errors"]:
        raise Fail("%s: %d errors %s, got %s" % (what, r["errors"],
                                                 r.get("error_kinds"),
                                                 fmt(r["counts"])))


# ---------------------------------------------------------------- cases

def case_routing():
    """Before attaching: the lab routes client -> backend on its own."""
    r = tcp("xlb-client", "10.20.1.2:8080", 10)
    need_no_errors(r, "client -> 10.20.1.2:8080")
    if r["counts"] != {"be1": 10}:
        raise Fail("got %s" % fmt(r["counts"]))
    return "client -> be1 direct: be1=10"


def spread_ok(got, n, p):
    """rr and wrr pick a flow's backend by a hash of its 5-tuple (the
    client's ports are random): a binomial spread, within 4 standard
    deviations of its share."""
    return abs(got - n * p) <= 4 * (n * p * (1 - p)) ** 0.5


def case_rr():
    service_set(VIP, 80, "tcp", [be(1), be(2), be(3)], "rr")
    r = tcp("xlb-client", VIP + ":80", 300)
    need_no_errors(r, "300 conns")
    c = r["counts"]
    names = ["be1", "be2", "be3"]
    bad = [n for n in names if not spread_ok(c.get(n, 0), 300, 1 / 3)]
    if bad or set(c) - set(names):
        raise Fail("want each 100 +- 4 sigma (33): %s" % fmt(c))
    return "300 conns: " + fmt(c, names)


def case_wrr():
    service_set(VIP, 80, "tcp",
                [be(1, weight=1), be(2, weight=2), be(3, weight=3)], "wrr")
    r = tcp("xlb-client", VIP + ":80", 600)
    need_no_errors(r, "600 conns")
    c = r["counts"]
    want = {"be1": 100, "be2": 200, "be3": 300}
    bad = [n for n in want if not spread_ok(c.get(n, 0), 600, want[n] / 600)]
    if bad or set(c) - set(want):
        raise Fail("want 100/200/300 +- 4 sigma: %s" % fmt(c))
    return "1:2:3, 600 conns: " + fmt(c, sorted(want))


SH_SRCS = ["10.10.1.%d" % i for i in range(100, 150)]


def sh_map(r):
    """source -> its single backend; Fail if a source saw two."""
    m = {}
    for src, names in r["by_src"].items():
        if len(names) != 1:
            raise Fail("source %s saw %s" % (src, names))
        m[src] = next(iter(names))
    missing = set(SH_SRCS) - set(m)
    if missing:
        raise Fail("no answer for sources %s" % sorted(missing)[:5])
    return m


def case_sh():
    service_set(VIP, 80, "tcp", [be(i) for i in range(1, 6)], "sh")
    r = tcp("xlb-client", VIP + ":80", 4 * len(SH_SRCS), SH_SRCS)
    need_no_errors(r, "sh over be1..be5")
    before = sh_map(r)
    spread = {}
    for n in before.values():
        spread[n] = spread.get(n, 0) + 1
    service_set(VIP, 80, "tcp", [be(i) for i in range(1, 5)], "sh")
    r = tcp("xlb-client", VIP + ":80", 4 * len(SH_SRCS), SH_SRCS)
    need_no_errors(r, "sh over be1..be4")
    after = sh_map(r)
    if "be5" in after.values():
        raise Fail("removed be5 still chosen")
    changed = [s for s in SH_SRCS if before[s] != after[s]]
    kept_moved = [s for s in changed if before[s] != "be5"]
    figures = ("50 sources x4, one backend each (%s); remove be5: %d/50 "
               "changed (%d were on be5, %d moved off be1..be4)" % (
                   fmt(spread, ["be%d" % i for i in range(1, 6)]),
                   len(changed), len(changed) - len(kept_moved),
                   len(kept_moved)))
    if len(changed) > 0.30 * len(SH_SRCS):
        raise Fail("too many moved: " + figures)
    return figures


def case_affinity():
    service_set(VIP, 80, "tcp", [be(1), be(2), be(3)], "rr",
                ["--affinity", "10800"])
    out = []
    for src in ("10.10.1.120", "10.10.1.121"):
        r = tcp("xlb-client", VIP + ":80", 30, [src])
        need_no_errors(r, "affinity from " + src)
        if len(r["counts"]) != 1:
            raise Fail("%s not sticky: %s" % (src, fmt(r["counts"])))
        out.append("%s->%s x%d" % (src, *next(iter(r["counts"].items()))))
    return "30 conns each: " + ", ".join(out)


def case_hold_change(tmp):
    service_set(VIP, 80, "tcp", [be(1), be(2), be(3)], "rr")
    ready, stop = os.path.join(tmp, "ready"), os.path.join(tmp, "stop")
    h = Background("xlb-client", "hold", "--dst", VIP + ":80", "-n", "20",
                   "--seconds", "15", "--ready", ready, "--stop", stop)
    try:
        opened = wait_file(ready, 15)
        if opened["opened"] != 20:
            raise Fail("opened only %d of 20" % opened["opened"])
        time.sleep(0.6)
        service_set(VIP, 80, "tcp", [be(1), be(2), be(3), be(4)], "rr")
        time.sleep(0.6)
        new = tcp("xlb-client", VIP + ":80", 40)
        service_set(VIP, 80, "tcp", [be(1), be(2, weight=2), be(3)], "rr")
        time.sleep(0.6)
        after = tcp("xlb-client", VIP + ":80", 30)
        time.sleep(0.4)
        with open(stop, "w"):
            pass
        r = h.result(30)
    finally:
        h.kill()
    need_no_errors(new, "new conns with be4 added")
    need_no_errors(after, "new conns after weight change")
    if r["broken"]:
        raise Fail("%d of %d broken: %s" % (r["broken"], r["opened"],
                                            r["broken_detail"][:4]))
    if not new["counts"].get("be4"):
        raise Fail("be4 added but new conns never reach it: %s"
                   % fmt(new["counts"]))
    if after["counts"].get("be4"):
        raise Fail("be4 removed but still chosen: %s" % fmt(after["counts"]))
    return ("hold 20 (%s) through add be4 + reweight be2: 0 broken, %d pings; "
            "new conns with be4: %s; after: %s" % (
                fmt(r["names"]), r["pings"], fmt(new["counts"]),
                fmt(after["counts"])))


def case_removed(tmp):
    service_set(VIP, 80, "tcp", [be(1), be(2), be(3)], "rr")
    ready, go = os.path.join(tmp, "rready"), os.path.join(tmp, "go")
    h = Background("xlb-client", "rst", "--dst", VIP + ":80",
                   "--ready", ready, "--go", go, "--wait", "20")
    try:
        name = wait_file(ready, 10)["name"]
        if not name:
            raise Fail("connection did not open")
        i = int(name[2:])
        service_set(VIP, 80, "tcp", [be(j) for j in (1, 2, 3) if j != i], "rr")
        time.sleep(0.3)
        with open(go, "w"):
            pass
        r = h.result(30)
    finally:
        h.kill()
    new = tcp("xlb-client", VIP + ":80", 30)
    need_no_errors(new, "new conns after removal")
    if r["outcome"] != "reset":
        raise Fail("connection to removed %s: want reset, got %s (answer %s) "
                   "after %.2fs" % (name, r["outcome"], r["answer"],
                                    r["elapsed"]))
    if r["elapsed"] > 1.0:
        raise Fail("reset only after %.2fs" % r["elapsed"])
    if name in new["counts"]:
        raise Fail("removed %s still chosen: %s" % (name, fmt(new["counts"])))
    return "removed %s: open conn reset in %.3fs; new conns: %s" % (
        name, r["elapsed"], fmt(new["counts"]))


def case_terminating(tmp):
    service_set(VIP, 80, "tcp", [be(1), be(2), be(3)], "rr")
    ready, stop = os.path.join(tmp, "tready"), os.path.join(tmp, "tstop")
    h = Background("xlb-client", "hold", "--dst", VIP + ":80", "-n", "12",
                   "--seconds", "15", "--ready", ready, "--stop", stop)
    try:
        opened = wait_file(ready, 15)
        if not opened["names"].get("be1"):
            raise Fail("no held connection on be1: %s" % fmt(opened["names"]))
        service_set(VIP, 80, "tcp", [be(1, terminating=True), be(2), be(3)],
                    "rr")
        time.sleep(0.6)
        new = tcp("xlb-client", VIP + ":80", 60)
        time.sleep(0.6)
        with open(stop, "w"):
            pass
        r = h.result(30)
    finally:
        h.kill()
    need_no_errors(new, "new conns while be1 terminating")
    if r["broken"]:
        raise Fail("%d held connections broken: %s" % (
            r["broken"], r["broken_detail"][:4]))
    if new["counts"].get("be1"):
        raise Fail("terminating be1 got new conns: %s" % fmt(new["counts"]))
    return ("be1 terminating: %d held conns on be1 kept working (0 broken of "
            "%d); 60 new conns: %s" % (r["names"]["be1"], r["opened"],
                                      fmt(new["counts"])))


def case_udp():
    service_set(VIP, 53, "udp", [be(1), be(2), be(3)], "rr")
    r = client("xlb-client", "udp", "--dst", VIP + ":53", "-n", "90")
    need_no_errors(r, "90 datagrams")
    c = r["counts"]
    if r["wrong_src"] or set(r["reply_from"]) != {VIP + ":53"}:
        raise Fail("replies from %s" % r["reply_from"])
    names = ["be1", "be2", "be3"]
    if set(c) - set(names) or any(not spread_ok(c.get(n, 0), 90, 1 / 3) for n in names):
        raise Fail("uneven: %s" % fmt(c))
    return "90 datagrams, all answered from %s:53: %s" % (VIP, fmt(c, names))


def global_stats():
    out = {}
    for line in dp("stats").stdout.splitlines():
        f = line.split()
        if len(f) == 2 and f[1].isdigit():
            out[f[0]] = int(f[1])
    return out


def case_jumbo():
    """Jumbo frames from the client (its link at MTU 9000, the backends' at
    the default 1500): each 8,000-byte datagram reaches the node as one
    multi-buffer frame, which a redirect may not send. The datapath
    translates it and hands it to the stack, which fragments it for the
    backend's link; every datagram is answered, and counted pass_multibuf."""
    n = 20
    service_set(VIP, 53, "udp", [be(1), be(2), be(3)], "rr")
    links = (["ip", "-n", "xlb-node", "link", "set", "n-client", "mtu"],
             ["ip", "-n", "xlb-client", "link", "set", "eth0", "mtu"])
    try:
        for cmd in links:
            subprocess.run(cmd + ["9000"], check=True, capture_output=True, timeout=10)
        before = global_stats()
        r = client("xlb-client", "udp", "--dst", VIP + ":53", "-n", str(n), "--size", "8000")
        after = global_stats()
    finally:
        for cmd in links:
            subprocess.run(cmd + ["1500"], capture_output=True, timeout=10)
    need_no_errors(r, "%d datagrams of 8,000 bytes" % n)
    if r["wrong_src"] or set(r["reply_from"]) != {VIP + ":53"}:
        raise Fail("replies from %s" % r["reply_from"])
    moved = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    if moved.get("pass_multibuf", 0) != n:
        raise Fail("pass_multibuf moved by %d, expected %d (moved: %s)" % (
            moved.get("pass_multibuf", 0), n, {k: v for k, v in moved.items() if v}))
    return "%d datagrams of 8,000 bytes over a 9000-MTU link, all answered from %s:53 " \
        "(%s): %d counted pass_multibuf" % (n, VIP, fmt(r["counts"]), moved["pass_multibuf"])


def case_nodeport():
    service_set(VIP_NP, 80, "tcp", [be(1), be(2), be(3)], "rr",
                ["--node-port", "30080"])
    r = tcp("xlb-ext", "%s:30080" % NODE_ADDR, 60)
    need_no_errors(r, "60 conns to %s:30080 from xlb-ext" % NODE_ADDR)
    c = r["counts"]
    if len(c) < 3 or min(c.values()) < 10:
        raise Fail("not spread: %s" % fmt(c))
    ci = tcp("xlb-client", VIP_NP + ":80", 30)
    need_no_errors(ci, "ClusterIP %s:80" % VIP_NP)
    return "%s:30080 from xlb-ext 60 conns: %s; clusterip %s:80: %s" % (
        NODE_ADDR, fmt(c), VIP_NP, fmt(ci["counts"]))


def case_untouched():
    r = tcp("xlb-client", "10.20.1.2:8080", 20)
    need_no_errors(r, "direct tcp to be1")
    u = client("xlb-client", "udp", "--dst", "10.20.2.2:8080", "-n", "10")
    need_no_errors(u, "direct udp to be2")
    if r["counts"] != {"be1": 20} or u["counts"] != {"be2": 10}:
        raise Fail("got tcp %s udp %s" % (fmt(r["counts"]), fmt(u["counts"])))
    return "direct with XDP attached: tcp be1=20, udp be2=10"


def case_adopt():
    # Both services must be present: (re)program them, each xlb-dp run
    # exits, then a fresh invocation must find them in the pinned maps.
    service_set(VIP, 80, "tcp", [be(1), be(2), be(3)], "rr")
    service_set(VIP_NP, 80, "tcp", [be(1), be(2), be(3)], "rr",
                ["--node-port", "30080"])
    out = dp("service", "list").stdout
    for want in (VIP, VIP_NP):
        if want not in out:
            raise Fail("service list lacks %s: %r" % (want, out[:300]))
    running = subprocess.run(["pgrep", "-x", "xlb-dp"], capture_output=True,
                             text=True).stdout.split()
    if running:
        raise Fail("xlb-dp processes still running: %s" % running)
    r = tcp("xlb-client", VIP + ":80", 30)
    need_no_errors(r, "traffic with no xlb-dp running")
    n = tcp("xlb-ext", "%s:30080" % NODE_ADDR, 30)
    need_no_errors(n, "nodeport with no xlb-dp running")
    return ("service list (new process) shows %s and %s; no process running, "
            "clusterip: %s, nodeport: %s" % (VIP, VIP_NP, fmt(r["counts"]),
                                              fmt(n["counts"])))


CASES = [
    ("lab routing without XDP", case_routing, False),
    ("rr", case_rr, True),
    ("wrr", case_wrr, True),
    ("sh", case_sh, True),
    ("affinity", case_affinity, True),
    ("established survive backend change", case_hold_change, True),
    ("removed backend resets", case_removed, True),
    ("terminating backend drains", case_terminating, True),
    ("udp", case_udp, True),
    ("jumbo frames: multi-buffer, to the stack, answered", case_jumbo, True),
    ("nodeport", case_nodeport, True),
    ("non-service traffic untouched", case_untouched, True),
    ("restart adoption", case_adopt, True),
]


def attach():
    dp("attach", *NODE_IFS)
    dp("node-addr", "add", NODE_ADDR)


def diagnostics():
    """What the datapath saw, as comment lines, after a failure."""
    for args in (["stats"], ["ct", "list"], ["service", "list"]):
        try:
            r = dp(*args, check=False)
            text = (r.stdout + r.stderr).strip().splitlines()
        except Fail as e:
            text = [str(e)]
        print("# xlb-dp %s:" % " ".join(args), file=sys.stderr)
        for line in text[:40]:
            print("#   " + line, file=sys.stderr)
        if len(text) > 40:
            print("#   ... %d more lines" % (len(text) - 40), file=sys.stderr)


def cleanup_services():
    """Between cases: drop services and conntrack so cases are independent."""
    for vip, port, proto in ((VIP, 80, "tcp"), (VIP, 53, "udp"),
                             (VIP_NP, 80, "tcp")):
        dp("service", "del", "--vip", vip, "--port", str(port),
           "--proto", proto, check=False)
    dp("ct", "flush", check=False)


def main():
    # Terminated by run.sh's timeout or trap: unwind so finally blocks run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    only = []
    argv = sys.argv[1:]
    while argv:
        a = argv.pop(0)
        if a == "-k" and argv:
            only.append(argv.pop(0))
    attached = None
    tmp = tempfile.mkdtemp(prefix="xlb-e2e-")
    try:
        for name, fn, needs_xdp in CASES:
            if only and not any(k in name for k in only):
                continue
            t0 = time.monotonic()
            try:
                if needs_xdp:
                    if attached is None:
                        try:
                            attach()
                            attached = ""
                        except Fail as e:
                            attached = str(e)
                    if attached:
                        raise Fail("setup: " + attached)
                    cleanup_services()
                args = (tmp,) if fn.__code__.co_argcount else ()
                figures = fn(*args)
                tap.ok("%s: %s (%.1fs)" % (name, figures, time.monotonic() - t0))
            except Fail as e:
                tap.not_ok(name, e)
                if needs_xdp and not attached:
                    diagnostics()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
