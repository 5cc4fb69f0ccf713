# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""One result format for the python suites, the same as tests/lib/tap.sh's:

    ok 3 - DESCRIPTION
    not ok 4 - DESCRIPTION
    #   why, one diagnostic line each

and finish() closes with the plan and the sum scripts/test.sh and CI read:

    1..4
    3 passed, 1 failed

Import it with sys.path.insert(0, <repo>/tests/lib); `import tap`.
"""
import sys

n = 0
passed = 0
failed = 0


def _line(text):
    print(text, flush=True)


def diag(text):
    for l in str(text).splitlines() or [""]:
        _line("# " + l)


def ok(desc):
    global n, passed
    n += 1
    passed += 1
    _line("ok %d - %s" % (n, desc))


def not_ok(desc, why=""):
    global n, failed
    n += 1
    failed += 1
    _line("not ok %d - %s" % (n, desc))
    for l in str(why).splitlines()[:20]:
        _line("#   " + l)


def check(cond, desc, why=""):
    """ok when cond holds, else not ok with why; returns cond."""
    if cond:
        ok(desc)
    else:
        not_ok(desc, why)
    return cond


def finish():
    """Print the plan and the closing line; the exit status to use."""
    _line("1..%d" % n)
    _line("%d passed, %d failed" % (passed, failed))
    return min(failed, 125)


if __name__ == "__main__":
    sys.exit("tests/lib/tap.py is a module")
