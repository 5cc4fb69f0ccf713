#!/usr/bin/python3
"""Checks on xlbctl's output for tests/ctl/run.sh. Each subcommand reads
files (or stdin), prints nothing and exits 0 when the check holds, else
prints why on stdout and exits 1.

  aligned FILE [NROWS]      a table: header, every row's cells start under
                            their header, columns 3 spaces apart; NROWS rows
  json FILE                 parses as JSON
  yaml-is-json YAML JSON    the YAML output holds the same tree as the JSON
                            (the two come from separate calls: live fields
                            need only the same type, see LIVE)
  desired A B               two `get services -o json` outputs describe the
                            same desired state (the `service` objects)
  get FILE PATH             print the value at PATH (a.b.0.c) of a JSON file
  names FILE                print the service names of `get services -o json`
"""
import json
import sys

import yaml


def fail(msg):
    print(msg)
    sys.exit(1)


def load_json(path):
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except ValueError as e:
            fail(f"{path}: not JSON: {e}")


def aligned(path, nrows=None):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        fail("empty table")
    head = lines[0]
    if head != head.rstrip() or head != head.upper():
        fail(f"bad header: {head!r}")
    starts = [0] + [i for i in range(1, len(head)) if head[i] != " " and head[i - 1] == " "]
    for i in starts[1:]:
        if head[i - 3:i] != "   ":
            fail(f"header columns not 3 spaces apart at {i}: {head!r}")
    for n, row in enumerate(lines[1:], 2):
        if row != row.rstrip():
            fail(f"line {n}: trailing blanks: {row!r}")
        for i in starts:
            if i >= len(row) or row[i] == " " or (i and row[i - 1] != " "):
                fail(f"line {n}: no cell starts at column {i} (under "
                     f"{head[i:].split()[0]}):\n{head}\n{row}")
    # Tight: each column is as wide as its widest cell (plus the 3 spaces).
    for k in range(len(starts) - 1):
        widest = max(len(l[starts[k]:starts[k + 1]].rstrip()) for l in lines)
        if widest + 3 != starts[k + 1] - starts[k]:
            fail(f"column {head[starts[k]:].split()[0]} is wider than its cells")
    if nrows is not None and len(lines) - 1 != nrows:
        fail(f"{len(lines) - 1} rows, expected {nrows}")


# What health probes and traffic change between two calls: the probe's
# result, latency and transition time, health and datapath membership, the
# counters. Everything else (the desired state, the tree's shape, every key)
# must be equal.
LIVE = {"health", "in_datapath", "last_probe_result", "last_probe_latency_us",
        "last_transition_unix_ms", "packets", "bytes", "new_flows", "panic"}


def same_tree(a, b, path="$"):
    """None when a and b are the same tree up to LIVE values, else why."""
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} against {type(b).__name__}"
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return f"{path}: keys {sorted(a)} against {sorted(b)}"
        for k in a:
            if k in LIVE:
                if type(a[k]) is not type(b[k]):
                    return f"{path}.{k}: {type(a[k]).__name__} against {type(b[k]).__name__}"
                continue
            why = same_tree(a[k], b[k], f"{path}.{k}")
            if why:
                return why
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items against {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            why = same_tree(x, y, f"{path}.{i}")
            if why:
                return why
        return None
    return None if a == b else f"{path}: {a!r} against {b!r}"


def yaml_is_json(ypath, jpath):
    with open(ypath, encoding="utf-8") as f:
        try:
            y = yaml.safe_load(f)
        except yaml.YAMLError as e:
            fail(f"{ypath}: not YAML: {e}")
    why = same_tree(y, load_json(jpath))
    if why:
        fail(f"YAML and JSON differ: {why}")


def desired(a, b):
    da = [s["service"] for s in load_json(a)["services"]]
    db = [s["service"] for s in load_json(b)["services"]]
    if da != db:
        fail(f"desired state differs:\n{json.dumps(da, indent=1)}\n{json.dumps(db, indent=1)}")


def get(path, keys):
    v = load_json(path)
    for k in keys.split("."):
        v = v[int(k)] if isinstance(v, list) else v[k]
    print(json.dumps(v) if isinstance(v, (dict, list)) else v)


def main():
    if len(sys.argv) < 3:
        fail(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "aligned":
        aligned(args[0], int(args[1]) if len(args) > 1 else None)
    elif cmd == "json":
        load_json(args[0])
    elif cmd == "yaml-is-json":
        yaml_is_json(args[0], args[1])
    elif cmd == "desired":
        desired(args[0], args[1])
    elif cmd == "get":
        get(args[0], args[1])
    elif cmd == "names":
        for s in load_json(args[0])["services"]:
            print(s["service"]["name"])
    else:
        fail(f"unknown check {cmd}")


if __name__ == "__main__":
    main()
