#!/usr/bin/python3
"""Random and mutated gRPC requests at a live xlbd (built with ASan+UBSan in
the api-san suite: any memory error kills it, which this sees).

Every method gets, in turn: random bytes; a valid request with its bytes
mutated (bits flipped, bytes cut, inserted, duplicated, spliced from
another request); a valid request with field values replaced (ints at
their edges, strings with NUL, bad UTF-8, long, addresses almost right,
repeated fields emptied or grown); Sync streams of such messages; Watch
streams opened and dropped. Every call must end with a status (none may
hang), the statuses must be the API's (never UNKNOWN), and xlbd must be
alive and answering afterwards, with nothing in its log from the
sanitizers.

  grpc_fuzz.py --xlbd build/san/xlbd [--count 3000] [--seed 1]
"""
import argparse
import os
import random
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "api"))
import test_api as T  # noqa: E402

METHODS = ["UpsertService", "DeleteService", "SetEndpoints", "ListServices", "GetStatus",
           "ListConntrack", "FlushConntrack", "Backup", "Restore", "Explain"]
ALLOWED = {"OK", "INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
           "RESOURCE_EXHAUSTED", "UNIMPLEMENTED", "INTERNAL", "FAILED_PRECONDITION"}


def valid(pb, m, rnd):
    s = T.svc("fz/%d" % rnd.randrange(20), "10.96.%d.%d" % (rnd.randrange(4), rnd.randrange(1, 250)),
              n_eps=rnd.randrange(4))
    return {
        "UpsertService": lambda: pb.UpsertServiceRequest(service=s),
        "DeleteService": lambda: pb.DeleteServiceRequest(name=s.name),
        "SetEndpoints": lambda: pb.SetEndpointsRequest(service=s.name, endpoints=s.endpoints),
        "ListServices": lambda: pb.ListServicesRequest(name=s.name if rnd.random() < .5 else ""),
        "GetStatus": lambda: pb.GetStatusRequest(),
        "ListConntrack": lambda: pb.ListConntrackRequest(limit=rnd.randrange(100)),
        "FlushConntrack": lambda: pb.FlushConntrackRequest(),
        "Backup": lambda: pb.BackupRequest(),
        "Restore": lambda: pb.RestoreRequest(services=[s] * rnd.randrange(2)),
        "Explain": lambda: pb.ExplainRequest(),
        "Sync": lambda: pb.SyncRequest(version=rnd.randrange(1 << 20), upserts=[s]),
    }.get(m, lambda: pb.GetStatusRequest())()


EDGE_INTS = [0, 1, 65535, 65536, 1 << 31, (1 << 32) - 1, (1 << 63) - 1]
EDGE_STRS = ["", "\0", "a\0b", "10.0.0.1\0x", "10.0.0.256", "::1", "x" * 300, "é" * 200,
             "/", "ns/n:p", "10.96.0.1", " ", "\u202e", "\ud7ff"]


def mutate_fields(msg, rnd, depth=0):
    """Replace some field values of a message tree with edge values."""
    for f, v in list(msg.ListFields()):
        if rnd.random() > .4 or depth > 4:
            continue
        try:
            if f.label == f.LABEL_REPEATED:
                if f.type == f.TYPE_MESSAGE:
                    for x in getattr(msg, f.name):
                        mutate_fields(x, rnd, depth + 1)
                    if rnd.random() < .3:
                        getattr(msg, f.name).add()
                elif rnd.random() < .5:
                    del getattr(msg, f.name)[:]
            elif f.type == f.TYPE_MESSAGE:
                mutate_fields(v, rnd, depth + 1)
            elif f.type == f.TYPE_STRING:
                setattr(msg, f.name, rnd.choice(EDGE_STRS))
            elif f.type == f.TYPE_BOOL:
                setattr(msg, f.name, not v)
            elif f.type == f.TYPE_ENUM:
                setattr(msg, f.name, rnd.randrange(12))
            else:
                setattr(msg, f.name, rnd.choice(EDGE_INTS) % (1 << 32 if f.type in (
                    f.TYPE_UINT32, f.TYPE_FIXED32) else 1 << 63))
        except (ValueError, TypeError):
            pass
    return msg


