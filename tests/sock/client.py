#!/usr/bin/python3
"""Socket-level checks for tests/sock/run.sh: what an application sees when
it talks to a service. Each subcommand prints one JSON object.

  tcp  DST N           N connections: {"names": {NAME: n}, "peers": [getpeername...],
                       "errors": {ERR: n}}
  udp  DST N           N connected UDP sockets, one datagram each: names, the
                       address recv() came from (recvfrom on a connected
                       socket) and getpeername()
  sendto DST N         one unconnected UDP socket, N sendto()/recvfrom():
                       names and the addresses the replies came from
  udphold DST N FILE   N connected UDP sockets, one datagram each; the backends'
                       names to FILE, then (once FILE.go exists) one more datagram
                       each: {"before": [...], "after": [name or ERRNO per socket]}
  hold DST FILE        one connection held open: its backend's name written to
                       FILE, then a line sent and answered every 0.2 s until
                       FILE.stop exists; {"name", "pings", "broken"}

Every operation has a 5 s timeout (a SYN retransmitted twice, as a loaded
machine may need) and every loop a bound, so a broken datapath fails the
test instead of hanging it.
"""
import collections
import errno
import json
import os
import socket
import sys
import time

TIMEOUT = 5


def hostport(s):
    host, _, port = s.rpartition(":")
    return host, int(port)


def err_name(e):
    if isinstance(e, socket.timeout):
        return "timeout"
    return errno.errorcode.get(e.errno, str(e.errno)) if getattr(e, "errno", None) else str(e)


def name_of(data):
    return data.decode(errors="replace").split()[0] if data.strip() else "?"


def emit(obj):
    print(json.dumps(obj, sort_keys=True), flush=True)


def tcp(dst, n):
    names, errors, peers = collections.Counter(), collections.Counter(), set()
    for _ in range(n):
        try:
            s = socket.create_connection(dst, timeout=TIMEOUT)
            try:
                peers.add("%s:%d" % s.getpeername())
                names[name_of(s.recv(100))] += 1
            finally:
                s.close()
        except OSError as e:
            errors[err_name(e)] += 1
    emit({"names": names, "errors": errors, "peers": sorted(peers)})


def udp(dst, n):
    names, errors, peers, froms = collections.Counter(), collections.Counter(), set(), set()
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(TIMEOUT)
        try:
            s.connect(dst)
            peers.add("%s:%d" % s.getpeername())
            s.send(b"q\n")
            data, addr = s.recvfrom(100)
            froms.add("%s:%d" % addr)
            names[name_of(data)] += 1
        except OSError as e:
            errors[err_name(e)] += 1
        finally:
            s.close()
    emit({"names": names, "errors": errors, "peers": sorted(peers), "froms": sorted(froms)})


def sendto(dst, n):
    names, errors, froms = collections.Counter(), collections.Counter(), set()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(TIMEOUT)
    for _ in range(n):
        try:
            s.sendto(b"q\n", dst)
            data, addr = s.recvfrom(100)
            froms.add("%s:%d" % addr)
            names[name_of(data)] += 1
        except OSError as e:
            errors[err_name(e)] += 1
    s.close()
    emit({"names": names, "errors": errors, "froms": sorted(froms)})


def udphold(dst, n, path):
    socks, before = [], []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(TIMEOUT)
        try:
            s.connect(dst)
            s.send(b"q\n")
            before.append(name_of(s.recv(100)))
        except OSError as e:
            before.append(err_name(e))
        socks.append(s)
    with open(path + ".tmp", "w") as f:
        f.write(json.dumps(before))
    os.rename(path + ".tmp", path)
    deadline = time.monotonic() + 60
    while not os.path.exists(path + ".go") and time.monotonic() < deadline:
        time.sleep(0.05)
    after = []
    for s in socks:
        try:
            s.send(b"q\n")
            after.append(name_of(s.recv(100)))
        except OSError as e:
            after.append(err_name(e))
        s.close()
    emit({"before": before, "after": after})


def hold(dst, path):
    s = socket.create_connection(dst, timeout=TIMEOUT)
    name = name_of(s.recv(100))
    with open(path + ".tmp", "w") as f:
        f.write(name + "\n")
    os.rename(path + ".tmp", path)
    pings, broken = 0, 0
    deadline = time.monotonic() + 300
    while not os.path.exists(path + ".stop") and time.monotonic() < deadline:
        try:
            s.sendall(b"ping\n")
            if name_of(s.recv(100)) != name:
                broken += 1
            pings += 1
        except OSError:
            broken += 1
            break
        time.sleep(0.2)
    s.close()
    emit({"name": name, "pings": pings, "broken": broken})


def main():
    cmd, dst = sys.argv[1], hostport(sys.argv[2])
    if cmd == "tcp":
        tcp(dst, int(sys.argv[3]))
    elif cmd == "udp":
        udp(dst, int(sys.argv[3]))
    elif cmd == "sendto":
        sendto(dst, int(sys.argv[3]))
    elif cmd == "udphold":
        udphold(dst, int(sys.argv[3]), sys.argv[4])
    elif cmd == "hold":
        hold(dst, sys.argv[3])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
