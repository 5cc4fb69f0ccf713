#!/usr/bin/python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""xlb-k8s against the test API server (apiserver.py) and a real xlbd core
(build/api-harness: the real core, gRPC server and BPF dataplane, no
interface; root), judged by what xlbd's ListServices says.

  test_feeder.py [--build build] [--feeder PATH]

Objects start as tests/unit/fixtures/k8s/list-web-dns.json (kubectl get -o
json output) plus this node's Node. Then: create, scale, update and delete
through the API server; a wrong token and its rotation; a Service xlb
cannot serve and one xlbd refuses, next to good ones; watches cut
mid-stream (resumed, no relist); 410 Gone (relist, deletions seen); list
pages; and the feeder, xlbd and the API server each killed and restarted
while objects change, converging every time. Waits are bounded polls, not
timings. TAP output (tests/lib/tap.py); closing line "N passed, N failed".
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
sys.path.insert(0, HERE)
import proc  # noqa: E402
import tap  # noqa: E402
import test_api  # noqa: E402
import apiserver  # noqa: E402

FIXTURE = os.path.join(ROOT, "tests", "unit", "fixtures", "k8s", "list-web-dns.json")
NODE = "node-a"
WAIT = 30


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def svc(name, ip, ports, ns="default", typ="ClusterIP", annotations=None, labels=None,
        extra=None):
    o = {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": name, "namespace": ns},
         "spec": {"clusterIP": ip, "clusterIPs": [ip], "type": typ, "ports": ports,
                  "sessionAffinity": "None", "ipFamilies": ["IPv4"],
                  "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"},
         "status": {"loadBalancer": {}}}
    if annotations:
        o["metadata"]["annotations"] = annotations
    if labels:
        o["metadata"]["labels"] = labels
    if extra:
        o["spec"].update(extra)
    return o


def eps(name, svc_name, port_name, port, addrs, ns="default", proto="TCP", ready=True):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": ns,
                         "labels": {"kubernetes.io/service-name": svc_name,
                                    "endpointslice.kubernetes.io/managed-by":
                                    "endpointslice-controller.k8s.io"}},
            "addressType": "IPv4",
            "ports": [{"name": port_name, "port": port, "protocol": proto}],
            "endpoints": [{"addresses": [a], "conditions": {
                "ready": ready, "serving": ready, "terminating": False},
                "nodeName": NODE, "targetRef": {"kind": "Pod", "name": "pod-%d" % i,
                                                "namespace": ns}}
                for i, a in enumerate(addrs)]}


def placed_eps(name, svc_name, port, placed):
    """A slice whose endpoints are [(address, nodeName, hinted zones)]."""
    o = eps(name, svc_name, "http", port, [a for a, _, _ in placed])
    for e, (_, node, zones) in zip(o["endpoints"], placed):
        e["nodeName"] = node
        e["zone"] = zones[0]
        e["hints"] = {"forZones": [{"name": z} for z in zones]}
    return o


def node_obj(zone):
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": NODE, "labels": {
                "topology.kubernetes.io/zone": zone,
                "kubernetes.io/hostname": NODE}},
            "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.10"},
                                     {"type": "Hostname", "address": NODE}]}}


class Feeder:
    def __init__(self, binary, tmp, kubeconfig, target, metrics_port):
        self.binary, self.tmp = binary, tmp
        self.kubeconfig, self.target, self.port = kubeconfig, target, metrics_port
        self.proc = None
        self.log = os.path.join(tmp, "feeder.log")

    def start(self):
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [self.binary, "--kubeconfig", self.kubeconfig, "--node-name", NODE,
                 "--xlbd", self.target, "--metrics", "127.0.0.1:%d" % self.port,
                 "--log-level", "debug"], stdout=log, stderr=log)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        """SIGTERM; the exit status (None when it had to be killed, or had
        exited already)."""
        if not self.proc or self.proc.poll() is not None:
            return None
        return proc.stop(self.proc)

    def get(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path),
                                        timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return None, ""

    def metric(self, name, **labels):
        code, text = self.get("/metrics")
        want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            key, _, val = line.rpartition(" ")
            n, _, lab = key.partition("{")
            if n != name:
                continue
            got = ",".join(sorted(lab.rstrip("}").split(","))) if lab else ""
            if got == want:
                return float(val)
        return None

    def tail(self):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-30:])
        except OSError:
            return ""


