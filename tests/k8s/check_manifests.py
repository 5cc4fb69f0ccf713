#!/usr/bin/python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""deploy/*.yaml checked offline against the Kubernetes API schema.

No API server can run here, so `kubectl apply --dry-run=client` (which asks
the server for its resource mappings) cannot either. The schema comes from
Debian's python3-kubernetes instead: its model classes are generated from
the Kubernetes OpenAPI document, one per definition, with every field's
JSON name and type (openapi_types, attribute_map) and the required ones
checked on construction. Each document is walked against them: an unknown
field, a wrong type or a missing required field fails, as `kubectl
--validate=strict` would. Then what the API server's validation and a
working install need across objects: the DaemonSet's selector matches its
template, mounts name volumes, config references and the service account
exist in deploy/, probes point at the ports the programs serve, and the
RBAC grants list and watch of services, endpointslices and nodes only.

TAP output; closing line "N passed, N failed".
"""
import glob
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import tap  # noqa: E402

try:
    import kubernetes.client as kc
except ImportError:
    print("1..0 # SKIP python3-kubernetes missing (scripts/install-deps.sh)")
    print("0 passed, 0 failed")
    sys.exit(0)

KINDS = {
    ("v1", "Namespace"): "V1Namespace",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("apps/v1", "DaemonSet"): "V1DaemonSet",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "V1ClusterRole",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "V1ClusterRoleBinding",
}
PRIMITIVE = {"str": str, "int": int, "bool": bool, "float": (int, float)}


def walk(value, typ, path, errs):
    """value (parsed YAML) against the model type name typ."""
    if value is None:
        return
    m = re.match(r"list\[(.*)\]$", typ)
    if m:
        if not isinstance(value, list):
            errs.append("%s: want a list" % path)
            return
        for i, v in enumerate(value):
            walk(v, m.group(1), "%s[%d]" % (path, i), errs)
        return
    m = re.match(r"dict\(str, (.*)\)$", typ)
    if m:
        if not isinstance(value, dict):
            errs.append("%s: want a mapping" % path)
            return
        for k, v in value.items():
            walk(v, m.group(1), "%s.%s" % (path, k), errs)
        return
    if typ in PRIMITIVE:
        ok = isinstance(value, PRIMITIVE[typ]) and not (typ != "bool" and isinstance(value, bool))
        if not ok:
            errs.append("%s: want %s, got %r" % (path, typ, value))
        return
    if typ in ("object", "datetime"):
        return
    cls = getattr(kc, typ, None)
    if cls is None:
        errs.append("%s: schema type %s unknown" % (path, typ))
        return
    if typ == "IntOrString" or cls.__name__ == "object":
        return
    if not isinstance(value, dict):
        errs.append("%s: want a %s mapping" % (path, typ))
        return
    by_json = {j: a for a, j in cls.attribute_map.items()}
    for k, v in value.items():
        if k not in by_json:
            errs.append("%s.%s: unknown field of %s" % (path, k, typ))
            continue
        walk(v, cls.openapi_types[by_json[k]], "%s.%s" % (path, k), errs)


def construct(doc, typ, errs, path):
    """The client's own deserializer: required fields, enum-like checks."""
    try:
        kc.ApiClient()._ApiClient__deserialize(doc, typ)
    except (ValueError, TypeError) as e:
        errs.append("%s: %s" % (path, e))


