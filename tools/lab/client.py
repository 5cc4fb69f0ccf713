#!/usr/bin/python3
"""Lab traffic client: every subcommand prints one JSON object on stdout.

  probe --dst IP:PORT [--expect NAME]         one TCP connection; exit 0 if it
        [--sport PORT]                        answered (with NAME if given); from
                                              PORT (SO_REUSEADDR: one a closed
                                              connection of ours still holds)
  tcp   --dst IP:PORT -n N [--src IP]...      N new connections, first line each
  udp   --dst IP:PORT -n N [--src IP]...      N datagrams, each from a new socket
        [--size B]                            of B bytes (padded; DF clear, so a
                                              router may fragment them)
  hold  --dst IP:PORT -n N --seconds S        N long-lived connections pinged
        [--ready FILE] [--stop FILE]          every 0.2 s; counts broken ones;
                                              "conns": each one's source
                                              address and first answer (and
                                              at the end why it broke)
  http  --dst IP:PORT -n N [--bytes B]        N connections, each GET /bytes/B
                                              (the server's HTTP port); every
                                              body checked byte for byte
  rst   --dst IP:PORT --ready FILE --go FILE  open one connection, write its
        [--wait S]                            backend to FILE, wait for GO, send,
                                              report reset / timeout / answer

Every socket operation has a timeout (--timeout, 2 s), every loop a bounded
count and an overall deadline (--deadline), so a broken datapath makes a
test fail, never hang. Standard library only (run with /usr/bin/python3).
"""
import argparse
import errno
import json
import os
import socket
import sys
import time


def hostport(s):
    host, _, port = s.rpartition(":")
    return host, int(port)


def emit(obj):
    json.dump(obj, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    sys.stdout.flush()


class Eof(Exception):
    """The peer closed the connection (FIN) before answering."""


def err_name(e):
    if isinstance(e, Eof):
        return "eof"
    if isinstance(e, socket.timeout):
        return "timeout"
    if isinstance(e, ConnectionResetError):
        return "reset"
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, OSError) and e.errno is not None:
        return errno.errorcode.get(e.errno, str(e.errno)).lower()
    return type(e).__name__


