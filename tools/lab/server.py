#!/usr/bin/python3
"""Lab backend: answers with its own name on TCP and UDP, and over HTTP.

TCP: on accept send "NAME\\n", then one "NAME\\n" per line received, so a
long-lived connection can be pinged and the client sees which backend it
reached. UDP: one "NAME\\n" reply per datagram, sent from the socket the
datagram arrived on. HTTP (--http-port, default 8081, for health checks):
any GET is answered "NAME\\n" with status 200, or with the status code
written in --status-file when that file exists (e.g. 500).

Standard library only (run with /usr/bin/python3).
"""
import argparse
import asyncio
import signal
import sys


class Udp(asyncio.DatagramProtocol):
    def __init__(self, reply):
        self.reply = reply
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(self.reply, addr)


async def handle_tcp(reply, reader, writer):
    try:
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
        try:
            writer.close()
        except Exception:
            pass


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
        if not line.startswith(b"GET "):
            status, body = 405, b""
        writer.write(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                     % (status, len(body)) + body)
        await writer.drain()
    except (ConnectionError, OSError, asyncio.TimeoutError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--addr", default="0.0.0.0")
    ap.add_argument("--http-port", type=int, default=8081)
    ap.add_argument("--status-file")
    args = ap.parse_args()
    reply = (args.name + "\n").encode()

    loop = asyncio.get_running_loop()
    server = await asyncio.start_server(
        lambda r, w: handle_tcp(reply, r, w),
        args.addr, args.port, reuse_address=True, backlog=1024)
    transport, _ = await loop.create_datagram_endpoint(
        lambda: Udp(reply), local_addr=(args.addr, args.port))
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