class Suite:
    def __init__(self, a, tmp):
        self.tmp = tmp
        os.makedirs(os.path.join(tmp, "certs"), exist_ok=True)
        self.api = apiserver.ApiServer(os.path.join(tmp, "certs"), token="good-token",
                                       bookmark_interval=0.5)
        self.api.start()
        self.token_file = os.path.join(tmp, "token")
        self.kubeconfig = os.path.join(tmp, "kubeconfig")
        self.write_kubeconfig()
        self.xlbd = test_api.Daemon("harness", os.path.join(a.build, "api-harness"),
                                    os.path.join(tmp, "xlbd"))
        os.makedirs(self.xlbd.workdir, exist_ok=True)
        self.xlbd.start()
        self.feeder = Feeder(a.feeder, tmp, self.kubeconfig,
                             self.xlbd.target, free_port())

    def write_kubeconfig(self):
        with open(self.kubeconfig, "w") as f:
            f.write("""apiVersion: v1
kind: Config
current-context: test
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:%d
    certificate-authority: %s
contexts:
- name: test
  context: {cluster: test, user: feeder}
users:
- name: feeder
  user:
    tokenFile: token
""" % (self.api.port, self.api.ca_file))

    def set_token(self, t):
        with open(self.token_file + ".new", "w") as f:
            f.write(t + "\n")
        os.rename(self.token_file + ".new", self.token_file)   # as kubelet rotates it

    def services(self):
        """name -> sorted [(address:port, ready, serving, terminating)]"""
        with test_api.grpc.insecure_channel(self.xlbd.target) as ch:
            r = test_api.pbg.XlbStub(ch).ListServices(test_api.pb.ListServicesRequest(),
                                                      timeout=10)
        return {s.service.name: sorted(("%s:%d" % (e.address, e.port), e.ready, e.serving,
                                        e.terminating) for e in s.service.endpoints)
                for s in r.services}

    def service(self, name):
        with test_api.grpc.insecure_channel(self.xlbd.target) as ch:
            r = test_api.pbg.XlbStub(ch).ListServices(test_api.pb.ListServicesRequest(
                name=name), timeout=10)
        return r.services[0].service if r.services else None

    def wait(self, cond, what):
        deadline = time.time() + WAIT
        last = None
        while time.time() < deadline:
            try:
                last = self.services()
                if cond(last):
                    return True
            except test_api.grpc.RpcError as e:
                last = "ListServices: %s" % e.code()
            time.sleep(0.1)
        if isinstance(last, dict):
            tap.diag("%s: %d services in xlbd: %s" % (what, len(last), sorted(last)[-8:]))
        else:
            tap.diag("%s: %s" % (what, last))
        tap.diag(self.feeder.tail())
        return False

    def status(self):
        with test_api.grpc.insecure_channel(self.xlbd.target) as ch:
            return test_api.pbg.XlbStub(ch).GetStatus(test_api.pb.GetStatusRequest(),
                                                      timeout=10)

    def placement(self, name):
        """address -> (local, in_datapath) of a service's endpoints in xlbd"""
        try:
            with test_api.grpc.insecure_channel(self.xlbd.target) as ch:
                r = test_api.pbg.XlbStub(ch).ListServices(test_api.pb.ListServicesRequest(
                    name=name), timeout=10)
        except test_api.grpc.RpcError as e:
            return "ListServices: %s" % e.code()
        return {e.endpoint.address: (e.local, e.in_datapath)
                for s in r.services for e in s.endpoints}

    def wait_for(self, get, cond, what):
        deadline = time.time() + WAIT
        last = None
        while time.time() < deadline:
            last = get()
            if cond(last):
                return True
            time.sleep(0.1)
        tap.diag("%s: %s" % (what, last))
        tap.diag(self.feeder.tail())
        return False

    def wait_metric(self, cond, what):
        deadline = time.time() + WAIT
        while time.time() < deadline:
            if cond():
                return True
            time.sleep(0.1)
        tap.diag(what + ": not reached")
        tap.diag(self.feeder.tail())
        return False


