#!/usr/bin/env python3
"""Lifecycle self-test of bed.py on a scratch directory (python3 stdlib only).

  python3 tests/harness/selftest_bed.py [--dir /tmp/talpa-bed-selftest]

Proves: two concurrent `ensure` calls share one bed (one starts it, the other reuses
it); a later `ensure` reuses it; `ensure` restarts a bed with a dead process; `stop`
leaves no process whose command line names the directory.  Exits non-zero on failure.
Takes ~1.5 minutes (two network starts).
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

BED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bed.py")


def bed(cmd, d):
    return subprocess.run([sys.executable, BED, cmd, "--dir", d], capture_output=True, text=True)


def procs_of(d):
    r = subprocess.run(["pgrep", "-f", d], capture_output=True, text=True)
    return [int(p) for p in r.stdout.split() if int(p) != os.getpid()]


def check(cond, msg, detail=""):
    if not cond:
        print(f"FAIL: {msg}\n{detail}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {msg}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/talpa-bed-selftest")
    d = os.path.abspath(ap.parse_args().dir)
    shutil.rmtree(d, ignore_errors=True)
    try:
        p1 = subprocess.Popen([sys.executable, BED, "ensure", "--dir", d],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        p2 = subprocess.Popen([sys.executable, BED, "ensure", "--dir", d],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        o1, e1 = p1.communicate()
        o2, e2 = p2.communicate()
        check(p1.returncode == 0 and p2.returncode == 0, "concurrent ensure succeeds", f"{e1}\n{e2}")
        check(o1 == o2, "both callers get the same bed.json")
        check(("starting a new bed" in e1) != ("starting a new bed" in e2),
              "exactly one caller started the bed")
        info = json.loads(o1)
        n = len(procs_of(d))
        expected = 1 + len(info["tor"]["relays"]) + len(info["tor"]["authorities"]) + 1
        check(n == expected, f"{expected} processes run ({n})")

        r = bed("ensure", d)
        check(r.returncode == 0 and "reusing live bed" in r.stderr, "a later ensure reuses the bed")

        os.kill(info["tor"]["relays"][0]["pid"], signal.SIGKILL)
        time.sleep(0.5)
        check(bed("status", d).returncode != 0, "status reports a bed with a dead relay")
        r = bed("ensure", d)
        check(r.returncode == 0 and "starting a new bed" in r.stderr,
              "ensure restarts a broken bed", r.stderr[-2000:])
        check(json.loads(r.stdout)["prosody"]["pid"] != info["prosody"]["pid"], "new processes")
    finally:
        r = bed("stop", d)
    check(r.returncode == 0, "stop succeeds")
    left = procs_of(d)
    check(not left, f"stop leaves no process behind ({left})")
    check(not os.path.exists(os.path.join(d, "ready")), "stop removes the ready marker")
    return 0


if __name__ == "__main__":
    sys.exit(main())
