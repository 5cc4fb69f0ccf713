#!/usr/bin/python3
"""Lab backend: answers with its own name on TCP and UDP.

TCP: on accept send "NAME\\n", then one "NAME\\n" per line received, so a
long-lived connection can be pinged and the client sees which backend it
reached. UDP: one "NAME\\n" reply per datagram, sent from the socket the
datagram arrived on.

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


async def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--addr", default="0.0.0.0")
    args = ap.parse_args()
    reply = (args.name + "\n").encode()

    loop = asyncio.get_running_loop()
    server = await asyncio.start_server(
        lambda r, w: handle_tcp(reply, r, w),
        args.addr, args.port, reuse_address=True, backlog=1024)
    transport, _ = await loop.create_datagram_endpoint(
        lambda: Udp(reply), local_addr=(args.addr, args.port))

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"{args.name}: listening on {args.addr}:{args.port} tcp+udp",
          file=sys.stderr, flush=True)
    await stop.wait()
    transport.close()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
