#!/usr/bin/python3
"""What the external suite's clients received (tools/lab/client.py JSON),
one line per connection, for tests/external/run.sh to judge with awk.

  answers.py tcp FILE     "BACKEND PEER_IP PEER_PORT" for each answer of a
                          tcp result (the lab's servers answer "NAME PEER")
  answers.py hold FILE    "SRC_IP BACKEND NODE WHY" for each connection of a
                          hold result or ready file: NODE is the node the
                          connection came through (the source-NAT address
                          the backend saw, else the backend's own node: a
                          local backend sees the client), WHY "-" unless
                          it broke
"""
import json
import sys

NODE_NET = "192.168.50."  # node N is 192.168.50.(10+N)


def node_of(backend, peer_ip):
    if peer_ip.startswith(NODE_NET):
        return "n%d" % (int(peer_ip[len(NODE_NET):]) - 10)
    return backend[:2]  # nNpP: its own node


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("tcp", "hold"):
        sys.exit(__doc__)
    with open(sys.argv[2]) as f:
        r = json.load(f)
    if sys.argv[1] == "tcp":
        for k, n in sorted(r["counts"].items()):
            name, _, peer = k.partition(" ")
            ip, _, port = peer.rpartition(":")
            for _ in range(n):
                print(name, ip, port)
        return 0
    for c in r["conns"]:
        name, _, peer = c["name"].partition(" ")
        ip = peer.rpartition(":")[0]
        print(c["src"].rpartition(":")[0], name, node_of(name, ip), c.get("why") or "-")
    return 0


if __name__ == "__main__":
    sys.exit(main())
