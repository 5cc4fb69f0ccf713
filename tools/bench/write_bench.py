#!/usr/bin/python3
"""Write throughput with concurrent writers: does group commit engage?

Starts its own xlbd (hermetic, as sync_bench.py: temp state dir, its own
pin dir, no interface), then for each N in --writers runs N concurrent
writers (asyncio over one channel each) doing UpsertService back to back for
--seconds, each upsert changing one endpoint of one of 1,000 services, and
prints upserts/s. Every upsert is acknowledged only once the journal has
it on disk, so one writer gets one fsync per upsert; N writers should share
fsyncs: the check is N writers > N/2 x one writer's rate, up to what the
CPU allows (on 2 shared CPUs the client competes with xlbd). A reader on a
channel of its own does a GetStatus every 10 ms throughout (alone first):
reads run on the completion-queue thread and should not wait for writes.

  write_bench.py [--writers 1,8,32] [--seconds 5] [--pin-dir /sys/fs/bpf/xlb-writebench]
"""
import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sync_bench import pct, service, stubs, xlbd_start, xlbd_stop  # noqa: E402


async def run(grpc, m, g, sock, n, seconds):
    """n writers for `seconds`, and a reader doing a GetStatus every 10 ms
    on a channel of its own: (upserts/s, GetStatus latencies in ms)."""
    chans = [grpc.aio.insecure_channel("unix:" + sock) for _ in range(n + 1)]
    stubs_ = [g.XlbStub(c) for c in chans]
    done = 0
    lat = []
    end = time.monotonic() + seconds

    async def reader():
        while time.monotonic() < end:
            t = time.monotonic()
            await stubs_[n].GetStatus(m.GetStatusRequest(), timeout=60)
            lat.append((time.monotonic() - t) * 1000)
            await asyncio.sleep(0.01)

    async def writer(k):
        nonlocal done
        i = 0
        while time.monotonic() < end:
            s = service(m, (k * 997 + i) % 1000, 2)
            s.endpoints[0].address = "10.200.%d.%d" % (k, i & 255)
            await stubs_[k].UpsertService(m.UpsertServiceRequest(service=s), timeout=60)
            done += 1
            i += 1
    t0 = time.monotonic()
    await asyncio.gather(reader(), *(writer(k) for k in range(n)))
    dt = time.monotonic() - t0
    for c in chans:
        await c.close()
    return done / dt, lat


def fsyncs(pid, seconds):
    """perf counting xlbd's fdatasync calls for about `seconds`, or None."""
    if not shutil.which("perf"):
        return None
    return subprocess.Popen(["perf", "stat", "-x", ",", "-e", "syscalls:sys_enter_fdatasync",
                             "-p", str(pid), "--", "sleep", str(seconds)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def perf_count(p):
    if not p:
        return 0
    _, err = p.communicate(timeout=60)
    for line in err.splitlines():
        f = line.split(",")
        if len(f) > 2 and "fdatasync" in f[2] and f[0].isdigit():
            return int(f[0])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--writers", default="1,8,32")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--pin-dir", default="/sys/fs/bpf/xlb-writebench")
    a = ap.parse_args()
    ns = [int(x) for x in a.writers.split(",")]
    tmp = tempfile.mkdtemp(prefix="xlb-writebench.", dir="/var/tmp")
    xlbd, sock = xlbd_start(a.pin_dir, tmp)
    try:
        grpc, m, g = stubs(tmp)
        import grpc.aio  # noqa: F401
        with grpc.insecure_channel("unix:" + sock) as ch:
            g.XlbStub(ch).Sync(iter([m.SyncRequest(version=1, snapshot=True, upserts=[
                service(m, i, 2) for i in range(1000)])]), timeout=60).__next__()
        rates, per_sync = {}, {}
        _, lat = asyncio.run(run(grpc, m, g, sock, 0, min(a.seconds, 2)))
        print("GetStatus alone: p50 %.2f ms, p99 %.2f ms" % (pct(lat, 0.5), pct(lat, 0.99)),
              flush=True)
        for n in ns:
            perf = fsyncs(xlbd.pid, a.seconds)
            t0 = time.monotonic()
            rates[n], lat = asyncio.run(run(grpc, m, g, sock, n, a.seconds))
            syncs = perf_count(perf)
            per_sync[n] = rates[n] * (time.monotonic() - t0) / syncs if syncs else 0
            print("%2d writers: %7.0f upserts/s (%.1f x one writer), %s; GetStatus meanwhile "
                  "p50 %.2f ms, p99 %.2f ms"
                  % (n, rates[n], rates[n] / rates[ns[0]],
                     "%.1f upserts per fdatasync" % per_sync[n] if syncs else
                     "fdatasyncs not counted (no perf)", pct(lat, 0.5), pct(lat, 0.99)),
                  flush=True)
    finally:
        xlbd_stop(xlbd, a.pin_dir)
        shutil.rmtree(tmp, ignore_errors=True)
    base = rates[ns[0]]
    ok = all(rates[n] > n / 2 * base for n in ns if n > 1)
    print("N writers > N/2 x one writer's rate: %s" % ("yes, for every N" if ok else "no"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
