#!/usr/bin/python3
"""xlbd health checking, end to end, run by tests/e2e/run.sh on a lab that is up.

Backends be1..be3 serve the service on 8080 and HTTP on 8081 (their status
code is set through /run/xlb-lab/beN.status). xlbd probes them itself and
drops a failing endpoint from the datapath; clients judge. One TAP ok/not ok
line per case, then `N passed, N failed`.
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases as C  # noqa: E402
import daemon as D  # noqa: E402

Fail = C.Fail
LAB_RUN = "/run/xlb-lab"
PERIOD_MS, FAIL_N, SUCC_N = 300, 3, 1
WINDOW = (PERIOD_MS * FAIL_N + PERIOD_MS) / 1000.0	# detection bound


def svc(m, name, vip, hc, idx=(1, 2, 3)):
    s = m.Service(name=name, type=m.CLUSTER_IP, cluster_ip=vip, port=80, protocol=m.TCP,
                  algorithm=m.RR, endpoints=D.endpoints(m, *idx))
    s.health_check.CopyFrom(hc)
    return s


def upsert(*services):
    grpc, m, g = D.pb()
    with grpc.insecure_channel("unix:" + D.SOCK) as ch:
        stub = g.XlbStub(ch)
        for s in services:
            stub.UpsertService(m.UpsertServiceRequest(service=s), timeout=20)


def list_eps(name):
    grpc, m, g = D.pb()
    with grpc.insecure_channel("unix:" + D.SOCK) as ch:
        r = g.XlbStub(ch).ListServices(m.ListServicesRequest(name=name), timeout=20)
    return {e.endpoint.address: e for e in r.services[0].endpoints}


def be_pid(i):
    with open(os.path.join(LAB_RUN, "be%d.pid" % i)) as f:
        return int(f.read().split()[0])  # "PID NAME", as scripts/lab/lib.sh's spawn writes


def stop_backend(i):
    os.kill(be_pid(i), signal.SIGTERM)
    time.sleep(0.2)


def start_backend(i):
    p = subprocess.Popen(["ip", "netns", "exec", "xlb-be%d" % i, C.PY,
                          os.path.join(C.ROOT, "tools/lab/server.py"), "--name", "be%d" % i,
                          "--port", "8080", "--status-file",
                          os.path.join(LAB_RUN, "be%d.status" % i)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    with open(os.path.join(LAB_RUN, "be%d.pid" % i), "w") as f:
        f.write("%d server.py\n" % p.pid)
    end = time.monotonic() + 10
    while time.monotonic() < end:
        r = C.client("xlb-client", "tcp", "--dst", "10.20.%d.2:8080" % i, "-n", "1")
        if not r["errors"]:
            return
        time.sleep(0.1)
    raise Fail("be%d did not come back" % i)


def wait_until(what, fn, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if fn():
            return time.monotonic()
        time.sleep(0.05)
    raise Fail("%s: not within %.1fs" % (what, seconds))


def case_http_down_up(d):
    grpc, m, g = D.pb()
    hc = m.HealthCheck(kind=m.HealthCheck.HTTP_GET, http_path="/healthz", port=8081,
                       period_ms=PERIOD_MS, timeout_ms=200, failure_threshold=FAIL_N,
                       success_threshold=SUCC_N)
    upsert(svc(m, "lab/h:http", "10.96.0.30", hc))
    wait_until("all three healthy",
               lambda: all(e.health == "healthy" for e in list_eps("lab/h:http").values()), 5)
    ready, stop = os.path.join(D.TMP, "h.ready"), os.path.join(D.TMP, "h.stop")
    for f in (ready, stop):
        if os.path.exists(f):
            os.unlink(f)
    hold = C.Background("xlb-client", "hold", "--dst", "10.96.0.30:80", "-n", "12",
                        "--seconds", "40", "--ready", ready, "--stop", stop)
    try:
        C.wait_file(ready, 20)
        t0 = time.monotonic()
        stop_backend(2)
        t_gone = wait_until("be2 out of the datapath",
                            lambda: not list_eps("lab/h:http")["10.20.2.2"].in_datapath,
                            WINDOW + 2)
        detect = t_gone - t0
        time.sleep(max(0.0, t0 + WINDOW - time.monotonic()))
        r = C.tcp("xlb-client", "10.96.0.30:80", 60)
        D.need_only(r, ["be1", "be3"], "after be2 stopped, past the window")
        e2 = list_eps("lab/h:http")["10.20.2.2"]
        if e2.health != "unhealthy" or not e2.last_probe_result:
            raise Fail("be2 shows %s / %r" % (e2.health, e2.last_probe_result))
        # Back: rejoins after successThreshold probes.
        t1 = time.monotonic()
        start_backend(2)
        t_back = wait_until("be2 back in the datapath",
                            lambda: list_eps("lab/h:http")["10.20.2.2"].in_datapath,
                            PERIOD_MS * (SUCC_N + 2) / 1000.0 + 2)
        r2 = C.tcp("xlb-client", "10.96.0.30:80", 60)
        C.need_no_errors(r2, "after be2 came back")
        if not r2["counts"].get("be2"):
            raise Fail("be2 back but gets no new flows: %s" % C.fmt(r2["counts"]))
        open(stop, "w").close()
        h = hold.result(timeout=60)
    finally:
        hold.kill()
    broken_healthy = [b for b in h["broken_detail"] if b.get("name") != "be2"]
    if broken_healthy:
        raise Fail("connections to healthy backends broke: %s" % broken_healthy)
    return ("be2 stopped: out of the datapath after %.2fs (bound %.1fs), 60/60 new conns ok "
            "(%s); back after %.2fs; %d held conns to be1/be3 unbroken"
            % (detect, WINDOW, C.fmt(r["counts"]), t_back - t1,
               h["opened"] - h["names"].get("be2", 0)))


def case_http500_vs_tcp(d):
    grpc, m, g = D.pb()
    http = m.HealthCheck(kind=m.HealthCheck.HTTP_GET, http_path="/", port=8081,
                         period_ms=PERIOD_MS, timeout_ms=200, failure_threshold=FAIL_N)
    tcp = m.HealthCheck(kind=m.HealthCheck.TCP_CONNECT, port=8081, period_ms=PERIOD_MS,
                        timeout_ms=200, failure_threshold=FAIL_N)
    upsert(svc(m, "lab/h-http:http", "10.96.0.31", http), svc(m, "lab/h-tcp:http", "10.96.0.32", tcp))
    with open(os.path.join(LAB_RUN, "be3.status"), "w") as f:
        f.write("500\n")
    try:
        wait_until("be3 dropped by the HTTP probe",
                   lambda: not list_eps("lab/h-http:http")["10.20.3.2"].in_datapath, WINDOW + 3)
        time.sleep(WINDOW)
        e = list_eps("lab/h-tcp:http")["10.20.3.2"]
        if not e.in_datapath or e.health != "healthy":
            raise Fail("TCP probe dropped be3 too: %s" % e.health)
        a = C.tcp("xlb-client", "10.96.0.31:80", 30)
        b = C.tcp("xlb-client", "10.96.0.32:80", 30)
        D.need_only(a, ["be1", "be2"], "HTTP-probed service")
        C.need_no_errors(b, "TCP-probed service")
        if not b["counts"].get("be3"):
            raise Fail("TCP-probed service lost be3: %s" % C.fmt(b["counts"]))
        why = list_eps("lab/h-http:http")["10.20.3.2"].last_probe_result
    finally:
        os.unlink(os.path.join(LAB_RUN, "be3.status"))
    return "HTTP 500: dropped by the HTTP probe (%s, %s), kept by the TCP probe (%s)" % (
        why, C.fmt(a["counts"]), C.fmt(b["counts"]))


def case_exec_timeout(d):
    grpc, m, g = D.pb()
    hc = m.HealthCheck(kind=m.HealthCheck.EXEC, command=["/bin/sleep", "30"], period_ms=500,
                       timeout_ms=300, failure_threshold=1)
    upsert(svc(m, "lab/h-exec:http", "10.96.0.33", hc, idx=(1,)))
    t0 = time.monotonic()
    wait_until("exec probe fails at its timeout",
               lambda: list_eps("lab/h-exec:http")["10.20.1.2"].health == "unhealthy", 5)
    e = list_eps("lab/h-exec:http")["10.20.1.2"]
    lat_ms = e.last_probe_latency_us / 1000.0
    if not 250 <= lat_ms <= 1500:
        raise Fail("hung probe took %.0f ms, timeout 300 ms" % lat_ms)
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", "^/bin/sleep 30$"], capture_output=True, text=True).stdout.split()
    if len(left) > 1:	# at most the one in flight right now
        raise Fail("%d hung probes left running" % len(left))
    return "hung exec probe killed after %.0f ms (timeout 300 ms): %s; %d left running" % (
        lat_ms, e.last_probe_result, len(left))


def case_panic(d):
    """--panic-threshold 50: with 1 of 3 endpoints healthy, all 3 are used."""
    d.stop()
    d.extra = ["--panic-threshold", "50"]
    d.start()
    grpc, m, g = D.pb()
    hc = m.HealthCheck(kind=m.HealthCheck.HTTP_GET, http_path="/", port=8081,
                       period_ms=PERIOD_MS, timeout_ms=200, failure_threshold=FAIL_N)
    upsert(svc(m, "lab/h-panic:http", "10.96.0.34", hc))
    files = [os.path.join(LAB_RUN, "be%d.status" % i) for i in (2, 3)]
    try:
        for f in files:
            with open(f, "w") as fh:
                fh.write("503\n")

        def panicking():
            grpc_, m_, g_ = D.pb()
            with grpc_.insecure_channel("unix:" + D.SOCK) as ch:
                r = g_.XlbStub(ch).ListServices(m_.ListServicesRequest(name="lab/h-panic:http"),
                                                timeout=20)
            return r.services[0].panic
        wait_until("panic mode", panicking, WINDOW + 3)
        eps = list_eps("lab/h-panic:http")
        if [eps[a].health for a in ("10.20.2.2", "10.20.3.2")] != ["unhealthy", "unhealthy"]:
            raise Fail("expected be2, be3 unhealthy: %s" % {a: e.health for a, e in eps.items()})
        r = C.tcp("xlb-client", "10.96.0.34:80", 30)
        C.need_no_errors(r, "in panic mode")
        if len(r["counts"]) != 3:
            raise Fail("panic mode should use all 3: %s" % C.fmt(r["counts"]))
        for f in files:
            os.unlink(f)
        wait_until("panic over", lambda: not panicking(), WINDOW + 3)
    finally:
        for f in files:
            if os.path.exists(f):
                os.unlink(f)
        d.stop()
        d.extra = []
        d.start()
    return "1 of 3 healthy (< 50%%): panic on, all used (%s); off again when they recover" % (
        C.fmt(r["counts"]))


def case_tcp_modes(d):
    """A TCP probe drops a stopped backend and takes it back, half-open (the
    default) and with --tcp-probe connect; the verdicts are the same."""
    grpc, m, g = D.pb()
    out = []
    try:
        for mode, vip in (("half-open", "10.96.0.35"), ("connect", "10.96.0.36")):
            d.stop()
            d.extra = [] if mode == "half-open" else ["--tcp-probe", "connect"]
            with open(D.LOG) as f:
                log_start = len(f.read())
            d.start()
            with open(D.LOG) as f:
                log = f.read()[log_start:]
            said = "TCP probes are half-open" in log
            if said != (mode == "half-open"):
                raise Fail("%s: xlbd log %s 'TCP probes are half-open'"
                           % (mode, "says" if said else "lacks"))
            hc = m.HealthCheck(kind=m.HealthCheck.TCP_CONNECT, period_ms=PERIOD_MS,
                               timeout_ms=200, failure_threshold=FAIL_N)
            name = "lab/h-tcp-%s:http" % mode
            upsert(svc(m, name, vip, hc))
            wait_until("all three healthy",
                       lambda: all(e.health == "healthy" for e in list_eps(name).values()), 5)
            t0 = time.monotonic()
            stop_backend(1)
            try:
                t_gone = wait_until("be1 out of the datapath",
                                    lambda: not list_eps(name)["10.20.1.2"].in_datapath,
                                    WINDOW + 2)
                e1 = list_eps(name)["10.20.1.2"]
                if "Connection refused" not in e1.last_probe_result:
                    raise Fail("%s: be1's last result %r" % (mode, e1.last_probe_result))
                time.sleep(max(0.0, t0 + WINDOW - time.monotonic()))
                r = C.tcp("xlb-client", vip + ":80", 30)
                D.need_only(r, ["be2", "be3"], "%s: after be1 stopped" % mode)
            finally:
                start_backend(1)
            t1 = time.monotonic()
            t_back = wait_until("be1 back", lambda: list_eps(name)["10.20.1.2"].in_datapath,
                                PERIOD_MS * (SUCC_N + 2) / 1000.0 + 2)
            out.append("%s: out after %.2fs (bound %.1fs), back after %.2fs"
                       % (mode, t_gone - t0, WINDOW, t_back - t1))
    finally:
        d.stop()
        d.extra = []
        d.start()
    return "; ".join(out)


CASES = [
    ("HTTP probe: stopped backend leaves within the window, comes back, healthy flows unbroken",
     case_http_down_up),
    ("HTTP 500 dropped by an HTTP probe, kept by a TCP probe", case_http500_vs_tcp),
    ("TCP probe, half-open and connect(): stopped backend leaves within the window, comes back",
     case_tcp_modes),
    ("hung exec probe killed at its timeout", case_exec_timeout),
    ("panic mode: too few healthy, use them all", case_panic),
]


def main():
    return D.run_cases(CASES, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