def mutate_bytes(b, other, rnd):
    b = bytearray(b)
    for _ in range(rnd.randrange(1, 6)):
        k = rnd.randrange(5)
        i = rnd.randrange(len(b) + 1)
        if k == 0 and b:
            b[min(i, len(b) - 1)] ^= 1 << rnd.randrange(8)
        elif k == 1:
            del b[i:i + rnd.randrange(1, 8)]
        elif k == 2:
            b[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 8)))
        elif k == 3 and b:
            j = rnd.randrange(len(b))
            b[i:i] = b[j:j + rnd.randrange(1, 16)]
        else:
            j = rnd.randrange(len(other) + 1)
            b[i:] = other[j:]
    return bytes(b)


def payload(pb, m, rnd, kind):
    if kind == 0:
        return bytes(rnd.randrange(256) for _ in range(rnd.randrange(64)))
    if kind == 1:
        return mutate_bytes(valid(pb, m, rnd).SerializeToString(),
                            valid(pb, rnd.choice(METHODS), rnd).SerializeToString(), rnd)
    try:
        return mutate_fields(valid(pb, m, rnd), rnd).SerializeToString()
    except Exception:   # the python library refused a value: as valid
        return valid(pb, m, rnd).SerializeToString()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--xlbd", required=True)
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    tmp = tempfile.mkdtemp(prefix="xlb-grpc-fuzz.")
    T.gen_stubs(tmp)
    grpc, pb, pbg = T.grpc, T.pb, T.pbg
    d = T.Daemon("xlbd", a.xlbd, tmp)
    codes, hung, bad = {}, [], []
    try:
        d.start()
        with T.channel(d.target) as ch:
            calls = {m: ch.unary_unary("/xlb.v1.Xlb/" + m) for m in METHODS + ["Nope"]}
            sync = ch.stream_stream("/xlb.v1.Xlb/Sync")
            for i in range(a.count):
                m = rnd.choice(METHODS + ["Nope", "Sync", "Watch"])
                kind = i % 3
                try:
                    if m == "Sync":
                        msgs = [payload(pb, m, rnd, kind) for _ in range(rnd.randrange(1, 5))]
                        for _ in sync(iter(msgs), timeout=10):
                            pass
                    elif m == "Watch":
                        w = pbg.XlbStub(ch).Watch(pb.WatchRequest())
                        w.cancel()
                    else:
                        calls[m](payload(pb, m, rnd, kind), timeout=10)
                    code = "OK"
                except grpc.RpcError as e:
                    code = e.code().name
                    if code == "CANCELLED" and m == "Watch":
                        code = "OK"
                codes[code] = codes.get(code, 0) + 1
                if code == "DEADLINE_EXCEEDED":
                    hung.append("%d %s kind %d" % (i, m, kind))
                elif code not in ALLOWED:
                    bad.append("%d %s kind %d: %s" % (i, m, kind, code))
                if d.proc.poll() is not None:
                    break
            alive = d.proc.poll() is None
            code, _ = T.rpc_error(lambda: pbg.XlbStub(ch).GetStatus(pb.GetStatusRequest(),
                                                                    timeout=10))
        T.check(alive and code == grpc.StatusCode.OK, "xlbd alive and answering after %d "
                "random and mutated requests (%s)" % (a.count, ", ".join(
                    "%s %d" % kv for kv in sorted(codes.items()))), d.tail())
        T.check(not hung, "no request hung", "; ".join(hung[:10]))
        T.check(not bad, "every answer is one of the API's statuses", "; ".join(bad[:10]))
        rc = d.stop()
        with open(d.log) as f:
            log = f.read()
        san = [l for l in log.splitlines() if "Sanitizer" in l or "runtime error" in l]
        T.check(rc == 0 and not san, "xlbd stops cleanly, no sanitizer report (exit %s)" % rc,
                "\n".join(san[:10]) or d.tail())
    finally:
        d.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return T.tap.finish()


if __name__ == "__main__":
    sys.exit(main())