def load_fixture(api):
    with open(FIXTURE) as f:
        lst = json.load(f)
    for o in lst["items"]:
        if o.get("kind") in ("Service", "EndpointSlice"):
            api.apply(o)
    api.apply(node_obj("zone-a"))


def run(a, tmp):
    s = Suite(a, tmp)
    api, feeder = s.api, s.feeder
    try:
        load_fixture(api)
        base = {"default/kubernetes:https", "default/web:http", "kube-system/kube-dns:dns",
                "kube-system/kube-dns:dns-tcp", "kube-system/kube-dns:metrics"}

        # A wrong token: 401, nothing sent, not ready; the rotated token
        # is read on the next try.
        s.set_token("wrong-token")
        feeder.start()
        tap.check(s.wait_metric(lambda: (feeder.metric("xlb_k8s_watch_errors_total",
                                                       resource="services") or 0) >= 2,
                                "401s counted"),
                  "a wrong token is refused (401) and retried with backoff")
        code, body = feeder.get("/readyz")
        tap.check(code == 503 and "not listed" in body, "not ready before the first list",
                  "%s %s" % (code, body))
        tap.check(s.services() == {}, "nothing sent to xlbd before every watch has listed")
        s.set_token("good-token")
        ok = s.wait(lambda st: set(st) == base, "fixture")
        tap.check(ok, "the rotated token is read: the fixture's Services reach xlbd")
        st = s.services()
        # The same as xlbctl reads from the YAML twin (tests/unit/test_k8s.c,
        # test_kubectl_list): two slices merged, conditions kept.
        tap.check(st.get("default/web:http") == [("10.244.1.17:8080", True, True, False),
                                                 ("10.244.2.9:8080", False, False, False),
                                                 ("10.244.3.4:8080", False, True, True)]
                  and st.get("default/kubernetes:https") == [("172.18.0.2:6443", True, True,
                                                              False)]
                  and len(st.get("kube-system/kube-dns:dns", [])) == 2,
                  "endpoints as the converter reads them", str(st))
        tap.check(s.wait_metric(lambda: feeder.get("/readyz")[0] == 200, "ready"),
                  "/readyz 200 once listed and in step; /healthz 200")
        tap.check(feeder.get("/healthz")[0] == 200, "/healthz 200")
        tap.check(any("allowWatchBookmarks=true" in r and "watch=1" in r
                      for r in api.requests), "watches ask for bookmarks")
        tap.check(any("fieldSelector=metadata.name%3D" + NODE in r for r in api.requests),
                  "the Node is watched by name")
        tap.check(s.wait_metric(lambda: (feeder.metric("xlb_k8s_watch_events_total",
                                                       resource="services",
                                                       type="BOOKMARK") or 0) > 0,
                                "bookmarks"), "bookmarks received and counted")

        # This node, from its Node object, in xlbd: its name makes endpoints
        # local, its zone selects by topology hints (kube-proxy's rules),
        # and a change of the Node's zone label is followed.
        tap.check(s.wait_for(s.status, lambda st: st.node.name == NODE
                             and st.node.zone == "zone-a" and st.node_source == "controller"
                             and list(st.node.addresses) == ["192.0.2.10"], "node"),
                  "xlbd has this node's name, zone and IP addresses from the feeder",
                  str(s.status().node))
        api.apply(svc("zoned", "10.96.55.1", [{"name": "http", "port": 80, "protocol": "TCP"}]))
        api.apply(placed_eps("zoned-abc", "zoned", 8080,
                             [("10.244.7.1", NODE, ["zone-a"]),
                              ("10.244.7.2", "node-b", ["zone-b"]),
                              ("10.244.7.3", "node-c", ["zone-a", "zone-c"])]))
        for zone, want, what in (
                ("zone-a", {"10.244.7.1": (True, True), "10.244.7.2": (False, False),
                            "10.244.7.3": (False, True)},
                 "the endpoint on this node is local; only zone-a's hinted endpoints serve"),
                ("zone-b", {"10.244.7.1": (True, False), "10.244.7.2": (False, True),
                            "10.244.7.3": (False, False)},
                 "the Node moved to zone-b: zone-b's endpoint serves instead")):
            api.apply(node_obj(zone))
            tap.check(s.wait_for(lambda: s.placement("default/zoned:http"),
                                 lambda p, w=want: p == w, zone), what,
                      str(s.placement("default/zoned:http")))
        # A bad node in a Sync is refused whole and changes nothing.
        with test_api.grpc.insecure_channel(s.xlbd.target) as ch:
            bad = [test_api.pb.SyncRequest(version=1, node=test_api.pb.Node(zone="zone-x")),
                   test_api.pb.SyncRequest(version=2, node=test_api.pb.Node(
                       name="n", addresses=["192.0.2.300"]))]
            answers = list(test_api.pbg.XlbStub(ch).Sync(iter(bad), timeout=10))
        tap.check([a.ok for a in answers] == [False, False]
                  and "node.name: required" in answers[0].error
                  and "node.addresses[0]: not an IP address" in answers[1].error
                  and s.status().node.name == NODE and s.status().node.zone == "zone-b",
                  "a Sync with a nameless node or a bad address is refused, nothing changed",
                  str([a.error for a in answers]))
        api.delete("Service", "default", "zoned")
        api.delete("EndpointSlice", "default", "zoned-abc")
        api.apply(node_obj("zone-a"))

        # Create, scale, update, delete.
        api.apply(svc("shop", "10.96.50.1", [{"name": "http", "port": 80, "protocol": "TCP",
                                              "targetPort": 8080}], ns="shop"))
        api.apply(eps("shop-abc", "shop", "http", 8080, ["10.244.3.1", "10.244.3.2"],
                      ns="shop"))
        tap.check(s.wait(lambda st: len(st.get("shop/shop:http", [])) == 2, "create"),
                  "a new Service and its slice appear")
        api.apply(eps("shop-abc", "shop", "http", 8080,
                      ["10.244.3.%d" % i for i in range(1, 9)], ns="shop"))
        tap.check(s.wait(lambda st: len(st.get("shop/shop:http", [])) == 8, "scale"),
                  "scaled to 8 endpoints")
        api.apply(eps("shop-def", "shop", "http", 8080, ["10.244.4.1"], ns="shop"))
        tap.check(s.wait(lambda st: len(st.get("shop/shop:http", [])) == 9, "second slice"),
                  "a second slice of the same Service adds to it")
        api.apply(svc("shop", "10.96.50.1", [{"name": "http", "port": 80, "protocol": "TCP"},
                                             {"name": "admin", "port": 9000,
                                              "protocol": "TCP"}], ns="shop"))
        api.apply(dict(eps("shop-adm", "shop", "admin", 9000, ["10.244.3.1"], ns="shop")))
        tap.check(s.wait(lambda st: len(st.get("shop/shop:admin", [])) == 1
                         and len(st.get("shop/shop:http", [])) == 9, "update"),
                  "a port added to the Service becomes its own xlb service")
        api.delete("EndpointSlice", "shop", "shop-def")
        tap.check(s.wait(lambda st: len(st.get("shop/shop:http", [])) == 8, "slice delete"),
                  "a deleted slice takes its endpoints along")
        api.delete("Service", "shop", "shop")
        tap.check(s.wait(lambda st: "shop/shop:http" not in st and "shop/shop:admin" not in st,
                         "delete"), "a deleted Service leaves xlbd")

        # LoadBalancer: its ingress IPs, node port and policies reach xlbd;
        # another proxy's Service does not.
        lb = svc("edge", "10.96.54.1", [{"name": "https", "port": 443, "protocol": "TCP",
                                         "nodePort": 31443}], typ="LoadBalancer",
                 extra={"externalTrafficPolicy": "Local", "healthCheckNodePort": 32100,
                        "externalIPs": ["198.51.100.7"]})
        lb["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.10", "ipMode": "VIP"},
                                                     {"ip": "203.0.113.12",
                                                      "ipMode": "Proxy"}]}}
        api.apply(lb)
        api.apply(svc("theirs", "10.96.54.2", [{"name": "http", "port": 80,
                                                "protocol": "TCP"}],
                      labels={"service.kubernetes.io/service-proxy-name": "other"}))
        api.apply(svc("after-theirs", "10.96.54.3", [{"name": "http", "port": 80,
                                                      "protocol": "TCP"}]))
        ok = s.wait(lambda st: "default/edge:https" in st and "default/after-theirs:http" in st,
                    "lb")
        full = s.service("default/edge:https")
        tap.check(ok and full.type == test_api.pb.LOAD_BALANCER and full.node_port == 31443
                  and list(full.load_balancer_ips) == ["203.0.113.10"]
                  and list(full.external_ips) == ["198.51.100.7"]
                  and full.external_traffic_policy == test_api.pb.TRAFFIC_POLICY_LOCAL
                  and full.health_check_node_port == 32100,
                  "a LoadBalancer arrives with its VIP-mode ingress IP, external IP, node port "
                  "and policy", str(full))
        tap.check("default/theirs:http" not in s.services(),
                  "a Service labelled for another proxy is left alone")
        api.delete("Service", "default", "edge")
        api.delete("Service", "default", "theirs")
        api.delete("Service", "default", "after-theirs")

        # Bad Services next to good ones.
        before = feeder.metric("xlb_k8s_rejected_objects_total", kind="Service") or 0
        api.apply(svc("sctp", "10.96.51.1", [{"name": "s", "port": 80, "protocol": "SCTP"}]))
        api.apply(svc("clash", "10.96.0.10", [{"name": "dns", "port": 53, "protocol": "UDP"}]))
        api.apply(svc("good", "10.96.51.3", [{"name": "http", "port": 80, "protocol": "TCP"}]))
        ok = s.wait(lambda st: "default/good:http" in st, "good next to bad")
        st = s.services()
        tap.check(ok and "default/sctp:s" not in st and "default/clash:dns" not in st
                  and "kube-system/kube-dns:dns" in st,
                  "an unconvertible Service and a clashing one are left out; "
                  "the others go on", str(sorted(st)))
        tap.check(s.wait_metric(lambda: (feeder.metric("xlb_k8s_rejected_objects_total",
                                                       kind="Service") or 0) >= before + 2,
                                "rejected"), "both counted as rejected objects")
        tap.check(feeder.metric("xlb_k8s_rejected_services") == 2,
                  "and shown as Services left out now")
        code, logtext = 200, feeder.tail()
        tap.check("Warning Rejected Service default/sctp" in logtext and
                  "Warning Rejected Service default/clash" in logtext,
                  "each logged as an event", logtext)
        api.delete("Service", "default", "sctp")
        api.delete("Service", "default", "clash")
        tap.check(s.wait_metric(lambda: feeder.metric("xlb_k8s_rejected_services") == 0,
                                "unrejected"), "deleting them clears the gauge")

        # Watches cut mid-stream: resumed from their resourceVersion.
        relists = feeder.metric("xlb_k8s_relists_total", resource="services")
        api.drop_watches()
        api.apply(svc("after-cut", "10.96.52.1", [{"name": "http", "port": 80,
                                                   "protocol": "TCP"}]))
        tap.check(s.wait(lambda st: "default/after-cut:http" in st, "cut"),
                  "a change made while the watches were cut arrives")
        tap.check(feeder.metric("xlb_k8s_relists_total", resource="services") == relists,
                  "resumed from its resourceVersion, not relisted")

        # 410 Gone: the history is compacted while the watch is down.
        api.stop()
        api.delete("Service", "default", "after-cut")      # only a relist can see this
        api.apply(svc("after-gone", "10.96.52.2", [{"name": "http", "port": 80,
                                                    "protocol": "TCP"}]))
        api.compact()
        api.start()
        tap.check(s.wait(lambda st: "default/after-gone:http" in st
                         and "default/after-cut:http" not in st, "410"),
                  "410 Gone: relisted; a deletion missed while away is seen")
        tap.check((feeder.metric("xlb_k8s_relists_total", resource="services") or 0)
                  > relists, "the relist is counted")
        tap.check(any(w[1] not in ("", "0") for w in api.watches),
                  "watches resume from a resourceVersion")

        # Pages: more than one list page (500 objects) after a relist.
        for i in range(600):
            api.apply(svc("bulk-%03d" % i, "10.97.%d.%d" % (i // 250, i % 250 + 1),
                          [{"name": "http", "port": 80, "protocol": "TCP"}], ns="bulk"))
        api.stop()
        api.compact()
        api.start()
        tap.check(s.wait(lambda st: sum(1 for k in st if k.startswith("bulk/")) == 600,
                         "pages"), "600 Services listed in pages after a 410")
        tap.check(any("continue=" in r for r in api.requests), "with continue tokens")
        for i in range(600):
            api.delete("Service", "bulk", "bulk-%03d" % i)
        tap.check(s.wait(lambda st: not any(k.startswith("bulk/") for k in st), "bulk del"),
                  "and all deleted again")

        # Kill the feeder: xlbd keeps its state; a new feeder converges.
        want = s.services()
        feeder.kill()
        api.apply(eps("web-extra", "web", "http", 8080, ["10.244.9.9"]))
        tap.check(s.services() == want, "xlbd keeps serving while the feeder is down")
        feeder.start()
        tap.check(s.wait(lambda st: ("10.244.9.9:8080", True, True, False)
                         in st.get("default/web:http", []), "feeder restart"),
                  "a restarted feeder sends what changed meanwhile")

        # Kill xlbd: its state is gone (the harness keeps none across a
        # wipe of its state dir); the feeder notices and resends a snapshot.
        want = s.services()
        s.xlbd.proc.kill()
        s.xlbd.proc.wait()
        import shutil
        shutil.rmtree(s.xlbd.state_dir, ignore_errors=True)
        api.apply(svc("while-xlbd-down", "10.96.53.1", [{"name": "http", "port": 80,
                                                         "protocol": "TCP"}]))
        s.xlbd.start()
        want["default/while-xlbd-down:http"] = []
        tap.check(s.wait(lambda st: st == want, "xlbd restart"),
                  "a restarted, empty xlbd gets the whole snapshot again")
        tap.check(s.wait_for(s.status, lambda st: st.node.name == NODE
                             and st.node.zone == "zone-a", "node after restart"),
                  "and this node with it")

        # Stop the API server: nothing is deleted; changes made meanwhile
        # arrive once it is back.
        api.stop()
        time.sleep(1)
        tap.check(s.services() == want, "the API server down: xlbd keeps everything")
        api.delete("Service", "default", "while-xlbd-down")
        api.start()
        del want["default/while-xlbd-down:http"]
        tap.check(s.wait(lambda st: st == want, "apiserver restart"),
                  "the API server back: the feeder converges")

        rc = feeder.stop()
        tap.check(rc == 0, "SIGTERM: exit 0", "rc %s" % rc)
    finally:
        if os.environ.get("XLB_TEST_KEEP"):
            import shutil
            shutil.copy(feeder.log, os.environ["XLB_TEST_KEEP"])
        feeder.kill()
        s.xlbd.stop()
        try:
            api.stop()
        except Exception:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--feeder", help="the xlb-k8s to test (default: BUILD/san/xlb-k8s, "
                    "ASan+UBSan, when it is there, else BUILD/xlb-k8s)")
    a = ap.parse_args()
    if not a.feeder:
        san = os.path.join(a.build, "san", "xlb-k8s")
        a.feeder = san if os.path.exists(san) else os.path.join(a.build, "xlb-k8s")
    tap.diag("feeder: " + a.feeder)
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root (BPF maps)")
        print("0 passed, 0 failed")
        return 0
    with tempfile.TemporaryDirectory(prefix="xlb-k8s-test.") as tmp:
        test_api.gen_stubs(tmp)
        try:
            run(a, tmp)
        except Exception as e:  # a crash is a failure, with its reason
            import traceback
            tap.not_ok("the suite ran to its end", traceback.format_exc())
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
