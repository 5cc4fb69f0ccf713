# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Child processes of the python suites (xlbd, xlb-k8s, the test API
server): how they are stopped, the same in every suite.

Import it with sys.path.insert(0, <repo>/tests/lib); `import proc`.
"""
import signal
import subprocess


def stop(p, sig=signal.SIGTERM, timeout=15):
    """Signal p (a subprocess.Popen) and give it timeout seconds to exit,
    then kill it. Its exit status; None when it had to be killed, or when
    there is no process."""
    if p is None:
        return None
    if p.poll() is not None:
        return p.returncode
    p.send_signal(sig)
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None
