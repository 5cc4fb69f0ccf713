# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""A Kubernetes API server for tests: the parts of the protocol a node proxy
uses (list and watch of Services, EndpointSlices and Nodes), over HTTPS with
bearer tokens, served as the real one serves them. No real API server can be
installed here; each behaviour below cites the Kubernetes documentation it
follows ("API Concepts", https://kubernetes.io/docs/reference/using-api/api-concepts/,
and "Authenticating", https://kubernetes.io/docs/reference/access-authn-authz/authentication/).

Use it from a test in the same process:

    srv = ApiServer(certdir, token="t0k3n")   # makes a CA and a server cert
    srv.start()                               # srv.port, srv.ca_file
    srv.apply(obj) / srv.delete(kind, ns, name)
    srv.compact()                             # old resourceVersions: 410 Gone
    srv.drop_watches()                        # cut every watch mid-stream
    srv.stop()

or as a program (python3 apiserver.py --help) with a control port for the
labs, where objects are posted as JSON.

Objects are stored as JSON as `kubectl get -o json` prints them; the server
sets metadata.resourceVersion, uid, creationTimestamp and generation.
"""
import argparse
import bisect
import copy
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# path -> (kind, apiVersion, namespaced)
RESOURCES = {
    "services": ("Service", "v1", True),
    "endpointslices": ("EndpointSlice", "discovery.k8s.io/v1", True),
    "nodes": ("Node", "v1", False),
}
KIND_RESOURCE = {v[0]: k for k, v in RESOURCES.items()}


def make_certs(d):
    """A CA and a server certificate for 127.0.0.1 and localhost, as a
    cluster's CA signs the API server's serving certificate (the client
    trusts the CA bundle, /var/run/secrets/kubernetes.io/serviceaccount/ca.crt)."""
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    key, csr, crt = (os.path.join(d, n) for n in ("server.key", "server.csr", "server.crt"))
    ext = os.path.join(d, "server.ext")
    if os.path.exists(crt):
        return ca_crt, crt, key

    def run(*a):
        subprocess.run(a, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "2", "-subj", "/CN=test-cluster-ca")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=kube-apiserver")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n"
                "extendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
        "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext)
    return ca_crt, crt, key


def status(code, reason, message):
    """A metav1.Status, the body of every failed request ("API Concepts":
    Status is returned for errors, with code, reason and message)."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class Store:
    """Objects and the history of changes, both by resourceVersion.

    "API Concepts", Resource versions: resourceVersion is an opaque string
    to clients, increasing with every change here (etcd's revision); a
    watch from version V sees every change after V, in order. The server
    keeps a limited window of history ("Efficient detection of changes":
    etcd3 keeps about 5 minutes); a watch or paged list from before the
    window gets 410 Gone, and the client must list again."""

    def __init__(self):
        self.cond = threading.Condition()
        self.rv = 100
        self.objs = {}          # (resource, ns, name) -> obj
        self.history = []       # (rv, resource, type, obj), by rv
        self.hist_rvs = []      # the rvs of history, for bisect
        self.max_history = 200000
        self.oldest = self.rv   # watches from rv >= oldest - 1 can be served
        self.epoch = 0          # bumped by drop_watches()

    def _stamp(self, obj, resource):
        self.rv += 1
        m = obj.setdefault("metadata", {})
        m["resourceVersion"] = str(self.rv)
        kind, api, namespaced = RESOURCES[resource]
        obj["kind"], obj["apiVersion"] = kind, api
        if namespaced:
            m.setdefault("namespace", "default")
        return self.rv

    def apply(self, obj):
        obj = copy.deepcopy(obj)
        resource = KIND_RESOURCE[obj["kind"]]
        m = obj.setdefault("metadata", {})
        with self.cond:
            key = (resource, m.get("namespace", "default") if RESOURCES[resource][2] else "",
                   m["name"])
            old = self.objs.get(key)
            if old:
                m["uid"] = old["metadata"]["uid"]
                m["creationTimestamp"] = old["metadata"]["creationTimestamp"]
                m["generation"] = old["metadata"].get("generation", 1) + 1
            else:
                m["uid"] = str(uuid.uuid4())
                m["creationTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                m["generation"] = 1
            rv = self._stamp(obj, resource)
            self.objs[key] = obj
            self._record(rv, resource, "MODIFIED" if old else "ADDED", obj)
            return copy.deepcopy(obj)

    def delete(self, kind, ns, name):
        resource = KIND_RESOURCE[kind]
        with self.cond:
            key = (resource, ns if RESOURCES[resource][2] else "", name)
            obj = self.objs.pop(key, None)
            if obj is None:
                return False
            obj = copy.deepcopy(obj)
            # A DELETED event carries the object at its final version.
            rv = self._stamp(obj, resource)
            self._record(rv, resource, "DELETED", obj)
            return True

    def _record(self, rv, resource, typ, obj):
        self.history.append((rv, resource, typ, obj))
        self.hist_rvs.append(rv)
        if len(self.history) > self.max_history:
            cut = len(self.history) - self.max_history // 2
            self.oldest = self.hist_rvs[cut]
            del self.history[:cut], self.hist_rvs[:cut]
        self.cond.notify_all()

    def since(self, rv, resource):
        i = bisect.bisect_right(self.hist_rvs, rv)
        return [(h_rv, t, o) for h_rv, r, t, o in self.history[i:] if r == resource]

    def compact(self):
        """Forget all history, as etcd compaction does: every
        resourceVersion a client holds now is too old to resume a watch
        from (410 Gone); a new list gets a version that is not. Streams
        already open go on (the watch cache feeds them)."""
        with self.cond:
            self.rv += 1
            self.history, self.hist_rvs = [], []
            self.oldest = self.rv + 1
            self.cond.notify_all()

    def drop_watches(self):
        with self.cond:
            self.epoch += 1
            self.cond.notify_all()

    def list(self, resource, selector):
        with self.cond:
            items = [copy.deepcopy(o) for (r, _, _), o in sorted(self.objs.items())
                     if r == resource and selector(o)]
            return self.rv, items


def field_selector(q):
    """fieldSelector=metadata.name=X (and metadata.namespace=Y): what a
    node agent uses to watch its own Node."""
    sel = q.get("fieldSelector", [""])[0]
    want = {}
    for term in filter(None, sel.split(",")):
        k, _, v = term.partition("=")
        want[k.rstrip("=")] = v.lstrip("=")

    def match(o):
        m = o.get("metadata", {})
        return all(m.get(k.split(".", 1)[1]) == v for k, v in want.items())
    for k in want:
        if k not in ("metadata.name", "metadata.namespace"):
            return None
    return match


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "test-kube-apiserver"

    def setup(self):
        super().setup()
        # Go's net package sets TCP_NODELAY on every connection, so the
        # API server's watch events leave at once (no Nagle delay).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        if self.server.api.verbose:
            sys.stderr.write("apiserver: " + fmt % args + "\n")

    def send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        """Bearer tokens ("Authenticating", Service account tokens and
        static tokens): "Authorization: Bearer TOKEN"; a missing or wrong
        token gets 401 Unauthorized with a Status."""
        api = self.server.api
        h = self.headers.get("Authorization", "")
        if h.startswith("Bearer ") and h[7:] in api.tokens:
            api.token_seen.append(h[7:])
            return True
        self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        return False

    def route(self, path):
        """/api/v1/{resource}, /api/v1/namespaces/{ns}/{resource},
        /apis/discovery.k8s.io/v1/..., and /api/v1/nodes/{name}."""
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            rest = parts[2:]
            group = "v1"
        elif parts[:3] == ["apis", "discovery.k8s.io", "v1"]:
            rest = parts[3:]
            group = "discovery.k8s.io/v1"
        else:
            return None
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            ns, rest = rest[1], rest[2:]
        if not rest or rest[0] not in RESOURCES or RESOURCES[rest[0]][1] != group:
            return None
        if len(rest) > 2:
            return None
        return rest[0], ns, rest[1] if len(rest) == 2 else None

    def do_GET(self):
        api = self.server.api
        api.requests.append(self.path)
        if not self.authorized():
            return
        u = urlsplit(self.path)
        if u.path in ("/healthz", "/readyz", "/livez"):
            data = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(data)
            return
        r = self.route(u.path)
        if not r:
            self.send_json(404, status(404, "NotFound", "the server could not find the "
                                       "requested resource"))
            return
        resource, ns, name = r
        q = parse_qs(u.query)
        sel = field_selector(q)
        if sel is None:
            self.send_json(400, status(400, "BadRequest", "unsupported field selector"))
            return
        if name is not None:
            self.get_one(resource, ns, name)
        elif q.get("watch", ["0"])[0] in ("1", "true"):
            self.watch(resource, ns, sel, q)
        else:
            self.list(resource, ns, sel, q)

    def get_one(self, resource, ns, name):
        kind = RESOURCES[resource][0]
        with self.server.api.store.cond:
            o = self.server.api.store.objs.get((resource, ns or "", name))
            o = copy.deepcopy(o)
        if o is None:
            self.send_json(404, status(404, "NotFound", '%ss "%s" not found'
                                       % (resource.rstrip("s"), name)))
            return
        assert o["kind"] == kind
        self.send_json(200, o)

    def list(self, resource, ns, sel, q):
        """A list: {kind: ServiceList, metadata: {resourceVersion}, items}
        ("Efficient detection of changes": the list's resourceVersion is the
        one to start a watch from). Items carry no kind or apiVersion, as
        the API server's lists do. Paged with limit and continue
        ("Retrieving large results sets in chunks"): every page is of the
        list's snapshot; a continue token past the history window gets
        410 Gone (reason Expired), "the client must start over"."""
        api = self.server.api
        store = api.store
        kind, apiv, _ = RESOURCES[resource]
        limit = int(q.get("limit", ["0"])[0] or 0)
        cont = q.get("continue", [""])[0]
        if cont:
            # The token names the list it continues (the real one encodes
            # the resource's key and revision, opaque to clients).
            try:
                res, rv, start = cont.split(":")
                rv, start = int(rv), int(start)
            except ValueError:
                self.send_json(400, status(400, "BadRequest", "invalid continue token"))
                return
            with store.cond:
                expired = rv < store.oldest - 1
            if expired or res != resource or (res, rv) not in api.snapshots:
                self.send_json(410, status(410, "Expired", "The provided continue parameter "
                                           "is too old to display a consistent list result. "
                                           "You can start a new list without the continue "
                                           "parameter."))
                return
            items = api.snapshots[(res, rv)]
        else:
            rv, items = store.list(resource, lambda o: (ns is None or o["metadata"].get(
                "namespace") == ns) and sel(o))
            start = 0
            if limit:
                api.snapshots[(resource, rv)] = items
        page = items[start:start + limit] if limit else items
        meta = {"resourceVersion": str(rv)}
        if limit and start + limit < len(items):
            meta["continue"] = "%s:%d:%d" % (resource, rv, start + limit)
            meta["remainingItemCount"] = len(items) - start - limit
        out = []
        for o in page:
            o = copy.deepcopy(o)
            del o["kind"], o["apiVersion"]
            out.append(o)
        api.lists.append(resource)
        self.send_json(200, {"kind": kind + "List", "apiVersion": apiv, "metadata": meta,
                             "items": out})

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, resource, ns, sel, q):
        """A watch ("Efficient detection of changes"): HTTP 200 with a
        chunked body, one JSON event per line, {"type": ADDED | MODIFIED |
        DELETED | BOOKMARK | ERROR, "object": ...}, every change after the
        given resourceVersion in order. resourceVersion unset or "0"
        first sends the current objects as ADDED ("Semantics for watch").
        A resourceVersion older than the history window is answered, as
        the API server does for a watch, with 200 and one ERROR event whose
        object is a Status with code 410 (reason Expired), then the end of
        the stream. allowWatchBookmarks=true adds BOOKMARK events ("Watch
        bookmarks"): only kind, apiVersion and metadata.resourceVersion,
        telling the client how far the stream has come. timeoutSeconds
        ends the stream cleanly."""
        api = self.server.api
        store = api.store
        kind, apiv, _ = RESOURCES[resource]
        rv_s = q.get("resourceVersion", [""])[0]
        bookmarks = q.get("allowWatchBookmarks", ["false"])[0] == "true"
        timeout = float(q.get("timeoutSeconds", ["0"])[0] or 0) or api.watch_timeout
        match = lambda o: (ns is None or o["metadata"].get("namespace") == ns) and sel(o)  # noqa

        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        api.watches.append((resource, rv_s))

        def send(ev):
            self.chunk(json.dumps(ev).encode() + b"\n")

        with store.cond:
            epoch = store.epoch
            if rv_s in ("", "0"):
                rv, items = store.rv, [copy.deepcopy(o) for (r, _, _), o in
                                       sorted(store.objs.items()) if r == resource and match(o)]
                pending = [{"type": "ADDED", "object": o} for o in items]
            else:
                rv = int(rv_s)
                if rv < store.oldest - 1:
                    pending = [{"type": "ERROR", "object": status(
                        410, "Expired", "too old resource version: %d (%d)"
                        % (rv, store.oldest))}]
                    rv = None
                else:
                    pending = []
        try:
            for ev in pending:
                send(ev)
            if rv is None:
                self.chunk(b"")
                return
            end = time.monotonic() + timeout
            next_bm = time.monotonic() + api.bookmark_interval
            while True:
                with store.cond:
                    while True:
                        if store.epoch != epoch or api.stopping:
                            # Cut mid-stream: half an event, then the socket
                            # closes without the last chunk.
                            self.wfile.write(b"40\r\n{\"type\":\"MODIFIED\",\"obj")
                            self.wfile.flush()
                            self.close_connection = True
                            self.connection.shutdown(socket.SHUT_RDWR)
                            return
                        evs = store.since(rv, resource)
                        now = time.monotonic()
                        if evs or now >= end or (bookmarks and now >= next_bm):
                            break
                        store.cond.wait(min(end, next_bm if bookmarks else end) - now)
                    cur = store.rv
                for h_rv, t, o in evs:
                    rv = h_rv
                    if match(o):
                        send({"type": t, "object": copy.deepcopy(o)})
                if bookmarks and time.monotonic() >= next_bm:
                    rv = max(rv, cur)
                    send({"type": "BOOKMARK", "object": {
                        "kind": kind, "apiVersion": apiv,
                        "metadata": {"resourceVersion": str(rv)}}})
                    next_bm = time.monotonic() + api.bookmark_interval
                if time.monotonic() >= end:
                    self.chunk(b"")
                    return
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True


class ApiServer:
    def __init__(self, certdir, token="test-token", port=0, bookmark_interval=1.0,
                 watch_timeout=300.0, verbose=False):
        self.ca_file, self.crt, self.key = make_certs(certdir)
        self.tokens = {token}
        self.store = Store()
        self.port = port
        self.bookmark_interval = bookmark_interval
        self.watch_timeout = watch_timeout
        self.verbose = verbose
        self.snapshots = {}
        self.requests, self.lists, self.watches, self.token_seen = [], [], [], []
        self.httpd = None
        self.stopping = False

    def start(self):
        self.stopping = False
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.api = self
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.crt, self.key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        """Like a crashed API server: listening stops and every stream is
        cut. The store survives (etcd does); start() serves it again."""
        self.stopping = True
        self.store.drop_watches()
        self.httpd.shutdown()
        self.httpd.server_close()

    def apply(self, obj):
        return self.store.apply(obj)

    def delete(self, kind, ns, name):
        return self.store.delete(kind, ns, name)

    def compact(self):
        self.store.compact()

    def drop_watches(self):
        self.store.drop_watches()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True, help="certificates go here")
    ap.add_argument("--port", type=int, default=6443)
    ap.add_argument("--control", type=int, default=0,
                    help="plain HTTP control port on 127.0.0.1: POST /apply (an object), "
                         "/delete ({kind, namespace, name}), /compact, /drop")
    ap.add_argument("--token", default="test-token")
    ap.add_argument("--bookmark-interval", type=float, default=1.0)
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args()
    api = ApiServer(a.dir, a.token, a.port, a.bookmark_interval, verbose=a.v)
    api.start()

    class Ctl(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)) or 0)
            arg = json.loads(body or b"{}")
            res = {"ok": True}
            if self.path == "/apply":
                res = api.apply(arg)
            elif self.path == "/delete":
                res = {"ok": api.delete(arg["kind"], arg.get("namespace", "default"),
                                        arg["name"])}
            elif self.path == "/compact":
                api.compact()
            elif self.path == "/drop":
                api.drop_watches()
            else:
                self.send_error(404)
                return
            data = json.dumps(res).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
    print("apiserver: https://127.0.0.1:%d ca %s" % (api.port, api.ca_file), flush=True)
    if a.control:
        ThreadingHTTPServer(("127.0.0.1", a.control), Ctl).serve_forever()
    else:
        threading.Event().wait()


if __name__ == "__main__":
    main()
