#!/usr/bin/python3
"""Checks on xlbd's /metrics for tests/metrics/run.sh. Each subcommand prints
nothing (or the value asked for) and exits 0 when the check holds, else
prints why on stdout and exits 1.

  get URL OUT             GET URL, body to OUT; prints "STATUS CONTENT-TYPE"
  code URL [METHOD]       prints the HTTP status of METHOD (default GET) URL
  valid FILE              the text exposition format, strictly: HELP and TYPE
                          once per family and before its samples, a family's
                          samples together, names and label names legal,
                          label values correctly escaped, no duplicate
                          series, counters named *_total
  names FILE NAME...      every NAME is a family with a TYPE line
  value FILE NAME [K=V...]  prints the value of that exact series
  sum FILE NAME [K=V...]  prints the sum over the series whose labels
                          include K=V...
  count FILE NAME [K=V...]  prints how many series match
  hist FILE               every histogram: le ascending and ending at +Inf,
                          buckets non-decreasing, _count equal to the +Inf
                          bucket, _sum present; prints how many
  health FILE             each endpoint has exactly one health state at 1
  top FILE NTABLES NROWS  xlbctl top's plain output: NTABLES tables separated
                          by one empty line, each the header and NROWS rows,
                          no terminal escapes
  rate FILE TABLE SERVICE COLUMN  prints that cell of table TABLE (1-based)
"""
import math
import re
import sys
import urllib.error
import urllib.request

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
SUFFIXES = ("_bucket", "_sum", "_count")


def fail(msg):
    print(msg)
    sys.exit(1)


def parse_labels(s, pos, lineno):
    """s[pos] is '{'; returns (labels, position after '}')."""
    labels = {}
    pos += 1
    while True:
        if s[pos] == "}":
            return labels, pos + 1
        m = LABEL_RE.match(s, pos)
        if not m:
            fail(f"line {lineno}: bad label name at {pos}: {s!r}")
        key = m.group(0)
        pos = m.end()
        if s[pos:pos + 2] != '="':
            fail(f"line {lineno}: expected =\" after {key}: {s!r}")
        pos += 2
        val = []
        while True:
            if pos >= len(s):
                fail(f"line {lineno}: unterminated value of {key}")
            c = s[pos]
            if c == "\\":
                nxt = s[pos + 1:pos + 2]
                if nxt not in ("\\", '"', "n"):
                    fail(f"line {lineno}: bad escape \\{nxt} in {key}")
                val.append("\n" if nxt == "n" else nxt)
                pos += 2
            elif c == '"':
                pos += 1
                break
            else:
                val.append(c)
                pos += 1
        if key in labels:
            fail(f"line {lineno}: label {key} twice")
        labels[key] = "".join(val)
        if s[pos] == ",":
            pos += 1
        elif s[pos] != "}":
            fail(f"line {lineno}: expected , or }} after {key}: {s!r}")


def parse_value(v, lineno):
    if v in ("+Inf", "-Inf", "NaN"):
        return float(v.replace("Inf", "inf").replace("NaN", "nan"))
    try:
        return float(v)
    except ValueError:
        fail(f"line {lineno}: bad value {v!r}")


