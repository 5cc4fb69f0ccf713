#!/usr/bin/python3
"""Lab benchmark driver, run by tools/bench/lab_bench.sh on the lab it built.

For each number of services N, in R rounds, four setups are measured one
after the other (the order rotates every round):

  xlb       build/xlb-dp's XDP program on the node's interfaces, N services
            (rr, 3 backends each) programmed by lab_bench_svc
  iptables  kube-proxy's iptables-mode rules for the same N services
            (filter + nat, KUBE-SERVICES / KUBE-SVC-* / KUBE-SEP-*), loaded
            with iptables-restore
  nftables  kube-proxy's nftables-mode table (KEP-3866) for the same N
            services, loaded with nft -f
  floor     nothing: the client connects to 10.20.1.2:8080 directly

Only one setup is ever in the path. nft -f takes about 25 s to load 10,000
services on this machine (the kernel binds each service's anonymous vmap
by walking the whole transaction), so by default the kube-proxy rulesets
are not flushed and reloaded every round: each is loaded once per N into a
node namespace of its own (xlbb-node-ipt, xlbb-node-nft), and the node's
four interfaces move into the namespace of the setup under test. A
namespace without interfaces sees no packet. --reload flushes and reloads
the ruleset at every activation instead. xlb and the floor share
xlbb-node, which has no ruleset; xlb is unpinned (detached) and programmed
afresh every time it is measured.
Before each run: conntrack of the active namespace flushed, the interfaces
in it and nowhere else, XDP on all four for xlb and on none otherwise; after
a floor or xlb run, the node's conntrack must still be empty (no netfilter
in the path).

Each run measures new TCP connections/s and UDP datagrams/s
(lab_bench_load) and checks what came back: the three backends, each with a
fair share, or be1 alone for the floor; and for the floor that the
ClusterIP does not answer.

  lab_bench.py [--quick] [--sizes 10,1000,10000] [--rounds R]
               [--tcp-seconds S] [--udp-seconds S] [--inflight K]
               [--setups xlb,iptables,nftables,floor] [--reload]
               [--plot FILE.png] [--data FILE.tsv]

Markdown on stdout, progress on stderr. Exit 1 if a setup broke, else 0.
"""
import argparse
import base64
import hashlib
import json
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("LAB_BENCH_BIN", os.path.join(ROOT, "build/bench"))
PIN = os.environ.get("LAB_BENCH_PIN", "/sys/fs/bpf/xlb-lab-bench")
XLB_DP = os.environ.get("XLB_DP", os.path.join(ROOT, "build/xlb-dp"))
NODE = "xlbb-node"
NODE_OF = {"xlb": NODE, "floor": NODE, "iptables": "xlbb-node-ipt",
           "nftables": "xlbb-node-nft"}
NODE_NSES = [NODE, "xlbb-node-ipt", "xlbb-node-nft"]
CLIENT = "xlbb-client"
NODE_IFS = ["n-client", "n-be1", "n-be2", "n-be3"]
IF_ADDR = {"n-client": "10.10.1.1/24", "n-be1": "10.20.1.1/24",
           "n-be2": "10.20.2.1/24", "n-be3": "10.20.3.1/24"}
BACKENDS = ["10.20.%d.2" % i for i in (1, 2, 3)]
BE_NAMES = ["be1", "be2", "be3"]
BE_PORT = 8080
VIP = "10.96.0.10"
SVC_CIDR = "10.96.0.0/16"
NODE_IP = "10.10.1.1"
FLOOR_DST = "10.20.1.2:8080"
SOURCES = ["10.10.1.2"] + ["10.10.1.%d" % i for i in range(100, 150)]
SETUPS = ["xlb", "iptables", "nftables", "floor"]
RULESET_CMD = {"iptables": ["iptables-restore"], "nftables": ["nft", "-f", "-"]}
RULESET_TABLES = {"iptables": ["table ip filter", "table ip nat"],
                  "nftables": ["table ip kube-proxy"]}


def log(msg):
    print("lab_bench: " + msg, file=sys.stderr, flush=True)


class Broken(Exception):
    """The setup itself failed: its numbers would mean nothing."""


def run(cmd, timeout=120, stdin=None, check=True):
    """stdin: an open file, or a string to feed."""
    feed = stdin if isinstance(stdin, str) else None
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           stdin=None if feed is not None else stdin, input=feed)
    except subprocess.TimeoutExpired:
        raise Broken("%s: timed out after %ds" % (" ".join(cmd[:4]), timeout))
    if check and r.returncode != 0:
        raise Broken("%s: exit %d: %s" % (" ".join(cmd[:6]), r.returncode,
                                          (r.stderr or r.stdout).strip()[-400:]))
    return r