def main():
    docs = []
    for f in sorted(glob.glob(os.path.join(ROOT, "deploy", "*.yaml"))):
        with open(f) as fh:
            for i, d in enumerate(yaml.safe_load_all(fh)):
                if d:
                    docs.append(("%s#%d" % (os.path.relpath(f, ROOT), i), d))
    tap.check(len(docs) >= 6, "deploy/ holds the namespace, config, RBAC and DaemonSet",
              "%d documents" % len(docs))
    by_kind = {}
    for where, d in docs:
        key = (d.get("apiVersion"), d.get("kind"))
        typ = KINDS.get(key)
        if not tap.check(typ is not None, "%s: %s/%s is a known kind" % (where, *key)):
            continue
        errs = []
        walk(d, typ, d["kind"], errs)
        construct(d, typ, errs, d["kind"])
        tap.check(not errs, "%s: %s %s matches the API schema" % (
            where, d["kind"], d["metadata"].get("name")), "\n".join(errs))
        by_kind.setdefault(d["kind"], []).append(d)

    ds = by_kind.get("DaemonSet", [None])[0]
    if not ds:
        tap.not_ok("a DaemonSet")
        return tap.finish()
    spec, pod = ds["spec"], ds["spec"]["template"]["spec"]
    labels = ds["spec"]["template"]["metadata"].get("labels", {})
    tap.check(all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()),
              "the selector matches the pod template's labels")
    ns = {d["metadata"]["name"] for d in by_kind.get("Namespace", [])}
    tap.check(all(d["metadata"].get("namespace") in ns for k in ("DaemonSet", "ConfigMap",
                                                                 "ServiceAccount")
                  for d in by_kind.get(k, [])), "namespaced objects are in deploy/'s namespace")
    vols = {v["name"] for v in pod["volumes"]}
    mounts = [(c["name"], m["name"]) for c in pod["containers"] for m in c.get("volumeMounts", [])]
    tap.check(all(m in vols for _, m in mounts), "every mount names a volume")
    tap.check(len({c["name"] for c in pod["containers"]}) == len(pod["containers"]),
              "container names are unique")
    cms = {d["metadata"]["name"]: d.get("data", {}) for d in by_kind.get("ConfigMap", [])}
    refs = [e["valueFrom"]["configMapKeyRef"] for c in pod["containers"]
            for e in c.get("env", []) if "configMapKeyRef" in e.get("valueFrom", {})]
    tap.check(refs and all(r["key"] in cms.get(r["name"], {}) for r in refs),
              "every configMapKeyRef names a key of a ConfigMap in deploy/")
    sas = {d["metadata"]["name"] for d in by_kind.get("ServiceAccount", [])}
    tap.check(pod.get("serviceAccountName") in sas, "the service account is in deploy/")
    tap.check(pod.get("hostNetwork") is True, "host network (a node proxy)")
    names = {c["name"]: c for c in pod["containers"]}
    x, f = names.get("xlbd"), names.get("xlb-k8s")
    tap.check(x is not None and f is not None, "two containers: xlbd and xlb-k8s")
    if x and f:
        xm = {m["name"] for m in x["volumeMounts"]}
        fm = {m["mountPath"]: m["name"] for m in f["volumeMounts"]}
        tap.check("/run/xlb" in fm and fm["/run/xlb"] in xm and
                  any("--xlbd=unix:/run/xlb/xlbd.sock" == a for a in f["args"]) and
                  any("--listen=unix:/run/xlb/xlbd.sock" == a for a in x["args"]),
                  "the two share xlbd's socket volume")
        tap.check({"bpffs", "cgroup"} <= xm, "xlbd mounts bpffs and the cgroup hierarchy")
        for c in (x, f):
            sc = c.get("securityContext", {})
            tap.check(not sc.get("privileged") and "ALL" in sc.get("capabilities", {}).get("drop", [])
                      and sc.get("readOnlyRootFilesystem") is True,
                      "%s: not privileged, capabilities dropped but for what it names, "
                      "read-only root" % c["name"])
            tap.check("livenessProbe" in c and "readinessProbe" in c and
                      c.get("resources", {}).get("requests", {}).get("memory") and
                      c.get("resources", {}).get("limits", {}).get("memory"),
                      "%s: liveness and readiness probes, memory request and limit" % c["name"])
        tap.check(not f["securityContext"].get("capabilities", {}).get("add"),
                  "xlb-k8s holds no capability")
        port = [a.split(":")[-1] for a in f["args"] if a.startswith("--metrics=")]
        tap.check(port and all(str(f[p]["httpGet"]["port"]) == port[0] and
                               f[p]["httpGet"]["host"] == "127.0.0.1"
                               for p in ("livenessProbe", "readinessProbe")),
                  "xlb-k8s's probes ask its metrics port on 127.0.0.1")
        envs = {e["name"] for e in f.get("env", [])}
        tap.check({"NODE_NAME", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"} <= envs,
                  "xlb-k8s gets its node name and the API server's real address")
    rules = [r for d in by_kind.get("ClusterRole", []) for r in d.get("rules", [])]
    granted = {(g, res, v) for r in rules for g in r.get("apiGroups", [])
               for res in r.get("resources", []) for v in r.get("verbs", [])}
    want = {(g, res, v) for g, res in (("", "services"), ("", "nodes"),
                                       ("discovery.k8s.io", "endpointslices"))
            for v in ("list", "watch")}
    tap.check(granted == want, "RBAC: list and watch of services, endpointslices and "
              "nodes, nothing else", "granted %s" % sorted(granted))
    crb = by_kind.get("ClusterRoleBinding", [{}])[0]
    tap.check(crb.get("roleRef", {}).get("name") in {d["metadata"]["name"] for d in
                                                     by_kind.get("ClusterRole", [])}
              and any(s.get("name") in sas for s in crb.get("subjects", [])),
              "the binding gives that role to the service account")
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
