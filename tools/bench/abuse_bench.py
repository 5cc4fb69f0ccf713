#!/usr/bin/python3
"""What clients that misbehave cost xlbd (issue 14's abuse, measured).

Starts a fresh, hermetic xlbd per part (as sync_bench.py: temp state dir and
socket, its own pin dir, no interface), with a soft open-files limit of 1,024
(what systemd gives a service; xlbd raises it to the hard limit):

  watchers  RSS after a few rounds of replacing every service (--services x
            10 endpoints, in deltas of 1,000) with no watcher, then with
            --watchers Watch clients that never read (each on a connection
            of its own); how many xlbd ended (RESOURCE_EXHAUSTED)
  idle      --idle idle connections (HTTP/2 preface and SETTINGS, then
            nothing): GetStatus and UpsertService latency next to them
  sigterm   SIGTERM with all of that at once, plus a Sync that writes and
            never reads its answers and 20 handshakes stalled mid-preface:
            seconds until xlbd is gone

  abuse_bench.py [--quick] [--services N] [--watchers N] [--idle N]
                 [--pin-dir /sys/fs/bpf/xlb-abusebench]

Reports only (numbers vary with the machine); exits 1 if xlbd failed to
serve next to the idle connections or did not exit within 10 s.
"""
import argparse
import os
import queue
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sync_bench import ROOT, pct, rss_kb, service, stubs, xlbd_start  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def start(pin, tmp):
    """xlbd with a soft open-files limit of 1,024; (process, socket)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return xlbd_start(pin, tmp, log_level="info", preexec_fn=lambda: resource.setrlimit(
        resource.RLIMIT_NOFILE, (min(1024, hard), hard)))


def stop(x, pin):
    """SIGTERM; seconds until xlbd is gone (None: killed after 10 s)."""
    t0 = time.monotonic()
    x.send_signal(signal.SIGTERM)
    try:
        x.wait(timeout=10)
        dt = time.monotonic() - t0
    except subprocess.TimeoutExpired:
        x.kill()
        x.wait()
        dt = None
    subprocess.run([os.path.join(ROOT, "build/xlbd"), "--cleanup", "--pin-dir", pin],
                   capture_output=True)
    return dt


def fill(g, m, sock, services, rounds):
    """rounds x every service replaced (new endpoints), in deltas of 1,000."""
    with g[0].insecure_channel("unix:" + sock) as ch:
        stub = g[2].XlbStub(ch)
        for r in range(rounds):
            def deltas():
                for v, first in enumerate(range(0, services, 1000)):
                    yield m.SyncRequest(version=r * 1000 + v + 1, upserts=[
                        service(m, i, 10, shift=r) for i in range(first, min(first + 1000,
                                                                             services))])
            for ack in stub.Sync(deltas(), timeout=900):
                if not ack.ok:
                    raise SystemExit("sync rejected: %s" % ack.error)


def watchers(g, m, sock, n):
    """n Watch calls that are never read, each on a connection of its own."""
    grpc = g[0]
    out = []
    for _ in range(n):
        ch = grpc.insecure_channel("unix:" + sock, options=[
            ("grpc.http2.bdp_probe", 0), ("grpc.use_local_subchannel_pool", 1)])
        w = g[2].XlbStub(ch).Watch(m.WatchRequest())
        w.initial_metadata()
        out.append((ch, w))
    return out


def ended(tmp):
    """How many watchers xlbd ended (RESOURCE_EXHAUSTED), from its log."""
    with open(os.path.join(tmp, "xlbd.log")) as f:
        return sum("api: Watch of " in line and " ended: " in line for line in f)


def close_all(ws):
    for ch, w in ws:
        w.cancel()
        ch.close()


def idle_conns(sock, n):
    out = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        out.append(s)
        try:
            s.sendall(PREFACE)
        except OSError:
            pass        # closed by xlbd: its last open files are not for clients
    return out


def latency(g, m, sock, calls):
    """GetStatus and UpsertService: (p50, p99) ms each, and errors."""
    grpc = g[0]
    errs = 0
    gs, up = [], []
    with grpc.insecure_channel("unix:" + sock, options=[
            ("grpc.use_local_subchannel_pool", 1)]) as ch:
        stub = g[2].XlbStub(ch)
        for i in range(calls):
            for v, fn in ((gs, lambda: stub.GetStatus(m.GetStatusRequest(), timeout=30)),
                          (up, lambda: stub.UpsertService(m.UpsertServiceRequest(
                              service=service(m, 60000 + i % 10, 2)), timeout=30))):
                t0 = time.monotonic()
                try:
                    fn()
                    v.append((time.monotonic() - t0) * 1000)
                except grpc.RpcError:
                    errs += 1
    f = lambda v: (pct(v, 0.5), pct(v, 0.99)) if v else (0, 0)
    return f(gs), f(up), errs


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2,000 services, 1 round, 30 watchers")
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--watchers", type=int, default=120)
    ap.add_argument("--idle", type=int, default=1100)
    ap.add_argument("--pin-dir", default="/sys/fs/bpf/xlb-abusebench")
    a = ap.parse_args()
    if a.quick:
        a.services, a.rounds, a.watchers = 2000, 1, 30
    # The client side holds a socket per connection too.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = tempfile.mkdtemp(prefix="xlb-abusebench.")
    g = stubs(tmp)
    m = g[1]
    bad = False
    try:
        rss = {}
        for nw in (0, a.watchers):
            d = os.path.join(tmp, "w%d" % nw)
            os.makedirs(d)
            x, sock = start(a.pin_dir, d)
            try:
                ws = watchers(g, m, sock, nw)
                fill(g, m, sock, a.services, a.rounds)
                time.sleep(1.5)
                fill(g, m, sock, 1000, 1)   # later events: stalled watchers are ended
                time.sleep(0.5)
                rss[nw] = rss_kb(x.pid) / 1024
                n_end = ended(d)
                close_all(ws)
            finally:
                stop(x, a.pin_dir)
            print("watchers: %3d that never read, %d x %d services x 10 endpoints replaced: "
                  "RSS %.0f MiB%s" % (nw, a.rounds, a.services, rss[nw],
                                      ", %d of them ended (RESOURCE_EXHAUSTED)" % n_end
                                      if nw else ""), flush=True)
        print("watchers: %.2f MiB per watcher that never reads" %
              ((rss[a.watchers] - rss[0]) / max(a.watchers, 1)), flush=True)

        d = os.path.join(tmp, "idle")
        os.makedirs(d)
        x, sock = start(a.pin_dir, d)
        conns = []
        try:
            fill(g, m, sock, 1000, 1)
            base = latency(g, m, sock, 50)
            conns = idle_conns(sock, a.idle)
            time.sleep(1)
            busy = latency(g, m, sock, 50)
            print("idle: GetStatus p50/p99 %.1f/%.1f ms, UpsertService %.1f/%.1f ms alone; "
                  "next to %d idle connections %.1f/%.1f ms and %.1f/%.1f ms, %d errors; "
                  "xlbd RSS %.0f MiB" % (base[0] + base[1] + (a.idle, ) + busy[0] + busy[1] +
                                         (busy[2], rss_kb(x.pid) / 1024)), flush=True)
            bad |= busy[2] > 0

            # SIGTERM with everything at once.
            ws = watchers(g, m, sock, a.watchers)
            stall = []
            for _ in range(20):
                u = socket.socket(socket.AF_UNIX)
                u.connect(sock)
                u.sendall(b"PRI * HTTP/2.0\r\n")
                stall.append(u)
            ch = g[0].insecure_channel("unix:" + sock)
            q = queue.Queue()
            for v in range(1, 2001):
                q.put(m.SyncRequest(version=v, upserts=[service(m, v % 50, 1)]).SerializeToString())
            sync = ch.stream_stream("/xlb.v1.Xlb/Sync")(iter(q.get, None))
            fill(g, m, sock, 1000, 1)
            time.sleep(1)
            dt = None
            dt = stop(x, a.pin_dir)
            x = None
            print("sigterm: with %d idle connections, %d Watch and a Sync that never read, 20 "
                  "stalled handshakes: xlbd gone in %s" % (
                      a.idle, a.watchers, "%.2f s" % dt if dt is not None else "> 10 s (killed)"),
                  flush=True)
            bad |= dt is None
            sync.cancel()
            close_all(ws)
            for u in stall:
                u.close()
            ch.close()
        finally:
            for s in conns:
                s.close()
            if x:
                stop(x, a.pin_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
