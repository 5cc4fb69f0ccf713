#!/usr/bin/python3
"""Lab backend: answers with its own name on TCP and UDP, and over HTTP.

TCP: on accept send "NAME\\n", then one "NAME\\n" per line received, so a
long-lived connection can be pinged and the client sees which backend it
reached. UDP: one "NAME\\n" reply per datagram, sent from the socket the
datagram arrived on. With --peer, every TCP and UDP answer is
"NAME IP:PORT\\n", the client address the server saw; with --pad-udp, a
UDP answer is padded with spaces to the length of the datagram it answers
and sent without DF, so that the stack cuts a long one into fragments.
HTTP (--http-port, default 8081, for health checks): any GET is answered
"NAME\\n" with status 200, or with the status code written in
--status-file when that file exists (e.g. 500); GET /bytes/N answers N
bytes of pattern() (up to 16 MiB), for transfers whose every byte the
client checks.

Standard library only (run with /usr/bin/python3).
"""
import argparse
import asyncio
import signal
import socket
import sys


MAX_BYTES = 16 << 20


def pattern(n):
    """The body of GET /bytes/N: bytes 0, 1, ... 250, 0, 1, ..."""
    return bytes(range(251)) * (n // 251) + bytes(range(n % 251))


def answer(name, peer, addr):
    if not peer:
        return (name + "\n").encode()
    return ("%s %s:%d\n" % (name, addr[0], addr[1])).encode()


def close_quietly(writer):
    try:
        writer.close()
    except Exception:  # noqa: BLE001 - the peer may be gone already
        pass


class Udp(asyncio.DatagramProtocol):
    def __init__(self, name, peer, pad):
        self.name = name
        self.peer = peer
        self.pad = pad
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        if self.pad:
            # IP_MTU_DISCOVER = IP_PMTUDISC_DONT: no DF, fragments allowed
            transport.get_extra_info("socket").setsockopt(socket.IPPROTO_IP, 10, 0)

    def datagram_received(self, data, addr):
        msg = answer(self.name, self.peer, addr)
        if self.pad and len(data) > len(msg):
            msg = msg[:-1] + b" " * (len(data) - len(msg)) + b"\n"
        self.transport.sendto(msg, addr)


async def handle_tcp(name, peer, reader, writer):
    try:
        reply = answer(name, peer, writer.get_extra_info("peername"))
        writer.write(reply)
        await writer.drain()
        while True:
            line = await reader.readline()
            if not line:
                break
            writer.write(reply)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        close_quietly(writer)


async def handle_http(name, status_file, reader, writer):
    try:
        line = await asyncio.wait_for(reader.readline(), 5)
        while True:  # the headers
            h = await asyncio.wait_for(reader.readline(), 5)
            if h in (b"\r\n", b"\n", b""):
                break
        status = 200
        if status_file:
            try:
                with open(status_file) as f:
                    status = int(f.read().strip() or 200)
            except (OSError, ValueError):
                status = 200
        body = (name + "\n").encode()
        parts = line.split()
        if len(parts) > 1 and parts[1].startswith(b"/bytes/"):
            try:
                n = int(parts[1][7:])
            except ValueError:
                n = -1
            if 0 <= n <= MAX_BYTES:
                body = pattern(n)
            else:
                status, body = 400, b"bad size\n"
        if not line.startswith(b"GET "):
            status, body = 405, b""
        writer.write(b"HTTP/1.1 %d X\r\nX-Name: %s\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n" % (status, name.encode(), len(body)) + body)
        await writer.drain()
    except (ConnectionError, OSError, asyncio.TimeoutError):
        pass
    finally:
        close_quietly(writer)


async def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--addr", default="0.0.0.0")
    ap.add_argument("--http-port", type=int, default=8081)
    ap.add_argument("--status-file")
    ap.add_argument("--peer", action="store_true",
                    help="answers carry the client address seen")
    ap.add_argument("--pad-udp", action="store_true",
                    help="UDP answers as long as the datagrams answered, without DF")
    args = ap.parse_args()

    loop = asyncio.get_running_loop()
    server = await asyncio.start_server(
        lambda r, w: handle_tcp(args.name, args.peer, r, w),
        args.addr, args.port, reuse_address=True, backlog=1024)
    transport, _ = await loop.create_datagram_endpoint(
        lambda: Udp(args.name, args.peer, args.pad_udp), local_addr=(args.addr, args.port))
    http = None
    if args.http_port:
        http = await asyncio.start_server(
            lambda r, w: handle_http(args.name, args.status_file, r, w),
            args.addr, args.http_port, reuse_address=True, backlog=256)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"{args.name}: listening on {args.addr}:{args.port} tcp+udp, http {args.http_port}",
          file=sys.stderr, flush=True)
    await stop.wait()
    transport.close()
    server.close()
    if http:
        http.close()


if __name__ == "__main__":
    asyncio.run(main())