def nsrun(ns, *cmd, **kw):
    """A command in namespace ns's network, with the host's mounts (xlb-dp
    needs the host's bpffs; `ip netns exec` would remount /sys)."""
    return run(["nsenter", "--net=/run/netns/" + ns] + list(cmd), **kw)


# ------------------------------------------------------------ services

def services(n):
    """N services: the target (VIP:80, tcp and udp, backends be1..be3) in
    the middle of the list, the others with 3 backends that do not exist.
    Where the target sits matters to iptables (one linear chain), and the
    middle is the average case."""
    out = []
    for k in range(n):
        if k == n // 2:
            out.append({"name": "bench/target", "vip": VIP,
                        "ports": [("tcp", 80, "http"), ("udp", 80, "udp")],
                        "backends": BACKENDS})
            continue
        i = k + 1
        bes = []
        for b in range(3):
            j = 3 * k + b + 1
            bes.append("10.244.%d.%d" % (j >> 8, j & 255))
        out.append({"name": "bench/svc-%05d" % k,
                    "vip": "10.96.%d.%d" % (1 + i // 250, 1 + i % 250),
                    "ports": [("tcp", 80, "http")], "backends": bes})
    return out


def kp_hash(s, n=16):
    """kube-proxy's chain-name hash: base32(sha256(s)), first n chars."""
    return base64.b32encode(hashlib.sha256(s.encode()).digest()).decode()[:n]


def gen_xlb(svcs):
    lines = []
    for s in svcs:
        for proto, port, pname in s["ports"]:
            lines.append("%s:%s %s %s %d %s" % (
                s["name"], pname, proto, s["vip"], port,
                " ".join("%s:%d" % (b, BE_PORT) for b in s["backends"])))
    return "\n".join(lines) + "\n"


def gen_iptables(svcs):
    """kube-proxy's iptables mode (pkg/proxy/iptables), as it writes a
    ClusterIP service with ready endpoints and no cluster CIDR (so no
    masquerade rule for off-cluster clients; xlb does not SNAT either)."""
    filt = [
        "*filter",
        ":KUBE-EXTERNAL-SERVICES - [0:0]", ":KUBE-FIREWALL - [0:0]",
        ":KUBE-FORWARD - [0:0]", ":KUBE-NODEPORTS - [0:0]",
        ":KUBE-PROXY-FIREWALL - [0:0]", ":KUBE-SERVICES - [0:0]",
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
        '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
        "-A INPUT -j KUBE-FIREWALL",
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
        '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        "-A OUTPUT -j KUBE-FIREWALL",
        '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
        "COMMIT",
    ]
    chains = [":KUBE-MARK-MASQ - [0:0]", ":KUBE-NODEPORTS - [0:0]",
              ":KUBE-POSTROUTING - [0:0]", ":KUBE-SERVICES - [0:0]"]
    rules = [
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
        "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000",
    ]
    svc_rules, sub = [], []
    for s in svcs:
        for proto, port, pname in s["ports"]:
            spn = "%s:%s" % (s["name"], pname)
            svc_chain = "KUBE-SVC-" + kp_hash(spn + proto)
            chains.append(":%s - [0:0]" % svc_chain)
            svc_rules.append('-A KUBE-SERVICES -m comment --comment "%s cluster IP" -m %s -p %s -d %s/32 --dport %d -j %s'
                             % (spn, proto, proto, s["vip"], port, svc_chain))
            n = len(s["backends"])
            seps = []
            for i, be in enumerate(s["backends"]):
                ep = "%s:%d" % (be, BE_PORT)
                sep = "KUBE-SEP-" + kp_hash(spn + proto + ep)
                chains.append(":%s - [0:0]" % sep)
                prob = (" -m statistic --mode random --probability %0.10f" % (1.0 / (n - i))
                        if i < n - 1 else "")
                sub.append('-A %s -m comment --comment "%s -> %s"%s -j %s'
                           % (svc_chain, spn, ep, prob, sep))
                seps.append("-A %s -m comment --comment %s -s %s/32 -j KUBE-MARK-MASQ"
                            % (sep, spn, be))
                seps.append("-A %s -m comment --comment %s -m %s -p %s -j DNAT --to-destination %s"
                            % (sep, spn, proto, proto, ep))
            sub += seps
    svc_rules.append('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS')
    nat = ["*nat"] + chains + rules + svc_rules + sub + ["COMMIT"]
    return "\n".join(filt + nat) + "\n"


def gen_nft(svcs, node_ips=(NODE_IP,)):
    """kube-proxy's nftables mode (pkg/proxy/nftables, KEP-3866): the base
    chains and maps it always creates, then per service port a chain with
    `numgen random mod N vmap` to per-endpoint chains that `dnat to`. A
    port given as (proto, port, name, target port, node port) rather than
    (proto, port, name) is a NodePort too (to the nodes' node_ips): its
    element of service-nodeports goes to an external chain that marks the
    packet for masquerade (externalTrafficPolicy Cluster), then to the
    service's chain."""
    t = "ip kube-proxy"
    out = [
        'add table %s { comment "rules for kube-proxy" ; }' % t,
        'add set %s cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }' % t,
        'add set %s nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }' % t,
        'add map %s firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }' % t,
        'add map %s no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }' % t,
        'add map %s no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }' % t,
        'add map %s service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }' % t,
        'add map %s service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }' % t,
        "add chain %s cluster-ips-check" % t,
        "add chain %s filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }" % t,
        "add chain %s filter-output-pre-dnat { type filter hook output priority -110 ; }" % t,
        "add chain %s filter-forward { type filter hook forward priority 0 ; }" % t,
        "add chain %s filter-input { type filter hook input priority 0 ; }" % t,
        "add chain %s filter-output { type filter hook output priority 0 ; }" % t,
        "add chain %s firewall-check" % t,
        "add chain %s mark-for-masquerade" % t,
        "add chain %s masquerading" % t,
        "add chain %s nat-output { type nat hook output priority -100 ; }" % t,
        "add chain %s nat-postrouting { type nat hook postrouting priority 100 ; }" % t,
        "add chain %s nat-prerouting { type nat hook prerouting priority -100 ; }" % t,
        "add chain %s nodeport-endpoints-check" % t,
        'add chain %s reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }' % t,
        "add chain %s services" % t,
        "add chain %s service-endpoints-check" % t,
        'add rule %s cluster-ips-check ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"' % t,
        'add rule %s cluster-ips-check ip daddr { %s } drop comment "Drop traffic to unallocated ClusterIPs"' % (t, SVC_CIDR),
        "add rule %s filter-prerouting-pre-dnat ct state new jump firewall-check" % t,
        "add rule %s filter-forward ct state new jump service-endpoints-check" % t,
        "add rule %s filter-forward ct state new jump cluster-ips-check" % t,
        "add rule %s filter-input ct state new jump nodeport-endpoints-check" % t,
        "add rule %s filter-input ct state new jump service-endpoints-check" % t,
        "add rule %s filter-output ct state new jump service-endpoints-check" % t,
        "add rule %s filter-output-pre-dnat ct state new jump firewall-check" % t,
        "add rule %s filter-output ct state new jump cluster-ips-check" % t,
        "add rule %s firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips" % t,
        "add rule %s mark-for-masquerade mark set mark or 0x4000" % t,
        "add rule %s masquerading mark and 0x4000 == 0 return" % t,
        "add rule %s masquerading mark set mark xor 0x4000" % t,
        "add rule %s masquerading masquerade fully-random" % t,
        "add rule %s nat-output jump services" % t,
        "add rule %s nat-postrouting jump masquerading" % t,
        "add rule %s nat-prerouting jump services" % t,
        "add rule %s nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports" % t,
        "add rule %s reject-chain reject" % t,
        "add rule %s services ip daddr . meta l4proto . th dport vmap @service-ips" % t,
        "add rule %s services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports" % t,
        "add element %s nodeport-ips { %s }" % (t, " , ".join(node_ips)),
        "add rule %s service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services" % t,
    ]
    for s in svcs:
        out.append("add element %s cluster-ips { %s }" % (t, s["vip"]))
        ns, name = s["name"].split("/")
        for p in s["ports"]:
            proto, port, pname = p[:3]
            target = p[3] if len(p) > 3 else BE_PORT
            base = "%s/%s/%s/%s" % (ns, name, proto, pname)
            chain = "service-%s-%s" % (kp_hash(base, 8), base)
            out.append("add chain %s %s" % (t, chain))
            eps = []
            for i, be in enumerate(s["backends"]):
                epn = "%s__%s/%d" % (base, be, target)
                ep = "endpoint-%s-%s" % (kp_hash(epn, 8), epn)
                eps.append("%d : goto %s" % (i, ep))
                out.append("add chain %s %s" % (t, ep))
                out.append("add rule %s %s ip saddr %s jump mark-for-masquerade" % (t, ep, be))
                out.append("add rule %s %s meta l4proto %s dnat to %s:%d" % (t, ep, proto, be, target))
            out.append("add rule %s %s numgen random mod %d vmap { %s }"
                       % (t, chain, len(eps), " , ".join(eps)))
            out.append("add element %s service-ips { %s . %s . %d : goto %s }"
                       % (t, s["vip"], proto, port, chain))
            if len(p) > 4:
                ext = "external-%s-%s" % (kp_hash(base, 8), base)
                out += ["add chain %s %s" % (t, ext),
                        "add rule %s %s jump mark-for-masquerade" % (t, ext),
                        "add rule %s %s goto %s" % (t, ext, chain),
                        "add element %s service-nodeports { %s . %d : goto %s }"
                        % (t, proto, p[4], ext)]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------ setups

def ct_flush_here():
    """Flush this namespace's conntrack table (ctnetlink IPCTNL_MSG_CT_DELETE
    with no attributes), as `conntrack -F` does."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
    try:
        s.settimeout(5)
        nfgen = struct.pack("=BBH", socket.AF_INET, 0, 0)
        hdr = struct.pack("=IHHII", 16 + len(nfgen), (1 << 8) | 2, 0x1 | 0x4, 1, 0)
        s.send(hdr + nfgen)
        reply = s.recv(4096)
        err = struct.unpack_from("=i", reply, 16)[0]
        return -err
    finally:
        s.close()


def xlb_off():
    if os.path.isdir(PIN):
        nsrun(NODE, XLB_DP, "--pin-dir", PIN, "unpin", timeout=30)
        shutil.rmtree(PIN, ignore_errors=True)


def links(ns):
    """{interface: line of `ip -o link`} for the node interfaces in ns."""
    out = {}
    for line in run(["ip", "-n", ns, "-o", "link", "show"], timeout=30).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name in NODE_IFS:
            out[name] = line
    return out


def holder():
    """The node namespace that holds the node's interfaces."""
    held = {ns: links(ns) for ns in NODE_NSES}
    full = [ns for ns, ls in held.items() if len(ls) == len(NODE_IFS)]
    if len(full) != 1 or sum(len(ls) for ls in held.values()) != len(NODE_IFS):
        raise Broken("node interfaces scattered: %s" % {ns: sorted(ls) for ns, ls in held.items()})
    return full[0]


def ct_count(ns):
    return int(nsrun(ns, "cat", "/proc/sys/net/netfilter/nf_conntrack_count",
                     timeout=10).stdout.strip() or 0)


def tables(ns):
    out = nsrun(ns, "nft", "list", "tables", timeout=30).stdout.splitlines()
    return sorted(t.strip() for t in out if t.strip())


def check_alone(setup):
    """The setup's namespace holds the interfaces, with XDP on all four for
    xlb and on none otherwise; xlb's and the floor's has no ruleset."""
    ns = NODE_OF[setup]
    if holder() != ns:
        raise Broken("%s: the interfaces are in %s, not %s" % (setup, holder(), ns))
    xdp = sorted(i for i, line in links(ns).items() if " xdp" in line)
    want = sorted(NODE_IFS) if setup == "xlb" else []
    if xdp != want:
        raise Broken("%s: XDP on %s, expected on %s" % (setup, xdp, want))
    if tables(NODE):
        raise Broken("%s: %s has nft tables %s" % (setup, NODE, tables(NODE)))
    if ct_count(ns):
        raise Broken("%s: conntrack in %s not empty" % (setup, ns))


def move_links(to):
    cur = holder()
    if cur == to:
        return
    run(["ip", "-n", cur, "-batch", "-"], timeout=30,
        stdin="".join("link set dev %s netns %s\n" % (i, to) for i in NODE_IFS))
    run(["ip", "-n", to, "-batch", "-"], timeout=30,
        stdin="".join("addr add %s dev %s\nlink set dev %s up\n" % (IF_ADDR[i], i, i)
                      for i in NODE_IFS))


def warm_neighbours():
    """Connect to each backend directly: checks the node routes, and fills
    its neighbour table (bpf_fib_lookup needs the entries)."""
    for i, be in enumerate(BACKENDS):
        for _ in range(20):
            r = load("tcp", "%s:%d" % (be, BE_PORT), ["--src", SOURCES[0], "--seconds", "0.05",
                                                     "--warmup", "0", "--inflight", "1",
                                                     "--timeout-ms", "200"], 1)
            if r["names"].get(BE_NAMES[i]):
                break
            time.sleep(0.05)
        else:
            raise Broken("backend %s does not answer through %s" % (be, holder()))


def activate(setup, files, reload):
    """Make `setup` the only one in the path; returns seconds to program
    it (xlb, or a kube-proxy ruleset with --reload)."""
    xlb_off()
    ns = NODE_OF[setup]
    took = 0.0
    if reload and setup in RULESET_CMD:
        took = load_ruleset(setup, files)
    move_links(ns)
    nsrun(ns, "/usr/bin/python3", os.path.abspath(__file__), "--ct-flush", timeout=30)
    warm_neighbours()
    nsrun(ns, "/usr/bin/python3", os.path.abspath(__file__), "--ct-flush", timeout=30)
    if setup == "xlb":
        t0 = time.monotonic()
        with open(files["xlb"]) as f:
            nsrun(ns, os.path.join(BIN, "lab_bench_svc"), "--pin-dir", PIN, stdin=f, timeout=300)
        nsrun(ns, XLB_DP, "--pin-dir", PIN, "attach", *NODE_IFS, timeout=60)
        took = time.monotonic() - t0
    check_alone(setup)
    return took


def load_ruleset(setup, files):
    """Flush the setup's namespace and load kube-proxy's ruleset into it
    (it holds no interfaces meanwhile); returns seconds to load."""
    ns = NODE_OF[setup]
    if holder() == ns:
        move_links(NODE)
    nsrun(ns, "nft", "flush", "ruleset", timeout=120)
    if files is None:
        return 0.0
    t0 = time.monotonic()
    with open(files[setup]) as f:
        nsrun(ns, *RULESET_CMD[setup], stdin=f, timeout=900)
    took = time.monotonic() - t0
    if tables(ns) != RULESET_TABLES[setup]:
        raise Broken("%s: %s has tables %s, expected %s"
                     % (setup, ns, tables(ns), RULESET_TABLES[setup]))
    return took


# ------------------------------------------------------------ traffic

def load(sub, dst, args, seconds):
    cmd = ["ip", "netns", "exec", CLIENT, os.path.join(BIN, "lab_bench_load"), sub,
           "--dst", dst] + args
    r = run(cmd, timeout=int(seconds) + 30, check=False)
    try:
        return json.loads(r.stdout)
    except ValueError:
        raise Broken("lab_bench_load %s: no JSON (exit %d): %s"
                     % (sub, r.returncode, (r.stderr or r.stdout).strip()[-300:]))


def src_args(n):
    out = []
    for s in SOURCES[:n]:
        out += ["--src", s]
    return out


def measure_tcp(dst, a):
    return load("tcp", dst, src_args(len(SOURCES)) + [
        "--seconds", str(a.tcp_seconds), "--warmup", str(a.warmup),
        "--inflight", str(a.inflight), "--timeout-ms", "1000"], a.tcp_seconds + a.warmup)


def measure_udp(dst, a):
    return load("udp", dst, src_args(32) + [
        "--seconds", str(a.udp_seconds), "--flows", "32", "--batch", "32",
        "--size", "64"], a.udp_seconds + 10)


def check_spread(setup, what, names, total):
    """Where the traffic went: be1..be3 with a fair share each, or be1
    alone for the floor."""
    want = ["be1"] if setup == "floor" else BE_NAMES
    if sorted(names) != want:
        raise Broken("%s %s: answers from %s, expected %s" % (setup, what, names, want))
    if setup != "floor" and total:
        for n in want:
            share = names[n] / total
            if not 0.20 <= share <= 0.47:
                raise Broken("%s %s: %s got %.0f%% of %d" % (setup, what, n, 100 * share, total))


def check_xdp_path(tcp, udp):
    """xlb's own counters: the service traffic was forwarded by XDP_REDIRECT,
    not handed to the node's stack."""
    st = {}
    for line in nsrun(NODE, XLB_DP, "--pin-dir", PIN, "stats", timeout=60).stdout.splitlines():
        f = line.split()
        if len(f) == 2 and f[1].isdigit():
            st[f[0]] = int(f[1])
    svc = st.get("rx", 0) - st.get("pass_not_service", 0) - st.get("pass_not_ip", 0)
    log("  xlb counters: %s" % " ".join("%s %d" % kv for kv in st.items() if kv[1]))
    if (st.get("ct_new", 0) < tcp["conns"] or st.get("fwd_redirect", 0) < udp["received"]
            or st.get("fwd_redirect", 0) < 0.99 * svc):
        raise Broken("xlb: counters do not show the traffic redirected in XDP: %s" % st)


def drop_counters(setup):
    """Counters that say where UDP datagrams were lost: each backend's
    socket (RcvbufErrors), and the drop and error counters of every veth
    on the path (ip -s link, ethtool -S)."""
    out = {}
    devs = [(NODE_OF[setup], d) for d in NODE_IFS] + [(CLIENT, "eth0")]
    for i, be in enumerate(BE_NAMES):
        ns = "xlbb-be%d" % (i + 1)
        devs.append((ns, "eth0"))
        snmp = nsrun(ns, "cat", "/proc/net/snmp", timeout=10, check=False).stdout.splitlines()
        udp = [line.split() for line in snmp if line.startswith("Udp:")]
        if len(udp) == 2 and "RcvbufErrors" in udp[0]:
            out[be + " RcvbufErrors"] = int(udp[1][udp[0].index("RcvbufErrors")])
    for ns, dev in devs:
        name = dev if ns.startswith("xlbb-node") else "%s/%s" % (ns[5:], dev)
        try:
            st = json.loads(run(["ip", "-n", ns, "-j", "-s", "link", "show", "dev", dev],
                                timeout=10, check=False).stdout or "[]")
            for way in ("rx", "tx"):
                out["%s %s_dropped" % (name, way)] = st[0]["stats64"][way]["dropped"]
        except (ValueError, KeyError, IndexError):
            pass
        st = nsrun(ns, "ethtool", "-S", dev, timeout=10, check=False).stdout
        for line in st.splitlines():
            k, _, v = line.strip().rpartition(":")
            if ("drop" in k or "err" in k) and v.strip().isdigit():
                out["%s %s" % (name, k)] = int(v)
    return out


def one_run(setup, files, a):
    took = activate(setup, files, a.reload)
    dst = FLOOR_DST if setup == "floor" else VIP + ":80"
    if setup == "floor":
        r = load("tcp", VIP + ":80", ["--src", SOURCES[0], "--seconds", "0.2",
                                      "--warmup", "0", "--inflight", "1",
                                      "--timeout-ms", "150"], 1)
        if r["conns"]:
            raise Broken("floor: the ClusterIP answered %d connections: a load balancer "
                         "is still active" % r["conns"])
    tcp = measure_tcp(dst, a)
    check_spread(setup, "tcp", tcp["names"], tcp["conns"])
    # Short runs see a few random-probability flows land unevenly; the UDP
    # check is on flows (32 of them) reaching every backend.
    before = drop_counters(setup)
    udp = measure_udp(dst, a)
    check_spread(setup, "udp", udp["flows"], 0)
    if udp["received"] < 0.99 * udp["sent"]:
        after = drop_counters(setup)
        moved = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
        log("  %s udp: %.1f%% lost; counters that moved: %s"
            % (setup, 100 - 100.0 * udp["received"] / max(udp["sent"], 1), moved or "none"))
    if udp["errors"]:
        log("  %s udp: %s" % (setup, udp["error_kinds"]))
    if tcp["errors"]:
        log("  %s tcp: %d errors %s" % (setup, tcp["errors"], tcp["error_kinds"]))
    if setup == "xlb":
        check_xdp_path(tcp, udp)
    # Leave nothing for the conntrack garbage collector to expire during
    # the next setup's run (100,000 entries after an iptables run).
    nsrun(NODE_OF[setup], "/usr/bin/python3", os.path.abspath(__file__), "--ct-flush",
          timeout=30)
    if setup in ("xlb", "floor") and ct_count(NODE):
        raise Broken("%s: %d conntrack entries in %s after the run: netfilter was in the path"
                     % (setup, ct_count(NODE), NODE))
    return {"program_s": took, "tcp": tcp, "udp": udp}


# ------------------------------------------------------------ report

def med(xs):
    return statistics.median(xs) if xs else 0.0


def fmt_rate(x):
    return "{:,.0f}".format(x)


def report(results, program, a, sizes, setups, elapsed, broken):
    floor = {n: med([r["tcp"]["rate"] for r in results.get(("floor", n), [])]) for n in sizes}
    ufloor = {n: med([r["udp"]["rate"] for r in results.get(("floor", n), [])]) for n in sizes}
    print("Lab benchmark (`%s`): %s, kernel %s, %d CPUs; %d round(s), TCP %.1f s (+%.1f s "
          "warm-up) and UDP %.1f s per run; %d connections in flight, 32 UDP flows of 64-byte "
          "datagrams. Run took %.0f s.\n"
          % (" ".join(["lab_bench.sh"] + sys.argv[1:]), cpu_model(), os.uname().release,
             os.cpu_count(), a.rounds, a.tcp_seconds, a.warmup, a.udp_seconds, a.inflight,
             elapsed))
    print("| setup | services | new TCP conn/s, median (min-max) | x floor | connect to first line, "
          "p50 / p99 us | TCP errors | UDP datagrams/s, median (min-max) | x floor | UDP lost "
          "| time to program |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for n in sizes:
        for s in setups:
            rs = results.get((s, n), [])
            if not rs:
                print("| %s | %d | %s | | | | | | | |" % (s, n, "broken" if (s, n) in broken else "-"))
                continue
            t = [r["tcp"]["rate"] for r in rs]
            u = [r["udp"]["rate"] for r in rs]
            p50 = med([r["tcp"]["lat_us"]["p50"] for r in rs])
            p99 = med([r["tcp"]["lat_us"]["p99"] for r in rs])
            errs = sum(r["tcp"]["errors"] for r in rs)
            conns = sum(r["tcp"]["conns"] for r in rs)
            sent = sum(r["udp"]["sent"] for r in rs)
            lost = 1 - sum(r["udp"]["received"] for r in rs) / sent if sent else 0
            prog = program.get((s, n), med([r["program_s"] for r in rs]))
            print("| %s | %s | %s (%s-%s) | %.2f | %.0f / %.0f | %d in %s | %s (%s-%s) | %.2f | %.1f%% | %s |" % (
                s, "-" if s == "floor" else "{:,}".format(n),
                fmt_rate(med(t)), fmt_rate(min(t)), fmt_rate(max(t)),
                med(t) / floor[n] if floor[n] else 0, p50, p99, errs, fmt_rate(conns),
                fmt_rate(med(u)), fmt_rate(min(u)), fmt_rate(max(u)),
                med(u) / ufloor[n] if ufloor[n] else 0, 100 * lost,
                "-" if s == "floor" else "%.2f s" % prog))
    print()
    print("Ratios to the floor measured at the same size (median / median):\n")
    print("| services | " + " | ".join("%s TCP | %s UDP" % (s, s) for s in setups if s != "floor") + " |")
    print("|--:|" + "--:|--:|" * len([s for s in setups if s != "floor"]))
    for n in sizes:
        cells = []
        for s in setups:
            if s == "floor":
                continue
            rs = results.get((s, n), [])
            t = med([r["tcp"]["rate"] for r in rs])
            u = med([r["udp"]["rate"] for r in rs])
            cells.append("%.2f" % (t / floor[n]) if rs and floor[n] else "-")
            cells.append("%.2f" % (u / ufloor[n]) if rs and ufloor[n] else "-")
        print("| {:,} | ".format(n) + " | ".join(cells) + " |")
    print()
    for (s, n), why in sorted(broken.items()):
        print("BROKEN: %s%s: %s" % (s, " at %d services" % n if n else "", why))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def write_data(path, results, sizes, setups):
    with open(path, "w") as f:
        f.write("# setup\tservices\tround\ttcp_conn_s\ttcp_p50_us\ttcp_p99_us\ttcp_errors"
                "\tudp_rx_s\tudp_sent_s\tprogram_s\n")
        for n in sizes:
            for s in setups:
                for i, r in enumerate(results.get((s, n), [])):
                    f.write("%s\t%d\t%d\t%.1f\t%.0f\t%.0f\t%d\t%.1f\t%.1f\t%.3f\n" % (
                        s, n, i, r["tcp"]["rate"], r["tcp"]["lat_us"]["p50"],
                        r["tcp"]["lat_us"]["p99"], r["tcp"]["errors"], r["udp"]["rate"],
                        r["udp"]["send_rate"], r["program_s"]))


def plot(path, results, sizes, setups, tmp):
    """cost against the number of services: one data block per setup."""
    if not shutil.which("gnuplot"):
        log("gnuplot not found (Debian: gnuplot-nox): no plot")
        return
    dat = os.path.join(tmp, "plot.dat")
    with open(dat, "w") as f:
        for s in ["xlb", "iptables", "nftables"]:
            f.write("# %s\n" % s)
            for n in sizes:
                rs = results.get((s, n), [])
                if not rs:
                    continue
                t = [r["tcp"]["rate"] for r in rs]
                u = [r["udp"]["rate"] for r in rs]
                f.write("%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\n" % (
                    n, med(t), min(t), max(t), med(u), min(u), max(u)))
            f.write("\n\n")
    fl = [r for n in sizes for r in results.get(("floor", n), [])]
    ftcp = med([r["tcp"]["rate"] for r in fl])
    fudp = med([r["udp"]["rate"] for r in fl])
    r = run(["gnuplot", "-e", "dat='%s'; out='%s'; ftcp=%.1f; fudp=%.1f; xmax=%d"
             % (dat, path, ftcp, fudp, max(sizes)),
             os.path.join(ROOT, "tools/bench/lab_bench.gp")], timeout=60, check=False)
    if r.returncode:
        log("gnuplot failed: %s" % r.stderr.strip()[-300:])
    else:
        log("plot: %s" % path)


# ------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="CI: 10 and 1000 services, 2 rounds, short runs (about a minute)")
    ap.add_argument("--sizes", help="numbers of services, comma-separated")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--tcp-seconds", type=float)
    ap.add_argument("--udp-seconds", type=float)
    ap.add_argument("--warmup", type=float, default=0.3)
    ap.add_argument("--inflight", type=int, default=32)
    ap.add_argument("--setups", default=",".join(SETUPS))
    ap.add_argument("--reload", action="store_true",
                    help="flush and reload the kube-proxy rulesets at every activation")
    ap.add_argument("--plot", help="PNG to write (gnuplot)")
    ap.add_argument("--data", help="per-run TSV to write")
    ap.add_argument("--ct-flush", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.ct_flush:
        err = ct_flush_here()
        if err:
            print("conntrack flush: %s" % os.strerror(err), file=sys.stderr)
        return 1 if err else 0

    q = a.quick
    sizes = [int(x) for x in (a.sizes or ("10,1000" if q else "10,1000,10000")).split(",")]
    a.rounds = a.rounds or (2 if q else 5)
    a.tcp_seconds = a.tcp_seconds or (1.0 if q else 2.0)
    a.udp_seconds = a.udp_seconds or (0.5 if q else 1.0)
    setups = [s for s in a.setups.split(",") if s]
    if (set(setups) - set(SETUPS) or "floor" not in setups or not 1 <= a.rounds <= 50
            or any(not 1 <= n <= 50000 for n in sizes)):
        ap.error("setups from %s including floor; 1..50 rounds; 1..50000 services" % SETUPS)

    t_start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="lab-bench-")
    results, broken, program = {}, {}, {}
    try:
        files = {}
        for n in sizes:
            svcs = services(n)
            files[n] = {}
            for s, gen in (("xlb", gen_xlb), ("iptables", gen_iptables), ("nftables", gen_nft)):
                p = os.path.join(tmp, "%s-%d.txt" % (s, n))
                with open(p, "w") as f:
                    f.write(gen(svcs))
                files[n][s] = p
        for n in sizes:
            try:
                xlb_off()
                loaded = {}
                for s in RULESET_CMD:
                    # Flushed either way; loaded here unless --reload.
                    keep = s in setups and not a.reload
                    took = load_ruleset(s, files[n] if keep else None)
                    if keep:
                        loaded[s] = took
            except Broken as e:
                broken[("rulesets", n)] = str(e)
                log("BROKEN loading rulesets for %d services: %s" % (n, e))
                continue
            for s, took in loaded.items():
                log("%6d services: %s loaded in %.2f s" % (n, s, took))
                program[(s, n)] = took
            for rnd in range(a.rounds):
                order = setups[rnd % len(setups):] + setups[:rnd % len(setups)]
                for s in order:
                    if (s, n) in broken:
                        continue
                    try:
                        r = one_run(s, files[n], a)
                    except Broken as e:
                        broken[(s, n)] = str(e)
                        log("BROKEN %s at %d services: %s" % (s, n, e))
                        continue
                    results.setdefault((s, n), []).append(r)
                    log("%6d services, round %d, %-8s: %8.0f conn/s, %9.0f udp/s"
                        % (n, rnd + 1, s, r["tcp"]["rate"], r["udp"]["rate"]))
        try:
            xlb_off()
        except Broken as e:
            broken[("final xlb unpin", 0)] = str(e)
        report(results, program, a, sizes, setups, time.monotonic() - t_start, broken)
        if a.data:
            write_data(a.data, results, sizes, setups)
        if a.plot:
            plot(a.plot, results, sizes, setups, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