class LineConn:
    """A TCP connection read line by line with a per-operation timeout."""

    def __init__(self, dst, src, timeout, sport=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if sport:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if src or sport:
            self.sock.bind((src or "", sport))
        self.buf = b""
        try:
            self.sock.connect(dst)
        except BaseException:
            self.sock.close()
            raise

    def readline(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                raise Eof()
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode(errors="replace")

    def ping(self):
        self.sock.sendall(b"ping\n")
        return self.readline()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def bump(d, k, by=1):
    d[k] = d.get(k, 0) + by


def cmd_probe(a):
    try:
        c = LineConn(hostport(a.dst), a.src[0] if a.src else None, a.timeout, a.sport)
        name = c.readline()
        c.close()
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        emit({"ok": False, "error": err_name(e)})
        return 1
    ok = a.expect is None or name == a.expect
    emit({"ok": ok, "name": name})
    return 0 if ok else 1


def exchanges(a, one):
    """a.n exchanges, one(dst, src) -> the answering backend's name each,
    sources taken in turn, within a.deadline: the names counted overall and
    by source, the failures by kind (a ValueError is a bad answer)."""
    dst = hostport(a.dst)
    srcs = a.src or [None]
    counts, by_src, errs = {}, {}, {}
    end = time.monotonic() + a.deadline
    for i in range(a.n):
        src = srcs[i % len(srcs)]
        if time.monotonic() > end:
            bump(errs, "deadline")
            continue
        if getattr(a, "interval", 0) and i:
            time.sleep(a.interval)
        try:
            name = one(dst, src)
        except ValueError as e:
            bump(errs, "bad_" + str(e))
            continue
        except Exception as e:  # noqa: BLE001
            bump(errs, err_name(e))
            continue
        bump(counts, name)
        bump(by_src.setdefault(src or "-", {}), name)
    return {"counts": counts, "errors": sum(errs.values()), "error_kinds": errs,
            "by_src": by_src}


def cmd_tcp(a):
    def one(dst, src):
        c = LineConn(dst, src, a.timeout)
        try:
            return c.readline()
        finally:
            c.close()

    emit(exchanges(a, one))
    return 0


def cmd_udp(a):
    reply_from = {}
    wrong_src = [0]

    def one(dst, src):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(a.timeout)
        try:
            s.bind((src or "0.0.0.0", 0))
            msg = b"hello\n"
            if a.size > len(msg):
                msg += b"." * (a.size - len(msg))
                # IP_MTU_DISCOVER = IP_PMTUDISC_DONT: no DF, fragments allowed
                s.setsockopt(socket.IPPROTO_IP, 10, 0)
            s.sendto(msg, dst)
            data, frm = s.recvfrom(4096)
        finally:
            s.close()
        bump(reply_from, "%s:%d" % frm)
        if frm != dst:
            wrong_src[0] += 1
        return data.decode(errors="replace").strip()

    out = exchanges(a, one)
    out.update(reply_from=reply_from, wrong_src=wrong_src[0])
    emit(out)
    return 0


def pattern(n):
    """What tools/lab/server.py's GET /bytes/N sends."""
    return bytes(range(251)) * (n // 251) + bytes(range(n % 251))


def http_get(dst, src, timeout, size, upload=0):
    """One GET /bytes/SIZE on a new connection, the request padded with
    header lines of 1 KiB up to UPLOAD bytes (a transfer each way): the
    X-Name header, or an exception (a wrong status, length or byte is
    ValueError)."""
    pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"x" * (1014 - len(str(i))))
                   for i in range((upload + 1023) // 1024))
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if src:
            s.bind((src, 0))
        s.connect(dst)
        s.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: lab\r\n%s\r\n" % (size, pad))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not sep or not lines[0].startswith(b"HTTP/1.1 200 "):
        raise ValueError("status")
    hdr = dict(l.split(b": ", 1) for l in lines[1:] if b": " in l)
    if int(hdr.get(b"Content-Length", b"-1")) != size or len(body) != size:
        raise ValueError("length")
    if body != pattern(size):
        raise ValueError("bytes")
    return hdr.get(b"X-Name", b"?").decode(errors="replace")


def cmd_http(a):
    emit(exchanges(a, lambda dst, src: http_get(dst, src, a.timeout, a.bytes, a.upload)))
    return 0


def touch(path, text=""):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def ping(c):
    """One ping on a held connection [conn, first name, broken, pings] that
    is not broken yet; an answer from another backend or an error breaks
    it."""
    if c[2] is not None:
        return
    try:
        got = c[0].ping()
        c[3] += 1
        if got != c[1]:
            c[2] = "moved %s->%s" % (c[1], got)
    except Exception as e:  # noqa: BLE001
        c[2] = err_name(e)


def cmd_hold(a):
    dst = hostport(a.dst)
    srcs = a.src or [None]
    conns = []          # [conn, first name, broken reason or None, pings]
    errs = {}
    for i in range(a.n):
        try:
            c = LineConn(dst, srcs[i % len(srcs)], a.timeout)
            conns.append([c, c.readline(), None, 0])
        except Exception as e:  # noqa: BLE001
            bump(errs, err_name(e))
    names = {}
    for c in conns:
        bump(names, c[1])
    srcs_of = ["%s:%d" % c[0].sock.getsockname() for c in conns]
    if a.ready:
        touch(a.ready, json.dumps({"opened": len(conns), "names": names,
                                   "conns": [{"src": s, "name": c[1]}
                                             for s, c in zip(srcs_of, conns)]}))
    end = time.monotonic() + a.seconds
    rounds = 0
    while time.monotonic() < end and rounds < int(a.seconds / 0.2) + 10:
        rounds += 1
        for c in conns:
            ping(c)
        if a.stop and os.path.exists(a.stop):
            break
        time.sleep(0.2)
    # One last round so a change made just before stop is seen.
    for c in conns:
        ping(c)
        c[0].close()
    broken = [{"name": c[1], "why": c[2]} for c in conns if c[2] is not None]
    emit({"opened": len(conns), "open_errors": errs, "broken": len(broken),
          "broken_detail": broken, "names": names, "rounds": rounds,
          "pings": sum(c[3] for c in conns),
          "conns": [{"src": s, "name": c[1], "why": c[2]}
                    for s, c in zip(srcs_of, conns)]})
    return 0


def cmd_rst(a):
    dst = hostport(a.dst)
    try:
        c = LineConn(dst, a.src[0] if a.src else None, a.timeout)
        name = c.readline()
    except Exception as e:  # noqa: BLE001
        emit({"name": None, "outcome": "open-" + err_name(e)})
        if a.ready:
            touch(a.ready, json.dumps({"name": None}))
        return 0
    if a.ready:
        touch(a.ready, json.dumps({"name": name}))
    end = time.monotonic() + a.wait
    while not os.path.exists(a.go) and time.monotonic() < end:
        time.sleep(0.05)
    t0 = time.monotonic()
    try:
        got = c.ping()
        outcome = "answer"
    except Exception as e:  # noqa: BLE001
        got = None
        outcome = err_name(e)
    elapsed = time.monotonic() - t0
    c.close()
    emit({"name": name, "outcome": outcome, "answer": got,
          "elapsed": round(elapsed, 3)})
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, fn in (("probe", cmd_probe), ("tcp", cmd_tcp), ("udp", cmd_udp),
                     ("hold", cmd_hold), ("rst", cmd_rst),
                     ("http", cmd_http)):
        p = sub.add_parser(name)
        p.set_defaults(fn=fn)
        p.add_argument("--dst", required=True, help="IP:PORT")
        p.add_argument("--src", action="append", default=[],
                       help="source address to bind (repeatable, rotated)")
        p.add_argument("--timeout", type=float, default=2.0,
                       help="per socket operation, seconds")
        p.add_argument("--deadline", type=float, default=60.0,
                       help="whole command, seconds")
        if name in ("tcp", "udp", "hold", "http"):
            p.add_argument("-n", type=int, default=20 if name == "hold" else 100)
        if name == "udp":
            p.add_argument("--size", type=int, default=0,
                           help="datagram size in bytes (default: 6)")
        if name == "tcp":
            p.add_argument("--interval", type=float, default=0.0,
                           help="pause between connections, seconds (a steady stream)")
        if name == "http":
            p.add_argument("--bytes", type=int, default=16384,
                           help="body size asked for (at most 16 MiB)")
            p.add_argument("--upload", type=int, default=0,
                           help="bytes of header lines the request carries (in 1 KiB lines)")
        if name == "probe":
            p.add_argument("--expect")
            p.add_argument("--sport", type=int, default=0,
                           help="source port (default: the kernel's choice)")
        if name == "hold":
            p.add_argument("--seconds", type=float, default=5.0)
            p.add_argument("--ready", help="file written once all are open")
            p.add_argument("--stop", help="stop early when this file exists")
        if name == "rst":
            p.add_argument("--ready", help="file: {\"name\": backend}")
            p.add_argument("--go", required=True, help="send when this exists")
            p.add_argument("--wait", type=float, default=20.0,
                           help="longest wait for --go, seconds")
    a = ap.parse_args()
    if getattr(a, "n", 1) < 0 or getattr(a, "n", 1) > 100000:
        ap.error("-n out of range")
    if not 0 <= getattr(a, "sport", 0) <= 65535:
        ap.error("--sport out of range")
    if not 0 <= getattr(a, "upload", 0) <= 1 << 20:
        ap.error("--upload out of range (0 to 1 MiB)")
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