def parse(path):
    """Returns (families {name: {type, help, samples: [(name, labels, value)]}})
    after checking the format."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text and not text.endswith("\n"):
        fail("text does not end with a line feed")
    fams = {}
    current = None
    closed = set()
    seen = set()
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) < 3 or parts[1] not in ("HELP", "TYPE"):
                continue  # a plain comment
            name = parts[2]
            if not NAME_RE.fullmatch(name):
                fail(f"line {lineno}: bad metric name {name!r}")
            fam = fams.setdefault(name, {"type": None, "help": None, "samples": []})
            if fam["samples"]:
                fail(f"line {lineno}: {parts[1]} of {name} after its samples")
            if parts[1] == "HELP":
                if fam["help"] is not None:
                    fail(f"line {lineno}: second HELP for {name}")
                help_ = parts[3] if len(parts) > 3 else ""
                if re.search(r"\\[^\\n]", help_.replace("\\\\", "")):
                    fail(f"line {lineno}: bad escape in HELP: {help_!r}")
                fam["help"] = help_
            else:
                if fam["type"] is not None:
                    fail(f"line {lineno}: second TYPE for {name}")
                if len(parts) != 4 or parts[3] not in (
                        "counter", "gauge", "histogram", "summary", "untyped"):
                    fail(f"line {lineno}: bad TYPE line {line!r}")
                fam["type"] = parts[3]
            if current != name:
                if current:
                    closed.add(current)
                if name in closed:
                    fail(f"line {lineno}: family {name} appears twice")
                current = name
            continue
        m = NAME_RE.match(line)
        if not m:
            fail(f"line {lineno}: bad sample line {line!r}")
        sname = m.group(0)
        pos = m.end()
        labels = {}
        if pos < len(line) and line[pos] == "{":
            labels, pos = parse_labels(line, pos, lineno)
        if line[pos:pos + 1] != " ":
            fail(f"line {lineno}: no space before the value: {line!r}")
        fields = line[pos + 1:].split(" ")
        if len(fields) not in (1, 2):
            fail(f"line {lineno}: trailing fields: {line!r}")
        value = parse_value(fields[0], lineno)
        fam_name = sname
        if sname not in fams:
            for suf in SUFFIXES:
                base = sname[:-len(suf)]
                if sname.endswith(suf) and fams.get(base, {}).get("type") == "histogram":
                    fam_name = base
        if fam_name != current:
            fail(f"line {lineno}: sample {sname} outside its family's block "
                 f"(current family: {current})")
        fam = fams[fam_name]
        if fam["type"] is None:
            fail(f"line {lineno}: sample of {fam_name} before its TYPE")
        if fam["type"] == "histogram" and sname == fam_name:
            fail(f"line {lineno}: histogram sample without a suffix")
        key = (sname, tuple(sorted(labels.items())))
        if key in seen:
            fail(f"line {lineno}: duplicate series {sname}{labels}")
        seen.add(key)
        fam["samples"].append((sname, labels, value))
    for name, fam in fams.items():
        if fam["type"] is None:
            fail(f"family {name}: HELP without TYPE")
        if fam["type"] == "counter" and not name.endswith("_total"):
            fail(f"counter {name} not named *_total")
        if fam["type"] != "counter" and name.endswith("_total"):
            fail(f"{fam['type']} {name} named *_total")
    return fams


def selector(args):
    want = {}
    for a in args:
        k, _, v = a.partition("=")
        want[k] = v
    return want


def matching(fams, name, want, exact):
    fam = name
    for suf in SUFFIXES:
        if name.endswith(suf) and name[:-len(suf)] in fams:
            fam = name[:-len(suf)]
    out = []
    for sname, labels, value in fams.get(fam, {}).get("samples", []):
        if sname != name:
            continue
        if exact and labels != want:
            continue
        if not exact and any(labels.get(k) != v for k, v in want.items()):
            continue
        out.append(value)
    return out


def fmt(v):
    return str(int(v)) if v == int(v) else repr(v)


def cmd_get(url, out):
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            body = r.read()
            print(r.status, r.headers.get("Content-Type", ""))
    except urllib.error.HTTPError as e:
        body = e.read()
        print(e.code, e.headers.get("Content-Type", ""))
    with open(out, "wb") as f:
        f.write(body)


def cmd_code(url, method="GET"):
    req = urllib.request.Request(url, method=method, data=b"x" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            print(r.status)
    except urllib.error.HTTPError as e:
        print(e.code)


def cmd_hist(path):
    fams = parse(path)
    n = 0
    for name, fam in fams.items():
        if fam["type"] != "histogram":
            continue
        n += 1
        series = {}
        for sname, labels, value in fam["samples"]:
            rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            s = series.setdefault(rest, {"buckets": [], "sum": None, "count": None})
            if sname.endswith("_bucket"):
                if "le" not in labels:
                    fail(f"{name}: bucket without le")
                s["buckets"].append((parse_value(labels["le"], 0), value))
            elif sname.endswith("_sum"):
                s["sum"] = value
            else:
                s["count"] = value
        if not series:
            fail(f"{name}: no samples")
        for rest, s in series.items():
            les = [le for le, _ in s["buckets"]]
            counts = [c for _, c in s["buckets"]]
            if not les or les[-1] != math.inf:
                fail(f"{name}{dict(rest)}: last bucket is not +Inf: {les}")
            if les != sorted(les) or len(set(les)) != len(les):
                fail(f"{name}{dict(rest)}: le not strictly ascending: {les}")
            if any(b < a for a, b in zip(counts, counts[1:])):
                fail(f"{name}{dict(rest)}: buckets decrease: {counts}")
            if s["count"] is None or s["sum"] is None:
                fail(f"{name}{dict(rest)}: _count or _sum missing")
            if s["count"] != counts[-1]:
                fail(f"{name}{dict(rest)}: _count {s['count']} != +Inf bucket {counts[-1]}")
    print(n)


def cmd_health(path):
    fams = parse(path)
    per = {}
    for _, labels, value in fams.get("xlb_endpoint_health_state", {}).get("samples", []):
        per.setdefault((labels.get("service"), labels.get("backend")), []).append(
            (labels.get("state"), value))
    if not per:
        fail("no xlb_endpoint_health_state series")
    for ep, states in per.items():
        names = sorted(s for s, _ in states)
        if names != ["healthy", "unchecked", "unhealthy", "unknown"]:
            fail(f"{ep}: states {names}")
        if sorted(v for _, v in states) != [0, 0, 0, 1]:
            fail(f"{ep}: values {states}")


def tables(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if "\033" in text:
        fail("terminal escapes in plain output")
    return [t.split("\n") for t in text.rstrip("\n").split("\n\n")] if text else []


def cmd_top(path, ntables, nrows):
    ts = tables(path)
    if len(ts) != int(ntables):
        fail(f"{len(ts)} tables, want {ntables}: {ts}")
    for t in ts:
        if t[0].split() != ["NAME", "PKT/S", "BYTES/S", "FLOWS/S", "ENDPOINTS", "HEALTH"]:
            fail(f"header: {t[0]!r}")
        if len(t) - 1 != int(nrows):
            fail(f"{len(t) - 1} rows, want {nrows}: {t}")
        for row in t[1:]:
            cells = row.split()
            if len(cells) != 6 or not re.fullmatch(r"\d+/\d+", cells[4]):
                fail(f"row: {row!r}")
            for c in cells[1:4]:
                if c != "-" and not re.fullmatch(r"\d+(\.\d)?", c):
                    fail(f"rate cell {c!r} in {row!r}")


def cmd_rate(path, table, service, column):
    t = tables(path)[int(table) - 1]
    col = t[0].split().index(column)
    for row in t[1:]:
        cells = row.split()
        if cells[0] == service:
            print(cells[col])
            return
    fail(f"no row for {service}")


def main():
    if len(sys.argv) < 3:
        fail(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "get":
        cmd_get(*args)
    elif cmd == "code":
        cmd_code(*args)
    elif cmd == "valid":
        parse(args[0])
    elif cmd == "names":
        fams = parse(args[0])
        missing = [n for n in args[1:] if n not in fams]
        if missing:
            fail(f"missing: {' '.join(missing)}")
    elif cmd in ("value", "sum", "count"):
        fams = parse(args[0])
        vals = matching(fams, args[1], selector(args[2:]), cmd == "value")
        if cmd == "count":
            print(len(vals))
        elif cmd == "sum":
            print(fmt(sum(vals)))
        elif len(vals) != 1:
            fail(f"{args[1]}{selector(args[2:])}: {len(vals)} series")
        else:
            print(fmt(vals[0]))
    elif cmd == "hist":
        cmd_hist(args[0])
    elif cmd == "health":
        cmd_health(args[0])
    elif cmd == "top":
        cmd_top(*args)
    elif cmd == "rate":
        cmd_rate(*args)
    else:
        fail(f"unknown check {cmd}")


if __name__ == "__main__":
    main()
